"""`python -m mnistlib COMMAND`: list, summary, train, study, table, figures, bench, notebooks, colab.
This module parses the command line, checks each argument as it is read, and dispatches; what each
command then does is in commands.py.

Errors a user can cause (unknown iteration, bad argument, a recipe value out of range, an
output that cannot be written, missing or corrupt data) are refusals (mnistlib.errors.Refusal,
or an OSError naming a file): they end in one line on stderr and a non-zero exit, before any
training where they can be known then. Anything else is a bug in mnistlib, and keeps its traceback.
"""
from __future__ import annotations

import argparse
import ast
import errno
import re
import signal
import sys
from dataclasses import fields
from pathlib import Path

from .commands import (cmd_bench, cmd_colab, cmd_figures, cmd_list, cmd_notebooks, cmd_study, cmd_summary, cmd_table,
                       cmd_train)
from ..errors import Refusal
from ..models import BUDGET
from ..paths import RUNS_DIR, USER_RUNS_DIR
from ..recipes import RECIPES, Recipe, check_field, get_recipe
from .runner import stop_once

SETTABLE = [f.name for f in fields(Recipe) if f.name not in ("name", "summary", "reported")]
MAX_SEED = 2**32 - 1  # seeds are whole numbers 0..MAX_SEED
MAX_SEEDS = 100       # seeds in one study


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(text: str) -> int:
    """A count of processes or threads: 1 to 1024."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 1024, got {text!r}")
    return value


def _argument(check):
    """An argparse type from a checking function: its Refusal becomes argparse's one line. Any other
    exception is a bug in the check and keeps its traceback (argparse itself would turn a
    ValueError or TypeError into a usage message: hence the RuntimeError around it)."""
    def convert(text: str):
        try:
            return check(text)
        except Refusal as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        except (ValueError, TypeError) as e:
            raise RuntimeError(f"checking {text!r} failed: a bug in mnistlib, not a refusal") from e
    return convert


def _whole(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def _epochs(text: str) -> int:
    """--epochs follows the recipe's own epochs rule (1 to 15, the series' budget)."""
    check_field("epochs", _whole(text))
    return int(text)


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0-4,10-12' and '3' work too; at most MAX_SEEDS seeds."""
    seeds: set[int] = set()
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d{1,20})\s*(?:-\s*(\d{1,20})\s*)?", part)
        if not m or (m[2] is not None and int(m[2]) < int(m[1])):
            raise Refusal(f"bad seed list {text!r}: use e.g. 0-4 or 0,2,5 or 0-4,10-12")
        lo, hi = check_seed(int(m[1])), check_seed(int(m[2] or m[1]))
        if hi - lo + 1 + len(seeds) > MAX_SEEDS:
            raise Refusal(f"seed list {text!r} has more than {MAX_SEEDS} seeds; study them in parts")
        seeds.update(range(lo, hi + 1))
    return sorted(seeds)


def check_seed(seed) -> int:
    if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED):
        raise Refusal(f"a seed is a whole number from 0 to {MAX_SEED:,}, got {seed!r}")
    return seed


_recipe = _argument(get_recipe)
_epochs = _argument(_epochs)
_seeds = _argument(parse_seeds)
_seed = _argument(lambda text: check_seed(_whole(text)))


def _override(text: str) -> tuple[str, object]:
    """'batch_size=64' -> ('batch_size', 64); 'schedule=onecycle' -> ('schedule', 'onecycle').
    The value is read as a Python literal where it is one, else as a plain string; whether it
    fits the field is checked when the recipe is made (Recipe.__post_init__)."""
    key, sep, value = text.partition("=")
    if not sep or key not in SETTABLE:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE with FIELD one of: {', '.join(SETTABLE)}; got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError):  # not a literal (TypeError: e.g. {[1]: 2})
        return key, value


