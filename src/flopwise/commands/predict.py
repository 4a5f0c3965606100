"""``flopwise predict MODEL``: latency predicted from counts alone, by a cost model
calibrated on this machine (``flopwise predict --calibrate``).

Parse → :func:`flopwise.pipeline.fit_alpha` and/or :func:`flopwise.pipeline.predict_model`
→ render (:mod:`flopwise.report.predict`) → write.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from flopwise.commands._options import (
    OUTPUT_RULE,
    BudgetOption,
    DeviceOption,
    FormatOption,
    HardwareOption,
    InputOption,
    output_file,
    threads_count,
)
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps
from flopwise.pipeline import DEFAULT_CALIBRATION_BUDGET_S, MeasureOptions, calibrate, predict_model
from flopwise.report.predict import describe_calibration, prediction_table


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_command)


def predict_command(
    model: str | None = typer.Argument(
        None,
        help="torchvision:NAME, timm:NAME, hf:NAME, file.py:factory ... (omit with --calibrate)",
    ),
    inputs: list[str] = InputOption(),
    hardware: str = HardwareOption(
        "host", "host (this machine, calibrated), or a profile: h100, a100 ..."
    ),
    dtype: str = typer.Option(
        "float32",
        help="Model dtype: float32, bfloat16, float16 ...; with --calibrate the zoo is timed "
        "in it, and a prediction uses the calibration of its dtype (one file per dtype)",
    ),
    calibrate_: bool = typer.Option(
        False, "--calibrate", help="Time a small zoo on this machine and fit the cost model"
    ),
    budget: float | None = BudgetOption(DEFAULT_CALIBRATION_BUDGET_S, "timing for --calibrate"),
    calibration: Path | None = typer.Option(
        None,
        "--calibration",
        help="Calibration JSON to use, or to write with --calibrate (default: the cache dir; "
        f"{OUTPUT_RULE})",
        callback=output_file,
    ),
    fmt: str = FormatOption("table", "json"),
    threads: int | None = typer.Option(
        None,
        "--threads",
        help="torch CPU threads (>= 1) for --calibrate, and whose calibration a prediction "
        "uses; calibrations are per thread count (default: torch's current count, which "
        "--threads 0 used to mean; 0 is no longer accepted)",
        callback=threads_count,
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars"),
    device: str = DeviceOption(
        "Device whose calibration prices a --hardware host prediction, and where --calibrate "
        "times its zoo: cpu, cuda[:N] or auto (cpu); the model itself is counted on meta "
        "tensors"
    ),
    from_campaign: str | None = typer.Option(
        None,
        "--from-campaign",
        help="With --calibrate: fit on this stored campaign's timings instead of timing a zoo",
    ),
    db: Path | None = typer.Option(
        None,
        "--db",
        help="Results database of --from-campaign (default: $FLOPWISE_DB or the user data dir)",
    ),
) -> None:
    """Predict latency without running the model, from per-op costs and a calibrated cost model.

    --device is where --calibrate times its zoo, and whose calibration a prediction on
    --hardware host uses (each device has its own)."""
    if from_campaign is not None and (not calibrate_ or budget is not None):
        raise FlopwiseError(
            "--from-campaign goes with --calibrate (and times nothing: no --budget)"
        )
    if budget is not None and not calibrate_:
        raise FlopwiseError("--budget is only used with --calibrate; drop it or add --calibrate")
    show_progress = progress and sys.stderr.isatty()
    if calibrate_:
        measure = MeasureOptions(
            budget_s=DEFAULT_CALIBRATION_BUDGET_S if budget is None else budget,
            threads=threads,
            progress=show_progress,
        )
        saved = calibrate(
            measure=measure,
            device=device,
            calibration=calibration,
            from_campaign=from_campaign,
            db=db,
            dtype=dtype,
        )
        typer.echo(describe_calibration(saved.document, saved.path), err=model is not None)
        if model is None:
            return
        calibration = saved.path
    if model is None:
        raise FlopwiseError("give a MODEL to predict (or --calibrate to calibrate)")
    result = predict_model(
        model,
        inputs,
        hardware=hardware,
        dtype=dtype,
        calibration_file=calibration,
        device=device,
        threads=threads,
        progress=show_progress,
    )
    if fmt == "json":
        typer.echo(dumps(result.to_dict()))
    else:
        typer.echo(prediction_table(result), nl=False)
