"""Vector planning layers rasterised onto the land-use grid (``landsim.io.vector``).

The grid is 40 rows × 50 columns of 30 m in EPSG:32649 (near Wuhan), built in memory;
the vector files are written with pyogrio into ``tmp_path``. Cell sets are checked
against a slow, obvious reference: shapely ``contains`` on each cell centre (cell-centre
rule) and a positive-area intersection with each cell (all-touched rule).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import transform_geom
from shapely.geometry import mapping, shape

from landsim.errors import InputError
from landsim.io.raster import Grid
from landsim.io.vector import VECTOR_SUFFIXES, VectorReport, is_vector, rasterize_vector

X0, Y0, CELL = 800_000.0, 3_380_000.0, 30.0
ROWS, COLS = 40, 50
KEY = "constraints.udb.path"
DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".fgb": "FlatGeobuf"}


@pytest.fixture
def grid(tmp_path: Path) -> Grid:
    return Grid(
        crs=CRS.from_epsg(32649),
        transform=from_origin(X0, Y0, CELL, CELL),
        shape=(ROWS, COLS),
        source=tmp_path / "landuse.tif",
    )


def cells_box(row0: int, col0: int, row1: int, col1: int) -> shapely.Polygon:
    """The polygon whose edges run along the cell edges of rows row0..row1-1, cols col0..col1-1."""
    return shapely.box(X0 + col0 * CELL, Y0 - row1 * CELL, X0 + col1 * CELL, Y0 - row0 * CELL)


def write_layer(
    path: Path,
    geoms: list[Any],
    *,
    crs: str | None = "EPSG:32649",
    fields: dict[str, np.ndarray] | None = None,
    layer: str | None = None,
    geometry_type: str = "Polygon",
) -> Path:
    fields = fields or {}
    pyogrio.raw.write(
        path,
        geometry=np.array([shapely.to_wkb(g) for g in geoms], dtype=object),
        field_data=list(fields.values()),
        fields=list(fields),
        layer=layer,
        driver=DRIVERS[path.suffix],
        crs=crs,
        geometry_type=geometry_type,
        promote_to_multi=False,
    )
    return path


def centres_inside(geom: Any) -> np.ndarray:
    """Reference for the cell-centre rule: shapely ``contains`` on each centre."""
    out = np.zeros((ROWS, COLS), dtype=bool)
    for r in range(ROWS):
        for c in range(COLS):
            out[r, c] = geom.contains(shapely.Point(X0 + (c + 0.5) * CELL, Y0 - (r + 0.5) * CELL))
    return out


def cells_touched(geom: Any) -> np.ndarray:
    """Reference for all-touched: the cell and the polygon share a positive area."""
    out = np.zeros((ROWS, COLS), dtype=bool)
    for r in range(ROWS):
        for c in range(COLS):
            out[r, c] = geom.intersection(cells_box(r, c, r + 1, c + 1)).area > 1e-6
    return out


def expect_error(excinfo: pytest.ExceptionInfo[InputError], path: Path, *fragments: str) -> str:
    msg = str(excinfo.value)
    assert isinstance(excinfo.value, InputError)
    assert isinstance(excinfo.value, OSError)  # InputError is an OSError, as documented
    assert "\n" not in msg
    assert f"[{KEY}]" in msg
    assert str(path) in msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    return msg


# --- suffixes -------------------------------------------------------------------------


def test_is_vector_by_suffix() -> None:
    assert sorted(VECTOR_SUFFIXES) == [".fgb", ".geojson", ".gpkg", ".json", ".shp"]
    for name in ["a.gpkg", "a.shp", "a.geojson", "a.json", "a.fgb", "A.GPKG", "dir/x.Shp"]:
        assert is_vector(Path(name)), name
    for name in ["a.tif", "a.tiff", "a.nc", "a", "a.gpkg.tif", "a.csv"]:
        assert not is_vector(Path(name)), name


# --- which cells --------------------------------------------------------------------------


@pytest.mark.parametrize("all_touched", [False, True])
def test_aligned_square_takes_exactly_its_cells(
    tmp_path: Path, grid: Grid, all_touched: bool
) -> None:
    path = write_layer(tmp_path / "udb.gpkg", [cells_box(5, 10, 15, 20)])
    out, report = rasterize_vector(path, grid, KEY, all_touched=all_touched)
    expected = np.zeros((ROWS, COLS), dtype=np.int32)
    expected[5:15, 10:20] = 1
    assert out.dtype == np.int32
    assert out.shape == grid.shape
    np.testing.assert_array_equal(out, expected)
    assert report.values == {1: 100}
    assert report.all_touched is all_touched


def test_unaligned_square_centre_versus_all_touched(tmp_path: Path, grid: Grid) -> None:
    # Edges 10 m into cells: centre takes the cells whose centre is inside, all-touched
    # adds the whole ring of partly covered cells.
    square = shapely.box(X0 + 310, Y0 - 460, X0 + 610, Y0 - 160)
    path = write_layer(tmp_path / "udb.gpkg", [square])
    centre, _ = rasterize_vector(path, grid, KEY)
    touched, _ = rasterize_vector(path, grid, KEY, all_touched=True)
    np.testing.assert_array_equal(centre > 0, centres_inside(square))
    np.testing.assert_array_equal(touched > 0, cells_touched(square))
    assert (centre > 0).sum() == 10 * 10
    assert (touched > 0).sum() == 11 * 11
    assert ((centre > 0) <= (touched > 0)).all()


def test_irregular_polygon_with_hole_matches_reference(tmp_path: Path, grid: Grid) -> None:
    # A rotated, star-like outline with a hole; vertices off the cell lattice.
    cx, cy = X0 + 25 * CELL + 3.7, Y0 - 20 * CELL - 2.1
    angles = np.linspace(0, 2 * np.pi, 23, endpoint=False) + 0.13
    radii = np.where(np.arange(23) % 2 == 0, 540.0, 310.0)
    outer = list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles), strict=True))
    hole = [(cx - 97, cy - 83), (cx + 101, cy - 79), (cx + 88, cy + 93), (cx - 91, cy + 87)]
    polygon = shapely.Polygon(outer, [hole])
    assert polygon.is_valid
    path = write_layer(tmp_path / "udb.gpkg", [polygon])
    centre, report = rasterize_vector(path, grid, KEY)
    touched, _ = rasterize_vector(path, grid, KEY, all_touched=True)
    np.testing.assert_array_equal(centre > 0, centres_inside(polygon))
    np.testing.assert_array_equal(touched > 0, cells_touched(polygon))
    assert centre[20, 25] == 0  # the hole stays out
    assert 0.9 < report.area_ratio < 1.1


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson", ".fgb"])
def test_every_format_gives_the_same_cells(tmp_path: Path, grid: Grid, suffix: str) -> None:
    polygons = [cells_box(2, 3, 9, 12), cells_box(20, 30, 35, 45)]
    zone = np.array([4, 9], dtype=np.int32)
    path = write_layer(tmp_path / f"pbf{suffix}", polygons, fields={"zone": zone})
    out, report = rasterize_vector(path, grid, KEY, attribute="zone")
    expected = np.zeros((ROWS, COLS), dtype=np.int32)
    expected[2:9, 3:12] = 4
    expected[20:35, 30:45] = 9
    np.testing.assert_array_equal(out, expected)
    assert report.values == {4: 63, 9: 225}
    assert report.features == 2
    assert report.reprojected_from is None


def test_json_suffix_reads_as_geojson(tmp_path: Path, grid: Grid) -> None:
    written = write_layer(tmp_path / "udb.geojson", [cells_box(0, 0, 4, 4)])
    path = written.rename(tmp_path / "udb.json")
    out, _ = rasterize_vector(path, grid, KEY)
    assert out.sum() == 16


# --- reprojection ---------------------------------------------------------------------------


def _densified_4326(geom: Any) -> Any:
    # Densify to 1 m first: straight edges in UTM curve slightly in lon/lat, and with
    # vertices every metre that curvature is far below the 15 m to the nearest centre.
    dense = shapely.segmentize(geom, 1.0)
    return shape(transform_geom("EPSG:32649", "EPSG:4326", mapping(dense)))


@pytest.mark.parametrize("all_touched", [False, True])
def test_polygon_in_4326_is_reprojected_to_the_same_cells(
    tmp_path: Path, grid: Grid, all_touched: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Edges 10 m inside the cell edges: 5 m from the nearest centres and 10 m from the
    # nearest cell edge, so neither rule sits on a knife edge after the round trip.
    square = shapely.box(
        X0 + 7 * CELL + 10, Y0 - 26 * CELL + 10, X0 + 31 * CELL - 10, Y0 - 6 * CELL - 10
    )
    lonlat = _densified_4326(square)
    assert 113 < lonlat.centroid.x < 115 and 30 < lonlat.centroid.y < 31  # Wuhan
    in_grid = write_layer(tmp_path / "utm.gpkg", [square])
    geographic = write_layer(tmp_path / "wgs84.geojson", [lonlat], crs="EPSG:4326")

    expected, _ = rasterize_vector(in_grid, grid, KEY, all_touched=all_touched)
    with caplog.at_level(logging.WARNING, logger="landsim"):
        out, report = rasterize_vector(geographic, grid, KEY, all_touched=all_touched)

    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(
        out > 0, cells_touched(square) if all_touched else centres_inside(square)
    )
    assert report.reprojected_from == "EPSG:4326"
    assert report.polygon_area_km2 == pytest.approx(square.area / 1e6, rel=1e-6)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert warnings[0].name.startswith("landsim")
    assert f"[{KEY}] polygons in EPSG:4326 reprojected to the grid's EPSG:32649" in text


def test_same_crs_logs_nothing(
    tmp_path: Path, grid: Grid, caplog: pytest.LogCaptureFixture
) -> None:
    # A Shapefile's .prj is ESRI WKT, not "EPSG:32649"; it must still count as the same CRS.
    path = write_layer(tmp_path / "udb.shp", [cells_box(0, 0, 3, 3)])
    assert "WGS_1984_UTM_Zone_49N" in path.with_suffix(".prj").read_text()
    with caplog.at_level(logging.DEBUG, logger="landsim"):
        _, report = rasterize_vector(path, grid, KEY)
    assert report.reprojected_from is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- values, overlaps, areas ------------------------------------------------------------------


def test_attribute_values_land_in_their_cells(tmp_path: Path, grid: Grid) -> None:
    polygons = [cells_box(0, 0, 5, 5), cells_box(10, 10, 12, 40), cells_box(30, 0, 40, 50)]
    zone = np.array([1, 254, 17], dtype=np.int64)
    path = write_layer(tmp_path / "zones.gpkg", polygons, fields={"zone": zone})
    out, report = rasterize_vector(path, grid, KEY, attribute="zone")
    assert (out[0:5, 0:5] == 1).all()
    assert (out[10:12, 10:40] == 254).all()
    assert (out[30:40, :] == 17).all()
    assert report.values == {1: 25, 17: 500, 254: 60}
    assert (out > 0).sum() == 585


def test_integral_float_attribute_is_accepted(tmp_path: Path, grid: Grid) -> None:
    path = write_layer(
        tmp_path / "zones.gpkg", [cells_box(0, 0, 2, 2)], fields={"zone": np.array([3.0])}
    )
    out, report = rasterize_vector(path, grid, KEY, attribute="zone")
    assert report.values == {3: 4}
    assert out.dtype == np.int32


@pytest.mark.parametrize("order", ["a_then_b", "b_then_a"])
def test_overlap_later_feature_wins(tmp_path: Path, grid: Grid, order: str) -> None:
    a, b = cells_box(0, 0, 10, 10), cells_box(5, 5, 15, 15)
    polygons, zone = ([a, b], [2, 5]) if order == "a_then_b" else ([b, a], [5, 2])
    path = write_layer(tmp_path / "z.gpkg", polygons, fields={"zone": np.array(zone)})
    out, report = rasterize_vector(path, grid, KEY, attribute="zone")
    later = zone[-1]
    assert (out[5:10, 5:10] == later).all()
    assert (out[0:5, 0:10] == 2).all() and (out[0:10, 0:5] == 2).all()
    assert (out[10:15, 5:15] == 5).all() and (out[5:15, 10:15] == 5).all()
    # The union counts the 25 shared cells once: 100 + 100 - 25.
    assert report.polygon_area_km2 == pytest.approx(175 * 900 / 1e6)
    assert report.raster_area_km2 == pytest.approx(175 * 900 / 1e6)
    assert sum(report.values.values()) == 175
    assert report.area_ratio == pytest.approx(1.0)


def test_area_report_for_a_square(tmp_path: Path, grid: Grid) -> None:
    path = write_layer(tmp_path / "udb.gpkg", [cells_box(5, 10, 15, 20)], layer="udb")
    _, report = rasterize_vector(path, grid, KEY)
    assert isinstance(report, VectorReport)
    assert report.path == path
    assert report.layer == "udb"
    assert report.features == 1
    assert report.polygon_area_km2 == pytest.approx(300 * 300 / 1e6)
    assert report.polygon_area_in_grid_km2 == pytest.approx(300 * 300 / 1e6)
    assert report.raster_area_km2 == pytest.approx(100 * 900 / 1e6)
    assert report.area_ratio == pytest.approx(1.0)
    assert report.reprojected_from is None
    assert report.all_touched is False
    assert "udb" in report.describe() and "100 cells" in report.describe()
    with pytest.raises(AttributeError):
        report.features = 2  # type: ignore[misc]


def test_area_of_an_unaligned_square_and_all_touched(tmp_path: Path, grid: Grid) -> None:
    square = shapely.box(X0 + 310, Y0 - 460, X0 + 610, Y0 - 160)
    path = write_layer(tmp_path / "udb.gpkg", [square])
    _, centre = rasterize_vector(path, grid, KEY)
    _, touched = rasterize_vector(path, grid, KEY, all_touched=True)
    assert centre.polygon_area_km2 == pytest.approx(0.09)
    assert centre.raster_area_km2 == pytest.approx(100 * 900 / 1e6)
    assert touched.raster_area_km2 == pytest.approx(121 * 900 / 1e6)
    assert touched.area_ratio == pytest.approx(1.21)


def test_polygon_partly_outside_grid_ratio_uses_the_part_inside(tmp_path: Path, grid: Grid) -> None:
    # Rows -10..9 (half above the grid), columns 0..9.
    path = write_layer(tmp_path / "udb.gpkg", [cells_box(-10, 0, 10, 10)])
    out, report = rasterize_vector(path, grid, KEY)
    assert (out > 0).sum() == 100
    assert report.polygon_area_km2 == pytest.approx(200 * 900 / 1e6)
    assert report.polygon_area_in_grid_km2 == pytest.approx(100 * 900 / 1e6)
    assert report.area_ratio == pytest.approx(1.0)


# --- what is read ---------------------------------------------------------------------------


def test_layer_of_a_multi_layer_geopackage(tmp_path: Path, grid: Grid) -> None:
    path = tmp_path / "lines.gpkg"
    write_layer(path, [cells_box(0, 0, 2, 2)], layer="udb")
    write_layer(path, [cells_box(10, 10, 13, 13)], layer="pbf")
    out, report = rasterize_vector(path, grid, KEY, layer="pbf")
    assert report.layer == "pbf"
    assert (out > 0).sum() == 9 and (out[10:13, 10:13] == 1).all()


def test_mixed_geometries_skip_points_and_lines_with_a_warning(
    tmp_path: Path, grid: Grid, caplog: pytest.LogCaptureFixture
) -> None:
    geoms = [
        cells_box(0, 0, 3, 3),
        shapely.Point(X0 + 500, Y0 - 500),
        shapely.LineString([(X0, Y0 - 600), (X0 + 600, Y0 - 600)]),
        shapely.MultiPolygon([cells_box(20, 20, 22, 22), cells_box(30, 30, 31, 31)]),
        shapely.GeometryCollection([cells_box(35, 0, 36, 2), shapely.Point(X0, Y0)]),
    ]
    path = write_layer(tmp_path / "mixed.gpkg", geoms, geometry_type="Unknown")
    with caplog.at_level(logging.WARNING, logger="landsim"):
        out, report = rasterize_vector(path, grid, KEY)
    assert (out > 0).sum() == 9 + 4 + 1 + 2
    assert report.features == 5
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped 2 features" in text and "1 points" in text and "1 lines" in text


def test_invalid_bowtie_is_repaired_with_a_warning(
    tmp_path: Path, grid: Grid, caplog: pytest.LogCaptureFixture
) -> None:
    # Corners off the lattice so that no cell centre lies on a diagonal.
    x0, y0, x1, y1 = X0 + 307, Y0 - 901, X0 + 899, Y0 - 296
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    assert not bowtie.is_valid
    path = write_layer(tmp_path / "bowtie.gpkg", [bowtie])
    with caplog.at_level(logging.WARNING, logger="landsim"):
        out, report = rasterize_vector(path, grid, KEY)
    repaired = shapely.make_valid(bowtie)
    np.testing.assert_array_equal(out > 0, centres_inside(repaired))
    assert report.polygon_area_km2 == pytest.approx(repaired.area / 1e6)
    assert "repaired 1 invalid" in " ".join(r.getMessage() for r in caplog.records)


# --- errors -----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path, grid: Grid) -> None:
    path = tmp_path / "nope.gpkg"
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "file not found", "check the path")


def test_directory(tmp_path: Path, grid: Grid) -> None:
    path = tmp_path / "folder.gpkg"
    path.mkdir()
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "is a directory", "give a GeoPackage")


@pytest.mark.parametrize(
    "name, content",
    [
        ("garbage.gpkg", b"SQLite format 3\x00" + b"\x00" * 200),
        ("random.gpkg", bytes(range(256)) * 8),
        ("empty.fgb", b""),
        ("text.geojson", b"this is not json at all"),
        ("other.json", b'{"hello": [1, 2, 3]}'),
    ],
)
def test_not_a_vector_file(tmp_path: Path, grid: Grid, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "not a vector file GDAL can read", "exporting it again")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_geopackage(tmp_path: Path, grid: Grid, keep: float) -> None:
    good = write_layer(tmp_path / "good.gpkg", [cells_box(0, 0, 5, 5)] * 50, layer="udb")
    data = good.read_bytes()
    path = tmp_path / "cut.gpkg"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY, layer="udb")
    msg = str(excinfo.value)
    assert f"[{KEY}]" in msg and str(path) in msg and "\n" not in msg


def test_truncated_flatgeobuf(tmp_path: Path, grid: Grid) -> None:
    good = write_layer(tmp_path / "good.fgb", [cells_box(0, 0, 5, 5)] * 50)
    data = good.read_bytes()
    path = tmp_path / "cut.fgb"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "exporting it again")


def test_shapefile_without_its_shx(tmp_path: Path, grid: Grid) -> None:
    path = write_layer(tmp_path / "udb.shp", [cells_box(0, 0, 5, 5)])
    path.with_suffix(".shx").unlink()
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, ".shx", "not a vector file GDAL can read")


def test_layer_missing_lists_the_layers(tmp_path: Path, grid: Grid) -> None:
    path = tmp_path / "lines.gpkg"
    write_layer(path, [cells_box(0, 0, 2, 2)], layer="udb")
    write_layer(path, [cells_box(0, 0, 2, 2)], layer="pbf")
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY, layer="erl")
    expect_error(excinfo, path, "no layer 'erl'", "udb, pbf", "set layer to one of them")


def test_several_layers_and_none_named(tmp_path: Path, grid: Grid) -> None:
    path = tmp_path / "lines.gpkg"
    write_layer(path, [cells_box(0, 0, 2, 2)], layer="udb")
    write_layer(path, [cells_box(0, 0, 2, 2)], layer="pbf")
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "2 layers (udb, pbf)", "set layer")


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_no_features(tmp_path: Path, grid: Grid, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    if suffix == ".geojson":
        # GDAL reports an empty FeatureCollection with geometry type "Unknown".
        path.write_text('{"type": "FeatureCollection", "features": []}')
    else:
        write_layer(path, [], layer="udb")
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "has no features", "export the polygons again")


@pytest.mark.parametrize(
    "geoms, gtype, words",
    [
        ([shapely.Point(X0 + 100, Y0 - 100)] * 3, "Point", "only 3 points"),
        (
            [shapely.LineString([(X0, Y0 - 100), (X0 + 900, Y0 - 100)])] * 2,
            "LineString",
            "only 2 lines",
        ),
        (
            [
                shapely.Point(X0 + 100, Y0 - 100),
                shapely.MultiLineString([[(X0, Y0 - 50), (X0 + 90, Y0 - 50)]]),
            ],
            "Unknown",
            "only 1 points, 1 multilines",
        ),
    ],
)
def test_points_or_lines_only(
    tmp_path: Path, grid: Grid, geoms: list[Any], gtype: str, words: str
) -> None:
    path = write_layer(tmp_path / "nopoly.gpkg", geoms, geometry_type=gtype)
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "holds no polygons", words, "buffer lines")


def test_empty_geometries_only(tmp_path: Path, grid: Grid) -> None:
    path = tmp_path / "nulls.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": ['
        '{"type": "Feature", "properties": {}, "geometry": null},'
        '{"type": "Feature", "properties": {}, '
        '"geometry": {"type": "Polygon", "coordinates": []}}]}'
    )
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "every geometry", "is empty", "export the polygons again")


def test_attribute_missing_lists_fields(tmp_path: Path, grid: Grid) -> None:
    fields = {"ZONE": np.array([1]), "name": np.array(["a"], dtype=object)}
    path = write_layer(tmp_path / "z.gpkg", [cells_box(0, 0, 2, 2)], fields=fields)
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY, attribute="zone")
    expect_error(
        excinfo, path, "no field 'zone'", "fields: ZONE, name", "did you mean 'ZONE'", "set attr"
    )


def test_attribute_text_field(tmp_path: Path, grid: Grid) -> None:
    fields = {"code": np.array(["3"], dtype=object)}
    path = write_layer(tmp_path / "z.gpkg", [cells_box(0, 0, 2, 2)], fields=fields)
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY, attribute="code")
    expect_error(excinfo, path, "'code'", "not numeric", "convert it to an integer field")


def test_attribute_fractional(tmp_path: Path, grid: Grid) -> None:
    fields = {"zone": np.array([1.0, 2.5])}
    polygons = [cells_box(0, 0, 2, 2), cells_box(5, 5, 7, 7)]
    path = write_layer(tmp_path / "z.gpkg", polygons, fields=fields)
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY, attribute="zone")
    expect_error(excinfo, path, "non-integer values (2.5)", "round or recode")


def test_attribute_null(tmp_path: Path, grid: Grid) -> None:
    path = tmp_path / "z.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": ['
        '{"type": "Feature", "properties": {"zone": 3}, "geometry": {"type": "Polygon", '
        f'"coordinates": [[[{X0}, {Y0}], [{X0 + 90}, {Y0}], [{X0 + 90}, {Y0 - 90}], '
        f"[{X0}, {Y0}]]]}}}},"
        '{"type": "Feature", "properties": {"zone": null}, "geometry": {"type": "Polygon", '
        f'"coordinates": [[[{X0}, {Y0 - 300}], [{X0 + 90}, {Y0 - 300}], '
        f"[{X0 + 90}, {Y0 - 390}], [{X0}, {Y0 - 300}]]]}}}}],"
        '"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32649"}}}'
    )
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY, attribute="zone")
    expect_error(excinfo, path, "is empty for 1 polygons", "give every polygon a zone value")


@pytest.mark.parametrize("bad", [0, 255, 300, -4])
def test_attribute_out_of_range(tmp_path: Path, grid: Grid, bad: int) -> None:
    fields = {"zone": np.array([7, bad], dtype=np.int32)}
    polygons = [cells_box(0, 0, 2, 2), cells_box(5, 5, 7, 7)]
    path = write_layer(tmp_path / "z.gpkg", polygons, fields=fields)
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY, attribute="zone")
    expect_error(excinfo, path, "outside 1..254", f"({bad})", "recode them into 1..254")


def test_no_crs_is_refused(tmp_path: Path, grid: Grid) -> None:
    path = write_layer(tmp_path / "udb.shp", [cells_box(0, 0, 5, 5)])
    path.with_suffix(".prj").unlink()
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "no coordinate reference system", "set one", "ogr2ogr -a_srs")


def test_grid_without_crs(tmp_path: Path, grid: Grid) -> None:
    path = write_layer(tmp_path / "udb.gpkg", [cells_box(0, 0, 5, 5)])
    bare = Grid(crs=None, transform=grid.transform, shape=grid.shape, source=grid.source)
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, bare, KEY)
    expect_error(excinfo, path, "has no CRS", "set the raster's CRS")


def test_polygons_off_the_grid(tmp_path: Path, grid: Grid) -> None:
    far = shapely.box(X0 + 50_000, Y0 + 10_000, X0 + 51_000, Y0 + 11_000)
    path = write_layer(tmp_path / "udb.gpkg", [far], layer="udb_2035")
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(
        excinfo,
        path,
        "layer 'udb_2035'",
        "do not overlap the land-use grid",
        "x 850000.0..851000.0, y 3390000.0..3391000.0",  # the polygons
        "x 800000.0..801500.0, y 3378800.0..3380000.0",  # the grid
        "EPSG:32649",
        "check the layer and its CRS",
    )


def test_polygon_touching_only_the_grid_edge_is_off_the_grid(tmp_path: Path, grid: Grid) -> None:
    path = write_layer(tmp_path / "udb.gpkg", [cells_box(-5, 0, 0, 10)])
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "do not overlap the land-use grid")


def test_wrong_crs_reads_as_off_the_grid(tmp_path: Path, grid: Grid) -> None:
    # UTM coordinates labelled as lon/lat: the classic wrong .prj.
    path = write_layer(tmp_path / "udb.gpkg", [cells_box(0, 0, 5, 5)], crs="EPSG:4326")
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(
        excinfo,
        path,
        "cannot be reprojected to the grid's EPSG:32649",
        "x 800000.0..800150.0, y 3379850.0..3380000.0 in EPSG:4326",
        "check the file's CRS",
    )


def test_wrong_crs_inside_the_projection_domain_reads_as_off_the_grid(
    tmp_path: Path, grid: Grid
) -> None:
    # Coordinates in EPSG:3857 (web Mercator metres) labelled as the grid's UTM zone.
    web = shapely.box(12_720_000, 3_560_000, 12_721_000, 3_561_000)
    path = write_layer(tmp_path / "udb.gpkg", [web], crs="EPSG:32649")
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(excinfo, path, "do not overlap", "check the layer and its CRS")


def test_polygons_too_small_for_the_grid(tmp_path: Path, grid: Grid) -> None:
    # 8 m squares inside cells, away from every centre.
    tiny = [
        shapely.box(X0 + 31, Y0 - 39, X0 + 39, Y0 - 31),
        shapely.box(X0 + 301, Y0 - 309, X0 + 309, Y0 - 301),
    ]
    path = write_layer(tmp_path / "udb.gpkg", tiny)
    with pytest.raises(InputError) as excinfo:
        rasterize_vector(path, grid, KEY)
    expect_error(
        excinfo,
        path,
        "cover no cell centre (128.0 m² in all vs 900.0 m² a cell)",
        "too small",
        "all_touched",
    )
    out, report = rasterize_vector(path, grid, KEY, all_touched=True)
    assert (out > 0).sum() == 2 and out[1, 1] == 1 and out[10, 10] == 1
    assert report.area_ratio == pytest.approx(2 * 900 / (2 * 64))


# --- beside rasterio ---------------------------------------------------------------------------

_SAME_PROCESS = """
import sys
from pathlib import Path
first = sys.argv[2]
__import__(first)  # pyogrio and rasterio each bring their own GDAL; try both orders
import numpy as np, pyogrio.raw, rasterio, rasterio.warp, shapely
from rasterio.transform import from_origin
from landsim.io.raster import read_landuse
from landsim.io.vector import rasterize_vector

