"""The synthetic region generator (landsim.synthetic) and the regions shipped in rasters/.

Regions are generated at 100 m (Hengyang about 2 s, Zhangjiajie about 1 s) for the
plan's areas and the shipped files, and at 1 km for everything that only needs the
structure, so the module runs in a few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.warp import transform_geom
from scipy import ndimage

from landsim.synthetic import (
    HENGYANG,
    ZHANGJIAJIE,
    Region,
    RegionSpec,
    make_region,
    region_summary,
    write_region,
)
from landsim.synthetic.region import (
    BARE,
    CROPLAND,
    FOREST,
    GRASSLAND,
    NODATA_F32,
    NODATA_U8,
    URBAN,
    WATER,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {
    "hengyang": ROOT / "rasters" / "hengyang_synthetic",
    "zhangjiajie": ROOT / "rasters" / "zhangjiajie_synthetic",
}
SPECS = {"hengyang": HENGYANG, "zhangjiajie": ZHANGJIAJIE}
U8_LAYERS = ("landuse", "districts", "udb_zones", "basic_farmland", "red_line")
F32_LAYERS = ("dem_m", "slope_deg", "dist_urban_m", "dist_roads_m", "dist_centres_m")
NATURAL = (FOREST, GRASSLAND, WATER, BARE)


@pytest.fixture(scope="module")
def fine() -> dict[str, Region]:
    return {name: make_region(spec, 100.0, seed=0) for name, spec in SPECS.items()}


@pytest.fixture(scope="module")
def coarse() -> dict[str, Region]:
    return {name: make_region(spec, 1000.0, seed=0) for name, spec in SPECS.items()}


def _km2(region: Region, mask: np.ndarray) -> float:
    return int(mask.sum()) * region.cell_km2


def _udb(region: Region) -> np.ndarray:
    return (region.udb_zones > 0) & region.valid


def _arrays(region: Region) -> dict[str, np.ndarray]:
    layers = (
        U8_LAYERS + F32_LAYERS + (("control_lines",) if region.control_lines is not None else ())
    )
    return {name: getattr(region, name) for name in layers}


# --------------------------------------------------------------------------- determinism


def test_same_spec_resolution_and_seed_give_identical_arrays(coarse: dict[str, Region]) -> None:
    again = make_region(HENGYANG, 1000.0, seed=0)
    first = coarse["hengyang"]
    assert again.transform == first.transform
    assert again.settlements == first.settlements
    for name, array in _arrays(first).items():
        np.testing.assert_array_equal(_arrays(again)[name], array, err_msg=name)


def test_another_seed_moves_the_land_but_keeps_the_areas(coarse: dict[str, Region]) -> None:
    first, other = coarse["hengyang"], make_region(HENGYANG, 1000.0, seed=1)
    assert not np.array_equal(first.landuse, other.landuse)
    np.testing.assert_array_equal(
        np.bincount(first.landuse.ravel(), minlength=256),
        np.bincount(other.landuse.ravel(), minlength=256),
    )
    assert first.valid.sum() == other.valid.sum()


def test_written_files_are_byte_identical_and_labelled_synthetic(
    coarse: dict[str, Region], tmp_path: Path
) -> None:
    region = coarse["hengyang"]
    first = write_region(region, tmp_path / "a")
    second = write_region(make_region(HENGYANG, 1000.0, seed=0), tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    names = {p.name for p in first}
    assert {"districts.csv", "region.json", "planning_lines_synthetic_epsg4326.geojson"} <= names
    assert not list((tmp_path / "a").glob(".*")), "temporary files left behind"
    for path in first:
        if path.suffix == ".tif":
            assert "synthetic" in path.name
            with rasterio.open(path) as ds:
                tags = ds.tags()
                assert ds.crs.to_epsg() == 32649
                assert tuple(ds.transform)[:6] == region.transform
                assert ds.profile["compress"] == "deflate" and ds.profile["blockxsize"] == 256
            assert tags["synthetic"] == "true"
            description = tags["description"]
            assert "SYNTHETIC" in description and "landsim" in description
            assert "spec hengyang" in description and "seed 0" in description
    text = (tmp_path / "a" / "region.json").read_text(encoding="utf-8")
    assert "珠晖区" in text  # ensure_ascii=False: names stay readable
    summary = json.loads(text)
    assert summary["synthetic"] is True and summary["spec"] == "hengyang"
    csv_lines = (tmp_path / "a" / "districts.csv").read_text(encoding="utf-8").splitlines()
    assert csv_lines[0] == "code,name" and csv_lines[1] == "1,珠晖区" and len(csv_lines) == 13


def test_resolution_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="resolution_m"):
        make_region(HENGYANG, 1.0)


# --------------------------------------------------------------------------- areas


def test_coarse_grid_is_exact_in_cells(coarse: dict[str, Region]) -> None:
    for name, region in coarse.items():
        spec: RegionSpec = region.spec

        def cells(km2: float, r: Region = region) -> int:
            return round(km2 / r.cell_km2)

        assert int(region.valid.sum()) == cells(spec.total_km2), name
        assert int(_udb(region).sum()) == cells(spec.udb_km2), name
        assert int((region.basic_farmland == 1).sum()) == cells(spec.pbf_km2), name
        assert int((region.red_line == 1).sum()) == cells(spec.erl_km2), name
        assert int((region.landuse == URBAN).sum()) == cells(spec.urban_km2()), name


@pytest.mark.parametrize("name", ["hengyang", "zhangjiajie"])
def test_lines_and_classes_hit_the_targets(fine: dict[str, Region], name: str) -> None:
    region = fine[name]
    spec = region.spec
    close = {"rel": 0.005}
    assert _km2(region, region.valid) == pytest.approx(spec.total_km2, **close)
    assert _km2(region, _udb(region)) == pytest.approx(spec.udb_km2, **close)
    assert _km2(region, region.basic_farmland == 1) == pytest.approx(spec.pbf_km2, **close)
    assert _km2(region, region.red_line == 1) == pytest.approx(spec.erl_km2, **close)
    for zone, share in enumerate(spec.udb_zone_shares, start=1):
        got = _km2(region, region.udb_zones == zone)
        assert got == pytest.approx(share * spec.udb_km2, rel=0.01), zone
    for c in spec.classes:
        if c.target_km2 is not None:
            assert _km2(region, region.landuse == c.code) == pytest.approx(c.target_km2, **close)


def test_hengyang_matches_the_plan(fine: dict[str, Region]) -> None:
    region = fine["hengyang"]
    total = _km2(region, region.valid)
    cropland = _km2(region, region.landuse == CROPLAND)
    assert 3700 <= cropland <= 3900 and cropland > 3505.4  # above the retention target
    assert 0.55 <= _km2(region, region.landuse == FOREST) / total <= 0.60
    assert 0.04 <= _km2(region, region.landuse == WATER) / total <= 0.05
    assert 360 <= _km2(region, region.landuse == URBAN) <= 420
    central = np.isin(region.districts, HENGYANG.central_districts)
    assert _km2(region, _udb(region) & central) == pytest.approx(244.32, rel=0.005)
    assert _km2(region, (region.basic_farmland == 1) & central) == pytest.approx(52.2, rel=0.005)
    assert _km2(region, (region.red_line == 1) & central) == pytest.approx(4.59, rel=0.005)
    assert region.control_lines is not None
    for line in HENGYANG.control_lines:
        got = _km2(region, region.control_lines == line.code)
        assert got == pytest.approx(line.area_km2, rel=0.005), line.name
    peak = float(region.dem_m[region.valid].max())
    assert 1250 <= peak <= 1300  # Mount Heng


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("name", ["hengyang", "zhangjiajie"])
def test_lines_overlap_only_in_the_deliberate_conflict(fine: dict[str, Region], name: str) -> None:
    region = fine[name]
    udb, pbf, erl = _udb(region), region.basic_farmland == 1, region.red_line == 1
    assert not (pbf & erl).any()
    with_farmland, with_red_line = _km2(region, udb & pbf), _km2(region, udb & erl)
    assert with_farmland == pytest.approx(region.spec.conflict_udb_pbf_km2, abs=0.01)
    assert with_red_line == pytest.approx(region.spec.conflict_udb_erl_km2, abs=0.01)
    if name == "hengyang":
        assert 1.0 <= with_farmland <= 3.0 and 0.5 <= with_red_line <= 1.0
    # One connected patch each, not cells scattered along the whole boundary.
    for overlap in (udb & pbf, udb & erl):
        _, patches = ndimage.label(overlap, structure=np.ones((3, 3), bool))
        assert patches == 1


@pytest.mark.parametrize("name", ["hengyang", "zhangjiajie"])
def test_boundary_holds_the_towns_and_room_to_grow(fine: dict[str, Region], name: str) -> None:
    region = fine[name]
    udb, urban = _udb(region), region.landuse == URBAN
    assert (urban & udb).sum() / urban.sum() > 0.9
    room = udb & ~urban
    if name == "hengyang":
        assert _km2(region, room) >= 200
    # The room is at the urban edges and along the roads, not scattered over the region.
    assert np.median(region.dist_urban_m[room]) < 500
    assert np.median(region.dist_roads_m[room]) < np.median(region.dist_roads_m[region.valid])


@pytest.mark.parametrize("name", ["hengyang", "zhangjiajie"])
def test_basic_farmland_is_cropland_away_from_towns(fine: dict[str, Region], name: str) -> None:
    region = fine[name]
    pbf = region.basic_farmland == 1
    assert (region.landuse[pbf] == CROPLAND).all()
    other_cropland = (region.landuse == CROPLAND) & ~pbf
    assert np.median(region.dist_urban_m[pbf]) > np.median(region.dist_urban_m[other_cropland])


@pytest.mark.parametrize("name", ["hengyang", "zhangjiajie"])
def test_red_line_covers_the_protected_mountains(fine: dict[str, Region], name: str) -> None:
    region = fine[name]
    a, _, c, _, e, f = region.transform
    rows, cols = np.indices(region.landuse.shape)
    x_km, y_km = (c + (cols + 0.5) * a) / 1000, (f + (rows + 0.5) * e) / 1000
    erl = region.red_line == 1
    natural = np.isin(region.landuse, NATURAL)
    assert (region.landuse[erl] != CROPLAND).all() and (region.landuse[erl] != URBAN).all()
    for m in region.spec.mountains:
        if m.protected:
            near = (x_km - m.centre[0]) ** 2 + (y_km - m.centre[1]) ** 2 < 2.5**2
            near &= natural & (region.dist_urban_m > 1000)  # the line keeps off the towns
            assert near.sum() > 0, m.name
            assert erl[near].mean() >= 0.95, m.name


@pytest.mark.parametrize("name", ["hengyang", "zhangjiajie"])
def test_nodata_outside_one_connected_region(fine: dict[str, Region], name: str) -> None:
    region = fine[name]
    valid = region.valid
    for layer in U8_LAYERS:
        array = getattr(region, layer)
        np.testing.assert_array_equal(array != NODATA_U8, valid, err_msg=layer)
    for layer in F32_LAYERS:
        array = getattr(region, layer)
        assert array.dtype == np.float32
        np.testing.assert_array_equal(array != NODATA_F32, valid, err_msg=layer)
        assert np.isfinite(array[valid]).all() and (array[valid] >= 0).all(), layer
    _, pieces = ndimage.label(valid, structure=np.ones((3, 3), bool))
    assert pieces == 1
    assert not (valid[0].any() or valid[-1].any() or valid[:, 0].any() or valid[:, -1].any())
    assert valid.mean() < 0.8  # an irregular outline, not a rectangle


@pytest.mark.parametrize("name", ["hengyang", "zhangjiajie"])
def test_every_district_is_present_and_holds_its_seat(fine: dict[str, Region], name: str) -> None:
    region = fine[name]
    a, _, c, _, e, f = region.transform
    counts = np.bincount(region.districts[region.valid], minlength=256)
    for code in region.district_names:
        assert counts[code] > 0, region.district_names[code]
    assert counts[[code for code in range(256) if code not in region.district_names]].sum() == 0
    for s in region.settlements:
        row = int((s.at[1] * 1000 - f) / e)
        col = int((s.at[0] * 1000 - c) / a)
        assert region.valid[row, col], s.name
        if s.district is not None:
            assert region.districts[row, col] == s.district, s.name
    central = [counts[code] * region.cell_km2 for code in region.spec.central_districts]
    assert all(km2 < 300 for km2 in central)


def test_hengyang_settlements_and_rivers(fine: dict[str, Region]) -> None:
    region = fine["hengyang"]
    kinds = [s.kind for s in region.settlements]
    assert kinds.count("centre") == 1 and kinds.count("county") == 8 and kinds.count("town") == 34
    water = region.landuse == WATER
    assert np.median(region.dem_m[water]) < 100  # rivers in the valleys
    centres = region.dist_centres_m[region.valid]
    assert centres.min() == 0 and centres.max() < 60_000


def test_control_lines_lie_in_the_central_boundary(fine: dict[str, Region]) -> None:
    region = fine["hengyang"]
    assert region.control_lines is not None
    lines = (region.control_lines > 0) & region.valid
    central = np.isin(region.districts, HENGYANG.central_districts)
    assert (_udb(region) & central)[lines].all()
    blue = region.control_lines == 2
    assert np.median(region.dist_urban_m[blue]) < 300  # rivers in the city
    assert fine["zhangjiajie"].control_lines is None


# --------------------------------------------------------------------------- shipped files


@pytest.mark.parametrize("name", ["hengyang", "zhangjiajie"])
def test_shipped_files_equal_a_fresh_generation(fine: dict[str, Region], name: str) -> None:
    region, folder = fine[name], SHIPPED[name]
    summary = json.loads((folder / "region.json").read_text(encoding="utf-8"))
    assert summary["seed"] == 0 and summary["resolution_m"] == 100.0
    files = {
        "landuse": "landuse_2020_synthetic.tif",
        "districts": "districts_synthetic.tif",
        "udb_zones": "urban_development_boundary_zones_synthetic.tif",
        "basic_farmland": "permanent_basic_farmland_synthetic.tif",
        "red_line": "ecological_red_line_synthetic.tif",
        "control_lines": "urban_control_lines_synthetic.tif",
        "dem_m": "dem_m_synthetic.tif",
        "slope_deg": "slope_deg_synthetic.tif",
        "dist_urban_m": "dist_urban_2020_m_synthetic.tif",
        "dist_roads_m": "dist_roads_m_synthetic.tif",
        "dist_centres_m": "dist_centres_m_synthetic.tif",
    }
    fresh = _arrays(region)
    assert (folder / files["control_lines"]).exists() == ("control_lines" in fresh)
    for layer, array in fresh.items():
        with rasterio.open(folder / files[layer]) as ds:
            shipped = ds.read(1)
            assert ds.crs.to_epsg() == 32649 and tuple(ds.transform)[:6] == region.transform
            assert ds.tags()["synthetic"] == "true"
        if layer == "slope_deg":
            # arctan may differ in its last bit between CPUs: one rounding step at most.
            np.testing.assert_allclose(shipped, array, atol=0.51, err_msg=layer)
        else:
            np.testing.assert_array_equal(shipped, array, err_msg=layer)
    recomputed = json.loads(json.dumps(region_summary(region), ensure_ascii=False))
    summary.pop("files")
    assert summary == recomputed
    names = (folder / "districts.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert names == [f"{code},{n}" for code, n in sorted(region.district_names.items())]
    assert (folder / "SOURCE.md").exists()


def test_shipped_folders_stay_small() -> None:
    total = sum(p.stat().st_size for folder in SHIPPED.values() for p in folder.iterdir())
    assert total < 8.5e6


def test_shipped_geojson_rasterises_back_to_the_boundary() -> None:
    folder = SHIPPED["zhangjiajie"]
    path = folder / "planning_lines_synthetic_epsg4326.geojson"
    assert path.stat().st_size < 2e6
    collection = json.loads(path.read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection" and collection["synthetic"] is True
    assert sorted(f["properties"]["zone"] for f in collection["features"]) == [1, 2, 3]
    with rasterio.open(folder / "urban_development_boundary_zones_synthetic.tif") as ds:
        zones, transform, shape = ds.read(1), ds.transform, ds.shape
    lon, lat = np.array(collection["features"][0]["geometry"]["coordinates"][0][0]).T
    assert (lon > 109).all() and (lon < 112).all() and (lat > 28).all() and (lat < 30.5).all()
    shapes = [
        (transform_geom("EPSG:4326", "EPSG:32649", f["geometry"]), f["properties"]["zone"])
        for f in collection["features"]
    ]
    back = rasterize(shapes, out_shape=shape, transform=Affine(*transform[:6]), dtype="uint8")
    np.testing.assert_array_equal(back, np.where(zones == NODATA_U8, 0, zones))
