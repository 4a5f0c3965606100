"""The rules table: one row per family of ops sharing a cost formula.

A row names its ops, its constant (flops per ``basis`` element), the extra terms that apply
in some calls, the elementary steps the constant is derived from, and its *counter*: the
function that reads a call's shapes and arguments and multiplies. From the rows alone the
registry is filled (:func:`counter`) and docs/conventions.md prints the table
(:func:`conventions_table`, ``scripts/gen_conventions_table.py``).

Adding an op:

* to an existing family: its name in that row's ``ops``;
* a new family counted per output (or per input) element: one row, e.g.
  ``Rule("swish", 2, OUT, "elementwise", ("swish",), "sigmoid, ·x")``; the counter follows
  from the basis (:data:`DEFAULT_COUNTERS`), the in-place ``swish_`` packet is registered
  with it, and ``foreach=True`` adds ``_foreach_swish`` / ``_foreach_swish_``;
* a family whose elements depend on its arguments: the row with ``count="name"`` and a
  function decorated ``@counter("name")`` beside its family (elementwise.py, layers.py,
  linalg.py, vision.py).

Then ``python scripts/gen_conventions_table.py --write``. An op named by two rows, or by a
row and the zero set, raises when the registry loads; so does a row whose counter no
module defines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from flopwise.cost.registry import aten, register
from flopwise.cost.types import OpCall, OpCost

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
# The counter of a row that names none, by its basis: the constant times the elements of
# the output, or of the first tensor argument (the reduced input, the incoming gradient).
DEFAULT_COUNTERS = {OUT: "per_output", IN: "per_first_input", GRAD_OUT: "per_first_input"}
# The counter of the ``_foreach_<op>`` kernels of the rows marked ``foreach``.
FOREACH = "foreach"


@dataclass(frozen=True)
class Rule:
    """One family of ops sharing a cost formula.

    ``flops`` is the cost per ``basis`` element; ``extras`` are named terms (also per basis
    element) that apply only in some calls (a weight tensor, training mode, a non-unit
    ``alpha``...). ``ops`` name ATen overload packets (their in-place ``name_`` packet is
    registered too) or single overloads (``max.other``). ``count`` names the counter
    (:func:`counter`); empty, the basis decides (:data:`DEFAULT_COUNTERS`). ``foreach``
    registers the multi-tensor ``_foreach_<op>`` kernels of the packets too.
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
    count: str = ""
    foreach: bool = False

    def extra(self, name: str) -> int | Fraction:
        """The extra term ``name``; a name the row lacks raises (a typo must not count 0)."""
        for label, value in self.extras:
            if label == name:
                return value
        raise KeyError(f"rule {self.key!r} has no extra term {name!r}")

    @property
    def counter(self) -> str:
        """The name of the counter that prices this row's ops."""
        return self.count or DEFAULT_COUNTERS.get(self.basis, "")


