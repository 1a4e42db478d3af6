"""``tpbench compare``: per-case ratio of medians between two runs, labelled faster/slower/same/ambiguous."""

from __future__ import annotations

import click


@click.command("compare")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
@click.option("--min-effect", type=float, default=5.0, show_default=True,
              help="Smallest change (percent) that may be labelled faster or slower.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level.")
@click.option("--changes-only", is_flag=True, help="Leave out the cases labelled 'same'.")
@click.option("--fail-on-regression", type=float, default=None, metavar="PCT",
              help="Exit with status 1 if a case is significantly slower by more than PCT percent.")
@click.option("--root", default="results", show_default=True, help="Where run ids are looked up.")
def command(run_a, run_b, fmt, min_effect, alpha, changes_only, fail_on_regression, root):
    """Compare RUN_B against RUN_A (B/A > 1: B is slower), labelling each case.

    \b
    same       the change is below the case's threshold;
    faster /   the change exceeds the threshold and is significant;
    slower
    ambiguous  the change exceeds the threshold but cannot be shown significant
               (no samples recorded, too few cases to estimate the noise):
               rerun both with more --repeat.

    The threshold (printed per case) is max(--min-effect, e^(4 sigma) - 1), sigma the
    run-to-run noise of the ratio, from the runs' own repetitions (pooled over cases)
    and the spread of the ratios across cases; with one repetition it is at least
    twice --min-effect. Calibrated so that two runs of the same code get a false
    faster/slower on at most 1 % of cases (benchmarks/compare_aa.py).
    """
    from tpbench.views.compare import compare_runs
    from tpbench.views.compare_format import as_markdown, as_text
    from tpbench.results.store import find_run, require_manifest

    for run in (run_a, run_b):
        require_manifest(find_run(run, root))
    comparison = compare_runs(run_a, run_b, root, min_effect=min_effect / 100, alpha=alpha)
    render = as_markdown if fmt == "markdown" else as_text
    click.echo(render(comparison, show_same=not changes_only))
    if fail_on_regression is not None:
        regressions = comparison.regressions(fail_on_regression)
        if regressions:
            click.echo(f"{len(regressions)} cases are significantly slower by more than {fail_on_regression:g}%",
                       err=True)
            # Exit rather than return 1: click drops return values in standalone mode.
            click.get_current_context().exit(1)
