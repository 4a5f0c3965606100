"""``flopwise memory hf:NAME`` (the LLM closed forms) and ``flopwise llm`` held to a user's
expectations: a bad value is one line on stderr and exit code 2, never a silently changed or
negative figure; an option the run would ignore is refused; fp32 training prices 4-byte
activations; every spelling of a dtype picks the same peak.

Independent figures are computed by hand in the comments (Llama-3-8B: 32 layers, h = 4096,
32 heads of 128, 8 KV heads, MLP 14336, vocabulary 128256, context 8192, untied head;
GPT-2: 12 layers, h = 768, 12 heads, context 1024).
"""

from __future__ import annotations

import json

import pytest

from flopwise.cli import main
from flopwise.llm import estimate
from flopwise.llm.dtypes import Precision
from flopwise.memory.llm import activation_bytes_per_layer

LLAMA3_8B_PARAMS = 8_030_261_248


def _error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run the CLI, expect exit code 2 and return its one stderr line (no traceback)."""
    assert main(args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert captured.out == ""
    return err


def _json(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict:
    assert main([*args, "-f", "json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- out-of-range batch and sequence: never silently 1, never negative bytes ---------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--batch", "0"], "error: --batch = 0: must be ≥ 1"),
        (["--batch", "-3", "--train"], "error: --batch = -3: must be ≥ 1"),
        (["--batch", "0", "--train"], "error: --batch = 0: must be ≥ 1"),
        (["--seq", "0"], "error: --seq = 0: must be ≥ 1"),
        (["--seq", "-5", "--train"], "error: --seq = -5: must be ≥ 1"),
    ],
)
def test_memory_hf_refuses_out_of_range_batch_and_seq(
    capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    # before: --batch 0 was priced as batch 1; --batch -3 --train printed -91.8 GB of
    # activations; --seq 0 was named "prompt", an option memory does not have
    assert _error(capsys, ["memory", "hf:llama-3-8b", *options]) == message


# --- the model's context: refused as flopwise llm refuses it, or counted with a note -------


@pytest.mark.parametrize("train", [[], ["--train"]])
def test_memory_hf_holds_seq_to_the_context(
    capsys: pytest.CaptureFixture[str], train: list[str]
) -> None:
    err = _error(capsys, ["memory", "hf:llama-3-8b", "--seq", "100000", *train])
    assert err == (
        "error: --seq = 100000: exceeds max_position_embeddings = 8192 of llama-3-8b "
        "(--beyond-context counts it anyway)"
    )
    args = ["memory", "hf:llama-3-8b", "--seq", "100000", "--beyond-context", *train]
    doc = _json(capsys, args)
    assert doc["notes"][0] == (
        "--seq = 100000 tokens exceed max_position_embeddings = 8192: counted as if the "
        "model took them"
    )
    if not train:
        # KV cache 2·L·kv_heads·head_dim·s·2 bytes = 2·32·8·128·100000·2
        assert doc["inference"]["kv_cache"] == 2 * 32 * 8 * 128 * 100_000 * 2
    assert main(args) == 0
    assert "note: --seq = 100000 tokens exceed" in capsys.readouterr().out
    # at the limit nothing is said about the context
    notes = _json(capsys, ["memory", "hf:llama-3-8b", "--seq", "8192", *train])["notes"]
    assert not any("max_position_embeddings" in n for n in notes)


# --- options the path taken would ignore ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--optimizer", "adam"], "--optimizer"),  # inference: no optimizer state
        (["--zero", "3"], "--zero"),
        (["--gpus", "8"], "--gpus"),
        (["--tp", "2"], "--tp"),
        (["--sequence-parallel"], "--sequence-parallel"),
        (["--recompute", "full"], "--recompute"),
        (["--dtype", "int8"], "--dtype"),
        (["--device", "cpu"], "--device"),
        (["--measure"], "--measure"),
        (["--granularity", "512"], "--granularity"),
        (["--amp", "bfloat16"], "--amp"),
        (["--accumulate", "2", "--train"], "--accumulate"),
        (["--checkpoint", "model.layers", "--train"], "--checkpoint"),
        (["--input", "2x8:int64"], "--input"),
    ],
)
def test_memory_hf_closed_forms_refuse_options_they_ignore(
    capsys: pytest.CaptureFixture[str], options: list[str], named: str
) -> None:
    # before: each of these printed the same figures as without it, exit 0
    err = _error(capsys, ["memory", "hf:llama-3-8b", *options])
    assert named in err


@pytest.mark.parametrize(
    ("model", "options", "named"),
    [
        ("torchvision:resnet18", ["--zero", "3"], "--zero"),
        ("torchvision:resnet18", ["--seq", "64"], "--seq"),
        ("torchvision:resnet18", ["--tp", "2"], "--tp"),
        ("torchvision:resnet18", ["--fp32"], "--fp32"),
        ("torchvision:resnet18", ["--beyond-context"], "--beyond-context"),
        ("hf:tiny-llama", ["--capture", "--train", "--zero", "3"], "--zero"),
    ],
)
def test_memory_op_stream_refuses_closed_form_options(
    capsys: pytest.CaptureFixture[str], model: str, options: list[str], named: str
) -> None:
    err = _error(capsys, ["memory", model, *options])
    assert named in err


def test_memory_hf_dtype_picks_the_precision(capsys: pytest.CaptureFixture[str]) -> None:
    # --dtype float32 is --fp32: 4-byte weights (before: silently 2-byte bf16 weights)
    doc = _json(capsys, ["memory", "hf:llama-3-8b", "--dtype", "float32", "--seq", "640"])
    assert doc["inference"]["weights"] == 4 * LLAMA3_8B_PARAMS
    assert doc == _json(capsys, ["memory", "hf:llama-3-8b", "--fp32", "--seq", "640"])
    doc = _json(capsys, ["memory", "hf:llama-3-8b", "--dtype", "bfloat16", "--seq", "640"])
    assert doc["inference"]["weights"] == 2 * LLAMA3_8B_PARAMS
    err = _error(capsys, ["memory", "hf:llama-3-8b", "--dtype", "bfloat16", "--fp32"])
    assert "--fp32" in err and "--dtype" in err


# --- full-fp32 training keeps 4-byte activations -----------------------------------------


def test_fp32_activation_bytes_per_layer_by_hand() -> None:
    # Korthikanti et al. §4.1 split into 16-bit values and 1-byte dropout masks: per layer
    # 16 values of s·b·h (32 bytes) + 2 masks, and per attention head 2 values of s² (4 bytes)
    # + 1 mask. At 4 bytes a value: 66·s·b·h + 9·a·s²·b. GPT-3 layer (s = 2048, h = 12288,
    # a = 96): 9·a·s/h = 144, so 2048·12288·(66 + 144) = 5,284,823,040.
    gpt3 = dict(seq=2048, batch=1, hidden=12288, heads=96)
    assert activation_bytes_per_layer(**gpt3, bytes_per_value=4) == 5_284_823_040
    assert activation_bytes_per_layer(**gpt3) == 2_868_903_936  # the paper's 16-bit figure
    # tensor parallel t = 8: replicated 4 values + 2 masks, 12 values sharded, heads sharded:
    # 2048·12288·(18 + 48/8 + 144/8) = 2048·12288·42
    assert activation_bytes_per_layer(**gpt3, tp=8, bytes_per_value=4) == 2048 * 12288 * 42
    # full recomputation keeps each layer's input: 4·s·b·h
    assert activation_bytes_per_layer(**gpt3, recompute="full", bytes_per_value=4) == (
        4 * 2048 * 12288
    )


def test_memory_fp32_training_activations_are_four_bytes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GPT-2, s = 1024, b = 1: 1024·768·(66 + 9·12·1024/768) = 786,432·210 = 165,150,720 per
    # layer (before: 89,653,248, the 16-bit figure, under a header saying "fp32")
    doc = _json(capsys, ["memory", "hf:gpt2", "--seq", "1024", "--train", "--fp32"])
    t = doc["training"]
    assert t["activations_per_layer"] == 165_150_720
    assert t["activations"] == 12 * 165_150_720
    # and flopwise llm --train --dtype float32 says the same
    args = ["llm", "gpt2", "--prompt", "1024", "--gen", "0", "--train", "--dtype", "float32"]
    llm = _json(capsys, [*args, "--no-ops"])
    assert llm["training_memory"]["training"]["activations_per_layer"] == 165_150_720


# --- dtype spellings ------------------------------------------------------------------------


def test_tf32_and_tfloat32_pick_the_same_peak() -> None:
    # H100 PCIe datasheet: TF32 tensor core 378 TFLOP/s dense (the profile's "tfloat32");
    # before: "tf32" fell back to the 51 TFLOP/s float32 figure
    tf32 = estimate("tiny-llama", prompt=8, gen=2, dtype="tf32", hardware="h100-pcie")
    long = estimate("tiny-llama", prompt=8, gen=2, dtype="tfloat32", hardware="h100-pcie")
    assert tf32.roofline.peak_flops == long.roofline.peak_flops == 378e12
    assert Precision("tf32").compute == Precision("tfloat32").compute


@pytest.mark.parametrize("dtype", ["nf4", "uint8"])
def test_storage_only_dtype_is_not_a_compute_dtype(
    capsys: pytest.CaptureFixture[str], dtype: str
) -> None:
    # nf4 is a weight storage format (dequantized to 16 bits to compute); before it was
    # priced at the float32 peak with 4-bit activations
    err = _error(capsys, ["llm", "tiny-llama", "--prompt", "8", "--gen", "2", "--dtype", dtype])
    assert "--dtype" in err and "--weight-dtype" in err
    # as weight storage it is fine: half a byte per parameter
    e = estimate("tiny-llama", prompt=8, gen=2, weight_dtype="nf4")
    assert e.weight_bytes == -(-e.params.total // 2)


# --- parallel degrees the model cannot be split by ---------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # before: 5,353,507,498.67 bytes of weights per GPU, 374,691,157 of activations
        (
            ["--tp", "3", "--gpus", "3"],
            "error: --tp 3 does not divide the 32 attention heads of llama-3-8b "
            "(each tensor-parallel rank holds whole heads)",
        ),
        # before: 64 layers' worth of activations for a 32-layer model
        (
            ["--pp", "64", "--gpus", "64"],
            "error: --pp 64 exceeds the 32 layers of llama-3-8b (each pipeline stage holds "
            "at least one layer)",
        ),
    ],
)
@pytest.mark.parametrize("command", [["memory", "hf:llama-3-8b"], ["llm", "llama-3-8b"]])
def test_parallel_degrees_must_split_the_model(
    capsys: pytest.CaptureFixture[str], command: list[str], options: list[str], message: str
) -> None:
    assert _error(capsys, [*command, "--train", *options]) == message


T5_SMALL = {
    "model_type": "t5",
    "d_model": 512,
    "d_kv": 64,
    "d_ff": 2048,
    "num_layers": 6,
    "num_heads": 8,
    "vocab_size": 32128,
    "feed_forward_proj": "relu",
    "tie_word_embeddings": True,
}


def test_encoder_decoder_training_activations_count_both_stacks(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    # t5-small: 60,506,624 parameters; 6 encoder + 6 decoder layers. Per layer at s = 512,
    # b = 1, h = 512, a = 8: 512·512·(34 + 5·8·512/512) = 19,398,656 bytes; both stacks:
    # 12 × 19,398,656 = 232,783,872 (before: the 6 encoder layers only)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(T5_SMALL))
    doc = _json(capsys, ["memory", f"hf:{path}", "--train", "--seq", "512"])
    t = doc["training"]
    assert t["params"] == 60_506_624
    assert t["activations_per_layer"] == 19_398_656
    assert t["activations"] == 12 * 19_398_656


# --- labels that name the context the figure was computed at -------------------------------


def test_encoder_decoder_critical_batch_label_names_its_context(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    # an encoder-decoder decode step attends its own gen tokens and cross-attends the prompt;
    # the critical batch is computed there (before: labelled "ctx 56", prompt + gen)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(T5_SMALL))
    args = ["llm", str(path), "--prompt", "50", "--gen", "6", "--hardware", "h100", "--no-ops"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "decode compute-bound from batch (ctx 6, source 50)" in out
    assert "ctx 56" not in out


def test_encoder_largest_batch_label_has_no_generated_tokens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["llm", "tiny-bert", "--prompt", "100", "--gen", "5", "--hardware", "h100"]
    assert main([*args, "--no-ops"]) == 0
    out = capsys.readouterr().out
    assert "largest batch that fits (100 tokens)" in out  # before: "(100 + 5 tokens)"


# --- architectures the llama-style model would price wrong --------------------------------

PYTHIA_160M = {  # EleutherAI/pythia-160m: 162,322,944 parameters (ungated GELU MLP)
    "model_type": "gpt_neox",
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "vocab_size": 50304,
    "max_position_embeddings": 2048,
    "hidden_act": "gelu",
    "rotary_pct": 0.25,
    "use_parallel_residual": True,
    "tie_word_embeddings": False,
}
PHI_2 = {  # microsoft/phi-2: 2.78 billion parameters (ungated GELU MLP, LayerNorm)
    "model_type": "phi",
    "hidden_size": 2560,
    "intermediate_size": 10240,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 51200,
    "max_position_embeddings": 2048,
    "hidden_act": "gelu_new",
    "partial_rotary_factor": 0.4,
    "tie_word_embeddings": False,
}
DEEPSEEK_V3 = {  # 671 billion parameters, 37 billion active; MLA caches 576 values a layer
    "model_type": "deepseek_v3",
    "hidden_size": 7168,
    "intermediate_size": 18432,
    "moe_intermediate_size": 2048,
    "num_hidden_layers": 61,
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "num_experts_per_tok": 8,
    "first_k_dense_replace": 3,
    "q_lora_rank": 1536,
    "kv_lora_rank": 512,
    "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128,
    "v_head_dim": 128,
    "vocab_size": 129280,
    "max_position_embeddings": 163840,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
}


ELECTRA_SMALL = {
    "model_type": "electra",
    "hidden_size": 256,
    "embedding_size": 128,
    "num_hidden_layers": 12,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "vocab_size": 30522,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "hidden_act": "gelu",
}
BART_BASE = {
    "model_type": "bart",
    "is_encoder_decoder": True,
    "d_model": 768,
    "encoder_layers": 6,
    "decoder_layers": 6,
    "encoder_attention_heads": 12,
    "decoder_attention_heads": 12,
    "encoder_ffn_dim": 3072,
    "decoder_ffn_dim": 3072,
    "vocab_size": 50265,
    "max_position_embeddings": 1024,
    "activation_function": "gelu",
}


@pytest.mark.parametrize(
    ("config", "named"),
    [
        # before: 191 million parameters (a gated 3-matrix MLP), not 162,322,944
        (PYTHIA_160M, "model_type gpt_neox"),
        # before: 3.62 billion parameters, not 2.78 billion
        (PHI_2, "model_type phi"),
        # before: 702 billion parameters, 36 billion active, and a 32,768-value-per-layer KV
        # cache per token where MLA keeps 576
        (DEEPSEEK_V3, "kv_lora_rank"),
        (
            {**DEEPSEEK_V3, "model_type": "custom", "kv_lora_rank": None, "q_lora_rank": None},
            "n_shared_experts",
        ),
        # an encoder-decoder that is not T5 (learned positions, LayerNorm, biases): before,
        # "config has none of num_heads, num_attention_heads", as if a key were missing
        (BART_BASE, "model_type bart"),
        # factorized embeddings (128) under a 256-wide ELECTRA: before 17,519,674 parameters,
        # where ElectraForMaskedLM has 13,546,682
        (ELECTRA_SMALL, "embedding_size"),
        # ALBERT shares one layer's weights across all layers
        ({**ELECTRA_SMALL, "model_type": "albert", "embedding_size": 256}, "model_type albert"),
    ],
)
@pytest.mark.parametrize("command", [["llm"], ["memory"]])
def test_architectures_the_model_cannot_price_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path, command: list[str], config: dict, named: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    model = str(path) if command == ["llm"] else f"hf:{path}"
    err = _error(capsys, [*command, model])
    assert named in err and "not modelled" in err


# --- the largest batch that fits: the answer, not the search's cap ------------------------

H100_BYTES = 80 * 1024**3  # the h100 profile's 80 GiB
# tiny-llama (h = 64, 2 layers, 4 heads of 16, 2 KV heads, MLP 128, vocabulary 512, untied):
# per layer q,o 2·64² + k,v 2·64·32 = 12,288, MLP 3·64·128 = 24,576, norms 128 → 36,992;
# × 2 + final norm 64 + embedding and head 2·512·64 = 139,584 parameters.
TINY_LLAMA_PARAMS = 2 * 36_992 + 64 + 2 * 512 * 64


def test_llm_largest_batch_is_not_capped(capsys: pytest.CaptureFixture[str]) -> None:
    # bf16: weights 2·Ψ; per sequence the KV cache 2·L·kv_heads·head_dim·(8 + 2)·2 = 2,560 B
    # and SwiGLU's gate·up product 8·3·128·2 = 6,144 B: (80 GiB − 279,168) // 8,704
    expected = (H100_BYTES - 2 * TINY_LLAMA_PARAMS) // (2 * 2 * 2 * 16 * 10 * 2 + 8 * 3 * 128 * 2)
    assert expected == 9_868_918  # before: 1,048,576, the search's limit
    args = ["llm", "tiny-llama", "--prompt", "8", "--gen", "2", "--hardware", "h100", "--no-ops"]
    doc = _json(capsys, args)
    assert doc["roofline"]["largest_batch"] == expected
    for batch, fits in ((expected, True), (expected + 1, False)):
        doc = _json(capsys, [*args, "--batch", str(batch)])
        assert doc["roofline"]["fits"] is fits


def test_memory_hf_largest_training_micro_batch_is_not_capped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # mixed-precision AdamW: 16·Ψ of model states; activations per micro-batch of s = 128:
    # 2 layers × 128·64·(34 + 5·4·128/64) = 2 × 606,208 = 1,212,416 B
    states = 16 * TINY_LLAMA_PARAMS
    per_micro_batch = 2 * 128 * 64 * (34 + 5 * 4 * 128 // 64)
    expected = (H100_BYTES - states) // per_micro_batch
    assert expected == 70_847  # before: 16,384, the search's limit
    args = ["memory", "hf:tiny-llama", "--train", "--seq", "128", "--hardware", "h100"]
    assert _json(capsys, args)["fit"]["largest_micro_batch"] == expected


def test_memory_op_stream_largest_batch_is_not_capped(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    # Linear(16, 32) → ReLU → Linear(32, 4), fp32, CUDA rounding (512 B): the peak is at the
    # ReLU with the input (64·b B), the first output and the ReLU's (128·b B each) live,
    # beside the four parameter tensors (2048 + 3 × 512 = 3,584 B). At b = 268,435,444:
    # 64·b = 17,179,868,416 → 17,179,868,672 rounded, 128·b = 34,359,736,832 (a multiple of
    # 512), total 85,899,345,920 = 80 GiB exactly; one more does not fit.
    path = tmp_path / "mlp.py"
    path.write_text(
        "import torch\n\n\ndef build():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), "
        "torch.nn.Linear(32, 4))\n"
    )
    b = 268_435_444
    assert -(-64 * b // 512) * 512 + 2 * 128 * b + 3_584 == H100_BYTES
    args = ["memory", f"{path}:build", "--input", "2x16", "--hardware", "h100"]
    doc = _json(capsys, args)
    assert doc["fit"]["largest_batch"] == b  # before: 16,384, the search's limit


# --- MFU of a step a model-parallel group shares ------------------------------------------

H100_BF16_PEAK = 989.5e12  # NVIDIA H100 SXM datasheet, dense bf16


def test_mfu_divides_the_step_among_the_model_parallel_gpus(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # one micro-batch of 2048 tokens is computed by the tp·pp = 8 GPUs of its model-parallel
    # group, so each GPU's share is model_flops / 8 (before: the whole step on one GPU's
    # peak, MFU 193.1%)
    base = ["llm", "llama-3-8b", "--prompt", "2048", "--gen", "0", "--train"]
    base += ["--hardware", "h100", "--no-ops"]
    doc = _json(capsys, [*base, "--tp", "4", "--pp", "2", "--gpus", "8", "--step-time", "0.05"])
    t = doc["training"]
    assert t["mfu"] == pytest.approx(t["model_flops"] / (0.05 * 8 * H100_BF16_PEAK))
    assert 0.24 < t["mfu"] < 0.25  # 95.6 TFLOPs / (0.05 s · 8 · 989.5 TFLOP/s)
    # the same step time on one GPU cannot be: the step would beat the peak
    err = _error(capsys, [*base, "--step-time", "0.05"])
    assert "--step-time" in err and "193.1%" in err


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--candidates", "7"], "--candidates"),
        (["--doc-tokens", "64"], "--doc-tokens"),
        (["--window", "5"], "--window"),
        (["--set-size", "3"], "--set-size"),
        (["--setwise-method", "heap"], "--setwise-method"),
        (["--heap-order", "sorted"], "--heap-order"),
    ],
)
def test_llm_refuses_rerank_options_without_rerank(
    capsys: pytest.CaptureFixture[str], options: list[str], named: str
) -> None:
    # before: exit 0 with the same figures as without the option
    err = _error(capsys, ["llm", "tiny-llama", "--prompt", "8", "--gen", "2", *options])
    assert named in err and "--rerank" in err


def test_memory_hf_inference_states_its_dtype(capsys: pytest.CaptureFixture[str]) -> None:
    # the same model at 2 and 4 bytes a weight: the output says which (before: neither did)
    for options, dtype in (([], "bfloat16"), (["--fp32"], "float32")):
        args = ["memory", "hf:tiny-llama", "--seq", "64", *options]
        assert _json(capsys, args)["inference"]["dtype"] == dtype
        assert main(args) == 0
        assert f"inference ({dtype}), batch 1, context 64" in capsys.readouterr().out


def test_memory_hf_training_says_when_the_layer_is_not_the_papers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Korthikanti et al.'s 34·s·b·h + 5·a·s²·b is a GPT layer's: MHA and a 4h GeLU MLP.
    # GPT-2 is that layer: no note. Mixtral's GQA and top-2 of 8 gated experts are priced as
    # it (its MLP keeps about 2 × 14336/16384 of the GPT MLP's values): the output says so.
    assert _json(capsys, ["memory", "hf:gpt2", "--train", "--seq", "1024"])["notes"] == []
    notes = _json(capsys, ["memory", "hf:mixtral-8x7b", "--train", "--seq", "1024"])["notes"]
    assert len(notes) == 1
    assert "GPT layer" in notes[0] and "GQA" in notes[0] and "top-2 of 8 experts" in notes[0]
    assert "gated MLP of 14336" in notes[0]


def test_no_generated_tokens_no_token_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    # --gen 0: nothing is generated, so there is no tokens/s to give (before: batch / TTFT,
    # 203 tokens/s for llama-3-8b at 100 tokens, against Roofline's own "batch · gen / end")
    args = ["llm", "llama-3-8b", "--prompt", "100", "--gen", "0", "--hardware", "h100"]
    doc = _json(capsys, [*args, "--no-ops"])
    assert doc["roofline"]["tokens_per_s"] is None
    assert main([*args, "--no-ops"]) == 0
    out = capsys.readouterr().out
    assert "throughput end to end" in out and "- (--gen 0: no tokens generated)" in out
    # --gen 1: the prefill's last logits give the one token per sequence
    doc = _json(
        capsys,
        [
            "llm",
            "llama-3-8b",
            "--prompt",
            "100",
            "--gen",
            "1",
            "--batch",
            "3",
            "--hardware",
            "h100",
            "--no-ops",
        ],
    )
    assert doc["roofline"]["tokens_per_s"] == pytest.approx(3 / doc["roofline"]["end_to_end_s"])


# --- activation functions priced as HF runs them ------------------------------------------


@pytest.mark.parametrize(
    ("hidden_act", "per_element"),
    [
        # F.gelu(x, approximate="tanh"): 9 per element (docs/conventions.md; before: 5, the
        # exact GELU's constant)
        ("gelu_pytorch_tanh", 9),
        # QuickGELU x·sigmoid(1.702·x): mul, sigmoid, mul = 3 (before: 5, as GELU)
        ("quick_gelu", 3),
        ("silu", 2),
    ],
)
def test_activation_flops_equal_the_capture_of_the_hf_module(
    hidden_act: str, per_element: int
) -> None:
    transformers = pytest.importorskip("transformers")
    import torch

    import flopwise
    from flopwise.llm import Precision, forward_ops, spec_from_config

    cfg = {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "hidden_act": hidden_act,
        "vocab_size": 512,
        "max_position_embeddings": 512,
    }
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(
        transformers.AutoConfig.for_model(**cfg)
    ).eval()
    ids = torch.randint(0, 512, (2, 8))
    with torch.no_grad():
        prof = flopwise.profile(model, ids)
    captured = sum(op.flops for op in prof.ops if op.module_path.endswith("act_fn"))
    ops = forward_ops(spec_from_config(cfg), 2, 8, 0, "all", Precision("float32"))
    analytic = next(op.flops for op in ops if op.name == "act")
    # 2 layers × 2·8 tokens × 128 MLP units
    assert captured == analytic == per_element * 2 * 16 * 128


def test_unknown_activation_is_noted() -> None:
    # an activation the model has no recipe for is priced as GELU, and says so
    cfg = {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 512,
        "hidden_act": "xielu",
    }
    e = estimate(cfg, prompt=8, gen=2)
    assert any("activation xielu" in n and "GELU" in n for n in e.notes)
    assert not any("activation" in n for n in estimate("tiny-llama", prompt=8, gen=2).notes)


def test_t5_gated_gelu_is_gelu_new_as_transformers_reads_it() -> None:
    # T5Config turns feed_forward_proj "gated-gelu" into dense_act_fn "gelu_new" (flan-t5,
    # t5 v1.1): the tanh NewGELU, 8 steps per element (before: exact GELU, 5)
    transformers = pytest.importorskip("transformers")
    from flopwise.llm import spec_from_config

    hf = transformers.T5Config(feed_forward_proj="gated-gelu")
    assert hf.dense_act_fn == "gelu_new"
    spec = spec_from_config({**T5_SMALL, "feed_forward_proj": "gated-gelu"})
    assert spec.gated_mlp and spec.activation == "gelu_tanh_python"


GEMMA_7B = {  # google/gemma-7b config.json: no tie_word_embeddings key (GemmaConfig ties)
    "model_type": "gemma",
    "head_dim": 256,
    "hidden_act": "gelu",
    "hidden_size": 3072,
    "intermediate_size": 24576,
    "max_position_embeddings": 8192,
    "num_attention_heads": 16,
    "num_hidden_layers": 28,
    "num_key_value_heads": 16,
    "vocab_size": 256000,
}


def test_gemma_ties_its_embeddings_by_default() -> None:
    # per layer q,k,v 3·3072·4096 + o 4096·3072 = 50,331,648, MLP 3·3072·24576 =
    # 226,492,416, norms 6,144 → 276,830,208; × 28 + embedding 256000·3072 (the head shares
    # it) + final norm 3072 = 8,537,680,896, Gemma-7B's published count (before: an untied
    # head, 9,324,112,896)
    e = estimate(GEMMA_7B, prompt=8, gen=2)
    assert e.params.total == 28 * 276_830_208 + 256_000 * 3072 + 3072 == 8_537_680_896


@pytest.mark.parametrize(
    "model_type",
    ["llama", "mistral", "qwen2", "gemma", "gemma2", "gemma3_text", "cohere", "phi3", "granite"],
)
def test_embedding_tying_default_is_transformers(model_type: str) -> None:
    # a config without tie_word_embeddings means the config class's default
    transformers = pytest.importorskip("transformers")
    from flopwise.llm import spec_from_config

    cfg = {
        "model_type": model_type,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 512,
    }
    hf = transformers.AutoConfig.for_model(model_type)
    assert spec_from_config(cfg).tied_embeddings is hf.tie_word_embeddings


@pytest.mark.parametrize("dtype", ["float64", "float8", "int8"])
def test_llm_train_refuses_a_dtype_the_memory_closed_forms_do_not_price(
    capsys: pytest.CaptureFixture[str], dtype: str
) -> None:
    # before: float64 (or float8) training memory was priced as bf16 mixed precision,
    # 2 bytes a weight
    args = ["llm", "tiny-llama", "--prompt", "8", "--gen", "0", "--train", "--dtype", dtype]
    err = _error(capsys, args)
    assert f"--dtype {dtype}" in err and "mixed precision" in err


def test_llm_says_when_the_profile_states_no_memory(capsys: pytest.CaptureFixture[str]) -> None:
    # the AMD EPYC 9654 profile gives no memory capacity: no fit verdict, and the table says
    # why instead of leaving the rows out
    args = ["llm", "tiny-llama", "--prompt", "8", "--gen", "2", "--hardware", "amd-epyc-9654"]
    assert main([*args, "--no-ops"]) == 0
    out = capsys.readouterr().out
    assert "device memory (amd-epyc-9654)" in out and "not stated by the profile" in out
    doc = _json(capsys, [*args, "--no-ops"])
    assert doc["roofline"]["device_memory"] is None and "largest_batch" not in doc["roofline"]


def test_llm_train_beyond_context_note_names_the_prompt(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["llm", "tiny-llama", "--prompt", "600", "--gen", "0", "--train", "--beyond-context"]
    doc = _json(capsys, [*args, "--no-ops"])
    assert doc["training_memory"]["notes"][0].startswith(
        "--prompt = 600 tokens exceed max_position_embeddings = 512"
    )
