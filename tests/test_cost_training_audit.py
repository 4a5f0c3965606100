"""Formulas for ops a training audit found uncounted (weight norm's backward, CTC, margin
losses, ...), each checked against an independent number: a hand-computed integer, a
brute-force count of the arithmetic on a tiny tensor, or PyTorch's own decomposition of the
same op counted op by op."""

from __future__ import annotations

import math

import pytest
import torch

import flopwise
from flopwise.cost.registry import lookup
from test_cost_formulas_wave2 import T, cost, counted

aten = torch.ops.aten


# -- weight norm backward -------------------------------------------------------------------


def test_weight_norm_backward_by_hand():
    """v 4×3 normalised per row (dim=0): 12 elements, 4 rows. Per element grad_w·v,
    accumulate, v·(s/‖v‖²), subtract, ·(g/‖v‖) = 5 → 60; per row ‖v‖², s/‖v‖², g/‖v‖,
    s/‖v‖ = 4 → 16; 76 in all."""
    c = cost(aten._weight_norm_interface_backward.default, T(4, 3), T(4, 3), T(4, 1), T(4, 1), 0)
    assert (c.flops, c.macs, c.category) == (76, 0, "norm")
    # dim=1: the rows are the 3 columns: 60 + 3·4
    c = cost(aten._weight_norm_interface_backward.default, T(4, 3), T(4, 3), T(1, 3), T(1, 3), 1)
    assert c.flops == 72


@pytest.mark.parametrize(("v_shape", "dim"), [((4, 3), 0), ((4, 3), 1), ((8, 3, 5), 2)])
def test_weight_norm_backward_equals_pytorchs_differentiable_form(v_shape, dim):
    """The fused backward counts what PyTorch's double-differentiable form of the same
    gradient (_weight_norm_differentiable_backward, which autograd runs with create_graph)
    counts op by op, and the two compute the same gradients."""
    torch.manual_seed(0)
    v = torch.randn(v_shape)
    g_shape = [1] * v.dim()
    g_shape[dim] = v.shape[dim]
    g = torch.randn(g_shape)
    _, norms = aten._weight_norm_interface(v, g, dim)
    grad_w = torch.randn(v_shape)
    fused = counted(aten._weight_norm_interface_backward, grad_w, v, g, norms, dim)
    assert [r.op for r in fused.ops] == ["aten._weight_norm_interface_backward"]
    composite = counted(aten._weight_norm_differentiable_backward, grad_w, v, g, norms, dim)
    assert "aten._weight_norm_interface_backward" not in {r.op for r in composite.ops}
    assert fused.totals.flops == composite.totals.flops == 5 * v.numel() + 4 * g.numel()


