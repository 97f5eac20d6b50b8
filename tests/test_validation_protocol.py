"""The Wuhan validation protocol on a 200 × 200 clip, as a user types it: calibrate on
2005 → 2010 against the observed 2010 map, simulate 2010 → 2013 with the calibrated
parameters and the observed quantity of change, assess against the observed 2013 map
beside the neutral baselines. Plus the refusals of ``landsim calibrate``."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from _landsim_kit import clip_raster, invoke, partial_dirs, to_toml
from rasterio.windows import Window

from landsim.scenario import load

ROOT = Path(__file__).resolve().parents[1]
WUHAN = ROOT / "rasters" / "wuhan"
# A window on the growing urban fringe: 8,709 cells became urban 2005 → 2010, 12,830
# 2010 → 2013.
WINDOW = Window(col_off=2300, row_off=1100, width=200, height=200)
FILES = (
    "wh2005_refy.tif",
    "wh2010_refy.tif",
    "wh2013_refy.tif",
    "dist_urban_2005_m.tif",
    "dist_urban_2010_m.tif",
    "bare_2005.tif",
    "bare_2010.tif",
)
URBAN, BARE, WATER = 4, 5, 6


def _clip(src: Path, dst: Path) -> Any:
    return clip_raster(src, dst, WINDOW)[0]


def _gain(start: np.ndarray, end: np.ndarray) -> int:
    scored = (start >= 1) & (start <= 7) & (end >= 1) & (end <= 7)
    scored &= (start != WATER) & (end != WATER)
    return int((scored & (start != URBAN) & (end == URBAN)).sum())


def _scenario(folder: Path, name: str, start: int, end: int, **extra: Any) -> Path:
    start_map = _clip(WUHAN / f"wh{start}_refy.tif", folder / f"wh{start}_refy.tif")
    end_map = _clip(WUHAN / f"wh{end}_refy.tif", folder / f"wh{end}_refy.tif")
    urban = int((start_map == URBAN).sum())
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "simulation": {"start_year": start, "end_year": end, "output_years": [end], "seed": 1},
        "classes": [
            {"code": c, "name": n, "role": r}
            for c, n, r in (
                (1, "grassland", "grassland"),
                (2, "deciduous_forest", "forest"),
                (3, "cropland", "cropland"),
                (4, "urban", "urban"),
                (5, "bare", "bare"),
                (6, "water", "water"),
                (7, "evergreen_forest", "forest"),
            )
        ],
        "inputs": {
            "landuse": f"wh{start}_refy.tif",
            # The committed protocol's drivers, measured on the start map.
            "drivers": {
                "dist_urban": {"path": f"dist_urban_{start}_m.tif", "scale": 0.001},
                "bare": f"bare_{start}.tif",
            },
        },
        "suitability": {"method": "uniform"},
        "demand": {
            "method": "targets",
            "unit": "cells",
            "urban": {start: urban, end: urban + _gain(start_map, end_map)},
        },
        "rules": [{"where": "*", "from": ["water"], "allow": False}],
        "model": {"neighborhood_radius": 2, "neighborhood_floor": 0.02, "random_factor": 0.5},
    }
    for key, value in extra.items():
        data[key] = value
    path = folder / f"{name}.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("protocol")
    for name in FILES:
        _clip(WUHAN / name, folder / name)
    return folder


def test_protocol_calibrate_simulate_assess(clip: Path, runner: Any, tmp_path: Path) -> None:
    cal = _scenario(clip, "clip-calibration", 2005, 2010)
    out = tmp_path / "calibration"
    r = invoke(
        runner,
        "calibrate",
        cal,
        "--observed",
        clip / "wh2010_refy.tif",
        "-o",
        out,
        "--trials",
        "8",
        "--seeds",
        "2",
        "--workers",
        "1",
    )
    assert r.exit_code == 0, r.output
    assert "urban-gain figure of merit" in r.output
    report = json.loads((out / "calibration.json").read_text())
    assert report["observed"].endswith("wh2010_refy.tif")  # 2013 is never used to fit
    assert report["period"] == [2005, 2010]
    assert 0 < report["best"]["fom"] <= 1
    trials = list(csv.DictReader((out / "trials.csv").open()))
    assert len(trials) == report["search"]["trials"] >= 8
    best = max(float(t["fom"]) for t in trials)
    assert report["best"]["fom"] == pytest.approx(best, abs=1e-6)
    calibrated = load(out / "calibrated.toml")  # extends the calibration scenario
    assert calibrated.simulation.start_year == 2005
    assert calibrated.model.neighborhood_radius == report["best"]["params"]["neighborhood_radius"]

    # Validation: 2010 -> 2013 with the calibrated model and suitability.
    text = tomllib.loads((out / "calibrated.toml").read_text())
    extra: dict[str, Any] = {"model": text["model"]}
    if "suitability" in text:
        extra["suitability"] = text["suitability"]
    val = _scenario(clip, "clip-validation", 2010, 2013, **extra)
    run_dir = tmp_path / "validation"
    r = invoke(runner, "run", val, "-o", run_dir)
    assert r.exit_code == 0, r.output
    r = invoke(
        runner,
        "assess",
        "--initial",
        clip / "wh2010_refy.tif",
        "--observed",
        clip / "wh2013_refy.tif",
        "--run",
        run_dir,
        "--scenario",
        val,
        "--exclude",
        "water",
        "--seeds",
        "3",
        "-o",
        tmp_path / "assess.json",
    )
    assert r.exit_code == 0, r.output
    assert "nearest baseline" in r.output and "random baseline" in r.output
    a = json.loads((tmp_path / "assess.json").read_text())
    assert 0 < a["model"]["fom_target"]["fom"] <= 1
    assert (
        a["baselines"]["random"]["fom_target"]["fom"]["mean"]
        < a["baselines"]["nearest"]["fom_target"]["fom"]
    )


def test_calibrate_refusals(clip: Path, runner: Any, tmp_path: Path) -> None:
    cal = _scenario(clip, "clip-refusals", 2005, 2010)
    observed = clip / "wh2010_refy.tif"

    def fails(*args: Any, message: str) -> None:
        out = tmp_path / "out"
        r = invoke(runner, "calibrate", cal, "-o", out, "--workers", "1", *args)
        assert r.exit_code != 0, r.output
        assert message in r.output, r.output
        assert "Traceback" not in r.output
        assert not out.exists()
        assert partial_dirs(tmp_path) == []

    fails("--observed", observed, "--floor", "0.5", "0.1", message="the range is reversed")
    fails("--observed", observed, "--radius", "0", "3", message="within 1..10")
    fails("--observed", observed, "--suitability", "magic", message="choose among")
    fails("--observed", observed, "--exclude", "lava", message="neither a class name nor a role")
    fails("--observed", observed, "--trials", "0", message="at least 1 trial")
    # An observed map on another grid.
    with rasterio.open(observed) as ds:
        data, profile = ds.read(1), ds.profile
    profile.update(width=150)
    other = tmp_path / "other_grid.tif"
    with rasterio.open(other, "w", **profile) as out:
        out.write(data[:, :150], 1)
    fails("--observed", other, message="[--observed]")
    # An observed map with a code the class table does not have.
    profile.update(width=200)
    odd = tmp_path / "odd_codes.tif"
    bad = data.copy()
    bad[0, 0] = 9
    with rasterio.open(odd, "w", **profile) as out:
        out.write(bad, 1)
    fails("--observed", odd, message="are not class codes")
    # An observed period in which nothing became urban: the start map itself.
    fails("--observed", clip / "wh2005_refy.tif", message="no scored cell became urban")


def test_committed_protocol_scenarios_never_read_2013_for_fitting() -> None:
    from landsim.api import _input_files

    cal = load(ROOT / "scenarios" / "wuhan-calibration-2010.toml")
    assert not [p for p in _input_files(cal).values() if "2013" in p.name]
    val = load(ROOT / "scenarios" / "wuhan-validation-2013.toml")
    assert (val.simulation.start_year, val.simulation.end_year) == (2010, 2013)
    assert val.simulation.map_years == [2013]
    assert val.inputs.landuse.name == "wh2010_refy.tif"
    drivers = {k: v.path.name for k, v in val.inputs.driver_specs().items()}
    assert drivers == {"dist_urban": "dist_urban_2010_m.tif", "bare": "bare_2010.tif"}
    # The same drivers as the calibration, each measured on its period's start map.
    cal_drivers = {k: v.path.name for k, v in cal.inputs.driver_specs().items()}
    assert cal_drivers == {"dist_urban": "dist_urban_2005_m.tif", "bare": "bare_2005.tif"}
    assert set(val.suitability.coefficients) == set(cal_drivers)


@pytest.mark.parametrize("year", [2005, 2010])
def test_bare_layers_are_the_maps_bare_land(year: int) -> None:
    """``bare_<year>.tif`` (make_derived_layers.py): 1 on class 5 of that year's map, 0 on
    its other classes, 255 where it is nodata; on the map's grid, deflate-compressed."""
    with rasterio.open(WUHAN / f"wh{year}_refy.tif") as ds:
        landuse, valid, grid = ds.read(1), ds.read_masks(1) > 0, (ds.crs, ds.transform)
    with rasterio.open(WUHAN / f"bare_{year}.tif") as ds:
        bare = ds.read(1)
        assert (ds.crs, ds.transform) == grid
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255
        assert ds.profile["compress"] == "deflate"
    expected = np.where(valid, (landuse == BARE).astype(np.uint8), 255)
    np.testing.assert_array_equal(bare, expected)


