"""`python -m mnistlib COMMAND`: list, summary, train, study, table, figures, bench, colab.

Errors a user can cause (unknown iteration, bad argument, missing or corrupt data) end in
one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from . import results
from .data import MNISTDataError, load_mnist
from .models import count_params
from .recipes import RECIPES, Recipe, get_recipe


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _recipe(name: str):
    try:
        return get_recipe(name)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _seeds(text: str) -> list[int]:
    try:
        return results.parse_seeds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _override(text: str) -> tuple[str, object]:
    """'batch_size=64' -> ('batch_size', 64): one recipe field, its value as a Python literal."""
    import ast
    from dataclasses import fields
    key, sep, value = text.partition("=")
    names = [f.name for f in fields(Recipe) if f.name not in ("name", "summary", "reported")]
    if not sep or key not in names:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE with FIELD one of: {', '.join(names)}; got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise argparse.ArgumentTypeError(f"{value!r} is not a Python literal (e.g. 64, 0.1, (8, 'M', 16))") from None


def _setup(args) -> torch.device:
    from .train import pick_device
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    return pick_device(args.device)


def _train_one(recipe, data, seed, epochs, out: Path):
    """Train one seed. A complete run is written to `out`; after each epoch, and on Ctrl-C,
    the run so far goes to `out`.partial, so an interrupt loses nothing and never
    overwrites an earlier complete record."""
    from .train import fit
    partial = out.with_name(out.name + ".partial")
    print(f"{recipe.name}, seed {seed}: {recipe.summary}")
    run = fit(recipe, data, seed=seed, epochs=epochs, progress=sys.stderr.isatty(),
              on_epoch=lambda r: results.save_record(r.record(), partial))
    if run.interrupted:
        if run.history:
            results.save_record(run.record(), partial)
            print(f"the {len(run.history)} finished epoch(s) are in {partial}")
        return run
    results.save_record(run.record(), out)
    partial.unlink(missing_ok=True)
    split = run.evaluated_on
    print(f"final-epoch {split} acc {run.final_test_acc:.2f}%  (best epoch {run.best_test_acc:.2f}%, "
          f"{split}-selected)  record: {out}")
    return run


def cmd_list(args):
    for r in RECIPES.values():
        print(f"{r.name:<12} {count_params(r.build()):>6,} params  {r.summary}")


def cmd_summary(args):
    from . import summary
    from .rf import format_rf_table, receptive_field
    print(summary(args.name))
    print()
    print(format_rf_table(receptive_field(args.name.build())))


def cmd_train(args):
    from dataclasses import replace
    if args.set:  # a variant of a registered recipe, e.g. for a search on the validation split
        args.name = replace(args.name, **dict(args.set))
    device = _setup(args)
    data = load_mnist(args.data_root, device)
    suffix = ""
    if args.validation:
        data, suffix = data.validation_split(), "-validation"
    out = args.out or Path("runs") / f"{args.name.name}-seed{args.seed}{suffix}.json"
    run = _train_one(args.name, data, args.seed, args.epochs, out)
    return 130 if run.interrupted else 0


def cmd_study(args):
    from .plots import plot_seeds, save
    device = _setup(args)
    data = load_mnist(args.data_root, device)
    runs = []
    for seed in args.seeds:
        run = _train_one(args.name, data, seed, args.epochs, results.record_path(args.name.name, seed, args.runs_dir))
        if run.interrupted:
            print("interrupted: the records of the seeds finished before are kept")
            return 130
        runs.append(run.record())
    s = results.summarize(runs)
    print(f"{s['iteration']} ({s['params']:,} params), seeds {results.format_seeds(s['seeds'])}: "
          f"final-epoch test acc {s['final_mean']:.2f} ± {s['final_std']:.2f} "
          f"(min {s['final_min']:.2f}, max {s['final_max']:.2f}); "
          f"best-epoch {s['best_mean']:.2f} ± {s['best_std']:.2f} (test-selected, for reference)")
    all_records = results.load_records(args.name.name, args.runs_dir)
    path = all_records and save(plot_seeds(all_records), f"{args.name.name}-seeds", results.figures_dir(args.runs_dir))
    if path:
        print(f"figure: {path} (all {len(all_records)} complete records in {args.runs_dir})")
    return 0


def cmd_table(args):
    if args.validation:
        print(results.validation_table(args.runs_dir or results.VALIDATION_DIR))
    else:
        print(results.results_table(runs_dir=args.runs_dir or results.RUNS_DIR))


def cmd_figures(args):
    from .plots import plot_comparison, plot_seeds, save
    by_name = {name: results.load_records(name, args.runs_dir) for name in RECIPES}
    by_name = {name: recs for name, recs in by_name.items() if recs}
    if not by_name:
        raise ValueError(f"no complete run records in {args.runs_dir}: run `python -m mnistlib study NAME` first")
    folder = results.figures_dir(args.runs_dir)
    for name, recs in by_name.items():
        print(f"figure: {save(plot_seeds(recs), f'{name}-seeds', folder)}")
    print(f"figure: {save(plot_comparison(by_name), 'comparison', folder)}")


def cmd_bench(args):
    from .bench import bench
    device = _setup(args)
    bench(args.data_root, device, args.epochs)


def cmd_colab(args):
    from .colab import set_repository
    for path in set_repository(args.repository):
        print(f"updated {path}")


def main(argv=None) -> int:
    p = Parser(prog="python -m mnistlib", description="Train, study and benchmark the notebook series' MNIST iterations.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="iterations and their parameter counts").set_defaults(func=cmd_list)
    s = sub.add_parser("summary", help="torchinfo summary and receptive-field table")
    s.add_argument("name", type=_recipe, help=", ".join(RECIPES))
    s.set_defaults(func=cmd_summary)

    def common(sp, epochs_default=None):
        sp.add_argument("--epochs", type=_positive, default=epochs_default,
                        help="default: the recipe's (15), or 1 in fast mode")
        sp.add_argument("--data-root", type=Path, default=None,
                        help="torchvision MNIST root (default: $MNISTLIB_DATA, else ./data)")
        sp.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
        sp.add_argument("--threads", type=_positive, default=None, help="CPU threads (torch.set_num_threads)")

    t = sub.add_parser("train", help="train one iteration, one seed; writes a JSON run record")
    t.add_argument("name", type=_recipe, help=", ".join(RECIPES))
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", type=Path, default=None, help="record path (default: runs/NAME-seedS.json)")
    t.add_argument("--validation", action="store_true",
                   help="train on the first 50,000 training images and measure on the last 10,000 instead of "
                   "the test set: for choosing between configurations")
    t.add_argument("--set", type=_override, action="append", default=[], metavar="FIELD=VALUE",
                   help="change one recipe field for this run, e.g. --set batch_size=64 (repeatable; "
                   "the record lists the changes)")
    common(t)
    t.set_defaults(func=cmd_train)

    st = sub.add_parser("study", help="train several seeds; records to figures/runs/, prints mean ± std")
    st.add_argument("name", type=_recipe, help=", ".join(RECIPES))
    st.add_argument("--seeds", type=_seeds, default=results.parse_seeds("0-4"), help="e.g. 0-4 or 0-4,10-12")
    st.add_argument("--runs-dir", type=Path, default=results.RUNS_DIR,
                    help="where records go (default: figures/runs/); the seed plot of another folder is saved in it")
    common(st)
    st.set_defaults(func=cmd_study)

    tb = sub.add_parser("table", help="the README results table, from the records in figures/runs/")
    tb.add_argument("--validation", action="store_true",
                    help="instead, the validation-split variants (records in figures/runs/validation/), one row each")
    tb.add_argument("--runs-dir", type=Path, default=None,
                    help="default: figures/runs/, or figures/runs/validation/ with --validation")
    tb.set_defaults(func=cmd_table)

    fg = sub.add_parser("figures", help="redraw figures/*-seeds.png and comparison.png from figures/runs/")
    fg.add_argument("--runs-dir", type=Path, default=results.RUNS_DIR)
    fg.set_defaults(func=cmd_figures)

    b = sub.add_parser("bench", help="mnistlib's pipeline vs a per-sample DataLoader pipeline, same run")
    common(b, epochs_default=2)
    b.set_defaults(func=cmd_bench)

    c = sub.add_parser("colab", help="set the repository address used by the Colab badges and install cells")
    c.add_argument("repository", help="OWNER/NAME on GitHub")
    c.set_defaults(func=cmd_colab)

    args = p.parse_args(argv)
    try:
        return args.func(args) or 0
    except (MNISTDataError, ValueError) as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{p.prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
