"""Kernels of the multi-class allocation (FLUS/PLUS-style competition of every class).

State is a class *index* map ``cls`` (uint8, 0..K-1, 255 off the land) and, per class, the
count of each cell's Moore neighbours of that class (``counts[K, ny, nx]``, uint8 for
radius ≤ 7, else uint16). Counts are built once (``class_neighbor_counts``) and then moved
cell by cell as cells convert (``apply_conversions``), so a year costs in proportion to
its change, not to the grid, for the neighbourhood.

``propose_*`` run the roulette: for a cell of class c, every class k gets the combined
potential

    OP_k = base_k × Ω_k × D[d, k],   base_k = suit_k × (1 − cost[c, k])

(``base_potentials``: 0 where the conversion matrix or the planning rules forbid c → k;
kept per cell and recomputed only when the cell converts or a period starts), with
Ω_k = w_k × n_k / ((2r+1)² − 1) the weighted neighbourhood share of k; where k is absent
from the window (n_k = 0) a draw r < base_k lets the cell seed a new patch with
Ω_k = r × μ (PLUS's multi-type random patch seeds; a conversion cost makes a seed rarer
too). Everything is float32, left to right. The current class competes with its own
Ω_c and adaptive coefficient D_c (FLUS's inertia; no conversion cost). A roulette
wheel over the OP_k picks the cell's candidate class; picking its own class (or nothing)
leaves no proposal, and ``propose_all`` keeps only the pairs c → k the year's plan has
flow for. ``score`` is the winner's OP, by which ``collect_candidates`` and
``accept_candidates`` rank proposals when a class has more of them than it needs.

Draws are counter-based (``random.uniform(key, 2·cell)`` for the wheel and
``2·cell + 1`` for the seed), so results do not depend on threads or visiting order.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from landsim.kernels._jit import jit, jit_inline, jit_parallel
from landsim.kernels.random import uniform

NONE = 255
# cell_rules bits: what the planning lines let a cell become.
MAY_CHANGE = 1  # not inside a no_change line
MAY_BECOME_URBAN = 2  # the period's urban candidate mask
MAY_BECOME_CONSTRUCTION = 4  # not inside a no_construction (or no_change) line
URBAN_OPEN = MAY_CHANGE | MAY_BECOME_URBAN
# target_kind values per class
PLAIN, URBAN, CONSTRUCTION = 0, 1, 2
# Score histogram: the top 14 bits of a positive float32 (exponent and 6 mantissa bits)
# order it like its value.
HIST_SHIFT = 17
HIST_BINS = 1 << 14
# The adaptive coefficient is kept within these bounds: a gap that keeps growing for
# decades (a demand no roulette meets) would otherwise overflow.
ADAPT_MIN = 1e-6
ADAPT_MAX = 1e6


@jit_parallel
def class_neighbor_counts(cls: np.ndarray, radius: int, work: np.ndarray, out: np.ndarray) -> None:
    """``out[k, i, j]``: cells of class k among the (2r+1)² − 1 Moore neighbours of (i, j).

    Cells beyond the grid and off the land (255) count for no class. ``work`` is a
    uint16 [K, ny, nx] buffer for the row pass (a sliding window: O(1) per cell whatever
    K); the column pass adds 2r+1 rows per class and takes the centre out. Integer sums:
    exact, so any thread count gives the same counts.
    """
    n_classes = out.shape[0]
    ny, nx = cls.shape
    for i in prange(ny):
        c = np.zeros(n_classes, dtype=np.int32)
        for jj in range(min(radius, nx - 1) + 1):
            k = cls[i, jj]
            if k != NONE:
                c[k] += 1
        for j in range(nx):
            for k in range(n_classes):
                work[k, i, j] = c[k]
            add = j + radius + 1
            if add < nx:
                k = cls[i, add]
                if k != NONE:
                    c[k] += 1
            rem = j - radius
            if rem >= 0:
                k = cls[i, rem]
                if k != NONE:
                    c[k] -= 1
    for i in prange(ny):
        acc = np.zeros(nx, dtype=np.int32)
        lo, hi = max(i - radius, 0), min(i + radius + 1, ny)
        for k in range(n_classes):
            acc[:] = 0
            for ii in range(lo, hi):
                for j in range(nx):
                    acc[j] += work[k, ii, j]
            for j in range(nx):
                out[k, i, j] = acc[j] - (1 if cls[i, j] == k else 0)


@jit_parallel
def base_potentials(cls, suit, conv, need_bits, cell_rules, out) -> None:
    """``out[k, i, j]`` = suit_k × conv[c, k] where the cell (of class c) may become k,
    else 0; suit_c itself for its own class (conv[c, c] = 1); 0 off the land.

    The part of OP that changes only when the cell converts or a period starts: the
    roulette then reads one contiguous plane per class instead of gathering conv[c, k]
    cell by cell (measured on Wuhan: the gather cost more than the rest of the wheel).
    """
    n_classes = suit.shape[0]
    ny, nx = cls.shape
    for i in prange(ny):
        for j in range(nx):
            _base_cell(i, j, cls, suit, conv, need_bits, cell_rules, out, n_classes)


@jit_inline
def _base_cell(i, j, cls, suit, conv, need_bits, cell_rules, out, n_classes):
    c = cls[i, j]
    rules = cell_rules[i, j]
    for k in range(n_classes):
        v = np.float32(0.0)
        if c != NONE and _may(rules, need_bits[k], c, k):
            v = suit[k, i, j] * conv[c, k]
        out[k, i, j] = v


@jit_parallel
def rebase_cells(cells, cls, suit, conv, need_bits, cell_rules, out) -> None:
    """``base_potentials`` again for the listed cells (distinct flat indices), after they
    converted. In parallel: each cell misses the cache in every plane it reads and
    writes (about 9 ms a year on Wuhan on one thread)."""
    nx = cls.shape[1]
    n_classes = suit.shape[0]
    for t in prange(cells.shape[0]):
        i = cells[t] // nx
        _base_cell(i, cells[t] - i * nx, cls, suit, conv, need_bits, cell_rules, out, n_classes)


@jit_inline
def _op(k, d, i, j, r, counts, base, weights, adapt, mu):
    """OP of class k for cell (i, j) in district d, seed draw ``r``: float32, left to
    right, the same expression as ``propose_all``'s vector loop, so both give the same
    bits."""
    s = base[k, i, j]
    n = counts[k, i, j]
    om = weights[k] * np.float32(n) if n > 0 else (r * mu if r < s else np.float32(0.0))
    return s * om * adapt[d, k]


@jit_inline
def _may(rules, bits, c, k) -> bool:
    return (rules & bits) == bits or c == k


@jit_inline
def _active(c, source, done, rules) -> bool:
    """The cell draws: on the land, of a class that gives cells this year, not converted
    this year, not frozen by a no_change line."""
    return c != NONE and source[c] != 0 and done == 0 and (rules & MAY_CHANGE) != 0


@jit_inline
def _propose_cell(
    p, nx, cls, dist, done, counts, base, weights, adapt, source, cell_rules, mu, key,
    prop, score, ops,
):  # fmt: skip
    i = p // nx
    j = p - i * nx
    prop[i, j] = NONE
    score[i, j] = 0.0
    c = cls[i, j]
    if not _active(c, source, done[i, j], cell_rules[i, j]):
        return
    n_classes = base.shape[0]
    d = dist[i, j]
    r = np.float32(uniform(key, 2 * p + 1))
    u = np.float32(uniform(key, 2 * p))
    # Sums in float32 of the float32 OPs, in class order, as propose_all adds them.
    total = np.float32(0.0)
    for k in range(n_classes):
        ops[k] = _op(k, d, i, j, r, counts, base, weights, adapt, mu)
        total += ops[k]
    if total <= 0.0:
        return
    u *= total
    acc = np.float32(0.0)
    pick = NONE
    for k in range(n_classes):
        acc += ops[k]
        if ops[k] > 0.0 and acc >= u:
            pick = k
            break
    if pick != c and pick != NONE:
        prop[i, j] = pick
        score[i, j] = ops[pick]


@jit_parallel
def propose_all(
    cls, dist, done, counts, base, weights, adapt, source, cell_rules, seed_share, key, plan,
    prop, score, row_cells, row_count,
):  # fmt: skip
    """The roulette for every cell: ``prop`` (class index or 255) and ``score`` (its OP),
    keeping only the proposals c → k that the year's ``plan`` has flow for (no other can
    be accepted this year); ``row_cells[i, :row_count[i]]`` lists the columns of row i's
    kept proposals, in order, for ``list_proposals``.

    Only cells of a ``source`` class (one with a surplus somewhere this year, so one
    that may give cells) draw. Row by row in straight loops over the whole row, class by
    class, the inactive cells masked to OP 0: every plane is read contiguously and the
    loops vectorise. The plan check and the row lists are made without a branch per cell:
    as a separate pass over the grid (a branch per proposal, mispredicted) it cost 12 ms a
    year on Wuhan.
    Measured on Wuhan (2,931², 2.5 M active cells, 2 threads): 81 ms with the kernel
    before last (active cells compacted, conv × D gathered per cell and class), 54-56 ms
    with full-row loops. The same bits as ``_propose_cell``.
    """
    ny, nx = cls.shape
    n_classes = base.shape[0]
    mu = np.float32(seed_share)
    # open_pair[d, c, k]: plan has flow c → k in d; index n_classes stands for NONE (no
    # class, no pick), never open, so the last loop needs no branch.
    n_d = plan.shape[0]
    open_pair = np.zeros((n_d, n_classes + 1, n_classes + 1), dtype=np.uint8)
    for d in range(n_d):
        for c in range(n_classes):
            for k in range(n_classes):
                open_pair[d, c, k] = plan[d, c, k] > 0 and c != k
    for i in prange(ny):
        act = np.empty(nx, dtype=np.bool_)
        n_act = 0
        for j in range(nx):
            a = _active(cls[i, j], source, done[i, j], cell_rules[i, j])
            act[j] = a
            n_act += a
        if n_act == 0:
            for j in range(nx):
                prop[i, j] = NONE
                score[i, j] = 0.0
            row_count[i] = 0
            continue
        # Runs of one district along the row: [run_end[q - 1], run_end[q]) is in run_d[q].
        run_end = np.empty(nx, dtype=np.intp)
        run_d = np.empty(nx, dtype=np.intp)
        n_runs = 0
        j = 0
        while j < nx:
            d = dist[i, j]
            e = j + 1
            while e < nx and dist[i, e] == d:
                e += 1
            run_end[n_runs] = e
            run_d[n_runs] = d
            n_runs += 1
            j = e
        # Draws for the active cells only: the hashes cost more than a branch here.
        r = np.zeros(nx, dtype=np.float32)
        u = np.zeros(nx, dtype=np.float32)
        for j in range(nx):
            if act[j]:
                p = i * nx + j
                r[j] = np.float32(uniform(key, 2 * p + 1))
                u[j] = np.float32(uniform(key, 2 * p))
        ops = np.empty((n_classes, nx), dtype=np.float32)
        total = np.zeros(nx, dtype=np.float32)
        d_row = np.empty(nx, dtype=np.float32)
        for k in range(n_classes):
            w = weights[k]
            row = ops[k]
            base_row = base[k, i]
            count_row = counts[k, i]
            # D[d, k] spread along the row first: the loop below then has one shape for
            # every cell (with the runs inside it, it did not vectorise: 3x slower).
            j0 = 0
            for q in range(n_runs):
                dk = adapt[run_d[q], k]
                for j in range(j0, run_end[q]):
                    d_row[j] = dk
                j0 = run_end[q]
            for j in range(nx):
                dk = d_row[j]
                s = base_row[j]
                n = count_row[j]
                om = w * np.float32(n) if n > 0 else (r[j] * mu if r[j] < s else np.float32(0.0))
                v = s * om * dk
                v = v if act[j] else np.float32(0.0)
                row[j] = v
                total[j] += v
        for j in range(nx):
            u[j] *= total[j]
        acc = np.zeros(nx, dtype=np.float32)
        pick = np.full(nx, n_classes, dtype=np.uint8)
        for k in range(n_classes):
            row = ops[k]
            for j in range(nx):
                acc[j] += row[j]
                hit = (row[j] > 0) & (acc[j] >= u[j]) & (pick[j] == n_classes)
                pick[j] = k if hit else pick[j]
        # A pick (< n_classes) has OP > 0, so its total is > 0 too.
        m = 0
        for j in range(nx):
            k = pick[j]
            ok = open_pair[dist[i, j], min(cls[i, j], n_classes), k] != 0
            prop[i, j] = k if ok else NONE
            score[i, j] = ops[min(k, n_classes - 1), j] if ok else np.float32(0.0)
            row_cells[i, m] = j
            m += ok
        row_count[i] = m


@jit_parallel
def propose_cells(
    cells, cls, dist, done, counts, base, weights, adapt, source, cell_rules, seed_share,
    key, prop, score,
):  # fmt: skip
    """The roulette again for the listed cells (flat indices) only."""
    nx = cls.shape[1]
    n_classes = base.shape[0]
    mu = np.float32(seed_share)
    n = cells.shape[0]
    chunk = 4096
    for b in prange((n + chunk - 1) // chunk):
        ops = np.empty(n_classes, dtype=np.float32)
        for t in range(b * chunk, min(n, (b + 1) * chunk)):
            _propose_cell(
                cells[t], nx, cls, dist, done, counts, base, weights, adapt, source,
                cell_rules, mu, key, prop, score, ops,
            )  # fmt: skip


@jit_parallel
def forced_scores(
    k, cls, dist, done, counts, base, weights, adapt, conv, need_bits, cell_rules,
    seed_share, key, plan, prop, score,
):  # fmt: skip
    """Class k's OP on every cell that could still give a cell to k, without the wheel.

    Used when the roulette did not propose enough cells for k: the cells whose class
    still owes k cells in the year's ``plan`` and may become k get ``prop = k`` and
    their OP as score (≥ 0; a cell with OP 0 is still eligible, ranked last).
    """
    ny, nx = cls.shape
    bits = need_bits[k]
    mu = np.float32(seed_share)
    for i in prange(ny):
        for j in range(nx):
            prop[i, j] = NONE
            c = cls[i, j]
            if c == NONE or c == k or done[i, j]:  # noqa: SIM109 (numba)
                continue
            rules = cell_rules[i, j]
            if conv[c, k] <= 0 or not (rules & MAY_CHANGE) or (rules & bits) != bits:
                continue
            d = dist[i, j]
            if plan[d, c, k] <= 0:
                continue
            r = np.float32(uniform(key, 2 * (i * nx + j) + 1))
            prop[i, j] = k
            score[i, j] = _op(k, d, i, j, r, counts, base, weights, adapt, mu)


# A queued proposal's sort key: the complement of its score's bits above the cell index,
# so ascending keys rank by score descending, then by cell index ascending.
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


@jit_inline
def _queue_key(score_bits, p):
    return ((_LOW32 - np.uint64(score_bits)) << _SHIFT32) | np.uint64(p)


@jit_inline
def _key_bin(key):
    """The histogram bin of a queue key's score (``score_bits >> HIST_SHIFT``)."""
    return np.int64((_LOW32 - (key >> _SHIFT32)) >> np.uint64(HIST_SHIFT))


