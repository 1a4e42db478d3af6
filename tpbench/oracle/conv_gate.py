"""The correctness gate of a convolution, on the very graph it is timed on.

A conv module has its graph baked in, so it is checked on the whole graph
with fresh standard-normal ``x (N, ·)``, ``y (E, ·)``, ``w (E, ·)``. The
float64 reference (:mod:`tpbench.oracle.references.conv`) is evaluated only on the
edges into ``GATE_NODES`` sampled receivers ``S`` (the first, the last, and
random ones), which is exact and cheap at any size:

* ``fwd``: ``max_b ‖f(x)_{S,b} − r(x)_{S,b}‖ / ‖r(x)_{S,b}‖`` over output
  irrep blocks ``b`` on the rows of ``S`` — a dropped, duplicated or
  misrouted edge into ``S``, or an index overflow at the end, shows here;
* ``fwd+bwd`` / ``fwd+bwd+bwd``: under a cotangent that is zero outside ``S``
  every gradient (of ``x`` on all nodes, of ``y`` and ``w`` on all edges,
  zero on edges not into ``S``) is decided by the edges into ``S``, so the
  kernel's full gradients are compared with the reference's, scattered to
  full size;
* ``rotation`` / ``inversion``: rotating every node feature and edge feature
  by the Wigner matrices of one rotation (the edge harmonics of rotated
  positions) must rotate the output; checked on the whole output.

Tolerances are :data:`tpbench.oracle.correctness.TOLERANCES`: a float32 scatter of
~100 messages per node (or a nondeterministic atomic one) stays well inside
them.
"""

from __future__ import annotations

import torch

from tpbench.oracle.correctness import TOLERANCES, GateResult, _Canonical, judge_passes
from tpbench.oracle.equivariance import block_error, equivariance_errors
from tpbench.oracle.inputs import from_kernel, input_irreps, make_inputs
from tpbench.oracle.references import reference_for
from tpbench.spec.passes import pass_function
from tpbench.kernel import Kernel, torch_dtype
from tpbench.spec.layout import convert
from tpbench.spec.problem import Problem

GATE_NODES = 32


def sample_nodes(num_nodes: int, gen: torch.Generator) -> torch.Tensor:
    picks = torch.cat([torch.tensor([0, num_nodes - 1]), torch.randint(0, num_nodes, (GATE_NODES - 2,), generator=gen)])
    return torch.unique(picks)


def _on_edges(tensors: list[torch.Tensor], edges: torch.Tensor) -> list[torch.Tensor]:
    """The node input whole, the edge inputs (and weights) on ``edges``."""
    return [tensors[0]] + [t[edges] for t in tensors[1:]]


def _to_full(tensors: list[torch.Tensor | None], edges: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    """Gradients of the restricted reference at full size: zero on the edges it does not hold."""
    out = [tensors[0] if tensors[0] is not None else torch.zeros_like(like[0])]
    for t, ref in zip(tensors[1:], like[1:]):
        full = torch.zeros_like(ref)
        out.append(full if t is None else full.index_copy(0, edges, t))
    return out


def run_conv_gate(kernel: Kernel, problem: Problem, module: torch.nn.Module, device: str,
                  passes: list[str], seed: int = 0) -> GateResult:
    """:func:`tpbench.oracle.correctness.run_gate` for ``conv`` problems (see the module docstring)."""
    result = GateResult(tolerances=dict(TOLERANCES[problem.dtype]))
    tol, e = result.tolerances, result.errors
    native = kernel.native(problem)
    ref = reference_for(kernel.operation, problem, kernel.native(problem)).double()
    gen = torch.Generator().manual_seed(seed)
    call = _Canonical(kernel, module, native, torch_dtype(problem.dtype), device, kernel.weight_permutation(problem))

    x = make_inputs(native, problem.batch, gen)
    nodes = sample_nodes(x[0].shape[0], gen)
    sub = ref.restricted(nodes)
    out = call(*x)
    with torch.no_grad():
        expected = sub(*_on_edges(x, sub.edges))
    e["fwd"] = block_error(out[nodes], expected[nodes], native.irreps_out)
    result.output_variance = [out[:, sl].pow(2).mean().item() for sl in native.irreps_out.slices()]
    e.update(equivariance_errors(call, input_irreps(native), native.irreps_out, x, kernel.symmetry, gen))

    forward_bad = [f"fwd error {e['fwd']:.2e} > {tol['fwd']:.0e}"] if not e["fwd"] <= tol["fwd"] else []
    if kernel.exactly_equivariant:
        forward_bad += [f"{k} equivariance error {e[k]:.2e} > {tol['equivariance']:.0e}"
                        for k in ("rotation", "inversion") if k in e and not e[k] <= tol["equivariance"]]

    cot = torch.zeros_like(out)
    cot[nodes] = torch.randn(len(nodes), out.shape[1], generator=gen, dtype=torch.float64)
    vs = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in x]

    def grad_error(pass_: str) -> float:
        kcot = convert(cot, native.irreps_out, "mul_ir", kernel.layout).to(device=device, dtype=call.dtype)
        got = pass_function(call.module, pass_, call.inputs(x), kcot, call.inputs(vs))()
        got = from_kernel(got, native, kernel, call.perm, x)
        want = pass_function(sub, pass_, _on_edges(x, sub.edges), cot, _on_edges(vs, sub.edges))()
        want = _to_full(want, sub.edges, x)
        return max(block_error(g, w, irreps) for g, w, irreps in zip(got, want, input_irreps(native)))

    judge_passes(result, passes, forward_bad, grad_error)
    return result
