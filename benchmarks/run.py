"""landsim's benchmark: ``python -m benchmarks.run`` from the repository root.

One run measures, on this machine:

1. a check that the plain-numpy step and the numba step select the same cells (run
   first: nothing is worth timing if they disagree);
2. the machine (CPU, cores, memory, versions, numba threading layer and threads);
3. memory bandwidth, the ceiling for kernels that stream arrays;
4. the CA step (neighbourhood + potential + selection of 1 % of the cells) on synthetic
   grids: the numba step, each numba kernel, and the numpy step, in the same process;
5. the numba step on the largest grid with 1, 2, … threads;
6. the default scenario end to end through the CLI, cold and warm, with peak memory;
7. ``landsim --help``.

It writes a markdown report (``--out``) and the raw numbers (``--json``); when the JSON
file already exists, each figure is also given as a ratio to the previous run's. Nothing
is asserted about timings: targets are shown next to the figures, not enforced.
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import datetime
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
DEFAULT_SCENARIO = REPO / "scenarios" / "wuhan-2035.toml"

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

BANDWIDTH_BYTES = 256 * 2**20  # the copied array; large enough to defeat every cache
HELP_RUNS = 10
CHECK_SHAPE = (250, 311)  # non-square, so a swapped axis cannot pass the check

# Bytes each kernel must move between memory and the core per cell, compulsory traffic
# only: reads from neighbouring rows/columns are assumed to hit the cache, lookup tables
# and histograms live in cache, and write-allocate reads of the output lines are not
# counted (they would raise the true traffic, so the "% of bound" figures are a floor).
BYTES_PER_CELL = {
    # row pass: read landuse 1 B, write work 4 B; column pass: read work 4 B, read
    # landuse 1 B again (the centre weight is subtracted), write out 4 B.
    "neighborhood_effect": 1 + 4 + 4 + 1 + 4,
    # read suitability 4 B, neighbourhood 4 B, candidate 1 B; write potential 4 B.
    "urban_potential": 4 + 4 + 1 + 4,
    # three passes each reading the potential (4 B), plus 8 B per selected index.
    "select_top": 3 * 4 + 8 * SELECTED_SHARE,
}
BYTES_PER_CELL["step"] = sum(BYTES_PER_CELL.values())

TARGETS = {  # shown, never asserted
    "wuhan_warm_s": 10.0,
    "wuhan_peak_gb": 1.5,
    "help_s": 0.5,
}


def log(msg: str) -> None:
    """Progress on stderr, so that stdout carries only the report."""
    print(msg, file=sys.stderr, flush=True)


# --- timing helpers ------------------------------------------------------------------


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict[str, Any]:
    """Median and min of ``repeats`` calls, after ``warmup`` untimed calls.

    The warm-up call absorbs numba's compile-or-load and first-touch page faults, which
    a long simulation pays once, not every step.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"times_s": times, "median_s": statistics.median(times), "min_s": min(times)}


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
        log = Path(tmp) / "output.txt"
        meter = subprocess.run(
            [sys.executable, "-m", "benchmarks.child", str(log), *cmd],
            cwd=REPO,  # where users run landsim from, and where benchmarks is importable
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(meter.stdout)
        output = log.read_text(errors="replace")
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


def measure_bandwidth(repeats: int) -> dict[str, Any]:
    """``np.copyto`` of a 256 MiB float32 array; bytes counted = read + write."""
    src = np.ones(BANDWIDTH_BYTES // 4, dtype=np.float32)
    dst = np.empty_like(src)  # first touched by the untimed warm-up copy
    r = timed(lambda: np.copyto(dst, src), repeats=max(repeats, 5))
    moved = 2 * BANDWIDTH_BYTES
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
    others = np.array([3, 3, 3, 3, 3, 6, 6, 2, 7, 1, 5], dtype=np.uint8)
    landuse = others[rng.integers(0, others.size, size=shape)]
    landuse[urban] = URBAN
    candidate = (landuse != URBAN).astype(np.uint8)
    suitability = rng.random(shape, dtype=np.float32)
    n = round(SELECTED_SHARE * landuse.size)
    return Grid(landuse, suitability, candidate, n)


class NumbaStep:
    """The numba path as the engine runs it: preallocated buffers, ``chosen`` per step."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.work = np.empty(shape, dtype=np.float32)
        self.neighborhood = np.empty(shape, dtype=np.float32)
        self.potential = np.empty(shape, dtype=np.float32)

    def neighborhood_effect(self, g: Grid) -> None:
        kernels.neighborhood_effect(g.landuse, WEIGHTS, RADIUS, self.work, self.neighborhood)

    def urban_potential(self, g: Grid) -> None:
        kernels.urban_potential(
            g.suitability, self.neighborhood, g.candidate, FLOOR, ALPHA, KEY, self.potential
        )

    def select_top(self, g: Grid) -> np.ndarray:
        chosen = np.empty(g.n, dtype=np.int64)
        kernels.select_top(self.potential, g.n, chosen)
        return chosen

    def __call__(self, g: Grid) -> np.ndarray:
        self.neighborhood_effect(g)
        self.urban_potential(g)
        return self.select_top(g)


def _numpy_call(step: NumpyStep, g: Grid) -> np.ndarray:
    return step(g.landuse, WEIGHTS, g.suitability, g.candidate, FLOOR, ALPHA, KEY, g.n)


def check_same_selection() -> dict[str, Any]:
    """numpy_step and the numba step must select the same cells; raise if they do not.

    Also checks both selections against ``landsim.kernels.reference.select_top`` on a
    potential with many ties, where the tie rule decides which cells are taken.
    """
    g = synthetic_grid(CHECK_SHAPE, seed=1)
    nb, npy = NumbaStep(g.shape), NumpyStep(g.shape, RADIUS)
    chosen_numba = nb(g)
    chosen_numpy = _numpy_call(npy, g)
    if not np.array_equal(chosen_numba, chosen_numpy):
        raise RuntimeError(
            f"numpy_step and the numba step disagree on a {CHECK_SHAPE} grid: "
            f"{np.setxor1d(chosen_numba, chosen_numpy).size} cells differ"
        )
    if not np.array_equal(chosen_numpy, reference.select_top(npy.potential, g.n)):
        raise RuntimeError("numpy_step's selection differs from reference.select_top")
    # Quantised potential: thousands of cells share each value.
    tied = np.where(nb.potential >= 0, np.round(nb.potential * 4) / 4, -1).astype(np.float32)
    ties_ok = True
    for n in (1, g.n, 10 * g.n, int((tied >= 0).sum())):
        expected = reference.select_top(tied, n)
        got_numba = np.empty(n, dtype=np.int64)
        kernels.select_top(tied, n, got_numba)
        got_numpy = NumpyStep.select_top(tied, n)
        ties_ok &= np.array_equal(got_numba, expected) and np.array_equal(got_numpy, expected)
    if not ties_ok:
        raise RuntimeError("select_top: numba, numpy and reference disagree on tied cells")

    def bits_differ(a: np.ndarray, b: np.ndarray) -> int:
        return int((a.view(np.uint32) != b.view(np.uint32)).sum())

    return {
        "shape": list(CHECK_SHAPE),
        "selected": int(g.n),
        "same_selection": True,
        "ties_same_as_reference": True,
        "neighborhood_cells_bitwise_different": bits_differ(nb.neighborhood, npy.neighborhood),
        "potential_cells_bitwise_different": bits_differ(nb.potential, npy.potential),
    }


PARTS = ("step", "neighborhood_effect", "urban_potential", "select_top")


def bench_step(size: int, repeats: int, bandwidth: float) -> dict[str, Any]:
    """The step and each of its three parts, numba and numpy, on a size² synthetic grid."""
    g = synthetic_grid((size, size))
    cells = g.landuse.size
    nb, npy = NumbaStep(g.shape), NumpyStep(g.shape, RADIUS)
    # One whole step each first: numba's compile-or-load, first-touch page faults, and
    # the inputs of the parts timed one by one.
    nb(g)
    _numpy_call(npy, g)
    runs: dict[str, dict[str, Callable[[], object]]] = {
        "numba": {
            "step": lambda: nb(g),
            "neighborhood_effect": lambda: nb.neighborhood_effect(g),
            "urban_potential": lambda: nb.urban_potential(g),
            "select_top": lambda: nb.select_top(g),
        },
        "numpy": {
            "step": lambda: _numpy_call(npy, g),
            "neighborhood_effect": lambda: npy.neighborhood_effect(g.landuse, WEIGHTS),
            "urban_potential": lambda: npy.urban_potential(
                g.suitability, npy.neighborhood, g.candidate, FLOOR, ALPHA, KEY
            ),
            "select_top": lambda: npy.select_top(npy.potential, g.n),
        },
    }
    out: dict[str, Any] = {
        "cells": cells,
        "selected": g.n,
        "urban_share": float((g.landuse == URBAN).mean()),
        "candidates": int(g.candidate.sum()),
    }
    for impl, parts in runs.items():
        out[impl] = {}
        for part, fn in parts.items():
            log(f"  {size}²: {impl} {part}")
            r = timed(fn, repeats)
            r["cells_per_s"] = cells / r["median_s"]
            # Both do the same work, so both are held to the same compulsory bytes: the
            # time they would take at the measured bandwidth, over the time taken (1.0
            # would be a kernel limited by memory alone).
            r["bytes_per_cell"] = BYTES_PER_CELL[part]
            r["bandwidth_fraction"] = r["bytes_per_cell"] * cells / bandwidth / r["median_s"]
            out[impl][part] = r
    out["numpy_over_numba"] = {
        part: out["numpy"][part]["median_s"] / out["numba"][part]["median_s"] for part in PARTS
    }
    return out


def bench_threads(size: int, repeats: int) -> dict[str, Any]:
    """The numba step on a size² grid with 1, 2 and all of numba's threads."""
    g = synthetic_grid((size, size))
    nb = NumbaStep(g.shape)
    most = numba.config.NUMBA_NUM_THREADS
    out: dict[str, Any] = {"size": size}
    try:
        for t in sorted({1, 2, most} & set(range(1, most + 1))):
            log(f"  {size}²: numba step, {t} thread(s)")
            numba.set_num_threads(t)
            out[str(t)] = timed(lambda: nb(g), repeats)
    finally:
        numba.set_num_threads(most)
    base = out["1"]["median_s"]
    for t, r in out.items():
        if t != "size":
            r["speedup_vs_1"] = base / r["median_s"]
    return out


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


def bench_scenario(scenario: Path, repeats: int, cold: bool) -> dict[str, Any]:
    """``landsim run SCENARIO -o <tmp> --overwrite`` in fresh processes, cold then warm.

    A failing run is recorded as ``error`` (and shown as FAILED) rather than raised, so
    that the figures measured before it are still written.
    """
    exe = _landsim_exe()
    # Relative to the repository root, where the runs start, as a user would type it.
    arg = str(scenario.relative_to(REPO)) if scenario.is_relative_to(REPO) else str(scenario)
    out: dict[str, Any] = {
        "scenario": arg,
        "command": f"landsim run {arg} -o <tmpdir> --overwrite",
    }
    with tempfile.TemporaryDirectory(prefix="landsim-bench-") as tmp:
        cmd = [exe, "run", arg, "-o", str(Path(tmp) / "out"), "--overwrite"]

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
            else:
                once("warm-up run (cold run skipped: --no-cold)")
            warm = [once(f"warm run {i + 1}/{repeats}") for i in range(repeats)]
        except _RunFailed as exc:
            out["error"] = str(exc)
            log(f"  FAILED: {exc}")
            return out
    times = [r.wall_s for r in warm]
    out["warm"] = {
        "times_s": times,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "peak_rss_bytes": max(r.peak_rss_bytes for r in warm),
        "peak_rss_bytes_each": [r.peak_rss_bytes for r in warm],
    }
    return out


def bench_help() -> dict[str, Any]:
    cmd = [_landsim_exe(), "--help"]
    times = []
    for _ in range(HELP_RUNS):
        r = run_child(cmd)
        if r.returncode != 0:
            raise RuntimeError(f"landsim --help exited {r.returncode}: {r.output}")
        times.append(r.wall_s)
    return {"times_s": times, "median_s": statistics.median(times), "min_s": min(times)}


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


def render(res: dict[str, Any], prev: dict[str, Any] | None) -> str:
    m, meta = res["machine"], res["meta"]
    rep = Report(res, prev)
    mem = f"{m['memory_bytes'] / 2**30:.1f} GiB" if m["memory_bytes"] else "memory unknown"
    rep.add(
        "# landsim benchmark results",
        "",
        f"- date: {meta['date']}",
        f"- commit: {meta['commit'] or 'unknown'}",
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['cores_available']} available), "
        f"{mem}; {m['platform']}",
        f"- software: Python {m['python']}, numpy {m['numpy']}, numba {m['numba']} "
        f"(threading layer {m['numba_threading_layer']}, {m['numba_threads']} threads)",
        f"- load average (1, 5, 15 min) at start {_load(m['load_average_start'])}, "
        f"at end {_load(meta['load_average_end'])}",
        f"- command: `{meta['command']}` ({meta['duration_s']:.0f} s)",
        "",
    )
    busy = m["load_average_start"][0]
    if busy >= max(0.5, 0.25 * m["cores"]):
        rep.add(
            f"**Other processes were running** (1-minute load average {busy:.2f} on "
            f"{m['cores']} cores at the start): these figures are noisy. Parallel numba "
            "kernels suffer most, since each parallel region waits for its slowest thread.",
            "",
        )
    rep.add(
        f"Times are medians of {meta['repeats']} repeats after one warm-up call, with the "
        'min in brackets or its own column. "vs previous" is this run\'s figure divided by '
        "the previous run's (below 1 is faster for times, slower for rates).",
    )
    if prev is not None:
        rep.add("")
        pm = _get(prev, "machine", "cpu")
        same = pm == m["cpu"] and _get(prev, "machine", "cores") == m["cores"]
        rep.add(
            f"Previous run: {_get(prev, 'meta', 'date')}, commit "
            f"{_get(prev, 'meta', 'commit')}"
            + ("" if same else f", ON ANOTHER MACHINE ({pm})")
            + "."
        )
    rep.add("")

    bw = res["bandwidth"]
    rep.add("## Memory bandwidth", "")
    rep.table(
        ["figure", "median", "best", "vs previous"],
        [
            [
                "`np.copyto` of 256 MiB float32, read + write bytes",
                f"{bw['gb_per_s']:.1f} GB/s",
                f"{bw['gb_per_s_best']:.1f} GB/s",
                rep.vs("bandwidth", "gb_per_s"),
            ]
        ],
    )

    c = res["check"]
    rep.add(
        "## Check",
        "",
        f"On a {c['shape'][0]} × {c['shape'][1]} synthetic grid, `numpy_step` and the numba "
        f"step select the same {c['selected']} cells; on a potential with many ties, numba, "
        "numpy and `reference.select_top` select the same cells. Cells whose float32 value "
        f"differs bit for bit: neighbourhood {c['neighborhood_cells_bitwise_different']}, "
        f"potential {c['potential_cells_bitwise_different']}.",
        "",
    )

    rep.add(
        f"## CA step (radius {RADIUS}, {SELECTED_SHARE:.0%} of the cells selected)",
        "",
        "Synthetic grid: ~15 % urban in blobs, every other cell a candidate, random "
        "suitability. Times are median (min) in ms; numba uses all its threads, numpy one "
        "core. Bytes/cell is the compulsory memory traffic assumed (see "
        '`benchmarks/README.md`); "% of bound" is the time those bytes take at the '
        "measured bandwidth over the time measured.",
        "",
    )
    rows = []
    for size, st in res["step"].items():
        for part in PARTS:
            nb, npy = st["numba"][part], st["numpy"][part]
            rows.append(
                [
                    f"{size}²",
                    "**step**" if part == "step" else f"· {part}",
                    f"{_ms(nb['median_s'])} ({_ms(nb['min_s'])})",
                    f"{_ms(npy['median_s'])} ({_ms(npy['min_s'])})",
                    f"**{_ratio(st['numpy_over_numba'][part])}×**",
                    f"{nb['cells_per_s'] / 1e6:.0f}",
                    f"{npy['cells_per_s'] / 1e6:.0f}",
                    f"{nb['bytes_per_cell']:g}",
                    f"{nb['bandwidth_fraction']:.0%}",
                    rep.vs("step", size, "numba", part, "median_s"),
                    rep.vs("step", size, "numpy", part, "median_s"),
                ]
            )
    rep.table(
        [
            "grid",
            "part",
            "numba ms",
            "numpy ms",
            "numpy / numba",
            "numba Mcells/s",
            "numpy Mcells/s",
            "B/cell",
            "numba % of bound",
            "vs previous, numba",
            "vs previous, numpy",
        ],
        rows,
    )

    th = res["threads"]
    rep.add(f"## numba threads ({th['size']}² step)", "")
    rep.table(
        ["threads", "median ms", "min ms", "speed-up vs 1 thread", "vs previous"],
        [
            [
                t,
                _ms(r["median_s"]),
                _ms(r["min_s"]),
                f"{r['speedup_vs_1']:.2f}×",
                rep.vs("threads", t, "median_s"),
            ]
            for t, r in th.items()
            if t != "size"
        ],
    )

    sc, hp = res["scenario"], res["help"]
    rep.add(
        "## End to end, through the CLI",
        "",
        f"`{sc['command']}`, each run a fresh process; peak memory is the process's "
        "maximum resident set size (`ru_maxrss` from `os.wait4`, taken by "
        "`benchmarks/child.py`).",
        "",
    )
    rows = []
    if "cold" in sc:
        rows += [
            [
                f"cold run: first after deleting numba's cache ({sc['cache_files_deleted']} "
                "`*.nbi`/`*.nbc` files in `src/landsim/kernels/__pycache__`), wall",
                f"{sc['cold']['wall_s']:.2f} s",
                "—",
                rep.vs("scenario", "cold", "wall_s"),
            ],
            [
                "cold run, peak memory",
                _gb(sc["cold"]["peak_rss_bytes"]),
                "—",
                rep.vs("scenario", "cold", "peak_rss_bytes"),
            ],
        ]
    if "error" in sc:
        rows.append(["scenario run **FAILED**", sc["error"].replace("|", "\\|"), "—", "—"])
    else:
        w = sc["warm"]
        rows += [
            [
                f"warm run, wall (median of {len(w['times_s'])}; min {w['min_s']:.2f} s)",
                f"{w['median_s']:.2f} s",
                _target(w["median_s"], TARGETS["wuhan_warm_s"], "s"),
                rep.vs("scenario", "warm", "median_s"),
            ],
            [
                "warm run, peak memory (max over runs)",
                _gb(w["peak_rss_bytes"]),
                _target(w["peak_rss_bytes"] / 1e9, TARGETS["wuhan_peak_gb"], "GB"),
                rep.vs("scenario", "warm", "peak_rss_bytes"),
            ],
        ]
    rows += [
        [
            f"`landsim --help`, wall (median of {len(hp['times_s'])})",
            f"{hp['median_s']:.3f} s",
            _target(hp["median_s"], TARGETS["help_s"], "s"),
            rep.vs("help", "median_s"),
        ],
    ]
    rep.table(["figure", "value", "target (not asserted)", "vs previous"], rows)
    return "\n".join(rep.lines)


