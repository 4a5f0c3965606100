"""Renderers of the results store's answers (:mod:`flopwise.pipeline.history`): the run list
of ``flopwise history`` and the module diff of ``flopwise diff``, as rich tables (with
markup colours, printed by the command). Render only: every number comes from the result."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.table import Table

from flopwise.units import seconds, si

if TYPE_CHECKING:
    from flopwise.store import ModuleDiff, RunDiff, RunList

_UNITS = {"flops": "FLOPs", "macs": "MACs", "bytes": "B", "params": "params", "activations": ""}
_HEADERS = {
    "flops": "FLOPs",
    "macs": "MACs",
    "bytes": "bytes (B)",
    "params": "params",
    "activations": "activations",
    "time": "time",
}
_RUN_COLUMNS = (
    ("id", "right"),
    ("created (UTC)", "left"),
    ("kind", "left"),
    ("model", "left"),
    ("FLOPs", "right"),
    ("bytes", "right"),
    ("params", "right"),
    ("time", "right"),
    ("machine", "left"),
    ("torch", "left"),
    ("label", "left"),
)


def metric_text(value: float | int | None, metric: str, *, unit: bool = True) -> str:
    """One metric's value: time as ``12.3 ms``, counts as ``8.18 GFLOPs`` (with ``unit``) or
    ``8.18G``; missing as ``—``."""
    if metric == "time":
        return seconds(value)
    name = _UNITS.get(metric, "") if unit else ""
    return si(value, name, kilo="k", sep=" " if unit else "", tidy=False)


def no_runs_line(result: RunList) -> str:
    """What ``flopwise history`` says when nothing matched (plain text, no markup)."""
    what = f" of {result.model}" if result.model else ""
    if result.no_database:
        return f"No runs{what} in {result.db} (no results database there yet)."
    return f"No runs{what} in {result.db}.{result.hint}"


def runs_table(result: RunList) -> Table:
    """The run list, newest first: id, when, kind, model, totals, machine, torch, label."""
    table = Table(title=f"flopwise runs in {result.db}", title_justify="left")
    for name, justify in _RUN_COLUMNS:
        table.add_column(name, justify=justify, no_wrap=name in ("id", "created (UTC)"))
    for r in result.runs:
        cpu = (r.cpu or "?").replace("(R)", "").replace("(TM)", "").replace(" CPU", "")
        machine = f"{cpu[:28]} ×{r.threads}" + (f" + {r.gpu}" if r.gpu else "")
        table.add_row(
            str(r.id),
            r.created.replace("T", " ").removesuffix("+00:00"),
            r.kind,
            r.model,
            metric_text(r.flops, "flops"),
            metric_text(r.bytes, "bytes"),
            metric_text(r.params, "params"),
            metric_text(r.time_s, "time"),
            f"{machine} [{r.machine_id[:6]}]",
            r.torch_version or "",
            r.label or "",
        )
    return table


def _pct(rel: float | None) -> str:
    if rel is None:
        return ""
    if math.isinf(rel):
        return "new"
    return f"{rel * 100:+.2f}%"


def _cell(row: ModuleDiff, metric: str) -> str:
    a, b = row.a.get(metric), row.b.get(metric)
    if a is None and b is None:
        return "—"
    if row.status == "added" or a is None:
        return f"[green]{metric_text(b, metric, unit=False)} (new)[/]"
    if row.status == "removed" or b is None:
        return f"[red]{metric_text(a, metric, unit=False)} (gone)[/]"
    if a == b:
        return metric_text(b, metric, unit=False)
    grew = b > a
    style = "red" if grew else "green"
    if metric == "time":
        style = "yellow" if grew else "cyan"  # time is noisy: not the same alarm colour
    before, after = metric_text(a, metric, unit=False), metric_text(b, metric, unit=False)
    return f"{before} → {after} [{style}]{_pct(row.relative(metric))}[/]"


def diff_header(result: RunDiff) -> list[str]:
    """The lines above the diff table (rich markup): the two runs, and a warning when their
    times come from different machines."""
    lines = [
        f"A: {result.label_a}  {result.doc_a.get('model', '?')}\n"
        f"B: {result.label_b}  {result.doc_b.get('model', '?')}"
    ]
    if result.other_machine:
        lines.append(
            "[yellow]note: the runs come from different machines; time is not comparable.[/]"
        )
    return lines


def diff_table(result: RunDiff) -> Table:
    """The total, then each visible module indented by depth, one column per metric."""
    counts = result.counts
    table = Table(
        title_justify="left",
        title=(
            f"{counts['changed']} changed, {counts['added']} added, {counts['removed']} removed, "
            f"{counts['same']} unchanged modules"
        ),
    )
    table.add_column("module")
    table.add_column("type")
    for m in result.metrics:
        table.add_column(_HEADERS[m], justify="right", no_wrap=True)
    cells = [_cell(result.total, m) for m in result.metrics]
    table.add_row("[bold](total)[/]", "", *cells, end_section=True)
    for r in result.visible:
        indent = "  " * max(r.depth, 0)
        type_text = r.type or ""
        if r.type_a and r.type_b and r.type_a != r.type_b:
            type_text = f"{r.type_a} → {r.type_b}"
        table.add_row(
            f"{indent}{r.path or '(model)'}", type_text, *[_cell(r, m) for m in result.metrics]
        )
    return table


def violations_line(result: RunDiff) -> str:
    """The one error line of a failed gate: every violation, joined."""
    return (
        "FAIL: "
        + "; ".join(v.describe() for v in result.violations)
        + f" ({len(result.violations)} threshold violation(s), exit 1)"
    )


def thresholds_ok_line(result: RunDiff) -> str:
    """``OK: flops=1% not exceeded, ...`` after a passed gate."""
    return "OK: " + ", ".join(f"{t} not exceeded" for t in result.thresholds)
