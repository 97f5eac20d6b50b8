"""Tiled-path benchmark: ``python -m benchmarks.tiled`` from the repository root.

1. Generates the SYNTHETIC region (``landsim.synthetic.large``, 30,000 × 30,000 cells by
   default) into ``--data`` (default ``$TMPDIR/landsim-tiled-<size>``, never the
   repository), unless it is already there; its wall time and peak RSS are measured.
2. Times one interior tile on its own (the inputs' read and compile, then the kernels
   of a pass, median of ``--repeats``): the per-tile cost the cluster estimate uses.
3. Runs ``landsim run-tiled`` once, as a user types it, sampling every 0.2 s the RSS of
   each process of its tree (client and scheduler, worker processes) and the load
   average; per-year wall times and per-tile costs come from the run's ``tiled.json``.
4. Checks the written map window by window: grid, CRS, and urban cells = the demand.
5. Writes ``benchmarks/TILED.md`` and ``benchmarks/tiled.json`` (``--out``, ``--json``),
   with the machine described and an estimate for a national run (``--national-cells``).

Nothing is asserted; the figures are for the reader. The demo is heavy (minutes, GBs):
it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _landsim() -> str:
    exe = Path(sys.executable).parent / "landsim"
    return str(exe) if exe.is_file() else "landsim"


def machine() -> dict[str, Any]:
    import dask
    import distributed
    import numba
    import psutil
    import rasterio

    from benchmarks.run import _cpuinfo_model

    return {
        "cpu": _cpuinfo_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
    }


class Sampler:
    """RSS of a process tree (total and per process) and the load average, every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int, dict[int, int], float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            per: dict[int, int] = {}
            try:
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):  # a process that just ended
                        per[p.pid] = p.memory_info().rss
            except psutil.Error:
                pass
            self.samples.append((time.time(), sum(per.values()), per, os.getloadavg()[0]))
            time.sleep(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float = 0.0, end: float = float("inf")) -> dict[str, float]:
        inside = [s for s in self.samples if start <= s[0] <= end] or self.samples[-1:]
        if not inside:
            return {"tree_gb": 0.0, "client_gb": 0.0, "largest_worker_gb": 0.0}
        return {
            "tree_gb": max(s[1] for s in inside) / 1e9,
            "client_gb": max(s[2].get(self.pid, 0) for s in inside) / 1e9,
            "largest_worker_gb": max(
                max((v for k, v in s[2].items() if k != self.pid), default=0) for s in inside
            )
            / 1e9,
        }

    def load(self) -> dict[str, float]:
        loads = [s[3] for s in self.samples]
        return {"max": max(loads), "median": statistics.median(loads)} if loads else {}


