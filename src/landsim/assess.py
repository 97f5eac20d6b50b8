"""Accuracy of a simulated map against an observed one, and against neutral baselines.

``assess`` reads three land-use maps of one grid: the initial map (the start of the
simulation), the observed map of a later year and the simulated map of that year (a
file, or ``landuse_<year>.tif`` of a run folder). It scores the simulation with
:func:`landsim.metrics.assess_maps` (figure of merit overall and for the target class,
Kappa simulation, quantity and allocation disagreement, …) and scores two neutral
baselines with the *observed* quantity of every transition (:mod:`landsim.baselines`):
random allocation over several seeds and allocation nearest to existing land of the
target class. A model is only useful where it beats them (``docs/assess.md``).

Everything a user can get wrong (a missing file, maps on different grids, class codes
outside the class table, a run of another scenario, an observed period in which the
target class did not grow) is refused with one line before anything is computed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landsim.errors import InputError
from landsim.io.raster import NODATA, Grid, probe_aligned, read_landuse

# Fields of a figure of merit that a table or a summary over seeds reports.
FOM_FIELDS = ("a", "b", "c", "d", "fom", "producers", "users")
_MAP_NAME = re.compile(r"^landuse_(\d{4})\.tif$")
_ANY_CODE = list(range(NODATA))  # every uint8 code but nodata: the class check comes later


@dataclass(frozen=True)
class _ClassTable:
    """Class codes, names and roles, and where they were read (for messages)."""

    rows: tuple[tuple[int, str, str], ...]  # (code, name, role)
    where: str

    @property
    def codes(self) -> list[int]:
        return [c for c, _, _ in self.rows]


# --------------------------------------------------------------------------- inputs


def _member_map(path: Path, year: int | None, grid: Any, allowed: Sequence[int]) -> np.ndarray:
    """One ensemble member's map of ``year``, checked like a map file."""
    from landsim.ensemble import read_member_map

    data = read_member_map(path, int(year) if year is not None else 0)
    if data.shape != tuple(grid.shape):
        raise InputError(
            f"{path}: {data.shape[0]} × {data.shape[1]} cells, but the initial map has "
            f"{grid.shape[0]} × {grid.shape[1]}; assess the ensemble against its own maps"
        )
    unknown = sorted(set(np.unique(data).tolist()) - set(allowed) - {NODATA})
    if unknown:
        raise InputError(
            f"{path}: class codes {unknown} are not in the class table; assess it with the "
            "ensemble's own scenario (--scenario)"
        )
    return data


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); run the scenario again") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a landsim provenance file; run the scenario again")
    return data


def _run_classes(prov: dict[str, Any], where: Path) -> _ClassTable | None:
    """The class table a run recorded in its provenance, if it recorded one."""
    resolved = prov.get("resolved_scenario")
    classes = resolved.get("classes") if isinstance(resolved, dict) else None
    if not isinstance(classes, list):
        return None
    try:
        rows = tuple((int(c["code"]), str(c["name"]), str(c["role"])) for c in classes)
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"{where}: a class lacks code, name or role; run the scenario again"
        ) from None
    return _ClassTable(rows, f"the run's class table ({where})")


def _simulated_in_run(run_dir: Path, year: int | None) -> tuple[Path, int]:
    """``landuse_<year>.tif`` of a run folder; the latest map year by default."""
    if not run_dir.is_dir():
        what = "not a folder" if run_dir.exists() else "not found"
        raise InputError(f"run folder {run_dir}: {what}; give the folder `landsim run` wrote")
    from landsim.io.write import refuse_interrupted

    refuse_interrupted(run_dir)
    years = sorted(int(m.group(1)) for p in run_dir.iterdir() if (m := _MAP_NAME.match(p.name)))
    if not years:
        if any(run_dir.glob("probability_*.tif")):
            raise InputError(
                f"{run_dir} is an ensemble whose members/ folder is missing; assess a "
                "complete ensemble folder, or a single run (`landsim run` without --members)"
            )
        raise InputError(
            f"{run_dir} holds no landuse_<year>.tif maps; run the scenario with "
            "[output] geotiff = true, or give the map with --simulated"
        )
    if year is None:
        year = years[-1]
    elif year not in years:
        listed = ", ".join(map(str, years))
        raise InputError(f"{run_dir} has no map of {year} (map years: {listed}); pick one of them")
    return run_dir / f"landuse_{year}.tif", year


