"""``flopwise profile model.onnx``: an ONNX graph counted under the PyTorch conventions and,
with ``--measure``, timed by onnxruntime with per-node times joined to the counted nodes,
then joined with the counts against a hardware profile (the roofline, as for PyTorch)."""

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
    per-node times joined to counted nodes; onnxruntime's own keys in its ``other``), and
    ``prof.measured.hardware``/``.roofline`` hold the roofline join against
    ``measure.hardware`` (``host``: the measured profile of the device onnxruntime ran on)."""
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
        _measure(prof, loaded, counted, measure, device)
    return prof


def _measure(
    prof: Profile,
    loaded: OnnxModel,
    counted: list[CountedNode],
    measure: MeasureOptions,
    device: str,
) -> None:
    """Time the file with onnxruntime into ``prof.measured``, then add the roofline join
    (pipeline/measured.py's, the one every measured run uses)."""
    from flopwise.measure.hardware import get_profile, resolve_hardware
    from flopwise.measure.onnx_runtime import measure_onnx, runs_on
    from flopwise.pipeline.measured import SectionRun, attach_roofline

    on = runs_on(device)
    # Resolved before timing, as for PyTorch: an unknown name fails before minutes of
    # timing, and a first host benchmark does not run between timed runs.
    hw_name = resolve_hardware(measure.hardware, on)
    hw = get_profile(hw_name, progress=measure.progress)
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
    # Module times that are FLOPs shares of a fused runtime node are no measurement: the
    # join leaves those modules with floors only.
    run = SectionRun.from_section(
        prof.measured, without=prof.measured.other.get("split_modules", ())
    )
    attach_roofline(prof, run, hw, hw_name, on, progress=measure.progress, modes=_ort_math_modes())


def _ort_math_modes() -> Any:
    from flopwise.analysis.roofline import MathModes

    # onnxruntime's CUDA provider lets cuBLAS and cuDNN run float32 contractions in TF32
    # (its use_tf32 option, on by default); allowing it keeps the floor a lower bound.
    # Read only on GPU profiles (CPU profiles have no TF32 peak).
    return MathModes(conv_tf32=True, matmul_tf32=True, matmul_precision="high")


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
