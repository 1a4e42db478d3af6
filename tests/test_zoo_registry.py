"""The zoo kernels are discovered, and supports() answers (never raises) on every shape family."""

import pytest

from tpbench.kernel.registry import Registry
from tpbench.spec.shapes import channelwise, fully_connected, gate, linear, mimo, mimo_ap, model, simo, siso

ZOO = {"cg-sparse", "matrix-tp", "torch-linear", "torch-gate", "grid-mlp"}
PROBLEMS = [siso(1), siso(2), simo(2), mimo(2), mimo_ap(2), channelwise(8, 2, 3), fully_connected(4, 2),
            linear(8, 2), gate(8, 2), model("mace-large"), model("diffdock-l2")]


def _zoo():
    return [k for k in Registry.default().kernels.values() if k.name in ZOO]


def test_discovered_once():
    names = [k.name for k in Registry.default().kernels.values()]
    assert ZOO <= set(names) and len(names) == len(set(names))


@pytest.mark.parametrize("kernel", _zoo(), ids=lambda k: k.name)
def test_supports_answers_and_flops(kernel):
    for problem in PROBLEMS:
        reason = kernel.supports(problem, "cpu")
        assert reason is None or (isinstance(reason, str) and reason)
        if reason is None:
            assert kernel.flops(problem) > 0
            assert kernel.native(problem).irreps_out.dim > 0
