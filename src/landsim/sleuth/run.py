"""Running a SLEUTH-kind scenario: test, predict and calibrate modes, and their outputs.

``run_sleuth`` reads the layers, runs the members (and, to calibrate, every coefficient
set) through ``model.run_members`` in one parallel kernel call, and writes into the
output folder (atomically, as every landsim run):

``sleuth_stats.csv``
    per year and statistic (SLEUTH's avg.log names): member mean and standard deviation;
``control_stats.csv`` (test)
    SLEUTH's fit scores against the observed control years (control_stats.log);
``urban_probability_<year>.tif`` (test, predict)
    share of members in which each cell is urban in the last year (SLEUTH's
    cumulate_urban.gif, as a fraction);
``calibration.csv``, ``calibration.json`` (calibrate)
    one row per coefficient set with its scores; the best sets by the chosen score and
    the coefficients they end with (SLEUTH's PREDICTION_*_BEST_FIT);
``provenance.json``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landsim import __version__
from landsim.errors import GridMismatchError, InputError, LandsimError
from landsim.sleuth.schema import COEFFICIENTS, SleuthScenario


@dataclass
class Layers:
    """A SLEUTH scenario's rasters as the kernel reads them (uint8, one grid)."""

    urban: dict[int, np.ndarray]  # 1 urban, 0 not
    roads: dict[int, np.ndarray]  # 0..100
    excluded: np.ndarray  # 0..100 (values over 100 read as 100, as SLEUTH)
    slope: np.ndarray
    grid: Any  # landsim.io.raster.Grid of the first urban layer

    @property
    def shape(self) -> tuple[int, int]:
        return self.excluded.shape  # type: ignore[return-value]


def _read(path: Path, key: str, shape: tuple[int, int] | None) -> tuple[np.ndarray, Any]:
    import rasterio

    from landsim.io.raster import Grid

    try:
        with rasterio.open(path) as ds:
            data = ds.read(1)
            grid = Grid(ds.crs, ds.transform, (ds.height, ds.width), Path(path))
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"[{key}] {path}: cannot read the raster ({exc})") from None
    if shape is not None and data.shape != shape:
        raise GridMismatchError(
            f"[{key}] {path}: {data.shape[0]} × {data.shape[1]} cells, but the first urban "
            f"layer has {shape[0]} × {shape[1]}; every SLEUTH layer must be on one grid"
        )
    if not np.issubdtype(data.dtype, np.integer) and (
        not np.all(np.isfinite(data)) or np.any(data != np.round(data))
    ):
        raise InputError(
            f"[{key}] {path}: holds non-integer or NaN values; SLEUTH layers are integers 0–255"
        )
    if data.min() < 0 or data.max() > 255:
        raise InputError(
            f"[{key}] {path}: values {data.min()}..{data.max()} outside 0–255 (SLEUTH layers "
            "are 8-bit)"
        )
    return data.astype(np.uint8), grid


def read_layers(s: SleuthScenario) -> Layers:
    """Read and check every layer of a SLEUTH scenario."""
    years = sorted(s.inputs.urban)
    first, grid = _read(s.inputs.urban[years[0]], f"inputs.urban.{years[0]}", None)
    shape = first.shape
    urban = {years[0]: (first > 0).astype(np.uint8)}
    for y in years[1:]:
        a, _ = _read(s.inputs.urban[y], f"inputs.urban.{y}", shape)
        urban[y] = (a > 0).astype(np.uint8)
    raw_roads = {
        y: _read(p, f"inputs.roads.{y}", shape)[0].astype(np.float64)
        for y, p in sorted(s.inputs.roads.items())
    }
    peak = max(float(r.max()) for r in raw_roads.values())
    # SLEUTH scales road weights to 0..100 by the largest value of all road years.
    roads = {
        y: (np.floor(100.0 * r / peak) if peak > 0 else r).astype(np.uint8)
        for y, r in raw_roads.items()
    }
    excluded, _ = _read(s.inputs.excluded, "inputs.excluded", shape)
    excluded = np.minimum(excluded, 100).astype(np.uint8)
    slope, _ = _read(s.inputs.slope, "inputs.slope", shape)
    return Layers(urban, roads, excluded, slope, grid)


@dataclass
class Plan:
    """Years of one run: the seed, the simulated years, which are scored or observed."""

    seed_year: int
    years: list[int]  # simulated years, after the seed
    stat_years: list[int]  # years whose spatial statistics are computed
    control_years: list[int]  # years compared with observed urban layers


