"""The typed sections of a :class:`~flopwise.profile.Profile` beyond the count itself.

Each section is a plain dataclass filled by the one layer that produces it:

- :class:`Source`, :class:`Alpha`, :class:`TrainingClosedForms`: the API
  (``flopwise.pipeline.profile``), from the loaded model and its count;
- :class:`Measured` (latency, coverage, per-module times): ``flopwise.measure``; its
  ``hardware`` and :class:`Roofline` are the analysis join, added by the API;
- :class:`Energy` (measure/energy's ``energy_report``), :class:`Stages`
  (measure/stages' ``measure_stages``): ``flopwise.measure``; drawn by report/energy and
  report/stages.

Field names are the keys of the versioned JSON document (``flopwise.profile/1``) and field
order is the order the document lists them in; ``report/json.py`` is the one place that
writes a Profile as that document and reads a document back. ``to_dict``/``from_dict`` here
are the small per-section helpers it uses: ``from_dict`` keeps keys it does not know in
``other`` (written back after the known ones), so a document from a newer writer survives a
read and write unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

S = TypeVar("S", bound="Section")


@dataclass
class Section:
    """Base of every section: JSON keys = field names, in field order."""

    #: Fields left out of the document when None (keys the producer writes only sometimes).
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    #: Fields holding a nested section: name -> (section class, "one" | "list" | "dict").
    NESTED: ClassVar[dict[str, tuple[type[Section], str]]] = {}

    other: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The section as JSON-ready data, in document order."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "other":
                continue
            value = getattr(self, f.name)
            if value is None and f.name in self.OPTIONAL:
                continue
            out[f.name] = _plain(value)
        out.update(self.other)
        return out

    @classmethod
    def from_dict(cls: type[S], data: dict[str, Any]) -> S:
        """The section a document holds; missing keys read as the field's default (None),
        unknown keys are kept in ``other``."""
        names = [f.name for f in fields(cls) if f.name != "other"]
        known: dict[str, Any] = {}
        for name in names:
            if name not in data:
                continue
            value = data[name]
            if name in cls.NESTED and value is not None:
                kind_cls, shape = cls.NESTED[name]
                if shape == "one" and isinstance(value, dict):
                    value = kind_cls.from_dict(value)
                elif shape == "list" and isinstance(value, list):
                    value = [kind_cls.from_dict(v) if isinstance(v, dict) else v for v in value]
                elif shape == "dict" and isinstance(value, dict):
                    value = {
                        k: kind_cls.from_dict(v) if isinstance(v, dict) else v
                        for k, v in value.items()
                    }
            known[name] = value
        other = {k: v for k, v in data.items() if k not in names}
        return cls(**known, other=other)


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# -- from the API: where the model came from, α, closed forms ----------------------------


@dataclass
class Source(Section):
    """Where the counted model came from (``flopwise profile SPEC``)."""

    OPTIONAL = frozenset({"resolved", "trust_remote_code", "default_inputs"})

    spec: str = ""
    name: str = ""
    dtype: str = ""
    #: Local file, built-in config or Hub repository and commit (when known).
    resolved: str | None = None
    #: True when an ``hf:`` config's repository code ran (absent otherwise).
    trust_remote_code: bool | None = None
    #: The default inputs chosen for the model's kind, when none were given.
    default_inputs: list[str] | None = None


@dataclass
class Alpha(Section):
    """α-MACs / α-FLOPs (conv and dense layers) in total, and per module.

    ``per_module`` is not part of the ``alpha`` document: it is written as each module row's
    ``alpha_macs``."""

    OPTIONAL = frozenset({"predicted_seconds"})

    alpha_macs: float = 0.0
    alpha_flops: float = 0.0
    layer_macs: int = 0
    layer_flops: int = 0
    other_macs: int = 0
    other_flops: int = 0
    layers: int = 0
    effective_alpha: float | None = None
    constants: dict[str, Any] = field(default_factory=dict)
    #: ``seconds_per_mac · alpha_macs`` when the constants carry a time scale.
    predicted_seconds: float | None = None
    constants_source: str = ""
    note: str = ""
    per_module: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        del out["per_module"]
        return out


@dataclass
class TrainingClosedForms(Section):
    """The training FLOPs people quote, beside the counted forward + backward."""

    tokens: int = 0
    six_n: float = 0
    kaplan_6n_plus_attention: float = 0
    megatron: float = 0
    analytic_step: float = 0
    note: str = ""


# -- from measure: timing --------------------------------------------------------------


@dataclass
class LatencySummary(Section):
    """End-to-end latency of the uninstrumented samples (seconds)."""

    label: str | None = None
    device: str | None = None
    threads: int | None = None
    dtype: str | None = None
    warmup: int | None = None
    repeats: int = 0
    calls_per_sample: int | None = None
    median_s: float = 0.0
    mean_s: float | None = None
    min_s: float = 0.0
    max_s: float | None = None
    q1_s: float | None = None
    q3_s: float | None = None
    iqr_s: float | None = None
    std_s: float | None = None
    cv: float | None = None
    rel_iqr: float = 0.0
    items: int | None = None
    throughput_items_per_s: float | None = None
    trustworthy: bool | None = None
    reason: str | None = None
    spread_threshold: float | None = None
    samples_s: list[float] = field(default_factory=list)
    samples_truncated: bool | None = None


@dataclass
class Verdict(Section):
    """What bounds the run: ``device-bound``, ``host/launch-bound``, ``mixed`` or ``cpu``."""

    bound: str = ""
    gpu_idle_fraction: float | None = None
    reason: str = ""


@dataclass
class ModuleTiming(Section):
    """Measured time of one module per model call (seconds)."""

    time_s: float | None = None
    self_s: float | None = None
    calls: int | None = None
    host_s: float | None = None
    device_s: float | None = None


# -- from analysis: the roofline join --------------------------------------------------


@dataclass
class HardwareRef(Section):
    """The hardware profile the roofline used (its file format, see measure/hardware)."""

    name: str = ""
    kind: str = ""
    peak_flops: dict[str, float] = field(default_factory=dict)
    memory_bandwidth: float = 0.0
    sparse_peak_flops: dict[str, float] = field(default_factory=dict)
    memory_bytes: int | None = None
    launch_overhead_s: float | None = None
    idle_power_w: float | None = None
    peak_power_w: float | None = None
    source: str = ""
    alpha: dict[str, Any] | None = None
    aliases: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RooflineSummary(Section):
    """Model-level roofline figures: waterline (sum of op floors), efficiency, gap."""

    hardware: str | None = None
    math_modes: dict[str, Any] = field(default_factory=dict)
    profile_error: str | None = None
    flops: int = 0
    bytes: int = 0
    waterline_s: float = 0.0
    memory_bound_floor_share: float = 0.0
    measured_s: float | None = None
    efficiency: float | None = None
    gap_s: float | None = None
    achieved_flops_per_s: float | None = None


@dataclass
class TimeShare(Section):
    """One module's share of the measured time and of the FLOPs."""

    path: str = ""
    type: str = ""
    time_share: float | None = None
    flop_share: float = 0.0
    bound: str = ""
    efficiency: float | None = None


