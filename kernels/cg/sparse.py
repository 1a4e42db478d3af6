"""Sparse Clebsch–Gordan tensor product: only the nonzero coefficients are touched.

Math: the CG tensor product of :mod:`tpbench.spec.paths` (e3nn's normalisation,
weights in e3nn's order), for every path ``p = (i1, i2 -> i_out)``

    Z_p[b, u, v, k] = a_p sum_{(i, j, k) in nz(p)} C^{l1 l2 l3}_{ijk} x1[b, u, i] x2[b, v, j]

followed by the weight contraction of the connection (``uvuv``: none;
``uvu``: ``sum_v w_{uv} Z_p[u, v]``; ``uvw``: ``sum_{uv} W_{uvw} Z_p[u, v]``).
The pattern ``nz(p)`` is read off e3nn's ``o3.wigner_3j`` coefficients,
thresholded at ``1e-12`` of their largest magnitude — not derived from
``m`` arithmetic: in e3nn's real basis at most two ``m2`` are nonzero per
``(m1, m3)``, so ``|nz(p)| <= 2 (2 l1 + 1)(2 l3 + 1)`` against the dense
``(2 l1 + 1)(2 l2 + 1)(2 l3 + 1)``.

Strategy (all paths at once, three sparse products):

1. inputs to *component-major* form ``a[i, b, u]`` (rows = irrep components,
   channels inner) — possible because each input has one multiplicity;
2. **gather**: ``A = G1 a``, ``Bv = G2 b`` with one-hot sparse matrices ``G``
   selecting, for every distinct component pair ``q = (i, j)`` used by some
   path, its two factors; **multiply**: ``P[q, b, u, v] = A[q, b, u] Bv[q, b, v]``.
   When at least half of all pairs are used (``mimo``: all of them) the gathers
   are skipped and ``P`` is the broadcast outer product ``a ⊗ b``;
3. **scatter**: ``Z = S P`` with ``S[k, q] = a_p C_{ijk}`` a CSR matrix whose
   rows are the output components of every path — a segmented sum over each
   output component's nonzeros (CSR row = segment).

Every sparse product is a CSR × dense matmul whose backward is the product
with the precomputed transpose, itself differentiable (double backward). The
batch is processed in chunks of about ``CHUNK_ELEMENTS`` pair products so that
``P`` stays in cache on CPU (2-3x faster at ``mimo(6)`` than one pass). The
sparse matrices are built for the device and dtype given to ``build``.

Sizes for ``mimo(L)`` (``s2(L) ⊗ s2(L) -> s2(2L)``, multiplicity 1): inputs
``(L+1)^2``, pairs ``(L+1)^4``, nonzeros ``O(L^5)`` (12322 at ``L = 6``
against 116844 dense coefficients), output ``sum_paths (2 l3 + 1)``.
Asymptotic cost per sample: ``O(L^5)`` against ``O(L^6)`` for dense CG.

Paths: every CG path of the problem (:func:`tpbench.spec.paths.tp_paths`), the same
set and output order as ``torch-cg`` and ``e3nn``.

FLOP rule (:meth:`CGSparseKernel.flops`): per sample and channel pair, one
multiply per pair product, a multiply-add (2) per nonzero coefficient, plus the
weight contraction (2 per multiply-add) — gathers and layout changes are free.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from functools import lru_cache

import torch
from e3nn import o3

from tpbench.kernel.base import Kernel
from tpbench.math.wigner import wigner_3j
from tpbench.spec.paths import TPPaths, tp_paths
from tpbench.spec.problem import Problem

THRESHOLD = 1e-12
OUTER_FRACTION = 0.5  # pair usage above which the outer product replaces the gathers
# Pair products per batch chunk: on CPU about 4 MiB in float32 (cache-sized, yet few
# chunks); on GPUs chunks only bound memory (each chunk costs kernel launches).
CHUNK_ELEMENTS = {"cpu": 1 << 20, "cuda": 1 << 27}
BLOCK_MODE_FACTOR = 8  # mace-large fwd+bwd: 2x faster than at the mul-1 budget
SUPPORTED = {("full", "none"), ("channelwise", "per-sample"), ("channelwise", "shared"),
             ("fully_connected", "shared")}


def csr(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, shape: tuple[int, int],
        dtype: torch.dtype, device) -> torch.Tensor:
    """A CSR matrix from (row, col, value) triples (duplicates must not occur)."""
    order = torch.argsort(rows * shape[1] + cols)
    rows, cols, vals = rows[order], cols[order], vals[order]
    crow = torch.zeros(shape[0] + 1, dtype=torch.int64)
    crow[1:] = torch.bincount(rows, minlength=shape[0]).cumsum(0)
    with warnings.catch_warnings():  # "CSR support is in beta" is noise here
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(crow, cols, vals.to(dtype), shape, device=device)


class SparseMatmul(torch.autograd.Function):
    """``y = S x`` for a constant CSR ``S``; backward ``S^T g`` with a precomputed ``S^T``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, S: torch.Tensor, ST: torch.Tensor) -> torch.Tensor:
        ctx.mats = (S, ST)
        return S @ x

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        S, ST = ctx.mats
        # Applying the Function itself keeps the backward differentiable.
        return SparseMatmul.apply(g.contiguous(), ST, S), None, None


