"""Rasters read and written one window at a time, for grids larger than memory.

The readers apply the same validity rules as ``io.raster`` (nodata, NaN and infinite
values are not valid) to a window; the writer fills a tiled GeoTIFF window by window
under a temporary name beside its target and renames it into place once it is
complete and read back, so an interrupted or failed write leaves no file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zlib import crc32

import numpy as np

from landsim.errors import InputError, OutputError
from landsim.io.raster import NODATA, Grid, _open, _root_cause

# (row offset, column offset, rows, columns) of a window on the grid.
Box = tuple[int, int, int, int]


def _window(box: Box) -> Any:
    from rasterio.windows import Window

    y0, x0, h, w = box
    return Window(x0, y0, w, h)


def read_window(path: Path, box: Box, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Band 1 of ``path`` in ``box``, and its validity mask. The caller has checked that
    the raster sits on the grid (``io.raster.probe_aligned``): once, not per window."""
    from rasterio.errors import RasterioError

    with _open(path, key) as ds:
        try:
            data = ds.read(1, window=_window(box))
        except RasterioError as exc:
            raise InputError(
                f"[{key}] {path}: the file is damaged or truncated ({_root_cause(exc)}); "
                "copy or export it again"
            ) from None
        nodata = ds.nodata
    valid = np.ones(data.shape, dtype=bool)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        valid &= data != np.array(nodata).astype(data.dtype)
    if data.dtype.kind == "f":
        valid &= np.isfinite(data)
    return data, valid


def write_landuse_windows(
    path: Path,
    grid: Grid,
    pieces: Iterable[tuple[Box, np.ndarray]],
    colors: dict[int, str],
    compress: str,
    tags: dict[str, str],
) -> None:
    """A uint8 land-use map written window by window: tiled, compressed, CRS kept.

    ``pieces`` must cover the grid. The file is written as ``.<name>.tmp`` and renamed
    onto ``path`` only after every window has been read back and matched its CRC:
    GDAL does not report a block it failed to write (a full disk; see
    ``io.write._gdal_atomic``), and a map this size cannot be encoded in memory first.
    """
    import rasterio
    from rasterio.errors import RasterioError

    from landsim.io.write import _atomic, _hex_to_rgb, _tiff_profile

    profile = _tiff_profile(grid, "uint8", NODATA, compress)
    # Past 4 GB a classic TIFF cannot address its blocks; GDAL's guess is safe for both.
    profile.update(BIGTIFF="IF_SAFER", NUM_THREADS=str(os.cpu_count() or 1))
    written: list[tuple[Box, int]] = []
    with _atomic(path) as tmp:
        try:
            with rasterio.open(tmp, "w", **profile) as ds:
                for box, data in pieces:
                    block = np.ascontiguousarray(data, dtype=np.uint8)
                    ds.write(block, 1, window=_window(box))
                    written.append((box, crc32(block)))
                cmap = {code: _hex_to_rgb(c) for code, c in colors.items()}
                cmap[NODATA] = (0, 0, 0, 0)
                ds.write_colormap(1, cmap)
                ds.update_tags(**tags)
            covered = sum(b[2] * b[3] for b, _ in written)
            if covered != grid.shape[0] * grid.shape[1]:
                raise AssertionError(f"windows cover {covered} cells of {grid.shape}")
            with rasterio.open(tmp) as ds:
                for box, crc in written:
                    back = np.ascontiguousarray(ds.read(1, window=_window(box)))
                    if crc32(back) != crc:
                        raise OutputError(
                            f"cannot write {path}: window {box} reads back different "
                            "(disk full?); free space or choose another -o"
                        )
        except RasterioError as exc:
            raise OutputError(f"cannot write {path}: {_root_cause(exc)}") from None
