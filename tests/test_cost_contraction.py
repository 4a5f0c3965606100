"""Contraction formulas: hand-computed integers, and brute-force counts on small tensors."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import flopwise
from flopwise.cost.contraction import attended_pairs, attention_cost, conv_macs, matmul_macs


def counted(fn, *args, **kwargs):
    with flopwise.count() as c:
        fn(*args, **kwargs)
    return c.profile


# ---------------------------------------------------------------- hand-computed integers


def test_mm_hand_computed():
    p = counted(torch.mm, torch.randn(3, 5), torch.randn(5, 7))
    assert p.totals.macs == 105  # 3·7·5
    assert p.totals.flops == 210
    assert p.totals.activations == 21


def test_bmm_and_matmul_broadcast():
    p = counted(torch.matmul, torch.randn(2, 4, 3, 5), torch.randn(5, 6))
    assert p.totals.macs == 2 * 4 * 3 * 6 * 5  # 720
    assert matmul_macs((4, 1, 3, 5), (2, 5, 6)) == 4 * 2 * 3 * 6 * 5


def test_linear_with_bias_adds_one_flop_per_output():
    layer = torch.nn.Linear(10, 4)
    p = flopwise.profile(layer, torch.randn(3, 10))
    assert p.totals.macs == 120
    assert p.totals.flops == 2 * 120 + 12


def test_linear_without_bias():
    p = flopwise.profile(torch.nn.Linear(10, 4, bias=False), torch.randn(3, 10))
    assert (p.totals.macs, p.totals.flops) == (120, 240)


def test_linear_over_a_sequence_counts_every_position():
    # torchinfo-style counters miss the sequence dimension by 100x here.
    p = flopwise.profile(torch.nn.Linear(64, 32), torch.randn(2, 100, 64))
    assert p.totals.macs == 2 * 100 * 64 * 32


def test_conv2d_hand_computed():
    conv = torch.nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
    p = flopwise.profile(conv, torch.randn(2, 3, 16, 16))
    # output 2x8x8x8; macs = N·Cout·H·W·Cin·k² = 2·8·64·3·9
    assert p.totals.macs == 27648
    assert p.totals.flops == 2 * 27648 + 2 * 8 * 8 * 8


def test_grouped_dilated_conv():
    conv = torch.nn.Conv2d(8, 12, kernel_size=3, groups=4, dilation=2, bias=False)
    p = flopwise.profile(conv, torch.randn(1, 8, 10, 10))
    # output 1x12x6x6; Cin/groups = 2
    assert p.totals.macs == 12 * 36 * 2 * 9


def test_depthwise_conv1d_and_conv3d():
    p1 = flopwise.profile(torch.nn.Conv1d(4, 4, 5, groups=4, bias=False), torch.randn(1, 4, 20))
    assert p1.totals.macs == 4 * 16 * 1 * 5
    p3 = flopwise.profile(torch.nn.Conv3d(2, 3, 3, bias=False), torch.randn(1, 2, 4, 4, 4))
    assert p3.totals.macs == 3 * 8 * 2 * 27


def test_transposed_conv():
    conv = torch.nn.ConvTranspose2d(4, 6, kernel_size=3, stride=2, bias=False)
    p = flopwise.profile(conv, torch.randn(1, 4, 5, 5))
    # macs = N·Cin·∏(input spatial)·Cout/groups·k² = 4·25·6·9
    assert p.totals.macs == 5400
    assert conv_macs((1, 4, 5, 5), (4, 6, 3, 3), (1, 6, 11, 11), transposed=True) == 5400


def test_attention_pairs_closed_form():
    assert attended_pairs(1, 1, 4, 4, causal=False) == 16
    assert attended_pairs(1, 1, 4, 4, causal=True) == 10  # 1+2+3+4
    assert attended_pairs(2, 3, 5, 3, causal=True) == 2 * 3 * (1 + 2 + 3 + 3 + 3)
    assert attended_pairs(1, 1, 2, 5, causal=True) == 1 + 2  # top-left alignment


def test_sdpa_counts_match_conventions():
    q = torch.randn(2, 4, 8, 16)
    k = torch.randn(2, 4, 10, 16)
    p = counted(F.scaled_dot_product_attention, q, k, k)
    pairs = 2 * 4 * 8 * 10
    assert p.totals.macs == pairs * (16 + 16)
    assert p.totals.flops == 2 * pairs * 32 + 6 * pairs


def test_sdpa_math_fallback_keeps_exact_macs():
    # Value head dim != query head dim: the CPU flash kernel declines and PyTorch runs the
    # math backend; the call is still counted once, by the attention formula.
    q = torch.randn(2, 4, 8, 16)
    k = torch.randn(2, 4, 10, 16)
    v = torch.randn(2, 4, 10, 32)
    p = counted(F.scaled_dot_product_attention, q, k, v)
    pairs = 2 * 4 * 8 * 10
    assert p.totals.macs == pairs * (16 + 32)
    assert p.totals.flops == 2 * pairs * (16 + 32) + 6 * pairs


def test_sdpa_causal_and_float_mask():
    q = torch.randn(1, 2, 6, 8)
    p = counted(F.scaled_dot_product_attention, q, q, q, is_causal=True)
    pairs = 2 * 21
    assert p.totals.macs == pairs * 16
    mask = torch.randn(6, 6)
    pm = counted(F.scaled_dot_product_attention, q, q, q, attn_mask=mask)
    dense = 2 * 36
    assert pm.totals.flops == 2 * dense * 16 + 7 * dense
    bool_mask = torch.ones(6, 6, dtype=torch.bool).tril()
    pb = counted(F.scaled_dot_product_attention, q, q, q, attn_mask=bool_mask)
    assert pb.totals.macs == dense * 16  # explicit masks count dense, whatever their values


def test_gqa_costs_per_query_head():
    q = torch.randn(1, 8, 5, 4)
    kv = torch.randn(1, 2, 5, 4)
    p = counted(F.scaled_dot_product_attention, q, kv, kv, enable_gqa=True)
    assert p.totals.macs == 8 * 25 * 8


def test_fused_mha_fast_path_equals_unfused_parts():
    mha = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    x = torch.randn(3, 5, 16)
    fused = flopwise.profile(mha, x, x, x, need_weights=False)
    assert any(r.op == "aten._native_multi_head_attention" for r in fused.ops)
    # unfused: in-proj (3·E·E), attention, out-proj, biases
    b, seq, e, h = 3, 5, 16, 2
    pairs = b * h * seq * seq
    macs = b * seq * 3 * e * e + pairs * (2 * e // h) + b * seq * e * e
    assert fused.totals.macs == macs
    assert fused.totals.flops == 2 * macs + b * seq * 3 * e + b * seq * e + 6 * pairs
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        slow = flopwise.profile(mha, x, x, x, need_weights=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    assert not any(r.op == "aten._native_multi_head_attention" for r in slow.ops)
    assert slow.totals.macs == fused.totals.macs
    assert slow.totals.flops == fused.totals.flops


def test_grouped_mm_counts_routed_rows():
    if not hasattr(torch, "_grouped_mm"):
        pytest.skip("torch._grouped_mm not in this torch")
    x = torch.randn(10, 16, dtype=torch.bfloat16)
    w = torch.randn(3, 16, 8, dtype=torch.bfloat16)
    offs = torch.tensor([4, 7, 10], dtype=torch.int32)
    with flopwise.count() as c:
        try:
            torch._grouped_mm(x, w, offs=offs)
        except RuntimeError as exc:  # kernel unavailable on this CPU build
            pytest.skip(str(exc))
    assert c.totals.macs == 10 * 16 * 8


def test_attention_cost_is_pure():
    cost = attention_cost(1, 1, 3, 3, 2, 2, causal=True)
    assert cost.macs == 6 * 4 and cost.flops == 2 * 24 + 36


# ---------------------------------------------------------------- brute force


def brute_conv_macs(n, cin, cout, size, k, stride, pad, dil, groups):
    out = (size + 2 * pad - dil * (k - 1) - 1) // stride + 1
    macs = 0
    for _b, _co, _oy, _ox in itertools.product(range(n), range(cout), range(out), range(out)):
        for _ci, _ky, _kx in itertools.product(range(cin // groups), range(k), range(k)):
            macs += 1  # every kernel tap is a MAC, padded taps included (dense convention)
    return macs


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    groups=st.sampled_from([1, 2]),
    cin_per=st.integers(1, 3),
    cout_per=st.integers(1, 3),
    size=st.integers(5, 8),
    k=st.sampled_from([1, 2, 3]),
    stride=st.integers(1, 2),
    pad=st.integers(0, 1),
    dil=st.integers(1, 2),
)
def test_conv_formula_matches_brute_force(n, groups, cin_per, cout_per, size, k, stride, pad, dil):
    cin, cout = cin_per * groups, cout_per * groups
    if size + 2 * pad < dil * (k - 1) + 1:
        return
    conv = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dil, groups=groups)
    p = flopwise.profile(conv, torch.randn(n, cin, size, size))
    assert p.totals.macs == brute_conv_macs(n, cin, cout, size, k, stride, pad, dil, groups)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    m=st.integers(1, 5),
    k=st.integers(1, 5),
    n=st.integers(1, 5),
)
def test_matmul_formula_matches_brute_force(batch, m, k, n):
    a, b = torch.randn(*batch, m, k), torch.randn(k, n)
    p = counted(torch.matmul, a, b)
    brute = sum(
        1 for _ in itertools.product(*(range(d) for d in batch), range(m), range(n), range(k))
    )
    assert p.totals.macs == brute


@settings(max_examples=30, deadline=None)
@given(lq=st.integers(1, 9), lk=st.integers(1, 9), heads=st.integers(1, 3), causal=st.booleans())
def test_attention_pairs_match_mask_count(lq, lk, heads, causal):
    mask = torch.ones(lq, lk, dtype=torch.bool)
    if causal:
        mask = mask.tril()  # top-left alignment, as PyTorch defines is_causal
    assert attended_pairs(2, heads, lq, lk, causal) == 2 * heads * int(mask.sum())


def test_sdpa_under_inference_mode_and_training_backward():
    q = torch.randn(1, 2, 6, 8)
    with torch.inference_mode():
        p = counted(F.scaled_dot_product_attention, q, q, q, is_causal=True)
    assert p.totals.macs == 2 * 21 * 16
    qg = torch.randn(1, 2, 6, 8, requires_grad=True)
    with flopwise.count() as c:
        F.scaled_dot_product_attention(qg, qg, qg, is_causal=True).sum().backward()
    back = [r for r in c.profile.ops if r.phase == "backward" and "attention" in r.op]
    assert back and back[0].macs == 2 * (2 * 21) * 16  # dQ, dK, dV, dP over causal pairs


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_encoder_layer_fast_path_equals_unfused(activation):
    layer = torch.nn.TransformerEncoderLayer(
        d_model=32, nhead=4, dim_feedforward=64, batch_first=True, activation=activation
    ).eval()
    x = torch.randn(2, 7, 32)
    with torch.no_grad():
        fused = flopwise.profile(layer, x)
    assert any(r.op == "aten._transformer_encoder_layer_fwd" for r in fused.ops)
    assert fused.complete
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        slow = flopwise.profile(layer, x)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    assert not any(r.op == "aten._transformer_encoder_layer_fwd" for r in slow.ops)
    assert (fused.totals.macs, fused.totals.flops) == (slow.totals.macs, slow.totals.flops)
