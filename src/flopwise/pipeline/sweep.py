"""The pipeline behind ``flopwise sweep MODEL --dim batch=1,2,4,8 --dim resolution=128,224``.

Each dimension is swept on its own, the other dimensions staying at the base input's values
(the model's default input, or the given inputs). For every point: counted flops, MACs,
α-flops, bytes and activations, and (when measuring) the measured time, all points timed
interleaved in one run so their ratios are steady. Per dimension: power-law exponents
``cost ∝ dim^b`` of flops, α-flops, bytes and time with bootstrap CIs (see
:mod:`flopwise.analysis.sweep`).

Dimensions: ``batch`` (axis 0 of every input), ``resolution`` (the two last axes of every
4-D input), ``seq`` (axis 1 of every 2-D or 3-D input), or ``INPUT.AXIS`` for any named
input dimension (``input_ids.1``, ``0.2`` for axis 2 of the first positional input).

Two steps, so a caller can see how many points there are before choosing a budget::

    plan = plan_sweep("torchvision:resnet18", [parse_dim("batch=1,2,4")])
    result = run_sweep(plan, MeasureOptions(budget_s=plan.default_budget_s))
    result.to_dict()  # the ``flopwise.sweep/1`` document
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from flopwise.analysis.alpha import AlphaConstants, host_alpha_constants
from flopwise.analysis.sweep import SweepPoint, summarize_sweep
from flopwise.errors import FlopwiseError
from flopwise.measure.devices import device_summary, resolve_device
from flopwise.measure.options import MeasureOptions, torch_threads
from flopwise.pipeline._counts import model_counts
from flopwise.pipeline._timing import time_interleaved
from flopwise.profile import profile

SCHEMA = "flopwise.sweep/1"
#: Timing seconds per point when no budget is given (the whole sweep gets this × points).
SECONDS_PER_POINT = 2.0
STATISTICS = ("median", "min")
ALIASES = {
    "batch": "batch",
    "batch_size": "batch",
    "resolution": "resolution",
    "res": "resolution",
    "image_size": "resolution",
    "seq": "seq",
    "seq_len": "seq",
    "sequence": "seq",
    "tokens": "seq",
}


# -- dimensions (pure) ----------------------------------------------------------------------


def parse_dim(text: str) -> tuple[str, list[int]]:
    """``"batch=1,2,4"`` → ``("batch", [1, 2, 4])``; aliases normalised, values > 0."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise FlopwiseError(f"--dim {text!r}: expected NAME=V1,V2,... (e.g. batch=1,2,4,8)")
    try:
        vals = [int(v) for v in values.split(",") if v.strip()]
    except ValueError as exc:
        raise FlopwiseError(f"--dim {text!r}: values must be integers") from exc
    if any(v <= 0 for v in vals):
        raise FlopwiseError(f"--dim {text!r}: values must be positive integers")
    if len(set(vals)) < 2:  # batch=1,1 would sweep one point and fit nothing
        raise FlopwiseError(f"--dim {text!r}: give at least two different values")
    canonical = ALIASES.get(name.lower())
    if canonical is None and "." not in name:
        known = ", ".join(sorted(set(ALIASES.values())))
        raise FlopwiseError(f"--dim {name!r}: unknown dimension (use {known}, or INPUT.AXIS)")
    return canonical or name, list(dict.fromkeys(vals))


def check_statistic(statistic: str) -> str:
    """``statistic`` if it is one a sweep can report (median or min), else a FlopwiseError."""
    if statistic not in STATISTICS:
        raise FlopwiseError(f"--statistic must be median or min, not {statistic!r}")
    return statistic


def _named_axis(specs: list[Any], dim: str) -> list[tuple[int, tuple[int, ...]]]:
    """(spec index, axes) of an ``INPUT.AXIS`` dimension (INPUT: a name or a position)."""
    which, _, axis_text = dim.rpartition(".")
    try:
        axis = int(axis_text)
    except ValueError as exc:
        raise FlopwiseError(f"--dim {dim!r}: AXIS must be an integer") from exc
    positional = [i for i, s in enumerate(specs) if s.name is None]
    # A positional input by position (0.2) or by the name profile and sweep print (arg0.2).
    number = which.removeprefix("arg")
    if number.isdigit() and not any(s.name == which for s in specs):
        k = int(number)
        matches = [positional[k]] if k < len(positional) else []
    else:
        matches = [i for i, s in enumerate(specs) if s.name == which]
    return [(i, (axis,)) for i in matches if -len(specs[i].shape) <= axis < len(specs[i].shape)]


