"""SO(2) convolution vs the CG convolution it equals vs Gaunt, per edge batch, on CPU (not a test).

Per L: ``E`` edges, ``mul`` channels, sender features ``mul x s2(L)``:

* ``torch-so2``: tpbench's SO(2) kernel, ``m_max = L``.
* ``e3nn-equiv``: an e3nn ``TensorProduct`` (uvu, per-edge weights) of the features with the
  edge harmonics ``Y_0..Y_2L`` over *every* coupling ``(li, lf, lo)`` — the pseudo ones fed the same
  ``Y_lf`` under the other parity label — summed into ``mul x s2(L)``, with the CG weights
  ``G^{-1} w``: the same function, checked equal (float64) before timing.
* ``torch-cg`` / ``cue-channelwise.naive``: tpbench's channelwise problem
  ``mul x s2(L) ⊗ s2ap(2L) -> one block per path`` (the same couplings, outputs not summed).
* ``gaunt-*``: the Gaunt product ``s2(L) ⊗ s2(2L) -> s2(L)`` on ``E·mul`` rows (one per channel; Gaunt
  reaches only the even couplings and has no per-path weights: less work, less expressive).

Timing: one process, one thread, the kernels interleaved round-robin ``--rounds`` times, median
per kernel. The machine is shared: read the ratios within one L, not the absolute times.

Usage: ``python benchmarks/so2_vs_cg_cpu.py [--L 2,4,6] [--mul 16] [--edges 1000] [--rounds 7]``.
"""

from __future__ import annotations

import argparse

import torch
from e3nn import o3

from tpbench.kernel.registry import Registry
from tpbench.oracle.inputs import make_inputs
from tpbench.spec.passes import pass_function
from tpbench.kernel import build_module, default_dtype
from tpbench.oracle.references.so2 import cg_weights, couplings, so2_layout
from tpbench.spec.shapes import channelwise_problem, custom, s2, s2ap, so2_conv
from interleave import interleaved_medians  # same folder


class E3nnEquivalent(torch.nn.Module):
    """The CG convolution equal to ``torch-so2`` (weights already mapped by ``G^{-1}``)."""

    def __init__(self, L: int, mul: int):
        super().__init__()
        self.L = L
        in2 = o3.Irreps(s2ap(2 * L))  # index 2 lf + (0 for e, 1 for o)
        instr, self.paths = [], []
        for li in range(L + 1):
            for lo in range(L + 1):
                for j, lf in enumerate(couplings(li, lo)):
                    # the label whose parity makes the path allowed: (-1)^(li+lo); pseudo when lf has the other
                    instr.append((li, 2 * lf + (li + lo) % 2, lo, "uvu", True, 1 / (L + 1)))  # e3nn applies its square root
                    self.paths.append((li, lo, j))
        self.tp = o3.TensorProduct(s2(L, mul), in2, s2(L, mul), instr, irrep_normalization="none",
                                   path_normalization="none", internal_weights=False, shared_weights=False)

    def harmonics(self, r: torch.Tensor) -> torch.Tensor:
        Y = o3.spherical_harmonics(list(range(2 * self.L + 1)), r, normalize=True, normalization="integral")
        return torch.cat([torch.cat([Y[:, l * l:(l + 1) ** 2]] * 2, -1) for l in range(2 * self.L + 1)], -1)

    def weights(self, layout, w: torch.Tensor) -> torch.Tensor:
        W = cg_weights(layout, w)
        return torch.cat([W[(li, lo)][..., j] for li, lo, j in self.paths], -1)

    def forward(self, x, Y, W):
        return self.tp(x, Y, W)


def cases_for(L: int, mul: int, E: int, kernels: dict, gen: torch.Generator) -> dict:
    """``name -> (module, inputs)`` in float32, after checking ``e3nn-equiv`` equals ``torch-so2`` in float64."""
    p64 = so2_conv(mul, L, batch=64, dtype="float64")
    so2 = kernels["torch-so2"]
    x, r, w = make_inputs(so2.native(p64), 64, gen)
    with torch.no_grad():
        want = build_module(so2, p64, "cpu")(x, r, w)
        with default_dtype(torch.float64):  # e3nn's constants in float64
            eq = E3nnEquivalent(L, mul)
        got = eq(x, eq.harmonics(r), eq.weights(so2_layout(p64), w))
    err = ((got - want).norm() / want.norm()).item()
    assert err < 1e-10, f"e3nn equivalent differs from torch-so2 at L={L}: {err:.1e}"
    print(f"L={L}: e3nn-equiv == torch-so2 in float64, rel. error {err:.1e}")

    out = {}
    p = so2_conv(mul, L, batch=E)
    x, r, w = (t.float() for t in make_inputs(so2.native(p), E, gen))
    out["torch-so2"] = (build_module(so2, p, "cpu"), [x, r, w])
    eq = E3nnEquivalent(L, mul)
    with torch.no_grad():
        out["e3nn-equiv"] = (eq, [x, eq.harmonics(r), eq.weights(so2_layout(p), w.double()).float()])
    cw = channelwise_problem(s2(L, mul), s2ap(2 * L), s2(L), E, "float32", "custom")
    for name in ("torch-cg", "cue-channelwise.naive.mul_ir"):
        k = kernels[name]
        out[name] = (build_module(k, cw, "cpu"), [t.float() for t in make_inputs(k.native(cw), E, gen)])
    gaunt = custom(s2(L), s2(L), s2(2 * L), batch=E * mul, dtype="float32")
    for name in ("gaunt-grid", "gaunt-grid-sep", "gaunt-fft"):
        k = kernels[name]
        if k.supports(gaunt, "cpu") is None:
            out[name] = (build_module(k, gaunt, "cpu"), [t.float() for t in make_inputs(k.native(gaunt), E * mul, gen)])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--L", default="2,4,6")
    ap.add_argument("--mul", type=int, default=16)
    ap.add_argument("--edges", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    kernels = {k.name: k for k in Registry.default().kernels.values()}
    gen = torch.Generator().manual_seed(0)
    print("L  pass      kernel                         median_ms  ratio_to_torch-so2")
    for L in (int(v) for v in args.L.split(",")):
        cases = cases_for(L, args.mul, args.edges, kernels, gen)
        for pass_ in ("fwd", "fwd+bwd"):
            fns = {n: pass_function(m, pass_, inputs) for n, (m, inputs) in cases.items()}
            med = interleaved_medians(fns, args.rounds)
            for n, s in med.items():
                print(f"{L:<2} {pass_:<9} {n:<30} {s * 1e3:9.2f}  {s / med['torch-so2']:6.2f}")


if __name__ == "__main__":
    main()
