"""Attention decomposed by the exporter, counted as the one SDPA call it came from.

At opsets below 23 ``torch.onnx.export`` writes ``scaled_dot_product_attention`` as
MatMul, Softmax, scale and mask nodes, each tagged with the FX node it came from
(``pkg.torch.onnx.fx_node``). Counting semantics beat kernels (docs/conventions.md): one
SDPA call has one cost, so such a group is run as one ``F.scaled_dot_product_attention``
on the call's own q, k, v (and mask): causal attention counts causal pairs, exactly as in
the PyTorch profile. A group whose arguments are not all values of the graph (the
exporter optimized one away) keeps its nodes; its MatMuls then count dense pairs, which
equals PyTorch's count whenever a mask tensor was passed.
"""

from __future__ import annotations

import re
from typing import Any

from flopwise.sources.onnx_ops import NodeCall

FX_KEY = "pkg.torch.onnx.fx_node"
_SDPA = re.compile(
    r"^%(?P<name>\S+) : .*?target=torch\.ops\.aten\.scaled_dot_product_attention\.\w+\]"
    r"\(args = \((?P<args>.*?)\), kwargs = \{(?P<kwargs>.*?)\}\)"
)
OP_TYPE = "flopwise.ScaledDotProductAttention"


def sdpa_call(node: Any) -> tuple[str, list[str], bool] | None:
    """``(fx name, [q, k, v, mask or ""], is_causal)`` when ``node`` was exported from an
    SDPA call whose arguments are all plain values, else None."""
    meta = {p.key: p.value for p in node.metadata_props}
    match = _SDPA.match(meta.get(FX_KEY, ""))
    if match is None:
        return None
    args = [a.strip() for a in match["args"].split(",")]
    if len(args) < 3 or not all(a.startswith("%") for a in args[:3]):
        return None
    mask = args[3] if len(args) > 3 else "None"
    causal = (len(args) > 5 and args[5] == "True") or "is_causal: True" in match["kwargs"]
    if mask != "None" and not mask.startswith("%"):
        return None
    names = [a[1:] for a in args[:3]] + [mask[1:] if mask != "None" else ""]
    return match["name"], names, causal


def regroup(model: Any, planned: list[Any], shapes: dict[str, Any]) -> tuple[list[Any], int]:
    """``planned`` with each exported SDPA group replaced by one SDPA node (placed where
    the group's last node was), and how many groups were replaced."""
    groups: dict[str, list[Any]] = {}
    calls: dict[str, tuple[list[str], bool]] = {}
    for p in planned:
        found = sdpa_call(model.graph.node[p.index])
        if found is not None:
            groups.setdefault(found[0], []).append(p)
            calls[found[0]] = (found[1], found[2])
    replaced: dict[int, Any] = {}  # index of the group's last node → the SDPA node
    dropped: set[int] = set()
    for name, members in groups.items():
        node = _one_call(name, members, calls[name], planned, shapes)
        if node is None:
            continue
        dropped.update(p.index for p in members)
        replaced[members[-1].index] = node
    out = []
    for p in planned:
        if p.index in replaced:
            out.append(replaced[p.index])
        elif p.index not in dropped:
            out.append(p)
    return out, len(replaced)


def _one_call(name, members, call, planned, shapes) -> Any:
    """The SDPA node standing for ``members``, or None when they cannot be replaced: an
    argument is not a graph value, or a value made inside the group is read outside it."""
    names, causal = call
    if any(n and n not in shapes for n in names):
        return None
    inside = {o for p in members for o in p.outputs if o}
    ids = {p.index for p in members}
    read_outside = {i for p in planned if p.index not in ids for i in p.inputs} & inside
    if len(read_outside) != 1 or any(n in inside for n in names if n):
        return None
    (result,) = read_outside
    last = members[-1]
    node_call = NodeCall(
        op_type=OP_TYPE,
        name=name,
        attrs={"is_causal": int(causal)},
        out_shapes=[shapes[result][0]],
        out_dtypes=[shapes[result][1]],
        consts=[None] * 4,
        opset=last.call.opset,
    )
    replacement = type(last)(last.index, node_call, names, [result], last.path, last.chain)
    replacement.aliases = [p.call.name for p in members if p.call.name]
    replacement.alias_outputs = sorted(inside)
    return replacement
