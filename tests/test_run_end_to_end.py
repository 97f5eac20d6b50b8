"""`landsim run` and `landsim validate` end to end, as a user types them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from _synthetic import URBAN, make_scenario, urban_cells
from click.testing import CliRunner

from landsim.cli.main import main

LANDSIM = str(Path(sys.executable).parent / "landsim")


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return make_scenario(tmp_path / "inputs", growth=80)


@pytest.fixture
def ran(scenario: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(scenario), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_console_script_end_to_end(scenario: Path, tmp_path: Path) -> None:
    """The installed `landsim` command runs a scenario and prints where the outputs are."""
    out = tmp_path / "cli-out"
    proc = subprocess.run(
        [LANDSIM, "run", str(scenario), "-o", str(out)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    assert "0 cells break them" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert (out / "landuse_2030.tif").is_file()


def test_geotiff_contract(ran: Path, scenario: Path) -> None:
    """Maps keep the input grid, class codes and nodata, and carry a colour table."""
    src = rasterio.open(scenario.parent / "synthetic_landuse_2020.tif")
    lu0 = src.read(1)
    for year in (2025, 2030):
        with rasterio.open(ran / f"landuse_{year}.tif") as ds:
            assert ds.crs == src.crs and ds.transform == src.transform
            assert ds.dtypes[0] == "uint8" and ds.nodata == 255
            assert ds.colormap(1)[URBAN][:3] != (0, 0, 0)
            m = ds.read(1)
            assert ds.tags()["year"] == str(year)
        assert np.array_equal(m == 255, lu0 == 255)
        assert set(np.unique(m[m != 255])) <= {1, 2, 3, 4}
    src.close()


def test_netcdf_matches_geotiffs(ran: Path) -> None:
    """landsim.nc holds landuse(time, y, x) equal to the GeoTIFFs, with a CF grid mapping."""
    with xr.open_dataset(ran / "landsim.nc", engine="h5netcdf", mask_and_scale=False) as ds:
        assert ds["landuse"].dims == ("time", "y", "x")
        assert list(ds["time"].values) == [2025, 2030]
        assert "crs_wkt" in ds["spatial_ref"].attrs
        for year in (2025, 2030):
            with rasterio.open(ran / f"landuse_{year}.tif") as tif:
                assert np.array_equal(ds["landuse"].sel(time=year).values, tif.read(1))


def test_summary_and_compliance(ran: Path, scenario: Path) -> None:
    """Demand met every year, cells conserved, zero violations under hard rules."""
    import csv

    rows = list(csv.DictReader((ran / "summary.csv").open()))
    years = sorted({int(r["year"]) for r in rows})
    assert years == list(range(2020, 2031))
    observed = urban_cells(scenario.parent)
    totals = {}
    for y in years:
        yr = [r for r in rows if int(r["year"]) == y]
        totals[y] = sum(int(r["cells"]) for r in yr)
        urban = next(int(r["cells"]) for r in yr if r["class_name"] == "urban")
        assert urban == observed + round(80 * (y - 2020) / 10)
    assert len(set(totals.values())) == 1
    compliance = json.loads((ran / "compliance.json").read_text())
    final = compliance["final_check_from_maps"]["lines"]
    assert {k: v["violations"] for k, v in final.items()} == {
        "urban_development_boundary": 0,
        "permanent_basic_farmland": 0,
        "ecological_red_line": 0,
        "water": 0,
    }
    assert compliance["final_check_from_maps"]["reverted_urban_cells"] == 0
    assert sum(y["new_urban_cells"] for y in compliance["years"]) == 80
    prov = json.loads((ran / "provenance.json").read_text())
    assert prov["seed"] == 42
    lu_hash = hashlib.sha256((scenario.parent / "synthetic_landuse_2020.tif").read_bytes())
    assert prov["inputs"]["inputs.landuse"]["sha256"] == lu_hash.hexdigest()
    assert "numba" in prov["versions"]


def test_same_seed_identical_bytes_any_thread_count(scenario: Path, tmp_path: Path) -> None:
    """Same scenario and seed: byte-identical outputs with 1 and 2 numba threads."""
    digests = []
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}"
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        proc = subprocess.run(
            [LANDSIM, "run", str(scenario), "-o", str(out)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        digests.append(_digest(out))
    assert digests[0] == digests[1]


def test_seed_option_changes_result(scenario: Path, tmp_path: Path) -> None:
    """--seed overrides the scenario's seed and is recorded in provenance."""
    runner = CliRunner()
    for seed in ("1", "2"):
        r = runner.invoke(main, ["run", str(scenario), "-o", str(tmp_path / seed), "--seed", seed])
        assert r.exit_code == 0, r.output
    a = rasterio.open(tmp_path / "1" / "landuse_2030.tif").read(1)
    b = rasterio.open(tmp_path / "2" / "landuse_2030.tif").read(1)
    assert not np.array_equal(a, b)
    prov = json.loads((tmp_path / "2" / "provenance.json").read_text())
    assert prov["seed"] == 2


def test_default_output_folder(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without -o, outputs go to runs/<scenario name> and the path is printed."""
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["run", str(scenario)])
    assert r.exit_code == 0, r.output
    expected = tmp_path / "runs" / "synthetic-tiny"
    assert (expected / "summary.csv").is_file()
    assert str(expected) in r.output


def test_overwrite_refused_then_allowed(ran: Path, scenario: Path) -> None:
    """Existing results are kept without --overwrite, replaced with it."""
    before = _digest(ran)
    r = CliRunner().invoke(main, ["run", str(scenario), "-o", str(ran), "--seed", "5"])
    assert r.exit_code == 1
    assert "--overwrite" in r.stderr and "Traceback" not in r.output
    assert _digest(ran) == before
    r = CliRunner().invoke(
        main, ["run", str(scenario), "-o", str(ran), "--seed", "5", "--overwrite"]
    )
    assert r.exit_code == 0, r.output
    assert _digest(ran) != before
    assert not list(ran.parent.glob(".*partial*"))


def test_inputs_never_modified(scenario: Path, tmp_path: Path) -> None:
    """Every input file has the same bytes after a run."""
    before = _digest(scenario.parent)
    r = CliRunner().invoke(main, ["run", str(scenario), "-o", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert _digest(scenario.parent) == before


def test_validate(scenario: Path) -> None:
    """`landsim validate` reports the grid, the demand and the layers without running."""
    r = CliRunner().invoke(main, ["validate", str(scenario)])
    assert r.exit_code == 0, r.output
    assert "valid" in r.output and "40 × 50 cells, EPSG:32649" in r.output
    assert "permanent_basic_farmland (no_construction)" in r.output


def test_help_and_version() -> None:
    """--help lists the commands; --version prints the version."""
    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0 and "run" in r.output and "validate" in r.output
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and "landsim" in r.output
