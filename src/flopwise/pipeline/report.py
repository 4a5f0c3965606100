"""The pipeline behind ``flopwise report`` (and ``profile --format html``, ``sweep --plot``):
documents → their analysis (the roofline of the profile, the sweep's lines, the comparison's
rows and Pareto front) → the HTML page or the chart files' charts. The analysis fills the
numbers here, for stored documents of older versions too; the report layer only draws them."""

from __future__ import annotations

from typing import Any

from flopwise.analysis.compare import comparison_plot
from flopwise.analysis.roofline import module_figures, roofline_plot
from flopwise.analysis.sweep import sweep_plot
from flopwise.errors import FlopwiseError
from flopwise.pipeline.history import load_run
from flopwise.report.html import render_html, report_charts, route_documents
from flopwise.report.plots import sweep_charts
from flopwise.report.plots_svg import Chart

__all__ = ["html_report", "load_report_documents", "report_chart_list", "sweep_chart_list"]

_KINDS = {"profile": "profile", "sweep": "sweep", "compare": "comparison"}


def document_kind(doc: dict[str, Any]) -> str | None:
    """``profile``, ``sweep`` or ``compare`` for a document the report draws (by its schema,
    or for a document without one by the rows it holds); None for any other JSON."""
    schema = doc.get("schema")
    if isinstance(schema, str):
        name = schema.removeprefix("flopwise.").split("/")[0]
        return name if schema.startswith("flopwise.") and name in _KINDS else None
    if isinstance(doc.get("modules"), list):
        return "profile"
    if isinstance(doc.get("points"), list):
        return "sweep"
    if isinstance(doc.get("models"), list) or isinstance(doc.get("rows"), list):
        return "compare"
    return None


def _loaded(ref: str, db: Any, want: tuple[str, ...], option: str) -> dict[str, Any]:
    """The document ``ref`` names, refused in one line unless it is of a kind in ``want``."""
    doc, label = load_run(ref, db)
    kind = document_kind(doc)
    if kind in want:
        return doc
    schema = doc.get("schema")
    what = (
        f"a {schema} document"
        if isinstance(schema, str) and kind is None
        else f"a {_KINDS[kind]} document"
        if kind is not None
        else "not a flopwise profile, sweep or comparison document"
    )
    names = [_KINDS[k] for k in want]
    wanted = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    raise FlopwiseError(f"{option} {label} is {what}; it takes a {wanted} document")


def load_report_documents(
    source: str, *, sweep: str | None = None, compare: str | None = None, db: Any = None
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """The documents of ``flopwise report SOURCE [--sweep S] [--compare C]`` (files or stored
    runs): SOURCE a profile, sweep or comparison, S a sweep, C a comparison; any other
    document is refused in one line naming the file or run, before anything is written."""
    doc = _loaded(source, db, tuple(_KINDS), "INPUT")
    sweep_doc = _loaded(sweep, db, ("sweep",), "--sweep") if sweep else None
    compare_doc = _loaded(compare, db, ("compare",), "--compare") if compare else None
    return doc, sweep_doc, compare_doc


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
