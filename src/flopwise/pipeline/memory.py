"""The pipeline behind ``flopwise memory``: source → memory profile of a step (op stream
on meta/real tensors, or the LLM closed forms for ``hf:`` configs) → fit on a device."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._pytree import tree_map

from flopwise.errors import FlopwiseError
from flopwise.memory.llm import (
    RECOMPUTE,
    LLMInferenceMemory,
    LLMMemory,
    LLMMemoryFit,
    LLMTrainingMemory,
    check_training_options,
    largest_linear_batch,
    largest_micro_batch,
    llm_training_memory,
)
from flopwise.memory.result import CheckpointSaving, Fit, MeasuredPeak, MemoryProfile
from flopwise.memory.trace import OPTIMIZERS, memory_profile

__all__ = ["OPTIMIZERS", "llm_mixed_precision", "run_llm_memory", "run_memory", "with_batch"]


def with_batch(value: Any, batch: int) -> Any:
    """Inputs with their leading (batch) dimension set to ``batch``; values are zeros
    (memory depends on shapes only; zeros are valid token ids)."""

    def resize(t: Any) -> Any:
        if not isinstance(t, torch.Tensor) or t.ndim == 0:
            return t
        return torch.zeros((batch, *t.shape[1:]), dtype=t.dtype, device=t.device)

    return tree_map(resize, value)


def hardware_capacity(name: str) -> tuple[str, int, str]:
    """``(profile name, memory bytes, allocator device)`` of a hardware profile."""
    from flopwise.measure.hardware import get_profile

    hw = get_profile(name, measure_if_missing=False)
    if not hw.memory_bytes:
        raise FlopwiseError(f"hardware profile {hw.name} states no memory capacity")
    return hw.name, int(hw.memory_bytes), "cuda" if hw.kind == "gpu" else "cpu"


def run_memory(
    model_spec: str,
    inputs: list[str],
    *,
    device: str = "meta",
    dtype: str = "float32",
    batch: int | None = None,
    train: bool = False,
    optimizer: str | None = None,
    hardware: str | None = None,
    granularity: int | None = None,
    measure: bool = False,
    search: bool = True,
    checkpoint: list[str] | None = None,
    accumulate: int = 1,
    amp: str | None = None,
    factory_kwargs: dict[str, Any] | None = None,
) -> MemoryProfile:
    """Memory profile of one step of ``model_spec``; with ``hardware``, whether it fits
    and the largest batch that does (a search over batch on meta tensors); with
    ``measure`` (``device="cpu"``), the CPU allocator's measured step peak beside it;
    with ``checkpoint`` (module paths), the step under activation checkpointing and what
    it saves against the same step without, and the FLOPs it recomputes.
    ``factory_kwargs`` are passed to a factory source (a campaign's grid point)."""
    from flopwise.pipeline.profile import load

    _check_options(device, measure, optimizer, train, accumulate)
    alloc_device, capacity, hw_name = "cpu", None, ""
    if hardware:
        hw_name, capacity, alloc_device = hardware_capacity(hardware)
    model, args, kwargs, name = load(
        model_spec, inputs, device, dtype, factory_kwargs=factory_kwargs
    )
    if batch is not None:
        args, kwargs = with_batch((args, kwargs), batch)
    options: dict[str, Any] = dict(
        train=train,
        optimizer=optimizer,
        device=alloc_device,
        granularity=granularity,
        accumulate=accumulate,
        amp=amp,
    )
    if checkpoint:
        if not train:
            raise FlopwiseError("--checkpoint needs --train")
        plain = memory_profile(model, *args, kwargs=kwargs, **options)
        options["checkpoint"] = list(checkpoint)
    mp = memory_profile(model, *args, kwargs=kwargs, name=model_spec or name, **options)
    if checkpoint:
        mp.checkpoint = _checkpoint_saving(plain, mp, checkpoint)
    mp.mode.batch = _batch_of(args, kwargs)
    mp.mode.dtype = dtype
    if measure:
        mp.measured = _measured_peak(model, args, kwargs, options)
    if capacity is not None:
        largest = None
        if search and mp.mode.batch is not None:
            meta = (
                (model, args, kwargs, name)
                if device == "meta"
                else load(model_spec, inputs, "meta", dtype, factory_kwargs=factory_kwargs)[:3]
            )
            largest = _largest_batch(meta, options, capacity)
        mp.fit = Fit(hw_name, capacity, mp.peak_bytes <= capacity, largest)
    return mp


def _check_options(
    device: str, measure: bool, optimizer: str | None, train: bool, accumulate: int
) -> None:
    """Refuse option combinations :func:`run_memory` cannot honour, naming the CLI option."""
    if optimizer is not None:  # None: a step without an optimizer
        check_training_options(optimizer=optimizer)
    if device not in ("meta", "cpu"):
        raise FlopwiseError(f"--device must be meta or cpu (got {device!r})")
    if measure and device != "cpu":
        raise FlopwiseError("--measure needs real tensors: use --device cpu")
    if optimizer is not None and not train:
        raise FlopwiseError("--optimizer needs --train")
    if accumulate < 1 or (accumulate > 1 and not train):
        raise FlopwiseError("--accumulate needs --train and a value >= 1")


def _saved_bytes(p: MemoryProfile) -> int:
    return sum(b.bytes for b in p.blocks if b.category == "saved")


def _checkpoint_saving(
    plain: MemoryProfile, mp: MemoryProfile, checkpoint: list[str]
) -> CheckpointSaving:
    """What activation checkpointing of ``checkpoint`` saves (``mp``) against the same
    step without it (``plain``), and the FLOPs it recomputes."""
    return CheckpointSaving(
        modules=list(checkpoint),
        peak_bytes_without=plain.peak_bytes,
        peak_bytes_with=mp.peak_bytes,
        saved_bytes_without=_saved_bytes(plain),
        saved_bytes_with=_saved_bytes(mp),
        peak_saving_bytes=plain.peak_bytes - mp.peak_bytes,
        recompute_flops=mp.step_flops - plain.step_flops,
    )


def _measured_peak(
    model: torch.nn.Module, args: tuple, kwargs: dict, options: dict[str, Any]
) -> MeasuredPeak:
    """The CPU allocator's measured step peak beside the prediction at 1-byte granularity
    (the profiler reports requested sizes)."""
    from flopwise.memory.measured import measure_cpu_step_peak

    exact = memory_profile(model, *args, kwargs=kwargs, **{**options, "granularity": 1})
    measured = measure_cpu_step_peak(
        model,
        *args,
        kwargs=kwargs,
        train=options["train"],
        optimizer=options["optimizer"],
        checkpoint=options.get("checkpoint") or (),
        accumulate=options["accumulate"],
        amp=options["amp"],
    )
    return MeasuredPeak(
        method="torch.profiler allocation events (CPU, requested sizes)",
        step_peak_bytes=measured,
        predicted_step_peak_bytes=exact.step_peak_bytes,
        difference_bytes=exact.step_peak_bytes - measured,
        note="predicted at 1-byte granularity, as the profiler reports sizes",
    )


def _largest_batch(meta: tuple, options: dict[str, Any], capacity: int) -> int:
    """The largest batch whose step fits in ``capacity`` bytes, searched on the meta model
    and inputs ``meta`` (model, args, kwargs, name)."""
    meta_model, meta_args, meta_kwargs, _ = meta

    def fits(b: int) -> bool:
        a, k = with_batch((meta_args, meta_kwargs), b)
        return memory_profile(meta_model, *a, kwargs=k, **options).peak_bytes <= capacity

    # doubling then bisecting costs 2·log2(answer) traces; the bound is far above any
    # answer a device allows (a bound of 16,384 was reported as the answer for small models)
    return largest_micro_batch(capacity, fits, limit=1 << 30)


def _batch_of(args: tuple, kwargs: dict) -> int | None:
    for t in [*args, *kwargs.values()]:
        if isinstance(t, torch.Tensor) and t.ndim >= 1:
            return int(t.shape[0])
    return None


# --dtype spellings the closed forms price: 16-bit mixed precision or full fp32.
_MIXED_DTYPES = ("bfloat16", "bf16", "float16", "fp16", "half")
_FP32_DTYPES = ("float32", "fp32", "float")


def llm_mixed_precision(dtype: str | None, fp32: bool = False) -> bool:
    """Whether ``flopwise memory hf:NAME`` prices mixed precision (16-bit weights, gradients
    and activations with an fp32 master copy) or full fp32, from ``--dtype`` (None: mixed)
    and ``--fp32``. Raises a one-line :class:`FlopwiseError` for a dtype the closed forms
    do not price or one that contradicts ``--fp32``."""
    if dtype is None:
        return not fp32
    key = dtype.lower().removeprefix("torch.")
    if key not in _MIXED_DTYPES + _FP32_DTYPES:
        raise FlopwiseError(
            f"--dtype = {dtype!r}: hf: closed forms price bfloat16/float16 (mixed precision) "
            "or float32 (full fp32); use --capture for the op stream at another dtype"
        )
    if fp32 and key in _MIXED_DTYPES:
        raise FlopwiseError(f"--dtype {dtype} contradicts --fp32; give one of them")
    return key in _MIXED_DTYPES


def run_llm_memory(
    model_spec: str,
    *,
    train: bool,
    optimizer: str = "adamw",
    micro_batch: int = 1,
    seq: int = 2048,
    zero: int = 0,
    gpus: int = 1,
    tp: int = 1,
    pp: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
    mixed_precision: bool = True,
    hardware: str | None = None,
    beyond_context: bool = False,
    seq_option: str = "--seq",
) -> LLMMemory:
    """Per-GPU memory of an LLM from its config by the ZeRO and Korthikanti et al.
    closed forms (training), or weights + KV cache + the largest prefill op's activations
    (inference, the footprint of ``flopwise llm``); with ``hardware``, whether it fits and
    the largest (micro-)batch that does. Bytes; the JSON document is
    :func:`flopwise.report.json.llm_memory_document`.

    ``micro_batch`` and ``seq`` must be ≥ 1, and ``seq`` within the config's
    ``max_position_embeddings`` unless ``beyond_context`` (then a note says so); a bad
    value raises :class:`~flopwise.llm.spec.BadLLMArgument` naming the option
    (``--batch``, ``seq_option``: ``--seq``, or ``--prompt`` for ``flopwise llm``)."""
    from flopwise.llm.estimate import check_context
    from flopwise.llm.params import count_params
    from flopwise.llm.spec import check_at_least, load_spec

    # checked before the config is read, so a bad value is named whatever the model
    check_training_options(optimizer=optimizer, zero=zero, gpus=gpus, tp=tp, pp=pp)
    if recompute not in RECOMPUTE:
        raise FlopwiseError("--recompute must be none, selective or full")
    check_at_least("--batch", micro_batch, 1)
    check_at_least(seq_option, seq, 1)
    spec = load_spec(model_spec.removeprefix("hf:"))
    beyond = check_context(spec, seq, beyond_context, seq_option)
    notes = (beyond,) if beyond else ()
    fit_on = (hardware, hardware_capacity(hardware)[1]) if hardware else None
    if not train:
        inference, fit = _llm_inference(spec, micro_batch, seq, mixed_precision, fit_on)
        return LLMMemory(spec.name, inference=inference, fit=fit, notes=notes)
    params = count_params(spec).total

    def training(b: int) -> LLMTrainingMemory:
        return llm_training_memory(
            spec,
            params,
            micro_batch=b,
            seq=seq,
            optimizer=optimizer,
            mixed_precision=mixed_precision,
            zero=zero,
            gpus=gpus,
            tp=tp,
            pp=pp,
            sequence_parallel=sequence_parallel,
            recompute=recompute,
        )

    step = training(micro_batch)
    notes += _layer_note(spec)
    fit = None
    if fit_on is not None:
        hardware, capacity = fit_on
        # model states are fixed and activations linear in the micro-batch: solved, not
        # searched up to a cap (a search bounded at 16,384 reported the bound)
        largest = largest_linear_batch(capacity, lambda b: training(b).peak_bytes)
        fit = LLMMemoryFit(hardware, capacity, step.peak_bytes <= capacity, largest)
    return LLMMemory(spec.name, training=step, fit=fit, notes=notes)


def _layer_note(spec: Any) -> tuple[str, ...]:
    """A note when the activations' closed form, Korthikanti et al.'s GPT layer (MHA and a
    4h ungated MLP), is not this model's layer: its figure is then that layer's."""
    differs = []
    if spec.kv_heads != spec.heads:
        differs.append("GQA" if spec.kv_heads > 1 else "MQA")
    if spec.gated_mlp or spec.intermediate != 4 * spec.hidden:
        width = spec.moe.expert_intermediate if spec.moe else spec.intermediate
        differs.append(f"{'a gated' if spec.gated_mlp else 'an'} MLP of {width}")
    if spec.moe:
        differs.append(f"top-{spec.moe.top_k} of {spec.moe.num_experts} experts")
    if not differs:
        return ()
    return (
        "activations: Korthikanti et al.'s per-layer figure is a GPT layer's (MHA, a 4h "
        f"GeLU MLP); {spec.name}'s layers ({', '.join(differs)}) are priced as that layer",
    )


def _llm_inference(
    spec: Any, batch: int, seq: int, mixed_precision: bool, fit_on: tuple[str, int] | None
) -> tuple[LLMInferenceMemory, LLMMemoryFit | None]:
    """Inference memory of ``batch`` sequences at ``seq`` tokens of context (``flopwise llm
    --prompt seq --gen 0``'s footprint: weights, KV cache and the largest prefill op's
    activations), and with ``fit_on`` (hardware name, capacity in bytes) the fit verdict
    and the largest batch that fits."""
    from flopwise.llm.estimate import estimate
    from flopwise.memory.llm import largest_inference_batch

    dtype = "bfloat16" if mixed_precision else "float32"
    # the context was held against the config by run_llm_memory (or allowed, with a note)
    est = estimate(spec, batch=batch, prompt=seq, gen=0, dtype=dtype, beyond_context=True)
    inference = LLMInferenceMemory(
        weights=est.weight_bytes,
        kv_cache=est.kv_cache_bytes,
        activations=est.activation_peak_bytes,
        batch=batch,
        context=seq,
        peak_bytes=est.memory_bytes,
        dtype=dtype,
    )
    if fit_on is None:
        return inference, None
    hardware, capacity = fit_on
    fits = est.memory_bytes <= capacity
    return inference, LLMMemoryFit(hardware, capacity, fits, largest_inference_batch(est, capacity))
