"""Training counts held to independent numbers, and ``profile(train=True)`` leaving the
model and its inputs exactly as found.

Independent numbers here are: a brute-force enumeration of a convolution's gradient terms
(checked against autograd's values), torch.utils.flop_counter.FlopCounterMode (flops = 2 ·
MACs for contractions), and, for every model of the test zoo, a backward computed in this
file from the forward contraction records' shapes and from which operands really require
grad (read off the tensors by a dispatch mode of this file's own)."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, conv_backward_flop

import flopwise
from flopwise.cli import main
from flopwise.errors import ShapeMismatch
from flopwise.sources.hf_configs import load_config_dict
from flopwise.sources.models import build_hf_model

torchvision = pytest.importorskip("torchvision")
transformers = pytest.importorskip("transformers")

aten = torch.ops.aten

# The acceptance figure for resnet18 at 1x3x224x224, forward + backward:
# 1,814,073,344 forward + weight and input grads (no input grad for the first conv).
RESNET18_TRAIN_MACS = 5_324_206_080


def _op(record) -> str:
    """The op's packet name: ``aten.addmm.default`` → ``addmm``."""
    return record.op.split(".")[1]


def _record_macs(p, phase: str, op: str | None = None) -> int:
    return sum(r.macs for r in p.ops if r.phase == phase and (op is None or _op(r) == op))


# ---------------------------------------------------------------------------------------
# convolution backward on small cases


def _conv_terms(n, c_in, c_out, length, k, stride, dilation, groups, transposed):
    """Every multiply of a 1d (transposed) convolution without padding, by brute force:
    (output index, input index, weight index) triples, one per term of the forward sum."""
    terms = []
    if not transposed:  # y[b, o, i] += x[b, g·cin_g + c, i·s + j·d] · w[o, c, j]
        cin_g = c_in // groups
        out_len = (length - dilation * (k - 1) - 1) // stride + 1
        for b, o, i, c, j in _grid(n, c_out, out_len, cin_g, k):
            g = o // (c_out // groups)
            terms.append(((b, o, i), (b, g * cin_g + c, i * stride + j * dilation), (o, c, j)))
        return terms, (n, c_out, out_len)
    # y[b, g·cout_g + c, i·s + j·d] += x[b, ci, i] · w[ci, c, j]
    cout_g = c_out // groups
    out_len = (length - 1) * stride + dilation * (k - 1) + 1
    for b, ci, i, c, j in _grid(n, c_in, length, cout_g, k):
        g = ci // (c_in // groups)
        terms.append(((b, g * cout_g + c, i * stride + j * dilation), (b, ci, i), (ci, c, j)))
    return terms, (n, c_out, out_len)


def _grid(*sizes):
    return itertools.product(*map(range, sizes))


