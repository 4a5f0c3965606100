"""The terminal view of a profile: a module tree table with units, conventions and
coverage stated. Renders only; every number comes from the Profile."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from flopwise.sections import Energy, HardwareRef, Measured, Roofline, TimeShare, Verdict
from flopwise.units import count, seconds, si

if TYPE_CHECKING:
    from flopwise.profile import Profile


def _inputs_line(p: Profile) -> str:
    parts = [f"{i['name']}={'x'.join(map(str, i['shape']))}:{i['dtype']}" for i in p.inputs]
    return ", ".join(parts) or "none"


def build_table(p: Profile, depth: int | None = 3) -> Group:
    """A rich renderable: header lines, the module tree table, and the coverage footer."""
    parts = [
        _header(p),
        module_table(p, depth),
        _summary(p),
        Text(
            "units: FLOPs count a multiply-add as 2; MACs count contraction ops only; bytes are "
            "the unfused per-op traffic; causal attention uses top-left alignment "
            "(docs/conventions.md)",
            style="dim",
        ),
        _coverage(p),
        *closed_form_parts(p),
        *measured_parts(p),
    ]
    if depth is not None and any(m.depth > depth for m in p.modules):
        parts.insert(2, Text(f"(modules deeper than {depth} hidden; use --depth)", style="dim"))
    return Group(*parts)


def module_table(p: Profile, depth: int | None = 3) -> Table:
    """The module tree down to ``depth``: counts, α-MACs (when computed), bytes, intensity
    and the measured time (when measured)."""
    flops_percent = p.module_flops_percent
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("Module", "Type", "Params", "MACs", "FLOPs", "% FLOPs", "Activations"):
        table.add_column(column, justify="left" if column in ("Module", "Type") else "right")
    table.columns[1].style = "dim"
    alpha = p.alpha
    if alpha is not None:
        table.add_column("α-MACs", justify="right")
    table.add_column("Bytes (R+W)", justify="right")
    table.add_column("FLOP/B", justify="right")
    measured = p.measured
    time_col = measured is not None and any(
        measured.module_time(m.path) is not None for m in p.modules
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
            f"{flops_percent[m.path]:.1f}%",
            count(m.activations, "elem") if m.activations else "-",
            *([si(alpha.per_module.get(m.path, 0.0), "MACs")] if alpha is not None else []),
            si(m.bytes, "B"),
            f"{m.intensity:.1f}",
        ]
        if time_col:
            t = measured.module_time(m.path)
            row.append(seconds(t) if t else "-")
        table.add_row(*row)
    return table


def _header(p: Profile) -> Text:
    header = Text.from_markup(
        f"[bold]{p.model}[/]  inputs: {_inputs_line(p)}\n"
        f"mode: {p.mode['phase']}, {p.mode['tensors']} tensors on {p.mode['device']}"
    )
    resolved = p.source.resolved if p.source is not None else None
    if resolved:  # which file, built-in config or Hub repository the model came from
        header.append(f"\nsource: {resolved}")
    specs = (p.source.default_inputs if p.source is not None else None) or []
    if any("@" in spec for spec in specs):  # token ids placed in the input (image tokens)
        header.append(
            f"\ndefault inputs: {', '.join(specs)} (@TOKEN*COUNT: that token id at the first "
            "COUNT positions of each row)"
        )
    return header


def _summary(p: Profile) -> Text:
    t = p.totals
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
    alpha = p.alpha
    if alpha is not None:
        summary.append(
            f"\n       α-MACs {si(alpha.alpha_macs, 'MACs')} over {alpha.layers} conv/dense layers "
            f"(effective α {alpha.effective_alpha or 0:.3f}; constants {alpha.constants_source})"
        )
    return summary


def _coverage(p: Profile) -> Text:
    t = p.totals
    if p.complete:
        return Text(
            f"coverage: complete ({t.ops:,} ops, every one counted or in the zero set)",
            style="green",
        )
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
    return Text("coverage: INCOMPLETE, " + "; ".join(reasons), style="yellow")


def render_text(p: Profile, depth: int | None = 3, width: int = 160) -> str:
    """The table as plain text (no colour), e.g. for docs and tests."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, color_system=None).print(build_table(p, depth))
    return buffer.getvalue()


def closed_form_parts(p: Profile) -> list:
    """Training FLOPs in the closed forms people quote, beside the counted figure."""
    closed = p.training_closed_forms
    if closed is None:
        return []
    ratio = p.flops_over_six_n
    return [
        Text(
            f"training step, counted {si(p.totals.flops, 'FLOPs')} vs closed forms: "
            f"6·N·tokens {si(closed.six_n, 'FLOPs')}"
            + ("" if ratio is None else f" ({ratio:.2f}x)")
            + ", "
            f"6·N + attention {si(closed.kaplan_6n_plus_attention, 'FLOPs')}, "
            f"Megatron {si(closed.megatron, 'FLOPs')}  ({closed.tokens:,} tokens)"
        )
    ]


