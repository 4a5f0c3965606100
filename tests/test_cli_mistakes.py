"""The CLI under user mistakes and cross-format checks: each test is one bug found by
trying the commands the way users mistype them, or one figure that disagreed between
formats."""

from __future__ import annotations

import csv
import io
import json

import pytest

from flopwise.cli import main
from flopwise.pipeline import run_profile
from flopwise.pipeline.history import save_run
from flopwise.profile import Profile
from flopwise.report.frames import to_csv

MLP = """
import torch.nn as nn
def build():
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLOPWISE_HARDWARE_DIR", str(tmp_path / "hardware"))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err: str) -> str:
    """The single stderr line of a refused command (no traceback, no log noise)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def _measured_mlp(tmp_path) -> dict:
    """A counted MLP's document with measured per-module times written in by hand (what
    ``profile --measure`` stores), so no test times anything."""
    path = tmp_path / "mlp.py"
    path.write_text(MLP)
    doc = run_profile(f"{path}:build", ["2x16"], device="meta").to_dict()
    times = {"": 0.004, "0": 0.0015, "1": 0.0005, "2": 0.001}
    doc["measured"] = {
        "latency": {"median_s": 0.004},
        "device": "cpu",
        "modules": {p: {"time_s": t, "self_s": t, "calls": 1} for p, t in times.items()},
    }
    return doc


# -- profile --measure -f csv: the measured times were dropped --------------------------------


def test_csv_of_a_measured_profile_carries_each_modules_time(tmp_path):
    doc = _measured_mlp(tmp_path)
    rows = list(csv.DictReader(io.StringIO(to_csv(Profile.from_dict(doc)))))
    assert {r["path"]: float(r["time_s"]) for r in rows} == {
        "": 0.004,
        "0": 0.0015,
        "1": 0.0005,
        "2": 0.001,
    }


def test_csv_of_an_unmeasured_profile_has_no_time_column(tmp_path):
    doc = _measured_mlp(tmp_path)
    del doc["measured"]
    header = to_csv(Profile.from_dict(doc)).splitlines()[0]
    assert "time_s" not in header.split(",")


def test_exported_csv_of_a_measured_run_carries_each_modules_time(tmp_path, capsys):
    run_id = save_run(_measured_mlp(tmp_path), "measure")
    code, out, _ = run(capsys, "export", run_id, "-f", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["path"]: float(r["time_s"]) for r in rows}["0"] == 0.0015
    assert json.loads(json.dumps(rows))  # plain strings, one row per module
    assert len(rows) == 4


# -- profile -i SPEC:int64 into a float model: torch's log line came before ours --------------

POOL = """
import torch.nn as nn
def build():
    return nn.Sequential(nn.Flatten(0), nn.Unflatten(0, (1, 3, 8, 8)), nn.AdaptiveAvgPool2d(1))
"""


@pytest.mark.parametrize("device", ["meta", "fake"])
def test_a_rejected_input_dtype_is_one_line_on_stderr(tmp_path, capfd, device):
    # torch's fake-tensor kernel logs the failure (an "E... fake_tensor.py" line with its own
    # traceback-ish text) before raising it; the user gets only flopwise's line.
    path = tmp_path / "pool.py"
    path.write_text(POOL)
    code = main(["profile", f"{path}:build", "-i", "1x3x8x8:int64", "--device", device])
    err = capfd.readouterr().err
    assert code == 2
    line = one_error_line(err)
    assert "module '2'" in line and "torch.int64" in line


# -- a module's own raise was called "rejected the input" when its text looked like one ----

