"""Issue 10 formulas: complex arithmetic in real operations, accumulating index_put,
comparison counts of search ops, recurrent layers, bilinear forms and linear algebra.

Expected values are hand-computed integers written out term by term, or counts of the
same computation through another path (a decomposed run, real against meta tensors)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=25, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), max_size=2),
    m=st.integers(1, 4),
    k=st.integers(1, 4),
    n=st.integers(1, 4),
)
def test_complex_matmul_is_four_times_the_real_one(batch, m, k, n):
    a, b = torch.randn(*batch, m, k), torch.randn(k, n)
    real = counted(torch.matmul, a, b).totals
    cplx = counted(torch.matmul, a.to(C64), b.to(C64)).totals
    assert real.macs == math.prod(batch) * m * n * k
    assert (cplx.macs, cplx.flops) == (4 * real.macs, 4 * real.flops)


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


@pytest.mark.parametrize(
    ("shape", "indices"),
    [
        ((5, 4, 3), ([0, 2, 2, 4],)),
        ((5, 4, 3), ([[0], [3]], [1, 1, 2])),
        ((6, 5), ([[1, 2], [2, 5]],)),
        ((4, 3, 2), ([0, 3], [2, 2], [1, 0])),
    ],
)
def test_index_put_counts_equal_brute_force_updates(shape, indices):
    # adding a broadcast 1 into zeros: the sum of the result is the number of adds done
    index = tuple(torch.tensor(i) for i in indices)
    brute = int(torch.zeros(shape).index_put_(index, torch.tensor(1.0), accumulate=True).sum())
    p = counted(lambda: torch.zeros(shape).index_put_(index, torch.tensor(1.0), accumulate=True))
    assert p.totals.flops == brute


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


# -- 4. recurrent layers, addr, bilinear -------------------------------------------------


class Fn(torch.nn.Module):
    """A module around a function, so that flopwise.profile can run it on meta tensors."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def both(model, *args, train=False):
    """(real, meta) profiles of one model."""
    return tuple(
        flopwise.profile(model, *args, tensors=kind, train=train) for kind in ("real", "meta")
    )


def lstm_forward(rows: int, i: int, h: int, biases: int) -> tuple[int, int]:
    """(flops, macs) of the unfused LSTM cell over ``rows`` (step, batch) pairs, term by
    term: x·W_ihᵀ and h·W_hhᵀ, the 4H gate sum, each bias, 3 sigmoid + 2 tanh + 3 mul + 1 add."""
    macs = rows * 4 * h * (i + h)
    flops = 2 * macs + rows * 4 * h + biases * rows * 4 * h + rows * h * (3 + 2 + 3 + 1)
    return flops, macs


def test_lstm_hand_computed_real_and_meta():
    torch.manual_seed(0)
    real, meta = both(torch.nn.LSTM(3, 4), torch.randn(5, 2, 3))
    flops, macs = lstm_forward(rows=10, i=3, h=4, biases=2)
    assert (flops, macs) == (3080, 1120)
    for p in (real, meta):
        assert p.complete, [u.op for u in p.uncounted]
        assert (p.totals.flops, p.totals.macs) == (flops, macs)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"bias": False}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True}],
)
def test_lstm_fused_kernel_equals_unfused_cell(kwargs):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, **kwargs)
    x = torch.randn(5, 2, 3)
    fused = flopwise.profile(lstm, x, tensors="real")
    if torch.backends.mkldnn.is_available():
        assert any(o.op == "aten.mkldnn_rnn_layer" for o in fused.ops)
    with torch.backends.mkldnn.flags(enabled=False):
        unfused = flopwise.profile(lstm, x, tensors="real")
    assert not any("mkldnn" in o.op for o in unfused.ops)
    assert fused.complete and unfused.complete
    for field in ("flops", "macs", "activations"):
        assert getattr(fused.totals, field) == getattr(unfused.totals, field), field


def _packed(x: torch.Tensor):
    return torch.nn.utils.rnn.pack_padded_sequence(x, [5, 3], enforce_sorted=True)


