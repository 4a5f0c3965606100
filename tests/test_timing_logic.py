"""The timing logic, on a fake clock and a recorded profiler trace: nothing here depends on
how busy the machine is.

Real wall-clock figures are never asserted in tests (a shared machine makes any bound on
them flaky); they are checked by benchmarks/timing_acceptance.py, which writes
benchmarks/results/timing_acceptance.md. Here the clock is virtual: a callable "takes" the
time it adds to the clock, so every median, ratio, budget stop, coverage and overhead has
an exact expected value. The profiler trace in tests/data/profiler_trace.json was recorded
once by scripts/record_profiler_trace.py and is replayed through the attribution code.
"""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import time as real_time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from flopwise.measure import hardware as hw
from flopwise.measure import per_layer, timing
from flopwise.measure.hardware import bench as hw_bench
from flopwise.measure.per_layer import run as per_layer_run
from flopwise.measure.per_layer import trace as per_layer_trace

ROOT = Path(__file__).resolve().parents[1]
TRACE = json.loads((ROOT / "tests" / "data" / "profiler_trace.json").read_text())
MS = 1_000_000  # nanoseconds


class FakeClock:
    """Stands in for the ``time`` module: time moves only when a callable advances it."""

    def __init__(self) -> None:
        self.ns = 0

    def advance(self, ns: int) -> None:
        self.ns += int(ns)

    def perf_counter_ns(self) -> int:
        return self.ns

    def perf_counter(self) -> float:
        return self.ns / 1e9

    def __getattr__(self, name: str):  # anything else (sleep, time, ...) is the real one
        return getattr(real_time, name)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    for module in (timing, per_layer_run, hw_bench):
        monkeypatch.setattr(module, "time", fake)
    return fake


# --------------------------------------------------------------------------------------------
# measure_latency and measure_interleaved


def test_latency_statistics_come_from_the_samples_taken(clock):
    durations = iter([4, 4] + [5, 3, 9, 4, 7])  # two warm-ups, then the timed samples (ms)

    def fn():
        clock.advance(next(durations) * MS)

    lat = timing.measure_latency(fn, warmup=2, repeats=5, progress=False, min_sample_s=0)
    assert lat.repeats == 5 and lat.number == 1
    assert lat.samples == pytest.approx([0.005, 0.003, 0.009, 0.004, 0.007], rel=1e-12)
    assert (lat.min_s, lat.median_s, lat.max_s) == pytest.approx((0.003, 0.005, 0.009))
    assert lat.mean_s == pytest.approx(0.0056)
    assert lat.cv == pytest.approx(statistics.stdev([5, 3, 9, 4, 7]) / 5.6)
    assert not lat.trustworthy and "CV" in lat.reason  # 40% spread is flagged, not hidden