def _load(avg: list[float] | tuple[float, ...]) -> str:
    return ", ".join(f"{x:.2f}" for x in avg)


# --- main ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark landsim's kernels and CLI; write a markdown report and JSON.",
    )
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1024, 2048, 4096],
        help="grid sides of the synthetic CA step [1024 2048 4096]",
    )
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per figure [5]")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: sizes 256 512, 2 repeats, report in the temp folder",
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
        default=DEFAULT_SCENARIO,
        help="scenario run end to end [scenarios/wuhan-2035.toml]",
    )
    p.add_argument("--no-cold", action="store_true", help="keep numba's cache: skip the cold run")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = [256, 512], 2
        # A smoke test must not overwrite the real results, nor be compared with them.
        quick_dir = Path(tempfile.gettempdir()) / "landsim-benchmarks-quick"
        args.out = args.out or quick_dir / "RESULTS.md"
        args.json = args.json or quick_dir / "results.json"
    args.out = args.out or REPO / "benchmarks" / "RESULTS.md"
    args.json = args.json or REPO / "benchmarks" / "results.json"
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    if min(args.sizes) < 16:
        p.error("--sizes: grids must be at least 16 cells wide")
    if not args.scenario.is_file():
        p.error(f"scenario not found: {args.scenario}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    t_start = time.perf_counter()
    prev = None
    if args.json.is_file():
        try:
            prev = json.loads(args.json.read_text())
        except (OSError, ValueError) as exc:
            log(f"previous results not read ({args.json}: {exc}); no comparison")
    command = "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)

    log("check: numpy_step against the numba step")
    check = check_same_selection()  # also compiles or loads the kernels
    machine = machine_info()
    log("memory bandwidth")
    bandwidth = measure_bandwidth(args.repeats)
    log("CA step")
    step = {
        str(size): bench_step(size, args.repeats, bandwidth["gb_per_s"] * 1e9)
        for size in args.sizes
    }
    log("numba threads")
    threads = bench_threads(max(args.sizes), args.repeats)
    log(f"end to end: {args.scenario}")
    scenario = bench_scenario(args.scenario.resolve(), args.repeats, cold=not args.no_cold)
    log("landsim --help")
    help_ = bench_help()

    results = {
        "meta": {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "commit": _git_commit(),
            "command": command.strip(),
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
        },
        "machine": machine,
        "bandwidth": bandwidth,
        "check": check,
        "step": step,
        "threads": threads,
        "scenario": scenario,
        "help": help_,
    }
    report = render(results, prev)
    for path in (args.out, args.json):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(report)
    log(f"wrote {args.out} and {args.json}")
    if "error" in scenario:
        sys.exit(1)


if __name__ == "__main__":
    main()
