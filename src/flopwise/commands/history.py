"""``flopwise history``, ``flopwise diff`` and ``flopwise export``: the results store on the
command line.

``diff`` is a CI gate: ``flopwise diff BASE.json NEW.json --fail-over flops=1%`` exits 1 when
the model's FLOPs grew by more than 1%, 0 otherwise, and 2 on a usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from flopwise.commands._options import FormatOption, OutputOption, non_negative, write_output
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps
from flopwise.pipeline.history import METRICS, diff_runs, export_run, list_runs

_DB_HELP = "Results database (default: $FLOPWISE_DB or ~/.local/share/flopwise/results.sqlite)."


class ThresholdExceeded(FlopwiseError):
    """``flopwise diff --fail-over``: a gated metric grew more than allowed."""

    exit_code = 1


def _console():
    from flopwise.report.console import stdout_console

    return stdout_console(highlight=False)  # logs and pipes: whole values


def history(
    model: str | None = typer.Argument(
        None, help="Only runs of exactly this model; * and ? make a glob pattern (torchvision:*)."
    ),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    limit: int = typer.Option(30, "--limit", "-n", help="Show at most this many runs."),
    kind: str | None = typer.Option(None, "--kind", help="profile, measure, sweep or compare."),
    fmt: str = FormatOption("table", "json"),
) -> None:
    """List stored runs, newest first."""
    result = list_runs(model, db=db, limit=limit, kind=kind)
    if fmt == "json":
        typer.echo(dumps(result.to_list()))
        return
    from flopwise.report.history import no_runs_line, runs_table

    console = _console()
    if result.runs:
        console.print(runs_table(result))
    else:
        console.print(no_runs_line(result), markup=False)


def diff(
    run_a: str = typer.Argument(
        ..., help="Before: run id, latest, latest~N, @MODEL or a JSON file."
    ),
    run_b: str = typer.Argument(
        ..., help="After: run id, latest, latest~N, @MODEL or a JSON file."
    ),
    fail_over: list[str] = typer.Option(
        None,
        "--fail-over",
        help="Exit 1 when METRIC grows by more than N% (or by N units): flops=1%, bytes=5%, "
        "params=0, time=10%. Repeatable.",
    ),
    metric: list[str] = typer.Option(
        None,
        "--metric",
        "-m",
        help=f"Metrics to show (repeatable or comma-separated; {', '.join(METRICS)}). "
        "Default: flops, bytes, params and time when measured.",
    ),
    per_module: bool = typer.Option(
        False, "--per-module", help="Apply --fail-over to every module, not only to the totals."
    ),
    show_all: bool = typer.Option(False, "--all", help="Show unchanged modules too."),
    depth: int | None = typer.Option(
        None, "--depth", "-d", help="Show modules up to this depth.", callback=non_negative
    ),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    fmt: str = FormatOption("table", "json"),
) -> None:
    """Show what changed per module between two runs; with --fail-over, gate CI on it."""
    from flopwise.report.history import (
        diff_header,
        diff_table,
        thresholds_ok_line,
        violations_line,
    )

    result = diff_runs(
        run_a,
        run_b,
        db=db,
        metrics=metric,
        fail_over=fail_over or (),
        per_module=per_module,
        show_all=show_all,
        depth=depth,
    )
    if fmt == "json":
        typer.echo(dumps(result.to_dict()))
    else:
        console = _console()
        for line in diff_header(result):
            console.print(line)
        console.print(diff_table(result))
    if result.violations:  # one line, as every error: the violations joined
        raise ThresholdExceeded(violations_line(result))
    if result.thresholds and fmt == "table":
        typer.echo(thresholds_ok_line(result))


def export(
    run: str = typer.Argument(..., help="Run id, latest, latest~N or @MODEL."),
    fmt: str = FormatOption("json", "csv"),
    output: Path | None = OutputOption("Write here instead of stdout"),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Export a stored run as JSON (the full document) or CSV (its modules)."""
    text = export_run(run, fmt=fmt, db=db)
    if output is None:
        sys.stdout.write(text)
    else:
        write_output(output, text)
        typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``history``, ``diff`` and ``export`` to the ``flopwise`` command."""
    app.command("history")(history)
    app.command("diff")(diff)
    app.command("export")(export)


__all__ = ["register", "history", "diff", "export", "ThresholdExceeded"]
