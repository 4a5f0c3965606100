"""Renderers of ``flopwise hardware``: the profiles list, one profile's ceilings, the JSON of
either, and the line saying where a measurement was saved. They only format what the
profiles hold (``flopwise.measure.hardware.HardwareProfile``, duck-typed here so this layer
imports nothing from measure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table

from flopwise.jsonout import dumps
from flopwise.units import seconds, si

__all__ = [
    "nbytes",
    "profile_json",
    "profile_table",
    "profiles_json",
    "profiles_table",
    "rate",
    "saved_line",
]

#: Dtype rows of :func:`profile_table`, in this order.
DTYPE_ROWS = ("float64", "float32", "tfloat32", "bfloat16", "float16", "float8", "int8")


def profiles_json(profiles: Iterable[Any]) -> str:
    """The profiles as one JSON array (each the profile's own file format)."""
    return dumps([p.to_dict() for p in profiles])


def profile_json(profile: Any) -> str:
    """One profile as JSON, in its file format."""
    return profile.to_json()


def saved_line(measurement: Any) -> str | None:
    """Where a measurement (``flopwise.pipeline.HostMeasurement``) was saved and the name
    ``--hardware`` knows it by; None when it was not saved."""
    if measurement.path is None:
        return None
    n = measurement.measurements
    merged = f"; best of {n} measurements kept" if n > 1 else ""
    name, dev = measurement.name, measurement.device
    used = "host" if name == "host" else f"{name}, and as host when measuring on {dev}"
    return f"saved to {measurement.path} (used as --hardware {used}{merged})"


def rate(value: float | None, unit: str) -> str:
    """``1.24e11, "FLOP/s"`` → ``124 GFLOP/s``; picks G or T (M for small), 3 digits."""
    return si(value, unit, kilo="k", tidy=False, missing="-")


def nbytes(value: float | None) -> str:
    """``1.5 * 2**30`` → ``1.5 GiB``; binary prefixes, 3 digits."""
    if value is None:
        return "-"
    for scale, prefix in ((2**40, "Ti"), (2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki")):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}B"
    return f"{value:.0f} B"


def _num(value: float | None, scale: float) -> str:
    if value is None:
        return "-"
    v = value / scale
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def profiles_table(profiles: Iterable[Any]) -> Table:
    """The profiles list: dense peaks of the common dtypes, bandwidth, memory, power."""
    table = Table(
        title="hardware profiles: dense peak TFLOP/s, bandwidth GB/s, memory GiB, power W",
        caption="sources, sparse and other dtypes: flopwise hardware --show NAME",
    )
    table.add_column("name", overflow="fold")
    table.add_column("kind", no_wrap=True)
    for header in ("fp32", "bf16", "fp8", "GB/s", "GiB", "W"):
        table.add_column(header, justify="right", no_wrap=True)
    for p in profiles:
        peaks = p.peak_flops
        gpu = (p.details or {}).get("gpu_model")  # host:cuda:N names no model by itself
        table.add_row(
            f"{p.name} ({gpu})" if gpu else p.name,
            p.kind,
            _num(peaks.get("float32"), 1e12),
            _num(peaks.get("bfloat16"), 1e12),
            _num(peaks.get("float8"), 1e12),
            _num(p.memory_bandwidth, 1e9),
            _num(p.memory_bytes, 2**30),
            _num(p.peak_power_w, 1),
        )
    return table


def profile_table(p: Any) -> Table:
    """One profile as a table: each dtype's dense/sparse peak, bandwidth(s), overhead."""
    d = p.details or {}
    table = Table(title=f"{p.name} ({p.kind})", caption=p.source)
    table.add_column("ceiling")
    table.add_column("value", justify="right")
    table.add_column("notes", overflow="fold")
    gemm = d.get("gemm", {})
    for key in DTYPE_ROWS:
        dense = p.peak_flops.get(key)
        sparse = p.sparse_peak_flops.get(key)
        if dense is None and key not in d.get("skipped", {}):
            continue
        unit = "OP/s" if key == "int8" else "FLOP/s"
        note = []
        if key in gemm:
            g = gemm[key]
            note.append(
                f"{g['n']}x{g['n']} matmul, best of {g.get('samples', '?')}; "
                f"median {rate(g['median_flops'], unit)}"
            )
        if sparse:
            note.append(f"2:4 sparse {rate(sparse, unit)}")
        if key in d.get("skipped", {}):
            note.append(d["skipped"][key])
        table.add_row(f"{key} peak", rate(dense, unit), "; ".join(note))
    copy = d.get("copy")
    note = ""
    if copy:
        note = (
            f"copy of {nbytes(copy['nbytes'])} (read + write), best of {copy.get('samples', '?')}"
            f"; median {rate(copy['median_bytes_per_s'], 'B/s')}"
        )
    table.add_row("memory bandwidth", rate(p.memory_bandwidth, "B/s"), note)
    for level in p.cache_copies():
        note = (
            f"{nbytes(level.buffer_bytes)} buffers: the roofline bandwidth for ops moving this much"
        )
        if level.disturbed:
            note += (
                f" (measured {rate(level.measured_bytes_per_s, 'B/s')}, disturbed; "
                "a larger copy's figure is used)"
            )
        table.add_row("  cache-sized copy", rate(level.bytes_per_s, "B/s"), note)
    if p.launch_overhead_s is not None:
        disp = d.get("dispatch", {})
        table.add_row(
            "dispatch overhead",
            seconds(p.launch_overhead_s, finest="µs", missing="-"),
            f"median per op of {disp.get('op', 'a tiny op')}",
        )
    if p.memory_bytes:
        table.add_row("memory", nbytes(p.memory_bytes), "")
    if p.idle_power_w or p.peak_power_w:
        table.add_row(
            "power",
            f"{p.peak_power_w:.0f} W" if p.peak_power_w else "-",
            f"idle {p.idle_power_w:.0f} W" if p.idle_power_w else "peak (TDP/TGP)",
        )
    if "float32" in p.peak_flops:
        table.add_row(
            "ridge point (float32)",
            f"{p.ridge_point('float32'):.3g} FLOP/B",
            "ops below this intensity are memory-bound",
        )
    if d.get("threads"):
        table.add_row("threads", str(d["threads"]), f"torch {d.get('torch', '?')}")
    if d.get("elapsed_s"):
        table.add_row(
            "measured in",
            seconds(d["elapsed_s"], finest="µs", missing="-"),
            f"budget {d.get('budget_s')} s",
        )
    return table
