"""Property tests: pooling, reduction and FFT formulas against brute-force counts on small
real tensors, run through the capture engine (so argument parsing is tested too)."""

from __future__ import annotations

import cmath
import math

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import flopwise

FAST = settings(max_examples=25, deadline=None)


def counted(fn, *categories: str) -> tuple[int, int]:
    """(flops, activations) of the ops of the given categories that ``fn`` runs."""
    with torch.no_grad(), flopwise.count() as c:
        fn()
    p = c.profile
    assert not p.uncounted, [u.op for u in p.uncounted]
    ops = [r for r in p.ops if r.category in categories]
    assert ops, f"no {categories} op ran"
    return sum(r.flops for r in ops), sum(r.activations for r in ops)


# -- pooling ---------------------------------------------------------------------------


@st.composite
def pool_case(draw):
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 2))
    p = draw(st.integers(0, k // 2))
    s = draw(st.integers(1, 3))
    reach = (k - 1) * d + 1 - 2 * p
    h = draw(st.integers(max(1, reach), 9))
    w = draw(st.integers(max(1, reach), 9))
    return draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w, k, s, p, d


@FAST
@given(pool_case())
def test_max_pool_equals_unfolded_window_elements(case):
    n, c, h, w, k, s, p, d = case
    x = torch.randn(n, c, h, w)
    flops, activations = counted(lambda: F.max_pool2d(x, k, s, p, d), "pool")
    # Brute force: unfold materialises every window element (padding positions included).
    windows = F.unfold(torch.ones(n, c, h, w), k, dilation=d, padding=p, stride=s)
    assert flops == windows.numel()
    assert activations == F.max_pool2d(x, k, s, p, d).numel()


@FAST
@given(pool_case())
def test_avg_pool_equals_unfolded_window_elements(case):
    n, c, h, w, k, s, p, _ = case
    x = torch.randn(n, c, h, w)
    flops, _ = counted(lambda: F.avg_pool2d(x, k, s, p), "pool")
    assert flops == F.unfold(torch.ones(n, c, h, w), k, padding=p, stride=s).numel()


def one_hot_inputs(*spatial: int) -> torch.Tensor:
    """Batch of one-hot images: sample j is 1 at position j, shape [prod, 1, *spatial]."""
    size = math.prod(spatial)
    return torch.eye(size).reshape(size, 1, *spatial)


@FAST
@given(
    st.integers(1, 9), st.integers(1, 9), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3)
)
def test_adaptive_pool_equals_brute_force_windows(h, w, oh, ow, c):
    # Brute force: a max over a window of a one-hot image is 1 exactly when the hot
    # position lies in the window, so the nonzeros over all one-hot images count every
    # (output, window element) pair.
    brute = int((F.adaptive_max_pool2d(one_hot_inputs(h, w), (oh, ow)) != 0).sum()) * c
    x = torch.randn(1, c, h, w)
    flops, activations = counted(lambda: F.adaptive_max_pool2d(x, (oh, ow)), "pool")
    assert (flops, activations) == (brute, c * oh * ow)
    # PyTorch runs a global average pool as a mean: same flops, filed as a reduction.
    flops, _ = counted(lambda: F.adaptive_avg_pool2d(x, (oh, ow)), "pool", "reduction")
    assert flops == brute


@FAST
@given(st.integers(1, 12), st.integers(1, 6))
def test_adaptive_pool_1d_equals_brute_force_windows(length, out):
    brute = int((F.adaptive_max_pool1d(torch.eye(length).unsqueeze(1), out) != 0).sum())
    flops, _ = counted(lambda: F.adaptive_max_pool1d(torch.randn(1, 1, length), out), "pool")
    assert flops == brute


# -- reductions ------------------------------------------------------------------------


@st.composite
def reduction_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    dims = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))
    return shape, dims


