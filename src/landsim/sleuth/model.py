"""SLEUTH's growth rules as numba kernels: many members (and coefficient sets) at once.

One growth cycle is one year, synchronous: the four rules read the start-of-year urban
grid ``z`` and write new cells into ``delta``; at the end of the year ``delta`` merges
into ``z`` and the coefficients modify themselves (boom and bust years). The rules,
their order and every random test follow SLEUTH 3.0beta (``docs/sleuth.md`` lists them
with the reasoning); the random numbers do not: each member draws from its own
SplitMix64 stream, keyed by (seed, coefficient set, member), so results agree with
SLEUTH statistically, not bit for bit, and do not depend on the number of threads.

``run_members`` runs every (coefficient set, member) pair in parallel (``prange``); each
writes only its own rows of the outputs.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from landsim.kernels._jit import jit, jit_inline, jit_parallel
from landsim.kernels.random import mix64
from landsim.sleuth.stats import N_STATS, STAT_NAMES, lee_sallee, urban_stats

# Columns of the per-year statistics, in SLEUTH's avg.log order (its names).
STAT_COLUMNS = (
    "sng",
    "sdg",
    "sdc",
    "og",
    "rt",
    "pop",
    "area",
    "edges",
    "clusters",
    "xmean",
    "ymean",
    "rad",
    "slope",
    "cl_size",
    "diffus",
    "spread",
    "breed",
    "slp_res",
    "rd_grav",
    "%urban",
    "%road",
    "grw_rate",
    "leesalee",
    "grw_pix",
)
N_COLUMNS = len(STAT_COLUMNS)
C_SNG, C_SDG, C_SDC, C_OG, C_RT, C_POP = 0, 1, 2, 3, 4, 5
C_DIFFUS, C_SPREAD, C_BREED, C_SLP_RES, C_RD_GRAV = 14, 15, 16, 17, 18
C_PURBAN, C_PROAD, C_GRW_RATE, C_LEESALEE, C_GRW_PIX = 19, 20, 21, 22, 23

# Coefficient order in the arrays: SLEUTH's (diffusion, breed, spread, slope, road).
K_DIFF, K_BREED, K_SPREAD, K_SLOPE, K_ROAD = 0, 1, 2, 3, 4
# Self-modification constants, in this order.
SM_CRITICAL_LOW, SM_CRITICAL_HIGH, SM_CRITICAL_SLOPE, SM_BOOM, SM_BUST = 0, 1, 2, 3, 4
SM_ROAD_SENS, SM_SLOPE_SENS = 5, 6

# Where each measure of ``sleuth.stats.urban_stats`` goes among the columns.
MEASURE_COLUMN = np.array([STAT_COLUMNS.index(n) for n in STAT_NAMES], dtype=np.int64)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0

# The 8 neighbours in SLEUTH's cyclic order (util_get_next_neighbor: anticlockwise from
# the north-west); SLEUTH steps through them from a random start, so the order decides
# which neighbour is taken when some lie outside the image or off the road.
_NB_ROW = np.array([-1, 0, 1, 1, 1, 0, -1, -1], dtype=np.int64)
_NB_COL = np.array([-1, -1, -1, 0, 1, 1, 1, 0], dtype=np.int64)


@jit
def member_key(seed: np.uint64, coefficient_set: np.int64, member: np.int64) -> np.uint64:
    """The starting state of one member's stream."""
    k = mix64(np.uint64(seed) + _GOLDEN)
    k = mix64(k ^ (np.uint64(coefficient_set) * _GOLDEN + _GOLDEN))
    return mix64(k ^ (np.uint64(member) * np.uint64(0xBF58476D1CE4E5B9) + _GOLDEN))


@jit_inline
def _uniform(state: np.ndarray) -> float:
    """Next draw in [0, 1) of a SplitMix64 stream kept in ``state[0]``."""
    state[0] += _GOLDEN
    return np.float64(mix64(state[0]) >> _S11) * _INV53


@jit_inline
def _randint(state: np.ndarray, n: np.int64) -> np.int64:
    """An integer in [0, n), as SLEUTH's RANDOM_INT: the floor of a uniform times n."""
    return np.int64(_uniform(state) * n)


