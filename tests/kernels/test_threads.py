"""Every kernel, and a short ``simulate`` run, give the same bits on 1 and 2 threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from landsim import kernels
from landsim.model import GrowthParameters, simulate

MAX_THREADS = numba.config.NUMBA_NUM_THREADS
THREADS = sorted({1, min(2, MAX_THREADS), MAX_THREADS})

pytestmark = pytest.mark.skipif(MAX_THREADS < 2, reason="numba has a single thread here")


def on_each_thread_count(fn: Callable[[], Any]) -> list[Any]:
    """``fn()`` under each thread count, the previous count restored afterwards."""
    before = numba.get_num_threads()
    results = []
    try:
        for t in THREADS:
            numba.set_num_threads(t)
            results.append(fn())
    finally:
        numba.set_num_threads(before)
    assert numba.get_num_threads() == before
    return results


def assert_all_equal(results: list[Any]) -> None:
    for r in results[1:]:
        assert_array_equal(r, results[0])


def landuse(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lu = rng.choice(np.array([0, 1, 2, 3, 255], np.uint8), size=shape, p=[0.4, 0.1, 0.3, 0.1, 0.1])
    return lu


WEIGHTS = np.zeros(256, np.float32)
WEIGHTS[1], WEIGHTS[3] = 1.0, 0.3


def test_neighborhood_thread_independent() -> None:
    """neighborhood_effect: same output for any thread count."""
    lu = landuse((203, 97), seed=1)

    def run() -> np.ndarray:
        out = np.empty(lu.shape, np.float32)
        kernels.neighborhood_effect(lu, WEIGHTS, 3, np.empty_like(out), out)
        return out

    assert_all_equal(on_each_thread_count(run))


def test_potential_thread_independent() -> None:
    """urban_potential: the counter-based draws do not depend on the thread count."""
    rng = np.random.default_rng(2)
    shape = (211, 89)
    suit = rng.random(shape).astype(np.float32)
    neigh = rng.random(shape).astype(np.float32)
    cand = (rng.random(shape) < 0.5).astype(np.uint8)
    key = np.uint64(kernels.stream_key(3, 1, 2030))

    def run() -> np.ndarray:
        out = np.empty(shape, np.float32)
        kernels.urban_potential(suit, neigh, cand, 0.02, 0.7, key, out)
        return out

    assert_all_equal(on_each_thread_count(run))


@pytest.mark.parametrize("shape", [(1000, 3), (100, 37), (57, 211)])
def test_select_top_thread_independent(shape: tuple[int, int]) -> None:
    """select_top: same indices for any thread count, ties at the threshold included."""
    rng = np.random.default_rng(shape[0])
    p = (rng.integers(0, 20, size=shape) / 19).astype(np.float32)
    p[rng.random(shape) < 0.25] = -1.0
    available = int((p >= 0).sum())
    for n in (1, available // 7, available // 2, available):

        def run(n: int = n) -> np.ndarray:
            out = np.empty(n, np.int64)
            kernels.select_top(p, n, out)
            return out

        assert_all_equal(on_each_thread_count(run))


def test_simulate_thread_independent() -> None:
    """A short simulate run: identical maps, counts and records on 1 and 2 threads."""
    shape = (120, 90)
    lu = landuse(shape, seed=5)
    rng = np.random.default_rng(6)
    suit = rng.random(shape).astype(np.float32)
    cand = ((lu != 255) & (lu != 1) & (rng.random(shape) < 0.8)).astype(np.uint8)
    layer = rng.random(shape) < 0.5
    start = int((lu == 1).sum())
    demand = {2020: start, 2021: start + 300, 2022: start + 700, 2023: start + 701}
    params = GrowthParameters(urban_code=1, weights=WEIGHTS, radius=2, alpha=0.8, seed=9)
    years = sorted(demand)

    def run() -> tuple[np.ndarray, ...]:
        res = simulate(lu, suit, cand, demand, params, years, layers={"zone": layer})
        return (
            np.stack([res.maps[y] for y in years]),
            np.stack([res.class_counts[y] for y in years]),
            np.stack([r.from_class for r in res.records]),
            np.array([r.inside["zone"] for r in res.records]),
        )

    results = on_each_thread_count(run)
    for r in results[1:]:
        for a, b in zip(r, results[0], strict=True):
            assert_array_equal(a, b)
