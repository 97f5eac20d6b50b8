"""``kernels.multiclass`` against the slow oracles in ``kernels.reference``, and by hand.

The kernels must equal the oracles bit for bit on small random grids (hypothesis draws
the sizes, the number of classes, the radius and a numpy seed from which every array is
built, so a failing example is reproducible from what it prints). Then: the roulette's
statistics, patch seeding, the conversion matrix, FLUS's adaptive coefficient by hand,
the yearly flow plan (``model.multiclass.plan_flows``) against a max-flow by
``scipy.optimize.linprog``, and thread independence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from landsim.kernels import multiclass as mk
from landsim.kernels import reference
from landsim.kernels.random import stream_key
from landsim.model.multiclass import (
    ClassDemandArrays,
    MulticlassParameters,
    MulticlassPeriod,
    capacities,
    counts_dtype,
    plan_flows,
    simulate_multiclass,
)

NONE = mk.NONE
RULE_BITS = (0, mk.MAY_BECOME_URBAN, mk.MAY_BECOME_CONSTRUCTION)
MAX_THREADS = numba.config.NUMBA_NUM_THREADS


# --------------------------------------------------------------------------- problems


@dataclass
class Problem:
    """One small random grid with everything the roulette reads."""

    cls: np.ndarray  # uint8 class index, NONE off the land
    dist: np.ndarray  # uint16 district index
    done: np.ndarray  # uint8
    counts: np.ndarray  # counts_dtype(radius) [K, ny, nx], consistent with cls
    suit: np.ndarray  # float32 [K, ny, nx], zeros included
    weights: np.ndarray  # float32 [K], already / ((2r+1)² − 1)
    conv: np.ndarray  # float32 [K, K]: allowed × (1 − cost), 1 on the diagonal
    adapt: np.ndarray  # float32 [n_d, K]: D[d, k]
    allowed: np.ndarray  # bool [K, K], diagonal False
    need_bits: np.ndarray  # uint8 [K]
    source: np.ndarray  # uint8 [K]
    cell_rules: np.ndarray  # uint8
    seed_share: float
    key: np.uint64
    radius: int
    n_d: int

    @property
    def n_classes(self) -> int:
        return self.suit.shape[0]

    @property
    def base(self) -> np.ndarray:
        """suit × conv where the rules allow, by the oracle (the kernel is tested apart)."""
        return reference.base_potentials(
            self.cls, self.suit, self.conv, self.need_bits, self.cell_rules
        )

    @property
    def roulette(self) -> tuple[Any, ...]:
        """The arguments shared by ``propose_all`` / ``propose_cells`` and the oracle."""
        return (
            self.cls, self.dist, self.done, self.counts, self.base, self.weights, self.adapt,
            self.source, self.cell_rules, self.seed_share, self.key,
        )  # fmt: skip

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        return reference.propose(*self.roulette)

    def seed_draw(self, p: int) -> np.float32:
        return np.float32(reference.uniform(self.key, np.array([2 * p + 1]))[0])


def make_problem(
    shape: tuple[int, int], n_classes: int, radius: int, n_d: int, seed: int, key: int
) -> Problem:
    rng = np.random.default_rng(seed)
    ny, nx = shape
    cls = rng.integers(0, n_classes, size=shape).astype(np.uint8)
    cls[rng.random(shape) < 0.15] = NONE
    # Some maps in patches, so that classes are absent from some windows (seeds).
    if rng.random() < 0.5:
        cls[: ny // 2] = np.where(cls[: ny // 2] == NONE, NONE, rng.integers(0, n_classes))
    dist = rng.integers(0, n_d, size=shape).astype(np.uint16)
    done = (rng.random(shape) < 0.2).astype(np.uint8)
    counts = reference.class_neighbor_counts(cls, n_classes, radius).astype(counts_dtype(radius))
    suit = rng.random((n_classes, ny, nx)).astype(np.float32)
    suit[rng.random(suit.shape) < 0.2] = 0.0
    suit[rng.random(suit.shape) < 0.05] = 1.0
    raw_w = rng.random(n_classes)
    raw_w[rng.random(n_classes) < 0.2] = 0.0
    weights = (raw_w * (1.0 / ((2 * radius + 1) ** 2 - 1))).astype(np.float32)
    allowed = rng.random((n_classes, n_classes)) < 0.7
    np.fill_diagonal(allowed, False)
    cost = rng.choice(np.array([0.0, 0.0, 0.5, 0.9, 1.0], np.float32), size=allowed.shape)
    conv = np.where(allowed, 1.0 - cost, 0.0)
    np.fill_diagonal(conv, 1.0)
    conv = conv.astype(np.float32)
    adapt = np.exp(rng.uniform(-2.0, 2.0, size=(n_d, n_classes))).astype(np.float32)
    adapt[rng.random(adapt.shape) < 0.2] = 1.0
    need_bits = rng.choice(np.array(RULE_BITS, np.uint8), size=n_classes)
    source = (rng.random(n_classes) < 0.8).astype(np.uint8)
    cell_rules = rng.integers(0, 8, size=shape).astype(np.uint8)
    cell_rules[rng.random(shape) < 0.5] |= mk.MAY_CHANGE
    seed_share = float(rng.choice([0.0, 0.1, 0.5, 1.0, rng.random()]))
    return Problem(
        cls, dist, done, counts, suit, weights, conv, adapt, allowed, need_bits,
        source, cell_rules, seed_share, np.uint64(key), radius, n_d,
    )  # fmt: skip


@st.composite
def problems(draw: st.DrawFn, max_ny: int = 12, max_nx: int = 15) -> Problem:
    shape = (draw(st.integers(1, max_ny)), draw(st.integers(1, max_nx)))
    n_classes = draw(st.integers(2, 7))
    radius = draw(st.integers(1, 3))
    n_d = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    key = draw(st.integers(0, 2**64 - 1))
    note(f"shape={shape} K={n_classes} radius={radius} n_d={n_d} seed={seed} key={key}")
    return make_problem(shape, n_classes, radius, n_d, seed, key)


def garbage(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An output buffer full of values no kernel writes."""
    return np.full(shape, 77 if np.dtype(dtype).kind == "u" else np.nan, dtype=dtype)


