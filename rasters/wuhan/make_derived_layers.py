"""Derive the drivers and the ILLUSTRATIVE planning lines of the Wuhan default scenario.

Run from anywhere: ``python rasters/wuhan/make_derived_layers.py``. It reads the PLUS
test data copied next to it (see SOURCE.md) and writes, on the exact grid of
``wh2013_refy.tif``, deterministically (no randomness) and atomically:

``slope_deg.tif``
    slope in degrees from ``wh_df_dem.tif`` (numpy.gradient, central differences, 30 m
    cells), float32 rounded to 0.1° (finer digits are DEM noise and cost megabytes),
    nodata -9999 where the DEM or a neighbour is nodata.
``dist_urban_<year>_m.tif`` for 2003, 2005, 2010 and 2013
    Euclidean distance in metres to the nearest urban (class 4) cell of that year
    (scipy.ndimage.distance_transform_edt), uint16 clipped to 65534, nodata 65535.
``bare_<year>.tif`` for 2005 and 2010
    bare land (class 5) on that year's map: 1 bare, 0 any other class, 255 nodata. The
    start-map indicator of the validation protocol's suitability (bare land is mostly
    land being built on: 27 % of the 2003 bare cells were urban in 2005 and 31 % of the
    2005 ones in 2010, against 1.4 % and 7.0 % of cropland).
``ecological_red_line_illustrative.tif``
    forest (classes 2, 7) patches of at least ``MIN_FOREST_PATCH_KM2``, water bodies
    (class 6) of at least ``MIN_LAKE_KM2`` and slopes of at least ``STEEP_SLOPE_DEG``,
    on the 2013 map.
``urban_development_boundary_illustrative.tif``
    2013 urban land plus the ``UDB_MARGIN`` × G open cells nearest to the urban edge (2013
    urban patches of at least ``URBAN_EDGE_MIN_PATCH_KM2``), where G is the
    projected growth 2013 → 2035 (the 2003 → 2013 linear trend continued 22 years) and
    open cells are valid, not urban, not water (class 6 or WaterWuhan = 0), not red line.
``permanent_basic_farmland_illustrative.tif``
    2013 cropland (class 3) in patches of at least ``MIN_FARMLAND_PATCH_KM2``, at least
    ``FARMLAND_URBAN_SETBACK_M`` from the urban edge (2013 urban patches of at least
    ``URBAN_EDGE_MIN_PATCH_KM2``; scattered village pixels do not count), outside the
    red line and outside the boundary (the lines do not overlap).
``suitability_fit.json``
    logistic-regression coefficients of urban suitability fitted on the observed
    2003 → 2013 change (see ``fit_suitability``).

Planning lines are uint8: 1 inside, 0 outside, 255 where the 2013 land use is nodata.
No official planning lines exist for this data; these only make the default scenario
exercise every rule. They are labelled illustrative in their names and tags.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

HERE = Path(__file__).resolve().parent
CELL_M = 30.0
CELL_KM2 = CELL_M * CELL_M / 1e6

URBAN, CROPLAND, BARE, WATER = 4, 3, 5, 6
FORESTS = (2, 7)

MIN_FOREST_PATCH_KM2 = 0.5  # woods, not single trees and hedgerow pixels
MIN_LAKE_KM2 = 1.0  # lakes and rivers, not fish ponds
STEEP_SLOPE_DEG = 15.0
MIN_FARMLAND_PATCH_KM2 = 1.0
FARMLAND_URBAN_SETBACK_M = 500.0  # farmland right at the urban edge is not protected
URBAN_EDGE_MIN_PATCH_KM2 = 0.09  # 100 cells: towns and suburbs, not single village pixels
UDB_MARGIN = 1.3  # room for 130 % of the projected growth
PROJECTION_YEARS = 22  # 2013 → 2035
OBSERVED_YEARS = 10  # 2003 → 2013

EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity for patches


def _read(name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    with rasterio.open(HERE / name) as ds:
        data = ds.read(1)
        valid = ds.read_masks(1) > 0  # GDAL's mask: 255 valid, 0 nodata
        return data, valid, ds.profile


def _write(name: str, data: np.ndarray, profile: dict, nodata: float, tags: dict) -> None:
    prof = {
        **profile,
        "dtype": data.dtype.name,
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 2 if data.dtype.kind in "ui" else 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    tmp = HERE / f".{name}.tmp"
    with rasterio.open(tmp, "w", **prof) as ds:
        ds.write(data, 1)
        ds.update_tags(**tags)
    os.replace(tmp, HERE / name)


def _patches_at_least(mask: np.ndarray, min_cells: int) -> np.ndarray:
    labels, n = ndimage.label(mask, structure=EIGHT)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_cells
    keep[0] = False
    return keep[labels]


def _line(mask: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.where(mask, 1, 0).astype(np.uint8)
    out[~valid] = 255
    return out


def slope_degrees(dem: np.ndarray, dem_valid: np.ndarray) -> np.ndarray:
    z = np.where(dem_valid, dem.astype(np.float64), np.nan)
    dzdy, dzdx = np.gradient(z, CELL_M)
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    return np.where(np.isfinite(slope), np.round(slope, 1), -9999).astype(np.float32)


def distance_to(mask: np.ndarray) -> np.ndarray:
    return ndimage.distance_transform_edt(~mask, sampling=CELL_M)


def fit_suitability(
    lu03: np.ndarray,
    lu13: np.ndarray,
    valid: np.ndarray,
    slope: np.ndarray,
    pop: np.ndarray,
    pop_valid: np.ndarray,
    dist03_km: np.ndarray,
) -> dict:
    """Logistic regression of 'became urban by 2013' on the 2003 conditions.

    Sample: valid cells that were neither urban nor water in 2003, with every driver
    present; every 7th such cell in row-major order, split alternately into a fitting
    and a held-out half. Newton–Raphson (IRLS) on standardised predictors, reported in
    the drivers' own units.
    """
    ok = valid & (lu03 != URBAN) & (lu03 != WATER) & (slope > -9999) & pop_valid
    idx = np.flatnonzero(ok.ravel())[::7]
    y = (lu13.ravel()[idx] == URBAN).astype(np.float64)
    x = np.column_stack(
        [
            slope.ravel()[idx].astype(np.float64),
            np.log1p(pop.ravel()[idx].astype(np.float64)),
            dist03_km.ravel()[idx],
        ]
    )
    names = ["slope", "population", "dist_urban"]
    fit, test = np.arange(len(idx)) % 2 == 0, np.arange(len(idx)) % 2 == 1
    mu, sd = x[fit].mean(axis=0), x[fit].std(axis=0)
    z = np.column_stack([np.ones(len(idx)), (x - mu) / sd])
    beta = np.zeros(z.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z[fit] @ beta)))
        w = p * (1.0 - p)
        grad = z[fit].T @ (y[fit] - p)
        hess = (z[fit] * w[:, None]).T @ z[fit]
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    coef = beta[1:] / sd
    intercept = beta[0] - float((beta[1:] * mu / sd).sum())
    score = z[test] @ beta
    ranks = np.empty(score.size)
    ranks[np.argsort(score, kind="stable")] = np.arange(1, score.size + 1)
    pos = y[test] == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    auc = (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return {
        "method": "logistic regression (IRLS), target: non-urban non-water 2003 cell urban in 2013",
        "sample_cells": len(idx),
        "sample_rule": "every 7th eligible cell, row-major; even positions fit, odd held out",
        "became_urban_share": float(y.mean()),
        "intercept": round(float(intercept), 4),
        "coefficients": {n: round(float(c), 4) for n, c in zip(names, coef, strict=True)},
        "units": {
            "slope": "degrees",
            "population": "log1p(wh_Pop.tif value)",
            "dist_urban": "km to 2003 urban land",
        },
        "auc_held_out": round(float(auc), 4),
    }


def main() -> None:
    lu13, valid, profile = _read("wh2013_refy.tif")
    lu03, valid03, _ = _read("wh2003_refy.tif")
    lu05, valid05, _ = _read("wh2005_refy.tif")
    lu10, valid10, _ = _read("wh2010_refy.tif")
    dem, dem_valid, _ = _read("wh_df_dem.tif")
    pop, pop_valid, _ = _read("wh_Pop.tif")
    water_layer, water_valid, _ = _read("WaterWuhan.tif")
    base = {k: profile[k] for k in ("driver", "width", "height", "count", "crs", "transform")}
    common = {"source": "derived from the PLUS Wuhan test data by make_derived_layers.py"}
    illustrative = {
        **common,
        "illustrative": "true",
        "planning_status": "ILLUSTRATIVE, not official",
    }

    slope = slope_degrees(dem, dem_valid)
    _write("slope_deg.tif", slope, base, -9999.0, {**common, "DESCRIPTION": "slope, degrees"})

    dists = {}
    # 2005 and 2010 serve the validation protocol (calibrate 2005 -> 2010, validate
    # 2010 -> 2013): each period's distance driver is measured on its own start map.
    for year, lu, ok in (
        (2003, lu03, valid03),
        (2005, lu05, valid05),
        (2010, lu10, valid10),
        (2013, lu13, valid),
    ):
        d = distance_to((lu == URBAN) & ok)
        dists[year] = d
        stored = np.minimum(np.rint(d), 65534).astype(np.uint16)
        stored[~ok] = 65535
        _write(
            f"dist_urban_{year}_m.tif",
            stored,
            base,
            65535,
            {**common, "DESCRIPTION": f"distance to {year} urban land (class 4), metres"},
        )

    # Bare land at the start of each protocol period (2005 for the calibration, 2010 for
    # the validation): a suitability driver of the urban model.
    for year, lu, ok in ((2005, lu05, valid05), (2010, lu10, valid10)):
        _write(
            f"bare_{year}.tif",
            _line((lu == BARE) & ok, ok),
            base,
            255,
            {**common, "DESCRIPTION": f"bare land (class 5) in {year}: 1 bare, 0 other"},
        )

    forest = np.isin(lu13, FORESTS) & valid
    forest_core = _patches_at_least(forest, math.ceil(MIN_FOREST_PATCH_KM2 / CELL_KM2))
    lakes = _patches_at_least((lu13 == WATER) & valid, math.ceil(MIN_LAKE_KM2 / CELL_KM2))
    steep = (slope >= STEEP_SLOPE_DEG) & valid
    red_line = (forest_core | lakes | steep) & valid
    _write(
        "ecological_red_line_illustrative.tif",
        _line(red_line, valid),
        base,
        255,
        {**illustrative, "DESCRIPTION": "ILLUSTRATIVE ecological protection red line"},
    )

    # The boundary is drawn before the farmland, as plans coordinate the three lines so
    # that they do not overlap: farmland is then protected outside the boundary.
    urban03 = int(((lu03 == URBAN) & valid03).sum())
    urban13 = int(((lu13 == URBAN) & valid).sum())
    growth = round(PROJECTION_YEARS * (urban13 - urban03) / OBSERVED_YEARS)
    room = math.ceil(UDB_MARGIN * growth)
    water = (lu13 == WATER) | (water_valid & (water_layer == 0))
    open_cells = valid & (lu13 != URBAN) & ~water & ~red_line
    # Distance to the urban edge, not to every urban pixel: rings around each village
    # pixel would make a boundary that covers the whole countryside.
    edge = _patches_at_least(
        (lu13 == URBAN) & valid, math.ceil(URBAN_EDGE_MIN_PATCH_KM2 / CELL_KM2)
    )
    to_edge = distance_to(edge)
    idx = np.flatnonzero(open_cells.ravel())
    order = np.lexsort((idx, to_edge.ravel()[idx]))  # nearest first, ties by index
    boundary = ((lu13 == URBAN) & valid).ravel()
    boundary[idx[order[:room]]] = True
    boundary = boundary.reshape(lu13.shape)
    _write(
        "urban_development_boundary_illustrative.tif",
        _line(boundary, valid),
        base,
        255,
        {**illustrative, "DESCRIPTION": "ILLUSTRATIVE urban development boundary"},
    )

    cropland = (lu13 == CROPLAND) & valid
    big_fields = _patches_at_least(cropland, math.ceil(MIN_FARMLAND_PATCH_KM2 / CELL_KM2))
    farmland = big_fields & (to_edge >= FARMLAND_URBAN_SETBACK_M) & ~red_line & ~boundary
    _write(
        "permanent_basic_farmland_illustrative.tif",
        _line(farmland, valid),
        base,
        255,
        {**illustrative, "DESCRIPTION": "ILLUSTRATIVE permanent basic farmland"},
    )

    fit = fit_suitability(lu03, lu13, valid & valid03, slope, pop, pop_valid, dists[2003] / 1000)
    (HERE / "suitability_fit.json").write_text(json.dumps(fit, indent=2) + "\n")

    n_valid = int(valid.sum())
    figures = {
        "valid_cells": n_valid,
        "urban_2003_cells": urban03,
        "urban_2013_cells": urban13,
        "projected_growth_cells": growth,
        "udb_room_cells": room,
        "open_cells_for_udb": int(open_cells.sum()),
        "steep_cells": int(steep.sum()),
    }
    for name, mask in (
        ("ecological_red_line", red_line),
        ("permanent_basic_farmland", farmland),
        ("urban_development_boundary", boundary),
    ):
        cells = int(mask.sum())
        figures[f"{name}_cells"] = cells
        figures[f"{name}_km2"] = round(cells * CELL_KM2, 1)
        figures[f"{name}_share_of_valid"] = round(cells / n_valid, 4)
    figures["farmland_share_of_2013_cropland"] = round(int(farmland.sum()) / int(cropland.sum()), 4)
    print(json.dumps({**figures, "suitability_fit": fit}, indent=2))


if __name__ == "__main__":
    main()
