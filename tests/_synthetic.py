"""Small synthetic inputs for tests: GeoTIFFs on a tiny grid and scenario text.

Everything here is synthetic (file names say so) and deterministic, built from fixed
patterns and a fixed numpy seed, so tests depend on landsim alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

CRS = "EPSG:32649"
CELL = 30.0
ORIGIN = (759105.0, 3410337.0)
SHAPE = (40, 50)
CROPLAND, FOREST, WATER, URBAN = 1, 2, 3, 4


def write_tif(path: Path, data: np.ndarray, nodata: float | None = None, **kw: object) -> Path:
    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": kw.pop("crs", CRS),
        "transform": kw.pop("transform", from_origin(*ORIGIN, CELL, CELL)),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
    return path


def landuse_map(shape: tuple[int, int] = SHAPE, seed: int = 7) -> np.ndarray:
    """Cropland with a forest block, a river, an urban core and a few nodata cells."""
    ny, nx = shape
    lu = np.full(shape, CROPLAND, dtype=np.uint8)
    lu[: ny // 4, nx // 2 :] = FOREST
    lu[:, nx // 3] = WATER
    cy, cx = ny // 2, nx // 2 + 5
    yy, xx = np.mgrid[:ny, :nx]
    lu[(yy - cy) ** 2 + (xx - cx) ** 2 <= 16] = URBAN
    rng = np.random.default_rng(seed)
    lu[rng.random(shape) < 0.01] = URBAN  # scattered villages
    lu[0, :3] = 255
    lu[-1, -2:] = 255
    return lu


def write_inputs(folder: Path, shape: tuple[int, int] = SHAPE) -> dict[str, Path]:
    """Land use, planning layers and a driver for a tiny synthetic region."""
    folder.mkdir(parents=True, exist_ok=True)
    lu = landuse_map(shape)
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    cy, cx = ny // 2, nx // 2 + 5
    dist = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    udb = (dist <= 12).astype(np.uint8)
    pbf = ((xx < nx // 3 - 2) & (yy > ny // 2)).astype(np.uint8)
    erl = (lu == FOREST).astype(np.uint8)
    water = (lu == WATER).astype(np.uint8)
    slope = (np.abs(np.sin(yy / 5.0) * 10) + xx / 10.0).astype(np.float32)
    files = {
        "landuse": write_tif(folder / "synthetic_landuse_2020.tif", lu, nodata=255),
        "udb": write_tif(folder / "synthetic_udb.tif", udb, nodata=255),
        "pbf": write_tif(folder / "synthetic_pbf.tif", pbf, nodata=255),
        "erl": write_tif(folder / "synthetic_erl.tif", erl, nodata=255),
        "water": write_tif(folder / "synthetic_water.tif", water, nodata=255),
        "slope": write_tif(folder / "synthetic_slope.tif", slope, nodata=-9999.0),
    }
    return files


def urban_cells(folder: Path) -> int:
    with rasterio.open(folder / "synthetic_landuse_2020.tif") as ds:
        return int((ds.read(1) == URBAN).sum())


CLASSES = """
[[classes]]
code = 1
name = "cropland"
role = "cropland"

[[classes]]
code = 2
name = "forest"
role = "forest"

[[classes]]
code = 3
name = "water"
role = "water"

[[classes]]
code = 4
name = "urban"
role = "urban"
"""


def scenario_text(
    *,
    name: str = "synthetic-tiny",
    growth: int = 60,
    observed_urban: int | None = None,
    end_year: int = 2030,
    extra: str = "",
) -> str:
    """A complete scenario over the files of :func:`write_inputs` (same folder)."""
    start_urban = observed_urban if observed_urban is not None else 0
    return f"""schema_version = 1
name = "{name}"

[simulation]
start_year = 2020
end_year = {end_year}
output_years = [2025, {end_year}]
seed = 42
{CLASSES}
[inputs]
landuse = "synthetic_landuse_2020.tif"

[inputs.drivers]
slope = "synthetic_slope.tif"

[suitability]
method = "logistic"
intercept = 1.0
coefficients = {{ slope = -0.1 }}

[demand]
method = "targets"
unit = "cells"
urban = {{ 2020 = {start_urban}, {end_year} = {start_urban + growth} }}

[constraints.urban_development_boundary]
path = "synthetic_udb.tif"

[constraints.permanent_basic_farmland]
path = "synthetic_pbf.tif"

[constraints.ecological_red_line]
path = "synthetic_erl.tif"

[constraints.water]
path = "synthetic_water.tif"

[model]
neighborhood_radius = 1
random_factor = 0.5
{extra}"""


def make_scenario(folder: Path, **kw: object) -> Path:
    """Write inputs and a scenario into ``folder``; returns the scenario path."""
    write_inputs(folder)
    kw.setdefault("observed_urban", urban_cells(folder))
    path = folder / "scenario.toml"
    path.write_text(scenario_text(**kw), encoding="utf-8")  # type: ignore[arg-type]
    return path