def run_propose_all(
    pb: Problem, plan: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``propose_all`` (by default with every pair open in the plan): prop, score and
    each row's listed columns."""
    if plan is None:
        plan = np.ones((pb.n_d, pb.n_classes, pb.n_classes), np.int64)
    ny, nx = pb.cls.shape
    prop = garbage(pb.cls.shape, np.uint8)
    score = garbage(pb.cls.shape, np.float32)
    row_cells = np.full((ny, nx), -5, np.int32)
    row_count = np.full(ny, -5, np.int64)
    mk.propose_all(*pb.roulette, plan, prop, score, row_cells, row_count)
    return prop, score, [row_cells[i, : row_count[i]] for i in range(ny)]


def run_propose_cells(pb: Problem, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prop = garbage(pb.cls.shape, np.uint8)
    score = garbage(pb.cls.shape, np.float32)
    mk.propose_cells(cells, *pb.roulette, prop, score)
    return prop, score


def forced_eligible(pb: Problem, k: int, plan: np.ndarray) -> np.ndarray:
    """The cells that may still give a cell to k: bool map, by a plain reading."""
    ny, nx = pb.cls.shape
    out = np.zeros((ny, nx), dtype=bool)
    bits = int(pb.need_bits[k])
    for i in range(ny):
        for j in range(nx):
            c, d, rules = int(pb.cls[i, j]), int(pb.dist[i, j]), int(pb.cell_rules[i, j])
            out[i, j] = (
                c not in (NONE, k)
                and not pb.done[i, j]
                and pb.conv[c, k] > 0
                and bool(rules & mk.MAY_CHANGE)
                and (rules & bits) == bits
                and plan[d, c, k] > 0
            )
    return out


def run_forced(pb: Problem, k: int, plan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prop = garbage(pb.cls.shape, np.uint8)
    score = garbage(pb.cls.shape, np.float32)
    mk.forced_scores(
        k, pb.cls, pb.dist, pb.done, pb.counts, pb.base, pb.weights, pb.adapt, pb.conv,
        pb.need_bits, pb.cell_rules, pb.seed_share, pb.key, plan, prop, score,
    )  # fmt: skip
    return prop, score


def random_plan(rng: np.random.Generator, n_d: int, n_k: int) -> np.ndarray:
    plan = rng.integers(0, 3, size=(n_d, n_k, n_k)).astype(np.int64)
    plan[rng.random(plan.shape) < 0.3] = 0
    return plan


# --------------------------------------------------------------------------- constants


def test_reference_constants_are_the_kernels() -> None:
    """The oracle restates the kernels' constants; they must agree."""
    assert reference.NONE == mk.NONE
    assert reference.MAY_CHANGE == mk.MAY_CHANGE
    assert reference.ADAPT_MIN == mk.ADAPT_MIN
    assert reference.ADAPT_MAX == mk.ADAPT_MAX


# --------------------------------------------------------------------------- neighbour counts


@settings(max_examples=100, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 12), st.integers(1, 15)),
    n_classes=st.integers(2, 7),
    radius=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_class_neighbor_counts_matches_reference(
    shape: tuple[int, int], n_classes: int, radius: int, seed: int
) -> None:
    """Counts per class equal a plain loop over every window, nodata and edges included."""
    rng = np.random.default_rng(seed)
    cls = rng.integers(0, n_classes, size=shape).astype(np.uint8)
    cls[rng.random(shape) < 0.2] = NONE
    out = np.full((n_classes, *shape), 99, dtype=counts_dtype(radius))
    work = np.full((n_classes, *shape), 12345, dtype=np.uint16)
    mk.class_neighbor_counts(cls, radius, work, out)
    assert_array_equal(out, reference.class_neighbor_counts(cls, n_classes, radius))


def test_class_neighbor_counts_by_hand() -> None:
    """3×3 of class 0 with a class-1 centre and a nodata corner, radius 1."""
    cls = np.array([[0, 0, NONE], [0, 1, 0], [0, 0, 0]], dtype=np.uint8)
    out = np.zeros((2, 3, 3), dtype=np.uint8)
    mk.class_neighbor_counts(cls, 1, np.zeros((2, 3, 3), np.uint16), out)
    assert_array_equal(out[0], [[2, 3, 2], [4, 7, 3], [2, 4, 2]])
    assert_array_equal(out[1], [[1, 1, 1], [1, 0, 1], [1, 1, 1]])


def test_class_neighbor_counts_large_radius_uint16() -> None:
    """Radius 8 (288 neighbours) needs uint16 counts; a window wider than the grid."""
    cls = np.zeros((5, 40), dtype=np.uint8)
    assert counts_dtype(8) is np.uint16
    out = np.zeros((1, 5, 40), dtype=np.uint16)
    mk.class_neighbor_counts(cls, 8, np.zeros((1, 5, 40), np.uint16), out)
    assert_array_equal(out, reference.class_neighbor_counts(cls, 1, 8))
    assert out.max() == 5 * 17 - 1


# --------------------------------------------------------------------------- the roulette


@settings(max_examples=100, deadline=None)
@given(pb=problems(), data=st.data())
def test_base_potentials_and_rebase_match_reference(pb: Problem, data: st.DataObject) -> None:
    """``base_potentials`` equals the oracle bit for bit (suit × conv where the rules let
    the cell's class become k, its own class's suit, 0 off the land); after random cells
    change class, ``rebase_cells`` on them alone brings the whole array back to it."""
    out = garbage((pb.n_classes, *pb.cls.shape), np.float32)
    mk.base_potentials(pb.cls, pb.suit, pb.conv, pb.need_bits, pb.cell_rules, out)
    assert_array_equal(out.view(np.uint32), pb.base.view(np.uint32))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="cells seed"))
    land = np.flatnonzero(pb.cls.reshape(-1) != NONE)
    cells = rng.permutation(land)[: rng.integers(0, len(land) + 1)].astype(np.int64)
    pb.cls.reshape(-1)[cells] = rng.integers(0, pb.n_classes, size=len(cells))
    mk.rebase_cells(cells, pb.cls, pb.suit, pb.conv, pb.need_bits, pb.cell_rules, out)
    assert_array_equal(out.view(np.uint32), pb.base.view(np.uint32))


@settings(max_examples=300, deadline=None)
@given(pb=problems())
def test_propose_all_matches_reference(pb: Problem) -> None:
    """Every cell's proposal and score equal the cell-by-cell oracle bit for bit."""
    prop, score, _ = run_propose_all(pb)
    ref_prop, ref_score = pb.reference()
    assert_array_equal(prop, ref_prop)
    assert_array_equal(score.view(np.uint32), ref_score.view(np.uint32))


@settings(max_examples=300, deadline=None)
@given(pb=problems(), plan_seed=st.integers(0, 2**32 - 1))
def test_propose_all_keeps_only_planned_pairs_and_lists_them(pb: Problem, plan_seed: int) -> None:
    """With a plan, a proposal c → k stands only where the plan has flow c → k in the
    cell's district (else prop 255, score 0), and each row lists the columns of its
    standing proposals in order."""
    plan = random_plan(np.random.default_rng(plan_seed), pb.n_d, pb.n_classes)
    prop, score, rows = run_propose_all(pb, plan)
    ref_prop, ref_score = pb.reference()
    d = pb.dist.astype(np.int64)
    c = np.minimum(pb.cls, pb.n_classes - 1).astype(np.int64)
    k = np.minimum(ref_prop, pb.n_classes - 1).astype(np.int64)
    keep = (ref_prop != NONE) & (plan[d, c, k] > 0)
    assert_array_equal(prop, np.where(keep, ref_prop, NONE))
    want_score = np.where(keep, ref_score, np.float32(0.0))
    assert_array_equal(score.view(np.uint32), want_score.view(np.uint32))
    for i, listed in enumerate(rows):
        assert listed.tolist() == np.flatnonzero(keep[i]).tolist()


@settings(max_examples=300, deadline=None)
@given(pb=problems(), data=st.data())
def test_propose_cells_matches_reference(pb: Problem, data: st.DataObject) -> None:
    """The listed cells (a random subset, in random order) get the oracle's proposal and
    score; every other cell is left as it was."""
    n = pb.cls.size
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="cells seed"))
    cells = rng.permutation(n)[: rng.integers(0, n + 1)].astype(np.int64)
    prop, score = run_propose_cells(pb, cells)
    ref_prop, ref_score = pb.reference()
    listed = np.zeros(n, dtype=bool)
    listed[cells] = True
    assert_array_equal(prop.reshape(-1)[listed], ref_prop.reshape(-1)[listed])
    assert_array_equal(
        score.reshape(-1)[listed].view(np.uint32), ref_score.reshape(-1)[listed].view(np.uint32)
    )
    assert np.all(prop.reshape(-1)[~listed] == 77)
    assert np.all(np.isnan(score.reshape(-1)[~listed]))


