"""ONNX node → the PyTorch call that computes it, so the cost registry prices ONNX graphs.

Each entry takes a :class:`NodeCall` (the node's attributes, the static shapes of its
outputs, the constant values of its inputs where they are known) and the node's input
tensors, and returns its outputs by calling the torch op PyTorch itself would run for the
same layer (``Conv`` → ``F.conv2d``, ``Gemm`` → ``addmm``, ``Softmax`` → ``softmax`` ...).
The capture records those calls, so an ONNX graph is counted by the very formulas that
count PyTorch models (docs/conventions.md), and a count can be compared op for op.

Every output shape is known before the graph runs (shape inference), so data-movement
ops are reproduced from the shapes, never from tensor values: the graph runs on meta
tensors. An op type missing here runs :func:`unmapped`, a dispatcher op of its own that the
registry does not know, so the node is listed as uncounted (never a silent zero).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812  (the usual spelling)

from flopwise.errors import FlopwiseError


@dataclass
class NodeCall:
    """What an op implementation may read besides its input tensors."""

    op_type: str
    name: str
    attrs: dict[str, Any]
    out_shapes: list[tuple[int, ...]]
    out_dtypes: list[torch.dtype]
    #: constant values of the inputs (initializers, Constant nodes), None where unknown
    consts: list[Any] = field(default_factory=list)
    opset: int = 18

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def const(self, i: int) -> Any:
        """The constant value of input ``i`` as a Python list/number, or None."""
        if i >= len(self.consts) or self.consts[i] is None:
            return None
        return self.consts[i].tolist()

    @property
    def out(self) -> tuple[int, ...]:
        return self.out_shapes[0]


OpFn = Callable[..., Any]
OPS: dict[str, OpFn] = {}


def op(*names: str) -> Callable[[OpFn], OpFn]:
    """Register ``fn`` for the ONNX op types ``names`` (``com.microsoft.X`` for contrib ops)."""

    def deco(fn: OpFn) -> OpFn:
        for name in names:
            OPS[name] = fn
        return fn

    return deco


# -- unmapped nodes --------------------------------------------------------------------
_LIB = torch.library.Library("onnx_graph", "FRAGMENT")  # noqa: TOR901 (a runtime op library)
_DEFINED: set[str] = set()


def _op_name(op_type: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in op_type)


def unmapped(c: NodeCall, *xs: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """Outputs of a node with no torch equivalent, made by the op ``onnx_graph.<OpType>``.

    The op exists only so the capture records the call under the node's module: the cost
    registry does not know it, so the node is reported as uncounted with its output size."""
    name = _op_name(c.op_type)
    if name not in _DEFINED:
        _LIB.define(f"{name}(Tensor[] xs, SymInt[][] shapes, int[] dtypes) -> Tensor[]")

        def impl(xs: list[torch.Tensor], shapes: list[list[int]], dtypes: list[int]):
            device = xs[0].device if xs else torch.device("meta")
            return [
                torch.empty(s, dtype=_DTYPE_LIST[d], device=device)
                for s, d in zip(shapes, dtypes, strict=True)
            ]

        for key in ("Meta", "CPU", "CUDA"):
            _LIB.impl(name, impl, key)
        _DEFINED.add(name)
    packet = getattr(torch.ops.onnx_graph, name)
    dtypes = [_DTYPE_LIST.index(d) for d in c.out_dtypes]
    tensors = [x for x in xs if x is not None]
    return tuple(packet(tensors, [list(s) for s in c.out_shapes], dtypes))


_DTYPE_LIST = [
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.float64,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.int8,
    torch.uint8,
    torch.bool,
    torch.complex64,
    torch.complex128,
]


# -- contractions ------------------------------------------------------------------------
def _conv_pads(c: NodeCall, spatial_in: Sequence[int], kernel: Sequence[int]) -> list[int]:
    """ONNX pads ``[begin..., end...]``, resolving ``auto_pad`` from the output shape."""
    nd = len(kernel)
    auto = _text(c.attr("auto_pad", "NOTSET"))
    if auto == "NOTSET":
        return list(c.attr("pads", [0] * (2 * nd)))
    if auto == "VALID":
        return [0] * (2 * nd)
    strides = c.attr("strides", [1] * nd)
    dil = c.attr("dilations", [1] * nd)
    begins, ends = [], []
    for i in range(nd):
        out = c.out[2 + i]
        total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - spatial_in[i])
        small, big = total // 2, total - total // 2
        lower = auto == "SAME_LOWER"
        begins.append(big if lower else small)
        ends.append(small if lower else big)
    return begins + ends


def _torch_pad(pads: Sequence[int]) -> list[int]:
    """ONNX ``[b1, b2, .., e1, e2, ..]`` → F.pad's last-dimension-first ``[b_n, e_n, ...]``."""
    nd = len(pads) // 2
    out: list[int] = []
    for i in reversed(range(nd)):
        out += [pads[i], pads[nd + i]]
    return out