def run_sampled(args: list[str]) -> tuple[float, Sampler, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with Sampler(proc.pid) as sampler:
        out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{err[-3000:]}")
    return wall, sampler, out


def generate(data: Path, size: int, years: int) -> dict[str, Any]:
    info_file = data / "generated.json"
    if info_file.is_file():
        info = json.loads(info_file.read_text())
        if info.get("size") == size:
            info["reused"] = True
            return info
    data.mkdir(parents=True, exist_ok=True)
    code = (
        "import json, sys; from pathlib import Path; "
        "from landsim.synthetic.large import make_large_region; "
        f"print(json.dumps(make_large_region(Path(sys.argv[1]), {size}, years={years})))"
    )
    wall, sampler, out = run_sampled([sys.executable, "-c", code, str(data)])
    info = json.loads(out.strip().splitlines()[-1])
    info.update(wall_s=wall, peak_rss_gb=sampler.peak()["tree_gb"], reused=False)
    info_file.write_text(json.dumps(info, indent=2))
    return info


def one_tile(data: Path, scenario_path: Path, chunk: int, repeats: int) -> dict[str, Any]:
    """One interior tile on its own: load (read + compile), then a pass's kernels."""
    from landsim import api, kernels
    from landsim.io.raster import read_grid
    from landsim.io.windowed import read_window
    from landsim.kernels.tiled import HIGH_BINS, high_histogram
    from landsim.scenario import load
    from landsim.tiled import (
        ScenarioInputs,
        TileCandidates,
        TileGrid,
        _threshold_bin,
        split_cells,
        tile_potentials,
    )

    s = load(scenario_path)
    grid = read_grid(s.inputs.landuse)
    tg = TileGrid(grid.shape, chunk)
    if tg.rows < 3 or tg.cols < 3:
        raise SystemExit(f"--chunk {chunk}: the grid needs 3 × 3 tiles or more for an interior one")
    ty, tx = tg.rows // 2, tg.cols // 2
    t = next(x for x in tg.tiles if (x.ty, x.tx) == (ty, tx))
    src = ScenarioInputs(s, grid)
    loads = []
    for _ in range(max(2, repeats // 2)):
        t0 = time.perf_counter()
        init = src.init_tile(t, s.urban_class.code)
        loads.append(time.perf_counter() - t0)
    p = api._growth_params(s, s.simulation.seed)
    r = p.radius
    # An interior tile's halo: `r` cells of land use on every side.
    raw, valid = read_window(
        s.inputs.landuse, (t.y0 - r, t.x0 - r, t.h + 2 * r, t.w + 2 * r), "inputs.landuse"
    )
    lu = np.where(valid, raw, 255).astype(np.uint8)
    lu[r:-r, r:-r] = init.landuse
    key = np.uint64(kernels.stream_key(p.seed, 0, s.simulation.start_year + 1))
    hist = np.zeros(HIGH_BINS, dtype=np.int64)

    def passes(cands: TileCandidates) -> dict[str, float]:
        times: dict[str, list[float]] = {"potential": [], "histogram": [], "split": []}
        for _ in range(repeats):
            t0 = time.perf_counter()
            pot = tile_potentials(lu, r, r, t, grid.shape, cands, p, key)
            t1 = time.perf_counter()
            hist[:] = 0
            high_histogram(pot, hist)
            t2 = time.perf_counter()
            open_ = int(np.count_nonzero(pot >= 0))
            b1, _ = _threshold_bin(hist, max(1, open_ // 50))
            split_cells(pot, b1)
            t3 = time.perf_counter()
            times["potential"].append(t1 - t0)
            times["histogram"].append(t2 - t1)
            times["split"].append(t3 - t2)
        return {k: statistics.median(v) for k, v in times.items()}

    sparse = passes(init.candidates)
    nonzero = int(np.count_nonzero(hist))
    # The same tile with every land cell open (no planning lines): the dense case.
    raw_s, ok = read_window(s.suitability.path, t.box, "suitability.path")
    dense_cand = (ok & (init.landuse != 255) & (raw_s > 0)).astype(np.uint8)
    dense = passes(TileCandidates(dense_cand, raw_s[dense_cand.astype(bool)].astype(np.float32)))
    cells = t.h * t.w
    return {
        "tile": {"row": ty, "col": tx, "cells": cells, "side": chunk},
        "candidates": int(np.count_nonzero(init.candidates.mask)),
        "load_s": statistics.median(loads),
        "median_s": sparse,
        "dense_candidates": int(np.count_nonzero(dense_cand)),
        "dense_median_s": dense,
        "repeats": repeats,
        "potential_cells_per_s": cells / sparse["potential"],
        "dense_potential_cells_per_s": cells / dense["potential"],
        "histogram_nonzero_bins": nonzero,
    }


def check_output(run: Path, scenario_path: Path) -> dict[str, Any]:
    """Grid and CRS of the written map, and its urban cells counted window by window."""
    import rasterio
    from rasterio.windows import Window

    s = tomllib.loads(scenario_path.read_text())
    end = s["simulation"]["end_year"]
    demand = s["demand"]["urban"][str(end)]
    lu_path = scenario_path.parent / s["inputs"]["landuse"]
    with rasterio.open(run / f"landuse_{end}.tif") as out, rasterio.open(lu_path) as src:
        same = out.crs == src.crs and out.transform == src.transform and out.shape == src.shape
        urban = 0
        step = 4096
        for y in range(0, out.height, step):
            block = out.read(1, window=Window(0, y, out.width, min(step, out.height - y)))
            urban += int(np.count_nonzero(block == 4))
        return {
            "year": end,
            "grid_and_crs_as_input": bool(same),
            "tiled": bool(out.profile.get("tiled")),
            "compression": str(out.compression),
            "tags": out.tags(),
            "urban_cells": urban,
            "demand": demand,
            "demand_met": urban == demand,
            "bytes": (run / f"landuse_{end}.tif").stat().st_size,
        }


BARRIERS_PER_YEAR = 4  # pass 1, pass 2, (tie rows), apply: the client's round trips a year
CLUSTER_LATENCY_S = 0.05  # assumed per barrier on a cluster with hundreds of tasks
TASKS_PER_TILE_YEAR = 7  # edges, pass 1, pass 2, its summary, apply and its two parts
# "Each task suffers about 1ms of overhead" (distributed.dask.org): serial at the scheduler.
SCHEDULER_S_PER_TASK = 1e-3


def _tile_year_s(costs: dict[str, float]) -> float:
    """One tile's compute for a year: two potential passes, the histogram, the split."""
    return 2 * (costs["halo"] + costs["potential"]) + costs["histogram"] + costs["split"]


def estimate(
    report: dict[str, Any],
    tile: dict[str, Any],
    cells: float,
    years: int,
    workers_list: list[int],
    chunk: int,
) -> dict[str, Any]:
    """A national run from the measured per-tile costs (reasoning in docs/tiled.md).

    The measured run calibrates how much of the ideal (waves of tiles × per-tile cost)
    a year reaches here: dask's task overhead, the client's reductions, the apply pass
    and the wait for the last tile are in that efficiency; it is then applied to the
    national run, plus an assumed cluster latency per barrier and dask's documented
    per-task overhead at the scheduler (both partly counted twice: on purpose). Tiles of
    ``chunk`` cells cost the measured tiles' cost in proportion to their cells (every
    kernel is linear)."""
    tile_cells = chunk * chunk
    scale = tile_cells / report["chunk"] ** 2
    per_tile = scale * _tile_year_s(report["tile_costs_median_seconds"])
    # Every land cell open: the alone-tile's dense/sparse ratio applied to the run's cost.
    alone = {**tile["median_s"], "halo": report["tile_costs_median_seconds"]["halo"]}
    dense = {**tile["dense_median_s"], "halo": alone["halo"]}
    per_tile_dense = per_tile * _tile_year_s(dense) / _tile_year_s(alone)
    local_tiles = report["tiles"]["rows"] * report["tiles"]["cols"]
    local_workers = max(1, report["workers"])
    measured = statistics.median(y["seconds"] for y in report["years"])
    local_waves = math.ceil(local_tiles / local_workers)
    efficiency = local_waves * per_tile / scale / measured
    # Loading tiles reaches its own fraction of the ideal (it reads files).
    load_efficiency = local_waves * tile["load_s"] / report["load_seconds"]
    # The map is written by the client alone, tile after tile: serial, in proportion to
    # the cells, plus moving them from the workers (1 B a cell at an assumed 1 GB/s).
    local_cells = report["grid"]["height"] * report["grid"]["width"]
    write_s = max(report["map_write_seconds"].values()) / local_cells * cells + cells / 1e9
    tiles = cells / tile_cells
    open_share = tile["candidates"] / tile["tile"]["cells"]
    # lu + candidate (1 B each) + the candidates' suitability (4 B), and a year's new
    # land-use tiles beside the old ones while apply runs (1 B).
    bytes_per_cell = 1 + 1 + 4 * open_share + 1
    dense_share = tile["dense_candidates"] / tile["tile"]["cells"]
    bytes_dense = 1 + 1 + 4 * dense_share + 1
    out = []
    for w in workers_list:
        barrier = BARRIERS_PER_YEAR * CLUSTER_LATENCY_S
        barrier += tiles * TASKS_PER_TILE_YEAR * SCHEDULER_S_PER_TASK
        # In waves: a worker runs whole tiles, so more workers than tiles do not help.
        waves = math.ceil(tiles / w)
        year_s = waves * per_tile / efficiency + barrier
        year_dense = waves * per_tile_dense / efficiency + barrier
        load_s = waves * scale * tile["load_s"] / load_efficiency
        out.append(
            {
                "workers": w,
                "year_wall_s": year_s,
                "year_wall_s_dense": year_dense,
                "load_wall_s": load_s,
                "run_wall_h": (load_s + years * year_s + write_s) / 3600,
                "run_wall_h_dense": (load_s + years * year_dense + write_s) / 3600,
                "state_gb_per_worker": cells * bytes_per_cell / w / 1e9,
                "state_gb_per_worker_dense": cells * bytes_dense / w / 1e9,
                "worker_gb": cells * bytes_per_cell / w / 1e9 + 14 * tile_cells / 1e9,
                "worker_gb_dense": cells * bytes_dense / w / 1e9 + 14 * tile_cells / 1e9,
            }
        )
    return {
        "cells": cells,
        "years": years,
        "chunk": chunk,
        "tiles": round(tiles),
        "tile_year_s": per_tile,
        "efficiency_measured": efficiency,
        "load_efficiency_measured": load_efficiency,
        "write_final_map_s": write_s,
        "open_share": open_share,
        "bytes_per_cell": bytes_per_cell,
        "tile_year_s_dense": per_tile_dense,
        "open_share_dense": dense_share,
        "bytes_per_cell_dense": bytes_dense,
        "task_transient_gb": 14 * tile_cells / 1e9,
        # Sparse high-bits histogram: (uint16 bin + int64 count) per non-empty bin, sent
        # twice (both passes' histograms are that sparse) + the 2 kB class tally.
        "scheduler_s_per_year": tiles * TASKS_PER_TILE_YEAR * SCHEDULER_S_PER_TASK,
        "reduction_bytes_per_year": tiles * (2 * 10 * tile["histogram_nonzero_bins"] + 2048),
        # Four strips of `radius` (1) row or column per tile, uint8, to up to 8 neighbours.
        "halo_bytes_per_year": tiles * 4 * chunk * 2,
        "assumed_latency_s": CLUSTER_LATENCY_S,
        "by_workers": out,
    }


def markdown(res: dict[str, Any]) -> str:
    m, gen, run, tile, est = res["machine"], res["data"], res["run"], res["tile"], res["estimate"]
    rep = run["report"]
    lines = [
        f"# Tiled path on a {gen['size']:,} × {gen['size']:,} synthetic grid",
        "",
        "Written by `python -m benchmarks.tiled` (see its docstring); the method and the",
        "national estimate are explained in [`docs/tiled.md`](../docs/tiled.md). The grid",
        "is SYNTHETIC (`landsim.synthetic.large`), generated outside the repository.",
        "",
        "## Machine",
        "",
        f"- {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM; {m['platform']}",
        f"- Python {m['python']}, numpy {m['numpy']}, numba {m['numba']}, dask "
        f"{m['dask']} / distributed {m['distributed']}, rasterio {m['rasterio']} "
        f"(GDAL {m['gdal']})",
        f"- load average (1 min) before the run {res['load_before'][0]:.2f}; during it "
        f"median {run['load']['median']:.2f}, max {run['load']['max']:.2f}; after "
        f"{res['load_after'][0]:.2f}. The 2 cores were shared with other work, so wall "
        "times are upper bounds for a quiet machine.",
        "",
        "## Data",
        "",
        f"- {gen['size']:,} × {gen['size']:,} = {gen['cells']:,} cells, "
        f"{gen['valid_cells']:,} on land; urban {gen['classes']['urban']:,}, growth "
        f"{gen['growth_cells']:,} cells over {res['years']} years",
        "- files: "
        + ", ".join(f"{k} {v / 1e6:,.0f} MB" for k, v in gen["bytes"].items())
        + " (tiled 512², deflate)",
        (
            f"- generated in {gen['wall_s']:.0f} s, peak RSS {gen['peak_rss_gb']:.2f} GB "
            "(strips of 512 rows)"
            if not gen.get("reused")
            else "- generated by an earlier run (reused)"
        ),
        "",
        "## The run",
        "",
        f"`landsim run-tiled … --chunk {rep['chunk']} --workers {rep['workers']}`: "
        f"{rep['tiles']['rows']} × {rep['tiles']['cols']} tiles, one run (the demo is run "
        f"once). Wall time {run['wall_s']:.0f} s in all; peak RSS of the whole process "
        f"tree {run['peak']['tree_gb']:.2f} GB (client + scheduler "
        f"{run['peak']['client_gb']:.2f} GB, largest worker "
        f"{run['peak']['largest_worker_gb']:.2f} GB).",
        "",
        "| phase | wall s | new urban cells | peak RSS, tree (GB) | largest worker (GB) |",
        "|---|---:|---:|---:|---:|",
    ]
    years = {f"year {y['year']}": y for y in rep["years"]}
    for ph in run["phases"]:
        y = years.get(ph["what"])
        lines.append(
            f"| {ph['what']} | {ph['end'] - ph['start']:.1f} | "
            f"{'' if y is None else format(y['new_urban'], ',')} | "
            f"{ph['peak']['tree_gb']:.2f} | {ph['peak']['largest_worker_gb']:.2f} |"
        )
    per_year = [y["seconds"] for y in rep["years"]]

    def med(k: str) -> float:
        return statistics.median(y[k] for y in rep["years"])

    lines += [
        "",
        f"Median year: **{statistics.median(per_year):.1f} s** "
        f"({len(per_year)} years; pass 1 {med('pass_1'):.1f} s, pass 2 {med('pass_2'):.1f} s, "
        f"apply {med('apply'):.1f} s).",
        "",
        f"Output checked window by window: {res['check']['urban_cells']:,} urban cells, "
        f"demand {res['check']['demand']:,} (met: {res['check']['demand_met']}); grid and "
        f"CRS as the input: {res['check']['grid_and_crs_as_input']}; tiled "
        f"{res['check']['tiled']}, {res['check']['compression']}, "
        f"{res['check']['bytes'] / 1e6:,.0f} MB.",
        "",
        "## Per-tile costs",
        "",
        f"Tiles of {rep['chunk']}² = {rep['chunk'] ** 2:,} cells. Medians over every tile and "
        "pass of the run (on a busy worker), and over "
        f"{tile['repeats']} repeats of one interior tile alone "
        f"({tile['candidates']:,} candidate cells, "
        f"{100 * tile['candidates'] / tile['tile']['cells']:.1f} %):",
        "",
        "| step | in the run (s) | tile alone (s) | tile alone, all land open (s) |",
        "|---|---:|---:|---:|",
    ]
    tc = rep["tile_costs_median_seconds"]
    for k in ("halo", "potential", "histogram", "split"):
        alone = tile["median_s"].get(k)
        dense = tile["dense_median_s"].get(k)
        lines.append(
            f"| {k} | {tc.get(k, 0):.3f} | {'' if alone is None else format(alone, '.3f')} | "
            f"{'' if dense is None else format(dense, '.3f')} |"
        )
    lines += [
        f"| load (read 4 rasters + compile the rules) | – | {tile['load_s']:.2f} | |",
        "",
        f"Potential of the tile alone: {tile['potential_cells_per_s'] / 1e6:,.0f} M cells/s on "
        f"one core with its {tile['candidates']:,} candidates, "
        f"{tile['dense_potential_cells_per_s'] / 1e6:,.0f} M cells/s with every land cell open "
        f"({tile['dense_candidates']:,}); its high-bits histogram has "
        f"{tile['histogram_nonzero_bins']:,} non-empty bins (what a tile sends for the global "
        "reduction).",
        "",
        "## National estimate",
        "",
        f"{est['cells']:.0e} cells (national 30 m), {est['years']} years, tiles of "
        f"{est['chunk']}² ({est['tiles']:,} tiles), from the per-tile costs above "
        f"({est['tile_year_s']:.2f} s of one core per tile and year) and this run's "
        f"efficiency ({100 * est['efficiency_measured']:.0f} % of waves × cost per tile), "
        f"plus {est['assumed_latency_s'] * 1000:.0f} ms per barrier (assumed) and 1 ms of "
        f"scheduler time per task ({est['scheduler_s_per_year']:.1f} s a year). Loading "
        f"reached {100 * est['load_efficiency_measured']:.0f} % of its ideal here; the final "
        f"map, written by the client alone, takes about {est['write_final_map_s'] / 60:.0f} "
        "min (scaled from this run's write, plus the cells' transfer at 1 GB/s).",
        "",
        f"Two cases: candidates as sparse as here ({100 * est['open_share']:.1f} % of cells) "
        f"and every land cell open ({100 * est['open_share_dense']:.1f} %, "
        f"{est['tile_year_s_dense']:.2f} s per tile and year).",
        "",
        "| single-core workers | s per year | load (min) | whole run (min) "
        "| memory per worker (GB) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for e in est["by_workers"]:
        lines.append(
            f"| {e['workers']} | {e['year_wall_s']:.0f} – {e['year_wall_s_dense']:.0f} | "
            f"{e['load_wall_s'] / 60:.1f} | "
            f"{60 * e['run_wall_h']:.0f} – {60 * e['run_wall_h_dense']:.0f} | "
            f"{e['worker_gb']:.1f} – {e['worker_gb_dense']:.1f} |"
        )
    lines += [
        "",
        f"Memory per worker: the state, {est['bytes_per_cell']:.2f} B a cell "
        f"({100 * est['open_share']:.1f} % of cells open here; "
        f"{est['bytes_per_cell_dense']:.2f} B with all land open), plus "
        f"{est['task_transient_gb']:.2f} GB for its running task. The global "
        f"reduction sends about {est['reduction_bytes_per_year'] / 1e6:.0f} MB a year to the "
        f"client; halo strips move about {est['halo_bytes_per_year'] / 1e6:.0f} MB a year "
        "between workers. Reasoning and limits: docs/tiled.md.",
        "",
    ]
    return "\n".join(lines)


def _national(res: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    """The national estimate from a measured run and tile, with the --national-* options."""
    return estimate(
        res["run"]["report"],
        res["tile"],
        a.national_cells,
        a.national_years,
        a.national_workers,
        a.national_chunk,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=30000)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data", type=Path, default=None, help="where the synthetic data go")
    ap.add_argument("--national-cells", type=float, default=1e10)
    ap.add_argument("--national-years", type=int, default=15)
    ap.add_argument("--national-workers", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--national-chunk", type=int, default=8192)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "TILED.md")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "tiled.json")
    ap.add_argument("--keep-run", action="store_true", help="keep the run's output folder")
    ap.add_argument(
        "--from-json",
        action="store_true",
        help="measure nothing: recompute the estimate and rewrite --out from --json",
    )
    a = ap.parse_args()
    if a.from_json:
        res = json.loads(a.json.read_text())
        res["estimate"] = _national(res, a)
        a.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        a.out.write_text(markdown(res))
        print(markdown(res))
        return
    data = a.data or Path(tempfile.gettempdir()) / f"landsim-tiled-{a.size}"
    if REPO in data.resolve().parents:
        raise SystemExit(f"--data {data}: keep the synthetic data out of the repository")
    res: dict[str, Any] = {"machine": machine(), "years": a.years}
    print(f"data in {data}", file=sys.stderr)
    res["data"] = generate(data, a.size, a.years)
    scenario = Path(res["data"]["scenario"])
    print("one tile alone", file=sys.stderr)
    res["tile"] = one_tile(data, scenario, a.chunk, a.repeats)
    run_dir = data / "run"
    res["load_before"] = os.getloadavg()
    print("the run", file=sys.stderr)
    args = [_landsim(), "run-tiled", str(scenario), "-o", str(run_dir), "--overwrite"]
    args += ["--chunk", str(a.chunk), "--workers", str(a.workers)]
    wall, sampler, out = run_sampled(args)
    res["load_after"] = os.getloadavg()
    report = json.loads((run_dir / "tiled.json").read_text())
    phases = [{**ph, "peak": sampler.peak(ph["start"], ph["end"])} for ph in report.pop("phases")]
    res["run"] = {
        "command": " ".join(args[1:]),
        "stdout": out,
        "wall_s": wall,
        "peak": sampler.peak(),
        "load": sampler.load(),
        "phases": phases,
        "report": report,
    }
    res["check"] = check_output(run_dir, scenario)
    res["estimate"] = _national(res, a)
    if not a.keep_run:
        shutil.rmtree(run_dir, ignore_errors=True)
    a.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
    text = markdown(res)
    a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