def wheel_edge_case() -> tuple[Problem, int]:
    """A cell whose wheel draw falls within float32 rounding of a class boundary.

    1×1 grid, two classes, the cell of class 0, one neighbour of each class (counts
    given directly), weights 1, conv and D 1: OP_0 = s0, OP_1 = s1 = 0.5 exactly. s0 is set
    so that u = U × (s0 + s1) lands on s0 itself in float32 (U the wheel draw); the
    float32 wheel (the oracle, ``propose_all``) then keeps the cell's own class while a
    float64 total moves u just past s0.
    """
    for key in range(10_000):
        big_u = np.float32(reference.uniform(np.uint64(key), np.array([0]))[0])
        if not 0.2 < big_u < 0.6:  # s0 below 1, like a suitability
            continue
        s1 = np.float32(0.5)
        s0 = np.float32(float(big_u) * 0.5 / (1.0 - float(big_u)))
        for _ in range(16):
            s0 = np.nextafter(s0, np.float32(0.0))
        for _ in range(32):
            u32 = np.float32(big_u * np.float32(s0 + s1))
            u64 = float(big_u) * (float(s0) + float(s1))
            if u32 <= s0 < u64:  # float32: own class (no proposal); float64: class 1
                pb = Problem(
                    cls=np.zeros((1, 1), np.uint8),
                    dist=np.zeros((1, 1), np.uint16),
                    done=np.zeros((1, 1), np.uint8),
                    counts=np.ones((2, 1, 1), np.uint8),
                    suit=np.array([s0, s1], np.float32).reshape(2, 1, 1),
                    weights=np.ones(2, np.float32),
                    conv=np.ones((2, 2), np.float32),
                    adapt=np.ones((1, 2), np.float32),
                    allowed=np.array([[False, True], [True, False]]),
                    need_bits=np.zeros(2, np.uint8),
                    source=np.ones(2, np.uint8),
                    cell_rules=np.full((1, 1), 7, np.uint8),
                    seed_share=0.1,
                    key=np.uint64(key),
                    radius=1,
                    n_d=1,
                )
                return pb, key
            s0 = np.nextafter(s0, np.float32(1.0))
    raise AssertionError("no edge case found")  # pragma: no cover


def test_wheel_edge_case_oracle_and_propose_all() -> None:
    """On the edge case the oracle and ``propose_all`` agree: no proposal."""
    pb, _ = wheel_edge_case()
    ref_prop, _ = pb.reference()
    prop, _, _ = run_propose_all(pb)
    assert ref_prop[0, 0] == NONE
    assert prop[0, 0] == NONE


def test_propose_cells_equals_propose_all_on_wheel_edge() -> None:
    """``propose_cells`` must pick what ``propose_all`` picks on the same cell and key."""
    pb, _ = wheel_edge_case()
    prop_all, score_all, _ = run_propose_all(pb)
    prop_cells, score_cells = run_propose_cells(pb, np.array([0], np.int64))
    assert prop_cells[0, 0] == prop_all[0, 0]
    assert_array_equal(score_cells.view(np.uint32), score_all.view(np.uint32))


@settings(max_examples=100, deadline=None)
@given(pb=problems(), plan_seed=st.integers(0, 2**32 - 1))
def test_forced_scores_matches_reference(pb: Problem, plan_seed: int) -> None:
    """For every class k: the cells that may still give k a cell (class ≠ k, not done,
    not frozen, k's rule bits, conv > 0, planned flow) get ``prop = k`` and the oracle's
    OP with the cell's seed draw; every other cell gets no proposal."""
    rng = np.random.default_rng(plan_seed)
    plan = random_plan(rng, pb.n_d, pb.n_classes)
    nx = pb.cls.shape[1]
    base = pb.base
    for k in range(pb.n_classes):
        prop, score = run_forced(pb, k, plan)
        eligible = forced_eligible(pb, k, plan)
        assert_array_equal(prop, np.where(eligible, k, NONE))
        for i, j in zip(*np.nonzero(eligible), strict=True):
            d = int(pb.dist[i, j])
            r = pb.seed_draw(i * nx + j)
            want = reference.combined_potential(
                k, d, i, j, r, pb.counts, base, pb.weights, pb.adapt, pb.seed_share
            )
            assert score[i, j].view(np.uint32) == want.view(np.uint32), (k, i, j)


def test_roulette_shares_match_potentials() -> None:
    """One cell over 20,000 keys: each class is picked with probability OP_k / Σ OP
    (its own class, picked, means no proposal), within 5 binomial sigmas."""
    n_k = 4
    pb = make_problem((3, 3), n_k, 1, 1, seed=0, key=0)
    # The centre cell of class 1; every class has neighbours (no seeds), every rule open.
    pb.cls[:] = np.array([[0, 1, 2], [3, 1, 0], [2, 3, 0]], np.uint8)
    pb.counts = reference.class_neighbor_counts(pb.cls, n_k, 1).astype(np.uint8)
    pb.suit[:] = np.array([0.9, 0.3, 0.6, 0.45], np.float32)[:, None, None]
    pb.weights = (np.array([1.0, 0.8, 0.5, 1.0]) / 8).astype(np.float32)
    conv = np.ones((n_k, n_k), np.float32)
    conv[1, 3] = 0.5  # cost 0.5
    pb.conv = conv
    pb.adapt = np.array([[1.0, 2.0, 1.0, 0.7]], np.float32)
    pb.done[:] = 0
    pb.cell_rules[:] = 7
    pb.source[:] = 1
    ops = np.array(
        [
            reference.combined_potential(k, 0, 1, 1, 0.5, pb.counts, pb.base, pb.weights,
                                         pb.adapt, pb.seed_share)
            for k in range(n_k)
        ],
        dtype=np.float64,
    )  # fmt: skip
    assert np.all(ops > 0)
    expected = ops / ops.sum()
    n = 20_000
    picks = np.zeros(n_k, dtype=np.int64)
    cells = np.array([4], np.int64)
    prop = np.empty((3, 3), np.uint8)
    score = np.empty((3, 3), np.float32)
    args = list(pb.roulette)
    for key in range(n):
        args[-1] = np.uint64(stream_key(11, 0, key))
        mk.propose_cells(cells, *args, prop, score)
        k = int(prop[1, 1])
        picks[1 if k == NONE else k] += 1
        if k != NONE:
            assert score[1, 1] == np.float32(ops[k])
    sigma = np.sqrt(n * expected * (1 - expected))
    assert np.all(np.abs(picks - n * expected) <= 5 * sigma), (picks, n * expected)


def seeding_problem(seed_share: float) -> Problem:
    """A 30×30 grid of class 0 with one cell of class 2 in a corner; class 1 appears
    nowhere (every window lacks it), class 2 in a few windows. Class 0 keeps a tiny OP."""
    shape = (30, 30)
    pb = make_problem(shape, 3, 1, 1, seed=5, key=99)
    pb.cls[:] = 0
    pb.cls[0, 0] = 2
    pb.counts = reference.class_neighbor_counts(pb.cls, 3, 1).astype(np.uint8)
    rng = np.random.default_rng(6)
    pb.suit = rng.random((3, *shape)).astype(np.float32)
    pb.suit[0] = 1e-6
    pb.weights = (np.ones(3) / 8).astype(np.float32)
    pb.conv = np.ones((3, 3), np.float32)
    pb.adapt = np.array([[1.0, 1.0, 3.0]], np.float32)
    pb.done[:] = 0
    pb.cell_rules[:] = 7
    pb.need_bits[:] = 0
    pb.source[:] = 1
    pb.seed_share = seed_share
    return pb