@pytest.mark.parametrize("old_api", [False, True])
def test_weight_normed_conv_trains_fully_counted(old_api):
    """Both weight-norm APIs on a Conv1d (v 16×8×3, g one per output channel): the training
    count is complete and the backward record is 5·384 + 4·16."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(8, 16, 3)
    if old_api:
        with pytest.warns(FutureWarning):
            conv = torch.nn.utils.weight_norm(conv)
    else:
        conv = torch.nn.utils.parametrizations.weight_norm(conv)
    p = flopwise.profile(conv, torch.randn(2, 8, 20), train=True, tensors="meta")
    assert p.complete, [u.op for u in p.uncounted]
    (back,) = [r for r in p.ops if r.op == "aten._weight_norm_interface_backward"]
    assert back.flops == 5 * 16 * 8 * 3 + 4 * 16


# -- brute force: scalar references that count their own arithmetic -----------------------


class Counted:
    """A float that counts every arithmetic step done with it (one shared tally): the
    references below run an algorithm on these and the tally is its flop count."""

    tally = 0

    def __init__(self, value: float):
        self.v = float(value)

    @classmethod
    def _step(cls, value: float) -> Counted:
        cls.tally += 1
        return cls(value)

    def __add__(self, other):
        return Counted._step(self.v + _v(other))

    __radd__ = __add__

    def __sub__(self, other):
        return Counted._step(self.v - _v(other))

    def __rsub__(self, other):
        return Counted._step(_v(other) - self.v)

    def __mul__(self, other):
        return Counted._step(self.v * _v(other))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return Counted._step(self.v / _v(other))

    def __neg__(self):
        return Counted._step(-self.v)


def _v(x) -> float:
    return x.v if isinstance(x, Counted) else float(x)


def c_exp(x: Counted) -> Counted:
    return Counted._step(math.exp(x.v) if x.v != -math.inf else 0.0)


def c_log(x: Counted) -> Counted:
    return Counted._step(math.log(x.v) if x.v > 0 else -math.inf)


def c_log1p(x: Counted) -> Counted:
    return Counted._step(math.log1p(x.v))


def c_max(a: Counted, b: Counted) -> Counted:
    return Counted._step(max(a.v, b.v))


def c_relu(x: Counted) -> Counted:  # max(0, x): one comparison that produces the value
    return Counted._step(max(0.0, x.v))


def _lse(terms: list[Counted]) -> Counted:
    """log Σ exp over the terms, the max subtracted first (the kernel's form; a missing
    term is −inf and still evaluated)."""
    top = terms[0]
    for t in terms[1:]:
        top = c_max(top, t)
    shift = top if top.v != -math.inf else Counted(0.0)
    total = c_exp(terms[0] - shift)
    for t in terms[1:]:
        total = total + c_exp(t - shift)
    return c_log(total) + shift


NEG = -math.inf


def ctc_reference(lp: torch.Tensor, target: list[int], blank: int = 0):
    """CTC for one sequence (lp [T, C] log-probabilities, every step and label used): the α
    and β recursions of Graves et al. (2006) and the gradient with respect to lp as ATen
    writes it, on Counted scalars. Returns (nll, grad [T][C], forward flops, backward
    flops)."""
    steps, classes = lp.shape
    ext = [blank]
    for label in target:
        ext += [label, blank]
    states = len(ext)
    p = [[Counted(lp[t, c].item()) for c in range(classes)] for t in range(steps)]
    minus_inf = Counted(NEG)

    def skip_ok(s: int, back: int) -> bool:
        return 0 <= back < states and ext[back] != ext[s]

    Counted.tally = 0
    alpha = [[minus_inf] * states for _ in range(steps)]
    alpha[0][0], alpha[0][1] = p[0][ext[0]], p[0][ext[1]]
    for t in range(1, steps):
        for s in range(states):
            prev = alpha[t - 1]
            terms = [prev[s], prev[s - 1] if s > 0 else minus_inf]
            terms.append(prev[s - 2] if s > 1 and skip_ok(s, s - 2) else minus_inf)
            alpha[t][s] = _lse(terms) + p[t][ext[s]]
    forward = Counted.tally
    last = alpha[steps - 1]
    nll = -math.log(math.exp(last[-1].v) + math.exp(last[-2].v))  # per sequence, uncounted

    Counted.tally = 0
    beta = [[minus_inf] * states for _ in range(steps)]
    beta[-1][-1], beta[-1][-2] = p[-1][ext[-1]], p[-1][ext[-2]]
    for t in range(steps - 2, -1, -1):
        for s in range(states):
            nxt = beta[t + 1]
            terms = [nxt[s], nxt[s + 1] if s + 1 < states else minus_inf]
            terms.append(nxt[s + 2] if s + 2 < states and skip_ok(s, s + 2) else minus_inf)
            beta[t][s] = _lse(terms) + p[t][ext[s]]
    log_grad = [[minus_inf] * classes for _ in range(steps)]
    for t in range(steps):
        for s in range(states):
            both = alpha[t][s] + beta[t][s]
            log_grad[t][ext[s]] = _lse([log_grad[t][ext[s]], both])
    grad = [
        [c_exp(p[t][c]) - c_exp(log_grad[t][c] + nll - p[t][c]) for c in range(classes)]
        for t in range(steps)
    ]
    grad = [[g * 1.0 for g in row] for row in grad]  # ·grad_output
    return nll, [[g.v for g in row] for row in grad], forward, Counted.tally


def test_ctc_reference_is_the_kernel_and_its_count_is_the_formula():
    """A Python CTC (α, β and the gradient, every scalar step counted) gives torch's loss
    and gradient, and its tally is what the _ctc_loss rows count for the call: T = 6 steps,
    C = 4 classes, targets [1, 2, 2] (5 + 2 = 7 states, the repeated label takes the
    no-skip branch)."""
    torch.manual_seed(0)
    lp = torch.randn(6, 1, 4).log_softmax(-1).requires_grad_()
    targets = torch.tensor([[1, 2, 2]])
    lengths_in, lengths_out = torch.tensor([6]), torch.tensor([3])
    with flopwise.count() as c:
        nll, _ = aten._ctc_loss(lp, targets, lengths_in, lengths_out, 0, False)
        (grad,) = torch.autograd.grad(nll.sum(), lp)
    ref_nll, ref_grad, forward, backward = ctc_reference(lp.detach()[:, 0], [1, 2, 2])
    assert nll.item() == pytest.approx(ref_nll, rel=1e-5)
    assert torch.allclose(grad[:, 0], torch.tensor(ref_grad), atol=1e-5)
    by_op = {r.op.split(".")[1]: r.flops for r in c.profile.ops}
    assert by_op["_ctc_loss"] == forward == 13 * 7 * 5
    # β 13·7·5, α·β into the gradient 9·7·6, the gradient 6·6·4
    assert by_op["_ctc_loss_backward"] == backward == 455 + 378 + 144


def test_ctc_counts_full_lengths_and_concatenated_targets():
    """Lengths are tensors (data): 2-D targets count at their padded length, so N=2
    sequences padded to S=4 give 2·(2·4+1) = 18 states; 1-D targets are the labels
    themselves, 7 labels → 2·7 + 2 = 16 states; T = 10 steps either way."""
    lp = T(10, 2, 5)
    for targets, states in ((T(2, 4, dtype=torch.int64), 18), (T(7, dtype=torch.int64), 16)):
        c = cost(aten._ctc_loss.Tensor, lp, targets, T(2, dtype=torch.int64),
                 T(2, dtype=torch.int64), 0, False)  # fmt: skip
        assert (c.flops, c.category) == (13 * states * 9, "reduction")
        grad = cost(aten._ctc_loss_backward.Tensor, T(2), lp, targets, T(2), T(2), T(2),
                    T(2, 10, 9), 0, False)  # fmt: skip
        assert grad.flops == 13 * states * 9 + 9 * states * 10 + 6 * 100


def test_ctc_loss_trains_fully_counted():
    torch.manual_seed(0)
    x = torch.randn(10, 2, 5, requires_grad=True)
    with flopwise.count() as c:
        loss = torch.nn.functional.ctc_loss(
            x.log_softmax(-1), torch.randint(1, 5, (2, 4)), torch.tensor([10, 8]),
            torch.tensor([4, 3]),
        )  # fmt: skip
        loss.backward()
    assert c.profile.complete, [u.op for u in c.profile.uncounted]


def multi_margin_reference(x: torch.Tensor, y: torch.Tensor, p: int, margin: float = 1.0):
    """Σ_n Σ_{i≠y_n} max(0, margin − x[y] + x[i])^p on Counted scalars (margin − x[y] once
    per row); returns (loss sum, tally). The 1/C and the batch sum are per row, left out."""
    Counted.tally = 0
    total = 0.0
    for row, label in zip(x.tolist(), y.tolist(), strict=True):
        base = Counted(margin - row[label])  # per row
        acc = Counted(0.0)
        for i, value in enumerate(row):
            if i == label:
                continue
            z = c_relu(base + value)
            acc = acc + (z * z if p == 2 else z)
        total += acc.v / len(row)
    return total, Counted.tally


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_brute_force(p):
    """N=4 rows of C=5 classes: 4·4 = 16 terms, 3 flops each (+1 for p=2), as a scalar
    reference that reproduces torch's loss counts."""
    torch.manual_seed(0)
    x, y = torch.randn(4, 5), torch.randint(0, 5, (4,))
    ref, tally = multi_margin_reference(x, y, p)
    assert torch.nn.functional.multi_margin_loss(x, y, p=p, reduction="sum").item() == (
        pytest.approx(ref, rel=1e-5)
    )
    fwd = cost(aten.multi_margin_loss.default, T(4, 5), T(4, dtype=torch.int64), p, 1.0, None, 2)
    assert fwd.flops == tally == 16 * (3 + (p == 2))
    bwd = cost(aten.multi_margin_loss_backward.default, T(), T(4, 5), T(4, dtype=torch.int64),
               p, 1.0, None, 2)  # fmt: skip
    # per term: z, the test, the subtraction from grad[y]; p=2 the ·2z
    assert bwd.flops == 16 * (3 + (p == 2))


