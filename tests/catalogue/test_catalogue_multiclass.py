"""The catalogue of bad multi-class inputs, and the multi-class model end to end.

A small synthetic region (60 × 60 cells of 30 m, EPSG:32649, written here with
rasterio): an earlier map (2015) and a start map (2020) with five classes (cropland,
forest, grassland, urban, water) where every class gained cells between the two maps
where its driver favours it, an elevation driver, and two derived drivers (distance to
urban land, slope of the elevation). Its scenario (``[model] kind = "multiclass"``,
Markov demand 2015 → 2020 with water held, suitability fitted per class) runs.

Each bad case changes one thing in it, and is given to ``landsim run`` and ``landsim
validate``: both must refuse it the catalogue's way (``_refusal.refuses``: one
``error:`` line naming the key or file and how to fix it, no traceback, nothing
written, inputs unchanged). Where landsim does not refuse a case that way yet, the
pair is a strict xfail whose reason quotes what it does (``Case.gaps``).

``landsim fit-suitability`` is tested here too: its refusals, and the round trip (fit
to a file, then a scenario with ``method = "raster"`` on it runs to the same bytes as
the scenario with ``method = "fit"``).
"""

from __future__ import annotations

import copy
import csv
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _landsim_kit import DELETE, deep_merge, invoke, landsim_exe, to_toml, write_raster
from _refusal import COUNT, refuses

# --------------------------------------------------------------------------- the region

SHAPE = (60, 60)
CROP, FOREST, GRASS, URBAN, WATER = 1, 2, 3, 4, 5
NODATA = 255
CELL = 30.0
ORIGIN = (500_000.0, 3_400_000.0)  # _landsim_kit's grid origin (write_raster's default)

CLASSES: list[dict[str, Any]] = [
    {"code": CROP, "name": "cropland", "role": "cropland"},
    {"code": FOREST, "name": "forest", "role": "forest"},
    {"code": GRASS, "name": "grassland", "role": "grassland"},
    {"code": URBAN, "name": "urban", "role": "urban"},
    {"code": WATER, "name": "water", "role": "water"},
]
NAMES = [c["name"] for c in CLASSES]
# Rows from, columns to, in CLASSES order; urban never reverts.
ALLOWED = [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 1, 0], [1, 1, 1, 1, 1]]
# Figures of the region, checked by the fixture (the needles below quote them).
VALID_CELLS = 3595
URBAN_CELLS = 193
CROPLAND_GAINED = 44


