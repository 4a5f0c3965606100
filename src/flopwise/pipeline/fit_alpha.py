"""The pipeline behind ``flopwise fit-alpha``: timed conv/dense layers (a generated grid
timed on this machine by :mod:`flopwise.measure.alpha_grid`, or a CSV) → α-FLOPs fit
(:mod:`flopwise.analysis.fit`) → optionally stored in this host's hardware profile.

Everything the command does is here, so a notebook can refit α the same way::

    from flopwise.measure.options import MeasureOptions
    from flopwise.pipeline import run_fit_alpha

    result = run_fit_alpha(grid="small", measure=MeasureOptions(budget_s=30), save=False)
    result.to_dict()["constants"]
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from flopwise.analysis.alpha import DEFAULT_CONSTANTS
from flopwise.analysis.fit import (
    LayerSpec,
    LayerTable,
    cross_validate_plots,
    evaluate,
    fit_alpha,
    generate_grid,
    read_layers_csv,
    write_layers_csv,
)
from flopwise.errors import FlopwiseError
from flopwise.measure.alpha_grid import time_grid
from flopwise.measure.devices import device_summary, reset_peak_memory, resolve_device
from flopwise.measure.options import MeasureOptions, torch_threads

__all__ = [
    "ALPHA_FIT_SCHEMA",
    "DEFAULT_GRID_BUDGET",
    "AlphaFitResult",
    "run_fit_alpha",
    "save_to_host_profile",
    "time_layers",
]

ALPHA_FIT_SCHEMA = "flopwise.fit_alpha/1"
#: Seconds of timing for the whole grid when no budget is given.
DEFAULT_GRID_BUDGET = {"small": 30.0, "paper": 120.0}


@dataclass
class AlphaFitResult:
    """One α fit: where the layers came from (``origin`` ``"csv"`` or ``"host"``,
    ``source`` in words, ``device`` the summary of the device they were timed on, None for
    a CSV), how many ``layers``, the fitted ``constants``
    (:class:`~flopwise.analysis.alpha.AlphaConstants` as a dict), ``quality`` (MACs vs
    α-MACs against time with the fitted constants), ``default_quality`` (the authors'
    constants on the same layers), ``classes`` (what constrained each kernel class) and
    ``held_out`` (plot-wise cross-validation, None when there are too few plots).
    ``alpha_macs_per_second`` is the fitted time scale as a rate (1 / the constants'
    ``seconds_per_mac``; None without a time scale).

    ``saved_to`` is the host profile the constants were stored in (None: no host profile
    yet) when a save was tried (``save_tried``); ``messages`` say what was written where
    (for stderr; not part of the JSON)."""

    origin: str
    source: str
    device: dict[str, Any] | None
    layers: int
    constants: dict[str, Any]
    quality: dict[str, Any]
    default_quality: dict[str, Any]
    classes: dict[str, Any]
    held_out: dict[str, Any] | None
    alpha_macs_per_second: float | None = None
    saved_to: str | None = None
    save_tried: bool = False
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema :data:`ALPHA_FIT_SCHEMA`); ``saved_to`` only when a
        save was tried."""
        doc: dict[str, Any] = {
            "schema": ALPHA_FIT_SCHEMA,
            "origin": self.origin,
            "source": self.source,
            "device": self.device,
            "layers": self.layers,
            "constants": self.constants,
            "alpha_macs_per_second": self.alpha_macs_per_second,
            "quality": self.quality,
            "default_quality": self.default_quality,
            "classes": self.classes,
            "held_out": self.held_out,
        }
        if self.save_tried:
            doc["saved_to"] = self.saved_to
        return doc


