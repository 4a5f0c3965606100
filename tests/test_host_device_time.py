"""Per-module device (kernel) time and host (CPU op) time, their coverage, and the verdict.

tests/data/cuda_profiler_trace.json is a *synthetic* CUDA trace (written by
scripts/synth_cuda_trace.py in the structure torch.profiler gives on CUDA: module ranges,
ATen ops with inclusive CPU and device totals, cudaLaunchKernel children of 5 µs, kernel
events with no CPU parent). The expected sums below are worked out by hand from the per-op
microseconds in that script's SPEC (host = an op's own µs + its children's + 5 µs per launch):

device_bound_cnn (reference 1040 µs):
    conv    conv2d 2 + convolution 2 + _convolution 3 + cudnn_convolution 5 + launch 5 = 17 µs;
            kernel 800 µs
    relu    relu 3 + clamp_min 4 + launch 5 = 12 µs; kernel 150 µs
    (root)  flatten 3 + view 2 = 5 µs; no kernel
    fc      linear 2 + t 3 + addmm 5 + launch 5 = 15 µs; kernel 50 µs
    host 49 µs, device 1000 µs -> coverage 4.7% / 96.2%, GPU idle 3.8%: device-bound
    root range wall = 49 µs of ops + range glue (root 20, conv 4, relu 4, fc 4) = 81 µs

host_bound_tiny_lm (reference 220 µs); a linear is 2 + t 3 + mm 6 + launch 5 = 16 µs:
    embed          embedding 6 + index_select 8 + launch 5 = 19 µs; kernel 3
    layers.0.attn  16 + 16 + (sdpa 10 + flash 12 + launch 5 = 27) = 59 µs; kernels 5+4+8 = 17
    layers.0.mlp   16 + (silu 7 + launch 5 = 12) + 16 = 44 µs; kernels 6+2+6 = 14
    layers.0       own add 7 + launch 5 = 12 µs (kernel 2); with children 115 µs, kernels 33
    norm           (6+5) + (8+5) + (6+5) + (6+5) = 46 µs; kernels 2+3+1+2 = 8
    lm_head        16 µs; kernel 20
    host 196 µs, device 64 µs -> coverage 89.1% / 29.1%, GPU idle 70.9%
    root range wall = 196 µs + glue (root 15, embed 4, layers.0 4, attn 6, mlp 5, norm 4,
    lm_head 4 = 42) = 238 µs -> host wall coverage 108.2% >= 29.1%: host/launch-bound
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from flopwise.measure import per_layer
from flopwise.measure.per_layer import trace as per_layer_trace
from flopwise.measure.timing import Latency

ROOT = Path(__file__).resolve().parents[1]
TRACE = json.loads((ROOT / "tests" / "data" / "cuda_profiler_trace.json").read_text())
US = 1e-6


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


def _model(case: str):
    """A stand-in with the case's module tree (only named_modules is read)."""
    types = TRACE["cases"][case]["modules"]
    mods = [(p, type(t, (), {})()) for p, t in types.items()]
    return SimpleNamespace(named_modules=lambda: mods)


def _run(case: str) -> per_layer.MeasuredRun:
    c = TRACE["cases"][case]
    it = per_layer_trace._attribute(_events(case), c["device"])
    layers = per_layer_trace._combine(_model(case), [it], c["device"])
    layers.per_iteration.append(
        {
            "attributed_s": it["attributed"],
            "host_s": it["host_attributed"],
            "host_wall_s": it["host_wall"],
            "device_s": it["device_attributed"],
            "wall_s": c["wall_s"],
            "reference_s": c["reference_s"],
        }
    )
    latency = Latency(samples=[c["reference_s"]] * 5, device=c["device"])
    return per_layer.MeasuredRun(latency=latency, layers=layers, device=c["device"])


def test_device_bound_cnn_per_module_host_and_device_time():
    run = _run("device_bound_cnn")
    m = run.modules
    expect = {  # path: (host self, host total, device self, device total) in µs
        "": (5, 49, 0, 1000),
        "conv": (17, 17, 800, 800),
        "relu": (12, 12, 150, 150),
        "fc": (15, 15, 50, 50),
    }
    assert set(m) == set(expect)
    for path, (hs, ht, ds, dt) in expect.items():
        got = (
            m[path].host_self_s,
            m[path].host_total_s,
            m[path].device_self_s,
            m[path].device_total_s,
        )
        assert got == pytest.approx((hs * US, ht * US, ds * US, dt * US), abs=1e-12), path
        # on CUDA the module's main time is its device time
        assert m[path].total_s == pytest.approx(dt * US, abs=1e-12)
    assert run.layers.attributed_host_s == pytest.approx(49 * US)
    assert run.layers.attributed_device_s == pytest.approx(1000 * US)
    assert run.device_coverage == pytest.approx(1000 / 1040)
    assert run.host_coverage == pytest.approx(49 / 1040)
    assert run.host_wall_coverage == pytest.approx(81 / 1040)
    v = run.verdict()
    assert v["bound"] == "device-bound"
    assert v["gpu_idle_fraction"] == pytest.approx(40 / 1040)
    assert run.warnings == []  # kernels cover 96%: within ±15%


