"""``tpbench run``: run a suite and write a results directory."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from pathlib import Path

import click

from tpbench.run import EXECUTORS
from tpbench.spec.errors import UserError


def check_device(device: str) -> str:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is available here (torch {torch.__version__}, "
                        f"CUDA build: {torch.version.cuda or 'no'})")
    if device != "cpu" and not device.startswith("cuda"):
        raise UserError(f"unknown device {device!r}; expected cpu or cuda[:N]")
    return device


def new_run_id(suite: str, device: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{suite}-{device.replace(':', '')}"


def device_facts(device: str) -> dict:
    """For a CUDA run: the measured and datasheet peaks and the clock state (read-only), for run.json."""
    if not device.startswith("cuda"):
        return {}
    from tpbench.measure.peaks import measure_peaks
    from tpbench.measure.telemetry import clock_state

    click.echo("measuring the device's peaks (bandwidth, matmul) ...", err=True)
    try:
        peaks = measure_peaks(device)
    except Exception as exc:  # peaks are context: a failure is recorded, the run goes on
        peaks = {"error": f"{type(exc).__name__}: {exc}"}
    return {"peaks": peaks, "clocks": clock_state(device)}


def shard_name(shard_of: tuple[int, int] | None) -> str | None:
    return f"{shard_of[0]}-of-{shard_of[1]}" if shard_of else None


def create_or_join(directory: Path, manifest: dict, shard: str | None):
    """A new run directory, or with a shard the one another shard of the same run created first."""
    import json
    import time

    from tpbench.results.store import RunStore

    try:
        return RunStore.create(directory, manifest, shard=shard)
    except FileExistsError:
        if not shard:
            raise UserError(f"run directory {str(directory)!r} exists; continue it with --resume") from None
    for _ in range(100):  # the creating shard writes run.json right after the directory
        try:
            theirs = json.loads((directory / "run.json").read_text())
            break
        except (OSError, json.JSONDecodeError):
            time.sleep(0.1)
    else:
        raise UserError(f"run directory {str(directory)!r} exists without a readable run.json")
    if theirs.get("suite_path") != manifest["suite_path"] or theirs.get("device") != manifest["device"]:
        raise UserError(f"run {directory.name!r} was started with suite {theirs.get('suite_path')!r} on "
                        f"{theirs.get('device')!r}; this shard has {manifest['suite_path']!r} on {manifest['device']!r}")
    return RunStore(directory, shard=shard)


def run_shard(argv: list[str]) -> int:
    """One array task: ``tpbench run`` with ``argv`` (which carries ``--shard i/n``); its exit code."""
    from tpbench.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def slurm_shards(store, suite, device, kernels, filters, threads, n_tasks, partition, time_min, cluster,
                 out_dir, metrics) -> int:
    """Submit the run's shards as a job array, wait, merge; how many cases were added."""
    from tpbench.results.store import merge
    from tpbench.run.executors import slurm_sweep

    if not n_tasks or n_tasks < 1:
        raise UserError("--executor slurm needs --gpus N (the number of array tasks, one GPU each)")
    argv = ["run", "--suite", str(suite.path), "--device", device, "--out", str(Path(out_dir)), "--run-id",
            store.run_id, "--threads", str(threads), "--no-progress", *(["--no-metrics"] if not metrics else [])]
    for k in kernels:
        argv += ["--kernel", k]
    for f in filters:
        argv += ["--filter", f]
    codes = slurm_sweep(run_shard, Path(out_dir) / ".slurm" / store.run_id, argv, n_tasks, partition=partition, cluster=cluster, time_min=time_min,
                        gpus_per_task=1 if device.startswith("cuda") else 0)
    failed = [i + 1 for i, code in enumerate(codes) if code]
    if failed:
        click.echo(f"shards {failed} exited with an error; finish them with --resume {store.run_id}", err=True)
    return merge(store.dir)["added"]


@click.command("run")
@click.option("--suite", "suite_ref", default=None, help="Suite name (suites/NAME.toml) or TOML file  [default: quick].")
@click.option("--device", default=None, help="cpu or cuda[:N]; default: the suite's device.")
@click.option("--kernel", "kernels", multiple=True, metavar="NAME|FILE",
              help="Kernel name/glob to run (repeatable), or a .py file whose kernels are added and compared.")
@click.option("--filter", "filters", multiple=True, metavar="EXPR",
              help="Keep cases matching EXPR (repeat to combine): key=glob on kernel, kernel_family, backend, "
                   "problem, family (the problem's, as in suite files), pass, dtype, or a problem parameter "
                   "(L=2, batch=64); or a bare substring of 'kernel · problem · pass'.")
