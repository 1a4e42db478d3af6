"""The command line: a real run end to end, resume after Ctrl-C, and one clear line for bad input."""

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tpbench.cli import main
from tpbench.results.store import case_key, read_cases


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_run_show_list(capsys, tmp_path, tiny_suite):
    code, out, err = run_cli(capsys, "run", "--suite", str(tiny_suite), "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    records = read_cases(run_dir / "cases.jsonl")
    assert len(records) == 2 * 2 * 2  # problems x kernels x passes
    ok = [r for r in records if r["status"] == "ok"]
    assert ok and all(r["median_ms"] > 0 and len(r["samples_ms"]) >= 3 and r["rel_error"] < 1e-5 for r in ok)
    # Full CG on mimo(L) reaches every allowed path: 5 for L = 1, 14 for L = 2.
    assert {(r["params"]["L"], r["expressivity"], r["interactability"], r["upper_bound"]) for r in ok} == {
        (1, 5, 5, 5), (2, 14, 14, 14)}
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["schema_version"] == 1 and manifest["environment"]["packages"]["torch"]
    code, out, _ = run_cli(capsys, "show", run_dir.name, "--root", str(tmp_path))
    assert code == 0 and "mimo L=2" in out and "best" in out
    code, out, _ = run_cli(capsys, "list", "kernels")
    assert code == 0 and "torch-cg" in out and "unavailable:" in out
    code, out, _ = run_cli(capsys, "list", "suites")
    assert code == 0 and "quick" in out


def test_user_kernel_file_is_compared_with_builtins(capsys, tmp_path, tiny_suite, user_kernel_file):
    code, _, err = run_cli(capsys, "run", "--suite", str(tiny_suite), "--kernel", str(user_kernel_file),
                           "--out", str(tmp_path), "--no-progress", "--filter", "pass=fwd")
    assert code == 0, err
    [cases] = list(tmp_path.glob("*/cases.jsonl"))
    kernels = {r["kernel"]: r["status"] for r in read_cases(cases)}
    assert kernels == {"torch-cg": "ok", "e3nn-cg-full": "ok", "my-tp": "ok"}
    assert not (user_kernel_file.parent / "__pycache__").exists()  # loading a kernel file writes nothing beside it


def _bad_suite(tmp_path, body):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(body))
    return str(path)


@pytest.mark.parametrize("args,message", [
    (["run", "--suite", "no-such-suite"], "unknown suite 'no-such-suite'"),
    (["run", "--kernel", "no-such-kernel", "--suite", "quick"], "unknown kernel 'no-such-kernel'"),
    (["run", "--device", "cuda", "--suite", "quick"], "no CUDA device"),
    (["show", "no-such-run"], "no run 'no-such-run'"),
    (["run", "--suite", "quick", "--filter", "colour=red"], "unknown filter field 'colour'"),
    (["run", "--suite", "quick", "--filter", "family=cg"], "for the kernel's family use kernel_family=cg"),
])
def test_bad_input_exit_2(capsys, tmp_path, args, message):
    code, out, err = run_cli(capsys, *args, *(["--out", str(tmp_path)] if args[0] == "run" else []))
    assert code == 2
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir()), "no results directory is created for bad input"


def test_suite_typo_names_file_line_and_key(capsys, tmp_path):
    path = _bad_suite(tmp_path, '''
        [suite]
        description = "x"

        [[problems]]
        family = "mimo"
        LL = [1, 2]
    ''')
    code, _, err = run_cli(capsys, "run", "--suite", path, "--out", str(tmp_path / "out"))
    assert code == 2 and f"{path}:7" in err and "'LL'" in err


@pytest.mark.parametrize("table, line", [("[suite]\n        devcie = \"cpu\"", 3),
                                         ("[suite]\n        [suite.timing]\n        budjet_s = 1.0", 4)])
def test_suite_header_typo_names_file_line_key_and_table(capsys, tmp_path, table, line):
    path = _bad_suite(tmp_path, f'''
        {table}

        [[problems]]
        family = "mimo"
        L = [1]
    ''')
    code, _, err = run_cli(capsys, "run", "--suite", path, "--out", str(tmp_path / "out"))
    where = "[suite.timing]" if "timing" in table else "[suite]"
    assert code == 2 and f"{path}:{line}" in err and f"in {where}; expected one of" in err


