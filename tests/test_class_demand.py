"""Multi-class demand (landsim.demand.classes): hand-worked maps, invariants, refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from landsim.demand import classes
from landsim.demand.classes import (
    ClassDemand,
    check_sources,
    largest_remainder,
    markov_demand,
    population_class_demand,
    round_series,
    table_demand,
    trend_demand,
)
from landsim.errors import DemandError, InputError, LandsimError

EXAMPLES = settings(max_examples=40, deadline=None)
A, B, C, D = 1, 2, 3, 4


def _map(*parts: tuple[int, int], width: int = 10) -> np.ndarray:
    """A uint8 map holding ``count`` cells of each ``code``, in order, ``width`` wide."""
    flat = np.concatenate([np.full(n, code, dtype=np.uint8) for code, n in parts])
    return flat.reshape(-1, width)


def _pair(moves: dict[tuple[int, int], int]) -> tuple[np.ndarray, np.ndarray]:
    """An earlier and a later map with ``moves[(from, to)]`` cells of each transition."""
    before, after = [], []
    for (i, j), n in moves.items():
        before += [i] * n
        after += [j] * n
    return (
        np.array(before, dtype=np.uint8).reshape(-1, 10),
        np.array(after, dtype=np.uint8).reshape(-1, 10),
    )


def _one_line(exc: pytest.ExceptionInfo[LandsimError], *needles: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg and 'File "' not in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)
    return msg


def _counts(start: np.ndarray, districts: np.ndarray | None, codes: list[int]) -> dict:
    """Valid cells per district and class, counted the plain way."""
    d = np.zeros(start.shape, dtype=np.int64) if districts is None else districts
    out: dict[int, list[int]] = {}
    for code in np.unique(d[start != 255]):
        m = (d == code) & (start != 255)
        out[int(code)] = [int(np.sum(m & (start == c))) for c in codes]
    return out


def _assert_invariant(demand: ClassDemand, start, districts, codes) -> None:
    expected = _counts(start, districts, codes)
    assert demand.district_codes.tolist() == sorted(expected)
    assert demand.class_codes.tolist() == codes
    assert demand.cells.dtype == np.int64 and (demand.cells >= 0).all()
    for i, d in enumerate(demand.district_codes.tolist()):
        assert demand.cells[0, i].tolist() == expected[d]
        assert (demand.cells[:, i].sum(axis=1) == sum(expected[d])).all()
    assert (demand.cells.sum(axis=(1, 2)) == int(np.sum(start != 255))).all()
    assert np.array_equal(demand.at(int(demand.years[0])), demand.cells[0])
    json.dumps(demand.details)


# --------------------------------------------------------------------------- rounding


def test_largest_remainder_by_hand() -> None:
    """Floors, then the missing cells to the largest remainders; ties to the first class."""
    assert largest_remainder(np.array([1.5, 1.5, 1.0]), 4).tolist() == [2, 1, 1]
    assert largest_remainder(np.array([0.3, 0.3, 0.4]), 1).tolist() == [0, 0, 1]
    # 10 over three equal classes: 3.33 each, one more cell to the first.
    assert largest_remainder(np.array([1.0, 1.0, 1.0]), 10).tolist() == [4, 3, 3]
    rows = largest_remainder(np.array([[2.6, 7.4], [0.0, 0.0]]), np.array([10, 0]))
    assert rows.tolist() == [[3, 7], [0, 0]]


@EXAMPLES
@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=8),
    st.integers(0, 10**7),
)
def test_largest_remainder_is_exact(values: list[float], total: int) -> None:
    """The sum is exactly the total and each entry is the floor or ceiling of its share."""
    v = np.array(values)
    assume(v.sum() > 0)
    out = largest_remainder(v, total)
    assert out.sum() == total and (out >= 0).all()
    share = v * total / v.sum()
    assert np.all(out >= np.floor(share) - 1) and np.all(out <= np.ceil(share) + 1)


def test_round_series_never_moves_a_class_against_its_projection() -> None:
    """Rounding each year alone takes a cell from a growing class (the Alabama paradox).

    x = [17, 2, 5, 10] + t·[1, -2, -2, 3]/7 at t = 3 and 4:
    [122, 8, 29, 79]/7 = [17.43, 1.14, 4.14, 11.29] and [123, 6, 27, 82]/7 = [17.57, 0.86,
    3.86, 11.71]. Largest remainder alone: [18, 1, 4, 11], then floors [17, 0, 3, 11] and
    the 3 missing cells to remainders 6/7, 6/7, 5/7: [17, 1, 4, 12]: class 1 loses a cell
    while its projection grows. round_series keeps class 1 ≥ 18 and classes 2, 3 at most
    1 and 4: floors [18, 0, 3, 11], 2 cells to remainders 6/7, 6/7 → [18, 1, 4, 11].
    """
    xs = np.array([[122, 8, 29, 79], [123, 6, 27, 82]]) / 7
    totals = np.full(2, 34)
    assert largest_remainder(xs, totals).tolist() == [[18, 1, 4, 11], [17, 1, 4, 12]]
    assert round_series(xs, totals).tolist() == [[18, 1, 4, 11], [18, 1, 4, 11]]


@EXAMPLES
@given(
    st.lists(st.integers(0, 30), min_size=2, max_size=6),
    st.lists(st.lists(st.floats(-3, 3), min_size=6, max_size=6), min_size=1, max_size=8),
)
def test_round_series_properties(start: list[int], steps: list[list[float]]) -> None:
    """Exact sums, row 0 exact, every class moves with its projection, within 2 cells."""
    assume(sum(start) > 0)
    k, total = len(start), sum(start)
    xs = [np.array(start, dtype=float)]
    for step in steps:
        s = np.array(step[:k]) - np.mean(step[:k])
        nxt = np.clip(xs[-1] + s, 0, None)
        assume(nxt.sum() > 0)
        xs.append(nxt * total / nxt.sum())
    x = np.array(xs)
    out = round_series(x, np.full(len(x), total))
    assert out[0].tolist() == start and (out.sum(axis=1) == total).all() and (out >= 0).all()
    dx, dout = np.diff(x, axis=0), np.diff(out, axis=0)
    eps = 1e-9 * total
    assert not np.any((dx > eps) & (dout < 0)) and not np.any((dx < -eps) & (dout > 0))
    assert np.abs(out - x).max() < 2


# --------------------------------------------------------------------------- markov


def test_markov_two_classes_by_hand() -> None:
    """P = [[0.8, 0.2], [0.1, 0.9]] over 5 years; x(2025) = x(2015)·P²."""
    before, after = _pair({(A, A): 80, (A, B): 20, (B, A): 10, (B, B): 90})
    d = markov_demand(after, before, 2010, 2015, 2025, [A, B])
    assert np.allclose(d.details["matrix"], [[0.8, 0.2], [0.1, 0.9]])
    assert d.details["step_years"] == 5 and d.method == "markov"
    # Start x = [90, 110]. 2020: [90·0.8 + 110·0.1, 90·0.2 + 110·0.9] = [83, 117].
    # P² = [[0.66, 0.34], [0.17, 0.83]] → 2025: [59.4 + 18.7, 30.6 + 91.3] = [78.1, 121.9].
    # 2017 is 2/5 of the way from 2015 to 2020: 90 − 0.4·7 = 87.2 → 87 (113 for B).
    assert d.at(2015).tolist() == [[90, 110]]
    assert d.at(2020).tolist() == [[83, 117]]
    assert d.at(2025).tolist() == [[78, 122]]
    assert d.at(2017).tolist() == [[87, 113]]
    assert d.years.tolist() == list(range(2015, 2026))
    assert d.to_rows()[:2] == [
        {"year": 2015, "district": 0, "class_code": A, "cells": 90},
        {"year": 2015, "district": 0, "class_code": B, "cells": 110},
    ]


def test_markov_nodata_and_identity_row() -> None:
    """Cells nodata on either map are not counted; a class absent in y0 keeps itself."""
    before, after = _pair({(A, A): 50, (A, C): 10, (B, B): 30, (255, A): 5, (A, 255): 5})
    d = markov_demand(after, before, 2000, 2010, 2020, [A, B, C])
    assert d.details["identity_rows"] == [C]
    assert d.details["matrix"][2] == [0.0, 0.0, 1.0]
    assert d.details["transition_cells"][0] == [50, 0, 10]  # nodata pairs left out
    # Start: A 55, B 30, C 10; 2020 = x·P: A 55·5/6 = 45.83, C 10 + 9.17 = 19.17.
    assert d.at(2010).tolist() == [[55, 30, 10]]
    assert d.at(2020).tolist() == [[46, 30, 19]]


def test_markov_per_district_matrices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each district projects with its own matrix; the districts add up to the region."""
    before, after = _pair({(A, B): 50, (A, A): 50, (B, B): 100})
    dist = np.zeros(before.shape, dtype=np.int64)
    dist[:10] = 1  # the 100 cells that held A: half became B
    dist[10:] = 2  # B stays B
    monkeypatch.setattr(classes, "MIN_DISTRICT_CELLS", 10)
    d = markov_demand(after, before, 2010, 2020, 2030, [A, B], dist)
    assert d.district_codes.tolist() == [1, 2]
    # District 1: P = [[0.5, 0.5], [0, 1]], start [50, 50] → 2030 [25, 75].
    assert d.at(2030).tolist() == [[25, 75], [0, 100]]
    assert d.details["districts_using_region_matrix"] == []
    assert [x["matrix_source"] for x in d.details["districts"]] == ["own", "own"]
    _assert_invariant(d, after, dist, [A, B])