def measured_parts(p: Profile) -> list:
    """Lines and a top-k table for a measured profile: latency and its trust, roofline
    summary, and where time goes versus where FLOPs go; then stages and energy."""
    m = p.measured
    if m is None:
        return []
    lines: list = [_latency_line(m)]
    if m.roofline is not None:
        lines += _roofline_lines(m.roofline, m.hardware)
    lines += _coverage_lines(m)
    from flopwise.report.onnx import roofline_line, runtime_line

    for onnx_line in (runtime_line(m), roofline_line(m)):
        if onnx_line:
            lines.append(Text(onnx_line, style="dim"))
    lines += [Text(f"warning: {warning}", style="yellow") for warning in m.warnings]
    tops = m.roofline.time_vs_flops if m.roofline is not None else None
    if tops is not None and tops.by_time:
        lines.append(_time_vs_flops_table(tops.by_time))
    if p.stages is not None and p.stages.stages:
        from flopwise.report.stages import stage_summary

        lines.append(Text(f"pipeline stages: {stage_summary(p.stages)}"))
    if p.energy is not None:
        lines.append(_energy_table(p.energy))
    return lines


def _latency_line(m: Measured) -> Text:
    lat = m.latency
    return Text.from_markup(
        f"[bold]measured[/] ({m.phase}, {m.device}, {m.threads} threads): "
        f"median {seconds(lat.median_s)}, min {seconds(lat.min_s)}, "
        f"IQR {100 * lat.rel_iqr:.0f}% of median, {lat.repeats} samples, "
        f"{lat.throughput_items_per_s:.3g} items/s"
    )


def _roofline_lines(roof: Roofline, hw: HardwareRef | None) -> list[Text]:
    """The roofline summary line and, when a time beat its floor, the profile error."""
    hw = hw if hw is not None else HardwareRef(name="?", kind="?")
    lines = []
    summary = roof.summary
    if summary is not None:
        eff = summary.efficiency
        modes = summary.math_modes
        tf32 = (
            f"; TF32 convs {'on' if modes.get('cudnn_allow_tf32') else 'off'}, "
            f"matmuls {'on' if modes.get('cuda_matmul_allow_tf32') else 'off'}"
            if hw.kind == "gpu" and modes
            else ""
        )
        lines.append(
            Text(
                f"roofline vs {hw.name} ({hw.kind}, "
                f"{si(hw.peak_flops.get('float32') or 0, 'FLOP/s')} fp32, "
                f"{si(hw.memory_bandwidth or 0, 'B/s')}{tf32}): "
                f"waterline {seconds(summary.waterline_s)}, achieved "
                f"{si(summary.achieved_flops_per_s or 0, 'FLOP/s')}, "
                + (
                    f"efficiency {100 * eff:.1f}% of the floor"
                    if eff is not None
                    else "efficiency n/a"
                )
            )
        )
    worst = roof.worst_error
    if worst is not None:
        where = worst.path or "(model)"
        lines.append(
            Text(
                f"hardware profile error: {len(roof.profile_errors)} measured time(s) under their "
                f"roofline floor (worst {where}{' ' + worst.op if worst.op else ''}: "
                f"{worst.ratio:.2f}x); the hardware profile's ceilings are too low for what "
                "ran, so those efficiencies are not shown",
                style="bold red",
            )
        )
    return lines


def _coverage_lines(m: Measured) -> list[Text]:
    """How much of the end-to-end time the per-module (or kernel) times cover."""
    if m.device_coverage is not None:
        verdict = m.verdict if m.verdict is not None else Verdict(bound="?")
        return [
            Text(
                f"{verdict.bound}: kernels cover {100 * m.device_coverage:.0f}% "
                f"of the end-to-end median, host ops {100 * (m.host_coverage or 0):.0f}% "
                f"(host wall {100 * (m.host_wall_coverage or 0):.0f}%); "
                f"{verdict.reason}"
            )
        ]
    if m.coverage is not None:
        return [
            Text(
                f"per-module times cover {100 * m.coverage:.0f}% of the end-to-end median; "
                f"profiler overhead {100 * (m.profiler_overhead or 0):+.0f}%",
                style="dim",
            )
        ]
    return []


def _time_vs_flops_table(rows: list[TimeShare]) -> Table:
    top = Table(
        title="where time goes vs where FLOPs go (top modules by time)",
        box=None,
        title_justify="left",
    )
    for col in ("Module", "Type", "% time", "% FLOPs", "Bound", "Efficiency"):
        top.add_column(col, justify="left" if col in ("Module", "Type", "Bound") else "right")
    for row in rows[:8]:
        top.add_row(
            row.path or "(model)",
            row.type,
            f"{100 * row.time_share:.1f}%" if row.time_share is not None else "-",
            f"{100 * row.flop_share:.1f}%",
            row.bound,
            f"{100 * row.efficiency:.1f}%" if row.efficiency is not None else "-",
        )
    return top


def _energy_table(energy: Energy) -> Table:
    from flopwise.report.energy import energy_rows

    et = Table(title="energy", box=None, title_justify="left", show_header=False)
    et.add_column("what")
    et.add_column("value")
    for k, v in energy_rows(energy):
        if "(apportioned)" in k and "." in k.split(" / ")[0]:
            continue  # per-module energy beyond the first level lives in the JSON
        et.add_row(k, v)
    return et
