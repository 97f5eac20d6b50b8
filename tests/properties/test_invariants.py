"""Invariants of a whole run as properties: random small scenarios, hypothesis.

Each example draws a small grid (8..24 × 8..24) with 3..5 classes (one urban, one water,
some nodata), four planning layers (development boundary, farmland, red line, water)
with random rules among ``no_change`` / ``no_construction`` / ``construction_inside_only``
/ ``factor``, random ``enforce``, ``spill_over``, ``inside`` values and zones, random
``[[rules]]`` (allow / factor, by class, by years: several periods), random districts,
suitability and model parameters. The arrays come from a numpy seed that hypothesis
draws, so a failing example is reproducible from what it prints.

The demand is drawn *within the room*: the cells that a plain, cell-by-cell reading of
the precedence in ``constraints/compile.py`` leaves open, year by year (``reading``);
cumulative growth by year ``y`` is at most the room of every year from ``y`` on, which
is enough for any seed. In the demand property some examples ask for more: a few cells
beyond the last year's room (``prepare`` must refuse), or growth that fits each year's
room but not the later ones (``prepare`` may refuse; if it accepts, the run must cope).

Unless a docstring says otherwise, a scenario goes through the public path: GeoTIFFs and
a TOML file in a temporary folder, ``landsim.scenario.load``, ``api.prepare``,
``api.simulate_prepared`` (a few tens of milliseconds an example on these grids).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
import rasterio
from _landsim_kit import to_toml, write_raster
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from landsim import api, ensemble
from landsim.errors import DemandError
from landsim.model import GrowthParameters, Period, SimulationResult, simulate
from landsim.report.compliance import compliance, disallowed_growth
from landsim.scenario import load, load_sleuth
from landsim.sleuth import run as sleuth_run

NODATA = 255  # land use as landsim reads it
LAYER_NODATA = 255
HARD = ("no_change", "no_construction")
RULES = ("no_change", "no_construction", "construction_inside_only", "factor")
# Each layer's usual rule comes up more often than the others.
LAYERS = {
    "urban_development_boundary": "construction_inside_only",
    "permanent_basic_farmland": "no_construction",
    "ecological_red_line": "no_change",
    "water": "no_change",
}
ZONES = {"a": 1, "b": 2}  # the boundary's sub-zones by raster value
OTHER_ROLES = ("cropland", "forest", "grassland", "construction", "other")
MAX_THREADS = min(2, numba.config.NUMBA_NUM_THREADS)
# Drawing a world reads the rules cell by cell (tens of ms); a loaded CI machine must not
# turn that into a health-check failure.
SLOW = [HealthCheck.too_slow]


# --------------------------------------------------------------------------- worlds


@dataclass
class LayerSpec:
    rule: str
    enforce: bool
    inside: list[int]
    values: np.ndarray  # uint8 raster values, LAYER_NODATA for nodata
    factor: float | None = None
    spill_over: bool = False

    @property
    def mask(self) -> np.ndarray:
        """Inside the line, as landsim must read it: valid and one of the inside values."""
        return (self.values != LAYER_NODATA) & np.isin(self.values, self.inside)

    def zone(self, z: str) -> np.ndarray:
        return self.values == ZONES[z]


@dataclass
class World:
    """A random scenario: the arrays and settings ``write`` turns into files, the room
    and the demand."""

    classes: list[dict[str, Any]]
    raw_landuse: np.ndarray  # as written (nodata as `landuse_nodata`)
    landuse_nodata: float | None
    landuse: np.ndarray  # as landsim reads it: nodata 255
    layers: dict[str, LayerSpec]
    rules: list[dict[str, Any]]
    suitability: np.ndarray | None  # float32 raster (-1 nodata), or None: uniform
    districts: np.ndarray | None  # uint16 district codes (0: none)
    district_names: dict[str, str]
    start: int
    end: int
    output_years: list[int] | None
    model: dict[str, Any]
    seed: int
    demand: dict[int, int] = field(default_factory=dict)
    # "within": growth by year y fits the room of every year from y on; "free": each
    # year's growth fits that year's room, the total may not; "beyond": the last year
    # asks `extra` cells more than its room.
    mode: str = "within"
    extra: int = 0
    room: dict[int, int] = field(default_factory=dict)
    same_room: bool = True  # the same cells are open in every year
    memo: dict[tuple[int, ...], Any] = field(default_factory=dict, repr=False)

    @property
    def urban(self) -> int:
        return next(c["code"] for c in self.classes if c["role"] == "urban")

    @property
    def years(self) -> list[int]:
        return list(range(self.start, self.end + 1))

    @property
    def map_years(self) -> list[int]:
        return self.output_years or [self.end]

    @property
    def valid(self) -> np.ndarray:
        return self.landuse != NODATA

    def suit(self) -> np.ndarray:
        """Suitability as landsim must compute it: 0 off the land and on raster nodata."""
        if self.suitability is None:
            return np.where(self.valid, np.float32(1), np.float32(0)).astype(np.float32)
        s = self.suitability
        return np.where(self.valid & (s >= 0), s, 0).astype(np.float32)

    def write(self, folder: Path) -> Path:
        """GeoTIFFs and ``scenario.toml`` in ``folder``; the scenario file's path."""
        write_raster(folder / "landuse.tif", self.raw_landuse, nodata=self.landuse_nodata)
        constraints = {}
        for name, spec in self.layers.items():
            write_raster(folder / f"{name}.tif", spec.values, nodata=LAYER_NODATA)
            c: dict[str, Any] = {
                "path": f"{name}.tif",
                "rule": spec.rule,
                "inside": spec.inside,
                "enforce": spec.enforce,
            }
            if spec.factor is not None:
                c["factor"] = spec.factor
            if spec.spill_over:
                c["spill_over"] = True
            if name == "urban_development_boundary":
                c["zones"] = {z: [v] for z, v in ZONES.items()}
            constraints[name] = c
        data: dict[str, Any] = {
            "schema_version": 1,
            "name": "invariants",
            "simulation": {"start_year": self.start, "end_year": self.end, "seed": self.seed},
            "classes": self.classes,
            "inputs": {"landuse": "landuse.tif"},
            "demand": {
                "method": "targets",
                "unit": "cells",
                "urban": {y: int(v) for y, v in self.demand.items()},
            },
            "constraints": constraints,
            "model": self.model,
        }
        if self.output_years is not None:
            data["simulation"]["output_years"] = self.output_years
        if self.suitability is not None:
            write_raster(folder / "suit.tif", self.suitability, nodata=-1.0)
            data["suitability"] = {"method": "raster", "path": "suit.tif"}
        if self.districts is not None:
            write_raster(folder / "districts.tif", self.districts, nodata=0)
            data["districts"] = {"path": "districts.tif", "names": self.district_names}
        if self.rules:
            data["rules"] = self.rules
        path = folder / "scenario.toml"
        path.write_text(to_toml(data), encoding="utf-8")
        return path