def _targets(specs: list[Any], dim: str) -> list[tuple[int, tuple[int, ...]]]:
    """(spec index, axes) pairs that dimension ``dim`` resizes."""
    if dim == "batch":
        out = [(i, (0,)) for i, s in enumerate(specs) if len(s.shape) >= 1]
    elif dim == "resolution":
        out = [(i, (2, 3)) for i, s in enumerate(specs) if len(s.shape) == 4]
    elif dim == "seq":
        out = [(i, (1,)) for i, s in enumerate(specs) if len(s.shape) in (2, 3)]
    else:
        out = _named_axis(specs, dim)
    if not out:
        positional = iter(range(len(specs)))
        shapes = (
            ", ".join(str(s) if s.name is not None else f"arg{next(positional)}={s}" for s in specs)
            or "none"
        )
        raise FlopwiseError(f"--dim {dim}: no input has that dimension (inputs: {shapes})")
    return out


def base_value(specs: list[Any], dim: str) -> int:
    """The value ``dim`` has in the base inputs."""
    i, axes = _targets(specs, dim)[0]
    return int(specs[i].shape[axes[0]])


def apply_dims(specs: list[Any], values: dict[str, int]) -> list[Any]:
    """Copies of the input specs with each dimension in ``values`` set."""
    out = list(specs)
    for dim, value in values.items():
        for i, axes in _targets(out, dim):
            shape = list(out[i].shape)
            for axis in axes:
                shape[axis] = value
            out[i] = replace(out[i], shape=tuple(shape))
    return out


# -- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedPoint:
    """One input configuration to count (and time): the dimension it was planned for, its
    value, every swept dimension's value and the input specs."""

    dim: str
    value: int
    dims: dict[str, int]
    specs: list[Any]


@dataclass
class SweepPlan:
    """A loaded model and the points to run (the base configuration, shared by every
    dimension, listed once, under the first). Made by :func:`plan_sweep`."""

    model_spec: str
    loaded: Any  # flopwise.sources.LoadedModel
    base: list[Any]  # the base input specs
    base_dims: dict[str, int]
    dtype: str
    torch_dtype: torch.dtype
    device: str  # resolved: where the model was built (meta when only counting)
    timing: bool
    points: list[PlannedPoint] = field(default_factory=list)

    @property
    def default_budget_s(self) -> float:
        """The whole sweep's timing budget when none is given: 2 s per point."""
        return SECONDS_PER_POINT * len(self.points)


def plan_sweep(
    model_spec: str,
    dims: list[tuple[str, list[int]]],
    inputs: list[str] | None = None,
    *,
    dtype: str = "float32",
    device: str = "auto",
    timing: bool = True,
) -> SweepPlan:
    """Build ``model_spec`` and list the sweep's points.

    ``dims`` are :func:`parse_dim` results; ``inputs`` the base input specs (default: the
    model's default input). With ``timing`` the model is built on ``device`` (``auto``:
    cpu) with real weights, else on meta tensors."""
    from flopwise.sources import load_model
    from flopwise.sources.specs import parse_input_specs, parse_model_dtype

    if not dims:
        raise FlopwiseError("give at least one --dim NAME=V1,V2,...")
    names = [name for name, _ in dims]
    if len(set(names)) != len(names):
        raise FlopwiseError("each dimension may be given once")
    dev = resolve_device(device, timing=timing)
    torch_dtype = parse_model_dtype(dtype)
    loaded = load_model(model_spec, device=dev if timing else "meta", dtype=torch_dtype)
    base = parse_input_specs(inputs) if inputs else list(loaded.default_inputs)
    if not base:
        raise FlopwiseError(f"{model_spec}: no default inputs; pass --input")
    bases = {name: base_value(base, name) for name, _ in dims}
    plan = SweepPlan(model_spec, loaded, base, bases, dtype, torch_dtype, dev, timing)
    seen: set[tuple] = set()
    for name, values in dims:
        for v in values:
            point_dims = {**bases, name: v}
            key = tuple(sorted(point_dims.items()))
            if key in seen:  # the base configuration, shared by every sweep
                continue
            seen.add(key)
            plan.points.append(PlannedPoint(name, v, point_dims, apply_dims(base, {name: v})))
    return plan


# -- running --------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """A sweep's counted (and timed) points and its per-dimension fits
    (:func:`flopwise.analysis.sweep.summarize_sweep`); :meth:`to_dict` is the
    ``flopwise.sweep/1`` document the CLI prints and stores."""

    model: str
    base_inputs: list[dict[str, Any]]
    base_dims: dict[str, int]
    dtype: str
    threads: int
    alpha_constants: AlphaConstants
    points: list[SweepPoint]
    fits: list[dict[str, Any]]
    ranking: list[str]
    measured: bool = False
    statistic: str = "median"  # which time each point reports (when measured)
    device: dict[str, Any] | None = None  # where it was timed (device_summary)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready document (NaN CIs left as floats; ``jsonout.finite`` drops them)."""
        constants = self.alpha_constants.to_dict()
        return {
            "schema": SCHEMA,
            "model": self.model,
            "base_inputs": self.base_inputs,
            "base_dims": self.base_dims,
            "measured": self.measured,
            "statistic": self.statistic if self.measured else None,
            "threads": self.threads,
            **({"device": self.device} if self.measured else {}),
            "dtype": self.dtype,
            "alpha_constants": {"source": constants.pop("source"), **constants},  # key order kept
            "units": {
                "flops": "flops (multiply-add = 2)",
                "alpha_flops": "α-flops: α · flops for conv/dense layers, plain flops for other ops",
                "bytes": "bytes read + written, unfused, per op",
                "seconds": f"{self.statistic} wall-clock seconds per forward pass",
            },
            "points": [p.to_dict() for p in self.points],
            "fits": self.fits,
            "ranking": self.ranking,
        }


