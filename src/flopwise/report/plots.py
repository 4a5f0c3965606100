"""The report's charts, built from documents and their analysis: roofline, efficiency gap,
sweeps, comparisons.

Each builder reads a document and the numbers the analysis computed for it
(:func:`flopwise.analysis.roofline.roofline_plot`, :func:`flopwise.analysis.sweep.sweep_plot`,
:func:`flopwise.analysis.compare.comparison_plot`; :mod:`flopwise.pipeline.report` passes
them) and returns :class:`~flopwise.report.plots_svg.Chart` objects; a chart without data
says why in its ``empty`` message. The builders only place numbers on axes: roofline
coordinates, shares, efficiencies, totals, fronts, fitted lines and fallbacks all come from
the analysis.

Input shapes (all keys optional unless stated):

- profile document (``flopwise.profile/1``): ``modules[i]`` with ``flops``,
  ``bytes_read``/``bytes_written``, ``time_s``, optionally ``floor_s``;
  ``measured.hardware`` with ``peak_flops`` (FLOP/s, a number or ``{dtype: number}``) and
  ``memory_bandwidth`` (bytes/s).
- sweep document: ``{"points": [{"dims": {"batch": 1, ...}, "flops", "alpha_flops",
  "bytes", "time_s", "predicted_time_s"?, "flops_per_s"?}]}``.
- comparison document: ``{"models": [{"model", "params", "flops", "alpha_flops",
  "activations", "bytes", "time_s", "accuracy"?, "pareto"?}], "correlations"?:
  {proxy: {"pearson", "spearman", ...}}, "pareto"?: [model names]}``.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from flopwise.report.plots_svg import BarGroup, Chart, Series, chart_png, chart_svg
from flopwise.store.metrics import module_metrics
from flopwise.store.profile_doc import leaf_modules
from flopwise.store.profile_doc import positive as _pos
from flopwise.units import seconds

#: How many layers the bar charts show (the largest by time, else by FLOPs).
TOP_LAYERS = 15

PROXIES = (
    ("flops", "FLOPs"),
    ("alpha_flops", "α-FLOPs"),
    ("macs", "MACs"),
    ("params", "parameters"),
    ("activations", "activations"),
    ("bytes", "bytes moved"),
)


def _module_time(module: dict[str, Any]) -> float | None:
    return _pos(module_metrics(module)["time"])


# --------------------------------------------------------------------------------------------
# profile charts


def roofline_chart(plot: dict[str, Any]) -> Chart:
    """Modules on the roofline: arithmetic intensity (FLOP/byte) against achieved FLOP/s,
    under the compute and bandwidth ceilings of the document's hardware profile.
    ``plot`` is :func:`flopwise.analysis.roofline.roofline_plot` of the document."""
    chart = Chart(
        id="roofline",
        title="Roofline: layers against this hardware's ceilings",
        xlabel="arithmetic intensity (FLOP per byte moved)",
        ylabel="FLOP/s",
        xlog=True,
        ylog=True,
        xunit=" FLOP/B",
        yunit="FLOP/s",
    )
    hw, layers, ops = plot["ceilings"], plot["layers"], plot["ops"]
    if hw is None and not any(layers.values()) and not ops:
        chart.empty = (
            "No hardware ceilings or measured times in this document "
            "(profile with --measure to draw the roofline)."
        )
        return chart
    if not plot["placed"]:
        chart.empty = "No layer has both FLOPs and bytes to place on the roofline."
        return chart
    if hw is not None:
        _draw_ceilings(chart, hw, plot)
    else:
        chart.caption = "No hardware ceilings in this document: only measured throughput is shown."
    _draw_points(chart, plot)
    return chart


def _points(name: str, points: list[tuple[float, float, str]], color: str) -> Series:
    return Series(
        name,
        [(x, y) for x, y, _ in points],
        style="points",
        color=color,
        labels=[label for _, _, label in points],
    )


def _draw_ceilings(chart: Chart, hw: dict[str, Any], plot: dict[str, Any]) -> None:
    peak, bw = hw["peak_flops"], hw["memory_bandwidth"]
    lines = plot["lines"]
    chart.series.append(
        Series(
            f"memory ceiling {bw / 1e9:.3g} GB/s", lines["memory"], style="dashed", color="#D55E00"
        )
    )
    chart.series.append(
        Series(
            f"compute ceiling {peak / 1e9:.4g} GFLOP/s",
            lines["compute"],
            style="dashed",
            color="#0072B2",
        )
    )
    chart.caption = (
        f"Ceilings of {hw['name']}: ridge point at {plot['ridge']:.3g} FLOP/byte. Layers left of"
        " the ridge are bound by memory traffic, right of it by arithmetic."
    )


def _draw_points(chart: Chart, plot: dict[str, Any]) -> None:
    """The measured layers by bound, the measured ops under them, and the unmeasured
    layers at their bound."""
    if plot["ceilings"] is not None:
        names = {
            "memory": "memory-bound layers (measured)",
            "compute": "compute-bound layers (measured)",
        }
    else:
        names = {"memory": "layers (measured)", "compute": "layers (measured)"}
    for key, color in (("memory", "#E69F00"), ("compute", "#009E73")):
        if plot["layers"][key]:
            chart.series.append(_points(names[key], plot["layers"][key], color))
    if plot["ops"]:  # drawn under the layers (ceilings are the first two series when present)
        at = 2 if plot["ceilings"] is not None else 0
        chart.series.insert(at, _points("ops (measured)", plot["ops"], "#56B4E9"))
    if plot["at_bound"]:
        name = "layers at their roofline bound (not measured)"
        chart.series.append(_points(name, plot["at_bound"], "#CC79A7"))
        chart.caption += " No measured times: layers are drawn at the bound the roofline allows."


def _top_layers(doc: dict[str, Any], plot: dict[str, Any]) -> tuple[list[int], bool]:
    """Indices into ``leaf_modules(doc)`` of the :data:`TOP_LAYERS` largest layers (by
    time when timed, else by FLOPs; the analysis ranks them) and whether they are timed."""
    return plot["ranked"][:TOP_LAYERS], plot["timed"]


def efficiency_share_chart(doc: dict[str, Any], plot: dict[str, Any]) -> Chart:
    """Share of FLOPs, bytes and time per layer (the largest :data:`TOP_LAYERS`): where
    FLOPs go against where time goes. ``plot`` is
    :func:`flopwise.analysis.roofline.roofline_plot` of ``doc`` (the shares)."""
    chart = Chart(
        id="efficiency-share",
        title="Where FLOPs go vs where time goes (share per layer)",
        kind="bars",
        xlabel="share of the model total (%)",
        xunit="%",
    )
    leaves = leaf_modules(doc)
    top, timed = _top_layers(doc, plot)
    layers = [leaves[i] for i in top]
    if not layers:
        chart.empty = "No layer with FLOPs or time in this document."
        return chart
    shares = plot["shares"]
    chart.categories = [m.get("path") or "(root)" for m in layers]
    chart.bars.append(BarGroup("FLOPs share", [shares["flops"][i] for i in top], "#0072B2"))
    if shares["bytes"] is not None:
        chart.bars.append(BarGroup("bytes share", [shares["bytes"][i] for i in top], "#E69F00"))
    if shares["time"] is not None:
        chart.bars.append(BarGroup("time share", [shares["time"][i] for i in top], "#D55E00"))
        chart.caption = (
            f"The {len(layers)} slowest layers. A layer whose time share exceeds its FLOPs"
            " share runs below the model's average FLOP/s (usually memory-bound)."
        )
    else:
        chart.caption = (
            f"The {len(layers)} layers with most FLOPs. No measured times in this document:"
            " profile with --measure to compare with the time share."
        )
    return chart


def latency_chart(doc: dict[str, Any], plot: dict[str, Any]) -> Chart:
    """Ideal (roofline floor) against measured latency per layer: the efficiency gap.
    ``plot`` is :func:`flopwise.analysis.roofline.roofline_plot` of ``doc`` (the floors)."""
    chart = Chart(
        id="efficiency-gap",
        title="Efficiency gap: ideal (roofline floor) vs measured latency per layer",
        kind="bars",
        xlabel="latency (seconds)",
        xunit="s",
    )
    top, timed = _top_layers(doc, plot)
    if not timed:
        chart.empty = "No measured layer times in this document (profile with --measure)."
        return chart
    leaves = leaf_modules(doc)
    layers = [leaves[i] for i in top]
    floors = [plot["floors"][i] for i in top]
    if all(f is None for f in floors):
        chart.empty = "No hardware ceilings in this document to compute the ideal latency."
        return chart
    chart.categories = [m.get("path") or "(root)" for m in layers]
    chart.bars.append(BarGroup("ideal (roofline floor)", [f or 0.0 for f in floors], "#009E73"))
    chart.bars.append(BarGroup("measured", [_module_time(m) or 0.0 for m in layers], "#D55E00"))
    waterline, measured, eff = plot["waterline_s"], plot["measured_s"], plot["efficiency"]
    derived = (
        ""
        if plot["given"] or any(plot["own"][i] for i in top)
        else (" Floors from each layer's totals and the document's ceilings.")
    )
    chart.caption = (
        f"The {len(layers)} slowest layers. Sum of the floors of all layers (waterline):"
        f" {seconds(waterline)}; measured end to end: {seconds(measured)}"
        + (
            f" (efficiency {eff:.1%})."
            if eff is not None
            else (" (under the floor: a profile error)." if measured else ".")
        )
        + derived
    )
    return chart


def profile_charts(doc: dict[str, Any], plot: dict[str, Any]) -> list[Chart]:
    """The charts of one profile document, in report order; ``plot`` is
    :func:`flopwise.analysis.roofline.roofline_plot` of it."""
    return [roofline_chart(plot), efficiency_share_chart(doc, plot), latency_chart(doc, plot)]


# --------------------------------------------------------------------------------------------
# sweeps


def _fit_text(sweep: dict[str, Any], dim: str) -> str:
    """``time ∝ batch^0.62 (FLOPs ∝ batch^1.00)`` from the sweep's own fits, if any."""
    for fit in sweep.get("fits") or ():
        if not isinstance(fit, dict) or fit.get("dim") != dim:
            continue
        exps = fit.get("exponents") or {}
        parts = []
        for key, name in (("seconds", "time"), ("flops", "FLOPs"), ("alpha_flops", "α-FLOPs")):
            e = exps.get(key)
            if isinstance(e, dict) and isinstance(e.get("exponent"), int | float):
                ci = ""
                if isinstance(e.get("ci_low"), int | float) and isinstance(
                    e.get("ci_high"), int | float
                ):
                    ci = f" [{e['ci_low']:.2f}, {e['ci_high']:.2f}]"
                parts.append(f"{name} ∝ {dim}^{e['exponent']:.2f}{ci}")
        if parts:
            return "Fitted: " + "; ".join(parts) + "."
    return ""


