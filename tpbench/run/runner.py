"""The runner: one case at a time, in this process — gate, then time, then the record.

For every case (problem × kernel × pass × variant)::

    available? ─no─▶ "unavailable: why"      supports? ─no─▶ "skipped: why"
    build ─▶ correctness gate (once per kernel × problem, every pass checked)
          ─fail─▶ "incorrect" with its errors, never timed
    time the pass ─▶ re-check (:func:`~tpbench.oracle.correctness.recheck`) ─fail─▶ "incorrect"
          ─▶ work figures ─▶ record, appended to cases.jsonl at once

An exception in one case becomes that case's ``error`` (``oom`` for
out-of-memory); :mod:`tpbench.run.sweep` runs the cases of a plan, here or
in a worker process (:mod:`tpbench.run.worker`).

Each case runs under its precision's TF32 switches (:mod:`tpbench.spec.precision`);
the timed pass is the case's variant (:mod:`tpbench.measure.variants`), measured by the
run's timer (:mod:`tpbench.measure.timing`) with peak memory (:mod:`tpbench.measure.memory`)
and, on GPUs, NVML telemetry (:mod:`tpbench.measure.telemetry`) around it.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Any, Callable, Iterable

import torch

from tpbench.measure import peaks as peaks_mod
from tpbench.oracle.correctness import TOLERANCES, GateResult, recheck, run_gate
from tpbench.oracle.inputs import for_kernel, make_inputs
from tpbench.spec.passes import is_backward, pass_function
from tpbench.measure.environment import contention
from tpbench.measure.memory import peak_memory
from tpbench.kernel.base import build_module
from tpbench.spec.paths import tp_paths
from tpbench.spec.precision import precision, torch_dtype
from tpbench.measure.stats import summarize
from tpbench.results.store import RunStore
from tpbench.run.case import Case, base_record
from tpbench.spec.work import pass_work
from tpbench.measure.telemetry import sampler_for
from tpbench.measure.timing import timer_for
from tpbench.measure.variants import prepare as prepare_variant

# What allocators say when memory runs out: CUDA's caching allocator, and torch's CPU allocator.
OOM_MESSAGES = ("out of memory", "can't allocate memory")


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or _says_oom(str(exc))


def _says_oom(text: str) -> bool:
    return any(m in text.lower() for m in OOM_MESSAGES)


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
                 extra_metrics: Callable[[Case, bool], dict[str, Any]] | None = None, *,
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
            record.update(self.extra_metrics(case, status == "ok"))
        if status != "ok":
            record.update(status=status, reason=reason)
            return record
        try:
            record.update(self._time(case, prep.module, native))
            # The gate ran before timing; a kernel that goes wrong later must not stay "ok".
            late = recheck(case.kernel, case.problem, prep.module, case.device, case.pass_, seed=self.seed)
            record.update(status="incorrect", reason=late) if late else record.update(status="ok")
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
        tol = TOLERANCES[case.problem.dtype]["grad" if is_backward(case.pass_) else "fwd"]
        fn, out = prepare_variant(module, case.variant, self._pass_builder(case, module, native), case.device, tol)
        timer = timer_for(case.device, self.timer, **self.timing)
        timer.setup()
        out.update(contention(torch.get_num_threads()) if case.device == "cpu" else {})
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
            try:
                record = self.execute(case, passes)
            except Exception as exc:  # a kernel's available/supports/native raised: its case, not the sweep
                record = base_record(case)
                record.update(_error_fields(exc))
        record.update(flags)
        return finalize(record)

    def release(self) -> None:
        """Drop the module kept for the next pass of the same kernel and problem."""
        self._prepared = None


def finalize(record: dict[str, Any]) -> dict[str, Any]:
    """Statuses the gate and exceptions cannot tell apart: out-of-memory and compiled-code mismatches.

    The gate reports a crash in a backward pass as ``error`` with the exception
    text; a CUDA out-of-memory there is still ``oom``. A compiled module that
    disagrees with the eager one is ``incorrect``, like a failed gate.
    """
    reason = str(record.get("reason") or "")
    if record.get("status") == "error":
        if reason.startswith(("OutOfMemoryError", "MemoryError")) or _says_oom(reason):
            record["status"] = "oom"
        elif reason.startswith("CompiledMismatch"):
            record["status"] = "incorrect"
    return record


def work_figures(case: Case, median_ms: float, peaks: dict[str, Any] | None = None) -> dict[str, Any]:
    """Analytic FLOPs and bytes of the pass, the rates they imply at ``median_ms``, and with the
    device's measured ``peaks`` (:mod:`tpbench.measure.peaks`) the fractions of them."""
    out = pass_work(case.kernel.flops(case.problem), case.kernel.bytes(case.problem), case.pass_, median_ms)
    out.update(peaks_mod.fractions(case.problem.dtype, out.get("gflops_per_s"), out.get("gbytes_per_s"), peaks))
    return out
