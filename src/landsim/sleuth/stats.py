"""SLEUTH's measures of an urban grid, its fit scores, and parsers of its logs.

``urban_stats`` measures one grid the way SLEUTH 3.0beta measures every simulated and
observed urban layer (its ``stats_compute_stats``); ``fit_scores`` turns the Monte Carlo
means of those measures at the control years into the columns of SLEUTH's
``control_stats.log``. Both reproduce SLEUTH's reference outputs for the demo200 data
set (``tests/test_sleuth_stats.py`` checks them against ``base_statistics.txt`` and the
test-mode ``control_stats.log``/``avg.log``).

Definitions, as SLEUTH computes them:

* ``pop`` = ``area`` = number of urban (nonzero) cells.
* ``edges``: urban cells with at least one non-urban 4-neighbour; neighbours outside
  the image do not count, so a block touching the border has no edge there.
* ``clusters``: 4-connected components of urban cells after every cell of the outermost
  rows and columns has been set non-urban. A component that touches the border is
  therefore counted without its border cells, and two components joined only through
  border cells count twice.
* ``cl_size``: the number of urban cells *inside* that frame, integer-divided by
  ``clusters`` (C ``int / int``), so it is an integer.
* ``xmean`` / ``ymean``: mean column / row of the urban cells (0-based).
* ``rad`` = sqrt(area / pi); ``slope``: mean slope of the urban cells.

SLEUTH stops with an error on a grid with no urban cell or no cluster; here those
measures are 0 instead, so a simulation that loses every cluster still gets scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from landsim.kernels._jit import jit

# Index of each measure in ``urban_stats``'s output: SLEUTH's avg.log column order.
POP, AREA, EDGES, CLUSTERS, XMEAN, YMEAN, RAD, SLOPE, CL_SIZE = range(9)
N_STATS = 9
STAT_NAMES = ("pop", "area", "edges", "clusters", "xmean", "ymean", "rad", "slope", "cl_size")

# Keys of ``fit_scores`` and ``read_control_stats``, in control_stats.log's column order.
SCORE_NAMES = (
    "product",
    "compare",
    "pop",
    "edges",
    "clusters",
    "cluster_size",
    "leesalee",
    "slope",
    "pct_urban",
    "xmean",
    "ymean",
    "rad",
    "fmatch",
)
COEFFICIENT_NAMES = ("diffusion", "breed", "spread", "slope_resistance", "road_gravity")

# SLEUTH treats a regression as undefined (r = 0) when the product of the two sums of
# squared deviations is below this (its ``stats_linefit``).
_R2_ZERO_VARIANCE = 1e-11


@jit
def _find(parent: NDArray[np.int64], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving keeps the trees flat
        i = parent[i]
    return i


@jit
def _count_clusters(urban: NDArray[Any], cells: int) -> int:
    """The number of 4-connected clusters inside the 1-cell frame (``cells`` urban there).

    Union-find over horizontal runs: each run is a node, and every vertical contact with
    a run of the row above is a union. Components = runs - successful unions. This needs
    no queue and touches each cell once, and memory is bounded by the urban cell count.
    """
    if cells == 0:
        return 0
    ny, nx = urban.shape
    parent = np.empty(cells, dtype=np.int64)  # there are never more runs than cells
    above = np.full(nx, -1, dtype=np.int64)  # run id of each cell of the previous row
    here = np.full(nx, -1, dtype=np.int64)
    runs = 0
    unions = 0
    for r in range(1, ny - 1):
        run = -1
        for c in range(1, nx - 1):
            if urban[r, c] != 0:
                if run < 0:
                    run = runs
                    parent[run] = run
                    runs += 1
                here[c] = run
                a = above[c]
                # Consecutive cells often touch the same run above: skip repeated unions.
                if a >= 0 and not (c > 1 and here[c - 1] == run and above[c - 1] == a):
                    ra = _find(parent, a)
                    rb = _find(parent, run)
                    if ra != rb:
                        if ra < rb:
                            parent[rb] = ra
                        else:
                            parent[ra] = rb
                        unions += 1
            else:
                here[c] = -1
                run = -1
        above, here = here, above
    return runs - unions


@jit
def urban_stats(urban: NDArray[Any], slope: NDArray[Any], out: NDArray[np.float64]) -> None:
    """SLEUTH's measures of one grid into ``out[:N_STATS]`` (indices ``POP`` … ``CL_SIZE``).

    ``urban``: nonzero = urban; ``slope``: percent slope, same shape. Runs without the
    GIL and allocates only O(urban cells) scratch, so it can be called per member and
    year from parallel kernels.
    """
    if slope.shape != urban.shape:
        raise ValueError("urban_stats: urban and slope differ in shape")
    if out.shape[0] < N_STATS:
        raise ValueError("urban_stats: out holds fewer than N_STATS values")
    ny, nx = urban.shape
    area = 0
    edges = 0
    sum_row = 0
    sum_col = 0
    sum_slope = 0.0
    inner = 0  # urban cells inside the 1-cell frame, for the cluster statistics
    for r in range(ny):
        for c in range(nx):
            if urban[r, c] != 0:
                area += 1
                if 0 < r < ny - 1 and 0 < c < nx - 1:
                    inner += 1
                sum_row += r
                sum_col += c
                sum_slope += slope[r, c]
                if (
                    (r > 0 and urban[r - 1, c] == 0)
                    or (r < ny - 1 and urban[r + 1, c] == 0)
                    or (c > 0 and urban[r, c - 1] == 0)
                    or (c < nx - 1 and urban[r, c + 1] == 0)
                ):
                    edges += 1
    clusters = _count_clusters(urban, inner)
    out[POP] = area
    out[AREA] = area
    out[EDGES] = edges
    out[CLUSTERS] = clusters
    if area > 0:
        out[XMEAN] = sum_col / area
        out[YMEAN] = sum_row / area
        out[SLOPE] = sum_slope / area
    else:
        out[XMEAN] = 0.0
        out[YMEAN] = 0.0
        out[SLOPE] = 0.0
    out[RAD] = math.sqrt(area / math.pi)
    # SLEUTH divides the count of cells inside the frame, not pop, as ints.
    out[CL_SIZE] = inner // clusters if clusters > 0 else 0


@jit
def lee_sallee(sim: NDArray[Any], obs: NDArray[Any]) -> float:
    """|sim AND obs| / |sim OR obs| of two grids (nonzero = urban).

    Two empty grids give 1.0 (they agree perfectly); SLEUTH would divide 0 by 0, but its
    observed layers are never empty.
    """
    if sim.shape != obs.shape:
        raise ValueError("lee_sallee: the two grids differ in shape")
    ny, nx = sim.shape
    both = 0
    either = 0
    for r in range(ny):
        for c in range(nx):
            a = sim[r, c] != 0
            b = obs[r, c] != 0
            if a and b:
                both += 1
            if a or b:
                either += 1
    if either == 0:
        return 1.0
    return both / either


def percent_urban(
    pop: ArrayLike, road_pixels: ArrayLike, excluded_pixels: int, total_pixels: int
) -> NDArray[np.float64]:
    """SLEUTH's ``%urban``: 100 (pop + roads) / (total - roads - excluded).

    ``road_pixels`` is the count of road cells (> 0) of the road layer in force that year
    (the latest one not after it); ``excluded_pixels`` the count of excluded values >= 100.
    """
    roads = np.asarray(road_pixels, dtype=np.float64)
    return (
        100.0
        * (np.asarray(pop, dtype=np.float64) + roads)
        / (total_pixels - roads - excluded_pixels)
    )


def r_squared(observed: ArrayLike, simulated: ArrayLike) -> float:
    """Squared Pearson r, as SLEUTH's ``stats_linefit``: 0 when either side is constant."""
    y = np.asarray(observed, dtype=np.float64)
    x = np.asarray(simulated, dtype=np.float64)
    dy = y - y.mean()
    dx = x - x.mean()
    syy = float(dy @ dy)
    sxx = float(dx @ dx)
    if syy * sxx < _R2_ZERO_VARIANCE:
        return 0.0
    r = float(dy @ dx) / math.sqrt(syy * sxx)
    return r * r