RECURRENT = {
    "lstm": lambda: (torch.nn.LSTM(3, 4), torch.randn(5, 2, 3)),
    "lstm_no_bias_batch_first": lambda: (
        torch.nn.LSTM(3, 4, bias=False, batch_first=True),
        torch.randn(2, 5, 3),
    ),
    "lstm_deep_bidirectional_proj": lambda: (
        torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2),
        torch.randn(5, 2, 3),
    ),
    "lstm_packed": lambda: (torch.nn.LSTM(3, 4), _packed(torch.randn(5, 2, 3))),
    "lstm_dropout_training": lambda: (
        torch.nn.LSTM(3, 4, num_layers=3, dropout=0.5).train(),
        torch.randn(5, 2, 3),
    ),
    "gru_deep_bidirectional": lambda: (
        torch.nn.GRU(3, 4, num_layers=2, bidirectional=True),
        torch.randn(5, 2, 3),
    ),
    "gru_packed_no_bias": lambda: (torch.nn.GRU(3, 4, bias=False), _packed(torch.randn(5, 2, 3))),
    "rnn_relu": lambda: (torch.nn.RNN(3, 4, nonlinearity="relu"), torch.randn(5, 2, 3)),
    "rnn_tanh_deep": lambda: (torch.nn.RNN(3, 4, num_layers=2), torch.randn(5, 2, 3)),
    "lstm_cell": lambda: (torch.nn.LSTMCell(3, 4), torch.randn(2, 3)),
    "gru_cell_no_bias": lambda: (torch.nn.GRUCell(3, 4, bias=False), torch.randn(2, 3)),
    "rnn_cell_relu": lambda: (torch.nn.RNNCell(3, 4, nonlinearity="relu"), torch.randn(2, 3)),
    "bilinear": lambda: (torch.nn.Bilinear(3, 4, 5), (torch.randn(2, 3), torch.randn(2, 4))),
}


@pytest.mark.parametrize("name", sorted(RECURRENT))
def test_recurrent_layers_count_the_same_whole_fused_and_unfused(name):
    """inference_mode hands the whole layer to the dispatcher (lstm, gru, rnn_*, *_cell,
    bilinear); autograd mode decomposes it (or runs the CPU LSTM kernel); with oneDNN off
    the LSTM decomposes too. All three counts must agree."""
    torch.manual_seed(0)
    model, x = RECURRENT[name]()
    args = x if name == "bilinear" else (x,)  # a PackedSequence is a tuple too

    def count(ctx):
        with ctx, flopwise.count() as c:
            model(*args)
        return c.profile

    runs = [count(torch.inference_mode()), count(torch.enable_grad())]
    with torch.backends.mkldnn.flags(enabled=False):
        runs.append(count(torch.enable_grad()))
    whole, default, unfused = runs
    assert all(p.complete for p in runs), [[u.op for u in p.uncounted] for p in runs]
    assert not any("mkldnn" in o.op for o in unfused.ops)
    for field in ("flops", "macs", "activations"):
        values = {getattr(p.totals, field) for p in runs}
        assert len(values) == 1, (field, values)
    assert whole.totals.flops > 0


def _stack_params(gates: int, layers: int = 2, directions: int = 2, i: int = 3, h: int = 4):
    params = []
    for layer in range(layers):
        width = i if layer == 0 else h * directions
        for _ in range(directions):
            params += [T(gates * h, width), T(gates * h, h), T(gates * h), T(gates * h)]
    return params


@pytest.mark.parametrize(("mode", "gates", "per_unit"), [(2, 4, 4 + 2 * 4 + 9), (3, 3, 10 + 2 * 3)])
def test_cudnn_rnn_by_hand_equals_the_whole_layer(mode, gates, per_unit):
    x, out = T(5, 2, 3), T(5, 2, 8)
    params = _stack_params(gates)
    rows, h = 10, 4
    # layer 0: I = 3; layer 1: I = 2·H = 8; two directions each; rows·G·H·(I + H)
    macs = 2 * rows * gates * h * (3 + h) + 2 * rows * gates * h * (8 + h)
    flops = 2 * macs + 4 * rows * h * per_unit
    hx = T(4, 2, 4)
    cudnn = cost(
        aten._cudnn_rnn.default, x, params, 4, None, hx, hx if mode == 2 else None, mode, h, 0,
        2, False, 0.0, False, True, [], None, outputs=[out],
    )  # fmt: skip
    assert (cudnn.flops, cudnn.macs) == (flops, macs)
    whole_op = aten.lstm.input if mode == 2 else aten.gru.input
    state = [hx, hx] if mode == 2 else hx
    whole = cost(whole_op, x, state, params, True, 2, 0.0, False, True, False, outputs=[out])
    assert (whole.flops, whole.macs, whole.activations) == (
        cudnn.flops,
        cudnn.macs,
        cudnn.activations,
    )