@jit
def slope_weights(slope_resistance: float, critical_slope: float, out: np.ndarray) -> None:
    """SLEUTH's slope lookup table: 1 - ((cs - s) / cs) ** (resistance / 50) below cs."""
    exponent = slope_resistance / 50.0
    for s in range(out.shape[0]):
        if s < critical_slope:
            out[s] = np.float32(1.0 - math.pow((critical_slope - s) / critical_slope, exponent))
        else:
            out[s] = np.float32(1.0)


@jit_inline
def _urbanize(
    r: np.int64,
    c: np.int64,
    z: np.ndarray,
    delta: np.ndarray,
    slope: np.ndarray,
    excluded: np.ndarray,
    weights: np.ndarray,
    state: np.ndarray,
) -> bool:
    """The urbanisation test of every rule; on success the cell joins ``delta``."""
    if z[r, c] != 0 or delta[r, c] != 0:
        return False
    if not _uniform(state) > weights[slope[r, c]]:
        return False
    if not excluded[r, c] < _randint(state, 100):
        return False
    delta[r, c] = 1
    return True


@jit_inline
def _urbanize_neighbour(
    r: np.int64,
    c: np.int64,
    z: np.ndarray,
    delta: np.ndarray,
    slope: np.ndarray,
    excluded: np.ndarray,
    weights: np.ndarray,
    state: np.ndarray,
    found: np.ndarray,
) -> bool:
    """Try a random neighbour (the first inside the image from a random start); its
    position goes to ``found``."""
    ny, nx = z.shape
    k = _randint(state, 8)
    rr, cc = r, c
    for _ in range(8):
        rr = r + _NB_ROW[k]
        cc = c + _NB_COL[k]
        if 0 <= rr < ny and 0 <= cc < nx:
            break
        k = (k + 1) % 8
    found[0] = rr
    found[1] = cc
    return _urbanize(rr, cc, z, delta, slope, excluded, weights, state)


@jit_inline
def _spiral(index: np.int64) -> tuple[np.int64, np.int64]:
    """Offset of the ``index``-th cell of SLEUTH's square spiral around a centre.

    Ring ``b`` (b >= 1) holds 8b cells: its left column top to bottom, bottom row, right
    column bottom to top, top row right to left.
    """
    b = np.int64(1)
    while 4 * b * (b + 1) <= index:
        b += 1
    o = index - 4 * (b - 1) * b
    side = 2 * b + 1
    if o < side:
        return -b + o, -b
    o -= side
    if o < side - 2:
        return b, -b + 1 + o
    o -= side - 2
    if o < side:
        return b - o, b
    o -= side
    return -b, b - 1 - o


