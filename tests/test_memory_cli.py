"""``flopwise memory``: the fit verdict and the largest batch against a hand count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flopwise.cli import main

FACTORY = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    return nn.Linear(64, 64), torch.randn(1, 64)
"""


def _hardware(tmp_path: Path, capacity: int) -> Path:
    src = Path(__file__).parents[1] / "src/flopwise/data/hardware/nvidia-l4.json"
    doc = json.loads(src.read_text())
    doc.update(name="tiny-gpu", memory_bytes=capacity, aliases=[])
    path = tmp_path / "tiny-gpu.json"
    path.write_text(json.dumps(doc))
    return path


def test_largest_batch_on_a_gpu_with_512_byte_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiny.py").write_text(FACTORY)
    hw = _hardware(tmp_path, 100_000)
    rc = main(
        [
            "memory",
            f"{tmp_path / 'tiny.py'}:build",
            "--hardware",
            str(hw),
            "--batch",
            "8",
            "-f",
            "json",
        ]
    )
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    # CUDA blocks of 512 B: weight 64·64·4 = 16384, bias 256 → 512, input and output
    # b·256 bytes each → ceil(b·256/512)·512. At b = 8: 16384 + 512 + 2·2048 = 20992.
    assert doc["allocator_granularity_bytes"] == 512
    assert doc["peak_bytes"] == 20992
    # Fits while 16896 + 2·ceil(b/2)·512 ≤ 100000 → ceil(b/2) ≤ 81 → b ≤ 162.
    assert doc["fit"] == {
        "hardware": "tiny-gpu",
        "capacity_bytes": 100_000,
        "fits": True,
        "largest_batch": 162,
    }


def test_table_names_the_peak_and_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiny.py").write_text(FACTORY)
    hw = _hardware(tmp_path, 10_000)
    rc = main(
        [
            "memory",
            f"{tmp_path / 'tiny.py'}:build",
            "--train",
            "--optimizer",
            "adam",
            "--hardware",
            str(hw),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "does NOT fit on tiny-gpu" in out  # the weight alone is 16 KiB
    assert "optimizer_state" in out and "Live at the peak" in out
    assert main(["memory", f"{tmp_path / 'tiny.py'}:build", "--optimizer", "adam"]) != 0


MLP = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(64, 256, bias=False), nn.ReLU(), nn.Linear(256, 64, bias=False))
    return nn.Sequential(nn.Linear(64, 64), block, nn.Linear(64, 10)), torch.randn(32, 64)
"""


def test_checkpoint_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mlp.py").write_text(MLP)
    rc = main(
        [
            "memory",
            f"{tmp_path / 'mlp.py'}:build",
            "--train",
            "--checkpoint",
            "1",
            "--granularity",
            "1",
            "-f",
            "json",
        ]
    )
    assert rc == 0
    ck = json.loads(capsys.readouterr().out)["checkpoint"]
    # ReLU's 32×256 fp32 output is no longer kept; the first Linear (2·32·64·256) and the
    # ReLU (32·256) run again in backward (tests/test_memory.py derives both).
    assert ck["saved_bytes_without"] - ck["saved_bytes_with"] == 32 * 256 * 4
    assert ck["recompute_flops"] == 2 * 32 * 64 * 256 + 32 * 256


def test_input_the_model_rejects_is_one_line_naming_the_module_exit_2(tmp_path):
    # An int64 image reaches resnet18's average pool, whose mean() refuses integers: on
    # meta tensors torch also logs its own traceback, which must not reach the user.
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flopwise.cli",
            "memory",
            "torchvision:resnet18",
            "-i",
            "1x3x64x64:int64",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: module 'avgpool' rejected the input: mean()")
