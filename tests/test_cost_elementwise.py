"""Formulas of elementwise.py against hand-computed integers (calls built by hand)."""

from __future__ import annotations

import math

import pytest
import torch

from flopwise.cost import elementwise as ew
from flopwise.cost import rules
from flopwise.cost.registry import lookup, op_key, registered_ops
from flopwise.cost.types import OpCall, OpCost, TensorMeta

aten = torch.ops.aten
F32, I64, C64, BOOL = torch.float32, torch.int64, torch.complex64, torch.bool


def T(*shape: int, dtype: torch.dtype = F32) -> TensorMeta:
    return TensorMeta(tuple(shape), dtype)


def cost(op, *args, outputs=(), **kwargs) -> OpCost:
    status, formula = lookup(op)
    assert status == "counted", f"{op} is {status}"
    return formula(OpCall(op_key(op), args, kwargs, tuple(outputs)))


# -- elementwise arithmetic -------------------------------------------------------------


def test_add_counts_broadcast_output_elements():
    c = cost(aten.add.Tensor, T(4, 1), T(1, 5), outputs=[T(4, 5)])
    assert (c.flops, c.macs, c.activations, c.category) == (20, 0, 0, "elementwise")


def test_add_alpha_adds_a_multiply():
    assert cost(aten.add.Tensor, T(4, 5), T(4, 5), outputs=[T(4, 5)], alpha=2).flops == 40
    assert cost(aten.sub.Tensor, T(4, 5), T(4, 5), outputs=[T(4, 5)], alpha=1).flops == 20
    assert cost(aten.add.Scalar, T(4, 5), 3.0, 2, outputs=[T(4, 5)]).flops == 40


def test_inplace_and_scalar_overloads():
    assert cost(aten.add_.Tensor, T(3, 7), T(7), outputs=[T(3, 7)]).flops == 21
    assert cost(aten.mul.Scalar, T(3, 7), 0.5, outputs=[T(3, 7)]).flops == 21
    assert cost(aten.relu_.default, T(2, 8), outputs=[T(2, 8)]).flops == 16
    assert cost(aten.div_.Tensor, T(2, 8), T(2, 1), outputs=[T(2, 8)]).flops == 16


def test_integer_and_boolean_arithmetic_is_not_floating_point():
    assert cost(aten.add.Tensor, T(16, dtype=I64), 1, outputs=[T(16, dtype=I64)]).flops == 0
    assert cost(aten.sum.default, T(16, dtype=BOOL), outputs=[T(dtype=I64)]).flops == 0
    assert (
        cost(aten.cumsum.default, T(2, 16, dtype=I64), -1, outputs=[T(2, 16, dtype=I64)]).flops == 0
    )
    # an integer tensor scaled by a float produces floats: counted
    assert cost(aten.mul.Tensor, T(16, dtype=I64), T(16), outputs=[T(16)]).flops == 16


def test_complex_elementwise():
    assert (
        cost(aten.mul.Tensor, T(10, dtype=C64), T(10, dtype=C64), outputs=[T(10, dtype=C64)]).flops
        == 60
    )
    assert (
        cost(aten.add.Tensor, T(10, dtype=C64), T(10, dtype=C64), outputs=[T(10, dtype=C64)]).flops
        == 20
    )
    assert (
        cost(aten.div.Tensor, T(10, dtype=C64), T(10, dtype=C64), outputs=[T(10, dtype=C64)]).flops
        == 110
    )
    assert cost(aten.abs.default, T(10, dtype=C64), outputs=[T(10)]).flops == 40
    assert cost(aten.exp.default, T(10, dtype=C64), outputs=[T(10, dtype=C64)]).flops == 20


@pytest.mark.parametrize(
    ("op", "per"),
    [
        (aten.sqrt.default, 1),
        (aten.rsqrt.default, 1),
        (aten.exp.default, 1),
        (aten.tanh.default, 1),
        (aten.sigmoid.default, 1),
        (aten.sin.default, 1),
        (aten.neg.default, 1),
        (aten.pow.Tensor_Scalar, 1),
        (aten.silu.default, 2),
        (aten.mish.default, 4),
        (aten.hardswish.default, 4),
        (aten.hardsigmoid.default, 3),
        (aten.leaky_relu.default, 2),
        (aten.elu.default, 4),
        (aten.softplus.default, 4),
        (aten.sigmoid_backward.default, 3),
        (aten.tanh_backward.default, 3),
        (aten.silu_backward.default, 6),
        (aten.threshold_backward.default, 1),
        (aten.hardswish_backward.default, 4),
        (aten._softmax_backward_data.default, 4),
        (aten._log_softmax_backward_data.default, 4),
        (aten.native_dropout_backward.default, 2),
    ],
)
def test_per_output_constants(op, per):
    x = T(3, 5, 7)
    assert cost(op, x, outputs=[T(3, 5, 7)]).flops == per * 105


