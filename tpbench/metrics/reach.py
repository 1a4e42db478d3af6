"""What the SO(2) convolution and the symmetric contraction reach, measured on a kernel against theory.

Both operations are linear in their weights ``w``, so the family of maps a kernel spans is the span
of its outputs over unit weight vectors, and expressivity equals interactability: the rank of

    M[j, :] = f(inputs; w = e_j)      (all inputs of a fixed random probe set, flattened)

measured on the kernel itself (float64, one channel, one element) — never read from its declared layout.

``so2_conv``
    Probes: every basis vector of ``x`` at ``R`` random edge directions. Upper bound: every
    SO(3)-equivariant coupling ``(li, lf, lo)``, pseudo ones included (what ``m_max = L`` reaches,
    :func:`tpbench.oracle.references.so2.so2_reach`); the parity-respecting (O(3)) count is reported beside it.
``symmetric_contraction``
    Probes: random features ``A`` (each channel one sample). Per output irrep and correlation order ``ν`` the rank over the
    weights of that block, against ``dim Hom_O(3)(Sym^ν V, out)`` from characters
    (:func:`tpbench.oracle.references.symmetric.invariant_count`).
"""

from __future__ import annotations

import time

import torch

from tpbench.kernel import Kernel, build_module
from tpbench.spec.problem import Problem

RTOL = 1e-9


def _rank(M: torch.Tensor) -> int:
    s = torch.linalg.svdvals(M)
    return int((s > RTOL * s.max()).sum()) if s.numel() and s.max() > 0 else 0


def so2_measured(kernel: Kernel, problem: Problem, edges: int = 6, seed: int = 0) -> dict:
    """``{"reached", "so3", "o3", "lost"}`` per channel for ``kernel`` on ``problem``'s degrees and ``m_max``."""
    from tpbench.oracle.references.so2 import so2_layout, so2_reach
    from tpbench.spec.shapes import so2_conv

    L = so2_layout(problem)
    p = so2_conv(1, max(L.l_in), L.m_max, batch=edges * problem.in1.dim // L.mul, dtype="float64")
    layout, n_x = so2_layout(p), p.in1.dim
    module = build_module(kernel, p, "cpu")
    gen = torch.Generator().manual_seed(seed)
    r = torch.randn(edges, 3, generator=gen, dtype=torch.float64).repeat_interleave(n_x, 0)
    x = torch.eye(n_x, dtype=torch.float64).repeat(edges, 1)
    rows = []
    with torch.no_grad():
        for j in range(layout.weight_numel):
            w = torch.zeros(len(x), layout.weight_numel, dtype=torch.float64)
            w[:, j] = 1
            rows.append(module(x, r, w).reshape(-1))
    theory = so2_reach(max(layout.l_in), max(layout.l_out), layout.m_max)
    return {"reached": _rank(torch.stack(rows)), "so3": theory["so3"], "o3": theory["o3"],
            "lost": theory["so3"] - _rank(torch.stack(rows))}


def sc_measured(kernel: Kernel, problem: Problem, seed: int = 0) -> list[dict]:
    """Per output irrep and ``ν``: ``{"out", "nu", "reached", "theory"}`` for ``kernel``."""
    from tpbench.oracle.inputs import for_kernel
    from tpbench.oracle.references.symmetric import invariant_count, sc_layout

    L = sc_layout(problem)
    # One element, the problem's channels (every channel one more sample of the same polynomials): a
    # kernel that caches per layout (cuEquivariance's descriptor takes minutes) reuses its build.
    one = problem.replace(dtype="float64", params=tuple({**dict(problem.params), "num_elements": 1}.items()))
    L1 = sc_layout(one)
    samples = -(-(4 * L1.n_basis + 8) // L1.mul)
    p = one.replace(batch=samples)
    native = kernel.native(p)
    module = build_module(kernel, p, "cpu")
    perm = kernel.weight_permutation(p)
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(samples, p.in1.dim, generator=gen, dtype=torch.float64)
    species = torch.zeros(samples, dtype=torch.long)
    outputs = []
    with torch.no_grad():
        for b in range(L1.n_basis):
            w = torch.zeros(1, L1.n_basis, L1.mul, dtype=torch.float64)
            w[0, b] = 1
            w = w.reshape(-1)
            outputs.append(module(*for_kernel([A, species, w], native, kernel, torch.float64, "cpu", perm)).reshape(-1))
    M = torch.stack(outputs)
    result = []
    for i, nu, offset, U in L1.bases():
        ir = L1.outs[i]
        result.append({"out": f"{ir[0]}{'e' if ir[1] == 1 else 'o'}", "nu": nu,
                       "reached": _rank(M[offset:offset + U.shape[0]]) if U.shape[0] else 0,
                       "theory": invariant_count(L1.ins, ir, nu)})
    return result


def reach_expressivity(kernel: Kernel, problem: Problem):
    """The measurements above as a :class:`tpbench.metrics.expressivity.Expressivity` (for ``tpbench metrics``)."""
    from tpbench.metrics.expressivity import Expressivity

    start = time.perf_counter()
    if problem.op == "so2_conv":
        m = so2_measured(kernel, problem)
        return Expressivity("ok", f"per channel; the O(3)-equivariant (parity-respecting) couplings number "
                                  f"{m['o3']}; truncation at m_max loses {m['lost']}",
                            expressivity=m["reached"], interactability=m["reached"], upper_bound=m["so3"],
                            symmetry=kernel.symmetry, seconds=time.perf_counter() - start, method="weight span")
    rows = sc_measured(kernel, problem)
    reached = sum(r["reached"] for r in rows)
    return Expressivity("ok", "per channel and element: independent equivariants over the weights",
                        expressivity=reached, interactability=reached, upper_bound=sum(r["theory"] for r in rows),
                        paths_reached=[f"nu={r['nu']} -> {r['out']}: {r['reached']}/{r['theory']}" for r in rows
                                       if r["reached"] == r["theory"]],
                        paths_missed=[f"nu={r['nu']} -> {r['out']}: {r['reached']}/{r['theory']}" for r in rows
                                      if r["reached"] != r["theory"]],
                        symmetry=kernel.symmetry, seconds=time.perf_counter() - start, method="weight span")