@op("Conv", "com.microsoft.FusedConv")
def _conv(c: NodeCall, x, w, b=None, z=None):
    nd = w.ndim - 2
    kernel = list(w.shape[2:])
    pads = _conv_pads(c, list(x.shape[2:]), kernel)
    if pads[:nd] != pads[nd:]:  # asymmetric: PyTorch pads explicitly first, as here
        x = F.pad(x, _torch_pad(pads))
        pads = [0] * (2 * nd)
    fn = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    y = fn(
        x,
        w,
        b,
        stride=c.attr("strides", [1] * nd),
        padding=pads[:nd],
        dilation=c.attr("dilations", [1] * nd),
        groups=c.attr("group", 1),
    )
    if z is not None:
        y = y + z
    return _activation(c, y) if c.op_type.endswith("FusedConv") else y


@op("ConvTranspose")
def _conv_transpose(c: NodeCall, x, w, b=None):
    nd = w.ndim - 2
    kernel = list(w.shape[2:])
    strides = c.attr("strides", [1] * nd)
    dil = c.attr("dilations", [1] * nd)
    pads = list(c.attr("pads", [0] * (2 * nd)))
    fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
    target = c.out[2:]
    natural = [
        (x.shape[2 + i] - 1) * strides[i] - 2 * pads[i] + dil[i] * (kernel[i] - 1) + 1
        for i in range(nd)
    ]
    extra = [t - n for t, n in zip(target, natural, strict=True)]
    ok = pads[:nd] == pads[nd:] and all(
        0 <= e < max(s, d) for e, s, d in zip(extra, strides, dil, strict=False)
    )
    groups = c.attr("group", 1)
    if ok:
        return fn(x, w, b, strides, pads[:nd], extra, groups, dil)
    # auto_pad / asymmetric pads: the MACs do not depend on padding; compute the full
    # output and cut the requested window (a view), the bias added to the full output
    y = fn(x, w, b, strides, 0, 0, groups, dil)
    for i, size in enumerate(target):
        y = y.narrow(2 + i, 0, min(size, y.shape[2 + i]))
    return y


@op("MatMul")
def _matmul(c: NodeCall, a, b, *_):
    return torch.matmul(a, b)


@op("Gemm", "com.microsoft.FusedGemm")
def _gemm(c: NodeCall, a, b, bias=None):
    a = a.t() if c.attr("transA", 0) else a
    b = b.t() if c.attr("transB", 0) else b
    alpha, beta = c.attr("alpha", 1.0), c.attr("beta", 1.0)
    if bias is None:
        y = torch.mm(a, b)
        y = y * alpha if alpha != 1.0 else y
    else:
        y = torch.addmm(bias, a, b, beta=beta, alpha=alpha)
    return _activation(c, y) if c.op_type.endswith("FusedGemm") else y


@op("com.microsoft.FusedMatMul")
def _fused_matmul(c: NodeCall, a, b):
    a = a.transpose(-1, -2) if c.attr("transA", 0) else a
    b = b.transpose(-1, -2) if c.attr("transB", 0) else b
    y = torch.matmul(a, b)
    alpha = c.attr("alpha", 1.0)
    return y * alpha if alpha != 1.0 else y


@op("Einsum")
def _einsum(c: NodeCall, *xs):
    return torch.einsum(_text(c.attr("equation")), *xs)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- attention ---------------------------------------------------------------------------
