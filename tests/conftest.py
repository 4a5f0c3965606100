"""Shared test set-up: no test writes to the user's results store."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_results_store(tmp_path, monkeypatch):
    """Commands save their runs (profile, sweep, compare); point them at a throw-away file."""
    monkeypatch.setenv("FLOPWISE_DB", str(tmp_path / "results.sqlite"))
