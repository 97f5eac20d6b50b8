"""``simulate`` on grids large enough for ``select_urban``'s pruned path, with row sums
kept between years: year by year the same maps as the three kernels run afresh each
year (the engine's former loop), through periods and spill-over."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from landsim import kernels
from landsim.kernels import step as kstep
from landsim.model import GrowthParameters, simulate
from landsim.model.engine import Period

URBAN = 1


def former_loop(lu, periods, demand, params) -> dict[int, np.ndarray]:
    """The year as it was: neighborhood_effect, urban_potential, select_top each year."""
    lu = lu.copy()
    maps = {}
    years = sorted(demand)
    work, neigh, pot = (np.empty(lu.shape, np.float32) for _ in range(3))
    for year in years[1:]:
        now = [p for p in periods if p.first_year <= year][-1]
        not_urban = lu != URBAN
        cand = (now.candidate.astype(bool) & not_urban).astype(np.uint8)
        spill = None if now.spill is None else (now.spill.astype(bool) & not_urban)
        n = demand[year] - int((lu == URBAN).sum())
        if n > 0:
            kernels.neighborhood_effect(lu, params.weights, params.radius, work, neigh)
            key = np.uint64(kernels.stream_key(params.seed, params.member, year))
            n_cand = int(cand.sum())
            mask, take = (cand, n) if n <= n_cand else (spill.astype(np.uint8), n - n_cand)
            kernels.urban_potential(
                now.suitability, neigh, mask, params.floor, params.alpha, key, pot
            )
            chosen = np.empty(take, np.int64)
            kernels.select_top(pot, take, chosen)
            if n > n_cand:
                chosen = np.concatenate([np.flatnonzero(cand), chosen])
            lu.reshape(-1)[chosen] = URBAN
        maps[year] = lu.copy()
    return maps


@pytest.mark.parametrize(
    ("weights_kind", "open_share"),
    [("urban only", 0.8), ("non-dyadic", 0.8), ("non-dyadic", 0.04)],
)
def test_simulate_equals_former_loop_on_a_large_grid(weights_kind: str, open_share: float) -> None:
    """open_share 0.04: a small boundary, whose candidates the loop lists (SPARSE)."""
    rng = np.random.default_rng(7)
    shape = (310, 290)
    assert shape[0] * shape[1] >= kstep._MIN_CELLS  # the pruned path, not the plain one
    lu = rng.choice(np.array([0, 1, 2, 3], np.uint8), size=shape, p=[0.5, 0.1, 0.3, 0.1])
    weights = np.zeros(256, np.float32)
    weights[URBAN] = 1.0
    if weights_kind == "non-dyadic":
        weights[3] = 0.3
    suit_a = rng.random(shape).astype(np.float32)
    suit_b = (suit_a * rng.random(shape)).astype(np.float32)
    inside = rng.random(shape) < open_share
    periods = [
        Period(2021, (lu != 2) & inside, suit_a, spill=(lu != 2) & ~inside),
        Period(2024, lu != 255, suit_b),
    ]
    urban0 = int((lu == URBAN).sum())
    steps = [900, 0, 1500, 700, 2500, 40] if open_share > 0.5 else [900, 500, 600, 700, 2500, 40]
    demand = {2020: urban0}
    for k, s in enumerate(steps):
        demand[2021 + k] = demand[2020 + k] + s
    # Enough in 2023 to empty the boundary's candidates and spill over.
    open_cells = int(((lu != 2) & inside & (lu != URBAN)).sum())
    demand[2023] = demand[2022] + open_cells - steps[0] - steps[1] + 2600
    for y in range(2024, 2027):
        demand[y] = demand[y - 1] + steps[y - 2021]
    params = GrowthParameters(URBAN, weights, radius=2, floor=0.02, alpha=0.5, seed=11)
    years = sorted(demand)
    result = simulate(
        lu, periods[0].suitability, periods[0].candidate, demand, params, years, periods=periods
    )
    expected = former_loop(lu, periods, demand, params)
    assert any(r.spilled > 0 for r in result.records)
    for year in years[1:]:
        assert_array_equal(result.maps[year], expected[year], err_msg=str(year))