def test_patch_seed_only_below_suitability() -> None:
    """A class absent from the window is proposed only where the seed draw r is below
    its suitability, with OP = s × (r × μ) × D in float32; where r < s it is proposed almost
    always (class 0's OP is tiny)."""
    pb = seeding_problem(0.3)
    prop, score, _ = run_propose_all(pb)
    r = np.array([pb.seed_draw(p) for p in range(pb.cls.size)], np.float32).reshape(pb.cls.shape)
    s = pb.suit[1]
    seeded = prop == 1
    assert seeded.sum() > 100
    assert np.all(r[seeded] < s[seeded])
    for i, j in zip(*np.nonzero(seeded), strict=True):
        omega = np.float32(r[i, j] * np.float32(0.3))
        want = np.float32(np.float32(s[i, j] * omega) * pb.adapt[0, 1])
        assert score[i, j] == want, (i, j)
    # Where r < s, classes 1 (seed) and 2 (seed, or neighbours near the corner) outweigh
    # class 0 by orders of magnitude: a cell stays only by a rare draw.
    could = (r < s) & (pb.counts[2] == 0) & (r >= pb.suit[2])
    assert np.mean(seeded[could]) > 0.99
    assert_array_equal(prop, pb.reference()[0])


def test_no_patch_seed_without_seed_share() -> None:
    """With patch_seed_share = 0 a class absent from the window is never proposed, by the
    roulette or as a forced OP > 0."""
    pb = seeding_problem(0.0)
    prop, _, _ = run_propose_all(pb)
    assert not np.any(prop == 1)
    absent2 = pb.counts[2] == 0
    assert not np.any((prop == 2) & absent2)
    assert np.any((prop == 2) & ~absent2)  # neighbours of the corner cell still may
    plan = np.ones((1, 3, 3), np.int64)
    fprop, fscore = run_forced(pb, 1, plan)
    assert np.all(fprop[pb.cls == 0] == 1)  # still eligible, ranked last
    assert np.all(fscore[pb.cls == 0] == 0.0)


def test_conversion_matrix_forbids_and_costs() -> None:
    """A pair with conv = 0 (not allowed) is never proposed nor forced; a cost of 0.5
    halves the OP exactly."""
    n_k = 4
    found_proposals = 0
    for seed in range(20):
        pb = make_problem((12, 15), n_k, 2, 2, seed=seed, key=seed)
        pb.source[:] = 1
        plan = np.ones((2, n_k, n_k), np.int64)
        prop, _, _ = run_propose_all(pb)
        c_of = pb.cls.astype(np.int64)
        land = pb.cls != NONE
        found_proposals += int((prop != NONE).sum())
        forced = [run_forced(pb, k, plan)[0] for k in range(n_k)]
        for d in range(2):
            for c in range(n_k):
                for k in range(n_k):
                    if k == c or pb.conv[c, k] > 0:
                        continue
                    where = land & (c_of == c) & (pb.dist == d)
                    assert not np.any(prop[where] == k)
                    assert not np.any(forced[k][where] == k)
    assert found_proposals > 100
    # Cost: the same cells, conv 1 against conv 0.5.
    pb = make_problem((12, 15), n_k, 2, 1, seed=3, key=3)
    plan = np.ones((1, n_k, n_k), np.int64)
    adapt = np.ones((1, n_k), np.float32)
    pb.conv, pb.adapt = np.ones((n_k, n_k), np.float32), adapt
    full_prop, full = run_forced(pb, 2, plan)
    half_conv = np.ones((n_k, n_k), np.float32)
    half_conv[:, 2] = 0.5
    half_conv[2, 2] = 1.0
    pb.conv = half_conv
    half_prop, half = run_forced(pb, 2, plan)
    assert_array_equal(full_prop, half_prop)
    m = full_prop == 2
    assert np.any(full[m] > 0)
    assert_array_equal(half[m], full[m] * np.float32(0.5))


# --------------------------------------------------------------------------- adaptive coefficient


def adapt_once(d: float, last: float, before: float) -> float:
    adapt = np.array([[d]], np.float32)
    mk.adapt_coefficients(adapt, np.array([[last]]), np.array([[before]]))
    return float(adapt[0, 0])


@pytest.mark.parametrize(
    ("d", "last", "before", "want"),
    [
        (1.0, 5.0, 10.0, 1.0),  # shortfall shrinking: unchanged
        (2.0, -4.0, -10.0, 2.0),  # overshoot shrinking: unchanged
        (1.5, 7.0, -7.0, 1.5),  # same size, sign flipped: unchanged
        (1.5, 6.0, 6.0, 1.5),  # no change: unchanged
        (1.0, -8.0, -4.0, 0.5),  # overshoot growing: × G_before / G_last = × 4/8
        (3.0, -12.0, -4.0, 1.0),  # × 4/12
        (1.0, 10.0, 4.0, 2.5),  # shortfall growing: × G_last / G_before = × 10/4
        (0.5, 9.0, 3.0, 1.5),  # × 3
        (1.0, -6.0, 3.0, 1.0),  # growing but the sign flipped: no case applies
        (1.0, 6.0, -3.0, 1.0),
        (1.0, 5.0, 0.0, 1.0),  # from no gap: unchanged (no division by zero)
        (1.0, -5.0, 0.0, 1.0),
    ],
)
def test_adapt_coefficients_by_hand(d: float, last: float, before: float, want: float) -> None:
    """Each case of FLUS's rule, hand-worked; the oracle agrees."""
    assert adapt_once(d, last, before) == pytest.approx(want, rel=1e-6)
    ref = reference.adapt_coefficients(
        np.array([[d]], np.float32), np.array([[last]]), np.array([[before]])
    )
    assert float(ref[0, 0]) == adapt_once(d, last, before)


def test_adapt_coefficients_clamped() -> None:
    """D stays within [ADAPT_MIN, ADAPT_MAX] whatever the gaps."""
    assert adapt_once(2e-6, -1000.0, -1.0) == np.float32(mk.ADAPT_MIN)
    assert adapt_once(5e5, 1000.0, 1.0) == np.float32(mk.ADAPT_MAX)
    assert adapt_once(1.0, -1e9, -1.0) == np.float32(mk.ADAPT_MIN)
    assert adapt_once(1.0, 1e9, 1.0) == np.float32(mk.ADAPT_MAX)
    # Already at a bound, a further push keeps it there.
    assert adapt_once(float(np.float32(mk.ADAPT_MAX)), 4.0, 2.0) == np.float32(mk.ADAPT_MAX)


