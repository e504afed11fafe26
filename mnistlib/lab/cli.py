"""`python -m mnistlib COMMAND`: list, summary, train, study, table, figures, bench, notebooks, colab.

Errors a user can cause (unknown iteration, bad argument, a recipe value out of range, an
output that cannot be written, missing or corrupt data) are refusals (mnistlib.errors.Refusal,
or an OSError naming a file): they end in one line on stderr and a non-zero exit, before any
training where they can be known then. Anything else is a bug in mnistlib, and keeps its traceback.
"""
from __future__ import annotations

import argparse
import ast
import errno
import math
import signal
import sys
from dataclasses import fields, replace
from pathlib import Path

import torch

from . import results
from .bench import bench, bench_seeds, bench_study
from .colab import set_repository
from ..data import fast_mode
from ..errors import Refusal
from ..machine import cpu_cores, pick_device
from ..mnist_files import default_root
from ..models import BUDGET, count_params, summary
from ..paths import NOTEBOOKS, RUNS_DIR, TEACHER_RUNS, USER_RUNS_DIR
from ..recipes import RECIPES, Recipe, check_field, get_recipe, literal, teacher_recipes
from .remake import normalise_file, remake
from ..rf import format_rf_table, receptive_field
from .runner import Job, check_outputs, choose_stack, complete_record, load, run_seeds, stop_once, train_one

SETTABLE = [f.name for f in fields(Recipe) if f.name not in ("name", "summary", "reported")]


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


_recipe = _argument(get_recipe)
_epochs = _argument(_epochs)
_seeds = _argument(results.parse_seeds)
_seed = _argument(lambda text: results.check_seed(_whole(text)))


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


def _job(args) -> Job:
    """The recipe (with --set changes, checked) and the run settings, before anything is loaded."""
    recipe, changes = args.name, dict(args.set)
    if len(changes) < len(args.set):
        twice = sorted({k for k, _ in args.set if [key for key, _ in args.set].count(k) > 1})
        raise Refusal(f"--set {', '.join(twice)} given more than once; give each field once")
    if changes:  # a variant of a registered recipe, e.g. for a search on the validation split
        recipe = replace(recipe, **changes)
    teacher_recipes(recipe)  # an unknown teacher fails now, not after the first epochs
    params = count_params(recipe.build())
    if params > BUDGET and not args.over_budget:
        raise Refusal(f"cfg={literal(recipe.cfg)} builds {params:,} parameters, over the series' budget of "
                      f"{BUDGET:,}; pass --over-budget to explore it anyway (its record's command says so)")
    if args.epochs and args.epochs > recipe.epochs:
        raise Refusal(f"--epochs {args.epochs} is more than the recipe's {recipe.epochs}; to change the recipe, "
                      f"--set epochs={args.epochs}")
    device = pick_device(args.device)
    threads = args.threads or (1 if device.type == "cpu" else None)  # see --threads
    return Job(recipe, args.data_root, str(device), threads, args.epochs, fast_mode(),
               "validation" if args.validation else "test", args.deterministic,
               ["python", "-m", "mnistlib", *args.argv], args.overwrite)


def cmd_list(args):
    for r in RECIPES.values():
        print(f"{r.name:<12} {count_params(r.build()):>6,} params  {r.summary}")


def cmd_summary(args):
    print(summary(args.name))
    print()
    print(format_rf_table(receptive_field(args.name.build())))


def cmd_train(args):
    job = _job(args)
    out = args.out or results.record_path(job.recipe, args.seed, args.runs_dir, job.split, job.epochs_asked, job.fast)
    check_outputs(job, [args.seed], [out])
    record = train_one(job, load(job), args.seed, out, progress=sys.stderr.isatty())
    return 130 if record["interrupted"] else 1 if record["diverged"] else 0


def cmd_study(args):
    job = _job(args)
    paths = {seed: results.record_path(job.recipe, seed, args.runs_dir, job.split, job.epochs_asked, job.fast)
             for seed in args.seeds}
    check_outputs(job, list(paths), list(paths.values()))
    done = {} if job.overwrite else {s: r for s, p in paths.items() if (r := complete_record(job, s, p))}
    if done:
        print(f"seeds {results.format_seeds(list(done))}: complete records of this run already in "
              f"{paths[args.seeds[0]].parent}, kept (--overwrite trains them again)")
    todo = [s for s in args.seeds if s not in done]
    jobs = args.jobs or (1 if job.device != "cpu" else cpu_cores())  # one thread each: see --threads
    stack = args.stack
    if stack and stack > 1 and job.recipe.teacher:
        raise Refusal(f"{job.recipe.name} learns from a teacher: its seeds train one at a time (leave out --stack)")
    if todo and stack is None:  # measured: what stacking gains depends on the network and the device
        per_seed = choose_stack(job, math.ceil(len(todo) / jobs))
        rounds = lambda k: math.ceil(len(todo) / (k * jobs))  # groups of k, `jobs` at a time
        stack = min(per_seed, key=lambda k: rounds(k) * k * per_seed[k])
        if len(per_seed) > 1:
            print(f"--stack {stack}: the fastest here for {len(todo)} seeds in {min(jobs, len(todo))} process(es) "
                  f"(ms per seed-step measured for K = 1..{len(per_seed)}: "
                  f"{', '.join(f'{1000 * t:.0f}' for t in per_seed.values())})")
    runs = run_seeds(job, todo, [paths[s] for s in todo], jobs, stack) if todo else []
    runs = sorted(runs + list(done.values()), key=lambda r: r["seed"])
    if any(r["interrupted"] for r in runs):
        print("interrupted: the records of the seeds finished before are kept")
        return 130
    if any(r["diverged"] for r in runs):
        print(f"diverged: seed(s) {results.format_seeds([r['seed'] for r in runs if r['diverged']])}; no summary")
        return 1
    print(results.format_summary(results.summarize(runs), job.split))
    if all(results.why_not_a_result(r) is None for r in runs):  # results: redraw the iteration's seeds plot
        from ..plots import save
        from .plots_results import plot_seeds
        all_records = results.load_records(job.recipe.name, args.runs_dir)
        path = save(plot_seeds(all_records), f"{job.recipe.name}-seeds", results.figures_dir(args.runs_dir))
        print(f"figure: {path} (all {len(all_records)} complete records in {args.runs_dir})")
    return 0


