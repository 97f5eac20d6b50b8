"""Urban transition potential."""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from landsim.kernels._jit import jit_inline, jit_parallel
from landsim.kernels.random import uniform


@jit_inline
def perturbation(u: float, alpha: float) -> float:
    """White & Engelen's stochastic term ``1 + (−ln u)^alpha``.

    The common exponents skip ``pow``, the costliest call of the step: 0 gives a constant
    2, 1 needs only the log, 0.5 a correctly rounded ``sqrt``.
    """
    if alpha == 0.0:
        return 2.0
    t = -math.log(u)
    if alpha == 1.0:
        return 1.0 + t
    if alpha == 0.5:
        return 1.0 + math.sqrt(t)
    return 1.0 + math.pow(t, alpha)


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
    the counter-based stream ``key``. Non-candidates get -1 so that the allocator can
    tell them from a potential of 0. Cells of suitability 0 skip the draw: their
    potential is 0 whatever it is.
    """
    ny, nx = suitability.shape
    keep = np.float32(1.0 - floor)
    for i in prange(ny):
        base = np.int64(i) * nx
        for j in range(nx):
            if candidate[i, j]:
                s = suitability[i, j]
                if s == 0:
                    out[i, j] = np.float32(0.0)
                    continue
                noise = perturbation(uniform(key, base + j), alpha)
                out[i, j] = np.float32(s * (floor + keep * neighborhood[i, j]) * noise)
            else:
                out[i, j] = np.float32(-1.0)
