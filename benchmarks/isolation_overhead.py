"""What running cases in the isolated worker costs, case by case, against running them in this process.

Every case of the suite that runs (not skipped or unavailable) is run twice in
turn — once by an in-process :class:`~tpbench.run.runner.Runner`, once through an
:class:`~tpbench.run.worker.IsolatedRunner` — in alternating order, so the
machine's drift (2–4× within minutes on shared CPUs) hits both alike. Prints:

* the summed wall time of each (the round trip, the worker's build, gate, timing,
  recheck and expressivity), overall and per problem family;
* the geometric mean over cases of the worker's ``median_ms`` over the in-process
  one: whether kernels run slower in the worker.

Start-up (the worker starts while this process imports and plans, as in
``tpbench run``) is not in these sums; the first case waits for a worker not yet ready.

Run: ``.venv/bin/python benchmarks/isolation_overhead.py [--suite quick] [--filter family=mimo]
[--repeat 1] [--cache DIR] [--out rows.json]``.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import math
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    from tpbench.run.worker import IsolatedRunner

    pool = IsolatedRunner(None).prestart()  # as `tpbench run` does: before this process imports torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--filter", dest="filters", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=None, help="rounds over the suite (default: the suite's)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache", default=None,
                        help="expressivity cache to use, e.g. RESULTS/.cache/expressivity of an earlier run "
                             "(a warm run); default: a fresh one (the first side to reach a function measures it)")
    parser.add_argument("--out", type=Path, default=None, help="write one row per case here (JSON)")
    args = parser.parse_args()

    import os

    import torch

    from tpbench.kernel.registry import Registry
    from tpbench.metrics.expressivity import case_fields
    from tpbench.run.case import plan
    from tpbench.run.runner import Runner
    from tpbench.run.suite import load_suite
    from tpbench.run.sweep import must_skip, worker_config
    from tpbench.spec.passes import sort_passes

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    suite = load_suite(args.suite)
    timing = dict(suite.timing)
    repeat = args.repeat or int(timing.pop("repeat", 1))
    timing.pop("repeat", None)
    cases = plan(suite, Registry.default(), suite.device, (), args.filters, repeat=repeat)
    passes_of: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for c in cases:
        passes_of[(c.kernel.name, c.problem.id)].add(c.pass_)
    cache = args.cache or tempfile.mkdtemp(prefix="tpbench-expressivity-")  # shared: either side's measurement serves both
    runner = Runner(None, timing, extra_metrics=functools.partial(case_fields, cache), timer="auto")
    pool.configure(worker_config(runner), 300.0)

    rows = []
    try:
        for i, case in enumerate(c for c in cases if not must_skip(c)):
            passes = sort_passes(passes_of[(case.kernel.name, case.problem.id)])
            wall, records = {}, {}
            for side in (("in-process", "worker") if i % 2 else ("worker", "in-process")):
                start = time.perf_counter()
                records[side] = runner.run_case(case, passes) if side == "in-process" else pool.run(case, passes)
                wall[side] = time.perf_counter() - start
            rows.append({"case": case.label, "family": case.problem.family, "wall_s": wall,
                         "status": {s: r.get("status") for s, r in records.items()},
                         "median_ms": {s: r.get("median_ms") for s, r in records.items()}})
    finally:
        pool.close()
    report(rows)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


def report(rows: list[dict]) -> None:
    def line(label: str, group: list[dict]) -> str:
        a = sum(r["wall_s"]["in-process"] for r in group)
        b = sum(r["wall_s"]["worker"] for r in group)
        return f"{label:24s} {len(group):5d} {a:10.2f} {b:9.2f} {b - a:+8.2f} {100 * (b / a - 1):+6.1f}%"

    print(f"{'family':24s} {'cases':>5s} {'in-process':>10s} {'worker':>9s} {'diff s':>8s} {'diff':>7s}")
    families = collections.defaultdict(list)
    for r in rows:
        families[r["family"]].append(r)
    for family, group in sorted(families.items()):
        print(line(family, group))
    print(line("all", rows))
    ratios = [r["median_ms"]["worker"] / r["median_ms"]["in-process"] for r in rows
              if r["status"] == {"in-process": "ok", "worker": "ok"}]
    if ratios:
        geo = math.exp(statistics.fmean(math.log(x) for x in ratios))
        print(f"kernel time, worker / in-process: geometric mean {geo:.3f}, median {statistics.median(ratios):.3f} "
              f"over {len(ratios)} timed cases")
    mismatched = [r["case"] for r in rows if r["status"]["in-process"] != r["status"]["worker"]]
    if mismatched:
        print(f"{len(mismatched)} cases with different statuses: {', '.join(mismatched[:5])}")


if __name__ == "__main__":
    main()