def _maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2015 map, 2020 map, elevation): deterministic (fixed numpy seed)."""
    ny, nx = SHAPE
    yy, xx = np.mgrid[:ny, :nx]
    rng = np.random.default_rng(11)
    elev = 300.0 - 5.0 * yy + 15.0 * np.sin(xx / 6.0) + rng.normal(0, 3, SHAPE)
    elev = elev.astype(np.float32)
    before = np.full(SHAPE, CROP, dtype=np.uint8)
    before[elev > 220] = FOREST
    before[(elev > 170) & (elev <= 220)] = GRASS
    before[:, 12:14] = WATER  # a river
    core = np.hypot(yy - 42, xx - 40)
    before[core <= 6] = URBAN
    after = before.copy()
    flat = after.ravel()  # a view: picks write into `after`

    def gain(cls: int, score: np.ndarray, n: int) -> None:
        """``n`` cells become ``cls``, drawn with weights exp(score): change the fit
        can learn. Urban and water cells do not change."""
        cand = np.flatnonzero((flat != cls) & (flat != URBAN) & (flat != WATER))
        p = np.exp(score.ravel()[cand] - score.ravel()[cand].max())
        flat[rng.choice(cand, size=n, replace=False, p=p / p.sum())] = cls

    gain(URBAN, -core / 2.0, 80)
    gain(FOREST, (elev - 220) / 10.0, 50)
    gain(GRASS, -np.abs(elev - 170) / 10.0, 50)
    gain(CROP, -np.abs(elev - 120) / 30.0, 50)
    pond = after[50:55, 14:19]
    pond[pond != URBAN] = WATER  # a pond dug beside the river
    for m in (before, after):
        m[0, :3] = NODATA
        m[-1, -2:] = NODATA
    return before, after, elev


@dataclass
class Region:
    folder: Path
    before: np.ndarray
    after: np.ndarray
    paths: dict[str, Path] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {c["name"]: int((self.after == c["code"]).sum()) for c in CLASSES}


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Region:
    """The rasters, written once: the cases only read them."""
    import rasterio
    from rasterio.transform import from_origin

    folder = tmp_path_factory.mktemp("multiclass") / "rasters"
    folder.mkdir()
    before, after, elev = _maps()
    r = Region(folder, before, after)
    r.paths["before"] = write_raster(folder / "mc_2015.tif", before, nodata=NODATA)
    r.paths["landuse"] = write_raster(folder / "mc_2020.tif", after, nodata=NODATA)
    r.paths["elev"] = write_raster(folder / "mc_elev.tif", elev, nodata=-9999.0)
    flat = np.full(SHAPE, 7.0, dtype=np.float32)
    r.paths["flat"] = write_raster(folder / "flat.tif", flat, nodata=-9999.0)
    r.paths["flat2"] = write_raster(folder / "flat2.tif", flat - 4, nodata=-9999.0)
    empty = np.full(SHAPE, -9999.0, dtype=np.float32)
    r.paths["empty"] = write_raster(folder / "empty.tif", empty, nodata=-9999.0)
    # The 2015 map one cell east: same size and CRS, another grid.
    shifted = from_origin(ORIGIN[0] + CELL, ORIGIN[1], CELL, CELL)
    r.paths["shifted"] = write_raster(
        folder / "shifted_2015.tif", before, nodata=NODATA, transform=shifted
    )
    # A five-band suitability raster whose bands say "grass", not "grassland".
    profile = {
        "driver": "GTiff",
        "height": SHAPE[0],
        "width": SHAPE[1],
        "count": len(CLASSES),
        "dtype": "float32",
        "crs": "EPSG:32649",
        "transform": from_origin(*ORIGIN, CELL, CELL),
    }
    r.paths["bands"] = folder / "bands.tif"
    with rasterio.open(r.paths["bands"], "w", **profile) as ds:
        ds.write(np.full((len(CLASSES), *SHAPE), 0.5, dtype=np.float32))
        for i, name in enumerate(["cropland", "forest", "grass", "urban", "water"]):
            ds.set_band_description(i + 1, name)
    assert int((after != NODATA).sum()) == VALID_CELLS
    assert int((after == URBAN).sum()) == URBAN_CELLS
    assert int(((before != CROP) & (after == CROP)).sum()) == CROPLAND_GAINED
    for c in CLASSES:  # every class gained cells: each can be fitted
        assert int(((before != c["code"]) & (after == c["code"])).sum()) >= 25
    return r


def scenario_dict(r: Region, over: dict[str, Any] | None = None) -> dict[str, Any]:
    """The valid multi-class scenario (absolute paths), with ``over`` merged in."""
    base = {
        "schema_version": 1,
        "name": "synthetic-multiclass",
        "simulation": {
            "start_year": 2020,
            "end_year": 2030,
            "output_years": [2025, 2030],
            "seed": 3,
        },
        "classes": copy.deepcopy(CLASSES),
        "inputs": {
            "landuse": str(r.paths["landuse"]),
            "drivers": {"elev": str(r.paths["elev"])},
            "derived": {
                "dist_urban": {"kind": "distance_to_class", "classes": ["urban"]},
                "slope": {"kind": "slope", "source": "elev"},
            },
        },
        "suitability": {
            "method": "fit",
            "before": str(r.paths["before"]),
            "min_changed": 10,
            "sample_size": 2000,
        },
        "demand": {"method": "markov", "maps": {2015: str(r.paths["before"])}, "fixed": ["water"]},
        "conversion": {"allowed": ALLOWED},
        "model": {"kind": "multiclass", "neighborhood_radius": 1},
    }
    return deep_merge(base, over or {})


def write_scenario(
    r: Region, folder: Path, over: dict[str, Any] | None = None, name: str = "scenario.toml"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(to_toml(scenario_dict(r, over)), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- overrides
# An override is a dict merged into the valid scenario, or a function of (region,
# scenario folder) returning one (for files it writes, such as demand tables).

Over = dict[str, Any] | Callable[[Region, Path], dict[str, Any]]

# The scenario as an urban-growth one (kind urban_ca): what the kind mix-ups start from.
URBAN_CA: dict[str, Any] = {
    "model": {"kind": "urban_ca"},
    "conversion": DELETE,
    "suitability": {
        "method": "uniform",
        "before": DELETE,
        "min_changed": DELETE,
        "sample_size": DELETE,
    },
    "demand": {
        "method": "targets",
        "unit": "cells",
        "urban": {2020: URBAN_CELLS, 2030: URBAN_CELLS + 57},
        "maps": DELETE,
        "fixed": DELETE,
    },
    "inputs": {"derived": DELETE},
}
RASTER_KEYS = {"method": "raster", "before": DELETE, "min_changed": DELETE, "sample_size": DELETE}


def _table(name: str, rows: Callable[[dict[str, int]], list[tuple[int, str, float]]]) -> Over:
    """``[demand] method = "table"`` on a CSV ``year,class,value`` written by ``rows``
    from the start map's class counts."""

    def over(r: Region, folder: Path) -> dict[str, Any]:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        lines = ["year,class,value"] + [f"{y},{c},{v}" for y, c, v in rows(r.counts())]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        demand = {"method": "table", "path": str(path), "maps": DELETE, "fixed": DELETE}
        return {"demand": demand}

    return over


