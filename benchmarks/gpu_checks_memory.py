"""GPU check (issue 14): ``flopwise memory``'s prediction against the CUDA caching
allocator's measured peak, with PyTorch's MemTracker measured on the same step.

A section of the shared GPU script (benchmarks/gpu_check.py calls :func:`check_memory`).
For issue 14's models (:data:`MODELS`: torchvision resnet18, resnet50, mobilenet_v2 and
vit_b_16 at 224x224, HF bert-base and gpt2 built from their built-in configs with random
weights at 128 tokens), inference and training (forward + backward, no optimizer), batch 1
and 32, float32:

- predicted: :func:`flopwise.pipeline.run_memory` on meta tensors with the H200 profile as
  the allocator (CUDA rounding, 512 bytes), as ``flopwise memory MODEL -i ... [--train]
  --hardware nvidia-h200-sxm-141gb`` computes it;
- measured: the same step (:func:`flopwise.memory.trace.prepared` and ``run_step``) on real
  CUDA tensors after one warm-up step (so the cuBLAS workspace, allocated once per handle,
  is held before the step, as in a steady-state loop): ``torch.cuda.max_memory_allocated()``
  after ``reset_peak_memory_stats()``, above ``memory_allocated()`` just before the step
  (the step peak), and the absolute peak;
- MemTracker: ``torch.distributed._tools.mem_tracker.MemTracker`` (a dispatch mode that
  tracks live storages, CUDA sizes rounded to 512 bytes) around that same measured step,
  with the module, its parameters and buffers and the inputs registered by
  ``track_external``: its peak snapshot (total and per category) beside the allocator's
  absolute peak.

Acceptance: predicted step peak within 5% or 8 MiB (the larger) of the measured one. The
workspace settings are pinned (``CUBLAS_WORKSPACE_CONFIG`` set by gpu_check.py before CUDA
starts, cuDNN benchmark off) and written beside the figures; flopwise models no CUDA kernel
workspace (memory/workspace.py: CPU convolution only), so scratch shows up as measured
minus predicted. Cases run batch 1 first; a case not started within
:data:`TIME_BUDGET_S` is recorded as skipped (said in the results), never given figures.
Writes ``memory.json`` and ``memory_<device>.md`` in the result folder (gpu_check.py copies
the latter into benchmarks/results on CUDA). ``device="cpu"`` is a dry run (resnet18 at 64x64
and hf:tiny-bert at 32 tokens, batch 1 and 2, CPU allocator via the profiler; MemTracker on a separate
step, since the CPU measurement is ``memory --measure``'s own).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

#: The allocator the prediction assumes on the GPU (a registry profile of kind gpu).
GPU_PROFILE = "nvidia-h200-sxm-141gb"
#: The cuBLAS workspace gpu_check.py pins before CUDA starts (4096 KiB x 8 per handle).
PINNED_CUBLAS_WORKSPACE = ":4096:8"
#: Issue 14's models: (spec, input with ``{b}`` for the batch).
MODELS: tuple[tuple[str, str], ...] = (
    ("torchvision:resnet18", "{b}x3x224x224"),
    ("torchvision:resnet50", "{b}x3x224x224"),
    ("torchvision:mobilenet_v2", "{b}x3x224x224"),
    ("torchvision:vit_b_16", "{b}x3x224x224"),
    ("hf:bert-base-uncased", "input_ids={b}x128:int64"),
    ("hf:gpt2", "input_ids={b}x128:int64"),
)
#: The dry run's models (CPU, seconds): a small CNN and a small transformer.
DRY_MODELS: tuple[tuple[str, str], ...] = (
    ("torchvision:resnet18", "{b}x3x64x64"),
    ("hf:tiny-bert", "input_ids={b}x32:int64"),
)
#: Seconds after which no further case is started (the section's share of the script).
TIME_BUDGET_S = 300.0
#: Acceptance: |predicted - measured| step peak within this fraction or these bytes.
REL_TOL, ABS_TOL = 0.05, 8 * 2**20


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
        "CUBLASLT_WORKSPACE_SIZE": os.environ.get("CUBLASLT_WORKSPACE_SIZE"),
        "PYTORCH_CUDA_ALLOC_CONF": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
        "predicted_workspace": "none modelled on CUDA (flopwise.memory.workspace: CPU "
        "float32 convolution scratch only)",
    }


@contextlib.contextmanager
def pinned_cudnn() -> Iterator[None]:
    """cuDNN benchmark off (no autotuning: the kernel, and so its workspace, is chosen
    the same way on every run) while the cases run; the previous value is restored."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _memtracker(run: dict[str, Any]) -> Any:
    """A MemTracker with the step's module (parameters, buffers) and inputs registered:
    what existed before the step is in its figures, as it is in the allocator's."""
    from torch.distributed._tools.mem_tracker import MemTracker
    from torch.utils._pytree import tree_leaves

    tracker = MemTracker()
    inputs = [t for t in tree_leaves((run["args"], run["kwargs"])) if isinstance(t, torch.Tensor)]
    tracker.track_external(run["module"], *inputs)
    return tracker


