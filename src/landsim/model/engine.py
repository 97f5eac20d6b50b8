"""The urban-growth cellular automaton, as a plain Python loop over numba kernels.

Each year, synchronously:

1. the neighbourhood effect (``neighborhood_effect``): weighted share of neighbours,
   from last year's map;
2. the potential (``urban_potential``): suitability × neighbourhood × stochastic term,
   on the cells the planning rules leave open (``candidate``);
3. the selection (``select_top``): exactly the year's demand, the cells of highest
   potential;
4. the selected cells become urban; what they were is counted per class, and per
   planning layer, so cropland lost and line encroachment are known per year.

Steps 1–3 run as ``kernels.select_urban``, which chooses the same cells without
computing every cell's potential, from the neighbourhood's row sums (``row_sums``); the
loop keeps those between years and recomputes only the sums next to last year's new
urban cells (``update_row_sums``), so a year costs little more than its change.

Urban cells never revert and nothing else changes. The engine reads no files and keeps
no global state; it copies its inputs, so callers' arrays are never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from landsim import kernels
from landsim.errors import DemandError
from landsim.kernels.lookup import count_values


@dataclass(frozen=True)
class GrowthParameters:
    urban_code: int
    weights: np.ndarray  # float32[256]: neighbourhood weight by class code
    radius: int = 1
    floor: float = 0.01
    alpha: float = 1.0
    seed: int = 0
    member: int = 0


@dataclass(frozen=True)
class Period:
    """From ``first_year`` on (until the next period), which cells may become urban.

    ``candidate`` cells are the first choice; ``spill`` cells (may be None) are taken
    only when the first choice cannot hold the year's demand. ``suitability`` carries
    the period's soft factors.
    """

    first_year: int
    candidate: np.ndarray
    suitability: np.ndarray
    spill: np.ndarray | None = None


@dataclass
class YearRecord:
    year: int
    new_urban: int
    from_class: np.ndarray  # int64[256]: cells converted to urban, by former class code
    inside: dict[str, int]  # cells converted this year inside each planning layer
    spilled: int = 0  # cells taken from the spill-over (second-choice) cells
    # With districts: int64[n_districts] new urban cells, per layer inside, and
    # int64[n_districts, 256] by former class; index i is district
    # ``SimulationResult.district_codes[i]``.
    district_new: np.ndarray | None = None
    district_inside: dict[str, np.ndarray] = field(default_factory=dict)
    district_from_class: np.ndarray | None = None
    # Multi-class runs: int64[K, K] cells c → k by class index, and per district and
    # class the demand, the cells held, the cells forced and why a class fell short.
    transitions: np.ndarray | None = None
    demand_fit: list[dict] | None = None


@dataclass
class SimulationResult:
    start_year: int
    maps: dict[int, np.ndarray]  # output year -> land-use map (uint8)
    class_counts: dict[int, np.ndarray]  # every year -> int64[256] cells per class code
    records: list[YearRecord] = field(default_factory=list)
    final: np.ndarray | None = None
    # uint16: the year each cell became urban (the start year for urban at the start),
    # 0 where it never did.
    urban_year: np.ndarray | None = None
    # With districts: the codes present (0 included where cells have none), sorted; the
    # records' district arrays are indexed like it.
    district_codes: np.ndarray | None = None


# Candidates fewer than one cell in SPARSE: the loop keeps their list (select_urban then
# visits only them).
SPARSE = 16


class InsufficientCandidates(DemandError):
    """A year asks for more cells than the rules in force leave open."""


def simulate(
    landuse: np.ndarray,
    suitability: np.ndarray,
    candidate: np.ndarray,
    demand: dict[int, int],
    params: GrowthParameters,
    map_years: list[int],
    layers: dict[str, np.ndarray] | None = None,
    on_year: Callable[[YearRecord], None] | None = None,
    *,
    periods: list[Period] | None = None,
    districts: np.ndarray | None = None,
) -> SimulationResult:
    """Run the automaton from ``min(demand)`` to ``max(demand)``.

    ``demand[year]`` is the total of urban cells the map must hold in ``year``; the
    first year is the start map. ``periods`` (optional) replace ``candidate`` and
    ``suitability`` from their first year on. ``districts`` (optional, integer codes,
    0 for none) makes every record count its cells per district as well. The caller has
    checked that enough candidate cells exist (``landsim.api`` does, and names the
    layer that takes them away); a year that still runs short raises
    :class:`InsufficientCandidates`.
    """
    years = sorted(demand)
    start = years[0]
    lu = np.ascontiguousarray(landuse, dtype=np.uint8).copy()
    urban = np.uint8(params.urban_code)
    if periods is None:
        periods = [Period(start + 1, candidate, suitability)]
    periods = sorted(periods, key=lambda p: p.first_year)
    flat_lu = lu.reshape(-1)
    flat_layers = {
        k: np.ascontiguousarray(v, dtype=bool).reshape(-1) for k, v in (layers or {}).items()
    }
    flat_districts = None
    n_districts = 0
    district_codes = None
    if districts is not None:
        district_codes, flat_districts = dense_districts(districts)
        n_districts = len(district_codes)

    weights = np.ascontiguousarray(params.weights, dtype=np.float32)
    # The neighbourhood's row sums of `lu`, computed at the first year that converts
    # cells, then kept: `stale` holds the cells converted since they were last brought
    # up to date (nothing is updated after the last year).
    work = np.empty(lu.shape, dtype=np.float32)
    work_ready = False
    stale: list[np.ndarray] = []
    # Counted in one pass: np.bincount widened every cell to 8 bytes (256 MB at 32 M).
    counts = np.zeros(256, dtype=np.int64)
    count_values(flat_lu, np.ones(1, dtype=bool), counts)
    result = SimulationResult(start, {}, {start: counts.copy()}, district_codes=district_codes)
    urban_year = np.where(lu == urban, np.uint16(start), np.uint16(0))
    flat_year = urban_year.reshape(-1)
    if start in map_years:
        result.maps[start] = lu.copy()

    active: Period | None = None
    cand = spill = suit = cand_cells = None
    for year in years[1:]:
        started = [p for p in periods if p.first_year <= year]
        now = started[-1] if started else periods[0]
        if now is not active:
            # A new period: its masks, less what is urban already.
            active = now
            not_urban = lu != urban
            # Bool masks viewed as 0/1 bytes: an astype(uint8) copy per mask cost 32 MB.
            cand = (np.asarray(now.candidate, dtype=bool) & not_urban).view(np.uint8)
            spill = (
                None
                if now.spill is None
                else (np.asarray(now.spill, dtype=bool) & not_urban).view(np.uint8)
            )
            suit = np.ascontiguousarray(now.suitability, dtype=np.float32)
            n_cand = int(cand.sum())
            n_spill = 0 if spill is None else int(spill.sum())
            cand_cells = None
        assert cand is not None and suit is not None
        n = int(demand[year] - counts[params.urban_code])
        spilled = 0
        if n > 0:
            if n > n_cand + n_spill:
                raise InsufficientCandidates(
                    f"year {year} needs {n:,} new urban cells but the rules in force from "
                    f"{now.first_year} leave {n_cand + n_spill:,}; lower the demand or relax "
                    "the rules in [constraints] and [[rules]]"
                )
            if not work_ready:
                kernels.row_sums(lu, weights, params.radius, work)
                work_ready = True
            elif stale:
                changed = stale[0] if len(stale) == 1 else np.sort(np.concatenate(stale))
                kernels.update_row_sums(lu, weights, params.radius, changed, work)
            stale.clear()
            # np.uint64: numba would type a Python int above 2**63 as int64 and fail.
            key = np.uint64(kernels.stream_key(params.seed, params.member, year))
            if n <= n_cand:
                if cand_cells is None and n_cand * SPARSE <= cand.size:
                    # Few candidates (a planning boundary): list them, and keep the list,
                    # so that a year visits them rather than the grid.
                    cand_cells = np.flatnonzero(cand.reshape(-1))
                chosen = _choose(lu, weights, work, suit, cand, params, key, n, cand_cells)
            else:
                # The first choice cannot hold the demand: all of it, then the best of
                # the spill-over cells.
                assert spill is not None
                spilled = n - n_cand
                first = np.flatnonzero(cand.reshape(-1))
                extra = _choose(lu, weights, work, suit, spill, params, key, spilled)
                chosen = np.sort(np.concatenate([first, extra]))
                spill.reshape(-1)[extra] = 0
                n_spill -= spilled
            former = flat_lu[chosen].astype(np.int64)
            from_class = np.bincount(former, minlength=256).astype(np.int64)
            flat_lu[chosen] = urban
            stale.append(chosen)
            flat_year[chosen] = year
            cand.reshape(-1)[chosen] = 0
            n_cand -= n - spilled
            if cand_cells is not None:
                cand_cells = cand_cells[cand.reshape(-1)[cand_cells] != 0]
            inside = {k: int(m[chosen].sum()) for k, m in flat_layers.items()}
        else:
            n = 0
            chosen = np.empty(0, dtype=np.int64)
            former = chosen
            from_class = np.zeros(256, dtype=np.int64)
            inside = dict.fromkeys(flat_layers, 0)
        counts = counts - from_class
        counts[params.urban_code] += n
        result.class_counts[year] = counts.copy()
        record = YearRecord(year, n, from_class, inside, spilled)
        if flat_districts is not None:
            tally_districts(
                record, flat_districts[chosen], former, chosen, flat_layers, n_districts
            )
        result.records.append(record)
        if year in map_years:
            result.maps[year] = lu.copy()
        if on_year is not None:
            on_year(record)
    result.final = lu
    result.urban_year = urban_year
    return result


class _DenseLookup:
    """Each cell's index into the sorted district codes, looked up only for the cells
    asked (``lookup[cells]``): a dense index per cell was an 8-byte copy of the grid."""

    def __init__(self, flat: np.ndarray, index: np.ndarray) -> None:
        self.flat = flat
        self.index = index

    def __getitem__(self, cells: np.ndarray) -> np.ndarray:
        return self.index[self.flat[cells]]


def dense_districts(districts: np.ndarray) -> tuple[np.ndarray, Any]:
    """(the district codes on the grid, sorted; each cell's index into them, taken by
    flat cell indices: ``dense[cells]``).

    Dense indices, not the codes: codes run up to 65535, and a [district, class] table
    per year sized by the largest code took 134 MB a year for one district coded 65535
    (1.4 GB for a ten-year run on a tiny grid)."""
    flat = np.asarray(districts).reshape(-1)
    if flat.dtype.kind in "iu" and flat.size and flat.min() >= 0 and flat.max() < 1 << 20:
        # Codes are small non-negative integers (district rasters are 8 or 16 bits): a
        # table over the codes gives np.unique's answer in linear passes, where np.unique
        # sorts every cell (5.8 s at 32 M cells).
        counts = np.zeros(int(flat.max()) + 1, dtype=np.int64)
        count_values(flat, np.ones(1, dtype=bool), counts)  # np.bincount widened each code
        present = counts > 0
        index = np.cumsum(present, dtype=np.int64) - 1
        return np.flatnonzero(present).astype(np.int64), _DenseLookup(flat, index)
    codes, dense = np.unique(
        np.ascontiguousarray(districts, dtype=np.int64).reshape(-1), return_inverse=True
    )
    return codes, dense.reshape(-1).astype(np.int64)


def tally_districts(
    record: YearRecord,
    district: np.ndarray,
    former: np.ndarray,
    cells: np.ndarray,
    layers: dict[str, np.ndarray],
    n_districts: int,
) -> None:
    """A year's new urban cells per district: in all, inside each layer, by former class.

    ``district`` and ``former`` (class code) are per new urban cell, ``cells`` their flat
    indices; the multi-class engine records its districts the same way."""
    record.district_new = np.bincount(district, minlength=n_districts).astype(np.int64)
    record.district_inside = {
        k: np.bincount(district[m[cells]], minlength=n_districts).astype(np.int64)
        for k, m in layers.items()
    }
    record.district_from_class = np.bincount(
        district * 256 + former.astype(np.int64), minlength=n_districts * 256
    ).reshape(n_districts, 256)


def _choose(
    lu: np.ndarray,
    weights: np.ndarray,
    work: np.ndarray,
    suit: np.ndarray,
    mask: np.ndarray,
    params: GrowthParameters,
    key: np.uint64,
    n: int,
    cells: np.ndarray | None = None,
) -> np.ndarray:
    """The n cells of ``mask`` of highest potential, flat indices ascending; ``cells``:
    the flat indices of ``mask``'s cells, when the caller keeps them."""
    chosen = np.empty(n, dtype=np.int64)
    kernels.select_urban(
        lu,
        weights,
        params.radius,
        work,
        suit,
        mask,
        params.floor,
        params.alpha,
        key,
        n,
        chosen,
        cells=cells,
    )
    return chosen