def _heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    """``[B, L, H·E]`` → ``[B, H, L, E]`` (a 4-D tensor is already split)."""
    if t.ndim == 4:
        return t
    b, length, width = t.shape
    return t.reshape(b, length, heads, width // heads).transpose(1, 2)


def _sdpa(q, k, v, mask, causal: bool, scale: float | None) -> torch.Tensor:
    kwargs: dict[str, Any] = {"attn_mask": mask, "is_causal": causal and mask is None}
    if scale is not None:
        kwargs["scale"] = scale
    if k.shape[1] != q.shape[1]:
        kwargs["enable_gqa"] = True
    return F.scaled_dot_product_attention(q, k, v, **kwargs)


@op("Attention")
def _attention(c: NodeCall, q, k, v, mask=None, past_k=None, past_v=None, *_):
    """ONNX ``Attention`` (opset 23): one SDPA call, priced as PyTorch prices it."""
    q = _heads(q, c.attr("q_num_heads", 1))
    k = _heads(k, c.attr("kv_num_heads", 1))
    v = _heads(v, c.attr("kv_num_heads", 1))
    if past_k is not None:
        k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
    y = _sdpa(q, k, v, mask, bool(c.attr("is_causal", 0)), c.attr("scale"))
    if len(c.out) == 3:  # 3-D in, 3-D out
        y = y.transpose(1, 2).reshape(c.out)
    return (y, k, v)[: len(c.out_shapes)]


@op("flopwise.ScaledDotProductAttention")
def _exported_sdpa(c: NodeCall, q, k, v, mask=None):
    """An SDPA call the exporter decomposed (:mod:`flopwise.sources.onnx_attention`)."""
    return _sdpa(q, k, v, mask, bool(c.attr("is_causal", 0)), None)


@op("com.microsoft.MultiHeadAttention")
def _mha(c: NodeCall, q, k, v, bias=None, pad_mask=None, attn_bias=None, pk=None, pv=None):
    heads = c.attr("num_heads", 1)
    if bias is not None:
        qb, kb, vb = bias.chunk(3)
        q, k, v = q + qb, k + kb, v + vb
    q, k, v = _heads(q, heads), _heads(k, heads), _heads(v, heads)
    if pk is not None:
        k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
    y = _sdpa(q, k, v, attn_bias, bool(c.attr("unidirectional", 0)), c.attr("scale"))
    return (y.transpose(1, 2).reshape(c.out), k, v)[: len(c.out_shapes)]


# -- elementwise -------------------------------------------------------------------------
_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "Relu": torch.relu,
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "Exp": torch.exp,
    "Log": torch.log,
    "Sqrt": torch.sqrt,
    "Reciprocal": torch.reciprocal,
    "Neg": torch.neg,
    "Abs": torch.abs,
    "Erf": torch.erf,
    "Sin": torch.sin,
    "Cos": torch.cos,
    "Tan": torch.tan,
    "Asin": torch.asin,
    "Acos": torch.acos,
    "Atan": torch.atan,
    "Sinh": torch.sinh,
    "Cosh": torch.cosh,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Round": torch.round,
    "Sign": torch.sign,
    "Not": torch.logical_not,
    "IsNaN": torch.isnan,
    "IsInf": torch.isinf,
    "Softplus": F.softplus,
    "Softsign": F.softsign,
    "Mish": F.mish,
    "HardSwish": F.hardswish,
    "com.microsoft.QuickGelu": lambda x: x * torch.sigmoid(1.702 * x),
}
_BINARY: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Pow": torch.pow,
    "Equal": torch.eq,
    "Less": torch.lt,
    "Greater": torch.gt,
    "LessOrEqual": torch.le,
    "GreaterOrEqual": torch.ge,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "Xor": torch.logical_xor,
    "BitwiseAnd": torch.bitwise_and,
    "BitwiseOr": torch.bitwise_or,
    "PRelu": lambda x, s: torch.where(x >= 0, x, x * s),
}


def _unary(name: str) -> OpFn:
    fn = _UNARY[name]
    return lambda c, x: fn(x)


def _binary(name: str) -> OpFn:
    fn = _BINARY[name]
    return lambda c, a, b: fn(a, b)


for _name in _UNARY:
    OPS[_name] = _unary(_name)
for _name in _BINARY:
    OPS[_name] = _binary(_name)


