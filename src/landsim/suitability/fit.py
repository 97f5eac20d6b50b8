"""Per-class suitability fitted from observed change, like PLUS's LEAS.

For each class *k*, a binary classifier learns from the drivers where *k* expanded
between two land-use maps (``before`` → ``after``), and its predicted probability is
the class's suitability on every valid cell. ``docs/suitability.md`` is the page for
modellers; the decisions, in short:

* **Cells.** Valid cells have a class in both maps (not 255) and lie in ``valid`` when
  it is given. *Positives* of class *k*: valid cells with ``before != k`` and
  ``after == k`` (expansion). *Negatives*: valid cells with ``after != k`` (no
  expansion into *k*, including cells that were *k* and lost it). Cells that are *k* in
  both maps take no part in training; at prediction every valid cell, those already *k*
  included, gets the model's probability like any other.
* **Sample.** Per class up to ``sample_size`` cells without replacement: half
  positives (all of them if fewer), the rest negatives; drawn from
  ``Generator(PCG64(SeedSequence([seed, code])))``, so a class's sample does not change
  when other classes are added or removed. Both models weight the classes
  ("balanced"), so every class is fitted against the same 50/50 prior whatever its
  amount of change, and suitabilities of different classes are comparable.
* **Held out.** 25 % of each side of the sample (at least one cell) is held out; the
  model fitted on the other 75 % is the one used for the map, and its AUC on the held
  out cells is reported.
* **Models.** ``random_forest``: scikit-learn's ``RandomForestClassifier``
  (``min_samples_leaf=5``, ``max_features="sqrt"``); contributions are the mean decrease
  in impurity, normalised to 1. ``logistic``: ``StandardScaler`` then
  ``LogisticRegression``; contributions are the absolute standardised coefficients,
  normalised to 1, and the signed ones are kept in ``training[class]["coefficients"]``.
* **Missing driver values.** Training uses only cells with a value in every driver.
  At prediction a missing value is replaced by that driver's median over the valid
  cells, and the number of cells so filled is logged and kept in ``imputed``.
* **Bad drivers** (no value on the valid cells, or one value everywhere) are dropped
  with a warning (``on_bad_driver="drop"``) or refused (``"raise"``); none left is
  refused. **Too little change** (fewer than ``min_changed`` positives) is refused
  (``on_too_few="raise"``) or gives the class a constant suitability equal to its
  share of the map after (``"constant"``), with a warning.
* **Determinism.** Same inputs and seed → same bytes, for any ``n_jobs``: the forest's
  trees are seeded up front, and the map is predicted in chunks whose trees are summed
  in a fixed order (``n_jobs`` threads share the chunks, not the trees of one cell).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landsim.errors import GridMismatchError, InputError, ScenarioError
from landsim.io.raster import NODATA, Grid

log = logging.getLogger(__name__)

MODELS = ("random_forest", "logistic")
ON_TOO_FEW = ("raise", "constant")
ON_BAD_DRIVER = ("raise", "drop")
CHUNK_ROWS = 1_000_000  # cells predicted at a time: bounds the design matrix's memory
HELD_OUT = 0.25
MIN_SAMPLES_LEAF = 5
MIN_SAMPLE_SIZE = 20


@dataclass
class FittedSuitability:
    """Per-class suitability maps and what the fit found."""

    class_codes: list[int]
    class_names: list[str]
    suitability: np.ndarray  # float32 [K, ny, nx] in [0, 1]; 0 on invalid cells
    model: str  # "random_forest" | "logistic"
    drivers: list[str]  # the drivers the models use (the usable ones, in given order)
    contributions: dict[str, dict[str, float]]  # class -> driver -> share (sum 1); {} if constant
    training: dict[str, dict[str, Any]]  # class -> counts, held-out AUC, status, …
    dropped_drivers: dict[str, str] = field(default_factory=dict)  # driver -> why
    imputed: dict[str, dict[str, float]] = field(default_factory=dict)  # driver -> cells, value
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Everything but the maps, JSON-ready (floats rounded to 6 decimals)."""
        from landsim import __version__

        return _rounded(
            {
                "landsim_version": __version__,
                "method": "fit",
                "model": self.model,
                "class_codes": [int(c) for c in self.class_codes],
                "class_names": list(self.class_names),
                "drivers": list(self.drivers),
                "dropped_drivers": dict(self.dropped_drivers),
                "imputed": self.imputed,
                "settings": self.settings,
                "contributions": self.contributions,
                "training": self.training,
            }
        )


