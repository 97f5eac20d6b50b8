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
    pass. Both add whole rows of float32 in a fixed order (offsets ascending), so the
    inner loops vectorise and the result is the same for any number of threads, and
    bit-identical to ``reference.neighborhood_effect``.
    """
    ny, nx = landuse.shape
    inv = np.float32(1.0 / ((2 * radius + 1) ** 2 - 1))
    for i in prange(ny):
        # The row's weights with `radius` zeros either side: beyond the edge weighs 0,
        # and adding an exact 0.0 leaves a float sum unchanged.
        padded = np.zeros(nx + 2 * radius, dtype=np.float32)
        for j in range(nx):
            padded[radius + j] = weights[landuse[i, j]]
        row = work[i]
        row[:] = 0.0
        for d in range(2 * radius + 1):
            for j in range(nx):
                row[j] += padded[d + j]
    for i in prange(ny):
        acc = np.zeros(nx, dtype=np.float32)
        for ii in range(max(i - radius, 0), min(i + radius + 1, ny)):
            for j in range(nx):
                acc[j] += work[ii, j]
        for j in range(nx):
            out[i, j] = (acc[j] - weights[landuse[i, j]]) * inv
