"""Ensembles and scenario batches, as tasks on dask.distributed.

One member of a scenario is one task: the worker prepares the scenario once (and keeps
it for the next member), simulates with the member's own random stream, writes the
member's maps to ``members/member_NNNNN.nc`` and returns only its indicators. When all
members are in, one task per output year counts the members' maps into per-class
probability maps. The client never holds a map, so its memory does not grow with the
number of members.

The result does not depend on the number of workers or threads: member ``m`` draws
from the counter-based stream keyed by (seed, m, year), so it is the same wherever it
runs; probability maps are integer counts; indicators are reduced in member order.

An ensemble works in a hidden folder beside its output folder
(``.<name>.partial-ensemble``). Each member file lands there atomically, so a run that
is killed keeps every finished member, and ``--resume`` runs only the missing ones.
The finished results move into the output folder at the end, file by file, as a single
run's do.

Workers read the scenario's inputs and write the members themselves: on a cluster of
several machines (``--scheduler``), scenario, inputs and output folder must be on a
file system every worker sees, under the same paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from landsim import __version__, api, indicators
from landsim.errors import ClusterError, InputError, LandsimError, OutputError
from landsim.scenario import Scenario, load

log = logging.getLogger(__name__)

MANIFEST = "ensemble.json"
MEMBERS = "members"
CONNECT_TIMEOUT_S = 10.0


def member_name(member: int) -> str:
    return f"member_{member:05d}.nc"


def partial_dir(out_dir: Path) -> Path:
    """Where an unfinished ensemble of ``out_dir`` keeps its members."""
    return out_dir.parent / f".{out_dir.name}.partial-ensemble"


def fingerprint(scenario: Scenario, seed: int) -> str:
    """What makes two runs the same run: resolved scenario, seed, inputs, landsim version.

    ``--resume`` continues a folder only when this matches; members computed for
    another scenario, seed or input file are never mixed into a result.
    """
    h = hashlib.sha256()
    h.update(__version__.encode())
    h.update(str(seed).encode())
    h.update(json.dumps(scenario.model_dump(mode="json"), sort_keys=True).encode())
    for key, path in sorted(api._input_files(scenario).items()):
        h.update(key.encode())
        # A missing or unreadable input is reported by the run itself, with its key.
        with contextlib.suppress(OSError):
            h.update(api._sha256(Path(path)).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Job:
    """One scenario of a batch, as its tasks need it: small and picklable."""

    path: str  # the scenario file, absolute
    name: str
    fingerprint: str
    seed: int
    members: int
    out_dir: str
    work_dir: str  # the partial folder (ensembles); out_dir for a single run
    overwrite: bool = False


@dataclass
class Planned:
    """A scenario of a batch, with the members already finished (``--resume``)."""

    scenario: Scenario
    job: Job
    done: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    complete: bool = False  # --resume found the finished results: nothing to do

    @property
    def ensemble(self) -> bool:
        return self.job.members > 1

    @property
    def missing(self) -> list[int]:
        return [m for m in range(self.job.members) if m not in self.done]


# ---------------------------------------------------------------- on the workers

# Scenarios prepared in this (worker) process, newest last: the next member of the same
# scenario reuses the inputs instead of reading them again. One is kept; a batch's
# tasks arrive scenario by scenario.
_PREPARED: dict[tuple[str, str, int], api.Prepared] = {}


class _Notes(logging.Handler):
    """Collects the warnings of preparing a scenario, to report them once in the client."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _prepared(job: Job) -> tuple[api.Prepared, list[str]]:
    key = (job.path, job.fingerprint, job.seed)
    if key in _PREPARED:
        return _PREPARED[key], []
    _PREPARED.clear()
    notes = _Notes()
    logger = logging.getLogger("landsim")
    logger.addHandler(notes)
    propagate = logger.propagate
    logger.propagate = False  # no unconfigured stderr output in worker processes
    try:
        scenario = load(job.path)
        if fingerprint(scenario, job.seed) != job.fingerprint:
            raise LandsimError(
                f"{job.path}: the scenario or one of its inputs changed while the batch "
                "ran; run it again"
            )
        p = api.prepare(scenario, job.seed)
    finally:
        logger.removeHandler(notes)
        logger.propagate = propagate
    _PREPARED[key] = p
    return p, notes.messages