def parser() -> Parser:
    """The command line: each command's arguments, and the function (commands.py) that runs it."""
    p = Parser(prog="python -m mnistlib", description="Train, study and benchmark the notebook series' MNIST iterations.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="iterations and their parameter counts").set_defaults(func=cmd_list)
    s = sub.add_parser("summary", help="torchinfo summary and receptive-field table")
    s.add_argument("name", type=_recipe, help=", ".join(RECIPES))
    s.set_defaults(func=cmd_summary)

    def common(sp, epochs_default=None):
        sp.add_argument("--epochs", type=_epochs, default=epochs_default,
                        help="default: the recipe's (15), or 1 in fast mode; fewer than the recipe's is a short "
                        "run for class time, never a result")
        sp.add_argument("--data-root", type=Path, default=None,
                        help="torchvision MNIST root (default: $MNISTLIB_DATA, else data/ in the repository)")
        sp.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
        sp.add_argument("--threads", type=_positive, default=None,
                        help="CPU threads per run (torch.set_num_threads); default 1 for train and study: measured "
                        "on 2 cores, 2 threads are ~1.15x faster on a quiet machine but ~2.3x slower beside one "
                        "busy process, and one thread is what made the committed records")

    def training(sp):
        sp.add_argument("name", type=_recipe, help=", ".join(RECIPES))
        sp.add_argument("--validation", action="store_true",
                        help="train on the first 50,000 training images and measure on the last 10,000 instead of "
                        "the test set: for choosing between recipes (records go to RUNS_DIR/validation/)")
        sp.add_argument("--set", type=_override, action="append", default=[], metavar="FIELD=VALUE",
                        help="change one recipe field for this run (repeatable), e.g. --set batch_size=64, "
                        "--set schedule=onecycle, --set \"cfg=(8,'M',16)\"; the value must fit the field, and the "
                        "record's file name names the changes")
        sp.add_argument("--runs-dir", type=Path, default=USER_RUNS_DIR,
                        help="where records go (default: runs/ in the repository, ignored by git); the committed "
                        "evidence is written only with --runs-dir figures/runs")
        sp.add_argument("--overwrite", action="store_true",
                        help="replace an existing record even if it holds another run (recipe, epoch count, split or "
                        "fast mode); a re-make of the same run replaces it without this; a file that is no record "
                        "is never replaced")
        sp.add_argument("--over-budget", action="store_true",
                        help=f"allow a layer list over the series' {BUDGET:,}-parameter budget (exploration only)")
        sp.add_argument("--deterministic", action="store_true",
                        help="CUDA: deterministic cuDNN and torch algorithms (slower); default: cuDNN benchmark mode")
        common(sp)

    partial_note = ("After each epoch the run so far is in <record>.partial (<record>.2.partial, ... if that exists: "
                    "each run's is its own); after Ctrl-C, SIGTERM or a crash it keeps the finished epochs, and the "
                    "complete record replaces it at the end.")
    t = sub.add_parser("train", help="train one iteration, one seed; writes a JSON run record",
                       description="Train one seed of an iteration and write its run record. " + partial_note)
    t.add_argument("--seed", type=_seed, default=0, help=f"0 to {MAX_SEED:,} (default 0)")
    t.add_argument("--out", type=Path, default=None,
                   help="record file (default: RUNS_DIR/[validation/]NAME[+CHANGES]-seedS.json)")
    training(t)
    t.set_defaults(func=cmd_train)

    st = sub.add_parser("study", help="train several seeds (in parallel with --jobs), print mean ± std",
                        description="Train several seeds of an iteration, one record each, then print the final-epoch "
                        "mean ± std and draw the seeds plot beside the records. " + partial_note)
    st.add_argument("--seeds", type=_seeds, default=parse_seeds("0-4"), help="e.g. 0-4 or 0-4,10-12")
    st.add_argument("--jobs", type=_positive, default=None,
                    help="seeds trained at once, each in its own process with one thread (default: one per CPU "
                    "core; 1 on a GPU); records are identical to one-at-a-time runs with one thread and the same "
                    "--stack")
    st.add_argument("--stack", type=_positive, default=None, metavar="K",
                    help="seeds trained at once as one grouped network in each process (mnistlib.stack): each seed "
                    "is its own run to float rounding, dropout's masks aside (drawn for the K at once); default: the K "
                    "that finishes soonest here, measured before training (1 for a recipe with a teacher); the "
                    "records name the seeds stacked together")
    training(st)
    st.set_defaults(func=cmd_study)

    tb = sub.add_parser("table", help="the README results table, from the records in figures/runs/")
    which = tb.add_mutually_exclusive_group()
    which.add_argument("--validation", action="store_true",
                       help="instead, the validation-split variants (records in RUNS_DIR/validation/), one row each")
    which.add_argument("--teacher", action="store_true",
                       help="instead, each student against its recipe trained alone on the same seeds (records in "
                            "RUNS_DIR/validation/; RUNS_DIR defaults to figures/runs/teacher/, where the "
                            "distillation search is)")
    which.add_argument("--taught", action="store_true",
                       help="instead, the iterations that learn from a teacher (test split, kept out of the main "
                            "table), each beside the same net trained alone and the teacher's training time")
    which.add_argument("--ablations", action="store_true",
                       help="instead, what each change of iterations 2-5 bought: each applied alone to the iteration "
                            "before, on the validation split (records in RUNS_DIR/validation/); its figure: `figures`")
    tb.add_argument("--runs-dir", type=Path, default=None,
                    help="default: figures/runs/ (the committed evidence; with --teacher figures/runs/teacher/); "
                         "e.g. runs/ for your own")
    tb.set_defaults(func=cmd_table)

    fg = sub.add_parser("figures", help="redraw figures/*-seeds.png, comparison.png and ablations.png from figures/runs/")
    fg.add_argument("--runs-dir", type=Path, default=RUNS_DIR,
                    help="default: figures/runs/; figures of another folder are saved in it")
    fg.set_defaults(func=cmd_figures)

    b = sub.add_parser("bench", help="mnistlib's pipeline vs a per-sample DataLoader pipeline, same run")
    what = b.add_mutually_exclusive_group()
    what.add_argument("--study", action="store_true",
                      help="instead: a 5-seed study one seed at a time vs study --jobs (one process per core)")
    what.add_argument("--seeds", action="store_true",
                      help="instead: seconds per seed-epoch of iterations 4 and 5 trained one seed at a time, in one "
                      "process per core (study --jobs), K stacked as one network, and K stacked in each process")
    b.add_argument("--stack", type=_positive, default=5, metavar="K", help="with --seeds: seeds per network (default 5)")
    common(b, epochs_default=2)
    b.set_defaults(func=cmd_bench)

    nb = sub.add_parser("notebooks", help="re-make the committed notebooks: execute in full mode, then normalise",
                        description="Execute notebooks/*.ipynb top to bottom in full mode (15 epochs, 60,000 images; "
                        "one CPU thread per notebook, --jobs at a time), then normalise what they store (kernelspec, "
                        "no widget state, no timestamps).")
    nb.add_argument("names", nargs="*", help="notebooks to re-make, by name or prefix (e.g. 01 04); default: all")
    nb.add_argument("--data-root", type=Path, default=None, help="default: $MNISTLIB_DATA, else data/ in the repository")
    nb.add_argument("--jobs", type=_positive, default=2, help="notebooks executed at once (default 2)")
    nb.add_argument("--normalise-only", action="store_true", help="only normalise the stored notebooks")
    nb.set_defaults(func=cmd_notebooks)

    c = sub.add_parser("colab", help="set the repository address used by the Colab badges and install cells")
    c.add_argument("repository", help="OWNER/NAME on GitHub")
    c.set_defaults(func=cmd_colab)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser()
    args = p.parse_args(argv)
    args.argv = argv
    handlers = {sig: signal.signal(sig, stop_once) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return args.func(args) or 0
    except Refusal as e:  # refused on purpose: one line; any other exception is a bug and keeps its traceback
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # the machine's, not ours: a full or read-only disk, no permission (e.g. `colab`'s README)
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM):
            raise  # any other (a path that does not exist, ...) is a bug of ours: its traceback
        print(f"{p.prog}: error: {f'{e.filename}: ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{p.prog}: interrupted", file=sys.stderr)
        return 130
    finally:  # after a signal, signals stay ignored until the process ends: no traceback at exit
        if signal.getsignal(signal.SIGINT) is stop_once:  # no signal came (e.g. main() called by a test)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
