"""Campaign analysis from stored runs: the per-device Pareto front (``report --campaign``)
and the predictor fitted from a campaign's timings (``predict --calibrate --from-campaign``).

The campaigns here are run through the real driver (:func:`run_campaign`, which stores
every result) with a fake executor that hands back documents built by hand, so the
latencies, energies and FLOPs, and hence the front, are known exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flopwise.campaign import Executor, expand_plan, run_campaign
from flopwise.campaign.summary import campaign_rows, pareto_fronts
from flopwise.store import Store


class FakeExecutor(Executor):
    """Answers each job at once with ``results(job)`` (a worker's result dict)."""

    name = "fake"

    def __init__(self, results) -> None:
        self.results, self.queue = results, []

    def submit(self, job) -> None:
        self.queue.append(job)

    def poll(self, timeout: float) -> list[tuple[Any, dict[str, Any]]]:
        done, self.queue = [(j, self.results(j)) for j in self.queue], []
        return done

    def outstanding(self) -> int:
        return len(self.queue)

    def close(self) -> None:
        self.queue = []


def _ok(document: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "document": document, "host": "fake-host", "elapsed_s": 0.01}


# Four models, hand-picked: (FLOPs, accuracy, latency on cpu, latency on the GPU kind).
# Real names (a plan refuses a model no source knows), called a, b, c, d in the comments;
# the figures are made up.
MODELS = {
    "torchvision:alexnet": (100, 70.0, 1.0, 0.10),
    "torchvision:resnet18": (200, 75.0, 2.0, 0.05),  # on the GPU b beats a on both axes
    "torchvision:vgg11": (300, 72.0, 3.0, 0.30),  # dominated by b everywhere (slower, worse)
    "torchvision:vit_b_16": (400, 80.0, 4.0, 0.40),
}


def _documents(energy: dict[tuple[str, str], float] | None = None):
    def results(job) -> dict[str, Any]:
        flops, _, cpu, gpu = MODELS[job.model]
        doc: dict[str, Any] = {
            "schema": "flopwise.profile/1",
            "model": job.model,
            "totals": {"flops": flops, "macs": flops // 2, "params": 1},
        }
        if job.action == "measure":
            doc["measured"] = {"latency": {"median_s": cpu if job.device == "cpu" else gpu}}
            if energy and (job.model, job.device) in energy:
                doc["energy"] = {"joules_per_run": energy[(job.model, job.device)]}
        return _ok(doc)

    return results


def _plan(accuracy: bool):
    data: dict[str, Any] = {
        "name": "pareto",
        "models": list(MODELS),
        "actions": ["count", "measure"],
        "devices": ["cpu", "nvidia-l4"],
    }
    if accuracy:
        # Keyed three ways: the spec, the bare name, and one model left without accuracy.
        data["accuracy"] = {
            "torchvision:alexnet": 70.0,
            "resnet18": 75.0,
            "torchvision:vgg11": 72.0,
        }
    return expand_plan(data)


def _front(fronts, device):
    return [
        (p["model"].rpartition(":")[2], p["cost"], p["benefit"]) for p in fronts[device]["front"]
    ]


def test_pareto_front_against_flops_per_device(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        result = run_campaign(_plan(accuracy=False), store, FakeExecutor(_documents()))
        assert result.count("ok") == 4 * 3
        fronts = pareto_fronts(campaign_rows(store, "pareto"))
    # Latency against FLOPs (more FLOPs is the benefit). On the CPU latency grows with the
    # FLOPs, so no model beats another on both: all four are on the front.
    assert fronts["cpu"]["cost"] == "latency" and fronts["cpu"]["benefit"] == "flops"
    assert [m for m, _, _ in _front(fronts, "cpu")] == ["alexnet", "resnet18", "vgg11", "vit_b_16"]
    # On the L4, b (0.05 s, 200 FLOPs) dominates a (0.10 s, 100 FLOPs); c and d are slower
    # with more FLOPs and stay. Sorted by cost.
    assert _front(fronts, "nvidia-l4") == [
        ("resnet18", 0.05, 200.0),
        ("vgg11", 0.3, 300.0),
        ("vit_b_16", 0.4, 400.0),
    ]
    assert fronts["nvidia-l4"]["n"] == 4 and fronts["nvidia-l4"]["left_out"] == 0


def test_pareto_front_against_the_plans_accuracy_and_energy(tmp_path):
    # Energy measured on the CPU only: there it replaces latency as the cost. d is the
    # cheapest but has no accuracy in the plan's table, so it is left out.
    energy = {
        ("torchvision:alexnet", "cpu"): 5.0,
        ("torchvision:resnet18", "cpu"): 4.0,
        ("torchvision:vgg11", "cpu"): 3.0,
        ("torchvision:vit_b_16", "cpu"): 1.0,
    }
    with Store(tmp_path / "r.sqlite") as store:
        run_campaign(_plan(accuracy=True), store, FakeExecutor(_documents(energy)))
        rows = campaign_rows(store, "pareto")
        fronts = pareto_fronts(rows)
    assert {r["model"]: r["accuracy"] for r in rows} == {
        "torchvision:alexnet": 70.0,
        "torchvision:resnet18": 75.0,
        "torchvision:vgg11": 72.0,
        "torchvision:vit_b_16": None,  # not in the table: left out of the fronts
    }
    cpu = fronts["cpu"]
    assert (cpu["cost"], cpu["benefit"], cpu["n"], cpu["left_out"]) == ("energy", "accuracy", 3, 1)
    # a (5 J, 70) is dominated by c (3 J, 72) and by b (4 J, 75); c and b trade off.
    assert _front(fronts, "cpu") == [("vgg11", 3.0, 72.0), ("resnet18", 4.0, 75.0)]
    # The L4 has no energy: latency. b (0.05 s, 75) dominates a and c.
    l4 = fronts["nvidia-l4"]
    assert (l4["cost"], l4["benefit"]) == ("latency", "accuracy")
    assert _front(fronts, "nvidia-l4") == [("resnet18", 0.05, 75.0)]


def test_report_campaign_prints_the_fronts(tmp_path, capsys):
    from flopwise.cli import main

    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        run_campaign(_plan(accuracy=True), store, FakeExecutor(_documents()))
    assert main(["report", "--campaign", "pareto", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    # rich wraps a title or caption to its table's width: compare without line breaks.
    flat = " ".join(out.split())
    assert "cpu · Pareto front, latency against accuracy" in flat
    assert "nvidia-l4 · Pareto front, latency against accuracy" in flat
    assert "1 of 3 model × input rows on the front; 1 without latency or accuracy left out" in flat


def test_plan_accuracy_finds_specs_names_and_grid_points(tmp_path):
    (tmp_path / "models.py").write_text(FACTORY)
    accuracy = {
        "torchvision:alexnet": 1.0,  # a spec
        "resnet18": 2.0,  # a bare name
        "models.py:mlp(depth=1,width=8)": 3.0,  # a grid point, file without its folder
        "mlp(depth=2,width=8)": 4.0,  # a grid point without the file
        "mlp": 5.0,  # the factory: every other grid point
    }
    plan = expand_plan(
        {
            "models": ["torchvision:alexnet", "torchvision:resnet18", "torchvision:vgg11"],
            "factories": {"path": "models.py:mlp", "grid": {"width": [8, 16], "depth": [1, 2]}},
            "accuracy": accuracy,
        },
        base=tmp_path,
    )
    got = {job.label.rpartition("/")[2]: plan.accuracy_of(job) for job in plan.jobs}
    assert got == {
        "torchvision:alexnet": 1.0,
        "torchvision:resnet18": 2.0,
        "torchvision:vgg11": None,
        "models.py:mlp(depth=1,width=8)": 3.0,
        "models.py:mlp(depth=2,width=8)": 4.0,
        "models.py:mlp(depth=1,width=16)": 5.0,
        "models.py:mlp(depth=2,width=16)": 5.0,
    }


def test_plan_accuracy_table_is_checked():
    from flopwise.campaign import PlanError

    with pytest.raises(PlanError, match=r"\[accuracy\]"):
        expand_plan({"models": ["torchvision:alexnet"], "accuracy": {"alexnet": "high"}})
    # The table changes no measurement: the plan hash ignores it.
    base = {"models": ["torchvision:alexnet"]}
    assert expand_plan(base).hash == expand_plan({**base, "accuracy": {"alexnet": 1.0}}).hash


# -- predict --calibrate --from-campaign ----------------------------------------------------

FACTORY = """
import torch
from torch import nn


def mlp(width=4, depth=1):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers), (torch.randn(2, width),)
"""

WIDTHS, DEPTHS = (8, 16, 32, 64), (1, 2)
FAILING_WIDTH = 64  # its timing job fails on the GPU kind: not a sample there


def _timed_campaign(tmp_path):
    """A campaign of 8 MLPs timed on cpu and nvidia-l4 (fake timings: 20 µs + 1 ns ·
    width² · depth; width 64 fails on the L4), stored in ``tmp_path / "r.sqlite"``."""
    from flopwise.measure.hardware import get_profile

    (tmp_path / "models.py").write_text(FACTORY)
    hardware = get_profile("amd-epyc-9654").to_dict()
    plan = expand_plan(
        {
            "name": "cal",
            "retries": 0,
            "actions": ["measure"],
            "devices": ["cpu", "nvidia-l4"],
            "factories": {
                "path": "models.py:mlp",
                "grid": {"width": list(WIDTHS), "depth": list(DEPTHS)},
            },
        },
        base=tmp_path,
    )

    def results(job) -> dict[str, Any]:
        params = dict(job.params)
        if job.device == "nvidia-l4" and params["width"] == FAILING_WIDTH:
            return {"ok": False, "error": "RuntimeError: out of memory", "host": "fake-host"}
        seconds = 20e-6 + 1e-9 * params["width"] ** 2 * params["depth"]
        measured = {
            "latency": {"median_s": seconds, "rel_iqr": 0.01, "repeats": 50, "trustworthy": True},
            "threads": 4,
            "hardware": hardware,
        }
        doc = {"schema": "flopwise.profile/1", "model": job.label, "measured": measured}
        return _ok(doc)

    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        result = run_campaign(plan, store, FakeExecutor(results))
    assert result.count("ok") == 2 * len(WIDTHS) * len(DEPTHS) - len(DEPTHS)
    return db, results


def test_calibration_from_a_campaigns_timings(tmp_path):
    from flopwise.pipeline import campaign_calibration

    db, _ = _timed_campaign(tmp_path)
    doc = campaign_calibration("cal", db, device="cpu")
    # One sample per timed job on the CPU, one cross-validation fold per grid point.
    assert len(doc["samples"]) == len(WIDTHS) * len(DEPTHS)
    assert doc["cross_validation"]["folds"] == len(WIDTHS) * len(DEPTHS)
    assert doc["campaign"] == {"name": "cal", "device": "cpu", "jobs": len(WIDTHS) * len(DEPTHS)}
    for rec in doc["samples"]:
        grid = dict(x.split("=") for x in rec["group"][:-1].split("(")[1].split(","))
        width, depth = int(grid["width"]), int(grid["depth"])
        assert rec["measured_s"] == pytest.approx(20e-6 + 1e-9 * width**2 * depth)
        # Recounted on meta tensors: depth Linear(width, width) layers on a batch of 2.
        assert rec["flops"] >= depth * 2 * 2 * width * width
    assert doc["hardware"]["name"] == doc["device"]["model"]
    # The GPU kind lost its width-64 jobs: fewer samples there.
    gpu = campaign_calibration("cal", db, device="cuda")
    assert len(gpu["samples"]) == (len(WIDTHS) - 1) * len(DEPTHS)
    from flopwise.errors import FlopwiseError

    with pytest.raises(FlopwiseError, match="selects 2 of the campaign's timed device kinds"):
        campaign_calibration("cal", db, device="auto")
    with pytest.raises(FlopwiseError, match="no campaign 'nothing' .*; known: cal"):
        campaign_calibration("nothing", db)


def test_cli_calibrate_from_campaign_writes_the_file(tmp_path, capsys):
    from flopwise.cli import main

    db, _ = _timed_campaign(tmp_path)
    out_file = tmp_path / "cal.json"
    args = ["predict", "--calibrate", "--from-campaign", "cal", "--db", str(db)]
    assert main([*args, "--device", "cpu", "--calibration", str(out_file)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    doc = json.loads(out_file.read_text())
    n = len(WIDTHS) * len(DEPTHS)
    assert len(doc["samples"]) == n
    assert f"calibrated on {n} runs of {n} models" in said
    assert "timings of campaign cal" in said
    mape = doc["cross_validation"]["mape"]
    assert f"leave-one-model-out error: MAPE {mape:.1%}" in said
    # Timed on a fake host: no default cache file may be taken for this machine's.
    assert main([*args, "--device", "cpu"]) == 2  # a usage error
    assert "--calibration FILE" in " ".join(capsys.readouterr().err.split())


def test_ecosystem_coverage_plan_has_the_benchmarks_scope():
    """The committed plan names what benchmarks/ecosystem_coverage.py counts: every
    torchvision builder, every timm model, the built-in hf configs and the extra ones."""
    pytest.importorskip("timm")
    pytest.importorskip("torchvision")
    from pathlib import Path

    import timm
    import torchvision.models as tvm

    from flopwise.campaign import load_plan
    from flopwise.sources.hf_configs import list_builtin

    root = Path(__file__).resolve().parents[1]
    plan = load_plan(root / "benchmarks" / "ecosystem_coverage.toml")
    extra = sorted((root / "benchmarks" / "configs" / "ecosystem").glob("*.json"))
    expected = (
        {f"torchvision:{n}" for n in tvm.list_models()}
        | {f"timm:{n}" for n in timm.list_models()}
        | {f"hf:{n}" for n in list_builtin()}
        | {f"hf:benchmarks/configs/ecosystem/{p.name}" for p in extra}
    )
    assert {j.model for j in plan.jobs} == expected
    assert len(plan.jobs) == len(expected)  # one count job per model, default inputs
    assert {(j.action, j.device, j.inputs) for j in plan.jobs} == {("count", "meta", ())}
