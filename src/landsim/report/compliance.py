"""Compliance with the plan: growth against each planning line, per year and district.

Everything here is computed twice where it matters: from the engine's per-year records
(what happened each year) and again from the start map, the final map and the year each
cell became urban (``final_check_from_maps``), which does not trust the records. Under
hard rules, ``violations`` is zero in both.

A layer's ``breaks_line`` counts new urban cells against the line's own rule;
``violations`` counts those the scenario did not permit (a ``[[rules]]`` exception with
``allow = true``, or a boundary's ``spill_over``, permits some); ``permitted_exceptions``
is the difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from landsim.constraints import CompiledConstraints, Districts
from landsim.io.raster import Grid, isin_codes, value_counts
from landsim.model import SimulationResult
from landsim.scenario.schema import CONSTRUCTION_ROLES, Scenario


def _km2(cells: float, grid: Grid) -> float | None:
    """km², rounded to 1 m² so the JSON stays readable."""
    km2 = grid.km2(cells)
    return None if km2 is None else round(km2, 6)


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 4)


def line_breaks(rule: str, inside: np.ndarray, changed: np.ndarray, new_cons: np.ndarray) -> Any:
    """Cells that break a line's own rule, or None for a soft rule."""
    if rule == "no_change":
        return changed & inside
    if rule == "no_construction":
        return new_cons & inside
    if rule == "construction_inside_only":
        return new_cons & ~inside
    return None


def disallowed_growth(
    constraints: CompiledConstraints,
    urban_year: np.ndarray,
    start_year: int,
    cells: np.ndarray | None = None,
) -> np.ndarray:
    """New urban cells that the rules in force in their year did not allow: a mask of
    the grid, or with ``cells`` (flat indices) a mask of those cells, ``urban_year``
    then holding their years."""

    def at(a: np.ndarray) -> np.ndarray:
        return a if cells is None else a.reshape(-1)[cells]

    bad = np.zeros(urban_year.shape, dtype=bool)
    for p in constraints.periods:
        now = (urban_year >= p.first_year) & (urban_year <= p.last_year)
        allowed = at(p.candidate).astype(bool)
        if p.spill is not None:
            allowed |= at(p.spill).astype(bool)
        bad |= now & ~allowed
    return bad & (urban_year > start_year)


def touched_cells(landuse: np.ndarray, res: SimulationResult) -> np.ndarray:
    """Flat indices of the cells a run changed or made urban at some time: every count
    of the compliance report and the indicators lies within them, so the report reads
    these cells (~1 % of the grid) and not whole-grid masks, one pass per line."""
    assert res.final is not None and res.urban_year is not None
    touched = landuse != res.final
    touched |= res.urban_year > res.start_year
    return np.flatnonzero(touched)


