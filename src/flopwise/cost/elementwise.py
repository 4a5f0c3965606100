"""Every op with arithmetic that is not a contraction.

Elementwise arithmetic, activations, softmax, normalisation, reductions, pooling,
interpolation, cumulative ops, FFTs, dropout, losses, and the backward ops autograd runs
for them. Each op's constant lives in :data:`RULES`, one row per family, stating what the
constant multiplies (``basis``) and the elementary steps it is derived from; the formulas
below read their numbers from that table and nowhere else, and docs/conventions.md prints
it (``scripts/gen_conventions_table.py``). The table also holds the rows whose formulas
live elsewhere so that the document lists them: recurrent layers and the bilinear form
(layers.py) and dense linear algebra (linalg.py).

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction

import torch

from flopwise.cost.registry import aten, register
from flopwise.cost.types import OpCall, OpCost, TensorMeta

# ---------------------------------------------------------------------------------------
# The constants table

OUT = "output element"
IN = "input element"
WINDOW = "window element of each output"
GRAD_WINDOW = "window element of each grad_output element"
GRAD_OUT = "grad_output element"
SOURCE = "source element"
TARGET = "target element"
TRANSFORM = "N·log2(N) of each length-N transform, per transformed dim"
SORT = "input element × ⌈log2 N⌉ (N = sorted length)"
# Op namespaces other than aten whose ops the table names by key (``torchvision.nms``)
FOREIGN_NAMESPACES = ("torchvision.",)


@dataclass(frozen=True)
class Rule:
    """One family of ops sharing a cost formula.

    ``flops`` is the cost per ``basis`` element; ``extras`` are named terms (also per basis
    element) that apply only in some calls (a weight tensor, training mode, a non-unit
    ``alpha``...). ``ops`` name ATen overload packets (their in-place ``name_`` packet is
    registered too unless ``inplace`` is false) or single overloads (``max.other``).
    """

    key: str
    flops: int | Fraction
    basis: str
    category: str
    ops: tuple[str, ...]
    steps: str
    extras: tuple[tuple[str, int | Fraction], ...] = ()
    complex_flops: int | None = None
    mixed_flops: int | None = None
    inplace: bool = True

    def extra(self, name: str) -> int | Fraction:
        for label, value in self.extras:
            if label == name:
                return value
        raise KeyError(f"rule {self.key!r} has no extra term {name!r}")


# fmt: off
RULES: tuple[Rule, ...] = (
    # -- elementwise arithmetic --------------------------------------------------------
    Rule("add", 1, OUT, "elementwise",
        ("add", "sub", "rsub"),
        "one add or subtract; a non-unit alpha scales the other operand first",
        extras=(("alpha ≠ 1", 1),), complex_flops=2, mixed_flops=1,
    ),
    Rule("mul", 1, OUT, "elementwise",
        ("mul",),
        "one multiply; complex (a+bi)(c+di): 4 multiplies + 2 adds; complex by real: 2 multiplies",
        complex_flops=6, mixed_flops=2,
    ),
    Rule("div", 1, OUT, "elementwise",
        ("div", "true_divide", "floor_divide", "remainder", "fmod"),
        "one divide (floor/remainder: the divide, rounding fused); complex: 6 for the numerator, "
        "3 for |d|², 2 divides; complex by real: 2 divides",
        complex_flops=11, mixed_flops=2,
    ),
    Rule("neg", 1, OUT, "elementwise",
        ("neg", "negative"),
        "one sign flip; complex: both parts",
        complex_flops=2,
    ),
    Rule("abs", 1, OUT, "elementwise",
        ("abs", "absolute"),
        "one sign clear; complex |z|: 2 squares, 1 add, 1 sqrt",
        complex_flops=4,
    ),
    Rule("unary", 1, OUT, "elementwise",
        ("sqrt", "rsqrt", "reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
         "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
         "atanh", "sigmoid", "erf", "erfc", "erfinv", "logit", "digamma", "lgamma", "i0", "sinc",
         "deg2rad", "rad2deg", "square"),
        "one elementary function evaluation (transcendentals count 1, like a multiply)",
    ),
    Rule("rounding", 1, OUT, "elementwise",
        ("floor", "ceil", "round", "trunc", "frac", "sign", "sgn"),
        "one rounding or sign step",
    ),
    Rule("binary", 1, OUT, "elementwise",
        ("pow", "float_power", "atan2", "hypot", "copysign", "xlogy", "logaddexp", "logaddexp2"),
        "one binary function evaluation",
    ),
    Rule("compare_value", 1, OUT, "elementwise",
        ("relu", "clamp", "clamp_min", "clamp_max", "clip", "hardtanh", "threshold", "maximum",
         "minimum", "fmax", "fmin", "max.other", "max.out", "min.other", "min.out"),
        "one comparison that produces the value (max(x, 0), a clamp to a range)",
    ),
    Rule("ternary", 3, OUT, "elementwise",
        ("lerp", "addcmul", "addcdiv"),
        "lerp: b−a, ·w, +a; addcmul/addcdiv: t1·t2 (or t1/t2), ·value, +self",
    ),
    # -- activations ---------------------------------------------------------------------
    Rule("gelu", 5, OUT, "elementwise",
        ("gelu",),
        "exact: x·√½, erf, +1, ·x, ·½ = 5; tanh form adds x³ (2), ·0.044715, +x and swaps erf for"
        " tanh with ·√(2/π) = 9",
        extras=(("approximate='tanh'", 4),),
    ),
    Rule("silu", 2, OUT, "elementwise",
        ("silu",),
        "sigmoid, ·x",
    ),
    Rule("mish", 4, OUT, "elementwise",
        ("mish",),
        "exp, log1p (softplus), tanh, ·x",
    ),
    Rule("hardswish", 4, OUT, "elementwise",
        ("hardswish",),
        "+3, clamp to [0, 6], ·x, /6",
    ),
    Rule("hardsigmoid", 3, OUT, "elementwise",
        ("hardsigmoid",),
        "+3, clamp to [0, 6], /6",
    ),
    Rule("leaky_relu", 2, OUT, "elementwise",
        ("leaky_relu", "rrelu_with_noise", "_prelu_kernel", "prelu"),
        "sign test, ·slope",
    ),
    Rule("elu", 4, OUT, "elementwise",
        ("elu", "celu", "selu"),
        "sign test, exp, −1, ·α (selu's and elu's output scale folded into α)",
    ),
    Rule("softplus", 4, OUT, "elementwise",
        ("softplus",),
        "·β, exp, log1p, /β (the linear-region threshold test is fused)",
    ),
    Rule("log_sigmoid", 6, OUT, "elementwise",
        ("log_sigmoid_forward",),
        "min(x, 0), |x|, negate, exp, log1p, subtract",
    ),
    Rule("glu", 2, OUT, "elementwise",
        ("glu",),
        "sigmoid of the gate half, ·value half",
    ),
    Rule("hardshrink", 1, OUT, "elementwise",
        ("hardshrink",),
        "range test",
    ),
    Rule("softshrink", 2, OUT, "elementwise",
        ("softshrink",),
        "range test, ∓λ",
    ),
    Rule("dropout", 2, OUT, "elementwise",
        ("native_dropout",),
        "·mask, ·1/(1−p); 0 when train=False (the mask itself is a random factory)",
        inplace=False,
    ),
    # -- softmax -------------------------------------------------------------------------
    Rule("softmax", 5, OUT, "softmax",
        ("_softmax", "softmax", "_safe_softmax"),
        "row max, x−max, exp, row sum, divide",
    ),
    Rule("log_softmax", 5, OUT, "softmax",
        ("_log_softmax", "log_softmax"),
        "row max, x−max, exp, row sum, subtract log-sum (the log is per row)",
    ),
    # -- normalisation -------------------------------------------------------------------
    Rule("layer_norm", 5, IN, "norm",
        ("native_layer_norm", "native_group_norm"),
        "mean (1 add), centre, square, variance sum, ·rstd; affine: ·weight, +bias",
        extras=(("weight", 1), ("bias", 1)), inplace=False,
    ),
    Rule("batch_norm", 2, IN, "norm",
        ("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
         "_native_batch_norm_legit_no_training", "_batch_norm_with_update",
         "_batch_norm_with_update_functional", "_batch_norm_no_update", "cudnn_batch_norm",
         "miopen_batch_norm"),
        "with running statistics: centre, ·invstd; training computes the batch statistics first "
        "(mean 1 add, square, variance sum); affine: ·weight, +bias",
        extras=(("training", 3), ("weight", 1), ("bias", 1)), inplace=False,
    ),
    Rule("rms_norm", 3, IN, "norm",
        ("_fused_rms_norm", "rms_norm"),
        "square, sum, ·rstd; ·weight",
        extras=(("weight", 1),), inplace=False,
    ),
    Rule("norm_backward", 0, IN, "norm",
        ("native_layer_norm_backward", "native_group_norm_backward", "native_batch_norm_backward",
         "batch_norm_backward", "cudnn_batch_norm_backward", "miopen_batch_norm_backward"),
        "x̂ = (x−mean)·rstd recomputed (2); grad_input = rstd·(g' − mean(g') − x̂·mean(g'·x̂)) "
        "with g' = g·weight: g·weight, 2 row sums, g'·x̂, x̂·m, 2 subtracts, ·rstd; with running "
        "statistics grad_input is g·(weight·invstd), 1; grad_weight = Σ g·x̂ (2); grad_bias = Σ g"
        " (1)",
        extras=(
            ("x̂ (grad_input or grad_weight)", 2), ("grad_input", 7), ("grad_input with weight", 1),
            ("grad_input, running statistics", 1), ("grad_weight", 2), ("grad_bias", 1),
        ),
        inplace=False,
    ),
    Rule("rms_norm_backward", 0, IN, "norm",
        ("_fused_rms_norm_backward",),
        "x̂ = x·rstd (1); grad_input = rstd·(g' − x̂·mean(g'·x̂)), g' = g·weight: g·weight, "
        "g'·x̂, row sum, x̂·m, subtract, ·rstd; grad_weight = Σ g·x̂ (2)",
        extras=(
            ("x̂ (grad_input or grad_weight)", 1), ("grad_input", 5), ("grad_input with weight", 1),
            ("grad_weight", 2),
        ),
        inplace=False,
    ),
    # -- elementwise backward ------------------------------------------------------------
    Rule("threshold_backward", 1, OUT, "elementwise",
        ("threshold_backward", "hardtanh_backward", "hardshrink_backward"),
        "range test passes or zeroes the gradient",
        inplace=False,
    ),
    Rule("sigmoid_backward", 3, OUT, "elementwise",
        ("sigmoid_backward",),
        "1−y, ·y, ·g",
        inplace=False,
    ),
    Rule("tanh_backward", 3, OUT, "elementwise",
        ("tanh_backward",),
        "y², 1−y², ·g",
        inplace=False,
    ),
    Rule("silu_backward", 6, OUT, "elementwise",
        ("silu_backward",),
        "s = sigmoid(x), 1−s, x·(1−s), +1, ·s, ·g",
        inplace=False,
    ),
    Rule("gelu_backward", 11, OUT, "elementwise",
        ("gelu_backward",),
        "exact: Φ(x) = ½(1+erf(x·√½)) (4), φ(x) = exp(−x²/2)/√(2π) (4), x·φ, Φ+x·φ, ·g = 11; tanh"
        " form: inner k(x+0.044715x³) (5), tanh, ½(1+t) (2), (1−t²) (2), k(1+3·0.044715x²) (3), "
        "·x·½ (2), product, sum, ·g = 18",
        extras=(("approximate='tanh'", 7),), inplace=False,
    ),
    Rule("hardswish_backward", 4, OUT, "elementwise",
        ("hardswish_backward",),
        "range test, x/3, +½, ·g",
        inplace=False,
    ),
    Rule("hardsigmoid_backward", 2, OUT, "elementwise",
        ("hardsigmoid_backward",),
        "range test, ·g/6",
        inplace=False,
    ),
    Rule("leaky_relu_backward", 2, OUT, "elementwise",
        ("leaky_relu_backward", "rrelu_with_noise_backward", "softshrink_backward"),
        "sign test, ·slope",
        inplace=False,
    ),
    Rule("elu_backward", 3, OUT, "elementwise",
        ("elu_backward",),
        "sign test, exp (or y+α), ·α·g",
        inplace=False,
    ),
    Rule("softplus_backward", 5, OUT, "elementwise",
        ("softplus_backward",),
        "z = exp(β·x) (2), z/(z+1) (2), ·g",
        inplace=False,
    ),
    Rule("mish_backward", 10, OUT, "elementwise",
        ("mish_backward",),
        "softplus (exp, log1p), t = tanh, sigmoid, t², 1−t², x·σ, ·(1−t²), +t, ·g",
        inplace=False,
    ),
    Rule("log_sigmoid_backward", 4, OUT, "elementwise",
        ("log_sigmoid_backward",),
        "sign test, buffer/(1+buffer) (2), ·g",
        inplace=False,
    ),
    Rule("softmax_backward", 4, OUT, "softmax",
        ("_softmax_backward_data",),
        "g·y, row sum, g − sum, ·y",
        inplace=False,
    ),
    Rule("log_softmax_backward", 4, OUT, "softmax",
        ("_log_softmax_backward_data",),
        "exp(y), row sum of g, exp(y)·sum, g − that",
        inplace=False,
    ),
    Rule("dropout_backward", 2, OUT, "elementwise",
        ("native_dropout_backward",),
        "·mask, ·scale",
        inplace=False,
    ),
    # -- reductions ----------------------------------------------------------------------
    Rule("sum", 1, IN, "reduction",
        ("sum", "nansum", "mean", "nanmean", "prod"),
        "one accumulate per input element (the mean's 1/N is per output, not counted)",
        inplace=False,
    ),
    Rule("extremum", 1, IN, "reduction",
        ("amax", "amin", "max", "min", "aminmax", "argmax", "argmin", "topk", "median",
         "nanmedian", "kthvalue"),
        "one comparison per input element (topk/median/kthvalue: a selection scan)",
        inplace=False,
    ),
    Rule("logical_reduction", 1, IN, "reduction",
        ("any", "all", "count_nonzero"),
        "one test-and-accumulate per input element",
        inplace=False,
    ),
    Rule("var", 4, IN, "reduction",
        ("var", "std", "var_mean", "std_mean"),
        "mean pass (1 add), then x−mean, square, accumulate (the final /(N−c) and the std's sqrt "
        "are per output, not counted)",
        inplace=False,
    ),
    Rule("logsumexp", 4, IN, "reduction",
        ("logsumexp",),
        "max pass, x−max, exp, accumulate (log and +max are per output)",
        inplace=False,
    ),
    Rule("vector_norm", 2, IN, "reduction",
        ("linalg_vector_norm", "norm"),
        "|x|^p for p in {0, 1, 2, ±inf} is one step (abs, square, test), then accumulate; other p"
        " need abs then pow",
        extras=(("p ∉ {0, 1, 2, ±inf}", 1),), inplace=False,
    ),
    Rule("sort", 1, SORT, "reduction",
        ("sort",),
        "comparison sort: ⌈log2 N⌉ comparisons per element",
        inplace=False,
    ),
    Rule("search", 1, "query × ⌈log2(M+1)⌉ (M = boundaries per search)", "reduction",
        ("searchsorted", "bucketize"),
        "binary search: ⌈log2(M+1)⌉ comparisons place a query among the M+1 slots of M sorted "
        "boundaries",
        inplace=False,
    ),
    Rule("unique", 1, "comparison (see derivation)", "reduction",
        ("_unique", "_unique2", "unique_dim", "unique_consecutive", "unique_dim_consecutive"),
        "sort-based: N·⌈log2 N⌉ sort comparisons + N−1 adjacent comparisons over the N input "
        "elements, whatever `sorted` asks (the backend's choice of hashing must not change the "
        "count); along a dim, S slices of L elements: L·(S·⌈log2 S⌉ + S−1); consecutive: no "
        "sort, N−1 (L·(S−1) along a dim)",
        inplace=False,
    ),
    Rule("isin", 1, "comparison (see derivation)", "reduction",
        ("isin",),
        "E elements against T test elements: the cheaper of the all-pairs scan E·T and sorting "
        "the test set then binary-searching each element, T·⌈log2 T⌉ + E·⌈log2(T+1)⌉ (a scalar "
        "side counts 1)",
        inplace=False,
    ),
    Rule("histogram", 3, IN, "reduction",
        ("histc", "bincount", "histogram"),
        "x−min, ·bins/(max−min), increment the bin (range test and floor fused); on any dtype:"
        " bucketing searches the data like sort, and libraries bin the same ids as int on one"
        " device and as float on another",
        inplace=False,
    ),
    # -- cumulative ----------------------------------------------------------------------
    Rule("cumulative", 1, IN, "reduction",
        ("cumsum", "cumprod", "cummax", "cummin"),
        "one running add, multiply or comparison per element",
    ),
    Rule("logcumsumexp", 6, IN, "reduction",
        ("logcumsumexp",),
        "logaddexp(acc, x) = max + log1p(exp(min − max)): max, min, subtract, exp, log1p, add",
        inplace=False,
    ),
    # -- accumulating scatters and losses -------------------------------------------------
    Rule("scatter_accumulate", 1, SOURCE, "reduction",
        ("index_add", "scatter_add", "scatter_reduce", "scatter.reduce", "scatter.value_reduce",
         "scatter.reduce_out", "scatter.value_reduce_out", "scatter_.reduce",
         "scatter_.value_reduce", "index_reduce", "index_put", "_unsafe_index_put",
         "_index_put_impl"),
        "one accumulate per source element; index_put with accumulate=True: one per updated "
        "element, index positions × the slice each selects (a broadcast value counts every "
        "element it is added to); index_put/_unsafe_index_put without accumulate=True are "
        "copies (0, category memory)",
    ),
    Rule("embedding_backward", 1, GRAD_OUT, "reduction",
        ("embedding_dense_backward",),
        "scatter-add of each gradient row into the weight gradient",
        extras=(("scale_grad_by_freq", 1),), inplace=False,
    ),
    Rule("nll_loss", 1, TARGET, "reduction",
        ("nll_loss_forward", "nll_loss2d_forward", "nll_loss_backward", "nll_loss2d_backward"),
        "forward: pick −x[target] and accumulate; backward: write −g (or −g/Σw); ·weight[target]",
        extras=(("weight", 1),), inplace=False,
    ),
    Rule("mse_loss", 2, IN, "reduction",
        ("mse_loss",),
        "x−t, square; accumulate when reduced",
        extras=(("reduction ≠ 'none'", 1),), inplace=False,
    ),
    Rule("mse_loss_backward", 3, IN, "elementwise",
        ("mse_loss_backward",),
        "x−t, ·2/N (or ·2), ·g",
        inplace=False,
    ),
    Rule("binary_cross_entropy", 7, IN, "reduction",
        ("binary_cross_entropy",),
        "log x, 1−x, log(1−x), log x − log(1−x), ·t, +log(1−x), negate; accumulate when reduced; "
        "·weight",
        extras=(("reduction ≠ 'none'", 1), ("weight", 1)), inplace=False,
    ),
    Rule("binary_cross_entropy_backward", 5, IN, "elementwise",
        ("binary_cross_entropy_backward",),
        "x−t, 1−x, x·(1−x), divide, ·g (1/N folded into g); ·weight",
        extras=(("weight", 1),), inplace=False,
    ),
    Rule("smooth_l1_loss", 5, IN, "reduction",
        ("smooth_l1_loss", "huber_loss"),
        "x−t, |d|, test against β (δ), then ½d²/β (square, scale) or |d|−½β (subtract, scale); "
        "accumulate when reduced",
        extras=(("reduction ≠ 'none'", 1),), inplace=False,
    ),
    Rule("smooth_l1_loss_backward", 4, IN, "elementwise",
        ("smooth_l1_loss_backward", "huber_loss_backward"),
        "x−t, range test, d/β or sign(d)·δ, ·g (1/N folded into g)",
        inplace=False,
    ),
    Rule("bce_with_logits", 8, IN, "reduction",
        ("binary_cross_entropy_with_logits",),
        "(1−t)·x (2) + max(−x, 0) + log1p(exp(−|x|)) (|x|, exp, log1p) and 2 adds; pos_weight: "
        "(p−1)·t+1 (2) and its product (1); ·weight; accumulate when reduced",
        extras=(("reduction ≠ 'none'", 1), ("weight", 1), ("pos_weight", 3)), inplace=False,
    ),
    Rule("prelu_backward", 4, IN, "elementwise",
        ("_prelu_kernel_backward",),
        "grad_input: sign test, ·slope·g (2); grad_weight: x·g where negative, accumulate (2)",
        inplace=False,
    ),
    Rule("glu_backward", 6, GRAD_OUT, "elementwise",
        ("glu_backward",),
        "σ(b), g·σ for a; (1−σ), ·σ, ·a, ·g for b",
        inplace=False,
    ),
    Rule("embedding_bag", 1, "gathered element (indices × embedding dim)", "reduction",
        ("_embedding_bag", "_embedding_bag_forward_only", "embedding_bag"),
        "sum/mean: one add per gathered element (the mean's divide is per bag); max: one "
        "comparison; per_sample_weights: one multiply more",
        extras=(("per_sample_weights", 1),), inplace=False,
    ),
    Rule("embedding_bag_backward", 1, "gathered element (indices × embedding dim)", "reduction",
        ("_embedding_bag_backward", "_embedding_bag_dense_backward"),
        "scatter-add of the bag gradient into every gathered row; per_sample_weights: one "
        "multiply more",
        extras=(("per_sample_weights", 1),), inplace=False,
    ),
    Rule("embedding_renorm", 3, "gathered element (indices × embedding dim)", "reduction",
        ("embedding_renorm",),
        "row norm (square, accumulate), rescale (one multiply); the per-row test and divide are "
        "amortised",
    ),
    Rule("overlap_add", 1, IN, "reduction",
        ("col2im", "unfold_backward", "reflection_pad1d_backward", "reflection_pad2d_backward",
         "reflection_pad3d_backward", "replication_pad1d_backward", "replication_pad2d_backward",
         "replication_pad3d_backward"),
        "accumulate every input (col2im columns, padded or unfolded gradient) into its source "
        "position (the forwards, im2col, padding and unfold, are copies; unfold_backward with "
        "step ≥ size is a copy too, 0)",
        inplace=False,
    ),
    Rule("pairwise_distance", 3, "pair × coordinate", "reduction",
        ("_pdist_forward", "_cdist_forward"),
        "difference, |d|^p (a square for p=2), accumulate (the root is per pair)",
        inplace=False,
    ),
    Rule("pairwise_distance_backward", 4, "pair × coordinate", "reduction",
        ("_pdist_backward", "_cdist_backward"),
        "difference, ·g/dist (or the p-norm derivative), accumulate into the point(s)",
        inplace=False,
    ),
    Rule("grid_sample", 7, OUT, "elementwise",
        ("grid_sampler_2d", "grid_sampler_3d"),
        "bilinear: 4 taps weighted and summed, 4 multiplies + 3 adds; trilinear (3-D) 8 taps, 15; "
        "bicubic 16 taps, 31; nearest is a gather, 0; coordinate unnormalisation is per grid "
        "point and amortised over channels",
        extras=(("3-D", 8), ("interpolation_mode='bicubic'", 24)), inplace=False,
    ),
    Rule("grid_sample_backward", 16, GRAD_OUT, "elementwise",
        ("grid_sampler_2d_backward", "grid_sampler_3d_backward"),
        "per tap, grad_input: ·weight, accumulate (2); grad_grid: value × weight derivative, "
        "accumulate (2): bilinear 4 taps = 16, trilinear 8 taps = 32, bicubic 16 taps = 64 (half "
        "without grad_grid); nearest routes grad_input only, 1 (the nearest-backward rule)",
        extras=(("3-D", 16), ("interpolation_mode='bicubic'", 48)), inplace=False,
    ),
    Rule("affine_grid", 5, OUT, "elementwise",
        ("affine_grid_generator", "affine_grid_generator_backward"),
        "each coordinate is a dot of 3 homogeneous terms (4 in 3-D): 3 multiplies + 2 adds",
        extras=(("3-D", 2),), inplace=False,
    ),
    # -- pooling -------------------------------------------------------------------------
    Rule("pool", 1, WINDOW, "pool",
        ("max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
         "max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d",
         "avg_pool3d", "fractional_max_pool2d", "fractional_max_pool3d", "mkldnn_max_pool2d",
         "mkldnn_max_pool3d", "quantized_max_pool2d"),
        "one compare or add per window element (avg: the divide replaces the first add); the "
        "window is the kernel, padding positions included",
        inplace=False,
    ),
    Rule("adaptive_pool", 1, WINDOW, "pool",
        ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
         "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool1d",
         "adaptive_max_pool2d", "adaptive_max_pool3d", "mkldnn_adaptive_avg_pool2d"),
        "one compare or add per window element; output i along a dim of input size I and output "
        "size O covers [⌊iI/O⌋, ⌈(i+1)I/O⌉)",
        inplace=False,
    ),
    Rule("max_pool_backward", 1, GRAD_OUT, "pool",
        ("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward",
         "adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward", "max_pool2d_backward",
         "fractional_max_pool2d_backward", "fractional_max_pool3d_backward"),
        "route each gradient to its argmax, accumulating where windows overlap",
        inplace=False,
    ),
    Rule("avg_pool_backward", 1, GRAD_WINDOW, "pool",
        ("avg_pool2d_backward", "avg_pool3d_backward", "_adaptive_avg_pool2d_backward",
         "_adaptive_avg_pool3d_backward"),
        "spread g/count over the window: one accumulate per window element",
        inplace=False,
    ),
    # -- interpolation -------------------------------------------------------------------
    Rule("linear1d", 3, OUT, "elementwise",
        ("upsample_linear1d",),
        "2 taps: 2 multiplies + 1 add (tap weights are per column and amortised)",
        inplace=False,
    ),
    Rule("bilinear2d", 7, OUT, "elementwise",
        ("upsample_bilinear2d",),
        "4 taps: 4 multiplies + 3 adds (tap weights are per row/column and amortised)",
        inplace=False,
    ),
    Rule("trilinear3d", 15, OUT, "elementwise",
        ("upsample_trilinear3d",),
        "8 taps: 8 multiplies + 7 adds",
        inplace=False,
    ),
    Rule("bicubic2d", 31, OUT, "elementwise",
        ("upsample_bicubic2d",),
        "16 taps: 16 multiplies + 15 adds",
        inplace=False,
    ),
    Rule("interpolate_aa", 2, "tap of each output of each separable pass", "elementwise",
        ("_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa"),
        "antialiased resize runs separable passes (width, then height; a dim whose size is "
        "unchanged is skipped); an output of a pass with t taps costs t multiplies + t−1 adds = "
        "2t−1; t follows PyTorch's filter support (2 bilinear, 4 bicubic, widened by the "
        "downscale factor)",
        inplace=False,
    ),
    Rule("interpolate_aa_backward", 2, "tap of each output of each separable pass", "elementwise",
        ("_upsample_bilinear2d_aa_backward", "_upsample_bicubic2d_aa_backward"),
        "the forward's taps traversed in reverse: ·weight and accumulate per tap",
        inplace=False,
    ),
    Rule("linear1d_backward", 4, GRAD_OUT, "elementwise",
        ("upsample_linear1d_backward",),
        "per tap (2): ·weight, accumulate into the input gradient",
        inplace=False,
    ),
    Rule("bilinear2d_backward", 8, GRAD_OUT, "elementwise",
        ("upsample_bilinear2d_backward",),
        "per tap (4): ·weight, accumulate",
        inplace=False,
    ),
    Rule("trilinear3d_backward", 16, GRAD_OUT, "elementwise",
        ("upsample_trilinear3d_backward",),
        "per tap (8): ·weight, accumulate",
        inplace=False,
    ),
    Rule("bicubic2d_backward", 32, GRAD_OUT, "elementwise",
        ("upsample_bicubic2d_backward",),
        "per tap (16): ·weight, accumulate",
        inplace=False,
    ),
    Rule("nearest_backward", 1, GRAD_OUT, "elementwise",
        ("upsample_nearest1d_backward", "upsample_nearest2d_backward",
         "upsample_nearest3d_backward", "_upsample_nearest_exact1d_backward",
         "_upsample_nearest_exact2d_backward", "_upsample_nearest_exact3d_backward"),
        "accumulate each gradient into its source pixel (the forward is a gather: zero set)",
        inplace=False,
    ),
    # -- fused optimizers (per parameter element) -----------------------------------------
    Rule("fused_adam", 13, "parameter element", "elementwise",
        ("_fused_adam_", "_fused_adamw_"),
        "m = lerp(m, g, 1−β1) (3); v = β2·v + (1−β2)·g² (4); sqrt(v)/√bc2 + eps (3); "
        "p −= (lr/bc1)·m/denom (3); bias corrections are per tensor; weight decay: AdamW p·(1−lr·λ)"
        " (1), Adam g + λ·p (2); amsgrad: running max (1); grad_scale: unscale g (1)",
        extras=(
            ("weight_decay, AdamW", 1), ("weight_decay, Adam", 2), ("amsgrad", 1),
            ("grad_scale", 1),
        ),
        inplace=False,
    ),
    Rule("fused_sgd", 2, "parameter element", "elementwise",
        ("_fused_sgd_",),
        "p −= lr·g (2); weight decay g + λ·p (2); momentum buf = μ·buf + g (2), ·(1−d) when "
        "dampening ≠ 0 (1); nesterov g + μ·buf (2); grad_scale: unscale g (1)",
        extras=(
            ("weight_decay", 2), ("momentum", 2), ("dampening", 1), ("nesterov", 2),
            ("grad_scale", 1),
        ),
        inplace=False,
    ),
    Rule("fused_adagrad", 7, "parameter element", "elementwise",
        ("_fused_adagrad_",),
        "sum += g² (2); sqrt(sum) + eps (2); p −= clr·g/std (3); weight decay g + λ·p (2); "
        "grad_scale: unscale g (1)",
        extras=(("weight_decay", 2), ("grad_scale", 1)),
        inplace=False,
    ),
    # -- recurrent layers and bilinear forms ------------------------------------------------
    Rule("lstm_layer", 9, "hidden unit of each (time step, batch) row", "contraction",
        ("mkldnn_rnn_layer", "lstm", "lstm_cell", "_cudnn_rnn", "miopen_rnn"),
        "per layer and direction (mkldnn_rnn_layer is the CPU kernel of one; lstm/lstm_cell "
        "reach the dispatcher whole under inference_mode; the GPU kernels _cudnn_rnn and "
        "miopen_rnn run a whole stack, priced by this, the GRU or the RNN row by their mode): "
        "macs = rows·(4H·I + 4H·H_r + "
        "H_r·H) for x·W_ihᵀ, h·W_hhᵀ and the projection when proj_size > 0; per hidden unit "
        "the 4 gate sums x·W + h·W (4), each bias tensor (4), the cell 3 sigmoid, 2 tanh, 3 "
        "multiplies, 1 add (9); inter-layer dropout in training by its own rule: exactly the "
        "unfused cell's count",
        extras=(("gate sum", 4), ("each bias tensor", 4)), inplace=False,
    ),
    Rule("gru_layer", 10, "hidden unit of each (time step, batch) row", "contraction",
        ("gru", "gru_cell"),
        "whole only under inference_mode (otherwise unfused): macs = rows·3H·(I + H); per "
        "hidden unit r, z = σ(x·W + h·W) (2 adds, 2 sigmoids), n = tanh(x·W_n + r·(h·W_n)) (3), "
        "h' = (h − n)·z + n (3); each bias tensor 3",
        extras=(("each bias tensor", 3),), inplace=False,
    ),
    Rule("rnn_layer", 2, "hidden unit of each (time step, batch) row", "contraction",
        ("rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell"),
        "whole only under inference_mode: macs = rows·H·(I + H); per hidden unit x·W + h·W (1) "
        "and tanh or relu (1); each bias tensor 1",
        extras=(("each bias tensor", 1),), inplace=False,
    ),
    Rule("lstm_layer_backward", 23, "hidden unit of each (time step, batch) row", "contraction",
        ("mkldnn_rnn_layer_backward",),
        "macs = twice the forward's (grad of the layer input and of h, grads of W_ih and W_hh, "
        "all of which the kernel returns); per hidden unit: dh + recurrent dh (1), do = dh·tanh c "
        "and its sigmoid backward (4), dc = dc' + dh·o·tanh'(c) (5), df, di, dg each a product "
        "and an activation backward (12), dc_prev = dc·f (1); biases: one sum of the 4 gate "
        "gradients (4, both bias tensors receive it)",
        extras=(("biases", 4),), inplace=False,
    ),
    Rule("fused_lstm_cell", 9, "hidden unit of each batch row", "elementwise",
        ("_thnn_fused_lstm_cell",),
        "the GPU cell after its two matmuls: gate sum (4), each bias (4 per bias tensor), cell "
        "activations and update (9), as in the CPU layer",
        extras=(("gate sum", 4), ("each bias tensor", 4)), inplace=False,
    ),
    Rule("fused_gru_cell", 10, "hidden unit of each batch row", "elementwise",
        ("_thnn_fused_gru_cell",),
        "the GPU cell after its two matmuls: r, z = σ(i + h) (2 adds, 2 sigmoids), "
        "n = tanh(i_n + r·h_n) (3), h' = n + z·(h − n) (3); each bias tensor adds 3 per unit",
        extras=(("each bias tensor", 3),), inplace=False,
    ),
    Rule("trilinear", 3, "point of the joint index space of the three expanded operands",
        "contraction",
        ("_trilinear", "bilinear"),
        "nn.Bilinear's y = x1ᵀ·A·x2 (out[n,o] = Σ_ij x1[n,i]·A[o,i,j]·x2[n,j]): per point one "
        "multiply i1·i2 and one multiply-accumulate with i3; macs = the points, flops = 3 per "
        "point; the bias is a separate add (bilinear seen whole, under inference_mode, adds 1 "
        "per output element for it)",
        inplace=False,
    ),
    # -- linear algebra (nominal counts of the textbook algorithm; no macs) ----------------
    # P(m, n) = m·n·k − (m+n)·k²/2 + k³/3 with k = min(m, n): the multiply-adds of LU on an
    # m×n matrix (n³/3 when square). Batched matrices count once per matrix; complex
    # matrices count 4× (a complex multiply-add is 4 real ones).
    Rule("cholesky", Fraction(1, 3), "n³ of each n×n matrix", "linalg",
        ("linalg_cholesky_ex", "linalg_cholesky", "cholesky"),
        "Cholesky factorisation n³/3 (Golub & Van Loan, Matrix Computations, §4.2; LAPACK "
        "potrf)",
        inplace=False,
    ),
    Rule("cholesky_inverse", Fraction(2, 3), "n³ of each n×n matrix", "linalg",
        ("cholesky_inverse",),
        "inverse from a Cholesky factor: 2n³/3 (LAPACK potri, LAWN 41 operation counts)",
        inplace=False,
    ),
    Rule("lu", 2, "P(m, n) = m·n·k − (m+n)·k²/2 + k³/3 of each m×n matrix, k = min(m, n)",
        "linalg",
        ("linalg_lu_factor_ex", "linalg_lu_factor", "linalg_lu", "_linalg_det", "_linalg_slogdet",
         "det", "logdet", "slogdet", "linalg_det", "linalg_slogdet"),
        "LU with partial pivoting, P(m, n) multiply-adds: 2n³/3 square, mn² − n³/3 for m ≥ n (GVL "
        "§3.2; LAPACK getrf); det/slogdet are the LU (the diagonal product is lower order, not counted)",
        inplace=False,
    ),
    Rule("triangular_solve", 1, "n² per right-hand side (A is n×n)", "linalg",
        ("linalg_solve_triangular", "triangular_solve"),
        "forward or back substitution n² (GVL §3.1; LAPACK trtrs); a unit "
        "diagonal is not discounted",
        inplace=False,
    ),
    Rule("lu_solve", 2, "n² per right-hand side (A is n×n)", "linalg",
        ("linalg_lu_solve", "lu_solve", "cholesky_solve"),
        "two triangular solves with the factors (LAPACK getrs, potrs)",
        inplace=False,
    ),
    Rule("solve", 2, "P(n, n) = n³/3 of each n×n matrix", "linalg",
        ("_linalg_solve_ex", "linalg_solve_ex", "linalg_solve"),
        "LU (2n³/3) then two triangular solves per right-hand side (2n²) (LAPACK gesv)",
        extras=(("n² per right-hand side", 2),), inplace=False,
    ),
    Rule("inverse", 2, "n³ of each n×n matrix", "linalg",
        ("linalg_inv_ex", "linalg_inv", "inverse"),
        "LU 2n³/3 and inversion from the factors 4n³/3 (LAPACK getrf + getri, LAWN 41)",
        inplace=False,
    ),
    Rule("qr", 4, "P(m, n) of each m×n matrix", "linalg",
        ("linalg_qr",),
        "Householder QR, R: 2mn² − 2n³/3 for m ≥ n (GVL §5.2); Q by backward accumulation"
        " (GVL §5.1): mode='reduced' m×k Q: 4·P(m, k) = 2mk² − 2k³/3; mode='complete' m×m Q: "
        "4·(m²k − mk² + k³/3); mode='r' none",
        extras=(("P(m, k), mode='reduced'", 4), ("(m²k − mk² + k³/3), mode='complete'", 4)),
        inplace=False,
    ),
    Rule("lstsq", 4, "P(m, n) of each m×n matrix", "linalg",
        ("linalg_lstsq",),
        "Householder least squares (GVL §5.3): QR of A (2mn² − 2n³/3), then per right-hand "
        "side Qᵀb (4mk − 2k²) and back substitution (k²) = 4mk − k², k = min(m, n)",
        extras=(("(m·k − k²/4) per right-hand side", 4),), inplace=False,
    ),
    Rule("svd", 1, "flop of the Golub–Reinsch count of each m×n matrix (m ≥ n, else transposed)",
        "linalg",
        ("_linalg_svd", "linalg_svd", "linalg_svdvals"),
        "GVL §8.6 (the Golub–Reinsch flop table): singular values only (compute_uv=False) "
        "4mn² − 4n³/3; thin U and V (full_matrices=False) 14mn² + 8n³; full U and V 4m²n + "
        "8mn² + 9n³; svdvals counts as thin U and V (what PyTorch runs whenever a dispatch mode "
        "observes it, so the count does not depend on inference_mode)",
        inplace=False,
    ),
    Rule("pinv", 1, "flop of thin SVD + product of each m×n matrix (m ≥ n, else transposed)",
        "linalg",
        ("linalg_pinv",),
        "A⁺ = V·Σ⁺·U1ᵀ: thin SVD (14mn² + 8n³) then the product 2mnk; hermitian=True: eigh "
        "with vectors (9n³) then 2n³ (the k·n scaling by 1/σ is lower order, not counted)",
        inplace=False,
    ),
    Rule("eigh", Fraction(4, 3), "n³ of each n×n matrix", "linalg",
        ("_linalg_eigh", "linalg_eigh", "linalg_eigvalsh"),
        "symmetric QR algorithm (GVL §8.3): eigenvalues only (compute_v=False) 4n³/3 "
        "(Householder tridiagonalisation; the O(n²) QR sweeps are not counted), 9n³ with "
        "eigenvectors; eigvalsh counts with eigenvectors (what PyTorch runs whenever a dispatch "
        "mode observes it)",
        extras=(("n³ more with eigenvectors (9n³ in all)", Fraction(23, 3)),), inplace=False,
    ),
    Rule("eig", 25, "n³ of each n×n matrix", "linalg",
        ("linalg_eig", "linalg_eigvals"),
        "Francis QR algorithm for a general matrix (GVL §7.5): Schur form T and Q 25n³ "
        "(eigvals counts the same: PyTorch computes the vectors whenever a dispatch mode "
        "observes it, so the count does not depend on inference_mode)",
        inplace=False,
    ),
    Rule("matrix_exp", 10, "n³ of each n×n matrix", "linalg",
        ("linalg_matrix_exp",),
        "degree-18 Taylor approximant of Bader, Blanes & Casas (2019), the method ATen runs: 5 "
        "matrix products of 2n³; the ⌈log2(‖A‖₁/θ₁₈)⌉ squarings (2n³ each) and the lower "
        "degrees ATen picks for small norms depend on the values, so the count is the nominal "
        "one at ‖A‖₁ = θ₁₈",
        inplace=False,
    ),
    # -- FFT -------------------------------------------------------------------------------
    Rule("fft_c2c", 5, TRANSFORM, "fft",
        ("_fft_c2c",),
        "radix-2 complex FFT: (N/2)·log2 N butterflies of 10 real flops; normalisation folded",
        inplace=False,
    ),
    Rule("fft_real", Fraction(5, 2), TRANSFORM, "fft",
        ("_fft_r2c", "_fft_c2r"),
        "real input or output: half the complex transform; N is the real length",
        inplace=False,
    ),
    # -- torchvision detection ops (vision.py; counted whenever torchvision's kernels run) --
    Rule("nms", 13, "box pair, all N·(N−1)/2 of them (the worst case)", "reduction",
        ("torchvision.nms",),
        "greedy NMS as torchvision's kernel runs it: areas (x2−x1)·(y2−y1) of the N boxes, 3 "
        "each; the scores sorted, N·⌈log2 N⌉ comparisons (the sort rule); per pair (i, j > i): "
        "intersection corners 2 max + 2 min, width and height 2 sub + 2 clamp at 0, area 1 mul; "
        "IoU = inter / (area_i + area_j − inter) 1 add + 1 sub + 1 div; 1 compare with the "
        "threshold: 13. Which pairs are visited depends on which boxes get suppressed (data), so "
        "the count is the worst case, no box suppressed: every pair",
        extras=(("box (area)", 3), ("sort comparison (N·⌈log2 N⌉)", 1)), inplace=False,
    ),
    Rule("roi_align", 8,
        "bilinear sample, g² of each output element (g = sampling_ratio, 2 when it is ≤ 0)",
        "pool",
        ("torchvision.roi_align", "torchvision.ps_roi_align"),
        "each sample: 4 taps weighted and summed (4 mul + 3 add, as grid_sample) + 1 accumulate "
        "= 8; then 1 divide for the average. Tap positions and weights depend only on the roi "
        "and the bin, so they are amortised over channels (as interpolation). sampling_ratio ≤ 0 "
        "asks for ⌈roi size / pooled size⌉ samples per axis, which depends on the box "
        "coordinates (data): counted as g = 2, what torchvision's detection models pass to "
        "MultiScaleRoIAlign. ps_roi_align is the same per output element (each reads its own "
        "channel); activations are the output elements (pooling)",
        extras=(("output element (the average)", 1),), inplace=False,
    ),
    Rule("roi_align_backward", 8,
        "bilinear sample, g² of each grad_output element (g as roi_align)",
        "pool",
        ("torchvision._roi_align_backward", "torchvision._ps_roi_align_backward"),
        "grad / count, 1 divide per grad_output element; each sample scatters it to its 4 "
        "taps: 4 mul + 4 accumulate = 8",
        extras=(("grad_output element (÷ count)", 1),), inplace=False,
    ),
    Rule("roi_pool", 1, "window element of each output, window ⌈H/PH⌉·⌈W/PW⌉", "pool",
        ("torchvision.roi_pool", "torchvision.ps_roi_pool"),
        "max (roi_pool) or average (ps_roi_pool) over a bin, one compare or add per bin element "
        "as the pool rule. A bin is the roi's size / the pooled size, which depends on the box "
        "coordinates (data): counted for a roi spanning the whole H×W feature map (nominal)",
        inplace=False,
    ),
    Rule("roi_pool_backward", 1, GRAD_OUT, "pool",
        ("torchvision._roi_pool_backward",),
        "the gradient is added at the recorded argmax, 1 add (as max_pool backward)",
        inplace=False,
    ),
    Rule("ps_roi_pool_backward", 1, "window element of each grad_output element, window "
        "⌈H/PH⌉·⌈W/PW⌉", "pool",
        ("torchvision._ps_roi_pool_backward",),
        "grad / bin area added to every bin element, 1 add each (as avg_pool backward); the bin "
        "counted as for roi_pool",
        inplace=False,
    ),
    Rule("deform_conv2d", 7, "bilinear sample: batch × C_in × kernel point × output position",
        "contraction",
        ("torchvision.deform_conv2d",),
        "macs as the convolution, N·C_out·H_out·W_out·(C_in/groups)·kh·kw, 2 flops each, + 1 "
        "bias add per output element (torchvision always adds one, zeros when none is given); "
        "before that every input channel is sampled at each kernel point of each output "
        "position at its learned offset by bilinear interpolation: 4 taps weighted and summed, "
        "4 mul + 3 add = 7; tap weights are shared by a group's channels, amortised",
        extras=(("use_mask (the mask multiply)", 1),), inplace=False,
    ),
    Rule("deform_conv2d_backward", 23,
        "bilinear sample: batch × C_in × kernel point × output position", "contraction",
        ("torchvision._deform_conv2d_backward",),
        "nominal: the two convolution gradients, columns = Wᵀ·grad (grad_input) and grad·colsᵀ "
        "(grad_weight), each the forward's macs; grad_bias 1 add per grad_output element; per "
        "sample the columns are sampled again for grad_weight (7, as the forward) and the "
        "column gradient is scattered to the 4 taps and to the offset (16, as grid_sample "
        "backward); use_mask adds the mask multiply of both passes and the mask gradient's "
        "multiply-accumulate (4)",
        extras=(("use_mask (mask multiplies and the mask gradient)", 4),), inplace=False,
    ),
)
# fmt: on

RULES_BY_KEY: dict[str, Rule] = {rule.key: rule for rule in RULES}


def rule(key: str) -> Rule:
    return RULES_BY_KEY[key]


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


# ---------------------------------------------------------------------------------------
# registration


def _ops_of(r: Rule) -> list:
    found: list = []
    for name in r.ops:
        if name.startswith(FOREIGN_NAMESPACES):
            # another library's custom op (torchvision.nms): registered by its key, which
            # needs no import of that library and matches whenever its kernels run
            found.append(name)
            continue
        packet_name, _, overload = name.partition(".")
        packet = getattr(aten, packet_name, None)
        if packet is None:
            continue
        if overload:
            if overload in packet.overloads():
                found.append(getattr(packet, overload))
            continue
        found.append(packet)
        if r.inplace:
            inplace = getattr(aten, packet_name + "_", None)
            if inplace is not None:
                found.append(inplace)
    return found


def _uses(*keys: str) -> Callable:
    """Register ``fn(call, rule)`` as the formula of every op of the named rules."""

    def wrap(fn: Callable[[OpCall, Rule], OpCost]) -> Callable:
        for key in keys:
            r = RULES_BY_KEY[key]

            def formula(call: OpCall, _rule: Rule = r) -> OpCost:
                return fn(call, _rule)

            formula.__name__ = f"{fn.__name__}[{key}]"
            formula.__doc__ = fn.__doc__
            formula.rule = r  # type: ignore[attr-defined]
            register(*_ops_of(r))(formula)
        return fn

    return wrap


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


@_uses(
    "mul",
    "div",
    "neg",
    "abs",
    "unary",
    "rounding",
    "binary",
    "compare_value",
    "ternary",
    "silu",
    "mish",
    "hardswish",
    "hardsigmoid",
    "leaky_relu",
    "elu",
    "softplus",
    "log_sigmoid",
    "glu",
    "hardshrink",
    "softshrink",
    "threshold_backward",
    "sigmoid_backward",
    "tanh_backward",
    "silu_backward",
    "hardswish_backward",
    "hardsigmoid_backward",
    "leaky_relu_backward",
    "elu_backward",
    "softplus_backward",
    "mish_backward",
    "log_sigmoid_backward",
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
    "dropout_backward",
    "mse_loss_backward",
    "linear1d",
    "bilinear2d",
    "trilinear3d",
    "bicubic2d",
)
def _pointwise(call: OpCall, r: Rule) -> OpCost:
    """``rule.flops`` per output element."""
    return _per_element(call, r, output_elements(call), r.flops)


@_uses("add")
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


@_uses("gelu", "gelu_backward")
def _gelu(call: OpCall, r: Rule) -> OpCost:
    tanh = call.kwargs.get("approximate", "none") == "tanh"
    constant = r.flops + (r.extra("approximate='tanh'") if tanh else 0)
    return _per_element(call, r, output_elements(call), constant)


@_uses("dropout")
def _dropout(call: OpCall, r: Rule) -> OpCost:
    train = call.arg(2, "train", True)
    if train is False:
        return _cost(0, r.category)
    return _per_element(call, r, output_elements(call), r.flops)


# Multi-tensor (optimizer) kernels: ``_foreach_<op>`` costs ``<op>`` on every tensor of
# its first list argument.
FOREACH_RULES = ("add", "mul", "div", "neg", "abs", "unary", "rounding", "binary",
                 "compare_value", "ternary", "vector_norm")  # fmt: skip


def _foreach_ops(r: Rule) -> list:
    found = []
    for name in r.ops:
        if "." in name:
            continue
        for variant in (f"_foreach_{name}", f"_foreach_{name}_"):
            packet = getattr(aten, variant, None)
            if packet is not None:
                found.append(packet)
    return found


def _foreach_formula(r: Rule) -> Callable[[OpCall], OpCost]:
    def formula(call: OpCall) -> OpCost:
        tensors = call.args[0] if isinstance(call.args[0], (list, tuple)) else [call.args[0]]
        elements = sum(t.numel for t in tensors if _tensor(t))
        constant = r.flops
        if r.key == "add" and call.kwargs.get("alpha", 1) != 1:
            constant += r.extra("alpha ≠ 1")
        if r.key == "vector_norm":
            ord_ = call.arg(1, "ord", 2)
            if not (ord_ in (0, 1, 2) or (isinstance(ord_, float) and math.isinf(ord_))):
                constant += r.extra("p ∉ {0, 1, 2, ±inf}")
        return _per_element(call, r, elements, constant)

    formula.__name__ = f"_foreach[{r.key}]"
    return formula


for _key in FOREACH_RULES:
    register(*_foreach_ops(RULES_BY_KEY[_key]))(_foreach_formula(RULES_BY_KEY[_key]))


# ---------------------------------------------------------------------------------------
# normalisation


@_uses("layer_norm", "rms_norm")
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


@_uses("batch_norm")
def _batch_norm(call: OpCall, r: Rule) -> OpCost:
    """(input, weight, bias, running_mean, running_var, [training,] momentum, eps)."""
    x, weight, bias = call.args[0], call.arg(1, "weight"), call.arg(2, "bias")
    constant = r.flops
    constant += r.extra("training") if batch_norm_training(call) else 0
    constant += r.extra("weight") if _tensor(weight) else 0
    constant += r.extra("bias") if _tensor(bias) else 0
    return _per_element(call, r, x.numel, constant)


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


@_uses("norm_backward")
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


@_uses("rms_norm_backward")
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


@_uses(
    "sum",
    "extremum",
    "logical_reduction",
    "var",
    "logsumexp",
    "cumulative",
    "logcumsumexp",
)
def _reduction(call: OpCall, r: Rule) -> OpCost:
    """``rule.flops`` per element of the reduced input."""
    return _per_element(call, r, call.args[0].numel, r.flops)


@_uses("histogram")
def _histogram(call: OpCall, r: Rule) -> OpCost:
    """``rule.flops`` per input element, whatever the dtype: transformers' MoE bins routing
    ids as int32 on CUDA and as float32 on CPU, and that must not change the count."""
    return _cost(call.args[0].numel * r.flops, r.category)


def _norm_order(call: OpCall):
    if call.op.startswith("aten.linalg_vector_norm"):
        return call.arg(1, "ord", 2)
    p = call.arg(1, "p", 2)
    return 2 if p is None else p


@_uses("vector_norm")
def _vector_norm(call: OpCall, r: Rule) -> OpCost:
    p = _norm_order(call)
    simple = p in (0, 1, 2) or (isinstance(p, float) and math.isinf(p))
    constant = r.flops + (0 if simple else r.extra("p ∉ {0, 1, 2, ±inf}"))
    return _per_element(call, r, call.args[0].numel, constant)


@_uses("sort")
def _sort(call: OpCall, r: Rule) -> OpCost:
    x = call.args[0]
    if "stable" in call.op or "dim" in call.kwargs:
        dim = call.kwargs.get("dim", -1)
    else:
        dim = call.arg(1, "dim", -1)
    if not is_floating(call):
        return _cost(0, r.category)
    return _cost(r.flops * sort_comparisons(x.shape, dim), r.category)


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


@_uses("search")
def _search(call: OpCall, r: Rule) -> OpCost:
    """searchsorted(sorted_sequence [.., M], self) / bucketize(self, boundaries [M])."""
    if call.op.startswith("aten.searchsorted"):
        boundaries, queries = call.args[0], call.args[1]
    else:
        queries, boundaries = call.args[0], call.args[1]
    return _per_element(call, r, search_comparisons(_numel(queries), boundaries.shape[-1]), 1)


@_uses("unique")
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


@_uses("isin")
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


@_uses("scatter_accumulate")
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
    elif name in ("scatter", "scatter_"):
        source = call.arg(3, "src")
        if not _tensor(source):  # value_reduce: one update per index element
            source = call.arg(2, "index")
    else:  # index_add, scatter_add, scatter_reduce, index_reduce: (self, dim, index, src)
        source = call.arg(3, "source")
    elements = source.numel if _tensor(source) else 1
    return _per_element(call, r, elements, r.flops)


@_uses("embedding_backward")
def _embedding_backward(call: OpCall, r: Rule) -> OpCost:
    """embedding_dense_backward(grad_output, indices, num_weights, padding_idx, scale)."""
    constant = r.flops + (r.extra("scale_grad_by_freq") if call.arg(4, "scale_grad_by_freq") else 0)
    return _per_element(call, r, call.args[0].numel, constant)


@_uses("nll_loss")
def _nll_loss(call: OpCall, r: Rule) -> OpCost:
    """nll_loss_forward(self, target, weight, ...) /
    nll_loss_backward(grad, self, target, weight, ...)."""
    backward = "backward" in call.op
    target = call.args[2] if backward else call.args[1]
    weight = call.arg(3 if backward else 2, "weight")
    constant = r.flops + (r.extra("weight") if _tensor(weight) else 0)
    return _per_element(call, r, target.numel, constant)


@_uses("mse_loss")
def _mse_loss(call: OpCall, r: Rule) -> OpCost:
    reduced = call.arg(2, "reduction", 1) != 0
    constant = r.flops + (r.extra("reduction ≠ 'none'") if reduced else 0)
    return _per_element(call, r, call.args[0].numel, constant)


@_uses("binary_cross_entropy")
def _bce(call: OpCall, r: Rule) -> OpCost:
    constant = r.flops
    constant += r.extra("reduction ≠ 'none'") if call.arg(3, "reduction", 1) != 0 else 0
    constant += r.extra("weight") if _tensor(call.arg(2, "weight")) else 0
    return _per_element(call, r, call.args[0].numel, constant)


@_uses("binary_cross_entropy_backward")
def _bce_backward(call: OpCall, r: Rule) -> OpCost:
    constant = r.flops + (r.extra("weight") if _tensor(call.arg(3, "weight")) else 0)
    return _per_element(call, r, call.args[1].numel, constant)


@_uses("smooth_l1_loss")
def _smooth_l1(call: OpCall, r: Rule) -> OpCost:
    """(self, target, reduction, beta/delta)."""
    constant = r.flops + (r.extra("reduction ≠ 'none'") if call.arg(2, "reduction", 1) else 0)
    return _per_element(call, r, call.args[0].numel, constant)


@_uses("smooth_l1_loss_backward", "prelu_backward")
def _backward_per_input(call: OpCall, r: Rule) -> OpCost:
    """(grad_output, self, ...): ``rule.flops`` per element of ``self``."""
    return _per_element(call, r, call.args[1].numel, r.flops)


@_uses("bce_with_logits")
def _bce_with_logits(call: OpCall, r: Rule) -> OpCost:
    """(self, target, weight, pos_weight, reduction)."""
    constant = r.flops
    constant += r.extra("reduction ≠ 'none'") if call.arg(4, "reduction", 1) else 0
    constant += r.extra("weight") if _tensor(call.arg(2, "weight")) else 0
    constant += r.extra("pos_weight") if _tensor(call.arg(3, "pos_weight")) else 0
    return _per_element(call, r, call.args[0].numel, constant)


@_uses("embedding_bag", "embedding_bag_backward", "embedding_renorm")
def _embedding_bag(call: OpCall, r: Rule) -> OpCost:
    """Gathered elements = indices × embedding dim. Forward
    (weight, indices, offsets, scale, mode, sparse, per_sample_weights, ...); backward
    (grad, indices, offset2bag, bag_size, max_indices, num_weights, scale, mode, sparse,
    per_sample_weights, ...); embedding_renorm_(self, indices, max_norm, norm_type)."""
    first, indices = call.args[0], call.args[1]
    gathered = indices.numel * first.shape[-1]
    constant = r.flops
    if r.extras:
        index = 6 if r.key == "embedding_bag" else 9
        constant += (
            r.extra("per_sample_weights") if _tensor(call.arg(index, "per_sample_weights")) else 0
        )
    return _per_element(call, r, gathered, constant)


@_uses("overlap_add")
def _overlap_add(call: OpCall, r: Rule) -> OpCost:
    """col2im / padding backward / unfold_backward(grad, input_sizes, dim, size, step):
    one accumulate per incoming element; unfold windows that do not overlap are a copy."""
    if call.op.startswith("aten.unfold_backward") and call.arg(3, "size") <= call.arg(4, "step"):
        return _cost(0, r.category)
    return _per_element(call, r, call.args[0].numel, r.flops)


@_uses("pairwise_distance", "pairwise_distance_backward")
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


@_uses("grid_sample")
def _grid_sample(call: OpCall, r: Rule) -> OpCost:
    """grid_sampler_{2,3}d(input, grid, interpolation_mode, padding_mode, align_corners);
    mode 0 bilinear, 1 nearest (a gather), 2 bicubic."""
    mode = call.arg(2, "interpolation_mode", 0)
    if mode == 1:
        return _cost(0, r.category)
    constant = r.flops + (r.extra("3-D") if "3d" in call.op else 0)
    constant += r.extra("interpolation_mode='bicubic'") if mode == 2 else 0
    return _per_element(call, r, output_elements(call), constant)


@_uses("grid_sample_backward")
def _grid_sample_backward(call: OpCall, r: Rule) -> OpCost:
    """(grad_output, input, grid, interpolation_mode, padding_mode, align_corners, mask)."""
    mode = call.arg(3, "interpolation_mode", 0)
    grad_input, grad_grid = (bool(m) for m in call.arg(6, "output_mask", [True, True]))
    if mode == 1:  # nearest: the gradient is routed to one pixel; no grid gradient
        nearest = rule("nearest_backward")
        return _per_element(call, r, call.args[0].numel, nearest.flops if grad_input else 0)
    constant = r.flops + (r.extra("3-D") if "3d" in call.op else 0)
    constant += r.extra("interpolation_mode='bicubic'") if mode == 2 else 0
    constant = constant * (int(grad_input) + int(grad_grid)) // 2
    return _per_element(call, r, call.args[0].numel, constant)


@_uses("affine_grid")
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


@_uses("pool")
def _pool(call: OpCall, r: Rule) -> OpCost:
    """Fixed-kernel pooling: kernel area per output; activations = output elements."""
    out = call.outputs[0]
    window = pool_kernel_elements(call.arg(1, "kernel_size"), _spatial_dims(call))
    flops = out.numel * window * r.flops if is_floating(call) else 0
    return _cost(flops, r.category, activations=out.numel)


@_uses("adaptive_pool")
def _adaptive_pool(call: OpCall, r: Rule) -> OpCost:
    """Adaptive pooling: the exact windows; activations = output elements."""
    x, out = call.args[0], call.outputs[0]
    dims = _spatial_dims(call)
    flops = adaptive_pool_window_elements(x.shape, out.shape, dims) * r.flops
    return _cost(flops if is_floating(call) else 0, r.category, activations=out.numel)


@_uses("avg_pool_backward")
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


@_uses(
    "linear1d_backward",
    "bilinear2d_backward",
    "trilinear3d_backward",
    "bicubic2d_backward",
    "nearest_backward",
    "glu_backward",
    "max_pool_backward",
)
def _per_grad_output(call: OpCall, r: Rule) -> OpCost:
    """``rule.flops`` per element of the incoming gradient (the first argument)."""
    return _per_element(call, r, call.args[0].numel, r.flops)


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


@_uses("interpolate_aa")
def _interpolate_aa(call: OpCall, r: Rule) -> OpCost:
    taps, outputs = _aa_args(call, backward=False)
    if not is_floating(call):
        return _cost(0, r.category)
    return _cost(r.flops * taps - outputs, r.category)


@_uses("interpolate_aa_backward")
def _interpolate_aa_backward(call: OpCall, r: Rule) -> OpCost:
    taps, _ = _aa_args(call, backward=True)
    return _per_element(call, r, taps, r.flops)


# ---------------------------------------------------------------------------------------
# fused optimizer steps


@_uses("fused_adam", "fused_sgd", "fused_adagrad")
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


# ---------------------------------------------------------------------------------------
# FFT


def _fft_dims(dims, ndim: int) -> list[int]:
    dims = [dims] if isinstance(dims, int) else list(dims)
    return [d % ndim for d in dims]


@_uses("fft_c2c", "fft_real")
def _fft(call: OpCall, r: Rule) -> OpCost:
    """_fft_r2c(self, dim, norm, onesided) / _fft_c2r(self, dim, norm, last_dim_size) /
    _fft_c2c(self, dim, norm, forward): per transformed dim, (numel/N) transforms of length
    N, N measured on the real side for r2c/c2r."""
    x = call.args[0]
    real_side = call.outputs[0] if call.op.startswith("aten._fft_c2r") else x
    dims = _fft_dims(call.arg(1, "dim"), real_side.ndim)
    return _cost(fft_flops(real_side.shape, dims, r.flops), r.category)


# ---------------------------------------------------------------------------------------
# documentation


def _format_constant(value: int | Fraction) -> str:
    if isinstance(value, Fraction) and value.denominator != 1:
        denominator = value.denominator
        for factor in (2, 5):
            while denominator % factor == 0:
                denominator //= factor
        # a terminating decimal prints as one (2.5); thirds print as fractions (4/3)
        return f"{float(value):g}" if denominator == 1 else f"{value.numerator}/{value.denominator}"
    return str(int(value))


def conventions_table() -> str:
    """The markdown table of every rule, as docs/conventions.md prints it."""
    lines = [
        "| ops | category | flops | per | extra terms | derivation |",
        "|---|---|---|---|---|---|",
    ]
    for r in RULES:
        ops = ", ".join(f"`{name}`" for name in r.ops)
        extras = (
            "; ".join(
                f"{'+' if value >= 0 else '−'}{_format_constant(abs(value))} {label}"
                for label, value in r.extras
            )
            or "–"
        )
        if r.complex_flops is not None:
            extras = (extras + "; " if r.extras else "") + f"complex: {r.complex_flops}"
        if r.mixed_flops is not None:
            extras += f"; complex with a real operand: {r.mixed_flops}"
        steps = r.steps.replace("|", "\\|")
        constant = _format_constant(r.flops)
        lines.append(f"| {ops} | {r.category} | {constant} | {r.basis} | {extras} | {steps} |")
    return "\n".join(lines) + "\n"
