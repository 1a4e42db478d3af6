"""CPU timings of the Gaunt kernels against grid baselines and CG kernels on ``mimo(L)``.

Usage: ``python benchmarks/gaunt_cpu.py [--L 1-10] [--batch 10000] [--threads 2] [--rounds 3] [--only a,b]
[--system-heap]``.

Before timing, every column is built in float64 and checked against the float64
reference of what it computes (the Gaunt reference for the Gaunt columns and the
baseline, each CG kernel's own for the CG columns; relative error < 1e-10, else it stops).
Every row is ``mimo(L)``, fp32, ``torch.set_num_threads(threads)``, timed with
``torch.utils.benchmark.Timer.blocked_autorange(min_run_time=0.5)``; the columns
are interleaved within a round (alternating their order between rounds) so that
the machine's drift (and glibc's page-faulting heap state) falls on all of them
alike. Each cell is the ratio of the column's time to the baseline ``3-matmul``'s
time *in the same round*, given as the median and [min-max] over ``rounds`` rounds;
the baseline's cell is its median time in ms. The line printed per ``L`` also names
the method ``gaunt-grid`` picked at build (its ``effective_method``). The heap is pinned as in ``tpbench run``
(:mod:`tpbench.measure.heap`) unless ``--system-heap``.
Columns (ms) and what they compute:

* ``gaunt-grid``, ``gaunt-grid-sep``, ``gaunt-grid-sep-dft``, ``gaunt-fft``, ``gaunt-fft-direct`` —
  the tpbench kernels;
* ``3-matmul`` — plain dense transform on the minimal Gauss–Legendre grid:
  ``((x Y1) ⊙ (y Y2)) Z`` with ``Y`` of shape ``(d, n_β n_α)``;
* ``e3nn-s2`` — ``FromS2Grid(ToS2Grid(x) ⊙ ToS2Grid(y))`` at the smallest resolution at
  which it is exact (checked in float64 against the Gaunt reference before timing);
* ``torch-cg``, ``e3nn-cg-full``, ``cue-cg-full.naive``, ``cg-sparse`` — full Clebsch–Gordan
  (every path, one output block per path: *more* work than Gaunt, which keeps only the
  ``l1+l2+l3``-even paths, one block per degree).

Any column but the baseline is skipped at L and above once its second forward call took > 10 s.

Not a test: it only prints a table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.utils.benchmark as tb
from e3nn import o3

from tpbench.kernel.registry import Registry
from tpbench.measure import heap
from tpbench.oracle.inputs import make_inputs
from tpbench.spec.passes import pass_function
from tpbench.kernel.base import build_module, default_dtype, torch_dtype
from tpbench.oracle.references import reference_for
from tpbench.spec.shapes import mimo
from tpbench.spec.gaunt import gaunt_plan
from tpbench.math.sphere import exact_sizes, grid_sh, gl_grid

GAUNT = ("gaunt-grid", "gaunt-grid-sep", "gaunt-grid-sep-dft", "gaunt-fft", "gaunt-fft-direct")
CG = ("torch-cg", "e3nn-cg-full", "cue-cg-full.naive", "cg-sparse")
SLOW_S = 10.0
BASE = "3-matmul"  # the independent baseline every ratio is taken against, always timed
PASSES = ("fwd", "fwd+bwd")


class ThreeMatmul(torch.nn.Module):
    """The plain dense grid Gaunt TP: evaluate both inputs, multiply, project (single-kind inputs)."""

    def __init__(self, problem, dtype):
        super().__init__()
        plan = gaunt_plan(problem)
        nb, na = exact_sizes(plan.lmax1, plan.lmax2, plan.lmax_out)
        _, w, _ = gl_grid(nb, na)
        lmax = max(plan.lmax1, plan.lmax2, plan.lmax_out)
        Y = grid_sh(lmax, nb, na).reshape(nb * na, -1)
        rows = lambda blocks: [b.l * b.l + m + b.l for b in blocks for m in range(-b.l, b.l + 1)]  # noqa: E731
        wq = np.repeat(w * 2 * np.pi / na, na)[:, None]
        self.register_buffer("Y1", torch.tensor(Y[:, rows(plan.in1)].T, dtype=dtype).contiguous())
        self.register_buffer("Y2", torch.tensor(Y[:, rows(plan.in2)].T, dtype=dtype).contiguous())
        self.register_buffer("Z", torch.tensor(wq * Y[:, rows(plan.out)], dtype=dtype).contiguous())

    def forward(self, x1, x2):
        return ((x1 @ self.Y1) * (x2 @ self.Y2)) @ self.Z


class E3nnS2(torch.nn.Module):
    """``FromS2Grid(ToS2Grid(x) ToS2Grid(y))`` with e3nn's equiangular grid."""

    def __init__(self, L, res):
        super().__init__()
        self.grid = o3.ToS2Grid(L, res, normalization="integral")
        self.back = o3.FromS2Grid(res, 2 * L, normalization="integral")

    def forward(self, x1, x2):
        return self.back(self.grid(x1) * self.grid(x2))