def test_markov_small_district_uses_the_region_matrix() -> None:
    """Under 100 compared cells a district takes the region's matrix, recorded."""
    before, after = _pair({(A, B): 50, (A, A): 50, (B, B): 100})
    dist = np.zeros(before.shape, dtype=np.int64)
    dist[5:7] = 7  # 20 cells that stayed A
    d = markov_demand(after, before, 2010, 2020, 2030, [A, B], dist)
    assert d.details["districts_using_region_matrix"] == [7]
    assert d.district_codes.tolist() == [0, 7]
    # Region P = [[0.5, 0.5], [0, 1]]; district 7 starts with 20 cells of A → [10, 10],
    # where its own (identity) matrix would have kept them all A.
    assert d.at(2030)[1].tolist() == [10, 10]
    _assert_invariant(d, after, dist, [A, B])


def test_markov_refusals() -> None:
    before, after = _pair({(A, A): 50, (A, B): 50})
    with pytest.raises(DemandError) as e:
        markov_demand(after, before[:5], 2010, 2015, 2020, [A, B], key="[demand]")
    _one_line(e, "[demand]", "5 × 10", "10 × 10", "same grid")
    with pytest.raises(DemandError) as e:
        markov_demand(after, after, 2010, 2015, 2020, [A, B])
    _one_line(e, "[demand]", "no cell changes", "Markov chain would predict no change", "trend")
    with pytest.raises(DemandError) as e:
        markov_demand(after, before, 2010, 2015, 2015, [A, B], key="[scenario.demand]")
    _one_line(e, "[scenario.demand]", "2015")
    with pytest.raises(DemandError) as e:
        markov_demand(after, before, 2015, 2015, 2020, [A, B])
    _one_line(e, "[demand]", "2015 is not before the start year")
    with pytest.raises(DemandError) as e:
        markov_demand(after, np.full_like(before, 9), 2010, 2015, 2020, [A, B])
    _one_line(e, "[demand]", "[9]", "not in the class table")


