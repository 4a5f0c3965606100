"""Carbon arithmetic with known values, grid look-ups, efficiency metrics."""

from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flopwise.errors import FlopwiseError
from flopwise.measure.energy.carbon import (
    JOULES_PER_KWH,
    UnknownRegion,
    carbon_g,
    efficiency_metrics,
    grid_intensity,
    grid_regions,
)


def test_carbon_known_values():
    assert carbon_g(JOULES_PER_KWH, 480.0) == pytest.approx(480.0)  # 1 kWh on the world grid
    assert carbon_g(3.6e6, 100.0, 1.5) == pytest.approx(150.0)
    assert carbon_g(3600.0, 500.0, 1.2) == pytest.approx(0.6)  # 1 Wh
    assert carbon_g(0.0, 500.0) == 0.0
    with pytest.raises(ValueError):
        carbon_g(1.0, 100.0, 0.9)


@given(e=st.floats(0, 1e9), g=st.floats(0, 2000), pue=st.floats(1, 3))
def test_carbon_is_linear(e, g, pue):
    assert carbon_g(2 * e, g, pue) == pytest.approx(2 * carbon_g(e, g, pue))


def test_world_average_is_the_labelled_default():
    g = grid_intensity()
    assert g.region == "WORLD" and g.is_default
    assert g.g_per_kwh == 480.0 and g.year == 2023
    assert "Ember" in g.source and "default" in g.label()
    assert grid_intensity("") == g


def test_lookup_by_code_iso3_name_and_alias():
    fr = grid_intensity("FR")
    assert fr.name == "France" and fr.g_per_kwh == 56.0 and not fr.is_default
    assert grid_intensity("fra") == fr
    assert grid_intensity("france") == fr
    assert grid_intensity("UK") == grid_intensity("GB")
    assert grid_intensity("EU").name == "European Union"


def test_numeric_grid_is_user_supplied():
    g = grid_intensity(250)
    assert g.g_per_kwh == 250.0 and g.source == "user-supplied" and g.year is None
    assert grid_intensity("123.5").g_per_kwh == 123.5
    with pytest.raises(UnknownRegion):
        grid_intensity(-1)


def test_unknown_region_suggests_close_matches():
    with pytest.raises(UnknownRegion, match="did you mean France") as exc:
        grid_intensity("Frnace")
    assert isinstance(exc.value, FlopwiseError)
    assert "\n" not in str(exc.value)
    with pytest.raises(UnknownRegion, match="unknown grid region"):
        grid_intensity("Atlantis-Prime-Zzz")


def test_table_header_names_source_and_year():
    text = resources.files("flopwise").joinpath("data", "grid_intensity.csv").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "Ember" in header and "2023" in header and "WORLD" in header
    regions = grid_regions()
    assert regions[0].region == "WORLD"
    assert len({g.region for g in regions}) == len(regions)
    assert all(0 < g.g_per_kwh < 1200 for g in regions)


def test_efficiency_metrics_known_values():
    m = efficiency_metrics(joules=2.0, flops=4_000_000_000, items=8, tokens=1000, gco2e=0.5)
    assert m["flops_per_joule"] == pytest.approx(2e9)
    assert m["items_per_joule"] == pytest.approx(4.0)
    assert m["tokens_per_joule"] == pytest.approx(500.0)
    assert m["items_per_kwh"] == pytest.approx(8 / (2.0 / 3.6e6))
    assert m["items_per_pflop"] == pytest.approx(8 / 4e-6)
    assert m["tokens_per_pflop"] == pytest.approx(1000 / 4e-6)
    assert m["items_per_gco2e"] == pytest.approx(16.0)
    assert m["tokens_per_gco2e"] == pytest.approx(2000.0)


def test_efficiency_metrics_leave_out_what_cannot_be_computed():
    assert efficiency_metrics(joules=1.0) == {}
    m = efficiency_metrics(joules=0.0, flops=10, items=2)
    assert "flops_per_joule" not in m and "items_per_joule" not in m
    assert m["items_per_pflop"] == pytest.approx(2 / 1e-14)
