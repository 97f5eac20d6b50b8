"""Properties of ``landsim.model.simulate`` on random small grids, and the engine == oracle.

Each example draws a grid size, a numpy seed and the model's parameters; the maps,
planning layers and suitability are built from that seed, so a failing example is
reproducible from what hypothesis prints. The candidate mask follows the model's rules:
valid & not urban & outside 'no_change' & outside 'no_construction' & inside
'construction_inside_only'; a fourth layer, 'report_only', is only counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from landsim.constraints.compile import Layer, compile_constraints
from landsim.kernels import reference
from landsim.model import GrowthParameters, SimulationResult, simulate
from landsim.scenario import loads

URBAN = 1
NODATA = 255
CODES = np.arange(6, dtype=np.uint8)  # 0..5, urban = 1
LAYER_RULES = {
    "no_change": "no_change",
    "no_construction": "no_construction",
    "inside_only": "construction_inside_only",
    "report_only": "no_construction",  # enforce = false: reported, never blocks
}


@dataclass
class Case:
    landuse: np.ndarray  # uint8, codes 0..5 and 255
    suitability: np.ndarray  # float32 in [0, 1]
    candidate: np.ndarray  # uint8
    layers: dict[str, np.ndarray]  # bool masks
    demand: dict[int, int]  # year -> total urban cells
    params: GrowthParameters

    @property
    def years(self) -> list[int]:
        return sorted(self.demand)

    def run(self, **changes: object) -> SimulationResult:
        params = self.params
        if changes:
            params = GrowthParameters(**{**params.__dict__, **changes})
        return simulate(
            self.landuse,
            self.suitability,
            self.candidate,
            self.demand,
            params,
            self.years,
            layers=self.layers,
        )


def candidate_mask(landuse: np.ndarray, layers: dict[str, np.ndarray]) -> np.ndarray:
    """The model's rule, by hand."""
    return (
        (landuse != NODATA)
        & (landuse != URBAN)
        & ~layers["no_change"]
        & ~layers["no_construction"]
        & layers["inside_only"]
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    ny = draw(st.integers(3, 25))
    nx = draw(st.integers(3, 25))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (ny, nx)

    urban_share = draw(st.sampled_from([0.0, 0.05, 0.2, 0.5]))
    landuse = rng.choice(np.array([0, 2, 3, 4, 5], np.uint8), size=shape)
    landuse[rng.random(shape) < urban_share] = URBAN
    landuse[rng.random(shape) < draw(st.sampled_from([0.0, 0.05, 0.2]))] = NODATA

    layers = {
        "no_change": rng.random(shape) < draw(st.sampled_from([0.0, 0.1, 0.3])),
        "no_construction": rng.random(shape) < draw(st.sampled_from([0.0, 0.1, 0.3])),
        "inside_only": rng.random(shape) < draw(st.sampled_from([1.0, 0.9, 0.6])),
        "report_only": rng.random(shape) < 0.5,
    }
    candidate = candidate_mask(landuse, layers).astype(np.uint8)

    # Suitability: continuous, or from a few levels (many ties); some exact zeros and ones.
    if draw(st.booleans()):
        suitability = rng.random(shape)
    else:
        suitability = rng.choice(np.array([0.25, 0.5, 1.0]), size=shape)
    suitability[rng.random(shape) < draw(st.sampled_from([0.0, 0.1, 0.5]))] = 0.0
    suitability = suitability.astype(np.float32)

    # Demand: increments that fit the candidates, some years without growth.
    n_years = draw(st.integers(1, 6))
    start = draw(st.integers(1990, 2040))
    available = int(candidate.sum())
    total = draw(st.integers(0, available))
    cuts = np.sort(rng.integers(0, total + 1, size=n_years - 1))
    increments = np.diff(np.concatenate([[0], cuts, [total]]))
    observed = int((landuse == URBAN).sum())
    demand = {start: observed}
    for k, inc in enumerate(increments, start=1):
        demand[start + k] = demand[start + k - 1] + int(inc)

    weights = np.zeros(256, np.float32)
    weights[URBAN] = 1.0
    for code in (0, 2, 3, 4, 5):
        weights[code] = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5]))
    alpha = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 3.0)))
    params = GrowthParameters(
        urban_code=URBAN,
        weights=weights,
        radius=draw(st.integers(1, 3)),
        floor=draw(st.one_of(st.sampled_from([0.0, 0.01, 1.0]), st.floats(0.0, 1.0))),
        alpha=alpha,
        seed=draw(st.integers(0, 2**63 - 1)),
        member=draw(st.integers(0, 3)),
    )
    return Case(landuse, suitability, candidate, layers, demand, params)