@st.composite
def _maps(draw, n_maps: int):
    h, w = draw(st.integers(2, 7)), draw(st.integers(2, 7))
    cell = st.sampled_from([A, B, C, 255])
    maps = [draw(arrays(np.uint8, (h, w), elements=cell)) for _ in range(n_maps)]
    assume((maps[-1] != 255).any())
    districts = draw(st.none() | arrays(np.int64, (h, w), elements=st.sampled_from([0, 1, 5])))
    return maps, districts


@EXAMPLES
@given(_maps(2), st.integers(1, 6), st.integers(1, 12), st.integers(1, 20))
def test_markov_invariant(data, step: int, years: int, min_cells: int) -> None:
    """Sums = valid cells per district, non-negative, year 0 = start, districts add up."""
    (before, after), districts = data
    both = (before != 255) & (after != 255)
    assume(np.any(before[both] != after[both]))
    with patch.object(classes, "MIN_DISTRICT_CELLS", min_cells):
        d = markov_demand(after, before, 2020 - step, 2020, 2020 + years, [A, B, C], districts)
    _assert_invariant(d, after, districts, [A, B, C])
    assert len(d.to_rows()) == d.cells.size


# --------------------------------------------------------------------------- trend


def test_trend_linear_by_hand() -> None:
    """Three dates, least squares: A 100, 96, 90 → −1/yr; B the mirror → +1/yr."""
    maps = {
        2000: _map((A, 100), (B, 100)),
        2005: _map((A, 96), (B, 104)),
        2010: _map((A, 90), (B, 110)),
    }
    d = trend_demand(maps, 2010, 2020, [A, B])
    assert d.at(2015).tolist() == [[85, 115]]
    assert d.at(2020).tolist() == [[80, 120]]
    fit = d.details["fits"][0]
    assert fit["curve"] == "linear" and fit["b"] == pytest.approx(-1.0)
    assert fit["a"] + fit["b"] * 2005 == pytest.approx(95 + 1 / 3)  # the fitted mean
    assert d.method == "trend"


