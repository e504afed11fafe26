"""README.md and the pages in docs/ stay true: their tables, figures and test command are the ones
the project makes and runs."""
import re

import pytest

from mnistlib.lab.cli import main
from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text()
PAGES = {path.relative_to(PROJECT).as_posix(): path.read_text()
         for path in [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]}


def test_tables_are_the_ones_the_records_give(capsys):
    """Every table between <!-- NAME: python -m mnistlib table ARGS --> and <!-- /NAME --> in
    README or docs/ is exactly what that command prints today."""
    found = set()
    for page, text in PAGES.items():
        blocks = re.findall(r"<!-- ([\w-]+): python -m mnistlib (table[^>]*?) -->\n(.*?)\n<!-- /\1 -->", text, re.S)
        for name, command, table in blocks:
            found.add(name)
            assert main(command.split()) == 0, name
            assert table.strip() == capsys.readouterr().out.strip(), f"{page}'s {name} is not what `{command}` gives"
    assert found >= {"results-table", "taught-table", "validation-table", "search-table"}
    assert "<!-- results-table: python -m mnistlib table -->" in README


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_shown_exists(page):
    folder = (PROJECT / page).parent
    shown = re.findall(r"\]\(((?:\.\./)?figures/[^)]+\.png)\)", PAGES[page])
    for path in shown:
        assert (folder / path).is_file(), path
    for link in re.findall(r"\]\((?!https?:|#)([^)]+)\)", PAGES[page]):
        assert (folder / link.split("#")[0]).exists(), f"{page}: broken link {link}"


def test_every_readme_figure_names_the_command_that_makes_it():
    for figure, caption in re.findall(r"!\[[^]]*\]\((figures/[^)]+)\)\n\n\*(.+?)\*\n", README, re.S):
        assert "python -m mnistlib" in caption, figure


def test_readme_shows_rather_than_tells():
    assert len(README.splitlines()) <= 150


def test_ci_installs_everything_then_runs_the_readme_test_command_last():
    command = re.search(r"## Tests\n\n```bash\n(.+?)\n```", README).group(1)
    lines = [line.strip() for line in (PROJECT / ".ci" / "run").read_text().splitlines()]
    steps = [line for line in lines if line and not line.startswith(("#", "echo"))]
    venv = next(i for i, line in enumerate(steps) if "-m venv .venv" in line)
    requirements = next(i for i, line in enumerate(steps) if "pip install" in line and "-r requirements.txt" in line)
    package = next(i for i, line in enumerate(steps) if "pip install" in line and "-e ." in line)
    assert venv < requirements < package < len(steps) - 1 and steps[-1] == command
