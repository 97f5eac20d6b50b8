"""The engine's incremental year (``row_sums``, ``update_row_sums``, ``select_urban``)
against the slow numpy oracles of ``kernels/reference.py``, bit for bit, on every path
``select_urban`` can take: the plain one, the pruned one, a sample that set its level
too high (retries), and chunks that overflow their room (a second pass)."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from landsim import kernels
from landsim.kernels import neighborhood as knb
from landsim.kernels import reference
from landsim.kernels import step as kstep

MAX_THREADS = numba.config.NUMBA_NUM_THREADS

# Keyword settings of select_urban that force each of its paths on small grids.
PATHS = {
    "plain": {},
    "pruned": {"min_cells": 0, "stride": 3},
    "sparse sample": {"min_cells": 0, "stride": 11},
    "level too high": {"min_cells": 0, "stride": 2, "z": -40.0},
    "chunks overflow": {"min_cells": 0, "stride": 3, "room": 0.0},
    "some chunks overflow": {"min_cells": 0, "stride": 3, "room": 0.02},
    "listed": {"list_share": 1, "cells": "listed"},
}


def weights(seed: int = 0) -> np.ndarray:
    """Urban 1 plus non-dyadic weights, so sums round and their order matters."""
    w = np.zeros(256, np.float32)
    w[1] = 1.0
    w[3] = 0.3
    w[5] = np.float32(0.1 + 0.01 * seed)
    return w


def world(shape: tuple[int, int], seed: int) -> dict:
    rng = np.random.default_rng(seed)
    lu = rng.choice(np.array([0, 1, 1, 2, 3, 5, 255], np.uint8), size=shape)
    suit = rng.random(shape).astype(np.float32)
    suit[rng.random(shape) < 0.1] = 0.0
    cand = ((lu != 1) & (lu != 255) & (rng.random(shape) < 0.9)).astype(np.uint8)
    return {"lu": lu, "suit": suit, "cand": cand}


def n_values(available: int) -> list[int]:
    vals = (1, 2, 7, available // 100, available // 10, available)
    return sorted({v for v in vals if 1 <= v <= available})


def select(lu, w, r, suit, cand, floor, alpha, key, n, **path) -> np.ndarray:
    work = np.empty(lu.shape, np.float32)
    knb.row_sums(lu, w, r, work)
    out = np.full(n, -7, np.int64)
    if path.get("cells") == "listed":
        path = {**path, "cells": np.flatnonzero(cand)}
    kstep.select_urban(lu, w, r, work, suit, cand, floor, alpha, key, n, out, **path)
    return out


def oracle_potential(lu, w, r, suit, cand, floor, alpha, key) -> np.ndarray:
    neigh = reference.neighborhood_effect(lu, w, r)
    return reference.urban_potential(suit, neigh, cand, floor, alpha, key)


# --- row sums --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (3, 5), (17, 23), (64, 41)])
@pytest.mark.parametrize("radius", [1, 2, 4])
def test_row_sums_match_reference(shape: tuple[int, int], radius: int) -> None:
    """Row sums equal the oracle's one-by-one float32 sums and neighborhood_effect's own
    row pass (its ``work`` array), bit for bit, edges and nodata included."""
    lu = world(shape, seed=shape[0] * 7 + radius)["lu"]
    w = weights()
    got = np.full(shape, np.nan, np.float32)
    knb.row_sums(lu, w, radius, got)
    assert_array_equal(got.view(np.uint32), reference.row_sums(lu, w, radius).view(np.uint32))
    work, out = np.empty(shape, np.float32), np.empty(shape, np.float32)
    kernels.neighborhood_effect(lu, w, radius, work, out)
    assert_array_equal(got.view(np.uint32), work.view(np.uint32))


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (6, 3), (37, 29), (130, 70)])
@pytest.mark.parametrize("radius", [1, 2, 3])
def test_update_row_sums_equals_a_fresh_pass(shape: tuple[int, int], radius: int) -> None:
    """After converting cells, updating the sums around them gives the sums of the new
    map: scattered cells, runs in one row, whole rows, edges, and more cells than chunks."""
    rng = np.random.default_rng(shape[0] * 100 + shape[1] + radius)
    w = weights(radius)
    ny, nx = shape
    for trial in range(6):
        lu = world(shape, seed=trial)["lu"]
        work = np.empty(shape, np.float32)
        knb.row_sums(lu, w, radius, work)
        if trial == 0:
            cells = np.arange(lu.size)  # every cell
        elif trial == 1:
            cells = np.arange(nx) + (ny // 2) * nx  # one whole row
        elif trial == 2:
            edges = [0, nx - 1, (ny - 1) * nx, lu.size - 1]
            cells = np.unique(edges)
        else:
            k = int(rng.integers(0, lu.size + 1))
            cells = np.unique(rng.integers(0, lu.size, size=k))
        cells = cells.astype(np.int64)
        lu.reshape(-1)[cells] = 1
        knb.update_row_sums(lu, w, radius, cells, work)
        assert_array_equal(work.view(np.uint32), reference.row_sums(lu, w, radius).view(np.uint32))


def test_update_row_sums_with_no_cells_writes_nothing() -> None:
    lu = world((5, 6), seed=1)["lu"]
    work = np.full((5, 6), 3.0, np.float32)
    knb.update_row_sums(lu, weights(), 2, np.empty(0, np.int64), work)
    assert np.all(work == 3.0)


# --- select_urban ----------------------------------------------------------------------


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("shape", [(1, 1), (1, 57), (57, 1), (9, 13), (64, 41), (97, 130)])
def test_select_urban_matches_reference(path: str, shape: tuple[int, int]) -> None:
    """The chosen cells are the oracle's (three steps in a row), for many n."""
    w = world(shape, seed=shape[0] + shape[1])
    key = np.uint64(kernels.stream_key(5, 1, 2030))
    weights_ = weights()
    for alpha, floor in [(0.5, 0.02), (1.0, 0.0), (2.0, 0.3)]:
        potential = oracle_potential(w["lu"], weights_, 2, w["suit"], w["cand"], floor, alpha, key)
        available = int((potential >= 0).sum())
        for n in n_values(available):
            got = select(
                w["lu"], weights_, 2, w["suit"], w["cand"], floor, alpha, key, n, **PATHS[path]
            )
            assert_array_equal(got, reference.select_top(potential, n), err_msg=f"n={n}")


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0, 3.7, 10.0])
@pytest.mark.parametrize("radius", [1, 3])
def test_select_urban_alphas_and_radii(alpha: float, radius: int) -> None:
    """Every exponent the schema allows (0 ≤ alpha ≤ 10: the bound table covers each)."""
    w = world((83, 71), seed=int(alpha * 10) + radius)
    key = np.uint64(kernels.stream_key(2**63 - 1, 3, 2021))
    potential = oracle_potential(w["lu"], weights(), radius, w["suit"], w["cand"], 0.05, alpha, key)
    n = int((potential >= 0).sum()) // 10
    args = (w["lu"], weights(), radius, w["suit"], w["cand"], 0.05, alpha, key, n)
    assert_array_equal(select(*args, **PATHS["pruned"]), reference.select_urban(*args))
    for n in n_values(int((potential >= 0).sum())):
        for path in ("pruned", "level too high", "listed"):
            got = select(
                w["lu"], weights(), radius, w["suit"], w["cand"], 0.05, alpha, key, n, **PATHS[path]
            )
            assert_array_equal(got, reference.select_top(potential, n))