def _end(counts: dict[str, int], year: int = 2030) -> list[tuple[int, str, float]]:
    """Every class at the start map's count in ``year`` (a table that sums right)."""
    return [(year, c, v) for c, v in counts.items()]


def _plus(cls: str, extra: float) -> Callable[[dict[str, int]], list[tuple[int, str, float]]]:
    return lambda n: [(y, c, v + (extra if c == cls else 0)) for y, c, v in _end(n)]


def _drivers(**paths: str) -> Over:
    """Drivers added beside elev: name = key of ``Region.paths``."""

    def over(r: Region, folder: Path) -> dict[str, Any]:
        return {"inputs": {"drivers": {n: str(r.paths[k]) for n, k in paths.items()}}}

    return over


def _resolve(over: Over, r: Region, folder: Path) -> dict[str, Any]:
    return over(r, folder) if callable(over) else over


# --------------------------------------------------------------------------- the catalogue

ENTRIES = ("run", "validate")


@dataclass(frozen=True)
class Case:
    over: Over
    needles: tuple[str, ...]  # what, where (key or file) and how to fix, each in the line
    code: int
    # Entry points that do not refuse the case the catalogue's way (yet): strict xfail.
    gaps: tuple[tuple[str, str], ...] = ()


def _path(key: str) -> Over:
    """An override that points one path key at a region raster: ``demand.maps`` or
    ``suitability.before`` at the shifted map."""

    def over(r: Region, folder: Path) -> dict[str, Any]:
        if key == "demand.maps":
            return {"demand": {"maps": {2015: str(r.paths["shifted"])}}}
        return {"suitability": {"before": str(r.paths["shifted"])}}

    return over


def _bands(r: Region, folder: Path) -> dict[str, Any]:
    return {"suitability": {**RASTER_KEYS, "path": str(r.paths["bands"])}}


def _fit_keys_with_raster(r: Region, folder: Path) -> dict[str, Any]:
    # min_changed and sample_size stay: fit keys under method raster.
    return {"suitability": {"method": "raster", "before": DELETE, "path": str(r.paths["bands"])}}


def _features_missing(r: Region, folder: Path) -> dict[str, Any]:
    roads = {"kind": "distance_to_features", "path": str(r.folder / "roads.tif")}
    return {"inputs": {"derived": {"dist_roads": roads}}}


def _every_driver_bad(r: Region, folder: Path) -> dict[str, Any]:
    drivers = {"elev": DELETE, "flat": str(r.paths["flat"]), "flat2": str(r.paths["flat2"])}
    return {"inputs": {"drivers": drivers, "derived": DELETE}}


ROW_ORDER = "in [[classes]] order: cropland, forest, grassland, urban, water"
NO_FOREST_SOURCE = [[1, 0, 1, 1, 1]] * 3 + [[0, 0, 0, 1, 0], [1, 0, 1, 1, 1]]

CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- [conversion]
    "conversion-too-few-rows": Case(
        {"conversion": {"allowed": ALLOWED[:4]}},
        ("[conversion.allowed]", "must be 5 × 5", ROW_ORDER, "got 4 rows", "scenario.toml"),
        2,
    ),
    "conversion-short-row": Case(
        {"conversion": {"allowed": [ALLOWED[0][:4], *ALLOWED[1:]]}},
        ("[conversion.allowed]", "must be 5 × 5", "got 5 rows of [4, 5] columns"),
        2,
    ),
    "conversion-urban-reverts": Case(
        {"conversion": {"allowed": [*ALLOWED[:3], [1, 0, 0, 1, 0], ALLOWED[4]]}},
        ("[conversion.allowed]", "row urban", "become cropland", "never reverts", "set that row"),
        2,
    ),
    "conversion-no-source-for-a-growing-class": Case(
        # Nothing may become forest, and the Markov chain grows forest.
        {"conversion": {"allowed": NO_FOREST_SOURCE}},
        ("class forest grows", "no shrinking class", "allow a source in [conversion] allowed"),
        1,
    ),
    # ---------------------------------------------------------------- [demand] table
    "table-sum-off-by-more-than-0.1-percent": Case(
        _table("sum.csv", _plus("cropland", 10)),
        (
            "sum.csv",
            "demands for 2030 sum to 3,605 cells",
            "valid area is 3,595 cells",
            "within 0.1 %",
            "fix the table",
        ),
        1,
    ),
    "table-missing-class": Case(
        _table("missing.csv", lambda n: _end(n)[:-1]),
        ("missing.csv", "year 2030 has no row for class water", "give every class at every year"),
        1,
    ),
    "table-unknown-class": Case(
        _table("unknown.csv", lambda n: [*_end(n), (2030, "wetland", 0)]),
        (
            "unknown.csv, line 7",
            "unknown class 'wetland'",
            "give a class name or code of [[classes]]",
        ),
        1,
    ),
    "table-ends-before-end-year": Case(
        _table("short.csv", lambda n: _end(n, 2025)),
        ("short.csv", "ends in 2025", "the run goes to 2030", "add rows for 2030"),
        1,
    ),
    # ---------------------------------------------------------------- drivers and fit
    "every-driver-bad": Case(
        _every_driver_bad,
        (
            "[suitability] no usable driver",
            "flat is constant (7)",
            "flat2 is constant (3)",
            "give at least one driver that varies",
        ),
        1,
    ),
    "fit-on-too-few-changed-cells": Case(
        {"suitability": {"min_changed": 5000}},
        (
            "[suitability]",
            f"class cropland: only {CROPLAND_GAINED} cells became cropland",
            "min_changed is 5000",
            "lower min_changed",
        ),
        1,
    ),
    # ---------------------------------------------------------------- keys of the other kind
    "patch-seed-share-with-urban-ca": Case(
        deep_merge(URBAN_CA, {"model": {"patch_seed_share": 0.2}}),
        ("[model] patch_seed_share", "only used with kind = 'multiclass'", "not 'urban_ca'"),
        2,
    ),
    "neighborhood-floor-with-multiclass": Case(
        {"model": {"neighborhood_floor": 0.1}},
        ("[model] neighborhood_floor", "only used with kind = 'urban_ca'", "not 'multiclass'"),
        2,
    ),
    "markov-demand-with-urban-ca": Case(
        lambda r, f: deep_merge(
            URBAN_CA,
            {
                "demand": {
                    "method": "markov",
                    "maps": {2015: str(r.paths["before"])},
                    "unit": DELETE,
                    "urban": DELETE,
                }
            },
        ),
        ("[demand.method] 'markov'", "needs [model] kind = 'multiclass'"),
        2,
    ),
    "logistic-suitability-with-multiclass": Case(
        {
            "suitability": {
                **RASTER_KEYS,
                "method": "logistic",
                "coefficients": {"elev": 0.1},
            }
        },
        ("[suitability.method] 'logistic'", "a multi-class model needs 'fit', 'raster'"),
        2,
    ),
    "fit-keys-with-method-raster": Case(
        _fit_keys_with_raster,
        ("[suitability]", "min_changed, sample_size only used with method 'fit'"),
        2,
    ),
    # ---------------------------------------------------------------- suitability raster
    "raster-band-names-not-the-classes": Case(
        _bands,
        (
            "[suitability.path]",
            "bands.tif",
            "has bands [cropland, forest, grass, urban, water]",
            "classes are [cropland, forest, grassland, urban, water]",
            "name the bands after them",
        ),
        1,
    ),
    # ---------------------------------------------------------------- [inputs.derived]
    "derived-slope-source-not-a-driver": Case(
        {"inputs": {"derived": {"slope": {"source": "dem"}}}},
        ("[inputs.derived.slope.source]", "must name a DEM in [inputs.drivers]", "drivers: elev"),
        2,
    ),
    "derived-distance-to-unknown-class": Case(
        {"inputs": {"derived": {"dist_x": {"kind": "distance_to_class", "classes": ["wetland"]}}}},
        ("[inputs.derived.dist_x.classes]", "'wetland'", "neither a class name nor a role"),
        2,
    ),
    "derived-features-file-missing": Case(
        _features_missing,
        ("[inputs.derived.dist_roads.path]", "file not found", "roads.tif"),
        1,
    ),
    "derived-name-is-also-a-driver": Case(
        {"inputs": {"derived": {"elev": {"kind": "distance_to_class", "classes": ["water"]}}}},
        ("[inputs.derived.elev] is also in [inputs.drivers]", "give it once"),
        2,
    ),
    # ---------------------------------------------------------------- earlier maps
    "demand-map-on-another-grid": Case(
        _path("demand.maps"),
        ("[demand.maps.2015]", "shifted_2015.tif", "transform differs", "resample it onto"),
        1,
    ),
    "suitability-before-on-another-grid": Case(
        _path("suitability.before"),
        ("[suitability.before]", "shifted_2015.tif", "transform differs", "resample it onto"),
        1,
    ),
}


