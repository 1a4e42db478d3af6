"""How far tpbench's CPU timer is from ``torch.utils.benchmark``, and from itself.

Not a test: real-time accuracy depends on the machine, so it is measured and
reported, not asserted. For three e3nn cases on the CPU (float32) it prints

* ``ratio = tpbench median / torch.utils.benchmark median``
  (``Timer.blocked_autorange``), target within 5 %;
* the run-to-run spread ``run2 / run1 - 1`` of tpbench's median over two
  independent measurements of the same case, target within ±3 % for cases
  over 1 ms.

Run: ``/work/venv/bin/python benchmarks/timer_accuracy.py [--batch 2000] [--budget 1] [--rounds 3]``.
The two tools alternate ``rounds`` times per case and the ratio compares
their medians over rounds, so a drift of the machine's load shows as spread
rather than as a bias of one tool. On a shared, oversubscribed machine both
numbers mostly measure the neighbours: check ``load`` in the output.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.utils.benchmark as tbench

from tpbench.oracle.inputs import for_kernel, make_inputs
from tpbench.spec.passes import pass_function
from tpbench.kernel.base import build_module, torch_dtype
from tpbench.kernel.registry import Registry
from tpbench.spec.shapes import make_problem
from tpbench.measure.timing import timer_for

CASES = [
    ("e3nn-cg-full", "mimo", {"L": 2}),
    ("e3nn-cg-full", "mimo", {"L": 4}),
    ("e3nn-cg-channelwise", "channelwise", {"mul": 32, "L_hidden": 2, "L_sh": 3}),
]


def pass_of(kernel_name: str, family: str, params: dict, batch: int, pass_: str):
    kernel = Registry.default().get(kernel_name)
    problem = make_problem(family, **params, batch=batch, dtype="float32")
    module = build_module(kernel, problem, "cpu")
    native = kernel.native(problem)
    gen = torch.Generator().manual_seed(1)
    inputs = for_kernel(make_inputs(native, batch, gen), native, kernel, torch_dtype("float32"), "cpu",
                        kernel.weight_permutation(problem))
    return problem.label, pass_function(module, pass_, inputs)


def tpbench_median(fn, budget_s: float) -> tuple[float, int, str]:
    timing = timer_for("cpu", budget_s=budget_s, warmup_s=0.2, target_rel_ci=0.01, min_samples=10).measure(fn)
    s = sorted(timing.samples_ms)
    return s[len(s) // 2], len(s), timing.stopped_by


def torch_median(fn, min_run_time: float) -> float:
    m = tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads()).blocked_autorange(
        min_run_time=min_run_time)
    return m.median * 1e3


def measure_case(fn, budget: float, rounds: int) -> dict:
    """Alternate tpbench and torch ``rounds`` times so a drifting machine load hits both alike."""
    ours, theirs, counts = [], [], []
    for _ in range(rounds):
        median, n, stopped = tpbench_median(fn, budget)
        ours.append(median)
        counts.append(f"{n}{stopped[0]}")
        theirs.append(torch_median(fn, budget))
    mid = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return {"tpbench": mid(ours), "torch": mid(theirs), "run1": ours[0], "run2": ours[1], "counts": counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--budget", type=float, default=1.0, help="seconds per measurement (both tools)")
    ap.add_argument("--rounds", type=int, default=3, help="alternations of tpbench and torch per case (>= 2)")
    ap.add_argument("--pass", dest="pass_", default="fwd", choices=["fwd", "fwd+bwd"])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} batch={args.batch} pass={args.pass_} budget={args.budget}s "
          f"rounds={max(args.rounds, 2)} load={os.getloadavg()[0]:.1f}")
    print(f"{'case':<64} {'tpbench':>9} {'torch':>9} {'ratio':>6} {'run1':>9} {'run2':>9} {'spread':>7}  samples")
    t0 = time.perf_counter()
    for name, family, params in CASES:
        label, fn = pass_of(name, family, params, args.batch, args.pass_)
        r = measure_case(fn, args.budget, max(args.rounds, 2))
        print(f"{name + ' ' + label:<64} {r['tpbench']:9.3f} {r['torch']:9.3f} {r['tpbench'] / r['torch']:6.3f} "
              f"{r['run1']:9.3f} {r['run2']:9.3f} {r['run2'] / r['run1'] - 1:+7.2%}  {' '.join(r['counts'])}")
    print(f"(ms per call; tpbench/torch: median over rounds; run1/run2: tpbench's first two rounds; "
          f"samples: count + b(udget)/n(oise target)/m(ax); {time.perf_counter() - t0:.0f} s; "
          f"load={os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
