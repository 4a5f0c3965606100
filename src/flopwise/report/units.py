"""Human formatting: SI prefixes with the unit spelled out (``8.18 GFLOPs``)."""

from __future__ import annotations

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def si(value: float, unit: str, digits: int = 3) -> str:
    """``si(8.18e9, "FLOPs") == "8.18 GFLOPs"``; small values keep no prefix."""
    if value == 0:
        return f"0 {unit}"
    magnitude = abs(value)
    for scale, prefix in _PREFIXES:
        if magnitude >= scale:
            return f"{_significant(value / scale, digits)} {prefix}{unit}"
    return f"{_significant(value, digits)} {unit}"


def si_fine(value: float, unit: str, digits: int = 3) -> str:
    """:func:`si` with milli, micro and nano prefixes below 1: ``si_fine(0.0349, "J") ==
    "34.9 mJ"``, ``si_fine(1.23e3, "J") == "1.23 KJ"``."""
    magnitude = abs(value)
    if value == 0 or magnitude >= 1:
        return si(value, unit, digits)
    for scale, prefix in ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
        if magnitude >= scale:
            return f"{_significant(value / scale, digits)} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


def count(value: int, noun: str) -> str:
    """A count with its noun: ``count(25_557_032, "params") == "25.6 M params"``."""
    text = si(value, "")
    return f"{text.rstrip()} {noun}" if text[-1] != " " else f"{text}{noun}"


def _significant(x: float, digits: int) -> str:
    if float(x).is_integer() and abs(x) < 1000:
        return str(int(x))
    text = f"{x:.{digits}g}"
    if "e" in text:
        text = f"{x:.1f}"
    return text


def seconds(value: float) -> str:
    """Time with a readable unit: ``1.23 ms``, ``45.6 µs``."""
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    if value >= 1e-6:
        return f"{value * 1e6:.3g} µs"
    return f"{value * 1e9:.3g} ns"