@pytest.mark.parametrize(
    ("stride", "dilation", "groups", "transposed"),
    [(1, 1, 1, False), (2, 2, 2, False), (1, 1, 6, False), (2, 1, 2, True), (3, 2, 1, True)],
)
def test_conv_backward_brute_force(stride, dilation, groups, transposed):
    """grad_input and grad_weight, enumerated term by term from the chain rule (and checked
    against autograd's values), each cost what the record says, only when asked for."""
    n, c_in, c_out, length, k = 2, 6, 12, 9, 3
    terms, out_shape = _conv_terms(n, c_in, c_out, length, k, stride, dilation, groups, transposed)
    torch.manual_seed(0)
    x = torch.randn(n, c_in, length, dtype=torch.float64)
    w_shape = (c_in, c_out // groups, k) if transposed else (c_out, c_in // groups, k)
    w = torch.randn(w_shape, dtype=torch.float64)
    gy = torch.randn(out_shape, dtype=torch.float64)
    # The enumeration is the real convolution and its real gradients...
    y, dx, dw = (
        torch.zeros(out_shape, dtype=torch.float64),
        torch.zeros_like(x),
        torch.zeros_like(w),
    )
    for yi, xi, wi in terms:
        y[yi] += x[xi] * w[wi]
        dx[xi] += gy[yi] * w[wi]  # one multiply per term
        dw[wi] += gy[yi] * x[xi]  # one multiply per term
    conv = F.conv_transpose1d if transposed else F.conv1d
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    yr = conv(xr, wr, stride=stride, dilation=dilation, groups=groups)
    yr.backward(gy)
    assert torch.allclose(yr.detach(), y) and torch.allclose(xr.grad, dx)
    assert torch.allclose(wr.grad, dw)
    # ... so each gradient costs len(terms) MACs, counted only for what requires grad.
    for x_grad, w_grad in [(True, True), (True, False), (False, True)]:
        xs, ws = x.clone().requires_grad_(x_grad), w.clone().requires_grad_(w_grad)
        with flopwise.count() as c:
            conv(xs, ws, stride=stride, dilation=dilation, groups=groups).backward(gy)
        (rec,) = [r for r in c.profile.ops if _op(r) == "convolution_backward"]
        assert rec.macs == len(terms) * (x_grad + w_grad)
        assert rec.flops == 2 * rec.macs  # no bias, no bias gradient


def _torch_conv_backward_per_group(*args, out_shape=None, **kwargs):
    """FlopCounterMode's convolution_backward with its grad_weight divided by groups: its
    transposed shapes lose the group split, counting a grouped conv's weight gradient
    ``groups`` times over (the correction proposed in pytorch/pytorch#183405)."""
    grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups, mask = args
    head = (grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups)
    grad_input = conv_backward_flop(*head, [mask[0], False, False], out_val=out_shape)
    grad_weight = conv_backward_flop(*head, [False, mask[1], False], out_val=out_shape)
    return grad_input + grad_weight // groups


def _flop_counter_macs(fn, per_group_fix: bool = True) -> tuple[int, dict]:
    mapping = {aten.convolution_backward: _torch_conv_backward_per_group} if per_group_fix else {}
    mode = FlopCounterMode(display=False, custom_mapping=mapping)
    with mode:
        fn()
    flops = mode.get_total_flops()
    assert flops % 2 == 0
    return flops // 2, {str(k): v // 2 for k, v in mode.get_flop_counts()["Global"].items()}


@pytest.mark.parametrize(
    ("dims", "stride", "padding", "dilation", "groups", "transposed"),
    [
        (1, 1, 0, 1, 1, False),
        (2, 2, 1, 1, 1, False),
        (3, 1, 2, 2, 1, False),
        (2, 2, 1, 1, 2, False),
        (2, 1, 1, 1, 4, False),  # depthwise
        (1, 1, 1, 2, 4, False),
        (1, 2, 0, 1, 1, True),
        (2, 2, 1, 2, 2, True),
        (3, 2, 1, 1, 1, True),
    ],
)
def test_conv_backward_matches_flop_counter(dims, stride, padding, dilation, groups, transposed):
    """Every output_mask a model can produce, against FlopCounterMode (per-group fixed)."""
    torch.manual_seed(0)
    c_in, c_out = 4, 8
    w_shape = (c_in, c_out // groups) if transposed else (c_out, c_in // groups)
    conv = getattr(F, f"conv_transpose{dims}d" if transposed else f"conv{dims}d")
    for needs in ("x", "w", "b", "xw", "xb", "wb", "xwb"):
        x = torch.randn(2, c_in, *[6] * dims, requires_grad="x" in needs)
        w = torch.randn(*w_shape, *[3] * dims, requires_grad="w" in needs)
        b = torch.randn(c_out, requires_grad="b" in needs)

        def run(x=x, w=w, b=b):
            y = conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
            y.sum().backward()

        with flopwise.count() as c:
            run()
        (rec,) = [r for r in c.profile.ops if _op(r) == "convolution_backward"]
        _, torch_counts = _flop_counter_macs(run)
        assert rec.macs == torch_counts.get("aten.convolution_backward", 0), needs
        fwd = _record_macs(c.profile, "forward", "convolution")
        assert fwd == torch_counts["aten.convolution"]
        assert rec.macs == fwd * (("x" in needs) + ("w" in needs)), needs
        grad_out = rec.inputs[0]
        assert rec.flops == 2 * rec.macs + (grad_out.numel if "b" in needs else 0), needs
        if groups == 1:  # FlopCounterMode is right without the per-group fix
            assert c.profile.totals.macs == _flop_counter_macs(run, per_group_fix=False)[0]


# ---------------------------------------------------------------------------------------
# the test zoo: backward from the forward records, totals from FlopCounterMode

VISION = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_b_16",
    "swin_t",
]

# The project's tiny transformer configs (flopwise.sources.hf_configs, hf:tiny-*).
HF = ["tiny-bert", "tiny-gpt2", "tiny-llama", "tiny-mixtral"]

# Forward contractions: the operands autograd differentiates, by schema name, and where
# the first of them sits among the op's tensor arguments (addmm's bias comes first).
_OPERANDS = {
    "mm": (("self", "mat2"), 0),
    "bmm": (("self", "mat2"), 0),
    "addmm": (("mat1", "mat2"), 1),
    "convolution": (("input", "weight"), 0),
    "_grouped_mm": (("self", "mat2"), 0),
    "_scaled_dot_product_flash_attention_for_cpu": (("query", "key", "value"), 0),
    # flopwise records the call itself, whichever kernel ran (docs/conventions.md).
    "scaled_dot_product_attention": (("query", "key", "value"), 0),
}


def _same_contraction(op: str) -> str:
    """Attention's kernel (seen by the test's mode) and its call (flopwise's record) name
    the same contraction."""
    return "attention" if "scaled_dot_product" in op else op


@dataclass
class _Contraction:
    op: str
    shapes: list[tuple[int, ...]]
    requires_grad: list[bool]
    causal: bool
    transposed: bool


class _GradFlags(TorchDispatchMode):
    """Each forward contraction: operand shapes and which operands require grad, read off
    the tensors themselves (so the first layer's image input shows as not requiring it)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[_Contraction] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if name in _OPERANDS:
            named = dict(zip((a.name for a in func._schema.arguments), args, strict=False))
            named.update(kwargs)
            operands = [named[k] for k in _OPERANDS[name][0]]
            self.calls.append(
                _Contraction(
                    op=name,
                    shapes=[tuple(t.shape) for t in operands],
                    requires_grad=[t.requires_grad for t in operands],
                    causal=bool(named.get("is_causal", False)),
                    transposed=bool(named.get("transposed", False)),
                )
            )
            if name == "_grouped_mm" and operands[0].dtype not in (torch.bfloat16, torch.half):
                # The fake kernel refuses float32 that the CPU kernel runs: [rows, K] x
                # [experts, K, N] gives [rows, N], and only shapes matter here.
                a, b = operands
                return torch.empty(a.shape[0], b.shape[-1], dtype=a.dtype, device=a.device)
        return func(*args, **kwargs)


def _forward_macs(call: _Contraction, out_shape: tuple[int, ...]) -> int:
    """Forward MACs from shapes alone (written here, not taken from flopwise)."""
    a, b = call.shapes[0], call.shapes[1]
    if call.op in ("mm", "addmm"):
        return a[0] * a[1] * b[1]
    if call.op == "bmm":
        return a[0] * a[1] * a[2] * b[2]
    if call.op == "_grouped_mm":  # [rows, K] x [experts, K, N]: each row meets one expert
        assert len(a) == 2 and len(b) == 3
        return a[0] * a[1] * b[2]
    if call.op == "convolution":
        assert not call.transposed
        return out_shape[0] * out_shape[1] * math.prod(out_shape[2:]) * math.prod(b[1:])
    q, k, v = call.shapes  # [B, H, L, E]; causal: query i sees keys 0..i
    batch_heads, lq, lk = math.prod(q[:-2]), q[-2], k[-2]
    pairs = batch_heads * sum(min(i + 1, lk) if call.causal else lk for i in range(lq))
    return pairs * (q[-1] + v[-1])


def _backward_macs(call: _Contraction, forward: int) -> int:
    """Gradient w.r.t. each operand that requires grad costs one forward; the attention
    kernel's backward computes dQ, dK, dV and dP together (docs/conventions.md)."""
    if call.op.startswith("_scaled_dot_product"):
        return 2 * forward if any(call.requires_grad) else 0
    return forward * sum(call.requires_grad)


def _vision_meta(name: str) -> tuple[nn.Module, tuple]:
    with torch.device("meta"):
        return getattr(torchvision.models, name)(), (torch.empty(1, 3, 224, 224),)


def _hf_tiny(name: str) -> tuple[nn.Module, tuple]:
    # Attention dropout off: with it, PyTorch runs SDPA as its math decomposition, which
    # this test's own mode would see as loose matmuls while flopwise records the one call
    # (dropout's attention count is held to brute force in test_attention_backends.py).
    config = load_config_dict(name)
    for key in ("attention_probs_dropout_prob", "attn_pdrop", "attention_dropout"):
        if key in config:
            config[key] = 0.0
    model = build_hf_model(config, device="meta")
    return model, (torch.randint(0, model.config.vocab_size, (2, 16)),)


def _grad_flags(build, name: str) -> list[_Contraction]:
    """A forward in train mode on fake tensors on the CPU device, as flopwise's meta path
    presents them, so kernel and mask choices match its run."""
    fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
    model, args = build(name)
    with fake_mode:
        state = {
            k: nn.Parameter(fake_mode.from_tensor(t.to("meta")).to("cpu"), t.requires_grad)
            if isinstance(t, nn.Parameter)
            else fake_mode.from_tensor(t.to("meta")).to("cpu")
            for k, t in [*model.named_parameters(), *model.named_buffers()]
        }
        fake_args = [fake_mode.from_tensor(a.to("meta")).to("cpu") for a in args]
        model.train()
        flags = _GradFlags()
        with flags:
            torch.func.functional_call(model, state, tuple(fake_args), strict=False)
    return flags.calls


ZOO = [(n, _vision_meta) for n in VISION] + [(n, _hf_tiny) for n in HF]


@pytest.mark.parametrize(("name", "build"), ZOO, ids=[n for n, _ in ZOO])
def test_backward_is_the_sum_of_operand_gradients(name, build):
    model, args = build(name)
    p = flopwise.profile(model, *args, train=True, tensors="meta")
    assert p.complete, [u.op for u in p.uncounted]
    forward = [r for r in p.ops if r.phase == "forward" and r.macs]
    calls = _grad_flags(build, name)
    # One call per forward contraction record, in order, on the same operand shapes.
    assert [(_same_contraction(c.op), c.shapes) for c in calls] == [
        (
            _same_contraction(_op(r)),
            [t.shape for t in r.inputs[_OPERANDS[_op(r)][1] :][: len(c.shapes)]],
        )
        for r, c in zip(forward, calls, strict=True)
    ]
    if build is _vision_meta:  # the image needs no gradient: the stem gets a weight grad only
        assert calls[0].requires_grad == [False, True]
    fwd = [_forward_macs(c, r.outputs[0].shape) for c, r in zip(calls, forward, strict=True)]
    bwd = sum(_backward_macs(c, m) for c, m in zip(calls, fwd, strict=True))
    assert _record_macs(p, "forward") == sum(fwd) == sum(r.macs for r in forward)
    assert _record_macs(p, "backward") == bwd
    assert p.totals.macs == sum(fwd) + bwd
    if build is _vision_meta:  # no causal attention: FlopCounterMode agrees on the total
        model.train()
        total, _ = _flop_counter_macs(lambda: model(*args).sum().backward())
        assert p.totals.macs == total


# ---------------------------------------------------------------------------------------
# the acceptance figure: resnet18 --train on every tensor kind and from the CLI


def test_resnet18_training_macs_on_cpu_meta_and_fake():
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    x = torch.randn(1, 3, 224, 224)
    real = flopwise.profile(model, x, train=True)
    meta = flopwise.profile(model, x, train=True, tensors="meta")
    fake = flopwise.profile(model, x, train=True, tensors="fake")
    assert [q.mode["tensors"] for q in (real, meta, fake)] == ["real", "meta", "fake"]
    assert real.totals.macs == RESNET18_TRAIN_MACS
    assert meta.totals.as_dict() == real.totals.as_dict() == fake.totals.as_dict()
    # FlopCounterMode, unpatched (resnet18 has no grouped conv), says the same.
    meta_model, (meta_x,) = _vision_meta("resnet18")
    meta_model.train()
    flop_counter = _flop_counter_macs(
        lambda: meta_model(meta_x).sum().backward(), per_group_fix=False
    )[0]
    assert flop_counter == RESNET18_TRAIN_MACS


def test_resnet18_training_macs_from_cli(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["profile", "torchvision:resnet18", "--train", "-f", "json", "--no-save"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["mode"]["phase"] == "training"
    assert doc["totals"]["macs"] == RESNET18_TRAIN_MACS


# ---------------------------------------------------------------------------------------
# profile(train=True) leaves the model and its inputs exactly as found


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))).flatten(1))