def test_fast_callables_are_batched_to_the_minimum_sample(clock):
    calls = []

    def fn():  # 0.25 ms per call: four calls make the 1 ms minimum sample
        calls.append(1)
        clock.advance(MS // 4)

    lat = timing.measure_latency(fn, warmup=3, repeats=6, progress=False, min_sample_s=1e-3)
    assert lat.number == 4
    assert len(calls) == 3 + 6 * 4
    assert lat.samples == pytest.approx([0.00025] * 6, rel=1e-12)  # per call, not per batch
    assert lat.trustworthy


def test_budget_stops_on_the_clock_with_minimum_samples(clock):
    def fn():
        clock.advance(30 * MS)

    lat = timing.measure_latency(
        fn, warmup=1, budget_s=0.1, progress=False, min_sample_s=0, min_repeats=2
    )
    assert lat.repeats == 4  # 3 samples = 90 ms < 100 ms of budget; the 4th crosses it
    few = timing.measure_latency(
        fn, warmup=0, budget_s=0.01, progress=False, min_sample_s=0, min_repeats=5
    )
    assert few.repeats == 5  # the budget ran out after one sample; the minimum still holds


def test_interleaved_rounds_rotate_and_a_burst_hits_every_callable(clock):
    order: list[str] = []
    burst_round = 3

    def make(name: str, ms: int):
        def fn():
            order.append(name)
            timed = len(order) > 4  # after two warm-ups each
            rnd = (len(order) - 5) // 2
            clock.advance((ms + (20 if timed and rnd == burst_round else 0)) * MS)

        return fn

    res = timing.measure_interleaved(
        {"big": make("big", 10), "small": make("small", 1)},
        warmup=2,
        repeats=9,
        progress=False,
        min_sample_s=0,
    )
    timed = order[4:]
    rounds = [timed[i : i + 2] for i in range(0, len(timed), 2)]
    assert rounds == [["big", "small"], ["small", "big"]] * 4 + [["big", "small"]]
    big, small = res["big"], res["small"]
    assert big.repeats == small.repeats == 9
    assert big.samples[burst_round] == pytest.approx(0.030)  # the burst is in both...
    assert small.samples[burst_round] == pytest.approx(0.021)
    assert big.median_s == pytest.approx(0.010) and small.median_s == pytest.approx(0.001)
    assert big.median_s / small.median_s == pytest.approx(10.0)  # ...and not in the ratio


def test_interleaved_budget_counts_rounds_on_the_clock(clock):
    fns = {name: (lambda ms=ms: clock.advance(ms * MS)) for name, ms in (("a", 7), ("b", 4))}
    res = timing.measure_interleaved(fns, warmup=1, budget_s=0.1, progress=False, min_sample_s=0)
    # 11 ms per round: 9 rounds = 99 ms, the 10th reaches the budget
    assert res["a"].repeats == res["b"].repeats == 10


# --------------------------------------------------------------------------------------------
# the recorded profiler trace


def _events(case: str) -> list[SimpleNamespace]:
    rows = TRACE["cases"][case]["events"]
    events = [
        SimpleNamespace(
            name=r["name"],
            self_cpu_time_total=r["self_cpu_time_total"],
            cpu_time_total=r["cpu_time_total"],
            self_device_time_total=r["self_device_time_total"],
            device_time_total=r["device_time_total"],
            sequence_nr=r["sequence_nr"],
            cpu_parent=None,
        )
        for r in rows
    ]
    for ev, r in zip(events, rows, strict=True):
        if r["parent"] is not None:
            ev.cpu_parent = events[r["parent"]]
    return events


def _recorder():
    spec = importlib.util.spec_from_file_location(
        "record_profiler_trace", ROOT / "scripts" / "record_profiler_trace.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trace_models():
    return _recorder().cases()


def _range_path(ev) -> str | None:
    return (
        ev.name[len(per_layer.MODULE_RANGE_PREFIX) :]
        if ev.name.startswith(per_layer.MODULE_RANGE_PREFIX)
        else None
    )


def test_forward_trace_attribution(trace_models):
    events = _events("forward_cnn")
    model = trace_models["forward_cnn"][0]
    assert {p: type(m).__name__ for p, m in model.named_modules()} == TRACE["cases"]["forward_cnn"][
        "modules"
    ]
    it = per_layer_trace._attribute(events, "cpu")
    layers = per_layer_trace._combine(model, [it], "cpu")
    # A module's self time is what the profiler's inclusive totals give for the ops
    # called directly inside its range (inclusive totals, not the code's self sums).
    expected: dict[str, float] = {}
    for ev in events:
        parent = ev.cpu_parent
        if ev.name.startswith("aten::") and parent is not None and _range_path(parent) is not None:
            expected[_range_path(parent)] = expected.get(_range_path(parent), 0.0) + (
                ev.cpu_time_total / 1e6
            )
    assert set(layers.modules) == set(TRACE["cases"]["forward_cnn"]["modules"])
    for path, m in layers.modules.items():
        assert m.self_s == pytest.approx(expected.get(path, 0.0), rel=1e-9, abs=1e-12), path
        assert m.calls == 1
    # Inclusive = own ops + every descendant module's ops.
    for path, m in layers.modules.items():
        inside = [p for p in layers.modules if p == path or p.startswith(path + ".") or path == ""]
        assert m.total_s == pytest.approx(sum(expected.get(p, 0.0) for p in inside), rel=1e-9)
    # Every microsecond of op time is attributed once; nothing ran outside the root range.
    all_ops = sum(ev.self_cpu_time_total for ev in events if ev.name.startswith("aten::"))
    assert layers.outside_s == 0
    assert layers.attributed_s == pytest.approx(all_ops / 1e6, rel=1e-9)
    by_module = {(o.module_path, o.op) for o in layers.ops}
    assert ("features.0", "aten.conv2d") in by_module and ("head", "aten.addmm") in by_module
    addmm = next(o for o in layers.ops if o.op == "aten.addmm")
    assert addmm.parents == ("aten.linear",)


def test_training_trace_attributes_backward_ops_by_sequence_number():
    events = _events("training_mlp")
    it = per_layer_trace._attribute(events, "cpu")
    aten_self = sum(ev.self_cpu_time_total for ev in events if ev.name.startswith("aten::"))
    # conservation: each op's self time lands in exactly one place
    assert it["attributed"] + it["outside"] == pytest.approx(aten_self / 1e6, rel=1e-9)
    backward = {(k[1], k[0]) for k in it["ops"] if k[3] == "backward"}
    assert ("2", "aten.mm") in backward and ("0", "aten.mm") in backward
    assert ("1", "aten.threshold_backward") in backward  # ReLU's gradient goes to the ReLU
    assert it["bwd_self"]["0"] > 0 and it["bwd_self"]["2"] > 0
    assert it["bwd_total"][""] == pytest.approx(sum(it["bwd_self"].values()), rel=1e-9)


def _fake_measure(monkeypatch, clock, case: str, plain_s: float, wall_s: float):
    """measure_model with a fake timer (every plain call takes ``plain_s``) and the
    recorded trace as every profiled call (taking ``wall_s``)."""
    events = _events(case)

    def make_timer(device="cpu"):
        def timer(fn, number=1):
            clock.advance(round(plain_s * 1e9) * number)
            return plain_s

        return timer

    def profiled_call(call, model, device):
        clock.advance(round(wall_s * 1e9))
        return events, wall_s

    monkeypatch.setattr(per_layer_run, "make_timer", make_timer)
    monkeypatch.setattr(per_layer_run, "_profiled_call", profiled_call)


@pytest.mark.parametrize("coverage", [1.0, 1.18, 0.7])
def test_coverage_and_overhead_are_paired_ratios(monkeypatch, clock, trace_models, coverage):
    model, args, _ = trace_models["forward_cnn"]
    attributed = per_layer_trace._attribute(_events("forward_cnn"), "cpu")["attributed"]
    plain = attributed / coverage  # the uninstrumented time that gives this coverage
    wall = 1.3 * plain
    _fake_measure(monkeypatch, clock, "forward_cnn", plain, wall)
    run = per_layer_run.measure_model(model, args, repeats=8, profile_iterations=3, progress=False)
    assert run.latency.repeats == 8 and run.latency.median_s == pytest.approx(plain)
    assert len(run.layers.per_iteration) == 3
    assert run.coverage == pytest.approx(coverage, rel=1e-9)
    assert run.coverage_of_medians == pytest.approx(coverage, rel=1e-9)
    assert run.overhead == pytest.approx(0.3, rel=1e-9)
    warned = [w for w in run.warnings if "cover" in w]
    if abs(coverage - 1) > per_layer.COVERAGE_TOLERANCE:
        assert warned and f"{coverage:.0%}" in warned[0]  # said, not asserted away
    else:
        assert not warned
    doc = json.loads(json.dumps(run.to_dict()))
    assert doc["coverage"] == pytest.approx(coverage) and doc["profiler_overhead"] == pytest.approx(
        0.3
    )


def test_coverage_pairs_each_profiled_call_with_its_neighbours(monkeypatch, clock, trace_models):
    """Load that slows the plain samples right around a profiled call is paired with it:
    coverage compares each profiled call with its two neighbours, not with the run's median."""
    model, args, _ = trace_models["forward_cnn"]
    events = _events("forward_cnn")
    a = per_layer_trace._attribute(events, "cpu")["attributed"]
    # 3 warm-ups, then plain samples #0..#7; with 8 repeats and 2 profiled calls, those
    # follow samples #1 and #5 (at 1/4 and 3/4 of the run), so #2 and #6 are neighbours.
    plain = [a] * 3 + [a, a, 2 * a, a, a, a, 1.5 * a, a] + [a] * 10
    it = iter(plain)

    def make_timer(device="cpu"):
        def timer(fn, number=1):
            t = next(it)
            clock.advance(round(t * 1e9))
            return t

        return timer

    monkeypatch.setattr(per_layer_run, "make_timer", make_timer)
    monkeypatch.setattr(
        per_layer_run, "_profiled_call", lambda call, model, device: (events, 2 * a)
    )
    run = per_layer_run.measure_model(
        model, args, warmup=3, repeats=8, profile_iterations=2, progress=False
    )
    assert run.latency.samples == pytest.approx(plain[3:11])
    refs = [d["reference_s"] for d in run.layers.per_iteration]
    assert refs == pytest.approx([1.5 * a, 1.25 * a])
    assert run.coverage == pytest.approx((1 / 1.5 + 1 / 1.25) / 2, rel=1e-9)
    assert run.coverage_of_medians == pytest.approx(1.0, rel=1e-9)  # median is unaffected
    assert run.overhead == pytest.approx((2 / 1.5 + 2 / 1.25) / 2 - 1, rel=1e-9)


# --------------------------------------------------------------------------------------------
# hardware ceilings from micro-benchmarks


def test_gemm_rate_is_two_n_cubed_over_the_best_sample(monkeypatch, clock):
    peak = 100e9

    def rate(n: int) -> float:  # the fake machine: bigger matrices run closer to the peak
        return peak * n / (n + 256)

    calls = []

    def fake_mm(a, b):
        n = a.shape[0]
        calls.append(n)
        slow = 3 if len(calls) % 4 == 0 else 1  # a neighbour slows every fourth call
        clock.advance(round(slow * 2 * n**3 / rate(n) * 1e9))

    monkeypatch.setattr(torch, "mm", fake_mm)
    res = hw.gemm_rate(torch.float32, budget_s=2.0, max_n=4096, target_call_s=0.03)
    # sizes climb 256, 512, ... until one call takes 30 ms: 2·1024³ at 80 GFLOP/s is 27 ms,
    # 2·2048³ at 88.9 GFLOP/s is 193 ms
    assert sorted(set(calls)) == [256, 512, 1024, 2048] and res["n"] == 2048
    assert res["flops_per_call"] == 2 * 2048**3
    assert res["rates_by_n"]["1024"] == pytest.approx(rate(1024), rel=1e-6)
    assert res["best_flops"] == pytest.approx(rate(2048), rel=1e-6)  # the best sample
    assert res["worst_flops"] == pytest.approx(rate(2048) / 3, rel=1e-6)
    assert res["median_flops"] == pytest.approx(
        2 * 2048**3 / statistics.median(res["samples_s"]), rel=1e-12
    )
    assert clock.ns / 1e9 <= 2.0 + max(res["samples_s"])  # the budget holds


def test_copy_bandwidth_counts_read_and_write(monkeypatch, clock):
    bandwidth = 20e9  # bytes/s, read + write

    def fake_copy(self, src, *a, **k):
        clock.advance(round(2 * src.numel() * 4 / bandwidth * 1e9))
        return self

    monkeypatch.setattr(torch.Tensor, "copy_", fake_copy)
    res = hw.copy_bandwidth(nbytes=4 * 2**20, budget_s=0.05, min_samples=5)
    assert res["nbytes"] == 4 * 2**20 and res["bytes_moved_per_call"] == 8 * 2**20
    assert res["best_bytes_per_s"] == pytest.approx(bandwidth, rel=1e-6)
    assert res["calls_per_sample"] == math.ceil(1e-3 / (8 * 2**20 / bandwidth))
    assert len(res["samples_s"]) >= 5
