"""Acceptance (4): the analytic LLM model against the capture engine on real HF forwards.

Small llama, mistral (sliding window) and mixtral / qwen2-moe configs are built with random
weights; the analytic prefill must equal the captured count of ``model(input_ids)`` within
0.5% and one decode step with a KV cache (``model(ids[:, -1:], past_key_values=cache)``)
within 1%. Both are in fact exact (same conventions, same per-element constants), which the
tests also print on failure.

Sliding window: HF transformers with SDPA runs causal attention (``is_causal``, counted as
causal pairs) while the keys fit in the window, and an explicit window mask once they reach
it; the conventions count an explicit mask dense (+1 flop per pair for the additive mask),
and the sliding cache keeps ``window − 1`` tokens. ``window_mode="mask"`` models exactly that;
the default ``"skip"`` reports what a window-aware kernel (FlashAttention ``window_size``)
computes. Both agree while the keys fit in the window.
"""

from __future__ import annotations

import pytest
import torch

import flopwise

transformers = pytest.importorskip("transformers")

from flopwise.llm import Precision, forward_ops, spec_from_config  # noqa: E402

BASE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "hidden_act": "silu",
    "vocab_size": 512,
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
}
LLAMA = {**BASE, "model_type": "llama", "rope_theta": 10000.0}
MISTRAL = {**BASE, "model_type": "mistral", "sliding_window": 32}
MIXTRAL = {
    **BASE,
    "model_type": "mixtral",
    "sliding_window": None,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
}
QWEN2_MOE = {
    **BASE,
    "model_type": "qwen2_moe",
    "num_key_value_heads": 4,
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 96,
    "num_experts": 6,
    "num_experts_per_tok": 2,
    "norm_topk_prob": False,
    "decoder_sparse_step": 1,
    "mlp_only_layers": [1],
    "use_sliding_window": False,
}

CONFIGS = {"llama": LLAMA, "mistral": MISTRAL, "mixtral": MIXTRAL, "qwen2_moe": QWEN2_MOE}


def _model(cfg: dict):
    torch.manual_seed(0)
    hf_cfg = transformers.AutoConfig.for_model(**cfg)
    return transformers.AutoModelForCausalLM.from_config(hf_cfg).eval()


def _analytic(cfg, batch, new, past, mode):
    ops = forward_ops(
        spec_from_config(cfg), batch, new, past, "all", Precision("float32"), window_mode=mode
    )
    return sum(op.flops for op in ops), sum(op.macs for op in ops)


@pytest.mark.parametrize(
    ("name", "seq", "mode"),
    [
        ("llama", 24, "skip"),
        ("mistral", 24, "skip"),  # keys fit in the window: causal, both modes agree
        ("mistral", 24, "mask"),
        ("mistral", 48, "mask"),  # past the window: HF passes an explicit mask
        ("mixtral", 24, "skip"),
        ("qwen2_moe", 16, "skip"),
    ],
)
def test_prefill_matches_capture(name, seq, mode):
    cfg = CONFIGS[name]
    model = _model(cfg)
    ids = torch.randint(0, cfg["vocab_size"], (2, seq))
    with torch.no_grad():
        prof = flopwise.profile(model, ids)
    assert prof.complete, prof.uncounted
    flops, macs = _analytic(cfg, 2, seq, 0, mode)
    rel = abs(flops - prof.totals.flops) / prof.totals.flops
    assert rel <= 0.005, (name, flops, prof.totals.flops, rel)
    assert macs == prof.totals.macs


@pytest.mark.parametrize(
    ("name", "past", "mode"),
    [
        ("llama", 20, "skip"),
        ("mistral", 20, "skip"),
        ("mistral", 40, "mask"),  # cache past the window: rolling buffer of window − 1
        ("mixtral", 20, "skip"),
        ("qwen2_moe", 12, "skip"),
    ],
)
def test_decode_step_matches_capture(name, past, mode):
    cfg = CONFIGS[name]
    model = _model(cfg)
    ids = torch.randint(0, cfg["vocab_size"], (2, past))
    with torch.no_grad():
        cache = model(ids, use_cache=True).past_key_values
        assert cache.get_seq_length() == past
        prof = flopwise.profile(model, ids[:, -1:], past_key_values=cache)
    assert prof.complete, prof.uncounted
    flops, macs = _analytic(cfg, 2, 1, past, mode)
    rel = abs(flops - prof.totals.flops) / prof.totals.flops
    assert rel <= 0.01, (name, flops, prof.totals.flops, rel)
    assert macs == prof.totals.macs