@settings(max_examples=100, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 7)),
    seed=st.integers(0, 2**32 - 1),
)
def test_adapt_coefficients_matches_reference(shape: tuple[int, int], seed: int) -> None:
    """Random gaps (ties, zeros, sign flips, huge ratios) and coefficients near the
    bounds: the kernel equals the textbook cases bit for bit."""
    rng = np.random.default_rng(seed)
    adapt = np.exp(rng.uniform(-16, 16, size=shape)).astype(np.float32)
    adapt = np.clip(adapt, np.float32(mk.ADAPT_MIN), np.float32(mk.ADAPT_MAX))
    pool = np.array([0.0, 1.0, -1.0, 3.0, -3.0, 0.5, 1e6, -1e6])
    last = np.where(rng.random(shape) < 0.5, rng.choice(pool, shape), rng.normal(0, 50, shape))
    before = np.where(rng.random(shape) < 0.5, rng.choice(pool, shape), rng.normal(0, 50, shape))
    tie = rng.random(shape) < 0.2
    before[tie] = last[tie]
    before[rng.random(shape) < 0.1] *= -1
    want = reference.adapt_coefficients(adapt, last, before)
    got = adapt.copy()
    mk.adapt_coefficients(got, last, before)
    assert_array_equal(got.view(np.uint32), want.view(np.uint32))


# --------------------------------------------------------------------------- ranking and acceptance


@dataclass
class Pool:
    """Proposals on a random grid with quotas and a plan, for collect / accept."""

    cls: np.ndarray
    dist: np.ndarray
    done: np.ndarray
    prop: np.ndarray
    score: np.ndarray
    pool: np.ndarray  # distinct flat indices, random order
    quota: np.ndarray  # int64 [n_d, K]
    need: np.ndarray
    surplus: np.ndarray
    plan: np.ndarray  # int64 [n_d, K, K]


def make_pool(seed: int, shape: tuple[int, int], n_classes: int, n_d: int) -> Pool:
    rng = np.random.default_rng(seed)
    cls = rng.integers(0, n_classes, size=shape).astype(np.uint8)
    cls[rng.random(shape) < 0.1] = NONE
    dist = rng.integers(0, n_d, size=shape).astype(np.uint16)
    done = (rng.random(shape) < 0.1).astype(np.uint8)
    # A proposal is another class than the cell's own (or none).
    shift = rng.integers(1, n_classes, size=shape)
    prop = ((cls.astype(np.int64) + shift) % n_classes).astype(np.uint8)
    prop[(cls == NONE) | (rng.random(shape) < 0.2)] = NONE
    # Scores ≥ 0 with ties, zeros, tiny and huge values: several histogram bins each.
    kind = rng.integers(0, 5, size=shape)
    score = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            rng.random(shape),
            rng.choice([0.0, 0.25, 0.5, 1.0], size=shape),
            rng.random(shape) * 1e-30,
            1.0 + rng.random(shape) * 1e-6,  # the same bin, different values
        ],
        np.exp(rng.uniform(-40, 40, size=shape)),
    ).astype(np.float32)
    n = cls.size
    pool = rng.permutation(n)[: rng.integers(0, n + 1)].astype(np.int64)
    quota = rng.integers(-1, 8, size=(n_d, n_classes)).astype(np.int64)
    need = quota + rng.integers(0, 4, size=quota.shape)
    surplus = rng.integers(0, 10, size=(n_d, n_classes)).astype(np.int64)
    plan = random_plan(rng, n_d, n_classes) * rng.integers(1, 4)
    return Pool(cls, dist, done, prop, score, pool, quota, need, surplus, plan)


@st.composite
def pools(draw: st.DrawFn) -> Pool:
    shape = (draw(st.integers(1, 12)), draw(st.integers(1, 15)))
    n_classes = draw(st.integers(2, 7))
    n_d = draw(st.integers(1, 3))
    return make_pool(draw(st.integers(0, 2**32 - 1)), shape, n_classes, n_d)


@settings(max_examples=150, deadline=None)
@given(pl=pools())
def test_collect_candidates_against_sort(pl: Pool) -> None:
    """The shortlist holds, in pool order, exactly the eligible proposals (class with
    quota, planned flow, not done) whose histogram bin is at or above that of their
    (district, class)'s quota-th best score: every proposal strictly above the quota-th
    best, and at most the quota plus one bin's count."""
    n_d, n_k = pl.quota.shape
    hist = np.full((n_d * n_k, mk.HIST_BINS), 5, dtype=np.int64)  # must be cleared
    out = np.full(max(len(pl.pool), 1), -7, dtype=np.int64)
    bits = pl.score.view(np.uint32)
    n = mk.collect_candidates(
        pl.pool, pl.prop, bits, pl.cls, pl.dist, pl.done, pl.quota, pl.plan, hist, out
    )
    got = out[:n].tolist()
    flat = {name: getattr(pl, name).reshape(-1) for name in ("prop", "cls", "dist", "done")}
    flat_score = pl.score.reshape(-1)
    flat_bin = bits.reshape(-1) >> mk.HIST_SHIFT

    def eligible(p: int) -> bool:
        k = int(flat["prop"][p])
        if k == NONE or flat["done"][p]:
            return False
        d, c = int(flat["dist"][p]), int(flat["cls"][p])
        return bool(pl.quota[d, k] > 0 and pl.plan[d, c, k] > 0)

    groups: dict[tuple[int, int], list[int]] = {}
    for p in pl.pool.tolist():
        if eligible(p):
            groups.setdefault((int(flat["dist"][p]), int(flat["prop"][p])), []).append(p)
    want_set: set[int] = set()
    for (d, k), members in groups.items():
        q = int(pl.quota[d, k])
        ranked = sorted(members, key=lambda p: -float(flat_score[p]))
        mine = [p for p in got if (int(flat["dist"][p]), int(flat["prop"][p])) == (d, k)]
        if len(members) <= q:
            want = set(members)
        else:
            qth = float(flat_score[ranked[q - 1]])
            qbin = int(flat_bin[ranked[q - 1]])
            want = {p for p in members if flat_bin[p] >= qbin}
            assert {p for p in members if flat_score[p] > qth} <= set(mine)
            assert len(mine) <= q + sum(1 for p in members if flat_bin[p] == qbin)
        assert set(mine) == want
        want_set |= want
    assert got == [p for p in pl.pool.tolist() if p in want_set]


def queue_of(pl: Pool, plan: np.ndarray) -> tuple[int, tuple[np.ndarray, ...], np.ndarray]:
    """``list_proposals`` on a pool's maps, its proposals kept where ``plan`` has flow
    (as ``propose_all`` keeps them), rows listed by hand: (length, (key, group, pair,
    live), slot)."""
    ny, nx = pl.cls.shape
    n_k = pl.quota.shape[1]
    size = max(pl.cls.size, 1)
    q = (
        np.full(size, 7, np.uint64), np.full(size, -9, np.int32), np.full(size, -9, np.int32),
        np.full(size, 9, np.uint8),
    )  # fmt: skip
    slot = np.full((ny, nx), -1, np.int64)
    keep = (pl.prop != NONE) & (
        plan[
            pl.dist.astype(np.int64),
            np.minimum(pl.cls, n_k - 1).astype(np.int64),
            np.minimum(pl.prop, n_k - 1).astype(np.int64),
        ]
        > 0
    )
    prop = np.where(keep, pl.prop, NONE).astype(np.uint8)
    row_cells = np.full((ny, nx), -5, np.int32)
    row_count = keep.sum(axis=1).astype(np.int64)
    for i in range(ny):
        row_cells[i, : row_count[i]] = np.flatnonzero(keep[i])
    n = mk.list_proposals(
        prop, pl.score.view(np.uint32), pl.cls, pl.dist, n_k, row_cells, row_count, slot, *q
    )
    return n, q, slot


