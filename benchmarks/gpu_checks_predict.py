"""GPU check (issue 11): ``predict --calibrate`` on the GPU and its leave-one-model-out error
on the GPU zoo the issue fixed before fitting.

A section of the shared GPU script (benchmarks/gpu_check.py calls :func:`check_predict`):

1. ``flopwise predict torchvision:resnet50 -i 32x3x224x224 --calibrate --device cuda`` through
   the CLI (the default calibration zoo, a short budget, the calibration written under the
   result folder): the output must name the device and its peak memory there, and state
   the cross-validated error.
2. :func:`flopwise.pipeline.predict.run_calibration` on :data:`GPU_ZOO` (issue 11:
   torchvision resnet18, resnet50, mobilenet_v2, efficientnet_b0, convnext_tiny, vit_b_16,
   swin_t at batch 1 and 32; HF bert-base and gpt2 at sequence 128 and 512), once per dtype
   of :data:`ZOO_DTYPES` (float32 under the default TF32 settings, and bfloat16), each a
   calibration of its own. The whole zoo is timed; what is cut to fit the script's time is
   the timing, :data:`ZOO_BUDGET_S` seconds per dtype (fewer repeats per entry), written
   into the document beside each result with the TF32 flags in force. The acceptance is a
   leave-one-model-out MAPE <= 15% in each dtype.

Writes ``predict.json`` (all results, the errors, the zoo as timed) in the result folder.
``device="cpu"`` is a dry run on a tiny zoo (structure only; no threshold applied).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import traceback
from pathlib import Path
from typing import Any

#: Acceptance: leave-one-model-out MAPE on the GPU zoo.
MAX_LOMO_MAPE = 0.15
#: Seconds of interleaved timing for the zoo per dtype (all 18 entries together: a few
#: dozen repeats each on the H200) and for the CLI run.
ZOO_BUDGET_S = 20.0
CLI_BUDGET_S = 10.0

_VISION = ("resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0", "convnext_tiny")
_VISION += ("vit_b_16", "swin_t")
#: Issue 11's GPU zoo, timed once per dtype of ZOO_DTYPES: (spec, group, inputs); the
#: group is the model, so the cross-validation leaves each model out whole (both sizes).
GPU_ZOO: tuple[tuple[str, str, list[str]], ...] = (
    *(
        (f"torchvision:{name}", name, [f"{batch}x3x224x224"])
        for name in _VISION
        for batch in (1, 32)
    ),
    *(
        (spec, group, [f"input_ids=1x{seq}:int64"])
        for spec, group in (("hf:bert-base-uncased", "bert-base"), ("hf:gpt2", "gpt2"))
        for seq in (128, 512)
    ),
)
#: The dtypes the GPU zoo is calibrated in (issue 11: fp32 with default TF32, and bf16).
ZOO_DTYPES = ("float32", "bfloat16")
#: The dry run's zoo: three small models at one small size each (CPU, seconds).
DRY_ZOO: tuple[tuple[str, str, list[str]], ...] = (
    ("torchvision:resnet18", "resnet18", ["1x3x64x64"]),
    ("torchvision:mobilenet_v2", "mobilenet_v2", ["1x3x64x64"]),
    ("torchvision:squeezenet1_1", "squeezenet1_1", ["1x3x64x64"]),
)


def _cli(*argv: str) -> str:
    """stdout of ``flopwise ARGV`` (raises on a non-zero exit)."""
    from flopwise.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(list(argv))
    if code != 0:
        raise RuntimeError(f"flopwise {' '.join(argv)} exited {code}")
    return buf.getvalue()


def _predict_cli(out_dir: Path, device: str, gpu: bool) -> dict[str, Any]:
    """``predict --calibrate --device DEVICE`` on resnet50 through the CLI."""
    cal_file = out_dir / f"predict_calibration_{device}.json"
    model, shape = (
        ("torchvision:resnet50", "32x3x224x224") if gpu else ("torchvision:resnet18", "1x3x64x64")
    )
    argv = [
        "predict", model, "-i", shape, "--calibrate", "--device", device,
        "--budget", str(CLI_BUDGET_S if gpu else 2.0), "--calibration", str(cal_file),
        "-f", "json", "--no-progress",
    ]  # fmt: skip
    started = time.perf_counter()
    pred = json.loads(_cli(*argv))
    cal = json.loads(cal_file.read_text())
    return {
        "argv": argv,
        "seconds": round(time.perf_counter() - started, 1),
        "calibrated_on": cal["device"],
        "method": pred["method"],
        "predicted_s": pred["predicted_s"],
        "roofline_floor_s": pred["roofline_floor_s"],
        "cross_validation": pred.get("cross_validation"),
    }


def _tf32_flags() -> dict[str, bool]:
    """The TF32 flags in force (left at torch's defaults: the issue asks for those)."""
    import torch

    return {
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
    }


def _zoo_calibration(device: str, gpu: bool, dtype: str) -> dict[str, Any]:
    """The GPU zoo (or the dry zoo) timed on ``device`` in ``dtype`` and cross-validated."""
    from flopwise.pipeline import MeasureOptions
    from flopwise.pipeline.predict import run_calibration

    zoo = GPU_ZOO if gpu else DRY_ZOO
    budget = ZOO_BUDGET_S if gpu else 1.0
    started = time.perf_counter()
    doc = run_calibration(
        measure=MeasureOptions(budget_s=budget, progress=False), zoo=zoo, device=device, dtype=dtype
    )
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "dtype": doc["dtype"],
        "tf32": _tf32_flags(),
        "budget_s": budget,
        "zoo": [{"spec": s, "group": g, "inputs": i} for s, g, i in zoo],
        "reduced": f"the whole zoo, timing cut to {budget:g} s per dtype (fewer repeats)"
        if gpu
        else "dry run: three small models on the CPU",
        "device": doc["device"],
        "cross_validation": doc["cross_validation"],
        "flops_baseline": doc["flops_baseline"],
        "samples": doc["samples"],
        "warnings": doc["warnings"],
    }


