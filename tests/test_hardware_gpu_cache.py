"""Cached GPU host profiles (``host:cuda:N``) are listed beside the CPU's by
``list_profiles`` and ``flopwise hardware --list``, and ``hardware --device cuda`` says
it saved ``host:cuda:0``. No GPU: the profiles are fake files in a temporary cache."""

from __future__ import annotations

import json

import pytest

from flopwise.cli import main
from flopwise.measure import hardware as hw
from flopwise.measure.hardware import HardwareProfile, list_profiles


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLOPWISE_HARDWARE_DIR", str(tmp_path / "profiles"))


def _measured(name: str, kind: str, device: str, gpu_model: str | None = None, f32=1e12):
    details = {"measured": True, "device": device, "host": "h", "threads": 4, "torch": "x"}
    if gpu_model:
        details["gpu_model"] = gpu_model
    return HardwareProfile(
        name=name,
        kind=kind,
        peak_flops={"float32": f32},
        memory_bandwidth=1e12,
        launch_overhead_s=5e-6,
        source=f"measured on {gpu_model or 'cpu'} (test)",
        details=details,
    )


def _cache_host_and_gpus() -> None:
    cpu = _measured("host", "cpu", "cpu", f32=1.5e12)
    cpu.save(hw.host_profile_path())
    h200 = _measured("host:cuda:0", "gpu", "cuda:0", "NVIDIA H200", f32=5e13)
    h200.save(hw.host_profile_path("cuda:0", model="NVIDIA H200"))
    l4 = _measured("host:cuda:1", "gpu", "cuda:1", "NVIDIA L4", f32=3e13)
    l4.save(hw.host_profile_path("cuda:1", model="NVIDIA L4"))
    # another machine's GPU profile in a shared cache is not this host's
    other = hw.host_profile_path("cuda:0", model="NVIDIA H200").parent / (
        "host-some_other_machine-cuda0-NVIDIA_A100.json"
    )
    _measured("host:cuda:0", "gpu", "cuda:0", "NVIDIA A100").save(other)


def test_list_profiles_has_the_cached_gpu_profiles_beside_the_cpu():
    _cache_host_and_gpus()
    measured = [p for p in list_profiles() if p.details.get("measured")]
    assert [(p.name, p.details.get("gpu_model")) for p in measured] == [
        ("host", None),
        ("host:cuda:0", "NVIDIA H200"),
        ("host:cuda:1", "NVIDIA L4"),
    ]
    assert measured[1].peak_flops["float32"] == 5e13
    assert not [p for p in list_profiles(include_host=False) if p.details.get("measured")]


def test_no_cached_gpu_profile_lists_none():
    assert hw.cached_gpu_profiles() == []
    assert all(not p.name.startswith("host") for p in list_profiles())


def test_cli_list_shows_gpu_host_profiles(capsys):
    _cache_host_and_gpus()
    assert main(["hardware", "--list", "--format", "json"]) == 0
    names = [p["name"] for p in json.loads(capsys.readouterr().out)]
    assert names.count("host") == 1 and names.count("host:cuda:0") == 1
    assert "host:cuda:1" in names
    assert main(["hardware", "--list"]) == 0
    out = capsys.readouterr().out
    assert "host:cuda:0 (NVIDIA H200)" in out and "NVIDIA L4" in out and "A100" not in out


def test_cli_measuring_cuda_names_host_cuda_0(capsys, monkeypatch):
    fake = _measured("host:cuda:0", "gpu", "cuda:0", "Fake GPU X")
    seen = {}

    def measure(budget, *, device, progress):
        seen["device"] = device
        return fake

    monkeypatch.setattr(hw, "measure_host_profile", measure)
    assert main(["hardware", "--device", "cuda", "--budget", "1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert seen["device"] == "cuda"
    path = hw.host_profile_path("cuda:0", model="Fake GPU X")
    assert path.is_file()
    assert f"saved to {path} (used as --hardware host:cuda:0," in err
    assert "--hardware host)" not in err and "--hardware host " not in err
    assert [p.name for p in hw.cached_gpu_profiles()] == ["host:cuda:0"]
