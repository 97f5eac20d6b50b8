"""Properties of ``landsim.demand.urban_demand`` on scenarios built from TOML text."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from landsim.demand import urban_demand
from landsim.errors import DemandError, ScenarioError
from landsim.scenario import loads

EXAMPLES = settings(max_examples=60, deadline=None)


def toml_table(series: dict[int, float]) -> str:
    """An inline TOML table ``{ 2020 = 1.5, 2030 = 2 }``."""
    return "{ " + ", ".join(f"{y} = {v!r}" for y, v in sorted(series.items())) + " }"


def scenario(start: int, end: int, demand: str):
    text = f"""
schema_version = 1
name = "demand-props"
[simulation]
start_year = {start}
end_year = {end}
[[classes]]
code = 1
name = "urban"
role = "urban"
[[classes]]
code = 2
name = "cropland"
role = "cropland"
[inputs]
landuse = "x.tif"
[demand]
{demand}
"""
    return loads(text, "/nonexistent")


def targets(start: int, end: int, series: dict[int, float], unit: str = "cells"):
    return scenario(
        start, end, f'method = "targets"\nunit = "{unit}"\nurban = {toml_table(series)}'
    )


def exact_interp(series: dict[int, float], year: int) -> Fraction:
    """Linear interpolation in exact rational arithmetic."""
    known = sorted(series)
    if year in series:
        return Fraction(series[year])
    hi = next(y for y in known if y > year)
    lo = max(y for y in known if y < year)
    f0, f1 = Fraction(series[lo]), Fraction(series[hi])
    return f0 + (f1 - f0) * Fraction(year - lo, hi - lo)


def assert_rounded(got: int, exact: Fraction) -> None:
    """got is exact rounded to an integer (either way only at a half, where floats may tip)."""
    assert abs(got - exact) <= Fraction(1, 2) + Fraction(1, 10**6)
    if abs(abs(exact - round(exact)) - Fraction(1, 2)) > Fraction(1, 10**6):
        assert got == round(exact)


@st.composite
def target_cases(draw: st.DrawFn) -> tuple[int, int, int, dict[int, float]]:
    """(start, end, observed, non-decreasing cell series covering the end year)."""
    start = draw(st.integers(1990, 2040))
    end = start + draw(st.integers(1, 15))
    observed = draw(st.integers(0, 10**6))
    years = draw(st.sets(st.integers(start - 5, end + 5), min_size=1, max_size=6).map(sorted))
    last = draw(st.integers(end, end + 5))
    years = sorted({*years, last})
    assume(len(years) >= 2)
    years = [y for y in years if y <= last]
    assume(len(years) >= 2)
    value = observed + draw(st.integers(0, 500))
    series = {}
    for y in years:
        series[y] = float(value) if draw(st.booleans()) else value + 0.25 * draw(st.integers(0, 3))
        value = series[y] + draw(st.integers(0, 10**4))
    return start, end, observed, series


@EXAMPLES
@given(target_cases())
def test_targets_cover_every_year_and_start_at_observed(case) -> None:
    """Keys are exactly start..end; the start year is the observed urban count."""
    start, end, observed, series = case
    d = urban_demand(targets(start, end, series), observed, 900.0)
    assert list(d) == list(range(start, end + 1))
    assert d[start] == observed
    assert all(isinstance(v, int) for v in d.values())


@EXAMPLES
@given(target_cases())
def test_targets_non_decreasing_and_linear(case) -> None:
    """Demand never falls, and each year is the linear interpolation rounded to a cell."""
    start, end, observed, series = case
    d = urban_demand(targets(start, end, series), observed, 900.0)
    values = [d[y] for y in range(start, end + 1)]
    assert values == sorted(values)
    full = dict(series)
    if min(full) > start:  # before the first stated year the series runs from observed
        full[start] = observed
    for year in range(start + 1, end + 1):
        assert_rounded(d[year], exact_interp(full, year))


@EXAMPLES
@given(target_cases())
def test_targets_end_at_the_target(case) -> None:
    """When the end year is stated, the last year is the target rounded to cells."""
    start, end, observed, series = case
    assume(end in series)
    d = urban_demand(targets(start, end, series), observed, 900.0)
    assert_rounded(d[end], Fraction(series[end]))
    if float(series[end]).is_integer():
        assert d[end] == int(series[end])


@EXAMPLES
@given(
    st.integers(2000, 2040),
    st.integers(1, 12),
    st.integers(0, 10**5),
    st.integers(0, 10**5),
    st.sampled_from([(900.0, "ha"), (900.0, "km2"), (10_000.0, "ha"), (250_000.0, "km2")]),
)
def test_targets_in_area_units_end_at_target_cells(start, span, observed, grow, area_unit):
    """A target in ha or km² on a metric grid ends at target / cell area, rounded."""
    cell_area, unit = area_unit
    per_cell = Fraction(cell_area) / (10**6 if unit == "km2" else 10**4)
    end = start + span
    target_cells = observed + grow
    series = {start: float(observed * per_cell), end: float(target_cells * per_cell)}
    d = urban_demand(targets(start, end, series, unit), observed, cell_area)
    assert d[start] == observed
    assert d[end] == target_cells
    assert [d[y] for y in sorted(d)] == sorted(d.values())


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        ((2020, 100), (2024, 112), [100, 103, 106, 109, 112]),
        ((2020, 100), (2023, 107), [100, 102, 105, 107]),
        ((2020, 0), (2030, 1), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]),
    ],
)
def test_targets_two_point_series_hand_worked(lo, hi, expected) -> None:
    """Two stated years in cells: the hand-computed linear interpolation, rounded."""
    d = urban_demand(targets(lo[0], hi[0], {lo[0]: lo[1], hi[0]: hi[1]}), lo[1], 900.0)
    assert list(d.values()) == expected


def test_targets_after_start_run_from_observed_hand_worked() -> None:
    """A series starting after the start year starts from observed: 50 → 80 at 2023."""
    d = urban_demand(targets(2020, 2024, {2023: 80, 2024: 90}), 50, 900.0)
    assert d == {2020: 50, 2021: 60, 2022: 70, 2023: 80, 2024: 90}


# ---------------------------------------------------------------- population method


def population(start, end, pop, rate, pc, anchor="observed"):
    pc_text = repr(pc) if isinstance(pc, float) else toml_table(pc)
    return scenario(
        start,
        end,
        'method = "population"\n'
        f"population = {toml_table(pop)}\n"
        f"urbanization_rate = {toml_table(rate)}\n"
        f"urban_land_per_capita_m2 = {pc_text}\n"
        f'anchor = "{anchor}"',
    )


@st.composite
def population_cases(draw: st.DrawFn):
    start = draw(st.integers(1990, 2040))
    end = start + draw(st.integers(1, 15))
    p0 = float(draw(st.integers(10_000, 20_000_000)))
    p1 = p0 + float(draw(st.integers(0, 5_000_000)))
    r0 = draw(st.integers(0, 900)) / 1000
    r1 = r0 + draw(st.integers(0, 1000 - int(r0 * 1000))) / 1000
    pc0 = float(draw(st.integers(20, 150)))
    if draw(st.booleans()):
        pc = pc0
        pc1 = pc0
    else:
        pc1 = pc0 + float(draw(st.integers(0, 50)))
        pc = {start: pc0, end: pc1}
    cell_area = draw(st.sampled_from([100.0, 900.0, 10_000.0, 62_500.0]))
    observed = draw(st.integers(0, 10**6))
    return start, end, (p0, p1), (r0, r1), (pc0, pc1), pc, cell_area, observed


@EXAMPLES
@given(population_cases())
def test_population_anchor_observed(case) -> None:
    """'observed': demand = observed + round((P·r·pc − P0·r0·pc0) / cell area), non-decreasing."""
    start, end, (p0, p1), (r0, r1), (pc0, pc1), pc, cell_area, observed = case
    s = population(start, end, {start: p0, end: p1}, {start: r0, end: r1}, pc)
    d = urban_demand(s, observed, cell_area)
    assert list(d) == list(range(start, end + 1))
    assert d[start] == observed
    assert d[end] == observed + round((p1 * r1 * pc1 - p0 * r0 * pc0) / cell_area)
    values = list(d.values())
    assert values == sorted(values)


@EXAMPLES
@given(population_cases())
def test_population_anchor_absolute(case) -> None:
    """'absolute': demand at the end is round(P·r·pc / cell area) itself."""
    start, end, (p0, p1), (r0, r1), (pc0, pc1), pc, cell_area, _ = case
    s = population(start, end, {start: p0, end: p1}, {start: r0, end: r1}, pc, "absolute")
    observed = round(p0 * r0 * pc0 / cell_area)
    d = urban_demand(s, observed, cell_area)
    assert d[start] == observed
    assert d[end] == round(p1 * r1 * pc1 / cell_area)
    values = list(d.values())
    assert values == sorted(values)


def test_population_hand_worked_intermediate_year() -> None:
    """Population 1e6 → 1.2e6, rate 0.5 → 0.7, 100 m² over 2020..2022 on 1,000 m² cells."""
    s = population(2020, 2022, {2020: 1e6, 2022: 1.2e6}, {2020: 0.5, 2022: 0.7}, 100.0)
    # 2020: 50 km²; 2021: 1.1e6 × 0.6 × 100 = 66 km²; 2022: 84 km². Cells of 1,000 m².
    assert urban_demand(s, 7, 1000.0) == {2020: 7, 2021: 7 + 16_000, 2022: 7 + 34_000}


# ---------------------------------------------------------------------------- errors


@EXAMPLES
@given(
    st.integers(1990, 2040),
    st.integers(1, 15),
    st.integers(1, 10**6),
    st.integers(1, 10**4),
    st.booleans(),
)
def test_decreasing_target_raises_demand_error(start, span, observed, drop, peak_first) -> None:
    """A target below what is already urban (at the end or after a peak) is a DemandError."""
    end = start + span
    if peak_first and span >= 2:
        series = {start: observed, start + 1: observed + 2 * drop, end: observed + drop - 1}
    else:
        series = {start: observed, end: max(observed - drop, 0)}
        assume(series[end] < observed)
    with pytest.raises(DemandError, match=r"\[demand\.urban\]"):
        urban_demand(targets(start, end, series), observed, 900.0)


def test_falling_population_raises_demand_error() -> None:
    """A shrinking urban population under 'observed' would need urban land to revert."""
    s = population(2020, 2030, {2020: 2e6, 2030: 1e6}, {2020: 0.6, 2030: 0.6}, 100.0)
    with pytest.raises(DemandError, match=r"\[demand\]"):
        urban_demand(s, 1000, 900.0)


@EXAMPLES
@given(st.integers(1990, 2040), st.integers(1, 15), st.integers(1, 5), st.integers(0, 10**5))
def test_series_short_of_end_year_names_the_key(start, span, short, observed) -> None:
    """A target series ending before end_year raises ScenarioError naming [demand.urban]."""
    end = start + span
    last = end - short
    assume(last > start - 10)
    series = {start - 10: float(observed), last: float(observed + 10)}
    with pytest.raises(ScenarioError, match=r"\[demand\.urban\]"):
        urban_demand(targets(start, end, series), observed, 900.0)


@pytest.mark.parametrize(
    ("key", "pop", "rate", "pc"),
    [
        ("demand.population", {2020: 1e6, 2029: 1e6}, {2020: 0.5, 2030: 0.5}, 90.0),
        ("demand.urbanization_rate", {2020: 1e6, 2030: 1e6}, {2021: 0.5, 2030: 0.5}, 90.0),
        (
            "demand.urban_land_per_capita_m2",
            {2020: 1e6, 2030: 1e6},
            {2020: 0.5, 2030: 0.5},
            {2020: 90.0, 2025: 95.0},
        ),
    ],
)
def test_population_series_short_names_the_key(key, pop, rate, pc) -> None:
    """Each population series that misses start or end names its own key in brackets."""
    s = population(2020, 2030, pop, rate, pc)
    with pytest.raises(ScenarioError, match=re.escape(f"[{key}]")):
        urban_demand(s, 0, 900.0)


def test_area_units_need_a_metric_grid() -> None:
    """km² targets or the population method without a cell area are ScenarioErrors."""
    with pytest.raises(ScenarioError, match=r"\[demand\.unit\]"):
        urban_demand(targets(2020, 2025, {2020: 1.0, 2025: 2.0}, "km2"), 10, None)
    s = population(2020, 2025, {2020: 1e6, 2025: 1e6}, {2020: 0.5, 2025: 0.5}, 90.0)
    with pytest.raises(ScenarioError, match=r"\[demand\.method\]"):
        urban_demand(s, 10, None)
    # cells need no grid at all
    assert urban_demand(targets(2020, 2021, {2020: 1, 2021: 2}), 1, None) == {2020: 1, 2021: 2}
