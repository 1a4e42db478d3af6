from pathlib import Path

import pandas as pd
import pytest

from tpbench.views.summary import best_per_problem

BASELINE = str(Path(__file__).resolve().parent.parent / "results" / "baseline-quick-cpu")


def test_best_ranks_only_correct_kernels_and_says_why_none_ran():
    df = pd.DataFrame([
        {"problem_label": "p", "pass": "fwd", "kernel": "fast-but-wrong", "status": "incorrect", "median_ms": None,
         "reason": "fwd error"},
        {"problem_label": "p", "pass": "fwd", "kernel": "a", "status": "ok", "median_ms": 2.0, "reason": None},
        {"problem_label": "p", "pass": "fwd", "kernel": "b", "status": "ok", "median_ms": 3.0, "reason": None},
        {"problem_label": "q", "pass": "fwd", "kernel": "a", "status": "skipped", "median_ms": None,
         "reason": "no valid path"},
    ])
    table = best_per_problem(df).set_index("problem")
    assert table.loc["p", "best"] == "a" and table.loc["p", "runner_up"] == "b"
    assert table.loc["p", "margin"] == 1.5 and table.loc["p", "incorrect"] == 1
    assert table.loc["q", "best"] == "none: no valid path"


def test_nothing_timed_gives_reasons_not_a_key_error():
    from tpbench.views.summary import why_nothing_passed

    df = pd.DataFrame([
        {"problem_label": "p", "pass": "fwd", "kernel": "mine", "status": "incorrect", "reason": "fwd error 2"},
        {"problem_label": "q", "pass": "fwd", "kernel": "mine", "status": "incorrect", "reason": "fwd error 2"},
        {"problem_label": "q", "pass": "fwd", "kernel": "other", "status": "unavailable", "reason": None},
    ])  # no median_ms column at all: no case was timed
    table = best_per_problem(df).set_index("problem")
    assert table.loc["p", "best"] == "none: fwd error 2" and table.loc["p", "kernels ok"] == 0
    assert why_nothing_passed(df) == ["2 incorrect: fwd error 2", "1 unavailable: no reason recorded"]


def _ok(kernel, ms, paths):
    return {"problem_label": "mimo L=2", "pass": "fwd", "kernel": kernel, "status": "ok", "median_ms": ms,
            "reason": None, "paths": [f"p{i}" for i in range(paths)]}


def test_caveat_when_the_best_computes_fewer_paths_and_ranks_of_a_kernel():
    from tpbench.views.summary import kernel_ranks

    df = pd.DataFrame([_ok("gaunt", 1.0, 14), _ok("cg", 2.0, 19), _ok("mine", 4.0, 19)])
    assert best_per_problem(df).loc[0, "caveat"] == "14 of 19 paths"
    assert best_per_problem(df[df["kernel"] != "gaunt"]).loc[0, "caveat"] == ""  # same work: no caveat
    ranks = kernel_ranks(df, "mine").iloc[0]
    assert ranks["rank"] == "3 of 3" and ranks["vs_best"] == 4.0 and ranks["best"] == "gaunt"


def test_show_fits_the_terminal_and_prints_the_caveat(capsys):
    from tpbench.cli import main

    for width in (70, 100):
        with pytest.raises(SystemExit) as exc:
            main(["show", BASELINE, "--width", str(width)])
        out = capsys.readouterr().out
        assert exc.value.code == 0
        table = out.split("caveat:")[0].splitlines()
        assert max(map(len, table)) <= width
        assert "14 of 19 paths" in out and "gaunt-grid on mimo L=2: 14 of 19 paths" in out.replace("\n", " ")
    with pytest.raises(SystemExit):
        main(["show", BASELINE, "--kernel", "torch-cg", "--width", "120"])
    out = capsys.readouterr().out
    assert "where torch-cg ranks" in out and " of 6 " in out


def test_case_counts_merge_repetitions_and_group_reasons():
    from tpbench.results.store import load_runs
    from tpbench.views.summary import case_counts

    df = load_runs([BASELINE])
    lines = case_counts(df, top=2)
    # kernel x problem x pass x variant, the baseline's 4 repetitions merged: one count everywhere.
    assert lines[0] == "792 cases (4 repetitions each, merged): 180 timed, 370 skipped, 242 unavailable"
    skipped = lines[lines.index("skipped, by reason:") + 1:lines.index("unavailable, by reason:")]
    assert skipped[0].split() [:3] == ["50", "no", "valid"] and "other reasons" in skipped[-1]
    assert sum(int(line.split()[0]) for line in skipped) == 370
