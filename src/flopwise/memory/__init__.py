"""Memory: lifetimes, peak and breakdown of a step, predicted from the captured op stream."""

from flopwise.memory.allocator import AllocatorRule, rule_for
from flopwise.memory.result import (
    CATEGORIES,
    Block,
    CheckpointSaving,
    Fit,
    MeasuredPeak,
    MemoryMode,
    MemoryModuleRow,
    MemoryPeak,
    MemoryProfile,
)
from flopwise.memory.trace import OPTIMIZERS, memory_profile

__all__ = [
    "CATEGORIES",
    "OPTIMIZERS",
    "AllocatorRule",
    "Block",
    "CheckpointSaving",
    "Fit",
    "MeasuredPeak",
    "MemoryMode",
    "MemoryModuleRow",
    "MemoryPeak",
    "MemoryProfile",
    "memory_profile",
    "rule_for",
]
