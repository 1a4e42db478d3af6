"""tpbench compare: labels, significance with and without repetitions, regressions, output formats."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from runfactory import case, manifest, problem, scaled, write_run
from tpbench.cli.commands.compare import command
from tpbench.views.compare import Evidence, compare_records, compare_runs, judge
from tpbench.views.compare_format import as_markdown, as_text

sys.path.insert(0, str(Path(__file__).parent / "data"))
import make_golden  # noqa: E402

DATA = Path(__file__).parent / "data" / "runs"


def rerun(seed: int, drift: float = 0.03) -> list[dict]:
    """The golden CPU cases timed again: fresh sample noise plus a run-to-run shift per case."""
    cases = make_golden.cpu_cases(seed)
    rng = np.random.default_rng(seed)
    for c in cases:
        if c["status"] == "ok":
            f = float(np.exp(rng.normal(0.0, drift)))
            c["samples_ms"] = [s * f for s in c["samples_ms"]]
            for key in ("median_ms", "iqr_ms", "ci_low_ms", "ci_high_ms", "min_ms", "mean_ms"):
                c[key] *= f
    return cases


def counts(rows):
    out = {}
    for r in rows:
        out[r.label] = out.get(r.label, 0) + 1
    return out


def test_identical_runs_are_same():
    cases = make_golden.cpu_cases(1)
    rows, _ = compare_records(cases, cases)
    assert rows and all(r.label == "same" for r in rows)


@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_two_runs_of_the_same_commit_are_mostly_same(seed):
    rows, _ = compare_records(make_golden.cpu_cases(1), rerun(seed))
    labelled = [r for r in rows if r.label != "same"]
    assert len(labelled) <= 0.03 * len(rows), counts(rows)


def test_real_slowdown_is_slower():
    cases = make_golden.cpu_cases(1)
    rows, _ = compare_records(cases, scaled(cases, 1.5))
    assert all(r.label == "slower" for r in rows)
    assert all(abs(r.ratio - 1.5) < 1e-9 for r in rows)


def test_real_speedup_is_faster():
    cases = make_golden.cpu_cases(1)
    rows, _ = compare_records(cases, scaled(cases, 0.6))
    assert all(r.label == "faster" for r in rows)


def test_small_change_within_one_repeat_is_same():
    cases = make_golden.cpu_cases(1)
    rows, _ = compare_records(cases, scaled(cases, 1.07))  # significant on samples, but below the 10 % threshold
    assert all(r.label == "same" for r in rows)


def repeated(factor: float, repeats: int, seed: int) -> list[dict]:
    """One case timed in ``repeats`` independent repetitions (one line each), with run-to-run noise."""
    rng = np.random.default_rng(seed)
    prob = problem("mimo", {"L": 2})
    return [case("torch-cg", "cg", prob, "fwd", rng=rng, base_ms=1.0, scale=factor * float(np.exp(rng.normal(0, 0.01))))
            for _ in range(repeats)]


def test_repetitions_use_z_on_log_medians():
    rows, _ = compare_records(repeated(1.0, 5, 1), repeated(1.08, 5, 2))
    (row,) = rows
    assert row.method.startswith("z on log medians (5/5 repeats")
    assert row.threshold == pytest.approx(0.05)
    assert row.label == "slower"


def drifting(n_cases: int, seed: int, shift: dict[int, float] | None = None) -> tuple[list[dict], list[dict]]:
    """Two runs of ``n_cases`` cases, 4 tight repetitions each (1 % apart), and a machine that drifts
    between the runs: each case is shifted by a lognormal factor (sigma 15 %) in run B, plus ``shift``."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for i in range(n_cases):
        prob = problem("mimo", {"L": 1, "mul": i + 1})
        drift = float(np.exp(rng.normal(0, 0.15))) * (shift or {}).get(i, 1.0)
        for run, factor in ((a, 1.0), (b, drift)):
            run += [case("torch-cg", "cg", prob, "fwd", rng=rng, base_ms=1.0,
                         scale=factor * float(np.exp(rng.normal(0, 0.01)))) for _ in range(4)]
    return a, b


def test_drift_between_runs_is_not_called_slower_but_a_large_change_is():
    # 4 vs 4 tight repetitions separate completely under any drift (U test p = 0.029); the spread of
    # ratios across cases shows the drift, and only a change well beyond it gets a verdict.
    for seed in range(5):
        rows, _ = compare_records(*drifting(20, seed))
        assert all(r.label in ("same", "ambiguous") for r in rows), counts(rows)
    rows, _ = compare_records(*drifting(20, 0, shift={3: 3.0}))
    verdicts = {r.key["problem_label"]: r.label for r in rows if r.label != "same"}
    assert list(verdicts.values()) == ["slower"] and "spread across cases" in rows[0].method


