"""Each numba kernel against its slow, obvious numpy version (kernels/reference.py)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from landsim import kernels
from landsim.kernels import reference

SHAPES = [(1, 1), (1, 9), (9, 1), (3, 5), (17, 23), (64, 41)]


def _weights(*pairs: tuple[int, float]) -> np.ndarray:
    w = np.zeros(256, dtype=np.float32)
    for code, value in pairs:
        w[code] = value
    return w


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("radius", [1, 2, 4])
def test_neighborhood_matches_reference(shape: tuple[int, int], radius: int) -> None:
    """Weighted neighbour share equals shifted-copy sums, edges and nodata included."""
    rng = np.random.default_rng(hash((shape, radius)) % 2**32)
    lu = rng.integers(0, 6, shape).astype(np.uint8)
    lu[rng.random(shape) < 0.1] = 255
    w = _weights((1, 1.0), (3, 0.5), (5, 0.25))
    out = np.empty(shape, np.float32)
    kernels.neighborhood_effect(lu, w, radius, np.empty(shape, np.float32), out)
    np.testing.assert_array_equal(out, reference.neighborhood_effect(lu, w, radius))


def test_neighborhood_hand_worked() -> None:
    """One urban centre cell: each of its 8 neighbours sees 1/8, the centre sees 0."""
    lu = np.zeros((3, 3), np.uint8)
    lu[1, 1] = 4
    out = np.empty((3, 3), np.float32)
    kernels.neighborhood_effect(lu, _weights((4, 1.0)), 1, np.empty_like(out), out)
    expected = np.full((3, 3), 1 / 8, np.float32)
    expected[1, 1] = 0
    np.testing.assert_allclose(out, expected)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0])
def test_potential_matches_reference(shape: tuple[int, int], alpha: float) -> None:
    """Potential equals the numpy formula with the same counter-based draws; -1 elsewhere."""
    rng = np.random.default_rng(3)
    suit = rng.random(shape).astype(np.float32)
    neigh = rng.random(shape).astype(np.float32)
    cand = (rng.random(shape) < 0.6).astype(np.uint8)
    key = np.uint64(kernels.stream_key(11, 2, 2031))
    out = np.empty(shape, np.float32)
    kernels.urban_potential(suit, neigh, cand, 0.05, alpha, key, out)
    ref = reference.urban_potential(suit, neigh, cand, 0.05, alpha, key)
    np.testing.assert_array_equal(out, ref)
    assert np.all(out[cand == 0] == -1.0)
    assert np.all(out[cand == 1] >= 0)


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 5, 2**63 - 1])
def test_stream_key_and_draws(seed: int) -> None:
    """The generator equals its numpy twin, lies in (0, 1) and is near uniform."""
    for member, year in [(0, 2014), (3, 2035)]:
        assert kernels.stream_key(seed, member, year) == reference.stream_key(seed, member, year)
    key = reference.stream_key(seed, 0, 2020)
    u = reference.uniform(key, np.arange(200_000))
    assert u.min() > 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005
    other = reference.uniform(reference.stream_key(seed, 0, 2021), np.arange(200_000))
    assert abs(np.corrcoef(u, other)[0, 1]) < 0.01


def _select(pot: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(n, np.int64)
    kernels.select_top(pot, n, out)
    return out


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (100, 37), (1000, 3), (3, 1000)])
def test_select_top_matches_reference(shape: tuple[int, int]) -> None:
    """Exact top-n, ascending, for random potentials, with n from 0 to all candidates."""
    rng = np.random.default_rng(5)
    pot = rng.random(shape).astype(np.float32)
    pot[rng.random(shape) < 0.3] = -1.0
    ncand = int((pot >= 0).sum())
    for n in sorted({0, 1, ncand // 3, ncand}):
        got = _select(pot, n)
        np.testing.assert_array_equal(got, reference.select_top(pot, n))
        assert np.all(np.diff(got) > 0)


def test_select_top_ties_go_to_lower_index() -> None:
    """Many exact ties (three values, zeros included) split by row-major index."""
    rng = np.random.default_rng(9)
    pot = rng.choice(np.array([0.0, 0.25, 0.5], np.float32), size=(300, 41))
    pot[rng.random(pot.shape) < 0.2] = -1.0
    ncand = int((pot >= 0).sum())
    for n in (1, 17, ncand // 2, ncand - 1, ncand):
        np.testing.assert_array_equal(_select(pot, n), reference.select_top(pot, n))


def test_select_top_neighbouring_floats() -> None:
    """Values one ulp apart (same radix bins) are still ordered exactly."""
    base = np.float32(0.3)
    vals = [base]
    for _ in range(50):
        vals.append(np.nextafter(vals[-1], np.float32(1.0)))
    pot = np.array(vals[:50] * 4, dtype=np.float32).reshape(8, 25)
    for n in (1, 3, 50, 101, 200):
        np.testing.assert_array_equal(_select(pot, n), reference.select_top(pot, n))


def test_kernels_same_with_one_and_two_threads() -> None:
    """Every kernel gives identical bytes with 1 and 2 numba threads."""
    rng = np.random.default_rng(1)
    shape = (301, 257)
    lu = rng.integers(0, 5, shape).astype(np.uint8)
    w = _weights((4, 1.0), (2, 0.3))
    suit = rng.random(shape).astype(np.float32)
    cand = (lu != 4).astype(np.uint8)
    key = np.uint64(kernels.stream_key(3, 0, 2020))
    results = []
    before = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            neigh = np.empty(shape, np.float32)
            kernels.neighborhood_effect(lu, w, 2, np.empty(shape, np.float32), neigh)
            pot = np.empty(shape, np.float32)
            kernels.urban_potential(suit, neigh, cand, 0.01, 1.0, key, pot)
            results.append((neigh, pot, _select(pot, 5000)))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(results[0], results[1], strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    ("transform", "fn"), [("none", lambda x: x), ("log1p", np.log1p), ("sqrt", np.sqrt)]
)
def test_logistic_suitability_matches_numpy(transform: str, fn) -> None:
    """z = intercept + Σ coef × scale × f(x), then 1/(1+e^-z), 0 where any driver is missing."""
    from landsim.kernels.suitability import TRANSFORMS

    rng = np.random.default_rng(4)
    shape = (23, 31)
    a, b = rng.random(shape) * 50, rng.random(shape) * 3
    ok_a, ok_b = rng.random(shape) < 0.9, rng.random(shape) < 0.95
    z = np.full(shape, -0.5)
    kernels.add_driver_term(a, ok_a, TRANSFORMS[transform], 0.01, -2.0, z)
    kernels.add_driver_term(b, ok_b, 0, 1.0, 0.7, z)
    out = np.empty(shape, np.float32)
    kernels.logistic(z, ok_a & ok_b, out)
    zz = -0.5 + np.where(ok_a, -2.0 * (fn(a) * 0.01), 0) + np.where(ok_b, 0.7 * b, 0)
    expected = np.where(ok_a & ok_b, 1 / (1 + np.exp(-zz)), 0).astype(np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert np.all(out[~(ok_a & ok_b)] == 0)