def compliance(
    scenario: Scenario,
    grid: Grid,
    landuse: np.ndarray,
    constraints: CompiledConstraints,
    res: SimulationResult,
    districts: Districts | None = None,
) -> dict[str, Any]:
    """The content of ``compliance.json``."""
    s = scenario
    urban = s.urban_class.code
    layers = constraints.layers
    cropland = [c.code for c in s.classes if c.role == "cropland"]
    construction = [c.code for c in s.classes if c.role in CONSTRUCTION_ROLES]
    start_counts = res.class_counts[res.start_year]
    crop0 = int(sum(start_counts[c] for c in cropland))

    final = res.final
    assert final is not None and res.urban_year is not None
    cells = touched_cells(landuse, res)
    before, after = landuse.reshape(-1)[cells], final.reshape(-1)[cells]
    year = res.urban_year.reshape(-1)[cells]
    changed = before != after
    new_cons = changed & isin_codes(after, construction)
    bad = disallowed_growth(constraints, year, res.start_year, cells)
    inside = {name: layer.inside.reshape(-1)[cells] for name, layer in layers.items()}
    breaks = {
        name: line_breaks(layer.rule, inside[name], changed, new_cons)
        for name, layer in layers.items()
    }
    # Violations per year: cells breaking the line that the rules did not permit, by the
    # year they became urban. A multi-class run also breaks a no_change line by other
    # changes, which have no urban year: they are in the final check from the maps only.
    n_years = max(res.class_counts) - res.start_year + 1
    grew = year > 0
    yearly_violations = {
        name: np.bincount(year[b & bad & grew].astype(np.int64) - res.start_year, minlength=n_years)
        if layer.enforced
        else np.bincount(year[b & grew].astype(np.int64) - res.start_year, minlength=n_years)
        for name, layer in layers.items()
        if (b := breaks[name]) is not None
    }

    years = []
    cum_total = 0
    cum_inside = dict.fromkeys(layers, 0)
    for rec in res.records:
        cum_total += rec.new_urban
        lines = {}
        for name, layer in layers.items():
            cum_inside[name] += rec.inside[name]
            ins, out = rec.inside[name], rec.new_urban - rec.inside[name]
            lines[name] = {
                "new_urban_inside": ins,
                "new_urban_outside": out,
                "new_urban_inside_km2": _km2(ins, grid),
                "new_urban_outside_km2": _km2(out, grid),
                "new_urban_inside_pct": _pct(ins, rec.new_urban),
                "new_urban_inside_cumulative": cum_inside[name],
                "new_urban_outside_cumulative": cum_total - cum_inside[name],
                "breaks_line": {
                    "no_change": ins,
                    "no_construction": ins,
                    "construction_inside_only": out,
                }.get(layer.rule),
                "violations": (
                    int(yearly_violations[name][rec.year - res.start_year])
                    if name in yearly_violations
                    else None
                ),
            }
        crop = int(sum(res.class_counts[rec.year][c] for c in cropland))
        years.append(
            {
                "year": rec.year,
                "new_urban_cells": rec.new_urban,
                "new_urban_km2": _km2(rec.new_urban, grid),
                "new_urban_cells_cumulative": cum_total,
                "spilled_over_boundary_cells": rec.spilled,
                "cropland_cells": crop,
                "cropland_km2": _km2(crop, grid),
                "cropland_lost_cells_cumulative": crop0 - crop,
                "cropland_lost_km2_cumulative": _km2(crop0 - crop, grid),
                "lines": lines,
            }
        )

    check = {}
    for name, layer in layers.items():
        b = breaks[name]
        entry: dict[str, Any] = {
            "rule": layer.rule,
            "enforced": layer.enforced,
            "changed_inside": int(np.count_nonzero(changed & inside[name])),
            "new_construction_inside": int(np.count_nonzero(new_cons & inside[name])),
            "new_construction_outside": int(np.count_nonzero(new_cons & ~inside[name])),
            "breaks_line": None if b is None else int(np.count_nonzero(b)),
            "violations": None,
            "permitted_exceptions": None,
        }
        if b is not None:
            if layer.enforced:
                v = int(np.count_nonzero(b & bad))
                entry["violations"] = v
                entry["permitted_exceptions"] = int(np.count_nonzero(b)) - v
            else:
                entry["violations"] = int(np.count_nonzero(b))  # reported: encroachment
        check[name] = entry

    out: dict[str, Any] = {
        "scenario": s.name,
        "cell_area_m2": grid.cell_area_m2,
        "lines": {
            name: _line_info(s, name, layer, constraints, grid) for name, layer in layers.items()
        },
        "conflicts": constraints.conflicts,
        "periods": [
            {
                "first_year": p.first_year,
                "last_year": p.last_year,
                "candidate_cells": int(np.count_nonzero(p.candidate)),
                "spill_over_cells": None if p.spill is None else int(np.count_nonzero(p.spill)),
            }
            for p in constraints.periods
        ],
        "years": years,
        "final_check_from_maps": {
            "changed_cells": int(np.count_nonzero(changed)),
            "reverted_urban_cells": int(np.count_nonzero((before == urban) & (after != urban))),
            "growth_not_allowed_by_rules": int(np.count_nonzero(bad)),
            "lines": check,
        },
        "plan": plan_checks(s, grid, res, layers),
    }
    if districts is not None:
        out["districts"] = district_table(s, grid, landuse, res, districts, cells, bad)
    return out


def _line_info(
    s: Scenario, name: str, layer: Any, constraints: CompiledConstraints, grid: Grid
) -> dict[str, Any]:
    cells = int(np.count_nonzero(layer.inside))
    info: dict[str, Any] = {
        "rule": layer.rule,
        "file": str(layer.path),
        "cells_inside": cells,
        "km2_inside": _km2(cells, grid),
        "enforced": layer.enforced,
        "spill_over": layer.spill_over,
        "cells_taken_from_growth": constraints.taken_away.get(name, 0),
        "zones": {
            z: {"cells": int(np.count_nonzero(m)), "km2": _km2(int(np.count_nonzero(m)), grid)}
            for z, m in layer.zones.items()
        },
    }
    plan = s.plan.line_areas_km2.get(name)
    if plan is not None:
        info["plan_km2"] = plan
        km2 = _km2(cells, grid)
        info["difference_from_plan_km2"] = None if km2 is None else round(km2 - plan, 4)
    if layer.vector is not None:
        info["rasterized_from_vector"] = layer.vector
    return info


