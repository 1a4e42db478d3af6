"""Cases a model block brings with it: the microbenchmarks of its swapped operation, at its shapes.

A block kernel may name, per problem, the (part problem, part kernel) pairs
whose micro time its block time is held against (``kernel.micro(problem)``:
the block's conv on the block's graph). The sweep plans them next to the
block, in the same pass, variant and run, so the micro ratio, the block ratio
and the stub block's fraction all come from one run's records
(:mod:`tpbench.metrics.block_prediction`).
"""

from __future__ import annotations

import dataclasses

from tpbench.run.case import Case


def with_micro_cases(cases: list[Case]) -> list[Case]:
    """``cases`` followed by the micro cases their kernels ask for (each once, after the cases' filters)."""
    from tpbench.run.runner import skip_reason

    out = {c.key: c for c in cases}
    for case in cases:
        micro = getattr(case.kernel, "micro", None)
        if micro is None or skip_reason(case) is not None:  # a block that will not run needs no micro
            continue
        for problem, kernel in micro(case.problem):
            extra = dataclasses.replace(case, problem=problem, kernel=kernel)
            out.setdefault(extra.key, extra)
    return list(out.values())