@jit
def _grow_year(
    z: np.ndarray,
    delta: np.ndarray,
    slope: np.ndarray,
    excluded: np.ndarray,
    roads: np.ndarray,
    weights: np.ndarray,
    coeff: np.ndarray,
    state: np.ndarray,
    growth: np.ndarray,
    counts: np.ndarray,
) -> None:
    """One growth cycle's four rules into ``delta`` (zeroed here); ``counts`` gets the
    cells each rule urbanised: spontaneous, new centres, edge, road."""
    ny, nx = z.shape
    delta[:] = 0
    found = np.zeros(2, dtype=np.int64)
    diffusion = coeff[K_DIFF]
    breed = coeff[K_BREED]
    spread = coeff[K_SPREAD]
    sng = 0
    sdg = 0
    og = 0
    rt = 0

    # 1 + 2: spontaneous growth; some new cells become spreading centres.
    tries = 1 + np.int64(diffusion * 0.005 * math.sqrt(ny * ny + nx * nx))
    for _ in range(tries):
        r = _randint(state, ny)
        c = _randint(state, nx)
        interior = 0 < r < ny - 1 and 0 < c < nx - 1
        if interior and _urbanize(r, c, z, delta, slope, excluded, weights, state):
            sng += 1
            if _randint(state, 101) < np.int64(breed):
                made = 0
                for _t in range(8):
                    if _urbanize_neighbour(r, c, z, delta, slope, excluded, weights, state, found):
                        sdg += 1
                        made += 1
                        if made == 2:
                            break

    # 3: edge growth from urban cells with 2..7 urban neighbours.
    for r in range(1, ny - 1):
        for c in range(1, nx - 1):
            if z[r, c] != 0 and _randint(state, 101) < spread:
                n = 0
                for k in range(8):
                    if z[r + _NB_ROW[k], c + _NB_COL[k]] != 0:
                        n += 1
                if 2 <= n < 8:
                    k = _randint(state, 8)
                    if _urbanize(
                        r + _NB_ROW[k], c + _NB_COL[k], z, delta, slope, excluded, weights, state
                    ):
                        og += 1

    # 4: road-influenced growth from this year's new cells.
    n_growth = 0
    for r in range(ny):
        for c in range(nx):
            if delta[r, c] != 0:
                growth[n_growth] = r * nx + c
                n_growth += 1
    if n_growth > 0:
        rg = np.int64(coeff[K_ROAD] / 100.0 * ((ny + nx) / 16.0))
        max_index = max(4 * rg * (1 + rg), ny, nx)
        for _ in range(1 + np.int64(breed)):
            g = growth[np.int64(n_growth * _uniform(state))]
            gr = g // nx
            gc = g % nx
            road_found = False
            ir = np.int64(0)
            jr = np.int64(0)
            for index in range(max_index):
                di, dj = _spiral(index)
                ii = gr + di
                jj = gc + dj
                if 0 <= ii < ny and 0 <= jj < nx and roads[ii, jj] != 0:
                    road_found = True
                    ir = ii
                    jr = jj
                    break
            if not road_found:
                continue
            # Walk along the road until the run is longer than the road's weight allows.
            run = 0
            spread_here = False
            while True:
                moved = False
                k = _randint(state, 8)
                for _k in range(8):
                    ii = ir + _NB_ROW[k]
                    jj = jr + _NB_COL[k]
                    if 0 <= ii < ny and 0 <= jj < nx and roads[ii, jj] != 0:
                        moved = True
                        run += 1
                        ir = ii
                        jr = jj
                        break
                    k = (k + 1) % 8
                if run > np.int64(roads[ir, jr] / 100.0 * diffusion):
                    spread_here = True
                    break
                if not moved:
                    break
            if not spread_here:
                continue
            if _urbanize_neighbour(ir, jr, z, delta, slope, excluded, weights, state, found):
                rt += 1
                nr = found[0]
                nc = found[1]
                for _t in range(3):
                    if _urbanize_neighbour(
                        nr, nc, z, delta, slope, excluded, weights, state, found
                    ):
                        rt += 1
    counts[0] = sng
    counts[1] = sdg
    counts[2] = og
    counts[3] = rt


@jit
def _self_modify(
    coeff: np.ndarray, growth_rate: float, percent_urban: float, sm: np.ndarray
) -> None:
    """SLEUTH's boom and bust years: coefficients drift with the growth rate."""
    if growth_rate > sm[SM_CRITICAL_HIGH]:
        coeff[K_SLOPE] -= percent_urban * sm[SM_SLOPE_SENS]
        if coeff[K_SLOPE] <= 1.0:
            coeff[K_SLOPE] = 1.0
        coeff[K_ROAD] += percent_urban * sm[SM_ROAD_SENS]
        if coeff[K_ROAD] > 100.0:
            coeff[K_ROAD] = 100.0
        if coeff[K_DIFF] < 100.0:
            for k in (K_DIFF, K_BREED, K_SPREAD):
                coeff[k] *= sm[SM_BOOM]
                if coeff[k] > 100.0:
                    coeff[k] = 100.0
    elif growth_rate < sm[SM_CRITICAL_LOW]:
        coeff[K_SLOPE] += percent_urban * sm[SM_SLOPE_SENS]
        if coeff[K_SLOPE] > 100.0:
            coeff[K_SLOPE] = 100.0
        coeff[K_ROAD] -= percent_urban * sm[SM_ROAD_SENS]
        if coeff[K_ROAD] <= 1.0:
            coeff[K_ROAD] = 1.0
        for k in (K_DIFF, K_BREED, K_SPREAD):
            coeff[k] *= sm[SM_BUST]
            if coeff[k] <= 1.0:
                coeff[k] = 1.0


