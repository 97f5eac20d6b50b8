"""``landsim``: parse options, call one tool, turn user errors into one line.

Only click is imported at module level, so ``landsim --help`` stays fast; numba,
rasterio and xarray load inside the commands that need them.
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from landsim import __version__


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("landsim")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def _user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a LandsimError as one line and exit with its code; bugs keep tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from landsim.errors import LandsimError

        ctx = click.get_current_context()
        try:
            return func(*args, **kwargs)
        except LandsimError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; no output was left half-written", err=True)
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="landsim")
@click.option("--debug", is_flag=True, help="Show tracebacks for user errors too.")
@click.option("-v", "--verbose", is_flag=True, help="More log output.")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """landsim: land-use scenario simulation under territorial planning lines.

    Start with `landsim run scenarios/wuhan-2035.toml`.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    _configure_logging(verbose)


def _fmt_km2(v: float | None) -> str:
    return "" if v is None else f" ({v:,.1f} km²)"


class _Progress:
    """A progress bar on a terminal, one log line per year otherwise."""

    def __init__(self, total: int, label: str) -> None:
        self.tty = sys.stderr.isatty()
        self.total = total
        self.label = label
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def __call__(self, record: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=f"{self.label} {record.year}")
        else:
            logging.getLogger("landsim").info(
                "year %d: %s new urban cells", record.year, f"{record.new_urban:,}"
            )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder [default: runs/<scenario name>].",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=None,
    help="Random seed; overrides [simulation.seed].",
)
@click.option("--overwrite", is_flag=True, help="Replace results already in the output folder.")
@_user_errors
def run(scenario: Path, output: Path | None, seed: int | None, overwrite: bool) -> None:
    """Run SCENARIO (a TOML file) and write maps, NetCDF, summary and compliance."""
    from landsim import api
    from landsim.scenario import load

    # A terminated run unwinds like Ctrl-C, so the staging folder is removed.
    signal.signal(signal.SIGTERM, _terminate)
    t0 = time.perf_counter()
    sim = load(scenario).simulation  # for the progress bar's length; cheap
    with _Progress(sim.end_year - sim.start_year, scenario.stem) as progress:
        result = api.run_scenario(
            scenario, output, seed=seed, overwrite=overwrite, on_year=progress
        )
    s = result.summary
    elapsed = time.perf_counter() - t0
    click.echo(f"scenario  {s['scenario']} ({s['start_year']} → {s['end_year']}, seed {s['seed']})")
    click.echo(
        f"urban     {s['urban_start_cells']:,} → {s['urban_end_cells']:,} cells"
        + (
            f" ({s['urban_start_km2']:,.1f} → {s['urban_end_km2']:,.1f} km²)"
            if s["urban_start_km2"] is not None
            else ""
        )
    )
    taken = ", ".join(f"{k} {v:,}" for k, v in s["taken_from"].items() if v)
    click.echo(f"taken     {taken or 'nothing'} (cells)")
    click.echo(
        f"cropland  {s['cropland_lost_cells']:,} cells lost{_fmt_km2(s['cropland_lost_km2'])}"
    )
    if s["violations"]:
        viol = s["violations"]
        if any(viol.values()):
            listed = ", ".join(f"{k} {v:,}" for k, v in viol.items() if v)
            click.echo(f"rules     VIOLATED (cells): {listed}")
        else:
            click.echo(f"rules     kept: {', '.join(viol)} (0 cells break them)")
    if s["encroachment"]:
        listed = ", ".join(f"{k} {v:,}" for k, v in s["encroachment"].items())
        click.echo(f"reported  growth against lines not enforced (cells): {listed}")
    click.echo(f"time      {elapsed:.1f} s")
    click.echo(f"outputs   {result.out_dir}")
    for f in result.files:
        click.echo(f"          {f}")


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@_user_errors
def validate(scenario: Path) -> None:
    """Check SCENARIO and its inputs (keys, files, grid alignment, demand) without running."""
    from landsim import api

    report = api.validate_scenario(scenario)
    click.echo(f"{scenario}: valid")
    for k, v in report.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a} ({b})" for a, b in v.items()) or "none"
        elif isinstance(v, int):
            v = f"{v:,}"
        click.echo(f"  {k.replace('_', ' ')}: {v}")


if __name__ == "__main__":  # pragma: no cover
    main()
