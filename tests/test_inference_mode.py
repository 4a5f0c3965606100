"""``torch.inference_mode()`` counts exactly like ``torch.no_grad()`` (issue 10).

Under inference_mode, CompositeImplicitAutograd ops reach the dispatch mode whole instead of
as the ops they lower to. Every model and module here must be complete under both, with
identical totals (flops, macs, bytes, activations, op count).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import flopwise


def _both(model: nn.Module, *args, tensors: str = "auto"):
    with torch.no_grad():
        plain = flopwise.profile(model, *args, tensors=tensors)
    with torch.inference_mode():
        inference = flopwise.profile(model, *args, tensors=tensors)
    return plain, inference


def _uncounted(p) -> list[tuple[str, int]]:
    return [(u.op, u.calls) for u in p.uncounted]


def _assert_same(model: nn.Module, *args, tensors: str = "auto"):
    """Complete under both modes, with the same totals and the same per-module figures."""
    plain, inference = _both(model, *args, tensors=tensors)
    assert _uncounted(plain) == [], _uncounted(plain)
    assert _uncounted(inference) == [], _uncounted(inference)
    # Every total but the op count: torch.tensor() adds a metadata-only detach_ under
    # inference_mode (zero flops, zero bytes).
    same = lambda p: {k: v for k, v in p.totals.as_dict().items() if k != "ops"}  # noqa: E731
    assert same(inference) == same(plain)
    by_module = lambda p: {m.path: (m.flops, m.macs, m.bytes) for m in p.modules}  # noqa: E731
    assert by_module(inference) == by_module(plain)
    return plain


class Fn(nn.Module):
    """A module around one functional call, so each composite gets its own case."""

    def __init__(self, fn, *params: torch.Tensor) -> None:
        super().__init__()
        self.fn = fn
        self.params = nn.ParameterList([nn.Parameter(p) for p in params])

    def forward(self, *args):
        return self.fn(*args, *self.params)


def _rnn(cls):
    return cls(6, 5, num_layers=2, batch_first=True)


COMPOSITES = {
    "layer_norm": (nn.LayerNorm(6), (torch.randn(3, 4, 6),)),
    "group_norm": (nn.GroupNorm(2, 4), (torch.randn(2, 4, 3, 3),)),
    "batch_norm": (nn.BatchNorm2d(4).eval(), (torch.randn(2, 4, 3, 3),)),
    "instance_norm": (nn.InstanceNorm2d(4, affine=True), (torch.randn(2, 4, 3, 3),)),
    "rms_norm": (nn.RMSNorm(8), (torch.randn(4, 3, 8),)),
    "dropout": (Fn(lambda x: F.dropout(x, 0.5, training=True)), (torch.randn(4, 5),)),
    # "i,j->ij": one vector is the input, the other a parameter
    "einsum_outer": (
        Fn(lambda a, b: torch.einsum("i,j->ij", a, b), torch.randn(5)),
        (torch.randn(4),),
    ),
    "einsum_ellipsis": (
        Fn(lambda a, b: torch.einsum("...ij,...jk->...ik", a, b)),
        (torch.randn(2, 3, 4, 5), torch.randn(2, 3, 5, 6)),
    ),
    "einsum_three": (
        Fn(lambda a, b, c: torch.einsum("ij,jk,kl->il", a, b, c)),
        (torch.randn(3, 4), torch.randn(4, 5), torch.randn(5, 2)),
    ),
    "tensordot": (
        Fn(lambda a, b: torch.tensordot(a, b, dims=([1, 2], [0, 1]))),
        (torch.randn(3, 4, 5), torch.randn(4, 5, 6)),
    ),
    "gru": (_rnn(nn.GRU), (torch.randn(2, 7, 6),)),
    "lstm": (_rnn(nn.LSTM), (torch.randn(2, 7, 6),)),
    "rnn": (_rnn(nn.RNN), (torch.randn(2, 7, 6),)),
    "kron": (Fn(torch.kron), (torch.randn(2, 3), torch.randn(4, 5))),
    "outer": (Fn(torch.outer), (torch.randn(4), torch.randn(5))),
    "cross_entropy": (Fn(F.cross_entropy), (torch.randn(6, 10), torch.randint(0, 10, (6,)))),
    "cosine_similarity": (Fn(F.cosine_similarity), (torch.randn(4, 8), torch.randn(4, 8))),
    "pdist": (Fn(F.pdist), (torch.randn(6, 4),)),
    "bilinear": (nn.Bilinear(4, 5, 3), (torch.randn(2, 4), torch.randn(2, 5))),
}


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_composite_counts_like_no_grad(name):
    model, args = COMPOSITES[name]
    plain = _assert_same(model, *args)
    assert plain.totals.flops > 0


def test_einsum_outer_is_twenty_multiplies():
    # Independent figure: an outer product of 4 and 5 elements is 20 multiplications and no
    # accumulation, so no MACs, in both modes.
    model, args = COMPOSITES["einsum_outer"]
    plain, inference = _both(model, *args)
    assert (plain.totals.macs, plain.totals.flops) == (0, 20)
    assert (inference.totals.macs, inference.totals.flops) == (0, 20)


def test_bilinear_macs_hand_computed():
    # y[b, o] = Σ_ij x1[b, i] · W[o, i, j] · x2[b, j] + bias[o]: batch · out · in1 · in2
    # triple products, each a multiply and a multiply-accumulate, then one add per output.
    model, args = COMPOSITES["bilinear"]
    plain, inference = _both(model, *args)
    points = 2 * 3 * 4 * 5
    assert (plain.totals.macs, plain.totals.flops) == (points, 3 * points + 2 * 3)
    assert (inference.totals.macs, inference.totals.flops) == (points, 3 * points + 2 * 3)


@pytest.mark.parametrize("tensors", ["real", "meta"])
def test_counts_like_no_grad_on_every_tensor_kind(tensors):
    model, args = COMPOSITES["layer_norm"]
    _assert_same(model, *args, tensors=tensors)
    model, args = COMPOSITES["lstm"]
    _assert_same(model, *args, tensors=tensors)


def _small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.Flatten(),
        nn.LayerNorm(4 * 6 * 6),
        nn.Linear(144, 8),
    )


def test_model_and_input_made_under_inference_mode():
    # Inference tensors lack the autograd dispatch keys: every composite reaches the mode
    # whole, and in-place updates (batch norm's running stats in train mode) are refused
    # outside inference mode. The count must still equal no_grad's on normal tensors.
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        reference = flopwise.profile(_small_net(), x)
        train_net = _small_net().train()
        with flopwise.count() as train_ref:
            train_net(x)
    with torch.inference_mode():
        model, xi = _small_net(), x.clone()
        assert model[0].weight.is_inference() and xi.is_inference()
        for kind in ("real", "meta"):
            p = flopwise.profile(model, xi, tensors=kind)
            assert p.complete and p.totals.as_dict() == reference.totals.as_dict(), kind
        model.train()
        with flopwise.count() as train_count:
            model(xi)
    assert train_count.profile.complete
    assert train_count.totals.flops == train_ref.totals.flops


torchvision = pytest.importorskip("torchvision")
transformers = pytest.importorskip("transformers")

VISION = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_b_16",
    "swin_t",
]


@pytest.mark.parametrize("name", VISION)
def test_vision_zoo_counts_like_no_grad(name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().eval()
    _assert_same(model, torch.randn(1, 3, 224, 224), tensors="meta")


def test_resnet50_published_macs_under_inference_mode():
    model = torchvision.models.resnet50().eval()
    with torch.inference_mode():
        p = flopwise.profile(model, torch.randn(1, 3, 224, 224), tensors="meta")
    assert (p.totals.macs, p.totals.activations) == (4_089_184_256, 11_315_688)


from test_zoo import HF, _tiny  # noqa: E402  (the same tiny configs the zoo test uses)


@pytest.mark.parametrize("name", list(HF))
@pytest.mark.parametrize("tensors", ["real", "meta"])
def test_hf_zoo_counts_like_no_grad(name, tensors):
    cls, kw = HF[name]
    model = _tiny(cls, **kw)
    ids = torch.randint(0, 100, (2, 16))
    plain = _assert_same(model, ids, tensors=tensors)
    assert any(r.op == "aten.scaled_dot_product_attention" for r in plain.ops)
