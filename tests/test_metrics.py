"""Accuracy metrics (``landsim.metrics``) on hand-worked maps and against slow references.

The hand-worked examples keep the arithmetic in comments beside the expected numbers, so a
failure can be checked by hand. The property tests compare the vectorised code with
obvious cell-by-cell loops on small random maps.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from landsim import metrics
from landsim.errors import GridMismatchError, InputError
from landsim.metrics import (
    NODATA,
    accuracy,
    agreement_by_resolution,
    assess_maps,
    disagreement,
    figure_of_merit,
    kappa_simulation,
    landscape_metrics,
    lee_sallee,
)

CLASSES = (0, 1, 2)

# Twelve cells, three classes; the letter says what each cell is for the multi-class FoM.
#              cell: 1  2  3  4  5  6  7  8  9 10 11 12
INITIAL = np.array([0, 0, 0, 1, 2, 0, 1, 2, 1, 2, 2, 0], dtype=np.uint8).reshape(3, 4)
OBSERVED = np.array([1, 1, 1, 2, 0, 0, 1, 2, 1, 1, 0, 0], dtype=np.uint8).reshape(3, 4)
SIMULATED = np.array([1, 0, 2, 2, 1, 2, 1, 2, 0, 2, 0, 1], dtype=np.uint8).reshape(3, 4)
#                     B  A  C  B  C  D  -  -  D  A  B  D
# A (observed change, simulated persistence): cells 2, 10        -> 2
# B (observed change, simulated to the observed class): 1, 4, 11 -> 3
# C (observed change, simulated to another class): 3 (0->1 sim 2), 5 (2->0 sim 1) -> 2
# D (observed persistence, simulated change): 6, 9, 12           -> 3


def with_border(arr: np.ndarray, value: int) -> np.ndarray:
    """The map with one more column of ``value``: cells that must not be scored."""
    return np.hstack([arr, np.full((arr.shape[0], 1), value, dtype=arr.dtype)])


# ------------------------------------------------------------------------ figure of merit


def test_fom_three_classes_with_change_to_the_wrong_class() -> None:
    fom = figure_of_merit(INITIAL, OBSERVED, SIMULATED)
    assert (fom.a, fom.b, fom.c, fom.d) == (2, 3, 2, 3)
    assert fom.fom == pytest.approx(3 / 10)  # B / (A+B+C+D) = 3 / (2+3+2+3)
    assert fom.producers == pytest.approx(3 / 7)  # B / (A+B+C) = 3 / (2+3+2)
    assert fom.users == pytest.approx(3 / 8)  # B / (B+C+D) = 3 / (3+2+3)
    assert fom.as_dict() == {
        "a": 2,
        "b": 3,
        "c": 2,
        "d": 3,
        "fom": fom.fom,
        "producers": fom.producers,
        "users": fom.users,
    }


def test_fom_of_the_gains_of_one_class() -> None:
    # Gains of class 1: observed = not 1 initially, 1 observed: cells 1, 2, 3, 10;
    # simulated = not 1 initially, 1 simulated: cells 1, 5, 12.
    # B = {1} = 1, A = {2, 3, 10} = 3, D = {5, 12} = 2, C = 0 (one class gains).
    fom = figure_of_merit(INITIAL, OBSERVED, SIMULATED, target=1)
    assert (fom.a, fom.b, fom.c, fom.d) == (3, 1, 0, 2)
    assert fom.fom == pytest.approx(1 / 6)  # 1 / (3+1+0+2)
    assert fom.producers == pytest.approx(1 / 4)  # 1 / (3+1)
    assert fom.users == pytest.approx(1 / 3)  # 1 / (1+2)
    # Gains of class 2: observed cell 4 (1->2); simulated cells 3, 4, 6.
    # B = {4} = 1, A = 0, D = {3, 6} = 2: FoM 1/3, producer's 1/1, user's 1/3.
    fom2 = figure_of_merit(INITIAL, OBSERVED, SIMULATED, target=2)
    assert (fom2.a, fom2.b, fom2.c, fom2.d) == (0, 1, 0, 2)
    assert (fom2.fom, fom2.producers, fom2.users) == pytest.approx((1 / 3, 1.0, 1 / 3))


def test_fom_without_any_change_is_nan() -> None:
    same = np.zeros((2, 2), dtype=np.uint8)
    fom = figure_of_merit(same, same, same)
    assert (fom.a, fom.b, fom.c, fom.d) == (0, 0, 0, 0)
    assert math.isnan(fom.fom) and math.isnan(fom.producers) and math.isnan(fom.users)
    # A target class found nowhere has no gains either.
    assert figure_of_merit(same, same, same, target=7).as_dict()["b"] == 0


@pytest.mark.parametrize("how", ["mask", "nodata_initial", "nodata_observed", "nodata_sim"])
def test_fom_ignores_masked_and_nodata_cells(how: str) -> None:
    # The extra column is a change simulated as a false alarm (0 -> 0 observed, 0 -> 2
    # simulated): counted, it would raise D; unscored, nothing changes.
    maps = [with_border(INITIAL, 0), with_border(OBSERVED, 0), with_border(SIMULATED, 2)]
    mask = None
    if how == "mask":
        mask = with_border(np.ones(INITIAL.shape, dtype=bool), False)
    else:
        which = ["nodata_initial", "nodata_observed", "nodata_sim"].index(how)
        maps[which][:, -1] = NODATA
    fom = figure_of_merit(*maps, mask=mask)
    assert (fom.a, fom.b, fom.c, fom.d) == (2, 3, 2, 3)


def fom_reference(init: np.ndarray, obs: np.ndarray, sim: np.ndarray) -> tuple[int, ...]:
    counts = [0, 0, 0, 0]
    for i, o, s in zip(init.ravel(), obs.ravel(), sim.ravel(), strict=True):
        if NODATA in (i, o, s):
            continue
        if o != i:
            counts[0 if s == i else 1 if s == o else 2] += 1
        elif s != i:
            counts[3] += 1
    return tuple(counts)


def three_maps(max_side: int = 12, n_classes: int = 3):
    codes = st.sampled_from([*range(n_classes), NODATA])
    return st.integers(1, max_side).flatmap(
        lambda h: st.integers(1, max_side).flatmap(
            lambda w: st.tuples(
                *[hnp.arrays(np.uint8, (h, w), elements=codes) for _ in range(3)],
                hnp.arrays(np.bool_, (h, w)),
            )
        )
    )


@settings(max_examples=60)
@given(three_maps())
def test_fom_matches_a_cell_by_cell_count(maps: tuple[np.ndarray, ...]) -> None:
    init, obs, sim, _ = maps
    fom = figure_of_merit(init, obs, sim)
    assert (fom.a, fom.b, fom.c, fom.d) == fom_reference(init, obs, sim)


# --------------------------------------------------------------------- accuracy, kappa


# Observed (rows) against simulated (columns) for the twelve cells:
#            sim 0  1  2 | total
# obs 0:         1  2  1 | 4     (cells 11 | 5, 12 | 6)
# obs 1:         2  2  2 | 6     (2, 9 | 1, 7 | 3, 10)
# obs 2:         0  0  2 | 2     (4, 8)
# total:         3  4  5 | 12    agreement on the diagonal: 1 + 2 + 2 = 5


def test_accuracy_by_hand() -> None:
    acc = accuracy(OBSERVED, SIMULATED, classes=CLASSES)
    assert acc["overall_accuracy"] == pytest.approx(5 / 12)
    # Chance: sum of row total x column total = 4*3 + 6*4 + 2*5 = 46;
    # kappa = (12*5 - 46) / (12*12 - 46) = 14 / 98 = 1/7.
    assert acc["kappa"] == pytest.approx(1 / 7)
    assert acc["per_class"] == {
        0: {"producers": pytest.approx(1 / 4), "users": pytest.approx(1 / 3)},
        1: {"producers": pytest.approx(2 / 6), "users": pytest.approx(2 / 4)},
        2: {"producers": pytest.approx(2 / 2), "users": pytest.approx(2 / 5)},
    }


def test_accuracy_of_a_class_that_is_absent_is_nan() -> None:
    acc = accuracy(OBSERVED, SIMULATED, classes=(0, 1, 2, 9))
    assert math.isnan(acc["per_class"][9]["producers"])
    assert math.isnan(acc["per_class"][9]["users"])
    assert acc["kappa"] == pytest.approx(1 / 7)


@settings(max_examples=40)
@given(three_maps())
def test_kappa_is_one_for_identical_maps(maps: tuple[np.ndarray, ...]) -> None:
    init, _, _, mask = maps
    acc = accuracy(init, init, classes=CLASSES, mask=mask)
    scored = init[mask & (init != NODATA)]
    if len(np.unique(scored)) >= 2:
        assert acc["kappa"] == 1.0
        assert acc["overall_accuracy"] == 1.0
    else:
        # One class or none: chance agreement is already perfect, kappa is 0 / 0.
        assert math.isnan(acc["kappa"])


def test_kappa_simulation_by_hand() -> None:
    # Expected agreement of the transitions, per initial class j: sum_k O_jk S_jk / n_j,
    # with O_jk / S_jk the cells going from j to k observed / simulated.
    # j=0 (cells 1 2 3 6 12): O = [2, 3, 0], S = [1, 2, 2] -> (2 + 6 + 0) / 5 = 8/5
    # j=1 (cells 4 7 9):      O = [0, 2, 1], S = [1, 1, 1] -> (0 + 2 + 1) / 3 = 1
    # j=2 (cells 5 8 10 11):  O = [2, 1, 1], S = [1, 1, 2] -> (2 + 1 + 2) / 4 = 5/4
    # p_e = (8/5 + 1 + 5/4) / 12 = 3.85 / 12;  p_o = 5 / 12;
    # K_sim = (5 - 3.85) / (12 - 3.85) = 1.15 / 8.15 = 23 / 163.
    ksim = kappa_simulation(INITIAL, OBSERVED, SIMULATED, classes=CLASSES)
    assert ksim == pytest.approx(23 / 163)


def test_kappa_simulation_is_one_for_a_perfect_simulation_of_change() -> None:
    assert kappa_simulation(INITIAL, OBSERVED, OBSERVED, classes=CLASSES) == pytest.approx(1.0)
    # Simulating no change at all: S_jk is n_j for k = j, so the expected agreement
    # sum_j O_jj / n is the observed persistence, which is also p_o: K_sim = 0.
    assert kappa_simulation(INITIAL, OBSERVED, INITIAL, classes=CLASSES) == pytest.approx(0.0)


# ------------------------------------------------------------------------ disagreement


def test_disagreement_by_hand() -> None:
    dis = disagreement(OBSERVED, SIMULATED, classes=CLASSES)
    # Quantity per class: |observed total - simulated total| / 12 = |4-3|, |6-4|, |2-5|.
    # Allocation per class: 2 min(observed - hits, simulated - hits) / 12:
    # class 0: 2 min(4-1, 3-1) = 4; class 1: 2 min(6-2, 4-2) = 4; class 2: 2 min(0, 3) = 0.
    assert dis["per_class"] == {
        0: {"quantity": pytest.approx(1 / 12), "allocation": pytest.approx(4 / 12)},
        1: {"quantity": pytest.approx(2 / 12), "allocation": pytest.approx(4 / 12)},
        2: {"quantity": pytest.approx(3 / 12), "allocation": pytest.approx(0.0)},
    }
    assert dis["quantity"] == pytest.approx((1 + 2 + 3) / 2 / 12)
    assert dis["allocation"] == pytest.approx((4 + 4 + 0) / 2 / 12)
    assert dis["total"] == pytest.approx(7 / 12)  # = 1 - 5/12


@settings(max_examples=60)
@given(three_maps(n_classes=4))
def test_quantity_plus_allocation_is_one_minus_accuracy(maps: tuple[np.ndarray, ...]) -> None:
    _, obs, sim, mask = maps
    classes = (0, 1, 2, 3)
    dis = disagreement(obs, sim, classes=classes, mask=mask)
    oa = accuracy(obs, sim, classes=classes, mask=mask)["overall_accuracy"]
    if math.isnan(oa):  # no cell scored
        assert math.isnan(dis["total"])
        return
    assert dis["quantity"] + dis["allocation"] == pytest.approx(1.0 - oa)
    assert dis["quantity"] >= 0 and dis["allocation"] >= -1e-12


# ---------------------------------------------------------- multiple-resolution agreement


def test_agreement_by_resolution_by_hand() -> None:
    obs = np.array([[0, 0, 1, 1], [0, 1, 1, 1]], dtype=np.uint8)
    sim = np.array([[1, 0, 1, 0], [0, 0, 1, 1]], dtype=np.uint8)
    rows = agreement_by_resolution(obs, sim, classes=(0, 1), factors=(1, 2, 4))
    # f=1: cells alike: (0,1) (0,2) (1,0) (1,2) (1,3) -> 5 / 8.
    # f=2: left window obs {0: 3, 1: 1}, sim {0: 3, 1: 1} -> 4;
    #      right window obs {1: 4}, sim {0: 1, 1: 3} -> min 0 + 3 = 3;  (4 + 3) / 8.
    # f=4: one window obs {0: 3, 1: 5}, sim {0: 4, 1: 4} -> 3 + 4 = 7;  7 / 8.
    assert rows == [
        {"factor": 1, "agreement": pytest.approx(5 / 8)},
        {"factor": 2, "agreement": pytest.approx(7 / 8)},
        {"factor": 4, "agreement": pytest.approx(7 / 8)},
    ]


def test_agreement_by_resolution_counts_the_part_windows_at_the_edge() -> None:
    obs = np.array([[0, 1, 1]], dtype=np.uint8)
    sim = np.array([[1, 0, 1]], dtype=np.uint8)
    rows = agreement_by_resolution(obs, sim, classes=(0, 1), factors=(1, 2, 3))
    # f=1: only the last cell agrees -> 1/3. f=2: window {0, 1} vs {1, 0} -> 2, the
    # one-cell window at the edge 1 vs 1 -> 1; 3/3. Same for f=3 (not a multiple of 2).
    assert [r["agreement"] for r in rows] == pytest.approx([1 / 3, 1.0, 1.0])


def agreement_reference(obs: np.ndarray, sim: np.ndarray, scored: np.ndarray, f: int) -> float:
    hits = 0
    for top in range(0, obs.shape[0], f):
        for left in range(0, obs.shape[1], f):
            win = (slice(top, top + f), slice(left, left + f))
            o, s = obs[win][scored[win]], sim[win][scored[win]]
            for c in set(o.tolist()) | set(s.tolist()):
                hits += min(int(np.sum(o == c)), int(np.sum(s == c)))
    return hits / scored.sum() if scored.any() else math.nan


@settings(max_examples=60)
@given(three_maps(max_side=40))
def test_agreement_rises_with_the_window_and_starts_at_the_accuracy(
    maps: tuple[np.ndarray, ...],
) -> None:
    _, obs, sim, mask = maps
    rows = agreement_by_resolution(obs, sim, classes=CLASSES, mask=mask)
    values = [r["agreement"] for r in rows]
    assert [r["factor"] for r in rows] == [1, 2, 4, 8, 16, 32]
    oa = accuracy(obs, sim, classes=CLASSES, mask=mask)["overall_accuracy"]
    if math.isnan(oa):
        assert all(math.isnan(v) for v in values)
        return
    assert values[0] == pytest.approx(oa)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(values))
    scored = mask & (obs != NODATA) & (sim != NODATA)
    for f, v in zip((1, 2, 4, 8, 16, 32), values, strict=True):
        assert v == pytest.approx(agreement_reference(obs, sim, scored, f))


@settings(max_examples=30)
@given(three_maps(max_side=30), st.lists(st.integers(1, 12), min_size=1, max_size=5))
def test_agreement_for_any_factors_matches_the_reference(
    maps: tuple[np.ndarray, ...], factors: list[int]
) -> None:
    _, obs, sim, mask = maps
    rows = agreement_by_resolution(obs, sim, classes=CLASSES, mask=mask, factors=factors)
    scored = mask & (obs != NODATA) & (sim != NODATA)
    for f, row in zip(factors, rows, strict=True):
        assert row["factor"] == f
        expected = agreement_reference(obs, sim, scored, f)
        if math.isnan(expected):
            assert math.isnan(row["agreement"])
        else:
            assert row["agreement"] == pytest.approx(expected)


@pytest.mark.parametrize("strip_rows", [4, 5, 256])
def test_agreement_counted_in_strips_matches_the_reference(
    monkeypatch: pytest.MonkeyPatch, strip_rows: int
) -> None:
    # Windows are counted strip by strip; small strips put many strip seams in a small map.
    monkeypatch.setattr(metrics, "_STRIP_ROWS", strip_rows)
    rng = np.random.default_rng(7)
    obs = rng.integers(0, 3, (41, 9), dtype=np.uint8)
    sim = rng.integers(0, 3, (41, 9), dtype=np.uint8)
    mask = rng.random((41, 9)) > 0.2
    factors = (1, 2, 3, 5, 6, 12, 64)
    rows = agreement_by_resolution(obs, sim, classes=CLASSES, mask=mask, factors=factors)
    for f, row in zip(factors, rows, strict=True):
        assert row["agreement"] == pytest.approx(agreement_reference(obs, sim, mask, f)), f


# ------------------------------------------------------------------- landscape metrics

# Class 1 forms two 8-connected patches: {(0,0), (0,1), (1,0)} and the diagonal chain
# {(1,3), (2,2), (3,1), (3,3)}; with 4-connectivity it would be five. Class 0 (nine cells)
# is one patch, joined through diagonals.
LANDSCAPE = np.array(
    [
        [1, 1, 0, 0],
        [1, 0, 0, 1],
        [0, 0, 1, 0],
        [0, 1, 0, 1],
    ],
    dtype=np.uint8,
)
# Sides between the classes: rows 1 + 2 + 2 + 3 = 8, columns 1 + 2 + 2 + 3 = 8: 16.


def test_landscape_metrics_by_hand() -> None:
    got = landscape_metrics(LANDSCAPE, classes=(0, 1), cell_size=10.0)
    assert got == {
        # area 9 cells x 100 in one patch; edge 16 sides x 10 / (16 cells x 100)
        0: {
            "n_patches": 1,
            "mean_patch_area": pytest.approx(900.0),
            "edge_density": pytest.approx(0.1),
            "largest_patch_index": pytest.approx(100 * 9 / 16),
        },
        # 7 cells x 100 in two patches; the largest has 4 of the 16 cells
        1: {
            "n_patches": 2,
            "mean_patch_area": pytest.approx(350.0),
            "edge_density": pytest.approx(0.1),
            "largest_patch_index": pytest.approx(25.0),
        },
    }


@pytest.mark.parametrize("how", ["mask", "nodata"])
def test_landscape_metrics_leave_out_unscored_cells(how: str) -> None:
    land = LANDSCAPE.copy()
    mask = None
    if how == "mask":
        mask = np.ones(land.shape, dtype=bool)
        mask[3, 3] = False
        land[3, 3] = 9  # a class outside the table is fine where it is not scored
    else:
        land[3, 3] = NODATA
    got = landscape_metrics(land, classes=(0, 1), mask=mask)
    # Without cell (3,3): 15 cells; its two sides with class 0 go, 14 sides are left.
    assert got[0]["edge_density"] == pytest.approx(14 / 15)
    assert got[1]["edge_density"] == pytest.approx(14 / 15)
    assert got[1]["n_patches"] == 2
    assert got[1]["mean_patch_area"] == pytest.approx(6 / 2)
    assert got[1]["largest_patch_index"] == pytest.approx(100 * 3 / 15)
    assert got[0]["largest_patch_index"] == pytest.approx(100 * 9 / 15)


def test_landscape_metrics_of_an_absent_class() -> None:
    got = landscape_metrics(LANDSCAPE, classes=(0, 1, 2))
    assert got[2]["n_patches"] == 0
    assert math.isnan(got[2]["mean_patch_area"])
    assert got[2]["edge_density"] == 0.0
    assert got[2]["largest_patch_index"] == 0.0


def landscape_reference(
    land: np.ndarray, scored: np.ndarray, classes: tuple[int, ...]
) -> dict[int, dict[str, float]]:
    h, w = land.shape
    n = int(scored.sum())
    out = {}
    for c in classes:
        cell = scored & (land == c)
        seen = np.zeros_like(cell)
        sizes = []
        for r0 in range(h):
            for c0 in range(w):
                if not cell[r0, c0] or seen[r0, c0]:
                    continue
                seen[r0, c0] = True
                todo, size = deque([(r0, c0)]), 0
                while todo:
                    r, q = todo.popleft()
                    size += 1
                    for dr in (-1, 0, 1):
                        for dq in (-1, 0, 1):
                            rr, qq = r + dr, q + dq
                            if 0 <= rr < h and 0 <= qq < w and cell[rr, qq] and not seen[rr, qq]:
                                seen[rr, qq] = True
                                todo.append((rr, qq))
                sizes.append(size)
        edges = 0
        for r in range(h):
            for q in range(w):
                if not cell[r, q]:
                    continue
                for rr, qq in ((r - 1, q), (r + 1, q), (r, q - 1), (r, q + 1)):
                    if (
                        0 <= rr < h
                        and 0 <= qq < w
                        and scored[rr, qq]
                        and land[rr, qq] in classes
                        and land[rr, qq] != c
                    ):
                        edges += 1
        out[c] = {
            "n_patches": len(sizes),
            "mean_patch_area": sum(sizes) / len(sizes) if sizes else math.nan,
            "edge_density": edges / n if n else math.nan,
            "largest_patch_index": 100 * max(sizes, default=0) / n if n else math.nan,
        }
    return out


@settings(max_examples=60)
@given(three_maps(max_side=15))
def test_landscape_metrics_match_a_slow_reference(maps: tuple[np.ndarray, ...]) -> None:
    land, _, _, mask = maps
    got = landscape_metrics(land, classes=CLASSES, mask=mask)
    want = landscape_reference(land, mask & (land != NODATA), CLASSES)
    for c in CLASSES:
        for key, value in want[c].items():
            if math.isnan(value):
                assert math.isnan(got[c][key]), (c, key)
            else:
                assert got[c][key] == pytest.approx(value), (c, key)


# -------------------------------------------------------------------------- Lee–Sallee


def test_lee_sallee() -> None:
    a = np.array([[1, 1, 0], [0, 1, 0]], dtype=bool)
    b = np.array([[1, 0, 0], [1, 1, 0]], dtype=bool)
    # both: (0,0) (1,1) = 2; either: (0,0) (0,1) (1,0) (1,1) = 4
    assert lee_sallee(a, b) == pytest.approx(0.5)
    empty = np.zeros((2, 3), dtype=bool)
    assert lee_sallee(empty, empty) == 1.0
    assert lee_sallee(a, empty) == 0.0


# --------------------------------------------------------------------------- assess_maps


NAMES = {0: "crop", 1: "urban", 2: "forest"}


def test_assess_maps_gathers_every_metric() -> None:
    got = assess_maps(INITIAL, OBSERVED, SIMULATED, classes=NAMES, target=1, cell_size=30.0)
    json.dumps(got, allow_nan=False)  # strict JSON: nan is written as null
    assert got["n_scored"] == 12
    assert got["fom"] == figure_of_merit(INITIAL, OBSERVED, SIMULATED).as_dict()
    assert got["fom_target"] == figure_of_merit(INITIAL, OBSERVED, SIMULATED, target=1).as_dict()
    assert set(got["per_class_fom"]) == {"crop", "urban", "forest"}
    assert got["per_class_fom"]["urban"] == got["fom_target"]
    gains2 = figure_of_merit(INITIAL, OBSERVED, SIMULATED, target=2).as_dict()
    assert got["per_class_fom"]["forest"] == gains2
    assert got["accuracy"]["overall_accuracy"] == pytest.approx(5 / 12)
    assert got["accuracy"]["per_class"]["urban"]["users"] == pytest.approx(2 / 4)
    assert got["kappa_simulation"] == pytest.approx(23 / 163)
    assert got["disagreement"]["per_class"]["forest"]["quantity"] == pytest.approx(3 / 12)
    assert got["agreement_by_resolution"][0] == {"factor": 1, "agreement": 5 / 12}
    obs_land = landscape_metrics(OBSERVED, classes=CLASSES, cell_size=30.0)
    assert got["landscape"]["observed"]["urban"] == obs_land[1]
    # Lee–Sallee of urban: observed cells 1 2 3 7 9 10, simulated 1 5 7 12; both 1 7.
    assert got["lee_sallee_target"] == pytest.approx(2 / 8)


def test_assess_maps_without_target_and_with_undefined_ratios() -> None:
    same = np.zeros((3, 3), dtype=np.uint8)
    got = assess_maps(same, same, same, classes={0: "crop", 1: "urban"})
    json.dumps(got, allow_nan=False)
    assert got["fom_target"] is None and got["lee_sallee_target"] is None
    assert got["fom"]["fom"] is None  # no change anywhere: 0 / 0
    assert got["landscape"]["observed"]["urban"]["mean_patch_area"] is None


def test_assess_maps_scores_the_same_cells_everywhere() -> None:
    # Nodata only in the initial map still removes the cell from the two-map metrics.
    init = with_border(INITIAL, NODATA)
    got = assess_maps(
        init, with_border(OBSERVED, 0), with_border(SIMULATED, 1), classes=NAMES, target=1
    )
    assert got["n_scored"] == 12
    assert got["accuracy"]["overall_accuracy"] == pytest.approx(5 / 12)
    assert (
        got["landscape"]["simulated"]["urban"]["n_patches"]
        == (landscape_metrics(SIMULATED, classes=CLASSES)[1]["n_patches"])
    )


# ------------------------------------------------------------------------------ refusals


def test_maps_of_different_shapes_are_refused_naming_the_shapes() -> None:
    wide = np.zeros((3, 5), dtype=np.uint8)
    with pytest.raises(GridMismatchError, match=r"\(3, 4\).*\(3, 5\)"):
        figure_of_merit(INITIAL, OBSERVED, wide)
    with pytest.raises(GridMismatchError, match=r"mask \(3, 5\)"):
        accuracy(OBSERVED, SIMULATED, classes=CLASSES, mask=wide.astype(bool))
    with pytest.raises(GridMismatchError):
        lee_sallee(np.zeros((2, 2), bool), np.zeros((2, 3), bool))
    calls = [
        lambda: kappa_simulation(INITIAL, OBSERVED, wide, classes=CLASSES),
        lambda: disagreement(OBSERVED, wide, classes=CLASSES),
        lambda: agreement_by_resolution(OBSERVED, wide, classes=CLASSES),
        lambda: landscape_metrics(OBSERVED, classes=CLASSES, mask=wide),
        lambda: assess_maps(INITIAL, wide, SIMULATED, classes=NAMES),
    ]
    for call in calls:
        with pytest.raises(GridMismatchError, match="differ in shape"):
            call()


def test_codes_outside_the_classes_are_refused_naming_them() -> None:
    obs = OBSERVED.copy()
    obs[0, 0] = 7
    obs[0, 1] = 9
    with pytest.raises(InputError, match=r"observed: \[7, 9\]"):
        accuracy(obs, SIMULATED, classes=CLASSES)
    with pytest.raises(InputError, match=r"\[7, 9\]"):
        assess_maps(INITIAL, obs, SIMULATED, classes=NAMES)
    with pytest.raises(InputError, match=r"landuse: \[2\]"):
        landscape_metrics(OBSERVED, classes=(0, 1))
    # Wider integer types: codes beyond uint8 are named too.
    big = OBSERVED.astype(np.int32)
    big[1, 1] = 1000
    with pytest.raises(InputError, match=r"1000"):
        disagreement(big, SIMULATED, classes=CLASSES)
    with pytest.raises(InputError, match=r"0\.\.255.*observed: \[1000\]"):
        figure_of_merit(INITIAL, big, SIMULATED)
    # Masked out, an unknown code is not looked at.
    mask = np.ones(obs.shape, dtype=bool)
    mask[0, :2] = False
    accuracy(obs, SIMULATED, classes=CLASSES, mask=mask)


def test_bad_class_tables_and_maps_are_refused() -> None:
    with pytest.raises(InputError, match="more than once"):
        accuracy(OBSERVED, SIMULATED, classes=(0, 1, 1, 2))
    with pytest.raises(InputError, match="255 is nodata"):
        accuracy(OBSERVED, SIMULATED, classes=(0, 1, 2, 255))
    with pytest.raises(InputError, match="names must differ"):
        assess_maps(INITIAL, OBSERVED, SIMULATED, classes={0: "a", 1: "a", 2: "b"})
    with pytest.raises(InputError, match="target 5"):
        assess_maps(INITIAL, OBSERVED, SIMULATED, classes=NAMES, target=5)
    with pytest.raises(InputError, match="integers"):
        accuracy(OBSERVED.astype(float), SIMULATED, classes=CLASSES)
    with pytest.raises(InputError, match="2-D"):
        accuracy(OBSERVED.ravel(), SIMULATED.ravel(), classes=CLASSES)
    with pytest.raises(ValueError, match="factors"):
        agreement_by_resolution(OBSERVED, SIMULATED, classes=CLASSES, factors=(0,))