def plan_years(s: SleuthScenario) -> Plan:
    urban_years = sorted(s.inputs.urban)
    if s.simulation.mode == "predict":
        start, end = s.first_year, s.last_year
        # SLEUTH seeds a prediction with the urban layer of the start year, or else the
        # latest one before it.
        earlier = [y for y in urban_years if y <= start]
        seed_year = earlier[-1] if earlier else urban_years[0]
        years = list(range(start + 1, end + 1))
        return Plan(seed_year, years, years, [])
    seed_year = urban_years[0]
    end = s.last_year
    years = list(range(seed_year + 1, end + 1))
    control = [y for y in urban_years[1:] if y <= end]
    return Plan(seed_year, years, control, control)


def _road_index(layers: Layers, years: list[int]) -> tuple[np.ndarray, np.ndarray]:
    road_years = sorted(layers.roads)
    stack = np.stack([layers.roads[y] for y in road_years])
    index = np.empty(len(years), dtype=np.int64)
    for i, y in enumerate(years):
        before = [k for k, ry in enumerate(road_years) if ry <= y]
        index[i] = before[-1] if before else 0
    return stack, index


def simulate(
    s: SleuthScenario,
    layers: Layers,
    coefficient_sets: np.ndarray,
    members: int,
    seed: int,
    *,
    keep_finals: bool,
) -> tuple[Plan, np.ndarray, np.ndarray, np.ndarray]:
    """Run every coefficient set × member; returns the plan, the statistics
    ``[set, member, year, column]``, the final urban grids (or an empty array) and the
    final coefficients ``[set, member, 5]``."""
    from landsim.sleuth import model

    p = plan_years(s)
    roads, road_index = _road_index(layers, p.years)
    stat_year = np.array([y in p.stat_years for y in p.years], dtype=np.bool_)
    ctrl = [y for y in p.years if y in p.control_years]
    observed = (
        np.stack([layers.urban[y] for y in ctrl])
        if ctrl
        else np.zeros((1, *layers.shape), dtype=np.uint8)
    )
    observed_index = np.array([ctrl.index(y) if y in ctrl else -1 for y in p.years], dtype=np.int64)
    sm = s.self_modification
    self_mod = np.array(
        [
            sm.critical_low,
            sm.critical_high,
            sm.critical_slope,
            sm.boom,
            sm.bust,
            sm.road_gravity_sensitivity,
            sm.slope_sensitivity,
        ],
        dtype=np.float64,
    )
    n_sets = coefficient_sets.shape[0]
    stats = np.empty((n_sets, members, len(p.years), model.N_COLUMNS), dtype=np.float64)
    finals = (
        np.empty((n_sets, members, *layers.shape), dtype=np.uint8)
        if keep_finals
        else np.empty((0, 0, 1, 1), dtype=np.uint8)
    )
    final_coeffs = np.empty((n_sets, members, 5), dtype=np.float64)
    model.run_members(
        layers.urban[p.seed_year],
        layers.slope,
        layers.excluded,
        roads,
        road_index,
        np.ascontiguousarray(coefficient_sets, dtype=np.float64),
        self_mod,
        np.uint64(seed),
        np.int64(members),
        stat_year,
        observed,
        observed_index,
        stats,
        finals,
        final_coeffs,
        model.MEASURE_COLUMN,
    )
    return p, stats, finals, final_coeffs


def observed_stats(layers: Layers, years: list[int]) -> np.ndarray:
    """SLEUTH's measures of the observed urban layers, ``[year, measure]``."""
    from landsim.sleuth.stats import N_STATS, urban_stats

    out = np.empty((len(years), N_STATS), dtype=np.float64)
    for i, y in enumerate(years):
        urban_stats(layers.urban[y], layers.slope, out[i])
    return out


def _measure_means(stats: np.ndarray, years: list[int], wanted: list[int]) -> np.ndarray:
    """Member means of the spatial measures at ``wanted`` years, ``[year, measure]``,
    from one set's ``stats[member, year, column]``."""
    from landsim.sleuth import model

    rows = [years.index(y) for y in wanted]
    return stats[:, rows][:, :, model.MEASURE_COLUMN].mean(axis=0)


