"""`python -m mnistlib COMMAND`: parse and check the arguments, then run the command (commands.py).

A user's error (a bad argument, missing data, a full disk) is a refusal: one line on stderr and a
non-zero exit, before any training where it can be known then. Any other exception is a bug in
mnistlib and keeps its traceback.
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
MAX_SEED = 2**32 - 1
MAX_SEEDS = 100  # seeds in one study


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(text: str) -> int:
    """A count of processes or threads."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 1024, got {text!r}")
    return value


def _argument(check):
    """An argparse type from a check: its Refusal becomes argparse's one line. Any other exception is
    a bug in the check and keeps its traceback (argparse would make a ValueError a usage line)."""
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
    """'batch_size=64' -> ('batch_size', 64), 'schedule=onecycle' -> ('schedule', 'onecycle'): a Python
    literal where it is one, else the string; the Recipe checks whether it fits the field."""
    key, sep, value = text.partition("=")
    if not sep or key not in SETTABLE:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE with FIELD one of: {', '.join(SETTABLE)}; got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError):  # not a literal (TypeError: e.g. {[1]: 2})
        return key, value


def parser() -> Parser:
    p = Parser(prog="python -m mnistlib",
               description="Train, study and benchmark the notebook series' MNIST iterations.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="iterations and their parameter counts").set_defaults(func=cmd_list)
    s = sub.add_parser("summary", help="torchinfo summary and receptive-field table")
    s.add_argument("name", type=_recipe, help=", ".join(RECIPES))
    s.set_defaults(func=cmd_summary)
    data_root = dict(type=Path, help="MNIST root (default: $MNISTLIB_DATA, else data/ in the repository)")

    def common(sp, epochs_default=None):
        sp.add_argument("--epochs", type=_epochs, default=epochs_default, help=f"default {epochs_default}" if epochs_default
                        else "default: the recipe's (15), or 1 in fast mode; fewer is a short run, never a result")
        sp.add_argument("--data-root", **data_root)
        sp.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
        sp.add_argument("--threads", type=_positive,
                        help="CPU threads per run; default 1 for train and study: on 2 cores, 2 threads are 1.15x "
                        "faster when idle but 2.3x slower beside a busy process")

    def training(sp):
        sp.add_argument("name", type=_recipe, help=", ".join(RECIPES))
        sp.add_argument("--validation", action="store_true",
                        help="train on the first 50,000 training images, measure on the last 10,000 instead of the "
                        "test set (records go to RUNS_DIR/validation/)")
        sp.add_argument("--set", type=_override, action="append", default=[], metavar="FIELD=VALUE",
                        help="change a recipe field (repeatable), e.g. --set batch_size=64 --set \"cfg=(8,'M',16)\"; "
                        "the record's file name names the changes")
        sp.add_argument("--runs-dir", type=Path, default=USER_RUNS_DIR,
                        help="where records go (default: runs/; the committed evidence: figures/runs)")
        sp.add_argument("--overwrite", action="store_true",
                        help="replace a record even if it holds another run (a file that is no record: never)")
        sp.add_argument("--over-budget", action="store_true",
                        help=f"allow a layer list over the {BUDGET:,}-parameter budget (exploration only)")
        sp.add_argument("--deterministic", action="store_true",
                        help="CUDA: deterministic algorithms (slower); default: cuDNN benchmark mode")
        common(sp)

    partial = ("After each epoch the run so far is in <record>.partial (or <record>.2.partial, ...), which keeps "
               "the finished epochs after Ctrl-C, SIGTERM or a crash.")
    t = sub.add_parser("train", help="train one iteration, one seed; writes a JSON run record",
                       description="Train one seed of an iteration and write its run record. " + partial)
    t.add_argument("--seed", type=_seed, default=0, help=f"0 to {MAX_SEED:,} (default 0)")
    t.add_argument("--out", type=Path, help="record file (default: RUNS_DIR/[validation/]NAME[+CHANGES]-seedS.json)")
    training(t)
    t.set_defaults(func=cmd_train)

    st = sub.add_parser("study", help="train several seeds (in parallel with --jobs), print mean ± std",
                        description="Train several seeds of an iteration, one record each, then print the "
                        "final-epoch mean ± std and draw the seeds plot. " + partial)
    st.add_argument("--seeds", type=_seeds, default=parse_seeds("0-4"), help="e.g. 0-4 or 0-4,10-12")
    st.add_argument("--jobs", type=_positive,
                    help="processes of one thread each (default: one per CPU core; 1 on a GPU); the records match "
                    "one-at-a-time runs of one thread and the same --stack")
    st.add_argument("--stack", type=_positive, metavar="K",
                    help="seeds trained as one grouped network (mnistlib.stack), each its own run but for dropout's "
                    "masks; default: the K measured fastest here (1 with a teacher)")
    training(st)
    st.set_defaults(func=cmd_study)

    tb = sub.add_parser("table", help="the README results table, from the records in figures/runs/")
    which = tb.add_mutually_exclusive_group()
    which.add_argument("--validation", action="store_true", help="instead, the validation-split variants, one row each")
    which.add_argument("--teacher", action="store_true",
                       help="instead, each student against its recipe trained alone on the same seeds")
    which.add_argument("--taught", action="store_true",
                       help="instead, the iterations that learn from a teacher, each beside the same net trained alone")
    which.add_argument("--ablations", action="store_true",
                       help="instead, what each change of iterations 2-5 bought, on the validation split")
    tb.add_argument("--runs-dir", type=Path, help="default: figures/runs/ (with --teacher figures/runs/teacher/)")
    tb.set_defaults(func=cmd_table)

    fg = sub.add_parser("figures",
                        help="redraw figures/*-seeds.png, comparison.png and ablations.png from figures/runs/")
    fg.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help="default: figures/runs/; others' figures go in it")
    fg.set_defaults(func=cmd_figures)

    b = sub.add_parser("bench", help="mnistlib's pipeline vs a per-sample DataLoader pipeline, same run")
    b.add_argument("--seeds", action="store_true",
                   help="instead: seconds per seed-epoch of iterations 4 and 5 one at a time, in a process per "
                   "core, K stacked, and K stacked in each process")
    b.add_argument("--stack", type=_positive, default=5, metavar="K",
                   help="with --seeds: seeds per network (default 5)")
    common(b, epochs_default=2)
    b.set_defaults(func=cmd_bench)

    nb = sub.add_parser("notebooks", help="re-make the committed notebooks: execute in full mode, then normalise",
                        description="Execute notebooks/*.ipynb in full mode, one CPU thread each, --jobs at a time, "
                        "then normalise what they store (kernelspec, no widget state, no timestamps).")
    nb.add_argument("names", nargs="*", help="notebooks to re-make, by name or prefix (e.g. 01 04); default: all")
    nb.add_argument("--data-root", **data_root)
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
    except Refusal as e:
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
