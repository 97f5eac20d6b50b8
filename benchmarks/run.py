"""landsim's benchmark suite: ``python -m benchmarks`` from the repository root.

One run measures, on this machine, in this order (``--only`` picks sections):

1. a check that the plain-numpy step, the numba three-kernel step and the engine's
   year select the same cells (nothing is worth timing if they disagree);
2. the machine (CPU, cores, memory, versions, numba threading layer and threads) and
   its memory bandwidth (a numpy copy), the ceiling for kernels that stream arrays;
3. ``step``: the CA year on synthetic grids of 512² … 8192²: the engine's year
   (``update_row_sums`` + ``select_urban``), the former three kernels
   (``neighborhood_effect``, ``urban_potential``, ``select_top``) and the plain-numpy
   step, each part alone, interleaved in the same process; bytes per cell and the
   fraction of the memory-bound limit;
4. ``threads``: the engine's year and the three-kernel step on 1, 2, … numba threads;
5. ``wuhan``: ``scenarios/wuhan-2035.toml`` through the CLI, cold and warm, with peak
   memory, and ``landsim --help``;
6. ``hengyang``: the SYNTHETIC Hengyang-like region at 30 m (≈ 17 M cells in a
   5834 × 5500 grid), generated on first use into a cache folder (never committed),
   2020 → 2035, one member: ``landsim run`` warm end to end, and in this process the
   preparation, the engine alone and the whole run with its outputs;
7. ``ensemble``: a 100-member Wuhan ensemble through the CLI (``benchmarks.ensemble``);
8. ``sleuth``: the SLEUTH demo's 100-member test run and its 243-set coarse calibration
   (``benchmarks.sleuth``).

It writes a markdown report (``--out``) and the raw numbers (``--json``); when the JSON
file already exists, each figure is also given as a ratio to the previous run's.
Nothing is asserted about timings: targets are shown next to the figures, not enforced.
``--quick`` is a smoke test of every section on small inputs (tens of seconds), written
to a temporary folder. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

from benchmarks.numpy_step import NumpyStep
from landsim import kernels
from landsim.kernels import reference

REPO = Path(__file__).resolve().parent.parent
WUHAN = REPO / "scenarios" / "wuhan-2035.toml"
SECTIONS = ("step", "threads", "wuhan", "hengyang", "ensemble", "sleuth")

# Model settings of the synthetic step: those of scenarios/wuhan-2035.toml.
RADIUS = 2
FLOOR = 0.02
ALPHA = 0.5
SELECTED_SHARE = 0.01  # demand of one step, as a share of the grid's cells
URBAN = 4
# Weight table: urban 1, plus a non-dyadic weight on a second class so that the
# neighbourhood sums are not exact integers and the bit-for-bit check means something.
WEIGHTS = np.zeros(256, dtype=np.float32)
WEIGHTS[URBAN] = 1.0
WEIGHTS[5] = 0.3
KEY = reference.stream_key(0, 0, 2014)  # numpy's copy: no numba compile at import
# The previous year's key: its selection stands for the cells converted last year,
# around which the engine's year corrects the row sums.
KEY_BEFORE = reference.stream_key(0, 0, 2013)

HELP_RUNS = 10
CHECK_SHAPE = (250, 311)  # non-square, so a swapped axis cannot pass the check

# Bytes each kernel must move between memory and the core per cell of the grid,
# compulsory traffic only: reads from neighbouring rows/columns are assumed to hit the
# cache, lookup tables and histograms live in cache, and write-allocate reads of the
# output lines are not counted (they would raise the true traffic, so the "% of bound"
# figures are a floor).
BYTES_PER_CELL = {
    # Per converted cell (SELECTED_SHARE of the grid): write its 2r+1 row sums (4 B
    # each), read the 4r+1 land-use cells they span (1 B each).
    "update_row_sums": SELECTED_SHARE * ((2 * RADIUS + 1) * 4 + (4 * RADIUS + 1)),
    # Read the row sums 4 B (the rows above and below from cache), land use 1 B,
    # suitability 4 B, candidate 1 B; write 8 B per selected index. The exact
    # potentials of the ~2 % of cells left after pruning are computed from what was read.
    "select_urban": 4 + 1 + 4 + 1 + 8 * SELECTED_SHARE,
    # row pass: read landuse 1 B, write work 4 B; column pass: read work 4 B, read
    # landuse 1 B again (the centre weight is subtracted), write out 4 B.
    "neighborhood_effect": 1 + 4 + 4 + 1 + 4,
    # read suitability 4 B, neighbourhood 4 B, candidate 1 B; write potential 4 B.
    "urban_potential": 4 + 4 + 1 + 4,
    # three passes each reading the potential (4 B), plus 8 B per selected index.
    "select_top": 3 * 4 + 8 * SELECTED_SHARE,
}
ENGINE_PARTS = ("update_row_sums", "select_urban")
THREE_PARTS = ("neighborhood_effect", "urban_potential", "select_top")
BYTES_PER_CELL["engine_step"] = sum(BYTES_PER_CELL[p] for p in ENGINE_PARTS)
BYTES_PER_CELL["three_kernel_step"] = sum(BYTES_PER_CELL[p] for p in THREE_PARTS)

TARGETS = {  # shown, never asserted
    "step_cells_per_s": 250e6,  # at 4096²
    "wuhan_warm_s": 10.0,
    "wuhan_peak_gb": 1.5,
    "help_s": 0.5,
    "hengyang_warm_s": 5.0,
    "ensemble_100_s": 180.0,
    "sleuth_test_100_s": 1.0,
    "sleuth_coarse_s": 16.0,
}


def log(msg: str) -> None:
    """Progress on stderr, so that stdout carries only the report."""
    print(msg, file=sys.stderr, flush=True)


# --- timing helpers ------------------------------------------------------------------


def _stats(times: list[float]) -> dict[str, Any]:
    return {"times_s": times, "median_s": statistics.median(times), "min_s": min(times)}


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict[str, Any]:
    """Median and min of ``repeats`` calls, after ``warmup`` untimed calls.

    The warm-up call absorbs numba's compile-or-load and first-touch page faults, which
    a long simulation pays once, not every step.
    """
    return interleaved({"": fn}, repeats, warmup)[""]


def interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, dict[str, Any]]:
    """Like :func:`timed` for several functions, called in turn within each repeat, so
    that a burst of load from other processes falls on all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: _stats(v) for k, v in times.items()}


@dataclass
class ChildRun:
    wall_s: float
    peak_rss_bytes: int
    returncode: int
    output: str


