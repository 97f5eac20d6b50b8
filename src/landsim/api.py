"""Tools: the operations the CLI offers, on file paths (rasterio's "tool" idea).

``validate_scenario`` checks a scenario and its inputs without running the model;
``run_scenario`` runs it and writes the output contract of ``docs/design.md``.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landsim import __version__, indicators, report
from landsim.constraints import CompiledConstraints, Districts, compile_constraints, read_districts
from landsim.demand import urban_demand
from landsim.errors import DemandError
from landsim.io.raster import NODATA, Grid, probe_aligned, read_landuse
from landsim.model import GrowthParameters, Period, SimulationResult, YearRecord, simulate
from landsim.scenario import Scenario, load
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
    periods: list[Period] = field(default_factory=list)
    districts: Districts | None = None
    # [model] kind = "multiclass": landsim.multiclass.MulticlassInputs
    multi: Any = None

    @property
    def observed_urban(self) -> int:
        return self.demand[self.scenario.simulation.start_year]


@dataclass
class RunResult:
    out_dir: Path
    scenario: Scenario
    files: list[str]
    summary: dict[str, Any] = field(default_factory=dict)


def _check_feasible(
    scenario: Scenario,
    constraints: CompiledConstraints,
    demand: dict[int, int],
    periods: list[Period],
    districts: Districts | None = None,
) -> None:
    """Refuse a demand larger than the cells the enforced layers and rules leave open.

    Each period's growth must fit in the cells open in *that* period: a rule that closes
    land from a later year on takes it away from then (checking the union of all periods'
    cells let such a run pass here and stop in the middle of the simulation). Growth of
    earlier periods may already have taken some of a period's cells, at most as many as
    lie open in both; the check assumes it did, so that no seed can run short.
    """
    sim = scenario.simulation
    earlier = np.zeros(periods[0].candidate.shape, dtype=bool)  # open in an earlier period
    for i, (compiled, period) in enumerate(zip(constraints.periods, periods, strict=True)):
        open_ = period.candidate.astype(bool)
        if period.spill is not None:
            open_ = open_ | period.spill.astype(bool)
        grown = demand[compiled.first_year - 1] - demand[sim.start_year]
        needed = demand[compiled.last_year] - demand[compiled.first_year - 1]
        used = min(grown, int(np.count_nonzero(open_ & earlier)))
        available = int(np.count_nonzero(open_)) - used
        earlier |= open_
        if needed <= available:
            continue
        missing = needed - available
        parts = sorted(compiled.taken_away.items(), key=lambda kv: -kv[1])
        takers = ", ".join(
            f"{name} {n:,} ({compiled.taken_away_only[name]:,} by it alone)"
            for name, n in parts
            if n
        )
        per_district = ""
        if districts is not None:
            room = np.bincount(districts.codes[open_], minlength=1)
            listed = ", ".join(
                f"{districts.name(c)} {int(room[c]):,}"
                for c in sorted(districts.names)
                if c < len(room)
            )
            per_district = f"; room per district (cells): {listed}"
        where = f"{scenario.source}: " if scenario.source else ""
        spill = [k for k, v in scenario.constraints.items() if v.spill_over]
        hint = "lower the demand or relax a layer in [constraints] or a rule in [[rules]]"
        if not spill:
            hint += ", or let growth spill over the boundary (spill_over = true)"
        if i == 0:
            what = (
                f"[demand] {compiled.last_year} needs {needed:,} new urban cells but only "
                f"{available:,} cells may become urban by then"
            )
        else:
            what = (
                f"[demand] {compiled.first_year}–{compiled.last_year} needs {needed:,} new "
                f"urban cells but only {available:,} cells may become urban in those years "
                f"({int(open_.sum()):,} open under the rules in force from "
                f"{compiled.first_year}"
                + (f", less up to {used:,} taken by growth before then)" if used else ")")
            )
        raise DemandError(
            f"{where}{what}: {missing:,} cells missing"
            + (f"; cells taken from growth by {takers}" if takers else "")
            + per_district
            + f"; {hint}"
        )


def _model_periods(suitability: np.ndarray, constraints: CompiledConstraints) -> list[Period]:
    """The compiled periods as the engine reads them: soft factors applied to suitability."""
    out = []
    for p in constraints.periods:
        suit = suitability if p.factor is None else suitability * p.factor
        # A cell of suitability 0 has potential 0 whatever happens: not a candidate.
        fit = suit > 0
        # The compiled masks hold 0/1: combined as bool views, without byte copies.
        spill = None if p.spill is None else (p.spill.view(bool) & fit).view(np.uint8)
        cand = np.logical_and(p.candidate.view(bool), fit, out=fit).view(np.uint8)
        out.append(Period(p.first_year, cand, suit, spill))
    return out


def prepare(scenario: Scenario, seed: int | None = None) -> Prepared:
    """Read and check every input of a scenario; raise a LandsimError on bad input."""
    codes = [c.code for c in scenario.classes]
    landuse, grid = read_landuse(scenario.inputs.landuse, codes)
    valid = landuse != NODATA
    constraints = compile_constraints(scenario, landuse, grid)
    districts = read_districts(scenario, grid)
    multi = None
    if scenario.model.kind == "multiclass":
        from landsim import multiclass

        multi = multiclass.prepare_multiclass(scenario, grid, landuse, constraints, districts)
        # The urban-only views the reports read; the feasibility check counts every cell
        # the rules open to urban (the multi-class model may take any of them).
        suitability = multi.suitability[scenario.urban_index]
        periods = _model_periods(valid.astype(np.float32), constraints)
        demand = multiclass.urban_series(scenario, multi.demand)
    else:
        suitability = compute_suitability(scenario, grid, valid)
        periods = _model_periods(suitability, constraints)
        observed = int(np.count_nonzero(landuse == scenario.urban_class.code))
        demand = urban_demand(scenario, observed, grid.cell_area_m2)
    _check_feasible(scenario, constraints, demand, periods, districts)
    return Prepared(
        scenario,
        grid,
        landuse,
        suitability,
        constraints,
        demand,
        scenario.simulation.seed if seed is None else seed,
        periods,
        districts,
        multi,
    )


def validate_scenario(path: str | Path) -> dict[str, Any]:
    """Check a scenario file and all its inputs (alignment, codes, demand) without running."""
    scenario = load(path)
    if scenario.model.kind == "multiclass":
        # Every input is read, the class demand projected and the suitability computed
        # (fitted, for method "fit"): what a run would refuse, validate refuses.
        p = prepare(scenario)
        landuse, grid, constraints, demand = p.landuse, p.grid, p.constraints, p.demand
        observed = demand[scenario.simulation.start_year]
    else:
        codes = [c.code for c in scenario.classes]
        landuse, grid = read_landuse(scenario.inputs.landuse, codes)
        for name, spec in scenario.inputs.driver_specs().items():
            probe_aligned(spec.path, grid, f"inputs.drivers.{name}")
        if scenario.suitability.path is not None:
            probe_aligned(scenario.suitability.path, grid, "suitability.path")
        constraints = compile_constraints(scenario, landuse, grid)
        districts = read_districts(scenario, grid)
        observed = int(np.count_nonzero(landuse == scenario.urban_class.code))
        demand = urban_demand(scenario, observed, grid.cell_area_m2)
        # The drivers' pixels are read too: a truncated or all-nodata driver passes a
        # probe of its header and must be refused here, not halfway into a run.
        suitability = compute_suitability(scenario, grid, landuse != NODATA)
        _check_feasible(
            scenario, constraints, demand, _model_periods(suitability, constraints), districts
        )
    sim = scenario.simulation
    return {
        "scenario": scenario.name,
        "grid": f"{grid.shape[0]} × {grid.shape[1]} cells, {grid.crs_label}",
        "valid_cells": int(np.count_nonzero(landuse != NODATA)),
        "years": f"{sim.start_year}–{sim.end_year}",
        "urban_start_cells": observed,
        "urban_end_cells": demand[sim.end_year],
        "candidate_cells": int(np.count_nonzero(constraints.candidate)),
        "periods": {
            f"{p.first_year}–{p.last_year}": f"{int(np.count_nonzero(p.candidate)):,} cells open"
            + ("" if p.spill is None else f", {int(np.count_nonzero(p.spill)):,} by spill-over")
            for p in constraints.periods
        },
        "conflicts (三线冲突)": {
            " ∩ ".join(c["layers"]): f"{c['cells']:,} cells, {c['prevails']} prevails"
            for c in constraints.conflicts
            if c["three_lines"]
        },
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
    for key in ("before", "after"):
        path = getattr(s.suitability, key)
        if path is not None:
            files[f"suitability.{key}"] = path
    for name, d in s.inputs.derived.items():
        if d.path is not None:
            files[f"inputs.derived.{name}.path"] = d.path
    for year, path in (getattr(s.demand, "maps", None) or {}).items():
        files[f"demand.maps.{year}"] = path
    if s.demand.method == "table":
        files["demand.path"] = s.demand.path
    for name, c in s.constraints.items():
        files[f"constraints.{name}.path"] = c.path
    if s.districts is not None:
        files["districts.path"] = s.districts.path
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


def _growth_params(s: Scenario, seed: int, member: int = 0) -> GrowthParameters:
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
        member=member,
    )


SUMMARY_HEADER = [
    "year",
    "class_code",
    "class_name",
    "role",
    "cells",
    "km2",
    "change_since_start_cells",
    "converted_to_urban_cells",
]


def summary_rows(
    s: Scenario, grid: Grid, class_counts: dict[int, np.ndarray], records: list[YearRecord]
) -> list[list[Any]]:
    """The rows of ``summary.csv`` (:data:`SUMMARY_HEADER`): per year and class. ``landsim
    run-tiled`` writes them too, so both commands' files are the same bytes."""
    rows = []
    start_counts = class_counts[min(class_counts)]
    by_year = {r.year: r for r in records}
    for year in sorted(class_counts):
        counts = class_counts[year]
        rec = by_year.get(year)
        for c in s.classes:
            cells = int(counts[c.code])
            km2 = grid.km2(cells)
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


