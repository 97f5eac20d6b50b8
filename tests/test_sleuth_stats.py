"""SLEUTH's measures and fit scores (``landsim.sleuth.stats``) against SLEUTH's own outputs.

The demo200 reference outputs were made by the SLEUTH 3.0beta C code (see
``SOURCE.md`` of the demo data). ``base_statistics.txt`` is deterministic and must be
reproduced to its printed digits. ``test/control_stats.log`` is reproduced from
``test/avg.log``; avg.log prints its means with 2 decimals, which fixes the integer-valued
means (pop, edges, clusters, cl_size: multiples of 1/4 with 4 members) exactly but not
xmean, ymean, rad, slope or leesalee, so those columns are checked to lie within the
range that the rounding of avg.log allows.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from landsim.sleuth import stats
from landsim.sleuth.stats import (
    AREA,
    CL_SIZE,
    CLUSTERS,
    EDGES,
    N_STATS,
    POP,
    RAD,
    SLOPE,
    STAT_NAMES,
    XMEAN,
    YMEAN,
    fit_scores,
    lee_sallee,
    urban_stats,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path("/work/shared/data/sleuth-demo")
YEARS = (1930, 1950, 1970, 1990)
CONTROL_YEARS = YEARS[1:]


def demo_path(relative: str) -> Path:
    """A demo200 file: the repository's copy when present, else the shared original."""
    for root in (REPO / "rasters" / "sleuth_demo200", SHARED):
        if (root / relative).exists():
            return root / relative
    pytest.skip(f"demo200 file {relative} not available")


def read_gif(name: str) -> np.ndarray:
    """A demo GIF's cell values as SLEUTH sees them: the palette's gray level, not the index."""
    rasterio = pytest.importorskip("rasterio")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the GIFs carry no georeferencing
        with rasterio.open(demo_path(f"input/{name}")) as ds:
            index = ds.read(1)
            colormap = ds.colormap(1)
    gray = np.zeros(256, dtype=np.uint8)
    for i, rgba in colormap.items():
        gray[i] = rgba[0]
    return gray[index]


def measure(urban: np.ndarray, slope: np.ndarray) -> np.ndarray:
    out = np.full(N_STATS, np.nan)
    urban_stats(urban, slope, out)
    return out


class Demo(NamedTuple):
    slope: np.ndarray
    urban: dict[int, np.ndarray]
    roads: dict[int, int]  # road cells (> 0) of each road year
    excluded: int  # excluded cells (>= 100), as SLEUTH counts them for %urban


@pytest.fixture(scope="module")
def demo() -> Demo:
    return Demo(
        slope=read_gif("demo200.slope.gif"),
        urban={y: (read_gif(f"demo200.urban.{y}.gif") > 0).astype(np.uint8) for y in YEARS},
        roads={y: int((read_gif(f"demo200.roads.{y}.gif") > 0).sum()) for y in YEARS},
        excluded=int((read_gif("demo200.excluded.gif") >= 100).sum()),
    )


# ---------------------------------------------------------------- measures of one grid


