"""The project's public address, in this one place, for the "Open in Colab" badges and the
notebooks' Colab install cell.

After publishing or forking, run `python -m mnistlib colab OWNER/NAME`: it rewrites
REPOSITORY below and every badge and install cell in README.md and notebooks/*.ipynb.
"""
from __future__ import annotations

import re
from pathlib import Path

from .data import ROOT

REPOSITORY = "YOUR-GITHUB-USER/mnistlib"
BRANCH = "main"



def badge(notebook: str) -> str:
    """Markdown for an "Open in Colab" badge for notebooks/<notebook>."""
    url = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{notebook}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def set_repository(new: str, root: Path = ROOT) -> list[Path]:
    """Replace the current address with `new` (OWNER/NAME) everywhere; returns the files changed."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", new):
        raise ValueError(f"expected OWNER/NAME, got {new!r}")
    files = [Path(__file__), root / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]
    changed = []
    for path in files:
        text = path.read_text()
        if path == Path(__file__):
            updated = text.replace(f'REPOSITORY = "{REPOSITORY}"', f'REPOSITORY = "{new}"')
        else:
            updated = text.replace(f"github/{REPOSITORY}/", f"github/{new}/").replace(
                f"github.com/{REPOSITORY}", f"github.com/{new}")
        if updated != text:
            path.write_text(updated)
            changed.append(path)
    return changed
