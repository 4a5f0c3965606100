"""``flopwise sweep`` rendered: the points and fits tables, and the sweep's chart files.

Everything here reads the ``flopwise.sweep/1`` document (``SweepResult.to_dict()``, or a
stored run), so a run renders the same whether it was just made or loaded back."""

from __future__ import annotations

import io
import math
from html import escape as html_escape
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flopwise.errors import FlopwiseError
from flopwise.report.console import stdout_is_terminal, table_width
from flopwise.report.device import describe_device
from flopwise.report.plots_svg import Chart


def _points_table(doc: dict[str, Any]) -> tuple[Table, list[dict[str, Any]]]:
    """One row per point; returns the table and the points the model rejected."""
    measured = doc["measured"]
    t = Table(title="points (one dimension varied at a time)")
    cols = ["dim", "value", "GFLOPs", "α-GFLOPs", "MB moved", "M activ."]
    if measured:
        cols += [f"ms ({doc['statistic']})", "GFLOP/s", "spread"]
    rejected = [p for p in doc["points"] if p.get("error")]
    if rejected:
        cols.append("note")
    for c in cols:
        t.add_column(c, justify="left" if c in ("dim", "note") else "right")
    for p in doc["points"]:
        if p.get("error"):
            blanks = ["—"] * (len(cols) - 3)
            t.add_row(p["dim"], str(p["value"]), *blanks, "[red]rejected by the model[/red]")
            continue
        row = [
            p["dim"],
            str(p["value"]),
            f"{p['flops'] / 1e9:.3g}",
            f"{p['alpha_flops'] / 1e9:.3g}",
            f"{p['bytes'] / 1e6:.4g}",
            f"{p['activations'] / 1e6:.3g}",
        ]
        if measured:
            flag = "" if p["trustworthy"] else " !"
            row += [
                f"{p['seconds'] * 1e3:.4g}",
                f"{(p['flops_per_second'] or 0) / 1e9:.3g}",
                f"{p['spread'] * 100:.0f}%{flag}",
            ]
        t.add_row(*row, *([""] if rejected else []))
    return t, rejected


def _exponent(e: dict[str, float] | None) -> str:
    return "n/a" if e is None else f"{e['exponent']:.2f}"


def _exponent_ci(e: dict[str, float] | None) -> str:
    low = None if e is None else e.get("ci_low")
    if low is None or not math.isfinite(low):
        return "n/a"
    return f"{low:.2f}..{e['ci_high']:.2f}"


def _fits_table(doc: dict[str, Any]) -> Table:
    """One row per dimension: the power-law exponents (and, when timed, time's CI and the
    time-per-FLOP exponent)."""
    measured = doc["measured"]
    f = Table(title="power-law exponent b of cost ∝ dim^b")
    cols = ["dim", "values", "FLOPs", "α-FLOPs", "bytes"]
    if measured:
        cols += ["time", "time 95% CI", "time/FLOP"]
    for c in cols:
        f.add_column(c, justify="left" if c in ("dim", "values") else "right")
    for fit in doc["fits"]:
        ex = fit["exponents"]
        row = [
            fit["dim"],
            ",".join(map(str, fit["values"])),
            _exponent(ex["flops"]),
            _exponent(ex["alpha_flops"]),
            _exponent(ex["bytes"]),
        ]
        if measured:
            gap = fit["time_per_flop_exponent"]
            row += [
                _exponent(ex["seconds"]),
                _exponent_ci(ex["seconds"]),
                "n/a" if gap is None else f"{gap:+.2f}",
            ]
        f.add_row(*row)
    return f


def render_table(doc: dict[str, Any]) -> str:
    """The sweep as text: a header line, the points table, the fits table and the notes
    (rejected points, the cheapest-per-FLOP ranking, noisy timings). Styled on a terminal,
    plain (whole values, no wrapping) off one."""
    terminal = stdout_is_terminal()
    console = Console(record=True, width=table_width(), file=io.StringIO(), force_terminal=terminal)
    base = ", ".join(f"{k}={v}" for k, v in doc["base_dims"].items())
    console.print(
        f"[bold]sweep[/bold] {doc['model']}  (base: {base}; {doc['dtype']}, "
        + (f"{escape(describe_device(doc['device']))}, " if doc["measured"] else "")
        + f"{doc['threads']} threads; "
        f"α: {doc['alpha_constants']['source']})"
    )
    points, rejected = _points_table(doc)
    console.print(points)
    for p in rejected:
        console.print(f"[red]{p['dim']}={p['value']} rejected:[/red] {escape(p['error'])}")
    for note, where in _point_notes(doc).items():
        console.print(f"[yellow]{escape(note)} at {', '.join(where)}[/yellow]")
    console.print(_fits_table(doc))
    if doc["measured"] and doc["ranking"]:
        console.print(
            "cheapest per FLOP → dearest: "
            + " < ".join(doc["ranking"])
            + "  (time/FLOP < 0: the hardware absorbs the growth; > 0: it gets dearer per FLOP)"
        )
    noisy = [p for p in doc["points"] if p.get("trustworthy") is False]
    if noisy:
        console.print(
            f"[yellow]{len(noisy)} point(s) marked ! have a spread above 10%: "
            "treat their times with care (busy machine? raise --budget, or --statistic min)"
            "[/yellow]"
        )
    return console.export_text(styles=terminal)


def _point_notes(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Each count note of the points (an incomplete count) and the points it is on; the
    timing notes are summed up by the noisy-points line."""
    out: dict[str, list[str]] = {}
    for p in doc["points"]:
        for note in p.get("notes") or []:
            if note.startswith("count incomplete"):
                note += " (their FLOPs and bytes are lower bounds)"
                out.setdefault(note, []).append(f"{p['dim']}={p['value']}")
    return out


def write_plots(doc: dict[str, Any], charts: list[Chart], path: Path) -> list[Path]:
    """Draw the sweep's ``charts`` (the report's sweep charts,
    :func:`flopwise.pipeline.report.sweep_chart_list`) into ``path``: one HTML page
    (``.html``), or one file per chart (``FILE-<chart>.svg``/``.png``); returns the files."""
    from flopwise.report.plots_svg import chart_png, chart_svg

    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".svg", ".png"):
        raise FlopwiseError(f"--plot {path}: use a .html, .svg or .png file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".html", ".htm"):
        body = "\n".join(
            f"<figure>{chart_svg(c)}<figcaption>{html_escape(c.caption)}</figcaption></figure>"
            for c in charts
        )
        title = html_escape(f"flopwise sweep {doc['model']}")
        path.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1>\n{body}\n</body></html>\n"
        )
        return [path]
    written = []
    for chart in charts:
        target = path.with_name(f"{path.stem}-{chart.id}{suffix}")
        if suffix == ".svg":
            target.write_text(chart_svg(chart) + "\n")
        else:
            try:
                chart_png(chart, target)
            except ImportError as exc:
                from flopwise.errors import MissingDependency

                raise MissingDependency("matplotlib", "plots", "PNG plots") from exc
        written.append(target)
    return written