def test_host_bound_tiny_lm_verdict_and_honest_coverage():
    run = _run("host_bound_tiny_lm")
    m = run.modules
    expect = {
        "": (0, 196, 0, 64),
        "embed": (19, 19, 3, 3),
        "layers.0": (12, 115, 2, 33),
        "layers.0.attn": (59, 59, 17, 17),
        "layers.0.mlp": (44, 44, 14, 14),
        "norm": (46, 46, 8, 8),
        "lm_head": (16, 16, 20, 20),
    }
    assert set(m) == set(expect)  # "layers" (a ModuleList) never runs, so has no range
    for path, (hs, ht, ds, dt) in expect.items():
        got = (
            m[path].host_self_s,
            m[path].host_total_s,
            m[path].device_self_s,
            m[path].device_total_s,
        )
        assert got == pytest.approx((hs * US, ht * US, ds * US, dt * US), abs=1e-12), path
    assert run.host_coverage == pytest.approx(196 / 220)
    assert run.host_wall_coverage == pytest.approx(238 / 220)
    assert run.device_coverage == pytest.approx(64 / 220)
    assert run.coverage == pytest.approx(64 / 220)  # the module times are device times
    v = run.verdict()
    assert v["bound"] == "host/launch-bound"
    assert v["gpu_idle_fraction"] == pytest.approx(156 / 220)
    (warning,) = run.warnings
    assert "host/launch-bound" in warning and "29%" in warning and "89%" in warning
    assert "host wall 108%" in warning
    # judged on host op time alone (no root range) the verdict is the same here
    assert per_layer.verdict(run.host_coverage, run.device_coverage)["bound"] == "host/launch-bound"
    doc = run.to_dict()
    assert doc["verdict"]["bound"] == "host/launch-bound"
    assert doc["host_coverage"] == pytest.approx(196 / 220)
    json.dumps(doc)


def test_the_kernel_and_runtime_events_are_not_counted_twice():
    """Kernel events (no CPU parent) and cudaLaunchKernel rows are not ATen ops: dropping
    them from the trace leaves every figure unchanged (they reach the sums only through the
    ATen ops' inclusive totals)."""
    case = "host_bound_tiny_lm"
    full = per_layer_trace._attribute(_events(case), "cuda:0")
    aten_only = [
        ev for ev in _events(case) if ev.cpu_parent is not None or ev.name.startswith("flopwise")
    ]
    stripped = per_layer_trace._attribute(aten_only, "cuda:0")
    assert full["host_attributed"] == pytest.approx(stripped["host_attributed"])
    assert full["device_attributed"] == pytest.approx(stripped["device_attributed"])


@pytest.mark.parametrize(
    ("host", "device", "bound"),
    [
        (0.05, 0.96, "device-bound"),  # GPU busy 96%
        (0.90, 0.60, "device-bound"),  # host busier, but the GPU is busy 60% >= 50%
        (0.89, 0.29, "host/launch-bound"),  # idle 71%, host 89% >= kernels 29%
        (0.20, 0.30, "mixed"),  # idle 70%, yet host ops explain only 20%
    ],
)
def test_verdict_rules(host, device, bound):
    v = per_layer.verdict(host, device)
    assert v["bound"] == bound
    assert v["gpu_idle_fraction"] == pytest.approx(1 - device)


def test_cpu_run_has_no_device_split():
    """On CPU the host is the device: device figures are None and the verdict says so; the
    host time equals the recorded CPU trace's module self time (its top-level op totals)."""
    trace = json.loads((ROOT / "tests" / "data" / "profiler_trace.json").read_text())
    rows = trace["cases"]["forward_cnn"]["events"]
    events = [
        SimpleNamespace(**{k: r[k] for k in r if k != "parent"}, cpu_parent=None) for r in rows
    ]
    for ev, r in zip(events, rows, strict=True):
        if r["parent"] is not None:
            ev.cpu_parent = events[r["parent"]]
    it = per_layer_trace._attribute(events, "cpu")
    for path, self_s in it["self"].items():
        assert it["host_self"][path] == pytest.approx(self_s, rel=1e-9, abs=1e-12)
    assert it["device_attributed"] == 0.0
    assert per_layer.verdict(0.9, None)["bound"] == "cpu"
