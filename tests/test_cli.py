"""`landsim` on the command line, and the output contract of `landsim run`.

The tiny synthetic scenario runs once per module (seed 7); each test reads one part
of what it wrote: the GeoTIFF maps, the NetCDF stack, summary.csv, compliance.json and
provenance.json.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from _landsim_kit import (
    CLASSES,
    NODATA,
    URBAN,
    TinyGrid,
    invoke,
    landsim_exe,
    make_tiny_grid,
    partial_dirs,
    sha256_tree,
)
from click.testing import CliRunner

import landsim

MAP_YEARS = [2025, 2030]
YEARS = list(range(2020, 2031))
GROWTH = 60
LINES = ("urban_development_boundary", "permanent_basic_farmland", "ecological_red_line", "water")


class Ran:
    def __init__(self, grid: TinyGrid, scenario: Path, out: Path, result: Any) -> None:
        self.grid, self.scenario, self.out, self.result = grid, scenario, out, result

    def demand(self, year: int) -> int:
        return self.grid.urban_cells + round(GROWTH * (year - 2020) / 10)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    root = tmp_path_factory.mktemp("cli")
    grid = make_tiny_grid(root / "inputs")
    scenario = grid.scenario(growth=GROWTH)
    out = root / "out"
    r = invoke(CliRunner(), "run", scenario, "-o", out)
    assert r.exit_code == 0, r.output
    return Ran(grid, scenario, out, r)


# --------------------------------------------------------------------------- help, version


def test_help(runner: Any) -> None:
    r = invoke(runner, "--help")
    assert r.exit_code == 0
    assert "run" in r.stdout and "validate" in r.stdout and "--version" in r.stdout
    r = invoke(runner, "run", "--help")
    assert r.exit_code == 0
    for opt in ("-o, --output", "--seed", "--overwrite", "SCENARIO"):
        assert opt in r.stdout
    assert invoke(runner, "validate", "-h").exit_code == 0


def test_version(runner: Any) -> None:
    r = invoke(runner, "--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"landsim, version {landsim.__version__}"


def test_run_without_scenario_is_a_usage_error(runner: Any) -> None:
    r = invoke(runner, "run")
    assert r.exit_code == 2 and "Missing argument 'SCENARIOS...'" in r.stderr


def test_negative_seed_option_is_a_usage_error(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    r = invoke(runner, "run", tiny_grid.scenario(), "-o", tmp_path / "o", "--seed", "-1")
    assert r.exit_code == 2 and "--seed" in r.stderr
    assert not (tmp_path / "o").exists()


def test_missing_scenario_file(runner: Any, tmp_path: Path) -> None:
    r = invoke(runner, "run", tmp_path / "nope.toml")
    assert r.exit_code == 2
    assert r.stderr == f"error: {tmp_path / 'nope.toml'}: scenario file not found\n"


def test_validate_reports_the_scenario(tiny_grid: TinyGrid, runner: Any) -> None:
    scenario = tiny_grid.scenario()
    r = invoke(runner, "validate", scenario)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"{scenario}: valid\n")
    assert "grid: 40 × 50 cells, EPSG:32649" in r.stdout
    assert f"valid cells: {tiny_grid.valid_cells:,}" in r.stdout
    assert f"urban start cells: {tiny_grid.urban_cells}" in r.stdout
    assert f"urban end cells: {tiny_grid.urban_cells + 60}" in r.stdout
    assert "permanent_basic_farmland (no_construction)" in r.stdout
    assert not (tiny_grid.folder / "runs").exists()


# --------------------------------------------------------------------------- console script


def test_console_script_end_to_end(tiny_grid: TinyGrid, tmp_path: Path) -> None:
    """The installed `landsim` command, as a user types it: a run, then a mistake."""
    exe = landsim_exe()
    scenario = tiny_grid.scenario()
    out = tmp_path / "from-shell"
    proc = subprocess.run(
        [exe, "run", str(scenario), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"outputs   {out}" in proc.stdout
    assert "(0 cells break them)" in proc.stdout
    assert (
        f"urban     {tiny_grid.urban_cells:,} → {tiny_grid.urban_cells + 60:,} cells" in proc.stdout
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "landuse_2025.tif",
            "landuse_2030.tif",
            "landsim.nc",
            "summary.csv",
            "indicators.csv",
            "urban_year.tif",
            "compliance.json",
            "provenance.json",
        ]
    )

    # A mistake: one line on stderr, exit 2, no traceback, nothing written.
    bad = scenario.with_name("bad.toml")
    bad.write_text(scenario.read_text().replace("end_year", "end_yeer", 1), encoding="utf-8")
    proc = subprocess.run(
        [exe, "run", str(bad), "-o", str(tmp_path / "bad-out")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "[simulation.end_yeer]" in proc.stderr and "did you mean 'end_year'" in proc.stderr
    assert not (tmp_path / "bad-out").exists()
    assert partial_dirs(tmp_path) == []


# --------------------------------------------------------------------------- run output


def test_run_prints_a_summary(ran: Ran) -> None:
    s = ran.result.stdout
    assert "scenario  synthetic-tiny (2020 → 2030, seed 7)" in s
    assert f"urban     {ran.grid.urban_cells:,} → {ran.demand(2030):,} cells" in s
    assert "rules     kept: " + ", ".join(LINES) + " (0 cells break them)" in s
    assert f"outputs   {ran.out}" in s
    # Progress goes to stderr, one line per simulated year when not on a terminal.
    for year in YEARS[1:]:
        assert f"year {year}: " in ran.result.stderr


def test_geotiff_contract(ran: Ran) -> None:
    lu0 = ran.grid.landuse
    codes = {c["code"] for c in CLASSES}
    with rasterio.open(ran.grid.paths["landuse"]) as src:
        crs, transform = src.crs, src.transform
    for year in MAP_YEARS:
        with rasterio.open(ran.out / f"landuse_{year}.tif") as ds:
            assert ds.crs == crs
            assert ds.transform == transform
            assert ds.shape == lu0.shape and ds.count == 1
            assert ds.dtypes[0] == "uint8"
            assert ds.nodata == NODATA
            cmap = ds.colormap(1)
            assert cmap[URBAN][:3] == (0xD7, 0x19, 0x1C)  # the colour the class table gives
            assert cmap[1][:3] == (0xF5, 0xE0, 0x7A)
            assert cmap[NODATA][3] == 0  # nodata is transparent
            assert ds.tags()["year"] == str(year)
            m = ds.read(1)
        assert np.array_equal(m == NODATA, lu0 == NODATA), "nodata cells moved"
        assert set(np.unique(m[m != NODATA]).tolist()) <= codes
        assert int((m == URBAN).sum()) == ran.demand(year)
        # Urban never reverts, and only urban is created.
        assert np.all(m[lu0 == URBAN] == URBAN)
        changed = m != lu0
        assert np.all(m[changed] == URBAN)


def test_maps_keep_the_planning_rules(ran: Ran) -> None:
    """Checked from the maps, independent of compliance.json."""
    a = ran.grid.arrays
    with rasterio.open(ran.out / "landuse_2030.tif") as ds:
        final = ds.read(1)
    new = (final == URBAN) & (a["landuse"] != URBAN)
    assert int(new.sum()) == GROWTH
    assert np.all(a["udb"][new] == 1)
    assert not np.any(a["pbf"][new] == 1)
    for layer in ("erl", "water"):
        inside = a[layer] == 1
        assert np.array_equal(final[inside], a["landuse"][inside])


def test_netcdf_contract(ran: Ran) -> None:
    import xarray as xr

    with xr.open_dataset(ran.out / "landsim.nc", engine="h5netcdf", mask_and_scale=False) as ds:
        lu = ds["landuse"]
        assert lu.dims == ("time", "y", "x")
        assert lu.dtype == np.uint8
        assert ds["time"].values.tolist() == MAP_YEARS
        assert "crs_wkt" in ds["spatial_ref"].attrs
        assert (
            "32649" in ds["spatial_ref"].attrs["crs_wkt"]
            or "UTM zone 49N" in ds["spatial_ref"].attrs["crs_wkt"]
        )
        assert lu.attrs["grid_mapping"] == "spatial_ref"
        assert lu.encoding.get("_FillValue", lu.attrs.get("_FillValue")) == NODATA
        with rasterio.open(ran.out / "landuse_2030.tif") as tif:
            t = tif.transform
            # Coordinates are cell centres.
            assert ds["x"].values[0] == pytest.approx(t.c + t.a / 2)
            assert ds["y"].values[0] == pytest.approx(t.f + t.e / 2)
            assert ds["x"].size == tif.width and ds["y"].size == tif.height
        for year in MAP_YEARS:
            with rasterio.open(ran.out / f"landuse_{year}.tif") as tif:
                assert np.array_equal(lu.sel(time=year).values, tif.read(1))
    # With default decoding, nodata cells read as missing.
    with xr.open_dataset(ran.out / "landsim.nc", engine="h5netcdf") as ds:
        decoded = ds["landuse"].sel(time=2030).values
        assert np.array_equal(np.isnan(decoded), ran.grid.landuse == NODATA)


def _summary(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_summary_csv_contract(ran: Ran) -> None:
    rows = _summary(ran.out)
    assert list(rows[0]) == [
        "year",
        "class_code",
        "class_name",
        "role",
        "cells",
        "km2",
        "change_since_start_cells",
        "converted_to_urban_cells",
    ]
    assert len(rows) == len(YEARS) * len(CLASSES)
    assert [(int(r["year"]), int(r["class_code"])) for r in rows] == [
        (y, c["code"]) for y in YEARS for c in CLASSES
    ]
    start = {int(r["class_code"]): int(r["cells"]) for r in rows if r["year"] == "2020"}
    for year in YEARS:
        these = [r for r in rows if int(r["year"]) == year]
        assert sum(int(r["cells"]) for r in these) == ran.grid.valid_cells
        urban = next(r for r in these if r["role"] == "urban")
        assert int(urban["cells"]) == ran.demand(year)
        for r in these:
            cells = int(r["cells"])
            assert float(r["km2"]) == pytest.approx(cells * 900 / 1e6, abs=1e-4)
            assert int(r["change_since_start_cells"]) == cells - start[int(r["class_code"])]
        converted = sum(int(r["converted_to_urban_cells"]) for r in these)
        assert converted == (ran.demand(year) - ran.demand(year - 1) if year > 2020 else 0)
    # The start year matches the input map.
    lu0 = ran.grid.landuse
    for c in CLASSES:
        assert start[c["code"]] == int((lu0 == c["code"]).sum())


def test_compliance_json_contract(ran: Ran) -> None:
    comp = json.loads((ran.out / "compliance.json").read_text(encoding="utf-8"))
    assert comp["scenario"] == "synthetic-tiny"
    assert comp["cell_area_m2"] == pytest.approx(900.0)
    check = comp["final_check_from_maps"]
    assert set(check["lines"]) == set(LINES)
    for name in LINES:
        assert check["lines"][name]["violations"] == 0, name
    assert check["reverted_urban_cells"] == 0
    assert check["changed_cells"] == GROWTH
    assert [y["year"] for y in comp["years"]] == YEARS[1:]
    assert comp["years"][-1]["new_urban_cells_cumulative"] == GROWTH
    for y in comp["years"]:
        for name, line in y["lines"].items():
            assert line["violations"] == 0, (y["year"], name)
    lines = comp["lines"]
    assert lines["permanent_basic_farmland"]["rule"] == "no_construction"
    assert lines["urban_development_boundary"]["cells_inside"] == int(ran.grid.arrays["udb"].sum())
    assert all(lines[n]["enforced"] for n in LINES)


def test_provenance_json_contract(ran: Ran) -> None:
    prov = json.loads((ran.out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["seed"] == 7
    assert prov["landsim_version"] == landsim.__version__
    assert prov["scenario_file"] == str(ran.scenario.resolve())
    assert prov["scenario_sha256"] == hashlib.sha256(ran.scenario.read_bytes()).hexdigest()
    keys = {
        "inputs.landuse": "landuse",
        "inputs.drivers.slope": "slope",
        "constraints.urban_development_boundary.path": "udb",
        "constraints.permanent_basic_farmland.path": "pbf",
        "constraints.ecological_red_line.path": "erl",
        "constraints.water.path": "water",
    }
    assert set(prov["inputs"]) == set(keys)
    for key, layer in keys.items():
        path = ran.grid.paths[layer]
        assert prov["inputs"][key]["path"] == str(path.resolve())
        assert prov["inputs"][key]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    for pkg in ("python", "landsim", "numpy", "numba", "rasterio", "xarray", "gdal"):
        assert prov["versions"][pkg]
    assert prov["resolved_scenario"]["simulation"]["seed"] == 7
    assert prov["resolved_scenario"]["name"] == "synthetic-tiny"


# --------------------------------------------------------------------------- seeds


def test_seed_option_changes_result_and_provenance(ran: Ran, runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "seed8"
    r = invoke(runner, "run", ran.scenario, "-o", out, "--seed", "8")
    assert r.exit_code == 0, r.output
    assert "seed 8)" in r.stdout
    assert json.loads((out / "provenance.json").read_text())["seed"] == 8
    with (
        rasterio.open(ran.out / "landuse_2030.tif") as a,
        rasterio.open(out / "landuse_2030.tif") as b,
    ):
        ma, mb = a.read(1), b.read(1)
        assert b.tags()["seed"] == "8" and a.tags()["seed"] == "7"
    assert not np.array_equal(ma, mb), "a different seed gave the same map"
    # Same demand met either way.
    assert int((ma == URBAN).sum()) == int((mb == URBAN).sum()) == ran.demand(2030)


def test_same_seed_is_byte_identical(ran: Ran, runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "again"
    r = invoke(runner, "run", ran.scenario, "-o", out, "--seed", "7")
    assert r.exit_code == 0, r.output
    first, second = sha256_tree(ran.out), sha256_tree(out)
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name] == second[name], f"{name} differs between two runs with one seed"


def test_seed_in_scenario_and_option_agree(ran: Ran, runner: Any, tmp_path: Path) -> None:
    """`--seed 8` gives the same maps as `seed = 8` in the file."""
    via_option, via_file = tmp_path / "opt", tmp_path / "file"
    assert invoke(runner, "run", ran.scenario, "-o", via_option, "--seed", "8").exit_code == 0
    scenario8 = ran.grid.scenario({"simulation": {"seed": 8}}, filename="seed8.toml")
    assert invoke(runner, "run", scenario8, "-o", via_file).exit_code == 0
    a, b = sha256_tree(via_option), sha256_tree(via_file)
    for name in (
        "landuse_2025.tif",
        "landuse_2030.tif",
        "landsim.nc",
        "summary.csv",
        "compliance.json",
    ):
        assert a[name] == b[name], name


# --------------------------------------------------------------------------- default folder


def test_default_output_folder(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    r = invoke(runner, "run", tiny_grid.scenario({"name": "my-scenario"}))
    assert r.exit_code == 0, r.output
    expected = work / "runs" / "my-scenario"
    assert f"outputs   {expected}\n" in r.stdout
    assert (expected / "landuse_2030.tif").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["runs"]
    assert sorted(p.name for p in (work / "runs").iterdir()) == ["my-scenario"]
    # A second run into the default folder refuses to overwrite, and says how.
    r = invoke(runner, "run", tiny_grid.scenario({"name": "my-scenario"}))
    assert r.exit_code == 1 and "--overwrite" in r.stderr and str(expected) in r.stderr


@pytest.mark.parametrize("name", ["../escaped", "/ABSOLUTE"])
def test_scenario_name_cannot_escape_runs_folder(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    if name == "/ABSOLUTE":
        name = str(tmp_path / "absolute-target")
    r = invoke(runner, "run", tiny_grid.scenario({"name": name}))
    escaped = [p for p in work.iterdir() if p.name != "runs"]
    escaped += [p for p in tmp_path.iterdir() if p.name == "absolute-target"]
    assert escaped == [], f"outputs written outside {work / 'runs'}: {escaped}"
    assert r.exit_code != 0 or (work / "runs").is_dir()
