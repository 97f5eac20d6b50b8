"""The yearly loop: invariants on random small grids (hypothesis) and the numpy oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landsim.kernels import reference
from landsim.model import GrowthParameters, simulate

URBAN = 1
NODATA = 255


@st.composite
def worlds(draw: st.DrawFn) -> dict:
    ny = draw(st.integers(3, 24))
    nx = draw(st.integers(3, 24))
    seed = draw(st.integers(0, 2**32))
    rng = np.random.default_rng(seed)
    lu = rng.integers(0, 6, (ny, nx)).astype(np.uint8)
    lu[rng.random((ny, nx)) < 0.08] = NODATA
    no_change = rng.random((ny, nx)) < draw(st.floats(0, 0.4))
    no_construction = rng.random((ny, nx)) < draw(st.floats(0, 0.4))
    boundary = rng.random((ny, nx)) < draw(st.floats(0.3, 1.0))
    candidate = (lu != NODATA) & (lu != URBAN) & ~no_change & ~no_construction & boundary
    n_cand = int(candidate.sum())
    years = draw(st.integers(1, 5))
    increments = rng.multinomial(draw(st.integers(0, n_cand)), [1 / years] * years)
    urban0 = int((lu == URBAN).sum())
    demand = {2020: urban0}
    for i, inc in enumerate(increments):
        demand[2021 + i] = demand[2020 + i] + int(inc)
    weights = np.zeros(256, np.float32)
    weights[URBAN] = 1.0
    weights[3] = draw(st.floats(0, 1))
    params = GrowthParameters(
        urban_code=URBAN,
        weights=weights,
        radius=draw(st.integers(1, 3)),
        floor=draw(st.floats(0, 1)),
        alpha=draw(st.floats(0, 3)),
        seed=draw(st.integers(0, 2**63 - 1)),
    )
    return {
        "lu": lu,
        "suit": rng.random((ny, nx)).astype(np.float32),
        "candidate": candidate.astype(np.uint8),
        "demand": demand,
        "params": params,
        "layers": {"no_change": no_change, "no_construction": no_construction, "udb": boundary},
    }


def _run(w: dict):
    years = sorted(w["demand"])
    return simulate(
        w["lu"], w["suit"], w["candidate"], w["demand"], w["params"], years, layers=w["layers"]
    )


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(worlds())
def test_invariants(w: dict) -> None:
    """Demand met exactly, only candidates change and only to urban, nothing else moves."""
    copies = {k: v.copy() for k, v in w.items() if isinstance(v, np.ndarray)}
    res = _run(w)
    lu0, cand = w["lu"], w["candidate"].astype(bool)
    valid = lu0 != NODATA
    prev = lu0
    for rec in res.records:
        m = res.maps[rec.year]
        assert int((m == URBAN).sum()) == w["demand"][rec.year]
        assert int(res.class_counts[rec.year][URBAN]) == w["demand"][rec.year]
        changed = m != prev
        assert np.all(m[changed] == URBAN)
        assert np.all(cand[changed])
        assert np.all(m[prev == URBAN] == URBAN)
        assert np.array_equal(m == NODATA, ~valid)
        assert int(rec.from_class.sum()) == rec.new_urban == int(changed.sum())
        assert np.array_equal(rec.from_class, np.bincount(prev[changed], minlength=256))
        for name, mask in w["layers"].items():
            assert rec.inside[name] == int((changed & mask).sum())
        assert np.array_equal(res.class_counts[rec.year], np.bincount(m.ravel(), minlength=256))
        prev = m
    for k, v in copies.items():
        assert np.array_equal(w[k], v), f"simulate modified its input {k}"


@FAST
@given(worlds())
def test_engine_equals_numpy_oracle(w: dict) -> None:
    """Year by year, the engine equals the plain numpy composition of the reference steps."""
    res = _run(w)
    p = w["params"]
    lu = w["lu"].copy()
    cand = w["candidate"].copy()
    for year in sorted(w["demand"])[1:]:
        n = w["demand"][year] - int((lu == URBAN).sum())
        if n > 0:
            neigh = reference.neighborhood_effect(lu, p.weights, p.radius)
            key = reference.stream_key(p.seed, p.member, year)
            pot = reference.urban_potential(w["suit"], neigh, cand, p.floor, p.alpha, key)
            chosen = reference.select_top(pot, n)
            lu.ravel()[chosen] = URBAN
            cand.ravel()[chosen] = 0
        assert np.array_equal(res.maps[year], lu), f"differs from the oracle in {year}"


@settings(max_examples=20, deadline=None)
@given(worlds())
def test_same_seed_same_result(w: dict) -> None:
    """Two runs with one seed give identical maps."""
    a, b = _run(w), _run(w)
    for year in a.maps:
        assert np.array_equal(a.maps[year], b.maps[year])
