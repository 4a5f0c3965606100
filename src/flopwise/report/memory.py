"""Renderers of memory results (op-stream profiles and LLM closed forms). Render only:
every number comes from the result."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from flopwise.memory.result import CATEGORIES
from flopwise.report.plots_svg import PALETTE, Chart, Series

if TYPE_CHECKING:
    from flopwise.memory.llm import LLMMemory
    from flopwise.memory.result import MemoryProfile

GIB = 1024**3


def mib(n: float) -> str:
    """Bytes as MiB (or GiB past 10 GiB), with the exact byte count for small values."""
    if abs(n) >= 10 * GIB:
        return f"{n / GIB:.2f} GiB"
    if abs(n) >= 1024**2:
        return f"{n / 1024**2:.2f} MiB"
    return f"{int(n)} B"


def _render(*parts: Any) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=130, force_terminal=False, color_system=None)
    for part in parts:
        console.print(part)
    return buf.getvalue()


def memory_table(mp: MemoryProfile, depth: int = 2) -> str:
    """Header with the peak and where it happens, the breakdown at the peak, the fit
    verdict, and per-module columns."""
    mode = mp.mode
    lines = [
        f"{mp.model}: {mode.phase}"
        + (f" with {mode.optimizer}" if mode.optimizer else "")
        + (f", autocast {mode.amp}" if mode.amp else "")
        + (f", accumulating {mode.accumulate} micro-batches" if mode.accumulate > 1 else "")
        + (f", batch {mode.batch}" if mode.batch is not None else "")
        + f", {mode.tensors} tensors, allocator rounding {mp.granularity} B "
        f"({mode.allocator_device})",
        f"peak {mib(mp.peak_bytes)} ({mp.peak_bytes:,} bytes) at op #{mp.peak.position} "
        f"{mp.peak.op} in '{mp.peak.module_path or '(root)'}' ({mp.peak.phase}); "
        f"before the step {mib(mp.baseline_bytes)}",
    ]
    breakdown = Table(title="Live at the peak", box=None, show_header=True, header_style="bold")
    breakdown.add_column("Category")
    breakdown.add_column("Bytes", justify="right")
    breakdown.add_column("", justify="right")
    for cat, n in mp.peak.by_category.items():
        if n:
            breakdown.add_row(cat, f"{n:,}", mib(n))
    phases = "  ".join(f"{ph}: {mib(n)}" for ph, n in mp.phase_peaks.items())
    lines.append(f"peak per phase: {phases}")
    fit = mp.fit
    if fit:
        verdict = "fits" if fit.fits else "does NOT fit"
        lines.append(
            f"{verdict} on {fit.hardware} ({fit.capacity_bytes / 1e9:.1f} GB)"
            + (
                f"; largest batch that fits: {fit.largest_batch}"
                if fit.largest_batch is not None
                else ""
            )
        )
    measured = mp.measured
    if measured:
        lines.append(
            f"measured step peak {mib(measured.step_peak_bytes)} vs predicted "
            f"{mib(measured.predicted_step_peak_bytes)} "
            f"(difference {measured.difference_bytes:+,} bytes; {measured.method})"
        )
    ck = mp.checkpoint
    if ck:
        lines.append(
            f"checkpointing {', '.join(ck.modules)}: kept for backward "
            f"{mib(ck.saved_bytes_without)} → {mib(ck.saved_bytes_with)}, peak "
            f"{mib(ck.peak_bytes_without)} → {mib(ck.peak_bytes_with)}, "
            f"recomputes {ck.recompute_flops:,} FLOPs"
        )
    modules = Table(box=None, show_header=True, header_style="bold")
    modules.add_column("Module")
    modules.add_column("Type", style="dim")
    modules.add_column("Allocated", justify="right")
    modules.add_column("Kept for backward", justify="right")
    modules.add_column("Peak while running", justify="right")
    for m in mp.modules:
        if m.depth > depth:
            continue
        name = m.path.rsplit(".", 1)[-1] if m.path else "(root)"
        modules.add_row(
            "  " * m.depth + name,
            m.type,
            mib(m.allocated_bytes),
            mib(m.saved_bytes) if m.saved_bytes else "-",
            mib(m.peak_bytes),
        )
    return _render("\n".join(lines), breakdown, modules)


def peak_label(mp: MemoryProfile) -> str:
    """``peak 12.00 MiB at op #41 aten.mm.default in 'encoder.layer.3' (backward)``."""
    p = mp.peak
    return f"peak {mib(p.bytes)} at op #{p.position} {p.op} in '{p.module_path or '(root)'}'" + (
        f" ({p.phase})" if p.phase else ""
    )


