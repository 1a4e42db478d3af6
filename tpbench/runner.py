"""The runner: expands a suite into cases and runs each, isolated from the others.

For every case (problem × kernel × pass × variant)::

    available? ─no─▶ "unavailable: why"      supports? ─no─▶ "skipped: why"
    build ─▶ correctness gate (once per kernel × problem, every pass checked)
          ─fail─▶ "incorrect" with its errors, never timed
    time the pass ─▶ work figures ─▶ record, appended to cases.jsonl at once

An exception in one case becomes that case's ``error`` (``oom`` for
out-of-memory) and the sweep goes on; Ctrl-C stops the sweep with every
finished case on disk, and ``--resume`` skips what is there. With
``isolate=True`` every case runs in a worker process
(:mod:`tpbench.isolation`), so a segfault or hang is that case's ``error`` or
``timeout`` too.

Each case runs under its precision's TF32 switches (:mod:`tpbench.precision`);
the timed pass is the case's variant (:mod:`tpbench.variants`), measured by the
run's timer (:mod:`tpbench.timing`) with peak memory (:mod:`tpbench.memory`)
and, on GPUs, NVML telemetry (:mod:`tpbench.telemetry`) around it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import time
import traceback
from typing import Any, Callable, Iterable

import torch

from tpbench import peaks as peaks_mod
from tpbench.correctness import TOLERANCES, GateResult, run_gate
from tpbench.errors import UserError
from tpbench.inputs import for_kernel, make_inputs, pass_function
from tpbench.memory import peak_memory
from tpbench.kernel import Kernel, build_module, torch_dtype
from tpbench.paths import tp_paths
from tpbench.precision import precision
from tpbench.problem import Problem
from tpbench.registry import Registry, is_kernel_file
from tpbench.stats import summarize
from tpbench.store import RunStore, case_key
from tpbench.suite import Suite
from tpbench.telemetry import sampler_for
from tpbench.timing import timer_for
from tpbench.variants import prepare as prepare_variant

# Work of a pass relative to the forward pass: a reverse pass costs about twice
# its forward, so fwd+bwd ≈ 3× and the double backward (the reverse of a 3× graph) ≈ 9×.
PASS_WORK = {"fwd": 1.0, "fwd+bwd": 3.0, "fwd+bwd+bwd": 9.0}
# Fewest bytes: the backward reads the cotangent and writes one gradient per input.
PASS_BYTES = {"fwd": 1.0, "fwd+bwd": 2.0, "fwd+bwd+bwd": 4.0}


@dataclasses.dataclass(frozen=True)
class Case:
    problem: Problem
    kernel: Kernel
    pass_: str
    variant: str
    device: str
    repetition: int = 0

    @property
    def key(self) -> str:
        return case_key({"kernel": self.kernel.name, "problem_id": self.problem.id, "pass": self.pass_,
                         "variant": self.variant, "device": self.device, "repetition": self.repetition})

    @property
    def label(self) -> str:
        return f"{self.kernel.name} · {self.problem.label} · {self.pass_}"


FILTER_FIELDS = {
    "kernel": lambda c: c.kernel.name,
    "family": lambda c: c.kernel.family,
    "backend": lambda c: c.kernel.backend,
    "problem": lambda c: c.problem.label,
    "shape": lambda c: c.problem.family,
    "pass": lambda c: c.pass_,
    "dtype": lambda c: c.problem.dtype,
}


def matches(case: Case, expr: str) -> bool:
    """``key=glob`` on a field of :data:`FILTER_FIELDS`, or a bare glob on ``kernel · problem · pass``."""
    if "=" in expr:
        key, pattern = expr.split("=", 1)
        if key not in FILTER_FIELDS:
            raise UserError(f"unknown filter field {key!r}; expected one of {', '.join(FILTER_FIELDS)}")
        return fnmatch.fnmatchcase(FILTER_FIELDS[key](case), pattern)
    pattern = expr if any(c in expr for c in "*?[") else f"*{expr}*"
    return fnmatch.fnmatchcase(case.label, pattern)


def plan(suite: Suite, registry: Registry, device: str, kernel_refs: Iterable[str] = (),
         filters: Iterable[str] = (), repeat: int = 1) -> list[Case]:
    """All cases of a suite, in order: problem, then kernel, then pass; ``repeat`` rounds of them.

    Repetitions are whole rounds over the sweep, not back-to-back samples: a
    machine's speed drifts over seconds to minutes (shared hosts, clocks), so
    only repetitions spread in time are independent enough to compare runs
    (``tpbench compare`` tests their medians).
    """
    refs = list(kernel_refs)
    from_files = registry.resolve([r for r in refs if is_kernel_file(r)])
    named = registry.resolve([r for r in refs if not is_kernel_file(r)])
    cases = []
    for problem, table in suite.problems():
        if named:
            kernels = named + from_files
        else:
            excluded = {k.name for k in registry.select(table["exclude"])} if table["exclude"] else set()
            kernels = [k for k in registry.select(table["kernels"]) if k.name not in excluded] + from_files
        for kernel in dict((k.name, k) for k in kernels).values():
            for pass_ in table["passes"]:
                for variant in table["variants"]:
                    cases.append(Case(problem, kernel, pass_, variant, device))
    filters = list(filters)
    kept = [c for c in cases if all(matches(c, f) for f in filters)]
    return [dataclasses.replace(c, repetition=r) for r in range(repeat) for c in kept]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def base_record(case: Case) -> dict[str, Any]:
    p = case.problem
    return {
        **case.kernel.describe(),
        "problem": p.to_dict(),
        "problem_id": p.id,
        "problem_label": p.label,
        "problem_family": p.family,
        "params": dict(p.params),
        "batch": p.batch,
        "dtype": p.dtype,
        "device": case.device,
        "pass": case.pass_,
        "variant": case.variant,
        "repetition": case.repetition,
        "threads": torch.get_num_threads(),
        "started_at": _now(),
    }


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


def _error_fields(exc: BaseException) -> dict[str, Any]:
    status = "oom" if _is_oom(exc) else "error"
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"status": status, "reason": f"{type(exc).__name__}: {exc}"[:2000], "traceback": "".join(tb[-6:])}


def skip_reason(case: Case) -> tuple[str, str] | None:
    """``(status, reason)`` when a case must not run, else ``None``."""
    k, p = case.kernel, case.problem
    why = k.available()
    if why:
        return "unavailable", why
    if p.op == "tp" and not tp_paths(p).paths:
        return "skipped", f"no valid path: {p.irreps_in1} x {p.irreps_in2} reaches nothing in {p.irreps_out}"
    why = k.supports(p, case.device)
    if why:
        return "skipped", why
    if case.pass_ not in k.passes:
        return "skipped", f"pass {case.pass_} not supported (supports {', '.join(k.passes)})"
    return None


@dataclasses.dataclass
class _Prepared:
    """A kernel built for a problem and its gate verdicts, shared by that pair's passes."""

    key: tuple[str, str]
    module: torch.nn.Module | None = None
    gate: GateResult | None = None
    failure: dict[str, Any] | None = None
    build_s: float = 0.0
    gate_s: float = 0.0