def reading(w: World, year: int) -> tuple[np.ndarray, np.ndarray]:
    """(first choice, second choice) of ``year``, cell by cell, from the precedence:

    absolute layers (no_change, no_construction, factor 0) > ``allow = false`` >
    ``allow = true`` (lifts a boundary) > boundary (outside a spill-over boundary: second
    choice) > soft factors (a product of 0 closes the cell). Unenforced layers, and rules
    on them, do nothing. Suitability is not looked at.
    """
    live = tuple(
        k
        for k, r in enumerate(w.rules)
        if (r.get("from_year") or 0) <= year <= (r.get("to_year") or 9999)
        and (r["where"] == "*" or w.layers[r["where"].split(".")[0]].enforce)
    )
    if live not in w.memo:
        w.memo[live] = _read_cells(w, [w.rules[k] for k in live])
    return w.memo[live]


def _read_cells(w: World, live: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    enforced = {k: v for k, v in w.layers.items() if v.enforce}
    masks = {k: v.mask for k, v in w.layers.items()}
    by_code = {c["code"]: c for c in w.classes}
    first = np.zeros(w.landuse.shape, dtype=bool)
    second = np.zeros(w.landuse.shape, dtype=bool)
    for i in range(w.landuse.shape[0]):
        for j in range(w.landuse.shape[1]):
            code = int(w.landuse[i, j])
            if code == NODATA or code == w.urban:
                continue
            cls = by_code[code]
            hard = False
            f = 1.0
            outside_fixed = outside_spill = False
            for name, spec in enforced.items():
                inside = bool(masks[name][i, j])
                if spec.rule in HARD and inside:
                    hard = True
                elif spec.rule == "factor" and inside:
                    f *= spec.factor  # type: ignore[operator]
                elif spec.rule == "construction_inside_only" and not inside:
                    if spec.spill_over:
                        outside_spill = True
                    else:
                        outside_fixed = True
            yes = no = False
            for r in live:
                layer, _, zone = r["where"].partition(".")
                if layer == "*":
                    where = True
                elif zone:
                    where = bool(w.layers[layer].zone(zone)[i, j])
                else:
                    where = bool(masks[layer][i, j])
                classes = r.get("from")
                if not where or (classes and not {cls["name"], cls["role"]} & set(classes)):
                    continue
                if "factor" in r:
                    f *= r["factor"]
                elif r["allow"]:
                    yes = True
                else:
                    no = True
            if hard or no or f == 0 or (outside_fixed and not yes):
                continue
            if outside_spill and not yes:
                second[i, j] = True
            else:
                first[i, j] = True
    return first, second


@st.composite
def worlds(draw: st.DrawFn, any_demand: bool = False) -> World:
    ny, nx = draw(st.integers(8, 24)), draw(st.integers(8, 24))
    shape = (ny, nx)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    # Classes: urban, water and 1..3 others, codes 1..40.
    n_classes = draw(st.integers(3, 5))
    codes = draw(st.lists(st.integers(0, 254), min_size=n_classes, max_size=n_classes, unique=True))
    roles = ["urban", "water"] + [draw(st.sampled_from(OTHER_ROLES)) for _ in codes[2:]]
    classes = [
        {"code": c, "name": f"{r}_{c}", "role": r} for c, r in zip(codes, roles, strict=True)
    ]
    urban, water = codes[0], codes[1]
    others = np.array(codes[1:], dtype=np.uint8)
    landuse = rng.choice(others, size=shape)
    landuse[rng.random(shape) < draw(st.sampled_from([0.0, 0.05, 0.2, 0.5]))] = urban
    nodata_share = draw(st.sampled_from([0.0, 0.05, 0.2]))
    landuse[rng.random(shape) < nodata_share] = NODATA
    landuse.flat[0] = codes[2]  # never all nodata
    # The file: uint8 (nodata 255), int16 (nodata -1) or float32 (nodata NaN); no nodata
    # value at all where no cell needs one.
    dtype, raw_nodata = draw(
        st.sampled_from([("uint8", NODATA), ("int16", -1), ("float32", float("nan"))])
    )
    raw = landuse.astype(dtype)
    raw[landuse == NODATA] = raw_nodata
    if not (landuse == NODATA).any() and draw(st.booleans()):
        raw_nodata = None

    # Planning layers: values 0, 1, 2 and nodata; a random rule, `inside` and `enforce`.
    layers = {}
    for name, usual in LAYERS.items():
        rule = draw(st.sampled_from([usual, usual, usual, *RULES]))
        if name == "water":
            values = np.where(landuse == water, 1, 0).astype(np.uint8)
            values[rng.random(shape) < 0.1] = 2
        else:
            p = rng.dirichlet(np.ones(3))
            values = rng.choice(np.array([0, 1, 2], np.uint8), size=shape, p=p)
        values[rng.random(shape) < draw(st.sampled_from([0.0, 0.05]))] = LAYER_NODATA
        inside = draw(st.sampled_from([[1], [1], [1, 2], [2], [0]]))
        values.flat[1:3] = [1, 2]  # the zones are never empty
        values.flat[3] = inside[0]  # nor is the boundary
        layers[name] = LayerSpec(
            rule,
            draw(st.sampled_from([True, True, False])),
            inside,
            values,
            draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])) if rule == "factor" else None,
            rule == "construction_inside_only" and draw(st.sampled_from([True, True, False])),
        )

    start = draw(st.integers(2000, 2030))
    end = start + draw(st.integers(1, 5))
    names = [c["name"] for c in classes[1:]] + sorted(set(roles[1:]))
    rules = []
    for _ in range(draw(st.integers(0, 3))):
        rule: dict[str, Any] = {
            "where": draw(
                st.sampled_from(
                    [
                        *LAYERS,
                        "urban_development_boundary.a",
                        "urban_development_boundary.b",
                        "*",
                        "*",
                        "*",
                    ]
                )
            )
        }
        effect = draw(st.sampled_from(["closed", "closed", "open", 0.0, 0.5, 1.0]))
        if isinstance(effect, str):
            rule["allow"] = effect == "open"
        else:
            rule["factor"] = effect
        if draw(st.booleans()):
            rule["from"] = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2))
        first = draw(st.one_of(st.none(), st.integers(start, end), st.integers(start + 1, end)))
        last = draw(st.one_of(st.none(), st.integers(first or start, end)))
        if first is not None:
            rule["from_year"] = first
        if last is not None:
            rule["to_year"] = last
        rules.append(rule)

    suitability = None
    if draw(st.booleans()):
        levels = np.array([0.0, 0.05, 0.3, 0.7, 1.0], np.float32)
        suitability = rng.choice(levels, size=shape).astype(np.float32)
        suitability[rng.random(shape) < draw(st.sampled_from([0.0, 0.05]))] = -1.0

    districts = None
    district_names: dict[str, str] = {}
    if draw(st.booleans()):
        dcodes = draw(st.sampled_from([[1, 2], [1, 2, 3], [7, 65535], [300]]))
        districts = rng.choice(np.array([0, *dcodes], np.uint16), size=shape)
        districts.flat[0] = dcodes[0]
        present = sorted(int(c) for c in np.unique(districts) if c)
        named = draw(st.lists(st.sampled_from(present), unique=True, max_size=len(present)))
        district_names = {str(c): f"区{c}" for c in sorted(named)}

    output_years = None
    if draw(st.booleans()):
        output_years = sorted(
            draw(st.lists(st.integers(start, end), min_size=1, max_size=4, unique=True))
        )
    weights = {classes[0]["name"]: 1.0}
    for c in classes[1:]:
        if draw(st.booleans()):
            weights[c["name"]] = draw(st.sampled_from([0.0, 0.2, 0.5, 2.0]))
    model = {
        "neighborhood_radius": draw(st.sampled_from([1, 1, 2, 3, 10])),
        "neighborhood_floor": draw(st.sampled_from([0.0, 0.01, 0.5, 1.0])),
        "random_factor": draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0])),
        "neighborhood_weights": weights,
    }
    w = World(
        classes,
        raw,
        raw_nodata,
        landuse,
        layers,
        rules,
        suitability,
        districts,
        district_names,
        start,
        end,
        output_years,
        model,
        draw(st.integers(0, 2**63 - 1)),
    )

    # The room of each year, and a demand within it: growth by year y fits in the room
    # of every year from y on.
    fit = w.suit() > 0
    rooms = []
    for y in w.years[1:]:
        first, second = reading(w, y)
        rooms.append((first | second) & fit)
        w.room[y] = int(rooms[-1].sum())
    w.same_room = all(np.array_equal(r, rooms[0]) for r in rooms)
    observed = int((landuse == urban).sum())
    if any_demand:
        w.mode = draw(st.sampled_from(["within", "within", "free", "beyond"]))
    w.demand = {start: observed}
    grown = 0
    for y in w.years[1:]:
        if w.mode == "free":
            cap = grown + w.room[y]
        else:
            cap = min(w.room[k] for k in w.years if k >= y)
        grown = draw(st.one_of(st.just(cap), st.integers(grown, cap)))
        w.demand[y] = observed + grown
    if w.mode == "beyond":
        # A few cells more than the room of the last year: more than fits when the same
        # cells are open in every year (otherwise earlier growth may lie outside it).
        w.extra = draw(st.sampled_from([1, 3]))
        w.demand[end] = observed + w.room[end] + w.extra
    note(f"room by year {w.room}, demand {w.demand}, rules {w.rules}")
    event("same room every year" if w.same_room else "the room changes")
    event(
        "spill-over layer"
        if any(v.spill_over and v.enforce for v in layers.values())
        else "no spill-over"
    )
    event("at the room" if w.demand[end] - observed == w.room[end] else "below the room")
    shown = {k: (v.rule, v.enforce, v.inside, v.factor, v.spill_over) for k, v in layers.items()}
    note(f"layers {shown}")
    return w


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="landsim-inv-") as d:
        yield Path(d)


