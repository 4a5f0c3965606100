"""Contraction ops: matmul family, convolution, attention, grouped matmul.

Every formula is exact per docs/conventions.md: macs count multiply-accumulates, flops are
2 per MAC plus one per output element for a bias, and activations are the op's output
elements (pycls semantics).
"""

from __future__ import annotations

import math

from flopwise.cost.registry import aten, maybe_ops, register
from flopwise.cost.types import OpCall, OpCost, TensorMeta, Uncountable

# Real operations per complex one: (a+bi)(c+di) accumulated into a complex sum is 4 real
# multiply-adds; a complex add is 2 real adds.
COMPLEX_MACS = 4
COMPLEX_ADD = 2

# ---------------------------------------------------------------------------------------
# pure shape formulas (also used by the analytic LLM model and the tests)


def matmul_macs(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> int:
    """MACs of ``[.., M, K] @ [.., K, N]`` with broadcast batch dimensions."""
    if len(a_shape) == 1:
        a_shape = (1, *a_shape)
    if len(b_shape) == 1:
        b_shape = (*b_shape, 1)
    m, k = a_shape[-2:]
    n = b_shape[-1]
    batch = _broadcast(a_shape[:-2], b_shape[:-2])
    return math.prod(batch) * m * n * k


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    width = max(len(a), len(b))
    a = (1,) * (width - len(a)) + tuple(a)
    b = (1,) * (width - len(b)) + tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b, strict=True))


def conv_macs(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    transposed: bool = False,
) -> int:
    """MACs of a 1d/2d/3d convolution. ``w_shape`` is ``[C_out, C_in/groups, *kernel]``
    (``[C_in, C_out/groups, *kernel]`` when transposed), so groups need no separate input."""
    kernel = math.prod(w_shape[2:])
    if transposed:
        # Each input element scatters into C_out/groups · kernel outputs.
        batch, c_in = x_shape[0], x_shape[1]
        return batch * c_in * math.prod(x_shape[2:]) * w_shape[1] * kernel
    batch, c_out = out_shape[0], out_shape[1]
    return batch * c_out * math.prod(out_shape[2:]) * w_shape[1] * kernel


def attended_pairs(batch: int, heads: int, lq: int, lk: int, causal: bool) -> int:
    """Query-key pairs scored by attention. Causal uses PyTorch's top-left alignment:
    query i sees keys 0..i, capped at Lk."""
    if not causal:
        return batch * heads * lq * lk
    # Σ_{i<Lq} min(i+1, Lk) in closed form.
    full = min(lq, lk)
    per_head = full * (full + 1) // 2 + max(0, lq - lk) * lk
    return batch * heads * per_head


def attention_cost(
    batch: int,
    heads_q: int,
    lq: int,
    lk: int,
    e: int,
    ev: int,
    causal: bool = False,
    float_mask: bool = False,
    dropout: bool = False,
) -> OpCost:
    """Scaled dot-product attention: macs = P·(E+Ev); flops = 2·macs + 6·P (+P for an
    additive float mask, +P for the dropout mask multiply); activations = the two matmul
    outputs (scores and result)."""
    pairs = attended_pairs(batch, heads_q, lq, lk, causal)
    macs = pairs * (e + ev)
    flops = 2 * macs + 6 * pairs + (pairs if float_mask else 0) + (pairs if dropout else 0)
    return OpCost(
        flops=flops,
        macs=macs,
        activations=batch * heads_q * lq * lk + batch * heads_q * lq * ev,
        category="contraction",
    )


def attention_backward_cost(
    batch: int,
    heads_q: int,
    lq: int,
    lk: int,
    e: int,
    ev: int,
    causal: bool = False,
    dropout: bool = False,
) -> OpCost:
    """Backward of attention without recomputation: dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K,
    dK = dSᵀ·Q (2·P·(E+Ev) macs) plus softmax backward (3 flops per pair), +P for the
    dropout mask applied to the gradient."""
    pairs = attended_pairs(batch, heads_q, lq, lk, causal)
    macs = 2 * pairs * (e + ev)
    flops = 2 * macs + 3 * pairs + (pairs if dropout else 0)
    return OpCost(flops=flops, macs=macs, category="contraction")


