"""Indicators per year of a simulated future, and their spread over an ensemble.

Every run folder holds ``indicators.csv`` in one format, whether it is one run or an
ensemble (``docs/design.md``, output contract): one row per year and indicator with the
mean, standard deviation and quantiles over the members (a single run is an ensemble of
one). ``landsim compare`` reads only this file and the maps, so runs and ensembles
compare alike.

The cumulative growth indicators are counted from the map of the year each cell became
urban, not from the engine's records, so they hold for any engine that yields that map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

# Type names only: compare reads HEADER without loading the model and its kernels.
if TYPE_CHECKING:
    from landsim.constraints import CompiledConstraints
    from landsim.io.raster import Grid
    from landsim.model import SimulationResult
    from landsim.scenario import Scenario

HEADER = [
    "year",
    "indicator",
    "unit",
    "members",
    *("mean", "std", "min", "p05", "median", "p95", "max"),
]

# Rules of the lines that protect land from construction: growth inside is encroachment.
PROTECTIVE_RULES = ("no_change", "no_construction")
BOUNDARY_RULE = "construction_inside_only"


def member_indicators(
    scenario: Scenario,
    constraints: CompiledConstraints,
    res: SimulationResult,
) -> dict[str, list[int]]:
    """One member's indicators, in cells, for every year from start to end."""
    from landsim.report.compliance import disallowed_growth

    assert res.urban_year is not None
    years = sorted(res.class_counts)
    start, n = years[0], len(years)
    counts = np.stack([res.class_counts[y] for y in years])
    urban = scenario.urban_class.code
    crop_codes = [c.code for c in scenario.classes if c.role == "cropland"]
    crop = counts[:, crop_codes].sum(axis=1) if crop_codes else np.zeros(n, dtype=np.int64)
    new_urban = counts[:, urban] - counts[0, urban]

    # Every indicator counts cells that became urban: read those cells of each mask, not
    # the whole grid once per line.
    grown = np.flatnonzero(res.urban_year > start)
    year_of = res.urban_year.reshape(-1)[grown].astype(np.intp) - start

    def at(mask: np.ndarray) -> np.ndarray:
        return mask.reshape(-1)[grown]

    def cumulative(mask: np.ndarray) -> np.ndarray:
        return np.cumsum(np.bincount(year_of[mask], minlength=n)[:n])

    out: dict[str, np.ndarray] = {
        "urban": counts[:, urban],
        "new_urban": new_urban,
        "cropland_lost": crop[0] - crop,
    }
    layers = constraints.layers
    inside = {name: at(v.inside) for name, v in layers.items()}
    boundary = [inside[k] for k, v in layers.items() if v.rule == BOUNDARY_RULE]
    if boundary:
        in_boundary = cumulative(np.logical_or.reduce(boundary))
        out["growth_inside_boundary"] = in_boundary
        out["growth_outside_boundary"] = new_urban - in_boundary
    protective = [inside[k] for k, v in layers.items() if v.rule in PROTECTIVE_RULES]
    if protective:
        out["line_encroachment"] = cumulative(np.logical_or.reduce(protective))
    out["disallowed_growth"] = cumulative(
        disallowed_growth(constraints, at(res.urban_year), start, grown)
    )
    for c in scenario.classes:
        out[f"area:{c.name}"] = counts[:, c.code]
    for name in layers:
        out[f"new_urban_inside:{name}"] = cumulative(inside[name])
    return {k: [int(x) for x in v] for k, v in out.items()}


def _stats(values: np.ndarray) -> list[float]:
    """mean, std, min, p05, median, p95, max over members (axis 0)."""
    q = np.quantile(values, [0.0, 0.05, 0.5, 0.95, 1.0], axis=0, method="linear")
    return [values.mean(axis=0), values.std(axis=0), q[0], q[1], q[2], q[3], q[4]]


def indicator_rows(
    years: Sequence[int], members: Sequence[dict[str, list[int]]], grid: Grid
) -> list[list[Any]]:
    """Rows of ``indicators.csv`` from the members' indicators, in member order."""
    per_cell = grid.km2(1)
    unit = "cells" if per_cell is None else "km2"
    scale = 1.0 if per_cell is None else per_cell
    rows: list[list[Any]] = []
    names = list(members[0])
    stacked = {k: np.array([m[k] for m in members], dtype=np.float64) * scale for k in names}
    stats = {k: _stats(v) for k, v in stacked.items()}
    for i, year in enumerate(years):
        for k in names:
            rows.append([year, k, unit, len(members), *(_fmt(float(s[i])) for s in stats[k])])
    return rows


def _fmt(v: float) -> str:
    # Fixed decimals (1 m² in km²): the file is the same bytes on every machine.
    if v != v:
        return "nan"
    text = f"{v + 0.0:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
