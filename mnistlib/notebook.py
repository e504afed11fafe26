"""What training looks like inside a notebook (JupyterLab, Colab)."""
from __future__ import annotations

import sys


def in_notebook() -> bool:
    """Running in a Jupyter kernel (JupyterLab, Colab), where tqdm.auto draws widget bars."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return type(shell).__name__ in ("ZMQInteractiveShell", "Shell")  # Shell: Colab's kernel


def replace_bars_by_text(lines: list[str]) -> None:
    """Clear the cell's live progress bars and print `lines` instead: what the notebook stores
    then reads the same everywhere, with no widget state."""
    from IPython.display import clear_output
    clear_output()
    print("\n".join(lines))
