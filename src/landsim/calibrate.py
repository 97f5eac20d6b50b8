"""``landsim calibrate``: fit a scenario's model parameters to an observed period.

The scenario runs from its start map to the year of the observed map, with its own
demand (for a calibration, the observed quantity of change). Each trial sets the
neighbourhood radius, the neighbourhood floor, the random factor and the suitability
model (the scenario's own, or a logistic regression fitted with scikit-learn on the
cells that changed into urban over the same period), runs the model with a few seeds
and scores the urban-gain figure of merit against the observed map (cells of the
excluded classes not scored), with Lee–Sallee as the tie-breaking secondary score.

Trials are tasks on dask.distributed (a local cluster by default, ``scheduler=`` for
another), proposed by scipy's differential evolution: each generation is one batch of
tasks (``workers=`` map-like). Every trial's result depends only on its parameters and
seeds, so the search is the same whatever the number of workers.

Outputs (``out_dir``): ``trials.csv`` (every trial), ``calibration.json`` (the best
parameters, their scores, the search), and ``calibrated.toml``: a scenario that
``extends`` the input one with the best ``[model]`` and, when chosen, the fitted
``[suitability]``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landsim import __version__, api
from landsim.errors import InputError, ScenarioError
from landsim.scenario import Scenario, load

log = logging.getLogger(__name__)

SUITABILITY_CHOICES = ("scenario", "fitted")
PARAMETERS = ("neighborhood_radius", "neighborhood_floor", "random_factor", "suitability")


@dataclass(frozen=True)
class Bounds:
    """The search space; ``validate`` refuses empty or reversed ranges."""

    radius: tuple[int, int] = (1, 4)
    floor: tuple[float, float] = (0.0, 1.0)
    random_factor: tuple[float, float] = (0.0, 1.5)
    suitability: tuple[str, ...] = SUITABILITY_CHOICES

    def validate(self) -> None:
        for name, (lo, hi) in (
            ("--radius", self.radius),
            ("--floor", self.floor),
            ("--random-factor", self.random_factor),
        ):
            if lo > hi:
                raise ScenarioError(
                    f"{name} {lo:g} {hi:g}: the range is reversed (low > high); give LOW HIGH"
                )
        if self.radius[0] < 1 or self.radius[1] > 10:
            raise ScenarioError(f"--radius {self.radius}: the radius must be within 1..10")
        if self.floor[0] < 0 or self.floor[1] > 1:
            raise ScenarioError(f"--floor {self.floor}: the floor must be within 0..1")
        if self.random_factor[0] < 0 or self.random_factor[1] > 10:
            raise ScenarioError(f"--random-factor {self.random_factor}: must be within 0..10")
        bad = [c for c in self.suitability if c not in SUITABILITY_CHOICES]
        if bad or not self.suitability:
            raise ScenarioError(
                f"--suitability {','.join(self.suitability) or '(none)'}: choose among "
                f"{', '.join(SUITABILITY_CHOICES)}"
            )


@dataclass(frozen=True)
class Job:
    """What a trial task needs (small, picklable)."""

    scenario: str
    observed: str
    exclude: tuple[int, ...]
    seeds: tuple[int, ...]
    fitted: dict[str, Any] | None  # the fitted suitability, if fitted is a choice


@dataclass
class Trial:
    params: dict[str, Any]
    fom: float
    fom_seeds: list[float]
    leesalee: float
    seconds: float


# ---------------------------------------------------------------- observed data


def _read_observed(path: Path, scenario: Scenario, shape: tuple[int, int], grid: Any) -> Any:
    """The observed map, read and checked as every land-use map is (grid, codes, nodata)."""
    from landsim.io.raster import probe_aligned, read_landuse

    probe_aligned(Path(path), grid, "--observed")
    data, _ = read_landuse(Path(path), [c.code for c in scenario.classes], "--observed")
    return data


def fit_suitability(
    p: api.Prepared, observed: np.ndarray, scored: np.ndarray, *, sample: int = 400_000
) -> dict[str, Any]:
    """Logistic regression (scikit-learn) of "became urban" on the scenario's drivers.

    Fitted on the scored cells that were not urban at the start, in the drivers' own units
    (after their transform and scale), so the coefficients drop into ``[suitability]``.
    A fixed, evenly spaced sample keeps the fit fast and deterministic.
    """
    from sklearn.linear_model import LogisticRegression

    from landsim.suitability.compute import driver_stack

    s = p.scenario
    urban = s.urban_class.code
    names, stack = driver_stack(s, p.grid, p.landuse != 255)
    eligible = scored & (p.landuse != urban) & np.all(np.isfinite(stack), axis=0)
    idx = np.flatnonzero(eligible.ravel())
    if idx.size == 0:
        raise InputError("no cell could become urban in the calibration period")
    step = max(1, idx.size // sample)
    idx = idx[::step]
    y = (observed.ravel()[idx] == urban).astype(np.int8)
    if y.sum() < 30:
        raise InputError(
            f"only {int(y.sum())} sampled cells became urban in the calibration period; "
            "too few to fit a suitability model (need 30)"
        )
    x = np.stack([d.ravel()[idx] for d in stack], axis=1).astype(np.float64)
    model = LogisticRegression(max_iter=2000).fit(x, y)
    return {
        "method": "logistic",
        "intercept": round(float(model.intercept_[0]), 6),
        "coefficients": {n: round(float(c), 6) for n, c in zip(names, model.coef_[0], strict=True)},
        "sample_cells": int(idx.size),
        "became_urban_share": round(float(y.mean()), 6),
    }


# ---------------------------------------------------------------- on the workers

_CACHE: dict[tuple[str, str], tuple[api.Prepared, np.ndarray, np.ndarray]] = {}


def _prepared(job: Job, choice: str) -> tuple[api.Prepared, np.ndarray, np.ndarray]:
    key = (job.scenario, choice)
    if key not in _CACHE:
        s = load(job.scenario)
        if choice == "fitted":
            assert job.fitted is not None
            data = s.model_dump()
            data["suitability"] = {
                "method": "logistic",
                "intercept": job.fitted["intercept"],
                "coefficients": job.fitted["coefficients"],
            }
            s = Scenario.model_validate(data)
        logger = logging.getLogger("landsim")
        level = logger.level
        logger.setLevel(logging.ERROR)  # the driver notes were reported once already
        try:
            p = api.prepare(s)
        finally:
            logger.setLevel(level)
        observed = _read_observed(Path(job.observed), s, p.grid.shape, p.grid)
        scored = _scored(p.landuse, observed, job.exclude)
        if len(_CACHE) >= 2:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (p, observed, scored)
    return _CACHE[key]


def _scored(landuse: np.ndarray, observed: np.ndarray, exclude: Sequence[int]) -> np.ndarray:
    return (
        (landuse != 255)
        & (observed != 255)
        & ~np.isin(landuse, list(exclude))
        & ~np.isin(observed, list(exclude))
    )


def urban_gain_scores(
    initial: np.ndarray,
    observed: np.ndarray,
    simulated: np.ndarray,
    scored: np.ndarray,
    urban: int,
) -> tuple[float, float]:
    """Figure of merit of the urban gain, and Lee–Sallee of the final urban maps."""
    from landsim.metrics import figure_of_merit, lee_sallee

    fom = figure_of_merit(initial, observed, simulated, target=urban, mask=scored).fom
    lee = lee_sallee((simulated == urban) & scored, (observed == urban) & scored)
    return float(fom), float(lee)


def run_trial(job: Job, params: dict[str, Any], threads: int = 1) -> Trial:
    """Task: one parameter set, every seed; the mean figure of merit over the seeds."""
    from landsim.ensemble import _set_threads
    from landsim.model import GrowthParameters, simulate

    _set_threads(threads)
    t0 = time.perf_counter()
    p, observed, scored = _prepared(job, params["suitability"])
    s = p.scenario
    weights = np.zeros(256, dtype=np.float32)
    weights[s.urban_class.code] = 1.0
    foms, lees = [], []
    for seed in job.seeds:
        gp = GrowthParameters(
            urban_code=s.urban_class.code,
            weights=weights,
            radius=int(params["neighborhood_radius"]),
            floor=float(params["neighborhood_floor"]),
            alpha=float(params["random_factor"]),
            seed=seed,
        )
        res = simulate(
            p.landuse,
            p.suitability,
            p.constraints.candidate,
            p.demand,
            gp,
            [],
            layers={},
            periods=p.periods or None,
        )
        assert res.final is not None
        fom, lee = urban_gain_scores(p.landuse, observed, res.final, scored, s.urban_class.code)
        foms.append(fom)
        lees.append(lee)
    return Trial(
        dict(params),
        float(np.mean(foms)),
        foms,
        float(np.mean(lees)),
        time.perf_counter() - t0,
    )


# ---------------------------------------------------------------- in the client


def _decode(x: Sequence[float], bounds: Bounds) -> dict[str, Any]:
    choice = bounds.suitability[round(float(x[3]))]
    return {
        "neighborhood_radius": round(float(x[0])),
        "neighborhood_floor": round(float(x[1]), 4),
        "random_factor": round(float(x[2]), 4),
        "suitability": choice,
    }


def calibrate(
    scenario_path: str | Path,
    observed_path: str | Path,
    out_dir: str | Path,
    *,
    exclude: Sequence[str | int] = ("water",),
    bounds: Bounds | None = None,
    trials: int = 32,
    seeds: int = 2,
    seed: int = 0,
    overwrite: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    on_trial: Callable[[Trial, int], None] | None = None,
) -> dict[str, Any]:
    """Search the parameters that best reproduce the observed map; write the results."""
    from scipy.optimize import differential_evolution

    from landsim import ensemble
    from landsim.io import write

    bounds = bounds or Bounds()
    bounds.validate()
    if trials < 1:
        raise ScenarioError(f"--trials {trials}: at least 1 trial")
    if seeds < 1:
        raise ScenarioError(f"--seeds {seeds}: at least 1 seed per trial")
    scenario_path = Path(scenario_path).resolve()
    observed_path = Path(observed_path).resolve()
    out = Path(out_dir)
    s = load(scenario_path)
    write.check_output_dir(out, overwrite)
    _check_calibration_results(out, overwrite)
    codes = _exclude_codes(s, exclude)
    if s.simulation.end_year <= s.simulation.start_year:
        raise ScenarioError("the calibration scenario must simulate at least one year")
    p = api.prepare(s)
    observed = _read_observed(observed_path, s, p.grid.shape, p.grid)
    scored = _scored(p.landuse, observed, codes)
    urban = s.urban_class.code
    gained = int((scored & (p.landuse != urban) & (observed == urban)).sum())
    if gained == 0:
        raise InputError(
            f"--observed {observed_path}: no scored cell became {s.urban_class.name} between "
            f"{s.simulation.start_year} and the observed map; nothing to calibrate against"
        )
    fitted = fit_suitability(p, observed, scored) if "fitted" in bounds.suitability else None
    del p
    job = Job(
        str(scenario_path),
        str(observed_path),
        tuple(codes),
        tuple(range(seed, seed + seeds)),
        fitted,
    )

    history: list[Trial] = []
    t0 = time.perf_counter()
    de_bounds = [
        bounds.radius,
        bounds.floor,
        bounds.random_factor,
        (0, len(bounds.suitability) - 1),
    ]
    popsize = max(1, min(8, trials // (4 * len(de_bounds)) or 1))
    per_gen = popsize * len(de_bounds)
    generations = max(0, trials // per_gen - 1)
    with ensemble.cluster(scheduler, workers, per_gen) as (client, threads):
        cache: dict[tuple[Any, ...], Trial] = {}

        def evaluate_batch(population: np.ndarray) -> np.ndarray:
            params = [_decode(x, bounds) for x in population.T]
            keys = [tuple(sorted(pp.items())) for pp in params]
            todo = {k: pp for k, pp in zip(keys, params, strict=True) if k not in cache}
            futures = {
                k: client.submit(run_trial, job, pp, threads, pure=False)
                for k, pp in sorted(todo.items())
            }
            for k in sorted(futures):
                trial = futures[k].result()  # a LandsimError of a task reaches the user
                cache[k] = trial
                history.append(trial)
                if on_trial is not None:
                    on_trial(trial, len(history))
            return np.array([-cache[k].fom for k in keys])

        differential_evolution(
            evaluate_batch,
            de_bounds,
            popsize=popsize,
            maxiter=generations,
            integrality=[True, False, False, True],
            vectorized=True,
            updating="deferred",
            seed=seed,
            polish=False,
            tol=0,
        )
    elapsed = time.perf_counter() - t0
    best = max(history, key=lambda t: (t.fom, t.leesalee))
    report = {
        "landsim_version": __version__,
        "scenario": s.name,
        "scenario_file": str(scenario_path),
        "observed": str(observed_path),
        "period": [s.simulation.start_year, s.simulation.end_year],
        "score": "figure of merit of the urban gain (mean over seeds); Lee–Sallee breaks ties",
        "excluded_classes": list(codes),
        "scored_cells": int(scored.sum()),
        "observed_gain_cells": gained,
        "search": {
            "optimiser": "scipy.optimize.differential_evolution (vectorised, integer radius "
            "and suitability choice)",
            "population": per_gen,
            "generations": generations + 1,
            "trials": len(history),
            "seeds_per_trial": seeds,
            "seconds": round(elapsed, 2),
            "bounds": {
                "neighborhood_radius": list(bounds.radius),
                "neighborhood_floor": list(bounds.floor),
                "random_factor": list(bounds.random_factor),
                "suitability": list(bounds.suitability),
            },
        },
        "fitted_suitability": fitted,
        "best": {
            "params": best.params,
            "fom": round(best.fom, 6),
            "fom_seeds": [round(f, 6) for f in best.fom_seeds],
            "leesalee": round(best.leesalee, 6),
        },
    }
    with write.staged_output(out, overwrite) as stage:
        write.write_csv(
            stage / "trials.csv",
            ["trial", *PARAMETERS, "fom", "fom_min", "fom_max", "leesalee", "seconds"],
            [
                [
                    i + 1,
                    *(t.params[k] for k in PARAMETERS),
                    f"{t.fom:.6f}",
                    f"{min(t.fom_seeds):.6f}",
                    f"{max(t.fom_seeds):.6f}",
                    f"{t.leesalee:.6f}",
                    f"{t.seconds:.3f}",
                ]
                for i, t in enumerate(history)
            ],
        )
        write.write_json(stage / "calibration.json", report)
        write.write_text(
            stage / "calibrated.toml", calibrated_toml(s, scenario_path, best, fitted, out)
        )
    report["out_dir"] = str(out)
    return report


def _check_calibration_results(out: Path, overwrite: bool) -> None:
    from landsim.errors import OutputError

    found = [n for n in ("calibration.json", "trials.csv", "calibrated.toml") if (out / n).exists()]
    if found and not overwrite:
        raise OutputError(
            f"output folder {out} already holds a calibration ({', '.join(found)}); pass "
            "--overwrite to replace it, or choose another folder with -o"
        )


def _exclude_codes(s: Scenario, exclude: Sequence[str | int]) -> list[int]:
    codes = []
    for e in exclude:
        if isinstance(e, int) or (isinstance(e, str) and e.isdigit()):
            code = int(e)
            if code not in {c.code for c in s.classes}:
                raise ScenarioError(f"--exclude {e}: no class with code {code} in the scenario")
            codes.append(code)
            continue
        hits = [c.code for c in s.classes if e in (c.name, c.role)]
        if not hits:
            names = ", ".join(c.name for c in s.classes)
            raise ScenarioError(f"--exclude {e}: neither a class name nor a role ({names})")
        codes.extend(hits)
    return sorted(set(codes))


def calibrated_toml(
    s: Scenario, scenario_path: Path, best: Trial, fitted: dict[str, Any] | None, out: Path
) -> str:
    """A scenario that extends the calibrated one with the best parameters."""
    import os

    rel = os.path.relpath(scenario_path, out.resolve())
    lines = [
        f"# Written by `landsim calibrate` (landsim {__version__}): the scenario",
        f"# {scenario_path.name} with the parameters that scored best against the observed map",
        f"# (urban-gain figure of merit {best.fom:.4f}, mean of {len(best.fom_seeds)} seeds).",
        f"extends = {json.dumps(rel.replace(os.sep, '/'))}",
        f"name = {json.dumps(s.name + '-calibrated', ensure_ascii=False)}",
        "",
        "[model]",
        f"neighborhood_radius = {best.params['neighborhood_radius']}",
        f"neighborhood_floor = {best.params['neighborhood_floor']}",
        f"random_factor = {best.params['random_factor']}",
    ]
    if best.params["suitability"] == "fitted" and fitted is not None:
        coeffs = ", ".join(f"{k} = {v}" for k, v in fitted["coefficients"].items())
        lines += [
            "",
            "# Logistic regression fitted on the calibration period's observed change.",
            "[suitability]",
            'method = "logistic"',
            f"intercept = {fitted['intercept']}",
            f"coefficients = {{ {coeffs} }}",
        ]
    return "\n".join(lines) + "\n"
