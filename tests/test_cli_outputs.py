"""Every command that writes a file follows one rule: a missing folder on the way to the
file is made (as ``mkdir -p`` would), a path that can never be written (a folder, or a file
standing where a folder must be) is refused in one line, exit 2, before any work; and each
``--output`` says so in its help."""

from __future__ import annotations

import json

import pytest
import typer.main

from flopwise.cli import app, main
from flopwise.pipeline import run_profile
from flopwise.pipeline.history import save_run

MLP = """
import torch.nn as nn
def build():
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
"""

#: What every file-writing option's help states.
RULE = "missing folders are created"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLOPWISE_HARDWARE_DIR", str(tmp_path / "hardware"))


@pytest.fixture
def mlp(tmp_path) -> str:
    path = tmp_path / "mlp.py"
    path.write_text(MLP)
    return f"{path}:build"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _argv(kind: str, mlp: str, tmp_path) -> list[str]:
    """A quick, untimed run of the command ``kind`` (no -o yet)."""
    if kind == "export":
        save_run(run_profile(mlp, ["2x16"], device="meta").to_dict(), "profile")
        return ["export", "latest"]
    if kind == "report":
        doc = tmp_path / "doc.json"
        doc.write_text(json.dumps(run_profile(mlp, ["2x16"], device="meta").to_dict()))
        return ["report", str(doc)]
    return {
        "profile": ["profile", mlp, "-i", "2x16", "--device", "meta", "--no-save", "-f", "json"],
        "sweep": ["sweep", mlp, "-i", "2x16", "-d", "batch=1,2", "--no-measure", "--no-save"],
        "compare": ["compare", mlp, "-i", "2x16", "--no-measure", "--no-save", "-f", "json"],
        "memory": ["memory", mlp, "-i", "2x16", "-f", "json"],
    }[kind]


KINDS = ["profile", "sweep", "compare", "memory", "export", "report"]


@pytest.mark.parametrize("kind", KINDS)
def test_output_into_a_missing_folder_makes_the_folder(kind, mlp, tmp_path, capsys):
    target = tmp_path / "new" / "sub" / "out.file"
    code, _, err = run(capsys, *_argv(kind, mlp, tmp_path), "-o", target)
    assert code == 0, err
    assert target.is_file() and target.stat().st_size > 0


@pytest.mark.parametrize("kind", KINDS)
def test_output_below_a_file_is_refused_before_any_work(kind, mlp, tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    code, out, err = run(capsys, *_argv(kind, mlp, tmp_path), "-o", blocker / "sub" / "out.file")
    assert code == 2 and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "notes.txt is a file" in lines[0], err
    assert blocker.read_text() == "a file, not a folder"


def _file_options() -> list[tuple[str, str, str]]:
    """(command, option, help) of every option that names a file the command writes."""
    group = typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():
        for param in command.params:
            if {"--output", "--timings", "--plot", "--plots", "--calibration"} & set(param.opts):
                found.append((name, param.opts[0], param.help or ""))
    return found


def test_every_output_option_states_the_folder_rule():
    found = _file_options()
    # Every command that writes a file; a new one must state the rule too.
    names = {name for name, _, _ in found}
    assert {
        "profile",
        "sweep",
        "compare",
        "memory",
        "export",
        "report",
        "fit-alpha",
        "predict",
    } <= names
    missing = [(name, opt) for name, opt, text in found if RULE not in text]
    assert missing == []


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_compare_output_holds_what_stdout_would_in_that_format(fmt, mlp, tmp_path, capsys):
    argv = ["compare", mlp, "-i", "2x16", "--no-measure", "--no-save", "-f", fmt]
    code, printed, err = run(capsys, *argv)
    assert code == 0, err
    target = tmp_path / "cmp.out"
    code, out, err = run(capsys, *argv, "-o", target)
    assert code == 0 and out == "", err
    assert f"wrote {target}" in err
    written = target.read_text()
    assert written.rstrip("\n") == printed.rstrip("\n")
    if fmt == "json":  # the document itself, not a summary of it
        # batch 2: two multiply-adds per weight use, one add per bias, one op per ReLU output
        linears = 2 * 2 * 16 * 32 + 2 * 32 + 2 * 2 * 32 * 4 + 2 * 4
        assert json.loads(written)["rows"][0]["flops"] == linears + 2 * 32


def test_predict_calibrate_below_a_file_is_refused_before_timing(tmp_path, capsys, monkeypatch):
    from flopwise.pipeline import predict as api

    def never(**_kw):
        raise AssertionError("timed the zoo although the file can never be written")

    monkeypatch.setattr(api, "run_calibration", never)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("")
    target = blocker / "cal.json"
    code, out, err = run(capsys, "predict", "--calibrate", "--calibration", target)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and out == "" and len(lines) == 1 and "is a file" in lines[0], err
    # the API refuses it too, before timing
    from flopwise.errors import FlopwiseError

    with pytest.raises(FlopwiseError, match="is a file"):
        api.calibrate(calibration=target)


def test_predict_calibration_into_a_missing_folder_makes_the_folder(tmp_path, monkeypatch):
    from flopwise.pipeline import predict as api

    monkeypatch.setattr(api, "run_calibration", lambda **_kw: {"schema": "stub"})
    target = tmp_path / "new" / "sub" / "cal.json"
    saved = api.calibrate(calibration=target)
    assert saved.path == target and json.loads(target.read_text()) == {"schema": "stub"}