def run_child(cmd: list[str]) -> ChildRun:
    """Run ``cmd`` to completion from the repository root: wall time and its own peak RSS.

    Through ``benchmarks.child``, a small intermediate process that does the timing and
    the ``wait4``: measured from here, the child's peak memory would include this
    process's (see that module), and forking this large process would add to the wall
    time what a user's shell does not pay.
    """
    with tempfile.TemporaryDirectory(prefix="landsim-bench-log-") as tmp:
        log_file = Path(tmp) / "output.txt"
        meter = subprocess.run(
            [sys.executable, "-m", "benchmarks.child", str(log_file), *cmd],
            cwd=REPO,  # where users run landsim from, and where benchmarks is importable
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(meter.stdout)
        output = log_file.read_text(errors="replace")
    return ChildRun(r["wall_s"], r["peak_rss_bytes"], r["returncode"], output)


# --- the machine ---------------------------------------------------------------------


def _cpuinfo_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + (" (with uncommitted changes)" if dirty else "")


def machine_info() -> dict[str, Any]:
    """Call after a parallel kernel has run: numba picks its threading layer lazily."""
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not initialised"
    return {
        "cpu": _cpuinfo_model(),
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)),
        "memory_bytes": _mem_total_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threading_layer": layer,
        "numba_threads": numba.get_num_threads(),
        "load_average_start": os.getloadavg(),
    }


# --- measurements --------------------------------------------------------------------


