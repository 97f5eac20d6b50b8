"""Accuracy of a simulated land-use map against the observed one.

Three maps of one grid are compared: the initial map, the observed map of a later date
and the simulated map of that date. Maps hold uint8 class codes, 255 is nodata. A cell is
*scored* where the optional ``mask`` is true and no map is nodata; every count below is
over the scored cells only. Definitions and references: ``docs/metrics.md``.

Every metric is read off one contingency table (a ``bincount`` of the class indices of the
maps), so a 3000 × 3000 grid costs a few passes over the cells and no Python loop over
them. Landscape metrics label patches with :func:`scipy.ndimage.label`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from landsim.errors import GridMismatchError, InputError

__all__ = [
    "NODATA",
    "FigureOfMerit",
    "accuracy",
    "agreement_by_resolution",
    "assess_maps",
    "disagreement",
    "figure_of_merit",
    "kappa_simulation",
    "landscape_metrics",
    "lee_sallee",
]

NODATA = 255
DEFAULT_FACTORS = (1, 2, 4, 8, 16, 32)

# 8-connectivity, as FRAGSTATS' default patch rule and SLEUTH's clusters.
_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class FigureOfMerit:
    """Pontius' change-aware counts of a simulated change, in scored cells."""

    a: int  # misses: observed change simulated as persistence
    b: int  # hits: observed change simulated as change to the observed class
    c: int  # wrong hits: observed change simulated as change to another class
    d: int  # false alarms: observed persistence simulated as change
    fom: float  # B / (A + B + C + D); nan if the denominator is 0
    producers: float  # B / (A + B + C)
    users: float  # B / (B + C + D)

    def as_dict(self) -> dict[str, float | int]:
        """The counts and ratios by field name (nan kept)."""
        return {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "d": self.d,
            "fom": self.fom,
            "producers": self.producers,
            "users": self.users,
        }


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Indexed:
    """Maps turned into class indices 0..k-1; every unscored cell holds k in every map."""

    maps: tuple[NDArray[np.uint16], ...]
    codes: tuple[int, ...]
    n: int  # scored cells

    @property
    def k(self) -> int:
        return len(self.codes)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def _as_map(name: str, value: ArrayLike) -> NDArray[Any]:
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise InputError(f"{name}: a map must be 2-D, got shape {arr.shape}")
    if arr.dtype != np.bool_ and not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"{name}: class codes must be integers (uint8, 255 = nodata), got {arr.dtype}"
        )
    return arr


def _check_grid(named: Mapping[str, NDArray[Any] | None]) -> None:
    shapes = {name: arr.shape for name, arr in named.items() if arr is not None}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise GridMismatchError(f"maps differ in shape: {listed}; all must be on one grid")


def _class_codes(classes: Sequence[int] | Mapping[int, str]) -> tuple[int, ...]:
    codes = tuple(int(c) for c in classes)
    if not codes:
        raise InputError("classes: at least one class code is needed")
    bad = sorted({c for c in codes if not 0 <= c < NODATA})
    if bad:
        raise InputError(f"classes: codes must lie in 0..254 (255 is nodata), got {bad}")
    if len(set(codes)) != len(codes):
        dup = sorted({c for c in codes if codes.count(c) > 1})
        raise InputError(f"classes: codes {dup} are listed more than once")
    return codes