def test_ternary_and_comparison_valued_ops():
    out = [T(6, 4)]
    assert cost(aten.lerp.Scalar, T(6, 4), T(6, 4), 0.5, outputs=out).flops == 72
    assert cost(aten.addcmul.default, T(6, 4), T(6, 4), T(4), outputs=out).flops == 72
    assert cost(aten.clamp.default, T(6, 4), -1.0, 1.0, outputs=out).flops == 24
    assert cost(aten.maximum.default, T(6, 4), T(4), outputs=out).flops == 24
    assert cost(aten.max.other, T(6, 4), T(6, 4), outputs=out).flops == 24


def test_gelu_exact_and_tanh():
    x = T(2, 10)
    assert cost(aten.gelu.default, x, outputs=[x]).flops == 100
    assert cost(aten.gelu.default, x, outputs=[x], approximate="tanh").flops == 180
    assert cost(aten.gelu_backward.default, x, x, outputs=[x]).flops == 220
    assert cost(aten.gelu_backward.default, x, x, outputs=[x], approximate="tanh").flops == 360


def test_softmax_is_five_per_element():
    x = T(2, 4, 16, 16)
    for op in (aten._softmax.default, aten._safe_softmax.default, aten._log_softmax.default):
        c = cost(op, x, -1, False, outputs=[x])
        assert (c.flops, c.category, c.activations) == (5 * 2048, "softmax", 0)


def test_dropout_only_in_training():
    x = T(4, 8)
    assert (
        cost(aten.native_dropout.default, x, 0.1, True, outputs=[x, T(4, 8, dtype=BOOL)]).flops
        == 64
    )
    assert (
        cost(aten.native_dropout.default, x, 0.1, False, outputs=[x, T(4, 8, dtype=BOOL)]).flops
        == 0
    )


# -- normalisation ---------------------------------------------------------------------


def test_layer_norm():
    x = T(2, 3, 4)
    outs = [x, T(2, 3, 1), T(2, 3, 1)]
    assert (
        cost(aten.native_layer_norm.default, x, [4], T(4), T(4), 1e-5, outputs=outs).flops == 24 * 7
    )
    assert (
        cost(aten.native_layer_norm.default, x, [4], None, None, 1e-5, outputs=outs).flops == 24 * 5
    )
    c = cost(aten.native_layer_norm.default, x, [4], T(4), None, 1e-5, outputs=outs)
    assert (c.flops, c.category, c.activations) == (24 * 6, "norm", 0)


def test_group_norm():
    x = T(2, 6, 4, 4)
    c = cost(aten.native_group_norm.default, x, T(6), T(6), 2, 6, 16, 3, 1e-5, outputs=[x])
    assert c.flops == 192 * 7


def test_batch_norm_eval_and_training():
    x, w, b, rm, rv = T(2, 3, 4, 4), T(3), T(3), T(3), T(3)
    bn = aten.native_batch_norm.default
    assert cost(bn, x, w, b, rm, rv, False, 0.1, 1e-5, outputs=[x]).flops == 96 * 4
    assert cost(bn, x, w, b, rm, rv, True, 0.1, 1e-5, outputs=[x]).flops == 96 * 7
    assert cost(bn, x, None, None, rm, rv, False, 0.1, 1e-5, outputs=[x]).flops == 96 * 2
    legit = aten._native_batch_norm_legit_no_training.default
    assert cost(legit, x, w, b, rm, rv, 0.1, 1e-5, outputs=[x]).flops == 96 * 4
    no_stats = aten._native_batch_norm_legit.no_stats
    assert cost(no_stats, x, w, b, True, 0.1, 1e-5, outputs=[x]).flops == 96 * 7


def test_rms_norm():
    x = T(2, 5, 8)
    assert (
        cost(aten._fused_rms_norm.default, x, [8], T(8), 1e-6, outputs=[x, T(2, 5, 1)]).flops
        == 80 * 4
    )
    assert (
        cost(aten._fused_rms_norm.default, x, [8], None, 1e-6, outputs=[x, T(2, 5, 1)]).flops
        == 80 * 3
    )


