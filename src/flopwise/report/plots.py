"""The report's charts, built from documents: roofline, efficiency gap, sweeps, comparisons.

Each builder reads a document and returns :class:`~flopwise.report.plots_svg.Chart` objects;
a chart without data says why in its ``empty`` message. The builders only place the
document's numbers on axes (ratios such as flops/bytes or flops/time are the coordinates of
a roofline plot, shares are bar lengths); they count nothing. Where a document already
carries a derived figure (a module's roofline floor, a sweep point's prediction, a Pareto
front), that figure is used as is.

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
from flopwise.store.metrics import measured_latency, module_metrics
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


def _pos(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if x > 0 and math.isfinite(x) else None


# --------------------------------------------------------------------------------------------
# reading a profile document


def leaf_modules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Modules without children (the layers), in document order; the root when alone."""
    modules = list(doc.get("modules") or ())
    leaves = []
    for i, module in enumerate(modules):
        depth = module.get("depth", 0)
        nxt = modules[i + 1].get("depth", 0) if i + 1 < len(modules) else -1
        if nxt <= depth and (depth > 0 or len(modules) == 1):
            leaves.append(module)
    return leaves


def _pick(value: Any, preferred: list[str]) -> float | None:
    if _pos(value) is not None:
        return float(value)
    if isinstance(value, dict):
        for key in preferred:
            if _pos(value.get(key)) is not None:
                return float(value[key])
        numbers = [float(v) for v in value.values() if _pos(v) is not None]
        if numbers:
            return max(numbers)
    return None


def _doc_dtype(doc: dict[str, Any]) -> str:
    mode = doc.get("mode") or {}
    dtype = mode.get("dtype")
    if not dtype:
        floats = [i.get("dtype") for i in doc.get("inputs") or () if isinstance(i, dict)]
        floats = [d for d in floats if d and "float" in str(d)]
        dtype = floats[0] if floats else "float32"
    return str(dtype).removeprefix("torch.")


def hardware_ceilings(doc: dict[str, Any]) -> dict[str, Any] | None:
    """``{"peak_flops", "memory_bandwidth", "name"}`` from the document's hardware profile
    (``measured.hardware`` or ``hardware``), or ``None`` when it has no usable ceilings."""
    measured = doc.get("measured") if isinstance(doc.get("measured"), dict) else {}
    hw = measured.get("hardware") or doc.get("hardware")
    if not isinstance(hw, dict):
        return None
    dtype = _doc_dtype(doc)
    aliases = [
        dtype,
        {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(dtype, ""),
        "float32",
        "fp32",
    ]
    peak = _pick(hw.get("peak_flops") or hw.get("gemm_flops") or hw.get("flops"), aliases)
    bandwidth = _pick(
        hw.get("memory_bandwidth") or hw.get("bandwidth") or hw.get("copy_bandwidth"),
        ["read_write", "copy", "dram"],
    )
    if peak is None or bandwidth is None:
        return None
    name = hw.get("name") or hw.get("device") or hw.get("source") or "this machine"
    return {"peak_flops": peak, "memory_bandwidth": bandwidth, "name": str(name)}


def _rows_at(doc: dict[str, Any], *paths: tuple[str, ...]) -> list[dict[str, Any]]:
    """The first list of dict rows found at one of the key paths (``("measured", "ops")``)."""
    for path in paths:
        node: Any = doc
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, list) and node and all(isinstance(r, dict) for r in node):
            return node
    return []


