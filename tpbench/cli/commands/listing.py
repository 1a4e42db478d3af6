"""``tpbench list``: kernels (with availability) and suites."""

from __future__ import annotations

import click


@click.command("list")
@click.argument("what", type=click.Choice(["kernels", "suites"]))
def command(what):
    """List the kernels (family, backend, devices, availability) or the suites."""
    if what == "suites":
        from tpbench.run.suite import available_suites, load_suite

        for name in available_suites():
            click.echo(f"{name:12s} {load_suite(name).description}")
        return
    from tpbench.kernel.registry import Registry

    click.echo(f"{'KERNEL':34s} {'FAMILY':18s} {'BACKEND':16s} {'DEVICES':9s} STATE")
    for k in sorted(Registry.default().kernels.values(), key=lambda k: (k.family, k.name)):
        why = k.available()
        state = "available" if why is None else f"unavailable: {why}"
        click.echo(f"{k.name:34s} {k.family:18s} {k.backend:16s} {','.join(k.devices):9s} {state}")