def multilabel_reference(x: torch.Tensor, target: torch.Tensor):
    """Σ_n Σ_{label j} Σ_{non-label i} max(0, 1 − x[y_j] + x[i]) on Counted scalars."""
    Counted.tally = 0
    total = 0.0
    for row, labels in zip(x.tolist(), target.tolist(), strict=True):
        ys = labels[: labels.index(-1)] if -1 in labels else labels
        acc = Counted(0.0)
        for j in ys:
            base = Counted(1.0 - row[j])  # per label
            for i, value in enumerate(row):
                if i not in ys:
                    acc = acc + c_relu(base + value)
        total += acc.v / len(row)
    return total, Counted.tally


def test_multilabel_margin_loss_counts_the_worst_labelling():
    """C=5 classes: k labels give k·(5−k) pairs, at most 6 (k = 2 or 3); 3 rows → 18 pairs,
    3 flops each (backward 4). The reference reproduces torch's loss, hits 54 with 2
    labels per row, and stays below it with other labellings."""
    torch.manual_seed(0)
    x = torch.randn(3, 5)
    fwd = cost(aten.multilabel_margin_loss_forward.default, T(3, 5),
               T(3, 5, dtype=torch.int64), 2)  # fmt: skip
    assert fwd.flops == 54
    worst = torch.tensor([[0, 3, -1, 0, 0], [4, 1, -1, 0, 0], [2, 0, -1, 0, 0]])
    ref, tally = multilabel_reference(x, worst)
    loss = torch.nn.functional.multilabel_margin_loss(x, worst, reduction="sum")
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    assert tally == fwd.flops
    for labels in ([[1, -1, 0, 0, 0]] * 3, [[0, 1, 2, 3, 4]] * 3, [[4, 2, 0, 1, -1]] * 3):
        assert multilabel_reference(x, torch.tensor(labels))[1] < fwd.flops
    bwd = cost(aten.multilabel_margin_loss_backward.default, T(), T(3, 5),
               T(3, 5, dtype=torch.int64), 2, T(3, 5))  # fmt: skip
    assert bwd.flops == 18 * 4