def reference_stats(urban: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """The definitions spelled out with numpy/scipy, slowly and obviously."""
    u = urban != 0
    ny, nx = u.shape
    area = int(u.sum())
    # Out-of-image neighbours count as urban, so they never make an edge.
    padded = np.pad(u, 1, constant_values=True)
    non_urban_nb = ~padded[:-2, 1:-1] | ~padded[2:, 1:-1] | ~padded[1:-1, :-2] | ~padded[1:-1, 2:]
    edges = int((u & non_urban_nb).sum())
    inner = u[1:-1, 1:-1] if ny >= 3 and nx >= 3 else np.zeros((0, 0), dtype=bool)
    clusters = ndimage.label(inner)[1] if inner.size else 0  # 4-connectivity by default
    rows, cols = np.nonzero(u)
    out = np.zeros(N_STATS)
    out[POP] = out[AREA] = area
    out[EDGES] = edges
    out[CLUSTERS] = clusters
    out[XMEAN] = cols.mean() if area else 0.0
    out[YMEAN] = rows.mean() if area else 0.0
    out[RAD] = math.sqrt(area / math.pi)
    out[SLOPE] = slope[u].astype(np.float64).mean() if area else 0.0
    out[CL_SIZE] = int(inner.sum()) // clusters if clusters else 0
    return out


@st.composite
def grids(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    shape = (draw(st.integers(1, 14)), draw(st.integers(1, 14)))
    density = draw(st.sampled_from([0.1, 0.4, 0.6, 0.9]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    urban = (rng.random(shape) < density).astype(np.uint8)
    if draw(st.booleans()):
        urban *= draw(st.sampled_from([1, 7, 255]))  # any nonzero value is urban
    slope = draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 60)))
    return urban, slope


@settings(max_examples=60)
@given(grids())
def test_urban_stats_matches_reference(grid: tuple[np.ndarray, np.ndarray]) -> None:
    urban, slope = grid
    np.testing.assert_allclose(measure(urban, slope), reference_stats(urban, slope), rtol=1e-12)


@pytest.mark.parametrize(
    "case",
    ["empty", "full", "border_ring", "border_only_corner", "single_row", "one_cell"],
)
def test_urban_stats_edge_cases(case: str) -> None:
    slope = np.arange(42, dtype=np.uint8).reshape(6, 7)
    urban = np.zeros((6, 7), dtype=np.uint8)
    if case == "full":
        urban[:] = 1
    elif case == "border_ring":
        urban[[0, -1], :] = 1
        urban[:, [0, -1]] = 1
    elif case == "border_only_corner":
        urban[0, 0] = 1
    elif case == "single_row":
        urban, slope = np.ones((1, 9), np.uint8), np.ones((1, 9), np.uint8)
    elif case == "one_cell":
        urban[2, 3] = 1
    got = measure(urban, slope)
    np.testing.assert_allclose(got, reference_stats(urban, slope), rtol=1e-12)
    expected = {
        "empty": {POP: 0, EDGES: 0, CLUSTERS: 0, CL_SIZE: 0, XMEAN: 0, SLOPE: 0},
        # No non-urban cell inside the image: no edges; one cluster of the 4 x 5 inside.
        "full": {POP: 42, EDGES: 0, CLUSTERS: 1, CL_SIZE: 20, XMEAN: 3, YMEAN: 2.5},
        # Urban only on the outermost rows/columns: no cluster; the 4 corners have only
        # urban neighbours inside the image, so they are not edges.
        "border_ring": {POP: 22, EDGES: 18, CLUSTERS: 0, CL_SIZE: 0},
        "border_only_corner": {POP: 1, EDGES: 1, CLUSTERS: 0, XMEAN: 0, YMEAN: 0, SLOPE: 0},
        "single_row": {POP: 9, EDGES: 0, CLUSTERS: 0, CL_SIZE: 0, XMEAN: 4},
        "one_cell": {POP: 1, EDGES: 1, CLUSTERS: 1, CL_SIZE: 1, XMEAN: 3, YMEAN: 2, SLOPE: 17},
    }[case]
    for index, value in expected.items():
        assert got[index] == value, STAT_NAMES[index]


def test_clusters_split_by_the_frame() -> None:
    # A U joined only through the bottom row: two clusters once the frame is ignored,
    # and cl_size counts the 6 cells inside the frame, not the 9 urban cells.
    urban = np.zeros((5, 5), dtype=np.uint8)
    urban[1:, 1] = 1
    urban[1:, 3] = 1
    urban[4, 1:4] = 1
    got = measure(urban, np.zeros_like(urban))
    assert got[POP] == 9
    assert got[CLUSTERS] == 2
    assert got[CL_SIZE] == 3


def test_clusters_spiral_and_comb() -> None:
    # Shapes that make run-based union-find merge late: a comb and a spiral.
    comb = np.zeros((12, 15), dtype=np.uint8)
    comb[1:10, 1:14:2] = 1
    comb[10, 1:14] = 1
    spiral = np.zeros((13, 13), dtype=np.uint8)
    lo, hi = 1, 11
    while lo <= hi:
        spiral[lo, lo : hi + 1] = 1
        spiral[lo : hi + 1, hi] = 1
        spiral[hi, lo : hi + 1] = 1
        spiral[lo + 2 : hi + 1, lo] = 1
        lo += 2
        hi -= 2
    for urban in (comb, spiral, comb.T.copy(), spiral[::-1].copy()):
        slope = np.zeros_like(urban)
        np.testing.assert_array_equal(measure(urban, slope), reference_stats(urban, slope))


def test_base_statistics_reproduced_exactly(demo: Demo) -> None:
    reference = stats.read_base_statistics(demo_path("reference-output/base_statistics.txt"))
    assert sorted(reference) == list(YEARS)
    text = demo_path("reference-output/base_statistics.txt").read_text()
    for year in YEARS:
        got = measure(demo.urban[year], demo.slope)
        line = next(ln for ln in text.splitlines() if ln.split()[:1] == [str(year)])
        # Compare the digits SLEUTH printed: %.2f everywhere but %.3f for the cluster size.
        printed = line.replace("(", " ").replace(")", " ").replace(",", " ").split()[1:]
        order = (AREA, EDGES, CLUSTERS, POP, XMEAN, YMEAN, RAD, SLOPE)
        ours = [f"{got[i]:.2f}" for i in order] + [f"{got[CL_SIZE]:.3f}"]
        assert ours == printed, year
        for name in STAT_NAMES:
            assert reference[year][name] == pytest.approx(got[STAT_NAMES.index(name)], abs=5e-3)


# ----------------------------------------------------------------------- Lee-Sallee


def test_lee_sallee_by_hand() -> None:
    sim = np.array([[1, 1, 0], [0, 1, 0]], dtype=np.uint8)
    obs = np.array([[0, 1, 1], [0, 1, 0]], dtype=bool)
    # Intersection: (0,1), (1,1) = 2. Union: (0,0), (0,1), (0,2), (1,1) = 4.
    assert lee_sallee(sim, obs) == 0.5
    assert lee_sallee(obs, obs) == 1.0
    assert lee_sallee(sim * 200, np.zeros((2, 3), np.uint8)) == 0.0
    assert lee_sallee(np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.uint8)) == 1.0
    with pytest.raises(ValueError):
        lee_sallee(sim, np.zeros((3, 3), np.uint8))