def test_false_verdicts_between_pseudo_runs_of_the_baseline_are_rare():
    """A/A: the baseline's 4 repetitions split 2 + 2 into pseudo-runs, all 6 ordered pairs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from compare_aa import false_verdicts, pseudo_pairs

    from tpbench.results.store import read_cases

    records = read_cases(Path(__file__).resolve().parent.parent / "results" / "baseline-quick-cpu" / "cases.jsonl")
    total = bad = 0
    for _, _, a, b in pseudo_pairs(records, 2):
        n, wrong = false_verdicts(a, b)
        total, bad = total + n, bad + len(wrong)
    assert total == 6 * 180 and bad <= 0.01 * total


def test_repeat_medians_field_counts_as_repetitions():
    a = Evidence([1.0, 1.01, 0.99, 1.0], [], 0.01)
    b = Evidence([1.2, 1.21, 1.19, 1.2], [], 0.01)
    p, threshold, method, label = judge(a, b)
    assert label == "slower" and p < 0.05 and threshold == 0.05


def test_without_samples_large_effects_are_ambiguous():
    a = [{"kernel": "k", "problem_id": "p", "pass": "fwd", "status": "ok", "median_ms": 1.0}]
    b = [dict(a[0], median_ms=2.0)]
    (row,), _ = compare_records(a, b)
    assert row.label == "ambiguous" and row.method == "no samples"


def test_status_changes_are_listed_not_labelled():
    cases = make_golden.cpu_cases(1)
    broken = json.loads(json.dumps(cases))
    target = next(c for c in broken if c["status"] == "ok")
    target.update(status="error", reason="boom", median_ms=None, samples_ms=None)
    rows, unmatched = compare_records(cases, broken)
    changed = [u for u in unmatched if u["status_a"] == "ok" and u["status_b"] == "error"]
    assert len(changed) == 1 and len(rows) == sum(c["status"] == "ok" for c in broken)


@pytest.fixture
def runs(tmp_path):
    cases = make_golden.cpu_cases(1)
    write_run(tmp_path / "a", manifest("a"), cases)
    write_run(tmp_path / "same", manifest("same"), rerun(2))
    write_run(tmp_path / "slow", manifest("slow"), scaled(cases, 1.5))
    write_run(tmp_path / "other", manifest("other", hostname="elsewhere", device="cuda", gpu="NVIDIA H200"), cases)
    return tmp_path


def test_cli_fail_on_regression(runs):
    result = CliRunner().invoke(command, ["a", "slow", "--root", str(runs), "--fail-on-regression", "10"])
    assert result.exit_code == 1
    assert "slower" in result.output


def test_cli_no_regression_exits_zero(runs):
    result = CliRunner().invoke(command, ["a", "same", "--root", str(runs), "--fail-on-regression", "10"])
    assert result.exit_code == 0, result.output


def test_cli_regression_below_threshold_passes(runs):
    result = CliRunner().invoke(command, ["a", "slow", "--root", str(runs), "--fail-on-regression", "60"])
    assert result.exit_code == 0


def test_machine_difference_warns(runs):
    comparison = compare_runs("a", "other", str(runs))
    text = as_text(comparison)
    assert "differ in hostname" in text and "differ in GPU" in text


def test_markdown_output(runs):
    result = CliRunner().invoke(command, ["a", "slow", "--root", str(runs), "--format", "markdown"])
    assert result.exit_code == 0
    assert "| kernel | problem | pass |" in result.output
    assert "|---|---|---|---|---:|---:|---:|---:|---:|---|---|" in result.output
    assert "| threshold | label | noise from |" in result.output


def test_golden_bad_lines_become_warnings():
    comparison = compare_runs(str(DATA / "cpu-quick"), str(DATA / "cpu-quick"))
    assert any("cases.jsonl:" in w for w in comparison.load_warnings)
    assert comparison.counts()["same"] == len(comparison.rows)


def test_hostile_names_are_neutralised():
    prob = problem("mimo", {"L": 1})
    rng = np.random.default_rng(0)
    a = [case("k|<b>\x1b[31m", "cg", prob, "fwd", rng=rng)]
    rows, unmatched = compare_records(a, a)
    from tpbench.views.compare import Comparison

    comparison = Comparison("a", "b", rows, unmatched)
    assert "\x1b" not in as_text(comparison)
    md = as_markdown(comparison)
    assert "<b>" not in md and "k\\|\\<b\\>" in md


def test_console_script_exit_code(runs):
    from tpbench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["compare", "a", "slow", "--root", str(runs), "--fail-on-regression", "10"])
    assert exc.value.code == 1


def test_repetition_spread_sets_the_threshold():
    # Repetitions that wander by ±40% within each run: a 30% shift between runs is noise ...
    a = Evidence([1.0, 1.4, 0.7, 1.2], [], 0.0)
    b = Evidence([1.3, 1.8, 0.9, 1.6], [], 0.0)
    assert judge(a, b)[3] == "same"
    # ... while the same shift between tight repetitions is a real, significant slowdown.
    a = Evidence([1.0, 1.01, 0.99, 1.0], [], 0.0)
    b = Evidence([1.3, 1.31, 1.29, 1.3], [], 0.0)
    assert judge(a, b)[3] == "slower"