def test_soft_margin_loss_brute_force():
    """4×5 elements: log(1 + exp(−y·x)) is 4 steps each, + 1 accumulate when reduced: 100;
    the gradient −y·σ(−y·x)·g, 7 each: 140."""
    torch.manual_seed(0)
    x, y = torch.randn(4, 5), torch.randn(4, 5).sign()
    Counted.tally = 0
    acc = Counted(0.0)
    for a, b in zip(x.flatten().tolist(), y.flatten().tolist(), strict=True):
        acc = acc + c_log1p(c_exp(-Counted(a) * b))
    assert torch.nn.functional.soft_margin_loss(x, y, reduction="sum").item() == (
        pytest.approx(acc.v, rel=1e-5)
    )
    assert cost(aten.soft_margin_loss.default, T(4, 5), T(4, 5), 1).flops == Counted.tally == 100
    assert cost(aten.soft_margin_loss.default, T(4, 5), T(4, 5), 0).flops == 80
    Counted.tally = 0
    for a, b in zip(x.flatten().tolist(), y.flatten().tolist(), strict=True):
        neg_y = -Counted(b)
        z = c_exp(neg_y * a)
        _ = neg_y * z / (z + 1.0) * 1.0  # ·g
    assert cost(aten.soft_margin_loss_backward.default, T(), T(4, 5), T(4, 5), 1).flops == (
        Counted.tally
    )
    assert Counted.tally == 140


# -- small formulas by hand -------------------------------------------------------------------


def test_small_formulas_by_hand():
    # trace of 4×5: 4 diagonal elements, one add each
    assert cost(aten.trace.default, T(4, 5)).flops == 4
    # logit backward g/(x·(1−x)): 3 per element, the eps range test 1 more
    assert cost(aten.logit_backward.default, T(4, 5), T(4, 5), None, outputs=[T(4, 5)]).flops == 60
    assert cost(aten.logit_backward.default, T(4, 5), T(4, 5), 1e-3, outputs=[T(4, 5)]).flops == 80
    # Bessel functions i1, i1e, i0e: one evaluation per element, like i0
    for op in (aten.special_i1, aten.special_i1e, aten.special_i0e):
        assert cost(op.default, T(4, 5), outputs=[T(4, 5)]).flops == 20
    # per_sample_weights gradient: 21 indices × 4-dim rows, a multiply and an add each
    psw = cost(aten._embedding_bag_per_sample_weights_backward.default, T(3, 4), T(10, 4),
               T(21, dtype=torch.int64), T(3, dtype=torch.int64), T(21, dtype=torch.int64), 0)  # fmt: skip
    assert (psw.flops, psw.category) == (168, "reduction")
    # put: accumulate adds once per index, otherwise a copy
    idx, src = T(3, dtype=torch.int64), T(3)
    assert cost(aten.put.default, T(20), idx, src, True).flops == 3
    assert cost(aten.put.default, T(20), idx, src, False).category == "memory"


def test_householder_product_matches_the_qr_rule():
    """orgqr, 4mnk − 2(m+n)k² + 4k³/3: with n = m it is the complete Q the qr rule adds, with
    n = k the reduced one, so Q from 3 reflectors of length 5 costs what linalg_qr(5×3)
    charges for Q: 156 (complete), 72 (reduced); 5×3 from 2 reflectors: 66.7 → 67."""
    q = {
        mode: cost(aten.linalg_qr.default, T(5, 3), mode).flops
        for mode in ("complete", "reduced", "r")
    }
    complete = cost(aten.linalg_householder_product.default, T(5, 5), T(3))
    reduced = cost(aten.linalg_householder_product.default, T(5, 3), T(3))
    assert complete.flops == q["complete"] - q["r"] == 156
    assert reduced.flops == q["reduced"] - q["r"] == 72
    assert cost(aten.linalg_householder_product.default, T(5, 3), T(2)).flops == 67
    assert cost(aten.linalg_householder_product.default, T(4, 5, 3), T(4, 2)).flops == 4 * 67


