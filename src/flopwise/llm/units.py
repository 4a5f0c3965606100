"""Per-element flop constants of the elementwise, norm, softmax and reduction steps.

The analytic model prices these steps with the *same* constants the capture path uses:
each constant is read from the formula registry (``flopwise.cost``) by pricing a probe call
of two shapes, so ``flops = per_element · rows · n + per_row · rows`` follows whatever
``docs/conventions.md`` documents. When the registry has no formula for an op (or is not
importable), the fallback below is used; the fallbacks are the elementary-step counts of
CONVENTIONS.md (one flop per elementary operation, softmax 5, silu 4: neg, exp, add, div).
"""

from __future__ import annotations

from functools import cache

# op → (flops per element, flops per row), used when the registry cannot price the op.
FALLBACK: dict[str, tuple[float, float]] = {
    "aten.add.Tensor": (1, 0),
    "aten.sub.Tensor": (1, 0),
    "aten.mul.Tensor": (1, 0),
    "aten.div.Tensor": (1, 0),
    "aten.neg.default": (1, 0),
    "aten.pow.Tensor_Scalar": (1, 0),
    "aten.rsqrt.default": (1, 0),
    "aten.tanh.default": (1, 0),
    "aten.cos.default": (1, 0),
    "aten.sin.default": (1, 0),
    "aten.relu.default": (1, 0),
    "aten.sigmoid.default": (3, 0),
    "aten.silu.default": (4, 0),
    "aten.gelu.default": (8, 0),
    "aten.mean.dim": (1, 0),
    "aten.sum.dim_IntList": (1, 0),
    "aten._softmax.default": (5, 0),
    "aten.native_layer_norm.default": (7, 2),
    "aten.topk.default": (0, 0),
}

# How each probed op is called: "unary", "binary", "scalar" (tensor ∘ python scalar),
# "rowwise" (row reduction / normalisation over the last dim).
_KIND = {
    "aten.add.Tensor": "binary",
    "aten.sub.Tensor": "binary",
    "aten.mul.Tensor": "binary",
    "aten.div.Tensor": "binary",
    "aten.pow.Tensor_Scalar": "scalar",
    "aten.mean.dim": "reduce",
    "aten.sum.dim_IntList": "reduce",
    "aten._softmax.default": "softmax",
    "aten.native_layer_norm.default": "layer_norm",
    "aten.topk.default": "topk",
}


def unit_cost(op: str) -> tuple[float, float]:
    """``(flops per element, flops per row)`` of ``op`` under flopwise's conventions.

    For elementwise ops an element is an output element; for row-wise ops (reductions,
    softmax, norms, topk) it is an input element and a row is one slice along the last dim.
    """
    return _unit_cost(op)


@cache
def _unit_cost(op: str) -> tuple[float, float]:
    try:
        got = _probe(op)
    except Exception:  # registry absent, or it prices the probe differently: fall back
        got = None
    if got is None:
        return FALLBACK.get(op, (1.0, 0.0))
    return got


def _probe(op: str) -> tuple[float, float] | None:
    import torch

    from flopwise.cost.registry import lookup
    from flopwise.cost.types import OpCall, TensorMeta

    status, formula = lookup(op)
    if status == "zero":
        return (0.0, 0.0)
    if formula is None:
        return None
    rows = 8
    results = []
    for n in (64, 128):
        t = TensorMeta((rows, n), torch.float32, storage=1)
        kind = _KIND.get(op, "unary")
        if kind == "binary":
            call = OpCall(op, (t, TensorMeta((rows, n), torch.float32, storage=2)), {}, (t,))
        elif kind == "scalar":
            call = OpCall(op, (t, 2), {}, (t,))
        elif kind == "reduce":
            out = TensorMeta((rows, 1), torch.float32, storage=3)
            call = OpCall(op, (t, [-1], True), {}, (out,))
        elif kind == "softmax":
            call = OpCall(op, (t, -1, False), {}, (t,))
        elif kind == "layer_norm":
            w = TensorMeta((n,), torch.float32, storage=4)
            stat = TensorMeta((rows, 1), torch.float32, storage=5)
            call = OpCall(op, (t, [n], w, w, 1e-5), {}, (t, stat, stat))
        elif kind == "topk":
            vals = TensorMeta((rows, 2), torch.float32, storage=6)
            idx = TensorMeta((rows, 2), torch.int64, storage=7)
            call = OpCall(op, (t, 2), {}, (vals, idx))
        else:
            call = OpCall(op, (t,), {}, (t,))
        results.append(formula(call).flops)
    per_element = (results[1] - results[0]) / (rows * 64)
    per_row = (results[0] - per_element * rows * 64) / rows
    return (per_element, per_row)


def elementwise_flops(op: str, rows: int, n: int = 1) -> int:
    """Flops of ``op`` over ``rows`` rows of ``n`` elements (``rows·n`` elements in all)."""
    per_element, per_row = unit_cost(op)
    return round(per_element * rows * n + per_row * rows)
