"""Read the comparable metrics (flops, macs, bytes, params, activations, time) out of a
``flopwise.profile/1`` document, its modules and its totals.

These are lookups, not cost computations: ``bytes`` is the document's own
``bytes_read + bytes_written`` and ``time`` is the measured time the document carries.
"""

from __future__ import annotations

from typing import Any

#: Metrics a diff can compare and a CI gate can fail on, in display order.
METRICS: tuple[str, ...] = ("flops", "macs", "bytes", "params", "activations", "time")

#: Integer-valued metrics (time is the only float).
INTEGER_METRICS = frozenset({"flops", "macs", "bytes", "params", "activations"})

Number = int | float


def _num(value: Any) -> Number | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    return None


def _bytes_of(row: dict[str, Any]) -> int | None:
    if _num(row.get("bytes")) is not None:
        return row["bytes"]
    read, written = _num(row.get("bytes_read")), _num(row.get("bytes_written"))
    if read is None and written is None:
        return None
    return (read or 0) + (written or 0)


def _seconds_in(
    mapping: dict[str, Any], keys: tuple[str, ...], subkeys: tuple[str, ...]
) -> float | None:
    """The first of ``keys`` in ``mapping`` that holds seconds: a number, or a dict with a
    number under one of ``subkeys`` (tried in order)."""
    for key in keys:
        value = mapping.get(key)
        if _num(value) is not None:
            return float(value)
        if isinstance(value, dict):
            for sub in subkeys:
                if _num(value.get(sub)) is not None:
                    return float(value[sub])
    return None


def _time_of(row: dict[str, Any]) -> float | None:
    return _seconds_in(row, ("time_s", "time"), ("median_s", "median", "mean_s", "mean"))


def module_metrics(module: dict[str, Any]) -> dict[str, Number | None]:
    """The metrics of one ``modules[i]`` row (``None`` where the row lacks one)."""
    return {
        "flops": _num(module.get("flops")),
        "macs": _num(module.get("macs")),
        "bytes": _bytes_of(module),
        "params": _num(module.get("params")),
        "activations": _num(module.get("activations")),
        "time": _time_of(module),
    }


def measured_latency(doc: dict[str, Any]) -> float | None:
    """End-to-end measured latency in seconds, if the document carries one.

    Looks in ``measured`` for ``latency_s`` / ``median_s`` / ``time_s`` (a number or a dict
    with ``median_s``), or ``latency`` / ``end_to_end`` dicts with ``median_s``.
    """
    measured = doc.get("measured")
    if not isinstance(measured, dict):
        return None
    return _seconds_in(
        measured,
        ("latency_s", "median_s", "time_s", "latency", "end_to_end", "wall"),
        ("median_s", "median", "latency_s", "mean_s"),
    )


def root_module(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The depth-0 module row (the model itself), if the document lists one."""
    for module in doc.get("modules") or ():
        if module.get("depth", 0) == 0 and module.get("path", "") == "":
            return module
    return None


def total_metrics(doc: dict[str, Any]) -> dict[str, Number | None]:
    """Whole-model metrics: ``totals`` plus the measured end-to-end time.

    ``time`` is the measured end-to-end latency when present, else the root module's time.
    """
    totals = doc.get("totals") or {}
    out = module_metrics(totals)
    latency = measured_latency(doc)
    if latency is None:
        root = root_module(doc)
        latency = _time_of(root) if root else None
    out["time"] = latency
    return out


def model_name(doc: dict[str, Any]) -> str:
    """The model a document describes (a comma-joined list for a comparison)."""
    model = doc.get("model")
    if isinstance(model, str) and model:
        return model
    if isinstance(model, dict):
        return str(model.get("name") or model.get("spec") or "?")
    rows = doc.get("models") or doc.get("rows")
    if isinstance(rows, list) and rows:
        names = [str(r.get("model") or r.get("name") or "?") for r in rows if isinstance(r, dict)]
        return ",".join(names)
    return "?"


def _row_seconds(row: Any) -> float | None:
    if _num(row) is not None:
        return float(row)
    if isinstance(row, dict):
        for key in ("time_s", "total_s", "median_s", "self_s"):
            if _num(row.get(key)) is not None:
                return float(row[key])
    return None


def measured_module_times(doc: dict[str, Any]) -> dict[str, float]:
    """Per-module times from ``measured.modules`` (a ``{path: {"time_s"|"total_s": s}}``
    dict or a list of ``{"path", "total_s"|"time_s"}`` rows), inclusive of children."""
    measured = doc.get("measured")
    if not isinstance(measured, dict):
        return {}
    rows = measured.get("modules")
    if rows is None and isinstance(measured.get("layers"), dict):
        rows = measured["layers"].get("modules")
    out: dict[str, float] = {}
    if isinstance(rows, dict):
        for path, row in rows.items():
            seconds = _row_seconds(row)
            if seconds is not None:
                out[str(path)] = seconds
    elif isinstance(rows, list):
        for row in rows:
            if isinstance(row, dict) and "path" in row:
                seconds = _row_seconds(row)
                if seconds is not None:
                    out[str(row["path"])] = seconds
    return out


def with_module_times(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with ``modules[i]["time_s"]`` filled from ``measured.modules`` where a
    row has no time of its own (a shallow copy; the input is not modified)."""
    times = measured_module_times(doc)
    modules = doc.get("modules")
    if not times or not isinstance(modules, list):
        return doc
    filled = []
    for module in modules:
        if isinstance(module, dict) and _time_of(module) is None:
            path = str(module.get("path", ""))
            if path in times:
                module = {**module, "time_s": times[path]}
        filled.append(module)
    return {**doc, "modules": filled}