def oracle(case: Case) -> dict[int, np.ndarray]:
    """The model, one year at a time, from the plain-numpy reference functions only."""
    p = case.params
    lu = case.landuse.copy()
    cand = case.candidate.astype(bool)
    maps = {case.years[0]: lu.copy()}
    for year in case.years[1:]:
        n = case.demand[year] - int((lu == URBAN).sum())
        if n > 0:
            neigh = reference.neighborhood_effect(lu, p.weights, p.radius)
            key = reference.stream_key(p.seed, p.member, year)
            potential = reference.urban_potential(
                case.suitability, neigh, cand, p.floor, p.alpha, key
            )
            chosen = reference.select_top(potential, n)
            assert chosen.size == n
            lu.flat[chosen] = URBAN
            cand.flat[chosen] = False
        maps[year] = lu.copy()
    return maps


EXAMPLES = settings(max_examples=50, deadline=None)


@EXAMPLES
@given(cases())
def test_engine_equals_oracle_year_by_year(case: Case) -> None:
    """The whole engine equals neighbourhood → potential → select_top in plain numpy, every year."""
    result = case.run()
    expected = oracle(case)
    assert sorted(result.maps) == case.years
    for year in case.years:
        assert_array_equal(result.maps[year], expected[year], err_msg=f"year {year}")
    assert_array_equal(result.final, expected[case.years[-1]])


@EXAMPLES
@given(cases())
def test_demand_met_exactly_every_year(case: Case) -> None:
    """Urban cells equal demand[year] every year, in class_counts and on the maps."""
    result = case.run()
    assert sorted(result.class_counts) == case.years
    for year in case.years:
        assert result.class_counts[year][URBAN] == case.demand[year]
        assert int((result.maps[year] == URBAN).sum()) == case.demand[year]
        assert_array_equal(
            result.class_counts[year], np.bincount(result.maps[year].ravel(), minlength=256)
        )


@EXAMPLES
@given(cases())
def test_only_candidates_become_urban(case: Case) -> None:
    """Cells are conserved, nodata untouched, urban never reverts, only candidate → urban."""
    result = case.run()
    start = case.landuse
    cand = case.candidate.astype(bool)
    valid = start != NODATA
    prev = start
    for year in case.years:
        now = result.maps[year]
        assert now.shape == start.shape and now.dtype == np.uint8
        assert int((now != NODATA).sum()) == int(valid.sum())
        assert_array_equal(now == NODATA, ~valid)
        assert_array_equal(now[~cand], start[~cand])  # outside the mask nothing changes
        assert np.all(now[prev == URBAN] == URBAN)  # urban never reverts
        changed = now != prev
        assert np.all(cand[changed]) and np.all(now[changed] == URBAN)
        # A cell changes at most once, so each year only still-unconverted candidates move.
        assert np.all(prev[changed] == start[changed])
        prev = now


@EXAMPLES
@given(cases())
def test_records_match_the_maps(case: Case) -> None:
    """from_class sums to new_urban and matches the map difference; inside counts per layer."""
    seen = []
    result = simulate(
        case.landuse,
        case.suitability,
        case.candidate,
        case.demand,
        case.params,
        case.years,
        layers=case.layers,
        on_year=seen.append,
    )
    assert [r.year for r in result.records] == case.years[1:]
    assert len(seen) == len(result.records)
    assert all(a is b for a, b in zip(seen, result.records, strict=True))
    for rec in result.records:
        before, after = result.maps[rec.year - 1], result.maps[rec.year]
        converted = before != after
        assert rec.new_urban == int(converted.sum())
        assert rec.new_urban == case.demand[rec.year] - case.demand[rec.year - 1]
        assert rec.from_class.shape == (256,) and rec.from_class.sum() == rec.new_urban
        assert_array_equal(rec.from_class, np.bincount(before[converted], minlength=256))
        assert rec.from_class[URBAN] == 0 and rec.from_class[NODATA] == 0
        assert set(rec.inside) == set(case.layers)
        for name, mask in case.layers.items():
            assert rec.inside[name] == int((converted & mask).sum()), name
        # The blocking layers are never encroached; growth is all inside the boundary.
        assert rec.inside["no_change"] == 0 and rec.inside["no_construction"] == 0
        assert rec.inside["inside_only"] == rec.new_urban


