"""Class masks through 256-entry tables and counts per value, in one pass each."""

from __future__ import annotations

import numpy as np

from landsim.kernels._jit import jit


# Serial: one byte in, one out is memory-bound on one core, and the callers run it
# beside threads that decode rasters, where a parallel region waits for a busy core.
@jit
def lookup(data: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = table[data[i]]`` for 1-D ``data`` (uint8) and a 256-entry ``table``.

    numpy's ``table[data]`` first widens every index to 8 bytes (a 136 MB temporary at
    17 M cells); this reads one byte and writes one per cell.
    """
    for i in range(data.shape[0]):
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