@click.option("--out", "out_dir", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", default=None, metavar="RUN", help="Continue this run: finished cases are not redone.")
@click.option("--retry", is_flag=True,
              help="With --resume: run again the cases that failed (error, timeout, oom), e.g. one that "
                   "crashed its worker; by default they are kept as they are.")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: all cores).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--timer", type=click.Choice(["auto", "cpu", "hot", "cold", "graph"]), default=None,
              help="Timer: cpu (perf_counter), hot / cold (CUDA events, cold flushes L2 first), graph "
                   "(CUDA-graph replay); default: the suite's, else auto (cpu or hot).")
@click.option("--isolate/--no-isolate", default=None,
              help="Run cases in a reused worker process, so a crash or hang is that case's error/timeout "
                   "(default: on; --no-isolate runs them in this process, for debugging).")
@click.option("--timeout", "timeout_s", type=float, default=300.0, show_default=True,
              help="Seconds a case may take in the isolated worker before it is recorded as a timeout.")
@click.option("--progress/--no-progress", default=True)
@click.option("--repeat", type=int, default=None,
              help="Rounds over the whole sweep (independent repetitions for `tpbench compare`); "
                   "default: the suite's [suite.timing] repeat, else 1.")
@click.option("--metrics/--no-metrics", default=True, show_default=True,
              help="Fill expressivity and interactability for bilinear cases (cached per kernel and problem).")
@click.option("--dry-run", is_flag=True, help="List the cases and exit.")
@click.option("--yes", is_flag=True, help="Run a suite made for another device (e.g. gpu-smoke on a CPU) anyway.")
@click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
              help="local: this process (and its worker); ray: one case per device slot of a Ray cluster; "
                   "slurm: a job array of shards through submitit.")
@click.option("--shard", default=None, metavar="I/N",
              help="Run only shard I of N (deterministic, balanced by estimated cost) into its own shard file; "
                   "give every shard the same --run-id.")
@click.option("--run-id", default=None, help="Name of the run directory under --out; shards of one run share it.")
@click.option("--address", default=None, help="--executor ray: the cluster's address (default: a local cluster).")
@click.option("--workers", type=int, default=None,
              help="--executor ray: actors (device slots) to use; default: every GPU, or cores / --threads.")
@click.option("--partition", default=None, help="--executor slurm: the Slurm partition.")
@click.option("--gpus", "n_tasks", type=int, default=None, help="--executor slurm: array tasks (one GPU each).")
@click.option("--time", "time_min", type=int, default=240, show_default=True,
              help="--executor slurm: minutes per array task.")
