"""Demand for a multi-class run: cells per year, district and class.

Every method returns one :class:`ClassDemand`: ``cells[year, district, class]``, integer,
with year 0 equal to the start map's counts and every (year, district) summing to that
district's valid cells (the start map's cells that hold a class code, not nodata 255).
Float projections become integers by the largest-remainder method per (year, district)
(:func:`largest_remainder`), so the sums are exact; ties go to the class listed first.

Methods (formulas and refusals in ``docs/demand.md``):

- :func:`markov_demand`: the transition matrix between an earlier map and the start map,
  applied forward in steps of the interval between them; years between interpolated.
- :func:`trend_demand`: linear, log or exp curves fitted to class counts at several dates,
  anchored to the start counts.
- :func:`table_demand`: a CSV table of demands by year (and district), in cells, km² or ha.
- :func:`population_class_demand`: the urban class follows the population-driven urban
  demand; its gain is taken from the other classes.

:func:`check_sources` refuses a demand in which a growing class has no class it may be
converted from. Everything here is pure numpy on arrays: no scenario objects, and no file
reading but the demand table. Errors the user can cause are :class:`DemandError` (or
:class:`InputError` for an unreadable table) with one line: what, where, how to fix.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landsim.errors import DemandError, InputError

NODATA = 255
#: A district with fewer cells valid on both maps than this uses the whole-region matrix.
MIN_DISTRICT_CELLS = 100
CURVES = ("linear", "log", "exp")
UNITS = ("cells", "km2", "ha")
#: Table demands must add up to the valid area within this share (then rescaled exactly).
SUM_TOLERANCE = 0.001
#: A table row at the start year may differ from the start map by this share of the class.
START_TOLERANCE = 0.005


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True, eq=False)
class ClassDemand:
    """Cells each class must hold, per simulated year and district.

    ``years`` are consecutive and start at the start year; ``district_codes`` are sorted
    (``[0]`` alone without districts); ``class_codes`` follow the class table;
    ``cells[y, d, k]`` is int64, ``cells[0]`` is the start map's counts, and every
    ``cells[y, d]`` sums to district ``d``'s valid cells. ``details`` holds what was
    fitted and is JSON-serialisable. The arrays are read-only.
    """

    years: np.ndarray
    district_codes: np.ndarray
    class_codes: np.ndarray
    cells: np.ndarray
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        years, cells = self.years, self.cells
        n_y, n_d, n_k = len(years), len(self.district_codes), len(self.class_codes)
        # These are bugs in a constructor, not user errors: plain ValueError.
        if cells.dtype != np.int64 or cells.shape != (n_y, n_d, n_k):
            raise ValueError(f"cells must be int64[{n_y}, {n_d}, {n_k}], got {cells.shape}")
        if n_y < 1 or np.any(np.diff(years) != 1):
            raise ValueError(f"years must be consecutive, got {years.tolist()}")
        if np.any(np.diff(self.district_codes) <= 0):
            raise ValueError("district codes must be sorted and unique")
        if np.any(cells < 0):
            raise ValueError("a demand is negative")
        sums = cells.sum(axis=2)
        if np.any(sums != sums[0]):
            raise ValueError("the demands of a year do not sum to the valid cells")

    def at(self, year: int) -> np.ndarray:
        """``cells`` of one year: int64[n_districts, K]."""
        i = int(year) - int(self.years[0])
        if not 0 <= i < len(self.years):
            raise KeyError(f"{year} is outside {int(self.years[0])}..{int(self.years[-1])}")
        return self.cells[i]

    def to_rows(self) -> list[dict[str, int]]:
        """One row per year, district and class: ``year, district, class_code, cells``."""
        return [
            {"year": int(y), "district": int(d), "class_code": int(c), "cells": int(n)}
            for y, per_year in zip(self.years, self.cells, strict=True)
            for d, per_district in zip(self.district_codes, per_year, strict=True)
            for c, n in zip(self.class_codes, per_district, strict=True)
        ]


def largest_remainder(values: np.ndarray, totals: np.ndarray | int) -> np.ndarray:
    """Integers over the last axis of ``values`` that sum exactly to ``totals``.

    Each row (all axes but the last) is first scaled to its total, then floored; the
    cells still missing go one each to the largest remainders, ties to the lower index
    (the class listed first). ``values`` must be non-negative; a row whose values are
    all 0 must have total 0.
    """
    v = np.asarray(values, dtype=np.float64)
    t = np.broadcast_to(np.asarray(totals, dtype=np.int64), v.shape[:-1])
    if v.ndim == 0 or np.any(v < 0) or not np.all(np.isfinite(v)):
        raise ValueError("largest_remainder needs finite, non-negative values")
    flat = v.reshape(-1, v.shape[-1])
    tot = t.reshape(-1)
    s = flat.sum(axis=1)
    if np.any((s == 0) & (tot != 0)):
        raise ValueError("a row of zeros cannot sum to a positive total")
    # Divide first: v / s ≤ 1 cannot overflow however small s is.
    share = np.divide(flat, s[:, None], out=np.zeros_like(flat), where=s[:, None] > 0)
    scaled = share * tot[:, None]
    base = np.floor(scaled)
    frac = scaled - base
    out = base.astype(np.int64)
    missing = np.clip(tot - out.sum(axis=1), 0, flat.shape[1])
    # Stable sort of -frac: equal remainders keep class order.
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(flat.shape[1])[None, :], axis=1)
    out += rank < missing[:, None]
    if np.any(out.sum(axis=1) != tot):  # float slop larger than a cell: a bug
        raise ValueError("largest_remainder could not meet the totals")
    return out.reshape(v.shape)


def _bounded_remainder(x: np.ndarray, total: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integers in ``[lo, hi]`` summing to ``total``, nearest ``x`` by largest remainder.

    Without binding bounds this is exactly :func:`largest_remainder`: floor, then one
    cell each to the largest remainders (ties to the lower index).
    """
    y = np.clip(x, lo, hi)
    out = np.clip(np.floor(y), lo, hi).astype(np.int64)
    need = total - int(out.sum())
    while need > 0:
        room = np.flatnonzero(out < hi)
        order = room[np.argsort(-(x[room] - out[room]), kind="stable")][:need]
        if not len(order):
            raise ValueError("bounds leave no room for the total")
        out[order] += 1
        need -= len(order)
    while need < 0:
        room = np.flatnonzero(out > lo)
        order = room[np.argsort(x[room] - out[room], kind="stable")][:-need]
        if not len(order):
            raise ValueError("bounds leave no room for the total")
        out[order] -= 1
        need += len(order)
    return out


