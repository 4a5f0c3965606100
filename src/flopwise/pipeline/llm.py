"""The pipeline behind ``flopwise llm``: a transformer's config → the analytic inference
estimate, and on request its training cost and per-GPU training memory, its reranking cost
(E2R-FLOPs), and a measured generation or training step on a real device.

Everything the command does is one call::

    from flopwise.pipeline.llm import LLMRequest, RerankRequest, TrainingRequest, run_llm
    from flopwise.measure.options import MeasureOptions

    r = run_llm(LLMRequest("llama-3-8b", prompt=512, gen=128, hardware="h100"))
    r.estimate.roofline.ttft
    r = run_llm(LLMRequest("tiny-llama", prompt=8, gen=3, dtype="float32"),
                measure=MeasureOptions(repeats=2, warmup=1), device="cpu")
    r.measured.phases
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flopwise.errors import FlopwiseError
from flopwise.llm.result import LLMResult
from flopwise.llm.spec import BadLLMArgument
from flopwise.measure.options import MeasureOptions, torch_threads

if TYPE_CHECKING:
    from flopwise.llm.estimate import LLMEstimate
    from flopwise.llm.spec import ModelSpec
    from flopwise.llm.training import TrainingCost
    from flopwise.memory.llm import LLMMemory

__all__ = [
    "BadLLMArgument",
    "LLMRequest",
    "LLMResult",
    "MeasureOptions",
    "RerankRequest",
    "TrainingRequest",
    "run_llm",
]

#: Timed generations (or training steps) when ``MeasureOptions.repeats`` is None: a
#: generation is timed a fixed number of times, not against a budget.
DEFAULT_REPEATS = 5


@dataclass(frozen=True)
class TrainingRequest:
    """Training cost per step of ``batch × prompt`` tokens (``flopwise llm --train``).

    ``recompute``: full activation recomputation. ``optimizer`` (sgd, sgd-momentum, adam,
    adamw), ``zero`` (ZeRO stage 0-3), ``gpus`` (in total; data parallel = gpus/(tp·pp)),
    ``tp``, ``pp`` and ``sequence_parallel`` shape the per-GPU training memory.
    ``step_time``: a measured seconds per step; with a hardware profile it gives MFU and
    HFU (with recomputation) per GPU of the micro-batch's tp·pp model-parallel group (a
    step time under the compute floor raises :class:`BadLLMArgument`).
    """

    recompute: bool = False
    optimizer: str = "adamw"
    zero: int = 0
    gpus: int = 1
    tp: int = 1
    pp: int = 1
    sequence_parallel: bool = False
    step_time: float | None = None


@dataclass(frozen=True)
class RerankRequest:
    """Reranking cost per query (``flopwise llm --rerank STYLE``), the arguments of
    :func:`flopwise.llm.rerank_cost`: ``style`` pointwise, listwise or setwise;
    ``candidates`` documents per query of ``doc_tokens`` tokens, with ``query_tokens`` and
    ``template_tokens``; ``output_tokens`` per call (None: 1, listwise 3 per document);
    listwise ``window``/``stride``; setwise ``set_size``, ``top_k``, ``method`` (bubble or
    heap) and ``order`` (reversed or sorted); ``convention`` flopwise (exact count) or paper
    (the E2R-FLOPs closed form beside it). ``metric`` (e.g. NDCG@10) gives RPP.
    """

    style: str
    candidates: int = 100
    query_tokens: int = 32
    doc_tokens: int = 128
    template_tokens: int = 64
    output_tokens: int | None = None
    window: int = 20
    stride: int = 10
    set_size: int = 4
    top_k: int = 10
    method: str = "bubble"
    order: str = "reversed"
    convention: str = "flopwise"
    metric: float | None = None


@dataclass(frozen=True)
class LLMRequest:
    """What to estimate: ``model`` (a built-in config name, ``hf:NAME`` or a config.json
    path) serving ``batch`` sequences of ``prompt`` tokens that generate ``gen`` tokens.

    ``dtype`` is the compute dtype (it picks the peak); ``weight_dtype``/``kv_dtype`` change
    bytes only. ``hardware`` names a profile for roofline times. ``window_mode``: skip or
    mask (sliding-window attention as a skipping kernel or HF SDPA's explicit mask).
    ``beyond_context`` counts sequences longer than the config's context instead of
    refusing them. ``train`` and ``rerank`` add those costs.
    """

    model: str
    batch: int = 1
    prompt: int = 512
    gen: int = 128
    dtype: str = "bfloat16"
    weight_dtype: str | None = None
    kv_dtype: str | None = None
    hardware: str | None = None
    window_mode: str = "skip"
    beyond_context: bool = False
    train: TrainingRequest | None = None
    rerank: RerankRequest | None = None


def run_llm(
    request: LLMRequest, measure: MeasureOptions | None = None, device: str = "auto"
) -> LLMResult:
    """Everything ``flopwise llm`` computes for ``request``.

    With ``measure``, the model is also built with random weights on ``device`` and timed:
    its prefill (TTFT) and decode steps (TPOT), or with a training request its training
    steps (MFU against the roofline's peak), ``measure.repeats`` times (None: 5) after
    ``measure.warmup`` untimed runs, with ``measure.threads`` torch CPU threads;
    ``measure.energy`` adds joules per token (generation only). The roofline is then the
    request's ``hardware`` or else ``measure.hardware`` (``host``: the measured device's
    profile). Weight/KV dtypes and reranking are not measured.

    Raises :class:`BadLLMArgument` (naming the field, e.g. ``doc_tokens``) for an argument
    out of range and :class:`FlopwiseError` for anything else that cannot be done.
    """
    # the whole measured run (the host profile it may measure included) at measure.threads
    with torch_threads(measure.threads if measure is not None else None):
        return _run(request, measure, device)


def _run(request: LLMRequest, measure: MeasureOptions | None, device: str) -> LLMResult:
    hardware, dev = request.hardware, None
    if measure is not None:
        from flopwise.measure.devices import resolve_device
        from flopwise.measure.hardware import resolve_hardware

        if measure.energy and request.train is not None:
            raise FlopwiseError("energy is measured for generation, not for training steps")
        dev = resolve_device(device, timing=True)
        hardware = resolve_hardware(request.hardware or measure.hardware, dev)
    est = _estimate(request, hardware)
    parts: dict[str, Any] = {"largest_batch": _largest_batch(est)}
    if request.train is not None:
        parts.update(_training(request, request.train, est))
    if request.rerank is not None:
        parts.update(_reranking(request, request.rerank, est.spec))
    if measure is not None and dev is not None:
        parts.update(_measured(request, measure, dev, est, parts.get("training")))
    return LLMResult(estimate=est, **parts)


def _estimate(request: LLMRequest, hardware: str | None) -> LLMEstimate:
    from flopwise.llm import estimate, load_spec

    spec = load_spec(request.model)
    try:
        return estimate(
            spec,
            batch=request.batch,
            prompt=request.prompt,
            gen=request.gen,
            dtype=request.dtype,
            weight_dtype=request.weight_dtype,
            kv_dtype=request.kv_dtype,
            hardware=hardware,
            window_mode=request.window_mode,
            beyond_context=request.beyond_context,
        )
    except BadLLMArgument:
        raise
    except ValueError as exc:  # e.g. a hardware profile that lists no peak
        raise FlopwiseError(str(exc)) from exc


def _largest_batch(est: LLMEstimate) -> int | None:
    """The largest batch whose footprint (``est.memory_bytes``'s formulas at the request's
    prompt, gen and dtypes) fits in the roofline device's memory; None without one."""
    from flopwise.memory.llm import largest_inference_batch

    roof = est.roofline
    if roof is None or not roof.device_memory:
        return None
    return largest_inference_batch(est, roof.device_memory)


def _training(request: LLMRequest, train: TrainingRequest, est: LLMEstimate) -> dict[str, Any]:
    """Training FLOPs per step, MFU/HFU for a given step time, per-GPU training memory."""
    from flopwise.llm import mfu, training_cost

    training = training_cost(est.spec, request.batch, request.prompt, train.recompute)
    out: dict[str, Any] = {"training": training}
    roof = est.roofline
    if train.step_time and roof is not None:
        # a micro-batch is computed by its model-parallel group of tp·pp GPUs (each data-
        # parallel rank runs its own): utilisation is per GPU of that group
        peak = roof.peak_flops * train.tp * train.pp
        out["mfu"] = mfu(training.model_flops, train.step_time, peak)
        out["hfu"] = mfu(training.step, train.step_time, peak)
        if out["hfu"] > 1:
            floor = training.step / peak
            raise BadLLMArgument(
                "step_time",
                train.step_time,
                f"faster than the step's compute floor {floor:.4g} s at "
                f"{roof.peak_flops / 1e12:.4g} TFLOP/s × {train.tp * train.pp} GPU(s) "
                f"(tp·pp; utilisation would be {out['hfu']:.1%})",
            )
    out["training_memory"] = _training_memory(request, train, est.precision.compute)
    return out


def _training_memory(request: LLMRequest, train: TrainingRequest, compute: str) -> LLMMemory:
    """Per-GPU training memory of a micro-batch of ``batch`` × ``prompt`` tokens: the same
    result as ``flopwise memory hf:NAME --train`` (memory/llm.py's closed forms), with
    the largest micro-batch that fits when the hardware profile states its memory."""
    from flopwise.pipeline.memory import hardware_capacity, run_llm_memory

    if compute not in ("bfloat16", "float16", "float32", "tfloat32"):
        raise FlopwiseError(
            f"--dtype {compute} with --train: the training-memory closed forms price 16-bit "
            "mixed precision (bfloat16, float16) or full float32"
        )
    hardware = request.hardware  # the profile as named, not the one --measure resolves
    if hardware is not None:
        try:
            hardware_capacity(hardware)
        except FlopwiseError:  # a profile with no stated capacity: no fit verdict
            hardware = None
    return run_llm_memory(
        request.model,
        train=True,
        optimizer=train.optimizer,
        micro_batch=request.batch,
        seq=request.prompt,
        zero=train.zero,
        gpus=train.gpus,
        tp=train.tp,
        pp=train.pp,
        sequence_parallel=train.sequence_parallel,
        recompute="full" if train.recompute else "none",
        # float32 compute (any spelling, tf32 too) trains in full precision; a 16-bit
        # dtype in mixed precision
        mixed_precision=compute not in ("float32", "tfloat32"),
        hardware=hardware,
        beyond_context=request.beyond_context,  # the estimate held prompt + gen to it
        seq_option="--prompt",
    )


def _reranking(request: LLMRequest, rerank: RerankRequest, spec: ModelSpec) -> dict[str, Any]:
    from flopwise.llm import rerank_cost

    cost = rerank_cost(
        spec,
        rerank.style,
        candidates=rerank.candidates,
        query_tokens=rerank.query_tokens,
        doc_tokens=rerank.doc_tokens,
        template_tokens=rerank.template_tokens,
        output_tokens=rerank.output_tokens,
        window=rerank.window,
        stride=rerank.stride,
        set_size=rerank.set_size,
        top_k=rerank.top_k,
        method=rerank.method,
        order=rerank.order,
        convention=rerank.convention,
        beyond_context=request.beyond_context,
    )
    rpp = cost.rpp(rerank.metric) if rerank.metric is not None else None
    return {"reranking": cost, "rpp": rpp}


def _measured(
    request: LLMRequest,
    measure: MeasureOptions,
    dev: str,
    est: LLMEstimate,
    training: TrainingCost | None,
) -> dict[str, Any]:
    """Time the training step (with a training request: ``training`` is its cost) or the
    generation on ``dev``."""
    from flopwise.llm.measured import measure_llm, measure_training

    repeats = measure.repeats or DEFAULT_REPEATS
    roof = est.roofline
    if training is not None:
        return {
            "measured_training": measure_training(
                request.model,
                batch=request.batch,
                seq=request.prompt,
                training=training,
                peak_flops=roof.peak_flops if roof else None,
                device=dev,
                dtype=request.dtype,
                warmup=measure.warmup,
                repeats=repeats,
            )
        }
    return {
        "measured": measure_llm(
            request.model,
            batch=request.batch,
            prompt=request.prompt,
            gen=request.gen,
            device=dev,
            dtype=request.dtype,
            roofline=roof,
            warmup=measure.warmup,
            repeats=repeats,
            energy=measure.energy,
        )
    }
