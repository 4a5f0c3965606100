"""The terminal view of a profile: a module tree table with units, conventions and
coverage stated. Renders only; every number comes from the Profile."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from flopwise.report.units import count, si

if TYPE_CHECKING:
    from flopwise.profile import Profile


def _inputs_line(p: Profile) -> str:
    parts = [f"{i['name']}={'x'.join(map(str, i['shape']))}:{i['dtype']}" for i in p.inputs]
    return ", ".join(parts) or "none"


def build_table(p: Profile, depth: int | None = 3) -> Group:
    """A rich renderable: header lines, the module tree table, and the coverage footer."""
    total_flops = p.totals.flops or 1
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("Module")
    table.add_column("Type", style="dim")
    table.add_column("Params", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("FLOPs", justify="right")
    table.add_column("% FLOPs", justify="right")
    table.add_column("Activations", justify="right")
    alpha_modules = p.extra.get("alpha_modules")
    if alpha_modules is not None:
        table.add_column("α-MACs", justify="right")
    table.add_column("Bytes (R+W)", justify="right")
    table.add_column("FLOP/B", justify="right")
    time_col = any(
        "time_s" in (p.measured or {}).get("modules", {}).get(m.path, {}) for m in p.modules
    )
    if time_col:
        table.add_column("Time", justify="right")
    for m in p.modules:
        if depth is not None and m.depth > depth:
            continue
        label = "  " * m.depth + m.name
        if m.uncounted_calls:
            label += " [yellow]*[/]"
        row = [
            label,
            m.type,
            count(m.params, "params") if m.params else "-",
            si(m.macs, "MACs"),
            si(m.flops, "FLOPs"),
            f"{100 * m.flops / total_flops:.1f}%",
            count(m.activations, "elem") if m.activations else "-",
            *([si(alpha_modules.get(m.path, 0.0), "MACs")] if alpha_modules is not None else []),
            si(m.bytes, "B"),
            f"{m.intensity:.1f}",
        ]
        if time_col:
            from flopwise.report.units import seconds

            t = p.measured["modules"].get(m.path, {}).get("time_s")
            row.append(seconds(t) if t else "-")
        table.add_row(*row)

    t = p.totals
    header = Text.from_markup(
        f"[bold]{p.model}[/]  inputs: {_inputs_line(p)}\n"
        f"mode: {p.mode['phase']}, {p.mode['tensors']} tensors on {p.mode['device']}"
    )
    resolved = (p.extra.get("source") or {}).get("resolved")
    if resolved:  # which file, built-in config or Hub repository the model came from
        header.append(f"\nsource: {resolved}")
    summary = Text.from_markup(
        f"[bold]total[/]  {si(t.flops, 'FLOPs')} ({t.flops:,} FLOPs)  ·  {si(t.macs, 'MACs')} ({t.macs:,} MACs)"
        f"  ·  {t.params:,} params  ·  {t.activations:,} activations"
        f"  ·  {si(t.bytes_read, 'B')} read + {si(t.bytes_written, 'B')} written"
        f"  ·  {t.intensity:.1f} FLOP/B"
        + (
            f"\n       forward {si(t.forward_flops, 'FLOPs')} + backward {si(t.backward_flops, 'FLOPs')}"
            if t.backward_flops
            else ""
        )
    )
    alpha = p.extra.get("alpha")
    if alpha:
        summary.append(
            f"\n       α-MACs {si(alpha['alpha_macs'], 'MACs')} over {alpha['layers']} conv/dense layers "
            f"(effective α {alpha['effective_alpha'] or 0:.3f}; constants {alpha['constants_source']})"
        )
    conventions = Text(
        "units: FLOPs count a multiply-add as 2; MACs count contraction ops only; bytes are the "
        "unfused per-op traffic; causal attention uses top-left alignment (docs/conventions.md)",
        style="dim",
    )
    if p.complete:
        coverage = Text(
            f"coverage: complete ({t.ops:,} ops, every one counted or in the zero set)",
            style="green",
        )
    else:
        names = ", ".join(f"{u.op} ×{u.calls}" for u in p.uncounted[:6])
        more = f" and {len(p.uncounted) - 6} more" if len(p.uncounted) > 6 else ""
        reasons = [
            *(
                [f"{len(p.uncounted)} op types uncounted: {names}{more} (rows marked *)"]
                if p.uncounted
                else []
            ),
            *p.incomplete_reasons,
        ]
        coverage = Text("coverage: INCOMPLETE, " + "; ".join(reasons), style="yellow")
    parts = [
        header,
        table,
        summary,
        conventions,
        coverage,
        *closed_form_parts(p),
        *measured_parts(p),
    ]
    if depth is not None and any(m.depth > depth for m in p.modules):
        parts.insert(2, Text(f"(modules deeper than {depth} hidden; use --depth)", style="dim"))
    return Group(*parts)


def render_text(p: Profile, depth: int | None = 3, width: int = 160) -> str:
    """The table as plain text (no colour), e.g. for docs and tests."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, color_system=None).print(build_table(p, depth))
    return buffer.getvalue()


