"""Expressivity and interactability of a bilinear kernel — the math of docs/design.md, usable in users' tests.

Setting
-------
A problem ``X × Y → Z`` of multiplicity 1 (every block of ``X``, ``Y``, ``Z``
is ``1 x (l, p)``). A bilinear kernel ``T`` really computes ``X′ × Y′ (× W) → Z′``
on its *native* irreps (:meth:`tpbench.Kernel.native`). Wrap it in learnable
equivariant linear layers (one free matrix per pair of blocks of equal irrep;
for an ``SO(3)`` kernel, of equal ``l`` — parity ignored)::

    B(θ) = Lin_Z ∘ T_w ∘ (Lin_X, Lin_Y),    θ = (θ_X, θ_Y, w, θ_Z)

``w`` are ``T``'s shared weights; per-sample weights are fixed to one generic
random vector, repeated for every sample.

Coordinates
-----------
``Hom_G(X ⊗ Y, Z)`` has the orthonormal basis ``E_p``, one per block triple
``p = (b1, b2, b3)`` with ``|l1 − l2| ≤ l3 ≤ l1 + l2`` (and ``p1 p2 = p3`` for
``O(3)``): ``E_p[i, j, k] = C^{l1 l2 l3}_{ijk}`` (``e3nn.o3.wigner_3j``, unit
Frobenius norm) on the block, zero elsewhere. ``SO(3)`` coupling is
multiplicity free, so the triples span ``Hom_G`` and the upper bound is their
number. ``B`` is measured by its coordinates (``rows = dim Hom``)::

    c_p(θ) = <B(θ), E_p> = Σ_{i∈b1, j∈b2, k∈b3} C_ijk B(θ)(e_i, e_j)_k

so ``T`` runs once on the ``dim X · dim Y`` pairs of basis vectors; the full
tensor of ``B`` is never differentiated.

Derivatives and spans
---------------------
Lin_Z is linear in θ_Z, hence ``c(θ) = J_Z(θ_in) θ_Z`` with ``θ_in = (θ_X, θ_Y, w)``
and ``J_Z``'s column ``t`` the coordinates of ``B`` with Lin_Z set to its
``t``-th elementary map (one weight 1, the others 0). Therefore

* ``∂c/∂θ_Z = J_Z(θ_in)`` — one evaluation of ``T``, no derivative;
* ``∂c/∂θ_in`` — forward mode (``torch.func.jvp`` vmapped over the basis
  tangents). The Lin_X weights out of ``X`` block ``a`` move only the inputs
  ``Lin_X e_i, i ∈ a``, so they act on the triples with ``b1 = a`` alone and
  their jvp runs on those rows only (likewise ``Y``): all of θ_X and θ_Y cost
  about two evaluations of ``T``. Where a kernel's op has no forward
  derivative, ``c`` being linear in those weights gives the columns exactly as
  ``c(e_k)``; ``T``'s own weights then fall back to reverse mode;
* **expressivity** ``= rank [∂c/∂θ_in | J_Z]`` at a random θ;
* **interactability** ``= dim span{c(θ)}``. ``T(0, y) = T(x, 0) = 0`` lets
  Lin_X and Lin_Y keep a single block pair ``(a, b)``, so the span is the
  direct sum over block pairs of ``span{c_ab(θ)}`` (``c`` on the triples
  ``(a, b, ·)``), and ``span{c_ab(θ)} = span ∪_{θ_in} columns of J_Z(θ_in)``
  restricted to those triples. θ_in is drawn until no pair gains rank and
  every pair holds more sampled vectors than it has triples (the upper bound
  of that pair). A generic draw outside the current span raises its rank, so
  a draw that raises none means the span is complete, almost surely;
* a triple ``p`` is **reached** when the span has a component along ``E_p``
  (the row of ``p`` in an orthonormal basis of the span is longer than 1e-6),
  **missed** otherwise.

Numerics: float64; each matrix's columns are scaled to unit norm (the rank is
unchanged; columns below ``1e-10`` of the largest count as zero, so round-off
is not blown up) and the rank counts singular values ``σ > RTOL · σ_max`` with
``RTOL = 1e-8``. Measured for every built-in bilinear kernel on ``mimo`` and
``mimo-ap`` up to ``L = 6``: the smallest kept ``σ/σ_max`` is 3e-2, the largest
dropped 5e-16. Stability: everything is computed again at a second random θ
(a second seed); the generic rank is the larger, and a difference is reported
in ``reason``.

Use in a test of your own kernel::

    from tpbench.metrics.expressivity import expressivity
    r = expressivity(MyKernel(), tpbench.spec.shapes.mimo(3))
    assert r.interactability == r.upper_bound
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

import torch
from e3nn import o3

from tpbench.kernel.base import Kernel, Native, build_module
from tpbench.spec.layout import convert
from tpbench.spec.problem import Problem

RTOL = 1e-8  # singular values below RTOL * largest are zero (see module docstring)
COLUMN_FLOOR = 1e-10  # columns below this fraction of the largest count as zero
REACHED_TOL = 1e-6  # a path is reached when its row in the span's basis is longer
METHOD_VERSION = 1  # bump when the computation changes: invalidates file caches
_MEMORY: dict[str, dict] = {}


# -- the Hom_G basis ---------------------------------------------------------

def _compatible(a: o3.Irrep, b: o3.Irrep, symmetry: str) -> bool:
    """Same irrep under the group: equal ``(l, p)`` for O(3), equal ``l`` for SO(3)."""
    return a == b if symmetry == "O(3)" else a.l == b.l


def _allowed(ir1: o3.Irrep, ir2: o3.Irrep, ir3: o3.Irrep, symmetry: str) -> bool:
    parity = symmetry == "SO(3)" or ir1.p * ir2.p == ir3.p
    return abs(ir1.l - ir2.l) <= ir3.l <= ir1.l + ir2.l and parity


@dataclasses.dataclass(frozen=True)
class HomBasis:
    """Orthonormal basis of ``Hom_G(X ⊗ Y, Z)``: one CG tensor per allowed block triple."""

    irreps_x: o3.Irreps
    irreps_y: o3.Irreps
    irreps_z: o3.Irreps
    symmetry: str
    triples: tuple[tuple[int, int, int], ...]

    @property
    def dim(self) -> int:
        return len(self.triples)

    def labels(self) -> list[str]:
        X, Y, Z = self.irreps_x, self.irreps_y, self.irreps_z
        return [f"{X[a].ir} x {Y[b].ir} -> {Z[c].ir}" for a, b, c in self.triples]


def hom_basis(irreps_x: o3.Irreps, irreps_y: o3.Irreps, irreps_z: o3.Irreps, symmetry: str = "O(3)") -> HomBasis:
    """The basis of the module docstring for multiplicity-1 irreps (in block order)."""
    triples = tuple(
        (a, b, c)
        for a, (_, ir1) in enumerate(irreps_x)
        for b, (_, ir2) in enumerate(irreps_y)
        for c, (_, ir3) in enumerate(irreps_z)
        if _allowed(ir1, ir2, ir3, symmetry)
    )
    return HomBasis(o3.Irreps(irreps_x), o3.Irreps(irreps_y), o3.Irreps(irreps_z), symmetry, triples)


def upper_bound(problem: Problem, symmetry: str = "O(3)") -> int:
    """``dim Hom_G(X ⊗ Y, Z) = Σ m1 m2 m3`` over allowed block triples (any multiplicities)."""
    return sum(m1 * m2 * m3
               for m1, ir1 in problem.in1 for m2, ir2 in problem.in2 for m3, ir3 in problem.out
               if _allowed(ir1, ir2, ir3, symmetry))


@functools.lru_cache(maxsize=None)
def _cg(l1: int, l2: int, l3: int) -> torch.Tensor:
    """``o3.wigner_3j`` in float64, cached: e3nn recomputes its change of basis on every call."""
    return o3.wigner_3j(l1, l2, l3, dtype=torch.float64)


# -- learnable equivariant linear layers --------------------------------------

class EquivariantLinear:
    """``y_o = Σ_{i ~ o} W_io x_i``: a free ``mul_i × mul_o`` matrix per pair of compatible blocks."""

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, symmetry: str):
        self.irreps_in, self.irreps_out = irreps_in, irreps_out
        self.pairs = [(i, o) for i, (_, a) in enumerate(irreps_in) for o, (_, b) in enumerate(irreps_out)
                      if _compatible(a, b, symmetry)]
        self.numel = sum(irreps_in[i].mul * irreps_out[o].mul for i, o in self.pairs)

    def __call__(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """``x``: ``(n, irreps_in.dim)`` in ``mul_ir``; returns ``(n, irreps_out.dim)``."""
        n, s_in = x.shape[0], self.irreps_in.slices()
        out: list[Any] = [0] * len(self.irreps_out)
        offset = 0
        for i, o in self.pairs:
            (mi, ir), mo = self.irreps_in[i], self.irreps_out[o].mul
            W = theta[offset:offset + mi * mo].reshape(mi, mo)
            offset += mi * mo
            out[o] = out[o] + torch.einsum("nud,uw->nwd", x[:, s_in[i]].reshape(n, mi, ir.dim), W)
        return torch.cat([b.reshape(n, -1) if torch.is_tensor(b) else x.new_zeros(n, m * ir.dim)
                          for b, (m, ir) in zip(out, self.irreps_out)], dim=-1)

    def block_columns(self, i: int, offset: int = 0) -> slice:
        """The weights read by input block ``i`` (contiguous: pairs are ordered by input block)."""
        start = sum(self.irreps_in[a].mul * self.irreps_out[o].mul for a, o in self.pairs if a < i)
        size = sum(self.irreps_in[a].mul * self.irreps_out[o].mul for a, o in self.pairs if a == i)
        return slice(offset + start, offset + start + size)


# -- the wrapped kernel, in Hom coordinates ------------------------------------

class _Coupling:
    """Where Lin_Z meets the Hom basis: for each ``Z`` block, the ``Z′`` channels Lin_Z may read.

    θ_Z holds one weight per (``Z`` block, compatible ``Z′`` channel), grouped by ``Z`` block.
    """

    def __init__(self, basis: HomBasis, irreps_zn: o3.Irreps, device: str):
        self.basis = basis
        self.cg = [_cg(basis.irreps_x[a].ir.l, basis.irreps_y[b].ir.l, basis.irreps_z[c].ir.l).to(device)
                   for a, b, c in basis.triples]
        self.gather, self.cols, offset = [], [], 0
        starts = [s.start for s in irreps_zn.slices()]
        for _, ir in basis.irreps_z:
            idx = [[start + u * ir.dim + k for k in range(ir.dim)]
                   for (m, irn), start in zip(irreps_zn, starts) if _compatible(irn, ir, basis.symmetry)
                   for u in range(m)]
            self.gather.append(torch.tensor(idx, dtype=torch.long, device=device).reshape(len(idx), ir.dim))
            self.cols.append(slice(offset, offset + len(idx)))
            offset += len(idx)
        self.numel = offset

    def select(self, xa: int | None = None, yb: int | None = None) -> list[int]:
        """The triples whose ``X`` block is ``xa`` and ``Y`` block is ``yb`` (``None``: any)."""
        return [p for p, (a, b, _) in enumerate(self.basis.triples) if xa in (None, a) and yb in (None, b)]

    def rows(self, U: torch.Tensor, xa: int | None = None, yb: int | None = None) -> list[torch.Tensor]:
        """For each selected triple ``p = (a, b, c)``: ``<E_p, U on one Z′ channel>`` per channel of ``c``.

        ``U`` holds the rows of ``X`` block ``xa`` only when ``xa`` is given (columns likewise).
        """
        sx, sy = self.basis.irreps_x.slices(), self.basis.irreps_y.slices()
        ox = sx[xa].start if xa is not None else 0
        oy = sy[yb].start if yb is not None else 0
        out = []
        for p in self.select(xa, yb):
            a, b, c = self.basis.triples[p]
            block = U[sx[a].start - ox:sx[a].stop - ox, sy[b].start - oy:sy[b].stop - oy]
            out.append(torch.einsum("ijk,ijck->c", self.cg[p], block[..., self.gather[c]]))
        return out

    def coords(self, U: torch.Tensor, theta_z: torch.Tensor, xa: int | None = None,
               yb: int | None = None) -> torch.Tensor:
        """``c(θ) = J_Z θ_Z`` on the selected triples."""
        triples = [self.basis.triples[p] for p in self.select(xa, yb)]
        return torch.stack([r @ theta_z[self.cols[c]] for r, (_, _, c) in zip(self.rows(U, xa, yb), triples)])

    def jacobian_z(self, U: torch.Tensor) -> torch.Tensor:
        """``J_Z = ∂c/∂θ_Z``, ``(dim Hom, numel)``."""
        J = U.new_zeros(self.basis.dim, self.numel)
        for p, r in enumerate(self.rows(U)):
            J[p, self.cols[self.basis.triples[p][2]]] = r
        return J


class WrappedKernel:
    """``Lin_Z ∘ T ∘ (Lin_X, Lin_Y)`` for one built float64 module ``T`` with native irreps ``native``.

    ``native_outputs(θ_in)`` is ``T(Lin_X e_i, Lin_Y e_j)`` for every pair of basis vectors:
    ``(dim X, dim Y, dim Z′)`` in ``mul_ir``; ``θ_in = (θ_X, θ_Y, shared weights of T)``.
    Given ``xa`` (``yb``), only the rows (columns) of that ``X`` (``Y``) block.
    """

    def __init__(self, module: Callable, native: Native, basis: HomBasis, layout: str = "mul_ir",
                 per_sample_weights: torch.Tensor | None = None, device: str = "cpu"):
        self.module, self.native, self.basis, self.layout = module, native, basis, layout
        self.lin_x = EquivariantLinear(basis.irreps_x, native.irreps_in1, basis.symmetry)
        self.lin_y = EquivariantLinear(basis.irreps_y, native.irreps_in2, basis.symmetry)
        self.coupling = _Coupling(basis, native.irreps_out, device)
        self.n_shared = native.weight_numel if native.weights == "shared" else 0
        self.n_in = self.lin_x.numel + self.lin_y.numel + self.n_shared
        self.per_sample = per_sample_weights
        self.eye_x = torch.eye(basis.irreps_x.dim, dtype=torch.float64, device=device)
        self.eye_y = torch.eye(basis.irreps_y.dim, dtype=torch.float64, device=device)

    def native_outputs(self, theta_in: torch.Tensor, xa: int | None = None, yb: int | None = None) -> torch.Tensor:
        tx, ty, tw = theta_in.split([self.lin_x.numel, self.lin_y.numel, self.n_shared])
        ex = self.eye_x if xa is None else self.eye_x[self.basis.irreps_x.slices()[xa]]
        ey = self.eye_y if yb is None else self.eye_y[self.basis.irreps_y.slices()[yb]]
        ax, ay = self.lin_x(ex, tx), self.lin_y(ey, ty)
        nx, ny = ax.shape[0], ay.shape[0]
        x = ax[:, None, :].expand(nx, ny, -1).reshape(nx * ny, -1)
        y = ay[None, :, :].expand(nx, ny, -1).reshape(nx * ny, -1)
        args = [convert(x, self.native.irreps_in1, "mul_ir", self.layout),
                convert(y, self.native.irreps_in2, "mul_ir", self.layout)]
        if self.native.weights == "shared":
            args.append(tw)
        elif self.native.weights == "per-sample":
            args.append(self.per_sample.expand(nx * ny, -1))
        z = convert(self.module(*args), self.native.irreps_out, self.layout, "mul_ir")
        return z.reshape(nx, ny, -1)

    def coords(self, theta_in: torch.Tensor, theta_z: torch.Tensor, xa: int | None = None,
               yb: int | None = None) -> torch.Tensor:
        return self.coupling.coords(self.native_outputs(theta_in, xa, yb), theta_z, xa, yb)

    def jacobian_in(self, theta_in: torch.Tensor, theta_z: torch.Tensor, chunk: int) -> tuple[torch.Tensor, str]:
        """``∂c/∂θ_in`` by forward mode, one input block at a time.

        The Lin_X weights out of ``X`` block ``a`` move only the inputs ``Lin_X e_i``,
        ``i ∈ a``, hence only the triples with ``b1 = a``: their jvp needs the rows
        of block ``a`` alone (likewise for ``Y``), so all of θ_X costs about one
        evaluation of ``T`` on the full batch instead of one per weight.
        """
        J = theta_in.new_zeros(self.basis.dim, self.n_in)
        methods = set()
        pieces = [(self.lin_x.block_columns(a), a, None) for a in range(len(self.basis.irreps_x))]
        pieces += [(self.lin_y.block_columns(b, self.lin_x.numel), None, b) for b in range(len(self.basis.irreps_y))]
        pieces.append((slice(self.n_in - self.n_shared, self.n_in), None, None))
        for cols, xa, yb in pieces:
            rows = self.coupling.select(xa, yb)
            if cols.stop == cols.start or not rows:
                continue

            def f(t: torch.Tensor, cols=cols, xa=xa, yb=yb) -> torch.Tensor:
                return self.coords(torch.cat([theta_in[:cols.start], t, theta_in[cols.stop:]]), theta_z, xa, yb)

            # c is linear in the Lin_X / Lin_Y weights of one block (T is bilinear), not in T's weights
            block, method = forward_jacobian(f, theta_in[cols], chunk, linear=xa is not None or yb is not None)
            J[rows, cols] = block
            methods.add(method)
        return J, "+".join(sorted(methods))


# -- ranks and derivatives -----------------------------------------------------

def span(M: torch.Tensor, rtol: float = RTOL) -> tuple[int, torch.Tensor]:
    """Numerical rank of ``M`` and an orthonormal basis ``Q`` (columns) of its column space."""
    norms = M.norm(dim=0)
    if M.numel() == 0 or norms.max() == 0:
        return 0, M.new_zeros(M.shape[0], 0)
    keep = norms > COLUMN_FLOOR * norms.max()
    U, S, _ = torch.linalg.svd(M[:, keep] / norms[keep], full_matrices=False)
    r = int((S > rtol * S[0]).sum())
    return r, U[:, :r]


def forward_jacobian(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor,
                     chunk_size: int | None = None, linear: bool = False) -> tuple[torch.Tensor, str]:
    """``∂f/∂θ`` as ``(len f, len θ)`` by forward mode, and the method that worked.

    vmapped ``jvp`` over the basis tangents first; a plain loop of ``jvp`` where an
    op has no batching rule; where an op has no forward derivative (a custom
    autograd function, say): ``f(e_k)`` when ``f`` is linear (exact), else reverse mode.
    """
    eye = torch.eye(theta.numel(), dtype=theta.dtype, device=theta.device)

    def column(t: torch.Tensor) -> torch.Tensor:
        return torch.func.jvp(f, (theta,), (t,))[1]

    try:
        return torch.func.vmap(column, chunk_size=chunk_size)(eye).T, "jvp-vmap"
    except Exception:  # noqa: BLE001  (any op without a batching rule: fall back, see docstring)
        pass
    try:
        return torch.stack([column(t) for t in eye], dim=1), "jvp"
    except Exception:  # noqa: BLE001  (any op without forward AD)
        if linear:
            return torch.stack([f(t) for t in eye], dim=1), "linear"
        return torch.autograd.functional.jacobian(f, theta), "reverse"


@dataclasses.dataclass
class Ranks:
    expressivity: int
    interactability: int
    reached: list[bool]
    method: str


def _randn(n: int, gen: torch.Generator, device: str) -> torch.Tensor:
    return torch.randn(n, generator=gen, dtype=torch.float64).to(device)


def _expressivity_at(w: WrappedKernel, gen: torch.Generator, device: str) -> tuple[int, str]:
    theta_in, theta_z = _randn(w.n_in, gen, device), _randn(w.coupling.numel, gen, device)
    U = w.native_outputs(theta_in)
    chunk = max(1, 2 ** 24 // max(1, U.numel()))  # bounds the vmapped intermediates to ~1 GB
    J_in, method = w.jacobian_in(theta_in, theta_z, chunk)
    return span(torch.cat([J_in, w.coupling.jacobian_z(U)], dim=1))[0], method


def _interactability(w: WrappedKernel, gen: torch.Generator, device: str) -> tuple[int, list[bool]]:
    """``dim span{c(θ)}`` and the reached triples, block pair by block pair.

    ``T(0, y) = T(x, 0) = 0`` lets Lin_X, Lin_Y keep one block pair ``(a, b)`` alone,
    so the span is the direct sum over pairs of ``span{c_ab(θ)}`` (``c`` on the
    triples ``(a, b, ·)``) and each ``c_ab`` is a sub-block of the same samples.
    θ is drawn until no pair gains rank and every pair holds more sampled
    vectors than it has triples (its upper bound).
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for p, (a, b, _) in enumerate(w.basis.triples):
        groups.setdefault((a, b), []).append(p)
    blocks = {g: [] for g in groups}
    ranks = {g: -1 for g in groups}
    for _ in range(w.basis.dim + 2):  # a useful draw raises some rank, so this cap never binds
        J = w.coupling.jacobian_z(w.native_outputs(_randn(w.n_in, gen, device)))
        spans = {}
        for g, rows in groups.items():
            blocks[g].append(J[rows])
            spans[g] = span(torch.cat(blocks[g], dim=1))
        done = all(spans[g][0] == ranks[g] and len(blocks[g]) * J.shape[1] > len(groups[g]) for g in groups)
        ranks = {g: s[0] for g, s in spans.items()}
        if done or J.shape[1] == 0:
            break
    reached = [False] * w.basis.dim
    for g, rows in groups.items():
        for p, hit in zip(rows, (spans[g][1].norm(dim=1) > REACHED_TOL).tolist()):
            reached[p] = hit
    return sum(ranks.values()), reached