def schema_arg(call: OpCall, name: str, default: object = None) -> object:
    """Argument ``name`` of ``call``, located through the op's ATen schema."""
    if name in call.kwargs:
        return call.kwargs[name]
    parts = call.op.split(".")
    packet = getattr(aten, parts[1], None)
    overload = getattr(packet, parts[2] if len(parts) > 2 else "default", None)
    if overload is None:
        return default
    for index, argument in enumerate(overload._schema.arguments):
        if argument.name == name:
            return call.args[index] if index < len(call.args) else default
    return default


def contraction(macs: int, out: TensorMeta, bias_elements: int = 0) -> OpCost:
    """Cost of a contraction of ``macs`` multiply-accumulates (counted on the operands'
    element type) with an optional bias of ``bias_elements`` additions.

    Complex operands are counted in real arithmetic: one complex multiply-add is 4 real
    MACs (8 real flops) and one complex bias add is 2 real flops. Activations stay the
    output's element count."""
    if out.dtype.is_complex:
        macs, bias_elements = COMPLEX_MACS * macs, COMPLEX_ADD * bias_elements
    return OpCost(
        flops=2 * macs + bias_elements,
        macs=macs,
        activations=out.numel,
        category="contraction",
    )


# ---------------------------------------------------------------------------------------
# matmul family


@register(aten.mm, aten.bmm, aten.matmul, aten.dot, aten.mv, aten.vdot)
def _mm(call: OpCall) -> OpCost:
    a, b = call.args[0], call.args[1]
    return contraction(matmul_macs(a.shape, b.shape), call.out)