def test_sliding_window_skip_mode_reports_fewer_pairs_than_hf_sdpa():
    """Past the window, the default (a window-aware kernel) counts fewer flops than HF's
    dense masked SDPA; the difference is exactly the out-of-window pairs plus the mask add."""
    cfg = MISTRAL
    skip, _ = _analytic(cfg, 2, 48, 0, "skip")
    mask, _ = _analytic(cfg, 2, 48, 0, "mask")
    heads, d, layers, s, w = 4, 16, 2, 48, 32
    causal_window = w * (w + 1) // 2 + (s - w) * w
    dense = s * s
    per_pair_dense, per_pair = 2 * 2 * d + 7, 2 * 2 * d + 6
    assert mask - skip == layers * 2 * heads * (dense * per_pair_dense - causal_window * per_pair)


GPT2 = {
    "model_type": "gpt2",
    "n_embd": 64,
    "n_layer": 2,
    "n_head": 4,
    "n_positions": 512,
    "vocab_size": 512,
    "activation_function": "gelu_new",
    "tie_word_embeddings": True,
}
BERT = {
    "model_type": "bert",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "hidden_act": "gelu",
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "vocab_size": 512,
}


def test_gpt2_prefill_and_decode_match_capture():
    model = _model(GPT2)
    ids = torch.randint(0, 512, (2, 20))
    with torch.no_grad():
        pre = flopwise.profile(model, ids)
        cache = model(ids, use_cache=True).past_key_values
        dec = flopwise.profile(model, ids[:, -1:], past_key_values=cache)
    assert _analytic(GPT2, 2, 20, 0, "skip") == (pre.totals.flops, pre.totals.macs)
    assert _analytic(GPT2, 2, 1, 20, "skip") == (dec.totals.flops, dec.totals.macs)


def test_bert_encoder_matches_capture():
    torch.manual_seed(0)
    model = transformers.AutoModelForMaskedLM.from_config(
        transformers.AutoConfig.for_model(**BERT)
    ).eval()
    ids = torch.randint(0, 512, (2, 16))
    with torch.no_grad():
        prof = flopwise.profile(model, ids)
    assert _analytic(BERT, 2, 16, 0, "skip") == (prof.totals.flops, prof.totals.macs)


def test_t5_encoder_decoder_within_half_percent():
    """T5 runs its decoder self-attention dense with a position-bias mask while the analytic
    model counts the causal pairs, and leaves out the relative-position bucket arithmetic:
    close, not exact."""
    from flopwise.llm import decoder_step_ops, encoder_ops

    cfg = {
        "model_type": "t5",
        "d_model": 64,
        "d_kv": 16,
        "d_ff": 128,
        "num_layers": 2,
        "num_heads": 4,
        "vocab_size": 512,
        "feed_forward_proj": "relu",
        "decoder_start_token_id": 0,
        "pad_token_id": 0,
    }
    torch.manual_seed(0)
    model = transformers.AutoModelForSeq2SeqLM.from_config(
        transformers.AutoConfig.for_model(**cfg)
    ).eval()
    src, tgt = torch.randint(0, 512, (2, 16)), torch.randint(0, 512, (2, 5))
    with torch.no_grad():
        prof = flopwise.profile(model, input_ids=src, decoder_input_ids=tgt)
    spec, prec = spec_from_config(cfg), Precision("float32")
    ops = encoder_ops(spec, 2, 16, prec) + decoder_step_ops(spec, 2, 0, 16, 5, "all", prec)
    flops = sum(op.flops for op in ops)
    assert abs(flops - prof.totals.flops) / prof.totals.flops <= 0.005


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_training_step_close_to_captured_forward_backward(name):
    """The analytic backward rule (two contractions per contraction, attention backward,
    2× elementwise) against the engine's count of real autograd ops: forward exact, the
    step within 1%."""
    from flopwise.llm import training_cost

    cfg = {
        "llama": LLAMA,
        "gpt2": {**GPT2, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0},
    }[name]
    model = _model(cfg)
    model.train()
    ids = torch.randint(0, 512, (2, 32))
    prof = flopwise.profile(model, ids, train=True)
    cost = training_cost(spec_from_config(cfg), 2, 32)
    assert cost.forward == prof.totals.forward_flops
    assert abs(cost.step - prof.totals.flops) / prof.totals.flops <= 0.01
