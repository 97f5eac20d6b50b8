"""Planning layers given as polygons, rasterised onto the land-use grid.

Planning bureaus deliver the lines of a territorial spatial plan (urban development
boundary, permanent basic farmland, ecological red line) as polygons in a GeoPackage,
Shapefile, GeoJSON or FlatGeobuf. :func:`rasterize_vector` reads one layer with pyogrio
(GDAL) and shapely, reprojects it to the grid's CRS with ``rasterio.warp.transform_geom``
and burns it with ``rasterio.features.rasterize``. The rules:

Which cells
    By default a cell belongs to a polygon when the polygon contains the cell's *centre*
    (GDAL's rule), so a polygon whose edges run along cell edges takes exactly the cells
    it encloses and a line shared by two polygons gives each cell to one side only. With
    ``all_touched=True`` every cell the polygon touches at all is taken: the layer grows
    by up to one cell along its whole boundary. Use it for thin or small polygons (a
    narrow red-line corridor) that would otherwise miss cell centres. An edge lying
    exactly on a cell edge is a knife edge for all-touched: after reprojection it may
    take the neighbouring row of cells.

Values and overlaps
    A cell holds the value of ``attribute`` of its polygon, or 1 when no attribute is
    given; 0 means outside every polygon. Values must be integers in 1..254 (0 is
    "outside", 255 is the nodata code of landsim's uint8 maps). Where polygons overlap,
    **the later feature in the layer wins** (GDAL burns the features in file order and
    each overwrites the last). Sort the layer, or split it, when another precedence is
    wanted.

What is read
    One layer: a file with several layers (a GeoPackage holding all three lines) needs
    ``layer``; landsim does not guess. Polygon and multipolygon features are used;
    features with empty or other geometries (points, lines) are skipped with a warning,
    and a layer with no polygon at all is refused. Invalid polygons (self-intersecting
    rings) are repaired with ``shapely.make_valid`` after reprojection, with a warning.

Coordinate systems
    A file without a CRS is refused (there is no safe guess). A file in another CRS is
    reprojected vertex by vertex to the grid's CRS and the reprojection is logged as a
    warning; a grid without a CRS cannot receive polygons.

Area accounting (:class:`VectorReport`)
    ``polygon_area_km2`` is the area of the union of the polygons, measured in the grid's
    CRS after reprojection, so overlaps count once. ``polygon_area_in_grid_km2`` is the
    part of that union inside the grid's extent, and ``area_ratio`` compares the
    rasterised area (cells > 0 × cell area) with *that*: 1.0 means the cells carry exactly
    the polygon area; cell-centre rasterising gives a ratio near 1 (errors along the
    boundary cancel), all-touched a ratio above 1. Areas in km² need a grid projected in
    linear units (metres, feet); on a geographic grid they are None and the ratio is
    computed in the CRS's own units.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landsim.errors import InputError
from landsim.io.raster import Grid

log = logging.getLogger(__name__)

VECTOR_SUFFIXES: frozenset[str] = frozenset({".gpkg", ".shp", ".geojson", ".json", ".fgb"})

# 0 marks "outside every polygon" and 255 is landsim's uint8 nodata code, so a zone value
# must stay clear of both to survive the cast into a uint8 layer.
MIN_VALUE = 1
MAX_VALUE = 254

_FORMATS = "a GeoPackage, Shapefile, GeoJSON or FlatGeobuf file"

# shapely geometry type ids (shapely.get_type_id); -1 is a missing geometry.
_POLYGON, _MULTIPOLYGON, _COLLECTION = 3, 6, 7
_TYPE_NAMES = {
    0: "points",
    1: "lines",
    2: "rings",
    3: "polygons",
    4: "multipoints",
    5: "multilines",
    6: "multipolygons",
    7: "geometry collections",
}


@dataclass(frozen=True)
class VectorReport:
    """What a vector layer turned into on the grid (see the module docstring for areas)."""

    path: Path
    layer: str
    features: int  # features in the layer, polygons or not
    polygon_area_km2: float | None
    polygon_area_in_grid_km2: float | None
    raster_area_km2: float | None
    area_ratio: float  # raster area / polygon area inside the grid
    reprojected_from: str | None  # CRS label of the file when it differs from the grid's
    all_touched: bool
    values: dict[int, int]  # burnt value → cells

    def describe(self) -> str:
        """One line for logs and summaries."""
        rule = "all-touched" if self.all_touched else "cell-centre"
        cells = sum(self.values.values())
        if self.polygon_area_in_grid_km2 is None or self.raster_area_km2 is None:
            areas = f"{cells:,} cells"
        else:
            areas = (
                f"{self.polygon_area_in_grid_km2:.4f} km² of polygons in the grid → "
                f"{cells:,} cells, {self.raster_area_km2:.4f} km²"
            )
        return (
            f"{self.path.name} layer '{self.layer}': {self.features:,} features, {areas} "
            f"(ratio {self.area_ratio:.3f}, {rule})"
        )


def is_vector(path: Path) -> bool:
    """Whether ``path`` names a vector file landsim rasterises (decided by its suffix)."""
    return Path(path).suffix.lower() in VECTOR_SUFFIXES


def _crs_label(crs: Any) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()[:60]


def _extent(bounds: Sequence[float]) -> str:
    # Decimetres for projected coordinates, about a metre for degrees.
    xmin, ymin, xmax, ymax = (f"{v:.1f}" if abs(v) >= 1000 else f"{v:.5f}" for v in bounds)
    return f"x {xmin}..{xmax}, y {ymin}..{ymax}"


def _unreadable(path: Path, key: str, exc: BaseException) -> InputError:
    text = str(exc).strip().splitlines()
    why = text[0] if text else type(exc).__name__
    # A damaged GeoPackage fails in SQLite, and GDAL quotes the whole statement first
    # ("sqlite3_prepare_v2(SELECT …) failed: database disk image is malformed; database
    # disk image is malformed"): cut at 160 characters, the reason itself was lost.
    if ") failed: " in why:
        reason = why.rsplit(") failed: ", 1)[1]
        why = "SQLite: " + "; ".join(dict.fromkeys(p.strip() for p in reason.split(";")))
    # GDAL may quote a whole SQL statement; the start says enough and keeps one line short.
    why = why if len(why) <= 160 else why[:159] + "…"
    # A Shapefile is several files; the usual failure is a missing sidecar.
    extra = " (a Shapefile needs its .shx and .dbf beside it)" if path.suffix == ".shp" else ""
    return InputError(
        f"[{key}] {path}: not a vector file GDAL can read ({why}); give {_FORMATS}{extra}, "
        "exporting it again if it is damaged"
    )


@contextlib.contextmanager
def _relay_warnings(path: Path, key: str) -> Iterator[None]:
    """Pass pyogrio's (GDAL's) Python warnings on to the landsim logger, under ``key``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                log.warning("[%s] %s: %s", key, path, w.message)


