"""The pipeline behind ``flopwise compare MODEL...``: every model counted, optionally timed
interleaved with the others, how well each cost proxy tracks measured time, and the Pareto
front of accuracy against time.

Counts come from meta tensors (no weights needed); when measuring, every model is built on
the device and timed *interleaved* with the others in one run, so a burst of load from a
neighbour hits all of them alike, and each median is reported with its spread. A model may
carry its own inputs after ``@`` (:func:`split_model_arg`):
``torchvision:resnet50@2x3x224x224`` or ``hf:gpt2@input_ids=1x256:int64``.

    result = run_compare([("torchvision:resnet18", []), ("torchvision:mobilenet_v2", [])],
                         accuracies={"resnet18": 69.8}, measure=MeasureOptions(budget_s=20))
    result.to_dict()  # the ``flopwise.compare/1`` document
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from flopwise.analysis import compare as C
from flopwise.analysis.alpha import AlphaConstants, host_alpha_constants
from flopwise.errors import FlopwiseError
from flopwise.measure.devices import device_summary, resolve_device
from flopwise.measure.options import MeasureOptions, torch_threads
from flopwise.pipeline._counts import model_counts
from flopwise.pipeline._timing import time_interleaved
from flopwise.pipeline.profile import load
from flopwise.profile import profile

SCHEMA = "flopwise.compare/1"
#: Joule measurements per model with ``MeasureOptions(energy=True)``.
ENERGY_REPEATS = 10


def split_model_arg(text: str, default_inputs: list[str]) -> tuple[str, list[str]]:
    """``"spec@in1,in2"`` → ``("spec", ["in1", "in2"])``; without ``@`` the default inputs.

    A Hub repository keeps its revision: ``hf:ORG/NAME@REV`` is a model (REV is not an
    input spec), ``hf:ORG/NAME@REV@in1,in2`` a model and its inputs."""
    spec, sep, rest = text.partition("@")
    if sep and spec.startswith("hf:") and "/" in spec and not _input_specs(rest.split("@")[0]):
        revision, sep, rest = rest.partition("@")
        spec = f"{spec}@{revision}"
    if sep:
        specs = [s.strip() for s in rest.split(",") if s.strip()]
        if not specs:
            raise FlopwiseError(f"no input spec after '@' in {text!r}")
        return spec.strip(), specs
    return text.strip(), list(default_inputs)


def _input_specs(text: str) -> bool:
    """Whether ``text`` is a comma-separated list of input specs (``1x8``, ``x=1x8:int64``)."""
    from flopwise.sources.specs import parse_input_specs

    try:
        parse_input_specs([s.strip() for s in text.split(",") if s.strip()] or ["?"])
    except FlopwiseError:
        return False
    return True


def parse_accuracies(items: list[str]) -> dict[str, float]:
    """``["resnet50=76.1", ...]`` → ``{name: value}``; a FlopwiseError on a malformed item or
    a value that is not a finite number."""
    try:
        acc = C.parse_accuracies(items)
    except ValueError as exc:
        raise FlopwiseError(str(exc)) from None
    bad = [f"{k}={v}" for k, v in acc.items() if not math.isfinite(v)]
    if bad:
        raise FlopwiseError(f"--accuracy {', '.join(bad)}: the value must be a finite number")
    return acc


@dataclass
class CompareResult:
    """A comparison: one :class:`~flopwise.analysis.compare.CompareRow` per model (its
    ``extra["label"]`` is the row's unique label), the proxies' correlations with measured
    time, the Pareto front and notes; :meth:`to_dict` is the ``flopwise.compare/1``
    document the CLI prints and stores."""

    rows: list[C.CompareRow]
    dtype: str
    measured: bool
    alpha_label: str  # which α constants (host_alpha_constants)
    correlations: dict[str, dict[str, float]] = field(default_factory=dict)
    pareto: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    device: dict[str, Any] | None = None  # where it was timed (device_summary)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "dtype": self.dtype,
            **({"device": self.device} if self.measured else {}),
            "mode": {"phase": "forward", "tensors": "meta (counts)", "measured": self.measured},
            "convention": {
                "flops": "a multiply-add is 2 FLOPs",
                "alpha_flops": "α · flops of conv and dense layers plus the other ops' flops "
                f"uncorrected; α constants: {self.alpha_label}",
                "bytes": "unfused read + written bytes",
                "time": "median of interleaved samples; spread = IQR / median",
            },
            "rows": [r.to_dict() | {"label": r.extra["label"]} for r in self.rows],
            "correlations": self.correlations,
            "best_proxy": C.best_proxy(self.correlations) if self.correlations else None,
            "pareto": self.pareto,
            "notes": self.notes,
        }


def _label(spec: str, inputs: list[dict[str, Any]], previous: list[str]) -> str:
    """The model's short name, with its input shapes when the name is already taken."""
    short = spec.rpartition(":")[2].rsplit("/", 1)[-1].removesuffix(".json") or spec
    if short in previous or any(p.startswith(short + " ") for p in previous):
        shape = "; ".join("x".join(str(s) for s in d.get("shape", [])) for d in inputs)
        return f"{short} {shape}"
    return short


def _count_rows(
    entries: list[tuple[str, list[str]]], dtype: str, constants: AlphaConstants
) -> list[C.CompareRow]:
    """One counted row per entry (meta tensors), each labelled uniquely."""
    rows: list[C.CompareRow] = []
    labels: list[str] = []
    for spec, spec_inputs in entries:
        net, args, kwargs, name = load(spec, spec_inputs, "meta", dtype)
        c = model_counts(profile(net, *args, kwargs=kwargs, tensors="meta", name=spec), constants)
        rows.append(
            C.CompareRow(
                name=name,
                spec=spec,
                inputs=c.inputs,
                params=c.params,
                complete=c.complete,
                **c.costs(),
            )
        )
        labels.append(_label(spec, c.inputs, labels))
    if len(set(labels)) != len(labels):
        labels = [f"{i + 1}. {lab}" for i, lab in enumerate(labels)]
    for row, lab in zip(rows, labels, strict=True):
        row.extra["label"] = lab
    return rows


def _build_calls(
    entries: list[tuple[str, list[str]]], labels: list[str], device: str, dtype: str
) -> tuple[dict[str, Callable[[], Any]], dict[str, int]]:
    """Each model built on ``device`` as a call to time, and its items per call (the first
    tensor input's batch), keyed by label."""
    fns: dict[str, Callable[[], Any]] = {}
    items: dict[str, int] = {}
    for (spec, spec_inputs), lab in zip(entries, labels, strict=True):
        net, args, kwargs, _ = load(spec, spec_inputs, device, dtype)

        def call(net=net, args=args, kwargs=kwargs) -> Any:
            with torch.inference_mode():
                return net(*args, **kwargs)

        fns[lab] = call
        first = next(
            (a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)), None
        )
        items[lab] = int(first.shape[0]) if first is not None and first.dim() else 1
    return fns, items


