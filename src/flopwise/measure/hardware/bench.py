"""Micro-benchmarks that measure this machine's ceilings: GEMM FLOP/s per dtype, copy
bandwidth (DRAM and cache-sized), per-op dispatch overhead, and
:func:`measure_host_profile`, which runs them all in under a minute and returns a
:class:`~flopwise.measure.hardware.profiles.HardwareProfile` (not saved; see
:func:`~flopwise.measure.hardware.profiles.save_profile`).

Measured ceilings are the *best* sample (shortest time) of repeated runs: a ceiling is what
the machine can reach, and on a shared machine the median is dragged down by neighbours.
The median rates are kept in ``details`` alongside.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import socket
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from flopwise.measure.hardware.profiles import (
    HardwareProfile,
    device_name,
    dtype_key,
    host_profile_name,
    normalize_device,
)
from flopwise.measure.timing import check_device, make_timer, progress_bar

__all__ = [
    "BANDWIDTH_LADDER",
    "MEANINGFUL_FRACTION",
    "bandwidth_curve",
    "copy_bandwidth",
    "dispatch_overhead",
    "gemm_rate",
    "measure_host_profile",
]


def gemm_rate(
    dtype: torch.dtype,
    *,
    device: str = "cpu",
    budget_s: float = 5.0,
    max_n: int = 4096,
    target_call_s: float = 0.03,
    min_samples: int = 3,
    allow_tf32: bool = False,
) -> dict[str, Any]:
    """FLOP/s of a square ``n×n @ n×n`` matmul (2·n³ FLOPs) within ``budget_s``.

    Phase 1 (up to 40% of the budget) climbs n = 256, 512, ... taking the best of three
    calls at each size, until one call takes ``target_call_s`` (or ``max_n``). Phase 2
    samples the size with the best rate until the budget runs out. ``best_flops`` is the
    best rate of any sample: on a shared machine most samples are slowed by neighbours,
    so many short samples find the ceiling more reliably than a few long ones. Returns
    ``{"n", "best_flops", "median_flops", "samples_s", "rates_by_n", "dtype"}``.
    """
    timer = make_timer(device)
    start = time.perf_counter()
    prev_tf32 = None
    if device.startswith("cuda"):
        prev_tf32 = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = allow_tf32

    def operands(n: int):
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        return lambda: torch.mm(a, b)

    try:
        best_rate: dict[int, float] = {}
        calls: dict[int, Any] = {}
        samples_by_n: dict[int, list[float]] = {}
        n = 256
        while True:
            call = calls[n] = operands(n)
            timer(call, 1)  # warm-up at this size (allocation, kernel selection)
            times = []
            for _ in range(3):
                times.append(timer(call, 1))
                if time.perf_counter() - start > 0.4 * budget_s:
                    break
            samples_by_n[n] = times
            best_rate[n] = 2.0 * n**3 / min(times)
            spent = time.perf_counter() - start
            if min(times) >= target_call_s or n >= max_n or spent + 4 * min(times) > 0.4 * budget_s:
                break
            n *= 2
        n = max(best_rate, key=lambda k: (best_rate[k], k))
        call = calls[n]
        samples = samples_by_n[n]
        while len(samples) < min_samples or time.perf_counter() - start + min(samples) < budget_s:
            samples.append(timer(call, 1))
            if len(samples) >= 10_000:
                break
    finally:
        if prev_tf32 is not None:
            torch.backends.cuda.matmul.allow_tf32 = prev_tf32
    flops = 2.0 * n**3
    return {
        "dtype": dtype_key(dtype) if not allow_tf32 else "tfloat32",
        "n": n,
        "flops_per_call": int(flops),
        "best_flops": flops / min(samples),
        "median_flops": flops / statistics.median(samples),
        "worst_flops": flops / max(samples),
        "rates_by_n": {str(k): v for k, v in best_rate.items()},
        "samples_s": samples,
    }


def copy_bandwidth(
    *,
    device: str = "cpu",
    nbytes: int | None = None,
    budget_s: float = 5.0,
    min_samples: int = 5,
) -> dict[str, Any]:
    """Bandwidth of ``dst.copy_(src)`` on a large float32 buffer, counting read + write bytes.

    The buffer defaults to 128 MiB on CPU (well past any last-level cache) and 512 MiB on
    a GPU. Returns ``{"nbytes", "best_bytes_per_s", "median_bytes_per_s", "samples_s"}``.
    """
    if nbytes is None:
        nbytes = (512 if device.startswith("cuda") else 128) * 2**20
    numel = max(1, nbytes // 4)
    timer = make_timer(device)
    src = torch.ones(numel, device=device)
    dst = torch.empty(numel, device=device)

    def call():
        dst.copy_(src)

    start = time.perf_counter()
    first = min(timer(call, 1), timer(call, 1))
    number = max(1, math.ceil(1e-3 / first)) if first > 0 else 100  # samples >= 1 ms
    samples: list[float] = []
    while len(samples) < min_samples or time.perf_counter() - start < budget_s:
        samples.append(timer(call, number))
        if len(samples) >= 10_000:
            break
    moved = 2.0 * numel * 4
    return {
        "nbytes": numel * 4,
        "calls_per_sample": number,
        "bytes_moved_per_call": int(moved),
        "best_bytes_per_s": moved / min(samples),
        "median_bytes_per_s": moved / statistics.median(samples),
        "worst_bytes_per_s": moved / max(samples),
        "samples_s": samples,
    }


#: Buffer sizes of the cache-level bandwidth ladder (each of src and dst); the large
#: DRAM-sized copy of :func:`copy_bandwidth` is the last point.
BANDWIDTH_LADDER = (256 * 2**10, 1 * 2**20, 4 * 2**20, 16 * 2**20)


def bandwidth_curve(
    *, device: str = "cpu", sizes: Iterable[int] = BANDWIDTH_LADDER, budget_s: float = 2.0
) -> list[list[float]]:
    """Copy bandwidth at cache-sized buffers: ``[[bytes moved per copy, best bytes/s], ...]``.

    Data that fits a cache moves faster than the DRAM figure, so an op whose traffic fits
    can legitimately beat a DRAM-bandwidth floor; :meth:`HardwareProfile.bandwidth_for`
    uses this curve to keep the floor a true lower bound (a cache-aware roofline).
    """
    sizes = list(sizes)
    out = []
    for size in sizes:
        res = copy_bandwidth(
            device=device, nbytes=size, budget_s=budget_s / max(1, len(sizes)), min_samples=5
        )
        out.append([float(res["bytes_moved_per_call"]), res["best_bytes_per_s"]])
    return out


def dispatch_overhead(
    *, device: str = "cpu", budget_s: float = 1.0, calls_per_sample: int = 200
) -> dict[str, Any]:
    """Per-op dispatch (CPU) or launch (CUDA) overhead: time of ``a + b`` on 1-element
    tensors, median over batches of ``calls_per_sample`` calls."""
    timer = make_timer(device)
    a = torch.ones(1, device=device)
    b = torch.ones(1, device=device)

    def call():
        return a + b

    timer(call, calls_per_sample)
    start = time.perf_counter()
    samples: list[float] = []
    while len(samples) < 5 or time.perf_counter() - start < budget_s:
        samples.append(timer(call, calls_per_sample))
        if len(samples) >= 10_000:
            break
    return {
        "op": "aten.add.Tensor on 1 element",
        "median_s": statistics.median(samples),
        "best_s": min(samples),
        "samples_s": samples,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _candidate_dtypes(device: str) -> list[tuple[str, torch.dtype, bool]]:
    out = [("float32", torch.float32, False)]
    if device.startswith("cuda"):
        major, _ = torch.cuda.get_device_capability(torch.device(device))
        if major >= 8:
            out.append(("tfloat32", torch.float32, True))
        if torch.cuda.is_bf16_supported():
            out.append(("bfloat16", torch.bfloat16, False))
        out.append(("float16", torch.float16, False))
    else:
        out.append(("bfloat16", torch.bfloat16, False))
        out.append(("float16", torch.float16, False))
    return out


#: A dtype whose GEMM reaches less than this fraction of float32 is recorded as skipped:
#: it is emulated, and a "peak" for it would only mislead.
MEANINGFUL_FRACTION = 0.10


def measure_host_profile(
    time_budget_s: float = 60.0,
    *,
    device: str = "cpu",
    dtypes: Iterable[str] | None = None,
    progress: bool = True,
    copy_bytes: int | None = None,
) -> HardwareProfile:
    """Measure this machine's ceilings in about ``time_budget_s`` seconds.

    - GEMM FLOP/s for each dtype the device supports (float32 always; bfloat16 and
      float16, and tfloat32 on Ampere+ GPUs). A dtype slower than
      :data:`MEANINGFUL_FRACTION` of float32 (emulated, e.g. float16 on most CPUs) is left
      out of ``peak_flops`` and listed under ``details["skipped"]``.
    - Memory bandwidth from a large copy (read + write bytes).
    - Per-op dispatch overhead from a tiny op (``launch_overhead_s``).

    The budget splits as float32 GEMM 35%, other dtypes 30% (float32 takes both when it is
    the only dtype), copies 25%, dispatch 5%.
    The profile is returned, not saved (see :func:`save_profile`).
    """
    device = normalize_device(check_device(device))
    candidates, shares = _gemm_plan(device, dtypes)
    started = time.perf_counter()
    details = _host_details(device, time_budget_s)
    with progress_bar("measuring ceilings", time_budget_s, progress) as advance:

        def tick(stage: str) -> None:
            advance(
                0,
                completed=min(time.perf_counter() - started, time_budget_s),
                description=f"measuring {stage}",
            )

        peaks = _measure_gemms(device, candidates, shares, time_budget_s, details, tick)
        bw = _measure_bandwidth(device, copy_bytes, time_budget_s, details, tick)
        tick("dispatch overhead")
        ov = dispatch_overhead(device=device, budget_s=max(0.2, 0.05 * time_budget_s))
        details["dispatch"] = {k: v for k, v in ov.items() if k != "samples_s"}
        tick("done")
    details["elapsed_s"] = time.perf_counter() - started
    details["warnings"] = _busy_warnings(details)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    what = details.get("gpu_model") or details["cpu_model"]
    return HardwareProfile(
        name=host_profile_name(device),
        kind="gpu" if device.startswith("cuda") else "cpu",
        peak_flops=peaks,
        sparse_peak_flops={},
        memory_bandwidth=bw["best_bytes_per_s"],
        memory_bytes=_memory_bytes(device),
        launch_overhead_s=ov["median_s"],
        idle_power_w=None,
        peak_power_w=None,
        source=(
            f"measured on {details['host']} {stamp} ({what}, {details['threads']} threads, "
            f"torch {torch.__version__})"
        ),
        alpha=None,
        details=details,
    )


#: A GEMM candidate: (peak_flops key, dtype the operands have, whether TF32 is allowed).
Candidate = tuple[str, torch.dtype, bool]


def _gemm_plan(
    device: str, dtypes: Iterable[str] | None
) -> tuple[list[Candidate], dict[str, float]]:
    """The dtypes to time (float32 always, as the reference rate) and each one's share of
    the budget: float32 35%, the others 30% between them (float32 65% when alone)."""
    wanted = {dtype_key(d) for d in dtypes} if dtypes is not None else None
    candidates = [c for c in _candidate_dtypes(device) if wanted is None or c[0] in wanted]
    if not any(c[0] == "float32" for c in candidates):
        candidates.insert(0, ("float32", torch.float32, False))  # the reference rate
    others = len(candidates) - 1
    shares = {"float32": 0.35 if others else 0.65}
    for key, _, _ in candidates:
        if key != "float32":
            shares[key] = 0.30 / others
    return candidates, shares


def _host_details(device: str, time_budget_s: float) -> dict[str, Any]:
    """What a measured profile records about the setup it was measured on."""
    details: dict[str, Any] = {
        "measured": True,
        "device": device,
        "host": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "budget_s": time_budget_s,
        "gemm": {},
        "skipped": {},
    }
    if device.startswith("cuda"):
        details["gpu_model"] = device_name(device)
    return details


def _measure_gemms(
    device: str,
    candidates: list[Candidate],
    shares: dict[str, float],
    time_budget_s: float,
    details: dict[str, Any],
    tick: Callable[[str], None],
) -> dict[str, float]:
    """Peak FLOP/s per dtype (float32 first); records each GEMM in ``details["gemm"]`` and
    each dtype left out (unsupported, or too slow to be anything but emulated) in
    ``details["skipped"]``."""
    peaks: dict[str, float] = {}
    for key, dt, tf32 in candidates:
        tick(f"{key} GEMM")
        try:
            res = gemm_rate(
                dt,
                device=device,
                budget_s=shares[key] * time_budget_s,
                allow_tf32=tf32,
                max_n=8192 if device.startswith("cuda") else 4096,
            )
        except (RuntimeError, TypeError) as exc:  # dtype not implemented on this device
            details["skipped"][key] = f"not supported: {str(exc).splitlines()[0][:120]}"
            continue
        res = {**res, "dtype": key}
        details["gemm"][key] = {k: v for k, v in res.items() if k != "samples_s"}
        details["gemm"][key]["samples"] = len(res["samples_s"])
        ref = peaks.get("float32")
        if key != "float32" and ref and res["best_flops"] < MEANINGFUL_FRACTION * ref:
            details["skipped"][key] = (
                f"too slow to be meaningful ({res['best_flops'] / 1e9:.3g} GFLOP/s at "
                f"n={res['n']}, < {MEANINGFUL_FRACTION:.0%} of float32; emulated)"
            )
            continue
        peaks[key] = res["best_flops"]
    return peaks


def _measure_bandwidth(
    device: str,
    copy_bytes: int | None,
    time_budget_s: float,
    details: dict[str, Any],
    tick: Callable[[str], None],
) -> dict[str, Any]:
    """The large copy's bandwidth (returned, and in ``details["copy"]``) and the cache-sized
    curve ending with it (``details["bandwidth_curve"]``)."""
    tick("copy bandwidth")
    bw = copy_bandwidth(device=device, nbytes=copy_bytes, budget_s=0.17 * time_budget_s)
    details["copy"] = {k: v for k, v in bw.items() if k != "samples_s"}
    details["copy"]["samples"] = len(bw["samples_s"])
    # Also on a GPU: an op whose tensors sit in L2 (tens of MB) beats a DRAM floor.
    tick("cache bandwidth")
    curve = bandwidth_curve(device=device, budget_s=0.08 * time_budget_s)
    curve.append([float(bw["bytes_moved_per_call"]), bw["best_bytes_per_s"]])
    details["bandwidth_curve"] = curve
    return bw


#: Best sample this many times faster than the median: the machine was busy.
BUSY_RATIO = 1.5


def _busy_warnings(details: dict[str, Any]) -> list[str]:
    """Stages whose median is far below their best sample (a busy or throttled machine:
    the best is still the ceiling estimate, but it may be low)."""
    out = []
    stages = [(f"{k} GEMM", v["best_flops"], v["median_flops"]) for k, v in details["gemm"].items()]
    if "copy" in details:
        c = details["copy"]
        stages.append(("copy", c["best_bytes_per_s"], c["median_bytes_per_s"]))
    for name, best, median in stages:
        if median > 0 and best / median > BUSY_RATIO:
            out.append(
                f"{name}: best sample {best / median:.1f}x the median; the machine was busy, "
                "ceilings may be underestimated (re-run when idle)"
            )
    return out


def _memory_bytes(device: str) -> int | None:
    if device.startswith("cuda"):
        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