@settings(max_examples=150, deadline=None)
@given(pl=pools())
def test_list_proposals_queues_the_listed_proposals(pl: Pool) -> None:
    """Every listed proposal is queued once, in cell order, with its key (score bits
    complemented above the cell index), group, flat plan pair and slot."""
    n_k = pl.quota.shape[1]
    n, (key, group, pair, live), slot = queue_of(pl, pl.plan)
    flat = {name: getattr(pl, name).reshape(-1) for name in ("prop", "cls", "dist")}
    bits = pl.score.view(np.uint32).reshape(-1)
    want = [
        p
        for p in range(pl.cls.size)
        if flat["prop"][p] != NONE and pl.plan[flat["dist"][p], flat["cls"][p], flat["prop"][p]] > 0
    ]
    assert n == len(want)
    cells = (key[:n] & np.uint64(0xFFFFFFFF)).astype(np.int64)
    assert cells.tolist() == want
    w = np.array(want, np.int64)
    d, c, k = (flat[a][w].astype(np.int64) for a in ("dist", "cls", "prop"))
    assert_array_equal(key[:n] >> np.uint64(32), np.uint64(0xFFFFFFFF) - bits[w])
    assert_array_equal(group[:n], d * n_k + k)
    assert_array_equal(pair[:n], (d * n_k + c) * n_k + k)
    assert np.all(live[:n] == 1)
    expect_slot = np.full(pl.cls.size, -1)
    expect_slot[w] = np.arange(n)
    assert_array_equal(slot.reshape(-1), expect_slot)
    # Ascending keys rank by score descending, then by cell index.
    order = np.argsort(key[:n], kind="stable")
    by_hand = sorted(range(n), key=lambda t: (-float(pl.score.reshape(-1)[w[t]]), w[t]))
    assert order.tolist() == by_hand


@settings(max_examples=150, deadline=None)
@given(pl=pools(), data=st.data())
def test_collect_queued_is_collect_candidates_on_the_queue(pl: Pool, data: st.DataObject) -> None:
    """After some entries stop standing (``retire``) and some cells draw again
    (``requeue``), ``collect_queued`` returns the keys of exactly the cells
    ``collect_candidates`` returns from the grid for the standing proposals."""
    n_d, n_k = pl.quota.shape
    full_plan = np.ones_like(pl.plan)
    n, q, slot = queue_of(pl, full_plan)
    live = q[3]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    flat_prop = pl.prop.reshape(-1).copy()
    flat_score = pl.score.reshape(-1).copy()
    gone = rng.permutation(pl.cls.size)[: rng.integers(0, pl.cls.size + 1)].astype(np.int64)
    mk.retire(gone, slot, live)
    flat_prop[gone] = NONE
    # Some cells draw again: new proposals (or none) with new scores, appended.
    redrawn = rng.permutation(pl.cls.size)[: rng.integers(0, pl.cls.size + 1)].astype(np.int64)
    redrawn = redrawn[pl.cls.reshape(-1)[redrawn] != NONE]
    shift = rng.integers(1, n_k, size=len(redrawn))
    flat_prop[redrawn] = (pl.cls.reshape(-1)[redrawn] + shift) % n_k
    flat_prop[redrawn[rng.random(len(redrawn)) < 0.3]] = NONE
    flat_score[redrawn] = rng.random(len(redrawn)).astype(np.float32)
    prop = flat_prop.reshape(pl.cls.shape)
    score = flat_score.reshape(pl.cls.shape)
    grown = tuple(np.concatenate([a, np.zeros(len(redrawn), a.dtype)]) for a in q)
    n = mk.requeue(redrawn, prop, score.view(np.uint32), pl.cls, pl.dist, pl.plan, slot, *grown, n)
    hist = np.full((n_d * n_k, mk.HIST_BINS), 5, dtype=np.int64)
    out = np.zeros(max(n, 1), np.uint64)
    m = mk.collect_queued(n, *grown, pl.quota, pl.plan, hist, out)
    got = sorted((out[:m] & np.uint64(0xFFFFFFFF)).astype(np.int64).tolist())
    # The standing proposals on the grid: every cell with a live slot.
    standing = np.flatnonzero(slot.reshape(-1) >= 0)
    assert np.all(grown[3][slot.reshape(-1)[standing]] == 1)
    done = np.zeros(pl.cls.shape, np.uint8)
    hist2 = np.zeros_like(hist)
    out2 = np.zeros(max(len(standing), 1), np.int64)
    m2 = mk.collect_candidates(
        standing, prop, score.view(np.uint32), pl.cls, pl.dist, done, pl.quota, pl.plan,
        hist2, out2,
    )  # fmt: skip
    assert got == sorted(out2[:m2].tolist())
    # A standing entry's key is its cell's current proposal and score.
    for p in standing.tolist():
        t = slot.reshape(-1)[p]
        assert int(grown[0][t] & np.uint64(0xFFFFFFFF)) == p
        assert int(grown[0][t] >> np.uint64(32)) == 0xFFFFFFFF - int(
            score.view(np.uint32).reshape(-1)[p]
        )
        assert grown[1][t] % n_k == prop.reshape(-1)[p]
    mk.clear_slots(grown[0], n, slot)
    assert np.all(slot == -1)


@settings(max_examples=150, deadline=None)
@given(pl=pools(), data=st.data())
def test_accept_candidates_matches_reference(pl: Pool, data: st.DataObject) -> None:
    """Greedy acceptance, urban-first sweep or none, with urban's reservation: the same
    cells in the same order and the same decremented quota, plan and urban room as the
    oracle."""
    n_d, n_k = pl.quota.shape
    first = data.draw(st.integers(-1, n_k - 1), label="first")
    urban = data.draw(st.integers(0, n_k - 1), label="urban")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    rules = rng.integers(0, 8, size=pl.cls.shape).astype(np.uint8)
    room = rng.integers(0, 6, size=(n_d, n_k)).astype(np.int64)
    flat_prop = pl.prop.reshape(-1)
    ranked = pl.pool[flat_prop[pl.pool] != NONE]
    want, *want_arrays = reference.accept(
        ranked, pl.prop, pl.cls, pl.dist, rules, pl.quota, pl.plan, room, urban, first
    )
    arrays = [a.copy() for a in (pl.quota, pl.plan, room)]
    out = np.full(max(len(ranked), 1), -7, dtype=np.int64)
    m = mk.accept_candidates(
        ranked, pl.prop, pl.cls, pl.dist, rules, arrays[0], arrays[1], arrays[2], urban, first,
        out,
    )  # fmt: skip
    assert_array_equal(out[:m], want)
    for got, ref in zip(arrays, want_arrays, strict=True):
        assert_array_equal(got, ref)
    if first >= 0 and m:
        # The first class's acceptances all come before the others'.
        is_first = flat_prop[out[:m]] == first
        assert not np.any(np.diff(is_first.astype(np.int8)) > 0)


