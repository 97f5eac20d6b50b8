"""The tiled path (``landsim.tiled``, ``landsim run-tiled``) against the in-memory engine.

The tiled result must be the engine's, byte for byte, whatever the chunk size and the
number of workers: final map, output-year maps, per-year class counts. Grids are small
(257 × 301 and hypothesis' grids) so the whole file runs in seconds; dask runs on
in-process clusters of 1 and 2 workers, and one CLI run starts a real local cluster.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from _landsim_kit import CLASSES, CRS, grid_transform, invoke, to_toml, write_raster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landsim import api, kernels
from landsim.errors import (
    DemandError,
    GridMismatchError,
    InputError,
    LandsimError,
    OutputError,
)
from landsim.model import GrowthParameters, InsufficientCandidates, simulate
from landsim.tiled import (
    TileCandidates,
    TileGrid,
    _tie_plan,
    run_tiled,
    simulate_tiled,
    tile_potentials,
)

SHAPE = (257, 301)
CROPLAND, FOREST, WATER, URBAN = 1, 2, 3, 4


@pytest.fixture(scope="module")
def clients() -> Any:
    """In-process dask clusters of 1 and 2 single-threaded workers."""
    from distributed import Client, LocalCluster

    made = {}
    stack = []
    for n in (1, 2):
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
        )
        client = Client(cluster)
        stack.append((client, cluster))
        made[n] = client
    yield made
    for client, cluster in stack:
        client.close()
        cluster.close()


def _arrays(shape: tuple[int, int] = SHAPE, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    lu = np.full(shape, CROPLAND, dtype=np.uint8)
    lu[rng.random(shape) < 0.2] = FOREST
    lu[:, nx // 3] = WATER
    lu[np.hypot(yy - ny / 2, xx - nx / 2) < 20] = URBAN
    lu[rng.random(shape) < 0.01] = URBAN
    lu[:3, :5] = 255
    # Suitability in steps of 1/8: many cells share a value, so potentials tie.
    suit = (np.floor(rng.random(shape) * 9) / 8).astype(np.float32)
    cand = (rng.random(shape) < 0.8).astype(np.uint8)
    cand[lu == WATER] = 0
    return {"landuse": lu, "suitability": suit, "candidate": cand}


def _weights() -> np.ndarray:
    w = np.zeros(256, dtype=np.float32)
    w[URBAN] = 1.0
    w[FOREST] = 0.25
    return w


def _same(tiled: Any, ref: Any) -> None:
    assert tiled.maps.keys() == ref.maps.keys()
    for y in ref.maps:
        assert tiled.maps[y].tobytes() == ref.maps[y].tobytes(), y
    assert tiled.final.tobytes() == ref.final.tobytes()
    assert tiled.class_counts.keys() == ref.class_counts.keys()
    for y in ref.class_counts:
        assert np.array_equal(tiled.class_counts[y], ref.class_counts[y]), y
    for a, b in zip(tiled.records, ref.records, strict=True):
        assert (a.year, a.new_urban) == (b.year, b.new_urban)
        assert np.array_equal(a.from_class, b.from_class)


# ------------------------------------------------------------------ kernels


@pytest.mark.parametrize("radius", [1, 3])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 1.7])
def test_tile_potential_is_the_whole_grid_potential(radius: int, alpha: float) -> None:
    a = _arrays((97, 83))
    lu, suit, cand = a["landuse"], a["suitability"], a["candidate"]
    ny, nx = lu.shape
    w = _weights()
    key = np.uint64(kernels.stream_key(5, 0, 2031))
    work = np.empty(lu.shape, np.float32)
    neigh = np.empty(lu.shape, np.float32)
    ref = np.empty(lu.shape, np.float32)
    kernels.neighborhood_effect(lu, w, radius, work, neigh)
    live = (cand.astype(bool) & (lu != URBAN)).astype(np.uint8)
    kernels.urban_potential(suit, neigh, live, 0.01, alpha, key, ref)
    got = np.empty_like(ref)
    params = GrowthParameters(URBAN, w, radius=radius, floor=0.01, alpha=alpha)
    for t in TileGrid(lu.shape, 13).tiles:
        top, left = min(radius, t.y0), min(radius, t.x0)
        y1, x1 = t.y0 + t.h, t.x0 + t.w
        # The halo cut from the whole grid here, not from the neighbours' strips.
        halo = np.ascontiguousarray(
            lu[t.y0 - top : min(ny, y1 + radius), t.x0 - left : min(nx, x1 + radius)]
        )
        mask = np.ascontiguousarray(cand[t.y0 : y1, t.x0 : x1])
        cands = TileCandidates(mask, suit[t.y0 : y1, t.x0 : x1][mask.astype(bool)])
        got[t.y0 : y1, t.x0 : x1] = tile_potentials(
            halo, top, left, t, lu.shape, cands, params, key
        )
    assert got.view(np.uint32).tobytes() == ref.view(np.uint32).tobytes()


def test_tie_plan_hands_places_out_in_flat_index_order() -> None:
    # A 4 × 6 grid in 2 × 3 tiles: tile (0, 0) has ties in rows 0 and 1, tile (0, 1) in
    # row 1, tile (1, 1) in row 3. Five places: row 0 (2), then row 1 left to right.
    grid = TileGrid((4, 6), 2)
    assert (grid.rows, grid.cols) == (2, 3)
    rows = {i: np.zeros(2, dtype=np.int64) for i in range(6)}
    rows[0][:] = [2, 2]
    rows[1][:] = [0, 2]
    rows[4][:] = [0, 5]
    plan = _tie_plan(grid, rows, 5)
    assert plan[0] == (1, 2)  # row 0 whole, 2 in row 1
    assert plan[1] == (1, 1)  # 1 in row 1
    assert plan[2] == (1, 0)
    assert all(plan[i] == (0, 0) for i in (3, 4, 5))  # later rows: none
    assert _tie_plan(grid, rows, 11)[4] == (2, 0)  # everything


# ------------------------------------------------------------------ against the engine


@pytest.mark.parametrize(
    ("chunk", "workers"),
    [(64, 0), (100, 0), (1000, 0), (64, 1), (100, 1), (64, 2), (100, 2), (1000, 2)],
)
def test_tiled_equals_engine(chunk: int, workers: int, clients: Any) -> None:
    a = _arrays()
    before = {k: v.copy() for k, v in a.items()}
    u0 = int((a["landuse"] == URBAN).sum())
    demand = {2020: u0, 2021: u0 + 700, 2022: u0 + 700, 2023: u0 + 2500, 2024: u0 + 6000}
    p = GrowthParameters(URBAN, _weights(), radius=2, floor=0.05, alpha=0.5, seed=11)
    ref = simulate(a["landuse"], a["suitability"], a["candidate"], demand, p, [2020, 2022, 2024])
    got = simulate_tiled(
        a["landuse"],
        a["suitability"],
        a["candidate"],
        demand,
        p,
        [2020, 2022, 2024],
        chunk=chunk,
        client=clients[workers] if workers else None,
    )
    _same(got, ref)
    for k, v in a.items():
        assert np.array_equal(v, before[k]), f"{k} modified"


@pytest.mark.parametrize("chunk", [10, 7])
def test_all_candidates_tie_across_tiles(chunk: int) -> None:
    """Every candidate has the same potential (alpha 0, one suitability, no neighbour
    weight): the chosen cells are the first n candidates in global flat order, which
    interleaves the tiles row by row (tiles of 7 cells leave narrower, shorter tiles
    at the right and bottom edges)."""
    ny, nx = 40, 50
    lu = np.full((ny, nx), CROPLAND, dtype=np.uint8)
    suit = np.full((ny, nx), 0.5, dtype=np.float32)
    cand = np.ones((ny, nx), dtype=np.uint8)
    cand[::3, ::7] = 0
    w = np.zeros(256, dtype=np.float32)
    p = GrowthParameters(URBAN, w, radius=1, alpha=0.0)
    demand = {2020: 0, 2021: 137, 2022: 1000}
    got = simulate_tiled(lu, suit, cand, demand, p, [2021], chunk=chunk)
    ref = simulate(lu, suit, cand, demand, p, [2021])
    _same(got, ref)
    first = np.flatnonzero(cand.reshape(-1))[:137]
    assert np.array_equal(np.flatnonzero(got.maps[2021].reshape(-1) == URBAN), first)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    ny=st.integers(3, 45),
    nx=st.integers(3, 45),
    chunk=st.integers(3, 50),
    radius=st.integers(1, 3),
    alpha=st.sampled_from([0.0, 0.5, 1.0, 1.3]),
    seed=st.integers(0, 2**32 - 1),
    steps=st.lists(st.floats(0, 0.2), min_size=1, max_size=4),
)
def test_tiled_equals_engine_property(
    ny: int,
    nx: int,
    chunk: int,
    radius: int,
    alpha: float,
    seed: int,
    steps: list[float],
) -> None:
    chunk = max(chunk, radius)
    rng = np.random.default_rng(seed)
    lu = rng.choice(
        np.array([CROPLAND, FOREST, URBAN, 255], np.uint8), (ny, nx), p=[0.6, 0.2, 0.15, 0.05]
    )
    # Few distinct values, zeros included: ties and potentials of exactly 0.
    suit = rng.choice(np.array([0.0, 0.25, 0.5, 1.0], np.float32), (ny, nx))
    cand = (rng.random((ny, nx)) < 0.7).astype(np.uint8)
    w = rng.choice(np.array([0.0, 0.5, 1.0], np.float32), 256).astype(np.float32)
    inputs = (lu.copy(), suit.copy(), cand.copy())
    open_ = int((cand.astype(bool) & (lu != URBAN)).sum())
    demand = {2000: int((lu == URBAN).sum())}
    room = open_
    for k, f in enumerate(steps):
        n = min(room, round(f * open_))
        room -= n
        demand[2001 + k] = demand[2000 + k] + n
    p = GrowthParameters(URBAN, w, radius=radius, alpha=alpha, seed=seed)
    years = sorted(demand)
    ref = simulate(lu, suit, cand, demand, p, years)
    got = simulate_tiled(lu, suit, cand, demand, p, years, chunk=chunk)
    _same(got, ref)
    # Demand met exactly; only candidates changed, and only to urban.
    for y in years:
        assert got.class_counts[y][URBAN] == demand[y]
    changed = got.final != lu
    assert np.all(got.final[changed] == URBAN)
    assert np.all(cand[changed] == 1)
    for x, y in zip((lu, suit, cand), inputs, strict=True):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("shape", [(1, 23), (23, 1), (2, 17)])
@pytest.mark.parametrize("chunk", [3, 4])
def test_grids_thinner_than_the_neighbourhood(shape: tuple[int, int], chunk: int) -> None:
    """One row, one column, two rows: a radius of 3 reaches past the grid on both sides,
    and the last tile is narrower than the radius (23 = 5 × 4 + 3)."""
    rng = np.random.default_rng(sum(shape) + chunk)
    lu = rng.choice(
        np.array([CROPLAND, FOREST, URBAN, 255], np.uint8), shape, p=[0.6, 0.2, 0.1, 0.1]
    )
    suit = rng.choice(np.array([0.0, 0.5, 1.0], np.float32), shape)
    cand = (rng.random(shape) < 0.8).astype(np.uint8)
    u0 = int((lu == URBAN).sum())
    open_ = int((cand.astype(bool) & (lu != URBAN)).sum())
    demand = {0: u0, 1: u0 + open_ // 3, 2: u0 + open_}
    for alpha in (0.0, 1.0):
        p = GrowthParameters(URBAN, _weights(), radius=3, alpha=alpha, seed=2)
        ref = simulate(lu, suit, cand, demand, p, [1, 2])
        _same(simulate_tiled(lu, suit, cand, demand, p, [1, 2], chunk=chunk), ref)


def test_years_whose_demand_is_met_or_falls() -> None:
    """A year asking for no new cell (the first year included) or for fewer urban cells
    than the map holds converts nothing, as in the engine (urban never reverts)."""
    a = _arrays((40, 50))
    u0 = int((a["landuse"] == URBAN).sum())
    demand = {2020: u0, 2021: u0, 2022: u0 + 150, 2023: u0 - 10, 2024: u0 + 160}
    p = GrowthParameters(URBAN, _weights(), radius=2, seed=4)
    args = (a["landuse"], a["suitability"], a["candidate"], demand, p, sorted(demand))
    got = simulate_tiled(*args, chunk=16)
    _same(got, simulate(*args))
    assert [r.new_urban for r in got.records] == [0, 150, 0, 10]


def test_too_much_demand_and_a_chunk_below_the_radius() -> None:
    a = _arrays((30, 30))
    u0 = int((a["landuse"] == URBAN).sum())
    p = GrowthParameters(URBAN, _weights(), radius=3)
    open_ = int((a["candidate"].astype(bool) & (a["landuse"] != URBAN)).sum())
    with pytest.raises(InsufficientCandidates, match="needs"):
        simulate_tiled(
            a["landuse"], a["suitability"], a["candidate"], {0: u0, 1: u0 + open_ + 1}, p, [1]
        )
    with pytest.raises(LandsimError, match="radius"):
        simulate_tiled(
            a["landuse"], a["suitability"], a["candidate"], {0: u0, 1: u0}, p, [1], chunk=2
        )


# ------------------------------------------------------------------ scenarios


def _region(folder: Path, shape: tuple[int, int] = SHAPE) -> dict[str, Any]:
    """A synthetic 257 × 301 region on rasters, and its scenario as a dict."""
    folder.mkdir(parents=True, exist_ok=True)
    a = _arrays(shape)
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    lu = a["landuse"]
    dist = np.hypot(yy - ny / 2, xx - nx / 2)
    suit = a["suitability"].copy()
    suit[:, :7] = -1.0  # nodata: land without suitability
    layers = {
        "synthetic_udb.tif": (dist < 90).astype(np.uint8),
        "synthetic_pbf.tif": ((xx < nx // 3 - 2) & (yy > ny // 2)).astype(np.uint8),
        "synthetic_erl.tif": (lu == FOREST).astype(np.uint8) * (yy < ny // 3),
        "synthetic_water.tif": (lu == WATER).astype(np.uint8),
    }
    write_raster(folder / "synthetic_landuse.tif", lu, nodata=255)
    write_raster(folder / "synthetic_suitability.tif", suit, nodata=-1.0)
    for name, data in layers.items():
        write_raster(folder / name, data.astype(np.uint8), nodata=255)
    u0 = int((lu == URBAN).sum())
    return {
        "schema_version": 1,
        "name": "synthetic-tiled",
        "simulation": {"start_year": 2020, "end_year": 2026, "output_years": [2023, 2026]},
        "classes": CLASSES,
        "inputs": {"landuse": str(folder / "synthetic_landuse.tif")},
        "suitability": {"method": "raster", "path": str(folder / "synthetic_suitability.tif")},
        "demand": {"method": "targets", "unit": "cells", "urban": {2020: u0, 2026: u0 + 4000}},
        "constraints": {
            "urban_development_boundary": {"path": str(folder / "synthetic_udb.tif")},
            "permanent_basic_farmland": {"path": str(folder / "synthetic_pbf.tif")},
            "ecological_red_line": {"path": str(folder / "synthetic_erl.tif")},
            "water": {"path": str(folder / "synthetic_water.tif")},
        },
        "rules": [{"where": "*", "from": ["forest"], "allow": False}],
        "model": {"neighborhood_radius": 2, "random_factor": 1.0},
    }


def _write(folder: Path, data: dict[str, Any], name: str = "scenario.toml") -> Path:
    path = folder / name
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


@pytest.fixture(scope="module")
def region(tmp_path_factory: Any) -> tuple[Path, dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("tiled") / "inputs"
    data = _region(folder)
    scenario = _write(folder, data)
    ref = folder.parent / "ref"
    api.run_scenario(scenario, ref)
    return scenario, data, ref


@pytest.mark.parametrize(("chunk", "workers"), [(100, 2), (64, 0), (10_000, 1)])
def test_run_tiled_writes_what_landsim_run_writes(
    region: Any, tmp_path: Path, chunk: int, workers: int, clients: Any
) -> None:
    scenario, _, ref = region
    inputs_before = _hashes(scenario.parent)
    out = tmp_path / "tiled"
    r = run_tiled(
        scenario,
        out,
        chunk=chunk,
        client=clients.get(workers),
        inline=workers == 0,
    )
    assert r.files == [
        "landuse_2023.tif",
        "landuse_2026.tif",
        "summary.csv",
        "provenance.json",
        "tiled.json",
    ]
    for year in (2023, 2026):
        with (
            rasterio.open(ref / f"landuse_{year}.tif") as a,
            rasterio.open(out / f"landuse_{year}.tif") as b,
        ):
            assert b.read(1).tobytes() == a.read(1).tobytes()
            assert b.crs == a.crs and b.transform == a.transform
            assert b.nodata == a.nodata == 255
            assert b.profile["tiled"] and b.compression == a.compression
            assert b.colormap(1) == a.colormap(1)
            assert b.tags()["year"] == str(year) and b.tags()["tiled"] == "true"
    for name in ("summary.csv", "provenance.json"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    assert r.report["tiles"] == {"rows": -(-SHAPE[0] // chunk), "cols": -(-SHAPE[1] // chunk)}
    assert len(r.report["years"]) == 6
    assert _hashes(scenario.parent) == inputs_before
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_uniform_suitability_and_no_layers(tmp_path: Path) -> None:
    data = _region(tmp_path / "in")
    data["suitability"] = {"method": "uniform"}
    data["constraints"] = {}
    data["rules"] = []
    scenario = _write(tmp_path / "in", data)
    api.run_scenario(scenario, tmp_path / "ref")
    run_tiled(scenario, tmp_path / "tiled", chunk=50, inline=True)
    for year in (2023, 2026):
        with (
            rasterio.open(tmp_path / "ref" / f"landuse_{year}.tif") as a,
            rasterio.open(tmp_path / "tiled" / f"landuse_{year}.tif") as b,
        ):
            assert b.read(1).tobytes() == a.read(1).tobytes()


def _small_region(folder: Path) -> dict[str, Any]:
    """The region on a 60 × 70 grid, with a demand it can hold."""
    data = _region(folder, (60, 70))
    urban = data["demand"]["urban"]
    urban[2026] = urban[2020] + 200
    return data


def test_integer_suitability_raster(tmp_path: Path) -> None:
    """A byte raster of 0 and 1 as suitability: landsim run reads it, so must the tiles
    (their range check once failed on it: numpy's min of an integer array refuses an
    infinite starting value)."""
    folder = tmp_path / "in"
    data = _small_region(folder)
    suit = (np.random.default_rng(1).random((60, 70)) < 0.7).astype(np.uint8)
    suit[:, :5] = 255
    write_raster(folder / "synthetic_suitability_byte.tif", suit, nodata=255)
    data["suitability"]["path"] = str(folder / "synthetic_suitability_byte.tif")
    scenario = _write(folder, data)
    api.run_scenario(scenario, tmp_path / "ref")
    run_tiled(scenario, tmp_path / "tiled", chunk=32, inline=True)
    for name in ("landuse_2026.tif", "summary.csv"):
        ref, got = tmp_path / "ref" / name, tmp_path / "tiled" / name
        if name.endswith(".tif"):
            with rasterio.open(ref) as a, rasterio.open(got) as b:
                assert b.read(1).tobytes() == a.read(1).tobytes()
        else:
            assert got.read_bytes() == ref.read_bytes()


def test_a_user_error_on_a_worker_keeps_its_type(tmp_path: Path, clients: Any, runner: Any) -> None:
    """A damaged block is met by the worker that reads it. The error used to reach the
    client as a bare Exception (its rasterio context does not unpickle), so the CLI
    printed a traceback; it must come back as the InputError it is, and leave nothing."""
    folder = tmp_path / "in"
    data = _small_region(folder)
    noise = np.random.default_rng(2).random((60, 70)).astype(np.float32)
    profile = {
        "driver": "GTiff",
        "height": 60,
        "width": 70,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": grid_transform(),
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
        "compress": "deflate",
    }
    damaged = folder / "synthetic_suitability_damaged.tif"
    with rasterio.open(damaged, "w", **profile) as ds:
        ds.write(noise, 1)
    raw = bytearray(damaged.read_bytes())
    # Noise does not compress: the file is mostly blocks, and its second half is one.
    raw[len(raw) // 2 : len(raw) // 2 + 400] = bytes(400)
    damaged.write_bytes(bytes(raw))
    data["suitability"]["path"] = str(damaged)
    scenario = _write(folder, data)
    with pytest.raises(InputError, match="damaged or truncated"):
        run_tiled(scenario, tmp_path / "out", chunk=32, client=clients[1])
    assert not (tmp_path / "out").exists()


def test_a_missing_input_the_run_does_not_read_is_refused_first(
    region: Any, tmp_path: Path
) -> None:
    """run-tiled ignores districts, but provenance.json hashes their file: a missing one
    stopped the run after its last year, with a traceback."""
    _, data, _ = region
    bad = {**data, "districts": {"path": str(tmp_path / "missing_districts.tif")}}
    with pytest.raises(InputError, match=r"\[districts.path\] file not found"):
        run_tiled(_write(tmp_path, bad), tmp_path / "out", inline=True)
    assert not (tmp_path / "out").exists()


def test_cli_run_tiled_on_a_local_cluster(region: Any, tmp_path: Path, runner: Any) -> None:
    scenario, _, ref = region
    out = tmp_path / "cli"
    r = invoke(runner, "run-tiled", scenario, "-o", out, "--chunk", "128", "--workers", "1")
    assert r.exit_code == 0, r.output
    assert "tiles 3 × 3 of 128 cells, workers 1" in r.output
    with rasterio.open(ref / "landuse_2026.tif") as a, rasterio.open(out / "landuse_2026.tif") as b:
        assert b.read(1).tobytes() == a.read(1).tobytes()
    # A second run into the same folder is refused before any work.
    again = invoke(runner, "run-tiled", scenario, "-o", out)
    assert again.exit_code == 1 and "already holds results" in again.stderr


# ------------------------------------------------------------------ refusals


def _refused(runner: Any, args: list[Any], needle: str, out: Path, inputs: Path) -> str:
    before = _hashes(inputs)
    r = invoke(runner, *args)
    assert r.exit_code != 0, r.output
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert lines[-1].startswith("error: ") and "Traceback" not in r.output, r.output
    assert sum(x.startswith("error: ") for x in lines) == 1
    assert needle in lines[-1], lines[-1]
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if ".partial" in p.name]
    assert _hashes(inputs) == before
    return lines[-1]


UNSUPPORTED = {
    "logistic": (
        {
            "suitability": {"method": "logistic", "intercept": 1.0, "coefficients": {"s": 1.0}},
            "inputs": {"drivers": {"s": "synthetic_suitability.tif"}},
        },
        "method = 'logistic' is not supported by run-tiled",
    ),
    "spill": (
        {"constraints": {"urban_development_boundary": {"spill_over": True}}},
        "spill_over = true is not supported",
    ),
    "factor": (
        {"constraints": {"ecological_red_line": {"rule": "factor", "factor": 0.5}}},
        "a soft factor of 0.5",
    ),
    "periods": (
        {"rules": [{"where": "*", "from": ["forest"], "allow": False, "from_year": 2023}]},
        "change the rules during the run",
    ),
    "members": ({"simulation": {"members": 3}}, "members = 3"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_scenarios_are_refused_in_one_line(
    region: Any, tmp_path: Path, runner: Any, case: str
) -> None:
    from _landsim_kit import deep_merge

    scenario, data, _ = region
    over, needle = UNSUPPORTED[case]
    bad = deep_merge(data, over)
    if case == "logistic":
        bad["inputs"]["drivers"]["s"] = str(scenario.parent / "synthetic_suitability.tif")
        del bad["suitability"]["path"]
    path = _write(tmp_path, bad)
    err = _refused(
        runner,
        ["run-tiled", path, "-o", tmp_path / "out"],
        needle,
        tmp_path / "out",
        scenario.parent,
    )
    assert str(path) in err and "landsim run" in err


def test_vector_layer_is_refused(region: Any, tmp_path: Path, runner: Any) -> None:
    scenario, data, _ = region
    (tmp_path / "lines.gpkg").write_bytes(b"")
    bad = {
        **data,
        "constraints": {"lines": {"path": str(tmp_path / "lines.gpkg"), "rule": "no_change"}},
    }
    path = _write(tmp_path, bad)
    _refused(
        runner,
        ["run-tiled", path, "-o", tmp_path / "out"],
        "rasterize it",
        tmp_path / "out",
        scenario.parent,
    )


def test_misaligned_layer_is_refused(tmp_path: Path, runner: Any) -> None:
    folder = tmp_path / "in"
    data = _region(folder)
    shifted = grid_transform((759105.0 + 15.0, 3410337.0))
    with rasterio.open(folder / "synthetic_pbf.tif") as ds:
        pbf = ds.read(1)
    write_raster(folder / "synthetic_pbf_shifted.tif", pbf, nodata=255, transform=shifted)
    data["constraints"]["permanent_basic_farmland"]["path"] = str(
        folder / "synthetic_pbf_shifted.tif"
    )
    path = _write(folder, data)
    err = _refused(
        runner,
        ["run-tiled", path, "-o", tmp_path / "out"],
        "transform differs",
        tmp_path / "out",
        folder,
    )
    assert "constraints.permanent_basic_farmland.path" in err
    with pytest.raises(GridMismatchError):
        run_tiled(path, tmp_path / "out", inline=True)


def test_demand_larger_than_the_candidates(region: Any, tmp_path: Path, runner: Any) -> None:
    scenario, data, _ = region
    bad = {
        **data,
        "demand": {**data["demand"], "urban": {2020: data["demand"]["urban"][2020], 2026: 10**6}},
    }
    path = _write(tmp_path, bad)
    with pytest.raises(DemandError, match=r"cells missing; cells taken from growth by"):
        run_tiled(path, tmp_path / "out", inline=True, chunk=100)
    assert not (tmp_path / "out").exists()
    err = _refused(
        runner,
        ["run-tiled", path, "-o", tmp_path / "out", "--workers", "1", "--chunk", "256"],
        "cells missing",
        tmp_path / "out",
        scenario.parent,
    )
    assert "urban_development_boundary" in err


def test_unknown_land_use_code_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    data = _region(folder)
    with rasterio.open(folder / "synthetic_landuse.tif") as ds:
        lu = ds.read(1)
    lu[200, 250] = 9
    write_raster(folder / "synthetic_landuse.tif", lu, nodata=255)
    path = _write(folder, data)
    with pytest.raises(LandsimError, match=r"values 9 \(1 cell\) are not class codes"):
        run_tiled(path, tmp_path / "out", inline=True, chunk=64)


def test_a_failed_map_write_leaves_nothing(region: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """The map is written window by window and read back; a window that reads back
    different (as after a write GDAL did not report) fails the run, and neither the
    file nor the output folder is left."""
    import landsim.io.windowed as windowed

    scenario, _, _ = region
    real = windowed.crc32
    calls = {"n": 0}

    def flaky(data: Any) -> int:
        calls["n"] += 1
        return real(data) + (1 if calls["n"] == 7 else 0)

    monkeypatch.setattr(windowed, "crc32", flaky)
    out = tmp_path / "out"
    with pytest.raises(OutputError, match="reads back different"):
        run_tiled(scenario, out, inline=True, chunk=100)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_the_large_synthetic_generator_at_a_small_size(tmp_path: Path) -> None:
    """The generator of the 30,000² benchmark, at 300²: its files say synthetic, the
    same region comes out whatever the strip height, and run-tiled equals landsim run
    on its scenario."""
    from landsim.synthetic.large import FILES, SCENARIO, make_large_region

    info = make_large_region(tmp_path / "a", 300, years=3, strip=64, block=256)
    make_large_region(tmp_path / "b", 300, years=3, strip=100, block=256)
    for name in FILES.values():
        assert "synthetic" in name
        with rasterio.open(tmp_path / "a" / name) as a, rasterio.open(tmp_path / "b" / name) as b:
            assert a.tags()["synthetic"] == "true" and "SYNTHETIC" in a.tags()["description"]
            assert a.profile["tiled"] and a.crs is not None
            assert a.read(1).tobytes() == b.read(1).tobytes()
    assert info["classes"]["urban"] > 0 and info["growth_cells"] > 0
    scenario = tmp_path / "a" / SCENARIO
    assert "SYNTHETIC" in scenario.read_text()
    api.run_scenario(scenario, tmp_path / "ref")
    run_tiled(scenario, tmp_path / "tiled", chunk=128, inline=True)
    with (
        rasterio.open(tmp_path / "ref" / "landuse_2023.tif") as a,
        rasterio.open(tmp_path / "tiled" / "landuse_2023.tif") as b,
    ):
        assert b.read(1).tobytes() == a.read(1).tobytes()