def _tracker_peak(tracker: Any, device_type: str) -> dict[str, Any]:
    """MemTracker's peak snapshot on ``device_type``: its total and each category."""
    for dev, snap in tracker.get_tracker_snapshot("peak").items():
        if torch.device(dev).type == device_type:
            # keys are str enums (_MemRefType.PARAM == "Parameter"): written as their values
            breakdown = {getattr(k, "value", str(k)): v for k, v in snap.items()}
            return {"peak_total_bytes": breakdown["Total"], "peak_breakdown": breakdown}
    return {"error": f"MemTracker saw no {device_type} memory"}


def _warm_up(run: dict[str, Any], train: bool) -> None:
    """One untraced step (cuBLAS handles and workspaces exist afterwards, as in a loop),
    then the gradients dropped so the measured step starts as the predicted one does."""
    from flopwise.memory.trace import run_step

    run_step(run["call"], run["args"], run["kwargs"], train=train, optimizer=run["optimizer"])
    for p in run["params"]:
        p.grad = None


def cuda_step_peak(
    model: Any, args: tuple, kwargs: dict, train: bool
) -> tuple[dict[str, int], dict[str, Any]]:
    """The CUDA allocator's peak over one step as flopwise accounts it (after a warm-up
    step), absolute and above what was allocated just before the step, and MemTracker's
    peak over that same step (or its error: the allocator's figures stand without it)."""
    from flopwise.memory.trace import prepared, run_step

    with prepared(model, args, dict(kwargs), train=train, optimizer=None, tensors="real") as run:
        _warm_up(run, train)
        tracked: dict[str, Any] | None = None
        try:
            tracker: Any = _memtracker(run)
        except Exception as exc:  # e.g. a torch without torch.distributed
            tracker, tracked = contextlib.nullcontext(), {"error": f"{type(exc).__name__}: {exc}"}
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        with tracker:
            step = (run["call"], run["args"], run["kwargs"])
            run_step(*step, train=train, optimizer=run["optimizer"])
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        if tracked is None:
            tracked = _tracker_peak(tracker, "cuda")
    return {"peak_bytes": peak, "before_bytes": before, "step_peak_bytes": peak - before}, tracked


def cpu_memtracker_peak(model: Any, args: tuple, kwargs: dict, train: bool) -> dict[str, Any]:
    """MemTracker's peak over one CPU step (the dry run's: a step of its own)."""
    from flopwise.memory.trace import prepared, run_step

    with prepared(model, args, dict(kwargs), train=train, optimizer=None, tensors="real") as run:
        _warm_up(run, train)
        tracker = _memtracker(run)
        with tracker:
            run_step(run["call"], run["args"], run["kwargs"], train=train, optimizer=None)
        return _tracker_peak(tracker, "cpu")


def within_tolerance(predicted: int, measured: int) -> bool:
    """Issue 14's acceptance: within 5% or 8 MiB of the measured peak, the larger."""
    return abs(predicted - measured) <= max(REL_TOL * measured, ABS_TOL)


def _case(spec: str, shape: str, train: bool, gpu: bool) -> dict[str, Any]:
    """One configuration: predicted and measured step peaks, their ratio, MemTracker."""
    from flopwise.pipeline import run_memory
    from flopwise.pipeline.profile import load

    if gpu:
        mp = run_memory(
            spec, [shape], device="meta", train=train, hardware=GPU_PROFILE, search=False
        )
        model, args, kwargs, _ = load(spec, [shape], "cuda", "float32")
        measured, tracker = cuda_step_peak(model, args, kwargs, train)
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
        model, args, kwargs, _ = load(spec, [shape], "cpu", "float32")
        tracker = cpu_memtracker_peak(model, args, kwargs, train)
    pred, meas = predicted["step_peak_bytes"], measured["step_peak_bytes"]
    return {
        "model": spec,
        "input": shape,
        "train": train,
        "predicted": predicted,
        "measured": measured,
        "predicted_over_measured": pred / meas if meas else None,
        "within_5pct_or_8mib": within_tolerance(pred, meas),
        "memtracker": tracker,
        "method": method,
    }


def _cases(gpu: bool) -> list[tuple[str, str, bool]]:
    """(spec, input, train) in running order: every batch-1 case before any larger one."""
    models = MODELS if gpu else DRY_MODELS
    return [
        (spec, shape.format(b=batch), train)
        for batch in ((1, 32) if gpu else (1, 2))
        for spec, shape in models
        for train in (False, True)
    ]


