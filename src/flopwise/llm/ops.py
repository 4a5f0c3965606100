"""Per-op costs of one transformer forward, from a :class:`ModelSpec` and the token counts.

One function, :func:`forward_ops`, prices a forward pass that processes ``new_tokens`` per
sequence with ``past`` tokens already in the KV cache: ``past=0`` is a prefill (or an
encoder pass), ``new_tokens=1, past=t`` is one decode step. Every row is an
:class:`OpEstimate`: flops, macs and the bytes it moves, split into weights, activations
and KV cache, summed over the layers it stands for.

Counting rules (docs/conventions.md, the same as the capture path):

* a multiply-add is 2 flops; ``macs`` counts contractions only; a bias adds 1 flop per
  output element;
* attention over P attended query-key pairs: scores ``P·E`` macs, weighted sum ``P·Ev``
  macs, scale + softmax ``6·P`` flops (+``P`` for an additive float mask such as T5's
  position bias); grouped-query attention costs the same per query head as MHA;
* causal attention counts only the pairs a query can see, ``Σ_i min(i+1, window)``;
* elementwise, norm, softmax and reduction steps follow the HF implementations step by step
  (e.g. HF's RMSNorm is pow, mean, add eps, rsqrt, mul, mul by weight) with the per-element
  constants of the cost registry (:mod:`flopwise.llm.unit_costs`);
* embedding lookups are free (they move the rows they read).

Bytes follow the unfused per-op rule: each op reads its inputs and writes its outputs once;
weights at the weight dtype, K/V from the cache at the KV dtype, activations at the compute
dtype. Attention is one fused kernel (FlashAttention/SDPA): it reads Q, K, V and writes the
output; the scores never reach memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flopwise.llm.dtypes import Precision, nbytes
from flopwise.llm.spec import ModelSpec
from flopwise.llm.unit_costs import elementwise_flops as ew

WINDOW_MODES = ("skip", "mask")


class DerivedCosts:
    """Figures derived from ``flops``, ``macs`` and ``bytes`` (an op's or a phase's)."""

    @property
    def matmul_flops(self) -> int:
        """The contraction part alone, ``2·macs`` (what closed forms such as Megatron's count)."""
        return 2 * self.macs  # type: ignore[attr-defined]

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, flops per byte moved."""
        return self.flops / self.bytes if self.bytes else math.inf  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OpEstimate(DerivedCosts):
    """Cost of one op in one forward, summed over the ``layers`` it occurs in.

    ``group`` is where it lives (embedding, attention, mlp, moe, norm, residual, head,
    position); ``stack`` is ``encoder`` or ``decoder`` for encoder-decoder models, else "".
    """

    name: str
    group: str
    category: str
    layers: int
    flops: int
    macs: int = 0
    weight_bytes: int = 0
    act_read: int = 0
    act_written: int = 0
    kv_read: int = 0
    kv_written: int = 0
    stack: str = ""
    pairs: int = 0  # attended query-key pairs (attention softmax rows only)

    @property
    def bytes(self) -> int:
        """All bytes moved: weights + activations read and written + KV cache read and written."""
        return self.weight_bytes + self.act_read + self.act_written + self.kv_read + self.kv_written

    @property
    def act_bytes(self) -> int:
        """Activation bytes moved: read + written."""
        return self.act_read + self.act_written

    @property
    def kv_bytes(self) -> int:
        """KV cache bytes moved: read + written."""
        return self.kv_read + self.kv_written

    @property
    def other_flops(self) -> int:
        """Flops outside the multiply-adds: bias, softmax and scale, norms, activations, adds."""
        return self.flops - 2 * self.macs

    def bound(self, peak: float, bandwidth: float) -> str:
        """``compute`` or ``memory``: which roofline limits this op at ``peak`` FLOP/s and
        ``bandwidth`` bytes/s (an op with no flops is memory-bound)."""
        if self.flops and self.flops / peak >= self.bytes / bandwidth:
            return "compute"
        return "memory"


def attended_keys(past: int, new: int, window: int | None, mode: str = "skip") -> int:
    """Query-key pairs per head and sequence for ``new`` queries after ``past`` cached tokens.

    Causal with the queries at the end of the key sequence (bottom-right alignment, which for
    ``past=0`` is PyTorch's ``is_causal``): query ``i`` sees ``min(i+1, window)`` keys.
    ``mode="mask"`` models HF transformers with SDPA: a sliding-window layer's cache keeps
    the last ``window − 1`` tokens, and once the keys in play reach the window HF passes an
    explicit mask, so every query scores every key in play (the conventions count an
    explicit mask dense; see :func:`window_masked`).
    """
    if mode not in WINDOW_MODES:
        raise ValueError(f"window mode must be one of {WINDOW_MODES}, not {mode!r}")
    if window_masked(past, new, window, mode):
        assert window is not None
        return new * (min(past, window - 1) + new)
    total = past + new
    cap = window if window is not None else total
    # Σ_{i=past}^{total-1} min(i+1, cap)
    lo, hi = past + 1, total  # i+1 runs over lo..hi
    if hi <= cap:
        return (lo + hi) * (hi - lo + 1) // 2
    if lo > cap:
        return new * cap
    return (lo + cap) * (cap - lo + 1) // 2 + (hi - cap) * cap


def window_masked(past: int, new: int, window: int | None, mode: str) -> bool:
    """True when HF (``mode="mask"``) runs SDPA with an explicit sliding-window mask: the
    keys in play (the last ``window − 1`` cached tokens plus the new ones) reach the window.
    SDPA turns the mask into an additive one, one more flop per pair."""
    if window is None or mode != "mask":
        return False
    return min(past, window - 1) + new >= window


class _Ops:
    """Accumulates rows; one helper per kind of op keeps the byte rules in one place."""

    def __init__(self, prec: Precision, stack: str = "") -> None:
        self.prec = prec
        self.stack = stack
        self.rows: list[OpEstimate] = []

    def act(self, elements: int) -> int:
        return nbytes(elements, self.prec.act_bits)

    def add(self, **kw) -> None:
        kw.setdefault("stack", self.stack)
        self.rows.append(OpEstimate(**kw))

    def linear(
        self,
        name: str,
        group: str,
        layers: int,
        tokens: int,
        n_in: int,
        n_out: int,
        bias: bool,
        weight_elements: int | None = None,
    ) -> None:
        macs = tokens * n_in * n_out
        weights = n_in * n_out if weight_elements is None else weight_elements
        self.add(
            name=name,
            group=group,
            category="contraction",
            layers=layers,
            flops=layers * (2 * macs + (tokens * n_out if bias else 0)),
            macs=layers * macs,
            weight_bytes=layers
            * (nbytes(weights, self.prec.weight_bits) + (self.act(n_out) if bias else 0)),
            act_read=layers * self.act(tokens * n_in),
            act_written=layers * self.act(tokens * n_out),
        )

    def elementwise(
        self,
        name: str,
        group: str,
        layers: int,
        steps: list[tuple[str, int, int]],
        elements: int,
        reads: int = 1,
        weight_elements: int = 0,
        category: str = "elementwise",
    ) -> None:
        """``steps``: (aten op, rows, n) priced by the registry constants; ``elements`` is the
        output size; ``reads`` how many tensors of that size are read."""
        self.add(
            name=name,
            group=group,
            category=category,
            layers=layers,
            flops=layers * sum(ew(op, r, n) for op, r, n in steps),
            weight_bytes=layers * self.act(weight_elements),
            act_read=layers * reads * self.act(elements),
            act_written=layers * self.act(elements),
        )

    def norm(self, name: str, kind: str, layers: int, rows: int, n: int) -> None:
        if kind == "rms":  # HF RMSNorm: x.pow(2).mean(-1) + eps, rsqrt, x * r, weight * x
            steps = [
                ("aten.pow.Tensor_Scalar", rows, n),
                ("aten.mean.dim", rows, n),
                ("aten.add.Tensor", rows, 1),
                ("aten.rsqrt.default", rows, 1),
                ("aten.mul.Tensor", rows, n),
                ("aten.mul.Tensor", rows, n),
            ]
            weights = n
        else:
            steps = [("aten.native_layer_norm.default", rows, n)]
            weights = 2 * n
        self.elementwise(name, "norm", layers, steps, rows * n, 1, weights, "norm")

    def activation(self, name: str, group: str, layers: int, act: str, elements: int) -> None:
        self.elementwise(name, group, layers, activation_steps(act, elements), elements)

    def residual(self, name: str, layers: int, elements: int) -> None:
        self.elementwise(name, "residual", layers, [("aten.add.Tensor", elements, 1)], elements, 2)

    def rope(self, layers: int, tokens: int, q_dim: int, kv_dim: int) -> None:
        # q·cos + rotate_half(q)·sin: mul, neg (half), mul, add per element; same for k.
        steps = []
        for dim in (q_dim, kv_dim):
            n = tokens * dim
            steps += [
                ("aten.mul.Tensor", n, 1),
                ("aten.neg.default", n // 2, 1),
                ("aten.mul.Tensor", n, 1),
                ("aten.add.Tensor", n, 1),
            ]
        elements = tokens * (q_dim + kv_dim)
        self.elementwise("rope", "attention", layers, steps, elements, 3)

    def attention(
        self,
        spec: ModelSpec,
        layers: int,
        batch: int,
        new: int,
        pairs_per_seq: int,
        kv_tokens_read: int,
        kv_from_cache: int,
        float_mask: bool = False,
        name: str = "attn",
    ) -> None:
        """``kv_tokens_read`` keys per sequence, of which ``kv_from_cache`` come from the cache
        (KV dtype) and the rest are this pass's own keys (compute dtype)."""
        heads, kv_heads, head_dim = spec.heads, spec.kv_heads, spec.head_dim
        pairs = batch * heads * pairs_per_seq
        kv_dim = kv_heads * head_dim
        fresh = kv_tokens_read - kv_from_cache
        k_cache = nbytes(batch * kv_from_cache * kv_dim, self.prec.kv_bits)
        k_fresh = self.act(batch * fresh * kv_dim)
        q_bytes = self.act(batch * new * heads * head_dim)

        def contraction(part: str, **activations: int) -> None:  # Q·Kᵀ or P·V
            self.add(
                name=f"{name}_{part}",
                group="attention",
                category="contraction",
                layers=layers,
                flops=layers * 2 * pairs * head_dim,
                macs=layers * pairs * head_dim,
                kv_read=layers * k_cache,
                **activations,
            )

        contraction("scores", act_read=layers * (q_bytes + k_fresh))
        self.add(
            name=f"{name}_softmax",
            group="attention",
            category="softmax",
            layers=layers,
            flops=layers * (6 + int(float_mask)) * pairs,
            pairs=layers * pairs,
        )
        contraction("values", act_read=layers * k_fresh, act_written=layers * q_bytes)

    def kv_append(
        self, layers: int, tokens: int, kv_dim: int, name: str = "kv_cache_write"
    ) -> None:
        self.add(
            name=name,
            group="attention",
            category="memory",
            layers=layers,
            flops=0,
            act_read=layers * self.act(2 * tokens * kv_dim),
            kv_written=layers * nbytes(2 * tokens * kv_dim, self.prec.kv_bits),
        )


def activation_steps(act: str, elements: int) -> list[tuple[str, int, int]]:
    """The ATen steps HF runs for an activation function over ``elements`` values."""
    if act == "gelu_tanh_python":  # GPT-2 NewGELU: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        ops = [
            "aten.pow.Tensor_Scalar",
            "aten.mul.Tensor",
            "aten.add.Tensor",
            "aten.mul.Tensor",
            "aten.tanh.default",
            "aten.add.Tensor",
            "aten.mul.Tensor",
            "aten.mul.Tensor",
        ]
        return [(op, elements, 1) for op in ops]
    if act == "quick_gelu":  # HF QuickGELU: x · sigmoid(1.702 · x)
        ops = ["aten.mul.Tensor", "aten.sigmoid.default", "aten.mul.Tensor"]
        return [(op, elements, 1) for op in ops]
    # unknown names are priced as GELU (estimate notes it: KNOWN_ACTIVATIONS)
    op = {
        "silu": "aten.silu.default",
        "gelu": "aten.gelu.default",
        # F.gelu(x, approximate="tanh"): the registry's tanh form, not the exact one
        "gelu_tanh": "aten.gelu.default|approximate=tanh",
        "relu": "aten.relu.default",
    }.get(act, "aten.gelu.default")
    return [(op, elements, 1)]


# The activation names activation_steps has a recipe for.
KNOWN_ACTIVATIONS = ("silu", "gelu", "gelu_tanh", "gelu_tanh_python", "relu", "quick_gelu")


def expected_experts_touched(num_experts: int, top_k: int, tokens: int) -> float:
    """Expected distinct experts a layer reads for ``tokens`` tokens routed top-k of E,
    assuming uniform independent routing: ``E·(1 − (1 − k/E)^tokens)``."""
    if tokens <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


def _layer_classes(spec: ModelSpec, layers: int) -> list[tuple[int | None, bool, int]]:
    """Group layers by (window, is_moe) so identical layers are priced once."""
    classes: dict[tuple[int | None, bool], int] = {}
    for i in range(layers):
        key = (spec.window_of(i), spec.is_moe_layer(i))
        classes[key] = classes.get(key, 0) + 1
    return [(w, moe, n) for (w, moe), n in classes.items()]


def forward_ops(
    spec: ModelSpec,
    batch: int,
    new_tokens: int,
    past: int = 0,
    logits: str = "all",
    precision: Precision | None = None,
    window_mode: str = "skip",
    causal: bool | None = None,
) -> list[OpEstimate]:
    """Ops of one forward of a decoder-only or encoder-only model.

    ``logits``: ``all`` (every position, as ``model(input_ids)`` and training do), ``last``
    (only the last position, as ``generate`` and serving engines do in prefill) or ``none``.
    ``window_mode``: ``skip`` (the kernel skips pairs outside the sliding window, as
    FlashAttention's ``window_size`` does) or ``mask`` (HF SDPA with an explicit window
    mask, counted dense). ``causal=False`` prices a decoder with bidirectional attention
    (every query sees every key), the setting of Megatron's closed form; None follows the
    model (decoders causal, encoders not).
    """
    if spec.kind == "encoder-decoder":
        raise ValueError("use encoder_ops / decoder_step_ops for encoder-decoder models")
    if spec.kind == "encoder" and past:
        raise ValueError("an encoder has no KV cache")
    prec = precision or Precision()
    out = _Ops(prec)
    tokens = batch * new_tokens
    h = spec.hidden
    decoder = spec.kind == "decoder"
    causal = decoder if causal is None else causal

    _embeddings(out, spec, tokens, new_tokens)
    if spec.positions == "rope":
        _rope_tables(out, spec, new_tokens)

    for window, is_moe, n in _layer_classes(spec, spec.layers):
        if spec.norm == "rms" or decoder:
            out.norm("input_norm", spec.norm, n, tokens, h)
        _self_attention(out, spec, n, batch, new_tokens, past, window, causal, window_mode)
        out.residual("attn_residual", n, tokens * h)
        out.norm("post_attention_norm" if decoder else "attention_norm", spec.norm, n, tokens, h)
        if is_moe:
            _moe(out, spec, n, tokens)
        else:
            _mlp(out, spec, n, tokens, spec.intermediate)
        out.residual("mlp_residual", n, tokens * h)
        if not decoder:
            out.norm("output_norm", spec.norm, n, tokens, h)

    if decoder:
        out.norm("final_norm", spec.norm, 1, tokens, h)
    logit_tokens = {"all": tokens, "last": batch, "none": 0}[logits]
    if logit_tokens and spec.lm_head:
        if spec.kind == "encoder":  # BERT MLM head: dense + act + LayerNorm, then decoder
            out.linear("mlm_transform", "head", 1, logit_tokens, h, h, True)
            out.activation("mlm_act", "head", 1, spec.activation, logit_tokens * h)
            out.norm("mlm_norm", spec.norm, 1, logit_tokens, h)
        out.linear("lm_head", "head", 1, logit_tokens, h, spec.vocab, spec.kind == "encoder")
    return out.rows


def _embeddings(out: _Ops, spec: ModelSpec, tokens: int, seq: int) -> None:
    h = spec.hidden
    out.add(
        name="embed_tokens",
        group="embedding",
        category="memory",
        layers=1,
        flops=0,
        weight_bytes=nbytes(tokens * h, out.prec.weight_bits),
        act_written=out.act(tokens * h),
    )
    if spec.positions == "learned":
        extra = 1 + (1 if spec.type_vocab else 0)
        out.elementwise(
            "embed_positions",
            "embedding",
            1,
            [("aten.add.Tensor", tokens * h, 1)] * extra,
            tokens * h,
            2,
            weight_elements=seq * h + (tokens * h if spec.type_vocab else 0),
        )
        if spec.kind == "encoder":
            out.norm("embed_norm", spec.norm, 1, tokens, h)


def _rope_tables(out: _Ops, spec: ModelSpec, seq: int) -> None:
    """cos/sin tables, once per forward (HF builds them for position_ids of batch 1):
    positions × inv_freq, cos, sin, and the attention-scaling muls (integer position
    arithmetic is not floating-point and counts 0)."""
    d = spec.head_dim
    steps = [
        ("aten.mul.Tensor", seq * (d // 2), 1),
        ("aten.cos.default", seq * d, 1),
        ("aten.mul.Tensor", seq * d, 1),
        ("aten.sin.default", seq * d, 1),
        ("aten.mul.Tensor", seq * d, 1),
    ]
    out.elementwise("rope_tables", "position", 1, steps, 2 * seq * d, 1)


def _self_attention(
    out: _Ops,
    spec: ModelSpec,
    n: int,
    batch: int,
    new: int,
    past: int,
    window: int | None,
    causal: bool,
    window_mode: str,
) -> None:
    tokens = batch * new
    h, qd, kvd = spec.hidden, spec.q_dim, spec.kv_dim
    _qkv_proj(out, spec, n, tokens)
    if spec.positions == "rope":
        out.rope(n, tokens, qd, kvd)
    if spec.kind == "decoder":
        out.kv_append(n, tokens, kvd)
    cached = min(past, window - 1) if window else past
    pairs = attended_keys(past, new, window, window_mode) if causal else new * (cached + new)
    masked = causal and window_masked(past, new, window, window_mode)
    out.attention(spec, n, batch, new, pairs, cached + new, cached, masked)
    out.linear("o_proj", "attention", n, tokens, qd, h, spec.o_bias)


def _qkv_proj(out: _Ops, spec: ModelSpec, n: int, tokens: int) -> None:
    """The q, k and v projections of ``tokens`` tokens in ``n`` layers."""
    h, bias = spec.hidden, spec.attention_bias
    out.linear("q_proj", "attention", n, tokens, h, spec.q_dim, bias)
    out.linear("k_proj", "attention", n, tokens, h, spec.kv_dim, bias)
    out.linear("v_proj", "attention", n, tokens, h, spec.kv_dim, bias)


def _mlp(out: _Ops, spec: ModelSpec, n: int, tokens: int, inter: int, prefix: str = "") -> None:
    h, bias = spec.hidden, spec.mlp_bias
    if spec.gated_mlp:
        out.linear(f"{prefix}gate_proj", "mlp", n, tokens, h, inter, bias)
        out.linear(f"{prefix}up_proj", "mlp", n, tokens, h, inter, bias)
        out.activation(f"{prefix}act", "mlp", n, spec.activation, tokens * inter)
        out.elementwise(
            f"{prefix}gate_mul",
            "mlp",
            n,
            [("aten.mul.Tensor", tokens * inter, 1)],
            tokens * inter,
            2,
        )
        out.linear(f"{prefix}down_proj", "mlp", n, tokens, inter, h, bias)
    else:
        out.linear(f"{prefix}fc_in", "mlp", n, tokens, h, inter, bias)
        out.activation(f"{prefix}act", "mlp", n, spec.activation, tokens * inter)
        out.linear(f"{prefix}fc_out", "mlp", n, tokens, inter, h, bias)


def _moe(out: _Ops, spec: ModelSpec, n: int, tokens: int) -> None:
    moe = spec.moe
    assert moe is not None
    h, e, k, inter = spec.hidden, moe.num_experts, moe.top_k, moe.expert_intermediate
    routed = tokens * k
    out.linear("router", "moe", n, tokens, h, e, False)
    steps = [("aten._softmax.default", tokens, e), ("aten.topk.default", tokens, e)]
    if moe.normalize_top_k:
        steps += [("aten.sum.dim_IntList", tokens, k), ("aten.div.Tensor", tokens * k, 1)]
    # HF's grouped_mm path also counts tokens per expert (histc over the routed slots) and
    # takes a cumsum of those counts (E values) for the group offsets.
    steps += [("aten.histc.default", routed, 1), ("aten.cumsum.default", e, 1)]
    out.elementwise("router_softmax_topk", "moe", n, steps, tokens * e, 1, category="softmax")
    # Weights actually read: the experts this pass touches (expected, uniform routing).
    touched = expected_experts_touched(e, k, tokens)
    per_expert = (2 if spec.gated_mlp else 1) * h * inter
    gate_up_weights = round(touched * per_expert)
    out.linear(
        "experts_gate_up" if spec.gated_mlp else "experts_in",
        "moe",
        n,
        routed,
        h,
        (2 if spec.gated_mlp else 1) * inter,
        spec.mlp_bias,
        weight_elements=gate_up_weights,
    )
    out.activation("experts_act", "moe", n, spec.activation, routed * inter)
    if spec.gated_mlp:
        out.elementwise(
            "experts_gate_mul",
            "moe",
            n,
            [("aten.mul.Tensor", routed * inter, 1)],
            routed * inter,
            2,
        )
    out.linear(
        "experts_down",
        "moe",
        n,
        routed,
        inter,
        h,
        spec.mlp_bias,
        weight_elements=round(touched * h * inter),
    )
    combine = [("aten.mul.Tensor", routed * h, 1), ("aten.sum.dim_IntList", tokens * h, k)]
    out.elementwise("experts_combine", "moe", n, combine, tokens * h, k + 1)
    if moe.shared_intermediate:
        _mlp(out, spec, n, tokens, moe.shared_intermediate, prefix="shared_")
        if moe.shared_gate:
            out.linear("shared_gate", "moe", n, tokens, h, 1, False)
            gate = [
                ("aten.sigmoid.default", tokens, 1),
                ("aten.mul.Tensor", tokens * h, 1),
                ("aten.add.Tensor", tokens * h, 1),
            ]
            out.elementwise("shared_gate_mul_add", "moe", n, gate, tokens * h, 2)


# ---------------------------------------------------------------------------------------
# encoder-decoder (T5 style)


def encoder_ops(
    spec: ModelSpec, batch: int, seq: int, precision: Precision | None = None
) -> list[OpEstimate]:
    """The encoder stack of an encoder-decoder model over ``seq`` tokens, plus the decoder's
    cross-attention K/V projections of its output (computed once, then cached)."""
    prec = precision or Precision()
    out = _Ops(prec, stack="encoder")
    tokens, h = batch * seq, spec.hidden
    _embeddings(out, spec, tokens, seq)
    n = spec.layers
    out.norm("attention_norm", spec.norm, n, tokens, h)
    _qkv_proj(out, spec, n, tokens)
    float_mask = spec.positions == "relative"
    out.attention(spec, n, batch, seq, seq * seq, seq, 0, float_mask)
    out.linear("o_proj", "attention", n, tokens, spec.q_dim, h, spec.o_bias)
    out.residual("attn_residual", n, tokens * h)
    out.norm("mlp_norm", spec.norm, n, tokens, h)
    _mlp(out, spec, n, tokens, spec.intermediate)
    out.residual("mlp_residual", n, tokens * h)
    out.norm("final_norm", spec.norm, 1, tokens, h)
    dec = _Ops(prec, stack="decoder")
    m = spec.decoder_layers or spec.layers
    dec.linear("cross_k_proj", "attention", m, tokens, h, spec.kv_dim, spec.attention_bias)
    dec.linear("cross_v_proj", "attention", m, tokens, h, spec.kv_dim, spec.attention_bias)
    dec.kv_append(m, tokens, spec.kv_dim, name="cross_kv_cache_write")
    return out.rows + dec.rows


def decoder_step_ops(
    spec: ModelSpec,
    batch: int,
    past: int,
    source_len: int,
    new_tokens: int = 1,
    logits: str = "all",
    precision: Precision | None = None,
) -> list[OpEstimate]:
    """One pass of the decoder stack of an encoder-decoder model: ``new_tokens`` per sequence
    after ``past`` decoded tokens, cross-attending to ``source_len`` encoder positions whose
    K/V are cached."""
    prec = precision or Precision()
    out = _Ops(prec, stack="decoder")
    tokens, h = batch * new_tokens, spec.hidden
    m = spec.decoder_layers or spec.layers
    float_mask = spec.positions == "relative"
    _embeddings(out, spec, tokens, new_tokens)
    out.norm("self_attention_norm", spec.norm, m, tokens, h)
    _qkv_proj(out, spec, m, tokens)
    out.kv_append(m, tokens, spec.kv_dim)
    pairs = attended_keys(past, new_tokens, None)
    out.attention(spec, m, batch, new_tokens, pairs, past + new_tokens, past, float_mask)
    out.linear("o_proj", "attention", m, tokens, spec.q_dim, h, spec.o_bias)
    out.residual("self_attn_residual", m, tokens * h)
    out.norm("cross_attention_norm", spec.norm, m, tokens, h)
    out.linear("cross_q_proj", "attention", m, tokens, h, spec.q_dim, spec.attention_bias)
    cross = new_tokens * source_len
    out.attention(spec, m, batch, new_tokens, cross, source_len, source_len, name="cross_attn")
    out.linear("cross_o_proj", "attention", m, tokens, spec.q_dim, h, spec.o_bias)
    out.residual("cross_attn_residual", m, tokens * h)
    out.norm("mlp_norm", spec.norm, m, tokens, h)
    _mlp(out, spec, m, tokens, spec.intermediate)
    out.residual("mlp_residual", m, tokens * h)
    out.norm("final_norm", spec.norm, 1, tokens, h)
    logit_tokens = {"all": tokens, "last": batch, "none": 0}[logits]
    if logit_tokens:
        if spec.tied_embeddings:  # T5 rescales by d_model^-0.5 before the tied head
            out.elementwise(
                "head_scale",
                "head",
                1,
                [("aten.mul.Tensor", logit_tokens * h, 1)],
                logit_tokens * h,
            )
        out.linear("lm_head", "head", 1, logit_tokens, h, spec.vocab, False)
    return out.rows


def flops_breakdown(ops: list[OpEstimate] | tuple[OpEstimate, ...]) -> dict[str, int]:
    """Where the flops go: ``matmul`` (2·macs, what closed forms count) and the terms the
    full count adds on top: ``bias``, ``attention_softmax`` (scale + softmax, 6 per pair,
    + mask), ``norm``, ``activation`` (MLP activation and gating multiply), ``residual``,
    ``position`` (RoPE tables and rotations, position-embedding adds), ``router`` (MoE
    routing and combine) and ``other``."""
    out = dict.fromkeys(
        (
            "matmul",
            "bias",
            "attention_softmax",
            "norm",
            "activation",
            "residual",
            "position",
            "router",
            "other",
        ),
        0,
    )
    for op in ops:
        out["matmul"] += 2 * op.macs
        extra = op.flops - 2 * op.macs
        if op.category == "contraction":
            out["bias"] += extra
        elif op.pairs:
            out["attention_softmax"] += extra
        elif op.category == "norm":
            out["norm"] += extra
        elif op.group == "residual":
            out["residual"] += extra
        elif op.name in ("rope", "rope_tables", "embed_positions") or op.group == "position":
            out["position"] += extra
        elif op.group == "moe" and op.name.startswith(("router", "experts_combine", "shared_gate")):
            out["router"] += extra
        elif "act" in op.name or "gate_mul" in op.name:
            out["activation"] += extra
        else:
            out["other"] += extra
    return out