def test_lstm_backward_hand_computed_real_and_meta():
    torch.manual_seed(0)
    real, meta = both(torch.nn.LSTM(3, 4), torch.randn(5, 2, 3), train=True)
    fwd_flops, fwd_macs = lstm_forward(rows=10, i=3, h=4, biases=2)
    # backward: twice the forward macs; 23 flops per hidden unit and row; 4H per row for the
    # bias gradient
    bwd_macs = 2 * fwd_macs
    bwd_flops = 2 * bwd_macs + 10 * 4 * 23 + 10 * 16
    for p in (real, meta):
        assert p.complete, [u.op for u in p.uncounted]
        assert p.totals.macs == fwd_macs + bwd_macs
        assert p.totals.flops == fwd_flops + bwd_flops


def test_gru_hand_computed_real_and_meta():
    torch.manual_seed(0)
    real, meta = both(torch.nn.GRU(3, 4), torch.randn(5, 2, 3))
    rows, h, i = 10, 4, 3
    macs = rows * 3 * h * (i + h)
    # 2 biases of 3H; r, z: 2 adds, 2 sigmoids; n: r·h_n, + i_n, tanh; h': h − n, ·z, + n
    flops = 2 * macs + 2 * rows * 3 * h + rows * h * (2 + 2 + 3 + 3)
    for p in (real, meta):
        assert p.complete
        assert (p.totals.flops, p.totals.macs) == (flops, macs)


def test_fused_gpu_cells_by_hand():
    b, h = 2, 4
    gates4, gates3, state = T(b, 4 * h), T(b, 3 * h), T(b, h)
    c = cost(aten._thnn_fused_lstm_cell.default, gates4, gates4, state, T(4 * h), T(4 * h))
    assert c.flops == b * h * (4 + 4 + 4 + 9)  # gate sum, two biases, cell
    c = cost(aten._thnn_fused_lstm_cell.default, gates4, gates4, state)
    assert c.flops == b * h * (4 + 9)
    c = cost(aten._thnn_fused_gru_cell.default, gates3, gates3, state, T(3 * h), T(3 * h))
    assert c.flops == b * h * (10 + 3 + 3)


def test_addr_is_an_outer_product_update():
    s, u, v = torch.randn(3, 4), torch.randn(3), torch.randn(4)
    for p in both(Fn(torch.addr), s, u, v):
        assert (p.totals.macs, p.totals.flops) == (12, 2 * 12 + 12)


def test_bilinear_layer():
    torch.manual_seed(0)
    layer = torch.nn.Bilinear(3, 4, 5)
    for p in both(layer, torch.randn(2, 3), torch.randn(2, 4)):
        assert p.complete
        points = 2 * 5 * 3 * 4  # N·O·I1·I2
        assert p.totals.macs == points
        assert p.totals.flops == 3 * points + 2 * 5  # + the bias add


def test_bilinear_backward_is_counted():
    torch.manual_seed(0)
    p = flopwise.profile(
        torch.nn.Bilinear(3, 4, 5), torch.randn(2, 3), torch.randn(2, 4), train=True
    )
    assert p.complete, [u.op for u in p.uncounted]
    assert sum(1 for o in p.ops if o.op.startswith("aten._trilinear")) >= 2


# -- 4. linear algebra -----------------------------------------------------------------------

torch.manual_seed(0)
_A = torch.randn(2, 3, 3)
_SPD = _A @ _A.mT + 3 * torch.eye(3)
_L = torch.linalg.cholesky(_SPD)
_B = torch.randn(2, 3, 2)
_R = torch.randn(2, 5, 3)
_LU, _PIV = torch.linalg.lu_factor(_A)