@pytest.mark.parametrize("path", ["pruned", "level too high", "chunks overflow", "listed"])
def test_select_urban_ties(path: str) -> None:
    """Heavy ties at the threshold go to the lower flat index: alpha 0 (no noise) and a
    suitability of a few values, so thousands of cells share each potential."""
    rng = np.random.default_rng(8)
    shape = (120, 90)
    lu = rng.choice(np.array([0, 1], np.uint8), size=shape, p=[0.9, 0.1])
    suit = (rng.integers(0, 4, size=shape) / 4).astype(np.float32)
    cand = (lu == 0).astype(np.uint8)
    w = np.zeros(256, np.float32)
    w[1] = 1.0
    key = np.uint64(kernels.stream_key(0, 0, 2020))
    potential = oracle_potential(lu, w, 1, suit, cand, 0.5, 0.0, key)
    available = int((potential >= 0).sum())
    for n in sorted({*n_values(available), *rng.integers(1, available, size=8).tolist()}):
        got = select(lu, w, 1, suit, cand, 0.5, 0.0, key, n, **PATHS[path])
        assert_array_equal(got, reference.select_top(potential, n))


def three_kernels(lu, w, r, suit, cand, floor, alpha, key, n) -> np.ndarray:
    """The engine's former year: neighborhood_effect, urban_potential, select_top."""
    work, neigh, pot = (np.empty(lu.shape, np.float32) for _ in range(3))
    kernels.neighborhood_effect(lu, w, r, work, neigh)
    kernels.urban_potential(suit, neigh, cand, floor, alpha, key, pot)
    out = np.empty(n, np.int64)
    kernels.select_top(pot, n, out)
    return out


