"""``tpbench show``: a run as a terminal table."""

from __future__ import annotations

import click


@click.command("show")
@click.argument("run", default="latest")
@click.option("--root", default="results", show_default=True, help="Where run ids are looked up.")
@click.option("--all", "show_all", is_flag=True, help="Also list every case that was not timed, with its reason.")
def command(run, root, show_all):
    """Best correct kernel per problem and pass of RUN (a run directory, a run id, or 'latest')."""
    import pandas as pd

    from tpbench.results.store import find_run, load_runs
    from tpbench.views.summary import best_per_problem, not_run, status_counts, why_nothing_passed

    directory = find_run(run, root)
    df = load_runs([directory])
    click.echo(f"run {directory.name}: {len(df)} cases")
    counts = status_counts(df)
    click.echo("  " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    if "status" not in df or not (df["status"] == "ok").any():
        click.echo("no case passed the correctness gate, so nothing was timed:")
        for line in why_nothing_passed(df):
            click.echo(f"  {line}")
        return
    table = best_per_problem(df)
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_columns", 20,
                           "display.float_format", "{:.4g}".format):
        click.echo(table.to_string(index=False) if not table.empty else "no correct timed case")
        if show_all:
            click.echo("\nnot timed:")
            click.echo(not_run(df).to_string(index=False))