class SparseOp:
    """A constant sparse matrix with its transpose, applied to ``(rows, ...)`` tensors."""

    def __init__(self, rows, cols, vals, shape, dtype, device):
        self.S = csr(rows, cols, vals, shape, dtype, device)
        self.ST = csr(cols, rows, vals, (shape[1], shape[0]), dtype, device)
        self.shape = shape

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        tail = x.shape[1:]
        y = SparseMatmul.apply(x.reshape(x.shape[0], -1).contiguous(), self.S, self.ST)
        return y.reshape(self.shape[0], *tail)


@lru_cache(maxsize=None)
def nonzero_cg(l1: int, l2: int, l3: int) -> tuple[torch.Tensor, ...]:
    """``(i, j, k, C_ijk)`` of the coefficients above the relative threshold (float64)."""
    C = wigner_3j(l1, l2, l3)
    i, j, k = torch.nonzero(C.abs() > THRESHOLD * C.abs().max(), as_tuple=True)
    return i, j, k, C[i, j, k]


def component_offsets(irreps: o3.Irreps) -> list[int]:
    """Row offset of each block in component-major form (``ir.dim`` rows per block)."""
    offsets, off = [], 0
    for _, ir in irreps:
        offsets.append(off)
        off += ir.dim
    return offsets


def uniform_mul(irreps: o3.Irreps) -> int | None:
    muls = {mul for mul, _ in irreps}
    return muls.pop() if len(muls) == 1 else None


def to_components(x: torch.Tensor, irreps: o3.Irreps, mul: int) -> torch.Tensor:
    """``(B, dim)`` ``mul_ir`` -> ``(sum ir.dim, B, mul)``."""
    if mul == 1:
        return x.T.contiguous()[:, :, None]
    B = x.shape[0]
    return torch.cat([x[:, sl].reshape(B, mul, ir.dim).permute(2, 0, 1)
                      for (_, ir), sl in zip(irreps, irreps.slices())], dim=0)