@pytest.mark.parametrize("path", ["pruned", "plain", "level too high", "listed"])
@pytest.mark.parametrize("with_nan", [False, True])
def test_select_urban_odd_suitability(path: str, with_nan: bool) -> None:
    """Suitability 0, -0.0, negative, +inf (and NaN): the same cells as the oracle, and
    as the three kernels, whose select_top ranks a NaN potential by its bits (above
    every finite one; the oracle drops NaN, so with NaN only the kernels are compared)."""
    w = world((60, 50), seed=4)
    suit = w["suit"].copy()
    flat = suit.reshape(-1)
    flat[::97] = -0.0
    flat[5::89] = -0.25
    flat[11::409] = np.inf
    if with_nan:
        flat[7::301] = np.nan
    key = np.uint64(kernels.stream_key(9, 0, 2024))
    args = (w["lu"], weights(), 2, suit, w["cand"], 0.02, 0.5, key)
    potential = oracle_potential(*args)
    for n in n_values(int((potential.view(np.uint32) < 0x80000000).sum())):
        got = select(*args, n, **PATHS[path])
        assert_array_equal(got, three_kernels(*args, n))
        if not with_nan:
            assert_array_equal(got, reference.select_top(potential, n))


def test_select_urban_large_grid_default_path() -> None:
    """A grid above the plain-path size with the default settings: pruned, same cells as
    the numba three-kernel path (the oracle would take minutes here)."""
    rng = np.random.default_rng(21)
    shape = (300, 280)
    lu = rng.choice(np.array([0, 1, 3], np.uint8), size=shape, p=[0.7, 0.2, 0.1])
    suit = rng.random(shape).astype(np.float32)
    cand = (lu != 1).astype(np.uint8)
    w = weights()
    key = np.uint64(kernels.stream_key(1, 0, 2031))
    assert lu.size >= kstep._MIN_CELLS
    for n in (1, 840, 8400, int(cand.sum())):
        args = (lu, w, 2, suit, cand, 0.02, 0.5, key, n)
        assert_array_equal(select(*args), three_kernels(*args))


def test_select_urban_bool_candidate_and_inputs_untouched() -> None:
    """A bool candidate mask works like uint8; no input is written."""
    w = world((40, 33), seed=2)
    key = np.uint64(kernels.stream_key(4, 0, 2022))
    work = np.empty((40, 33), np.float32)
    knb.row_sums(w["lu"], weights(), 2, work)
    before = {k: v.copy() for k, v in w.items()}
    work0 = work.copy()
    expected = select(w["lu"], weights(), 2, w["suit"], w["cand"], 0.02, 0.5, key, 30)
    out = np.empty(30, np.int64)
    kstep.select_urban(
        w["lu"],
        weights(),
        2,
        work,
        w["suit"],
        w["cand"].astype(bool),
        0.02,
        0.5,
        key,
        30,
        out,
        **PATHS["pruned"],
    )
    assert_array_equal(out, expected)
    for k, v in w.items():
        assert_array_equal(v, before[k])
    assert_array_equal(work, work0)