def scores(stats: np.ndarray, plan: Plan, observed: np.ndarray) -> dict[str, float]:
    """SLEUTH's fit scores of one coefficient set (its members' statistics)."""
    from landsim.sleuth import model
    from landsim.sleuth.stats import fit_scores

    sim = _measure_means(stats, plan.years, plan.control_years)
    rows = [plan.years.index(y) for y in plan.control_years]
    lee = float(np.mean(stats[:, rows, model.C_LEESALEE]))
    return fit_scores(sim, observed, lee)


def _coefficient_array(c: Any) -> np.ndarray:
    return np.array([c.as_tuple()], dtype=np.float64)


def _stats_rows(plan: Plan, stats: np.ndarray) -> list[list[Any]]:
    """Rows of sleuth_stats.csv: per stat year and column, member mean and std."""
    from landsim.sleuth import model

    rows: list[list[Any]] = []
    for i, y in enumerate(plan.years):
        if y not in plan.stat_years:
            continue
        for k, name in enumerate(model.STAT_COLUMNS):
            v = stats[:, i, k]
            if np.all(np.isnan(v)):
                continue
            rows.append([y, name, _fmt(float(np.mean(v))), _fmt(float(np.std(v)))])
    return rows


def _fmt(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".") if v == v else "nan"


def _calibration_sets(s: SleuthScenario) -> np.ndarray:
    assert s.calibration is not None
    ranges = [getattr(s.calibration, k).values() for k in COEFFICIENTS]
    return np.array(list(itertools.product(*ranges)), dtype=np.float64)


def calibrate(s: SleuthScenario, layers: Layers, members: int, seed: int) -> dict[str, Any]:
    """Score coefficient sets against the observed years: every combination of the
    ranges (SLEUTH's brute force) or an optimiser within their bounds."""
    assert s.calibration is not None
    cal = s.calibration
    p = plan_years(s)
    observed = observed_stats(layers, p.control_years)
    t0 = time.perf_counter()
    if cal.search == "brute_force":
        sets = _calibration_sets(s)
        _, stats, _, final = simulate(s, layers, sets, members, seed, keep_finals=False)
        results = [
            (sets[i], scores(stats[i], p, observed), final[i].mean(axis=0))
            for i in range(len(sets))
        ]
    else:
        results = _optimise(s, layers, members, seed, observed)
    elapsed = time.perf_counter() - t0
    ranked = sorted(range(len(results)), key=lambda i: -results[i][1][cal.rank_by])
    return {"plan": p, "results": results, "ranked": ranked, "seconds": elapsed}