def _params() -> list[Any]:
    out = []
    for name, case in CASES.items():
        gaps = dict(case.gaps)
        for entry in ENTRIES:
            marks = [pytest.mark.xfail(strict=True, reason=gaps[entry])] if entry in gaps else []
            out.append(pytest.param(name, entry, id=f"{name}-{entry}", marks=marks))
    return out


PARAMS = _params()


def _args(entry: str, scenario: Path, out: Path) -> list[Any]:
    return {"run": ["run", scenario, "-o", out], "validate": ["validate", scenario]}[entry]


@pytest.mark.parametrize(("name", "entry"), PARAMS)
def test_bad_multiclass_input_is_refused(
    name: str, entry: str, region: Region, tmp_path: Path
) -> None:
    case = CASES[name]
    folder = tmp_path / "scenario"
    scenario = write_scenario(region, folder, _resolve(case.over, region, folder))
    out = tmp_path / "out"
    refuses(
        _args(entry, scenario, out),
        *case.needles,
        code=case.code,
        outputs=[out],
        inputs=[folder, region.folder],
    )


# The cases above differ from a scenario that validates by their one defect.
CONTROLS: dict[str, Over] = {
    "the-scenario": {},
    "as-urban-ca": URBAN_CA,
    "table-that-sums-right": _table("good.csv", _end),
    "table-off-by-less-than-0.1-percent": _table("close.csv", _plus("cropland", 3)),
    "raster-with-the-classes-bands": {},  # written in the test from a fit
}


@pytest.mark.parametrize("name", list(CONTROLS))
def test_controls_validate(name: str, region: Region, tmp_path: Path) -> None:
    folder = tmp_path / "scenario"
    over = _resolve(CONTROLS[name], region, folder)
    if name == "raster-with-the-classes-bands":
        from landsim.io.raster import read_landuse
        from landsim.suitability.fit import FittedSuitability, write_fitted

        _, grid = read_landuse(region.paths["landuse"], [c["code"] for c in CLASSES])
        suit = np.full((len(CLASSES), *SHAPE), 0.5, dtype=np.float32)
        fitted = FittedSuitability(
            [c["code"] for c in CLASSES], NAMES, suit, "logistic", ["elev"], {}, {}
        )
        folder.mkdir()
        write_fitted(folder / "suit.tif", fitted, grid)
        over = {"suitability": {**RASTER_KEYS, "path": str(folder / "suit.tif")}}
    scenario = write_scenario(region, folder, over)
    r = invoke(_runner(), "validate", scenario)
    assert r.exit_code == 0, r.output
    assert "valid" in r.stdout


def _runner() -> Any:
    from click.testing import CliRunner

    return CliRunner()