# (function, inputs, flops per call) — two matrices in every batch; hand-computed
LINALG = {
    "cholesky": (torch.linalg.cholesky, (_SPD,), 2 * 9),  # n³/3, n = 3
    "cholesky_inverse": (torch.cholesky_inverse, (_L,), 2 * 18),  # 2n³/3
    "lu_factor": (torch.linalg.lu_factor, (_A,), 2 * 18),  # 2n³/3
    "lu": (torch.linalg.lu, (_A,), 2 * 18),
    "lu_rectangular": (torch.linalg.lu, (_R,), 2 * 36),  # mn² − n³/3 = 45 − 9
    "det": (torch.linalg.det, (_A,), 2 * 18),
    "slogdet": (torch.linalg.slogdet, (_A,), 2 * 18),
    # LU 18 + 2n² per right-hand side, 2 per matrix
    "solve": (torch.linalg.solve, (_A, _B), 2 * (18 + 2 * 9 * 2)),
    "solve_vector": (torch.linalg.solve, (_A, _B[..., 0]), 2 * (18 + 2 * 9)),
    "inv": (torch.linalg.inv, (_A,), 2 * 54),  # 2n³
    "solve_triangular": (
        lambda a, b: torch.linalg.solve_triangular(a, b, upper=False),
        (_L, _B),
        2 * 9 * 2,  # n² per right-hand side
    ),
    "solve_triangular_right": (
        lambda a, b: torch.linalg.solve_triangular(a, b, upper=False, left=False),
        (_L, _B.mT),
        2 * 9 * 2,
    ),
    "triangular_solve": (lambda b, a: torch.triangular_solve(b, a, upper=False), (_B, _L), 36),
    "lu_solve": (torch.linalg.lu_solve, (_LU, _PIV, _B), 2 * 2 * 9 * 2),  # 2n² per rhs
    "cholesky_solve": (torch.cholesky_solve, (_B, _L), 2 * 2 * 9 * 2),
    # Householder QR of 5×3: R 2mn² − 2n³/3 = 72; thin Q 72 more; full Q 4(m²n − mn² + n³/3)
    "qr": (torch.linalg.qr, (_R,), 2 * (72 + 72)),
    "qr_r": (lambda a: torch.linalg.qr(a, mode="r"), (_R,), 2 * 72),
    "qr_complete": (lambda a: torch.linalg.qr(a, mode="complete"), (_R,), 2 * (72 + 156)),
    # Golub–Reinsch, m = 5, n = 3: Σ 4mn² − 4n³/3 = 144; thin 14mn² + 8n³ = 846;
    # full 4m²n + 8mn² + 9n³ = 903
    # under a dispatch mode PyTorch's svdvals/eigvalsh request the vectors too (they cannot
    # rule out a subclass that needs them for autograd): what runs is counted
    "svdvals": (torch.linalg.svdvals, (_R,), 2 * 846),
    "svd_thin": (lambda a: torch.linalg.svd(a, full_matrices=False), (_R,), 2 * 846),
    "svd_full": (torch.linalg.svd, (_R,), 2 * 903),
    "svd_wide": (torch.linalg.svd, (_R.mT,), 2 * 903),  # 3×5 is the transpose's count
    "eigvalsh": (torch.linalg.eigvalsh, (_SPD,), 2 * 243),
    "eigh": (torch.linalg.eigh, (_SPD,), 2 * 243),  # 9n³
    "eig": (torch.linalg.eig, (_A,), 2 * 675),  # 25n³
    "eigvals": (torch.linalg.eigvals, (_A,), 2 * 675),
    "matrix_exp": (torch.linalg.matrix_exp, (_A,), 2 * 270),  # 10n³
    # thin SVD 846 + V·Σ⁺·U1ᵀ 2mnk = 90; hermitian: 9n³ + 2n³
    "pinv": (torch.linalg.pinv, (_R,), 2 * (846 + 90)),
    "pinv_hermitian": (lambda a: torch.linalg.pinv(a, hermitian=True), (_SPD,), 2 * 297),
}


@pytest.mark.parametrize("name", sorted(LINALG))
def test_linalg_hand_computed_on_real_and_meta(name):
    fn, args, expected = LINALG[name]
    for p in both(Fn(fn), *args):
        assert p.complete, (p.mode, [u.op for u in p.uncounted])
        assert p.totals.flops == expected, p.mode
        assert p.totals.macs == 0  # MACs are for contraction ops only
        assert {o.category for o in p.ops if o.flops} == {"linalg"}


