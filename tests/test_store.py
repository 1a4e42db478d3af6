import json
import warnings

import pytest

from tpbench.results.store import ResultsWarning, RunStore, find_run, load_runs, read_cases


def test_append_load_and_tolerate_bad_lines(tmp_path):
    store = RunStore.create(tmp_path / "r1", {"suite": "x"})
    store.append({"kernel": "a", "problem_id": "p", "pass": "fwd", "variant": "eager", "device": "cpu",
                  "status": "ok", "median_ms": 1.0})
    with open(store.dir / "cases.jsonl", "a") as f:
        f.write(json.dumps({"schema": 99, "kernel": "future"}) + "\n")
        f.write(json.dumps({"schema": "x", "kernel": "odd"}) + "\n")
        f.write('{"kernel": "b", "status": "o')  # killed mid-write
    with pytest.warns(ResultsWarning) as caught:
        records = read_cases(store.dir / "cases.jsonl")
    messages = " ".join(str(w.message) for w in caught)
    assert "cases.jsonl:2" in messages and "newer" in messages and "cases.jsonl:3" in messages
    assert "cases.jsonl:4" in messages
    assert [r["kernel"] for r in records] == ["a"]
    # Appending cuts the partial line so the file stays one object per line.
    with pytest.warns(ResultsWarning, match="truncated"):
        store.append({"kernel": "c", "problem_id": "p", "pass": "fwd", "variant": "eager", "device": "cpu"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        assert [r["kernel"] for r in store.records()] == ["a", "c"]
        df = load_runs([store.dir])
    assert list(df["run_id"].unique()) == ["r1"]
    assert store.manifest()["schema_version"] == 1


def test_find_run(tmp_path):
    RunStore.create(tmp_path / "20260101-a", {})
    assert find_run("20260101-a", tmp_path).name == "20260101-a"
    assert find_run("latest", tmp_path).name == "20260101-a"
    from tpbench.spec.errors import UserError

    with pytest.raises(UserError, match="no run"):
        find_run("nope", tmp_path)
