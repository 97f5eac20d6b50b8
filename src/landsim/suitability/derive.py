"""Drivers derived from other rasters: slope from a DEM, distances to features.

The functions work on plain arrays and cell sizes in metres, so they know nothing of
CRSs: for a geographic CRS the caller passes approximate metres (e.g. the cell's size
at the grid's central latitude). Nodata is NaN in float inputs; outputs are float32
with NaN where a value cannot be derived.

* :func:`slope_degrees`: Horn's (1981) 3 × 3 slope. A neighbour outside the grid or
  NaN is not padded: the difference across it becomes one-sided (as ``numpy.gradient``
  does at edges), and a row or column of the window with no usable pair is left out of
  Horn's 1-2-1 weighting. A plane therefore has its exact slope on every cell, edges
  and the rims of holes included (nearest-neighbour padding would halve it there). A
  NaN cell, or a cell with no usable difference along x or along y, is NaN.
* :func:`distance_to`: Euclidean distance in metres from each cell centre to the
  nearest cell centre of a mask (``scipy.ndimage.distance_transform_edt`` with the
  cell sizes as ``sampling``), so non-square cells are measured correctly. Every mask
  cell counts as a feature, also those outside ``valid`` (a road beyond the study
  area's edge still serves the cells near it); ``valid`` only sets NaN in the output.
  A mask with no feature is refused with an :class:`~landsim.errors.InputError` naming
  ``key``: a driver that is NaN everywhere would say nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from landsim.errors import InputError
from landsim.io.raster import NODATA

# Rows of the DEM processed at a time by slope_degrees: bounds its temporaries
# (about 15 float64 arrays of BLOCK_ROWS × width) whatever the grid's size.
BLOCK_ROWS = 512


def _check_cell_size(cell_size_x_m: float, cell_size_y_m: float) -> tuple[float, float]:
    dx, dy = float(cell_size_x_m), float(cell_size_y_m)
    if not (math.isfinite(dx) and math.isfinite(dy) and dx > 0 and dy > 0):
        raise ValueError(f"cell sizes must be finite and positive, got {dx!r} × {dy!r}")
    return dx, dy


def _diff(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray, step: float) -> np.ndarray:
    """Derivative from three values along a line: central where both sides have a
    value, one-sided where one side is missing, NaN where no pair has values."""
    ok_lo, ok_mid, ok_hi = np.isfinite(lo), np.isfinite(mid), np.isfinite(hi)
    with np.errstate(invalid="ignore"):
        central = (hi - lo) / (2.0 * step)
        forward = (hi - mid) / step
        backward = (mid - lo) / step
    return np.where(
        ok_lo & ok_hi,
        central,
        np.where(ok_mid & ok_hi, forward, np.where(ok_lo & ok_mid, backward, np.nan)),
    )


def _horn(p: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Slope in degrees of the interior of ``p`` (a block padded by one NaN-or-data cell
    on every side), float64."""
    ny, nx = p.shape[0] - 2, p.shape[1] - 2
    gx_num = np.zeros((ny, nx))
    gx_den = np.zeros((ny, nx))
    gy_num = np.zeros((ny, nx))
    gy_den = np.zeros((ny, nx))
    for off, w in ((0, 1.0), (1, 2.0), (2, 1.0)):
        # along x, in row (r - 1 + off): columns c - 1, c, c + 1
        row = p[off : off + ny]
        d = _diff(row[:, 0:nx], row[:, 1 : nx + 1], row[:, 2 : nx + 2], dx)
        ok = np.isfinite(d)
        gx_num += w * np.where(ok, d, 0.0)
        gx_den += w * ok
        # along y, in column (c - 1 + off): rows r - 1, r, r + 1
        col = p[:, off : off + nx]
        d = _diff(col[0:ny], col[1 : ny + 1], col[2 : ny + 2], dy)
        ok = np.isfinite(d)
        gy_num += w * np.where(ok, d, 0.0)
        gy_den += w * ok
    with np.errstate(invalid="ignore", divide="ignore"):
        gx = gx_num / gx_den
        gy = gy_num / gy_den
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    slope[~np.isfinite(p[1:-1, 1:-1])] = np.nan
    return slope


