"""Reading an ONNX file: its inputs, and the static shape of every value for given inputs.

Weights are never needed to count (initializers are read for their shapes only, external
data files stay on disk). Shapes come from ONNX shape inference with data propagation;
when that leaves a value without a static shape (ops whose output size depends on data,
custom domains), onnxruntime runs the graph once on random inputs with every intermediate
value exposed, and the shapes are read off the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from flopwise.errors import BadInputSpec, BadModelFile, MissingDependency

#: ONNX TensorProto element type → torch dtype (the types flopwise can price).
ONNX_DTYPES: dict[int, torch.dtype] = {
    1: torch.float32,
    2: torch.uint8,
    3: torch.int8,
    5: torch.int16,
    6: torch.int32,
    7: torch.int64,
    9: torch.bool,
    10: torch.float16,
    11: torch.float64,
    14: torch.complex64,
    15: torch.complex128,
    16: torch.bfloat16,
}

#: value name → (static shape, dtype)
ShapeTable = dict[str, tuple[tuple[int, ...], torch.dtype]]


def require_onnx() -> Any:
    """The ``onnx`` module, or :class:`MissingDependency` naming the ``onnx`` extra."""
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependency("onnx", "onnx", "counting ONNX files") from exc
    return onnx


def read_model(path: str | Path) -> Any:
    """The ``ModelProto`` at ``path`` without its external weights (shapes suffice)."""
    onnx = require_onnx()
    path = Path(path).expanduser()
    if not path.is_file():
        raise BadModelFile(f"ONNX file not found: {path}")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # a truncated or foreign file: one line, not a traceback
        raise BadModelFile(f"cannot read {path} as an ONNX model: {exc}") from exc


@dataclass(frozen=True)
class GraphInput:
    """One input the graph expects: ``dims`` holds ints, or strings for symbolic dims."""

    name: str
    dims: tuple[int | str, ...]
    dtype: torch.dtype

    @property
    def static(self) -> bool:
        return all(isinstance(d, int) for d in self.dims)

    def spec(self) -> str:
        """The ``--input`` spec for this input's static shape (``x=1x3x224x224:float32``)."""
        shape = "x".join(str(d) for d in self.dims) or "1"
        return f"{self.name}={shape}:{str(self.dtype).removeprefix('torch.')}"


def _dtype(elem_type: int, what: str) -> torch.dtype:
    if elem_type not in ONNX_DTYPES:
        raise BadModelFile(f"{what} has ONNX element type {elem_type}, which flopwise cannot price")
    return ONNX_DTYPES[elem_type]


def graph_inputs(model: Any) -> list[GraphInput]:
    """The inputs a caller feeds (initializers listed as inputs by old exporters excluded)."""
    weights = {t.name for t in model.graph.initializer}
    found = []
    for value in model.graph.input:
        if value.name in weights:
            continue
        tensor = value.type.tensor_type
        dims = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in tensor.shape.dim
        )
        found.append(GraphInput(value.name, dims, _dtype(tensor.elem_type, value.name)))
    return found


def check_inputs(inputs: list[GraphInput], given: dict[str, tuple[int, ...]]) -> None:
    """Raise one line when an input with symbolic dims has no shape from ``--input``."""
    for gi in inputs:
        if gi.name in given:
            fixed = [
                d
                for d, g in zip(gi.dims, given[gi.name], strict=False)
                if isinstance(d, int) and d != g
            ]
            if len(given[gi.name]) != len(gi.dims) or fixed:
                raise BadInputSpec(
                    f"input {gi.name!r} of the ONNX graph is {'x'.join(map(str, gi.dims))} "
                    f"(fixed dims stay as exported), got {'x'.join(map(str, given[gi.name]))}; "
                    "export with dynamic shapes to count other sizes"
                )
            continue
        if not gi.static:
            symbolic = ", ".join(str(d) for d in gi.dims if not isinstance(d, int))
            raise BadInputSpec(
                f"input {gi.name!r} of the ONNX graph has symbolic dims ({symbolic}): give its "
                f"shape, e.g. --input {gi.name}="
                + "x".join(str(d) if isinstance(d, int) else "1" for d in gi.dims)
                + f":{str(gi.dtype).removeprefix('torch.')}"
            )


