"""Timing primitives: summary statistics, trust flag, repeat/budget plans, interleaving, CUDA
path. Statistics are checked on synthetic samples; real timings only for consistency."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from flopwise.errors import FlopwiseError
from flopwise.measure.timing import (
    DeviceUnavailable,
    Latency,
    make_timer,
    measure_interleaved,
    measure_latency,
)
from flopwise.units import seconds


def test_latency_statistics_exact():
    lat = Latency(samples=[1.0, 2.0, 3.0, 4.0, 5.0], items=10)
    assert lat.median_s == 3.0
    assert lat.min_s == 1.0 and lat.max_s == 5.0
    assert lat.q1_s == 2.0 and lat.q3_s == 4.0 and lat.iqr_s == 2.0
    assert lat.cv == pytest.approx(statistics.stdev([1, 2, 3, 4, 5]) / 3.0)
    assert lat.throughput == pytest.approx(10 / 3.0)
    assert lat.repeats == 5


def test_trust_flag_follows_spread_and_sample_count():
    steady = Latency(samples=[1.00, 1.01, 0.99, 1.00, 1.02, 0.98])
    assert steady.trustworthy and steady.reason is None
    noisy = Latency(samples=[2.0e-3, 13.7e-3, 2.1e-3, 2.0e-3, 9.0e-3, 2.2e-3])
    assert not noisy.trustworthy
    assert "CV" in noisy.reason
    few = Latency(samples=[1.0, 1.0])
    assert not few.trustworthy and "only 2 samples" in few.reason
    # the threshold is configurable
    assert Latency(samples=noisy.samples, threshold=10.0).trustworthy


def test_latency_to_dict_is_json_ready():
    lat = Latency(samples=[0.01, 0.012, 0.011, 0.0105, 0.0111], items=4, dtype="float32")
    d = json.loads(json.dumps(lat.to_dict()))
    assert d["median_s"] == pytest.approx(0.011)
    assert d["threads"] == torch.get_num_threads()
    assert d["dtype"] == "float32" and d["device"] == "cpu"
    assert d["throughput_items_per_s"] == pytest.approx(4 / 0.011)
    assert len(d["samples_s"]) == 5
    assert set(d) >= {"iqr_s", "cv", "trustworthy", "reason", "min_s", "max_s"}


def test_timing_summaries_format_seconds():
    # the style timing summaries use (µs at the finest, "-" when missing)
    assert seconds(0.0123, finest="µs", missing="-") == "12.3 ms"
    assert seconds(2.5e-6, finest="µs", missing="-") == "2.5 µs"
    assert seconds(1.5, finest="µs", missing="-") == "1.5 s"
    assert seconds(None, finest="µs", missing="-") == "-"


@pytest.mark.measure
def test_measure_latency_repeats_and_records_context():
    x = torch.randn(64, 64)
    lat = measure_latency(
        lambda: x @ x, warmup=2, repeats=7, progress=False, items=64, dtype=torch.float32
    )
    assert lat.repeats == 7
    assert lat.number >= 1
    assert lat.dtype == "float32" and lat.device == "cpu"
    assert lat.threads == torch.get_num_threads()
    assert 0 < lat.min_s <= lat.median_s <= lat.max_s


@pytest.mark.measure
def test_fast_callables_are_batched_per_sample():
    lat = measure_latency(lambda: None, warmup=3, repeats=5, progress=False)
    assert lat.number > 1  # an empty call is far below the 1 ms minimum sample


@pytest.mark.measure
def test_budget_stops_and_keeps_minimum_samples():
    calls = []
    lat = measure_latency(
        lambda: calls.append(1), warmup=1, budget_s=0.05, progress=False, min_repeats=5
    )
    assert lat.repeats >= 5


@pytest.mark.measure
def test_progress_bar_does_not_break_timing():
    lat = measure_latency(lambda: sum(range(100)), warmup=1, repeats=3, progress=True)
    assert lat.repeats == 3


@pytest.fixture
def one_thread():
    """On two shared cores a 2-thread kernel waits for its slowest thread, which a
    neighbour can hold off for a whole time slice (a 64x64 matmul then takes 50 ms);
    consistency checks run single-threaded and restore the thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.measure
def test_interleaved_runs_every_callable_each_round(one_thread):
    a = torch.randn(512, 512)
    small = torch.randn(64, 64)
    res = measure_interleaved(
        {"big": lambda: a @ a, "small": lambda: small @ small},
        warmup=2,
        repeats=9,
        progress=False,
    )
    assert set(res) == {"big", "small"}
    assert res["big"].repeats == res["small"].repeats == 9
    assert all(len(r.samples) == 9 and min(r.samples) > 0 for r in res.values())
    # (which one is faster is a wall-clock fact: the ratio logic is tested on a fake clock
    # in test_timing_logic.py)


def test_cuda_timing_fails_cleanly_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceUnavailable) as info:
        measure_latency(lambda: None, repeats=1, device="cuda", progress=False)
    assert isinstance(info.value, FlopwiseError)
    assert "\n" not in str(info.value) and "cuda" in str(info.value)
    with pytest.raises(DeviceUnavailable):
        make_timer("meta")


def test_bad_plans_are_rejected():
    with pytest.raises(ValueError):
        measure_latency(lambda: None, repeats=0, progress=False)
    with pytest.raises(ValueError):
        measure_latency(lambda: None, budget_s=-1, progress=False)


@pytest.mark.measure
def test_pipeline_stages_are_timed_separately_with_shares():
    from flopwise.measure.timing import measure_pipeline

    img = torch.randint(0, 255, (3, 256, 256), dtype=torch.uint8)
    model = torch.nn.Conv2d(3, 8, 3)
    seen = []

    def preprocess(_):
        x = img.float().div(255)
        return torch.nn.functional.interpolate(x[None], size=(128, 128), mode="bilinear")

    def infer(x):
        seen.append(tuple(x.shape))
        with torch.no_grad():
            return model(x)

    res = measure_pipeline(
        [("preprocess", preprocess), ("model", infer)], repeats=6, progress=False
    )
    assert list(res.stages) == ["preprocess", "model"]
    assert all(v.repeats == 6 for v in res.stages.values()) and res.total.repeats == 6
    assert seen[-1] == (1, 3, 128, 128)  # each stage fed the previous one's output
    assert sum(res.shares.values()) == pytest.approx(1.0)
    d = json.loads(json.dumps(res.to_dict()))
    assert [s["name"] for s in d["stages"]] == ["preprocess", "model"]
    # a run's total is the sum of its stages, sample by sample
    assert res.total.samples[0] == pytest.approx(sum(v.samples[0] for v in res.stages.values()))
