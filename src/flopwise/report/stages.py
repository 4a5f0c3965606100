"""Rows and the one-line summary of the pipeline-stages section (the
:class:`~flopwise.sections.Stages` that :func:`flopwise.measure.stages.measure_stages`
returns). Formatting only."""

from __future__ import annotations

from typing import Any

from flopwise.sections import Stages
from flopwise.units import seconds

__all__ = ["stage_rows", "stage_summary"]


def stage_rows(result: Stages) -> list[dict[str, Any]]:
    """One plain dict per stage of a stages result, in pipeline order, for a renderer to
    print: ``stage``, ``status``, ``what``, ``median_s``, ``spread``,
    ``share``, ``trustworthy``, ``note`` (None where not applicable)."""
    return [
        {
            "stage": name,
            "status": entry.status,
            "what": entry.what,
            "median_s": entry.median_s,
            "spread": entry.spread,
            "share": entry.share,
            "trustworthy": entry.trustworthy,
            "note": entry.note or entry.reason,
        }
        for name, entry in result.ordered()
    ]


def stage_summary(result: Stages) -> str:
    """One line: ``preprocess 31% · host_to_device n/a · inference 66% · postprocess 3%
    (sum 12.3 ms; end to end 12.9 ms)``; untrusted stages are marked ``?``."""
    parts = []
    for row in stage_rows(result):
        if row["status"] == "not_applicable":
            parts.append(f"{row['stage']} n/a")
        elif row["status"] == "skipped":
            parts.append(f"{row['stage']} skipped")
        else:
            mark = "" if row["trustworthy"] else "?"
            parts.append(f"{row['stage']} {_percent(row['share'])}{mark}")
    tail = f"sum {seconds(result.total_s, finest='µs', missing='-')}"
    if result.end_to_end is not None:
        tail += f"; end to end {seconds(result.end_to_end.median_s, finest='µs', missing='-')}"
    return " · ".join(parts) + f" ({tail})"


def _percent(share: float) -> str:
    """``0.31`` → ``31%``, ``0.042`` → ``4.2%``, tiny shares → ``<0.1%``."""
    if share >= 0.1 or share == 0:
        return f"{share:.0%}"
    if share >= 0.001:
        return f"{share:.1%}"
    return "<0.1%"
