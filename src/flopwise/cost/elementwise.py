"""Every op with arithmetic that is not a contraction.

Elementwise arithmetic, activations, softmax, normalisation, reductions, pooling,
interpolation, cumulative ops, FFTs, dropout, losses, and the backward ops autograd runs
for them. Each op's constant lives in the rules table (rules.py), one row per family; the
counters below (``@counter``) turn a call into elements and read their numbers from that
table and nowhere else, and each registers itself for the ops of the rows that name it.

Shared rules (docs/conventions.md states them in full):

* Elementwise flops are per **output** element (broadcast inputs are not counted twice);
  reductions are per **input** element. Per-row or per-channel work that is amortised
  over a whole row (the ``1/N`` of a mean, ``rsqrt`` of a variance, the tap weights of an
  interpolation) is not counted.
* Integer and boolean arithmetic is not floating-point: an op none of whose tensors is
  floating or complex counts 0 flops (index arithmetic, mask sums, position ids).
* Complex data: ``complex_flops`` when the rule gives it (a complex multiply is 6 real
  flops), otherwise twice the real constant; ``mixed_flops`` when a binary op meets a
  real operand (complex × real is 2 real multiplies, complex + real 1 add).
* ``activations`` is 0 for everything here except forward pooling, which reports its
  output elements (pycls semantics).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

import torch

from flopwise.cost.rules import FOREACH, Rule, counter, rule
from flopwise.cost.types import OpCall, OpCost, TensorMeta

# ---------------------------------------------------------------------------------------
# pure helpers (shape arithmetic shared with the tests and the analytic models)


def is_floating(call: OpCall) -> bool:
    """True when the op computes in floating point: any tensor it reads or writes is floating
    or complex, unless a ``dtype=`` argument says which type it computes in (``sum`` and
    ``cumsum`` cast their input to ``dtype`` first: ``cumsum(counts_f32, dtype=int32)`` adds
    integers)."""
    dtype = call.kwargs.get("dtype")
    if isinstance(dtype, torch.dtype):
        return dtype.is_floating_point or dtype.is_complex
    return any(
        t.dtype.is_floating_point or t.dtype.is_complex
        for t in (*call.tensor_inputs(), *call.outputs)
    )


def is_complex(call: OpCall) -> bool:
    return any(t.dtype.is_complex for t in (*call.tensor_inputs(), *call.outputs))


def broadcast_numel(shapes: Iterable[tuple[int, ...]]) -> int:
    shapes = list(shapes)
    width = max((len(s) for s in shapes), default=0)
    dims = [1] * width
    for shape in shapes:
        for i, size in enumerate((1,) * (width - len(shape)) + tuple(shape)):
            if size != 1:
                dims[i] = size
    return math.prod(dims)


def output_elements(call: OpCall) -> int:
    """Elements of the first output; without outputs, the broadcast of the tensor inputs."""
    if call.outputs:
        return call.outputs[0].numel
    return broadcast_numel(t.shape for t in call.tensor_inputs())


def expand_param(value, dims: int) -> tuple[int, ...]:
    """An ATen ``int[d]`` argument (int or list of 1 or d ints) as a d-tuple."""
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * dims
    return value[-dims:]


def adaptive_window_sum(in_size: int, out_size: int) -> int:
    """Σ over outputs of the adaptive window length along one dim:
    window i = [⌊i·I/O⌋, ⌈(i+1)·I/O⌉)."""
    total = 0
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)
        total += end - start
    return total


def adaptive_pool_window_elements(
    in_shape: tuple[int, ...], out_shape: tuple[int, ...], dims: int
) -> int:
    """Window elements summed over all outputs of an adaptive pool over the last ``dims``."""
    leading = math.prod(out_shape[:-dims]) if dims else math.prod(out_shape)
    per_plane = math.prod(
        adaptive_window_sum(i, o) for i, o in zip(in_shape[-dims:], out_shape[-dims:], strict=True)
    )
    return leading * per_plane


def fft_transform_flops(n: int, per_n_log_n: int | Fraction) -> int:
    """flops of one length-``n`` transform: c·n·log2(n), rounded to the nearest integer
    (exact for powers of two)."""
    if n <= 1:
        return 0
    if n & (n - 1) == 0:
        exact = Fraction(per_n_log_n) * n * (n.bit_length() - 1)
        return int(exact) if exact.denominator == 1 else round(exact)
    return round(float(per_n_log_n) * n * math.log2(n))


def fft_flops(shape: tuple[int, ...], dims: Iterable[int], per_n_log_n: int | Fraction) -> int:
    """Σ over transformed dims d of (numel / N_d) transforms of length N_d."""
    numel = math.prod(shape)
    total = 0
    for d in dims:
        n = shape[d]
        if n:
            total += (numel // n) * fft_transform_flops(n, per_n_log_n)
    return total


def sort_comparisons(shape: tuple[int, ...], dim: int) -> int:
    """numel · ⌈log2 N⌉ with N the length of the sorted dim."""
    if not shape:
        return 0
    n = shape[dim]
    return math.prod(shape) * (n - 1).bit_length() if n > 1 else 0


def _cost(flops: int, category: str, activations: int = 0) -> OpCost:
    return OpCost(flops=int(flops), activations=activations, category=category)


def _per_element(call: OpCall, r: Rule, elements: int, constant: int) -> OpCost:
    if not is_floating(call):
        return _cost(0, r.category)
    if is_complex(call):
        if mixed_complex(call, r):
            constant = r.mixed_flops
        else:
            constant = r.complex_flops if r.complex_flops is not None else 2 * constant
    return _cost(elements * constant, r.category)


def _complex_value(value) -> bool:
    """Whether an operand (tensor, Python number, or a list of tensors) holds complex data."""
    if isinstance(value, (list, tuple)):
        return any(_complex_value(v) for v in value)
    if isinstance(value, TensorMeta):
        return value.dtype.is_complex
    return isinstance(value, complex)


def mixed_complex(call: OpCall, r: Rule) -> bool:
    """True when a binary op whose rule prices it (``mixed_flops``) combines complex data
    with a real operand: complex ± real touches the real part only, complex × real and
    complex ÷ real scale both parts. A real dividend over a complex divisor is a full
    complex divide."""
    if r.mixed_flops is None or len(call.args) < 2:
        return False
    a, b = _complex_value(call.args[0]), _complex_value(call.args[1])
    if r.key == "div":
        return a and not b
    return a != b


def _tensor(value) -> bool:
    return isinstance(value, TensorMeta)


# ---------------------------------------------------------------------------------------
# elementwise and activations


@counter("per_output")
def _per_output(call: OpCall, r: Rule) -> OpCost:
    """``rule.flops`` per output element."""
    return _per_element(call, r, output_elements(call), r.flops)


@counter("add")
def _add(call: OpCall, r: Rule) -> OpCost:
    """add/sub/rsub: 1 per output element, 2 with a non-unit ``alpha``."""
    alpha = call.kwargs.get("alpha", call.args[2] if len(call.args) > 2 else 1)
    constant = r.flops + (r.extra("alpha ≠ 1") if alpha != 1 else 0)
    if is_floating(call) and is_complex(call) and alpha != 1:
        # the add (complex 2, complex ± real 1) plus the real alpha scaling ``other``
        # (2 for complex ``other``, 1 for real)
        add = r.mixed_flops if mixed_complex(call, r) else r.complex_flops
        scale = 2 if _complex_value(call.args[1]) else 1
        return _cost(output_elements(call) * (add + scale), r.category)
    return _per_element(call, r, output_elements(call), constant)


@counter("gelu")
def _gelu(call: OpCall, r: Rule) -> OpCost:
    tanh = call.kwargs.get("approximate", "none") == "tanh"
    constant = r.flops + (r.extra("approximate='tanh'") if tanh else 0)
    return _per_element(call, r, output_elements(call), constant)


@counter("dropout")
def _dropout(call: OpCall, r: Rule) -> OpCost:
    train = call.arg(2, "train", True)
    if train is False:
        return _cost(0, r.category)
    return _per_element(call, r, output_elements(call), r.flops)


@counter(FOREACH)
def _foreach(call: OpCall, r: Rule) -> OpCost:
    """Multi-tensor (optimizer) kernels: ``_foreach_<op>`` costs ``<op>`` on every tensor of
    its first list argument."""
    tensors = call.args[0] if isinstance(call.args[0], (list, tuple)) else [call.args[0]]
    elements = sum(t.numel for t in tensors if _tensor(t))
    constant = r.flops
    if r.key == "add" and call.kwargs.get("alpha", 1) != 1:
        constant += r.extra("alpha ≠ 1")
    if r.key == "vector_norm" and not _simple_order(call.arg(1, "ord", 2)):
        constant += r.extra("p ∉ {0, 1, 2, ±inf}")
    return _per_element(call, r, elements, constant)


# ---------------------------------------------------------------------------------------
# normalisation


@counter("norm")
def _norm(call: OpCall, r: Rule) -> OpCost:
    """native_layer_norm(input, shape, weight, bias, eps) /
    native_group_norm(input, weight, bias, N, C, HxW, group, eps) /
    _fused_rms_norm(input, shape, weight, eps)."""
    x = call.args[0]
    if call.op.startswith("aten.native_group_norm"):
        weight, bias = call.arg(1, "weight"), call.arg(2, "bias")
    else:
        weight, bias = call.arg(2, "weight"), call.arg(3, "bias")
    constant = r.flops + (r.extra("weight") if _tensor(weight) else 0)
    if r.key == "layer_norm" and _tensor(bias):
        constant += r.extra("bias")
    return _per_element(call, r, x.numel, constant)


def batch_norm_training(call: OpCall) -> bool:
    """Whether a batch-norm forward computes batch statistics."""
    name = call.op.split(".")[1]
    if name in ("_native_batch_norm_legit_no_training", "_batch_norm_no_update"):
        return False
    if name in ("_batch_norm_with_update", "_batch_norm_with_update_functional"):
        return True
    if call.op.startswith("aten._native_batch_norm_legit.no_stats"):
        return bool(call.arg(3, "training", True))
    return bool(call.arg(5, "training", True))


@counter("batch_norm")
def _batch_norm(call: OpCall, r: Rule) -> OpCost:
    """(input, weight, bias, running_mean, running_var, [training,] momentum, eps)."""
    x, weight, bias = call.args[0], call.arg(1, "weight"), call.arg(2, "bias")
    constant = r.flops
    constant += r.extra("training") if batch_norm_training(call) else 0
    constant += r.extra("weight") if _tensor(weight) else 0
    constant += r.extra("bias") if _tensor(bias) else 0
    return _per_element(call, r, x.numel, constant)


@counter("weight_norm")
def _weight_norm(call: OpCall, r: Rule) -> OpCost:
    """_weight_norm_interface(v, g, dim) and _weight_norm_interface_backward(grad_w, v, g,
    norms, dim): ``rule.flops`` per element of v plus the row's own work, the ``element of
    g`` term, once per element of g (g holds one value per row)."""
    first = 1 if call.op.startswith("aten._weight_norm_interface_backward") else 0
    v, g = call.args[first], call.args[first + 1]
    cost = _per_element(call, r, v.numel, r.flops)
    return _cost(cost.flops + (g.numel * r.extra("element of g") if cost.flops else 0), r.category)


def _norm_backward_args(call: OpCall) -> tuple[TensorMeta, object, list[bool], bool]:
    """(input, weight, output_mask, batch statistics?) of a normalisation backward."""
    name = call.op.split(".")[1]
    if name == "native_layer_norm_backward":
        return call.args[1], call.arg(5, "weight"), list(call.arg(7, "output_mask")), True
    if name == "native_group_norm_backward":
        return call.args[1], call.arg(4, "weight"), list(call.arg(9, "output_mask")), True
    if name == "native_batch_norm_backward":
        mask = list(call.arg(9, "output_mask"))
        return call.args[1], call.arg(2, "weight"), mask, bool(call.arg(7, "train"))
    if name == "batch_norm_backward":
        mask = list(call.arg(9, "output_mask"))
        return call.args[1], call.arg(2, "weight"), mask, bool(call.arg(7, "update"))
    # cudnn/miopen: (input, grad_output, weight, ...): training, all three gradients.
    return call.args[0], call.arg(2, "weight"), [True, True, True], True


@counter("norm_backward")
def _norm_backward(call: OpCall, r: Rule) -> OpCost:
    x, weight, mask, batch_stats = _norm_backward_args(call)
    grad_input, grad_weight, grad_bias = (bool(m) for m in (mask + [False] * 3)[:3])
    has_weight = _tensor(weight)
    grad_weight = grad_weight and has_weight
    constant = 0
    if grad_weight or (grad_input and batch_stats):
        constant += r.extra("x̂ (grad_input or grad_weight)")
    if grad_input:
        if batch_stats:
            constant += r.extra("grad_input")
            constant += r.extra("grad_input with weight") if has_weight else 0
        else:
            constant += r.extra("grad_input, running statistics")
    constant += r.extra("grad_weight") if grad_weight else 0
    constant += r.extra("grad_bias") if grad_bias and has_weight else 0
    return _per_element(call, r, x.numel, constant)


@counter("rms_norm_backward")
def _rms_norm_backward(call: OpCall, r: Rule) -> OpCost:
    """_fused_rms_norm_backward(grad_out, input, shape, rstd, weight, output_mask)."""
    x, weight = call.args[1], call.arg(4, "weight")
    mask = list(call.arg(5, "output_mask", [True, True]))
    grad_input, grad_weight = bool(mask[0]), bool(mask[1]) and _tensor(weight)
    constant = r.extra("x̂ (grad_input or grad_weight)") if grad_input or grad_weight else 0
    if grad_input:
        constant += r.extra("grad_input")
        constant += r.extra("grad_input with weight") if _tensor(weight) else 0
    constant += r.extra("grad_weight") if grad_weight else 0
    return _per_element(call, r, x.numel, constant)


# ---------------------------------------------------------------------------------------
# reductions, cumulative ops, sort


@counter("per_first_input")
def _per_first_input(call: OpCall, r: Rule) -> OpCost:
    """``rule.flops`` per element of the first tensor argument: the reduced input, or the
    incoming gradient of a backward."""
    return _per_element(call, r, call.args[0].numel, r.flops)


@counter("histogram")
def _histogram(call: OpCall, r: Rule) -> OpCost:
    """``rule.flops`` per input element, whatever the dtype: transformers' MoE bins routing
    ids as int32 on CUDA and as float32 on CPU, and that must not change the count."""
    return _cost(call.args[0].numel * r.flops, r.category)


def _norm_order(call: OpCall):
    if call.op.startswith("aten.linalg_vector_norm"):
        return call.arg(1, "ord", 2)
    p = call.arg(1, "p", 2)
    return 2 if p is None else p


def _simple_order(p) -> bool:
    """Whether |x|^p is one step: p in {0, 1, 2, ±inf} (abs, square, test)."""
    return p in (0, 1, 2) or (isinstance(p, float) and math.isinf(p))


@counter("vector_norm")
def _vector_norm(call: OpCall, r: Rule) -> OpCost:
    simple = _simple_order(_norm_order(call))
    constant = r.flops + (0 if simple else r.extra("p ∉ {0, 1, 2, ±inf}"))
    return _per_element(call, r, call.args[0].numel, constant)


@counter("sort")
def _sort(call: OpCall, r: Rule) -> OpCost:
    x = call.args[0]
    if "stable" in call.op or "dim" in call.kwargs:
        dim = call.kwargs.get("dim", -1)
    else:
        dim = call.arg(1, "dim", -1)
    if not is_floating(call):
        return _cost(0, r.category)
    return _cost(r.flops * sort_comparisons(x.shape, dim), r.category)


@counter("mode")
def _mode(call: OpCall, r: Rule) -> OpCost:
    """mode(self, dim=-1, keepdim): a sort of every slice, then a scan of its runs."""
    x = call.args[0]
    if not is_floating(call):
        return _cost(0, r.category)
    comparisons = r.flops * sort_comparisons(x.shape, call.arg(1, "dim", -1))
    return _cost(comparisons + r.extra("input element (the run scan)") * x.numel, r.category)


@counter("renorm")
def _renorm(call: OpCall, r: Rule) -> OpCost:
    """renorm(self, p, dim, maxnorm)."""
    p = float(call.arg(1, "p", 2))
    constant = r.flops + (r.extra("p ∉ {0, 1, 2, ±inf}") if p not in (0, 1, 2, math.inf) else 0)
    return _per_element(call, r, call.args[0].numel, constant)


def search_comparisons(queries: int, boundaries: int) -> int:
    """Binary search of ``queries`` values among ``boundaries`` sorted values:
    ⌈log2(M+1)⌉ comparisons each (M+1 insertion slots)."""
    return queries * boundaries.bit_length()  # ⌈log2(M+1)⌉ = bit length of M


def unique_comparisons(slices: int, slice_elements: int, consecutive: bool) -> int:
    """Sort-based unique over ``slices`` items of ``slice_elements`` elements each: a
    comparison sort (S·⌈log2 S⌉ item comparisons) unless ``consecutive``, then S−1
    adjacent comparisons; every item comparison compares ``slice_elements`` elements."""
    if slices <= 1:
        return 0
    sort = 0 if consecutive else slices * (slices - 1).bit_length()
    return slice_elements * (sort + slices - 1)


def isin_comparisons(elements: int, tests: int) -> int:
    """The cheaper of the all-pairs scan and sort-then-binary-search."""
    if elements == 0 or tests == 0:
        return 0
    return min(
        elements * tests,
        tests * (tests - 1).bit_length() + search_comparisons(elements, tests),
    )


def _numel(value) -> int:
    return value.numel if _tensor(value) else 1  # a Scalar operand is one value


@counter("search")
def _search(call: OpCall, r: Rule) -> OpCost:
    """searchsorted(sorted_sequence [.., M], self) / bucketize(self, boundaries [M])."""
    if call.op.startswith("aten.searchsorted"):
        boundaries, queries = call.args[0], call.args[1]
    else:
        queries, boundaries = call.args[0], call.args[1]
    return _per_element(call, r, search_comparisons(_numel(queries), boundaries.shape[-1]), 1)


@counter("unique")
def _unique(call: OpCall, r: Rule) -> OpCost:
    """_unique/_unique2(self, ...), unique_dim(self, dim, ...),
    unique_consecutive(self, return_inverse, return_counts, dim),
    unique_dim_consecutive(self, dim, ...)."""
    x = call.args[0]
    name = call.op.split(".")[1]
    consecutive = "consecutive" in name
    if name == "unique_consecutive":
        dim = call.arg(3, "dim")
    elif name in ("unique_dim", "unique_dim_consecutive"):
        dim = call.arg(1, "dim")
    else:
        dim = None
    if dim is None or not x.shape:
        work = unique_comparisons(x.numel, 1, consecutive)
    else:
        slices = x.shape[dim]
        work = unique_comparisons(slices, x.numel // slices if slices else 0, consecutive)
    return _per_element(call, r, work, 1)


@counter("isin")
def _isin(call: OpCall, r: Rule) -> OpCost:
    """isin(elements, test_elements): either side may be a Scalar."""
    work = isin_comparisons(_numel(call.args[0]), _numel(call.args[1]))
    return _per_element(call, r, work, 1)


# ---------------------------------------------------------------------------------------
# accumulating scatters, embedding backward, losses


def index_put_updates(target: TensorMeta, indices, values: TensorMeta) -> int:
    """Elements an accumulating ``index_put`` adds into: the index positions (the broadcast
    of the integer index tensors) × the elements of the slice each position selects (the
    dims of ``target`` no index covers), however much ``values`` is broadcast.

    A boolean mask selects a data-dependent number of positions; the values tensor then
    gives the count (exact when it is not broadcast, the form autograd's index backward
    passes)."""
    indices = list(indices or [])
    if any(_tensor(i) and i.dtype == torch.bool for i in indices):
        return values.numel if _tensor(values) else 1
    covered = {d for d, i in enumerate(indices) if _tensor(i)}
    positions = broadcast_numel(i.shape for i in indices if _tensor(i))
    slice_elements = math.prod(size for d, size in enumerate(target.shape) if d not in covered)
    return positions * slice_elements


@counter("scatter_accumulate")
def _scatter_accumulate(call: OpCall, r: Rule) -> OpCost:
    name = call.op.split(".")[1]
    if name in (
        "index_put",
        "index_put_",
        "_unsafe_index_put",
        "_index_put_impl",
        "_index_put_impl_",
    ):
        if not call.arg(3, "accumulate", False):
            return OpCost(category="memory")
        updates = index_put_updates(call.args[0], call.arg(1, "indices"), call.arg(2, "values"))
        return _per_element(call, r, updates, r.flops)
    elif name in ("put", "put_"):  # (self, index, source, accumulate): flat positions
        if not call.arg(3, "accumulate", False):
            return OpCost(category="memory")
        source = call.arg(2, "source")
    elif name in ("scatter", "scatter_"):
        source = call.arg(3, "src")
        if not _tensor(source):  # value_reduce: one update per index element
            source = call.arg(2, "index")
    else:  # index_add, scatter_add, scatter_reduce, index_reduce: (self, dim, index, src)
        source = call.arg(3, "source")
    elements = source.numel if _tensor(source) else 1
    return _per_element(call, r, elements, r.flops)


@counter("embedding_backward")
def _embedding_backward(call: OpCall, r: Rule) -> OpCost:
    """embedding_dense_backward(grad_output, indices, num_weights, padding_idx, scale)."""
    constant = r.flops + (r.extra("scale_grad_by_freq") if call.arg(4, "scale_grad_by_freq") else 0)
    return _per_element(call, r, call.args[0].numel, constant)


@counter("nll_loss")
def _nll_loss(call: OpCall, r: Rule) -> OpCost:
    """nll_loss_forward(self, target, weight, ...) /
    nll_loss_backward(grad, self, target, weight, ...)."""
    backward = "backward" in call.op
    target = call.args[2] if backward else call.args[1]
    weight = call.arg(3 if backward else 2, "weight")
    constant = r.flops + (r.extra("weight") if _tensor(weight) else 0)
    return _per_element(call, r, target.numel, constant)


@counter("mse_loss")
def _mse_loss(call: OpCall, r: Rule) -> OpCost:
    reduced = call.arg(2, "reduction", 1) != 0
    constant = r.flops + (r.extra("reduction ≠ 'none'") if reduced else 0)
    return _per_element(call, r, call.args[0].numel, constant)


@counter("bce")
def _bce(call: OpCall, r: Rule) -> OpCost:
    constant = r.flops
    constant += r.extra("reduction ≠ 'none'") if call.arg(3, "reduction", 1) != 0 else 0
    constant += r.extra("weight") if _tensor(call.arg(2, "weight")) else 0
    return _per_element(call, r, call.args[0].numel, constant)


@counter("bce_backward")
def _bce_backward(call: OpCall, r: Rule) -> OpCost:
    constant = r.flops + (r.extra("weight") if _tensor(call.arg(3, "weight")) else 0)
    return _per_element(call, r, call.args[1].numel, constant)


@counter("smooth_l1")
def _smooth_l1(call: OpCall, r: Rule) -> OpCost:
    """(self, target, reduction, beta/delta)."""
    constant = r.flops + (r.extra("reduction ≠ 'none'") if call.arg(2, "reduction", 1) else 0)
    return _per_element(call, r, call.args[0].numel, constant)


@counter("margin_loss")
def _margin_loss(call: OpCall, r: Rule) -> OpCost:
    """multi_margin_loss(self [N, C] or [C], target, p, margin, weight, reduction) and its
    backward (grad_output, self, target, p, ...): N·(C−1) terms, one per class off the
    target; multilabel_margin_loss_forward(self, target, reduction) and its backward
    (grad_output, self, ...): ⌊C²/4⌋ label/non-label pairs per row, the most any labelling
    of C classes gives."""
    backward = "backward" in call.op
    x = call.args[1] if backward else call.args[0]
    classes = x.shape[-1] if x.shape else 1
    rows = x.numel // classes if classes else 0
    if r.key.startswith("multilabel"):
        terms, constant = rows * (classes * classes // 4), r.flops
    else:
        terms = rows * max(classes - 1, 0)
        constant = r.flops + (r.extra("p=2") if call.arg(3 if backward else 2, "p", 1) == 2 else 0)
    return _per_element(call, r, terms, constant)


@counter("ctc_loss")
def _ctc_loss(call: OpCall, r: Rule) -> OpCost:
    """_ctc_loss(log_probs [T, N, C], targets, input_lengths, target_lengths, blank, ...) and
    _ctc_loss_backward(grad, log_probs, targets, ...); _cudnn_ctc_loss(log_probs, targets,
    ...) returns both the loss and the gradient. The lengths are data, so every
    sequence is taken at the full T steps and its padded target length: the extended
    targets hold 2·(target elements) + N states in all (exact for 1-D targets, which are
    the concatenated labels)."""
    log_probs, targets = call.args[1:3] if "backward" in call.op else call.args[0:2]
    steps = log_probs.shape[0] if log_probs.shape else 1
    batch = log_probs.shape[1] if log_probs.ndim == 3 else 1
    states = 2 * targets.numel + batch
    flops = r.flops * states * max(steps - 1, 0)
    if r.extras:  # the gradient: _ctc_loss_backward, or _cudnn_ctc_loss's second output
        flops += r.extra("state at every time step (α·β)") * states * steps
        flops += r.extra("log_probs element") * log_probs.numel
    return _per_element(call, r, 1, flops)


@counter("logit_backward")
def _logit_backward(call: OpCall, r: Rule) -> OpCost:
    """logit_backward(grad_output, self, eps=None)."""
    constant = r.flops + (r.extra("eps") if call.arg(2, "eps") is not None else 0)
    return _per_element(call, r, output_elements(call), constant)


@counter("mvlgamma")
def _mvlgamma(call: OpCall, r: Rule) -> OpCost:
    """mvlgamma(self, p): p terms per output element, then the constant."""
    terms = int(call.arg(1, "p", 1))
    constant = r.flops * terms + r.extra("output element (the constant)")
    return _per_element(call, r, output_elements(call), constant)


@counter("trace")
def _trace(call: OpCall, r: Rule) -> OpCost:
    """trace(self [m, n]): min(m, n) diagonal elements."""
    x = call.args[0]
    return _per_element(call, r, min(x.shape[-2:]) if x.shape else 1, r.flops)


@counter("per_second_input")
def _per_second_input(call: OpCall, r: Rule) -> OpCost:
    """(grad_output, self, ...): ``rule.flops`` per element of ``self``."""
    return _per_element(call, r, call.args[1].numel, r.flops)


@counter("bce_with_logits")
def _bce_with_logits(call: OpCall, r: Rule) -> OpCost:
    """(self, target, weight, pos_weight, reduction)."""
    constant = r.flops
    constant += r.extra("reduction ≠ 'none'") if call.arg(4, "reduction", 1) else 0
    constant += r.extra("weight") if _tensor(call.arg(2, "weight")) else 0
    constant += r.extra("pos_weight") if _tensor(call.arg(3, "pos_weight")) else 0
    return _per_element(call, r, call.args[0].numel, constant)


@counter("embedding_bag")
def _embedding_bag(call: OpCall, r: Rule) -> OpCost:
    """Gathered elements = indices × embedding dim. Forward
    (weight, indices, offsets, scale, mode, sparse, per_sample_weights, ...); backward
    (grad, indices, offset2bag, bag_size, max_indices, num_weights, scale, mode, sparse,
    per_sample_weights, ...); embedding_renorm_(self, indices, max_norm, norm_type)."""
    first, indices = call.args[0], call.args[1]
    if r.key == "embedding_bag_per_sample_weights_backward":  # (grad, weight, indices, ...)
        indices = call.args[2]
    gathered = indices.numel * first.shape[-1]
    constant = r.flops
    if r.extras:
        index = 6 if r.key == "embedding_bag" else 9
        constant += (
            r.extra("per_sample_weights") if _tensor(call.arg(index, "per_sample_weights")) else 0
        )
    return _per_element(call, r, gathered, constant)


@counter("overlap_add")
def _overlap_add(call: OpCall, r: Rule) -> OpCost:
    """col2im / padding backward / unfold_backward(grad, input_sizes, dim, size, step):
    one accumulate per incoming element; unfold windows that do not overlap are a copy."""
    if call.op.startswith("aten.unfold_backward") and call.arg(3, "size") <= call.arg(4, "step"):
        return _cost(0, r.category)
    return _per_element(call, r, call.args[0].numel, r.flops)


@counter("pairwise_distance")
def _pairwise_distance(call: OpCall, r: Rule) -> OpCost:
    """_pdist_forward(self, p): N(N−1)/2 pairs of M coordinates;
    _cdist_forward(x1 [B, P, M], x2 [B, R, M], ...): B·P·R pairs; backward ops take
    (grad, x[, x2], ...)."""
    name = call.op.split(".")[1]
    if name.startswith("_pdist"):
        x = call.args[1] if name == "_pdist_backward" else call.args[0]
        n, m = x.shape[-2], x.shape[-1]
        work = n * (n - 1) // 2 * m
    else:
        x1, x2 = (call.args[1], call.args[2]) if name == "_cdist_backward" else call.args[:2]
        batch = broadcast_numel([x1.shape[:-2], x2.shape[:-2]])
        work = batch * x1.shape[-2] * x2.shape[-2] * x1.shape[-1]
    return _per_element(call, r, work, r.flops)


@counter("grid_sample")
def _grid_sample(call: OpCall, r: Rule) -> OpCost:
    """grid_sampler_{2,3}d(input, grid, interpolation_mode, padding_mode, align_corners);
    mode 0 bilinear, 1 nearest (a gather), 2 bicubic; cudnn_grid_sampler(input, grid) is
    2-D bilinear."""
    mode = call.arg(2, "interpolation_mode", 0)
    if mode == 1:
        return _cost(0, r.category)
    constant = r.flops + (r.extra("3-D") if "3d" in call.op else 0)
    constant += r.extra("interpolation_mode='bicubic'") if mode == 2 else 0
    return _per_element(call, r, output_elements(call), constant)


@counter("grid_sample_backward")
def _grid_sample_backward(call: OpCall, r: Rule) -> OpCost:
    """(grad_output, input, grid, interpolation_mode, padding_mode, align_corners, mask);
    cudnn_grid_sampler_backward(input, grid, grad_output): bilinear, both gradients."""
    if call.op.startswith("aten.cudnn_grid_sampler_backward"):
        return _per_element(call, r, call.args[2].numel, r.flops)
    mode = call.arg(3, "interpolation_mode", 0)
    grad_input, grad_grid = (bool(m) for m in call.arg(6, "output_mask", [True, True]))
    if mode == 1:  # nearest: the gradient is routed to one pixel; no grid gradient
        nearest = rule("nearest_backward")
        return _per_element(call, r, call.args[0].numel, nearest.flops if grad_input else 0)
    constant = r.flops + (r.extra("3-D") if "3d" in call.op else 0)
    constant += r.extra("interpolation_mode='bicubic'") if mode == 2 else 0
    constant = constant * (int(grad_input) + int(grad_grid)) // 2
    return _per_element(call, r, call.args[0].numel, constant)


@counter("affine_grid")
def _affine_grid(call: OpCall, r: Rule) -> OpCost:
    """affine_grid_generator(theta, size, align_corners) -> [N, *spatial, d]; the backward
    (grad, size, align_corners) does the transposed dot products."""
    constant = r.flops + (r.extra("3-D") if len(call.arg(1, "size")) == 5 else 0)
    elements = call.args[0].numel if "backward" in call.op else output_elements(call)
    return _per_element(call, r, elements, constant)


# ---------------------------------------------------------------------------------------
# pooling


def _spatial_dims(call: OpCall, default: int = 2) -> int:
    name = call.op.split(".")[1]
    for dims in (1, 2, 3):
        if f"{dims}d" in name:
            return dims
    return default


def pool_kernel_elements(kernel_size, dims: int) -> int:
    return math.prod(expand_param(kernel_size, dims))


@counter("pool")
def _pool(call: OpCall, r: Rule) -> OpCost:
    """Fixed-kernel pooling: kernel area per output; activations = output elements."""
    out = call.outputs[0]
    window = pool_kernel_elements(call.arg(1, "kernel_size"), _spatial_dims(call))
    flops = out.numel * window * r.flops if is_floating(call) else 0
    return _cost(flops, r.category, activations=out.numel)


@counter("adaptive_pool")
def _adaptive_pool(call: OpCall, r: Rule) -> OpCost:
    """Adaptive pooling: the exact windows; activations = output elements."""
    x, out = call.args[0], call.outputs[0]
    dims = _spatial_dims(call)
    flops = adaptive_pool_window_elements(x.shape, out.shape, dims) * r.flops
    return _cost(flops if is_floating(call) else 0, r.category, activations=out.numel)


@counter("avg_pool_backward")
def _avg_pool_backward(call: OpCall, r: Rule) -> OpCost:
    """avg_pool{2,3}d_backward(grad_output, self, kernel_size, ...) /
    _adaptive_avg_pool{2,3}d_backward(grad_output, self)."""
    grad_out, x = call.args[0], call.args[1]
    dims = _spatial_dims(call)
    if "adaptive" in call.op:
        window_elements = adaptive_pool_window_elements(x.shape, grad_out.shape, dims)
    else:
        window_elements = grad_out.numel * pool_kernel_elements(call.arg(2, "kernel_size"), dims)
    return _per_element(call, r, window_elements, r.flops)


# ---------------------------------------------------------------------------------------
# interpolation


def antialias_windows(
    in_size: int, out_size: int, align_corners: bool, scale: float | None, interp_size: int
) -> list[tuple[int, int]]:
    """(first input, taps) of each output of one antialiased resize pass, as PyTorch
    computes them: support = interp_size/2, widened by the ratio when downsampling."""
    if align_corners:
        ratio = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        ratio = 1.0 / scale if scale else in_size / out_size
    support = interp_size * 0.5 * (ratio if ratio >= 1.0 else 1.0)
    windows = []
    for i in range(out_size):
        center = ratio * (i + 0.5)
        low = max(int(center - support + 0.5), 0)
        windows.append((low, min(int(center + support + 0.5), in_size) - low))
    return windows


def antialias_taps(
    in_size: int, out_size: int, align_corners: bool, scale: float | None, interp_size: int
) -> list[int]:
    return [n for _, n in antialias_windows(in_size, out_size, align_corners, scale, interp_size)]


def antialias_passes(
    leading: int,
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    align_corners: bool,
    scales: tuple[float | None, float | None],
    interp_size: int,
) -> tuple[int, int]:
    """(tap incidences, pass outputs) of a separable antialiased 2-D resize: width first
    on [.., H_in, W_in], then height on [.., H_in, W_out]; unchanged dims are skipped."""
    (h_in, w_in), (h_out, w_out) = in_hw, out_hw
    taps = outputs = 0
    if w_in != w_out:
        taps += (
            leading * h_in * sum(antialias_taps(w_in, w_out, align_corners, scales[1], interp_size))
        )
        outputs += leading * h_in * w_out
    if h_in != h_out:
        taps += (
            leading
            * w_out
            * sum(antialias_taps(h_in, h_out, align_corners, scales[0], interp_size))
        )
        outputs += leading * w_out * h_out
    return taps, outputs


def _aa_args(call: OpCall, backward: bool):
    name = call.op.split(".")[1]
    interp = 4 if "bicubic" in name else 2
    if backward:  # (grad_output, output_size, input_size, align_corners, scales_h, scales_w)
        grad = call.args[0]
        in_shape = tuple(call.arg(2, "input_size"))
        out_hw = tuple(grad.shape[-2:])
        align = bool(call.arg(3, "align_corners"))
        scales = (call.arg(4, "scales_h"), call.arg(5, "scales_w"))
    else:  # (self, output_size, align_corners, scales_h, scales_w) or .vec(..., scale_factors)
        in_shape = call.args[0].shape
        out_hw = tuple(call.outputs[0].shape[-2:])
        align = bool(call.arg(2, "align_corners"))
        if call.op.endswith(".vec"):
            factors = call.arg(3, "scale_factors")
            scales = tuple(factors) if factors else (None, None)
        else:
            scales = (call.arg(3, "scales_h"), call.arg(4, "scales_w"))
    leading = math.prod(in_shape[:-2])
    return antialias_passes(leading, tuple(in_shape[-2:]), out_hw, align, scales, interp)


@counter("interpolate_aa")
def _interpolate_aa(call: OpCall, r: Rule) -> OpCost:
    taps, outputs = _aa_args(call, backward=False)
    if not is_floating(call):
        return _cost(0, r.category)
    return _cost(r.flops * taps - outputs, r.category)


@counter("interpolate_aa_backward")
def _interpolate_aa_backward(call: OpCall, r: Rule) -> OpCost:
    taps, _ = _aa_args(call, backward=True)
    return _per_element(call, r, taps, r.flops)


# ---------------------------------------------------------------------------------------
# fused optimizer steps


@counter("fused_optimizer")
def _fused_optimizer(call: OpCall, r: Rule) -> OpCost:
    """_fused_{adam,adamw,sgd,adagrad}_(params[], grads[], state lists..., *, hyperparameters)."""
    elements = sum(t.numel for t in call.args[0] if _tensor(t))
    kw = call.kwargs
    constant = r.flops
    decay = kw.get("weight_decay", 0) != 0
    if r.key == "fused_adam":
        if decay:
            adamw = call.op.startswith("aten._fused_adamw_")
            constant += r.extra("weight_decay, AdamW" if adamw else "weight_decay, Adam")
        constant += r.extra("amsgrad") if kw.get("amsgrad") else 0
    elif r.key == "fused_sgd":
        constant += r.extra("weight_decay") if decay else 0
        if kw.get("momentum", 0) != 0 and not kw.get("is_first_step", False):
            constant += r.extra("momentum")
            constant += r.extra("dampening") if kw.get("dampening", 0) != 0 else 0
            constant += r.extra("nesterov") if kw.get("nesterov") else 0
    else:
        constant += r.extra("weight_decay") if decay else 0
    constant += r.extra("grad_scale") if _tensor(kw.get("grad_scale")) else 0
    return _per_element(call, r, elements, constant)


def _nbytes(tensors) -> int:
    return sum(t.nbytes for t in tensors if _tensor(t))


@counter("amp_unscale")
def _amp_unscale(call: OpCall, r: Rule) -> OpCost:
    """_amp_foreach_non_finite_check_and_unscale_(grads[], found_inf, inv_scale): the
    constant per gradient element. The in-place form returns nothing, so what every form
    writes (the unscaled gradients, in place or into ``out``, and found_inf) is stated
    here rather than taken from its outputs."""
    grads = [t for t in call.args[0] if _tensor(t)]
    cost = _per_element(call, r, sum(t.numel for t in grads), r.flops)
    written = _nbytes(call.kwargs.get("out") or grads) + _nbytes([call.args[1]])
    return OpCost(flops=cost.flops, category=cost.category, bytes_written=written)


@counter("amp_update_scale")
def _amp_update_scale(call: OpCall, r: Rule) -> OpCost:
    """_amp_update_scale_(scale, growth_tracker, found_inf, growth, backoff, interval): the
    constant per call; it writes the scale and the growth tracker (the in-place form
    returns only the scale)."""
    cost = _per_element(call, r, 1, r.flops)
    written = _nbytes(call.args[:2])
    return OpCost(flops=cost.flops, category=cost.category, bytes_written=written)


# ---------------------------------------------------------------------------------------
# FFT


def _fft_dims(dims, ndim: int) -> list[int]:
    dims = [dims] if isinstance(dims, int) else list(dims)
    return [d % ndim for d in dims]


@counter("fft")
def _fft(call: OpCall, r: Rule) -> OpCost:
    """_fft_r2c(self, dim, norm, onesided) / _fft_c2r(self, dim, norm, last_dim_size) /
    _fft_c2c(self, dim, norm, forward): per transformed dim, (numel/N) transforms of length
    N, N measured on the real side for r2c/c2r."""
    x = call.args[0]
    real_side = call.outputs[0] if call.op.startswith("aten._fft_c2r") else x
    dims = _fft_dims(call.arg(1, "dim"), real_side.ndim)
    return _cost(fft_flops(real_side.shape, dims, r.flops), r.category)
