"""What commands keep in the results store: runs saved before their output is written,
sweeps and comparisons saved as their own kinds, a sweep point the model rejects kept in
its row, and `fit-alpha --save` not merging the host profile with itself."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from flopwise.cli import main
from flopwise.store import Store

MODELS = '''
import torch
from torch import nn


def mlp():
    return nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)), (torch.randn(2, 16),)


class Positional(nn.Module):
    """A position table of 8 rows, like BERT's 512: longer sequences are rejected."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(50, 4)
        self.pos = nn.Embedding(8, 4)
        self.out = nn.Linear(4, 3)

    def forward(self, ids):
        return self.out(self.tok(ids) + self.pos.weight[: ids.shape[1]])


def positional():
    return Positional(), (torch.zeros(1, 4, dtype=torch.long),)
'''


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def _runs():
    with Store() as store:  # FLOPWISE_DB: the test's own file (conftest)
        return [(r.kind, r.model, store.get(r.id)) for r in store.list_runs(limit=None)]


@pytest.mark.measure
def test_measured_run_is_saved_before_a_bad_output_path(models, tmp_path, monkeypatch, capsys):
    argv = [
        "profile",
        f"{models}:mlp",
        "--measure",
        "--repeats",
        "3",
        "--no-progress",
        "-f",
        "json",
    ]
    # A folder that can never be made (a file stands in its way) is refused before anything
    # runs: nothing measured, nothing to lose. (A merely missing folder is made.)
    blocker = tmp_path / "no"
    blocker.write_text("")
    assert main([*argv, "-o", str(blocker / "such" / "dir" / "run.json")]) == 2
    assert "is a file" in capsys.readouterr().err and _runs() == []
    # A write that fails only at the end (disk full, permissions) finds the run saved.
    out = tmp_path / "run.json"
    real_write = Path.write_text

    def failing_write(self, *a, **k):
        if self == out:
            raise OSError(28, "No space left on device", str(self))
        return real_write(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", failing_write)
    assert main([*argv, "-o", str(out)]) != 0
    assert not out.exists()
    assert "saved as run 1" in capsys.readouterr().err
    [(kind, model, doc)] = _runs()
    assert kind == "measure" and model == f"{models}:mlp"
    assert doc["measured"]["latency"]["repeats"] >= 3  # the measurement itself was kept
    assert doc["totals"]["macs"] == 2 * (16 * 8 + 8 * 4)


def test_a_store_that_cannot_save_does_not_stop_the_output(models, tmp_path, monkeypatch, capsys):
    foreign = tmp_path / "other.sqlite"
    import sqlite3

    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = foreign.read_bytes()
    monkeypatch.setenv("FLOPWISE_DB", str(foreign))
    out = tmp_path / "run.json"
    assert main(["profile", f"{models}:mlp", "-f", "json", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: could not save the run" in err and "not a flopwise results database" in err
    assert json.loads(out.read_text())["totals"]["macs"] == 2 * (16 * 8 + 8 * 4)
    assert foreign.read_bytes() == before


def test_sweep_and_compare_runs_are_saved(models, capsys):
    sweep = ["sweep", f"{models}:mlp", "--dim", "batch=1,2,4", "--no-measure", "-f", "json"]
    assert main(sweep) == 0
    sweep_doc = json.loads(capsys.readouterr().out)
    assert (
        main(["compare", f"{models}:mlp", f"{models}:mlp@4x16", "--no-measure", "-f", "json"]) == 0
    )
    compare_doc = json.loads(capsys.readouterr().out)
    assert main([*sweep, "--no-save"]) == 0
    capsys.readouterr()
    runs = _runs()
    assert [kind for kind, _, _ in runs] == ["compare", "sweep"]  # --no-save added none
    assert runs[1][1] == f"{models}:mlp" and runs[1][2] == sweep_doc
    assert runs[0][2] == compare_doc
    assert main(["history", "--kind", "sweep", "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["kind"] == "sweep" and row["model"] == f"{models}:mlp"


def test_sweep_point_the_model_rejects_keeps_its_row(models, capsys):
    argv = ["sweep", f"{models}:positional", "--dim", "seq=2,4,8,16", "--dim", "batch=1,3"]
    assert main([*argv, "--no-measure", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by = {(p["dim"], p["value"]): p for p in doc["points"]}
    assert sorted(by) == [("batch", 3), ("seq", 2), ("seq", 4), ("seq", 8), ("seq", 16)]
    bad = by[("seq", 16)]
    assert bad["error"] and "16" in bad["error"] and bad["flops"] is None
    assert bad["inputs"][0]["shape"] == [1, 16]
    # the kept points are counted as usual: Linear(4, 3) per position, one add per element
    for (dim, value), p in by.items():
        if p["error"]:
            continue
        batch, seq = (value, 4) if dim == "batch" else (1, value)
        assert p["macs"] == batch * seq * 4 * 3
        assert p["error"] is None
    fits = {f["dim"]: f for f in doc["fits"]}
    assert fits["seq"]["values"] == [2, 4, 8]  # fitted without the rejected point
    assert fits["seq"]["exponents"]["flops"]["exponent"] == pytest.approx(1.0)
    assert main([*argv, "--no-measure", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "rejected by the model" in out and "seq=16 rejected" in out
    # every point rejected: nothing to show, one error line
    assert main(["sweep", f"{models}:positional", "--dim", "seq=9,16", "--no-measure"]) != 0
    assert "rejected every point" in capsys.readouterr().err


@pytest.mark.measure
def test_measured_sweep_skips_the_rejected_point(models, capsys):
    argv = ["sweep", f"{models}:positional", "--dim", "seq=4,8,16", "--budget", "0.05"]
    assert main([*argv, "--no-progress", "-f", "json", "--no-save"]) == 0
    doc = json.loads(capsys.readouterr().out)
    times = {p["value"]: p["seconds"] for p in doc["points"]}
    assert times[16] is None and times[4] is not None and times[8] is not None


def _measured_host(tmp_path):
    from flopwise.measure.hardware import HardwareProfile, host_profile_path

    prof = HardwareProfile(
        name="host",
        kind="cpu",
        peak_flops={"float32": 1e11},
        memory_bandwidth=2e10,
        launch_overhead_s=3e-6,
        source="measured on h 2026-11-30 00:00 UTC (cpu, 2 threads, torch x)",
        details={"measured": True, "host": "h", "device": "cpu", "threads": 2, "torch": "x"},
    )
    path = host_profile_path()
    prof.save(path)
    return path, prof


def test_fit_alpha_save_does_not_merge_the_profile_with_itself(tmp_path, monkeypatch, capsys):
    from flopwise.analysis.fit import generate_grid, write_layers_csv
    from flopwise.measure import hardware as hw

    sys.path.insert(0, str(Path(__file__).parent))
    from test_fit_alpha_cli import TRUE

    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    path, original = _measured_host(tmp_path)
    from flopwise.analysis.alpha import alpha_array
    from flopwise.analysis.fit import LayerTable

    specs = generate_grid("small")
    rows = [(s.plot, s.line, s.h, s.w, s.cin, s.cout, s.k1, s.k2, 1.0) for s in specs]
    shapes = LayerTable.from_rows(rows)
    t = TRUE.seconds_per_mac * alpha_array(shapes.spatial, shapes.kernel, TRUE) * shapes.macs
    csv = tmp_path / "layers.csv"
    table = LayerTable.from_rows([(*r[:8], float(x)) for r, x in zip(rows, t, strict=True)])
    write_layers_csv(table, csv)
    for _ in range(2):  # twice: neither save counts as a measurement
        assert main(["fit-alpha", "--csv", str(csv), "--save", "-f", "json"]) == 0
        capsys.readouterr()
        saved = hw.HardwareProfile.load(path)
        assert saved.alpha is not None
        assert saved.source == original.source  # no "best of 2 measurements"
        assert "measurements" not in saved.details and "history" not in saved.details
        assert saved.peak_flops == original.peak_flops
    # saving the loaded profile through the merging path is not a second measurement either
    hw.save_profile(hw.HardwareProfile.load(path), path)
    assert "best of" not in hw.HardwareProfile.load(path).source


def test_merged_source_says_the_count_once(tmp_path):
    from flopwise.measure import hardware as hw

    path = tmp_path / "host.json"
    base = hw.HardwareProfile(
        name="host",
        kind="cpu",
        peak_flops={"float32": 1e11},
        memory_bandwidth=2e10,
        source="run",
        details={"measured": True, "host": "h", "device": "cpu", "threads": 2, "torch": "x"},
    )
    for i in range(3):
        hw.save_profile(dataclasses.replace(base, details={**base.details, "run": i}), path)
    merged = hw.HardwareProfile.load(path)
    assert merged.details["measurements"] == 3
    assert merged.source == "run; ceilings are the best of 3 measurements"


def test_profile_into_a_readonly_store_warns_in_one_line(models, tmp_path, monkeypatch, capsys):
    import os

    db = tmp_path / "ro" / "results.sqlite"
    monkeypatch.setenv("FLOPWISE_DB", str(db))
    assert main(["profile", f"{models}:mlp", "-f", "json"]) == 0
    capsys.readouterr()
    before = db.read_bytes()
    real = os.access
    folder = str(db.parent)

    def access(path, mode, *a, **k):  # tests run as root, for whom chmod denies nothing
        p = os.path.abspath(path)
        if mode & os.W_OK and (p == folder or os.path.dirname(p) == folder):
            return False
        return real(path, mode, *a, **k)

    monkeypatch.setattr(os, "access", access)
    assert main(["profile", f"{models}:mlp", "-f", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["totals"]["macs"] == 2 * (16 * 8 + 8 * 4)
    [line] = captured.err.strip().splitlines()
    assert line.startswith("warning: could not save the run") and "read-only" in line
    assert db.read_bytes() == before
    assert main(["history", "--format", "json"]) == 0  # and the store is still readable
    assert len(json.loads(capsys.readouterr().out)) == 1