def measure_bandwidth(repeats: int, nbytes: int) -> dict[str, Any]:
    """``np.copyto`` of an ``nbytes`` float32 array; bytes counted = read + write."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)  # first touched by the untimed warm-up copy
    r = timed(lambda: np.copyto(dst, src), repeats=max(repeats, 5))
    moved = 2 * nbytes
    r["bytes_copied"] = nbytes
    r["bytes_moved"] = moved
    r["gb_per_s"] = moved / r["median_s"] / 1e9
    r["gb_per_s_best"] = moved / r["min_s"] / 1e9
    return r


@dataclass
class Grid:
    landuse: np.ndarray  # uint8 class codes
    suitability: np.ndarray  # float32 in [0, 1)
    candidate: np.ndarray  # uint8, 1 = may become urban (every non-urban cell)
    n: int  # cells to select

    @property
    def shape(self) -> tuple[int, int]:
        return self.landuse.shape


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    """Random values on a coarse lattice of spacing ``scale``, bilinearly interpolated."""
    ny, nx = shape
    coarse = rng.random((ny // scale + 2, nx // scale + 2), dtype=np.float32)
    y = np.arange(ny, dtype=np.float32) / scale
    x = np.arange(nx, dtype=np.float32) / scale
    iy, ix = y.astype(np.intp), x.astype(np.intp)
    fy, fx = (y - iy)[:, None], x - ix
    rows = coarse[iy] * (1 - fy) + coarse[iy + 1] * fy
    return rows[:, ix] * (1 - fx) + rows[:, ix + 1] * fx


def synthetic_grid(shape: tuple[int, int], seed: int = 0) -> Grid:
    """A class map with ~15 % urban in blobs (thresholded smooth noise), the rest a mix
    of the Wuhan classes (cropland most); random suitability; candidate = non-urban."""
    rng = np.random.default_rng(seed)
    field = _smooth_noise(rng, shape, 64) + 0.5 * _smooth_noise(rng, shape, 16)
    urban = field > np.quantile(field, 0.85)
    del field
    others = np.array([3, 3, 3, 3, 3, 6, 6, 2, 7, 1, 5], dtype=np.uint8)
    landuse = others[rng.integers(0, others.size, size=shape)]
    landuse[urban] = URBAN
    candidate = (landuse != URBAN).astype(np.uint8)
    suitability = rng.random(shape, dtype=np.float32)
    n = round(SELECTED_SHARE * landuse.size)
    return Grid(landuse, suitability, candidate, n)


class EngineStep:
    """The year as ``landsim.model.engine.simulate`` runs it: the row sums kept from
    the year before, corrected around last year's new urban cells, then ``select_urban``.

    Last year's new urban cells are the selection of the year before (``KEY_BEFORE``) on
    the same map. The map is not changed, so every repeat does the same work: the
    correction recomputes the same sums (its cost is that of a real year's).
    """

    def __init__(self, g: Grid) -> None:
        self.g = g
        self.work = np.empty(g.shape, dtype=np.float32)
        kernels.row_sums(g.landuse, WEIGHTS, RADIUS, self.work)
        self.before = self._select(np.uint64(KEY_BEFORE))

    def _select(self, key: np.uint64) -> np.ndarray:
        g = self.g
        chosen = np.empty(g.n, dtype=np.int64)
        kernels.select_urban(
            g.landuse,
            WEIGHTS,
            RADIUS,
            self.work,
            g.suitability,
            g.candidate,
            FLOOR,
            ALPHA,
            key,
            g.n,
            chosen,
        )
        return chosen

    def update_row_sums(self) -> None:
        kernels.update_row_sums(self.g.landuse, WEIGHTS, RADIUS, self.before, self.work)

    def select_urban(self) -> np.ndarray:
        return self._select(np.uint64(KEY))

    def __call__(self) -> np.ndarray:
        self.update_row_sums()
        return self.select_urban()


class ThreeKernelStep:
    """The year as the engine ran it before ``select_urban``: the whole neighbourhood,
    every potential, then the selection (buffers preallocated)."""

    def __init__(self, g: Grid) -> None:
        self.g = g
        self.work = np.empty(g.shape, dtype=np.float32)
        self.neighborhood = np.empty(g.shape, dtype=np.float32)
        self.potential = np.empty(g.shape, dtype=np.float32)

    def neighborhood_effect(self) -> None:
        kernels.neighborhood_effect(self.g.landuse, WEIGHTS, RADIUS, self.work, self.neighborhood)

    def urban_potential(self) -> None:
        g = self.g
        kernels.urban_potential(
            g.suitability, self.neighborhood, g.candidate, FLOOR, ALPHA, KEY, self.potential
        )

    def select_top(self) -> np.ndarray:
        chosen = np.empty(self.g.n, dtype=np.int64)
        kernels.select_top(self.potential, self.g.n, chosen)
        return chosen

    def __call__(self) -> np.ndarray:
        self.neighborhood_effect()
        self.urban_potential()
        return self.select_top()


def _numpy_call(step: NumpyStep, g: Grid, alpha: float = ALPHA) -> np.ndarray:
    return step(g.landuse, WEIGHTS, g.suitability, g.candidate, FLOOR, alpha, KEY, g.n)


def check_same_selection() -> dict[str, Any]:
    """numpy_step, the three kernels and the engine's year must select the same cells;
    raise if they do not.

    Also checks the selections against ``landsim.kernels.reference.select_top`` on
    potentials with many ties, where the tie rule decides which cells are taken.
    """
    g = synthetic_grid(CHECK_SHAPE, seed=1)
    three, engine, npy = ThreeKernelStep(g), EngineStep(g), NumpyStep(g.shape, RADIUS)
    chosen_three = three()
    chosen_engine = engine()
    chosen_numpy = _numpy_call(npy, g)
    for name, chosen in (("the three kernels", chosen_three), ("the engine's year", chosen_engine)):
        if not np.array_equal(chosen, chosen_numpy):
            raise RuntimeError(
                f"numpy_step and {name} disagree on a {CHECK_SHAPE} grid: "
                f"{np.setxor1d(chosen, chosen_numpy).size} cells differ"
            )
    if not np.array_equal(chosen_numpy, reference.select_top(npy.potential, g.n)):
        raise RuntimeError("numpy_step's selection differs from reference.select_top")
    # Quantised potential: thousands of cells share each value.
    tied = np.where(three.potential >= 0, np.round(three.potential * 4) / 4, -1).astype(np.float32)
    ties_ok = True
    for n in (1, g.n, 10 * g.n, int((tied >= 0).sum())):
        expected = reference.select_top(tied, n)
        got_numba = np.empty(n, dtype=np.int64)
        kernels.select_top(tied, n, got_numba)
        got_numpy = NumpyStep.select_top(tied, n)
        ties_ok &= np.array_equal(got_numba, expected) and np.array_equal(got_numpy, expected)
    # The same through the engine's year: no noise (alpha 0) and a suitability of four
    # values, so the potentials tie in thousands.
    g_tied = Grid(g.landuse, (np.round(g.suitability * 4) / 4).astype(np.float32), g.candidate, g.n)
    for n in (1, g.n, 10 * g.n):
        g_tied.n = n
        got = np.empty(n, dtype=np.int64)
        kernels.select_urban(
            g.landuse,
            WEIGHTS,
            RADIUS,
            engine.work,
            g_tied.suitability,
            g.candidate,
            FLOOR,
            0.0,
            np.uint64(KEY),
            n,
            got,
        )
        expected = _numpy_call(NumpyStep(g.shape, RADIUS), g_tied, alpha=0.0)
        ties_ok &= np.array_equal(got, expected)
    if not ties_ok:
        raise RuntimeError("numba, numpy and reference disagree on tied cells")

    def bits_differ(a: np.ndarray, b: np.ndarray) -> int:
        return int((a.view(np.uint32) != b.view(np.uint32)).sum())

    return {
        "shape": list(CHECK_SHAPE),
        "selected": int(g.n),
        "same_selection": True,
        "ties_same_as_reference": True,
        "neighborhood_cells_bitwise_different": bits_differ(three.neighborhood, npy.neighborhood),
        "potential_cells_bitwise_different": bits_differ(three.potential, npy.potential),
    }


def _rates(r: dict[str, Any], part: str, cells: int, bandwidth: float) -> dict[str, Any]:
    r["cells_per_s"] = cells / r["median_s"]
    r["bytes_per_cell"] = BYTES_PER_CELL[part]
    # The time the compulsory bytes take at the measured bandwidth, over the time taken
    # (1.0 would be a kernel limited by memory alone).
    r["bandwidth_fraction"] = r["bytes_per_cell"] * cells / bandwidth / r["median_s"]
    return r


def bench_step(size: int, repeats: int, bandwidth: float) -> dict[str, Any]:
    """The engine's year, the three-kernel step and the numpy step on a size² grid, and
    each of their parts; each whole step interleaved with the others."""
    g = synthetic_grid((size, size))
    cells = g.landuse.size
    engine, three, npy = EngineStep(g), ThreeKernelStep(g), NumpyStep(g.shape, RADIUS)
    out: dict[str, Any] = {
        "cells": cells,
        "selected": g.n,
        "urban_share": float((g.landuse == URBAN).mean()),
        "candidates": int(g.candidate.sum()),
    }
    log(f"  {size}²: the three steps, interleaved")
    steps = interleaved(
        {"numba": engine, "numba_three_kernels": three, "numpy": lambda: _numpy_call(npy, g)},
        repeats,
    )
    byte_part = {"numba": "engine_step", "numba_three_kernels": "three_kernel_step"}
    for impl, r in steps.items():
        out[impl] = {"step": _rates(r, byte_part.get(impl, "three_kernel_step"), cells, bandwidth)}
    parts: dict[str, dict[str, Callable[[], object]]] = {
        "numba": {"update_row_sums": engine.update_row_sums, "select_urban": engine.select_urban},
        "numba_three_kernels": {
            "neighborhood_effect": three.neighborhood_effect,
            "urban_potential": three.urban_potential,
            "select_top": three.select_top,
        },
        "numpy": {
            "neighborhood_effect": lambda: npy.neighborhood_effect(g.landuse, WEIGHTS),
            "urban_potential": lambda: npy.urban_potential(
                g.suitability, npy.neighborhood, g.candidate, FLOOR, ALPHA, KEY
            ),
            "select_top": lambda: npy.select_top(npy.potential, g.n),
        },
    }
    for impl, fns in parts.items():
        log(f"  {size}²: {impl} parts")
        for part, r in interleaved(fns, repeats).items():
            out[impl][part] = _rates(r, part, cells, bandwidth)
    t_numpy = out["numpy"]["step"]["median_s"]
    out["numpy_over_numba"] = {
        "step": t_numpy / out["numba"]["step"]["median_s"],
        "three_kernel_step": t_numpy / out["numba_three_kernels"]["step"]["median_s"],
        **{
            p: out["numpy"][p]["median_s"] / out["numba_three_kernels"][p]["median_s"]
            for p in THREE_PARTS
        },
    }
    out["three_kernels_over_engine"] = (
        out["numba_three_kernels"]["step"]["median_s"] / out["numba"]["step"]["median_s"]
    )
    return out


def bench_threads(size: int, repeats: int) -> dict[str, Any]:
    """The engine's year and the three-kernel step on a size² grid with 1, 2 and all of
    numba's threads, interleaved."""
    g = synthetic_grid((size, size))
    engine, three = EngineStep(g), ThreeKernelStep(g)
    most = numba.config.NUMBA_NUM_THREADS
    out: dict[str, Any] = {"size": size}
    try:
        for t in sorted({1, 2, most} & set(range(1, most + 1))):
            log(f"  {size}²: {t} thread(s)")
            numba.set_num_threads(t)
            r = interleaved({"engine": engine, "three_kernels": three}, repeats)
            out[str(t)] = r["engine"]
            out[str(t)]["three_kernels"] = r["three_kernels"]
    finally:
        numba.set_num_threads(most)
    base = out["1"]["median_s"]
    base3 = out["1"]["three_kernels"]["median_s"]
    for t, r in out.items():
        if t != "size":
            r["speedup_vs_1"] = base / r["median_s"]
            r["three_kernels"]["speedup_vs_1"] = base3 / r["three_kernels"]["median_s"]
    return out


# --- end to end ----------------------------------------------------------------------


def _landsim_exe() -> str:
    """The ``landsim`` console script of this interpreter's environment, as users call it."""
    here = Path(sys.executable).with_name("landsim")
    if here.exists():
        return str(here)
    found = shutil.which("landsim")
    if found is None:
        raise SystemExit("landsim is not installed in this environment (pip install -e .)")
    return found


def numba_cache_files() -> list[Path]:
    cache = Path(kernels.__file__).parent / "__pycache__"
    return sorted([*cache.glob("*.nbi"), *cache.glob("*.nbc")])


class _RunFailed(Exception):
    pass


def _as_typed(path: Path) -> str:
    """A path as a user would type it from the repository root (the home folder as ~)."""
    if path.is_relative_to(REPO):
        return str(path.relative_to(REPO))
    if path.is_relative_to(Path.home()):
        return str(Path("~") / path.relative_to(Path.home()))
    return str(path)


def bench_scenario(scenario: Path, repeats: int, cold: bool, warmup: bool = True) -> dict[str, Any]:
    """``landsim run SCENARIO -o <tmp> --overwrite`` in fresh processes, cold then warm
    (without a cold run, an untimed warm-up run first, unless ``warmup`` is false).

    A failing run is recorded as ``error`` (and shown as FAILED) rather than raised, so
    that the figures measured before it are still written.
    """
    exe = _landsim_exe()
    arg = _as_typed(scenario)
    out: dict[str, Any] = {
        "scenario": arg,
        "command": f"landsim run {arg} -o <tmpdir> --overwrite",
    }
    with tempfile.TemporaryDirectory(prefix="landsim-bench-") as tmp:
        where = str(scenario.relative_to(REPO)) if scenario.is_relative_to(REPO) else str(scenario)
        cmd = [exe, "run", where, "-o", str(Path(tmp) / "out"), "--overwrite"]

        def once(label: str) -> ChildRun:
            log(f"  {label}")
            r = run_child(cmd)
            if r.returncode != 0:
                tail = " / ".join(r.output.strip().splitlines()[-3:])
                raise _RunFailed(f"exit code {r.returncode}: {tail}")
            return r

        try:
            if cold:
                deleted = numba_cache_files()
                for f in deleted:
                    f.unlink(missing_ok=True)
                out["cache_files_deleted"] = len(deleted)
                r = once(f"cold run (deleted {len(deleted)} numba cache files)")
                out["cold"] = {"wall_s": r.wall_s, "peak_rss_bytes": r.peak_rss_bytes}
            elif warmup:
                once("warm-up run (no cold run)")
            warm = [once(f"warm run {i + 1}/{repeats}") for i in range(repeats)]
        except _RunFailed as exc:
            out["error"] = str(exc)
            log(f"  FAILED: {exc}")
            return out
    times = [r.wall_s for r in warm]
    out["warm"] = {
        **_stats(times),
        "peak_rss_bytes": max(r.peak_rss_bytes for r in warm),
        "peak_rss_bytes_each": [r.peak_rss_bytes for r in warm],
    }
    return out


def bench_help(runs: int) -> dict[str, Any]:
    cmd = [_landsim_exe(), "--help"]
    times = []
    for _ in range(runs):
        r = run_child(cmd)
        if r.returncode != 0:
            raise RuntimeError(f"landsim --help exited {r.returncode}: {r.output}")
        times.append(r.wall_s)
    return _stats(times)


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "landsim-benchmarks"


def hengyang_scenario(cache: Path, resolution: float, variant: str) -> tuple[Path, float | None]:
    """The SYNTHETIC Hengyang-like region at ``resolution`` m, generated into ``cache``
    on first use (at 30 m about 2 minutes and 28 MB; never in the repository), and a
    scenario that runs ``scenarios/hengyang-2035-<variant>.toml`` on it.

    The folder's name holds a hash of the generator's source, so a changed generator
    makes a new folder instead of reusing stale maps. Returns the scenario and the
    seconds the generation took (None when the maps were there already).
    """
    source = REPO / "src" / "landsim" / "synthetic" / "region.py"
    digest = hashlib.sha256(source.read_bytes() + f"|{resolution:g}|0".encode()).hexdigest()
    folder = cache / f"hengyang_synthetic_{resolution:g}m_seed0_{digest[:12]}"
    generated = None
    if not (folder / "region.json").is_file():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        log(f"  generating the SYNTHETIC Hengyang region at {resolution:g} m into {folder}")
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "landsim.synthetic", "hengyang"]
        cmd += ["--resolution", f"{resolution:g}", "--seed", "0", "-o", str(partial)]
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
        (partial / "SYNTHETIC.md").write_text(
            "# SYNTHETIC benchmark input\n\nA synthetic Hengyang-like region made by "
            f"landsim's generator (`{' '.join(cmd[1:5])} {resolution:g}`) for "
            "`python -m benchmarks`; no cell is observed. Safe to delete: it is made "
            f"again when needed ({time.perf_counter() - t0:.0f} s here).\n"
        )
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
        generated = time.perf_counter() - t0
    base = REPO / "scenarios" / f"hengyang-2035-{variant}.toml"
    name = f"hengyang-2035-{variant}-{resolution:g}m-synthetic"
    layers = {
        "urban_development_boundary": "urban_development_boundary_zones_synthetic.tif",
        "permanent_basic_farmland": "permanent_basic_farmland_synthetic.tif",
        "ecological_red_line": "ecological_red_line_synthetic.tif",
        "water": "landuse_2020_synthetic.tif",
        **{f"{c}_line": "urban_control_lines_synthetic.tif" for c in ("green", "blue")},
        **{f"{c}_line": "urban_control_lines_synthetic.tif" for c in ("purple", "yellow")},
    }
    lines = [
        f"# SYNTHETIC Hengyang-like region at {resolution:g} m: {base.name} on the maps of",
        "# this folder (written by python -m benchmarks; the maps are generated, not observed).",
        f"extends = {json.dumps(str(base))}",
        f'name = "{name}"',
        "",
        "[inputs]",
        'landuse = "landuse_2020_synthetic.tif"',
        "",
        "[inputs.drivers]",
        'slope = "slope_deg_synthetic.tif"',
        'dist_urban = { path = "dist_urban_2020_m_synthetic.tif", scale = 0.001 }',
        'dist_roads = { path = "dist_roads_m_synthetic.tif", scale = 0.001 }',
        'dist_centres = { path = "dist_centres_m_synthetic.tif", scale = 0.001 }',
        "",
        "[districts]",
        'path = "districts_synthetic.tif"',
    ]
    for layer, file in layers.items():
        lines += ["", f"[constraints.{layer}]", f'path = "{file}"']
    scenario = folder / f"{name}.toml"
    scenario.write_text("\n".join(lines) + "\n")
    return scenario, generated


