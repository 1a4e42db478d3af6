"""``tpbench metrics``: expressivity, interactability and paths of kernels on one problem.

The math is :mod:`tpbench.metrics.expressivity`; this command only parses arguments.
"""

from __future__ import annotations

import json
import re

import click

from tpbench.spec.errors import UserError

SPEC_HELP = "FAMILY[:KEY=VALUE[,KEY=VALUE...]], e.g. mimo:L=3, mimo-ap:L=2, channelwise:mul=1,L_hidden=2,L_sh=2"


def parse_problem_spec(spec: str):
    """``mimo:L=3`` -> ``tpbench.spec.shapes.make_problem("mimo", L=3)``; integer values become ints."""
    from tpbench.spec.shapes import make_problem

    family, _, rest = spec.strip().partition(":")
    pairs = [item.split("=", 1) for item in rest.split(",")] if rest.strip() else []
    if not family or any(len(p) != 2 or not p[0].strip() for p in pairs):
        raise UserError(f"malformed problem {spec!r}; expected {SPEC_HELP}")
    params = {k.strip(): int(v) if re.fullmatch(r"\s*-?\d+\s*", v) else v.strip() for k, v in pairs}
    try:
        return make_problem(family.strip(), **params)
    except (UserError, ValueError, TypeError) as exc:  # a family's own checks on a badly typed value
        raise UserError(f"bad problem {spec!r}: {exc}") from None


def _format(kernel, problem, record: dict) -> str:
    lines = [f"{kernel.name} ({kernel.symmetry}) on {problem.family} "
             f"{' '.join(f'{k}={v}' for k, v in problem.params)}: "
             f"{problem.irreps_in1} x {problem.irreps_in2} -> {problem.irreps_out}"]
    if record["status"] != "ok":
        return "\n".join(lines + [f"  {record['status']}: {record['reason']}"])
    n = len(record["paths_reached"]) + len(record["paths_missed"])
    lines += [
        f"  expressivity     {record['expressivity']}",
        f"  interactability  {record['interactability']}",
        f"  upper bound      {record['upper_bound']}  (dim Hom_{record['symmetry']})",
        f"  paths reached    {len(record['paths_reached'])}/{n}",
        f"  paths missed     {', '.join(record['paths_missed']) or '-'}",
        f"  seconds          {record['seconds']:.2f}",
    ]
    if record["reason"]:
        lines.append(f"  note: {record['reason']}")
    return "\n".join(lines)


def metrics(kernel_refs, problem_spec: str, as_json: bool, cache_dir: str | None) -> None:
    from tpbench.metrics.expressivity import expressivity_record, pick_device
    from tpbench.kernel.registry import Registry

    problem = parse_problem_spec(problem_spec)
    refs = [kernel_refs] if isinstance(kernel_refs, str) else list(kernel_refs)
    kernels = list({k.name: k for k in Registry.default().resolve(refs)}.values())
    for kernel in kernels:
        _, reason = pick_device(kernel, problem.replace(dtype="float64"))
        if reason is not None and len(kernels) == 1:
            raise UserError(reason)
        if reason is not None:  # a glob: report the others
            click.echo(f"tpbench: skipped: {reason}", err=True)
            continue
        record = expressivity_record(kernel, problem, cache_dir)
        if as_json:
            click.echo(json.dumps({"kernel": kernel.name, "problem": problem.to_dict(), **record}))
        else:
            click.echo(_format(kernel, problem, record))


@click.command("metrics")
@click.option("--kernel", "kernel_refs", required=True, multiple=True, metavar="NAME|FILE.py",
              help="A kernel name or glob (see `tpbench list kernels`), or a Python file defining kernels; "
                   "repeat for several (each is reported).")
@click.option("--problem", "problem_spec", required=True, metavar="SPEC", help=SPEC_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per kernel instead of text.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Also cache results as JSON files here.")
def command(kernel_refs, problem_spec, as_json, cache_dir):
    """Expressivity, interactability, the Hom upper bound and the paths reached (tpbench.metrics.expressivity)."""
    try:
        metrics(kernel_refs, problem_spec, as_json, cache_dir)
    except UserError as exc:  # tpbench.cli does the same; this keeps the command usable on its own
        click.echo(f"tpbench: error: {exc}", err=True)
        raise click.exceptions.Exit(2) from None