def closed_form_parts(p: Profile) -> list:
    """Training FLOPs in the closed forms people quote, beside the counted figure."""
    closed = p.extra.get("training_closed_forms")
    if not closed:
        return []
    counted = p.totals.flops
    return [
        Text(
            f"training step, counted {si(counted, 'FLOPs')} vs closed forms: "
            f"6·N·tokens {si(closed['six_n'], 'FLOPs')} ({counted / closed['six_n']:.2f}x), "
            f"6·N + attention {si(closed['kaplan_6n_plus_attention'], 'FLOPs')}, "
            f"Megatron {si(closed['megatron'], 'FLOPs')}  ({closed['tokens']:,} tokens)"
        )
    ]


def measured_parts(p: Profile) -> list:
    """Lines and a top-k table for a measured profile: latency and its trust, roofline
    summary, and where time goes versus where FLOPs go."""
    from flopwise.report.units import seconds

    m = p.measured
    if not m:
        return []
    lat = m["latency"]
    hw = m.get("hardware", {})
    peak = (hw.get("peak_flops") or {}).get("float32")
    bw = hw.get("memory_bandwidth")
    lines = [
        Text.from_markup(
            f"[bold]measured[/] ({m.get('phase', 'forward')}, {m['device']}, {m['threads']} threads): "
            f"median {seconds(lat['median_s'])}, min {seconds(lat['min_s'])}, "
            f"IQR {100 * lat['rel_iqr']:.0f}% of median, {lat['repeats']} samples, "
            f"{lat['throughput_items_per_s']:.3g} items/s"
        )
    ]
    summary = (m.get("roofline") or {}).get("summary") or {}
    if summary:
        eff = summary.get("efficiency")
        modes = summary.get("math_modes") or {}
        tf32 = (
            f"; TF32 convs {'on' if modes.get('cudnn_allow_tf32') else 'off'}, "
            f"matmuls {'on' if modes.get('cuda_matmul_allow_tf32') else 'off'}"
            if hw.get("kind") == "gpu" and modes
            else ""
        )
        lines.append(
            Text(
                f"roofline vs {hw.get('name', '?')} ({hw.get('kind', '?')}, "
                f"{si(peak or 0, 'FLOP/s')} fp32, {si(bw or 0, 'B/s')}{tf32}): "
                f"waterline {seconds(summary['waterline_s'])}, achieved "
                f"{si(summary.get('achieved_flops_per_s') or 0, 'FLOP/s')}, "
                + (
                    f"efficiency {100 * eff:.1f}% of the floor"
                    if eff is not None
                    else "efficiency n/a"
                )
            )
        )
    errors = (m.get("roofline") or {}).get("profile_errors") or []
    if errors:
        worst = max(errors, key=lambda e: e["ratio"])
        where = worst["path"] or "(model)"
        lines.append(
            Text(
                f"profile error: {len(errors)} measured time(s) under their roofline floor "
                f"(worst {where}{' ' + worst['op'] if worst.get('op') else ''}: "
                f"{worst['ratio']:.2f}x); the hardware profile's ceilings are too low for what "
                "ran, so those efficiencies are not shown",
                style="bold red",
            )
        )
    verdict = m.get("verdict") or {}
    if m.get("device_coverage") is not None:
        lines.append(
            Text(
                f"{verdict.get('bound', '?')}: kernels cover {100 * m['device_coverage']:.0f}% "
                f"of the end-to-end median, host ops {100 * (m.get('host_coverage') or 0):.0f}% "
                f"(host wall {100 * (m.get('host_wall_coverage') or 0):.0f}%); "
                f"{verdict.get('reason', '')}"
            )
        )
    elif m.get("coverage") is not None:
        lines.append(
            Text(
                f"per-module times cover {100 * m['coverage']:.0f}% of the end-to-end median; "
                f"profiler overhead {100 * (m.get('profiler_overhead') or 0):+.0f}%",
                style="dim",
            )
        )
    from flopwise.report.onnx import runtime_line

    if runtime_line(m):
        lines.append(Text(runtime_line(m), style="dim"))
    for warning in m.get("warnings", []):
        lines.append(Text(f"warning: {warning}", style="yellow"))
    tops = (m.get("roofline") or {}).get("time_vs_flops") or {}
    if tops.get("by_time"):
        top = Table(
            title="where time goes vs where FLOPs go (top modules by time)",
            box=None,
            title_justify="left",
        )
        for col in ("Module", "Type", "% time", "% FLOPs", "Bound", "Efficiency"):
            top.add_column(col, justify="left" if col in ("Module", "Type", "Bound") else "right")
        for row in tops["by_time"][:8]:
            top.add_row(
                row["path"] or "(model)",
                row["type"],
                f"{100 * (row['time_share'] or 0):.1f}%",
                f"{100 * row['flop_share']:.1f}%",
                row["bound"],
                f"{100 * row['efficiency']:.1f}%" if row.get("efficiency") is not None else "-",
            )
        lines.append(top)
    stages = p.extra.get("stages")
    if stages:
        from flopwise.report.stages import stage_summary

        lines.append(Text(f"pipeline stages: {stage_summary(stages)}"))
    energy = p.extra.get("energy")
    if energy:
        from flopwise.report.energy import energy_rows

        et = Table(title="energy", box=None, title_justify="left", show_header=False)
        et.add_column("what")
        et.add_column("value")
        for k, v in energy_rows(energy):
            if "(apportioned)" in k and "." in k.split(" / ")[0]:
                continue  # per-module energy beyond the first level lives in the JSON
            et.add_row(k, v)
        lines.append(et)
    return lines