@dataclass
class TimeVsFlops(Section):
    """The top leaf modules by time share and by FLOP share."""

    NESTED = {"by_time": (TimeShare, "list"), "by_flops": (TimeShare, "list")}

    by_time: list[TimeShare] = field(default_factory=list)
    by_flops: list[TimeShare] = field(default_factory=list)


@dataclass
class ProfileError(Section):
    """A measured time under its roofline floor: the hardware profile is too low."""

    level: str = ""
    path: str = ""
    op: str | None = None
    time_s: float | None = None
    floor_s: float = 0.0
    ratio: float = 0.0
    message: str = ""


@dataclass
class Roofline(Section):
    """The roofline join of counts and measured times against a hardware profile.

    ``modules`` and ``ops`` are the per-row join (rows as the analysis writes them)."""

    NESTED = {
        "summary": (RooflineSummary, "one"),
        "time_vs_flops": (TimeVsFlops, "one"),
        "profile_errors": (ProfileError, "list"),
    }
    OPTIONAL = frozenset({"summary", "time_vs_flops", "remeasured"})

    modules: list[dict[str, Any]] = field(default_factory=list)
    ops: list[dict[str, Any]] = field(default_factory=list)
    summary: RooflineSummary | None = None
    time_vs_flops: TimeVsFlops | None = None
    profile_errors: list[ProfileError] = field(default_factory=list)
    #: Set when the host profile was re-measured because a time beat its floor.
    remeasured: dict[str, Any] | None = None

    @property
    def worst_error(self) -> ProfileError | None:
        """The profile error whose floor exceeds its measured time the most (largest
        ``ratio``, the first of equals), None without profile errors."""
        return max(self.profile_errors, key=lambda e: e.ratio, default=None)