@jit_parallel
def run_members(
    seed_urban: np.ndarray,
    slope: np.ndarray,
    excluded: np.ndarray,
    roads: np.ndarray,
    road_index: np.ndarray,
    coefficients: np.ndarray,
    self_modification: np.ndarray,
    seed: np.uint64,
    members: np.int64,
    stat_year: np.ndarray,
    observed: np.ndarray,
    observed_index: np.ndarray,
    out_stats: np.ndarray,
    out_final_urban: np.ndarray,
    out_final_coefficients: np.ndarray,
    measure_column: np.ndarray,
) -> None:
    """Run ``members`` members for each row of ``coefficients`` over ``len(road_index)``
    years after the seed.

    ``roads[road_index[y]]`` is the road grid (0–100) of simulated year ``y``;
    ``stat_year[y]`` marks the years whose spatial statistics are wanted;
    ``observed[observed_index[y]]`` is the observed urban grid of year ``y`` for
    Lee–Sallee (index -1: none). Fills ``out_stats[set, member, y, column]``
    (``STAT_COLUMNS``; spatial columns only in stat years, NaN otherwise), each
    member's final urban grid into ``out_final_urban[set, member]`` when that array is
    not empty (calibration passes an empty one), and the coefficients after the last
    year into ``out_final_coefficients[set, member]``.
    """
    ny, nx = seed_urban.shape
    n_sets = coefficients.shape[0]
    n_years = road_index.shape[0]
    total = ny * nx
    n_excluded = 0
    for r in range(ny):
        for c in range(nx):
            if excluded[r, c] >= 100:
                n_excluded += 1
    road_cells = np.zeros(roads.shape[0], dtype=np.int64)
    for k in range(roads.shape[0]):
        for r in range(ny):
            for c in range(nx):
                if roads[k, r, c] != 0:
                    road_cells[k] += 1
    keep_finals = out_final_urban.shape[0] == n_sets
    for job in numba.prange(n_sets * members):
        s = job // members
        m = job % members
        state = np.empty(1, dtype=np.uint64)
        state[0] = member_key(seed, s, m)
        z = seed_urban.copy()
        delta = np.zeros((ny, nx), dtype=np.uint8)
        growth = np.empty(total, dtype=np.int64)
        weights = np.empty(256, dtype=np.float32)
        counts = np.zeros(4, dtype=np.int64)
        measures = np.empty(N_STATS, dtype=np.float64)
        coeff = coefficients[s].copy()
        for k in range(5):
            if coeff[k] < 1.0:
                coeff[k] = 1.0  # SLEUTH runs a coefficient of 0 as 1
        pop = 0
        for r in range(ny):
            for c in range(nx):
                if z[r, c] != 0:
                    pop += 1
        for y in range(n_years):
            row = out_stats[s, m, y]
            row[C_DIFFUS] = coeff[K_DIFF]
            row[C_SPREAD] = coeff[K_SPREAD]
            row[C_BREED] = coeff[K_BREED]
            row[C_SLP_RES] = coeff[K_SLOPE]
            row[C_RD_GRAV] = coeff[K_ROAD]
            slope_weights(coeff[K_SLOPE], self_modification[SM_CRITICAL_SLOPE], weights)
            rk = road_index[y]
            _grow_year(z, delta, slope, excluded, roads[rk], weights, coeff, state, growth, counts)
            grown = 0
            for r in range(ny):
                for c in range(nx):
                    if delta[r, c] != 0 and excluded[r, c] < 100 and z[r, c] == 0:
                        z[r, c] = 1
                        grown += 1
            pop += grown
            row[C_SNG] = counts[0]
            row[C_SDG] = counts[1]
            row[C_SDC] = 0.0
            row[C_OG] = counts[2]
            row[C_RT] = counts[3]
            row[C_GRW_PIX] = grown
            growth_rate = 100.0 * grown / pop if pop > 0 else 0.0
            percent_urban = 100.0 * (pop + road_cells[rk]) / (total - road_cells[rk] - n_excluded)
            row[C_GRW_RATE] = growth_rate
            row[C_PURBAN] = percent_urban
            row[C_PROAD] = 100.0 * road_cells[rk] / total
            if stat_year[y]:
                urban_stats(z, slope, measures)
                for k in range(N_STATS):
                    row[measure_column[k]] = measures[k]
            else:
                for k in range(N_STATS):
                    row[measure_column[k]] = np.nan
            row[C_POP] = pop
            oi = observed_index[y]
            if oi >= 0:
                row[C_LEESALEE] = lee_sallee(z, observed[oi])
            else:
                row[C_LEESALEE] = np.nan
            _self_modify(coeff, growth_rate, percent_urban, self_modification)
        for k in range(5):
            out_final_coefficients[s, m, k] = coeff[k]
        if keep_finals:
            out_final_urban[s, m] = z
