"""How a run is timed: one options object every measuring API function takes, instead of
the same keyword arguments threaded through each layer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from flopwise.errors import FlopwiseError


@dataclass(frozen=True, slots=True)
class MeasureOptions:
    """What to time and how long for.

    ``repeats`` fixes the number of timed samples; otherwise sampling stops after
    ``budget_s`` seconds in total for the whole call (never per point or per model).
    ``threads`` sets torch's CPU threads for the duration (None: leave torch's count).
    ``hardware`` names the roofline profile (``host``: the measured device).
    ``energy``/``grid``/``pue`` add energy and gCO2e; ``stages`` also times
    preprocessing, copies and postprocessing; ``progress`` draws bars on stderr.
    """

    repeats: int | None = None
    budget_s: float = 10.0
    warmup: int = 2
    threads: int | None = None
    hardware: str = "host"
    energy: bool = False
    grid: str = "world"
    pue: float = 1.0
    stages: bool = False
    progress: bool = False

    def __post_init__(self) -> None:
        if self.repeats is not None and self.repeats < 1:
            raise FlopwiseError(f"repeats must be >= 1 (got {self.repeats})")
        if not self.budget_s > 0:
            raise FlopwiseError(f"the timing budget must be > 0 seconds (got {self.budget_s})")
        if self.threads is not None and self.threads < 1:
            raise FlopwiseError(f"threads must be >= 1 (got {self.threads})")
        if not self.pue > 0:
            raise FlopwiseError(f"pue must be > 0 (got {self.pue})")

    @property
    def sample_budget_s(self) -> float | None:
        """The budget to pass to a timing loop: None when ``repeats`` decides."""
        return None if self.repeats else self.budget_s


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` torch CPU threads (None: unchanged), restoring the
    previous count after; yields the count in force."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
