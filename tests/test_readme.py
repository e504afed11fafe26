"""README.md stays true: its table, figures and test command are the ones the project makes and runs."""
import re

from mnistlib.results import results_table, validation_table
from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text()


def test_readme_table_is_the_one_the_records_give():
    start, end = "<!-- results-table: python -m mnistlib table -->\n", "\n<!-- /results-table -->"
    assert start in README and end in README
    assert README.split(start)[1].split(end)[0].strip() == results_table().strip()


def test_readme_validation_table_is_the_one_the_records_give():
    start, end = "<!-- validation-table: python -m mnistlib table --validation -->\n", "\n<!-- /validation-table -->"
    assert start in README and end in README
    assert README.split(start)[1].split(end)[0].strip() == validation_table().strip()


def test_every_figure_the_readme_shows_exists():
    shown = re.findall(r"\]\((figures/[^)]+\.png)\)", README)
    assert shown
    for path in shown:
        assert (PROJECT / path).is_file(), path


def test_ci_runs_the_readme_test_command():
    command = re.search(r"## Tests\n\n```bash\n(.+?)\n```", README).group(1)
    assert command in (PROJECT / ".ci" / "run").read_text().splitlines()
