"""``flopwise sweep MODEL --dim batch=1,2,4,8 --dim resolution=128,224,320``: parse, run
:mod:`flopwise.pipeline.sweep`, render with :mod:`flopwise.report.sweep`, write."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from flopwise.commands._options import (
    OUTPUT_RULE,
    BudgetOption,
    DeviceOption,
    FormatOption,
    InputOption,
    OutputOption,
    output_file,
    write_output,
)
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps, finite
from flopwise.pipeline import MeasureOptions
from flopwise.pipeline.report import sweep_chart_list
from flopwise.pipeline.sweep import check_statistic, parse_dim, plan_sweep, run_sweep
from flopwise.report.sweep import render_table, write_plots


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_command)


def sweep_command(
    model: str = typer.Argument(..., help="Model spec, as for `flopwise profile`"),
    dim: list[str] = typer.Option(
        ...,
        "--dim",
        "-d",
        help="NAME=V1,V2,...; NAME is batch, resolution, seq or INPUT.AXIS (repeatable)",
    ),
    inputs: list[str] = InputOption("Base input spec(s) (default: the model's default input)"),
    measure: bool = typer.Option(
        True, "--measure/--no-measure", help="Time every point (interleaved) on this machine"
    ),
    budget: float | None = BudgetOption(2.0, default_text="2 s × the number of points"),
    dtype: str = typer.Option("float32", help="Model dtype"),
    device: str = DeviceOption(),
    statistic: str | None = typer.Option(
        None,
        help="With --measure: time per point, median of the samples or min (steadier on a "
        "busy machine); default median",
    ),
    fmt: str = FormatOption("table", "json"),
    output: Path | None = OutputOption("Write JSON to this file too"),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Charts of time and FLOP/s per dimension: FILE.html (one page), FILE.svg or "
        "FILE.png (one file per chart, FILE-<chart>.svg/png; png needs matplotlib; "
        f"{OUTPUT_RULE})",
        callback=output_file,
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bar while timing"
    ),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the run in the results store"),
) -> None:
    """Cost along input dimensions: flops, α-flops, bytes and time per point, with power-law fits."""
    for option, value in (("--budget", budget), ("--statistic", statistic)):
        if value is not None and not measure:
            raise FlopwiseError(
                f"{option} is only used with --measure; drop it or drop --no-measure"
            )
    statistic = check_statistic(statistic or "median")
    dims = [parse_dim(d) for d in dim]
    plan = plan_sweep(model, dims, inputs or None, dtype=dtype, device=device, timing=measure)
    options = None
    if measure:
        options = MeasureOptions(
            budget_s=plan.default_budget_s if budget is None else budget,
            progress=progress and sys.stderr.isatty(),
        )
    result = run_sweep(plan, options, statistic=statistic).to_dict()
    doc = finite(result)
    if save:  # before any output: a bad --output must not lose the run
        from flopwise.commands.saving import save_run

        save_run(doc, "sweep")
    if output is not None:
        write_output(output, dumps(doc) + "\n")
        typer.echo(f"wrote {output}", err=True)
    if plot is not None:
        for path in write_plots(doc, sweep_chart_list(doc), plot):
            typer.echo(f"wrote {path}", err=True)
    if fmt == "json":
        typer.echo(dumps(doc))
    else:
        typer.echo(render_table(result), nl=False)
