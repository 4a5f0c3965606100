"""``flopwise predict`` as text: the prediction's tables and the one-line summary of a
calibration (rendering only; the numbers are :mod:`flopwise.pipeline.predict`'s)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from flopwise.report.console import table_width
from flopwise.report.device import describe_device
from flopwise.units import seconds, si

__all__ = ["describe_calibration", "prediction_table"]


def describe_calibration(doc: dict[str, Any], path: Path) -> str:
    """One paragraph on a calibration document: how many runs of how many models, where
    they were timed, the leave-one-model-out error against the FLOPs-only baseline, and
    where it was saved, then its warnings."""
    cv = doc["cross_validation"]
    base = doc["flops_baseline"]
    warn = "".join(f"\nwarning: {w}" for w in doc.get("warnings", []))
    where = describe_device(doc["device"]) if "device" in doc else "cpu"
    if doc.get("threads") is not None:
        where += f", {doc['threads']} threads"
    if doc.get("dtype", "float32") != "float32":  # float32 keeps the line it always had
        where += f", {doc['dtype'] or 'mixed dtypes'}"
    if doc.get("campaign"):
        where += f", timings of campaign {doc['campaign']['name']}"
    return (
        f"calibrated on {len(doc['samples'])} runs of {cv['folds']} models "
        f"({where}); "
        f"leave-one-model-out error: MAPE {cv['mape']:.1%}, Spearman {cv['spearman']:.3f} "
        f"(FLOPs-only baseline: MAPE {base['mape']:.1%}, Spearman {base['spearman']:.3f}); "
        f"saved to {path}" + warn
    )


def _head(result: Any) -> Table:
    ins = ", ".join(
        f"{d.get('name')}={'x'.join(str(s) for s in d.get('shape', []))}:{d.get('dtype')}"
        for d in result.inputs
    )
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold")
    head.add_column()
    head.add_row("model", result.model)
    head.add_row("inputs", ins)
    head.add_row("hardware", f"{result.hardware['name']} ({result.hardware['source']})")
    head.add_row("method", result.method)
    head.add_row("predicted latency", f"[bold]{seconds(result.predicted_s)}[/bold]")
    head.add_row("roofline floor", seconds(result.roofline_floor_s))
    head.add_row(
        "work",
        f"{si(result.flops, 'FLOPs')}, {si(result.bytes, 'B')} moved (unfused), {result.ops} ops",
    )
    cv = result.cross_validation or result.cross_validation_host
    if cv:
        head.add_row(
            "cross-validated error",
            f"MAPE {cv['mape']:.1%}, worst {cv['max_ape']:.1%}, Spearman {cv['spearman']:.3f} "
            f"(leave-one-model-out over {cv['n']} runs of {cv['folds']} models)",
        )
    return head


def _by_class(result: Any) -> Table:
    table = Table(title="predicted time by op class", title_justify="left")
    for col in ("class", "ops", "memory-bound ops", "time", "share"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for cls, v in sorted(result.by_class.items(), key=lambda kv: -kv[1]["seconds"]):
        table.add_row(
            cls,
            str(v["ops"]),
            str(v["memory_bound_ops"]),
            seconds(v["seconds"]),
            f"{result.class_share[cls]:.1%}",
        )
    return table


def prediction_table(result: Any) -> str:
    """A :class:`~flopwise.pipeline.predict.LatencyPrediction` as rich tables: the summary,
    time by op class, the top modules and the notes. Every figure, the shares included
    (``class_share``, ``module_share``), is the prediction's own."""
    console = Console(record=True, width=table_width(110), file=io.StringIO())
    console.print(_head(result))
    console.print(_by_class(result))
    mods = sorted(result.by_module.items(), key=lambda kv: -kv[1])[:8]
    if mods:
        mt = Table(title="top modules (depth 1)", title_justify="left")
        mt.add_column("module")
        mt.add_column("time", justify="right")
        mt.add_column("share", justify="right")
        for path, t in mods:
            mt.add_row(path, seconds(t), f"{result.module_share[path]:.1%}")
        console.print(mt)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    return console.export_text()