@jit_parallel
def list_proposals(
    prop, score_bits, cls, dist, n_classes, row_cells, row_count, slot, qkey, qgroup, qpair,
    qlive,
) -> int:  # fmt: skip
    """Queue the proposals ``propose_all`` kept (``row_cells[i, :row_count[i]]``: the
    columns of row i's); returns how many.

    Entry t of the queue holds the proposal's sort key (``qkey``: score descending, then
    cell index), its (district, class) group d·K + k (``qgroup``), its pair
    (d·K + c)·K + k in the flat ``plan`` (``qpair``) and whether it still stands
    (``qlive``); ``slot[cell]`` is its entry. The queue is what ``collect_queued`` reads
    each round: compact arrays in a straight pass, where reading each proposal's state
    off the grid cost a cache miss per array per cell. Rows are filled in parallel from
    their offsets, so the order is the cells' index order for any thread count.
    """
    ny, nx = prop.shape
    offsets = np.zeros(ny + 1, dtype=np.int64)
    for i in range(ny):
        offsets[i + 1] = offsets[i] + row_count[i]
    for i in prange(ny):
        t = offsets[i]
        for q in range(row_count[i]):
            j = row_cells[i, q]
            k = prop[i, j]
            qkey[t] = _queue_key(score_bits[i, j], i * nx + j)
            d = dist[i, j]
            qgroup[t] = d * n_classes + k
            qpair[t] = (d * n_classes + cls[i, j]) * n_classes + k
            qlive[t] = 1
            slot[i, j] = t
            t += 1
    return offsets[ny]


