"""The multi-class model's inputs, read and checked: ``[model] kind = "multiclass"``.

``prepare_multiclass`` turns a scenario into what ``model.multiclass.simulate_multiclass``
needs: per-class suitability (uniform, a multi-band raster, or fitted on observed change
by ``suitability.fit``), drivers including the derived ones (slope, distance
transforms), the class demand (``demand.classes``: Markov, trend, table, or urban from
population/targets with the rest in proportion), the conversion matrix, and per planning
period what each cell may become. ``api.prepare`` calls it; ``api.simulate_prepared``
runs it. docs/multiclass.md describes the model.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from landsim.constraints import CompiledConstraints, Districts
from landsim.demand import urban_demand
from landsim.demand.classes import (
    ClassDemand,
    check_sources,
    hold_fixed,
    markov_demand,
    population_class_demand,
    table_demand,
    trend_demand,
)
from landsim.io.raster import NODATA, Grid, probe_aligned, read_aligned, read_landuse
from landsim.kernels import multiclass as mk
from landsim.model.engine import SimulationResult
from landsim.model.multiclass import (
    ClassDemandArrays,
    MulticlassParameters,
    MulticlassPeriod,
    simulate_multiclass,
)
from landsim.scenario.schema import Scenario
from landsim.suitability.compute import driver_stack

log = logging.getLogger(__name__)

# Metres per degree of latitude, and of longitude at the equator (WGS 84, rounded): a
# distance or slope on a geographic grid uses the cell's size at the grid's mid-latitude.
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0


@dataclass
class MulticlassInputs:
    demand: ClassDemand
    suitability: np.ndarray  # float32 [K, ny, nx], before the periods' soft factors
    periods: list[MulticlassPeriod]
    allowed: np.ndarray  # uint8 [K, K]
    cost: np.ndarray  # float32 [K, K]
    fitted: Any = None  # suitability.fit.FittedSuitability when method = "fit"
    drivers: list[str] = field(default_factory=list)


def cell_size_m(grid: Grid) -> tuple[float, float]:
    """(x, y) size of a cell in metres; on a geographic grid at its mid-latitude."""
    t = grid.transform
    dx, dy = abs(t.a), abs(t.e)
    if grid.crs is not None and grid.crs.is_geographic:
        lat = t.f + t.e * grid.shape[0] / 2
        return dx * M_PER_DEG_LON * math.cos(math.radians(lat)), dy * M_PER_DEG_LAT
    factor = 1.0
    if grid.crs is not None and grid.crs.linear_units_factor:
        factor = grid.crs.linear_units_factor[1]
    return dx * factor, dy * factor


def _class_codes(s: Scenario, names: list[str]) -> list[int]:
    return [c.code for c in s.classes if c.name in names or c.role in names]


def _read_map(s: Scenario, path: Any, grid: Grid, key: str) -> np.ndarray:
    probe_aligned(path, grid, key)
    data, _ = read_landuse(path, [c.code for c in s.classes], key)
    return data


def drivers(
    s: Scenario, grid: Grid, landuse: np.ndarray, before: np.ndarray | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """The scenario's drivers (NaN: no value), derived ones included.

    Returns (drivers on the start map, drivers for training or None): a distance to a
    class is measured on the start map for the run and on ``before`` for training,
    where the change being learnt started from.
    """
    from landsim.suitability.derive import distance_to_class, distance_to_features, slope_degrees

    valid = landuse != NODATA
    # A driver with no value on the land is not refused here: the fit drops it with a
    # warning, as it drops a constant one.
    names, stack = driver_stack(s, grid, valid, allow_empty=True) if s.inputs.drivers else ([], [])
    run = dict(zip(names, stack, strict=True))
    train = None if before is None else dict(run)
    dx, dy = cell_size_m(grid)
    for name, d in s.inputs.derived.items():
        key = f"[inputs.derived.{name}]"
        if d.kind == "slope":
            assert d.source is not None
            dem, ok = read_aligned(
                s.inputs.drivers[d.source].path, grid, f"inputs.drivers.{d.source}"
            )
            dem = np.where(ok, dem, np.nan).astype(np.float64)
            # Degrees, unless a scale is given (the default scale is for metres).
            x = slope_degrees(dem, dx, dy) * (d.scale if "scale" in d.model_fields_set else 1.0)
            x = np.where(valid, x, np.nan)
            run[name] = x
            if train is not None:
                train[name] = x
        elif d.kind == "distance_to_class":
            codes = _class_codes(s, d.classes or [])
            run[name] = distance_to_class(landuse, codes, dx, dy, valid, key=key) * d.scale
            if train is not None and before is not None:
                train[name] = (
                    distance_to_class(before, codes, dx, dy, before != NODATA, key=key) * d.scale
                )
        else:
            assert d.path is not None
            vals, ok = read_aligned(d.path, grid, f"inputs.derived.{name}.path")
            vals = np.where(ok, vals, np.nan)
            x = distance_to_features(vals, d.values, dx, dy, valid, key=key) * d.scale
            run[name] = x
            if train is not None:
                train[name] = x
    want = s.suitability.drivers
    if want is not None:
        run = {k: run[k] for k in want}
        train = None if train is None else {k: train[k] for k in want}
    return run, train


def _suitability(
    s: Scenario, grid: Grid, landuse: np.ndarray, n_jobs: int = 1
) -> tuple[np.ndarray, Any, list[str]]:
    spec = s.suitability
    codes = [c.code for c in s.classes]
    names = [c.name for c in s.classes]
    valid = landuse != NODATA
    k = len(codes)
    if spec.method == "uniform":
        suit = np.broadcast_to(valid.astype(np.float32), (k, *valid.shape)).copy()
        return suit, None, []
    if spec.method == "raster":
        from landsim.suitability.fit import read_fitted

        assert spec.path is not None
        suit, _, _ = read_fitted(spec.path, class_names=names, grid=grid, key="[suitability.path]")
        return np.where(valid[None], suit, 0).astype(np.float32), None, []
    from landsim.suitability.fit import fit_suitability

    assert spec.before is not None
    before = _read_map(s, spec.before, grid, "suitability.before")
    after = landuse if spec.after is None else _read_map(s, spec.after, grid, "suitability.after")
    run, train = drivers(s, grid, landuse, before)
    assert train is not None
    fitted = fit_suitability(
        before,
        after,
        train,
        codes,
        names,
        model=spec.model,
        sample_size=spec.sample_size,
        min_changed=spec.min_changed,
        trees=spec.trees,
        seed=s.simulation.seed,
        key="[suitability]",
        valid=valid,
        on_too_few=spec.too_few,
        predict_drivers=run,
        n_jobs=n_jobs,
    )
    return fitted.suitability, fitted, fitted.drivers


def class_demand(
    s: Scenario, grid: Grid, landuse: np.ndarray, districts: Districts | None
) -> ClassDemand:
    """The scenario's ``[demand]`` as cells per year, district and class."""
    sim = s.simulation
    codes = [c.code for c in s.classes]
    names = [c.name for c in s.classes]
    dist = None if districts is None else districts.codes
    d = s.demand
    if d.method in ("markov", "trend"):
        if d.method == "markov":
            ((year, path),) = d.maps.items()
            earlier = _read_map(s, path, grid, f"demand.maps.{year}")
            out = markov_demand(landuse, earlier, year, sim.start_year, sim.end_year, codes, dist)
        else:
            maps = {y: _read_map(s, p, grid, f"demand.maps.{y}") for y, p in d.maps.items()}
            maps[sim.start_year] = landuse
            curve: Any = d.curve
            if isinstance(curve, dict):
                curve = {s.class_by_name(n).code: c for n, c in curve.items()}
            out = trend_demand(maps, sim.start_year, sim.end_year, codes, dist, curve)
        return hold_fixed(out, set(_class_codes(s, d.fixed or [])))
    if d.method == "table":
        return table_demand(
            d.path,
            landuse,
            sim.start_year,
            sim.end_year,
            codes,
            names,
            dist,
            None if districts is None else districts.names,
            d.unit,
            grid.km2(1),
        )
    urban = s.urban_class.code
    observed = int((landuse == urban).sum())
    series = urban_demand(s, observed, grid.cell_area_m2)
    fixed_names = d.fixed if d.fixed is not None else ["water"]
    fixed = set(_class_codes(s, fixed_names))
    return population_class_demand(
        landuse, series, codes, urban, dist, start_year=sim.start_year, fixed=fixed
    )