def test_trend_log_by_hand() -> None:
    """log: f = a + b·ln(t − 2000 + 1); change 2010→2020 = b·ln(21/11), b = −20/ln 11."""
    maps = {2000: _map((A, 100), (B, 100)), 2010: _map((A, 80), (B, 120))}
    d = trend_demand(maps, 2010, 2020, [A, B], curve="log")
    change = -20 / math.log(11) * math.log(21 / 11)  # −5.39
    assert d.at(2020).tolist() == [[round(80 + change), round(120 - change)]] == [[75, 125]]


def test_trend_exp_rescales_only_the_moving_classes() -> None:
    """A halves and B doubles every 10 years; C is flat and keeps its 50 cells.

    2015: A 50/√2 = 35.36, B 100·√2 = 141.42 (sum with C 226.8); the moving classes are
    scaled to the 150 cells C leaves: A 30, B 120. 2020: A 25, B 200 → ×150/225 → 16.67,
    133.33 → 17, 133 by the largest remainder.
    """
    maps = {
        2000: _map((A, 100), (B, 50), (C, 50)),
        2010: _map((A, 50), (B, 100), (C, 50)),
    }
    d = trend_demand(maps, 2010, 2020, [A, B, C], curve="exp")
    assert d.at(2015).tolist() == [[30, 120, 50]]
    assert d.at(2020).tolist() == [[17, 133, 50]]
    fits = {f["class_code"]: f for f in d.details["fits"]}
    assert fits[A]["b"] == pytest.approx(math.log(0.5) / 10)
    assert fits[B]["a"] == pytest.approx(50)
    assert d.details["rescaled"]["moving"] > 0


def test_trend_clips_at_zero() -> None:
    """A 20 → 10 over 10 years reaches −10 by 2030: clipped to 0, B takes the rest."""
    maps = {2000: _map((A, 20), (B, 80)), 2010: _map((A, 10), (B, 90))}
    d = trend_demand(maps, 2010, 2030, [A, B])
    assert d.at(2020).tolist() == [[0, 100]]
    assert d.at(2030).tolist() == [[0, 100]]


def test_trend_exp_with_a_zero_count_falls_back_to_linear() -> None:
    maps = {2000: _map((A, 0), (B, 100)), 2010: _map((A, 10), (B, 90))}
    d = trend_demand(maps, 2010, 2020, [A, B], curve={A: "exp", B: "exp"})
    fits = {f["class_code"]: f for f in d.details["fits"]}
    assert fits[A]["curve"] == "linear" and fits[A]["asked"] == "exp"
    assert "log space" in fits[A]["note"] and fits[B]["curve"] == "exp"
    assert [f["class_code"] for f in d.details["fallbacks"]] == [A]
    assert d.at(2020)[0].sum() == 100


def test_trend_fits_on_the_cells_valid_at_every_date() -> None:
    """10 cells nodata in 2000 and B in 2010 are no trend of B: the footprint is 90 cells."""
    maps = {
        2000: _map((A, 50), (B, 40), (255, 10)),
        2010: _map((A, 50), (B, 50)),
    }
    d = trend_demand(maps, 2010, 2020, [A, B])
    assert d.at(2020).tolist() == [[50, 50]]
    assert d.details["footprint_cells"] == [90]


def test_trend_refusals() -> None:
    start = _map((A, 50), (B, 50))
    with pytest.raises(DemandError) as e:
        trend_demand({2010: start}, 2010, 2020, [A, B], curve="exp")
    _one_line(e, "[demand.maps]", "2 or more")
    with pytest.raises(DemandError) as e:
        trend_demand({2000: start, 2010: start, 2015: start}, 2010, 2020, [A, B])
    _one_line(e, "[demand.maps]", "2015", "latest")
    with pytest.raises(DemandError) as e:
        trend_demand({2000: start, 2005: start}, 2010, 2020, [A, B])
    _one_line(e, "[demand.maps]", "no map for the start year 2010")
    with pytest.raises(DemandError) as e:
        trend_demand({2000: start[:5], 2010: start}, 2010, 2020, [A, B])
    _one_line(e, "[demand.maps]", "2000 map is 5 × 10", "same grid")
    with pytest.raises(DemandError) as e:
        trend_demand({2000: start, 2010: start}, 2010, 2020, [A, B], curve="expo")
    _one_line(e, "[demand.curve]", "'expo'", "did you mean 'exp'", "linear, log, exp")
    with pytest.raises(DemandError) as e:
        trend_demand({2000: start, 2010: start}, 2010, 2020, [A, B], curve={9: "log"})
    _one_line(e, "[demand.curve]", "[9]")
    with pytest.raises(DemandError) as e:
        trend_demand({2000: start, 2010: start}, 2010, 2010, [A, B], key="[x]")
    _one_line(e, "[x]", "not after its start year")