RAISERS = """
import torch
import torch.nn as nn


class Own(nn.Module):
    def __init__(self, exc):
        super().__init__()
        self.exc = exc

    def forward(self, x):
        raise self.exc


class Matmul(nn.Module):
    # the user's own line, but the torch op in it refuses the shapes
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(8, 4))

    def forward(self, x):
        return x @ self.w


def type_error():
    return nn.Sequential(nn.Linear(16, 16), Own(TypeError("unsupported mode 'foo'")))


def shape_words():
    return Own(ValueError("bad config: expected 8 heads, got 3"))


def matmul():
    return Matmul()


def linear():
    return nn.Linear(8, 4)
"""


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize(
    ("factory", "says"),
    [
        ("type_error", "module '1' raised TypeError: unsupported mode 'foo'"),
        ("shape_words", "module 'Own' raised ValueError: bad config: expected 8 heads, got 3"),
    ],
)
def test_a_modules_own_raise_is_not_called_a_rejected_input(
    tmp_path, capsys, device, factory, says
):
    path = tmp_path / "raisers.py"
    path.write_text(RAISERS)
    code, out, err = run(capsys, "profile", f"{path}:{factory}", "-i", "2x16", "--device", device)
    line = one_error_line(err)
    assert code == 2 and out == ""
    assert says in line and "rejected" not in line


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize(("factory", "module"), [("matmul", "Matmul"), ("linear", "Linear")])
def test_a_torch_op_refusing_the_shapes_is_a_rejected_input(
    tmp_path, capsys, device, factory, module
):
    # in the user's own forward (x @ w) as in torch's nn.Linear: the op raised, not the module
    path = tmp_path / "raisers.py"
    path.write_text(RAISERS)
    code, _, err = run(capsys, "profile", f"{path}:{factory}", "-i", "2x16", "--device", device)
    line = one_error_line(err)
    assert code == 2 and f"module '{module}' rejected the input" in line


# -- report: any JSON object was rendered (exit 0), and --sweep/--compare took any kind -------


