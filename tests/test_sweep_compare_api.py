"""The Python API behind `flopwise sweep` and `flopwise compare` (flopwise.pipeline.sweep,
.compare): the one α-constants lookup, the whole-command budget and the threads option."""

from __future__ import annotations

import json

import pytest
import torch

import flopwise.measure.timing as timing
from flopwise.analysis.alpha import (
    DEFAULT_CONSTANTS,
    PUBLISHED_LABEL,
    AlphaConstants,
    host_alpha_constants,
)
from flopwise.cli import main
from flopwise.pipeline import MeasureOptions, parse_dim, plan_sweep, run_compare, run_sweep

FACTORIES = """
import torch
from torch import nn


def cnn():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 5))
    return net, (torch.randn(1, 3, 16, 16),)


def mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)), (torch.randn(2, 8),)
"""


@pytest.fixture(autouse=True)
def _here(tmp_path, monkeypatch):
    """Run in a folder holding tiny.py, with a cache (host profiles) of its own; nothing
    here saves a run."""
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.py").write_text(FACTORIES)


@pytest.fixture
def timed(monkeypatch):
    """Record what each interleaved timing was asked for (and torch's thread count then),
    and time for 10 ms whatever the budget."""
    calls: list[dict] = []
    real = timing.measure_interleaved

    def fake(fns, **kwargs):
        calls.append({**kwargs, "n": len(fns), "threads": torch.get_num_threads()})
        return real(fns, **{**kwargs, "budget_s": 0.01, "progress": False})

    monkeypatch.setattr(timing, "measure_interleaved", fake)
    return calls


def _save_host_profile(alpha: dict | None) -> None:
    from flopwise.measure.hardware import HardwareProfile, host_profile_path

    path = host_profile_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    HardwareProfile(
        name="host", kind="cpu", peak_flops={"float32": 1e11}, memory_bandwidth=2e10,
        source="measured here", alpha=alpha,
    ).save(path)  # fmt: skip


def test_alpha_lookup_published_then_fitted() -> None:
    assert host_alpha_constants() == (DEFAULT_CONSTANTS, PUBLISHED_LABEL)
    _save_host_profile(None)  # a host profile without α: still the published constants
    assert host_alpha_constants() == (DEFAULT_CONSTANTS, PUBLISHED_LABEL)
    fitted = AlphaConstants(beta_k1=0.5, gamma_k1=0.7, source="fit-alpha test")
    _save_host_profile(fitted.to_dict())
    constants, label = host_alpha_constants()
    assert constants == fitted
    assert label == "fitted on this host (measured here)"


def test_every_command_uses_the_same_alpha_constants(capsys) -> None:
    """profile, sweep and compare read the same host constants and say so alike."""
    fitted = AlphaConstants(beta_k1=0.5, gamma_k1=0.7, beta_kn=0.3, source="fit-alpha test")
    _save_host_profile(fitted.to_dict())
    plan = plan_sweep("tiny.py:cnn", [parse_dim("batch=1,2")], timing=False)
    sweep = run_sweep(plan).to_dict()
    assert sweep["alpha_constants"] == fitted.to_dict()
    compare = run_compare([("tiny.py:cnn", [])]).to_dict()
    assert compare["convention"]["alpha_flops"].endswith(
        "α constants: fitted on this host (measured here)"
    )
    assert compare["rows"][0]["alpha_flops"] == sweep["points"][0]["alpha_flops"]
    assert main(["profile", "tiny.py:cnn", "-f", "json", "--no-save"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["alpha"]["constants_source"] == "fitted on this host (measured here)"


@pytest.mark.measure
def test_sweep_budget_is_for_the_whole_sweep(timed) -> None:
    plan = plan_sweep("tiny.py:cnn", [parse_dim("batch=1,2,4"), parse_dim("res=8,16")])
    assert len(plan.points) == 4  # (1, 16) is the base, listed once
    assert plan.default_budget_s == 8.0
    result = run_sweep(plan, MeasureOptions(budget_s=3.0, threads=1), statistic="min")
    assert [(c["budget_s"], c["n"], c["threads"]) for c in timed] == [(3.0, 4, 1)]
    doc = result.to_dict()
    assert doc["threads"] == 1 and doc["statistic"] == "min" and doc["measured"]
    assert all(p["seconds"] > 0 for p in doc["points"])


@pytest.mark.measure
def test_sweep_cli_default_budget_is_two_seconds_per_point(timed, capsys) -> None:
    argv = ["sweep", "tiny.py:cnn", "--dim", "batch=1,2,4", "--no-save", "--no-progress"]
    assert main([*argv, "-f", "json"]) == 0
    assert main([*argv, "--budget", "0.5", "-f", "json"]) == 0
    assert [c["budget_s"] for c in timed] == [6.0, 0.5]  # total, never per point


@pytest.mark.measure
def test_compare_threads_apply_inside_the_call_only(timed) -> None:
    before = torch.get_num_threads()
    result = run_compare(
        [("tiny.py:cnn", []), ("tiny.py:mlp", ["4x8"])],
        measure=MeasureOptions(budget_s=1.5, threads=1),
    )
    assert [(c["budget_s"], c["n"], c["threads"]) for c in timed] == [(1.5, 2, 1)]
    assert torch.get_num_threads() == before
    assert all(r.median_s > 0 for r in result.rows)
    assert [r.extra["label"] for r in result.rows] == ["cnn", "mlp"]


def test_compare_threads_zero_is_a_usage_error(capsys) -> None:
    assert main(["compare", "tiny.py:cnn", "--threads", "0", "--no-save"]) == 2
    assert "--threads" in capsys.readouterr().err


def test_compare_counts_only_without_measure_options() -> None:
    result = run_compare([("tiny.py:mlp", ["4x8"])], accuracies={"mlp": 70.0})
    doc = result.to_dict()
    assert doc["mode"]["measured"] is False and "device" not in doc
    assert doc["rows"][0]["macs"] == 4 * (8 * 16 + 16 * 2)  # the two linear layers
    assert doc["pareto"]["cost"] == "FLOPs (not measured)" and doc["pareto"]["front"] == ["mlp"]
