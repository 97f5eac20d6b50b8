"""``kernels.select_top`` (radix-histogram selection) against ``reference.select_top``."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from landsim import kernels
from landsim.kernels import reference


def run_kernel(potential: np.ndarray, n: int) -> np.ndarray:
    """The kernel's selection, in a fresh out array filled with a sentinel."""
    out = np.full(n, -7, dtype=np.int64)
    kernels.select_top(potential, n, out)
    return out


def check(potential: np.ndarray, n: int) -> np.ndarray:
    """Kernel == oracle; output ascending, unique, on candidates only; the n best taken."""
    got = run_kernel(potential, n)
    assert_array_equal(got, reference.select_top(potential, n))
    assert got.shape == (n,)
    assert np.all(np.diff(got) > 0)  # ascending and unique
    flat = potential.ravel()
    assert np.all(flat[got] >= 0)
    if n > 0:
        rest = np.setdiff1d(np.flatnonzero(flat >= 0), got)
        if rest.size:
            # Nothing left behind beats what was taken; a left-behind tie has a higher index.
            worst = flat[got].min()
            assert flat[rest].max() <= worst
            tied_out = rest[flat[rest] == worst]
            tied_in = got[flat[got] == worst]
            if tied_out.size:
                assert tied_in.max() < tied_out.min()
    return got


def random_potential(shape: tuple[int, int], seed: int, cand_share: float = 0.7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.random(shape).astype(np.float32) * 3
    p[rng.random(shape) >= cand_share] = -1.0
    return p


def n_values(available: int) -> list[int]:
    ns = {0, 1, 2, available // 3, available // 2, available - 1, available}
    return sorted(n for n in ns if 0 <= n <= available)


@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (10, 1), (7, 9), (33, 40), (100, 37)])
def test_random_potentials(shape: tuple[int, int]) -> None:
    """Random distinct potentials, n from 0 to every candidate."""
    p = random_potential(shape, seed=shape[0] * 1000 + shape[1])
    available = int((p >= 0).sum())
    for n in n_values(available):
        check(p, n)


@pytest.mark.parametrize("shape", [(5, 5), (40, 40), (100, 37), (1000, 3), (3, 1000), (9, 1)])
def test_many_exact_ties(shape: tuple[int, int]) -> None:
    """Potentials from 3 values: ties go to the lower flat index, across chunk boundaries."""
    rng = np.random.default_rng(shape[0] + 7 * shape[1])
    p = rng.choice(np.array([0.25, 0.5, 0.75], np.float32), size=shape)
    p[rng.random(shape) < 0.2] = -1.0
    available = int((p >= 0).sum())
    counts = [int((p == v).sum()) for v in (0.75, 0.5, 0.25)]
    # n just inside, at and just past each tie block, plus the usual ones.
    edges = np.cumsum(counts)
    ns = set(n_values(available))
    for e in edges:
        ns |= {int(e) - 1, int(e), int(e) + 1}
    for n in sorted(x for x in ns if 0 <= x <= available):
        check(p, n)


def test_all_equal_potentials_take_the_first_cells() -> None:
    """All candidates tied: the n lowest flat indices of the candidates are chosen."""
    p = np.full((100, 37), 0.5, np.float32)
    p[::3, ::2] = -1.0
    cands = np.flatnonzero(p.ravel() >= 0)
    for n in (1, 17, 125, 1234, cands.size):
        assert_array_equal(check(p, n), cands[:n])


def test_n_zero_writes_nothing() -> None:
    """n = 0 returns at once and leaves an output buffer untouched."""
    p = random_potential((10, 10), seed=1)
    out = np.full(3, -7, dtype=np.int64)
    kernels.select_top(p, 0, out)
    assert_array_equal(out, [-7, -7, -7])
    assert check(p, 0).size == 0


def test_zero_potential_candidates_are_selectable() -> None:
    """Candidates of potential exactly 0.0 are taken (after positives); -1 never is."""
    p = np.array([[-1.0, 0.0, 0.3], [0.0, -1.0, 0.0]], np.float32)
    assert_array_equal(check(p, 1), [2])
    assert_array_equal(check(p, 2), [1, 2])
    assert_array_equal(check(p, 4), [1, 2, 3, 5])
    zeros = np.zeros((50, 20), np.float32)
    zeros[::7] = -1.0
    for n in (1, 10, 500, int((zeros >= 0).sum())):
        check(zeros, n)


