"""``tpbench run``: run a suite and write a results directory."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

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


@click.command("run")
@click.option("--suite", "suite_ref", default="quick", show_default=True, help="Suite name (suites/NAME.toml) or TOML file.")
@click.option("--device", default=None, help="cpu or cuda[:N]; default: the suite's device.")
@click.option("--kernel", "kernels", multiple=True, metavar="NAME|FILE",
              help="Kernel name/glob to run (repeatable), or a .py file whose kernels are added and compared.")
@click.option("--filter", "filters", multiple=True, metavar="EXPR",
              help="Keep cases matching EXPR (repeat to combine): key=glob on kernel, kernel_family, backend, "
                   "problem, family (the problem's, as in suite files), pass, dtype, or a problem parameter "
                   "(L=2, batch=64); or a bare substring of 'kernel · problem · pass'.")
@click.option("--out", "out_dir", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", default=None, metavar="RUN", help="Continue this run: finished cases are not redone.")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: all cores).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--timer", type=click.Choice(["auto", "cpu", "hot", "cold", "graph"]), default=None,
              help="Timer: cpu (perf_counter), hot / cold (CUDA events, cold flushes L2 first), graph "
                   "(CUDA-graph replay); default: the suite's, else auto (cpu or hot).")
@click.option("--isolate/--no-isolate", default=None,
              help="Run each case in a worker process (a crash or hang is that case's error/timeout); "
                   "default: on for CUDA, off for CPU.")
@click.option("--timeout", "timeout_s", type=float, default=300.0, show_default=True,
              help="Seconds a case may take in the isolated worker before it is recorded as a timeout.")
@click.option("--progress/--no-progress", default=True)
@click.option("--repeat", type=int, default=None,
              help="Rounds over the whole sweep (independent repetitions for `tpbench compare`); "
                   "default: the suite's [suite.timing] repeat, else 1.")
@click.option("--metrics/--no-metrics", default=True, show_default=True,
              help="Fill expressivity and interactability for bilinear cases (cached per kernel and problem).")
@click.option("--dry-run", is_flag=True, help="List the cases and exit.")
def command(suite_ref, device, kernels, filters, out_dir, resume, threads, seed, timer, isolate, timeout_s,
            progress, repeat, metrics, dry_run):
    """Run a suite: gate every case for correctness, then time it; results go to OUT/<run-id>/."""
    import os

    import torch

    from tpbench.measure.environment import environment
    from tpbench.kernel.registry import Registry, is_kernel_file
    from tpbench.run.case import plan
    from tpbench.run.runner import Runner
    from tpbench.run.sweep import sweep
    from tpbench.results.store import RunStore, find_run
    from tpbench.run.suite import load_suite
    from tpbench.measure.timing import resolve_timer

    store = None
    if resume:
        store = RunStore(find_run(resume, out_dir))
        manifest = store.manifest()
        suite_ref = manifest.get("suite_path") or manifest.get("suite", suite_ref)
        device = device or manifest.get("device")
        kernels = kernels or tuple(manifest.get("kernels") or ())
        filters = filters or tuple(manifest.get("filters") or ())
        threads = threads or manifest.get("threads")
        seed = manifest.get("seed", seed)
        saved = manifest.get("settings") or {}
        timer = timer or saved.get("timer")
        isolate = saved.get("isolate") if isolate is None else isolate
        timeout_s = saved.get("timeout_s", timeout_s)
    suite = load_suite(suite_ref)
    device = check_device(device or suite.device)
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    timer = resolve_timer(device, timer or suite.timing.get("timer"))
    isolate = device.startswith("cuda") if isolate is None else isolate
    timing = dict(suite.timing)
    repeat = repeat or (manifest.get("repeat") if resume else None) or int(timing.pop("repeat", 1))
    timing.pop("repeat", None)
    if repeat < 1:
        raise UserError(f"--repeat must be at least 1, got {repeat}")
    cases = plan(suite, Registry.default(), device, kernels, filters, repeat=repeat)
    if not cases:
        raise UserError("no case to run: the suite, --kernel and --filter select nothing")
    if dry_run:
        for case in cases:
            click.echo(case.label)
        click.echo(f"{len(cases)} cases")
        return
    if store is None:
        manifest = {
            "suite": suite.name, "suite_path": str(suite.path.resolve()), "description": suite.description,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "argv": sys.argv, "device": device, "kernels": list(kernels), "filters": list(filters),
            "threads": threads, "seed": seed, "repeat": repeat,
            "settings": {"timing": suite.timing, "timer": timer, "isolate": isolate, "timeout_s": timeout_s,
                         "threads": threads},
            "environment": environment(threads),
        }
        manifest.update(device_facts(device))
        store = RunStore.create(Path(out_dir) / new_run_id(suite.name, device), manifest)
    click.echo(f"run {store.run_id}: {len(cases)} cases, device {device}, {threads} threads -> {store.dir}", err=True)
    extra = None
    if metrics:
        from tpbench.metrics.expressivity import runner_fields

        cache = Path(out_dir) / ".cache" / "expressivity"
        extra = lambda case: runner_fields(case.kernel, case.problem, cache)  # noqa: E731
    runner = Runner(store, timing, seed=seed, extra_metrics=extra, timer=timer,
                    peaks=store.manifest().get("peaks"), isolate=isolate, timeout_s=timeout_s,
                    kernel_files=[k for k in kernels if is_kernel_file(k)])
    try:
        sweep(runner, cases, progress=progress)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted; finished cases are in {store.dir}. "
                   f"Continue with: {resume_command(store, out_dir)}", err=True)
        sys.exit(130)
    from tpbench.results.store import load_runs
    from tpbench.views.summary import case_counts

    counts = case_counts(load_runs([store.dir]))
    click.echo(f"done: {counts[0]}", err=True)
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
