"""`flopwise predict`: roofline fallback, calibrated prediction, datasheet transfer, calibration."""

from __future__ import annotations

import json

import pytest
import torch

from flopwise.analysis import predict as P
from flopwise.cli import main
from flopwise.measure.hardware import HardwareProfile, host_profile_path
from flopwise.measure.options import MeasureOptions
from flopwise.pipeline import predict as cmd

SYNTH_HOST = HardwareProfile(
    name="host",
    kind="cpu",
    peak_flops={"float32": 100e9},
    memory_bandwidth=20e9,
    launch_overhead_s=3e-6,
    source="synthetic test host",
    details={"measured": True, "device": "cpu"},
)


FACTORIES = """
import torch
from torch import nn


def cnn():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 10),
    )
    return net, (torch.randn(1, 3, 32, 32),)


def mlp():
    return nn.Sequential(nn.Linear(64, 128), nn.GELU(), nn.Linear(128, 10)), (torch.randn(4, 64),)


class Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(32, 96)
        self.out = nn.Linear(32, 32)
        self.norm = nn.LayerNorm(32)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, n, 3, 4, 8).permute(2, 0, 3, 1, 4)
        y = nn.functional.scaled_dot_product_attention(q, k, v)
        return x + self.out(y.transpose(1, 2).reshape(b, n, 32))


def attn():
    return Attn(), (torch.randn(1, 16, 32),)
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    # A cached host profile, so nothing measures the machine's ceilings.
    SYNTH_HOST.save(host_profile_path())
    (tmp_path / "tiny.py").write_text(FACTORIES)
    monkeypatch.chdir(tmp_path)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _write_calibration() -> None:
    model = P.default_model("cpu")
    model.source = "synthetic calibration"
    doc = {
        "schema": cmd.CALIBRATION_SCHEMA,
        "created": "2026-01-01 00:00 UTC",
        "host": "testhost",
        "threads": 2,
        "hardware": SYNTH_HOST.to_dict(),
        "cost_model": model.to_dict(),
        "cross_validation": {
            "n": 4,
            "folds": 2,
            "mape": 0.1,
            "max_ape": 0.2,
            "spearman": 0.99,
            "kendall": 0.9,
            "pearson_log": 0.99,
        },
        "flops_baseline": {"mape": 0.5, "spearman": 0.8},
        "samples": [{}, {}, {}, {}],
    }
    path = cmd.calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def test_without_calibration_falls_back_to_the_roofline_floor(capsys):
    code, out, _ = run(capsys, "predict", "tiny.py:attn", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "flopwise.predict/1"
    assert doc["method"] == "roofline floor"
    assert doc["predicted_s"] == pytest.approx(doc["roofline_floor_s"])
    assert any("no calibration" in n for n in doc["notes"])
    code, out, _ = run(capsys, "predict", "tiny.py:attn")
    assert code == 0 and "roofline floor" in out and "no calibration" in out


def test_calibrated_prediction_and_datasheet_transfer(capsys):
    _write_calibration()
    code, out, _ = run(capsys, "predict", "tiny.py:attn", "-f", "json")
    doc = json.loads(out)
    assert code == 0 and doc["method"] == "calibrated cost model"
    assert doc["predicted_s"] > doc["roofline_floor_s"] > 0
    assert doc["cross_validation"]["mape"] == 0.1
    assert sum(v["seconds"] for v in doc["by_class"].values()) == pytest.approx(doc["predicted_s"])

    code, out, _ = run(capsys, "predict", "tiny.py:attn", "--hardware", "h100", "-f", "json")
    gpu = json.loads(out)
    assert code == 0 and gpu["method"].startswith("default gpu efficiencies")
    assert any("does not transfer" in n for n in gpu["notes"])
    assert gpu["cost_model"]["source"].startswith("default gpu")

    code, out, _ = run(
        capsys, "predict", "tiny.py:attn", "--hardware", "amd-epyc-9654", "-f", "json"
    )
    cpu = json.loads(out)
    assert code == 0 and cpu["method"].startswith("host-calibrated efficiencies")
    assert cpu["cost_model"]["compute_eff"] == doc["cost_model"]["compute_eff"]

    code, out, _ = run(capsys, "predict", "tiny.py:attn")
    assert code == 0
    assert "predicted latency" in out and "cross-validated error" in out and "MAPE 10.0%" in out
    assert "FLOPs" in out  # units spelled out


def test_predict_needs_a_model(capsys):
    code, _, err = run(capsys, "predict")
    assert code != 0 and "give a MODEL" in err


def test_bad_calibration_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "cal.json"
    bad.write_text('{"schema": "something/9"}')
    code, _, err = run(capsys, "predict", "tiny.py:attn", "--calibration", str(bad))
    assert code != 0 and "not a flopwise predict calibration" in err


@pytest.mark.measure
def test_calibration_on_a_tiny_zoo(tmp_path):
    zoo = (
        ("tiny.py:attn", "attn", ["1x16x32"]),
        ("tiny.py:attn", "attn", ["2x64x32"]),
        ("tiny.py:cnn", "cnn", ["1x3x32x32"]),
        ("tiny.py:mlp", "mlp", ["16x64"]),
    )
    doc = cmd.run_calibration(measure=MeasureOptions(budget_s=0.3), zoo=zoo)
    assert doc["schema"] == cmd.CALIBRATION_SCHEMA
    assert len(doc["samples"]) == 4
    assert doc["cross_validation"]["folds"] == 3
    assert all(s["measured_s"] > 0 and s["cross_validated_s"] > 0 for s in doc["samples"])
    model = P.CostModel.from_dict(doc["cost_model"])
    assert all(v > 0 for v in model.compute_eff.values())
    assert doc["hardware"]["source"] == "synthetic test host"


def test_python_api_is_what_the_cli_prints(capsys):
    """predict_model returns a typed prediction whose JSON is the command's output."""
    from flopwise.pipeline import LatencyPrediction, predict_model

    _write_calibration()
    pred = predict_model("tiny.py:attn", [], hardware="amd-epyc-9654")
    assert isinstance(pred, LatencyPrediction)
    assert pred.method.startswith("host-calibrated efficiencies")
    assert pred.cross_validation is None and pred.cross_validation_host["mape"] == 0.1
    code, out, _ = run(
        capsys, "predict", "tiny.py:attn", "--hardware", "amd-epyc-9654", "-f", "json"
    )
    assert code == 0 and json.loads(out) == json.loads(json.dumps(pred.to_dict()))


