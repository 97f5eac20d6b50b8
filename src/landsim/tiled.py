"""The urban growth model on tiles, for grids larger than memory (``landsim run-tiled``).

The grid is cut into tiles of ``chunk`` × ``chunk`` cells. Each tile's land use (uint8),
candidate mask (uint8) and the suitability of its candidate cells only (float32, in
row-major order) live in the memory of one dask worker; nothing else is kept between
years, and every input raster is read once, window by window. Potentials are computed
per tile on the fly and dropped. A year is:

1. each tile publishes its edge strips (``radius`` rows and columns of land use); a
   tile's halo is its eight neighbours' strips (dask's ``map_overlap`` exchanges the
   same slices);
2. pass 1, per tile: potentials → histogram of the high 16 bits of their float32 bit
   patterns; the client sums the histograms and finds the bin holding the year's
   threshold (a float32 >= 0 orders like its bits);
3. pass 2, per tile: potentials again → the cells above that bin (kept on the worker)
   and the cells inside it with their low 16 bits (kept), a histogram of those (sent);
   the client finds the exact threshold;
4. ties at the threshold go to the lower global flat index, as ``select_top`` breaks
   them: when there are more tied cells than places, each tile reports its tied cells
   per row and the client hands out the places row by row across the grid;
5. per tile: the chosen cells become urban (a new array; nothing is changed in place).

Random draws use the cell's global flat index, and the neighbourhood sums run in the
whole-grid kernel's order, so the result is byte-identical to ``model.engine.simulate``
on the same inputs, whatever the chunk size and the number of workers.

Not in the tiled path: spill-over, rule periods (rules with ``from_year``/``to_year``
that change the rules mid-run), soft factors other than 0 and 1, vector planning
layers, suitability methods other than ``uniform`` and ``raster``, the multi-class
model, ensembles, and the outputs that need a whole map in memory (NetCDF,
``urban_year.tif``, compliance, indicators). A scenario that needs one of them is
refused with one line before any work. See ``docs/tiled.md``.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from landsim.errors import (
    ClusterError,
    DemandError,
    InputError,
    LandsimError,
    ScenarioError,
)
from landsim.io.raster import NODATA, Grid
from landsim.model.engine import GrowthParameters, InsufficientCandidates, YearRecord
from landsim.scenario.schema import Scenario

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 4096


class TiledUnsupportedError(ScenarioError):
    """The scenario needs something the tiled path does not do."""


# ------------------------------------------------------------------ geometry


@dataclass(frozen=True)
class Tile:
    """Tile ``index``, in tile row ``ty`` and column ``tx``: ``h`` × ``w`` cells from
    grid cell (``y0``, ``x0``)."""

    index: int
    ty: int
    tx: int
    y0: int
    x0: int
    h: int
    w: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(first row, first column, rows, columns): the window ``io.windowed`` reads."""
        return (self.y0, self.x0, self.h, self.w)


@dataclass(frozen=True)
class TileGrid:
    """The grid cut into tiles, row-major (tile ``ty * cols + tx``)."""

    shape: tuple[int, int]
    chunk: int

    @property
    def rows(self) -> int:
        return -(-self.shape[0] // self.chunk)

    @property
    def cols(self) -> int:
        return -(-self.shape[1] // self.chunk)

    @property
    def tiles(self) -> list[Tile]:
        ny, nx = self.shape
        c = self.chunk
        return [
            Tile(
                ty * self.cols + tx,
                ty,
                tx,
                ty * c,
                tx * c,
                min(c, ny - ty * c),
                min(c, nx - tx * c),
            )
            for ty in range(self.rows)
            for tx in range(self.cols)
        ]

    def neighbours(self, t: Tile) -> list[int | None]:
        """Tile indices around ``t`` in the order N, S, W, E, NW, NE, SW, SE (None: edge)."""
        out: list[int | None] = []
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)):
            y, x = t.ty + dy, t.tx + dx
            ok = 0 <= y < self.rows and 0 <= x < self.cols
            out.append(y * self.cols + x if ok else None)
        return out


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class TileCandidates:
    """The cells of a tile that may become urban, and their suitability.

    ``mask`` (uint8) is the first period's candidate mask; ``suitability`` (float32)
    holds the value of each cell of ``mask``, in row-major order, or one value for all
    when ``constant``: the suitability of cells that can never be chosen is not kept
    (see ``kernels.tiled.tile_potential``). Both are fixed for the run.
    """

    mask: np.ndarray
    suitability: np.ndarray
    constant: bool = False


@dataclass
class TileInit:
    """A tile as loaded: its state and what the client needs to check the inputs."""

    landuse: np.ndarray  # uint8
    candidates: TileCandidates
    counts: np.ndarray  # int64[256]: cells per class code
    stats: dict[str, Any] = field(default_factory=dict)


class TileInputs(Protocol):
    """Where the tiles come from. Must pickle small: it travels to every worker."""

    @property
    def shape(self) -> tuple[int, int]: ...

    def init_tile(self, tile: Tile, urban: int) -> TileInit: ...


@dataclass(frozen=True)
class ArrayInputs:
    """In-memory arrays cut into tiles: the engine's own inputs, for small grids and tests."""

    landuse: np.ndarray
    suitability: np.ndarray
    candidate: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.landuse.shape  # type: ignore[return-value]

    def _cut(self, a: np.ndarray, t: Tile, dtype: Any) -> np.ndarray:
        return np.array(a[t.y0 : t.y0 + t.h, t.x0 : t.x0 + t.w], dtype=dtype, order="C")

    def init_tile(self, tile: Tile, urban: int) -> TileInit:
        lu = self._cut(self.landuse, tile, np.uint8)
        cand = self._cut(self.candidate, tile, bool)
        suit = self._cut(self.suitability, tile, np.float32)[cand]
        counts = np.bincount(lu.reshape(-1), minlength=256).astype(np.int64)
        return TileInit(lu, TileCandidates(cand.astype(np.uint8), suit), counts)


