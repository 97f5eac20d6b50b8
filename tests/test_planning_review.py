"""Review of the planning features: periods, spill-over, districts, compliance, `check`.

Each test states behaviour a modeller relies on (docs/scenario.md, docs/design.md), on the
tiny synthetic grid of ``_landsim_kit``: rules whose years straddle periods, several rules
on one zone, spill-over with periods and with ``allow = true`` outside the boundary, a
demand met by the last open cell, district rasters of every kind, unenforced layers,
compliance totals that add up, ``urban_year.tif``, ``landsim check`` on cell and grid
edges, determinism over thread counts, untouched inputs and the infeasible-demand message
of a later period.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from _landsim_kit import (
    CELL,
    CROPLAND,
    FLEXIBLE,
    FOREST,
    NODATA,
    ORIGIN,
    URBAN,
    TinyGrid,
    check_json,
    invoke,
    landsim_exe,
    landuse_grid,
    read_urban_year,
    sha256_tree,
    udb_zones,
    with_zones,
    write_cell_rectangle_geojson,
    write_raster,
)

from landsim.api import prepare
from landsim.constraints import compile_constraints
from landsim.errors import DemandError
from landsim.scenario import load

FLEX = "urban_development_boundary.flexible_development"
START, END = 2020, 2030


def _compile(tiny: TinyGrid, overrides: dict[str, Any], **kw: Any) -> Any:
    scenario = load(tiny.scenario(overrides, **kw))
    return compile_constraints(scenario, tiny.landuse, landuse_grid(tiny))


def _open_cells(tiny: TinyGrid, extra: np.ndarray | None = None) -> np.ndarray:
    """Cells no hard line closes (farmland, red line, water) that are not urban yet."""
    a = tiny.arrays
    ok = (tiny.landuse != NODATA) & (tiny.landuse != URBAN)
    ok &= (a["pbf"] != 1) & (a["erl"] != 1) & (a["water"] != 1)
    return ok if extra is None else ok & extra


def _run(tiny: TinyGrid, runner: Any, overrides: dict[str, Any], out: Path, **kw: Any) -> Any:
    r = invoke(runner, "run", tiny.scenario(overrides, **kw), "-o", out)
    assert r.exit_code == 0, r.output
    return json.loads((out / "compliance.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("years", "closed"),
    [
        ({"from_year": 2024}, range(2024, END + 1)),
        ({"to_year": 2026}, range(START + 1, 2027)),
        ({"from_year": 2023, "to_year": 2026}, range(2023, 2027)),
        ({"from_year": 2025, "to_year": 2025}, range(2025, 2026)),
        ({"from_year": START, "to_year": START}, range(0)),  # holds before any step
        ({"from_year": END}, range(END, END + 1)),
    ],
    ids=["from-only", "to-only", "both", "one-year", "start-year-only", "last-year"],
)
def test_rule_years_are_inclusive_and_periods_cover_every_year(
    tiny_grid: TinyGrid, years: dict[str, int], closed: range
) -> None:
    overrides = with_zones(tiny_grid)
    overrides["rules"] = [{"where": FLEX, "allow": False, **years}]
    compiled = _compile(tiny_grid, overrides)
    periods = compiled.periods
    # The periods tile start+1..end without gaps or overlaps.
    assert periods[0].first_year == START + 1 and periods[-1].last_year == END
    for a, b in itertools.pairwise(periods):
        assert b.first_year == a.last_year + 1
    flex = _open_cells(tiny_grid, udb_zones(tiny_grid) == FLEXIBLE)
    assert flex.any()
    for p in periods:
        for year in range(p.first_year, p.last_year + 1):
            cand = p.candidate.astype(bool)
            if year in closed:
                assert not np.any(cand & flex), year
            else:
                assert np.all(cand[flex]), year


def test_zone_closed_for_one_middle_year_end_to_end(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    """A one-year rule: the zone grows before and after it, never during it."""
    overrides = with_zones(tiny_grid)
    overrides["rules"] = [{"where": FLEX, "allow": False, "from_year": 2025, "to_year": 2025}]
    # Favour the flexible ring: it must be chosen whenever it is open.
    overrides["rules"].append(
        {"where": "urban_development_boundary.concentrated_construction", "factor": 0.001}
    )
    out = tmp_path / "out"
    comp = _run(tiny_grid, runner, overrides, out, growth=100)
    year = read_urban_year(out)
    flex = udb_zones(tiny_grid) == FLEXIBLE
    assert not np.any(flex & (year == 2025))
    assert np.any(flex & (year > START) & (year < 2025)) and np.any(flex & (year > 2025))
    assert [(p["first_year"], p["last_year"]) for p in comp["periods"]] == [
        (2021, 2024),
        (2025, 2025),
        (2026, 2030),
    ]
    assert comp["final_check_from_maps"]["growth_not_allowed_by_rules"] == 0


def test_allow_false_beats_allow_true_on_the_same_cells(tiny_grid: TinyGrid) -> None:
    """Several rules on one layer: `allow = false` for forest wins over `allow = true` for
    all classes (precedence 2 > 3), and only in its years."""
    villages = np.zeros(tiny_grid.landuse.shape, dtype=np.uint8)
    villages[0:12, 40:50] = 1  # outside the boundary; forest in rows < 10, cropland below
    write_raster(tiny_grid.folder / "villages.tif", villages, nodata=NODATA)
    overrides = {
        "constraints": {
            # A soft layer at factor 1 only names the cells; the forest there is not the
            # red line in this test.
            "village_construction": {"path": "villages.tif", "rule": "factor", "factor": 1.0},
            "ecological_red_line": {"enforce": False},
        },
        "rules": [
            {"where": "village_construction", "allow": True},
            {"where": "village_construction", "from": ["forest"], "allow": False, "to_year": 2025},
        ],
    }
    compiled = _compile(tiny_grid, overrides)
    assert [(p.first_year, p.last_year) for p in compiled.periods] == [(2021, 2025), (2026, 2030)]
    v = villages == 1
    udb = tiny_grid.arrays["udb"] == 1
    forest = v & ~udb & (tiny_grid.landuse == FOREST)
    crop = v & ~udb & (tiny_grid.landuse == CROPLAND)
    assert forest.any() and crop.any()
    first, second = (p.candidate.astype(bool) for p in compiled.periods)
    assert np.all(first[crop]) and not np.any(first[forest])
    assert np.all(second[crop]) and np.all(second[forest])


# --------------------------------------------------------------------------- spill-over


def test_spill_over_within_periods_takes_every_open_cell_first(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    overrides = with_zones(tiny_grid, spill_over=True)
    overrides["rules"] = [{"where": FLEX, "allow": False, "to_year": 2025}]
    compiled = _compile(tiny_grid, overrides)
    room = [int(p.candidate.sum()) for p in compiled.periods]
    assert room[1] > room[0]
    growth = room[1] + 30
    out = tmp_path / "out"
    comp = _run(tiny_grid, runner, overrides, out, growth=growth)
    year = read_urban_year(out)
    zones = udb_zones(tiny_grid)
    new = (year > START) & (tiny_grid.landuse != URBAN)
    assert int(new.sum()) == growth
    assert not np.any(new & (zones == FLEXIBLE) & (year <= 2025))
    spilled = {y["year"]: y["spilled_over_boundary_cells"] for y in comp["years"]}
    outside = new & (zones == 0)
    assert sum(spilled.values()) == int(outside.sum()) == 30
    for y, n in spilled.items():
        assert int((outside & (year == y)).sum()) == n, y
        if n:
            # Every cell open inside in this year's period became urban by this year.
            p = next(p for p in compiled.periods if p.first_year <= y <= p.last_year)
            cand = p.candidate.astype(bool)
            assert np.all((year[cand] > 0) & (year[cand] <= y)), y
    udb = comp["final_check_from_maps"]["lines"]["urban_development_boundary"]
    assert udb["breaks_line"] == 30 and udb["violations"] == 0
    assert udb["permitted_exceptions"] == 30
    assert comp["final_check_from_maps"]["growth_not_allowed_by_rules"] == 0


def test_allow_true_outside_the_boundary_is_first_choice_not_spill(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    villages = np.zeros(tiny_grid.landuse.shape, dtype=np.uint8)
    villages[32:38, 30:40] = 1  # outside the boundary, cropland
    write_raster(tiny_grid.folder / "villages.tif", villages, nodata=NODATA)
    overrides = {
        "constraints": {
            "urban_development_boundary": {"spill_over": True},
            "village_construction": {"path": "villages.tif", "rule": "factor", "factor": 1.0},
        },
        "rules": [{"where": "village_construction", "allow": True}],
    }
    compiled = _compile(tiny_grid, overrides)
    p = compiled.periods[0]
    v = _open_cells(tiny_grid, villages == 1) & (tiny_grid.arrays["udb"] == 0)
    assert v.any()
    assert np.all(p.candidate[v] == 1) and not np.any(p.spill[v])
    room = int(p.candidate.sum())
    out = tmp_path / "out"
    comp = _run(tiny_grid, runner, overrides, out, growth=room + 20)
    year = read_urban_year(out)
    assert np.all(year[v] > START)  # the villages were taken before any spill
    spilled = sum(y["spilled_over_boundary_cells"] for y in comp["years"])
    assert spilled == 20
    spill_cells = (year > START) & (tiny_grid.arrays["udb"] == 0) & (villages == 0)
    assert int(spill_cells.sum()) == 20
    udb = comp["final_check_from_maps"]["lines"]["urban_development_boundary"]
    assert udb["violations"] == 0
    assert udb["breaks_line"] == udb["permitted_exceptions"] == 20 + int(v.sum())


def test_spill_over_with_no_open_cell_inside(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    """A boundary whose every cell a rule closes: all the growth spills, year by year."""
    overrides = {
        "constraints": {"urban_development_boundary": {"spill_over": True}},
        "rules": [{"where": "urban_development_boundary", "allow": False}],
    }
    compiled = _compile(tiny_grid, overrides)
    assert int(compiled.periods[0].candidate.sum()) == 0
    out = tmp_path / "out"
    comp = _run(tiny_grid, runner, overrides, out, growth=30)
    for y in comp["years"]:
        assert y["spilled_over_boundary_cells"] == y["new_urban_cells"]
    year = read_urban_year(out)
    new = year > START
    assert int(new.sum()) == 30 and not np.any(new & (tiny_grid.arrays["udb"] == 1))
    assert comp["final_check_from_maps"]["growth_not_allowed_by_rules"] == 0


def test_demand_met_exactly_by_the_last_open_cell(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    overrides: dict[str, Any] = {}
    room = int(_compile(tiny_grid, overrides).candidate.sum())
    prepared = prepare(load(tiny_grid.scenario(growth=room)))
    room = int(prepared.periods[0].candidate.sum())  # less cells of suitability 0
    out = tmp_path / "out"
    comp = _run(tiny_grid, runner, overrides, out, growth=room)
    cand = prepared.periods[0].candidate.astype(bool)
    assert np.all(read_urban_year(out)[cand] > START)
    assert comp["years"][-1]["new_urban_cells_cumulative"] == room
    r = invoke(runner, "validate", tiny_grid.scenario(growth=room + 1))
    assert r.exit_code == 1 and "1 cells missing" in r.stderr


# --------------------------------------------------------------------------- infeasible


def test_a_later_period_that_closes_land_is_refused_before_running(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    """The boundary closes from 2026: growth after 2025 has nowhere to go. `validate`
    must say so, and `run` must refuse before simulating (naming the rules), not fail in
    2026 after five simulated years."""
    overrides = {
        "rules": [{"where": "urban_development_boundary", "allow": False, "from_year": 2026}]
    }
    scenario = tiny_grid.scenario(overrides, growth=60)
    r = invoke(runner, "validate", scenario)
    assert r.exit_code == 1, r.output
    assert "cells missing" in r.stderr and "2026" in r.stderr
    assert "[[rules]]" in r.stderr
    with pytest.raises(DemandError, match=r"\[demand\] 2026"):
        prepare(load(scenario))
    out = tmp_path / "out"
    r = invoke(runner, "run", scenario, "-o", out)
    assert r.exit_code == 1 and "year 2021" not in r.output
    assert not out.exists()


def test_a_later_period_that_moves_the_open_land_is_checked_per_period(
    tiny_grid: TinyGrid, runner: Any
) -> None:
    """The flexible ring is open until 2025, the core from 2026 only: each period's growth
    must fit in that period's open land, not in the union of all periods."""
    overrides = with_zones(tiny_grid)
    core = "urban_development_boundary.concentrated_construction"
    overrides["rules"] = [
        {"where": core, "allow": False, "to_year": 2025},
        {"where": FLEX, "allow": False, "from_year": 2026},
        {"where": "urban_development_boundary.special_use", "allow": False},
    ]
    compiled = _compile(tiny_grid, overrides)
    a, b = (p.candidate.astype(bool) for p in compiled.periods)
    assert not np.any(a & b)
    first, second = int(a.sum()), int(b.sum())
    # 2021-2025 grows half the demand, 2026-2030 the other half: more than the core holds
    # but less than the two periods' land together.
    growth = 2 * second + 4
    assert growth // 2 + 2 <= first and growth <= first + second
    r = invoke(runner, "validate", tiny_grid.scenario(overrides, growth=growth))
    assert r.exit_code == 1, r.output
    assert "cells missing" in r.stderr and "2026" in r.stderr
    # Halve it and it runs.
    r = invoke(runner, "validate", tiny_grid.scenario(overrides, growth=second))
    assert r.exit_code == 0, r.output