@jit
def requeue(cells, prop, score_bits, cls, dist, plan, slot, qkey, qgroup, qpair, qlive, n) -> int:
    """After the listed cells drew again: their old entries no longer stand, and each
    new proposal worth keeping (flow left for its pair) is appended at ``n``. Returns
    the new length; the caller leaves room for one entry per cell."""
    nx = prop.shape[1]
    n_classes = plan.shape[1]
    flat_slot = slot.reshape(-1)
    for t in range(cells.shape[0]):
        p = cells[t]
        _unqueue(p, flat_slot, qlive)
        i = p // nx
        j = p - i * nx
        k = prop[i, j]
        if k == NONE:
            continue
        d = dist[i, j]
        c = cls[i, j]
        if plan[d, c, k] <= 0:
            continue
        qkey[n] = _queue_key(score_bits[i, j], p)
        qgroup[n] = d * n_classes + k
        qpair[n] = (d * n_classes + c) * n_classes + k
        qlive[n] = 1
        flat_slot[p] = n
        n += 1
    return n


@jit
def retire(cells, slot, qlive) -> None:
    """The listed cells' queue entries no longer stand (the cells converted)."""
    flat_slot = slot.reshape(-1)
    for t in range(cells.shape[0]):
        _unqueue(cells[t], flat_slot, qlive)