def time_layers(
    specs: Sequence[LayerSpec],
    measure: MeasureOptions,
    *,
    statistic: str = "min",
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LayerTable:
    """Time every layer of ``specs`` in one interleaved run on ``device`` within about
    ``measure.budget_s`` (a very small budget can be exceeded) at ``measure.threads``
    torch threads; one row per layer with its ``statistic`` time: ``"min"`` (default: the
    least disturbed sample) or ``"median"``."""
    if statistic not in ("min", "median"):
        raise ValueError(f"statistic must be 'min' or 'median', got {statistic!r}")
    with torch_threads(measure.threads):
        times = time_grid(
            specs, budget_s=measure.budget_s, progress=measure.progress, dtype=dtype, device=device
        )
    return LayerTable.from_specs(specs, times.min_s if statistic == "min" else times.median_s)


def _read_csv(csv: Path) -> tuple[LayerTable, str]:
    if not Path(csv).is_file():
        raise FlopwiseError(f"no such file: {csv}")
    try:
        table = read_layers_csv(csv)
    except ValueError as exc:
        raise FlopwiseError(str(exc)) from exc
    return table, f"fitted on {Path(csv).name} ({len(table)} layers)"


def _time_here(
    grid: str, measure: MeasureOptions, statistic: str, device: str
) -> tuple[LayerTable, str, dict[str, Any]]:
    """Time ``grid`` on ``device`` of this machine: the table, its source in words and the
    device summary (with the peak memory while timing on CUDA)."""
    dev = resolve_device(device, timing=True)
    specs = generate_grid(grid)
    reset_peak_memory(dev)
    table = time_layers(specs, measure, statistic=statistic, device=dev)
    threads = measure.threads or torch.get_num_threads()
    timed_on = device_summary(dev)
    where = dev if dev == "cpu" else f"{dev} ({timed_on['model']})"
    source = (
        f"fitted on {len(table)} generated layers ({grid} grid) timed on "
        f"{platform.node() or 'this host'}, {where}, {threads} threads, fp32, "
        f"{'fastest' if statistic == 'min' else 'median'} of repeated samples"
    )
    return table, source, timed_on


def run_fit_alpha(
    csv: Path | None = None,
    grid: str = "small",
    *,
    measure: MeasureOptions | None = None,
    weighting: str = "time",
    prior_strength: float = 0.3,
    timings_out: Path | None = None,
    statistic: str = "min",
    device: str = "auto",
    save: bool | None = False,
) -> AlphaFitResult:
    """Fit α constants from ``csv``, or from timing the ``grid`` (``small``/``paper``) on
    ``device`` of this machine (``auto``: cpu) under ``measure`` (its ``budget_s`` is the
    whole grid's; None: :data:`DEFAULT_GRID_BUDGET` of the grid, no progress bar; its
    ``threads`` set torch's CPU threads while timing). ``timings_out`` also writes the
    timed layers as CSV (its missing folders made) (re-fit later with ``csv``). ``save`` stores the constants in this
    host's hardware profile of the device (None: yes for timings made here, no for a CSV),
    as ``flopwise fit-alpha`` does."""
    if prior_strength < 0:
        raise FlopwiseError("--prior-strength must be >= 0")
    if csv is not None:
        table, source = _read_csv(csv)
        origin, timed_on = "csv", None
    else:
        measure = measure or MeasureOptions(budget_s=DEFAULT_GRID_BUDGET[grid])
        table, source, timed_on = _time_here(grid, measure, statistic, device)
        origin = "host"
    messages = []
    if timings_out is not None:
        timings_out.parent.mkdir(parents=True, exist_ok=True)  # as every --output: made if missing
        write_layers_csv(table, timings_out)
        messages.append(f"wrote timed layers to {timings_out}")
    try:
        fit = fit_alpha(table, prior_strength=prior_strength, weighting=weighting, source=source)
    except ValueError as exc:
        raise FlopwiseError(f"cannot fit α: {exc}") from exc
    held_out = cross_validate_plots(
        table, prior_strength=prior_strength, weighting=weighting, grid_points=25
    )
    result = AlphaFitResult(
        origin=origin,
        source=source,
        device=timed_on,
        layers=len(table),
        constants=fit.constants.to_dict(),
        alpha_macs_per_second=fit.constants.macs_per_second,
        quality=fit.quality,
        default_quality=evaluate(DEFAULT_CONSTANTS, table),
        classes=fit.classes,
        held_out=held_out,
        messages=messages,
    )
    if (origin == "host") if save is None else save:
        if origin == "csv" and save:
            messages.append("note: constants fitted on a CSV are being saved as this host's")
        path, message = save_to_host_profile(result.constants, (timed_on or {}).get("name", "cpu"))
        result.saved_to, result.save_tried = (None if path is None else str(path)), True
        messages.append(message)
    return result


def save_to_host_profile(constants: dict[str, Any], device: str = "cpu") -> tuple[Path | None, str]:
    """Store ``constants`` in the cached hardware profile of ``device`` on this host (the
    constants are per device: a GPU's are not the CPU's).

    Returns ``(path, message)``; ``path`` is None when there is no host profile yet (run
    ``flopwise hardware`` first), and nothing is written then.
    """
    from flopwise.measure.hardware import HardwareProfile, host_profile_path, save_profile

    path = host_profile_path(device)
    if not path.is_file():
        flag = "" if device == "cpu" else f" --device {device}"
        return None, (
            f"no measured hardware profile of this host yet ({path}); run `flopwise hardware"
            f"{flag}` and then fit again, or keep the constants with --output FILE"
        )
    profile = HardwareProfile.load(path)
    profile.alpha = constants
    saved = save_profile(profile, path, merge=False)  # same measurement, new constants
    return saved, f"saved α constants into the host hardware profile {saved}"
