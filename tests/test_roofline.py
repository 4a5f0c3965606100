"""Roofline: floors, bounds, efficiency, waterline, joins with counted records and measured
times (the check that measured layers never beat their floor is a benchmark:
benchmarks/timing_acceptance.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import flopwise
from flopwise.analysis.roofline import (
    bound,
    efficiency,
    efficiency_gap,
    floor,
    join_ops,
    join_roofline,
    module_floors,
    op_floor,
    roofline_document,
    summary,
    time_vs_flops,
    top_k,
    waterline,
)
from flopwise.measure.hardware import HardwareProfile
from flopwise.measure.per_layer import ModuleTime, OpTime, measure_model

HW = HardwareProfile(
    name="toy",
    kind="cpu",
    peak_flops={"float32": 100e9, "bfloat16": 400e9},
    memory_bandwidth=10e9,
)  # ridge point 10 FLOP/byte for float32


def rec(path, op="aten.mm", flops=0, nbytes=0, category="contraction", dtype=torch.float32):
    return SimpleNamespace(
        op=op,
        module_path=path,
        flops=flops,
        bytes_read=nbytes // 2,
        bytes_written=nbytes - nbytes // 2,
        category=category,
        inputs=(SimpleNamespace(dtype=dtype),),
        outputs=(),
    )


def test_floor_bound_and_efficiency():
    f = floor(200e9, 1e9, HW)  # 2 s compute, 0.1 s memory
    assert f.compute_s == pytest.approx(2.0) and f.memory_s == pytest.approx(0.1)
    assert f.floor_s == pytest.approx(2.0) and f.bound == "compute"
    assert bound(1e9, 1e9, HW) == "memory"  # intensity 1 < ridge 10
    assert bound(0, 0, HW) == "none"
    assert efficiency(2.0, 4.0) == 0.5
    assert efficiency(2.0, None) is None
    assert efficiency_gap(4.0, 2.0) == 2.0
    # bf16 contraction uses its own peak; an elementwise bf16 op no more than float32's
    assert op_floor(rec("a", flops=400e9, dtype=torch.bfloat16), HW).compute_s == pytest.approx(1)
    ew = rec("a", "aten.add", flops=400e9, category="elementwise", dtype=torch.bfloat16)
    assert op_floor(ew, HW).compute_s == pytest.approx(4.0)


def test_waterline_and_module_floors_sum_per_op_floors():
    records = [
        rec("a.x", flops=100e9, nbytes=1e9),  # compute 1 s, memory 0.1 s -> 1 s, compute
        rec("a.y", "aten.relu", flops=1e9, nbytes=20e9, category="elementwise"),  # 2 s, memory
        rec("", "aten.add", flops=0, nbytes=0, category="elementwise"),
    ]
    assert waterline(records, HW) == pytest.approx(3.0)
    floors = module_floors(records, HW)
    assert floors["a"].floor_s == pytest.approx(3.0)
    assert floors[""].floor_s == pytest.approx(3.0)
    assert floors["a.x"].bound == "compute" and floors["a.y"].bound == "memory"
    assert floors["a"].bound == "memory"  # 2 of its 3 floor seconds are memory-bound
    # The module floor is the sum of op floors, not the floor of summed work (lower).
    assert floors["a"].floor_s > floor(101e9, 21e9, HW).floor_s
    own = module_floors(records, HW, inclusive=False)
    assert "a" not in own and own["a.x"].floor_s == pytest.approx(1.0)


def _fake_profile(records):
    paths = sorted({p for r in records for p in _anc(r.module_path)}, key=lambda p: (p != "", p))
    mods = []
    for p in paths:
        inside = [
            r for r in records if p == "" or r.module_path == p or r.module_path.startswith(p + ".")
        ]
        mods.append(
            SimpleNamespace(
                path=p,
                type="T",
                depth=0 if not p else p.count(".") + 1,
                calls=1,
                flops=int(sum(r.flops for r in inside)),
                bytes_read=int(sum(r.bytes_read for r in inside)),
                bytes_written=int(sum(r.bytes_written for r in inside)),
            )
        )
    return SimpleNamespace(ops=records, modules=mods)


def _anc(path):
    parts = path.split(".") if path else []
    return ["", *(".".join(parts[: i + 1]) for i in range(len(parts)))]


def test_join_roofline_rows_shares_and_top_k():
    records = [
        rec("a", flops=100e9, nbytes=1e9),
        rec("b", "aten.relu", flops=1e9, nbytes=20e9, category="elementwise"),
    ]
    prof = _fake_profile(records)
    times = {
        "": ModuleTime("", "T", 0.0, 6.0, 1, 6.1),
        "a": ModuleTime("a", "T", 2.0, 2.0, 1, 2.0),
        "b": ModuleTime("b", "T", 4.0, 4.0, 1, 4.0),
    }
    rows = {r.path: r for r in join_roofline(prof, times, HW)}
    a, b = rows["a"], rows["b"]
    assert a.floor_s == pytest.approx(1.0) and a.efficiency == pytest.approx(0.5)
    assert a.gap_s == pytest.approx(1.0) and a.bound == "compute"
    assert a.achieved_flops_per_s == pytest.approx(50e9)
    assert b.achieved_bytes_per_s == pytest.approx(5e9) and b.bound == "memory"
    assert a.time_share == pytest.approx(1 / 3) and a.flop_share == pytest.approx(100 / 101)
    assert not a.below_floor
    json.dumps([r.to_dict() for r in rows.values()])
    assert [r.path for r in top_k(list(rows.values()), 2, by="time")] == ["b", "a"]
    assert [r.path for r in top_k(list(rows.values()), 2, by="flops")] == ["a", "b"]
    tv = time_vs_flops(list(rows.values()), 1)
    assert tv["by_time"][0]["path"] == "b" and tv["by_flops"][0]["path"] == "a"
    fast = {**times, "a": ModuleTime("a", "T", 0.5, 0.5, 1, 0.5)}
    assert {r.path: r for r in join_roofline(prof, fast, HW)}["a"].below_floor


def test_join_ops_matches_counted_names_without_double_counting():
    records = [
        rec("fc", "aten.t", category="memory"),
        rec("fc", "aten.addmm", flops=10e9, nbytes=1e6),
        rec("act", "aten.relu", flops=1e6, nbytes=8e6, category="elementwise"),
    ]
    prof = _fake_profile(records)
    op_times = [
        OpTime("aten.linear", "fc", (), 1, 1e-5, 0.30),
        OpTime("aten.t", "fc", ("aten.linear",), 1, 1e-6, 2e-6),
        OpTime("aten.addmm", "fc", ("aten.linear",), 1, 0.25, 0.29),
        OpTime("aten.copy_", "fc", ("aten.linear", "aten.addmm"), 1, 0.04, 0.04),
        OpTime("aten.relu", "act", (), 1, 1e-5, 0.02),
        OpTime("aten.clamp_min", "act", ("aten.relu",), 1, 0.02, 0.02),
    ]
    rows = {(r.module_path, r.op): r for r in join_ops(prof, op_times, HW)}
    assert rows[("fc", "aten.addmm")].time_s == pytest.approx(0.29)  # inclusive, copy_ inside
    assert rows[("fc", "aten.t")].time_s == pytest.approx(2e-6)
    assert rows[("act", "aten.relu")].time_s == pytest.approx(0.02)
    assert rows[("fc", "(other)")].time_s == pytest.approx(1e-5)  # linear's own time
    assert rows[("fc", "aten.addmm")].bound == "compute"


def test_summary_without_measurement():
    records = [rec("a", flops=100e9, nbytes=1e9)]
    s = summary(_fake_profile(records), None, HW)
    assert s["waterline_s"] == pytest.approx(1.0) and s["measured_s"] is None


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.mark.measure
def test_join_with_real_counts_and_times():
    torch.manual_seed(0)
    model = SmallCNN().eval()
    x = torch.randn(2, 3, 64, 64)
    prof = flopwise.profile(model, x)
    run = measure_model(model, (x,), repeats=5, profile_iterations=3, progress=False)
    rows = join_roofline(prof, run, HW)
    assert [r.path for r in rows] == [m.path for m in prof.modules]
    by = {r.path: r for r in rows}
    assert by["conv2"].flops == prof.module("conv2").flops > 0
    assert all(r.time_s is not None and r.time_s > 0 for r in rows)
    assert by[""].time_share == pytest.approx(1.0)
    ops = join_ops(prof, run.ops, HW)
    conv = [o for o in ops if o.module_path == "conv2" and o.op == "aten.convolution"]
    assert conv and conv[0].time_s and conv[0].flops == prof.module("conv2").flops
    doc = json.loads(json.dumps(roofline_document(prof, run, HW)))
    assert doc["hardware"]["name"] == "toy"
    assert [m["path"] for m in doc["roofline"]["modules"]] == [m.path for m in prof.modules]
    assert any(o["op"] == "aten.convolution" for o in doc["roofline"]["ops"])
    s = summary(prof, run, HW)
    assert s["waterline_s"] == pytest.approx(sum(op_floor(r, HW).floor_s for r in prof.ops))
    assert s["measured_s"] == run.latency.median_s


def test_layer_floors_are_bound_as_expected():
    """The floors benchmarks/timing_acceptance.py holds measured layers against are not
    vacuous: a large ReLU is memory-bound and a 3x3 convolution compute-bound on a CPU-like
    ridge point. (Whether measured layers respect their floors depends on real timings, so
    it is checked there, with its results in benchmarks/results/timing_acceptance.md.)"""
    hw = HardwareProfile(
        name="cpu-like", kind="cpu", peak_flops={"float32": 2e11}, memory_bandwidth=3e10
    )
    relu = flopwise.profile(nn.ReLU(), torch.randn(2**20), tensors="meta")
    conv = flopwise.profile(
        nn.Conv2d(64, 64, 3, padding=1), torch.randn(1, 64, 56, 56), tensors="meta"
    )
    relu_floor = module_floors(relu.ops, hw)[""]
    conv_floor = module_floors(conv.ops, hw)[""]
    assert relu_floor.bound == "memory" and conv_floor.bound == "compute"
    # the floors are the closed forms: bytes / bandwidth and flops / peak
    assert relu_floor.floor_s == pytest.approx(2 * 4 * 2**20 / 3e10, rel=1e-9)
    conv_flops = 2 * 64 * 64 * 9 * 56 * 56 + 64 * 56 * 56  # multiply-adds, then the bias
    assert conv_floor.floor_s == pytest.approx(conv_flops / 2e11, rel=1e-9)


@pytest.mark.measure
def test_training_join_matches_backward_ops():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 8))
    x = torch.randn(32, 64)
    prof = flopwise.profile(model, x, train=True)
    run = measure_model(
        model, (x,), repeats=3, profile_iterations=2, train=True, progress=False, threads=1
    )
    rows = join_ops(prof, run.ops, HW)
    bwd_mm = [r for r in rows if r.op == "aten.mm" and r.phase == "backward"]
    assert bwd_mm and all(r.time_s and r.time_s > 0 for r in bwd_mm)
    assert sum(r.flops for r in bwd_mm) == sum(
        r.flops for r in prof.ops if r.phase == "backward" and r.op.startswith("aten.mm")
    )
    mods = {r.path: r for r in join_roofline(prof, run, HW)}
    assert mods[""].time_s >= mods["0"].time_s + mods["2"].time_s
