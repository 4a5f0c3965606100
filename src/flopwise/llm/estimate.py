"""Inference cost of an LLM from its config: prefill, decode steps, KV cache, memory and a
roofline time per phase against a hardware profile.

Phases (decoder-only): the **prefill** runs the ``prompt`` tokens of each of the ``batch``
sequences and yields the first output token; each of the ``gen - 1`` **decode steps** runs
one token per sequence against the KV cache (step j sees ``prompt + j`` keys). For an
encoder-decoder model the prefill is the encoder plus the cross-attention K/V projections,
and there are ``gen`` decoder steps (the first one starts from the decoder start token);
TTFT then includes the first step. An encoder-only model has just the prefill (one forward).

Roofline: each op takes ``max(flops / peak, bytes / bandwidth)`` and a phase the sum over its
ops (unfused: every op streams its own operands). The fused bound of a phase, with weights
and KV cache read once and activations kept on chip, is
``max(Σ flops / peak, (weights + KV) bytes / bandwidth)``; both are reported. Neither
includes launch overheads or kernel efficiency, so real engines are slower (a plain roofline
is known to over-estimate decode throughput by 1.4-1.9×).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from flopwise.errors import FlopwiseError
from flopwise.llm.dtypes import Precision, canonical_dtype, nbytes
from flopwise.llm.ops import (
    KNOWN_ACTIVATIONS,
    DerivedCosts,
    OpEstimate,
    decoder_step_ops,
    encoder_ops,
    expected_experts_touched,
    flops_breakdown,
    forward_ops,
)
from flopwise.llm.params import ParamCount, count_params
from flopwise.llm.spec import BadLLMArgument, ModelSpec, check_at_least, load_spec


class HardwareLike(Protocol):
    """What the roofline needs from ``flopwise.measure.hardware.HardwareProfile``."""

    name: str
    peak_flops: Mapping[str, float]
    memory_bandwidth: float


def peak_for(hardware: HardwareLike, dtype: str) -> float:
    """Dense peak FLOP/s of ``hardware`` for ``dtype``; falls back to the nearest wider
    dtype the profile lists (float8 → bfloat16 → float16 → float32)."""
    peaks: dict[str, float] = {}
    for key, value in hardware.peak_flops.items():
        try:
            peaks[canonical_dtype(key)] = float(value)
        except FlopwiseError:
            continue
    order = {
        "int4": ["int4", "int8", "float8", "bfloat16", "float16", "float32"],
        "fp4": ["fp4", "float8", "bfloat16", "float16", "float32"],
        "int8": ["int8", "float8", "bfloat16", "float16", "float32"],
        "float8": ["float8", "int8", "bfloat16", "float16", "float32"],
        "bfloat16": ["bfloat16", "float16", "float32"],
        "float16": ["float16", "bfloat16", "float32"],
        "float32": ["float32", "tfloat32"],
        "tfloat32": ["tfloat32", "float32"],
    }.get(canonical_dtype(dtype), [canonical_dtype(dtype), "float32"])
    for key in order:
        if key in peaks:
            return peaks[key]
    if not peaks:
        raise ValueError(f"hardware profile {hardware.name!r} lists no peak FLOP/s")
    return max(peaks.values())


def _op_total(*attrs: str, doc: str = "") -> Any:
    """A property: the sum of ``attrs`` over a phase's ops (integers stay integers)."""

    def total(self: PhaseCost) -> int:
        return sum(getattr(op, attr) for op in self.ops for attr in attrs)

    total.__doc__ = doc or f"{' + '.join(attrs)} summed over the phase's ops."
    return property(total)