@op("Div")
def _div(c: NodeCall, a, b):
    if a.dtype.is_floating_point or a.dtype.is_complex:
        return torch.div(a, b)
    return torch.div(a, b, rounding_mode="trunc")  # ONNX integer division truncates


@op("Mod")
def _mod(c: NodeCall, a, b):
    return torch.fmod(a, b) if c.attr("fmod", 0) else torch.remainder(a, b)


@op("Max", "Min", "Sum", "Mean")
def _variadic(c: NodeCall, *xs):
    fn = {"Max": torch.maximum, "Min": torch.minimum}.get(c.op_type, torch.add)
    y = xs[0]
    for x in xs[1:]:
        y = fn(y, x)
    return y / len(xs) if c.op_type == "Mean" else y


@op("Where")
def _where(c: NodeCall, cond, a, b):
    return torch.where(cond, a, b)


@op("Clip")
def _clip(c: NodeCall, x, lo=None, hi=None):
    low = c.const(1) if lo is not None else c.attr("min")
    high = c.const(2) if hi is not None else c.attr("max")
    if low is None and high is None:  # bounds computed at run time: a clamp all the same
        low = -math.inf
    return torch.clamp(x, low, high)


@op("LeakyRelu")
def _leaky(c: NodeCall, x):
    return F.leaky_relu(x, c.attr("alpha", 0.01))


@op("Elu", "Celu", "Selu", "ThresholdedRelu")
def _elu_family(c: NodeCall, x):
    if c.op_type == "Elu":
        return F.elu(x, c.attr("alpha", 1.0))
    if c.op_type == "Celu":
        return F.celu(x, c.attr("alpha", 1.0))
    if c.op_type == "Selu":
        return F.selu(x)
    return F.threshold(x, c.attr("alpha", 1.0), 0.0)


@op("HardSigmoid")
def _hard_sigmoid(c: NodeCall, x):
    alpha, beta = c.attr("alpha", 0.2), c.attr("beta", 0.5)
    if abs(alpha - 1 / 6) < 1e-6 and abs(beta - 0.5) < 1e-6:
        return F.hardsigmoid(x)  # what nn.Hardsigmoid exports to
    return torch.clamp(x * alpha + beta, 0.0, 1.0)


@op("Gelu", "com.microsoft.Gelu", "com.microsoft.FastGelu", "com.microsoft.BiasGelu")
def _gelu(c: NodeCall, x, bias=None):
    if bias is not None:
        x = x + bias
    tanh = c.op_type.endswith("FastGelu") or _text(c.attr("approximate", "none")) == "tanh"
    return F.gelu(x, approximate="tanh" if tanh else "none")


def _activation(c: NodeCall, y: torch.Tensor) -> torch.Tensor:
    """The activation a fused contrib node (FusedConv, FusedGemm) applies after it."""
    name = _text(c.attr("activation", ""))
    if not name:
        return y
    if name == "LeakyRelu":
        return F.leaky_relu(y, (c.attr("activation_params") or [0.01])[0])
    if name == "Clip":
        lo, hi = (c.attr("activation_params") or [-math.inf, math.inf])[:2]
        return torch.clamp(y, lo, hi)
    if name in _UNARY:
        return _UNARY[name](y)
    raise FlopwiseError(f"ONNX node {c.name}: unknown fused activation {name!r}")


# -- softmax, norms ----------------------------------------------------------------------
@op("Softmax", "LogSoftmax")
def _softmax(c: NodeCall, x):
    axis = c.attr("axis", -1 if c.opset >= 13 else 1)
    fn = torch.softmax if c.op_type == "Softmax" else torch.log_softmax
    if c.opset >= 13 or axis == x.ndim - 1:
        return fn(x, axis)
    # opset < 13 normalises over the flattened trailing block from axis on
    flat = x.reshape(*x.shape[:axis], -1)
    return fn(flat, -1).reshape(x.shape)


@op("BatchNormalization")
def _batch_norm(c: NodeCall, x, scale, bias, mean, var, *_):
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=c.attr("epsilon", 1e-5))


@op("LayerNormalization", "com.microsoft.LayerNormalization")
def _layer_norm(c: NodeCall, x, scale, bias=None):
    axis = c.attr("axis", -1) % x.ndim
    shape = list(x.shape[axis:])
    scale = scale.expand(shape) if list(scale.shape) != shape else scale
    bias = bias.expand(shape) if bias is not None and list(bias.shape) != shape else bias
    return F.layer_norm(x, shape, scale, bias, c.attr("epsilon", 1e-5))


