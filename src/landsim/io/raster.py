"""Reading rasters onto the land-use grid, through rasterio.

The land-use raster of the start year defines the grid (CRS, transform, shape). Every
other raster must sit on exactly that grid; landsim does not resample silently, it
says how far off a raster is and how to fix it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landsim.errors import GridMismatchError, InputError

# Internal land-use maps are uint8 with this code for "no data": it keeps maps at one
# byte per cell and lets GeoTIFF carry a colour table, which GDAL allows only on
# 8- and 16-bit rasters. Class codes therefore run 0..254.
NODATA = 255


@dataclass(frozen=True)
class Grid:
    """The simulation grid, as defined by the start land-use raster."""

    crs: Any  # rasterio.crs.CRS, or None for a raster without one
    transform: Any  # affine.Affine
    shape: tuple[int, int]
    source: Path

    @property
    def is_projected(self) -> bool:
        return self.crs is not None and bool(self.crs.is_projected)

    @property
    def cell_area_m2(self) -> float | None:
        """Area of one cell in m², or None where the CRS is not projected in metres."""
        if not self.is_projected:
            return None
        factor = self.crs.linear_units_factor[1] if self.crs.linear_units_factor else 1.0
        return abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d) * (
            factor**2
        )

    def km2(self, cells: float) -> float | None:
        """Area of ``cells`` cells in km², or None where the CRS is not in metres."""
        a = self.cell_area_m2
        return None if a is None else cells * a / 1e6

    @property
    def crs_label(self) -> str:
        if self.crs is None:
            return "no CRS"
        epsg = self.crs.to_epsg()
        return f"EPSG:{epsg}" if epsg else self.crs.to_string()[:60]


# GDAL decodes the tiles of one read on this many threads (the option is read when the
# file is opened). Besides the time, it decodes straight into the destination array:
# the single-threaded path went through the block cache and took ~14x the page faults
# (187 k against 13 k for the 10 rasters of the Hengyang 30 m region).
_DECODE_THREADS = str(min(4, os.cpu_count() or 1))


def _open(path: Path, key: str) -> Any:
    import rasterio
    from rasterio.errors import RasterioIOError

    if not path.exists():
        raise InputError(f"[{key}] file not found: {path}")
    if path.is_dir():
        raise InputError(f"[{key}] {path} is a directory; give a raster file")
    try:
        with rasterio.Env(GDAL_NUM_THREADS=_DECODE_THREADS):
            ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(
            f"[{key}] {path}: not a raster GDAL can read ({str(exc).splitlines()[0]}); "
            "give a GeoTIFF or another GDAL raster"
        ) from None
    # Complex bands (GDAL's CInt16 … CFloat64, rasterio's "complex…") hold no class code or
    # driver value: numpy would drop their imaginary part with a bare ComplexWarning and a
    # complex code never equals a class code, so the land-use check blamed real codes.
    dtype = str(ds.dtypes[0])
    if dtype.startswith("complex"):
        ds.close()
        raise InputError(
            f"[{key}] {path}: band 1 holds complex numbers ({dtype}); landsim reads real "
            "values: convert it, e.g. `gdal_translate -ot Float32` (`-ot Byte` for class codes)"
        )
    return ds


def _root_cause(exc: BaseException) -> str:
    """GDAL's own words for a failure: rasterio's top message only says 'see previous'."""
    while (nxt := exc.__cause__ or exc.__context__) is not None:
        exc = nxt
    text = str(exc.args[-1] if exc.args else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def isin_codes(data: np.ndarray, values: Any) -> np.ndarray:
    """``np.isin(data, values)``; for a byte raster and integer codes, by a 256-entry
    lookup table in a numba pass (np.isin, and numpy's ``table[data]`` too, made an
    8-byte index per cell: ~0.1 s per call at 32 M cells)."""
    codes = np.asarray(values)
    if data.dtype != np.uint8 or codes.dtype.kind not in "iu":
        return np.isin(data, codes)
    from landsim.kernels.lookup import lookup

    table = np.zeros(256, dtype=bool)
    table[codes[(codes >= 0) & (codes <= 255)]] = True
    out = np.empty(data.shape, dtype=bool)
    lookup(np.ascontiguousarray(data).reshape(-1), table, out.reshape(-1))
    return out


def value_counts(data: np.ndarray, size: int, where: np.ndarray | None = None) -> np.ndarray:
    """``np.bincount(data[where], minlength=size)`` for integer ``data`` whose values
    (where counted) lie in ``0 .. size - 1``, in one numba pass without the 8-byte copy
    of every value that ``np.bincount`` makes."""
    from landsim.kernels.lookup import count_values

    counts = np.zeros(size, dtype=np.int64)
    flat = np.ascontiguousarray(data).reshape(-1)
    mask = np.ones(1, dtype=bool) if where is None else np.ascontiguousarray(where).reshape(-1)
    count_values(flat, mask, counts)
    return counts


def _read_band(
    ds: Any, path: Path, key: str, rows: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Band 1 (or its ``rows`` (first, stop)) and its validity mask (False where
    nodata, NaN or infinite)."""
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    try:
        if rows is None:
            data = ds.read(1)
        else:
            data = ds.read(1, window=Window(0, rows[0], ds.width, rows[1] - rows[0]))
    except RasterioError as exc:
        raise InputError(
            f"[{key}] {path}: the file is damaged or truncated ({_root_cause(exc)}); "
            "copy or export it again"
        ) from None
    return data, _valid_mask(ds, data)


