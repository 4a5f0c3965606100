"""A small chart vocabulary (:class:`Chart`, :class:`Series`) and its renderers: inline SVG
written in pure Python (so a report needs no plotting library to view), and matplotlib for
static PNG files.

Charts are data: a builder (see :mod:`flopwise.report.plots`) fills a :class:`Chart` from a
document; :func:`chart_svg` and :func:`chart_png` only draw it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from flopwise.units import si_short

#: Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#8C6D00",
    "#444444",
)

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass
class Series:
    """One data series of an x/y chart.

    ``style`` is ``"points"``, ``"line"``, ``"linepoints"``, ``"dashed"`` (a dashed line,
    used for ceilings and predictions) or ``"area"`` (a line filled down to zero; a stacked
    area chart lists cumulative totals, largest first, so each paints over the next). ``labels`` (one per point) become hover tooltips.
    """

    name: str
    points: list[tuple[float, float]]
    style: str = "points"
    color: str | None = None
    labels: list[str] | None = None
    annotate: bool = False  # write each label next to its point (for a few named points)


@dataclass
class BarGroup:
    """One bar per category for a horizontal grouped bar chart."""

    name: str
    values: list[float]
    color: str | None = None


@dataclass
class Chart:
    """A chart description. ``kind`` is ``"xy"`` (series on x/y axes, linear or log) or
    ``"bars"`` (horizontal grouped bars: ``categories`` × ``bars``). A chart with no data
    carries ``empty``: the sentence shown in its place."""

    id: str
    title: str
    kind: str = "xy"
    xlabel: str = ""
    ylabel: str = ""
    xlog: bool = False
    ylog: bool = False
    series: list[Series] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    bars: list[BarGroup] = field(default_factory=list)
    caption: str = ""
    empty: str | None = None
    xunit: str = ""
    yunit: str = ""

    @property
    def has_data(self) -> bool:
        """Whether there is anything to draw."""
        if self.empty:
            return False
        if self.kind == "bars":
            return bool(self.categories) and any(b.values for b in self.bars)
        return any(s.points for s in self.series)


# --------------------------------------------------------------------------------------------
# scales


class _Scale:
    def __init__(self, lo: float, hi: float, log: bool, start: float, end: float) -> None:
        self.log = log
        self.start, self.end = start, end
        if log:
            lo_log = math.log10(max(lo, 1e-300))
            hi_log = math.log10(max(hi, 1e-300))
            pad = max((hi_log - lo_log) * 0.06, 0.08)
            self.lo = 10 ** (lo_log - pad)
            self.hi = 10 ** (hi_log + pad)
        else:
            if hi == lo:
                lo, hi = (lo - 1, hi + 1) if lo == 0 else (lo - abs(lo) * 0.1, hi + abs(hi) * 0.1)
            step = _nice_step((hi - lo) / 5)
            self.lo = math.floor(lo / step) * step
            self.hi = math.ceil(hi / step) * step
            self.step = step

    def __call__(self, v: float) -> float:
        if self.log:
            v = max(v, self.lo * 1e-3)
            t = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return self.start + t * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            first = math.floor(math.log10(self.lo))
            last = math.ceil(math.log10(self.hi))
            for mults, enough in (((1,), 3), ((1, 2, 5), 2), ((1, 2, 3, 4, 5, 6, 7, 8, 9), 0)):
                ticks = [
                    m * 10.0**d
                    for d in range(first, last + 1)
                    for m in mults
                    if self.lo <= m * 10.0**d <= self.hi
                ]
                if len(ticks) >= enough:
                    break
            if len(ticks) > 9:
                ticks = ticks[:: math.ceil(len(ticks) / 8)]
            return ticks
        count = round((self.hi - self.lo) / self.step)
        return [self.lo + i * self.step for i in range(count + 1)]


def _nice_step(raw: float) -> float:
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def _color(i: int, explicit: str | None) -> str:
    return explicit or PALETTE[i % len(PALETTE)]


def _f(x: float) -> str:
    return f"{x:.1f}"


# --------------------------------------------------------------------------------------------
# SVG


def chart_svg(chart: Chart, width: int = 720, height: int = 380) -> str:
    """The chart as one ``<svg>`` element (no external references, no scripts)."""
    if not chart.has_data:
        return _empty_svg(chart, width)
    if chart.kind == "bars":
        return _bars_svg(chart, width)
    return _xy_svg(chart, width, height)


def _open_svg(chart: Chart, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" data-chart="{escape(chart.id)}"'
        f' viewBox="0 0 {width} {height}" width="100%" role="img"'
        f' aria-label="{escape(chart.title)}" font-family="{FONT}" font-size="12">',
        f"<title>{escape(chart.title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _empty_svg(chart: Chart, width: int) -> str:
    height = 90
    parts = _open_svg(chart, width, height)
    parts.append(
        f'<rect x="1" y="1" width="{width - 2}" height="{height - 2}" fill="#fafafa"'
        ' stroke="#cccccc" stroke-dasharray="4 3"/>'
    )
    message = chart.empty or "No data."
    parts.append(
        f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" fill="#666666"'
        f' class="chart-empty">{escape(message)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _legend_rows(entries: list[tuple[str, str, str]], x0: float, x1: float) -> list[list]:
    """Lay legend entries out left to right, wrapping at ``x1``: [[(entry, x), ...], ...]."""
    rows: list[list] = [[]]
    x = x0
    for entry in entries:
        width = 40 + 7.0 * len(entry[0])
        if rows[-1] and x + width > x1:
            rows.append([])
            x = x0
        rows[-1].append((entry, x))
        x += width
    return rows if rows[0] else []


def _legend(parts: list[str], rows: list[list], y: float) -> None:
    """Draw rows from :func:`_legend_rows`, the first row centred on ``y``."""
    for r, row in enumerate(rows):
        cy = y + 16 * r
        for (name, color, style), x in row:
            if style == "area":
                style = "bar"  # a filled swatch
            if style == "points":
                parts.append(f'<circle cx="{_f(x + 8)}" cy="{_f(cy)}" r="4" fill="{color}"/>')
            elif style == "bar":
                parts.append(
                    f'<rect x="{_f(x + 3)}" y="{_f(cy - 5)}" width="10" height="10" fill="{color}"/>'
                )
            else:
                dash = ' stroke-dasharray="6 4"' if style == "dashed" else ""
                parts.append(
                    f'<line x1="{_f(x)}" y1="{_f(cy)}" x2="{_f(x + 18)}" y2="{_f(cy)}"'
                    f' stroke="{color}" stroke-width="2"{dash}/>'
                )
            parts.append(
                f'<text x="{_f(x + 22)}" y="{_f(cy + 4)}" fill="#222222">{escape(name)}</text>'
            )


def _xy_svg(chart: Chart, width: int, height: int) -> str:
    left, right, bottom = 70, 20, 48
    entries = [
        (series.name, _color(i, series.color), series.style)
        for i, series in enumerate(chart.series)
        if series.points
    ]
    rows = _legend_rows(entries, left, width - right)
    top = 16 + 16 * len(rows)
    height += 16 * len(rows)
    xs = [x for s in chart.series for x, _ in s.points if not chart.xlog or x > 0]
    ys = [y for s in chart.series for _, y in s.points if not chart.ylog or y > 0]
    if ys and not chart.ylog and any(s.style == "area" for s in chart.series):
        ys.append(0.0)  # areas are filled down to zero: the axis must show it
    if not xs or not ys:
        return _empty_svg(Chart(chart.id, chart.title, empty="No positive values to draw."), width)
    sx = _Scale(min(xs), max(xs), chart.xlog, left, width - right)
    sy = _Scale(min(ys), max(ys), chart.ylog, height - bottom, top)
    parts = _open_svg(chart, width, height)
    _xy_frame(parts, chart, sx, sy, (left, top, width - right, height - bottom), height)
    parts.append('<g class="plot">')
    for i, series in enumerate(chart.series):
        points = [
            (x, y, series.labels[j] if series.labels else "")
            for j, (x, y) in enumerate(series.points)
            if (not chart.xlog or x > 0) and (not chart.ylog or y > 0)
        ]
        if points:
            color = _color(i, series.color)
            parts += _series_svg(chart, series, color, points, sx, sy, width - right)
    parts.append("</g>")
    _legend(parts, rows, 12)
    parts.append("</svg>")
    return "".join(parts)


def _tick(line: tuple, text_at: tuple, anchor: str, value: float) -> str:
    """A grid line and its tick label; coordinates are written as given (ints or
    :func:`_f` strings)."""
    x1, y1, x2, y2 = line
    tx, ty = text_at
    return (
        f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#eeeeee"/>'
        f'<text x="{tx}" y="{ty}" text-anchor="{anchor}"'
        f' fill="#444444">{escape(si_short(value))}</text>'
    )


def _xy_frame(
    parts: list[str],
    chart: Chart,
    sx: _Scale,
    sy: _Scale,
    box: tuple[int, int, int, int],
    height: int,
) -> None:
    """Grid, ticks, the plot frame and the axis labels of an x-y chart in ``box``
    (left, top, right, bottom)."""
    left, top, right, bottom = box
    for t in sx.ticks():
        px = _f(sx(t))
        parts.append(_tick((px, top, px, bottom), (px, bottom + 16), "middle", t))
    for t in sy.ticks():
        py = sy(t)
        parts.append(_tick((left, _f(py), right, _f(py)), (left - 6, _f(py + 4)), "end", t))
    parts.append(
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"'
        ' fill="none" stroke="#999999"/>'
    )
    parts.append(
        f'<text x="{(left + right) / 2}" y="{height - 10}" text-anchor="middle"'
        f' fill="#222222">{escape(chart.xlabel)}</text>'
        f'<text transform="translate(16 {(top + bottom) / 2}) rotate(-90)"'
        f' text-anchor="middle" fill="#222222">{escape(chart.ylabel)}</text>'
    )


def _series_svg(
    chart: Chart,
    series: Series,
    color: str,
    points: list[tuple[float, float, str]],
    sx: _Scale,
    sy: _Scale,
    right: int,
) -> list[str]:
    """One series of an x-y chart: its area, line and/or points (with their labels)."""
    parts = []
    path = " ".join(f"{_f(sx(x))},{_f(sy(y))}" for x, y, _ in points)
    if series.style == "area":
        base = _f(sy(max(0.0, sy.lo)))
        ends = f"{_f(sx(points[-1][0]))},{base} {_f(sx(points[0][0]))},{base}"
        parts.append(
            f'<polygon class="series area" points="{path} {ends}" fill="{color}"'
            f' stroke="{color}" stroke-width="0.5"><title>{escape(series.name)}</title>'
            "</polygon>"
        )
    if series.style in ("line", "linepoints", "dashed"):
        dash = ' stroke-dasharray="6 4"' if series.style == "dashed" else ""
        parts.append(
            f'<polyline class="series" points="{path}" fill="none" stroke="{color}"'
            f' stroke-width="2"{dash}><title>{escape(series.name)}</title></polyline>'
        )
    if series.style in ("points", "linepoints"):
        parts.append(f'<g class="series" fill="{color}" fill-opacity="0.75">')
        for x, y, label in points:
            tip = f"{label}: " if label else ""
            tip += f"{series.name} ({si_short(x)}{chart.xunit}, {si_short(y)}{chart.yunit})"
            parts.append(
                f'<circle class="pt" cx="{_f(sx(x))}" cy="{_f(sy(y))}" r="4">'
                f"<title>{escape(tip)}</title></circle>"
            )
        parts.append("</g>")
        if series.annotate:
            parts += _point_labels(points, sx, sy, right)
    return parts


def _point_labels(
    points: list[tuple[float, float, str]], sx: _Scale, sy: _Scale, right: int
) -> list[str]:
    """Each point's label beside it, on the left near the right edge."""
    out = []
    for x, y, label in points:
        px, py = sx(x), sy(y)
        anchor = "end" if px > right - 120 else "start"
        dx = -7 if anchor == "end" else 7
        out.append(
            f'<text class="pt-label" x="{_f(px + dx)}" y="{_f(py - 6)}"'
            f' text-anchor="{anchor}" font-size="11" fill="#333333">'
            f"{escape(label)}</text>"
        )
    return out


