"""The correctness gate of a model block, on the graph it is timed on.

The module runs on the whole graph with fresh standard-normal inputs
(positions and features ``(N, ·)``, edge shifts ``(E, 3)``, the shared
weights). A block is one message-passing step, so atom ``i``'s energy
depends only on atom ``i``, its senders and the edges into ``i``: the
float64 reference (:mod:`tpbench.oracle.references.block`) runs on the edges
into ``GATE_NODES`` sampled atoms ``S`` only (as the conv gate does), exact
and cheap at any size:

* ``fwd``: the relative error of the energies of ``S``;
* ``fwd+bwd``: every gradient under a random cotangent that is zero outside
  ``S`` (positions and features of every atom, shifts of every edge — zero on
  edges not into ``S`` — and the weights); the positions' part is the forces;
* ``fwd+bwd+bwd``: the double-backward gradients (training through forces);
* ``rotation`` / ``inversion``: positions, features and shifts rotated (all
  ``1o`` or hidden irreps) must leave every per-atom energy unchanged — so
  the forces, the positions' gradient, rotate with them.

Inputs are random, not the crystal's: the check is of the math at any
geometry (a distance beyond ``r_max`` just switches its edge off).
Tolerances are :data:`tpbench.oracle.correctness.TOLERANCES`.
"""

from __future__ import annotations

import torch

from tpbench.kernel import Kernel, torch_dtype
from tpbench.oracle.conv_gate import _to_full, sample_nodes
from tpbench.oracle.correctness import TOLERANCES, GateResult, _Canonical, _why, judge_passes
from tpbench.oracle.equivariance import WrongOutput, block_error, equivariance_errors
from tpbench.oracle.inputs import from_kernel, input_irreps, make_inputs
from tpbench.oracle.references import reference_for
from tpbench.spec.layout import convert
from tpbench.spec.passes import pass_function
from tpbench.spec.problem import Problem


def run_block_gate(kernel: Kernel, problem: Problem, module: torch.nn.Module, device: str,
                   passes: list[str], seed: int = 0) -> GateResult:
    """:func:`tpbench.oracle.correctness.run_gate` for ``model_block`` problems (see the module docstring)."""
    import math

    result = GateResult(tolerances=dict(TOLERANCES[problem.dtype]))
    tol, e = result.tolerances, result.errors
    native = kernel.native(problem)
    ref = reference_for(kernel.operation, problem, native).double()
    gen = torch.Generator().manual_seed(seed)
    call = _Canonical(kernel, module, native, torch_dtype(problem.dtype), device, kernel.weight_permutation(problem))
    x = make_inputs(native, problem.batch, gen)
    nodes = sample_nodes(problem.batch, gen)
    sub = ref.restricted(nodes)

    def on_edges(tensors):
        return [tensors[0], tensors[1][sub.edges], tensors[2]]

    try:
        out = call(*x)
        with torch.no_grad():
            expected = sub(*on_edges(x))
        e["fwd"] = block_error(out[nodes], expected[nodes], native.irreps_out)
        result.output_variance = [out[:, sl].pow(2).mean().item() for sl in native.irreps_out.slices()]
        e.update(equivariance_errors(call, input_irreps(native), native.irreps_out, x, kernel.symmetry, gen))
    except WrongOutput as exc:
        e.setdefault("fwd", math.inf)
        result.wrong["fwd"] = f"wrong output: {exc}"
        result.failures.update({pass_: result.wrong["fwd"] for pass_ in passes})
        return result

    forward_bad = [_why("fwd", "error", e["fwd"], tol["fwd"])] if not e["fwd"] <= tol["fwd"] else []
    if kernel.exactly_equivariant:
        forward_bad += [_why(k, "equivariance error", e[k], tol["equivariance"])
                        for k in ("rotation", "inversion") if k in e and not e[k] <= tol["equivariance"]]
    cot = torch.zeros_like(out)
    cot[nodes] = torch.randn(len(nodes), out.shape[1], generator=gen, dtype=torch.float64)
    vs = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in x]

    def grad_error(pass_: str) -> float:
        kcot = convert(cot, native.irreps_out, "mul_ir", kernel.layout).to(device=device, dtype=call.dtype)
        got = pass_function(call.module, pass_, call.inputs(x), kcot, call.inputs(vs))()
        if len(got) != len(x) or not all(isinstance(g, torch.Tensor) for g in got):
            raise WrongOutput(f"{pass_}: {len(got)} gradients, expected {len(x)} tensors")
        got = from_kernel(got, native, kernel, call.perm, x)
        want = pass_function(sub, pass_, on_edges(x), cot, on_edges(vs))()
        want = _to_full(want[:2], sub.edges, x[:2]) + [want[2]]  # the shifts' gradient at full size
        return max(block_error(g, w, irreps) for g, w, irreps in zip(got, want, input_irreps(native)))

    judge_passes(result, passes, forward_bad, grad_error)
    return result
