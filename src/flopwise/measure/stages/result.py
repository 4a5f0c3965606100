"""The pieces of a stages result: each stage's entry (a
:class:`~flopwise.sections.StageTiming`), its timing fields, the shares of the total."""

from __future__ import annotations

import math
from collections.abc import Mapping

from flopwise.measure.timing import Latency
from flopwise.sections import LatencySummary, StageTiming

__all__ = ["SCHEMA", "STAGES", "stage_entry", "stage_shares", "timed"]

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


def timed(entry: StageTiming, lat: Latency) -> None:
    """Fill ``entry``'s timing fields and its full latency summary from ``lat``."""
    entry.median_s = lat.median_s
    entry.min_s = lat.min_s
    entry.iqr_s = lat.iqr_s
    entry.cv = lat.cv
    entry.spread = lat.spread
    entry.repeats = lat.repeats
    entry.calls_per_sample = lat.number
    entry.trustworthy = lat.trustworthy
    entry.reason = lat.reason
    entry.latency = LatencySummary.from_dict(lat.to_dict())


def stage_entry(
    status: str, what: str, note: str | None = None, *, bytes: int | None = None
) -> StageTiming:
    """A stage not timed yet: its status, what it does, a note, and (for the host copy)
    the bytes copied."""
    return StageTiming(status=status, what=what, note=note, bytes=bytes)
