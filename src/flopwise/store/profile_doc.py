"""Lookups in a profile document for its charts: the layers, the hardware ceilings, the
per-op rows and the roofline floors the document carries.

Lookups only (as :mod:`flopwise.store.metrics`): nothing here derives a figure the
document does not hold; the roofline analysis (:func:`flopwise.analysis.roofline.roofline_plot`)
and the report's charts both read documents through these.
"""

from __future__ import annotations

import math
from typing import Any

from flopwise.store.metrics import module_metrics


def positive(x: Any) -> float | None:
    """``x`` as a float when it is a finite number above zero, else None."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if x > 0 and math.isfinite(x) else None


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
    if positive(value) is not None:
        return float(value)
    if isinstance(value, dict):
        for key in preferred:
            if positive(value.get(key)) is not None:
                return float(value[key])
        numbers = [float(v) for v in value.values() if positive(v) is not None]
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


def rows_at(doc: dict[str, Any], *paths: tuple[str, ...]) -> list[dict[str, Any]]:
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
    rows = rows_at(doc, ("measured", "roofline", "ops"), ("roofline", "ops"), ("measured", "ops"))
    return [r for r in rows if positive(r.get("flops")) and positive(module_metrics(r)["bytes"])]


def document_floors(doc: dict[str, Any]) -> dict[str, float]:
    """Module path → roofline floor (s) from the document's roofline section, if any."""
    rows = rows_at(doc, ("measured", "roofline", "modules"), ("roofline", "modules"))
    if not rows:
        roof = (doc.get("measured") or {}).get("roofline")
        rows = roof if isinstance(roof, list) else []
    return {
        str(r.get("path", "")): float(r["floor_s"])
        for r in rows
        if isinstance(r, dict) and positive(r.get("floor_s")) is not None
    }


def own_floor(module: dict[str, Any]) -> float | None:
    """The roofline floor (s) a module row carries itself (``floor_s``, ``ideal_s``,
    ``roofline_floor_s`` or ``roofline.floor_s``), else None."""
    for key in ("floor_s", "ideal_s", "roofline_floor_s"):
        if positive(module.get(key)) is not None:
            return float(module[key])
    roof = module.get("roofline")
    if isinstance(roof, dict) and positive(roof.get("floor_s")) is not None:
        return float(roof["floor_s"])
    return None
