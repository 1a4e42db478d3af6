"""MACE's own symmetric contraction (``mace.modules.symmetric_contraction.SymmetricContraction``).

The math, basis and weight order are :mod:`tpbench.oracle.references.symmetric`'s; this module only
adapts mace-torch's module to them (mace-torch is optional, imported lazily).

``mace-sc``
    MACE's default basis (``use_reduced_cg=True``, as ``mace.modules.MACE`` builds it): the coupling
    tensors ``U`` of each ``(output irrep, ν)`` from cuEquivariance's reduced Clebsch–Gordan basis when
    cuEquivariance is importable, else mace-torch falls back to its e3nn-built one — the basis that
    really ran is the recorded ``effective_method`` (``reduced-cg`` or ``wigner-nj``).
``mace-sc.wigner-nj``
    ``use_reduced_cg=False``: the original MACE basis from e3nn's ``wigner_3j`` coupling trees, not
    symmetrised, so it has more weights than the symmetric power needs (51 against 12 for
    ``ν = 3 → 1o`` at MACE-MP size); the extra ones are redundant, never an error.

How MACE computes (what is timed): species become one-hot ``node_attrs (N, Z)``, as in MACE's data;
per output irrep, starting at ``ν = correlation``, ``U^ν`` is contracted with the species' weights
(``Σ_e node_attrs[n, e] W[e, k, u]``: a dense contraction over all ``Z`` elements) and with one
feature index at a time, adding the lower-``ν`` terms on the way down (Horner's scheme). Features go
in as ``(N, mul, d)`` (MACE's ``reshape_irreps``), the output comes out in ``mul_ir``.

Weights: mace-torch's own parameters (``contractions.i.weights_max`` for ``ν = correlation``,
``contractions.i.weights.j`` for ``ν = correlation − 1 − j``), each ``(Z, n_mace, mul)``, are replaced
per call by slices of the weight input (``torch.func.functional_call``), so gradients reach them. The
harness gives the kernel ``M c`` for canonical weights ``c`` (:func:`mace_weight_map`): ``M`` is fitted
in float64 from the polynomials both bases define and refused when the fit leaves a residual above
``1e-9`` or when MACE's basis spans fewer equivariants than the canonical one.

Built in float64 always, then cast: mace-torch's reduced basis takes e3nn's ``wigner_3j`` in the
*default* dtype, and cuEquivariance caches the result for the life of the process — a first build
under float32 leaves every later float64 build with float32-rounded coefficients (the weight fit then
sees a misfit of ~2e-9 and refuses). So a float64 MACE built after a float32 one in the same process
is only float32-accurate; here the float64 basis is built first and cast down.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import torch

from tpbench.kernel import default_dtype
from tpbench.oracle.references.symmetric import SCLayout, per_channel, sc_layout
from tpbench.spec.problem import Problem
from tpbench_kernels.symmetric.contraction import CueWeightMap, _SCKernel, sc_irreps

INSTALL = ("install it with `python -m pip install --no-deps mace-torch==0.3.16` then `python -m pip install "
           "opt_einsum torch-ema prettytable h5py torchmetrics python-hostlist configargparse GitPython pyYAML "
           "lmdb orjson` (--no-deps: mace-torch pins e3nn 0.4.4; it runs with e3nn 0.6)")


def _mace_reason() -> str | None:
    try:
        import mace.modules.symmetric_contraction  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure inside mace-torch's imports makes it unusable
        return f"mace-torch is not importable ({type(exc).__name__}: {exc}); {INSTALL}"
    return None


def effective_basis(reduced: bool) -> str:
    """The basis mace-torch builds: cuEquivariance's reduced CG only when asked and cuEquivariance imports."""
    from mace.tools import cg

    return "reduced-cg" if reduced and getattr(cg, "CUET_AVAILABLE", False) else "wigner-nj"