def test_norm_backward():
    g = x = T(2, 3, 4)
    lnb = aten.native_layer_norm_backward.default
    stats = (T(2, 3, 1), T(2, 3, 1))
    all3 = cost(lnb, g, x, [4], *stats, T(4), T(4), [True, True, True], outputs=[x, T(4), T(4)])
    assert (all3.flops, all3.category) == (24 * 13, "norm")
    only_input = cost(lnb, g, x, [4], *stats, None, None, [True, False, False], outputs=[x])
    assert only_input.flops == 24 * 9
    bnb = aten.native_batch_norm_backward.default
    y = T(2, 3, 4, 4)
    args = (T(3), T(3), T(3), T(3), T(3))
    assert cost(bnb, y, y, *args, True, 1e-5, [True, True, True], outputs=[y]).flops == 96 * 13
    assert cost(bnb, y, y, *args, False, 1e-5, [True, True, True], outputs=[y]).flops == 96 * 6
    rms = aten._fused_rms_norm_backward.default
    assert cost(rms, g, x, [4], T(2, 3, 1), T(4), [True, True], outputs=[x, T(4)]).flops == 24 * 9


# -- reductions ------------------------------------------------------------------------


def test_reductions_count_input_elements():
    x = T(3, 4, 5)
    assert cost(aten.sum.dim_IntList, x, [1], outputs=[T(3, 5)]).flops == 60
    assert cost(aten.mean.dim, x, [-1, -2], True, outputs=[T(3, 1, 1)]).flops == 60
    assert cost(aten.amax.default, x, [0], outputs=[T(4, 5)]).flops == 60
    assert cost(aten.max.dim, x, 1, outputs=[T(3, 5), T(3, 5, dtype=I64)]).flops == 60
    assert cost(aten.argmax.default, x, 1, outputs=[T(3, 5, dtype=I64)]).flops == 60
    assert cost(aten.sum.default, x, outputs=[T()]).category == "reduction"


def test_documented_reduction_constants():
    x = T(3, 4, 5)
    assert cost(aten.var.correction, x, [1], outputs=[T(3, 5)]).flops == 240
    assert cost(aten.std.correction, x, [1], outputs=[T(3, 5)]).flops == 240
    assert cost(aten.logsumexp.default, x, [2], outputs=[T(3, 4)]).flops == 240
    assert cost(aten.linalg_vector_norm.default, x, 2, [2], outputs=[T(3, 4)]).flops == 120
    assert cost(aten.linalg_vector_norm.default, x, math.inf, [2], outputs=[T(3, 4)]).flops == 120
    assert cost(aten.linalg_vector_norm.default, x, 3, [2], outputs=[T(3, 4)]).flops == 180
    assert cost(aten.cumsum.default, x, 2, outputs=[x]).flops == 60
    assert cost(aten.logcumsumexp.default, x, 2, outputs=[x]).flops == 360
    assert cost(aten.topk.default, x, 2, outputs=[T(3, 4, 2), T(3, 4, 2, dtype=I64)]).flops == 60


def test_sort_counts_comparisons():
    vals = [T(2, 8), T(2, 8, dtype=I64)]
    assert cost(aten.sort.default, T(2, 8), -1, outputs=vals).flops == 16 * 3
    assert cost(aten.sort.default, T(2, 5), 1, outputs=vals).flops == 10 * 3
    assert cost(aten.sort.stable, T(6, 2), outputs=vals, stable=True, dim=0).flops == 12 * 3
    assert cost(aten.sort.default, T(4, 1), -1, outputs=vals).flops == 0
    ints = [T(2, 8, dtype=I64), T(2, 8, dtype=I64)]
    assert cost(aten.sort.default, T(2, 8, dtype=I64), -1, outputs=ints).flops == 0


def test_scatters_accumulate_or_copy():
    base, idx, vals = T(10, 4), T(6, dtype=I64), T(6, 4)
    copy = cost(aten.index_put.default, base, [idx], vals, False, outputs=[base])
    assert (copy.flops, copy.category) == (0, "memory")
    assert cost(aten.index_put_.default, base, [idx], vals, True, outputs=[base]).flops == 24
    assert cost(aten.index_add.default, base, 0, idx, vals, outputs=[base]).flops == 24
    assert (
        cost(aten.scatter_add.default, base, 0, T(6, 4, dtype=I64), vals, outputs=[base]).flops
        == 24
    )
    assert (
        cost(
            aten.scatter.reduce, base, 0, T(6, 4, dtype=I64), vals, outputs=[base], reduce="add"
        ).flops
        == 24
    )
    grad = T(2, 7, 16)
    emb = cost(
        aten.embedding_dense_backward.default,
        grad,
        T(2, 7, dtype=I64),
        100,
        -1,
        False,
        outputs=[T(100, 16)],
    )
    assert emb.flops == 224