def _set_threads(threads: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def run_member(job: Job, member: int, threads: int = 1) -> dict[str, Any]:
    """Task: simulate one member, write its maps, return its indicators."""
    from landsim.io import write

    _set_threads(threads)
    p, notes = _prepared(job)
    res = api.simulate_prepared(p, member)
    ind = indicators.member_indicators(p.scenario, p.constraints, res)
    s = p.scenario
    folder = Path(job.work_dir) / MEMBERS
    folder.mkdir(parents=True, exist_ok=True)
    write.write_member_netcdf(
        folder / member_name(member),
        res.maps,
        p.grid,
        [c.code for c in s.classes],
        [c.name for c in s.classes],
        {
            "title": f"landsim scenario {s.name}, ensemble member {member}",
            "landsim_version": __version__,
            "scenario": s.name,
            "seed": str(job.seed),
            "member": str(member),
            "fingerprint": job.fingerprint,
            "indicators": json.dumps(ind, separators=(",", ":")),
        },
    )
    return {"member": member, "indicators": ind, "notes": notes}


def aggregate_year(job: Job, year: int, threads: int = 1) -> str:
    """Task: count the members' maps of ``year`` into ``probability_<year>.tif``."""
    from landsim import kernels
    from landsim.io import write
    from landsim.io.raster import NODATA

    _set_threads(threads)
    p, _ = _prepared(job)
    s = p.scenario
    n_classes = len(s.classes)
    class_index = np.full(256, 255, dtype=np.uint8)
    for k, c in enumerate(s.classes):
        class_index[c.code] = k
    dtype = np.uint16 if job.members < 2**16 else np.uint32
    counts = np.zeros((n_classes, *p.grid.shape), dtype=dtype)
    folder = Path(job.work_dir) / MEMBERS
    for m in range(job.members):
        landuse = read_member_map(folder / member_name(m), year)
        kernels.count_classes(landuse, class_index, counts)
    name = f"probability_{year}.tif"
    write.write_probability(
        Path(job.work_dir) / name,
        counts,
        job.members,
        p.landuse != NODATA,
        p.grid,
        [c.name for c in s.classes],
        s.output.compress,
        {
            "landsim_version": __version__,
            "scenario": s.name,
            "seed": str(job.seed),
            "members": str(job.members),
            "year": str(year),
            "meaning": "band k: share of members in which the cell holds class k "
            "(band description: class name)",
        },
    )
    return name


def read_member_map(path: Path, year: int) -> np.ndarray:
    """One year's map of a member file (uint8 class codes)."""
    from scipy.io import netcdf_file

    with netcdf_file(path, "r", mmap=False) as f:
        t = int(np.flatnonzero(f.variables["time"][:] == year)[0])
        return np.ascontiguousarray(f.variables["landuse"][t]).view(np.uint8)


def _member_attrs(path: Path) -> dict[str, str]:
    from scipy.io import netcdf_file

    with netcdf_file(path, "r", mmap=False) as f:
        return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in f._attributes.items()}


def run_single(job: Job) -> dict[str, Any]:
    """Task: a batch's scenario of one member, written as ``landsim run`` writes it."""
    _set_threads(1)
    p, notes = _prepared(job)
    result = api.run_prepared(p, Path(job.out_dir), overwrite=job.overwrite)
    return {"summary": result.summary, "files": result.files, "notes": notes}


# ---------------------------------------------------------------- in the client


def _read_member(path: Path, job: Job) -> dict[str, list[int]] | None:
    """A finished member file's indicators, or None if it is not one of this job's."""
    try:
        attrs = _member_attrs(path)
        attrs = {k: attrs[k] for k in ("fingerprint", "seed", "member", "indicators")}
    except (OSError, ValueError, TypeError, KeyError):
        return None  # torn or foreign: the member runs again

    if attrs["fingerprint"] != job.fingerprint or attrs["seed"] != str(job.seed):
        return None
    if member_name(int(attrs["member"])) != path.name:
        return None
    return json.loads(attrs["indicators"])


def _manifest(job: Job) -> dict[str, Any]:
    return {
        "landsim_version": __version__,
        "scenario": job.name,
        "scenario_file": job.path,
        "fingerprint": job.fingerprint,
        "seed": job.seed,
        "members": job.members,
    }


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _why_not_same(manifest: dict[str, Any] | None, job: Job) -> str | None:
    """Why a folder's run is not this job's run, or None if it is."""
    if manifest is None:
        return "it holds no ensemble.json"
    if manifest.get("scenario") != job.name:
        return f"it holds a run of scenario {manifest.get('scenario')!r}, not {job.name!r}"
    if manifest.get("seed") != job.seed:
        return f"it was run with seed {manifest.get('seed')}, not {job.seed}"
    if manifest.get("fingerprint") != job.fingerprint:
        return (
            "the scenario file, one of its inputs or the landsim version changed since it was run"
        )
    return None


