"""The energy and stages sections of a measured profile: typed (filled by measure), written
as the ``flopwise.energy/1`` and ``flopwise.stages/1`` documents inside the profile
document, and read back into the same types with the same document."""

from __future__ import annotations

import json

import pytest

from flopwise.pipeline import MeasureOptions, run_profile
from flopwise.report.json import profile_document, profile_from_document
from flopwise.report.table import render_text
from flopwise.sections import EndToEnd, Energy, LatencySummary, Stages, StageTiming

MODEL = """
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))"""

MODEL_WITH_INPUTS = """
import torch
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (torch.randn(2, 3, 8, 8),)"""


@pytest.mark.measure
def test_measured_profile_with_energy_and_stages_roundtrips(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "tiny.py"
    path.write_text(MODEL)
    prof = run_profile(
        f"{path}:build",
        ["2x3x8x8"],
        device="cpu",
        measure=MeasureOptions(repeats=2, hardware="a100", energy=True, stages=True),
    )
    e, st = prof.energy, prof.stages
    assert isinstance(e, Energy) and isinstance(st, Stages)
    if e.uncertainty == "estimated":  # no counter here: labelled, never "measured"
        assert e.method == "estimated" and e.measured is False and e.model
    assert e.flops_per_run == prof.totals.flops and e.items_per_run == 2
    assert e.joules_per_item == pytest.approx(e.joules_per_run / 2)
    assert e.per_module_joules_per_run is not None and "0" in e.per_module_joules_per_run
    assert st.order == list(st.stages) and isinstance(st.stages["inference"], StageTiming)
    assert isinstance(st.stages["inference"].latency, LatencySummary)
    assert isinstance(st.end_to_end, EndToEnd)

    doc = profile_document(prof)
    assert list(doc)[-3:] == ["energy", "stages", "measured"]
    text = json.dumps(doc)
    back = profile_from_document(json.loads(text))
    assert isinstance(back.energy, Energy) and isinstance(back.stages, Stages)
    assert isinstance(back.stages.stages["preprocess"], StageTiming)
    assert isinstance(back.stages.end_to_end.latency, LatencySummary)
    assert back.energy == e
    assert json.dumps(profile_document(back)) == text  # same keys, order and values
    table = render_text(back)
    assert "pipeline stages: preprocess" in table and "energy method" in table
    assert table == render_text(prof)


def test_unknown_energy_and_stage_keys_survive_a_read_and_write():
    prof = run_profile("hf:tiny-llama", ["input_ids=1x8:int64"], device="meta")
    doc = profile_document(prof)
    doc["energy"] = {**Energy().to_dict(), "from_a_newer_writer": 1}
    stage = {**StageTiming(status="measured").to_dict(), "new_figure": 2}
    doc["stages"] = {**Stages(order=["inference"]).to_dict(), "stages": {"inference": stage}}
    again = profile_document(profile_from_document(json.loads(json.dumps(doc))))
    assert json.dumps(again) == json.dumps(doc)
    assert again["energy"]["from_a_newer_writer"] == 1
    assert again["stages"]["stages"]["inference"]["new_figure"] == 2


@pytest.mark.measure
def test_compare_reads_joules_from_the_energy_section(tmp_path):
    from flopwise.pipeline.compare import run_compare

    path = tmp_path / "tiny.py"
    path.write_text(MODEL_WITH_INPUTS)
    result = run_compare(
        [(f"{path}:build", [])],
        measure=MeasureOptions(repeats=2, budget_s=2, energy=True),
        device="cpu",
    )
    row = result.rows[0]
    # energy is optional in compare: a failure would only become a note
    assert not [n for n in result.notes if "not measured" in n]
    assert row.energy_j is not None and row.energy_j > 0
    assert row.energy_method.endswith(")") and "(" in row.energy_method
