"""Multi-class allocation: every class competes for land (FLUS / PLUS style).

Each year, for every district d and class k the demand gives the cells the map must hold
(docs/multiclass.md):

1. **The year's flows** (``plan_flows``): a small transport LP per district, with
   transshipment, sets how many cells go from each class to each other class, urban
   first, within what the rules and the conversion matrix allow.
2. **Roulette** (``kernels.multiclass.propose_all``): every cell of a class with planned
   outflow draws its candidate class from OP_k = suit × Ω × D × (1 − cost), with patch
   seeds where k is absent from the neighbourhood.
3. **Expansion rounds**: in round r each (d, k) accepts at most ⌈inflow left /
   (rounds − r)⌉ of its proposals, best OP first, within the planned flows; cells open to
   urban stay reserved for urban's planned flow. Accepted cells convert, the neighbour
   counts move, and the cells around them draw again, so patches grow outward.
4. **Closing the gap**: a class still short beyond its tolerance (urban: at all) takes
   its planned flows from the best cells by OP, without the wheel ("forced").
5. **Adaptive coefficient**: the gap the rounds left updates D for the next year by
   FLUS's rule (``adapt_coefficients``).

Urban never reverts (the scenario schema refuses a matrix that lets it). The engine reads
no files and copies its inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from landsim import kernels
from landsim.kernels import multiclass as mk
from landsim.model.engine import (
    InsufficientCandidates,
    SimulationResult,
    YearRecord,
    dense_districts,
    tally_districts,
)


@dataclass(frozen=True)
class MulticlassParameters:
    class_codes: np.ndarray  # uint8[K]: the raster code of class index k
    weights: np.ndarray  # float32[K]: neighbourhood weight
    # uint8[K, K]: allowed[c, k] = 1 if c may become k (k ≠ c); the diagonal says whether
    # c may become any other class at all (the roulette skips its cells at once if not).
    allowed: np.ndarray
    cost: np.ndarray  # float32[K, K]: conversion cost in [0, 1]
    target_kind: np.ndarray  # uint8[K]: 0 plain, 1 urban, 2 other construction
    urban_index: int
    radius: int = 1
    seed_share: float = 0.1  # μ: a patch seed's neighbourhood term is r × μ
    rounds: int = 4
    tolerance: float = 0.001  # non-urban classes: share of their demand left unmet at most
    seed: int = 0
    member: int = 0


@dataclass(frozen=True)
class MulticlassPeriod:
    """From ``first_year`` on: what the planning lines let each cell become, and the
    per-class suitability with the period's soft factors applied (to urban)."""

    first_year: int
    cell_rules: np.ndarray  # uint8 bits, kernels.multiclass.MAY_*
    suitability: np.ndarray  # float32 [K, ny, nx]


@dataclass(frozen=True)
class ClassDemandArrays:
    """Cells per year, district and class (``landsim.demand.classes.ClassDemand``)."""

    years: np.ndarray  # int64[n_years], consecutive; years[0] is the start year
    district_codes: np.ndarray  # int64[n_districts]
    cells: np.ndarray  # int64[n_years, n_districts, K]


def counts_dtype(radius: int) -> type:
    return np.uint8 if (2 * radius + 1) ** 2 - 1 <= 255 else np.uint16


