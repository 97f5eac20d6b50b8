"""Neutral baselines for scoring a simulated land-use change.

A simulated map is only worth something where it places change better than a model
that knows nothing but how much changed (Pontius et al.; Hagen-Zanker and Lajoie 2008).
Both baselines here take the *observed quantity* of every transition i → k (the cells of
initial class i that hold class k in the observed map, i ≠ k, scored cells only) and
allocate exactly that many cells of class i to class k; every other cell keeps its
initial class. Their transition matrix therefore equals the observed one, so any
difference in score against a model of the same quantity is a difference in *where*.

- :func:`random_allocation`: the cells are drawn at random (seeded).
- :func:`nearest_allocation`: the cells of class i nearest (Euclidean) to land that
  already was class k in the initial map: growth by proximity alone.

Transitions are taken in a fixed order (most cells first, then by codes), so a cell
taken by one transition is not available to the next one from the same class.
Work is per class and per transition, never per cell, so both run in seconds on a
3000 × 3000 grid.

Maps are uint8 class codes with 255 as nodata; ``mask`` marks the scored cells.
"""

from __future__ import annotations

import numpy as np

from landsim.io.raster import NODATA

Transition = tuple[int, int]


def scored_cells(
    initial: np.ndarray, observed: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Cells that count: valid in both maps and, where given, inside ``mask``."""
    if initial.shape != observed.shape:
        raise ValueError(f"maps differ in shape: {initial.shape} vs {observed.shape}")
    scored = (initial != NODATA) & (observed != NODATA)
    if mask is not None:
        if mask.shape != initial.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the maps' {initial.shape}")
        scored &= mask.astype(bool, copy=False)
    return scored


def transition_counts(
    initial: np.ndarray, observed: np.ndarray, *, mask: np.ndarray | None = None
) -> dict[Transition, int]:
    """Cells per change i → k (i ≠ k) among the scored cells, in allocation order."""
    scored = scored_cells(initial, observed, mask)
    before = initial[scored].astype(np.int32)
    after = observed[scored].astype(np.int32)
    changed = before != after
    # One bincount over a pair code (i × 256 + k) counts every transition at once.
    pairs = np.bincount(before[changed] * 256 + after[changed], minlength=256 * 256)
    counts = {(int(p) // 256, int(p) % 256): int(pairs[p]) for p in np.flatnonzero(pairs)}
    return dict(sorted(counts.items(), key=lambda t: (-t[1], t[0])))


def _sources(counts: dict[Transition, int]) -> dict[int, list[tuple[int, int]]]:
    """Per source class, its (target, cells) in allocation order."""
    out: dict[int, list[tuple[int, int]]] = {}
    for (i, k), n in counts.items():
        out.setdefault(i, []).append((k, n))
    return out


def random_allocation(
    initial: np.ndarray,
    observed: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    seed: int,
) -> np.ndarray:
    """The observed quantity of each transition, placed on randomly drawn cells.

    For each transition i → k, ``n[i→k]`` scored cells of initial class i not taken by
    an earlier transition become k. Drawing all of a class's changing cells at once and
    handing them out in allocation order is the same as drawing transition by
    transition without replacement, with one draw per class instead of per transition.
    The same ``seed`` gives the same map (numpy's PCG64 ``Generator``).
    """
    counts = transition_counts(initial, observed, mask=mask)
    scored = scored_cells(initial, observed, mask).ravel()
    rng = np.random.default_rng(seed)
    out = initial.copy()
    flat = out.reshape(-1)
    start_flat = initial.reshape(-1)
    for i, targets in _sources(counts).items():
        pool = np.flatnonzero(scored & (start_flat == i))
        drawn = rng.choice(pool, size=sum(n for _, n in targets), replace=False)
        at = 0
        for k, n in targets:
            flat[drawn[at : at + n]] = k
            at += n
    return out


def _nearest_first(distance: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` smallest distances; ties go to the lower position.

    A partition finds the n-th smallest distance in linear time; everything strictly
    nearer is taken, and the cells at exactly that distance fill the rest in position
    order (the candidates are in flat-index order, so this is the flat-index tie-break).
    """
    if n >= distance.size:
        return np.arange(distance.size)
    cut = np.partition(distance, n - 1)[n - 1]
    nearer = np.flatnonzero(distance < cut)
    level = np.flatnonzero(distance == cut)[: n - nearer.size]
    return np.concatenate([nearer, level])


def _squared_distance_to(cells: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance (in cells) of every cell to the nearest true cell, flat.

    Squared integers order cells exactly as distances do, and equal distances stay exactly
    equal for the flat-index tie-break (no rounding of square roots); int32 also halves
    the memory of scipy's float64 distances and skips the square root (a third faster on
    Wuhan's grid, measured).
    """
    from scipy.ndimage import distance_transform_edt

    # The feature transform gives, per cell, the row and column of the nearest zero of
    # its input, which is a true cell here.
    nearest = distance_transform_edt(~cells, return_distances=False, return_indices=True)
    h, w = cells.shape
    dy = nearest[0] - np.arange(h, dtype=nearest.dtype)[:, None]
    dx = nearest[1] - np.arange(w, dtype=nearest.dtype)[None, :]
    del nearest
    dy *= dy
    dx *= dx
    dy += dx
    return dy.reshape(-1)


def nearest_allocation(
    initial: np.ndarray, observed: np.ndarray, *, mask: np.ndarray | None = None
) -> np.ndarray:
    """The observed quantity of each transition, placed nearest to the target class.

    For each transition i → k in allocation order, the ``n[i→k]`` scored cells of initial
    class i not yet taken whose Euclidean distance (in cells) to the nearest cell of
    class k in the *initial* map is smallest become k; ties go to the lower flat index.
    Distances are to class k as it was at the start (cells allocated earlier do not
    attract), so the result does not depend on growth the baseline itself invented.
    Where class k is absent from the initial map every distance is infinite and the
    cells are taken in flat-index order. Deterministic.
    """
    counts = transition_counts(initial, observed, mask=mask)
    scored = scored_cells(initial, observed, mask).ravel()
    out = initial.copy()
    flat = out.reshape(-1)
    start_flat = initial.reshape(-1)
    present = set(np.flatnonzero(np.bincount(start_flat, minlength=256)).tolist())
    # A distance map is an int32 grid (34 MB on Wuhan's grid): keep each only until the
    # last transition that needs it.
    last_use = {k: t for t, (_, k) in enumerate(counts)}
    distances: dict[int, np.ndarray] = {}
    pools: dict[int, np.ndarray] = {}
    for t, ((i, k), n) in enumerate(counts.items()):
        if i not in pools:
            pools[i] = np.flatnonzero(scored & (start_flat == i))
        pool = pools[i]
        if k in present:
            if k not in distances:
                distances[k] = _squared_distance_to(initial == k)
            d = distances[k][pool]
        else:
            d = np.full(pool.size, np.inf)
        chosen = _nearest_first(d, n)
        flat[pool[chosen]] = k
        keep = np.ones(pool.size, dtype=bool)
        keep[chosen] = False
        pools[i] = pool[keep]
        if last_use[k] == t:
            distances.pop(k, None)
    return out
