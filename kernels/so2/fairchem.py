"""fairchem's (UMA / eSCN) edge rotations and SO(2) convolution, where they can run (fairchem-core is optional).

``rotate-fairchem.euler``
    UMA's Euler route (``fairchem.core.models.uma.common.rotation``): ``init_edge_rot_euler_angles``
    (``β = acos ŷ·r̂``, ``α = atan2``, and a *random* roll ``γ`` per edge and call, as UMA trains
    with) and ``eulers_to_wigner`` (``X(α) J X(β) J X(γ)`` per degree with fairchem's packaged
    ``Jd.pt`` matrices, e3nn 0.4's construction), one dense block-diagonal ``((L+1)², (L+1)²)`` matrix
    per edge applied with ``bmm`` (``wigner @ x``, then ``wigner^T`` back, as UMA's blocks do).
    The random roll is why the operation is the round trip (:mod:`tpbench.oracle.references.rotate`):
    it cancels there, so the gate holds this kernel to the same oracle as the deterministic ones.
    Forward and first derivatives pass in float64; the double backward does not (errors 0.08–0.2):
    UMA's ``Safeacos`` saves a clamped *copy* of its input, so ``∂²β/∂r²`` is dropped (the mixed
    derivatives a force loss needs, through the weights, are intact; Hessians in positions are not).
    fairchem-core's package ``__init__`` imports its calculators (monty, hydra, huggingface-hub, ...);
    the rotation module itself needs only torch, so it is loaded from its file without that
    ``__init__``, and ``Jd.pt`` with ``torch.load(weights_only=True)`` (tensors only, no code).
``fairchem-so2``
    fairchem's ``SO2_Convolution`` (``uma/nn/so2_layers.py``) is not the ``so2_conv`` problem: it mixes
    channels with weights *shared* by all edges (one ``Linear`` per ``m`` over ``(l, channel)``), the
    per-edge freedom being a radial scaling of its *inputs* per ``(m, l, channel)``. Per edge that is
    ``a^m_{li lo u}(e) = W^m_{lo u, li u} ρ^m_{li u}(e)`` — rank one in ``(li, lo)`` — so the per-edge
    channelwise weights of ``so2_conv`` cannot be mapped onto it, nor its channel mixing onto
    ``so2_conv``. Registered so ``tpbench list kernels`` says why it does not run.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import torch

from tpbench.kernel import Kernel
from tpbench.oracle.references.rotate import RotateLayout, rotate_layout
from tpbench.spec.problem import Problem
from tpbench_kernels.so2.rotation import _RotateKernel, from_channels, to_channels

INSTALL = "pip install --no-deps fairchem-core (its SO(2) layers and rotations need only torch and e3nn)"


def _fairchem_dir() -> str | None:
    """``fairchem/core``'s folder, found without running its package ``__init__``."""
    try:
        spec = importlib.util.find_spec("fairchem.core")
    except (ImportError, ValueError):
        return None
    return None if spec is None or not spec.submodule_search_locations else list(spec.submodule_search_locations)[0]


def _reason() -> str | None:
    root = _fairchem_dir()
    if root is None:
        return f"fairchem-core is not installed; {INSTALL}"
    for part in ("models/uma/common/rotation.py", "models/uma/Jd.pt"):
        if not os.path.exists(os.path.join(root, part)):
            return f"this fairchem-core has no {part} (UMA's Euler rotation route); tried with fairchem-core 2.24"
    return None


@lru_cache(maxsize=None)
def _rotation_module():
    """``uma/common/rotation.py`` as a private module (it imports only torch)."""
    path = os.path.join(_fairchem_dir(), "models/uma/common/rotation.py")
    spec = importlib.util.spec_from_file_location("_tpbench_fairchem_uma_rotation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=None)
def _jd() -> tuple[torch.Tensor, ...]:
    return tuple(torch.load(os.path.join(_fairchem_dir(), "models/uma/Jd.pt"), weights_only=True))


class FairchemEulerRotation(torch.nn.Module):
    def __init__(self, layout: RotateLayout):
        super().__init__()
        self.layout = layout
        self.rotation = _rotation_module()
        for l in layout.degrees:
            self.register_buffer(f"Jd{l}", _jd()[l].to(torch.get_default_dtype()), persistent=False)
        self.register_buffer("kept", layout.kept().to(torch.get_default_dtype()), persistent=False)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        L = self.layout
        eulers = self.rotation.init_edge_rot_euler_angles(r)
        jd = [getattr(self, f"Jd{l}") for l in L.degrees]
        wigner = self.rotation.eulers_to_wigner(eulers, 0, L.L, jd)  # (E, d, d): into the edge frame
        xs = to_channels(x, L).transpose(1, 2)  # (E, d, mul), UMA's layout
        xs = torch.bmm(wigner, xs) * self.kept[:, None]
        return from_channels(torch.bmm(wigner.transpose(1, 2), xs).transpose(1, 2), L)


class FairchemEulerRotate(_RotateKernel):
    name, backend = "rotate-fairchem.euler", "fairchem"

    def available(self) -> str | None:
        return _reason()

    def supports(self, problem: Problem, device: str) -> str | None:
        return self.available() or super().supports(problem, device)

    def build(self, problem: Problem, device: str, dtype: torch.dtype) -> torch.nn.Module:
        return FairchemEulerRotation(rotate_layout(problem)).to(device=device, dtype=dtype)

    def flops(self, problem: Problem) -> float:
        """Per edge: three ``z``-rotation matrices and four dense products per degree (``2 (2l+1)³`` each),
        then two dense ``(L+1)² × (L+1)²`` products per channel (the block-diagonal matrix as UMA applies it)."""
        L = rotate_layout(problem)
        build = sum(4 * 2 * (2 * l + 1) ** 3 for l in L.degrees)
        apply = 2 * 2 * (L.L + 1) ** 4
        return float((build + L.mul * apply) * problem.batch)


class FairchemSO2(Kernel):
    """fairchem's SO(2) convolution: registered to say why it is not compared (see the module docstring)."""

    name, family, backend = "fairchem-so2", "so2", "fairchem"
    operation = "so2_conv"
    symmetry = "SO(3)"

    def available(self) -> str | None:
        missing = _fairchem_dir() is None
        return ((f"fairchem-core is not installed ({INSTALL}); " if missing else "")
                + "fairchem's SO2_Convolution shares its channel-mixing weights across edges and scales only "
                  "its inputs per edge (rank one per edge in l_in x l_out): so2_conv's per-edge channelwise "
                  "weights cannot be mapped onto it, a different operation")

    def supports(self, problem: Problem, device: str) -> str | None:
        return self.available()


KERNELS = [FairchemEulerRotate(), FairchemSO2()]