def e3nn_resolution(L: int) -> tuple[int, int]:
    """Smallest exact e3nn grid for ``mimo(L)``: FromS2Grid needs ``res_β >= 2 (2L + 1)``."""
    res = (2 * (2 * L + 1), 4 * L + 1)
    problem = mimo(L, batch=4, dtype="float64")
    with default_dtype(torch.float64):
        module = E3nnS2(L, res)
    x = make_inputs(reference_for("gaunt", problem).native, 4, torch.Generator().manual_seed(0))
    want = reference_for("gaunt", problem)(*x)
    err = ((module(*x) - want).norm() / want.norm()).item()
    assert err < 1e-10, f"e3nn grid {res} not exact at L={L}: {err:.1e}"
    return res


def modules(L: int, problem, skip: set[str], only: set[str] | None) -> dict[str, torch.nn.Module]:
    """Every column's module for ``mimo(L)`` in ``problem.dtype``, built outside any timed region."""
    by_name = {k.name: k for k in Registry.default().kernels.values()}
    want = lambda name: (only is None or name in only or name == BASE) and name not in skip  # noqa: E731
    out = {}
    dtype = torch_dtype(problem.dtype)
    with default_dtype(dtype):
        out[BASE] = ThreeMatmul(problem, dtype)
        if want("e3nn-s2"):
            out["e3nn-s2"] = E3nnS2(L, e3nn_resolution(L))
    out.update({name: build_module(by_name[name], problem, "cpu") for name in GAUNT if name in by_name and want(name)})
    out.update({name: build_module(by_name[name], problem, "cpu") for name in CG
                if name in by_name and want(name) and by_name[name].supports(problem, "cpu") is None})
    return out


def check(L: int, skip: set[str], only: set[str] | None, batch: int = 16) -> dict[str, float]:
    """Relative error of every column against the float64 reference of what it computes, in float64.

    Gaunt columns and the baseline against the Gaunt reference; CG columns against their own
    (full CG: one output block per path). Raises if any column is off by more than 1e-10.
    """
    by_name = {k.name: k for k in Registry.default().kernels.values()}
    problem = mimo(L, batch=batch, dtype="float64")
    errors = {}
    # every column takes the problem's own inputs (multiplicity 1, no weights)
    x = make_inputs(reference_for("gaunt", problem).native, batch, torch.Generator().manual_seed(L))
    for name, module in modules(L, problem, skip, only).items():
        kernel = by_name.get(name)
        ref = (reference_for(kernel.operation, problem, kernel.native(problem)) if kernel is not None
               else reference_for("gaunt", problem))
        with torch.no_grad():
            want, got = ref(*x), module(*x)
        errors[name] = ((got - want).norm() / want.norm()).item()
    bad = {n: e for n, e in errors.items() if not e < 1e-10}
    if bad:
        raise SystemExit(f"L={L}: columns disagree with the float64 reference: {bad}")
    return errors