def measure(w: WrappedKernel, seed: int = 0, device: str = "cpu") -> tuple[Ranks, Ranks]:
    """The ranks at two independent random draws (the stability check)."""
    out = []
    for s in (seed, seed + 1):
        gen = torch.Generator().manual_seed(s)
        with torch.no_grad():
            inter, reached = _interactability(w, gen, device)
        expr, method = _expressivity_at(w, gen, device)
        out.append(Ranks(expr, inter, reached, method))
    return out[0], out[1]


# -- kernels and problems --------------------------------------------------------

@dataclasses.dataclass
class Expressivity:
    """The metrics of one kernel on one problem; ``status`` is ``"ok"``, ``"n/a"`` or ``"error"``."""

    status: str
    reason: str = ""
    expressivity: int | None = None
    interactability: int | None = None
    upper_bound: int | None = None
    paths_reached: list[str] = dataclasses.field(default_factory=list)
    paths_missed: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    symmetry: str = ""
    n_params: int | None = None
    method: str = ""
    rtol: float = RTOL


def not_applicable(kernel: Kernel, problem: Problem) -> str | None:
    """Why the metrics are ``n/a`` for this kernel and problem, or ``None``."""
    if not kernel.bilinear:
        return f"{kernel.name} is not bilinear (kernel.bilinear is False)"
    if problem.op != "tp":
        return f"{problem.op!r} problems are not tensor products"
    heavy = [str(irreps) for irreps in (problem.in1, problem.in2, problem.out) if any(m != 1 for m, _ in irreps)]
    if heavy:
        return f"multiplicity > 1 ({', '.join(heavy)}): computed for multiplicity-1 problems only"
    return kernel.available()