def test_accept_candidates_urban_first_by_hand() -> None:
    """Two cells of class 0 ranked [→ forest (2), → urban (1)]: without a first class
    they convert in rank order; with urban first, urban's goes first. With both cells
    open to urban and one planned for urban, forest may take a cell only while another
    stays for urban."""
    cls = np.zeros((1, 2), np.uint8)
    dist = np.zeros((1, 2), np.uint16)
    prop = np.array([[2, 1]], np.uint8)
    ranked = np.array([0, 1], np.int64)
    free = np.zeros((1, 2), np.uint8)  # not open to urban: no reservation
    for first, order in ((-1, [0, 1]), (1, [1, 0]), (2, [0, 1])):
        quota = np.array([[0, 1, 1]], np.int64)
        plan = np.zeros((1, 3, 3), np.int64)
        plan[0, 0, 1] = plan[0, 0, 2] = 1
        room = np.zeros((1, 3), np.int64)
        out = np.empty(2, np.int64)
        m = mk.accept_candidates(ranked, prop, cls, dist, free, quota, plan, room, 1, first, out)
        assert out[:m].tolist() == order
        assert quota.tolist() == [[0, 0, 0]]
        assert not plan.any()
    # Both cells open to urban, room 1 for the one planned urban cell: forest (ranked
    # first) must not take it; urban takes its cell, forest gets nothing.
    open_ = np.full((1, 2), 3, np.uint8)
    quota = np.array([[0, 1, 1]], np.int64)
    plan = np.zeros((1, 3, 3), np.int64)
    plan[0, 0, 1] = plan[0, 0, 2] = 1
    room = np.array([[1, 0, 0]], np.int64)
    out = np.empty(2, np.int64)
    m = mk.accept_candidates(ranked, prop, cls, dist, open_, quota, plan, room, 1, -1, out)
    assert out[:m].tolist() == [1]
    assert room.tolist() == [[0, 0, 0]]
    # No quota left for urban: its proposal is skipped, the forest one still converts.
    quota = np.array([[0, 0, 1]], np.int64)
    plan = np.ones((1, 3, 3), np.int64)
    out = np.empty(2, np.int64)
    m = mk.accept_candidates(
        ranked, prop, cls, dist, free, quota, plan, np.zeros((1, 3), np.int64), 1, 1, out
    )
    assert out[:m].tolist() == [0]


# --------------------------------------------------------------------------- conversions