@FAST
@given(reduction_case(), st.booleans())
def test_reductions_count_each_input_element_once(case, keepdim):
    shape, dims = case
    x = torch.randn(shape)
    # Brute force: every input element lands in exactly one output's accumulation.
    brute = int(torch.ones(shape).sum(dims, keepdim=keepdim).sum())
    assert counted(lambda: x.sum(dims, keepdim=keepdim), "reduction")[0] == brute
    assert counted(lambda: x.amax(dims, keepdim=keepdim), "reduction")[0] == brute
    assert counted(lambda: x.mean(dims, keepdim=keepdim), "reduction")[0] == brute
    assert counted(lambda: x.var(dims, keepdim=keepdim), "reduction")[0] == 4 * brute


# -- FFT -------------------------------------------------------------------------------


def radix2_fft(values: list[complex]) -> tuple[list[complex], int]:
    """A textbook radix-2 FFT that counts its real flops: each butterfly is one complex
    multiply (6) and two complex adds (2 each)."""
    n = len(values)
    if n == 1:
        return list(values), 0
    even, flops_even = radix2_fft(values[0::2])
    odd, flops_odd = radix2_fft(values[1::2])
    flops = flops_even + flops_odd
    out = [0j] * n
    for k in range(n // 2):
        t = cmath.exp(-2j * math.pi * k / n) * odd[k]
        out[k], out[k + n // 2] = even[k] + t, even[k] - t
        flops += 6 + 2 + 2
    return out, flops


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([1, 2, 4, 8, 16, 32]))
def test_radix2_reference_is_a_real_fft(n):
    x = torch.randn(n, dtype=torch.complex128)
    ours, _ = radix2_fft(x.tolist())
    assert torch.allclose(torch.tensor(ours, dtype=x.dtype), torch.fft.fft(x), atol=1e-9)


def brute_fft_flops(shape: tuple[int, ...], dims: list[int], real: bool) -> int:
    total = 0
    for d in dims:
        n = shape[d]
        _, per_transform = radix2_fft([0j] * n)
        if real:  # a real-input (or real-output) transform costs half the complex one
            per_transform //= 2
        total += math.prod(shape) // n * per_transform
    return total


@st.composite
def fft_case(draw):
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 4, 8, 16]), min_size=1, max_size=3)))
    dims = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))
    return shape, sorted(dims)


@FAST
@given(fft_case())
def test_complex_fft_matches_butterfly_count(case):
    shape, dims = case
    x = torch.randn(shape, dtype=torch.complex64)
    expected = brute_fft_flops(shape, dims, real=False)
    assert counted(lambda: torch.fft.fftn(x, dim=dims), "fft")[0] == expected
    assert counted(lambda: torch.fft.ifftn(x, dim=dims), "fft")[0] == expected


@FAST
@given(fft_case())
def test_real_fft_is_half_the_complex_count(case):
    shape, dims = case
    x = torch.randn(shape)
    expected = brute_fft_flops(shape, dims, real=True)
    assert counted(lambda: torch.fft.rfftn(x, dim=dims), "fft")[0] == expected
    spectrum = torch.fft.rfftn(x, dim=dims)
    sizes = [shape[d] for d in dims]
    inverse = counted(lambda: torch.fft.irfftn(spectrum, s=sizes, dim=dims), "fft")[0]
    assert inverse == expected


# -- antialiased interpolation ---------------------------------------------------------


@FAST
@given(st.integers(2, 24), st.integers(1, 24), st.sampled_from([("bilinear", 2), ("bicubic", 4)]))
def test_antialias_windows_cover_every_weight(size_in, size_out, mode):
    from flopwise.cost.elementwise import antialias_windows

    name, interp = mode
    # Brute force: resize one-hot rows; input j feeds output i iff its weight is nonzero.
    # Every such j must lie in the window the formula counts. (The kernel also visits taps
    # whose weight is exactly 0, e.g. a pixel at an integer distance from a bicubic
    # centre, which the brute force cannot see; exact counts are unit-tested.)
    rows = torch.eye(size_in, dtype=torch.float64).reshape(size_in, 1, 1, size_in)
    weights = F.interpolate(rows, size=(1, size_out), mode=name, antialias=True)[:, 0, 0, :]
    for i, (low, taps) in enumerate(antialias_windows(size_in, size_out, False, None, interp)):
        used = weights[:, i].nonzero().flatten().tolist()
        assert used and low <= min(used) and max(used) < low + taps
