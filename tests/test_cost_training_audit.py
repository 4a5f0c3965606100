"""Formulas for ops a training audit found uncounted (weight norm's backward, CTC, margin
losses, ...), each checked against an independent number: a hand-computed integer, a
brute-force count of the arithmetic on a tiny tensor, or PyTorch's own decomposition of the
same op counted op by op."""

from __future__ import annotations

import pytest
import torch

import flopwise
from flopwise.cost.registry import lookup, op_key
from flopwise.cost.types import OpCall, OpCost, TensorMeta

aten = torch.ops.aten


def T(*shape: int, dtype: torch.dtype = torch.float32) -> TensorMeta:
    return TensorMeta(tuple(shape), dtype)


def cost(op, *args, outputs=(), **kwargs) -> OpCost:
    status, formula = lookup(op)
    assert status == "counted", f"{op} is {status}"
    return formula(OpCall(op_key(op), args, kwargs, tuple(outputs)))


def counted(fn, *args, **kwargs):
    with flopwise.count() as c:
        fn(*args, **kwargs)
    return c.profile


# -- weight norm backward -------------------------------------------------------------------


def test_weight_norm_backward_by_hand():
    """v 4×3 normalised per row (dim=0): 12 elements, 4 rows. Per element grad_w·v,
    accumulate, v·(s/‖v‖²), subtract, ·(g/‖v‖) = 5 → 60; per row ‖v‖², s/‖v‖², g/‖v‖,
    s/‖v‖ = 4 → 16; 76 in all."""
    c = cost(aten._weight_norm_interface_backward.default, T(4, 3), T(4, 3), T(4, 1), T(4, 1), 0)
    assert (c.flops, c.macs, c.category) == (76, 0, "norm")
    # dim=1: the rows are the 3 columns: 60 + 3·4
    c = cost(aten._weight_norm_interface_backward.default, T(4, 3), T(4, 3), T(1, 3), T(1, 3), 1)
    assert c.flops == 72


@pytest.mark.parametrize(("v_shape", "dim"), [((4, 3), 0), ((4, 3), 1), ((8, 3, 5), 2)])
def test_weight_norm_backward_equals_pytorchs_differentiable_form(v_shape, dim):
    """The fused backward counts what PyTorch's double-differentiable form of the same
    gradient (_weight_norm_differentiable_backward, which autograd runs with create_graph)
    counts op by op, and the two compute the same gradients."""
    torch.manual_seed(0)
    v = torch.randn(v_shape)
    g_shape = [1] * v.dim()
    g_shape[dim] = v.shape[dim]
    g = torch.randn(g_shape)
    _, norms = aten._weight_norm_interface(v, g, dim)
    grad_w = torch.randn(v_shape)
    fused = counted(aten._weight_norm_interface_backward, grad_w, v, g, norms, dim)
    assert [r.op for r in fused.ops] == ["aten._weight_norm_interface_backward"]
    composite = counted(aten._weight_norm_differentiable_backward, grad_w, v, g, norms, dim)
    assert "aten._weight_norm_interface_backward" not in {r.op for r in composite.ops}
    assert fused.totals.flops == composite.totals.flops == 5 * v.numel() + 4 * g.numel()


@pytest.mark.parametrize("old_api", [False, True])
def test_weight_normed_conv_trains_fully_counted(old_api):
    """Both weight-norm APIs on a Conv1d (v 16×8×3, g one per output channel): the training
    count is complete and the backward record is 5·384 + 4·16."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(8, 16, 3)
    if old_api:
        with pytest.warns(FutureWarning):
            conv = torch.nn.utils.weight_norm(conv)
    else:
        conv = torch.nn.utils.parametrizations.weight_norm(conv)
    p = flopwise.profile(conv, torch.randn(2, 8, 20), train=True, tensors="meta")
    assert p.complete, [u.op for u in p.uncounted]
    (back,) = [r for r in p.ops if r.op == "aten._weight_norm_interface_backward"]
    assert back.flops == 5 * 16 * 8 * 3 + 4 * 16