def test_losses():
    logp, target = T(8, 10), T(8, dtype=I64)
    assert (
        cost(aten.nll_loss_forward.default, logp, target, None, 1, -100, outputs=[T(), T()]).flops
        == 8
    )
    assert (
        cost(aten.nll_loss_forward.default, logp, target, T(10), 1, -100, outputs=[T(), T()]).flops
        == 16
    )
    nllb = aten.nll_loss_backward.default
    assert cost(nllb, T(), logp, target, None, 1, -100, T(), outputs=[logp]).flops == 8
    assert cost(aten.mse_loss.default, T(4, 5), T(4, 5), 1, outputs=[T()]).flops == 60
    assert cost(aten.mse_loss.default, T(4, 5), T(4, 5), 0, outputs=[T(4, 5)]).flops == 40
    assert (
        cost(aten.mse_loss_backward.default, T(), T(4, 5), T(4, 5), 1, outputs=[T(4, 5)]).flops
        == 60
    )


# -- pooling ---------------------------------------------------------------------------


def test_max_pool_window_and_activations():
    c = cost(
        aten.max_pool2d_with_indices.default,
        T(1, 1, 4, 4),
        [2, 2],
        [2, 2],
        outputs=[T(1, 1, 2, 2), T(1, 1, 2, 2, dtype=I64)],
    )
    assert (c.flops, c.activations, c.category) == (16, 4, "pool")
    # resnet stem: 3x3 s2 p1, 112 -> 56, 64 channels; padding positions are window elements
    stem = cost(
        aten.max_pool2d_with_indices.default,
        T(1, 64, 112, 112),
        [3, 3],
        [2, 2],
        [1, 1],
        outputs=[T(1, 64, 56, 56), T(1, 64, 56, 56, dtype=I64)],
    )
    assert (stem.flops, stem.activations) == (200704 * 9, 200704)


def test_avg_pool_kernel_as_single_int_and_3d():
    assert (
        cost(aten.avg_pool2d.default, T(2, 3, 8, 8), [3], [1], [1], outputs=[T(2, 3, 8, 8)]).flops
        == 384 * 9
    )
    assert (
        cost(aten.avg_pool3d.default, T(1, 2, 4, 4, 4), [2, 2, 2], outputs=[T(1, 2, 2, 2, 2)]).flops
        == 16 * 8
    )


def test_adaptive_windows_overlap_when_sizes_do_not_divide():
    # 5 -> 3: windows [0,2), [1,4), [3,5) -> 2 + 3 + 2 = 7 per dim
    assert ew.adaptive_window_sum(5, 3) == 7
    c = cost(aten._adaptive_avg_pool2d.default, T(2, 4, 5, 5), [3, 3], outputs=[T(2, 4, 3, 3)])
    assert (c.flops, c.activations) == (8 * 49, 72)
    gap = cost(
        aten._adaptive_avg_pool2d.default, T(1, 2048, 7, 7), [1, 1], outputs=[T(1, 2048, 1, 1)]
    )
    assert (gap.flops, gap.activations) == (2048 * 49, 2048)
    amax = cost(
        aten.adaptive_max_pool2d.default,
        T(1, 1, 5, 5),
        [3, 3],
        outputs=[T(1, 1, 3, 3), T(1, 1, 3, 3, dtype=I64)],
    )
    assert amax.flops == 49


def test_pool_backward():
    g, x = T(1, 64, 56, 56), T(1, 64, 112, 112)
    mpb = aten.max_pool2d_with_indices_backward.default
    c = cost(
        mpb, g, x, [3, 3], [2, 2], [1, 1], [1, 1], False, T(1, 64, 56, 56, dtype=I64), outputs=[x]
    )
    assert (c.flops, c.activations, c.category) == (200704, 0, "pool")
    apb = aten.avg_pool2d_backward.default
    assert (
        cost(
            apb,
            T(2, 3, 4, 4),
            T(2, 3, 8, 8),
            [2, 2],
            [2, 2],
            [0, 0],
            False,
            True,
            None,
            outputs=[T(2, 3, 8, 8)],
        ).flops
        == 96 * 4
    )
    aab = aten._adaptive_avg_pool2d_backward.default
    assert cost(aab, T(2, 4, 3, 3), T(2, 4, 5, 5), outputs=[T(2, 4, 5, 5)]).flops == 8 * 49


