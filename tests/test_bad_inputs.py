"""Errors a user can cause: one line, exit code ≠ 0, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _synthetic import CELL, ORIGIN, landuse_map, make_scenario, write_tif
from click.testing import CliRunner
from rasterio.transform import from_origin

from landsim.cli.main import main


def _fails(args: list[str], code: int, *needles: str) -> str:
    r = CliRunner().invoke(main, args)
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    # Progress lines (INFO) may come first; the error is one line, and the last.
    lines = r.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], r.stderr
    err = errors[0]
    for n in needles:
        assert n in err, err
    return err


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    make_scenario(tmp_path / "in", growth=50)
    return tmp_path / "in"


def _run_fails(folder: Path, code: int, *needles: str) -> None:
    out = folder.parent / "out"
    _fails(["run", str(folder / "scenario.toml"), "-o", str(out)], code, *needles)
    assert not out.exists(), "a failed run left an output folder"
    assert not list(folder.parent.glob(".*partial*"))
    _fails(["validate", str(folder / "scenario.toml")], code, *needles)


def test_missing_raster(folder: Path) -> None:
    (folder / "synthetic_pbf.tif").unlink()
    _run_fails(folder, 1, "[constraints.permanent_basic_farmland.path] file not found")


def test_other_crs(folder: Path) -> None:
    write_tif(folder / "synthetic_erl.tif", np.zeros((40, 50), np.uint8), crs="EPSG:4326")
    _run_fails(folder, 1, "[constraints.ecological_red_line.path]", "EPSG:4326", "rio warp")


def test_other_shape(folder: Path) -> None:
    write_tif(folder / "synthetic_slope.tif", np.zeros((41, 50), np.float32))
    _run_fails(folder, 1, "[inputs.drivers.slope]", "41 rows × 50 columns", "40 × 50")


def test_shifted_transform(folder: Path) -> None:
    shifted = from_origin(ORIGIN[0] + 15, ORIGIN[1], CELL, CELL)
    write_tif(folder / "synthetic_udb.tif", np.ones((40, 50), np.uint8), transform=shifted)
    _run_fails(folder, 1, "[constraints.urban_development_boundary.path]", "transform differs")


def test_not_a_raster(folder: Path) -> None:
    (folder / "synthetic_water.tif").write_text("this is not a GeoTIFF")
    _run_fails(folder, 1, "[constraints.water.path]", "not a raster GDAL can read")


def test_truncated_geotiff(folder: Path) -> None:
    lu = folder / "synthetic_landuse_2020.tif"
    lu.write_bytes(lu.read_bytes()[:300])
    _run_fails(folder, 1, "[inputs.landuse]")


def test_all_nodata(folder: Path) -> None:
    write_tif(folder / "synthetic_landuse_2020.tif", np.full((40, 50), 255, np.uint8), nodata=255)
    _run_fails(folder, 1, "every cell is nodata")


def test_unknown_class_codes(folder: Path) -> None:
    lu = landuse_map()
    lu[5:7, 5:9] = 9
    write_tif(folder / "synthetic_landuse_2020.tif", lu, nodata=255)
    _run_fails(folder, 1, "values 9 (8 cells) are not class codes", "codes: 1, 2, 3, 4")


def test_infeasible_demand_names_the_layers(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    make_scenario(folder, growth=5000)
    _run_fails(
        folder,
        1,
        "cells missing",
        "taken from growth by urban_development_boundary",
        "lower the demand",
    )


def test_decreasing_demand(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    make_scenario(folder, growth=-5)
    _run_fails(folder, 1, "urban land does not revert")


def test_typo_in_key(folder: Path) -> None:
    s = folder / "scenario.toml"
    s.write_text(s.read_text().replace("random_factor", "random_facter"))
    _run_fails(folder, 2, "[model.random_facter] unknown key; did you mean 'random_factor'?")


def test_coefficient_for_unknown_driver(folder: Path) -> None:
    s = folder / "scenario.toml"
    s.write_text(s.read_text().replace("coefficients = { slope", "coefficients = { slop"))
    _run_fails(folder, 2, "names driver 'slop'", "drivers: slope")


def test_missing_scenario_file(tmp_path: Path) -> None:
    _fails(["run", str(tmp_path / "none.toml")], 2, "scenario file not found")


def test_output_path_is_a_file(folder: Path) -> None:
    target = folder.parent / "afile"
    target.write_text("x")
    _fails(["run", str(folder / "scenario.toml"), "-o", str(target)], 1, "not a folder")


def test_disk_full_is_reported_and_nothing_is_left(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while writing outputs: one line saying so, no partial files."""
    import errno

    def full(self: Path, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    out = folder.parent / "out"
    err = _fails(["run", str(folder / "scenario.toml"), "-o", str(out)], 1, "disk full")
    assert str(out) in err and ".partial" not in err
    assert not out.exists()
    assert not list(folder.parent.glob(".*partial*"))
