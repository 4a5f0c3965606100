"""The versioned profile document (report/json.py) read back into a Profile: the same
section types, and the same document when written again."""

from __future__ import annotations

import json

import pytest

from flopwise.errors import FlopwiseError
from flopwise.pipeline import MeasureOptions, run_profile
from flopwise.report.json import SCHEMA, profile_document, profile_from_document
from flopwise.report.table import render_text
from flopwise.sections import Alpha, Measured, ModuleTiming, Source, TrainingClosedForms

MODEL = """
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))"""


def _roundtrip(doc: dict) -> dict:
    # Through JSON text, as a stored run is read back.
    return profile_document(profile_from_document(json.loads(json.dumps(doc))))


def test_counted_training_profile_roundtrips_with_typed_sections():
    prof = run_profile("hf:tiny-llama", ["input_ids=2x16:int64"], device="meta", train=True)
    assert isinstance(prof.source, Source) and prof.source.spec == "hf:tiny-llama"
    assert isinstance(prof.alpha, Alpha) and prof.alpha.per_module
    assert isinstance(prof.training_closed_forms, TrainingClosedForms)
    assert prof.training_closed_forms.tokens == 32
    doc = profile_document(prof)
    assert doc["schema"] == SCHEMA and "measured" not in doc
    back = profile_from_document(doc)
    assert back.training_closed_forms == prof.training_closed_forms
    assert back.alpha.per_module == {
        m.path: prof.alpha.per_module.get(m.path, 0.0) for m in prof.modules
    }
    assert _roundtrip(doc) == doc
    assert render_text(back) == render_text(prof)  # the table needs no op records


def test_measured_profile_roundtrips_with_typed_sections(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "tiny.py"
    path.write_text(MODEL)
    prof = run_profile(
        f"{path}:build",
        ["2x3x8x8"],
        device="cpu",
        measure=MeasureOptions(repeats=3, hardware="a100"),
    )
    m = prof.measured
    assert isinstance(m, Measured) and m.latency.repeats >= 3
    assert isinstance(m.modules["0"], ModuleTiming) and m.module_time("") is not None
    assert m.hardware is not None and m.roofline is not None and m.roofline.summary is not None
    doc = profile_document(prof)
    assert list(doc["measured"])[-3:] == ["hardware", "roofline", "modules"]
    back = profile_from_document(json.loads(json.dumps(doc)))
    assert back.measured.roofline.summary == m.roofline.summary
    assert _roundtrip(doc) == doc
    assert json.dumps(_roundtrip(doc)) == json.dumps(doc)  # same keys in the same order


def test_unknown_keys_survive_a_read_and_write():
    prof = run_profile("hf:tiny-llama", ["input_ids=1x8:int64"], device="meta")
    doc = profile_document(prof)
    doc["alpha"]["from_a_newer_writer"] = 1
    doc["measured"] = {"latency": {"median_s": 0.5, "new_figure": 2}, "device": "cpu"}
    again = _roundtrip(doc)
    assert again["alpha"]["from_a_newer_writer"] == 1
    assert again["measured"]["latency"]["new_figure"] == 2
    assert profile_from_document(doc).measured.latency.median_s == 0.5


def test_a_document_of_another_schema_is_refused():
    with pytest.raises(FlopwiseError, match="flopwise.profile/1"):
        profile_from_document({"schema": "flopwise.sweep/1"})
    with pytest.raises(FlopwiseError, match="readable count"):
        profile_from_document({"schema": SCHEMA, "model": "m"})


def test_a_stored_run_loads_into_the_same_types(tmp_path):
    from flopwise.pipeline import stored_profile
    from flopwise.profile import Profile
    from flopwise.store import Store

    prof = run_profile("hf:tiny-llama", ["input_ids=1x8:int64"], device="meta", train=True)
    db = tmp_path / "runs.sqlite"
    with Store(db) as store:
        run_id = store.save_profile(prof.to_dict())
    back = stored_profile(run_id, db=db)
    assert isinstance(back.training_closed_forms, TrainingClosedForms)
    assert back.alpha.alpha_macs == prof.alpha.alpha_macs
    assert stored_profile(db=db).to_dict() == prof.to_dict() == back.to_dict()
    assert Profile.from_dict(prof.to_dict()).to_dict() == prof.to_dict()
