"""No silent surprises: name clashes are refused with both sources named, duplicate problems run once,
and the CPU allocator's out-of-memory is ``oom``."""

import textwrap
from pathlib import Path

import pytest
import torch

from tpbench.kernel.registry import Registry, load_kernel_file
from tpbench.run.case import plan
from tpbench.run.runner import finalize
from tpbench.run.suite import load_suite
from tpbench.spec.errors import UserError

SHADOW = textwrap.dedent('''
    from tpbench_kernels.cg.dense import TorchCGKernel


    class Faster(TorchCGKernel):  # forgot to set a name: inherits "torch-cg"
        pass
''')

TWINS = textwrap.dedent('''
    from tpbench_kernels.cg.dense import TorchCGKernel


    class A(TorchCGKernel):
        name = "twin"


    class B(TorchCGKernel):
        name = "twin"
''')


def test_user_kernel_named_like_a_builtin_is_refused_naming_both(tmp_path):
    path = tmp_path / "shadow.py"
    path.write_text(SHADOW)
    registry = Registry.default()
    builtin = registry.get("torch-cg")
    with pytest.raises(UserError) as err:
        registry.resolve([str(path)])
    message = str(err.value)
    assert "'torch-cg'" in message and str(path) in message and "tpbench_kernels.cg.dense" in message
    assert registry.get("torch-cg") is builtin  # not replaced


def test_two_kernels_of_one_name_in_a_file_are_refused(tmp_path):
    path = tmp_path / "twins.py"
    path.write_text(TWINS)
    with pytest.raises(UserError, match=r"A and B are both named 'twin'"):
        load_kernel_file(path)


def test_loading_the_same_file_twice_is_not_a_clash(tmp_path, user_kernel_file):
    registry = Registry.default()
    registry.resolve([str(user_kernel_file)])
    assert [k.name for k in registry.resolve([str(user_kernel_file)])] == ["my-tp"]


def test_identical_problem_tables_give_unique_cases(tmp_path):
    table = textwrap.dedent('''
        [[problems]]
        family = "mimo"
        L = 1
        batch = 16
    ''')
    path = tmp_path / "twice.toml"
    path.write_text('[suite]\nkernels = ["torch-cg", "e3nn-cg-full"]\npasses = ["fwd"]\n' + table + table)
    cases = plan(load_suite(str(path)), Registry.default(), "cpu", repeat=2)
    keys = [c.key for c in cases]
    assert len(keys) == len(set(keys)) == 4  # 2 kernels x 1 problem x 1 pass x 2 repetitions


def test_cpu_allocator_failure_is_oom():
    try:  # torch's CPU allocator refuses an absurd request with a RuntimeError, not a MemoryError
        torch.empty(2**62, dtype=torch.uint8)
    except RuntimeError as exc:
        from tpbench.run.runner import _error_fields

        fields = _error_fields(exc)
    else:  # pragma: no cover - an allocator that accepts 4 EiB
        pytest.skip("the CPU allocator did not refuse")
    assert "can't allocate memory" in fields["reason"] and fields["status"] == "oom"
    record = finalize({"status": "error", "reason": fields["reason"]})
    assert record["status"] == "oom"
    assert finalize({"status": "error", "reason": "ValueError: bad"})["status"] == "error"


@pytest.mark.parametrize("name", sorted(p.stem for p in (Path(__file__).parent.parent / "suites").glob("*.toml")))
def test_every_shipped_suite_plans(name):
    """A typo or an impossible problem in a shipped suite fails here, not on a user's GPU box hours in."""
    suite = load_suite(name)
    assert plan(suite, Registry.default(), suite.device), f"{name} plans no case"
