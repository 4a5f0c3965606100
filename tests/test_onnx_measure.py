"""Joining onnxruntime per-node times to counted ONNX nodes (flopwise.measure.onnx_runtime).

The trace is a recorded fixture (scripts/record_onnx_profile.py): the join, the fusion
mapping and the per-node/per-module arithmetic are checked without timing anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnx")

from flopwise.measure.onnx_runtime import (  # noqa: E402
    drop_first_run,
    join_nodes,
    module_times,
    node_rows,
    parse_profile,
)
from flopwise.pipeline.onnx import count_onnx  # noqa: E402
from flopwise.sources.onnx import load_onnx  # noqa: E402

DATA = Path(__file__).parent / "data" / "onnx"
EVENTS = json.loads((DATA / "ort_profile.json").read_text())
FUSED_MATMUL = "node_MatMul_2/MatmulTransposeFusion/"


@pytest.fixture(scope="module")
def counted():
    return count_onnx(load_onnx(str(DATA / "small_cnn.onnx")))


def test_parse_profile_sums_runs():
    runtime, runs = parse_profile(EVENTS)
    assert len(runs) == 3
    assert set(runtime) == {
        "relu_nchwc",
        "conv_1_nchwc",
        "node_view",
        FUSED_MATMUL,
        "node_softmax",
        "ReorderOutput",
    }
    assert all(node.calls == 3 for node in runtime.values())
    conv = [e for e in EVENTS if e["name"] == "relu_nchwc_kernel_time"]
    assert runtime["relu_nchwc"].total_us == sum(e["dur"] for e in conv)
    assert runtime["relu_nchwc"].op_type == "Conv"


def test_counted_nodes_hold_their_records(counted):
    prof, nodes = counted
    by_name = {n.name: n for n in nodes}
    assert by_name["node_Conv_0"].macs == 16 * 16 * 16 * 3 * 3 * 3  # C_out·H·W·C_in·kh·kw
    assert by_name["node_Conv_1"].macs == 16 * 16 * 16 * 16
    assert by_name["node_MatMul_2"].macs == 256 * 10 * 16
    assert by_name["node_permute"].flops == 0
    assert sum(n.flops for n in nodes) == prof.totals.flops
    assert sum(n.macs for n in nodes) == prof.totals.macs


def test_join_maps_fused_nodes_back(counted):
    _, nodes = counted
    runtime, _ = parse_profile(EVENTS)
    join = join_nodes(nodes, runtime)
    assert join.primary == {
        "relu_nchwc": "node_relu",  # named after the Relu's output value
        "conv_1_nchwc": "node_Conv_1",
        "node_view": "node_view",
        FUSED_MATMUL: "node_MatMul_2",
        "node_softmax": "node_softmax",
    }
    assert join.fused == {
        "node_Conv_0": "relu_nchwc",  # Conv+Relu
        "node_add": "conv_1_nchwc",  # Conv+Add+Relu
        "node_relu_1": "conv_1_nchwc",
        "node_permute": FUSED_MATMUL,  # Transpose folded into the MatMul
    }
    assert join.runtime_only == ["ReorderOutput"]  # a layout change, no counted node
    assert join.unmatched == []


def test_rows_split_time_by_flops_and_modules_sum(counted):
    _, nodes = counted
    runtime, runs = parse_profile(EVENTS)
    rows = node_rows(nodes, runtime, join_nodes(nodes, runtime), len(runs))
    total = sum(n.total_us for n in runtime.values()) / 1e6 / len(runs)
    assert sum(r["time_s"] for r in rows) == pytest.approx(total)
    stem = next(r for r in rows if r["runtime_node"] == "relu_nchwc")
    flops = {n.name: n.flops for n in nodes}
    share = flops["node_Conv_0"] / (flops["node_Conv_0"] + flops["node_relu"])
    assert stem["shares_s"]["node_Conv_0"] == pytest.approx(stem["time_s"] * share)
    assert stem["macs"] == 16 * 16 * 16 * 27
    modules = module_times(nodes, rows)
    assert modules[""]["time_s"] == pytest.approx(total)


def test_drop_first_run_removes_the_warmup():
    trimmed = drop_first_run(EVENTS)
    runtime, runs = parse_profile(trimmed)
    assert len(runs) == 2
    assert all(node.calls == 2 for node in runtime.values())


def test_measure_smoke_has_the_pytorch_latency_fields(monkeypatch):
    pytest.importorskip("onnxruntime")
    from flopwise.measure.options import MeasureOptions
    from flopwise.pipeline.onnx import run_onnx_profile

    # a named profile: the default (host) would benchmark this machine on first use
    options = MeasureOptions(repeats=3, hardware="xeon-8480")
    prof = run_onnx_profile(str(DATA / "small_cnn.onnx"), [], measure=options)
    m = prof.measured.to_dict()
    assert m["latency"]["repeats"] == 3 and {"median_s", "rel_iqr", "trustworthy"} <= set(
        m["latency"]
    )
    assert m["provider"] == "CPUExecutionProvider"
    assert m["coverage"] > 0 and m["nodes"] and m["unmatched"] == []
    assert "" in m["modules"]
    assert m["hardware"]["name"] == "intel-xeon-platinum-8480plus"
    assert m["roofline"]["summary"]["flops"] == prof.totals.flops


def test_per_run_node_time_and_paired_coverage():
    from flopwise.measure.onnx_runtime import paired_coverage, per_run_node_s

    sums = per_run_node_s(EVENTS)
    runtime, runs = parse_profile(EVENTS)
    assert len(sums) == len(runs) == 3
    assert sum(sums) == pytest.approx(sum(n.total_us for n in runtime.values()) / 1e6)
    # the median of per-pair ratios, not a ratio of medians
    assert paired_coverage([1.0, 2.0, 9.0], [1.0, 1.0, 10.0]) == 1.0
    assert paired_coverage([], []) is None