def _time_chart(dim: str, safe: str, xlog: bool) -> Chart:
    return Chart(
        id=f"sweep-{safe}-time",
        title=f"Time along {dim}",
        xlabel=dim,
        ylabel="time (s)",
        xlog=xlog,
        ylog=xlog,
        yunit="s",
    )


def _add_time_series(chart: Chart, sweep: dict[str, Any], line: dict[str, Any]) -> None:
    """Measured time along the dimension, the FLOPs and α-FLOPs predictions anchored at the
    first point, and the document's own predictions when it carries them."""
    xs, dim = line["x"], line["dim"]
    chart.series.append(
        Series(
            "measured",
            list(zip(xs, line["time"], strict=True)),
            "linepoints",
            "#D55E00",
            line["labels"],
        )
    )
    for key, name, color in (
        ("flops", "FLOPs prediction", "#0072B2"),
        ("alpha_flops", "α-FLOPs prediction", "#009E73"),
    ):
        if line["lines"][key] is not None:
            chart.series.append(Series(name, line["lines"][key], "dashed", color))
    if line["predicted"] is not None:
        chart.series.append(
            Series("predicted", list(zip(xs, line["predicted"], strict=True)), "dashed", "#CC79A7")
        )
    chart.caption = (
        "Dashed lines grow in proportion to FLOPs and α-FLOPs from the first point: where"
        " measured time grows slower than FLOPs, this dimension is cheap on this machine. "
        + _fit_text(sweep, dim)
    ).strip()


