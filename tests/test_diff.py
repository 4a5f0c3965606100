"""Run diffs: the pure functions over two documents, thresholds, and ``flopwise diff`` exit
codes (0 = within limits, 1 = a gated metric grew too much, 2 = usage error), on hand-built
documents and on a real change profiled by the capture engine (one layer widened)."""

from __future__ import annotations

import json
import math

import pytest

from flopwise.cli import main
from flopwise.store import (
    Store,
    Threshold,
    check_thresholds,
    diff_documents,
    diff_totals,
    parse_threshold,
)
from flopwise.store.diff import DiffError
from test_report_html_fixtures import mlp_document


def test_diff_documents_on_a_widened_layer():
    a, b = mlp_document(64), mlp_document(96)
    rows = {r.path: r for r in diff_documents(a, b)}
    assert list(rows) == ["", "body", "body.fc1", "body.act1", "body.fc2", "body.act2", "head"]
    fc1 = rows["body.fc1"]
    assert fc1.status == "changed" and fc1.type == "Linear"
    assert fc1.delta("macs") == 8 * 32 * 96 - 8 * 32 * 64
    assert fc1.delta("params") == (32 * 96 + 96) - (32 * 64 + 64)
    assert fc1.relative("flops") == pytest.approx(0.5)
    assert fc1.delta("bytes") == 4 * (32 * 32 + 32) + 4 * 8 * 32
    assert fc1.changed("time")
    total = diff_totals(a, b)
    assert total.delta("flops") == b["totals"]["flops"] - a["totals"]["flops"]
    assert total.a["time"] == a["measured"]["latency_s"]["median_s"]
    same = diff_documents(a, mlp_document(64))
    assert all(r.status == "same" for r in same)
    assert diff_totals(a, mlp_document(64)).status == "same"


def test_added_removed_and_retyped_modules():
    a = mlp_document(64)
    b = json.loads(json.dumps(a))
    removed = b["modules"].pop(3)  # body.act1 gone
    b["modules"].append(
        {
            "path": "extra",
            "type": "Dropout",
            "depth": 1,
            "flops": 0,
            "macs": 0,
            "params": 0,
            "activations": 0,
            "bytes_read": 0,
            "bytes_written": 0,
        }
    )
    b["modules"][-2]["type"] = "LazyLinear"  # head changes type only
    rows = {r.path: r for r in diff_documents(a, b)}
    order = [r.path for r in diff_documents(a, b)]
    assert order.index("body.act1") == order.index("body.fc1") + 1  # kept in place
    assert rows["body.act1"].status == "removed"
    assert rows["body.act1"].delta("flops") == -removed["flops"]
    assert rows["extra"].status == "added" and rows["extra"].relative("params") is None
    assert math.isinf(diff_documents(b, a)[0].relative("flops") or 0) is False
    grown = {r.path: r for r in diff_documents({"modules": []}, {"modules": [a["modules"][2]]})}
    assert math.isinf(grown["body.fc1"].relative("flops"))  # from nothing: infinite growth
    assert rows["head"].status == "changed" and rows["head"].type_a == "Linear"
    assert rows["body.fc2"].status == "same"
    assert rows["extra"].to_dict()["status"] == "added"


def test_parse_threshold():
    assert parse_threshold("flops=1%") == Threshold("flops", 0.01, True)
    assert parse_threshold(" bytes = 5 % ".replace(" %", "%")) == Threshold("bytes", 0.05, True)
    assert parse_threshold("params=0") == Threshold("params", 0.0, False)
    assert parse_threshold("time=2.5e-3") == Threshold("time", 0.0025, False)
    assert str(parse_threshold("flops=1%")) == "flops=1%"
    for bad in ("flops", "flops>1%", "gflops=1%", "flops=-1%", "flops=abc"):
        with pytest.raises(DiffError):
            parse_threshold(bad)


def test_check_thresholds_totals_and_per_module():
    a, b = mlp_document(64), mlp_document(96)
    growth = b["totals"]["flops"] / a["totals"]["flops"] - 1  # ≈ +94%
    assert check_thresholds(a, b, [parse_threshold("flops=1%")])[0].metric == "flops"
    assert check_thresholds(a, b, [parse_threshold(f"flops={growth * 100 + 0.01}%")]) == []
    assert check_thresholds(b, a, [parse_threshold("flops=1%")]) == []  # shrinking never fails
    assert check_thresholds(a, a, [parse_threshold("params=0")]) == []
    assert len(check_thresholds(a, b, [parse_threshold("params=0")])) == 1
    per = check_thresholds(a, b, [parse_threshold("flops=60%")], per_module=True)
    assert {v.row.path for v in per} == {"(total)", "", "body", "body.fc2"}  # fc2: 64² → 96²
    text = per[0].describe()
    assert "flops grew +" in text and "flops=60%" in text
    unmeasured = mlp_document(64, measured=False)
    with pytest.raises(DiffError, match="no time"):
        check_thresholds(unmeasured, unmeasured, [parse_threshold("time=5%")])


