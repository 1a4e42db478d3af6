"""Edge spherical harmonics kernels (operation family ``sh``, :mod:`tpbench.oracle.references.sh`).

=================  ================================================  ==============
name               module                                            normalisation
=================  ================================================  ==============
``sh-e3nn``        ``o3.SphericalHarmonics(normalize=True)``, as     component
                   MACE and NequIP build their edge attributes
``sh-cue.M``       ``cuet.SphericalHarmonics(normalize=True)``,      component
                   method ``M`` (``naive`` on CPU; effective method
                   recorded)
``sh-sphericart``  ``sphericart.torch.SphericalHarmonics``           integral
                   (optional); its polar axis is z and e3nn's is y,
                   so it is fed ``(z, x, y)`` — a fixed relabelling of
                   the axes, not a fit
=================  ================================================  ==============

Each kernel's ``operation`` names its normalisation, so the gate checks it
against the reference scaled the same way (``sh-component`` or ``sh``).
"""

from __future__ import annotations

import importlib.util

import torch

from tpbench.kernel import Kernel
from tpbench.spec.problem import Problem
from tpbench.oracle.references.sh import sh_flops


class _SH(Kernel):
    family = "sh"
    bilinear = False

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != "sh":
            return "spherical harmonics only"
        if any(mul != 1 for mul, _ in problem.out) or [ir.l for _, ir in problem.out] != list(
                range(len(problem.out))) or any(ir.p != (-1) ** ir.l for _, ir in problem.out):
            return "Y_0..Y_L once each (irreps_out = s2(L)) only"
        return super().supports(problem, device)

    def flops(self, problem: Problem) -> float:
        return sh_flops(problem)

    @staticmethod
    def lmax(problem: Problem) -> int:
        return max(ir.l for _, ir in problem.out)


class E3nnSH(_SH):
    name = "sh-e3nn"
    backend = "e3nn"
    operation = "sh-component"

    def build(self, problem, device, dtype):
        from e3nn import o3

        return o3.SphericalHarmonics(problem.out, normalize=True, normalization="component").to(
            device=device, dtype=dtype)


class _CueSH(torch.nn.Module):
    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module, self.f = module, getattr(module, "f", None)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.module(r)


class CueSH(_SH):
    backend = "cuequivariance"
    operation = "sh-component"

    def __init__(self, method: str):
        self.method = method
        self.devices = ("cpu", "cuda") if method == "naive" else ("cuda",)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"sh-cue.{self.method}"

    def available(self) -> str | None:
        if importlib.util.find_spec("cuequivariance_torch") is None:
            return "cuequivariance-torch is not installed"
        if self.method != "naive" and importlib.util.find_spec("cuequivariance_ops_torch") is None:
            return f"method {self.method} needs cuequivariance-ops-torch-cu12/13; without it it would run naive"
        return None

    def build(self, problem, device, dtype):
        import cuequivariance_torch as cuet

        module = cuet.SphericalHarmonics(list(range(self.lmax(problem) + 1)), normalize=True, device=device,
                                         math_dtype=dtype, method=self.method)
        return _CueSH(module).to(device=device, dtype=dtype)

    def effective_method(self, module: torch.nn.Module) -> str | None:
        method = getattr(getattr(module, "f", None), "method", None)
        if method and method != "naive" and not str(device_of(module)).startswith("cuda"):
            return f"{method} (falls back to naive on CPU)"
        return method


def device_of(module: torch.nn.Module) -> torch.device:
    return next((t.device for t in [*module.buffers(), *module.parameters()]), torch.device("cpu"))


class _Sphericart(torch.nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.module(r[:, [2, 0, 1]])


class SphericartSH(_SH):
    name = "sh-sphericart"
    backend = "sphericart"
    operation = "sh"
    dtypes = ("float64", "float32")

    def available(self) -> str | None:
        if importlib.util.find_spec("sphericart") is None or importlib.util.find_spec("sphericart.torch") is None:
            return "sphericart-torch is not installed (pip install 'tpbench[sphericart]')"
        return None

    def build(self, problem, device, dtype):
        import sphericart.torch

        return _Sphericart(sphericart.torch.SphericalHarmonics(self.lmax(problem)))


KERNELS = [E3nnSH(), CueSH("naive"), CueSH("uniform_1d"), SphericartSH()]
