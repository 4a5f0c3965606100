"""Rows and the one-line summary of the pipeline-stages section (the JSON-ready result of
:func:`flopwise.measure.stages.measure_stages`). Formatting only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flopwise.units import seconds

__all__ = ["stage_rows", "stage_summary"]


def stage_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One plain dict per stage of a stages result, in pipeline order, for a renderer to
    print: ``stage``, ``status``, ``what``, ``median_s``, ``spread``,
    ``share``, ``trustworthy``, ``note`` (None where not applicable)."""
    rows = []
    for name in result["order"]:
        entry = result["stages"][name]
        rows.append(
            {
                "stage": name,
                "status": entry["status"],
                "what": entry["what"],
                "median_s": entry["median_s"],
                "spread": entry["spread"],
                "share": entry["share"],
                "trustworthy": entry["trustworthy"],
                "note": entry["note"] or entry["reason"],
            }
        )
    return rows


def stage_summary(result: Mapping[str, Any]) -> str:
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
    tail = f"sum {seconds(result['total_s'], finest='µs', missing='-')}"
    e2e = result.get("end_to_end")
    if e2e:
        tail += f"; end to end {seconds(e2e['median_s'], finest='µs', missing='-')}"
    return " · ".join(parts) + f" ({tail})"


def _percent(share: float) -> str:
    """``0.31`` → ``31%``, ``0.042`` → ``4.2%``, tiny shares → ``<0.1%``."""
    if share >= 0.1 or share == 0:
        return f"{share:.0%}"
    if share >= 0.001:
        return f"{share:.1%}"
    return "<0.1%"