# fmt: off
RULES: tuple[Rule, ...] = (
    # -- elementwise arithmetic --------------------------------------------------------
    Rule("add", 1, OUT, "elementwise",
        ("add", "sub", "rsub"),
        "one add or subtract; a non-unit alpha scales the other operand first",
        extras=(("alpha ≠ 1", 1),), complex_flops=2, mixed_flops=1,
        count="add", foreach=True,
    ),
    Rule("mul", 1, OUT, "elementwise",
        ("mul",),
        "one multiply; complex (a+bi)(c+di): 4 multiplies + 2 adds; complex by real: 2 multiplies",
        complex_flops=6, mixed_flops=2,
        foreach=True,
    ),
    Rule("div", 1, OUT, "elementwise",
        ("div", "true_divide", "floor_divide", "remainder", "fmod"),
        "one divide (floor/remainder: the divide, rounding fused); complex: 6 for the numerator, "
        "3 for |d|², 2 divides; complex by real: 2 divides",
        complex_flops=11, mixed_flops=2,
        foreach=True,
    ),
    Rule("neg", 1, OUT, "elementwise",
        ("neg", "negative"),
        "one sign flip; complex: both parts",
        complex_flops=2,
        foreach=True,
    ),
    Rule("abs", 1, OUT, "elementwise",
        ("abs", "absolute"),
        "one sign clear; complex |z|: 2 squares, 1 add, 1 sqrt",
        complex_flops=4,
        foreach=True,
    ),
    Rule("unary", 1, OUT, "elementwise",
        ("sqrt", "rsqrt", "reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
         "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
         "atanh", "sigmoid", "erf", "erfc", "erfinv", "logit", "digamma", "lgamma", "i0", "sinc",
         "deg2rad", "rad2deg", "square", "special_i0e", "special_i1", "special_i1e", "special_ndtri",
         "special_log_ndtr", "special_erfcx", "polygamma"),
        "one elementary function evaluation (transcendentals count 1, like a multiply)",
        foreach=True,
    ),
    Rule("rounding", 1, OUT, "elementwise",
        ("floor", "ceil", "round", "trunc", "frac", "sign", "sgn"),
        "one rounding or sign step",
        foreach=True,
    ),
    Rule("binary", 1, OUT, "elementwise",
        ("pow", "float_power", "atan2", "hypot", "copysign", "xlogy", "logaddexp", "logaddexp2",
         "special_xlog1py"),
        "one binary function evaluation",
        foreach=True,
    ),
    Rule("cross", 3, OUT, "elementwise",
        ("linalg_cross",),
        "each component a_j·b_k − a_k·b_j: 2 multiplies, 1 subtract",
    ),
    Rule("ldexp", 2, OUT, "elementwise",
        ("ldexp",),
        "x·2^e: exp2 of the exponent, multiply",
    ),
    Rule("entr", 3, OUT, "elementwise",
        ("special_entr",),
        "−x·ln x: log, ·x, negate (the x = 0 and x < 0 cases are range tests, fused)",
    ),
    Rule("mvlgamma", 3, "term of each output element, p terms", "elementwise",
        ("mvlgamma",),
        "log Γ_p(x) = p(p−1)/4·log π + Σ_{i<p} lgamma(x − i/2), as ATen evaluates it: per term "
        "the shift, lgamma, accumulate (3); then + the constant",
        extras=(("output element (the constant)", 1),),
        count="mvlgamma",
    ),
    Rule("compare_value", 1, OUT, "elementwise",
        ("relu", "clamp", "clamp_min", "clamp_max", "clip", "hardtanh", "threshold", "maximum",
         "minimum", "fmax", "fmin", "max.other", "max.out", "min.other", "min.out"),
        "one comparison that produces the value (max(x, 0), a clamp to a range)",
        foreach=True,
    ),
    Rule("ternary", 3, OUT, "elementwise",
        ("lerp", "addcmul", "addcdiv"),
        "lerp: b−a, ·w, +a; addcmul/addcdiv: t1·t2 (or t1/t2), ·value, +self",
        foreach=True,
    ),
    # -- activations ---------------------------------------------------------------------
    Rule("gelu", 5, OUT, "elementwise",
        ("gelu",),
        "exact: x·√½, erf, +1, ·x, ·½ = 5; tanh form adds x³ (2), ·0.044715, +x and swaps erf for"
        " tanh with ·√(2/π) = 9",
        extras=(("approximate='tanh'", 4),),
        count="gelu",
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
        count="dropout",
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
        extras=(("weight", 1), ("bias", 1)),
        count="norm",
    ),
    Rule("batch_norm", 2, IN, "norm",
        ("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
         "_native_batch_norm_legit_no_training", "_batch_norm_with_update",
         "_batch_norm_with_update_functional", "_batch_norm_no_update", "cudnn_batch_norm",
         "miopen_batch_norm"),
        "with running statistics: centre, ·invstd; training computes the batch statistics first "
        "(mean 1 add, square, variance sum); affine: ·weight, +bias",
        extras=(("training", 3), ("weight", 1), ("bias", 1)),
        count="batch_norm",
    ),
    Rule("rms_norm", 3, IN, "norm",
        ("_fused_rms_norm", "rms_norm"),
        "square, sum, ·rstd; ·weight",
        extras=(("weight", 1),),
        count="norm",
    ),
    Rule("weight_norm", 3, "element of v", "norm",
        ("_weight_norm_interface",),
        "w = g·v/‖v‖, the norm over every dim but `dim`: square, accumulate (the per-row sqrt "
        "is amortised, as in vector_norm), ·(g/‖v‖); the divide g/‖v‖ is 1 per element of g. "
        "The same as PyTorch's decomposition (linalg_vector_norm, div, mul) counts",
        extras=(("element of g", 1),),
        count="weight_norm",
    ),
    Rule("weight_norm_backward", 5, "element of v", "norm",
        ("_weight_norm_interface_backward",),
        "w = g·v/‖v‖ per row (every dim but `dim`), given grad_w: s = Σ grad_w·v over the row, "
        "grad_g = s/‖v‖, grad_v = (g/‖v‖)·(grad_w − v·s/‖v‖²) (∂w_j/∂v_i = (g/‖v‖)(δ_ij − "
        "v_i·v_j/‖v‖²)). Per element of v: grad_w·v, accumulate (2); v·(s/‖v‖²), grad_w − that, "
        "·(g/‖v‖) (3). Per element of g (one per row): ‖v‖², s/‖v‖², g/‖v‖, s/‖v‖ (4). Both "
        "gradients always. The same as PyTorch's differentiable form "
        "(_weight_norm_differentiable_backward: mul, sum, div, mul, sub) and its CPU kernel count",
        extras=(("element of g", 4),),
        count="weight_norm",
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
        count="norm_backward",
    ),
    Rule("rms_norm_backward", 0, IN, "norm",
        ("_fused_rms_norm_backward",),
        "x̂ = x·rstd (1); grad_input = rstd·(g' − x̂·mean(g'·x̂)), g' = g·weight: g·weight, "
        "g'·x̂, row sum, x̂·m, subtract, ·rstd; grad_weight = Σ g·x̂ (2)",
        extras=(
            ("x̂ (grad_input or grad_weight)", 1), ("grad_input", 5), ("grad_input with weight", 1),
            ("grad_weight", 2),
        ),
        count="rms_norm_backward",
    ),
    # -- elementwise backward ------------------------------------------------------------
    Rule("threshold_backward", 1, OUT, "elementwise",
        ("threshold_backward", "hardtanh_backward", "hardshrink_backward"),
        "range test passes or zeroes the gradient",
    ),
    Rule("sigmoid_backward", 3, OUT, "elementwise",
        ("sigmoid_backward",),
        "1−y, ·y, ·g",
    ),
    Rule("tanh_backward", 3, OUT, "elementwise",
        ("tanh_backward",),
        "y², 1−y², ·g",
    ),
    Rule("silu_backward", 6, OUT, "elementwise",
        ("silu_backward",),
        "s = sigmoid(x), 1−s, x·(1−s), +1, ·s, ·g",
    ),
    Rule("gelu_backward", 11, OUT, "elementwise",
        ("gelu_backward",),
        "exact: Φ(x) = ½(1+erf(x·√½)) (4), φ(x) = exp(−x²/2)/√(2π) (4), x·φ, Φ+x·φ, ·g = 11; tanh"
        " form: inner k(x+0.044715x³) (5), tanh, ½(1+t) (2), (1−t²) (2), k(1+3·0.044715x²) (3), "
        "·x·½ (2), product, sum, ·g = 18",
        extras=(("approximate='tanh'", 7),),
        count="gelu",
    ),
    Rule("hardswish_backward", 4, OUT, "elementwise",
        ("hardswish_backward",),
        "range test, x/3, +½, ·g",
    ),
    Rule("hardsigmoid_backward", 2, OUT, "elementwise",
        ("hardsigmoid_backward",),
        "range test, ·g/6",
    ),
    Rule("leaky_relu_backward", 2, OUT, "elementwise",
        ("leaky_relu_backward", "rrelu_with_noise_backward", "softshrink_backward"),
        "sign test, ·slope",
    ),
    Rule("elu_backward", 3, OUT, "elementwise",
        ("elu_backward",),
        "sign test, exp (or y+α), ·α·g",
    ),
    Rule("softplus_backward", 5, OUT, "elementwise",
        ("softplus_backward",),
        "z = exp(β·x) (2), z/(z+1) (2), ·g",
    ),
    Rule("mish_backward", 10, OUT, "elementwise",
        ("mish_backward",),
        "softplus (exp, log1p), t = tanh, sigmoid, t², 1−t², x·σ, ·(1−t²), +t, ·g",
    ),
    Rule("log_sigmoid_backward", 4, OUT, "elementwise",
        ("log_sigmoid_backward",),
        "sign test, buffer/(1+buffer) (2), ·g",
    ),
    Rule("softmax_backward", 4, OUT, "softmax",
        ("_softmax_backward_data",),
        "g·y, row sum, g − sum, ·y",
    ),
    Rule("log_softmax_backward", 4, OUT, "softmax",
        ("_log_softmax_backward_data",),
        "exp(y), row sum of g, exp(y)·sum, g − that",
    ),
    Rule("dropout_backward", 2, OUT, "elementwise",
        ("native_dropout_backward",),
        "·mask, ·scale",
    ),
    Rule("logit_backward", 3, OUT, "elementwise",
        ("logit_backward",),
        "g/(x·(1−x)): 1−x, ·x, divide; with eps the range test that zeroes the gradient "
        "outside [eps, 1−eps]",
        extras=(("eps", 1),),
        count="logit_backward",
    ),
    # -- reductions ----------------------------------------------------------------------
    Rule("sum", 1, IN, "reduction",
        ("sum", "nansum", "mean", "nanmean", "prod"),
        "one accumulate per input element (the mean's 1/N is per output, not counted)",
    ),
    Rule("extremum", 1, IN, "reduction",
        ("amax", "amin", "max", "min", "aminmax", "argmax", "argmin", "topk", "median",
         "nanmedian", "kthvalue"),
        "one comparison per input element (topk/median/kthvalue: a selection scan)",
    ),
    Rule("logical_reduction", 1, IN, "reduction",
        ("any", "all", "count_nonzero", "_is_all_true", "_is_any_true"),
        "one test-and-accumulate per input element",
    ),
    Rule("trace", 1, "diagonal element, min(m, n) of an m×n matrix", "reduction",
        ("trace",),
        "one accumulate per diagonal element",
        count="trace",
    ),
    Rule("var", 4, IN, "reduction",
        ("var", "std", "var_mean", "std_mean"),
        "mean pass (1 add), then x−mean, square, accumulate (the final /(N−c) and the std's sqrt "
        "are per output, not counted)",
    ),
    Rule("logsumexp", 4, IN, "reduction",
        ("logsumexp",),
        "max pass, x−max, exp, accumulate (log and +max are per output)",
    ),
    Rule("vector_norm", 2, IN, "reduction",
        ("linalg_vector_norm", "norm"),
        "|x|^p for p in {0, 1, 2, ±inf} is one step (abs, square, test), then accumulate; other p"
        " need abs then pow",
        extras=(("p ∉ {0, 1, 2, ±inf}", 1),),
        count="vector_norm", foreach=True,
    ),
    Rule("sort", 1, SORT, "reduction",
        ("sort",),
        "comparison sort: ⌈log2 N⌉ comparisons per element",
        count="sort",
    ),
    Rule("mode", 1, SORT, "reduction",
        ("mode",),
        "the most frequent value along dim: each slice sorted (⌈log2 N⌉ comparisons per "
        "element, the sort rule), then one scan comparing neighbours to count the runs",
        extras=(("input element (the run scan)", 1),),
        count="mode",
    ),
    Rule("renorm", 3, IN, "reduction",
        ("renorm",),
        "every slice along dim rescaled to norm ≤ maxnorm: |x|^p (as vector_norm), accumulate, "
        "·factor; the slice's root, its comparison with maxnorm and the factor are per slice",
        extras=(("p ∉ {0, 1, 2, ±inf}", 1),),
        count="renorm",
    ),
    Rule("search", 1, "query × ⌈log2(M+1)⌉ (M = boundaries per search)", "reduction",
        ("searchsorted", "bucketize"),
        "binary search: ⌈log2(M+1)⌉ comparisons place a query among the M+1 slots of M sorted "
        "boundaries",
        count="search",
    ),
    Rule("unique", 1, "comparison (see derivation)", "reduction",
        ("_unique", "_unique2", "unique_dim", "unique_consecutive", "unique_dim_consecutive"),
        "sort-based: N·⌈log2 N⌉ sort comparisons + N−1 adjacent comparisons over the N input "
        "elements, whatever `sorted` asks (the backend's choice of hashing must not change the "
        "count); along a dim, S slices of L elements: L·(S·⌈log2 S⌉ + S−1); consecutive: no "
        "sort, N−1 (L·(S−1) along a dim)",
        count="unique",
    ),
    Rule("isin", 1, "comparison (see derivation)", "reduction",
        ("isin",),
        "E elements against T test elements: the cheaper of the all-pairs scan E·T and sorting "
        "the test set then binary-searching each element, T·⌈log2 T⌉ + E·⌈log2(T+1)⌉ (a scalar "
        "side counts 1)",
        count="isin",
    ),
    Rule("histogram", 3, IN, "reduction",
        ("histc", "bincount", "histogram"),
        "x−min, ·bins/(max−min), increment the bin (range test and floor fused); on any dtype:"
        " bucketing searches the data like sort, and libraries bin the same ids as int on one"
        " device and as float on another",
        count="histogram",
    ),
    # -- cumulative ----------------------------------------------------------------------
    Rule("cumulative", 1, IN, "reduction",
        ("cumsum", "cumprod", "cummax", "cummin"),
        "one running add, multiply or comparison per element",
    ),
    Rule("logcumsumexp", 6, IN, "reduction",
        ("logcumsumexp",),
        "logaddexp(acc, x) = max + log1p(exp(min − max)): max, min, subtract, exp, log1p, add",
    ),
    # -- accumulating scatters and losses -------------------------------------------------
    Rule("scatter_accumulate", 1, SOURCE, "reduction",
        ("index_add", "scatter_add", "scatter_reduce", "scatter.reduce", "scatter.value_reduce",
         "scatter.reduce_out", "scatter.value_reduce_out", "scatter_.reduce",
         "scatter_.value_reduce", "index_reduce", "index_put", "_unsafe_index_put",
         "_index_put_impl", "put"),
        "one accumulate per source element; index_put with accumulate=True: one per updated "
        "element, index positions × the slice each selects (a broadcast value counts every "
        "element it is added to); index_put/_unsafe_index_put and put without accumulate=True "
        "are copies (0, category memory)",
        count="scatter_accumulate",
    ),
    Rule("embedding_backward", 1, GRAD_OUT, "reduction",
        ("embedding_dense_backward",),
        "scatter-add of each gradient row into the weight gradient",
        extras=(("scale_grad_by_freq", 1),),
        count="embedding_backward",
    ),
    Rule("nll_loss", 1, TARGET, "reduction",
        ("nll_loss_forward", "nll_loss2d_forward", "nll_loss_backward", "nll_loss2d_backward"),
        "forward: pick −x[target] and accumulate; backward: write −g (or −g/Σw); ·weight[target]",
        extras=(("weight", 1),),
        count="nll_loss",
    ),
    Rule("mse_loss", 2, IN, "reduction",
        ("mse_loss",),
        "x−t, square; accumulate when reduced",
        extras=(("reduction ≠ 'none'", 1),),
        count="mse_loss",
    ),
    Rule("mse_loss_backward", 3, IN, "elementwise",
        ("mse_loss_backward",),
        "x−t, ·2/N (or ·2), ·g",
        count="per_output",
    ),
    Rule("binary_cross_entropy", 7, IN, "reduction",
        ("binary_cross_entropy",),
        "log x, 1−x, log(1−x), log x − log(1−x), ·t, +log(1−x), negate; accumulate when reduced; "
        "·weight",
        extras=(("reduction ≠ 'none'", 1), ("weight", 1)),
        count="bce",
    ),
    Rule("binary_cross_entropy_backward", 5, IN, "elementwise",
        ("binary_cross_entropy_backward",),
        "x−t, 1−x, x·(1−x), divide, ·g (1/N folded into g); ·weight",
        extras=(("weight", 1),),
        count="bce_backward",
    ),
    Rule("smooth_l1_loss", 5, IN, "reduction",
        ("smooth_l1_loss", "huber_loss"),
        "x−t, |d|, test against β (δ), then ½d²/β (square, scale) or |d|−½β (subtract, scale); "
        "accumulate when reduced",
        extras=(("reduction ≠ 'none'", 1),),
        count="smooth_l1",
    ),
    Rule("smooth_l1_loss_backward", 4, IN, "elementwise",
        ("smooth_l1_loss_backward", "huber_loss_backward"),
        "x−t, range test, d/β or sign(d)·δ, ·g (1/N folded into g)",
        count="per_second_input",
    ),
    Rule("bce_with_logits", 8, IN, "reduction",
        ("binary_cross_entropy_with_logits",),
        "(1−t)·x (2) + max(−x, 0) + log1p(exp(−|x|)) (|x|, exp, log1p) and 2 adds; pos_weight: "
        "(p−1)·t+1 (2) and its product (1); ·weight; accumulate when reduced",
        extras=(("reduction ≠ 'none'", 1), ("weight", 1), ("pos_weight", 3)),
        count="bce_with_logits",
    ),
    Rule("prelu_backward", 4, IN, "elementwise",
        ("_prelu_kernel_backward",),
        "grad_input: sign test, ·slope·g (2); grad_weight: x·g where negative, accumulate (2)",
        count="per_second_input",
    ),
    Rule("glu_backward", 6, GRAD_OUT, "elementwise",
        ("glu_backward",),
        "σ(b), g·σ for a; (1−σ), ·σ, ·a, ·g for b",
    ),
    Rule("soft_margin_loss", 4, IN, "reduction",
        ("soft_margin_loss",),
        "log(1 + exp(−y·x)): negate, ·y, exp, log1p; accumulate when reduced",
        extras=(("reduction ≠ 'none'", 1),),
        count="mse_loss",
    ),
    Rule("soft_margin_loss_backward", 7, IN, "elementwise",
        ("soft_margin_loss_backward",),
        "−y·σ(−y·x)·g: z = exp(−y·x) (negate, ·x, exp: 3), (−y)·z, /(1+z) (3), ·g (1/N folded "
        "into g)",
        count="per_second_input",
    ),
    Rule("multi_margin_loss", 3, "term: input element off its row's target class, N·(C−1)",
        "reduction",
        ("multi_margin_loss",),
        "Σ over i ≠ y of max(0, margin − x[y] + x[i])^p: + x[i] (margin − x[y] is per row), "
        "max(0, ·), accumulate; p=2: square. The ·weight[y], the 1/C and the batch reduction are"
        " per row, not counted",
        extras=(("p=2", 1),),
        count="margin_loss",
    ),
    Rule("multi_margin_loss_backward", 3, "term: input element off its row's target class, "
        "N·(C−1)", "elementwise",
        ("multi_margin_loss_backward",),
        "per term z again (1), test z > 0 (1), subtract it from grad[y] (1); grad[i] = "
        "g·weight[y]/C is per row; p=2: ·2z (1)",
        extras=(("p=2", 1),),
        count="margin_loss",
    ),
    Rule("multilabel_margin_loss", 3,
        "(label, non-label) pair, ⌊C²/4⌋ of each row of C classes (the worst case)", "reduction",
        ("multilabel_margin_loss_forward",),
        "Σ over labels j and non-labels i of max(0, 1 − x[y_j] + x[i]): + x[i] (1 − x[y_j] is "
        "per label), max(0, ·), accumulate; the 1/C and the batch reduction are per row. Which "
        "classes are labels is data (the target): counted for the labelling with the most "
        "pairs, ⌊C/2⌋ labels, as nms counts every pair",
        count="margin_loss",
    ),
    Rule("multilabel_margin_loss_backward", 4,
        "(label, non-label) pair, ⌊C²/4⌋ of each row of C classes (the worst case)",
        "elementwise",
        ("multilabel_margin_loss_backward",),
        "per pair z again (1), test z > 0 (1), + g/C into grad[i] (1), − g/C into grad[y_j] "
        "(1); g/C is per row",
        count="margin_loss",
    ),
    Rule("ctc_loss", 13,
        "state of the extended target (2S+1 per sequence) at each time step after the first",
        "reduction",
        ("_ctc_loss",),
        "the α recursion (Graves et al. 2006, eq. 6–7) as ATen's kernel runs it: α[t, s] = "
        "logsumexp(α[t−1, s], α[t−1, s−1], α[t−1, s−2]) + log_probs[t, l'_s], all three "
        "predecessors evaluated (a missing one enters as −inf): 2 max, 3 subtracts, 3 exps, "
        "2 adds, log, +max, +log_prob = 13; the final two-term logsumexp is per sequence. The "
        "lengths are data: counted at the full padded lengths, T time steps and Σ(2S_n+1) = "
        "2·(target elements) + N states (exact for concatenated 1-D targets)",
        count="ctc_loss",
    ),
    Rule("cudnn_ctc_loss", 26,
        "state of the extended target (2S+1 per sequence) at each time step after the first",
        "reduction",
        ("_cudnn_ctc_loss",),
        "cuDNN returns the loss and its gradient from one call: counted as the α and β "
        "recursions (13 each), the α·β accumulation (9 per state of every step) and the "
        "gradient (6 per log_probs element) of the two rows above; lengths as there",
        extras=(("state at every time step (α·β)", 9), ("log_probs element", 6)),
        count="ctc_loss",
    ),
    Rule("ctc_loss_backward", 13,
        "state of the extended target (2S+1 per sequence) at each time step after the first",
        "reduction",
        ("_ctc_loss_backward",),
        "the β recursion as the α one (13); then at every time step each state adds α + β to "
        "its label's log-gradient by log-add-exp (α+β, max, 2 subtracts, 2 exps, add, log, +max"
        " = 9); then per element of log_probs grad = (exp(lp) − exp(lg + nll − lp))·g (2 adds, "
        "2 exps, subtract, multiply = 6). Lengths counted as the forward",
        extras=(("state at every time step (α·β)", 9), ("log_probs element", 6)),
        count="ctc_loss",
    ),
    Rule("embedding_bag", 1, "gathered element (indices × embedding dim)", "reduction",
        ("_embedding_bag", "_embedding_bag_forward_only", "embedding_bag"),
        "sum/mean: one add per gathered element (the mean's divide is per bag); max: one "
        "comparison; per_sample_weights: one multiply more",
        extras=(("per_sample_weights", 1),),
        count="embedding_bag",
    ),
    Rule("embedding_bag_backward", 1, "gathered element (indices × embedding dim)", "reduction",
        ("_embedding_bag_backward", "_embedding_bag_dense_backward"),
        "scatter-add of the bag gradient into every gathered row; per_sample_weights: one "
        "multiply more",
        extras=(("per_sample_weights", 1),),
        count="embedding_bag",
    ),
    Rule("embedding_bag_per_sample_weights_backward", 2,
        "gathered element (indices × embedding dim)", "reduction",
        ("_embedding_bag_per_sample_weights_backward",),
        "the gradient of an index's weight is the dot of its bag's gradient row with the "
        "embedding row it gathered: multiply, accumulate",
        count="embedding_bag",
    ),
    Rule("embedding_renorm", 3, "gathered element (indices × embedding dim)", "reduction",
        ("embedding_renorm",),
        "row norm (square, accumulate), rescale (one multiply); the per-row test and divide are "
        "amortised",
        count="embedding_bag",
    ),
    Rule("overlap_add", 1, IN, "reduction",
        ("col2im", "unfold_backward", "reflection_pad1d_backward", "reflection_pad2d_backward",
         "reflection_pad3d_backward", "replication_pad1d_backward", "replication_pad2d_backward",
         "replication_pad3d_backward"),
        "accumulate every input (col2im columns, padded or unfolded gradient) into its source "
        "position (the forwards, im2col, padding and unfold, are copies; unfold_backward with "
        "step ≥ size is a copy too, 0)",
        count="overlap_add",
    ),
    Rule("pairwise_distance", 3, "pair × coordinate", "reduction",
        ("_pdist_forward", "_cdist_forward"),
        "difference, |d|^p (a square for p=2), accumulate (the root is per pair)",
        count="pairwise_distance",
    ),
    Rule("pairwise_distance_backward", 4, "pair × coordinate", "reduction",
        ("_pdist_backward", "_cdist_backward"),
        "difference, ·g/dist (or the p-norm derivative), accumulate into the point(s)",
        count="pairwise_distance",
    ),
    Rule("grid_sample", 7, OUT, "elementwise",
        ("grid_sampler_2d", "grid_sampler_3d", "cudnn_grid_sampler"),
        "bilinear: 4 taps weighted and summed, 4 multiplies + 3 adds; trilinear (3-D) 8 taps, 15; "
        "bicubic 16 taps, 31; nearest is a gather, 0; coordinate unnormalisation is per grid "
        "point and amortised over channels; cudnn_grid_sampler is the 2-D bilinear case",
        extras=(("3-D", 8), ("interpolation_mode='bicubic'", 24)),
        count="grid_sample",
    ),
    Rule("grid_sample_backward", 16, GRAD_OUT, "elementwise",
        ("grid_sampler_2d_backward", "grid_sampler_3d_backward", "cudnn_grid_sampler_backward"),
        "per tap, grad_input: ·weight, accumulate (2); grad_grid: value × weight derivative, "
        "accumulate (2): bilinear 4 taps = 16, trilinear 8 taps = 32, bicubic 16 taps = 64 (half "
        "without grad_grid); nearest routes grad_input only, 1 (the nearest-backward rule); "
        "cudnn_grid_sampler_backward is the 2-D bilinear case with both gradients",
        extras=(("3-D", 16), ("interpolation_mode='bicubic'", 48)),
        count="grid_sample_backward",
    ),
    Rule("affine_grid", 5, OUT, "elementwise",
        ("affine_grid_generator", "affine_grid_generator_backward"),
        "each coordinate is a dot of 3 homogeneous terms (4 in 3-D): 3 multiplies + 2 adds",
        extras=(("3-D", 2),),
        count="affine_grid",
    ),
    # -- pooling -------------------------------------------------------------------------
    Rule("pool", 1, WINDOW, "pool",
        ("max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
         "max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d",
         "avg_pool3d", "fractional_max_pool2d", "fractional_max_pool3d", "mkldnn_max_pool2d",
         "mkldnn_max_pool3d", "quantized_max_pool2d"),
        "one compare or add per window element (avg: the divide replaces the first add); the "
        "window is the kernel, padding positions included",
        count="pool",
    ),
    Rule("adaptive_pool", 1, WINDOW, "pool",
        ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
         "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool1d",
         "adaptive_max_pool2d", "adaptive_max_pool3d", "mkldnn_adaptive_avg_pool2d"),
        "one compare or add per window element; output i along a dim of input size I and output "
        "size O covers [⌊iI/O⌋, ⌈(i+1)I/O⌉)",
        count="adaptive_pool",
    ),
    Rule("max_pool_backward", 1, GRAD_OUT, "pool",
        ("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward",
         "adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward", "max_pool2d_backward",
         "fractional_max_pool2d_backward", "fractional_max_pool3d_backward"),
        "route each gradient to its argmax, accumulating where windows overlap",
    ),
    Rule("avg_pool_backward", 1, GRAD_WINDOW, "pool",
        ("avg_pool2d_backward", "avg_pool3d_backward", "_adaptive_avg_pool2d_backward",
         "_adaptive_avg_pool3d_backward"),
        "spread g/count over the window: one accumulate per window element",
        count="avg_pool_backward",
    ),
    # -- interpolation -------------------------------------------------------------------
    Rule("linear1d", 3, OUT, "elementwise",
        ("upsample_linear1d",),
        "2 taps: 2 multiplies + 1 add (tap weights are per column and amortised)",
    ),
    Rule("bilinear2d", 7, OUT, "elementwise",
        ("upsample_bilinear2d",),
        "4 taps: 4 multiplies + 3 adds (tap weights are per row/column and amortised)",
    ),
    Rule("trilinear3d", 15, OUT, "elementwise",
        ("upsample_trilinear3d",),
        "8 taps: 8 multiplies + 7 adds",
    ),
    Rule("bicubic2d", 31, OUT, "elementwise",
        ("upsample_bicubic2d",),
        "16 taps: 16 multiplies + 15 adds",
    ),
    Rule("interpolate_aa", 2, "tap of each output of each separable pass", "elementwise",
        ("_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa"),
        "antialiased resize runs separable passes (width, then height; a dim whose size is "
        "unchanged is skipped); an output of a pass with t taps costs t multiplies + t−1 adds = "
        "2t−1; t follows PyTorch's filter support (2 bilinear, 4 bicubic, widened by the "
        "downscale factor)",
        count="interpolate_aa",
    ),
    Rule("interpolate_aa_backward", 2, "tap of each output of each separable pass", "elementwise",
        ("_upsample_bilinear2d_aa_backward", "_upsample_bicubic2d_aa_backward"),
        "the forward's taps traversed in reverse: ·weight and accumulate per tap",
        count="interpolate_aa_backward",
    ),
    Rule("linear1d_backward", 4, GRAD_OUT, "elementwise",
        ("upsample_linear1d_backward",),
        "per tap (2): ·weight, accumulate into the input gradient",
    ),
    Rule("bilinear2d_backward", 8, GRAD_OUT, "elementwise",
        ("upsample_bilinear2d_backward",),
        "per tap (4): ·weight, accumulate",
    ),
    Rule("trilinear3d_backward", 16, GRAD_OUT, "elementwise",
        ("upsample_trilinear3d_backward",),
        "per tap (8): ·weight, accumulate",
    ),
    Rule("bicubic2d_backward", 32, GRAD_OUT, "elementwise",
        ("upsample_bicubic2d_backward",),
        "per tap (16): ·weight, accumulate",
    ),
    Rule("nearest_backward", 1, GRAD_OUT, "elementwise",
        ("upsample_nearest1d_backward", "upsample_nearest2d_backward",
         "upsample_nearest3d_backward", "_upsample_nearest_exact1d_backward",
         "_upsample_nearest_exact2d_backward", "_upsample_nearest_exact3d_backward"),
        "accumulate each gradient into its source pixel (the forward is a gather: zero set)",
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
        count="fused_optimizer",
    ),
    Rule("fused_sgd", 2, "parameter element", "elementwise",
        ("_fused_sgd_",),
        "p −= lr·g (2); weight decay g + λ·p (2); momentum buf = μ·buf + g (2), ·(1−d) when "
        "dampening ≠ 0 (1); nesterov g + μ·buf (2); grad_scale: unscale g (1)",
        extras=(
            ("weight_decay", 2), ("momentum", 2), ("dampening", 1), ("nesterov", 2),
            ("grad_scale", 1),
        ),
        count="fused_optimizer",
    ),
    Rule("fused_adagrad", 7, "parameter element", "elementwise",
        ("_fused_adagrad_",),
        "sum += g² (2); sqrt(sum) + eps (2); p −= clr·g/std (3); weight decay g + λ·p (2); "
        "grad_scale: unscale g (1)",
        extras=(("weight_decay", 2), ("grad_scale", 1)),
        count="fused_optimizer",
    ),
    # -- mixed-precision loss scaling (torch.amp.GradScaler) ---------------------------------
    Rule("amp_unscale", 1, "gradient element", "elementwise",
        ("_amp_foreach_non_finite_check_and_unscale",),
        "GradScaler.unscale_: g·inv_scale (1); the inf/NaN test is a comparison that yields a "
        "mask (free, as isfinite) and raising found_inf a select (free). The kernel skips the "
        "multiply when inv_scale is 1, a value, so it is always counted: the fused optimizers' "
        "grad_scale term (1) for the same unscale",
        count="amp_unscale",
    ),
    Rule("amp_update_scale", 1, "call (the one-element scale)", "elementwise",
        ("_amp_update_scale",),
        "GradScaler.update: scale·backoff after an inf/NaN, or scale·growth every "
        "growth_interval-th clean step: at most one multiply, counted on every call since the "
        "branch depends on values; the new scale's isfinite test is free, the growth "
        "tracker's increment and comparison are integer (0, rule 6): step counters are "
        "ordinary scalar arithmetic (rule 10)",
        count="amp_update_scale",
    ),
    # -- quantization-aware training (fake quantization) ------------------------------------
    Rule("fake_quantize", 6, IN, "elementwise",
        ("fake_quantize_per_tensor_affine_cachemask",
         "_fake_quantize_per_tensor_affine_cachemask_tensor_qparams",
         "fake_quantize_per_channel_affine_cachemask", "_fake_quantize_learnable_per_tensor_affine",
         "_fake_quantize_learnable_per_channel_affine"),
        "x̂ = (clamp(round(x/s) + z, qmin, qmax) − z)·s: ·(1/s), round, +z, clamp (one "
        "comparison that produces the value, as the clamp rule), −z, ·s; the in-range mask is a "
        "comparison (free); the learnable forms round and clamp z once per tensor or channel; "
        "an enable flag held in a tensor (data) counts as on",
        count="per_first_input",
    ),
    Rule("fake_quantize_learnable_backward", 12, IN, "elementwise",
        ("_fake_quantize_learnable_per_tensor_affine_backward",
         "_fake_quantize_learnable_per_channel_affine_backward"),
        "x̂ recomputed (6, as the forward); dx = dy·mask (1); the scale gradient dy·(x̂ − x)/s, "
        "grad_factor folded into 1/s per tensor or channel (3), and the zero-point gradient (0 "
        "in range, −dy·s outside), each accumulated over the tensor or channel (2). Counted for "
        "an element in range (outside it the scale gradient is dy·(qmin or qmax − z), 2)",
        count="per_second_input",
    ),
    Rule("fused_observer_fake_quantize", 7, IN, "elementwise",
        ("_fused_moving_avg_obs_fq_helper",),
        "the observer's running min and max: one comparison per element (as aminmax); the "
        "moving averages and the new scale and zero point are per tensor or channel; then "
        "fake quantization (6). observer_on and fake_quant_on are tensors (data): counted as "
        "on, the training state",
        count="per_first_input",
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
        extras=(("gate sum", 4), ("each bias tensor", 4)),
        count="recurrent",
    ),
    Rule("gru_layer", 10, "hidden unit of each (time step, batch) row", "contraction",
        ("gru", "gru_cell"),
        "whole only under inference_mode (otherwise unfused): macs = rows·3H·(I + H); per "
        "hidden unit r, z = σ(x·W + h·W) (2 adds, 2 sigmoids), n = tanh(x·W_n + r·(h·W_n)) (3), "
        "h' = (h − n)·z + n (3); each bias tensor 3",
        extras=(("each bias tensor", 3),),
        count="recurrent",
    ),
    Rule("rnn_layer", 2, "hidden unit of each (time step, batch) row", "contraction",
        ("rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell"),
        "whole only under inference_mode: macs = rows·H·(I + H); per hidden unit x·W + h·W (1) "
        "and tanh or relu (1); each bias tensor 1",
        extras=(("each bias tensor", 1),),
        count="recurrent",
    ),
    Rule("lstm_layer_backward", 23, "hidden unit of each (time step, batch) row", "contraction",
        ("mkldnn_rnn_layer_backward",),
        "macs = twice the forward's (grad of the layer input and of h, grads of W_ih and W_hh, "
        "all of which the kernel returns); per hidden unit: dh + recurrent dh (1), do = dh·tanh c "
        "and its sigmoid backward (4), dc = dc' + dh·o·tanh'(c) (5), df, di, dg each a product "
        "and an activation backward (12), dc_prev = dc·f (1); biases: one sum of the 4 gate "
        "gradients (4, both bias tensors receive it)",
        extras=(("biases", 4),),
        count="mkldnn_rnn_layer_backward",
    ),
    Rule("cudnn_rnn_backward", 23, "hidden unit of each (time step, batch) row", "contraction",
        ("_cudnn_rnn_backward",),
        "cuDNN's backward of a whole stack, the same as the CPU stack's backward counts. LSTM "
        "mode per layer and direction as mkldnn_rnn_layer_backward: the data gradient (W_ihᵀ, "
        "W_hhᵀ and the projection's transpose applied to the gate gradients: the forward's "
        "macs) and, when the weight gradient is asked for (output_mask[3]), the weight "
        "gradient (the forward's macs again); per hidden unit 23 for the gate and cell "
        "gradients, 4 for the bias gradient. GRU and RNN modes (data gradient and weight "
        "gradient as LSTM's) as PyTorch's step-by-step CPU backward counts them, each step by "
        "its own row: per hidden unit GRU 17 (dz = dh'·(h − n), d(h − n) = dh'·z, d(h_n) = "
        "dn·r, dr = dn·h_n: 4 multiplies; dn = dh' − d(h − n): a negate and an add; dh = "
        "d(h − n) + W_hhᵀ·dgates: an add; two sigmoid and one tanh backward, 3 each; the "
        "step's output gradient added to the recurrent one: an add), RNN 4 with tanh, 2 with "
        "relu (the activation's backward, 3 or 1, and that add); the last step has no later "
        "step: −1 per (batch, hidden unit) unless hy has a gradient (grad_hy); with the weight "
        "gradient, each bias tensor's gate gradients summed over the rows (1 per element, the "
        "sum rule) and W_hh's and b_hh's per-step gradients summed over the T steps ((T − 1) "
        "adds per element). Packed sequences in GRU and RNN modes are not counted yet and show "
        "as uncounted. Every mode: in training the inter-layer dropout's backward, the "
        "gradient times the scaled mask (1 per element, as the CPU stack's multiply); "
        "bidirectional: a layer's input gradient is the sum of its two directions' (1 per "
        "element; the first layer's only when the input needs a gradient, output_mask[0])",
        extras=(
            ("biases", 4), ("inter-layer dropout element, training", 1),
            ("input-gradient element, bidirectional", 1),
        ),
        count="cudnn_rnn_backward",
    ),
    Rule("fused_lstm_cell", 9, "hidden unit of each batch row", "elementwise",
        ("_thnn_fused_lstm_cell",),
        "the GPU cell after its two matmuls: gate sum (4), each bias (4 per bias tensor), cell "
        "activations and update (9), as in the CPU layer",
        extras=(("gate sum", 4), ("each bias tensor", 4)),
        count="fused_cell",
    ),
    Rule("fused_gru_cell", 10, "hidden unit of each batch row", "elementwise",
        ("_thnn_fused_gru_cell",),
        "the GPU cell after its two matmuls: r, z = σ(i + h) (2 adds, 2 sigmoids), "
        "n = tanh(i_n + r·h_n) (3), h' = n + z·(h − n) (3); each bias tensor adds 3 per unit",
        extras=(("each bias tensor", 3),),
        count="fused_cell",
    ),
    Rule("fused_lstm_cell_backward", 23, "hidden unit of each batch row", "elementwise",
        ("_thnn_fused_lstm_cell_backward_impl",),
        "the GPU cell's backward from its saved activated gates i, f, g, o: t = tanh(c') (1); "
        "do = σ'(o)·dh·t (4); dc = tanh'(t)·dh·o + dc' (5); di, df, dg: dc times c, g or i "
        "and the activation's derivative (4 each, 12); dc_prev = dc·f (1): the CPU layer "
        "backward's 23, and what PyTorch's differentiable form of it "
        "(_thnn_differentiable_lstm_cell_backward) counts after recomputing the gates; "
        "has_bias: the 4 gate gradients summed over the batch (4)",
        extras=(("has_bias", 4),),
        count="fused_cell_backward",
    ),
    Rule("fused_gru_cell_backward", 16, "hidden unit of each batch row", "elementwise",
        ("_thnn_fused_gru_cell_backward",),
        "from the saved r, z, n, h and h_n (h·W_hn + b_hn): dh_prev = dh·z (1); dz = σ'(z)·"
        "dh·(h−n) (5); dn = tanh'(n)·dh·(1−z) (5); d(h_n) = dn·r (1); dr = σ'(r)·dn·h_n (4); "
        "σ' and tanh' of a saved value are 3 each with the product, as the sigmoid and tanh "
        "backward rows; what _thnn_differentiable_gru_cell_backward counts after recomputing "
        "the gates; has_bias: the input and hidden gate gradients summed over the batch (3 + 3)",
        extras=(("has_bias", 6),),
        count="fused_cell_backward",
    ),
    Rule("trilinear", 3, "point of the joint index space of the three expanded operands",
        "contraction",
        ("_trilinear", "bilinear"),
        "nn.Bilinear's y = x1ᵀ·A·x2 (out[n,o] = Σ_ij x1[n,i]·A[o,i,j]·x2[n,j]): per point one "
        "multiply i1·i2 and one multiply-accumulate with i3; macs = the points, flops = 3 per "
        "point; the bias is a separate add (bilinear seen whole, under inference_mode, adds 1 "
        "per output element for it)",
        count="trilinear",
    ),
    # -- linear algebra (nominal counts of the textbook algorithm; no macs) ----------------
    # P(m, n) = m·n·k − (m+n)·k²/2 + k³/3 with k = min(m, n): the multiply-adds of LU on an
    # m×n matrix (n³/3 when square). Batched matrices count once per matrix; complex
    # matrices count 4× (a complex multiply-add is 4 real ones).
    Rule("cholesky", Fraction(1, 3), "n³ of each n×n matrix", "linalg",
        ("linalg_cholesky_ex", "linalg_cholesky", "cholesky"),
        "Cholesky factorisation n³/3 (Golub & Van Loan, Matrix Computations, §4.2; LAPACK "
        "potrf)",
        count="cubic",
    ),
    Rule("cholesky_inverse", Fraction(2, 3), "n³ of each n×n matrix", "linalg",
        ("cholesky_inverse",),
        "inverse from a Cholesky factor: 2n³/3 (LAPACK potri, LAWN 41 operation counts)",
        count="cubic",
    ),
    Rule("lu", 2, "P(m, n) = m·n·k − (m+n)·k²/2 + k³/3 of each m×n matrix, k = min(m, n)",
        "linalg",
        ("linalg_lu_factor_ex", "linalg_lu_factor", "linalg_lu", "_linalg_det", "_linalg_slogdet",
         "det", "logdet", "slogdet", "linalg_det", "linalg_slogdet"),
        "LU with partial pivoting, P(m, n) multiply-adds: 2n³/3 square, mn² − n³/3 for m ≥ n (GVL "
        "§3.2; LAPACK getrf); det/slogdet are the LU (the diagonal product is lower order, not counted)",
        count="lu",
    ),
    Rule("triangular_solve", 1, "n² per right-hand side (A is n×n)", "linalg",
        ("linalg_solve_triangular", "triangular_solve"),
        "forward or back substitution n² (GVL §3.1; LAPACK trtrs); a unit "
        "diagonal is not discounted",
        count="substitution",
    ),
    Rule("lu_solve", 2, "n² per right-hand side (A is n×n)", "linalg",
        ("linalg_lu_solve", "lu_solve", "cholesky_solve"),
        "two triangular solves with the factors (LAPACK getrs, potrs)",
        count="substitution",
    ),
    Rule("solve", 2, "P(n, n) = n³/3 of each n×n matrix", "linalg",
        ("_linalg_solve_ex", "linalg_solve_ex", "linalg_solve"),
        "LU (2n³/3) then two triangular solves per right-hand side (2n²) (LAPACK gesv)",
        extras=(("n² per right-hand side", 2),),
        count="solve",
    ),
    Rule("inverse", 2, "n³ of each n×n matrix", "linalg",
        ("linalg_inv_ex", "linalg_inv", "inverse"),
        "LU 2n³/3 and inversion from the factors 4n³/3 (LAPACK getrf + getri, LAWN 41)",
        count="cubic",
    ),
    Rule("qr", 4, "P(m, n) of each m×n matrix", "linalg",
        ("linalg_qr",),
        "Householder QR, R: 2mn² − 2n³/3 for m ≥ n (GVL §5.2); Q by backward accumulation"
        " (GVL §5.1): mode='reduced' m×k Q: 4·P(m, k) = 2mk² − 2k³/3; mode='complete' m×m Q: "
        "4·(m²k − mk² + k³/3); mode='r' none",
        extras=(("P(m, k), mode='reduced'", 4), ("(m²k − mk² + k³/3), mode='complete'", 4)),
        count="qr",
    ),
    Rule("householder_product", 4,
        "m·n·k − (m+n)·k²/2 + k³/3 of each m×n matrix, k = the reflectors (tau's length)",
        "linalg",
        ("linalg_householder_product",),
        "Q = H_1⋯H_k, the first n columns, accumulated backward from k Householder vectors "
        "(LAPACK orgqr; LAWN 41: 4mnk − 2(m+n)k² + 4k³/3); n = m is the qr rule's complete Q, "
        "n = k its reduced Q",
        count="householder_product",
    ),
    Rule("lstsq", 4, "P(m, n) of each m×n matrix", "linalg",
        ("linalg_lstsq",),
        "Householder least squares (GVL §5.3): QR of A (2mn² − 2n³/3), then per right-hand "
        "side Qᵀb (4mk − 2k²) and back substitution (k²) = 4mk − k², k = min(m, n)",
        extras=(("(m·k − k²/4) per right-hand side", 4),),
        count="lstsq",
    ),
    Rule("svd", 1, "flop of the Golub–Reinsch count of each m×n matrix (m ≥ n, else transposed)",
        "linalg",
        ("_linalg_svd", "linalg_svd", "linalg_svdvals"),
        "GVL §8.6 (the Golub–Reinsch flop table): singular values only (compute_uv=False) "
        "4mn² − 4n³/3; thin U and V (full_matrices=False) 14mn² + 8n³; full U and V 4m²n + "
        "8mn² + 9n³; svdvals counts as thin U and V (what PyTorch runs whenever a dispatch mode "
        "observes it, so the count does not depend on inference_mode)",
        count="svd",
    ),
    Rule("pinv", 1, "flop of thin SVD + product of each m×n matrix (m ≥ n, else transposed)",
        "linalg",
        ("linalg_pinv",),
        "A⁺ = V·Σ⁺·U1ᵀ: thin SVD (14mn² + 8n³) then the product 2mnk; hermitian=True: eigh "
        "with vectors (9n³) then 2n³ (the k·n scaling by 1/σ is lower order, not counted)",
        count="pinv",
    ),
    Rule("eigh", Fraction(4, 3), "n³ of each n×n matrix", "linalg",
        ("_linalg_eigh", "linalg_eigh", "linalg_eigvalsh"),
        "symmetric QR algorithm (GVL §8.3): eigenvalues only (compute_v=False) 4n³/3 "
        "(Householder tridiagonalisation; the O(n²) QR sweeps are not counted), 9n³ with "
        "eigenvectors; eigvalsh counts with eigenvectors (what PyTorch runs whenever a dispatch "
        "mode observes it)",
        extras=(("n³ more with eigenvectors (9n³ in all)", Fraction(23, 3)),),
        count="eigh",
    ),
    Rule("eig", 25, "n³ of each n×n matrix", "linalg",
        ("linalg_eig", "linalg_eigvals"),
        "Francis QR algorithm for a general matrix (GVL §7.5): Schur form T and Q 25n³ "
        "(eigvals counts the same: PyTorch computes the vectors whenever a dispatch mode "
        "observes it, so the count does not depend on inference_mode)",
        count="eig",
    ),
    Rule("matrix_exp", 10, "n³ of each n×n matrix", "linalg",
        ("linalg_matrix_exp",),
        "degree-18 Taylor approximant of Bader, Blanes & Casas (2019), the method ATen runs: 5 "
        "matrix products of 2n³; the ⌈log2(‖A‖₁/θ₁₈)⌉ squarings (2n³ each) and the lower "
        "degrees ATen picks for small norms depend on the values, so the count is the nominal "
        "one at ‖A‖₁ = θ₁₈",
        count="cubic",
    ),
    # -- FFT -------------------------------------------------------------------------------
    Rule("fft_c2c", 5, TRANSFORM, "fft",
        ("_fft_c2c",),
        "radix-2 complex FFT: (N/2)·log2 N butterflies of 10 real flops; normalisation folded",
        count="fft",
    ),
    Rule("fft_real", Fraction(5, 2), TRANSFORM, "fft",
        ("_fft_r2c", "_fft_c2r"),
        "real input or output: half the complex transform; N is the real length",
        count="fft",
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
        extras=(("box (area)", 3), ("sort comparison (N·⌈log2 N⌉)", 1)),
        count="nms",
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
        extras=(("output element (the average)", 1),),
        count="roi_align",
    ),
    Rule("roi_align_backward", 8,
        "bilinear sample, g² of each grad_output element (g as roi_align)",
        "pool",
        ("torchvision._roi_align_backward", "torchvision._ps_roi_align_backward"),
        "grad / count, 1 divide per grad_output element; each sample scatters it to its 4 "
        "taps: 4 mul + 4 accumulate = 8",
        extras=(("grad_output element (÷ count)", 1),),
        count="roi_align_backward",
    ),
    Rule("roi_pool", 1, "window element of each output, window ⌈H/PH⌉·⌈W/PW⌉", "pool",
        ("torchvision.roi_pool", "torchvision.ps_roi_pool"),
        "max (roi_pool) or average (ps_roi_pool) over a bin, one compare or add per bin element "
        "as the pool rule. A bin is the roi's size / the pooled size, which depends on the box "
        "coordinates (data): counted for a roi spanning the whole H×W feature map (nominal)",
        count="roi_pool",
    ),
    Rule("roi_pool_backward", 1, GRAD_OUT, "pool",
        ("torchvision._roi_pool_backward",),
        "the gradient is added at the recorded argmax, 1 add (as max_pool backward)",
        count="roi_pool_backward",
    ),
    Rule("ps_roi_pool_backward", 1, "window element of each grad_output element, window "
        "⌈H/PH⌉·⌈W/PW⌉", "pool",
        ("torchvision._ps_roi_pool_backward",),
        "grad / bin area added to every bin element, 1 add each (as avg_pool backward); the bin "
        "counted as for roi_pool",
        count="ps_roi_pool_backward",
    ),
    Rule("deform_conv2d", 7, "bilinear sample: batch × C_in × kernel point × output position",
        "contraction",
        ("torchvision.deform_conv2d",),
        "macs as the convolution, N·C_out·H_out·W_out·(C_in/groups)·kh·kw, 2 flops each, + 1 "
        "bias add per output element (torchvision always adds one, zeros when none is given); "
        "before that every input channel is sampled at each kernel point of each output "
        "position at its learned offset by bilinear interpolation: 4 taps weighted and summed, "
        "4 mul + 3 add = 7; tap weights are shared by a group's channels, amortised",
        extras=(("use_mask (the mask multiply)", 1),),
        count="deform_conv2d",
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
        extras=(("use_mask (mask multiplies and the mask gradient)", 4),),
        count="deform_conv2d_backward",
    ),
)
# fmt: on