def test_lstsq_real_and_the_meta_refusal():
    b = torch.randn(2, 5, 2)
    p = flopwise.profile(Fn(torch.linalg.lstsq), _R, b, tensors="real")
    # QR of 5×3 (72) + per right-hand side 4mk − k² = 60 − 9 = 51, two of them
    assert p.totals.flops == 2 * (72 + 2 * 51)
    with pytest.raises(Exception, match="real tensors"):
        flopwise.profile(Fn(torch.linalg.lstsq), _R, b, tensors="meta")


def test_linalg_rounding_and_complex():
    a = torch.randn(4, 4)
    spd = a @ a.T + 4 * torch.eye(4)
    assert counted(torch.linalg.cholesky, spd).totals.flops == 21  # 64/3 rounded
    z = spd.to(torch.complex64)
    assert counted(torch.linalg.cholesky, z).totals.flops == 4 * 21  # complex: 4×
    # a real matrix with complex eigenvalues runs in real arithmetic
    assert counted(torch.linalg.eig, torch.randn(3, 3)).totals.flops == 675


def test_values_only_decompositions_by_hand():
    # the values-only variants, as a caller without a dispatch mode runs them
    c = cost(aten._linalg_svd.default, T(2, 5, 3), False, False, outputs=[T(2, 3)])
    assert (c.flops, c.macs, c.category) == (2 * 144, 0, "linalg")  # 4mn² − 4n³/3
    c = cost(aten._linalg_eigh.default, T(2, 3, 3), "L", False, outputs=[T(2, 3)])
    assert c.flops == 2 * 36  # 4n³/3
    c = cost(aten.linalg_eigvals.default, T(3, 3), outputs=[T(3, dtype=C64)])
    assert c.flops == 675  # counted like linalg_eig, what runs under autograd mode


@pytest.mark.parametrize("name", sorted(LINALG))
def test_linalg_counts_the_same_under_inference_mode(name):
    # inference_mode hands composite wrappers (linalg_cholesky, linalg_svd, linalg_eigh,
    # linalg_eigvalsh, linalg_svdvals, linalg_eigvals, linalg_lu_factor...) to the dispatcher
    fn, args, expected = LINALG[name]
    with torch.inference_mode(), flopwise.count() as c:
        fn(*args)
    assert c.profile.complete, [u.op for u in c.profile.uncounted]
    assert c.profile.totals.flops == expected


@pytest.mark.parametrize(
    ("v_shape", "dim"), [((8, 3, 5), 0), ((8, 3, 5), 2), ((16, 4), 1), ((6, 4, 7), 2)]
)
def test_weight_norm_equals_its_decomposition(v_shape, dim):
    """_weight_norm_interface (wav2vec2's weight-normalised conv) counts what PyTorch's own
    decomposition into linalg_vector_norm, div and mul counts: 2 + 1 per element of v
    (square and accumulate, then ·g/‖v‖) and 1 per element of g (the divide)."""
    from torch._decomp import decomposition_table

    torch.manual_seed(0)
    v = torch.randn(v_shape)
    g_shape = [1] * v.dim()
    g_shape[dim] = v.shape[dim]
    g = torch.randn(g_shape)
    fused = counted(aten._weight_norm_interface, v, g, dim)
    assert [r.op for r in fused.ops] == ["aten._weight_norm_interface"]
    decomposed = counted(decomposition_table[aten._weight_norm_interface.default], v, g, dim)
    assert {r.op for r in decomposed.ops} >= {"aten.linalg_vector_norm", "aten.mul.Tensor"}
    assert fused.totals.flops == decomposed.totals.flops == 3 * v.numel() + g.numel()
    meta = cost(aten._weight_norm_interface.default, T(*v_shape), T(*g_shape), dim)
    assert meta.flops == fused.totals.flops
    assert meta.category == "norm"


def test_weight_norm_of_a_wav2vec2_style_conv_is_counted():
    """nn.utils.parametrizations.weight_norm over the kernel dim (wav2vec2's positional
    conv, dim=2): v is the 64×16×16 weight (out × in/groups × kernel), g one per kernel
    position (16); nothing left uncounted."""
    conv = torch.nn.utils.parametrizations.weight_norm(
        torch.nn.Conv1d(64, 64, 16, padding=8, groups=4), name="weight", dim=2
    )
    p = flopwise.profile(conv, torch.randn(1, 64, 50))
    assert not p.uncounted
    (wn,) = [r for r in p.ops if r.op == "aten._weight_norm_interface"]
    assert wn.flops == 3 * 64 * 16 * 16 + 16
