"""CPU timings of the kernel-zoo kernels against their dense / e3nn counterparts (not a test).

fp32, 2 threads, ``torch.utils.benchmark.Timer.blocked_autorange`` (median of
the blocks), forward and forward+backward:

* ``cg-sparse`` vs ``torch-cg`` vs ``e3nn-cg-full`` on ``mimo(L)``, ``L = 1..6``, batch 10^4;
* ``torch-linear`` vs ``e3nn-linear`` on ``linear(mul, 2)``, ``mul in {32, 128}``, batch 10^4;
* ``torch-gate`` vs ``e3nn-gate`` on ``gate(mul, 2)``, same sizes;
* with ``--extras``: ``matrix-tp`` on ``mimo(L)`` and ``grid-mlp`` on ``linear(mul, 2)``.

Every module passes its float32 gate for the timed pass first (a wrong kernel is not timed).
Usage: ``python benchmarks/zoo_cpu.py [--max-L 6] [--extras] [--min-run-time 0.5] [--threads 2]
[--timer process]``. ``--timer process`` measures the process's CPU time instead of wall
time: on a shared, oversubscribed machine (load average above the core count) wall
times of multi-threaded runs are dominated by descheduled threads; with
``--threads 1`` CPU time is the robust comparison there. On such a machine also run
with ``OMP_WAIT_POLICY=PASSIVE`` in the environment: OpenMP's default spin-waiting
made 2-thread wall times 10-100x too large here (mimo L=1 forward: 30-80 ms instead
of 0.5 ms); the header prints the policy in effect.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.utils.benchmark import Timer

from tpbench.oracle.correctness import run_gate
from tpbench.oracle.inputs import for_kernel, make_inputs
from tpbench.spec.passes import pass_function
from tpbench.kernel.base import build_module
from tpbench.spec.shapes import gate, linear, mimo
from tpbench.kernel.registry import Registry

BATCH = 10_000
SETTINGS = {"threads": 2, "timer": time.perf_counter}


def kernel(name: str):
    return next(k for k in list(Registry.default().kernels.values()) if k.name == name)


def time_case(k, problem, pass_: str, min_run_time: float) -> float | str:
    """Median seconds of one pass, or why it was not timed."""
    reason = k.supports(problem, "cpu")
    if reason:
        return f"skip: {reason}"
    module = build_module(k, problem, "cpu")
    gate_problem = problem.replace(batch=64)
    verdict = run_gate(k, gate_problem, build_module(k, gate_problem, "cpu"), "cpu", [pass_]).verdict(pass_)
    if verdict[0] != "ok":
        return f"{verdict[0]}: {verdict[1]}"
    native = k.native(problem)
    inputs = for_kernel(make_inputs(native, problem.batch, torch.Generator().manual_seed(0)), native, k,
                        torch.float32, "cpu")
    fn = pass_function(module, pass_, inputs)
    timer = Timer("fn()", globals={"fn": fn}, num_threads=SETTINGS["threads"], timer=SETTINGS["timer"])
    return timer.blocked_autorange(min_run_time=min_run_time).median


def fmt(value) -> str:
    return f"{value * 1e3:.2f}" if isinstance(value, float) else value


def table(title: str, rows: list[tuple[str, list[str]]], names: list[str], min_run_time: float) -> None:
    print(f"\n### {title}\n")
    print("| problem | pass | " + " | ".join(f"{n} (ms)" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, problem in rows:
        for pass_ in ("fwd", "fwd+bwd"):
            cells = [fmt(time_case(kernel(n), problem, pass_, min_run_time)) for n in names]
            print(f"| {label} | {pass_} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-L", type=int, default=6)
    parser.add_argument("--extras", action="store_true", help="also time matrix-tp and grid-mlp")
    parser.add_argument("--min-run-time", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timer", choices=("wall", "process"), default="wall")
    args = parser.parse_args()
    SETTINGS.update(threads=args.threads, timer=time.perf_counter if args.timer == "wall" else time.process_time)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.timer} time, fp32, batch {BATCH}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; median of blocked_autorange")
    mimos = [(f"mimo L={L}", mimo(L, batch=BATCH)) for L in range(1, args.max_L + 1)]
    cg = ["cg-sparse", "torch-cg", "e3nn-cg-full"] + (["matrix-tp"] if args.extras else [])
    table("CG on mimo(L)", mimos, cg, args.min_run_time)
    linears = [(f"linear mul={m} L=2", linear(m, 2, batch=BATCH)) for m in (32, 128)]
    table("linear", linears, ["torch-linear", "e3nn-linear"] + (["grid-mlp"] if args.extras else []),
          args.min_run_time)
    gates = [(f"gate mul={m} L=2", gate(m, 2, batch=BATCH)) for m in (32, 128)]
    table("gate", gates, ["torch-gate", "e3nn-gate"], args.min_run_time)


if __name__ == "__main__":
    main()
