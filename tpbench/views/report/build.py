"""Assemble one report: load runs, compute tables and figures, render the HTML."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Iterable

from tpbench.spec.errors import UserError
from tpbench.views.report import block, figures, tables
from tpbench.views.report.conv import conv_vs_edges
from tpbench.views.report.data import Runs, load
from tpbench.views.report.html import render
from tpbench.views.report.pareto import pareto
from tpbench.views.report.plotting import Palette
from tpbench.views.report.provenance import env_table
from tpbench.views.report.roofline import roofline

SECTIONS = [("summary", "Summary"), ("micro-to-model", "Micro to model"), ("runtime", "Runtime"), ("speedup", "Speedup"), ("memory", "Memory"),
            ("roofline", "Roofline"), ("expressivity", "Expressivity"), ("correctness", "Correctness"),
            ("failures", "Failures"), ("environment", "Environment")]
WINNER_COLUMNS = [("problem_label", "problem", "text"), ("pass", "pass", "text"), ("winner", "fastest", "text"),
                  ("work", "paths computed", "text"), ("median_ms", "median (ms)", "g"), ("runner_up", "next", "text"),
                  ("next_ms", "next (ms)", "g"), ("margin", "margin", "x"), ("family", "family", "text"),
                  ("n_kernels", "kernels", "i")]
MEMORY_COLUMNS = [("machine", "machine", "text"), ("problem_label", "problem", "text"), ("pass", "pass", "text"),
                  ("series", "kernel", "text"), ("peak_memory_mb", "GPU peak (MB)", "g"),
                  ("peak_rss_mb", "CPU peak RSS (MB)", "g"), ("median_ms", "median (ms)", "g")]
EXPRESSIVITY_COLUMNS = [("problem_label", "problem", "text"), ("series", "kernel", "text"),
                        ("family", "family", "text"), ("symmetry", "group", "text"),
                        ("expressivity", "expressivity", "i"), ("interactability", "interactability", "i"),
                        ("upper_bound", "upper bound", "i"), ("missed", "paths missed", "wrap")]
ERROR_COLUMNS = [("series", "kernel", "text"), ("symmetry", "group", "text"), ("dtype", "dtype", "text"),
                 ("pass", "pass", "text"), ("cases", "cases", "i"), ("incorrect", "incorrect", "i"),
                 ("max_rel_error", "max rel. error", "e"), ("max_equivariance_error", "max equiv. error", "e"),
                 ("equivariance", "equivariance held to", "text")]
FAILURE_SUMMARY_COLUMNS = [("status", "status", "status"), ("reason", "reason", "wrap"), ("cases", "cases", "i"),
                           ("kernels", "kernels", "wrap"), ("problems", "problems", "wrap")]
FAILURE_COLUMNS = [("status", "status", "status"), ("kernel", "kernel", "text"),
                   ("problem_label", "problem", "text"), ("pass", "pass", "text"), ("variant", "variant", "text"),
                   ("device", "device", "text"), ("reason", "reason", "wrap"), ("run_id", "run", "text")]


def build_report(refs: Iterable[str], output: str | Path, baseline: str | None = None,
                 root: str = "results", home: str | None = None) -> Path:
    """Write the HTML report of ``refs`` to ``output`` and return its path (``home``: a link back, if any)."""
    runs = load(refs, root)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report_html(runs, baseline, home), encoding="utf-8")
    return output


def report_html(runs: Runs, baseline: str | None = None, home: str | None = None) -> str:
    if baseline is not None and baseline not in set(runs.cases["kernel"]):
        raise UserError(f"baseline kernel {baseline!r} is not in these runs")
    baseline = baseline or tables.default_baseline(runs)
    context = {**tables_context(runs), **figures_context(runs, baseline), **block_context(runs)}
    return render("report.html.j2", **context, baseline=baseline, home=home, warnings=runs.warnings,
                  run_ids=list(runs.manifests), n_cases=len(runs.cases), version=version(),
                  generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), sections=[s for s in SECTIONS if s[0] != "micro-to-model" or context["block_rows"]],
                  environment=env_table(runs.manifests))


def tables_context(runs: Runs) -> dict[str, Any]:
    counts = tables.status_counts(runs)
    status_columns = [("run_id", "run", "text")] + [(k, k, "i") for k in (counts[0] if counts else {})
                                                    if k != "run_id"]
    by_machine: dict[str, list[dict[str, Any]]] = {}
    for row in tables.winners(runs):
        by_machine.setdefault(row["machine"], []).append(row)
    return {"winners": list(by_machine.items()), "winner_columns": WINNER_COLUMNS,
            "status_counts": counts, "status_columns": status_columns,
            "memory": tables.memory(runs), "memory_columns": MEMORY_COLUMNS,
            "expressivity": tables.expressivity(runs), "expressivity_columns": EXPRESSIVITY_COLUMNS,
            "errors": tables.errors(runs), "error_columns": ERROR_COLUMNS,
            "failures": tables.failures(runs), "failure_columns": FAILURE_COLUMNS,
            "failure_summary": tables.failure_summary(runs), "failure_summary_columns": FAILURE_SUMMARY_COLUMNS}


def block_context(runs: Runs) -> dict[str, Any]:
    """The "From microbenchmark to model" section (absent when the runs hold no model block)."""
    rows = block.table(runs.cases)
    return {"block_rows": rows, "block_columns": block.COLUMNS, "fig_block": block.figures(rows) if rows else []}


def figures_context(runs: Runs, baseline: str | None) -> dict[str, Any]:
    ok = runs.ok
    palette = Palette(runs.cases["series"], runs.cases["family"])
    speedup = []
    for machine, group in ok.groupby("machine", sort=True) if baseline else ():
        for pass_, table in tables.speedups(Runs(group, runs.manifests), baseline).items():
            speedup += figures.heatmap(table, baseline, f"{machine} · {pass_}")
    return {
        "fig_L": figures.runtime_vs(ok, "param_L", "L (max degree)", palette),
        "fig_batch": figures.runtime_vs(ok, "batch", "batch size", palette, logx=True),
        "fig_edges": conv_vs_edges(ok, palette),
        "fig_mul": figures.runtime_vs(ok, "param_mul", "channels (multiplicity)", palette, logx=True),
        "fig_speedup": speedup,
        "fig_memory": figures.memory_vs(ok, "param_L", "L (max degree)", palette),
        "fig_roofline": roofline(ok, runs.manifests, palette),
        "fig_pareto": pareto(ok, "expressivity", palette) + pareto(ok, "interactability", palette),
        "fig_errors": figures.error_strips(runs.cases),
    }


def version() -> str:
    try:
        from importlib.metadata import version as v

        return v("tpbench")
    except Exception:  # not installed (running from a checkout): the report still renders
        return "unknown"