def memory_timeline_chart(mp: MemoryProfile) -> Chart:
    """The live-bytes curve over the op sequence: one stacked area per category (blocks
    alive at each op, parameters at the bottom), the highest live total per op as a line,
    and the peak marked and labelled with its op and module. x is the op-record index."""
    if not mp.curve:
        return Chart("memory-timeline", "Memory timeline", empty="No ops were recorded.")
    bands = mp.curve_stacked()
    stacked = [
        Series(cat, list(enumerate(bands[cat])), "area", PALETTE[i % len(PALETTE)])
        for i, cat in enumerate(CATEGORIES)
        if cat in bands
    ]
    total = Series(
        "live total (highest while the op ran)", list(enumerate(mp.curve)), "line", "#000000"
    )
    peak = Series(
        "peak",
        [(max(mp.peak.position, 0), mp.peak.bytes)],
        "points",
        "#C00000",
        labels=[peak_label(mp)],
        annotate=True,
    )
    return Chart(
        "memory-timeline",
        f"Memory timeline: {mp.model} ({mp.mode.phase})",
        xlabel="op (record index)",
        ylabel="live bytes",
        yunit="B",
        # largest cumulative total first: each area paints over the one above it
        series=[*reversed(stacked), total, peak],
        caption="Stacked areas: bytes of each category's blocks alive at each op (a block "
        "born and freed inside one op counts at that op). Line: the highest live total while "
        f"the op ran, with kernel workspace. {peak_label(mp)}.",
    )


def llm_memory_table(mem: LLMMemory) -> str:
    """The LLM closed-form breakdown, per GPU."""
    from flopwise.memory.llm import TRAINING_SOURCES

    rows = Table(box=None, show_header=True, header_style="bold")
    rows.add_column("Per GPU")
    rows.add_column("Bytes", justify="right")
    rows.add_column("GB (1e9)", justify="right")
    head = [mem.model]
    sources: tuple[str, ...] = ()
    if mem.training is not None:
        t = mem.training
        head.append(
            f"training, {t.optimizer}{' mixed precision' if t.mixed_precision else ' fp32'}, "
            f"ZeRO stage {t.zero}, dp={t.dp} tp={t.tp} pp={t.pp}, micro-batch "
            f"{t.micro_batch} × {t.seq} tokens, recompute={t.recompute}, "
            f"{t.params:,} params"
        )
        items = ["weights", "gradients", "optimizer_state", "activations", "peak_bytes"]
        src: Any = t
        head.append(f"activations per layer: {t.activations_per_layer:,.0f} bytes")
        sources = TRAINING_SOURCES
    else:
        src = mem.inference
        head.append(f"inference ({src.dtype}), batch {src.batch}, context {src.context}")
        items = ["weights", "kv_cache", "activations", "peak_bytes"]
    for k in items:
        n = getattr(src, k)
        rows.add_row(k, f"{n:,.0f}", f"{n / 1e9:.2f}")
    fit = mem.fit
    if fit:
        head.append(
            f"{'fits' if fit.fits else 'does NOT fit'} on {fit.hardware} "
            f"({fit.capacity_bytes / 1e9:.1f} GB); largest (micro-)batch that fits: "
            f"{fit.largest_batch}"
        )
    head.extend(f"source: {s}" for s in sources)
    head.extend(f"note: {n}" for n in mem.notes)
    return _render("\n".join(head), rows)
