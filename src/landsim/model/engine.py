"""The urban-growth cellular automaton, as a plain Python loop over numba kernels.

Each year, synchronously:

1. ``neighborhood_effect``: weighted share of neighbours, from last year's map;
2. ``urban_potential``: suitability × neighbourhood × stochastic term, on the cells the
   planning rules leave open (``candidate``);
3. ``select_top``: exactly the year's demand, the cells of highest potential;
4. the selected cells become urban; what they were is counted per class, and per
   planning layer, so cropland lost and line encroachment are known per year.

Urban cells never revert and nothing else changes. The engine reads no files and keeps
no global state; it copies its inputs, so callers' arrays are never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from landsim import kernels


@dataclass(frozen=True)
class GrowthParameters:
    urban_code: int
    weights: np.ndarray  # float32[256]: neighbourhood weight by class code
    radius: int = 1
    floor: float = 0.01
    alpha: float = 1.0
    seed: int = 0
    member: int = 0


@dataclass
class YearRecord:
    year: int
    new_urban: int
    from_class: np.ndarray  # int64[256]: cells converted to urban, by former class code
    inside: dict[str, int]  # cells converted this year inside each planning layer


@dataclass
class SimulationResult:
    start_year: int
    maps: dict[int, np.ndarray]  # output year -> land-use map (uint8)
    class_counts: dict[int, np.ndarray]  # every year -> int64[256] cells per class code
    records: list[YearRecord] = field(default_factory=list)
    final: np.ndarray | None = None


def simulate(
    landuse: np.ndarray,
    suitability: np.ndarray,
    candidate: np.ndarray,
    demand: dict[int, int],
    params: GrowthParameters,
    map_years: list[int],
    layers: dict[str, np.ndarray] | None = None,
    on_year: Callable[[YearRecord], None] | None = None,
) -> SimulationResult:
    """Run the automaton from ``min(demand)`` to ``max(demand)``.

    ``demand[year]`` is the total of urban cells the map must hold in ``year``; the
    first year is the start map. The caller has checked that enough candidate cells
    exist (``landsim.api`` does, and names the layer that takes them away).
    """
    years = sorted(demand)
    start = years[0]
    lu = np.ascontiguousarray(landuse, dtype=np.uint8).copy()
    cand = np.ascontiguousarray(candidate, dtype=np.uint8).copy()
    suit = np.ascontiguousarray(suitability, dtype=np.float32)
    flat_lu = lu.reshape(-1)
    flat_cand = cand.reshape(-1)
    flat_layers = {
        k: np.ascontiguousarray(v, dtype=bool).reshape(-1) for k, v in (layers or {}).items()
    }

    work = np.empty(lu.shape, dtype=np.float32)
    neigh = np.empty(lu.shape, dtype=np.float32)
    potential = np.empty(lu.shape, dtype=np.float32)
    counts = np.bincount(flat_lu, minlength=256).astype(np.int64)
    result = SimulationResult(start, {}, {start: counts.copy()})
    if start in map_years:
        result.maps[start] = lu.copy()

    urban = np.uint8(params.urban_code)
    for year in years[1:]:
        n = int(demand[year] - counts[params.urban_code])
        if n > 0:
            kernels.neighborhood_effect(lu, params.weights, params.radius, work, neigh)
            # np.uint64: numba would type a Python int above 2**63 as int64 and fail.
            key = np.uint64(kernels.stream_key(params.seed, params.member, year))
            kernels.urban_potential(suit, neigh, cand, params.floor, params.alpha, key, potential)
            chosen = np.empty(n, dtype=np.int64)
            kernels.select_top(potential, n, chosen)
            from_class = np.bincount(flat_lu[chosen], minlength=256).astype(np.int64)
            flat_lu[chosen] = urban
            flat_cand[chosen] = 0
            inside = {k: int(m[chosen].sum()) for k, m in flat_layers.items()}
        else:
            n = 0
            from_class = np.zeros(256, dtype=np.int64)
            inside = dict.fromkeys(flat_layers, 0)
        counts = counts - from_class
        counts[params.urban_code] += n
        result.class_counts[year] = counts.copy()
        record = YearRecord(year, n, from_class, inside)
        result.records.append(record)
        if year in map_years:
            result.maps[year] = lu.copy()
        if on_year is not None:
            on_year(record)
    result.final = lu
    return result