@click.option("--slurm-cluster", default=None, hidden=True, help="submitit cluster (tests: local).")
def command(suite_ref, device, kernels, filters, out_dir, resume, retry, threads, seed, timer, isolate, timeout_s,
            progress, repeat, metrics, dry_run, executor, shard, run_id, address, workers, partition, n_tasks,
            time_min, slurm_cluster, yes):
    """Run a suite: gate every case for correctness, then time it; results go to OUT/<run-id>/."""
    import os

    from tpbench.run.worker import IsolatedRunner

    pool = None
    if isolate is not False and executor == "local" and not dry_run:
        # The worker imports torch and every kernel (seconds) while this process does the same and plans.
        pool = IsolatedRunner(None).prestart()
        click.get_current_context().call_on_close(pool.close)

    import torch

    from tpbench.measure.environment import environment, fingerprint
    from tpbench.run.executors import ray_sweep
    from tpbench.run.shard import parse_shard
    from tpbench.run.shard import shard as shard_cases
    from tpbench.run.sweep import worker_config
    from tpbench.kernel.registry import Registry, is_kernel_file
    from tpbench.run.case import plan
    from tpbench.run.runner import Runner
    from tpbench.run.sweep import sweep
    from tpbench.results.store import RunStore, find_run
    from tpbench.run.suite import load_suite
    from tpbench.measure.timing import resolve_timer
    from tpbench.run.provenance import check_resume_suite, kernel_files, resume_kernels, sha256_of

    for option, value, least in (("--repeat", repeat, 1), ("--threads", threads, 1)):
        if value is not None and value < least:
            raise UserError(f"{option} must be at least {least}, got {value}")
    if not timeout_s > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {timeout_s:g}")
    store = None
    shard_of = parse_shard(shard) if shard else None
    if run_id and not resume and (Path(out_dir) / run_id / "run.json").exists():
        resume = str(Path(out_dir) / run_id)  # another shard created the run: join it
    if resume:
        store = RunStore(find_run(resume, out_dir), shard=shard_name(shard_of))
        manifest = store.manifest()
        suite_given = suite_ref is not None
        suite_ref = suite_ref or manifest.get("suite_path") or manifest.get("suite")
        device = device or manifest.get("device")
        kernels = tuple(resume_kernels(manifest, resume, kernels))  # never imports a file named only in run.json
        filters = filters or tuple(manifest.get("filters") or ())
        threads = threads or manifest.get("threads")
        seed = manifest.get("seed", seed)
        saved = manifest.get("settings") or {}
        timer = timer or saved.get("timer")
        isolate = saved.get("isolate") if isolate is None else isolate
        timeout_s = saved.get("timeout_s", timeout_s)
    suite = load_suite(suite_ref or "quick")
    if resume:
        check_resume_suite(manifest, resume, suite.path, suite_given)
    device = check_device(device or suite.device)
    if device.split(":")[0] != suite.device.split(":")[0] and not (yes or dry_run or resume):
        raise UserError(f"suite {suite.name!r} is made for {suite.device}; on {device} it may run for hours. "
                        "Pass --yes to run it anyway (or --dry-run to see its cases)")
    threads = threads or (1 if executor == "ray" and device == "cpu" else os.cpu_count() or 1)
    torch.set_num_threads(threads)
    timer = resolve_timer(device, timer or suite.timing.get("timer"))
    isolate = True if isolate is None else isolate  # a crashing kernel must not take the sweep with it
    if retry and not resume:
        raise UserError("--retry continues a run: use it with --resume RUN")
    if not isolate and pool is not None:  # a resumed run that was made with --no-isolate
        pool.close()
        pool = None
    timing = dict(suite.timing)
    repeat = repeat or (manifest.get("repeat") if resume else None) or int(timing.pop("repeat", 1))
    timing.pop("repeat", None)
    if repeat < 1:
        raise UserError(f"--repeat must be at least 1, got {repeat}")
    cases = plan(suite, Registry.default(), device, kernels, filters, repeat=repeat)
    if not cases:
        raise UserError("no case to run: the suite, --kernel and --filter select nothing")
    if shard_of:
        cases = shard_cases(cases, *shard_of)
    if dry_run:
        for case in cases:
            click.echo(case.label)
        click.echo(f"{len(cases)} cases")
        return
    if store is None:
        manifest = {
            "suite": suite.name, "suite_path": str(suite.path.resolve()), "description": suite.description,
            "suite_sha256": sha256_of(suite.path), "kernel_files": kernel_files(kernels),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "argv": sys.argv, "device": device, "kernels": list(kernels), "filters": list(filters),
            "threads": threads, "seed": seed, "repeat": repeat,
            "settings": {"timing": suite.timing, "timer": timer, "isolate": isolate, "timeout_s": timeout_s,
                         "threads": threads},
            "environment": environment(threads),
        }
        manifest.update(device_facts(device))
        manifest["machine"] = fingerprint(manifest["environment"])
        store = create_or_join(Path(out_dir) / (run_id or new_run_id(suite.name, device)), manifest,
                               shard_name(shard_of))
    click.echo(f"run {store.run_id}: {len(cases)} cases, device {device}, {threads} threads -> {store.dir}", err=True)
    extra = None
    if metrics:
        from tpbench.metrics.expressivity import case_fields

        # A partial of a module-level function pickles: the isolated worker computes it next to the case.
        extra = functools.partial(case_fields, str(Path(out_dir) / ".cache" / "expressivity"))
    runner = Runner(store, timing, seed=seed, extra_metrics=extra, timer=timer,
                    peaks=store.manifest().get("peaks"), isolate=isolate, timeout_s=timeout_s,
                    kernel_files=[k for k in kernels if is_kernel_file(k)])
    try:
        if executor == "ray":
            ran = ray_sweep(store, cases, worker_config(runner), device, address=address, workers=workers,
                            progress=progress, retry=retry)
        elif executor == "slurm":
            ran = slurm_shards(store, suite, device, kernels, filters, threads, n_tasks, partition, time_min,
                               slurm_cluster, out_dir, metrics)
        else:
            ran = sweep(runner, cases, progress=progress, retry=retry, pool=pool)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted; finished cases are in {store.dir}. "
                   f"Continue with: {resume_command(store, out_dir)}", err=True)
        sys.exit(130)
    from tpbench.results.store import load_runs
    from tpbench.views.summary import case_counts

    counts = case_counts(load_runs([store.dir]))
    click.echo(f"done: {ran} cases run now; the run holds {counts[0]}", err=True)
    for line in counts[1:]:
        click.echo(line, err=True)
    click.echo(f"results in {store.dir}. Show them with: {show_command(store, out_dir)}", err=True)


def _default_out(out_dir) -> bool:
    return Path(out_dir).resolve() == Path("results").resolve()


def resume_command(store, out_dir) -> str:
    """A ``tpbench run --resume`` command line that finds this run from the current directory."""
    return f"tpbench run --resume {store.run_id}" + ("" if _default_out(out_dir) else f" --out {out_dir}")


def show_command(store, out_dir) -> str:
    """A ``tpbench show`` command line that finds this run from the current directory."""
    if _default_out(out_dir):
        return f"tpbench show {store.run_id}"
    return f"tpbench show {store.dir}"
