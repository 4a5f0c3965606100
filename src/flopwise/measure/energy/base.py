"""The shared vocabulary of energy measurement: readings, availability, the reader protocol.

Every reader (RAPL, NVML, Zeus, CodeCarbon, the power-model estimate) reports an
:class:`EnergyReading` that says *how* the figure was obtained (``method``) and how far
to trust it (``uncertainty``):

- ``"counter"``: the difference of a hardware energy counter over the window (RAPL,
  the NVML total-energy counter);
- ``"sampled"``: power readings sampled during the window and integrated over time;
- ``"estimated"``: no reading at all, a power model times the window length.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Method = Literal["rapl", "nvml", "zeus", "codecarbon", "estimated"]
Uncertainty = Literal["counter", "sampled", "estimated"]

METHODS: tuple[str, ...] = ("rapl", "nvml", "zeus", "codecarbon", "estimated")
UNCERTAINTIES: tuple[str, ...] = ("counter", "sampled", "estimated")

#: Flag set on a reading whose window is shorter than the counter's update period.
SHORT_WINDOW = "short-window"


@dataclass(frozen=True)
class Availability:
    """Whether a reader can be used here; ``reason`` is one line when it cannot."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class EnergyReading:
    """Energy consumed during one measurement window.

    Attributes:
        joules: total energy of the window (the sum of the non-overlapping domains).
        seconds: window length (wall clock).
        method: which reader produced it (``rapl``, ``nvml``, ``zeus``, ``codecarbon``,
            ``estimated``).
        uncertainty: ``counter``, ``sampled`` or ``estimated``.
        domains: joules per domain (e.g. ``package-0``, ``package-0/dram``, ``gpu0``);
            informational domains that are not part of ``joules`` say so in ``notes``.
        notes: one-line remarks (the power model used, short windows, wrap-around ...).
        model: for ``estimated`` readings, the power model used, in words.
        flags: machine-readable markers such as :data:`SHORT_WINDOW`.
        utilisation: for ``estimated`` readings, the utilisation u in [0, 1] used.
    """

    joules: float
    seconds: float
    method: str
    uncertainty: str
    domains: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    model: str | None = None
    flags: tuple[str, ...] = ()
    utilisation: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown energy method {self.method!r}; expected one of {METHODS}")
        if self.uncertainty not in UNCERTAINTIES:
            raise ValueError(
                f"unknown uncertainty {self.uncertainty!r}; expected one of {UNCERTAINTIES}"
            )

    @property
    def measured(self) -> bool:
        """True when the figure comes from a reading (counter or samples), not a model."""
        return self.uncertainty != "estimated"

    @property
    def average_power_w(self) -> float:
        """Mean power over the window in watts (0 for an empty window)."""
        return self.joules / self.seconds if self.seconds > 0 else 0.0


@runtime_checkable
class EnergyReader(Protocol):
    """What every energy reader offers.

    ``available()`` never raises; ``start()`` opens a window and ``stop()`` closes it and
    returns the reading. A reader may also offer ``poll()``, called between runs of a long
    window to fold counter deltas in early (RAPL uses it to survive counter wrap-around).
    """

    name: str
    method: str

    def available(self) -> Availability: ...

    def start(self) -> None: ...

    def stop(self) -> EnergyReading: ...


class WindowResult:
    """Holder filled by :func:`energy_window` when the ``with`` block ends."""

    reading: EnergyReading | None = None


@contextmanager
def energy_window(reader: EnergyReader) -> Iterator[WindowResult]:
    """Measure the energy of a ``with`` block::

        with energy_window(reader) as w:
            work()
        print(w.reading.joules, w.reading.method)

    The window is closed (and the reading taken) even when the block raises.
    """
    box = WindowResult()
    reader.start()
    try:
        yield box
    finally:
        box.reading = reader.stop()


def poll(reader: object) -> None:
    """Call ``reader.poll()`` when the reader has one (no-op otherwise)."""
    fn = getattr(reader, "poll", None)
    if callable(fn):
        fn()