def _index(
    named: Mapping[str, ArrayLike],
    codes: Sequence[int] | None,
    mask: ArrayLike | None,
) -> _Indexed:
    """Check the maps and turn them into class indices; ``codes=None``: the codes present."""
    maps = {name: _as_map(name, value) for name, value in named.items()}
    mask_arr = None if mask is None else np.asarray(mask, dtype=bool)
    _check_grid({**maps, "mask": mask_arr})

    # Codes outside 0..255 (wider dtypes) cannot be looked up; they count as unknown codes.
    small: dict[str, NDArray[np.uint8]] = {}
    outside: dict[str, NDArray[np.bool_] | None] = {}
    for name, arr in maps.items():
        if arr.dtype == np.uint8:
            small[name], outside[name] = arr, None
        else:
            out = (arr < 0) | (arr > NODATA)
            small[name] = np.where(out, 0, arr).astype(np.uint8)
            outside[name] = out if out.any() else None

    auto = codes is None
    if codes is None:
        present = np.zeros(NODATA + 1, dtype=bool)
        for arr in small.values():
            present |= np.bincount(arr.ravel(), minlength=NODATA + 1) > 0
        present[NODATA] = False
        codes = tuple(int(c) for c in np.flatnonzero(present))
    k = len(codes)
    unknown = k + 1
    # uint16 so that 255 classes plus the two sentinels fit.
    lut = np.full(NODATA + 1, unknown, dtype=np.uint16)
    lut[list(codes)] = np.arange(k, dtype=np.uint16)
    lut[NODATA] = k

    idx: dict[str, NDArray[np.uint16]] = {}
    shape = next(iter(small.values())).shape
    scored = np.ones(shape, dtype=bool) if mask_arr is None else mask_arr.copy()
    for name, arr in small.items():
        m = lut[arr]
        if outside[name] is not None:
            m[outside[name]] = unknown
        idx[name] = m
        scored &= m != k

    # Only scored cells are checked: a class masked out (water) need not be in the table.
    bad_codes: dict[str, list[int]] = {}
    for name, m in idx.items():
        bad = (m == unknown) & scored
        if bad.any():
            bad_codes[name] = sorted(int(v) for v in np.unique(maps[name][bad]))
    if bad_codes:
        listed = "; ".join(f"{name}: {v}" for name, v in bad_codes.items())
        if auto:
            raise InputError(f"class codes must lie in 0..255 (255 = nodata), got {listed}")
        raise InputError(
            f"class codes not in classes {list(codes)}: {listed}; add them to the class "
            f"table, set them to {NODATA} (nodata) or mask them out"
        )

    outside_scored = ~scored
    for m in idx.values():
        m[outside_scored] = k
    return _Indexed(tuple(idx.values()), tuple(codes), int(np.count_nonzero(scored)))


def _table(ix: _Indexed) -> NDArray[np.int64]:
    """Counts of every combination of classes over the scored cells (shape k, k, ...)."""
    base = ix.k + 1
    key = ix.maps[0].astype(np.intp)
    for m in ix.maps[1:]:
        key *= base
        key += m
    counts = np.bincount(key.ravel(), minlength=base ** len(ix.maps))
    # The sentinel row of each axis holds the unscored cells; drop it.
    return counts.reshape((base,) * len(ix.maps))[(slice(0, ix.k),) * len(ix.maps)]


# --------------------------------------------------------------------- figure of merit


def _fom(a: int, b: int, c: int, d: int) -> FigureOfMerit:
    return FigureOfMerit(
        a=a,
        b=b,
        c=c,
        d=d,
        fom=_ratio(b, a + b + c + d),
        producers=_ratio(b, a + b + c),
        users=_ratio(b, b + c + d),
    )


def _fom_all(t: NDArray[np.int64]) -> FigureOfMerit:
    """Multi-class FoM from the table t[initial, observed, simulated]."""
    k = t.shape[0]
    j = np.arange(k)
    i_idx, o_idx, s_idx = np.meshgrid(j, j, j, indexing="ij")
    changed = i_idx != o_idx
    a = t[changed & (s_idx == i_idx)].sum()
    b = t[changed & (s_idx == o_idx)].sum()
    c = t[changed & (s_idx != i_idx) & (s_idx != o_idx)].sum()
    d = t[~changed & (s_idx != i_idx)].sum()
    return _fom(int(a), int(b), int(c), int(d))


def _fom_gain(t: NDArray[np.int64], g: int) -> FigureOfMerit:
    """FoM of the gains of class index g: a binary change, so C is always 0."""
    rest = np.arange(t.shape[0]) != g
    sub = t[rest]  # cells that were not g initially
    obs = sub[:, g, :].sum(axis=0)  # ... and are g observed, by simulated class
    b = int(obs[g])
    a = int(obs.sum()) - b
    d = int(sub[:, :, g].sum()) - b
    return _fom(a, b, 0, d)


