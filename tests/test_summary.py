import pandas as pd

from tpbench.views.summary import best_per_problem


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
