"""Running suites: cases, the runner, the worker, the sweep and its executors."""

EXECUTORS = ("local", "ray", "slurm")  # how a sweep's cases are spread (tpbench.run.executors)
