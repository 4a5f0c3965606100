"""Typed results of the memory layer: storage lifetimes, the live-bytes curve, its peak
and breakdown. Plain dataclasses; all sizes are integers in bytes (allocator-rounded)."""

from __future__ import annotations

from dataclasses import dataclass

# What each live byte is for. Parameters, buffers and inputs exist before the step;
# optimizer state too in the steady state (after a first step created it). Workspace is
# kernel scratch no tensor carries (see memory/workspace.py).
CATEGORIES = (
    "parameters",
    "buffers",
    "inputs",
    "gradients",
    "optimizer_state",
    "saved",
    "temporaries",
    "workspace",
)


@dataclass(slots=True)
class Block:
    """One storage (one allocation) and its lifetime over the op sequence.

    Positions are op-record indices: ``birth`` is the op whose output first held the
    storage (-1: it existed before the traced step), ``death`` the last op before it was
    freed (None: still alive at the end), ``last_use`` the last op that read or wrote it.
    """

    id: int
    bytes: int
    requested_bytes: int
    category: str
    birth: int
    death: int | None
    last_use: int
    op: str
    module_path: str
    phase: str


@dataclass(frozen=True, slots=True)
class MemoryPeak:
    """The highest live total, where it happened and what it was made of."""

    bytes: int
    position: int
    op: str
    module_path: str
    phase: str
    by_category: dict[str, int]


@dataclass(frozen=True, slots=True)
class MemoryModuleRow:
    """Per-module memory: bytes its ops allocated, the part of it kept for backward, and
    the highest live total (whole process) while one of its ops ran."""

    path: str
    type: str
    depth: int
    allocated_bytes: int
    saved_bytes: int
    peak_bytes: int


@dataclass(frozen=True, slots=True)
class CheckpointSaving:
    """What activation checkpointing of ``modules`` saves against the same step without
    it, and the FLOPs it recomputes (filled by :func:`flopwise.pipeline.memory.run_memory`)."""

    modules: list[str]
    peak_bytes_without: int
    peak_bytes_with: int
    saved_bytes_without: int
    saved_bytes_with: int
    peak_saving_bytes: int
    recompute_flops: int


@dataclass(frozen=True, slots=True)
class MeasuredPeak:
    """The allocator's measured step peak beside the prediction of the same step
    (filled by :func:`flopwise.pipeline.memory.run_memory` with ``measure``)."""

    method: str
    step_peak_bytes: int
    predicted_step_peak_bytes: int
    difference_bytes: int  # predicted minus measured
    note: str


@dataclass(frozen=True, slots=True)
class Fit:
    """Whether the step fits in a device's memory, and the largest batch that does
    (``None``: not searched, e.g. inputs without a batch dimension)."""

    hardware: str
    capacity_bytes: int
    fits: bool
    largest_batch: int | None = None


@dataclass(slots=True)
class MemoryMode:
    """What step was traced and how: ``phase`` (training or inference), the ``optimizer``
    whose step is part of it (None: no optimizer step), the ``tensors`` it ran on (meta,
    fake or real) and their ``device``, the ``allocator_device`` whose rounding applies,
    the ``checkpoint``-ed module paths, the micro-batches it ``accumulate``-s and the
    ``amp`` autocast dtype (filled by :func:`flopwise.memory.trace.memory_profile`).
    ``batch`` (the inputs' leading dimension, None: none) and ``dtype`` (the model's) are
    filled by :func:`flopwise.pipeline.memory.run_memory`; ``dtype`` None means the profile
    was made without it, and the document then has neither key."""

    phase: str
    optimizer: str | None
    tensors: str
    device: str
    allocator_device: str
    checkpoint: list[str]
    accumulate: int
    amp: str | None
    batch: int | None = None
    dtype: str | None = None


@dataclass(slots=True)
class MemoryProfile:
    """Memory of one inference or training step, predicted from the op stream.

    ``curve[i]`` is the highest live total while op record ``i`` ran (its outputs born,
    before anything freed after it); ``baseline_bytes`` is what was live before the step.
    ``step_flops`` are the FLOPs of the traced step (memory/trace.py); ``checkpoint``,
    ``measured`` and ``fit`` are set by the pipeline when asked for (pipeline/memory.py).
    """

    model: str
    mode: MemoryMode
    granularity: int
    baseline_bytes: int
    baseline_by_category: dict[str, int]
    peak: MemoryPeak
    final_bytes: int
    curve: list[int]
    ops: list[str]
    phases: dict[str, list[int]]
    phase_peaks: dict[str, int]
    blocks: list[Block]
    modules: list[MemoryModuleRow]
    step_flops: int = 0
    checkpoint: CheckpointSaving | None = None
    measured: MeasuredPeak | None = None
    fit: Fit | None = None

    @property
    def peak_bytes(self) -> int:
        return self.peak.bytes

    @property
    def step_peak_bytes(self) -> int:
        """Peak minus what was live before the step: what the step itself adds (what an
        allocator trace that starts with the step sees)."""
        return self.peak.bytes - self.baseline_bytes

    def curve_by_category(self) -> dict[str, list[int]]:
        """Per category, the bytes of its blocks alive at each op record: a block counts at
        positions ``max(birth, 0)`` through ``death`` (to the end when never freed). A block
        born and freed within one op counts at that op, so the categories at position ``i``
        can sum to more than ``curve[i]`` when an op frees one block before allocating the
        next; kernel workspace is in ``curve`` only (no block carries it)."""
        n = len(self.curve)
        # difference arrays: +bytes at the first position, -bytes after the last
        diff = {cat: [0] * (n + 1) for cat in CATEGORIES}
        for b in self.blocks:
            first = max(b.birth, 0)
            last = n - 1 if b.death is None else min(b.death, n - 1)
            if first > last:
                continue
            diff[b.category][first] += b.bytes
            diff[b.category][last + 1] -= b.bytes
        out: dict[str, list[int]] = {}
        for cat, d in diff.items():
            live, row = 0, []
            for i in range(n):
                live += d[i]
                row.append(live)
            out[cat] = row
        return out

    def curve_stacked(self) -> dict[str, list[int]]:
        """The bands of the stacked memory timeline: for each category with live bytes at
        some op, in :data:`CATEGORIES` order, the bytes alive at each op record of it and of
        every such category before it (the top edge of its band, bytes)."""
        running = [0] * len(self.curve)
        out: dict[str, list[int]] = {}
        for cat, row in self.curve_by_category().items():
            if any(row):
                running = [r + v for r, v in zip(running, row, strict=True)]
                out[cat] = running
        return out