def _optimise(
    s: SleuthScenario, layers: Layers, members: int, seed: int, observed: np.ndarray
) -> list[tuple[np.ndarray, dict[str, float], np.ndarray]]:
    """Differential evolution (scipy) over the ranges' bounds, integer coefficients;
    each generation is one parallel kernel call (``vectorized``)."""
    from scipy.optimize import differential_evolution

    assert s.calibration is not None
    cal = s.calibration
    p = plan_years(s)
    bounds = [(getattr(cal, k).start, getattr(cal, k).stop) for k in COEFFICIENTS]
    seen: dict[tuple[float, ...], tuple[np.ndarray, dict[str, float], np.ndarray]] = {}

    def evaluate(population: np.ndarray) -> np.ndarray:
        sets = np.round(population.T)
        todo = [c for c in {tuple(r) for r in sets} if c not in seen]
        if todo:
            arr = np.array(sorted(todo), dtype=np.float64)
            _, stats, _, final = simulate(s, layers, arr, members, seed, keep_finals=False)
            for i, c in enumerate(sorted(todo)):
                seen[c] = (arr[i], scores(stats[i], p, observed), final[i].mean(axis=0))
        return np.array([-seen[tuple(r)][1][cal.rank_by] for r in sets])

    popsize = 8
    generations = max(1, cal.trials // (popsize * len(bounds)) - 1)
    differential_evolution(
        evaluate,
        bounds,
        popsize=popsize,
        maxiter=generations,
        integrality=[True] * len(bounds),
        vectorized=True,
        updating="deferred",
        seed=s.simulation.seed % (2**32),
        polish=False,
        tol=0,
    )
    return [seen[c] for c in sorted(seen)]


def run_sleuth(
    path: str | Path,
    out_dir: str | Path | None = None,
    *,
    seed: int | None = None,
    members: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run a SLEUTH-kind scenario file in its mode and write its outputs."""
    from landsim.api import _sha256, _versions
    from landsim.io import write
    from landsim.scenario import load_sleuth

    s = load_sleuth(path)
    out = Path(out_dir) if out_dir is not None else Path.cwd() / "runs" / s.name
    inputs = _input_paths(s)
    write.check_output_dir(out, overwrite, inputs.values())
    layers = read_layers(s)
    run_seed = s.simulation.seed if seed is None else seed
    n = s.simulation.members if members is None else members
    if n < 1:
        raise LandsimError(f"--members {n}: a run needs at least 1 member")
    mode = s.simulation.mode
    t0 = time.perf_counter()
    summary: dict[str, Any] = {"scenario": s.name, "mode": mode, "members": n, "seed": run_seed}
    notes = _quirks(s, layers)
    with write.staged_output(out, overwrite, inputs.values()) as stage:
        if mode == "calibrate":
            cal = calibrate(s, layers, n, run_seed)
            _write_calibration(stage, s, cal)
            best = cal["results"][cal["ranked"][0]]
            summary.update(
                sets=len(cal["results"]),
                best_start=dict(zip(COEFFICIENTS, map(float, best[0]), strict=True)),
                best_scores=best[1],
                best_fit=dict(zip(COEFFICIENTS, map(float, best[2]), strict=True)),
                seconds=cal["seconds"],
            )
            files = ["calibration.csv", "calibration.json"]
        else:
            assert s.coefficients is not None
            plan, stats, finals, final_coeffs = simulate(
                s, layers, _coefficient_array(s.coefficients), n, run_seed, keep_finals=True
            )
            write.write_csv(
                stage / "sleuth_stats.csv",
                ["year", "statistic", "mean", "std"],
                _stats_rows(plan, stats[0]),
            )
            files = ["sleuth_stats.csv"]
            last = plan.years[-1]
            probability = finals[0].astype(np.float32).mean(axis=0, dtype=np.float32)
            _write_probability(stage / f"urban_probability_{last}.tif", probability, layers, s)
            files.append(f"urban_probability_{last}.tif")
            from landsim.sleuth import model

            summary["pop_mean"] = {
                y: float(np.mean(stats[0, :, i, model.C_POP]))
                for i, y in enumerate(plan.years)
                if y in plan.stat_years
            }
            summary["final_coefficients"] = dict(
                zip(COEFFICIENTS, map(float, final_coeffs[0].mean(axis=0)), strict=True)
            )
            if mode == "test":
                observed = observed_stats(layers, plan.control_years)
                sc = scores(stats[0], plan, observed)
                write.write_csv(
                    stage / "control_stats.csv",
                    ["score", "value"],
                    [[k, _fmt(v)] for k, v in sc.items()],
                )
                files.append("control_stats.csv")
                summary["scores"] = sc
        summary["seconds"] = time.perf_counter() - t0
        write.write_json(
            stage / "provenance.json",
            {
                "landsim_version": __version__,
                "scenario": s.name,
                "kind": "sleuth",
                "mode": mode,
                "members": n,
                "seed": run_seed,
                "random_streams": "SplitMix64 per (seed, coefficient set, member); "
                "statistically, not bit for bit, like SLEUTH's ran1",
                "scenario_file": str(s.source) if s.source else None,
                "inputs": {k: {"path": str(v), "sha256": _sha256(v)} for k, v in inputs.items()},
                "notes": notes,
                "versions": _versions(),
                "resolved_scenario": s.model_dump(mode="json"),
            },
        )
        files.append("provenance.json")
    summary["files"] = files
    summary["out_dir"] = str(out)
    summary["notes"] = notes
    return summary


def _input_paths(s: SleuthScenario) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for y, p in s.inputs.urban.items():
        files[f"inputs.urban.{y}"] = Path(p)
    for y, p in s.inputs.roads.items():
        files[f"inputs.roads.{y}"] = Path(p)
    files["inputs.excluded"] = Path(s.inputs.excluded)
    files["inputs.slope"] = Path(s.inputs.slope)
    return files


def _quirks(s: SleuthScenario, layers: Layers) -> list[str]:
    """Settings that SLEUTH runs as they are but a modeller should know about."""
    notes = list(s.imported.get("quirks", []))
    if s.coefficients is not None:
        zero = [k for k, v in zip(COEFFICIENTS, s.coefficients.as_tuple(), strict=True) if v < 1]
        if zero:
            notes.append(f"coefficients {', '.join(zero)} below 1 run as 1, as in SLEUTH")
    if s.self_modification.bust < 0.5 and not any("BUST" in n for n in notes):
        notes.append(
            f"bust = {s.self_modification.bust:g}: one bust year cuts diffusion, breed and "
            "spread to that share (SLEUTH's default is 0.9)"
        )
    return notes


def _write_probability(path: Path, p: np.ndarray, layers: Layers, s: SleuthScenario) -> None:
    from landsim.io.write import _gdal_atomic, _tiff_profile

    profile = _tiff_profile(layers.grid, "float32", 0, "deflate")
    profile.update(nodata=None, predictor=3)
    with _gdal_atomic(path, profile) as ds:
        ds.write(p.astype(np.float32), 1)
        ds.update_tags(
            scenario=s.name,
            landsim_version=__version__,
            meaning="share of members in which the cell is urban (SLEUTH's cumulate_urban / 100)",
        )


def _write_calibration(stage: Path, s: SleuthScenario, cal: dict[str, Any]) -> None:
    from landsim.io import write

    assert s.calibration is not None
    results, ranked = cal["results"], cal["ranked"]
    score_names = list(results[0][1])
    header = ["rank", *COEFFICIENTS, *score_names, *(f"final_{k}" for k in COEFFICIENTS)]
    rows = []
    for rank, i in enumerate(ranked, start=1):
        start, sc, final = results[i]
        rows.append(
            [
                rank,
                *(_fmt(float(v)) for v in start),
                *(_fmt(sc[k]) for k in score_names),
                *(_fmt(float(v)) for v in final),
            ]
        )
    write.write_csv(stage / "calibration.csv", header, rows)
    top = []
    for i in ranked[: s.calibration.top]:
        start, sc, final = results[i]
        top.append(
            {
                "start": dict(zip(COEFFICIENTS, map(float, start), strict=True)),
                "scores": {k: float(v) for k, v in sc.items()},
                "best_fit_for_prediction": dict(
                    zip(COEFFICIENTS, (round(float(v), 2) for v in final), strict=True)
                ),
            }
        )
    write.write_json(
        stage / "calibration.json",
        {
            "search": s.calibration.search,
            "rank_by": s.calibration.rank_by,
            "sets": len(results),
            "control_years": cal["plan"].control_years,
            "top": top,
            "next_phase_ranges": next_phase_ranges([results[i][0] for i in ranked], s),
        },
    )


def next_phase_ranges(ranked_starts: list[np.ndarray], s: SleuthScenario) -> dict[str, Any]:
    """SLEUTH's coarse → fine → final narrowing: the span of the best sets' start values
    per coefficient, cut into about 4 steps (a starting point for the next phase's
    [calibration]; SLEUTH leaves this choice to the modeller too)."""
    assert s.calibration is not None
    best = np.array(ranked_starts[: s.calibration.top])
    out: dict[str, Any] = {}
    for k, name in enumerate(COEFFICIENTS):
        lo, hi = float(best[:, k].min()), float(best[:, k].max())
        step = max(1.0, round((hi - lo) / 4)) if hi > lo else 1.0
        out[name] = {"start": lo, "step": step, "stop": hi}
    return out


def describe_sleuth(
    path: str | Path,
    out_dir: str | Path | None = None,
    *,
    seed: int | None = None,
    members: int | None = None,
) -> list[str]:
    """What ``run_sleuth`` would do (``--dry-run``)."""
    from landsim.scenario import load_sleuth

    s = load_sleuth(path)
    out = Path(out_dir) if out_dir is not None else Path.cwd() / "runs" / s.name
    n = s.simulation.members if members is None else members
    p = plan_years(s)
    what = f"{n} members"
    cal = s.calibration
    if s.simulation.mode == "calibrate" and cal is not None:
        if cal.search == "brute_force":
            what += f" × {len(_calibration_sets(s)):,} coefficient sets"
        else:
            what += f", differential evolution (about {cal.trials} sets)"
    return [
        f"{s.name}: SLEUTH {s.simulation.mode} mode, seed year {p.seed_year}, "
        f"{p.years[0]} → {p.years[-1]}, {what}, seed "
        f"{s.simulation.seed if seed is None else seed} → {out}",
        f"statistics in {', '.join(map(str, p.stat_years[:6]))}"
        + (" …" if len(p.stat_years) > 6 else ""),
    ]