@jit_inline
def _unqueue(p, flat_slot, qlive) -> None:
    """Cell p's queue entry, if it has one, no longer stands."""
    s = flat_slot[p]
    if s >= 0:
        qlive[s] = 0
        flat_slot[p] = -1


@jit
def clear_slots(qkey, n, slot) -> None:
    """Every queued cell's slot back to -1 (the queue restarts each year)."""
    flat_slot = slot.reshape(-1)
    for t in range(n):
        flat_slot[np.int64(qkey[t] & _LOW32)] = -1


@jit
def collect_queued(n, qkey, qgroup, qpair, qlive, quota, plan, hist, out) -> int:
    """The keys of the best standing proposals of every (district, class) with a quota.

    As ``collect_candidates`` does on the grid, on the first ``n`` queue entries: an
    entry counts when it stands, its class k has quota left in its district and the
    ``plan`` still has flow c → k there; the score histogram per group finds the bin
    holding the quota-th best, and every entry in that bin or above is returned (its
    key, in queue order) for the caller to sort exactly. Serial, two straight passes.
    """
    flat_quota = quota.reshape(-1)
    flat_plan = plan.reshape(-1)
    for g in range(flat_quota.shape[0]):
        if flat_quota[g] > 0:
            hist[g, :] = 0
    for t in range(n):
        g = qgroup[t]
        if qlive[t] and flat_quota[g] > 0 and flat_plan[qpair[t]] > 0:
            hist[g, _key_bin(qkey[t])] += 1
    threshold = _thresholds(quota, hist)
    m = 0
    for t in range(n):
        g = qgroup[t]
        if (
            qlive[t]
            and flat_quota[g] > 0
            and flat_plan[qpair[t]] > 0
            and _key_bin(qkey[t]) >= threshold[g]
        ):
            out[m] = qkey[t]
            m += 1
    return m


