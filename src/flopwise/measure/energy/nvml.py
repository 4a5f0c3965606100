"""NVIDIA GPU energy through NVML (the ``nvidia-ml-py`` package, imported as ``pynvml``).

Two modes, chosen per machine by :meth:`NvmlReader.available`:

- ``counter``: ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since the driver was
  loaded; Volta and newer). The window is the counter difference. The driver refreshes
  the counter only every ~20-100 ms, so a window shorter than :attr:`NvmlReader.min_window_s`
  is flagged ``short-window`` and should be lengthened with more repeats.
- ``sampled``: where the counter is not supported, ``nvmlDeviceGetPowerUsage``
  (milliwatts) is sampled on a background thread and integrated with the trapezoid rule.
  The driver itself averages or samples power (on A100/H100 the reading covers only part
  of each update period), so the result is labelled ``sampled``.

GPU work is asynchronous: pass ``synchronize`` (e.g. ``torch.cuda.synchronize``) so the
window opens after earlier work finished and closes after the measured work finished.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from flopwise.measure.energy.base import SHORT_WINDOW, Availability, EnergyReading

#: The NVML energy counter is refreshed about this often (seconds).
NVML_UPDATE_PERIOD_S = 0.1

MISSING_PYNVML = "NVML: nvidia-ml-py not installed (module pynvml); pip install 'flopwise[nvidia]'"


def integrate_power(samples: Sequence[tuple[float, float]]) -> float:
    """Energy in joules from ``(time_s, power_w)`` samples by the trapezoid rule.

    One sample gives 0 (no interval); samples must be in time order.
    """
    total = 0.0
    for (t0, p0), (t1, p1) in zip(samples, samples[1:], strict=False):
        total += 0.5 * (p0 + p1) * (t1 - t0)
    return total


class NvmlReader:
    """GPU energy from NVML; ``uncertainty`` is ``counter`` or ``sampled``.

    Args:
        devices: GPU indices to sum (default: all visible GPUs).
        synchronize: called before opening and before closing the window.
        nvml: the ``pynvml`` module, or any object with the same functions (tests inject
            a fake); default imports ``pynvml`` lazily.
        sample_interval_s: sampling period of the power fallback.
        min_window_s: windows shorter than this are flagged ``short-window``.
        clock: monotonic clock.
    """

    name = "NVML"
    method = "nvml"

    def __init__(
        self,
        devices: Sequence[int] | None = None,
        *,
        synchronize: Callable[[], Any] | None = None,
        nvml: Any = None,
        sample_interval_s: float = 0.02,
        min_window_s: float = NVML_UPDATE_PERIOD_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.devices = list(devices) if devices is not None else None
        self.synchronize = synchronize
        self._nvml = nvml
        self.sample_interval_s = sample_interval_s
        self.min_window_s = min_window_s
        self._clock = clock
        self.mode: str | None = None  # "counter" | "sampled" once available() succeeded
        self._handles: list[Any] = []
        self._start_mj: list[int] = []
        self._t0 = 0.0
        self._samples: list[tuple[float, list[float]]] = []
        self._stop_evt = threading.Event()
        self._thread: threading.Thread | None = None

    # -- availability ----------------------------------------------------------------
    def _module(self) -> Any:
        if self._nvml is None:
            import pynvml  # optional dependency, imported lazily

            self._nvml = pynvml
        return self._nvml

    def available(self) -> Availability:
        """Import, initialise, find GPUs and pick the counter or the sampling mode."""
        try:
            nv = self._module()
        except ImportError:
            return Availability(False, MISSING_PYNVML)
        try:
            nv.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            return Availability(
                False,
                f"NVML: cannot initialise ({exc}); needs an NVIDIA driver and a visible GPU "
                "(check `nvidia-smi`)",
            )
        try:
            count = int(nv.nvmlDeviceGetCount())
            indices = self.devices if self.devices is not None else list(range(count))
            bad = [i for i in indices if not 0 <= i < count]
            if count == 0 or not indices:
                return Availability(False, "NVML: no NVIDIA GPU visible")
            if bad:
                return Availability(False, f"NVML: GPU index {bad[0]} not present ({count} GPUs)")
            self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in indices]
            self.devices = indices
        except Exception as exc:
            return Availability(False, f"NVML: cannot enumerate GPUs ({exc})")
        try:
            for h in self._handles:
                int(nv.nvmlDeviceGetTotalEnergyConsumption(h))
            self.mode = "counter"
            return Availability(True)
        except Exception:
            pass
        try:
            for h in self._handles:
                float(nv.nvmlDeviceGetPowerUsage(h))
            self.mode = "sampled"
            return Availability(True)
        except Exception as exc:
            return Availability(
                False, f"NVML: GPU reports neither an energy counter nor power usage ({exc})"
            )

    def _ensure(self) -> None:
        if self.mode is None:
            ok = self.available()
            if not ok:
                raise RuntimeError(ok.reason)

    # -- window --------------------------------------------------------------------
    def _power_w(self) -> list[float]:
        nv = self._module()
        return [float(nv.nvmlDeviceGetPowerUsage(h)) / 1000.0 for h in self._handles]

    def _sampler(self) -> None:
        while not self._stop_evt.wait(self.sample_interval_s):
            self._samples.append((self._clock(), self._power_w()))

    def start(self) -> None:
        """Synchronise, then snapshot the counters (or start sampling power)."""
        self._ensure()
        if self.synchronize is not None:
            self.synchronize()
        nv = self._module()
        if self.mode == "counter":
            self._start_mj = [int(nv.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles]
            self._t0 = self._clock()
        else:
            self._samples = []
            self._t0 = self._clock()
            self._samples.append((self._t0, self._power_w()))
            self._stop_evt.clear()
            self._thread = threading.Thread(target=self._sampler, daemon=True)
            self._thread.start()

    def stop(self) -> EnergyReading:
        """Synchronise, then close the window and return the reading."""
        if self.synchronize is not None:
            self.synchronize()
        nv = self._module()
        notes: list[str] = []
        flags: list[str] = []
        if self.mode == "counter":
            end = [int(nv.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles]
            t1 = self._clock()
            deltas = [(e - s) / 1000.0 for s, e in zip(self._start_mj, end, strict=True)]
            uncertainty = "counter"
            notes.append("nvmlDeviceGetTotalEnergyConsumption difference")
            if any(d == 0 for d in deltas):
                notes.append("energy counter did not advance during the window")
        else:
            self._stop_evt.set()
            if self._thread is not None:
                self._thread.join()
            t1 = self._clock()
            self._samples.append((t1, self._power_w()))
            deltas = [
                integrate_power([(t, watts[k]) for t, watts in self._samples])
                for k in range(len(self._handles))
            ]
            uncertainty = "sampled"
            notes.append(
                f"{len(self._samples)} nvmlDeviceGetPowerUsage samples integrated (trapezoid); "
                "the driver averages power, so short bursts can be missed"
            )
        seconds = t1 - self._t0
        if seconds < self.min_window_s:
            flags.append(SHORT_WINDOW)
            notes.append(
                f"window {seconds * 1000:.1f} ms is shorter than the NVML update period "
                f"(~{self.min_window_s * 1000:.0f} ms); add repeats for a usable figure"
            )
        assert self.devices is not None
        domains = {f"gpu{i}": d for i, d in zip(self.devices, deltas, strict=True)}
        return EnergyReading(
            joules=sum(deltas),
            seconds=seconds,
            method="nvml",
            uncertainty=uncertainty,
            domains=domains,
            notes=tuple(notes),
            flags=tuple(flags),
        )
