"""Kernels written to fool the ranking: each is recorded with the right status and never ranked.

Every faulty kernel wraps the correct ``torch-cg`` module and spoils one thing:
NaN or inf outputs, a wrong output shape, a wrong gradient only, an error only
under rotation, garbage once the gate has passed, or results that change
between calls by more than the tolerance. One in-process sweep runs them all
next to the honest kernel; ``show``'s table must rank the honest one alone.
"""

import pytest
import torch

from tpbench.results.store import RunStore, load_runs
from tpbench.run.case import Case
from tpbench.run.runner import Runner
from tpbench.run.sweep import sweep
from tpbench.spec import shapes
from tpbench.views.summary import best_per_problem
from tpbench_kernels.cg.dense import TorchCGKernel

TIMING = {"budget_s": 0.02, "warmup_s": 0.0, "min_samples": 3, "min_sample_s": 0.0005}
PROBLEM = shapes.mimo(1, batch=32, dtype="float64")
TOL = 1e-10  # float64 forward tolerance


class _Spoiled(torch.nn.Module):
    def __init__(self, inner, spoil):
        super().__init__()
        self.inner, self.spoil, self.calls = inner, spoil, 0

    def forward(self, *inputs):
        self.calls += 1
        return self.spoil(self.inner(*inputs), self.calls)


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return 2 * g


def _with_inf(out, n):
    out = out.clone()
    out[0, 0] = float("inf")
    return out


SPOILERS = {
    "nan": lambda out, n: out * float("nan"),
    "inf": _with_inf,
    "wrong-shape": lambda out, n: out[:, :-1],
    "wrong-grad": lambda out, n: _ScaleGrad.apply(out),
    # The gate's 4th and 5th calls are the rotated and inverted inputs: wrong there only.
    "not-equivariant": lambda out, n: out + 1.0 if n in (4, 5) else out,
    # Correct through the gate (≤ 6 calls), garbage from then on.
    "late-wrong": lambda out, n: out if n <= 6 else out * 1.5,
    # Every call within 0.6 tol of the truth, successive calls 1.2 tol apart.
    "nondeterministic": lambda out, n: out * (1 + (0.6 if n % 2 else -0.6) * TOL),
}


def faulty(how):
    class Faulty(TorchCGKernel):
        name = f"faulty-{how}"
        exactly_equivariant = how != "nondeterministic"  # so that only the re-check can catch it

        def build(self, problem, device, dtype):
            return _Spoiled(super().build(problem, device, dtype), SPOILERS[how])

    return Faulty()


EXPECTED = {  # kernel -> {pass: (status, words in the reason)}
    "nan": {"fwd": ("incorrect", "non-finite"), "fwd+bwd": ("incorrect", "non-finite")},
    "inf": {"fwd": ("incorrect", "non-finite"), "fwd+bwd": ("incorrect", "non-finite")},
    "wrong-shape": {"fwd": ("incorrect", "shape"), "fwd+bwd": ("incorrect", "shape")},
    "wrong-grad": {"fwd": ("ok", None), "fwd+bwd": ("incorrect", "fwd+bwd gradient error")},
    "not-equivariant": {"fwd": ("incorrect", "rotation equivariance error"),
                        "fwd+bwd": ("incorrect", "rotation equivariance error")},
    "late-wrong": {"fwd": ("incorrect", "after timing"), "fwd+bwd": ("incorrect", "after timing")},
    "nondeterministic": {"fwd": ("incorrect", "non-deterministic"), "fwd+bwd": ("incorrect", "non-deterministic")},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = RunStore.create(tmp_path_factory.mktemp("faulty") / "run", {"suite": "test"})
    kernels = [TorchCGKernel()] + [faulty(how) for how in SPOILERS]
    cases = [Case(PROBLEM, k, p, "eager", "cpu") for k in kernels for p in ("fwd", "fwd+bwd")]
    sweep(Runner(store, TIMING, telemetry=False), cases, progress=False)
    return store


@pytest.mark.parametrize("how", list(SPOILERS))
def test_faulty_kernel_has_the_right_status_and_reason(run, how):
    records = {r["pass"]: r for r in run.records() if r["kernel"] == f"faulty-{how}"}
    for pass_, (status, words) in EXPECTED[how].items():
        record = records[pass_]
        assert record["status"] == status, (pass_, record.get("reason"))
        if words:
            assert words in record["reason"], (pass_, record["reason"])
            # An incorrect case reports no speed that could be ranked or plotted.
            if "after timing" not in words and "non-deterministic" not in words:
                assert record.get("median_ms") is None


def test_nan_errors_are_not_zero(run):
    nan = next(r for r in run.records() if r["kernel"] == "faulty-nan" and r["pass"] == "fwd")
    assert nan["errors"]["fwd"] == float("inf") and nan["rel_error"] == float("inf")
    assert nan["equivariance_error"] == float("inf")


def test_only_correct_kernels_are_ranked(run):
    table = best_per_problem(load_runs([run.dir])).set_index("pass")
    # wrong-grad is correct (and ranked) for the forward pass only.
    assert table.loc["fwd", "kernels ok"] == 2 and table.loc["fwd+bwd", "kernels ok"] == 1
    assert table.loc["fwd+bwd", "best"] == "torch-cg"
    assert set(table[["best", "runner_up"]].stack().dropna()) <= {"torch-cg", "faulty-wrong-grad"}
    assert table.loc["fwd", "incorrect"] == 6 and table.loc["fwd+bwd", "incorrect"] == 7


RAISING = '''
from tpbench_kernels.cg.dense import TorchCGKernel


class _Raises(TorchCGKernel):
    name, where = "", ""  # a base, not a kernel

    def supports(self, problem, device):
        if self.where == "supports":
            raise ValueError("supports exploded")
        return super().supports(problem, device)

    def native(self, problem):
        if self.where == "native":
            raise ValueError("native exploded")
        return super().native(problem)

    def build(self, problem, device, dtype):
        if self.where == "build":
            raise ValueError("build exploded")
        return super().build(problem, device, dtype)


class S(_Raises):
    name, where = "raises-in-supports", "supports"


class N(_Raises):
    name, where = "raises-in-native", "native"


class B(_Raises):
    name, where = "raises-in-build", "build"
'''


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "worker"])
def test_raising_methods_are_one_error_each_with_identity_and_resume_skips_them(tmp_path, isolate):
    from tpbench.kernel.registry import load_kernel_file

    path = tmp_path / "raising.py"
    path.write_text(RAISING)
    kernels = load_kernel_file(path)
    cases = [Case(PROBLEM, k, p, "eager", "cpu") for k in kernels for p in ("fwd", "fwd+bwd")]
    cases.append(Case(PROBLEM, TorchCGKernel(), "fwd", "eager", "cpu"))  # the sweep goes on after them
    store = RunStore.create(tmp_path / "run", {"suite": "test"})

    def go():
        runner = Runner(store, TIMING, telemetry=False, isolate=isolate, timeout_s=120.0,
                        kernel_files=[str(path)])
        return sweep(runner, cases, progress=False)

    assert go() == len(cases)
    records = store.records()
    assert [(r["kernel"], r["problem_id"], r["pass"]) for r in records] == \
        [(c.kernel.name, PROBLEM.id, c.pass_) for c in cases]
    for r in records[:-1]:
        where = r["kernel"].split("-")[-1]
        assert r["status"] == "error" and f"{where} exploded" in r["reason"], r
    assert records[-1]["status"] == "ok"
    assert go() == 0 and len(store.records()) == len(cases)  # --resume appends nothing again
