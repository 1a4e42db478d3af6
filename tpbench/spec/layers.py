"""The layers around tensor products, as data: which blocks a linear layer connects, how a gate splits.

``linear``
    e3nn's ``o3.Linear``: ``z[i_out]_{w k} = sum_{i_in ~ i_out} W_{u w} x[i_in]_{u k} / sqrt(fan_in)``
    with ``fan_in`` the summed input multiplicity of the same irrep.
``gate``
    e3nn's ``nn.Gate``: ``in = scalars + gates + gated``, ``out = scalars + gated``.
"""

from __future__ import annotations

from e3nn import o3

from tpbench.spec.errors import UserError
from tpbench.spec.problem import Problem


def linear_instructions(irreps_in: o3.Irreps, irreps_out: o3.Irreps) -> list[tuple[int, int, float]]:
    """``(i_in, i_out, alpha)`` for every pair of blocks of equal irrep, e3nn's element normalisation."""
    pairs = [(i, j) for i, (_, a) in enumerate(irreps_in) for j, (_, b) in enumerate(irreps_out) if a == b]
    fan_in = {j: sum(irreps_in[i].mul for i, jj in pairs if jj == j) for _, j in pairs}
    return [(i, j, fan_in[j] ** -0.5) for i, j in pairs]


def gate_split(problem: Problem) -> tuple[o3.Irreps, o3.Irreps, o3.Irreps]:
    """``(scalars, gates, gated)`` of a gate problem: ``in = scalars + gates + gated``, ``out = scalars + gated``."""
    out, inp = problem.out, problem.in1
    k = 0
    while k < len(out) and out[k].ir.l == 0:
        k += 1
    scalars, gated = out[:k], out[k:]
    gates = inp[k:len(inp) - len(gated)]
    if inp[:k] != scalars or inp[len(inp) - len(gated):] != gated or gates.num_irreps != gated.num_irreps \
            or any(ir.l != 0 for _, ir in gates):
        raise UserError(f"gate irreps {problem.irreps_in1!r} -> {problem.irreps_out!r} are not "
                        "scalars + gates + gated -> scalars + gated")
    return o3.Irreps(scalars), o3.Irreps(gates), o3.Irreps(gated)


def gate_unsupported(problem: Problem) -> str | None:
    """Why ``problem`` is not a gate layer a gate kernel can run, or ``None``."""
    if problem.op != "gate":
        return "gate layers only"
    try:
        gate_split(problem)
    except UserError as exc:
        return str(exc)
    return None
