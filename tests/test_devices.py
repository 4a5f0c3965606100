"""``--device`` on every command that runs a model: one option, resolved by the API, named in
each output; CUDA without a GPU and timing on meta tensors refused in one line (exit 2).

There is no GPU here: CUDA-only branches run against fakes of ``torch.cuda``."""

from __future__ import annotations

import functools
import json

import pytest
import torch

from flopwise.cli import main
from flopwise.errors import FlopwiseError
from flopwise.measure import devices as D
from flopwise.measure.hardware import HardwareProfile, host_profile_path
from flopwise.measure.timing import DeviceUnavailable
from flopwise.report.device import describe_device

FACTORIES = """
import torch
from torch import nn


def cnn():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 10),
    )
    return net, (torch.randn(1, 3, 16, 16),)


def mlp():
    return nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4)), (torch.randn(2, 16),)
"""

SYNTH_HOST = HardwareProfile(
    name="host",
    kind="cpu",
    peak_flops={"float32": 100e9},
    memory_bandwidth=20e9,
    launch_overhead_s=3e-6,
    source="synthetic test host",
    details={"measured": True, "device": "cpu"},
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    SYNTH_HOST.save(host_profile_path())  # nothing measures the machine's ceilings
    (tmp_path / "tiny.py").write_text(FACTORIES)
    monkeypatch.chdir(tmp_path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- the API ------------------------------------------------------------------------------


def test_resolve_device() -> None:
    assert D.resolve_device("auto", timing=True) == "cpu"
    assert D.resolve_device("auto", timing=False) == "meta"
    assert D.resolve_device("cpu", timing=True) == "cpu"
    assert D.resolve_device("meta", timing=False) == "meta"
    assert D.resolve_device("fake", timing=False) == "fake"
    for bad in ("meta", "fake"):
        with pytest.raises(FlopwiseError, match="needs real tensors"):
            D.resolve_device(bad, timing=True)
    for bad in ("tpu", "cuda:", "cuda:x", "gpu"):
        with pytest.raises(FlopwiseError, match="must be one of"):
            D.resolve_device(bad, timing=False)


def test_cuda_without_a_gpu_and_with_a_fake_one(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailable, match="is_available"):
        D.resolve_device("cuda", timing=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert D.resolve_device("cuda:1", timing=True) == "cuda:1"


def test_device_summary_cpu_and_fake_cuda(monkeypatch) -> None:
    assert D.device_summary("cpu") == {"name": "cpu", "model": "cpu", "peak_memory_bytes": None}
    D.reset_peak_memory("cpu")  # nothing to reset on the CPU, and no call into torch.cuda

    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda dev: 3 * 2**30)
    monkeypatch.setattr(
        torch.cuda, "reset_peak_memory_stats", lambda dev: calls.append(("reset", dev))
    )
    D.reset_peak_memory("cuda:0")
    assert calls == [("reset", torch.device("cuda:0"))]
    summary = D.device_summary("cuda:0")
    assert summary == {"name": "cuda:0", "model": "Fake GPU", "peak_memory_bytes": 3 * 2**30}
    assert describe_device(summary) == "cuda:0 (Fake GPU), peak memory 3.22 GB"
    assert describe_device(D.device_summary("cpu")) == "cpu"


# -- the commands ---------------------------------------------------------------------------


def test_one_shared_option() -> None:
    """The same name, default and help on every command that runs a model; predict, which
    counts on meta tensors and only picks a calibration by device, says that instead."""
    import inspect

    from flopwise.commands import compare, fit_alpha, predict, profile, sweep
    from flopwise.commands._options import DEVICE_HELP

    for fn in (
        profile.profile_command,
        sweep.sweep_command,
        compare.compare_command,
        fit_alpha.fit_alpha_command,
    ):
        opt = inspect.signature(fn).parameters["device"].default
        assert (opt.default, opt.param_decls, opt.help) == ("auto", ("--device",), DEVICE_HELP)
    opt = inspect.signature(predict.predict_command).parameters["device"].default
    assert (opt.default, opt.param_decls) == ("auto", ("--device",))
    assert "calibration" in opt.help and "counted on meta tensors" in opt.help


@pytest.mark.measure
def test_sweep_on_cpu_names_the_device(capsys) -> None:
    code, out, err = run(
        capsys, "sweep", "tiny.py:mlp", "--dim", "batch=1,2", "--device", "cpu",
        "--budget", "0.05", "-f", "json", "--no-save", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["device"] == {"name": "cpu", "model": "cpu", "peak_memory_bytes": None}
    assert all(p["seconds"] > 0 for p in doc["points"])


@pytest.mark.measure
def test_compare_on_cpu_names_the_device(capsys) -> None:
    code, out, err = run(
        capsys, "compare", "tiny.py:mlp", "tiny.py:cnn", "--device", "cpu", "--budget", "0.1",
        "-f", "json", "--no-save", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["device"]["name"] == "cpu"
    assert all(r["median_s"] > 0 for r in doc["rows"])
    code, out, err = run(
        capsys, "compare", "tiny.py:mlp", "--device", "cpu", "--budget", "0.05", "--no-save",
        "--no-progress",
    )  # fmt: skip
    assert code == 0 and "timed on cpu" in out


@pytest.mark.measure
def test_predict_calibrate_on_cpu_names_the_device(capsys, monkeypatch, tmp_path) -> None:
    from flopwise.pipeline import predict as cmd

    zoo = (
        ("tiny.py:mlp", "mlp", ["2x16"]),
        ("tiny.py:mlp", "mlp", ["8x16"]),
        ("tiny.py:cnn", "cnn", ["1x3x16x16"]),
        ("tiny.py:cnn", "cnn", ["2x3x16x16"]),
    )
    seen: list[str] = []
    real = cmd.run_calibration

    def spy(**kw):
        seen.append(kw["device"])
        return functools.partial(real, zoo=zoo)(**kw)

    monkeypatch.setattr(cmd, "run_calibration", spy)
    path = tmp_path / "cal.json"
    code, out, err = run(
        capsys, "predict", "--calibrate", "--device", "cpu", "--budget", "0.2",
        "--calibration", str(path), "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert seen == ["cpu"]
    doc = json.loads(path.read_text())
    assert doc["device"] == {"name": "cpu", "model": "cpu", "peak_memory_bytes": None}
    assert "(cpu," in out
    assert cmd.calibration_path("cpu") == cmd.calibration_path()


def test_calibration_path_per_device(monkeypatch) -> None:
    from flopwise.pipeline import predict as cmd

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev: "NVIDIA H200")
    gpu = cmd.calibration_path("cuda:0")
    assert gpu.name.endswith("-cuda_0-NVIDIA_H200.json")
    assert gpu != cmd.calibration_path("cpu")


def test_fit_alpha_on_cpu_names_the_device(capsys, monkeypatch) -> None:
    """The layers are built on the device and timed there (the timing itself is faked: the
    small grid would take a minute on two shared cores)."""
    from flopwise.measure import alpha_grid

    devices: list[str] = []

    def fake_measure(fns, budget_s, progress, device="cpu"):
        devices.append(device)
        # every layer 1 ms, but a spread of times so the fit has something to fit
        return {name: (1e-3 * (1 + i % 7), 1e-3 * (1 + i % 7), 0.01) for i, name in enumerate(fns)}

    monkeypatch.setattr(alpha_grid, "_measure", fake_measure)
    code, out, err = run(capsys, "fit-alpha", "--device", "cpu", "-f", "json", "--no-save")
    assert code == 0, err
    doc = json.loads(out)
    assert devices == ["cpu"]
    assert doc["device"]["name"] == "cpu" and ", cpu, " in doc["source"]


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "tiny.py:mlp", "--measure"],
        ["sweep", "tiny.py:mlp", "--dim", "batch=1,2"],
        ["compare", "tiny.py:mlp"],
        ["predict", "--calibrate"],
        ["fit-alpha"],
    ],
)
def test_cuda_without_a_gpu_is_one_line_exit_2(capsys, monkeypatch, argv) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run(capsys, *argv, "--device", "cuda", "--no-progress")
    assert code == 2
    assert err.strip().count("\n") == 0 and "--device cuda" in err and "is_available" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "tiny.py:mlp", "--measure"],
        ["sweep", "tiny.py:mlp", "--dim", "batch=1,2"],
        ["compare", "tiny.py:mlp"],
        ["predict", "--calibrate"],
        ["fit-alpha"],
    ],
)
def test_meta_with_a_timing_command_is_one_line_exit_2(capsys, argv) -> None:
    code, out, err = run(capsys, *argv, "--device", "meta", "--no-progress")
    assert code == 2
    assert err.strip().count("\n") == 0 and "needs real tensors" in err


def test_unknown_device_is_one_line_exit_2(capsys) -> None:
    code, out, err = run(capsys, "sweep", "tiny.py:mlp", "--dim", "batch=1,2", "--device", "tpu")
    assert code == 2 and err.strip().count("\n") == 0 and "tpu" in err
