"""``landsim compare``: several runs side by side.

Only click is imported at module level (``landsim --help`` stays fast); the comparison,
rasterio and matplotlib load when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from landsim.cli._common import _table, _terminate, _user_errors


def _cell(stat: Any, unit: str) -> str:
    """The mean, with ± the standard deviation over an ensemble's members (as `landsim
    run` prints it); – when the run has no such indicator."""
    if stat is None:
        return "–"
    spec = ",.0f" if unit == "cells" else ",.2f"  # as in the report
    text = format(stat.mean, spec)
    if stat.members > 1:
        text += " ±" + format(stat.std, spec)
    return text


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the comparison: report.html, CSV files, maps and charts.",
)
@click.option(
    "--year",
    type=int,
    default=None,
    help="Year to compare [default: the last year every run has a map for].",
)
@click.option("--overwrite", is_flag=True, help="Replace a comparison already in the folder.")
@_user_errors
def compare(runs: tuple[Path, ...], output: Path, year: int | None, overwrite: bool) -> None:
    """Compare RUNS, two or more folders written by `landsim run` (single runs or
    ensembles, on one grid): indicators side by side, maps of where urban land differs,
    trajectory charts and a self-contained HTML report."""
    import signal

    from landsim.compare import compare_runs

    # A terminated comparison unwinds like Ctrl-C, so the staging folder is removed.
    signal.signal(signal.SIGTERM, _terminate)
    result = compare_runs(list(runs), output, year=year, overwrite=overwrite)
    unit = "km²" if result.unit == "km2" else "cells"
    # Short headings: the table has to fit a terminal next to Chinese labels.
    shown = {
        "urban": "urban",
        "cropland_lost": "cropland lost",
        "growth_inside_boundary": "inside boundary",
        "growth_outside_boundary": "outside boundary",
        "line_encroachment": "encroachment",
    }
    header = ["run", "kind", *shown.values()]
    rows = [
        [
            f"{r.number}: {r.label}",
            r.kind if r.members <= 1 else f"ensemble ×{r.members}",
            *(_cell(r.at_year[k], result.unit) for k in shown),
        ]
        for r in result.runs
    ]
    click.echo(f"compared  {len(result.runs)} runs in {result.year} ({unit})")
    for line in _table(header, rows, left_columns=2):
        click.echo(f"  {line}")
    if any(r.members > 1 for r in result.runs):
        click.echo("  ±: standard deviation over an ensemble's members (p05–p95 in the report)")
    click.echo(f"outputs   {result.out_dir}")
    for f in result.files:
        click.echo(f"          {f}")