def _mace_module(L: SCLayout, reduced: bool) -> torch.nn.Module:
    """mace-torch's module for ``L`` under the current default dtype (its ``U`` buffers take that dtype)."""
    from e3nn import o3
    from mace.modules.symmetric_contraction import SymmetricContraction

    return SymmetricContraction(o3.Irreps(sc_irreps(L, L.ins)), o3.Irreps(sc_irreps(L, L.outs)), L.correlation,
                                num_elements=L.num_elements, use_reduced_cg=reduced)


def weight_blocks(module: torch.nn.Module, L: SCLayout) -> list[tuple[str, int]]:
    """``(parameter name, n_mace)`` in the kernel's weight order: output irreps in order, then ``ν = 1..correlation``."""
    blocks = []
    for i in range(len(L.outs)):
        c = module.contractions[i]
        per_nu = {L.correlation: ("weights_max", c.weights_max)}
        per_nu.update({L.correlation - 1 - j: (f"weights.{j}", w) for j, w in enumerate(c.weights)})
        for nu in range(1, L.correlation + 1):
            name, w = per_nu[nu]
            blocks.append((f"contractions.{i}.{name}", w.shape[1]))
    return blocks


class MaceSymmetricContraction(torch.nn.Module):
    """``module(A, species, w)``: ``w`` is ``(Z, Σ n_mace, mul)`` flattened, in :func:`weight_blocks` order."""

    def __init__(self, layout: SCLayout, reduced: bool):
        super().__init__()
        self.layout = layout
        self.basis = effective_basis(reduced)
        self.sc = _mace_module(layout, reduced)
        self.blocks = weight_blocks(self.sc, layout)
        self.n_mace = sum(n for _, n in self.blocks)

    def forward(self, A: torch.Tensor, species: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        L = self.layout
        x = per_channel(A, L.ins, L.mul)  # MACE's reshape_irreps: (N, mul, d)
        node_attrs = torch.nn.functional.one_hot(species, L.num_elements).to(A.dtype)
        W = w.reshape(L.num_elements, self.n_mace, L.mul)
        params, start = {}, 0
        for name, n in self.blocks:
            params[name] = W[:, start:start + n]
            start += n
        return torch.func.functional_call(self.sc, params, (x, node_attrs))


@lru_cache(maxsize=None)
def _blocks(L: SCLayout, reduced: bool) -> tuple[tuple[str, int], ...]:
    with default_dtype(torch.float64):
        return tuple(weight_blocks(_mace_module(L, reduced), L))


@lru_cache(maxsize=None)
def mace_weight_map(L: SCLayout, reduced: bool) -> tuple[torch.Tensor, float, int]:
    """``(M, residual, rank)``: MACE's weights ``M c`` define the same polynomial as canonical weights ``c``.

    Float64 samples of both bases' polynomials, every channel an independent sample: MACE's basis
    polynomial ``Q_k`` (weight ``k`` one, the others zero) is fitted as ``Q_k = Σ_b X_bk P_b`` over the
    canonical ones, then ``M = pinv(X)``. ``residual`` (the relative misfit) is nonzero when MACE's
    polynomials leave the canonical span; ``rank X < n_basis`` when they do not fill it.
    """
    from tpbench.oracle.references.symmetric import ReferenceSymmetricContraction

    n_b, mul = L.n_basis, L.mul
    K = sum(n for _, n in _blocks(L, reduced))  # element k below has MACE weight k set to one on every channel
    with default_dtype(torch.float64):
        mace = MaceSymmetricContraction(dataclasses.replace(L, num_elements=K), reduced)
        problem = Problem("symmetric_contraction", sc_irreps(L, L.ins), sc_irreps(L, L.outs), weights="shared",
                          dtype="float64",
                          params=(("correlation", L.correlation), ("num_elements", n_b), ("sorted", False)))
        ref = ReferenceSymmetricContraction(problem)  # element b has canonical weights e_b on every channel
    gen = torch.Generator().manual_seed(0)
    out_dim = sum(2 * l + 1 for l, _ in L.outs)
    samples = -(-(4 * max(K, n_b) // out_dim + 8) // mul)
    A = torch.randn(samples, mul * L.d, generator=gen, dtype=torch.float64)

    def one_hot(n):
        return torch.eye(n, dtype=torch.float64)[:, :, None].expand(n, n, mul).reshape(-1)

    with torch.no_grad():
        Q = mace(A.repeat(K, 1), torch.arange(K).repeat_interleave(samples), one_hot(K))
        P = ref(A.repeat(n_b, 1), torch.arange(n_b).repeat_interleave(samples), one_hot(n_b))
    return fit_weight_map(Q.reshape(K, -1).T, P.reshape(n_b, -1).T)


def fit_weight_map(Q: torch.Tensor, P: torch.Tensor) -> tuple[torch.Tensor, float, int]:
    """``(M, residual, rank)`` from samples ``Q (S, K)`` of one basis and ``P (S, n)`` of the canonical one.

    ``Q = P X`` by least squares; ``M = pinv(X)`` so ``Q M = P`` when ``rank X = n`` and the residual vanishes.
    """
    X = torch.linalg.lstsq(P, Q).solution  # (n, K)
    residual = ((P @ X - Q).norm() / Q.norm()).item()
    s = torch.linalg.svdvals(X)
    rank = int((s > 1e-9 * s.max()).sum()) if s.numel() and s.max() > 0 else 0
    return torch.linalg.pinv(X), residual, rank


def _key(L: SCLayout) -> SCLayout:
    return dataclasses.replace(L, num_elements=1, sorted=False)


class MaceSC(_SCKernel):
    """MACE's symmetric contraction; ``reduced`` picks ``use_reduced_cg`` (MACE's model default is ``True``)."""

    backend = "mace"

    def __init__(self, reduced: bool = True):
        self.reduced = reduced
        self.name = "mace-sc" if reduced else "mace-sc.wigner-nj"

    def available(self) -> str | None:
        return _mace_reason()

    def supports(self, problem: Problem, device: str) -> str | None:
        reason = self.available() or super().supports(problem, device)
        if reason is None and (0, 1) not in sc_layout(problem).ins:
            return "mace-torch counts channels by the 0e input block: the input needs 0e"
        return reason

    def weight_permutation(self, problem: Problem) -> CueWeightMap:
        L = sc_layout(problem)
        M, residual, rank = mace_weight_map(_key(L), self.reduced)
        if residual > 1e-9 or rank < L.n_basis:
            raise RuntimeError(f"mace-torch's basis does not match tpbench's (misfit {residual:.1e}, "
                               f"rank {rank} of {L.n_basis})")
        return CueWeightMap(M, L)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        with default_dtype(torch.float64):  # see the module docstring: mace-torch's basis takes the default dtype
            module = MaceSymmetricContraction(sc_layout(problem), self.reduced)
        return module.to(device=device, dtype=dtype)

    def effective_method(self, module: torch.nn.Module) -> str | None:
        return module.basis

    def flops(self, problem: Problem) -> float:
        """MACE's dense order per output block and ``ν``: ``U·W`` (``2 k d^ν n_ν`` per channel), one
        feature index contracted (``2 k d^ν``), and the one-hot species contraction (``2 Z n_ν``)."""
        L = sc_layout(problem)
        blocks = _blocks(_key(L), self.reduced)
        total, j = 0, 0
        for l, _ in L.outs:
            for nu in range(1, L.correlation + 1):
                n = blocks[j][1]
                j += 1
                total += 2 * (2 * l + 1) * L.d ** nu * (n + 1) + 2 * L.num_elements * n
        return float(total * L.mul * problem.batch)


KERNELS = [MaceSC(reduced=True), MaceSC(reduced=False)]