def _as_table(
    values: Mapping[int, ArrayLike] | ArrayLike, what: str
) -> tuple[list[int] | None, NDArray[np.float64]]:
    if isinstance(values, Mapping):
        years = sorted(values)
        table = np.array([np.asarray(values[y], dtype=np.float64) for y in years])
    else:
        years = None
        table = np.asarray(values, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != N_STATS or table.shape[0] == 0:
        raise ValueError(f"{what}: expected one row of {N_STATS} measures per control year")
    return years, table


def fit_scores(
    sim_mean: Mapping[int, ArrayLike] | ArrayLike,
    obs: Mapping[int, ArrayLike] | ArrayLike,
    leesalee_mean: float | ArrayLike,
    *,
    road_pixels: Sequence[int] | None = None,
    excluded_pixels: int = 0,
    total_pixels: int | None = None,
    fmatch: float | None = None,
) -> dict[str, float]:
    """SLEUTH's ``control_stats.log`` columns for one coefficient set.

    ``sim_mean``: the Monte Carlo mean of ``urban_stats`` at each control year (a
    ``{year: vector}`` mapping or an ``[n_years, N_STATS]`` array, years ascending);
    ``obs``: the observed layers' measures at the same years. ``leesalee_mean``: the
    Lee-Sallee index averaged over members and control years (a per-year sequence of
    member means is averaged here, equal weight per year, as SLEUTH does).

    ``%urban`` needs the road cell count in force at each control year
    (``road_pixels``), the excluded count (>= 100) and the grid size. SLEUTH's observed
    %urban uses one road count for every year, which makes it an affine function of the
    observed pop, and r² does not change under affine maps, so only the simulated side
    needs the yearly roads. Without ``road_pixels`` the simulated %urban is affine in pop
    too and ``pct_urban`` equals ``pop``.

    ``fmatch`` (land-use agreement) enters ``product`` only when given, as SLEUTH does
    when land use is on; it is reported as 0.0 otherwise, like SLEUTH's log. ``osm`` is
    Dietzel & Clarke's Optimum SLEUTH Metric (not in SLEUTH's log).
    """
    sim_years, sim = _as_table(sim_mean, "sim_mean")
    obs_years, ob = _as_table(obs, "obs")
    if sim_years is not None and obs_years is not None and sim_years != obs_years:
        raise ValueError(f"sim_mean years {sim_years} differ from obs years {obs_years}")
    if sim.shape != ob.shape:
        raise ValueError("sim_mean and obs differ in the number of control years")

    actual = ob[-1, POP]
    simulated = sim[-1, POP]
    high = max(actual, simulated)
    # Equal populations compare perfectly, also when both are 0 (SLEUTH would stop).
    compare = min(actual, simulated) / high if high > 0 else 1.0

    if road_pixels is not None:
        if total_pixels is None:
            raise ValueError("road_pixels needs total_pixels")
        roads = np.asarray(road_pixels, dtype=np.float64)
        if roads.shape != (sim.shape[0],):
            raise ValueError("road_pixels: expected one count per control year")
        pct_sim = percent_urban(sim[:, POP], roads, excluded_pixels, total_pixels)
    else:
        pct_sim = sim[:, POP]

    scores = {
        "compare": compare,
        "pop": r_squared(ob[:, POP], sim[:, POP]),
        "edges": r_squared(ob[:, EDGES], sim[:, EDGES]),
        "clusters": r_squared(ob[:, CLUSTERS], sim[:, CLUSTERS]),
        "cluster_size": r_squared(ob[:, CL_SIZE], sim[:, CL_SIZE]),
        "leesalee": float(np.mean(np.asarray(leesalee_mean, dtype=np.float64))),
        "slope": r_squared(ob[:, SLOPE], sim[:, SLOPE]),
        "pct_urban": r_squared(ob[:, POP], pct_sim),
        "xmean": r_squared(ob[:, XMEAN], sim[:, XMEAN]),
        "ymean": r_squared(ob[:, YMEAN], sim[:, YMEAN]),
        "rad": r_squared(ob[:, RAD], sim[:, RAD]),
        "fmatch": 0.0 if fmatch is None else float(fmatch),
    }
    scores["product"] = product_score(scores, land_use=fmatch is not None)
    scores["osm"] = osm_score(scores)
    return {name: scores[name] for name in (*SCORE_NAMES, "osm")}


def product_score(scores: Mapping[str, float], *, land_use: bool = False) -> float:
    """SLEUTH's Product: every score multiplied, ``fmatch`` only with land use on."""
    names = [n for n in SCORE_NAMES if n not in ("product", "fmatch")]
    if land_use:
        names.append("fmatch")
    return float(np.prod([scores[n] for n in names]))


def osm_score(scores: Mapping[str, float]) -> float:
    """The Optimum SLEUTH Metric (Dietzel & Clarke 2007):
    compare x pop x edges x clusters x slope x xmean x ymean."""
    names = ("compare", "pop", "edges", "clusters", "slope", "xmean", "ymean")
    return float(np.prod([scores[n] for n in names]))


def stats_vector(row: Mapping[str, float]) -> NDArray[np.float64]:
    """The ``N_STATS`` vector of a name-keyed row (an avg.log or base-statistics row)."""
    return np.array([row[name] for name in STAT_NAMES], dtype=np.float64)


def read_avg_log(path: str | Path, run: int | None = None) -> dict[int, dict[str, float]]:
    """SLEUTH's ``avg.log`` (or ``std_dev.log``): ``{year: {column: value}}``.

    The columns keep SLEUTH's names (``pop`` … ``grw_pix``, ``%urban``) plus ``run`` and
    ``index``. A calibration log repeats years once per run: pick one with ``run``.
    """
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines or lines[0].split()[:3] != ["run", "year", "index"]:
        raise ValueError(f"{path}: not a SLEUTH avg.log (no 'run year index' header)")
    header = lines[0].split()
    table: dict[int, dict[str, float]] = {}
    runs_seen: set[int] = set()
    for ln in lines[1:]:
        fields = ln.split()
        if len(fields) != len(header):
            raise ValueError(f"{path}: row has {len(fields)} fields, header {len(header)}")
        row = {name: float(v) for name, v in zip(header, fields, strict=True)}
        this_run = int(row["run"])
        runs_seen.add(this_run)
        if run is not None and this_run != run:
            continue
        year = int(row["year"])
        if year in table:
            raise ValueError(f"{path}: year {year} appears twice (several runs? pass run=)")
        table[year] = row
    if run is not None and not table:
        raise ValueError(f"{path}: no rows for run {run} (runs: {sorted(runs_seen)})")
    return table


def read_control_stats(path: str | Path) -> list[dict[str, float]]:
    """SLEUTH's ``control_stats.log``: one dict per run, keys ``run``, ``SCORE_NAMES`` and
    ``COEFFICIENT_NAMES`` (the starting coefficients of the run)."""
    keys = ("run", *SCORE_NAMES, *COEFFICIENT_NAMES)
    rows: list[dict[str, float]] = []
    for ln in Path(path).read_text().splitlines():
        fields = ln.split()
        # The two header lines start with words; data rows start with the run number.
        if not fields or not fields[0].isdigit():
            continue
        if len(fields) != len(keys):
            raise ValueError(f"{path}: row has {len(fields)} fields, expected {len(keys)}")
        row = {k: float(v) for k, v in zip(keys, fields, strict=True)}
        row["run"] = int(fields[0])
        rows.append(row)
    return rows


def read_base_statistics(path: str | Path) -> dict[int, dict[str, float]]:
    """SLEUTH's "LOG OF BASE STATISTICS" block: ``{year: {STAT_NAMES name: value}}``.

    Reads the block from a whole SLEUTH log too; other lines are skipped.
    """
    # Columns as printed: Year Area Edges Clusters Pop (xmean, ymean) Radius Slope Size.
    printed = ("area", "edges", "clusters", "pop", "xmean", "ymean", "rad", "slope", "cl_size")
    table: dict[int, dict[str, float]] = {}
    in_block = False
    for ln in Path(path).read_text().splitlines():
        if "BASE STATISTICS" in ln:
            in_block = True
            continue
        if not in_block:
            continue
        fields = ln.replace("(", " ").replace(")", " ").replace(",", " ").split()
        if not fields or fields[0] == "Year":
            if table and not fields:
                break  # the blank line after the block
            continue
        if len(fields) != 1 + len(printed) or not fields[0].isdigit():
            break
        table[int(fields[0])] = {
            name: float(v) for name, v in zip(printed, fields[1:], strict=True)
        }
    if not table:
        raise ValueError(f"{path}: no base statistics found")
    return {year: {name: row[name] for name in STAT_NAMES} for year, row in table.items()}
