"""``model.onnx`` as a model source: the graph rebuilt as a module of torch ops.

:func:`load_onnx` reads the file (never its weights), fixes every input's shape (the
graph's own, or ``--input`` specs for symbolic dims), infers every value's static shape and
returns an :class:`~flopwise.sources.onnx_module.OnnxGraphModule` with meta inputs, ready
for :func:`flopwise.profile` on meta tensors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from flopwise.errors import BadInputSpec
from flopwise.sources.onnx_file import (
    GraphInput,
    check_inputs,
    graph_inputs,
    read_model,
    resolve_shapes,
)
from flopwise.sources.onnx_module import OnnxGraphModule
from flopwise.sources.specs import parse_input_specs


@dataclass
class OnnxModel:
    """An ONNX file ready to count: the module, its meta inputs by name, and the graph's
    declared inputs (for onnxruntime feeds)."""

    path: Path
    module: OnnxGraphModule
    inputs: dict[str, torch.Tensor]
    graph_inputs: list[GraphInput]
    producer: str = ""
    opsets: dict[str, int] = field(default_factory=dict)

    @property
    def input_specs(self) -> list[str]:
        """The inputs as ``--input`` specs (``x=1x3x224x224:float32``)."""
        return [
            f"{n}={'x'.join(map(str, t.shape)) or '1'}:{str(t.dtype).removeprefix('torch.')}"
            for n, t in self.inputs.items()
        ]


def is_onnx_spec(spec: str) -> bool:
    """Whether MODEL names an ONNX file (``path/model.onnx``, ``onnx:path``)."""
    text = spec.strip()
    return text.lower().endswith(".onnx") or text.lower().startswith("onnx:")


def onnx_path(spec: str) -> Path:
    text = spec.strip()
    return Path(text[5:] if text.lower().startswith("onnx:") else text).expanduser()


def load_onnx(spec: str | Path, inputs: list[str] | None = None) -> OnnxModel:
    """Read an ONNX file and build its counting module for ``inputs`` (``--input`` specs;
    positional specs follow the graph's input order, named ones match input names).

    Raises :class:`BadInputSpec` (one line) when an input has symbolic dims and no spec."""
    path = onnx_path(str(spec))
    model = read_model(path)
    declared = graph_inputs(model)
    given: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, torch.dtype] = {}
    for i, s in enumerate(parse_input_specs(inputs or [])):
        if s.name is None and i >= len(declared):
            raise BadInputSpec(f"the ONNX graph has {len(declared)} input(s); got more specs")
        name = s.name or declared[i].name
        if name not in {d.name for d in declared}:
            known = ", ".join(d.name for d in declared)
            raise BadInputSpec(f"the ONNX graph has no input {name!r} (inputs: {known})")
        given[name] = tuple(s.shape)
        if s.dtype is not None:
            dtypes[name] = s.dtype
    check_inputs(declared, given)
    shapes_in = {d.name: given.get(d.name, d.dims) for d in declared}
    table = resolve_shapes(model, shapes_in, path)  # type: ignore[arg-type]
    module = OnnxGraphModule(model, table)
    meta = {
        d.name: torch.empty(shapes_in[d.name], dtype=dtypes.get(d.name, d.dtype), device="meta")
        for d in declared
    }
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    producer = f"{model.producer_name} {model.producer_version}".strip()
    return OnnxModel(path, module, meta, declared, producer, opsets)


def onnx_origin(loaded: OnnxModel) -> str:
    """One line saying where the graph came from, for the output."""
    nodes = len(loaded.module.nodes)
    by = f", exported by {loaded.producer}" if loaded.producer else ""
    return f"ONNX file {loaded.path} ({nodes} nodes counted on meta tensors{by})"


def describe(loaded: OnnxModel) -> dict[str, Any]:
    """Facts about the graph recorded beside the count."""
    return {
        "file": str(loaded.path),
        "opsets": loaded.opsets,
        "nodes": len(loaded.module.nodes),
        "folded_shape_nodes": loaded.module.folded,
        "attention_calls_regrouped": loaded.module.attention_calls,
        "producer": loaded.producer,
    }
