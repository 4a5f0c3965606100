"""Rows of the energy section of a profile's table: label/value pairs built from the
JSON-ready dict :func:`flopwise.measure.energy.energy_report` returns. Formatting only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flopwise.units import si

__all__ = ["energy_rows"]


def _si(value: float, unit: str) -> str:
    """``0.00123, "J"`` -> ``"1.23 mJ"``: the energy table's style (lowercase ``k``, prefixes
    down to femto, plain ``%.3g``, no trailing space for a bare number)."""
    return si(value, unit, kilo="k", finest="f", tidy=False).strip()


def energy_rows(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value rows for a table from an :func:`energy_report` dict (pure)."""
    rows: list[tuple[str, str]] = []
    if d["uncertainty"] == "estimated":
        label = f"{d['method']} (power model) - not measured"
    else:
        label = f"{d['method']} ({d['uncertainty']})"
    rows.append(("energy method", label))
    if d.get("model"):
        rows.append(("power model", str(d["model"])))
    if d.get("utilisation") is not None:
        rows.append(("utilisation (u)", f"{d['utilisation']:.2f}"))
    rows.append(
        (
            "window",
            f"{_si(d['window_s'], 's')} x {d['windows']} ({d['repeats_per_window']} runs each)",
        )
    )
    per_run = _si(d["joules_per_run"], "J")
    if d.get("windows", 1) > 1:
        per_run += (
            f" (windows: {_si(d['joules_per_run_min'], 'J')}-{_si(d['joules_per_run_max'], 'J')})"
        )
    rows.append(("energy / run", per_run))
    if d.get("joules_per_item") is not None:
        rows.append(("energy / item", _si(d["joules_per_item"], "J")))
    if d.get("joules_per_token") is not None:
        rows.append(("energy / token", _si(d["joules_per_token"], "J")))
    rows.append(("average power", _si(d["average_power_w"], "W")))
    domains = d.get("domains_joules_per_run") or {}
    if len(domains) > 1:
        for k, v in domains.items():
            rows.append((f"  {k} / run", _si(v, "J")))
    grid = f"{d['grid_name']} {d['grid_gco2e_per_kwh']:g} gCO2e/kWh ({d['grid_source']}"
    grid += f", {d['grid_year']}" if d.get("grid_year") else ""
    grid += "; default)" if d.get("grid_is_default") else ")"
    rows.append(("grid", grid))
    rows.append(("PUE", f"{d['pue']:.2f}"))
    rows.append(("CO2e / run", _si(d["gco2e_per_run"], "g")))
    if d.get("gco2e_per_item") is not None:
        rows.append(("CO2e / item", _si(d["gco2e_per_item"], "g")))
    if d.get("gco2e_per_token") is not None:
        rows.append(("CO2e / token", _si(d["gco2e_per_token"], "g")))
    metrics = [
        ("flops_per_joule", "FLOPs / J", "FLOP/J"),
        ("items_per_joule", "items / J", ""),
        ("tokens_per_joule", "tokens / J", ""),
        ("items_per_kwh", "items / kWh", ""),
        ("tokens_per_kwh", "tokens / kWh", ""),
        ("items_per_pflop", "items / PFLOP", ""),
        ("tokens_per_pflop", "tokens / PFLOP", ""),
        ("items_per_gco2e", "items / gCO2e", ""),
        ("tokens_per_gco2e", "tokens / gCO2e", ""),
    ]
    for key, name, unit in metrics:
        if d.get(key) is not None:
            rows.append((name, _si(d[key], unit)))
    for path, j in (d.get("per_module_joules_per_run") or {}).items():
        rows.append((f"  {path or '(root)'} / run (apportioned)", _si(j, "J")))
    for flag in d.get("flags") or []:
        rows.append(("flag", flag))
    for note in d.get("notes") or []:
        rows.append(("note", note))
    for reason in d.get("unavailable") or []:
        rows.append(("not used", reason))
    return rows