def bench_hengyang(
    scenario: Path, repeats: int, generated_s: float | None, warmup: bool = True
) -> dict[str, Any]:
    """``landsim run`` warm through the CLI, then in this process: ``api.prepare`` once,
    the engine alone (``api.simulate_prepared``, median of ``repeats``) and
    ``api.run_prepared`` once (the engine, the reports and every output file)."""
    from landsim import api
    from landsim.scenario import load

    out = bench_scenario(scenario, repeats, cold=False, warmup=warmup)
    if "error" in out:
        return out
    out["generated_in_this_run_s"] = generated_s
    log("  in this process: prepare, the engine alone, run_prepared")
    t0 = time.perf_counter()
    prepared = api.prepare(load(scenario))
    out["prepare_s"] = time.perf_counter() - t0
    grid = prepared.landuse
    out["grid"] = list(grid.shape)
    out["cells"] = int(grid.size)
    out["land_cells"] = int((grid != 255).sum())
    out["years"] = len(prepared.demand) - 1
    out["new_urban_cells"] = int(max(prepared.demand.values()) - min(prepared.demand.values()))
    out["engine"] = timed(lambda: api.simulate_prepared(prepared), repeats)
    with tempfile.TemporaryDirectory(prefix="landsim-bench-") as tmp:
        t0 = time.perf_counter()
        api.run_prepared(prepared, Path(tmp) / "out", overwrite=True)
        out["run_prepared_s"] = time.perf_counter() - t0
    return out