# ------------------------------------------------------------------ executors


class _Done:
    """An inline executor's result."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _resolve(x: Any) -> Any:
    if isinstance(x, _Done):
        return x.value
    if isinstance(x, list | tuple):
        return type(x)(_resolve(v) for v in x)
    return x


class _Inline:
    """Runs each task at once in this process (no dask): small grids, tests, debugging."""

    workers = 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Done:
        return _Done(fn(*(_resolve(a) for a in args)))

    def gather(self, items: Sequence[_Done]) -> list[Any]:
        return [i.value for i in items]

    def scatter(self, obj: Any) -> _Done:
        return _Done(obj)


@dataclass(frozen=True)
class _Failed:
    """A user error a task met on a worker, returned as its value.

    Raised there, it would reach the client as a bare ``Exception``: dask pickles the
    error with its context, and a rasterio error in that context does not unpickle, so
    the CLI printed a traceback instead of the one-line message; and every worker logs
    a task that raises. Tasks fed a ``_Failed`` pass it on; the client raises it.
    """

    kind: type[LandsimError]
    message: str


def _on_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """Every dask task: ``fn(*args)``, with a user error as its value (see ``_Failed``)."""
    for a in args:
        for v in a if isinstance(a, list) else (a,):
            if isinstance(v, _Failed):
                return v
    try:
        return fn(*args)
    except LandsimError as exc:
        return _Failed(type(exc), str(exc))


class _Dask:
    """Tasks on a dask.distributed client; futures in arguments (also inside lists) are
    resolved on the worker, so tile arrays move only between workers."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        from uuid import uuid4

        from dask.utils import funcname

        # Keyed by the task's own name, not the wrapper's: the dashboard groups by it.
        key = f"{funcname(fn)}-{uuid4().hex}"
        return self.client.submit(_on_worker, fn, *args, key=key, pure=False)

    def gather(self, items: Sequence[Any]) -> list[Any]:
        from distributed import KilledWorker

        try:
            values = list(self.client.gather(list(items)))
        except KilledWorker as exc:
            raise ClusterError(
                f"a dask worker died running a tile task ({exc}); the workers may be short "
                "of memory: use a smaller --chunk or more memory per worker"
            ) from exc
        for v in values:
            if isinstance(v, _Failed):
                raise v.kind(v.message)
        return values

    def scatter(self, obj: Any) -> Any:
        return self.client.scatter(obj, broadcast=True, hash=False)


# ------------------------------------------------------------------ worker tasks


def _edges(lu: np.ndarray, radius: int) -> tuple[np.ndarray, ...]:
    """Task: the strips of a tile its neighbours need (top, bottom, left, right)."""
    r = radius
    return (lu[:r].copy(), lu[-r:].copy(), lu[:, :r].copy(), lu[:, -r:].copy())


def _halo(
    lu: np.ndarray, t: Tile, shape: tuple[int, int], radius: int, nb: Sequence[Any]
) -> tuple[np.ndarray, int, int]:
    """The tile's land use with its halo, from the neighbours' strips (N S W E NW NE SW SE)."""
    ny, nx = shape
    top, bottom = min(radius, t.y0), min(radius, ny - t.y0 - t.h)
    left, right = min(radius, t.x0), min(radius, nx - t.x0 - t.w)
    out = np.empty((top + t.h + bottom, left + t.w + right), dtype=np.uint8)
    h, w = t.h, t.w
    out[top : top + h, left : left + w] = lu
    n, s, west, e, nw, ne, sw, se = nb
    # Strips: 0 top rows, 1 bottom rows, 2 left columns, 3 right columns.
    if top:
        out[:top, left : left + w] = n[1][-top:]
        if left:
            out[:top, :left] = nw[1][-top:, -left:]
        if right:
            out[:top, left + w :] = ne[1][-top:, :right]
    if bottom:
        out[top + h :, left : left + w] = s[0][:bottom]
        if left:
            out[top + h :, :left] = sw[0][:bottom, -left:]
        if right:
            out[top + h :, left + w :] = se[0][:bottom, :right]
    if left:
        out[top : top + h, :left] = west[3][:, -left:]
    if right:
        out[top : top + h, left + w :] = e[2][:, :right]
    return out, top, left


@dataclass(frozen=True)
class _Step:
    """What every pass of a year needs besides the tile (small, sent with each task)."""

    shape: tuple[int, int]
    params: GrowthParameters
    key: np.uint64


def tile_potentials(
    halo: np.ndarray,
    top: int,
    left: int,
    t: Tile,
    shape: tuple[int, int],
    cands: TileCandidates,
    params: GrowthParameters,
    key: np.uint64,
) -> np.ndarray:
    """The potentials of tile ``t`` of a grid of ``shape``: float32, -1 where a cell may
    not become urban. ``halo`` is the tile's land use with up to ``params.radius`` cells
    of its neighbours' around it, ``top`` rows above it and ``left`` columns to its left
    (fewer at the grid's edge); ``key`` is the year's random stream."""
    from landsim.kernels.tiled import tile_potential

    p = params
    out = np.empty((t.h, t.w), dtype=np.float32)
    tile_potential(
        halo,
        top,
        left,
        t.y0,
        t.x0,
        shape[0],
        shape[1],
        cands.suitability,
        cands.constant,
        cands.mask,
        p.weights,
        p.radius,
        p.urban_code,
        p.floor,
        p.alpha,
        key,
        np.empty((halo.shape[0], t.w), dtype=np.float32),
        out,
    )
    return out