def conversion(s: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """(allowed, cost) as [K, K] arrays; default: anything may become anything but
    urban, which never reverts."""
    k = len(s.classes)
    u = s.urban_index
    if s.conversion is None:
        allowed = np.ones((k, k), dtype=np.uint8)
        allowed[u] = 0
        cost = np.zeros((k, k), dtype=np.float32)
    else:
        allowed = np.array(s.conversion.allowed, dtype=np.uint8)
        cost = (
            np.zeros((k, k), dtype=np.float32)
            if s.conversion.cost is None
            else np.array(s.conversion.cost, dtype=np.float32)
        )
    np.fill_diagonal(allowed, 0)
    return allowed, cost


def cell_rules(
    constraints: CompiledConstraints, valid: np.ndarray
) -> list[tuple[int, np.ndarray, np.ndarray | None]]:
    """Per planning period: (first year, cell rule bits, urban soft factor or None)."""
    frozen = np.zeros(valid.shape, dtype=bool)
    no_build = np.zeros(valid.shape, dtype=bool)
    for layer in constraints.layers.values():
        if not layer.enforced:
            continue
        if layer.rule == "no_change":
            frozen |= layer.inside
        elif layer.rule == "no_construction":
            no_build |= layer.inside
    base = np.where(valid & ~frozen, mk.MAY_CHANGE, 0).astype(np.uint8)
    base |= np.where(valid & ~frozen & ~no_build, mk.MAY_BECOME_CONSTRUCTION, 0).astype(np.uint8)
    out = []
    for p in constraints.periods:
        bits = base | np.where(p.candidate.astype(bool), mk.MAY_BECOME_URBAN, 0).astype(np.uint8)
        out.append((p.first_year, bits, p.factor))
    return out


def prepare_multiclass(
    s: Scenario,
    grid: Grid,
    landuse: np.ndarray,
    constraints: CompiledConstraints,
    districts: Districts | None,
) -> MulticlassInputs:
    valid = landuse != NODATA
    allowed, cost = conversion(s)
    demand = class_demand(s, grid, landuse, districts)
    check_sources(demand, allowed.astype(bool), [c.name for c in s.classes])
    suit, fitted, used = _suitability(s, grid, landuse)
    u = s.urban_index
    periods = []
    for first, bits, factor in cell_rules(constraints, valid):
        ps = suit
        if factor is not None:
            ps = suit.copy()
            ps[u] *= factor
        periods.append(MulticlassPeriod(first, bits, ps))
    return MulticlassInputs(demand, suit, periods, allowed, cost, fitted, used)


def urban_series(s: Scenario, demand: ClassDemand) -> dict[int, int]:
    u = s.urban_index
    return {int(y): int(demand.cells[i, :, u].sum()) for i, y in enumerate(demand.years)}


def parameters(
    s: Scenario, inputs: MulticlassInputs, seed: int, member: int
) -> MulticlassParameters:
    m = s.model
    named = m.neighborhood_weights
    weights = np.array([named.get(c.name, 1.0) for c in s.classes], dtype=np.float32)
    kinds = np.array(
        [
            mk.URBAN if c.role == "urban" else mk.CONSTRUCTION if c.role == "construction" else 0
            for c in s.classes
        ],
        dtype=np.uint8,
    )
    allowed = inputs.allowed.copy()
    # The diagonal tells the kernels whether a class may become any other class at all.
    np.fill_diagonal(allowed, allowed.any(axis=1))
    return MulticlassParameters(
        class_codes=np.array([c.code for c in s.classes], dtype=np.uint8),
        weights=weights,
        allowed=allowed,
        cost=inputs.cost,
        target_kind=kinds,
        urban_index=s.urban_index,
        radius=m.neighborhood_radius,
        seed_share=m.patch_seed_share,
        rounds=m.expansion_rounds,
        tolerance=m.demand_tolerance,
        seed=seed,
        member=member,
    )


def simulate(
    s: Scenario,
    inputs: MulticlassInputs,
    landuse: np.ndarray,
    seed: int,
    member: int,
    districts: Districts | None,
    layers: dict[str, np.ndarray],
    on_year: Any = None,
) -> SimulationResult:
    d = inputs.demand
    return simulate_multiclass(
        landuse,
        ClassDemandArrays(d.years, d.district_codes, d.cells),
        parameters(s, inputs, seed, member),
        inputs.periods,
        s.simulation.map_years,
        districts=None if districts is None else districts.codes,
        layers=layers,
        on_year=on_year,
        class_names=[c.name for c in s.classes],
    )


def demand_rows(s: Scenario, res: SimulationResult, grid: Grid) -> list[list[Any]]:
    """The rows of ``demand.csv``: per year, district and class, demand against result."""
    names = {c.code: c.name for c in s.classes}
    rows = []
    for rec in res.records:
        for r in rec.demand_fit or ():
            err = r["error"]
            rows.append(
                [
                    rec.year,
                    r["district"],
                    r["class_code"],
                    names[r["class_code"]],
                    r["demand"],
                    r["cells"],
                    err,
                    f"{100.0 * err / r['demand']:.4f}" if r["demand"] else "",
                    r["forced"],
                    "yes" if r["within_tolerance"] else "no",
                    r["reason"],
                ]
            )
    return rows


DEMAND_HEADER = [
    "year",
    "district",
    "class_code",
    "class_name",
    "demand_cells",
    "cells",
    "error_cells",
    "error_pct",
    "forced_cells",
    "within_tolerance",
    "why_short",
]


def transition_rows(s: Scenario, res: SimulationResult) -> list[list[Any]]:
    rows = []
    classes = s.classes
    for rec in res.records:
        t = rec.transitions
        if t is None:
            continue
        for i, a in enumerate(classes):
            for j, b in enumerate(classes):
                if t[i, j]:
                    rows.append([rec.year, a.code, a.name, b.code, b.name, int(t[i, j])])
    return rows


TRANSITION_HEADER = ["year", "from_code", "from_class", "to_code", "to_class", "cells"]


def fit(s: Scenario, grid: Grid, landuse: np.ndarray, *, n_jobs: int = 1) -> Any:
    """The scenario's ``[suitability] method = "fit"`` alone, exactly as a run fits it:
    the :class:`~landsim.suitability.fit.FittedSuitability` (``landsim fit-suitability``
    writes it for a later ``method = "raster"`` run)."""
    if s.suitability.method != "fit":
        raise ValueError(f"suitability method is {s.suitability.method!r}, not 'fit'")
    return _suitability(s, grid, landuse, n_jobs)[1]
