"""``tpbench publish``: add runs' reports and comparisons to a static site and rebuild its index."""

from __future__ import annotations

import click


@click.command("publish")
@click.argument("runs", nargs=-1)
@click.option("--site", required=True, type=click.Path(file_okay=False), help="The site directory.")
@click.option("--compare", "compares", multiple=True, metavar="A:B", help="Also publish B compared against A.")
@click.option("--baseline", default=None, metavar="KERNEL", help="Kernel the reports' speedup heatmaps use.")
@click.option("--root", default="results", show_default=True, help="Where run ids are looked up.")
def command(runs, site, compares, baseline, root):
    """Publish RUNS (and comparisons) into the static site at --site."""
    from tpbench.views.publish import parse_pair, publish

    index = publish(runs, site, [parse_pair(c) for c in compares], root=root, baseline=baseline)
    click.echo(f"wrote {index}")
