"""Strict JSON out of flopwise: every document it writes is valid JSON (RFC 8259).

``json.dumps`` writes ``NaN`` and ``Infinity`` by default, which no strict parser (a browser's
``JSON.parse``, ``jq``) accepts; a correlation over constant data, say, is NaN. Here a
non-finite float becomes ``null`` ("no value"), and the encoder runs with
``allow_nan=False`` so a stray one can never slip through. Depends on nothing in flopwise,
so every layer may use it."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every NaN / ±inf float (in dicts, lists, tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = 2, **kwargs: Any) -> str:
    """``json.dumps`` of ``finite(value)`` with ``allow_nan=False``: always valid JSON."""
    return json.dumps(finite(value), indent=indent, allow_nan=False, **kwargs)
