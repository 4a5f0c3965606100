"""The `flopwise profile` command: formats, defaults, and one-line errors with exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flopwise.cli import main

pytest.importorskip("torchvision")


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_profile_json_contract(capsys):
    code, out, _ = run(capsys, "profile", "torchvision:resnet50", "--format", "json", "--no-save")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "flopwise.profile/1"
    assert doc["totals"]["macs"] == 4_089_184_256 and isinstance(doc["totals"]["flops"], int)
    assert doc["totals"]["activations"] == 11_315_688
    assert doc["inputs"] == [{"name": "arg0", "shape": [1, 3, 224, 224], "dtype": "float32"}]
    assert doc["complete"] is True and doc["uncounted"] == []
    assert {
        "path",
        "type",
        "depth",
        "flops",
        "macs",
        "params",
        "bytes_read",
        "bytes_written",
    } <= set(doc["modules"][1])
    assert doc["mode"]["tensors"] == "meta" and doc["convention"]["flops"].startswith(
        "floating-point"
    )


def test_profile_table_states_units_mode_and_coverage(capsys):
    code, out, _ = run(capsys, "profile", "hf:tiny-llama", "--depth", "2", "--no-save")
    assert code == 0
    assert "input_ids=1x128:int64" in out
    assert "GFLOPs" in out or "MFLOPs" in out
    assert "coverage: complete" in out and "forward, meta tensors" in out


def test_profile_csv_ops(capsys):
    code, out, _ = run(
        capsys, "profile", "torchvision:resnet18", "-f", "csv", "--level", "ops", "--no-save"
    )
    assert code == 0
    header = out.splitlines()[0].split(",")
    assert header[:3] == ["index", "op", "module_path"] and len(out.splitlines()) > 50


def test_training_count_from_cli(capsys):
    code, out, _ = run(
        capsys, "profile", "hf:tiny-gpt2", "--train", "--device", "cpu", "-f", "json", "--no-save"
    )
    doc = json.loads(out)
    assert code == 0 and doc["mode"]["phase"] == "training"
    assert doc["totals"]["backward_flops"] > doc["totals"]["forward_flops"] > 0
    closed = doc["training_closed_forms"]
    assert closed["tokens"] == 128 and 0 < closed["six_n"] < doc["totals"]["flops"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["torchvision:resnet5"], "did you mean torchvision:resnet50"),
        (["hf:llama-2-7"], "llama-2-7b"),
        (["missing_file.py:make"], "not found"),
        (["torchvision:resnet18", "-i", "1x4x224x224"], "module 'conv1' rejected the input"),
        (["torchvision:resnet18", "-i", "1x3xfoo"], "is not an integer"),
        (["torchvision:resnet18", "--device", "tpu"], "must be one of auto, cpu"),
        (["torchvision:resnet18", "--device", "meta", "--measure"], "needs real tensors"),
    ],
)
def test_errors_are_one_line_with_nonzero_exit(capsys, argv, message):
    code, out, err = run(capsys, "profile", *argv, "--no-save")
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_console_script_exit_code():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flopwise.cli",
            "profile",
            "torchvision:nonexistent_net",
            "--no-save",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown model")


def test_file_factory_with_example_inputs(tmp_path, capsys):
    source = tmp_path / "mymodel.py"
    source.write_text(
        "import torch\n"
        "def build():\n"
        "    return torch.nn.Linear(8, 4), (torch.randn(3, 8),)\n"
        "def nothing():\n"
        "    return 42\n"
    )
    code, out, _ = run(capsys, "profile", f"{source}:build", "-f", "json", "--no-save")
    assert code == 0 and json.loads(out)["totals"]["macs"] == 3 * 8 * 4
    code, _, err = run(capsys, "profile", f"{source}:nothing", "--no-save")
    assert code != 0 and "module" in err.lower()


@pytest.mark.measure
def test_measure_and_energy_from_cli(tmp_path, capsys):
    source = tmp_path / "tiny.py"
    source.write_text(
        "import torch\n"
        "def build():\n"
        "    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))\n"
        "    return net, (torch.randn(4, 64),)\n"
    )
    code, out, _ = run(
        capsys,
        "profile",
        f"{source}:build",
        "--measure",
        "--repeats",
        "5",
        "--energy",
        "--hardware",
        "h100",
        "-f",
        "json",
        "--no-save",
        "--no-progress",
    )
    assert code == 0
    doc = json.loads(out)
    measured = doc["measured"]
    assert measured["latency"]["median_s"] > 0 and measured["latency"]["repeats"] >= 5
    assert measured["hardware"]["name"].startswith("nvidia-h100")
    assert {"0", "1", "2"} <= set(measured["modules"])
    assert measured["roofline"]["summary"]["waterline_s"] > 0
    # No counter here: the figure must say it is an estimate, never "measured".
    assert doc["energy"]["method"] in ("estimated", "rapl", "nvml")
    if doc["energy"]["method"] == "estimated":
        assert doc["energy"]["measured"] is False


def test_alpha_macs_in_profile_json(capsys):
    import math

    code, out, _ = run(capsys, "profile", "torchvision:resnet18", "-f", "json", "--no-save")
    doc = json.loads(out)
    conv1 = next(m for m in doc["modules"] if m["path"] == "conv1")
    s, k = 112 * 112, 49  # output spatial size and kernel area of conv1
    s_k = math.log(k) + 1
    alpha = ((s_k + 0.001 * (s - s_k)) / s) ** 0.56  # published constants for K > 1
    assert conv1["alpha_macs"] == pytest.approx(alpha * conv1["macs"], rel=1e-9)
    assert doc["alpha"]["layers"] == 21 and doc["alpha"]["alpha_macs"] < doc["totals"]["macs"]