def _choose_layer(path: Path, key: str, layer: str | None) -> str:
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        with _relay_warnings(path, key):
            found = pyogrio.list_layers(path)
    except (DataSourceError, DataLayerError) as exc:
        raise _unreadable(path, key, exc) from None
    names = [str(row[0]) for row in found]
    if layer is not None:
        if layer in names:
            return layer
        raise InputError(
            f"[{key}] {path}: no layer '{layer}' (layers: {', '.join(names) or 'none'}); "
            "set layer to one of them"
        )
    # Attribute-only tables (no geometry type) cannot be the planning layer.
    spatial = [str(row[0]) for row in found if row[1] is not None]
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise InputError(
            f"[{key}] {path}: the file holds no layer with geometries "
            f"(layers: {', '.join(names) or 'none'}); give a file with a polygon layer"
        )
    # Guessing would silently take e.g. the farmland layer for the red line.
    raise InputError(
        f"[{key}] {path}: the file holds {len(spatial)} layers ({', '.join(spatial)}); "
        "set layer to the one to use"
    )


def _read_layer(
    path: Path, key: str, layer: str, attribute: str | None
) -> tuple[dict[str, Any], np.ndarray, np.ndarray | None]:
    """Layer info, the geometries as shapely objects (None where missing), the values."""
    import pyogrio
    import shapely
    from pyogrio.errors import DataLayerError, DataSourceError
    from shapely.errors import ShapelyError

    try:
        with _relay_warnings(path, key):
            info = pyogrio.read_info(path, layer=layer)
            # An empty layer first: an empty GeoJSON has no fields either, and was refused
            # as "no field 'code' (fields: none)", which sends the user after the name.
            if info.get("features") == 0:
                raise _no_features(path, key, layer)
            if attribute is not None:
                _check_attribute_field(info, path, key, layer, attribute)
            _meta, _fids, wkb, fields = pyogrio.raw.read(
                path, layer=layer, columns=[attribute] if attribute else [], force_2d=True
            )
    except (DataSourceError, DataLayerError) as exc:
        raise _unreadable(path, key, exc) from None
    if wkb is None:
        raise InputError(
            f"[{key}] {path}: layer '{layer}' has no geometry column; give a polygon layer"
        )
    try:
        geoms = shapely.from_wkb(wkb)
    except ShapelyError as exc:
        raise InputError(
            f"[{key}] {path}: layer '{layer}' holds geometries shapely cannot read "
            f"({str(exc).splitlines()[0]}); convert curves and damaged shapes with "
            "`ogr2ogr -nlt MULTIPOLYGON -makevalid`"
        ) from None
    values = fields[0] if attribute is not None else None
    return info, geoms, values


