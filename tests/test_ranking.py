"""One ranking for every view: only correct timed cases, never across machines."""

import math

import pandas as pd

from tpbench.views.ranking import ranked
from tpbench.views.summary import best_per_problem


def frame(rows):
    base = {"problem_label": "p", "pass": "fwd", "status": "ok", "machine": "m1"}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_only_ok_cases_with_a_real_median_are_ranked():
    df = frame([{"kernel": "nan", "median_ms": math.nan}, {"kernel": "zero", "median_ms": 0.0},
                {"kernel": "inf", "median_ms": math.inf}, {"kernel": "wrong", "median_ms": 0.1, "status": "incorrect"},
                {"kernel": "slow", "median_ms": 2.0}, {"kernel": "fast", "median_ms": 1.0}])
    [(group, cases)] = list(ranked(df))
    assert group == {"machine": "m1", "problem_label": "p", "pass": "fwd"}
    assert list(cases["kernel"]) == ["fast", "slow"]
    [row] = best_per_problem(df).to_dict("records")
    assert row["best"] == "fast" and row["runner_up"] == "slow" and row["incorrect"] == 1


def test_machines_are_never_ranked_together():
    df = frame([{"kernel": "a", "median_ms": 1.0, "machine": "m1"}, {"kernel": "b", "median_ms": 0.5, "machine": "m2"}])
    assert sorted((g["machine"], list(c["kernel"])) for g, c in ranked(df)) == [("m1", ["a"]), ("m2", ["b"])]
    table = best_per_problem(df)
    assert list(table["machine"]) == ["m1", "m2"] and list(table["best"]) == ["a", "b"]
    assert "runner_up" not in table  # b is faster, but on another machine: no margin over a


def test_nothing_correct_ranks_nothing():
    assert list(ranked(frame([{"kernel": "a", "median_ms": math.nan, "status": "skipped"}]))) == []
