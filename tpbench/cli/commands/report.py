"""``tpbench report``: one self-contained HTML report of one or more runs."""

from __future__ import annotations

import click


@click.command("report")
@click.argument("runs", nargs=-1, required=True)
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="HTML file to write [default: reports/<first run>.html].")
@click.option("--baseline", default=None, metavar="KERNEL", help="Kernel the speedup heatmap compares against.")
@click.option("--root", default="results", show_default=True, help="Where run ids are looked up.")
def command(runs, output, baseline, root):
    """Write an HTML report of RUNS (run directories or run ids)."""
    from pathlib import Path

    from tpbench.views.report import build_report
    from tpbench.results.store import find_run, require_manifest

    for run in runs:
        require_manifest(find_run(run, root))
    output = output or str(Path("reports") / f"{find_run(runs[0], root).name}.html")
    path = build_report(runs, output, baseline=baseline, root=root)
    click.echo(f"wrote {path}")
