"""What each command of `python -m mnistlib` does: cmd_NAME(parsed arguments) -> exit status (None: 0)."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch

from . import records, tables
from .bench import choose_stack, bench, bench_seeds
from .colab import set_repository
from ..data import fast_mode
from ..errors import Refusal
from ..machine import cpu_cores, pick_device
from ..mnist_files import default_root
from ..models import BUDGET, count_params, summary
from ..paths import NOTEBOOKS, RUNS_DIR, TEACHER_RUNS
from ..recipes import RECIPES, literal, teacher_recipes
from .remake import normalise_file, remake
from ..rf import format_rf_table, receptive_field
from ..train import why_not_whole
from .runner import Job, check_outputs, complete_record, run_seeds


def _job(args) -> Job:
    """The recipe (with --set changes, checked) and the run settings, before anything is loaded."""
    recipe, changes, keys = args.name, dict(args.set), [key for key, _ in args.set]
    if len(changes) < len(keys):
        twice = sorted({key for key in keys if keys.count(key) > 1})
        raise Refusal(f"--set {', '.join(twice)} given more than once; give each field once")
    if changes:
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
    out = args.out or records.record_path(job.recipe, args.seed, args.runs_dir, job.split, job.epochs_asked, job.fast)
    check_outputs(job, [args.seed], [out])
    record, = run_seeds(job, [args.seed], [out])
    return 130 if record["interrupted"] else 1 if record["diverged"] else 0


def cmd_study(args):
    job = _job(args)
    paths = {seed: records.record_path(job.recipe, seed, args.runs_dir, job.split, job.epochs_asked, job.fast)
             for seed in args.seeds}
    check_outputs(job, list(paths), list(paths.values()))
    done = {} if job.overwrite else {s: r for s, p in paths.items() if (r := complete_record(job, s, p))}
    if done:
        print(f"seeds {records.format_seeds(list(done))}: complete records of this run already in "
              f"{paths[args.seeds[0]].parent}, kept (--overwrite trains them again)")
    todo = [s for s in args.seeds if s not in done]
    jobs = args.jobs or (1 if job.device != "cpu" else cpu_cores())  # one thread each: see --threads
    stack = args.stack
    if stack and stack > 1 and job.recipe.teacher:
        raise Refusal(f"{job.recipe.name} learns from a teacher: its seeds train one at a time (leave out --stack)")
    if todo and stack is None:
        stack = choose_stack(job, len(todo), jobs)
    runs = run_seeds(job, todo, [paths[s] for s in todo], jobs, stack) if todo else []
    runs = sorted(runs + list(done.values()), key=lambda r: r["seed"])
    if any(r["interrupted"] for r in runs):
        print("interrupted: the records of the seeds finished before are kept")
        return 130
    if any(r.get("diverged") for r in runs):
        print(f"diverged: seed(s) {records.format_seeds([r['seed'] for r in runs if r.get('diverged')])}; no summary")
        return 1
    print(tables.format_seed_stats(tables.seed_stats(runs), job.split))
    if all(records.why_not_a_result(r) is None for r in runs):  # results: redraw the iteration's seeds plot
        from ..plots import save
        from .plots_results import plot_seeds
        all_records = records.load_records(job.recipe.name, args.runs_dir)
        path = save(plot_seeds(all_records), f"{job.recipe.name}-seeds", records.figures_dir(args.runs_dir))
        print(f"figure: {path} (all {len(all_records)} complete records in {args.runs_dir})")
    return 0


def cmd_table(args):
    if args.ablations:  # its figure: `figures`
        from .ablations import ABLATED, ablation_table
        print("\n\n".join(ablation_table(name, args.runs_dir or RUNS_DIR) for name in ABLATED))
        return
    table = (tables.teacher_table if args.teacher else tables.validation_table if args.validation else
             tables.taught_table if args.taught else tables.results_table)
    runs_dir = args.runs_dir or (TEACHER_RUNS if args.teacher else RUNS_DIR)
    print(table(runs_dir=runs_dir))
    if table in (tables.results_table, tables.taught_table):  # a whole run that is no result (a recipe since
        for path in sorted(Path(runs_dir).glob("*.json")):    # changed, a wrong teacher): said, not dropped quietly
            record = records.read_record(path)
            if why_not_whole(record) is None and (why := records.why_not_a_result(record)):
                print(f"left out: {path}: {why}", file=sys.stderr)


def cmd_figures(args):
    from ..plots import save
    from .plots_results import plot_comparison, plot_seeds
    by_name = {name: records.load_records(name, args.runs_dir) for name in RECIPES}  # every iteration's seeds plot
    by_name = {name: recs for name, recs in by_name.items() if recs}
    if not by_name and not records.validation_dir(args.runs_dir).is_dir():
        raise Refusal(f"no complete run records in {args.runs_dir} ({tables.no_results_reason(args.runs_dir)}): "
                      "run `python -m mnistlib study NAME` first")
    folder = records.figures_dir(args.runs_dir)
    for name, recs in by_name.items():
        print(f"figure: {save(plot_seeds(recs), f'{name}-seeds', folder)}")
    scratch = {name: recs for name, recs in by_name.items() if name in tables.FROM_SCRATCH}  # taught ones apart
    if any(tables.split_held_out(recs)[0] for recs in scratch.values()):
        print(f"figure: {save(plot_comparison(scratch), 'comparison', folder)}")
    elif scratch:
        print("comparison: not drawn, no tuning seeds (0-9) of an iteration trained from scratch here")
    if records.validation_dir(args.runs_dir).is_dir():  # what each change bought, from the validation records
        from .ablations import ABLATED, plot_ablation
        print(f"figure: {save(plot_ablation(ABLATED, args.runs_dir), 'ablations', folder)}")


def cmd_bench(args):
    if args.seeds:
        bench_seeds(args.data_root, pick_device(args.device), k=args.stack, processes=cpu_cores(), epochs=args.epochs)
    else:
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
