"""Compiled variants: compile time apart from runtime, compile failures and mismatches per case.

Inductor's first C++ compile takes a minute on a small CPU, so ``torch.compile``
runs here with the ``eager`` backend (Dynamo tracing only): the harness logic
is the same.
"""

import pytest
import torch

from tpbench.spec.passes import pass_function
from tpbench.kernel.registry import Registry
from tpbench.run.case import Case
from tpbench.run.runner import Runner
from tpbench.spec.shapes import make_problem
from tpbench.run.suite import VARIANTS
from tpbench.measure.variants import CompiledMismatch, CompileError, prepare

REAL_COMPILE = torch.compile


@pytest.fixture
def eager_backend(monkeypatch):
    seen = []

    def compile_(module, **options):
        seen.append(options)
        return REAL_COMPILE(module, backend="eager", dynamic=options.get("dynamic"))
    monkeypatch.setattr(torch, "compile", compile_)
    return seen


def _builder(x):
    return lambda m: pass_function(m, "fwd+bwd", x, torch.ones(4, 3), None)


def test_variant_names():
    assert VARIANTS == ("eager", "compile-default", "compile-reduce-overhead", "compile-max-autotune",
                        "compile-dynamic")


def test_compiled_pass_records_compile_time_and_matches_eager(eager_backend):
    m = torch.nn.Linear(5, 3)
    x = [torch.randn(4, 5)]
    fn, fields = prepare(m, "compile-max-autotune", _builder(x), "cpu", 3e-4)
    assert eager_backend == [{"mode": "max-autotune"}]
    assert fields["compile_s"] > 0 and fields["compiled_rel_error"] <= 1e-6
    assert len(fn()) == 1


def test_eager_variant_adds_nothing():
    fn, fields = prepare(torch.nn.Linear(5, 3), "eager", _builder([torch.randn(4, 5)]), "cpu", 3e-4)
    assert fields == {}


def test_compile_failure_and_mismatch_are_reported(monkeypatch):
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("inductor exploded")

    class Doubled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return 2 * self.m(x)

    m, x = torch.nn.Linear(5, 3), [torch.randn(4, 5)]
    monkeypatch.setattr(torch, "compile", lambda module, **kw: Broken())
    with pytest.raises(CompileError, match="inductor exploded"):
        prepare(m, "compile-default", _builder(x), "cpu", 3e-4)
    monkeypatch.setattr(torch, "compile", lambda module, **kw: Doubled(module))
    with pytest.raises(CompiledMismatch):
        prepare(m, "compile-default", _builder(x), "cpu", 3e-4)


def test_runner_times_a_compiled_case(eager_backend):
    kernel = Registry.default().get("e3nn-cg-full")
    case = Case(make_problem("mimo", L=1, batch=32), kernel, "fwd+bwd", "compile-dynamic", "cpu")
    runner = Runner(None, {"budget_s": 0.05, "warmup_s": 0.01, "min_samples": 3}, telemetry=False)
    record = runner.run_case(case, ["fwd", "fwd+bwd"])
    assert record["status"] == "ok", record.get("reason")
    assert record["variant"] == "compile-dynamic" and record["compile_s"] > 0
    assert record["n_samples"] >= 3 and record["allow_tf32_matmul"] is False


def test_finalize_maps_gate_crashes_and_compiled_mismatches():
    from tpbench.run.runner import finalize

    assert finalize({"status": "error", "reason": "OutOfMemoryError: CUDA out of memory"})["status"] == "oom"
    assert finalize({"status": "error", "reason": "CompiledMismatch: differs"})["status"] == "incorrect"
    assert finalize({"status": "error", "reason": "RuntimeError: shapes"})["status"] == "error"
    assert finalize({"status": "ok"})["status"] == "ok"
