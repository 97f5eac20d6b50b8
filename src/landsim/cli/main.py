"""``landsim``: parse options, call one tool, turn user errors into one line.

Only click is imported at module level, so ``landsim --help`` stays fast; numba,
rasterio and xarray load inside the commands that need them.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from landsim import __version__
from landsim.cli._common import _configure_logging, _table, _terminate, _user_errors


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
    # A command imports numba, xarray, pandas and dask (~10^6 objects, none of them
    # garbage): with the default thresholds the cyclic collector walked them again and
    # again, ~0.3-0.6 s of CPU per run (perf, Hengyang 30 m). Collections stay on, rarer.
    gc.set_threshold(50_000, 50, 100)


def _fmt_km2(v: float | None) -> str:
    return "" if v is None else f" ({v:,.1f} km²)"


class _Bar:
    """A rich progress bar on a terminal (none otherwise); subclasses say what advances it."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
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
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


class _Progress(_Bar):
    """Progress over a run's years: a bar on a terminal, one log line per year otherwise."""

    def __init__(self, total: int, label: str) -> None:
        super().__init__()
        self.total = total
        self.label = label

    def __enter__(self) -> _Progress:
        super().__enter__()
        if self._bar is not None:
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def __call__(self, record: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=f"{self.label} {record.year}")
        else:
            logging.getLogger("landsim").info(
                "year %d: %s new urban cells", record.year, f"{record.new_urban:,}"
            )


def _run_sleuth(
    paths: list[Path],
    output: Path | None,
    seed: int | None,
    members: int | None,
    scheduler: str | None,
    resume: bool,
    dry_run: bool,
    overwrite: bool,
) -> bool:
    """Run a SLEUTH-kind scenario (``[model] kind = "sleuth"``); False if it is none."""
    from landsim.errors import LandsimError
    from landsim.scenario import scenario_kind

    kinds = [scenario_kind(p) for p in paths]
    if "sleuth" not in kinds:
        return False
    if len(paths) > 1:
        raise LandsimError(
            "SLEUTH-kind scenarios run one per command (their members and coefficient sets "
            "already run in parallel); run them one by one"
        )
    if scheduler is not None or resume:
        raise LandsimError(
            "--scheduler and --resume apply to urban-growth ensembles; a SLEUTH-kind "
            "scenario runs its members in parallel in this process"
        )
    from landsim.sleuth.run import describe_sleuth, run_sleuth

    if dry_run:
        for line in describe_sleuth(paths[0], output, seed=seed, members=members):
            click.echo(line)
        return True
    r = run_sleuth(paths[0], output, seed=seed, members=members, overwrite=overwrite)
    click.echo(
        f"scenario  {r['scenario']} (SLEUTH, {r['mode']} mode, {r['members']} members, "
        f"seed {r['seed']})"
    )
    for note in r["notes"]:
        click.echo(f"note      {note}")
    if r["mode"] == "calibrate":
        best = r["best_start"]
        click.echo(f"sets      {r['sets']:,} coefficient sets scored")
        click.echo("best      " + ", ".join(f"{k} {v:g}" for k, v in best.items()))
        click.echo("scores    " + ", ".join(f"{k} {v:.5f}" for k, v in r["best_scores"].items()))
        click.echo(
            "forecast  "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["best_fit"].items())
            + " (coefficients at the end of the best run: SLEUTH's best fit for prediction)"
        )
    else:
        pops = ", ".join(f"{y}: {v:,.1f}" for y, v in list(r["pop_mean"].items())[-4:])
        click.echo(f"pop       member mean of urban cells, {pops}")
        if "scores" in r:
            sc = r["scores"]
            click.echo("scores    " + ", ".join(f"{k} {v:.5f}" for k, v in sc.items()))
    click.echo(f"time      {r['seconds']:.2f} s")
    click.echo(f"outputs   {r['out_dir']}")
    for f in r["files"]:
        click.echo(f"          {f}")
    return True


class _TaskProgress(_Bar):
    """Progress over a batch's tasks: a bar on a terminal, a log line per task otherwise."""

    def __call__(self, name: str, done: int, total: int) -> None:
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task(name, total=total)
            self._bar.update(self._task, completed=done, description=f"tasks ({name})")
        else:
            logging.getLogger("landsim").info("%s: %d of %d tasks done", name, done, total)