def _capped_sum(hi: np.ndarray, big: int) -> int:
    """Sum of upper bounds where ``big`` means none (and must not overflow)."""
    return big if np.any(hi >= big) else int(hi.sum())


def round_series(
    values: np.ndarray, totals: np.ndarray, upper: np.ndarray | None = None
) -> np.ndarray:
    """Integers for a series of projections: ``values[t, ..., K]`` → int64, same shape.

    Each row ``values[t, ...]`` becomes integers summing exactly to ``totals[t, ...]`` by
    the largest remainder, as :func:`largest_remainder` does, with one more rule: from
    year to year a class moves only in the direction its float projection moves (a class
    whose projection grows never loses a cell to rounding, a constant one keeps its
    cells). Rounding every year on its own can turn a steady decline into a one-cell gain
    (the Alabama paradox of apportionment), which would ask the allocation for a
    conversion nobody projected. The bounds always admit a solution when the rows sum to
    their totals; if float noise ever made them infeasible, that row is rounded without
    them. Row 0 is plain largest remainder. ``upper`` (shape ``values.shape[1:]``, the
    same every year) caps the integers of rows 1 onwards.
    """
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(totals, dtype=np.int64)
    first = largest_remainder(v[0], t[0])
    if len(v) == 1:
        return first[None]
    k = v.shape[-1]
    flat = v.reshape(len(v), -1, k)
    tot = t.reshape(len(v), -1)
    sums = flat.sum(axis=2)
    if np.any(flat < 0) or np.any((sums == 0) & (tot != 0)):
        raise ValueError("round_series needs non-negative rows, not all 0 for a positive total")
    scaled = (flat / np.where(sums > 0, sums, 1)[..., None]) * tot[..., None]
    out = np.empty(flat.shape, dtype=np.int64)
    out[0] = first.reshape(-1, k)
    big = np.iinfo(np.int64).max // 4
    cap = (
        np.full(flat.shape[1:], big, dtype=np.int64)
        if upper is None
        else np.broadcast_to(np.asarray(upper, dtype=np.int64), v.shape[1:]).reshape(-1, k)
    )
    for i in range(1, len(v)):
        for r in range(flat.shape[1]):
            x, prev, total = scaled[i, r], out[i - 1, r], int(tot[i, r])
            d = x - scaled[i - 1, r]
            eps = 1e-9 * max(1.0, float(total))
            lo = np.where(d > eps, prev, 0)
            hi = np.minimum(np.where(d < -eps, prev, big), cap[r])
            still = np.abs(d) <= eps
            lo[still] = np.minimum(prev[still], cap[r][still])
            hi[still] = lo[still]
            if np.any(lo > hi) or lo.sum() > total or _capped_sum(hi, big) < total:
                lo, hi = np.zeros(k, dtype=np.int64), cap[r]
            out[i, r] = _bounded_remainder(x, total, lo, hi)
    return out.reshape(v.shape)


# --------------------------------------------------------------------------- helpers


def _sub(key: str, name: str) -> str:
    """``[demand]`` + ``curve`` → ``[demand.curve]``."""
    if key.startswith("[") and key.endswith("]"):
        return f"{key[:-1]}.{name}]"
    return f"{key}.{name}"


