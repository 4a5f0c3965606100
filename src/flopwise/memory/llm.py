"""LLM training and inference memory from a config alone, by the published closed forms
(sources and derivations in docs/memory.md).

- Model states (Rajbhandari et al. 2020, "ZeRO", §3.1 and §5): with Ψ parameters, mixed
  precision Adam holds 2Ψ (fp16/bf16 weights) + 2Ψ (fp16/bf16 gradients) + KΨ optimizer
  bytes (K = 12: fp32 master weights, momentum, variance). Over N_d data-parallel ranks,
  stage 1 shards the K part, stage 2 also the gradients, stage 3 also the weights.
- Activations (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
  Transformer Models", §4, 16-bit activations): per layer s·b·h·(34 + 5·a·s/h) bytes;
  with tensor parallelism t: s·b·h·(10 + 24/t + 5·a·s/(h·t)); with sequence parallelism
  too: s·b·h·(34 + 5·a·s/h)/t; full recomputation keeps only each layer's input,
  2·s·b·h (divided by t with sequence parallelism).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flopwise.errors import FlopwiseError

if TYPE_CHECKING:
    from flopwise.llm.estimate import LLMEstimate
    from flopwise.llm.spec import ModelSpec

# Bytes per parameter of optimizer state, (mixed precision, full fp32). Mixed precision
# keeps an fp32 master copy (4 B) beside the states (Micikevicius et al. 2018).
OPTIMIZER_BYTES = {
    "sgd": (4, 0),
    "sgd-momentum": (8, 4),
    "adam": (12, 8),
    "adamw": (12, 8),
}


RECOMPUTE = ("none", "selective", "full")


def check_training_options(
    *, optimizer: str = "adamw", zero: int = 0, gpus: int = 1, tp: int = 1, pp: int = 1
) -> int:
    """The one check of the training-memory options (``flopwise memory hf:NAME --train``,
    ``flopwise llm --train`` and the Python API alike): ``optimizer`` known, ``zero`` a
    ZeRO stage 0-3, ``gpus``, ``tp`` and ``pp`` >= 1 and ``gpus`` a multiple of ``tp·pp``.
    Returns the data-parallel degree ``gpus / (tp·pp)``; raises a one-line
    :class:`FlopwiseError` naming the option otherwise."""
    if optimizer not in OPTIMIZER_BYTES:
        raise FlopwiseError(f"--optimizer must be one of {', '.join(OPTIMIZER_BYTES)}")
    if zero not in (0, 1, 2, 3):
        raise FlopwiseError(f"--zero = {zero}: the ZeRO stage must be 0, 1, 2 or 3")
    for option, value in (("--gpus", gpus), ("--tp", tp), ("--pp", pp)):
        if value < 1:
            raise FlopwiseError(f"{option} = {value}: must be >= 1")
    if gpus % (tp * pp):
        raise FlopwiseError(f"--gpus {gpus} is not a multiple of tp·pp = {tp * pp}")
    return gpus // (tp * pp)


def model_state_bytes(
    params: int,
    *,
    optimizer: str = "adam",
    mixed_precision: bool = True,
    zero: int = 0,
    dp: int = 1,
) -> dict[str, float]:
    """Per-GPU bytes of weights, gradients and optimizer state for ``params`` parameters
    (already divided by tensor/pipeline degrees if any), ZeRO ``zero`` stage 0-3 over ``dp``
    data-parallel ranks. Fractions stay exact (floats) where sharding divides unevenly."""
    check_training_options(optimizer=optimizer, zero=zero, gpus=dp)  # dp ranks of 1 GPU
    weight = 2 if mixed_precision else 4
    k = OPTIMIZER_BYTES[optimizer][0 if mixed_precision else 1]
    return {
        "weights": weight * params / (dp if zero >= 3 else 1),
        "gradients": weight * params / (dp if zero >= 2 else 1),
        "optimizer_state": k * params / (dp if zero >= 1 else 1),
    }


def activation_bytes_per_layer(
    seq: int,
    batch: int,
    hidden: int,
    heads: int,
    *,
    tp: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
    bytes_per_value: int = 2,
) -> float:
    """Korthikanti et al.'s activation bytes of one transformer layer, per tensor-parallel
    rank. ``recompute``: "none", "selective" (attention's s² terms recomputed) or "full"
    (only the layer input kept).

    The paper's figures are for 16-bit activations and 1-byte dropout masks
    (``bytes_per_value=2``): s·b·h·(34 + 5·a·s/h). Split into values and masks, a layer
    keeps 16 values of s·b·h (4 of them replicated under tensor parallelism: both norms'
    inputs, the QKV and first MLP inputs; 12 sharded) plus 2 masks, and per head 2 values
    of s² plus 1 mask; so at w bytes a value (4 in full fp32 training) it is
    s·b·h·((4w + 2) + 12w/t + (2w + 1)·a·s/(h·t)), and full recomputation keeps w·s·b·h.
    """
    s, b, h, a, t, w = seq, batch, hidden, heads, tp, bytes_per_value
    if recompute == "full":
        return w * s * b * h / (t if sequence_parallel else 1)
    attn = 0 if recompute == "selective" else (2 * w + 1) * a * s / h
    replicated, sharded = 4 * w + 2, 12 * w  # 10 and 24 at 16 bits
    if sequence_parallel:
        return s * b * h * (replicated + sharded + attn) / t
    return s * b * h * (replicated + sharded / t + attn / t)


@dataclass(frozen=True)
class LLMTrainingMemory:
    """Per-GPU training memory of a transformer; bytes (floats where sharding divides
    unevenly), ``peak_bytes`` their sum."""

    model: str
    params: int
    weights: float
    gradients: float
    optimizer_state: float
    activations: float
    activations_per_layer: float
    layers_per_stage: int
    micro_batch: int
    seq: int
    zero: int
    dp: int
    tp: int
    pp: int
    recompute: str
    optimizer: str
    mixed_precision: bool

    @property
    def peak_bytes(self) -> float:
        return self.weights + self.gradients + self.optimizer_state + self.activations


# What the training closed forms follow (written beside them in the document and the table).
TRAINING_SOURCES = (
    "Rajbhandari et al. 2020, ZeRO (model states 2Ψ+2Ψ+KΨ, K=12 for mixed-precision Adam)",
    "Korthikanti et al. 2022, Reducing Activation Recomputation (s·b·h·(34+5as/h) per layer)",
)

INFERENCE_NOTE = (
    "weights, KV cache at the end of the context and the largest prefill op's "
    "activations (one layer), as flopwise llm --prompt CONTEXT --gen 0 prints them"
)


@dataclass(frozen=True)
class LLMInferenceMemory:
    """Inference memory of ``batch`` sequences at ``context`` tokens (``flopwise llm
    --prompt CONTEXT --gen 0``'s footprint); bytes, ``peak_bytes`` their sum."""

    weights: int
    kv_cache: int
    activations: int
    batch: int
    context: int
    peak_bytes: int
    dtype: str = "bfloat16"  # of the weights, KV cache and activations


@dataclass(frozen=True)
class LLMMemoryFit:
    """Whether the step fits in ``hardware``'s memory (the profile as named), and the
    largest batch that does (micro-batch when training; 0: not even one)."""

    hardware: str
    capacity_bytes: int
    fits: bool
    largest_batch: int


@dataclass(frozen=True)
class LLMMemory:
    """Per-GPU memory of an LLM config by the closed forms: ``training`` or ``inference``
    (one of them), and ``fit`` with a hardware profile that states its memory. Filled by
    :func:`flopwise.pipeline.memory.run_llm_memory`; its JSON document
    (``flopwise.memory-llm/1``) is written by ``flopwise.report.json``."""

    model: str
    training: LLMTrainingMemory | None = None
    inference: LLMInferenceMemory | None = None
    fit: LLMMemoryFit | None = None
    notes: tuple[str, ...] = ()  # e.g. a sequence counted beyond the model's context


def llm_training_memory(
    spec: ModelSpec,
    params: int,
    *,
    micro_batch: int = 1,
    seq: int = 2048,
    optimizer: str = "adamw",
    mixed_precision: bool = True,
    zero: int = 0,
    gpus: int = 1,
    tp: int = 1,
    pp: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
) -> LLMTrainingMemory:
    """Per-GPU memory of one training step: model states (ZeRO over dp = gpus/(tp·pp)) and
    the activations of the first pipeline stage, which holds ``pp`` micro-batches of its
    L/pp layers in flight under 1F1B (Korthikanti et al. §4.2: L layers' worth). An
    encoder-decoder's L is both stacks (each layer priced by the same per-layer figure at
    ``seq`` tokens). ``tp`` must divide the attention heads and ``pp`` may not exceed L
    (a one-line :class:`FlopwiseError` otherwise)."""
    dp = check_training_options(optimizer=optimizer, zero=zero, gpus=gpus, tp=tp, pp=pp)
    layers = spec.layers + (spec.decoder_layers if spec.kind == "encoder-decoder" else 0)
    if spec.heads % tp:
        raise FlopwiseError(
            f"--tp {tp} does not divide the {spec.heads} attention heads of {spec.name} "
            "(each tensor-parallel rank holds whole heads)"
        )
    if pp > layers:
        raise FlopwiseError(
            f"--pp {pp} exceeds the {layers} layers of {spec.name} (each pipeline stage "
            "holds at least one layer)"
        )
    states = model_state_bytes(
        params / (tp * pp), optimizer=optimizer, mixed_precision=mixed_precision, zero=zero, dp=dp
    )
    per_layer = activation_bytes_per_layer(
        seq,
        micro_batch,
        spec.hidden,
        spec.heads,
        tp=tp,
        sequence_parallel=sequence_parallel,
        recompute=recompute,
        bytes_per_value=2 if mixed_precision else 4,  # full fp32 keeps fp32 activations
    )
    layers_per_stage = -(-layers // pp)
    return LLMTrainingMemory(
        model=spec.name,
        params=params,
        **states,
        activations=per_layer * layers_per_stage * pp,
        activations_per_layer=per_layer,
        layers_per_stage=layers_per_stage,
        micro_batch=micro_batch,
        seq=seq,
        zero=zero,
        dp=dp,
        tp=tp,
        pp=pp,
        recompute=recompute,
        optimizer=optimizer,
        mixed_precision=mixed_precision,
    )


def largest_micro_batch(capacity: float, fits: Any, limit: int = 1 << 16) -> int:
    """Largest b ≥ 1 with ``fits(b)`` true (monotone), 0 if even 1 does not fit; at most
    ``limit`` (a search: callers whose answer may exceed it solve first, see
    :func:`largest_linear_batch`)."""
    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


# The search's bound where a footprint is not linear in the batch (never expected for the
# closed forms): far beyond any device, so it is never the answer by accident.
SEARCH_LIMIT = 1 << 48


def largest_linear_batch(capacity: float, footprint: Any, limit: int = SEARCH_LIMIT) -> int:
    """The largest batch b ≥ 1 with ``footprint(b) <= capacity``, 0 if even 1 does not fit.

    The closed-form footprints are fixed bytes (weights, model states) plus bytes per batch
    element (KV cache, activations), so two evaluations give the answer; it is checked at
    the boundary, and a search (up to ``limit``) runs only where that check fails."""
    one = footprint(1)
    if one > capacity:
        return 0
    per = footprint(2) - one
    if per > 0:
        solved = min(limit, 1 + int((capacity - one) // per))
        for b in (solved, solved - 1, solved + 1):  # float rounding of fractional bytes
            if b >= 1 and footprint(b) <= capacity and (b == limit or footprint(b + 1) > capacity):
                return b
    return largest_micro_batch(capacity, lambda b: footprint(b) <= capacity, limit=limit)


def largest_inference_batch(est: LLMEstimate, capacity: int, limit: int = SEARCH_LIMIT) -> int:
    """The largest batch whose inference footprint fits in ``capacity`` bytes: weights +
    KV cache at ``prompt + gen`` tokens + the largest prefill op's activations
    (:attr:`~flopwise.llm.estimate.LLMEstimate.memory_bytes`, the figure ``flopwise llm``
    prints), solved by :func:`largest_linear_batch` from re-estimates of ``est`` (same
    model, tokens, dtypes and window mode). 0 if one sequence does not fit."""
    from flopwise.llm.estimate import estimate

    prec = est.precision

    def footprint(batch: int) -> int:
        return estimate(
            est.spec,
            batch=batch,
            prompt=est.prompt,
            gen=est.gen,
            dtype=prec.compute,
            weight_dtype=prec.weights,
            kv_dtype=prec.kv,
            window_mode=est.window_mode,
            beyond_context=True,  # est was made: its context was checked (or allowed)
        ).memory_bytes

    # Weights are fixed and the KV cache and activations grow linearly with batch: solved
    # from two estimates and checked at the boundary (four estimates, not a search).
    return largest_linear_batch(capacity, footprint, limit)
