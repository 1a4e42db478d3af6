"""Feature rotation into the edge frame, ``|m| <= m_max`` kept, and back: one kernel per construction.

The math is :mod:`tpbench.oracle.references.rotate`'s (``y = D(R_e) Π D(R_e)^T x``, the same for
any frame ``R_e`` with ``R_e ŷ = r̂``). Each kernel builds the frame ``R_e = R_y(α) R_x(β)``
(e3nn's ``xyz_to_angles``: ``γ = 0``) its own way and pays for it on every call, as an SO(2)
convolution that does not cache its rotations does; a model that caches per-edge Wigner
matrices across layers pays the construction once per forward.

``rotate-torch-so2``
    ``torch-so2``'s construction (:mod:`tpbench_kernels.so2.convolution`): ``cos mα, sin mα`` from
    ``r̂`` by recurrence (no trigonometric calls), sparse ``y``-rotations and the fixed
    ``K_l = D_l(R_z(−90°))`` — no per-edge matrix. Per edge and channel, each way:
    two dense products with ``K`` (``2 Σ (2l+1)²`` each) and two ``y``-rotations (``3 Σ (2l+1)`` each).
``rotate-e3nn``
    e3nn's angles route: ``α, β = o3.xyz_to_angles(r)``, ``D_l = o3.Irrep(l).D_from_angles(α, β, 0)``
    per edge (three ``torch.matrix_exp`` of ``(2l+1)²`` generators and two products — what
    ``Irreps.D_from_matrix`` does after ``matrix_to_angles``), then only the ``|m| <= m_max`` columns
    of ``D_l`` are applied (``x' = D_k^T x``, ``y = D_k x'``, ``k`` kept components, as EquiformerV2
    does with its reduced Wigner matrices). Called under the input's default dtype: ``o3.wigner_D``
    rebuilds its generators on every call in the *default* dtype, so a float64 call under a float32
    default is only float32-accurate (measured: errors of 3e-7 to 1e-6 in float64).
``rotate-cue.<method>``
    cuEquivariance's ``cuet.Rotation`` (its ``yxy_rotation`` descriptor: the angles encoded as
    ``cos, sin`` of ``mθ``) with ``cuet.vector_to_euler_angles``, called twice (into the frame with
    ``(γ, β, α) = (−α, −β, 0)``, back with ``(0, β, α)``). Effective method recorded.
"""

from __future__ import annotations

import torch
from e3nn import o3

from tpbench.kernel import Kernel, Native, default_dtype
from tpbench.oracle.references.rotate import RotateLayout, rotate_layout
from tpbench.oracle.references.so2 import SO2Layout
from tpbench.spec.errors import UserError
from tpbench.spec.problem import Problem
from tpbench_kernels.so2.convolution import SO2Conv

MATRIX_EXP_PRODUCTS = 8  # FLOP count of one torch.matrix_exp, in matrix products (an estimate: PyTorch picks degree 1..18)


def to_channels(x: torch.Tensor, L: RotateLayout) -> torch.Tensor:
    """``mul_ir (E, mul x s2(L))`` → ``(E, mul, (L+1)²)``."""
    E = x.shape[0]
    return torch.cat([x[:, sl].reshape(E, L.mul, -1) for sl in o3.Irreps([(L.mul, (l, 1)) for l in L.degrees]).slices()], -1)


def from_channels(y: torch.Tensor, L: RotateLayout) -> torch.Tensor:
    out, start = [], 0
    for l in L.degrees:
        out.append(y[..., start:start + 2 * l + 1].reshape(y.shape[0], -1))
        start += 2 * l + 1
    return torch.cat(out, -1)


class _RotateKernel(Kernel):
    family = "rotate"
    operation = "rotate"
    symmetry = "O(3)"
    bilinear = False  # nonlinear in the edge vector

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "rotate":
            return "feature rotations (rotate) only"
        try:
            rotate_layout(problem)
        except UserError as exc:
            return str(exc)
        return super().supports(problem, device)

    def native(self, problem: Problem) -> Native:
        return Native(problem.in1, problem.out, problem.in2, "none", 0)


# --- torch-so2's construction -------------------------------------------------------------------------------


class EdgeFrameRotation(SO2Conv):
    """``module(x, r)``: ``torch-so2``'s rotations with the SO(2) mixing replaced by the truncation."""

    def __init__(self, layout: RotateLayout):
        super().__init__(SO2Layout(layout.mul, layout.degrees, layout.degrees, layout.m_max))
        self.rot = layout
        self.register_buffer("kept", layout.kept().to(torch.get_default_dtype()), persistent=False)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        frame = self.frame(r)
        xs = self.into_frame(to_channels(x, self.rot), frame) * self.kept
        return from_channels(self.out_of_frame(xs, frame), self.rot)


