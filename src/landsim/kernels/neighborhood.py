"""Weighted Moore-neighbourhood effect."""

from __future__ import annotations

import numpy as np
from numba import prange

from landsim.kernels._jit import jit_parallel


@jit_parallel
def neighborhood_effect(
    landuse: np.ndarray, weights: np.ndarray, radius: int, work: np.ndarray, out: np.ndarray
) -> None:
    """Weighted share of the (2r+1)² − 1 Moore neighbours around each cell.

    ``out[i, j] = sum(weights[landuse[n]] for n in window(i, j) if n != (i, j)) / ((2r+1)² − 1)``

    ``weights`` is a lookup table indexed by class code (length 256, 0 for nodata), so one
    pass serves any number of weighted classes. Cells beyond the grid edge count as
    weight 0 and the divisor stays fixed, so edge cells see a thinner neighbourhood, as
    in FLUS and PLUS. The window sum is separable: a row pass into ``work`` then a column
    pass, 2(2r+1) reads per cell whatever the number of classes. Each output row is
    summed in a fixed order, so the result is the same for any number of threads.
    """
    ny, nx = landuse.shape
    inv = np.float32(1.0 / ((2 * radius + 1) ** 2 - 1))
    for i in prange(ny):
        for j in range(nx):
            # Bounds are clipped once per cell rather than tested per neighbour, so
            # the inner loop has no branch; the summation order stays dj ascending.
            s = np.float32(0.0)
            for jj in range(max(j - radius, 0), min(j + radius + 1, nx)):
                s += weights[landuse[i, jj]]
            work[i, j] = s
    for i in prange(ny):
        lo = max(i - radius, 0)
        hi = min(i + radius + 1, ny)
        for j in range(nx):
            s = np.float32(0.0)
            for ii in range(lo, hi):
                s += work[ii, j]
            out[i, j] = (s - weights[landuse[i, j]]) * inv