@contextmanager
def threads(n: int) -> Iterator[None]:
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def prepare(w: World, where: Path) -> api.Prepared:
    return api.prepare(load(w.write(where)))


def yearly_maps(w: World, res: SimulationResult) -> dict[int, np.ndarray]:
    """Every year's map, from the start map and the year each cell became urban."""
    assert res.urban_year is not None
    uy = res.urban_year.astype(np.int64)
    return {
        y: np.where((uy > 0) & (uy <= y), np.uint8(w.urban), w.landuse).astype(np.uint8)
        for y in w.years
    }


FAST = settings(max_examples=25, deadline=None, suppress_health_check=SLOW)


# --------------------------------------------------------------------------- 1. demand


@FAST
@given(worlds(any_demand=True))
def test_demand_met_exactly_every_year(w: World) -> None:
    """Urban cells equal demand[year] every year: counts, output maps, year-became-urban.

    A demand within the room is never refused. Where the same cells are open every
    year, prepare refuses exactly the demands whose total growth exceeds them. Otherwise
    prepare may refuse a demand that some seed would meet (it assumes the worst), but a
    demand it accepts must be met (never InsufficientCandidates).
    """
    fits = w.demand[w.end] - w.demand[w.start] <= w.room[w.end]
    with folder() as d:
        try:
            p = prepare(w, d)
        except DemandError:
            event(f"{w.mode}: refused")
            assert w.mode != "within", "prepare refused a demand within the room"
            assert not (w.same_room and fits), "prepare refused a demand that fits"
            return
        event(f"{w.mode}: accepted")
        if w.same_room and not fits:
            pytest.fail(f"prepare accepted {w.demand} beyond the room {w.room}")
        assert p.demand == w.demand
        res = api.simulate_prepared(p)
    assert sorted(res.class_counts) == w.years
    assert sorted(res.maps) == w.map_years
    maps = yearly_maps(w, res)
    for y in w.years:
        assert int(res.class_counts[y][w.urban]) == w.demand[y], y
        assert int((maps[y] == w.urban).sum()) == w.demand[y], y
    for y, m in res.maps.items():
        assert_array_equal(m, maps[y], err_msg=f"map {y} vs urban_year")
    assert sum(r.new_urban for r in res.records) == w.demand[w.end] - w.demand[w.start]


