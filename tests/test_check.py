"""`landsim check` (the "one map" question for a site) and vector planning layers in a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _landsim_kit import (
    CELL,
    ORIGIN,
    URBAN,
    TinyGrid,
    cell_centre,
    check_json,
    invoke,
    write_cell_rectangle_geojson,
)


def test_point_in_farmland_is_never_allowed(tiny_grid: TinyGrid, runner: Any) -> None:
    scenario = tiny_grid.scenario()
    x, y = cell_centre(27, 26)  # the farmland block inside the boundary (三线冲突)
    r = check_json(runner, scenario, "--point", x, y)
    assert r["cells"] == 1
    assert r["lines"]["permanent_basic_farmland"]["cells_inside"] == 1
    assert r["lines"]["urban_development_boundary"]["cells_inside"] == 1
    assert all(p["may_become_urban_cells"] == 0 for p in r["periods"])
    assert "becomes_urban" not in r  # no run yet


def test_point_in_geographic_coordinates(tiny_grid: TinyGrid, runner: Any) -> None:
    from rasterio.warp import transform

    x, y = cell_centre(20, 25)
    lon, lat = transform("EPSG:32649", "EPSG:4326", [x], [y])
    r = check_json(runner, tiny_grid.scenario(), "--point", lon[0], lat[0], "--crs", "EPSG:4326")
    assert "row 20 col 25" in r["site"]


def test_after_a_run_it_says_when_the_site_became_urban(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    import rasterio

    scenario = tiny_grid.scenario()
    out = tmp_path / "run"
    assert invoke(runner, "run", scenario, "-o", out).exit_code == 0
    with rasterio.open(out / "urban_year.tif") as ds:
        years = ds.read(1)
    row, col = (int(v) for v in np.argwhere(years == 2027)[0])
    r = check_json(runner, scenario, "--point", *cell_centre(row, col), "--run", out)
    assert r["becomes_urban"] == {"2027": 1}
    # A plain-text answer says the same.
    text = invoke(runner, "check", scenario, "--point", *cell_centre(row, col), "--run", out)
    assert "2027: 1" in text.stdout and "line      permanent_basic_farmland: outside" in text.stdout


def test_polygon_site(tiny_grid: TinyGrid, runner: Any, tmp_path: Path) -> None:
    site = write_cell_rectangle_geojson(tmp_path / "site.geojson", (30, 2), (36, 8))
    r = check_json(runner, tiny_grid.scenario(), "--polygon", site)
    assert r["cells"] >= 36
    assert r["lines"]["permanent_basic_farmland"]["cells_inside"] == r["cells"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "either --point X Y or --polygon FILE"),
        (("--point", "0", "0"), "outside the land-use grid"),
        (("--point", "1", "2", "--crs", "EPSG:nonsense"), "is not a coordinate system"),
        (
            ("--point", str(ORIGIN[0] + 5), str(ORIGIN[1] - 5), "--run", "nowhere"),
            "no urban_year.tif",
        ),
    ],
)
def test_check_errors(tiny_grid: TinyGrid, runner: Any, args: tuple[str, ...], needle: str) -> None:
    r = invoke(runner, "check", tiny_grid.scenario(), *args)
    assert r.exit_code == 1, r.output
    assert needle in r.stderr and "Traceback" not in r.output


def test_run_of_another_scenario_is_refused(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert invoke(runner, "run", tiny_grid.scenario(), "-o", out).exit_code == 0
    other = tiny_grid.scenario({"name": "other"}, filename="other.toml")
    r = invoke(runner, "check", other, "--point", *cell_centre(20, 20), "--run", out)
    assert r.exit_code == 1 and "written by another scenario" in r.stderr


def test_boundary_as_polygons_in_another_crs(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    """A development boundary given as an EPSG:4326 GeoJSON: reprojected, said, reported."""
    from rasterio.warp import transform_geom

    x0, y0 = ORIGIN[0] + 20 * CELL, ORIGIN[1] - 10 * CELL
    x1, y1 = ORIGIN[0] + 44 * CELL, ORIGIN[1] - 30 * CELL
    square = {
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
    }
    geo = transform_geom("EPSG:32649", "EPSG:4326", square)
    path = tiny_grid.folder / "udb_epsg4326.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {"zone": 1}, "geometry": geo}],
            }
        ),
        encoding="utf-8",
    )
    overrides = {
        "constraints": {
            "urban_development_boundary": {"path": "udb_epsg4326.geojson", "attribute": "zone"}
        }
    }
    out = tmp_path / "out"
    r = invoke(runner, "run", tiny_grid.scenario(overrides), "-o", out)
    assert r.exit_code == 0, r.output
    assert "reprojected to the grid's EPSG:32649" in r.stderr
    comp = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    udb = comp["lines"]["urban_development_boundary"]
    report = udb["rasterized_from_vector"]
    assert report["polygon_area_km2"] == pytest.approx(24 * 20 * CELL * CELL / 1e6, rel=1e-3)
    assert udb["cells_inside"] == pytest.approx(24 * 20, abs=4)
    assert comp["final_check_from_maps"]["lines"]["urban_development_boundary"]["violations"] == 0
    import rasterio

    with rasterio.open(out / "urban_year.tif") as ds:
        new = (ds.read(1) > 2020) & (tiny_grid.landuse != URBAN)
    rows, cols = np.nonzero(new)
    assert rows.min() >= 10 and rows.max() < 30 and cols.min() >= 20 and cols.max() < 44