@pytest.fixture
def report_files(tmp_path):
    """A profile, a sweep and a comparison document, plus JSON that is none of them."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_report_html_fixtures import cnn_document, compare_document, sweep_document

    files = {
        "profile": cnn_document(),
        "sweep": sweep_document(),
        "compare": compare_document(),
        "empty": {},
        "predict": {"schema": "flopwise.predict/1", "model": "x", "predicted_s": 1.0},
        "other": {"hello": "world"},
    }
    paths = {}
    for name, doc in files.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    return paths


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("empty", "not a flopwise profile, sweep or comparison document"),
        ("other", "not a flopwise profile, sweep or comparison document"),
        ("predict", "a flopwise.predict/1 document"),
    ],
)
def test_report_refuses_a_document_it_cannot_render(report_files, tmp_path, capsys, name, says):
    out = tmp_path / "r.html"
    code, _, err = run(capsys, "report", report_files[name], "-o", out)
    assert code == 2
    assert says in one_error_line(err) and f"{name}.json" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "given", "says"),
    [
        ("--compare", "profile", "--compare"),
        ("--compare", "sweep", "--compare"),
        ("--sweep", "compare", "--sweep"),
        ("--sweep", "profile", "--sweep"),
    ],
)
def test_report_sweep_and_compare_take_only_their_kind(
    report_files, tmp_path, capsys, option, given, says
):
    out = tmp_path / "r.html"
    code, _, err = run(
        capsys, "report", report_files["profile"], option, report_files[given], "-o", out
    )
    assert code == 2
    line = one_error_line(err)
    assert says in line and f"{given}.json" in line
    assert not out.exists()


def test_report_still_renders_each_kind(report_files, tmp_path, capsys):
    for name in ("profile", "sweep", "compare"):
        out = tmp_path / f"{name}.html"
        code, _, err = run(capsys, "report", report_files[name], "-o", out)
        assert code == 0, err
        assert out.stat().st_size > 1000
    code, _, err = run(
        capsys,
        "report",
        report_files["profile"],
        "--sweep",
        report_files["sweep"],
        "--compare",
        report_files["compare"],
        "-o",
        tmp_path / "all.html",
    )
    assert code == 0, err


# -- sweep: the input profile calls arg0 could not be swept as arg0.AXIS; batch=1,1 ran one point


def test_sweep_takes_a_positional_input_by_the_name_profile_shows():
    from flopwise.pipeline.sweep import apply_dims, base_value
    from flopwise.sources.specs import parse_input_specs

    image = parse_input_specs(["1x3x224x224"])
    assert base_value(image, "arg0.2") == 224 == base_value(image, "0.2")
    assert apply_dims(image, {"arg0.1": 1})[0].shape == (1, 1, 224, 224)
    assert apply_dims(image, {"arg0.-1": 8})[0].shape == (1, 3, 224, 8)


def test_sweep_names_the_inputs_it_has_when_a_dimension_matches_none(capsys):
    code, _, err = run(
        capsys,
        "sweep",
        "torchvision:resnet18",
        "-d",
        "input_ids.1=8,16",
        "--no-measure",
        "--no-save",
    )
    assert code == 2
    line = one_error_line(err)
    assert "input_ids.1" in line and "arg0" in line and "1x3x224x224" in line


@pytest.mark.parametrize("dim", ["batch=1,1", "res=224,224,224"])
def test_sweep_refuses_a_dimension_with_one_distinct_value(dim):
    from flopwise.errors import FlopwiseError
    from flopwise.pipeline.sweep import parse_dim

    with pytest.raises(FlopwiseError, match="two different"):
        parse_dim(dim)


# -- options the run would silently ignore ---------------------------------------------------

# A sweep that only counts: no point is timed, so a time statistic would be ignored.
_SWEEP_NO_MEASURE = ["sweep", "torchvision:resnet18", "--dim", "batch=1,2", "--no-measure"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["hardware", "--list", "--show", "h100"], "--list or --show"),
        (["hardware", "--list", "--threads", "2"], "--threads"),
        (["hardware", "--show", "h100", "--threads", "2"], "--threads"),
        (["hardware", "--show", "h100", "--replace"], "--replace"),
        (["hardware", "--list", "--device", "cuda"], "--device"),
        (["compare", "torchvision:resnet18", "--no-measure", "--threads", "2"], "--threads"),
        (_SWEEP_NO_MEASURE + ["--statistic", "min"], "--statistic"),
        (_SWEEP_NO_MEASURE + ["--statistic", "median"], "--statistic"),
    ],
)
def test_an_option_the_run_would_ignore_is_refused(capsys, argv, says):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert says in line


def test_hardware_list_and_show_alone_still_work(capsys):
    code, out, _ = run(capsys, "hardware", "--show", "h100", "-f", "json")
    assert code == 0 and json.loads(out)["name"].startswith("nvidia-h100")
    code, out, _ = run(capsys, "hardware", "--list", "-f", "json")
    assert code == 0 and len(json.loads(out)) > 3


# -- a sequence longer than a learned position table: counted on meta, refused on real tensors


POSITIONS = """
import torch
import torch.nn as nn
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(50, 8)
        self.wpe = nn.Embedding(16, 8)
        self.head = nn.Linear(8, 50)
    def forward(self, input_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        return self.head(self.wte(input_ids) + self.wpe(positions))
def build():
    return Tiny()
"""


@pytest.mark.parametrize("device", ["cpu", "meta", "fake"])
def test_more_tokens_than_the_position_table_is_refused_on_every_device(tmp_path, capfd, device):
    # On cpu torch itself raises "index out of range" (the independent check); meta and fake
    # tensors hold no values, so the lookup used to be counted as if it could run.
    path = tmp_path / "tiny.py"
    path.write_text(POSITIONS)
    code = main(["profile", f"{path}:build", "-i", "input_ids=1x17:int64", "--device", device])
    err = capfd.readouterr().err
    assert code == 2
    line = one_error_line(err)
    assert "'wpe'" in line


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_a_sequence_that_fills_the_position_table_is_counted(tmp_path, capsys, device):
    path = tmp_path / "tiny.py"
    path.write_text(POSITIONS)
    code, out, err = run(
        capsys,
        "profile",
        f"{path}:build",
        "-i",
        "input_ids=1x16:int64",
        "--device",
        device,
        "-f",
        "json",
        "--no-save",
    )
    assert code == 0, err
    # head: 16 tokens x 8 x 50 MACs, by hand
    assert json.loads(out)["totals"]["macs"] == 16 * 8 * 50


# -- profile --measure: "profile error:" in red read as if flopwise profile had failed ---------


def test_a_beaten_floor_is_called_a_hardware_profile_error(tmp_path):
    from flopwise.report.table import render_text

    doc = _measured_mlp(tmp_path)
    doc["measured"]["latency"] = {
        "median_s": 0.004,
        "min_s": 0.003,
        "rel_iqr": 0.02,
        "repeats": 9,
        "throughput_items_per_s": 500.0,
    }
    doc["measured"]["roofline"] = {
        "profile_errors": [
            {"level": "module", "path": "0", "time_s": 1e-6, "floor_s": 8.5e-6, "ratio": 8.5}
        ]
    }
    text = render_text(Profile.from_dict(doc))
    line = next(ln for ln in text.splitlines() if "under their roofline floor" in ln)
    assert line.startswith("hardware profile error: 1 measured time(s)") and "8.50x" in line


# -- fit-alpha --csv: a short row was an internal error (exit 3), a bad cell named no line ----

LAYERS_HEADER = "plot,line,H,W,Cin,Cout,K1,K2,time_ms\n"
GOOD_ROWS = "a,0,8,8,4,4,3,3,0.2\na,0,8,4,4,4,1,1,0.1\na,0,4,4,4,4,1,1,0.05\n"


@pytest.mark.parametrize(
    ("bad_row", "says"),
    [
        ("a,0,4\n", "line 5"),  # a row cut short
        ("a,0,x,4,4,4,1,1,0.1\n", "line 5"),  # not a number
        ("a,0,8,8,4,4,3,3,nan\n", "finite"),  # NaN time
        ("a,0,8,8,4,4,3,3,inf\n", "finite"),
    ],
)
def test_fit_alpha_names_the_bad_line_of_its_csv(tmp_path, capsys, bad_row, says):
    path = tmp_path / "layers.csv"
    path.write_text(LAYERS_HEADER + GOOD_ROWS + bad_row)
    code, _, err = run(capsys, "fit-alpha", "--csv", path, "--no-save")
    assert code == 2
    line = one_error_line(err)
    assert "layers.csv" in line and says in line


# -- predict --device: help and error spoke of the model running/timing there; it does neither


@pytest.mark.parametrize("device", ["meta", "fake"])
def test_predict_device_meta_says_what_device_means_here(capsys, device):
    code, _, err = run(capsys, "predict", "torchvision:resnet18", "--device", device)
    assert code == 2
    line = one_error_line(err)
    assert "calibration" in line and "timing" not in line


def test_predict_device_help_says_the_model_is_counted_on_meta():
    from typer.testing import CliRunner

    from flopwise.cli import app

    result = CliRunner().invoke(app, ["predict", "--help"], env={"COLUMNS": "400"})
    lines = result.output.splitlines()
    device_line = next(ln for ln in lines if ln.lstrip("│ ").startswith("--device"))
    assert "calibration" in device_line and "meta (no weights allocated)" not in device_line
    assert "``" not in result.output  # the docstring's reST quotes were shown as typed


# -- flopwise --help: a command's summary broke where its docstring's lines break ------------


def test_root_help_gives_each_command_summary_on_one_line():
    from typer.testing import CliRunner

    from flopwise.cli import app

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400"})
    rows = {
        ln.split()[1]: ln
        for ln in result.output.splitlines()
        if ln.startswith("│ ") and ln.split()[1:]
    }
    assert "overhead) in under a minute" in rows["hardware"]
    assert "the correlation of each proxy with time" in rows["compare"]


# -- sweep: a model with an uncounted op was tabled without a word about coverage -------------

UNCOUNTED = """
import torch
import torch.nn as nn
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
    def forward(self, x):
        return torch.special.bessel_j0(self.fc(x))
def build():
    return M()
"""


def test_sweep_table_says_which_points_are_incompletely_counted(tmp_path, capsys):
    path = tmp_path / "unc.py"
    path.write_text(UNCOUNTED)
    argv = ["sweep", f"{path}:build", "-i", "2x16", "-d", "batch=1,2", "--no-measure"]
    code, out, err = run(capsys, *argv, "--no-save")
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if "incomplete" in ln)
    assert "batch=1" in line and "batch=2" in line and "lower bound" in line
    # the JSON said so all along: the table now agrees with it
    code, out, _ = run(capsys, *argv, "--no-save", "-f", "json")
    assert all("count incomplete" in " ".join(p["notes"]) for p in json.loads(out)["points"])


def test_compare_csv_says_which_counts_are_incomplete(tmp_path, capsys):
    # the table marks the row "*" with a note, the JSON has "complete": false; the CSV had
    # neither
    path = tmp_path / "unc.py"
    path.write_text(UNCOUNTED)
    mlp = tmp_path / "mlp.py"
    mlp.write_text(MLP)
    argv = ["compare", f"{path}:build@2x16", f"{mlp}:build@2x16", "--no-measure", "--no-save"]
    code, out, err = run(capsys, *argv, "-f", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["complete"] for r in rows] == ["false", "true"]
    code, out, _ = run(capsys, *argv, "-f", "json")
    assert [r["complete"] for r in json.loads(out)["rows"]] == [False, True]


# -- history --db TYPO: "No runs in TYPO." read like an empty store, not a missing one -------


def test_history_says_when_the_database_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "typo" / "runs.sqlite"
    code, out, err = run(capsys, "history", "--db", missing)
    assert code == 0  # nothing saved yet is not an error (a fresh machine)
    assert "no results database there yet" in out + err and str(missing) in out + err
    assert not missing.exists()
    run_id = save_run(_measured_mlp(tmp_path), "measure", db=tmp_path / "real.sqlite")
    code, out, _ = run(capsys, "history", "nomatch", "--db", tmp_path / "real.sqlite")
    assert code == 0 and run_id == 1 and "no results database" not in out


# -- compare hf:ORG/NAME@REVISION: the revision was read as an input spec ---------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hf:openai-community/gpt2@main", ("hf:openai-community/gpt2@main", ["d"])),
        (
            "hf:openai-community/gpt2@v1.0@input_ids=1x8:int64",
            ("hf:openai-community/gpt2@v1.0", ["input_ids=1x8:int64"]),
        ),
        (
            "hf:openai-community/gpt2@input_ids=1x8:int64",
            ("hf:openai-community/gpt2", ["input_ids=1x8:int64"]),
        ),
        (
            "torchvision:resnet18@1x3x64x64,1x3x8x8",
            ("torchvision:resnet18", ["1x3x64x64", "1x3x8x8"]),
        ),
        ("hf:gpt2", ("hf:gpt2", ["d"])),
    ],
)
def test_compare_splits_a_hub_revision_from_input_specs(text, expected):
    from flopwise.pipeline.compare import split_model_arg

    assert split_model_arg(text, ["d"]) == expected


def test_compare_still_names_a_bad_input_spec_after_at(capsys):
    code, _, err = run(capsys, "compare", "torchvision:resnet18@1x3xabc", "--no-measure")
    assert code == 2 and "1x3xabc" in one_error_line(err)


def test_report_plots_into_a_file_is_refused_before_writing(report_files, tmp_path, capsys):
    # was: the HTML written, then "error: r.csv: File exists"
    out = tmp_path / "r.html"
    code, _, err = run(
        capsys, "report", report_files["profile"], "-o", out, "--plots", report_files["sweep"]
    )
    assert code == 2
    line = one_error_line(err)
    assert "--plots" in line and "folder" in line
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "torchvision:resnet18", "--dtype", "float65", "--no-save"],
        ["sweep", "torchvision:resnet18", "-d", "batch=1,2", "--no-measure", "--dtype", "float65"],
        ["predict", "torchvision:resnet18", "--dtype", "float65"],
        ["compare", "torchvision:resnet18", "--no-measure", "--dtype", "float65", "--no-save"],
    ],
)
def test_a_bad_model_dtype_names_the_option(capsys, argv):
    # was "unknown dtype 'float65'", the same words as a bad -i SPEC:DTYPE
    code, _, err = run(capsys, *argv)
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("error: --dtype") and "float64" in line