def simulate_prepared(
    p: Prepared, member: int = 0, on_year: Callable[[YearRecord], None] | None = None
) -> SimulationResult:
    """One member of a prepared scenario: the engine's result, nothing written.

    Member ``m`` draws from its own random stream, keyed by (seed, m, year); member 0
    is the plain run.
    """
    layers = {k: v.inside for k, v in p.constraints.layers.items()}
    if p.multi is not None:
        from landsim import multiclass

        return multiclass.simulate(
            p.scenario, p.multi, p.landuse, p.seed, member, p.districts, layers, on_year
        )
    params = _growth_params(p.scenario, p.seed, member)
    return simulate(
        p.landuse,
        p.suitability,
        p.constraints.candidate,
        p.demand,
        params,
        p.scenario.simulation.map_years,
        layers=layers,
        on_year=on_year,
        periods=p.periods or None,
        districts=None if p.districts is None else p.districts.codes,
    )


def provenance(s: Scenario, grid: Grid, seed: int, members: int = 1) -> dict[str, Any]:
    """The content of ``provenance.json``: what was run, on what, with which versions.

    Nothing here depends on the machine's threads or workers, so the file is the same
    bytes for the same scenario, seed and inputs.
    """
    t = grid.transform
    return {
        "landsim_version": __version__,
        "scenario": s.name,
        "kind": "single" if members == 1 else "ensemble",
        "members": members,
        "seed": seed,
        "random_streams": "counter-based (SplitMix64), keyed by (seed, member, year); "
        "member 0 is the plain run",
        "scenario_file": str(s.source) if s.source else None,
        "scenario_sha256": _sha256(s.source) if s.source else None,
        "grid": {
            "width": grid.shape[1],
            "height": grid.shape[0],
            "crs": grid.crs.to_wkt() if grid.crs else "",
            "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
        },
        "cell_area_km2": grid.km2(1),
        "inputs": {
            key: {"path": str(path), "sha256": _sha256(path)}
            for key, path in _input_files(s).items()
        },
        "versions": _versions(),
        "resolved_scenario": s.model_dump(mode="json"),
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
    map_years = s.simulation.map_years
    res = simulate_prepared(p, on_year=on_year)
    colors = {c.code: c.color or DEFAULT_COLORS[c.role] for c in s.classes}
    tags = {
        "landsim_version": __version__,
        "scenario": s.name,
        "seed": str(p.seed),
    }
    files: list[str] = []

    def encode_rasters() -> tuple[list[bytes], bytes]:
        """The maps' GeoTIFFs and urban_year.tif, encoded in memory."""
        assert res.urban_year is not None
        maps = [
            write.encode_geotiff(
                res.maps[year], p.grid, colors, s.output.compress, {**tags, "year": str(year)}
            )
            for year in map_years
        ]
        meaning = "year the cell became urban; start year: urban at the start; 0: never"
        year_map = write.encode_year_map(
            res.urban_year, p.grid, s.output.compress, {**tags, "meaning": meaning}
        )
        return maps, year_map

    with (
        write.staged_output(out_dir, overwrite, inputs) as stage,
        ThreadPoolExecutor(1, thread_name_prefix="landsim-encode") as pool,
    ):
        # GDAL compresses the GeoTIFFs in memory without the GIL on one thread while the
        # NetCDF is encoded on this one; the files reach the disk from here, one by one
        # in a fixed order, so a full disk fails at the same file whatever the timing.
        rasters = pool.submit(encode_rasters) if s.output.geotiff else None
        netcdf = None
        if s.output.netcdf:
            netcdf = write.encode_netcdf(
                res.maps,
                p.grid,
                [c.code for c in s.classes],
                [c.name for c in s.classes],
                {"title": f"landsim scenario {s.name}", **tags},
                compress=s.output.compress != "none",
            )
        maps, year_map = rasters.result() if rasters is not None else ([], None)
        for year, data in zip(map_years, maps, strict=False):
            write.write_bytes(stage / f"landuse_{year}.tif", data)
            files.append(f"landuse_{year}.tif")
        del maps
        if netcdf is not None:
            write.write_bytes(stage / "landsim.nc", netcdf)
            files.append("landsim.nc")
            del netcdf
        write.write_csv(
            stage / "summary.csv",
            SUMMARY_HEADER,
            summary_rows(s, p.grid, res.class_counts, res.records),
        )
        if year_map is not None:
            write.write_bytes(stage / "urban_year.tif", year_map)
            files.append("urban_year.tif")
        compliance = report.compliance(s, p.grid, p.landuse, p.constraints, res, p.districts)
        write.write_json(stage / "compliance.json", compliance)
        write.write_json(stage / "provenance.json", provenance(s, p.grid, p.seed))
        years = sorted(res.class_counts)
        write.write_csv(
            stage / "indicators.csv",
            indicators.HEADER,
            indicators.indicator_rows(
                years, [indicators.member_indicators(s, p.constraints, res)], p.grid
            ),
        )
        files += ["summary.csv", "indicators.csv", "compliance.json", "provenance.json"]
        if p.multi is not None:
            files += _write_multiclass(p, res, stage)

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
        "urban_start_km2": p.grid.km2(int(start_c[urban])),
        "urban_end_km2": p.grid.km2(int(end_c[urban])),
        "cropland_lost_cells": crop_lost,
        "cropland_lost_km2": p.grid.km2(crop_lost),
        "violations": violations,
        "encroachment": encroachment,
        "taken_from": {
            c.name: int(sum(r.from_class[c.code] for r in res.records))
            for c in s.classes
            if c.code != urban
        },
        "lines": _lines_table(compliance),
        "spilled_cells": sum(r.spilled for r in res.records),
        "growth_not_allowed_by_rules": compliance["final_check_from_maps"][
            "growth_not_allowed_by_rules"
        ],
        "conflicts": compliance["conflicts"],
        "plan": compliance["plan"],
        "districts": [
            {
                k: d[k]
                for k in ("name", "urban_start_cells", "urban_end_cells", "cropland_lost_cells")
            }
            for d in compliance.get("districts", [])
        ],
    }
    return RunResult(out_dir, s, files, summary)


