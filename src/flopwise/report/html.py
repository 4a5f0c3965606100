"""A self-contained HTML report: one file, no network, inline CSS, JS and SVG.

:func:`render_html` renders a ``flopwise.profile/1`` document (plus, optionally, a sweep and
a comparison) into a page with the totals, conventions and coverage, the charts (roofline,
efficiency gap, sweeps, comparisons; see :mod:`flopwise.report.plots`) and the module tree
as a sortable table. The page works offline when mailed: nothing is fetched, and the
document itself is embedded so the recipient can download the JSON from the page.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any

from flopwise.jsonout import dumps
from flopwise.report.json import memory_document
from flopwise.report.plots import comparison_charts, profile_charts, sweep_charts
from flopwise.report.plots_svg import Chart, chart_svg
from flopwise.store.metrics import measured_latency, module_metrics, with_module_times
from flopwise.store.profile_doc import hardware_ceilings
from flopwise.units import seconds, si

if TYPE_CHECKING:
    from flopwise.memory.result import MemoryProfile

__all__ = ["render_html", "render_memory_html", "report_charts", "route_documents", "format_si"]


def format_si(value: Any, unit: str, *, space: bool = True) -> str:
    """``8.18 GFLOPs``, ``25.6 Mparams``, ``102 MB``: the HTML report's SI style (lowercase
    ``k``, plain ``%.3g``), unit spelled out (never a bare ``G``); non-numbers render as ``—``."""
    return si(value, unit, kilo="k", sep=" " if space else "", tidy=False)


def _doc_kind(doc: dict[str, Any]) -> str:
    schema = str(doc.get("schema", ""))
    if schema.startswith("flopwise.sweep") or ("points" in doc and "modules" not in doc):
        return "sweep"
    if schema.startswith("flopwise.compare") or (
        "models" in doc and isinstance(doc.get("models"), list) and "modules" not in doc
    ):
        return "compare"
    return "profile"


def report_charts(
    doc: dict[str, Any],
    *,
    roofline: dict[str, Any],
    sweep: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
    sweep_plot: list[dict[str, Any]] | None = None,
    comparison_plot: dict[str, Any] | None = None,
) -> list[Chart]:
    """Every chart of the report for these documents, in page order (used for ``--plots``).

    ``doc`` may itself be a sweep or comparison document; it is then routed to its charts.
    ``roofline`` is :func:`flopwise.analysis.roofline.roofline_plot` of the routed profile
    document (:func:`route_documents`); ``sweep_plot`` and ``comparison_plot`` are
    :func:`flopwise.analysis.sweep.sweep_plot` and
    :func:`flopwise.analysis.compare.comparison_plot` of the routed sweep and comparison.
    """
    doc, sweep, comparison = route_documents(doc, sweep, comparison)
    return (
        profile_charts(doc, roofline)
        + sweep_charts(sweep, sweep_plot)
        + comparison_charts(comparison, comparison_plot)
    )


def route_documents(
    doc: dict[str, Any], sweep: dict[str, Any] | None, comparison: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """(profile, sweep, comparison) documents of a report: a sweep or comparison document
    passed as ``doc`` goes to its section and its embedded profile (if any) becomes ``doc``;
    the profile gets its modules' measured times."""
    kind = _doc_kind(doc)
    if kind == "sweep" and sweep is None:
        doc, sweep = dict(doc.get("profile") or {"model": doc.get("model", "?")}), doc
    elif kind == "compare" and comparison is None:
        doc, comparison = dict(doc.get("profile") or {"model": doc.get("model", "?")}), doc
    return with_module_times(doc), sweep, comparison


# --------------------------------------------------------------------------------------------
# page pieces


def _kv_table(rows: list[tuple[str, str]], css: str = "kv") -> str:
    if not rows:
        return '<p class="muted">None recorded.</p>'
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{css}"><tbody>{body}</tbody></table>'


def _plain(value: Any, key: str = "") -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v, str(k))}" for k, v in value.items())
    if _is_seconds(key) and isinstance(value, int | float) and not isinstance(value, bool):
        return seconds(value)
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _inputs_text(doc: dict[str, Any]) -> str:
    parts = []
    for spec in doc.get("inputs") or ():
        if isinstance(spec, dict):
            shape = "×".join(str(s) for s in spec.get("shape") or ()) or "scalar"
            name = spec.get("name")
            dtype = str(spec.get("dtype", "")).removeprefix("torch.")
            parts.append(f"{name + '=' if name else ''}{shape}{':' + dtype if dtype else ''}")
        else:
            parts.append(str(spec))
    return ", ".join(parts) or "—"


