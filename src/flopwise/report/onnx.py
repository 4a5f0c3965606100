"""Lines for an ONNX file timed by onnxruntime (``flopwise profile model.onnx --measure``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flopwise.sections import Measured


def runtime_line(section: Measured) -> str | None:
    """How onnxruntime's per-node times joined the counted nodes, in one line; None for a
    PyTorch measurement (onnxruntime's own keys ride in the section's ``other``)."""
    measured = section.other
    if not str(measured.get("runtime", "")).startswith("onnxruntime"):
        return None
    only = collapse(measured.get("runtime_only") or [])
    unmatched = measured.get("unmatched") or []
    shown = ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
    split = measured.get("split_modules") or []
    roofline = (
        f"; roofline: per-module times from runtime nodes, {len(split)} module(s) sharing a "
        "fused node with others have floors only; per-op rows floors only"
        if section.roofline is not None
        else ""
    )
    return (
        f"{measured['runtime']} {measured.get('provider', '')}: "
        f"{len(measured.get('nodes') or [])} runtime nodes; "
        f"{len(measured.get('fused') or {})} counted nodes fused into them; "
        f"runtime-only: {only or 'none'}; "
        f"counted nodes without time: {shown or 'none'}{roofline}"
    )


def collapse(names: list[str]) -> str:
    """Runtime node names with onnxruntime's ``_token_N`` copies counted once:
    ``gemm_input_reshape ×37, ReorderOutput``."""
    counts: dict[str, int] = {}
    for name in names:
        base = re.sub(r"_token_\d+$", "", name)
        counts[base] = counts.get(base, 0) + 1
    return ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in sorted(counts.items()))
