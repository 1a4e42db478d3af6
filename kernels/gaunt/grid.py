"""Gaunt tensor product on an exact spherical grid: ``gaunt-grid`` (dense), ``gaunt-grid-sep(-dft)``.

Math: ``z = Π_out[(Σ x_lm Y_lm)(Σ y_lm Y_lm)]``, the projection onto the native
output degrees (:mod:`tpbench_kernels.gaunt.common`: every ``l1+l2+l3``-even
path ``(l1 p1) x (l2 p2) -> (l3 p3)`` with ``p3 = p1 p2``, all four parity-kind
combinations). Both signals are evaluated on the Gauss–Legendre × uniform grid
of :mod:`tpbench.math.sphere` with

    n_β = ⌈(L1 + L2 + L3 + 1)/2⌉,   n_α = L1 + L2 + L3 + 1

(``(2L+1) × (4L+1)`` for ``mimo(L)``), multiplied pointwise, and projected back
with the quadrature weights — exact, since the integrand ``f g Y_l3`` is a
polynomial of degree ``≤ L1 + L2 + L3``.

``gaunt-grid``: the transforms are dense matrix products. For single-kind inputs
three exact methods (:mod:`tpbench_kernels.gaunt.fm` has their math):

* ``full`` — the plain three-matmul transform ``zᵀ = Z (A₁ x₁ᵀ ⊙ A₂ x₂ᵀ)``,
  feature-major (every intermediate ``(rows, batch)``, batch contiguous) with a
  hand-written backward: ``2 G (d1 + d2 + d_out)`` flops per sample;
* ``split`` — the same halved by the equator symmetry
  ``Y_lm(−t, α) = (−1)^{l+m} Y_lm(t, α)`` of the symmetric Gauss–Legendre nodes:
  ``l+m`` even (E) and odd (O) coefficients evaluated on the northern half grid
  (``G_h = ⌈n_β/2⌉ n_α``), southern values ``E − O``; half the flops, but as many
  grid values written (E and O on half the grid) and more elementwise traffic;
* ``full-bm`` — the plain transform batch-major, ``((x₁ A₁ᵀ) ⊙ (x₂ A₂ᵀ)) Zᵀ``, autograd derivatives.

At the sizes of ``mimo(L <= 10)`` these products have inner dimension ``d ≈ (L+1)²``
and are bound by writing the ``(grid, batch)`` intermediates rather than by flops,
so which is fastest depends on the machine; the kernel times them at build
(:mod:`tpbench_kernels.gaunt.tune`) and runs the fastest per mode (no autograd /
autograd). Mixed-kind inputs run a batch-major E/O half-grid path with ``u``/``v``
signals (below): ``z_E = S Z_E``, ``z_O = D Z_O`` with ``S = E₁E₂ + O₁O₂``,
``D = E₁O₂ + O₁E₂`` (``Z`` = twice the weighted harmonics; the equator node, if
any, at half weight).

``gaunt-grid-sep`` / ``gaunt-grid-sep-dft``: separable transforms,
``Y_lm = Q_l^|m|(cos β) T_m(α)``. The β step is, for each order ``k = |m|``, a
matrix product with the associated Legendre table (``L+1`` degrees × ``n_β``
nodes, zero rows for ``l < k``), batched over ``(cos, sin) × k``; the α step is a
real FFT of size ``N = fft_size(n_α)`` (factors 2, 3, 5 only; more uniform
points stay exact) in ``gaunt-grid-sep``, or one real DFT matrix product
``(n_α, 2(L+1))`` in ``gaunt-grid-sep-dft`` (more flops, but one large BLAS call
instead of many short strided FFTs — faster on CPU at these sizes). Layout
``(2K | α, β, batch)``: the batch is contiguous and no transposes are needed
between steps. Cost per sample ``O(n_β L²)`` for the Legendre steps,
``O(n_β N log N)`` (FFT) or ``O(n_β N L)`` (DFT) for the α steps: ``O(L^3)``.

The mixed-kind and separable paths run the batch in chunks sized so that the grid
intermediates of a chunk stay in cache (:func:`tpbench_kernels.gaunt.common.chunked`);
the feature-major methods measured no faster in chunks and run whole.

Mixed-kind inputs (both ``p = (−1)^l`` and ``p = −(−1)^l`` blocks) use two grid
products, ``u₁u₂`` and ``v₁v₂`` with ``u = f₊ + f₋``, ``v = f₊ − f₋``
(:mod:`tpbench_kernels.gaunt.common`); single-kind inputs use one.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tpbench.spec.problem import Problem
from tpbench_kernels.gaunt.common import (Block, GauntKernel, GauntPlan, chunk_rows, chunked, combine, kinds_of,
                                           products, v_sign)
from tpbench_kernels.gaunt.fm import Transform, product
from tpbench_kernels.gaunt.tune import autotune
from tpbench.math.sphere import exact_sizes, fft_size, gl_grid, gl_legendre, grid_sh, sh_index


# Single-kind inputs: DenseGrid's candidates. The default (first) is the plain three-matmul
# transform itself, so that a noisy autotune can only ever replace it by something clearly faster.
METHODS = ("full-bm", "full", "split")


def grid_sizes(plan: GauntPlan) -> tuple[int, int]:
    return exact_sizes(plan.lmax1, plan.lmax2, plan.lmax_out)


def coefficient_rows(blocks: tuple[Block, ...]) -> list[tuple[int, int, int, int]]:
    """``(position, l, m, kind)`` of every coefficient of a block list."""
    return [(b.offset + b.l + m, b.l, m, b.kind) for b in blocks for m in range(-b.l, b.l + 1)]


class DenseGrid(torch.nn.Module):
    """``gaunt-grid``: dense transforms on the full or the E/O-split half grid.

    Single-kind inputs have three methods, all exact (:mod:`tpbench_kernels.gaunt.fm`):
    ``full`` (the plain three-matmul transform, feature-major), ``split`` (the half
    grid, feature-major) and ``full-bm`` (the plain transform batch-major, autograd
    derivatives). :attr:`method` maps ``"fwd"`` (no autograd) and ``"grad"`` to the
    method run in that mode; :func:`tpbench_kernels.gaunt.tune.autotune` sets it at
    build. Mixed-kind inputs run the batch-major split with ``u``/``v`` signals (``mixed``).
    """

    def __init__(self, plan: GauntPlan, dtype: torch.dtype, method: str | None = None):
        super().__init__()
        n_beta, n_alpha = grid_sizes(plan)
        t, w, alpha = gl_grid(n_beta, n_alpha)
        north = np.nonzero(t >= -1e-15)[0]  # ascending nodes: the northern half is the tail
        wq = w[north] * (2 * math.pi / n_alpha) * 2  # both hemispheres
        if n_beta % 2:
            wq[0] *= 0.5  # the equator node is its own mirror image
        lmax = max(plan.lmax1, plan.lmax2, plan.lmax_out)
        Y = grid_sh(lmax, n_beta, n_alpha)[north].reshape(-1, (lmax + 1) ** 2)  # (G_h, lm)
        Wy = Y * np.repeat(wq, n_alpha)[:, None]
        self.k1, self.k2 = kinds_of(plan.in1), kinds_of(plan.in2)
        self.v1, self.v2, self.out_kinds = products(self.k1, self.k2)
        n_sig = 2 + self.v1 + self.v2 + (2 if self.v1 or self.v2 else 0)
        self.rows = chunk_rows(3 * n_beta * n_alpha * n_sig, dtype.itemsize)
        if self.v1 or self.v2:
            self.methods = ("mixed",)
            self._inputs(1, plan.in1, Y, self.v1, dtype)
            self._inputs(2, plan.in2, Y, self.v2, dtype)
            self._outputs(plan, Wy, dtype)
        else:
            self.methods = METHODS
            self._full(plan, n_beta, n_alpha, w, dtype)
            self._split(plan, Y, Wy, dtype)
        choice = method or self.methods[0]
        if choice not in self.methods:
            raise ValueError(f"method {choice!r} not among {self.methods}")
        self.method = {"fwd": choice, "grad": choice}

    def _full(self, plan: GauntPlan, n_beta: int, n_alpha: int, w: np.ndarray, dtype) -> None:
        """``F1``, ``F2`` ``(G, d_n)`` harmonics on the full grid, ``FZ`` ``(d_out, G)`` weighted."""
        lmax = max(plan.lmax1, plan.lmax2, plan.lmax_out)
        Y = grid_sh(lmax, n_beta, n_alpha).reshape(n_beta * n_alpha, -1)
        wq = np.repeat(w * 2 * math.pi / n_alpha, n_alpha)[:, None]
        cols = lambda blocks: [sh_index(b.l, m) for b in blocks for m in range(-b.l, b.l + 1)]  # noqa: E731
        self.register_buffer("F1", torch.tensor(Y[:, cols(plan.in1)], dtype=dtype).contiguous())
        self.register_buffer("F2", torch.tensor(Y[:, cols(plan.in2)], dtype=dtype).contiguous())
        self.register_buffer("FZ", torch.tensor((wq * Y[:, cols(plan.out)]).T, dtype=dtype).contiguous())
        # batch-major copies for full-bm: x @ F1ᵀ with a contiguous right operand
        self.register_buffer("B1", self.F1.t().contiguous())
        self.register_buffer("B2", self.F2.t().contiguous())
        self.register_buffer("BZ", self.FZ.t().contiguous())

    def _split(self, plan: GauntPlan, Y: np.ndarray, Wy: np.ndarray, dtype) -> None:
        """Per class ``c`` (E = 0, O = 1): ``H{n}{c}`` ``(G_h, d_nc)``, ``HZ{c}`` ``(d_out,c, G_h)``, column maps."""
        for n, blocks in ((1, plan.in1), (2, plan.in2), (3, plan.out)):
            rows = coefficient_rows(blocks)
            order = []
            for cls in (0, 1):
                sel = [r for r in rows if (r[1] + r[2]) % 2 == cls]
                M = (Wy if n == 3 else Y)[:, [sh_index(l, m) for _, l, m, _ in sel]]
                name = f"HZ{cls}" if n == 3 else f"H{n}{cls}"
                self.register_buffer(name, torch.tensor(M.T if n == 3 else M, dtype=dtype).contiguous())
                self.register_buffer(f"c{n}{cls}", torch.tensor([r[0] for r in sel], dtype=torch.long))
                order += [r[0] for r in sel]
            self.register_buffer(f"inv{n}", torch.tensor(np.argsort(order), dtype=torch.long))

    def transform(self, method: str) -> Transform:
        """The feature-major :class:`Transform` of ``full`` or ``split`` from the current buffers."""
        if method == "full":
            return Transform([self.F1], [self.F2], [self.FZ], None, None, None, None, None, None)
        get = lambda name: [getattr(self, f"{name}{c}") for c in (0, 1)]  # noqa: E731
        return Transform(get("H1"), get("H2"), get("HZ"), get("c1"), get("c2"), get("c3"), self.inv3,
                         self.inv1, self.inv2)

    def _inputs(self, n: int, blocks, Y: np.ndarray, need_v: bool, dtype) -> None:
        """``A{n}{cls}`` (d_cls, G_h) and ``perm{n}``: input columns reordered as [E class | O class]."""
        rows = coefficient_rows(blocks)
        order = []
        for cls in (0, 1):
            sel = [r for r in rows if (r[1] + r[2]) % 2 == cls]
            A = Y[:, [sh_index(l, m) for _, l, m, _ in sel]].T  # (d_cls, G_h)
            if need_v:  # v = f₊ − f₋: pseudo rows flip sign; one matmul yields [u | v]
                A = np.concatenate([A, A * np.array([k for *_, k in sel])[:, None]], axis=1)
            self.register_buffer(f"A{n}{cls}", torch.tensor(A, dtype=dtype).contiguous())
            order += [r[0] for r in sel]
        self.register_buffer(f"perm{n}", torch.tensor(order, dtype=torch.long))

    def _outputs(self, plan: GauntPlan, Wy: np.ndarray, dtype) -> None:
        self.parts, order = [], []
        for kind in self.out_kinds:
            for cls in (0, 1):
                sel = [(b.offset + b.l + m, b.l, m) for b in plan.out if b.kind == kind
                       for m in range(-b.l, b.l + 1) if (b.l + m) % 2 == cls]
                if sel:
                    name = f"Z{'p' if kind == 1 else 'm'}{cls}"
                    Z = torch.tensor(Wy[:, [sh_index(l, m) for _, l, m in sel]], dtype=dtype).contiguous()
                    self.register_buffer(name, Z)
                    self.parts.append((kind, cls, name))
                    order += [s[0] for s in sel]
        self.register_buffer("perm", torch.tensor(np.argsort(order), dtype=torch.long))

    def _grid(self, x: torch.Tensor, n: int, need_v: bool):
        """``{"u": (E, O), "v": (E, O)}`` on the northern half grid from ``[E | O]``-ordered ``x``."""
        A_E, A_O = getattr(self, f"A{n}0"), getattr(self, f"A{n}1")
        E = x[:, :A_E.shape[0]] @ A_E
        O = x[:, A_E.shape[0]:] @ A_O
        if not need_v:
            return {"u": (E, O)}
        E, Ev = E.chunk(2, dim=1)
        O, Ov = O.chunk(2, dim=1)
        return {"u": (E, O), "v": (Ev, Ov)}

    @staticmethod
    def _mul(a, b):
        """``(S, D) = (a_E b_E + a_O b_O, a_E b_O + a_O b_E)``."""
        return torch.addcmul(a[0] * b[0], a[1], b[1]), torch.addcmul(a[0] * b[1], a[1], b[0])

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        method = self.method["grad" if torch.is_grad_enabled() else "fwd"]
        if method == "full-bm":
            return ((x1 @ self.B1) * (x2 @ self.B2)) @ self.BZ
        if method in ("full", "split"):
            return product(x1, x2, self.transform(method))
        # Permute once for the whole batch (not per chunk): one gather each way, cheap backward.
        x1, x2 = x1.index_select(1, self.perm1), x2.index_select(1, self.perm2)
        return chunked(self._forward, x1, x2, self.rows).index_select(1, self.perm)

    def _forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        f, g = self._grid(x1, 1, self.v1), self._grid(x2, 2, self.v2)
        P = self._mul(f["u"], g["u"])
        M = self._mul(f.get("v", f["u"]), g.get("v", g["u"])) if self.v1 or self.v2 else (None, None)
        sign = v_sign(self.v1, self.v2, self.k1, self.k2)
        S, D = (combine(P[c], M[c], sign, self.out_kinds) for c in (0, 1))
        fields = {k: (S[k], D[k]) for k in self.out_kinds}
        outs = [fields[kind][cls] @ getattr(self, name) for kind, cls, name in self.parts]
        return torch.cat(outs, dim=1)


class SeparableGrid(torch.nn.Module):
    """``gaunt-grid-sep`` (``alpha="fft"``) and ``gaunt-grid-sep-dft`` (``alpha="dft"``).

    Layout ``(2K, β, batch)``: rows ``[cos part k = 0..K−1; sin part k = 0..K−1]``
    with the batch contiguous. The orders ``+k`` and ``−k`` share the Legendre
    table ``Q_l^k``, so the β step is one batched matmul over the ``2K`` rows;
    the α step acts on the row axis: a real FFT along it (``Z_k = (c_k − i c_{−k})/2``,
    ``irfft`` with ``norm="forward"``; ``rfft`` back gives ``∫ h cos kα = 2π Re Z_k``,
    ``∫ h sin kα = −2π Im Z_k``), or one real DFT matrix product ``(N, 2K) @ (2K, n_β B)``.
    """

    def __init__(self, plan: GauntPlan, dtype: torch.dtype, alpha: str = "fft"):
        super().__init__()
        self.alpha = alpha
        self.n_beta, n_alpha = grid_sizes(plan)
        self.N = fft_size(n_alpha) if alpha == "fft" else n_alpha
        self.k1, self.k2 = kinds_of(plan.in1), kinds_of(plan.in2)
        self.v1, self.v2, self.out_kinds = products(self.k1, self.k2)
        self.L = (plan.lmax1, plan.lmax2, plan.lmax_out)
        n_sig = 3 + self.v1 + self.v2 + (3 if self.v1 or self.v2 else 0)
        self.rows = chunk_rows(n_sig * self.N * self.n_beta, dtype.itemsize)
        self._synthesis(1, plan.in1, plan.lmax1, dtype)
        self._synthesis(2, plan.in2, plan.lmax2, dtype)
        self._analysis(plan, dtype)

    def _dft(self, K: int) -> np.ndarray:
        """``T[a, (part, k)] = cos kα_a | sin kα_a``: coefficients → samples."""
        alpha = 2 * math.pi * np.arange(self.N) / self.N
        k = np.arange(K)
        return np.concatenate([np.cos(np.outer(alpha, k)), np.sin(np.outer(alpha, k))], axis=1)

    def _synthesis(self, n: int, blocks, L: int, dtype) -> None:
        """Legendre tables ``(2K, n_β, L+1)``, the DFT matrix, and the gathers ``(2K, L+1)`` per kind."""
        Q = gl_legendre(L, self.n_beta)  # (l, k, i)
        K = L + 1
        if self.alpha == "fft":  # Z_k = (c_k − i c_{−k})/2 for k > 0
            scale = np.concatenate([np.where(np.arange(K) == 0, 1.0, 0.5), np.full(K, -0.5)])
        else:
            scale = np.ones(2 * K)
            self.register_buffer(f"T{n}", torch.tensor(self._dft(K), dtype=dtype).contiguous())
        T = np.stack([Q[:, r % K, :].T * scale[r] for r in range(2 * K)])
        self.register_buffer(f"Q{n}", torch.tensor(T, dtype=dtype).contiguous())
        d = sum(2 * b.l + 1 for b in blocks)
        for kind in kinds_of(blocks):
            idx = np.full((2, K, K), d)  # [part, k, l]; d is an appended zero row
            for b in blocks:
                if b.kind == kind:
                    k = np.arange(b.l + 1)
                    idx[0, k, b.l] = b.offset + b.l + k
                    idx[1, k[1:], b.l] = b.offset + b.l - k[1:]
            self.register_buffer(f"g{n}{'p' if kind == 1 else 'm'}", torch.tensor(idx.reshape(-1), dtype=torch.long))

    def _analysis(self, plan: GauntPlan, dtype) -> None:
        """``W[(part, k), l, i] = w_i Q_l^k(t_i)`` times the α normalisation, and the output gather."""
        L3 = self.L[2]
        K = L3 + 1
        Q = gl_legendre(L3, self.n_beta)
        _, w, _ = gl_grid(self.n_beta, 1)
        if self.alpha == "fft":
            scale = np.concatenate([np.full(K, 2 * math.pi), np.full(K, -2 * math.pi)])
        else:
            scale = np.ones(2 * K)
            self.register_buffer("T3", torch.tensor(self._dft(K).T * (2 * math.pi / self.N), dtype=dtype).contiguous())
        W = np.stack([Q[:, r % K, :] * w * scale[r] for r in range(2 * K)])  # (2K, L3+1, n_β)
        self.register_buffer("W", torch.tensor(W, dtype=dtype).contiguous())
        rows, size = {}, 2 * K * K
        for f, kind in enumerate(self.out_kinds):
            for b in plan.out:
                if b.kind == kind:
                    for m in range(-b.l, b.l + 1):
                        rows[b.offset + b.l + m] = f * size + ((m < 0) * K + abs(m)) * K + b.l
        self.register_buffer("out_idx", torch.tensor([rows[k] for k in sorted(rows)], dtype=torch.long))

    def _signals(self, x: torch.Tensor, n: int, L: int, need_v: bool) -> list[torch.Tensor]:
        """Grid samples ``(N, n_β, B)`` of ``u`` (and ``v``) from coefficients ``(B, d)``."""
        xt = torch.cat([x.t(), x.new_zeros(1, x.shape[0])], dim=0)
        kinds = self.k1 if n == 1 else self.k2
        parts = [xt.index_select(0, getattr(self, f"g{n}{'p' if k == 1 else 'm'}")) for k in kinds]
        coef = [parts[0] + parts[1], parts[0] - parts[1]] if need_v else parts  # mixed ⇔ need_v
        return [self._synth(c.view(2 * (L + 1), L + 1, -1), n, L) for c in coef]

    def _synth(self, c: torch.Tensor, n: int, L: int) -> torch.Tensor:
        C = torch.bmm(getattr(self, f"Q{n}"), c)  # (2K, n_β, B): per-order β transform
        if self.alpha == "dft":
            return (getattr(self, f"T{n}") @ C.view(2 * (L + 1), -1)).view(self.N, self.n_beta, -1)
        Z = torch.complex(C[:L + 1], C[L + 1:])
        return torch.fft.irfft(Z, n=self.N, dim=0, norm="forward")  # zero-pads orders L+1 .. N/2

    def _project(self, h: torch.Tensor) -> torch.Tensor:
        """``(2K3 (L3+1), B)`` projections, rows ``[part, k, l]``, of a grid field ``(N, n_β, B)``."""
        K = self.L[2] + 1
        if self.alpha == "dft":
            H = (self.T3 @ h.view(self.N, -1)).view(2 * K, self.n_beta, -1)
        else:
            R = torch.fft.rfft(h, dim=0, norm="forward")[:K]
            H = torch.cat([R.real, R.imag], dim=0)
        return torch.bmm(self.W, H).view(2 * K * K, -1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return chunked(self._forward, x1, x2, self.rows)

    def _forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        f = self._signals(x1, 1, self.L[0], self.v1)
        g = self._signals(x2, 2, self.L[1], self.v2)
        P = f[0] * g[0]
        M = f[-1] * g[-1] if self.v1 or self.v2 else None
        fields = combine(P, M, v_sign(self.v1, self.v2, self.k1, self.k2), self.out_kinds)
        out = torch.cat([self._project(fields[k]) for k in self.out_kinds], dim=0)
        return out.index_select(0, self.out_idx).t()


class _GridKernel(GauntKernel):
    module: type = DenseGrid
    options: dict = {}

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return self.module(self.plan(problem), dtype, **self.options).to(device=device)


class GauntGrid(_GridKernel):
    """Dense Gaunt grid TP: ``z = Π_out[(Σ x Y)(Σ y Y)]`` by matrix products on an exact grid.

    Grid ``n_β = ⌈(L1+L2+L3+1)/2⌉`` Gauss–Legendre × ``n_α = L1+L2+L3+1`` uniform
    (``(2L+1) × (4L+1)`` on ``mimo(L)``); ``O(L^4)`` per sample. Single-kind inputs:
    the method per mode (``full``, ``split``, ``full-bm``, :class:`DenseGrid`) is chosen
    at build by a short interleaved autotune (:mod:`tpbench_kernels.gaunt.tune`) and
    reported by :meth:`effective_method`; mixed kinds run the ``u``/``v`` half-grid path.

    Flops per sample (multiply-add = 2), of the default method: single-kind inputs
    ``2 G (d1 + d2 + d_out) + G`` (the full grid; ``split``, where chosen, does about
    half the multiply-adds and ``4 G`` elementwise); mixed kinds
    ``2 G_h (d1 n_sig1 + d2 n_sig2 + d_out) + 6 G_h`` per grid product
    (``n_sig = 2`` for a mixed input, ``G_h = ⌈n_β/2⌉ n_α``). Every ``l1+l2+l3``-even path.
    """

    name = "gaunt-grid"
    family = "gaunt-grid"
    module = DenseGrid

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        module = super().build(problem, device, dtype)
        plan = self.plan(problem)
        dims = tuple(sum(2 * b.l + 1 for b in bl) for bl in (plan.in1, plan.in2, plan.out))
        autotune(module, module.methods, dims, problem.batch)
        return module

    def effective_method(self, module: torch.nn.Module) -> str | None:
        method = getattr(module, "method", None)
        if not method:
            return None
        tuned = getattr(module, "tuned", None)
        how = f" (autotuned at batch {tuned['rows']})" if tuned and len(module.methods) > 1 else ""
        return f"fwd={method['fwd']} grad={method['grad']}{how}"

    def flops(self, problem: Problem) -> float:
        plan = self.plan(problem)
        n_beta, n_alpha = grid_sizes(plan)
        Gh = (n_beta + 1) // 2 * n_alpha
        v1, v2, kinds = products(kinds_of(plan.in1), kinds_of(plan.in2))
        d1, d2 = (sum(2 * b.l + 1 for b in bl) for bl in (plan.in1, plan.in2))
        dout = sum(2 * b.l + 1 for b in plan.out)
        G = n_beta * n_alpha
        if not (v1 or v2):
            return float(problem.batch * (2 * G * (d1 + d2 + dout) + G))
        return float(problem.batch * (2 * Gh * (d1 * (1 + v1) + d2 * (1 + v2) + dout) + 12 * Gh))


class GauntGridSep(_GridKernel):
    """Separable Gaunt grid TP: Legendre batched matmul in β, real FFT in α (module docstring).

    Same grid as ``gaunt-grid`` with ``n_α`` padded to ``fft_size(n_α)`` (45 for ``mimo(10)``);
    ``O(L^3 log L)`` per sample.

    Flops per sample (multiply-add = 2; a real FFT of size N counts ``2.5 N log2 N``):
    ``4 n_β (L+1)²`` per Legendre step (per input signal and per output kind; padded
    tables: the work actually done), ``2.5 N log2 N n_β`` per FFT, ``N n_β`` per grid
    product. Computes every ``l1+l2+l3``-even path.
    """

    name = "gaunt-grid-sep"
    family = "gaunt-grid"
    module = SeparableGrid
    options = {"alpha": "fft"}

    def alpha_flops(self, N: int, K: int, n_beta: int) -> float:
        return 2.5 * N * math.log2(N) * n_beta

    def flops(self, problem: Problem) -> float:
        plan = self.plan(problem)
        n_beta, n_alpha = grid_sizes(plan)
        N = fft_size(n_alpha) if self.options["alpha"] == "fft" else n_alpha
        v1, v2, kinds = products(kinds_of(plan.in1), kinds_of(plan.in2))
        n1, n2, n_prod = 1 + v1, 1 + v2, 2 if (v1 or v2) else 1
        total = 0.0
        for L, count in ((plan.lmax1, n1), (plan.lmax2, n2), (plan.lmax_out, len(kinds))):
            total += count * (4 * n_beta * (L + 1) ** 2 + self.alpha_flops(N, L + 1, n_beta))
        return float(problem.batch * (total + N * n_beta * n_prod))


class GauntGridSepDFT(GauntGridSep):
    """As ``gaunt-grid-sep`` with the α step as one real DFT matrix product per transform.

    Grid exactly ``n_β × n_α`` (no padding); ``O(L^3)`` per sample; every ``l1+l2+l3``-even path.

    ``(n_α, 2K) @ (2K, n_β B)``: ``4 n_α K n_β`` flops per transform (``K = L+1``) instead of an
    FFT — more flops, but one large BLAS call instead of many short strided FFTs. ``O(L^3)``.
    """

    name = "gaunt-grid-sep-dft"
    options = {"alpha": "dft"}

    def alpha_flops(self, N: int, K: int, n_beta: int) -> float:
        return 4.0 * N * K * n_beta


KERNELS = [GauntGrid(), GauntGridSep(), GauntGridSepDFT()]
