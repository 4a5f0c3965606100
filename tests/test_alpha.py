"""α-FLOPs formula, constants and op-record helpers (flopwise.analysis.alpha)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from flopwise.analysis.alpha import (
    DEFAULT_CONSTANTS,
    AlphaConstants,
    alpha,
    alpha_array,
    alpha_flops,
    alpha_macs,
    alpha_totals,
    kernel_log_size,
    layer_geometry,
    record_alpha,
    record_alpha_macs,
)
from flopwise.capture.records import OpRecord
from flopwise.cost.types import TensorMeta

# CONVENTIONS.md check vectors: (S, K, constants of K's class) -> α
CHECK_VECTORS = [
    (10 * 10, 3 * 3, 0.147886),
    (56 * 56, 3 * 3, 0.030961),
    (1 * 1, 3 * 3, 1.916487),
    (10 * 10, 1 * 1, 0.030866),
]


@pytest.mark.parametrize(("s", "k", "expected"), CHECK_VECTORS)
def test_check_vectors(s: int, k: int, expected: float) -> None:
    beta, gamma = DEFAULT_CONSTANTS.for_kernel(k)
    assert round(alpha(s, k, beta, gamma), 6) == pytest.approx(expected, abs=1e-12)
    assert round(float(alpha_array([s], [k])[0]), 6) == pytest.approx(expected, abs=1e-12)


def test_authors_constants() -> None:
    assert DEFAULT_CONSTANTS.for_kernel(1) == (0.02, 0.99)
    assert DEFAULT_CONSTANTS.for_kernel(9) == (0.001, 0.56)
    assert DEFAULT_CONSTANTS.seconds_per_mac is None


def test_kernel_log_size() -> None:
    assert kernel_log_size(1) == 1.0
    assert kernel_log_size(9) == pytest.approx(math.log(9) + 1)
    with pytest.raises(ValueError):
        kernel_log_size(0)


def test_not_clamped_and_unit_at_s_equals_sk() -> None:
    assert alpha(1, 9, 0.001, 0.56) > 1.0
    # At S = S_K the correction is exactly 1, whatever β and γ.
    sk = kernel_log_size(25)
    assert alpha(sk, 25, 0.3, 0.7) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        alpha(0, 9, 0.001, 0.56)


def test_alpha_macs_and_flops() -> None:
    a = alpha(100, 9, 0.001, 0.56)
    assert alpha_macs(1000, 100, 9) == pytest.approx(1000 * a)
    assert alpha_flops(2000, 100, 9) == pytest.approx(2000 * a)


def test_alpha_array_matches_scalar() -> None:
    rng = np.random.default_rng(0)
    s = rng.integers(1, 10_000, 200)
    k = rng.choice([1, 4, 9, 25, 49], 200)
    c = AlphaConstants(0.05, 0.8, 0.003, 0.6)
    vec = alpha_array(s, k, c)
    for i in range(200):
        assert vec[i] == pytest.approx(alpha(s[i], k[i], *c.for_kernel(k[i])), rel=1e-12)


def test_constants_round_trip_json() -> None:
    c = AlphaConstants(
        0.03, 1.01, 0.002, 0.6, seconds_per_mac=2.5e-11, source="test", fit={"layers": 3}
    )
    d = json.loads(json.dumps(c.to_dict()))
    assert d["schema"] == "flopwise.alpha/1"
    back = AlphaConstants.from_dict(d)
    assert back == c
    assert back.fit == {"layers": 3}
    assert AlphaConstants.from_dict(None) == DEFAULT_CONSTANTS
    assert AlphaConstants.from_dict({}) == DEFAULT_CONSTANTS
    assert AlphaConstants.from_dict(DEFAULT_CONSTANTS.to_dict()).seconds_per_mac is None
    with pytest.raises(ValueError):
        AlphaConstants.from_dict({"schema": "other/9"})


# -- properties ----------------------------------------------------------------------------

betas = st.floats(1e-5, 0.99)
gammas = st.floats(0.05, 2.0)
kernels = st.sampled_from([1, 2, 4, 9, 16, 25, 49, 121])


@settings(max_examples=200, deadline=None)
@given(s=st.integers(1, 10**6), ds=st.integers(1, 10**5), k=kernels, b=betas, g=gammas)
def test_alpha_decreases_with_spatial_size(s: int, ds: int, k: int, b: float, g: float) -> None:
    assert alpha(s + ds, k, b, g) < alpha(s, k, b, g)


@settings(max_examples=200, deadline=None)
@given(s=st.integers(1, 10**6), k=st.integers(2, 400), dk=st.integers(1, 400), b=betas, g=gammas)
def test_alpha_grows_with_kernel_area(s: int, k: int, dk: int, b: float, g: float) -> None:
    assert alpha(s, k + dk, b, g) > alpha(s, k, b, g)


@settings(max_examples=200, deadline=None)
@given(s=st.integers(1, 10**7), k=kernels, b=betas, g=gammas)
def test_alpha_bounds(s: int, k: int, b: float, g: float) -> None:
    a = alpha(s, k, b, g)
    assert a > b**g * (1 - 1e-12)  # the large-S limit is β^γ, approached from above
    if s >= kernel_log_size(k):
        assert a <= 1.0 + 1e-12


@settings(max_examples=100, deadline=None)
@given(s=st.integers(1, 10**5), k=kernels, m1=st.integers(1, 10**9), m2=st.integers(1, 10**9))
def test_alpha_macs_monotone_in_macs(s: int, k: int, m1: int, m2: int) -> None:
    lo, hi = sorted((m1, m2))
    assert alpha_macs(lo, s, k) <= alpha_macs(hi, s, k)


# -- op records ------------------------------------------------------------------------------


def meta(*shape: int) -> TensorMeta:
    return TensorMeta(shape=tuple(shape), dtype=torch.float32)


def record(op: str, inputs, outputs, macs: int, flops: int, phase: str = "forward") -> OpRecord:
    return OpRecord(
        index=0,
        op=op,
        module_path="m",
        module_type="M",
        phase=phase,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        status="counted",
        category="contraction",
        flops=flops,
        macs=macs,
    )


def conv_record(n=2, cin=16, cout=32, h=10, w=10, k=3, phase="forward") -> OpRecord:
    macs = n * cout * h * w * cin * k * k
    return record(
        "aten.convolution",
        [meta(n, cin, h + k - 1, w + k - 1), meta(cout, cin, k, k), meta(cout)],
        [meta(n, cout, h, w)],
        macs,
        2 * macs + n * cout * h * w,
        phase,
    )


def test_conv_record() -> None:
    rec = conv_record()
    geom = layer_geometry(rec)
    assert (geom.kind, geom.spatial, geom.kernel_area) == ("conv", 100, 9)
    a = record_alpha(rec)
    assert a == pytest.approx(0.147886, abs=5e-7)
    assert record_alpha_macs(rec) == pytest.approx(a * rec.macs)


def test_conv_overload_name_and_1d_3d() -> None:
    rec = record("aten.convolution.default", [meta(1, 4, 12), meta(8, 4, 5)], [meta(1, 8, 8)], 1, 2)
    assert layer_geometry(rec) is not None
    assert (layer_geometry(rec).spatial, layer_geometry(rec).kernel_area) == (8, 5)
    rec3 = record(
        "aten.convolution", [meta(1, 4, 6, 6, 6), meta(8, 4, 3, 3, 3)], [meta(1, 8, 4, 4, 4)], 1, 2
    )
    assert (layer_geometry(rec3).spatial, layer_geometry(rec3).kernel_area) == (64, 27)


def test_dense_records() -> None:
    addmm = record(
        "aten.addmm", [meta(64), meta(8, 32), meta(32, 64)], [meta(8, 64)], 8 * 32 * 64, 1
    )
    mm = record("aten.mm", [meta(8, 32), meta(32, 64)], [meta(8, 64)], 8 * 32 * 64, 1)
    for rec in (addmm, mm):
        geom = layer_geometry(rec)
        assert (geom.kind, geom.spatial, geom.kernel_area) == ("dense", 8, 1)
        assert record_alpha(rec) == pytest.approx(alpha(8, 1, 0.02, 0.99))
    # batch 1: S = 1 = S_K, α = 1
    one = record("aten.mm", [meta(1, 32), meta(32, 64)], [meta(1, 64)], 32 * 64, 1)
    assert record_alpha(one) == pytest.approx(1.0)


def test_other_ops_and_backward_get_none() -> None:
    relu = record("aten.relu", [meta(2, 3)], [meta(2, 3)], 0, 6)
    bmm = record("aten.bmm", [meta(2, 3, 4), meta(2, 4, 5)], [meta(2, 3, 5)], 120, 240)
    assert record_alpha(relu) is None
    assert record_alpha_macs(bmm) is None
    back = conv_record(phase="backward")
    assert record_alpha(back) is None
    assert record_alpha(back, include_backward=True) is not None
    custom = AlphaConstants(0.5, 1.0, 0.5, 1.0)
    assert record_alpha(conv_record(), custom) == pytest.approx(alpha(100, 9, 0.5, 1.0))


def test_alpha_totals() -> None:
    conv = conv_record()
    mm = record("aten.mm", [meta(4, 32), meta(32, 64)], [meta(4, 64)], 4 * 32 * 64, 2 * 4 * 32 * 64)
    bmm = record("aten.bmm", [meta(2, 3, 4), meta(2, 4, 5)], [meta(2, 3, 5)], 120, 240)
    relu = record("aten.relu", [meta(2, 3)], [meta(2, 3)], 0, 6)
    out = alpha_totals([conv, mm, bmm, relu])
    assert out["layers"] == 2
    expected = record_alpha_macs(conv) + record_alpha_macs(mm)
    assert out["alpha_macs"] == pytest.approx(expected)
    flops = record_alpha(conv) * conv.flops + record_alpha(mm) * mm.flops
    assert out["alpha_flops"] == pytest.approx(flops)
    assert out["layer_macs"] == conv.macs + mm.macs
    assert out["other_macs"] == 120 and out["other_flops"] == 246
    assert out["effective_alpha"] == pytest.approx(expected / (conv.macs + mm.macs))
    assert "predicted_seconds" not in out
    json.dumps(out)

    class Prof:
        ops = [conv]

    timed = DEFAULT_CONSTANTS.with_time_scale(1e-11)
    out2 = alpha_totals(Prof(), timed)
    assert out2["predicted_seconds"] == pytest.approx(1e-11 * record_alpha_macs(conv))
    assert alpha_totals([])["effective_alpha"] is None


def test_alpha_totals_on_a_captured_profile() -> None:
    import flopwise

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 16 * 16, 10),
    )
    prof = flopwise.profile(model, torch.randn(2, 3, 16, 16))
    conv_macs = 2 * 8 * 16 * 16 * 3 * 9
    fc_macs = 2 * 8 * 16 * 16 * 10
    out = alpha_totals(prof)
    assert out["layers"] == 2
    assert out["layer_macs"] == conv_macs + fc_macs == prof.totals.macs
    expected = alpha(256, 9, 0.001, 0.56) * conv_macs + alpha(2, 1, 0.02, 0.99) * fc_macs
    assert out["alpha_macs"] == pytest.approx(expected)
    # Shapes only: a meta run gives the same α totals.
    meta_prof = flopwise.profile(model, torch.randn(2, 3, 16, 16), tensors="meta")
    assert alpha_totals(meta_prof)["alpha_macs"] == pytest.approx(expected)
