"""``flopwise llm``: table and JSON output, units spelled out, training and reranking."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from flopwise.cli import app

CONFIG = {
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 2048,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
}


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG))
    return str(path)


def run(*args: str):
    result = CliRunner().invoke(app, ["llm", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_json_is_integer_and_matches_api(config_path):
    from flopwise.llm import estimate

    out = json.loads(
        run(config_path, "--batch", "2", "--prompt", "64", "--gen", "8", "--format", "json")
    )
    assert out["schema"] == "flopwise.llm/1"
    e = estimate(CONFIG, batch=2, prompt=64, gen=8)
    assert out["prefill"]["flops"] == e.prefill.flops
    assert isinstance(out["prefill"]["flops"], int)
    assert out["decode"]["steps"] == 7
    assert out["memory"]["kv_cache_bytes"] == e.kv_cache_bytes
    assert "causal" in out["convention"]
    assert sum(out["prefill"]["breakdown"].values()) == e.prefill.flops


def test_table_spells_units_and_states_conventions(config_path):
    text = run(config_path, "--batch", "1", "--prompt", "32", "--gen", "4")
    assert "FLOPs" in text and "MACs" in text
    assert re.search(r"\d (K|M|G|T)?FLOPs", text)
    # never a bare prefix: every SI-prefixed number carries its unit
    assert not re.search(r"\d [KMGTP]\b(?![A-Za-z])", text)
    assert "a multiply-add = 2 FLOPs" in text
    assert "causal" in text
    assert "prefill" in text and "decode step 1" in text


def test_hardware_training_and_rerank(config_path):
    text = run(
        config_path,
        "--hardware",
        "h100",
        "--train",
        "--step-time",
        "0.01",
        "--rerank",
        "pointwise",
        "--candidates",
        "10",
        "--metric",
        "0.7",
        "--no-ops",
    )
    assert "time to first token" in text
    assert "Megatron" in text and "6·N" in text and "MFU" in text
    assert "QPP" in text and "RPP" in text
    out = json.loads(
        run(
            config_path,
            "--hardware",
            "h100",
            "--rerank",
            "listwise",
            "--doc-tokens",  # 20 documents of 64 tokens fit the 2048-token context
            "64",
            "--format",
            "json",
            "--no-ops",
        )
    )
    assert out["rerank"]["calls"] == 9
    assert out["roofline"]["ttft_s"] > 0
    assert "ops" not in out["prefill"]


def test_builtin_name_and_bad_dtype():
    out = json.loads(run("tiny-mixtral", "--format", "json", "--prompt", "16", "--gen", "2"))
    assert out["model"]["moe"]["experts"] == 4
    result = CliRunner().invoke(
        app, ["llm", "tiny-llama", "--prompt", "16", "--gen", "2", "--dtype", "float7"]
    )
    assert result.exit_code != 0
    assert "float7" in str(result.exception)
