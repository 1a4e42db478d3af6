"""Sweeps beyond one process: --shard coverage and balance, shard files and merge, Ray and submitit executors."""

import collections
import json
import textwrap

import pytest

from tpbench.cli import main
from tpbench.kernel.registry import Registry
from tpbench.results.store import RunStore, case_key, merge, open_run, read_cases
from tpbench.run.case import plan
from tpbench.run.shard import assign, parse_shard, shard
from tpbench.run.suite import load_suite
from tpbench.spec.errors import UserError

# Kills its own process when built for mimo L=2: a segfault or a lost node, as the executor sees it.
KILLER = textwrap.dedent('''
    import os, signal
    import tpbench
    from tpbench_kernels.cg.dense import TorchCGKernel

    class Killer(TorchCGKernel):
        name = "killer"

        def build(self, problem, device, dtype):
            if dict(problem.params).get("L") == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().build(problem, device, dtype)
''')


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture
def tiny(tiny_suite):  # conftest's two-kernel, two-problem suite
    return tiny_suite


@pytest.fixture(scope="module")
def quick_cases():
    return plan(load_suite("quick"), Registry.default(), "cpu")


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_cover_the_plan_once_and_are_deterministic(quick_cases, n):
    parts = [shard(quick_cases, i, n) for i in range(1, n + 1)]
    keys = [c.key for part in parts for c in part]
    assert sorted(keys) == sorted(c.key for c in quick_cases) and len(set(keys)) == len(keys)
    assert [c.key for c in shard(quick_cases, 1, n)] == [c.key for c in parts[0]]  # same answer every time
    owner = assign(quick_cases, n)
    group_owner: dict[tuple[str, str], int] = {}
    for case in quick_cases:  # a kernel x problem group stays together (one build, one gate)
        group = (case.kernel.name, case.problem.id)
        assert owner[case.key] == group_owner.setdefault(group, owner[case.key])


def test_shards_are_balanced_by_estimated_cost(quick_cases):
    from tpbench.run.shard import estimated_cost

    loads = collections.Counter()
    owner = assign(quick_cases, 2)
    for case in quick_cases:
        loads[owner[case.key]] += estimated_cost(case)
    group_cost = collections.Counter()
    for c in quick_cases:
        group_cost[(c.kernel.name, c.problem.id)] += estimated_cost(c)
    biggest_group = max(group_cost.values())
    assert abs(loads[1] - loads[2]) <= biggest_group  # greedy LPT: off by at most one group


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "1", "", "1/0"])
def test_bad_shard_is_named(text):
    with pytest.raises(UserError, match="--shard"):
        parse_shard(text)


def _record(kernel, machine, pass_="fwd"):
    return {"kernel": kernel, "problem_id": "p", "pass": pass_, "variant": "eager", "device": "cpu",
            "status": "ok", "median_ms": 1.0, "machine": machine, "problem_label": "x"}


def test_merge_refuses_shards_of_different_machines_unless_allowed(tmp_path):
    run = RunStore.create(tmp_path / "r", {"suite": "s"})
    RunStore(run.dir, shard="1-of-2").append(_record("a", "m1"))
    RunStore(run.dir, shard="2-of-2").append(_record("b", "m2"))
    with pytest.raises(UserError, match="2 different machines"):
        open_run(run.dir)  # show/report merge implicitly and refuse too
    with pytest.raises(UserError, match="--allow-mixed"):
        merge(run.dir)
    assert read_cases(run.dir / "cases.jsonl") == []  # nothing changed by the refusal
    assert merge(run.dir, allow_mixed=True) == {"shards": 2, "added": 2, "machines": 2}
    assert json.loads((run.dir / "run.json").read_text())["mixed_machines"] is True
    assert {r["kernel"] for r in open_run(run.dir).records} == {"a", "b"}