def _valid_mask(ds: Any, data: np.ndarray) -> np.ndarray:
    nodata = ds.nodata
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        valid = data != np.array(nodata).astype(data.dtype)
    else:
        valid = np.ones(data.shape, dtype=bool)
    if data.dtype.kind == "f":
        valid &= np.isfinite(data)
    return valid


# Peak memory of a run per grid cell: measured 0.58 GB for Wuhan's 8.6 M cells (67 B),
# rounded up for the planning layers and periods a scenario may add.
BYTES_PER_CELL = 80


def memory_budget() -> int:
    """Bytes a run may use: ``LANDSIM_MEMORY_BUDGET_GB`` if set, else the memory free now."""
    import os

    env = os.environ.get("LANDSIM_MEMORY_BUDGET_GB")
    if env:
        try:
            gb = float(env)
        except ValueError:
            gb = math.nan
        # "inf" raised OverflowError (a traceback) and "-3" gave a negative budget.
        if not (math.isfinite(gb) and gb > 0):
            raise InputError(
                f"LANDSIM_MEMORY_BUDGET_GB={env!r} is not a positive number of gigabytes; "
                "set e.g. LANDSIM_MEMORY_BUDGET_GB=8, or unset it to use the free memory"
            )
        return int(gb * 1e9)
    import psutil

    return int(psutil.virtual_memory().available)