def _state(model: nn.Module) -> dict[str, tuple]:
    """Every parameter and buffer: the object, its version and a copy of its bytes."""
    return {
        k: (t, t._version, t.detach().clone())
        for k, t in [*model.named_parameters(), *model.named_buffers()]
    }


def _assert_state_unchanged(model: nn.Module, before: dict[str, tuple]) -> None:
    after = dict([*model.named_parameters(), *model.named_buffers()])
    assert after.keys() == before.keys()
    for k, (t, _, saved) in before.items():
        assert after[k] is t, k
        assert t.dtype == saved.dtype and torch.equal(t.detach(), saved), k  # byte-equal


def test_training_leaves_batch_norm_statistics():
    torch.manual_seed(0)
    model = _Net()
    model.bn.running_mean.uniform_()
    before = _state(model)
    p = flopwise.profile(model, torch.randn(2, 3, 8, 8), train=True)
    assert any("batch_norm" in r.op for r in p.ops)  # it ran in training mode
    _assert_state_unchanged(model, before)
    assert model.bn.num_batches_tracked.item() == 0


def test_training_leaves_existing_grads_and_counts_no_accumulation():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    clean = flopwise.profile(_Net(), x, train=True)
    model = _Net()
    grads = {n: torch.full_like(prm, 0.5) for n, prm in model.named_parameters()}
    for n, prm in model.named_parameters():
        prm.grad = grads[n]
    versions = {n: g._version for n, g in grads.items()}
    p = flopwise.profile(model, x, train=True)
    for n, prm in model.named_parameters():
        assert prm.grad is grads[n]
        assert prm.grad._version == versions[n]
        assert torch.equal(prm.grad, torch.full_like(prm, 0.5))
    assert p.totals.as_dict() == clean.totals.as_dict()  # no extra gradient accumulation
    assert [r.op for r in p.ops] == [r.op for r in clean.ops]
    meta = flopwise.profile(model, x, train=True, tensors="meta")
    assert meta.totals.as_dict() == p.totals.as_dict()


