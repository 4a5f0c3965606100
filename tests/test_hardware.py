"""Hardware profiles: the datasheet registry, lookup and errors, JSON round trips, user
files, the cached host profile, and measured ceilings against a direct micro-benchmark."""

from __future__ import annotations

import json

import pytest
import torch

from flopwise.cli import main
from flopwise.errors import FlopwiseError
from flopwise.measure import hardware as hw
from flopwise.measure.hardware import (
    BadHardwareProfile,
    HardwareProfile,
    UnknownHardware,
    builtin_profiles,
    dtype_key,
    get_profile,
    list_profiles,
    measure_host_profile,
)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLOPWISE_HARDWARE_DIR", str(tmp_path / "profiles"))


REQUIRED = {
    "nvidia-a100-sxm4-40gb",
    "nvidia-a100-sxm4-80gb",
    "nvidia-h100-sxm5-80gb",
    "nvidia-h100-pcie-80gb",
    "nvidia-h200-sxm-141gb",
    "nvidia-l4",
    "nvidia-geforce-rtx-4090",
}


def test_registry_has_the_datasheet_profiles():
    profiles = {p.name: p for p in builtin_profiles()}
    assert set(profiles) >= REQUIRED
    assert sum(p.kind == "cpu" for p in profiles.values()) >= 2
    for p in profiles.values():
        assert p.source and (
            "datasheet" in p.source or "whitepaper" in p.source or "product" in p.source
        )
        assert p.peak_flops["float32"] > 0 and p.memory_bandwidth > 0
        for key, sparse in p.sparse_peak_flops.items():
            assert sparse >= p.peak_flops[key], (p.name, key)  # sparse never below dense
        for key in p.peak_flops:
            assert key in hw.DTYPE_NAMES


def test_datasheet_figures_spot_checks():
    h100 = get_profile("h100")
    assert h100.name == "nvidia-h100-sxm5-80gb"
    assert h100.peak_for("bf16") == pytest.approx(989.5e12)
    assert h100.peak_for("bf16", sparse=True) == pytest.approx(1979e12)
    assert h100.memory_bandwidth == pytest.approx(3.35e12)
    a100 = get_profile("A100 40GB")
    assert a100.memory_bandwidth == pytest.approx(1555e9)
    assert a100.peak_for(torch.float32) == pytest.approx(19.5e12)
    assert a100.peak_for("tf32") == pytest.approx(156e12)
    assert get_profile("a100").name == "nvidia-a100-sxm4-80gb"
    assert get_profile("NVIDIA-L4").peak_for("float8") == pytest.approx(242.5e12)


def test_dtype_keys_and_fallbacks():
    assert dtype_key(torch.bfloat16) == "bfloat16"
    assert dtype_key("fp16") == "float16"
    assert dtype_key("float8_e4m3fn") == "float8"
    cpu = HardwareProfile(name="x", kind="cpu", peak_flops={"float32": 1e11}, memory_bandwidth=1e10)
    assert cpu.peak_for("bfloat16") == 1e11  # no bf16 figure: float32's
    assert cpu.ridge_point() == pytest.approx(10.0)


def test_unknown_name_is_one_line_with_close_matches():
    with pytest.raises(UnknownHardware) as info:
        get_profile("h10")
    msg = str(info.value)
    assert isinstance(info.value, FlopwiseError)
    assert "\n" not in msg and "h100" in msg


def test_json_round_trip_and_user_profiles(tmp_path):
    prof = get_profile("l4")
    again = HardwareProfile.from_json(prof.to_json())
    assert again == prof
    mine = HardwareProfile(
        name="my-npu",
        kind="gpu",
        peak_flops={"bf16": 50e12, "float32": 10e12},
        memory_bandwidth=400e9,
        source="vendor sheet 2025",
        aliases=["npu"],
    )
    path = hw.save_profile(mine)  # goes to the user profiles dir
    assert path.parent == hw.user_profiles_dir()
    assert get_profile("npu").peak_for("bfloat16") == 50e12
    assert any(p.name == "my-npu" for p in list_profiles())
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps({**mine.to_dict(), "name": "by-path"}))
    assert get_profile(str(other)).name == "by-path"


