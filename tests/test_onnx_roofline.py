"""The roofline section of an ONNX file timed by onnxruntime (``profile model.onnx --measure``).

A small MLP is exported with torch's exporter; onnxruntime's timing is replaced by a fixed
latency and a trace in onnxruntime's profiler format (node names as onnxruntime 1.32 gives
them for this export: Gemm+Relu fused into ``fused node_linear``), so nothing here depends
on how fast this machine is. Floors are checked against max(FLOPs / peak, bytes /
bandwidth) with integers worked out by hand and the named profile's own ceilings."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from flopwise.measure import hardware as hw  # noqa: E402
from flopwise.measure import onnx_runtime  # noqa: E402
from flopwise.measure.hardware import HardwareProfile, get_profile  # noqa: E402
from flopwise.measure.onnx_runtime import CountedNode, split_modules  # noqa: E402
from flopwise.measure.options import MeasureOptions  # noqa: E402
from flopwise.measure.timing import Latency  # noqa: E402
from flopwise.pipeline.onnx import run_onnx_profile  # noqa: E402
from flopwise.sections import Roofline  # noqa: E402

BATCH, IN, HIDDEN, OUT = 256, 256, 256, 16
F = 4  # bytes per float32
# addmm(bias, x, Wᵀ): 2·B·in·out multiply-adds as FLOPs plus B·out bias adds; it reads
# x, W and the bias and writes y.
FLOPS_0 = 2 * BATCH * IN * HIDDEN + BATCH * HIDDEN  # 33,619,968
BYTES_0 = F * (BATCH * IN + IN * HIDDEN + HIDDEN + BATCH * HIDDEN)  # 787,456
FLOPS_1 = BATCH * HIDDEN  # relu: one op per element, 65,536
BYTES_1 = F * 2 * BATCH * HIDDEN  # reads and writes the activation, 524,288
FLOPS_2 = 2 * BATCH * HIDDEN * OUT + BATCH * OUT  # 2,101,248
BYTES_2 = F * (BATCH * HIDDEN + HIDDEN * OUT + OUT + BATCH * OUT)  # 294,976

MEDIAN_S = 50e-6  # the fake end-to-end latency
NODE_US = {  # per run, as onnxruntime's profiler would report them (µs)
    "fused node_linear": ("FusedGemm", 30.0),  # Linear 0 + ReLU
    "node_linear_1": ("Gemm", 3.0),  # Linear 2
}


@pytest.fixture(scope="module")
def mlp_onnx(tmp_path_factory):
    pytest.importorskip("onnxscript")  # torch's exporter needs it; flopwise does not
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT)).eval()
    path = tmp_path_factory.mktemp("onnx_roofline") / "mlp.onnx"
    torch.onnx.export(model, (torch.randn(BATCH, IN),), str(path), dynamo=True, verbose=False)
    return str(path)


def _trace(runs: int = 2) -> list[dict]:
    """An onnxruntime profile trace: ``runs`` model runs, each running NODE_US."""
    events: list[dict] = []
    for run in range(runs):
        start = 1000 * run
        events.append({"cat": "Session", "name": "model_run", "ts": start, "dur": 40})
        ts = start + 1
        for name, (op, us) in NODE_US.items():
            args = {"op_name": op, "provider": "CPUExecutionProvider"}
            events.append(
                {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": us, "args": args}
            )
            ts += us
    return events


@pytest.fixture
def fake_ort_timing(monkeypatch):
    """onnxruntime's latency and profiler replaced by fixed figures (the session itself is
    real: only its timing is faked)."""

    def latency(fn, **kwargs):
        return Latency(samples=[MEDIAN_S] * 5, items=kwargs.get("items"), label=kwargs["label"])

    def profiled(path, feeds, device, runs, plain=None):
        return _trace(), [MEDIAN_S, MEDIAN_S]

    monkeypatch.setattr("flopwise.measure.timing.measure_latency", latency)
    monkeypatch.setattr(onnx_runtime, "profiled_runs", profiled)


def _floor(flops: int, nbytes: int, peak: float, bandwidth: float) -> float:
    return max(flops / peak, nbytes / bandwidth)


def _datasheet(name: str) -> tuple[float, float]:
    profile = get_profile(name)
    assert not profile.details.get("bandwidth_curve")  # one bandwidth for every size
    return profile.peak_for("float32"), profile.memory_bandwidth


def test_roofline_floor_is_the_closed_form(mlp_onnx, fake_ort_timing):
    peak, bandwidth = _datasheet("xeon-8480")
    prof = run_onnx_profile(mlp_onnx, [], measure=MeasureOptions(hardware="xeon-8480"))
    roof = prof.measured.roofline
    assert isinstance(roof, Roofline)
    assert prof.measured.hardware.name == "intel-xeon-platinum-8480plus"
    floors = [
        _floor(FLOPS_0, BYTES_0, peak, bandwidth),
        _floor(FLOPS_1, BYTES_1, peak, bandwidth),
        _floor(FLOPS_2, BYTES_2, peak, bandwidth),
    ]
    s = roof.summary
    assert (s.flops, s.bytes) == (FLOPS_0 + FLOPS_1 + FLOPS_2, BYTES_0 + BYTES_1 + BYTES_2)
    assert s.waterline_s == pytest.approx(sum(floors), rel=1e-12)
    assert s.measured_s == MEDIAN_S  # the unprofiled end-to-end median
    assert s.achieved_flops_per_s == pytest.approx(s.flops / MEDIAN_S)
    assert s.efficiency == pytest.approx(sum(floors) / MEDIAN_S)
    rows = {r["path"]: r for r in roof.modules}
    for path, want in zip(("0", "1", "2"), floors, strict=True):
        assert rows[path]["floor_s"] == pytest.approx(want, rel=1e-12)
    # 7.17 TFLOP/s over 307 GB/s: the ridge is at 23.3 FLOP/B; Linear 0 is at 42.7
    assert [rows[p]["bound"] for p in ("0", "1", "2")] == ["compute", "memory", "memory"]
    assert roof.profile_errors == []


def test_times_are_joined_per_runtime_node(mlp_onnx, fake_ort_timing):
    prof = run_onnx_profile(mlp_onnx, [], measure=MeasureOptions(hardware="xeon-8480"))
    m = prof.measured
    assert m.other["fused"] == {"node_relu": "fused node_linear"}  # the Relu in the FusedGemm
    assert m.other["runtime_only"] == [] and m.other["unmatched"] == []
    # Linear 0 and the ReLU share one kernel: their times are FLOPs shares, no measurement
    assert m.other["split_modules"] == ["0", "1"]
    rows = {r["path"]: r for r in m.roofline.modules}
    assert rows[""]["time_s"] == pytest.approx(sum(us for _, us in NODE_US.values()) * 1e-6)
    assert rows["2"]["time_s"] == pytest.approx(3e-6)  # its own Gemm node
    assert rows["2"]["efficiency"] == pytest.approx(rows["2"]["floor_s"] / 3e-6)
    assert rows["0"]["time_s"] is None and rows["1"]["time_s"] is None
    assert rows["0"]["efficiency"] is None
    assert all(op["time_s"] is None for op in m.roofline.ops)  # onnxruntime times nodes


def test_gpu_profile_prices_float32_gemm_at_tf32(mlp_onnx, fake_ort_timing):
    """onnxruntime's CUDA provider may run float32 Gemm in TF32, so the floor on a GPU
    profile uses that peak (PyTorch's default, float32 matmuls in full precision, would
    make Linear 0 compute-bound at 19.5 TFLOP/s on an A100)."""
    a100 = get_profile("a100-80gb")
    prof = run_onnx_profile(mlp_onnx, [], measure=MeasureOptions(hardware="a100-80gb"))
    rows = {r["path"]: r for r in prof.measured.roofline.modules}
    tf32 = _floor(FLOPS_0, BYTES_0, a100.peak_flops["tfloat32"], a100.memory_bandwidth)
    assert rows["0"]["floor_s"] == pytest.approx(tf32, rel=1e-12)
    assert rows["0"]["bound"] == "memory"
    assert tf32 < FLOPS_0 / a100.peak_flops["float32"]
    assert prof.measured.roofline.summary.math_modes["cuda_matmul_allow_tf32"] is True


def test_json_round_trip_and_renderers(mlp_onnx, fake_ort_timing):
    from flopwise.report.json import profile_from_document
    from flopwise.report.table import render_text

    prof = run_onnx_profile(mlp_onnx, [], measure=MeasureOptions(hardware="xeon-8480"))
    doc = json.loads(prof.to_json())
    back = profile_from_document(doc)
    assert isinstance(back.measured.roofline, Roofline)
    assert back.to_dict() == prof.to_dict()
    assert doc["measured"]["roofline"]["summary"]["waterline_s"] == (
        prof.measured.roofline.summary.waterline_s
    )
    text = " ".join(render_text(back, depth=1, width=200).split())
    assert "roofline vs intel-xeon-platinum-8480plus (cpu, 7.17 TFLOP/s fp32, 307 GB/s)" in text
    assert "2 module(s) sharing a fused node with other modules have floors only (0, 1)" in text


def test_cli_hardware_option_reaches_the_onnx_roofline(mlp_onnx, fake_ort_timing, capsys):
    from flopwise.cli import main

    h100 = get_profile("h100-sxm")
    tf32, fp32, bandwidth = (
        h100.peak_flops["tfloat32"],
        h100.peak_flops["float32"],
        h100.memory_bandwidth,
    )
    args = ["profile", mlp_onnx, "--measure", "--hardware", "h100-sxm", "--no-save"]
    assert main([*args, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    summary = doc["measured"]["roofline"]["summary"]
    assert doc["measured"]["hardware"]["name"] == "nvidia-h100-sxm5-80gb"
    # Gemms at the TF32 rate; ReLU has no tensor cores: the float32 peak
    want = (
        _floor(FLOPS_0, BYTES_0, tf32, bandwidth)
        + _floor(FLOPS_1, BYTES_1, fp32, bandwidth)
        + _floor(FLOPS_2, BYTES_2, tf32, bandwidth)
    )
    assert summary["waterline_s"] == pytest.approx(want, rel=1e-12)
    assert summary["memory_bound_floor_share"] == 1.0
    assert main(args) == 0
    assert "roofline vs nvidia-h100-sxm5-80gb (gpu" in capsys.readouterr().out


def test_host_profile_is_remeasured_when_beaten(mlp_onnx, fake_ort_timing, monkeypatch, tmp_path):
    """``--hardware host`` (the default) goes through the same join as PyTorch runs: a
    cached host profile whose floor the run beats is measured once more, on the device
    onnxruntime ran on."""
    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path))

    def host(peak: float) -> HardwareProfile:
        details = {"measured": True, "device": "cpu", "threads": torch.get_num_threads()}
        details |= {"host": "h", "torch": torch.__version__}
        return HardwareProfile(
            name="host",
            kind="cpu",
            peak_flops={"float32": peak},
            memory_bandwidth=peak,
            source="fake",
            details=details,
        )

    hw.save_profile(host(1.0))  # 1 FLOP/s: every time beats its floor
    calls = []
    monkeypatch.setattr(
        hw, "measure_host_profile", lambda *a, **k: calls.append(k["device"]) or host(1e18)
    )
    prof = run_onnx_profile(mlp_onnx, [], measure=MeasureOptions())
    roof = prof.measured.roofline
    assert calls == ["cpu"]
    assert roof.remeasured["errors_before"] >= 1 and roof.remeasured["errors_after"] == 0
    assert roof.profile_errors == []


def test_split_modules_are_those_under_the_common_module():
    def node(name: str, path: str) -> CountedNode:
        return CountedNode(name=name, op_type="X", path=path, inputs=[], outputs=[])

    counted = [node("a", "block.conv"), node("b", "block.act"), node("c", "block"), node("d", "")]
    rows = [
        {"counted_nodes": ["a", "b", "c"]},  # whole in `block`
        {"counted_nodes": ["d"]},
        {"counted_nodes": []},  # a runtime-only node (a layout reorder)
    ]
    assert split_modules(counted, rows) == ["block.act", "block.conv"]
    assert split_modules(counted, [{"counted_nodes": ["a", "d"]}]) == ["block", "block.conv"]
