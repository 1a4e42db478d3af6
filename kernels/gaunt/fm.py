"""Feature-major grid products for single-kind inputs: the full grid, or the equator-split half grid.

Both compute ``z = Π[(Σ x₁ Y)(Σ x₂ Y)]`` with every grid intermediate laid out
``(rows, batch)``, the batch contiguous, so that each transform is a
``(small, small) @ (small, B)`` product — the shape BLAS runs fastest — in the
forward *and* in the hand-written backward (autograd would transpose them into
``(B, G) @ (G, d)``).

A :class:`Transform` holds, per class ``c`` of grid signal, the synthesis
matrices ``A₁[c]`` ``(G_c, d₁c)``, ``A₂[c]`` and the weighted analysis matrices
``Z[c]`` ``(d_out,c, G_c)``, with the coefficient columns of each class.

* one class (``full``): ``f = A₁ x₁ᵀ``, ``g = A₂ x₂ᵀ`` on the whole grid,
  ``h = f ⊙ g``, ``zᵀ = Z h`` — the plain three-matmul transform;
* two classes (``split``): the ``l+m`` even (E) and odd (O) coefficients on the
  northern half grid; the southern values are ``E − O``, so with
  ``(a, b) ↦ a ⋆ b = (a_E b_E + a_O b_O, a_E b_O + a_O b_E)`` (the product of the
  group algebra of Z₂) the fields ``(S, D) = f ⋆ g`` give ``z_E = Z_E S``,
  ``z_O = Z_O D``: half the flops of the full grid.

Derivatives (``⋆`` is commutative and bilinear, and its adjoint in either
factor is again ``⋆``): with ``h̄ = Zᵀ z̄ᵀ`` per class,
``f̄ = h̄ ⋆ g``, ``ḡ = h̄ ⋆ f``, ``x̄₁ᵀ = A₁ᵀ f̄``, ``x̄₂ᵀ = A₂ᵀ ḡ``;
forward mode ``ż = Z (ḟ ⋆ g + f ⋆ ġ)``. ``f``, ``g`` are saved from the forward;
under ``create_graph`` the backward recomputes them from ``x₁, x₂`` with
differentiable operations, so the same formulas give the double backward.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class Transform:
    """Matrices and index maps of one feature-major grid product (module docstring).

    ``cols1[c]``, ``cols2[c]``, ``out_cols[c]``: the input and output columns of class ``c``
    (``None``: one class, all columns in order); ``out_rows``, ``inv1``, ``inv2``: for each
    output / input column, its row in the class-stacked ``[class 0; class 1]`` (``None``: one class).
    """

    A1: list[torch.Tensor]
    A2: list[torch.Tensor]
    Z: list[torch.Tensor]
    cols1: list[torch.Tensor] | None
    cols2: list[torch.Tensor] | None
    out_cols: list[torch.Tensor] | None
    out_rows: torch.Tensor | None
    inv1: torch.Tensor | None
    inv2: torch.Tensor | None


def star(a: list[torch.Tensor], b: list[torch.Tensor], reuse_a: bool = False) -> list[torch.Tensor]:
    """``a ⋆ b``: the pointwise product (one class) or the Z₂ group-algebra product (two).

    ``reuse_a``: ``a``'s buffers may be overwritten (inference: one grid-sized allocation fewer).
    """
    if len(a) == 1:
        return [a[0].mul_(b[0]) if reuse_a else a[0] * b[0]]
    S = torch.addcmul(a[0] * b[0], a[1], b[1])
    D = a[0].mul_(b[1]) if reuse_a else a[0] * b[1]
    return [S, D.addcmul_(a[1], b[0])]


def synthesize(x: torch.Tensor, A: list[torch.Tensor], cols: list[torch.Tensor] | None) -> list[torch.Tensor]:
    """Grid signals ``A[c] x_cᵀ`` ``(G_c, B)`` of coefficients ``x`` ``(B, d)``."""
    if cols is None:
        return [A[0] @ x.t()]
    return [a @ x.index_select(1, c).t() for a, c in zip(A, cols)]


def project(h: list[torch.Tensor], t: Transform) -> torch.Tensor:
    """``z`` ``(B, d_out)`` (a transposed view) from the fields ``h[c]``."""
    parts = [z @ f for z, f in zip(t.Z, h)]
    zt = parts[0] if t.out_rows is None else torch.cat(parts).index_select(0, t.out_rows)
    return zt.t()


def adjoint(h: list[torch.Tensor], A: list[torch.Tensor], inv: torch.Tensor | None) -> torch.Tensor:
    """``x̄`` ``(B, d)`` from the grid cotangents ``h[c]``: ``x̄_cᵀ = A[c]ᵀ h[c]``."""
    parts = [a.t() @ f for a, f in zip(A, h)]
    xt = parts[0] if inv is None else torch.cat(parts).index_select(0, inv)
    return xt.t()


class GridProduct(torch.autograd.Function):
    """``z = Π[(Σ x₁ Y)(Σ x₂ Y)]`` in the feature-major layout with hand-written derivatives."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x1, x2, t: Transform):
        f, g = synthesize(x1, t.A1, t.cols1), synthesize(x2, t.A2, t.cols2)
        return (project(star(f, g), t), *f, *g)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x1, x2, t = inputs
        n = len(t.A1)
        f, g = list(output[1:1 + n]), list(output[1 + n:])
        ctx.mark_non_differentiable(*f, *g)
        ctx.set_materialize_grads(False)  # else autograd fills zero gradients for every saved f, g
        ctx.t, ctx.n = t, n
        ctx.save_for_backward(x1, x2, *f, *g)
        ctx.save_for_forward(*f, *g)

    @staticmethod
    def backward(ctx, grad, *_):
        if grad is None:  # z took no part in the loss
            return None, None, None
        t, n = ctx.t, ctx.n
        x1, x2, *fg = ctx.saved_tensors
        f, g = fg[:n], fg[n:]
        graph = torch.is_grad_enabled()
        if graph:  # create_graph: f, g must carry their dependence on x1, x2
            f, g = synthesize(x1, t.A1, t.cols1), synthesize(x2, t.A2, t.cols2)
        if t.out_cols is None:
            hbar = [t.Z[0].t() @ grad.t()]
        else:
            hbar = [z.t() @ grad.index_select(1, c).t() for z, c in zip(t.Z, t.out_cols)]
        g1 = adjoint(star(hbar, g), t.A1, t.inv1) if ctx.needs_input_grad[0] else None
        # the last use of h̄: without a graph to keep, its buffers take the product
        g2 = adjoint(star(hbar, f, reuse_a=not graph), t.A2, t.inv2) if ctx.needs_input_grad[1] else None
        return g1, g2, None

    @staticmethod
    def jvp(ctx, dx1, dx2, _t):
        t, n = ctx.t, ctx.n
        fg = ctx.saved_tensors  # the forward-mode set: f, g
        f, g = fg[:n], fg[n:]
        parts = []
        if dx1 is not None:
            parts.append(star(synthesize(dx1, t.A1, t.cols1), g))
        if dx2 is not None:
            parts.append(star(f, synthesize(dx2, t.A2, t.cols2)))
        h = [sum(p[c] for p in parts) for c in range(n)]
        return (project(h, t), *[None] * (2 * n))


def product(x1: torch.Tensor, x2: torch.Tensor, t: Transform) -> torch.Tensor:
    """The grid product; without autograd (inference) no Function and the fields overwrite ``f``."""
    if torch.is_grad_enabled():  # also under torch.func transforms: they need the Function
        return GridProduct.apply(x1, x2, t)[0]
    return project(star(synthesize(x1, t.A1, t.cols1), synthesize(x2, t.A2, t.cols2), reuse_a=True), t)