d = Path(sys.argv[1])
with rasterio.open(
    d / "landuse.tif", "w", driver="GTiff", width=50, height=40, count=1, dtype="uint8",
    crs="EPSG:32649", transform=from_origin(800000, 3380000, 30, 30),
) as ds:
    ds.write(np.ones((1, 40, 50), dtype="uint8"))
square = shapely.box(800300, 3379550, 800600, 3379850)
lonlat = shapely.geometry.shape(rasterio.warp.transform_geom(
    "EPSG:32649", "EPSG:4326", shapely.geometry.mapping(shapely.segmentize(square, 1.0))))
pyogrio.raw.write(
    d / "lines.gpkg", geometry=np.array([shapely.to_wkb(lonlat)], dtype=object),
    field_data=[], fields=[], layer="udb", driver="GPKG", crs="EPSG:4326",
    geometry_type="Polygon",
)
_, grid = read_landuse(d / "landuse.tif", [1])
out, report = rasterize_vector(d / "lines.gpkg", grid, "k")
with rasterio.open(d / "landuse.tif") as ds:  # rasterio still works after pyogrio
    assert ds.crs.to_epsg() == 32649
print(int((out > 0).sum()), report.reprojected_from)
"""


@pytest.mark.parametrize("first", ["pyogrio", "rasterio"])
def test_geopackage_and_geotiff_in_one_process(tmp_path: Path, first: str) -> None:
    # A fresh interpreter, so the import order is really the one named.
    done = subprocess.run(
        [sys.executable, "-c", _SAME_PROCESS, str(tmp_path), first],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["100", "EPSG:4326"]


def test_geographic_grid_reports_no_km2(tmp_path: Path) -> None:
    # A lon/lat grid of 0.001° cells: areas in km² are unknown, the ratio still holds.
    grid = Grid(
        crs=CRS.from_epsg(4326),
        transform=from_origin(114.0, 30.6, 0.001, 0.001),
        shape=(ROWS, COLS),
        source=tmp_path / "landuse.tif",
    )
    square = shapely.box(114.005, 30.58, 114.015, 30.59)
    path = write_layer(tmp_path / "udb.geojson", [square], crs="EPSG:4326")
    out, report = rasterize_vector(path, grid, KEY)
    assert (out > 0).sum() == 100
    assert report.polygon_area_km2 is None and report.raster_area_km2 is None
    assert report.area_ratio == pytest.approx(1.0)
    assert "100 cells" in report.describe()