@pytest.mark.parametrize("input_needs_grad", [False, True])
def test_training_leaves_inputs(input_needs_grad):
    model = _Net()
    x = torch.randn(2, 3, 8, 8, requires_grad=input_needs_grad)
    saved = x.detach().clone()
    real = flopwise.profile(model, x, train=True)
    assert x.grad is None and x.requires_grad is input_needs_grad
    assert torch.equal(x.detach(), saved)
    meta = flopwise.profile(model, x, train=True, tensors="meta")
    assert meta.totals.as_dict() == real.totals.as_dict()
    # With the input requiring grad, the first conv's backward also computes grad_input.
    conv_back = _record_macs(real, "backward", "convolution_backward")
    conv_fwd = _record_macs(real, "forward", "convolution")
    assert conv_back == conv_fwd * (1 + input_needs_grad)


def test_training_stops_at_an_input_made_by_another_graph():
    base = torch.randn(2, 3, 8, 8, requires_grad=True)
    x = base * 2  # not a leaf: its graph lies outside the model
    model = _Net()
    real = flopwise.profile(model, x, train=True)
    assert base.grad is None
    assert not any(r.op.startswith("aten.mul") for r in real.ops if r.phase == "backward")
    meta = flopwise.profile(model, x, train=True, tensors="meta")
    assert meta.totals.as_dict() == real.totals.as_dict()


