"""One CA step in plain, vectorised numpy: the baseline the numba kernels are measured against.

It does the same work as the numba path (``neighborhood_effect``, ``urban_potential``,
``select_top``) and gives the same result, bit for bit, so the ratio of the two times is
the price of doing without numba. To be a fair baseline it is as fast as plain numpy
reasonably allows (no numba, no scipy):

- **Neighbourhood**: a separable box filter of shifted-slice sums, a row pass then a
  column pass, 2r adds each. At 4096² and r = 2 this measured about 2.5× faster than an
  integral image (``np.cumsum`` is not SIMD-vectorised, and in float32 its rounding
  error grows along the row). Adding the same float32 terms in the same order as the
  numba kernel makes the result identical, not merely close.
- **Potential**: computed in place in preallocated buffers, with the kernel's dtypes
  (float32 neighbourhood term, float64 product and noise, one rounding to float32).
  The draws ``u`` come from ``landsim.kernels.reference.uniform``, the numpy version of
  the kernels' counter-based generator, so both paths use the same random numbers. It
  is the largest single cost of the numpy step (uint64 arithmetic, and temporaries it
  allocates on every call).
- **Selection**: the threshold is the n-th largest potential, found by numpy's
  linear-time introselect. ``np.partition`` is used rather than ``np.argpartition``:
  the threshold value is all that is needed, and ``argpartition``, which also permutes
  an int64 index array, measured 2–3× slower for the same threshold. Cells above the
  threshold are taken, then ties at the threshold by ascending flat index, as
  ``select_top`` does.

Buffers live in a :class:`NumpyStep` object and are reused between calls, as the engine
reuses its ``work``/``neigh``/``potential`` arrays: allocating 64 MiB arrays afresh every
step would add page-fault time that is not the algorithm's.
"""

from __future__ import annotations

import numpy as np

from landsim.kernels import reference


class NumpyStep:
    """Reusable buffers for :meth:`__call__` on a grid of one shape and one radius."""

    def __init__(self, shape: tuple[int, int], radius: int) -> None:
        ny, nx = shape
        self.shape = (ny, nx)
        self.radius = radius
        # Zero margins stand for "beyond the edge weighs 0"; only interiors are written.
        self._row_in = np.zeros((ny, nx + 2 * radius), dtype=np.float32)
        self._col_in = np.zeros((ny + 2 * radius, nx), dtype=np.float32)
        self.neighborhood = np.empty((ny, nx), dtype=np.float32)
        self.potential = np.empty((ny, nx), dtype=np.float32)
        self._prod = np.empty((ny, nx), dtype=np.float64)
        self._index = np.arange(ny * nx)  # the generator's counters, the same every step

    def neighborhood_effect(self, landuse: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Weighted share of the (2r+1)² − 1 Moore neighbours; same as the numba kernel."""
        ny, nx = self.shape
        r = self.radius
        w = self._row_in[:, r : r + nx]
        # mode="clip" skips the bounds-checked, buffered path of the default "raise"; a
        # uint8 code is always < 256, the length of the weight table, so nothing clips.
        np.take(weights, landuse, out=w, mode="clip")

        # Row pass: s = w[j-r] + … + w[j+r], left to right like the kernel (its s starts
        # at 0, and 0 + x == x exactly, so starting from the first term is the same sum).
        row = self._col_in[r : r + ny]
        np.add(self._row_in[:, 0:nx], self._row_in[:, 1 : 1 + nx], out=row)
        for d in range(2, 2 * r + 1):
            row += self._row_in[:, d : d + nx]

        # Column pass, top to bottom, then remove the centre cell and divide.
        out = self.neighborhood
        np.add(self._col_in[0:ny], self._col_in[1 : 1 + ny], out=out)
        for d in range(2, 2 * r + 1):
            out += self._col_in[d : d + ny]
        out -= w
        out *= np.float32(1.0 / ((2 * r + 1) ** 2 - 1))
        return out

    def urban_potential(
        self,
        suitability: np.ndarray,
        neighborhood: np.ndarray,
        candidate: np.ndarray,
        floor: float,
        alpha: float,
        key: np.uint64,
    ) -> np.ndarray:
        """``S × (floor + (1−floor)·N) × (1 + (−ln u)^alpha)`` on candidates, -1 elsewhere."""
        noise = reference.uniform(key, self._index).reshape(self.shape)
        np.log(noise, out=noise)
        np.negative(noise, out=noise)
        # The kernel's cases (``kernels.potential.perturbation``): no pow for the common
        # exponents. The np.power ufunc otherwise, not the ** operator: ** may take
        # shortcuts for some exponents, which need not round like the kernel's pow().
        if alpha == 0.0:
            noise.fill(1.0)
        elif alpha == 0.5:
            np.sqrt(noise, out=noise)
        elif alpha != 1.0:
            np.power(noise, alpha, out=noise)
        noise += 1.0

        # The kernel's dtypes: keep·N in float32, then float64 (floor is a float64 and
        # NEP 50 would keep a Python float weak, hence np.float64), one rounding at the end.
        # Multiplications are done in the kernel's order, S × (…) first, then × noise.
        prod = self._prod
        np.multiply(neighborhood, np.float32(1.0 - floor), out=self.potential)
        np.add(self.potential, np.float64(floor), out=prod)
        prod *= suitability
        prod *= noise
        out = self.potential
        np.copyto(out, prod, casting="same_kind")
        np.copyto(out, np.float32(-1.0), where=candidate == 0)
        return out

    @staticmethod
    def select_top(potential: np.ndarray, n: int) -> np.ndarray:
        """Flat indices of the n largest potentials >= 0, ties to the lower index, ascending."""
        flat = potential.reshape(-1)
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        k = flat.size - n
        threshold = np.partition(flat, k)[k]
        if threshold < 0:
            raise ValueError("select_top: fewer candidate cells than n")
        # Everything at or above the threshold, ascending; then drop the surplus ties,
        # those of highest index, so ties go to the lower flat index.
        chosen = np.flatnonzero(flat >= threshold)
        surplus = chosen.size - n
        if surplus > 0:
            ties = np.flatnonzero(flat[chosen] == threshold)
            chosen = np.delete(chosen, ties[ties.size - surplus :])
        return chosen

    def __call__(
        self,
        landuse: np.ndarray,
        weights: np.ndarray,
        suitability: np.ndarray,
        candidate: np.ndarray,
        floor: float,
        alpha: float,
        key: np.uint64,
        n: int,
    ) -> np.ndarray:
        """One step: the flat indices of the n cells that become urban, ascending."""
        neighborhood = self.neighborhood_effect(landuse, weights)
        potential = self.urban_potential(suitability, neighborhood, candidate, floor, alpha, key)
        return self.select_top(potential, n)


def numpy_step(
    landuse: np.ndarray,
    weights: np.ndarray,
    radius: int,
    suitability: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    n: int,
) -> np.ndarray:
    """One step with fresh buffers; :class:`NumpyStep` keeps them between steps."""
    step = NumpyStep(landuse.shape, radius)
    return step(landuse, weights, suitability, candidate, floor, alpha, key, n)