def _bars_svg(chart: Chart, width: int) -> str:
    label_w, right, top, bottom = 190, 24, 6, 44
    groups = [b for b in chart.bars if b.values]
    n_cat = len(chart.categories)
    bar_h = 9
    group_h = bar_h * len(groups) + 8
    rows = _legend_rows(
        [(g.name, _color(i, g.color), "bar") for i, g in enumerate(groups)], label_w, width - right
    )
    plot_top = top + 16 * len(rows)
    height = plot_top + n_cat * group_h + bottom
    values = [v for b in groups for v in b.values if v is not None]
    sx = _Scale(0.0, max(values) if values else 1.0, False, label_w, width - right)
    parts = _open_svg(chart, width, height)
    for t in sx.ticks():
        px = sx(t)
        parts.append(
            f'<line x1="{_f(px)}" y1="{plot_top}" x2="{_f(px)}" y2="{height - bottom}"'
            ' stroke="#eeeeee"/>'
            f'<text x="{_f(px)}" y="{height - bottom + 16}" text-anchor="middle"'
            f' fill="#444444">{escape(si_short(t))}</text>'
        )
    parts.append(
        f'<text x="{(label_w + width - right) / 2}" y="{height - 8}" text-anchor="middle"'
        f' fill="#222222">{escape(chart.xlabel)}</text>'
    )
    for c, category in enumerate(chart.categories):
        gy = plot_top + c * group_h
        short = category if len(category) <= 28 else "…" + category[-27:]
        parts.append(
            f'<text x="{label_w - 6}" y="{_f(gy + group_h / 2 + 3)}" text-anchor="end"'
            f' fill="#222222"><title>{escape(category)}</title>{escape(short)}</text>'
        )
        for g, group in enumerate(groups):
            value = group.values[c] if c < len(group.values) else None
            if value is None:
                continue
            w = max(sx(value) - label_w, 0.0)
            parts.append(
                f'<rect class="bar" x="{label_w}" y="{_f(gy + 4 + g * bar_h)}" width="{_f(w)}"'
                f' height="{bar_h - 1}" fill="{_color(g, group.color)}">'
                f"<title>{escape(category)}: {escape(group.name)} {escape(si_short(value))}"
                f"{escape(chart.xunit)}</title></rect>"
            )
    parts.append(
        f'<line x1="{label_w}" y1="{plot_top}" x2="{label_w}" y2="{height - bottom}"'
        ' stroke="#999999"/>'
    )
    _legend(parts, rows, 10)
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# matplotlib