def _cards(doc: dict[str, Any], figures: dict[str, Any]) -> str:
    totals = doc.get("totals") or {}
    t = module_metrics(totals)
    latency = measured_latency(doc)
    cards = [
        ("FLOPs", format_si(t["flops"], "FLOPs")),
        ("MACs", format_si(t["macs"], "MACs")),
        ("Parameters", format_si(t["params"], "params")),
        ("Activations", format_si(t["activations"], "elements")),
        ("Bytes moved (unfused)", format_si(t["bytes"], "B")),
    ]
    if "forward_flops" in totals and "backward_flops" in totals and totals.get("backward_flops"):
        cards.append(
            (
                "Forward / backward",
                f"{format_si(totals['forward_flops'], 'FLOPs')} / "
                f"{format_si(totals['backward_flops'], 'FLOPs')}",
            )
        )
    if latency is not None:
        cards.append(("Measured latency (median)", seconds(latency)))
        if figures["achieved_flops_per_s"] is not None:
            cards.append(("Achieved", format_si(figures["achieved_flops_per_s"], "FLOP/s")))
    html = "".join(
        f'<div class="card"><div class="label">{escape(k)}</div>'
        f'<div class="value">{escape(v)}</div></div>'
        for k, v in cards
    )
    return f'<section class="cards">{html}</section>'


