"""Allocator rounding: how many bytes a request of ``n`` bytes really takes on a device.

- CUDA's caching allocator rounds every block up to a multiple of 512 bytes
  (``kMinBlockSize`` in c10/cuda/CUDACachingAllocator.cpp); ``max_memory_allocated``
  counts those rounded blocks.
- The CPU allocator (c10/core/impl/alloc_cpu.cpp) asks ``posix_memalign`` for the exact
  request aligned to 64 bytes (``gAlignment``): the next tensor starts on a 64-byte
  boundary, so 64 is the default granularity here. The profiler's allocation events,
  however, report the requested size unrounded (checked in tests/test_memory_measured.py:
  ``torch.empty(1)`` is reported as 4 bytes), so comparisons with them use granularity 1.
"""

from __future__ import annotations

from dataclasses import dataclass

# Default granularity per device type, in bytes.
DEFAULT_GRANULARITY = {"cuda": 512, "cpu": 64, "meta": 64}


@dataclass(frozen=True, slots=True)
class AllocatorRule:
    """Round each allocation of ``n > 0`` bytes up to a multiple of ``granularity``."""

    device: str
    granularity: int

    def round(self, nbytes: int) -> int:
        """Bytes the allocator really hands out for a request of ``nbytes`` (0 stays 0)."""
        if nbytes <= 0:
            return 0
        g = self.granularity
        return -(-nbytes // g) * g


def rule_for(device: str, granularity: int | None = None) -> AllocatorRule:
    """The rounding rule for ``device`` ("cuda", "cuda:1", "cpu", ...); ``granularity``
    overrides the default."""
    kind = device.split(":")[0]
    if granularity is None:
        granularity = DEFAULT_GRANULARITY.get(kind, 1)
    if granularity < 1:
        raise ValueError(f"allocator granularity must be >= 1 (got {granularity})")
    return AllocatorRule(kind, granularity)