@settings(max_examples=100, deadline=None)
@given(pb=problems(max_ny=14, max_nx=14), data=st.data())
def test_apply_conversions(pb: Problem, data: st.DataObject) -> None:
    """After converting a random batch: the map and ``done``/``prop`` are updated, the
    moved counts equal fresh counts of the new map, ``flows`` counts the conversions,
    ``by_rules`` equals a fresh ``rule_class_counts`` of the new map, and the dirty list
    holds each not-done land cell within the radius of a converted cell once (plus
    converted cells that lay in the window of one converted before them, which were not
    done yet when it moved)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="batch seed"))
    ny, nx = pb.cls.shape
    n_k = pb.n_classes
    flat_cls = pb.cls.reshape(-1)
    open_cells = np.flatnonzero((flat_cls != NONE) & (pb.done.reshape(-1) == 0))
    acc = rng.permutation(open_cells)[: rng.integers(0, len(open_cells) + 1)].astype(np.int64)
    prop = np.full((ny, nx), NONE, np.uint8)
    shift = rng.integers(1, n_k, size=len(acc))
    prop.reshape(-1)[acc] = (flat_cls[acc].astype(np.int64) + shift) % n_k
    cls0, done0, prop0 = pb.cls.copy(), pb.done.copy(), prop.copy()
    cls, done, counts = pb.cls.copy(), pb.done.copy(), pb.counts.copy()
    dirty_flag = np.zeros((ny, nx), np.uint8)
    dirty = np.full(ny * nx, -7, dtype=np.int64)
    flows = np.zeros((pb.n_d, n_k, n_k), np.int64)
    by_rules = np.full((pb.n_d, n_k, 8), -3, dtype=np.int64)
    mk.rule_class_counts(cls, pb.dist, pb.cell_rules, by_rules)
    n_dirty = mk.apply_conversions(
        acc, prop, cls, pb.dist, done, counts, pb.radius, dirty_flag, dirty, flows,
        pb.cell_rules, by_rules,
    )  # fmt: skip
    new = cls0.copy()
    new.reshape(-1)[acc] = prop0.reshape(-1)[acc]
    assert_array_equal(cls, new)
    assert np.all(done.reshape(-1)[acc] == 1)
    assert np.array_equal(done0 | (done != done0), done)  # only set, never cleared
    assert int(done.sum()) == int(done0.sum()) + len(acc)
    assert np.all(prop == NONE)
    assert_array_equal(counts, reference.class_neighbor_counts(new, n_k, pb.radius))
    want_flows = np.zeros_like(flows)
    np.add.at(
        want_flows,
        (pb.dist.reshape(-1)[acc], cls0.reshape(-1)[acc], prop0.reshape(-1)[acc]),
        1,
    )
    assert_array_equal(flows, want_flows)
    fresh = np.zeros_like(by_rules)
    mk.rule_class_counts(new, pb.dist, pb.cell_rules, fresh)
    assert_array_equal(by_rules, fresh)
    assert not dirty_flag.any()
    listed = dirty[:n_dirty].tolist()
    assert len(set(listed)) == len(listed)
    # The brief's set: land cells not done after the call, within the radius of a
    # converted cell.
    window = np.zeros((ny, nx), dtype=bool)
    r = pb.radius
    for p in acc.tolist():
        i, j = divmod(p, nx)
        window[max(i - r, 0) : i + r + 1, max(j - r, 0) : j + r + 1] = True
    still_open = window & (new != NONE) & (done == 0)
    accepted = set(acc.tolist())
    assert set(listed) - accepted == set(np.flatnonzero(still_open).tolist())
    # A converted cell is never listed, whatever its place in the batch.
    assert not set(listed) & accepted


def test_apply_conversions_dirty_excludes_converted() -> None:
    """Two neighbours converted in one batch: neither should be listed as dirty."""
    cls = np.zeros((1, 2), np.uint8)
    prop = np.ones((1, 2), np.uint8)
    counts = reference.class_neighbor_counts(cls, 2, 1).astype(np.uint8)
    dirty = np.empty(2, np.int64)
    n = mk.apply_conversions(
        np.array([0, 1], np.int64), prop, cls, np.zeros((1, 2), np.uint16),
        np.zeros((1, 2), np.uint8), counts, 1, np.zeros((1, 2), np.uint8), dirty,
        np.zeros((1, 2, 2), np.int64), np.full((1, 2), 7, np.uint8), np.zeros((1, 2, 8), np.int64),
    )  # fmt: skip
    assert dirty[:n].tolist() == []


# --------------------------------------------------------------------------- the flow plan


def max_urban_flow(need_u: int, surplus: np.ndarray, cap_u: np.ndarray, u: int) -> int:
    """Max Σ_c F_c into urban, F_c ≤ min(cap[c, u], surplus[c]), Σ F_c ≤ need_u (linprog)."""
    from scipy.optimize import linprog

    n_k = len(surplus)
    sources = [c for c in range(n_k) if c != u]
    if need_u <= 0 or not sources:
        return 0
    bounds = [(0.0, float(min(cap_u[c], surplus[c]))) for c in sources]
    res = linprog(
        -np.ones(len(sources)),
        A_ub=np.ones((1, len(sources))),
        b_ub=[float(need_u)],
        bounds=bounds,
        method="highs",
    )
    assert res.status == 0
    return round(-res.fun)


@settings(max_examples=150, deadline=None)
@given(
    n_d=st.integers(1, 3),
    n_k=st.integers(2, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_plan_flows_properties(n_d: int, n_k: int, seed: int) -> None:
    """Whole cells, within capacities, surpluses and needs, no flow c → c; urban's flow
    is min(urban need, its max-flow). Capacities come from ``capacities`` on random rule
    counts: never more than the cells of the class."""
    rng = np.random.default_rng(seed)
    u = int(rng.integers(0, n_k))
    by_rules = rng.integers(0, 6, size=(n_d, n_k, 8)).astype(np.int64)
    by_rules[rng.random(by_rules.shape) < 0.4] = 0
    allowed = rng.random((n_k, n_k)) < 0.6
    allowed[u] = False
    np.fill_diagonal(allowed, False)
    need_bits = rng.choice(np.array(RULE_BITS, np.uint8), size=n_k)
    need_bits[u] = mk.MAY_BECOME_URBAN
    cap = capacities(by_rules, allowed, need_bits)
    held = by_rules.sum(axis=2)
    assert np.all(cap <= held[:, :, None])
    assert np.all(cap[:, ~allowed] == 0)
    # Each class either needs cells or has a surplus (or neither), as in the engine.
    delta = rng.integers(-12, 13, size=(n_d, n_k))
    delta[rng.random(delta.shape) < 0.25] = 0
    need = np.maximum(delta, 0).astype(np.int64)
    surplus = np.minimum(np.maximum(-delta, 0), held).astype(np.int64)
    proposed = rng.integers(0, 20, size=(n_d, n_k, n_k)).astype(np.int64)
    proposed[rng.random(proposed.shape) < 0.5] = 0
    movable = by_rules[:, :, 1::2].sum(axis=2)
    args = [a.copy() for a in (need, surplus, cap, movable, proposed)]
    plan = plan_flows(*args, u)
    for a, b in zip(args, (need, surplus, cap, movable, proposed), strict=True):
        assert_array_equal(a, b)  # inputs untouched
    assert plan.dtype == np.int64
    assert plan.shape == cap.shape
    assert np.all(plan >= 0)
    assert np.all(plan <= cap)
    assert np.all(plan.sum(axis=2) <= movable)
    # Net change per class: a growing class gains at most its need, a shrinking one loses
    # at most its surplus, a steady one passes on what it receives.
    change = plan.sum(axis=1) - plan.sum(axis=2)
    net = need - surplus
    assert np.all(np.where(net > 0, (change >= 0) & (change <= net), True))
    assert np.all(np.where(net < 0, (change <= 0) & (change >= net), True))
    assert np.all(np.where(net == 0, change == 0, True))
    for d in range(n_d):
        assert np.all(np.diag(plan[d]) == 0)
        # Urban gets at least what direct flows from shrinking classes allow (passing
        # cells on through other classes can only add to it).
        flow_u = int(change[d, u])
        best = max_urban_flow(int(need[d, u]), surplus[d], cap[d, :, u], u)
        assert flow_u >= best


def test_plan_flows_urban_before_others() -> None:
    """Cropland (0) is the only source urban (1) may take, forest (2) could take it or
    water (3): forest gets water, urban gets all the cropland it needs."""
    need = np.array([[0, 5, 4, 0]], np.int64)
    surplus = np.array([[5, 0, 0, 4]], np.int64)
    cap = np.zeros((1, 4, 4), np.int64)
    cap[0, 0, 1] = cap[0, 0, 2] = cap[0, 3, 2] = 10
    proposed = np.zeros((1, 4, 4), np.int64)
    proposed[0, 0, 2] = 50  # the roulette prefers cropland → forest
    movable = np.full((1, 4), 100, np.int64)
    plan = plan_flows(need, surplus, cap, movable, proposed, 1)
    assert plan[0, 0, 1] == 5
    assert plan[0, 3, 2] == 4
    assert plan[0, 0, 2] == 0


# --------------------------------------------------------------------------- threads


def on_each_thread_count(fn: Callable[[], Any]) -> list[Any]:
    """``fn()`` with 1 and 2 numba threads, the previous count restored afterwards."""
    before = numba.get_num_threads()
    results = []
    try:
        for t in sorted({1, min(2, MAX_THREADS)}):
            numba.set_num_threads(t)
            results.append(fn())
    finally:
        numba.set_num_threads(before)
    return results


def assert_all_equal(results: list[Any]) -> None:
    for r in results[1:]:
        for a, b in zip(r, results[0], strict=True):
            assert_array_equal(a, b)


threaded = pytest.mark.skipif(MAX_THREADS < 2, reason="numba has a single thread here")


@threaded
def test_roulette_thread_independent() -> None:
    """propose_all, propose_cells (more than one 4096-cell chunk) and forced_scores give
    the same bits on 1 and 2 threads."""
    pb = make_problem((150, 120), 5, 2, 2, seed=8, key=123)
    cells = np.random.default_rng(9).permutation(pb.cls.size)[:12_000].astype(np.int64)
    plan = np.ones((2, 5, 5), np.int64)

    def run() -> tuple[np.ndarray, ...]:
        pa, sa, rows = run_propose_all(pb, plan)
        pc, sc = run_propose_cells(pb, cells)
        pf, sf = run_forced(pb, 3, plan)
        return pa, sa.view(np.uint32), *rows, pc, sc.view(np.uint32), pf, sf.view(np.uint32)

    assert_all_equal(on_each_thread_count(run))


@threaded
def test_simulate_multiclass_thread_independent() -> None:
    """A short multi-class run: identical maps, counts and transitions on 1 and 2 threads."""
    shape = (120, 90)
    rng = np.random.default_rng(10)
    codes = np.array([1, 2, 3, 4], np.uint8)  # 1 urban, 2 crop, 3 forest, 4 water
    lu = rng.choice(np.append(codes, 255).astype(np.uint8), size=shape, p=[0.1, 0.4, 0.3, 0.1, 0.1])
    valid = lu != 255
    cls = np.searchsorted(codes, lu)
    start = np.array([[int(((cls == k) & valid).sum()) for k in range(4)]], np.int64)
    steps = np.array([[0, 0, 0, 0], [300, -500, 200, 0], [250, -200, -50, 0], [100, -150, 50, 0]])
    cells = (start + np.cumsum(steps, axis=0))[:, None, :].astype(np.int64)
    demand = ClassDemandArrays(np.arange(2020, 2024), np.array([0]), cells)
    allowed = np.ones((4, 4), np.uint8)
    allowed[0] = 0
    allowed[3] = 0
    np.fill_diagonal(allowed, allowed.any(axis=1))
    params = MulticlassParameters(
        class_codes=codes,
        weights=np.array([1.0, 0.5, 0.8, 0.1], np.float32),
        allowed=allowed,
        cost=np.full((4, 4), 0.2, np.float32),
        target_kind=np.array([mk.URBAN, 0, 0, 0], np.uint8),
        urban_index=0,
        radius=2,
        seed=4,
    )
    rules = np.where(valid, 7, 0).astype(np.uint8)
    suit = np.where(valid, rng.random((4, *shape)), 0).astype(np.float32)
    periods = [MulticlassPeriod(2020, rules, suit)]
    years = [2020, 2021, 2022, 2023]

    def run() -> tuple[np.ndarray, ...]:
        res = simulate_multiclass(lu, demand, params, periods, years)
        return (
            np.stack([res.maps[y] for y in years]),
            np.stack([res.class_counts[y] for y in years]),
            np.stack([r.transitions for r in res.records]),
            res.urban_year,
        )

    assert_all_equal(on_each_thread_count(run))
