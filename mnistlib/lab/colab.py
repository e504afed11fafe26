"""The project's address on GitHub, kept as data in the "Open in Colab" badges and the notebooks'
Colab install cells themselves: README's first badge says what it is (`repository()`); after
publishing or forking, `python -m mnistlib colab OWNER/NAME` rewrites it everywhere."""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import Refusal
from ..paths import ROOT

NAME = r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9_.-]{1,100}"  # GitHub's OWNER/NAME rules


def repository(root: Path = ROOT) -> str:
    """OWNER/NAME as README's Colab badge gives it."""
    found = re.search(rf"colab\.research\.google\.com/github/({NAME})/blob/", (root / "README.md").read_text())
    if not found:
        raise Refusal(f"no Colab badge in {root / 'README.md'}")
    return found[1]


def set_repository(new: str, root: Path = ROOT) -> list[Path]:
    """Replace the current address with `new` (OWNER/NAME) everywhere; returns the files changed."""
    if not re.fullmatch(NAME, new) or new.split("/")[1] in (".", ".."):
        raise Refusal(f"expected OWNER/NAME of a GitHub repository (letters, digits, '-', '_', '.'), got {new!r}")
    old = repository(root)
    changed = []
    for path in [root / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]:
        text = path.read_text()
        updated = (text.replace(f"github/{old}/", f"github/{new}/").replace(f"github.com/{old}", f"github.com/{new}")
                   .replace(f'REPOSITORY = \\"{old}\\"', f'REPOSITORY = \\"{new}\\"'))  # the Colab cell, in the JSON
        if updated != text:
            path.write_text(updated)
            changed.append(path)
    return changed
