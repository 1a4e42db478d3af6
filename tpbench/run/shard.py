"""Deterministic shards of a plan, balanced by an estimated cost per case.

``--shard i/n`` keeps the cases of shard ``i`` (1-based) of ``n``. The unit
of assignment is a kernel × problem *group* (all its passes, variants and
repetitions), so a shard builds and gates each kernel once per problem, as a
single process does. Groups are placed greedily, largest estimated cost first,
on the shard with the least cost so far (longest-processing-time-first: within
4/3 of the best possible makespan), ties broken by a stable key — every
process computes the same assignment from the same plan, so the union over
``i`` is the plan and no two shards overlap.

The cost of a case is its pass's analytic FLOPs (:mod:`tpbench.spec.work`)
or, for a kernel that does not count them, the bytes its pass must move
times a nominal arithmetic intensity; a previous run's medians
(``costs_from``), where given, replace both.
"""

from __future__ import annotations

import heapq
import re
from typing import Iterable

from tpbench.run.case import Case
from tpbench.spec import passes
from tpbench.spec.errors import UserError

NOMINAL_INTENSITY = 4.0  # FLOP per byte charged to a kernel that counts bytes only
BASE_COST = 1e6  # every case pays building, gating and sampling overhead, whatever its size


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``1 <= i <= n``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise UserError(f"--shard {text!r}: expected i/n, e.g. 2/4")
    i, n = int(match.group(1)), int(match.group(2))
    if not 1 <= i <= n:
        raise UserError(f"--shard {text!r}: need 1 <= i <= n")
    return i, n


def estimated_cost(case: Case, costs_from: dict[tuple[str, str, str], float] | None = None) -> float:
    """Relative cost of running ``case`` (see the module docstring)."""
    if costs_from:
        known = costs_from.get((case.kernel.name, case.problem.id, case.pass_))
        if known is not None:
            return BASE_COST + known * 1e9  # ms -> FLOP-like units at 1 TFLOP/s
    try:
        flops = case.kernel.flops(case.problem)
        nbytes = case.kernel.bytes(case.problem) if not flops else None
    except Exception:  # a kernel that cannot count its work still gets a share
        flops = nbytes = None
    if flops:
        return BASE_COST + flops * passes.WORK.get(case.pass_, 1.0)
    if nbytes:
        return BASE_COST + nbytes * NOMINAL_INTENSITY * passes.BYTES.get(case.pass_, 1.0)
    return BASE_COST + float(case.problem.batch * 100)


def assign(cases: Iterable[Case], n: int,
           costs_from: dict[tuple[str, str, str], float] | None = None) -> dict[str, int]:
    """Case key -> shard index (1-based) for every case."""
    groups: dict[tuple[str, str], list[Case]] = {}
    for case in cases:
        groups.setdefault((case.kernel.name, case.problem.id), []).append(case)
    weighted = sorted(((sum(estimated_cost(c, costs_from) for c in members), key) for key, members in groups.items()),
                      key=lambda item: (-item[0], item[1]))
    loads = [(0.0, i) for i in range(1, n + 1)]
    heapq.heapify(loads)
    owner: dict[str, int] = {}
    for cost, key in weighted:
        load, shard = heapq.heappop(loads)
        for case in groups[key]:
            owner[case.key] = shard
        heapq.heappush(loads, (load + cost, shard))
    return owner


def shard(cases: list[Case], i: int, n: int,
          costs_from: dict[tuple[str, str, str], float] | None = None) -> list[Case]:
    """The cases of shard ``i`` of ``n``, in plan order."""
    owner = assign(cases, n, costs_from)
    return [c for c in cases if owner[c.key] == i]


def costs_of(records: Iterable[dict]) -> dict[tuple[str, str, str], float]:
    """Measured medians of a previous run, keyed as :func:`estimated_cost` reads them."""
    out = {}
    for r in records:
        if r.get("status") == "ok" and isinstance(r.get("median_ms"), (int, float)):
            out[(str(r.get("kernel")), str(r.get("problem_id")), str(r.get("pass")))] = float(r["median_ms"])
    return out
