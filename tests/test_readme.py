"""The README's kernel example is the file in examples/, and it works."""

from conftest import REPO

from tpbench.spec import shapes
from tpbench.oracle.correctness import run_gate
from tpbench.kernel.base import build_module
from tpbench.kernel.registry import load_kernel_file


def test_readme_shows_the_example_verbatim():
    example = (REPO / "examples" / "my_tp.py").read_text()
    assert example.strip() in (REPO / "README.md").read_text()


def test_example_kernel_is_correct():
    [kernel] = load_kernel_file(REPO / "examples" / "my_tp.py")
    for problem in (shapes.mimo(2, batch=32, dtype="float64"), shapes.mimo_ap(1, batch=32, dtype="float64")):
        gate = run_gate(kernel, problem, build_module(kernel, problem, "cpu"), "cpu", ["fwd", "fwd+bwd"])
        assert not gate.failures, gate.failures
    assert kernel.supports(shapes.channelwise(4, 1, 1), "cpu")