def figure_of_merit(
    initial: ArrayLike,
    observed: ArrayLike,
    simulated: ArrayLike,
    *,
    target: int | None = None,
    mask: ArrayLike | None = None,
) -> FigureOfMerit:
    """Pontius' figure of merit of the simulated change (A, B, C, D and the three ratios).

    ``target=None``: any change of class counts (multi-class FoM). ``target=k``: the gains
    of class k only (change = not k initially, k later).
    """
    ix = _index({"initial": initial, "observed": observed, "simulated": simulated}, None, mask)
    t = _table(ix)
    if target is None:
        return _fom_all(t)
    if target not in ix.codes:
        # A class found in no scored cell has no gains, hits or false alarms.
        return _fom(0, 0, 0, 0)
    return _fom_gain(t, ix.codes.index(target))


# ------------------------------------------------------------ accuracy and disagreement


def _accuracy(conf: NDArray[np.int64], codes: Sequence[int]) -> dict[str, Any]:
    """Overall accuracy, Cohen's kappa and per-class accuracies of conf[observed, sim]."""
    n = int(conf.sum())
    diag = np.diag(conf)
    rows = conf.sum(axis=1)  # observed totals
    cols = conf.sum(axis=0)  # simulated totals
    # Python ints keep kappa exact: identical maps give exactly 1.
    agree = int(diag.sum())
    chance = sum(int(r) * int(c) for r, c in zip(rows, cols, strict=True))
    return {
        "overall_accuracy": _ratio(agree, n),
        "kappa": _ratio(n * agree - chance, n * n - chance),
        "per_class": {
            code: {
                "producers": _ratio(diag[g], rows[g]),
                "users": _ratio(diag[g], cols[g]),
            }
            for g, code in enumerate(codes)
        },
    }


def accuracy(
    observed: ArrayLike,
    simulated: ArrayLike,
    *,
    classes: Sequence[int],
    mask: ArrayLike | None = None,
) -> dict[str, Any]:
    """Overall accuracy, Cohen's kappa and per-class producer's and user's accuracies."""
    ix = _index({"observed": observed, "simulated": simulated}, _class_codes(classes), mask)
    return _accuracy(_table(ix), ix.codes)


def _kappa_simulation(t: NDArray[np.int64]) -> float:
    n = int(t.sum())
    if n == 0:
        return math.nan
    k = t.shape[0]
    agree = sum(int(t[:, g, g].sum()) for g in range(k)) / n
    per_initial = t.sum(axis=(1, 2)).astype(float)
    obs = t.sum(axis=2).astype(float)  # [initial, observed]
    sim = t.sum(axis=1).astype(float)  # [initial, simulated]
    # Expected agreement given the quantity of each transition from each initial class:
    # sum_j p(j) sum_k p(obs k | j) p(sim k | j), with p(j) p(.|j) p(.|j) = O S / (n n_j).
    has = per_initial > 0
    expected = float(((obs[has] * sim[has]).sum(axis=1) / per_initial[has]).sum()) / n
    return _ratio(agree - expected, 1.0 - expected)


def kappa_simulation(
    initial: ArrayLike,
    observed: ArrayLike,
    simulated: ArrayLike,
    *,
    classes: Sequence[int],
    mask: ArrayLike | None = None,
) -> float:
    """Kappa simulation (van Vliet et al. 2011): kappa of the transitions from the initial map."""
    ix = _index(
        {"initial": initial, "observed": observed, "simulated": simulated},
        _class_codes(classes),
        mask,
    )
    return _kappa_simulation(_table(ix))