def _measure_rows(
    rows: list[C.CompareRow],
    entries: list[tuple[str, list[str]]],
    dtype: str,
    device: str,
    measure: MeasureOptions,
    notes: list[str],
) -> None:
    """Time every model interleaved (``measure.budget_s`` in total) and, with
    ``measure.energy``, its joules per run; fills the rows, adds notes."""
    labels = [r.extra["label"] for r in rows]
    fns, items = _build_calls(entries, labels, device, dtype)
    lat = time_interleaved(fns, measure, device, items)
    for row, lab in zip(rows, labels, strict=True):
        lt = lat[lab]
        row.median_s, row.min_s, row.spread = lt.median_s, lt.min_s, lt.rel_iqr
        row.repeats, row.trustworthy, row.reason = lt.repeats, lt.trustworthy, lt.reason
    if not measure.energy:
        return
    from flopwise.measure.energy import energy_report

    for row, lab in zip(rows, labels, strict=True):
        try:
            rep = energy_report(fns[lab], repeats=ENERGY_REPEATS, flops=row.flops, items=items[lab])
        except Exception as exc:  # energy is optional: say why it is missing
            notes.append(f"energy of {lab} not measured: {exc}")
            continue
        row.energy_j = rep.joules_per_run
        row.energy_method = f"{rep.method} ({rep.uncertainty})"


