"""Helpers for the scenario, I/O, CLI and golden tests (fixtures are in conftest.py).

A module of its own, imported as ``from _landsim_kit import ...``: importing helpers from
``conftest`` breaks as soon as a sub-folder (tests/kernels, tests/properties) gets its
own conftest.py, because pytest then swaps ``sys.modules["conftest"]``.

Everything here is synthetic and built from fixed patterns (no randomness), so tests
depend on landsim only.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# --------------------------------------------------------------------------- the grid

CRS = "EPSG:32649"
CELL = 30.0
ORIGIN = (500_000.0, 3_400_000.0)  # west, north
SHAPE = (40, 50)
NODATA = 255
CROPLAND, FOREST, WATER, URBAN = 1, 2, 3, 4
CORE = (20, 32)  # centre of the urban core (row, col)

CLASSES: list[dict[str, Any]] = [
    {"code": CROPLAND, "name": "cropland", "role": "cropland", "color": "#f5e07a"},
    {"code": FOREST, "name": "forest", "role": "forest"},
    {"code": WATER, "name": "water", "role": "water"},
    {"code": URBAN, "name": "urban", "role": "urban", "color": "#d7191c"},
]

LANDUSE_FILE = "synthetic_landuse.tif"
LAYER_FILES = {
    "landuse": LANDUSE_FILE,
    "udb": "udb.tif",
    "pbf": "pbf.tif",
    "erl": "erl.tif",
    "water": "water.tif",
    "slope": "slope.tif",
}


class _Delete:
    """Sentinel for scenario overrides: remove the key (survives deepcopy)."""

    def __repr__(self) -> str:
        return "DELETE"

    def __copy__(self) -> _Delete:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Delete:
        return self


DELETE = _Delete()


def grid_transform(origin: tuple[float, float] = ORIGIN, cell: float = CELL) -> Any:
    from rasterio.transform import from_origin

    return from_origin(origin[0], origin[1], cell, cell)


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    nodata: float | None = None,
    crs: Any = CRS,
    transform: Any = None,
) -> Path:
    """Write a one-band GeoTIFF (default: on the tiny grid)."""
    import rasterio

    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform if transform is not None else grid_transform(),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
    return path


def synthetic_arrays(shape: tuple[int, int] = SHAPE) -> dict[str, np.ndarray]:
    """The tiny region: cropland, a forest block, a river, an urban core, nodata corners."""
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    dist = np.hypot(yy - CORE[0], xx - CORE[1])
    lu = np.full(shape, CROPLAND, dtype=np.uint8)
    lu[:10, 30:] = FOREST
    lu[:, 15] = WATER
    lu[dist <= 4] = URBAN
    for r, c in ((5, 5), (35, 8), (30, 45)):  # villages
        lu[r, c] = URBAN
    lu[0, :3] = NODATA
    lu[-1, -3:] = NODATA
    udb = (dist <= 11).astype(np.uint8)
    pbf = np.zeros(shape, dtype=np.uint8)
    pbf[25:, :13] = 1  # large farmland far from town
    pbf[26:32, 22:28] = 1  # a farmland block inside the development boundary
    erl = (lu == FOREST).astype(np.uint8)
    water = (lu == WATER).astype(np.uint8)
    slope = (np.abs(np.sin(yy / 5.0)) * 10.0 + xx / 10.0).astype(np.float32)
    return {"landuse": lu, "udb": udb, "pbf": pbf, "erl": erl, "water": water, "slope": slope}


# --------------------------------------------------------------------------- TOML

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: Any) -> str:
    k = str(k)
    return k if _BARE.match(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        return json.dumps(str(v), ensure_ascii=False)
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, Iterable):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def to_toml(data: Mapping[str, Any]) -> str:
    """A small TOML writer: enough for scenario files (tables, arrays of tables).

    A table keyed by years (``{2020 = 5, 2030 = 9}``) is written inline.
    """
    out: list[str] = []
    _table_simple(data, "", None, out)
    return "\n".join(out).lstrip("\n") + "\n"


def _inline_years(v: Any) -> bool:
    return isinstance(v, Mapping) and bool(v) and all(isinstance(x, int) for x in v)


def _table_simple(tbl: Mapping[str, Any], prefix: str, header: str | None, out: list[str]) -> None:
    if header is not None:
        out.append("")
        out.append(header)
    for k, v in tbl.items():
        if _inline_years(v) or (not isinstance(v, Mapping) and not _is_table_array(v)):
            out.append(f"{_key(k)} = {_value(v)}")
    for k, v in tbl.items():
        name = f"{prefix}{_key(k)}"
        if isinstance(v, Mapping) and not _inline_years(v):
            _table_simple(v, f"{name}.", f"[{name}]", out)
        elif _is_table_array(v):
            for item in v:
                _table_simple(item, f"{name}.", f"[[{name}]]", out)


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``over`` merged in; ``DELETE`` removes a key."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is DELETE:
            out.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(out.get(k), dict) and not _inline_years(v):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = _without_delete(copy.deepcopy(v))
    return out


def _without_delete(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _without_delete(x) for k, x in v.items() if x is not DELETE}
    if isinstance(v, list):
        return [_without_delete(x) for x in v]
    return v


def base_scenario(observed_urban: int, growth: int = 60, name: str = "synthetic-tiny") -> dict:
    """The tiny scenario as a dict (paths relative to the rasters' folder)."""
    return {
        "schema_version": 1,
        "name": name,
        "simulation": {
            "start_year": 2020,
            "end_year": 2030,
            "output_years": [2025, 2030],
            "seed": 7,
        },
        "classes": copy.deepcopy(CLASSES),
        "inputs": {"landuse": LANDUSE_FILE, "drivers": {"slope": "slope.tif"}},
        "suitability": {"method": "logistic", "intercept": 1.0, "coefficients": {"slope": -0.1}},
        "demand": {
            "method": "targets",
            "unit": "cells",
            "urban": {2020: observed_urban, 2030: observed_urban + growth},
        },
        "constraints": {
            "urban_development_boundary": {"path": "udb.tif"},
            "permanent_basic_farmland": {"path": "pbf.tif"},
            "ecological_red_line": {"path": "erl.tif"},
            "water": {"path": "water.tif", "inside": [1]},
        },
        "model": {"neighborhood_radius": 1, "random_factor": 0.5},
    }


# --------------------------------------------------------------------------- fixtures


@dataclass
class TinyGrid:
    """The tiny synthetic region written to ``folder``."""

    folder: Path
    arrays: dict[str, np.ndarray]
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def landuse(self) -> np.ndarray:
        return self.arrays["landuse"]

    @property
    def urban_cells(self) -> int:
        return int((self.landuse == URBAN).sum())

    @property
    def valid_cells(self) -> int:
        return int((self.landuse != NODATA).sum())

    def scenario_dict(self, overrides: Mapping[str, Any] | None = None, growth: int = 60) -> dict:
        return deep_merge(base_scenario(self.urban_cells, growth), overrides or {})

    def scenario(
        self,
        overrides: Mapping[str, Any] | None = None,
        *,
        growth: int = 60,
        filename: str = "scenario.toml",
        folder: Path | None = None,
    ) -> Path:
        """Write a scenario over these rasters (``folder`` default: beside them)."""
        data = self.scenario_dict(overrides, growth)
        folder = folder or self.folder
        folder.mkdir(parents=True, exist_ok=True)
        if folder != self.folder:
            data = _relocate(data, self.folder)
        path = folder / filename
        path.write_text(to_toml(data), encoding="utf-8")
        return path


def _relocate(data: dict[str, Any], raster_dir: Path) -> dict[str, Any]:
    """Make the raster paths of a scenario dict absolute (for a scenario elsewhere)."""
    data = copy.deepcopy(data)

    def fix(d: dict[str, Any], k: str) -> None:
        if isinstance(d.get(k), str):
            d[k] = str(raster_dir / d[k])

    fix(data["inputs"], "landuse")
    for name in list(data["inputs"].get("drivers", {})):
        fix(data["inputs"]["drivers"], name)
    for spec in data.get("constraints", {}).values():
        fix(spec, "path")
    return data


def make_tiny_grid(folder: Path) -> TinyGrid:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = synthetic_arrays()
    grid = TinyGrid(folder, arrays)
    for key, fname in LAYER_FILES.items():
        nodata = -9999.0 if key == "slope" else NODATA
        grid.paths[key] = write_raster(folder / fname, arrays[key], nodata=nodata)
    return grid


def invoke(runner: Any, *args: Any) -> Any:
    """``landsim ARGS`` through click's runner (not catching exceptions it should not)."""
    from landsim.cli.main import main

    return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)


