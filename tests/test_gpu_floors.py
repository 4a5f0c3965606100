"""Peak selection per op from what the backend runs, and floors that are never beaten.

Every expected floor below is computed by hand from the op's shape: FLOPs / the peak the
backend may run it at, or bytes / bandwidth, whichever is larger. The GPU profile is a fake
with round ceilings (no GPU here); the math modes are given explicitly or read from torch's
flags, which exist on CPU builds too.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import flopwise
from flopwise.analysis.roofline import (
    MathModes,
    efficiency,
    join_ops,
    join_roofline,
    op_floor,
    op_peak,
    roofline_document,
)
from flopwise.measure import hardware as hw
from flopwise.measure.hardware import HardwareProfile
from flopwise.measure.per_layer import ModuleTime, OpTime

TF = 1e12
GPU = HardwareProfile(
    name="fake-gpu",
    kind="gpu",
    peak_flops={
        "float32": 50 * TF,
        "tfloat32": 400 * TF,
        "bfloat16": 800 * TF,
        "float16": 800 * TF,
    },
    memory_bandwidth=4e12,
)
CPU = HardwareProfile(
    name="fake-cpu",
    kind="cpu",
    peak_flops={"float32": 1 * TF, "tfloat32": 9 * TF, "bfloat16": 2 * TF},
    memory_bandwidth=100e9,
)
TF32_ON = MathModes(conv_tf32=True, matmul_tf32=True, matmul_precision="high")
TF32_OFF = MathModes(conv_tf32=False, matmul_tf32=False, matmul_precision="highest")

# A ResNet-50-like 3x3 convolution, batch 32, 64 -> 64 channels at 56x56, no bias.
N, C, K, H, W, R = 32, 64, 64, 56, 56, 3
CONV_FLOPS = 2 * N * K * H * W * C * R * R  # 2 FLOPs per multiply-add
CONV_BYTES = (N * C * H * W + K * C * R * R + N * K * H * W) * 4  # in + weight + out, fp32


def rec(op, flops, nbytes, dtype=torch.float32, category="contraction", path="m"):
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


def test_captured_conv_counts_match_the_hand_formula():
    """The records the floors are built from: a real capture of the conv above (meta)."""
    prof = flopwise.profile(
        nn.Conv2d(C, K, R, padding=1, bias=False).to("meta"), torch.empty(N, C, H, W, device="meta")
    )
    (r,) = [r for r in prof.ops if r.flops]
    assert r.op.startswith("aten.convolution") and r.category == "contraction"
    assert r.flops == CONV_FLOPS and r.bytes_read + r.bytes_written == CONV_BYTES
    # and the floor of that record under TF32 is compute-bound at the TF32 peak
    f = op_floor(r, GPU, modes=TF32_ON)
    assert f.floor_s == pytest.approx(CONV_FLOPS / (400 * TF), rel=1e-12)


def test_fp32_conv_runs_at_tf32_only_when_cudnn_allows_it():
    conv = rec("aten.convolution.default", CONV_FLOPS, CONV_BYTES)
    on = op_floor(conv, GPU, modes=MathModes(conv_tf32=True))
    off = op_floor(conv, GPU, modes=MathModes(conv_tf32=False))
    # 7.40 GFLOP: 18.5 µs at 400 TFLOP/s (vs 51.5 MB: 12.9 µs of bytes); 148 µs at 50 TFLOP/s
    assert on.floor_s == pytest.approx(max(CONV_FLOPS / 400e12, CONV_BYTES / 4e12), rel=1e-12)
    assert off.floor_s == pytest.approx(max(CONV_FLOPS / 50e12, CONV_BYTES / 4e12), rel=1e-12)
    assert CONV_FLOPS == 7_398_752_256 and CONV_BYTES == 51_527_680
    assert on.floor_s == pytest.approx(7_398_752_256 / 400e12)
    assert op_peak(GPU, "float32", "contraction", conv.op, MathModes())[1] == "tfloat32"
    # the matmul flag does not apply to convolutions, nor cuDNN's to matmuls
    only_mm = MathModes(conv_tf32=False, matmul_tf32=True, matmul_precision="high")
    assert op_peak(GPU, "float32", "contraction", conv.op, only_mm) == (50 * TF, "float32")
    assert op_peak(GPU, "float32", "contraction", "aten.mm", only_mm) == (400 * TF, "tfloat32")
    assert op_peak(GPU, "float32", "contraction", "aten.convolution_backward", TF32_ON)[1] == (
        "tfloat32"
    )


def test_fp32_matmul_follows_the_matmul_precision():
    m, k, n = 4096, 4096, 4096
    flops = 2 * m * k * n
    nbytes = (m * k + k * n + m * n) * 4
    mm = rec("aten.mm.default", flops, nbytes)
    # PyTorch's default: matmuls in true fp32 (cuda.matmul.allow_tf32 = False)
    assert op_floor(mm, GPU).floor_s == pytest.approx(flops / 50e12, rel=1e-12)
    assert op_floor(mm, GPU, modes=TF32_ON).floor_s == pytest.approx(flops / 400e12, rel=1e-12)
    # "medium" lets cuBLAS use bf16 internally: the fastest allowed rate bounds it
    medium = MathModes(matmul_tf32=True, matmul_precision="medium")
    assert op_peak(GPU, "float32", "contraction", "aten.mm", medium) == (800 * TF, "bfloat16")


def test_bf16_matmul_uses_the_tensor_core_rate_and_its_bytes():
    m, k, n = 512, 1024, 2048
    flops = 2 * m * k * n  # 2.15 GFLOP: 2.68 µs at 800 TFLOP/s
    nbytes = (m * k + k * n + m * n) * 2  # 7.34 MB: 1.84 µs at 4 TB/s
    f = op_floor(rec("aten.mm.default", flops, nbytes, dtype=torch.bfloat16), GPU, modes=TF32_OFF)
    assert f.floor_s == pytest.approx(flops / 800e12, rel=1e-12) and f.bound == "compute"
    # a skinny one (decode-like, m = 1) is memory-bound: bytes / bandwidth
    flops1, bytes1 = 2 * 1 * k * n, (k + k * n + n) * 2
    f1 = op_floor(rec("aten.mm.default", flops1, bytes1, dtype=torch.bfloat16), GPU)
    assert f1.floor_s == pytest.approx(bytes1 / 4e12, rel=1e-12) and f1.bound == "memory"


def test_elementwise_never_gets_tensor_core_rates_and_cpu_never_tf32():
    relu = rec("aten.relu.default", 10**9, 10**6, dtype=torch.bfloat16, category="elementwise")
    assert op_peak(GPU, "bfloat16", "elementwise", relu.op, TF32_ON) == (
        50 * TF,
        "bfloat16 (no tensor cores)",
    )
    assert op_floor(relu, GPU).floor_s == pytest.approx(1e9 / 50e12)
    # a CPU profile runs float32 as float32 whatever the CUDA flags say
    assert op_peak(CPU, "float32", "contraction", "aten.convolution", TF32_ON) == (
        1 * TF,
        "float32",
    )
    assert op_peak(CPU, "bfloat16", "contraction", "aten.mm", TF32_ON) == (2 * TF, "bfloat16")


def test_math_modes_are_read_from_torch_flags():
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.allow_tf32, matmul.allow_tf32, torch.get_float32_matmul_precision())
    try:
        cudnn.allow_tf32, matmul.allow_tf32 = True, False
        torch.set_float32_matmul_precision("highest")
        assert MathModes.from_torch() == MathModes()  # PyTorch's defaults
        cudnn.allow_tf32 = False
        matmul.allow_tf32 = True  # the legacy flag also sets the precision to "high"
        modes = MathModes.from_torch()
        assert (modes.conv_tf32, modes.matmul_tf32) == (False, True)
        assert modes.matmul_precision == "high"
        torch.set_float32_matmul_precision("medium")
        assert MathModes.from_torch().matmul_precision == "medium"
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = saved[0], saved[1]
        torch.set_float32_matmul_precision(saved[2])


# --------------------------------------------------------------------------------------------
# beaten floors are profile errors


def _profile(records):
    paths = sorted({""} | {r.module_path for r in records})
    modules = [
        SimpleNamespace(
            path=p,
            type="T",
            depth=0 if not p else p.count(".") + 1,
            calls=1,
            flops=sum(r.flops for r in records if p == "" or r.module_path == p),
            bytes_read=0,
            bytes_written=0,
        )
        for p in paths
    ]
    return SimpleNamespace(ops=records, modules=modules)


def test_a_time_under_its_floor_is_a_profile_error_never_efficiency_over_one():
    conv = rec("aten.convolution", CONV_FLOPS, CONV_BYTES, path="conv")
    prof = _profile([conv])
    tf32_floor = CONV_FLOPS / 400e12  # 18.5 µs
    fp32_floor = CONV_FLOPS / 50e12  # 148 µs
    measured = 60e-6  # cuDNN in TF32 really took 60 µs
    times = {
        "": ModuleTime("", "T", 0.0, measured, 1, measured),
        "conv": ModuleTime("conv", "T", measured, measured, 1, measured),
    }
    # priced at fp32 (the reported bug): 148 µs floor vs 60 µs measured -> a profile error
    bad = {r.path: r for r in join_roofline(prof, times, GPU, modes=TF32_OFF)}["conv"]
    assert bad.beats_floor and bad.efficiency is None
    assert bad.to_dict()["profile_error"].startswith("measured 0.06 ms is under its floor")
    assert efficiency(fp32_floor, measured) is None
    # priced at TF32: efficiency 18.5 / 60 = 0.308, no error
    good = {r.path: r for r in join_roofline(prof, times, GPU, modes=TF32_ON)}["conv"]
    assert not good.beats_floor and good.efficiency == pytest.approx(tf32_floor / measured)
    # the op-level join and the document's error list agree
    op_times = [OpTime("aten.convolution", "conv", (), 1, measured, measured)]
    (op_row,) = join_ops(prof, op_times, GPU, modes=TF32_OFF)
    assert op_row.beats_floor and op_row.efficiency is None and op_row.peak == "float32"
    run = SimpleNamespace(modules=times, ops=op_times, latency=SimpleNamespace(median_s=measured))
    doc = roofline_document(prof, run, GPU, modes=TF32_OFF)
    errors = doc["roofline"]["profile_errors"]
    assert {(e["level"], e["path"]) for e in errors} == {
        ("model", ""),
        ("module", ""),
        ("module", "conv"),
        ("op", "conv"),
    }
    assert all(e["ratio"] == pytest.approx(fp32_floor / measured) for e in errors)
    assert doc["roofline"]["summary"]["efficiency"] is None
    json.dumps(doc)
    ok = roofline_document(prof, run, GPU, modes=TF32_ON)
    assert ok["roofline"]["profile_errors"] == []
    assert ok["roofline"]["summary"]["efficiency"] == pytest.approx(tf32_floor / measured)
    assert ok["roofline"]["summary"]["math_modes"]["cudnn_allow_tf32"] is True


def _cpu_profile(peak: float, bandwidth: float) -> HardwareProfile:
    return HardwareProfile(
        name="host",
        kind="cpu",
        peak_flops={"float32": peak},
        memory_bandwidth=bandwidth,
        source="fake",
        details={
            "measured": True,
            "device": "cpu",
            "host": "h",
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
    )


@pytest.mark.parametrize("fixed", [True, False])
def test_a_beaten_host_floor_is_remeasured_then_flagged(monkeypatch, tmp_path, fixed):
    """A host profile measured absurdly low (1 FLOP/s: any real time beats its floor) is
    measured again once and merged (best of both); if the new ceilings are still too low
    the errors stay, with no efficiency shown."""
    from flopwise.measure.per_layer import measure_model
    from flopwise.pipeline.measured import roofline_with_remeasure

    monkeypatch.setenv("FLOPWISE_CACHE_DIR", str(tmp_path))
    low = _cpu_profile(1.0, 1.0)
    hw.save_profile(low)
    fresh = _cpu_profile(1e18, 1e18) if fixed else _cpu_profile(2.0, 2.0)
    calls = []
    monkeypatch.setattr(
        hw, "measure_host_profile", lambda *a, **k: calls.append(k["device"]) or fresh
    )
    model = nn.Linear(32, 32)
    x = torch.randn(8, 32)
    prof = flopwise.profile(model, x)
    run = measure_model(model, (x,), repeats=3, progress=False, profile_iterations=1)
    doc = roofline_with_remeasure(prof, run, low, "host", "cpu")
    assert calls == ["cpu"]
    info = doc["roofline"]["remeasured"]
    assert info["errors_before"] >= 2  # at least the model and the Linear
    merged = HardwareProfile.load(info["profile"])
    assert merged.peak_flops["float32"] == fresh.peak_flops["float32"]  # best of both
    assert merged.details["measurements"] == 2
    if fixed:
        assert info["errors_after"] == 0 and doc["roofline"]["profile_errors"] == []
        assert 0 < doc["roofline"]["summary"]["efficiency"] <= 1
    else:
        assert info["errors_after"] == len(doc["roofline"]["profile_errors"]) >= 2
        assert doc["roofline"]["summary"]["efficiency"] is None
    effs = [m["efficiency"] for m in doc["roofline"]["modules"] + doc["roofline"]["ops"]]
    assert all(e is None or 0 <= e <= 1 for e in effs)


def test_datasheet_h200_has_its_tf32_dense_peak():
    h200 = hw.get_profile("h200")
    # NVIDIA H200 datasheet: TF32 Tensor Core 989 TFLOPS with sparsity, dense = half
    assert h200.peak_flops["tfloat32"] == pytest.approx(494.5e12)
    assert h200.sparse_peak_flops["tfloat32"] == pytest.approx(989e12)
