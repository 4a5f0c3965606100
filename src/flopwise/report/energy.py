"""Rows of the energy section of a profile's table: label/value pairs built from the
:class:`~flopwise.sections.Energy` section that
:func:`flopwise.measure.energy.energy_report` fills. Formatting only."""

from __future__ import annotations

from flopwise.sections import Energy
from flopwise.units import si

__all__ = ["energy_rows"]

#: The efficiency ratios, in table order: field, label, unit.
_METRICS = (
    ("flops_per_joule", "FLOPs / J", "FLOP/J"),
    ("items_per_joule", "items / J", ""),
    ("tokens_per_joule", "tokens / J", ""),
    ("items_per_kwh", "items / kWh", ""),
    ("tokens_per_kwh", "tokens / kWh", ""),
    ("items_per_pflop", "items / PFLOP", ""),
    ("tokens_per_pflop", "tokens / PFLOP", ""),
    ("items_per_gco2e", "items / gCO2e", ""),
    ("tokens_per_gco2e", "tokens / gCO2e", ""),
)


def _si(value: float, unit: str) -> str:
    """``0.00123, "J"`` -> ``"1.23 mJ"``: the energy table's style (lowercase ``k``, prefixes
    down to femto, plain ``%.3g``, no trailing space for a bare number)."""
    return si(value, unit, kilo="k", finest="f", tidy=False).strip()


def energy_rows(e: Energy) -> list[tuple[str, str]]:
    """Label/value rows for a table from an energy section (pure)."""
    rows: list[tuple[str, str]] = [("energy method", _method_label(e))]
    if e.model:
        rows.append(("power model", str(e.model)))
    if e.utilisation is not None:
        rows.append(("utilisation (u)", f"{e.utilisation:.2f}"))
    rows.append(
        ("window", f"{_si(e.window_s, 's')} x {e.windows} ({e.repeats_per_window} runs each)")
    )
    per_run = _si(e.joules_per_run, "J")
    if e.windows > 1:
        per_run += f" (windows: {_si(e.joules_per_run_min, 'J')}-{_si(e.joules_per_run_max, 'J')})"
    rows.append(("energy / run", per_run))
    if e.joules_per_item is not None:
        rows.append(("energy / item", _si(e.joules_per_item, "J")))
    if e.joules_per_token is not None:
        rows.append(("energy / token", _si(e.joules_per_token, "J")))
    rows.append(("average power", _si(e.average_power_w, "W")))
    if len(e.domains_joules_per_run) > 1:
        for k, v in e.domains_joules_per_run.items():
            rows.append((f"  {k} / run", _si(v, "J")))
    rows.append(("grid", _grid_label(e)))
    rows.append(("PUE", f"{e.pue:.2f}"))
    rows.append(("CO2e / run", _si(e.gco2e_per_run, "g")))
    if e.gco2e_per_item is not None:
        rows.append(("CO2e / item", _si(e.gco2e_per_item, "g")))
    if e.gco2e_per_token is not None:
        rows.append(("CO2e / token", _si(e.gco2e_per_token, "g")))
    for name, label, unit in _METRICS:
        value = getattr(e, name)
        if value is not None:
            rows.append((label, _si(value, unit)))
    for path, j in (e.per_module_joules_per_run or {}).items():
        rows.append((f"  {path or '(root)'} / run (apportioned)", _si(j, "J")))
    rows += [("flag", flag) for flag in e.flags]
    rows += [("note", note) for note in e.notes]
    rows += [("not used", reason) for reason in e.unavailable]
    return rows


def _method_label(e: Energy) -> str:
    """``rapl (counter)``, or ``estimated (power model) - not measured``."""
    if e.uncertainty == "estimated":
        return f"{e.method} (power model) - not measured"
    return f"{e.method} ({e.uncertainty})"


def _grid_label(e: Energy) -> str:
    """``World 480 gCO2e/kWh (Ember ..., 2023; default)``."""
    grid = f"{e.grid_name} {e.grid_gco2e_per_kwh:g} gCO2e/kWh ({e.grid_source}"
    grid += f", {e.grid_year}" if e.grid_year else ""
    return grid + ("; default)" if e.grid_is_default else ")")
