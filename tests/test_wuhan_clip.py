"""End to end on real data: a 200 × 200 clip of the Wuhan rasters, 2013 → 2020.

The window lies on the north-east edge of the study area, so it holds nodata cells as
well as town, farmland, red line and open water. Every layer is clipped with a windowed
read and its window transform, so the clip stays on one grid; the scenario is written
here, with the suitability coefficients fitted in ``rasters/wuhan/suitability_fit.json``.

The rasters are tracked in git: if they are missing the checkout is broken, and the
test fails saying so rather than skipping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from _landsim_kit import clip_raster, invoke, partial_dirs, sha256_tree, to_toml
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
WUHAN = ROOT / "rasters" / "wuhan"
WINDOW = Window(col_off=2200, row_off=300, width=200, height=200)
LAYERS = {
    "landuse": "wh2013_refy.tif",
    "water": "WaterWuhan.tif",
    "slope": "slope_deg.tif",
    "dist_urban": "dist_urban_2013_m.tif",
    "erl": "ecological_red_line_illustrative.tif",
    "pbf": "permanent_basic_farmland_illustrative.tif",
    "udb": "urban_development_boundary_illustrative.tif",
}
URBAN = 4
NEW_URBAN = 400
CLASSES = [
    (1, "grassland", "grassland"),
    (2, "deciduous_forest", "forest"),
    (3, "cropland", "cropland"),
    (4, "urban", "urban"),
    (5, "bare", "bare"),
    (6, "water", "water"),
    (7, "evergreen_forest", "forest"),
]


def _clip(src: Path, dst: Path) -> Any:
    return clip_raster(src, dst, WINDOW)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    missing = [name for name in LAYERS.values() if not (WUHAN / name).is_file()]
    assert not missing, f"rasters/wuhan is incomplete (missing {missing}); the checkout is broken"
    folder = tmp_path_factory.mktemp("wuhan_clip")
    arrays, transforms = {}, {}
    for key, name in LAYERS.items():
        arrays[key], transforms[key] = _clip(WUHAN / name, folder / name)
    assert len(set(transforms.values())) == 1, "the Wuhan layers are not on one grid"
    lu = arrays["landuse"]
    fit = json.loads((WUHAN / "suitability_fit.json").read_text(encoding="utf-8"))
    observed = int((lu == URBAN).sum())
    scenario: dict[str, Any] = {
        "schema_version": 1,
        "name": "wuhan-clip-test",
        "description": "200 x 200 clip of the Wuhan data; illustrative planning lines",
        "simulation": {
            "start_year": 2013,
            "end_year": 2020,
            "output_years": [2016, 2020],
            "seed": 2013,
        },
        "classes": [{"code": c, "name": n, "role": r} for c, n, r in CLASSES],
        "inputs": {
            "landuse": LAYERS["landuse"],
            "drivers": {
                "slope": LAYERS["slope"],
                "dist_urban": {"path": LAYERS["dist_urban"], "scale": 0.001},  # km
            },
        },
        "suitability": {
            "method": "logistic",
            "intercept": fit["intercept"],
            "coefficients": {k: fit["coefficients"][k] for k in ("slope", "dist_urban")},
        },
        "demand": {
            "method": "targets",
            "unit": "cells",
            "urban": {2013: observed, 2020: observed + NEW_URBAN},
        },
        "constraints": {
            "urban_development_boundary": {"path": LAYERS["udb"]},
            "permanent_basic_farmland": {"path": LAYERS["pbf"]},
            "ecological_red_line": {"path": LAYERS["erl"]},
            "water": {"path": LAYERS["water"], "inside": [0]},  # 0 = open water
        },
        "model": {"neighborhood_radius": 2, "neighborhood_floor": 0.02, "random_factor": 0.5},
    }
    path = folder / "wuhan_clip.toml"
    path.write_text(to_toml(scenario), encoding="utf-8")
    return {
        "folder": folder,
        "scenario": path,
        "arrays": arrays,
        "transform": transforms["landuse"],
        "observed": observed,
    }


def test_clip_is_a_real_test(clip: dict[str, Any]) -> None:
    """The window holds what the test is meant to exercise."""
    a = clip["arrays"]
    lu = a["landuse"]
    assert lu.dtype == np.int8  # the PLUS file's own type, nodata -128
    assert 1000 < int((lu == -128).sum()) < 20000
    assert clip["observed"] > 1000
    assert set(np.unique(lu[lu != -128]).tolist()) <= {c for c, _, _ in CLASSES}
    for key in ("udb", "pbf", "erl"):
        assert int((a[key] == 1).sum()) > 1000, key
    assert int((a["water"] == 0).sum()) > 1000


def test_wuhan_clip_end_to_end(clip: dict[str, Any], runner: Any) -> None:
    folder: Path = clip["folder"]
    a = clip["arrays"]
    lu0 = a["landuse"]
    before = sha256_tree(folder)
    r = invoke(runner, "validate", clip["scenario"])
    assert r.exit_code == 0, r.output
    assert "200 × 200 cells, EPSG:32649" in r.stdout

    out = folder.parent / "wuhan_clip_out"
    r = invoke(runner, "run", clip["scenario"], "-o", out)
    assert r.exit_code == 0, r.output
    assert "(0 cells break them)" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "landuse_2016.tif",
            "landuse_2020.tif",
            "landsim.nc",
            "summary.csv",
            "indicators.csv",
            "urban_year.tif",
            "compliance.json",
            "provenance.json",
        ]
    )
    assert sha256_tree(folder) == before, "the run changed its inputs"
    assert partial_dirs(out.parent) == []

    nodata_in = lu0 == -128
    maps = {}
    for year in (2016, 2020):
        with rasterio.open(out / f"landuse_{year}.tif") as ds:
            assert ds.crs.to_epsg() == 32649
            assert ds.transform == clip["transform"]
            assert ds.dtypes[0] == "uint8" and ds.nodata == 255
            assert ds.colormap(1)
            maps[year] = ds.read(1)
        m = maps[year]
        assert np.array_equal(m == 255, nodata_in)
        # Every cell that did not become urban keeps its 2013 class.
        kept = (m != URBAN) & ~nodata_in
        assert np.array_equal(m[kept].astype(np.int16), lu0[kept].astype(np.int16))
    final = maps[2020]
    new = (final == URBAN) & (lu0 != URBAN)
    assert int(new.sum()) == NEW_URBAN
    assert int((final == URBAN).sum()) == clip["observed"] + NEW_URBAN
    assert np.all(final[lu0 == URBAN] == URBAN)

    # The planning lines, checked on the maps themselves ...
    assert np.all(a["udb"][new] == 1)
    assert not np.any(a["pbf"][new] == 1)
    for key, inside in (("erl", a["erl"] == 1), ("water", a["water"] == 0)):
        inside &= ~nodata_in
        assert np.array_equal(final[inside].astype(np.int16), lu0[inside].astype(np.int16)), key
    # ... and as landsim reports them.
    comp = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    check = comp["final_check_from_maps"]
    assert {k: v["violations"] for k, v in check["lines"].items()} == {
        "urban_development_boundary": 0,
        "permanent_basic_farmland": 0,
        "ecological_red_line": 0,
        "water": 0,
    }
    assert comp["years"][-1]["new_urban_cells_cumulative"] == NEW_URBAN

    # summary.csv: every year, class counts add up to the valid cells, urban meets demand.
    import csv

    with (out / "summary.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    valid = int((~nodata_in).sum())
    years = list(range(2013, 2021))
    assert sorted({int(r["year"]) for r in rows}) == years
    for year in years:
        these = [r for r in rows if int(r["year"]) == year]
        assert len(these) == len(CLASSES)
        assert sum(int(r["cells"]) for r in these) == valid
        urban = next(int(r["cells"]) for r in these if r["class_name"] == "urban")
        assert urban == clip["observed"] + round(NEW_URBAN * (year - 2013) / 7)

    # The NetCDF stack holds the same maps.
    import xarray as xr

    with xr.open_dataset(out / "landsim.nc", engine="h5netcdf", mask_and_scale=False) as ds:
        assert ds["time"].values.tolist() == [2016, 2020]
        for year, m in maps.items():
            assert np.array_equal(ds["landuse"].sel(time=year).values, m)

    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["seed"] == 2013
    assert set(prov["inputs"]) == {
        "inputs.landuse",
        "inputs.drivers.slope",
        "inputs.drivers.dist_urban",
        "constraints.urban_development_boundary.path",
        "constraints.permanent_basic_farmland.path",
        "constraints.ecological_red_line.path",
        "constraints.water.path",
    }
