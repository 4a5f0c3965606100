"""flopwise.units: the one home of number formatting, in each caller's style."""

from __future__ import annotations

import math

import pytest

from flopwise.units import count, seconds, si, si_fine, si_short


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (8.18e9, {}, "8.18 GFLOPs"),
        (2e3, {}, "2 KFLOPs"),
        (0, {}, "0 FLOPs"),
        (0.5, {}, "0.5 FLOPs"),
        (999_700.0, {}, "999.7 KFLOPs"),  # tidy: never an exponent
        (999_700.0, {"kilo": "k", "tidy": False}, "1e+03 kFLOPs"),  # the HTML style
        (12_300, {"kilo": "k", "sep": ""}, "12.3kFLOPs"),
        (0.0349, {"finest": "n"}, "34.9 mFLOPs"),
        (5e-10, {"finest": "n"}, "5e-10 FLOPs"),  # below the finest prefix: %g
        (5e-13, {"finest": "f"}, "500 fFLOPs"),
        (None, {}, "—"),
        (math.nan, {"missing": "-"}, "-"),
        (True, {}, "—"),
    ],
)
def test_si(value, kwargs, expected):
    assert si(value, "FLOPs", **kwargs) == expected


def test_si_fine_count_and_short():
    assert si_fine(0.0349, "J") == "34.9 mJ"
    assert si_fine(1.23e3, "J") == "1.23 KJ"
    assert count(25_557_032, "params") == "25.6 M params"
    assert count(12, "params") == "12 params"
    assert [si_short(v) for v in (0, 1.5e9, 2e4, 3e-3, 999.7, 1e-12)] == [
        "0",
        "1.5G",
        "20k",
        "3m",
        "1k",
        "1e-12",
    ]


def test_seconds():
    assert [seconds(v) for v in (1.5, 0.0123, 4.56e-5, 7e-9, 0)] == [
        "1.5 s",
        "12.3 ms",
        "45.6 µs",
        "7 ns",
        "0 ns",
    ]
    assert seconds(-0.5) == "-500 ms"
    assert seconds(7e-9, finest="µs") == "0.007 µs"
    assert seconds(None) == "—"
    assert seconds(math.nan, missing="-") == "-"