def _rounded(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return None if not math.isfinite(v) else round(v, 6)
    return obj


# ---------------------------------------------------------------- checks


def _check_settings(
    key: str,
    model: str,
    sample_size: int,
    min_changed: int,
    trees: int,
    n_jobs: int,
    on_too_few: str,
    on_bad_driver: str,
    class_codes: Sequence[int],
    class_names: Sequence[str],
) -> None:
    if model not in MODELS:
        raise ScenarioError(
            f"{key} model = {model!r}: unknown model; choose one of {', '.join(MODELS)}"
        )
    if sample_size < MIN_SAMPLE_SIZE:
        raise ScenarioError(
            f"{key} sample_size = {sample_size}: too small to fit and test a model; "
            f"give at least {MIN_SAMPLE_SIZE} (20000 is the default)"
        )
    if min_changed < 2:
        raise ScenarioError(
            f"{key} min_changed = {min_changed}: at least 2 changed cells are needed "
            "(one to fit, one to test); give 2 or more (30 is the default)"
        )
    if not 1 <= trees <= 10_000:
        raise ScenarioError(f"{key} trees = {trees}: give a number of trees within 1..10000")
    if on_too_few not in ON_TOO_FEW:
        raise ValueError(f"on_too_few must be one of {ON_TOO_FEW}, got {on_too_few!r}")
    if on_bad_driver not in ON_BAD_DRIVER:
        raise ValueError(f"on_bad_driver must be one of {ON_BAD_DRIVER}, got {on_bad_driver!r}")
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be at least 1, got {n_jobs}")
    if len(class_codes) != len(class_names) or not class_codes:
        raise ValueError("class_codes and class_names must be non-empty and of equal length")
    if len(set(class_codes)) != len(class_codes) or len(set(class_names)) != len(class_names):
        raise ValueError(f"class codes and names must be unique: {class_codes}, {class_names}")


def _shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(s) for s in shape)


def _check_shapes(
    key: str, before: np.ndarray, after: np.ndarray, drivers: Mapping[str, np.ndarray]
) -> None:
    if before.ndim != 2 or after.shape != before.shape:
        raise GridMismatchError(
            f"{key} the land-use maps before ({_shape(before.shape)}) and after "
            f"({_shape(after.shape)}) differ in shape; give two maps on the same grid"
        )
    for name, arr in drivers.items():
        if np.shape(arr) != before.shape:
            raise GridMismatchError(
                f"{key} driver {name}: {_shape(np.shape(arr))} cells, but the land-use maps "
                f"have {_shape(before.shape)}; resample the driver onto the land-use grid"
            )


def _screen_drivers(
    key: str, drivers: Mapping[str, np.ndarray], ok: np.ndarray, on_bad: str
) -> tuple[list[str], dict[str, str], dict[str, np.ndarray], dict[str, float]]:
    """The usable drivers (flattened float views), why others were dropped, and each
    usable driver's median over the valid cells (the value that fills its gaps)."""
    if not drivers:
        raise InputError(f"{key} no drivers given; name at least one driver to fit on")
    n_ok = int(ok.sum())
    kept: list[str] = []
    dropped: dict[str, str] = {}
    flat: dict[str, np.ndarray] = {}
    medians: dict[str, float] = {}
    okf = ok.ravel()
    for name, arr in drivers.items():
        x = np.asarray(arr).ravel()
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        vals = x[okf]
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            why = f"has no value on any of the {n_ok:,} valid cells (all NaN or nodata)"
        elif vals.min() == vals.max():
            why = f"is constant ({float(vals[0]):g}) over the valid cells"
        else:
            kept.append(name)
            flat[name] = x
            medians[name] = float(np.median(vals))
            continue
        if on_bad == "raise":
            raise InputError(
                f"{key} driver {name} {why}, so it cannot explain change; fix the raster "
                "(nodata value, extent) or leave the driver out"
            )
        log.warning(f"{key} driver {name} {why}; it is left out of the fit")
        dropped[name] = why
    if not kept:
        listed = "; ".join(f"{n} {why}" for n, why in dropped.items())
        raise InputError(
            f"{key} no usable driver ({listed}); give at least one driver that varies over "
            "the land-use map"
        )
    return kept, dropped, flat, medians