def test_malformed_irreps_in_suite(capsys, tmp_path):
    path = _bad_suite(tmp_path, '''
        [[problems]]
        family = "custom"
        irreps_in1 = "1x9q"
        irreps_in2 = "0e"
        irreps_out = "0e"
    ''')
    code, _, err = run_cli(capsys, "run", "--suite", path, "--out", str(tmp_path / "out"))
    assert code == 2 and "malformed irreps_in1 '1x9q'" in err and "bad.toml:4" in err


def test_kernel_file_without_kernel(capsys, tmp_path):
    path = tmp_path / "nothing.py"
    path.write_text("value = 3\n")
    code, _, err = run_cli(capsys, "run", "--kernel", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and "defines no kernel" in err


SLOW_KERNEL = '''
import time
from tpbench_kernels.cg.dense import TorchCGKernel


class SlowCG(TorchCGKernel):
    name = "slow-cg"

    def build(self, problem, device, dtype):
        time.sleep(0.4)  # long enough for the test to interrupt between cases
        return super().build(problem, device, dtype)
'''


def test_interrupted_run_resumes_with_every_case_once(capsys, tmp_path, tiny_suite):
    kernel = tmp_path / "slow.py"
    kernel.write_text(SLOW_KERNEL)
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "tpbench", "run", "--suite", str(tiny_suite), "--kernel", "slow-cg",
           "--kernel", "torch-cg", "--kernel", str(kernel), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    cases = None
    while time.time() < deadline:
        found = list(out.glob("*/cases.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 2:
            cases = found[0]
            break
        time.sleep(0.05)
    assert cases is not None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    before = len(read_cases(cases))
    total = 2 * 2 * 2  # problems x kernels x passes
    assert before < total
    code, _, err = run_cli(capsys, "run", "--resume", cases.parent.name, "--out", str(out), "--no-progress",
                           "--kernel", str(kernel))  # a resumed run imports only files passed again
    assert code == 0, err
    keys = collections.Counter(case_key(r) for r in read_cases(cases))
    assert len(keys) == total and set(keys.values()) == {1}


def test_ctrl_c_as_a_record_is_written_leaves_it_written_once(tmp_path, monkeypatch):
    """Ctrl-C arriving just after a record reached the disk must not have the sweep write it again."""
    from tpbench.kernel.registry import Registry
    from tpbench.results.store import RunStore
    from tpbench.run.case import Case
    from tpbench.run.runner import Runner
    from tpbench.run.sweep import sweep
    from tpbench.spec.shapes import make_problem

    problem = make_problem("mimo", L=1, batch=8)
    cases = [Case(problem, Registry.default().get(name), "fwd", "eager", "cpu") for name in ("torch-cg", "e3nn-cg-full")]
    store = RunStore.create(tmp_path / "run", {"suite": "test"})
    runner = Runner(store, {"budget_s": 0.02, "warmup_s": 0.0, "min_samples": 3}, telemetry=False)
    real_fsync, interrupted = os.fsync, []

    def fsync_then_ctrl_c(fd):
        real_fsync(fd)
        if not interrupted:
            interrupted.append(fd)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "fsync", fsync_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        sweep(runner, cases, progress=False)
    on_disk = lambda: collections.Counter(case_key(r) for r in read_cases(store.cases_path))  # noqa: E731
    assert interrupted and list(on_disk().values()) == [1]
    assert sweep(runner, cases, progress=False) == 1  # resumed: only the case not yet written
    keys = on_disk()
    assert len(keys) == 2 and set(keys.values()) == {1}


def test_repeat_runs_rounds_and_loader_merges_them(capsys, tmp_path, tiny_suite):
    from tpbench.results.store import load_runs

    code, _, err = run_cli(capsys, "run", "--suite", str(tiny_suite), "--out", str(tmp_path), "--no-progress",
                           "--repeat", "2", "--filter", "kernel=torch-cg", "--no-metrics")
    assert code == 0, err
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    records = read_cases(run_dir / "cases.jsonl")
    # Rounds over the sweep: every case once, then every case again.
    assert [r["repetition"] for r in records] == [0] * 4 + [1] * 4
    # The final message counts cases as a user means them: repetitions merged.
    assert "done: 8 cases run now; the run holds 4 cases (2 repetitions each, merged): 4 timed" in err
    assert records[0]["gate_s"] > 0 and records[4]["errors"] == records[0]["errors"]  # verdict reused
    df = load_runs([run_dir])
    assert len(df) == 4 and set(df["repetitions"]) == {2}
    row = df.iloc[0]
    assert len(row["repeat_medians_ms"]) == 2 and row["n_samples"] == len(row["samples_ms"])


WRONG_KERNEL = '''
import torch
from tpbench import Kernel
from tpbench.spec.paths import tp_paths
from tpbench.oracle.references.cg import ReferenceCG


class Doubled(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, *args):
        return 2 * self.inner(*args)


class WrongTP(Kernel):
    name = "wrong-tp"
    family = "cg"
    backend = "torch"

    def build(self, problem, device, dtype):
        return Doubled(ReferenceCG(tp_paths(problem), problem.weights)).to(device=device, dtype=dtype)
'''


def test_show_when_nothing_passed_says_why_and_the_hint_works(capsys, tmp_path, tiny_suite):
    kernel = tmp_path / "wrong.py"
    kernel.write_text(WRONG_KERNEL)
    out = tmp_path / "elsewhere"
    code, _, err = run_cli(capsys, "run", "--suite", str(tiny_suite), "--kernel", "wrong-tp",
                           "--kernel", str(kernel), "--out", str(out), "--no-progress", "--no-metrics",
                           "--filter", "pass=fwd")
    assert code == 0, err
    hint = err.split("Show them with: ")[1].split()
    assert hint[:2] == ["tpbench", "show"]
    code, shown, err = run_cli(capsys, *hint[1:])  # the printed command, run from here, finds the run
    assert code == 0, err
    assert "no case passed" in shown and "incorrect" in shown


def _dry(capsys, *filters):
    code, out, err = run_cli(capsys, "run", "--suite", "quick", "--dry-run",
                             *[a for f in filters for a in ("--filter", f)])
    assert code == 0, err
    return out.splitlines()[:-1]


def test_filters_use_suite_names_and_problem_parameters(capsys):
    everything = _dry(capsys)
    mimo = _dry(capsys, "family=mimo")  # the problem's family, as in suite files
    assert mimo and all(" · mimo L=" in line for line in mimo)
    assert len(mimo) < len(everything)
    l2 = _dry(capsys, "L=2")  # a problem parameter
    assert l2 and all(" L=2" in line for line in l2) and not any(" L=1 " in line for line in l2)
    assert set(_dry(capsys, "family=mimo", "L=2")) == set(mimo) & set(l2)
    cg = _dry(capsys, "kernel_family=cg")  # the kernel's family stays reachable
    assert cg and len(cg) < len(everything)
    assert _dry(capsys, "mimo L=2") == [line for line in everything if "mimo L=2" in line]  # bare substring


def test_help_keeps_whole_summaries_and_list_has_a_header(capsys):
    code, out, _ = run_cli(capsys, "--help")
    commands = out.split("Commands:")[1]
    assert code == 0 and "..." not in commands and "results go to OUT/<run-id>/." in " ".join(commands.split())
    code, out, _ = run_cli(capsys, "list", "kernels")
    assert code == 0 and out.splitlines()[0].split() == ["KERNEL", "FAMILY", "BACKEND", "DEVICES", "STATE"]


def test_progress_on_a_non_terminal_is_a_line_per_block_of_cases(capsys, tmp_path, tiny_suite):
    code, _, err = run_cli(capsys, "run", "--suite", str(tiny_suite), "--out", str(tmp_path), "--no-metrics",
                           "--filter", "kernel=torch-cg")
    assert code == 0, err
    # pytest's captured stderr is no terminal: no bar redraws (carriage returns), one line at the end.
    assert "\r" not in err and "4/4 cases done" in err and "it/s" not in err and "case/s" not in err


def test_a_suite_for_another_device_needs_yes(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--suite", "gpu-smoke", "--device", "cpu", "--out", str(tmp_path))
    assert code == 2 and "made for cuda" in err and "--yes" in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())
    code, out, _ = run_cli(capsys, "run", "--suite", "gpu-smoke", "--device", "cpu", "--out", str(tmp_path),
                           "--dry-run")
    assert code == 0 and "cases" in out


def test_warnings_are_one_line_without_source(capsys, tmp_path, tiny_suite):
    code, _, err = run_cli(capsys, "run", "--suite", str(tiny_suite), "--out", str(tmp_path), "--no-progress",
                           "--filter", "pass=fwd", "--no-isolate", "--no-metrics")
    assert code == 0, err
    [cases] = list(tmp_path.glob("*/cases.jsonl"))
    with open(cases, "a") as f:
        f.write("not json at all\n")
    code, out, err = run_cli(capsys, "show", str(cases.parent))
    assert code == 0 and "best" in out
    assert err.splitlines() == [f"tpbench: warning: {cases}:5: unreadable line skipped (Expecting value)"]