def chart_png(chart: Chart, path: str | Path, dpi: int = 110) -> Path:
    """Draw the chart with matplotlib (no pyplot global state) into a PNG file.

    Raises :class:`ImportError` when matplotlib is missing; callers decide whether that is
    an error.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if chart.kind == "bars" and chart.has_data:
        fig = Figure(figsize=(7.5, max(2.5, 0.28 * len(chart.categories) * len(chart.bars) + 1.2)))
    else:
        fig = Figure(figsize=(7.5, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(chart.title, fontsize=11)
    if not chart.has_data:
        ax.text(0.5, 0.5, chart.empty or "No data.", ha="center", va="center", wrap=True)
        ax.set_axis_off()
    elif chart.kind == "bars":
        n = len(chart.bars)
        height = 0.8 / max(n, 1)
        for g, group in enumerate(chart.bars):
            ys = [c + g * height for c in range(len(chart.categories))]
            vals = [v if v is not None else 0 for v in group.values]
            ax.barh(ys, vals, height=height, color=_color(g, group.color), label=group.name)
        ax.set_yticks([c + 0.4 - height / 2 for c in range(len(chart.categories))])
        ax.set_yticklabels(
            [c if len(c) <= 32 else "…" + c[-31:] for c in chart.categories], fontsize=8
        )
        ax.invert_yaxis()
        ax.set_xlabel(chart.xlabel)
        ax.legend(fontsize=8)
    else:
        for i, series in enumerate(chart.series):
            if not series.points:
                continue
            xs, ys = zip(*series.points, strict=True)
            color = _color(i, series.color)
            if series.style == "area":
                ax.fill_between(xs, ys, color=color, label=series.name, linewidth=0)
            elif series.style == "points":
                ax.scatter(xs, ys, s=18, color=color, alpha=0.8, label=series.name)
            else:
                ax.plot(
                    xs,
                    ys,
                    color=color,
                    linestyle="--" if series.style == "dashed" else "-",
                    marker="o" if series.style == "linepoints" else None,
                    markersize=4,
                    label=series.name,
                )
            if series.annotate and series.labels:
                for x, y, text in zip(xs, ys, series.labels, strict=False):
                    ax.annotate(text, (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8)
        if chart.xlog:
            ax.set_xscale("log")
        if chart.ylog:
            ax.set_yscale("log")
        ax.set_xlabel(chart.xlabel)
        ax.set_ylabel(chart.ylabel)
        ax.grid(True, which="major", color="#eeeeee")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path
