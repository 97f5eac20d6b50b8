"""``kernels.urban_potential`` and the counter-based random stream, against the oracle."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from landsim import kernels
from landsim.kernels import random as krandom
from landsim.kernels import reference

SHAPES = [(1, 1), (1, 8), (8, 1), (5, 7), (23, 17)]
ALPHAS = [0.0, 0.5, 1.0, 0.3, 2.0, 3.7]
FLOORS = [0.0, 0.01, 0.25, 1.0]


def key(seed: int, member: int, year: int) -> np.uint64:
    """The stream key as the engine passes it (np.uint64, never a Python int)."""
    return np.uint64(kernels.stream_key(seed, member, year))


def inputs(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Suitability in [0, 1] with some exact zeros, neighbourhood in [0, 1], a candidate mask."""
    rng = np.random.default_rng(seed)
    suit = rng.random(shape).astype(np.float32)
    suit[rng.random(shape) < 0.1] = 0.0
    neigh = (rng.integers(0, 9, size=shape) / 8).astype(np.float32)
    neigh[rng.random(shape) < 0.3] = np.float32(rng.random())
    cand = (rng.random(shape) < 0.6).astype(np.uint8)
    return suit, neigh, cand


def run_kernel(suit, neigh, cand, floor, alpha, k) -> np.ndarray:
    out = np.full(suit.shape, np.nan, dtype=np.float32)
    kernels.urban_potential(suit, neigh, cand, floor, alpha, k, out)
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("floor", FLOORS)
def test_matches_reference(shape: tuple[int, int], alpha: float, floor: float) -> None:
    """Potential equals the numpy oracle fed the same stream key."""
    suit, neigh, cand = inputs(shape, seed=shape[0] * 31 + shape[1])
    k = key(7, 1, 2030)
    out = run_kernel(suit, neigh, cand, floor, alpha, k)
    ref = reference.urban_potential(suit, neigh, cand, floor, alpha, k)
    assert out.dtype == np.float32
    assert_allclose(out, ref, rtol=1e-5)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_non_candidates_are_exactly_minus_one(alpha: float) -> None:
    """Non-candidates carry exactly -1; candidates are >= 0 (0 where suitability is 0)."""
    suit, neigh, cand = inputs((19, 21), seed=4)
    out = run_kernel(suit, neigh, cand, 0.01, alpha, key(1, 0, 2021))
    assert np.all(out[cand == 0] == np.float32(-1.0))
    assert np.all(out[cand == 1] >= 0)
    assert np.all(out[(cand == 1) & (suit == 0)] == 0.0)
    assert not np.signbit(out[(cand == 1) & (suit == 0)]).any()  # +0.0, not -0.0


def test_nothing_is_a_candidate() -> None:
    """An all-zero candidate mask gives -1 everywhere."""
    suit, neigh, _ = inputs((6, 6), seed=2)
    out = run_kernel(suit, neigh, np.zeros((6, 6), np.uint8), 0.1, 1.0, key(0, 0, 0))
    assert np.all(out == -1.0)


@pytest.mark.parametrize("floor", [*FLOORS, 0.3, 0.77])
def test_alpha_zero_is_deterministic(floor: float) -> None:
    """alpha = 0: potential = suitability × (floor + (1 − floor) N) × 2, whatever the key."""
    suit, neigh, cand = inputs((11, 13), seed=9)
    keep = np.float32(1.0 - floor)  # the kernel's float32 (1 − floor)
    expected = np.float32(
        suit.astype(np.float64) * (floor + (keep * neigh).astype(np.float64)) * 2.0
    )
    expected = np.where(cand == 1, expected, np.float32(-1.0))
    for k in (key(0, 0, 2020), key(5, 3, 2099), key(2**63 - 1, 9, 3000)):
        assert_array_equal(run_kernel(suit, neigh, cand, floor, 0.0, k), expected)