def pick_device(kernel: Kernel, problem: Problem) -> tuple[str | None, str | None]:
    """The first device (cpu, then cuda) that runs ``problem``, or why none does."""
    reasons = []
    for device in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
        reason = kernel.supports(problem, device)
        if reason is None:
            return device, None
        reasons.append(f"{device}: {reason}")
    return None, f"{kernel.name} does not run this problem in float64 ({'; '.join(reasons)})"


def wrap(kernel: Kernel, problem: Problem, device: str = "cpu", seed: int = 0) -> WrappedKernel:
    """Build ``kernel`` in float64 on ``problem`` and wrap it in the linear layers."""
    p64 = problem.replace(dtype="float64", batch=problem.in1.dim * problem.in2.dim)
    native = kernel.native(p64)
    gen = torch.Generator().manual_seed(seed + 1000)
    per_sample = _randn(native.weight_numel, gen, device) if native.weights == "per-sample" else None
    basis = hom_basis(problem.in1, problem.in2, problem.out, kernel.symmetry)
    return WrappedKernel(build_module(kernel, p64, device), native, basis, kernel.layout, per_sample, device)


def expressivity(kernel: Kernel, problem: Problem, seed: int = 0, threads: int | None = 1) -> Expressivity:
    """Expressivity, interactability, upper bound and paths of ``kernel`` on ``problem`` (module docstring).

    Runs with ``torch.set_num_threads(threads)`` (restored after; ``None`` leaves it):
    the ops are small, so more threads gain little, while on a busy machine
    oversubscribed threads made ``mimo(6)`` 13× slower (90 s against 7 s).
    Raises whatever the kernel raises; :func:`expressivity_record` catches it.
    """
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _expressivity(kernel, problem, seed)
    finally:
        torch.set_num_threads(old)


