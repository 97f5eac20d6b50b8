"""Zone rules (三区三线): per zone × class × period rules, precedence, conflicts, spill-over.

The compiled masks are checked against a slow cell-by-cell reading of the precedence
written in ``constraints/compile.py``, on random layers and rules (hypothesis), and the
rules are checked end to end through ``landsim run`` on the tiny synthetic grid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _landsim_kit import (
    FLEXIBLE,
    NODATA,
    SPECIAL,
    URBAN,
    TinyGrid,
    invoke,
    landuse_grid,
    read_urban_year,
    udb_zones,
    with_zones,
    write_raster,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from landsim.constraints.compile import Layer, compile_constraints
from landsim.errors import InputError, ScenarioError
from landsim.scenario import load, loads


def _run(tiny: TinyGrid, runner: Any, overrides: dict[str, Any], out: Path, **kw: Any) -> Any:
    r = invoke(runner, "run", tiny.scenario(overrides, **kw), "-o", out)
    assert r.exit_code == 0, r.output
    return r


# --------------------------------------------------------------------------- end to end


def test_flexible_zone_opens_after_a_year_and_special_use_stays_closed(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    overrides = with_zones(tiny_grid)
    overrides["rules"] = [
        {
            "where": "urban_development_boundary.flexible_development",
            "allow": False,
            "to_year": 2025,
        },
        {"where": "urban_development_boundary.special_use", "allow": False},
    ]
    out = tmp_path / "out"
    r = _run(tiny_grid, runner, overrides, out, growth=150)
    year = read_urban_year(out)
    zones = udb_zones(tiny_grid)
    new = (year > 2020) & (tiny_grid.landuse != URBAN)
    assert new.sum() == 150
    assert not np.any(new & (zones == FLEXIBLE) & (year <= 2025))
    assert np.any(new & (zones == FLEXIBLE) & (year > 2025)), "the zone never opened"
    assert not np.any(new & (zones == SPECIAL))
    comp = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    assert [(p["first_year"], p["last_year"]) for p in comp["periods"]] == [
        (2021, 2025),
        (2026, 2030),
    ]
    assert comp["final_check_from_maps"]["growth_not_allowed_by_rules"] == 0
    zones_info = comp["lines"]["urban_development_boundary"]["zones"]
    assert zones_info["special_use"]["cells"] == int((zones == SPECIAL).sum())
    assert "violations" in r.stdout and "inside %" in r.stdout


def test_class_rule_only_touches_its_class(tiny_grid: TinyGrid) -> None:
    overrides = with_zones(tiny_grid)
    overrides["rules"] = [
        {"where": "urban_development_boundary", "from": ["cropland"], "factor": 0.25}
    ]
    scenario = load(tiny_grid.scenario(overrides))
    compiled = compile_constraints(scenario, tiny_grid.landuse, landuse_grid(tiny_grid))
    factor = compiled.factor
    assert factor is not None
    inside = udb_zones(tiny_grid) > 0
    crop = tiny_grid.landuse == 1
    assert np.all(factor[inside & crop] == np.float32(0.25))
    assert np.all(factor[~(inside & crop)] == 1)


def test_allow_true_lifts_the_boundary_but_never_the_farmland(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    villages = np.zeros(tiny_grid.landuse.shape, dtype=np.uint8)
    villages[30:38, 10:22] = 1  # outside the boundary; partly farmland (cols 10-12), water
    write_raster(tiny_grid.folder / "villages.tif", villages, nodata=NODATA)
    overrides = {
        "constraints": {
            "village_construction": {"path": "villages.tif", "rule": "factor", "factor": 1.0}
        },
        "rules": [{"where": "village_construction", "allow": True}],
    }
    scenario = load(tiny_grid.scenario(overrides))
    compiled = compile_constraints(scenario, tiny_grid.landuse, landuse_grid(tiny_grid))
    cand = compiled.candidate.astype(bool)
    pbf = tiny_grid.arrays["pbf"] == 1
    assert np.any(cand & (villages == 1)), "the rule opened nothing"
    assert not np.any(cand & pbf)
    assert not np.any(cand & (tiny_grid.arrays["udb"] == 0) & (villages == 0))


def test_conflicts_are_reported_with_the_winning_rule(tiny_grid: TinyGrid) -> None:
    scenario = load(tiny_grid.scenario())
    compiled = compile_constraints(scenario, tiny_grid.landuse, landuse_grid(tiny_grid))
    overlap = int(((tiny_grid.arrays["udb"] == 1) & (tiny_grid.arrays["pbf"] == 1)).sum())
    found = {tuple(c["layers"]): c for c in compiled.conflicts}
    c = found[("urban_development_boundary", "permanent_basic_farmland")]
    assert c["cells"] == overlap > 0
    assert c["prevails"] == "permanent_basic_farmland" and c["three_lines"]
    water = [c for c in compiled.conflicts if "water" in c["layers"]]
    assert all(not c["three_lines"] for c in water)
    assert c["km2"] == pytest.approx(overlap * 900 / 1e6)


def test_spill_over_takes_the_boundary_first_and_reports_the_rest(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    probe = load(tiny_grid.scenario())
    room = int(
        compile_constraints(probe, tiny_grid.landuse, landuse_grid(tiny_grid)).candidate.sum()
    )
    growth = room + 40
    r = invoke(runner, "run", tiny_grid.scenario(growth=growth), "-o", tmp_path / "no")
    assert r.exit_code == 1 and "spill_over = true" in r.stderr
    out = tmp_path / "spill"
    overrides = {"constraints": {"urban_development_boundary": {"spill_over": True}}}
    r = _run(tiny_grid, runner, overrides, out, growth=growth)
    comp = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    spilled = sum(y["spilled_over_boundary_cells"] for y in comp["years"])
    assert spilled == 40
    udb = comp["final_check_from_maps"]["lines"]["urban_development_boundary"]
    assert udb["breaks_line"] == 40 and udb["violations"] == 0
    assert udb["permitted_exceptions"] == 40
    pbf = comp["final_check_from_maps"]["lines"]["permanent_basic_farmland"]
    assert pbf["violations"] == 0 and pbf["breaks_line"] == 0
    # Everything the boundary could take was taken.
    year = read_urban_year(out)
    inside_room = (tiny_grid.arrays["udb"] == 1) & (tiny_grid.arrays["pbf"] == 0)
    inside_room &= np.isin(tiny_grid.landuse, [1])  # cropland is the only open class there
    assert np.all(year[inside_room] > 0)
    assert "spill" in r.stdout


def test_districts_split_the_growth(tiny_grid: TinyGrid, runner: Any, tmp_path: Path) -> None:
    districts = np.ones(tiny_grid.landuse.shape, dtype=np.uint8)
    districts[:, 25:] = 2
    write_raster(tiny_grid.folder / "districts.tif", districts, nodata=0)
    overrides = {"districts": {"path": "districts.tif", "names": {"1": "西区", "2": "东区"}}}
    out = tmp_path / "out"
    r = _run(tiny_grid, runner, overrides, out)
    comp = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    rows = {d["name"]: d for d in comp["districts"]}
    assert set(rows) == {"西区", "东区"}
    total = comp["years"][-1]["new_urban_cells_cumulative"]
    assert sum(d["urban_end_cells"] - d["urban_start_cells"] for d in rows.values()) == total
    for d in rows.values():
        assert sum(y["new_urban_cells"] for y in d["years"]) == (
            d["urban_end_cells"] - d["urban_start_cells"]
        )
    year = read_urban_year(out)
    east_new = int(((year > 2020) & (districts == 2) & (tiny_grid.landuse != URBAN)).sum())
    assert rows["东区"]["urban_end_cells"] - rows["东区"]["urban_start_cells"] == east_new
    assert "东区" in r.stdout


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        (
            {"where": "urban_development_boundary.flexible", "allow": False},
            "has no zone 'flexible'",
        ),
        ({"where": "greenbelt", "allow": False}, "names layer 'greenbelt'"),
        (
            {"where": "urban_development_boundary", "from": ["orchard"], "allow": False},
            "'orchard' is neither a class name nor a role",
        ),
        (
            {"where": "urban_development_boundary", "from": ["urban"], "allow": False},
            "already urban",
        ),
        (
            {"where": "urban_development_boundary", "allow": False, "factor": 0.5},
            "exactly one of 'allow'",
        ),
        (
            {"where": "urban_development_boundary", "allow": False, "from_year": 2040},
            "outside the simulated years",
        ),
        (
            {"where": "urban_development_boundary", "allow": False, "to": "cropland"},
            "turns land into 'urban' only",
        ),
    ],
)
def test_bad_rules_name_the_key(tiny_grid: TinyGrid, rule: dict[str, Any], needle: str) -> None:
    overrides = with_zones(tiny_grid)
    overrides["rules"] = [rule]
    with pytest.raises(ScenarioError, match="rules") as exc:
        load(tiny_grid.scenario(overrides))
    assert needle in str(exc.value)


def test_zone_without_cells_is_an_input_error(tiny_grid: TinyGrid) -> None:
    overrides = with_zones(tiny_grid)
    overrides["constraints"]["urban_development_boundary"]["zones"]["ghost"] = [9]
    scenario = load(tiny_grid.scenario(overrides))
    with pytest.raises(InputError, match=r"\[constraints.urban_development_boundary.zones.ghost\]"):
        compile_constraints(scenario, tiny_grid.landuse, landuse_grid(tiny_grid))


def test_rules_that_close_everything_are_infeasible(tiny_grid: TinyGrid, runner: Any) -> None:
    overrides = with_zones(tiny_grid)
    overrides["rules"] = [{"where": "urban_development_boundary", "allow": False}]
    r = invoke(runner, "validate", tiny_grid.scenario(overrides))
    assert r.exit_code == 1
    assert "cells missing" in r.stderr and "[[rules]]" in r.stderr


# --------------------------------------------------------------------------- property


RULES = {
    "erl": "no_change",
    "pbf": "no_construction",
    "udb": "construction_inside_only",
    "soft": "factor",
}
SCENARIO = """
schema_version = 1
name = "rules"
[simulation]
start_year = 2000
end_year = 2006
[[classes]]
code = 1
name = "crop"
role = "cropland"
[[classes]]
code = 2
name = "wood"
role = "forest"
[[classes]]
code = 3
name = "town"
role = "urban"
[inputs]
landuse = "lu.tif"
[demand]
method = "targets"
unit = "cells"
urban = { 2000 = 0, 2006 = 0 }
[constraints.erl]
path = "a.tif"
rule = "no_change"
[constraints.pbf]
path = "b.tif"
rule = "no_construction"
[constraints.udb]
path = "c.tif"
rule = "construction_inside_only"
zones = { a = [1], b = [2] }
[constraints.soft]
path = "d.tif"
rule = "factor"
factor = 0.5
"""


@st.composite
def rule_cases(draw: Any) -> tuple[np.ndarray, dict[str, np.ndarray], list[dict[str, Any]]]:
    ny, nx = draw(st.integers(3, 7)), draw(st.integers(3, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lu = rng.choice(
        np.array([1, 2, 3, NODATA], dtype=np.uint8), size=(ny, nx), p=[0.5, 0.3, 0.15, 0.05]
    )
    udb_values = rng.choice(np.array([0, 1, 2], dtype=np.uint8), size=(ny, nx))
    udb_values.flat[0] = 1  # never an empty boundary (refused, tested elsewhere)
    masks = {k: rng.random((ny, nx)) < 0.25 for k in ("erl", "pbf", "soft")}
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.sampled_from(["udb", "udb.a", "udb.b", "pbf", "soft", "*"]))
        rule: dict[str, Any] = {"where": where}
        if draw(st.booleans()):
            rule["allow"] = draw(st.booleans())
        else:
            rule["factor"] = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]))
        if draw(st.booleans()):
            rule["from"] = [draw(st.sampled_from(["crop", "wood", "forest", "cropland"]))]
        first = draw(st.one_of(st.none(), st.integers(2001, 2006)))
        last = draw(st.one_of(st.none(), st.integers(first or 2001, 2006)))
        if first is not None:
            rule["from_year"] = first
        if last is not None:
            rule["to_year"] = last
        rules.append(rule)
    return lu, {**masks, "udb_values": udb_values}, rules


def _reference(
    lu: np.ndarray, m: dict[str, np.ndarray], rules: list[dict[str, Any]], year: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cell by cell, the precedence of compile.py's docstring, written out plainly."""
    classes = {1: ("crop", "cropland"), 2: ("wood", "forest")}
    cand = np.zeros(lu.shape, dtype=np.uint8)
    factor = np.ones(lu.shape, dtype=np.float32)
    for i in range(lu.shape[0]):
        for j in range(lu.shape[1]):
            c = int(lu[i, j])
            if c not in classes:
                continue
            udb_v = int(m["udb_values"][i, j])
            where = {
                "udb": udb_v > 0,
                "udb.a": udb_v == 1,
                "udb.b": udb_v == 2,
                "pbf": bool(m["pbf"][i, j]),
                "soft": bool(m["soft"][i, j]),
                "*": True,
            }
            f = np.float32(0.5) if where["soft"] else np.float32(1.0)
            yes = no = False
            for r in rules:
                if r.get("from_year", 0) > year or r.get("to_year", 9999) < year:
                    continue
                if not where[r["where"]]:
                    continue
                if "from" in r and not set(r["from"]) & set(classes[c]):
                    continue
                if "factor" in r:
                    f = np.float32(f * np.float32(r["factor"]))
                elif r["allow"]:
                    yes = True
                else:
                    no = True
            factor[i, j] = f
            if m["erl"][i, j] or m["pbf"][i, j] or no:
                continue
            if not where["udb"] and not yes:
                continue
            if f <= 0:
                continue
            cand[i, j] = 1
    return cand, factor