# --------------------------------------------------------------------------- warnings, not errors


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING: ")]


@pytest.mark.parametrize("entry", ENTRIES)
def test_constant_driver_is_dropped_with_a_warning(
    entry: str, region: Region, tmp_path: Path
) -> None:
    folder = tmp_path / "scenario"
    scenario = write_scenario(region, folder, _resolve(_drivers(flat="flat"), region, folder))
    out = tmp_path / "out"
    r = invoke(_runner(), *_args(entry, scenario, out))
    assert r.exit_code == 0, r.output
    assert "error:" not in r.stderr and "Traceback" not in r.output
    (line,) = [w for w in _warnings(r.stderr) if "flat" in w]
    assert "[suitability] driver flat is constant (7)" in line and "left out of the fit" in line
    if entry == "run":
        fit = json.loads((out / "suitability_fit.json").read_text(encoding="utf-8"))
        assert "flat" in fit["dropped_drivers"] and "flat" not in fit["drivers"]
        assert fit["drivers"] == ["elev", "dist_urban", "slope"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_all_nodata_driver_is_dropped_with_a_warning(
    entry: str, region: Region, tmp_path: Path
) -> None:
    folder = tmp_path / "scenario"
    scenario = write_scenario(region, folder, _resolve(_drivers(empty="empty"), region, folder))
    out = tmp_path / "out"
    r = invoke(_runner(), *_args(entry, scenario, out))
    assert r.exit_code == 0, r.output
    (line,) = [w for w in _warnings(r.stderr) if "empty" in w]
    assert "[suitability] driver empty has no value" in line and "left out of the fit" in line


@pytest.mark.parametrize("entry", ENTRIES)
def test_too_few_changed_cells_with_too_few_constant_runs_with_a_warning(
    entry: str, region: Region, tmp_path: Path
) -> None:
    folder = tmp_path / "scenario"
    over = {"suitability": {"min_changed": 45, "too_few": "constant"}}
    scenario = write_scenario(region, folder, over)
    out = tmp_path / "out"
    r = invoke(_runner(), *_args(entry, scenario, out))
    assert r.exit_code == 0, r.output
    warned = _warnings(r.stderr)
    # cropland (44), grassland and water gained fewer than 45 cells.
    for cname in ("cropland", "grassland", "water"):
        (line,) = [w for w in warned if f"class {cname}: only" in w]
        assert "min_changed is 45" in line and "its suitability is constant" in line
    assert not [w for w in warned if "class urban" in w or "class forest" in w]
    if entry == "run":
        fit = json.loads((out / "suitability_fit.json").read_text(encoding="utf-8"))
        status = {k: v["status"] for k, v in fit["training"].items()}
        assert status == {
            "cropland": "too_few_changed",
            "forest": "fitted",
            "grassland": "too_few_changed",
            "urban": "fitted",
            "water": "too_few_changed",
        }


# --------------------------------------------------------------------------- a valid run


@pytest.fixture(scope="module")
def fit_run(region: Region, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The valid scenario run once through ``landsim run`` (method "fit")."""
    folder = tmp_path_factory.mktemp("fit_run")
    scenario = write_scenario(region, folder)
    out = folder / "out"
    r = invoke(_runner(), "run", scenario, "-o", out)
    assert r.exit_code == 0, r.output
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_valid_multiclass_scenario_runs_end_to_end(fit_run: Path) -> None:
    for name in (
        "landuse_2025.tif",
        "landuse_2030.tif",
        "demand.csv",
        "transitions.csv",
        "suitability_fit.json",
        "suitability_contributions.csv",
    ):
        assert (fit_run / name).is_file(), name
    demand = _rows(fit_run / "demand.csv")
    assert {int(r["year"]) for r in demand} == set(range(2021, 2031))
    assert {r["class_name"] for r in demand} == set(NAMES)
    assert all(r["within_tolerance"] == "yes" for r in demand), demand
    urban = [r for r in demand if r["class_name"] == "urban"]
    assert all(int(r["error_cells"]) == 0 for r in urban)
    assert int(urban[-1]["demand_cells"]) > int(urban[0]["demand_cells"])  # urban grows
    # Water is held (fixed), and no cell is converted from urban.
    water = [r for r in demand if r["class_name"] == "water"]
    assert len({r["demand_cells"] for r in water}) == 1
    moves = _rows(fit_run / "transitions.csv")
    assert moves and not [m for m in moves if m["from_class"] == "urban"]
    fit = json.loads((fit_run / "suitability_fit.json").read_text(encoding="utf-8"))
    assert fit["drivers"] == ["elev", "dist_urban", "slope"]
    assert all(t["status"] == "fitted" and 0.5 < t["auc"] <= 1 for t in fit["training"].values())
    contributions = _rows(fit_run / "suitability_contributions.csv")
    assert {r["class"] for r in contributions} == set(NAMES)
    for cname in NAMES:
        shares = [float(r["contribution"]) for r in contributions if r["class"] == cname]
        assert len(shares) == 3 and abs(sum(shares) - 1) < 1e-5


def test_valid_multiclass_scenario_runs_as_an_ensemble(region: Region, tmp_path: Path) -> None:
    """``landsim run --members 3`` (the dask path), as a user types it."""
    scenario = write_scenario(region, tmp_path / "scenario")
    out = tmp_path / "ens"
    done = subprocess.run(
        [landsim_exe(), "run", str(scenario), "--members", "3", "--workers", "1", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "3 members" in done.stdout
    members = sorted(p.name for p in (out / "members").glob("member_*.nc"))
    assert members == ["member_00000.nc", "member_00001.nc", "member_00002.nc"]
    for year in (2025, 2030):
        assert (out / f"probability_{year}.tif").is_file()


# --------------------------------------------------------------------------- fit-suitability


def test_fit_suitability_then_raster_runs_to_the_same_bytes(
    region: Region, fit_run: Path, tmp_path: Path
) -> None:
    from landsim.suitability.fit import read_fitted

    scenario = write_scenario(region, tmp_path / "scenario")
    out_tif = tmp_path / "fit" / "suit.tif"
    r = invoke(_runner(), "fit-suitability", scenario, "-o", out_tif)
    assert r.exit_code == 0, r.output
    assert "error" not in r.stderr
    # The table: a row per class with its held-out AUC and top 3 drivers.
    fit = json.loads((fit_run / "suitability_fit.json").read_text(encoding="utf-8"))
    for cname in NAMES:
        (line,) = [x for x in r.stdout.splitlines() if x.strip().startswith(cname + " ")]
        assert f"{fit['training'][cname]['auc']:.3f}" in line
        top = sorted(fit["contributions"][cname].items(), key=lambda kv: -kv[1])[:3]
        assert ", ".join(f"{d} {v:.2f}" for d, v in top) in line
    sidecar = out_tif.with_suffix(".json")
    contributions = tmp_path / "fit" / "suit_contributions.csv"
    assert str(out_tif) in r.stdout and str(contributions) in r.stdout
    # What the run reports of its fit, the command writes: the same bytes.
    assert sidecar.read_bytes() == (fit_run / "suitability_fit.json").read_bytes()
    assert contributions.read_bytes() == (fit_run / "suitability_contributions.csv").read_bytes()
    suit, bands, meta = read_fitted(out_tif, class_names=NAMES)
    assert bands == NAMES and meta["class_codes"] == [c["code"] for c in CLASSES]
    assert suit.shape == (len(CLASSES), *SHAPE) and suit.min() >= 0 and suit.max() <= 1

    raster = write_scenario(
        region,
        tmp_path / "scenario",
        {"suitability": {**RASTER_KEYS, "path": str(out_tif)}},
        name="raster.toml",
    )
    out = tmp_path / "raster_run"
    r = invoke(_runner(), "run", raster, "-o", out)
    assert r.exit_code == 0, r.output
    for name in ("landuse_2025.tif", "landuse_2030.tif", "demand.csv", "transitions.csv"):
        assert (out / name).read_bytes() == (fit_run / name).read_bytes(), name
    assert not (out / "suitability_fit.json").exists()  # nothing fitted this time


def test_fit_suitability_random_forest_same_bytes_for_any_jobs(
    region: Region, tmp_path: Path
) -> None:
    from landsim.suitability.fit import read_fitted

    scenario = write_scenario(region, tmp_path / "scenario")
    files = {}
    for jobs in (1, 2):
        out = tmp_path / f"rf{jobs}.tif"
        r = invoke(
            _runner(),
            "fit-suitability",
            scenario,
            "-o",
            out,
            "--model",
            "random_forest",
            "--trees",
            "5",
            "--jobs",
            jobs,
        )
        assert r.exit_code == 0, r.output
        assert "random_forest, 5 trees" in r.stdout
        files[jobs] = out
    # The same maps and sidecar (the files differ only in the sidecar's name in a tag).
    maps = [read_fitted(f, class_names=NAMES)[0] for f in files.values()]
    assert np.array_equal(maps[0], maps[1])
    sidecars = [f.with_suffix(".json").read_bytes() for f in files.values()]
    assert sidecars[0] == sidecars[1]
    meta = json.loads(files[1].with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["model"] == "random_forest" and meta["settings"]["trees"] == 5
    # --overwrite replaces an earlier fit.
    r = invoke(_runner(), "fit-suitability", scenario, "-o", files[1], "--overwrite")
    assert r.exit_code == 0, r.output
    meta = json.loads(files[1].with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["model"] == "logistic"


def _fit_refusal_args(r: Region, folder: Path, case: str) -> tuple[list[Any], list[Path]]:
    """(arguments, outputs that must stay as they were) of a refused fit-suitability."""
    out = folder / "suit.tif"
    scenario = write_scenario(r, folder)
    if case == "urban-ca-scenario":
        scenario = write_scenario(r, folder, URBAN_CA)
    elif case == "method-raster":
        scenario = write_scenario(r, folder, _bands(r, folder))
    elif case == "output-exists":
        out.write_bytes(b"an earlier fit")
    elif case == "sidecar-exists":
        out.with_suffix(".json").write_text("{}", encoding="utf-8")
    elif case == "output-is-an-input":
        return ["fit-suitability", scenario, "-o", r.paths["before"], "--overwrite"], [
            r.paths["before"],
            r.paths["before"].with_suffix(".json"),
        ]
    elif case == "trees-with-logistic":
        return ["fit-suitability", scenario, "-o", out, "--trees", 5], [out]
    elif case == "not-a-tif":
        out = folder / "suit.png"
    elif case == "too-few-changed":
        scenario = write_scenario(r, folder, {"suitability": {"min_changed": 5000}})
    side = [out.with_suffix(".json"), out.with_name(f"{out.stem}_contributions.csv")]
    return ["fit-suitability", scenario, "-o", out], [out, *side]


FIT_REFUSALS: dict[str, tuple[tuple[str, ...], int]] = {
    "urban-ca-scenario": (
        ("scenario.toml", "[model] kind is 'urban_ca'", 'set [model] kind = "multiclass"'),
        2,
    ),
    "method-raster": (
        ("scenario.toml", "[suitability] method is 'raster'", 'needs method = "fit"'),
        2,
    ),
    "output-exists": (("suit.tif already exists", "pass --overwrite to replace it"), 1),
    "sidecar-exists": (("suit.json already exists", "pass --overwrite"), 1),
    "output-is-an-input": (("mc_2015.tif is an input of the scenario", "choose another -o"), 1),
    "trees-with-logistic": (("--trees 5", "random forest only", "--model random_forest"), 2),
    "not-a-tif": (("suit.png", "ending in .tif"), 1),
    "too-few-changed": (("[suitability]", "min_changed is 5000", "lower min_changed"), 1),
}


@pytest.mark.parametrize("case", list(FIT_REFUSALS))
def test_fit_suitability_refuses(case: str, region: Region, tmp_path: Path) -> None:
    folder = tmp_path / "scenario"
    args, outputs = _fit_refusal_args(region, folder, case)
    needles, code = FIT_REFUSALS[case]
    refuses(args, *needles, code=code, outputs=outputs, inputs=[region.folder])


def test_catalogue_size(request: pytest.FixtureRequest) -> None:
    """How many refusals the module checked (runs last, in file order)."""
    here = request.node.module.__name__
    selected = [i for i in request.session.items if i.module.__name__ == here]
    if len(selected) < len(PARAMS) + len(FIT_REFUSALS):
        pytest.skip("only part of the module was selected")
    expected = sum(1 for p in PARAMS if not p.marks) + len(FIT_REFUSALS)
    print(f"multi-class catalogue: {len(CASES)} bad inputs, {expected} refusals")
    assert COUNT["refusals"] >= expected