# -- interpolation, FFT ----------------------------------------------------------------


def test_interpolation_taps():
    out = T(1, 2, 8, 8)
    assert (
        cost(aten.upsample_bilinear2d.default, T(1, 2, 4, 4), [8, 8], False, outputs=[out]).flops
        == 128 * 7
    )
    assert (
        cost(aten.upsample_bicubic2d.default, T(1, 2, 4, 4), [8, 8], False, outputs=[out]).flops
        == 128 * 31
    )
    assert (
        cost(aten.upsample_linear1d.default, T(1, 2, 4), [8], False, outputs=[T(1, 2, 8)]).flops
        == 16 * 3
    )
    bwd = aten.upsample_bilinear2d_backward.default
    assert cost(bwd, out, [8, 8], [1, 2, 4, 4], False, outputs=[T(1, 2, 4, 4)]).flops == 128 * 8
    assert lookup(aten.upsample_nearest2d.default)[0] == "zero"


def test_antialiased_resize_is_separable():
    # 16 -> 5 taps [5, 6, 6, 6, 5]; 10 -> 3 taps [5, 6, 5] (checked against PyTorch's weights)
    assert ew.antialias_taps(16, 5, False, None, 2) == [5, 6, 6, 6, 5]
    assert ew.antialias_taps(10, 3, False, None, 2) == [5, 6, 5]
    x, out = T(2, 3, 16, 10), T(2, 3, 5, 3)
    c = cost(aten._upsample_bilinear2d_aa.default, x, [5, 3], False, outputs=[out])
    # width pass: 6·16 rows × 16 taps, 288 outputs; height pass: 6·3 cols × 28 taps, 90 outputs
    taps, outputs = 6 * 16 * 16 + 6 * 3 * 28, 6 * 16 * 3 + 90
    assert c.flops == 2 * taps - outputs
    bwd = aten._upsample_bilinear2d_aa_backward.default
    assert cost(bwd, out, [5, 3], [2, 3, 16, 10], False, outputs=[x]).flops == 2 * taps


def test_fft_textbook_counts():
    # complex, N=16, 4 transforms: 4 · 5·16·4
    c2c = cost(
        aten._fft_c2c.default, T(4, 16, dtype=C64), [1], 0, True, outputs=[T(4, 16, dtype=C64)]
    )
    assert (c2c.flops, c2c.category) == (1280, "fft")
    # two dims: 16 transforms of N=4 (5·4·2 = 40) + 4 transforms of N=16 (320)
    both = cost(
        aten._fft_c2c.default, T(4, 16, dtype=C64), [0, 1], 0, True, outputs=[T(4, 16, dtype=C64)]
    )
    assert both.flops == 16 * 40 + 4 * 320
    r2c = cost(aten._fft_r2c.default, T(4, 16), [1], 0, True, outputs=[T(4, 9, dtype=C64)])
    assert r2c.flops == 4 * 160
    c2r = cost(aten._fft_c2r.default, T(4, 9, dtype=C64), [1], 2, 16, outputs=[T(4, 16)])
    assert c2r.flops == 4 * 160
    # N = 3 is not a power of two: 2.5·3·log2(3) = 11.89 -> 12 per transform
    assert (
        cost(aten._fft_r2c.default, T(2, 3), [1], 0, True, outputs=[T(2, 2, dtype=C64)]).flops == 24
    )
    assert (
        cost(aten._fft_c2c.default, T(1, dtype=C64), [0], 0, True, outputs=[T(1, dtype=C64)]).flops
        == 0
    )


# -- registry hygiene ------------------------------------------------------------------


def test_masks_selects_and_views_are_zero():
    for op in (
        aten.eq.Scalar, aten.lt.Tensor, aten.logical_and.default, aten.isnan.default,
        aten.where.self, aten.masked_fill.Scalar, aten.view.default, aten.cat.default,
        aten.embedding.default, aten.gather.default, aten.index.Tensor, aten.tril.default,
        aten.constant_pad_nd.default, aten.bernoulli_.float, aten._to_copy.default,
        aten.scatter.src, aten._local_scalar_dense.default, aten.roll.default,
    ):  # fmt: skip
        assert lookup(op)[0] == "zero", op


