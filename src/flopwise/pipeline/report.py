"""The pipeline behind ``flopwise report`` (and ``profile --format html``): documents →
the roofline analysis of the profile → the HTML page or the chart files' charts. The
analysis fills the numbers here; the report layer only draws them."""

from __future__ import annotations

from typing import Any

from flopwise.analysis.roofline import roofline_plot
from flopwise.report.html import render_html, report_charts, route_documents
from flopwise.report.plots_svg import Chart

__all__ = ["html_report", "report_chart_list"]


def html_report(
    doc: dict[str, Any],
    *,
    sweep: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
    title: str | None = None,
) -> str:
    """The self-contained HTML report of a profile document (and optionally a sweep and a
    comparison document; either may be passed as ``doc``), as :func:`render_html` draws it
    with the roofline analysis of the profile."""
    profile, sweep, comparison = route_documents(doc, sweep, comparison)
    return render_html(
        profile, sweep=sweep, comparison=comparison, title=title, roofline=roofline_plot(profile)
    )


def report_chart_list(
    doc: dict[str, Any],
    *,
    sweep: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
) -> list[Chart]:
    """Every chart of :func:`html_report`'s page, in page order (for ``--plots``)."""
    profile, sweep, comparison = route_documents(doc, sweep, comparison)
    return report_charts(
        profile, sweep=sweep, comparison=comparison, roofline=roofline_plot(profile)
    )