def test_training_restores_flags_and_requires_grad():
    model = _Net().eval()
    model.bn.train()  # a mixed state, restored module by module
    model.conv.bias.requires_grad_(False)
    flopwise.profile(model, torch.randn(2, 3, 8, 8), train=True)
    assert [m.training for m in model.modules()] == [False, False, True, False]
    assert [prm.requires_grad for prm in model.parameters()] == [True, False] + [True] * 4
    assert all(prm.grad is None for prm in model.parameters())


class _Raises(_Net):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))  # statistics move before the failure
        return self.head(y)  # 4x6x6 features expected flat: a shape error


def test_training_leaves_everything_when_the_forward_raises():
    torch.manual_seed(0)
    model = _Raises().eval()
    grad = torch.ones_like(model.head.weight)
    model.head.weight.grad = grad
    before = _state(model)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    with pytest.raises(ShapeMismatch, match="module 'head'"):
        flopwise.profile(model, x, train=True)
    _assert_state_unchanged(model, before)
    assert model.bn.num_batches_tracked.item() == 0
    assert not any(m.training for m in model.modules())
    assert model.head.weight.grad is grad and torch.equal(grad, torch.ones_like(grad))
    assert all(prm.grad is None for n, prm in model.named_parameters() if n != "head.weight")
    assert x.grad is None and x.requires_grad


def test_training_leaves_parameter_values():
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    before = _state(model)
    flopwise.profile(model, torch.randn(2, 3, 32, 32), train=True)
    _assert_state_unchanged(model, before)
    assert all(prm.grad is None for prm in model.parameters())