def resolve_shapes(
    model: Any, inputs: dict[str, tuple[int, ...]], path: str | Path | None = None
) -> ShapeTable:
    """The static shape and dtype of every value of ``model`` fed ``inputs`` (name → shape).

    Shape inference runs on a copy whose inputs carry the given shapes and whose recorded
    intermediate shapes are dropped (they belong to the shapes the file was exported at);
    values it cannot make static are taken from one onnxruntime run of the file at ``path``.
    """
    onnx = require_onnx()
    work = onnx.ModelProto()
    work.CopyFrom(model)
    graph = work.graph
    del graph.value_info[:]
    for value in graph.input:
        if value.name in inputs:
            shape = value.type.tensor_type.shape
            del shape.dim[:]
            for size in inputs[value.name]:
                shape.dim.add().dim_value = int(size)
    for value in graph.output:
        value.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(work, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise BadModelFile(f"ONNX shape inference failed: {exc}") from exc
    table = _static_values(inferred.graph)
    missing = [o for node in graph.node for o in node.output if o and o not in table]
    if missing:
        if path is None:
            raise BadModelFile(f"no static shape for {len(missing)} value(s), e.g. {missing[0]}")
        table.update(_ort_shapes(path, inputs, missing, table))
    return table


def _static_values(graph: Any) -> ShapeTable:
    table: ShapeTable = {}
    for t in graph.initializer:
        table[t.name] = (tuple(int(d) for d in t.dims), _dtype(t.data_type, t.name))
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor = value.type.tensor_type
        if not tensor.HasField("shape") or tensor.elem_type not in ONNX_DTYPES:
            continue
        dims = tensor.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            table[value.name] = (tuple(d.dim_value for d in dims), ONNX_DTYPES[tensor.elem_type])
    for node in graph.node:  # Constant nodes carry their value as an attribute
        if node.op_type == "Constant" and node.output[0] not in table:
            value = constant_value(node)
            if value is not None:
                table[node.output[0]] = (tuple(value.shape), _numpy_dtype(value))
    return table


def constant_value(node: Any) -> Any:
    """The numpy value of a ``Constant`` node, or None for sparse/unusual forms."""
    from onnx import helper, numpy_helper

    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if attr.name == "value":
            return numpy_helper.to_array(value)
        if attr.name in ("value_float", "value_int"):
            import numpy as np

            return np.array(value)
        if attr.name in ("value_floats", "value_ints"):
            import numpy as np

            return np.array(list(value))
    return None


def _numpy_dtype(value: Any) -> torch.dtype:
    return torch.from_numpy(value.reshape(-1)[:0].copy()).dtype


def _ort_shapes(
    path: str | Path, inputs: dict[str, tuple[int, ...]], names: list[str], known: ShapeTable
) -> ShapeTable:
    """Shapes of ``names`` from one onnxruntime run on random inputs (every value exposed)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependency(
            "onnxruntime", "onnx", "shapes shape inference leaves open"
        ) from exc
    import numpy as np
    import onnx

    model = onnx.load(str(path))  # with weights: the graph really runs
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.add().name = name
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    rng = np.random.default_rng(0)
    for arg in session.get_inputs():
        shape = inputs.get(arg.name) or known[arg.name][0]
        if "int" in arg.type:
            feeds[arg.name] = rng.integers(0, 2, size=shape).astype(arg.type[7:-1] or "int64")
        elif "bool" in arg.type:
            feeds[arg.name] = np.zeros(shape, dtype=bool)
        else:
            kind = {"tensor(float16)": np.float16, "tensor(double)": np.float64}
            feeds[arg.name] = rng.standard_normal(shape).astype(kind.get(arg.type, np.float32))
    results = session.run(names, feeds)
    return {
        n: (tuple(r.shape), torch.from_numpy(np.ascontiguousarray(r).reshape(-1)[:0]).dtype)
        for n, r in zip(names, results, strict=True)
    }