def _count_point(
    plan: SweepPlan, planned: PlannedPoint, constants: AlphaConstants
) -> tuple[SweepPoint, Callable[[], Any] | None]:
    """Count one point (and, when timing, run it once for real); returns its SweepPoint and
    the call to time (None when only counting or when the model rejected the point)."""
    loaded = plan.loaded
    inputs_doc = [s.to_dict(plan.torch_dtype) for s in planned.specs]
    try:
        args, kwargs = loaded.inputs(planned.specs)
        prof = profile(
            loaded.model, *args, kwargs=kwargs, tensors="fake" if plan.timing else "meta"
        )
        if plan.timing:  # one real call: a point that runs on fake tensors may still fail
            with torch.inference_mode():
                loaded.model(*args, **kwargs)
    except Exception as exc:  # the model rejects this point: keep its row, go on
        reason = _reason(exc)
        return SweepPoint.rejected(
            planned.dim, planned.value, planned.dims, inputs_doc, reason
        ), None
    c = model_counts(prof, constants)
    point = SweepPoint(
        dim=planned.dim,
        value=planned.value,
        dims=planned.dims,
        inputs=inputs_doc,
        notes=[] if c.complete else ["count incomplete: uncounted ops"],
        **c.costs(),
    )
    if not plan.timing:
        return point, None

    def call(model=loaded.model, args=args, kwargs=kwargs) -> Any:
        with torch.inference_mode():
            return model(*args, **kwargs)

    return point, call


def _time_points(
    points: list[SweepPoint],
    calls: dict[str, Callable[[], Any]],
    device: str,
    measure: MeasureOptions,
    statistic: str,
) -> list[SweepPoint]:
    """``points`` with the interleaved timing of ``calls`` (keyed by point index) filled in;
    the whole run takes ``measure.budget_s`` seconds (or ``measure.repeats`` rounds)."""
    lat = time_interleaved(calls, measure, device)
    out = []
    for k, p in enumerate(points):
        t = lat.get(str(k))
        if t is None:
            out.append(p)
            continue
        seconds = t.median_s if statistic == "median" else t.min_s
        notes = p.notes + ([t.reason] if t.reason else [])
        out.append(
            replace(p, seconds=seconds, spread=t.spread, trustworthy=t.trustworthy, notes=notes)
        )
    return out


def run_sweep(
    plan: SweepPlan, measure: MeasureOptions | None = None, *, statistic: str = "median"
) -> SweepResult:
    """Count every point of ``plan`` and, with ``measure``, time them interleaved.

    ``measure.budget_s`` is the timing budget of the whole sweep (the CLI's default is
    ``plan.default_budget_s``, 2 s per point); ``measure.threads`` sets torch's CPU threads
    for the call; ``measure.progress`` draws a bar. ``statistic`` picks each point's time:
    ``"median"`` of the samples or ``"min"``, the least disturbed sample (steadier on a busy
    machine). α-flops use :func:`~flopwise.analysis.alpha.host_alpha_constants`. Raises
    :class:`FlopwiseError` when the model rejects every point. ``measure`` needs a plan made
    with ``timing=True``."""
    check_statistic(statistic)
    if measure is not None and not plan.timing:
        raise FlopwiseError("this sweep was planned without timing: plan it with timing=True")
    constants, _label = host_alpha_constants()
    with torch_threads(measure.threads if measure else None) as threads:
        points: list[SweepPoint] = []
        calls: dict[str, Callable[[], Any]] = {}
        for planned in plan.points:
            point, call = _count_point(plan, planned, constants)
            if call is not None:
                calls[str(len(points))] = call
            points.append(point)
        if not any(p.error is None for p in points):
            reasons = "; ".join(f"{p.dim}={p.value}: {p.error}" for p in points)
            raise FlopwiseError(f"{plan.model_spec} rejected every point of the sweep ({reasons})")
        if measure is not None:
            points = _time_points(points, calls, plan.device, measure, statistic)
    summary = summarize_sweep(points, base=plan.base_dims)
    return SweepResult(
        model=plan.model_spec,
        base_inputs=[s.to_dict(plan.torch_dtype) for s in plan.base],
        base_dims=plan.base_dims,
        dtype=plan.dtype,
        threads=threads,
        alpha_constants=constants,
        points=points,
        fits=summary["fits"],
        ranking=summary["ranking"],
        measured=measure is not None,
        statistic=statistic,
        device=device_summary(plan.device) if measure is not None else None,
    )


def _reason(exc: BaseException) -> str:
    """One line saying why a point was rejected (a FlopwiseError already names the module)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, FlopwiseError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