def landsim_exe() -> str:
    """The installed console script, as a user types it."""
    import shutil

    exe = Path(sys.executable).parent / "landsim"
    if exe.is_file():
        return str(exe)
    found = shutil.which("landsim")
    assert found, "the landsim console script is not installed"
    return found


def sha256_tree(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder`` (relative name → digest)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def partial_dirs(parent: Path) -> list[str]:
    """Hidden staging folders a run might have left in ``parent``."""
    if not parent.is_dir():
        return []
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name)


# --------------------------------------------------------------------------- planning helpers

CONCENTRATED, FLEXIBLE, SPECIAL = 1, 2, 3  # development-boundary zone codes


def udb_zones(tiny: TinyGrid) -> np.ndarray:
    """The development boundary with sub-zones: core, a flexible ring, a special block."""
    ny, nx = tiny.landuse.shape
    yy, xx = np.mgrid[:ny, :nx]
    dist = np.hypot(yy - CORE[0], xx - CORE[1])
    zones = np.zeros((ny, nx), dtype=np.uint8)
    zones[dist <= 8] = CONCENTRATED
    zones[(dist > 8) & (dist <= 11)] = FLEXIBLE
    zones[10:13, 28:33] = SPECIAL
    return zones


def with_zones(tiny: TinyGrid, **udb: Any) -> dict[str, Any]:
    """Scenario overrides: the boundary as ``udb_zones.tif`` with its three zones."""
    write_raster(tiny.folder / "udb_zones.tif", udb_zones(tiny), nodata=NODATA)
    zones = {
        "concentrated_construction": [CONCENTRATED],
        "flexible_development": [FLEXIBLE],
        "special_use": [SPECIAL],
    }
    boundary = {"path": "udb_zones.tif", "inside": [1, 2, 3], "zones": zones, **udb}
    return {"constraints": {"urban_development_boundary": boundary}}


