"""A counter-based random number generator for kernels.

A draw is a pure function of (key, cell index): ``key`` mixes the seed, the member and
the year. No state moves between cells, so the result does not depend on the number of
threads or on the order cells are visited. The mixer is SplitMix64's finaliser
(Steele, Lea & Flood 2014), which passes BigCrush when fed a counter.
"""

from __future__ import annotations

import numpy as np

from landsim.kernels._jit import jit, jit_inline

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@jit_inline
def mix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit
def stream_key(seed: int, member: int, year: int) -> np.uint64:
    """The key of one (seed, member, year) stream."""
    k = mix64(np.uint64(seed) + _GOLDEN)
    k = mix64(k ^ (np.uint64(member) * _GOLDEN + _GOLDEN))
    return mix64(k ^ (np.uint64(year) * _M1 + _GOLDEN))


@jit
def substream(key: np.uint64, n: int) -> np.uint64:
    """The key of sub-stream ``n`` of a stream (e.g. a round within a year)."""
    return mix64(np.uint64(key) ^ (np.uint64(n) * _M2 + _GOLDEN))


@jit_inline
def uniform(key: np.uint64, index: np.int64) -> float:
    """A draw in the open interval (0, 1) for one cell of one stream."""
    # key may arrive typed int64 (numba types a Python int so); cast before mixing.
    z = mix64(np.uint64(key) + (np.uint64(index) + np.uint64(1)) * _GOLDEN)
    return (np.float64(z >> _S11) + 0.5) * _INV53