@settings(max_examples=60, deadline=None)
@given(rule_cases())
def test_compiled_rules_equal_the_cell_by_cell_reading(case: Any) -> None:
    lu, m, rules = case
    text = SCENARIO + "".join(
        "\n[[rules]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in r.items()) + "\n"
        for r in rules
    )
    scenario = loads(text, Path("/nonexistent"))
    udb = m["udb_values"]
    layers = {
        "erl": Layer("erl", "no_change", Path("a"), m["erl"]),
        "pbf": Layer("pbf", "no_construction", Path("b"), m["pbf"]),
        "udb": Layer(
            "udb",
            "construction_inside_only",
            Path("c"),
            udb > 0,
            zones={"a": udb == 1, "b": udb == 2},
        ),
        "soft": Layer("soft", "factor", Path("d"), m["soft"], factor=0.5),
    }
    compiled = compile_constraints(scenario, lu, None, layers)
    for period in compiled.periods:
        for year in range(period.first_year, period.last_year + 1):
            cand, factor = _reference(lu, m, rules, year)
            np.testing.assert_array_equal(period.candidate, cand, err_msg=f"year {year}")
            got = np.ones(lu.shape, np.float32) if period.factor is None else period.factor
            valid = np.isin(lu, [1, 2])
            np.testing.assert_array_equal(got[valid], factor[valid], err_msg=f"year {year}")
    assert compiled.periods[0].first_year == 2001 and compiled.periods[-1].last_year == 2006


def test_misspelt_zone_gets_a_suggestion(tiny_grid: TinyGrid) -> None:
    overrides = with_zones(tiny_grid)
    overrides["rules"] = [
        {"where": "urban_development_boundary.flexibel_development", "allow": False}
    ]
    with pytest.raises(
        ScenarioError, match=r"did you mean 'urban_development_boundary\.flexible_dev"
    ):
        load(tiny_grid.scenario(overrides))