def _disagreement(conf: NDArray[np.int64], codes: Sequence[int]) -> dict[str, Any]:
    n = int(conf.sum())
    if n == 0:
        nan = math.nan
        per = {code: {"quantity": nan, "allocation": nan} for code in codes}
        return {"quantity": nan, "allocation": nan, "total": nan, "per_class": per}
    p = conf / n
    diag = np.diag(p)
    obs = p.sum(axis=1)
    sim = p.sum(axis=0)
    q = np.abs(obs - sim)
    # Omission and commission of a class; twice their smaller is the part swappable in place.
    a = 2.0 * np.minimum(obs - diag, sim - diag)
    quantity = float(q.sum()) / 2.0
    allocation = float(a.sum()) / 2.0
    return {
        "quantity": quantity,
        "allocation": allocation,
        "total": quantity + allocation,
        "per_class": {
            code: {"quantity": float(q[g]), "allocation": float(a[g])}
            for g, code in enumerate(codes)
        },
    }


def disagreement(
    observed: ArrayLike,
    simulated: ArrayLike,
    *,
    classes: Sequence[int],
    mask: ArrayLike | None = None,
) -> dict[str, Any]:
    """Quantity and allocation disagreement (Pontius & Millones 2011), shares of scored cells."""
    ix = _index({"observed": observed, "simulated": simulated}, _class_codes(classes), mask)
    return _disagreement(_table(ix), ix.codes)


# ---------------------------------------------------------- multiple-resolution agreement


# Rows per strip when counting windows: small temporaries stay in cache and reuse memory,
# where whole-grid ones (a 72 MB key on 3000 × 3000) cost more in page faults than in work.
_STRIP_ROWS = 256


