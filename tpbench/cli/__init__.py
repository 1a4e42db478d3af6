"""The ``tpbench`` command line (click).

Commands live one per module in :mod:`tpbench.cli.commands`; each module that
defines a click command named ``command`` is registered. Commands only parse
arguments and call library functions. A :class:`~tpbench.spec.errors.UserError`
(bad input) is printed as one line on stderr with exit code 2, no traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from tpbench.spec.errors import UserError


class Group(click.Group):
    """A group whose ``--help`` shows each command's whole first sentence, wrapped, never cut with "..."."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str(limit=10_000)) for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tpbench")
def cli() -> None:
    """Benchmark E(3)-equivariant tensor products: speed, memory, work, correctness, expressivity."""


def _register() -> None:
    import tpbench.cli.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            cli.add_command(command)


_register()


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line on stderr, ``tpbench: warning: ...``: Python's default prints the
    warning's source file and line of code, which mean nothing to a user."""
    text = " ".join(str(message).split())
    name = category.__name__
    click.echo(f"tpbench: warning: {text}" + ("" if name in _OWN_WARNINGS else f" ({name})"), err=True)


_OWN_WARNINGS = {"ResultsWarning", "UserWarning"}


def main(argv: list[str] | None = None) -> None:
    import warnings

    warnings.showwarning = _one_line_warning
    # matplotlib's layout engines warn when a figure cannot be fitted perfectly (long kernel names);
    # the figure is still written, and the warning tells a reader of the report nothing.
    warnings.filterwarnings("ignore", message=r".*(constrained|tight)[ _]layout", category=UserWarning)
    try:
        rv = cli.main(args=argv, prog_name="tpbench", standalone_mode=False)
    except UserError as exc:
        click.echo(f"tpbench: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("tpbench: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # one line, like every other bad input
        click.echo(f"tpbench: error: {exc.format_message()}".replace("\n", " "), err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    # With standalone_mode off, click returns a command's exit code instead of exiting.
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