# ---------------------------------------------------------------- sampling


def _draw_sample(
    pos: np.ndarray, neg: np.ndarray, sample_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train cells, train labels, test cells, test labels) from the positive and
    negative cell indices: up to half the sample positive, the rest negative, without
    replacement; 25 % of each side (at least one cell) held out."""
    n_pos = min(pos.size, sample_size // 2)
    n_neg = min(neg.size, sample_size - n_pos)
    p = rng.choice(pos, size=n_pos, replace=False)
    n = rng.choice(neg, size=n_neg, replace=False)
    tp = max(1, round(HELD_OUT * n_pos))
    tn = max(1, round(HELD_OUT * n_neg))
    train = np.concatenate([p[tp:], n[tn:]])
    test = np.concatenate([p[:tp], n[:tn]])
    y_train = np.concatenate([np.ones(n_pos - tp, np.int8), np.zeros(n_neg - tn, np.int8)])
    y_test = np.concatenate([np.ones(tp, np.int8), np.zeros(tn, np.int8)])
    return train, y_train, test, y_test


def _design(
    cells: np.ndarray,
    names: Sequence[str],
    flat: Mapping[str, np.ndarray],
    medians: Mapping[str, float] | None,
    dtype: type,
) -> np.ndarray:
    """The drivers at ``cells`` as a [cells, drivers] matrix; with ``medians``, missing
    values are filled with them."""
    x = np.empty((cells.size, len(names)), dtype=dtype)
    for j, name in enumerate(names):
        col = flat[name][cells]
        if medians is not None:
            col = np.where(np.isfinite(col), col, medians[name])
        x[:, j] = col
    return x


# ---------------------------------------------------------------- models


def _fit_model(
    model: str, x: np.ndarray, y: np.ndarray, trees: int, seed: int, n_jobs: int
) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """The fitted model, its raw contributions (one per driver) and extra facts."""
    if model == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        rf = RandomForestClassifier(
            n_estimators=trees,
            min_samples_leaf=MIN_SAMPLES_LEAF,
            max_features="sqrt",
            class_weight="balanced",
            random_state=seed,
            n_jobs=n_jobs,
        ).fit(x, y)
        # Prediction runs chunk by chunk in our own threads; inside a chunk the trees are
        # summed in order, so the map does not depend on thread timing.
        rf.set_params(n_jobs=1)
        return rf, np.asarray(rf.feature_importances_, dtype=np.float64), {}
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced")
    ).fit(x, y)
    lr = pipe[-1]
    coef = np.asarray(lr.coef_[0], dtype=np.float64)
    return pipe, np.abs(coef), {"coef": coef, "intercept": float(lr.intercept_[0])}


def _shares(raw: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    total = float(raw.sum())
    if not (total > 0 and math.isfinite(total)):
        # A model that found nothing (a single leaf, all-zero coefficients): no driver
        # stands out, so they share equally.
        return {n: 1.0 / len(names) for n in names}
    return {n: float(v) / total for n, v in zip(names, raw, strict=True)}


def _proba(fitted: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(fitted.predict_proba(x)[:, 1])


# ---------------------------------------------------------------- the fit


def fit_suitability(
    before: np.ndarray,
    after: np.ndarray,
    drivers: Mapping[str, np.ndarray],
    class_codes: Sequence[int],
    class_names: Sequence[str],
    *,
    model: str = "random_forest",
    sample_size: int = 20000,
    min_changed: int = 30,
    trees: int = 50,
    seed: int = 0,
    n_jobs: int = 1,
    key: str = "[suitability]",
    valid: np.ndarray | None = None,
    on_too_few: str = "raise",
    on_bad_driver: str = "drop",
    chunk_rows: int = CHUNK_ROWS,
    predict_drivers: Mapping[str, np.ndarray] | None = None,
) -> FittedSuitability:
    """Fit one suitability model per class on the change from ``before`` to ``after``.

    ``before`` and ``after`` are land-use maps on one grid (255: nodata); ``drivers``
    maps names to float arrays on that grid with NaN as nodata. ``key`` names the
    scenario section (or file) in every message. See the module docstring for what is
    sampled, how the models score, and what is refused.

    ``predict_drivers`` (same names and grid) are the drivers the suitability map is
    predicted from, when they differ from the training ones: a distance to urban land
    is measured on ``before`` for training and on the start map for the run.
    """
    from sklearn.metrics import roc_auc_score

    _check_settings(
        key,
        model,
        sample_size,
        min_changed,
        trees,
        n_jobs,
        on_too_few,
        on_bad_driver,
        class_codes,
        class_names,
    )
    before = np.asarray(before)
    after = np.asarray(after)
    _check_shapes(key, before, after, drivers)
    ok = (before != NODATA) & (after != NODATA)
    if valid is not None:
        if np.shape(valid) != before.shape:
            raise ValueError(f"valid has shape {np.shape(valid)}, the maps {before.shape}")
        ok &= np.asarray(valid, dtype=bool)
    if not ok.any():
        raise InputError(
            f"{key} no cell has a class in both land-use maps (nodata everywhere in one or "
            "the other); check their nodata values and that they cover the same area"
        )
    names, dropped, flat, medians = _screen_drivers(key, drivers, ok, on_bad_driver)

    okf = ok.ravel()
    cells = np.flatnonzero(okf)
    complete = okf.copy()
    imputed: dict[str, dict[str, float]] = {}
    for name in names:
        has = np.isfinite(flat[name])
        missing = int((okf & ~has).sum())
        complete &= has
        if missing:
            imputed[name] = {"cells": missing, "value": medians[name]}
    incomplete = int(okf.sum() - complete.sum())
    if incomplete:
        listed = ", ".join(f"{n} ({v['cells']:,})" for n, v in imputed.items())
        log.warning(
            f"{key} {incomplete:,} valid cells lack a value in a driver ({listed}); they are "
            "left out of training and scored with the missing value set to the driver's "
            "median over the valid cells"
        )

    bf, af = before.ravel(), after.ravel()
    dtype = np.float32 if model == "random_forest" else np.float64
    fitted_models: dict[int, Any] = {}
    constants: dict[int, float] = {}
    contributions: dict[str, dict[str, float]] = {}
    training: dict[str, dict[str, Any]] = {}
    # Counts first, so that a class with too little change is refused before any fit.
    too_few: dict[int, str] = {}
    for k, (code, cname) in enumerate(zip(class_codes, class_names, strict=True)):
        became = okf & (bf != code) & (af == code)
        changed = int(became.sum())
        n_pos = int((became & complete).sum())
        n_neg = int((complete & (af != code)).sum())
        info: dict[str, Any] = {"changed_cells": changed}
        if changed != n_pos:
            info["changed_cells_without_drivers"] = changed - n_pos
        training[cname] = info
        if n_pos < min_changed:
            lacking = (
                f" ({changed:,} did, {changed - n_pos:,} of them without a value in every driver)"
                if changed != n_pos
                else ""
            )
            too_few[k] = (
                f"class {cname}: only {n_pos:,} cells became {cname} between the two maps"
                f"{lacking}; min_changed is {min_changed}"
            )
        elif n_neg < 2:
            too_few[k] = (
                f"class {cname}: only {n_neg:,} valid cells are not {cname} in the map after, "
                "too few to contrast with"
            )
        if k in too_few and on_too_few == "raise":
            raise InputError(
                f"{key} {too_few[k]}: fit fewer classes, lower min_changed, or give this "
                "class a fixed suitability"
            )
    for k, (code, cname) in enumerate(zip(class_codes, class_names, strict=True)):
        info = training[cname]
        if k in too_few:
            share = float((okf & (af == code)).sum()) / float(okf.sum())
            log.warning(
                f"{key} {too_few[k]}; its suitability is constant, {share:.4g} (its share of "
                "the map after)"
            )
            constants[k] = share
            contributions[cname] = {}
            info.update(status="too_few_changed", constant_suitability=share)
            continue
        pos = np.flatnonzero(okf & (bf != code) & (af == code) & complete)
        neg = np.flatnonzero(complete & (af != code))
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, int(code)])))
        train, y_train, test, y_test = _draw_sample(pos, neg, sample_size, rng)
        fitted, raw, extra = _fit_model(
            model, _design(train, names, flat, None, dtype), y_train, trees, seed, n_jobs
        )
        p_test = _proba(fitted, _design(test, names, flat, None, dtype))
        auc = float(roc_auc_score(y_test, p_test))
        fitted_models[k] = fitted
        contributions[cname] = _shares(raw, names)
        info.update(
            status="fitted",
            sampled_positive=int(y_train.sum() + y_test.sum()),
            sampled_negative=int((y_train == 0).sum() + (y_test == 0).sum()),
            held_out_positive=int(y_test.sum()),
            held_out_negative=int((y_test == 0).sum()),
            auc=auc,
        )
        if "coef" in extra:
            info["coefficients"] = {n: float(c) for n, c in zip(names, extra["coef"], strict=True)}
            info["intercept"] = extra["intercept"]

    ny, nx = before.shape
    suit = np.zeros((len(class_codes), ny, nx), dtype=np.float32)
    flat_suit = suit.reshape(len(class_codes), -1)
    for k, share in constants.items():
        flat_suit[k, cells] = np.float32(share)
    if predict_drivers is not None:
        _check_shapes(key, before, after, predict_drivers)
        flat = {n: np.asarray(predict_drivers[n], dtype=np.float64).ravel() for n in names}
    if fitted_models:

        def predict(chunk: np.ndarray) -> None:
            x = _design(chunk, names, flat, medians, dtype)
            for k, fitted in fitted_models.items():
                flat_suit[k, chunk] = np.clip(_proba(fitted, x), 0.0, 1.0)

        chunks = [cells[i : i + chunk_rows] for i in range(0, cells.size, max(1, chunk_rows))]
        if n_jobs == 1 or len(chunks) == 1:
            for chunk in chunks:
                predict(chunk)
        else:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                list(pool.map(predict, chunks))

    settings = {
        "model": model,
        "sample_size": sample_size,
        "min_changed": min_changed,
        "seed": seed,
        "held_out": HELD_OUT,
        "class_weight": "balanced",
    }
    if model == "random_forest":
        settings.update(trees=trees, min_samples_leaf=MIN_SAMPLES_LEAF, max_features="sqrt")
    return FittedSuitability(
        class_codes=[int(c) for c in class_codes],
        class_names=list(class_names),
        suitability=suit,
        model=model,
        drivers=names,
        contributions=contributions,
        training=training,
        dropped_drivers=dropped,
        imputed=imputed,
        settings=settings,
    )


# ---------------------------------------------------------------- tables and files


def contributions_rows(fitted: FittedSuitability) -> list[dict[str, Any]]:
    """One row per class and driver (class order, then rank): ``class``, ``driver``,
    ``contribution`` (share, summing to 1 per class), ``rank`` (1: largest; ties go to
    the earlier driver). A class with a constant suitability has no rows."""
    rows = []
    for cname in fitted.class_names:
        shares = fitted.contributions.get(cname, {})
        # sorted() is stable: equal shares keep the drivers' order
        order = sorted(shares.items(), key=lambda item: -item[1])
        for rank, (driver, _) in enumerate(order, start=1):
            rows.append(
                {"class": cname, "driver": driver, "contribution": shares[driver], "rank": rank}
            )
    return rows


def sidecar_path(path_tif: str | Path) -> Path:
    """The JSON written beside a fitted suitability raster: ``<stem>.json``."""
    return Path(path_tif).with_suffix(".json")


def write_fitted(
    path_tif: str | Path, fitted: FittedSuitability, grid: Grid, *, compress: str = "deflate"
) -> None:
    """The maps as a float32 GeoTIFF (band k = class k, band description = its name, band
    tag ``class_code``; dataset tags: model, drivers, classes), then the sidecar
    ``<stem>.json`` with :meth:`FittedSuitability.to_json`. Each file is written
    atomically; cells off the land hold 0 (no nodata value is set)."""
    from landsim import __version__
    from landsim.io.write import _gdal_atomic, _tiff_profile, write_json

    path = Path(path_tif)
    suit = fitted.suitability
    if suit.ndim != 3 or suit.shape[1:] != tuple(grid.shape):
        raise ValueError(f"suitability of shape {suit.shape} is not on the grid {grid.shape}")
    if suit.shape[0] != len(fitted.class_names):
        raise ValueError(f"{suit.shape[0]} bands for {len(fitted.class_names)} classes")
    profile = _tiff_profile(grid, "float32", 0, compress)
    profile.update(count=suit.shape[0], nodata=None)
    if compress != "none":
        profile["predictor"] = 3  # the floating-point predictor
    tags = {
        "landsim_version": __version__,
        "suitability_method": "fit",
        "suitability_model": fitted.model,
        "drivers": json.dumps(fitted.drivers, ensure_ascii=False),
        "class_codes": json.dumps([int(c) for c in fitted.class_codes]),
        "class_names": json.dumps(fitted.class_names, ensure_ascii=False),
        "sidecar": sidecar_path(path).name,
    }
    with _gdal_atomic(path, profile) as ds:
        for k, (code, name) in enumerate(zip(fitted.class_codes, fitted.class_names, strict=True)):
            ds.write(np.ascontiguousarray(suit[k], dtype=np.float32), k + 1)
            ds.set_band_description(k + 1, name)
            ds.update_tags(k + 1, class_code=str(int(code)))
        ds.update_tags(**tags)
    write_json(sidecar_path(path), fitted.to_json())


def read_fitted(
    path_tif: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    grid: Grid | None = None,
    key: str = "[suitability.path]",
) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """A multi-band suitability raster: (float32 [K, ny, nx], band names, meta).

    With ``class_names``, the bands must be exactly those classes (by band description);
    they are returned in that order, whatever the file's order. With ``grid``, the
    raster must sit on it. Values must lie in [0, 1]; nodata, NaN and infinite cells
    read as 0, with a warning. ``meta`` holds ``path``, ``tags`` (the dataset's),
    ``class_codes`` (the bands' tags, None where absent) and ``sidecar`` (the
    ``<stem>.json`` beside the raster, or None).
    """
    from rasterio.errors import RasterioError

    from landsim.io.raster import _open, _root_cause, check_aligned

    path = Path(path_tif)
    with _open(path, key) as ds:
        if grid is not None:
            check_aligned(ds, grid, path, key)
        try:
            data = ds.read(out_dtype=np.float32)
        except RasterioError as exc:
            raise InputError(
                f"{key} {path}: the file is damaged or truncated ({_root_cause(exc)}); "
                "write it again"
            ) from None
        bands = [d if d else f"band {i + 1}" for i, d in enumerate(ds.descriptions)]
        codes: list[int | None] = []
        for i in range(ds.count):
            c = ds.tags(i + 1).get("class_code")
            codes.append(int(c) if c is not None and c.lstrip("-").isdigit() else None)
        tags = dict(ds.tags())
        nodata = ds.nodata
    bad = ~np.isfinite(data)
    if nodata is not None and not math.isnan(nodata):
        bad |= data == np.float32(nodata)
    if bad.any():
        log.warning(
            f"{key} {path}: {int(bad.sum()):,} band cells are nodata, NaN or infinite and "
            "read as suitability 0"
        )
        data[bad] = 0.0
    lo, hi = float(data.min()), float(data.max())
    if lo < 0 or hi > 1:
        raise InputError(
            f"{key} {path}: suitability must lie in [0, 1], found {lo:g}..{hi:g}; rescale the "
            "raster or fit it again"
        )
    if class_names is not None:
        want = list(class_names)
        if sorted(bands) != sorted(want) or len(set(bands)) != len(bands):
            raise InputError(
                f"{key} suitability raster {path} has bands [{', '.join(bands)}] but the "
                f"scenario's classes are [{', '.join(want)}]; fit the suitability again for "
                "these classes, or name the bands after them"
            )
        order = [bands.index(n) for n in want]
        data = data[order]
        codes = [codes[i] for i in order]
        bands = want
    sidecar = None
    side = sidecar_path(path)
    if side.is_file():
        try:
            sidecar = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(
                f"{key} {side}: the sidecar of {path.name} is not readable JSON ({exc}); "
                "write both files again, or delete the sidecar"
            ) from None
        side_names = sidecar.get("class_names") if isinstance(sidecar, dict) else None
        if side_names is not None and sorted(side_names) != sorted(bands):
            raise InputError(
                f"{key} {side}: describes classes [{', '.join(map(str, side_names))}] but "
                f"{path.name} has bands [{', '.join(bands)}]; the two files come from "
                "different fits: write both again"
            )
    meta = {"path": str(path), "tags": tags, "class_codes": codes, "sidecar": sidecar}
    return data, bands, meta
