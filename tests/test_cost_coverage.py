"""Coverage: every op that common layers, losses and model families run, forward and
backward, has a formula or a place in the zero set (nothing ends up uncounted)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import flopwise


def _x():
    return torch.randn(2, 4, 8, 8, requires_grad=True)


def _s():
    return torch.randn(2, 16, 8, requires_grad=True)


def _p(*shape):
    return torch.randn(*shape, requires_grad=True)


def _spd():
    a = _p(2, 3, 3)
    return a @ a.mT + 3 * torch.eye(3)


CASES = {
    "batch_norm": lambda: F.batch_norm(_x(), None, None, _p(4), _p(4), training=True),
    "instance_norm": lambda: F.instance_norm(_x()),
    "group_norm": lambda: F.group_norm(_x(), 2, _p(4), _p(4)),
    "layer_norm": lambda: F.layer_norm(_s(), (8,)),
    "rms_norm": lambda: F.rms_norm(_s(), (8,), _p(8)),
    "interpolate": lambda: sum(
        F.interpolate(_x(), scale_factor=2, mode=m).sum()
        for m in ("nearest", "nearest-exact", "bilinear", "bicubic")
    ),
    "interpolate_1d_3d": lambda: (
        F.interpolate(_s(), scale_factor=2, mode="linear").sum()
        + F.interpolate(_p(1, 2, 2, 4, 4), scale_factor=2, mode="trilinear").sum()
    ),
    "antialias": lambda: F.interpolate(_x(), size=(5, 5), mode="bilinear", antialias=True),
    "pools": lambda: (
        F.avg_pool2d(_x(), 3, 2, 1).sum()
        + F.max_pool2d(_x(), 3, 2, 1).sum()
        + F.avg_pool1d(_s(), 3, 2, 1).sum()
        + F.max_pool1d(_s(), 3, 2, 1).sum()
        + F.max_pool3d(_p(1, 2, 4, 4, 4), 2).sum()
        + F.lp_pool2d(_x(), 2, 2).sum()
    ),
    "adaptive_pools": lambda: (
        F.adaptive_avg_pool2d(_x(), 3).sum()
        + F.adaptive_max_pool2d(_x(), 3).sum()
        + F.adaptive_avg_pool1d(_s(), 3).sum()
        + F.adaptive_max_pool1d(_s(), 3).sum()
    ),
    "fft": lambda: (
        torch.fft.irfft(torch.fft.rfft(_s(), n=32) ** 2, n=32).sum()
        + torch.fft.ifft2(torch.fft.fft2(_x())).real.sum()
    ),
    "cumulative": lambda: _s().cumsum(-1) + _s().cumprod(-1) + _s().logcumsumexp(-1),
    "reductions": lambda: (
        _s().logsumexp(-1).sum()
        + _s().var(-1).sum()
        + _s().std(-1).sum()
        + _s().norm(dim=-1).sum()
        + torch.linalg.vector_norm(_s(), 3, dim=-1).sum()
        + _s().prod(-1).sum()
        + _s().amax(-1).sum()
        + _s().max(-1).values.sum()
    ),
    "selection": lambda: _s().topk(3, -1).values.sum() + _s().sort(-1).values.sum(),
    "dropout": lambda: (
        F.dropout(_s(), 0.5, training=True).sum()
        + F.dropout2d(_x(), 0.5, training=True).sum()
        + F.alpha_dropout(_s(), 0.5, training=True).sum()
    ),
    "classification_losses": lambda: (
        F.cross_entropy(_p(32, 8), torch.randint(0, 8, (32,)))
        + F.cross_entropy(_p(32, 8), torch.randint(0, 8, (32,)), label_smoothing=0.1)
        + F.cross_entropy(_x(), torch.randint(0, 4, (2, 8, 8)))
        + F.binary_cross_entropy(torch.sigmoid(_s()), torch.rand(2, 16, 8))
        + F.binary_cross_entropy_with_logits(_s(), torch.rand(2, 16, 8), pos_weight=torch.ones(8))
        + F.kl_div(F.log_softmax(_s(), -1), torch.rand(2, 16, 8), reduction="batchmean")
    ),
    "regression_losses": lambda: (
        F.mse_loss(_s(), torch.randn(2, 16, 8))
        + F.l1_loss(_s(), torch.randn(2, 16, 8))
        + F.smooth_l1_loss(_s(), torch.randn(2, 16, 8))
        + F.huber_loss(_s(), torch.randn(2, 16, 8))
    ),
    "activations": lambda: sum(
        f(_s()).sum()
        for f in (
            F.elu,
            F.selu,
            F.celu,
            F.leaky_relu,
            F.softplus,
            F.mish,
            F.hardswish,
            F.hardsigmoid,
            F.silu,
            F.gelu,
            F.relu6,
            F.logsigmoid,
            F.hardshrink,
            F.softshrink,
            F.tanhshrink,
            F.softsign,
            torch.sigmoid,
            torch.tanh,
            F.relu,
            lambda t: F.gelu(t, approximate="tanh"),
            lambda t: F.glu(t, -1),
            lambda t: F.rrelu(t, training=True),
            lambda t: F.prelu(t, torch.full((16,), 0.25)),
            lambda t: F.softmin(t, -1),
            lambda t: F.log_softmax(t, -1),
        )
    ),  # fmt: skip
    "embeddings": lambda: (
        F.embedding_bag(torch.tensor([1, 2, 4, 5, 4, 3]), _p(10, 3), torch.tensor([0, 3])).sum()
        + F.embedding(torch.tensor([1, 2]), _p(10, 3)).sum()
    ),
    "layout": lambda: (
        F.pixel_shuffle(_x(), 2).sum()
        + F.fold(F.unfold(_x(), 3), (8, 8), 3).sum()
        + sum(F.pad(_x(), (1, 1, 1, 1), mode=m).sum() for m in ("reflect", "replicate", "circular"))
    ),
    "distances": lambda: (
        F.pdist(_p(5, 8)).sum()
        + torch.cdist(_s(), _s()).sum()
        + F.cosine_similarity(_s(), _s(), dim=-1).sum()
        + F.normalize(_s(), dim=-1).sum()
    ),
    "sampling": lambda: (
        F.grid_sample(_x(), torch.rand(2, 4, 4, 2) * 2 - 1, align_corners=False)
        .sum()
        .add(F.affine_grid(_p(2, 2, 3), (2, 4, 8, 8), align_corners=False).sum())
    ),
    "linear_algebra": lambda: (
        torch.linalg.cholesky(_spd()).sum()
        + torch.linalg.solve(_p(2, 3, 3), _p(2, 3, 2)).sum()
        + torch.linalg.inv(_p(2, 3, 3)).sum()
        + torch.linalg.slogdet(_p(2, 3, 3))[1].sum()
        + torch.linalg.qr(_p(2, 5, 3))[1].sum()
        + torch.linalg.svd(_p(2, 5, 3), full_matrices=False)[1].sum()
        + torch.linalg.eigh(_spd())[0].sum()
        + torch.linalg.matrix_exp(_p(2, 3, 3)).sum()
        + torch.linalg.pinv(_p(2, 5, 3)).sum()
        + torch.linalg.lu_solve(*torch.linalg.lu_factor(_p(2, 3, 3)), _p(2, 3, 2)).sum()
    ),
    "recurrent_and_bilinear": lambda: (
        torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)(_p(5, 2, 3))[0].sum()
        + torch.nn.GRU(3, 4)(_p(5, 2, 3))[0].sum()
        + torch.nn.Bilinear(3, 4, 5)(_p(2, 3), _p(2, 4)).sum()
        + torch.addr(_p(3, 4), _p(3), _p(4)).sum()
    ),
    "search": lambda: (
        torch.searchsorted(torch.arange(8.0), _s().detach()).sum()
        + torch.bucketize(_s().detach(), torch.arange(8.0)).sum()
        + torch.isin(_s().detach(), torch.arange(8.0)).sum()
        + torch.unique(_s().detach().round()).sum()
        + _s().sum()
    ),
    "arithmetic": lambda: (
        torch.where(_s() > 0, _s(), 2.0)
        .clamp(-1, 1)
        .add(torch.lerp(_s(), _s(), 0.3))
        .add(torch.addcmul(_s(), _s(), _s(), value=0.5))
        .add(torch.addcdiv(_s(), _s(), _s().exp()))
        .add(torch.view_as_real(torch.view_as_complex(_p(2, 16, 4, 2)) ** 2).reshape(2, 16, 8))
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_backward_fully_counted(name):
    with flopwise.count() as c:
        out = CASES[name]()
        out.sum().backward()
    p = c.profile
    assert p.complete, [u.op for u in p.uncounted]
    assert p.totals.flops > 0


def _hf(kind: str):
    transformers = pytest.importorskip("transformers")
    small = dict(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128,
    )  # fmt: skip
    configs = {
        "bert": lambda: transformers.BertConfig(**small),
        "gpt2": lambda: transformers.GPT2Config(vocab_size=100, n_embd=64, n_layer=2, n_head=4),
        "llama": lambda: transformers.LlamaConfig(**small, num_key_value_heads=2),
        "mixtral": lambda: transformers.MixtralConfig(
            **small, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2
        ),
    }
    cfg = configs[kind]()
    if kind == "bert":
        return transformers.AutoModelForMaskedLM.from_config(cfg)
    return transformers.AutoModelForCausalLM.from_config(cfg)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["resnet18", "mobilenet_v2", "efficientnet_b0", "convnext_tiny", "vit_b_16", "swin_t"],
)
@pytest.mark.parametrize("train", [False, True])
def test_vision_zoo_fully_counted(name, train):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)()
    p = flopwise.profile(model, torch.randn(1, 3, 224, 224), train=train, tensors="meta")
    assert p.complete, [u.op for u in p.uncounted]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama", "mixtral"])
@pytest.mark.parametrize("train", [False, True])
def test_hf_tiny_configs_fully_counted(kind, train):
    torch.manual_seed(0)
    ids = torch.randint(0, 100, (2, 16))
    p = flopwise.profile(_hf(kind), input_ids=ids, labels=ids, train=train)
    assert p.complete, [u.op for u in p.uncounted]


@pytest.mark.parametrize(
    ("opt_cls", "options", "per_element"),
    [
        (torch.optim.AdamW, {"foreach": True}, 14),
        (torch.optim.AdamW, {"fused": True}, 14),
        (torch.optim.Adam, {"fused": True, "weight_decay": 0.1}, 15),
        (torch.optim.SGD, {"momentum": 0.9, "foreach": True}, 4),
        (torch.optim.SGD, {"momentum": 0.9, "fused": True}, 4),
    ],
)
def test_optimizer_steps_fully_counted(opt_cls, options, per_element):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    params = sum(p.numel() for p in model.parameters())
    opt = opt_cls(model.parameters(), lr=1e-3, **options)
    model(torch.randn(2, 8)).sum().backward()
    opt.step()  # create the state
    with flopwise.count() as c:
        opt.step()
    assert c.profile.complete, [u.op for u in c.profile.uncounted]
    # per parameter element, plus at most one step-counter increment per tensor
    assert 0 <= c.profile.totals.flops - per_element * params <= 4