def test_bad_profile_files_fail_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BadHardwareProfile):
        get_profile(str(bad))
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"name": "x", "kind": "gpu"}))
    with pytest.raises(BadHardwareProfile, match="peak_flops"):
        get_profile(str(missing))
    with pytest.raises(UnknownHardware):
        get_profile(str(tmp_path / "nope.json"))
    # a broken file in the user dir is skipped with a warning, the built-ins still resolve
    hw.user_profiles_dir().mkdir(parents=True, exist_ok=True)
    (hw.user_profiles_dir() / "broken.json").write_text("{")
    with pytest.warns(UserWarning, match="broken.json"):
        assert get_profile("l4").name == "nvidia-l4"


def test_bandwidth_for_uses_a_monotone_cache_curve():
    prof = HardwareProfile(
        name="c",
        kind="cpu",
        peak_flops={"float32": 1e11},
        memory_bandwidth=20e9,
        details={"bandwidth_curve": [[1e6, 150e9], [4e6, 1e9], [16e6, 80e9], [256e6, 20e9]]},
    )
    assert prof.bandwidth_for(None) == 20e9
    assert prof.bandwidth_for(1e9) == 20e9  # past the curve: DRAM
    assert prof.bandwidth_for(20e6) == 80e9
    # the 4 MB point (1 GB/s) was disturbed: the envelope keeps the 16 MB figure
    assert prof.bandwidth_for(5e6) == 80e9
    assert prof.bandwidth_for(1e3) == 150e9


def test_host_profile_not_measured_without_permission():
    with pytest.raises(UnknownHardware, match="flopwise hardware"):
        get_profile("host", measure_if_missing=False)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.measure
def test_measured_profile_is_consistent_with_its_own_samples(one_thread):
    """A real (short) measurement: the profile's figures are its micro-benchmarks' best
    samples, in the units they state. Comparing them with timings taken separately depends
    on the machine's load: that is benchmarks/timing_acceptance.py's job, and the rate
    arithmetic is tested on a fake clock in test_timing_logic.py."""
    copy_bytes = 16 * 2**20
    prof = measure_host_profile(1.0, dtypes=["float32"], progress=False, copy_bytes=copy_bytes)
    g = prof.details["gemm"]["float32"]
    c = prof.details["copy"]
    assert prof.peak_flops["float32"] == g["best_flops"] >= g["median_flops"] >= g["worst_flops"]
    assert g["flops_per_call"] == 2 * g["n"] ** 3
    assert prof.memory_bandwidth == c["best_bytes_per_s"] >= c["worst_bytes_per_s"] > 0
    assert c["bytes_moved_per_call"] == 2 * copy_bytes  # read + write
    assert prof.launch_overhead_s is not None and prof.launch_overhead_s > 0
    assert prof.kind == "cpu" and prof.source.startswith("measured on")
    assert prof.details["threads"] == torch.get_num_threads() == 1
    assert hw.host_profile_path().name.endswith("-1t.json")


@pytest.mark.measure
def test_host_profile_is_cached_and_reused(monkeypatch):
    prof = get_profile("host", budget_s=1.5, progress=False)
    path = hw.host_profile_path()
    assert path.is_file()

    def fail(*a, **k):
        raise AssertionError("measured again instead of reusing the cache")

    monkeypatch.setattr(hw, "measure_host_profile", fail)
    again = get_profile("host")
    assert again.peak_flops == prof.peak_flops
    assert any(p.name == "host" for p in list_profiles())


