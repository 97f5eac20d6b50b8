"""Tools: the operations the CLI offers, on file paths (rasterio's "tool" idea).

``validate_scenario`` checks a scenario and its inputs without running the model;
``run_scenario`` runs it and writes the output contract of ``docs/design.md``.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landsim import __version__
from landsim.constraints import CompiledConstraints, compile_constraints
from landsim.demand import urban_demand
from landsim.errors import DemandError
from landsim.io.raster import NODATA, Grid, probe_aligned, read_landuse
from landsim.model import GrowthParameters, SimulationResult, YearRecord, simulate
from landsim.scenario import Scenario, load
from landsim.scenario.schema import CONSTRUCTION_ROLES
from landsim.suitability import compute_suitability

log = logging.getLogger(__name__)

DEFAULT_COLORS = {
    "urban": "#d7191c",
    "construction": "#f07c4a",
    "cropland": "#f5e07a",
    "forest": "#1a9641",
    "grassland": "#a6d96a",
    "water": "#2b83ba",
    "wetland": "#7fc5d9",
    "bare": "#c8b49b",
    "other": "#bdbdbd",
}


@dataclass
class Prepared:
    """Everything a run needs, read and checked."""

    scenario: Scenario
    grid: Grid
    landuse: np.ndarray
    suitability: np.ndarray
    constraints: CompiledConstraints
    demand: dict[int, int]
    seed: int

    @property
    def observed_urban(self) -> int:
        return self.demand[self.scenario.simulation.start_year]


@dataclass
class RunResult:
    out_dir: Path
    scenario: Scenario
    files: list[str]
    summary: dict[str, Any] = field(default_factory=dict)


def _km2(cells: int | float, grid: Grid) -> float | None:
    a = grid.cell_area_m2
    return None if a is None else cells * a / 1e6


def _check_feasible(
    scenario: Scenario, constraints: CompiledConstraints, demand: dict[int, int]
) -> None:
    """Refuse a demand larger than the cells the enforced layers leave open."""
    sim = scenario.simulation
    needed = demand[sim.end_year] - demand[sim.start_year]
    available = int(constraints.candidate.sum())
    if needed <= available:
        return
    missing = needed - available
    parts = sorted(constraints.taken_away.items(), key=lambda kv: -kv[1])
    takers = ", ".join(
        f"{name} {n:,} ({constraints.taken_away_only[name]:,} by it alone)"
        for name, n in parts
        if n
    )
    where = f"{scenario.source}: " if scenario.source else ""
    raise DemandError(
        f"{where}[demand] {sim.end_year} needs {needed:,} new urban cells but only "
        f"{available:,} cells may become urban: {missing:,} cells missing"
        + (f"; cells taken from growth by {takers}" if takers else "")
        + "; lower the demand or relax a layer in [constraints]"
    )


def prepare(scenario: Scenario, seed: int | None = None) -> Prepared:
    """Read and check every input of a scenario; raise a LandsimError on bad input."""
    codes = [c.code for c in scenario.classes]
    landuse, grid = read_landuse(scenario.inputs.landuse, codes)
    valid = landuse != NODATA
    constraints = compile_constraints(scenario, landuse, grid)
    suitability = compute_suitability(scenario, grid, valid)
    if constraints.factor is not None:
        suitability *= constraints.factor
        constraints.candidate[suitability <= 0] = 0
    observed = int((landuse == scenario.urban_class.code).sum())
    demand = urban_demand(scenario, observed, grid.cell_area_m2)
    _check_feasible(scenario, constraints, demand)
    return Prepared(
        scenario,
        grid,
        landuse,
        suitability,
        constraints,
        demand,
        scenario.simulation.seed if seed is None else seed,
    )


def validate_scenario(path: str | Path) -> dict[str, Any]:
    """Check a scenario file and all its inputs (alignment, codes, demand) without running."""
    scenario = load(path)
    codes = [c.code for c in scenario.classes]
    landuse, grid = read_landuse(scenario.inputs.landuse, codes)
    for name, spec in scenario.inputs.driver_specs().items():
        probe_aligned(spec.path, grid, f"inputs.drivers.{name}")
    if scenario.suitability.path is not None:
        probe_aligned(scenario.suitability.path, grid, "suitability.path")
    constraints = compile_constraints(scenario, landuse, grid)
    observed = int((landuse == scenario.urban_class.code).sum())
    demand = urban_demand(scenario, observed, grid.cell_area_m2)
    _check_feasible(scenario, constraints, demand)
    sim = scenario.simulation
    return {
        "scenario": scenario.name,
        "grid": f"{grid.shape[0]} × {grid.shape[1]} cells, {grid.crs_label}",
        "valid_cells": int((landuse != NODATA).sum()),
        "years": f"{sim.start_year}–{sim.end_year}",
        "urban_start_cells": observed,
        "urban_end_cells": demand[sim.end_year],
        "candidate_cells": int(constraints.candidate.sum()),
        "constraints": {
            k: v.rule if v.enforced else f"{v.rule}, reported only"
            for k, v in constraints.layers.items()
        },
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _input_files(s: Scenario) -> dict[str, Path]:
    files = {"inputs.landuse": s.inputs.landuse}
    for name, spec in s.inputs.driver_specs().items():
        files[f"inputs.drivers.{name}"] = spec.path
    if s.suitability.path is not None:
        files["suitability.path"] = s.suitability.path
    for name, c in s.constraints.items():
        files[f"constraints.{name}.path"] = c.path
    return files


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0], "landsim": __version__}
    for pkg in ("numpy", "numba", "rasterio", "xarray", "h5netcdf", "pydantic", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    try:
        import rasterio

        out["gdal"] = rasterio.__gdal_version__
    except ImportError:
        pass
    return out


def _growth_params(s: Scenario, seed: int) -> GrowthParameters:
    weights = np.zeros(256, dtype=np.float32)
    named = s.model.neighborhood_weights or {s.urban_class.name: 1.0}
    for name, w in named.items():
        weights[s.class_by_name(name).code] = w
    return GrowthParameters(
        urban_code=s.urban_class.code,
        weights=weights,
        radius=s.model.neighborhood_radius,
        floor=s.model.neighborhood_floor,
        alpha=s.model.random_factor,
        seed=seed,
    )


def _summary_rows(p: Prepared, res: SimulationResult) -> list[list[Any]]:
    rows = []
    start_counts = res.class_counts[res.start_year]
    by_year = {r.year: r for r in res.records}
    for year in sorted(res.class_counts):
        counts = res.class_counts[year]
        rec = by_year.get(year)
        for c in p.scenario.classes:
            cells = int(counts[c.code])
            km2 = _km2(cells, p.grid)
            to_urban = int(rec.from_class[c.code]) if rec else 0
            rows.append(
                [
                    year,
                    c.code,
                    c.name,
                    c.role,
                    cells,
                    "" if km2 is None else f"{km2:.4f}",
                    cells - int(start_counts[c.code]),
                    to_urban,
                ]
            )
    return rows


def _compliance(p: Prepared, res: SimulationResult) -> dict[str, Any]:
    s = p.scenario
    urban = s.urban_class.code
    area = p.grid.cell_area_m2
    layers = p.constraints.layers
    cropland = [c.code for c in s.classes if c.role == "cropland"]
    construction = [c.code for c in s.classes if c.role in CONSTRUCTION_ROLES]

    def violation(rule: str, inside: int, total: int) -> int | None:
        if rule in ("no_change", "no_construction"):
            return inside
        if rule == "construction_inside_only":
            return total - inside
        return None

    cum_total = 0
    cum_inside = dict.fromkeys(layers, 0)
    years = []
    for rec in res.records:
        cum_total += rec.new_urban
        lines = {}
        for name, layer in layers.items():
            cum_inside[name] += rec.inside[name]
            lines[name] = {
                "new_urban_inside": rec.inside[name],
                "new_urban_outside": rec.new_urban - rec.inside[name],
                "new_urban_inside_cumulative": cum_inside[name],
                "new_urban_outside_cumulative": cum_total - cum_inside[name],
                "violations": violation(layer.rule, rec.inside[name], rec.new_urban),
            }
        counts = res.class_counts[rec.year]
        crop = int(sum(counts[c] for c in cropland))
        crop0 = int(sum(res.class_counts[res.start_year][c] for c in cropland))
        years.append(
            {
                "year": rec.year,
                "new_urban_cells": rec.new_urban,
                "new_urban_cells_cumulative": cum_total,
                "cropland_cells": crop,
                "cropland_lost_cells_cumulative": crop0 - crop,
                "lines": lines,
            }
        )
    # The same totals recomputed from the start and final maps, independent of the
    # per-year bookkeeping: a check that the kernels did what the records say.
    start, final = p.landuse, res.final
    assert final is not None
    changed = start != final
    new_construction = changed & np.isin(final, construction)
    check = {}
    for name, layer in layers.items():
        ins = layer.inside
        check[name] = {
            "rule": layer.rule,
            "changed_inside": int((changed & ins).sum()),
            "new_construction_inside": int((new_construction & ins).sum()),
            "new_construction_outside": int((new_construction & ~ins).sum()),
            "violations": {
                "no_change": int((changed & ins).sum()),
                "no_construction": int((new_construction & ins).sum()),
                "construction_inside_only": int((new_construction & ~ins).sum()),
            }.get(layer.rule),
        }
    return {
        "scenario": s.name,
        "cell_area_m2": area,
        "lines": {
            name: {
                "rule": layer.rule,
                "file": str(layer.path),
                "cells_inside": int(layer.inside.sum()),
                "km2_inside": _km2(int(layer.inside.sum()), p.grid),
                "enforced": layer.enforced,
                "cells_taken_from_growth": p.constraints.taken_away.get(name, 0),
            }
            for name, layer in layers.items()
        },
        "years": years,
        "final_check_from_maps": {
            "changed_cells": int(changed.sum()),
            "reverted_urban_cells": int(((start == urban) & (final != urban)).sum()),
            "lines": check,
        },
    }


def run_prepared(
    p: Prepared,
    out_dir: Path,
    *,
    overwrite: bool = False,
    on_year: Callable[[YearRecord], None] | None = None,
) -> RunResult:
    from landsim.io import write

    s = p.scenario
    inputs = list(_input_files(s).values())
    write.check_output_dir(out_dir, overwrite, inputs)
    params = _growth_params(s, p.seed)
    map_years = s.simulation.map_years
    res = simulate(
        p.landuse,
        p.suitability,
        p.constraints.candidate,
        p.demand,
        params,
        map_years,
        layers={k: v.inside for k, v in p.constraints.layers.items()},
        on_year=on_year,
    )
    colors = {c.code: c.color or DEFAULT_COLORS[c.role] for c in s.classes}
    tags = {
        "landsim_version": __version__,
        "scenario": s.name,
        "seed": str(p.seed),
    }
    files: list[str] = []
    with write.staged_output(out_dir, overwrite, inputs) as stage:
        if s.output.geotiff:
            for year in map_years:
                name = f"landuse_{year}.tif"
                write.write_geotiff(
                    stage / name,
                    res.maps[year],
                    p.grid,
                    colors,
                    s.output.compress,
                    {**tags, "year": str(year)},
                )
                files.append(name)
        if s.output.netcdf:
            write.write_netcdf(
                stage / "landsim.nc",
                res.maps,
                p.grid,
                [c.code for c in s.classes],
                [c.name for c in s.classes],
                {"title": f"landsim scenario {s.name}", **tags},
                compress=s.output.compress != "none",
            )
            files.append("landsim.nc")
        write.write_csv(
            stage / "summary.csv",
            [
                "year",
                "class_code",
                "class_name",
                "role",
                "cells",
                "km2",
                "change_since_start_cells",
                "converted_to_urban_cells",
            ],
            _summary_rows(p, res),
        )
        compliance = _compliance(p, res)
        write.write_json(stage / "compliance.json", compliance)
        provenance = {
            "landsim_version": __version__,
            "scenario_file": str(s.source) if s.source else None,
            "scenario_sha256": _sha256(s.source) if s.source else None,
            "seed": p.seed,
            "inputs": {
                key: {"path": str(path), "sha256": _sha256(path)}
                for key, path in _input_files(s).items()
            },
            "versions": _versions(),
            "resolved_scenario": s.model_dump(mode="json"),
        }
        write.write_json(stage / "provenance.json", provenance)
        files += ["summary.csv", "compliance.json", "provenance.json"]

    sim = s.simulation
    urban = s.urban_class.code
    crop_codes = [c.code for c in s.classes if c.role == "cropland"]
    start_c, end_c = res.class_counts[sim.start_year], res.class_counts[sim.end_year]
    crop_lost = int(sum(start_c[c] - end_c[c] for c in crop_codes))
    checked = compliance["final_check_from_maps"]["lines"]
    violations = {
        name: v["violations"]
        for name, v in checked.items()
        if v["violations"] is not None and p.constraints.layers[name].enforced
    }
    encroachment = {
        name: v["violations"]
        for name, v in checked.items()
        if v["violations"] is not None and not p.constraints.layers[name].enforced
    }
    summary = {
        "scenario": s.name,
        "seed": p.seed,
        "start_year": sim.start_year,
        "end_year": sim.end_year,
        "urban_start_cells": int(start_c[urban]),
        "urban_end_cells": int(end_c[urban]),
        "urban_start_km2": _km2(int(start_c[urban]), p.grid),
        "urban_end_km2": _km2(int(end_c[urban]), p.grid),
        "cropland_lost_cells": crop_lost,
        "cropland_lost_km2": _km2(crop_lost, p.grid),
        "violations": violations,
        "encroachment": encroachment,
        "taken_from": {
            c.name: int(sum(r.from_class[c.code] for r in res.records))
            for c in s.classes
            if c.code != urban
        },
    }
    return RunResult(out_dir, s, files, summary)


def default_output_dir(scenario: Scenario) -> Path:
    return Path.cwd() / "runs" / scenario.name


def run_scenario(
    path: str | Path,
    out_dir: str | Path | None = None,
    *,
    seed: int | None = None,
    overwrite: bool = False,
    on_year: Callable[[YearRecord], None] | None = None,
) -> RunResult:
    """Run a scenario file and write its outputs; returns where and a short summary."""
    from landsim.io.write import check_output_dir

    scenario = load(path)
    out = Path(out_dir) if out_dir is not None else default_output_dir(scenario)
    # Refuse before spending minutes on the model.
    check_output_dir(out, overwrite, _input_files(scenario).values())
    p = prepare(scenario, seed)
    return run_prepared(p, out, overwrite=overwrite, on_year=on_year)
