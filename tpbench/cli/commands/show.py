"""``tpbench show``: a run as a terminal table."""

from __future__ import annotations

import click


@click.command("show")
@click.argument("run", default="latest")
@click.option("--root", default="results", show_default=True, help="Where run ids are looked up.")
@click.option("--all", "show_all", is_flag=True, help="Also list every case that was not timed, with its reason.")
@click.option("--kernel", default=None, metavar="NAME",
              help="Show where this kernel ranks on each problem and pass (rank among correct kernels, "
                   "time over the best's).")
@click.option("--width", type=int, default=None, help="Table width in characters; default: the terminal's.")
def command(run, root, show_all, kernel, width):
    """Best correct kernel per problem and pass of RUN (a run directory, a run id, or 'latest')."""
    import shutil
    import textwrap

    from tpbench.results.store import find_run, load_runs, require_manifest
    from tpbench.spec.errors import UserError
    from tpbench.views.summary import (best_per_problem, case_counts, common_suffix, fit, kernel_ranks, not_run,
                                       why_nothing_passed)

    directory = find_run(run, root)
    require_manifest(directory)
    df = load_runs([directory])
    width = width or shutil.get_terminal_size((120, 24)).columns
    counts = case_counts(df)
    click.echo(textwrap.fill(f"run {directory.name}: {counts[0]}", width, subsequent_indent="  "))
    busy = int(df["contended"].fillna(False).astype(bool).sum()) if "contended" in df else 0
    if busy:
        click.echo(textwrap.fill(f"warning: {busy} timed cases ran while other work loaded the CPU (load average "
                                 "above the core count): their times may be inflated, many-fold with several "
                                 "threads; rerun on a quiet machine or with --threads 1", width))
    for line in counts[1:]:
        click.echo(line if len(line) <= width else line[:width - 1] + "…")
    if "status" not in df or not (df["status"] == "ok").any():
        click.echo("no case passed the correctness gate, so nothing was timed:")
        for line in why_nothing_passed(df):
            click.echo(f"  {line}")
        return
    suffix = common_suffix(sorted(set(df["problem_label"])))
    if suffix:
        click.echo(f"every problem: {suffix}")
        df = df.assign(problem_label=df["problem_label"].str.removesuffix(" " + suffix))
    if kernel:
        if kernel not in set(df["kernel"]):
            raise UserError(f"no kernel {kernel!r} in run {directory.name}; it has {', '.join(sorted(set(df['kernel'])))}")
        click.echo(f"where {kernel} ranks among the correct kernels:")
        click.echo(fit(kernel_ranks(df, kernel), width, optional=("best", "vs_best")))
    else:
        table = best_per_problem(df)
        click.echo(fit(table, width) if not table.empty else "no correct timed case")
        caveats = table[table["caveat"].fillna("") != ""] if "caveat" in table else table.iloc[0:0]
        if len(caveats):
            which = ", ".join(dict.fromkeys(f"{r['best']} on {r['problem']}: {r['caveat']}"
                                            for _, r in caveats.iterrows()))
            click.echo(textwrap.fill(
                f"caveat: the best kernel computes fewer paths (couplings) or another model than another correct "
                f"kernel, so it does less work or other math ({which}); see `tpbench metrics`.", width))
        from tpbench.views.block_table import prediction_text

        for line in prediction_text(df):
            click.echo(line if len(line) <= width else line[:width - 1] + "…")
    if show_all:
        click.echo("\nnot timed:")
        click.echo(fit(not_run(df), width))
