"""Value types shared by the capture engine and the cost formulas.

A formula sees an :class:`OpCall` (shapes, dtypes, non-tensor arguments; never data) and
returns an :class:`OpCost`. Both are plain, immutable data so formulas stay pure and can be
tested with hand-built calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

# Categories an op's cost is filed under. "memory" is the zero-flop set (views, copies,
# indexing, factories); every other category carries flops.
CATEGORIES = (
    "contraction",
    "elementwise",
    "norm",
    "softmax",
    "reduction",
    "pool",
    "fft",
    "linalg",
    "memory",
)


class Uncountable(Exception):
    """Raised by a formula for a call it cannot cost exactly; the op is then reported as
    uncounted rather than guessed."""


@dataclass(frozen=True, slots=True)
class TensorMeta:
    """Shape-level description of one tensor argument or result.

    ``storage`` identifies the underlying storage so that two views of one buffer are read
    once; ``elements_touched`` is the number of distinct elements the view spans (an
    expanded tensor touches fewer elements than it has).
    """

    shape: tuple[int, ...]
    dtype: torch.dtype
    storage: int = 0
    elements_touched: int = -1
    storage_bytes: int = -1

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return dtype_size(self.dtype)

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def describe(self) -> str:
        return (
            f"{'x'.join(map(str, self.shape)) or 'scalar'}:{str(self.dtype).removeprefix('torch.')}"
        )


def dtype_size(dtype: torch.dtype) -> int:
    """Bytes per element; sub-byte and bool dtypes round up to one byte."""
    try:
        return max(1, dtype.itemsize)
    except AttributeError:  # very old torch
        return max(1, torch.empty((), dtype=dtype).element_size())


@dataclass(frozen=True, slots=True)
class OpCall:
    """One ATen call as formulas see it: tensors replaced by :class:`TensorMeta`."""

    op: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[TensorMeta, ...] = ()

    def tensor_inputs(self) -> list[TensorMeta]:
        return [
            t
            for t in _flatten((self.args, tuple(self.kwargs.values())))
            if isinstance(t, TensorMeta)
        ]

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """Positional argument ``index`` or keyword ``name``, else ``default``."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)

    @property
    def out(self) -> TensorMeta:
        return self.outputs[0]


def _flatten(tree: Any):
    if isinstance(tree, (list, tuple)):
        for item in tree:
            yield from _flatten(item)
    else:
        yield tree


@dataclass(frozen=True, slots=True)
class OpCost:
    """Cost of one op. ``bytes_read``/``bytes_written`` of -1 mean "use the engine's
    default traffic rule" (distinct input storages read once, outputs written once)."""

    flops: int = 0
    macs: int = 0
    activations: int = 0
    category: str = "elementwise"
    bytes_read: int = -1
    bytes_written: int = -1

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown cost category {self.category!r}")

    def __add__(self, other: OpCost) -> OpCost:
        return OpCost(
            flops=self.flops + other.flops,
            macs=self.macs + other.macs,
            activations=self.activations + other.activations,
            category=self.category,
            bytes_read=-1,
            bytes_written=-1,
        )
