"""``flopwise hardware``: measure this machine's ceilings, or list/show hardware profiles."""

from __future__ import annotations

import sys

import typer

from flopwise.commands._options import BudgetOption, FormatOption, ThreadsOption
from flopwise.errors import FlopwiseError


def register(app: typer.Typer) -> None:
    app.command("hardware")(hardware_command)


def hardware_command(
    budget: float | None = BudgetOption(45, "measuring"),
    list_: bool = typer.Option(False, "--list", help="List the known hardware profiles"),
    show: str | None = typer.Option(
        None, "--show", help="Show one profile: a name (h100, a100-40gb, host) or a JSON file"
    ),
    save: bool = typer.Option(
        True, "--save/--no-save", help="Cache the measured profile (reused as 'host')"
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Overwrite the cached profile instead of keeping the best of each ceiling",
    ),
    # Not the shared --device: this one names a device to measure, never a model's.
    device: str | None = typer.Option(
        None, "--device", help="Device to measure: cpu or cuda[:N] (default: cpu)"
    ),
    threads: int | None = ThreadsOption(),
    fmt: str = FormatOption("table", "json"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar"),
) -> None:
    """Measure this machine's ceilings (GEMM FLOP/s per dtype, copy bandwidth, dispatch
    overhead) in under a minute, or list/show datasheet profiles."""
    from flopwise.pipeline import MeasureOptions
    from flopwise.pipeline import hardware as api
    from flopwise.report import hardware as render

    _refuse_unused(list_, show, budget=budget, threads=threads, replace=replace, device=device)
    if list_:
        profiles = api.list_hardware()
        _write(render.profiles_json(profiles) if fmt == "json" else render.profiles_table(profiles))
        return
    if show:
        prof = api.show_hardware(show)
        _write(render.profile_json(prof) if fmt == "json" else render.profile_table(prof))
        return
    measure = MeasureOptions(
        budget_s=api.HARDWARE_BUDGET_S if budget is None else budget,
        threads=threads,
        progress=progress and sys.stderr.isatty(),
    )
    result = api.measure_hardware(
        device=device or "cpu", measure=measure, save=save, replace=replace
    )
    prof = result.profile
    _write(render.profile_json(prof) if fmt == "json" else render.profile_table(prof))
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    line = render.saved_line(result)
    if line is not None:
        typer.echo(line, err=True)


def _refuse_unused(list_: bool, show: str | None, **measuring: object) -> None:
    """Refuse, in one line, --list with --show, and a measuring option given to either
    (the run would silently ignore it)."""
    if list_ and show:
        raise FlopwiseError("give --list or --show, not both")
    if not (list_ or show):
        return
    for name, value in measuring.items():
        if value not in (None, False):
            raise FlopwiseError(f"--{name} is only used when measuring, not with --list or --show")


def _write(rendered: object) -> None:
    """JSON text as is; a table through the stdout console (as wide as it needs)."""
    if isinstance(rendered, str):
        typer.echo(rendered)
        return
    from flopwise.report.console import stdout_console

    stdout_console().print(rendered)