# --------------------------------------------------------------------------- 2. hard rules


@FAST
@given(worlds(), st.integers(0, 2**32 - 1))
def test_hard_constraints_never_broken(w: World, fake_seed: int) -> None:
    """No new urban cell where an enforced rule forbids it in its year.

    Checked three ways: ``report.compliance`` (``disallowed_growth`` and the whole
    ``compliance.json`` content), the compiled masks against ``reading`` year by year, and
    every new cell against ``reading`` directly. Spill-over cells are taken only once the
    first choice is used up. ``disallowed_growth`` itself is checked on a made-up
    urban_year that breaks rules, against ``reading``.
    """
    with folder() as d:
        p = prepare(w, d)
        res = api.simulate_prepared(p)
    assert res.urban_year is not None
    uy = res.urban_year.astype(np.int64)
    start, urban = w.start, w.urban
    new = uy > start

    # report.compliance
    assert not disallowed_growth(p.constraints, res.urban_year, start).any()
    comp = compliance(p.scenario, p.grid, p.landuse, p.constraints, res, p.districts)
    check = comp["final_check_from_maps"]
    assert check["growth_not_allowed_by_rules"] == 0
    assert check["reverted_urban_cells"] == 0
    for name, line in check["lines"].items():
        if w.layers[name].enforce and line["violations"] is not None:
            assert line["violations"] == 0, name
        for year in comp["years"]:
            v = year["lines"][name]["violations"]
            assert v is None or v == 0 or not w.layers[name].enforce, (name, year["year"])

    # The compiled masks and the engine's periods equal the reading, every year.
    fit = w.suit() > 0
    readings = {y: reading(w, y) for y in w.years[1:]}
    for cp, mp in zip(p.constraints.periods, p.periods, strict=True):
        for y in range(cp.first_year, cp.last_year + 1):
            first, second = readings[y]
            assert_array_equal(cp.candidate.astype(bool), first, err_msg=f"candidate {y}")
            spill = np.zeros_like(second) if cp.spill is None else cp.spill.astype(bool)
            assert_array_equal(spill, second, err_msg=f"spill {y}")
            assert_array_equal(mp.candidate.astype(bool), first & fit, err_msg=f"model {y}")

    # Every new cell, by hand; absolute layers are never entered at all.
    for name, spec in w.layers.items():
        if spec.enforce and (spec.rule in HARD or (spec.rule == "factor" and spec.factor == 0)):
            assert not (new & spec.mask).any(), name
    by_year = {r.year: r for r in res.records}
    for y in w.years[1:]:
        first, second = readings[y]
        now = uy == y
        assert not (now & ~(first | second)).any(), f"{y}: growth the rules forbid"
        assert not (now & ~fit).any(), f"{y}: growth on suitability 0"
        spilled = int((now & second).sum())
        assert by_year[y].spilled == spilled
        event("spilled over" if spilled else "no spill")
        if spilled:
            left = first & fit & ~((uy > 0) & (uy <= y))
            assert not left.any(), f"{y}: spilled over with first-choice cells left"
    assert not (new & (w.landuse == urban)).any()
    assert not (new & (w.landuse == NODATA)).any()

    # disallowed_growth on made-up growth, some of it against the rules.
    rng = np.random.default_rng(fake_seed)
    fake = np.where(w.landuse == urban, start, 0)
    grows = rng.random(w.landuse.shape) < 0.5
    grows &= (w.landuse != NODATA) & (w.landuse != urban)
    fake[grows] = rng.integers(start + 1, w.end + 1, size=int(grows.sum()))
    expected = np.zeros(w.landuse.shape, dtype=bool)
    for y in w.years[1:]:
        first, second = readings[y]
        expected |= (fake == y) & ~(first | second)
    got = disallowed_growth(p.constraints, fake.astype(np.uint16), start)
    assert_array_equal(got, expected)