def op_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-op rows with counts and a measured time (``measured.roofline.ops``,
    ``measured.ops`` or ``roofline.ops``), as the measure engine attaches them."""
    rows = _rows_at(doc, ("measured", "roofline", "ops"), ("roofline", "ops"), ("measured", "ops"))
    return [r for r in rows if _pos(r.get("flops")) and _pos(module_metrics(r)["bytes"])]


def _module_floors(doc: dict[str, Any]) -> dict[str, float]:
    rows = _rows_at(doc, ("measured", "roofline", "modules"), ("roofline", "modules"))
    if not rows:
        roof = (doc.get("measured") or {}).get("roofline")
        rows = roof if isinstance(roof, list) else []
    return {
        str(r.get("path", "")): float(r["floor_s"])
        for r in rows
        if isinstance(r, dict) and _pos(r.get("floor_s")) is not None
    }


def _module_time(module: dict[str, Any]) -> float | None:
    return _pos(module_metrics(module)["time"])


def _module_floor(
    module: dict[str, Any], hw: dict[str, Any] | None, floors: dict[str, float] | None = None
) -> float | None:
    if floors and str(module.get("path", "")) in floors:
        return floors[str(module.get("path", ""))]
    for key in ("floor_s", "ideal_s", "roofline_floor_s"):
        if _pos(module.get(key)) is not None:
            return float(module[key])
    roof = module.get("roofline")
    if isinstance(roof, dict) and _pos(roof.get("floor_s")) is not None:
        return float(roof["floor_s"])
    if hw is None:
        return None
    metrics = module_metrics(module)
    flops, nbytes = metrics["flops"] or 0, metrics["bytes"] or 0
    if not flops and not nbytes:
        return None
    # No floor in the document: the analysis package's floor of the layer's totals (a lower
    # bound of the sum of its ops' floors, equal for single-op layers).
    from flopwise.analysis.roofline import floor as roofline_floor

    return roofline_floor(flops, nbytes, _Ceilings(hw)).floor_s


class _Ceilings:
    """The two ceilings of :func:`hardware_ceilings` in the shape the roofline analysis reads."""

    def __init__(self, hw: dict[str, Any]) -> None:
        self.memory_bandwidth = float(hw["memory_bandwidth"])
        self._peak = float(hw["peak_flops"])

    def peak_for(self, dtype: Any = "float32", *, sparse: bool = False) -> float:
        return self._peak


# --------------------------------------------------------------------------------------------
# profile charts


def roofline_chart(doc: dict[str, Any]) -> Chart:
    """Modules on the roofline: arithmetic intensity (FLOP/byte) against achieved FLOP/s,
    under the compute and bandwidth ceilings of the document's hardware profile."""
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
    hw = hardware_ceilings(doc)
    measured_pts: dict[str, list[tuple[float, float, str]]] = {"memory": [], "compute": []}
    bound_pts: list[tuple[float, float, str]] = []
    intensities = []
    for module in leaf_modules(doc):
        metrics = module_metrics(module)
        flops, nbytes = _pos(metrics["flops"]), _pos(metrics["bytes"])
        if flops is None or nbytes is None:
            continue
        intensity = flops / nbytes
        intensities.append(intensity)
        label = f"{module.get('path') or '(root)'} [{module.get('type', '')}]"
        time_s = _module_time(module)
        if time_s is not None:
            bound = module.get("bound")
            if bound not in ("memory", "compute"):
                ridge = hw["peak_flops"] / hw["memory_bandwidth"] if hw else None
                bound = "memory" if ridge is not None and intensity < ridge else "compute"
            measured_pts[bound].append((intensity, flops / time_s, label))
        elif hw is not None:
            attainable = min(hw["peak_flops"], hw["memory_bandwidth"] * intensity)
            bound_pts.append((intensity, attainable, label))
    ops = []
    for row in op_rows(doc):
        metrics = module_metrics(row)
        time_s = _pos(metrics["time"])
        if time_s is not None:
            flops = float(metrics["flops"])
            ops.append(
                (
                    flops / metrics["bytes"],
                    flops / time_s,
                    f"{row.get('op', '?')} in {row.get('module_path') or '(root)'}",
                )
            )
    intensities += [x for x, _, _ in ops]
    if hw is None and not any(measured_pts.values()) and not ops:
        chart.empty = (
            "No hardware ceilings or measured times in this document "
            "(profile with --measure to draw the roofline)."
        )
        return chart
    if not intensities:
        chart.empty = "No layer has both FLOPs and bytes to place on the roofline."
        return chart
    if hw is not None:
        peak, bw = hw["peak_flops"], hw["memory_bandwidth"]
        ridge = peak / bw
        lo = min(min(intensities), ridge) / 2
        hi = max(max(intensities), ridge) * 2
        chart.series.append(
            Series(
                f"memory ceiling {bw / 1e9:.3g} GB/s",
                [(lo, bw * lo), (ridge, peak)],
                style="dashed",
                color="#D55E00",
            )
        )
        chart.series.append(
            Series(
                f"compute ceiling {peak / 1e9:.4g} GFLOP/s",
                [(ridge, peak), (hi, peak)],
                style="dashed",
                color="#0072B2",
            )
        )
        chart.caption = (
            f"Ceilings of {hw['name']}: ridge point at {ridge:.3g} FLOP/byte. Layers left of"
            " the ridge are bound by memory traffic, right of it by arithmetic."
        )
    names = {
        "memory": "memory-bound layers (measured)",
        "compute": "compute-bound layers (measured)",
    }
    if hw is None:
        names = {"memory": "layers (measured)", "compute": "layers (measured)"}
        chart.caption = "No hardware ceilings in this document: only measured throughput is shown."
    for key, color in (("memory", "#E69F00"), ("compute", "#009E73")):
        pts = measured_pts[key]
        if pts:
            chart.series.append(
                Series(
                    names[key],
                    [(x, y) for x, y, _ in pts],
                    style="points",
                    color=color,
                    labels=[lbl for _, _, lbl in pts],
                )
            )
    if ops:  # drawn under the layers (ceilings are the first two series when present)
        chart.series.insert(
            2 if hw is not None else 0,
            Series(
                "ops (measured)",
                [(x, y) for x, y, _ in ops],
                style="points",
                color="#56B4E9",
                labels=[lbl for _, _, lbl in ops],
            ),
        )
    if bound_pts:
        chart.series.append(
            Series(
                "layers at their roofline bound (not measured)",
                [(x, y) for x, y, _ in bound_pts],
                style="points",
                color="#CC79A7",
                labels=[lbl for _, _, lbl in bound_pts],
            )
        )
        chart.caption += " No measured times: layers are drawn at the bound the roofline allows."
    return chart