@jit_inline
def _thresholds(quota, hist):
    """Per group d·K + k with a quota, the highest bin at or above which the histogram
    holds at least the quota (0 if it never does); HIST_BINS for the others."""
    n_districts, n_classes = quota.shape
    threshold = np.full(n_districts * n_classes, HIST_BINS, dtype=np.int64)
    for d in range(n_districts):
        for k in range(n_classes):
            q = quota[d, k]
            if q <= 0:
                continue
            g = d * n_classes + k
            cum = 0
            b = HIST_BINS - 1
            while b >= 0:
                cum += hist[g, b]
                if cum >= q:
                    break
                b -= 1
            threshold[g] = max(b, 0)
    return threshold


@jit_inline
def _open(p, flat_prop, flat_cls, flat_dist, flat_done, quota, plan) -> bool:
    """Cell p's proposal can still be taken: not done, quota and planned flow left."""
    k = flat_prop[p]
    if k == NONE or flat_done[p]:
        return False
    d = flat_dist[p]
    return quota[d, k] > 0 and plan[d, flat_cls[p], k] > 0


@jit
def collect_candidates(pool, prop, score_bits, cls, dist, done, quota, plan, hist, out) -> int:
    """From the ``pool`` of proposals, the best of every (district, class) with a quota.

    A proposal c → k counts when k has quota left and the ``plan`` still has flow
    c → k in its district. A
    histogram of the scores' top bits per (district, class) finds the bin holding the
    quota-th best; every proposal in that bin or above is returned (at most the quota
    plus one bin), for ``accept_candidates`` to rank exactly. Serial: one pass to count,
    one to collect, in pool order.
    """
    n_classes = quota.shape[1]
    hist[:] = 0
    flat_prop = prop.reshape(-1)
    flat_bits = score_bits.reshape(-1)
    flat_cls = cls.reshape(-1)
    flat_dist = dist.reshape(-1)
    flat_done = done.reshape(-1)
    for t in range(pool.shape[0]):
        p = pool[t]
        if _open(p, flat_prop, flat_cls, flat_dist, flat_done, quota, plan):
            g = flat_dist[p] * n_classes + flat_prop[p]
            hist[g, flat_bits[p] >> HIST_SHIFT] += 1
    threshold = _thresholds(quota, hist)
    n = 0
    for t in range(pool.shape[0]):
        p = pool[t]
        if not _open(p, flat_prop, flat_cls, flat_dist, flat_done, quota, plan):
            continue
        if (flat_bits[p] >> HIST_SHIFT) >= threshold[flat_dist[p] * n_classes + flat_prop[p]]:
            out[n] = p
            n += 1
    return n


