"""README.md stays true: its table, figures and test command are the ones the project makes and runs."""
import re

from mnistlib.cli import main
from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text()


def test_readme_tables_are_the_ones_the_records_give(capsys):
    """Every table in README between <!-- NAME: python -m mnistlib table ARGS --> and
    <!-- /NAME --> is exactly what that command prints today."""
    blocks = re.findall(r"<!-- ([\w-]+): python -m mnistlib (table[^>]*?) -->\n(.*?)\n<!-- /\1 -->", README, re.S)
    assert {name for name, _, _ in blocks} >= {"results-table", "validation-table", "search-table"}
    for name, command, table in blocks:
        assert main(command.split()) == 0, name
        assert table.strip() == capsys.readouterr().out.strip(), f"README's {name} is not what `{command}` gives"


def test_every_figure_the_readme_shows_exists():
    shown = re.findall(r"\]\((figures/[^)]+\.png)\)", README)
    assert shown
    for path in shown:
        assert (PROJECT / path).is_file(), path


def test_ci_installs_everything_then_runs_the_readme_test_command_last():
    command = re.search(r"## Tests\n\n```bash\n(.+?)\n```", README).group(1)
    lines = [line.strip() for line in (PROJECT / ".ci" / "run").read_text().splitlines()]
    steps = [line for line in lines if line and not line.startswith(("#", "echo"))]
    venv = next(i for i, line in enumerate(steps) if "-m venv .venv" in line)
    requirements = next(i for i, line in enumerate(steps) if "pip install" in line and "-r requirements.txt" in line)
    package = next(i for i, line in enumerate(steps) if "pip install" in line and "-e ." in line)
    assert venv < requirements < package < len(steps) - 1 and steps[-1] == command