@dataclass
class Measured(Section):
    """A timed run of the counted model: latency, coverage and per-module times (filled by
    measure), plus the hardware and roofline join (filled by the API through analysis)."""

    NESTED = {
        "latency": (LatencySummary, "one"),
        "verdict": (Verdict, "one"),
        "hardware": (HardwareRef, "one"),
        "roofline": (Roofline, "one"),
        "modules": (ModuleTiming, "dict"),
    }
    OPTIONAL = frozenset({"hardware", "roofline", "modules"})

    schema: str = "flopwise.measured/1"
    device: str = "cpu"
    threads: int = 1
    dtype: str | None = None
    grad: bool = False
    #: ``forward`` or ``training step (zero-grad, forward, backward)``.
    phase: str = "forward"
    torch: str = ""
    latency: LatencySummary = field(default_factory=LatencySummary)
    per_layer: bool = False
    coverage: float | None = None
    coverage_of_medians: float | None = None
    host_coverage: float | None = None
    host_wall_coverage: float | None = None
    device_coverage: float | None = None
    verdict: Verdict | None = None
    profiler_overhead: float | None = None
    trustworthy: bool = True
    warnings: list[str] = field(default_factory=list)
    #: The profiler's per-module and per-op rows (measure's ``LayerTimes`` document).
    layers: dict[str, Any] | None = None
    hardware: HardwareRef | None = None
    roofline: Roofline | None = None
    #: Per-module times by module path.
    modules: dict[str, ModuleTiming] | None = None

    def module_time(self, path: str) -> float | None:
        """The measured inclusive time of module ``path`` per call, if any."""
        row = (self.modules or {}).get(path)
        return row.time_s if isinstance(row, ModuleTiming) else None


# -- from measure: energy and pipeline stages --------------------------------------------


@dataclass
class Energy(Section):
    """Energy and gCO2e of the measured run (schema ``flopwise.energy/1``), filled by
    measure/energy's :func:`~flopwise.measure.energy.report_from_result`.

    Figures are per run (one model call) unless the name says otherwise; ``None`` where
    the work per run (items, tokens, FLOPs) is unknown. ``uncertainty`` is ``counter``,
    ``sampled`` or ``estimated`` (a power model x time, never a measurement)."""

    #: Efficiency ratios written only when they can be computed (no zero denominator).
    OPTIONAL = frozenset(
        {
            "flops_per_joule",
            "items_per_joule",
            "items_per_kwh",
            "items_per_pflop",
            "items_per_gco2e",
            "tokens_per_joule",
            "tokens_per_kwh",
            "tokens_per_pflop",
            "tokens_per_gco2e",
            "per_module_joules_per_run",
            "per_module_basis",
        }
    )

    schema: str = "flopwise.energy/1"
    #: The reader's method: ``rapl``, ``nvml``, ``zeus``, ``codecarbon`` or ``estimated``.
    method: str = "estimated"
    uncertainty: str = "estimated"
    measured: bool = False
    reader: str = ""
    #: The power model's description, when the figure is an estimate.
    model: str | None = None
    #: Time-weighted utilisation the power model used (None when nothing was estimated).
    utilisation: float | None = None
    runs: int = 0
    windows: int = 0
    repeats_per_window: int = 0
    #: Mean window length (seconds).
    window_s: float = 0.0
    seconds_per_run: float = 0.0
    joules_total: float = 0.0
    joules_per_run: float = 0.0
    #: Spread of joules per run over the windows.
    joules_per_run_min: float = 0.0
    joules_per_run_max: float = 0.0
    joules_per_item: float | None = None
    joules_per_token: float | None = None
    kwh_per_run: float = 0.0
    average_power_w: float = 0.0
    items_per_run: float | None = None
    tokens_per_run: float | None = None
    flops_per_run: int | None = None
    #: Joules per run of each counter domain (package, dram, gpu ...).
    domains_joules_per_run: dict[str, float] = field(default_factory=dict)
    grid_region: str = ""
    grid_name: str = ""
    grid_gco2e_per_kwh: float = 0.0
    grid_source: str = ""
    grid_year: int | None = None
    grid_is_default: bool = False
    pue: float = 1.0
    gco2e_per_run: float = 0.0
    gco2e_per_item: float | None = None
    gco2e_per_token: float | None = None
    flops_per_joule: float | None = None
    items_per_joule: float | None = None
    items_per_kwh: float | None = None
    items_per_pflop: float | None = None
    items_per_gco2e: float | None = None
    tokens_per_joule: float | None = None
    tokens_per_kwh: float | None = None
    tokens_per_pflop: float | None = None
    tokens_per_gco2e: float | None = None
    #: Joules per run by module path: the run's energy split by time share (an
    #: apportionment, labelled by ``per_module_basis``; not measured per module).
    per_module_joules_per_run: dict[str, float] | None = None
    per_module_basis: str | None = None
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: One line per better reader that is not available here (what is missing).
    unavailable: list[str] = field(default_factory=list)