def check_predict(out_dir: Path, device: str = "cuda") -> dict[str, Any]:
    """Run both parts on ``device``; returns (and writes ``predict.json``) the document:
    ``problems`` lists every failed part and missed acceptance, each in one line."""
    gpu = device == "cuda"
    out_dir.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"device": device, "problems": [], "gpu_zoo": {}, "lomo_mape": {}}
    parts: list[tuple[str, Any]] = [("cli", lambda: _predict_cli(out_dir, device, gpu))]
    parts += [
        (f"gpu_zoo {dtype}", lambda dtype=dtype: _zoo_calibration(device, gpu, dtype))
        for dtype in ZOO_DTYPES
    ]
    for name, part in parts:
        try:
            result = part()
        except Exception as exc:  # one failed part must not hide the others
            result = {"error": traceback.format_exc()[-3000:]}
            doc["problems"].append(f"{name}: {type(exc).__name__}: {exc}")
        if name == "cli":
            doc["cli"] = result
        else:
            doc["gpu_zoo"][name.split()[1]] = result
    cli = doc["cli"]
    if "error" not in cli:
        on = cli["calibrated_on"]
        if not str(on.get("name", "")).startswith(device):
            doc["problems"].append(f"cli: calibrated on {on.get('name')!r}, not {device}")
        if gpu and not on.get("peak_memory_bytes"):
            doc["problems"].append("cli: no CUDA peak memory in the calibration")
    for dtype, zoo in doc["gpu_zoo"].items():
        if "error" in zoo:
            continue
        mape = zoo["cross_validation"]["mape"]
        doc["lomo_mape"][dtype] = mape
        if gpu and not mape <= MAX_LOMO_MAPE:
            doc["problems"].append(f"gpu_zoo {dtype}: leave-one-model-out MAPE {mape:.1%} > 15%")
    (out_dir / "predict.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return doc


def markdown(doc: dict[str, Any]) -> list[str]:
    """The results-file lines of this section (figures from ``doc`` only)."""
    lines = []
    cli = doc.get("cli", {})
    if "error" in cli:
        lines.append("- `predict --calibrate`: **error** (see predict.json)")
    elif cli:
        cv = cli.get("cross_validation") or {}
        lines.append(
            f"- `{' '.join(cli['argv'][:6])} ...`: {cli['method']}, predicted "
            f"{cli['predicted_s'] * 1e3:.3f} ms (floor {cli['roofline_floor_s'] * 1e3:.3f} ms); "
            f"calibrated on {cli['calibrated_on'].get('name')} "
            f"(peak memory {cli['calibrated_on'].get('peak_memory_bytes')} B); "
            f"stated LOMO MAPE {cv.get('mape', float('nan')):.1%}"
        )
    for dtype, zoo in doc.get("gpu_zoo", {}).items():
        lines += _zoo_lines(dtype, zoo)
    return lines


def _zoo_lines(dtype: str, zoo: dict[str, Any]) -> list[str]:
    """The results-file lines of one dtype's zoo calibration."""
    if "error" in zoo:
        return [f"- GPU zoo calibration in {dtype}: **error** (see predict.json)"]
    cv = zoo["cross_validation"]
    tf32 = ", ".join(f"{k} {v}" for k, v in zoo["tf32"].items())
    lines = [
        f"- GPU zoo in {dtype} ({len(zoo['zoo'])} entries, {zoo['reduced']}; {tf32}): "
        f"leave-one-model-out MAPE {cv['mape']:.1%} (worst {cv['max_ape']:.1%}, Spearman "
        f"{cv.get('spearman', float('nan')):.3f}); FLOPs-only baseline MAPE "
        f"{zoo['flops_baseline']['mape']:.1%}; acceptance <= 15%",
        "",
        "| entry | measured | LOMO predicted | floor | repeats |",
        "|---|---|---|---|---|",
    ]
    for s in zoo["samples"]:
        lines.append(
            f"| {s['name']} | {s['measured_s'] * 1e3:.3f} ms "
            f"| {s['cross_validated_s'] * 1e3:.3f} ms | {s['roofline_floor_s'] * 1e3:.3f} ms "
            f"| {s['repeats']} |"
        )
    return lines + [""]
