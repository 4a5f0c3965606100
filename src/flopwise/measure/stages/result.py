"""The pieces of a stages result: each stage's entry, its timing fields, the shares of
the total."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flopwise.measure.timing import Latency

__all__ = ["SCHEMA", "STAGES", "latency_fields", "stage_entry", "stage_shares"]

#: JSON schema name of :func:`measure_stages`' result.
SCHEMA = "flopwise.stages/1"
#: The stages, in pipeline order.
STAGES = ("preprocess", "host_to_device", "inference", "postprocess")


def stage_shares(times: Mapping[str, float]) -> dict[str, float]:
    """Each stage's share of the sum of ``times`` (seconds, e.g. medians), in input order.

    Pure. The shares sum to 1 unless every time is 0, in which case every share is 0.
    Raises ``ValueError`` for a negative or non-finite time.
    """
    for name, value in times.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"stage {name!r}: time must be finite and >= 0, got {value!r}")
    total = math.fsum(times.values())
    if total <= 0:
        return {name: 0.0 for name in times}
    return {name: value / total for name, value in times.items()}


def latency_fields(lat: Latency) -> dict[str, Any]:
    return {
        "median_s": lat.median_s,
        "min_s": lat.min_s,
        "iqr_s": lat.iqr_s,
        "cv": lat.cv,
        "spread": lat.spread,
        "repeats": lat.repeats,
        "calls_per_sample": lat.number,
        "trustworthy": lat.trustworthy,
        "reason": lat.reason,
    }


def stage_entry(status: str, what: str, note: str | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": status,
        "what": what,
        "median_s": None,
        "min_s": None,
        "iqr_s": None,
        "cv": None,
        "spread": None,
        "repeats": None,
        "calls_per_sample": None,
        "trustworthy": None,
        "reason": None,
        "share": None,
        "note": note,
    }
    entry.update(extra)
    return entry
