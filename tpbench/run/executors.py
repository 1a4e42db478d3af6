"""Sweeps beyond one process: Ray (one case per device slot on a cluster) and Slurm (a job array of shards).

Every executor runs cases the way the isolated worker does
(:class:`tpbench.run.worker.TaskRunner`): the case travels as plain data, the
kernel registry and the user's kernel files are loaded where it runs, and the
record comes back as plain data to be appended to the run directory at once.

**Ray.** One actor per device slot — a GPU (``num_gpus=1``) or, on CPUs, a set
of ``threads`` cores (``num_cpus=threads``, and torch uses that many threads),
so no two timed cases share a device or a core set. A kernel × problem group
goes to one actor, its cases one call at a time (the actor keeps the built
module and the gate verdicts, as a single process does); each record is
appended as it arrives. An actor that dies (a segfault, a lost node) costs
its running case, recorded ``error`` with Ray's reason; a fresh actor takes
the rest of the group, and ``tpbench run --resume`` finishes anything left.

**Slurm** (through submitit). A job array of ``n`` tasks, task ``i`` running
shard ``i/n`` (:mod:`tpbench.run.shard`) into its own shard file of the run
directory; the parent waits for the array and merges the shards
(:func:`tpbench.results.store.merge`). The same code runs on submitit's local
executor, which is how it is tested without a cluster.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from tpbench.results.store import RunStore
from tpbench.run import EXECUTORS  # noqa: F401  (named here, defined without heavy imports)
from tpbench.run.case import Case, base_record, now
from tpbench.run.worker import TaskRunner, WorkerConfig, task_of
from tpbench.spec.errors import UserError
from tpbench.spec.passes import sort_passes



def require(module: str, extra: str):
    """Import an optional package or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"the {extra} executor needs {module}, which is not installed here ({exc}); "
                        f"install it with: pip install -e '.[{extra}]'") from None


def groups_of(cases: list[Case]) -> list[list[Case]]:
    """Cases grouped by kernel × problem, in plan order."""
    out: dict[tuple[str, str], list[Case]] = {}
    for case in cases:
        out.setdefault((case.kernel.name, case.problem.id), []).append(case)
    return list(out.values())


class RayWorker:
    """A Ray actor body: a :class:`TaskRunner` kept for the actor's life."""

    def __init__(self, config: WorkerConfig):
        self.run = TaskRunner(config)

    def case(self, task: dict[str, Any]) -> dict[str, Any]:
        return self.run(task)


@dataclasses.dataclass
class RaySlots:
    """How many actors, and what each holds."""

    count: int
    num_cpus: float
    num_gpus: float


def ray_slots(ray, device: str, threads: int, workers: int | None) -> RaySlots:
    resources = ray.cluster_resources()
    if device.startswith("cuda"):
        gpus = int(resources.get("GPU", 0))
        if gpus < 1:
            raise UserError("--executor ray --device cuda: the Ray cluster has no GPU")
        return RaySlots(min(workers or gpus, gpus), 1, 1)
    cores = int(resources.get("CPU", 1))
    count = max(1, cores // threads)
    return RaySlots(min(workers or count, count), threads, 0)


def ray_sweep(store: RunStore, cases: list[Case], config: WorkerConfig, device: str, *,
              address: str | None = None, workers: int | None = None, progress: bool = True,
              retry: bool = False) -> int:
    """Run every case not yet in ``store`` on Ray (with ``retry``, failed ones again); return how many ran."""
    ray = require("ray", "ray")
    from tqdm import tqdm

    from tpbench.run.sweep import pending

    started = not ray.is_initialized()
    if started:
        # A local cluster stays on loopback: nothing of it listens on the machine's network addresses.
        kwargs = {"address": address} if address else {"num_cpus": (workers or 1) * config.threads,
                                                       "_node_ip_address": "127.0.0.1"}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
    try:
        todo, retried = pending(store, cases, retry)
        passes_of: dict[tuple[str, str], list[str]] = {}
        for c in cases:
            passes_of.setdefault((c.kernel.name, c.problem.id), []).append(c.pass_)
        slots = ray_slots(ray, device, config.threads, workers)
        actor_class = ray.remote(RayWorker).options(num_cpus=slots.num_cpus, num_gpus=slots.num_gpus,
                                                     max_restarts=0)
        queue = groups_of(todo)
        bar = tqdm(total=len(todo), disable=not progress, unit="case", dynamic_ncols=True, mininterval=1.0)
        actors = [actor_class.remote(config) for _ in range(min(slots.count, len(queue)) or 1)]
        current: list[list[Case]] = [[] for _ in actors]
        inflight: dict[Any, tuple[int, Case]] = {}

        def feed(slot: int) -> None:
            if not current[slot] and queue:
                current[slot] = list(queue.pop(0))
            if current[slot]:
                case = current[slot].pop(0)
                passes = sort_passes(passes_of[(case.kernel.name, case.problem.id)])
                inflight[actors[slot].case.remote(task_of(case, passes))] = (slot, case)

        for slot in range(len(actors)):
            feed(slot)
        while inflight:
            [ref], _ = ray.wait(list(inflight), num_returns=1)
            slot, case = inflight.pop(ref)
            try:
                record = {**base_record(case), **ray.get(ref)}  # the identity, whatever happened there
            except ray.exceptions.RayError as exc:  # the actor died with the case: that case's error only
                record = base_record(case)
                record.update(status="error", reason=f"Ray worker died running the case: {type(exc).__name__}: "
                                                     f"{str(exc).splitlines()[0][:500]}")
                actors[slot] = actor_class.remote(config)
            record.update(executor="ray", finished_at=now(), **({"retry": True} if case.key in retried else {}))
            store.append(record)
            bar.update(1)
            bar.set_description(case.label[:70])
            feed(slot)
        bar.close()
        return len(todo)
    finally:
        if started:
            ray.shutdown()


def slurm_sweep(task: Callable[[list[str]], int], folder, argv: list[str], n: int, *, partition: str | None,
                gpus_per_task: int, time_min: int, cluster: str | None = None) -> list[int]:
    """Submit ``n`` array tasks ``task(argv + ["--shard", "i/n"])`` and wait; their exit codes.

    ``cluster="local"`` runs the array on this machine (submitit's local
    executor), otherwise submitit's Slurm executor with ``partition``.
    submitit's own job files (it pickles the call) go to ``folder``, which
    is kept out of the run directory: a results directory holds data only.
    """
    submitit = require("submitit", "slurm")
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params: dict[str, Any] = {"timeout_min": time_min, "gpus_per_node": gpus_per_task, "tasks_per_node": 1}
    if partition:
        params["slurm_partition"] = partition
    executor.update_parameters(**params)
    jobs = executor.map_array(task, [[*argv, "--shard", f"{i}/{n}"] for i in range(1, n + 1)])
    return [job.result() for job in jobs]
