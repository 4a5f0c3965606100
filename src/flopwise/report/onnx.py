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
    return (
        f"{measured['runtime']} {measured.get('provider', '')}: "
        f"{len(measured.get('nodes') or [])} runtime nodes; "
        f"{len(measured.get('fused') or {})} counted nodes fused into them; "
        f"runtime-only: {only or 'none'}; "
        f"counted nodes without time: {shown or 'none'}"
    )


def roofline_line(section: Measured) -> str | None:
    """What the roofline of an ONNX run joins, in one line: module times are whole runtime
    nodes, the modules sharing a fused node have floors only, op rows have floors only.
    None for a PyTorch measurement or a run without a roofline."""
    measured = section.other
    if section.roofline is None or not str(measured.get("runtime", "")).startswith("onnxruntime"):
        return None
    split = measured.get("split_modules") or []
    shown = ", ".join(split[:5]) + (" ..." if len(split) > 5 else "")
    return (
        "roofline times: whole onnxruntime nodes; "
        f"{len(split)} module(s) sharing a fused node with other modules have floors only"
        f"{f' ({shown})' if shown else ''}; op rows have floors only (onnxruntime times "
        "nodes, not torch ops)"
    )


def collapse(names: list[str]) -> str:
    """Runtime node names with onnxruntime's ``_token_N`` copies counted once:
    ``gemm_input_reshape ×37, ReorderOutput``."""
    counts: dict[str, int] = {}
    for name in names:
        base = re.sub(r"_token_\d+$", "", name)
        counts[base] = counts.get(base, 0) + 1
    return ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in sorted(counts.items()))
