"""Urban transition potential."""

from __future__ import annotations

import numpy as np
from numba import prange

from landsim.kernels._jit import jit_parallel
from landsim.kernels.random import uniform


@jit_parallel
def urban_potential(
    suitability: np.ndarray,
    neighborhood: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    out: np.ndarray,
) -> None:
    """Potential of each candidate cell to become urban this year; -1 elsewhere.

    ``P = S × (floor + (1 − floor) × N) × (1 + (−ln u)^alpha)``: suitability S, the
    neighbourhood effect N raised off zero by ``floor`` so that isolated cells can still
    seed new growth, and White & Engelen's stochastic perturbation with ``u`` drawn from
    the counter-based stream ``key``. ``alpha = 0`` makes the term a constant 2.
    Non-candidates get -1 so that the allocator can tell them from a potential of 0.
    """
    ny, nx = suitability.shape
    keep = np.float32(1.0 - floor)
    for i in prange(ny):
        base = np.int64(i) * nx
        for j in range(nx):
            if candidate[i, j]:
                u = uniform(key, base + j)
                noise = 1.0 + (-np.log(u)) ** alpha
                out[i, j] = np.float32(
                    suitability[i, j] * (floor + keep * neighborhood[i, j]) * noise
                )
            else:
                out[i, j] = np.float32(-1.0)
