"""Symmetric contraction kernels: native PyTorch and cuEquivariance's ``SymmetricContraction``.

The math, basis and weight order are :mod:`tpbench.oracle.references.symmetric`'s.

``torch-sc``
    Uses the symmetry the oracle ignores: the degree-ν monomials
    ``A_{i_1} ... A_{i_ν}`` with ``i_1 <= ... <= i_ν`` (``C(d+ν−1, ν)`` instead of
    ``d^ν``; 816 instead of 4096 for ``d = 16, ν = 3``), one GEMM per ``ν`` with the
    basis folded onto them (``U[i_1..i_ν]`` times the number of distinct orderings),
    then the species' weights gathered per node.
``cue-sc.<method>``
    ``cuequivariance_torch.SymmetricContraction`` with its own basis: canonical
    weights are mapped onto it outside the timed region by a linear map fitted,
    in float64, from the polynomials both bases define (:func:`cue_weight_map`;
    the fit's residual must vanish, so a basis that spans less is an error, not a
    silent difference). Effective method recorded; ``naive`` is the one that runs on CPU.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections import Counter
from functools import lru_cache

import torch

from tpbench.kernel import Kernel, Native, default_dtype
from tpbench.spec.problem import Problem
from tpbench.oracle.references.symmetric import SCLayout, per_channel, sc_layout


class _SCKernel(Kernel):
    family = "symmetric-contraction"
    operation = "symmetric_contraction"
    bilinear = False
    dtypes = ("float64", "float32")

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "symmetric_contraction":
            return "symmetric contractions only"
        return super().supports(problem, device)

    def native(self, problem: Problem) -> Native:
        L = sc_layout(problem)
        return Native(problem.in1, problem.out, None, "shared", L.weight_numel,
                      index_range=L.num_elements, index_sorted=L.sorted)

    def flops(self, problem: Problem) -> float:
        return sc_flops(sc_layout(problem)) * problem.batch

    def bytes(self, problem: Problem) -> float:
        base = super().bytes(problem)
        return base + 8.0 * problem.batch  # the int64 species


def monomials(d: int, nu: int) -> torch.Tensor:
    """``(n_mono, ν)`` index tuples ``i_1 <= ... <= i_ν``."""
    return torch.tensor(list(itertools.combinations_with_replacement(range(d), nu)), dtype=torch.long).reshape(-1, nu)


def sc_flops(L: SCLayout) -> float:
    """Per-node forward FLOPs of ``torch-sc``: monomials, the GEMM per ν, the weight contraction."""
    total = 0
    for nu in range(1, L.correlation + 1):
        n_mono = math.comb(L.d + nu - 1, nu)
        cols = sum(U.shape[0] * U.shape[-1] for _, n, _, U in L.bases() if n == nu)
        total += L.mul * (n_mono * (nu - 1) + 2 * n_mono * cols + 2 * cols)
    return float(total)


class TorchSymmetricContraction(torch.nn.Module):
    """``module(A, species, w)`` on ``mul_ir`` features."""

    def __init__(self, layout: SCLayout):
        super().__init__()
        self.layout = L = layout
        self.plan = []  # per ν: (monomial index buffer name, [(i_out, offset, n_b, k)])
        dtype = torch.get_default_dtype()
        for nu in range(1, L.correlation + 1):
            idx = monomials(L.d, nu)
            mult = torch.tensor([math.factorial(nu) / math.prod(math.factorial(c) for c in Counter(t.tolist()).values())
                                 for t in idx], dtype=torch.float64)
            cols, blocks = [], []
            for i, n, offset, U in L.bases():
                if n != nu or U.shape[0] == 0:
                    continue
                k = U.shape[-1]
                flat = U.reshape(U.shape[0], -1, k)  # (n_b, d^ν, k)
                lin = sum(idx[:, j] * L.d ** (nu - 1 - j) for j in range(nu))
                cols.append((flat[:, lin, :] * mult[None, :, None]).permute(1, 0, 2).reshape(len(idx), -1))
                blocks.append((i, offset, U.shape[0], k))
            if not blocks:
                continue
            self.register_buffer(f"mono{nu}", idx, persistent=False)
            self.register_buffer(f"U{nu}", torch.cat(cols, 1).to(dtype), persistent=False)
            self.plan.append((nu, blocks))

    def forward(self, A: torch.Tensor, species: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        L = self.layout
        a = per_channel(A, L.ins, L.mul)  # (N, u, d)
        N = a.shape[0]
        W = w.reshape(L.num_elements, L.n_basis, L.mul)[species]  # (N, n_b, u)
        out = [a.new_zeros(N, L.mul, 2 * l + 1) for l, _ in L.outs]
        for nu, blocks in self.plan:
            idx = getattr(self, f"mono{nu}")
            mono = a[..., idx[:, 0]]
            for j in range(1, nu):
                mono = mono * a[..., idx[:, j]]
            F = mono @ getattr(self, f"U{nu}")  # (N, u, Σ n_b k)
            col = 0
            for i, offset, n_b, k in blocks:
                f = F[..., col:col + n_b * k].reshape(N, L.mul, n_b, k)
                out[i] = out[i] + torch.einsum("nubk,nbu->nuk", f, W[:, offset:offset + n_b])
                col += n_b * k
        return torch.cat([o.reshape(N, -1) for o in out], -1)


class TorchSC(_SCKernel):
    name, backend = "torch-sc", "torch"

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return TorchSymmetricContraction(sc_layout(problem)).to(device=device, dtype=dtype)


# --- cuEquivariance ---------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _cue_module(L: SCLayout, method: str | None, dtype: torch.dtype):
    """cuEquivariance's module for ``L`` (built once: its descriptor takes minutes at MACE-MP size on a CPU).

    Its polynomial ``f`` takes the weights of any number of elements, so one module serves every
    ``num_elements`` (its own ``weight`` parameter is never used here).
    """
    import cuequivariance as cue
    import cuequivariance_torch as cuet

    def irreps(items):
        return cue.Irreps("O3", "+".join(f"{L.mul}x{l}{'e' if p == 1 else 'o'}" for l, p in items))

    return cuet.SymmetricContraction(irreps(L.ins), irreps(L.outs), L.correlation, 1, layout=cue.mul_ir,
                                     dtype=dtype, math_dtype=dtype, method=method)


def _key(L: SCLayout) -> SCLayout:
    return dataclasses.replace(L, num_elements=1, sorted=False)


class CueWeightMap:
    """``forward``: canonical ``(Z, n_basis, u)`` weights → cuEquivariance's ``(Z, n_cue, u)``; ``adjoint`` back."""

    def __init__(self, M: torch.Tensor, layout: SCLayout):
        self.M, self.layout = M, layout  # (n_cue, n_basis)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        L = self.layout
        c = w.reshape(L.num_elements, L.n_basis, L.mul)
        return torch.einsum("kb,zbu->zku", self.M.to(c), c).reshape(-1)

    def adjoint(self, g: torch.Tensor) -> torch.Tensor:
        L = self.layout
        gk = g.reshape(L.num_elements, -1, L.mul)
        return torch.einsum("kb,zku->zbu", self.M.to(gk), gk).reshape(-1)


