"""Sweeps along input dimensions: which dimension is cheap and which is expensive here.

Pure functions over sweep points (one point = one input shape with its counted cost and,
optionally, its measured time). The sweep itself (building inputs, counting, timing) lives
in :mod:`flopwise.pipeline.sweep`.

For every dimension the points that vary it (others at their base value) are fitted with
power laws ``cost ∝ dim^b``: for flops, α-flops, bytes and time. Comparing the exponents is
the point of the exercise: resolution multiplies flops by r² but, on parallel hardware,
time by less; batch multiplies both by b, but the time exponent shows how much of the batch
the hardware absorbs. ``time_per_flop_exponent`` = time exponent − flops exponent: below 0
the dimension gets cheaper per flop as it grows (parallelism absorbs it), near 0 time
follows flops, above 0 it gets dearer (e.g. memory-bound growth).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from flopwise.analysis.stats import power_law_fit
from flopwise.store.profile_doc import positive

__all__ = ["SweepPoint", "fit_dimension", "summarize_sweep", "sweep_plot"]


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: the dimension it was planned for (``dim``, ``value``) and the
    values of every swept dimension (``dims``). A point shared by two sweeps (the base
    configuration) is measured once and listed under the first.

    ``seconds`` (median), ``spread`` and ``trustworthy`` come from timing and are None when
    the sweep only counted.

    ``error`` says why the model rejected this point (e.g. a sequence longer than its
    position table); such a point keeps its row with every cost None and is left out of
    the fits (:func:`rejected`).
    """

    dim: str
    value: int
    dims: dict[str, int]
    inputs: list[dict[str, Any]]
    flops: int | None
    macs: int | None
    alpha_flops: float | None
    alpha_macs: float | None
    bytes: int | None
    activations: int | None
    seconds: float | None = None
    spread: float | None = None
    trustworthy: bool | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def rejected(
        cls, dim: str, value: int, dims: dict[str, int], inputs: list[dict[str, Any]], error: str
    ) -> SweepPoint:
        """A point the model could not run, kept with the reason instead of its costs."""
        return cls(dim, value, dims, inputs, None, None, None, None, None, None, error=error)

    @property
    def flops_per_second(self) -> float | None:
        """Achieved FLOP/s (counted flops / measured median time)."""
        if not self.seconds or self.flops is None:
            return None
        return self.flops / self.seconds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``time_s`` / ``flops_per_s`` repeat ``seconds`` / ``flops_per_second``
        under the names the report's sweep charts read."""
        out = asdict(self)
        out["flops_per_second"] = self.flops_per_second
        out["time_s"] = self.seconds
        out["flops_per_s"] = self.flops_per_second
        return out


_QUANTITIES = (
    ("flops", lambda p: p.flops),
    ("alpha_flops", lambda p: p.alpha_flops),
    ("bytes", lambda p: p.bytes),
    ("seconds", lambda p: p.seconds),
)


def _along(points: list[SweepPoint], dim: str, base: dict[str, int] | None) -> list[SweepPoint]:
    """The points that vary only ``dim``: the other dimensions at ``base`` (or, without a
    base, the largest group of points sharing the other dimensions), one per value."""
    groups: dict[tuple, list[SweepPoint]] = {}
    for p in points:
        if dim not in p.dims or p.error is not None:  # a rejected point has no cost to fit
            continue
        others = tuple(sorted((k, v) for k, v in p.dims.items() if k != dim))
        groups.setdefault(others, []).append(p)
    if not groups:
        return []
    if base is not None:
        key = tuple(sorted((k, v) for k, v in base.items() if k != dim))
        chosen = groups.get(key, [])
    else:
        chosen = max(groups.values(), key=len)
    seen: dict[int, SweepPoint] = {}
    for p in chosen:
        seen.setdefault(p.dims[dim], p)
    return [seen[v] for v in sorted(seen)]


