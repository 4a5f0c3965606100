"""NVML reader: the clean failure here (no pynvml, no GPU) and its logic on a fake pynvml."""

from __future__ import annotations

import sys

import pytest

from flopwise.measure.energy.base import SHORT_WINDOW
from flopwise.measure.energy.nvml import MISSING_PYNVML, NvmlReader, integrate_power


class FakeNVMLError(Exception):
    pass


class FakeNvml:
    """Stands in for the pynvml module: energy counters in mJ, power in mW."""

    def __init__(self, n=1, *, counter=True, init_error=None):
        self.n = n
        self.counter = counter
        self.init_error = init_error
        self.energy_mj = [1_000_000] * n
        self.power_mw = [150_000.0] * n
        self.calls: list[str] = []

    def nvmlInit(self):
        if self.init_error:
            raise FakeNVMLError(self.init_error)

    def nvmlDeviceGetCount(self):
        return self.n

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.counter:
            raise FakeNVMLError("Not Supported")
        self.calls.append("energy")
        return self.energy_mj[h]

    def nvmlDeviceGetPowerUsage(self, h):
        return self.power_mw[h]


class Clock:
    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def test_missing_pynvml_fails_cleanly(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    ok = NvmlReader().available()
    assert not ok
    assert ok.reason == MISSING_PYNVML
    assert "nvidia-ml-py" in ok.reason and "flopwise[nvidia]" in ok.reason
    assert "\n" not in ok.reason


def test_start_without_nvml_raises_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(RuntimeError, match="nvidia-ml-py"):
        NvmlReader().start()


def test_init_failure_and_no_gpu_are_one_line():
    ok = NvmlReader(nvml=FakeNvml(init_error="Driver Not Loaded")).available()
    assert not ok and "Driver Not Loaded" in ok.reason and "nvidia-smi" in ok.reason
    ok = NvmlReader(nvml=FakeNvml(n=0)).available()
    assert not ok and "no NVIDIA GPU" in ok.reason
    ok = NvmlReader([3], nvml=FakeNvml(n=2)).available()
    assert not ok and "index 3" in ok.reason


def test_counter_window_synchronised_and_summed():
    nv = FakeNvml(n=2)
    events: list[str] = []
    r = NvmlReader(nvml=nv, synchronize=lambda: events.append("sync"), clock=Clock(0.0, 0.5))
    assert r.available() and r.mode == "counter"
    r.start()
    assert events == ["sync"]
    nv.energy_mj = [1_000_000 + 40_000, 1_000_000 + 60_500]  # +40 J, +60.5 J
    reading = r.stop()
    assert events == ["sync", "sync"]
    assert reading.method == "nvml" and reading.uncertainty == "counter"
    assert reading.joules == pytest.approx(100.5)
    assert reading.domains == {"gpu0": pytest.approx(40.0), "gpu1": pytest.approx(60.5)}
    assert reading.seconds == pytest.approx(0.5)
    assert SHORT_WINDOW not in reading.flags


def test_short_window_flagged():
    nv = FakeNvml()
    r = NvmlReader(nvml=nv, clock=Clock(0.0, 0.03))
    r.start()
    reading = r.stop()  # counter did not move in 30 ms
    assert SHORT_WINDOW in reading.flags
    assert any("shorter than the NVML update period" in n for n in reading.notes)
    assert any("did not advance" in n for n in reading.notes)


def test_selected_devices_only():
    nv = FakeNvml(n=3)
    r = NvmlReader([2], nvml=nv, clock=Clock(0.0, 1.0))
    r.start()
    nv.energy_mj = [5_000_000, 5_000_000, 1_000_000 + 7_000]
    reading = r.stop()
    assert reading.domains == {"gpu2": pytest.approx(7.0)}


def test_power_sampling_fallback_is_labelled_sampled():
    nv = FakeNvml(counter=False)
    nv.power_mw = [200_000.0]  # 200 W constant
    r = NvmlReader(nvml=nv, sample_interval_s=0.001)
    assert r.available() and r.mode == "sampled"
    r.start()
    reading = r.stop()
    assert reading.uncertainty == "sampled"
    assert reading.method == "nvml"
    # constant power: the integral is power x the sampled span, whatever the sample count
    assert reading.joules == pytest.approx(200.0 * reading.seconds, rel=1e-6)


def test_integrate_power_trapezoid():
    assert integrate_power([]) == 0.0
    assert integrate_power([(0.0, 100.0)]) == 0.0
    assert integrate_power([(0.0, 100.0), (1.0, 100.0)]) == pytest.approx(100.0)
    assert integrate_power([(0.0, 0.0), (2.0, 100.0), (3.0, 100.0)]) == pytest.approx(200.0)
