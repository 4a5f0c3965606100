"""``flopwise hardware``: measure this machine's ceilings, or list/show hardware profiles."""

from __future__ import annotations

import sys
from enum import Enum

import typer

from flopwise.commands._options import seconds_budget
from flopwise.errors import FlopwiseError
from flopwise.jsonout import dumps
from flopwise.measure.timing import format_seconds


class HardwareFormat(str, Enum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("hardware")(hardware_command)


def hardware_command(
    budget: float | None = typer.Option(
        None,
        "--budget",
        help="Seconds to spend measuring (the measurement fits in it) [default: 45]",
        callback=seconds_budget,
    ),
    list_: bool = typer.Option(False, "--list", help="List the known hardware profiles"),
    show: str | None = typer.Option(
        None, "--show", help="Show one profile: a name (h100, a100-40gb, host) or a JSON file"
    ),
    save: bool = typer.Option(
        True, "--save/--no-save", help="Cache the measured profile (reused as 'host')"
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Overwrite the cached profile instead of keeping the best of each ceiling",
    ),
    device: str = typer.Option("cpu", help="Device to measure: cpu or cuda[:N]"),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads to measure with (default: torch's current count)"
    ),
    fmt: HardwareFormat = typer.Option(HardwareFormat.table, "--format", "-f"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar"),
) -> None:
    """Measure this machine's ceilings (GEMM FLOP/s per dtype, copy bandwidth, dispatch
    overhead) in under a minute, or list/show datasheet profiles."""
    from flopwise.measure import hardware as hw

    if (list_ or show) and budget is not None:
        raise FlopwiseError("--budget is only used when measuring, not with --list or --show")
    if list_:
        profiles = hw.list_profiles()
        if fmt is HardwareFormat.json:
            typer.echo(dumps([p.to_dict() for p in profiles]))
        else:
            _print(profiles_table(profiles))
        return
    if show:
        prof = hw.get_profile(show, measure_if_missing=False)
        if fmt is HardwareFormat.json:
            typer.echo(prof.to_json())
        else:
            _print(profile_table(prof))
        return
    if threads is not None:
        if threads < 1:
            raise FlopwiseError("--threads must be >= 1")
        import torch

        torch.set_num_threads(threads)
    prof = hw.measure_host_profile(
        45.0 if budget is None else budget, device=device, progress=progress and sys.stderr.isatty()
    )
    path = hw.save_profile(prof, merge=not replace) if save else None
    if fmt is HardwareFormat.json:
        typer.echo(prof.to_json())
    else:
        _print(profile_table(prof))
    for warning in prof.details.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    if path is not None:
        saved = hw.HardwareProfile.load(path)
        n = saved.details.get("measurements", 1)
        merged = f"; best of {n} measurements kept" if n > 1 else ""
        dev = saved.details.get("device", "cpu")
        name = hw.host_profile_name(dev)  # host:cuda:0 for a GPU, what host means there
        used = "host" if name == "host" else f"{name}, and as host when measuring on {dev}"
        typer.echo(f"saved to {path} (used as --hardware {used}{merged})", err=True)


# -- rendering ----------------------------------------------------------------------------


def _print(renderable) -> None:
    from flopwise.report.console import stdout_console

    stdout_console().print(renderable)


def rate(value: float | None, unit: str) -> str:
    """``1.24e11, "FLOP/s"`` → ``124 GFLOP/s``; picks G or T (M for small), 3 digits."""
    if value is None:
        return "-"
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def nbytes(value: float | None) -> str:
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


def profiles_table(profiles):
    from rich.table import Table

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


def profile_table(p):
    """One profile as a table: each dtype's dense/sparse peak, bandwidth(s), overhead."""
    from rich.table import Table

    d = p.details or {}
    table = Table(title=f"{p.name} ({p.kind})", caption=p.source)
    table.add_column("ceiling")
    table.add_column("value", justify="right")
    table.add_column("notes", overflow="fold")
    gemm = d.get("gemm", {})
    for key in ("float64", "float32", "tfloat32", "bfloat16", "float16", "float8", "int8"):
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
    for moved, bw in d.get("bandwidth_curve", [])[:-1]:
        used = p.bandwidth_for(moved)
        note = f"{nbytes(moved / 2)} buffers: the roofline bandwidth for ops moving this much"
        if used > bw * 1.01:
            note += f" (measured {rate(bw, 'B/s')}, disturbed; a larger copy's figure is used)"
        table.add_row("  cache-sized copy", rate(used, "B/s"), note)
    if p.launch_overhead_s is not None:
        disp = d.get("dispatch", {})
        table.add_row(
            "dispatch overhead",
            format_seconds(p.launch_overhead_s),
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
            "measured in", format_seconds(d["elapsed_s"]), f"budget {d.get('budget_s')} s"
        )
    return table
