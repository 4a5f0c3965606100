"""``flopwise profile model.onnx``: an ONNX graph counted under the PyTorch conventions and,
with ``--measure``, timed by onnxruntime with per-node times joined to the counted nodes."""

from __future__ import annotations

from flopwise.profile import Profile, profile


def is_onnx_spec(model_spec: str) -> bool:
    """Whether MODEL names an ONNX file (``model.onnx`` or ``onnx:PATH``)."""
    from flopwise.sources.onnx import is_onnx_spec as check

    return check(model_spec)


def run_onnx_profile(
    model_spec: str,
    inputs: list[str],
    *,
    measure: bool = False,
    repeats: int = 0,
    budget: float = 10.0,
    device: str = "auto",
    progress: bool = False,
) -> Profile:
    """Count the ONNX file ``model_spec`` for ``inputs`` (``--input`` specs; the graph's
    own shapes when empty) on meta tensors, returning a Profile like any model's.

    ``prof.extra["source"]`` names the file, the graph's opsets and node count;
    ``prof.extra["onnx"]`` the same facts. With ``measure``, onnxruntime times the file
    (``prof.measured``: latency statistics, per-node times joined to counted nodes)."""
    from flopwise.pipeline.profile import add_alpha
    from flopwise.sources.onnx import describe, load_onnx, onnx_origin

    loaded = load_onnx(model_spec, inputs)
    prof = profile(loaded.module, kwargs=loaded.inputs, tensors="meta", name=model_spec)
    prof.extra["source"] = {
        "spec": model_spec,
        "name": str(loaded.path),
        "dtype": "as stored",
        "resolved": onnx_origin(loaded),
    }
    if not inputs:
        prof.extra["source"]["default_inputs"] = loaded.input_specs
    prof.extra["onnx"] = describe(loaded)
    add_alpha(prof)
    if measure:
        from flopwise.measure.onnx_runtime import measure_onnx

        prof.measured = measure_onnx(
            loaded.path,
            loaded.inputs,
            loaded.module.nodes,
            prof,
            repeats=repeats or None,
            budget_s=budget,
            device=device,
            progress=progress,
        )
    return prof
