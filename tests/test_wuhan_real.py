"""The default Wuhan data: a real clip end to end, and the full default scenario checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.windows import Window

from landsim.cli.main import main
from landsim.scenario import load

ROOT = Path(__file__).resolve().parents[1]
WUHAN = ROOT / "rasters" / "wuhan"
DEFAULT = ROOT / "scenarios" / "wuhan-2035.toml"
LAYERS = [
    "wh2013_refy.tif",
    "WaterWuhan.tif",
    "slope_deg.tif",
    "wh_Pop.tif",
    "dist_urban_2013_m.tif",
    "ecological_red_line_illustrative.tif",
    "permanent_basic_farmland_illustrative.tif",
    "urban_development_boundary_illustrative.tif",
]


def _clip(src: Path, dst: Path, window: Window) -> None:
    with rasterio.open(src) as ds:
        profile = {
            **ds.profile,
            "height": window.height,
            "width": window.width,
            "transform": ds.window_transform(window),
        }
        profile.pop("blockxsize", None)
        profile.pop("blockysize", None)
        profile["tiled"] = False
        data = ds.read(1, window=window)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data, 1)


def test_default_scenario_validates() -> None:
    """The shipped default scenario and its rasters pass `landsim validate`."""
    r = CliRunner().invoke(main, ["validate", str(DEFAULT)])
    assert r.exit_code == 0, r.output
    assert "2931 × 2931 cells, EPSG:32649" in r.output
    assert "urban start cells: 929,417" in r.output


def test_wuhan_clip_end_to_end(tmp_path: Path) -> None:
    """A 200 × 200 clip of the real data runs the default model with zero violations."""
    window = Window(1300, 1100, 200, 200)  # the city centre and its edge
    for name in LAYERS:
        _clip(WUHAN / name, tmp_path / name, window)
    base = load(DEFAULT)
    with rasterio.open(tmp_path / "wh2013_refy.tif") as ds:
        lu = ds.read(1)
    observed = int((lu == 4).sum())
    text = DEFAULT.read_text(encoding="utf-8").replace("../rasters/wuhan/", "")
    text = text.replace(
        "urban = { 2013 = 929417, 2035 = 2176597 }",
        f"urban = {{ 2013 = {observed}, 2020 = {observed + 700} }}",
    )
    text = text.replace("end_year = 2035", "end_year = 2020").replace(
        "output_years = [2020, 2025, 2030, 2035]", "output_years = [2020]"
    )
    scenario = tmp_path / "clip.toml"
    scenario.write_text(text, encoding="utf-8")
    assert load(scenario).model == base.model
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(scenario), "-o", str(out)])
    assert r.exit_code == 0, r.output
    with rasterio.open(out / "landuse_2020.tif") as ds:
        final = ds.read(1)
    assert int((final == 4).sum()) == observed + 700
    checked = json.loads((out / "compliance.json").read_text())["final_check_from_maps"]
    assert all(v["violations"] == 0 for v in checked["lines"].values())
    udb = rasterio.open(tmp_path / "urban_development_boundary_illustrative.tif").read(1)
    new = (final == 4) & (lu != 4)
    assert new.sum() == 700 and np.all(udb[new] == 1)


@pytest.mark.slow
def test_default_scenario_full_run(tmp_path: Path) -> None:
    """The README's main job: Wuhan 2013 → 2035 meets its demand within the lines."""
    out = tmp_path / "wuhan"
    r = CliRunner().invoke(main, ["run", str(DEFAULT), "-o", str(out)])
    assert r.exit_code == 0, r.output
    comp = json.loads((out / "compliance.json").read_text())
    assert comp["years"][-1]["new_urban_cells_cumulative"] == 2176597 - 929417
    assert all(v["violations"] == 0 for v in comp["final_check_from_maps"]["lines"].values())