def test_noise_table_bounds_every_draw_of_its_bin() -> None:
    """Each bin's bound is at least the perturbation of its lowest and highest draws
    and of random draws in it (the bound the pruning relies on)."""
    rng = np.random.default_rng(0)
    m = rng.integers(0, 2**53, size=20_000, dtype=np.uint64)
    m = np.concatenate([m, np.arange(200, dtype=np.uint64), 2 ** np.arange(53, dtype=np.uint64)])
    m = np.concatenate([m, m[m > 0] - 1, np.array([2**53 - 1], np.uint64)])
    for alpha in (0.0, 0.5, 1.0, 0.3, 10.0):
        table = kstep.noise_table(alpha)
        bins = np.array([kstep._bin(np.uint64(x)) for x in m])
        assert bins.min() >= 0 and bins.max() < table.size
        u = (m.astype(np.float64) + 0.5) * 2.0**-53
        g = np.array([reference._perturbation(float(x), alpha) for x in u])
        assert np.all(g <= table[bins])


@pytest.mark.skipif(MAX_THREADS < 2, reason="numba has a single thread here")
def test_same_result_on_one_and_two_threads() -> None:
    """update_row_sums and select_urban (pruned path) give the same bits on 1 and 2 threads."""
    w = world((150, 140), seed=12)
    key = np.uint64(kernels.stream_key(3, 0, 2026))
    cells = np.unique(np.random.default_rng(1).integers(0, w["lu"].size, 900)).astype(np.int64)
    results = []
    before = numba.get_num_threads()
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            lu = w["lu"].copy()
            work = np.empty(lu.shape, np.float32)
            knb.row_sums(lu, weights(), 2, work)
            lu.reshape(-1)[cells] = 1
            knb.update_row_sums(lu, weights(), 2, cells, work)
            out = np.empty(500, np.int64)
            kstep.select_urban(
                lu,
                weights(),
                2,
                work,
                w["suit"],
                w["cand"],
                0.02,
                0.5,
                key,
                500,
                out,
                **PATHS["pruned"],
            )
            results.append((work.copy(), out))
    finally:
        numba.set_num_threads(before)
    assert_array_equal(results[0][0].view(np.uint32), results[1][0].view(np.uint32))
    assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("path", ["pruned", "listed"])
@pytest.mark.parametrize("floor", [0.02, 1.5])
def test_select_urban_negative_weight_or_floor_above_one(path: str, floor: float) -> None:
    """A negative class weight, or a floor above 1 (keep < 0), void the neighbourhood's
    upper bound that sweep 1 uses; the exact sweep gives the oracle's cells."""
    w = world((90, 77), seed=5)
    wts = weights()
    if floor < 1:
        wts[3] = -0.4
    key = np.uint64(kernels.stream_key(6, 0, 2027))
    args = (w["lu"], wts, 2, w["suit"], w["cand"], floor, 0.5, key)
    potential = oracle_potential(*args)
    for n in n_values(int((potential.view(np.uint32) < 0x80000000).sum())):
        got = select(*args, n, **PATHS[path])
        assert_array_equal(got, three_kernels(*args, n))
        assert_array_equal(got, reference.select_top(potential, n))


@pytest.mark.parametrize("path", ["plain", "pruned", "listed"])
def test_select_urban_too_few_candidates_raises(path: str) -> None:
    """More cells asked than have a potential >= 0: ValueError, as from select_top."""
    w = world((70, 60), seed=9)
    suit = w["suit"].copy()
    suit[w["cand"] == 1] = -1.0  # every candidate's potential < 0
    suit.reshape(-1)[np.flatnonzero(w["cand"])[:5]] = 0.5
    key = np.uint64(kernels.stream_key(0, 0, 2020))
    with pytest.raises(ValueError, match="fewer candidate cells than n"):
        select(w["lu"], weights(), 2, suit, w["cand"], 0.02, 0.5, key, 6, **PATHS[path])
    assert (
        select(w["lu"], weights(), 2, suit, w["cand"], 0.02, 0.5, key, 5, **PATHS[path]).size == 5
    )