def check_memory(
    out_dir: Path, device: str = "cuda", budget_s: float = TIME_BUDGET_S
) -> dict[str, Any]:
    """Run every configuration on ``device`` (none started after ``budget_s`` seconds);
    returns (and writes ``memory.json`` and ``memory_<device>.md``) the document. A failed
    configuration is recorded with its error, a skipped one as skipped, never with figures."""
    gpu = device == "cuda"
    started = time.perf_counter()
    cases, problems = [], []
    with pinned_cudnn():
        settings = workspace_settings()
        for spec, shape, train in _cases(gpu):
            head = {"model": spec, "input": shape, "train": train}
            if time.perf_counter() - started > budget_s:
                cases.append({**head, "skipped": f"not started: past the {budget_s:g} s budget"})
                continue
            try:
                cases.append(_case(spec, shape, train, gpu))
            except Exception as exc:
                cases.append({**head, "error": traceback.format_exc()[-2000:]})
                problems.append(f"{spec} {shape} train={train}: {type(exc).__name__}: {exc}")
                continue
            if gpu and not cases[-1]["within_5pct_or_8mib"]:
                problems.append(f"{spec} {shape} train={train}: outside 5% / 8 MiB")
    doc = {
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "torch": torch.__version__,
        "when": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "allocator_profile": GPU_PROFILE if gpu else "cpu",
        "dtype": "float32",
        "workspace_settings": settings,
        "budget_s": budget_s,
        "seconds": round(time.perf_counter() - started, 1),
        "cases": cases,
        "problems": problems,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "memory.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (out_dir / results_name(doc)).write_text(results_file(doc))
    return doc


def results_name(doc: dict[str, Any]) -> str:
    """``memory_<device>.md``: ``NVIDIA H200`` → ``memory_nvidia_h200.md``."""
    import re

    return f"memory_{re.sub(r'[^A-Za-z0-9]+', '_', doc['device']).strip('_').lower()}.md"


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f} MiB"


def _tracker_cell(tracked: dict[str, Any]) -> str:
    if "error" in tracked:
        return f"error: {tracked['error']}"
    parts = [f"{k} {_mib(v)}" for k, v in tracked["peak_breakdown"].items() if k != "Total" and v]
    return f"{_mib(tracked['peak_total_bytes'])} ({', '.join(parts)})"


def markdown(doc: dict[str, Any]) -> list[str]:
    """The results-file lines of this section (figures from ``doc`` only)."""
    ws = doc["workspace_settings"]
    lines = [
        "- workspace settings: " + ", ".join(f"{k} {v}" for k, v in ws.items()),
        "- acceptance: predicted step peak within 5% or 8 MiB (the larger) of the measured",
        "",
        "| model | input | step | predicted step peak | measured step peak | predicted / measured "
        "| within 5% / 8 MiB | predicted peak | measured peak | MemTracker peak |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in doc["cases"]:
        step = "train (fwd+bwd)" if c["train"] else "inference"
        first = f"| {c['model']} | {c['input']} | {step} "
        if "error" in c or "skipped" in c:
            what = "**error** (memory.json)" if "error" in c else f"skipped: {c['skipped']}"
            lines.append(first + f"| {what} | - | - | - | - | - | - |")
            continue
        ratio = c["predicted_over_measured"]
        lines.append(
            first + f"| {_mib(c['predicted']['step_peak_bytes'])} "
            f"| {_mib(c['measured']['step_peak_bytes'])} "
            f"| {'-' if ratio is None else f'{ratio:.3f}'} "
            f"| {'yes' if c['within_5pct_or_8mib'] else '**no**'} "
            f"| {_mib(c['predicted'].get('peak_bytes'))} | {_mib(c['measured'].get('peak_bytes'))} "
            f"| {_tracker_cell(c['memtracker'])} |"
        )
    return lines


def results_file(doc: dict[str, Any]) -> str:
    """``memory_<device>.md``: what was run, how, and the figures of ``doc`` only."""
    gpu = doc["allocator_profile"] != "cpu"
    lines = [
        f"# Memory: predicted vs measured peak, {doc['device']}" + ("" if gpu else " (dry run)"),
        "",
        f"- when: {doc['when']}; torch {doc['torch']}; {doc['dtype']}; command: "
        "`PYTHONPATH=src python3 benchmarks/gpu_check.py --only memory --out $OUT`",
        "- predicted: `flopwise memory` on meta tensors"
        + (f" with the {doc['allocator_profile']} allocator (512-byte rounding)" if gpu else ""),
        "- measured: "
        + (
            "torch.cuda.max_memory_allocated over one step after a warm-up step (step peak: "
            "above memory_allocated just before it); MemTracker "
            "(torch.distributed._tools.mem_tracker) around that same step, module and "
            "inputs registered with track_external"
            if gpu
            else "the CPU allocator's events (memory --measure); MemTracker on a separate step"
        ),
        "- training = forward + backward, no optimizer; the time budget and any skipped "
        f"case are stated ({doc['seconds']} s of {doc['budget_s']:g} s)",
        *(f"- problem: {p}" for p in doc["problems"]),
    ]
    return "\n".join(lines + [""] + markdown(doc)) + "\n"