def landuse_grid(tiny: TinyGrid) -> Any:
    """The tiny region's :class:`landsim.io.raster.Grid`."""
    from landsim.io.raster import read_landuse

    return read_landuse(tiny.paths["landuse"], [c["code"] for c in CLASSES])[1]


def read_urban_year(out: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(out / "urban_year.tif") as ds:
        assert ds.dtypes[0] == "uint16" and ds.nodata == 0
        return ds.read(1)


def cell_centre(row: int, col: int) -> tuple[float, float]:
    """Map coordinates of a cell's centre on the tiny grid."""
    return ORIGIN[0] + (col + 0.5) * CELL, ORIGIN[1] - (row + 0.5) * CELL


def check_json(runner: Any, *args: Any) -> dict[str, Any]:
    """``landsim check ARGS --json``, which must succeed, parsed."""
    r = invoke(runner, "check", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def write_cell_rectangle_geojson(path: Path, corner: tuple[int, int], far: tuple[int, int]) -> Path:
    """A GeoJSON (EPSG:32649) rectangle through the centres of two cells (row, col)."""
    x0, y0 = cell_centre(*corner)
    x1, y1 = cell_centre(*far)
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32649"}},
                "features": [feature],
            }
        ),
        encoding="utf-8",
    )
    return path


def clip_raster(src: Path, dst: Path, window: Any) -> tuple[np.ndarray, Any]:
    """Write ``window`` of ``src`` to ``dst`` with the window's transform (one grid);
    returns the data and that transform."""
    import rasterio

    with rasterio.open(src) as ds:
        data = ds.read(1, window=window)
        profile = {
            "driver": "GTiff",
            "height": int(window.height),
            "width": int(window.width),
            "count": 1,
            "dtype": ds.dtypes[0],
            "crs": ds.crs,
            "transform": ds.window_transform(window),
            "nodata": ds.nodata,
            "compress": "deflate",
        }
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data, 1)
    return data, profile["transform"]
