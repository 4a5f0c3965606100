"""The per-op record: the interface every later stage (measure, analysis, report) reads."""

from __future__ import annotations

from dataclasses import dataclass

from flopwise.cost.types import TensorMeta

STATUSES = ("counted", "zero", "uncounted")


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One ATen call (or one intercepted composite such as SDPA) and its cost.

    Costs are exact integers under docs/conventions.md; an ``uncounted`` record carries
    zeros and is reported separately so the total is never silently short.
    """

    index: int
    op: str
    module_path: str
    module_type: str
    phase: str
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[TensorMeta, ...]
    status: str
    category: str
    flops: int = 0
    macs: int = 0
    activations: int = 0
    bytes_read: int = 0
    bytes_written: int = 0

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """Arithmetic intensity in flops per byte moved (0 when the op moves nothing)."""
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def output_elements(self) -> int:
        return sum(t.numel for t in self.outputs)
