"""Equivariance error of any function of irreps features, for users' tests too.

For ``f: X × Y (× W) -> Z`` and a group element ``g`` (a rotation, or for
O(3) the rotation composed with the inversion) the error is

    e(g) = max over output blocks b of ‖f(D_X(g) x, D_Y(g) y, w)_b − (D_Z(g) f(x, y, w))_b‖ / ‖f(x, y, w)_b‖

with the Wigner matrices ``D`` built in float64 by e3nn. Weights are
invariant. Blocks whose reference norm is negligible are measured against the
norm of the whole output, so an exactly-zero block does not divide by zero.
Any NaN or infinity in either tensor makes the error ``inf`` (a NaN would
compare false against every tolerance and vanish in ``max``); tensors of
different shapes raise :class:`WrongOutput`.

Use :func:`assert_equivariant` in a test of your own kernel::

    from tpbench.oracle.equivariance import assert_equivariant
    assert_equivariant(my_module, [irreps_x, irreps_y], irreps_z, tol=1e-10)
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from e3nn import o3


class WrongOutput(ValueError):
    """A kernel's output or gradient is not a tensor of the reference's shape."""


def block_error(actual: torch.Tensor, expected: torch.Tensor, irreps: o3.Irreps | None) -> float:
    """Max over irrep blocks of ``‖actual_b − expected_b‖ / ‖expected_b‖`` (float64); ``inf`` if not finite."""
    if not isinstance(actual, torch.Tensor):
        raise WrongOutput(f"got {type(actual).__name__}, expected a tensor of shape {tuple(expected.shape)}")
    if actual.shape != expected.shape:
        raise WrongOutput(f"shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    actual, expected = actual.detach().double(), expected.detach().double()
    if not (torch.isfinite(actual).all() and torch.isfinite(expected).all()):
        return math.inf
    total = expected.norm().item()
    diff_total = (actual - expected).norm().item()
    if irreps is None or irreps.dim != expected.shape[-1]:
        err = diff_total / total if total > 0 else diff_total
        return err if math.isfinite(err) else math.inf
    worst = 0.0
    for sl in irreps.slices():
        ref = expected[..., sl].norm().item()
        diff = (actual[..., sl] - expected[..., sl]).norm().item()
        denom = ref if ref > 1e-6 * total else total
        worst = max(worst, diff / denom if denom > 0 else diff)
    return worst if math.isfinite(worst) else math.inf


def group_elements(symmetry: str, generator: torch.Generator | None = None) -> list[tuple[str, torch.Tensor]]:
    """A random rotation, and for O(3) also that rotation times the inversion (det −1)."""
    if generator is not None:
        q = torch.randn(4, generator=generator, dtype=torch.float64)
        R = o3.quaternion_to_matrix(q / q.norm())
    else:
        R = o3.rand_matrix(dtype=torch.float64)
    elements = [("rotation", R)]
    if symmetry == "O(3)":
        elements.append(("inversion", -R))
    return elements


def equivariance_errors(
    fn: Callable[..., torch.Tensor],
    irreps_in: Sequence[o3.Irreps | None],
    irreps_out: o3.Irreps,
    inputs: Sequence[torch.Tensor],
    symmetry: str = "O(3)",
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """``{"rotation": e, "inversion": e}`` for float64 ``mul_ir`` inputs; ``None`` irreps are invariant."""
    from tpbench.spec.precision import default_dtype

    out = fn(*inputs).double()
    errors = {}
    for name, R in group_elements(symmetry, generator):
        # e3nn builds D from default-dtype generators and torch.matrix_exp, whose path for a single
        # matrix is off by up to 2e-10 in float64 near angle 0.05 (pytorch/pytorch#196592); a batch of two is not.
        R2 = R.expand(2, 3, 3)
        with default_dtype(torch.float64):
            D_in = [None if irreps is None else irreps.D_from_matrix(R2)[0] for irreps in irreps_in]
            D_out = irreps_out.D_from_matrix(R2)[0]
        moved = [x if D is None else x @ D.T for x, D in zip(inputs, D_in)]
        expected = out @ D_out.T
        errors[name] = block_error(fn(*moved).double(), expected, irreps_out)
    return errors


def assert_equivariant(module: Callable[..., torch.Tensor], irreps_in: Sequence[o3.Irreps],
                       irreps_out: o3.Irreps, tol: float = 1e-10, symmetry: str = "O(3)",
                       batch: int = 8, weights: torch.Tensor | None = None) -> dict[str, float]:
    """Raise ``AssertionError`` if ``module`` is not equivariant to ``tol``; return the errors.

    ``weights``, if given, is passed unchanged as the last argument.
    """
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(batch, i.dim, generator=gen, dtype=torch.float64) for i in irreps_in]
    irreps = list(irreps_in)
    if weights is not None:
        inputs.append(weights)
        irreps.append(None)
    errors = equivariance_errors(module, irreps, irreps_out, inputs, symmetry, gen)
    bad = {k: v for k, v in errors.items() if not v <= tol}
    assert not bad, f"not equivariant to {tol:g}: {bad}"
    return errors