def _expressivity(kernel: Kernel, problem: Problem, seed: int) -> Expressivity:
    if problem.op in ("so2_conv", "symmetric_contraction") and kernel.operation == problem.op \
            and kernel.supports(problem.replace(dtype="float64"), "cpu") is None:
        from tpbench.metrics.reach import reach_expressivity  # linear in the weights: a span, not the wrapping

        return reach_expressivity(kernel, problem)
    start = time.perf_counter()
    bound = upper_bound(problem, kernel.symmetry) if problem.op == "tp" else None
    reason, device = not_applicable(kernel, problem), None
    if reason is None:
        device, reason = pick_device(kernel, problem.replace(dtype="float64"))
    if reason is None and kernel.native(problem.replace(dtype="float64")).irreps_in2 is None:
        reason = f"{kernel.name} declares no second input"
    if reason is not None:
        return Expressivity("n/a", reason, upper_bound=bound, symmetry=kernel.symmetry)
    w = wrap(kernel, problem, device, seed)
    result = _summarise(*measure(w, seed, device), w.basis)
    result.upper_bound, result.symmetry = w.basis.dim, kernel.symmetry
    result.n_params = w.n_in + w.coupling.numel
    result.seconds = time.perf_counter() - start
    return result


def _summarise(a: Ranks, b: Ranks, basis: HomBasis) -> Expressivity:
    """Generic ranks are the larger of the two draws; a difference is reported, not hidden."""
    reached = [x or y for x, y in zip(a.reached, b.reached)]
    labels = basis.labels()
    reason = ""
    if (a.expressivity, a.interactability, a.reached) != (b.expressivity, b.interactability, b.reached):
        reason = (f"unstable: draw 1 gives {a.expressivity}/{a.interactability}, "
                  f"draw 2 gives {b.expressivity}/{b.interactability} (expressivity/interactability)")
    return Expressivity(
        "ok", reason,
        expressivity=max(a.expressivity, b.expressivity),
        interactability=max(a.interactability, b.interactability),
        paths_reached=[s for s, r in zip(labels, reached) if r],
        paths_missed=[s for s, r in zip(labels, reached) if not r],
        method=a.method,
    )