def _echo_batch(results: list[Any]) -> None:
    """One block per scenario: headline indicators at the end year, with the spread."""
    for r in results:
        s = r.summary
        n = s.get("members", 1)
        click.echo(
            f"scenario  {s['scenario']} ({s['start_year']} → {s['end_year']}, seed "
            f"{s['seed']}, {n} member{'s' if n != 1 else ''})"
        )
        if "end_year_indicators" in s:
            ind = s["end_year_indicators"]
            for key, label in (
                ("urban", "urban"),
                ("cropland_lost", "cropland lost"),
                ("growth_outside_boundary", "outside boundary"),
                ("line_encroachment", "encroachment"),
            ):
                if key in ind:
                    v = ind[key]
                    click.echo(
                        f"  {label:<17} {float(v['mean']):,.2f} ± {float(v['std']):,.2f} "
                        f"{v['unit']} (p05–p95 {float(v['p05']):,.2f}–{float(v['p95']):,.2f})"
                    )
        else:
            click.echo(
                f"  urban             {s['urban_start_cells']:,} → {s['urban_end_cells']:,} cells"
            )
            click.echo(f"  cropland lost     {s['cropland_lost_cells']:,} cells")
        click.echo(f"  outputs           {r.out_dir}")


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder [default: runs/<scenario name>]; with several scenarios, the "
    "parent of one folder per scenario.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=None,
    help="Random seed; overrides [simulation.seed].",
)
@click.option(
    "--members",
    type=int,
    default=None,
    help="Ensemble members; overrides [simulation.members]. More than 1 runs on dask.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Send the work to this dask scheduler (tcp://host:8786) instead of a local cluster.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 1024),
    default=None,
    help="Worker processes of the local cluster [default: one per core].",
)
@click.option("--resume", is_flag=True, help="Continue a killed ensemble; finished members stay.")
@click.option("--dry-run", is_flag=True, help="Print what would run, run nothing.")
@click.option("--overwrite", is_flag=True, help="Replace results already in the output folder.")
@_user_errors
def run(
    scenarios: tuple[Path, ...],
    output: Path | None,
    seed: int | None,
    members: int | None,
    scheduler: str | None,
    workers: int | None,
    resume: bool,
    dry_run: bool,
    overwrite: bool,
) -> None:
    """Run SCENARIOS (TOML files) and write maps, NetCDF, summary and compliance.

    One scenario of one member runs here; ensembles (--members N) and several scenarios
    run as tasks on dask.distributed (a local cluster, or --scheduler).
    """
    from landsim import api, ensemble

    # A terminated run unwinds like Ctrl-C, so the staging folder is removed.
    signal.signal(signal.SIGTERM, _terminate)
    t0 = time.perf_counter()
    paths = list(scenarios)
    if _run_sleuth(paths, output, seed, members, scheduler, resume, dry_run, overwrite):
        return
    items = ensemble.plan(
        paths, output, members=members, seed=seed, overwrite=overwrite, resume=resume
    )
    if dry_run:
        for line in ensemble.describe(items, scheduler, workers):
            click.echo(line)
        return
    if len(items) > 1 or items[0].ensemble or scheduler is not None:
        with _TaskProgress() as progress:
            results = ensemble.run_batch(
                paths,
                output,
                members=members,
                seed=seed,
                overwrite=overwrite,
                resume=resume,
                scheduler=scheduler,
                workers=workers,
                on_progress=progress,
            )
        _echo_batch(results)
        click.echo(f"time      {time.perf_counter() - t0:.1f} s")
        return
    scenario = paths[0]
    sim = items[0].scenario.simulation
    with _Progress(sim.end_year - sim.start_year, scenario.stem) as progress:
        result = api.run_scenario(
            scenario, output, seed=items[0].job.seed, overwrite=overwrite, on_year=progress
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
    if s["spilled_cells"]:
        click.echo(f"spill     {s['spilled_cells']:,} cells grew outside a boundary (spill_over)")
    _echo_compliance(s)
    click.echo(f"time      {elapsed:.1f} s")
    click.echo(f"outputs   {result.out_dir}")
    for f in result.files:
        click.echo(f"          {f}")


def _n(v: Any, spec: str = ",") -> str:
    return "–" if v is None else format(v, spec)


def _echo_compliance(s: dict[str, Any]) -> None:
    """The compliance table of the run summary: growth against each line."""
    if s["lines"]:
        click.echo("compliance (new urban cells over the whole run):")
        rows = [
            [
                r["line"],
                r["rule"],
                _n(r["km2"], ",.1f"),
                _n(r["new_urban_inside"]),
                _n(r["new_urban_outside"]),
                _n(r["inside_pct"], ".1f"),
                _n(r["violations"]),
            ]
            for r in s["lines"]
        ]
        header = ["line", "rule", "km²", "inside", "outside", "inside %", "violations"]
        for line in _table(header, rows):
            click.echo(f"  {line}")
    for c in s["conflicts"]:
        if not c["three_lines"]:
            continue  # planned overlaps (the four lines inside the boundary, water)
        click.echo(
            f"conflict  三线冲突 {' ∩ '.join(c['layers'])}: {c['cells']:,} cells"
            f"{_fmt_km2(c['km2'])}; {c['resolution']}"
        )
    plan = s["plan"]
    ret = plan.get("cropland_retention")
    if ret and ret["final_cropland_km2"] is not None:
        state = "met" if ret["met"] else "NOT MET"
        click.echo(
            f"farmland  {ret['final_cropland_km2']:,.1f} km² cropland at the end vs retention "
            f"target {ret['target_km2']:,.1f} km²: {state}"
        )
    for cname, lim in plan.get("class_area_limits", {}).items():
        if lim["final_km2"] is None:
            continue
        bounds = " ".join(
            f"{k} {lim[k + '_km2']:,.1f}" for k in ("min", "max") if lim[k + "_km2"] is not None
        )
        state = "met" if lim["met"] else "NOT MET"
        click.echo(f"control   {cname} {lim['final_km2']:,.1f} km² ({bounds}): {state}")
    if s["districts"]:
        click.echo("districts (cells):")
        rows = [
            [
                d["name"],
                _n(d["urban_start_cells"]),
                _n(d["urban_end_cells"]),
                _n(d["cropland_lost_cells"]),
            ]
            for d in s["districts"]
        ]
        for line in _table(["district", "urban start", "urban end", "cropland lost"], rows):
            click.echo(f"  {line}")


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--point", nargs=2, type=float, default=None, metavar="X Y", help="A site.")
@click.option(
    "--polygon", type=click.Path(path_type=Path), default=None, help="A site as a vector file."
)
@click.option("--crs", default=None, help="CRS of --point [default: the grid's], e.g. EPSG:4326.")
@click.option(
    "--run",
    "run_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="A finished run of SCENARIO [default: runs/<scenario name> if it exists].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@_user_errors
def check(
    scenario: Path,
    point: tuple[float, float] | None,
    polygon: Path | None,
    crs: str | None,
    run_dir: Path | None,
    as_json: bool,
) -> None:
    """Which planning lines and zones a site falls in, what SCENARIO allows there year by
    year, and in which simulated year it becomes urban (一张图: "is this site inside the
    red line?")."""
    from landsim import api

    r = api.check_site(scenario, point=point, polygon=polygon, crs=crs, run_dir=run_dir)
    if as_json:
        import json

        click.echo(json.dumps(r, indent=2, ensure_ascii=False))
        return
    click.echo(f"site      {r['site']}: {r['cells']:,} cells{_fmt_km2(r['km2'])}")
    click.echo("land use  " + ", ".join(f"{k} {v:,}" for k, v in r["landuse_at_start"].items()))
    if "districts" in r:
        click.echo("district  " + ", ".join(f"{k} {v:,}" for k, v in r["districts"].items()))
    for name, line in r["lines"].items():
        if not line["cells_inside"]:
            click.echo(f"line      {name}: outside")
            continue
        zones = ", ".join(f"{z} {c:,}" for z, c in line["zones"].items())
        rule = line["rule"] if line["enforced"] else f"{line['rule']}, reported only"
        click.echo(
            f"line      {name}: {line['cells_inside']:,} of {r['cells']:,} cells inside "
            f"({rule})" + (f"; zones: {zones}" if zones else "")
        )
    for p in r["periods"]:
        allowed = p["may_become_urban_cells"]
        text = f"{allowed:,} of {r['cells']:,} cells may become urban"
        if p["only_by_spill_over_cells"]:
            text += f", {p['only_by_spill_over_cells']:,} more only by spill-over"
        if p["mean_factor"] is not None and p["mean_factor"] != 1:
            text += f" (potential × {p['mean_factor']:.2f} on average)"
        click.echo(f"allowed   {p['first_year']}–{p['last_year']}: {text}")
    if "becomes_urban" in r:
        became = ", ".join(f"{y}: {c:,}" for y, c in r["becomes_urban"].items()) or "none"
        click.echo(
            f"simulated urban at start {r['urban_at_start_cells']:,}; becomes urban "
            f"(year: cells) {became}; never {r['never_urban_cells']:,} ({r['run']})"
        )
    else:
        click.echo("simulated no run found; run the scenario to see when the site becomes urban")


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


from landsim.cli.assess_cmd import assess  # noqa: E402
from landsim.cli.calibrate_cmd import calibrate  # noqa: E402
from landsim.cli.compare_cmd import compare  # noqa: E402  (a command in its own module)
from landsim.cli.fit_cmd import fit_suitability  # noqa: E402
from landsim.cli.sleuth_cmd import import_sleuth  # noqa: E402
from landsim.cli.tiled_cmd import run_tiled  # noqa: E402

main.add_command(compare)
main.add_command(import_sleuth)
main.add_command(calibrate)
main.add_command(assess)
main.add_command(fit_suitability)
main.add_command(run_tiled)

if __name__ == "__main__":  # pragma: no cover
    main()
