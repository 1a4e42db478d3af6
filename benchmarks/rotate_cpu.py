"""Feature rotation into the edge frame and back (the SO(2) route's Wigner-D work) per construction, on CPU (not a test).

Per L: ``rotate(L, mul, m_max)`` on ``E`` edges. Every available ``rotate-*`` kernel is first checked in
float64 against the oracle (the projector about ``r̂``, no frame) on the same inputs, then ``fwd`` and
``fwd+bwd`` are timed in float32, the kernels interleaved round-robin ``--rounds`` times in one process
and one thread, median per kernel. The machine may be shared: read the ratios within one L.

Usage: ``python benchmarks/rotate_cpu.py [--L 2,4,6] [--mul 16] [--m-max 2] [--edges 2000] [--rounds 7]``.
"""

from __future__ import annotations

import argparse

import torch

from tpbench.kernel import build_module, torch_dtype
from tpbench.kernel.registry import Registry
from tpbench.oracle.inputs import for_kernel, make_inputs
from tpbench.oracle.references import reference_for
from tpbench.spec.passes import pass_function
from tpbench.spec.shapes import rotate
from interleave import interleaved_medians  # same folder


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def one_L(L: int, args, kernels) -> None:
    gen = torch.Generator().manual_seed(L)
    p64 = rotate(L, args.mul, min(args.m_max, L - 1), batch=args.edges, dtype="float64")
    x = make_inputs(kernels[0].native(p64), args.edges, gen)
    with torch.no_grad():
        want = reference_for("rotate", p64)(*x)
    agree = []
    for k in kernels:
        with torch.no_grad():
            got = build_module(k, p64, "cpu")(*for_kernel(x, k.native(p64), k, torch.float64, "cpu"))
        agree.append(f"{k.name} {_rel(got, want):.1e}")
    print(f"L={L} m_max={dict(p64.params)['m_max']} mul={args.mul} edges={args.edges}: float64 vs oracle: "
          + "; ".join(agree))
    p = p64.replace(dtype="float32")
    cases = {k.name: (build_module(k, p, "cpu"), for_kernel(x, k.native(p), k, torch_dtype("float32"), "cpu"))
             for k in kernels}
    base_name = kernels[0].name
    for pass_ in ("fwd", "fwd+bwd"):
        fns = {n: pass_function(m, pass_, inputs) for n, (m, inputs) in cases.items()}
        med = interleaved_medians(fns, args.rounds)
        for n, s in med.items():
            print(f"  {pass_:<8} {n:<24} {s * 1e3:9.2f} ms  {s / med[base_name]:6.2f}x {base_name}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", default="2,4,6")
    ap.add_argument("--mul", type=int, default=16)
    ap.add_argument("--m-max", type=int, default=2)
    ap.add_argument("--edges", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--kernels", default="rotate-torch-so2,rotate-e3nn,rotate-cue.naive,rotate-fairchem.euler")
    args = ap.parse_args()
    torch.set_num_threads(1)
    found = {k.name: k for k in Registry.default().resolve(["rotate-*"])}
    kernels = []
    for name in args.kernels.split(","):
        k = found.get(name)
        reason = "not registered" if k is None else k.available()
        if reason:
            print(f"{name}: left out: {reason}")
        else:
            kernels.append(k)
    for L in (int(v) for v in args.L.split(",")):
        one_L(L, args, kernels)


if __name__ == "__main__":
    main()