def fit_dimension(
    points: list[SweepPoint],
    dim: str,
    base: dict[str, int] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Power-law exponents of flops, α-flops, bytes and time along ``dim``.

    Uses the points whose other dimensions sit at ``base`` (see :func:`_along`), one per
    value of ``dim``. Returns ``{"dim", "values", "exponents": {quantity: {exponent, ci_low,
    ci_high, r2}}, "time_per_flop_exponent"}``; a quantity with a missing or non-positive
    value, or fewer than 2 distinct values, gets None.
    """
    chosen = _along(points, dim, base)
    values = [p.dims[dim] for p in chosen]
    exponents: dict[str, dict[str, float] | None] = {}
    for name, get in _QUANTITIES:
        ys = [get(p) for p in chosen]
        if len(values) < 2 or any(y is None or not y > 0 for y in ys) or min(values) <= 0:
            exponents[name] = None
            continue
        fit = power_law_fit(values, ys, n_resamples=n_resamples, seed=seed)
        exponents[name] = {
            "exponent": fit["exponent"],
            "ci_low": fit["ci_low"],
            "ci_high": fit["ci_high"],
            "r2": fit["r2"],
        }
    gap = None
    if exponents.get("seconds") and exponents.get("flops"):
        gap = exponents["seconds"]["exponent"] - exponents["flops"]["exponent"]
    return {"dim": dim, "values": values, "exponents": exponents, "time_per_flop_exponent": gap}


def summarize_sweep(
    points: list[SweepPoint], base: dict[str, int] | None = None, **fit_kwargs: Any
) -> dict[str, Any]:
    """All per-dimension fits plus, when timed, which dimension is cheapest per flop.

    ``ranking`` lists the timed dimensions from cheapest to dearest per flop (by
    ``time_per_flop_exponent``).
    """
    dims = list(dict.fromkeys(p.dim for p in points))
    fits = [fit_dimension(points, d, base=base, **fit_kwargs) for d in dims]
    timed = [f for f in fits if f["time_per_flop_exponent"] is not None]
    ranking = [
        f["dim"]
        for f in sorted(timed, key=lambda f: f["time_per_flop_exponent"])
        if math.isfinite(f["time_per_flop_exponent"])
    ]
    return {"fits": fits, "ranking": ranking}


# --------------------------------------------------------------------------------------------
# what the report's sweep charts draw (from a sweep document, stored ones included)


def _point_time(p: dict[str, Any]) -> float | None:
    for key in ("time_s", "seconds", "median_s"):
        if positive(p.get(key)) is not None:
            return float(p[key])
    return None


def _document_points(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's points (``points`` or ``rows``) that name their dimensions (``dims``,
    ``point`` or ``config``), with those under ``dims``."""
    out = []
    for p in sweep.get("points") or sweep.get("rows") or []:
        if not isinstance(p, dict):
            continue
        dims = p.get("dims") or p.get("point") or p.get("config")
        if isinstance(dims, dict) and dims:
            out.append({**p, "dims": dims})
    return out


def _document_series(
    points: list[dict[str, Any]], dim: str, base: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Points that vary only ``dim``: the other dims at ``base`` (the sweep's base
    configuration) when at least two are, else the largest group with the other dims held
    fixed; sorted by ``dim``."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for p in points:
        if dim not in p["dims"]:
            continue
        others = tuple(sorted((k, str(v)) for k, v in p["dims"].items() if k != dim))
        groups.setdefault(others, []).append(p)
    if not groups:
        return []
    best = max(groups.values(), key=len)
    if base:
        at_base = [
            p
            for p in points
            if dim in p["dims"]
            and all(str(v) == str(base.get(k, v)) for k, v in p["dims"].items() if k != dim)
        ]
        if len(at_base) >= 2:
            best = at_base
    return sorted(best, key=lambda p: float(p["dims"][dim]))


def _proxy_line(pts: list[dict[str, Any]], key: str, xs: list[float], t0: float) -> list | None:
    """Time in proportion to the proxy ``key``, anchored at the first measured point; None
    when a point lacks the proxy."""
    vals = [positive(p.get(key)) for p in pts]
    if any(v is None for v in vals):
        return None
    return [(x, t0 * v / vals[0]) for x, v in zip(xs, vals, strict=True)]


def _dimension_plot(sweep: dict[str, Any], points: list[dict[str, Any]], dim: str) -> dict:
    base = sweep.get("base_dims") if isinstance(sweep.get("base_dims"), dict) else None
    pts = [p for p in _document_series(points, dim, base) if positive(_point_time(p)) is not None]
    xs = [float(p["dims"][dim]) for p in pts]
    times = [float(_point_time(p)) for p in pts]
    rates = []
    for p, x, t in zip(pts, xs, times, strict=True):
        rate = positive(p.get("flops_per_s"))
        if rate is None and positive(p.get("flops")):  # documents without the rate
            rate = float(p["flops"]) / t
        if rate is not None:
            rates.append((x, rate))
    predicted = [positive(p.get("predicted_time_s")) for p in pts]
    return {
        "dim": dim,
        "x": xs,
        "time": times,
        "labels": [", ".join(f"{k}={v}" for k, v in p["dims"].items()) for p in pts],
        "lines": {
            key: _proxy_line(pts, key, xs, times[0]) if pts else None
            for key in ("flops", "alpha_flops")
        },
        "predicted": predicted if pts and all(v is not None for v in predicted) else None,
        "rates": rates,
    }


def sweep_plot(sweep: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """What the report's sweep charts draw, per swept dimension (in the order the points
    name them); None without a sweep document.

    Each entry: ``dim``; ``x``, ``time``, ``labels`` of the measured points along it (see
    :func:`_document_series`); ``lines`` ``{"flops", "alpha_flops"}``: ``[(x, seconds)]``
    growing in proportion to the proxy from the first point (None when a point lacks it);
    ``predicted``: the points' own ``predicted_time_s`` (None unless all carry one);
    ``rates``: ``[(x, FLOP/s)]``, the point's ``flops_per_s``, else FLOPs / time.
    """
    if not sweep:
        return None
    points = _document_points(sweep)
    dims = list(dict.fromkeys(k for p in points for k in p["dims"]))
    return [_dimension_plot(sweep, points, dim) for dim in dims]