def _pareto(rows: list[C.CompareRow], measured: bool) -> dict[str, Any] | None:
    """The accuracy Pareto front against measured time (or FLOPs when not timed); None
    when no accuracy was given."""
    scored = [r for r in rows if r.accuracy is not None]
    if not scored:
        return None
    cost_key = "median_s" if measured else "flops"
    points = [
        (r.extra["label"], float(getattr(r, cost_key)), float(r.accuracy))
        for r in scored
        if getattr(r, cost_key) is not None
    ]
    return {
        "cost": "measured median time (s)" if measured else "FLOPs (not measured)",
        "front": C.pareto_front(points),
        "points": len(points),
    }


def _quality_notes(rows: list[C.CompareRow], measured: bool) -> list[str]:
    """Notes on what limits the comparison: few timed models, noisy timings, partial counts."""
    notes = []
    timed = [r for r in rows if r.median_s is not None]
    if measured and len(timed) < 3:
        notes.append("correlations need at least 3 measured models")
    untrusted = [r.extra["label"] for r in timed if r.trustworthy is False]
    if untrusted:
        notes.append(
            "noisy timings (spread above threshold; re-run or raise --budget): "
            + ", ".join(untrusted)
        )
    incomplete = [r.extra["label"] for r in rows if not r.complete]
    if incomplete:
        notes.append("counts incomplete (uncounted ops): " + ", ".join(incomplete))
    return notes


def run_compare(
    entries: list[tuple[str, list[str]]],
    *,
    accuracies: Mapping[str, float] | None = None,
    measure: MeasureOptions | None = None,
    dtype: str = "float32",
    device: str = "auto",
) -> CompareResult:
    """Count (and, with ``measure``, time) every ``(spec, inputs)`` entry
    (:func:`split_model_arg` makes them from ``MODEL@SPEC`` arguments).

    Counts run on meta tensors. With ``measure`` the models are built on ``device``
    (``auto``: cpu) and timed interleaved within ``measure.budget_s`` seconds in total, under
    ``measure.threads`` torch threads (None: torch's count); ``measure.energy`` adds joules
    per run. ``accuracies`` (``{name: value}``, see :func:`parse_accuracies`) give the
    Pareto front; a name matching no model raises before any timing. α-flops use
    :func:`~flopwise.analysis.alpha.host_alpha_constants`."""
    timing = measure is not None
    dev = resolve_device(device, timing=timing)
    constants, alpha_label = host_alpha_constants()
    with torch_threads(measure.threads if measure else None):
        rows = _count_rows(entries, dtype, constants)
        matched, unmatched = C.match_accuracies(rows, accuracies or {})
        if unmatched:  # refused before the timing, not noted after it
            raise FlopwiseError(
                f"--accuracy {', '.join(unmatched)}: no such model among "
                f"{', '.join(r.spec for r in rows)}"
            )
        for i, value in matched.items():
            rows[i].accuracy = value
        notes: list[str] = []
        if measure is not None:
            _measure_rows(rows, entries, dtype, dev, measure, notes)
    return CompareResult(
        rows=rows,
        dtype=dtype,
        measured=timing,
        alpha_label=alpha_label,
        correlations=C.proxy_correlations(rows) if timing else {},
        pareto=_pareto(rows, timing),
        notes=notes + _quality_notes(rows, timing),
        device=device_summary(dev) if timing else None,
    )