def _ensemble_members(run_dir: Path, year: int | None) -> tuple[list[Path], int] | None:
    """The member files of an ensemble folder and the year assessed, or None."""
    files = sorted((run_dir / "members").glob("member_*.nc"))
    if not files:
        return None
    from scipy.io import netcdf_file

    with netcdf_file(files[0], "r", mmap=False) as f:
        years = [int(y) for y in f.variables["time"][:]]
    if year is None:
        year = years[-1]
    elif year not in years:
        listed = ", ".join(map(str, years))
        raise InputError(f"{run_dir} has no map of {year} (map years: {listed}); pick one of them")
    return files, year


def _tags(path: Path) -> dict[str, str]:
    """The GeoTIFF tags landsim writes on its maps (``scenario``, ``year``, …)."""
    import rasterio

    with rasterio.open(path) as ds:
        return dict(ds.tags())


def _code_counts(landuse: np.ndarray) -> dict[int, int]:
    """Cells per class code, nodata left out (a bincount: no sort of 9 M cells)."""
    counts = np.bincount(landuse.ravel(), minlength=NODATA + 1)
    counts[NODATA] = 0
    return {int(c): int(counts[c]) for c in np.flatnonzero(counts)}


def _read_map(
    path: Path, key: str, grid: Grid | None, table: _ClassTable | None, allowed: list[int]
) -> tuple[np.ndarray, Grid]:
    """A land-use map as uint8 with nodata 255; on ``grid`` and within ``allowed`` codes."""
    if grid is not None:
        # Shape, transform and CRS first, so a misaligned file is named before its pixels
        # are read.
        probe_aligned(path, grid, key)
    data, got = read_landuse(path, _ANY_CODE, key)
    unknown = [(v, n) for v, n in _code_counts(data).items() if v not in allowed]
    if unknown:
        listed = ", ".join(f"{v} ({n:,} cells)" for v, n in unknown[:8])
        more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
        if table is not None:
            where = table.where
        else:
            where = f"the initial map's classes ({grid.source.name if grid else path.name})"
        raise InputError(
            f"[{key}] {path}: class codes {listed}{more} are not in {where} "
            f"(codes: {', '.join(map(str, sorted(allowed)))}); give maps with the same "
            "class codes, or set the raster's nodata value"
        )
    return data, got


