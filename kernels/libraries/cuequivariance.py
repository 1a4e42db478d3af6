"""cuEquivariance kernels: one per operation × method × layout that applies.

==========================  ==============================================================
name                        module
==========================  ==============================================================
``cue-channelwise.M.LAY``   ``cuet.ChannelWiseTensorProduct`` (uvu, per-sample weights)
``cue-fctp.M.LAY``          ``cuet.FullyConnectedTensorProduct`` (uvw, shared weights)
``cue-cg-full.M``           ``cuet.SegmentedPolynomial`` of ``cue.descriptors.full_tensor_product``
``cue-linear.M.LAY``        ``cuet.Linear``
==========================  ==============================================================

``M`` is the execution method: ``naive`` (pure PyTorch, CPU and GPU),
``uniform_1d`` (CUDA; channelwise and full TP, needs uniform segment shapes)
or ``fused_tp`` (CUDA). ``LAY`` is the feature layout, ``mul_ir`` (e3nn's)
or ``ir_mul`` (cuEquivariance's native). Methods other than ``naive`` need
the ``cuequivariance-ops-torch-cu12/13`` wheel and a GPU; without them
cuEquivariance silently runs ``naive`` instead, so those kernels are
*unavailable* or *skipped* here rather than timed under a wrong name, and every
record carries ``effective_method``: the method of the built
``SegmentedPolynomial`` (``module.f.method``), marked when a CPU input makes
it fall back at call time.

The math is e3nn's (component / element normalisation); weights are e3nn's
flattened order, which cuEquivariance accepts in the ``mul_ir`` layout.
"""

from __future__ import annotations

import importlib.util

import torch
from e3nn import o3

from tpbench.kernel.base import Kernel, Native
from tpbench.spec.paths import reorder_output, tp_paths
from tpbench.spec.work import cg_flops, linear_flops
from tpbench.spec.problem import Problem

METHODS = ("naive", "uniform_1d", "fused_tp")


def _ops_missing() -> str | None:
    if importlib.util.find_spec("cuequivariance_torch") is None:
        return "cuequivariance-torch is not installed"
    return None


_DESCRIPTORS: dict = {}


class _Cue(Kernel):
    backend = "cuequivariance"
    dtypes = ("float64", "float32", "tf32")
    op = ""
    what = ""

    def __init__(self, method: str, layout: str = "mul_ir"):
        self.method = method
        self.layout_name = layout
        self.devices = ("cpu", "cuda") if method == "naive" else ("cuda",)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"cue-{self.what}.{self.method}" + (f".{self.layout_name}" if self.op != "full" else "")

    @property
    def layout(self) -> str:  # type: ignore[override]
        return self.layout_name

    def available(self) -> str | None:
        missing = _ops_missing()
        if missing:
            return missing
        if self.method != "naive" and importlib.util.find_spec("cuequivariance_ops_torch") is None:
            return (f"method {self.method} needs cuequivariance-ops-torch-cu12/13 "
                    "(pip install 'tpbench[cuda12]'); without it cuEquivariance would silently run naive")
        return None

    def supports(self, problem: Problem, device: str) -> str | None:
        if problem.op != ("linear" if self.op == "linear" else "tp"):
            return f"{self.what} only"
        if self.op != "linear" and problem.connection != self.op:
            return f"{self.op} tensor products only"
        return super().supports(problem, device)

    def _targets(self, problem: Problem) -> list:
        import cuequivariance as cue

        return [cue.O3(ir.l, ir.p) for ir in sorted({ir for _, ir in problem.out})]

    def descriptor(self, problem: Problem):
        """The cuEquivariance descriptor whose output order this kernel produces (``None``: as e3nn)."""
        return None

    def _descriptor(self, problem: Problem):
        """:meth:`descriptor`, built once per kernel class and irreps: a build takes up to a second
        on a CPU, and :meth:`native` asks for it several times per case."""
        key = (type(self), str(problem.in1), str(problem.in2), str(problem.out))
        if key not in _DESCRIPTORS:
            _DESCRIPTORS[key] = self.descriptor(problem)
        return _DESCRIPTORS[key]

    def _paths(self, problem: Problem):
        e = self._descriptor(problem)
        paths = tp_paths(problem)
        return paths if e is None else reorder_output(paths, o3.Irreps(str(e.operands[-1].irreps)))

    def native(self, problem: Problem) -> Native:
        if problem.op != "tp":
            return super().native(problem)
        paths = self._paths(problem)
        return Native(paths.irreps_in1, paths.irreps_out, paths.irreps_in2, problem.weights,
                      paths.weight_numel, tuple(paths.path_labels()))

    def effective_method(self, module: torch.nn.Module) -> str | None:
        f = getattr(module, "f", None)
        method = getattr(f, "method", None)
        if method is None:
            return None
        device = next((b.device for b in module.buffers()), torch.device("cpu"))
        if method != "naive" and device.type == "cpu":
            return f"{method} (falls back to naive on CPU)"
        return method

    def flops(self, problem: Problem) -> float | None:
        return cg_flops(tp_paths(problem), problem.batch) if problem.op == "tp" else linear_flops(problem)

    @staticmethod
    def _irreps(text):
        import cuequivariance as cue

        return cue.Irreps("O3", str(text))

    def _layout(self):
        import cuequivariance as cue

        return cue.mul_ir if self.layout_name == "mul_ir" else cue.ir_mul