RULES_BY_KEY: dict[str, Rule] = {rule.key: rule for rule in RULES}


def rule(key: str) -> Rule:
    """The row named ``key``."""
    return RULES_BY_KEY[key]


# ---------------------------------------------------------------------------------------
# registration, derived from the rows

Counter = Callable[[OpCall, Rule], OpCost]
COUNTERS: dict[str, Counter] = {}


def ops_of(r: Rule) -> list:
    """The ops a row stands for in this torch build: each named packet and its in-place
    ``name_`` packet, each named overload, and foreign ops by key."""
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
        inplace = getattr(aten, packet_name + "_", None)
        if inplace is not None:
            found.append(inplace)
    return found


def foreach_ops(r: Rule) -> list:
    """The ``_foreach_<op>`` and ``_foreach_<op>_`` packets of a row's packets."""
    found = []
    for name in r.ops:
        if "." in name:
            continue
        for variant in (f"_foreach_{name}", f"_foreach_{name}_"):
            packet = getattr(aten, variant, None)
            if packet is not None:
                found.append(packet)
    return found


def counter(name: str) -> Callable[[Counter], Counter]:
    """Decorator: file ``fn(call, rule)`` as the counter ``name`` and register it as the
    formula of every op of every row it counts (:attr:`Rule.counter`; for :data:`FOREACH`,
    the ``_foreach`` kernels of the rows marked ``foreach``). A name defined twice raises,
    as a second formula for an op does."""

    def wrap(fn: Counter) -> Counter:
        if name in COUNTERS:
            raise RuntimeError(f"flopwise: counter {name!r} defined twice ({fn.__qualname__})")
        COUNTERS[name] = fn
        for r in RULES:
            if name == FOREACH and r.foreach:
                register(*foreach_ops(r))(_bind(fn, r, f"_foreach[{r.key}]"))
            if r.counter == name:
                register(*ops_of(r))(_bind(fn, r, f"{fn.__name__}[{r.key}]"))
        return fn

    return wrap


def _bind(fn: Counter, r: Rule, label: str) -> Callable[[OpCall], OpCost]:
    def formula(call: OpCall) -> OpCost:
        return fn(call, r)

    formula.__name__ = label
    formula.__doc__ = fn.__doc__
    return formula


def rows_without_counter() -> list[str]:
    """Keys of the rows whose counter no loaded module defines (their ops would be
    uncounted); the registry raises on any once every cost module is imported."""
    return [r.key for r in RULES if r.counter not in COUNTERS]


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