# --------------------------------------------------------------------------- 3. cells


@FAST
@given(worlds())
def test_cells_conserved_overall_and_per_district(w: World) -> None:
    """Class counts change only by conversions to urban, overall and in each district.

    Nothing changes but cells that became urban, urban never reverts, nodata stays
    nodata, a district's cells are constant; the records (by class, by district, by
    layer) and compliance's district table agree with the maps.
    """
    with folder() as d:
        p = prepare(w, d)
        res = api.simulate_prepared(p)
    urban, start = w.urban, w.start
    maps = yearly_maps(w, res)
    assert res.urban_year is not None
    assert_array_equal(res.urban_year[w.landuse == urban], start)
    assert_array_equal(res.urban_year[w.landuse == NODATA], 0)
    by_year = {r.year: r for r in res.records}
    assert sorted(by_year) == w.years[1:]

    codes = None if p.districts is None else p.districts.codes.astype(np.int64)
    assert (codes is None) == (w.districts is None) == (res.district_codes is None)
    if codes is not None:
        assert res.district_codes is not None
        assert_array_equal(codes, w.districts)  # type: ignore[arg-type]
        assert_array_equal(res.district_codes, np.unique(codes))
        dense = np.searchsorted(res.district_codes, codes).ravel()  # record index per cell
        n_d = len(res.district_codes)
        d_from = np.zeros((n_d, 256), np.int64)
        d_new = np.zeros(n_d, np.int64)
        table0 = np.bincount(dense * 256 + w.landuse.ravel(), minlength=n_d * 256)
        table0 = table0.reshape(n_d, 256)

    base = np.bincount(w.landuse.ravel(), minlength=256)
    from_class = np.zeros(256, dtype=np.int64)
    prev = w.landuse
    for y in w.years:
        m = maps[y]
        assert_array_equal(m == NODATA, w.landuse == NODATA)
        assert np.all(m[prev == urban] == urban), f"urban reverted in {y}"
        changed = m != w.landuse
        assert np.all(m[changed] == urban)
        step = m != prev
        rec = by_year.get(y)
        if rec is not None:
            assert rec.new_urban == int(step.sum())
            assert_array_equal(rec.from_class, np.bincount(prev[step], minlength=256))
            for name, spec in w.layers.items():
                assert rec.inside[name] == int((step & spec.mask).sum()), name
            from_class += rec.from_class
        counts = np.bincount(m.ravel(), minlength=256)
        assert_array_equal(res.class_counts[y], counts)
        expected = base - from_class
        expected[urban] = base[urban] + from_class.sum()
        assert_array_equal(counts, expected, err_msg=f"class counts {y}")
        if codes is not None:
            table = np.bincount(dense * 256 + m.ravel(), minlength=n_d * 256).reshape(n_d, 256)
            assert_array_equal(table.sum(axis=1), table0.sum(axis=1))  # cells per district
            if rec is not None:
                assert rec.district_new is not None and rec.district_from_class is not None
                moved = dense[step.ravel()]
                assert_array_equal(rec.district_new, np.bincount(moved, minlength=n_d))
                assert_array_equal(rec.district_from_class.sum(axis=0), rec.from_class)
                for name, spec in w.layers.items():
                    inside = dense[(step & spec.mask).ravel()]
                    assert_array_equal(
                        rec.district_inside[name], np.bincount(inside, minlength=n_d), name
                    )
                d_from += rec.district_from_class
                d_new += rec.district_new
            exp = -d_from
            exp[:, urban] = d_new
            assert_array_equal(table - table0, exp, err_msg=f"district × class {y}")
        prev = m

    if codes is not None:
        comp = compliance(p.scenario, p.grid, p.landuse, p.constraints, res, p.districts)
        final = maps[w.end]
        cropland = [c["code"] for c in w.classes if c["role"] == "cropland"]
        for row in comp["districts"]:
            c = row["code"]
            inside = codes == c
            assert row["cells"] == int(inside.sum())
            assert row["urban_start_cells"] == int((inside & (w.landuse == urban)).sum())
            assert row["urban_end_cells"] == int((inside & (final == urban)).sum())
            grown = sum(y["new_urban_cells"] for y in row["years"])
            assert grown == row["urban_end_cells"] - row["urban_start_cells"]
            assert row["growth_not_allowed_by_rules"] == 0
            crop = np.isin(w.landuse, cropland)
            lost = int((inside & crop & (final == urban)).sum())
            assert row["cropland_lost_cells"] == lost
            assert sum(y["cropland_lost_cells"] for y in row["years"]) == lost


