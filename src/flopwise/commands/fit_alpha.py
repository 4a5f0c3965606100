"""``flopwise fit-alpha``: refit the α-FLOPs constants for this machine (or from a CSV)."""

from __future__ import annotations

import math
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from flopwise.commands._options import output_file, seconds_budget
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps

SCHEMA = "flopwise.fit_alpha/1"
DEFAULT_BUDGET = {"small": 30.0, "paper": 120.0}


class GridSize(str, Enum):
    small = "small"
    paper = "paper"


class Weighting(str, Enum):
    time = "time"
    uniform = "uniform"


class Statistic(str, Enum):
    min = "min"
    median = "median"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("fit-alpha")(fit_alpha_command)


def run_fit_alpha(
    csv: Path | None = None,
    grid: str = "small",
    budget: float | None = None,
    *,
    weighting: str = "time",
    prior_strength: float = 0.3,
    progress: bool = False,
    timings_out: Path | None = None,
    statistic: str = "min",
) -> dict[str, Any]:
    """Fit α constants from ``csv`` or from timing the ``grid`` on this machine.

    Returns a JSON-ready result: ``constants`` (the fitted
    :class:`~flopwise.analysis.alpha.AlphaConstants` as a dict), ``quality`` (MACs vs
    α-MACs against time with the fitted constants), ``default_quality`` (the authors'
    constants on the same layers), ``classes`` (what constrained each kernel class),
    ``source`` and ``layers``. ``timings_out`` also writes the timed layers as CSV.
    """
    import torch

    from flopwise.analysis.alpha import DEFAULT_CONSTANTS
    from flopwise.analysis.fit import (
        cross_validate_plots,
        evaluate,
        fit_alpha,
        generate_grid,
        read_layers_csv,
        write_layers_csv,
    )

    if csv is not None:
        if not Path(csv).is_file():
            raise FlopwiseError(f"no such file: {csv}")
        try:
            table = read_layers_csv(csv)
        except ValueError as exc:
            raise FlopwiseError(str(exc)) from exc
        source = f"fitted on {Path(csv).name} ({len(table)} layers)"
        origin = "csv"
    else:
        import platform

        from flopwise.measure.layer_timing import time_layers

        specs = generate_grid(grid)
        seconds = DEFAULT_BUDGET[grid] if budget is None else budget
        table = time_layers(specs, budget_s=seconds, progress=progress, statistic=statistic)
        threads = torch.get_num_threads()
        source = (
            f"fitted on {len(table)} generated layers ({grid} grid) timed on "
            f"{platform.node() or 'this host'}, cpu, {threads} threads, fp32, "
            f"{'fastest' if statistic == 'min' else 'median'} of repeated samples"
        )
        origin = "host"
    if timings_out is not None:
        write_layers_csv(table, timings_out)
    try:
        fit = fit_alpha(table, prior_strength=prior_strength, weighting=weighting, source=source)
    except ValueError as exc:
        raise FlopwiseError(f"cannot fit α: {exc}") from exc
    held_out = cross_validate_plots(
        table, prior_strength=prior_strength, weighting=weighting, grid_points=25
    )
    return {
        "schema": SCHEMA,
        "origin": origin,
        "source": source,
        "layers": len(table),
        "constants": fit.constants.to_dict(),
        "quality": fit.quality,
        "default_quality": evaluate(DEFAULT_CONSTANTS, table),
        "classes": fit.classes,
        "held_out": held_out,
    }