def time_ms(module, pass_: str, inputs) -> float:
    run = pass_function(module, pass_, inputs)
    run()  # warm-up (allocations, lazy init)
    return tb.Timer("run()", globals={"run": run}).blocked_autorange(min_run_time=0.5).median * 1e3


def row(L: int, batch: int, rounds: int, skip: set[str], only: set[str] | None) -> dict[str, dict]:
    """Per column and pass: times (ms) and ratios to the baseline, one per interleaved round."""
    problem = mimo(L, batch=batch, dtype="float32")
    gen = torch.Generator().manual_seed(L)
    x = [t.float() for t in make_inputs(reference_for("gaunt", problem).native, batch, gen)]
    timed = {}
    by_name = {k.name: k for k in Registry.default().kernels.values()}
    for name, module in modules(L, problem, skip, only).items():
        with torch.no_grad():
            module(*x)  # first call: lazy setup (FFT plans, allocations) is not what we judge
            start = time.perf_counter()
            module(*x)
        if time.perf_counter() - start > SLOW_S and name != BASE:
            skip.add(name)
        else:
            timed[name] = module
    methods = {n: by_name[n].effective_method(m) for n, m in timed.items() if n in by_name}
    samples = {name: {p: [] for p in PASSES} for name in timed}
    names = list(timed)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]  # alternate the order: no column always runs first
        for name in order:
            for p in PASSES:
                samples[name][p].append(time_ms(timed[name], p, x))
    return {name: {p: {"ms": v, "ratio": [t / b for t, b in zip(v, samples[BASE][p])]} for p, v in by_pass.items()}
            | {"method": methods.get(name)} for name, by_pass in samples.items()}


def table(rows: dict[int, dict], pass_: str) -> str:
    names = list(dict.fromkeys(n for r in rows.values() for n in r))
    lines = [f"### {pass_}: {BASE} ms, others time / {BASE} as median [min-max] over rounds",
             "| L | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for L, r in rows.items():
        cells = []
        for n in names:
            cell = r.get(n, {}).get(pass_)
            if cell is None:
                cells.append("skip")
            elif n == BASE:
                cells.append(f"{np.median(cell['ms']):.3g} ms")
            else:
                q = cell["ratio"]
                cells.append(f"{np.median(q):.2f} [{min(q):.2f}-{max(q):.2f}]")
        lines.append(f"| {L} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", default="1-10", help="e.g. 1-10 or 2,6,10")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per L; cells are their median")
    ap.add_argument("--only", default="", help="comma-separated column names")
    ap.add_argument("--system-heap", action="store_true", help="leave glibc's heap unpinned (tpbench.measure.heap)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    heap_state = "system" if args.system_heap else heap.pin()
    Ls = (list(range(int(args.L.split("-")[0]), int(args.L.split("-")[1]) + 1)) if "-" in args.L
          else [int(v) for v in args.L.split(",")])
    only = set(filter(None, args.only.split(","))) or None
    skip: set[str] = set()
    rows = {}
    for L in Ls:
        errors = check(L, skip, only)
        rows[L] = row(L, args.batch, args.rounds, skip, only)
        print(f"L={L}: max float64 error {max(errors.values()):.1e}; ms fwd/fwd+bwd " + ", ".join(
            f"{n} {np.median(v['fwd']['ms']):.3g}/{np.median(v['fwd+bwd']['ms']):.3g}" for n, v in rows[L].items())
            + "".join(f"; {n}: {v['method']}" for n, v in rows[L].items() if v["method"]), flush=True)
    print(f"\nmimo(L), batch {args.batch}, fp32, {torch.get_num_threads()} threads, {args.rounds} rounds, "
          f"heap {heap_state}, torch {torch.__version__}\n")
    for pass_ in ("fwd", "fwd+bwd"):
        print(table(rows, pass_) + "\n")


if __name__ == "__main__":
    main()
