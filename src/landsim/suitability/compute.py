"""Urban suitability from a raster, a logistic function of drivers, or uniform."""

from __future__ import annotations

import logging

import numpy as np

from landsim.errors import InputError
from landsim.io.raster import Grid, open_aligned, read_aligned
from landsim.scenario.schema import DriverSpec, Scenario

log = logging.getLogger(__name__)


def _driver(
    scenario: Scenario,
    name: str,
    grid: Grid,
    valid: np.ndarray,
    allow_empty: bool = False,
) -> tuple[np.ndarray, np.ndarray, DriverSpec]:
    """A driver as float64 with its validity mask (within ``valid``), its transform's
    domain checked."""
    spec = scenario.inputs.driver_specs()[name]
    key = f"inputs.drivers.{name}"
    data, ok = read_aligned(spec.path, grid, key)
    ok &= valid
    bad = _outside_domain(data, ok, spec.transform)
    ok_cells = int(np.count_nonzero(ok))
    if ok_cells or not allow_empty:
        _check_driver(name, spec, ok_cells, 0 if bad is None else int(np.count_nonzero(bad)))
    return data.astype(np.float64, copy=False), ok, spec


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
    return _logistic(scenario, grid, valid)


# Cells per block of the logistic suitability (rounded to whole blocks of the files).
_BLOCK_CELLS = 1 << 22


def _logistic(scenario: Scenario, grid: Grid, valid: np.ndarray) -> np.ndarray:
    """The logistic suitability, computed by blocks of rows: the drivers are read a
    window at a time, so neither they nor the float64 sum are held for the whole grid
    (1 GB of fresh memory at 32 M cells). Each cell's sum is the same as a whole-grid
    one: intercept, then the drivers' terms in the order of the coefficients."""
    from contextlib import ExitStack

    from landsim.kernels.suitability import TRANSFORMS, add_driver_term, logistic

    spec = scenario.suitability
    specs = scenario.inputs.driver_specs()
    names = list(spec.coefficients)
    out = np.empty(grid.shape, dtype=np.float32)
    ok_cells = dict.fromkeys(names, 0)
    bad_cells = dict.fromkeys(names, 0)
    with ExitStack() as stack:
        files = [
            stack.enter_context(open_aligned(specs[n].path, grid, f"inputs.drivers.{n}"))
            for n in names
        ]
        ny, nx = grid.shape
        step = files[0].block_rows if files else 1
        rows = max(step, (_BLOCK_CELLS // max(nx, 1)) // step * step)
        for first in range(0, ny, rows):
            stop = min(ny, first + rows)
            land = valid[first:stop]
            z = np.full(land.shape, spec.intercept, dtype=np.float64)
            ok_all = land.copy()
            for name, f in zip(names, files, strict=True):
                dspec = specs[name]
                x, ok = f.read_rows(first, stop)
                ok &= land
                ok_cells[name] += int(np.count_nonzero(ok))
                bad = _outside_domain(x, ok, dspec.transform)
                if bad is not None:
                    bad_cells[name] += int(np.count_nonzero(bad))
                add_driver_term(
                    x, ok, TRANSFORMS[dspec.transform], dspec.scale, spec.coefficients[name], z
                )
                ok_all &= ok
            logistic(z, ok_all, out[first:stop])
    land = int(np.count_nonzero(valid))
    for name in names:
        _check_driver(name, specs[name], ok_cells[name], bad_cells[name])
        missing = land - ok_cells[name]  # ok lies within valid
        if missing:
            log.warning(
                f"[inputs.drivers.{name}] {missing:,} land cells are nodata in this driver "
                "and get suitability 0"
            )
    return out


def _outside_domain(x: np.ndarray, ok: np.ndarray, transform: str) -> np.ndarray | None:
    """Cells whose value the transform cannot take, or None for no transform."""
    if transform == "log1p":
        return ok & (x <= -1)
    if transform == "sqrt":
        return ok & (x < 0)
    return None


def _check_driver(name: str, spec: DriverSpec, ok_cells: int, bad_cells: int) -> None:
    """Refuse a driver with no value on the land, or values outside its transform."""
    key = f"inputs.drivers.{name}"
    if not ok_cells:
        raise InputError(
            f"[{key}] {spec.path}: no valid value on the land-use area (all nodata, NaN or "
            "infinite); fix the raster or drop the driver"
        )
    if bad_cells and spec.transform == "log1p":
        raise InputError(
            f"[{key}] {spec.path}: transform 'log1p' needs values > -1; {bad_cells:,} cells are not"
        )
    if bad_cells and spec.transform == "sqrt":
        raise InputError(
            f"[{key}] {spec.path}: transform 'sqrt' needs values >= 0; "
            f"{bad_cells:,} cells are negative"
        )


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
