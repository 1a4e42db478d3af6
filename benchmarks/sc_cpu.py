"""Symmetric contraction at MACE-MP size on CPU: torch-sc vs cuEquivariance (naive) vs MACE's own (not a test).

Builds the kernels for ``symmetric_contraction_model(NAME)`` on ``N`` nodes, checks them in
float64 against torch-sc and against the oracle (on sampled rows), then times ``fwd`` and
``fwd+bwd`` in float32, interleaved round-robin, one thread, median per kernel. cuEquivariance's
descriptor for l <= 3, correlation 3 takes minutes to build on a CPU (not timed). ``mace-sc``
(mace-torch's ``SymmetricContraction``, its weights mapped from the canonical ones) is left out
with its reason when mace-torch is not importable.

Usage: ``python benchmarks/sc_cpu.py [--model mace-mp-medium] [--nodes 500] [--rounds 7]
[--kernels torch-sc,cue-sc.naive,mace-sc]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from tpbench.oracle.inputs import for_kernel, make_inputs
from tpbench.spec.passes import pass_function
from tpbench.kernel import build_module, torch_dtype
from tpbench.oracle.references import reference_for
from tpbench.spec.shapes import symmetric_contraction_model
from tpbench_kernels.symmetric.contraction import CueSC, TorchSC
from tpbench_kernels.symmetric.mace import MaceSC
from interleave import interleaved_medians  # same folder


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mace-mp-medium")
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--kernels", default="torch-sc,cue-sc.naive,mace-sc")
    args = ap.parse_args()
    torch.set_num_threads(1)
    known = {k.name: k for k in (TorchSC(), CueSC("naive"), MaceSC(True), MaceSC(False))}
    kernels = [known["torch-sc"]] + [known[n] for n in args.kernels.split(",") if n != "torch-sc"]
    for k in [k for k in kernels if k.available()]:
        print(f"{k.name}: left out: {k.available()}")
        kernels.remove(k)
    gen = torch.Generator().manual_seed(0)

    p64 = symmetric_contraction_model(args.model, batch=args.nodes, dtype="float64")
    x = make_inputs(kernels[0].native(p64), args.nodes, gen)
    outs = {}
    for k in kernels:
        t0 = time.perf_counter()
        module = build_module(k, p64, "cpu")
        inputs = for_kernel(x, k.native(p64), k, torch.float64, "cpu", k.weight_permutation(p64))
        print(f"{k.name}: built in {time.perf_counter() - t0:.0f} s")
        with torch.no_grad():
            outs[k.name] = module(*inputs)
    rows = torch.arange(0, args.nodes, max(1, args.nodes // 16))
    with torch.no_grad():
        want = reference_for("symmetric_contraction", p64)(x[0][rows], x[1][rows], x[2])
    names = [k.name for k in kernels]
    print("float64: " + "; ".join(f"{n} vs {names[0]} rel. error {_rel(outs[n], outs[names[0]]):.1e}" for n in names[1:])
          + "; " + "; ".join(f"{n} vs oracle {_rel(outs[n][rows], want):.1e}" for n in names))

    p = p64.replace(dtype="float32")
    cases = {}
    for k in kernels:
        module = build_module(k, p, "cpu")
        cases[k.name] = (module, for_kernel(x, k.native(p), k, torch_dtype("float32"), "cpu", k.weight_permutation(p)))
    print("pass      kernel            median_ms  ratio_to_torch-sc")
    for pass_ in ("fwd", "fwd+bwd"):
        fns = {n: pass_function(m, pass_, inputs) for n, (m, inputs) in cases.items()}
        med = interleaved_medians(fns, args.rounds)
        for n, s in med.items():
            print(f"{pass_:<9} {n:<17} {s * 1e3:9.1f}  {s / med['torch-sc']:6.2f}")


if __name__ == "__main__":
    main()
