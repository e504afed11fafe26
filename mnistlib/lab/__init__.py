"""The lab: what turns training runs into evidence, apart from the lesson it serves.

    records.py        run records on disk: names, one atomic writer, reading back checked (the result rule: train.py)
    tables.py         the tables and seed statistics made from the records
    plots_results.py  the figures of records: the seeds plot, the comparison
    ablations.py      what each change bought: a step's changes one at a time, table and figure
    runner.py         training seeds for the CLI: worker processes, stacked groups, records kept safe
    cli.py            `python -m mnistlib ...`: parses the command line and dispatches
    commands.py       what each command does (cmd_train, cmd_study, cmd_table, ...)
    bench.py          the benchmarks (`bench`, `bench --seeds`)
    remake.py         re-making the committed notebooks
    colab.py          the repository address of the Colab badges

Nothing in the lesson (mnistlib's other modules) imports from here.
"""
