"""LLM memory closed forms held to the numbers their papers print.

- ZeRO (Rajbhandari et al. 2020), Figure 1 / §5 example: Ψ = 7.5B parameters,
  mixed-precision Adam (K = 12), N_d = 64: 120 GB per GPU unsharded, 31.4 GB at stage 1
  (P_os), 16.6 GB at stage 2 (P_os+g), 1.9 GB at stage 3 (P_os+g+p).
- Korthikanti et al. 2022, §4: activation bytes per layer s·b·h·(34 + 5·a·s/h); with
  tensor parallelism t: s·b·h·(10 + 24/t + 5·a·s/(h·t)); full recomputation 2·s·b·h.
  For a GPT-3-sized layer (s = 2048, h = 12288, a = 96, b = 1): 5·a·s/h = 5·96·2048/12288
  = 80, so 2048·12288·114 = 2,868,903,936 bytes; at t = 8: 10 + 3 + 10 = 23 →
  578,813,952 bytes; with sequence parallelism (t = 8): 2,868,903,936 / 8 = 358,612,992;
  full recomputation: 2·2048·12288 = 50,331,648.
"""

from __future__ import annotations

import json

import pytest

from flopwise.cli import main
from flopwise.errors import FlopwiseError
from flopwise.memory.llm import (
    activation_bytes_per_layer,
    check_training_options,
    largest_micro_batch,
    model_state_bytes,
)