def _coverage(doc: dict[str, Any]) -> str:
    uncounted = [u for u in doc.get("uncounted") or () if isinstance(u, dict)]
    complete = doc.get("complete")
    if complete is None:
        head = '<p class="banner unknown">Coverage not recorded in this document.</p>'
    elif complete and not uncounted:
        head = '<p class="banner ok">Complete: every op was counted or is in the zero-flop set.</p>'
    else:
        reasons = [str(r) for r in doc.get("incomplete_reasons") or ()]
        head = "".join(
            f'<p class="banner warn">Incomplete: {escape(text)}</p>'
            for text in [
                *(
                    [
                        f"{len(uncounted)} op type(s) have no formula; their cost is not in the totals."
                    ]
                    if uncounted or not reasons
                    else []
                ),
                *reasons,
            ]
        )
    if not uncounted:
        return head
    rows = "".join(
        "<tr><td><code>{}</code></td><td class=num>{}</td><td class=num>{}</td><td>{}</td></tr>".format(
            escape(str(u.get("op", "?"))),
            escape(_plain(u.get("calls"))),
            escape(format_si(u.get("output_elements"), "")),
            escape(", ".join(str(p) or "(root)" for p in (u.get("module_paths") or ())[:5])),
        )
        for u in uncounted
    )
    return (
        head + '<table class="grid"><thead><tr><th>op</th><th>calls</th><th>output elements</th>'
        f"<th>modules</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _conventions(doc: dict[str, Any]) -> str:
    conv = doc.get("convention") or doc.get("conventions") or {}
    rows = [(str(k), escape(_plain(v))) for k, v in conv.items()] if isinstance(conv, dict) else []
    mode = doc.get("mode") or {}
    if isinstance(mode, dict):
        rows = [(f"mode: {k}", escape(_plain(v))) for k, v in mode.items()] + rows
    return _kv_table(rows)


def _is_seconds(key: str) -> bool:
    return key.endswith("_s") and "per_s" not in key


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _latency_text(lat: dict[str, Any]) -> str:
    parts = [f"median {seconds(lat.get('median_s'))}"]
    extra = []
    for key, label in (("min_s", "min"), ("iqr_s", "IQR")):
        if isinstance(lat.get(key), int | float):
            extra.append(f"{label} {seconds(lat[key])}")
    if isinstance(lat.get("cv"), int | float):
        extra.append(f"CV {lat['cv']:.0%}")
    if isinstance(lat.get("repeats"), int):
        extra.append(f"n={lat['repeats']}")
    if extra:
        parts.append(f"({', '.join(extra)})")
    for key in ("device", "threads", "dtype"):
        if lat.get(key) is not None:
            parts.append(f"· {key} {lat[key]}")
    return " ".join(parts)


#: ``measured`` keys holding fractions, shown as percentages.
_RATIO_KEYS = frozenset(
    {"coverage", "coverage_of_medians", "profiler_overhead", "efficiency", "cv", "rel_iqr"}
)


def _roofline_text(summary: dict[str, Any]) -> str:
    parts = []
    if isinstance(summary.get("waterline_s"), int | float):
        parts.append(f"waterline (sum of op floors) {seconds(summary['waterline_s'])}")
    if isinstance(summary.get("efficiency"), int | float):
        parts.append(f"efficiency {summary['efficiency']:.1%}")
    if isinstance(summary.get("memory_bound_floor_share"), int | float):
        parts.append(f"memory-bound share of the floor {summary['memory_bound_floor_share']:.0%}")
    if isinstance(summary.get("achieved_flops_per_s"), int | float):
        parts.append(f"achieved {format_si(summary['achieved_flops_per_s'], 'FLOP/s')}")
    return " · ".join(parts) or "—"


def _measured(doc: dict[str, Any]) -> str:
    """A summary of ``measured``: scalars, the latency statistics, the hardware ceilings;
    bulky parts (per-module rows, samples) are counted, not dumped (they are in the
    embedded JSON and in the charts and the module table)."""
    measured = doc.get("measured")
    if not isinstance(measured, dict) or not measured:
        return '<p class="muted">Not measured (run the profile with --measure).</p>'
    rows = []
    warnings: list[str] = []
    latency_reasons: list[str] = []
    for key, value in measured.items():
        if key == "hardware":
            continue
        if key == "warnings" and isinstance(value, list):
            warnings += [str(w) for w in value]
            continue
        summary = value.get("summary") if isinstance(value, dict) else None
        if key == "roofline" and isinstance(summary, dict):
            rows.append((key, escape(_roofline_text(summary))))
            continue
        if isinstance(value, dict) and isinstance(value.get("median_s"), int | float):
            rows.append((key, escape(_latency_text(value))))
            if value.get("trustworthy") is False:
                latency_reasons.append(str(value.get("reason") or "spread above the threshold"))
        elif _scalar(value):
            if _is_seconds(key):
                text = seconds(value)
            elif key in _RATIO_KEYS and isinstance(value, int | float):
                text = f"{value:.1%}"
            else:
                text = _plain(value, key)
            rows.append((key, escape(text)))
        elif isinstance(value, dict) and len(value) <= 8 and all(map(_scalar, value.values())):
            rows.append((key, escape(_plain(value, key))))
        elif isinstance(value, dict | list):
            kind = "entries" if isinstance(value, dict) else "rows"
            rows.append(
                (key, f'<span class="muted">{len(value)} {kind} (in the embedded JSON)</span>')
            )
    # a latency's own reason is usually repeated in the run's warnings: say it once
    warnings += [r for r in latency_reasons if not any(r in w for w in warnings)]
    if measured.get("trustworthy") is False and not warnings:
        warnings.append(str(measured.get("reason") or "spread above the threshold"))
    warnings = list(dict.fromkeys(warnings))  # each once
    hw = hardware_ceilings(doc)
    if hw:
        rows.append(("hardware", escape(hw["name"])))
        rows.append(("peak (compute ceiling)", escape(format_si(hw["peak_flops"], "FLOP/s"))))
        rows.append(("memory bandwidth", escape(format_si(hw["memory_bandwidth"], "B/s"))))
    elif isinstance(measured.get("hardware"), dict):
        rows.append(("hardware", escape(_plain(measured["hardware"]))))
    banner = "".join(
        f'<p class="banner warn">Timing not trustworthy: {escape(w)}</p>' for w in warnings
    )
    return banner + _kv_table(rows)


_MODULE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # key, header, unit/format
    ("flops", "FLOPs", "FLOPs"),
    ("macs", "MACs", "MACs"),
    ("params", "params", "params"),
    ("activations", "activations", ""),
    ("bytes_read", "bytes read", "B"),
    ("bytes_written", "bytes written", "B"),
)


