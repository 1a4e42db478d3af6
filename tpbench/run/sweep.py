"""The sweep: every case of a plan not yet in the store, in this process or in a reused worker.

Each finished case is appended to the store at once, so Ctrl-C or a crash of
the parent loses nothing already measured and ``--resume`` skips it. With
``runner.isolate`` the cases run in a worker (:mod:`tpbench.run.worker`), so a
segfault or a hang is that case's ``error`` or ``timeout``, not the sweep's.
"""

from __future__ import annotations

import contextlib
import signal

import torch

from tpbench.run.case import Case, now
from tpbench.run.runner import Runner, skip_reason
from tpbench.run.worker import IsolatedRunner, WorkerConfig
from tpbench.spec.passes import sort_passes


LOG_EVERY = 50


def pending(store, cases: list[Case], retry: bool = False) -> tuple[list[Case], set[str]]:
    """The cases of ``cases`` not yet in ``store``, and the keys among them to mark as retries.

    A case that failed (error, timeout, oom — a kernel that killed its worker, say)
    is done like any other, so a resumed run does not crash on it again; with
    ``retry`` it is run once more and its new record replaces the failure.
    """
    retried = store.failed_keys() if retry else set()
    done = store.done_keys(retry=retry)
    return [c for c in cases if c.key not in done], retried


def sweep(runner: Runner, cases: list[Case], progress: bool = True, stream=None, *, retry: bool = False,
          pool: IsolatedRunner | None = None) -> int:
    """Run every case not already in ``runner.store``; return how many ran.

    Progress goes to ``stream`` (stderr): a tqdm bar on a terminal; elsewhere (a log file, CI)
    one plain line every :data:`LOG_EVERY` cases and at the end, not a bar redrawn hundreds of times.
    ``pool``: a worker started early (:meth:`IsolatedRunner.prestart`) for an isolated runner.
    """
    import sys

    from tqdm import tqdm

    stream = stream or sys.stderr
    tty = bool(getattr(stream, "isatty", lambda: False)())

    todo, retried = pending(runner.store, cases, retry)
    passes_of: dict[tuple[str, str], set[str]] = {}
    for c in cases:
        passes_of.setdefault((c.kernel.name, c.problem.id), set()).add(c.pass_)
    bar = tqdm(todo, disable=not (progress and tty), unit="case", dynamic_ncols=True, mininterval=1.0, file=stream)
    if runner.isolate:
        pool = pool or IsolatedRunner(None)
        pool.configure(worker_config(runner), runner.timeout_s)
    # Records of cases that did not run wait for the next case that did: a broad suite has
    # thousands, and an fsync each cost seconds. Losing them to a crash costs nothing.
    unwritten: list[dict] = []
    try:
        for done_count, case in enumerate(bar, 1):
            bar.set_description(case.label[:70])
            passes = sort_passes(passes_of[(case.kernel.name, case.problem.id)])
            skip = must_skip(case)
            record = pool.run(case, passes) if runner.isolate and not skip else runner.run_case(case, passes)
            record["finished_at"] = now()
            if case.key in retried:
                record["retry"] = True
            unwritten.append(record)
            if not skip or len(unwritten) >= LOG_EVERY * 10:
                flush(runner.store, unwritten)
            if progress and not tty and (done_count % LOG_EVERY == 0 or done_count == len(todo)):
                print(f"{done_count}/{len(todo)} cases done", file=stream, flush=True)
    finally:
        flush(runner.store, unwritten)
        if pool is not None:
            pool.close()
        runner.release()
    return len(todo)


def flush(store, records: list[dict]) -> None:
    """Append ``records`` to ``store`` and empty the list, with Ctrl-C held until both are done.

    A Ctrl-C between the write and the emptying would have the sweep's ``finally``
    write the same records again: a case twice in the run.
    """
    with interrupt_deferred():
        store.append_many(records)
        records.clear()


@contextlib.contextmanager
def interrupt_deferred():
    """Run the block to its end despite Ctrl-C; raise ``KeyboardInterrupt`` after it if one came."""
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except ValueError:  # not the main thread: signals are not ours to hold
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
        if received:
            raise KeyboardInterrupt


def must_skip(case: Case) -> bool:
    """Whether the case will not run (unavailable, skipped): its record is made here, no worker round trip.

    Most cases of a broad suite are such (a kernel that does not compute the
    problem), and sending each to the worker cost the quick suite ~30 s.
    ``available``/``supports`` are plain Python; one that raises is left to
    the worker, which records the error with the case's identity.
    """
    try:
        return skip_reason(case) is not None
    except Exception:
        return False


def worker_config(runner: Runner) -> WorkerConfig:
    """What another process needs to run cases exactly as ``runner`` would."""
    return WorkerConfig(timing={**runner.timing, "timer": runner.timer}, seed=runner.seed,
                        threads=torch.get_num_threads(), kernel_files=runner.kernel_files,
                        peaks=runner.peaks, telemetry=runner.telemetry, extra_metrics=runner.extra_metrics)
