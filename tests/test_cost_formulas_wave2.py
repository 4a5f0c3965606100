"""Issue 10 formulas: complex arithmetic in real operations, accumulating index_put,
comparison counts of search ops, recurrent layers, bilinear forms and linear algebra.

Expected values are hand-computed integers written out term by term, or counts of the
same computation through another path (a decomposed run, real against meta tensors)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import flopwise
from flopwise.cost.registry import lookup, op_key
from flopwise.cost.types import OpCall, OpCost, TensorMeta

aten = torch.ops.aten
C64 = torch.complex64


def T(*shape: int, dtype: torch.dtype = torch.float32) -> TensorMeta:
    return TensorMeta(tuple(shape), dtype)


def cost(op, *args, outputs=(), **kwargs) -> OpCost:
    status, formula = lookup(op)
    assert status == "counted", f"{op} is {status}"
    return formula(OpCall(op_key(op), args, kwargs, tuple(outputs)))


def counted(fn, *args, **kwargs):
    with flopwise.count() as c:
        fn(*args, **kwargs)
    return c.profile


# -- 1. complex numbers in real arithmetic ------------------------------------------------


def test_complex_mm_counts_four_real_macs_per_complex_mac():
    a, b = torch.randn(3, 4, dtype=C64), torch.randn(4, 5, dtype=C64)
    p = counted(torch.mm, a, b)
    # 3·5·4 = 60 complex multiply-adds, 4 real MACs each; 2 flops per real MAC
    assert (p.totals.macs, p.totals.flops) == (240, 480)
    assert p.totals.activations == 15  # output elements, not real parts


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: a @ b,
        lambda a, b: torch.einsum("ij,jk->ik", a, b),
        lambda a, b: torch.bmm(a.unsqueeze(0), b.unsqueeze(0)),
        lambda a, b: torch.matmul(a.expand(2, 3, 4), b),
    ],
)
def test_complex_matmul_paths(fn):
    a, b = torch.randn(3, 4, dtype=C64), torch.randn(4, 5, dtype=C64)
    p = counted(fn, a, b)
    batch = 2 if p.totals.macs > 240 else 1
    assert p.totals.macs == batch * 240
    assert p.totals.flops == 2 * p.totals.macs


def test_complex_addmm_and_linear_bias_is_a_complex_add():
    a, b, bias = (torch.randn(*s, dtype=C64) for s in ((3, 4), (4, 5), (3, 5)))
    p = counted(torch.addmm, bias, a, b)
    assert (p.totals.macs, p.totals.flops) == (240, 480 + 2 * 15)
    p = counted(torch.baddbmm, bias.unsqueeze(0), a.unsqueeze(0), b.unsqueeze(0))
    assert (p.totals.macs, p.totals.flops) == (240, 480 + 2 * 15)
    p = counted(F.linear, a, b.T.contiguous(), torch.randn(5, dtype=C64))
    assert (p.totals.macs, p.totals.flops) == (240, 480 + 2 * 15)


def test_complex_conv_is_three_real_convs():
    x, w = torch.randn(1, 2, 5, 5, dtype=C64), torch.randn(3, 2, 3, 3, dtype=C64)
    p = counted(F.conv2d, x, w)
    one_real_conv = 1 * 3 * 3 * 3 * 2 * 9  # N·C_out·H·W·C_in·k²
    assert p.totals.macs == 3 * one_real_conv


def test_real_contraction_unchanged():
    p = counted(torch.mm, torch.randn(3, 4), torch.randn(4, 5))
    assert (p.totals.macs, p.totals.flops) == (60, 120)


def test_complex_elementwise_with_a_real_operand():
    z, r = torch.randn(10, dtype=C64), torch.randn(10)
    assert counted(torch.mul, z, z).totals.flops == 10 * 6  # 4 multiplies + 2 adds
    assert counted(torch.mul, z, r).totals.flops == 10 * 2  # scale both parts
    assert counted(lambda: z * 0.5).totals.flops == 10 * 2
    assert counted(torch.add, z, z).totals.flops == 10 * 2
    assert counted(torch.add, z, r).totals.flops == 10 * 1  # real part only
    assert counted(lambda: z + 1).totals.flops == 10 * 1
    assert counted(torch.div, z, r).totals.flops == 10 * 2
    assert counted(torch.div, r, z).totals.flops == 10 * 11  # a full complex divide
    assert counted(torch.div, z, z).totals.flops == 10 * 11
    # alpha scales ``other``: real other 1 multiply + 1 add; complex other 2 + 2
    assert counted(torch.add, z, r, alpha=2).totals.flops == 10 * (1 + 1)
    assert counted(torch.add, z, z, alpha=2).totals.flops == 10 * (2 + 2)
    assert counted(torch.sum, z).totals.flops == 10 * 2  # a complex accumulate


# -- 2. accumulating index_put ---------------------------------------------------------------


def test_index_put_accumulate_broadcast_value_counts_every_update():
    x = torch.zeros(5, 4, 3)
    idx = torch.tensor([0, 2, 2])
    p = counted(lambda: x.index_put_((idx,), torch.tensor(1.0), accumulate=True))
    # 3 index positions (duplicates add twice) × a 4×3 slice each
    assert p.totals.flops == 3 * 12
    p = counted(
        lambda: x.index_put_((idx, torch.tensor([[1], [3]])), torch.ones(3), accumulate=True)
    )
    # indices broadcast to 2×3 positions, each selecting a slice of 3
    assert p.totals.flops == 6 * 3


def test_index_put_without_accumulate_is_a_copy():
    x = torch.zeros(5, 4)
    p = counted(lambda: x.index_put_((torch.tensor([1, 2]),), torch.tensor(1.0)))
    assert p.totals.flops == 0


def test_index_put_none_index_and_boolean_mask():
    # x[:, idx] with accumulate: dim 0 is a slice (5), idx has 2 positions, dim 2 a slice (3)
    c = cost(aten.index_put.default, T(5, 4, 3), [None, T(2, dtype=torch.int64)], T(), True)
    assert c.flops == 5 * 2 * 3
    # a boolean mask: the values tensor (not broadcast) gives the count
    c = cost(aten.index_put.default, T(5, 4), [T(5, dtype=torch.bool)], T(2, 4), True)
    assert c.flops == 8


def test_index_backward_counts_the_gathered_elements():
    x = torch.randn(5, 4, 3, requires_grad=True)
    with flopwise.count() as c:
        x[torch.tensor([0, 2, 2])].sum().backward()
    put = [o for o in c.profile.ops if o.op.startswith("aten.index_put")]
    assert sum(o.flops for o in put) == 3 * 4 * 3


# -- 3. ops that compare or search data --------------------------------------------------

X8 = [3.0, 1, 2, 3, 1, 5, 7, 2]
BOUNDS = [1.0, 2, 4, 8, 16]


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        # 8 elements: sort 8·⌈log2 8⌉ = 24, then 7 adjacent comparisons
        (lambda x, b: torch.unique(x), 24 + 7),
        (lambda x, b: torch.unique(x, sorted=False, return_counts=True), 24 + 7),
        # 4 rows of 2: 2 elements per row comparison · (4·⌈log2 4⌉ + 3)
        (lambda x, b: torch.unique(x.view(4, 2), dim=0), 2 * (4 * 2 + 3)),
        (lambda x, b: torch.unique_consecutive(x), 7),
        (lambda x, b: torch.unique_consecutive(x.view(4, 2), dim=0), 2 * 3),
        # 8 queries among 5 boundaries: ⌈log2 6⌉ = 3 each
        (lambda x, b: torch.searchsorted(b, x), 8 * 3),
        (lambda x, b: torch.searchsorted(b, 3.0), 3),
        (lambda x, b: torch.bucketize(x, b), 8 * 3),
        (lambda x, b: torch.bucketize(3.0, b), 3),
        # E=8, T=5: min(all pairs 40, sort 5·⌈log2 5⌉ = 15 + search 8·⌈log2 6⌉ = 24)
        (lambda x, b: torch.isin(x, b), 39),
        (lambda x, b: torch.isin(x, 2.0), 8),
        (lambda x, b: torch.isin(2.0, b), 5),
    ],
)
def test_search_ops_count_comparisons(fn, expected):
    p = counted(fn, torch.tensor(X8), torch.tensor(BOUNDS))
    assert p.complete
    assert p.totals.flops == expected


def test_search_counts_match_brute_force_binary_search():
    # a textbook lower-bound binary search over M boundaries, counting its comparisons
    def comparisons(m: int, q: float, bounds: list[float]) -> int:
        lo, hi, n = 0, m, 0
        while lo < hi:
            mid = (lo + hi) // 2
            n += 1
            if bounds[mid] < q:
                lo = mid + 1
            else:
                hi = mid
        return n

    for m in (1, 2, 3, 7, 8, 100):
        bounds = [float(i) for i in range(m)]
        worst = max(comparisons(m, q + 0.5, bounds) for q in range(-1, m))
        c = cost(aten.searchsorted.Tensor, T(m), T(1), outputs=[T(1, dtype=torch.int64)])
        assert c.flops == worst, m


def test_isin_large_test_set_uses_sort_and_search():
    c = cost(aten.isin.Tensor_Tensor, T(100), T(50), outputs=[T(100, dtype=torch.bool)])
    assert c.flops == 50 * 6 + 100 * 6  # ⌈log2 50⌉ = 6, ⌈log2 51⌉ = 6


def test_search_ops_on_integers_are_not_floating_point():
    assert counted(torch.unique, torch.tensor([1, 2, 2, 5])).totals.flops == 0


def test_search_ops_left_the_zero_set():
    from flopwise.cost.registry import registered_ops

    zero = set(registered_ops()["zero"])
    for name in ("searchsorted", "bucketize", "isin", "_unique2", "unique_dim"):
        assert f"aten.{name}" not in zero
        assert lookup(getattr(aten, name))[0] == "counted"