@dataclass(frozen=True)
class PhaseCost(DerivedCosts):
    """Totals of one phase (one forward pass) and its ops; ``matmul_flops`` and
    ``intensity`` as for one op."""

    name: str
    tokens: int  # new tokens processed (all sequences)
    context: int  # keys per sequence at the end of the pass
    ops: tuple[OpEstimate, ...]

    flops = _op_total("flops")
    macs = _op_total("macs")
    weight_bytes = _op_total("weight_bytes")
    act_bytes = _op_total("act_read", "act_written")
    kv_read = _op_total("kv_read")
    kv_written = _op_total("kv_written")
    bytes = _op_total(
        "bytes", doc="Unfused traffic: every op reads its operands and writes its results."
    )

    @property
    def fused_bytes(self) -> int:
        """Lower bound: weights and KV cache read/written once, activations stay on chip."""
        return self.weight_bytes + self.kv_read + self.kv_written

    @property
    def breakdown(self) -> dict[str, int]:
        """Where the flops go (:func:`~flopwise.llm.ops.flops_breakdown`): ``matmul``
        (2·macs) and the terms the full count adds on top."""
        return flops_breakdown(self.ops)

    def by_group(self) -> dict[str, int]:
        groups: dict[str, int] = {}
        for op in self.ops:
            groups[op.group] = groups.get(op.group, 0) + op.flops
        return groups

    def roofline(self, peak: float, bandwidth: float) -> PhaseTime:
        """Roofline time of this phase at ``peak`` FLOP/s and ``bandwidth`` bytes/s."""
        per_op = 0.0
        compute_bound_flops = 0
        bounds = []
        for op in self.ops:
            t_c, t_m = op.flops / peak, op.bytes / bandwidth
            per_op += max(t_c, t_m)
            if t_c >= t_m:
                compute_bound_flops += op.flops
            # OpEstimate.bound: an op without flops is memory-bound
            bounds.append("compute" if op.flops and t_c >= t_m else "memory")
        t_c, t_m = self.flops / peak, self.fused_bytes / bandwidth
        return PhaseTime(
            seconds=per_op,
            fused_seconds=max(t_c, t_m),
            compute_seconds=t_c,
            memory_seconds=t_m,
            bound="compute" if t_c >= t_m else "memory",
            compute_bound_share=compute_bound_flops / self.flops if self.flops else 0.0,
            op_bounds=tuple(bounds),
        )


@dataclass(frozen=True)
class PhaseTime:
    """Roofline time of a phase. ``seconds``: Σ per-op max(compute, memory) (unfused);
    ``fused_seconds``: max(all flops / peak, weights + KV bytes / bandwidth); ``bound`` is
    the fused bound's limiter; ``op_bounds`` each op's own limiter (``compute`` or
    ``memory``, :meth:`~flopwise.llm.ops.OpEstimate.bound`), in the phase's op order."""

    seconds: float
    fused_seconds: float
    compute_seconds: float
    memory_seconds: float
    bound: str
    compute_bound_share: float
    op_bounds: tuple[str, ...] = ()


@dataclass(frozen=True)
class DecodeTotals(DerivedCosts):
    """Sums over all decode steps (``steps`` of them); ``matmul_flops`` (2·macs) and
    ``intensity`` as for one op."""

    steps: int
    flops: int
    macs: int
    bytes: int
    fused_bytes: int
    seconds: float | None = None
    fused_seconds: float | None = None


@dataclass(frozen=True)
class Roofline:
    """Serving times against one hardware profile."""

    hardware: str
    peak_flops: float
    bandwidth: float
    prefill: PhaseTime
    decode_first: PhaseTime | None
    decode_last: PhaseTime | None
    ttft: float  # seconds to the first output token
    tpot: float | None  # mean seconds per output token (per decode step)
    decode_tokens_per_s: float | None  # batch / tpot
    end_to_end_s: float
    tokens_per_s: float | None  # batch · gen / end_to_end (sequences/s for an encoder;
    # None with gen = 0: nothing generated)
    critical_batch: int | None  # smallest batch where a decode step is compute-bound
    critical_batch_no_kv: int | None  # same, ignoring the KV cache (context → 0)
    ridge: float  # peak / bandwidth, flops per byte
    device_memory: int | None = None  # bytes, when the profile states it
    fits: bool | None = None  # footprint ≤ device memory


@dataclass(frozen=True)
class LLMEstimate:
    """Everything :func:`estimate` computes; integers stay integers."""

    spec: ModelSpec
    batch: int
    prompt: int
    gen: int
    precision: Precision
    window_mode: str
    params: ParamCount
    weight_bytes: int
    kv_bytes_per_token: int  # per sequence, all layers (full-attention layers)
    kv_cache_bytes: int  # at the end of generation, all sequences
    activation_peak_bytes: int
    prefill: PhaseCost
    decode_first: PhaseCost | None
    decode_last: PhaseCost | None
    decode: DecodeTotals | None
    roofline: Roofline | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def memory_bytes(self) -> int:
        """Footprint: weights + KV cache at full length + the largest prefill op's activations."""
        return self.weight_bytes + self.kv_cache_bytes + self.activation_peak_bytes

    @property
    def total_flops(self) -> int:
        return self.prefill.flops + (self.decode.flops if self.decode else 0)

    @property
    def decode_tokens(self) -> int:
        """New tokens of all decode steps over every sequence (batch · steps; 0 without
        decode steps)."""
        return self.batch * self.decode.steps if self.decode else 0