def _class_ref(
    value: int | str, table: _ClassTable | None, codes: list[int], what: str, many: bool
) -> list[int]:
    """Codes a class code, name or role stands for (a role may stand for several)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int):
        if value not in codes:
            raise InputError(
                f"{what} {value} is not a class code of these maps "
                f"(codes: {', '.join(map(str, codes))}); give one of them"
            )
        return [value]
    if table is None:
        raise InputError(
            f"{what} {value!r} names a class, but there is no class table: pass --scenario, "
            f"or give the class code (codes: {', '.join(map(str, codes))})"
        )
    by_name = [c for c, name, _ in table.rows if name == value]
    found = by_name or [c for c, _, role in table.rows if role == value]
    if not found:
        names = ", ".join(name for _, name, _ in table.rows)
        raise InputError(
            f"{what} {value!r} is neither a class name nor a role in {table.where} "
            f"(names: {names}); give a class name, role or code"
        )
    if len(found) > 1 and not many:
        raise InputError(
            f"{what} {value!r} is the role of several classes ({', '.join(map(str, found))}); "
            "give one class name or code"
        )
    return found


# --------------------------------------------------------------------------- scoring


def _number(v: Any) -> Any:
    """A JSON-safe value: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _plain(obj: Any) -> Any:
    """A metrics result as plain JSON: dicts, lists, numbers, strings, None."""
    if hasattr(obj, "as_dict"):
        obj = obj.as_dict()
    if isinstance(obj, Mapping):
        return {(_number(k) if isinstance(k, np.generic) else k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    return _number(obj)


def _fields(fom: Any) -> dict[str, Any]:
    return {f: _number(getattr(fom, f)) for f in FOM_FIELDS}


def _spread(samples: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean, standard deviation (over seeds, as for ensemble members), min and max."""
    out: dict[str, dict[str, float | None]] = {}
    for f in FOM_FIELDS:
        values = np.array([s[f] for s in samples if s[f] is not None], dtype=float)
        if values.size == 0:
            out[f] = {"mean": None, "std": None, "min": None, "max": None}
            continue
        out[f] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return out


def _transitions(
    counts: Mapping[tuple[int, int], int], names: Mapping[int, str]
) -> list[dict[str, Any]]:
    return [
        {"from": i, "from_name": names[i], "to": k, "to_name": names[k], "cells": n}
        for (i, k), n in counts.items()
    ]


def assess(
    initial_path: str | Path,
    observed_path: str | Path,
    simulated_path: str | Path | None = None,
    *,
    run_dir: str | Path | None = None,
    year: int | None = None,
    scenario: str | Path | None = None,
    target: str | int | None = "urban",
    exclude: Sequence[str | int] = (),
    random_seeds: int = 10,
) -> dict[str, Any]:
    """Score a simulated map and two neutral baselines against the observed change.

    Parameters
    ----------
    initial_path, observed_path
        Land-use maps at the start and at the assessed year (one grid).
    simulated_path, run_dir, year
        The simulated map: a file, or ``run_dir/landuse_<year>.tif`` (default year: the
        run's latest map). Exactly one of ``simulated_path`` and ``run_dir``.
    scenario
        A scenario file: its class table names the classes and its name must be the
        scenario the simulated map was made for.
    target
        The class whose gain is scored: a class name or role (``"urban"``), a code, or
        None for all classes only.
    exclude
        Classes (codes, names or roles) left out of scoring: a cell holding one in the
        initial or the observed map is not scored.
    random_seeds
        How many seeds (0, 1, …) the random baseline is drawn with.
    """
    from landsim import metrics
    from landsim.baselines import nearest_allocation, random_allocation, transition_counts

    if simulated_path is not None and run_dir is not None:
        raise InputError("give the simulated map as a file or as a run folder, not both")
    if simulated_path is None and run_dir is None:
        raise InputError("no simulated map: give a map file or a run folder")
    if random_seeds < 1:
        raise InputError(f"random_seeds must be at least 1, got {random_seeds}")
    initial_path, observed_path = Path(initial_path), Path(observed_path)

    # The class table and the scenario's name, from the scenario file or else the run.
    table: _ClassTable | None = None
    want_name: str | None = None
    scenario_path = Path(scenario) if scenario is not None else None
    if scenario_path is not None:
        from landsim.scenario import load

        sc = load(scenario_path)
        want_name = sc.name
        table = _ClassTable(
            tuple((c.code, c.name, c.role) for c in sc.classes),
            f"the class table of {scenario_path}",
        )
    run_name: str | None = None
    members: list[Path] = []
    if run_dir is not None:
        run_dir = Path(run_dir)
        ens = _ensemble_members(run_dir, year) if run_dir.is_dir() else None
        if ens is not None:
            from landsim.io.write import refuse_interrupted

            refuse_interrupted(run_dir)
            members, year = ens
            sim_path = members[0]
        else:
            sim_path, year = _simulated_in_run(run_dir, year)
        prov_path = run_dir / "provenance.json"
        if prov_path.is_file():
            prov = _read_json(prov_path)
            name = prov.get("scenario")
            run_name = name if isinstance(name, str) else None
            if want_name is not None and run_name is not None and run_name != want_name:
                raise InputError(
                    f"run {run_dir} is of scenario {run_name!r} (provenance.json), but "
                    f"{scenario_path} is scenario {want_name!r}; assess a run of "
                    f"{want_name!r} or give the run's own scenario file"
                )
            if table is None:
                table = _run_classes(prov, prov_path)
    else:
        sim_path = Path(str(simulated_path))

    # The maps: the initial one defines the grid and, without a class table, the classes.
    initial, grid = _read_map(
        initial_path, "initial", None, table, table.codes if table else _ANY_CODE
    )
    allowed = table.codes if table else sorted(_code_counts(initial))
    observed, _ = _read_map(observed_path, "observed", grid, table, allowed)
    if members:
        simulated = _member_map(members[0], year, grid, allowed)
        tags: dict[str, str] = {"scenario": run_name} if run_name else {}
    else:
        simulated, _ = _read_map(sim_path, "simulated", grid, table, allowed)
        tags = _tags(sim_path)
    tag = tags.get("scenario")
    if year is None and tags.get("year", "").isdigit():
        year = int(tags["year"])
    if want_name is not None and tag is not None and tag != want_name:
        raise InputError(
            f"{sim_path} was simulated for scenario {tag!r} (its GeoTIFF tag), but "
            f"{scenario_path} is scenario {want_name!r}; assess a map of {want_name!r} or "
            "give its own scenario file"
        )

    names = {c: n for c, n, _ in table.rows} if table else {c: f"class {c}" for c in allowed}
    target_code: int | None = None
    if target is not None:
        target_code = _class_ref(target, table, allowed, "target", many=False)[0]
    excluded: list[int] = []
    for e in exclude:
        excluded += _class_ref(e, table, allowed, "excluded class", many=True)
    excluded = sorted(set(excluded))

    mask = (initial != NODATA) & (observed != NODATA) & (simulated != NODATA)
    if excluded:
        dropped = np.array(excluded, dtype=np.uint8)
        mask &= ~np.isin(initial, dropped) & ~np.isin(observed, dropped)
    scored = int(mask.sum())
    if scored == 0:
        raise InputError(
            f"no cell is valid in all three maps outside the excluded classes; nothing to "
            f"score ({initial_path.name}, {observed_path.name}, {sim_path.name})"
        )
    observed_counts = transition_counts(initial, observed, mask=mask)
    if target_code is not None:
        gained = sum(n for (_, k), n in observed_counts.items() if k == target_code)
        if gained == 0:
            raise InputError(
                f"no cell became {names[target_code]} between the initial and observed maps "
                f"({initial_path.name}, {observed_path.name}); nothing to score"
            )
    elif not observed_counts:
        raise InputError(
            f"no cell changed class between the initial and observed maps "
            f"({initial_path.name}, {observed_path.name}); nothing to score"
        )

    cell_size = abs(float(grid.transform.a))
    model = metrics.assess_maps(
        initial,
        observed,
        simulated,
        classes=names,
        target=target_code,
        mask=mask,
        cell_size=cell_size,
    )

    def scores(baseline: np.ndarray) -> dict[str, Any]:
        all_classes = metrics.figure_of_merit(initial, observed, baseline, mask=mask)
        out: dict[str, Any] = {"fom": _fields(all_classes)}
        if target_code is not None:
            fom_t = metrics.figure_of_merit(
                initial, observed, baseline, target=target_code, mask=mask
            )
            out["fom_target"] = _fields(fom_t)
        return out

    member_summary: dict[str, Any] | None = None
    if members:
        # An ensemble: every member scored (one map in memory at a time); the full
        # metrics above are member 0's.
        per_member = [scores(simulated)] + [
            scores(_member_map(f, year, grid, allowed)) for f in members[1:]
        ]
        member_summary = {
            "count": len(members),
            "fom": _spread([m["fom"] for m in per_member]),
        }
        if target_code is not None:
            member_summary["fom_target"] = _spread([m["fom_target"] for m in per_member])
        member_summary["per_member"] = per_member

    nearest = scores(nearest_allocation(initial, observed, mask=mask))
    per_seed = [
        {"seed": s, **scores(random_allocation(initial, observed, mask=mask, seed=s))}
        for s in range(random_seeds)
    ]
    random_summary: dict[str, Any] = {
        "seeds": list(range(random_seeds)),
        "fom": _spread([r["fom"] for r in per_seed]),
    }
    if target_code is not None:
        random_summary["fom_target"] = _spread([r["fom_target"] for r in per_seed])
    random_summary["per_seed"] = per_seed

    simulated_counts = transition_counts(initial, simulated, mask=mask)
    inputs = {"initial": initial_path, "observed": observed_path, "simulated": sim_path}
    if scenario_path is not None:
        inputs["scenario"] = scenario_path
    return _plain(
        {
            "scenario": want_name or run_name or tag,
            "year": year,
            "target": None
            if target_code is None
            else {"code": target_code, "name": names[target_code]},
            "excluded": [{"code": c, "name": names[c]} for c in excluded],
            "classes": {str(c): n for c, n in names.items()},
            "grid": {
                "height": grid.shape[0],
                "width": grid.shape[1],
                "crs": grid.crs_label,
                "cell_size": cell_size,
            },
            "scored_cells": scored,
            "model": model,
            "members": member_summary,
            "baselines": {"random": random_summary, "nearest": nearest},
            "quantity": {
                "observed_changed_cells": sum(observed_counts.values()),
                "simulated_changed_cells": sum(simulated_counts.values()),
                "observed": _transitions(observed_counts, names),
                "simulated": _transitions(simulated_counts, names),
            },
            "inputs": {k: {"path": str(p), "sha256": _sha256(p)} for k, p in inputs.items()},
        }
    )


# --------------------------------------------------------------------------- the table


def _columns(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK) characters take two, as class names may."""
    import unicodedata

    return len(text) + sum(unicodedata.east_asian_width(ch) in "WF" for ch in text)


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}"


def _spread_cell(stats: Mapping[str, Any]) -> str:
    if stats["mean"] is None:
        return "–"
    # One more decimal for the spread: over many changed cells it is far below 0.001.
    return f"{stats['mean']:.3f} ± {stats['std']:.4f}"


def format_table(report: Mapping[str, Any]) -> list[str]:
    """The model against both baselines, as aligned plain-text lines.

    Rows: the model, the nearest baseline, the random baseline (mean ± standard deviation
    over seeds); columns: FoM, producer's and user's accuracy of the target class, and
    the FoM over all classes. A last line gives the model's A/B/C/D cells.
    """
    model = report["model"]
    base = report["baselines"]
    has_target = report.get("target") is not None

    def row(name: str, scores: Mapping[str, Any]) -> list[str]:
        t = scores.get("fom_target") if has_target else None
        return [
            name,
            _fmt(t["fom"]) if t else "–",
            _fmt(t["producers"]) if t else "–",
            _fmt(t["users"]) if t else "–",
            _fmt(scores["fom"]["fom"]),
        ]

    rnd = base["random"]
    rt = rnd.get("fom_target") if has_target else None
    n_seeds = len(rnd["seeds"])
    mem = report.get("members")
    if mem:
        mt = mem.get("fom_target") if has_target else None
        n_members = mem["count"]
        model_row = [
            f"model ({n_members} members)",
            _spread_cell(mt["fom"]) if mt else "–",
            _spread_cell(mt["producers"]) if mt else "–",
            _spread_cell(mt["users"]) if mt else "–",
            _spread_cell(mem["fom"]["fom"]),
        ]
    else:
        model_row = row("model", model)
    rows = [
        model_row,
        row("nearest baseline", base["nearest"]),
        [
            f"random baseline ({n_seeds} seed{'s' if n_seeds != 1 else ''})",
            _spread_cell(rt["fom"]) if rt else "–",
            _spread_cell(rt["producers"]) if rt else "–",
            _spread_cell(rt["users"]) if rt else "–",
            _spread_cell(rnd["fom"]["fom"]),
        ],
    ]
    target_name = report["target"]["name"] if has_target else None
    header = [
        "",
        f"FoM ({target_name})" if has_target else "FoM (target)",
        "producer's",
        "user's",
        "FoM (all classes)",
    ]
    widths = [max(_columns(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def aligned(text: str, i: int) -> str:
        fill = " " * (widths[i] - _columns(text))
        return text + fill if i == 0 else fill + text

    lines = ["  ".join(aligned(c, i) for i, c in enumerate(r)) for r in [header, *rows]]
    abcd = model["fom_target"] if has_target else model["fom"]
    what = f"change to {target_name}" if has_target else "change, all classes"
    if mem:
        what += ", member 0"
    lines.append(
        f"model, {what}: A {abcd['a']:,} missed, B {abcd['b']:,} hit, "
        f"C {abcd['c']:,} wrong class, D {abcd['d']:,} false alarms (cells)"
    )
    return lines
