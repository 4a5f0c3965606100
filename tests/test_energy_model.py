"""The power-model estimate: arithmetic, where the figures come from, and its labels."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flopwise.measure.energy.power_model import (
    DEFAULT_CPU_PEAK_W_PER_CPU,
    DEFAULT_IDLE_FRACTION,
    EstimatedReader,
    power_model_energy,
    resolve_power_model,
)


@dataclass
class Profile:  # stands in for flopwise.measure.hardware.HardwareProfile
    name: str = "test-cpu"
    idle_power_w: float | None = 20.0
    peak_power_w: float | None = 120.0


class Clock:
    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def test_power_model_arithmetic():
    assert power_model_energy(10.0, 50.0, 0.0, 2.0) == pytest.approx(20.0)
    assert power_model_energy(10.0, 50.0, 1.0, 2.0) == pytest.approx(100.0)
    assert power_model_energy(10.0, 50.0, 0.5, 2.0) == pytest.approx(60.0)
    assert power_model_energy(10.0, 50.0, 7.0, 1.0) == pytest.approx(50.0)  # clipped
    with pytest.raises(ValueError):
        power_model_energy(60.0, 50.0, 0.5, 1.0)
    with pytest.raises(ValueError):
        power_model_energy(10.0, 50.0, 0.5, -1.0)


@given(
    idle=st.floats(0, 500),
    extra=st.floats(0, 500),
    u=st.floats(0, 1),
    t=st.floats(0, 1e4),
)
def test_power_model_between_idle_and_peak(idle, extra, u, t):
    e = power_model_energy(idle, idle + extra, u, t)
    assert idle * t * (1 - 1e-9) <= e <= (idle + extra) * t * (1 + 1e-9) + 1e-9


def test_figures_from_profile_object_mapping_and_explicit():
    pm = resolve_power_model(Profile())
    assert (pm.idle_w, pm.peak_w) == (20.0, 120.0)
    assert "hardware profile test-cpu" in pm.source
    pm = resolve_power_model({"idle_power_w": 5, "peak_power_w": 15})
    assert (pm.idle_w, pm.peak_w) == (5.0, 15.0)
    pm = resolve_power_model(Profile(), idle_w=1.0, peak_w=2.0)
    assert (pm.idle_w, pm.peak_w) == (1.0, 2.0)
    assert "given" in pm.source


def test_default_figures_are_documented_and_said():
    pm = resolve_power_model(None, cpus=8)
    assert pm.peak_w == pytest.approx(8 * DEFAULT_CPU_PEAK_W_PER_CPU)
    assert pm.idle_w == pytest.approx(DEFAULT_IDLE_FRACTION * pm.peak_w)
    assert "default" in pm.source and "per logical CPU" in pm.source
    # a profile with unknown (None) figures falls back to the default too
    pm = resolve_power_model(Profile(idle_power_w=None, peak_power_w=None), cpus=2)
    assert pm.peak_w == pytest.approx(2 * DEFAULT_CPU_PEAK_W_PER_CPU)


def test_estimated_reader_measures_cpu_utilisation():
    # 2 s of wall time, 2 s of process CPU time on 2 CPUs -> u = 0.5
    r = EstimatedReader(
        idle_w=10.0, peak_w=30.0, cpus=2, clock=Clock(0.0, 2.0), cpu_clock=Clock(5.0, 7.0)
    )
    assert r.available().ok
    r.start()
    reading = r.stop()
    assert reading.joules == pytest.approx((10 + 20 * 0.5) * 2.0)
    assert reading.method == "estimated" and reading.uncertainty == "estimated"
    assert not reading.measured
    assert reading.model and "idle + (peak - idle)" in reading.model
    assert "process CPU time" in reading.model
    assert reading.utilisation == pytest.approx(0.5)
    assert "not measured" in reading.notes[0]


def test_estimated_reader_gpu_assumes_busy_and_fixed_utilisation():
    r = EstimatedReader(Profile(), device="cuda:0", clock=Clock(0.0, 1.0))
    r.start()
    reading = r.stop()
    assert reading.joules == pytest.approx(120.0)
    assert "u = 1 assumed" in reading.model
    r = EstimatedReader(Profile(), utilisation=0.25, clock=Clock(0.0, 4.0))
    r.start()
    assert r.stop().joules == pytest.approx((20 + 100 * 0.25) * 4)


def test_gpu_estimate_without_figures_says_so():
    r = EstimatedReader(device="cuda", cpus=2, clock=Clock(0.0, 1.0))
    r.start()
    reading = r.stop()
    assert any("no power figures for cuda" in n for n in reading.notes)
