"""The CLI contract (issue 12): every error is exactly one line on stderr that names what is at
fault, with no traceback; exit 2 for a usage error or bad input, 1 only for a failed gate
(``diff --fail-over`` on a real regression), 3 for a flopwise bug; no option is silently
ignored; tables print whole values off a terminal; JSON is strict."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from flopwise import cli
from flopwise.cli import main

MODELS = '''
import torch
from torch import nn


def lin():
    return nn.Linear(8, 4), (torch.randn(2, 8),)


def wide():
    return nn.Linear(8, 64), (torch.randn(2, 8),)


def bare():
    return nn.Linear(8, 4)


def conv():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (torch.randn(1, 3, 8, 8),)


def nothing():
    return nn.Identity(), (torch.randn(2, 8),)


class Late(nn.Module):
    """conv runs to completion; the root's own code fails after it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x).view(7, -1, 13)


class Broken(nn.Module):
    def forward(self, x):
        raise ValueError("unsupported mode 'foo'")


class Wrap(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = nn.Linear(8, 8)
        self.block = nn.Sequential(Broken())
        self.post = nn.Linear(8, 8)

    def forward(self, x):
        return self.post(self.block(self.pre(x)))


def late():
    return Late(), (torch.randn(1, 3, 8, 8),)


def wrap():
    return Wrap(), (torch.randn(2, 8),)
'''

BIG = "99999999999999999999999"  # past SQLite's 64-bit integers


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Inputs the cases refer to as {name}: a model file, documents, configs, a store."""
    d = tmp_path_factory.mktemp("contract")
    (d / "models.py").write_text(MODELS)
    m = f"{d / 'models.py'}"
    paths = {"dir": str(d), "m": m}
    env = {"FLOPWISE_DB": str(d / "setup.sqlite"), "FLOPWISE_CACHE_DIR": str(d / "cache")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for name in ("lin", "wide"):
            out = d / f"{name}.json"
            assert main(["profile", f"{m}:{name}", "-f", "json", "-o", str(out), "--no-save"]) == 0
            paths[name] = str(out)
        db = d / "runs.sqlite"
        from flopwise.store import Store

        with Store(db) as store:
            store.save_profile(json.loads(Path(paths["lin"]).read_text()))
        paths["db"] = str(db)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    llama = {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "vocab_size": 100,
    }
    for name, change in (
        ("cfg_str", {"hidden_size": "abc"}),
        ("cfg_neg", {"hidden_size": -64}),
        ("cfg_zero_heads", {"num_attention_heads": 0}),
        ("cfg_null_vocab", {"vocab_size": None}),
    ):
        cfg = d / name / "config.json"
        cfg.parent.mkdir()
        cfg.write_text(json.dumps({**llama, **change}))
        paths[name] = str(cfg)
    (d / "list.json").write_text("[1, 2]")
    paths["list"] = str(d / "list.json")
    (d / "half_cal.json").write_text(json.dumps({"schema": _calibration_schema()}))
    paths["half_cal"] = str(d / "half_cal.json")
    return paths


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line(err: str, *needles: str) -> None:
    """Exactly one line, an ``error:`` line, naming every needle; no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not named in: {lines[0]}"


def _calibration_schema() -> str:
    from flopwise.pipeline import CALIBRATION_SCHEMA

    return CALIBRATION_SCHEMA


# (argv, exit code, what the one line must name); {key} is filled from `files`.
CASES = [
    # usage errors exit 2, never 1 (1 is diff's "regression")
    (["diff", "{lin}", "{wide}", "--fail-ovr", "flops=1%"], 2, ["--fail-ovr", "--fail-over"]),
    (["profile", "{m}:lin", "--formt", "json"], 2, ["--formt"]),
    (["profile", "{m}:lin", "-f", "xml"], 2, ["--format", "xml"]),
    (["diff", "{lin}"], 2, ["Missing argument"]),
    (["nosuchcommand"], 2, ["nosuchcommand"]),
    # the gate: exit 1 exactly, one line
    (["diff", "{lin}", "{wide}", "--fail-over", "flops=1%"], 1, ["FAIL: flops grew", "flops=1%"]),
    # bad input: one line, exit 2
    (["profile", "hf:{cfg_str}", "--no-save"], 2, ["hidden_size", "cfg_str"]),
    (["profile", "hf:{cfg_neg}", "--no-save"], 2, ["hidden_size", "-64"]),
    (["profile", "hf:{cfg_zero_heads}", "--no-save"], 2, ["num_attention_heads"]),
    (["profile", "hf:{cfg_null_vocab}", "--no-save"], 2, ["vocab_size"]),
    (["profile", "{m}:lin", "--dtype", "int64", "--no-save"], 2, ["--dtype int64"]),
    (["export", BIG, "--db", "{db}"], 2, [BIG]),
    (["diff", BIG, "{lin}", "--db", "{db}"], 2, [BIG]),
    (["diff", f"latest~{BIG}", "{lin}", "--db", "{db}"], 2, [BIG]),
    (["predict", "{m}:lin", "--calibration", "{lin}"], 2, ["lin.json", "not a flopwise predict"]),
    (["predict", "{m}:lin", "--calibration", "{list}"], 2, ["list.json", "not a flopwise predict"]),
    (["predict", "{m}:lin", "--calibration", "{half_cal}"], 2, ["half_cal.json", "incomplete"]),
    (
        ["profile", "{m}:bare", "--device", "cpu", "-i", "100000x100000x10000", "--no-save"],
        2,
        ["100000x100000x10000", "TiB", "--device meta"],
    ),
    (["profile", "{m}:lin", "--measure", "--budget", "nan", "--no-save"], 2, ["--budget", "nan"]),
    (["profile", "{m}:lin", "--measure", "--budget", "inf", "--no-save"], 2, ["--budget", "inf"]),
    (["sweep", "{m}:lin", "--dim", "batch=1,2", "--budget", "nan"], 2, ["--budget", "nan"]),
    (["compare", "{m}:lin", "--budget", "inf"], 2, ["--budget", "inf"]),
    (["hardware", "--budget", "nan"], 2, ["--budget", "nan"]),
    (["hardware", "--list", "--budget", "5"], 2, ["--budget", "--list"]),
    (["fit-alpha", "--budget", "-1"], 2, ["--budget", "-1"]),
    (["predict", "--calibrate", "--budget", "nan"], 2, ["--budget", "nan"]),
    # an output folder that can never be made (a file in its way); a missing one is made
    (["profile", "{m}:lin", "-o", "{lin}/sub/out.json", "--no-save"], 2, ["is a file"]),
    (["export", "latest", "--db", "{db}", "-o", "{lin}/x.json"], 2, ["is a file"]),
    (
        ["sweep", "{m}:lin", "--dim", "batch=1,2", "--no-measure", "-o", "{lin}/s.json"],
        2,
        ["is a file"],
    ),
    (["fit-alpha", "--csv", "{lin}", "-o", "{lin}/a.json"], 2, ["is a file"]),
    (["compare", "{m}:lin", "--no-measure", "-o", "{lin}/c.json"], 2, ["is a file"]),
    (["report", "{lin}", "-o", "{lin}/r.html"], 2, ["is a file"]),
    (["profile", "{m}:lin", "-o", "{dir}", "--no-save"], 2, ["folder"]),
    # options never silently ignored
    (["profile", "{m}:lin", "--hardware", "h100", "--no-save"], 2, ["--hardware", "--measure"]),
    (["profile", "{m}:lin", "--level", "ops", "--no-save"], 2, ["--level", "--format csv"]),
    (["profile", "{m}:lin", "-f", "csv", "--level", "op", "--no-save"], 2, ["--level", "'op'"]),
    (["profile", "{m}:lin", "-f", "json", "--depth", "2", "--no-save"], 2, ["--depth"]),
    (["profile", "{m}:lin", "--depth", "-1", "--no-save"], 2, ["--depth", "-1"]),
    (["profile", "{m}:lin", "--grid", "fr", "--no-save"], 2, ["--grid", "--energy"]),
    (["profile", "{m}:lin", "--repeats", "3", "--no-save"], 2, ["--repeats", "--measure"]),
    (["diff", "{lin}", "{wide}", "--depth", "-1"], 2, ["--depth", "-1"]),
    (["history", "--kind", "bogus"], 2, ["--kind", "bogus"]),
    (["compare", "{m}:lin", "--no-measure", "-a", "unknown=5"], 2, ["--accuracy", "unknown"]),
    (["compare", "{m}:lin", "--no-measure", "-a", "lin=nan"], 2, ["--accuracy", "lin=nan"]),
    (["compare", "{m}:lin", "--no-measure", "--budget", "3"], 2, ["--budget", "--no-measure"]),
    (["predict", "{m}:lin", "--calibration", "/nonexistent.json"], 2, ["/nonexistent.json"]),
    (["predict", "{m}:lin", "--budget", "5"], 2, ["--budget", "--calibrate"]),
    (["llm", "tiny-llama", "--metric", "0.5"], 2, ["--metric", "--rerank"]),
    (["llm", "tiny-llama", "--train", "--step-time", "1.0"], 2, ["--step-time", "--hardware"]),
    (["llm", "tiny-llama", "--step-time", "1.0", "--hardware", "h100"], 2, ["--step-time"]),
    (["llm", "tiny-llama", "--recompute"], 2, ["--recompute", "--train"]),
    # the module that raised; its own raise as raised, "rejected the input" only for
    # shape/type errors out of torch
    (
        ["profile", "{m}:wrap", "--no-save"],
        2,
        ["module 'block.0' raised ValueError: unsupported mode 'foo'"],
    ),
    (["profile", "{m}:late", "--no-save"], 2, ["module 'Late'", "shape '[7, -1, 13]'"]),
    (["profile", "{m}:conv", "-i", "1x5x8x8", "--no-save"], 2, ["module '0' rejected the input"]),
]


@pytest.mark.parametrize(("argv", "code", "needles"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_contract_case(files, capsys, argv, code, needles):
    argv = [a.format(**files) for a in argv]
    got, _out, err = run(capsys, argv)
    assert got == code, f"{argv}: exit {got}, expected {code}; stderr: {err}"
    assert_one_line(err, *needles)


def test_rejection_is_not_blamed_on_the_last_module_entered(files, capsys):
    # `pre` ran to completion before `block.0` raised; `post` never ran
    _, _, err = run(capsys, ["profile", f"{files['m']}:wrap", "--no-save"])
    assert "'pre'" not in err and "rejected the input" not in err
    _, _, err = run(capsys, ["profile", f"{files['m']}:late", "--no-save"])
    assert "'conv'" not in err


def test_success_paths_stay_quiet(files, capsys):
    # the options the cases refuse are accepted where they are used
    argv = ["profile", f"{files['m']}:lin", "-f", "csv", "--level", "ops", "--no-save"]
    code, out, err = run(capsys, argv)
    assert code == 0 and "addmm" in out, err
    code, out, _ = run(capsys, ["profile", f"{files['m']}:lin", "--depth", "0", "--no-save"])
    assert code == 0
    code, _, err = run(capsys, ["diff", files["lin"], files["lin"], "--fail-over", "flops=1%"])
    assert code == 0, err


def test_debug_after_the_subcommand(files, capsys, monkeypatch):
    monkeypatch.delenv("FLOPWISE_DEBUG", raising=False)
    code, out, err = run(capsys, ["profile", f"{files['m']}:lin", "-f", "json", "--debug"])
    assert code == 0 and json.loads(out)["totals"]["flops"] > 0, err
    from flopwise.errors import ShapeMismatch

    # --debug re-raises the error for its traceback, with the model's own exception as cause
    with pytest.raises(ShapeMismatch, match="block.0") as info:
        main(["profile", f"{files['m']}:wrap", "--no-save", "--debug"])
    assert isinstance(info.value.__cause__, ValueError)


def test_debug_subprocess_shows_the_traceback(files):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("FLOPWISE_DEBUG", None)
    argv = [sys.executable, "-m", "flopwise.cli", "profile", f"{files['m']}:wrap", "--no-save"]
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 2 and len(quiet.stderr.strip().splitlines()) == 1
    loud = subprocess.run([*argv, "--debug"], capture_output=True, text=True, timeout=300, env=env)
    assert "Traceback" in loud.stderr and "No such option" not in loud.stderr


def test_an_internal_error_is_one_line_exit_3(files, capsys, monkeypatch):
    import flopwise.pipeline

    def broken(*args, **kwargs):
        raise KeyError("flops")

    monkeypatch.setattr(flopwise.pipeline, "run_profile", broken)
    code, _, err = run(capsys, ["profile", f"{files['m']}:lin", "--no-save"])
    assert code == 3
    assert_one_line(err, "internal error", "KeyError", "--debug")


# -- click and the copy of click that recent typer vendors ---------------------------------


def _click_modules() -> list:
    import click.exceptions

    modules = [click.exceptions]
    try:
        import typer._click.exceptions as vendored
    except ImportError:  # typer < 0.20 uses click itself
        return modules
    return [*modules, vendored]


@pytest.mark.parametrize("module", _click_modules(), ids=lambda m: m.__name__)
def test_usage_errors_of_either_click_map_to_exit_2(module, capsys):
    cases = [
        (module.NoSuchOption("--fail-ovr", possibilities=["--fail-over"]), "--fail-ovr"),
        (module.BadParameter("must be > 0", param_hint="'--budget'"), "--budget"),
        (module.UsageError("Missing argument 'RUN_A'."), "RUN_A"),
    ]
    for exc, needle in cases:
        assert cli.report_error(exc) == 2
        assert_one_line(capsys.readouterr().err, needle)
    assert isinstance(cases[0][0], cli.USAGE_ERRORS)
    file_error = module.FileError("x.json", hint="gone")
    assert cli.report_error(file_error) == 2
    assert_one_line(capsys.readouterr().err, "x.json")


def test_exit_and_abort_of_every_typer_version(capsys):
    import click.exceptions
    import typer

    for exit_class in {typer.Exit, click.exceptions.Exit}:
        assert cli.report_error(exit_class(1)) == 1
        assert cli.report_error(exit_class(0)) == 0
    for abort in {typer.Abort, click.exceptions.Abort}:
        assert cli.report_error(abort()) == 130
    capsys.readouterr()


def test_flopwise_errors_keep_their_code_and_one_line(capsys):
    from flopwise.errors import FlopwiseError

    assert cli.report_error(FlopwiseError("first\nsecond")) == 2
    assert capsys.readouterr().err == "error: first second\n"


# -- the results store -------------------------------------------------------------------


def test_a_store_error_is_one_line_naming_the_file(files, capsys, monkeypatch):
    from flopwise.store import Store

    def locked(self, *args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(Store, "list_runs", locked)
    code, _, err = run(capsys, ["history", "--db", files["db"]])
    assert code == 2
    assert_one_line(err, "readonly", files["db"])


def _make_read_only(path: Path) -> bool:
    """Make ``path`` (and its folder) unwritable even for root when possible."""
    if os.geteuid() != 0:
        path.chmod(stat.S_IRUSR)
        path.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
        return True
    done = subprocess.run(["chattr", "+i", str(path), str(path.parent)], capture_output=True)
    return done.returncode == 0


def _undo_read_only(path: Path) -> None:
    if os.geteuid() != 0:
        path.parent.chmod(stat.S_IRWXU)
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    else:
        subprocess.run(["chattr", "-i", str(path.parent), str(path)], capture_output=True)


@pytest.mark.parametrize("argv", [["history"], ["diff", "latest", "latest"]])
def test_read_only_store_reads_or_fails_in_one_line(files, tmp_path, capsys, argv):
    from flopwise.store import Store

    db = tmp_path / "ro" / "runs.sqlite"
    db.parent.mkdir()
    with Store(db) as store:
        store.save_profile(json.loads(Path(files["lin"]).read_text()))
    if not _make_read_only(db):
        pytest.skip("cannot make a file read-only here")
    try:
        code, _, err = run(capsys, [*argv, "--db", str(db)])
    finally:
        _undo_read_only(db)
    # reading a read-only store may work; when it does not, it is one line naming the file
    assert code == 0 or (code == 2 and str(db) in err), err
    if code:
        assert_one_line(err)


# -- whole values off a terminal, strict JSON ----------------------------------------------


def test_llm_keeps_whole_numbers_when_piped(capsys):
    code, out, _ = run(capsys, ["llm", "llama-3-8b"])
    assert code == 0
    assert "…" not in out
    assert "7.22 TFLOPs" in out  # the prefill cell, cut to `7.22…` at 80 columns before


def test_llm_piped_from_a_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "80"}
    proc = subprocess.run(
        [sys.executable, "-m", "flopwise.cli", "llm", "llama-3-8b", "--no-ops"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout and "7.22 TFLOPs" in proc.stdout


def test_other_tables_print_whole_values_off_a_terminal(files, capsys):
    long_name = "x" * 150
    from flopwise.store import Store

    doc = json.loads(Path(files["lin"]).read_text())
    db = Path(files["dir"]) / "long.sqlite"
    with Store(db) as store:
        store.save_profile({**doc, "model": long_name})
    code, out, _ = run(capsys, ["history", "--db", str(db)])
    assert code == 0 and long_name in out and "…" not in out
    code, out, _ = run(capsys, ["hardware", "--list"])
    assert code == 0 and "…" not in out


def test_jsonout_never_writes_nan():
    from flopwise.jsonout import dumps

    text = dumps({"r2": math.nan, "x": [math.inf, -math.inf, 1.5, 2], "ok": None})
    assert json.loads(text) == {"r2": None, "x": [None, None, 1.5, 2], "ok": None}
    assert "NaN" not in text and "Infinity" not in text


def _strict(text: str):
    def refuse(name: str):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.measure
def test_compare_json_of_a_zero_flop_model_is_strict(files, capsys):
    m = files["m"]
    argv = ["compare", f"{m}:nothing", f"{m}:lin", f"{m}:wide", "--budget", "0.3"]
    code, out, err = run(capsys, [*argv, "-f", "json", "--no-progress"])
    assert code == 0, err
    doc = _strict(out)
    rows = {r["label"]: r for r in doc["rows"]}
    assert rows["nothing"]["flops"] == 0
    # log-log R² of FLOPs against time is undefined with a 0-FLOP model: null, not NaN
    flops_r2 = doc["correlations"].get("flops", {}).get("loglog_r2")
    assert flops_r2 is None or math.isfinite(flops_r2)


@pytest.mark.parametrize(
    "argv",
    [["llm", "tiny-llama", "--prompt", "128", "--gen", "16"], ["hardware", "--list", "-f", "json"]],
)
def test_a_closed_pipe_is_not_a_failed_gate(argv):
    """`flopwise ... | head`: the reader leaves early; exit 141 (SIGPIPE), not rich's exit 1
    (a regression to CI), and no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: deterministic EPIPE
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-m", "flopwise.cli", *argv],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        env=env,
    )
    os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""
