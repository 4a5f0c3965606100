"""Models that used to crash the count (issue 10): nn.TransformerEncoder with a padding
mask in eval (nested-tensor fast path), TorchScript modules on fake/meta tensors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import flopwise
from flopwise.errors import FlopwiseError

# torch.jit.script/trace warn that they are deprecated; these tests are about TorchScript.
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated:FutureWarning")

KINDS = ["real", "fake", "meta"]
B, L, E, HEADS, FFN, LAYERS = 2, 5, 16, 2, 32, 2


def _encoder() -> nn.TransformerEncoder:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, HEADS, FFN, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, LAYERS).eval()


def _padding_mask(pad_from: int) -> torch.Tensor:
    mask = torch.zeros(B, L, dtype=torch.bool)
    mask[0, pad_from:] = True  # first sequence padded from position pad_from
    return mask


@pytest.mark.parametrize("kind", KINDS)
def test_encoder_with_padding_mask_counts_dense(kind):
    enc = _encoder()
    x = torch.randn(B, L, E)
    plain = flopwise.profile(enc, x, tensors=kind)
    masked = flopwise.profile(enc, x, src_key_padding_mask=_padding_mask(3), tensors=kind)
    pairs = B * HEADS * L * L  # attended pairs per layer, padded positions included
    # the padding mask becomes an additive float mask: one add per attended pair per layer
    assert masked.totals.flops == plain.totals.flops + LAYERS * pairs
    # MACs by hand, per layer: q/k/v projection, output projection, QK^T and PV, FFN
    tokens = B * L
    per_layer = (
        tokens * E * 3 * E + tokens * E * E + pairs * 2 * (E // HEADS) + 2 * tokens * E * FFN
    )
    assert masked.totals.macs == plain.totals.macs == LAYERS * per_layer
    assert any("src_key_padding_mask" in n and "dense" in n for n in masked.notes)
    assert not plain.notes
    assert enc.use_nested_tensor  # the switch is undone


def test_encoder_with_padding_mask_same_on_every_kind_and_any_mask():
    enc = _encoder()
    x = torch.randn(B, L, E)
    totals = {
        (kind, pad): flopwise.profile(
            enc, x, src_key_padding_mask=_padding_mask(pad), tensors=kind
        ).totals
        for kind in KINDS
        for pad in (1, 4)
    }
    first = totals[("real", 1)]
    for t in totals.values():
        assert (t.flops, t.macs, t.bytes_read, t.bytes_written) == (
            first.flops,
            first.macs,
            first.bytes_read,
            first.bytes_written,
        )


def _jit_models():
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU())
    x = torch.randn(2, 8)
    return {"script": torch.jit.script(model), "trace": torch.jit.trace(model, x)}, x


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_counts_on_real_tensors(how):
    models, x = _jit_models()
    prof = flopwise.profile(models[how], x)
    # linear 2x8 -> 4: 2*4*8 MACs, 2 flops each + 8 bias adds; relu 8
    assert prof.totals.macs == 64
    assert prof.totals.flops == 2 * 64 + 8 + 8


@pytest.mark.parametrize("how", ["script", "trace"])
@pytest.mark.parametrize("kind", ["fake", "meta"])
def test_torchscript_on_fake_or_meta_says_use_real_tensors(how, kind):
    models, x = _jit_models()
    with pytest.raises(FlopwiseError) as err:
        flopwise.profile(models[how], x, tensors=kind)
    message = str(err.value)
    assert "TorchScript" in message and "--device cpu" in message
    assert "\n" not in message and "rejected" not in message


def test_torchscript_submodule_is_named():
    models, x = _jit_models()
    wrapper = nn.Sequential(nn.Identity(), models["script"])
    with pytest.raises(FlopwiseError, match=r"module '1'"):
        flopwise.profile(wrapper, x, tensors="meta")