def _dimension_charts(sweep: dict[str, Any], line: dict[str, Any]) -> list[Chart]:
    """The time chart and the FLOP/s chart of one dimension (``line``: one entry of
    :func:`flopwise.analysis.sweep.sweep_plot`)."""
    dim, values = line["dim"], line["x"]
    safe = "".join(c if c.isalnum() else "-" for c in dim)
    xlog = bool(values) and min(values) > 0 and max(values) / min(values) >= 8
    time_chart = _time_chart(dim, safe, xlog)
    rate_chart = Chart(
        id=f"sweep-{safe}-flops",
        title=f"Achieved FLOP/s along {dim}",
        xlabel=dim,
        ylabel="FLOP/s",
        xlog=xlog,
        yunit="FLOP/s",
    )
    if len(values) < 2:
        time_chart.empty = rate_chart.empty = f"Fewer than two measured points along {dim}."
        return [time_chart, rate_chart]
    _add_time_series(time_chart, sweep, line)
    if line["rates"]:
        rate_chart.series.append(
            Series("achieved", line["rates"], "linepoints", "#0072B2", line["labels"])
        )
    else:
        rate_chart.empty = f"No FLOPs recorded along {dim}."
    return [time_chart, rate_chart]


def sweep_charts(sweep: dict[str, Any] | None, plot: list[dict[str, Any]] | None) -> list[Chart]:
    """Per input dimension: measured time (with the FLOPs and α-FLOPs predictions) and
    achieved FLOP/s against the dimension's value. ``plot`` is
    :func:`flopwise.analysis.sweep.sweep_plot` of ``sweep``."""
    if not sweep:
        return [
            Chart(
                id="sweep",
                title="Sweep along input dimensions",
                empty="No sweep in this report (run flopwise sweep MODEL --dim ...).",
            )
        ]
    charts = [chart for line in plot or () for chart in _dimension_charts(sweep, line)]
    if not charts:
        charts.append(
            Chart(
                id="sweep",
                title="Sweep along input dimensions",
                empty="The sweep has no points with input dimensions.",
            )
        )
    return charts


