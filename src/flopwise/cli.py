"""The ``flopwise`` command. Each sub-command lives in ``flopwise/commands/<name>.py`` and
exposes ``register(app)``; this module only wires them and turns errors into one line."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from flopwise.errors import FlopwiseError

app = typer.Typer(
    name="flopwise",
    help="What a neural network really costs, and why: FLOPs, bytes, time, energy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Sub-command modules in the order they appear in --help.
COMMAND_MODULES = (
    "profile",
    "hardware",
    "sweep",
    "compare",
    "predict",
    "fit_alpha",
    "llm",
    "report",
    "history",
    "campaign",
)

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"flopwise.commands.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"flopwise.commands.{_name}":
            raise
        continue
    _module.register(app)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    if debug:
        os.environ["FLOPWISE_DEBUG"] = "1"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a :class:`FlopwiseError` prints one line and exits non-zero."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rc = app(args=argv, standalone_mode=False)
    except FlopwiseError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if debug:
            raise
        typer.echo(
            f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True
        )
        return 1
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
