"""An ONNX graph as a PyTorch module, so the capture counts it like any model.

:class:`OnnxGraphModule` runs every node of the graph through its torch equivalent
(:mod:`flopwise.sources.onnx_ops`) inside a tree of modules rebuilt from the graph's name
scopes, so the profile's module tree, per-op records and uncounted list come out of the
same capture and cost registry as for a PyTorch model. Initializers become meta
parameters (floating, more than one element) or buffers; integer shape arithmetic whose
inputs are all constant is folded away, as PyTorch computes shapes in Python.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from flopwise.errors import ShapeMismatch
from flopwise.sources.onnx_attention import regroup
from flopwise.sources.onnx_file import ShapeTable, constant_value
from flopwise.sources.onnx_ops import OPS, NodeCall, unmapped

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
CLASSES_KEY = "pkg.torch.onnx.class_hierarchy"
RULE_KEY = "pkg.onnxscript.rewriter.rule_name"


@dataclass
class PlannedNode:
    """One node ready to run: its call description, input and output value names."""

    index: int
    call: NodeCall
    inputs: list[str]
    outputs: list[str]
    path: str
    chain: list[str]  # the called scopes, outermost first
    #: names and outputs of the graph nodes this one stands for (an exported SDPA group)
    aliases: list[str] = field(default_factory=list)
    alias_outputs: list[str] = field(default_factory=list)


class _Scope(nn.Module):
    """One name scope of the graph; calling it runs its part of the plan."""

    def forward(self, runner: _Runner, items: list[Any]) -> None:
        runner.run(items)


_SCOPE_TYPES: dict[str, type[_Scope]] = {}


def _scope_type(name: str) -> type[_Scope]:
    """A ``_Scope`` subclass named like the PyTorch class that made the scope (the module
    tree shows ``Conv2d``, ``Bottleneck``, ...)."""
    name = name or "Scope"
    if name not in _SCOPE_TYPES:
        _SCOPE_TYPES[name] = type(name, (_Scope,), {})
    return _SCOPE_TYPES[name]


def _layer_class(op_type: str, weight_rank: int) -> str:
    """The PyTorch layer class a fused node's weight belongs to (``Conv`` with a 4-D
    weight → ``Conv2d``), for a module the exporter's metadata no longer names."""
    if op_type in ("Conv", "ConvTranspose") and weight_rank >= 3:
        return f"{op_type}{weight_rank - 2}d"
    return "Linear" if op_type in ("Gemm", "MatMul") else op_type


def node_scopes(node: Any, weights: dict[str, int]) -> tuple[list[str], list[str]]:
    """The module paths of the scopes ``node`` ran in (outermost first) and their class
    names, from the exporter's metadata, else from a ``/a/a.b/Op`` node name.

    A node an optimizer fused (BatchNorm folded into a Conv) is filed under the module
    that owns its weight (``layer1.0.conv1.weight`` → ``layer1.0.conv1``), as in PyTorch."""
    meta = {p.key: p.value for p in node.metadata_props}
    scopes: list[str] = []
    classes: list[str] = []
    if SCOPES_KEY in meta:
        try:
            scopes = [s for s in ast.literal_eval(meta[SCOPES_KEY])[:-1] if s]
            classes = list(ast.literal_eval(meta.get(CLASSES_KEY, "[]")))[1:]
        except (ValueError, SyntaxError):
            scopes = []
    elif node.name.startswith("/"):
        parts = [p for p in node.name.split("/")[1:-1] if p]
        path = ""
        for part in parts:
            path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
            scopes.append(path)
    classes = [c.rsplit(".", 1)[-1] for c in classes[: len(scopes)]]
    if RULE_KEY in meta:
        weight = next((i for i in node.input if i in weights and "." in i), None)
        owner = weight.rsplit(".", 1)[0] if weight else None
        if weight and owner not in scopes:
            parent = [s for s in scopes if owner.startswith(s + ".")]
            cls = _layer_class(node.op_type, weights[weight])
            scopes, classes = parent + [owner], classes[: len(parent)] + [cls]
    return scopes, classes + [""] * (len(scopes) - len(classes))


