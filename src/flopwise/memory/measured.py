"""The measured side: the CPU allocator's peak over one step, from the profiler's
allocation events, to hold predictions to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from flopwise.memory.trace import autocast_of, prepared, run_step


def allocation_peak(prof: Any) -> int:
    """Peak of the running sum of allocation events (bytes allocated minus freed) in a
    finished ``torch.profiler.profile(profile_memory=True)``, relative to its start;
    CPU events only. Sizes are as requested (the CPU allocator reports them unrounded)."""
    from torch._C._profiler import _EventType

    sizes: list[tuple[int, int]] = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        e = stack.pop()
        stack.extend(e.children)
        if e.tag == _EventType.Allocation and e.extra_fields.device.type == "cpu":
            sizes.append((e.start_time_ns, int(e.extra_fields.alloc_size)))
    live = peak = 0
    for _, size in sorted(sizes):
        live += size
        peak = max(peak, live)
    return peak


def measure_cpu_step_peak(
    model: nn.Module,
    *args: Any,
    kwargs: dict[str, Any] | None = None,
    train: bool = False,
    optimizer: str | None = None,
    checkpoint: Sequence[str] = (),
    accumulate: int = 1,
    amp: str | None = None,
) -> int:
    """Bytes the CPU allocator held at its highest during one step (the same step
    :func:`flopwise.memory.memory_profile` predicts: inference, or forward + backward +
    optimizer step after a warm-up step, ``checkpoint`` modules under activation
    checkpointing, ``amp`` forward under autocast), above what was allocated before the
    step."""
    from torch.profiler import ProfilerActivity, profile

    with (
        prepared(
            model,
            args,
            dict(kwargs or {}),
            train=train,
            optimizer=optimizer,
            tensors="real",
            checkpoint=checkpoint,
            accumulate=accumulate,
        ) as run,
        profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof,
    ):
        run_step(
            run["call"],
            run["args"],
            run["kwargs"],
            train=train,
            optimizer=run["optimizer"],
            amp=autocast_of(amp, run["device"]),
        )
    return allocation_peak(prof)
