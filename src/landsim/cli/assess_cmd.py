"""``landsim assess``: a simulated map against the observed one and neutral baselines.

Only click is imported at module level (``landsim --help`` stays fast); rasterio, scipy
and the metrics load when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from landsim.cli._common import _user_errors

_FILE = click.Path(path_type=Path)


def _verdict(report: dict[str, Any]) -> str:
    """One line: does the model place change better than both baselines?"""
    key = "fom_target" if report.get("target") else "fom"
    model = report["model"][key]["fom"]
    nearest = report["baselines"]["nearest"][key]["fom"]
    random = report["baselines"]["random"][key]["fom"]["max"]
    if model is None or nearest is None or random is None:
        return "the figure of merit is undefined for one of the maps; see the JSON report"
    if model > nearest and model > random:
        return "the model places change better than both neutral baselines"
    beaten_by = [n for n, v in (("nearest", nearest), ("random", random)) if v >= model]
    return (
        "the model does NOT beat the "
        + " and the ".join(beaten_by)
        + " baseline"
        + ("s" if len(beaten_by) > 1 else "")
        + " (random: its best seed)"
    )


@click.command()
@click.option("--initial", required=True, type=_FILE, help="Land-use map at the start.")
@click.option("--observed", required=True, type=_FILE, help="Observed land-use map later.")
@click.option("--simulated", type=_FILE, default=None, help="Simulated map of that year.")
@click.option(
    "--run",
    "run_dir",
    type=_FILE,
    default=None,
    help="A run folder instead of --simulated: its landuse_<year>.tif is assessed.",
)
@click.option("--year", type=int, default=None, help="Map year of --run [default: its latest map].")
@click.option(
    "--scenario",
    type=_FILE,
    default=None,
    help="Scenario file: class names and roles; the run must be of this scenario.",
)
@click.option(
    "--target",
    default="urban",
    show_default=True,
    help="Class whose gain is scored: a class name, role or code.",
)
@click.option(
    "--exclude",
    multiple=True,
    help="A class (name, role or code) left out of scoring, e.g. water; repeatable.",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Seeds of the random baseline.",
)
@click.option("-o", "--output", type=_FILE, default=None, help="Write the full report (JSON).")
@_user_errors
def assess(
    initial: Path,
    observed: Path,
    simulated: Path | None,
    run_dir: Path | None,
    year: int | None,
    scenario: Path | None,
    target: str,
    exclude: tuple[str, ...],
    seeds: int,
    output: Path | None,
) -> None:
    """Score a simulated map against the observed one, beside two neutral baselines with
    the observed quantity of every change (random and nearest-to-existing allocation):
    figure of merit, producer's and user's accuracy, Kappa simulation, disagreement."""
    from landsim.errors import InputError, OutputError

    if (simulated is None) == (run_dir is None):
        raise InputError("give the simulated map with --simulated FILE or --run DIR (one of them)")
    if year is not None and run_dir is None:
        raise InputError("--year picks a map of --run DIR; with --simulated, give that file only")
    if output is not None and output.is_dir():
        raise OutputError(f"-o {output} is a folder; give a file name such as report.json")

    from landsim.assess import assess as run_assess
    from landsim.assess import format_table

    report = run_assess(
        initial,
        observed,
        simulated,
        run_dir=run_dir,
        year=year,
        scenario=scenario,
        target=target,
        exclude=exclude,
        random_seeds=seeds,
    )
    q = report["quantity"]
    sim = report["inputs"]["simulated"]["path"]
    about = ", ".join(
        x
        for x in (
            f"scenario {report['scenario']}" if report["scenario"] else "",
            f"year {report['year']}" if report["year"] else "",
        )
        if x
    )
    click.echo(f"assessed  {sim}" + (f" ({about})" if about else ""))
    click.echo(
        f"  {report['scored_cells']:,} scored cells; changed: {q['observed_changed_cells']:,} "
        f"observed, {q['simulated_changed_cells']:,} simulated"
    )
    for line in format_table(report):
        click.echo(f"  {line}")
    click.echo(f"  {_verdict(report)}")
    if output is not None:
        from landsim.io.write import write_json

        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {output.parent}: {exc.strerror or exc}") from None
        write_json(output, report)
        click.echo(f"wrote     {output}")