@EXAMPLES
@given(
    _maps(3),
    st.sampled_from(["linear", "log", "exp"]),
    st.lists(st.integers(1, 8), min_size=2, max_size=2, unique=True),
    st.integers(1, 25),
)
def test_trend_invariant(data, curve: str, gaps: list[int], years: int) -> None:
    maps, districts = data
    dates = [2020 - gaps[0] - gaps[1], 2020 - gaps[1], 2020]
    d = trend_demand(
        dict(zip(dates, maps, strict=True)), 2020, 2020 + years, [A, B, C], districts, curve
    )
    _assert_invariant(d, maps[-1], districts, [A, B, C])


# --------------------------------------------------------------------------- table

NAMES = ["cropland", "forest"]


def _write(tmp_path: Path, text: str | bytes, name: str = "demand.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return p


START = _map((A, 600), (B, 400))  # 1,000 cells, 2020


def test_table_interpolates_from_the_start_map(tmp_path: Path) -> None:
    """2020 from the map (600/400), 2025 and 2030 from the table, linear between."""
    p = _write(
        tmp_path,
        "year,class,value\n2025,cropland,500\n2025,forest,500\n2030,1,400\n2030,2,600\n",
    )
    d = table_demand(p, START, 2020, 2030, [A, B], NAMES)
    assert d.at(2020).tolist() == [[600, 400]]
    assert d.at(2022).tolist() == [[560, 440]]
    assert d.at(2025).tolist() == [[500, 500]]
    assert d.at(2027).tolist() == [[460, 540]]
    assert d.at(2030).tolist() == [[400, 600]]
    assert d.method == "table" and d.details["table_years"] == [2025, 2030]


@pytest.mark.parametrize(("unit", "per_cell"), [("km2", 0.0009), ("ha", 0.09)])
def test_table_units(tmp_path: Path, unit: str, per_cell: float) -> None:
    """30 m cells: 0.0009 km² = 0.09 ha each."""
    a, b = 500 * per_cell, 500 * per_cell
    p = _write(tmp_path, f"year,class,value\n2030,cropland,{a}\n2030,forest,{b}\n")
    d = table_demand(p, START, 2020, 2030, [A, B], NAMES, unit=unit, cell_area_km2=0.0009)
    assert d.at(2030).tolist() == [[500, 500]]


def test_table_within_a_tenth_of_a_percent_is_rescaled(tmp_path: Path) -> None:
    """500.4 + 500 = 1,000.4 cells (0.04 % over): ×1000/1000.4 → 500.2, 499.8 → 500, 500."""
    p = _write(tmp_path, "year,class,value\n2030,cropland,500.4\n2030,forest,500\n")
    d = table_demand(p, START, 2020, 2030, [A, B], NAMES)
    assert d.at(2030).tolist() == [[500, 500]]
    assert d.details["rescaled"][0]["table_cells"] == pytest.approx(1000.4)


def test_table_start_year_row_is_checked(tmp_path: Path) -> None:
    ok = "year,class,value\n2020,cropland,601\n2020,forest,399\n2030,1,400\n2030,2,600\n"
    d = table_demand(_write(tmp_path, ok), START, 2020, 2030, [A, B], NAMES)
    assert d.at(2020).tolist() == [[600, 400]]  # the map, not the table
    bad = "year,class,value\n2020,cropland,610\n2020,forest,390\n2030,1,400\n2030,2,600\n"
    with pytest.raises(DemandError) as e:
        table_demand(_write(tmp_path, bad), START, 2020, 2030, [A, B], NAMES)
    _one_line(e, "demand.csv, line 2", "610", "cropland", "600", "observed vs table")


def test_table_by_district(tmp_path: Path) -> None:
    """Districts by name and by code; each district sums to its cells, all to the region."""
    dist = np.zeros(START.shape, dtype=np.int64)
    dist[:, :5] = 1  # east: 300 cropland + 200 forest
    dist[:, 5:] = 2  # west: the same
    text = (
        "year,district,class,value\n"
        "2030,east,cropland,250\n2030,east,forest,250\n"
        "2030,2,cropland,200\n2030,2,forest,300\n"
    )
    names = {1: "east", 2: "west"}
    d = table_demand(_write(tmp_path, text), START, 2020, 2030, [A, B], NAMES, dist, names)
    assert d.district_codes.tolist() == [1, 2]
    assert d.at(2020).tolist() == [[300, 200], [300, 200]]
    assert d.at(2030).tolist() == [[250, 250], [200, 300]]
    assert d.at(2025).tolist() == [[275, 225], [250, 250]]
    _assert_invariant(d, START, dist, [A, B])


TABLE_REFUSALS = [
    # (file text or bytes, error type, text the message must hold)
    ("year,class,value\n2030,forset,500\n2030,cropland,500\n", InputError,
     ["line 2", "'forset'", "did you mean 'forest'"]),
    ("year,class,value\n2030,cropland,1000\n", InputError,
     ["year 2030", "no row for class forest"]),
    ("year,class,value\n2030,cropland,500\n2030,forest,500\n2030,1,500\n", InputError,
     ["line 4", "repeats year 2030", "first on line 2"]),
    ("year,class,value\n2030,cropland,abc\n2030,forest,500\n", InputError,
     ["line 2", "'abc'", "not a number"]),
    ("year,class,value\n2030,cropland,500\n2030,forest,-5\n", InputError,
     ["line 3", "'-5'", "negative"]),
    ("", InputError, ["empty"]),
    ("\n\n", InputError, ["empty"]),
    ("year,class,value\n", InputError, ["no rows"]),
    ("yr,class,amount\n2030,cropland,500\n", InputError, ["line 1", "header", "year,class,value"]),
    ("year,class,value\n2030.5,cropland,500\n", InputError, ["line 2", "'2030.5'", "whole number"]),
    ("year,class,value\n2030,cropland,500,1\n", InputError, ["line 2", "4 fields"]),
    ("year,class,value\n2030,cropland,600\n2030,forest,500\n", DemandError,
     ["demands for 2030 sum to 1,100 cells", "valid area is 1,000 cells", "fix the table"]),
    ("year,class,value\n2025,cropland,500\n2025,forest,500\n", DemandError,
     ["the table ends in 2025 but the run goes to 2030; add rows for 2030"]),
    ("year,class,value\n2010,cropland,500\n2010,forest,500\n", DemandError,
     ["ends in 2010"]),
    ("year,district,class,value\n2030,1,cropland,500\n2030,1,forest,500\n", InputError,
     ["district column", "no district layer"]),
    ("年,class,value\n".encode("gbk") + b"2030,cropland,500\n", InputError,
     ["line 1", "not UTF-8", "CSV UTF-8"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "error", "needles"), TABLE_REFUSALS)
def test_table_refusals(tmp_path: Path, text, error, needles: list[str]) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(error) as e:
        table_demand(p, START, 2020, 2030, [A, B], NAMES)
    _one_line(e, str(p), *needles)


def test_table_refusals_of_units_districts_and_files(tmp_path: Path) -> None:
    good = _write(tmp_path, "year,class,value\n2030,cropland,0.45\n2030,forest,0.45\n")
    with pytest.raises(DemandError) as e:
        table_demand(good, START, 2020, 2030, [A, B], NAMES, unit="km2")
    _one_line(e, "[demand.unit]", "'km2' needs the cell area")
    with pytest.raises(DemandError) as e:
        table_demand(good, START, 2020, 2030, [A, B], NAMES, unit="acre")
    _one_line(e, "[demand.unit]", "'acre'", "cells, km2, ha")
    with pytest.raises(InputError) as e:
        table_demand(tmp_path / "nope.csv", START, 2020, 2030, [A, B], NAMES)
    _one_line(e, "nope.csv", "not found")

    dist = np.zeros(START.shape, dtype=np.int64)
    dist[:, :5] = 1
    dist[:, 5:] = 2
    names = {1: "east", 2: "west"}
    with pytest.raises(InputError) as e:
        table_demand(good, START, 2020, 2030, [A, B], NAMES, dist, names)
    _one_line(e, "no district column")
    typo = _write(tmp_path, "year,district,class,value\n2030,eats,cropland,1\n", "typo.csv")
    with pytest.raises(InputError) as e:
        table_demand(typo, START, 2020, 2030, [A, B], NAMES, dist, names)
    _one_line(e, "typo.csv, line 2", "unknown district 'eats'", "did you mean 'east'")
    one = _write(
        tmp_path, "year,district,class,value\n2030,1,cropland,250\n2030,1,forest,250\n", "one.csv"
    )
    with pytest.raises(InputError) as e:
        table_demand(one, START, 2020, 2030, [A, B], NAMES, dist, names)
    _one_line(e, "one.csv", "no rows for district west (code 2)")
    bad_sum = _write(
        tmp_path,
        "year,district,class,value\n2030,1,cropland,250\n2030,1,forest,250\n"
        "2030,2,cropland,300\n2030,2,forest,300\n",
        "sum.csv",
    )
    with pytest.raises(DemandError) as e:
        table_demand(bad_sum, START, 2020, 2030, [A, B], NAMES, dist, names)
    _one_line(e, "sum.csv", "demands for 2030 (district west) sum to 600 cells", "500 cells")


# --------------------------------------------------------------------------- population

U, CROP, FOREST, WATER = 1, 2, 3, 4
POP_CODES = [U, CROP, FOREST, WATER]
POP_START = _map((U, 10), (CROP, 60), (FOREST, 20), (WATER, 10))


def test_population_proportional_by_hand() -> None:
    """Gain 10 from cropland 60 and forest 20: 7.5 + 2.5 → the tie goes to cropland (8, 2).
    Gain 30: 22.5 + 7.5 → 23 + 7. Water (fixed) keeps 10."""
    d = population_class_demand(
        POP_START, {2020: 10, 2021: 20, 2022: 40}, POP_CODES, U, fixed={WATER}
    )
    assert d.cells[:, 0].tolist() == [[10, 60, 20, 10], [20, 52, 18, 10], [40, 37, 13, 10]]
    assert d.method == "population" and d.years.tolist() == [2020, 2021, 2022]
    same = population_class_demand(
        POP_START, np.array([10, 20, 40]), POP_CODES, U, start_year=2020, fixed={WATER}
    )
    assert np.array_equal(same.cells, d.cells)
    # Without fixed classes water gives too: 10 from 90 → crop 6.67, forest 2.22, water 1.11.
    d2 = population_class_demand(POP_START, {2020: 10, 2021: 20}, POP_CODES, U)
    assert d2.at(2021).tolist() == [[20, 53, 18, 9]]


def test_population_shares_and_exhausted_sources() -> None:
    """Half from cropland, half from forest; forest runs out at 20 and cropland gives the rest."""
    series = {2020: 10, 2021: 40, 2022: 70}
    d = population_class_demand(
        POP_START, series, POP_CODES, U, shares={CROP: 0.5, FOREST: 0.5}, fixed={WATER}
    )
    assert d.at(2021).tolist() == [[40, 45, 5, 10]]  # 15 + 15
    assert d.at(2022).tolist() == [[70, 20, 0, 10]]  # forest 20, cropland 40
    assert d.details["sources_exhausted"] == [{"year": 2022, "district": 0, "classes": [FOREST]}]
    only_crop = population_class_demand(POP_START, series, POP_CODES, U, shares={CROP: 1.0})
    assert only_crop.at(2022).tolist() == [[70, 0, 20, 10]]


def test_population_districts_split_by_start_urban() -> None:
    """District 1 holds 8 of the 10 urban cells: it gets 8 of every 10 new ones."""
    dist = np.full(POP_START.shape, 2, dtype=np.int64)
    dist.flat[:8] = 1
    dist.flat[10:50] = 1
    d = population_class_demand(POP_START, {2020: 10, 2021: 20, 2022: 25}, POP_CODES, U, dist)
    urban = d.cells[:, :, 0]
    assert urban.tolist() == [[8, 2], [16, 4], [20, 5]]
    assert d.details["district_split"]["basis"] == "start urban cells"
    _assert_invariant(d, POP_START, dist, POP_CODES)


@EXAMPLES
@given(
    arrays(np.uint8, (5, 6), elements=st.sampled_from([U, CROP, FOREST, WATER, 255])),
    st.none() | arrays(np.int64, (5, 6), elements=st.sampled_from([0, 1, 2])),
    st.lists(st.integers(0, 3), min_size=1, max_size=6),
    st.sampled_from(["proportional", {CROP: 0.7, FOREST: 0.3}]),
)
def test_population_invariant(start, districts, steps, shares) -> None:
    """Urban follows the series exactly (per district summing to it), water stays, the
    sources only shrink, sums = valid cells."""
    assume((start != 255).any())
    series = int(np.sum(start == U)) + np.cumsum([0, *steps])
    try:
        d = population_class_demand(
            start, series, POP_CODES, U, districts, start_year=2020, shares=shares, fixed={WATER}
        )
    except DemandError as e:
        assert "needs" in str(e) and "\n" not in str(e)
        return
    _assert_invariant(d, start, districts, POP_CODES)
    assert d.cells[:, :, 0].sum(axis=1).tolist() == series.tolist()
    assert (d.cells[:, :, 3] == d.cells[0, :, 3]).all()
    assert (np.diff(d.cells[:, :, 1:3], axis=0) <= 0).all()
    assert (np.diff(d.cells[:, :, 0], axis=0) >= 0).all()


def test_population_refusals() -> None:
    def run(series=None, **kw):
        series = series or {2020: 10, 2021: 20}
        return population_class_demand(POP_START, series, POP_CODES, U, **kw)

    with pytest.raises(DemandError) as e:
        run({2020: 10, 2021: 91}, fixed={WATER})
    _one_line(e, "[demand]", "2021", "needs 81 new urban cells", "hold 80", "[demand.shares]")
    with pytest.raises(DemandError) as e:
        run({2020: 10, 2021: 31}, shares={FOREST: 1.0})
    _one_line(e, "needs 21 new urban cells", "hold 20")
    with pytest.raises(DemandError) as e:
        run(shares={CROP: 0.5, FOREST: 0.4})
    _one_line(e, "[demand.shares]", "sum to 0.9")
    with pytest.raises(DemandError) as e:
        run(shares={WATER: 1.0}, fixed={WATER})
    _one_line(e, "[demand.shares]", "[4]")
    with pytest.raises(DemandError) as e:
        run(shares="equal")
    _one_line(e, "[demand.shares]", "'equal'", "proportional")
    with pytest.raises(DemandError) as e:
        run(fixed={9})
    _one_line(e, "[demand.fixed]", "[9]")
    with pytest.raises(DemandError) as e:
        run({2020: 12, 2021: 20})
    _one_line(e, "[demand]", "12 cells in 2020", "holds 10 urban cells")
    with pytest.raises(DemandError) as e:
        run({2020: 10, 2021: 9})
    _one_line(e, "falls to 9 cells in 2021")
    with pytest.raises(DemandError) as e:
        population_class_demand(POP_START, {2020: 10, 2021: 20}, POP_CODES, 7)
    _one_line(e, "urban class code 7")
    with pytest.raises(DemandError) as e:
        run({2020: 10})
    _one_line(e, "not after its start year")


# --------------------------------------------------------------------------- check_sources


def _demand(rows: list[list[int]], districts: list[int] | None = None) -> ClassDemand:
    cells = np.array(rows, dtype=np.int64)
    if cells.ndim == 2:
        cells = cells[:, None, :]
    return ClassDemand(
        np.arange(2020, 2020 + len(cells)),
        np.array(districts or [0]),
        np.array([A, B, C]),
        cells,
        "test",
    )


def test_check_sources() -> None:
    names = ["cropland", "forest", "urban"]
    grows = _demand([[10, 10, 10], [8, 10, 12]])  # urban +2, cropland −2
    allowed = np.zeros((3, 3), dtype=bool)
    allowed[1, 2] = True  # forest → urban, but forest does not shrink
    with pytest.raises(DemandError) as e:
        check_sources(grows, allowed, names)
    _one_line(
        e,
        "class urban grows by 2 cells in 2021 but no shrinking class (cropland) may convert to it",
        "allow a source in [conversion] allowed",
    )
    direct = np.zeros((3, 3), dtype=bool)
    direct[0, 2] = True
    assert check_sources(grows, direct, names) is None
    # cropland → forest → urban: forest holds cells, so it can pass cells on.
    chain = np.zeros((3, 3), dtype=bool)
    chain[0, 1] = chain[1, 2] = True
    assert check_sources(grows, chain, names) is None
    empty_middle = _demand([[10, 0, 10], [8, 0, 12]])
    with pytest.raises(DemandError):
        check_sources(empty_middle, chain, names)
    per_district = _demand([[[5, 5, 5], [10, 10, 10]], [[5, 5, 5], [8, 10, 12]]], [1, 3])
    with pytest.raises(DemandError) as e:
        check_sources(per_district, allowed, names, key="[model.conversion]")
    _one_line(e, "in 2021 (district 3)", "[model.conversion] allowed")


def test_check_sources_on_a_population_demand() -> None:
    d = population_class_demand(POP_START, {2020: 10, 2021: 20}, POP_CODES, U, shares={FOREST: 1.0})
    allowed = np.zeros((4, 4), dtype=bool)
    allowed[1, 0] = True  # only cropland may become urban, and cropland does not shrink
    with pytest.raises(DemandError) as e:
        check_sources(d, allowed, ["urban", "cropland", "forest", "water"])
    _one_line(e, "class urban grows by 10 cells in 2021", "(forest)")
    allowed[2, 0] = True
    check_sources(d, allowed, ["urban", "cropland", "forest", "water"])


def test_class_demand_object() -> None:
    """Read-only arrays, at() outside the years, and the invariant on direct construction."""
    before, after = _pair({(A, A): 80, (A, B): 20, (B, B): 100})
    d = markov_demand(after, before, 2010, 2015, 2017, [A, B])
    assert not d.cells.flags.writeable and not d.years.flags.writeable
    with pytest.raises(KeyError):
        d.at(2018)
    with pytest.raises(ValueError, match="sum"):
        _demand([[10, 10, 10], [10, 10, 11]])
    with pytest.raises(ValueError, match="negative"):
        _demand([[10, 10, 10], [-1, 21, 10]])