@op(
    "RMSNormalization", "SimplifiedLayerNormalization", "com.microsoft.SimplifiedLayerNormalization"
)
def _rms_norm(c: NodeCall, x, scale):
    axis = c.attr("axis", -1) % x.ndim
    return F.rms_norm(x, list(x.shape[axis:]), scale, c.attr("epsilon", 1e-5))


@op("com.microsoft.SkipLayerNormalization", "com.microsoft.SkipSimplifiedLayerNormalization")
def _skip_norm(c: NodeCall, x, skip, gamma, beta=None, bias=None):
    s = x + skip
    s = s + bias if bias is not None else s
    shape = [x.shape[-1]]
    eps = c.attr("epsilon", 1e-5)
    if c.op_type.endswith("SkipSimplifiedLayerNormalization"):
        y = F.rms_norm(s, shape, gamma, eps)
    else:
        y = F.layer_norm(s, shape, gamma, beta, eps)
    extra = [None, None, s][: max(0, len(c.out_shapes) - 1)]
    return (y, *[e if e is not None else _free(c, i + 1, s) for i, e in enumerate(extra)])


def _free(c: NodeCall, i: int, like: torch.Tensor) -> torch.Tensor:
    """An optional statistics output (mean, inverse std) nobody is expected to read."""
    return like.new_empty(c.out_shapes[i], dtype=c.out_dtypes[i])


@op("InstanceNormalization")
def _instance_norm(c: NodeCall, x, scale, bias):
    return F.instance_norm(x, weight=scale, bias=bias, eps=c.attr("epsilon", 1e-5))


