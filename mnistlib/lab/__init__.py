"""The lab: what turns training runs into evidence, apart from the lesson it serves.

    records.py        run records on disk (names, writing, reading), the one rule for what is a result
    tables.py         the tables and multi-seed summaries made from the records
    plots_results.py  the figures of records: the seeds plot, the comparison
    runner.py         training seeds for the CLI: worker processes, stacked groups, records kept safe
    cli.py            `python -m mnistlib ...`: parses the command line and dispatches
    commands.py       what each command does (cmd_train, cmd_study, cmd_table, ...)
    bench.py          the benchmarks (`bench`, `bench --study`, `bench --seeds`)
    remake.py         re-making the committed notebooks
    colab.py          the repository address of the Colab badges

Nothing in the lesson (mnistlib's other modules) imports from here at import time.
"""
