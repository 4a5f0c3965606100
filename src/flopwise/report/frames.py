"""Tabular exports: CSV text and pandas DataFrames of modules or ops."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from flopwise.errors import require
from flopwise.report.json import op_rows, profile_document

if TYPE_CHECKING:
    from flopwise.profile import Profile


def rows(p: Profile, level: str = "modules") -> list[dict[str, Any]]:
    """One dict per module (or op); a measured profile's module rows end with ``time_s``,
    the measured seconds per call the table's Time column shows (blank where unmeasured)."""
    if level == "modules":
        modules = profile_document(p)["modules"]
        if p.measured is None or not p.measured.modules:
            return modules
        return [dict(m, time_s=p.measured.module_time(m["path"])) for m in modules]
    if level == "ops":
        return op_rows(p)
    raise ValueError(f"level must be 'modules' or 'ops', not {level!r}")


def to_csv(p: Profile, level: str = "modules") -> str:
    """CSV with a header row; integer columns stay integers."""
    data = rows(p, level)
    buffer = io.StringIO()
    if data:
        writer = csv.DictWriter(buffer, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    return buffer.getvalue()


def to_dataframe(p: Profile, level: str = "modules"):
    pandas = require("pandas", "dataframe", "DataFrames")
    return pandas.DataFrame(rows(p, level))
