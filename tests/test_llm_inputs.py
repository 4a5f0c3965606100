"""``flopwise llm`` refuses bad inputs with one line: exit 2 (FlopwiseError), the field and
its value named on stderr, no traceback. One case per bad input, through ``cli.main``."""

from __future__ import annotations

import json

import pytest

from flopwise.cli import main
from flopwise.errors import FlopwiseError
from flopwise.llm import BadConfig, estimate, spec_from_config

GOOD = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 512,
    "max_position_embeddings": 512,
    "hidden_act": "silu",
}

# The CLI maps FlopwiseError to its exit_code; the one-line contract below needs it to be 2.
assert FlopwiseError.exit_code == 2


def write(tmp_path, config: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def refused(capsys, argv: list[str], *words: str) -> str:
    """Run the CLI, expect exit 2 and one stderr line holding every one of ``words``."""
    rc = main(["llm", *argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# ---------------------------------------------------------------------------------------
# config numbers

BAD_CONFIGS = {
    "heads_not_divisible_by_kv_heads": (
        {"num_attention_heads": 4, "num_key_value_heads": 3},
        ("num_attention_heads = 4", "num_key_value_heads = 3"),
    ),
    "zero_heads": ({"num_attention_heads": 0}, ("num_attention_heads = 0", "≥ 1")),
    "zero_kv_heads": ({"num_key_value_heads": 0}, ("num_key_value_heads = 0",)),
    "negative_hidden": ({"hidden_size": -64}, ("hidden_size = -64",)),
    "negative_layers": ({"num_hidden_layers": -2}, ("num_hidden_layers = -2",)),
    "negative_vocab": ({"vocab_size": -1}, ("vocab_size = -1",)),
    "non_numeric_hidden": ({"hidden_size": "big"}, ("hidden_size = 'big'", "not a number")),
    "boolean_layers": ({"num_hidden_layers": True}, ("num_hidden_layers = True",)),
    "fractional_intermediate": (
        {"intermediate_size": 127.5},
        ("intermediate_size = 127.5", "whole number"),
    ),
    "missing_intermediate": ({"intermediate_size": None}, ("intermediate_size",)),
    "negative_sliding_window": ({"sliding_window": -4}, ("sliding_window = -4",)),
    "negative_context": ({"max_position_embeddings": -1}, ("max_position_embeddings = -1",)),
    "hidden_not_divisible_by_heads": (
        {"hidden_size": 66},
        ("hidden_size = 66", "num_attention_heads = 4", "head_dim"),
    ),
    "zero_head_dim": ({"head_dim": 0}, ("head_dim = 0",)),
    "top_k_above_experts": (
        {"num_local_experts": 2, "num_experts_per_tok": 3},
        ("num_experts_per_tok = 3",),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_one_line_exit_2(case, tmp_path, capsys):
    change, words = BAD_CONFIGS[case]
    config = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    refused(capsys, [write(tmp_path, config), "--prompt", "8", "--gen", "2"], *words)


def test_gpt2_n_inner_none_is_four_times_n_embd_by_definition():
    """GPT-2 defines n_inner = None as 4·n_embd: a documented default, not a guess."""
    spec = spec_from_config(
        {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": None,
         "vocab_size": 512}
    )  # fmt: skip
    assert spec.intermediate == 256
    assert spec.max_positions == 1024  # HF GPT2Config's n_positions default


def test_bert_without_intermediate_size_is_refused():
    with pytest.raises(BadConfig, match="intermediate_size"):
        spec_from_config(
            {"model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "vocab_size": 512}
        )  # fmt: skip


def test_whole_floats_are_accepted():
    spec = spec_from_config({**GOOD, "hidden_size": 64.0})
    assert spec.hidden == 64 and isinstance(spec.hidden, int)


# ---------------------------------------------------------------------------------------
# context length


def test_prompt_plus_gen_beyond_context_is_refused(tmp_path, capsys):
    line = refused(
        capsys, [write(tmp_path, GOOD), "--prompt", "500", "--gen", "13"], "prompt + gen", "513"
    )
    assert "max_position_embeddings = 512" in line and "--beyond-context" in line


def test_prompt_plus_gen_at_context_is_accepted(tmp_path, capsys):
    rc = main(["llm", write(tmp_path, GOOD), "--prompt", "500", "--gen", "12", "--no-ops"])
    assert rc == 0, capsys.readouterr().err


def test_beyond_context_flag_counts_with_a_note(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    rc = main(["llm", path, "--prompt", "600", "--gen", "8", "--beyond-context", "-f", "json"])
    out = capsys.readouterr().out
    assert rc == 0
    doc = json.loads(out)
    assert doc["prefill"]["flops"] == estimate(GOOD, 1, 600, 8, beyond_context=True).prefill.flops
    assert any("exceed max_position_embeddings = 512" in n for n in doc["notes"])


def test_gpt2_context_names_n_positions(tmp_path, capsys):
    gpt2 = {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 512,
            "n_positions": 128}  # fmt: skip
    refused(capsys, [write(tmp_path, gpt2), "--prompt", "120", "--gen", "9"], "n_positions = 128")


def test_rerank_prompt_beyond_context_is_refused(tmp_path, capsys):
    # listwise: 64 + 32 + 20·128 = 2656 prompt tokens > 512
    refused(
        capsys,
        [write(tmp_path, GOOD), "--prompt", "8", "--gen", "2", "--rerank", "listwise"],
        "prompt + output tokens of a call",
        "2716",  # 2656 + 60 output tokens
    )


# ---------------------------------------------------------------------------------------
# options

BAD_OPTIONS = {
    "batch_zero": (["--batch", "0"], ("--batch = 0", "≥ 1")),
    "prompt_zero": (["--prompt", "0"], ("--prompt = 0",)),
    "gen_negative": (["--gen", "-1"], ("--gen = -1", "≥ 0")),
    "stride_zero": (["--rerank", "listwise", "--stride", "0"], ("--stride = 0", "≥ 1")),
    "window_zero": (["--rerank", "listwise", "--window", "0"], ("--window = 0",)),
    "doc_tokens_negative": (
        ["--rerank", "pointwise", "--doc-tokens", "-5"],
        ("--doc-tokens = -5",),
    ),
    "query_tokens_negative": (
        ["--rerank", "pointwise", "--query-tokens", "-1"],
        ("--query-tokens = -1",),
    ),
    "template_tokens_negative": (
        ["--rerank", "pointwise", "--template-tokens", "-3"],
        ("--template-tokens = -3",),
    ),
    "candidates_zero": (["--rerank", "pointwise", "--candidates", "0"], ("--candidates = 0",)),
    "output_tokens_zero": (
        ["--rerank", "pointwise", "--output-tokens", "0"],
        ("--output-tokens = 0",),
    ),
    "set_size_one": (["--rerank", "setwise", "--set-size", "1"], ("--set-size = 1", "≥ 2")),
    "top_k_zero": (["--rerank", "setwise", "--top-k", "0"], ("--top-k = 0",)),
    "step_time_zero": (
        ["--train", "--hardware", "h100", "--step-time", "0"],
        ("--step-time", "> 0"),
    ),
    "window_mode_unknown": (["--window-mode", "slide"], ("--window-mode = 'slide'",)),
    "paper_without_rerank": (["--convention", "paper"], ("--convention = 'paper'", "--rerank")),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_option_is_one_line_exit_2(case, tmp_path, capsys):
    args, words = BAD_OPTIONS[case]
    base = ["--prompt", "8", "--gen", "2", "--no-ops"]
    if "--rerank" in args:  # a --rerank option without --rerank is refused on its own
        base += ["--doc-tokens", "8"]
    refused(capsys, [write(tmp_path, GOOD), *base, *args], *words)


def test_paper_convention_refuses_moe(tmp_path, capsys):
    moe = {**GOOD, "model_type": "mixtral", "num_local_experts": 4, "num_experts_per_tok": 2}
    refused(
        capsys,
        [write(tmp_path, moe), "--prompt", "8", "--gen", "2", "--rerank", "pointwise",
         "--doc-tokens", "8", "--convention", "paper"],
        "--convention = 'paper'",
        "MoE",
    )  # fmt: skip


def test_api_errors_are_value_errors_naming_the_argument():
    """Python callers get the same check: a BadLLMArgument, also a ValueError."""
    with pytest.raises(ValueError, match="batch = 0"):
        estimate(GOOD, batch=0)
    with pytest.raises(FlopwiseError, match="prompt \\+ gen = 600"):
        estimate(GOOD, prompt=590, gen=10)