def weight_bytes(spec: ModelSpec, precision: Precision) -> int:
    """Bytes of all weights at the weight dtype (norm weights and biases included)."""
    return nbytes(count_params(spec).total, precision.weight_bits)


def kv_cache_bytes(
    spec: ModelSpec, batch: int, context: int, precision: Precision | None = None
) -> int:
    """KV cache bytes for ``batch`` sequences of ``context`` tokens. Sliding-window layers
    keep at most ``window`` tokens (a rolling buffer). Encoder-decoder: self-attention cache
    of ``context`` decoder tokens (add the cross cache with :func:`cross_kv_bytes`)."""
    prec = precision or Precision()
    if spec.kind == "encoder":
        return 0
    layers = spec.decoder_layers or spec.layers if spec.kind == "encoder-decoder" else spec.layers
    tokens = 0
    for i in range(layers):
        window = spec.window_of(i) if spec.kind == "decoder" else None
        tokens += min(context, window) if window else context
    return nbytes(batch * tokens * 2 * spec.kv_dim, prec.kv_bits)


def cross_kv_bytes(spec: ModelSpec, batch: int, source_len: int, precision: Precision) -> int:
    """Cross-attention K/V cache of an encoder-decoder model."""
    layers = spec.decoder_layers or spec.layers
    return nbytes(batch * source_len * layers * 2 * spec.kv_dim, precision.kv_bits)


def prefill_cost(
    spec: ModelSpec,
    batch: int,
    prompt: int,
    precision: Precision | None = None,
    logits: str = "last",
    window_mode: str = "skip",
) -> PhaseCost:
    """The prefill (encoder pass for encoder-only / encoder-decoder models)."""
    prec = precision or Precision()
    if spec.kind == "encoder-decoder":
        ops = encoder_ops(spec, batch, prompt, prec)
    else:
        if spec.kind == "encoder":
            logits = "all" if logits == "last" else logits
        ops = forward_ops(spec, batch, prompt, 0, logits, prec, window_mode)
    return PhaseCost("prefill", batch * prompt, prompt, tuple(ops))


def decode_step_cost(
    spec: ModelSpec,
    batch: int,
    past: int,
    precision: Precision | None = None,
    window_mode: str = "skip",
    source_len: int = 0,
) -> PhaseCost:
    """One decode step: one new token per sequence after ``past`` cached tokens."""
    prec = precision or Precision()
    if spec.kind == "encoder-decoder":
        ops = decoder_step_ops(spec, batch, past, source_len, 1, "all", prec)
    elif spec.kind == "encoder":
        raise ValueError("an encoder-only model does not decode")
    else:
        ops = forward_ops(spec, batch, 1, past, "all", prec, window_mode)
    return PhaseCost(f"decode@{past + 1}", batch, past + 1, tuple(ops))


def critical_batch(
    spec: ModelSpec,
    context: int,
    peak: float,
    bandwidth: float,
    precision: Precision | None = None,
    limit: int = 1 << 20,
    source_len: int = 0,
) -> int | None:
    """Smallest batch at which one decode step at ``context`` keys per sequence is
    compute-bound under the fused roofline (flops / peak ≥ (weights + KV) / bandwidth).
    None when it stays memory-bound up to ``limit`` (long contexts: KV reads grow with the
    batch as fast as the flops do)."""
    prec = precision or Precision()
    past = max(context - 1, 0)

    def compute_bound(b: int) -> bool:
        phase = decode_step_cost(spec, b, past, prec, source_len=source_len)
        return phase.flops / peak >= phase.fused_bytes / bandwidth

    if compute_bound(1):
        return 1
    if not compute_bound(limit):
        return None
    lo, hi = 1, limit  # compute_bound(lo) is False, compute_bound(hi) is True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if compute_bound(mid):
            hi = mid
        else:
            lo = mid
    return hi