# --------------------------------------------------------------------------- 4. ensembles


def _probabilities(path: Path) -> tuple[np.ndarray, tuple[str | None, ...]]:
    with rasterio.open(path) as ds:
        return ds.read(), ds.descriptions


@settings(max_examples=10, deadline=None, suppress_health_check=SLOW)
@given(worlds(), st.integers(2, 4))
def test_probability_maps_are_the_members_shares(w: World, members: int) -> None:
    """An ensemble run in this process with ``run_member`` and ``aggregate_year`` (the
    tasks, without a cluster): each probability band is the share of members holding
    the class, exactly (float32 count / members), in [0, 1], NaN exactly off the land;
    every member meets the demand and equals ``simulate_prepared`` of that member.
    """
    with folder() as d, threads(numba.get_num_threads()):
        path = w.write(d)
        scenario = load(path)
        job = ensemble.Job(
            str(path),
            scenario.name,
            ensemble.fingerprint(scenario, w.seed),
            w.seed,
            members,
            str(d / "out"),
            str(d / "work"),
        )
        for m in range(members):
            ensemble.run_member(job, m)
        p = api.prepare(scenario, w.seed)
        member_dir = d / "work" / ensemble.MEMBERS
        valid = w.landuse != NODATA
        for year in w.map_years:
            name = ensemble.aggregate_year(job, year)
            probs, names = _probabilities(d / "work" / name)
            assert names == tuple(c["name"] for c in w.classes)
            maps = np.stack(
                [
                    ensemble.read_member_map(member_dir / ensemble.member_name(m), year)
                    for m in range(members)
                ]
            )
            for m in range(members):
                assert int((maps[m] == w.urban).sum()) == w.demand[year]
                assert_array_equal(maps[m], api.simulate_prepared(p, m).maps[year])
            assert np.isnan(probs[:, ~valid]).all()
            assert not np.isnan(probs[:, valid]).any()
            assert probs[:, valid].min() >= 0 and probs[:, valid].max() <= 1
            for k, c in enumerate(w.classes):
                share = np.divide(
                    (maps == c["code"]).sum(axis=0), np.float32(members), dtype=np.float32
                )
                assert_array_equal(probs[k][valid], share[valid], err_msg=c["name"])
            np.testing.assert_allclose(probs[:, valid].sum(axis=0), 1.0, atol=1e-6)
            # A cell no member changes is certain.
            same = (maps == maps[0]).all(axis=0) & valid
            k_of = {c["code"]: k for k, c in enumerate(w.classes)}
            for i, j in zip(*np.nonzero(same), strict=True):
                assert probs[k_of[int(maps[0][i, j])], i, j] == 1.0


# --------------------------------------------------------------------------- 5. threads


needs_two_threads = pytest.mark.skipif(
    MAX_THREADS < 2, reason="numba has a single thread here (NUMBA_NUM_THREADS)"
)


def _same_result(a: SimulationResult, b: SimulationResult) -> None:
    assert sorted(a.maps) == sorted(b.maps)
    for y in a.maps:
        assert_array_equal(a.maps[y], b.maps[y])
    for y in a.class_counts:
        assert_array_equal(a.class_counts[y], b.class_counts[y])
    assert_array_equal(a.urban_year, b.urban_year)  # type: ignore[arg-type]
    for ra, rb in zip(a.records, b.records, strict=True):
        assert (ra.year, ra.new_urban, ra.spilled, ra.inside) == (
            rb.year,
            rb.new_urban,
            rb.spilled,
            rb.inside,
        )
        assert_array_equal(ra.from_class, rb.from_class)
        if ra.district_from_class is not None:
            assert_array_equal(ra.district_from_class, rb.district_from_class)


@needs_two_threads
@settings(max_examples=20, deadline=None, suppress_health_check=SLOW)
@given(worlds(), st.integers(0, 5))
def test_simulate_same_for_one_and_two_threads(w: World, member: int) -> None:
    """simulate_prepared gives the same maps, counts, records for 1 and 2 numba threads."""
    with folder() as d:
        p = prepare(w, d)
    with threads(1):
        one = api.simulate_prepared(p, member)
    with threads(MAX_THREADS):
        two = api.simulate_prepared(p, member)
    _same_result(one, two)


