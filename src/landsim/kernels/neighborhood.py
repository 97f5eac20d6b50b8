"""Weighted Moore-neighbourhood effect."""

from __future__ import annotations

import numpy as np
from numba import prange

from landsim.kernels._jit import jit_inline, jit_parallel


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
        _row_sum(landuse, weights, radius, i, work[i])
    for i in prange(ny):
        acc = np.zeros(nx, dtype=np.float32)
        for ii in range(max(i - radius, 0), min(i + radius + 1, ny)):
            for j in range(nx):
                acc[j] += work[ii, j]
        for j in range(nx):
            out[i, j] = (acc[j] - weights[landuse[i, j]]) * inv


# The engine's incremental path. The sums above are float32 in a fixed order, so a
# year cannot patch last year's neighbourhood with +Δ (that rounds differently); it
# keeps the row pass instead, recomputes only the row sums a conversion touches, each
# exactly as ``neighborhood_effect`` adds it, and does the column pass inside
# ``kernels.step.select_urban``, where it costs no extra memory traffic.


@jit_parallel
def row_sums(landuse: np.ndarray, weights: np.ndarray, radius: int, work: np.ndarray) -> None:
    """The row pass of ``neighborhood_effect``: ``work[i, j]`` = the weights of
    ``landuse[i, j - r .. j + r]`` added left to right (0 beyond the edge)."""
    for i in prange(landuse.shape[0]):
        _row_sum(landuse, weights, radius, i, work[i])


@jit_inline
def _row_sum(landuse, weights, radius, i, row) -> None:
    """Row i's window sums into ``row``, left to right (one row of ``row_sums``)."""
    nx = landuse.shape[1]
    # The row's weights with `radius` zeros either side: beyond the edge weighs 0,
    # and adding an exact 0.0 leaves a float sum unchanged.
    padded = np.zeros(nx + 2 * radius, dtype=np.float32)
    for j in range(nx):
        padded[radius + j] = weights[landuse[i, j]]
    row[:] = 0.0
    for d in range(2 * radius + 1):
        for j in range(nx):
            row[j] += padded[d + j]


@jit_parallel
def update_row_sums(
    landuse: np.ndarray, weights: np.ndarray, radius: int, cells: np.ndarray, work: np.ndarray
) -> None:
    """Recompute the row sums of ``work`` that see one of ``cells`` (flat indices,
    ascending), after ``landuse`` changed there; the rest of ``work`` is left as it is.

    A year's conversions are ~1 % of the grid, so this touches (2r+1) row sums per
    converted cell instead of the whole grid. Each sum is recomputed from ``landuse``
    in ``row_sums``' order, so the result equals ``row_sums`` on the new map bit for bit.
    Work is split at row boundaries: a cell changes only the sums of its own row, so no
    two threads write the same sum.
    """
    n = cells.size
    if n == 0:
        return
    nx = landuse.shape[1]
    nchunks = min(n, 64)
    # Chunk boundaries in `cells`, moved forward to the start of a row.
    starts = np.empty(nchunks + 1, dtype=np.int64)
    starts[nchunks] = n
    for c in range(nchunks):
        b = c * n // nchunks
        while 0 < b < n and cells[b] // nx == cells[b - 1] // nx:
            b += 1
        starts[c] = b  # non-decreasing in c, so the chunks do not overlap
    for c in prange(nchunks):
        lo, hi = starts[c], starts[c + 1]
        row = -1
        done = -1  # the last column of this row already recomputed
        for k in range(lo, hi):
            i = cells[k] // nx
            j = cells[k] - i * nx
            if i != row:
                row = i
                done = -1
            first = max(j - radius, done + 1)
            last = min(j + radius, nx - 1)
            for jj in range(first, last + 1):
                s = np.float32(0.0)
                for t in range(max(jj - radius, 0), min(jj + radius + 1, nx)):
                    s += weights[landuse[i, t]]
                work[i, jj] = s
            done = max(done, last)
