"""GPU check (issue 14): ``flopwise memory``'s prediction against the CUDA caching
allocator's measured peak.

A section of the shared GPU script (benchmarks/gpu_check.py calls :func:`check_memory`).
For torchvision resnet18 and resnet50, inference and training (forward + backward, no
optimizer), batch 1 and 32, float32 at 224x224:

- predicted: :func:`flopwise.pipeline.run_memory` on meta tensors with the H200 profile as
  the allocator (CUDA rounding, 512 bytes), as ``flopwise memory MODEL -i ... [--train]
  --hardware nvidia-h200-sxm-141gb`` computes it;
- measured: the same step (:func:`flopwise.memory.trace.prepared` and ``run_step``, a
  warm-up step first, as ``memory --measure`` does on the CPU) on real CUDA tensors:
  ``torch.cuda.max_memory_allocated()`` after ``reset_peak_memory_stats()``, above
  ``memory_allocated()`` just before the step (the step peak), and the absolute peak.

The workspace settings that decide kernel scratch (cuDNN benchmark/deterministic, TF32
flags, cuBLAS workspace and allocator environment) are recorded beside the figures;
flopwise models no CUDA kernel workspace (memory/workspace.py: CPU convolution only), so
scratch shows up as measured minus predicted. Writes ``memory.json`` in the result folder.
``device="cpu"`` is a dry run (resnet18, batch 1 and 2, CPU allocator via the profiler).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

import torch

#: The allocator the prediction assumes on the GPU (a registry profile of kind gpu).
GPU_PROFILE = "nvidia-h200-sxm-141gb"


def workspace_settings() -> dict[str, Any]:
    """The settings that decide kernel scratch memory on this machine, as they are now."""
    cudnn = torch.backends.cudnn
    return {
        "cudnn_benchmark": cudnn.benchmark,
        "cudnn_deterministic": cudnn.deterministic,
        "cudnn_allow_tf32": cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_version": cudnn.version() if cudnn.is_available() else None,
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "PYTORCH_CUDA_ALLOC_CONF": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
        "predicted_workspace": "none modelled on CUDA (flopwise.memory.workspace: CPU "
        "float32 convolution scratch only)",
    }


def cuda_step_peak(model: Any, args: tuple, kwargs: dict, train: bool) -> dict[str, int]:
    """The CUDA allocator's peak over one step as flopwise accounts it (after a warm-up
    step), absolute and above what was allocated just before the step."""
    from flopwise.memory.trace import prepared, run_step

    with prepared(model, args, dict(kwargs), train=train, optimizer=None, tensors="real") as run:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run_step(run["call"], run["args"], run["kwargs"], train=train, optimizer=run["optimizer"])
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    return {"peak_bytes": peak, "before_bytes": before, "step_peak_bytes": peak - before}


def _case(spec: str, shape: str, train: bool, gpu: bool) -> dict[str, Any]:
    """One configuration: predicted and measured step peaks and their ratio."""
    from flopwise.pipeline import run_memory
    from flopwise.pipeline.profile import load

    if gpu:
        mp = run_memory(
            spec, [shape], device="meta", train=train, hardware=GPU_PROFILE, search=False
        )
        model, args, kwargs, _ = load(spec, [shape], "cuda", "float32")
        measured = cuda_step_peak(model, args, kwargs, train)
        del model, args, kwargs
        torch.cuda.empty_cache()
        predicted = {"peak_bytes": mp.peak_bytes, "step_peak_bytes": mp.step_peak_bytes}
        method = "torch.cuda.max_memory_allocated (CUDA caching allocator, rounded sizes)"
    else:  # dry run: the CPU path of `memory --device cpu --measure`
        mp = run_memory(spec, [shape], device="cpu", train=train, measure=True)
        m = mp.measured
        measured = {"step_peak_bytes": m.step_peak_bytes}
        predicted = {"step_peak_bytes": m.predicted_step_peak_bytes}
        method = m.method
    ratio = (
        predicted["step_peak_bytes"] / measured["step_peak_bytes"]
        if measured["step_peak_bytes"]
        else None
    )
    return {
        "model": spec,
        "input": shape,
        "train": train,
        "predicted": predicted,
        "measured": measured,
        "predicted_over_measured": ratio,
        "method": method,
    }


def check_memory(out_dir: Path, device: str = "cuda") -> dict[str, Any]:
    """Run every configuration on ``device``; returns (and writes ``memory.json``) the
    document. A failed configuration is recorded with its error, never with figures."""
    gpu = device == "cuda"
    models = ("torchvision:resnet18", "torchvision:resnet50") if gpu else ("torchvision:resnet18",)
    batches = (1, 32) if gpu else (1, 2)
    side = 224 if gpu else 64
    started = time.perf_counter()
    cases, problems = [], []
    for spec in models:
        for train in (False, True):
            for batch in batches:
                shape = f"{batch}x3x{side}x{side}"
                try:
                    cases.append(_case(spec, shape, train, gpu))
                except Exception as exc:
                    err = traceback.format_exc()[-2000:]
                    cases.append({"model": spec, "input": shape, "train": train, "error": err})
                    problems.append(f"{spec} {shape} train={train}: {type(exc).__name__}: {exc}")
    doc = {
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "allocator_profile": GPU_PROFILE if gpu else "cpu",
        "dtype": "float32",
        "workspace_settings": workspace_settings(),
        "seconds": round(time.perf_counter() - started, 1),
        "cases": cases,
        "problems": problems,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "memory.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return doc


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f} MiB"


def markdown(doc: dict[str, Any]) -> list[str]:
    """The results-file lines of this section (figures from ``doc`` only)."""
    ws = doc["workspace_settings"]
    lines = [
        "- workspace settings: " + ", ".join(f"{k} {v}" for k, v in ws.items()),
        "",
        "| model | input | step | predicted step peak | measured step peak | predicted / measured "
        "| predicted peak | measured peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in doc["cases"]:
        step = "train (fwd+bwd)" if c["train"] else "inference"
        if "error" in c:
            lines.append(f"| {c['model']} | {c['input']} | {step} | **error** | - | - | - | - |")
            continue
        ratio = c["predicted_over_measured"]
        lines.append(
            f"| {c['model']} | {c['input']} | {step} "
            f"| {c['predicted']['step_peak_bytes'] / 2**20:.1f} MiB "
            f"| {c['measured']['step_peak_bytes'] / 2**20:.1f} MiB "
            f"| {'-' if ratio is None else f'{ratio:.3f}'} "
            f"| {_mib(c['predicted'].get('peak_bytes'))} | {_mib(c['measured'].get('peak_bytes'))} |"
        )
    return lines
