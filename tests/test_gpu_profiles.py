"""Hardware profiles keyed by device: ``host`` is the profile of the device being measured.

There is no GPU on the test machine: the device query (``hardware.profiles.device_name``) and the
ceiling measurement (``hardware.measure_host_profile``) are replaced by fakes, so what is
checked is which profile a GPU run resolves to, where it is cached, and that the roofline of
a ``--device cuda`` run is built on it (the bug: it used the CPU host profile).
"""

from __future__ import annotations

import torch
from torch import nn

from flopwise.measure import hardware as hw
from flopwise.measure import per_layer as lt
from flopwise.measure.hardware import HardwareProfile

FAKE_GPU = "NVIDIA H200"


def _fake_gpu_profile(device: str = "cuda:0", model: str = FAKE_GPU) -> HardwareProfile:
    """What measure_host_profile returns on a GPU, with round ceilings."""
    return HardwareProfile(
        name=hw.host_profile_name(device),
        kind="gpu",
        peak_flops={"float32": 50e12, "tfloat32": 400e12, "bfloat16": 800e12},
        memory_bandwidth=4e12,
        source="fake measurement",
        details={"measured": True, "device": device, "gpu_model": model, "host": "h", "threads": 1},
    )


def _fake_cpu_profile() -> HardwareProfile:
    return HardwareProfile(
        name="host",
        kind="cpu",
        peak_flops={"float32": 1.5e12},
        memory_bandwidth=50e9,
        source="fake cpu measurement",
        details={
            "measured": True,
            "device": "cpu",
            "host": "h",
            "threads": torch.get_num_threads(),
        },
    )


def _setup(monkeypatch, tmp_path, model: str = FAKE_GPU) -> list[str]:
    """Cache in tmp_path, a fake GPU model name, and a fake measurement that records which
    device it was asked to measure."""
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(hw.profiles, "device_name", lambda d: "cpu" if str(d) == "cpu" else model)
    asked: list[str] = []

    def fake_measure(budget_s=60.0, *, device="cpu", progress=True, **kw):
        asked.append(device)
        return _fake_cpu_profile() if device == "cpu" else _fake_gpu_profile(device, model)

    monkeypatch.setattr(hw, "measure_host_profile", fake_measure)
    return asked


def test_host_resolves_to_the_measured_device():
    assert hw.resolve_hardware("host", "cpu") == "host"
    assert hw.resolve_hardware("host", "cuda:0") == "host:cuda:0"
    assert hw.resolve_hardware("host", "cuda:1") == "host:cuda:1"
    assert hw.resolve_hardware("h200", "cuda:0") == "h200"  # a named profile stays
    assert hw.normalize_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert hw.resolve_hardware("host", "cuda") == "host:cuda:0"


def test_gpu_profile_is_cached_per_device_name(monkeypatch, tmp_path):
    asked = _setup(monkeypatch, tmp_path)
    path = hw.host_profile_path("cuda:0")
    assert path.name.endswith("-cuda0-NVIDIA_H200.json")
    assert path != hw.host_profile_path("cpu")
    prof = hw.get_profile("host:cuda:0", progress=False)
    assert asked == ["cuda:0"] and prof.kind == "gpu" and prof.name == "host:cuda:0"
    assert path.is_file()
    again = hw.get_profile("host:cuda:0", progress=False)  # cached: not measured again
    assert asked == ["cuda:0"] and again.peak_flops == prof.peak_flops
    # another GPU model in the same slot gets its own measurement, not the H200's ceilings
    monkeypatch.setattr(hw.profiles, "device_name", lambda d: "NVIDIA L4")
    assert hw.host_profile_path("cuda:0") != path
    hw.get_profile("host:cuda:0", progress=False)
    assert asked == ["cuda:0", "cuda:0"]


def test_host_cpu_is_the_cpu_profile(monkeypatch, tmp_path):
    asked = _setup(monkeypatch, tmp_path)
    a = hw.get_profile("host:cpu", progress=False)
    b = hw.get_profile("host", progress=False)
    assert asked == ["cpu"] and a.kind == b.kind == "cpu"


def test_measure_on_cuda_builds_the_roofline_on_the_gpu_profile(monkeypatch, tmp_path):
    """The reported bug: ``profile --device cuda --measure`` priced the model with the CPU
    host profile. The run is timed on the CPU here (no GPU), but asked for as cuda."""
    from flopwise import profile as count
    from flopwise.measure.options import MeasureOptions
    from flopwise.pipeline.measured import measure_profile

    asked = _setup(monkeypatch, tmp_path)
    hw.save_profile(_fake_cpu_profile())  # a cached CPU profile exists and must not be used
    timed_on: list[str | None] = []
    real_measure = lt.measure_model

    def measure_model(model, args, kwargs, **kw):
        timed_on.append(kw.pop("device", None))
        return real_measure(model, args, kwargs, device="cpu", **kw)

    monkeypatch.setattr(lt, "measure_model", measure_model)
    model = nn.Sequential(nn.Linear(64, 64))
    x = torch.randn(4, 64)
    prof = count(model, x)
    measure_profile(prof, model, (x,), {}, MeasureOptions(repeats=3), device="cuda:0")
    assert timed_on == ["cuda:0"] and asked == ["cuda:0"]
    assert prof.measured.hardware.name == "host:cuda:0"
    assert prof.measured.hardware.kind == "gpu"
    # the floor of the one Linear: 2*4*64*64 mult-add flops + 4*64 bias adds at the
    # fp32 peak, or its bytes at 4 TB/s, whichever is larger
    rec = [r for r in prof.ops if r.flops]
    flops = sum(r.flops for r in prof.ops)
    nbytes = sum(r.bytes_read + r.bytes_written for r in prof.ops)
    assert len(rec) == 1 and flops == 2 * 4 * 64 * 64 + 4 * 64
    expected = max(flops / 50e12, nbytes / 4e12)
    got = prof.measured.roofline.summary.waterline_s
    assert abs(got - expected) <= 1e-9 * expected