def test_shard_files_are_read_with_the_run_and_merged_once(tmp_path):
    run = RunStore.create(tmp_path / "r", {"suite": "s"})
    RunStore(run.dir, shard="1-of-2").append(_record("a", "m"))
    RunStore(run.dir, shard="2-of-2").append(_record("a", "m"))  # the same case twice (a re-run shard)
    RunStore(run.dir, shard="2-of-2").append(_record("b", "m"))
    assert [r["kernel"] for r in open_run(run.dir).records] == ["a", "b"]
    merge(run.dir)
    merge(run.dir)  # idempotent
    assert [r["kernel"] for r in read_cases(run.dir / "cases.jsonl")] == ["a", "b"]


def test_shards_in_one_run_directory_cover_the_suite(capsys, tmp_path, tiny):
    for i in (1, 2):
        code, _, err = run(capsys, "run", "--suite", str(tiny), "--out", str(tmp_path), "--run-id", "r",
                           "--shard", f"{i}/2", "--no-progress", "--no-metrics")
        assert code == 0, err
    records = open_run(tmp_path / "r").records
    assert len(records) == 8 and all(r["status"] == "ok" and r["machine"] for r in records)
    code, out, _ = run(capsys, "merge", "r", "--root", str(tmp_path))
    assert code == 0 and "8 cases added" in out


def test_missing_executor_package_is_a_clear_error(capsys, tmp_path, tiny, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    monkeypatch.delitem(__import__("sys").modules, "ray", raising=False)
    code, _, err = run(capsys, "run", "--suite", str(tiny), "--out", str(tmp_path), "--executor", "ray",
                       "--no-progress", "--no-metrics")
    assert code == 2 and "pip install -e '.[ray]'" in err and "Traceback" not in err


def test_ray_two_workers_lose_only_the_dying_case_and_resume_duplicates_nothing(capsys, tmp_path, tiny):
    pytest.importorskip("ray")
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    args = ["--suite", str(tiny), "--out", str(tmp_path / "res"), "--executor", "ray", "--workers", "2",
            "--kernel", str(killer), "--kernel", "torch-cg", "--no-progress", "--no-metrics"]
    code, _, err = run(capsys, "run", "--run-id", "r", *args)
    assert code == 0, err
    records = read_cases(tmp_path / "res" / "r" / "cases.jsonl")
    by = {(r["kernel"], r["params"]["L"], r["pass"]): r for r in records}
    assert len(records) == 8
    assert all(by[("torch-cg", L, p)]["status"] == "ok" for L in (1, 2) for p in ("fwd", "fwd+bwd"))
    assert all(by[("killer", 1, p)]["status"] == "ok" for p in ("fwd", "fwd+bwd"))
    dead = [by[("killer", 2, p)] for p in ("fwd", "fwd+bwd")]
    assert all(r["status"] == "error" and "Ray worker died" in r["reason"] for r in dead)
    assert all(r["executor"] == "ray" for r in records)
    code, _, err = run(capsys, "run", "--resume", "r", *args)
    assert code == 0, err
    keys = collections.Counter(case_key(r) for r in read_cases(tmp_path / "res" / "r" / "cases.jsonl"))
    assert len(keys) == 8 and set(keys.values()) == {1}


def test_submitit_local_array_runs_shards_and_merges(capsys, tmp_path, tiny):
    pytest.importorskip("submitit")
    code, _, err = run(capsys, "run", "--suite", str(tiny), "--out", str(tmp_path), "--run-id", "r",
                       "--executor", "slurm", "--gpus", "2", "--slurm-cluster", "local", "--no-progress",
                       "--no-metrics")
    assert code == 0, err
    records = read_cases(tmp_path / "r" / "cases.jsonl")
    assert len(records) == 8 and all(r["status"] == "ok" for r in records)
    assert sorted(p.name for p in (tmp_path / "r" / "shards" / "merged").iterdir()) == ["1-of-2.jsonl", "2-of-2.jsonl"]
    assert not list((tmp_path / "r").rglob("*.pkl")), "submitit's pickles stay out of the run directory"