class TorchSO2Rotate(_RotateKernel):
    name, backend = "rotate-torch-so2", "torch"

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return EdgeFrameRotation(rotate_layout(problem)).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        L = rotate_layout(problem)
        per_way = sum(2 * 2 * (2 * l + 1) ** 2 + 2 * 3 * (2 * l + 1) for l in L.degrees)
        return float(L.mul * (2 * per_way + (L.L + 1) ** 2) * problem.batch)


# --- e3nn's angles route ------------------------------------------------------------------------------------


class E3nnRotation(torch.nn.Module):
    def __init__(self, layout: RotateLayout):
        super().__init__()
        self.layout = layout
        for l in layout.degrees:
            keep = torch.tensor([i for i in range(2 * l + 1) if abs(i - l) <= layout.m_max])
            self.register_buffer(f"keep{l}", keep, persistent=False)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        with default_dtype(x.dtype):  # e3nn rebuilds its generators per call in the default dtype
            return self._rotate(x, r)

    def _rotate(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        L = self.layout
        alpha, beta = o3.xyz_to_angles(r)
        gamma = torch.zeros_like(alpha)
        out, start = [], 0
        for l in L.degrees:
            size = L.mul * (2 * l + 1)
            xl = x[:, start:start + size].reshape(-1, L.mul, 2 * l + 1)
            D = o3.Irrep(l, (-1) ** l).D_from_angles(alpha, beta, gamma)[..., getattr(self, f"keep{l}")]  # (E, 2l+1, k)
            y = torch.einsum("eik,euk->eui", D, torch.einsum("eik,eui->euk", D, xl))
            out.append(y.reshape(-1, size))
            start += size
        return torch.cat(out, -1)


class E3nnRotate(_RotateKernel):
    name, backend = "rotate-e3nn", "e3nn"

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return E3nnRotation(rotate_layout(problem)).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        L = rotate_layout(problem)
        build = sum((3 * MATRIX_EXP_PRODUCTS + 2) * 2 * (2 * l + 1) ** 3 for l in L.degrees)
        apply = sum(2 * 2 * (2 * l + 1) * min(2 * l + 1, 2 * L.m_max + 1) for l in L.degrees)
        return float((build + L.mul * apply) * problem.batch)


# --- cuEquivariance -----------------------------------------------------------------------------------------


class CueRotation(torch.nn.Module):
    def __init__(self, layout: RotateLayout, method: str):
        super().__init__()
        import cuequivariance as cue
        import cuequivariance_torch as cuet

        self.layout = layout
        irreps = cue.Irreps("O3", "+".join(f"{layout.mul}x{l}{'e' if l % 2 == 0 else 'o'}" for l in layout.degrees))
        self.rotation = cuet.Rotation(irreps, layout=cue.mul_ir, method=method)
        self.angles = cuet.vector_to_euler_angles
        mask = torch.cat([layout.kept()[(l * l):(l + 1) ** 2].repeat(layout.mul) for l in layout.degrees])
        self.register_buffer("kept", mask.to(torch.get_default_dtype()), persistent=False)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        beta, alpha = self.angles(r)
        zero = torch.zeros_like(alpha)
        xs = self.rotation(-alpha, -beta, zero, x) * self.kept
        return self.rotation(zero, beta, alpha, xs)


class CueRotate(_RotateKernel):
    backend = "cuequivariance"

    def __init__(self, method: str):
        self.method = method
        self.name = f"rotate-cue.{method}"
        self.devices = ("cpu", "cuda") if method == "naive" else ("cuda",)

    def available(self) -> str | None:
        from tpbench_kernels.libraries.cuequivariance import _Cue

        return _Cue.available(self)

    def supports(self, problem: Problem, device: str) -> str | None:
        return self.available() or super().supports(problem, device)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return CueRotation(rotate_layout(problem), self.method).to(device=device, dtype=dtype)

    def effective_method(self, module: torch.nn.Module) -> str | None:
        from tpbench_kernels.libraries.cuequivariance import _Cue

        return _Cue.effective_method(self, module.rotation)  # the built SegmentedPolynomial's method

    def flops(self, problem: Problem) -> float:
        """Two ``yxy`` rotations, each three sparse ``cos/sin`` rotations about ``y`` or ``x`` (``3 Σ (2l+1)``
        per channel for a ``y``-rotation; an ``x``-rotation in the descriptor is dense per degree, ``2 (2l+1)²``)."""
        L = rotate_layout(problem)
        per_way = sum(2 * 3 * (2 * l + 1) + 2 * (2 * l + 1) ** 2 for l in L.degrees)
        return float(L.mul * (2 * per_way + (L.L + 1) ** 2) * problem.batch)


KERNELS = [TorchSO2Rotate(), E3nnRotate(), CueRotate("naive"), CueRotate("uniform_1d")]