def plan_checks(
    s: Scenario, grid: Grid, res: SimulationResult, layers: dict[str, Any]
) -> dict[str, Any]:
    """Final areas against the plan's control totals and the farmland retention target."""
    end = res.class_counts[max(res.class_counts)]
    out: dict[str, Any] = {"source": s.plan.source}
    crop = int(sum(end[c.code] for c in s.classes if c.role == "cropland"))
    if s.plan.cropland_retention_km2 is not None:
        km2 = _km2(crop, grid)
        target = s.plan.cropland_retention_km2
        out["cropland_retention"] = {
            "target_km2": target,
            "final_cropland_km2": km2,
            "margin_km2": None if km2 is None else round(km2 - target, 4),
            "met": None if km2 is None else km2 >= target,
        }
    limits = {}
    for cname, lim in s.plan.class_area_limits_km2.items():
        km2 = _km2(int(end[s.class_by_name(cname).code]), grid)
        met = None
        if km2 is not None:
            met = (lim.min is None or km2 >= lim.min) and (lim.max is None or km2 <= lim.max)
        limits[cname] = {"min_km2": lim.min, "max_km2": lim.max, "final_km2": km2, "met": met}
    if limits:
        out["class_area_limits"] = limits
    return out


def district_table(
    s: Scenario,
    grid: Grid,
    landuse: np.ndarray,
    res: SimulationResult,
    districts: Districts,
    cells: np.ndarray,
    bad: np.ndarray,
) -> list[dict[str, Any]]:
    """Per district: growth per year, inside/outside each line, cropland lost, violations.

    ``cells``: the run's :func:`touched_cells`, ``bad`` their disallowed growth. The
    final map differs from the start only there, so the end counts are the start
    counts plus the changes among those cells."""
    cropland = [c.code for c in s.classes if c.role == "cropland"]
    final = res.final
    assert final is not None
    codes = districts.codes
    n = int(codes.max()) + 1
    urban = s.urban_class.code
    before, after = landuse.reshape(-1)[cells], final.reshape(-1)[cells]
    district = codes.reshape(-1)[cells]

    def tally(where: np.ndarray) -> np.ndarray:
        return np.bincount(district[where], minlength=n)

    crop_lost = tally(isin_codes(before, cropland)) - tally(isin_codes(after, cropland))
    u0 = value_counts(codes, n, landuse == urban)
    u1 = u0 + tally(after == urban) - tally(before == urban)
    viol = tally(bad)
    cells_per = value_counts(codes, n)
    # The records' district arrays are indexed like res.district_codes, not by code.
    index = (
        {} if res.district_codes is None else {int(c): i for i, c in enumerate(res.district_codes)}
    )
    rows = []
    for code, name in sorted(districts.names.items()):
        years = []
        i = index[code] if index else 0  # no index: the records hold no district arrays
        for rec in res.records:
            new = int(rec.district_new[i]) if rec.district_new is not None else 0
            lines = {
                k: {
                    "inside": int(v[i]),
                    "outside": new - int(v[i]),
                    "inside_km2": _km2(int(v[i]), grid),
                    "outside_km2": _km2(new - int(v[i]), grid),
                    "inside_pct": _pct(int(v[i]), new),
                }
                for k, v in rec.district_inside.items()
            }
            lost = (
                int(sum(rec.district_from_class[i, c] for c in cropland))
                if rec.district_from_class is not None
                else 0
            )
            years.append(
                {
                    "year": rec.year,
                    "new_urban_cells": new,
                    "new_urban_km2": _km2(new, grid),
                    "cropland_lost_cells": lost,
                    "cropland_lost_km2": _km2(lost, grid),
                    "lines": lines,
                }
            )
        rows.append(
            {
                "code": code,
                "name": name,
                "cells": int(cells_per[code]),
                "urban_start_cells": int(u0[code]),
                "urban_end_cells": int(u1[code]),
                "urban_end_km2": _km2(int(u1[code]), grid),
                "cropland_lost_cells": int(crop_lost[code]),
                "cropland_lost_km2": _km2(int(crop_lost[code]), grid),
                "growth_not_allowed_by_rules": int(viol[code]),
                "years": years,
            }
        )
    return rows
