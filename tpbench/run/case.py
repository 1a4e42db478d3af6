"""Cases: what a sweep runs — problem × kernel × pass × variant × device × repetition — and how a suite expands into them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
from typing import Any, Iterable

import torch

from tpbench.kernel.base import Kernel
from tpbench.kernel.registry import Registry, is_kernel_file
from tpbench.measure.environment import machine
from tpbench.results.store import case_key
from tpbench.run.suite import Suite
from tpbench.spec.errors import UserError
from tpbench.spec.problem import Problem


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
    "kernel_family": lambda c: c.kernel.family,
    "backend": lambda c: c.kernel.backend,
    "problem": lambda c: c.problem.label,
    # ``family`` is the problem's family, as in suite files (``family = "mimo"``); ``shape`` is its old name.
    "family": lambda c: c.problem.family,
    "shape": lambda c: c.problem.family,
    "pass": lambda c: c.pass_,
    "dtype": lambda c: c.problem.dtype,
    "batch": lambda c: c.problem.batch,
}


def matches(case: Case, expr: str) -> bool:
    """``key=glob`` on a field of :data:`FILTER_FIELDS` or a problem parameter (``L=2``),
    or a bare glob on ``kernel · problem · pass``.

    A problem without that parameter does not match. Unknown keys are refused by
    :func:`check_filters` before any case is matched.
    """
    if "=" in expr:
        key, pattern = expr.split("=", 1)
        if key in FILTER_FIELDS:
            return fnmatch.fnmatchcase(str(FILTER_FIELDS[key](case)), pattern)
        params = dict(case.problem.params)
        if key in params:
            return fnmatch.fnmatchcase(str(params[key]), pattern)
        if not key.isidentifier():  # "mimo L=2" is a substring of labels, not a key
            return _bare(case, expr)
        return False
    return _bare(case, expr)


def _bare(case: Case, expr: str) -> bool:
    pattern = expr if any(c in expr for c in "*?[") else f"*{expr}*"
    return fnmatch.fnmatchcase(case.label, pattern)


def check_filters(cases: list[Case], filters: list[str]) -> None:
    """Refuse a ``key=`` filter whose key is no field and no parameter of any problem in the suite,
    and explain an empty selection caused by ``family=`` given a kernel's family."""
    params = sorted({k for c in cases for k, _ in c.problem.params})
    for expr in filters:
        key, _, pattern = expr.partition("=")
        if not _ or not key.isidentifier() or key in FILTER_FIELDS or key in params:
            if key == "family" and cases and not any(matches(c, expr) for c in cases):
                kernel_families = {c.kernel.family for c in cases}
                if any(fnmatch.fnmatchcase(f, pattern) for f in kernel_families):
                    problem_families = sorted({c.problem.family for c in cases})
                    raise UserError(f"--filter {expr}: `family` is the problem's family "
                                    f"({', '.join(problem_families)}), as in suite files; "
                                    f"for the kernel's family use kernel_family={pattern}")
            continue
        raise UserError(f"unknown filter field {key!r}; expected one of {', '.join(FILTER_FIELDS)}"
                        + (f" or a problem parameter ({', '.join(params)})" if params else ""))


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
    check_filters(cases, filters)
    kept = [c for c in cases if all(matches(c, f) for f in filters)]
    # Identical [[problems]] tables would run a case twice and rank a kernel as runner-up to itself.
    kept = list({c.key: c for c in kept}.values())
    from tpbench.run.micro import with_micro_cases  # a model block's micro cases (imports this module)

    kept = with_micro_cases(kept)
    return [dataclasses.replace(c, repetition=r) for r in range(repeat) for c in kept]


def now() -> str:
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
        "machine": machine(),
        "started_at": now(),
    }