def test_cli_list_show_and_errors(capsys):
    assert main(["hardware", "--list"]) == 0
    out = capsys.readouterr().out
    assert "nvidia-h100-sxm5-80gb" in out and "TFLOP/s" in out
    assert main(["hardware", "--show", "h100", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["name"] == "nvidia-h100-sxm5-80gb"
    assert main(["hardware", "--show", "h100"]) == 0
    out = capsys.readouterr().out
    assert "TB/s" in out and "sparse" in out
    assert main(["hardware", "--show", "b300x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown hardware") and err.count("\n") == 1


@pytest.mark.measure
def test_cli_measures_and_saves(capsys):
    assert main(["hardware", "--budget", "1.5", "--no-progress"]) == 0
    captured = capsys.readouterr()
    # units are spelled out (the prefix depends on how busy the machine is)
    assert "FLOP/s" in captured.out and "B/s" in captured.out
    assert "µs" in captured.out or " ms" in captured.out
    assert "saved to" in captured.err
    assert hw.host_profile_path().is_file()


def _measured(f32, bw, overhead, curve, source):
    return HardwareProfile(
        name="host",
        kind="cpu",
        peak_flops={"float32": f32},
        memory_bandwidth=bw,
        launch_overhead_s=overhead,
        source=source,
        details={
            "measured": True,
            "host": "h",
            "device": "cpu",
            "threads": 2,
            "torch": "x",
            "bandwidth_curve": curve,
            "copy": {"best_bytes_per_s": bw},
            "gemm": {"float32": {"best_flops": f32}},
        },
    )


def test_saving_a_measurement_keeps_the_best_of_each_ceiling(tmp_path):
    path = tmp_path / "host.json"
    quiet = _measured(190e9, 30e9, 1e-6, [[1e6, 150e9], [2.7e8, 30e9]], "quiet run")
    busy = _measured(60e9, 8e9, 2e-6, [[1e6, 160e9], [2.7e8, 8e9]], "busy run")
    hw.save_profile(quiet, path)
    hw.save_profile(busy, path)
    merged = HardwareProfile.load(path)
    assert merged.peak_flops["float32"] == 190e9 and merged.memory_bandwidth == 30e9
    assert merged.launch_overhead_s == 1e-6
    assert merged.details["bandwidth_curve"] == [[1e6, 160e9], [2.7e8, 30e9]]
    assert merged.details["measurements"] == 2 and len(merged.details["history"]) == 2
    assert "best of 2" in merged.source
    # a different setup (other thread count) is not merged; --replace overwrites
    other = _measured(50e9, 5e9, 1e-6, [], "other")
    other.details["threads"] = 1
    hw.save_profile(other, path)
    assert HardwareProfile.load(path).peak_flops["float32"] == 50e9
    hw.save_profile(quiet, path, merge=False)
    assert HardwareProfile.load(path).details.get("measurements") is None


def test_measure_hardware_api_saves_merges_and_restores_threads(monkeypatch):
    """The API behind `flopwise hardware`: it measures on the threads asked for (torch's
    count restored after), saves to the host cache merged with what is there, and says how
    many measurements the saved profile keeps; the renderer's line says so."""
    from flopwise.pipeline import MeasureOptions, measure_hardware
    from flopwise.report.hardware import saved_line

    runs = iter(
        [
            _measured(100e9, 10e9, 1e-6, [], "first"),
            _measured(50e9, 20e9, 2e-6, [], "second"),
            _measured(70e9, 30e9, 2e-6, [], "third"),
        ]
    )
    seen = []

    def fake(budget, *, device, progress):
        seen.append((budget, device, progress, torch.get_num_threads()))
        return next(runs)

    monkeypatch.setattr(hw, "measure_host_profile", fake)
    before = torch.get_num_threads()
    first = measure_hardware(measure=MeasureOptions(budget_s=3.0, threads=1))
    assert torch.get_num_threads() == before
    path = hw.host_profile_path(threads=2)
    assert (first.path, first.measurements, first.name, first.device) == (path, 1, "host", "cpu")
    assert saved_line(first) == f"saved to {path} (used as --hardware host)"
    second = measure_hardware()
    assert second.measurements == 2 and second.profile.peak_flops["float32"] == 50e9
    saved = HardwareProfile.load(path)
    assert saved.peak_flops["float32"] == 100e9 and saved.memory_bandwidth == 20e9
    assert saved_line(second).endswith("(used as --hardware host; best of 2 measurements kept)")
    assert seen == [(3.0, "cpu", False, 1), (45.0, "cpu", False, before)]
    unsaved = measure_hardware(save=False)
    assert unsaved.path is None and saved_line(unsaved) is None
    assert HardwareProfile.load(path).details["measurements"] == 2
