"""cuDNN's whole-stack GRU and RNN backward (``_cudnn_rnn_backward`` in modes 0, 1 and 3),
priced from its arguments, against what the same module's backward counts on CPU, where
PyTorch runs it step by step as matmuls and pointwise ops (each priced by its own row)."""

from __future__ import annotations

import pytest
import torch

import flopwise
from flopwise.cost.registry import lookup, op_key
from flopwise.cost.types import OpCall, OpCost, TensorMeta, Uncountable

aten = torch.ops.aten
MODES = {"rnn_relu": 0, "rnn_tanh": 1, "gru": 3}


def meta(t: torch.Tensor) -> TensorMeta:
    return TensorMeta(tuple(t.shape), t.dtype)


def cudnn_backward(module, x, out, *, hy: bool, mask, mode: int, batch_sizes=()) -> OpCost:
    """The cuDNN backward call autograd would make for ``module`` on ``x``."""
    status, formula = lookup(aten._cudnn_rnn_backward.default)
    assert status == "counted"
    weights = [meta(w) for w in module._flat_weights]
    directions = 2 if module.bidirectional else 1
    stride = len(weights) // (module.num_layers * directions)
    one = TensorMeta((1,), torch.float32)
    grad_hy = one if hy else None
    args = (meta(x), weights, stride, one, one, None, meta(out), meta(out), grad_hy, None,
            mode, module.hidden_size, 0, module.num_layers, module.batch_first, module.dropout,
            module.training, module.bidirectional, list(batch_sizes), None, one, mask)  # fmt: skip
    return formula(OpCall(op_key(aten._cudnn_rnn_backward.default), args))


def make(kind: str, options: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "gru":
        return torch.nn.GRU(8, 16, **options)
    return torch.nn.RNN(8, 16, nonlinearity=kind.removeprefix("rnn_"), **options)


@pytest.mark.parametrize("kind", ["gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize(
    "options",
    [
        {"num_layers": 1},
        {"num_layers": 1, "bias": False},
        {"num_layers": 2, "bidirectional": True, "dropout": 0.1},
        {"num_layers": 3, "dropout": 0.2, "batch_first": True},
    ],
)
@pytest.mark.parametrize("hy", [False, True])
def test_cudnn_gru_rnn_backward_counts_what_the_cpu_stack_backward_counts(kind, options, hy):
    """Input and h0 need a gradient (cuDNN computes both unconditionally), the output is
    summed (and hy too when ``hy``): the backward's flops and macs equal the CPU count."""
    module = make(kind, options)
    layers, directions = module.num_layers, 2 if module.bidirectional else 1
    shape = (3, 5, 8) if module.batch_first else (5, 3, 8)
    x = torch.randn(*shape, requires_grad=True)
    h0 = torch.randn(layers * directions, 3, 16, requires_grad=True)
    with flopwise.count() as c:
        out, hn = module(x, h0)
        (out.sum() + hn.sum() if hy else out.sum()).backward()
    assert c.profile.complete, [u.op for u in c.profile.uncounted]
    cpu = [r for r in c.profile.ops if r.phase == "backward"]
    mask = [True, True, False, True]
    cudnn = cudnn_backward(module, x, out, hy=hy, mask=mask, mode=MODES[kind])
    assert cudnn.macs == sum(r.macs for r in cpu) > 0
    assert cudnn.flops == sum(r.flops for r in cpu)


def test_cudnn_gru_backward_by_hand():
    """One GRU layer, T = 5, B = 3, I = 8, H = 16, biases, only the output summed: macs
    2·15·48·(8 + 16) = 34,560; per hidden unit (240 of them) 17 (4 multiplies, a negate, 3
    adds, two sigmoid and one tanh backward of 3 each) = 4,080, less the last step's
    missing add B·H = 48; biases 2·15·48 = 1,440 summed and 4·48 = 192 step adds; W_hh
    4·768 = 3,072 step adds: 2·34,560 + 4,032 + 1,632 + 3,072 = 77,856."""
    module = make("gru", {})
    x, out = torch.empty(5, 3, 8), torch.empty(5, 3, 16)
    c = cudnn_backward(module, x, out, hy=False, mask=[True, True, False, True], mode=3)
    assert (c.flops, c.macs) == (77_856, 34_560)
    # without the weight gradient: the data half of the matmuls and the per-unit steps
    c = cudnn_backward(module, x, out, hy=False, mask=[True, True, False, False], mode=3)
    assert (c.flops, c.macs) == (2 * 17_280 + 4_032, 17_280)


def test_cudnn_gru_backward_on_packed_sequences_is_uncounted():
    module = make("gru", {})
    x, out = torch.empty(12, 8), torch.empty(12, 16)
    with pytest.raises(Uncountable):
        cudnn_backward(module, x, out, hy=False, mask=[True] * 4, mode=3, batch_sizes=[3, 3, 3, 3])