@pytest.mark.parametrize(("stage", "paper_gb"), [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_example(stage: int, paper_gb: float) -> None:
    states = model_state_bytes(7_500_000_000, optimizer="adam", zero=stage, dp=64)
    total_gb = sum(states.values()) / 1e9
    assert round(total_gb, 1) == paper_gb


def test_zero_stage_split() -> None:
    # 2Ψ weights + 2Ψ grads + 12Ψ optimizer for Ψ = 1000, N_d = 4
    assert model_state_bytes(1000, zero=0, dp=4) == {
        "weights": 2000,
        "gradients": 2000,
        "optimizer_state": 12000,
    }
    assert model_state_bytes(1000, zero=2, dp=4) == {
        "weights": 2000,
        "gradients": 500,
        "optimizer_state": 3000,
    }
    # fp32 Adam: 4Ψ weights, 4Ψ grads, 8Ψ moments (no master copy)
    assert model_state_bytes(1000, mixed_precision=False) == {
        "weights": 4000,
        "gradients": 4000,
        "optimizer_state": 8000,
    }


GPT3 = dict(seq=2048, batch=1, hidden=12288, heads=96)


def test_korthikanti_gpt3_layer() -> None:
    assert activation_bytes_per_layer(**GPT3) == 2_868_903_936
    assert activation_bytes_per_layer(**GPT3, tp=8) == 578_813_952
    assert activation_bytes_per_layer(**GPT3, tp=8, sequence_parallel=True) == 358_612_992
    assert activation_bytes_per_layer(**GPT3, recompute="full") == 50_331_648
    # selective recomputation drops the 5·a·s/h term: 2048·12288·34 / 8 with SP
    assert activation_bytes_per_layer(
        **GPT3, tp=8, sequence_parallel=True, recompute="selective"
    ) == (2048 * 12288 * 34 // 8)


def test_largest_micro_batch_search() -> None:
    assert largest_micro_batch(0, lambda b: b * 10 <= 95) == 9
    assert largest_micro_batch(0, lambda b: False) == 0
    assert largest_micro_batch(0, lambda b: True, limit=100) == 100


def test_cli_llama2_7b_zero3(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "memory",
            "hf:llama-2-7b",
            "--train",
            "--optimizer",
            "adamw",
            "--zero",
            "3",
            "--gpus",
            "8",
            "--seq",
            "4096",
            "-f",
            "json",
        ]
    )
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    t = doc["training"]
    # Llama-2-7B: 6,738,415,616 parameters (the HF model's count; 32 layers, h = 4096,
    # 32 heads, MLP 11008, vocab 32000, untied head).
    psi = 6_738_415_616
    assert t["params"] == psi
    assert t["weights"] == pytest.approx(2 * psi / 8)
    assert t["gradients"] == pytest.approx(2 * psi / 8)
    assert t["optimizer_state"] == pytest.approx(12 * psi / 8)
    # 32 layers × s·b·h·(34 + 5·a·s/h) with s = 4096, b = 1, h = 4096, a = 32: 5·32·4096/4096 = 160
    assert t["activations"] == 32 * 4096 * 4096 * (34 + 160)
    rc = main(["memory", "hf:llama-2-7b", "--train", "--zero", "3", "--gpus", "8"])
    out = capsys.readouterr().out
    assert "ZeRO stage 3" in out and "optimizer_state" in out and "activations" in out


BAD_TRAINING_OPTIONS = [
    (["--zero", "4"], "--zero = 4: the ZeRO stage must be 0, 1, 2 or 3"),
    (["--gpus", "0"], "--gpus = 0: must be >= 1"),
    (["--tp", "0"], "--tp = 0: must be >= 1"),
    (["--pp", "-2"], "--pp = -2: must be >= 1"),
    (["--gpus", "6", "--tp", "4"], "--gpus 6 is not a multiple of tp·pp = 4"),
    (["--optimizer", "lion"], "--optimizer must be one of sgd, sgd-momentum, adam, adamw"),
]


@pytest.mark.parametrize("command", [["memory", "hf:llama-2-7b"], ["llm", "llama-2-7b"]])
@pytest.mark.parametrize(("options", "message"), BAD_TRAINING_OPTIONS)
def test_training_options_are_checked_in_one_place(
    command: list[str], options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both commands share the training-memory options and the API's one check: a bad value
    is a usage error (exit 2) with the same one line."""
    assert main([*command, "--train", *options]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


def test_check_training_options_returns_dp() -> None:
    assert check_training_options(zero=3, gpus=64, tp=4, pp=2) == 8
    with pytest.raises(FlopwiseError, match="not a multiple"):
        check_training_options(gpus=8, tp=3)


# Llama-3-8B by hand (config: vocab 128256, h = 4096, 32 layers, 32 query heads, 8 KV heads of
# 128, MLP 14336, untied head). Per layer: q,o 2·4096² + k,v 2·4096·1024 = 41,943,040;
# MLP 3·4096·14336 = 176,160,768; two norms 8,192 → 218,112,000; ×32 = 6,979,584,000;
# embedding + head 2·128256·4096 = 1,050,673,152; final norm 4,096.
LLAMA3_8B_PARAMS = 6_979_584_000 + 1_050_673_152 + 4_096  # 8,030,261,248
H100_BYTES = 80 * 1024**3  # the h100 profile's 80 GiB


def _llama3_largest_batch(prompt: int, gen: int) -> int:
    """The closed form, bf16 (2 bytes each): weights 2·N; per sequence the KV cache
    2·L·kv_heads·head_dim·(prompt+gen)·2 and the largest prefill op's activations, SwiGLU's
    gate·up product (reads the gate and up projections, 2·14336 per token, writes 14336):
    prompt·3·14336·2. The batch is what is left over the weights, per sequence, rounded down."""
    weights = 2 * LLAMA3_8B_PARAMS
    kv = 2 * 32 * 8 * 128 * (prompt + gen) * 2
    activations = prompt * 3 * 14336 * 2
    return (H100_BYTES - weights) // (kv + activations)


def test_llm_largest_inference_batch_is_the_closed_form(
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = _llama3_largest_batch(512, 128)
    assert expected == 545  # (85,899,345,920 − 16,060,522,496) // (83,886,080 + 44,040,192)
    args = ["llm", "llama-3-8b", "--prompt", "512", "--gen", "128", "--hardware", "h100"]
    assert main([*args, "--no-ops", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["roofline"]["largest_batch"] == expected
    assert doc["memory"]["weight_bytes"] == 2 * LLAMA3_8B_PARAMS
    assert main([*args, "--no-ops"]) == 0
    assert "largest batch that fits (512 + 128 tokens)" in capsys.readouterr().out
    # the batch itself fits and one more does not, by the estimate the table prints
    assert main([*args, "--batch", str(expected), "--no-ops", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["roofline"]["fits"] is True
    assert main([*args, "--batch", str(expected + 1), "--no-ops", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["roofline"]["fits"] is False


def test_memory_hf_inference_largest_batch_is_the_closed_form(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # flopwise memory hf:NAME (inference) is flopwise llm --prompt SEQ --gen 0
    expected = _llama3_largest_batch(640, 0)
    assert expected == 502  # 69,838,823,424 // (83,886,080 + 55,050,240)
    args = ["memory", "hf:llama-3-8b", "--seq", "640", "--hardware", "h100", "-f", "json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fit"]["largest_batch"] == expected
    inf = doc["inference"]
    assert inf["activations"] == 640 * 3 * 14336 * 2
    assert inf["peak_bytes"] == inf["weights"] + inf["kv_cache"] + inf["activations"]
