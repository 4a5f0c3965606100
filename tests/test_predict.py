"""The calibrated latency cost model (flopwise.analysis.predict): synthetic data only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import flopwise
from flopwise.analysis import predict as P
from flopwise.analysis.roofline import waterline
from flopwise.measure.hardware import HardwareProfile

HW = HardwareProfile(
    name="synthetic", kind="cpu", peak_flops={"float32": 100e9}, memory_bandwidth=20e9
)

TRUE = P.CostModel(
    compute_eff={
        **P.default_model("cpu").compute_eff,
        "conv": 0.42,
        "matmul": 0.7,
        "conv_grouped": 0.03,
    },
    bandwidth_eff=0.35,
    overhead_s=8e-6,
    free_overhead_s=2e-6,
    size_exponent={"conv": 0.0, "conv_grouped": 0.0, "matmul": 0.0},
)


def _synthetic_ops(rng: np.random.Generator, classes: list[str], n_ops: int) -> P.OpFeatures:
    cls = rng.choice([P.CLASSES.index(c) for c in classes], size=n_ops)
    compute = 10 ** rng.uniform(-6, -3, size=n_ops)
    # Intensities on both sides of the ridge, so compute- and memory-bound ops both occur.
    memory = compute * 10 ** rng.uniform(-1.5, 1.5, size=n_ops)
    return P.OpFeatures(
        cls=cls.astype(np.int64),
        compute_s=compute,
        memory_s=memory,
        log_size=np.zeros(n_ops),
        free_ops=int(rng.integers(0, 20)),
        flops=int(compute.sum() * 100e9),
        bytes=int(memory.sum() * 20e9),
    )


def _samples(model: P.CostModel, n: int, n_ops: int, seed: int = 0, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        feats = _synthetic_ops(rng, ["conv", "matmul", "conv_grouped", "elementwise"], n_ops)
        t = (
            model.predict_s(feats) * math.exp(rng.normal(0, noise))
            if noise
            else model.predict_s(feats)
        )
        out.append(P.Sample(feats, t, group=f"g{i % 6}", name=f"s{i}"))
    return out


def test_calibration_recovers_known_efficiencies_from_per_op_times():
    samples = _samples(TRUE, n=300, n_ops=1, seed=1)
    cal = P.calibrate(samples, regularization=1e-9, size_correction=False)
    m = cal.model
    for c in ("conv", "matmul", "conv_grouped"):
        assert m.compute_eff[c] == pytest.approx(TRUE.compute_eff[c], rel=0.02), c
    assert m.bandwidth_eff == pytest.approx(TRUE.bandwidth_eff, rel=0.02)
    assert m.overhead_s == pytest.approx(TRUE.overhead_s, rel=0.05)
    assert cal.in_sample["mape"] < 1e-3


def test_calibration_recovers_efficiencies_from_per_model_sums():
    samples = _samples(TRUE, n=60, n_ops=40, seed=2)
    cal = P.calibrate(samples, regularization=1e-9, size_correction=False)
    assert cal.model.compute_eff["conv"] == pytest.approx(0.42, rel=0.05)
    assert cal.model.compute_eff["matmul"] == pytest.approx(0.7, rel=0.05)
    assert cal.model.bandwidth_eff == pytest.approx(0.35, rel=0.05)
    assert cal.in_sample["mape"] < 0.01


def test_calibration_recovers_size_exponent():
    rng = np.random.default_rng(3)
    true = P.CostModel(
        **{**TRUE.__dict__, "size_exponent": {"conv": 0.15, "conv_grouped": 0.0, "matmul": 0.0}}
    )
    samples = []
    for i in range(200):
        feats = _synthetic_ops(rng, ["conv"], 1)
        feats.memory_s = feats.compute_s * 1e-3  # compute-bound, so the size term shows
        feats.log_size = np.array([rng.uniform(-4, 3)])
        samples.append(P.Sample(feats, true.predict_s(feats), group=f"g{i % 5}"))
    cal = P.calibrate(samples, regularization=1e-9)
    assert cal.model.size_exponent["conv"] == pytest.approx(0.15, abs=0.01)
    assert cal.model.compute_eff["conv"] == pytest.approx(0.42, rel=0.05)


def test_unseen_classes_keep_the_prior():
    samples = _samples(TRUE, n=40, n_ops=10, seed=4)
    cal = P.calibrate(samples)
    prior = P.default_model("cpu")
    for c in ("fft", "softmax", "pool"):
        assert cal.model.compute_eff[c] == pytest.approx(prior.compute_eff[c], rel=1e-12)


def test_leave_one_group_out_splits():
    groups = ["a", "a", "b", "c", "b", "a"]
    folds = P.leave_one_group_out(groups)
    assert [g for g, _, _ in folds] == ["a", "b", "c"]
    for g, train, test in folds:
        assert sorted(np.concatenate([train, test]).tolist()) == list(range(6))
        assert all(groups[i] == g for i in test)
        assert all(groups[i] != g for i in train)
    assert P.leave_one_group_out(["a", "a"]) == []


def test_cross_validation_uses_held_out_folds_and_beats_flops_baseline():
    samples = _samples(TRUE, n=48, n_ops=30, seed=5, noise=0.03)
    cv = P.cross_validate(samples, size_correction=False)
    base = P.cross_validate_flops_baseline(samples)
    s, b = cv.summary(), base.summary()
    assert s["folds"] == 6 and s["n"] == 48
    assert s["mape"] < 0.08
    assert s["mape"] < b["mape"]
    assert s["spearman"] > b["spearman"]
    with pytest.raises(ValueError):
        P.cross_validate([P.Sample(samples[0].features, 1.0, group="one")])


def test_flops_scale_is_geometric_mean():
    assert P.fit_flops_scale([1e9, 2e9], [1e-2, 2e-2]) == pytest.approx(1e-11)
    with pytest.raises(ValueError):
        P.fit_flops_scale([0], [1.0])


def test_ideal_model_gives_the_roofline_floor_on_a_real_profile():
    model = nn.Sequential(
        nn.Conv2d(8, 16, 3, padding=1),
        nn.Conv2d(16, 16, 3, padding=1, groups=16),
        nn.Conv2d(16, 16, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, 10),
    )
    prof = flopwise.profile(model, torch.randn(2, 8, 8, 8))
    feats = P.features(prof.ops, HW)
    ideal = P.CostModel(
        compute_eff={c: 1.0 for c in P.CLASSES},
        bandwidth_eff=1.0,
        overhead_s=1e-30,
        free_overhead_s=1e-30,
    )
    assert ideal.predict_s(feats) == pytest.approx(waterline(prof.ops, HW), rel=1e-9)
    assert feats.floor_s == pytest.approx(waterline(prof.ops, HW), rel=1e-9)
    kinds = [P.op_class(r) for r in prof.ops]
    assert kinds.count("conv") == 1 and kinds.count("conv_grouped") == 1
    assert kinds.count("conv_1x1") == 1 and kinds.count("matmul") == 1
    assert feats.free_ops == kinds.count(None) and feats.free_ops > 0  # the flatten view
    pred = P.predict(feats, P.default_model("cpu"))
    assert pred.seconds == pytest.approx(sum(v["seconds"] for v in pred.by_class.values()))
    assert pred.seconds > pred.floor_s


def test_cost_model_round_trips_through_dict():
    d = TRUE.to_dict()
    back = P.CostModel.from_dict(d)
    assert back.compute_eff == TRUE.compute_eff
    assert back.bandwidth_eff == TRUE.bandwidth_eff
    with pytest.raises(ValueError):
        P.CostModel.from_dict({"schema": "other/1"})


def test_prediction_is_monotone_in_work():
    rng = np.random.default_rng(7)
    feats = _synthetic_ops(rng, ["conv", "matmul"], 20)
    bigger = P.OpFeatures(
        cls=feats.cls,
        compute_s=feats.compute_s * 2,
        memory_s=feats.memory_s * 2,
        log_size=feats.log_size,
        free_ops=feats.free_ops,
        flops=feats.flops * 2,
        bytes=feats.bytes * 2,
    )
    assert TRUE.predict_s(bigger) > TRUE.predict_s(feats)


def test_fused_multi_head_attention_splits_into_projections_and_attention():
    mha = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    x = torch.randn(2, 16, 32)
    with torch.inference_mode():
        prof = flopwise.profile(mha, x, x, x, need_weights=False)
    fused = [r for r in prof.ops if "multi_head_attention" in r.op]
    assert len(fused) == 1
    feats = P.features(prof.ops, HW)
    kinds = [P.CLASSES[i] for i in feats.cls]
    assert kinds.count("matmul") == 1 and kinds.count("attention") == 1
    # Projections: q, k, v and output, 2 · rows · 32 · 32 flops each, rows = 2 · 16.
    share = 4 * 2 * 32 * 32 * 32 / fused[0].flops
    m, a = kinds.index("matmul"), kinds.index("attention")
    assert feats.compute_s[m] / (feats.compute_s[m] + feats.compute_s[a]) == pytest.approx(share)
    assert feats.log_size[m] == pytest.approx(math.log(32 / P.S_REF))
    assert feats.floor_s == pytest.approx(waterline(prof.ops, HW), rel=0.01)


def test_overlap_exponent_is_recovered_when_fitted():
    true = P.CostModel(**{**TRUE.__dict__, "overlap": 1.5})
    samples = _samples(true, n=200, n_ops=1, seed=8)
    cal = P.calibrate(samples, regularization=1e-9, size_correction=False, fit_overlap=True)
    assert cal.model.overlap == pytest.approx(1.5, rel=0.03)
    assert cal.model.compute_eff["matmul"] == pytest.approx(0.7, rel=0.05)
    # Off by default: the roofline's max.
    assert math.isinf(P.calibrate(samples[:20]).model.overlap)
    back = P.CostModel.from_dict(cal.model.to_dict())
    assert back.overlap == pytest.approx(cal.model.overlap)
    c, m = np.array([1.0, 2.0]), np.array([3.0, 1.0])
    assert P._combine(c, m, 1.0) == pytest.approx(c + m)
    assert P._combine(c, m, 1e9) == pytest.approx(np.maximum(c, m))


def test_depth_exponent_is_recovered_when_fitted():
    rng = np.random.default_rng(9)
    true = P.CostModel(**{**TRUE.__dict__, "depth_exponent": {"matmul": 0.2}})
    samples = []
    for i in range(200):
        feats = _synthetic_ops(rng, ["matmul"], 1)
        feats.memory_s = feats.compute_s * 1e-3
        feats.log_depth = np.array([rng.uniform(-3, 3)])
        samples.append(P.Sample(feats, true.predict_s(feats), group=f"g{i % 5}"))
    cal = P.calibrate(samples, regularization=1e-9, depth_correction=True)
    assert cal.model.depth_exponent["matmul"] == pytest.approx(0.2, abs=0.01)
    assert P.calibrate(samples).model.depth_exponent["matmul"] == 0.0  # off by default