def _no_features(path: Path, key: str, layer: str) -> InputError:
    return InputError(
        f"[{key}] {path}: layer '{layer}' has no features; export the polygons again or "
        "choose the layer that holds them"
    )


def _check_attribute_field(
    info: dict[str, Any], path: Path, key: str, layer: str, attribute: str
) -> None:
    names = [str(n) for n in info["fields"]]
    if attribute not in names:
        close = [n for n in names if n.lower() == attribute.lower()]
        close = close or difflib.get_close_matches(attribute, names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise InputError(
            f"[{key}] {path}: layer '{layer}' has no field '{attribute}' "
            f"(fields: {', '.join(names) or 'none'}); {hint}set attribute to one of them"
        )
    dtype = np.dtype(info["dtypes"][names.index(attribute)])
    if dtype.kind not in "iuf":
        raise InputError(
            f"[{key}] {path}: field '{attribute}' of layer '{layer}' is not numeric "
            f"({info['ogr_types'][names.index(attribute)]}); it must hold integer zone "
            f"values {MIN_VALUE}..{MAX_VALUE}: convert it to an integer field"
        )


def _polygonal(geom: Any) -> Any:
    """The polygonal part of a geometry as a (Multi)Polygon, or None when it has none."""
    import shapely

    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == _POLYGON]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _keep_polygons(geoms: np.ndarray, path: Path, key: str, layer: str) -> np.ndarray:
    """Indices of the features with a non-empty polygonal geometry; refuse when none."""
    import shapely

    kinds = shapely.get_type_id(geoms)
    empty = (kinds < 0) | shapely.is_empty(geoms)
    keep = ~empty & ((kinds == _POLYGON) | (kinds == _MULTIPOLYGON))
    for i in np.flatnonzero(~empty & (kinds == _COLLECTION)):
        part = _polygonal(geoms[i])
        if part is not None:
            geoms[i] = part
            keep[i] = True
    other = ~empty & ~keep
    found = ", ".join(
        f"{int(n):,} {_TYPE_NAMES.get(int(k), 'other geometries')}"
        for k, n in zip(*np.unique(kinds[other], return_counts=True), strict=True)
    )
    if not keep.any():
        if other.any():
            raise InputError(
                f"[{key}] {path}: layer '{layer}' holds no polygons, only {found}; "
                "planning lines and sites must be areas: give the polygon layer, or buffer lines "
                "into polygons first"
            )
        raise InputError(
            f"[{key}] {path}: every geometry of layer '{layer}' is empty; export the polygons again"
        )
    skipped = int(empty.sum()) + int(other.sum())
    if skipped:
        what = [f"{int(empty.sum()):,} empty"] if empty.any() else []
        what += [found] if other.any() else []
        log.warning(
            "[%s] %s: layer '%s': skipped %s features that are not polygons (%s)",
            key,
            path,
            layer,
            f"{skipped:,}",
            "; ".join(what),
        )
    return np.flatnonzero(keep)


