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
from flopwise.memory.llm import (
    activation_bytes_per_layer,
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
