"""The device a run was timed on, as one line (rendering only)."""

from __future__ import annotations

from typing import Any

__all__ = ["describe_device"]


def describe_device(summary: dict[str, Any]) -> str:
    """One line for a table: ``cuda:0 (NVIDIA H200), peak memory 1.23 GB`` or ``cpu``."""
    text = summary["name"]
    if summary.get("model") and summary["model"] != summary["name"]:
        text += f" ({summary['model']})"
    if summary.get("peak_memory_bytes") is not None:
        text += f", peak memory {summary['peak_memory_bytes'] / 1e9:.3g} GB"
    return text
