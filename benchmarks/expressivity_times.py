"""Wall time of :func:`tpbench.metrics.expressivity.expressivity` per kernel and L (not a test).

Each case runs in a fresh process (so e3nn's Clebsch–Gordan caches and the
kernel's build are counted, as in a first ``tpbench metrics`` call), one torch
thread (the library's default), and prints one row:
kernel, family, L, expressivity, interactability, upper bound, seconds.

Usage: ``python benchmarks/expressivity_times.py [--kernels torch-cg,gaunt-grid] [--max-L 6] [--family mimo]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

ONE_CASE = """
import json, sys, time
start = time.perf_counter()
from tpbench.kernel.registry import Registry
from tpbench.metrics.expressivity import expressivity
from tpbench.spec.shapes import make_problem
kernel = next(k for k in Registry.default().kernels.values() if k.name == sys.argv[1])
r = expressivity(kernel, make_problem(sys.argv[2], L=int(sys.argv[3])))
print(json.dumps({"E": r.expressivity, "I": r.interactability, "UB": r.upper_bound, "status": r.status,
                  "seconds": r.seconds, "process_s": time.perf_counter() - start, "reason": r.reason}))
"""


def run_case(kernel: str, family: str, L: int, timeout: float) -> dict:
    try:
        out = subprocess.run([sys.executable, "-c", ONE_CASE, kernel, family, str(L)], capture_output=True,
                             text=True, timeout=timeout, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"status": f"timeout > {timeout:.0f} s"}
    except subprocess.CalledProcessError as exc:
        return {"status": "error: " + exc.stderr.strip().splitlines()[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", default="torch-cg,gaunt-grid,gaunt-fft")
    parser.add_argument("--family", default="mimo")
    parser.add_argument("--min-L", type=int, default=1)
    parser.add_argument("--max-L", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    print(f"{'kernel':18s} {'family':8s} {'L':>3s} {'E':>5s} {'I':>5s} {'UB':>5s} {'metric s':>9s} {'process s':>9s}")
    for kernel in args.kernels.split(","):
        for L in range(args.min_L, args.max_L + 1):
            r = run_case(kernel, args.family, L, args.timeout)
            if r.get("status") != "ok":
                print(f"{kernel:18s} {args.family:8s} {L:3d} {r.get('status')} {r.get('reason', '')}", flush=True)
                continue
            print(f"{kernel:18s} {args.family:8s} {L:3d} {r['E']:5d} {r['I']:5d} {r['UB']:5d} "
                  f"{r['seconds']:9.2f} {r['process_s']:9.2f}", flush=True)


if __name__ == "__main__":
    main()
