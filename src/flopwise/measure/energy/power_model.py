"""Energy estimated from a power model when no counter can be read.

The model is linear in utilisation::

    power  = idle + (peak - idle) * utilisation
    energy = power * seconds

``idle``/``peak`` come, in order of preference, from explicit numbers, from a hardware
profile (any object with ``idle_power_w`` and ``peak_power_w`` attributes, such as
``flopwise.measure.hardware.HardwareProfile``, or a mapping with those keys), or from a
documented default for a CPU of unknown figures: :data:`DEFAULT_CPU_PEAK_W_PER_CPU` watts
per logical CPU this process may run on (the TDP share of one hardware thread on typical
server and desktop parts, 2-5 W), with idle at :data:`DEFAULT_IDLE_FRACTION` of peak.

Utilisation is, by default, measured for a CPU workload as the process CPU time divided by
(wall time x CPUs available to the process); for a GPU workload it is assumed to be 1
(busy for the whole window) unless given. The result is always labelled
``uncertainty="estimated"``, ``method="estimated"`` and carries the model in words: it is
never a measurement, and can be off by a factor of two or more.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flopwise.measure.energy.base import Availability, EnergyReading

#: Peak (TDP-share) power per logical CPU when nothing better is known, in watts.
DEFAULT_CPU_PEAK_W_PER_CPU = 4.0
#: Idle power as a fraction of peak when only peak is known.
DEFAULT_IDLE_FRACTION = 0.3


def power_model_energy(idle_w: float, peak_w: float, utilisation: float, seconds: float) -> float:
    """Joules of the linear power model ``(idle + (peak - idle) * u) * seconds``.

    ``utilisation`` is clipped to [0, 1]; ``peak_w`` must be at least ``idle_w``.
    """
    if idle_w < 0 or peak_w < idle_w:
        raise ValueError(f"need 0 <= idle ({idle_w} W) <= peak ({peak_w} W)")
    if seconds < 0:
        raise ValueError(f"negative window {seconds} s")
    u = min(max(utilisation, 0.0), 1.0)
    return (idle_w + (peak_w - idle_w) * u) * seconds


def available_cpus() -> int:
    """Logical CPUs this process may run on (affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class PowerModel:
    """Idle and peak power of the device and where the figures came from."""

    idle_w: float
    peak_w: float
    source: str

    def describe(self) -> str:
        return f"idle {self.idle_w:.3g} W, peak {self.peak_w:.3g} W ({self.source})"


def _attr(hw: Any, name: str) -> Any:
    if isinstance(hw, Mapping):
        return hw.get(name)
    return getattr(hw, name, None)


def _given_or_profile(
    which: str, given: float | None, hardware: Any, hw_name: str | None, sources: list[str]
) -> float | None:
    """``given`` watts, else the hardware profile's ``{which}_power_w``, else None; appends
    where the figure came from to ``sources``."""
    if given is not None:
        sources.append(f"{which} given")
        return given
    if hardware is not None and _attr(hardware, f"{which}_power_w") is not None:
        sources.append(f"{which} from hardware profile {hw_name or ''}".rstrip())
        return float(_attr(hardware, f"{which}_power_w"))
    return None


def resolve_power_model(
    hardware: Any = None,
    *,
    idle_w: float | None = None,
    peak_w: float | None = None,
    cpus: int | None = None,
) -> PowerModel:
    """Pick idle/peak power: explicit numbers, else the hardware profile, else the default.

    A missing idle figure is :data:`DEFAULT_IDLE_FRACTION` of peak; a missing peak falls
    back to :data:`DEFAULT_CPU_PEAK_W_PER_CPU` x ``cpus`` (default: CPUs available here).
    """
    hw_name = _attr(hardware, "name") if hardware is not None else None
    sources: list[str] = []
    peak = _given_or_profile("peak", peak_w, hardware, hw_name, sources)
    idle = _given_or_profile("idle", idle_w, hardware, hw_name, sources)
    if peak is None:
        n = cpus if cpus is not None else available_cpus()
        peak = DEFAULT_CPU_PEAK_W_PER_CPU * n
        sources.append(
            f"default peak {DEFAULT_CPU_PEAK_W_PER_CPU:g} W per logical CPU x {n} CPUs, "
            "a TDP share, as no power figures are known"
        )
    if idle is None:
        idle = DEFAULT_IDLE_FRACTION * peak
        sources.append(f"default idle {DEFAULT_IDLE_FRACTION:.0%} of peak")
    idle = min(float(idle), float(peak))
    return PowerModel(idle, float(peak), "; ".join(sources))


class EstimatedReader:
    """Energy from a power model x window length; always ``estimated``.

    Args:
        hardware: a hardware profile (attributes ``idle_power_w``/``peak_power_w``) or
            a mapping with those keys; see :func:`resolve_power_model`.
        idle_w, peak_w: explicit figures (override the profile).
        utilisation: fixed utilisation in [0, 1]; default measures it from process CPU
            time when ``device="cpu"`` and assumes 1 otherwise.
        device: ``"cpu"`` or a GPU device string (``"cuda"``, ``"cuda:0"``).
        cpus: CPUs the utilisation and the default power refer to.
        clock, cpu_clock: wall and process-CPU clocks (injectable for tests).
    """

    name = "estimate"
    method = "estimated"

    def __init__(
        self,
        hardware: Any = None,
        *,
        idle_w: float | None = None,
        peak_w: float | None = None,
        utilisation: float | None = None,
        device: str = "cpu",
        cpus: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self.cpus = cpus if cpus is not None else available_cpus()
        self.power = resolve_power_model(hardware, idle_w=idle_w, peak_w=peak_w, cpus=self.cpus)
        self._extra: tuple[str, ...] = ()
        if not device.startswith("cpu") and "default peak" in self.power.source:
            self._extra = (
                f"no power figures for {device}: pass a hardware profile; the CPU default "
                "used here leaves the accelerator out",
            )
        self.utilisation = utilisation
        self.device = device
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._t0 = 0.0
        self._c0 = 0.0

    def available(self) -> Availability:
        """Always available: it needs nothing but a clock."""
        return Availability(True)

    def start(self) -> None:
        self._t0 = self._clock()
        self._c0 = self._cpu_clock()

    def stop(self) -> EnergyReading:
        seconds = self._clock() - self._t0
        cpu_s = self._cpu_clock() - self._c0
        if self.utilisation is not None:
            u = min(max(float(self.utilisation), 0.0), 1.0)
            u_how = "u given"
        elif self.device.startswith("cpu"):
            u = min(max(cpu_s / (seconds * self.cpus), 0.0), 1.0) if seconds > 0 else 0.0
            u_how = f"u = process CPU time / (wall time x {self.cpus} CPUs), measured"
        else:
            u = 1.0
            u_how = f"u = 1 assumed ({self.device} busy for the whole window)"
        joules = power_model_energy(self.power.idle_w, self.power.peak_w, u, seconds)
        model = f"P = idle + (peak - idle) x u; {self.power.describe()}; {u_how}"
        return EnergyReading(
            joules=joules,
            seconds=seconds,
            method="estimated",
            uncertainty="estimated",
            domains={self.device: joules},
            notes=("estimated from a power model, not measured", model, *self._extra),
            model=model,
            utilisation=u,
        )
