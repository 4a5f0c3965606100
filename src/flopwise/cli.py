"""The ``flopwise`` command. Each sub-command lives in ``flopwise/commands/<name>.py`` and
exposes ``register(app)``; this module only wires them and turns errors into one line.

Exit codes (the contract CI relies on):

- 0: success;
- 1: a gate failed (``flopwise diff --fail-over`` saw a regression), nothing else;
- 2: the command line or its input is wrong (unknown option, bad value, unreadable file,
  a model that rejects its inputs ...): one line on stderr naming what is at fault;
- 3: flopwise itself failed (a bug): one line; ``--debug`` shows the traceback;
- 130: interrupted; 141: stdout was closed by its reader (``| head``), quietly.
"""

from __future__ import annotations

import errno
import importlib
import os
import sqlite3
import sys
from typing import Any

import typer

from flopwise.errors import DatabaseFile, FlopwiseError

EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose pipe closed

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
    "diffusion",
    "memory",
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


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """Give each command the first paragraph of its docstring, joined into one line, as the
    summary the root --help lists (rich keeps the docstring's line breaks there, which cut
    the summaries at random points)."""
    for info in typer_app.registered_commands:
        doc = info.help or (info.callback.__doc__ if info.callback else None)
        if info.short_help is None and doc:
            info.short_help = " ".join(doc.strip().split("\n\n")[0].split())


_one_line_summaries(app)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False,
        "--debug",
        help="Show full tracebacks on errors (here or after the sub-command; or set "
        "FLOPWISE_DEBUG=1).",
    ),
) -> None:
    # main() takes --debug off the command line wherever it stands; this option only lists
    # it in --help.
    del debug


def _exception_modules() -> list[Any]:
    """The click exception modules typer may raise from: click itself (typer < 0.20 and the
    ``click`` users import) and the copy recent typer vendors as ``typer._click``."""
    modules = []
    for name in ("click.exceptions", "typer._click.exceptions"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return modules


def _classes(attr: str, *extra: type) -> tuple[type, ...]:
    found = [getattr(m, attr) for m in _exception_modules() if hasattr(m, attr)]
    return tuple(dict.fromkeys([*found, *extra]))


# Resolved once: every typer version raises one of these for usage errors, exits, aborts.
CLICK_ERRORS = _classes("ClickException")
USAGE_ERRORS = _classes("UsageError")
EXITS = _classes("Exit", typer.Exit)
ABORTS = _classes("Abort", typer.Abort)


def one_line(text: str) -> str:
    """``text`` with its lines joined: a message is printed on exactly one line."""
    return " ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())


def _split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Remove ``--debug`` wherever it stands before ``--``, so it works after the
    sub-command as well as before it."""
    end = argv.index("--") if "--" in argv else len(argv)
    kept = [a for a in argv[:end] if a != "--debug"] + argv[end:]
    return kept, len(kept) != len(argv)


def report_error(exc: BaseException, debug: bool = False) -> int:
    """Print ``exc`` as one ``error:`` line on stderr and return the exit code it maps to;
    re-raises it with ``debug`` (except usage errors, which have no useful traceback)."""
    if isinstance(exc, EXITS):
        return int(getattr(exc, "exit_code", 0) or 0)
    if isinstance(exc, (ABORTS, KeyboardInterrupt)):
        typer.echo("aborted", err=True)
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):  # `flopwise ... | head`: the reader has had enough
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    if isinstance(exc, USAGE_ERRORS):
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `flopwise`: the help text
            exc.show()
            return EXIT_USAGE
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        typer.echo(f"error: {where}{one_line(exc.format_message())}", err=True)
        return EXIT_USAGE
    if debug:
        raise exc
    if isinstance(exc, FlopwiseError):
        typer.echo(f"error: {one_line(str(exc))}", err=True)
        return exc.exit_code
    if isinstance(exc, CLICK_ERRORS):  # e.g. FileError: the input is at fault
        typer.echo(f"error: {one_line(exc.format_message())}", err=True)
        return EXIT_USAGE
    if isinstance(exc, OSError) and exc.filename is not None:  # a path the user gave
        what = exc.strerror or type(exc).__name__
        typer.echo(f"error: {exc.filename}: {one_line(what)}", err=True)
        return EXIT_USAGE
    if isinstance(exc, sqlite3.Error):  # the results store, whichever command opened it
        path = _store_path(exc)
        typer.echo(
            f"error: the results database {path or ''} failed: {one_line(str(exc))} "
            f"({type(exc).__name__}); check that --db or $FLOPWISE_DB names a readable and "
            "writable flopwise database",
            err=True,
        )
        return EXIT_USAGE
    message = one_line(str(exc)) or "(no message)"
    typer.echo(
        f"error: internal error, {type(exc).__name__}: {message} "
        "(a flopwise bug; run with --debug for the traceback)",
        err=True,
    )
    return EXIT_INTERNAL


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


def _store_path(exc: BaseException) -> str | None:
    """The file of the :class:`~flopwise.errors.DatabaseFile` (the results store) whose call
    raised ``exc``, found on the traceback (any command may open the store; this names the
    file without each one catching sqlite errors)."""
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if isinstance(owner, DatabaseFile):
            return str(owner.path)
        tb = tb.tb_next
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (see the module docstring); every error is one
    line on stderr, with the traceback only under ``--debug`` (anywhere on the line)."""
    args, debug = _split_debug(list(sys.argv[1:] if argv is None else argv))
    debug = debug or os.environ.get("FLOPWISE_DEBUG") == "1"
    try:
        rc = app(args=args, standalone_mode=False, prog_name="flopwise")
    except (Exception, KeyboardInterrupt) as exc:
        return report_error(exc, debug)
    except SystemExit as exc:
        # click and rich turn a closed stdout into SystemExit(1), even with
        # standalone_mode=False; exit 1 is reserved for a failed gate.
        cause = exc.__context__
        if isinstance(cause, OSError) and cause.errno == errno.EPIPE:
            return report_error(BrokenPipeError(errno.EPIPE, "stdout closed"), debug)
        raise
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
