"""From population or stated targets to urban cells per year.

Values given at some years are interpolated linearly for the years between; landsim
does not extrapolate beyond the last given year. Counts are rounded per year from the
cumulative series, so the yearly increments add up exactly to the final target.
"""

from __future__ import annotations

import numpy as np

from landsim.errors import DemandError, ScenarioError
from landsim.scenario.schema import PopulationDemand, Scenario, TargetsDemand


def interpolate(series: dict[int, float], years: list[int], key: str) -> np.ndarray:
    """Linear interpolation of a year → value table; no extrapolation."""
    known = sorted(series)
    lo, hi = years[0], years[-1]
    if known[0] > lo or known[-1] < hi:
        raise ScenarioError(
            f"[{key}] covers {known[0]}..{known[-1]} but the simulation needs {lo}..{hi}; "
            f"add values at or before {lo} and at or after {hi} (landsim interpolates, "
            "it does not extrapolate)"
        )
    return np.interp(years, known, [series[y] for y in known])


def urban_demand(
    scenario: Scenario, observed_urban: int, cell_area_m2: float | None
) -> dict[int, int]:
    """Total urban cells per year, from the start year (= observed) to the end year."""
    spec = scenario.demand
    years = scenario.simulation.years
    if isinstance(spec, TargetsDemand):
        if spec.unit == "cells":
            area_per_cell = 1.0
        else:
            if cell_area_m2 is None:
                raise ScenarioError(
                    f"[demand.unit] '{spec.unit}' needs a projected grid in metres, but the "
                    "land-use raster is not; reproject it or give demand in 'cells'"
                )
            area_per_cell = cell_area_m2 / (1e6 if spec.unit == "km2" else 1e4)
        # Before the first stated year the series runs from the observed start map.
        series = dict(spec.urban)
        if min(series) > years[0]:
            series[years[0]] = observed_urban * area_per_cell
        cells = np.rint(interpolate(series, years, "demand.urban") / area_per_cell)
        key = "demand.urban"
    else:
        assert isinstance(spec, PopulationDemand)
        if cell_area_m2 is None:
            raise ScenarioError(
                "[demand.method] 'population' needs a projected grid in metres to turn m² "
                "into cells; reproject the land-use raster"
            )
        pop = interpolate(spec.population, years, "demand.population")
        rate = interpolate(spec.urbanization_rate, years, "demand.urbanization_rate")
        pc = spec.urban_land_per_capita_m2
        per_capita = (
            interpolate(pc, years, "demand.urban_land_per_capita_m2")
            if isinstance(pc, dict)
            else np.full(len(years), pc)
        )
        area_m2 = pop * rate * per_capita
        if spec.anchor == "observed":
            cells = observed_urban + np.rint((area_m2 - area_m2[0]) / cell_area_m2)
        else:
            cells = np.rint(area_m2 / cell_area_m2)
        key = "demand"
    out = {years[0]: observed_urban}
    prev = observed_urban
    for year, c in zip(years[1:], cells[1:], strict=True):
        c = int(c)
        if c < prev:
            raise DemandError(
                f"[{key}] urban demand falls to {c:,} cells in {year}, below the {prev:,} "
                f"cells already urban {'on the start map' if prev == observed_urban else ''}"
                "; urban land does not revert in this model, so demand must not decrease"
            )
        out[year] = c
        prev = c
    return out