# -- cached records for the runner ---------------------------------------------

def cache_key(kernel: Kernel, problem: Problem) -> str:
    """Kernel name + hash of the kernel's class and the problem's math (batch and dtype change nothing).

    The class keeps apart two kernels that share a name (a user's file and a built-in, say).
    """
    math_part = {k: v for k, v in problem.canonical().items() if k not in ("batch", "dtype")}
    cls = type(kernel)
    text = json.dumps({"kernel": kernel.name, "class": f"{cls.__module__}.{cls.__qualname__}",
                       "symmetry": kernel.symmetry, "problem": math_part, "version": METHOD_VERSION}, sort_keys=True)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", kernel.name) + "-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def function_key(kernel: Kernel, problem: Problem) -> str:
    """What a kernel that passed the gate computes, as far as the metrics can tell: its operation,
    symmetry and native irreps, paths and weights on the problem's math.

    Kernels that share it and passed the gate against the same float64 reference
    compute one function of their inputs and weights (up to the weight order the
    gate maps): the gate's random point, by the Schwartz–Zippel lemma, tells two
    different polynomial maps apart with probability one. So its ranks are measured
    once, on the first such kernel, and shared.
    """
    math_part = {k: v for k, v in problem.canonical().items() if k not in ("batch", "dtype")}
    native = kernel.native(problem)
    text = json.dumps({"operation": kernel.operation, "symmetry": kernel.symmetry, "bilinear": kernel.bilinear,
                       "native": [str(native.irreps_in1), str(native.irreps_in2), str(native.irreps_out),
                                  native.weights, native.weight_numel, list(native.path_labels),
                                  native.index_range],
                       "problem": math_part, "version": METHOD_VERSION}, sort_keys=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", kernel.operation)
    return f"op-{name}-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def expressivity_record(kernel: Kernel, problem: Problem, cache_dir: str | Path | None = None,
                        verified: bool = False) -> dict:
    """Plain JSON record of :func:`expressivity`, computed once per (kernel, problem math).

    With ``verified`` (the kernel passed the correctness gate), once per
    :func:`function_key` instead, and ``measured_on`` names the kernel it was
    measured on. Cached in memory, and in ``cache_dir/<key>.json`` when given. A kernel that
    raises gives ``status: "error"`` with the exception as ``reason`` (not cached on disk).
    """
    key = function_key(kernel, problem) if verified else cache_key(kernel, problem)
    path = Path(cache_dir) / f"{key}.json" if cache_dir is not None else None
    if key not in _MEMORY and path is not None and path.exists():
        try:
            _MEMORY[key] = json.loads(path.read_text())
        except (OSError, ValueError):  # unreadable: measured again and rewritten
            path.unlink(missing_ok=True)
    if key not in _MEMORY:
        try:
            record = dataclasses.asdict(expressivity(kernel, problem))
        except Exception as exc:  # noqa: BLE001  (one broken kernel must not stop a run)
            record = dataclasses.asdict(Expressivity("error", f"{type(exc).__name__}: {exc}"))
        if record["status"] == "error" and verified:  # a failure is this kernel's, never shared
            return expressivity_record(kernel, problem, cache_dir)
        _MEMORY[key] = {**record, "measured_on": kernel.name}
    if path is not None and not path.exists() and _MEMORY[key]["status"] != "error":
        path.parent.mkdir(parents=True, exist_ok=True)
        # Whole or not at all: a worker killed mid-write, or two writing one key, leave no half file.
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_text(json.dumps(_MEMORY[key], indent=1))
        os.replace(part, path)
    return json.loads(json.dumps(_MEMORY[key]))  # a copy the caller may change


