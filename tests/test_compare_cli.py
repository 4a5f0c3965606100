"""`flopwise compare`: the table, JSON and CSV on tiny models (counts only, or tiny budgets)."""

from __future__ import annotations

import json

import pytest

from flopwise.cli import main
from flopwise.pipeline.compare import split_model_arg

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
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "tiny.py").write_text(FACTORIES)
    monkeypatch.chdir(tmp_path)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


MODELS = ("tiny.py:cnn", "tiny.py:mlp@8x64", "tiny.py:cnn@2x3x48x48")


def test_split_model_arg():
    assert split_model_arg("torchvision:resnet50@2x3x224x224", []) == (
        "torchvision:resnet50",
        ["2x3x224x224"],
    )
    assert split_model_arg("hf:gpt2", ["input_ids=1x8:int64"]) == (
        "hf:gpt2",
        ["input_ids=1x8:int64"],
    )
    assert split_model_arg("a@x=1x2,y=1x3", []) == ("a", ["x=1x2", "y=1x3"])


def test_compare_json_without_measurement(capsys):
    code, out, _ = run(
        capsys, "compare", *MODELS, "--no-measure", "-f", "json", "-a", "cnn=50", "-a", "mlp=40"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "flopwise.compare/1"
    rows = doc["rows"]
    assert len(rows) == 3 and len({r["label"] for r in rows}) == 3
    for r in rows:
        assert isinstance(r["flops"], int) and r["flops"] > 0
        assert isinstance(r["params"], int) and isinstance(r["bytes"], int)
        assert 0 < r["alpha_flops"] <= r["flops"] * 2
        assert r["median_s"] is None
    assert rows[1]["inputs"][0]["shape"] == [8, 64]
    assert doc["correlations"] == {}
    assert doc["pareto"]["cost"].startswith("FLOPs")
    assert doc["pareto"]["front"]  # accuracies matched by the short name


def test_compare_table_and_csv(capsys):
    code, out, _ = run(capsys, "compare", *MODELS[:2], "--no-measure", "-a", "cnn=50")
    assert code == 0
    assert "MFLOPs" in out or "KFLOPs" in out or "GFLOPs" in out
    assert "α-FLOPs" in out and "Pareto" in out
    code, out, _ = run(capsys, "compare", *MODELS[:2], "--no-measure", "-f", "csv")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("label,spec,inputs,params,flops")
    assert len(lines) == 3


def test_bad_accuracy_is_one_line(capsys):
    code, _, err = run(capsys, "compare", "tiny.py:cnn", "--no-measure", "-a", "cnn")
    assert code != 0 and "NAME=VALUE" in err


@pytest.mark.measure
def test_compare_measured_gives_correlations(capsys):
    code, out, _ = run(capsys, "compare", *MODELS, "--budget", "0.3", "-f", "json", "--no-progress")
    assert code == 0
    doc = json.loads(out)
    assert all(r["median_s"] > 0 and r["repeats"] >= 1 for r in doc["rows"])
    corr = doc["correlations"]
    assert set(corr) == {"params", "flops", "alpha_flops", "activations", "bytes"}
    assert corr["flops"]["n"] == 3
    assert -1 <= corr["flops"]["spearman"] <= 1
