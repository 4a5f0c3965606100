"""The pipeline behind ``flopwise memory``: source → memory profile of a step (op stream
on meta/real tensors, or the LLM closed forms for ``hf:`` configs) → fit on a device."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._pytree import tree_map

from flopwise.errors import FlopwiseError
from flopwise.memory.result import MemoryProfile
from flopwise.memory.trace import OPTIMIZERS, memory_profile

__all__ = ["OPTIMIZERS", "run_llm_memory", "run_memory", "with_batch"]


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

    if device not in ("meta", "cpu"):
        raise FlopwiseError(f"--device must be meta or cpu (got {device!r})")
    if measure and device != "cpu":
        raise FlopwiseError("--measure needs real tensors: use --device cpu")
    if optimizer is not None and not train:
        raise FlopwiseError("--optimizer needs --train")
    if accumulate < 1 or (accumulate > 1 and not train):
        raise FlopwiseError("--accumulate needs --train and a value >= 1")
    alloc_device, capacity, hw_name = "cpu", None, None
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

        def saved(p: MemoryProfile) -> int:
            return sum(b.bytes for b in p.blocks if b.category == "saved")

        mp.extra["checkpoint"] = {
            "modules": list(checkpoint),
            "peak_bytes_without": plain.peak_bytes,
            "peak_bytes_with": mp.peak_bytes,
            "saved_bytes_without": saved(plain),
            "saved_bytes_with": saved(mp),
            "peak_saving_bytes": plain.peak_bytes - mp.peak_bytes,
            "recompute_flops": mp.extra["step_flops"] - plain.extra["step_flops"],
        }
    mp.mode["batch"] = _batch_of(args, kwargs)
    mp.mode["dtype"] = dtype
    if measure:
        from flopwise.memory.measured import measure_cpu_step_peak

        exact = memory_profile(model, *args, kwargs=kwargs, **{**options, "granularity": 1})
        measured = measure_cpu_step_peak(
            model,
            *args,
            kwargs=kwargs,
            train=train,
            optimizer=optimizer,
            checkpoint=checkpoint or (),
            accumulate=accumulate,
            amp=amp,
        )
        mp.extra["measured"] = {
            "method": "torch.profiler allocation events (CPU, requested sizes)",
            "step_peak_bytes": measured,
            "predicted_step_peak_bytes": exact.step_peak_bytes,
            "difference_bytes": exact.step_peak_bytes - measured,
            "note": "predicted at 1-byte granularity, as the profiler reports sizes",
        }
    if capacity is not None:
        fit: dict[str, Any] = {
            "hardware": hw_name,
            "capacity_bytes": capacity,
            "fits": mp.peak_bytes <= capacity,
        }
        if search and mp.mode["batch"] is not None:
            meta_model, meta_args, meta_kwargs, _ = (
                (model, args, kwargs, name)
                if device == "meta"
                else load(model_spec, inputs, "meta", dtype, factory_kwargs=factory_kwargs)
            )

            def fits(b: int) -> bool:
                a, k = with_batch((meta_args, meta_kwargs), b)
                return memory_profile(meta_model, *a, kwargs=k, **options).peak_bytes <= capacity

            from flopwise.memory.llm import largest_micro_batch

            fit["largest_batch"] = largest_micro_batch(capacity, fits, limit=1 << 14)
        mp.extra["fit"] = fit
    return mp


def _batch_of(args: tuple, kwargs: dict) -> int | None:
    for t in [*args, *kwargs.values()]:
        if isinstance(t, torch.Tensor) and t.ndim >= 1:
            return int(t.shape[0])
    return None


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
) -> dict[str, Any]:
    """Per-GPU memory of an LLM from its config by the ZeRO and Korthikanti et al.
    closed forms (training), or weights + KV cache (inference); JSON-ready, in bytes."""
    from flopwise.llm.dtypes import Precision
    from flopwise.llm.estimate import kv_cache_bytes, weight_bytes
    from flopwise.llm.params import count_params
    from flopwise.llm.spec import load_spec
    from flopwise.memory.llm import largest_micro_batch, llm_training_memory

    spec = load_spec(model_spec.removeprefix("hf:"))
    params = count_params(spec).total
    doc: dict[str, Any] = {"schema": "flopwise.memory-llm/1", "model": spec.name, "units": "bytes"}
    capacity = hardware_capacity(hardware)[1] if hardware else None

    def training(b: int):
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

    if train:
        doc["training"] = training(micro_batch).to_dict()
        doc["training"]["sources"] = [
            "Rajbhandari et al. 2020, ZeRO (model states 2Ψ+2Ψ+KΨ, K=12 for mixed-precision Adam)",
            "Korthikanti et al. 2022, Reducing Activation Recomputation (s·b·h·(34+5as/h) per layer)",
        ]
        if capacity is not None:
            doc["fit"] = {
                "hardware": hardware,
                "capacity_bytes": capacity,
                "fits": doc["training"]["peak_bytes"] <= capacity,
                "largest_micro_batch": largest_micro_batch(
                    capacity, lambda b: training(b).peak_bytes <= capacity, limit=1 << 14
                ),
            }
    else:
        prec = Precision("bfloat16" if mixed_precision else "float32")
        weights = weight_bytes(spec, prec)
        kv = kv_cache_bytes(spec, micro_batch, seq, prec)
        doc["inference"] = {
            "weights": weights,
            "kv_cache": kv,
            "batch": micro_batch,
            "context": seq,
            "peak_bytes": weights + kv,
            "note": "weights and KV cache at the end of the context; activations of one "
            "token step are small beside them and not included",
        }
        if capacity is not None:
            doc["fit"] = {
                "hardware": hardware,
                "capacity_bytes": capacity,
                "fits": weights + kv <= capacity,
                "largest_batch": largest_micro_batch(
                    capacity,
                    lambda b: weights + kv_cache_bytes(spec, b, seq, prec) <= capacity,
                    limit=1 << 14,
                ),
            }
    return doc
