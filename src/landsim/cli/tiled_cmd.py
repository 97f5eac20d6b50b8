"""``landsim run-tiled``: a scenario on tiles, for grids larger than memory."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from landsim.cli._common import _terminate, _user_errors

if TYPE_CHECKING:
    from landsim.model import YearRecord


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM: silence dask's loggers, then unwind as ``_terminate`` does.

    A dask client closed in the middle of a gather logs every pending future ("Task
    exception was never retrieved", hundreds of tracebacks) over the one line the CLI
    prints; the run is abandoned, so they say nothing. Done here, before the cluster is
    torn down, and only in the CLI: a Python caller keeps its loggers.
    """
    import logging

    quiet = ("asyncio", "distributed", "tornado")
    for name in [*quiet, *logging.root.manager.loggerDict]:
        if name.split(".")[0] in quiet:
            logging.getLogger(name).disabled = True
    if signum == signal.SIGTERM:
        _terminate(signum, frame)
    raise KeyboardInterrupt


@click.command("run-tiled")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder [default: runs/<scenario name>].",
)
@click.option(
    "--chunk",
    type=click.IntRange(16, 1 << 16),
    default=4096,
    show_default=True,
    help="Tile side in cells; a tile of c² cells needs about 14·c² bytes while it runs.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 1024),
    default=None,
    help="Worker processes of the local cluster [default: one per core].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the tiles on this dask scheduler (tcp://host:8786) instead of a local cluster.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=None,
    help="Random seed; overrides [simulation.seed].",
)
@click.option("--overwrite", is_flag=True, help="Replace results already in the output folder.")
@_user_errors
def run_tiled(
    scenario: Path,
    output: Path | None,
    chunk: int,
    workers: int | None,
    scheduler: str | None,
    seed: int | None,
    overwrite: bool,
) -> None:
    """Run SCENARIO on tiles of --chunk cells on dask: land use kept as one byte per cell,
    rasters read and maps written window by window. Same maps as `landsim run`; no
    spill-over, rule periods, soft factors or NetCDF (docs/tiled.md)."""
    import logging

    from landsim.tiled import run_tiled as run

    log = logging.getLogger("landsim")

    def progress(record: YearRecord) -> None:
        log.info("year %d: %s new urban cells", record.year, f"{record.new_urban:,}")

    before = {sig: signal.signal(sig, _interrupted) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        r = run(
            scenario,
            output,
            chunk=chunk,
            workers=workers,
            scheduler=scheduler,
            seed=seed,
            overwrite=overwrite,
            on_year=progress,
        )
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    s = r.summary
    click.echo(f"scenario  {s['scenario']} ({s['start_year']} → {s['end_year']}, seed {s['seed']})")
    click.echo(f"grid      {s['grid']}, tiles {s['tiles']}, workers {r.report['workers']}")
    click.echo(f"urban     {s['urban_start_cells']:,} → {s['urban_end_cells']:,} cells")
    taken = ", ".join(f"{k} {v:,}" for k, v in s["taken_from"].items() if v)
    click.echo(f"taken     {taken or 'nothing'} (cells)")
    years = r.report["years"]
    if years:
        per = sorted(y["seconds"] for y in years)
        click.echo(f"per year  {per[len(per) // 2]:.1f} s median ({len(years)} years)")
    click.echo(f"time      {s['seconds']:.1f} s")
    click.echo(f"outputs   {r.out_dir}")
    for f in r.files:
        click.echo(f"          {f}")