def _n(x: float) -> str:
    """A count for a message: 1,234 or 1,234.5."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _check_years(start_year: int, end_year: int, key: str) -> None:
    if int(end_year) <= int(start_year):
        raise DemandError(
            f"{key} the run ends in {end_year}, not after its start year {start_year}; "
            "set an end year later than the start year"
        )


@dataclass(frozen=True)
class _Region:
    """The start map split into districts: class index and district index per cell."""

    class_codes: np.ndarray  # int64[K]
    lut: np.ndarray  # int64[256]: code → class index, -1 for nodata / unknown
    cls: np.ndarray  # int64 map: class index, -1 off the land
    dist: np.ndarray  # int64 map: district index (0 without districts)
    district_codes: np.ndarray
    counts: np.ndarray  # int64[n_d, K]

    @property
    def valid(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    @property
    def per_district(self) -> bool:
        return not (len(self.district_codes) == 1 and self.district_codes[0] == 0)

    def count(self, cls: np.ndarray) -> np.ndarray:
        """Cells per district and class of a class-index map on this grid."""
        ok = cls >= 0
        k = len(self.class_codes)
        flat = np.bincount(
            self.dist[ok] * k + cls[ok], minlength=len(self.district_codes) * k
        ).astype(np.int64)
        return flat.reshape(len(self.district_codes), k)


def _lut(class_codes: list[int]) -> np.ndarray:
    codes = [int(c) for c in class_codes]
    if not codes or len(set(codes)) != len(codes) or not all(0 <= c < NODATA for c in codes):
        raise ValueError(f"class codes must be unique and in 0..254, got {codes}")
    lut = np.full(256, -1, dtype=np.int64)
    lut[codes] = np.arange(len(codes))
    return lut


def _classify(landuse: np.ndarray, lut: np.ndarray, what: str, key: str) -> np.ndarray:
    """Class index per cell (-1 for nodata); refuses codes missing from the class table."""
    arr = np.asarray(landuse)
    if arr.dtype != np.uint8:
        raise DemandError(
            f"{key} {what} is {arr.dtype}, not a land-use map (uint8, nodata 255); "
            "read it with landsim.io.raster.read_landuse"
        )
    cls = lut[arr]
    unknown = (cls < 0) & (arr != NODATA)
    if unknown.any():
        codes = sorted(int(c) for c in np.unique(arr[unknown]))
        raise DemandError(
            f"{key} {what} holds codes {codes[:10]} that are not in the class table; add "
            "them to [[classes]] or recode the map"
        )
    return cls


def _region(
    start_map: np.ndarray, districts: np.ndarray | None, class_codes: list[int], key: str
) -> _Region:
    lut = _lut(class_codes)
    cls = _classify(start_map, lut, "the start map", key)
    valid = cls >= 0
    if not valid.any():
        raise DemandError(
            f"{key} the start map holds no cell with a class (all nodata); give the land-use "
            "map of the start year"
        )
    if districts is None:
        dist = np.zeros(cls.shape, dtype=np.int64)
        codes = np.zeros(1, dtype=np.int64)
    else:
        d = np.asarray(districts)
        if d.shape != cls.shape:
            raise DemandError(
                f"{key} the district layer is {_shape(d)} cells but the start map is "
                f"{_shape(cls)}; give districts on the land-use grid"
            )
        if not np.issubdtype(d.dtype, np.integer) or (d.size and d.min() < 0):
            raise DemandError(
                f"{key} district codes must be whole numbers ≥ 0 (0: none); read the layer "
                "with landsim.constraints.read_districts"
            )
        codes = np.unique(d[valid]).astype(np.int64)
        dist = np.searchsorted(codes, d).astype(np.int64)
        dist[~valid] = 0
    k = len(class_codes)
    counts = np.bincount(dist[valid] * k + cls[valid], minlength=len(codes) * k)
    return _Region(
        np.asarray([int(c) for c in class_codes], dtype=np.int64),
        lut,
        cls,
        dist,
        codes,
        counts.astype(np.int64).reshape(len(codes), k),
    )


def _shape(a: np.ndarray) -> str:
    return " × ".join(str(n) for n in a.shape)


def _finish(
    region: _Region,
    years: np.ndarray,
    values: np.ndarray,
    method: str,
    details: dict[str, Any],
) -> ClassDemand:
    """The one place every method builds its result: integerise, check, freeze.

    ``values`` are float or int ``[n_years, n_districts, K]``, non-negative. Each
    (year, district) is brought to the district's valid cells by the largest remainder
    (:func:`round_series`: a class never moves against its projection), and year 0 must
    come out as the start map's counts.
    """
    valid = region.valid
    if values.dtype.kind == "f":
        cells = round_series(values, np.broadcast_to(valid, values.shape[:2]))
    else:
        cells = values.astype(np.int64)
    if cells.shape != (len(years), len(region.district_codes), len(region.class_codes)):
        raise ValueError(f"{method}: demand of shape {cells.shape}")
    if np.any(cells < 0) or np.any(cells.sum(axis=2) != valid[None, :]):
        raise ValueError(f"{method}: demands do not sum to the valid cells")
    if not np.array_equal(cells[0], region.counts):
        raise ValueError(f"{method}: year 0 differs from the start map")
    arrays = [
        np.asarray(years, dtype=np.int64).copy(),
        region.district_codes.copy(),
        region.class_codes.copy(),
        cells,
    ]
    for a in arrays:
        a.setflags(write=False)
    return ClassDemand(*arrays, method=method, details=details)


def _years(start_year: int, end_year: int) -> np.ndarray:
    return np.arange(int(start_year), int(end_year) + 1, dtype=np.int64)


def _matrix(counts: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Row-normalised transition counts; an empty row (class absent) keeps itself."""
    rows = counts.sum(axis=1)
    p = np.divide(counts, rows[:, None], out=np.zeros(counts.shape), where=rows[:, None] > 0)
    empty = np.flatnonzero(rows == 0)
    p[empty, empty] = 1.0
    return p, empty.tolist()


# --------------------------------------------------------------------------- markov


