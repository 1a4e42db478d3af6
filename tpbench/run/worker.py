"""Cases in a worker process: a crash, an out-of-memory or a hang is one case's result.

The parent keeps one worker (``multiprocessing`` *spawn* context: a fresh
interpreter, no forked CUDA state) and sends it one case at a time as plain
data — the problem dict, the kernel name, the pass, the variant, the device
and the passes to gate — together, once, with the ``--kernel`` files so user
kernels load in the worker too. The worker rebuilds the case, runs it with an
ordinary :class:`~tpbench.run.runner.Runner` (so a kernel's module and gate are
reused across its passes, as in-process) and sends the record back.

The parent waits at most ``timeout_s`` per case. Then:

=================================  =========================================
what happened                      the case's record
=================================  =========================================
a record came back                 that record
no answer within ``timeout_s``     ``timeout``; the worker is killed
the worker died by a signal        ``error`` naming it (SIGSEGV, SIGABRT, …);
                                   ``oom`` for SIGKILL, which on Linux is
                                   almost always the kernel's OOM killer
the worker exited                  ``error`` with its exit code
=================================  =========================================

and the next case starts a fresh worker. The worker dies with its parent
(:func:`die_with_parent`), so a ``kill -9`` of the run leaves no orphan. Starting one costs seconds
(importing torch and e3nn), which is why a healthy worker is reused; the
start-up wait is not charged to a case's timeout.

The run's ``extra_metrics`` (expressivity) travel in the config as a picklable
callable and are computed in the worker, next to the case: what they ask of a kernel
(its native irreps, for cuEquivariance a descriptor that takes up to a second to build)
the worker has at hand, and the parent would build it again while the worker waits.

The worker's process can be started before its config is known
(:meth:`IsolatedRunner.prestart`), so that its imports overlap the parent's planning;
while it waits it asks every kernel whether it is available, as the parent's plan does,
because that imports each kernel's library (mace-torch alone takes a second), which the
first case of that library would otherwise wait for.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
import signal
from multiprocessing.connection import wait
from typing import Any, Callable

# tpbench.run.case (torch, e3nn) is imported where used: the parent starts a worker before its own
# heavy imports, and the spawned worker imports this module first.

STARTUP_TIMEOUT_S = 300.0


@dataclasses.dataclass
class WorkerConfig:
    """Everything a worker needs besides the cases themselves (plain, picklable data)."""

    timing: dict[str, Any]
    seed: int = 0
    threads: int = 1
    kernel_files: list[str] = dataclasses.field(default_factory=list)
    peaks: dict[str, Any] | None = None
    telemetry: bool = True
    #: the runner's ``extra_metrics(case, verified)``: a module-level function or a ``functools.partial`` of one
    extra_metrics: Callable | None = None


def task_of(case, passes: list[str]) -> dict[str, Any]:
    from tpbench.run.case import base_record

    return {"problem": case.problem.to_dict(), "kernel": case.kernel.name, "pass": case.pass_,
            "variant": case.variant, "device": case.device, "repetition": case.repetition,
            "passes": list(passes), "identity": base_record(case)}


class TaskRunner:
    """Runs cases sent as plain data (:func:`task_of`) in this process: the worker's side of every executor."""

    def __init__(self, config: WorkerConfig):
        import torch

        from tpbench.kernel.registry import Registry
        from tpbench.run.runner import Runner

        torch.set_num_threads(config.threads)
        self.registry = Registry.default()
        self.registry.resolve(config.kernel_files)
        timing = dict(config.timing)
        self.runner = Runner(None, timing, seed=config.seed, extra_metrics=config.extra_metrics,
                             timer=timing.pop("timer", None), peaks=config.peaks, telemetry=config.telemetry)

    def __call__(self, task: dict[str, Any]) -> dict[str, Any]:
        from tpbench.run.case import Case
        from tpbench.spec.problem import Problem

        try:
            case = Case(Problem.from_dict(task["problem"]), self.registry.get(task["kernel"]), task["pass"],
                        task["variant"], task["device"], task.get("repetition", 0))
            return self.runner.run_case(case, task["passes"])
        except Exception as exc:  # rebuilding the case failed: that case's error, the worker lives on
            return {**task.get("identity", {}), "status": "error",
                    "reason": f"worker could not run the case: {type(exc).__name__}: {exc}"}