def bench_ensemble(
    scenario: Path, members: int, repeats: int, warmup: bool = True
) -> dict[str, Any]:
    """``landsim run SCENARIO --members N`` on the local cluster (benchmarks.ensemble's
    ``run_ensemble``: wall time and the peak summed RSS of the process tree), after a
    2-member warm-up; each run's folder is deleted after it."""
    from benchmarks.ensemble import run_ensemble

    arg = _as_typed(scenario)
    out: dict[str, Any] = {
        "scenario": arg,
        "members": members,
        "command": f"landsim run {arg} --members {members} -o <tmpdir>",
    }
    runs = []
    try:
        for i in range(0 if warmup else 1, repeats + 1):
            with tempfile.TemporaryDirectory(prefix="landsim-bench-ens-") as tmp:
                if i == 0:
                    log("  warm-up: 2 members")
                    run_ensemble([scenario], 2, 2, Path(tmp))
                    continue
                log(f"  {members} members, run {i}/{repeats}")
                runs.append(run_ensemble([scenario], members, None, Path(tmp)))
    except SystemExit as exc:  # run_ensemble's way of saying the command failed
        out["error"] = " / ".join(str(exc).strip().splitlines()[-3:])
        log(f"  FAILED: {out['error']}")
        return out
    out.update(_stats([r["wall_s"] for r in runs]))
    out["per_member_s"] = out["median_s"] / members
    out["peak_gb"] = max(r["peak_gb"] for r in runs)
    return out


def bench_sleuth(repeats: int, quick: bool) -> dict[str, Any]:
    """The SLEUTH demo (``rasters/sleuth_demo200``) through ``landsim.sleuth.run``, as
    ``benchmarks.sleuth`` measures it: the test run of 100 members, and the coarse
    calibration (243 coefficient sets × 4 members), 1930 → 1990, warm."""
    from benchmarks.sleuth import SLEUTH_COARSE50_S, SLEUTH_TEST_100_S, _import
    from landsim.scenario import load_sleuth
    from landsim.sleuth import run

    with tempfile.TemporaryDirectory(prefix="landsim-bench-sleuth-") as tmp:
        test = load_sleuth(_import("scenario.demo200_test", "test", Path(tmp)))
        coarse = load_sleuth(_import("scenario.demo200_coarse50", "calibrate", Path(tmp)))
        layers = run.read_layers(test)
        clayers = run.read_layers(coarse)
    coeff = run._coefficient_array(test.coefficients)
    members = 4 if quick else 100
    cal_members = 1 if quick else 4
    log(f"  test run, {members} members")
    test_run = timed(
        lambda: run.simulate(test, layers, coeff, members, 1, keep_finals=True), repeats
    )
    cal_repeats = min(repeats, 3)
    log(f"  coarse calibration, 243 sets × {cal_members} member(s), {cal_repeats} runs")
    # No warm-up: the test run above compiled the kernels it shares.
    cal = timed(lambda: run.calibrate(coarse, clayers, cal_members, 1), cal_repeats, warmup=0)
    return {
        "test": {**test_run, "members": members, "sleuth_c_s": SLEUTH_TEST_100_S},
        "calibration": {
            **cal,
            "sets": 243,
            "members": cal_members,
            "sleuth_c_s": SLEUTH_COARSE50_S,
        },
    }


# --- report --------------------------------------------------------------------------


def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


class Report:
    """Markdown lines; ``vs`` gives this run's figure over the previous run's."""

    def __init__(self, res: dict[str, Any], prev: dict[str, Any] | None) -> None:
        self.res = res
        self.prev = prev
        self.lines: list[str] = []

    def vs(self, *path: str) -> str:
        now, before = _get(self.res, *path), _get(self.prev, *path)
        if not isinstance(now, int | float) or not isinstance(before, int | float) or not before:
            return "—"
        return f"×{now / before:.2f}"

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.add("| " + " | ".join(header) + " |", "|" + "---|" * len(header))
        self.add(*("| " + " | ".join(row) + " |" for row in rows))
        self.add("")


def _ms(s: float) -> str:
    return f"{s * 1e3:.1f}"