@jit
def accept_candidates(
    ranked, prop, cls, dist, cell_rules, quota, plan, urban_room, urban, first, out
) -> int:
    """Greedy acceptance in rank order: a proposal c → k converts while k's district has
    quota for k and the ``plan`` still has flow c → k. A cell open to urban goes to
    another class only while its class keeps enough such cells for the planned flow
    c → urban (``urban_room[d, c]``: cells of c open to urban, not yet converted), so no
    other class strands urban. Class ``first`` (-1: none) goes first: its proposals are
    accepted in a sweep of their own before the others'. Returns how many were accepted
    (their flat indices in ``out``); ``quota``, ``plan`` and ``urban_room`` are
    decremented.
    """
    flat_prop = prop.reshape(-1)
    flat_cls = cls.reshape(-1)
    flat_dist = dist.reshape(-1)
    flat_rules = cell_rules.reshape(-1)
    n = 0
    for sweep in range(2 if first >= 0 else 1):
        for t in range(ranked.shape[0]):
            p = ranked[t]
            k = flat_prop[p]
            if first >= 0 and (k == first) != (sweep == 0):
                continue
            c = flat_cls[p]
            d = flat_dist[p]
            if quota[d, k] <= 0 or plan[d, c, k] <= 0:
                continue
            open_to_urban = (flat_rules[p] & URBAN_OPEN) == URBAN_OPEN
            if open_to_urban and k != urban and urban_room[d, c] <= plan[d, c, urban]:
                continue
            plan[d, c, k] -= 1
            quota[d, k] -= 1
            if open_to_urban:
                urban_room[d, c] -= 1
            out[n] = p
            n += 1
    return n


