"""Properties of ``model.multiclass.simulate_multiclass`` on random small grids.

Each example draws a grid (20..40 × 20..40) with 3..6 classes, one of them urban and
perhaps one "other construction", some nodata, a random conversion matrix (urban's row
all 0: urban never reverts; the diagonal says whether a class may change at all, as
``landsim.multiclass.parameters`` sets it), random costs, one or two planning periods
with random frozen cells (no MAY_CHANGE), urban candidates and no-construction cells,
random districts or none, random suitability with zeros, and the model's parameters.
The arrays come from a numpy seed that hypothesis draws, so a failing example is
reproducible from what it prints.

The demand is *realisable*: it is counted, year by year, on a shadow map to which random
conversions are applied that the matrix and the period's rules allow (a cell converts
at most once a year, as in the engine). Urban's demand must then be met exactly on
whatever path the engine takes, so the shadow keeps to what the engine promises to
handle: urban's *feeders* (the classes the matrix lets become urban) never grow, and a
feeder loses in all, per district, no more cells than it has open to urban at the start
in every period. Then in every year each feeder's cells open to urban number at least its
surplus, so no other class's gain can use up the cells urban was planned to take, and no
chain (A → urban while B → A) is needed. The other classes may fall short (the engine
says why); a second property runs a population-driven demand from
``demand.classes.population_class_demand``, which every class must meet exactly.

Two realisable demands outside that regime once made the engine refuse urban (no chain
through another class; another class taking urban's only cells); they are kept as
minimal cases at the end of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from landsim.demand.classes import ClassDemand, check_sources, population_class_demand
from landsim.kernels import multiclass as mk
from landsim.model.engine import SimulationResult
from landsim.model.multiclass import (
    ClassDemandArrays,
    MulticlassParameters,
    MulticlassPeriod,
    simulate_multiclass,
)

NODATA = 255
START = 2020
SLOW = [HealthCheck.too_slow]


@dataclass
class Case:
    landuse: np.ndarray  # uint8 codes, NODATA off the land
    codes: np.ndarray  # uint8[K]
    u: int  # urban's class index
    kinds: np.ndarray  # uint8[K] target kind
    allowed: np.ndarray  # bool[K, K], diagonal False: c may become k
    periods: list[MulticlassPeriod]
    districts: np.ndarray | None  # int64 district codes, 0 off the land
    district_codes: np.ndarray  # int64, sorted
    demand: ClassDemandArrays
    params: MulticlassParameters
    shadow: list[np.ndarray] = field(default_factory=list)  # the demand's own path
    call: str = ""  # how to rebuild it: ``build_case(...)``

    def __repr__(self) -> str:
        return self.call

    @property
    def years(self) -> list[int]:
        return [int(y) for y in self.demand.years]

    @property
    def valid(self) -> np.ndarray:
        return self.landuse != NODATA

    def dist_index(self) -> np.ndarray:
        """District index per cell (0 off the land and without districts)."""
        if self.districts is None:
            return np.zeros(self.landuse.shape, dtype=np.int64)
        idx = np.searchsorted(self.district_codes, self.districts)
        return np.where(self.valid, idx, 0)

    def period(self, year: int) -> MulticlassPeriod:
        started = [p for p in self.periods if p.first_year <= year]
        return started[-1] if started else self.periods[0]

    def run(self, member: int | None = None) -> SimulationResult:
        params = self.params
        if member is not None:
            params = MulticlassParameters(**{**params.__dict__, "member": member})
        return simulate_multiclass(
            self.landuse,
            self.demand,
            params,
            self.periods,
            self.years,
            districts=self.districts,
        )


def blobs(rng: np.random.Generator, shape: tuple[int, int], share: float) -> np.ndarray:
    """A bool mask of about ``share`` of the cells, in patches (a coarse grid, upsampled)."""
    ny, nx = shape
    f = int(rng.integers(1, 6))
    coarse = rng.random((-(-ny // f), -(-nx // f))) < share
    return np.kron(coarse, np.ones((f, f), dtype=bool))[:ny, :nx]


def need_bits_of(kinds: np.ndarray) -> np.ndarray:
    return np.where(
        kinds == mk.URBAN,
        mk.MAY_BECOME_URBAN,
        np.where(kinds == mk.CONSTRUCTION, mk.MAY_BECOME_CONSTRUCTION, 0),
    ).astype(np.uint8)


def start_map(
    rng: np.random.Generator, shape: tuple[int, int], codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class index map with -1 off the land, valid mask, code map with NODATA): classes
    in patches with noise, some nodata in patches and scattered."""
    ny, nx = shape
    k_all = len(codes)
    share = rng.dirichlet(np.ones(k_all))
    f = int(rng.integers(1, 6))
    coarse = rng.choice(k_all, size=(-(-ny // f), -(-nx // f)), p=share)
    cls = np.kron(coarse, np.ones((f, f), dtype=np.int64))[:ny, :nx]
    noise = rng.random(shape) < rng.uniform(0.0, 0.5)
    cls = np.where(noise, rng.choice(k_all, size=shape, p=share), cls)
    valid = ~(blobs(rng, shape, rng.uniform(0.0, 0.15)) | (rng.random(shape) < 0.03))
    cls = np.where(valid, cls, -1)
    landuse = np.where(valid, codes[np.maximum(cls, 0)], NODATA).astype(np.uint8)
    return cls, valid, landuse


def district_map(rng: np.random.Generator, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(district codes per cell, 0 off the land; the sorted codes): 1..3 districts in
    vertical strips or random blocks."""
    ny, nx = valid.shape
    n_d = int(rng.integers(1, 4))
    district_codes = np.sort(rng.choice(np.arange(1, 50), size=n_d, replace=False))
    if rng.random() < 0.5:
        idx = np.minimum(np.arange(nx) * n_d // nx, n_d - 1)[None, :].repeat(ny, axis=0)
    else:
        b = int(rng.integers(3, 9))
        coarse = rng.integers(0, n_d, size=(-(-ny // b), -(-nx // b)))
        idx = np.kron(coarse, np.ones((b, b), dtype=np.int64))[:ny, :nx]
    return np.where(valid, district_codes[idx], 0).astype(np.int64), district_codes.astype(np.int64)


def build_case(
    shape: tuple[int, int],
    n_classes: int,
    n_years: int,
    with_districts: bool,
    two_periods: bool,
    seed: int,
) -> Case:
    rng = np.random.default_rng(seed)
    ny, nx = shape
    k_all = n_classes
    codes = np.sort(rng.choice(np.arange(1, 60), size=k_all, replace=False)).astype(np.uint8)
    u = int(rng.integers(0, k_all))
    kinds = np.zeros(k_all, dtype=np.uint8)
    kinds[u] = mk.URBAN
    if rng.random() < 0.5:
        kinds[(u + 1) % k_all] = mk.CONSTRUCTION
    need_bits = need_bits_of(kinds)

    cls, valid, landuse = start_map(rng, shape, codes)

    # The conversion matrix: urban's row all 0.
    allowed = rng.random((k_all, k_all)) < rng.uniform(0.3, 0.9)
    allowed[u] = False
    np.fill_diagonal(allowed, False)
    cost = rng.choice(np.array([0.0, 0.0, 0.3, 0.7], np.float32), size=(k_all, k_all))

    districts, district_codes = district_map(rng, valid) if with_districts else (None, None)
    if district_codes is None:
        district_codes = np.array([0], dtype=np.int64)
    dist = np.zeros(shape, np.int64)
    if districts is not None:
        dist = np.where(valid, np.searchsorted(district_codes, districts), 0)
    n_d = len(district_codes)

    # Periods: frozen cells, no-construction cells, urban candidates.
    years = list(range(START, START + n_years))
    firsts = [START]
    if two_periods and n_years > 2:
        firsts.append(int(rng.integers(START + 2, START + n_years)))
    periods = []
    frozen = blobs(rng, shape, rng.uniform(0.0, 0.3))
    for first in firsts:
        if rng.random() < 0.5:  # a later period may freeze other cells
            frozen = blobs(rng, shape, rng.uniform(0.0, 0.3))
        no_build = blobs(rng, shape, rng.uniform(0.0, 0.4))
        urban_ok = blobs(rng, shape, rng.uniform(0.3, 1.0))
        rules = np.where(valid & ~frozen, mk.MAY_CHANGE, 0)
        rules |= np.where(valid & ~frozen & ~no_build, mk.MAY_BECOME_CONSTRUCTION, 0)
        rules |= np.where(valid & urban_ok, mk.MAY_BECOME_URBAN, 0)
        suit = rng.random((k_all, ny, nx))
        suit[rng.random(suit.shape) < 0.1] = 0.0
        suit = np.where(valid[None], suit, 0).astype(np.float32)
        periods.append(MulticlassPeriod(first, rules.astype(np.uint8), suit))

    def period(year: int) -> MulticlassPeriod:
        return [p for p in periods if p.first_year <= year][-1]

    # The demand, counted on a shadow map under random allowed conversions.
    def tally(c: np.ndarray) -> np.ndarray:
        out = np.zeros((n_d, k_all), dtype=np.int64)
        np.add.at(out, (dist[valid], c[valid]), 1)
        return out

    # Urban's feeders are the classes the matrix lets become urban. The demand never asks
    # a feeder to grow, and a feeder loses in all no more cells (per district) than it
    # has open to urban at the start in every period.
    feeder = allowed[:, u]
    flat_dist = dist.reshape(-1)
    flat_valid = valid.reshape(-1)
    start = np.maximum(cls, 0).reshape(-1)
    open_bits = mk.MAY_CHANGE | mk.MAY_BECOME_URBAN
    room = np.full((n_d, k_all), np.iinfo(np.int64).max, dtype=np.int64)
    for p in periods:
        ok = flat_valid & ((p.cell_rules.reshape(-1) & open_bits) == open_bits)
        open_cells = np.zeros((n_d, k_all), dtype=np.int64)
        np.add.at(open_cells, (flat_dist[ok], start[ok]), 1)
        room = np.minimum(room, open_cells)
    lost = np.zeros((n_d, k_all), dtype=np.int64)
    shadow = cls.copy()
    flat = shadow.reshape(-1)
    cells = [tally(shadow)]
    path = [shadow.copy()]
    for year in years[1:]:
        rules = period(year).cell_rules.reshape(-1)
        free = np.flatnonzero((rules & mk.MAY_CHANGE) > 0)
        n_conv = int(rng.integers(0, max(1, len(free) // 4) + 1))
        for q in rng.permutation(free)[:n_conv].tolist():
            c, d = int(flat[q]), int(flat_dist[q])
            if feeder[c] and lost[d, c] >= room[d, c]:
                continue
            targets = [
                k
                for k in range(k_all)
                if allowed[c, k] and not feeder[k] and (rules[q] & need_bits[k]) == need_bits[k]
            ]
            if not targets:
                continue
            flat[q] = int(rng.choice(targets))
            lost[d, c] += 1
        cells.append(tally(shadow))
        path.append(shadow.copy())
    demand = ClassDemandArrays(
        np.array(years, dtype=np.int64), district_codes.copy(), np.stack(cells).astype(np.int64)
    )

    diag = allowed.copy()
    np.fill_diagonal(diag, allowed.any(axis=1))
    params = MulticlassParameters(
        class_codes=codes,
        weights=rng.uniform(0.1, 1.0, size=k_all).astype(np.float32),
        allowed=diag.astype(np.uint8),
        cost=cost,
        target_kind=kinds,
        urban_index=u,
        radius=int(rng.integers(1, 3)),
        seed_share=float(rng.choice([0.0, 0.1, 0.5])),
        rounds=int(rng.integers(1, 5)),
        tolerance=float(rng.choice([0.0, 0.001, 0.05])),
        seed=int(rng.integers(0, 1000)),
        member=int(rng.integers(0, 3)),
    )
    call = f"build_case({shape}, {n_classes}, {n_years}, {with_districts}, {two_periods}, {seed})"
    return Case(
        landuse, codes, u, kinds, allowed, periods, districts, district_codes, demand, params,
        path, call,
    )  # fmt: skip


@st.composite
def cases(draw: st.DrawFn) -> Case:
    shape = (draw(st.integers(20, 40)), draw(st.integers(20, 40)))
    n_classes = draw(st.integers(3, 6))
    n_years = draw(st.integers(2, 5))
    with_districts = draw(st.booleans())
    two_periods = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    note(f"build_case({shape}, {n_classes}, {n_years}, {with_districts}, {two_periods}, {seed})")
    return build_case(shape, n_classes, n_years, with_districts, two_periods, seed)


# --------------------------------------------------------------------------- checks


def class_counts(case: Case, m: np.ndarray) -> np.ndarray:
    """[n_d, K] cells per district and class of a code map."""
    lut = np.full(256, -1, dtype=np.int64)
    lut[case.codes] = np.arange(len(case.codes))
    c = lut[m]
    land = m != NODATA
    out = np.zeros((len(case.district_codes), len(case.codes)), dtype=np.int64)
    np.add.at(out, (case.dist_index()[land], c[land]), 1)
    return out


def check_run(case: Case, res: SimulationResult) -> int:
    """Check every invariant of one run; returns how many (year, district, class) rows
    were short of their demand beyond the tolerance."""
    n_short = 0
    years = case.years
    codes = case.codes
    lut = np.full(256, -1, dtype=np.int64)
    lut[codes] = np.arange(len(codes))
    valid = case.valid
    dist = case.dist_index()
    urban = int(codes[case.u])
    assert sorted(res.maps) == years
    assert [r.year for r in res.records] == years[1:]
    assert_array_equal(res.maps[years[0]], case.landuse)
    assert_array_equal(res.final, res.maps[years[-1]])
    per_district_valid = np.bincount(dist[valid], minlength=len(case.district_codes))
    for yi, year in enumerate(years):
        m = res.maps[year]
        # Cells are conserved: nodata stays nodata, land stays land, every land cell
        # holds a class, and each district keeps its valid cells.
        assert_array_equal(m == NODATA, ~valid)
        assert np.all(np.isin(m[valid], codes))
        held = class_counts(case, m)
        assert_array_equal(held.sum(axis=1), per_district_valid)
        by_code = np.zeros(256, dtype=np.int64)
        by_code[codes] = held.sum(axis=0)
        assert_array_equal(res.class_counts[year], by_code)
        if yi == 0:
            continue
        before = res.maps[years[yi - 1]]
        rec = res.records[yi - 1]
        period = case.period(year)
        rules = period.cell_rules
        changed = m != before
        a, b = lut[before[changed]], lut[m[changed]]
        # Only conversions the matrix allows; the record's transitions say the same.
        assert np.all(case.allowed[a, b]), "a forbidden conversion happened"
        trans = np.zeros((len(codes), len(codes)), dtype=np.int64)
        np.add.at(trans, (a, b), 1)
        assert_array_equal(rec.transitions, trans)
        # Frozen cells never change; urban only where the period lets it; other
        # construction only off the no-construction cells.
        assert not np.any(changed & ((rules & mk.MAY_CHANGE) == 0)), "a frozen cell changed"
        to_urban = changed & (m == urban)
        assert not np.any(to_urban & ((rules & mk.MAY_BECOME_URBAN) == 0))
        for k in np.flatnonzero(case.kinds == mk.CONSTRUCTION):
            to_k = changed & (m == codes[k])
            assert not np.any(to_k & ((rules & mk.MAY_BECOME_CONSTRUCTION) == 0))
        # Urban never reverts.
        assert np.all(m[before == urban] == urban), "urban reverted"
        assert rec.new_urban == int(to_urban.sum())
        assert np.all(res.urban_year[to_urban] == year)
        # Demand: urban exactly; every row consistent with the map; a class out of its
        # tolerance is short with a reason, or holds cells some short class lacks.
        target = case.demand.cells[yi]
        assert_array_equal(held[:, case.u], target[:, case.u])
        rows = rec.demand_fit
        assert rows is not None
        assert len(rows) == target.size
        for row in rows:
            d = int(np.searchsorted(case.district_codes, row["district"]))
            k = int(lut[row["class_code"]])
            tol = 0 if k == case.u else int(np.floor(case.params.tolerance * target[d, k]))
            assert row["demand"] == target[d, k]
            assert row["cells"] == held[d, k]
            assert row["error"] == held[d, k] - target[d, k]
            assert row["short"] == max(target[d, k] - held[d, k], 0)
            # A class holding extra cells is within tolerance when every short class of its
            # district is (it kept what they, within theirs, did not take).
            err_d = held[d] - target[d]
            tol_d = np.where(
                np.arange(len(codes)) == case.u,
                0,
                np.floor(case.params.tolerance * target[d]).astype(np.int64),
            )
            shorts_ok = bool(np.all((err_d >= 0) | (-err_d <= tol_d)))
            assert row["within_tolerance"] == (
                abs(row["error"]) <= tol or (row["error"] > 0 and shorts_ok)
            )
            if row["short"] > tol:
                assert row["reason"], row
                n_short += 1
            if k == case.u:
                assert row["within_tolerance"]
        for d in range(len(case.district_codes)):
            # A class holds more than its demand only for cells another class lacks
            # (that class may be within its own, larger, tolerance: then no reason).
            mine = [r for r in rows if r["district"] == case.district_codes[d]]
            assert sum(r["error"] for r in mine) == 0
            if any(r["error"] > 0 for r in mine):
                assert any(r["short"] > 0 for r in mine), mine
    return n_short


def snapshot(case: Case) -> list[np.ndarray]:
    arrays = [case.landuse, case.demand.years, case.demand.district_codes, case.demand.cells]
    arrays += [case.params.class_codes, case.params.weights, case.params.allowed]
    arrays += [case.params.cost, case.params.target_kind]
    for p in case.periods:
        arrays += [p.cell_rules, p.suitability]
    if case.districts is not None:
        arrays.append(case.districts)
    return [a.copy() for a in arrays]


def same_result(a: SimulationResult, b: SimulationResult) -> None:
    assert sorted(a.maps) == sorted(b.maps)
    for y in a.maps:
        assert_array_equal(a.maps[y], b.maps[y])
        assert_array_equal(a.class_counts[y], b.class_counts[y])
    assert_array_equal(a.urban_year, b.urban_year)
    for ra, rb in zip(a.records, b.records, strict=True):
        assert_array_equal(ra.transitions, rb.transitions)
        assert ra.demand_fit == rb.demand_fit


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(case=cases())
def test_multiclass_run_invariants(case: Case) -> None:
    """On a realisable demand: urban met exactly every year, every class within its
    tolerance or reported short with a reason, cells conserved per district, no
    forbidden conversion, frozen cells unchanged, urban only on its candidates, urban
    never reverts, the inputs untouched, and the same inputs and seed give the same
    run."""
    before = snapshot(case)
    res = case.run()
    n_short = check_run(case, res)
    event("a class fell short" if n_short else "every class met")
    for a, b in zip(snapshot(case), before, strict=True):
        assert_array_equal(a, b)
    same_result(case.run(), res)
    changed = sum(int((res.maps[y] != res.maps[case.years[0]]).sum()) for y in case.years)
    event("changed cells: " + ("none" if changed == 0 else "some"))


def test_another_member_gives_another_map() -> None:
    """On a 40×40 grid with hundreds of conversions a year and uniform-ish suitability,
    members 0 and 1 (same seed) differ; the same member repeats itself."""
    case = build_case((40, 40), 4, 4, False, False, seed=12345)
    moved = np.abs(np.diff(case.demand.cells, axis=0)).sum()
    assert moved > 200
    a = case.run(member=0)
    b = case.run(member=1)
    check_run(case, a)
    check_run(case, b)
    assert not np.array_equal(a.final, b.final)
    same_result(case.run(member=0), a)


def population_case(
    shape: tuple[int, int], n_classes: int, n_years: int, with_districts: bool, seed: int
) -> Case:
    """A demand from ``demand.classes.population_class_demand``: urban grows by a random
    series, every other class (but a fixed one, perhaps) gives cells in proportion. Every
    land cell may become urban, except frozen cells of the fixed class."""
    rng = np.random.default_rng(seed)
    codes = np.sort(rng.choice(np.arange(1, 60), size=n_classes, replace=False)).astype(np.uint8)
    u = int(rng.integers(0, n_classes))
    kinds = np.zeros(n_classes, dtype=np.uint8)
    kinds[u] = mk.URBAN
    cls, valid, landuse = start_map(rng, shape, codes)
    districts, _ = district_map(rng, valid) if with_districts else (None, None)
    fixed = int(rng.integers(0, n_classes))
    fixed_codes = set() if fixed == u else {int(codes[fixed])}
    allowed = rng.random((n_classes, n_classes)) < 0.5
    allowed[:, u] = True
    allowed[u] = False
    np.fill_diagonal(allowed, False)
    start_urban = int((cls == u).sum())
    # Every district's share of the gain is at most the whole gain: keep that within the
    # cells of the classes that give, in the district with the fewest.
    gives = valid & (cls != u) & (cls != (u if fixed_codes == set() else fixed))
    by_district = np.zeros(valid.shape, np.int64) if districts is None else districts
    room = min(int((gives & (by_district == d)).sum()) for d in np.unique(by_district[valid]))
    gains = np.cumsum(rng.integers(0, room // (4 * n_years) + 1, size=n_years))
    gains[0] = 0
    series = {START + i: start_urban + int(g) for i, g in enumerate(gains)}
    d = population_class_demand(
        landuse, series, [int(c) for c in codes], int(codes[u]), districts, start_year=START,
        fixed=fixed_codes,
    )  # fmt: skip
    demand = ClassDemandArrays(d.years, d.district_codes, np.asarray(d.cells))
    rules = np.where(valid, 7, 0).astype(np.uint8)
    if fixed_codes:
        rules[(cls == fixed) & blobs(rng, shape, 0.5)] = 0
    suit = np.where(valid[None], rng.random((n_classes, *shape)), 0).astype(np.float32)
    diag = allowed.copy()
    np.fill_diagonal(diag, allowed.any(axis=1))
    params = MulticlassParameters(
        class_codes=codes,
        weights=rng.uniform(0.1, 1.0, size=n_classes).astype(np.float32),
        allowed=diag.astype(np.uint8),
        cost=np.zeros((n_classes, n_classes), np.float32),
        target_kind=kinds,
        urban_index=u,
        radius=int(rng.integers(1, 3)),
        rounds=int(rng.integers(1, 5)),
        tolerance=0.0,
        seed=int(rng.integers(0, 1000)),
    )
    call = f"population_case({shape}, {n_classes}, {n_years}, {with_districts}, {seed})"
    return Case(
        landuse, codes, u, kinds, allowed, [MulticlassPeriod(START, rules, suit)], districts,
        np.asarray(d.district_codes), demand, params, [], call,
    )  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(
    shape=st.tuples(st.integers(20, 40), st.integers(20, 40)),
    n_classes=st.integers(3, 6),
    n_years=st.integers(2, 5),
    with_districts=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_population_demand_met_exactly(
    shape: tuple[int, int], n_classes: int, n_years: int, with_districts: bool, seed: int
) -> None:
    """A population-driven class demand, every source free to become urban: the run
    keeps every invariant and meets every class's demand exactly (urban takes only from
    the classes that shrink, each by what it gives)."""
    case = population_case(shape, n_classes, n_years, with_districts, seed)
    res = case.run()
    assert check_run(case, res) == 0
    for rec in res.records:
        assert all(r["error"] == 0 for r in rec.demand_fit or ())


# --------------------------------------------------------------------------- known failures


def tiny_params(allowed: list[list[int]], **changes: object) -> MulticlassParameters:
    """Class codes 1..K, class 1 (index 0) urban, the rest plain; the matrix's diagonal
    set as ``landsim.multiclass.parameters`` sets it."""
    a = np.array(allowed, dtype=np.uint8)
    n = len(a)
    np.fill_diagonal(a, a.any(axis=1))
    return MulticlassParameters(
        class_codes=np.arange(1, n + 1, dtype=np.uint8),
        weights=np.ones(n, np.float32),
        allowed=a,
        cost=np.zeros((n, n), np.float32),
        target_kind=np.array([mk.URBAN] + [0] * (n - 1), np.uint8),
        urban_index=0,
        **changes,  # type: ignore[arg-type]
    )


def test_urban_fed_through_a_chain() -> None:
    """Urban (1) may come from A (2) only, B (3) may become A only. Map [A, B]; demand
    urban +1, A ±0, B −1: A → urban and B → A meet it, one conversion per cell."""
    allowed = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    cells = np.array([[[0, 1, 1]], [[1, 1, 0]]], np.int64)
    demand = ClassDemandArrays(np.array([2020, 2021]), np.array([0]), cells)
    check_sources(
        ClassDemand(demand.years, demand.district_codes, np.array([1, 2, 3]), cells, "test"),
        np.array(allowed, bool),
        ["urban", "a", "b"],
    )
    period = MulticlassPeriod(2020, np.full((1, 2), 7, np.uint8), np.ones((3, 1, 2), np.float32))
    lu = np.array([[2, 3]], np.uint8)
    res = simulate_multiclass(lu, demand, tiny_params(allowed), [period], [2020, 2021])
    assert_array_equal(res.final, [[1, 2]])


@pytest.mark.parametrize("rounds", [1, 4])
def test_other_class_does_not_take_urbans_only_cells(rounds: int) -> None:
    """1×5 cropland (2); only cells 0 and 1 are open to urban (1); forest (3) suits them
    best. Demand urban +2, forest +3, cropland −5: urban must take cells 0 and 1, forest
    the other three."""
    allowed = [[0, 0, 0], [1, 0, 1], [0, 0, 0]]
    cells = np.array([[[0, 5, 0]], [[2, 0, 3]]], np.int64)
    demand = ClassDemandArrays(np.array([2020, 2021]), np.array([0]), cells)
    rules = np.array([[7, 7, 5, 5, 5]], np.uint8)  # cells 2..4: not open to urban
    suit = np.zeros((3, 1, 5), np.float32)
    suit[0] = 0.01
    suit[2] = [1.0, 1.0, 0.1, 0.1, 0.1]
    lu = np.full((1, 5), 2, np.uint8)
    params = tiny_params(allowed, rounds=rounds)
    res = simulate_multiclass(lu, demand, params, [MulticlassPeriod(2020, rules, suit)], [2021])
    assert_array_equal(res.final, [[1, 1, 3, 3, 3]])