def _ratio(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def _gb(b: float) -> str:
    return f"{b / 1e9:.2f} GB"


def _target(value: float, limit: float, unit: str) -> str:
    return f"< {limit:g} {unit} ({'met' if value < limit else 'NOT met'})"


def _load(avg: list[float] | tuple[float, ...]) -> str:
    return ", ".join(f"{x:.2f}" for x in avg)


def _header(rep: Report, res: dict[str, Any]) -> None:
    m, meta = res["machine"], res["meta"]
    mem = f"{m['memory_bytes'] / 2**30:.1f} GiB" if m["memory_bytes"] else "memory unknown"
    bw = res["bandwidth"]
    rep.add(
        "# landsim benchmark results",
        "",
        f"- date: {meta['date']}",
        f"- commit: {meta['commit'] or 'unknown'}",
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['cores_available']} available), "
        f"{mem}; {m['platform']}",
        f"- memory bandwidth, measured in this run: {bw['gb_per_s']:.1f} GB/s "
        f"(`np.copyto` of {bw['bytes_copied'] / 2**20:.0f} MiB float32, read + write bytes, "
        f"median; best {bw['gb_per_s_best']:.1f} GB/s) — vs previous "
        f"{rep.vs('bandwidth', 'gb_per_s')}",
        f"- software: Python {m['python']}, numpy {m['numpy']}, numba {m['numba']} "
        f"(threading layer {m['numba_threading_layer']}, {m['numba_threads']} threads)",
        f"- load average (1, 5, 15 min) at start {_load(m['load_average_start'])}, "
        f"at end {_load(meta['load_average_end'])}",
        f"- command: `{meta['command']}` ({meta['duration_s']:.0f} s); sections: "
        + ", ".join(meta["sections"]),
        "",
    )
    if meta.get("quick"):
        rep.add(
            "**Quick run (`--quick`)**: a smoke test on small inputs; the figures are not "
            "comparable with a full run's.",
            "",
        )
    busy = max(m["load_average_start"][0], meta["load_average_end"][0])
    if busy >= max(0.5, 0.25 * m["cores"]):
        rep.add(
            f"**Other processes were running** (1-minute load average up to {busy:.2f} on "
            f"{m['cores']} cores): these figures are noisy. Parallel numba kernels suffer "
            "most, since each parallel region waits for its slowest thread.",
            "",
        )
    rep.add(
        f"Times are medians of {meta['repeats']} repeats after one warm-up call, with the "
        'min in brackets or its own column. "vs previous" is this run\'s figure divided by '
        "the previous run's (below 1 is faster for times, slower for rates).",
    )
    prev = rep.prev
    if prev is not None:
        pm = _get(prev, "machine", "cpu")
        same = pm == m["cpu"] and _get(prev, "machine", "cores") == m["cores"]
        rep.add(
            "",
            f"Previous run: {_get(prev, 'meta', 'date')}, commit {_get(prev, 'meta', 'commit')}"
            + ("" if same else f", ON ANOTHER MACHINE ({pm})")
            + ".",
        )
    rep.add("")
    c = res["check"]
    rep.add(
        "## Check",
        "",
        f"On a {c['shape'][0]} × {c['shape'][1]} synthetic grid, `numpy_step`, the three numba "
        f"kernels and the engine's year select the same {c['selected']} cells; on potentials "
        "with many ties, numba, numpy and `reference.select_top` select the same cells. "
        "Cells whose float32 value differs bit for bit between numpy and the kernels: "
        f"neighbourhood {c['neighborhood_cells_bitwise_different']}, potential "
        f"{c['potential_cells_bitwise_different']}.",
        "",
    )


STEP_ROWS = [
    ("numba", "step", "**engine's year** (`update_row_sums` + `select_urban`)", "step"),
    ("numba", "update_row_sums", "· `update_row_sums` (last year's 1 %)", None),
    ("numba", "select_urban", "· `select_urban`", None),
    (
        "numba_three_kernels",
        "step",
        "**three kernels** (the year before `select_urban`)",
        "three_kernel_step",
    ),
    (
        "numba_three_kernels",
        "neighborhood_effect",
        "· `neighborhood_effect`",
        "neighborhood_effect",
    ),
    ("numba_three_kernels", "urban_potential", "· `urban_potential`", "urban_potential"),
    ("numba_three_kernels", "select_top", "· `select_top`", "select_top"),
    ("numpy", "step", "**numpy step**", None),
    ("numpy", "neighborhood_effect", "· neighbourhood", None),
    ("numpy", "urban_potential", "· potential", None),
    ("numpy", "select_top", "· selection", None),
]


def _render_step(rep: Report, res: dict[str, Any]) -> None:
    rep.add(
        f"## CA step (radius {RADIUS}, {SELECTED_SHARE:.0%} of the cells selected)",
        "",
        "Synthetic grid: ~15 % urban in blobs, every other cell a candidate, random "
        "suitability. The engine's year corrects the row sums around last year's new "
        "urban cells (another 1 %) and selects; the three kernels and numpy compute the "
        "whole neighbourhood and every potential. The three whole steps are timed "
        "interleaved; then each implementation's parts. numba uses all its threads, numpy "
        "one core. B/cell is the compulsory memory traffic assumed (see "
        '`benchmarks/README.md`); "% of bound" is the time those bytes take at the '
        'measured bandwidth over the time measured. "numpy ÷" is numpy\'s time for the '
        "same work over this one's.",
        "",
    )
    rows = []
    for size, st in res["step"].items():
        for impl, part, label, vs_numpy in STEP_ROWS:
            r = st[impl][part]
            ratio = "—"
            if impl == "numba" and part == "step":
                ratio = f"**{_ratio(st['numpy_over_numba']['step'])}×**"
            elif vs_numpy is not None:
                ratio = f"{_ratio(st['numpy_over_numba'][vs_numpy])}×"
            rows.append(
                [
                    f"{size}²",
                    label,
                    f"{_ms(r['median_s'])} ({_ms(r['min_s'])})",
                    f"{r['cells_per_s'] / 1e6:.0f}",
                    f"{r['bytes_per_cell']:.3g}",
                    f"{r['bandwidth_fraction']:.0%}",
                    ratio,
                    rep.vs("step", size, impl, part, "median_s"),
                ]
            )
    rep.table(
        ["grid", "part", "ms (min)", "Mcells/s", "B/cell", "% of bound", "numpy ÷", "vs previous"],
        rows,
    )
    rep.add("Scaling with the grid (whole steps, Mcells/s):", "")
    rows = []
    for size, st in res["step"].items():
        rows.append(
            [
                f"{size}²",
                f"{st['cells'] / 1e6:.1f} M",
                f"{st['numba']['step']['cells_per_s'] / 1e6:.0f}",
                f"{st['numba_three_kernels']['step']['cells_per_s'] / 1e6:.0f}",
                f"{st['numpy']['step']['cells_per_s'] / 1e6:.0f}",
                f"{st['three_kernels_over_engine']:.1f}×",
                f"{st['numpy_over_numba']['step']:.1f}×",
            ]
        )
    rep.table(
        [
            "grid",
            "cells",
            "engine's year",
            "three kernels",
            "numpy",
            "three kernels ÷ engine",
            "numpy ÷ engine",
        ],
        rows,
    )
    at = res["step"].get("4096")
    if at is not None:
        rate = at["numba"]["step"]["cells_per_s"]
        rep.add(
            f"Target (not asserted): a full step at ≥ {TARGETS['step_cells_per_s'] / 1e6:.0f} "
            f"M cells/s on 4096²: {rate / 1e6:.0f} M cells/s "
            f"({'met' if rate >= TARGETS['step_cells_per_s'] else 'NOT met'}).",
            "",
        )