def test_infeasible_message_lists_room_per_district(tiny_grid: TinyGrid, runner: Any) -> None:
    districts = np.ones(tiny_grid.landuse.shape, dtype=np.uint8)
    districts[:, 25:] = 2
    write_raster(tiny_grid.folder / "districts.tif", districts, nodata=0)
    overrides = {"districts": {"path": "districts.tif", "names": {"1": "西区"}}}
    r = invoke(runner, "validate", tiny_grid.scenario(overrides, growth=5000))
    assert r.exit_code == 1
    assert "room per district" in r.stderr and "西区" in r.stderr and "district 2" in r.stderr


# --------------------------------------------------------------------------- districts


def _district_codes(shape: tuple[int, int], kind: str) -> tuple[np.ndarray, Any, dict]:
    """A district raster of the given kind, its nodata, and the codes used."""
    nx = shape[1]
    if kind == "uint16>255":
        d = np.full(shape, 300, dtype=np.uint16)
        d[:, nx // 2 :] = 1000
        d[:5, :5] = 0  # none
        return d, None, {300: "甲", 1000: "乙"}
    if kind == "float-nan":
        d = np.full(shape, 1.0, dtype=np.float32)
        d[:, nx // 2 :] = 2.0
        d[10:14, :] = np.nan
        return d, None, {1: "甲", 2: "乙"}
    if kind == "uint8-nodata":
        d = np.full(shape, 1, dtype=np.uint8)
        d[:, nx // 2 :] = 2
        d[20:24, 20:40] = 200  # the nodata value
        return d, 200, {1: "甲", 2: "乙"}
    d = np.full(shape, 1, dtype=np.int32)  # every cell in a district
    d[:, nx // 3 :] = 2
    d[:, 2 * nx // 3 :] = 3
    return d, None, {1: "甲", 2: "乙", 3: "丙"}


@pytest.mark.parametrize("kind", ["uint16>255", "float-nan", "uint8-nodata", "full"])
def test_district_tables_add_up_for_every_year(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path, kind: str
) -> None:
    d, nodata, names = _district_codes(tiny_grid.landuse.shape, kind)
    write_raster(tiny_grid.folder / "districts.tif", d, nodata=nodata)
    named = dict(list(names.items())[:-1])  # the last code goes unnamed
    overrides = with_zones(tiny_grid)
    overrides["rules"] = [{"where": FLEX, "allow": False, "to_year": 2025}]
    overrides["districts"] = {
        "path": "districts.tif",
        "names": {str(k): v for k, v in named.items()},
    }
    out = tmp_path / "out"
    comp = _run(tiny_grid, runner, overrides, out, growth=120)
    codes = np.where(np.isfinite(d), d, 0).astype(np.int64)
    if nodata is not None:
        codes[d == nodata] = 0
    rows = {r["code"]: r for r in comp["districts"]}
    assert set(rows) == set(names)
    last = max(names)
    assert rows[last]["name"] == f"district {last}"
    year = read_urban_year(out)
    lu0 = tiny_grid.landuse
    with rasterio.open(out / "landuse_2030.tif") as ds:
        final = ds.read(1)
    for i, y in enumerate(comp["years"]):
        grown = year == y["year"]
        in_district = sum(r["years"][i]["new_urban_cells"] for r in rows.values())
        assert in_district == int((grown & (codes > 0)).sum()), y["year"]
        if kind == "full":
            assert in_district == y["new_urban_cells"]
            for line, v in y["lines"].items():
                assert (
                    sum(r["years"][i]["lines"][line]["inside"] for r in rows.values())
                    == (v["new_urban_inside"])
                ), line
        for code, r in rows.items():
            assert r["years"][i]["year"] == y["year"]
            assert r["years"][i]["new_urban_cells"] == int((grown & (codes == code)).sum())
    for code, r in rows.items():
        mine = codes == code
        assert r["cells"] == int(mine.sum())
        assert r["urban_start_cells"] == int((mine & (lu0 == URBAN)).sum())
        assert r["urban_end_cells"] == int((mine & (final == URBAN)).sum())
        lost = int((mine & (lu0 == CROPLAND) & (final != CROPLAND)).sum())
        assert r["cropland_lost_cells"] == lost
        assert sum(y["cropland_lost_cells"] for y in r["years"]) == lost
        assert r["growth_not_allowed_by_rules"] == 0


def test_district_name_without_cells_is_an_error(tiny_grid: TinyGrid, runner: Any) -> None:
    d = np.full(tiny_grid.landuse.shape, 1, dtype=np.uint8)
    write_raster(tiny_grid.folder / "districts.tif", d, nodata=0)
    overrides = {"districts": {"path": "districts.tif", "names": {"1": "甲", "7": "幽灵"}}}
    r = invoke(runner, "validate", tiny_grid.scenario(overrides))
    assert r.exit_code == 1 and "[districts.names]" in r.stderr and "[7]" in r.stderr


# --------------------------------------------------------------------------- enforce


def test_rules_on_an_unenforced_boundary_do_not_apply(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    plain = with_zones(tiny_grid, enforce=False)
    ruled = with_zones(tiny_grid, enforce=False)
    ruled["rules"] = [
        {"where": FLEX, "allow": False, "to_year": 2025},
        {"where": "urban_development_boundary.special_use", "allow": False},
        {"where": "urban_development_boundary.concentrated_construction", "factor": 0.1},
    ]
    a, b = _compile(tiny_grid, plain), _compile(tiny_grid, ruled)
    for year in range(START + 1, END + 1):
        pa = next(p for p in a.periods if p.first_year <= year <= p.last_year)
        pb = next(p for p in b.periods if p.first_year <= year <= p.last_year)
        np.testing.assert_array_equal(pa.candidate, pb.candidate, err_msg=str(year))
        assert (pa.factor is None) == (pb.factor is None), year
    # The layer does not constrain: cells outside it are open.
    outside = _open_cells(tiny_grid, udb_zones(tiny_grid) == 0)
    assert np.all(b.candidate[outside] == 1)
    # Nor does an `allow = true` on an unenforced layer lift the enforced boundary.
    villages = np.zeros(tiny_grid.landuse.shape, dtype=np.uint8)
    villages[32:38, 30:40] = 1
    write_raster(tiny_grid.folder / "villages.tif", villages, nodata=NODATA)
    lifted = {
        "constraints": {
            "village_construction": {
                "path": "villages.tif",
                "rule": "factor",
                "factor": 1.0,
                "enforce": False,
            }
        },
        "rules": [{"where": "village_construction", "allow": True}],
    }
    c = _compile(tiny_grid, lifted)
    assert not np.any(c.candidate[villages == 1])
    # End to end: the run reports the rules' zones but grows as without them.
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    _run(tiny_grid, runner, plain, out_a, growth=80)
    comp = _run(tiny_grid, runner, ruled, out_b, growth=80)
    np.testing.assert_array_equal(read_urban_year(out_a), read_urban_year(out_b))
    udb = comp["final_check_from_maps"]["lines"]["urban_development_boundary"]
    assert udb["enforced"] is False and udb["violations"] == udb["breaks_line"]


# --------------------------------------------------------------------------- compliance


def test_yearly_compliance_adds_up_to_the_final_check(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    overrides = with_zones(tiny_grid, spill_over=True)
    overrides["constraints"]["permanent_basic_farmland"] = {"enforce": False}
    overrides["rules"] = [{"where": FLEX, "allow": False, "to_year": 2024}]
    room = int(_compile(tiny_grid, overrides).periods[-1].candidate.sum())
    out = tmp_path / "out"
    comp = _run(tiny_grid, runner, overrides, out, growth=room + 25)
    check = comp["final_check_from_maps"]["lines"]
    assert check["permanent_basic_farmland"]["violations"] > 0  # reported encroachment
    for name, line in check.items():
        yearly = [y["lines"][name] for y in comp["years"]]
        if line["breaks_line"] is None:
            assert all(v["violations"] is None for v in yearly), name
            continue
        assert sum(v["violations"] for v in yearly) == line["violations"], name
        assert sum(v["breaks_line"] for v in yearly) == line["breaks_line"], name
        inside = sum(v["new_urban_inside"] for v in yearly)
        assert yearly[-1]["new_urban_inside_cumulative"] == inside
    total = sum(y["new_urban_cells"] for y in comp["years"])
    assert total == comp["years"][-1]["new_urban_cells_cumulative"] == room + 25
    assert comp["final_check_from_maps"]["changed_cells"] == total
    assert comp["final_check_from_maps"]["reverted_urban_cells"] == 0
    cropland_lost = comp["years"][-1]["cropland_lost_cells_cumulative"]
    with rasterio.open(out / "landuse_2030.tif") as ds:
        final = ds.read(1)
    lu0 = tiny_grid.landuse
    assert cropland_lost == int(((lu0 == CROPLAND) & (final != CROPLAND)).sum())


def test_urban_year_map(tiny_grid: TinyGrid, runner: Any, tmp_path: Path) -> None:
    overrides = with_zones(tiny_grid, spill_over=True)
    overrides["rules"] = [{"where": FLEX, "allow": False, "to_year": 2025}]
    out = tmp_path / "out"
    comp = _run(tiny_grid, runner, overrides, out, growth=90)
    year = read_urban_year(out)
    lu0 = tiny_grid.landuse
    with rasterio.open(out / "landuse_2030.tif") as ds, rasterio.open(out / "urban_year.tif") as uy:
        final = ds.read(1)
        assert ds.transform == uy.transform and ds.crs == uy.crs
    assert np.all(year[lu0 == URBAN] == START)
    assert np.all(year[final != URBAN] == 0)
    assert np.all(year[lu0 == NODATA] == 0)
    grown = year[(final == URBAN) & (lu0 != URBAN)]
    assert grown.size == 90 and grown.min() >= START + 1 and grown.max() <= END
    for y in comp["years"]:
        assert int((year == y["year"]).sum()) == y["new_urban_cells"], y["year"]
    with rasterio.open(out / "landuse_2025.tif") as ds:
        mid = ds.read(1)
    np.testing.assert_array_equal(mid == URBAN, (year > 0) & (year <= 2025))


# --------------------------------------------------------------------------- check


def test_check_point_on_a_cell_edge_takes_the_cell_below_right(
    tiny_grid: TinyGrid, runner: Any
) -> None:
    scenario = tiny_grid.scenario()
    corner = (ORIGIN[0] + 25 * CELL, ORIGIN[1] - 20 * CELL)  # shared by 4 cells
    r = check_json(runner, scenario, "--point", *corner)
    assert r["cells"] == 1 and "row 20 col 25" in r["site"]
    r = check_json(runner, scenario, "--point", ORIGIN[0] + 7 * CELL, ORIGIN[1] - 3.5 * CELL)
    assert "row 3 col 7" in r["site"]


@pytest.mark.parametrize(
    ("x", "y", "where"),
    [
        (ORIGIN[0], ORIGIN[1], "row 0 col 0"),  # north-west corner
        (ORIGIN[0] + 50 * CELL, ORIGIN[1] - 20.5 * CELL, "row 20 col 49"),  # east edge
        (ORIGIN[0] + 10.5 * CELL, ORIGIN[1] - 40 * CELL, "row 39 col 10"),  # south edge
        (ORIGIN[0] + 50 * CELL, ORIGIN[1] - 40 * CELL, "row 39 col 49"),  # south-east corner
    ],
)
def test_check_point_on_the_grid_outer_edge_is_on_the_grid(
    tiny_grid: TinyGrid, runner: Any, x: float, y: float, where: str
) -> None:
    r = check_json(runner, tiny_grid.scenario(), "--point", x, y)
    assert r["cells"] == 1 and where in r["site"]


def test_check_just_outside_the_grid_is_refused(tiny_grid: TinyGrid, runner: Any) -> None:
    for x, y in (
        (ORIGIN[0] + 50 * CELL + 0.01, ORIGIN[1] - 20 * CELL),
        (ORIGIN[0] - 0.01, ORIGIN[1] - 20 * CELL),
        (ORIGIN[0] + 5 * CELL, ORIGIN[1] + 0.01),
        (ORIGIN[0] + 5 * CELL, ORIGIN[1] - 40 * CELL - 0.01),
    ):
        r = invoke(runner, "check", tiny_grid.scenario(), "--point", x, y)
        assert r.exit_code == 1 and "outside the land-use grid" in r.stderr, (x, y)


def test_check_polygon_partly_outside_the_grid_and_json(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    districts = np.ones(tiny_grid.landuse.shape, dtype=np.uint8)
    write_raster(tiny_grid.folder / "districts.tif", districts, nodata=0)
    overrides = with_zones(tiny_grid)
    overrides["rules"] = [{"where": FLEX, "allow": False, "to_year": 2025}]
    overrides["districts"] = {"path": "districts.tif", "names": {"1": "珠晖区"}}
    scenario = tiny_grid.scenario(overrides)
    out = tmp_path / "run"
    assert invoke(runner, "run", scenario, "-o", out).exit_code == 0
    # West half outside the grid: cell centres of cols -5..5, rows 10..15.
    site = write_cell_rectangle_geojson(tmp_path / "site.geojson", (10, -5), (15, 5))
    r = check_json(runner, scenario, "--polygon", site, "--run", out)
    assert r["cells"] == 36  # cols 0..5 × rows 10..15, touched
    assert sum(r["landuse_at_start"].values()) == 36
    assert r["districts"] == {"珠晖区": 36}
    assert [(p["first_year"], p["last_year"]) for p in r["periods"]] == [
        (2021, 2025),
        (2026, 2030),
    ]
    became = sum(r["becomes_urban"].values())
    assert r["urban_at_start_cells"] + became + r["never_urban_cells"] == 36
    assert all(START < int(y) <= END for y in r["becomes_urban"])


# --------------------------------------------------------------------------- whole run


def test_whole_run_is_deterministic_over_threads_and_leaves_inputs_alone(
    tiny_grid: TinyGrid, tmp_path: Path
) -> None:
    districts = np.ones(tiny_grid.landuse.shape, dtype=np.uint16)
    districts[:, 25:] = 300
    write_raster(tiny_grid.folder / "districts.tif", districts, nodata=0)
    overrides = with_zones(tiny_grid, spill_over=True)
    overrides["rules"] = [
        {"where": FLEX, "allow": False, "to_year": 2025},
        {"where": "*", "from": ["forest"], "factor": 0.5, "from_year": 2027},
    ]
    overrides["districts"] = {"path": "districts.tif", "names": {"300": "东区"}}
    room = int(_compile(tiny_grid, overrides).periods[-1].candidate.sum())
    scenario = tiny_grid.scenario(overrides, growth=room + 20)
    before = sha256_tree(tiny_grid.folder)
    digests = []
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}"
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        proc = subprocess.run(
            [landsim_exe(), "run", str(scenario), "-o", str(out)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        digests.append(sha256_tree(out))
    assert digests[0] == digests[1]
    comp = json.loads((tmp_path / "t1" / "compliance.json").read_text(encoding="utf-8"))
    assert sum(y["spilled_over_boundary_cells"] for y in comp["years"]) > 0
    assert sha256_tree(tiny_grid.folder) == before


def test_a_district_with_a_high_code_costs_no_more_memory(
    tiny_grid: TinyGrid, tmp_path: Path
) -> None:
    """Codes run up to 65535: one district coded 65535 must not make the per-year records
    grow with the code (it took 1.4 GB for ten years on this 40 × 50 grid)."""
    import tracemalloc

    from landsim.api import run_prepared

    peaks = {}
    for high in (2, 65535):
        d = np.full(tiny_grid.landuse.shape, 1, dtype=np.uint16)
        d[:, 25:] = high
        write_raster(tiny_grid.folder / "districts.tif", d, nodata=0)
        overrides = {"districts": {"path": "districts.tif", "names": {str(high): "东区"}}}
        prepared = prepare(load(tiny_grid.scenario(overrides)))
        tracemalloc.start()
        try:
            result = run_prepared(prepared, tmp_path / f"out{high}")
        finally:
            peaks[high] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        comp = json.loads((tmp_path / f"out{high}" / "compliance.json").read_text("utf-8"))
        rows = {r["code"]: r for r in comp["districts"]}
        year = read_urban_year(tmp_path / f"out{high}")
        for i, y in enumerate(comp["years"]):
            assert rows[high]["years"][i]["new_urban_cells"] == int(
                ((year == y["year"]) & (d == high)).sum()
            )
        assert [r["name"] for r in result.summary["districts"]] == ["district 1", "东区"]
    assert peaks[65535] < peaks[2] + 20_000_000, peaks


def test_fractional_district_codes_are_refused(tiny_grid: TinyGrid, runner: Any) -> None:
    """A float raster resampled bilinearly holds 1.5 along borders: refused, not truncated."""
    d = np.full(tiny_grid.landuse.shape, 1.0, dtype=np.float32)
    d[:, 25:] = 2.0
    d[:, 24] = 1.5
    write_raster(tiny_grid.folder / "districts.tif", d, nodata=-9999.0)
    r = invoke(runner, "validate", tiny_grid.scenario({"districts": {"path": "districts.tif"}}))
    assert r.exit_code == 1, r.output
    assert "[districts.path]" in r.stderr and "1.5" in r.stderr
    assert "Traceback" not in r.output


@pytest.mark.parametrize(("factor", "winner"), [(0.5, "urban_development_boundary"), (0.0, "soft")])
def test_conflict_between_boundary_and_factor_layer_follows_the_documented_precedence(
    tiny_grid: TinyGrid, factor: float, winner: str
) -> None:
    """docs/scenario.md: the boundary (4) is stronger than a soft factor (5); a factor of
    0 acts as a hard exclusion and wins over the boundary."""
    soft = np.zeros(tiny_grid.landuse.shape, dtype=np.uint8)
    soft[15:25, 25:35] = 1  # inside the boundary
    write_raster(tiny_grid.folder / "soft.tif", soft, nodata=NODATA)
    overrides = {"constraints": {"soft": {"path": "soft.tif", "rule": "factor", "factor": factor}}}
    compiled = _compile(tiny_grid, overrides)
    found = {tuple(c["layers"]): c for c in compiled.conflicts}
    c = found[("urban_development_boundary", "soft")]
    assert c["prevails"] == winner and not c["three_lines"]


def test_a_prepared_run_leaves_its_arrays_alone_and_repeats(
    tiny_grid: TinyGrid, tmp_path: Path
) -> None:
    """Running twice from one `prepare` gives the same result: the engine copies."""
    from landsim.api import run_prepared

    d = np.ones(tiny_grid.landuse.shape, dtype=np.uint8)
    write_raster(tiny_grid.folder / "districts.tif", d, nodata=0)
    overrides = with_zones(tiny_grid, spill_over=True)
    overrides["rules"] = [{"where": FLEX, "allow": False, "to_year": 2025}]
    overrides["districts"] = {"path": "districts.tif"}
    room = int(_compile(tiny_grid, overrides).periods[-1].candidate.sum())
    p = prepare(load(tiny_grid.scenario(overrides, growth=room + 10)))
    before = [p.landuse.copy(), p.suitability.copy(), p.districts.codes.copy()]
    before += [a.copy() for q in p.periods for a in (q.candidate, q.spill, q.suitability)]
    run_prepared(p, tmp_path / "a")
    run_prepared(p, tmp_path / "b")
    after = [p.landuse, p.suitability, p.districts.codes]
    after += [a for q in p.periods for a in (q.candidate, q.spill, q.suitability)]
    for x, y in zip(before, after, strict=True):
        np.testing.assert_array_equal(x, y)
    a, b = sha256_tree(tmp_path / "a"), sha256_tree(tmp_path / "b")
    assert a == b
