"""Reproducible SYNTHETIC planning regions: land use, drivers and planning lines.

No land-use raster and no GIS file of the planning lines is public for Hengyang (衡阳) or
Zhangjiajie (张家界), yet scenarios for those plans need inputs with the plans' structure
(rivers meeting at a central city, county seats, a sacred mountain, farmland in the
valleys) and the plans' areas. This module draws such regions from a `RegionSpec`. What
comes out is synthetic: no cell of it is observed, and every file written says so.

How a region is drawn (each step is one function below):

1. a fixed km frame; all noise lives on km lattices of that frame, so the same spec and
   seed give the same landscape at every resolution, only sampled more or less finely;
2. the outline, the districts, the rivers and the terrain (DEM) from the spec's geography;
3. settlements (the spec's city and county seats, then seeded key towns) and roads;
4. land use, class by class: water, urban, rural settlements, cropland, grassland, bare,
   and forest on what is left;
5. the planning lines: ecological protection red line, urban development boundary (with
   its three zones), permanent basic farmland, a deliberate small conflict between them,
   and the four urban control lines of the central city.

Every class and line is sized by rank: cells are scored and the top N taken, with
N = area / cell area and ties to the lower row-major index, so areas are exact at any
resolution and the result does not depend on how a sort breaks ties.

Determinism: the same spec, resolution and seed give identical arrays and identical file
bytes. Per-cell values use only arithmetic and square roots (exactly rounded in numpy's
SIMD loops), not exp/log/trig, whose last bit may differ between CPUs; only the slope
written out uses arctan, after all ranking is done. Random numbers come from numpy's
PCG64 streams (platform-independent), one per named field.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import ndimage

CRS = "EPSG:32649"  # WGS 84 / UTM zone 49N: both Hengyang (112.6°E) and Zhangjiajie (110.5°E)
NODATA_U8 = 255
NODATA_F32 = -9999.0  # not NaN: landsim's tools and GIS packages read -9999 everywhere

CROPLAND, FOREST, GRASSLAND, WATER, URBAN, RURAL, BARE = 1, 2, 3, 4, 5, 6, 7
ZONE_NAMES = {
    1: "concentrated construction zone 集中建设区",
    2: "flexible development zone 弹性发展区",
    3: "special-use zone 特别用途区",
}

Point = tuple[float, float]  # UTM 49N, kilometres (easting, northing)


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class LandClass:
    """A row of the class table; ``target_km2`` None: urban is the sum of the settlements,
    forest takes what the other classes leave."""

    code: int
    name: str
    role: str
    color: str
    target_km2: float | None


@dataclass(frozen=True)
class River:
    """A river as a rough centreline; ``joins`` names the river it flows into (its mouth is
    snapped onto that river and takes that river's level there)."""

    name: str
    name_zh: str
    path: tuple[Point, ...]  # upstream first
    width_m: float
    valley_km: float  # half-width of the valley the river has cut
    source_level_m: float
    mouth_level_m: float | None = None  # None: the level of the river it joins
    joins: str | None = None
    meander_km: float = 0.6


@dataclass(frozen=True)
class Mountain:
    """An elliptical massif; ``protected`` puts its core into the ecological red line."""

    name: str
    name_zh: str
    centre: Point
    semi_axes_km: tuple[float, float]  # along the azimuth, across it
    azimuth_deg: float  # of the long axis, clockwise from north
    peak_m: float
    foot_m: float
    ruggedness: float  # 0 smooth dome .. 1 deeply dissected
    protected: bool
    pillars_m: float = 0.0  # sandstone pillars (Wulingyuan): height of the spikes


@dataclass(frozen=True)
class Reservoir:
    name: str
    dam: Point
    area_km2: float
    reach_km: float  # how far up the valleys the water may spread


@dataclass(frozen=True)
class Settlement:
    """A town with urban land; kind 'centre' is the regional centre (the central city)."""

    name: str
    name_zh: str
    kind: Literal["centre", "county", "town"]
    at: Point
    urban_km2: float
    district: int | None  # None: spans the central districts


@dataclass(frozen=True)
class District:
    """A county-level unit; ``anchor`` lies inside it, ``area_km2`` is approximate."""

    code: int
    name: str
    anchor: Point
    area_km2: float
    compact: bool = False  # an enclave: carved first as a compact blob around its anchor


@dataclass(frozen=True)
class Terrain:
    floor_m: float  # the lowest plains
    basin_centre: Point
    basin_radius_km: float
    rim_rise_m: float  # how much higher the general level is at the basin's rim
    hill_low_m: float  # relief of the hills in the basin
    hill_high_m: float  # and at the rim


@dataclass(frozen=True)
class ControlLine:
    code: int
    name: str
    name_zh: str
    area_km2: float


@dataclass(frozen=True)
class RegionSpec:
    """The geography and the plan figures a synthetic region is drawn to.

    Positions are UTM 49N kilometres. ``plan_figures`` names the fields taken from the
    plan; every other number is an assumption chosen to look plausible.
    """

    name: str
    name_zh: str
    start_year: int
    total_km2: float
    outline_centre: Point
    outline: tuple[Point, ...]  # a rough boundary, star-shaped around outline_centre
    terrain: Terrain
    classes: tuple[LandClass, ...]
    rivers: tuple[River, ...]
    mountains: tuple[Mountain, ...]
    reservoirs: tuple[Reservoir, ...]
    settlements: tuple[Settlement, ...]
    districts: tuple[District, ...]
    towns: int
    towns_urban_km2: float
    town_spacing_km: float
    central_districts: tuple[int, ...]
    udb_km2: float
    udb_zone_shares: tuple[float, float, float]  # concentrated, flexible, special-use
    central_udb_km2: float | None  # the central districts' share of each line, if stated
    central_pbf_km2: float | None
    central_erl_km2: float | None
    pbf_km2: float
    erl_km2: float
    farmland_retention_km2: float | None
    conflict_udb_pbf_km2: float
    conflict_udb_erl_km2: float
    control_lines: tuple[ControlLine, ...]
    historic_site: Point | None
    plan_figures: tuple[str, ...]
    plan_source: str

    def district_names(self) -> dict[int, str]:
        return {d.code: d.name for d in self.districts}

    def urban_km2(self) -> float:
        return sum(s.urban_km2 for s in self.settlements) + self.towns_urban_km2


@dataclass(frozen=True, eq=False)
class Region:
    """A generated region: arrays on one grid (row 0 north), nodata outside the outline.

    uint8 layers use 255 outside the region; float32 layers use -9999. ``transform`` is
    the affine (a, b, c, d, e, f) as rasterio's Affine takes it.
    """

    spec: RegionSpec
    seed: int
    resolution_m: float
    transform: tuple[float, float, float, float, float, float]
    crs: str
    landuse: np.ndarray  # uint8 class codes
    districts: np.ndarray  # uint8 district codes
    udb_zones: np.ndarray  # uint8: 0 outside the boundary, 1/2/3 its zones
    basic_farmland: np.ndarray  # uint8 0/1
    red_line: np.ndarray  # uint8 0/1
    control_lines: np.ndarray | None  # uint8: 0, 1 green, 2 blue, 3 purple, 4 yellow
    dem_m: np.ndarray
    slope_deg: np.ndarray
    dist_urban_m: np.ndarray
    dist_roads_m: np.ndarray
    dist_centres_m: np.ndarray
    settlements: tuple[Settlement, ...]

    @property
    def classes(self) -> tuple[LandClass, ...]:
        return self.spec.classes

    @property
    def district_names(self) -> dict[int, str]:
        return self.spec.district_names()

    @property
    def valid(self) -> np.ndarray:
        return self.landuse != NODATA_U8

    @property
    def cell_km2(self) -> float:
        return self.resolution_m * self.resolution_m / 1e6


# --------------------------------------------------------------------------- grid and noise


@dataclass(frozen=True)
class _Frame:
    """The km box every field is defined on; whole kilometres, so it is the same box at
    every resolution."""

    west: float
    north: float
    east: float
    south: float


@dataclass(frozen=True)
class _Grid:
    frame: _Frame
    res_m: float
    nx: int
    ny: int

    @property
    def res_km(self) -> float:
        return self.res_m / 1000.0

    @property
    def cell_km2(self) -> float:
        return self.res_km * self.res_km

    def x_km(self) -> np.ndarray:
        return self.frame.west + (np.arange(self.nx) + 0.5) * self.res_km

    def y_km(self) -> np.ndarray:
        return self.frame.north - (np.arange(self.ny) + 0.5) * self.res_km

    def cells(self, km2: float) -> int:
        return round(km2 / self.cell_km2)

    def cell_of(self, p: Point) -> tuple[int, int]:
        col = math.floor((p[0] - self.frame.west) / self.res_km)
        row = math.floor((self.frame.north - p[1]) / self.res_km)
        return min(max(row, 0), self.ny - 1), min(max(col, 0), self.nx - 1)

    def window(self, p: Point, radius_km: float) -> tuple[slice, slice]:
        r0, c0 = self.cell_of((p[0] - radius_km, p[1] + radius_km))
        r1, c1 = self.cell_of((p[0] + radius_km, p[1] - radius_km))
        return slice(r0, r1 + 1), slice(c0, c1 + 1)


def _make_grid(frame: _Frame, res_m: float) -> _Grid:
    nx = math.ceil(round((frame.east - frame.west) * 1000.0 / res_m, 6))
    ny = math.ceil(round((frame.north - frame.south) * 1000.0 / res_m, 6))
    return _Grid(frame, res_m, nx, ny)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


class _Noise:
    """Value noise on km lattices of the frame, one random stream per named field.

    Separate streams keep fields independent: adding a field does not reshuffle the
    others. Lattices depend on the frame and the seed only, never on the resolution.
    """

    def __init__(self, seed: int, frame: _Frame) -> None:
        self.seed = seed
        self.frame = frame

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def _lattice(self, name: str, spacing_km: float) -> np.ndarray:
        f = self.frame
        nx = math.ceil((f.east - f.west) / spacing_km) + 4
        ny = math.ceil((f.north - f.south) / spacing_km) + 4
        u = self.rng(f"{name}@{spacing_km}").random((ny, nx))
        return (u * 2.0 - 1.0).astype(np.float32)

    def _axis(self, t_km: np.ndarray, spacing_km: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        t = t_km / spacing_km + 1.0  # the lattice starts one spacing before the frame
        i0 = np.clip(np.floor(t).astype(np.intp), 0, n - 2)
        w = _smoothstep(np.clip(t - i0, 0.0, 1.0))
        return i0, w.astype(np.float32)

    def grid(self, name: str, spacing_km: float, g: _Grid, rows: slice = slice(None)) -> np.ndarray:
        """The field at every cell centre (of ``rows``), in [-1, 1], float32, by
        separable interpolation: two 1-D passes instead of a 2-D gather."""
        lat = self._lattice(name, spacing_km)
        ix, wx = self._axis(g.x_km() - self.frame.west, spacing_km, lat.shape[1])
        iy, wy = self._axis(self.frame.north - g.y_km()[rows], spacing_km, lat.shape[0])
        along_x = lat[:, ix] * (1.0 - wx) + lat[:, ix + 1] * wx
        out = along_x[iy]
        upper = along_x[iy + 1]
        upper -= out
        upper *= wy[:, None]
        out += upper
        return out

    def fbm(
        self,
        name: str,
        octaves: Sequence[tuple[float, float]],
        g: _Grid,
        rows: slice = slice(None),
    ) -> np.ndarray:
        """Sum of octaves (spacing km, amplitude)."""
        out = np.zeros((len(range(g.ny)[rows]), g.nx), np.float32)
        for spacing, amp in octaves:
            out += np.float32(amp) * self.grid(name, spacing, g, rows)
        return out


# --------------------------------------------------------------------------- ranking helpers


def top_n(score: np.ndarray, eligible: np.ndarray | None, n: int) -> np.ndarray:
    """The ``n`` eligible cells (None: all) with the highest score, ties to the lower
    row-major index.

    Sizing a class or a line by rank makes its area exact at any resolution; the k-th
    value is unique whatever algorithm finds it, so the result is deterministic.
    """
    out = np.zeros(score.shape, bool)
    if n <= 0:
        return out
    idx = None if eligible is None else np.flatnonzero(eligible)
    size = score.size if idx is None else idx.size
    if n > size:
        raise ValueError(f"asked for {n:,} cells but only {size:,} are eligible")
    vals = score.ravel() if idx is None else score.ravel()[idx]
    k = size - n
    threshold = np.partition(vals, k)[k]
    take = vals > threshold
    ties = np.flatnonzero(vals == threshold)[: n - int(take.sum())]
    take[ties] = True
    if idx is None:
        out.ravel()[take] = True
    else:
        out.ravel()[idx[take]] = True
    return out


def _patch_sizes(mask: np.ndarray) -> np.ndarray:
    """Cells of the 8-connected patch each cell belongs to (0 off the mask)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1).astype(np.int32)
    sizes[0] = 0
    return sizes[labels]


_BLOCK_ROWS = 512  # rows per block where a full-grid float64 temporary would be too big


def _nearest_target(targets: np.ndarray, g: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """Distance (m, float32) to the nearest target cell, and that cell's (row, col).

    The distances come from scipy's exact feature transform, computed here by row
    blocks: scipy's own distance output would hold several float64 copies of the grid.
    """
    feature = ndimage.distance_transform_edt(~targets, return_distances=False, return_indices=True)
    dist = np.empty(targets.shape, np.float32)
    cols = np.arange(targets.shape[1])
    for r0 in range(0, targets.shape[0], _BLOCK_ROWS):
        r1 = min(r0 + _BLOCK_ROWS, targets.shape[0])
        dy = (feature[0, r0:r1] - np.arange(r0, r1)[:, None]) * g.res_m
        dx = (feature[1, r0:r1] - cols[None, :]) * g.res_m
        dist[r0:r1] = np.sqrt(dx * dx + dy * dy)
    return dist, feature


def _distance_m(targets: np.ndarray, g: _Grid) -> np.ndarray:
    """Euclidean distance (m, float32) from every cell centre to the nearest target cell."""
    if not targets.any():
        return np.full(targets.shape, np.float32(1e7))
    return _nearest_target(targets, g)[0]


def _trace(path: np.ndarray, g: _Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells (rows, cols) a polyline (km) passes through, and the path position of each.

    Points are laid every third of a cell so the trace is 8-connected.
    """
    seg = np.diff(path, axis=0)
    lengths = np.sqrt((seg * seg).sum(axis=1))
    steps = np.maximum(np.ceil(lengths / (g.res_km / 3.0)).astype(np.intp), 1)
    t = np.concatenate([np.arange(s) / s for s in steps] + [np.ones(1)])
    which = np.concatenate([np.full(s, i) for i, s in enumerate(steps)] + [[len(seg) - 1]])
    pts = path[which] + seg[which] * t[:, None]
    pos = np.concatenate([[0.0], np.cumsum(lengths)])[which] + lengths[which] * t
    cols = np.floor((pts[:, 0] - g.frame.west) / g.res_km).astype(np.intp)
    rows = np.floor((g.frame.north - pts[:, 1]) / g.res_km).astype(np.intp)
    inside = (rows >= 0) & (rows < g.ny) & (cols >= 0) & (cols < g.nx)
    return rows[inside], cols[inside], pos[inside]


def _stamp_cones(g: _Grid, x: np.ndarray, y: np.ndarray, r: np.ndarray, out: np.ndarray) -> None:
    """out = max(out, 1 - d/r) around each point: many small settlements at once."""
    col_f = (x - g.frame.west) / g.res_km - 0.5
    row_f = (g.frame.north - y) / g.res_km - 0.5
    c0, r0 = np.rint(col_f).astype(np.intp), np.rint(row_f).astype(np.intp)
    k = math.ceil(float(r.max()) / g.res_km) + 1 if r.size else 0
    for dr in range(-k, k + 1):
        for dc in range(-k, k + 1):
            rr, cc = r0 + dr, c0 + dc
            ok = (rr >= 0) & (rr < g.ny) & (cc >= 0) & (cc < g.nx)
            dy, dx = (rr - row_f) * g.res_km, (cc - col_f) * g.res_km
            v = (1.0 - np.sqrt(dx * dx + dy * dy) / r).astype(np.float32)
            np.maximum.at(out, (rr[ok], cc[ok]), v[ok])


def _nearest_cells(mask: np.ndarray, g: _Grid, p: Point, n: int) -> np.ndarray:
    """The n cells of ``mask`` nearest to point p (a compact patch around p)."""
    rows, cols = np.nonzero(mask)
    x = g.frame.west + (cols + 0.5) * g.res_km - p[0]
    y = g.frame.north - (rows + 0.5) * g.res_km - p[1]
    score = np.zeros(mask.shape, np.float64)
    score[rows, cols] = -(x * x + y * y)
    return top_n(score, mask, min(n, rows.size))


def _grow_patch(mask: np.ndarray, seed: tuple[int, int], n: int) -> np.ndarray:
    """Up to n cells of ``mask`` connected to ``seed`` (8-neighbours), nearest first: a
    compact, connected patch even where the mask is ragged."""
    out = np.zeros(mask.shape, bool)
    heap = [(0, seed[0], seed[1])]
    seen = {seed}
    taken = 0
    while heap and taken < n:
        _, r, c = heapq.heappop(heap)
        out[r, c] = True
        taken += 1
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = r + dr, c + dc
                inside = 0 <= rr < mask.shape[0] and 0 <= cc < mask.shape[1]
                if inside and (rr, cc) not in seen and mask[rr, cc]:
                    seen.add((rr, cc))
                    d2 = (rr - seed[0]) ** 2 + (cc - seed[1]) ** 2
                    heapq.heappush(heap, (d2, rr, cc))
    return out


def _conflict_patch(
    mask: np.ndarray, g: _Grid, site: Point, n: int, prefer: np.ndarray | None = None
) -> np.ndarray:
    """A connected patch of n cells of ``mask`` near ``site``, seeded in a part of the
    mask big enough to hold it (and in ``prefer`` where possible)."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    candidates = sizes[labels] >= n
    if prefer is not None and (candidates & prefer).any():
        candidates &= prefer
    if not candidates.any():
        candidates = mask
    first = np.flatnonzero(_nearest_cells(candidates, g, site, 1))[0]
    patch = _grow_patch(mask, divmod(int(first), mask.shape[1]), n)
    missing = n - int(patch.sum())
    if missing > 0:  # the mask has no piece this big: top up with the nearest cells
        patch |= _nearest_cells(mask & ~patch, g, site, missing)
    return patch


# --------------------------------------------------------------------------- outline and districts


def _outline_harmonics(spec: RegionSpec, keep: int = 6) -> list[tuple[float, float]]:
    """Fourier coefficients (a_k, b_k), k = 0..keep, of the outline's radius by angle.

    The spec's boundary points are a rough polygon; its radius is sampled on 64 rays and
    low-passed, so the outline is smooth at the scale of the polygon and the seeded
    warp adds the small-scale irregularity of a real administrative border.
    """
    cx, cy = spec.outline_centre
    pts = [(x - cx, y - cy) for x, y in spec.outline]
    rays = 64
    radii = []
    for j in range(rays):
        ux, uy = math.cos(2 * math.pi * j / rays), math.sin(2 * math.pi * j / rays)
        best = 0.0
        for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1], strict=True):
            ex, ey = bx - ax, by - ay
            den = ux * ey - uy * ex
            if abs(den) < 1e-12:
                continue
            t = (ax * ey - ay * ex) / den  # distance along the ray
            s = (ax * uy - ay * ux) / den  # position along the edge
            if t > 0 and -1e-9 <= s <= 1 + 1e-9:
                best = max(best, t)
        radii.append(best)
    coeffs = []
    for k in range(keep + 1):
        a = sum(r * math.cos(2 * math.pi * k * j / rays) for j, r in enumerate(radii)) / rays
        b = sum(r * math.sin(2 * math.pi * k * j / rays) for j, r in enumerate(radii)) / rays
        coeffs.append((a if k == 0 else 2 * a, 0.0 if k == 0 else 2 * b))
    return coeffs


def _radius_by_direction(
    coeffs: list[tuple[float, float]], c: np.ndarray, s: np.ndarray
) -> np.ndarray:
    """R(θ) from cos θ and sin θ by the angle-addition recurrence: no trigonometry per cell."""
    out = np.full(c.shape, coeffs[0][0], dtype=c.dtype)
    ck, sk = c.copy(), s.copy()
    for k, (a, b) in enumerate(coeffs[1:], start=1):
        out += a * ck + b * sk
        if k < len(coeffs) - 1:
            ck, sk = ck * c - sk * s, sk * c + ck * s
    return out


# Warp of the outline and district borders: (spacing km, amplitude km). Amplitudes stay
# below a third of the spacing so the warp is one-to-one and the region stays in one piece.
_OUTLINE_WARP = ((16.0, 2.6), (5.0, 0.8), (1.5, 0.2))
_DISTRICT_WARP = ((12.0, 2.5), (4.0, 0.8), (1.2, 0.2))


def _warped(
    noise: _Noise,
    name: str,
    octaves: Sequence[tuple[float, float]],
    g: _Grid,
    rows: slice = slice(None),
) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres moved by a smooth noise (km, float32 relative to the frame's
    north-west corner: float32 keeps centimetres there and halves the memory)."""
    x = (g.x_km() - g.frame.west).astype(np.float32)[None, :]
    y = (g.y_km()[rows] - g.frame.north).astype(np.float32)[:, None]
    return x + noise.fbm(f"{name}-x", octaves, g, rows), y + noise.fbm(
        f"{name}-y", octaves, g, rows
    )


def _gauge(spec: RegionSpec, frame: _Frame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """r / R(θ): below 1 inside the spec's outline, growing outward along every ray."""
    dx = x - np.float32(spec.outline_centre[0] - frame.west)
    dy = y - np.float32(spec.outline_centre[1] - frame.north)
    r = np.sqrt(dx * dx + dy * dy)
    safe = np.maximum(r, np.float32(1e-6))
    big_r = _radius_by_direction(_outline_harmonics(spec), dx / safe, dy / safe)
    return r / np.maximum(big_r, np.float32(1.0))


def _frame_for(spec: RegionSpec) -> _Frame:
    """The whole-km box that holds the outline at the spec's area, with a margin for the
    warp; derived from the spec alone, so it is the same at every resolution and seed."""
    coeffs = _outline_harmonics(spec)
    rays = 720
    angles = [2 * math.pi * j / rays for j in range(rays)]
    cs = [(math.cos(t), math.sin(t)) for t in angles]
    radius = []
    for t in angles:
        r = coeffs[0][0]
        for k, (a, b) in enumerate(coeffs[1:], start=1):
            r += a * math.cos(k * t) + b * math.sin(k * t)
        radius.append(max(r, 1.0))
    area = 0.5 * sum(r * r for r in radius) * 2 * math.pi / rays
    scale = math.sqrt(spec.total_km2 / area)
    margin = sum(a for _, a in _OUTLINE_WARP) + 0.06 * max(radius) + 3.0
    cx, cy = spec.outline_centre
    xs = [cx + scale * r * c for r, (c, _) in zip(radius, cs, strict=True)]
    ys = [cy + scale * r * s for r, (_, s) in zip(radius, cs, strict=True)]
    return _Frame(
        west=math.floor(min(xs) - margin),
        north=math.ceil(max(ys) + margin),
        east=math.ceil(max(xs) + margin),
        south=math.floor(min(ys) - margin),
    )


def draw_outline(spec: RegionSpec, g: _Grid, noise: _Noise) -> np.ndarray:
    """The region: the cells of the smallest warped gauge, exactly the spec's area."""
    gauge = np.empty((g.ny, g.nx), np.float32)
    for r0 in range(0, g.ny, _BLOCK_ROWS):
        rows = slice(r0, min(r0 + _BLOCK_ROWS, g.ny))
        x, y = _warped(noise, "outline", _OUTLINE_WARP, g, rows)
        gauge[rows] = -_gauge(spec, g.frame, x, y)
    valid = top_n(gauge, None, g.cells(spec.total_km2))
    edge = valid[0].any() or valid[-1].any() or valid[:, 0].any() or valid[:, -1].any()
    if edge:
        raise ValueError(f"the outline of {spec.name} reaches the frame's edge; widen the margin")
    return valid


def _relative(p: Point, frame: _Frame) -> tuple[np.float32, np.float32]:
    """A point in the frame-relative km coordinates of `_warped`."""
    return np.float32(p[0] - frame.west), np.float32(p[1] - frame.north)


def _power_argmin(
    districts: Sequence[District],
    frame: _Frame,
    x: np.ndarray,
    y: np.ndarray,
    weights: Sequence[float],
) -> np.ndarray:
    """Power diagram: the district minimising d² - w. Cells are convex (in the warped
    coordinates), so no district falls apart into pieces, and weights exist for any set of
    target areas (semi-discrete optimal transport)."""
    best = np.full(x.shape, np.float32(np.inf), np.float32)
    code = np.zeros(x.shape, np.uint8)
    for d, w in zip(districts, weights, strict=True):
        ax, ay = _relative(d.anchor, frame)
        q = (x - ax) ** 2 + (y - ay) ** 2 - np.float32(w)
        closer = q < best
        best[closer] = q[closer]
        code[closer] = d.code
    return code


def _fit_power(
    districts: Sequence[District], frame: _Frame, x: np.ndarray, y: np.ndarray, target: np.ndarray
) -> list[float]:
    weights = np.zeros(len(districts))
    codes = np.array([d.code for d in districts])
    for _ in range(300):
        got = np.bincount(_power_argmin(districts, frame, x, y, weights), minlength=256)[codes]
        # A district gains about 1-3 km² per km² of weight: a damped step converges.
        weights = weights + 0.4 * (target - got)
    return [float(w) for w in weights]


def _district_km2(spec: RegionSpec) -> dict[int, float]:
    """Target areas scaled to the region's total."""
    total = sum(d.area_km2 for d in spec.districts)
    return {d.code: d.area_km2 * spec.total_km2 / total for d in spec.districts}


def _carve_compact(
    spec: RegionSpec, g: _Grid, valid: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Enclaves first, as exact-area blobs around their anchors (a power diagram would
    squeeze a small district between big neighbours into a strip); then the central
    districts as one blob around their mean anchor. Returns (codes so far, central blob)."""
    area = _district_km2(spec)
    codes = np.zeros((g.ny, g.nx), np.uint8)
    for d in spec.districts:
        if d.compact:
            free = valid & (codes == 0)
            ax, ay = _relative(d.anchor, g.frame)
            score = -((x - ax) ** 2 + (y - ay) ** 2)
            codes[top_n(score, free, g.cells(area[d.code]))] = d.code
    central = [d for d in spec.districts if d.code in spec.central_districts]
    blob = np.zeros((g.ny, g.nx), bool)
    if central:
        mean = (
            sum(d.anchor[0] for d in central) / len(central),
            sum(d.anchor[1] for d in central) / len(central),
        )
        cx, cy = _relative(mean, g.frame)
        score = -((x - cx) ** 2 + (y - cy) ** 2)
        n = g.cells(sum(area[d.code] for d in central))
        blob = top_n(score, valid & (codes == 0), n)
    return codes, blob


def _district_groups(spec: RegionSpec) -> tuple[list[District], list[District]]:
    central = [d for d in spec.districts if d.code in spec.central_districts]
    rest = [d for d in spec.districts if not d.compact and d.code not in spec.central_districts]
    return central, rest


def fit_district_weights(
    spec: RegionSpec, frame: _Frame, noise: _Noise
) -> tuple[list[float], list[float]]:
    """Power weights (km²) of the central districts and of the other districts, fitted
    once on a 1 km grid, so districts have the same shape at every resolution."""
    g = _make_grid(frame, 1000.0)
    valid = draw_outline(spec, g, noise)
    x, y = _warped(noise, "districts", _DISTRICT_WARP, g)
    codes, blob = _carve_compact(spec, g, valid, x, y)
    area = _district_km2(spec)
    central, rest = _district_groups(spec)
    w_central = []
    if central:
        target = np.array([area[d.code] for d in central])
        target *= blob.sum() / target.sum()
        w_central = _fit_power(central, frame, x[blob], y[blob], target)
    left = valid & (codes == 0) & ~blob
    target = np.array([area[d.code] for d in rest])
    target *= left.sum() / target.sum()
    return w_central, _fit_power(rest, frame, x[left], y[left], target)


def draw_districts(
    spec: RegionSpec,
    g: _Grid,
    valid: np.ndarray,
    noise: _Noise,
    weights: tuple[list[float], list[float]],
) -> np.ndarray:
    """District codes: enclaves, the central districts, then the rest (255 outside)."""
    x, y = _warped(noise, "districts", _DISTRICT_WARP, g)
    codes, blob = _carve_compact(spec, g, valid, x, y)
    central, rest = _district_groups(spec)
    if central:
        codes[blob] = _power_argmin(central, g.frame, x[blob], y[blob], weights[0])
    left = valid & (codes == 0) & ~blob
    codes[left] = _power_argmin(rest, g.frame, x[left], y[left], weights[1])
    codes[~valid] = NODATA_U8
    return codes


# --------------------------------------------------------------------------- rivers and terrain


@dataclass
class _RiverPath:
    river: River
    points: np.ndarray  # (m, 2) km, meandering, upstream first
    level: np.ndarray  # (m,) water level at each point
    valley_km: np.ndarray  # (m,) valley half-width at each point


def trace_rivers(spec: RegionSpec, noise: _Noise) -> list[_RiverPath]:
    """Meandering centrelines with a water level falling from source to mouth.

    Tributaries are snapped onto the river they join and take its level there, so the
    network is continuous and the levels agree at every confluence.
    """
    done: dict[str, _RiverPath] = {}
    for river in spec.rivers:
        base = np.asarray(river.path, float)
        mouth_valley = river.valley_km
        if river.joins is not None:
            main = done[river.joins]
            d2 = ((main.points - base[-1]) ** 2).sum(axis=1)
            mouth = int(np.argmin(d2))
            base = np.vstack([base[:-1], main.points[mouth]])
            mouth_level = float(main.level[mouth])
            mouth_valley = float(main.valley_km[mouth])
        else:
            mouth_level = float(river.mouth_level_m)  # type: ignore[arg-type]
        pts = _meander(base, river, noise)
        seg = np.sqrt((np.diff(pts, axis=0) ** 2).sum(axis=1))
        along = np.concatenate([[0.0], np.cumsum(seg)])
        level = river.source_level_m + (mouth_level - river.source_level_m) * along / along[-1]
        # The valley widens to the main valley's width over the last 12 km, so the two
        # valleys merge without a step where their nearest-river zones meet.
        near_mouth = _smoothstep(np.clip(1.0 - (along[-1] - along) / 12.0, 0.0, 1.0))
        valley = river.valley_km + (mouth_valley - river.valley_km) * near_mouth
        done[river.name] = _RiverPath(river, pts, level, valley)
    return list(done.values())


def _meander(base: np.ndarray, river: River, noise: _Noise) -> np.ndarray:
    """Densify to 0.25 km and bend sideways by a 1-D noise; both ends stay put."""
    seg = np.diff(base, axis=0)
    lengths = np.sqrt((seg * seg).sum(axis=1))
    steps = np.maximum(np.ceil(lengths / 0.25).astype(np.intp), 1)
    t = np.concatenate([np.arange(s) / s for s in steps] + [np.ones(1)])
    which = np.concatenate([np.full(s, i) for i, s in enumerate(steps)] + [[len(seg) - 1]])
    pts = base[which] + seg[which] * t[:, None]
    along = np.concatenate([[0.0], np.cumsum(lengths)])[which] + lengths[which] * t
    total = along[-1]
    knots = noise.rng(f"meander:{river.name}").random(int(total / 4.0) + 3) * 2.0 - 1.0
    u = along / 4.0
    i0 = np.floor(u).astype(np.intp)
    w = _smoothstep(u - i0)
    wave = knots[i0] * (1 - w) + knots[i0 + 1] * w
    taper = np.clip(np.minimum(along, total - along) / 3.0, 0.0, 1.0)
    tangent = np.gradient(pts, axis=0)
    norm = np.sqrt((tangent * tangent).sum(axis=1))
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]]) / norm[:, None]
    return pts + normal * (river.meander_km * wave * taper)[:, None]


@dataclass
class _RiverFields:
    centre: np.ndarray  # bool: the centreline cells
    dist_m: np.ndarray  # float32: to the nearest centreline cell
    level_m: np.ndarray  # float32: water level of that nearest river point
    half_width_m: np.ndarray  # float32: half the width of that river
    valley_km: np.ndarray | None  # float32: valley half-width of that river


def carve_rivers(paths: list[_RiverPath], g: _Grid) -> _RiverFields:
    """Rasterise the centrelines and spread each river's level and widths to every cell
    from its nearest centreline cell (one distance transform with indices)."""
    centre = np.zeros((g.ny, g.nx), bool)
    level = np.zeros((g.ny, g.nx), np.float32)
    half = np.zeros((g.ny, g.nx), np.float32)
    valley = np.zeros((g.ny, g.nx), np.float32)
    for p in reversed(paths):  # main rivers last: they win at confluences
        rows, cols, pos = _trace(p.points, g)
        seg = np.sqrt((np.diff(p.points, axis=0) ** 2).sum(axis=1))
        along = np.concatenate([[0.0], np.cumsum(seg)])
        centre[rows, cols] = True
        level[rows, cols] = np.interp(pos, along, p.level)
        half[rows, cols] = p.river.width_m / 2.0
        valley[rows, cols] = np.interp(pos, along, p.valley_km)
    dist, (iy, ix) = _nearest_target(centre, g)
    fields = _RiverFields(
        centre=centre,
        dist_m=dist,
        level_m=level[iy, ix],
        half_width_m=half[iy, ix],
        valley_km=valley[iy, ix],
    )
    return fields


def _mountain_u2(m: Mountain, g: _Grid, win: tuple[slice, slice]) -> np.ndarray:
    """Squared elliptical radius of a massif (1 on its rim), in a window of the grid."""
    az = math.radians(m.azimuth_deg)
    ax, ay = math.sin(az), math.cos(az)  # the long axis, clockwise from north
    dx = (g.x_km()[win[1]] - m.centre[0]).astype(np.float32)[None, :]
    dy = (g.y_km()[win[0]] - m.centre[1]).astype(np.float32)[:, None]
    along = (dx * np.float32(ax) + dy * np.float32(ay)) / np.float32(m.semi_axes_km[0])
    across = (dx * np.float32(ay) - dy * np.float32(ax)) / np.float32(m.semi_axes_km[1])
    return along * along + across * across


def shape_terrain(
    spec: RegionSpec, g: _Grid, noise: _Noise, rivers: _RiverFields
) -> tuple[np.ndarray, np.ndarray]:
    """Elevation (m, float32) and the height above the local valley floors (m).

    A basin rising to its rim; hills whose relief grows toward the rim, folded noise
    (|n|: 0 along its zero lines) so that they are cut by a network of V-shaped valleys
    at three scales; the massifs; and valleys cut down to each river's level.
    """
    t = spec.terrain
    dx = (g.x_km() - t.basin_centre[0]).astype(np.float32)[None, :]
    dy = (g.y_km() - t.basin_centre[1]).astype(np.float32)[:, None]
    q = _smoothstep(np.clip(np.sqrt(dx * dx + dy * dy) / np.float32(t.basin_radius_km), 0, 1))
    base = np.float32(t.floor_m) + np.float32(t.rim_rise_m) * q
    relief = np.float32(t.hill_low_m) + np.float32(t.hill_high_m - t.hill_low_m) * q
    relief *= np.float32(0.6) + np.float32(0.4) * noise.grid("hills-broad", 20.0, g)
    del q
    valleys_2km = _folded(noise, "hills-2km", 2.0, g)
    creases = np.float32(0.45) * _folded(noise, "hills-6km", 6.0, g)
    creases += np.float32(0.35) * valleys_2km
    creases += np.float32(0.20) * _folded(noise, "hills-600m", 0.6, g)
    dem = base + relief * creases
    del relief, creases
    for m in spec.mountains:
        win = g.window(m.centre, max(m.semi_axes_km))
        np.maximum(dem[win], _massif(m, g, win, noise, valleys_2km[win]), out=dem[win])
    del valleys_2km
    dem = _cut_valleys(dem, rivers)
    local = np.maximum(dem - np.maximum(base, rivers.level_m), np.float32(0.0))
    return dem, local


def _folded(noise: _Noise, name: str, spacing_km: float, g: _Grid) -> np.ndarray:
    """|noise|: rounded hills between sharp creases along the zero lines, which form a
    connected network like a drainage pattern."""
    n = noise.grid(name, spacing_km, g)
    return np.abs(n, out=n)


def _massif(
    m: Mountain, g: _Grid, win: tuple[slice, slice], noise: _Noise, creases: np.ndarray
) -> np.ndarray:
    """A dome (1 - u²)² whose flanks are cut by the valley network; its peak is exactly
    ``peak_m`` because the cuts grow from zero at the summit."""
    u2 = _mountain_u2(m, g, win)
    inside = np.clip(np.float32(1.0) - u2, 0.0, 1.0)
    dome = inside * inside
    u = np.sqrt(np.minimum(u2, np.float32(1.0)))
    cut = np.float32(1.0) - np.float32(m.ruggedness) * u * (np.float32(1.0) - creases)
    height = np.float32(m.foot_m) + np.float32(m.peak_m - m.foot_m) * dome * cut
    if m.pillars_m:
        pillars = noise.grid(f"pillars:{m.name}", 0.35, g)[win]
        spikes = np.clip(pillars - np.float32(0.3), 0.0, None)
        height += np.float32(m.pillars_m / 0.7) * spikes * inside
    return np.where(u2 < 1.0, height, np.float32(0.0))


def _cut_valleys(dem: np.ndarray, rivers: _RiverFields) -> np.ndarray:
    """Blend the land down to the river level: a flat floodplain, then rising slopes."""
    w = rivers.valley_km * np.float32(1000.0)
    k = np.clip((rivers.dist_m - np.float32(0.3) * w) / (np.float32(0.7) * w), 0.0, 1.0)
    k = _smoothstep(k)
    above = np.maximum(dem - rivers.level_m, np.float32(0.0))
    return rivers.level_m + above * k


def _tan_slope(dem: np.ndarray, g: _Grid) -> np.ndarray:
    gy, gx = np.gradient(dem, np.float32(g.res_m))
    return np.sqrt(gx * gx + gy * gy)


# --------------------------------------------------------------------------- settlements, roads


def place_settlements(
    spec: RegionSpec,
    g: _Grid,
    valid: np.ndarray,
    districts: np.ndarray,
    lowland: np.ndarray,
    noise: _Noise,
) -> tuple[Settlement, ...]:
    """The spec's centre and county seats, then seeded key towns on low, gentle land
    (not in the central districts), at least ``town_spacing_km`` from any other."""
    rng = noise.rng("towns")
    placed = list(spec.settlements)
    towns: list[Point] = []
    f = g.frame
    for _ in range(200):
        if len(towns) == spec.towns:
            break
        cand = rng.random((256, 2))
        for u, v in cand:
            p = (f.west + u * (f.east - f.west), f.south + v * (f.north - f.south))
            row, col = g.cell_of(p)
            if not valid[row, col] or districts[row, col] in spec.central_districts:
                continue
            if not lowland[row, col]:
                continue
            others = [s.at for s in placed] + towns
            if min(math.dist(p, o) for o in others) < spec.town_spacing_km:
                continue
            towns.append(p)
            if len(towns) == spec.towns:
                break
    if len(towns) < spec.towns:
        raise ValueError(f"placed only {len(towns)} of {spec.towns} towns for {spec.name}")
    sizes = 0.6 + 0.8 * rng.random(spec.towns)
    sizes = sizes * spec.towns_urban_km2 / sizes.sum()
    for i, (p, a) in enumerate(zip(towns, sizes, strict=True), start=1):
        row, col = g.cell_of(p)
        placed.append(
            Settlement(
                name=f"key town {i:02d} (synthetic)",
                name_zh=f"合成重点镇{i:02d}",
                kind="town",
                at=(round(p[0], 3), round(p[1], 3)),
                urban_km2=float(a),
                district=int(districts[row, col]),
            )
        )
    return tuple(placed)


def draw_roads(settlements: Sequence[Settlement], noise: _Noise) -> list[np.ndarray]:
    """Road polylines (km): the centre to every county seat, each seat to its two nearest
    seats, and every town to the nearest place already on the network."""
    rng = noise.rng("roads")
    hubs = [i for i, s in enumerate(settlements) if s.kind != "town"]
    centre = next(i for i, s in enumerate(settlements) if s.kind == "centre")
    edges: set[tuple[int, int]] = set()
    for i in hubs:
        if i != centre:
            edges.add((min(i, centre), max(i, centre)))
        near = sorted((math.dist(settlements[i].at, settlements[j].at), j) for j in hubs if j != i)
        for _, j in near[:2]:
            edges.add((min(i, j), max(i, j)))
    network = list(hubs)
    towns = [i for i, s in enumerate(settlements) if s.kind == "town"]
    towns.sort(key=lambda i: (math.dist(settlements[i].at, settlements[centre].at), i))
    for i in towns:
        j = min(network, key=lambda j: (math.dist(settlements[i].at, settlements[j].at), j))
        edges.add((min(i, j), max(i, j)))
        network.append(i)
    roads = []
    for i, j in sorted(edges):
        a, b = np.asarray(settlements[i].at), np.asarray(settlements[j].at)
        d = b - a
        normal = np.array([-d[1], d[0]])
        t = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
        wiggle = (rng.random(5) - 0.5) * 0.16 * np.array([0, 1, 1, 1, 0])
        roads.append(a + t[:, None] * d + wiggle[:, None] * normal)
    return roads


def _rasterise_roads(roads: list[np.ndarray], g: _Grid) -> np.ndarray:
    mask = np.zeros((g.ny, g.nx), bool)
    for road in roads:
        rows, cols, _ = _trace(road, g)
        mask[rows, cols] = True
    return mask


# --------------------------------------------------------------------------- land use


@dataclass
class _Terrain:
    dem: np.ndarray
    tan: np.ndarray  # tangent of the slope (rise / run)
    above_river: np.ndarray | None  # m above the nearest river's level
    lowness: np.ndarray | None  # farmland suitability: 0 on valley floors, negative uphill

    @classmethod
    def from_dem(cls, dem: np.ndarray, local: np.ndarray, rivers: _RiverFields, g: _Grid):
        tan = _tan_slope(dem, g)
        above = dem - rivers.level_m
        # Height above the big rivers counts less than height above the local valley
        # floor: hill valleys far from the rivers are farmed too (冲垄田).
        lowness = -np.minimum(above, np.float32(300.0)) / np.float32(150.0)
        lowness -= local / np.float32(35.0) + np.float32(3.0) * tan
        return cls(dem, tan, above, lowness)


def allocate_rivers_and_reservoirs(
    spec: RegionSpec, g: _Grid, free: np.ndarray, rivers: _RiverFields, ter: _Terrain
) -> np.ndarray:
    """River channels, then each reservoir filling its valley from the lowest cells up
    (so the lake follows the contours), exactly its area."""
    water = free & ((rivers.dist_m <= rivers.half_width_m) | rivers.centre)
    for res in spec.reservoirs:
        win = g.window(res.dam, res.reach_km)
        sub = free[win] & ~water[win]
        rows, cols = np.nonzero(sub)
        if rows.size == 0:
            continue
        dx = g.x_km()[win[1]][cols] - res.dam[0]
        dy = g.y_km()[win[0]][rows] - res.dam[1]
        rank = np.full(sub.shape, -np.inf)
        rank[rows, cols] = -(ter.dem[win][rows, cols] + 40.0 * np.sqrt(dx * dx + dy * dy))
        water[win] |= top_n(rank, sub, min(g.cells(res.area_km2), rows.size))
    return water


def allocate_ponds(
    g: _Grid, free: np.ndarray, ter: _Terrain, noise: _Noise, n_cells: int
) -> np.ndarray:
    """Farm ponds (山塘, 水塘): many small discs on gentle low land, placed after the
    towns so that they sit among the fields, not in the streets."""
    keep = np.clip(np.float32(1.0) + ter.lowness / np.float32(3.0), 0.0, 1.0) ** 2
    keep[ter.tan > 0.08] = 0.0  # a pond on a slope would be a step in the DEM
    x, y, r = scatter_discs(g, free, keep, noise, "ponds", n_cells * g.cell_km2, 0.04, 0.08)
    field = np.full((g.ny, g.nx), np.float32(-1.0))
    _stamp_cones(g, x, y, r, field)
    field += np.float32(0.1) * noise.grid("ponds", 0.3, g)
    return top_n(field, free, n_cells)


def _target(spec: RegionSpec, code: int) -> float:
    c = next(c for c in spec.classes if c.code == code)
    if code == URBAN:
        return spec.urban_km2()
    if c.target_km2 is None:
        raise ValueError(f"class {c.name} has no target area")
    return c.target_km2


_URBAN_EDGE = 0.4  # the urban field's value at a town's target radius


def allocate_urban(
    settlements: Sequence[Settlement],
    g: _Grid,
    free: np.ndarray,
    ter: _Terrain,
    dist_road: np.ndarray,
    noise: _Noise,
    n_cells: int,
) -> np.ndarray:
    """Urban land grows out from every settlement: a cone per settlement scaled to its
    area, roughened by noise, pushed along roads and off steep land; the top cells are
    urban, so every settlement gets about its share of the exact total."""
    field = np.full((g.ny, g.nx), np.float32(-1.0))
    xs, ys = g.x_km(), g.y_km()
    for s in settlements:
        r = math.sqrt(s.urban_km2 / math.pi) / (1.0 - _URBAN_EDGE)
        win = g.window(s.at, 1.4 * r)
        dx = (xs[win[1]] - s.at[0]).astype(np.float32)[None, :]
        dy = (ys[win[0]] - s.at[1]).astype(np.float32)[:, None]
        cone = np.float32(1.0) - np.sqrt(dx * dx + dy * dy) / np.float32(r)
        np.maximum(field[win], cone, out=field[win])
    score = field + noise.fbm("urban", ((4.0, 0.2), (1.5, 0.14), (0.4, 0.08)), g)
    score -= np.float32(1.5) * np.maximum(ter.tan - np.float32(0.12), 0.0)
    score += np.where((dist_road < 250.0) & (field > 0.15), np.float32(0.1), np.float32(0.0))
    return top_n(score, free, n_cells)


def scatter_discs(
    g: _Grid,
    free: np.ndarray,
    keep: np.ndarray,
    noise: _Noise,
    name: str,
    target_km2: float,
    r_min_km: float,
    r_span_km: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres and radii (km) of small discs (hamlets, ponds) whose areas add up to
    ``target_km2``: points drawn uniformly, each kept with the probability ``keep`` of
    its cell (and only on free cells). Radii are skewed small: most hamlets are tiny."""
    rng = noise.rng(name)
    radius = r_min_km + r_span_km * rng.random(400_000) ** 2
    count = int(np.searchsorted(np.cumsum(np.pi * radius * radius), target_km2)) + 1
    f = g.frame
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    got = 0
    for _ in range(400):
        if got >= count:
            break
        u = rng.random((3, 20_000))
        x = f.west + u[0] * (f.east - f.west)
        y = f.south + u[1] * (f.north - f.south)
        col = np.clip(((x - f.west) / g.res_km).astype(np.intp), 0, g.nx - 1)
        row = np.clip(((f.north - y) / g.res_km).astype(np.intp), 0, g.ny - 1)
        ok = free[row, col] & (u[2] < keep[row, col])
        xs.append(x[ok])
        ys.append(y[ok])
        got += int(ok.sum())
    x_all = np.concatenate(xs)[:count]
    y_all = np.concatenate(ys)[:count]
    return x_all, y_all, radius[: x_all.size]


def allocate_rural(
    g: _Grid, free: np.ndarray, ter: _Terrain, noise: _Noise, n_cells: int
) -> np.ndarray:
    """Hamlets at the valley edges: kept with a probability that falls with the height
    above the valley floor and with slope."""
    keep = np.clip(np.float32(1.0) + ter.lowness / np.float32(3.5), 0.0, 1.0) ** 2
    x, y, r = scatter_discs(g, free, keep, noise, "villages", n_cells * g.cell_km2, 0.05, 0.13)
    field = np.full((g.ny, g.nx), np.float32(-1.0))
    _stamp_cones(g, x, y, r, field)
    field += np.float32(0.15) * noise.grid("villages", 0.5, g)
    return top_n(field, free, n_cells)


def allocate_cropland(
    g: _Grid, free: np.ndarray, ter: _Terrain, noise: _Noise, n_cells: int
) -> np.ndarray:
    """Farmland in the valleys: low above the river, gentle, in broad noisy patches."""
    score = noise.fbm("cropland", ((3.0, 0.35), (0.8, 0.2)), g)
    score += ter.lowness
    return top_n(score, free, n_cells)


def allocate_grass_and_bare(
    spec: RegionSpec, g: _Grid, landuse: np.ndarray, ter: _Terrain, noise: _Noise
) -> None:
    """Grass in patches on the hills; bare rock on the steepest land; forest the rest."""
    free = landuse == 0
    grass = noise.fbm("grass", ((1.2, 0.5), (0.4, 0.3)), g)
    grass += np.float32(0.2) * np.clip(ter.above_river / np.float32(300.0), 0.0, 1.0)
    landuse[top_n(grass, free, g.cells(_target(spec, GRASSLAND)))] = GRASSLAND
    free = landuse == 0
    bare = np.float32(2.0) * ter.tan + np.float32(0.5) * noise.grid("bare", 0.6, g)
    landuse[top_n(bare, free, g.cells(_target(spec, BARE)))] = BARE
    landuse[landuse == 0] = FOREST


# --------------------------------------------------------------------------- planning lines


def _mountain_core(spec: RegionSpec, g: _Grid) -> np.ndarray:
    core = np.zeros((g.ny, g.nx), bool)
    for m in spec.mountains:
        if m.protected:
            win = g.window(m.centre, max(m.semi_axes_km))
            core[win] |= _mountain_u2(m, g, win) < 0.64
    return core


def draw_red_line(
    spec: RegionSpec,
    g: _Grid,
    landuse: np.ndarray,
    districts: np.ndarray,
    ter: _Terrain,
    big_water: np.ndarray,
    rivers: _RiverFields,
    dist_urban: np.ndarray,
    noise: _Noise,
) -> np.ndarray:
    """Ecological protection red line: the protected massifs first, then rivers and
    reservoirs with their banks, then the steepest and highest forest; never within 1 km
    of urban land, never on farmland or settlements."""
    natural = np.isin(landuse, (FOREST, GRASSLAND, WATER, BARE))
    eligible = natural & (dist_urban > 1000.0)
    # Slope averaged over a kilometre: the line takes whole rugged hillsides, not
    # single steep cells.
    size = max(1, round(1000.0 / g.res_m)) | 1
    rugged = ndimage.uniform_filter(ter.tan, size=size, mode="nearest")
    score = np.float32(0.45) * np.clip(rugged / np.float32(0.3), 0.0, 1.0)
    del rugged
    height = (ter.dem - np.float32(spec.terrain.floor_m)) / np.float32(800.0)
    score += np.float32(0.35) * np.clip(height, 0.0, 1.0)
    score += np.float32(0.2) * noise.grid("red-line", 5.0, g)
    corridor = rivers.dist_m <= rivers.half_width_m + np.float32(300.0)
    score[corridor & natural] += np.float32(1.0)
    score[big_water] += np.float32(2.0)
    score[_mountain_core(spec, g)] += np.float32(4.0)
    return _top_n_split(spec, g, score, eligible, spec.erl_km2, districts, spec.central_erl_km2)


def draw_development_boundary(
    spec: RegionSpec,
    g: _Grid,
    landuse: np.ndarray,
    districts: np.ndarray,
    erl: np.ndarray,
    ter: _Terrain,
    dist_road: np.ndarray,
    noise: _Noise,
) -> tuple[np.ndarray, np.ndarray]:
    """Urban development boundary: the towns' urban cores and the land nearest to them,
    along the roads and off steep slopes, outside the red line; the central districts
    get exactly the central city's share. Returns (boundary, growth score)."""
    urban = landuse == URBAN
    core = urban & (_patch_sizes(urban) * g.cell_km2 >= 0.25)
    growth = -_distance_m(core, g) / np.float32(1000.0)
    growth += np.where(dist_road < 300.0, np.float32(0.4), np.float32(0.0))
    growth += np.float32(0.15) * noise.grid("udb", 1.0, g)
    growth -= np.float32(2.0) * np.maximum(ter.tan - np.float32(0.15), 0.0)
    growth[core] = np.float32(100.0)
    valid = landuse != NODATA_U8
    eligible = valid & ~erl
    udb = _top_n_split(spec, g, growth, eligible, spec.udb_km2, districts, spec.central_udb_km2)
    return udb, growth


def _top_n_split(
    spec: RegionSpec,
    g: _Grid,
    score: np.ndarray,
    eligible: np.ndarray,
    km2: float,
    districts: np.ndarray,
    central_km2: float | None,
) -> np.ndarray:
    """top_n of ``km2``, with exactly ``central_km2`` of it in the central districts when
    the plan states the central city's share."""
    n_total = g.cells(km2)
    if central_km2 is None:
        return top_n(score, eligible, n_total)
    central = np.isin(districts, spec.central_districts)
    n_central = g.cells(central_km2)
    out = top_n(score, eligible & central, n_central)
    out |= top_n(score, eligible & ~central, n_total - n_central)
    return out


def _centre_of(settlements: Sequence[Settlement], kind: str) -> Point:
    return next(s.at for s in settlements if s.kind == kind)


def overlap_red_line(
    spec: RegionSpec,
    g: _Grid,
    udb: np.ndarray,
    erl: np.ndarray,
    growth: np.ndarray,
    landuse: np.ndarray,
    districts: np.ndarray,
    site: Point,
) -> np.ndarray:
    """The deliberate UDB × red-line conflict: a connected patch of red line touching the
    boundary near ``site`` joins the boundary, and as many of the boundary's weakest
    growth cells leave it (in the same part: central districts or not), so its areas
    stay exact."""
    n = g.cells(spec.conflict_udb_erl_km2)
    if n == 0:
        return udb
    touching = ndimage.binary_dilation(udb, structure=np.ones((3, 3), bool)) & erl
    patch = _conflict_patch(erl, g, site, n, prefer=touching)
    udb = udb | patch
    central = (
        np.isin(districts, spec.central_districts)
        if spec.central_udb_km2 is not None
        else np.ones(udb.shape, bool)
    )
    for part in (central, ~central):
        extra = int((patch & part).sum())
        # Non-urban cells leave first; urban ones only on very coarse grids.
        leave = -growth - np.where(landuse == URBAN, np.float32(1000.0), np.float32(0.0))
        weakest = top_n(leave, udb & part & ~patch, extra)
        udb &= ~weakest
    return udb


def zone_development_boundary(
    spec: RegionSpec,
    udb: np.ndarray,
    landuse: np.ndarray,
    growth: np.ndarray,
    erl: np.ndarray,
    noise: _Noise,
    g: _Grid,
) -> np.ndarray:
    """Zones by rank: special-use (3) on the natural land inside, red-line overlap first;
    flexible (2) on the non-urban land farthest from the cores; concentrated (1) the rest."""
    n = int(udb.sum())
    n3 = round(spec.udb_zone_shares[2] * n)
    n2 = round(spec.udb_zone_shares[1] * n)
    cover = np.zeros(256, np.float32)
    cover[[WATER, FOREST, GRASSLAND, BARE, CROPLAND, RURAL, URBAN]] = [3, 2.5, 2, 1.5, 0, 0, -10]
    special = cover[landuse] + np.float32(0.3) * noise.grid("special-use", 0.8, g)
    special[udb & erl] += np.float32(10.0)
    zone3 = top_n(special, udb, n3)
    flexible = -growth - np.where(landuse == URBAN, np.float32(1000.0), np.float32(0.0))
    zone2 = top_n(flexible, udb & ~zone3, n2)
    zones = np.where(udb, np.uint8(1), np.uint8(0))
    zones[zone2] = 2
    zones[zone3] = 3
    return zones


def draw_basic_farmland(
    spec: RegionSpec,
    g: _Grid,
    landuse: np.ndarray,
    districts: np.ndarray,
    udb: np.ndarray,
    erl: np.ndarray,
    ter: _Terrain,
    dist_urban: np.ndarray,
    noise: _Noise,
    site: Point,
) -> np.ndarray:
    """Permanent basic farmland on cropland only: large valley patches, gentle, away from
    the urban edge, outside the boundary and the red line, except one deliberate patch
    inside the boundary near ``site`` (the UDB × farmland conflict)."""
    crop = landuse == CROPLAND
    size = _patch_sizes(crop).astype(np.float32) * np.float32(g.cell_km2)
    score = size / (size + np.float32(5.0))  # saturates: a 50 km² field is not 10× better
    score += np.clip(dist_urban / np.float32(2000.0), 0.0, 1.0)
    score -= np.float32(3.0) * ter.tan
    score += np.float32(0.1) * noise.grid("farmland", 2.0, g)
    eligible = crop & ~udb & ~erl
    n_conflict = g.cells(spec.conflict_udb_pbf_km2)
    if n_conflict:
        inside = crop & udb & ~erl
        if inside.sum() < n_conflict:
            raise ValueError("too little cropland inside the boundary for the planned conflict")
        patch = _conflict_patch(inside, g, site, n_conflict)
        score[patch] = np.float32(100.0)
        eligible |= patch
    return _top_n_split(spec, g, score, eligible, spec.pbf_km2, districts, spec.central_pbf_km2)


def draw_control_lines(
    spec: RegionSpec,
    g: _Grid,
    udb: np.ndarray,
    districts: np.ndarray,
    landuse: np.ndarray,
    rivers: _RiverFields,
    dist_road: np.ndarray,
    noise: _Noise,
    centre: Point,
) -> np.ndarray | None:
    """The central city's four urban control lines, inside its boundary: blue along the
    rivers, purple at the historic site, yellow at infrastructure sites by the roads,
    green on the natural land and the riverside; one code per cell."""
    if not spec.control_lines:
        return None
    lines = {c.name: c for c in spec.control_lines}
    area = udb & np.isin(districts, spec.central_districts)
    out = np.zeros((g.ny, g.nx), np.uint8)
    blue = top_n(-rivers.dist_m, area, g.cells(lines["blue"].area_km2))
    out[blue] = lines["blue"].code
    free = area & (out == 0)
    site = spec.historic_site or centre
    old_town = free & (landuse == URBAN)
    n_purple = g.cells(lines["purple"].area_km2)
    purple = _nearest_cells(old_town if old_town.sum() >= n_purple else free, g, site, n_purple)
    out[purple] = lines["purple"].code
    _draw_yellow(g, out, area & (out == 0) & (dist_road <= 300.0), lines["yellow"], site)
    free = area & (out == 0)
    cover = np.zeros(256, np.float32)
    cover[[FOREST, GRASSLAND, BARE, WATER, CROPLAND]] = [2.0, 2.0, 2.0, 1.5, 1.0]
    green = cover[landuse] + np.float32(0.3) * noise.grid("green-line", 0.8, g)
    green += np.where(rivers.dist_m < rivers.half_width_m + 400.0, np.float32(1), np.float32(0))
    out[top_n(green, free, g.cells(lines["green"].area_km2))] = lines["green"].code
    out[landuse == NODATA_U8] = NODATA_U8
    return out


def _draw_yellow(g: _Grid, out: np.ndarray, free: np.ndarray, line: ControlLine, site: Point):
    """Four compact infrastructure sites by the roads, spread apart (farthest-point
    picking from the historic centre), together exactly the line's area."""
    n = g.cells(line.area_km2)
    rows, cols = np.nonzero(free)
    if rows.size < n:
        raise ValueError("too few cells by the roads in the central boundary for the yellow line")
    x = g.x_km()[cols]
    y = g.y_km()[rows]
    picked: list[Point] = []
    far = (x - site[0]) ** 2 + (y - site[1]) ** 2
    for _ in range(4):
        i = int(np.argmax(far))
        picked.append((float(x[i]), float(y[i])))
        far = np.minimum(far, (x - x[i]) ** 2 + (y - y[i]) ** 2)
    shares = [n // 4 + (1 if k < n % 4 else 0) for k in range(4)]
    for p, k in zip(picked, shares, strict=True):
        taken = _nearest_cells(free & (out == 0), g, p, k)
        out[taken] = line.code


# --------------------------------------------------------------------------- the pipeline


def _lowland(ter: _Terrain) -> np.ndarray:
    return (ter.lowness > -0.7) & (ter.tan < 0.1)


def _flatten_water(dem: np.ndarray, water: np.ndarray, rivers: _RiverFields) -> None:
    """Level water surfaces (in place): channels at the river level, every lake or pond
    at its lowest cell."""
    channel = water & (rivers.dist_m <= rivers.half_width_m + 1.0)
    dem[channel] = rivers.level_m[channel]
    lakes = water & ~channel
    labels, n = ndimage.label(lakes)
    lows = np.full(n + 1, np.inf, np.float32)
    inside = labels[lakes]
    np.minimum.at(lows, inside, dem[lakes])
    dem[lakes] = lows[inside]


def _slope_degrees(dem: np.ndarray, g: _Grid) -> np.ndarray:
    gy, gx = np.gradient(dem, np.float32(g.res_m))
    gx *= gx
    gy *= gy
    gx += gy
    del gy
    np.sqrt(gx, out=gx)
    np.arctan(gx, out=gx)
    return np.degrees(gx, out=gx)


def _float_layer(values: np.ndarray, valid: np.ndarray, step: float) -> np.ndarray:
    """float32 rounded to ``step`` (finer digits are noise and cost megabytes), -9999
    outside the region; in place, to spare a copy of a large grid."""
    assert values.dtype == np.float32
    values /= np.float32(step)
    np.rint(values, out=values)
    values *= np.float32(step)
    values[~valid] = NODATA_F32
    return values


def _u8_layer(mask_or_codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = mask_or_codes.astype(np.uint8)
    out[~valid] = NODATA_U8
    return out


# Finer digits than these are noise of the generator, and they would cost megabytes.
DEM_STEP_M = 1.0
SLOPE_STEP_DEG = 0.5
DISTANCE_STEP_M = 10.0


def make_region(spec: RegionSpec, resolution_m: float = 100.0, seed: int = 0) -> Region:
    """Generate a synthetic region on a grid of ``resolution_m`` metres.

    Deterministic: the same spec, resolution and seed give identical arrays. Areas of
    the classes and lines are exact in cells (area / cell area, rounded).
    """
    if not (10.0 <= resolution_m <= 5000.0):
        raise ValueError(f"resolution_m must be between 10 and 5000 m, got {resolution_m}")
    frame = _frame_for(spec)
    g = _make_grid(frame, float(resolution_m))
    noise = _Noise(int(seed), frame)

    valid = draw_outline(spec, g, noise)
    districts = draw_districts(spec, g, valid, noise, fit_district_weights(spec, frame, noise))
    rivers = carve_rivers(trace_rivers(spec, noise), g)
    dem, local = shape_terrain(spec, g, noise, rivers)
    ter = _Terrain.from_dem(dem, local, rivers, g)
    del dem, local
    rivers.valley_km = None  # only the terrain needed it; large grids need the memory

    settlements = place_settlements(spec, g, valid, districts, _lowland(ter), noise)
    dist_road = _distance_m(_rasterise_roads(draw_roads(settlements, noise), g), g)
    landuse, big_water = allocate_land_use(
        spec, g, valid, settlements, rivers, ter, dist_road, noise
    )
    ter.lowness = ter.above_river = None

    dist_urban = _distance_m(landuse == URBAN, g)
    lines = draw_planning_lines(
        spec, g, landuse, districts, settlements, rivers, ter, big_water, dist_road, dist_urban,
        noise,
    )  # fmt: skip
    del big_water
    _flatten_water(ter.dem, landuse == WATER, rivers)
    dem, ter = ter.dem, None
    del rivers
    slope = _slope_degrees(dem, g)
    hubs = np.zeros((g.ny, g.nx), bool)
    for s in settlements:
        if s.kind != "town":
            hubs[g.cell_of(s.at)] = True
    return Region(
        spec=spec,
        seed=int(seed),
        resolution_m=float(resolution_m),
        transform=(g.res_m, 0.0, frame.west * 1000.0, 0.0, -g.res_m, frame.north * 1000.0),
        crs=CRS,
        landuse=landuse,
        districts=districts,
        udb_zones=_u8_layer(lines.zones, valid),
        basic_farmland=_u8_layer(lines.pbf, valid),
        red_line=_u8_layer(lines.erl, valid),
        control_lines=lines.control,
        dem_m=_float_layer(dem, valid, DEM_STEP_M),
        slope_deg=_float_layer(slope, valid, SLOPE_STEP_DEG),
        dist_urban_m=_float_layer(dist_urban, valid, DISTANCE_STEP_M),
        dist_roads_m=_float_layer(dist_road, valid, DISTANCE_STEP_M),
        dist_centres_m=_float_layer(_distance_m(hubs, g), valid, DISTANCE_STEP_M),
        settlements=settlements,
    )


def allocate_land_use(
    spec: RegionSpec,
    g: _Grid,
    valid: np.ndarray,
    settlements: Sequence[Settlement],
    rivers: _RiverFields,
    ter: _Terrain,
    dist_road: np.ndarray,
    noise: _Noise,
) -> tuple[np.ndarray, np.ndarray]:
    """Class by class, each on the cells the earlier ones left: rivers and reservoirs,
    urban, ponds, hamlets, cropland, grassland, bare, forest. Returns (land use, the
    rivers and reservoirs)."""
    landuse = np.where(valid, np.uint8(0), np.uint8(NODATA_U8))
    big_water = allocate_rivers_and_reservoirs(spec, g, landuse == 0, rivers, ter)
    n_water = g.cells(_target(spec, WATER))
    if big_water.sum() > n_water:
        # Only on grids far coarser than the rivers (a 100 m channel fills a 1 km cell):
        # keep the water area exact, the widest channels first.
        big_water = top_n(rivers.half_width_m - rivers.dist_m, big_water, n_water)
    landuse[big_water] = WATER
    n_urban = g.cells(spec.urban_km2())
    landuse[allocate_urban(settlements, g, landuse == 0, ter, dist_road, noise, n_urban)] = URBAN
    n_ponds = n_water - int(big_water.sum())
    landuse[allocate_ponds(g, landuse == 0, ter, noise, n_ponds)] = WATER
    rural = allocate_rural(g, landuse == 0, ter, noise, g.cells(_target(spec, RURAL)))
    landuse[rural] = RURAL
    crop = allocate_cropland(g, landuse == 0, ter, noise, g.cells(_target(spec, CROPLAND)))
    landuse[crop] = CROPLAND
    allocate_grass_and_bare(spec, g, landuse, ter, noise)
    return landuse, big_water


@dataclass
class _Lines:
    zones: np.ndarray
    pbf: np.ndarray
    erl: np.ndarray
    control: np.ndarray | None


def draw_planning_lines(
    spec: RegionSpec,
    g: _Grid,
    landuse: np.ndarray,
    districts: np.ndarray,
    settlements: Sequence[Settlement],
    rivers: _RiverFields,
    ter: _Terrain,
    big_water: np.ndarray,
    dist_road: np.ndarray,
    dist_urban: np.ndarray,
    noise: _Noise,
) -> _Lines:
    """The red line first (ecology first), then the boundary outside it, then farmland
    outside both, as plans coordinate the three lines; then the deliberate conflicts and
    the central city's control lines."""
    centre = _centre_of(settlements, "centre")
    erl = draw_red_line(spec, g, landuse, districts, ter, big_water, rivers, dist_urban, noise)
    udb, growth = draw_development_boundary(spec, g, landuse, districts, erl, ter, dist_road, noise)
    udb = overlap_red_line(spec, g, udb, erl, growth, landuse, districts, centre)
    zones = zone_development_boundary(spec, udb, landuse, growth, erl, noise, g)
    del growth
    pbf = draw_basic_farmland(spec, g, landuse, districts, udb, erl, ter, dist_urban, noise, centre)
    control = draw_control_lines(spec, g, udb, districts, landuse, rivers, dist_road, noise, centre)
    return _Lines(zones, pbf, erl, control)


# --------------------------------------------------------------------------- summary and files


def region_summary(region: Region) -> dict[str, Any]:
    """Areas (km²) per class, line, zone and district, the conflicts, and the targets."""
    spec = region.spec
    ckm2 = region.cell_km2
    valid = region.valid
    lu = region.landuse
    udb = (region.udb_zones > 0) & valid
    pbf = region.basic_farmland == 1
    erl = region.red_line == 1
    urban = lu == URBAN

    def km2(mask: np.ndarray) -> float:
        return round(int(mask.sum()) * ckm2, 4)

    total = int(valid.sum())
    classes = [
        {
            "code": c.code,
            "name": c.name,
            "role": c.role,
            "km2": km2(lu == c.code),
            "share": round(int((lu == c.code).sum()) / total, 5),
            "target_km2": round(_target(spec, c.code), 4) if c.code != FOREST else None,
        }
        for c in spec.classes
    ]
    central = np.isin(region.districts, spec.central_districts)
    lines: dict[str, Any] = {
        "urban_development_boundary": {
            "km2": km2(udb),
            "target_km2": spec.udb_km2,
            "zones": {
                ZONE_NAMES[z]: {
                    "code": z,
                    "km2": km2(region.udb_zones == z),
                    "target_share": spec.udb_zone_shares[z - 1],
                }
                for z in (1, 2, 3)
            },
            "existing_urban_inside_share": round(int((urban & udb).sum()) / int(urban.sum()), 4),
            "non_urban_inside_km2": km2(udb & ~urban),
        },
        "permanent_basic_farmland": {
            "km2": km2(pbf),
            "target_km2": spec.pbf_km2,
            "share_of_cropland": round(int(pbf.sum()) / int((lu == CROPLAND).sum()), 4),
        },
        "ecological_red_line": {
            "km2": km2(erl),
            "target_km2": spec.erl_km2,
            "share_of_region": round(int(erl.sum()) / total, 5),
        },
    }
    if spec.central_udb_km2 is not None:
        lines["central_city"] = {
            "districts": [region.district_names[c] for c in spec.central_districts],
            "udb_km2": km2(udb & central),
            "udb_target_km2": spec.central_udb_km2,
            "urban_km2": km2(urban & central),
            "cropland_km2": km2((lu == CROPLAND) & central),
            "basic_farmland_km2": km2(pbf & central),
            "basic_farmland_target_km2": spec.central_pbf_km2,
            "red_line_km2": km2(erl & central),
            "red_line_target_km2": spec.central_erl_km2,
        }
    if spec.farmland_retention_km2 is not None:
        lines["farmland_retention_target"] = {
            "target_km2": spec.farmland_retention_km2,
            "cropland_km2": km2(lu == CROPLAND),
            "met": bool(km2(lu == CROPLAND) >= spec.farmland_retention_km2),
        }
    control = None
    if region.control_lines is not None:
        control = {
            f"{c.name} {c.name_zh}": {
                "code": c.code,
                "km2": km2(region.control_lines == c.code),
                "target_km2": c.area_km2,
            }
            for c in spec.control_lines
        }
    conflicts = {
        "note": "deliberate: so that a planning-conflict (三线冲突) check has something to find",
        "udb_and_basic_farmland_km2": km2(udb & pbf),
        "udb_and_basic_farmland_target_km2": spec.conflict_udb_pbf_km2,
        "udb_and_red_line_km2": km2(udb & erl),
        "udb_and_red_line_target_km2": spec.conflict_udb_erl_km2,
        "basic_farmland_and_red_line_km2": km2(pbf & erl),
    }
    districts = []
    for d in spec.districts:
        inside = region.districts == d.code
        districts.append(
            {
                "code": d.code,
                "name": d.name,
                "km2": km2(inside),
                "approximate_target_km2": round(d.area_km2 * spec.total_km2 / sum(
                    e.area_km2 for e in spec.districts), 2),
                "urban_km2": km2(inside & urban),
                "cropland_km2": km2(inside & (lu == CROPLAND)),
                "forest_km2": km2(inside & (lu == FOREST)),
                "udb_km2": km2(inside & udb),
                "basic_farmland_km2": km2(inside & pbf),
                "red_line_km2": km2(inside & erl),
            }
        )  # fmt: skip
    settlements = [
        {
            "name": s.name,
            "name_zh": s.name_zh,
            "kind": s.kind,
            "x_m": round(s.at[0] * 1000.0, 1),
            "y_m": round(s.at[1] * 1000.0, 1),
            "target_urban_km2": round(s.urban_km2, 3),
            "district": s.district,
        }
        for s in region.settlements
    ]
    valid_dem = region.dem_m[valid]
    return {
        "synthetic": True,
        "description": _description(region),
        "spec": spec.name,
        "name_zh": spec.name_zh,
        "seed": region.seed,
        "resolution_m": region.resolution_m,
        "crs": region.crs,
        "transform": list(region.transform),
        "width": int(lu.shape[1]),
        "height": int(lu.shape[0]),
        "start_year": spec.start_year,
        "cell_km2": ckm2,
        "region_km2": km2(valid),
        "region_target_km2": spec.total_km2,
        "plan_figures": list(spec.plan_figures),
        "plan_source": spec.plan_source,
        "classes": classes,
        "lines": lines,
        "control_lines": control,
        "conflicts": conflicts,
        "districts": districts,
        "settlements": settlements,
        "dem_m": {"min": float(valid_dem.min()), "max": float(valid_dem.max())},
    }


def _description(region: Region) -> str:
    return (
        f"SYNTHETIC {region.spec.name} ({region.spec.name_zh}) planning region generated by "
        f"landsim's generator (landsim.synthetic.region.make_region, spec {region.spec.name}, "
        f"seed {region.seed}, {region.resolution_m:g} m); not observed data and not the "
        "official plan's lines"
    )


def _layers(region: Region) -> list[tuple[str, np.ndarray, str]]:
    """(file name, array, what the values mean) of every raster written."""
    year = region.spec.start_year
    layers = [
        (f"landuse_{year}_synthetic.tif", region.landuse,
         "land use " + ", ".join(f"{c.code} {c.name}" for c in region.classes)),
        ("districts_synthetic.tif", region.districts,
         "district codes " + ", ".join(f"{c} {n}" for c, n in region.district_names.items())),
        ("urban_development_boundary_zones_synthetic.tif", region.udb_zones,
         "0 outside the boundary, " + ", ".join(f"{k} {v}" for k, v in ZONE_NAMES.items())),
        ("permanent_basic_farmland_synthetic.tif", region.basic_farmland,
         "1 permanent basic farmland 永久基本农田, 0 outside"),
        ("ecological_red_line_synthetic.tif", region.red_line,
         "1 ecological protection red line 生态保护红线, 0 outside"),
    ]  # fmt: skip
    if region.control_lines is not None:
        meaning = ", ".join(f"{c.code} {c.name} {c.name_zh}" for c in region.spec.control_lines)
        layers.append(
            ("urban_control_lines_synthetic.tif", region.control_lines, "0 none, " + meaning)
        )
    layers += [
        ("dem_m_synthetic.tif", region.dem_m, "elevation, m"),
        ("slope_deg_synthetic.tif", region.slope_deg, "slope from the DEM, degrees"),
        (f"dist_urban_{year}_m_synthetic.tif", region.dist_urban_m,
         f"Euclidean distance to {year} urban land (class {URBAN}), m"),
        ("dist_roads_m_synthetic.tif", region.dist_roads_m, "distance to the main roads, m"),
        ("dist_centres_m_synthetic.tif", region.dist_centres_m,
         "distance to the central city and the county seats, m"),
    ]  # fmt: skip
    return layers


def _atomic_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def _write_tif(path: Path, data: np.ndarray, region: Region, values: str) -> None:
    import rasterio
    from rasterio.transform import Affine

    is_float = data.dtype.kind == "f"
    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": region.crs,
        "transform": Affine(*region.transform),
        "nodata": NODATA_F32 if is_float else NODATA_U8,
        "compress": "deflate",
        "zlevel": 9,
        "predictor": 3 if is_float else 2,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    tmp = _atomic_path(path)
    try:
        with rasterio.open(tmp, "w", **profile) as ds:
            ds.write(data, 1)
            if data is region.landuse:
                cmap = {c.code: _rgb(c.color) for c in region.classes}
                cmap[NODATA_U8] = (0, 0, 0, 0)
                ds.write_colormap(1, cmap)
            ds.update_tags(
                synthetic="true",
                description=_description(region),
                spec=region.spec.name,
                seed=str(region.seed),
                resolution_m=f"{region.resolution_m:g}",
                values=values,
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _rgb(color: str) -> tuple[int, int, int, int]:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16), 255)


def _write_text(path: Path, text: str) -> None:
    tmp = _atomic_path(path)
    try:
        tmp.write_text(text, encoding="utf-8", newline="\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def udb_geojson(region: Region) -> dict[str, Any]:
    """The boundary's zones as EPSG:4326 polygons, one MultiPolygon feature per zone (a
    feature per patch would repeat its properties thousands of times), for testing
    vector input. Polygons follow the cell edges exactly (GDAL emits corners only) and
    keep 6 decimals (about 0.1 m), so rasterising them on the grid gives the raster again."""
    from rasterio.features import shapes
    from rasterio.transform import Affine
    from rasterio.warp import transform_geom

    zones = np.where(region.udb_zones == NODATA_U8, 0, region.udb_zones).astype(np.uint8)
    parts: dict[int, list[Any]] = {1: [], 2: [], 3: []}
    for geom, value in shapes(zones, mask=zones > 0, transform=Affine(*region.transform)):
        geo = transform_geom(region.crs, "EPSG:4326", geom, precision=6)
        parts[int(value)].append(geo["coordinates"])
    features = [
        {
            "type": "Feature",
            "properties": {"zone": zone, "zone_name": ZONE_NAMES[zone]},
            "geometry": {"type": "MultiPolygon", "coordinates": polygons},
        }
        for zone, polygons in parts.items()
        if polygons
    ]
    return {
        "type": "FeatureCollection",
        "name": f"{region.spec.name} urban development boundary zones (synthetic)",
        "synthetic": True,
        "description": _description(region),
        "features": features,
    }


def write_region(region: Region, out_dir: Path) -> list[Path]:
    """Write the GeoTIFFs, ``districts.csv``, ``region.json`` and the boundary GeoJSON.

    Each file is written under a temporary name and moved into place, so a reader never
    sees half a file. Returns the paths written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data, values in _layers(region):
        _write_tif(out_dir / name, data, region, values)
        written.append(out_dir / name)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["code", "name"])
    w.writerows(sorted(region.district_names.items()))
    _write_text(out_dir / "districts.csv", buf.getvalue())
    written.append(out_dir / "districts.csv")
    summary = region_summary(region)
    summary["files"] = [p.name for p in written] + [
        "region.json",
        "planning_lines_synthetic_epsg4326.geojson",
    ]
    _write_text(out_dir / "region.json", json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    written.append(out_dir / "region.json")
    geo = json.dumps(udb_geojson(region), ensure_ascii=False, separators=(",", ":"))
    _write_text(out_dir / "planning_lines_synthetic_epsg4326.geojson", geo + "\n")
    written.append(out_dir / "planning_lines_synthetic_epsg4326.geojson")
    return written


# --------------------------------------------------------------------------- the two specs


def _classes(
    cropland: float, grassland: float, water: float, rural: float, bare: float
) -> tuple[LandClass, ...]:
    # Colours as landsim's defaults per role, so maps look the same as its outputs.
    return (
        LandClass(CROPLAND, "cropland", "cropland", "#f5e07a", cropland),
        LandClass(FOREST, "forest", "forest", "#1a9641", None),
        LandClass(GRASSLAND, "grassland", "grassland", "#a6d96a", grassland),
        LandClass(WATER, "water", "water", "#2b83ba", water),
        LandClass(URBAN, "urban", "urban", "#d7191c", None),
        LandClass(RURAL, "rural_settlement", "construction", "#f07c4a", rural),
        LandClass(BARE, "bare", "bare", "#c8b49b", bare),
    )


HENGYANG = RegionSpec(
    name="hengyang",
    name_zh="衡阳市",
    start_year=2020,
    total_km2=15299.18,
    outline_centre=(645.0, 2965.0),
    outline=(
        (728.2, 2988.5), (709.8, 3021.4), (692.7, 3040.0), (672.9, 3043.0), (648.3, 3033.8),
        (626.5, 3036.9), (604.0, 3011.2), (584.3, 2992.3), (554.6, 2969.9), (574.7, 2940.1),
        (604.7, 2918.2), (642.0, 2887.5), (680.0, 2890.2), (714.6, 2910.7), (717.0, 2949.5),
    ),
    terrain=Terrain(
        floor_m=45.0, basin_centre=(655.0, 2962.0), basin_radius_km=75.0, rim_rise_m=150.0,
        hill_low_m=90.0, hill_high_m=650.0,
    ),
    classes=_classes(cropland=3800.0, grassland=760.0, water=690.0, rural=612.0, bare=90.0),
    rivers=(
        River("Xiang", "湘江",
              ((566.0, 2925.0), (579.7, 2930.2), (611.5, 2939.3), (637.4, 2945.1),
               (651.1, 2961.9), (657.4, 2974.7), (664.8, 2983.1), (678.4, 2998.8),
               (688.2, 3012.2), (692.8, 3032.3), (694.5, 3052.2)),
              width_m=450.0, valley_km=4.0, source_level_m=80.0, mouth_level_m=36.0),
        River("Zheng", "蒸水",
              ((585.0, 2997.0), (591.2, 2995.6), (619.0, 2990.3), (636.0, 2984.4),
               (648.9, 2980.1), (659.4, 2977.7)),
              width_m=150.0, valley_km=2.5, source_level_m=100.0, joins="Xiang"),
        River("Lei", "耒水",
              ((712.0, 2882.0), (708.0, 2888.4), (691.6, 2913.7), (686.5, 2924.1),
               (679.2, 2943.4), (671.0, 2963.2), (662.8, 2979.2)),
              width_m=250.0, valley_km=3.0, source_level_m=110.0, joins="Xiang"),
        River("Chongling", "舂陵水",
              ((628.0, 2885.2), (637.7, 2915.2), (642.6, 2926.3), (641.4, 2944.0)),
              width_m=120.0, valley_km=2.0, source_level_m=105.0, joins="Xiang"),
        River("Mi", "洣水",
              ((736.0, 2956.0), (733.8, 2957.6), (706.5, 2980.4), (691.3, 3002.3)),
              width_m=160.0, valley_km=2.5, source_level_m=95.0, joins="Xiang"),
        River("Qi", "祁水",
              ((561.6, 2964.4), (594.4, 2963.5), (614.4, 2958.2), (626.4, 2943.9)),
              width_m=80.0, valley_km=1.8, source_level_m=120.0, joins="Xiang"),
    ),
    mountains=(
        Mountain("Mount Heng", "衡山（南岳）", centre=(667.2, 3020.8), semi_axes_km=(13.0, 6.0),
                 azimuth_deg=20.0, peak_m=1290.0, foot_m=150.0, ruggedness=0.35, protected=True),
        Mountain("south-western hills", "合成丘陵（西南）", (594.7, 2925.9), (14.0, 9.0), 40.0,
                 peak_m=950.0, foot_m=250.0, ruggedness=0.5, protected=False),
        Mountain("southern hills", "合成丘陵（南）", (671.9, 2896.8), (12.0, 8.0), 60.0,
                 peak_m=900.0, foot_m=250.0, ruggedness=0.5, protected=False),
        Mountain("eastern hills", "合成丘陵（东）", (714.2, 2938.4), (10.0, 7.0), 10.0,
                 peak_m=800.0, foot_m=220.0, ruggedness=0.5, protected=False),
        Mountain("north-western hills", "合成丘陵（西北）", (610.8, 3020.2), (12.0, 8.0), 30.0,
                 peak_m=750.0, foot_m=220.0, ruggedness=0.5, protected=False),
        Mountain("north-eastern hills", "合成丘陵（东北）", (713.2, 2999.3), (9.0, 6.0), 0.0,
                 peak_m=700.0, foot_m=200.0, ruggedness=0.5, protected=False),
    ),
    reservoirs=(
        Reservoir("reservoir 1 (synthetic)", (620.8, 3015.8), 12.0, 7.0),
        Reservoir("reservoir 2 (synthetic)", (707.4, 2929.4), 10.0, 7.0),
        Reservoir("reservoir 3 (synthetic)", (587.6, 2949.1), 7.0, 6.0),
        Reservoir("reservoir 4 (synthetic)", (657.8, 2907.7), 8.0, 6.0),
        Reservoir("reservoir 5 (synthetic)", (703.0, 3015.8), 6.0, 5.0),
    ),
    settlements=(
        Settlement("Hengyang central city", "衡阳中心城区", "centre", (657.6, 2975.2), 150.0, None),
        Settlement("Xidu (Hengyang county)", "西渡镇", "county", (636.0, 2983.9), 20.0, 6),
        Settlement("Yunji (Hengnan county)", "云集街道", "county", (668.5, 2960.0), 16.0, 7),
        Settlement("Kaiyun (Hengshan county)", "开云镇", "county", (685.2, 3013.3), 12.0, 8),
        Settlement("Hengdong county seat", "衡东县城", "county", (693.4, 2996.8), 16.0, 9),
        Settlement("Hongqiao (Qidong county)", "洪桥街道", "county", (610.3, 2963.7), 22.0, 10),
        Settlement("Leiyang", "耒阳市区", "county", (685.5, 2923.5), 32.0, 11),
        Settlement("Changning", "常宁市区", "county", (639.6, 2923.0), 24.0, 12),
        Settlement("Nanyue", "南岳镇", "county", (670.3, 3015.3), 8.0, 5),
    ),
    districts=(
        District(1, "珠晖区", (665.0, 2977.0), 235.0),
        District(2, "雁峰区", (656.0, 2968.0), 102.0),
        District(3, "石鼓区", (659.0, 2984.0), 132.0),
        District(4, "蒸湘区", (649.0, 2977.0), 116.0),
        District(5, "南岳区", (667.2, 3020.0), 181.0, compact=True),
        District(6, "衡阳县", (625.0, 3003.0), 2558.0),
        District(7, "衡南县", (666.0, 2945.0), 2619.0),
        District(8, "衡山县", (688.0, 3025.0), 940.0),
        District(9, "衡东县", (706.0, 2993.0), 1926.0),
        District(10, "祁东县", (590.0, 2968.0), 1872.0),
        District(11, "耒阳市", (693.0, 2915.0), 2656.0),
        District(12, "常宁市", (625.0, 2915.0), 2046.0),
    ),
    towns=34,
    towns_urban_km2=88.0,
    town_spacing_km=8.0,
    central_districts=(1, 2, 3, 4),
    udb_km2=607.04,
    udb_zone_shares=(0.80, 0.15, 0.05),
    central_udb_km2=244.32,
    central_pbf_km2=52.2,
    central_erl_km2=4.59,
    pbf_km2=3173.7,
    erl_km2=1809.56,
    farmland_retention_km2=3505.4,
    conflict_udb_pbf_km2=2.0,
    conflict_udb_erl_km2=0.75,
    control_lines=(
        ControlLine(1, "green", "绿线", 18.25),
        ControlLine(2, "blue", "蓝线", 20.13),
        ControlLine(3, "purple", "紫线", 0.52),
        ControlLine(4, "yellow", "黄线", 3.26),
    ),
    historic_site=(659.6, 2977.0),
    plan_figures=(
        "total_km2", "udb_km2", "central_udb_km2", "central_pbf_km2", "central_erl_km2",
        "pbf_km2", "erl_km2",
        "farmland_retention_km2", "control_lines", "towns",
    ),
    plan_source=(
        "衡阳市国土空间总体规划（2021—2035年）, public edition (approved 2023-12-30): total "
        "area 15,299.18 km²; UDB 607.04 km² (central city 244.32 km²); permanent basic "
        "farmland 4.7606 million mu = 3,173.7 km²; red line 1,809.56 km²; farmland retention "
        "5.2581 million mu = 3,505.4 km²; central city green line 15.73 + 2.52 km², blue "
        "line 19.42 + 0.71 km², purple line 0.52 km², yellow line 2.81 + 0.45 km²; 1 "
        "regional centre, 8 county centres, 34 key towns"
    ),
)  # fmt: skip


ZHANGJIAJIE = RegionSpec(
    name="zhangjiajie",
    name_zh="张家界市",
    start_year=2020,
    total_km2=9534.0,
    outline_centre=(452.0, 3245.0),
    outline=(
        (532.0, 3257.9), (514.5, 3276.7), (490.3, 3287.8), (456.5, 3291.2), (432.4, 3296.8),
        (411.1, 3299.2), (391.6, 3280.5), (371.9, 3255.2), (388.2, 3230.7), (412.4, 3213.9),
        (436.6, 3194.9), (462.9, 3191.4), (490.3, 3213.5), (519.4, 3230.2),
    ),
    terrain=Terrain(
        floor_m=60.0, basin_centre=(463.0, 3229.0), basin_radius_km=40.0, rim_rise_m=450.0,
        hill_low_m=280.0, hill_high_m=760.0,
    ),
    classes=_classes(cropland=1200.0, grassland=880.0, water=190.0, rural=240.0, bare=110.0),
    rivers=(
        River("Li", "澧水",
              ((360.0, 3261.0), (366.2, 3259.7), (398.1, 3255.0), (418.5, 3252.0),
               (432.0, 3237.0), (449.4, 3221.9), (470.8, 3230.2), (495.1, 3249.0),
               (511.6, 3255.1), (538.8, 3260.1), (545.0, 3261.0)),
              width_m=180.0, valley_km=2.5, source_level_m=330.0, mouth_level_m=55.0),
        River("Lou", "溇水",
              ((430.4, 3301.3), (461.3, 3281.2), (485.5, 3271.1), (504.8, 3257.8),
               (509.7, 3255.6)),
              width_m=120.0, valley_km=2.0, source_level_m=420.0, joins="Li"),
        River("Suoxi", "索溪",
              ((440.0, 3246.5), (456.3, 3245.3), (468.9, 3239.1), (475.7, 3231.8)),
              width_m=60.0, valley_km=1.5, source_level_m=380.0, joins="Li"),
    ),
    mountains=(
        Mountain("Badagong Shan", "八大公山", (408.2, 3292.6), (15.0, 8.0), 70.0,
                 peak_m=1890.0, foot_m=500.0, ruggedness=0.4, protected=True),
        Mountain("Tianmen Shan", "天门山", (449.4, 3213.6), (6.0, 3.5), 80.0,
                 peak_m=1518.0, foot_m=250.0, ruggedness=0.5, protected=True),
        Mountain("Wulingyuan peaks", "武陵源", (449.0, 3254.5), (10.0, 6.0), 75.0,
                 peak_m=1260.0, foot_m=400.0, ruggedness=0.4, protected=True, pillars_m=260.0),
        Mountain("north-eastern ridges", "合成山地（东北）", (495.2, 3272.2), (12.0, 7.0), 50.0,
                 peak_m=1100.0, foot_m=300.0, ruggedness=0.5, protected=False),
        Mountain("western ridges", "合成山地（西）", (393.1, 3230.6), (12.0, 8.0), 20.0,
                 peak_m=1200.0, foot_m=350.0, ruggedness=0.5, protected=False),
        Mountain("southern ridges", "合成山地（南）", (470.8, 3202.5), (10.0, 6.0), 70.0,
                 peak_m=1000.0, foot_m=300.0, ruggedness=0.5, protected=False),
    ),
    reservoirs=(
        Reservoir("reservoir 1 (synthetic)", (480.6, 3274.5), 25.0, 10.0),
        Reservoir("reservoir 2 (synthetic)", (405.0, 3266.0), 8.0, 6.0),
        Reservoir("reservoir 3 (synthetic)", (485.4, 3221.3), 6.0, 5.0),
    ),
    settlements=(
        Settlement("Yongding (central city)", "永定城区", "centre", (449.3, 3221.5), 45.0, 1),
        Settlement("Wulingyuan", "武陵源城区", "county", (456.3, 3246.4), 7.0, 2),
        Settlement("Cili county seat", "慈利县城", "county", (511.7, 3255.6), 10.0, 3),
        Settlement("Sangzhi county seat", "桑植县城", "county", (418.8, 3252.5), 8.0, 4),
    ),
    districts=(
        District(1, "永定区", (449.3, 3221.5), 2174.0),
        District(2, "武陵源区", (450.0, 3250.0), 397.6, compact=True),
        District(3, "慈利县", (511.7, 3255.6), 3480.0),
        District(4, "桑植县", (418.8, 3252.5), 3474.0),
    ),
    towns=14,
    towns_urban_km2=20.0,
    town_spacing_km=8.0,
    central_districts=(),
    udb_km2=120.0,
    udb_zone_shares=(0.80, 0.15, 0.05),
    central_udb_km2=None,
    central_pbf_km2=None,
    central_erl_km2=None,
    pbf_km2=900.0,
    erl_km2=2964.15,
    farmland_retention_km2=None,
    conflict_udb_pbf_km2=1.2,
    conflict_udb_erl_km2=0.6,
    control_lines=(),
    historic_site=None,
    plan_figures=("erl_km2", "total_km2"),
    plan_source=(
        "newspaper account of the 张家界市国土空间总体规划（2020—2035年）: red line "
        "2,964.15 km², 31.09 % of the city's land (so about 9,534 km² in all); every other "
        "figure of this spec is an assumption"
    ),
)  # fmt: skip

SPECS = {s.name: s for s in (HENGYANG, ZHANGJIAJIE)}
