"""Carbon and efficiency arithmetic: grams of CO2e from energy, and work per unit of cost.

``gCO2e = energy_kWh x grid_intensity (g/kWh) x PUE``

Grid intensities come from the bundled table ``flopwise/data/grid_intensity.csv``:
Ember's yearly electricity data, data year 2023 (Global Electricity Review 2024), lifecycle
gCO2e per kWh of generation, rounded to whole grams. The world average (480 g/kWh) is the
default and is labelled as such. A number may be given instead of a region for a current,
local or market-based figure.

PUE (power usage effectiveness) scales device energy to facility energy; the default 1.0
adds no facility overhead (a desk machine). Typical values: about 1.1 for large cloud
data centres, about 1.5-1.6 for the industry average.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from flopwise.errors import FlopwiseError

JOULES_PER_KWH = 3.6e6
DEFAULT_REGION = "WORLD"
DEFAULT_PUE = 1.0
GRID_SOURCE = "Ember yearly electricity data, Global Electricity Review 2024"
GRID_YEAR = 2023

_ALIASES = {"UK": "GB", "GLOBAL": "WORLD", "WLD": "WORLD", "EU27": "EU"}


class UnknownRegion(FlopwiseError):
    """A grid region not in the bundled table; the message carries close matches."""


@dataclass(frozen=True)
class GridIntensity:
    """Carbon intensity of one grid: ``g_per_kwh`` grams CO2e per kWh."""

    region: str
    name: str
    g_per_kwh: float
    year: int | None
    source: str
    is_default: bool = False

    def label(self) -> str:
        """One line, e.g. ``World 480 gCO2e/kWh (Ember ..., 2023; default)``."""
        when = f", {self.year}" if self.year else ""
        default = "; default" if self.is_default else ""
        return f"{self.name} {self.g_per_kwh:g} gCO2e/kWh ({self.source}{when}{default})"


@lru_cache(maxsize=1)
def _rows() -> tuple[tuple[GridIntensity, str], ...]:
    """The bundled table as ``(intensity, iso3)`` pairs, in file order."""
    text = resources.files("flopwise").joinpath("data", "grid_intensity.csv").read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    out = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        code = row["code"].strip().upper()
        g = GridIntensity(
            region=code,
            name=row["name"].strip(),
            g_per_kwh=float(row["gco2e_per_kwh"]),
            year=int(row["year"]),
            source=GRID_SOURCE,
            is_default=code == DEFAULT_REGION,
        )
        out.append((g, row["iso3"].strip().upper()))
    return tuple(out)


def grid_regions() -> list[GridIntensity]:
    """Every region of the bundled table, in file order (world first)."""
    return [g for g, _ in _rows()]


@lru_cache(maxsize=1)
def _index() -> dict[str, GridIntensity]:
    idx: dict[str, GridIntensity] = {}
    for g, iso3 in _rows():
        for key in (g.region, iso3, g.name.upper()):
            idx[key] = g
    by_code = {g.region: g for g, _ in _rows()}
    for alias, code in _ALIASES.items():
        idx.setdefault(alias, by_code[code])
    return idx


def grid_intensity(region: str | float | int | None = None) -> GridIntensity:
    """Look up a grid's carbon intensity.

    Args:
        region: ``None`` for the world average (labelled default); an ISO alpha-2 or
            alpha-3 code or a country name (case-insensitive: ``"FR"``, ``"fra"``,
            ``"France"``); ``"WORLD"``/``"EU"``; or a number of g/kWh (``250`` or
            ``"250"``) for a user-supplied figure.

    Raises:
        UnknownRegion: with the closest matches when the region is not in the table.
    """
    if region is None or (isinstance(region, str) and not region.strip()):
        region = DEFAULT_REGION
    if isinstance(region, (int, float)) and not isinstance(region, bool):
        value = float(region)
    else:
        try:
            value = float(str(region).strip())
        except ValueError:
            value = None  # type: ignore[assignment]
    if value is not None:
        if value < 0:
            raise UnknownRegion(f"grid intensity must be >= 0 g/kWh, got {value:g}")
        return GridIntensity("custom", "custom grid", value, None, "user-supplied")
    key = str(region).strip().upper()
    idx = _index()
    if key in idx:
        return idx[key]
    names = sorted({g.name for g in grid_regions()} | {g.region for g in grid_regions()})
    close = difflib.get_close_matches(str(region).strip(), names, n=3, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(key, [n.upper() for n in names], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownRegion(
        f"unknown grid region {region!r}{hint} (use an ISO country code, a country name, "
        "WORLD, EU, or a number of gCO2e/kWh)"
    )


def carbon_g(energy_j: float, g_per_kwh: float, pue: float = DEFAULT_PUE) -> float:
    """Grams CO2e for ``energy_j`` joules on a grid of ``g_per_kwh`` at ``pue``."""
    if pue < 1.0:
        raise ValueError(f"PUE must be >= 1, got {pue}")
    return energy_j / JOULES_PER_KWH * g_per_kwh * pue


def efficiency_metrics(
    *,
    joules: float,
    flops: int | float | None = None,
    items: int | float | None = None,
    tokens: int | float | None = None,
    gco2e: float | None = None,
) -> dict[str, float]:
    """Work per unit of cost, for one run (all arguments per run).

    Returns the keys that can be computed: ``flops_per_joule``, ``items_per_joule``,
    ``tokens_per_joule``, ``items_per_kwh``, ``tokens_per_kwh``, ``items_per_pflop``,
    ``tokens_per_pflop`` (the E2R-FLOPs "queries per PetaFLOP" idea generalised),
    ``items_per_gco2e``, ``tokens_per_gco2e``. Ratios with a zero denominator are left out.
    """
    out: dict[str, float] = {}
    kwh = joules / JOULES_PER_KWH
    pflop = flops / 1e15 if flops else 0.0
    if flops and joules > 0:
        out["flops_per_joule"] = flops / joules
    for label, work in (("items", items), ("tokens", tokens)):
        if not work:
            continue
        if joules > 0:
            out[f"{label}_per_joule"] = work / joules
            out[f"{label}_per_kwh"] = work / kwh
        if pflop > 0:
            out[f"{label}_per_pflop"] = work / pflop
        if gco2e:
            out[f"{label}_per_gco2e"] = work / gco2e
    return out
