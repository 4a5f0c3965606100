"""The store API (flopwise.pipeline.history): what the history, diff, export and report
commands call, on hand-built documents in a temporary database."""

from __future__ import annotations

import json

import pytest

from flopwise.cli import main
from flopwise.errors import FlopwiseError
from flopwise.pipeline import diff_runs, export_run, list_runs, load_run, save_run
from flopwise.pipeline.history import parse_metrics
from test_report_html_fixtures import mlp_document


def test_save_list_load_export_round_trip(tmp_path):
    db = tmp_path / "r.sqlite"
    first = save_run(mlp_document(64), "profile", db=db)
    second = save_run(mlp_document(96), "measure", db=db)
    runs = list_runs(db=db)
    assert [r.id for r in runs.runs] == [second, first] and runs.db == db
    assert [r.id for r in list_runs(db=db, kind="measure").runs] == [second]
    doc, label = load_run("latest~1", db)
    assert doc == mlp_document(64) and label == f"run {first}"
    assert json.loads(export_run(str(first), db=db)) == mlp_document(64)
    assert export_run("latest", fmt="csv", db=db).startswith("path,type,depth")


def test_list_runs_never_creates_a_database_and_explains_exact_names(tmp_path):
    missing = tmp_path / "none.sqlite"
    result = list_runs("tests:ml", db=missing)
    assert result.runs == [] and not missing.exists()
    assert result.hint == " (model names match exactly; for a pattern use *, e.g. 'tests:ml*')"
    assert list_runs("tests:*", db=missing).hint == ""
    with pytest.raises(FlopwiseError, match="not a run kind"):
        list_runs(db=missing, kind="nope")
    with pytest.raises(FlopwiseError, match="--limit must be >= 1"):
        list_runs(db=missing, limit=0)


def test_diff_runs_counts_gates_and_time_column(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(mlp_document(64)))
    b.write_text(json.dumps(mlp_document(96)))
    result = diff_runs(str(a), str(b), fail_over=["params=10%", "flops=100%"])
    assert (result.label_a, result.label_b) == ("a.json", "b.json")
    assert [str(t) for t in result.thresholds] == ["params=10%", "flops=100%"]
    assert [v.metric for v in result.violations] == ["params"]
    assert result.metrics == ["flops", "bytes", "params", "time"]  # both runs are timed
    assert result.counts["changed"] > 0 and all(r.status != "same" for r in result.visible)
    assert result.to_dict()["violations"] == [v.describe() for v in result.violations]
    same = diff_runs(str(a), str(a), show_all=True, depth=0)
    assert same.violations == [] and [r.depth for r in same.visible] == [0]


def test_parse_metrics():
    assert parse_metrics(None) == ["flops", "bytes", "params", "time"]
    assert parse_metrics(["macs,flops", "macs"]) == ["macs", "flops"]
    with pytest.raises(FlopwiseError, match="unknown metric 'speed'"):
        parse_metrics(["speed"])


def test_history_format_is_checked_before_any_work(tmp_path, capsys):
    assert main(["history", "--db", str(tmp_path / "x.sqlite"), "--format", "yaml"]) == 2
    assert "table, json" in capsys.readouterr().err