class Runner:
    """Runs cases one by one; every finished case is appended to the store."""

    def __init__(self, store: RunStore | None, timing: dict[str, Any] | None = None, seed: int = 0,
                 extra_metrics: Callable[[Case], dict[str, Any]] | None = None, *,
                 timer: str | None = None, peaks: dict[str, Any] | None = None, telemetry: bool = True,
                 isolate: bool = False, timeout_s: float = 300.0, kernel_files: Iterable[str] = ()):
        self.store = store
        self.timing = dict(timing or {})
        # --timer wins over the suite's [suite.timing] timer; "auto" picks by device.
        self.timer = timer or self.timing.pop("timer", None) or "auto"
        self.timing.pop("timer", None)
        self.seed = seed
        self.peaks = peaks
        self.telemetry = telemetry
        self.isolate, self.timeout_s = isolate, timeout_s
        self.kernel_files = [str(f) for f in kernel_files]
        self.extra_metrics = extra_metrics
        self._prepared: _Prepared | None = None
        self._gates: dict[tuple[str, str], GateResult] = {}  # verdicts reused by later repetitions

    def _prepare(self, case: Case, passes: list[str]) -> _Prepared:
        key = (case.kernel.name, case.problem.id)
        if self._prepared is not None and self._prepared.key == key:
            return self._prepared
        self._prepared = None  # free the previous module before building the next
        prep = _Prepared(key)
        try:
            t0 = time.perf_counter()
            prep.module = build_module(case.kernel, case.problem, case.device)
            prep.build_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            if key not in self._gates:
                self._gates[key] = run_gate(case.kernel, case.problem, prep.module, case.device, passes,
                                            seed=self.seed)
            prep.gate = self._gates[key]
            prep.gate_s = time.perf_counter() - t0
        except Exception as exc:  # one kernel's failure is that case's result, not the sweep's
            prep.failure = _error_fields(exc)
        self._prepared = prep
        return prep

    def execute(self, case: Case, passes: list[str]) -> dict[str, Any]:
        record = base_record(case)
        skip = skip_reason(case)
        if skip:
            record.update(status=skip[0], reason=skip[1])
            return record
        prep = self._prepare(case, passes)
        record.update(build_s=prep.build_s, gate_s=prep.gate_s)
        if prep.failure:
            record.update(prep.failure)
            return record
        gate = prep.gate
        native = case.kernel.native(case.problem)
        errors = gate.errors_for(case.pass_)
        record.update(
            effective_method=case.kernel.effective_method(prep.module),
            errors=errors,
            rel_error=max((v for k, v in errors.items() if k not in ("rotation", "inversion")), default=None),
            equivariance_error=max((v for k, v in errors.items() if k in ("rotation", "inversion")), default=None),
            tolerances=gate.tolerances,
            output_variance=gate.output_variance,
            native_irreps_out=str(native.irreps_out),
            paths=list(native.path_labels),
        )
        status, reason = gate.verdict(case.pass_)
        if self.extra_metrics is not None:
            record.update(self.extra_metrics(case))
        if status != "ok":
            record.update(status=status, reason=reason)
            return record
        try:
            record.update(self._time(case, prep.module, native))
            record["status"] = "ok"
        except Exception as exc:
            record.update(_error_fields(exc))
        return record

    def _pass_builder(self, case: Case, module: torch.nn.Module, native) -> Callable:
        """``make(module)`` → the pass closure on fixed inputs, cotangent and second-order vectors."""
        p = case.problem
        gen = torch.Generator().manual_seed(self.seed + 1)
        inputs = for_kernel(make_inputs(native, p.batch, gen), native, case.kernel, torch_dtype(p.dtype),
                            case.device, case.kernel.weight_permutation(p))
        cotangent = second = None
        if case.pass_ != "fwd":
            with torch.no_grad():
                out = module(*inputs)
            cotangent = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out)
            second = [torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t) for t in inputs]
        return lambda m: pass_function(m, case.pass_, inputs, cotangent, second)

    def _time(self, case: Case, module: torch.nn.Module, native) -> dict[str, Any]:
        tol = TOLERANCES[case.problem.dtype]["fwd" if case.pass_ == "fwd" else "grad"]
        fn, out = prepare_variant(module, case.variant, self._pass_builder(case, module, native), case.device, tol)
        timer = timer_for(case.device, self.timer, **self.timing)
        timer.setup()
        sampler, why_not = sampler_for(case.device) if self.telemetry else (None, None)
        with peak_memory(case.device) as memory:
            if sampler is not None:
                sampler.start()
            try:
                timing = timer.measure(fn)
            finally:
                telemetry = sampler.stop() if sampler is not None else {}
        out.update(timing.fields())
        out.update(summarize(timing.samples_ms))
        out.update(memory)
        out.update(telemetry)
        if why_not and case.device.startswith("cuda"):
            out["telemetry"] = {"unavailable": why_not}
        out.update(work_figures(case, out["median_ms"], self.peaks))
        return out

    def run_case(self, case: Case, passes: list[str]) -> dict[str, Any]:
        """One case in this process, under its precision settings, its status finalised."""
        with precision(case.problem.dtype) as flags:
            record = self.execute(case, passes)
        record.update(flags)
        return finalize(record)

    def run(self, cases: list[Case], progress: bool = True) -> int:
        """Run every case not already in the store; return how many ran."""
        from tqdm import tqdm

        done = self.store.done_keys()
        todo = [c for c in cases if c.key not in done]
        passes_of: dict[tuple[str, str], set[str]] = {}
        for c in cases:
            passes_of.setdefault((c.kernel.name, c.problem.id), set()).add(c.pass_)
        bar = tqdm(todo, disable=not progress, unit="case", dynamic_ncols=True, mininterval=1.0)
        pool = self._pool() if self.isolate else None
        try:
            for case in bar:
                bar.set_description(case.label[:70])
                passes = sorted(set(passes_of[(case.kernel.name, case.problem.id)]),
                                key=["fwd", "fwd+bwd", "fwd+bwd+bwd"].index)
                record = pool.run(case, passes) if pool is not None else self.run_case(case, passes)
                record["finished_at"] = _now()
                self.store.append(record)
        finally:
            if pool is not None:
                pool.close()
            self._prepared = None
        return len(todo)

    def _pool(self):
        from tpbench.isolation import IsolatedRunner, WorkerConfig

        config = WorkerConfig(timing={**self.timing, "timer": self.timer}, seed=self.seed,
                              threads=torch.get_num_threads(), kernel_files=self.kernel_files,
                              peaks=self.peaks, telemetry=self.telemetry)
        return IsolatedRunner(config, self.timeout_s, extra_metrics=self.extra_metrics)


