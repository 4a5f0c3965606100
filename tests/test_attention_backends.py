"""One count per scaled_dot_product_attention call, whichever CPU backend PyTorch picks and
in every grad mode (issue 10).

Each expected figure is computed here from the definition, not from flopwise's formulas:
the attended pairs are the True entries of the mask PyTorch applies (a brute-force count of
``torch.ones(Lq, Lk).tril()`` for ``is_causal``), then macs = P·(E+Ev) and
flops = 2·macs + 6·P (+P for dropout, +P for an additive float mask). A plain recording
dispatch mode checks that each case really runs the backend it claims to test.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode

import flopwise

B, HQ, LQ, E = 2, 4, 5, 8


def pairs_brute_force(batch: int, heads: int, lq: int, lk: int, causal: bool) -> int:
    mask = torch.ones(lq, lk)
    if causal:
        mask = mask.tril()  # top-left alignment: query i sees keys 0..i
    return batch * heads * int(mask.sum().item())


class _OpNames(TorchDispatchMode):
    """Names of the ATen ops that reach a dispatch mode (what PyTorch really ran)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.__name__)
        return func(*args, **(kwargs or {}))


# name → (value head dim, dropout_p, forced backend, op proving the backend ran)
BACKENDS = {
    "cpu_flash": (E, 0.0, None, "_scaled_dot_product_flash_attention_for_cpu.default"),
    "math_value_dim": (6, 0.0, None, "_safe_softmax.default"),
    "math_dropout": (E, 0.25, None, "_safe_softmax.default"),
    "math_forced": (E, 0.0, SDPBackend.MATH, "_safe_softmax.default"),
}
GRAD_MODES = {
    "no_grad": torch.no_grad,
    "inference_mode": torch.inference_mode,
    "autograd": torch.enable_grad,
}


def _inputs(lk: int, hk: int, ev: int, grad: bool):
    torch.manual_seed(0)
    q = torch.randn(B, HQ, LQ, E, requires_grad=grad)
    k = torch.randn(B, hk, lk, E, requires_grad=grad)
    v = torch.randn(B, hk, lk, ev, requires_grad=grad)
    return q, k, v


def _backend_ctx(backend):
    return sdpa_kernel(backend) if backend is not None else contextlib.nullcontext()


@pytest.mark.parametrize("gqa", [False, True], ids=["mha", "gqa"])
@pytest.mark.parametrize("causal", [False, True], ids=["dense", "causal"])
@pytest.mark.parametrize("lk", [3, 7], ids=["lk<lq", "lk>lq"])
@pytest.mark.parametrize("grad_mode", list(GRAD_MODES))
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_one_count_per_call(backend, grad_mode, lk, causal, gqa):
    ev, dropout_p, forced, proof = BACKENDS[backend]
    hk = 2 if gqa else HQ
    grad = grad_mode == "autograd"
    q, k, v = _inputs(lk, hk, ev, grad)

    def call():
        return F.scaled_dot_product_attention(
            q, k, v, is_causal=causal, dropout_p=dropout_p, enable_gqa=gqa
        )

    if grad_mode != "inference_mode":  # under inference_mode the call arrives whole
        with _backend_ctx(forced), GRAD_MODES[grad_mode](), _OpNames() as seen:
            call()
        assert proof in seen.names, f"{backend} did not run: {sorted(set(seen.names))}"

    with _backend_ctx(forced), GRAD_MODES[grad_mode](), flopwise.count() as c:
        call()
    p = pairs_brute_force(B, HQ, LQ, lk, causal)
    macs = p * (E + ev)
    flops = 2 * macs + 6 * p + (p if dropout_p > 0 else 0)
    records = [r for r in c.profile.ops if r.flops or r.macs]
    assert [r.op for r in records] == ["aten.scaled_dot_product_attention"]
    assert (c.totals.macs, c.totals.flops) == (macs, flops)
    assert c.profile.complete


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("causal", [False, True], ids=["dense", "causal"])
def test_backward_is_one_attention_backward(backend, causal):
    ev, dropout_p, forced, _ = BACKENDS[backend]
    lk = 7
    q, k, v = _inputs(lk, 2, ev, grad=True)
    with _backend_ctx(forced), flopwise.count() as c:
        out = F.scaled_dot_product_attention(
            q, k, v, is_causal=causal, dropout_p=dropout_p, enable_gqa=True
        )
        out.sum().backward()
    p = pairs_brute_force(B, HQ, LQ, lk, causal)
    # dV = Pᵀ·dO and dP = dO·Vᵀ (P·Ev each), dQ = dS·K and dK = dSᵀ·Q (P·E each),
    # softmax backward 3 flops per pair, dropout mask on the gradient 1 per pair.
    macs = 2 * p * (E + ev)
    flops = 2 * macs + 3 * p + (p if dropout_p > 0 else 0)
    backward = [r for r in c.profile.ops if r.phase == "backward"]
    counted = [r for r in backward if r.flops or r.macs]
    assert [r.op for r in counted] == ["flopwise.scaled_dot_product_attention_backward"]
    assert (c.totals.backward_flops, counted[0].macs) == (flops, macs)
    assert q.grad is not None and k.grad is not None and v.grad is not None