SLEUTH_TOML = """
schema_version = 1
name = "sleuth-props"
[model]
kind = "sleuth"
[simulation]
mode = "test"
seed = {seed}
members = {members}
[inputs]
urban = {{ {y0} = "u.tif", {y1} = "u.tif" }}
roads = {roads}
excluded = "e.tif"
slope = "s.tif"
[coefficients]
diffusion = {c[0]}
breed = {c[1]}
spread = {c[2]}
slope_resistance = {c[3]}
road_gravity = {c[4]}
[self_modification]
critical_slope = {critical_slope}
boom = {boom}
bust = {bust}
"""


@st.composite
def sleuth_cases(draw: st.DrawFn) -> tuple[str, sleuth_run.Layers, int, np.ndarray]:
    from landsim.io.raster import Grid

    ny, nx = draw(st.integers(8, 24)), draw(st.integers(8, 24))
    shape = (ny, nx)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y0 = draw(st.integers(1980, 2010))
    y1 = y0 + draw(st.integers(1, 6))
    seed_urban = (rng.random(shape) < draw(st.sampled_from([0.01, 0.1, 0.3]))).astype(np.uint8)
    seed_urban.flat[0] = 1
    road_years = sorted({y0, *draw(st.lists(st.integers(y0, y1), max_size=2))})
    roads = {}
    for y in road_years:
        r = np.zeros(shape, np.uint8)
        r[rng.integers(0, ny), :] = 100
        r[:, rng.integers(0, nx)] = draw(st.sampled_from([25, 50, 100]))
        roads[y] = r
    excluded = np.where(rng.random(shape) < draw(st.sampled_from([0.0, 0.2])), 100, 0)
    excluded = (excluded + rng.integers(0, 60, shape) * (rng.random(shape) < 0.3)).astype(np.uint8)
    excluded = np.minimum(excluded, 100).astype(np.uint8)
    slope = rng.integers(0, draw(st.sampled_from([5, 30, 60])), shape).astype(np.uint8)
    coeff = [draw(st.sampled_from([0, 1, 5, 25, 50, 100])) for _ in range(5)]
    text = SLEUTH_TOML.format(
        seed=draw(st.integers(0, 2**63 - 1)),
        members=draw(st.integers(1, 4)),
        y0=y0,
        y1=y1,
        roads="{ " + ", ".join(f'{y} = "r.tif"' for y in road_years) + " }",
        c=coeff,
        critical_slope=draw(st.sampled_from([5, 21, 50])),
        boom=draw(st.sampled_from([1.01, 1.5])),
        bust=draw(st.sampled_from([0.9, 0.5])),
    )
    layers = sleuth_run.Layers(
        {y0: seed_urban, y1: seed_urban}, roads, excluded, slope, Grid(None, None, shape, Path("x"))
    )
    # More coefficient sets beside the scenario's, as calibration runs them.
    sets = [coeff] + [
        [draw(st.sampled_from([0, 1, 5, 25, 50, 100])) for _ in range(5)]
        for _ in range(draw(st.integers(0, 2)))
    ]
    return text, layers, y0, np.array(sets, dtype=np.float64)


@needs_two_threads
@settings(max_examples=20, deadline=None, suppress_health_check=SLOW)
@given(sleuth_cases())
def test_sleuth_same_for_one_and_two_threads(case: tuple[Any, ...]) -> None:
    """``sleuth.run.simulate`` (the parallel kernel, called directly on random layers)
    gives the same statistics, final grids and coefficients for 1 and 2 numba threads;
    it never grows on excluded cells nor at or above the critical slope, urban never
    reverts, and the layers are left as they were."""
    text, layers, y0, coeff = case
    with folder() as d:
        for name in ("u.tif", "r.tif", "e.tif", "s.tif"):
            (d / name).write_bytes(b"")
        (d / "s.toml").write_text(text, encoding="utf-8")
        s = load_sleuth(d / "s.toml")
    assert s.coefficients is not None
    assert_array_equal(coeff[0], s.coefficients.as_tuple())
    members = s.simulation.members
    copies = (layers.excluded.copy(), layers.slope.copy(), layers.urban[y0].copy())
    with threads(1):
        one = sleuth_run.simulate(s, layers, coeff, members, s.simulation.seed, keep_finals=True)
    with threads(MAX_THREADS):
        two = sleuth_run.simulate(s, layers, coeff, members, s.simulation.seed, keep_finals=True)
    for a, b in zip(one[1:], two[1:], strict=True):
        assert_array_equal(a, b)
    seed = layers.urban[y0].astype(bool)
    for final in one[2].reshape(-1, *layers.shape):
        grown = final.astype(bool) & ~seed
        assert (final.astype(bool) >= seed).all()
        assert not (grown & (layers.excluded >= 100)).any()
        assert not (grown & (layers.slope >= s.self_modification.critical_slope)).any()
    assert_array_equal(copies[0], layers.excluded)
    assert_array_equal(copies[1], layers.slope)
    assert_array_equal(copies[2], layers.urban[y0])


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@settings(max_examples=1, deadline=None, suppress_health_check=SLOW)
@given(worlds())
def test_ensemble_same_bytes_for_one_and_two_workers(w: World) -> None:
    """One random scenario (one example only: a cluster takes seconds to start), a
    3-member ensemble run twice: through ``run_batch`` on a local cluster of 2 worker
    processes (1 numba thread each), and task by task in this process (one worker, 2
    numba threads: ``plan``, ``run_member``, ``aggregate_year``, ``_finish``, what
    ``run_batch`` schedules). The output folders hold the same bytes, and the
    probability maps are the members' shares."""
    members = 3
    with folder() as d, threads(numba.get_num_threads()):
        path = w.write(d)
        ensemble.run_batch([path], d / "two", members=members, workers=2)
        [it] = ensemble.plan([path], d / "one", members=members)
        ensemble._start_partial(it, resume=False)
        for m in range(members):
            it.done[m] = ensemble.run_member(it.job, m, MAX_THREADS)["indicators"]
        for year in w.map_years:
            ensemble.aggregate_year(it.job, year, MAX_THREADS)
        ensemble._finish(it)
        assert _tree(d / "one") == _tree(d / "two")
        valid = w.landuse != NODATA
        for year in w.map_years:
            probs, _ = _probabilities(d / "two" / f"probability_{year}.tif")
            maps = np.stack(
                [
                    ensemble.read_member_map(d / "two" / "members" / ensemble.member_name(m), year)
                    for m in range(members)
                ]
            )
            for k, c in enumerate(w.classes):
                share = np.divide(
                    (maps == c["code"]).sum(axis=0), np.float32(members), dtype=np.float32
                )
                assert_array_equal(probs[k][valid], share[valid])
            assert np.isnan(probs[:, ~valid]).all()


