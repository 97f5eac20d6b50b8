"""Demand: targets and population → urban cells per year, hand-worked."""

from __future__ import annotations

from pathlib import Path

import pytest
from _synthetic import CLASSES

from landsim.demand import urban_demand
from landsim.errors import DemandError, ScenarioError
from landsim.scenario import loads

HEAD = (
    'schema_version = 1\nname = "d"\n[simulation]\nstart_year = 2020\nend_year = 2025\n'
    + CLASSES
    + '[inputs]\nlanduse = "lu.tif"\n'
)


def _scenario(demand: str, tmp_path: Path):
    return loads(HEAD + "[demand]\n" + demand, tmp_path)


def test_targets_in_cells_interpolate_linearly(tmp_path: Path) -> None:
    """2020 = 100, 2025 = 150 gives 10 cells a year."""
    s = _scenario(
        'method = "targets"\nunit = "cells"\nurban = { 2020 = 100, 2025 = 150 }', tmp_path
    )
    assert urban_demand(s, 100, 900.0) == {
        2020: 100,
        2021: 110,
        2022: 120,
        2023: 130,
        2024: 140,
        2025: 150,
    }


def test_targets_in_km2_start_from_the_observed_map(tmp_path: Path) -> None:
    """A series that starts after the start year runs from the observed urban area."""
    s = _scenario('method = "targets"\nunit = "km2"\nurban = { 2023 = 0.72, 2025 = 0.9 }', tmp_path)
    # 900 m² cells: 0.45 km² observed = 500 cells; 0.72 km² = 800; 0.9 km² = 1000.
    assert urban_demand(s, 500, 900.0) == {
        2020: 500,
        2021: 600,
        2022: 700,
        2023: 800,
        2024: 900,
        2025: 1000,
    }


def test_increments_add_up_exactly(tmp_path: Path) -> None:
    """Rounding per year from the cumulative series loses no cell."""
    s = _scenario('method = "targets"\nunit = "cells"\nurban = { 2020 = 0, 2025 = 7 }', tmp_path)
    d = urban_demand(s, 0, 900.0)
    assert d[2025] == 7 and all(d[y] <= d[y + 1] for y in range(2020, 2025))


def test_population_anchor_observed(tmp_path: Path) -> None:
    """Observed + change of population × rate × per-capita land, in cells."""
    s = _scenario(
        'method = "population"\npopulation = { 2020 = 1000000, 2025 = 1100000 }\n'
        "urbanization_rate = { 2020 = 0.5, 2025 = 0.6 }\nurban_land_per_capita_m2 = 90\n",
        tmp_path,
    )
    d = urban_demand(s, 40_000, 900.0)
    # 2025: 1.1e6 × 0.6 × 90 = 59.4 km²; 2020: 1e6 × 0.5 × 90 = 45 km²; +14.4 km² = 16,000 cells
    assert d[2020] == 40_000 and d[2025] == 56_000
    # 2023: pop 1.06e6, rate 0.56 → 53.424 km², +8.424 km² = 9,360 cells
    assert d[2023] == 49_360


def test_population_anchor_absolute(tmp_path: Path) -> None:
    """'absolute' takes the projected area itself as the target."""
    s = _scenario(
        'method = "population"\npopulation = { 2020 = 1000000, 2025 = 1100000 }\n'
        "urbanization_rate = { 2020 = 0.5, 2025 = 0.6 }\n"
        'urban_land_per_capita_m2 = { 2020 = 90, 2025 = 90 }\nanchor = "absolute"\n',
        tmp_path,
    )
    assert urban_demand(s, 40_000, 900.0)[2025] == 66_000


def test_population_below_observed_is_refused(tmp_path: Path) -> None:
    """An absolute target under the map's urban area would need urban land to revert."""
    s = _scenario(
        'method = "population"\npopulation = { 2020 = 1000, 2025 = 1000 }\n'
        "urbanization_rate = { 2020 = 0.5, 2025 = 0.5 }\nurban_land_per_capita_m2 = 100\n"
        'anchor = "absolute"\n',
        tmp_path,
    )
    with pytest.raises(DemandError, match="does not revert"):
        urban_demand(s, 40_000, 900.0)


def test_no_extrapolation(tmp_path: Path) -> None:
    """A series that stops before the end year names the key and the years it covers."""
    s = _scenario('method = "targets"\nunit = "cells"\nurban = { 2020 = 1, 2024 = 5 }', tmp_path)
    with pytest.raises(ScenarioError, match=r"\[demand.urban\] covers 2020..2024"):
        urban_demand(s, 1, 900.0)


def test_area_units_need_a_projected_grid(tmp_path: Path) -> None:
    """km² on a grid in degrees is refused with the fix."""
    s = _scenario('method = "targets"\nunit = "km2"\nurban = { 2020 = 1, 2025 = 5 }', tmp_path)
    with pytest.raises(ScenarioError, match="projected grid"):
        urban_demand(s, 1, None)