def estimate(
    model: ModelSpec | Mapping[str, Any] | str,
    batch: int = 1,
    prompt: int = 512,
    gen: int = 128,
    dtype: str = "bfloat16",
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    hardware: HardwareLike | str | None = None,
    window_mode: str = "skip",
    prefill_logits: str = "last",
    beyond_context: bool = False,
) -> LLMEstimate:
    """Analytic inference cost of ``model`` (a :class:`ModelSpec`, an HF config dict, a
    built-in name or a config.json path) for ``batch`` sequences of ``prompt`` tokens
    generating ``gen`` tokens each.

    ``dtype`` is the compute/activation dtype (it picks the hardware peak); ``weight_dtype``
    and ``kv_dtype`` (default: ``dtype``) change bytes only. ``hardware`` is a profile object
    or a name for ``flopwise.measure.hardware.get_profile``; without it no times are given.

    Raises :class:`BadLLMArgument` (a ``ValueError``) for ``batch`` or ``prompt`` < 1,
    ``gen`` < 0, and for a sequence longer than the model's context (``prompt + gen`` tokens
    against ``max_position_embeddings``) unless ``beyond_context`` is set, in which case
    the estimate carries a note instead.
    """
    spec = model if isinstance(model, ModelSpec) else load_spec(model)
    check_at_least("batch", batch, 1)
    check_at_least("prompt", prompt, 1)
    check_at_least("gen", gen, 0)
    beyond = check_context(
        spec, prompt + gen if spec.kind == "decoder" else prompt, beyond_context, "prompt + gen"
    )
    prec = Precision(dtype, weight_dtype, kv_dtype)
    params = count_params(spec)
    w_bytes = nbytes(params.total, prec.weight_bits)
    prefill = prefill_cost(spec, batch, prompt, prec, prefill_logits, window_mode)
    notes: list[str] = [beyond] if beyond else []
    if spec.kind == "encoder" and gen:
        notes.append("encoder-only model: one forward, no generation")
    hw = _resolve_hardware(hardware)
    peak = bandwidth = 0.0
    if hw is not None:
        peak, bandwidth = peak_for(hw, prec.compute), float(hw.memory_bandwidth)
    decode = _Decode(spec, batch, prompt, gen, prec, window_mode)
    totals = decode.totals(hw, peak, bandwidth)
    kv, per_token = _kv_sizes(spec, batch, prompt, gen, prec)
    act_peak = max((op.act_read + op.act_written) // max(op.layers, 1) for op in prefill.ops)
    roof = None
    if hw is not None:
        roof = _roofline(
            spec, hw.name, batch, prompt, gen, prec, peak, bandwidth, prefill, decode, totals
        )
        device = getattr(hw, "memory_bytes", None)
        if device:
            footprint = w_bytes + kv + act_peak
            roof = replace(roof, device_memory=int(device), fits=footprint <= device)
    return LLMEstimate(
        spec=spec,
        batch=batch,
        prompt=prompt,
        gen=gen,
        precision=prec,
        window_mode=window_mode,
        params=params,
        weight_bytes=w_bytes,
        kv_bytes_per_token=per_token,
        kv_cache_bytes=kv,
        activation_peak_bytes=act_peak,
        prefill=prefill,
        decode_first=decode.first,
        decode_last=decode.last,
        decode=totals,
        roofline=roof,
        notes=tuple(notes + _model_notes(spec, window_mode)),
    )


class _Decode:
    """The decode steps of a generation: ``steps`` of them, the first after ``first_past``
    cached tokens (decoder: the prompt; encoder-decoder: none, with the ``source`` encoder
    tokens cross-attended; encoder-only: no step). ``first``/``last`` price the first and
    the last step."""

    def __init__(
        self, spec: ModelSpec, batch: int, prompt: int, gen: int, prec: Precision, window_mode: str
    ) -> None:
        self.spec, self.batch, self.prec, self.window_mode = spec, batch, prec, window_mode
        self.source = prompt if spec.kind == "encoder-decoder" else 0
        if spec.kind == "encoder":
            self.steps, self.first_past = 0, 0
        elif spec.kind == "encoder-decoder":
            self.steps, self.first_past = gen, 0
        else:
            self.steps, self.first_past = max(gen - 1, 0), prompt
        self.first = self.last = None
        if self.steps:
            self.first = self.step(self.first_past)
            self.last = self.step(self.first_past + self.steps - 1)

    def step(self, past: int) -> PhaseCost:
        return decode_step_cost(
            self.spec, self.batch, past, self.prec, self.window_mode, self.source
        )

    def totals(self, hw: HardwareLike | None, peak: float, bandwidth: float) -> DecodeTotals | None:
        if not self.steps:
            return None
        return _decode_totals(self, hw, peak, bandwidth)


def _kv_sizes(
    spec: ModelSpec, batch: int, prompt: int, gen: int, prec: Precision
) -> tuple[int, int]:
    """KV cache bytes at the end of generation (cross-attention cache included) and per
    token of one sequence (all layers, as if none had a sliding window)."""
    context = prompt + gen if spec.kind == "decoder" else gen
    kv = kv_cache_bytes(spec, batch, context, prec)
    if spec.kind == "encoder-decoder":
        kv += cross_kv_bytes(spec, batch, prompt, prec)
    return kv, kv_cache_bytes(spec.with_(sliding_window=None), 1, 1, prec)


def _model_notes(spec: ModelSpec, window_mode: str) -> list[str]:
    """What the reader should know about how a sliding window or MoE layers are counted."""
    notes = []
    if spec.sliding_window:
        notes.append(
            f"sliding window {spec.sliding_window}: attention counts "
            + (
                "only in-window pairs (kernel skips the rest)"
                if window_mode == "skip"
                else "all pairs once the keys reach the window (explicit mask, HF SDPA)"
            )
        )
    if spec.activation not in KNOWN_ACTIVATIONS:
        notes.append(
            f"activation {spec.activation}: no recipe for it, priced as GELU (5 FLOPs per "
            "element, an elementwise term)"
        )
    if spec.moe:
        notes.append(
            "MoE weights read per pass: expected experts touched E·(1 − (1 − k/E)^tokens), "
            "uniform routing"
        )
    return notes


def check_context(spec: ModelSpec, tokens: int, allow: bool, what: str = "tokens") -> str:
    """Hold ``tokens`` positions of one sequence against the model's context
    (``max_position_embeddings``; 0 = not stated, as for T5's relative positions).

    Beyond the context: raise :class:`BadLLMArgument` naming ``what`` and the limit, or with
    ``allow`` return a note to print (the count then assumes the model accepts the length,
    as a RoPE model with scaling would). Within it: return ``""``.
    """
    limit = spec.max_positions
    if not limit or tokens <= limit:
        return ""
    key = spec.extra.get("max_positions_key", "max_position_embeddings")
    if not allow:
        raise BadLLMArgument(
            what,
            tokens,
            f"exceeds {key} = {limit} of {spec.name} (--beyond-context counts it anyway)",
        )
    return f"{what} = {tokens} tokens exceed {key} = {limit}: counted as if the model took them"


def _resolve_hardware(hardware: HardwareLike | str | None) -> HardwareLike | None:
    if hardware is None or not isinstance(hardware, str):
        return hardware
    from flopwise.errors import require

    module = require("flopwise.measure.hardware", "dev", "hardware profiles")
    return module.get_profile(hardware)


def _decode_totals(
    decode: _Decode, hw: HardwareLike | None, peak: float, bandwidth: float
) -> DecodeTotals:
    """Sum every decode step exactly. Between the points where a sliding window starts to
    bind, every op's flops and bytes are affine in the step (only attention and the KV reads
    grow, by a fixed amount per step), so each such segment is summed in closed form from
    two priced steps (checked against a third); the roofline times, a max per op and step,
    are summed with numpy."""
    spec, first_past = decode.spec, decode.first_past
    last = first_past + decode.steps - 1
    cuts = sorted(
        {w + d for i in range(spec.layers) if (w := spec.window_of(i)) for d in (-1, 0, 1)}
    )
    starts = [first_past] + [c for c in cuts if first_past < c <= last]
    totals = [0, 0, 0, 0]
    seconds = fused_s = 0.0
    for k, a in enumerate(starts):
        b = starts[k + 1] - 1 if k + 1 < len(starts) else last
        got = _segment(decode, a, b, hw, peak, bandwidth)
        for i in range(4):
            totals[i] += got[i]
        seconds += got[4]
        fused_s += got[5]
    timed = hw is not None
    return DecodeTotals(
        decode.steps, *totals, seconds if timed else None, fused_s if timed else None
    )


# The sums a decode segment reports, in DecodeTotals' order.
_SUMMED = ("flops", "macs", "bytes", "fused_bytes")


def _segment(
    decode: _Decode, a: int, b: int, hw: HardwareLike | None, peak: float, bandwidth: float
) -> tuple[int, int, int, int, float, float]:
    """Totals of decode steps with ``past`` = a..b (inclusive), assumed affine in the step."""
    first = decode.step(a)
    if a == b:
        return _summed([first], hw, peak, bandwidth)
    second, final = decode.step(a + 1), decode.step(b)
    affine = (
        len(first.ops) == len(second.ops) == len(final.ops)
        and all(
            x.flops + (b - a) * (y.flops - x.flops) == z.flops
            and x.bytes + (b - a) * (y.bytes - x.bytes) == z.bytes
            and x.macs + (b - a) * (y.macs - x.macs) == z.macs
            for x, y, z in zip(first.ops, second.ops, final.ops, strict=False)
        )
        and first.fused_bytes + (b - a) * (second.fused_bytes - first.fused_bytes)
        == (final.fused_bytes)
    )
    if not affine:  # price every step (never expected; kept for safety)
        return _summed([decode.step(p) for p in range(a, b + 1)], hw, peak, bandwidth)
    n = b - a + 1
    tri = n * (n - 1) // 2
    flops, macs, moved, fused = (
        n * getattr(first, k) + tri * (getattr(second, k) - getattr(first, k)) for k in _SUMMED
    )
    sec = fsec = 0.0
    if hw is not None:
        import numpy as np

        j = np.arange(n, dtype=np.float64)
        for x, y in zip(first.ops, second.ops, strict=True):
            t_c = (x.flops + j * (y.flops - x.flops)) / peak
            t_m = (x.bytes + j * (y.bytes - x.bytes)) / bandwidth
            sec += float(np.maximum(t_c, t_m).sum())
        t_c = (first.flops + j * (second.flops - first.flops)) / peak
        t_m = (first.fused_bytes + j * (second.fused_bytes - first.fused_bytes)) / bandwidth
        fsec = float(np.maximum(t_c, t_m).sum())
    return flops, macs, moved, fused, sec, fsec


def _summed(
    phases: list[PhaseCost], hw: HardwareLike | None, peak: float, bandwidth: float
) -> tuple[int, int, int, int, float, float]:
    """Totals of decode steps priced one by one."""
    flops, macs, moved, fused = (sum(getattr(p, k) for p in phases) for k in _SUMMED)
    sec = fsec = 0.0
    if hw is not None:
        for p in phases:
            t = p.roofline(peak, bandwidth)
            sec += t.seconds
            fsec += t.fused_seconds
    return flops, macs, moved, fused, sec, fsec


def _roofline(
    spec: ModelSpec,
    name: str,
    batch: int,
    prompt: int,
    gen: int,
    prec: Precision,
    peak: float,
    bandwidth: float,
    prefill: PhaseCost,
    decode: _Decode,
    totals: DecodeTotals | None,
) -> Roofline:
    first, last, source = decode.first, decode.last, decode.source
    pre = prefill.roofline(peak, bandwidth)
    t_first = first.roofline(peak, bandwidth) if first else None
    t_last = last.roofline(peak, bandwidth) if last else None
    tpot = totals.seconds / totals.steps if totals and totals.seconds is not None else None
    ttft = pre.seconds
    end = pre.seconds + ((totals.seconds or 0.0) if totals else 0.0)
    if spec.kind == "encoder-decoder" and t_first is not None:
        ttft += t_first.seconds
    produced = batch * gen if spec.kind != "encoder" else batch
    crit = crit0 = None
    if spec.kind != "encoder":
        ctx = prompt + gen if spec.kind == "decoder" else gen
        crit = critical_batch(spec, ctx, peak, bandwidth, prec, source_len=source)
        crit0 = critical_batch(spec, 1, peak, bandwidth, prec, source_len=0)
    return Roofline(
        hardware=name,
        peak_flops=peak,
        bandwidth=bandwidth,
        prefill=pre,
        decode_first=t_first,
        decode_last=t_last,
        ttft=ttft,
        tpot=tpot,
        decode_tokens_per_s=batch / tpot if tpot else None,
        end_to_end_s=end,
        tokens_per_s=(produced / end if end else math.inf) if produced else None,
        critical_batch=crit,
        critical_batch_no_kv=crit0,
        ridge=peak / bandwidth,
    )


def experts_touched(spec: ModelSpec, tokens: int) -> float:
    """Expected experts a MoE layer reads for ``tokens`` tokens (0 for a dense model)."""
    if spec.moe is None:
        return 0.0
    return expected_experts_touched(spec.moe.num_experts, spec.moe.top_k, tokens)


CONVENTION = {
    "flops": "a multiply-add is 2 FLOPs; macs count contractions only",
    "attention": "flops = 2·macs + 6·P over attended pairs P (+P for an additive mask)",
    "causal": "a query sees keys 0..i (bottom-right with a KV cache): P = B·H·Σ_i min(i+1, window)",
    "gqa": "grouped-query attention costs the same per query head as MHA",
    "elementwise": "per docs/conventions.md, the cost registry's constants, HF op by op",
    "bytes": "unfused per op: weights at the weight dtype, KV at the KV dtype, "
    "activations at the compute dtype; attention is one fused kernel",
}
