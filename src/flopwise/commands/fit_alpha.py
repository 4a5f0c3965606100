"""``flopwise fit-alpha``: refit the α-FLOPs constants for this machine (or from a CSV).

Parse → :func:`flopwise.pipeline.run_fit_alpha` → render (:mod:`flopwise.report.calibration`)
→ write."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer

from flopwise.commands._options import (
    OUTPUT_RULE,
    BudgetOption,
    DeviceOption,
    FormatOption,
    OutputOption,
    output_file,
    write_output,
)
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps
from flopwise.pipeline import DEFAULT_GRID_BUDGET, MeasureOptions, run_fit_alpha
from flopwise.report.calibration import alpha_fit_table


class GridSize(str, Enum):
    small = "small"
    paper = "paper"


class Weighting(str, Enum):
    time = "time"
    uniform = "uniform"


class Statistic(str, Enum):
    min = "min"
    median = "median"


def register(app: typer.Typer) -> None:
    app.command("fit-alpha")(fit_alpha_command)


def fit_alpha_command(
    csv: Path | None = typer.Option(
        None,
        "--csv",
        help="Timed layers in the α-FLOPs data set's CSV format (plot,line,H,W,Cin,Cout,K1,K2,time_ms)",
    ),
    grid: GridSize = typer.Option(
        GridSize.small,
        "--grid",
        help="Layers to generate and time on this machine (ignored with --csv)",
    ),
    budget: float | None = BudgetOption(
        DEFAULT_GRID_BUDGET["small"], "grid timing (30 s small, 120 s paper)"
    ),
    save: bool | None = typer.Option(
        None,
        "--save/--no-save",
        help="Store the constants in this host's hardware profile (default: yes for timings made here, no for --csv)",
    ),
    output: Path | None = OutputOption(
        "Also write the constants (and fit report) to this JSON file"
    ),
    timings: Path | None = typer.Option(
        None,
        "--timings",
        help=f"Write the timed layers to this CSV (re-fit later with --csv; {OUTPUT_RULE})",
        callback=output_file,
    ),
    weighting: Weighting = typer.Option(
        Weighting.time, help="Residual weights: time (long layers count more) or uniform"
    ),
    prior_strength: float = typer.Option(
        0.3,
        help="Pull towards the authors' constants where the data say little, relative to the misfit (0: none)",
    ),
    statistic: Statistic = typer.Option(
        Statistic.min,
        help="Time per layer: min (least disturbed sample; robust on a shared machine) or median",
    ),
    device: str = DeviceOption(),
    fmt: str = FormatOption("table", "json"),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bar while timing"
    ),
) -> None:
    """Refit α-FLOPs (β, γ per kernel class, and a time scale) from timed conv/dense layers."""
    if budget is not None and csv is not None:
        raise FlopwiseError("--budget is only used when timing here, not with --csv; drop one")
    if device != "auto" and csv is not None:
        raise FlopwiseError("--device is only used when timing here, not with --csv; drop one")
    measure = MeasureOptions(
        budget_s=DEFAULT_GRID_BUDGET[grid.value] if budget is None else budget,
        progress=progress and sys.stderr.isatty(),
    )
    result = run_fit_alpha(
        csv,
        grid.value,
        measure=measure,
        weighting=weighting.value,
        prior_strength=prior_strength,
        timings_out=timings,
        statistic=statistic.value,
        device=device,
        save=save,
    )
    doc = result.to_dict()
    messages = list(result.messages)
    if output is not None:
        write_output(output, dumps(doc) + "\n")
        messages.append(f"wrote {output}")
    typer.echo(dumps(doc) if fmt == "json" else alpha_fit_table(doc), nl=fmt == "json")
    for message in messages:
        typer.echo(message, err=True)