def slope_degrees(
    dem: np.ndarray,
    cell_size_x_m: float,
    cell_size_y_m: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Slope in degrees (float32) of a DEM in metres, by Horn's method.

    NaN (or ±inf) in ``dem`` is nodata: that cell's slope is NaN, and its neighbours use
    one-sided differences across it, as cells on the grid's edge do (module docstring).
    ``out``, if given, is a float32 array of the DEM's shape that receives the result.
    """
    dx, dy = _check_cell_size(cell_size_x_m, cell_size_y_m)
    z = np.asarray(dem)
    if z.ndim != 2:
        raise ValueError(f"the DEM must be 2-D, got shape {z.shape}")
    ny, nx = z.shape
    if out is None:
        out = np.empty((ny, nx), dtype=np.float32)
    elif out.shape != z.shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape {z.shape}, got {out.dtype} {out.shape}")
    for r0 in range(0, ny, BLOCK_ROWS):
        r1 = min(ny, r0 + BLOCK_ROWS)
        block = np.full((r1 - r0 + 2, nx + 2), np.nan)
        lo, hi = max(0, r0 - 1), min(ny, r1 + 1)
        block[lo - (r0 - 1) : hi - (r0 - 1), 1:-1] = z[lo:hi]
        block[~np.isfinite(block)] = np.nan  # ±inf is nodata too
        out[r0:r1] = _horn(block, dx, dy)
    return out


def distance_to(
    mask: np.ndarray,
    cell_size_x_m: float,
    cell_size_y_m: float,
    valid: np.ndarray | None = None,
    *,
    key: str = "[distance]",
) -> np.ndarray:
    """Distance in metres (float32) from each cell to the nearest ``True`` cell of
    ``mask``, centre to centre; NaN outside ``valid``.

    A mask without any ``True`` cell is refused (``InputError`` naming ``key``).
    """
    from scipy.ndimage import distance_transform_edt

    dx, dy = _check_cell_size(cell_size_x_m, cell_size_y_m)
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"the mask must be 2-D, got shape {m.shape}")
    if valid is not None and np.shape(valid) != m.shape:
        raise ValueError(f"valid has shape {np.shape(valid)}, the mask {m.shape}")
    if not m.any():
        raise InputError(
            f"{key} no cell holds the feature to measure distances to "
            f"({m.shape[0]} × {m.shape[1]} cells searched); check the class codes or values "
            "that mark it, or give this driver as a raster"
        )
    dist = distance_transform_edt(~m, sampling=(dy, dx)).astype(np.float32)
    if valid is not None:
        dist[~np.asarray(valid, dtype=bool)] = np.nan
    return dist


def distance_to_class(
    landuse: np.ndarray,
    codes: int | Sequence[int],
    cell_size_x_m: float,
    cell_size_y_m: float,
    valid: np.ndarray | None = None,
    *,
    key: str = "[distance]",
) -> np.ndarray:
    """Distance in metres to the nearest cell of the land-use classes ``codes``; NaN
    outside ``valid`` (by default: outside the land, i.e. where ``landuse`` is 255)."""
    lu = np.asarray(landuse)
    if valid is None:
        valid = lu != NODATA
    mask = np.isin(lu, np.atleast_1d(np.asarray(codes)))
    return distance_to(mask, cell_size_x_m, cell_size_y_m, valid, key=key)


def distance_to_features(
    raster_values: np.ndarray,
    inside_values: float | Sequence[float],
    cell_size_x_m: float,
    cell_size_y_m: float,
    valid: np.ndarray | None = None,
    *,
    key: str = "[distance]",
) -> np.ndarray:
    """Distance in metres to the nearest cell whose value is one of ``inside_values``
    (a road or town-centre raster: e.g. 1 on roads); NaN outside ``valid``."""
    mask = np.isin(np.asarray(raster_values), np.atleast_1d(np.asarray(inside_values)))
    return distance_to(mask, cell_size_x_m, cell_size_y_m, valid, key=key)
