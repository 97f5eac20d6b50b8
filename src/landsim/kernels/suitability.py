"""Logistic suitability from driver rasters."""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from landsim.kernels._jit import jit_parallel

# Codes of the driver transforms, as ``add_driver_term`` reads them.
TRANSFORMS = {"none": 0, "log1p": 1, "sqrt": 2}


@jit_parallel
def add_driver_term(
    values: np.ndarray, ok: np.ndarray, transform: int, scale: float, coef: float, z: np.ndarray
) -> None:
    """``z += coef × scale × transform(values)`` where ``ok``; elsewhere ``z`` is untouched.

    The transforms call the C library through ``math`` (not numpy's SIMD versions), so a
    scenario gives the same suitability bits on any x86-64 machine.
    """
    ny, nx = values.shape
    for i in prange(ny):
        for j in range(nx):
            if ok[i, j]:
                # Widened here, not by a float64 copy of the raster: the same bits.
                x = np.float64(values[i, j])
                if transform == 1:
                    x = math.log1p(x)
                elif transform == 2:
                    x = math.sqrt(x)
                z[i, j] += coef * (x * scale)


@jit_parallel
def logistic(z: np.ndarray, ok: np.ndarray, out: np.ndarray) -> None:
    """``out = 1 / (1 + exp(−z))`` where ``ok``, 0 elsewhere (float32)."""
    ny, nx = z.shape
    for i in prange(ny):
        for j in range(nx):
            if ok[i, j]:
                out[i, j] = np.float32(1.0 / (1.0 + math.exp(-z[i, j])))
            else:
                out[i, j] = np.float32(0.0)