def _files(tmp_path, a, b):
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a))
    pb.write_text(json.dumps(b))
    return str(pa), str(pb)


def test_cli_diff_exit_codes_on_files(tmp_path, capsys):
    a, b = _files(tmp_path, mlp_document(64), mlp_document(96))
    assert main(["diff", a, b]) == 0  # no threshold: report only
    out = capsys.readouterr().out
    assert "body.fc1" in out and "+50.00%" in out
    assert main(["diff", a, b, "--fail-over", "flops=1%"]) == 1
    err = capsys.readouterr().err
    assert "FAIL: flops grew" in err
    assert main(["diff", a, a, "--fail-over", "flops=1%", "--fail-over", "bytes=5%"]) == 0
    assert "OK:" in capsys.readouterr().out
    assert main(["diff", b, a, "--fail-over", "flops=1%"]) == 0  # a shrink passes
    assert main(["diff", a, b, "--fail-over", "flops=200%", "--fail-over", "bytes=5%"]) == 1
    assert main(["diff", a, b, "--fail-over", "flopz=1%"]) == 2
    assert main(["diff", a, str(tmp_path / "missing.json")]) == 2
    capsys.readouterr()
    assert main(["diff", a, b, "--format", "json", "--metric", "flops,params"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["delta"]["params"] == (
        mlp_document(96)["totals"]["params"] - mlp_document(64)["totals"]["params"]
    )
    assert {m["path"] for m in data["modules"]} >= {"body.fc1", "head"}


def test_cli_history_diff_export_with_store(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    with Store(db) as store:
        first = store.save_profile(mlp_document(64))
        second = store.save_profile(mlp_document(96))
    assert main(["history", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "tests:mlp" in out and str(second) in out
    assert main(["history", "tests:mlp", "--db", db, "--format", "json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [second, first]
    assert main(["diff", str(first), str(second), "--db", db, "--fail-over", "params=10%"]) == 1
    assert main(["diff", "latest~1", "latest", "--db", db, "--fail-over", "flops=100%"]) == 0
    assert main(["diff", "1", "99", "--db", db]) == 2
    capsys.readouterr()
    assert main(["export", "latest", "--db", db, "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("path,type,depth")
    out_file = tmp_path / "run.json"
    assert main(["export", str(first), "--db", db, "-o", str(out_file)]) == 0
    assert json.loads(out_file.read_text()) == mlp_document(64)
    missing = str(tmp_path / "missing.sqlite")  # readers never create a database
    assert main(["history", "--db", missing]) == 0
    assert main(["export", "1", "--db", missing]) == 2
    assert main(["diff", "1", "2", "--db", missing]) == 2
    assert not (tmp_path / "missing.sqlite").exists()


# --------------------------------------------------------------------------------------------
# a real change, counted by the capture engine


def _engine_profile(hidden: int) -> dict:
    import torch

    import flopwise

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(32, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
    )
    return flopwise.profile(model, torch.randn(4, 32)).to_dict()


def test_diff_on_real_profiles_with_one_layer_widened(tmp_path, capsys):
    base, wide = _engine_profile(64), _engine_profile(80)
    rows = {r.path: r for r in diff_documents(base, wide)}
    assert rows["0"].type == "Linear" and rows["0"].status == "changed"
    assert rows["0"].delta("macs") == 4 * 32 * (80 - 64)
    assert rows["0"].delta("params") == 32 * 16 + 16
    assert rows["2"].delta("macs") == 4 * 10 * (80 - 64)
    assert rows["2"].delta("params") == 10 * 16
    growth = wide["totals"]["flops"] / base["totals"]["flops"] - 1
    assert 0.2 < growth < 0.3
    a, b = _files(tmp_path, base, wide)
    assert main(["diff", a, b, "--fail-over", "flops=1%"]) == 1
    assert main(["diff", a, b, "--fail-over", "flops=30%", "--fail-over", "params=30%"]) == 0
    assert main(["diff", a, a, "--fail-over", "flops=0", "--fail-over", "bytes=0"]) == 0
    # stored runs diff the same way
    db = str(tmp_path / "r.sqlite")
    with Store(db) as store:
        ia, ib = store.save_profile(base), store.save_profile(wide)
    assert main(["diff", str(ia), str(ib), "--db", db, "--fail-over", "bytes=5%"]) == 1
    capsys.readouterr()
