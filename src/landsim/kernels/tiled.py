"""Kernels of the tiled path (``landsim.tiled``): one tile at a time, global coordinates.

A tile is a window of the grid; it arrives with a halo of up to ``radius`` cells of its
neighbours' land use on each side (fewer at the grid edge, none beyond it). The
potential of each cell is computed exactly as ``neighborhood_effect`` followed by
``urban_potential`` would compute it on the whole grid:

* the same float32 sums in the same order (row pass over ``2r + 1`` columns with the
  grid edge as weight 0, then a column pass over the rows that exist), so the
  neighbourhood is bit-identical whatever the tiling;
* the random draw of a cell is ``uniform(key, global_row * nx + global_col)``: its
  global flat index, so the stream does not depend on the tiling either.

Selection is split so that a global threshold can be agreed between tiles: a histogram
of the high 16 bits of the potentials' bit patterns per tile (summed by the caller),
then per tile the cells above the threshold bin and the cells inside it (their low 16
bits), from which the caller finds the exact threshold and breaks ties by global flat
index, as ``select_top`` defines the selected set.

Serial (no ``prange``): the tiled path is parallel over tiles, one tile per worker
thread, and ``nogil`` lets worker threads run them side by side.
"""

from __future__ import annotations

import numpy as np

from landsim.kernels._jit import jit, jit_inline
from landsim.kernels.potential import perturbation
from landsim.kernels.random import uniform

_SIGN = np.uint32(0x80000000)
HIGH_BINS = 32768  # high 16 bits of a float32 >= 0: sign bit clear


@jit_inline
def order_key(k: np.uint32) -> np.uint32:
    """The bits of a potential as an order key: -0.0 counts as +0.0 (as ``select_top``)."""
    return np.uint32(0) if k == _SIGN else k


@jit
def tile_potential(
    landuse: np.ndarray,
    top: int,
    left: int,
    gy0: int,
    gx0: int,
    ny: int,
    nx: int,
    suitability: np.ndarray,
    suitability_constant: bool,
    candidate: np.ndarray,
    weights: np.ndarray,
    radius: int,
    urban: int,
    floor: float,
    alpha: float,
    key: np.uint64,
    work: np.ndarray,
    out: np.ndarray,
) -> None:
    """Potential of the tile's cells; -1 for cells that may not become urban this year.

    ``landuse`` is the tile with its halo: ``top`` rows above and ``left`` columns to the
    left of the tile (each at most ``radius``; 0 at the grid edge), and as many below and
    to the right as exist. The tile's first cell is global cell (``gy0``, ``gx0``) of an
    ``ny`` × ``nx`` grid. A cell competes when ``candidate`` is set and it is not urban
    yet (the engine's candidate mask, less what became urban). ``suitability`` holds
    only the candidate cells' values, in row-major order (every cell with ``candidate``
    set, urban or not), or one value for all when ``suitability_constant``: the rest is
    never read. ``work`` is float32 of the halo block's rows × the tile's width; ``out``
    float32 of the tile's shape.
    """
    h, w = out.shape
    hh = landuse.shape[0]
    right = landuse.shape[1] - left - w
    inv = np.float32(1.0 / ((2 * radius + 1) ** 2 - 1))
    keep = np.float32(1.0 - floor)
    padded = np.zeros(w + 2 * radius, dtype=np.float32)
    # Row pass over every halo row: the whole-grid kernel pads each row with `radius`
    # zeros beyond the grid; inside the grid, the neighbours' halo columns stand in.
    for hi in range(hh):
        padded[:] = 0.0
        for c in range(-left, w + right):
            padded[radius + c] = weights[landuse[hi, left + c]]
        row = work[hi]
        row[:] = 0.0
        for d in range(2 * radius + 1):
            for j in range(w):
                row[j] += padded[d + j]
    k = 0  # the next candidate's place in `suitability`
    for i in range(h):
        gi = gy0 + i
        # Only rows inside the grid, ascending: the whole-grid kernel's order. The
        # column sum is made per candidate cell: candidates are often few, and the sum
        # of the same numbers in the same order is the same float.
        lo = max(gi - radius, 0) - gy0 + top
        hi = min(gi + radius + 1, ny) - gy0 + top
        base = np.int64(gi) * nx + gx0
        for j in range(w):
            if not candidate[i, j]:
                out[i, j] = np.float32(-1.0)
                continue
            s = suitability[0] if suitability_constant else suitability[k]
            k += 1
            code = landuse[top + i, left + j]
            if code != urban:
                if s == 0:
                    out[i, j] = np.float32(0.0)
                    continue
                acc = np.float32(0.0)
                for g in range(lo, hi):
                    acc += work[g, j]
                neigh = (acc - weights[code]) * inv
                noise = perturbation(uniform(key, base + j), alpha)
                out[i, j] = np.float32(s * (floor + keep * neigh) * noise)
            else:
                out[i, j] = np.float32(-1.0)


@jit
def high_histogram(potential: np.ndarray, hist: np.ndarray) -> None:
    """Add to ``hist`` (int64[32768]) the count of potentials >= 0 per high 16 bits."""
    keys = potential.view(np.uint32)
    h, w = keys.shape
    for i in range(h):
        for j in range(w):
            k = order_key(keys[i, j])
            if k < _SIGN:
                hist[k >> 16] += 1


@jit
def split(
    potential: np.ndarray,
    b1: int,
    count_only: bool,
    above: np.ndarray,
    bin_index: np.ndarray,
    bin_low: np.ndarray,
) -> tuple[int, int]:
    """(cells whose high 16 bits are above ``b1``, cells whose high 16 bits are ``b1``).

    Unless ``count_only``, also writes their tile-local flat indices, ascending: the cells
    above the bin into ``above``, the cells in it into ``bin_index`` with their low 16
    bits in ``bin_low``. A first call with ``count_only`` (and empty arrays) sizes them:
    one kernel for both, so that the two passes cannot disagree on which cell is where.
    """
    keys = potential.view(np.uint32)
    h, w = keys.shape
    a = 0
    b = 0
    for i in range(h):
        for j in range(w):
            k = order_key(keys[i, j])
            if k >= _SIGN:
                continue
            hi = np.int64(k >> 16)
            if hi > b1:
                if not count_only:
                    above[a] = i * w + j
                a += 1
            elif hi == b1:
                if not count_only:
                    bin_index[b] = i * w + j
                    bin_low[b] = k & 0xFFFF
                b += 1
    return a, b
