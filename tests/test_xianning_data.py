"""The Xianning inputs in ``rasters/xianning`` (made by ``make_xianning.py``, see SOURCE.md)."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "rasters" / "xianning"
SCRIPT = DATA / "make_xianning.py"
SOURCE = ROOT.parent / "shared" / "data" / "xianning_mcca_2000_2015"

SHAPE = (490, 556)
# geotransform of the source's Xianning_2000_landuse_1.tif
TRANSFORM = (
    0.0026409282245509758,
    0.0,
    113.51958897185962,
    0.0,
    -0.002640928224547423,
    30.329336965038653,
)
VALID_CELLS = 199_453
CLASS_NAMES = ("cropland", "forest", "grassland", "water", "urban", "rural_residential", "other")

# file -> (dtype, band count, cells inside the land-use data that are nodata)
FILES = {
    "landuse_2000_dominant.tif": ("uint8", 1, 0),
    "landuse_2015_dominant.tif": ("uint8", 1, 0),
    "fractions_2000.tif": ("float32", 7, 0),
    "fractions_2015.tif": ("float32", 7, 0),
    "dem_m.tif": ("float32", 1, 0),
    "slope_deg.tif": ("float32", 1, 8),
    "dist_town_deg.tif": ("float32", 1, 1),
    "dist_highway_deg.tif": ("float32", 1, 1),
    "dist_primaryroad_deg.tif": ("float32", 1, 1),
    "dist_arterialroad_deg.tif": ("float32", 1, 1),
    "dist_secondaryroad_deg.tif": ("float32", 1, 1),
    "dist_tertiaryroad_deg.tif": ("float32", 1, 1092),
    "dist_hsr_station_deg.tif": ("float32", 1, 1),
    "open_water_2015.tif": ("uint8", 1, 0),
    "dist_urban_2000_km.tif": ("float32", 1, 0),
    "dist_urban_2015_km.tif": ("float32", 1, 0),
}


def _load_script():
    spec = importlib.util.spec_from_file_location("make_xianning", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _read(name: str) -> np.ndarray:
    with rasterio.open(DATA / name) as ds:
        return ds.read() if ds.count > 1 else ds.read(1)


@pytest.fixture(scope="module")
def valid() -> np.ndarray:
    return _read("landuse_2000_dominant.tif") != 255


@pytest.mark.parametrize("name", sorted(FILES))
def test_file_opens_with_expected_layout(name: str, valid: np.ndarray) -> None:
    dtype, count, holes = FILES[name]
    with rasterio.open(DATA / name) as ds:
        assert ds.count == count
        assert ds.dtypes == (dtype,) * count
        assert ds.shape == SHAPE
        assert ds.crs.to_epsg() == 4326
        assert tuple(ds.transform)[:6] == TRANSFORM
        assert ds.profile["compress"] == "deflate"
        assert ds.block_shapes[0] == (256, 256)
        if dtype == "uint8":
            assert ds.nodata == 255
        else:
            assert math.isnan(ds.nodata)
        ok = ds.read_masks(1) > 0
    assert not (ok & ~valid).any(), "data outside the land-use data"
    assert int((valid & ~ok).sum()) == holes


def test_valid_cells_same_both_years(valid: np.ndarray) -> None:
    assert int(valid.sum()) == VALID_CELLS
    assert np.array_equal(_read("landuse_2015_dominant.tif") != 255, valid)


@pytest.mark.parametrize("year", [2000, 2015])
def test_dominant_is_argmax_of_fractions(year: int) -> None:
    dom = _read(f"landuse_{year}_dominant.tif")
    frac = _read(f"fractions_{year}.tif")
    with rasterio.open(DATA / f"fractions_{year}.tif") as ds:
        assert ds.descriptions == CLASS_NAMES
    with rasterio.open(DATA / f"landuse_{year}_dominant.tif") as ds:
        tags = ds.tags()
        cmap = ds.colormap(1)
    assert tags["method"] == "argmax of class fractions"
    assert tags["year"] == str(year)
    assert "mcMCCA" in tags["source"]
    assert all(cmap[k][3] == 255 for k in range(1, 8))

    nodata = np.isnan(frac).all(axis=0) | (np.nansum(frac, axis=0) == 0)
    expected = np.zeros(dom.shape, dtype=np.uint8)
    best = np.full(dom.shape, -np.inf, dtype=np.float32)
    for k in range(7):  # strict '>' keeps the first (lowest) class on ties
        band = np.where(np.isnan(frac[k]), -np.inf, frac[k])
        better = band > best
        expected[better] = k + 1
        best = np.maximum(best, band)
    expected[nodata] = 255
    assert np.array_equal(dom, expected)
    assert set(np.unique(dom)) <= {1, 2, 3, 4, 5, 6, 7, 255}
    # the data has real ties, so the tie rule is exercised
    top2 = np.sort(np.where(nodata[None], 0, frac), axis=0)[-2:]
    assert int((~nodata & (top2[0] == top2[1])).sum()) > 100


@pytest.mark.parametrize("year", [2000, 2015])
def test_fractions_sum_to_one_inside(year: int, valid: np.ndarray) -> None:
    frac = _read(f"fractions_{year}.tif")
    assert np.array_equal(~np.isnan(frac[0]), valid)
    assert np.array_equal(np.isnan(frac), np.broadcast_to(~valid, frac.shape))
    v = frac[:, valid]
    assert v.min() >= 0 and v.max() <= 1
    total = frac.sum(axis=0)
    interior = ndimage.binary_erosion(valid, structure=np.ones((3, 3)), border_value=0)
    t = total[interior]
    assert t.max() <= 1 + 1e-5
    # fractions are hundredths; about 0.1 % of interior cells lack more than one hundredth
    assert np.mean(np.abs(t - 1) <= 0.01 + 1e-5) > 0.998
    assert np.median(t) == pytest.approx(1, abs=1e-6)
    # partial (sum < 1) cells stay valid in the dominant map
    dom = _read(f"landuse_{year}_dominant.tif")
    assert (dom[valid & (total < 0.5)] != 255).all()


def test_open_water_is_water_fraction_at_least_half(valid: np.ndarray) -> None:
    water = _read("open_water_2015.tif")
    frac4 = _read("fractions_2015.tif")[3]
    assert set(np.unique(water)) == {0, 1, 255}
    assert np.array_equal(water == 255, ~valid)
    assert np.array_equal(water == 1, valid & (frac4 >= 0.5 - 1e-6))


@pytest.mark.parametrize("year", [2000, 2015])
def test_dist_urban_zero_on_urban_positive_elsewhere(year: int, valid: np.ndarray) -> None:
    dist = _read(f"dist_urban_{year}_km.tif")
    urban = _read(f"landuse_{year}_dominant.tif") == 5
    assert np.array_equal(np.isnan(dist), ~valid)
    assert (dist[urban] == 0).all()
    assert (dist[valid & ~urban] > 0).all()

    # brute-force oracle on a sample of cells
    mod = _load_script()
    _, cell_h, cell_w = mod.cell_size_km(rasterio.Affine(*TRANSFORM), SHAPE[0])
    assert cell_h == pytest.approx(0.2927, abs=1e-3)
    assert cell_w == pytest.approx(0.2556, abs=1e-3)
    assert dist[valid & ~urban].min() == pytest.approx(min(cell_h, cell_w), rel=1e-6)
    ur, uc = np.nonzero(urban)
    rows, cols = np.nonzero(valid)
    pick = np.linspace(0, rows.size - 1, 200).astype(int)
    for r, c in zip(rows[pick], cols[pick], strict=True):
        want = np.sqrt(((ur - r) * cell_h) ** 2 + ((uc - c) * cell_w) ** 2).min()
        assert dist[r, c] == pytest.approx(want, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("name", [n for n in FILES if n.endswith("_deg.tif") and "dist" in n])
def test_source_distances_are_non_negative_degrees(name: str) -> None:
    d = _read(name)
    ok = ~np.isnan(d)
    assert d[ok].min() >= 0
    assert d[ok].max() < 1.0  # degrees: the grid is 1.47 x 1.29 degrees
    with rasterio.open(DATA / name) as ds:
        assert ds.tags()["units"].startswith("decimal degree")


@pytest.mark.skipif(
    not (SOURCE / "Xianning_2000_landuse_1.tif").is_file(),
    reason=f"Xianning source data not present at {SOURCE} (shared data folder absent)",
)
def test_rerun_reproduces_identical_bytes(tmp_path: Path) -> None:
    out = tmp_path / "xianning"
    subprocess.run(
        [sys.executable, str(SCRIPT), str(SOURCE), "--out", str(out), "--quiet"],
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    made = sorted(p.name for p in out.iterdir())
    assert made == sorted(FILES)
    for name in made:
        assert (out / name).read_bytes() == (DATA / name).read_bytes(), name