def test_no_op_is_both_formula_and_zero():
    ops = registered_ops()
    overlap = set(ops["formula"]) & set(ops["zero"])
    # scatter: the packet is a copy, its reduce overloads accumulate (overload wins)
    assert overlap <= {"aten.scatter", "aten.scatter_"}, overlap


def test_every_rule_registers_something_and_every_extra_is_used():
    import inspect

    from flopwise.cost import layers, linalg, vision
    from flopwise.cost.types import CATEGORIES

    # the counters that read the table live in elementwise.py, layers.py, linalg.py, vision.py
    source = "".join(inspect.getsource(m) for m in (ew, layers, linalg, vision))
    for r in rules.RULES:
        assert rules.ops_of(r), r.key
        assert r.category in set(CATEGORIES) - {"memory"}
        assert r.steps
        for label, _ in r.extras:  # named in the table, read at least once by a counter
            assert f'"{label}"' in source, (r.key, label)


def test_every_rule_is_counted_by_the_counter_it_names():
    registered_ops()  # loads every cost module
    assert rules.rows_without_counter() == []
    for r in rules.RULES:
        for op in rules.ops_of(r):
            status, formula = lookup(op)
            assert status == "counted", (r.key, op)
            assert formula.__name__.endswith(f"[{r.key}]"), (r.key, op, formula.__name__)
        for op in rules.foreach_ops(r) if r.foreach else ():
            assert lookup(op)[1].__name__ == f"_foreach[{r.key}]", (r.key, op)


def test_a_row_without_count_is_priced_by_its_basis():
    silu = rules.rule("silu")
    assert (silu.count, silu.counter) == ("", "per_output")
    assert rules.rule("sum").counter == "per_first_input"
    assert rules.rule("layer_norm").counter == "norm"
    with pytest.raises(RuntimeError, match="counter 'per_output' defined twice"):
        rules.counter("per_output")(lambda call, r: OpCost())


def test_table_rows_match_rules():
    table = rules.conventions_table().splitlines()
    assert len(table) == 2 + len(rules.RULES)


def test_grid_sample_and_affine_grid():
    x, grid, out = T(2, 3, 8, 8), T(2, 4, 4, 2), T(2, 3, 4, 4)
    gs = aten.grid_sampler_2d.default
    assert cost(gs, x, grid, 0, 0, False, outputs=[out]).flops == 96 * 7
    assert cost(gs, x, grid, 1, 0, False, outputs=[out]).flops == 0
    assert cost(gs, x, grid, 2, 0, False, outputs=[out]).flops == 96 * 31
    gsb = aten.grid_sampler_2d_backward.default
    assert cost(gsb, out, x, grid, 0, 0, False, [True, True], outputs=[x, grid]).flops == 96 * 16
    assert cost(gsb, out, x, grid, 0, 0, False, [True, False], outputs=[x]).flops == 96 * 8
    assert cost(gsb, out, x, grid, 1, 0, False, [True, True], outputs=[x, grid]).flops == 96
    ag = aten.affine_grid_generator.default
    assert cost(ag, T(2, 2, 3), [2, 3, 8, 8], False, outputs=[T(2, 8, 8, 2)]).flops == 256 * 5
    assert cost(ag, T(2, 3, 4), [2, 3, 4, 4, 4], False, outputs=[T(2, 4, 4, 4, 3)]).flops == 384 * 7


def test_loss_extras():
    x, t = T(4, 5), T(4, 5)
    bcel = aten.binary_cross_entropy_with_logits.default
    assert cost(bcel, x, t, None, None, 1, outputs=[T()]).flops == 20 * 9
    assert cost(bcel, x, t, T(5), T(5), 0, outputs=[x]).flops == 20 * 12
    assert cost(aten.smooth_l1_loss.default, x, t, 1, 1.0, outputs=[T()]).flops == 20 * 6
    bag = aten._embedding_bag.default
    outs = [T(2, 3), T(6, dtype=I64), T(2, dtype=I64), T(2, dtype=I64)]
    assert cost(bag, T(10, 3), T(6, dtype=I64), T(2, dtype=I64), False, 0, outputs=outs).flops == 18


def test_pairwise_distances():
    assert cost(aten._pdist_forward.default, T(5, 8), 2.0, outputs=[T(10)]).flops == 10 * 8 * 3
    cd = aten._cdist_forward.default
    assert cost(cd, T(2, 4, 8), T(2, 6, 8), 2.0, None, outputs=[T(2, 4, 6)]).flops == 48 * 8 * 3