@register(aten.linear)
def _linear(call: OpCall) -> OpCost:
    # Composite ops like linear reach the mode whole under inference_mode.
    x, w, bias = call.args[0], call.args[1], call.arg(2, "bias")
    macs = (x.numel // x.shape[-1]) * w.shape[0] * x.shape[-1] if w.ndim == 2 else x.numel
    return contraction(macs, call.out, call.out.numel if isinstance(bias, TensorMeta) else 0)


@register(aten.einsum)
def _einsum(call: OpCall) -> OpCost:
    """Two-operand einsum seen whole: one MAC per point of the joint index space."""
    equation, operands = call.args[0], call.args[1]
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    if len(operands) != 2 or "." in equation:
        raise Uncountable("einsum seen whole with other than two explicit operands")
    sizes: dict[str, int] = {}
    for letters, t in zip(inputs, operands, strict=True):
        for letter, size in zip(letters, t.shape, strict=True):
            sizes[letter] = max(size, sizes.get(letter, 1))
    return contraction(math.prod(sizes.values()), call.out)


@register(aten.addmm, aten.baddbmm, aten.addbmm, aten.addmv, *maybe_ops("addr", "addr_"))
def _addmm(call: OpCall) -> OpCost:
    """self + A·B; ``addr`` (self + v1 ⊗ v2) is the K = 1 case: M·N macs."""
    bias, a, b = call.args[0], call.args[1], call.args[2]
    macs = matmul_macs(a.shape, b.shape)
    if call.op.startswith("aten.addr"):
        macs = a.numel * b.numel
    elif call.op.startswith("aten.addbmm"):
        macs = a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
    beta = call.kwargs.get("beta", 1)
    bias_flops = call.out.numel if beta != 0 and isinstance(bias, TensorMeta) else 0
    return contraction(macs, call.out, bias_flops)


@register(*maybe_ops("_scaled_mm"))
def _scaled_mm(call: OpCall) -> OpCost:
    """FP8 ``_scaled_mm(a [M, K], b [K, N], scale_a, scale_b, bias, scale_result, out_dtype)``:
    the M·N·K macs of ``mm`` plus, per output element, the scales (tensor-wise, both one
    element: their product is formed once per call and applied, 1; row-wise, scale_a one
    per row of a and scale_b one per column of b: acc·s_a[i]·s_b[j], 2), the bias add (1,
    as addmm's) and, for an fp8 result, the division by scale_result (1). Block scales
    (MX formats) rescale partial sums inside K: not counted, the call is uncounted."""
    a, b = call.args[0], call.args[1]
    scale_a, scale_b = call.args[2], call.args[3]
    if a.ndim != 2 or b.ndim != 2:
        raise Uncountable("_scaled_mm on other than two 2-d matrices")
    m, n = a.shape[0], b.shape[1]
    if scale_a.numel == 1 and scale_b.numel == 1:
        per_element = 1
    elif scale_a.numel == m and scale_b.numel == n:
        per_element = 2
    else:
        raise Uncountable("_scaled_mm with block-wise scales")
    if isinstance(schema_arg(call, "bias"), TensorMeta):
        per_element += 1
    # the result scale is applied only when the result is fp8 (as PyTorch's kernels do)
    if isinstance(schema_arg(call, "scale_result"), TensorMeta) and call.out.itemsize == 1:
        per_element += 1
    cost = contraction(m * n * a.shape[1], call.out)
    return OpCost(
        flops=cost.flops + per_element * call.out.numel,
        macs=cost.macs,
        activations=cost.activations,
        category=cost.category,
    )


@register(*maybe_ops("_grouped_mm", "_scaled_grouped_mm"), "transformers.grouped_mm_fallback")
def _grouped_mm(call: OpCall) -> OpCost:
    """MoE experts: every routed row meets exactly one expert matrix, so
    macs = rows · K · N whatever the routing (counts the same on meta)."""
    a, b = call.args[0], call.args[1]
    if a.ndim == 2 and b.ndim == 3:  # [rows, K] x [G, K, N] with offsets
        macs = a.shape[0] * a.shape[1] * b.shape[2]
    elif a.ndim == 3 and b.ndim == 3:  # batched [G, M, K] x [G, K, N]
        macs = a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
    elif a.ndim == 2 and b.ndim == 2:  # [M, K] x [K, N] split along K by offsets
        macs = a.shape[0] * a.shape[1] * b.shape[1]
    else:  # [G, M, K] x [K·, N]
        macs = call.out.numel * a.shape[-1]
    bias = call.kwargs.get("bias") if len(call.args) < 4 else call.args[3]
    return contraction(macs, call.out, call.out.numel if isinstance(bias, TensorMeta) else 0)


def grouped_mm_output_shape(
    a: tuple[int, ...], b: tuple[int, ...], groups: int = 1
) -> tuple[int, ...]:
    """Result shape of ``_grouped_mm(a, b, offs)`` (``groups`` = len(offs))."""
    if len(a) == 2 and len(b) == 3:
        return (a[0], b[2])
    if len(a) == 3 and len(b) == 3:
        return (a[0], a[1], b[2])
    if len(a) == 2 and len(b) == 2:
        return (groups, a[0], b[1])  # K split by offs (the weight gradient): one block per group
    return (a[0], a[1], b[-1])  # [G, M, K] x [K_total, N] split along rows of b


@register("transformers.grouped_mm_fallback_backward")
def _grouped_mm_fallback_backward(call: OpCall) -> OpCost:
    # (input [S, K], weight [E, K, N], offs, grad_output [S, N]): grad_input and grad_weight.
    a, b = call.args[0], call.args[1]
    macs = 2 * a.shape[0] * a.shape[1] * b.shape[2]
    return OpCost(flops=2 * macs, macs=macs, category="contraction")


# ---------------------------------------------------------------------------------------
# convolution


@register(aten.convolution, aten._convolution, *maybe_ops("conv1d", "conv2d", "conv3d"))
def _convolution(call: OpCall) -> OpCost:
    x, w, bias = call.args[0], call.args[1], call.arg(2, "bias")
    transposed = (
        bool(call.arg(6, "transposed", False))
        if call.op.split(".")[1]
        in (
            "convolution",
            "_convolution",
        )
        else False
    )
    macs = conv_macs(x.shape, w.shape, call.out.shape, transposed)
    return contraction(macs, call.out, call.out.numel if isinstance(bias, TensorMeta) else 0)


@register(*maybe_ops("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"))
def _conv_transpose(call: OpCall) -> OpCost:
    x, w, bias = call.args[0], call.args[1], call.arg(2, "bias")
    macs = conv_macs(x.shape, w.shape, call.out.shape, transposed=True)
    return contraction(macs, call.out, call.out.numel if isinstance(bias, TensorMeta) else 0)


@register(aten.convolution_backward)
def _convolution_backward(call: OpCall) -> OpCost:
    """grad_input is a (transposed) convolution of grad_output with the weight; grad_weight
    contracts grad_output with the input over the same index set: each is one forward's
    MACs, counted only when ``output_mask`` asks for it. grad_bias is a reduction over
    grad_output (one flop per element)."""
    grad_out, x, w = call.args[0], call.args[1], call.args[2]
    # Flags by schema name: positionally, index 6 is dilation and 7 is transposed.
    transposed = bool(schema_arg(call, "transposed", False))
    mask = schema_arg(call, "output_mask", [True, True, True])
    fwd = conv_macs(x.shape, w.shape, grad_out.shape, transposed)
    macs = fwd * (int(bool(mask[0])) + int(bool(mask[1])))
    bias_flops = grad_out.numel if mask[2] else 0
    return OpCost(flops=2 * macs + bias_flops, macs=macs, category="contraction")


# ---------------------------------------------------------------------------------------
# attention


def _sdpa_shapes(
    q: TensorMeta, k: TensorMeta, v: TensorMeta
) -> tuple[int, int, int, int, int, int]:
    *batch_dims, heads, lq, e = (1,) * max(0, 4 - q.ndim) + q.shape
    lk, ev = k.shape[-2], v.shape[-1]
    return math.prod(batch_dims), heads, lq, lk, e, ev


def sdpa_forward_cost(
    q: TensorMeta,
    k: TensorMeta,
    v: TensorMeta,
    is_causal: bool,
    mask: object,
    dropout_p: float = 0.0,
) -> OpCost:
    """One attention call per docs/conventions.md (GQA: heads are the query's)."""
    batch, heads, lq, lk, e, ev = _sdpa_shapes(q, k, v)
    float_mask = isinstance(mask, TensorMeta) and mask.dtype.is_floating_point
    return attention_cost(
        batch,
        heads,
        lq,
        lk,
        e,
        ev,
        causal=is_causal,
        float_mask=float_mask,
        dropout=float(dropout_p or 0.0) > 0.0,
    )


def sdpa_backward_cost(
    q: TensorMeta, k: TensorMeta, v: TensorMeta, is_causal: bool, dropout_p: float = 0.0
) -> OpCost:
    """Backward of one attention call, the same whichever kernel computes it."""
    batch, heads, lq, lk, e, ev = _sdpa_shapes(q, k, v)
    dropout = float(dropout_p or 0.0) > 0.0
    return attention_backward_cost(batch, heads, lq, lk, e, ev, is_causal, dropout)


@register(
    *maybe_ops(
        "scaled_dot_product_attention",  # whole only under inference_mode; else decomposed
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
    )
)
def _sdpa(call: OpCall) -> OpCost:
    """Every SDPA backend, layout [B, H, L, E]; flags found by name in the op's schema."""
    q, k, v = call.args[:3]
    mask = schema_arg(call, "attn_mask", schema_arg(call, "attn_bias"))
    causal = bool(schema_arg(call, "is_causal", False))
    return sdpa_forward_cost(q, k, v, causal, mask, schema_arg(call, "dropout_p", 0.0))


@register(*maybe_ops("_flash_attention_forward", "_efficient_attention_forward"))
def _attention_forward_kernels(call: OpCall) -> OpCost:
    """The raw kernels, layout [B, L, H, E]; custom_mask_type 1 is top-left causal."""
    q, k, v = call.args[:3]
    batch, lq, heads, e = q.shape
    lk, ev = k.shape[1], v.shape[-1]
    causal = (
        bool(schema_arg(call, "is_causal", False)) or schema_arg(call, "custom_mask_type", 0) == 1
    )
    bias = schema_arg(call, "bias")
    float_mask = isinstance(bias, TensorMeta) and bias.dtype.is_floating_point
    dropout = float(schema_arg(call, "dropout_p", 0.0) or 0.0) > 0.0
    return attention_cost(
        batch, heads, lq, lk, e, ev, causal=causal, float_mask=float_mask, dropout=dropout
    )


@register(
    *maybe_ops(
        "_scaled_dot_product_flash_attention_backward",
        "_scaled_dot_product_flash_attention_for_cpu_backward",
        "_scaled_dot_product_efficient_attention_backward",
        "_scaled_dot_product_cudnn_attention_backward",
    )
)
def _sdpa_backward(call: OpCall) -> OpCost:
    # (grad_out, q, k, v, out, ...); the causal flag's position differs per kernel.
    q, k, v = call.args[1:4]
    causal = bool(schema_arg(call, "is_causal", False))
    return sdpa_backward_cost(q, k, v, causal, schema_arg(call, "dropout_p", 0.0))


@register(*maybe_ops("_native_multi_head_attention"))
def _native_mha(call: OpCall) -> OpCost:
    """The fused nn.MultiheadAttention fast path: q/k/v projections, attention, output
    projection. Equals the sum of its unfused parts (linear + SDPA + linear) exactly."""
    query, key = call.args[0], call.args[1]
    embed, heads = call.args[3], call.args[4]
    qkv_bias, proj_bias = call.args[6], call.args[8]
    mask = call.arg(9, "mask")
    batch, lq = (query.shape[0], query.shape[1]) if query.ndim == 3 else (1, query.shape[0])
    lk = key.shape[-2]
    head_dim = embed // heads
    proj_in = batch * (lq + 2 * lk) * embed * embed
    proj_out = batch * lq * embed * embed
    bias = (batch * (lq + 2 * lk) * embed if isinstance(qkv_bias, TensorMeta) else 0) + (
        batch * lq * embed if isinstance(proj_bias, TensorMeta) else 0
    )
    float_mask = isinstance(mask, TensorMeta) and mask.dtype.is_floating_point
    attn = attention_cost(batch, heads, lq, lk, head_dim, head_dim, float_mask=float_mask)
    macs = proj_in + proj_out + attn.macs
    return OpCost(
        flops=2 * (proj_in + proj_out) + bias + attn.flops,
        macs=macs,
        activations=batch * (lq + 2 * lk) * embed + attn.activations + batch * lq * embed,
        category="contraction",
    )


def _cost_of(
    op: str, args: tuple, outputs: tuple[TensorMeta, ...], kwargs: dict | None = None
) -> OpCost:
    """Cost of an unfused op through its own registered formula (for fused kernels)."""
    from flopwise.cost.registry import lookup

    _, formula = lookup(op)
    if formula is None:
        raise Uncountable(f"no formula for {op}")
    return formula(OpCall(op=op, args=args, kwargs=kwargs or {}, outputs=outputs))


@register(*maybe_ops("_transformer_encoder_layer_fwd"))
def _transformer_encoder_layer(call: OpCall) -> OpCost:
    """nn.TransformerEncoderLayer's inference fast path: the sum of its unfused parts
    (attention block, two residual adds, two layer norms, FFN with its activation), each
    costed by its own formula, so fused and unfused runs count the same."""
    src, embed, heads = call.args[0], call.args[1], call.args[2]
    qkv_w, qkv_b, proj_w, proj_b = call.args[3:7]
    use_gelu = bool(call.args[7])
    norm_w1, norm_b1, norm_w2, norm_b2 = call.args[10:14]
    ffn_w1, ffn_b1, _ffn_w2, ffn_b2 = call.args[14:18]
    mask = call.arg(18, "mask")
    dtype = src.dtype
    tokens = src.numel // embed
    hidden = ffn_w1.shape[0]

    def t(*shape: int) -> TensorMeta:
        return TensorMeta(tuple(shape), dtype)

    x, x2d, h2d = t(*src.shape), t(tokens, embed), t(tokens, hidden)
    stats = t(*src.shape[:-1], 1)
    parts = [
        _cost_of(
            "aten._native_multi_head_attention",
            (src, src, src, embed, heads, qkv_w, qkv_b, proj_w, proj_b, mask),
            (x,),
        ),
        _cost_of("aten.add.Tensor", (x, x), (x,)),
        _cost_of("aten.add.Tensor", (x, x), (x,)),
        _cost_of("aten.native_layer_norm", (x, [embed], norm_w1, norm_b1, 1e-5), (x, stats, stats)),
        _cost_of("aten.native_layer_norm", (x, [embed], norm_w2, norm_b2, 1e-5), (x, stats, stats)),
        _cost_of("aten.addmm", (ffn_b1, x2d, t(embed, hidden)), (h2d,)),
        _cost_of("aten.gelu" if use_gelu else "aten.relu", (h2d,), (h2d,)),
        _cost_of("aten.addmm", (ffn_b2, h2d, t(hidden, embed)), (x2d,)),
    ]
    return OpCost(
        flops=sum(p.flops for p in parts),
        macs=sum(p.macs for p in parts),
        activations=sum(p.activations for p in parts),
        category="contraction",
    )
