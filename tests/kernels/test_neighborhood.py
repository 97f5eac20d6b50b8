"""``kernels.neighborhood_effect`` against ``reference.neighborhood_effect`` and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from landsim import kernels
from landsim.kernels import reference

NODATA = 255
URBAN = 1

SHAPES = [(1, 1), (1, 7), (7, 1), (2, 2), (3, 3), (4, 9), (13, 5), (20, 31)]
RADII = [1, 2, 3, 4]


def weights(**by_code: float) -> np.ndarray:
    """A float32[256] lookup table; keys are 'c<code>' (``c1=1.0``); nodata weighs 0."""
    w = np.zeros(256, dtype=np.float32)
    for key, value in by_code.items():
        w[int(key[1:])] = value
    assert w[NODATA] == 0
    return w


MULTI = weights(c1=1.0, c2=0.5, c3=0.25, c5=0.8)


def run_kernel(landuse: np.ndarray, w: np.ndarray, radius: int) -> np.ndarray:
    """Call the kernel with fresh, garbage-filled work and out arrays."""
    work = np.full(landuse.shape, np.nan, dtype=np.float32)
    out = np.full(landuse.shape, np.nan, dtype=np.float32)
    kernels.neighborhood_effect(landuse, w, radius, work, out)
    return out


def random_map(shape: tuple[int, int], seed: int, nodata_share: float = 0.15) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lu = rng.integers(0, 6, size=shape).astype(np.uint8)
    lu[rng.random(shape) < nodata_share] = NODATA
    return lu


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("radius", RADII)
def test_matches_reference_on_random_maps(shape: tuple[int, int], radius: int) -> None:
    """Random class maps with nodata: kernel equals the shifted-copy oracle."""
    for seed in range(3):
        lu = random_map(shape, seed=1000 * shape[0] + 10 * shape[1] + radius + seed)
        out = run_kernel(lu, MULTI, radius)
        assert out.dtype == np.float32
        assert_allclose(out, reference.neighborhood_effect(lu, MULTI, radius), rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (3, 1), (2, 3), (4, 4)])
@pytest.mark.parametrize("radius", [3, 5, 10])
def test_radius_larger_than_grid(shape: tuple[int, int], radius: int) -> None:
    """A window wider than the grid sees every other cell, over the full fixed divisor."""
    lu = random_map(shape, seed=radius, nodata_share=0.2)
    out = run_kernel(lu, MULTI, radius)
    assert_allclose(out, reference.neighborhood_effect(lu, MULTI, radius), rtol=1e-5)
    # Every cell is in every window: the effect is (grid total − own weight) / divisor.
    w = MULTI[lu].astype(np.float64)
    expected = (w.sum() - w) / ((2 * radius + 1) ** 2 - 1)
    assert_allclose(out, expected, rtol=1e-5, atol=1e-7)


def test_single_cell_has_no_neighbours() -> None:
    """A 1×1 grid has no neighbours: the effect is 0 whatever its own class."""
    for code in (0, 1, 2, NODATA):
        lu = np.array([[code]], dtype=np.uint8)
        for radius in RADII:
            assert run_kernel(lu, MULTI, radius)[0, 0] == 0.0


def test_centre_urban_3x3_radius_1() -> None:
    """Only the centre urban: each of its 8 neighbours sees 1/8, the centre itself 0."""
    lu = np.zeros((3, 3), dtype=np.uint8)
    lu[1, 1] = URBAN
    expected = np.full((3, 3), 1 / 8)
    expected[1, 1] = 0.0
    assert_allclose(run_kernel(lu, weights(c1=1.0), 1), expected, rtol=1e-5)


def test_centre_urban_3x3_radius_2() -> None:
    """Radius 2 keeps its divisor of 24 even where the window leaves the grid."""
    lu = np.zeros((3, 3), dtype=np.uint8)
    lu[1, 1] = URBAN
    expected = np.full((3, 3), 1 / 24)
    expected[1, 1] = 0.0
    assert_allclose(run_kernel(lu, weights(c1=1.0), 2), expected, rtol=1e-5)


def test_corner_urban_3x3_edges() -> None:
    """Urban in the top-left corner reaches only its 3 in-grid neighbours at radius 1."""
    lu = np.zeros((3, 3), dtype=np.uint8)
    lu[0, 0] = URBAN
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[1, 0] = expected[1, 1] = 1 / 8
    assert_allclose(run_kernel(lu, weights(c1=1.0), 1), expected, rtol=1e-5, atol=0)


def test_all_urban_3x3_edges_are_thinner() -> None:
    """All urban: corner 3/8, edge 5/8, centre 8/8 — cells beyond the edge weigh 0."""
    lu = np.full((3, 3), URBAN, dtype=np.uint8)
    expected = np.array([[3, 5, 3], [5, 8, 5], [3, 5, 3]]) / 8
    assert_allclose(run_kernel(lu, weights(c1=1.0), 1), expected, rtol=1e-5)


def test_weighted_classes_hand_worked() -> None:
    """Several weighted classes add up: weights 1, 0.5 and nodata 0 around the centre."""
    lu = np.array([[1, 2, NODATA], [2, 0, 1], [NODATA, 1, 3]], dtype=np.uint8)
    w = weights(c1=1.0, c2=0.5, c3=0.25)
    out = run_kernel(lu, w, 1)
    # Centre: 1 + 0.5 + 0 + 0.5 + 1 + 0 + 1 + 0.25 = 4.25 over 8.
    assert out[1, 1] == pytest.approx(4.25 / 8, rel=1e-6)
    # Corner (0, 0): neighbours (0,1)=2, (1,0)=2, (1,1)=0 → 1.0 over 8.
    assert out[0, 0] == pytest.approx(1.0 / 8, rel=1e-6)
    assert_allclose(out, reference.neighborhood_effect(lu, w, 1), rtol=1e-5)


def test_nodata_weighs_nothing() -> None:
    """A map of nodata only gives 0 everywhere, and nodata cells still get a value."""
    lu = np.full((4, 5), NODATA, dtype=np.uint8)
    assert np.all(run_kernel(lu, MULTI, 2) == 0.0)
    lu[2, 2] = URBAN
    out = run_kernel(lu, MULTI, 1)
    assert out[1, 1] == pytest.approx(1 / 8)  # a nodata cell next to urban


def test_row_and_column_vectors() -> None:
    """1×n and n×1 grids: only the in-line neighbours count, divisor unchanged."""
    row = np.array([[1, 0, 1, 1, 0]], dtype=np.uint8)
    w = weights(c1=1.0)
    expected = np.array([[0, 2, 1, 1, 1]]) / 8
    assert_allclose(run_kernel(row, w, 1), expected, rtol=1e-5, atol=0)
    assert_allclose(run_kernel(row.T.copy(), w, 1), expected.T, rtol=1e-5, atol=0)


def test_inputs_not_modified() -> None:
    """The kernel writes only ``work`` and ``out``: landuse and weights are untouched."""
    lu = random_map((9, 11), seed=5)
    lu0, w0 = lu.copy(), MULTI.copy()
    run_kernel(lu, MULTI, 2)
    np.testing.assert_array_equal(lu, lu0)
    np.testing.assert_array_equal(MULTI, w0)