def _write_multiclass(p: Prepared, res: SimulationResult, stage: Path) -> list[str]:
    """demand.csv, transitions.csv and, for a fitted suitability, its report."""
    from landsim import multiclass
    from landsim.io import write

    s = p.scenario
    write.write_csv(
        stage / "demand.csv", multiclass.DEMAND_HEADER, multiclass.demand_rows(s, res, p.grid)
    )
    write.write_csv(
        stage / "transitions.csv", multiclass.TRANSITION_HEADER, multiclass.transition_rows(s, res)
    )
    out = ["demand.csv", "transitions.csv"]
    if p.multi.fitted is not None:
        from landsim.suitability.fit import contributions_rows

        write.write_json(stage / "suitability_fit.json", p.multi.fitted.to_json())
        rows = contributions_rows(p.multi.fitted)
        write.write_csv(
            stage / "suitability_contributions.csv",
            ["class", "driver", "contribution", "rank"],
            [[r["class"], r["driver"], f"{r['contribution']:.6f}", r["rank"]] for r in rows],
        )
        out += ["suitability_fit.json", "suitability_contributions.csv"]
    return out


def _lines_table(compliance: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per planning line: cumulative growth inside and outside, and violations."""
    rows = []
    last = compliance["years"][-1] if compliance["years"] else None
    for name, info in compliance["lines"].items():
        cum = last["lines"][name] if last else {}
        total = last["new_urban_cells_cumulative"] if last else 0
        inside = cum.get("new_urban_inside_cumulative", 0)
        check = compliance["final_check_from_maps"]["lines"][name]
        rows.append(
            {
                "line": name,
                "rule": info["rule"] if info["enforced"] else f"{info['rule']} (reported only)",
                "km2": info["km2_inside"],
                "new_urban_inside": inside,
                "new_urban_outside": total - inside,
                "inside_pct": None if total == 0 else round(100.0 * inside / total, 2),
                "breaks_line": check["breaks_line"],
                "violations": check["violations"] if info["enforced"] else None,
            }
        )
    return rows


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


def check_site(
    path: str | Path,
    *,
    point: tuple[float, float] | None = None,
    polygon: str | Path | None = None,
    crs: str | None = None,
    run_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The "one map" question for a site: which lines and zones, what the scenario allows
    there year by year, and in which simulated year (if any) it becomes urban.

    ``point`` is (x, y) in ``crs`` (default: the grid's CRS); ``polygon`` a vector file.
    ``run_dir`` is a finished run of this scenario (default: ``runs/<name>`` if present).
    """
    from landsim.errors import InputError, OutputError

    scenario = load(path)
    codes = [c.code for c in scenario.classes]
    landuse, grid = read_landuse(scenario.inputs.landuse, codes)
    site, where = _site_mask(grid, point, polygon, crs)
    if not site.any():
        raise InputError(f"{where} lies outside the land-use grid ({grid.source.name})")
    constraints = compile_constraints(scenario, landuse, grid)
    districts = read_districts(scenario, grid)
    n = int(site.sum())
    by_code = {c.code: c for c in scenario.classes}
    present = np.bincount(landuse[site], minlength=256)
    lines = {}
    for name, layer in constraints.layers.items():
        inside = int((layer.inside & site).sum())
        zones = {z: int((m & site).sum()) for z, m in layer.zones.items()}
        lines[name] = {
            "rule": layer.rule,
            "enforced": layer.enforced,
            "cells_inside": inside,
            "zones": {z: c for z, c in zones.items() if c},
        }
    periods = []
    for p in constraints.periods:
        allowed = int((p.candidate.astype(bool) & site).sum())
        spill = 0 if p.spill is None else int((p.spill.astype(bool) & site).sum())
        factor = None
        if p.factor is not None and allowed:
            factor = float(np.mean(p.factor[site & p.candidate.astype(bool)]))
        periods.append(
            {
                "first_year": p.first_year,
                "last_year": p.last_year,
                "may_become_urban_cells": allowed,
                "only_by_spill_over_cells": spill,
                "mean_factor": factor,
            }
        )
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "site": where,
        "cells": n,
        "km2": grid.km2(n),
        "landuse_at_start": {
            by_code[c].name if c in by_code else "nodata": int(present[c])
            for c in np.flatnonzero(present)
        },
        "lines": lines,
        "periods": periods,
    }
    if districts is not None:
        d = np.bincount(districts.codes[site], minlength=1)
        report["districts"] = {districts.name(int(c)): int(d[c]) for c in np.flatnonzero(d) if c}
    run = Path(run_dir) if run_dir is not None else default_output_dir(scenario)
    year_map = run / "urban_year.tif"
    if year_map.is_file():
        from landsim.io.write import refuse_interrupted

        refuse_interrupted(run)
    if run_dir is not None and not year_map.is_file():
        raise OutputError(
            f"{run}: no urban_year.tif; run the scenario first (`landsim run {path} -o {run}`)"
        )
    if year_map.is_file():
        import rasterio

        with rasterio.open(year_map) as ds:
            if (ds.height, ds.width) != grid.shape or ds.tags().get("scenario") != scenario.name:
                raise InputError(
                    f"{year_map}: written by another scenario or on another grid "
                    f"(scenario tag {ds.tags().get('scenario')!r}, expected {scenario.name!r})"
                )
            years = ds.read(1)[site]
        start = scenario.simulation.start_year
        became = years[years > start]
        report["run"] = str(run)
        report["urban_at_start_cells"] = int((years == start).sum())
        report["becomes_urban"] = {
            int(y): int(c) for y, c in zip(*np.unique(became, return_counts=True), strict=True)
        }
        report["never_urban_cells"] = int((years == 0).sum())
    return report