def _check_values(values: np.ndarray, path: Path, key: str, layer: str, attribute: str) -> None:
    where = f"[{key}] {path}: field '{attribute}' of layer '{layer}'"
    data = np.asarray(values, dtype=np.float64)  # pyogrio gives nullable integers as float
    missing = np.isnan(data)
    if missing.any():
        raise InputError(
            f"{where} is empty for {int(missing.sum()):,} polygons; give every polygon a "
            f"zone value {MIN_VALUE}..{MAX_VALUE}"
        )
    fractional = data != np.round(data)
    if fractional.any():
        shown = ", ".join(f"{v:g}" for v in np.unique(data[fractional])[:5])
        raise InputError(
            f"{where} holds non-integer values ({shown}); zone values must be integers "
            f"{MIN_VALUE}..{MAX_VALUE}: round or recode them"
        )
    outside = (data < MIN_VALUE) | (data > MAX_VALUE)
    if outside.any():
        shown = ", ".join(f"{v:g}" for v in np.unique(data[outside])[:5])
        raise InputError(
            f"{where} holds values outside {MIN_VALUE}..{MAX_VALUE} ({shown}); 0 means "
            f"'outside every polygon' and 255 is nodata: recode them into "
            f"{MIN_VALUE}..{MAX_VALUE}"
        )


def _file_crs(info: dict[str, Any], path: Path, key: str, layer: str) -> Any:
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    if not info.get("crs"):
        raise InputError(
            f"[{key}] {path}: layer '{layer}' has no coordinate reference system; set one, "
            f"e.g. `ogr2ogr -a_srs EPSG:4490 fixed{path.suffix} {path.name}` with the CRS "
            "the coordinates are really in (for a Shapefile, restore its .prj)"
        )
    try:
        return CRS.from_user_input(info["crs"])
    except CRSError as exc:
        raise InputError(
            f"[{key}] {path}: the CRS of layer '{layer}' is not understood ({exc}); "
            "set a standard one with `ogr2ogr -a_srs EPSG:…`"
        ) from None


