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

__all__ = ["SweepPoint", "fit_dimension", "summarize_sweep"]


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