def add_normalised_runtime(df):
    """A copy of ``df`` with ``ms_per_expressivity`` and ``ms_per_interactability``.

    ``median_ms / expressivity`` and ``median_ms / interactability``; NaN where
    either is missing or the rank is 0.
    """
    import pandas as pd

    out = df.copy()
    ms = pd.to_numeric(out["median_ms"], errors="coerce")
    for column in ("expressivity", "interactability"):
        rank = pd.to_numeric(out[column], errors="coerce")
        out[f"ms_per_{column}"] = ms / rank.where(rank > 0)
    return out


# Above this many basis pairs (dim X · dim Y) the runner leaves the metrics to
# `tpbench metrics`: the cost grows with the kernel's cost times (L+1)^4.
RUNNER_MAX_PAIRS = 2500  # mimo(6): 49 · 49


def runner_fields(kernel: Kernel, problem: Problem, cache_dir: str | Path | None = None,
                  max_pairs: int = RUNNER_MAX_PAIRS, verified: bool = False) -> dict:
    """The expressivity fields a case record carries (see the README's results schema);
    ``verified``: the case passed the gate, so a measurement may be shared (:func:`function_key`)."""
    pairs = problem.in1.dim * (problem.in2.dim if problem.in2 is not None else 1)
    if problem.op == "tp" and kernel.bilinear and pairs > max_pairs:
        record = {"status": "n/a", "reason": f"not computed during runs above {max_pairs} basis pairs "
                  f"({pairs} here): use `tpbench metrics`", "upper_bound": None}
    else:
        record = expressivity_record(kernel, problem, cache_dir, verified)
    return {
        "expressivity": record.get("expressivity"),
        "interactability": record.get("interactability"),
        "upper_bound": record.get("upper_bound"),
        "paths_missed": record.get("paths_missed"),
        "expressivity_status": record.get("status"),
        "expressivity_reason": record.get("reason") or None,
        "expressivity_s": record.get("seconds"),
        "expressivity_measured_on": record.get("measured_on"),
    }


def case_fields(cache_dir: str | None, case, verified: bool) -> dict:
    """:func:`runner_fields` of a runner's case: the runner's ``extra_metrics`` hook, picklable
    as ``functools.partial(case_fields, cache_dir)`` so an isolated worker computes it."""
    return runner_fields(case.kernel, case.problem, cache_dir, verified=verified)