def simulate_multiclass(
    landuse: np.ndarray,
    demand: ClassDemandArrays,
    params: MulticlassParameters,
    periods: list[MulticlassPeriod],
    map_years: list[int],
    *,
    districts: np.ndarray | None = None,
    layers: dict[str, np.ndarray] | None = None,
    on_year: Callable[[YearRecord], None] | None = None,
    class_names: list[str] | None = None,
) -> SimulationResult:
    """Run every class's allocation from ``demand.years[0]`` to its last year.

    ``districts`` (raster codes) must hold the codes of ``demand.district_codes`` on
    every land cell; without it the demand has one district. The result's records carry,
    besides the urban growth the reports read, ``transitions`` (cells c → k by class
    index) and ``demand_fit`` (per district and class: demand, result, forced cells, why
    short).
    """
    codes = np.asarray(params.class_codes, dtype=np.uint8)
    n_classes = len(codes)
    lut = np.full(256, mk.NONE, dtype=np.uint8)
    lut[codes] = np.arange(n_classes, dtype=np.uint8)
    lu_in = np.ascontiguousarray(landuse, dtype=np.uint8)
    cls = lut[lu_in]
    ny, nx = cls.shape
    valid = cls != mk.NONE
    years = [int(y) for y in demand.years]
    start = years[0]
    dcodes = np.asarray(demand.district_codes, dtype=np.int64)
    n_d = len(dcodes)
    if districts is None:
        dist = np.zeros((ny, nx), dtype=np.uint16)
    else:
        raw = np.asarray(districts, dtype=np.int64)
        idx = np.clip(np.searchsorted(dcodes, raw), 0, n_d - 1)
        dist = np.where(valid, idx, 0).astype(np.uint16)
    # Record tallies per district use every code on the grid (as the urban engine does).
    rec_codes = None
    rec_dist = None
    if districts is not None:
        rec_codes, rec_dist = dense_districts(districts)
    flat_layers = {
        k: np.ascontiguousarray(v, dtype=bool).reshape(-1) for k, v in (layers or {}).items()
    }

    u = params.urban_index
    counts = np.zeros((n_classes, ny, nx), dtype=counts_dtype(params.radius))
    work = np.empty((n_classes, ny, nx), dtype=np.uint16)
    mk.class_neighbor_counts(cls, params.radius, work, counts)
    del work
    inv_n = 1.0 / ((2 * params.radius + 1) ** 2 - 1)
    weights = (np.asarray(params.weights, dtype=np.float64) * inv_n).astype(np.float32)
    allowed = np.asarray(params.allowed, dtype=bool).copy()
    np.fill_diagonal(allowed, False)
    # allowed × (1 − cost), and 1 for staying: the factor of OP that depends on (c, k).
    conv = np.where(allowed, 1.0 - np.asarray(params.cost, dtype=np.float32), 0.0)
    np.fill_diagonal(conv, 1.0)
    conv = conv.astype(np.float32)
    kinds = np.asarray(params.target_kind, dtype=np.uint8)
    need_bits = np.where(
        kinds == 1, mk.MAY_BECOME_URBAN, np.where(kinds == 2, mk.MAY_BECOME_CONSTRUCTION, 0)
    ).astype(np.uint8)

    prop = np.full((ny, nx), mk.NONE, dtype=np.uint8)
    score = np.zeros((ny, nx), dtype=np.float32)
    bits = score.view(np.uint32)
    done = np.zeros((ny, nx), dtype=np.uint8)
    dirty_flag = np.zeros((ny, nx), dtype=np.uint8)
    hist = np.zeros((n_d * n_classes, mk.HIST_BINS), dtype=np.int64)
    cand_buf = np.empty(ny * nx, dtype=np.int64)
    row_count = np.zeros(ny, dtype=np.int64)
    # The columns of each row's proposals, from propose_all to list_proposals: in the
    # first half of cand_buf, which is not in use then (a grid of int32 less to hold).
    row_cells = cand_buf.view(np.int32)[: ny * nx].reshape(ny, nx)
    # The proposal queue (kernels.multiclass.list_proposals): its entries' sort keys
    # carry the cell index in 32 bits.
    if ny * nx >= 1 << 32:
        raise ValueError(f"a grid of {ny * nx:,} cells is too large for the multi-class model")
    queue = _Queue(ny * nx)
    slot = np.full((ny, nx), -1, dtype=np.int64)
    # suit × (1 − cost) where the rules allow (kernels.multiclass.base_potentials): the
    # period's, kept up to date as cells convert.
    base = np.empty((n_classes, ny, nx), dtype=np.float32)
    by_rules = np.zeros((n_d, n_classes, 8), dtype=np.int64)
    names = [str(int(c)) for c in codes] if class_names is None else list(class_names)
    window = (2 * params.radius + 1) ** 2

    pairs = dist[valid].astype(np.int64) * n_classes + cls[valid]
    held = np.bincount(pairs, minlength=n_d * n_classes).reshape(n_d, n_classes)
    del pairs
    if not np.array_equal(held, demand.cells[0]):
        raise ValueError("the demand's first year does not match the start map's counts")
    adapt = np.ones((n_d, n_classes), dtype=np.float32)
    gaps: list[np.ndarray] = []

    by_code = np.zeros(256, dtype=np.int64)
    by_code[codes] = held.sum(axis=0)
    result = SimulationResult(start, {}, {start: by_code.copy()}, district_codes=rec_codes)
    urban_year = np.where(cls == u, np.uint16(start), np.uint16(0)).astype(np.uint16)
    flat_year = urban_year.reshape(-1)
    flat_cls = cls.reshape(-1)
    if start in map_years:
        result.maps[start] = lu_in.copy()
    periods = sorted(periods, key=lambda p: p.first_year)

    active = None
    proposed = np.zeros((n_d, n_classes, n_classes), dtype=np.int64)
    for yi, year in enumerate(years[1:], start=1):
        started = [p for p in periods if p.first_year <= year]
        now = started[-1] if started else periods[0]
        rules = np.ascontiguousarray(now.cell_rules, dtype=np.uint8)
        suit = np.ascontiguousarray(now.suitability, dtype=np.float32)
        target = np.asarray(demand.cells[yi], dtype=np.int64)
        need = np.maximum(target - held, 0)
        surplus = np.maximum(held - target, 0)
        tol = np.floor(params.tolerance * target).astype(np.int64)
        tol[:, u] = 0  # urban is met exactly
        done[:] = 0
        flows = np.zeros((n_d, n_classes, n_classes), dtype=np.int64)
        forced = np.zeros((n_d, n_classes), dtype=np.int64)
        converted: list[np.ndarray] = []
        former: list[np.ndarray] = []
        key = np.uint64(kernels.stream_key(params.seed, params.member, year))
        if now is not active:
            active = now
            mk.rule_class_counts(cls, dist, rules, by_rules)
            mk.base_potentials(cls, suit, conv, need_bits, rules, base)
        # The year's flows c → k (a transport plan with transshipment: A may give to urban
        # while B gives to A), urban first, leaning toward the pairs the roulette proposed
        # most last year.
        cap = capacities(by_rules, allowed, need_bits)
        movable = cells_with(by_rules, mk.MAY_CHANGE)
        plan = plan_flows(need, surplus, cap, movable, proposed, u)
        if (plan[:, :, u].sum(axis=1) < need[:, u]).any():
            _urban_short(year, need, plan, cap, u, dcodes, names)
        # Cells open to urban, by class: reserved for urban's planned flow.
        urban_room = cells_with(by_rules, mk.URBAN_OPEN)
        # Only a class with flow out in the plan can give cells: the roulette skips the
        # cells of every other class.
        source = (plan.sum(axis=(0, 2)) > 0).astype(np.uint8)
        args = (weights, adapt, source, rules, params.seed_share)

        mk.propose_all(
            cls, dist, done, counts, base, *args, key, plan, prop, score, row_cells, row_count
        )  # fmt: skip
        q = queue
        n_queued = mk.list_proposals(
            prop, bits, cls, dist, n_classes, row_cells, row_count, slot, q.key, q.group,
            q.pair, q.live,
        )  # fmt: skip
        # Next year's plan leans on this year's proposals, by (district, c → k).
        proposed = np.bincount(q.pair[:n_queued], minlength=n_d * n_classes * n_classes).reshape(
            n_d, n_classes, n_classes
        )
        kernel_state = (prop, bits, score, cls, dist, done, rules, plan, urban_room, u)

        for r in range(params.rounds + 1):
            left = plan.sum(axis=1)
            if not left.any():
                break
            catch_up = r == params.rounds
            quota = left if catch_up else -(-left // (params.rounds - r))
            # In cell order from here: neighbouring conversions touch the same cache
            # lines, and the redrawn cells come out nearly in order.
            acc = np.sort(_accept_queued(q, n_queued, quota, kernel_state, hist, u))
            if len(acc) == 0:
                continue
            mk.retire(acc, slot, q.live)
            converted.append(acc)
            former.append(flat_cls[acc])
            dirty = np.empty(min(ny * nx, len(acc) * window), dtype=np.int64)
            n_dirty = mk.apply_conversions(
                acc, prop, cls, dist, done, counts, params.radius, dirty_flag, dirty, flows,
                rules, by_rules,
            )  # fmt: skip
            if not catch_up:
                # A fresh draw per round: the cells around new conversions see new counts.
                key_r = np.uint64(kernels.substream(key, r + 1))
                cells = dirty[:n_dirty]
                mk.propose_cells(cells, cls, dist, done, counts, base, *args, key_r, prop, score)
                q.reserve(n_queued + n_dirty)
                n_queued = mk.requeue(
                    cells, prop, bits, cls, dist, plan, slot, q.key, q.group, q.pair, q.live,
                    n_queued,
                )  # fmt: skip
        mk.clear_slots(q.key, n_queued, slot)

        # The gap the roulette left (demand − cells: > 0 short, < 0 surplus) drives FLUS's
        # adaptive inertia for the next year.
        now_held = held + flows.sum(axis=1) - flows.sum(axis=2)
        gaps.append((target - now_held).astype(np.float64))
        # Closing the gap: a class still short beyond its tolerance (urban: at all) takes
        # its planned flows without the wheel. Urban first.
        for k in sorted(range(n_classes), key=lambda k: k != u):
            while True:
                now_held = held + flows.sum(axis=1) - flows.sum(axis=2)
                short_k = (target[:, k] - now_held[:, k]) > tol[:, k]
                quota = np.zeros_like(need)
                quota[:, k] = np.where(short_k, plan[:, :, k].sum(axis=1), 0)
                if not quota.any():
                    break
                mk.forced_scores(
                    k, cls, dist, done, counts, base, weights, adapt, conv, need_bits, rules,
                    params.seed_share, key, plan, prop, score,
                )  # fmt: skip
                eligible = np.flatnonzero(prop.reshape(-1) == k)
                acc = _accept(eligible, quota, kernel_state, hist, cand_buf, -1)
                if len(acc) == 0:
                    break
                converted.append(acc)
                former.append(flat_cls[acc])
                forced[:, k] += np.bincount(dist.reshape(-1)[acc].astype(np.int64), minlength=n_d)
                dirty = np.empty(min(ny * nx, len(acc) * window), dtype=np.int64)
                mk.apply_conversions(
                    acc, prop, cls, dist, done, counts, params.radius, dirty_flag, dirty, flows,
                    rules, by_rules,
                )  # fmt: skip
        prop[:] = mk.NONE

        held = held + flows.sum(axis=1) - flows.sum(axis=2)
        need = np.maximum(target - held, 0)
        if need[:, u].any():  # pragma: no cover - the plan and the reservation prevent it
            raise InsufficientCandidates(
                f"year {year} could not place {int(need[:, u].sum()):,} planned urban cells; "
                "please report this with the scenario"
            )

        all_conv = np.concatenate(converted) if converted else np.empty(0, dtype=np.int64)
        mk.rebase_cells(all_conv, cls, suit, conv, need_bits, rules, base)
        all_former = np.concatenate(former) if former else np.empty(0, dtype=np.uint8)
        became = flat_cls[all_conv] == u
        to_urban = all_conv[became]
        former_urban = codes[all_former[became]].astype(np.int64)
        flat_year[to_urban] = year
        from_idx = flows[:, :, u].sum(axis=0)
        from_class = np.zeros(256, dtype=np.int64)
        from_class[codes] = from_idx
        inside = {k: int(m[to_urban].sum()) for k, m in flat_layers.items()}
        by_code = np.zeros(256, dtype=np.int64)
        by_code[codes] = held.sum(axis=0)
        result.class_counts[year] = by_code
        record = YearRecord(year, len(to_urban), from_class, inside)
        record.transitions = flows.sum(axis=0)
        record.demand_fit = _demand_fit(target, held, forced, tol, dcodes, codes)
        if rec_dist is not None:
            assert rec_codes is not None
            tally_districts(
                record, rec_dist[to_urban], former_urban, to_urban, flat_layers, len(rec_codes)
            )
        result.records.append(record)
        if len(gaps) >= 2:
            mk.adapt_coefficients(adapt, gaps[-1], gaps[-2])
        if year in map_years:
            result.maps[year] = codes_map(cls, codes)
        if on_year is not None:
            on_year(record)
    result.final = codes_map(cls, codes)
    result.urban_year = urban_year
    return result


class _Queue:
    """The year's proposal queue (``kernels.multiclass.list_proposals``), grown when a
    round's new draws need room."""

    def __init__(self, size: int) -> None:
        self.key = np.empty(size, dtype=np.uint64)
        self.group = np.empty(size, dtype=np.int32)
        self.pair = np.empty(size, dtype=np.int32)
        self.live = np.empty(size, dtype=np.uint8)

    def reserve(self, size: int) -> None:
        if size > len(self.key):
            grow = max(size, 2 * len(self.key))
            for name in ("key", "group", "pair", "live"):
                old = getattr(self, name)
                new = np.empty(grow, dtype=old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)


def _accept_queued(q, n, quota, state, hist, first):
    """``_accept`` on the first ``n`` entries of the proposal queue."""
    prop, _, _, cls, dist, _, rules, plan, urban_room, u = state
    keys = np.empty(n, dtype=np.uint64)
    m = mk.collect_queued(n, q.key, q.group, q.pair, q.live, quota, plan, hist, keys)
    if m == 0:
        return np.empty(0, dtype=np.int64)
    # Ascending keys: score descending, then cell index.
    ranked = (np.sort(keys[:m]) & np.uint64(0xFFFFFFFF)).astype(np.int64)
    out = np.empty(m, dtype=np.int64)
    k = mk.accept_candidates(ranked, prop, cls, dist, rules, quota, plan, urban_room, u, first, out)
    return out[:k].copy()


def _accept(pool, quota, state, hist, cand_buf, first):
    """Collect the pool's best proposals for the quotas, rank them (OP descending, then
    cell index) and accept greedily; returns the accepted flat indices in rank order."""
    prop, bits, score, cls, dist, done, rules, plan, urban_room, u = state
    n = mk.collect_candidates(pool, prop, bits, cls, dist, done, quota, plan, hist, cand_buf)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    cand = cand_buf[:n]
    ranked = cand[np.lexsort((cand, -score.reshape(-1)[cand]))]
    out = np.empty(n, dtype=np.int64)
    m = mk.accept_candidates(ranked, prop, cls, dist, rules, quota, plan, urban_room, u, first, out)
    return out[:m].copy()


def cells_with(by_rules: np.ndarray, want: int) -> np.ndarray:
    """``[d, c]``: cells of class c in district d whose rule bits include all of ``want``."""
    b = np.arange(by_rules.shape[2])
    return by_rules[:, :, (b & want) == want].sum(axis=2)


def capacities(by_rules: np.ndarray, allowed: np.ndarray, need_bits: np.ndarray) -> np.ndarray:
    """``cap[d, c, k]``: cells of class c in district d that may become k this year (the
    conversion matrix, and the planning rules' bits for k)."""
    n_d, n_k, _ = by_rules.shape
    cap = np.zeros((n_d, n_k, n_k), dtype=np.int64)
    for k in range(n_k):
        cap[:, :, k] = cells_with(by_rules, int(need_bits[k]) | mk.MAY_CHANGE) * allowed[:, k]
    return cap


# Weight of a missing urban cell in the year's plan, against 1 for another class: urban
# is met first whenever the rules allow. Moving a cell costs FLOW_COST (less for the pairs
# the roulette proposes most), so no cell moves for nothing.
URBAN_WEIGHT = 1000.0
FLOW_COST = 1e-3


def plan_flows(
    need: np.ndarray,
    surplus: np.ndarray,
    cap: np.ndarray,
    movable: np.ndarray,
    proposed: np.ndarray,
    u: int,
) -> np.ndarray:
    """The year's flows ``plan[d, c, k]`` (whole cells), per district a small linear
    programme (scipy's HiGHS), a transport problem with transshipment:

    for every class c, inflow − outflow + dev_c = need_c − surplus_c, with dev_c between 0
    and the change (the part not met); 0 ≤ F[c, k] ≤ cap[c, k]; outflow_c ≤ movable_c;
    minimise 1000 × |dev_urban| + Σ |dev_other| + Σ F × 0.001 × (1 − 0.5 × share of k's
    proposals from c). A class may pass cells on (B → A while A → urban) when that is
    the only way, as the conversion matrix may demand. The constraint matrix is a
    network matrix with slack columns, so the optimum is whole cells (rounded against
    float error). Greedy acceptance alone ran short: on Wuhan, forest's growth took
    cropland that urban, confined by the boundary, needed, while water could have fed
    forest.
    """
    from scipy.optimize import linprog

    n_d, n_k, _ = cap.shape
    plan = np.zeros_like(cap)
    for d in range(n_d):
        net = need[d] - surplus[d]
        if not net.any():
            continue
        pairs = [(c, k) for c in range(n_k) for k in range(n_k) if c != k and cap[d, c, k] > 0]
        if not pairs:
            continue
        col = proposed[d].sum(axis=0).astype(np.float64)
        cost = [
            FLOW_COST * (1.0 - 0.5 * (proposed[d, c, k] / col[k] if col[k] else 0.0))
            for c, k in pairs
        ]
        n_f = len(pairs)
        # dev_c enters with the sign of the class's change: the part of it not met.
        sign = np.sign(net).astype(np.float64)
        obj = np.array(cost + [URBAN_WEIGHT if c == u else 1.0 for c in range(n_k)])
        a_eq = np.zeros((n_k, n_f + n_k))
        a_ub = np.zeros((n_k, n_f + n_k))
        for v, (c, k) in enumerate(pairs):
            a_eq[k, v] += 1.0  # inflow of k
            a_eq[c, v] -= 1.0  # outflow of c
            a_ub[c, v] = 1.0
        for c in range(n_k):
            a_eq[c, n_f + c] = sign[c]
        bounds = [(0.0, float(cap[d, c, k])) for c, k in pairs] + [
            (0.0, float(abs(net[c]))) for c in range(n_k)
        ]
        res = linprog(
            obj,
            A_ub=a_ub,
            b_ub=movable[d].astype(np.float64),
            A_eq=a_eq,
            b_eq=net.astype(np.float64),
            bounds=bounds,
            method="highs",
        )
        if res.status != 0:  # pragma: no cover - F = 0, dev = |net| is always feasible
            raise RuntimeError(f"flow plan failed: {res.message}")
        x = np.rint(res.x[:n_f]).astype(np.int64)
        for v, (c, k) in enumerate(pairs):
            plan[d, c, k] = x[v]
    return plan


def _urban_short(year, need, plan, cap, u, dcodes, names) -> None:
    d = int(np.argmax(need[:, u] - plan[:, :, u].sum(axis=1)))
    short = int(need[d, u] - plan[d, :, u].sum())
    open_ = cap[d, :, u]
    given = ", ".join(f"{names[c]} {int(open_[c]):,}" for c in np.flatnonzero(open_))
    where = "" if len(dcodes) == 1 else f" in district {int(dcodes[d])}"
    raise InsufficientCandidates(
        f"year {year} needs {int(need[d, u]):,} new urban cells{where} but only "
        f"{int(need[d, u]) - short:,} can come, directly or through other classes, from "
        "classes whose demand shrinks and that the rules and the conversion matrix let "
        f"become urban (cells open to urban by class: {given or 'none'}); lower the urban "
        "demand, let more classes shrink, or relax [constraints], [[rules]] or [conversion]"
    )


def codes_map(cls: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Class indices back to raster codes (255 off the land)."""
    lut = np.full(256, 255, dtype=np.uint8)
    lut[: len(codes)] = codes
    return lut[cls]


def _demand_fit(target, held, forced, tol, dcodes, codes) -> list[dict]:
    rows = []
    for d in range(target.shape[0]):
        err = held[d] - target[d]
        # A class may keep cells that classes short within their tolerance did not take.
        shorts_ok = bool(np.all((err >= 0) | (-err <= tol[d])))
        for k in range(target.shape[1]):
            e = int(err[k])
            within = abs(e) <= int(tol[d, k]) or (e > 0 and shorts_ok)
            if within:
                why = (
                    ""
                    if abs(e) <= int(tol[d, k])
                    else "kept cells that classes short within their tolerance did not take"
                )
            elif e < 0:
                why = (
                    "no cell of a class with surplus may become this class here "
                    "(conversion matrix, planning lines or rules)"
                )
            else:
                why = "no class short of cells may take this class's cells here"
            rows.append(
                {
                    "district": int(dcodes[d]),
                    "class_code": int(codes[k]),
                    "demand": int(target[d, k]),
                    "cells": int(held[d, k]),
                    "error": e,
                    "forced": int(forced[d, k]),
                    "within_tolerance": within,
                    "short": max(-e, 0),
                    "reason": why,
                }
            )
    return rows