def plan(
    paths: list[Path],
    out_dir: Path | None = None,
    *,
    members: int | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> list[Planned]:
    """Load every scenario, decide output folders and what is left to run.

    With several scenarios, ``out_dir`` is the parent of one folder per scenario.
    Nothing is written; folders that would be overwritten are refused here, before
    any work starts.
    """
    from landsim.io.write import check_output_dir

    if members is not None and members < 1:
        raise LandsimError(
            f"--members {members}: an ensemble needs at least 1 member; "
            "use --members 1 for a single run"
        )
    scenarios = [load(p) for p in paths]
    for s in scenarios:
        _check_inputs_exist(s)
    names: dict[str, Path] = {}
    for path, s in zip(paths, scenarios, strict=True):
        if s.name in names:
            raise LandsimError(
                f"{path} and {names[s.name]} are both named {s.name!r}; a batch writes one "
                "folder per scenario name, so give each scenario its own name"
            )
        names[s.name] = path
    planned = []
    for path, s in zip(paths, scenarios, strict=True):
        if len(paths) == 1:
            out = out_dir if out_dir is not None else api.default_output_dir(s)
        else:
            out = (out_dir if out_dir is not None else Path.cwd() / "runs") / s.name
        out = out.absolute()
        n = members if members is not None else s.simulation.members
        run_seed = s.simulation.seed if seed is None else seed
        work = partial_dir(out) if n > 1 else out
        # Hashing the inputs costs a read of each; a plain single run needs no fingerprint
        # (run_batch adds one if it goes to a cluster after all).
        fp = fingerprint(s, run_seed) if n > 1 or len(paths) > 1 else ""
        job = Job(
            str(Path(path).resolve()),
            s.name,
            fp,
            run_seed,
            n,
            str(out),
            str(work),
            overwrite,
        )
        item = Planned(s, job)
        inputs = list(api._input_files(s).values())
        if n > 1 and resume:
            _plan_resume(item, out, work)
        if not item.complete:
            check_output_dir(
                out, overwrite or (resume and item.ensemble and _finished(out, job)), inputs
            )
        planned.append(item)
    return planned


def _check_inputs_exist(s: Scenario) -> None:
    """Refuse a missing input before any work (and for ``--dry-run``), in the words the
    raster reader uses when it meets one."""
    for key, path in api._input_files(s).items():
        path = Path(path)
        if not path.exists():
            raise InputError(f"[{key}] file not found: {path}")
        if path.is_dir():
            raise InputError(f"[{key}] {path} is a directory; give a raster file")


def _finished(out: Path, job: Job) -> bool:
    return _why_not_same(_read_manifest(out), job) is None


def _plan_resume(item: Planned, out: Path, work: Path) -> None:
    job = item.job
    if work.is_dir():
        why = _why_not_same(_read_manifest(work), job)
        if why is not None:
            raise OutputError(
                f"--resume: cannot continue the unfinished run in {work}: {why}; run "
                "without --resume to start over"
            )
        for m in range(job.members):
            f = work / MEMBERS / member_name(m)
            if f.is_file():
                ind = _read_member(f, job)
                if ind is not None:
                    item.done[m] = ind
        return
    manifest = _read_manifest(out)
    if manifest is None:
        return  # nothing started: --resume runs it all
    why = _why_not_same(manifest, job)
    if why is not None:
        raise OutputError(f"--resume: {out} cannot be continued: {why}")
    if manifest.get("members") == job.members:
        item.complete = True


def describe(items: list[Planned], scheduler: str | None, workers: int | None) -> list[str]:
    """What a run would do (``--dry-run``): scenarios, members, seeds, folders, cluster."""
    lines = []
    tasks = 0
    for it in items:
        s, job = it.scenario, it.job
        sim = s.simulation
        kind = f"{job.members} members" if it.ensemble else "single run"
        left = len(it.missing) if it.ensemble else 1
        if it.complete:
            state = "complete, nothing to do"
            left = 0
        elif it.ensemble:
            state = f"{left} members to run" + (f", {len(it.done)} finished" if it.done else "")
        else:
            state = "1 task"
        tasks += left + (len(sim.map_years) if it.ensemble and left else 0)
        lines.append(
            f"{s.name}: {sim.start_year} → {sim.end_year}, {kind}, seed {job.seed}, "
            f"maps {', '.join(map(str, sim.map_years))} → {job.out_dir} ({state})"
        )
    if _needs_cluster(items, scheduler):
        where = (
            f"the dask scheduler at {scheduler}"
            if scheduler
            else f"a local dask cluster of {_local_workers(workers, tasks)} worker processes"
        )
        lines.append(f"would run {tasks} tasks on {where}")
    else:
        lines.append("would run in this process (one scenario, one member)")
    return lines


def _needs_cluster(items: list[Planned], scheduler: str | None) -> bool:
    return scheduler is not None or len(items) > 1 or any(it.ensemble for it in items)


def _local_workers(workers: int | None, tasks: int) -> int:
    if workers is not None:
        return workers
    return max(1, min(os.cpu_count() or 1, tasks))


@contextlib.contextmanager
def cluster(
    scheduler: str | None,
    workers: int | None,
    tasks: int,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> Iterator[tuple[Any, int]]:
    """A dask client and the numba threads each task may use.

    Without ``scheduler``: a local cluster of processes, one thread each, as many as
    the machine has cores (or ``workers``); numba threads split the cores between them.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(
                f"--scheduler {scheduler}: no dask scheduler answered within "
                f"{connect_timeout:g} s ({type(exc).__name__}); check the address "
                "(e.g. tcp://10.0.0.5:8786) and that `dask scheduler` runs there"
            ) from None
        try:
            yield client, 1
        finally:
            client.close()
        return
    n = _local_workers(workers, tasks)
    if n < 1:
        raise LandsimError(f"--workers {workers}: need at least 1 worker")
    threads = max(1, (os.cpu_count() or 1) // n)
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # the HTTP server always starts; no fixed port
            silence_logs=logging.ERROR,
        ) as local,
        Client(local) as client,
    ):
        yield client, threads


ProgressFn = Callable[[str, int, int], None]


def run_batch(
    paths: list[Path],
    out_dir: Path | None = None,
    *,
    members: int | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    on_progress: ProgressFn | None = None,
) -> list[api.RunResult]:
    """Run scenarios (each one run or an ensemble) and write each one's results.

    One scenario of one member runs in this process, exactly as ``run_scenario``;
    anything more goes to dask: a local cluster, or ``scheduler``. ``on_progress``
    is called as ``(scenario name, tasks done, tasks in all)``.
    """
    items = plan(paths, out_dir, members=members, seed=seed, overwrite=overwrite, resume=resume)
    if not _needs_cluster(items, scheduler):
        it = items[0]
        result = api.run_scenario(
            it.job.path, Path(it.job.out_dir), seed=it.job.seed, overwrite=overwrite
        )
        return [result]
    for it in items:
        if not it.job.fingerprint:  # one single run sent to --scheduler
            it.job = replace(it.job, fingerprint=fingerprint(it.scenario, it.job.seed))
    todo = [it for it in items if not it.complete]
    n_tasks = sum(_task_count(it) for it in todo)
    results: dict[str, api.RunResult] = {}
    for it in items:
        if it.complete:
            log.info("%s: already complete in %s", it.job.name, it.job.out_dir)
            results[it.job.name] = _finished_result(it)
    if todo:
        for it in todo:
            if it.ensemble:
                _start_partial(it, resume)
        try:
            with cluster(scheduler, workers, n_tasks, connect_timeout) as (client, threads):
                results.update(_execute(client, threads, todo, n_tasks, on_progress))
        except KeyboardInterrupt:
            for it in todo:
                if it.ensemble and it.job.name not in results:
                    log.warning(
                        "%s: %d of %d members finished are kept in %s; run again with "
                        "--resume to finish",
                        it.job.name,
                        len(it.done),
                        it.job.members,
                        it.job.work_dir,
                    )
            raise
        except LandsimError:
            # Bad input fails every member alike: leave no folder of nothing behind.
            for it in todo:
                if it.ensemble and not it.done:
                    shutil.rmtree(it.job.work_dir, ignore_errors=True)
            raise
    return [results[it.job.name] for it in items]


def _task_count(it: Planned) -> int:
    if not it.ensemble:
        return 1
    return len(it.missing) + len(it.scenario.simulation.map_years)


def _start_partial(it: Planned, resume: bool) -> None:
    from landsim.io.write import write_json

    work = Path(it.job.work_dir)
    if work.exists() and not resume:
        log.info(
            "%s: an unfinished run in %s is discarded (--resume continues one)", it.job.name, work
        )
        shutil.rmtree(work)
    (work / MEMBERS).mkdir(parents=True, exist_ok=True)
    for stale in work.glob(f"{MEMBERS}/.*.tmp"):
        stale.unlink(missing_ok=True)  # a member killed while being written
    for extra in (work / MEMBERS).glob("member_*.nc"):
        if extra.name not in {member_name(m) for m in range(it.job.members)}:
            extra.unlink()
    write_json(work / MANIFEST, _manifest(it.job))


def _execute(
    client: Any,
    threads: int,
    todo: list[Planned],
    n_tasks: int,
    on_progress: ProgressFn | None,
) -> dict[str, api.RunResult]:
    from distributed import as_completed

    futures = as_completed()
    owner: dict[str, tuple[Planned, str]] = {}
    notes_seen: set[str] = set()
    pending_members: dict[str, int] = {}
    pending_years: dict[str, int] = {}
    results: dict[str, api.RunResult] = {}
    done = 0

    def submit(
        it: Planned, what: str, index: int, fn: Callable[..., Any], *args: Any, prio: int
    ) -> None:
        # Keys name the work, so a task rerun after a worker died is the same task.
        key = f"{what}-{index}-{it.job.name}-{it.job.fingerprint[:16]}"
        fut = client.submit(fn, *args, key=key, priority=prio, pure=False)
        owner[fut.key] = (it, what)
        futures.add(fut)

    for i, it in enumerate(todo):
        prio = len(todo) - i  # earlier scenarios first: workers keep one scenario prepared
        if it.ensemble:
            pending_members[it.job.name] = len(it.missing)
            for m in it.missing:
                submit(it, "member", m, run_member, it.job, m, threads, prio=prio)
            if not it.missing:
                _submit_years(it, submit, threads, prio, pending_years)
        else:
            submit(it, "single", 0, run_single, it.job, prio=prio)

    try:
        for fut in futures:
            it, what = owner.pop(fut.key)
            try:
                value = fut.result()
            except LandsimError:
                raise
            except Exception as exc:
                raise ClusterError(
                    f"{it.job.name}: a {what} task failed on the cluster: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            done += 1
            if on_progress is not None:
                on_progress(it.job.name, done, n_tasks)
            for note in value.get("notes", []) if isinstance(value, dict) else []:
                if note not in notes_seen:
                    notes_seen.add(note)
                    log.warning("%s", note)
            name = it.job.name
            if what == "single":
                results[name] = api.RunResult(
                    Path(it.job.out_dir), it.scenario, value["files"], value["summary"]
                )
            elif what == "member":
                it.done[value["member"]] = value["indicators"]
                pending_members[name] -= 1
                if pending_members[name] == 0:
                    _submit_years(it, submit, threads, len(todo), pending_years)
            else:
                pending_years[name] -= 1
                if pending_years[name] == 0:
                    results[name] = _finish(it)
    except BaseException:
        for fut in list(futures.futures):
            fut.cancel()
        raise
    return results


def _submit_years(
    it: Planned, submit: Callable[..., None], threads: int, prio: int, pending: dict[str, int]
) -> None:
    years = it.scenario.simulation.map_years
    pending[it.job.name] = len(years)
    for year in years:
        submit(it, "year", year, aggregate_year, it.job, year, threads, prio=prio)


def _finish(it: Planned) -> api.RunResult:
    """Write the ensemble's tables and move the finished results into the output folder."""
    from landsim.io import write
    from landsim.io.raster import read_grid

    s, job = it.scenario, it.job
    work, out = Path(job.work_dir), Path(job.out_dir)
    members = [it.done[m] for m in range(job.members)]
    years = s.simulation.years
    grid = read_grid(s.inputs.landuse)
    write.write_csv(
        work / "indicators.csv",
        indicators.HEADER,
        indicators.indicator_rows(years, members, grid),
    )
    names = list(members[0])
    write.write_csv(
        work / "members.csv",
        ["member", "year", *names],
        [
            [m, year, *(members[m][k][i] for k in names)]
            for m in range(job.members)
            for i, year in enumerate(years)
        ],
    )
    write.write_json(work / "provenance.json", api.provenance(s, grid, job.seed, job.members))
    write.write_json(work / MANIFEST, _manifest(job))
    write.publish(work, out)
    shutil.rmtree(work, ignore_errors=True)
    return _finished_result(it)


def _finished_result(it: Planned) -> api.RunResult:
    """A finished ensemble's summary, from its indicators.csv."""
    import csv

    out = Path(it.job.out_dir)
    sim = it.scenario.simulation
    with (out / "indicators.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if int(r["year"]) == sim.end_year]
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    summary: dict[str, Any] = {
        "scenario": it.job.name,
        "seed": it.job.seed,
        "members": it.job.members,
        "start_year": sim.start_year,
        "end_year": sim.end_year,
        "end_year_indicators": {
            r["indicator"]: {k: r[k] for k in ("unit", "mean", "std", "p05", "p95")} for r in rows
        },
    }
    return api.RunResult(out, it.scenario, files, summary)