@jit
def apply_conversions(
    accepted, prop, cls, dist, done, counts, radius, dirty_flag, dirty, flows, cell_rules,
    by_rules,
) -> int:  # fmt: skip
    """Convert the accepted cells to their proposed class and move the neighbour counts.

    Every cell whose window held a converted cell and that may still change this year
    is listed once in ``dirty`` (its roulette must be drawn again); returns how many.
    ``flows[d, c, k]`` counts the conversions and ``by_rules`` (see
    ``rule_class_counts``) follows them. Serial, in the order given.
    """
    ny, nx = cls.shape
    n_dirty = 0
    # Every cell of the batch is done before any is listed dirty: a converted cell is
    # never listed, whatever its place in the batch.
    for t in range(accepted.shape[0]):
        p = accepted[t]
        i = p // nx
        done[i, p - i * nx] = 1
    for t in range(accepted.shape[0]):
        p = accepted[t]
        i = p // nx
        j = p - i * nx
        old = cls[i, j]
        new = prop[i, j]
        cls[i, j] = new
        prop[i, j] = NONE
        d = dist[i, j]
        flows[d, old, new] += 1
        b = cell_rules[i, j] & 7
        by_rules[d, old, b] -= 1
        by_rules[d, new, b] += 1
        for ii in range(max(i - radius, 0), min(i + radius + 1, ny)):
            for jj in range(max(j - radius, 0), min(j + radius + 1, nx)):
                if ii == i and jj == j:
                    continue
                counts[old, ii, jj] -= 1
                counts[new, ii, jj] += 1
                if not dirty_flag[ii, jj] and not done[ii, jj] and cls[ii, jj] != NONE:
                    dirty_flag[ii, jj] = 1
                    dirty[n_dirty] = ii * nx + jj
                    n_dirty += 1
    for t in range(n_dirty):
        p = dirty[t]
        i = p // nx
        dirty_flag[i, p - i * nx] = 0
    return n_dirty


@jit
def rule_class_counts(cls, dist, cell_rules, out) -> None:
    """``out[d, c, b]``: cells of class c in district d whose rule bits are b (0..7)."""
    out[:] = 0
    ny, nx = cls.shape
    for i in range(ny):
        for j in range(nx):
            c = cls[i, j]
            if c != NONE:
                out[dist[i, j], c, cell_rules[i, j] & 7] += 1


@jit
def adapt_coefficients(adapt, gap_last, gap_before) -> None:
    """FLUS's self-adaptive inertia, in place, from the last two gaps G (demand − amount).

    D stays when |G_last| ≤ |G_before|; when the class overshoots further
    (G_last < G_before < 0) D shrinks by G_before / G_last; when it falls further short
    (0 < G_before < G_last) D grows by G_last / G_before. D stays within
    [ADAPT_MIN, ADAPT_MAX].
    """
    n_d, n_k = adapt.shape
    for d in range(n_d):
        for k in range(n_k):
            g1 = gap_last[d, k]
            g2 = gap_before[d, k]
            if abs(g1) <= abs(g2):
                continue
            if g1 < g2 < 0:
                adapt[d, k] = max(adapt[d, k] * (g2 / g1), ADAPT_MIN)
            elif 0 < g2 < g1:
                adapt[d, k] = min(adapt[d, k] * (g1 / g2), ADAPT_MAX)
