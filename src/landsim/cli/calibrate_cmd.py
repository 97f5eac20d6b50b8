"""``landsim calibrate``: fit the model's parameters to an observed map.

Only click is imported at module level, so ``landsim --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from landsim.cli._common import _user_errors


@click.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--observed",
    required=True,
    type=click.Path(path_type=Path),
    help="The observed land-use map of the scenario's end year.",
)
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path))
@click.option("--trials", type=int, default=32, show_default=True, help="Parameter sets tried.")
@click.option("--seeds", type=int, default=2, show_default=True, help="Seeds per trial.")
@click.option(
    "--exclude",
    multiple=True,
    default=("water",),
    show_default=True,
    help="Classes (names, roles or codes) not scored.",
)
@click.option("--radius", nargs=2, type=int, default=(1, 4), show_default=True)
@click.option("--floor", nargs=2, type=float, default=(0.0, 1.0), show_default=True)
@click.option("--random-factor", nargs=2, type=float, default=(0.0, 1.5), show_default=True)
@click.option(
    "--suitability",
    default="scenario,fitted",
    show_default=True,
    help="Suitability models to choose from: scenario, fitted (logistic regression).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="A dask scheduler.")
@click.option("--workers", type=click.IntRange(1, 1024), default=None)
@click.option("--overwrite", is_flag=True, help="Replace an earlier calibration in -o.")
@_user_errors
def calibrate(
    scenario: Path,
    observed: Path,
    output: Path,
    trials: int,
    seeds: int,
    exclude: tuple[str, ...],
    radius: tuple[int, int],
    floor: tuple[float, float],
    random_factor: tuple[float, float],
    suitability: str,
    seed: int,
    scheduler: str | None,
    workers: int | None,
    overwrite: bool,
) -> None:
    """Fit SCENARIO's neighbourhood, randomness and suitability to the OBSERVED map.

    Scored by the figure of merit of the urban gain; writes trials.csv, calibration.json
    and calibrated.toml (the scenario with the best parameters).
    """
    from landsim import calibrate as cal

    def progress(trial: Any, n: int) -> None:
        p = trial.params
        click.echo(
            f"trial {n:3d}  radius {p['neighborhood_radius']}  floor "
            f"{p['neighborhood_floor']:.3f}  random {p['random_factor']:.3f}  "
            f"{p['suitability']:<9}  FoM {trial.fom:.4f}",
            err=True,
        )

    bounds = cal.Bounds(
        radius,
        floor,
        random_factor,
        tuple(x.strip() for x in suitability.split(",") if x.strip()),
    )
    r = cal.calibrate(
        scenario,
        observed,
        output,
        exclude=exclude,
        bounds=bounds,
        trials=trials,
        seeds=seeds,
        seed=seed,
        overwrite=overwrite,
        scheduler=scheduler,
        workers=workers,
        on_trial=progress,
    )
    best = r["best"]
    p = best["params"]
    click.echo(f"scenario  {r['scenario']} ({r['period'][0]} → {r['period'][1]})")
    click.echo(
        f"best      radius {p['neighborhood_radius']}, floor {p['neighborhood_floor']}, "
        f"random factor {p['random_factor']}, suitability {p['suitability']}"
    )
    click.echo(
        f"score     urban-gain figure of merit {best['fom']:.4f} (seeds: "
        + ", ".join(f"{f:.4f}" for f in best["fom_seeds"])
        + f"), Lee–Sallee {best['leesalee']:.4f}"
    )
    click.echo(f"search    {r['search']['trials']} trials in {r['search']['seconds']:.1f} s")
    click.echo(f"outputs   {r['out_dir']}")
    for f in ("calibrated.toml", "calibration.json", "trials.csv"):
        click.echo(f"          {f}")