def markov_demand(
    start_map: np.ndarray,
    earlier_map: np.ndarray,
    earlier_year: int,
    start_year: int,
    end_year: int,
    class_codes: list[int],
    districts: np.ndarray | None = None,
    *,
    key: str = "[demand]",
) -> ClassDemand:
    """Class demand from the transitions between an earlier map and the start map.

    ``P[i, j]`` is the share of the cells of class ``i`` in ``earlier_year`` (y0) that
    are class ``j`` in ``start_year`` (y1), counted over the cells valid on both maps; a
    class absent in y0 keeps itself (identity row). With the step ``s = y1 - y0``, the
    start counts ``x(y1)`` are projected as ``x(y1 + n·s) = x(y1) · Pⁿ``; a year between
    two multiples of ``s`` is the linear interpolation of the two. With districts, each
    district has its own matrix, except a district with fewer than
    :data:`MIN_DISTRICT_CELLS` cells valid on both maps, which uses the whole region's
    (``details["districts_using_region_matrix"]``). Matrices are in ``details`` with rows
    and columns in ``details["class_codes"]`` order.
    """
    _check_years(start_year, end_year, key)
    if int(earlier_year) >= int(start_year):
        raise DemandError(
            f"{key} the earlier map's year {earlier_year} is not before the start year "
            f"{start_year}; give a map observed before the start year"
        )
    region = _region(start_map, districts, class_codes, key)
    if np.shape(earlier_map) != region.cls.shape:
        raise DemandError(
            f"{key} the {earlier_year} map is {_shape(np.asarray(earlier_map))} cells but the "
            f"{start_year} start map is {_shape(region.cls)}; give both maps on the same grid"
        )
    before = _classify(earlier_map, region.lut, f"the {earlier_year} map", key)
    both = (before >= 0) & (region.cls >= 0)
    if not both.any():
        raise DemandError(
            f"{key} the {earlier_year} map and the {start_year} start map share no cell with "
            "a class; give an earlier map of the same area"
        )
    if not np.any(before[both] != region.cls[both]):
        raise DemandError(
            f"{key} no cell changes class between {earlier_year} and {start_year}, so the "
            "Markov chain would predict no change; use method 'trend' or 'table', or an "
            "earlier map"
        )
    k = len(region.class_codes)
    n_d = len(region.district_codes)
    pair = np.bincount(
        (region.dist[both] * k + before[both]) * k + region.cls[both], minlength=n_d * k * k
    ).reshape(n_d, k, k)
    region_counts = pair.sum(axis=0)
    p_region, absent = _matrix(region_counts)
    codes = region.class_codes.tolist()
    matrices = np.empty((n_d, k, k))
    district_details = []
    on_region = []
    for i, d in enumerate(region.district_codes.tolist()):
        compared = int(pair[i].sum())
        if region.per_district and compared >= MIN_DISTRICT_CELLS:
            matrices[i], own_absent = _matrix(pair[i])
            source = "own"
        else:
            matrices[i], own_absent = p_region, absent
            source = "region"
            if region.per_district:
                on_region.append(d)
        if region.per_district:
            district_details.append(
                {
                    "district": d,
                    "cells_compared": compared,
                    "matrix_source": source,
                    "matrix": matrices[i].tolist(),
                    "identity_rows": [codes[j] for j in own_absent],
                }
            )

    step = int(start_year) - int(earlier_year)
    years = _years(start_year, end_year)
    elapsed = years - int(start_year)
    n_max = int(elapsed[-1] // step) + 1
    powers = np.empty((n_max + 1, n_d, k))  # x(y1 + n·s) for n = 0..n_max
    powers[0] = region.counts
    for n in range(n_max):
        powers[n + 1] = np.einsum("dk,dkj->dj", powers[n], matrices)
    lo = elapsed // step
    w = ((elapsed % step) / step)[:, None, None]
    values = (1 - w) * powers[lo] + w * powers[lo + 1]
    np.clip(values, 0, None, out=values)  # -0.0 and float noise

    details = {
        "earlier_year": int(earlier_year),
        "start_year": int(start_year),
        "step_years": step,
        "class_codes": codes,
        "matrix": p_region.tolist(),
        "transition_cells": region_counts.tolist(),
        "identity_rows": [codes[j] for j in absent],
        "min_district_cells": MIN_DISTRICT_CELLS,
        "districts": district_details,
        "districts_using_region_matrix": on_region,
    }
    return _finish(region, years, values, "markov", details)


# --------------------------------------------------------------------------- trend


def _curves(curve: str | Mapping[int, str], codes: list[int], key: str) -> list[str]:
    where = _sub(key, "curve")
    if isinstance(curve, str):
        per_class = dict.fromkeys(codes, curve)
    elif isinstance(curve, Mapping):
        unknown = [c for c in curve if c not in codes]
        if unknown:
            raise DemandError(
                f"{where} names class codes {unknown} that are not in the class table "
                f"(codes: {codes}); key the curves by class code"
            )
        per_class = {c: curve.get(c, "linear") for c in codes}
    else:
        raise DemandError(f"{where} must be a curve name or a table by class code")
    for c, name in per_class.items():
        if name not in CURVES:
            hint = difflib.get_close_matches(str(name), CURVES, n=1)
            raise DemandError(
                f"{where} unknown curve {name!r}"
                + (f" for class {c}" if not isinstance(curve, str) else "")
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; use one of {', '.join(CURVES)}"
            )
    return [per_class[c] for c in codes]


def _fit(t: np.ndarray, y: np.ndarray, curve: str, t0: int) -> tuple[str, float, float, str]:
    """Least-squares fit; returns (curve used, a, b, note)."""
    note = ""
    if curve == "exp" and np.any(y <= 0):
        curve, note = "linear", "a count of 0 cannot be fitted in log space; fitted linear"
    if curve == "linear":
        x, target = t - t0, y
    elif curve == "log":
        x, target = np.log(t - t0 + 1.0), y
    else:
        x, target = t - t0, np.log(y)
    b, a = np.polyfit(x, target, 1)
    if curve == "linear":
        a -= b * t0  # report a + b·t
    elif curve == "exp":
        a = math.exp(a)
    return curve, float(a), float(b), note


def _curve_value(curve: str, a: float, b: float, t: np.ndarray, t0: int) -> np.ndarray:
    if curve == "linear":
        return a + b * t
    if curve == "log":
        return a + b * np.log(t - t0 + 1.0)
    return a * np.exp(b * (t - t0))


def _rescale_moving(p: np.ndarray, start: np.ndarray, valid: int) -> tuple[np.ndarray, str]:
    """Bring one (year, district) projection to ``valid`` cells; see trend_demand."""
    total = p.sum()
    if valid == 0:
        return np.zeros_like(p), "none"
    tol = 1e-9 * max(1.0, float(valid))
    if abs(total - valid) <= tol:
        return p, "none"
    moving = np.abs(p - start) > tol
    room = valid - start[~moving].sum()  # = start[moving].sum() ≥ 0
    have = p[moving].sum()
    if moving.any() and have > 0:
        out = start.astype(np.float64)
        out[moving] = p[moving] * (room / have)
        return out, "moving"
    if total > 0:
        return p * (valid / total), "all"
    return start.astype(np.float64), "start"


def trend_demand(
    maps: dict[int, np.ndarray],
    start_year: int,
    end_year: int,
    class_codes: list[int],
    districts: np.ndarray | None = None,
    curve: str | dict[int, str] = "linear",
    *,
    key: str = "[demand]",
) -> ClassDemand:
    """Class demand from curves fitted to the class counts of maps at several dates.

    ``maps[start_year]`` is the start map and the latest date. Per district and class the
    counts ``c(t)`` at the dates are fitted by least squares with ``linear``
    ``f(t) = a + b·t``, ``log`` ``f(t) = a + b·ln(t - t0 + 1)`` (``t0`` the first date) or
    ``exp`` ``f(t) = a·exp(b·(t - t0))`` (fitted as ``ln c`` linear in ``t``; a class
    with a count of 0 at some date falls back to linear, noted in ``details``). ``curve``
    is one name for all classes or a table by class code (classes left out: linear).
    The counts are taken over the cells that hold a class on every map (the footprint,
    ``details["footprint_cells"]`` per district), so a change of nodata between maps is
    not read as a trend.

    The projection is anchored to the observed start counts and carries only the fitted
    change: ``x(t) = x(start) + f(t) - f(start)``, clipped at 0. Then each (year,
    district) is rescaled to the district's valid cells. Only the *moving* classes
    (those whose projection differs from their start count) are scaled, by one factor,
    so a class without a trend keeps its area exactly; when the moving classes are all
    projected to 0, every class is scaled instead (``details["rescaled"]`` counts which
    rule each (year, district) needed). Coefficients are in ``details["fits"]``.
    """
    _check_years(start_year, end_year, key)
    dates = sorted(int(y) for y in maps)
    if len(dates) < 2:
        raise DemandError(
            f"{_sub(key, 'maps')} gives {len(dates)} map; a trend needs maps at 2 or more "
            "dates (the start map and earlier ones)"
        )
    if int(start_year) not in dates:
        raise DemandError(
            f"{_sub(key, 'maps')} has no map for the start year {start_year} (dates: "
            f"{dates}); add the start map at {start_year}"
        )
    if dates[-1] != int(start_year):
        raise DemandError(
            f"{_sub(key, 'maps')} has a map for {dates[-1]}, after the start year "
            f"{start_year}; the start map must be the latest date: drop later maps or start "
            "the run later"
        )
    codes = [int(c) for c in class_codes]
    curves = _curves(curve, codes, key)
    start_map = maps[int(start_year)]
    region = _region(start_map, districts, codes, key)
    for y in dates:
        if np.shape(maps[y]) != region.cls.shape:
            raise DemandError(
                f"{_sub(key, 'maps')} the {y} map is {_shape(np.asarray(maps[y]))} cells but "
                f"the {start_year} start map is {_shape(region.cls)}; give every map on the "
                "same grid"
            )
    per_date = [_classify(maps[y], region.lut, f"the {y} map", key) for y in dates]
    # Fit on the cells valid at every date, so that nodata moving between maps is not
    # read as a trend; the fitted change is then added to the full start counts.
    footprint = np.logical_and.reduce([c >= 0 for c in per_date])
    observed = np.stack([region.count(np.where(footprint, c, -1)) for c in per_date]).astype(
        np.float64
    )  # [date, district, class]

    t = np.asarray(dates, dtype=np.float64)
    t0 = dates[0]
    years = _years(start_year, end_year)
    n_d, k = region.counts.shape
    values = np.empty((len(years), n_d, k))
    fits = []
    for di, d in enumerate(region.district_codes.tolist()):
        for ki, c in enumerate(codes):
            used, a, b, note = _fit(t, observed[:, di, ki], curves[ki], t0)
            with np.errstate(over="ignore", invalid="ignore"):
                f = _curve_value(used, a, b, years.astype(np.float64), t0)
            change = f - f[0]
            if not np.all(np.isfinite(change)):
                raise DemandError(
                    f"{_sub(key, 'curve')} the {used} curve of class {c} overflows by "
                    f"{int(years[-1])} (b = {b:.3g}); use 'linear' or 'log' for it"
                )
            values[:, di, ki] = region.counts[di, ki] + change
            fit = {"district": d, "class_code": c, "curve": used, "a": a, "b": b}
            if note:
                fit["asked"] = curves[ki]
                fit["note"] = note
            fits.append(fit)
    np.clip(values, 0, None, out=values)
    rules = {"none": 0, "moving": 0, "all": 0, "start": 0}
    for yi in range(len(years)):
        for di in range(n_d):
            values[yi, di], rule = _rescale_moving(
                values[yi, di], region.counts[di], int(region.valid[di])
            )
            rules[rule] += 1

    details = {
        "dates": dates,
        "t0": t0,
        "class_codes": codes,
        "curves": dict(zip([str(c) for c in codes], curves, strict=True)),
        "footprint_cells": region.count(np.where(footprint, region.cls, -1)).sum(axis=1).tolist(),
        "observed_cells": [
            {"year": y, "district": d, "cells": observed[i, di].astype(int).tolist()}
            for i, y in enumerate(dates)
            for di, d in enumerate(region.district_codes.tolist())
        ],
        "fits": fits,
        "fallbacks": [f for f in fits if "note" in f],
        "rescaled": rules,
    }
    return _finish(region, years, values, "trend", details)


# --------------------------------------------------------------------------- table


def _resolve(
    text: str, names: dict[str, int], codes: set[int], what: str, where: str, fix: str
) -> int:
    """A class or district given by name or code → its code, or one line suggesting one."""
    if text in names:
        return names[text]
    folded = {n.casefold(): c for n, c in names.items()}
    if text.casefold() in folded:
        return folded[text.casefold()]
    try:
        code = int(text)
    except ValueError:
        code = None
    if code is not None and code in codes:
        return code
    choices = list(names) + [str(c) for c in sorted(codes)]
    hint = difflib.get_close_matches(text, choices, n=1)
    known = ", ".join(list(names)[:12]) or ", ".join(str(c) for c in sorted(codes)[:12])
    raise InputError(
        f"{where}: unknown {what} {text!r}"
        + (f" (did you mean {hint[0]!r}?)" if hint else "")
        + f"; {fix} (known: {known})"
    )


def _read_table(path: Path) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """Header (its line and fields) and data rows (with their line numbers) of a UTF-8 CSV."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: demand table not found; check [demand] path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the demand table ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")  # a spreadsheet's BOM is fine
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}, line {line}: not UTF-8 text (byte {exc.start}); save the table as CSV UTF-8"
        ) from None
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            if any(cells):
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise InputError(
            f"{path}, line {reader.line_num}: not a CSV row ({exc}); fix the quoting"
        ) from None
    if not rows:
        raise InputError(
            f"{path}: the demand table is empty; give a header 'year,class,value' (or "
            "'year,district,class,value') and one row per year and class"
        )
    return rows[0][0], [c.casefold() for c in rows[0][1]], rows[1:]


def table_demand(
    path: str | Path,
    start_map: np.ndarray,
    start_year: int,
    end_year: int,
    class_codes: list[int],
    class_names: list[str],
    districts: np.ndarray | None = None,
    district_names: dict[int, str] | None = None,
    unit: str = "cells",
    cell_area_km2: float | None = None,
    *,
    key: str = "[demand]",
) -> ClassDemand:
    """Class demand read from a CSV table of demands by year (and district).

    The header is ``year,class,value`` or, with districts, ``year,district,class,value``;
    a class is given by name or code, a district by code or name (``district_names``,
    code 0 for the cells outside every district). Values are in ``unit`` (cells, km2 or
    ha; km2 and ha need ``cell_area_km2``). Each table year must give every class, and
    per district its values must add up to the district's valid area within 0.1 %
    (they are then scaled to it exactly). The series runs from the start map's counts
    at the start year through the table years after it, linearly between them; rows
    before the start year are read and checked but not used; a row at the start year
    must agree with the start map within 0.5 % of each class (at least one cell).
    """
    path = Path(path)
    _check_years(start_year, end_year, key)
    if unit not in UNITS:
        raise DemandError(f"{_sub(key, 'unit')} unknown unit {unit!r}; use one of cells, km2, ha")
    if unit != "cells" and cell_area_km2 is None:
        raise DemandError(
            f"{_sub(key, 'unit')} '{unit}' needs the cell area, but the land-use grid is not "
            "in metres; reproject the land-use raster or give the table in cells"
        )
    per_cell = 1.0 if unit == "cells" else float(cell_area_km2) * (1.0 if unit == "km2" else 100)
    if len(class_names) != len(class_codes):
        raise ValueError("class_names and class_codes differ in length")
    region = _region(start_map, districts, class_codes, key)
    codes = region.class_codes.tolist()
    header_line, header, rows = _read_table(path)
    with_district = header == ["year", "district", "class", "value"]
    if header != ["year", "class", "value"] and not with_district:
        raise InputError(
            f"{path}, line {header_line}: header {','.join(header)!r} is not 'year,class,value' or "
            "'year,district,class,value'; fix the header"
        )
    if not rows:
        raise InputError(f"{path}: the demand table has a header but no rows; add the demands")
    if with_district and not region.per_district:
        raise InputError(
            f"{path}: the table has a district column but the run has no district layer; "
            "drop the column or give [districts]"
        )
    if region.per_district and not with_district:
        raise InputError(
            f"{path}: demand is per district but the table has no district column; use the "
            "header 'year,district,class,value' with rows for every district"
        )
    class_by_name = {str(n): int(c) for n, c in zip(class_names, codes, strict=True)}
    dnames = {str(v): int(c) for c, v in (district_names or {}).items()}
    present = set(region.district_codes.tolist())
    known_districts = present | set(dnames.values())
    k = len(codes)
    col = {name: i for i, name in enumerate(header)}
    # (district, year) → class index → (value in cells, line)
    table: dict[tuple[int, int], dict[int, tuple[float, int]]] = {}
    ignored_districts: set[int] = set()
    for line, row in rows:
        where = f"{path}, line {line}"
        if len(row) != len(header):
            raise InputError(
                f"{where}: {len(row)} fields, the header has {len(header)}; give {','.join(header)}"
            )
        try:
            year = int(row[col["year"]])
        except ValueError:
            raise InputError(
                f"{where}: year {row[col['year']]!r} is not a whole number; write it as 2030"
            ) from None
        d = 0
        if with_district:
            d = _resolve(
                row[col["district"]],
                dnames,
                known_districts,
                "district",
                where,
                "give a district code or name of the district layer",
            )
        ki = codes.index(
            _resolve(
                row[col["class"]],
                class_by_name,
                set(codes),
                "class",
                where,
                "give a class name or code of [[classes]]",
            )
        )
        text = row[col["value"]]
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            what = "negative" if value < 0 else "not a number"
            raise InputError(
                f"{where}: value {text!r} is {what}; give the demand as a number ≥ 0 in {unit}"
            )
        if d not in present:
            ignored_districts.add(d)  # named, but no valid cell on the start map
            continue
        entry = table.setdefault((d, year), {})
        if ki in entry:
            raise InputError(
                f"{where}: repeats year {year}"
                + (f", district {row[col['district']]}" if with_district else "")
                + f", class {class_names[ki]} (first on line {entry[ki][1]}); keep one row"
            )
        entry[ki] = (value / per_cell, line)

    def label(d: int) -> str:
        return f" (district {(district_names or {}).get(d, d)})" if region.per_district else ""

    start, end = int(start_year), int(end_year)
    years = _years(start, end)
    values = np.empty((len(years), len(present), k))  # every district is filled below
    details_rescaled = []
    ignored_years: set[int] = set()
    table_years: set[int] = set()
    for di, d in enumerate(region.district_codes.tolist()):
        given = sorted(y for dd, y in table if dd == d)
        if not given:
            raise InputError(
                f"{path}: no rows for district {(district_names or {}).get(d, d)} (code {d}); "
                "add its demands for every table year"
            )
        valid = int(region.valid[di])
        points = {start: region.counts[di].astype(np.float64)}
        for y in given:
            entry = table[(d, y)]
            lines = sorted(line for _, line in entry.values())
            missing = [class_names[i] for i in range(k) if i not in entry]
            if missing:
                raise InputError(
                    f"{path}: year {y}{label(d)} has no row for class "
                    f"{', '.join(missing)} (lines {lines[0]}..{lines[-1]}); give every class "
                    "at every year"
                )
            v = np.array([entry[i][0] for i in range(k)])
            total = float(v.sum())
            if y < start:
                ignored_years.add(y)
                continue
            table_years.add(y)
            if abs(total - valid) > SUM_TOLERANCE * valid or (valid == 0 and total > 0):
                in_unit = "" if unit == "cells" else f" ({_n(total * per_cell)} {unit})"
                raise DemandError(
                    f"{path}: demands for {y}{label(d)} sum to {_n(total)} cells{in_unit} but "
                    f"the valid area is {valid:,} cells (lines {lines[0]}..{lines[-1]}); "
                    "they must agree within 0.1 %: fix the table"
                )
            if y == start:
                obs = region.counts[di]
                off = np.abs(v - obs) > np.maximum(START_TOLERANCE * obs, 1.0)
                if off.any():
                    i = int(np.flatnonzero(off)[0])
                    raise DemandError(
                        f"{path}, line {entry[i][1]}: the table gives {_n(v[i])} cells of "
                        f"{class_names[i]} in the start year {y}{label(d)} but the start map "
                        f"holds {int(obs[i]):,} (observed vs table differ by more than 0.5 %); "
                        "fix the table or drop the start-year rows"
                    )
                continue
            if total != valid:
                details_rescaled.append(
                    {"year": y, "district": d, "table_cells": total, "valid_cells": valid}
                )
            points[y] = v * (valid / total) if total > 0 else v
        if max(points) < end:
            raise DemandError(
                f"{path}: the table ends in {max(given)}{label(d)} but the run goes "
                f"to {end}; add rows for {end}"
            )
        known = sorted(points)
        series = np.stack([points[y] for y in known])
        for ki in range(k):
            values[:, di, ki] = np.interp(years, known, series[:, ki])

    details = {
        "path": str(path),
        "unit": unit,
        "cell_area_km2": None if cell_area_km2 is None else float(cell_area_km2),
        "table_years": sorted(table_years),
        "ignored_years_before_start": sorted(ignored_years),
        "ignored_districts_without_cells": sorted(ignored_districts),
        "rescaled": details_rescaled,
    }
    return _finish(region, years, values, "table", details)


# --------------------------------------------------------------------------- population


def _fill(need: int, available: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Take ``need`` cells from sources by weight; a source that runs out is capped at what
    it holds and the rest is shared among the others by their weights."""
    take = np.zeros(len(available))
    active = (weights > 0) & (available > 0)
    rest = float(need)
    while rest > 1e-9 and active.any():
        share = rest * np.where(active, weights, 0) / weights[active].sum()
        over = active & (share >= available - take)
        if not over.any():
            take += share
            break
        rest -= float((available - take)[over].sum())
        take[over] = available[over]
        active &= ~over
    return np.minimum(take, available)


def population_class_demand(
    start_map: np.ndarray,
    urban_cells_by_year: np.ndarray | Mapping[int, int],
    class_codes: list[int],
    urban_code: int,
    districts: np.ndarray | None = None,
    *,
    start_year: int | None = None,
    shares: str | dict[int, float] = "proportional",
    fixed: set[int] | frozenset[int] = frozenset(),
    key: str = "[demand]",
) -> ClassDemand:
    """Class demand in which the urban class follows a population-driven series.

    ``urban_cells_by_year`` is the whole region's urban cells per year from the start
    year (what ``landsim.demand.urban_demand`` returns: a ``{year: cells}`` dict, or an
    int64 array with ``start_year``); its first value must be the start map's urban
    cells. With districts, each year's urban gain is split between the districts in
    proportion to their start urban cells (by valid cells when the start map has no
    urban cell), in whole cells by the largest remainder, so the districts add up to the
    series exactly. In each district the gain is taken from the source classes: all
    classes but urban and ``fixed`` in proportion to their start cells
    (``shares="proportional"``), or by the given ``{class code: share}`` (shares sum to
    1; classes not named give nothing). A source that runs out gives what it holds and
    the rest comes from the others by their shares. ``fixed`` classes (water) keep their
    start cells. A year whose urban gain exceeds what a district's sources hold is refused,
    as is urban demand below the start map's urban cells (urban land does not revert).
    """
    codes = [int(c) for c in class_codes]
    if isinstance(urban_cells_by_year, Mapping):
        ys = sorted(int(y) for y in urban_cells_by_year)
        if start_year is not None and ys and ys[0] != int(start_year):
            raise DemandError(
                f"{key} the urban demand starts in {ys[0]}, not the start year {start_year}; "
                "give urban cells from the start year on"
            )
        if not ys or ys != list(range(ys[0], ys[0] + len(ys))):
            raise DemandError(
                f"{key} the urban demand must give every year from the start year on "
                f"(years: {ys[:5]}); interpolate it with landsim.demand.urban_demand"
            )
        series = np.array([urban_cells_by_year[y] for y in ys], dtype=np.int64)
        first = ys[0]
    else:
        if start_year is None:
            raise TypeError("start_year is needed when urban_cells_by_year is an array")
        series = np.asarray(urban_cells_by_year, dtype=np.int64).reshape(-1)
        first = int(start_year)
    _check_years(first, first + len(series) - 1, key)
    if urban_code not in codes:
        raise DemandError(
            f"{key} the urban class code {urban_code} is not in the class table (codes: "
            f"{codes}); give the role 'urban' to one class"
        )
    fixed_codes = sorted(int(c) for c in fixed)
    bad = [c for c in fixed_codes if c not in codes or c == urban_code]
    if bad:
        raise DemandError(
            f"{_sub(key, 'fixed')} codes {bad} are not non-urban classes of the class table "
            f"(codes: {codes}); list classes that keep their area, such as water"
        )
    u = codes.index(urban_code)
    is_fixed = np.array([c in fixed_codes for c in codes])
    where_shares = _sub(key, "shares")
    if isinstance(shares, str):
        if shares != "proportional":
            raise DemandError(
                f"{where_shares} unknown value {shares!r}; use 'proportional' or a table of "
                "shares by class code that sums to 1"
            )
        weights = None
    else:
        wrong = [c for c in shares if c not in codes or c == urban_code or c in fixed_codes]
        if wrong:
            raise DemandError(
                f"{where_shares} names {wrong}, which are not source classes (the class "
                "table's codes other than urban and fixed); key the shares by class code"
            )
        vals = [float(v) for v in shares.values()]
        if not all(math.isfinite(v) and v >= 0 for v in vals) or abs(sum(vals) - 1) > 1e-6:
            raise DemandError(
                f"{where_shares} shares must be ≥ 0 and sum to 1, they sum to {sum(vals):g}; "
                "fix the shares"
            )
        weights = np.array([float(shares.get(c, 0.0)) for c in codes])

    region = _region(start_map, districts, codes, key)
    start_urban = int(region.counts[:, u].sum())
    if series[0] != start_urban:
        raise DemandError(
            f"{key} the urban demand is {int(series[0]):,} cells in {first} but the start map "
            f"holds {start_urban:,} urban cells; anchor the urban demand to the start map"
        )
    below = np.flatnonzero(series < start_urban)
    if below.size:
        i = int(below[0])
        raise DemandError(
            f"{key} urban demand falls to {int(series[i]):,} cells in {first + i}, below the "
            f"{start_urban:,} urban cells of the start map; urban land does not revert, so "
            "demand must not fall below the start"
        )
    gain = series - start_urban
    if start_urban > 0:
        basis, split = "start urban cells", region.counts[:, u].astype(np.float64)
    else:
        basis, split = "valid cells", region.valid.astype(np.float64)
    n_d, k = region.counts.shape
    gains = round_series(np.broadcast_to(split, (len(gain), n_d)), gain)
    source = ~is_fixed
    source[u] = False
    years = _years(first, first + len(series) - 1)
    cells = np.empty((len(years), n_d, k), dtype=np.int64)
    exhausted = []
    for di, d in enumerate(region.district_codes.tolist()):
        start = region.counts[di]
        w = (start * source).astype(np.float64) if weights is None else weights
        can_give = int(start[source & (w > 0)].sum())
        takes = np.zeros((len(years), k))
        for yi in range(1, len(years)):
            g = int(gains[yi, di])
            if g > can_give:
                where = f" in district {d}" if region.per_district else ""
                raise DemandError(
                    f"{key} urban demand in {int(years[yi])}{where} needs {g:,} new urban cells "
                    f"but the source classes hold {can_give:,}; lower the urban demand, or let "
                    f"more classes give land ({where_shares}, {_sub(key, 'fixed')})"
                )
            takes[yi] = _fill(g, start.astype(np.float64) * source, w)
        taken = round_series(takes, gains[:, di], upper=start * source)
        cells[:, di] = start - taken
        cells[:, di, u] = start[u] + gains[:, di]
        for yi in range(1, len(years)):
            full = [codes[i] for i in np.flatnonzero(source & (taken[yi] == start) & (start > 0))]
            if weights is not None and full:
                exhausted.append({"year": int(years[yi]), "district": d, "classes": full})

    details = {
        "urban_code": int(urban_code),
        "urban_cells": series.tolist(),
        "fixed": fixed_codes,
        "shares": (
            "proportional" if weights is None else {str(c): float(v) for c, v in shares.items()}
        ),
        "district_split": {"basis": basis, "urban_gain_by_district": gains.tolist()},
        "sources_exhausted": exhausted,
    }
    return _finish(region, years, cells, "population", details)


# --------------------------------------------------------------------------- checks


def hold_fixed(demand: ClassDemand, fixed: set[int] | frozenset[int]) -> ClassDemand:
    """The same demand with the classes in ``fixed`` (codes) held at their start counts.

    What they would have gained or lost is spread over the other classes in proportion
    to their projected cells, year by year and district by district, then rounded as
    every method is (:func:`round_series`). Use it when a projection moves a class the
    plan protects: a Markov chain of observed change may fill lakes that the scenario's
    rules keep, and the allocation could not meet it.
    """
    codes = [int(c) for c in demand.class_codes]
    idx = [i for i, c in enumerate(codes) if c in fixed]
    if not idx:
        return demand
    v = demand.cells.astype(np.float64)
    start = v[0]
    valid = demand.cells[0].sum(axis=1)
    held = start[:, idx]
    v[:, :, idx] = held[None]
    others = np.ones(len(codes), dtype=bool)
    others[idx] = False
    rest = v[:, :, others]
    room = (valid - held.sum(axis=1)).astype(np.float64)
    total = rest.sum(axis=2)
    v[:, :, others] = (
        rest * np.where(total > 0, room[None] / np.where(total > 0, total, 1), 0)[..., None]
    )
    cells = round_series(v, np.broadcast_to(valid, v.shape[:2]))
    for a in (cells,):
        a.setflags(write=False)
    details = dict(demand.details)
    details["held_at_start"] = sorted(int(codes[i]) for i in idx)
    return ClassDemand(
        demand.years, demand.district_codes, demand.class_codes, cells, demand.method, details
    )


def check_sources(
    demand: ClassDemand,
    allowed: np.ndarray,
    class_names: list[str],
    *,
    key: str = "[conversion]",
) -> None:
    """Refuse a demand in which a growing class cannot be fed by the allowed conversions.

    For each year step and district, a class whose demand grows must be reachable from a
    class whose demand shrinks along allowed conversions (``allowed[i, j]``: class ``i``
    may become ``j``): directly, or through classes that hold cells in the year before
    (a cell of the middle class converts on and is replaced from the shrinking one). Net
    flows between classes always run along such paths, so without one the demand cannot
    be met. Capacities are not checked. Returns None; raises :class:`DemandError`.
    """
    k = len(demand.class_codes)
    ok = np.array(allowed, dtype=bool)
    if ok.shape != (k, k) or len(class_names) != k:
        raise ValueError(f"allowed must be bool[{k}, {k}] and class_names {k} long")
    np.fill_diagonal(ok, False)
    per_district = not (len(demand.district_codes) == 1 and demand.district_codes[0] == 0)
    for yi in range(1, len(demand.years)):
        before = demand.cells[yi - 1]
        delta = demand.cells[yi] - before
        for di, d in enumerate(demand.district_codes.tolist()):
            growing = delta[di] > 0
            if not growing.any():
                continue
            carriers = delta[di] < 0
            has_cells = before[di] > 0
            reached = np.zeros(k, dtype=bool)
            while True:
                reached = ok[carriers].any(axis=0)
                more = carriers | (reached & has_cells)
                if np.array_equal(more, carriers):
                    break
                carriers = more
            unfed = np.flatnonzero(growing & ~reached)
            if unfed.size:
                j = int(unfed[0])
                shrinking = [class_names[i] for i in np.flatnonzero(delta[di] < 0)]
                where = f" (district {d})" if per_district else ""
                raise DemandError(
                    f"class {class_names[j]} grows by {int(delta[di, j]):,} cells in "
                    f"{int(demand.years[yi])}{where} but no shrinking class "
                    f"({', '.join(shrinking)}) may convert to it, directly or through a class "
                    f"with cells; allow a source in {key} allowed"
                )