def _potential(
    t: Tile, lu: np.ndarray, nb: Sequence[Any], cands: TileCandidates, step: _Step
) -> tuple[np.ndarray, dict[str, float]]:
    """The tile's potentials this year, and the time its halo and its kernel took."""
    t0 = time.perf_counter()
    halo, top, left = _halo(lu, t, step.shape, step.params.radius, nb)
    t1 = time.perf_counter()
    out = tile_potentials(halo, top, left, t, step.shape, cands, step.params, step.key)
    return out, {"halo": t1 - t0, "potential": time.perf_counter() - t1}


def _pass_high(
    t: Tile, lu: np.ndarray, nb: Sequence[Any], cands: TileCandidates, step: _Step
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Task: the tile's histogram of the potentials' high 16 bits, sparse (bins, counts)."""
    from landsim.kernels.tiled import HIGH_BINS, high_histogram

    pot, costs = _potential(t, lu, nb, cands, step)
    t0 = time.perf_counter()
    hist = np.zeros(HIGH_BINS, dtype=np.int64)
    high_histogram(pot, hist)
    bins = np.flatnonzero(hist)
    costs["histogram"] = time.perf_counter() - t0
    return bins.astype(np.uint16), hist[bins], costs


@dataclass
class _Split:
    """A tile's cells above the threshold bin and in it (tile-local flat indices)."""

    above: np.ndarray  # int64
    bin_index: np.ndarray  # int64, ascending
    bin_low: np.ndarray  # uint16: low 16 bits of the potential's bits
    costs: dict[str, float]


def split_cells(potential: np.ndarray, b1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tile-local flat indices of the cells above bin ``b1``; of the cells in it; the
    low 16 bits of those cells' potentials), each ascending by index."""
    from landsim.kernels.tiled import split

    none = np.empty(0, dtype=np.int64)
    n_above, n_bin = split(potential, b1, True, none, none, none.astype(np.uint16))
    above = np.empty(n_above, dtype=np.int64)
    bin_index = np.empty(n_bin, dtype=np.int64)
    bin_low = np.empty(n_bin, dtype=np.uint16)
    split(potential, b1, False, above, bin_index, bin_low)
    return above, bin_index, bin_low


def _pass_split(
    t: Tile, lu: np.ndarray, nb: Sequence[Any], cands: TileCandidates, step: _Step, b1: int
) -> _Split:
    """Task: recompute the potentials and keep the cells at or above bin ``b1``."""
    pot, costs = _potential(t, lu, nb, cands, step)
    t0 = time.perf_counter()
    above, bin_index, bin_low = split_cells(pot, b1)
    costs["split"] = time.perf_counter() - t0
    return _Split(above, bin_index, bin_low, costs)


def _split_summary(s: _Split) -> tuple[np.ndarray, np.ndarray, int, dict[str, float]]:
    """Task: what the client needs of a split: the low-bits histogram (sparse), the count
    above the bin, the costs."""
    bins, counts = np.unique(s.bin_low, return_counts=True)
    return bins, counts.astype(np.int64), int(s.above.size), s.costs


def _tie_rows(s: _Split, b2: int, t: Tile) -> np.ndarray:
    """Task: the tile's cells at the exact threshold, per tile row."""
    tied = s.bin_index[s.bin_low == b2]
    return np.bincount(tied // t.w, minlength=t.h).astype(np.int64)


def _apply(
    lu: np.ndarray, s: _Split, b2: int, cut_row: int, take: int, t: Tile, urban: int
) -> tuple[np.ndarray, np.ndarray]:
    """Task: the tile's new land use and the classes of the cells that became urban.

    Chosen: every cell above the threshold; of the cells at it, those in rows before
    ``cut_row`` and the first ``take`` of row ``cut_row`` (the client's tie-break).
    """
    above_bin = s.bin_index[s.bin_low > b2]
    tied = s.bin_index[s.bin_low == b2]
    rows = tied // t.w
    chosen = np.concatenate(
        [s.above, above_bin, tied[rows < cut_row], tied[rows == cut_row][:take]]
    )
    if chosen.size == 0:
        return lu, np.zeros(256, dtype=np.int64)
    flat = lu.reshape(-1)
    from_class = np.bincount(flat[chosen], minlength=256).astype(np.int64)
    new = lu.copy()
    new.reshape(-1)[chosen] = urban
    return new, from_class


def _init(inputs: TileInputs, t: Tile, urban: int) -> TileInit:
    return inputs.init_tile(t, urban)


def _init_summary(init: TileInit, urban: int) -> tuple[np.ndarray, int, dict[str, Any]]:
    open_ = int(np.count_nonzero(init.candidates.mask.astype(bool) & (init.landuse != urban)))
    return init.counts, open_, init.stats


# ------------------------------------------------------------------ the client side


def _threshold_bin(hist: np.ndarray, n: int) -> tuple[int, int]:
    """(the highest bin b with count(bins >= b) >= n, count(bins > b)); -1 if none."""
    above = np.cumsum(hist[::-1])  # above[k]: cells in the top k + 1 bins
    k = int(np.searchsorted(above, n))  # first k with above[k] >= n
    if k >= hist.size:
        return -1, int(above[-1])
    return hist.size - 1 - k, int(above[k - 1]) if k else 0


def _tie_plan(grid: TileGrid, rows: dict[int, np.ndarray], need: int) -> dict[int, tuple[int, int]]:
    """Hand ``need`` places to tied cells in global flat index order: per tile, (rows
    taken whole, cells taken in the next row)."""
    plan: dict[int, tuple[int, int]] = {}
    tiles = grid.tiles
    for ty in range(grid.rows):
        band = [tiles[ty * grid.cols + tx] for tx in range(grid.cols)]
        if need == 0:
            plan.update((t.index, (0, 0)) for t in band)
            continue
        counts = np.stack([rows[t.index] for t in band])  # [tile, row]
        cum = np.cumsum(counts.sum(axis=0))
        if need >= cum[-1]:
            need -= int(cum[-1])
            for t in band:
                plan[t.index] = (t.h, 0)
            continue
        r = int(np.searchsorted(cum, need, side="right"))  # first row not taken whole
        left = need - (int(cum[r - 1]) if r else 0)
        for k, t in enumerate(band):
            m = min(int(counts[k, r]), left)
            left -= m
            plan[t.index] = (r, m)
        need = 0
    return plan


@dataclass
class YearCosts:
    """Wall time of one simulated year and of its parts (client side), seconds."""

    year: int
    new_urban: int
    seconds: float
    parts: dict[str, float] = field(default_factory=dict)


def check_chunk(chunk: int, radius: int) -> None:
    """Refuse tiles narrower than the neighbourhood: a halo comes from the next tiles only."""
    if chunk < max(radius, 1):
        raise LandsimError(
            f"--chunk {chunk}: a tile must be at least the neighbourhood radius "
            f"({radius}) on a side; use a larger chunk"
        )


class TiledState:
    """The tiled land use of one run on an executor: load it, step it, read it out."""

    def __init__(
        self,
        inputs: TileInputs,
        chunk: int,
        params: GrowthParameters,
        client: Any = None,
    ) -> None:
        check_chunk(chunk, params.radius)
        self.grid = TileGrid(inputs.shape, chunk)
        self.params = params
        self.ex: Any = _Inline() if client is None else _Dask(client)
        self.inputs = self.ex.scatter(inputs)
        self.lu: list[Any] = []
        self.cands: list[Any] = []
        self.counts = np.zeros(256, dtype=np.int64)
        self.n_cand = 0
        self.tile_costs: dict[str, list[float]] = {}
        self.years: list[YearCosts] = []
        # (what, start, end) in epoch seconds: lets a memory sampler outside the run
        # attribute its samples to the load, each year and each map written.
        self.phases: list[tuple[str, float, float]] = []

    @property
    def urban(self) -> int:
        return self.params.urban_code

    def load(self) -> list[dict[str, Any]]:
        """Read every tile into worker memory; returns the tiles' input statistics."""
        t0 = time.perf_counter()
        wall = time.time()
        ex, u = self.ex, self.urban
        inits = [ex.submit(_init, self.inputs, t, u) for t in self.grid.tiles]
        self.lu = [ex.submit(operator.attrgetter("landuse"), f) for f in inits]
        self.cands = [ex.submit(operator.attrgetter("candidates"), f) for f in inits]
        summaries = ex.gather([ex.submit(_init_summary, f, u) for f in inits])
        del inits
        self.counts = np.sum([s[0] for s in summaries], axis=0).astype(np.int64)
        self.n_cand = sum(s[1] for s in summaries)
        self.load_seconds = time.perf_counter() - t0
        self.phases.append(("load", wall, time.time()))
        return [s[2] for s in summaries]

    def _cost(self, costs: dict[str, float]) -> None:
        for k, v in costs.items():
            self.tile_costs.setdefault(k, []).append(v)

    def step(self, year: int, n: int) -> YearRecord:
        """One year: ``n`` cells of highest potential become urban (exactly the engine's
        choice); returns the year's record."""
        t_start = time.perf_counter()
        wall = time.time()
        if n <= 0:
            self.years.append(YearCosts(year, 0, time.perf_counter() - t_start))
            return YearRecord(year, 0, np.zeros(256, dtype=np.int64), {})
        if n > self.n_cand:
            raise InsufficientCandidates(
                f"year {year} needs {n:,} new urban cells but the rules in force leave "
                f"{self.n_cand:,}; lower the demand or relax the rules in [constraints] and "
                "[[rules]]"
            )
        from landsim import kernels
        from landsim.kernels.tiled import HIGH_BINS

        ex, grid, p = self.ex, self.grid, self.params
        tiles = grid.tiles
        step = _Step(grid.shape, p, np.uint64(kernels.stream_key(p.seed, p.member, year)))
        parts: dict[str, float] = {}
        t0 = time.perf_counter()
        edges = [ex.submit(_edges, f, p.radius) for f in self.lu]
        nbs = [[None if k is None else edges[k] for k in grid.neighbours(t)] for t in tiles]
        args = [(t, self.lu[t.index], nbs[t.index], self.cands[t.index]) for t in tiles]
        high = ex.gather([ex.submit(_pass_high, *a, step) for a in args])
        hist1 = np.zeros(HIGH_BINS, dtype=np.int64)
        for bins, counts, costs in high:
            hist1[bins.astype(np.int64)] += counts
            self._cost(costs)
        b1, above = _threshold_bin(hist1, n)
        if b1 < 0:
            raise InsufficientCandidates(
                f"year {year} needs {n:,} new urban cells but only {above:,} cells have a "
                "potential; check the suitability raster"
            )
        parts["pass_1"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        splits = [ex.submit(_pass_split, *a, step, b1) for a in args]
        del edges, nbs, args
        summaries = ex.gather([ex.submit(_split_summary, s) for s in splits])
        hist2 = np.zeros(65536, dtype=np.int64)
        for bins, counts, _, costs in summaries:
            hist2[bins.astype(np.int64)] += counts
            self._cost(costs)
        b2, above2 = _threshold_bin(hist2, n - above)
        ties_needed = n - above - above2
        parts["pass_2"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        tied = int(hist2[b2])
        if ties_needed == tied:
            plan = {t.index: (t.h, 0) for t in tiles}
        else:
            rows = ex.gather(
                [ex.submit(_tie_rows, s, b2, t) for s, t in zip(splits, tiles, strict=True)]
            )
            plan = _tie_plan(
                grid, {t.index: r for t, r in zip(tiles, rows, strict=True)}, ties_needed
            )
        u = p.urban_code
        applied = [
            ex.submit(_apply, self.lu[t.index], splits[t.index], b2, *plan[t.index], t, u)
            for t in tiles
        ]
        self.lu = [ex.submit(operator.itemgetter(0), f) for f in applied]
        from_class = np.sum(
            ex.gather([ex.submit(operator.itemgetter(1), f) for f in applied]), axis=0
        ).astype(np.int64)
        del applied, splits
        parts["apply"] = time.perf_counter() - t0
        got = int(from_class.sum())
        if got != n:
            raise AssertionError(f"year {year}: {got} cells chosen, {n} asked")
        self.counts = self.counts - from_class
        self.counts[p.urban_code] += n
        self.n_cand -= n
        self.years.append(YearCosts(year, n, time.perf_counter() - t_start, parts))
        self.phases.append((f"year {year}", wall, time.time()))
        return YearRecord(year, n, from_class, {})

    def pieces(self) -> Iterator[tuple[tuple[int, int, int, int], np.ndarray]]:
        """The current land use, tile by tile (each fetched when asked for)."""
        for t, f in zip(self.grid.tiles, self.lu, strict=True):
            yield t.box, self.ex.gather([f])[0]

    def assemble(self) -> np.ndarray:
        """The whole current map in memory: small grids only."""
        out = np.empty(self.grid.shape, dtype=np.uint8)
        for (y0, x0, h, w), a in self.pieces():
            out[y0 : y0 + h, x0 : x0 + w] = a
        return out


@dataclass
class TiledResult:
    """What ``simulate_tiled`` returns: the engine's counts and records, and the maps
    asked for (assembled in memory: for grids that fit)."""

    start_year: int
    maps: dict[int, np.ndarray]
    class_counts: dict[int, np.ndarray]
    records: list[YearRecord]
    years: list[YearCosts]
    tile_costs: dict[str, list[float]]
    final: np.ndarray | None = None


def run_years(
    state: TiledState,
    demand: dict[int, int],
    on_year: Callable[[YearRecord], None] | None = None,
    on_map: Callable[[int, TiledState], None] | None = None,
    map_years: Sequence[int] = (),
) -> tuple[dict[int, np.ndarray], list[YearRecord]]:
    """The yearly loop over a loaded state: ``demand[year]`` total urban cells."""
    years = sorted(demand)
    counts = {years[0]: state.counts.copy()}
    if on_map is not None and years[0] in map_years:
        on_map(years[0], state)
    records = []
    for year in years[1:]:
        n = int(demand[year] - state.counts[state.urban])
        record = state.step(year, n)
        counts[year] = state.counts.copy()
        records.append(record)
        if on_map is not None and year in map_years:
            on_map(year, state)
        if on_year is not None:
            on_year(record)
    return counts, records


def simulate_tiled(
    landuse: np.ndarray,
    suitability: np.ndarray,
    candidate: np.ndarray,
    demand: dict[int, int],
    params: GrowthParameters,
    map_years: list[int],
    *,
    chunk: int = DEFAULT_CHUNK,
    client: Any = None,
    inputs: TileInputs | None = None,
) -> TiledResult:
    """``model.engine.simulate`` (without periods, spill-over or layers) on tiles.

    Same arguments and the same result, bit for bit; ``client`` (dask.distributed) runs
    the tiles on its workers, None runs them here one by one. ``inputs`` replaces the
    three arrays with another tile source (e.g. rasters read window by window).
    """
    src = inputs if inputs is not None else ArrayInputs(landuse, suitability, candidate)
    state = TiledState(src, chunk, params, client)
    state.load()
    maps: dict[int, np.ndarray] = {}

    def keep(year: int, s: TiledState) -> None:
        maps[year] = s.assemble()

    counts, records = run_years(state, demand, on_map=keep, map_years=map_years)
    return TiledResult(
        min(demand),
        maps,
        counts,
        records,
        state.years,
        state.tile_costs,
        final=state.assemble(),
    )


# ------------------------------------------------------------------ scenarios


def check_supported(scenario: Scenario) -> None:
    """Refuse, in one line, a scenario that needs what the tiled path does not do."""
    from landsim.constraints.compile import _period_bounds
    from landsim.io.vector import is_vector
    from landsim.scenario.schema import EVERYWHERE

    s = scenario
    where = f"{s.source}: " if s.source else ""

    def refuse(what: str, fix: str) -> None:
        raise TiledUnsupportedError(f"{where}{what} is not supported by run-tiled; {fix}")

    plain = "or run the scenario with `landsim run` if its grid fits in memory"
    if s.model.kind != "urban_ca":
        refuse("[model] kind = 'multiclass'", "run it with `landsim run`")
    if s.simulation.members > 1:
        refuse(
            f"[simulation] members = {s.simulation.members}",
            "run-tiled runs one member; set members = 1 or run the ensemble with `landsim run`",
        )
    if s.suitability.method not in ("uniform", "raster"):
        refuse(
            f"[suitability] method = '{s.suitability.method}'",
            "write the suitability once as a raster in [0, 1] on the land-use grid and use "
            f'method = "raster", {plain}',
        )
    for name, c in s.constraints.items():
        if is_vector(c.path):
            refuse(
                f"[constraints.{name}] a vector layer ({c.path.name})",
                f"rasterize it onto the land-use grid first (e.g. `gdal_rasterize`), {plain}",
            )
        if not c.enforce:
            continue
        if c.spill_over:
            refuse(f"[constraints.{name}] spill_over = true", f"set it to false, {plain}")
        if c.rule == "factor" and c.factor not in (0.0, 1.0):
            refuse(
                f"[constraints.{name}] a soft factor of {c.factor:g}",
                f"only factors 0 and 1 (hard rules) are, {plain}",
            )
    rules = [
        r
        for r in s.rules
        if r.where == EVERYWHERE or s.constraints[r.where.partition(".")[0]].enforce
    ]
    for i, r in enumerate(rules):
        if r.factor is not None and r.factor not in (0.0, 1.0):
            refuse(
                f"[[rules]] #{i + 1} (where = '{r.where}') a soft factor of {r.factor:g}",
                f"only allow = true/false and factors 0 and 1 are, {plain}",
            )
    if len(_period_bounds(s, rules)) > 1:
        refuse(
            "[[rules]] with from_year/to_year that change the rules during the run",
            f"drop from_year/to_year or split the run at that year, {plain}",
        )


@dataclass(frozen=True)
class ScenarioInputs:
    """A scenario's rasters, read window by window on the workers."""

    scenario: Scenario
    grid: Grid

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape

    def init_tile(self, tile: Tile, urban: int) -> TileInit:
        """Land use, planning layers and suitability of one tile → its state.

        The candidate mask is compiled by ``compile_constraints`` itself, on the tile, so
        it is the whole-grid mask's window; the checks that need the whole grid are
        made by :meth:`check` from the returned statistics.
        """
        from landsim.constraints.compile import Layer, compile_constraints
        from landsim.io.windowed import read_window

        s = self.scenario
        stats: dict[str, Any] = {}
        data, valid = read_window(s.inputs.landuse, tile.box, "inputs.landuse")
        stats["landuse_fractional"] = (
            int(np.count_nonzero(valid & (data != np.round(data)))) if data.dtype.kind == "f" else 0
        )
        stats["landuse_valid"] = int(np.count_nonzero(valid))
        if data.dtype == np.uint8:
            # A byte raster (the usual case): counting beats np.unique's sort 20-fold.
            tally = np.bincount(data[valid], minlength=256)
            present = np.flatnonzero(tally)
            counts = tally[present]
        else:
            present, counts = np.unique(data[valid], return_counts=True)
        codes = {c.code for c in s.classes}
        stats["landuse_unknown"] = {
            float(v): int(c) for v, c in zip(present, counts, strict=True) if v not in codes
        }
        lu = np.where(valid, data, NODATA).astype(np.uint8)
        del data

        layers: dict[str, Layer] = {}
        stats["layers"] = {}
        for name, spec in s.constraints.items():
            d, ok = read_window(spec.path, tile.box, f"constraints.{name}.path")
            frac = ok & (d != np.round(d)) if d.dtype.kind == "f" else None
            inside = ok & np.isin(d, np.asarray(spec.inside))
            zones = {z: ok & np.isin(d, np.asarray(v)) for z, v in spec.zones.items()}
            stats["layers"][name] = {
                "valid": int(np.count_nonzero(ok)),
                "fractional": 0 if frac is None else int(np.count_nonzero(frac)),
                "fractional_values": [] if frac is None else np.unique(d[frac])[:5].tolist(),
                "inside": int(np.count_nonzero(inside)),
                "zones": {z: int(np.count_nonzero(m)) for z, m in zones.items()},
            }
            assert spec.rule is not None
            layers[name] = Layer(
                name, spec.rule, spec.path, inside, spec.factor, spec.enforce, zones
            )

        # compile_constraints refuses a boundary layer with no cell inside: right for the
        # grid, wrong for a tile that lies outside the boundary. One extra row of nodata
        # land use, inside every layer, keeps that check quiet and changes nothing else
        # (nodata cells are never candidates and count in no tally); it is cut off again.
        pad = any(
            v.enforced and v.rule == "construction_inside_only" and not v.inside.any()
            for v in layers.values()
        )
        if pad:
            row = np.ones((1, tile.w), dtype=bool)
            layers = {
                k: Layer(
                    v.name,
                    v.rule,
                    v.path,
                    np.vstack([v.inside, row]),
                    v.factor,
                    v.enforced,
                    {z: np.vstack([m, ~row]) for z, m in v.zones.items()},
                )
                for k, v in layers.items()
            }
            lu_c = np.vstack([lu, np.full((1, tile.w), NODATA, dtype=np.uint8)])
        else:
            lu_c = lu
        compiled = compile_constraints(s, lu_c, None, layers=layers)
        period = compiled.periods[0]
        stats["taken_away"] = period.taken_away
        stats["taken_away_only"] = period.taken_away_only
        candidate = period.candidate[: tile.h]
        factor = None if period.factor is None else period.factor[: tile.h]
        del layers, compiled, lu_c

        suit = self._suitability(tile, lu != NODATA, stats)
        if factor is not None:
            suit = suit * factor
        # As api._model_periods: a cell of suitability 0 can never be chosen.
        cand = candidate.astype(bool) & (suit > 0)
        counts = np.bincount(lu.reshape(-1), minlength=256).astype(np.int64)
        if self.scenario.suitability.method == "uniform":
            # 1 on every candidate (land, and factors are 0 or 1): one value for all.
            packed, constant = np.ones(1, dtype=np.float32), True
        else:
            packed, constant = suit[cand], False
        stats["suitability_kept"] = int(packed.size)
        return TileInit(lu, TileCandidates(cand.astype(np.uint8), packed, constant), counts, stats)

    def _suitability(self, tile: Tile, valid: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
        """compute_suitability's value on the tile, with its range and gap statistics."""
        from landsim.io.windowed import read_window

        spec = self.scenario.suitability
        if spec.method == "uniform":
            return np.where(valid, np.float32(1.0), np.float32(0.0)).astype(np.float32)
        assert spec.path is not None
        data, ok = read_window(spec.path, tile.box, "suitability.path")
        ok &= valid
        # min/max with `where`: no copy of the valid values (a tile is 16 M cells). Their
        # `initial` must be of the raster's type: an integer raster refuses infinity.
        info = np.finfo(data.dtype) if data.dtype.kind == "f" else np.iinfo(data.dtype)
        stats["suitability_min"] = stats["suitability_max"] = None
        if ok.any():
            stats["suitability_min"] = float(np.min(data, where=ok, initial=info.max))
            stats["suitability_max"] = float(np.max(data, where=ok, initial=info.min))
        stats["suitability_missing"] = int(np.count_nonzero(valid & ~ok))
        return np.where(ok, data, 0).astype(np.float32, copy=False)

    def check(self, stats: list[dict[str, Any]]) -> None:
        """The whole-grid checks of ``read_landuse``, ``read_layers``, ``compile_constraints``
        and ``compute_suitability``, on the tiles' statistics, in the same words."""
        from landsim.io.raster import _open, codes_text

        s = self.scenario
        path = s.inputs.landuse
        key = "inputs.landuse"
        frac = sum(st["landuse_fractional"] for st in stats)
        if frac:
            raise InputError(
                f"[{key}] {path}: land use must hold integer class codes; "
                f"{frac:,} cells have fractional values"
            )
        if not sum(st["landuse_valid"] for st in stats):
            with _open(path, key) as ds:
                nodata_text = "none set" if ds.nodata is None else f"{ds.nodata:g}"
            raise InputError(
                f"[{key}] {path}: every cell is nodata; nothing to simulate: check the "
                f"raster's nodata value ({nodata_text}) and that it is the right file"
            )
        unknown: dict[float, int] = {}
        for st in stats:
            for v, c in st["landuse_unknown"].items():
                unknown[v] = unknown.get(v, 0) + c
        if unknown:
            items = sorted(unknown.items())
            listed = ", ".join(f"{v:g} ({c:,} cell{'s' if c != 1 else ''})" for v, c in items[:8])
            more = f" and {len(items) - 8} more" if len(items) > 8 else ""
            codes = [c.code for c in s.classes]
            raise InputError(
                f"[{key}] {path}: values {listed}{more} are not class codes in [[classes]] "
                f"(codes: {codes_text(codes)}); add them to the class "
                "table or set the raster's nodata value"
            )
        for name, spec in s.constraints.items():
            lkey = f"constraints.{name}.path"
            per = [st["layers"][name] for st in stats]
            if not sum(p["valid"] for p in per):
                raise InputError(
                    f"[{lkey}] {spec.path}: every cell is nodata, so the layer would mark no "
                    "cell; check the raster's nodata value and that it is the right file"
                )
            n_frac = sum(p["fractional"] for p in per)
            if n_frac:
                shown = ", ".join(
                    f"{v:g}" for v in sorted({v for p in per for v in p["fractional_values"]})[:5]
                )
                raise InputError(
                    f"[{lkey}] {spec.path}: {n_frac:,} cells hold values that are not whole "
                    f"numbers ({shown}); layer values are integer codes matched by 'inside' "
                    "and 'zones' (a layer's factor is its 'factor' key): resample with "
                    "nearest neighbour, or round the raster"
                )
            for z in spec.zones:
                if not sum(p["zones"][z] for p in per):
                    raise InputError(
                        f"[constraints.{name}.zones.{z}] {spec.path}: no cell has the zone's "
                        f"values {spec.zones[z]}; check the values against the layer"
                    )
            inside = sum(p["inside"] for p in per)
            if spec.enforce and spec.rule == "construction_inside_only" and not inside:
                raise InputError(
                    f"[{lkey}] {spec.path}: no cell is inside the layer "
                    f"(inside = {spec.inside}), so nothing could grow; "
                    "check the layer's values and 'inside'"
                )
        if s.suitability.method == "raster":
            lows = [st["suitability_min"] for st in stats if st["suitability_min"] is not None]
            highs = [st["suitability_max"] for st in stats if st["suitability_max"] is not None]
            if lows and (min(lows) < 0 or max(highs) > 1):
                raise InputError(
                    f"[suitability.path] {s.suitability.path}: values must lie in [0, 1], "
                    f"found {min(lows):g}..{max(highs):g}; rescale the raster"
                )
            missing = sum(st["suitability_missing"] for st in stats)
            if missing:
                log.warning(
                    f"[suitability.path] {s.suitability.path}: {missing:,} land cells are "
                    "nodata and get suitability 0"
                )


def _check_feasible(
    scenario: Scenario, demand: dict[int, int], open_cells: int, stats: list[dict[str, Any]]
) -> None:
    """api._check_feasible for one period: the run's growth must fit in the open cells."""
    sim = scenario.simulation
    needed = demand[sim.end_year] - demand[sim.start_year]
    if needed <= open_cells:
        return
    taken: dict[str, int] = {}
    only: dict[str, int] = {}
    for st in stats:
        for k, v in st["taken_away"].items():
            taken[k] = taken.get(k, 0) + v
        for k, v in st["taken_away_only"].items():
            only[k] = only.get(k, 0) + v
    takers = ", ".join(
        f"{name} {n:,} ({only.get(name, 0):,} by it alone)"
        for name, n in sorted(taken.items(), key=lambda kv: -kv[1])
        if n
    )
    where = f"{scenario.source}: " if scenario.source else ""
    raise DemandError(
        f"{where}[demand] {sim.end_year} needs {needed:,} new urban cells but only "
        f"{open_cells:,} cells may become urban by then: {needed - open_cells:,} cells missing"
        + (f"; cells taken from growth by {takers}" if takers else "")
        + "; lower the demand or relax a layer in [constraints] or a rule in [[rules]]"
    )


@dataclass
class TiledRun:
    """A finished ``run_tiled``: where, what, and how long each part took."""

    out_dir: Path
    files: list[str]
    summary: dict[str, Any]
    report: dict[str, Any]


@contextlib.contextmanager
def _executor(
    client: Any, inline: bool, scheduler: str | None, workers: int | None, tasks: int
) -> Iterator[Any]:
    if inline:
        yield None
    elif client is not None:
        yield client
    else:
        from landsim.ensemble import cluster

        with cluster(scheduler, workers, tasks) as (c, _threads):
            yield c


def run_tiled(
    path: str | Path,
    out_dir: str | Path | None = None,
    *,
    chunk: int = DEFAULT_CHUNK,
    workers: int | None = None,
    scheduler: str | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    on_year: Callable[[YearRecord], None] | None = None,
    client: Any = None,
    inline: bool = False,
) -> TiledRun:
    """Run a scenario on tiles and write its maps (``landuse_<year>.tif``, window by
    window), ``summary.csv``, ``provenance.json`` and ``tiled.json`` (tiles, timings).

    The tiles run on ``client`` if given, else on the dask ``scheduler``, else on a
    local cluster of ``workers`` processes; ``inline`` runs them in this process.
    """
    from landsim import __version__, api
    from landsim.demand import urban_demand
    from landsim.ensemble import _check_inputs_exist
    from landsim.io import write
    from landsim.io.raster import probe_aligned, read_grid
    from landsim.io.windowed import write_landuse_windows
    from landsim.scenario import load

    t_start = time.perf_counter()
    s = load(path)
    check_supported(s)
    run_seed = s.simulation.seed if seed is None else seed
    params = api._growth_params(s, run_seed)
    check_chunk(chunk, params.radius)
    # provenance.json hashes every input file, the districts and unused drivers too: a
    # missing one must stop the run here, not after its last year.
    _check_inputs_exist(s)
    if s.districts is not None:
        log.warning("[districts] run-tiled does not tally districts; the run ignores them")
    if not s.output.geotiff:
        log.warning(
            "[output] geotiff = false: run-tiled writes its maps as GeoTIFF all the same "
            "(it writes no NetCDF)"
        )
    grid = read_grid(s.inputs.landuse)
    for name, c in s.constraints.items():
        probe_aligned(c.path, grid, f"constraints.{name}.path")
    if s.suitability.path is not None:
        probe_aligned(s.suitability.path, grid, "suitability.path")
    out = Path(out_dir) if out_dir is not None else api.default_output_dir(s)
    input_files = list(api._input_files(s).values())
    write.check_output_dir(out, overwrite, input_files)
    src = ScenarioInputs(s, grid)
    sim = s.simulation
    colors = {c.code: c.color or api.DEFAULT_COLORS[c.role] for c in s.classes}
    tags = {"landsim_version": __version__, "scenario": s.name, "seed": str(run_seed)}
    tiling = TileGrid(grid.shape, chunk)
    n_tiles = tiling.rows * tiling.cols
    files: list[str] = []
    writes: dict[int, float] = {}
    with _executor(client, inline, scheduler, workers, n_tiles) as c:
        state = TiledState(src, chunk, params, c)
        stats = state.load()
        src.check(stats)
        demand = urban_demand(s, int(state.counts[params.urban_code]), grid.cell_area_m2)
        _check_feasible(s, demand, state.n_cand, stats)
        with write.staged_output(out, overwrite, input_files) as stage:

            def on_map(year: int, st: TiledState) -> None:
                t0 = time.perf_counter()
                wall = time.time()
                name = f"landuse_{year}.tif"
                write_landuse_windows(
                    stage / name,
                    grid,
                    st.pieces(),
                    colors,
                    s.output.compress,
                    {**tags, "year": str(year), "tiled": "true"},
                )
                files.append(name)
                writes[year] = time.perf_counter() - t0
                st.phases.append((f"write {year}", wall, time.time()))

            counts, records = run_years(state, demand, on_year, on_map, sim.map_years)
            write.write_csv(
                stage / "summary.csv",
                api.SUMMARY_HEADER,
                api.summary_rows(s, grid, counts, records),
            )
            write.write_json(stage / "provenance.json", api.provenance(s, grid, run_seed))
            report = _report(state, grid, chunk, writes, c, time.perf_counter() - t_start)
            write.write_json(stage / "tiled.json", report)
            files += ["summary.csv", "provenance.json", "tiled.json"]
    urban = params.urban_code
    start_c, end_c = counts[sim.start_year], counts[sim.end_year]
    summary = {
        "scenario": s.name,
        "seed": run_seed,
        "start_year": sim.start_year,
        "end_year": sim.end_year,
        "grid": f"{grid.shape[0]:,} × {grid.shape[1]:,} cells",
        "tiles": f"{state.grid.rows} × {state.grid.cols} of {chunk} cells",
        "urban_start_cells": int(start_c[urban]),
        "urban_end_cells": int(end_c[urban]),
        "taken_from": {
            c.name: int(sum(r.from_class[c.code] for r in records))
            for c in s.classes
            if c.code != urban
        },
        "seconds": time.perf_counter() - t_start,
    }
    return TiledRun(out, files, summary, report)


def _median(v: list[float]) -> float:
    return float(np.median(v)) if v else 0.0


def _report(
    state: TiledState,
    grid: Grid,
    chunk: int,
    writes: dict[int, float],
    client: Any,
    seconds: float,
) -> dict[str, Any]:
    """``tiled.json``: the tiling and the measured costs (they vary run to run)."""
    return {
        "grid": {"height": grid.shape[0], "width": grid.shape[1]},
        "chunk": chunk,
        "tiles": {"rows": state.grid.rows, "cols": state.grid.cols},
        "workers": state.ex.workers if client is not None else 0,
        "load_seconds": state.load_seconds,
        "years": [
            {"year": y.year, "new_urban": y.new_urban, "seconds": y.seconds, **y.parts}
            for y in state.years
        ],
        "map_write_seconds": {str(k): v for k, v in writes.items()},
        "tile_costs_median_seconds": {k: _median(v) for k, v in state.tile_costs.items()},
        "tile_costs_count": {k: len(v) for k, v in state.tile_costs.items()},
        "phases": [{"what": w, "start": a, "end": b} for w, a, b in state.phases],
        "total_seconds": seconds,
    }
