"""Human formatting of numbers, the one home for it: SI prefixes with the unit spelled out
(``8.18 GFLOPs``), compact tick labels (``1.5G``) and durations (``12.3 ms``).

A leaf module (it imports nothing from flopwise), so every layer that shows a number —
measure's one-line summaries, report's renderers, the commands — formats it the same way.
Where tables have always differed (``K`` or ``k`` for kilo, milli prefixes or not, ``-`` or
``—`` for a missing value) the caller says so with a keyword, never with a copy.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["count", "seconds", "si", "si_fine", "si_short"]

_BIG = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))
_SMALL = ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def _is_number(value: Any) -> bool:
    """A finite int or float (``bool`` is not a number here)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _prefixes(kilo: str, finest: str) -> list[tuple[float, str]]:
    """Scales from peta down: ``kilo`` spells 10³; below 1 only down to ``finest`` (none if "")."""
    big = [(scale, kilo if prefix == "K" else prefix) for scale, prefix in _BIG]
    if not finest:
        return big
    small = [s for s in _SMALL[: [p for _, p in _SMALL].index(finest) + 1]]
    return [*big, (1.0, ""), *small]


def _pick(magnitude: float, prefixes: list[tuple[float, str]], tolerance: float = 1.0):
    """The first ``(scale, prefix)`` that ``magnitude`` reaches (within ``tolerance``), or None."""
    for scale, prefix in prefixes:
        if magnitude >= scale * tolerance:
            return scale, prefix
    return None


def si(
    value: Any,
    unit: str,
    digits: int = 3,
    *,
    kilo: str = "K",
    finest: str = "",
    sep: str = " ",
    tidy: bool = True,
    missing: str = "—",
) -> str:
    """``si(8.18e9, "FLOPs") == "8.18 GFLOPs"``: ``digits`` significant digits, SI prefix.

    ``kilo`` spells 10³ (``"k"`` in HTML, history and energy tables); ``finest`` is the
    smallest prefix used below 1 (``"n"``: milli, micro, nano; ``""``: none, small values keep
    no prefix); values below ``finest`` print in ``%g``. ``sep`` goes between number and
    prefix. ``tidy`` prints whole numbers without decimals and never an exponent. A missing,
    non-finite or non-numeric value renders as ``missing``.
    """
    if not _is_number(value):
        return missing
    if value == 0:
        return f"0{sep}{unit}"
    prefixes = _prefixes(kilo, finest)
    picked = _pick(abs(value), prefixes)
    if picked is None:
        if finest:
            return f"{value:.{digits}g}{sep}{unit}"
        picked = (1.0, "")
    scale, prefix = picked
    number = value / scale if scale != 1.0 else value
    return f"{_significant(number, digits, tidy)}{sep}{prefix}{unit}"


def si_fine(value: float, unit: str, digits: int = 3) -> str:
    """:func:`si` with milli, micro and nano prefixes below 1: ``si_fine(0.0349, "J") ==
    "34.9 mJ"``, ``si_fine(1.23e3, "J") == "1.23 KJ"``."""
    return si(value, unit, digits, finest="n")


def si_short(value: float) -> str:
    """Compact tick label: ``1.5G``, ``20k``, ``3m`` (milli), ``0``; a value a rounding away
    from the next prefix takes it (``999.7`` → ``1k``)."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    picked = _pick(abs(value), _prefixes("k", "n"), tolerance=0.9995)
    if picked is None:
        return f"{value:.2g}"
    scale, prefix = picked
    return f"{value / scale:.3g}{prefix}"


def count(value: int, noun: str) -> str:
    """A count with its noun: ``count(25_557_032, "params") == "25.6 M params"``."""
    text = si(value, "")
    return f"{text.rstrip()} {noun}" if text[-1] != " " else f"{text}{noun}"


def _significant(x: float, digits: int, tidy: bool) -> str:
    if not tidy:
        return f"{x:.{digits}g}"
    if float(x).is_integer() and abs(x) < 1000:
        return str(int(x))
    text = f"{x:.{digits}g}"
    if "e" in text:
        text = f"{x:.1f}"
    return text


# (threshold, factor, unit): the first threshold the magnitude reaches picks the unit.
_TIME_UNITS = ((1.0, 1.0, "s"), (1e-3, 1e3, "ms"), (1e-6, 1e6, "µs"), (0.0, 1e9, "ns"))


def seconds(value: Any, *, finest: str = "ns", missing: str = "—") -> str:
    """Time with a readable unit and three significant digits: ``1.23 ms``, ``45.6 µs``.

    ``finest`` is the smallest unit (``"µs"``: shorter times print as fractions of a µs); a
    missing, non-finite or non-numeric value renders as ``missing``.
    """
    if not _is_number(value):
        return missing
    magnitude = abs(value)
    for threshold, factor, unit in _TIME_UNITS:
        if magnitude >= threshold or unit == finest:
            return f"{value * factor:.3g} {unit}"
    raise ValueError(f"unknown finest time unit {finest!r}")
