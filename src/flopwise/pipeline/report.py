"""The pipeline behind ``flopwise report`` (and ``profile --format html``, ``sweep --plot``):
documents → their analysis (the roofline of the profile, the sweep's lines, the comparison's
rows and Pareto front) → the HTML page or the chart files' charts. The analysis fills the
numbers here, for stored documents of older versions too; the report layer only draws them."""

from __future__ import annotations

from typing import Any

from flopwise.analysis.compare import comparison_plot
from flopwise.analysis.roofline import module_figures, roofline_plot
from flopwise.analysis.sweep import sweep_plot
from flopwise.report.html import render_html, report_charts, route_documents
from flopwise.report.plots import sweep_charts
from flopwise.report.plots_svg import Chart

__all__ = ["html_report", "report_chart_list", "sweep_chart_list"]


def _analysed(
    doc: dict[str, Any], sweep: dict[str, Any] | None, comparison: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The routed documents and the analysis the renderer draws from them."""
    profile, sweep, comparison = route_documents(doc, sweep, comparison)
    documents = {"doc": profile, "sweep": sweep, "comparison": comparison}
    analysis = {
        "roofline": roofline_plot(profile),
        "sweep_plot": sweep_plot(sweep),
        "comparison_plot": comparison_plot(comparison),
    }
    return documents, analysis


def html_report(
    doc: dict[str, Any],
    *,
    sweep: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
    title: str | None = None,
) -> str:
    """The self-contained HTML report of a profile document (and optionally a sweep and a
    comparison document; either may be passed as ``doc``), as :func:`render_html` draws it
    with the analysis of each document and the profile's derived figures
    (:func:`~flopwise.analysis.roofline.module_figures`)."""
    documents, analysis = _analysed(doc, sweep, comparison)
    figures = module_figures(documents["doc"])
    return render_html(**documents, title=title, figures=figures, **analysis)


def report_chart_list(
    doc: dict[str, Any],
    *,
    sweep: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
) -> list[Chart]:
    """Every chart of :func:`html_report`'s page, in page order (for ``--plots``)."""
    documents, analysis = _analysed(doc, sweep, comparison)
    return report_charts(**documents, **analysis)


def sweep_chart_list(sweep: dict[str, Any]) -> list[Chart]:
    """The sweep charts of :func:`html_report`'s page for one sweep document (for
    ``flopwise sweep --plot``)."""
    return sweep_charts(sweep, sweep_plot(sweep))