class SparsePlan:
    """Index tables of one problem: pairs, nonzeros, and each path's rows of ``Z``.

    Rows of ``Z`` are ordered by output block, then path, then ``k``, so paths
    into one output block (``uvw``) are adjacent.
    """

    def __init__(self, paths: TPPaths):
        self.paths = paths
        off1, off2 = component_offsets(paths.irreps_in1), component_offsets(paths.irreps_in2)
        order = sorted(range(len(paths.paths)), key=lambda n: (paths.paths[n].i_out, n))
        self.row_start, row = {}, 0
        for n in order:
            self.row_start[n] = row
            row += paths.irreps_out[paths.paths[n].i_out].ir.dim
        self.n_rows = row
        pair_index: dict[tuple[int, int], int] = {}
        rows, cols, vals = [], [], []
        for n, p in enumerate(paths.paths):
            l1, l2, l3 = (paths.irreps_in1[p.i1].ir.l, paths.irreps_in2[p.i2].ir.l,
                          paths.irreps_out[p.i_out].ir.l)
            i, j, k, c = nonzero_cg(l1, l2, l3)
            for ii, jj in zip((i + off1[p.i1]).tolist(), (j + off2[p.i2]).tolist()):
                pair_index.setdefault((ii, jj), len(pair_index))
            cols.append(torch.tensor([pair_index[(a, b)] for a, b in
                                      zip((i + off1[p.i1]).tolist(), (j + off2[p.i2]).tolist())], dtype=torch.int64))
            rows.append(k + self.row_start[n])
            vals.append(p.weight * c)
        self.pairs = torch.tensor(list(pair_index), dtype=torch.int64).reshape(-1, 2)
        self.rows, self.cols, self.vals = torch.cat(rows), torch.cat(cols), torch.cat(vals)
        self.n1 = sum(ir.dim for _, ir in paths.irreps_in1)
        self.n2 = sum(ir.dim for _, ir in paths.irreps_in2)
        # When most component pairs are used (mimo: all), a broadcast outer product is
        # cheaper than two gathers; the pair of (i, j) is then column i * n2 + j.
        self.outer = self.n_pairs >= OUTER_FRACTION * self.n1 * self.n2
        self.n_cols = self.n1 * self.n2 if self.outer else self.n_pairs

    @property
    def nnz(self) -> int:
        return len(self.vals)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    def operators(self, dtype, device) -> tuple[SparseOp | None, SparseOp | None, SparseOp]:
        """The gathers ``G1``, ``G2`` (one-hot; ``None`` in outer-product mode) and the coefficients ``S``."""
        if self.outer:
            cols = self.pairs[self.cols, 0] * self.n2 + self.pairs[self.cols, 1]
            return None, None, SparseOp(self.rows, cols, self.vals, (self.n_rows, self.n_cols), dtype, device)
        q = torch.arange(self.n_pairs)
        ones = torch.ones(self.n_pairs, dtype=torch.float64)
        G1 = SparseOp(q, self.pairs[:, 0], ones, (self.n_pairs, self.n1), dtype, device)
        G2 = SparseOp(q, self.pairs[:, 1], ones, (self.n_pairs, self.n2), dtype, device)
        S = SparseOp(self.rows, self.cols, self.vals, (self.n_rows, self.n_pairs), dtype, device)
        return G1, G2, S


@lru_cache(maxsize=64)
def plan_for(connection: str, in1: str, in2: str, out: str) -> SparsePlan:
    """The (immutable) plan of a problem's paths, cached by the problem's irreps."""
    return SparsePlan(tp_paths(Problem("tp", in1, out, in2, connection=connection)))