# -- ops without arithmetic go to the zero set --------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        "max_unpool2d", "max_unpool3d", "hann_window", "hamming_window", "blackman_window",
        "bartlett_window", "kaiser_window", "_indices", "_values",
        "_sparse_coo_tensor_with_dims_and_tensors", "_pack_padded_sequence", "_chunk_cat",
    ],
)  # fmt: skip
def test_data_movement_and_factories_are_zero(op):
    assert lookup(getattr(aten, op))[0] == "zero"


TRAINING_CASES = {
    "margin_losses": lambda x: (
        torch.nn.functional.multi_margin_loss(x, torch.randint(0, 5, (4,)), p=2)
        + torch.nn.functional.multilabel_margin_loss(x, torch.randint(-1, 5, (4, 5)))
        + torch.nn.functional.soft_margin_loss(x, torch.ones(4, 5))
    ),
    "special": lambda x: (
        torch.special.i0(x) + torch.special.i0e(x) + torch.special.i1(x) + x.sigmoid().logit(1e-3)
    ),
    "special_more": lambda x: (
        torch.mvlgamma(x.abs() + 2, 3)
        + torch.special.entr(x.abs())
        + torch.polygamma(2, x.abs())
        + torch.special.xlog1py(x, x.abs())
        + torch.special.erfcx(x)
        + torch.special.ndtri(x.sigmoid())
        + torch.special.log_ndtr(x)
    ),
    "trace_put": lambda x: x.trace() + torch.zeros(30).put(torch.tensor([1, 1]), x[0, :2], True),
    "unpool": lambda x: torch.nn.functional.max_unpool2d(
        *torch.nn.functional.max_pool2d(x[None, None, :, :4], 2, return_indices=True), 2
    ),
    "window": lambda x: x * torch.hann_window(5),
    "cross_renorm_mode_ldexp": lambda x: (
        torch.linalg.cross(x[:, :3], x[:, 1:4]).sum()
        + x.renorm(2, 0, 1.0).sum()
        + x.mode(1).values.sum()
        + torch.ldexp(x, torch.ones(5)).sum()
    ),
    "householder": lambda x: torch.linalg.householder_product(x.mT, x[0, :3]),
}


@pytest.mark.parametrize("name", sorted(TRAINING_CASES))
def test_audited_ops_train_fully_counted(name):
    torch.manual_seed(0)
    x = torch.randn(4, 5, requires_grad=True)
    with flopwise.count() as c:
        TRAINING_CASES[name](x).sum().backward()
    assert c.profile.complete, [u.op for u in c.profile.uncounted]


class PackedGRU(torch.nn.Module):
    """Packs a padded batch (lengths 5 and 3) and runs a GRU over it."""

    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(4, 6)

    def forward(self, x):
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, [5, 3])
        return torch.nn.utils.rnn.pad_packed_sequence(self.gru(packed)[0])[0]


@pytest.mark.parametrize(
    ("name", "module", "inputs"),
    [
        ("sparse embedding", lambda: torch.nn.Embedding(20, 8, sparse=True),
         lambda: (torch.randint(0, 20, (3, 7)),)),
        ("per-sample weights", lambda: torch.nn.EmbeddingBag(20, 8, mode="sum"),
         lambda: (torch.randint(0, 20, (3, 7)), None, torch.rand(3, 7, requires_grad=True))),
        ("packed GRU", PackedGRU, lambda: (torch.randn(5, 2, 4),)),
    ],
)  # fmt: skip
def test_audited_modules_train_fully_counted(name, module, inputs):
    torch.manual_seed(0)
    p = flopwise.profile(module(), *inputs(), train=True)
    assert p.complete, [u.op for u in p.uncounted]


def test_special_functions_by_hand_and_mvlgamma_against_its_reference():
    """Per output element: the elementary functions 1, entr (−x·ln x) 3, xlog1py 1; 4×5
    elements. mvlgamma(x, p=3): 3 terms of shift, lgamma, accumulate + the constant = 10 per
    element, 200; PyTorch's reference decomposition (torch._refs) counts the same plus the
    3 halvings of its offsets, which are per call."""
    for op in (aten.special_ndtri, aten.special_log_ndtr, aten.special_erfcx):
        assert cost(op.default, T(4, 5), outputs=[T(4, 5)]).flops == 20
    assert cost(aten.polygamma.default, 2, T(4, 5), outputs=[T(4, 5)]).flops == 20
    assert cost(aten.special_entr.default, T(4, 5), outputs=[T(4, 5)]).flops == 60
    assert cost(aten.special_xlog1py.default, T(4, 5), T(4, 5), outputs=[T(4, 5)]).flops == 20
    assert cost(aten.mvlgamma.default, T(4, 5), 3, outputs=[T(4, 5)]).flops == 200
    import torch._refs.special as refs_special

    x = torch.rand(4, 5) + 2
    reference = counted(refs_special.multigammaln, x, 3)
    assert reference.totals.flops - 3 == counted(torch.mvlgamma, x, 3).totals.flops == 200