def _block_counts(m: NDArray[np.uint16], k: int, f: int) -> NDArray[np.int32]:
    """Cells of each class in each f × f window, shape (windows down, windows across, k + 1).

    The last column counts the unscored cells (index k) and is never read.
    """
    h, w = m.shape
    nby, nbx = -(-h // f), -(-w // f)
    base = k + 1
    counts = np.empty((nby, nbx, base), dtype=np.int32)
    # Class as the fastest-varying part of the key: neighbouring cells then hit neighbouring
    # bins, which made the count 4 times faster than with the class as the slowest part.
    col_key = (np.arange(w) // f) * base
    rows = max(1, _STRIP_ROWS // f) * f
    for top in range(0, h, rows):
        strip = m[top : top + rows]
        row_key = (np.arange(strip.shape[0]) // f) * (nbx * base)
        key = row_key[:, None] + col_key[None, :]
        key += strip
        n_blocks = -(-strip.shape[0] // f)
        part = np.bincount(key.ravel(), minlength=n_blocks * nbx * base)
        counts[top // f : top // f + n_blocks] = part.reshape(n_blocks, nbx, base)
    return counts


def _coarsen(counts: NDArray[np.int32], r: int) -> NDArray[np.int32]:
    """Counts of windows r times wider, summed from the nested smaller windows."""
    nby, nbx = counts.shape[:2]
    # Zero padding stands for the part of an edge window that lies off the grid.
    py, px = -nby % r, -nbx % r
    if py or px:
        counts = np.pad(counts, ((0, py), (0, px), (0, 0)))
    # Strided sums, rows then columns: 6 times faster than a sum over a 5-D reshape.
    rows = sum((counts[i::r] for i in range(1, r)), start=counts[0::r].copy())
    return sum((rows[:, j::r] for j in range(1, r)), start=rows[:, 0::r].copy())


def _agreement(ix: _Indexed, factors: Sequence[int]) -> list[dict[str, Any]]:
    obs, sim = ix.maps
    k = ix.k
    done: dict[int, tuple[NDArray[np.int32], NDArray[np.int32]]] = {}
    rows = []
    for f in factors:
        if f == 1:
            # One cell a window: the shares agree where the classes do.
            hits = int(np.count_nonzero((obs == sim) & (obs < k)))
        else:
            # Windows of f are unions of windows of any divisor g of f (r // f == r // g //
            # (f / g)), so the largest divisor already counted saves a pass over the cells.
            g = max((g for g in done if f % g == 0), default=None)
            if g is None:
                pair = (_block_counts(obs, k, f), _block_counts(sim, k, f))
            else:
                pair = (_coarsen(done[g][0], f // g), _coarsen(done[g][1], f // g))
            done[f] = pair
            # The min over the whole contiguous array, less the unscored column, is faster
            # than the min over a strided view of the classes.
            both = np.minimum(*pair)
            hits = int(both.sum(dtype=np.int64)) - int(both[..., k].sum(dtype=np.int64))
        rows.append({"factor": f, "agreement": _ratio(hits, ix.n)})
    return rows


def _check_factors(factors: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(f) for f in factors)
    if not out or any(f < 1 for f in out):
        raise ValueError(f"factors must be positive integers, got {list(factors)}")
    return out


def agreement_by_resolution(
    observed: ArrayLike,
    simulated: ArrayLike,
    *,
    classes: Sequence[int],
    mask: ArrayLike | None = None,
    factors: Sequence[int] = DEFAULT_FACTORS,
) -> list[dict[str, Any]]:
    """Agreement of class shares in f × f windows, per factor f (Pontius' multiple resolution).

    Per factor: sum over windows and classes of min(observed cells, simulated cells) of the
    class in the window, divided by the scored cells. Factor 1 is the overall accuracy; the
    agreement never falls from a factor to a multiple of it.
    """
    f = _check_factors(factors)
    ix = _index({"observed": observed, "simulated": simulated}, _class_codes(classes), mask)
    return _agreement(ix, f)


# ------------------------------------------------------------------- landscape metrics


def _landscape(
    m: NDArray[np.uint16], codes: Sequence[int], n: int, cell_size: float
) -> dict[int, dict[str, Any]]:
    k = len(codes)
    base = k + 1
    # Pairs of 4-neighbours (a shared side); the sentinel k (unscored) drops out below.
    pairs = np.zeros((base, base), dtype=np.int64)
    for a, b in ((m[:, :-1], m[:, 1:]), (m[:-1, :], m[1:, :])):
        # base <= 256, so the key fits uint16, which bincount reads faster than intp.
        key = a * np.uint16(base)
        key += b
        pairs += np.bincount(key.ravel(), minlength=base * base).reshape(base, base)
    pairs = pairs[:k, :k]
    sym = pairs + pairs.T
    edges = sym.sum(axis=1) - np.diag(sym)  # sides shared with another valid class
    area = n * cell_size * cell_size
    out: dict[int, dict[str, Any]] = {}
    # One intp buffer for all classes: bincount reads intp without a copy, and reusing the
    # buffer spares the page faults of a fresh 72 MB array per class on 3000 × 3000.
    labels = np.empty(m.shape, dtype=np.intp)
    for g, code in enumerate(codes):
        n_patches = ndimage.label(m == g, structure=_EIGHT, output=labels)
        cells = int(np.count_nonzero(labels))
        largest = int(np.bincount(labels.ravel())[1:].max()) if n_patches else 0
        out[code] = {
            "n_patches": int(n_patches),
            "mean_patch_area": _ratio(cells * cell_size * cell_size, n_patches),
            "edge_density": _ratio(float(edges[g]) * cell_size, area),
            "largest_patch_index": _ratio(100.0 * largest, n),
        }
    return out


def landscape_metrics(
    landuse: ArrayLike,
    *,
    classes: Sequence[int],
    mask: ArrayLike | None = None,
    cell_size: float = 1.0,
) -> dict[int, dict[str, Any]]:
    """Per class: patches (8-connected), mean patch area, edge density, largest patch index."""
    if not cell_size > 0:
        raise ValueError(f"cell_size must be positive, got {cell_size}")
    ix = _index({"landuse": landuse}, _class_codes(classes), mask)
    return _landscape(ix.maps[0], ix.codes, ix.n, float(cell_size))


def new_patch_sizes(before: ArrayLike, after: ArrayLike, code: int) -> NDArray[np.int64]:
    """Sizes (cells) of the patches of new ``code`` land: 8-connected groups of cells
    that are ``code`` in ``after`` and were not in ``before``, largest first."""
    from scipy import ndimage

    a = np.asarray(before)
    b = np.asarray(after)
    _check_grid({"before": a, "after": b})
    new = (b == code) & (a != code)
    labels, n = ndimage.label(new, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = np.bincount(labels.reshape(-1), minlength=n + 1)[1:].astype(np.int64)
    return np.sort(sizes)[::-1]


def patch_size_summary(sizes: ArrayLike) -> dict[str, Any]:
    """Number, mean, median, 90th percentile and largest of patch sizes, and the share of
    the new cells in single-cell patches and in patches of 100 cells or more."""
    x = np.asarray(sizes, dtype=np.int64)
    total = int(x.sum())
    if x.size == 0:
        return {"patches": 0, "cells": 0}
    return {
        "patches": int(x.size),
        "cells": total,
        "mean": float(x.mean()),
        "median": float(np.median(x)),
        "p90": float(np.percentile(x, 90)),
        "largest": int(x.max()),
        "share_in_single_cells": float(x[x == 1].sum() / total),
        "share_in_patches_100_plus": float(x[x >= 100].sum() / total),
    }


def lee_sallee(a: ArrayLike, b: ArrayLike) -> float:
    """|a ∧ b| / |a ∨ b| of two boolean maps; 1.0 when both are empty."""
    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    _check_grid({"a": x, "b": y})
    union = int(np.count_nonzero(x | y))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(x & y)) / union


# ---------------------------------------------------------------------------- all of it


def _json_safe(value: Any) -> Any:
    """Plain Python values, with nan as None so that strict JSON readers accept the file."""
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def assess_maps(
    initial: ArrayLike,
    observed: ArrayLike,
    simulated: ArrayLike,
    *,
    classes: Mapping[int, str],
    target: int | None = None,
    mask: ArrayLike | None = None,
    cell_size: float = 1.0,
) -> dict[str, Any]:
    """Every metric of this module in one JSON-serialisable dict, per-class keys by name.

    All metrics score the same cells: the mask, less the cells nodata in any of the three
    maps. Undefined ratios (0 / 0) are None.
    """
    codes = _class_codes(classes)
    names = [str(classes[c]) for c in codes]
    if len(set(names)) != len(names):
        raise InputError(f"classes: names must differ, got {names}")
    if target is not None and target not in codes:
        raise InputError(f"target {target} is not in classes {list(codes)}")
    if not cell_size > 0:
        raise ValueError(f"cell_size must be positive, got {cell_size}")
    ix = _index({"initial": initial, "observed": observed, "simulated": simulated}, codes, mask)
    name = dict(zip(codes, names, strict=True))

    def by_name(per: Mapping[int, Any]) -> dict[str, Any]:
        return {name[c]: v for c, v in per.items()}

    t = _table(ix)
    conf = t.sum(axis=0)
    acc = _accuracy(conf, codes)
    dis = _disagreement(conf, codes)
    pair = _Indexed(ix.maps[1:], ix.codes, ix.n)
    out: dict[str, Any] = {
        "n_scored": ix.n,
        "fom": _fom_all(t).as_dict(),
        "fom_target": None,
        "per_class_fom": {name[c]: _fom_gain(t, g).as_dict() for g, c in enumerate(codes)},
        "accuracy": {**acc, "per_class": by_name(acc["per_class"])},
        "kappa_simulation": _kappa_simulation(t),
        "disagreement": {**dis, "per_class": by_name(dis["per_class"])},
        "agreement_by_resolution": _agreement(pair, DEFAULT_FACTORS),
        "landscape": {
            label: by_name(_landscape(m, codes, ix.n, float(cell_size)))
            for label, m in (("observed", ix.maps[1]), ("simulated", ix.maps[2]))
        },
        "lee_sallee_target": None,
    }
    if target is not None:
        g = codes.index(target)
        out["fom_target"] = _fom_gain(t, g).as_dict()
        out["lee_sallee_target"] = lee_sallee(ix.maps[1] == g, ix.maps[2] == g)
    return _json_safe(out)
