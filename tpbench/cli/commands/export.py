"""``tpbench export``: a run as CSV, Parquet, or pytest-benchmark JSON."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "pytest-benchmark"]), required=True)
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="File to write [default: <run id>.csv|.parquet|.json].")
@click.option("--root", default="results", show_default=True, help="Where run ids are looked up.")
def command(run, fmt, output, root):
    """Export RUN (a run directory or a run id)."""
    from tpbench.views.export import export
    from tpbench.results.store import find_run, require_manifest

    require_manifest(find_run(run, root))
    path, warnings = export(run, fmt, output, root)
    for message in warnings:
        click.echo(f"warning: {message}", err=True)
    click.echo(f"wrote {path}")
