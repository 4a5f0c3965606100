"""Analytic LLM cost model: closed forms, causal/window counting, GQA, MoE, quantization,
decode, roofline, training, rerankers (E2R-FLOPs) and sparse retrieval. Pure, fast."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flopwise.llm import (
    Precision,
    activation_probabilities,
    attended_keys,
    count_params,
    critical_batch,
    decode_step_cost,
    estimate,
    expected_experts_touched,
    expected_flops,
    expected_flops_from_embeddings,
    flops_regularizer,
    forward_ops,
    kv_cache_bytes,
    megatron_forward_flops,
    megatron_training_flops,
    mfu,
    prefill_cost,
    qpp,
    rerank_calls,
    rerank_cost,
    rpp,
    rpp_mean,
    spec_from_config,
    training_cost,
)
from flopwise.llm.ops import flops_breakdown

# ---------------------------------------------------------------------------------------
# configs (inline: the model tests must not depend on another package's built-ins)


def gpt_config(h: int = 768, layers: int = 12, heads: int = 12, vocab: int = 50257) -> dict:
    return {
        "model_type": "gpt2",
        "n_embd": h,
        "n_layer": layers,
        "n_head": heads,
        "n_inner": None,
        "vocab_size": vocab,
        "n_positions": 1024,
        "activation_function": "gelu_new",
        "tie_word_embeddings": True,
    }


def llama_config(
    h: int = 4096,
    inter: int = 14336,
    layers: int = 32,
    heads: int = 32,
    kv_heads: int = 8,
    vocab: int = 128256,
    **extra,
) -> dict:
    return {
        "model_type": "llama",
        "hidden_size": h,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": vocab,
        "max_position_embeddings": 8192,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        **extra,
    }


def mixtral_config() -> dict:
    return {
        **llama_config(vocab=32000),
        "model_type": "mixtral",
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "sliding_window": None,
    }


LLAMA3_8B = llama_config()


@dataclass
class StandInProfile:
    """Minimal stand-in for flopwise.measure.hardware.HardwareProfile (H100 SXM figures)."""

    name: str = "h100-standin"
    kind: str = "gpu"
    peak_flops: dict = field(
        default_factory=lambda: {"float32": 67e12, "bfloat16": 989.5e12, "float8": 1979e12}
    )
    memory_bandwidth: float = 3.35e12
    memory_bytes: int = 80 * 2**30
    source: str = "test"


def total(ops, attr: str = "flops") -> int:
    return sum(getattr(op, attr) for op in ops)


# ---------------------------------------------------------------------------------------
# acceptance (1): Megatron's closed form, matmul-only view, exact


@pytest.mark.parametrize(
    ("batch", "seq", "cfg"),
    [
        (1, 1024, gpt_config()),
        (8, 2048, gpt_config(h=1600, layers=48, heads=25)),
        (3, 7, gpt_config(h=64, layers=2, heads=4, vocab=512)),
    ],
)
def test_gpt_matmuls_equal_megatron_closed_form_exactly(batch, seq, cfg):
    spec = spec_from_config(cfg)
    ops = forward_ops(spec, batch, seq, logits="all", causal=False)
    closed = megatron_forward_flops(batch, seq, spec.layers, spec.hidden, spec.vocab)
    assert 2 * total(ops, "macs") == closed
    # the documented form 24·B·s·L·h²·(1 + s/(6h) + V/(12·L·h)), evaluated as a fraction
    from fractions import Fraction

    b, s, n, h, v = batch, seq, spec.layers, spec.hidden, spec.vocab
    form = 24 * b * s * n * h * h * (1 + Fraction(s, 6 * h) + Fraction(v, 12 * n * h))
    assert form == closed


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 4),
    seq=st.integers(1, 300),
    heads=st.integers(1, 8),
    head_dim=st.sampled_from([8, 16, 64]),
    layers=st.integers(1, 4),
    vocab=st.integers(1, 1000),
)
def test_megatron_closed_form_property(batch, seq, heads, head_dim, layers, vocab):
    spec = spec_from_config(gpt_config(heads * head_dim, layers, heads, vocab))
    ops = forward_ops(spec, batch, seq, logits="all", causal=False)
    assert 2 * total(ops, "macs") == megatron_forward_flops(
        batch, seq, layers, heads * head_dim, vocab
    )


def test_full_count_adds_named_terms_on_top_of_matmuls():
    spec = spec_from_config(gpt_config())
    b, s = 2, 512
    ops = forward_ops(spec, b, s, logits="all", causal=False)
    br = flops_breakdown(ops)
    assert br["matmul"] == megatron_forward_flops(b, s, 12, 768, 50257)
    assert sum(br.values()) == total(ops)
    h, n, t = 768, 12, b * s
    # biases: qkv (3h) + out (h) + fc_in (4h) + fc_out (h) per token and layer
    assert br["bias"] == n * t * 9 * h
    # scale + softmax: 6 flops per attended pair (non-causal: s² pairs per head)
    assert br["attention_softmax"] == n * 6 * b * 12 * s * s
    assert br["norm"] > 0 and br["activation"] > 0 and br["residual"] == n * 2 * t * h


# ---------------------------------------------------------------------------------------
# acceptance (2): causal halving


@settings(max_examples=100, deadline=None)
@given(
    past=st.integers(0, 200),
    new=st.integers(1, 200),
    window=st.one_of(st.none(), st.integers(1, 300)),
)
def test_attended_keys_brute_force(past, new, window):
    brute = sum(min(i + 1, window or 10**9) for i in range(past, past + new))
    assert attended_keys(past, new, window) == brute


def test_causal_attention_is_the_conventions_pair_count():
    spec = spec_from_config(gpt_config(h=256, layers=2, heads=4, vocab=100))
    b, s, heads, d = 3, 100, 4, 64
    causal = forward_ops(spec, b, s, logits="none")
    full = forward_ops(spec, b, s, logits="none", causal=False)
    pairs_causal = b * heads * s * (s + 1) // 2
    pairs_full = b * heads * s * s
    scores = [op for op in causal if op.name == "attn_scores"][0]
    assert scores.macs == 2 * pairs_causal * d
    diff = total(full) - total(causal)
    # per layer: 2·macs (E + Ev) + 6 per pair, for the pairs causal attention skips
    assert diff == 2 * (pairs_full - pairs_causal) * (2 * 2 * d + 6)
    # the attention matmul term halves as s grows: s(s+1)/2 vs s²
    assert scores.macs * 2 == b * heads * s * (s + 1) * d * 2


def test_causal_gpt_matmuls_are_closed_form_with_halved_attention():
    spec = spec_from_config(gpt_config())
    b, s, n, h, v = 2, 1024, 12, 768, 50257
    ops = forward_ops(spec, b, s, logits="all")
    expected = 24 * b * s * n * h * h + 2 * b * s * (s + 1) * n * h + 2 * b * s * h * v
    assert 2 * total(ops, "macs") == expected


# ---------------------------------------------------------------------------------------
# sliding window, GQA, MoE, tied embeddings, encoder-only, encoder-decoder


def test_sliding_window_caps_pairs_and_kv_cache():
    spec = spec_from_config(
        llama_config(h=256, inter=512, layers=2, heads=4, kv_heads=2, vocab=100, sliding_window=64)
    )
    assert spec.sliding_window == 64
    s = 200
    skip = forward_ops(spec, 1, s, logits="none")
    mask = forward_ops(spec, 1, s, logits="none", window_mode="mask")
    sc = [op for op in skip if op.name == "attn_scores"][0]
    mc = [op for op in mask if op.name == "attn_scores"][0]
    assert sc.macs == 2 * 4 * (64 * 65 // 2 + (s - 64) * 64) * 64
    assert mc.macs == 2 * 4 * s * s * 64  # explicit mask: dense
    sm = [op for op in mask if op.name == "attn_softmax"][0]
    assert sm.flops == 2 * 7 * 4 * s * s  # +1 per pair for the additive mask
    # rolling buffer: the cache never exceeds the window
    assert kv_cache_bytes(spec, 1, 1000) == kv_cache_bytes(spec, 1, 64)
    # decode past the window: window keys, window-1 of them read from the cache
    step = decode_step_cost(spec, 1, 500)
    scores = [op for op in step.ops if op.name == "attn_scores"][0]
    assert scores.macs == 2 * 4 * 64 * 64
    assert scores.kv_read == 2 * 63 * 2 * 64 * 2  # layers · tokens · kv_dim · 2 bytes


def test_gqa_costs_attention_like_mha_but_shrinks_kv():
    mha = spec_from_config(llama_config(kv_heads=32))
    gqa = spec_from_config(llama_config(kv_heads=8))
    mqa = spec_from_config(llama_config(kv_heads=1))
    assert mqa.attention_style == "MQA" and mha.attention_style == "MHA"

    def attn(spec):
        return sum(op.flops for op in forward_ops(spec, 1, 128) if op.name.startswith("attn_"))

    assert attn(mha) == attn(gqa) == attn(mqa)
    assert kv_cache_bytes(mha, 1, 100) == 4 * kv_cache_bytes(gqa, 1, 100)
    assert kv_cache_bytes(gqa, 1, 100) == 100 * 32 * 2 * 8 * 128 * 2


def test_moe_active_vs_total_params_and_flops():
    spec = spec_from_config(mixtral_config())
    p = count_params(spec)
    assert p.total == 46_702_792_704  # Mixtral-8x7B
    assert p.active == 12_879_925_248
    dense_expert = 3 * 4096 * 14336
    ops = forward_ops(spec, 1, 10, logits="none")
    gate_up = [op for op in ops if op.name == "experts_gate_up"][0]
    assert gate_up.macs == 32 * 10 * 2 * 4096 * 2 * 14336  # tokens · top-k rows
    # decode with batch 1 reads exactly k experts per layer
    step = decode_step_cost(spec, 1, 100)
    down = [op for op in step.ops if op.name == "experts_down"][0]
    assert down.weight_bytes == 32 * 2 * (4096 * 14336) * 2
    assert dense_expert == 3 * 4096 * 14336


@pytest.mark.parametrize(("e", "k", "b"), [(8, 2, 1), (8, 2, 4), (60, 4, 16), (8, 2, 1000)])
def test_expected_experts_touched(e, k, b):
    got = expected_experts_touched(e, k, b)
    assert got == pytest.approx(e * (1 - (1 - k / e) ** b))
    assert k <= got + 1e-9 <= e + 1e-9
    assert expected_experts_touched(8, 2, 1) == pytest.approx(2)


def test_param_counts_of_known_models():
    assert count_params(spec_from_config(LLAMA3_8B)).total == 8_030_261_248
    gpt2 = count_params(spec_from_config(gpt_config()))
    assert gpt2.total == 124_439_808  # tied lm_head counted once
    assert gpt2.lm_head == 0


def test_encoder_only_and_encoder_decoder_run():
    bert = spec_from_config(
        {
            "model_type": "bert",
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "vocab_size": 30522,
            "max_position_embeddings": 512,
            "type_vocab_size": 2,
            "hidden_act": "gelu",
        }
    )
    assert bert.kind == "encoder"
    assert count_params(bert).total == 109_514_298  # BertForMaskedLM
    e = estimate(bert, batch=2, prompt=128, gen=0)
    assert e.decode is None and e.kv_cache_bytes == 0
    t5 = spec_from_config(
        {
            "model_type": "t5",
            "d_model": 512,
            "d_kv": 64,
            "d_ff": 2048,
            "num_layers": 6,
            "num_heads": 8,
            "vocab_size": 32128,
            "feed_forward_proj": "relu",
        }
    )
    assert t5.kind == "encoder-decoder"
    e = estimate(t5, batch=1, prompt=64, gen=8, hardware=StandInProfile())
    assert e.decode is not None and e.decode.steps == 8
    assert e.roofline.ttft > e.roofline.prefill.seconds  # includes the first decoder step


# ---------------------------------------------------------------------------------------
# quantization, decode totals, bytes, roofline


def test_quantized_weights_and_kv_change_bytes_not_flops():
    base = estimate(LLAMA3_8B, batch=4, prompt=256, gen=16)
    q = estimate(LLAMA3_8B, batch=4, prompt=256, gen=16, weight_dtype="int4", kv_dtype="fp8")
    assert q.prefill.flops == base.prefill.flops
    assert q.decode.flops == base.decode.flops
    assert q.weight_bytes * 4 == base.weight_bytes
    assert q.kv_cache_bytes * 2 == base.kv_cache_bytes
    assert q.decode_first.kv_read * 2 == base.decode_first.kv_read
    assert q.decode_first.weight_bytes < base.decode_first.weight_bytes / 3.9


def test_decode_totals_are_the_sum_of_the_steps():
    spec = spec_from_config(
        llama_config(h=256, inter=512, layers=2, heads=4, kv_heads=2, vocab=1000)
    )
    e = estimate(spec, batch=3, prompt=20, gen=6, dtype="float32")
    steps = [decode_step_cost(spec, 3, 20 + j, Precision("float32")) for j in range(5)]
    assert e.decode.steps == 5
    assert e.decode.flops == sum(s.flops for s in steps)
    assert e.decode.bytes == sum(s.bytes for s in steps)
    assert e.decode_first.context == 21 and e.decode_last.context == 25


@pytest.mark.parametrize("mode", ["skip", "mask"])
def test_decode_totals_across_the_window_equal_brute_force(mode):
    spec = spec_from_config(
        llama_config(h=64, inter=128, layers=2, heads=4, kv_heads=2, vocab=100, sliding_window=32)
    )
    hw = StandInProfile()
    e = estimate(spec, batch=3, prompt=20, gen=40, hardware=hw, window_mode=mode)
    steps = [decode_step_cost(spec, 3, 20 + j, e.precision, mode) for j in range(39)]
    assert e.decode.flops == sum(s.flops for s in steps)
    assert e.decode.macs == sum(s.macs for s in steps)
    assert e.decode.bytes == sum(s.bytes for s in steps)
    peak, bw = e.roofline.peak_flops, e.roofline.bandwidth
    assert e.decode.seconds == pytest.approx(sum(s.roofline(peak, bw).seconds for s in steps))
    assert e.decode.fused_seconds == pytest.approx(
        sum(s.roofline(peak, bw).fused_seconds for s in steps)
    )


def test_decode_step_bytes_are_weights_plus_kv():
    spec = spec_from_config(LLAMA3_8B)
    step = decode_step_cost(spec, 1, 1023)
    p = count_params(spec)
    # every weight but the embedding table is read; the embedding reads one row
    assert step.weight_bytes == 2 * (p.total - p.embedding) + 2 * 4096
    assert step.kv_read == 2 * 32 * 1023 * 2 * 8 * 128  # K and V, read by scores/values
    assert step.kv_written == 32 * 2 * 8 * 128 * 2


def test_roofline_with_stand_in_profile():
    hw = StandInProfile()
    e = estimate(LLAMA3_8B, batch=1, prompt=512, gen=128, hardware=hw)
    r = e.roofline
    assert r.ridge == pytest.approx(989.5e12 / 3.35e12)
    assert r.prefill.bound == "compute"
    assert r.decode_first.bound == "memory"
    # a decode step at batch 1 streams the weights: time ≈ weight bytes / bandwidth
    assert r.decode_first.fused_seconds == pytest.approx(
        e.decode_first.fused_bytes / hw.memory_bandwidth
    )
    assert r.tpot == pytest.approx(e.decode.seconds / 127)
    assert r.decode_tokens_per_s == pytest.approx(1 / r.tpot)
    assert r.ttft == r.prefill.seconds
    assert r.device_memory == 80 * 2**30 and r.fits


def test_critical_batch_is_the_first_compute_bound_batch():
    hw = StandInProfile()
    spec = spec_from_config(LLAMA3_8B)
    peak, bw = 989.5e12, 3.35e12
    b = critical_batch(spec, 1, peak, bw)
    assert b is not None and 200 < b < 400  # ≈ ridge: 2 FLOPs per 2-byte weight per token

    def bound(batch):
        ph = decode_step_cost(spec, batch, 0)
        return ph.flops / peak >= ph.fused_bytes / bw

    assert bound(b) and not bound(b - 1)
    # long contexts: the KV cache grows with the batch as fast as the flops do
    assert critical_batch(spec, 8192, peak, bw) is None
    assert estimate(spec, batch=1, prompt=16, gen=2, hardware=hw).roofline.critical_batch_no_kv == b


def test_prefill_logits_last_vs_all():
    spec = spec_from_config(LLAMA3_8B)
    last = prefill_cost(spec, 2, 100, logits="last")
    every = prefill_cost(spec, 2, 100, logits="all")
    head = 2 * 4096 * 128256
    assert every.flops - last.flops == head * (2 * 100 - 2)


# ---------------------------------------------------------------------------------------
# training


def test_training_closed_forms_and_counted():
    spec = spec_from_config(gpt_config())
    b, s = 4, 1024
    t = training_cost(spec, b, s)
    assert t.megatron == 3 * megatron_forward_flops(b, s, 12, 768, 50257)
    assert t.megatron == megatron_training_flops(b, s, 12, 768, 50257)
    # counted matmuls: forward 2·macs, backward 4·macs → 3× the (causal) forward matmuls
    assert t.forward_matmul * 3 <= t.megatron
    assert t.six_n == 6 * (124_439_808 - 50257 * 768 - 1024 * 768 + 50257 * 768) * b * s
    assert 0.95 < t.step / t.kaplan < 1.1
    r = training_cost(spec, b, s, recompute=True)
    assert r.recompute > 0 and r.step == r.forward + r.backward + r.recompute
    assert r.megatron == megatron_training_flops(b, s, 12, 768, 50257, recompute=True)
    h, n, v = 768, 12, 50257
    from fractions import Fraction

    assert r.megatron == 96 * b * s * n * h * h * (1 + Fraction(s, 6 * h) + Fraction(v, 16 * n * h))


def test_mfu():
    assert mfu(1e15, 2.0, 1e15) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        mfu(1.0, 0.0, 1.0)


# ---------------------------------------------------------------------------------------
# acceptance (3): rerankers, E2R-FLOPs


def test_qpp_rpp_hand_computed():
    assert qpp(2e12) == pytest.approx(500.0)  # 1e15 / 2e12
    assert rpp(0.7, 2e12) == pytest.approx(350.0)  # 0.7 / (2e12 / 1e15)
    assert rpp(0.45, 5e14) == pytest.approx(0.9)
    # mean of per-query RPP: (0.5/0.001 + 0.8/0.004) / 2 = (500 + 200) / 2
    assert rpp_mean([0.5, 0.8], [1e12, 4e12]) == pytest.approx(350.0)
    with pytest.raises(ValueError):
        qpp(0)


def test_rerank_call_counts():
    assert rerank_calls("pointwise", 100) == 100
    assert rerank_calls("listwise", 100, window=20, stride=10) == 9
    assert rerank_calls("listwise", 15, window=20, stride=10) == 1
    # setwise bubble sort, c=4, top-10 of 100: Σ_{i<10} ceil((99 − i)/3)
    assert rerank_calls("setwise", 100, set_size=4, top_k=10) == 318


def test_rerank_flops_per_query_hand_computed():
    spec = spec_from_config(
        llama_config(h=256, inter=512, layers=2, heads=4, kv_heads=2, vocab=1000)
    )
    r = rerank_cost(
        spec, "pointwise", candidates=50, query_tokens=10, doc_tokens=30, template_tokens=5
    )
    assert r.prompt_tokens == 45 and r.output_tokens == 1 and r.calls == 50
    per_call = total(forward_ops(spec, 1, 45, logits="last"))
    assert r.flops_per_call == per_call
    assert r.flops_per_query == 50 * per_call
    assert r.qpp == pytest.approx(1e15 / (50 * per_call))
    assert r.rpp(0.6) == pytest.approx(0.6 / (50 * per_call / 1e15))
    lw = rerank_cost(
        spec,
        "listwise",
        candidates=100,
        query_tokens=10,
        doc_tokens=30,
        template_tokens=5,
        window=20,
        stride=10,
    )
    prompt = 5 + 10 + 20 * 30
    per = total(forward_ops(spec, 1, prompt, logits="last")) + sum(
        total(forward_ops(spec, 1, 1, prompt + j)) for j in range(59)
    )
    assert lw.calls == 9 and lw.output_tokens == 60 and lw.flops_per_query == 9 * per


# ---------------------------------------------------------------------------------------
# sparse retrieval (Paria et al. 2020)


def test_sparse_expected_flops_and_regularizer():
    assert expected_flops([0.5, 0.1], 1000) == pytest.approx(260.0)
    a = np.array([[1.0, 0, 0], [0, 2.0, 0], [-3.0, 0, 0], [0, 0, 0]])
    assert activation_probabilities(a).tolist() == [0.5, 0.25, 0.0]
    assert expected_flops_from_embeddings(a, 4) == pytest.approx(4 * (0.25 + 0.0625))
    # mean |a| per dim: [1, 0.5, 0] → 1 + 0.25
    assert flops_regularizer(a) == pytest.approx(1.25)
    with pytest.raises(ValueError):
        expected_flops([1.5], 10)


# ---------------------------------------------------------------------------------------
# invariants


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 8), prompt=st.integers(1, 64), past=st.integers(0, 100))
def test_flops_scale_and_integers(batch, prompt, past):
    spec = spec_from_config(llama_config(h=64, inter=128, layers=2, heads=4, kv_heads=2, vocab=100))
    one = forward_ops(spec, 1, prompt, past)
    many = forward_ops(spec, batch, prompt, past)
    rope_tables = [op.flops for op in one if op.name == "rope_tables"][0]
    # everything scales with the batch except the RoPE tables (built once, batch 1 in HF)
    assert total(many) - rope_tables == batch * (total(one) - rope_tables)
    assert all(isinstance(op.flops, int) and op.flops >= 0 for op in many)
    assert all(op.flops >= 2 * op.macs for op in many)


def test_estimate_rejects_bad_sizes():
    with pytest.raises(ValueError):
        estimate(LLAMA3_8B, batch=0)
    assert math.isfinite(estimate(LLAMA3_8B, batch=1, prompt=8, gen=1).prefill.intensity)


def test_avoids_known_analyzer_bugs():
    """LLM-Viewer-style slips: the MLP activation must be sized by the intermediate size,
    not the hidden size, and lm_head is a matmul at 2 flops per multiply-add."""
    from flopwise.llm.unit_costs import unit_cost

    small = spec_from_config(llama_config(inter=8192))
    big = spec_from_config(llama_config(inter=16384))
    per_elem = unit_cost("aten.silu.default")[0]

    def op(spec, name):
        return [o for o in forward_ops(spec, 1, 10, logits="all") if o.name == name][0]

    assert op(small, "act").flops == round(per_elem * 10 * 8192) * 32
    assert op(big, "act").flops == 2 * op(small, "act").flops
    assert op(small, "gate_mul").flops == 32 * 10 * 8192
    assert op(small, "lm_head").flops == 2 * 10 * 4096 * 128256