@lru_cache(maxsize=None)
def cue_weight_map(L: SCLayout) -> tuple[torch.Tensor, float]:
    """``(M, residual)``: cuEquivariance's weights ``M c`` define the same polynomial as canonical weights ``c``.

    Fitted in float64 from samples of both bases' polynomials, every channel an independent sample:
    cuEquivariance's basis polynomial ``Q_k = Σ_b X_bk P_b``, then ``M = pinv(X)`` (needs ``rank X = n_basis``:
    its basis spans ours). ``residual`` is the relative misfit; nonzero means the bases differ in span.
    """
    from tpbench.oracle.references.symmetric import ReferenceSymmetricContraction

    n_b, mul = L.n_basis, L.mul
    problem = Problem("symmetric_contraction", sc_irreps(L, L.ins), sc_irreps(L, L.outs), weights="shared",
                      dtype="float64", params=(("correlation", L.correlation), ("num_elements", n_b), ("sorted", False)))
    with default_dtype(torch.float64):
        cue = _cue_module(L, "naive", torch.float64)
        ref = ReferenceSymmetricContraction(problem)  # element b has weights e_b on every channel
    n_cue = cue.weight_shape[0]  # element k below has weights e_k on every channel
    gen = torch.Generator().manual_seed(0)
    samples = -(-(4 * max(n_cue, n_b) // sum(2 * l + 1 for l, _ in L.outs) + 8) // mul)
    A = torch.randn(samples, mul * L.d, generator=gen, dtype=torch.float64)

    def one_hot(n):
        return torch.eye(n, dtype=torch.float64)[:, :, None].expand(n, n, mul).reshape(n, -1)

    with torch.no_grad():
        idx = torch.arange(n_cue).repeat_interleave(samples).to(torch.int32)
        Q = cue.transpose_out(cue.f([one_hot(n_cue), cue.transpose_in(A.repeat(n_cue, 1))], input_indices={0: idx})[0])
        P = ref(A.repeat(n_b, 1), torch.arange(n_b).repeat_interleave(samples), one_hot(n_b).reshape(-1))
    Qm, Pm = Q.reshape(n_cue, -1).T, P.reshape(n_b, -1).T
    X = torch.linalg.lstsq(Pm, Qm).solution  # (n_basis, n_cue): Q = P X
    residual = ((Pm @ X - Qm).norm() / Qm.norm()).item()
    return torch.linalg.pinv(X), residual


def sc_irreps(L: SCLayout, items) -> str:
    return "+".join(f"{L.mul}x{l}{'e' if p == 1 else 'o'}" for l, p in items)


class CueSymmetricContraction(torch.nn.Module):
    def __init__(self, layout: SCLayout, method: str, device, dtype):
        super().__init__()
        self.layout = layout
        # a copy: the cached module stays on the CPU for the weight fit
        self.cue = copy.deepcopy(_cue_module(_key(layout), method, dtype)).to(device)

    def forward(self, A: torch.Tensor, species: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        c = self.cue
        weight = w.reshape(self.layout.num_elements, -1)
        return c.transpose_out(c.f([weight, c.transpose_in(A)], input_indices={0: species.to(torch.int32)})[0])


class CueSC(_SCKernel):
    backend = "cuequivariance"

    def __init__(self, method: str):
        self.method = method
        self.name = f"cue-sc.{method}"
        self.devices = ("cpu", "cuda") if method == "naive" else ("cuda",)

    def available(self) -> str | None:
        from tpbench_kernels.libraries.cuequivariance import _Cue

        return _Cue.available(self)  # cuequivariance-torch, and its ops wheel for any method but naive

    def supports(self, problem: Problem, device: str) -> str | None:
        return self.available() or super().supports(problem, device)

    def weight_permutation(self, problem: Problem) -> CueWeightMap:
        M, residual = cue_weight_map(_key(sc_layout(problem)))
        if residual > 1e-9:
            raise RuntimeError(f"cuEquivariance's basis does not span tpbench's (misfit {residual:.1e})")
        return CueWeightMap(M, sc_layout(problem))

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return CueSymmetricContraction(sc_layout(problem), self.method, device, dtype)

    def effective_method(self, module: torch.nn.Module) -> str | None:
        from tpbench_kernels.libraries.cuequivariance import _Cue

        return _Cue.effective_method(self, module.cue)  # the built SegmentedPolynomial's method


KERNELS = [TorchSC(), CueSC("naive"), CueSC("uniform_1d")]