# --------------------------------------------------------------------------- 6. inputs


def _snapshot(p: api.Prepared) -> list[Any]:
    """Deep copies of every array (and the demand) a Prepared holds."""
    out: list[Any] = [p.landuse.copy(), p.suitability.copy(), dict(p.demand)]
    for cp in p.constraints.periods:
        out += [cp.candidate.copy(), None if cp.factor is None else cp.factor.copy()]
        out.append(None if cp.spill is None else cp.spill.copy())
    for mp in p.periods:
        out += [mp.candidate.copy(), mp.suitability.copy()]
        out.append(None if mp.spill is None else mp.spill.copy())
    for layer in p.constraints.layers.values():
        out.append(layer.inside.copy())
        out += [z.copy() for z in layer.zones.values()]
    if p.districts is not None:
        out.append(p.districts.codes.copy())
    return out


def _same(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, np.ndarray):
            assert isinstance(y, np.ndarray) and x.dtype == y.dtype
            assert_array_equal(x, y)
        else:
            assert x == y


@FAST
@given(worlds())
def test_inputs_never_modified(w: World) -> None:
    """prepare leaves the input files as they were (bytes); simulate_prepared and
    compliance leave every array of the Prepared as it was, and a second run gives the
    same result; returned maps are copies (writing one changes nothing else)."""
    with folder() as d:
        path = w.write(d)
        before = _tree(d)
        p = api.prepare(load(path))
        snap = _snapshot(p)
        res = api.simulate_prepared(p, 1)
        compliance(p.scenario, p.grid, p.landuse, p.constraints, res, p.districts)
        _same(_snapshot(p), snap)
        assert _tree(d) == before
    assert_array_equal(p.landuse, w.landuse)
    again = api.simulate_prepared(p, 1)
    _same_result(res, again)
    for m in res.maps.values():
        m[...] = 0
    assert res.final is not None
    res.final[...] = 0
    _same(_snapshot(p), snap)
    for y, m in again.maps.items():
        assert (m == w.urban).sum() == w.demand[y]


@settings(max_examples=20, deadline=None, suppress_health_check=SLOW)
@given(worlds(), st.sampled_from(["C", "F", "strided"]))
def test_model_simulate_leaves_read_only_inputs_alone(w: World, layout: str) -> None:
    """``model.simulate`` called directly (no files) with every input array read-only
    and in C order, Fortran order or as a strided view: nothing is written to them (a
    write would raise), and the result equals the one from fresh C-ordered copies."""
    with folder() as d:
        p = prepare(w, d)
    params = api._growth_params(p.scenario, p.seed, 0)
    layers = {k: v.inside for k, v in p.constraints.layers.items()}
    districts = None if p.districts is None else p.districts.codes

    def arrange(a: np.ndarray) -> np.ndarray:
        if layout == "F":
            a = np.asfortranarray(a)
        elif layout == "strided":
            big = np.zeros((a.shape[0], a.shape[1] * 2), dtype=a.dtype)
            big[:, ::2] = a
            a = big[:, ::2]
        else:
            a = a.copy()
        a.flags.writeable = False
        return a

    def run(prep: Any) -> SimulationResult:
        periods = [
            Period(
                mp.first_year,
                prep(mp.candidate),
                prep(mp.suitability),
                None if mp.spill is None else prep(mp.spill),
            )
            for mp in p.periods
        ]
        return simulate(
            prep(p.landuse),
            prep(p.suitability),
            prep(p.constraints.candidate),
            dict(p.demand),
            GrowthParameters(**{**params.__dict__, "weights": prep(params.weights[None])[0]}),
            p.scenario.simulation.map_years,
            layers={k: prep(v) for k, v in layers.items()},
            periods=periods,
            districts=None if districts is None else prep(districts),
        )

    _same_result(run(arrange), run(np.copy))