def test_masks_count_dense_and_float_mask_adds_one_flop_per_pair():
    lk = 7
    float_mask = torch.randn(LQ, lk)
    bool_mask = torch.ones(LQ, lk, dtype=torch.bool).tril()  # values never change the count
    dense = pairs_brute_force(B, HQ, LQ, lk, causal=False)
    for grad_mode, ctx in GRAD_MODES.items():
        for mask, extra in ((float_mask, dense), (bool_mask, 0)):
            q, k, v = _inputs(lk, HQ, E, grad=grad_mode == "autograd")
            with ctx(), flopwise.count() as c:
                F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            macs = dense * 2 * E
            assert (c.totals.macs, c.totals.flops) == (macs, 2 * macs + 6 * dense + extra), (
                grad_mode,
                mask.dtype,
            )


class Attention(torch.nn.Module):
    def __init__(self, dim: int = 16, heads: int = 4, kv_heads: int = 2) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q = torch.nn.Linear(dim, dim, bias=False)
        self.kv = torch.nn.Linear(dim, 2 * kv_heads * self.head_dim, bias=False)

    def forward(self, x):
        b, n, _ = x.shape
        q = self.q(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(x).view(b, n, 2, self.kv_heads, self.head_dim).unbind(2)
        k, v = k.transpose(1, 2), v.transpose(1, 2)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)


@pytest.mark.parametrize("train", [False, True], ids=["forward", "training"])
def test_same_count_on_real_fake_meta(train):
    model, x = Attention(), torch.randn(2, 9, 16)
    real = flopwise.profile(model, x, train=train)
    for kind in ("fake", "meta"):
        assert flopwise.profile(model, x, train=train, tensors=kind).totals == real.totals
    attn = [r for r in real.ops if "scaled_dot_product" in r.op]
    p = pairs_brute_force(2, 4, 9, 9, causal=True)
    assert attn[0].macs == p * 8 and attn[0].module_path == ""
    assert len(attn) == (2 if train else 1)


def _autograd_kernel_registered() -> bool:
    return torch._C._dispatch_has_kernel_for_dispatch_key(
        "aten::scaled_dot_product_attention", "AutogradCPU"
    )


def test_kernel_removed_on_exit_even_when_the_block_raises():
    assert not _autograd_kernel_registered()
    with flopwise.count(), flopwise.count():  # nested captures share one registration
        assert _autograd_kernel_registered()
    assert not _autograd_kernel_registered()
    with pytest.raises(ValueError), flopwise.count():
        raise ValueError("model failed")
    assert not _autograd_kernel_registered()


def test_multihead_attention_fast_path_still_runs():
    # A TorchFunctionMode would switch the fused path off; the dispatch-level hook must not.
    mha = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        p = flopwise.profile(mha, x, x, x, need_weights=False)
    assert [r.op for r in p.ops if r.macs] == ["aten._native_multi_head_attention"]


def test_each_backward_pass_counts_once():
    # retain_graph: two backward passes through one call are two attention backwards.
    q, k, v = _inputs(7, HQ, 6, grad=True)  # Ev != E: the math backend's dense graph
    with flopwise.count() as c:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.sum().backward(retain_graph=True)
        out.sum().backward()
    p = pairs_brute_force(B, HQ, LQ, 7, causal=True)
    backward = [r for r in c.profile.ops if r.phase == "backward" and r.macs]
    assert [r.macs for r in backward] == [2 * p * (E + 6)] * 2