# --------------------------------------------------------------------------------------------
# comparisons


def _correlation_text(corr: dict[str, Any]) -> str:
    names = {
        "pearson": "Pearson",
        "spearman": "Spearman",
        "kendall": "Kendall τ",
        "loglog_r2": "log-log R²",
    }
    parts = [
        f"{names.get(k, k)} {v:.3f}"
        for k, v in corr.items()
        if k != "n" and isinstance(v, int | float) and math.isfinite(v)
    ]
    if isinstance(corr.get("n"), int):
        parts.append(f"n = {corr['n']}")
    return "Correlation with measured time: " + ", ".join(parts) if parts else ""


def _proxy_charts(rows: list[dict[str, Any]], correlations: Any) -> list[Chart]:
    """One log-log scatter per proxy against measured time (the timed rows only)."""
    charts = []
    for key, name in PROXIES:
        pts = [
            (float(r[key]), float(r["time_s"]), str(r["model"])) for r in rows if _pos(r.get(key))
        ]
        if key in ("macs", "alpha_flops", "bytes", "activations") and not pts:
            continue
        chart = Chart(
            id=f"compare-{key.replace('_', '-')}",
            title=f"{name} vs measured time",
            xlabel=name,
            ylabel="measured time (s)",
            xlog=True,
            ylog=True,
            yunit="s",
        )
        if len(pts) < 2:
            chart.empty = (
                f"Fewer than two models with {name} and a measured time"
                " (flopwise compare ... --measure)."
            )
        else:
            chart.series.append(
                Series(
                    "models",
                    [(x, y) for x, y, _ in pts],
                    "points",
                    "#0072B2",
                    [n for _, _, n in pts],
                    annotate=len(pts) <= 12,
                )
            )
            corr = correlations.get(key) if isinstance(correlations, dict) else None
            if isinstance(corr, dict):
                chart.caption = _correlation_text(corr)
        charts.append(chart)
    return charts


