"""``flopwise sweep``: dimension parsing, input resizing, power-law fits, the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from flopwise.analysis.sweep import SweepPoint, fit_dimension, summarize_sweep
from flopwise.cli import main
from flopwise.errors import FlopwiseError
from flopwise.pipeline.sweep import apply_dims, base_value, parse_dim
from flopwise.sources.specs import parse_input_specs


def test_parse_dim() -> None:
    assert parse_dim("batch=1,2,4") == ("batch", [1, 2, 4])
    assert parse_dim("res=128, 224") == ("resolution", [128, 224])
    assert parse_dim("seq_len=8,8,16") == ("seq", [8, 16])
    assert parse_dim("input_ids.1=4,8") == ("input_ids.1", [4, 8])
    for bad in ("batch", "batch=1", "batch=0,1", "batch=a,b", "colour=1,2"):
        with pytest.raises(FlopwiseError):
            parse_dim(bad)


def test_apply_dims_image_and_text() -> None:
    image = parse_input_specs(["1x3x224x224"])
    assert base_value(image, "resolution") == 224 and base_value(image, "batch") == 1
    out = apply_dims(image, {"batch": 4, "resolution": 128})
    assert out[0].shape == (4, 3, 128, 128)
    assert image[0].shape == (1, 3, 224, 224)  # inputs untouched

    text = parse_input_specs(["input_ids=2x16", "attention_mask=2x16"])
    out = apply_dims(text, {"seq": 64})
    assert [s.shape for s in out] == [(2, 64), (2, 64)]
    assert [s.name for s in out] == ["input_ids", "attention_mask"]
    assert apply_dims(text, {"attention_mask.1": 8})[1].shape == (2, 8)
    assert apply_dims(image, {"0.1": 1})[0].shape == (1, 1, 224, 224)
    with pytest.raises(FlopwiseError):
        apply_dims(text, {"resolution": 10})
    with pytest.raises(FlopwiseError):
        apply_dims(text, {"nope.1": 10})


def point(dim: str, value: int, flops: float, seconds: float | None) -> SweepPoint:
    return SweepPoint(
        dim=dim,
        value=value,
        dims={dim: value},
        inputs=[],
        flops=int(flops),
        macs=int(flops / 2),
        alpha_flops=flops**0.5,
        alpha_macs=flops**0.5 / 2,
        bytes=int(1000 * value),
        activations=value,
        seconds=seconds,
    )


def test_fit_dimension_exact_power_laws() -> None:
    pts = [point("res", r, 1e6 * r**2, 1e-3 * r**1.5) for r in (32, 64, 128, 256)]
    pts += [point("batch", b, 1e6 * b, 1e-3 * b**0.5) for b in (1, 2, 4, 8)]
    fit = fit_dimension(pts, "res", n_resamples=200)
    assert fit["values"] == [32, 64, 128, 256]
    assert fit["exponents"]["flops"]["exponent"] == pytest.approx(2.0)
    assert fit["exponents"]["seconds"]["exponent"] == pytest.approx(1.5)
    assert fit["exponents"]["alpha_flops"]["exponent"] == pytest.approx(1.0)
    assert fit["exponents"]["bytes"]["exponent"] == pytest.approx(1.0)
    assert fit["time_per_flop_exponent"] == pytest.approx(-0.5)
    summary = summarize_sweep(pts, n_resamples=200)
    assert sorted(summary["ranking"]) == ["batch", "res"]
    gaps = {f["dim"]: f["time_per_flop_exponent"] for f in summary["fits"]}
    assert gaps["batch"] == pytest.approx(-0.5) and gaps["res"] == pytest.approx(-0.5)


def test_fit_dimension_untimed_and_ranking() -> None:
    pts = [point("seq", s, 1e6 * s**2, None) for s in (8, 16, 32)]
    fit = fit_dimension(pts, "seq")
    assert fit["exponents"]["seconds"] is None
    assert fit["time_per_flop_exponent"] is None
    timed = [point("a", v, 1e6 * v, 1e-3 * v**0.2) for v in (1, 2, 4)]
    timed += [point("b", v, 1e6 * v, 1e-3 * v**1.3) for v in (1, 2, 4)]
    assert summarize_sweep(timed, n_resamples=100)["ranking"] == ["a", "b"]
    assert SweepPoint("a", 1, {}, [], 10, 5, 1.0, 0.5, 1, 1, seconds=2.0).flops_per_second == 5.0


MODEL_FILE = """
import torch
from torch import nn

