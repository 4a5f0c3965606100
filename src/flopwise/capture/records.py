"""The per-op record: the interface every later stage (measure, analysis, report) reads."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from flopwise.cost.types import TensorMeta

STATUSES = ("counted", "zero", "uncounted")


def ancestors(path: str) -> list[str]:
    """Module paths a record at ``path`` counts in, root first:
    ``"a.b"`` → ``["", "a", "a.b"]``; ``""`` (the root) → ``[""]``."""
    if not path:
        return [""]
    parts = path.split(".")
    return ["", *(".".join(parts[: i + 1]) for i in range(len(parts)))]


class Traffic:
    """Derived figures shared by op records, module rows and totals (anything with
    ``flops``, ``bytes_read`` and ``bytes_written``)."""

    __slots__ = ()

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """Arithmetic intensity in flops per byte moved (0 when nothing moves)."""
        return self.flops / self.bytes if self.bytes else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class OpRecord(Traffic):
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
    def output_elements(self) -> int:
        return sum(t.numel for t in self.outputs)
