"""The pipeline behind ``flopwise profile``: source → capture → cost → (measure) → Profile.

Kept apart from the CLI so notebooks and other commands (sweep, compare) run the same
steps."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

import torch

from flopwise.capture.records import ancestors
from flopwise.measure.devices import resolve_device
from flopwise.profile import Profile, profile
from flopwise.sections import Alpha, Source, Stages, TrainingClosedForms

if TYPE_CHECKING:
    from flopwise.measure.options import MeasureOptions


def load(
    model_spec: str,
    inputs: list[str],
    device: str,
    dtype: str,
    *,
    trust_remote_code: bool = False,
    loaded_out: list[Any] | None = None,
    factory_kwargs: dict[str, Any] | None = None,
) -> tuple[Any, tuple, dict, str]:
    """Build the model and its inputs; returns ``(model, args, kwargs, name)``.

    ``trust_remote_code`` lets an ``hf:`` config with ``auto_map`` run its repository's
    code. ``loaded_out``, when given, receives the :class:`LoadedModel` (for its origin).
    ``factory_kwargs`` go to a ``file.py:factory`` / ``module:factory`` source."""
    from flopwise.sources import load_model
    from flopwise.sources.onnx import is_onnx_spec, load_onnx
    from flopwise.sources.specs import make_inputs, normalize_example_inputs, parse_model_dtype

    if is_onnx_spec(model_spec):  # built for the input shapes; runs on meta tensors
        graph = load_onnx(model_spec, inputs)
        return graph.module, (), dict(graph.inputs), model_spec
    torch_dtype = parse_model_dtype(dtype)
    # fake tensors are made from a cpu model; cuda and cuda:N build on that device
    build_device = "cpu" if device == "fake" else resolve_device(device, timing=False)
    loaded = load_model(
        model_spec,
        device=build_device,
        dtype=torch_dtype,
        trust_remote_code=trust_remote_code,
        factory_kwargs=factory_kwargs,
    )
    if loaded_out is not None:
        loaded_out.append(loaded)
    if inputs:
        args, kwargs = make_inputs(
            inputs, build_device, float_dtype=torch_dtype, vocab_size=loaded.vocab_size
        )
    elif loaded.example_inputs is not None:
        args, kwargs = normalize_example_inputs(loaded.example_inputs)
        if build_device.startswith("cuda"):  # a factory's example inputs may be made on cpu
            args, kwargs = _to_device((args, kwargs), build_device)
    else:
        args, kwargs = make_inputs(
            loaded.default_inputs,
            build_device,
            float_dtype=torch_dtype,
            vocab_size=loaded.vocab_size,
        )
    return loaded.model, args, kwargs, loaded.name


def _to_device(value: Any, device: str) -> Any:
    """``value`` with every tensor in it (nested tuples, lists, dicts) moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(_to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    return value


def run_profile(
    model_spec: str,
    inputs: list[str],
    *,
    device: str = "auto",
    dtype: str = "float32",
    train: bool = False,
    measure: MeasureOptions | None = None,
    trust_remote_code: bool = False,
    factory_kwargs: dict[str, Any] | None = None,
) -> Profile:
    """Load, count and (with ``measure``) time a model, returning one Profile.

    ``measure`` (one :class:`~flopwise.measure.options.MeasureOptions`) also times it:
    latency, per-module times and the roofline in ``prof.measured``, plus ``prof.energy``
    and ``prof.stages`` when the options ask for them.
    ``prof.source`` records the spec, canonical name, dtype, where the model came
    from (``resolved``: local file, built-in config or Hub repository and commit) and, with
    ``trust_remote_code``, that remote code ran. ``factory_kwargs`` are passed to a factory
    source (a campaign's grid point). ONNX: :func:`~flopwise.pipeline.onnx.run_onnx_profile`."""
    from flopwise.pipeline.onnx import is_onnx_spec, run_onnx_profile

    if is_onnx_spec(model_spec):
        return run_onnx_profile(model_spec, inputs, measure=measure, device=device, train=train)
    device = resolve_device(device, timing=measure is not None)
    loaded_out: list[Any] = []
    model, args, kwargs, name = load(
        model_spec,
        inputs,
        device,
        dtype,
        trust_remote_code=trust_remote_code,
        loaded_out=loaded_out,
        factory_kwargs=factory_kwargs,
    )
    tensors = "fake" if device == "fake" else ("meta" if device == "meta" else "auto")
    prof = profile(
        model, *args, kwargs=kwargs, train=train, tensors=tensors, name=model_spec or name
    )
    loaded = loaded_out[0] if loaded_out else None
    prof.source = Source(
        spec=model_spec,
        name=name,
        dtype=dtype,
        resolved=(loaded.origin or None) if loaded else None,
        trust_remote_code=True if trust_remote_code else None,
        # Default inputs chosen for the model's kind; printed so the count can be read.
        default_inputs=(
            [str(s) for s in loaded.default_inputs]
            if not inputs and loaded and loaded.example_inputs is None
            else None
        ),
    )
    add_alpha(prof)
    if train:
        prof.training_closed_forms = training_closed_forms(model, kwargs)
    if measure is not None:
        from flopwise.pipeline.measured import measure_profile

        measure_profile(prof, model, args, kwargs, measure, train=train, device=device)
        if measure.stages:
            prof.stages = _measure_stages(model, args, kwargs, model_spec, device, measure)
    return prof


def stored_profile(
    run_id: int | None = None,
    *,
    model: str | None = None,
    db: str | os.PathLike[str] | None = None,
) -> Profile:
    """A saved profile run read back into a Profile, typed sections included, through the
    one reader of the document (report/json.py). ``run_id`` None: the newest run (of
    ``model`` when given); ``db`` defaults to the results database ``history`` reads."""
    from flopwise.report.json import profile_from_document
    from flopwise.store import Store

    with Store(db, create=False, readonly=True) as store:
        return profile_from_document(store.get(store.latest(model) if run_id is None else run_id))


def _measure_stages(
    model: Any,
    args: tuple,
    kwargs: dict,
    model_spec: str,
    device: str,
    options: MeasureOptions,
) -> Stages:
    """Preprocess, copy, inference and postprocess times of the model's pipeline, timed in
    eval mode (the model's mode is restored after)."""
    from flopwise.measure.stages import measure_stages
    from flopwise.sources import parse_model_spec

    was_training = model.training
    model.eval()
    try:
        return measure_stages(
            model,
            args,
            kwargs,
            source=parse_model_spec(model_spec)[0],
            device=device,
            # stages warm up 3 times (as before MeasureOptions): the first preprocess
            # calls build caches
            measure=dataclasses.replace(options, warmup=3),
        )
    finally:
        model.train(was_training)


def training_closed_forms(model: Any, kwargs: dict) -> TrainingClosedForms | None:
    """The training FLOPs people quote (6·N·tokens, Kaplan's 6·N + attention, Megatron's),
    for a transformer with an HF config and ``input_ids``, to print beside the counted
    forward + backward. None for other models."""
    config = getattr(model, "config", None)
    ids = kwargs.get("input_ids")
    if config is None or not isinstance(ids, torch.Tensor) or ids.ndim != 2:
        return None
    try:
        from flopwise.llm.training import training_cost

        cost = training_cost(config.to_dict(), batch=int(ids.shape[0]), seq=int(ids.shape[1]))
    except Exception:  # an architecture the analytic model does not cover
        return None
    return TrainingClosedForms(
        tokens=cost.tokens,
        six_n=cost.six_n,
        kaplan_6n_plus_attention=cost.kaplan,
        megatron=cost.megatron,
        analytic_step=cost.step,
        note="closed forms count 2 FLOPs per multiply-add of matmuls only; N = active non-embedding parameters",
    )


def add_alpha(prof: Profile, constants: Any = None) -> None:
    """Attach α-MACs / α-flops (conv and dense layers) to the profile, per module and in
    total, with the host's fitted constants when ``flopwise fit-alpha`` saved some, else the
    authors' published ones; the constants used are recorded beside the figures."""
    from flopwise.analysis.alpha import PUBLISHED_LABEL, host_alpha_constants, record_alpha_macs

    source = PUBLISHED_LABEL
    if constants is None:
        constants, source = host_alpha_constants()
    per_module: dict[str, float] = {}
    for rec in prof.ops:
        value = record_alpha_macs(rec, constants)
        if value is None:
            continue
        for path in ancestors(rec.module_path):
            per_module[path] = per_module.get(path, 0.0) + value
    from flopwise.analysis.alpha import alpha_totals

    totals = alpha_totals(prof, constants)
    totals["constants_source"] = source
    totals["note"] = "α-MACs are the paper's 'α-FLOPs' (a multiply-add counted once)"
    prof.alpha = Alpha.from_dict(totals)
    prof.alpha.per_module = per_module