# -- GPU kernels of training (formulas checked on shapes; the kernels need CUDA) -----------


@pytest.mark.parametrize("bias", [True, False])
def test_fused_cell_backwards_equal_pytorchs_differentiable_forms(bias):
    """The GPU cells' backward kernels count what PyTorch's differentiable forms of the same
    gradients (which run on CPU) count once their recomputation of the gates is taken out:
    LSTM recomputes the gate sum (4), each bias (4) and the 4 activations; GRU each bias
    (3), r and z (2 adds, 2 sigmoids) and n (r·h_n, +, tanh). B=3 rows × H=4 units."""
    torch.manual_seed(0)
    rows, hidden = 3, 4
    units = rows * hidden
    n_bias = 2 if bias else 0
    grads = torch.randn(rows, hidden), torch.randn(rows, hidden)

    ig, hg, cx, cy = (torch.randn(rows, k * hidden) for k in (4, 4, 1, 1))
    ib, hb = (torch.randn(4 * hidden), torch.randn(4 * hidden)) if bias else (None, None)
    composite = counted(
        aten._thnn_differentiable_lstm_cell_backward, *grads, ig, hg, ib, hb, cx, cy
    )
    recompute = (4 + 4 * n_bias + 4) * units
    lstm = cost(aten._thnn_fused_lstm_cell_backward_impl.default, *(T(rows, hidden),) * 4,
                T(rows, 4 * hidden), bias)  # fmt: skip
    assert lstm.flops == composite.totals.flops - recompute == (23 + 4 * bias) * units

    ig, hg, hx = torch.randn(rows, 3 * hidden), torch.randn(rows, 3 * hidden), grads[1]
    ib, hb = (torch.randn(3 * hidden), torch.randn(3 * hidden)) if bias else (None, None)
    composite = counted(aten._thnn_differentiable_gru_cell_backward, grads[0], ig, hg, hx, ib, hb)
    recompute = (7 + 3 * n_bias) * units
    gru = cost(aten._thnn_fused_gru_cell_backward.default, T(rows, hidden), T(rows, 5 * hidden),
               bias)  # fmt: skip
    assert gru.flops == composite.totals.flops - recompute == (16 + 6 * bias) * units


def test_cudnn_grid_sampler_counts_as_bilinear_grid_sample():
    """cuDNN's sampler is the 2-D bilinear case: input 2×3×8×8 sampled at a 2×5×6 grid, so
    2·3·5·6 = 180 outputs, 7 flops each; the backward 16 per grad_output element."""
    x, grid, out = T(2, 3, 8, 8), T(2, 5, 6, 2), T(2, 3, 5, 6)
    native = cost(aten.grid_sampler_2d.default, x, grid, 0, 0, True, outputs=[out])
    assert cost(aten.cudnn_grid_sampler.default, x, grid, outputs=[out]).flops == native.flops
    assert native.flops == 7 * 180
    back = cost(aten.cudnn_grid_sampler_backward.default, x, grid, out)
    native_back = cost(aten.grid_sampler_2d_backward.default, out, x, grid, 0, 0, True,
                       [True, True])  # fmt: skip
    assert back.flops == native_back.flops == 16 * 180


def test_cudnn_ctc_loss_is_the_forward_and_the_gradient():
    """_cudnn_ctc_loss returns the loss and its gradient: T=10, N=2, 1-D targets of 7
    labels (16 states): α and β 13·16·9 each, α·β 9·16·10, the gradient 6·100."""
    args = (T(10, 2, 5), T(7, dtype=torch.int64), [10, 10], [4, 3], 0, False, False)
    c = cost(aten._cudnn_ctc_loss.default, *args)
    forward = cost(aten._ctc_loss.default, *args[:5], False).flops
    backward = cost(aten._ctc_loss_backward.default, T(2), *args[:4], T(2), T(2, 10, 9), 0,
                    False).flops  # fmt: skip
    assert c.flops == forward + backward == 2 * 13 * 16 * 9 + 9 * 16 * 10 + 6 * 100


# -- quantization-aware training -------------------------------------------------------------


def c_round(x: Counted) -> Counted:
    return Counted._step(float(round(x.v)))  # round half to even, as nearbyint


def c_clamp(x: Counted, low: int, high: int) -> Counted:  # one comparison producing the value
    return Counted._step(min(max(x.v, low), high))