def test_assess_scores_every_member_of_an_ensemble(tiny_grid: Any, tmp_path: Path) -> None:
    """``landsim assess --run ENSEMBLE``: every member scored, mean ± spread reported; the
    full metrics are member 0's."""
    from landsim import ensemble
    from landsim.assess import assess, format_table
    from landsim.metrics import figure_of_merit

    scenario = tiny_grid.scenario()
    out = tmp_path / "ens"
    ensemble.run_batch([scenario], out, members=3, workers=1)
    initial = tiny_grid.folder / "synthetic_landuse.tif"
    # The observed map: member 2's own 2030 map, so that member scores perfectly.
    member2 = ensemble.read_member_map(out / "members" / "member_00002.nc", 2030)
    with rasterio.open(initial) as ds:
        profile = ds.profile
    observed = tmp_path / "observed_2030.tif"
    with rasterio.open(observed, "w", **{**profile, "nodata": 255, "dtype": "uint8"}) as ds:
        ds.write(member2, 1)
    report = assess(initial, observed, run_dir=out, scenario=scenario, year=2030)
    members = report["members"]
    assert members["count"] == 3
    foms = [m["fom_target"]["fom"] for m in members["per_member"]]
    assert foms[2] == pytest.approx(1.0)
    assert members["fom_target"]["fom"]["mean"] == pytest.approx(np.mean(foms))
    with rasterio.open(initial) as ds:
        start = ds.read(1)
    member0 = ensemble.read_member_map(out / "members" / "member_00000.nc", 2030)
    direct = figure_of_merit(start, member2, member0, target=4)  # nodata is 255 already
    assert report["model"]["fom_target"]["b"] == direct.b
    assert any("model (3 members)" in line for line in format_table(report))
