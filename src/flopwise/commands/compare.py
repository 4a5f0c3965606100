"""``flopwise compare MODEL...``: parse, run :mod:`flopwise.pipeline.compare`, render with
:mod:`flopwise.report.compare`, write."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from flopwise.commands._options import (
    BudgetOption,
    DeviceOption,
    FormatOption,
    InputOption,
    OutputOption,
    ThreadsOption,
    write_output,
)
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps
from flopwise.pipeline import MeasureOptions
from flopwise.pipeline.compare import parse_accuracies, run_compare, split_model_arg
from flopwise.report.compare import render_csv, render_table

DEFAULT_BUDGET_S = 20.0


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)


def compare_command(
    models: list[str] = typer.Argument(
        ...,
        help="Models to compare (same forms as `flopwise profile`); MODEL@SPEC[,SPEC] sets its "
        "inputs (hf:ORG/NAME@REVISION@SPEC for a pinned revision)",
    ),
    accuracy: list[str] = typer.Option(
        [], "--accuracy", "-a", help="NAME=VALUE, repeatable: resnet50=76.1 (for the Pareto front)"
    ),
    inputs: list[str] = InputOption("Input spec for every model without its own @SPEC, repeatable"),
    measure: bool = typer.Option(
        True, "--measure/--no-measure", help="Time the models (interleaved) on this machine"
    ),
    budget: float | None = BudgetOption(DEFAULT_BUDGET_S, "timing"),
    energy: bool = typer.Option(False, "--energy", help="Also measure energy per run"),
    dtype: str = typer.Option("float32", help="Model dtype: float32, bfloat16, float16 ..."),
    device: str = DeviceOption(),
    fmt: str = FormatOption("table", "json", "csv"),
    output: Path | None = OutputOption("Write to this file (in --format) instead of stdout"),
    threads: int | None = ThreadsOption(),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars"),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the run in the results store"),
) -> None:
    """Compare models: params, FLOPs, α-FLOPs, activations, bytes, measured time (and energy);
    the correlation of each proxy with time; the Pareto front when accuracies are given."""
    if not models:
        raise FlopwiseError("give at least one MODEL")
    if energy and not measure:
        raise FlopwiseError("--energy needs --measure")
    for option, value in (("--budget", budget), ("--threads", threads)):
        if value is not None and not measure:
            raise FlopwiseError(
                f"{option} is only used with --measure; drop it or drop --no-measure"
            )
    options = None
    if measure:
        options = MeasureOptions(
            budget_s=DEFAULT_BUDGET_S if budget is None else budget,
            threads=threads,
            energy=energy,
            progress=progress and sys.stderr.isatty(),
        )
    result = run_compare(
        [split_model_arg(m, inputs) for m in models],
        accuracies=parse_accuracies(accuracy),
        measure=options,
        dtype=dtype,
        device=device,
    ).to_dict()
    if save:
        from flopwise.commands.saving import save_run

        save_run(result, "compare")
    if fmt == "json":
        text = dumps(result) + "\n"
    elif fmt == "csv":
        text = render_csv(result)
    else:
        text = render_table(result)
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_output(output, text)
        typer.echo(f"wrote {output} ({fmt})", err=True)