def test_alpha_zero_hand_worked() -> None:
    """alpha = 0, floor 0.25, N = 1/2, S = 0.5: P = 0.5 × (0.25 + 0.75 × 0.5) × 2 = 0.625."""
    one = np.ones((1, 1))
    out = run_kernel(
        (0.5 * one).astype(np.float32),
        (0.5 * one).astype(np.float32),
        one.astype(np.uint8),
        0.25,
        0.0,
        key(0, 0, 0),
    )
    assert out[0, 0] == np.float32(0.625)


def test_inputs_not_modified() -> None:
    """Only ``out`` is written."""
    suit, neigh, cand = inputs((7, 9), seed=3)
    copies = [a.copy() for a in (suit, neigh, cand)]
    run_kernel(suit, neigh, cand, 0.05, 1.0, key(1, 1, 1))
    for a, b in zip((suit, neigh, cand), copies, strict=True):
        assert_array_equal(a, b)


# ------------------------------------------------------------------ the random stream

KEY_CASES = [
    (seed, member, year)
    for seed in (0, 1, 2, 42, 12345, 2**31 - 1, 2**32, 2**53 + 1, 2**63 - 2, 2**63 - 1)
    for member in (0, 1, 7, 99)
    for year in (0, 1, 2020, 2035, 3000)
]


def test_stream_key_matches_reference() -> None:
    """``stream_key`` equals the numpy oracle for many (seed, member, year), 2**63 − 1 too."""
    for seed, member, year in KEY_CASES:
        got = kernels.stream_key(seed, member, year)
        assert np.uint64(got) == reference.stream_key(seed, member, year), (seed, member, year)


def test_stream_keys_are_distinct() -> None:
    """No two (seed, member, year) of the cases share a key."""
    keys = {int(kernels.stream_key(*case)) for case in KEY_CASES}
    assert len(keys) == len(KEY_CASES)


def test_kernel_uniform_matches_reference() -> None:
    """The kernel's per-cell draw equals the oracle's for scattered indices and keys."""
    idx = np.array([0, 1, 2, 3, 99, 12345, 10**6 - 1, 2**31, 2**40 + 3], dtype=np.int64)
    for case in [(0, 0, 2020), (2**63 - 1, 3, 2035), (17, 99, 0)]:
        k = key(*case)
        ref = reference.uniform(k, idx)
        got = np.array([krandom.uniform(k, np.int64(i)) for i in idx])
        assert_array_equal(got, ref)


@numba.njit
def kernel_draws(k: np.uint64, n: int) -> np.ndarray:
    """The kernel's own draws for cells 0..n-1 (the inline ``uniform`` called from numba)."""
    out = np.empty(n, np.float64)
    for i in range(n):
        out[i] = krandom.uniform(k, np.int64(i))
    return out


def test_uniform_open_interval_and_mean() -> None:
    """10**6 kernel draws equal the oracle's, lie strictly in (0, 1), mean ≈ 1/2, flat."""
    k = key(3, 0, 2025)
    u = kernel_draws(k, 10**6)
    assert_array_equal(u, reference.uniform(k, np.arange(10**6)))
    assert u.min() > 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.002
    assert abs(u.var() - 1 / 12) < 0.002
    # Roughly flat: each tenth holds about a tenth of the draws.
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - 10**5) < 2000)


def _field(seed: int, member: int, year: int) -> np.ndarray:
    """The potential field with S = 1, floor 1 and alpha 1: 1 − ln u, the stream made visible."""
    shape = (40, 50)
    ones = np.ones(shape, np.float32)
    return run_kernel(ones, ones, ones.astype(np.uint8), 1.0, 1.0, key(seed, member, year))


def test_streams_differ_by_year_seed_and_member() -> None:
    """Changing the year, the seed or the member gives a different random field."""
    base = _field(1, 0, 2020)
    assert np.array_equal(base, _field(1, 0, 2020))
    for other in (_field(1, 0, 2021), _field(2, 0, 2020), _field(1, 1, 2020)):
        assert np.mean(base == other) < 0.01
