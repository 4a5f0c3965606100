"""``flopwise llm --train`` reports per-GPU training memory from memory/llm.py's closed
forms (ZeRO model states, Korthikanti et al. activations), checked against hand
computations for Llama-2-7B (Ψ = 6,738,415,616; 32 layers, h = 4096, 32 heads)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flopwise.cli import app

PSI = 6_738_415_616  # Llama-2-7B parameters (HF count; untied head)
L, H, A = 32, 4096, 32


def llm_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["llm", "llama-2-7b", *args, "--no-ops", "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_zero3_breakdown_matches_zero_paper_formulas() -> None:
    s = 2048
    doc = llm_json("--train", "--prompt", str(s), "--gen", "0", "--zero", "3", "--gpus", "8")
    t = doc["training_memory"]["training"]
    # ZeRO §3.1: mixed-precision Adam holds 2Ψ + 2Ψ + 12Ψ; stage 3 shards all of it over 8.
    assert t["weights"] == pytest.approx(2 * PSI / 8)
    assert t["gradients"] == pytest.approx(2 * PSI / 8)
    assert t["optimizer_state"] == pytest.approx(12 * PSI / 8)
    # Korthikanti et al.: s·b·h·(34 + 5·a·s/h) per layer, b = 1, 32 layers
    assert t["activations"] == L * s * H * (34 + 5 * A * s // H)
    assert t["peak_bytes"] == pytest.approx(16 * PSI / 8 + L * s * H * (34 + 5 * A * s // H))


def test_same_document_as_memory_command() -> None:
    """One source of truth: llm --train embeds what `flopwise memory hf:NAME --train` says."""
    args = ["--train", "--zero", "2", "--gpus", "4", "--optimizer", "sgd-momentum"]
    doc = llm_json(*args, "--prompt", "1024", "--gen", "0", "--batch", "2")
    result = CliRunner().invoke(
        app, ["memory", "hf:llama-2-7b", *args, "--seq", "1024", "--batch", "2", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    assert doc["training_memory"] == json.loads(result.output)
    t = doc["training_memory"]["training"]
    # sgd-momentum mixed precision: K = 8 (fp32 master + momentum), sharded with the grads
    assert t["optimizer_state"] == pytest.approx(8 * PSI / 4)
    assert t["gradients"] == pytest.approx(2 * PSI / 4)
    assert t["weights"] == 2 * PSI


def test_tensor_and_pipeline_parallel_degrees() -> None:
    s = 2048
    doc = llm_json("--train", "--prompt", str(s), "--gen", "0", "--gpus", "8", "--tp", "2")
    t = llm_json(
        "--train", "--prompt", str(s), "--gen", "0", "--gpus", "8", "--tp", "2", "--pp", "2"
    )
    t1, t2 = doc["training_memory"]["training"], t["training_memory"]["training"]
    assert (t1["dp"], t2["dp"]) == (4, 2)
    # ZeRO 0: each rank holds its 1/(tp·pp) slice of all states, 16 bytes per parameter
    assert t1["weights"] + t1["gradients"] + t1["optimizer_state"] == pytest.approx(16 * PSI / 2)
    assert t2["weights"] + t2["gradients"] + t2["optimizer_state"] == pytest.approx(16 * PSI / 4)
    # tp = 2 without sequence parallelism: s·b·h·(10 + 24/t + 5·a·s/(h·t)) per layer
    per_layer = s * H * (10 + 24 / 2 + 5 * A * s / (H * 2))
    assert t1["activations"] == pytest.approx(L * per_layer)
    # pp = 2: the first stage keeps pp micro-batches of its L/pp layers: L layers' worth
    assert t2["layers_per_stage"] == 16
    assert t2["activations"] == pytest.approx(L * per_layer)


def test_largest_micro_batch_with_recomputation() -> None:
    s = 4096
    doc = llm_json(
        "--train", "--recompute", "--prompt", str(s), "--gen", "0", "--zero", "3", "--gpus", "8",
        "--hardware", "a100-80gb",
    )  # fmt: skip
    mem = doc["training_memory"]
    t, fit = mem["training"], mem["fit"]
    assert t["recompute"] == "full"
    per_sample = L * 2 * s * H  # full recomputation keeps each layer's input, 2·s·b·h
    assert t["activations"] == per_sample
    states = 16 * PSI / 8
    largest = int((fit["capacity_bytes"] - states) // per_sample)
    assert fit["largest_micro_batch"] == largest > 1
    assert fit["fits"] is True


def test_parallel_options_need_train() -> None:
    result = CliRunner().invoke(app, ["llm", "llama-2-7b", "--zero", "3", "--no-ops"])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "--zero" in message and "--train" in message


def test_table_shows_the_training_memory() -> None:
    result = CliRunner().invoke(
        app,
        ["llm", "llama-2-7b", "--train", "--zero", "1", "--gpus", "64", "--no-ops"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "ZeRO stage 1, dp=64" in result.output
    # ZeRO stage 1: 2Ψ weights unsharded, printed with thousands separators
    assert f"{2 * PSI:,}" in result.output
