"""Golden output: a fixed synthetic scenario must reproduce its stored results exactly.

What is stored, in ``tests/data/golden/synthetic_golden/``:

``scenario.toml``
    the scenario used (hand-written; paths are relative to the rasters this test writes);
``inputs.sha256``
    a digest of the input arrays built below, so a change to the input generator is
    told apart from a change in landsim;
``landuse_2030.txt``
    the final map, one character per cell (the class code, ``.`` for nodata);
``summary.csv``
    the run's summary.csv, byte for byte.

The inputs are built here from integer arithmetic only (no random generator whose stream
could change with numpy), written with rasterio to a temporary folder, so the golden
depends on landsim alone.

To regenerate after an intended change (a new kernel, another random stream), run::

    LANDSIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

then look at the diff of ``tests/data/golden/synthetic_golden/`` and say in the commit
why the results changed. The test also passes while regenerating.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from _landsim_kit import grid_transform, write_raster
from click.testing import CliRunner

from landsim.cli.main import main

GOLDEN = Path(__file__).parent / "data" / "golden" / "synthetic_golden"
UPDATE = os.environ.get("LANDSIM_UPDATE_GOLDEN", "") not in ("", "0")
SHAPE = (36, 48)
ORIGIN = (612_000.0, 3_350_010.0)
NODATA = 255


def golden_inputs() -> dict[str, np.ndarray]:
    """Land use, planning layers and drivers from fixed integer patterns."""
    ny, nx = SHAPE
    yy, xx = np.mgrid[:ny, :nx].astype(np.int64)
    noise = ((yy * 7919 + xx * 104729 + yy * xx * 31) % 101).astype(np.float64) / 100.0
    core = (yy - 18) ** 2 + (xx - 28) ** 2
    town = (yy - 30) ** 2 + (xx - 40) ** 2
    lu = np.full(SHAPE, 1, dtype=np.uint8)  # cropland
    lu[(yy < 8) & (xx > 30)] = 2  # forest
    river = xx == 10 + yy // 4
    lu[river] = 3  # water
    lu[core <= 20] = 4  # urban core
    lu[town <= 5] = 4  # a second town
    lu[(noise > 0.985) & ~river] = 4  # villages
    lu[0, :4] = NODATA
    lu[-1, -5:] = NODATA
    lu[20, 0] = NODATA
    udb = ((core <= 144) | (town <= 25)).astype(np.uint8)
    pbf = ((yy > 24) & (xx < 20)) | ((yy >= 22) & (yy <= 25) & (xx >= 22) & (xx <= 26))
    pbf = (pbf & (lu == 1)).astype(np.uint8)
    erl = (lu == 2).astype(np.uint8)
    water = (lu == 3).astype(np.uint8)
    flood = ((yy >= 10) & (yy <= 14)).astype(np.uint8)
    slope = np.round(np.abs(np.sin(yy / 4.0)) * 8.0 + xx / 12.0 + noise, 1).astype(np.float32)
    slope[5, 5] = -9999.0
    dist = (np.sqrt(core.astype(np.float64)) * 30.0).astype(np.float32)
    return {
        "synthetic_golden_landuse.tif": lu,
        "udb.tif": udb,
        "pbf.tif": pbf,
        "erl.tif": erl,
        "water.tif": water,
        "flood.tif": flood,
        "slope.tif": slope,
        "dist_core_m.tif": dist,
    }


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _as_text(m: np.ndarray) -> str:
    return "\n".join("".join("." if v == NODATA else str(int(v)) for v in row) for row in m) + "\n"


def _check_or_update(name: str, got: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(got, encoding="utf-8", newline="\n")
    assert path.is_file(), f"{path} missing; regenerate with LANDSIM_UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert got == expected, (
        f"{name} differs from the golden file {path}; if the change is intended, "
        "regenerate with LANDSIM_UPDATE_GOLDEN=1 (see this module's docstring)"
    )


@pytest.fixture
def golden_run(tmp_path: Path) -> Path:
    arrays = golden_inputs()
    _check_or_update("inputs.sha256", _digest(arrays) + "\n")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for fname, data in arrays.items():
        nodata = -9999.0 if data.dtype.kind == "f" else NODATA
        write_raster(inputs / fname, data, nodata=nodata, transform=grid_transform(ORIGIN, 30.0))
    scenario = inputs / "scenario.toml"
    shutil.copyfile(GOLDEN / "scenario.toml", scenario)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(scenario), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_golden_final_map_and_summary(golden_run: Path) -> None:
    with rasterio.open(golden_run / "landuse_2030.tif") as ds:
        final = ds.read(1)
    _check_or_update("landuse_2030.txt", _as_text(final))
    _check_or_update("summary.csv", (golden_run / "summary.csv").read_text(encoding="utf-8"))
    # A sanity check on what is stored, so a broken golden cannot be accepted blindly.
    comp = json.loads((golden_run / "compliance.json").read_text(encoding="utf-8"))
    lines = comp["final_check_from_maps"]["lines"]
    for name in (
        "urban_development_boundary",
        "permanent_basic_farmland",
        "ecological_red_line",
        "water",
    ):
        assert lines[name]["violations"] == 0, name
    assert lines["flood_band"]["violations"] is None  # a soft rule has no violations
    assert comp["years"][-1]["new_urban_cells_cumulative"] == 150


def test_golden_inputs_are_what_the_scenario_expects() -> None:
    """The stored scenario's demand starts from the observed urban area of these inputs."""
    lu = golden_inputs()["synthetic_golden_landuse.tif"]
    text = (GOLDEN / "scenario.toml").read_text(encoding="utf-8")
    observed = int((lu == 4).sum())
    assert f"# observed urban cells in 2020: {observed}" in text
