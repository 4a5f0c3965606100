"""``flopwise profile model.onnx``: an ONNX graph counted under the PyTorch conventions and,
with ``--measure``, timed by onnxruntime with per-node times joined to the counted nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flopwise.capture.mode import records_so_far
from flopwise.errors import FlopwiseError
from flopwise.profile import Profile, profile
from flopwise.sections import Measured, Source

if TYPE_CHECKING:
    from flopwise.measure.onnx_runtime import CountedNode
    from flopwise.measure.options import MeasureOptions
    from flopwise.sources.onnx import OnnxModel


def is_onnx_spec(model_spec: str) -> bool:
    """Whether MODEL names an ONNX file (``model.onnx`` or ``onnx:PATH``)."""
    from flopwise.sources.onnx import is_onnx_spec as check

    return check(model_spec)


def run_onnx_profile(
    model_spec: str,
    inputs: list[str],
    *,
    measure: MeasureOptions | None = None,
    device: str = "auto",
    train: bool = False,
) -> Profile:
    """Count the ONNX file ``model_spec`` for ``inputs`` (``--input`` specs; the graph's
    own shapes when empty) on meta tensors, returning a Profile like any model's.

    ``prof.source`` names the file (its ``onnx`` entry: the graph's opsets and node count).
    With ``measure``, onnxruntime times the file (``prof.measured``: latency statistics,
    per-node times joined to counted nodes; onnxruntime's own keys in its ``other``)."""
    from flopwise.pipeline.profile import add_alpha
    from flopwise.sources.onnx import describe, load_onnx, onnx_origin

    if train:  # an exported graph holds the forward pass only
        raise FlopwiseError("ONNX files hold an inference graph: --train needs the PyTorch model")
    loaded = load_onnx(model_spec, inputs)
    prof, counted = count_onnx(loaded)
    prof.model = model_spec
    prof.source = Source(
        spec=model_spec,
        name=str(loaded.path),
        dtype="as stored",
        resolved=onnx_origin(loaded),
        default_inputs=None if inputs else list(loaded.input_specs),
        other={"onnx": describe(loaded)},
    )
    add_alpha(prof)
    if measure is not None:
        from flopwise.measure.onnx_runtime import measure_onnx

        prof.measured = Measured.from_dict(
            measure_onnx(
                loaded.path,
                loaded.inputs,
                counted,
                repeats=measure.repeats,
                budget_s=measure.budget_s,
                device=device,
                progress=measure.progress,
            )
        )
    return prof


def count_onnx(loaded: OnnxModel) -> tuple[Profile, list[CountedNode]]:
    """Profile a loaded ONNX graph on meta tensors, with each node's share of the records
    (for joining runtime per-node times)."""
    marks: list[tuple[Any, int]] = []
    loaded.module.node_hook = lambda planned: marks.append((planned, records_so_far()))
    try:
        prof = profile(loaded.module, kwargs=loaded.inputs, tensors="meta", name=str(loaded.path))
    finally:
        loaded.module.node_hook = None
    return prof, counted_nodes(marks, prof)


def counted_nodes(marks: list[tuple[Any, int]], prof: Profile) -> list[CountedNode]:
    """Per ONNX node, the sums of the records it made: ``marks`` holds each node with the
    number of records made before it ran, so its records are those up to the next mark."""
    from flopwise.measure.onnx_runtime import CountedNode

    nodes = []
    ends = [start for _, start in marks[1:]] + [len(prof.ops)]
    for (planned, start), end in zip(marks, ends, strict=True):
        records = prof.ops[start:end]
        nodes.append(
            CountedNode(
                name=planned.call.name or f"#{planned.index}",
                op_type=planned.call.op_type,
                path=planned.path,
                inputs=[i for i in planned.inputs if i],
                outputs=[o for o in planned.outputs if o],
                flops=sum(r.flops for r in records),
                macs=sum(r.macs for r in records),
                bytes=sum(r.bytes_read + r.bytes_written for r in records),
                aliases=list(planned.aliases),
                alias_outputs=list(planned.alias_outputs),
            )
        )
    return nodes
