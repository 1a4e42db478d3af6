import importlib.metadata

import pytest

from tpbench.spec import shapes
from tpbench.oracle.correctness import run_gate
from tpbench.spec.errors import UserError
from tpbench.kernel.base import Kernel, build_module
from tpbench.kernel.registry import Registry, load_kernel_file


def test_builtins_are_registered_with_unique_names():
    reg = Registry.default()
    for name in ("reference-cg", "torch-cg", "e3nn-cg-full", "e3nn-cg-channelwise", "e3nn-cg-fc",
                 "e3nn-linear", "e3nn-gate", "cue-channelwise.naive.mul_ir", "cue-cg-full.naive", "oeq-channelwise"):
        assert name in reg.kernels
    assert all(isinstance(k, Kernel) for k in reg.kernels.values())


def test_gpu_only_kernels_are_unavailable_with_reason_not_a_crash():
    reg = Registry.default()
    oeq = reg.get("oeq-channelwise")
    assert oeq.available() and "openequivariance" in oeq.available()
    fused = reg.get("cue-channelwise.fused_tp.mul_ir")
    reason = fused.available() or fused.supports(shapes.channelwise(4, 1, 1), "cpu")
    assert reason


def test_load_kernel_from_file_and_gate_it(user_kernel_file):
    [kernel] = load_kernel_file(user_kernel_file)
    assert kernel.name == "my-tp"
    problem = shapes.mimo(2, batch=16, dtype="float64")
    gate = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd", "fwd+bwd"])
    assert not gate.failures


def test_file_without_kernel_is_a_user_error(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    with pytest.raises(UserError, match="defines no kernel"):
        load_kernel_file(path)
    with pytest.raises(UserError, match="does not exist"):
        load_kernel_file(tmp_path / "missing.py")
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    with pytest.raises(UserError, match="failed to import"):
        load_kernel_file(broken)


class _EP:
    def __init__(self, name, obj):
        self.name, self._obj = name, obj

    def load(self):
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


def test_entry_point_plugins(monkeypatch, user_kernel_file):
    [kernel] = load_kernel_file(user_kernel_file)

    class Plugin(type(kernel)):
        name = "plugin-tp"

    def fake(group=None):
        assert group == "tpbench.kernels"
        return [_EP("plugin-tp", Plugin), _EP("bad", ImportError("no such module"))]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    reg = Registry.default()
    assert reg.get("plugin-tp").available() is None
    assert "plugin failed to load" in reg.get("bad").available()


def test_unknown_kernel_hint():
    reg = Registry.default()
    with pytest.raises(UserError, match="unknown kernel 'e3nn-cg'; did you mean"):
        reg.get("e3nn-cg")
    with pytest.raises(UserError, match="no kernel matches"):
        reg.select(["zzz-*"])
    assert {k.family for k in reg.select(["family:cg"])} == {"cg"}