def fake_quant_reference(x: float, scale: float, zero: int, qmin: int, qmax: int) -> Counted:
    q = c_clamp(c_round(Counted(x) * (1.0 / scale)) + zero, qmin, qmax)
    return (q - zero) * scale


def test_fake_quantize_brute_force():
    """Fake quantization of 4×5 elements (scale 0.1, zero point 3, range [0, 255]): the
    scalar reference gives torch's values and counts 6 per element, 120."""
    torch.manual_seed(0)
    x = torch.randn(4, 5) * 5
    Counted.tally = 0
    ref = [fake_quant_reference(v, 0.1, 3, 0, 255).v for v in x.flatten().tolist()]
    fq = torch.fake_quantize_per_tensor_affine(x, 0.1, 3, 0, 255)
    assert torch.allclose(fq.flatten(), torch.tensor(ref), atol=1e-6)
    c = cost(aten.fake_quantize_per_tensor_affine_cachemask.default, T(4, 5), 0.1, 3, 0, 255)
    assert c.flops == Counted.tally == 120
    per_channel = cost(aten.fake_quantize_per_channel_affine_cachemask.default, T(4, 5), T(5),
                       T(5, dtype=torch.int32), 1, 0, 255)  # fmt: skip
    assert per_channel.flops == 120


def test_learnable_fake_quantize_backward_brute_force():
    """The learnable fake quantizer's backward on 4×5 elements, all inside the range: the
    reference recomputes x̂ (6), passes dy (1), forms dy·(x̂ − x)·(grad_factor/s) (3) and
    accumulates it and the zero-point gradient (2): 12 per element, 240; its scale gradient
    is torch's."""
    torch.manual_seed(0)
    x = torch.rand(4, 5) * 20  # inside [0, 25.5] at scale 0.1
    dy = torch.randn(4, 5)
    scale, zero, factor = 0.1, 0.0, 0.5
    dx, dscale, dzero = aten._fake_quantize_learnable_per_tensor_affine_backward(
        dy, x, torch.tensor([scale]), torch.tensor([zero]), 0, 255, factor
    )
    Counted.tally = 0
    acc_scale, acc_zero = Counted(0.0), Counted(0.0)
    folded = factor / scale  # per tensor
    for v, g in zip(x.flatten().tolist(), dy.flatten().tolist(), strict=True):
        xq = fake_quant_reference(v, scale, int(zero), 0, 255)
        _ = Counted(g) * 1.0  # dy·mask
        acc_scale = acc_scale + (xq - v) * g * folded
        acc_zero = acc_zero + 0.0  # in range the zero-point gradient is 0
    assert dscale.item() == pytest.approx(acc_scale.v, rel=1e-4, abs=1e-6)
    assert torch.equal(dx, dy) and dzero.item() == 0.0
    c = cost(aten._fake_quantize_learnable_per_tensor_affine_backward.default, T(4, 5),
             T(4, 5), T(1), T(1), 0, 255, factor)  # fmt: skip
    assert c.flops == Counted.tally == 240


def test_fused_observer_fake_quantize_is_aminmax_then_fake_quantize():
    """QAT's fused observer + fake quantizer costs the observer's aminmax pass and the
    per-channel fake quantization, as those two ops count: a 4×3×3×3 conv weight, 108
    elements × (1 + 6)."""
    w = T(4, 3, 3, 3)
    helper = cost(aten._fused_moving_avg_obs_fq_helper.default, w, T(1), T(1), T(4), T(4),
                  T(4), T(4, dtype=torch.int32), 0.01, -128, 127, 0, True, True)  # fmt: skip
    observer = cost(aten.aminmax.default, w, outputs=[T(), T()])
    quant = cost(aten.fake_quantize_per_channel_affine_cachemask.default, w, T(4),
                 T(4, dtype=torch.int32), 0, -128, 127)  # fmt: skip
    assert helper.flops == observer.flops + quant.flops == 108 * 7


