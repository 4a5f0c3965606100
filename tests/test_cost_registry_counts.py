"""Every registered formula gives the counts recorded before the elementwise rules became
one table (tests/data/cost_formula_counts.json, written by tests/cost_samples.py): moving
the registration must not change a single count, category or failure mode."""

from __future__ import annotations

import json

from cost_samples import FIXTURE, record


def test_every_registered_formula_counts_as_recorded():
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    now = record()
    assert sorted(now) == sorted(recorded), "the set of counted overloads changed"
    changed = [name for name in recorded if now[name] != recorded[name]]
    assert not changed, f"{len(changed)} overloads count differently, e.g. {changed[:5]}: " + (
        f"{recorded[changed[0]]} → {now[changed[0]]}" if changed else ""
    )
