"""Isolated cases: a segfault, a hang and a MemoryError each become one case's record, and the sweep goes on."""

import textwrap

import pytest

from tpbench.kernel.registry import Registry, load_kernel_file
from tpbench.run.case import Case
from tpbench.run.runner import Runner
from tpbench.run.sweep import sweep as run_sweep
from tpbench.spec.shapes import make_problem
from tpbench.results.store import RunStore

BAD_KERNELS = textwrap.dedent('''
    import os
    import signal
    import time

    import torch

    import tpbench


    class _Misbehave(torch.nn.Module):
        def __init__(self, how):
            super().__init__()
            self.how = how

        def forward(self, *inputs):
            if self.how == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            if self.how == "hang":
                time.sleep(60)
            raise MemoryError("test kernel ran out of memory")


    class _Bad(tpbench.Kernel):
        family, backend = "cg", "torch"
        how = ""

        def build(self, problem, device, dtype):
            return _Misbehave(self.how)


    class Segv(_Bad):
        name, how = "test-segv", "segv"


    class Hang(_Bad):
        name, how = "test-hang", "hang"


    class OOM(_Bad):
        name, how = "test-oom", "oom"
''')

TIMING = {"budget_s": 0.05, "warmup_s": 0.0, "min_samples": 3, "min_sample_s": 0.0005}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One isolated sweep over the three bad kernels with a good one after each."""
    tmp = tmp_path_factory.mktemp("isolation")
    path = tmp / "bad_kernels.py"
    path.write_text(BAD_KERNELS)
    bad = {k.name: k for k in load_kernel_file(path)}
    good = Registry.default().get("e3nn-cg-full")
    problem = make_problem("mimo", L=1, batch=16)
    order = ["test-segv", "e3nn-cg-full", "test-hang", "e3nn-cg-full", "test-oom"]
    cases = [Case(problem, bad.get(name) or good, "fwd" if i < 2 else "fwd+bwd", "eager", "cpu")
             for i, name in enumerate(order)]
    store = RunStore.create(tmp / "run", {"suite": "test"})
    runner = Runner(store, TIMING, isolate=True, timeout_s=2.0, kernel_files=[str(path)], telemetry=False)
    assert run_sweep(runner, cases, progress=False) == len(cases)
    return store.records()


def test_segfault_is_an_error_and_the_next_case_runs(sweep):
    segv, after = sweep[0], sweep[1]
    assert segv["kernel"] == "test-segv" and segv["status"] == "error"
    assert "SIGSEGV" in segv["reason"]
    assert after["kernel"] == "e3nn-cg-full" and after["status"] == "ok", after.get("reason")
    assert after["isolated"] is True and after["n_samples"] >= 3


def test_hang_past_the_timeout_is_a_timeout(sweep):
    hang = sweep[2]
    assert hang["kernel"] == "test-hang" and hang["status"] == "timeout"
    assert hang["timeout_s"] == 2.0
    assert sweep[3]["status"] == "ok", sweep[3].get("reason")


def test_memory_error_is_oom(sweep):
    oom = sweep[4]
    assert oom["kernel"] == "test-oom" and oom["status"] == "oom"
    assert "MemoryError" in oom["reason"]


def test_every_case_is_on_disk_with_its_identity(sweep):
    assert [r["kernel"] for r in sweep] == ["test-segv", "e3nn-cg-full", "test-hang", "e3nn-cg-full", "test-oom"]
    assert all(r["finished_at"] for r in sweep)


def test_worker_deaths_map_to_statuses():
    import signal

    from tpbench.run.worker import _death

    assert _death(-signal.SIGKILL)[0] == "oom"
    assert _death(-signal.SIGABRT) == ("error", "worker crashed: killed by SIGABRT")
    assert _death(3)[0] == "error" and "code 3" in _death(3)[1]


ORPHAN_PARENT = textwrap.dedent('''
    import sys, time
    from tpbench.run.worker import IsolatedRunner, WorkerConfig

    if __name__ == "__main__":  # spawn re-imports the main module in the worker
        from tpbench.kernel.registry import load_kernel_file
        from tpbench.run.case import Case
        from tpbench.spec.shapes import make_problem

        [hang] = [k for k in load_kernel_file(sys.argv[1]) if k.name == "test-hang"]
        runner = IsolatedRunner(WorkerConfig(timing={}, kernel_files=[sys.argv[1]]), timeout_s=600)
        runner._start()
        print(runner._proc.pid, flush=True)
        # The worker is busy in a hanging kernel (not waiting on the pipe) when the parent is killed.
        runner.run(Case(make_problem("mimo", L=1, batch=16), hang, "fwd", "eager", "cpu"), ["fwd"])
''')


def test_kill_9_of_the_parent_leaves_no_orphan_worker(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(ORPHAN_PARENT)
    kernels = tmp_path / "bad_kernels.py"
    kernels.write_text(BAD_KERNELS)  # test-hang sleeps 60 s, longer than the wait below
    parent = subprocess.Popen([sys.executable, str(script), str(kernels)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        os.kill(worker, 0)  # alive while the parent is
        time.sleep(3)  # let it reach the kernel's sleep
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            # Reaped by init once dead; a zombie still answers kill(0), so look at its state.
            try:
                with open(f"/proc/{worker}/stat") as f:
                    if f.read().split(")")[-1].split()[0] == "Z":
                        break
            except FileNotFoundError:
                break
            time.sleep(0.2)
        else:
            os.kill(worker, signal.SIGKILL)
            raise AssertionError("the worker outlived its killed parent")
    finally:
        if parent.poll() is None:
            parent.kill()


SLOW = textwrap.dedent('''
    import time
    from tpbench_kernels.cg.dense import TorchCGKernel


    class Slow(TorchCGKernel):
        name = "slow-cg"

        def build(self, problem, device, dtype):
            time.sleep(0.5)
            return super().build(problem, device, dtype)
''')


def test_ctrl_c_with_isolation_prints_one_line(tmp_path, tiny_suite):
    import os
    import signal
    import subprocess
    import sys
    import time

    kernel = tmp_path / "slow.py"
    kernel.write_text(SLOW)
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "tpbench", "run", "--suite", str(tiny_suite), "--kernel", str(kernel),
           "--out", str(out), "--isolate", "--no-progress", "--no-metrics"]
    # Its own process group, so that SIGINT reaches the run and its worker, as Ctrl-C in a terminal does.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not any(p.stat().st_size for p in out.glob("*/cases.jsonl")):
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 2, err  # the run's header, then one line
    assert "--resume" in lines[1]


FLAKY = textwrap.dedent('''
    import os
    import signal

    import torch

    import tpbench
    from tpbench.oracle.references.cg import ReferenceCG
    from tpbench.spec.paths import tp_paths

    MARK = os.path.join(os.path.dirname(__file__), "crashed-once")


    class _CrashOnce(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            if not os.path.exists(MARK):
                open(MARK, "w").close()
                os.kill(os.getpid(), signal.SIGSEGV)
            return self.inner(*inputs)


    class Flaky(tpbench.Kernel):
        name, family, backend = "test-flaky", "cg", "torch"

        def build(self, problem, device, dtype):
            return _CrashOnce(ReferenceCG(tp_paths(problem), problem.weights).to(device=device, dtype=dtype))
''')


def test_resume_keeps_a_worker_killing_case_unless_asked_to_retry(tmp_path):
    from tpbench.results.store import read_run_cases

    path = tmp_path / "flaky.py"
    path.write_text(FLAKY)
    [flaky] = load_kernel_file(path)
    good = Registry.default().get("e3nn-cg-full")
    problem = make_problem("mimo", L=1, batch=16)
    cases = [Case(problem, k, "fwd", "eager", "cpu") for k in (flaky, good)]
    store = RunStore.create(tmp_path / "run", {"suite": "test"})

    def again(retry):
        runner = Runner(store, TIMING, isolate=True, kernel_files=[str(path)], telemetry=False)
        return run_sweep(runner, cases, progress=False, retry=retry)

    assert again(False) == 2
    assert [r["status"] for r in store.records()] == ["error", "ok"]
    assert again(False) == 0  # a resumed run does not crash on it again
    assert again(True) == 1  # --retry: only the failed case, and now it passes
    records = read_run_cases(store.dir)
    assert [(r["kernel"], r["status"], r.get("retry", False)) for r in records] == [
        ("test-flaky", "ok", True), ("e3nn-cg-full", "ok", False)]
    assert len(store.cases_path.read_text().splitlines()) == 3  # the failure stays in the file, superseded


def test_worker_started_early_is_stopped_when_the_run_stops_before_its_first_case(capsys):
    import multiprocessing

    from tpbench.cli import main

    with pytest.raises(SystemExit) as exc:  # planning fails after the worker was started
        main(["run", "--suite", "quick", "--filter", "kernel=no-such-kernel-*", "--no-progress"])
    assert exc.value.code == 2 and "no case to run" in capsys.readouterr().err
    for child in multiprocessing.active_children():
        child.join(10)
    assert not multiprocessing.active_children()


def test_prestarted_worker_runs_cases_once_configured():
    from tpbench.run.worker import IsolatedRunner, WorkerConfig

    pool = IsolatedRunner(None).prestart()
    try:
        pool.configure(WorkerConfig(timing=dict(TIMING), telemetry=False), timeout_s=60.0)
        case = Case(make_problem("mimo", L=1, batch=16), Registry.default().get("e3nn-cg-full"), "fwd", "eager", "cpu")
        record = pool.run(case, ["fwd"])
        assert record["status"] == "ok" and record["isolated"] and pool.starts == 1
    finally:
        pool.close()
    assert not pool._proc


def test_expressivity_is_measured_in_the_worker_and_matches_in_process(tmp_path):
    """The worker computes a case's expressivity next to the case: the parent builds nothing again."""
    import functools

    from tpbench.metrics import expressivity as ex

    problem = make_problem("mimo", L=2, batch=16)
    cases = [Case(problem, Registry.default().get(name), "fwd", "eager", "cpu") for name in ("torch-cg", "gaunt-grid")]
    fields = {}
    for isolate in (True, False):
        ex._MEMORY.clear()
        cache = tmp_path / f"cache-{isolate}"
        store = RunStore.create(tmp_path / f"run-{isolate}", {"suite": "test"})
        runner = Runner(store, TIMING, isolate=isolate, telemetry=False,
                        extra_metrics=functools.partial(ex.case_fields, str(cache)))
        run_sweep(runner, cases, progress=False)
        fields[isolate] = {r["kernel"]: (r["status"], r["expressivity"], r["interactability"]) for r in store.records()}
        assert len(list(cache.glob("*.json"))) == 2 and not list(cache.glob("*.part"))
        assert bool(ex._MEMORY) is not isolate  # isolated: the parent measured nothing itself
    assert fields[True] == fields[False] == {"torch-cg": ("ok", 14, 14), "gaunt-grid": ("ok", 9, 14)}


def test_extra_metrics_that_cannot_reach_the_worker_is_a_clear_error(tmp_path):
    store = RunStore.create(tmp_path / "run", {"suite": "test"})
    runner = Runner(store, TIMING, isolate=True, telemetry=False, extra_metrics=lambda case, verified: {})
    case = Case(make_problem("mimo", L=1, batch=16), Registry.default().get("torch-cg"), "fwd", "eager", "cpu")
    with pytest.raises(TypeError, match="must pickle"):
        run_sweep(runner, [case], progress=False)
