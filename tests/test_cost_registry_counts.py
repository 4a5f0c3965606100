"""Every registered formula gives the counts recorded before the elementwise rules became
one table (tests/data/cost_formula_counts.json, written by tests/cost_samples.py): moving
the registration must not change a single count, category or failure mode."""

from __future__ import annotations

import json

import torch

from cost_samples import FIXTURE, TORCH, record


def test_every_registered_formula_counts_as_recorded():
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    version = recorded.pop(TORCH)
    now = record()
    if torch.__version__ == version:
        assert sorted(now) == sorted(recorded), "the set of counted overloads changed"
    # another torch build adds or drops a few overloads; the rest must count the same
    common = [name for name in recorded if name in now]
    assert len(common) >= 0.9 * len(recorded), f"{len(common)} of {len(recorded)} overloads"
    changed = [name for name in common if now[name] != recorded[name]]
    assert not changed, f"{len(changed)} overloads count differently, e.g. {changed[:5]}: " + (
        f"{recorded[changed[0]]} → {now[changed[0]]}" if changed else ""
    )