@settings(max_examples=30, deadline=None)
@given(cases())
def test_inputs_not_modified(case: Case) -> None:
    """simulate copies its inputs: landuse, suitability, candidate, layers, weights, demand."""
    copies = (
        case.landuse.copy(),
        case.suitability.copy(),
        case.candidate.copy(),
        {k: v.copy() for k, v in case.layers.items()},
        case.params.weights.copy(),
        dict(case.demand),
    )
    result = case.run()
    assert_array_equal(case.landuse, copies[0])
    assert_array_equal(case.suitability, copies[1])
    assert_array_equal(case.candidate, copies[2])
    for k, v in copies[3].items():
        assert_array_equal(case.layers[k], v)
    assert_array_equal(case.params.weights, copies[4])
    assert case.demand == copies[5]
    # Returned maps are copies too: writing one changes neither another nor the input.
    first = case.years[0]
    result.maps[first][...] = 3
    assert_array_equal(case.landuse, copies[0])


@settings(max_examples=30, deadline=None)
@given(cases())
def test_same_seed_same_maps(case: Case) -> None:
    """Two runs with the same seed and member give identical maps and records."""
    a, b = case.run(), case.run()
    for year in case.years:
        assert_array_equal(a.maps[year], b.maps[year])
        assert_array_equal(a.class_counts[year], b.class_counts[year])
    for ra, rb in zip(a.records, b.records, strict=True):
        assert_array_equal(ra.from_class, rb.from_class)
        assert ra.inside == rb.inside


def test_different_seed_or_member_changes_the_map() -> None:
    """On a grid with room to choose, another seed or member gives a different pattern."""
    rng = np.random.default_rng(0)
    shape = (40, 40)
    landuse = rng.choice(np.array([0, 2, 3], np.uint8), size=shape)
    landuse[18:22, 18:22] = URBAN
    layers = {name: np.zeros(shape, bool) for name in LAYER_RULES}
    layers["inside_only"][:] = True
    weights = np.zeros(256, np.float32)
    weights[URBAN] = 1.0
    observed = int((landuse == URBAN).sum())
    case = Case(
        landuse,
        np.full(shape, 0.8, np.float32),
        candidate_mask(landuse, layers).astype(np.uint8),
        layers,
        {2020: observed, 2021: observed + 100, 2022: observed + 200},
        GrowthParameters(urban_code=URBAN, weights=weights, alpha=1.0, seed=1),
    )
    base = case.run().final
    assert not np.array_equal(base, case.run(seed=2).final)
    assert not np.array_equal(base, case.run(member=1).final)
    assert np.array_equal(base, case.run(seed=1).final)


SCENARIO = """
schema_version = 1
name = "props"
[simulation]
start_year = 2020
end_year = 2021
[[classes]]
code = 0
name = "cropland"
role = "cropland"
[[classes]]
code = 1
name = "urban"
role = "urban"
[inputs]
landuse = "lu.tif"
[demand]
method = "targets"
unit = "cells"
urban = { 2020 = 0, 2021 = 1 }
[constraints.no_change]
path = "a.tif"
rule = "no_change"
[constraints.no_construction]
path = "b.tif"
rule = "no_construction"
[constraints.inside_only]
path = "c.tif"
rule = "construction_inside_only"
[constraints.report_only]
path = "d.tif"
rule = "no_construction"
enforce = false
"""


@settings(max_examples=30, deadline=None)
@given(cases())
def test_hand_built_mask_equals_compiled_constraints(case: Case) -> None:
    """compile_constraints gives the same candidate mask as the rule written out by hand."""
    scenario = loads(SCENARIO, Path("/nonexistent"))
    layers = {
        name: Layer(
            name,
            rule,
            Path(f"{name}.tif"),
            case.layers[name],
            enforced=name != "report_only",
        )
        for name, rule in LAYER_RULES.items()
    }
    if not case.layers["inside_only"].any():
        return  # compile refuses an empty development boundary (tested elsewhere)
    compiled = compile_constraints(scenario, case.landuse, None, layers)  # type: ignore[arg-type]
    assert_array_equal(compiled.candidate, case.candidate)
    assert "report_only" not in compiled.taken_away
