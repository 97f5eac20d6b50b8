"""Urban suitability from a raster, a logistic function of drivers, or uniform."""

from __future__ import annotations

import logging

import numpy as np

from landsim.errors import InputError
from landsim.io.raster import Grid, read_aligned
from landsim.scenario.schema import DriverSpec, Scenario

log = logging.getLogger(__name__)


def _driver(
    scenario: Scenario,
    name: str,
    grid: Grid,
    valid: np.ndarray,
    allow_empty: bool = False,
    float64: bool = True,
) -> tuple[np.ndarray, np.ndarray, DriverSpec]:
    """A driver with its validity mask (within ``valid``), its transform's domain
    checked; as float64, or with ``float64=False`` as read (``add_driver_term`` widens
    each value itself: a float64 copy of a 17 M-cell driver cost ~0.1 s)."""
    spec = scenario.inputs.driver_specs()[name]
    key = f"inputs.drivers.{name}"
    data, ok = read_aligned(spec.path, grid, key)
    ok &= valid
    if not ok.any() and not allow_empty:
        raise InputError(
            f"[{key}] {spec.path}: no valid value on the land-use area (all nodata, NaN or "
            "infinite); fix the raster or drop the driver"
        )
    if spec.transform == "log1p":
        bad = ok & (data <= -1)
        if bad.any():
            raise InputError(
                f"[{key}] {spec.path}: transform 'log1p' needs values > -1; "
                f"{int(bad.sum()):,} cells are not"
            )
    elif spec.transform == "sqrt":
        bad = ok & (data < 0)
        if bad.any():
            raise InputError(
                f"[{key}] {spec.path}: transform 'sqrt' needs values >= 0; "
                f"{int(bad.sum()):,} cells are negative"
            )
    return (data.astype(np.float64, copy=False) if float64 else data), ok, spec


def compute_suitability(scenario: Scenario, grid: Grid, valid: np.ndarray) -> np.ndarray:
    """Suitability in [0, 1], float32, 0 outside ``valid``."""
    spec = scenario.suitability
    if spec.method == "uniform":
        return np.where(valid, np.float32(1.0), np.float32(0.0)).astype(np.float32)
    if spec.method == "raster":
        assert spec.path is not None
        data, ok = read_aligned(spec.path, grid, "suitability.path")
        ok &= valid
        vals = data[ok]
        if vals.size and (vals.min() < 0 or vals.max() > 1):
            raise InputError(
                f"[suitability.path] {spec.path}: values must lie in [0, 1], found "
                f"{float(vals.min()):g}..{float(vals.max()):g}; rescale the raster"
            )
        missing = int(np.count_nonzero(valid & ~ok))
        if missing:
            log.warning(
                f"[suitability.path] {spec.path}: {missing:,} land cells are nodata and get "
                "suitability 0"
            )
        return np.where(ok, data, 0).astype(np.float32)
    from landsim.kernels.suitability import TRANSFORMS, add_driver_term, logistic

    z = np.full(grid.shape, spec.intercept, dtype=np.float64)
    ok_all = valid.copy()
    land = int(np.count_nonzero(valid))
    for name, coef in spec.coefficients.items():
        x, ok, dspec = _driver(scenario, name, grid, valid, float64=False)
        add_driver_term(x, ok, TRANSFORMS[dspec.transform], dspec.scale, coef, z)
        missing = land - int(np.count_nonzero(ok))  # ok lies within valid
        if missing:
            log.warning(
                f"[inputs.drivers.{name}] {missing:,} land cells are nodata in this driver "
                "and get suitability 0"
            )
        ok_all &= ok
    out = np.empty(grid.shape, dtype=np.float32)
    logistic(z, ok_all, out)
    return out


def driver_stack(
    scenario: Scenario, grid: Grid, valid: np.ndarray, allow_empty: bool = False
) -> tuple[list[str], list[np.ndarray]]:
    """Every driver of the scenario as the logistic model reads it (transformed, then
    scaled), float64, NaN where the driver has no value: the design matrix of a fit.
    ``allow_empty``: a driver with no value on the land is all NaN instead of refused."""
    names, out = [], []
    for name in scenario.inputs.driver_specs():
        x, ok, spec = _driver(scenario, name, grid, valid, allow_empty)
        if spec.transform == "log1p":
            x = np.log1p(np.where(ok, x, 0.0))
        elif spec.transform == "sqrt":
            x = np.sqrt(np.where(ok, x, 0.0))
        names.append(name)
        out.append(np.where(ok, x * spec.scale, np.nan))
    return names, out
