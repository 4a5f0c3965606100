"""Energy per run, per item and per token, labelled by how it was obtained.

Readers (one interface, :class:`~flopwise.measure.energy.base.EnergyReader`):

========================  ==========  ============================================
reader                    method      uncertainty
========================  ==========  ============================================
:class:`RaplReader`       rapl        counter (CPU packages + DRAM, powercap sysfs)
:class:`NvmlReader`       nvml        counter (total-energy counter) or sampled
:class:`ZeusReader`       zeus        counter (optional, when Zeus is installed)
:class:`CodeCarbonReader` codecarbon  sampled, or estimated without RAPL/NVML
:class:`EstimatedReader`  estimated   estimated (power model x time), never measured
========================  ==========  ============================================

:func:`select_reader` picks the best reader that works here and returns one line for
every better one that does not (what is missing, how to enable it). :func:`measure_energy`
runs a function inside one or more windows; :func:`energy_report` adds carbon and
efficiency figures and returns the :class:`~flopwise.sections.Energy` section of a
profile, which :func:`flopwise.report.energy.energy_rows` turns into table rows.

The package: ``base`` (readings, availability, the reader protocol, energy windows),
``rapl`` and ``nvml`` (hardware counters), ``backends`` (the optional Zeus and CodeCarbon
readers), ``power_model`` (the labelled estimate), ``carbon`` (gCO2e and work per joule);
this module selects a reader, measures and builds the ``"energy"`` section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flopwise.measure.energy.backends import CodeCarbonReader, ZeusReader
from flopwise.measure.energy.base import (
    SHORT_WINDOW,
    Availability,
    EnergyReader,
    EnergyReading,
    energy_window,
    poll,
)
from flopwise.measure.energy.carbon import (
    DEFAULT_PUE,
    JOULES_PER_KWH,
    carbon_g,
    efficiency_metrics,
    grid_intensity,
)
from flopwise.measure.energy.nvml import NvmlReader
from flopwise.measure.energy.power_model import EstimatedReader, power_model_energy
from flopwise.measure.energy.rapl import DEFAULT_POWERCAP_ROOT, RaplReader
from flopwise.sections import Energy

__all__ = [
    "SCHEMA",
    "SHORT_WINDOW",
    "Availability",
    "CodeCarbonReader",
    "EnergyReader",
    "EnergyReading",
    "EnergyResult",
    "EstimatedReader",
    "NvmlReader",
    "RaplReader",
    "ZeusReader",
    "apportion",
    "energy_report",
    "energy_window",
    "measure_energy",
    "power_model_energy",
    "report_from_result",
    "select_reader",
]

SCHEMA = "flopwise.energy/1"
READER_NAMES = ("rapl", "nvml", "zeus", "codecarbon", "estimated")
APPORTIONED = "apportioned: energy x module time share (not measured per module)"

_RANK = {"counter": 0, "sampled": 1, "estimated": 2}


# --------------------------------------------------------------------------- selection
def _default_order(device: str | None) -> list[str]:
    if device is None:
        return ["rapl", "nvml"]
    if device.startswith("cpu"):
        return ["rapl"]
    return ["nvml"]


def _gpu_index(device: str | None) -> list[int] | None:
    if device and ":" in device and device.split(":")[0] in ("cuda", "gpu"):
        return [int(device.split(":")[1])]
    return None


def select_reader(
    prefer: str | Sequence[str] | None = None,
    *,
    device: str | None = None,
    hardware: Any = None,
    synchronize: Callable[[], Any] | None = None,
    powercap_root: Path | str = DEFAULT_POWERCAP_ROOT,
    nvml: Any = None,
    factories: Mapping[str, Callable[[], EnergyReader]] | None = None,
) -> tuple[EnergyReader, list[str]]:
    """Pick the best energy reader that works here.

    Args:
        prefer: a reader name or names to try first (``"rapl"``, ``"nvml"``, ``"zeus"``,
            ``"codecarbon"``, ``"estimated"``; ``None``/``"auto"`` for the default order).
        device: ``"cpu"`` tries RAPL; ``"cuda"``/``"cuda:N"`` tries NVML; ``None`` tries
            both. The power-model estimate is always the last resort.
        hardware: profile for the estimate (``idle_power_w``/``peak_power_w``).
        synchronize: passed to the NVML reader (e.g. ``torch.cuda.synchronize``).
        powercap_root, nvml: where RAPL looks, and an NVML module to use (tests).
        factories: override how a named reader is built (tests).

    Returns:
        ``(reader, reasons)``: the chosen reader and one line for each reader tried
        before it that is not available.
    """
    if isinstance(prefer, str):
        prefer = [] if prefer == "auto" else [prefer]
    wanted = list(prefer or [])
    for name in wanted:
        if name not in READER_NAMES:
            raise ValueError(f"unknown energy reader {name!r}; choose from {READER_NAMES}")
    build: dict[str, Callable[[], EnergyReader]] = {
        "rapl": lambda: RaplReader(powercap_root),
        "nvml": lambda: NvmlReader(_gpu_index(device), synchronize=synchronize, nvml=nvml),
        "zeus": lambda: ZeusReader(_gpu_index(device)),
        "codecarbon": lambda: CodeCarbonReader(),
        "estimated": lambda: EstimatedReader(hardware, device=device or "cpu"),
    }
    build.update(factories or {})
    order: list[str] = []
    for name in [*wanted, *_default_order(device), "estimated"]:
        if name not in order:
            order.append(name)
    reasons: list[str] = []
    for name in order:
        reader = build[name]()
        ok = reader.available()
        if ok:
            return reader, reasons
        reasons.append(ok.reason)
    raise RuntimeError("no energy reader available")  # pragma: no cover (estimate never fails)


# --------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class EnergyResult:
    """Energy of ``repeats`` runs in each of ``len(readings)`` windows.

    ``items`` and ``tokens`` are per run (e.g. batch size, tokens in the batch).
    """

    readings: tuple[EnergyReading, ...]
    repeats: int
    items: float | None = None
    tokens: float | None = None
    unavailable: tuple[str, ...] = ()
    reader: str = ""

    @property
    def runs(self) -> int:
        return self.repeats * len(self.readings)

    @property
    def joules(self) -> float:
        return sum(r.joules for r in self.readings)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.readings)

    @property
    def window_s(self) -> float:
        """Mean window length in seconds."""
        return self.seconds / len(self.readings) if self.readings else 0.0

    @property
    def joules_per_run(self) -> float:
        return self.joules / self.runs if self.runs else 0.0

    @property
    def joules_per_item(self) -> float | None:
        return self.joules_per_run / self.items if self.items else None

    @property
    def joules_per_token(self) -> float | None:
        return self.joules_per_run / self.tokens if self.tokens else None

    @property
    def average_power_w(self) -> float:
        return self.joules / self.seconds if self.seconds > 0 else 0.0

    @property
    def method(self) -> str:
        return self.readings[0].method if self.readings else "estimated"

    @property
    def uncertainty(self) -> str:
        """The weakest class over the windows (counter < sampled < estimated)."""
        if not self.readings:
            return "estimated"
        return max((r.uncertainty for r in self.readings), key=_RANK.__getitem__)

    @property
    def measured(self) -> bool:
        return self.uncertainty != "estimated"

    @property
    def model(self) -> str | None:
        return next((r.model for r in self.readings if r.model), None)

    @property
    def utilisation(self) -> float | None:
        """Time-weighted utilisation of estimated windows (None when nothing was estimated)."""
        pairs = [(r.utilisation, r.seconds) for r in self.readings if r.utilisation is not None]
        if not pairs:
            return None
        total = sum(t for _, t in pairs)
        if total <= 0:
            return sum(u for u, _ in pairs) / len(pairs)
        return sum(u * t for u, t in pairs) / total

    @property
    def per_run_spread(self) -> tuple[float, float]:
        """(min, max) joules per run over the windows."""
        per = [r.joules / self.repeats for r in self.readings]
        return (min(per), max(per)) if per else (0.0, 0.0)

    @property
    def domains_per_run(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.readings:
            for k, v in r.domains.items():
                out[k] = out.get(k, 0.0) + v / self.runs
        return out

    @property
    def notes(self) -> list[str]:
        seen: list[str] = []
        for note in (n for r in self.readings for n in r.notes):
            if note not in seen and note != self.model:
                seen.append(note)
        return seen

    @property
    def flags(self) -> list[str]:
        return sorted({f for r in self.readings for f in r.flags})


def measure_energy(
    fn: Callable[[], Any],
    *,
    repeats: int = 10,
    reader: EnergyReader | None = None,
    items: float | None = None,
    tokens: float | None = None,
    synchronize: Callable[[], Any] | None = None,
    warmup: int = 1,
    windows: int = 1,
    device: str | None = "cpu",
    hardware: Any = None,
) -> EnergyResult:
    """Run ``fn`` ``repeats`` times inside each of ``windows`` energy windows.

    Args:
        fn: the work, called with no arguments.
        repeats: runs per window (more runs make short work measurable).
        reader: a reader to use; default :func:`select_reader` for ``device``. A reader
            that is not available here is replaced by the estimate, and the reason kept.
        items, tokens: work per run (batch size, tokens per run) for per-item/token figures.
        synchronize: called after the warm-up and after each window's runs (GPU work).
        warmup: untimed runs before the first window.
        windows: independent windows (their spread is reported).
        device, hardware: used to choose the reader and the estimate's power model.
    """
    if repeats < 1 or windows < 1:
        raise ValueError("repeats and windows must be >= 1")
    reasons: list[str] = []
    if reader is None:
        reader, reasons = select_reader(device=device, hardware=hardware, synchronize=synchronize)
    else:
        ok = reader.available()
        if not ok:
            reasons.append(ok.reason)
            reader = EstimatedReader(hardware, device=device or "cpu")
    for _ in range(warmup):
        fn()
    if synchronize is not None:
        synchronize()
    readings: list[EnergyReading] = []
    for _ in range(windows):
        with energy_window(reader) as w:
            for _ in range(repeats):
                fn()
                poll(reader)
            if synchronize is not None:
                synchronize()
        assert w.reading is not None
        readings.append(w.reading)
    return EnergyResult(
        readings=tuple(readings),
        repeats=repeats,
        items=items,
        tokens=tokens,
        unavailable=tuple(reasons),
        reader=getattr(reader, "name", type(reader).__name__),
    )


def apportion(
    energy_j: float, module_times: Mapping[str, float], *, total_time: float | None = None
) -> dict[str, float]:
    """Split ``energy_j`` over modules by their share of time (an apportionment, not a
    measurement: it assumes the same power throughout the run).

    ``module_times`` maps module path -> seconds. Shares are ``t / total_time``, where
    ``total_time`` defaults to the sum of the times; pass the run's total time when the
    paths are nested (a parent's time includes its children's) so nothing is counted twice
    in the denominator.
    """
    if any(t < 0 for t in module_times.values()):
        raise ValueError("module times must be >= 0")
    total = sum(module_times.values()) if total_time is None else total_time
    if total <= 0:
        return dict.fromkeys(module_times, 0.0)
    return {path: energy_j * t / total for path, t in module_times.items()}


# --------------------------------------------------------------------------- reporting
def _num(x: float | None) -> float | int | None:
    """Keep ints as ints (counts), other numbers as floats, None as None."""
    if x is None or isinstance(x, int):
        return x
    return float(x)


def report_from_result(
    result: EnergyResult,
    *,
    flops: int | None = None,
    grid: str | float | None = None,
    pue: float = DEFAULT_PUE,
    module_times: Mapping[str, float] | None = None,
    module_total_time: float | None = None,
) -> Energy:
    """The energy section of a profile for an already measured :class:`EnergyResult`.

    ``flops`` is per run. Field names carry their units (``joules_per_run``,
    ``gco2e_per_run``); counts stay ints (see :class:`~flopwise.sections.Energy`).
    """
    g = grid_intensity(grid)
    j_run = result.joules_per_run
    gco2e_run = carbon_g(j_run, g.g_per_kwh, pue)
    items, tokens = result.items, result.tokens
    lo, hi = result.per_run_spread
    per_module = None
    if module_times:
        per_module = apportion(j_run, module_times, total_time=module_total_time)
    return Energy(
        schema=SCHEMA,
        method=result.method,
        uncertainty=result.uncertainty,
        measured=result.measured,
        reader=result.reader,
        model=result.model,
        utilisation=result.utilisation,
        runs=result.runs,
        windows=len(result.readings),
        repeats_per_window=result.repeats,
        window_s=result.window_s,
        seconds_per_run=result.seconds / result.runs if result.runs else 0.0,
        joules_total=result.joules,
        joules_per_run=j_run,
        joules_per_run_min=lo,
        joules_per_run_max=hi,
        joules_per_item=_num(result.joules_per_item),
        joules_per_token=_num(result.joules_per_token),
        kwh_per_run=j_run / JOULES_PER_KWH,
        average_power_w=result.average_power_w,
        items_per_run=_num(items),
        tokens_per_run=_num(tokens),
        flops_per_run=int(flops) if flops is not None else None,
        domains_joules_per_run=result.domains_per_run,
        grid_region=g.region,
        grid_name=g.name,
        grid_gco2e_per_kwh=g.g_per_kwh,
        grid_source=g.source,
        grid_year=g.year,
        grid_is_default=g.is_default,
        pue=float(pue),
        gco2e_per_run=gco2e_run,
        gco2e_per_item=gco2e_run / items if items else None,
        gco2e_per_token=gco2e_run / tokens if tokens else None,
        **efficiency_metrics(
            joules=j_run, flops=flops, items=items, tokens=tokens, gco2e=gco2e_run
        ),
        per_module_joules_per_run=per_module,
        per_module_basis=APPORTIONED if per_module is not None else None,
        flags=result.flags,
        notes=result.notes,
        unavailable=list(result.unavailable),
    )


def energy_report(
    fn: Callable[[], Any],
    *,
    repeats: int = 10,
    flops: int | None = None,
    items: float | None = None,
    tokens: float | None = None,
    grid: str | float | None = None,
    pue: float = DEFAULT_PUE,
    hardware: Any = None,
    device: str = "cpu",
    prefer: str | Sequence[str] | None = None,
    reader: EnergyReader | None = None,
    synchronize: Callable[[], Any] | None = None,
    warmup: int = 1,
    windows: int = 1,
    module_times: Mapping[str, float] | None = None,
    module_total_time: float | None = None,
) -> Energy:
    """Measure ``fn`` and return the ``energy`` section of a profile.

    ``flops``, ``items`` and ``tokens`` are per run; ``grid`` is a region or a number of
    gCO2e/kWh (default: world average, labelled); ``pue`` >= 1; ``hardware`` feeds the
    power-model estimate when no counter is readable. See
    :class:`~flopwise.sections.Energy` for the fields.
    """
    unavailable: list[str] = []
    if reader is None:
        reader, unavailable = select_reader(
            prefer, device=device, hardware=hardware, synchronize=synchronize
        )
    result = measure_energy(
        fn,
        repeats=repeats,
        reader=reader,
        items=items,
        tokens=tokens,
        synchronize=synchronize,
        warmup=warmup,
        windows=windows,
        device=device,
        hardware=hardware,
    )
    if unavailable:
        result = replace(result, unavailable=tuple(unavailable) + result.unavailable)
    return report_from_result(
        result,
        flops=flops,
        grid=grid,
        pue=pue,
        module_times=module_times,
        module_total_time=module_total_time,
    )