class _Runner:
    """The values of one forward pass; runs planned nodes and scope calls."""

    def __init__(self, module: OnnxGraphModule, env: dict[str, torch.Tensor]) -> None:
        self.module = module
        self.env = env

    def run(self, items: list[Any]) -> None:
        for item in items:
            if isinstance(item, PlannedNode):
                self.node(item)
            else:
                path, sub = item
                self.module.get_submodule(path)(self, sub)

    def value(self, name: str) -> torch.Tensor | None:
        if not name:
            return None
        if name in self.env:
            return self.env[name]
        owner, attr = self.module.state_names[name]
        return getattr(self.module.get_submodule(owner), attr)

    def node(self, planned: PlannedNode) -> None:
        call = planned.call
        if self.module.node_hook is not None:
            self.module.node_hook(planned)
        xs = [self.value(n) for n in planned.inputs]
        fn = OPS.get(call.op_type)
        out = fn(call, *xs) if fn is not None else unmapped(call, *xs)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for i, (name, value) in enumerate(zip(planned.outputs, outs, strict=False)):
            if not name:
                continue
            if tuple(value.shape) != tuple(call.out_shapes[i]):
                if value.numel() != _numel(call.out_shapes[i]):
                    raise ShapeMismatch(
                        f"ONNX node {call.name or planned.index} ({call.op_type}) made "
                        f"{tuple(value.shape)} where the graph says {call.out_shapes[i]}"
                    )
                value = value.reshape(call.out_shapes[i])
            self.env[name] = value


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class OnnxGraphModule(_Scope):
    """Runs an ONNX graph node by node through torch ops, for counting on meta tensors.

    Built for one set of input shapes (``shapes``, from :func:`resolve_shapes`): every
    node's outputs have the static shapes recorded there. ``forward`` takes the graph's
    inputs positionally (in graph order) or by name and returns its outputs."""

    def __init__(self, model: Any, shapes: ShapeTable, root_type: str = "") -> None:
        super().__init__()
        #: called with each PlannedNode before it runs (a profile marks node boundaries)
        self.node_hook: Callable[[PlannedNode], None] | None = None
        self.graph_name = model.graph.name
        self.output_names = [o.name for o in model.graph.output]
        self.state_names: dict[str, tuple[str, str]] = {}
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 18)
        weights = {t.name: len(t.dims) for t in model.graph.initializer}  # name → rank
        self.input_names = [i.name for i in model.graph.input if i.name not in weights]
        consts = self._constants(model)
        static = self._fold(model, set(weights) | set(consts), shapes)
        nodes = self._plan_nodes(model, shapes, consts, static, weights, opset)
        nodes, self.attention_calls = regroup(model, nodes, shapes)
        self.nodes = nodes
        self.folded = len([n for n in model.graph.node if n.output and n.output[0] in static])
        self._add_state(model, shapes, static, nodes)
        self.plan = _nest(nodes)

    # -- building ---------------------------------------------------------------------
    @staticmethod
    def _constants(model: Any) -> dict[str, Any]:
        """Numpy values of small initializers held in the file and of Constant nodes
        (what ops read as attributes: axes, pads, clip bounds)."""
        from onnx import numpy_helper

        values: dict[str, Any] = {}
        for t in model.graph.initializer:
            inline = t.data_location != 1  # 1 = EXTERNAL
            if inline and _numel(tuple(t.dims)) <= 64:
                values[t.name] = numpy_helper.to_array(t)
        for node in model.graph.node:
            if node.op_type == "Constant":
                value = constant_value(node)
                if value is not None:
                    values[node.output[0]] = value
        return values

    @staticmethod
    def _fold(model: Any, constant: set[str], shapes: ShapeTable) -> set[str]:
        """Values computed from constants and shapes only, as integers or booleans: the
        shape arithmetic PyTorch does in Python. Their nodes never run."""
        static = set(constant)
        for node in model.graph.node:
            if node.op_type in ("Shape", "Size", "Constant"):
                static.update(o for o in node.output if o)
                continue
            ins = [i for i in node.input if i]
            outs = [shapes.get(o) for o in node.output if o]
            integer = all(o is not None and not o[1].is_floating_point for o in outs)
            if (
                ins
                and all(i in static for i in ins)
                and integer
                and not node.op_type.startswith("Random")
            ):
                static.update(o for o in node.output if o)
        return static

    def _plan_nodes(self, model, shapes, consts, static, weights, opset) -> list[PlannedNode]:
        from onnx import helper

        planned = []
        for index, node in enumerate(model.graph.node):
            if node.output and all(o in static for o in node.output if o):
                continue
            domain = "" if node.domain in ("", "ai.onnx") else node.domain + "."
            attrs = {a.name: _plain(helper.get_attribute_value(a)) for a in node.attribute}
            outs = [o for o in node.output]
            known = [shapes.get(o) for o in outs if o]
            if any(k is None for k in known):
                raise ShapeMismatch(f"ONNX node {node.name or index}: output shape unknown")
            call = NodeCall(
                op_type=domain + node.op_type,
                name=node.name,
                attrs=attrs,
                out_shapes=[shapes[o][0] for o in outs if o],
                out_dtypes=[shapes[o][1] for o in outs if o],
                consts=[consts.get(i) for i in node.input],
                opset=opset,
            )
            scopes, classes = node_scopes(node, weights)
            path = scopes[-1] if scopes else ""
            planned.append(PlannedNode(index, call, list(node.input), outs, path, scopes))
            for scope, cls in zip(scopes, classes, strict=True):
                self._ensure_scope(scope, cls)
        return planned

    def _ensure_scope(self, path: str, cls: str) -> nn.Module:
        module: nn.Module = self
        parts = path.split(".")
        for i, part in enumerate(parts):
            if part not in module._modules:
                last = i == len(parts) - 1
                module.add_module(part, _scope_type(cls if last else "")())
            module = module._modules[part]
        if cls and type(module).__name__ == "Scope":  # named later by a node that knows
            module.__class__ = _scope_type(cls)
        return module

    def _add_state(self, model, shapes, static, nodes) -> None:
        """Initializers and folded values as meta tensors on the module that uses them."""
        used: dict[str, str] = {}
        initializers = {t.name for t in model.graph.initializer}
        for planned in nodes:
            for name in planned.inputs:
                used.setdefault(name, planned.path)
        for name, path in used.items():
            if not name or name in self.state_names or name not in shapes:
                continue
            if name not in static and name not in initializers:
                continue
            shape, dtype = shapes[name]
            owner, _, leaf = name.rpartition(".")
            if not (owner and self._has(owner) and leaf.isidentifier()):
                owner, leaf = path, "c_" + "".join(c if c.isalnum() else "_" for c in name)
            module = self.get_submodule(owner)
            while hasattr(module, leaf):
                leaf += "_"
            tensor = torch.empty(shape, dtype=dtype, device="meta")
            if dtype.is_floating_point and _numel(shape) > 1 and name in initializers:
                module.register_parameter(leaf, nn.Parameter(tensor, requires_grad=False))
            else:
                module.register_buffer(leaf, tensor, persistent=False)
            self.state_names[name] = (owner, leaf)

    def _has(self, path: str) -> bool:
        try:
            self.get_submodule(path)
        except AttributeError:
            return False
        return True

    # -- running ----------------------------------------------------------------------
    def forward(self, *args: torch.Tensor, **kwargs: torch.Tensor) -> Any:  # type: ignore[override]
        """Run the graph on ``args`` (graph input order) and ``kwargs`` (by input name)."""
        env = dict(zip(self.input_names, args, strict=False))
        env.update(kwargs)
        runner = _Runner(self, env)
        runner.run(self.plan)
        outs = [runner.value(name) for name in self.output_names]
        return outs[0] if len(outs) == 1 else tuple(outs)


def _plain(value: Any) -> Any:
    """Attribute values as plain Python (bytes → str, repeated fields → lists)."""
    if isinstance(value, bytes):
        return value.decode()
    if (
        hasattr(value, "__iter__")
        and not isinstance(value, (str, dict))
        and not hasattr(value, "dims")
    ):
        return [_plain(v) for v in value]
    return value


def _nest(nodes: list[PlannedNode]) -> list[Any]:
    """The plan as nested ``(scope path, items)`` calls: consecutive nodes of one scope run
    inside one call of its module (a module run twice, like a shared ReLU, is called twice)."""
    root: list[Any] = []
    stack: list[tuple[str, list[Any]]] = [("", root)]
    for planned in nodes:
        chain = planned.chain
        depth = 0
        while depth < len(chain) and depth + 1 < len(stack) and stack[depth + 1][0] == chain[depth]:
            depth += 1
        del stack[depth + 1 :]
        for scope in chain[depth:]:
            items: list[Any] = []
            stack[-1][1].append((scope, items))
            stack.append((scope, items))
        stack[-1][1].append(planned)
    return root