def make():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 5))
"""


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(MODEL_FILE)
    return path


def test_sweep_command_counts(model_file: Path, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    argv = [
        "sweep",
        f"{model_file}:make",
        "-i",
        "1x3x16x16",
        "--dim",
        "batch=1,2,4",
        "--dim",
        "resolution=8,16,32",
        "--no-measure",
        "-f",
        "json",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "flopwise.sweep/1"
    assert doc["base_dims"] == {"batch": 1, "resolution": 16}
    assert len(doc["points"]) == 5  # the base point (batch 1, resolution 16) is shared
    res = sorted(
        (p for p in doc["points"] if p["dims"]["batch"] == 1), key=lambda p: p["dims"]["resolution"]
    )
    assert [p["inputs"][0]["shape"] for p in res] == [[1, 3, 8, 8], [1, 3, 16, 16], [1, 3, 32, 32]]
    conv_macs = [4 * r * r * 3 * 9 for r in (8, 16, 32)]
    assert [p["macs"] for p in res] == [m + 4 * 5 for m in conv_macs]
    fits = {f["dim"]: f for f in doc["fits"]}
    assert fits["batch"]["values"] == [1, 2, 4] and fits["resolution"]["values"] == [8, 16, 32]
    assert fits["batch"]["exponents"]["flops"]["exponent"] == pytest.approx(1.0)
    assert 1.9 < fits["resolution"]["exponents"]["flops"]["exponent"] < 2.0
    assert fits["resolution"]["exponents"]["alpha_flops"]["exponent"] < 1.9
    assert fits["batch"]["exponents"]["seconds"] is None
    assert all(p["seconds"] is None for p in doc["points"])
    svg = tmp_path / "plots" / "s.svg"
    assert main([*argv[:-2], "--plot", str(svg)]) == 0
    assert len(list(svg.parent.glob("s-*.svg"))) >= 2
    assert main([*argv[:-2], "--plot", str(tmp_path / "s.txt")]) != 0


@pytest.mark.measure
def test_sweep_command_measures(model_file: Path, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["sweep", f"{model_file}:make", "-i", "1x3x16x16", "--dim", "batch=1,4"]
    assert main([*argv, "--budget", "0.05", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "GFLOP/s" in out and "time/FLOP" in out
    page = tmp_path / "sweep.html"
    argv += ["--plot", str(page)]
    assert main([*argv, "--budget", "0.05", "-f", "json", "--statistic", "min"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["statistic"] == "min"
    assert page.read_text().count("<svg") >= 2
    assert all(p["time_s"] == p["seconds"] for p in doc["points"])
    assert all(p["seconds"] > 0 for p in doc["points"])
    fit = doc["fits"][0]["exponents"]["seconds"]
    assert fit is not None and math.isfinite(fit["exponent"])


def test_fit_dimension_uses_the_shared_base_point() -> None:
    def p(a: int, b: int) -> SweepPoint:
        dim = "a" if b == 1 else "b"
        flops = 1e6 * a * b**2
        return SweepPoint(
            dim,
            a if dim == "a" else b,
            {"a": a, "b": b},
            [],
            int(flops),
            int(flops / 2),
            flops,
            flops / 2,
            1,
            1,
            seconds=1e-3 * a * b,
        )

    pts = [p(1, 1), p(2, 1), p(4, 1), p(1, 2), p(1, 4)]  # (1, 1) listed once, under "a"
    base = {"a": 1, "b": 1}
    fa = fit_dimension(pts, "a", base=base, n_resamples=50)
    fb = fit_dimension(pts, "b", base=base, n_resamples=50)
    assert fa["values"] == [1, 2, 4] and fb["values"] == [1, 2, 4]
    assert fb["exponents"]["flops"]["exponent"] == pytest.approx(2.0)
    assert fb["time_per_flop_exponent"] == pytest.approx(-1.0)