def _top_layers(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    leaves = leaf_modules(doc)
    timed = any(_module_time(m) is not None for m in leaves)

    def key(m: dict[str, Any]) -> float:
        return (_module_time(m) or 0.0) if timed else float(module_metrics(m)["flops"] or 0)

    ranked = sorted(leaves, key=key, reverse=True)
    return [m for m in ranked if key(m) > 0][:TOP_LAYERS], timed


def efficiency_share_chart(doc: dict[str, Any]) -> Chart:
    """Share of FLOPs, bytes and time per layer (the largest :data:`TOP_LAYERS`): where
    FLOPs go against where time goes."""
    chart = Chart(
        id="efficiency-share",
        title="Where FLOPs go vs where time goes (share per layer)",
        kind="bars",
        xlabel="share of the model total (%)",
        xunit="%",
    )
    leaves = leaf_modules(doc)
    layers, timed = _top_layers(doc)
    if not layers:
        chart.empty = "No layer with FLOPs or time in this document."
        return chart
    total_flops = sum(module_metrics(m)["flops"] or 0 for m in leaves)
    total_bytes = sum(module_metrics(m)["bytes"] or 0 for m in leaves)
    total_time = sum(_module_time(m) or 0.0 for m in leaves)
    chart.categories = [m.get("path") or "(root)" for m in layers]
    chart.bars.append(
        BarGroup(
            "FLOPs share",
            [
                100 * (module_metrics(m)["flops"] or 0) / total_flops if total_flops else 0
                for m in layers
            ],
            "#0072B2",
        )
    )
    if total_bytes:
        chart.bars.append(
            BarGroup(
                "bytes share",
                [100 * (module_metrics(m)["bytes"] or 0) / total_bytes for m in layers],
                "#E69F00",
            )
        )
    if timed and total_time:
        chart.bars.append(
            BarGroup(
                "time share", [100 * (_module_time(m) or 0) / total_time for m in layers], "#D55E00"
            )
        )
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


def latency_chart(doc: dict[str, Any]) -> Chart:
    """Ideal (roofline floor) against measured latency per layer: the efficiency gap."""
    chart = Chart(
        id="efficiency-gap",
        title="Efficiency gap: ideal (roofline floor) vs measured latency per layer",
        kind="bars",
        xlabel="latency (seconds)",
        xunit="s",
    )
    hw = hardware_ceilings(doc)
    layers, timed = _top_layers(doc)
    if not timed:
        chart.empty = "No measured layer times in this document (profile with --measure)."
        return chart
    given = _module_floors(doc)
    floors = [_module_floor(m, hw, given) for m in layers]
    if all(f is None for f in floors):
        chart.empty = "No hardware ceilings in this document to compute the ideal latency."
        return chart
    chart.categories = [m.get("path") or "(root)" for m in layers]
    chart.bars.append(BarGroup("ideal (roofline floor)", [f or 0.0 for f in floors], "#009E73"))
    chart.bars.append(BarGroup("measured", [_module_time(m) or 0.0 for m in layers], "#D55E00"))
    leaves = leaf_modules(doc)
    measured_doc = doc.get("measured") if isinstance(doc.get("measured"), dict) else {}
    roof = measured_doc.get("roofline")
    summary = roof.get("summary") if isinstance(roof, dict) else None
    summary = summary if isinstance(summary, dict) else {}
    if _pos(summary.get("waterline_s")):  # the analysis' own sum of per-op floors
        waterline = float(summary["waterline_s"])
    else:
        waterline = sum(_module_floor(m, hw, given) or 0.0 for m in leaves)
    measured = measured_latency(doc) or sum(_module_time(m) or 0.0 for m in leaves)
    derived = (
        ""
        if given or any(_module_floor(m, None) for m in layers)
        else (" Floors from each layer's totals and the document's ceilings.")
    )
    chart.caption = (
        f"The {len(layers)} slowest layers. Sum of the floors of all layers (waterline):"
        f" {seconds(waterline)}; measured end to end: {seconds(measured)}"
        + (
            f" (efficiency {waterline / measured:.1%})."
            if measured and waterline <= measured
            else (" (under the floor: a profile error)." if measured else ".")
        )
        + derived
    )
    return chart


def profile_charts(doc: dict[str, Any]) -> list[Chart]:
    """The charts of one profile document, in report order."""
    return [roofline_chart(doc), efficiency_share_chart(doc), latency_chart(doc)]


# --------------------------------------------------------------------------------------------
# sweeps


def _point_time(p: dict[str, Any]) -> float | None:
    for key in ("time_s", "seconds", "median_s"):
        if _pos(p.get(key)) is not None:
            return float(p[key])
    return None


def _sweep_points(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    points = sweep.get("points") or sweep.get("rows") or []
    out = []
    for p in points:
        if not isinstance(p, dict):
            continue
        dims = p.get("dims") or p.get("point") or p.get("config")
        if isinstance(dims, dict) and dims:
            out.append({**p, "dims": dims})
    return out


def _dimension_series(
    points: list[dict[str, Any]], dim: str, base: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Points that vary only ``dim``: the other dims at ``base`` (the sweep's base
    configuration) when given, else the largest group with the other dims held fixed."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for p in points:
        if dim not in p["dims"]:
            continue
        others = tuple(sorted((k, str(v)) for k, v in p["dims"].items() if k != dim))
        groups.setdefault(others, []).append(p)
    if not groups:
        return []
    best = max(groups.values(), key=len)
    if base:
        at_base = [
            p
            for p in points
            if dim in p["dims"]
            and all(str(v) == str(base.get(k, v)) for k, v in p["dims"].items() if k != dim)
        ]
        if len(at_base) >= 2:
            best = at_base
    return sorted(best, key=lambda p: float(p["dims"][dim]))


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


def sweep_charts(sweep: dict[str, Any] | None) -> list[Chart]:
    """Per input dimension: measured time (with the FLOPs and α-FLOPs predictions) and
    achieved FLOP/s against the dimension's value."""
    if not sweep:
        return [
            Chart(
                id="sweep",
                title="Sweep along input dimensions",
                empty="No sweep in this report (run flopwise sweep MODEL --dim ...).",
            )
        ]
    points = _sweep_points(sweep)
    dims: list[str] = []
    for p in points:
        for k in p["dims"]:
            if k not in dims:
                dims.append(k)
    charts = []
    for dim in dims:
        base = sweep.get("base_dims") if isinstance(sweep.get("base_dims"), dict) else None
        series_pts = [
            p for p in _dimension_series(points, dim, base) if _pos(_point_time(p)) is not None
        ]
        safe = "".join(c if c.isalnum() else "-" for c in dim)
        values = [float(p["dims"][dim]) for p in series_pts]
        xlog = bool(values) and min(values) > 0 and max(values) / min(values) >= 8
        time_chart = Chart(
            id=f"sweep-{safe}-time",
            title=f"Time along {dim}",
            xlabel=dim,
            ylabel="time (s)",
            xlog=xlog,
            ylog=xlog,
            yunit="s",
        )
        rate_chart = Chart(
            id=f"sweep-{safe}-flops",
            title=f"Achieved FLOP/s along {dim}",
            xlabel=dim,
            ylabel="FLOP/s",
            xlog=xlog,
            yunit="FLOP/s",
        )
        if len(series_pts) < 2:
            msg = f"Fewer than two measured points along {dim}."
            time_chart.empty = rate_chart.empty = msg
            charts += [time_chart, rate_chart]
            continue
        xs = values
        times = [float(_point_time(p)) for p in series_pts]
        labels = [", ".join(f"{k}={v}" for k, v in p["dims"].items()) for p in series_pts]
        time_chart.series.append(
            Series("measured", list(zip(xs, times, strict=True)), "linepoints", "#D55E00", labels)
        )
        t0 = times[0]
        for key, name, color in (
            ("flops", "FLOPs prediction", "#0072B2"),
            ("alpha_flops", "α-FLOPs prediction", "#009E73"),
        ):
            vals = [_pos(p.get(key)) for p in series_pts]
            if all(v is not None for v in vals):
                # proportional to the proxy, anchored at the first measured point
                time_chart.series.append(
                    Series(
                        name,
                        [(x, t0 * v / vals[0]) for x, v in zip(xs, vals, strict=True)],
                        "dashed",
                        color,
                    )
                )
        predicted = [_pos(p.get("predicted_time_s")) for p in series_pts]
        if all(v is not None for v in predicted):
            time_chart.series.append(
                Series("predicted", list(zip(xs, predicted, strict=True)), "dashed", "#CC79A7")
            )
        time_chart.caption = (
            "Dashed lines grow in proportion to FLOPs and α-FLOPs from the first point: where"
            " measured time grows slower than FLOPs, this dimension is cheap on this machine. "
            + _fit_text(sweep, dim)
        ).strip()
        rates = []
        for p, x in zip(series_pts, xs, strict=True):
            rate = _pos(p.get("flops_per_s"))
            if rate is None and _pos(p.get("flops")):
                rate = float(p["flops"]) / float(_point_time(p))
            if rate is not None:
                rates.append((x, rate))
        if rates:
            rate_chart.series.append(Series("achieved", rates, "linepoints", "#0072B2", labels))
        else:
            rate_chart.empty = f"No FLOPs recorded along {dim}."
        charts += [time_chart, rate_chart]
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


def _compare_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows with ``model`` (the row's label, model or name), ``time_s`` (``time_s`` or
    ``median_s``) and ``bytes`` filled in."""
    rows = comparison.get("models") or comparison.get("rows") or []
    out = []
    for r in rows:
        if not isinstance(r, dict):
            continue
        row = dict(r)
        if "bytes" not in row and ("bytes_read" in row or "bytes_written" in row):
            row["bytes"] = (row.get("bytes_read") or 0) + (row.get("bytes_written") or 0)
        row["model"] = str(row.get("label") or row.get("model") or row.get("name") or "?")
        if _pos(row.get("time_s")) is None and _pos(row.get("median_s")) is not None:
            row["time_s"] = float(row["median_s"])
        out.append(row)
    return out


def _pareto_names(comparison: dict[str, Any], rows: list[dict[str, Any]], cost: str) -> list[str]:
    given = comparison.get("pareto")
    if isinstance(given, dict):
        given = given.get("front")
    if isinstance(given, list):
        return [str(g) for g in given]
    flagged = [str(r["model"]) for r in rows if r.get("pareto") is True]
    if flagged:
        return flagged
    # non-dominated set: no other model is both cheaper and at least as accurate
    pts = [
        (float(r[cost]), float(r["accuracy"]), str(r["model"]))
        for r in rows
        if _pos(r.get(cost)) and isinstance(r.get("accuracy"), int | float)
    ]
    front, best = [], -math.inf
    for _c, acc, name in sorted(pts, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append(name)
            best = acc
    return front


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


def comparison_charts(comparison: dict[str, Any] | None) -> list[Chart]:
    """One scatter per proxy (proxy vs measured time, log-log) and the accuracy Pareto front
    (against measured time, or against FLOPs when the models were not timed)."""
    if not comparison:
        return [
            Chart(
                id="compare",
                title="Model comparison",
                empty="No comparison in this report (run flopwise compare MODEL ...).",
            )
        ]
    all_rows = _compare_rows(comparison)
    rows = [r for r in all_rows if _pos(r.get("time_s"))]
    correlations = comparison.get("correlations") or {}
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
    timed_acc = [r for r in rows if isinstance(r.get("accuracy"), int | float)]
    if len(timed_acc) >= 2:
        acc_rows, cost, cost_name, unit = timed_acc, "time_s", "measured time (s)", "s"
    else:
        acc_rows = [
            r
            for r in all_rows
            if isinstance(r.get("accuracy"), int | float) and _pos(r.get("flops"))
        ]
        cost, cost_name, unit = "flops", "FLOPs (not measured)", " FLOPs"
    pareto = Chart(
        id="compare-pareto",
        title=f"Accuracy vs {cost_name.split(' (')[0]} (Pareto front)",
        xlabel=cost_name,
        ylabel="accuracy",
        xlog=True,
        xunit=unit,
    )
    if len(acc_rows) < 2:
        pareto.empty = "No accuracies given (flopwise compare ... --accuracy NAME=VALUE)."
    else:
        front = set(_pareto_names(comparison, acc_rows, cost))
        others = [r for r in acc_rows if str(r["model"]) not in front]
        on = sorted((r for r in acc_rows if str(r["model"]) in front), key=lambda r: r[cost])
        if others:
            pareto.series.append(
                Series(
                    "dominated",
                    [(float(r[cost]), float(r["accuracy"])) for r in others],
                    "points",
                    "#999999",
                    [str(r["model"]) for r in others],
                    annotate=len(acc_rows) <= 12,
                )
            )
        if on:
            pareto.series.append(
                Series(
                    "Pareto front",
                    [(float(r[cost]), float(r["accuracy"])) for r in on],
                    "linepoints",
                    "#D55E00",
                    [str(r["model"]) for r in on],
                    annotate=len(acc_rows) <= 12,
                )
            )
        cheaper = "faster" if cost == "time_s" else "cheaper in FLOPs"
        pareto.caption = (
            f"Models on the front are not beaten by any model that is both {cheaper}"
            " and more accurate."
        )
    charts.append(pareto)
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