def die_with_parent(parent_pid: int) -> None:
    """Make the kernel kill this process when its parent dies (Linux ``PR_SET_PDEATHSIG``).

    Without it a ``kill -9`` of ``tpbench run`` leaves the worker running
    (a hung kernel, forever). Elsewhere a thread polls the parent instead.
    """
    import os
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent_pid:  # the parent died before the call took effect
                os._exit(1)
            return
    import threading
    import time

    def poll() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=poll, name="tpbench-parent-watch", daemon=True).start()


def worker_main(conn, parent_pid: int | None = None) -> None:
    """The worker's loop: import what every case needs, receive the :class:`WorkerConfig`,
    then rebuild each case from plain data, run it and send the record back."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    # Ctrl-C reaches the whole process group; the parent saves, stops this worker and prints one line,
    # so the worker must not print a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from tpbench.kernel.registry import plugin_kernels
    from tpbench.run import runner  # noqa: F401  (the imports are the start-up cost the parent overlaps)

    for kernel in plugin_kernels():
        if conn.poll():  # the config is here: the cases come first
            break
        try:
            kernel.available()
        except Exception:  # its cases will say so
            pass
    try:
        config = conn.recv()
    except EOFError:
        return
    if config is None:
        return
    run = TaskRunner(config)
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent went away
            return
        if task is None:
            return
        conn.send(run(task))


def _death(exitcode: int | None) -> tuple[str, str]:
    """``(status, reason)`` for a worker that ended without answering."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return "oom", f"worker killed by {name} (most likely the kernel's out-of-memory killer)"
        return "error", f"worker crashed: killed by {name}"
    return "error", f"worker exited with code {exitcode} without a result"


class IsolatedRunner:
    """Runs cases one at a time in a reused spawned worker (see the module docstring).

    :meth:`prestart` starts the worker's process before the config is known, so its
    imports (seconds) overlap the parent's planning; :meth:`configure` gives it the config.
    """

    def __init__(self, config: WorkerConfig | None, timeout_s: float = 300.0,
                 startup_timeout_s: float = STARTUP_TIMEOUT_S):
        self.config, self.timeout_s = config, timeout_s
        self.startup_timeout_s = startup_timeout_s
        self._proc = None
        self._conn = None
        self._configured = False
        self.starts = 0

    def configure(self, config: WorkerConfig, timeout_s: float) -> None:
        self.config, self.timeout_s = config, timeout_s

    def prestart(self) -> "IsolatedRunner":
        """Start the worker's process now; it imports and then waits for its config."""
        if self._proc is None:
            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, os.getpid()), name="tpbench-worker", daemon=True)
            proc.start()
            child.close()
            self._proc, self._conn, self._configured = proc, parent, False
            self.starts += 1
        return self

    def _start(self) -> None:
        self.prestart()
        try:
            self._conn.send(self.config)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            self._kill()
            raise TypeError(f"the isolated worker's config must pickle (extra_metrics: a module-level "
                            f"function or a functools.partial of one): {exc}") from None
        self._configured = True
        answer = self._wait(self.startup_timeout_s)
        if answer != ("ok", "ready"):
            status, reason = answer if answer[0] != "ok" else ("error", f"unexpected {answer[1]!r}")
            self._kill()
            raise RuntimeError(f"the isolated worker did not start: {status}: {reason}")

    def _wait(self, timeout: float) -> tuple[str, Any]:
        """``("ok", message)``, ``("timeout", why)`` or a death's ``(status, reason)``."""
        ready = wait([self._conn, self._proc.sentinel], timeout)
        if self._conn in ready:
            try:
                return "ok", self._conn.recv()
            except (EOFError, OSError):
                pass
        if not ready:
            return "timeout", f"no result within {timeout:g} s; the worker was stopped"
        self._proc.join(5)
        return _death(self._proc.exitcode)

    def _kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(10)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None
        self._configured = False

    def run(self, case, passes: list[str]) -> dict[str, Any]:
        """The record of ``case``, whatever happens to the worker."""
        if self._proc is None or not self._proc.is_alive():
            self._kill()
        if not self._configured:
            self._start()
        task = task_of(case, passes)
        self._conn.send(task)
        status, answer = self._wait(self.timeout_s)
        if status == "ok":
            record = {**task["identity"], **answer}  # whatever happened there, the case's identity is here
            record["isolated"] = True
            return record
        self._kill()
        record = dict(task["identity"])
        record.update(status=status, reason=answer, isolated=True)
        if status == "timeout":
            record["timeout_s"] = self.timeout_s
        return record

    def close(self) -> None:
        """Stop the worker. Every record is already here, so its interpreter's shutdown (a second,
        with torch loaded) is not waited for: a moment's grace, then it is killed."""
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(0.2)
            except (OSError, BrokenPipeError):
                pass
        self._kill()
