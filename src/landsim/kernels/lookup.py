"""Class masks through 256-entry tables and counts per value, in one pass each."""

from __future__ import annotations

import numpy as np
from numba import prange

from landsim.kernels._jit import jit, jit_parallel

# Cells per parallel chunk of ``lookup``: large enough that handing out chunks is
# noise, small enough that the threads share a grid evenly.
_CHUNK = 1 << 18


@jit_parallel
def lookup(data: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = table[data[i]]`` for 1-D ``data`` (uint8) and a 256-entry ``table``.

    numpy's ``table[data]`` first widens every index to 8 bytes (a 256 MB temporary at
    32 M cells); this reads one byte and writes one per cell.
    """
    n = data.shape[0]
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            out[i] = table[data[i]]


@jit
def count_values(data: np.ndarray, where: np.ndarray, counts: np.ndarray) -> None:
    """``counts[v] += 1`` for each value ``v`` of 1-D ``data`` where ``where`` holds
    (``where`` may have one element, True, to count every cell).

    ``np.bincount`` first widens the values to 8 bytes (136 MB at 17 M cells); values
    must lie in ``0 <= v < counts.size`` (the callers check the range first).
    """
    if where.shape[0] == 1 and data.shape[0] != 1:
        if where[0]:
            for i in range(data.shape[0]):
                counts[data[i]] += 1
        return
    for i in range(data.shape[0]):
        if where[i]:
            counts[data[i]] += 1


@jit
def set_bit(mask: np.ndarray, bit: int, bits: np.ndarray) -> None:
    """``bits[i] |= 1 << bit`` where ``mask[i]`` (1-D; ``bits`` an unsigned type wider
    than ``bit``): several masks packed into one array, so their overlaps are counted in
    one pass."""
    shift = np.uint32(bit)
    for i in range(mask.shape[0]):
        # Without a branch, so the loop vectorises (a branch per cell took ~10 ns).
        bits[i] |= np.uint32(mask[i]) << shift


@jit
def count_patterns(
    bits: np.ndarray, extra: np.ndarray, extra_bit: int, where: np.ndarray, counts: np.ndarray
) -> None:
    """``counts[bits[i] | extra[i] << extra_bit] += 1`` where ``where[i]``: how many
    cells have each combination of the packed masks and one more (1-D arrays;
    ``counts`` has ``2 ** (extra_bit + 1)`` entries). A one-element ``extra`` means no
    extra mask, a one-element ``where`` every cell (for grids of more than one cell)."""
    e = np.uint32(1) << np.uint32(extra_bit)
    n = bits.shape[0]
    all_cells = where.shape[0] == 1 and n != 1
    no_extra = extra.shape[0] == 1 and n != 1
    for i in range(n):
        if all_cells or where[i]:
            v = np.uint32(bits[i])
            if not no_extra and extra[i]:
                v |= e
            counts[v] += 1
