"""Optional third-party readers: Zeus and CodeCarbon, used only when installed.

Both are imported lazily; when missing, :meth:`available` returns one line saying how to
install them. Their figures keep their own labels (``method="zeus"``/``"codecarbon"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from flopwise.measure.energy.base import Availability, EnergyReading

MISSING_ZEUS = "Zeus: zeus not installed; pip install zeus (optional reader)"
MISSING_CODECARBON = (
    "CodeCarbon: codecarbon not installed; pip install codecarbon (optional reader)"
)


class ZeusReader:
    """GPU (and, where Zeus supports it, CPU/DRAM) energy through ``zeus.monitor.ZeusMonitor``.

    Zeus reads the NVML energy counter and RAPL, so readings are labelled ``counter``.
    """

    name = "Zeus"
    method = "zeus"
    _KEY = "flopwise"

    def __init__(
        self,
        gpu_indices: Sequence[int] | None = None,
        *,
        zeus_monitor: Any = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.gpu_indices = list(gpu_indices) if gpu_indices is not None else None
        self._monitor_cls = zeus_monitor
        self._monitor: Any = None
        self._clock = clock
        self._t0 = 0.0

    def available(self) -> Availability:
        if self._monitor_cls is None:
            try:
                from zeus.monitor import ZeusMonitor  # optional, imported lazily
            except ImportError:
                return Availability(False, MISSING_ZEUS)
            self._monitor_cls = ZeusMonitor
        try:
            self._monitor = self._monitor_cls(gpu_indices=self.gpu_indices)
        except Exception as exc:
            return Availability(False, f"Zeus: cannot start a monitor ({exc})")
        return Availability(True)

    def start(self) -> None:
        if self._monitor is None:
            ok = self.available()
            if not ok:
                raise RuntimeError(ok.reason)
        self._t0 = self._clock()
        self._monitor.begin_window(self._KEY)

    def stop(self) -> EnergyReading:
        m = self._monitor.end_window(self._KEY)
        seconds = float(getattr(m, "time", self._clock() - self._t0))
        domains: dict[str, float] = {}
        for prefix, attr in (("gpu", "gpu_energy"), ("cpu", "cpu_energy"), ("dram", "dram_energy")):
            for idx, joules in (getattr(m, attr, None) or {}).items():
                domains[f"{prefix}{idx}"] = float(joules)
        return EnergyReading(
            joules=sum(domains.values()),
            seconds=seconds,
            method="zeus",
            uncertainty="counter",
            domains=domains,
            notes=("read through Zeus (ZeusMonitor window)",),
        )


class CodeCarbonReader:
    """Energy through CodeCarbon's ``OfflineEmissionsTracker`` (one tracker per window).

    CodeCarbon samples power periodically (``sampled``). When it cannot read RAPL for the
    CPU it silently falls back to a TDP guess; this reader checks RAPL itself and, if RAPL
    is not readable and no GPU reader is, labels the reading ``estimated`` and says why.
    """

    name = "CodeCarbon"
    method = "codecarbon"

    def __init__(
        self,
        *,
        tracker_factory: Callable[[], Any] | None = None,
        cpu_counter_readable: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._factory = tracker_factory
        self._cpu_readable = cpu_counter_readable
        self._tracker: Any = None
        self._clock = clock
        self._t0 = 0.0

    def available(self) -> Availability:
        if self._factory is None:
            try:
                from codecarbon import OfflineEmissionsTracker  # optional, imported lazily
            except ImportError:
                return Availability(False, MISSING_CODECARBON)

            def factory() -> Any:
                return OfflineEmissionsTracker(
                    country_iso_code="USA", save_to_file=False, log_level="error"
                )

            self._factory = factory
        if self._cpu_readable is None:
            from flopwise.measure.energy.nvml import NvmlReader
            from flopwise.measure.energy.rapl import RaplReader

            self._cpu_readable = bool(RaplReader().available() or NvmlReader().available())
        return Availability(True)

    def start(self) -> None:
        if self._factory is None:
            ok = self.available()
            if not ok:
                raise RuntimeError(ok.reason)
        self._tracker = self._factory()
        self._t0 = self._clock()
        self._tracker.start()

    def stop(self) -> EnergyReading:
        self._tracker.stop()
        seconds = self._clock() - self._t0
        data = getattr(self._tracker, "final_emissions_data", None)
        kwh = float(getattr(data, "energy_consumed", 0.0) or 0.0)
        notes = ["read through CodeCarbon (OfflineEmissionsTracker); carbon recomputed by flopwise"]
        if self._cpu_readable:
            uncertainty = "sampled"
        else:
            uncertainty = "estimated"
            notes.append(
                "no RAPL or NVML counter readable here: CodeCarbon's figure is its TDP guess"
            )
        return EnergyReading(
            joules=kwh * 3.6e6,
            seconds=seconds,
            method="codecarbon",
            uncertainty=uncertainty,
            domains={"codecarbon": kwh * 3.6e6},
            notes=tuple(notes),
            model="CodeCarbon's own power model" if uncertainty == "estimated" else None,
        )