@op("GroupNormalization")
def _group_norm(c: NodeCall, x, scale, bias):
    groups = c.attr("num_groups")
    if scale.shape[0] != x.shape[1]:  # opset 18: one scale per group
        scale = scale.repeat_interleave(x.shape[1] // groups)
        bias = bias.repeat_interleave(x.shape[1] // groups)
    return F.group_norm(x, groups, scale, bias, c.attr("epsilon", 1e-5))


@op("LpNormalization")
def _lp_norm(c: NodeCall, x):
    return F.normalize(x, float(c.attr("p", 2)), c.attr("axis", -1))


# -- reductions --------------------------------------------------------------------------
def _axes(c: NodeCall, x: torch.Tensor, has_input: bool) -> list[int] | None:
    """Reduced axes from the attribute or the constant second input; None = all."""
    axes = c.const(1) if has_input else c.attr("axes")
    if axes is None and has_input:  # computed at run time: read them off the shapes
        out = c.out
        if len(out) == x.ndim:
            axes = [i for i in range(x.ndim) if out[i] != x.shape[i] or out[i] == 1]
    if not axes and c.attr("noop_with_empty_axes", 0):
        return []
    return [a % x.ndim for a in axes] if axes else None


_REDUCE: dict[str, Callable[..., torch.Tensor]] = {
    "ReduceSum": lambda x, d, k: torch.sum(x, d, keepdim=k),
    "ReduceMean": lambda x, d, k: torch.mean(x, d, keepdim=k),
    "ReduceMax": lambda x, d, k: torch.amax(x, d, keepdim=k),
    "ReduceMin": lambda x, d, k: torch.amin(x, d, keepdim=k),
    "ReduceL1": lambda x, d, k: torch.linalg.vector_norm(x, 1, d, keepdim=k),
    "ReduceL2": lambda x, d, k: torch.linalg.vector_norm(x, 2, d, keepdim=k),
    "ReduceLogSumExp": lambda x, d, k: torch.logsumexp(x, d, keepdim=k),
    "ReduceSumSquare": lambda x, d, k: torch.sum(x * x, d, keepdim=k),
    "ReduceLogSum": lambda x, d, k: torch.log(torch.sum(x, d, keepdim=k)),
}


@op(*_REDUCE, "ReduceProd")
def _reduce(c: NodeCall, x, axes_in=None):
    # axes are an attribute before opset 18 (13 for ReduceSum), an optional input after
    dims = _axes(c, x, axes_in is not None)
    keep = bool(c.attr("keepdims", 1))
    if dims == []:
        return x
    if c.op_type == "ReduceProd":
        y = x
        for d in sorted(dims or range(x.ndim), reverse=True):
            y = torch.prod(y, d, keepdim=keep)
        return y
    y = _REDUCE[c.op_type](x, dims if dims is not None else list(range(x.ndim)), keep)
    return y.reshape(c.out) if tuple(y.shape) != tuple(c.out) else y


@op("ArgMax", "ArgMin")
def _argmax(c: NodeCall, x):
    fn = torch.argmax if c.op_type == "ArgMax" else torch.argmin
    return fn(x, c.attr("axis", 0), keepdim=bool(c.attr("keepdims", 1)))


@op("CumSum")
def _cumsum(c: NodeCall, x, axis):
    value = c.const(1)
    return torch.cumsum(x, int(value if not isinstance(value, list) else value[0]))


@op("TopK")
def _topk(c: NodeCall, x, k):
    axis = c.attr("axis", -1) % x.ndim
    return tuple(
        torch.topk(
            x,
            c.out[axis],
            dim=axis,
            largest=bool(c.attr("largest", 1)),
            sorted=bool(c.attr("sorted", 1)),
        )
    )


# -- pooling -----------------------------------------------------------------------------
@op("MaxPool", "AveragePool", "LpPool")
def _pool(c: NodeCall, x):
    kernel = list(c.attr("kernel_shape"))
    nd = len(kernel)
    strides = c.attr("strides", [1] * nd)
    pads = _conv_pads(c, list(x.shape[2:]), kernel)
    if pads[:nd] != pads[nd:] or any(p > k // 2 for p, k in zip(pads, kernel * 2, strict=False)):
        fill = -math.inf if c.op_type == "MaxPool" else 0.0
        x = F.pad(x, _torch_pad(pads), value=fill)
        pads = [0] * (2 * nd)
    ceil = bool(c.attr("ceil_mode", 0))
    if c.op_type == "MaxPool":
        fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
        dil = c.attr("dilations", [1] * nd)
        out = fn(x, kernel, strides, pads[:nd], dil, ceil, len(c.out_shapes) > 1)
        return tuple(out) if isinstance(out, tuple) else out
    if c.op_type == "LpPool":
        return (
            F.lp_pool2d(x, float(c.attr("p", 2)), kernel, strides, ceil)
            if nd == 2
            else unmapped(c, x)
        )
    fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1]
    return fn(x, kernel, strides, pads[:nd], ceil, bool(c.attr("count_include_pad", 0)))


@op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(c: NodeCall, x):
    nd = x.ndim - 2
    if c.op_type == "GlobalAveragePool":
        return (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[nd - 1](x, 1)
    return (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d)[nd - 1](x, 1)


@op("Resize", "Upsample")
def _resize(c: NodeCall, x, *_):
    mode = _text(c.attr("mode", "nearest"))
    size = list(c.out[2:])
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    nd = len(size)
    name = {"linear": ("linear", "bilinear", "trilinear")[nd - 1], "cubic": "bicubic"}[mode]
    align = _text(c.attr("coordinate_transformation_mode", "half_pixel")) == "align_corners"
    return F.interpolate(x, size=size, mode=name, align_corners=align)


@op("DepthToSpace", "SpaceToDepth")
def _depth_space(c: NodeCall, x):
    size = c.attr("blocksize")
    return F.pixel_shuffle(x, size) if c.op_type == "DepthToSpace" else F.pixel_unshuffle(x, size)


# -- data movement: from the static shapes, never from values ----------------------------
@op("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def _reshape(c: NodeCall, x, *_):
    return x.reshape(c.out)


@op("Identity", "Dropout", "com.microsoft.BiasDropout")
def _identity(c: NodeCall, x, *_):
    # PyTorch's eval-mode dropout and an identity run no op at all
    return (
        x,
        *[x.new_ones(s, dtype=d) for s, d in zip(c.out_shapes[1:], c.out_dtypes[1:], strict=False)],
    )


@op("Transpose")
def _transpose(c: NodeCall, x):
    perm = c.attr("perm") or list(reversed(range(x.ndim)))
    return x.permute(perm)


@op("Slice")
def _slice(c: NodeCall, x, *_):
    y = x
    for axis, size in enumerate(c.out):
        if size != y.shape[axis]:
            y = y.narrow(axis, 0, size)  # which window does not change the cost (a view)
    return y


@op("Gather")
def _gather(c: NodeCall, x, idx):
    axis = c.attr("axis", 0) % x.ndim
    if idx.ndim == 0:
        return x.select(axis, 0)
    if axis == 0 and x.ndim == 2 and x.dtype.is_floating_point:
        return F.embedding(idx, x)  # nn.Embedding's lookup
    return torch.index_select(x, axis, idx.reshape(-1)).reshape(c.out)


@op("GatherElements")
def _gather_elements(c: NodeCall, x, idx):
    return torch.gather(x, c.attr("axis", 0), idx)


@op("ScatterElements", "Scatter")
def _scatter(c: NodeCall, x, idx, upd):
    axis = c.attr("axis", 0)
    reduce = _text(c.attr("reduction", "none"))
    if reduce == "none":
        return torch.scatter(x, axis, idx, upd)
    return torch.scatter_reduce(
        x, axis, idx, upd, {"add": "sum", "mul": "prod"}.get(reduce, reduce)
    )


@op("GatherND", "ScatterND", "NonZero", "OneHot", "Compress", "Unique")
def _materialize(c: NodeCall, x, *rest):
    """Ops whose result depends on index values: priced as a copy into their output."""
    outs = []
    for shape, dtype in zip(c.out_shapes, c.out_dtypes, strict=True):
        n = math.prod(shape)
        flat = x.reshape(-1)
        src = flat[:n] if n <= flat.numel() else flat.repeat(n // max(flat.numel(), 1) + 1)[:n]
        outs.append((src.to(dtype) if src.dtype != dtype else src.clone()).reshape(shape))
    return tuple(outs)


@op("Concat")
def _concat(c: NodeCall, *xs):
    return torch.cat([x for x in xs if x is not None], c.attr("axis", 0))


@op("Split")
def _split(c: NodeCall, x, *_):
    axis = c.attr("axis", 0) % x.ndim
    return tuple(torch.split(x, [s[axis] for s in c.out_shapes], dim=axis))


@op("Expand")
def _expand(c: NodeCall, x, _shape):
    out = c.out
    x = x.reshape((1,) * (len(out) - x.ndim) + tuple(x.shape)) if x.ndim < len(out) else x
    return x.expand(out)


@op("Tile")
def _tile(c: NodeCall, x, _reps):
    return x.repeat([o // max(i, 1) for o, i in zip(c.out, x.shape, strict=True)])


@op("Pad")
def _pad(c: NodeCall, x, pads_in=None, value=None, axes=None):
    pads = c.const(1) if pads_in is not None else c.attr("pads")
    if pads is None or axes is not None:  # unknown split: the whole growth at the end
        pads = [0] * x.ndim + [o - i for o, i in zip(c.out, x.shape, strict=True)]
    mode = {"edge": "replicate", "wrap": "circular"}.get(_text(c.attr("mode", "constant")))
    mode = mode or _text(c.attr("mode", "constant"))
    torch_pads = _torch_pad(pads)
    while len(torch_pads) > 2 and torch_pads[-2:] == [0, 0] and mode != "constant":
        torch_pads = torch_pads[:-2]  # reflect/replicate pad only the trailing dims
    return F.pad(x, torch_pads, mode=mode)


@op("Cast", "CastLike")
def _cast(c: NodeCall, x, *_):
    return x.to(c.out_dtypes[0])


@op("Trilu")
def _trilu(c: NodeCall, x, k=None):
    diagonal = int(c.const(1) or 0) if k is not None else 0
    return torch.triu(x, diagonal) if c.attr("upper", 1) else torch.tril(x, diagonal)


@op("Range")
def _range(c: NodeCall, start, limit, delta):
    return torch.arange(c.out[0], dtype=c.out_dtypes[0], device=start.device)


@op("ConstantOfShape", "RandomNormalLike", "RandomUniformLike", "EyeLike")
def _factory(c: NodeCall, x, *_):
    return torch.zeros(c.out, dtype=c.out_dtypes[0], device=x.device)