def _reproject(
    geoms: np.ndarray, src_crs: Any, grid: Grid, path: Path, key: str, layer: str
) -> np.ndarray:
    """The geometries in the grid's CRS; refuse coordinates the file's CRS cannot hold."""
    import rasterio.warp
    import shapely
    from rasterio._err import CPLE_BaseError  # PROJ failures; rasterio.errors lacks a base
    from rasterio.errors import RasterioError
    from shapely.geometry import mapping, shape

    def refuse(why: str) -> InputError:
        before = shapely.total_bounds(geoms)
        return InputError(
            f"[{key}] {path}: the polygons of layer '{layer}' ({_extent(before)} in "
            f"{_crs_label(src_crs)}) cannot be reprojected to the grid's {grid.crs_label} "
            f"({why}); check the file's CRS: the coordinates may be in another one "
            "(fix it with `ogr2ogr -a_srs EPSG:…`)"
        )

    try:
        moved = rasterio.warp.transform_geom(src_crs, grid.crs, [mapping(g) for g in geoms])
    except (RasterioError, CPLE_BaseError) as exc:
        raise refuse(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    out = np.array([shape(g) for g in moved], dtype=object)
    # Some projections answer out-of-domain points with inf instead of an error.
    if not np.isfinite(shapely.get_coordinates(out)).all():
        raise refuse("some points fall outside the projection's domain")
    return out


def _grid_outline(grid: Grid) -> Any:
    """The grid's footprint as a polygon in its CRS (exact for rotated transforms too)."""
    import shapely

    rows, cols = grid.shape
    t = grid.transform
    corners = [t * (0, 0), t * (cols, 0), t * (cols, rows), t * (0, rows)]
    return shapely.Polygon(corners)


def rasterize_vector(
    path: Path,
    grid: Grid,
    key: str,
    *,
    layer: str | None = None,
    attribute: str | None = None,
    all_touched: bool = False,
) -> tuple[np.ndarray, VectorReport]:
    """Rasterise the polygons of one vector layer onto ``grid``.

    Returns an int32 array of ``grid.shape``: per cell the ``attribute`` value of the
    polygon covering it (1 when ``attribute`` is None), 0 outside every polygon. Where
    polygons overlap, the later feature in the layer wins. A cell is covered when the
    polygon contains its centre, or, with ``all_touched``, when the polygon touches it at
    all. Polygons in another CRS are reprojected to the grid's (logged as a warning).

    Raises :class:`~landsim.errors.InputError` for everything a user can fix: missing or
    unreadable file, missing or ambiguous layer, no polygons, a bad attribute, no CRS,
    polygons off the grid or too small to take a cell. ``key`` (e.g.
    ``constraints.udb.path``) is named in every message.
    """
    import rasterio.features
    import shapely

    path = Path(path)
    if not path.exists():
        raise InputError(f"[{key}] file not found: {path}; check the path and the file name")
    if path.is_dir():
        raise InputError(f"[{key}] {path} is a directory; give {_FORMATS}")
    if grid.crs is None:
        raise InputError(
            f"[{key}] {path}: the land-use grid ({grid.source.name}) has no CRS, so polygons "
            f"cannot be placed on it; set the raster's CRS (e.g. `gdal_edit.py -a_srs "
            f"EPSG:… {grid.source.name}`)"
        )

    name = _choose_layer(path, key, layer)
    info, geoms, values = _read_layer(path, key, name, attribute)
    n_features = len(geoms)
    if n_features == 0:
        raise _no_features(path, key, name)
    src_crs = _file_crs(info, path, key, name)
    kept = _keep_polygons(geoms, path, key, name)
    geoms = geoms[kept]
    if attribute is not None and values is not None:
        values = values[kept]
        _check_values(values, path, key, name, attribute)
        burn = np.asarray(values, dtype=np.float64).astype(np.int32)
    else:
        burn = np.ones(len(geoms), dtype=np.int32)

    reprojected_from = None
    if src_crs != grid.crs:
        reprojected_from = _crs_label(src_crs)
        log.warning(
            "[%s] polygons in %s reprojected to the grid's %s (%s, layer '%s')",
            key,
            reprojected_from,
            grid.crs_label,
            path.name,
            name,
        )
        geoms = _reproject(geoms, src_crs, grid, path, key, name)

    # Repair after reprojection: that is the geometry that is measured and burnt.
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        log.warning(
            "[%s] %s: layer '%s': repaired %s invalid polygons (self-intersections) with "
            "make_valid",
            key,
            path,
            name,
            f"{int(invalid.sum()):,}",
        )
        for i in np.flatnonzero(invalid):
            geoms[i] = _polygonal(shapely.make_valid(geoms[i]))
        usable = np.array([g is not None and not g.is_empty for g in geoms])
        geoms, burn = geoms[usable], burn[usable]
        if not usable.any():
            raise InputError(
                f"[{key}] {path}: no polygon of layer '{name}' has an area once repaired "
                "(all are degenerate); export the polygons again"
            )

    union = shapely.union_all(geoms)
    outline = _grid_outline(grid)
    inside = union.intersection(outline)
    if inside.is_empty or inside.area == 0:
        raise InputError(
            f"[{key}] {path}: the polygons of layer '{name}' ({_extent(union.bounds)}) do "
            f"not overlap the land-use grid ({_extent(outline.bounds)}), both in "
            f"{grid.crs_label}; check the layer and its CRS (a wrong .prj or swapped axes "
            "move everything)"
        )

    out = rasterio.features.rasterize(
        zip(geoms, burn.tolist(), strict=True),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        all_touched=all_touched,
        dtype="int32",
    )
    covered = out > 0
    cells = int(covered.sum())
    t = grid.transform
    cell_units2 = abs(t.a * t.e - t.b * t.d)
    # m² per square CRS unit, from the grid's own cell area (None off a metric grid).
    m2 = grid.cell_area_m2 / cell_units2 if grid.cell_area_m2 is not None else None
    if cells == 0:
        if m2 is None:
            sizes = f"{inside.area:.6g} vs one cell of {cell_units2:.6g} square CRS units"
        else:
            sizes = f"{inside.area * m2:,.1f} m² in all vs {cell_units2 * m2:,.1f} m² a cell"
        raise InputError(
            f"[{key}] {path}: the polygons of layer '{name}' overlap the grid but cover no "
            f"cell centre ({sizes}); they are too small for the grid: rasterise with "
            "all_touched, or use a finer land-use grid"
        )

    def km2(units2: float) -> float | None:
        return None if m2 is None else units2 * m2 / 1e6

    present, counts = np.unique(out[covered], return_counts=True)
    report = VectorReport(
        path=path,
        layer=name,
        features=n_features,
        polygon_area_km2=km2(union.area),
        polygon_area_in_grid_km2=km2(inside.area),
        raster_area_km2=km2(cells * cell_units2),
        area_ratio=cells * cell_units2 / inside.area,
        reprojected_from=reprojected_from,
        all_touched=all_touched,
        values={int(v): int(c) for v, c in zip(present, counts, strict=True)},
    )
    return out, report
