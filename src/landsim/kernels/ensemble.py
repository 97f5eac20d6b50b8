"""Counting an ensemble's maps: how many members put each class in each cell."""

from __future__ import annotations

import numba
import numpy as np

from landsim.kernels._jit import jit_parallel


@jit_parallel
def count_classes(landuse: np.ndarray, class_index: np.ndarray, counts: np.ndarray) -> None:
    """Add one member's map to ``counts[k, row, col]``.

    ``class_index[code]`` is the band ``k`` of a class code; codes mapped to a value
    ``>= counts.shape[0]`` (nodata, unknown codes) are not counted. Rows are split
    between threads; each cell is written by one thread only, so the sum is exact and
    does not depend on the number of threads.
    """
    ny, nx = landuse.shape
    n_bands = counts.shape[0]
    for i in numba.prange(ny):
        for j in range(nx):
            k = class_index[landuse[i, j]]
            if k < n_bands:
                counts[k, i, j] += 1