@dataclass
class StageTiming(Section):
    """One pipeline stage: its status (``measured``, ``not_applicable``, ``skipped``), what
    it does, its timing (None unless timed) and its ``share`` of the sum of stage medians."""

    OPTIONAL = frozenset({"bytes", "latency"})
    NESTED = {"latency": (LatencySummary, "one")}

    status: str = ""
    what: str = ""
    median_s: float | None = None
    min_s: float | None = None
    iqr_s: float | None = None
    cv: float | None = None
    spread: float | None = None
    repeats: int | None = None
    calls_per_sample: int | None = None
    trustworthy: bool | None = None
    reason: str | None = None
    share: float | None = None
    note: str | None = None
    #: Bytes copied (the host-to-device stage only).
    bytes: int | None = None
    #: The full latency summary, when the stage was timed.
    latency: LatencySummary | None = None


@dataclass
class EndToEnd(Section):
    """The whole chain timed as one callable, beside the sum of the stage medians."""

    NESTED = {"latency": (LatencySummary, "one")}

    median_s: float = 0.0
    trustworthy: bool = True
    reason: str | None = None
    #: End-to-end median / sum of the stage medians (None when the sum is 0).
    over_sum: float | None = None
    latency: LatencySummary = field(default_factory=LatencySummary)


@dataclass
class Stages(Section):
    """Preprocess, host-to-device, inference and postprocess times of one run (schema
    ``flopwise.stages/1``), filled by measure/stages' ``measure_stages``."""

    NESTED = {"stages": (StageTiming, "dict"), "end_to_end": (EndToEnd, "one")}

    schema: str = "flopwise.stages/1"
    device: str = "cpu"
    threads: int = 1
    #: The model source (torchvision, timm, hf, file, ...), None when unknown.
    source: str | None = None
    #: What was preprocessed: ``image``, ``text`` or None.
    kind: str | None = None
    #: What the preprocess stage made (its size, format, tokenizer ...; empty when skipped).
    input: dict[str, Any] = field(default_factory=dict)
    #: The stage names, in pipeline order.
    order: list[str] = field(default_factory=list)
    stages: dict[str, StageTiming] = field(default_factory=dict)
    #: Each timed stage's share of ``total_s``.
    shares: dict[str, float] = field(default_factory=dict)
    #: The sum of the stage medians (seconds).
    total_s: float = 0.0
    end_to_end: EndToEnd | None = None
    trustworthy: bool = True
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ordered(self) -> list[tuple[str, StageTiming]]:
        """``(name, stage)`` in pipeline order."""
        return [(name, self.stages[name]) for name in self.order if name in self.stages]
