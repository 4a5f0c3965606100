"""Interleaved timing as a :class:`MeasureOptions` says, shared by sweep and compare."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flopwise.measure.devices import reset_peak_memory
from flopwise.measure.options import MeasureOptions


def time_interleaved(
    fns: Mapping[str, Callable[[], Any]],
    measure: MeasureOptions,
    device: str,
    items: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """One :class:`~flopwise.measure.timing.Latency` per name: ``fns`` timed round-robin
    (``measure.warmup``, then ``measure.repeats`` rounds or ``measure.budget_s`` seconds for
    the whole run), after a fresh peak-memory count on ``device``."""
    from flopwise.measure.timing import measure_interleaved

    reset_peak_memory(device)
    return measure_interleaved(
        fns,
        warmup=measure.warmup,
        repeats=measure.repeats,
        budget_s=measure.sample_budget_s,
        progress=measure.progress,
        items=items,
        device=device,
    )