def finalize(record: dict[str, Any]) -> dict[str, Any]:
    """Statuses the gate and exceptions cannot tell apart: out-of-memory and compiled-code mismatches.

    The gate reports a crash in a backward pass as ``error`` with the exception
    text; a CUDA out-of-memory there is still ``oom``. A compiled module that
    disagrees with the eager one is ``incorrect``, like a failed gate.
    """
    reason = str(record.get("reason") or "")
    if record.get("status") == "error":
        if reason.startswith(("OutOfMemoryError", "MemoryError")) or "out of memory" in reason.lower():
            record["status"] = "oom"
        elif reason.startswith("CompiledMismatch"):
            record["status"] = "incorrect"
    return record


def work_figures(case: Case, median_ms: float, peaks: dict[str, Any] | None = None) -> dict[str, Any]:
    """Analytic FLOPs and bytes of the pass, the rates they imply at ``median_ms``, and with the
    device's measured ``peaks`` (:mod:`tpbench.peaks`) the fractions of them."""
    flops, nbytes = case.kernel.flops(case.problem), case.kernel.bytes(case.problem)
    out: dict[str, Any] = {}
    seconds = median_ms / 1e3
    if flops:
        out["flops"] = flops * PASS_WORK[case.pass_]
        out["gflops_per_s"] = out["flops"] / seconds / 1e9 if seconds > 0 else None
    if nbytes:
        out["bytes"] = nbytes * PASS_BYTES[case.pass_]
        out["gbytes_per_s"] = out["bytes"] / seconds / 1e9 if seconds > 0 else None
    if flops and nbytes:
        out["arithmetic_intensity"] = out["flops"] / out["bytes"]
    out.update(peaks_mod.fractions(case.problem.dtype, out.get("gflops_per_s"), out.get("gbytes_per_s"), peaks))
    return out