def _bytes(n: float) -> str:
    """A size for messages: "0.0 GB … 0.0 GB" said nothing for small grids and budgets."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} bytes"


def check_memory_budget(height: int, width: int, path: Path, key: str) -> None:
    """Refuse a grid whose run would not fit in memory, before reading it."""
    need = height * width * BYTES_PER_CELL
    budget = memory_budget()
    if need > budget:
        raise InputError(
            f"[{key}] {path}: {height:,} × {width:,} cells need about {_bytes(need)} "
            f"in memory, more than the {_bytes(budget)} available "
            "(LANDSIM_MEMORY_BUDGET_GB sets the budget); run it on the tiled path "
            "(`landsim run-tiled`, urban-only scenarios, docs/tiled.md), or crop or coarsen "
            "the grid"
        )


def codes_text(codes: list[int]) -> str:
    """Class codes for a message: listed, or as ranges when there are many (``assess``
    without a class table allows all 255 codes, which made a 1,000-character line)."""
    codes = sorted(set(codes))
    if len(codes) <= 20:
        return ", ".join(map(str, codes))
    runs: list[list[int]] = []
    for c in codes:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def _grid_of(ds: Any, path: Path) -> Grid:
    return Grid(crs=ds.crs, transform=ds.transform, shape=(ds.height, ds.width), source=path)


def read_grid(path: Path, key: str = "inputs.landuse") -> Grid:
    """The grid of a land-use raster, from its header (no pixel is read)."""
    with _open(path, key) as ds:
        return _grid_of(ds, path)


def read_landuse(
    path: Path, class_codes: list[int], key: str = "inputs.landuse"
) -> tuple[np.ndarray, Grid]:
    """Read the start land-use map as uint8 with :data:`NODATA`, and its grid."""
    with _open(path, key) as ds:
        grid = _grid_of(ds, path)
        check_memory_budget(ds.height, ds.width, path, key)
        data, valid = _read_band(ds, path, key)
        nodata_text = "none set" if ds.nodata is None else f"{ds.nodata:g}"
    if data.dtype.kind == "f":
        frac = valid & (data != np.round(data))
        if frac.any():
            raise InputError(
                f"[{key}] {path}: land use must hold integer class codes; "
                f"{int(frac.sum()):,} cells have fractional values"
            )
    if not valid.any():
        raise InputError(
            f"[{key}] {path}: every cell is nodata; nothing to simulate: check the raster's "
            f"nodata value ({nodata_text}) and that it is the right file"
        )
    if data.dtype == np.uint8:
        # A count per byte value: np.unique sorted a copy of every valid cell.
        counts = value_counts(data, 256, valid)
        present = np.flatnonzero(counts)
        counts = counts[present]
    else:
        present, counts = np.unique(data[valid], return_counts=True)
    unknown = [
        (int(v), int(c)) for v, c in zip(present, counts, strict=True) if v not in class_codes
    ]
    if unknown:
        listed = ", ".join(f"{v} ({c:,} cell{'s' if c != 1 else ''})" for v, c in unknown[:8])
        more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
        raise InputError(
            f"[{key}] {path}: values {listed}{more} are not class codes in [[classes]] "
            f"(codes: {codes_text(class_codes)}); add them to the class "
            "table or set the raster's nodata value"
        )
    if data.dtype == np.uint8:
        landuse = data  # the band just read: this function's own array
        landuse[~valid] = NODATA
    else:
        landuse = np.full(data.shape, NODATA, dtype=np.uint8)
        landuse[valid] = data[valid].astype(np.uint8)
    return landuse, grid


def _transform_close(a: Any, b: Any, cell: float) -> bool:
    tol = 1e-6 * max(cell, 1e-12)
    return all(abs(x - y) <= tol for x, y in zip(tuple(a)[:6], tuple(b)[:6], strict=True))


def check_aligned(ds: Any, grid: Grid, path: Path, key: str) -> None:
    """Refuse a raster that is not on the land-use grid, saying how far off it is."""
    fix = (
        f"resample it onto the land-use grid, e.g. `rio warp {path.name} out.tif "
        f"--like {grid.source.name}`"
    )
    if grid.crs != ds.crs:
        # A missing CRS read "CRS None", and resampling does not help: it is set, not
        # converted, when the raster is on the grid otherwise.
        if ds.crs is None:
            raise GridMismatchError(
                f"[{key}] {path}: has no CRS, but the land-use grid ({grid.source.name}) is "
                f"in {grid.crs_label}; set its CRS if it is on that grid (`gdal_edit.py "
                f"-a_srs {grid.crs_label} {path.name}`), otherwise {fix}"
            )
        other = f"EPSG:{ds.crs.to_epsg()}" if ds.crs.to_epsg() else str(ds.crs)[:60]
        if grid.crs is None:
            fix = (
                f"set the land-use raster's CRS (`gdal_edit.py -a_srs {other} "
                f"{grid.source.name}`) if it is on the same grid, otherwise {fix}"
            )
        raise GridMismatchError(
            f"[{key}] {path}: CRS {other} differs from the land-use grid's {grid.crs_label} "
            f"({grid.source.name}); {fix}"
        )
    if (ds.height, ds.width) != grid.shape:
        raise GridMismatchError(
            f"[{key}] {path}: {ds.height} rows × {ds.width} columns, but the land-use grid "
            f"({grid.source.name}) has {grid.shape[0]} × {grid.shape[1]}; {fix}"
        )
    cell = abs(grid.transform.a)
    if not _transform_close(ds.transform, grid.transform, cell):
        t, g = ds.transform, grid.transform
        raise GridMismatchError(
            f"[{key}] {path}: transform differs from the land-use grid's ({grid.source.name}): "
            f"origin ({t.c:.3f}, {t.f:.3f}) cell ({t.a:g}, {t.e:g}) vs origin "
            f"({g.c:.3f}, {g.f:.3f}) cell ({g.a:g}, {g.e:g}); {fix}"
        )


def read_aligned(path: Path, grid: Grid, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Read band 1 of a raster that must sit on ``grid``; returns (data, valid)."""
    with _open(path, key) as ds:
        check_aligned(ds, grid, path, key)
        return _read_band(ds, path, key)


@contextmanager
def open_aligned(path: Path, grid: Grid, key: str) -> Iterator[AlignedRaster]:
    """A raster that must sit on ``grid``, open for reading by blocks of rows."""
    with _open(path, key) as ds:
        check_aligned(ds, grid, path, key)
        yield AlignedRaster(ds, path, key)


@dataclass(frozen=True)
class AlignedRaster:
    """An open raster on the grid (:func:`open_aligned`)."""

    ds: Any
    path: Path
    key: str

    @property
    def block_rows(self) -> int:
        """Rows of one block (tile or strip) of the file."""
        return int(self.ds.block_shapes[0][0])

    def read_rows(self, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``first:stop`` of band 1 and their validity mask, as :func:`read_aligned`."""
        import rasterio

        # A window is decoded through GDAL's block cache, which keeps up to 5 % of the
        # memory: every block of the file would stay cached (0.5 GB for four drivers at
        # 32 M cells). A small cache evicts the blocks already read.
        with rasterio.Env(GDAL_CACHEMAX=_WINDOW_CACHE_BYTES):
            return _read_band(self.ds, self.path, self.key, (first, stop))


_WINDOW_CACHE_BYTES = 64_000_000


def probe_aligned(path: Path, grid: Grid, key: str) -> None:
    """Check that a raster opens and sits on ``grid`` without reading its pixels."""
    with _open(path, key) as ds:
        check_aligned(ds, grid, path, key)
