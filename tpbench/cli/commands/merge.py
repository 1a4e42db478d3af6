"""``tpbench merge``: fold a sharded run's shard files into its cases."""

from __future__ import annotations

import click


@click.command("merge")
@click.argument("run")
@click.option("--root", default="results", show_default=True, help="Where run ids are looked up.")
@click.option("--allow-mixed", is_flag=True,
              help="Accept shards measured on different machines; views then group by machine, never ranking across.")
def command(run, root, allow_mixed):
    """Merge the shard files of RUN (written by --shard or --executor slurm) into its cases.jsonl."""
    from tpbench.results.store import merge

    counts = merge(run, root, allow_mixed=allow_mixed)
    click.echo(f"merged {counts['shards']} shard files: {counts['added']} cases added "
               f"({counts['machines']} machine{'s' if counts['machines'] != 1 else ''})")