def save_to_host_profile(constants: dict[str, Any]) -> tuple[Path | None, str]:
    """Store ``constants`` in this host's cached hardware profile.

    Returns ``(path, message)``; ``path`` is None when there is no host profile yet (run
    ``flopwise hardware`` first), and nothing is written then.
    """
    from flopwise.measure.hardware import HardwareProfile, host_profile_path, save_profile

    path = host_profile_path()
    if not path.is_file():
        return None, (
            f"no measured hardware profile of this host yet ({path}); run `flopwise hardware` "
            "and then fit again, or keep the constants with --output FILE"
        )
    profile = HardwareProfile.load(path)
    profile.alpha = constants
    saved = save_profile(profile, path, merge=False)  # same measurement, new constants
    return saved, f"saved α constants into the host hardware profile {saved}"


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def render_table(result: dict[str, Any]) -> None:
    """Print the fit as rich tables on stdout."""
    from rich.table import Table

    from flopwise.report.console import stdout_console

    console = stdout_console()  # piped: whole values
    c = result["constants"]
    console.print(f"[bold]α-FLOPs fit[/bold]: {result['source']}")
    params = Table(title="constants  α = ((S_K + β·(S − S_K)) / S)^γ,  S_K = ln K + 1")
    for col in ("kernel class", "β", "γ", "layers", "distinct S", "distinct K", "note"):
        params.add_column(col, justify="left" if col in ("kernel class", "note") else "right")
    for key, label in (("k1", "K = 1"), ("k_gt1", "K > 1")):
        info = result["classes"][key]
        note = ""
        if not info["fitted"]:
            note = "no layers: prior kept"
        elif info["at_search_edge"]:
            note = "β at search edge"
        elif info["distinct_S"] < 3:
            note = "few distinct S: weakly constrained"
        params.add_row(
            label,
            f"{c[key]['beta']:.4g}",
            f"{c[key]['gamma']:.4g}",
            str(info["rows"]),
            str(info["distinct_S"]),
            str(info["distinct_K"]),
            note,
        )
    console.print(params)
    spm = c.get("seconds_per_mac")
    if spm:
        console.print(
            f"time scale: {spm * 1e12:.4g} ps per α-MAC ({1 / spm / 1e9:.4g} α-GMAC/s); "
            "predicted time = scale · α · MACs"
        )
    proxies = Table(title=f"proxy vs measured time over {result['layers']} layers")
    for col in ("proxy", "Pearson", "Spearman", "Kendall τ-b", "log-log R²"):
        proxies.add_column(col, justify="left" if col == "proxy" else "right")
    rows = (
        ("MACs", result["quality"]["macs"]),
        ("α-MACs, fitted constants", result["quality"]["alpha_macs"]),
        ("α-MACs, authors' constants", result["default_quality"]["alpha_macs"]),
    )
    for name, q in rows:
        proxies.add_row(
            name, _fmt(q["pearson"]), _fmt(q["spearman"]), _fmt(q["kendall"]), _fmt(q["loglog_r2"])
        )
    console.print(proxies)
    q = result["quality"]
    if "predicted_mape" in q:
        console.print(
            f"time predicted from α-MACs: MAPE {q['predicted_mape'] * 100:.1f}% "
            f"(MACs with one fitted scale: {q['macs_only_mape'] * 100:.1f}%)"
        )
    h = result.get("held_out")
    if h:
        console.print(
            f"held out (each of {h['folds']} plots predicted by a fit that never saw it): "
            f"Pearson {_fmt(h['pearson'])}, Spearman {_fmt(h['spearman'])}, "
            f"MAPE {h['mape'] * 100:.1f}%; MACs with one scale: Pearson "
            f"{_fmt(h['macs_pearson'])}, MAPE {h['macs_mape'] * 100:.1f}%"
        )


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
    budget: float | None = typer.Option(
        None,
        "--budget",
        help="Seconds of timing for the grid (default: 30 small, 120 paper)",
        callback=seconds_budget,
    ),
    save: bool | None = typer.Option(
        None,
        "--save/--no-save",
        help="Store the constants in this host's hardware profile (default: yes for timings made here, no for --csv)",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Also write the constants (and fit report) to this JSON file",
        callback=output_file,
    ),
    timings: Path | None = typer.Option(
        None, "--timings", help="Write the timed layers to this CSV (re-fit later with --csv)"
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
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format"),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bar while timing"
    ),
) -> None:
    """Refit α-FLOPs (β, γ per kernel class, and a time scale) from timed conv/dense layers."""
    if budget is not None and csv is not None:
        raise FlopwiseError("--budget is only used when timing here, not with --csv; drop one")
    if prior_strength < 0:
        raise FlopwiseError("--prior-strength must be >= 0")
    result = run_fit_alpha(
        csv,
        grid.value,
        budget,
        weighting=weighting.value,
        prior_strength=prior_strength,
        progress=progress and sys.stderr.isatty(),
        timings_out=timings,
        statistic=statistic.value,
    )
    do_save = (result["origin"] == "host") if save is None else save
    messages = []
    if timings is not None:
        messages.append(f"wrote timed layers to {timings}")
    if do_save:
        if result["origin"] == "csv" and save:
            messages.append("note: constants fitted on a CSV are being saved as this host's")
        path, message = save_to_host_profile(result["constants"])
        result["saved_to"] = None if path is None else str(path)
        messages.append(message)
    if output is not None:
        output.write_text(dumps(result) + "\n")
        messages.append(f"wrote {output}")
    if fmt is OutputFormat.json:
        typer.echo(dumps(result))
    else:
        render_table(result)
    for message in messages:
        typer.echo(message, err=True)