def _pareto_series(chart: Chart, pareto: dict[str, Any]) -> None:
    """The dominated models as points and the front as a line."""
    acc_rows, cost, front = pareto["rows"], pareto["cost"], set(pareto["front"])
    others = [r for r in acc_rows if str(r["model"]) not in front]
    on = sorted((r for r in acc_rows if str(r["model"]) in front), key=lambda r: r[cost])
    annotate = len(acc_rows) <= 12
    for name, group, style, color in (
        ("dominated", others, "points", "#999999"),
        ("Pareto front", on, "linepoints", "#D55E00"),
    ):
        if group:
            chart.series.append(
                Series(
                    name,
                    [(float(r[cost]), float(r["accuracy"])) for r in group],
                    style,
                    color,
                    [str(r["model"]) for r in group],
                    annotate=annotate,
                )
            )
    cheaper = "faster" if cost == "time_s" else "cheaper in FLOPs"
    chart.caption = (
        f"Models on the front are not beaten by any model that is both {cheaper} and more accurate."
    )


def _pareto_chart(pareto: dict[str, Any]) -> Chart:
    """Accuracy against measured time (``cost`` ``time_s``), else against FLOPs."""
    if pareto["cost"] == "time_s":
        cost_name, unit = "measured time (s)", "s"
    else:
        cost_name, unit = "FLOPs (not measured)", " FLOPs"
    chart = Chart(
        id="compare-pareto",
        title=f"Accuracy vs {cost_name.split(' (')[0]} (Pareto front)",
        xlabel=cost_name,
        ylabel="accuracy",
        xlog=True,
        xunit=unit,
    )
    if len(pareto["rows"]) < 2:
        chart.empty = "No accuracies given (flopwise compare ... --accuracy NAME=VALUE)."
    else:
        _pareto_series(chart, pareto)
    return chart


def comparison_charts(
    comparison: dict[str, Any] | None, plot: dict[str, Any] | None
) -> list[Chart]:
    """One scatter per proxy (proxy vs measured time, log-log) and the accuracy Pareto front
    (against measured time, or against FLOPs when the models were not timed). ``plot`` is
    :func:`flopwise.analysis.compare.comparison_plot` of ``comparison``."""
    if not comparison or plot is None:
        return [
            Chart(
                id="compare",
                title="Model comparison",
                empty="No comparison in this report (run flopwise compare MODEL ...).",
            )
        ]
    charts = _proxy_charts(plot["timed"], comparison.get("correlations") or {})
    charts.append(_pareto_chart(plot["pareto"]))
    return charts


# --------------------------------------------------------------------------------------------
# static files


def write_plots(charts: list[Chart], directory: str | Path, *, png: bool = True) -> list[Path]:
    """Write each chart as ``<id>.svg`` (always) and ``<id>.png`` (when ``png`` and
    matplotlib is installed) into ``directory``; return the written paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    seen: Counter[str] = Counter()
    have_mpl = png
    for chart in charts:
        seen[chart.id] += 1
        stem = chart.id if seen[chart.id] == 1 else f"{chart.id}-{seen[chart.id]}"
        svg_path = directory / f"{stem}.svg"
        svg_path.write_text(chart_svg(chart), encoding="utf-8")
        written.append(svg_path)
        if have_mpl:
            try:
                written.append(chart_png(chart, directory / f"{stem}.png"))
            except ImportError:
                have_mpl = False
    return written
