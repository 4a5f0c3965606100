"""The documented examples that do not time anything print what they printed when recorded.

The recordings in tests/golden/ were made by scripts/record_golden.py from the README and
docs/*.md commands (profile on meta tensors, llm, predict without calibration, hardware
profiles, a sweep without timing, the documented input errors). Integers, strings and the
table text must match exactly; floats to a relative 1e-9. A deliberate change of output is
re-recorded with ``PYTHONPATH=src python scripts/record_golden.py --write --only NAME``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "record_golden.py"
_spec = importlib.util.spec_from_file_location("record_golden", _SCRIPT)
golden = importlib.util.module_from_spec(_spec)
sys.modules["record_golden"] = golden  # dataclasses look their module up by name
_spec.loader.exec_module(golden)


def _params():
    for case in golden.CASES:
        marks = [pytest.mark.slow] if case.slow else []
        for fmt in case.formats:
            yield pytest.param(case, fmt, id=f"{case.name}-{fmt}", marks=marks)


@pytest.mark.parametrize(("case", "fmt"), list(_params()))
def test_documented_example_output_unchanged(case, fmt):
    actual = golden.run_case(case, fmt)
    diffs = golden.compare(case, fmt, actual)
    if diffs:
        shown = "\n".join(diffs[:40])
        more = f"\n... and {len(diffs) - 40} more" if len(diffs) > 40 else ""
        pytest.fail(
            f"`flopwise {' '.join(case.argv)}` ({fmt}; {case.source}) no longer prints what "
            f"{golden.golden_path(case, fmt).relative_to(golden.ROOT)} recorded:\n{shown}{more}\n"
            f"If the change is intended, re-record it: {golden.REGENERATE} --only {case.name}",
            pytrace=False,
        )


def test_every_recording_has_a_case():
    """A recording left behind by a removed or renamed case would never be checked again."""
    expected = {golden.golden_path(c, f).name for c in golden.CASES for f in c.formats}
    on_disk = {p.name for p in golden.GOLDEN_DIR.iterdir()}
    assert on_disk == expected


def test_comparison_catches_a_changed_integer_and_an_int_turned_float():
    """The JSON comparison is exact on integers and types, tolerant only on float noise."""
    doc = {"totals": {"flops": 8239860200, "intensity": 19.269953}, "ops": [1, 2]}
    assert golden.json_differences(doc, doc) == []
    assert golden.json_differences(doc, {**doc, "totals": {**doc["totals"], "flops": 8239860201}})
    assert golden.json_differences(doc, {**doc, "totals": {**doc["totals"], "flops": 8239860200.0}})
    assert golden.json_differences(doc, {**doc, "ops": [1, 2, 3]})
    noisy = {**doc, "totals": {**doc["totals"], "intensity": 19.269953 * (1 + 1e-12)}}
    assert golden.json_differences(doc, noisy) == []
    assert golden.json_differences(doc, {**doc, "totals": {**doc["totals"], "intensity": 19.27}})