def test_threads_pick_the_calibration_of_that_count(capsys):
    """Calibrations are per thread count: --threads N reads the N-thread file; unset is
    torch's count, and 0 (its old spelling) is a usage error."""
    _write_calibration()  # at torch's current count
    n = torch.get_num_threads()
    assert cmd.calibration_path(threads=n + 1).name.endswith(f"-{n + 1}t.json")
    code, out, _ = run(capsys, "predict", "tiny.py:attn", "--threads", str(n + 1), "-f", "json")
    assert code == 0 and json.loads(out)["method"] == "roofline floor"
    code, out, _ = run(capsys, "predict", "tiny.py:attn", "-f", "json")
    assert code == 0 and json.loads(out)["method"] == "calibrated cost model"
    code, _, err = run(capsys, "predict", "tiny.py:attn", "--threads", "0")
    assert code == 2 and "--threads" in err


@pytest.mark.measure
def test_bf16_calibration_is_timed_in_bf16_and_kept_in_its_own_file(capsys, monkeypatch):
    """`predict --calibrate --dtype bfloat16` times the zoo in bfloat16 (models and inputs)
    and writes the bfloat16 file, which bfloat16 predictions use and float32 ones do not."""
    zoo = (
        ("tiny.py:attn", "attn", ["1x16x32"]),
        ("tiny.py:cnn", "cnn", ["1x3x32x32"]),
        ("tiny.py:mlp", "mlp", ["16x64"]),
    )
    real = cmd.run_calibration
    monkeypatch.setattr(cmd, "run_calibration", lambda **kw: real(**{**kw, "zoo": zoo}))
    timed_dtypes: set[torch.dtype] = set()
    real_timing = cmd.measure_interleaved

    def timing(fns, **kw):
        timed_dtypes.update(fn().dtype for fn in fns.values())
        return real_timing(fns, **kw)

    monkeypatch.setattr(cmd, "measure_interleaved", timing)
    code, out, err = run(
        capsys, "predict", "--calibrate", "--dtype", "bf16", "--budget", "0.5", "--no-progress"
    )
    assert code == 0, err
    assert timed_dtypes == {torch.bfloat16}
    path = cmd.calibration_path(dtype="bfloat16")
    assert path.name.endswith("t-bfloat16.json") and str(path) in out
    assert "bfloat16" in out.split("saved to")[0]  # the summary names the dtype
    assert not cmd.calibration_path().exists()  # float32's file is another one
    doc = json.loads(path.read_text())
    assert doc["dtype"] == "bfloat16" and len(doc["samples"]) == 3
    code, out, _ = run(capsys, "predict", "tiny.py:mlp", "--dtype", "bfloat16", "-f", "json")
    assert code == 0 and json.loads(out)["method"] == "calibrated cost model"
    code, out, _ = run(capsys, "predict", "tiny.py:mlp", "-f", "json")
    assert code == 0 and json.loads(out)["method"] == "roofline floor"


def test_a_calibration_of_another_dtype_is_noted(capsys):
    """A named float32 calibration used for a bfloat16 model says so."""
    _write_calibration()
    code, out, _ = run(
        capsys, "predict", "tiny.py:mlp", "--dtype", "bfloat16",
        "--calibration", str(cmd.calibration_path()), "-f", "json",
    )  # fmt: skip
    notes = json.loads(out)["notes"]
    assert code == 0 and any("timed in float32, the model is bfloat16" in n for n in notes)