class CueChannelwise(_Cue):
    """Output blocks follow cuEquivariance's irrep order (``0e < 0o``, ``1o < 1e`` differs from e3nn's),
    and the weights are ordered by output block (e3nn: by instruction) — hence :meth:`native`
    and :meth:`weight_permutation`."""

    op, what = "channelwise", "channelwise"
    family = "cg"

    def descriptor(self, problem: Problem):
        import cuequivariance as cue

        return cue.descriptors.channelwise_tensor_product(self._irreps(problem.in1), self._irreps(problem.in2),
                                                          self._targets(problem))

    def weight_permutation(self, problem: Problem) -> torch.Tensor:
        paths = self._paths(problem).paths
        offsets = [sum(p.weight_numel for p in paths[:n]) for n in range(len(paths))]
        order = sorted(range(len(paths)), key=lambda n: paths[n].i_out)
        return torch.cat([torch.arange(offsets[n], offsets[n] + paths[n].weight_numel) for n in order])

    def supports(self, problem: Problem, device: str) -> str | None:
        why = super().supports(problem, device)
        if why is None and self.method == "uniform_1d" and len({m for m, _ in problem.in1}) > 1:
            return "uniform_1d needs one multiplicity for every input irrep"
        return why

    def build(self, problem, device, dtype):
        import cuequivariance_torch as cuet

        return cuet.ChannelWiseTensorProduct(
            self._irreps(problem.in1), self._irreps(problem.in2), self._targets(problem), layout=self._layout(), shared_weights=False,
            internal_weights=False, method=self.method, device=device, dtype=dtype, math_dtype=dtype)


class CueFullyConnected(_Cue):
    op, what = "fully_connected", "fctp"
    family = "cg"

    def build(self, problem, device, dtype):
        import cuequivariance_torch as cuet

        return _SharedWeights(cuet.FullyConnectedTensorProduct(
            self._irreps(problem.in1), self._irreps(problem.in2), self._irreps(problem.out), layout=self._layout(),
            shared_weights=True, internal_weights=False, method=self.method, device=device, dtype=dtype,
            math_dtype=dtype))


class _SharedWeights(torch.nn.Module):
    """cuEquivariance wants shared weights as ``(1, numel)``; tpbench passes ``(numel,)``."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module
        self.f = module.f

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        *features, w = args
        return self.module(*features, w.view(1, -1))


class _FullTP(torch.nn.Module):
    """Adapts ``SegmentedPolynomial``'s list calling convention to ``module(x1, x2)``."""

    def __init__(self, f: torch.nn.Module):
        super().__init__()
        self.f = f

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.f([x1, x2])[0]


class CueFull(_Cue):
    op, what = "full", "cg-full"
    family = "cg"

    def supports(self, problem: Problem, device: str) -> str | None:
        why = super().supports(problem, device)
        if why is None and any(m != 1 for m, _ in problem.in1 + problem.in2):
            # With multiplicities the descriptor's operands are in ir_mul order and need transposes.
            return "multiplicity-1 inputs only"
        return why

    def descriptor(self, problem: Problem):
        import cuequivariance as cue

        return cue.descriptors.full_tensor_product(self._irreps(problem.in1), self._irreps(problem.in2),
                                                   self._targets(problem))

    def build(self, problem, device, dtype):
        import cuequivariance_torch as cuet

        f = cuet.SegmentedPolynomial(self._descriptor(problem).polynomial, method=self.method, math_dtype=dtype)
        return _FullTP(f).to(device=device)


class CueLinear(_Cue):
    op, what = "linear", "linear"
    family = "linear"
    operation = "linear"

    def build(self, problem, device, dtype):
        import cuequivariance_torch as cuet

        return _SharedWeights(cuet.Linear(
            self._irreps(problem.in1), self._irreps(problem.out), layout=self._layout(), shared_weights=True,
            internal_weights=False, method=self.method, device=device, dtype=dtype, math_dtype=dtype))


KERNELS = [
    *(CueChannelwise(m, lay) for m in METHODS for lay in ("mul_ir", "ir_mul")),
    *(CueFullyConnected(m, lay) for m in ("naive", "fused_tp") for lay in ("mul_ir", "ir_mul")),
    *(CueFull(m) for m in METHODS),
    *(CueLinear(m, lay) for m in ("naive", "fused_tp") for lay in ("mul_ir", "ir_mul")),
]