def test_selection_by_value_hand_worked() -> None:
    """A hand-worked 3×3: the 3 best of {0.9, 0.1, 0.5, 0.5, -1, 0.7, …} by value then index."""
    p = np.array([[0.9, 0.1, 0.5], [0.5, -1.0, 0.7], [0.2, 0.5, -1.0]], np.float32)
    assert_array_equal(check(p, 3), [0, 2, 5])  # 0.9, 0.7, then the first 0.5
    assert_array_equal(check(p, 5), [0, 2, 3, 5, 7])
    assert_array_equal(check(p, 7), [0, 1, 2, 3, 5, 6, 7])


@pytest.mark.parametrize("shape", [(100, 37), (1000, 3), (31, 31)])
def test_values_one_ulp_apart(shape: tuple[int, int]) -> None:
    """Potentials a few ulps apart (same high 16 bits) are ranked exactly."""
    rng = np.random.default_rng(shape[0])
    base = np.float32(0.6180339)
    ladder = [base]
    for _ in range(6):
        ladder.append(np.nextafter(ladder[-1], np.float32(np.inf)))
    p = rng.choice(np.array(ladder, np.float32), size=shape)
    p[rng.random(shape) < 0.1] = -1.0
    available = int((p >= 0).sum())
    for n in [*n_values(available), int((p == ladder[-1]).sum())]:
        check(p, n)


def test_threshold_bin_split_between_high_and_low_bits() -> None:
    """Values straddling a high-16-bit bin boundary, and subnormals, rank exactly."""
    edge = np.uint32(0x3F200000).view(np.float32)  # lowest value of a high-16-bit bin
    below = np.nextafter(edge, np.float32(0))  # top of the bin below
    vals = np.array(
        [edge, below, np.nextafter(edge, np.float32(1)), np.float32(1e-45), np.float32(0)],
        np.float32,
    )
    rng = np.random.default_rng(11)
    p = rng.choice(vals, size=(300, 7))
    p[rng.random(p.shape) < 0.1] = -1.0
    for n in n_values(int((p >= 0).sum())):
        check(p, n)


def test_large_and_infinite_potentials() -> None:
    """Very large finite values and +inf rank above everything else."""
    p = np.array([[1.0, np.inf, 3e38, 0.0, -1.0, 2.0]], np.float32)
    assert_array_equal(check(p, 2), [1, 2])
    check(p, 5)


@pytest.mark.parametrize("shape", [(100, 37), (1000, 3), (257, 5), (64, 64)])
def test_large_grids_random_with_ties(shape: tuple[int, int]) -> None:
    """Bigger grids, where rows split into several chunks, with ties at the threshold."""
    rng = np.random.default_rng(shape[0] * shape[1])
    p = (rng.integers(0, 50, size=shape) / 49).astype(np.float32)
    p[rng.random(shape) < 0.3] = -1.0
    available = int((p >= 0).sum())
    for n in sorted({*n_values(available), *rng.integers(1, available, size=10).tolist()}):
        check(p, n)


def test_too_few_candidates_raises() -> None:
    """Asking for more cells than there are candidates is an error, not garbage."""
    p = np.array([[0.5, -1.0], [-1.0, 0.2]], np.float32)
    with pytest.raises(ValueError):
        run_kernel(p, 3)


def test_potential_not_modified() -> None:
    """Only ``out`` is written."""
    p = random_potential((20, 20), seed=3)
    p0 = p.copy()
    check(p, 50)
    assert_array_equal(p, p0)


def test_negative_zero_is_a_candidate() -> None:
    """-0.0 is a potential >= 0 (IEEE: -0.0 == 0.0), so it takes part like +0.0.

    The docstring says "Only cells with potential >= 0 take part" and the oracle agrees,
    but the kernel tests the sign bit (``k < 0x80000000``), which drops -0.0.
    """
    p = np.array([[0.5, -0.0, 0.0, 0.2]], np.float32)
    assert_array_equal(reference.select_top(p, 3), [0, 1, 3])
    assert_array_equal(run_kernel(p, 3), [0, 1, 3])
