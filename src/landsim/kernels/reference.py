"""Plain-numpy versions of the kernels: the test oracle and the benchmark baseline.

They are written to be obviously right, not fast, and share no code with the kernels
beyond the random mixer's constants.
"""

from __future__ import annotations

import math

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def stream_key(seed: int, member: int, year: int) -> np.uint64:
    with np.errstate(over="ignore"):
        k = _mix64(np.array(seed, dtype=np.uint64) + _GOLDEN)
        k = _mix64(k ^ (np.array(member, dtype=np.uint64) * _GOLDEN + _GOLDEN))
        return np.uint64(_mix64(k ^ (np.array(year, dtype=np.uint64) * _M1 + _GOLDEN)))


def uniform(key: np.uint64, index: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = _mix64(np.uint64(key) + (index.astype(np.uint64) + np.uint64(1)) * _GOLDEN)
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def neighborhood_effect(landuse: np.ndarray, weights: np.ndarray, radius: int) -> np.ndarray:
    """Weighted neighbour share by summing shifted copies of the weight map.

    float32 throughout and summed in the kernel's order (columns, then rows, offsets
    ascending), so the result is bit-identical to the kernel, not merely close.
    """
    w = weights[landuse].astype(np.float32)
    ny, nx = landuse.shape
    padded = np.pad(w, radius)
    rows = np.zeros((ny + 2 * radius, nx), np.float32)
    for dj in range(-radius, radius + 1):
        rows += padded[:, radius + dj : radius + dj + nx]
    total = np.zeros((ny, nx), np.float32)
    for di in range(-radius, radius + 1):
        total += rows[radius + di : radius + di + ny]
    inv = np.float32(1.0 / ((2 * radius + 1) ** 2 - 1))
    return ((total - w) * inv).astype(np.float32)


def _perturbation(u: float, alpha: float) -> float:
    # Python's math calls the same C library as numba's kernels, so the draws' transform
    # is bit-identical on any machine; numpy's own SIMD log may differ in the last bit.
    if alpha == 0.0:
        return 2.0
    t = -math.log(u)
    if alpha == 1.0:
        return 1.0 + t
    if alpha == 0.5:
        return 1.0 + math.sqrt(t)
    return 1.0 + math.pow(t, alpha)


def urban_potential(
    suitability: np.ndarray,
    neighborhood: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
) -> np.ndarray:
    u = uniform(key, np.arange(suitability.size)).reshape(suitability.shape)
    noise = np.array([_perturbation(float(x), alpha) for x in u.ravel()]).reshape(u.shape)
    # The kernel's precision: float32 product, then float64 for the rest.
    neigh = (np.float32(1.0 - floor) * neighborhood).astype(np.float64)
    p = suitability.astype(np.float64) * (floor + neigh) * noise
    return np.where(candidate.astype(bool), p, -1.0).astype(np.float32)


def select_top(potential: np.ndarray, n: int) -> np.ndarray:
    """Flat indices of the n largest potentials >= 0, ties to the lower index, ascending."""
    flat = potential.ravel()
    idx = np.flatnonzero(flat >= 0)
    # lexsort: last key is primary; sort by potential descending, then index ascending.
    order = np.lexsort((idx, -flat[idx].astype(np.float64)))
    return np.sort(idx[order[:n]])


def row_sums(landuse: np.ndarray, weights: np.ndarray, radius: int) -> np.ndarray:
    """The row pass of ``neighborhood_effect``: per cell, the weights of the 2r+1 cells of
    its row around it (0 beyond the edge), added one by one left to right in float32."""
    ny, nx = landuse.shape
    out = np.zeros((ny, nx), np.float32)
    for i in range(ny):
        for j in range(nx):
            s = np.float32(0.0)
            for jj in range(j - radius, j + radius + 1):
                if 0 <= jj < nx:
                    s = np.float32(s + weights[landuse[i, jj]])
            out[i, j] = s
    return out


def select_urban(
    landuse: np.ndarray,
    weights: np.ndarray,
    radius: int,
    suitability: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    n: int,
) -> np.ndarray:
    """What ``kernels.step.select_urban`` must return: the year's three steps in a row."""
    neigh = neighborhood_effect(landuse, weights, radius)
    potential = urban_potential(suitability, neigh, candidate, floor, alpha, key)
    return select_top(potential, n)


# --------------------------------------------------------------------------- multi-class
# Oracles for ``kernels.multiclass``. Class maps hold class indices 0..K-1 and 255 off
# the land; the constants below are the kernels' own, restated (the tests check them).

NONE = 255
MAY_CHANGE = 1
ADAPT_MIN = 1e-6
ADAPT_MAX = 1e6


def class_neighbor_counts(cls: np.ndarray, n_classes: int, radius: int) -> np.ndarray:
    """``out[k, i, j]``: Moore neighbours of (i, j) within ``radius`` that are of class k.

    A plain loop over every cell's window: cells beyond the grid and off the land (255)
    count for no class; the centre does not count. int64.
    """
    ny, nx = cls.shape
    out = np.zeros((n_classes, ny, nx), dtype=np.int64)
    for i in range(ny):
        for j in range(nx):
            for ii in range(i - radius, i + radius + 1):
                for jj in range(j - radius, j + radius + 1):
                    if (ii, jj) == (i, j) or not (0 <= ii < ny and 0 <= jj < nx):
                        continue
                    k = int(cls[ii, jj])
                    if k != NONE:
                        out[k, i, j] += 1
    return out


def base_potentials(
    cls: np.ndarray,
    suit: np.ndarray,
    conv: np.ndarray,
    need_bits: np.ndarray,
    cell_rules: np.ndarray,
) -> np.ndarray:
    """``base[k, i, j]``: suit_k × conv[c, k] (float32) where the cell of class c may
    become k (its rule bits hold all k needs, or k is c), else 0; 0 off the land."""
    n_classes = suit.shape[0]
    ny, nx = cls.shape
    out = np.zeros((n_classes, ny, nx), dtype=np.float32)
    for i in range(ny):
        for j in range(nx):
            c = int(cls[i, j])
            if c == NONE:
                continue
            rules = int(cell_rules[i, j])
            for k in range(n_classes):
                bits = int(need_bits[k])
                if k == c or (rules & bits) == bits:
                    out[k, i, j] = np.float32(np.float32(suit[k, i, j]) * np.float32(conv[c, k]))
    return out


def combined_potential(
    k: int,
    d: int,
    i: int,
    j: int,
    r: float,
    counts: np.ndarray,
    base: np.ndarray,
    weights: np.ndarray,
    adapt: np.ndarray,
    seed_share: float,
) -> np.float32:
    """OP of class k for cell (i, j) in district d, with seed draw ``r``.

    OP = base_k × Ω_k × D[d, k], where Ω_k = w_k × n_k (``weights`` already carry
    1 / ((2r+1)² − 1)) when k has neighbours, else r × μ if r < base_k (a patch seed),
    else 0. Every product is float32, left to right.
    """
    f32 = np.float32
    s = f32(base[k, i, j])
    n = int(counts[k, i, j])
    r32 = f32(r)
    if n > 0:
        omega = f32(f32(weights[k]) * f32(n))
    elif r32 < s:
        omega = f32(r32 * f32(seed_share))
    else:
        omega = f32(0.0)
    return f32(f32(s * omega) * f32(adapt[d, k]))


def propose(
    cls: np.ndarray,
    dist: np.ndarray,
    done: np.ndarray,
    counts: np.ndarray,
    base: np.ndarray,
    weights: np.ndarray,
    adapt: np.ndarray,
    source: np.ndarray,
    cell_rules: np.ndarray,
    seed_share: float,
    key: np.uint64,
) -> tuple[np.ndarray, np.ndarray]:
    """The roulette, cell by cell: (prop, score), 255 and 0 where a cell proposes nothing.

    A cell proposes only if it is on the land, of a ``source`` class, not ``done`` and
    not frozen (``cell_rules & MAY_CHANGE``). For cell p = i·nx + j, with
    r = uniform(key, 2p + 1) (the seed draw), every class k gets OP_k (``base`` is 0
    where the conversion matrix or the rule bits forbid k); with total = Σ OP_k and
    u = uniform(key, 2p) × total, the pick is the first k with OP_k > 0 whose running
    sum reaches u. Picking the own class, or total ≤ 0, gives no proposal. The wheel
    runs in float32 (sums, u and the running sum).
    """
    n_classes = base.shape[0]
    ny, nx = cls.shape
    prop = np.full((ny, nx), NONE, dtype=np.uint8)
    score = np.zeros((ny, nx), dtype=np.float32)
    for i in range(ny):
        for j in range(nx):
            c = int(cls[i, j])
            rules = int(cell_rules[i, j])
            if c == NONE or not source[c] or done[i, j] or not (rules & MAY_CHANGE):
                continue
            p = i * nx + j
            r = np.float32(uniform(key, np.array([2 * p + 1]))[0])
            d = int(dist[i, j])
            ops = np.array(
                [
                    combined_potential(k, d, i, j, r, counts, base, weights, adapt, seed_share)
                    for k in range(n_classes)
                ],
                dtype=np.float32,
            )
            total = np.float32(0.0)
            for k in range(n_classes):
                total = np.float32(total + ops[k])
            if total <= 0:
                continue
            u = np.float32(np.float32(uniform(key, np.array([2 * p]))[0]) * total)
            running = np.float32(0.0)
            pick = NONE
            for k in range(n_classes):
                running = np.float32(running + ops[k])
                if ops[k] > 0 and running >= u:
                    pick = k
                    break
            if pick not in (NONE, c):
                prop[i, j] = pick
                score[i, j] = ops[pick]
    return prop, score


def adapt_coefficients(
    adapt: np.ndarray, gap_last: np.ndarray, gap_before: np.ndarray
) -> np.ndarray:
    """FLUS's self-adaptive inertia (Liu et al. 2017), element by element, as a new array.

    With G the gap demand − amount, G_last the latest and G_before the one before:
    |G_last| ≤ |G_before| (the gap did not grow): D stays; G_last < G_before < 0 (the
    overshoot grew): D × G_before / G_last; 0 < G_before < G_last (the shortfall grew):
    D × G_last / G_before; any other growth (the sign flipped, or G_before = 0): D stays.
    Then D is kept within [ADAPT_MIN, ADAPT_MAX]. float64 products, stored as float32.
    """
    out = np.array(adapt, dtype=np.float32, copy=True)
    for d, k in np.ndindex(out.shape):
        g_last = float(gap_last[d, k])
        g_before = float(gap_before[d, k])
        if abs(g_last) <= abs(g_before):
            continue
        if g_last < g_before < 0:
            out[d, k] = np.float32(max(float(out[d, k]) * (g_before / g_last), ADAPT_MIN))
        elif 0 < g_before < g_last:
            out[d, k] = np.float32(min(float(out[d, k]) * (g_last / g_before), ADAPT_MAX))
    return out


def accept(
    ranked: np.ndarray,
    prop: np.ndarray,
    cls: np.ndarray,
    dist: np.ndarray,
    cell_rules: np.ndarray,
    quota: np.ndarray,
    plan: np.ndarray,
    urban_room: np.ndarray,
    urban: int,
    first: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Greedy acceptance in rank order: (accepted, quota, plan, urban_room), the last
    three as new arrays after the decrements.

    A proposal c → k in district d converts while ``quota[d, k] > 0`` and
    ``plan[d, c, k] > 0``, except that a cell open to urban (rule bits MAY_CHANGE and
    MAY_BECOME_URBAN) goes to a class other than urban only while
    ``urban_room[d, c] > plan[d, c, urban]``. Each acceptance takes one from quota[d, k]
    and plan[d, c, k], and from urban_room[d, c] when the cell is open to urban. With
    ``first`` ≥ 0, class ``first``'s proposals go through the ranking in a sweep of
    their own before everyone else's.
    """
    quota, plan, urban_room = (np.array(a, copy=True) for a in (quota, plan, urban_room))
    nx = cls.shape[1]
    sweeps = [None] if first < 0 else [True, False]
    accepted = []
    for is_first in sweeps:
        for p in ranked:
            i, j = divmod(int(p), nx)
            k = int(prop[i, j])
            if is_first is not None and (k == first) != is_first:
                continue
            c = int(cls[i, j])
            d = int(dist[i, j])
            if quota[d, k] <= 0 or plan[d, c, k] <= 0:
                continue
            open_to_urban = (int(cell_rules[i, j]) & 3) == 3
            if open_to_urban and k != urban and urban_room[d, c] <= plan[d, c, urban]:
                continue
            quota[d, k] -= 1
            plan[d, c, k] -= 1
            if open_to_urban:
                urban_room[d, c] -= 1
            accepted.append(int(p))
    return np.array(accepted, dtype=np.int64), quota, plan, urban_room
