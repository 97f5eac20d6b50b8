"""``landsim import-sleuth``: a SLEUTH scenario file and its GIFs → a landsim scenario."""

from __future__ import annotations

from pathlib import Path

import click

from landsim.cli._common import _user_errors


def _years(years: list[int]) -> str:
    return ", ".join(map(str, years)) or "none"


@click.command("import-sleuth")
@click.argument("scenario_file", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for scenario.toml and the GeoTIFFs.",
)
@click.option(
    "--mode",
    type=click.Choice(["test", "calibrate", "predict"]),
    default="test",
    show_default=True,
    help="SLEUTH mode the scenario is for: picks the coefficients and years.",
)
@click.option("--overwrite", is_flag=True, help="Replace an earlier import in the folder.")
@_user_errors
def import_sleuth(scenario_file: Path, output: Path, mode: str, overwrite: bool) -> None:
    """Import SLEUTH's SCENARIO_FILE and the GIFs it names as a landsim scenario.

    Writes scenario.toml ([model] kind = "sleuth") and uint8 GeoTIFFs of the cell values
    exactly as SLEUTH reads them (palette gray levels; no CRS, 1-unit cells). Oddities of
    the SLEUTH files are carried over unchanged and printed as notes.
    """
    from landsim.sleuth.io import import_sleuth as run_import

    r = run_import(scenario_file, output, mode=mode, overwrite=overwrite)
    rows, cols = r.shape
    click.echo(f"imported     {scenario_file} (SLEUTH, mode {r.mode}) as {r.name!r}")
    click.echo(f"grid         {rows} × {cols} cells (rows × cols), no CRS, 1-unit cells")
    click.echo(f"urban        {_years(r.urban_years)}")
    click.echo(f"roads        {_years(r.road_years)}")
    click.echo(f"land use     {_years(r.landuse_years)}")
    click.echo(f"years        {r.start_year} → {r.end_year}, {r.members} members, seed {r.seed}")
    if r.coefficients is not None:
        coeffs = ", ".join(f"{k} {v}" for k, v in r.coefficients.items())
        click.echo(f"coefficients {coeffs}")
    if r.calibration is not None:
        ranges = ", ".join(
            f"{k} {v['start']}–{v['stop']} step {v['step']}" for k, v in r.calibration.items()
        )
        click.echo(f"calibration  {ranges}")
    click.echo(f"wrote        {r.out_dir}/ ({len(r.files)} files)")
    for f in r.files:
        click.echo(f"             {f}")
    for q in r.quirks:
        click.echo(f"note: {q}")