def _site_mask(
    grid: Grid,
    point: tuple[float, float] | None,
    polygon: str | Path | None,
    crs: str | None,
) -> tuple[np.ndarray, str]:
    from landsim.errors import InputError

    if (point is None) == (polygon is None):
        raise InputError("give a site: either --point X Y or --polygon FILE")
    mask = np.zeros(grid.shape, dtype=bool)
    if polygon is not None:
        from landsim.io.vector import rasterize_vector

        values, _ = rasterize_vector(Path(polygon), grid, "--polygon", all_touched=True)
        return values > 0, f"polygon {polygon}"
    assert point is not None
    x, y = point
    label = f"point ({x:.10g}, {y:.10g})"
    if crs is not None:
        from rasterio.crs import CRS
        from rasterio.errors import CRSError
        from rasterio.warp import transform

        try:
            src = CRS.from_user_input(crs)
        except (CRSError, ValueError):
            raise InputError(f"--crs {crs!r} is not a coordinate system; e.g. EPSG:4326") from None
        xs, ys = transform(src, grid.crs, [x], [y])
        x, y = xs[0], ys[0]
        label += f" in {crs}"
    fcol, frow = (~grid.transform) @ (x, y)
    r, c = int(np.floor(frow)), int(np.floor(fcol))
    # A point on a cell edge belongs to the cell below / right of it (GDAL's convention);
    # on the grid's own east or south edge there is no such cell, and the point is still
    # on the grid: it belongs to the edge cell, not "outside the land-use grid".
    ny, nx = grid.shape
    if r == ny and frow == ny:
        r = ny - 1
    if c == nx and fcol == nx:
        c = nx - 1
    if 0 <= r < grid.shape[0] and 0 <= c < grid.shape[1]:
        mask[r, c] = True
    return mask, f"{label}, cell row {r} col {c}"
