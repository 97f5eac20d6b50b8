"""Exact-quantity allocation: the n cells of highest potential, in linear time."""

from __future__ import annotations

import numpy as np
from numba import prange

from landsim.kernels._jit import jit_inline, jit_parallel

# Rows are split into this many chunks for the parallel histogram passes (enough to
# balance a few threads). The chunk count does not change the result (the selected set
# is defined without it); it sets how many histograms are cleared per call (0.8 MB each).
_MAX_CHUNKS = 8
_SIGN = np.uint32(0x80000000)


@jit_inline
def _order_key(k: np.uint32) -> np.uint32:
    """The bits of a potential as an order key: -0.0 (sign bit only) counts as +0.0."""
    return np.uint32(0) if k == _SIGN else k


@jit_parallel
def select_top(potential: np.ndarray, n: int, out: np.ndarray) -> None:
    """Write into ``out[:n]`` the flat indices of the ``n`` largest potentials, ascending.

    Only cells with potential >= 0 take part (non-candidates carry -1). Ties at the
    threshold go to the lower flat index, so the selected set is unique, and the same for
    any thread count. Instead of sorting, a float32 >= 0 is ordered like its bit pattern
    read as uint32, so a 2-level radix histogram (high 16 bits, then low 16 bits of the
    threshold bin) finds the exact threshold in three linear passes.

    The caller guarantees that at least ``n`` cells have potential >= 0.
    """
    if n <= 0:
        return
    ny, nx = potential.shape
    keys = potential.view(np.uint32)
    nchunks = min(ny, _MAX_CHUNKS)
    rows_per = (ny + nchunks - 1) // nchunks

    # Pass 1: histogram of the high 16 bits, per chunk.
    hist1 = np.zeros((nchunks, 32768), dtype=np.int64)
    for c in prange(nchunks):
        for i in range(c * rows_per, min(ny, (c + 1) * rows_per)):
            for j in range(nx):
                k = _order_key(keys[i, j])
                if k < _SIGN:
                    hist1[c, k >> 16] += 1
    total1 = hist1.sum(axis=0)
    above = 0
    b1 = 32767
    while b1 >= 0:
        if above + total1[b1] >= n:
            break
        above += total1[b1]
        b1 -= 1
    if b1 < 0:
        raise ValueError("select_top: fewer candidate cells than n")

    # Pass 2: histogram of the low 16 bits inside the threshold bin.
    hist2 = np.zeros((nchunks, 65536), dtype=np.int64)
    for c in prange(nchunks):
        for i in range(c * rows_per, min(ny, (c + 1) * rows_per)):
            for j in range(nx):
                k = _order_key(keys[i, j])
                if k < _SIGN and (k >> 16) == b1:
                    hist2[c, k & 0xFFFF] += 1
    total2 = hist2.sum(axis=0)
    b2 = 65535
    while b2 >= 0:
        if above + total2[b2] >= n:
            break
        above += total2[b2]
        b2 -= 1
    threshold = np.uint32((b1 << 16) | b2)
    ties_needed = n - above

    # How many cells each chunk contributes, so chunks can write in parallel at fixed
    # offsets and the output stays in ascending index order.
    greater = np.zeros(nchunks, dtype=np.int64)
    ties = np.zeros(nchunks, dtype=np.int64)
    for c in range(nchunks):
        g = 0
        for b in range(b1 + 1, 32768):
            g += hist1[c, b]
        for b in range(b2 + 1, 65536):
            g += hist2[c, b]
        greater[c] = g
        t = min(hist2[c, b2], ties_needed)
        ties[c] = t
        ties_needed -= t
    offset = np.zeros(nchunks + 1, dtype=np.int64)
    for c in range(nchunks):
        offset[c + 1] = offset[c] + greater[c] + ties[c]

    # Pass 3: write the selected indices.
    for c in prange(nchunks):
        pos = offset[c]
        ties_left = ties[c]
        for i in range(c * rows_per, min(ny, (c + 1) * rows_per)):
            for j in range(nx):
                k = _order_key(keys[i, j])
                if k < _SIGN:
                    if k > threshold:
                        out[pos] = np.int64(i) * nx + j
                        pos += 1
                    elif k == threshold and ties_left > 0:
                        out[pos] = np.int64(i) * nx + j
                        pos += 1
                        ties_left -= 1