class SparseCG(torch.nn.Module):
    """``module(x1, x2[, w])`` in e3nn's ``mul_ir`` layout; see the module docstring."""

    def __init__(self, paths: TPPaths, dtype: torch.dtype, device):
        super().__init__()
        self.p = paths
        self.plan = SparsePlan(paths)
        self.G1, self.G2, self.S = self.plan.operators(dtype, device)
        self.m1, self.m2 = uniform_mul(paths.irreps_in1), uniform_mul(paths.irreps_in2)
        offsets, off = [], 0
        for path in paths.paths:
            offsets.append(off)
            off += path.weight_numel
        self.w_offsets = offsets
        self.blocks = defaultdict(list)  # output block -> its paths, in row order
        for n in sorted(range(len(paths.paths)), key=lambda n: self.plan.row_start[n]):
            self.blocks[paths.paths[n].i_out].append(n)
        self.all_uvuv_mul1 = self.m1 == self.m2 == 1 and all(p.mode == "uvuv" for p in paths.paths)
        budget = CHUNK_ELEMENTS.get(torch.device(device).type, CHUNK_ELEMENTS["cpu"])
        if not self.all_uvuv_mul1:  # the per-block weight stage costs Python ops per chunk
            budget *= BLOCK_MODE_FACTOR
        self.chunk_size = max(16, budget // (self.plan.n_cols * self.m1 * self.m2))

    def cg(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """``Z[row, b, u, v]``: every path's CG product (path weights included), no channel mixing."""
        a = to_components(x1, self.p.irreps_in1, self.m1)
        b = to_components(x2, self.p.irreps_in2, self.m2)
        if self.plan.outer:
            P = (a[:, None, :, :, None] * b[None, :, :, None, :]).reshape(self.plan.n_cols, *a.shape[1:], b.shape[-1])
        else:
            P = self.G1(a)[..., :, None] * self.G2(b)[..., None, :]
        return self.S(P)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        chunk = self.chunk_size  # batch chunks keep the pair products cache-resident
        per_sample = w is not None and w.dim() == 2
        parts = [self.chunk(x1[s:s + chunk], x2[s:s + chunk], w[s:s + chunk] if per_sample else w)
                 for s in range(0, x1.shape[0], chunk)]
        # Not written into slices of one output: autograd's CopySlices would clone the
        # whole gradient once per chunk.
        return torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]

    def chunk(self, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        Z = self.cg(x1, x2)
        if self.all_uvuv_mul1:  # the rows already are the output components
            return Z.reshape(self.plan.n_rows, -1).T.contiguous()  # transposed while cache-resident
        B = x1.shape[0]
        return torch.cat([self.block(Z, io, w, B).reshape(B, -1) for io in range(len(self.p.irreps_out))], dim=1)

    def block(self, Z: torch.Tensor, io: int, w: torch.Tensor | None, B: int) -> torch.Tensor:
        """Output block ``io`` as ``(B, mul, dim)`` from its paths' rows of ``Z``."""
        mul, ir = self.p.irreps_out[io]
        members = self.blocks.get(io, [])
        if not members:
            return Z.new_zeros(B, mul, ir.dim)
        start = self.plan.row_start[members[0]]
        Zo = Z[start:start + len(members) * ir.dim].reshape(len(members), ir.dim, B, self.m1, self.m2)
        mode = self.p.paths[members[0]].mode
        if mode == "uvuv":
            return Zo[0].permute(1, 2, 3, 0).reshape(B, mul, ir.dim)
        if mode == "uvu":
            out = 0
            for t, n in enumerate(members):
                W = self.weight(w, n)  # (B, m1, m2) or (m1, m2)
                out = out + (Zo[t] * W).sum(-1)
            return out.permute(1, 2, 0)
        Ws = torch.cat([self.weight(w, n).reshape(self.m1 * self.m2, mul) for n in members], dim=0)
        Y = Zo.permute(1, 2, 0, 3, 4).reshape(ir.dim * B, -1) @ Ws
        return Y.reshape(ir.dim, B, mul).permute(1, 2, 0)

    def weight(self, w: torch.Tensor, n: int) -> torch.Tensor:
        path, off = self.p.paths[n], self.w_offsets[n]
        return w[..., off:off + path.weight_numel].reshape(*w.shape[:-1], *path.weight_shape)


class CGSparseKernel(Kernel):
    """Sparse CG (gather / multiply / CSR scatter), every path at once."""

    name = "cg-sparse"
    family = "cg-sparse"
    backend = "torch"
    operation = "cg"
    devices = ("cpu", "cuda")
    dtypes = ("float64", "float32", "tf32")

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "tp":
            return "tensor products only"
        if (problem.connection, problem.weights) not in SUPPORTED:
            return f"{problem.connection} with {problem.weights} weights not implemented"
        for name, irreps in (("irreps_in1", problem.in1), ("irreps_in2", problem.in2)):
            if uniform_mul(irreps) is None:
                return f"{name} {irreps} mixes multiplicities (component-major layout needs one)"
        if problem.connection == "fully_connected" and uniform_mul(problem.out) is None:
            return f"irreps_out {problem.out} mixes multiplicities"
        if not tp_paths(problem).paths:
            return "the problem has no CG path (nothing to compute)"
        return super().supports(problem, device)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return SparseCG(tp_paths(problem), dtype, device)

    def flops(self, problem: Problem) -> float:
        paths = tp_paths(problem)
        plan = plan_for(problem.connection, problem.irreps_in1, problem.irreps_in2, problem.irreps_out)
        m1, m2 = uniform_mul(paths.irreps_in1), uniform_mul(paths.irreps_in2)
        total = m1 * m2 * (plan.n_cols + 2 * plan.nnz)
        for p in paths.paths:
            d3 = paths.irreps_out[p.i_out].ir.dim
            if p.mode == "uvu":
                total += 2 * m1 * m2 * d3
            elif p.mode == "uvw":
                total += 2 * m1 * m2 * paths.irreps_out[p.i_out].mul * d3
        return float(total * problem.batch)


KERNELS = [CGSparseKernel()]
