"""Per-element flop constants of the elementwise, norm, softmax and reduction steps.

The analytic model prices these steps with the *same* constants the capture path uses:
each constant is read from the formula registry (``flopwise.cost``) by pricing a probe call
of two shapes, so ``flops = per_element · rows · n + per_row · rows`` follows whatever
``docs/conventions.md`` documents. There is no second table to drift from it.
"""

from __future__ import annotations

from functools import cache

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
    ``op`` may carry keyword arguments the formula reads after a ``|``, e.g.
    ``aten.gelu.default|approximate=tanh``.
    """
    return _unit_cost(op)


@cache
def _unit_cost(op: str) -> tuple[float, float]:
    got = _probe(op)
    if got is None:
        raise KeyError(f"the cost registry has no formula for {op}")
    return got


def _probe(op: str) -> tuple[float, float] | None:
    import torch

    from flopwise.cost.registry import lookup
    from flopwise.cost.types import OpCall, TensorMeta

    op, _, extra = op.partition("|")
    kwargs = dict(kv.split("=", 1) for kv in extra.split(",")) if extra else {}
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
            call = OpCall(op, (t,), kwargs, (t,))
        results.append(formula(call).flops)
    per_element = (results[1] - results[0]) / (rows * 64)
    per_row = (results[0] - per_element * rows * 64) / rows
    return (per_element, per_row)


def elementwise_flops(op: str, rows: int, n: int = 1) -> int:
    """Flops of ``op`` over ``rows`` rows of ``n`` elements (``rows·n`` elements in all)."""
    per_element, per_row = unit_cost(op)
    return round(per_element * rows * n + per_row * rows)