def cmd_table(args):
    if args.teacher:
        print(results.teacher_table(args.runs_dir or TEACHER_RUNS))
    else:
        runs_dir = args.runs_dir or RUNS_DIR
        if args.validation:
            print(results.validation_table(runs_dir))
        else:
            print(results.taught_table(runs_dir) if args.taught else results.results_table(runs_dir=runs_dir))


def cmd_figures(args):
    from ..plots import save
    from .plots_results import plot_comparison, plot_seeds
    by_name = {name: results.load_records(name, args.runs_dir) for name in RECIPES}  # every iteration's seeds plot
    by_name = {name: recs for name, recs in by_name.items() if recs}
    if not by_name:
        raise Refusal(f"no complete run records in {args.runs_dir} ({results.no_results_reason(args.runs_dir)}): "
                      "run `python -m mnistlib study NAME` first")
    folder = results.figures_dir(args.runs_dir)
    for name, recs in by_name.items():
        print(f"figure: {save(plot_seeds(recs), f'{name}-seeds', folder)}")
    scratch = {name: recs for name, recs in by_name.items() if name in results.FROM_SCRATCH}  # taught ones apart
    if any(results.split_held_out(recs)[0] for recs in scratch.values()):
        print(f"figure: {save(plot_comparison(scratch), 'comparison', folder)}")
    else:
        print("comparison: not drawn, no tuning seeds (0-9) of an iteration trained from scratch here")


def cmd_bench(args):
    if args.study:
        bench_study(args.data_root, args.epochs)
        return
    if args.seeds:
        bench_seeds(args.data_root, pick_device(args.device), k=args.stack, processes=cpu_cores(), epochs=args.epochs)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    bench(args.data_root, pick_device(args.device), args.epochs, fast_mode())


def cmd_notebooks(args):
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(p.name.startswith(n) for n in args.names)]
        if not paths:
            raise Refusal(f"no notebook in {NOTEBOOKS} starts with {', '.join(args.names)}")
    if args.normalise_only:
        for path in paths:
            normalise_file(path)
            print(f"normalised {path}")
        return
    remake(paths, (args.data_root or default_root()).resolve(), args.jobs)


def cmd_colab(args):
    for path in set_repository(args.repository):
        print(f"updated {path}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
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
                        help="replace an existing record even if it was made with another recipe, epoch count or "
                        "fast mode (a re-make of the same run replaces it without this)")
        sp.add_argument("--over-budget", action="store_true",
                        help=f"allow a layer list over the series' {BUDGET:,}-parameter budget (exploration only)")
        sp.add_argument("--deterministic", action="store_true",
                        help="CUDA: deterministic cuDNN and torch algorithms (slower); default: cuDNN benchmark mode")
        common(sp)

    partial_note = ("After each epoch the run so far is in <record>.partial; after Ctrl-C that file keeps the "
                    "finished epochs, and the complete record is written only at the end.")
    t = sub.add_parser("train", help="train one iteration, one seed; writes a JSON run record",
                       description="Train one seed of an iteration and write its run record. " + partial_note)
    t.add_argument("--seed", type=_seed, default=0, help=f"0 to {results.MAX_SEED:,} (default 0)")
    t.add_argument("--out", type=Path, default=None,
                   help="record file (default: RUNS_DIR/[validation/]NAME[+CHANGES]-seedS.json)")
    training(t)
    t.set_defaults(func=cmd_train)

    st = sub.add_parser("study", help="train several seeds (in parallel with --jobs), print mean ± std",
                        description="Train several seeds of an iteration, one record each, then print the final-epoch "
                        "mean ± std and draw the seeds plot beside the records. " + partial_note)
    st.add_argument("--seeds", type=_seeds, default=results.parse_seeds("0-4"), help="e.g. 0-4 or 0-4,10-12")
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
    tb.add_argument("--runs-dir", type=Path, default=None,
                    help="default: figures/runs/ (the committed evidence; with --teacher figures/runs/teacher/); "
                         "e.g. runs/ for your own")
    tb.set_defaults(func=cmd_table)

    fg = sub.add_parser("figures", help="redraw figures/*-seeds.png and comparison.png from figures/runs/")
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

    args = p.parse_args(argv)
    args.argv = argv
    handlers = {sig: signal.signal(sig, stop_once) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return args.func(args) or 0
    except Refusal as e:  # refused on purpose: one line; any other exception is a bug and keeps its traceback
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # about a file: e.g. a read-only README for `colab`, a full disk for `figures`
        if e.filename is None and e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
            raise
        print(f"{p.prog}: error: {e.filename}: {e.strerror or e}", file=sys.stderr)
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
