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


def test_python_api_gives_the_cli_document(config_path):
    """``flopwise.pipeline.run_llm`` does what the command does: the same JSON document for
    training (MFU from a step time), reranking (RPP from a metric) and a roofline."""
    from flopwise.pipeline import LLMRequest, RerankRequest, TrainingRequest, run_llm
    from flopwise.report.json import llm_document

    cli = json.loads(
        run(
            config_path, "--batch", "2", "--prompt", "64", "--gen", "8", "--hardware", "h100",
            "--train", "--step-time", "0.01", "--zero", "2", "--rerank", "setwise",
            "--candidates", "12", "--doc-tokens", "64", "--metric", "0.7", "-f", "json",
        )
    )  # fmt: skip
    result = run_llm(
        LLMRequest(
            config_path,
            batch=2,
            prompt=64,
            gen=8,
            hardware="h100",
            train=TrainingRequest(step_time=0.01, zero=2),
            rerank=RerankRequest("setwise", candidates=12, doc_tokens=64, metric=0.7),
        )
    )
    assert json.loads(json.dumps(llm_document(result))) == cli
    assert result.mfu == cli["training"]["mfu"] and result.mfu > 0
    assert result.rpp == cli["rerank"]["rpp"] == result.reranking.rpp(0.7)
    assert cli["training_memory"]["schema"] == "flopwise.memory-llm/1"
    assert result.training_memory.training.zero == cli["training_memory"]["training"]["zero"] == 2


def test_python_api_names_the_bad_field(config_path):
    from flopwise.pipeline import LLMRequest, RerankRequest, run_llm
    from flopwise.pipeline.llm import BadLLMArgument

    with pytest.raises(BadLLMArgument) as info:
        run_llm(
            LLMRequest(config_path, prompt=8, gen=2, rerank=RerankRequest("listwise", stride=0))
        )
    assert info.value.field == "stride"