def _module_table(doc: dict[str, Any], figures: list[dict[str, Any]]) -> str:
    """The module tree as a sortable table; ``figures`` are
    :func:`flopwise.analysis.roofline.module_figures`' rows, one per module row."""
    modules = [m for m in doc.get("modules") or () if isinstance(m, dict)]
    if not modules:
        return '<p class="muted">This document lists no modules.</p>'
    timed = any(module_metrics(m)["time"] is not None for m in modules)
    has_alpha = any("alpha_macs" in m for m in modules)
    has_bound = any("bound" in m for m in modules)
    headers = ["#", "module", "type", "calls"] + [h for _, h, _ in _MODULE_COLUMNS]
    headers += ["FLOP/byte", "% FLOPs"]
    if has_alpha:
        headers.append("α-MACs")
    if timed:
        headers += ["time", "% time", "achieved"]
    if has_bound:
        headers.append("bound")
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, (m, fig) in enumerate(zip(modules, figures, strict=True)):
        depth = int(m.get("depth", 0) or 0)
        path = str(m.get("path", ""))
        name = path.rsplit(".", 1)[-1] if path else "(model)"
        cells = [
            f'<td class=num data-v="{i}">{i}</td>',
            f'<td class="tree" style="--d:{depth}" title="{escape(path or "(model)")}">'
            f'<span data-path="{escape(path or "(model)")}">{escape(name)}</span></td>',
            f"<td>{escape(str(m.get('type', '')))}</td>",
            _num_cell(m.get("calls"), ""),
        ]
        cells += [_num_cell(m.get(k), unit) for k, _, unit in _MODULE_COLUMNS]
        cells.append(_num_cell(fig["intensity"], "", digits=True))
        cells.append(_num_cell(fig["flops_percent"], "%", digits=True))
        if has_alpha:
            cells.append(_num_cell(m.get("alpha_macs"), "MACs"))
        if timed:
            t = module_metrics(m)["time"]
            cells.append(
                f'<td class=num data-v="{t if t is not None else -1}">{escape(seconds(t))}</td>'
            )
            cells.append(_num_cell(fig["time_percent"], "%", digits=True))
            cells.append(_num_cell(fig["achieved_flops_per_s"], "FLOP/s"))
        if has_bound:
            cells.append(f"<td>{escape(str(m.get('bound') or ''))}</td>")
        body.append(f'<tr data-depth="{depth}">{"".join(cells)}</tr>')
    max_depth = max(int(m.get("depth", 0) or 0) for m in modules)
    options = "".join(
        f'<option value="{d}"{" selected" if d == max_depth else ""}>{d}</option>'
        for d in range(max_depth + 1)
    )
    controls = (
        '<div class="controls"><label>filter <input id="module-filter" type="search"'
        ' placeholder="path or type"></label> <label>max depth <select id="module-depth">'
        f"{options}</select></label> <span class=muted>Click a column header to sort;"
        " # restores the tree order.</span></div>"
    )
    return (
        controls
        + f'<div class="scroll"><table id="modules" class="grid sortable"><thead><tr>{head}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _num_cell(value: Any, unit: str, *, digits: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return '<td class=num data-v="-1">—</td>'
    if unit == "%":
        text = f"{value:.1f}%"
    elif digits:
        text = f"{value:.3g}"
    else:
        text = format_si(value, unit)
    raw = value if math.isfinite(value) else -1
    return f'<td class=num data-v="{raw}" title="{escape(f"{value:,}")}">{escape(text)}</td>'


def _figure(chart: Chart) -> str:
    caption = f"<figcaption>{escape(chart.caption)}</figcaption>" if chart.caption else ""
    if chart.has_data:
        state, body = "data", chart_svg(chart)
    else:  # said in words, at the page's font size, instead of a blank plot
        state = "empty"
        body = f'<p class="chart-empty">{escape(chart.empty or "No data.")}</p>'
    return (
        f'<figure class="chart" id="chart-{escape(chart.id)}" data-chart="{escape(chart.id)}"'
        f' data-state="{state}"><h3>{escape(chart.title)}</h3>{body}{caption}</figure>'
    )


# --------------------------------------------------------------------------------------------

_CSS = """
:root{--fg:#1d2329;--muted:#66707a;--line:#d9dee3;--bg:#ffffff;--soft:#f5f7f9;--accent:#0072B2}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:18px 28px 10px;border-bottom:1px solid var(--line);background:var(--soft)}
header h1{margin:0 0 4px;font-size:22px}
header .sub{color:var(--muted)}
main{padding:8px 28px 40px;max-width:1400px}
h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:14px;margin:0 0 6px}
nav{margin-top:8px}nav a{margin-right:14px;color:var(--accent);text-decoration:none}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:150px;background:#fff}
.card .label{color:var(--muted);font-size:12px}.card .value{font-size:18px;font-weight:600}
.banner{padding:6px 10px;border-radius:4px;margin:6px 0}
.banner.ok{background:#e8f5ee;color:#1e6b3c}.banner.warn{background:#fdf0e1;color:#8a4b00}
.banner.unknown{background:var(--soft);color:var(--muted)}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:18px}
table{border-collapse:collapse}
table.kv th{text-align:left;font-weight:500;color:var(--muted);padding:2px 14px 2px 0;vertical-align:top;white-space:nowrap}
p.chart-empty{margin:4px 0;padding:18px;border:1px dashed #cccccc;border-radius:4px;background:#fafafa;color:var(--muted);text-align:center}
table.kv td{padding:2px 0}
table.grid{width:100%;font-size:12.5px}
table.grid th,table.grid td{border-bottom:1px solid var(--line);padding:3px 8px;white-space:nowrap}
table.grid thead th{position:sticky;top:0;background:var(--soft);text-align:left;user-select:none}
table.sortable thead th{cursor:pointer}
table.sortable thead th[aria-sort=ascending]::after{content:" ▲"}
table.sortable thead th[aria-sort=descending]::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.grid td.tree{padding-left:calc(8px + var(--d,0) * 16px)}
table.grid.flat td.tree{padding-left:8px}
table.flat td.tree span::before{content:attr(data-path);}
table.flat td.tree span{font-size:0}table.flat td.tree span::before{font-size:12.5px}
tr:hover td{background:#f0f6fb}
.scroll{max-height:640px;overflow:auto;border:1px solid var(--line)}
.controls{margin:6px 0}.controls input,.controls select{font:inherit}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:18px}
figure.chart{margin:0;border:1px solid var(--line);border-radius:6px;padding:10px;background:#fff}
figure.chart svg{display:block;max-width:100%;height:auto}
figcaption{color:var(--muted);font-size:12px;margin-top:4px}
.muted{color:var(--muted)}
code{font-size:12px}
footer{color:var(--muted);font-size:12px;padding:10px 28px;border-top:1px solid var(--line)}
circle.pt:hover{stroke:#000;stroke-width:1.5}
@media print{.scroll{max-height:none;overflow:visible}.controls{display:none}}
"""

_JS = """
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function (e) {
    body.setAttribute("data-error", String(e.message || e));
  });
  function key(row, idx) {
    var cell = row.cells[idx];
    var raw = cell ? cell.getAttribute("data-v") : null;
    if (raw !== null) { var n = parseFloat(raw); return isNaN(n) ? -Infinity : n; }
    return cell ? cell.textContent.trim().toLowerCase() : "";
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    var tbody = table.tBodies[0];
    Array.prototype.forEach.call(heads, function (th, idx) {
      th.setAttribute("tabindex", "0");
      th.title = "Sort by " + th.textContent;
      function sort() {
        var rows = Array.prototype.slice.call(tbody.rows);
        var numeric = rows.length && typeof key(rows[0], idx) === "number";
        var current = th.getAttribute("aria-sort");
        var descending = current ? current === "ascending" : (numeric && idx !== 0);
        var sign = descending ? -1 : 1;
        rows.forEach(function (r, i) { r._i = i; });
        rows.sort(function (a, b) {
          var x = key(a, idx), y = key(b, idx);
          if (x < y) return -sign;
          if (x > y) return sign;
          return a._i - b._i;
        });
        rows.forEach(function (r) { tbody.appendChild(r); });
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        table.classList.toggle("flat", !(idx === 0 && !descending));
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
  });
  var filter = document.getElementById("module-filter");
  var depth = document.getElementById("module-depth");
  function applyFilter() {
    var table = document.getElementById("modules");
    if (!table) return;
    var text = filter ? filter.value.trim().toLowerCase() : "";
    var max = depth ? parseInt(depth.value, 10) : Infinity;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var d = parseInt(row.getAttribute("data-depth"), 10);
      var hay = (row.cells[1].title + " " + row.cells[2].textContent).toLowerCase();
      row.style.display = (d <= max && (!text || hay.indexOf(text) >= 0)) ? "" : "none";
    });
  }
  if (filter) filter.addEventListener("input", applyFilter);
  if (depth) depth.addEventListener("change", applyFilter);
  var link = document.getElementById("download-json");
  var data = document.getElementById("flopwise-document");
  if (link && data) {
    link.addEventListener("click", function () {
      var blob = new Blob([data.textContent], {type: "application/json"});
      link.href = URL.createObjectURL(blob);
    });
  }
  var figures = document.querySelectorAll("figure.chart");
  var drawn = 0;
  Array.prototype.forEach.call(figures, function (fig) {
    var svg = fig.querySelector("svg");
    var note = fig.querySelector(".chart-empty");
    var shown = svg && svg.childElementCount > 0 ? svg : (note && note.textContent.trim() ? note : null);
    var box = shown ? shown.getBoundingClientRect() : null;
    if (box && box.width > 0 && box.height > 0) {
      fig.setAttribute("data-drawn", "1");
      drawn += 1;
    }
  });
  body.setAttribute("data-charts", String(figures.length));
  body.setAttribute("data-charts-drawn", String(drawn));
  body.setAttribute("data-ready", "1");
})();
"""


def render_html(
    doc: dict[str, Any],
    *,
    sweep: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
    title: str | None = None,
    roofline: dict[str, Any],
    figures: dict[str, Any],
    sweep_plot: list[dict[str, Any]] | None = None,
    comparison_plot: dict[str, Any] | None = None,
) -> str:
    """Render a self-contained HTML report.

    ``doc`` is a ``flopwise.profile/1`` document (``Profile.to_dict()`` or a stored run);
    ``sweep`` and ``comparison`` are the documents of ``flopwise sweep`` and
    ``flopwise compare`` (see :mod:`flopwise.report.plots` for their shape). A sweep or
    comparison document passed as ``doc`` is routed to its section. ``roofline`` is
    :func:`flopwise.analysis.roofline.roofline_plot` of the routed profile document
    (:func:`route_documents`) and ``figures`` its
    :func:`flopwise.analysis.roofline.module_figures` (the cards' and module table's
    derived figures); ``sweep_plot`` and ``comparison_plot`` those of the sweep and
    the comparison (see :func:`report_charts`). Returns the page as a string; nothing is
    read from or written to disk or network.
    """
    doc, sweep, comparison = route_documents(doc, sweep, comparison)
    model = str(
        doc.get("model") or (sweep or {}).get("model") or (comparison or {}).get("model") or "model"
    )
    title = title or f"flopwise report: {model}"
    profile = profile_charts(doc, roofline)
    sweeps = sweep_charts(sweep, sweep_plot)
    comparisons = comparison_charts(comparison, comparison_plot)
    mode = doc.get("mode") or {}
    sub = " · ".join(
        x
        for x in (
            f"inputs {_inputs_text(doc)}",
            f"{mode.get('phase', '')} {mode.get('tensors', '')} {mode.get('device', '')}".strip()
            if isinstance(mode, dict)
            else "",
            str(doc.get("schema", "")),
        )
        if x
    )
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    embedded = dumps(
        {"document": doc, "sweep": sweep, "comparison": comparison}, indent=None, default=str
    ).translate({ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"})
    try:
        from flopwise import __version__ as version
    except ImportError:  # pragma: no cover
        version = "?"
    sections = [
        _cards(doc, figures),
        '<div class="cols"><section><h2 id="coverage">Coverage</h2>',
        _coverage(doc),
        '<h2 id="conventions">Conventions and mode</h2>',
        _conventions(doc),
        '</section><section><h2 id="measured">Measurement</h2>',
        _measured(doc),
        "</section></div>",
        '<h2 id="roofline">Roofline and efficiency</h2><div class="charts">',
        "".join(_figure(c) for c in profile),
        '</div><h2 id="sweep">Sweep along input dimensions</h2><div class="charts">',
        "".join(_figure(c) for c in sweeps),
        '</div><h2 id="compare">Model comparison</h2><div class="charts">',
        "".join(_figure(c) for c in comparisons),
        '</div><h2 id="modules-h">Modules</h2>',
        _module_table(doc, figures["modules"]),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="flopwise {escape(str(version))}">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        "<body>"
        f"<header><h1>{escape(model)}</h1><div class=sub>{escape(sub)}</div>"
        '<nav><a href="#coverage">coverage</a><a href="#measured">measurement</a>'
        '<a href="#roofline">roofline</a><a href="#sweep">sweep</a><a href="#compare">comparison</a>'
        '<a href="#modules-h">modules</a>'
        '<a id="download-json" download="flopwise-report.json" href="#">download JSON</a></nav>'
        "</header><main>" + "".join(sections) + "</main>"
        f"<footer>Generated by flopwise {escape(str(version))} on {generated}. FLOPs count a"
        " multiply-add as 2; MACs count it once. Self-contained: no network access needed."
        "</footer>"
        f'<script type="application/json" id="flopwise-document">{embedded}</script>'
        f"<script>{_JS}</script></body></html>\n"
    )


def render_memory_html(mp: MemoryProfile, *, title: str | None = None) -> str:
    """A self-contained HTML page for one memory profile (``flopwise memory -f html``):
    the peak and fit cards, the memory timeline chart (stacked by category, peak marked;
    see :func:`flopwise.report.memory.memory_timeline_chart`), the breakdown at the peak and
    the per-module table. Every number comes from ``mp``; the JSON is embedded."""
    from flopwise.report.memory import memory_timeline_chart, mib, peak_label

    title = title or f"flopwise memory: {mp.model}"
    doc = memory_document(mp)
    cards = [("peak", mib(mp.peak_bytes)), ("before the step", mib(mp.baseline_bytes))]
    cards += [(f"peak in {ph}", mib(n)) for ph, n in mp.phase_peaks.items()]
    fit = mp.fit
    if fit:
        verdict = "fits" if fit.fits else "does not fit"
        cards.append((f"on {fit.hardware}", verdict))
        if fit.largest_batch is not None:
            cards.append(("largest batch that fits", str(fit.largest_batch)))
    card_html = "".join(
        f'<div class="card"><div class="label">{escape(k)}</div>'
        f'<div class="value">{escape(v)}</div></div>'
        for k, v in cards
    )
    breakdown = _kv_table(
        [(cat, f"{escape(mib(n))} ({n:,} bytes)") for cat, n in mp.peak.by_category.items() if n]
    )
    rows = "".join(
        f'<tr><td class="tree" style="--d:{m.depth}">{escape(m.path or "(root)")}</td>'
        f"<td>{escape(m.type)}</td>"
        + "".join(
            f'<td class=num data-v="{v}" title="{v:,}">{escape(mib(v))}</td>'
            for v in (m.allocated_bytes, m.saved_bytes, m.peak_bytes)
        )
        + "</tr>"
        for m in mp.modules
    )
    modules = (
        '<div class="scroll"><table class="grid sortable"><thead><tr><th>Module</th>'
        "<th>Type</th><th>Allocated</th><th>Kept for backward</th><th>Peak while running</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )
    mode = mp.mode
    sub = (
        mode.phase
        + (f", batch {mode.batch}" if mode.batch is not None else "")
        + f", allocator rounding {mp.granularity} B · {peak_label(mp)}"
    )
    embedded = dumps({"document": doc}, indent=None, default=str).translate(
        {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(mp.model)}</h1><div class=sub>{escape(sub)}</div>"
        '<nav><a href="#timeline">timeline</a><a href="#breakdown">breakdown</a>'
        '<a href="#modules-h">modules</a>'
        '<a id="download-json" download="flopwise-memory.json" href="#">download JSON</a></nav>'
        f'</header><main><div class="cards">{card_html}</div>'
        '<h2 id="timeline">Memory timeline</h2><div class="charts">'
        f"{_figure(memory_timeline_chart(mp))}</div>"
        f'<h2 id="breakdown">Live at the peak</h2>{breakdown}'
        f'<h2 id="modules-h">Modules</h2>{modules}</main>'
        f'<script type="application/json" id="flopwise-document">{embedded}</script>'
        f"<script>{_JS}</script></body></html>\n"
    )
