"""Plain-numpy versions of the kernels: the test oracle and the benchmark baseline.

They are written to be obviously right, not fast, and share no code with the kernels
beyond the random mixer's constants.
"""

from __future__ import annotations

import math

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def stream_key(seed: int, member: int, year: int) -> np.uint64:
    with np.errstate(over="ignore"):
        k = _mix64(np.array(seed, dtype=np.uint64) + _GOLDEN)
        k = _mix64(k ^ (np.array(member, dtype=np.uint64) * _GOLDEN + _GOLDEN))
        return np.uint64(_mix64(k ^ (np.array(year, dtype=np.uint64) * _M1 + _GOLDEN)))


def uniform(key: np.uint64, index: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = _mix64(np.uint64(key) + (index.astype(np.uint64) + np.uint64(1)) * _GOLDEN)
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def neighborhood_effect(landuse: np.ndarray, weights: np.ndarray, radius: int) -> np.ndarray:
    """Weighted neighbour share by summing shifted copies of the weight map.

    float32 throughout and summed in the kernel's order (columns, then rows, offsets
    ascending), so the result is bit-identical to the kernel, not merely close.
    """
    w = weights[landuse].astype(np.float32)
    ny, nx = landuse.shape
    padded = np.pad(w, radius)
    rows = np.zeros((ny + 2 * radius, nx), np.float32)
    for dj in range(-radius, radius + 1):
        rows += padded[:, radius + dj : radius + dj + nx]
    total = np.zeros((ny, nx), np.float32)
    for di in range(-radius, radius + 1):
        total += rows[radius + di : radius + di + ny]
    inv = np.float32(1.0 / ((2 * radius + 1) ** 2 - 1))
    return ((total - w) * inv).astype(np.float32)


def _perturbation(u: float, alpha: float) -> float:
    # Python's math calls the same C library as numba's kernels, so the draws' transform
    # is bit-identical on any machine; numpy's own SIMD log may differ in the last bit.
    if alpha == 0.0:
        return 2.0
    t = -math.log(u)
    if alpha == 1.0:
        return 1.0 + t
    if alpha == 0.5:
        return 1.0 + math.sqrt(t)
    return 1.0 + math.pow(t, alpha)


def urban_potential(
    suitability: np.ndarray,
    neighborhood: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
) -> np.ndarray:
    u = uniform(key, np.arange(suitability.size)).reshape(suitability.shape)
    noise = np.array([_perturbation(float(x), alpha) for x in u.ravel()]).reshape(u.shape)
    # The kernel's precision: float32 product, then float64 for the rest.
    neigh = (np.float32(1.0 - floor) * neighborhood).astype(np.float64)
    p = suitability.astype(np.float64) * (floor + neigh) * noise
    return np.where(candidate.astype(bool), p, -1.0).astype(np.float32)


def select_top(potential: np.ndarray, n: int) -> np.ndarray:
    """Flat indices of the n largest potentials >= 0, ties to the lower index, ascending."""
    flat = potential.ravel()
    idx = np.flatnonzero(flat >= 0)
    # lexsort: last key is primary; sort by potential descending, then index ascending.
    order = np.lexsort((idx, -flat[idx].astype(np.float64)))
    return np.sort(idx[order[:n]])