def _render_threads(rep: Report, res: dict[str, Any]) -> None:
    th = res["threads"]
    rep.add(f"## numba threads ({th['size']}² step)", "")
    rows = []
    for t, r in th.items():
        if t == "size":
            continue
        r3 = r["three_kernels"]
        rows.append(
            [
                t,
                f"{_ms(r['median_s'])} ({_ms(r['min_s'])})",
                f"{r['speedup_vs_1']:.2f}×",
                f"{_ms(r3['median_s'])} ({_ms(r3['min_s'])})",
                f"{r3['speedup_vs_1']:.2f}×",
                rep.vs("threads", t, "median_s"),
            ]
        )
    rep.table(
        [
            "threads",
            "engine's year ms",
            "speed-up",
            "three kernels ms",
            "speed-up",
            "vs previous (engine)",
        ],
        rows,
    )


def _render_end_to_end(rep: Report, res: dict[str, Any]) -> None:
    if not any(k in res for k in ("scenario", "hengyang", "ensemble", "sleuth")):
        return
    rep.add(
        "## End to end",
        "",
        "Through the CLI, each run a fresh process, wall time measured from outside it "
        "(interpreter start and imports included); peak memory is the process's maximum "
        "resident set size (`ru_maxrss` from `os.wait4`, taken by `benchmarks/child.py`), "
        "for ensembles the summed resident sets of the process tree sampled every 0.1 s.",
        "",
    )
    rows: list[list[str]] = []
    quick = res["meta"].get("quick")
    sc = res.get("scenario")
    if sc is not None:
        what = f"`{sc['command']}`"
        if "cold" in sc:
            rows += [
                [
                    f"{what}: cold, first run after deleting numba's cache "
                    f"({sc['cache_files_deleted']} files), wall",
                    f"{sc['cold']['wall_s']:.2f} s",
                    "—",
                    rep.vs("scenario", "cold", "wall_s"),
                ],
                [
                    "same, cold, peak memory",
                    _gb(sc["cold"]["peak_rss_bytes"]),
                    "—",
                    rep.vs("scenario", "cold", "peak_rss_bytes"),
                ],
            ]
        if "error" in sc:
            rows.append([f"{what} **FAILED**", sc["error"].replace("|", "\\|"), "—", "—"])
        else:
            w = sc["warm"]
            rows += [
                [
                    f"{what}: warm, wall (median of {len(w['times_s'])}; min {w['min_s']:.2f} s)",
                    f"{w['median_s']:.2f} s",
                    "—" if quick else _target(w["median_s"], TARGETS["wuhan_warm_s"], "s"),
                    rep.vs("scenario", "warm", "median_s"),
                ],
                [
                    "same, warm, peak memory (max over runs)",
                    _gb(w["peak_rss_bytes"]),
                    "—"
                    if quick
                    else _target(w["peak_rss_bytes"] / 1e9, TARGETS["wuhan_peak_gb"], "GB"),
                    rep.vs("scenario", "warm", "peak_rss_bytes"),
                ],
            ]
        hp = res["help"]
        rows.append(
            [
                f"`landsim --help`, wall (median of {len(hp['times_s'])})",
                f"{hp['median_s']:.3f} s",
                _target(hp["median_s"], TARGETS["help_s"], "s"),
                rep.vs("help", "median_s"),
            ]
        )
    hy = res.get("hengyang")
    if hy is not None:
        what = f"`{hy['command']}`"
        if "error" in hy:
            rows.append([f"{what} **FAILED**", hy["error"].replace("|", "\\|"), "—", "—"])
        else:
            w, e = hy["warm"], hy["engine"]
            grid = f"{hy['grid'][0]:,} × {hy['grid'][1]:,}"
            rows += [
                [
                    f"{what} ({grid} grid, {hy['land_cells']:,} cells of land, "
                    f"{hy['years']} years, {hy['new_urban_cells']:,} new urban cells): warm, "
                    f"wall (median of {len(w['times_s'])}; min {w['min_s']:.2f} s)",
                    f"{w['median_s']:.2f} s",
                    "—" if quick else _target(w["median_s"], TARGETS["hengyang_warm_s"], "s"),
                    rep.vs("hengyang", "warm", "median_s"),
                ],
                [
                    "same, warm, peak memory (max over runs)",
                    _gb(w["peak_rss_bytes"]),
                    "—",
                    rep.vs("hengyang", "warm", "peak_rss_bytes"),
                ],
                [
                    "same, in one process: `api.prepare` (read, compile the rules, "
                    "suitability, demand; 1 run)",
                    f"{hy['prepare_s']:.2f} s",
                    "—",
                    rep.vs("hengyang", "prepare_s"),
                ],
                [
                    f"same: the engine alone (`api.simulate_prepared`, median of "
                    f"{len(e['times_s'])}; min {e['min_s']:.2f} s)",
                    f"{e['median_s']:.2f} s",
                    "—" if quick else _target(e["median_s"], TARGETS["hengyang_warm_s"], "s"),
                    rep.vs("hengyang", "engine", "median_s"),
                ],
                [
                    "same: `api.run_prepared` (the engine, reports and every output file; 1 run)",
                    f"{hy['run_prepared_s']:.2f} s",
                    "—",
                    rep.vs("hengyang", "run_prepared_s"),
                ],
            ]
    en = res.get("ensemble")
    if en is not None:
        what = f"`{en['command']}`"
        if "error" in en:
            rows.append([f"{what} **FAILED**", en["error"].replace("|", "\\|"), "—", "—"])
        else:
            rows += [
                [
                    f"{what}, local cluster, wall (median of {len(en['times_s'])})",
                    f"{en['median_s']:.1f} s",
                    "—" if quick else _target(en["median_s"], TARGETS["ensemble_100_s"], "s"),
                    rep.vs("ensemble", "median_s"),
                ],
                [
                    "same, per member",
                    f"{en['per_member_s']:.2f} s",
                    "—",
                    rep.vs("ensemble", "per_member_s"),
                ],
                [
                    "same, peak memory (process tree)",
                    f"{en['peak_gb']:.2f} GB",
                    "—",
                    rep.vs("ensemble", "peak_gb"),
                ],
            ]
    sl = res.get("sleuth")
    if sl is not None:
        t, c = sl["test"], sl["calibration"]
        rows += [
            [
                f"SLEUTH demo, test mode, {t['members']} members, 1930 → 1990 "
                f"(`landsim.sleuth.run.simulate`, median of {len(t['times_s'])}; SLEUTH's C "
                f"code: {t['sleuth_c_s']} s for 100)",
                f"{t['median_s']:.2f} s",
                "—" if quick else _target(t["median_s"], TARGETS["sleuth_test_100_s"], "s"),
                rep.vs("sleuth", "test", "median_s"),
            ],
            [
                f"SLEUTH demo, coarse calibration, {c['sets']} sets × {c['members']} members "
                f"(`run.calibrate`, median of {len(c['times_s'])}; SLEUTH's C code: "
                f"{c['sleuth_c_s']} s for 4 members)",
                f"{c['median_s']:.2f} s",
                "—" if quick else _target(c["median_s"], TARGETS["sleuth_coarse_s"], "s"),
                rep.vs("sleuth", "calibration", "median_s"),
            ],
        ]
    rep.table(["figure", "value", "target (not asserted)", "vs previous"], rows)


