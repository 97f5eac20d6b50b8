"""``landsim fit-suitability``: fit a multi-class scenario's suitability once, to a file.

Only click is imported at module level (``landsim --help`` stays fast); scikit-learn,
rasterio and the fit load when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from landsim.cli._common import _table, _user_errors


def _top(drivers: list[tuple[str, float]]) -> str:
    return ", ".join(f"{d} {v:.2f}" for d, v in drivers) or "–"


def _auc(c: dict[str, Any]) -> str:
    if c["auc"] is not None:
        return f"{c['auc']:.3f}"
    if c["constant_suitability"] is not None:
        return f"constant {c['constant_suitability']:.4g}"
    return "–"


@click.command(
    "fit-suitability", short_help="Fit a multi-class scenario's suitability to a raster."
)
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path),
    help="The suitability GeoTIFF to write (one band per class); OUT.json and "
    "OUT_contributions.csv are written beside it.",
)
@click.option(
    "--model",
    type=click.Choice(["logistic", "random_forest"]),
    default=None,
    help="The model of every class [default: the scenario's [suitability] model].",
)
@click.option(
    "--trees",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Trees of the random forest [default: the scenario's [suitability] trees].",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 1024),
    default=1,
    show_default=True,
    help="Threads for the fit; the result does not depend on them.",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT and its companions if they exist.")
@_user_errors
def fit_suitability(
    scenario: Path,
    output: Path,
    model: str | None,
    trees: int | None,
    jobs: int,
    overwrite: bool,
) -> None:
    """Fit a multi-class SCENARIO's suitability once; write it to a raster.

    SCENARIO has [model] kind = "multiclass" and [suitability] method = "fit": one model
    per class is fitted on the observed change, exactly as a run fits it, and written to
    OUT (one band per class), with OUT.json and OUT_contributions.csv beside it; a table
    of each class's held-out AUC and top 3 drivers is printed.

    A scenario reuses it, without fitting again, with [suitability] method = "raster"
    and path = OUT; it runs to the same result for the same seed.
    """
    from landsim.fit_api import fit_suitability_file

    r = fit_suitability_file(
        scenario, output, model=model, trees=trees, n_jobs=jobs, overwrite=overwrite
    )
    model_text = r["model"] + (f", {r['trees']} trees" if r["trees"] else "")
    click.echo(
        f"scenario  {r['scenario']} ({model_text}, seed {r['seed']}, sample {r['sample_size']:,})"
    )
    click.echo(f"change    {r['before']} → {r['after']} ({r['grid']})")
    click.echo(f"drivers   {', '.join(r['drivers'])}")
    for name, why in r["dropped_drivers"].items():
        click.echo(f"dropped   {name}: {why}")
    rows = [
        [c["class"], f"{c['changed_cells']:,}", _auc(c), _top(c["top_drivers"])]
        for c in r["classes"]
    ]
    header = ["class", "changed cells", "AUC (held out)", "top drivers (contribution)"]
    # Numbers aligned right; the last column is text, so it goes after the table.
    lines = _table(header[:3], [row[:3] for row in rows])
    for line, row in zip(lines, [header, *rows], strict=True):
        click.echo(f"  {line}  {row[3]}")
    click.echo(f"time      {r['seconds']:.1f} s")
    click.echo(f"outputs   {r['files'][0]}")
    for f in r["files"][1:]:
        click.echo(f"          {f}")
    click.echo(f'reuse     [suitability] method = "raster", path = "{r["out"]}"')