# -------------------------------------------------------------------- fit scores


def test_r_squared_zero_variance() -> None:
    assert stats.r_squared([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) == 0.0
    assert stats.r_squared([4.0, 4.0, 4.0], [1.0, 2.0, 4.0]) == 0.0
    assert stats.r_squared([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert stats.r_squared([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(1.0)


def _observed(demo: Demo) -> np.ndarray:
    return np.array([measure(demo.urban[y], demo.slope) for y in CONTROL_YEARS])


def _avg_table(avg: dict[int, dict[str, float]]) -> np.ndarray:
    return np.array([stats.stats_vector(avg[y]) for y in CONTROL_YEARS])


def test_fit_scores_reproduce_test_control_stats(demo: Demo) -> None:
    avg = stats.read_avg_log(demo_path("reference-output/test/avg.log"))
    (ref,) = stats.read_control_stats(demo_path("reference-output/test/control_stats.log"))
    assert (ref["diffusion"], ref["breed"], ref["spread"]) == (5, 5, 10)
    assert (ref["slope_resistance"], ref["road_gravity"]) == (95, 5)
    obs = _observed(demo)
    sim = _avg_table(avg)
    lee = [avg[y]["leesalee"] for y in CONTROL_YEARS]
    roads = [demo.roads[y] for y in CONTROL_YEARS]
    got = fit_scores(
        sim, obs, lee, road_pixels=roads, excluded_pixels=demo.excluded, total_pixels=40000
    )

    # SLEUTH's own %urban of the means, as avg.log prints it, checks the road counts.
    pct = stats.percent_urban(sim[:, POP], roads, demo.excluded, 40000)
    assert [f"{p:.2f}" for p in pct] == [f"{avg[y]['%urban']:.2f}" for y in CONTROL_YEARS]

    # Columns that avg.log's 2 decimals determine exactly: equal at control_stats' 5.
    for name in ("compare", "pop", "edges", "clusters", "cluster_size", "pct_urban"):
        assert f"{got[name]:.5f}" == f"{ref[name]:.5f}", name
    assert got["fmatch"] == 0.0 == ref["fmatch"]

    # Columns from rounded means: the reference must lie in the range of r² over every
    # rounding of the three printed means (a 5-point grid on each ±0.005 interval).
    column = {"slope": SLOPE, "xmean": XMEAN, "ymean": YMEAN, "rad": RAD}
    offsets = np.linspace(-0.005, 0.005, 5)
    for name, k in column.items():
        values = [
            stats.r_squared(obs[:, k], sim[:, k] + np.array(d))
            for d in itertools.product(offsets, repeat=3)
        ]
        assert min(values) - 1e-5 <= ref[name] <= max(values) + 1e-5, name
        assert got[name] == pytest.approx(ref[name], abs=5e-3), name
    # Lee-Sallee: the mean of the three printed year means, each good to ±0.005.
    assert got["leesalee"] == pytest.approx(np.mean(lee))
    assert abs(got["leesalee"] - ref["leesalee"]) <= 0.005

    # Product: SLEUTH's product of its own printed columns, and ours of ours.
    assert stats.product_score(ref) == pytest.approx(ref["product"], abs=1e-5)
    assert got["product"] == pytest.approx(stats.product_score(got), rel=1e-12)
    assert got["product"] == pytest.approx(ref["product"], rel=0.03)
    expected_osm = np.prod([got[n] for n in ("compare", "pop", "edges", "clusters")])
    expected_osm *= got["slope"] * got["xmean"] * got["ymean"]
    assert got["osm"] == pytest.approx(expected_osm)


def test_fit_scores_inputs(demo: Demo) -> None:
    obs = _observed(demo)
    sim = obs * np.array([1.1, 1.1, 0.9, 1.2, 1, 1, 1.05, 1, 1])
    as_dict = fit_scores(dict(zip(CONTROL_YEARS, sim, strict=True)), obs, 0.5)
    as_array = fit_scores(sim, dict(zip(CONTROL_YEARS, obs, strict=True)), [0.4, 0.5, 0.6])
    assert as_dict == as_array
    # Without road counts, %urban is affine in pop and scores like it.
    assert as_dict["pct_urban"] == as_dict["pop"]
    assert as_dict["compare"] == pytest.approx(1 / 1.1)
    with_land = fit_scores(sim, obs, 0.5, fmatch=0.5)
    assert with_land["product"] == pytest.approx(0.5 * as_dict["product"])
    assert list(as_dict)[:13] == list(stats.SCORE_NAMES)
    with pytest.raises(ValueError):
        fit_scores({1950: sim[0], 1970: sim[1], 1990: sim[2]}, {1950: obs[0]}, 0.5)
    with pytest.raises(ValueError):
        fit_scores(sim, obs, 0.5, road_pixels=[1, 2, 3])  # no total_pixels
    with pytest.raises(ValueError):
        fit_scores(sim[:, :5], obs, 0.5)
    # Both populations 0: perfect agreement rather than SLEUTH's stop.
    zero = np.zeros_like(sim)
    assert fit_scores(zero, zero, 1.0)["compare"] == 1.0


def test_product_formula_on_coarse_calibration() -> None:
    # Every one of the 243 runs: Product = product of the 11 printed columns (no land use).
    rows = stats.read_control_stats(
        demo_path("reference-output/calibrate_coarse50/control_stats.log")
    )
    assert len(rows) == 243
    for row in rows:
        columns = [row[n] for n in stats.SCORE_NAMES if n not in ("product", "fmatch")]
        # Each printed column is good to ±5e-6; bound the product's error accordingly.
        slack = 5e-6 + 5e-6 * sum(row["product"] / c for c in columns if c > 0)
        assert stats.product_score(row) == pytest.approx(row["product"], abs=slack)
    best = max(rows, key=lambda r: r["product"])
    assert best["run"] == 115
    assert [best[n] for n in stats.COEFFICIENT_NAMES] == [50, 50, 1, 100, 50]


# ------------------------------------------------------------------------ parsers


def test_read_avg_log_and_runs(tmp_path: Path) -> None:
    avg = stats.read_avg_log(demo_path("reference-output/test/avg.log"))
    assert sorted(avg) == list(CONTROL_YEARS)
    assert avg[1990]["pop"] == 3644.5
    assert avg[1950]["leesalee"] == 0.54
    assert avg[1970]["%urban"] == 8.52
    two_runs = tmp_path / "avg.log"
    text = demo_path("reference-output/test/avg.log").read_text().splitlines()
    two_runs.write_text("\n".join([*text, *("    1" + ln[5:] for ln in text[1:])]) + "\n")
    with pytest.raises(ValueError, match="run="):
        stats.read_avg_log(two_runs)
    assert stats.read_avg_log(two_runs, run=1)[1990]["run"] == 1
    with pytest.raises(ValueError):
        stats.read_avg_log(two_runs, run=7)


def test_urban_stats_rejects_mismatched_inputs() -> None:
    urban = np.ones((4, 4), np.uint8)
    with pytest.raises(ValueError):
        urban_stats(urban, np.ones((4, 5), np.uint8), np.empty(N_STATS))
    with pytest.raises(ValueError):
        urban_stats(urban, urban, np.empty(N_STATS - 1))