def render(res: dict[str, Any], prev: dict[str, Any] | None) -> str:
    rep = Report(res, prev)
    _header(rep, res)
    if "step" in res:
        _render_step(rep, res)
    if "threads" in res:
        _render_threads(rep, res)
    _render_end_to_end(rep, res)
    return "\n".join(rep.lines).rstrip() + "\n"


# --- main ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark landsim's kernels and commands; write a markdown report and JSON.",
    )
    p.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections (of: {', '.join(SECTIONS)}); the check, the machine "
        "and its bandwidth always run. Writes to the temp folder unless --out/--json",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test of every section on small inputs; writes to the temp folder",
    )
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="grid sides of the synthetic CA step [512 1024 2048 4096 8192]",
    )
    p.add_argument("--threads-size", type=int, default=None, help="grid side of threads [4096]")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per figure [5]")
    p.add_argument(
        "--long-repeats",
        type=int,
        default=1,
        help="repeats of the figures that take minutes (the ensemble) [1]",
    )
    p.add_argument("--out", type=Path, default=None, help="markdown report [benchmarks/RESULTS.md]")
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help="raw numbers; compared with when it exists [benchmarks/results.json]",
    )
    p.add_argument(
        "--scenario",
        type=Path,
        default=WUHAN,
        help="scenario of the wuhan section [scenarios/wuhan-2035.toml]",
    )
    p.add_argument("--no-cold", action="store_true", help="keep numba's cache: skip the cold run")
    p.add_argument("--members", type=int, default=None, help="ensemble members [100]")
    p.add_argument(
        "--resolution", type=float, default=None, help="Hengyang region's cell size, m [30]"
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder of generated inputs [$XDG_CACHE_HOME or ~/.cache, /landsim-benchmarks]",
    )
    args = p.parse_args(argv)
    # A smoke test or a partial run must not overwrite the real results, nor be
    # compared with them.
    if args.quick or args.only:
        scratch = Path(tempfile.gettempdir()) / (
            "landsim-benchmarks-quick" if args.quick else "landsim-benchmarks-only"
        )
        args.out = args.out or scratch / "RESULTS.md"
        args.json = args.json or scratch / "results.json"
    args.out = args.out or REPO / "benchmarks" / "RESULTS.md"
    args.json = args.json or REPO / "benchmarks" / "results.json"
    quick = args.quick
    if args.sizes is None:
        args.sizes = [256] if quick else [512, 1024, 2048, 4096, 8192]
    if args.threads_size is None:
        args.threads_size = min(256 if quick else 4096, max(args.sizes))
    if args.repeats is None:
        args.repeats = 1 if quick else 5
    if args.members is None:
        args.members = 2 if quick else 100
    if args.resolution is None:
        args.resolution = 1000.0 if quick else 30.0
    args.cache = args.cache or default_cache()
    args.sections = list(args.only or SECTIONS)
    if args.repeats < 1 or args.long_repeats < 1:
        p.error("--repeats and --long-repeats must be at least 1")
    if min(args.sizes) < 16 or args.threads_size < 16:
        p.error("--sizes, --threads-size: grids must be at least 16 cells wide")
    if not args.scenario.is_file():
        p.error(f"scenario not found: {args.scenario}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quick = args.quick
    t_start = time.perf_counter()
    prev = None
    if args.json.is_file():
        try:
            prev = json.loads(args.json.read_text())
        except (OSError, ValueError) as exc:
            log(f"previous results not read ({args.json}: {exc}); no comparison")
    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)

    log("check: numpy_step, the three kernels and the engine's year select the same cells")
    check = check_same_selection()  # also compiles or loads the kernels
    machine = machine_info()
    log("memory bandwidth")
    bandwidth = measure_bandwidth(args.repeats, (32 if quick else 256) * 2**20)
    res: dict[str, Any] = {"machine": machine, "bandwidth": bandwidth, "check": check}
    gb_per_s = bandwidth["gb_per_s"] * 1e9
    sections = args.sections
    if "step" in sections:
        log("CA step")
        res["step"] = {str(s): bench_step(s, args.repeats, gb_per_s) for s in args.sizes}
    if "threads" in sections:
        log("numba threads")
        res["threads"] = bench_threads(args.threads_size, args.repeats)
    # Small SYNTHETIC inputs stand in for the real ones in a smoke test (seconds a run).
    small = hengyang_scenario(args.cache, 1000.0, "natural")[0] if quick else None
    if "wuhan" in sections:
        scenario = small or args.scenario.resolve()
        log(f"end to end: {scenario}")
        res["scenario"] = bench_scenario(
            scenario, args.repeats, cold=not (args.no_cold or quick), warmup=not quick
        )
        log("landsim --help")
        res["help"] = bench_help(2 if quick else HELP_RUNS)
    if "hengyang" in sections:
        variant = "natural" if quick else "planning"
        log(f"Hengyang (SYNTHETIC) at {args.resolution:g} m, {variant}")
        scenario, generated_s = hengyang_scenario(args.cache, args.resolution, variant)
        res["hengyang"] = bench_hengyang(scenario, args.repeats, generated_s, warmup=not quick)
    if "ensemble" in sections:
        scenario = small or WUHAN
        log(f"ensemble: {args.members} members of {scenario.name}")
        res["ensemble"] = bench_ensemble(scenario, args.members, args.long_repeats, not quick)
    if "sleuth" in sections:
        log("SLEUTH demo")
        res["sleuth"] = bench_sleuth(args.repeats, quick)

    res["meta"] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "command": command.strip(),
        "sections": sections,
        "quick": quick,
        "repeats": args.repeats,
        "duration_s": time.perf_counter() - t_start,
        "load_average_end": os.getloadavg(),
        "model": {
            "radius": RADIUS,
            "floor": FLOOR,
            "alpha": ALPHA,
            "selected_share": SELECTED_SHARE,
        },
        "bytes_per_cell": BYTES_PER_CELL,
        "targets": TARGETS,
    }
    results = {"meta": res.pop("meta"), **res}
    report = render(results, prev)
    for path in (args.out, args.json):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(report, end="")
    log(f"wrote {args.out} and {args.json} ({results['meta']['duration_s']:.0f} s)")
    failed = [k for k in ("scenario", "hengyang", "ensemble") if "error" in results.get(k, {})]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
