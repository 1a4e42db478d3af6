"""The adaptive timer's logic (warm-up, calibration, stopping rule) driven by a fake clock."""

import gc
import itertools

import pytest

from tpbench.spec.errors import UserError
from tpbench.measure.timing import (CPUTimer, CUDAColdTimer, CUDAEventTimer, CUDAGraphTimer, Timing, resolve_timer,
                            timer_for)


class FakeClock:
    """A clock that only moves when the timed function says so."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def work(clock, durations, first=()):
    """A function whose calls take ``first``, then the given durations (seconds) cycling."""
    it = itertools.chain(first, itertools.cycle(durations))
    calls = []

    def fn():
        calls.append(gc.isenabled())
        clock.t += next(it)
    fn.calls = calls
    return fn


def timer(clock, **kw):
    return CPUTimer(clock=clock, **kw)


def test_calibration_makes_samples_last_min_sample_s():
    clock = FakeClock()
    t = timer(clock, warmup_s=2**-6, min_sample_s=2**-8)
    n, warm, calls = t.calibrate(work(clock, [2**-12]))
    assert n == 16  # 2^-8 / 2^-12 calls per sample
    assert warm >= 2**-6 and calls == 64


def test_warmup_is_by_time_and_ignores_slow_first_calls():
    clock = FakeClock()
    fn = work(clock, [0.5, 0.2] + [1e-3] * 1000)  # "JIT" on the first two calls
    t = timer(clock, warmup_s=0.8, min_sample_s=0.01)
    n, warm, calls = t.calibrate(fn)
    assert warm >= 0.8
    assert n == 10  # from the fastest (steady-state) call, not the compile-time ones


def test_warmup_runs_min_calls_even_when_one_call_outlasts_it():
    clock = FakeClock()
    t = timer(clock, warmup_s=0.01, min_warmup_calls=3)
    _, _, calls = t.calibrate(work(clock, [1.0]))
    assert calls == 3


def test_stable_samples_stop_on_the_noise_target_at_min_samples():
    clock = FakeClock()
    fn = work(clock, [1e-3])
    result = timer(clock, warmup_s=0.01, min_sample_s=1e-3, min_samples=7, target_rel_ci=0.01).measure(fn)
    assert isinstance(result, Timing)
    assert result.stopped_by == "noise-target"
    assert len(result.samples_ms) == 7
    assert result.samples_ms == pytest.approx([1.0] * 7)
    assert result.inner_loops == 1


def test_noisy_samples_stop_on_the_budget():
    clock = FakeClock()
    fn = work(clock, [1e-3, 3e-3, 2e-3, 5e-3])  # ±60 %: the 1 % target is out of reach
    result = timer(clock, warmup_s=0.0, min_warmup_calls=1, min_sample_s=1e-4, budget_s=0.5,
                   target_rel_ci=0.01).measure(fn)
    assert result.stopped_by == "budget"
    assert 0.5 <= result.sampling_s < 0.5 + 0.01
    assert sum(result.samples_ms) / 1e3 == pytest.approx(result.sampling_s)


def test_max_samples_caps_sampling():
    clock = FakeClock()
    fn = work(clock, [1e-3, 2e-3])
    result = timer(clock, warmup_s=0.0, min_sample_s=1e-4, budget_s=1e9, max_samples=40).measure(fn)
    assert result.stopped_by == "max-samples" and len(result.samples_ms) == 40


def test_every_raw_sample_is_kept_per_call():
    clock = FakeClock()
    fn = work(clock, [1e-3, 1e-3, 3e-3, 3e-3], first=[1e-3])  # one warm-up call, then pairs
    result = timer(clock, warmup_s=0.0, min_warmup_calls=1, min_sample_s=2e-3, budget_s=0.05,
                   min_samples=3).measure(fn)
    # Inner loop of 2 calls: samples alternate between 1 ms and 3 ms per call, none dropped.
    assert result.inner_loops == 2
    assert set(round(s, 9) for s in result.samples_ms) == {1.0, 3.0}


def test_gc_is_off_while_sampling_and_restored():
    clock = FakeClock()
    fn = work(clock, [1e-3])
    assert gc.isenabled()
    timer(clock, warmup_s=0.002, min_sample_s=1e-3, min_samples=3).measure(fn)
    assert gc.isenabled()
    warmup_calls = 2
    assert all(fn.calls[:warmup_calls]) and not any(fn.calls[warmup_calls:])


def test_real_clock_measures_a_sleep_within_a_few_percent():
    import time

    result = CPUTimer(warmup_s=0.0, min_sample_s=0.02, budget_s=0.2, min_samples=3).measure(
        lambda: time.sleep(0.01))
    median = sorted(result.samples_ms)[len(result.samples_ms) // 2]
    assert 9.5 < median < 25  # generous upper bound: a loaded CI machine oversleeps


def test_timer_choice_per_device():
    assert resolve_timer("cpu") == "cpu" and resolve_timer("cpu", "auto") == "cpu"
    assert resolve_timer("cuda") == "hot" and resolve_timer("cuda:1", "cuda-cold") == "cold"
    assert type(timer_for("cpu", budget_s=0.1)) is CPUTimer
    assert type(timer_for("cuda", "graph")) is CUDAGraphTimer
    assert type(timer_for("cuda", "cold")) is CUDAColdTimer
    assert type(timer_for("cuda")) is CUDAEventTimer
    with pytest.raises(UserError):
        resolve_timer("cpu", "cold")
    with pytest.raises(UserError):
        resolve_timer("cuda", "cpu")
    with pytest.raises(UserError):
        resolve_timer("cpu", "sundial")


def test_graph_timer_falls_back_with_a_reason(monkeypatch):
    """Capture failing (here: no CUDA at all) times plain launches and records why."""
    import tpbench.measure.timing as timing

    def broken_capture(fn, warmup_calls=3):
        raise RuntimeError("operation not permitted when stream is capturing")
    monkeypatch.setattr(timing, "capture_graph", broken_capture)
    monkeypatch.setattr("torch.cuda.synchronize", lambda *a, **k: None)
    clock = FakeClock()
    t = CUDAGraphTimer(clock=clock, warmup_s=0.0, min_sample_s=1e-3, min_samples=3)
    monkeypatch.setattr(CUDAGraphTimer, "_sample", CPUTimer._sample)  # host clock in place of events
    result = t.measure(work(clock, [1e-3]))
    assert result.timer == "cuda-hot"
    assert "graph capture failed" in result.fallback
    assert result.fields()["timer_fallback"] == result.fallback


def test_cold_timer_uses_one_call_per_sample():
    assert CUDAColdTimer().inner_loops(1e-9) == 1


def test_run_command_records_timer_and_isolation_settings(tmp_path):
    import json

    from click.testing import CliRunner

    from tpbench.cli import cli

    args = ["run", "--suite", "quick", "--out", str(tmp_path), "--no-progress", "--kernel", "matrix-tp",
            "--filter", "problem=mimo L=1 *", "--filter", "pass=fwd", "--timer", "cpu"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    run_dir = next(p for p in tmp_path.iterdir() if not p.name.startswith("."))
    settings = json.loads((run_dir / "run.json").read_text())["settings"]
    assert settings["timer"] == "cpu" and settings["isolate"] is True and settings["timeout_s"] == 300.0
    record = json.loads((run_dir / "cases.jsonl").read_text().splitlines()[0])
    assert record["status"] == "ok" and record["timer"] == "cpu"
    assert record["warmup_s"] >= 0 and record["sampling_s"] > 0 and "peak_rss_mb" in record
    bad = CliRunner().invoke(cli, ["run", "--suite", "quick", "--out", str(tmp_path), "--timer", "cold", "--dry-run"])
    assert bad.exit_code != 0 and "does not run on device" in str(bad.exception)