class QATNet(torch.nn.Module):
    """A conv + BN + linear net prepared for quantization-aware training (fused observers
    and fake quantizers on weights and activations), run once to size its observers."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
            torch.nn.Flatten(), torch.nn.Linear(4 * 36, 3),
        )  # fmt: skip
        self.net.qconfig = torch.ao.quantization.get_default_qat_qconfig("fbgemm")
        torch.ao.quantization.prepare_qat(self.net, inplace=True)
        self.net(torch.randn(2, 3, 8, 8))

    def forward(self, x):
        return self.net(x)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_quantization_aware_training_fully_counted():
    torch.manual_seed(0)
    p = flopwise.profile(QATNet(), torch.randn(2, 3, 8, 8), train=True)
    assert p.complete, [u.op for u in p.uncounted]
    fq = [r for r in p.ops if r.op == "aten._fused_moving_avg_obs_fq_helper"]
    assert fq and all(r.flops > 0 for r in fq)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_a_fresh_qat_model_trains_and_is_left_as_found():
    """A QAT model never run has empty observer buffers, which its first forward resizes;
    the profile runs it and gives the buffers back as they were (empty)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 36, 3))  # fmt: skip
    net.qconfig = torch.ao.quantization.get_default_qat_qconfig("fbgemm")
    torch.ao.quantization.prepare_qat(net, inplace=True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    p = flopwise.profile(net, torch.randn(2, 3, 8, 8), train=True)
    assert p.complete, [u.op for u in p.uncounted]
    after = net.state_dict()
    assert any(v.numel() == 0 for v in before.values())  # the case under test
    for key, value in before.items():
        assert after[key].shape == value.shape and torch.equal(after[key], value), key


@pytest.mark.parametrize(
    "options",
    [
        {"num_layers": 1},
        {"num_layers": 2, "bidirectional": True, "dropout": 0.1},
        {"num_layers": 3, "bias": False, "dropout": 0.2},
    ],
)
@pytest.mark.parametrize("input_grad", [False, True])
def test_cudnn_lstm_backward_counts_what_the_cpu_stack_backward_counts(options, input_grad):
    """cuDNN's whole-stack LSTM backward, priced from its arguments, equals what the same
    LSTM's backward counts on CPU, op by op (mkldnn_rnn_layer_backward per layer and
    direction, the inter-layer dropout's mask multiply, the sum of the two directions' input
    gradients): flops and macs, with and without the input's gradient."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(8, 16, **options)
    x = torch.randn(5, 3, 8, requires_grad=input_grad)
    with flopwise.count() as c:
        out = lstm(x)[0]
        out.sum().backward()
    ops = c.profile.ops
    first = next(i for i, r in enumerate(ops) if r.op.startswith("aten.mkldnn_rnn_layer_backward"))
    cpu = ops[first:]
    meta = lambda t: T(*t.shape)  # noqa: E731
    weights = [meta(w) for w in lstm._flat_weights]
    directions = 2 if lstm.bidirectional else 1
    stride = len(weights) // (lstm.num_layers * directions)
    one = T(1)
    cudnn = cost(aten._cudnn_rnn_backward.default, meta(x), weights, stride, one, one, one,
                 meta(out), meta(out), None, None, 2, 16, 0, lstm.num_layers, False,
                 lstm.dropout, True, lstm.bidirectional, [], None, one, [input_grad, True, True, True])  # fmt: skip
    assert cudnn.flops == sum(r.flops for r in cpu)
    assert cudnn.macs == sum(r.macs for r in cpu) > 0
    # without the weight gradient only the data half of the matmuls runs
    data_only = cost(aten._cudnn_rnn_backward.default, meta(x), weights, stride, one, one, one,
                     meta(out), meta(out), None, None, 2, 16, 0, lstm.num_layers, False,
                     lstm.dropout, True, lstm.bidirectional, [], None, one,
                     [input_grad, True, True, False])  # fmt: skip
    assert data_only.macs * 2 == cudnn.macs


def test_cross_renorm_mode_ldexp():
    """cross of 4 pairs of 3-vectors: each of the 12 components a_j·b_k − a_k·b_j, 3 flops,
    as a scalar reference that reproduces torch.linalg.cross counts (36). renorm of 4×5: 3
    per element (square, accumulate, ·factor), 4 for p=3; mode of 4 rows of 5: the sort's
    ⌈log2 5⌉ = 3 comparisons per element + the run scan 1 = 80; ldexp 2 per element."""
    torch.manual_seed(0)
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    Counted.tally = 0
    ref = []
    for u, v in zip(a.tolist(), b.tolist(), strict=True):
        u, v = [Counted(t) for t in u], [Counted(t) for t in v]
        ref.append([(u[(i + 1) % 3] * v[(i + 2) % 3] - u[(i + 2) % 3] * v[(i + 1) % 3]).v
                    for i in range(3)])  # fmt: skip
    assert torch.allclose(torch.linalg.cross(a, b), torch.tensor(ref), atol=1e-6)
    out = [T(4, 3)]
    assert cost(aten.linalg_cross.default, T(4, 3), T(4, 3), outputs=out).flops == Counted.tally
    assert Counted.tally == 36
    assert cost(aten.renorm.default, T(4, 5), 2, 0, 1.0).flops == 60
    assert cost(aten.renorm.default, T(4, 5), 3, 0, 1.0).flops == 80
    assert cost(aten.mode.default, T(4, 5), 1).flops == 80
    assert cost(aten.ldexp.Tensor, T(4, 5), T(5), outputs=[T(4, 5)]).flops == 40
