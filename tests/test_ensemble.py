"""Ensembles and batches on a real dask.distributed cluster on loopback.

Most tests share one local cluster of two worker processes and reach it through
``scheduler=`` (the ``--scheduler`` path); the CLI tests let landsim start its own.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from _landsim_kit import URBAN, TinyGrid, invoke, landsim_exe, partial_dirs, sha256_tree

from landsim import ensemble
from landsim.errors import ClusterError, LandsimError, OutputError, ScenarioError
from landsim.scenario import load

MEMBERS = 5


@pytest.fixture(scope="module")
def cluster() -> Any:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as local,
        Client(local) as client,
    ):
        yield client


def _run(scenario: Path | list[Path], out: Path, client: Any, **kw: Any) -> list[Any]:
    paths = scenario if isinstance(scenario, list) else [scenario]
    kw.setdefault("members", MEMBERS)
    return ensemble.run_batch(paths, out, scheduler=client.scheduler.address, **kw)


def _member_maps(out: Path, year: int) -> np.ndarray:
    files = sorted((out / "members").glob("member_*.nc"))
    return np.stack([ensemble.read_member_map(f, year) for f in files])


def test_ensemble_writes_members_probabilities_and_spread(
    tiny_grid: TinyGrid, tmp_path: Path, cluster: Any
) -> None:
    scenario = tiny_grid.scenario()
    out = tmp_path / "ens"
    [result] = _run(scenario, out, cluster)
    names = {p.name for p in out.iterdir()}
    assert {
        "ensemble.json",
        "indicators.csv",
        "members.csv",
        "provenance.json",
        "probability_2025.tif",
        "probability_2030.tif",
        "members",
    } <= names
    assert len(list((out / "members").glob("member_*.nc"))) == MEMBERS
    assert partial_dirs(tmp_path) == []
    assert result.summary["members"] == MEMBERS

    # Probability maps are the members' class shares, and in [0, 1].
    s = load(scenario)
    for year in (2025, 2030):
        maps = _member_maps(out, year)
        with rasterio.open(out / f"probability_{year}.tif") as ds:
            probs = ds.read()
            assert ds.descriptions == tuple(c.name for c in s.classes)
            assert ds.crs.to_epsg() == 32649
        valid = tiny_grid.landuse != 255
        for k, c in enumerate(s.classes):
            expected = (maps == c.code).mean(axis=0)
            np.testing.assert_allclose(probs[k][valid], expected[valid], rtol=0, atol=1e-7)
            assert np.isnan(probs[k][~valid]).all()
        assert np.nanmin(probs) >= 0 and np.nanmax(probs) <= 1
        np.testing.assert_allclose(probs.sum(axis=0)[valid], 1.0, atol=1e-6)

    # Members differ (their own random streams) but all meet the demand exactly.
    final = _member_maps(out, 2030)
    urban = (final == URBAN).sum(axis=(1, 2))
    assert (urban == tiny_grid.urban_cells + 60).all()
    assert len({m.tobytes() for m in final}) > 1

    # indicators.csv: the spread over members; members.csv: each member's values.
    import csv

    rows = list(csv.DictReader((out / "indicators.csv").open()))
    end = {r["indicator"]: r for r in rows if r["year"] == "2030"}
    assert end["new_urban"]["members"] == str(MEMBERS)
    assert float(end["new_urban"]["std"]) == 0.0
    per_member = list(csv.DictReader((out / "members.csv").open()))
    lost = [float(r["cropland_lost"]) for r in per_member if r["year"] == "2030"]
    cell_km2 = 30 * 30 / 1e6
    assert float(end["cropland_lost"]["mean"]) == pytest.approx(np.mean(lost) * cell_km2)
    assert float(end["cropland_lost"]["std"]) == pytest.approx(np.std(lost) * cell_km2, abs=1e-6)


def test_member_zero_is_the_single_run(tiny_grid: TinyGrid, tmp_path: Path, cluster: Any) -> None:
    from landsim import api

    scenario = tiny_grid.scenario()
    _run(scenario, tmp_path / "ens", cluster, members=2)
    api.run_scenario(scenario, tmp_path / "single")
    with rasterio.open(tmp_path / "single" / "landuse_2030.tif") as ds:
        single = ds.read(1)
    np.testing.assert_array_equal(_member_maps(tmp_path / "ens", 2030)[0], single)


def test_same_bytes_for_one_and_two_workers(tiny_grid: TinyGrid, tmp_path: Path) -> None:
    scenario = tiny_grid.scenario()
    for workers in (1, 2):
        ensemble.run_batch([scenario], tmp_path / f"w{workers}", members=4, workers=workers)
    assert sha256_tree(tmp_path / "w1") == sha256_tree(tmp_path / "w2")


def test_resume_runs_only_missing_members_and_gives_the_same_result(
    tiny_grid: TinyGrid, tmp_path: Path, cluster: Any
) -> None:
    scenario = tiny_grid.scenario()
    _run(scenario, tmp_path / "whole", cluster)

    # A run killed after two members: the partial folder holds them (and a torn temp).
    out = tmp_path / "killed"
    [item] = ensemble.plan([scenario], out, members=MEMBERS)
    ensemble._start_partial(item, resume=False)
    for m in (0, 3):
        ensemble.run_member(item.job, m)
    work = ensemble.partial_dir(out)
    (work / "members" / ".member_00001.nc.tmp").write_bytes(b"torn")
    assert not out.exists()

    progress: list[tuple[str, int, int]] = []
    _run(scenario, out, cluster, resume=True, on_progress=lambda *a: progress.append(a))
    # 3 missing members + 2 probability maps; members 0 and 3 were not run again.
    assert progress[-1][1:] == (5, 5)
    assert sha256_tree(out) == sha256_tree(tmp_path / "whole")
    assert not work.exists()

    # --resume on a finished run of the same scenario: nothing to do.
    progress.clear()
    _run(scenario, out, cluster, resume=True, on_progress=lambda *a: progress.append(a))
    assert progress == []


def test_resume_refuses_another_scenarios_folder(
    tiny_grid: TinyGrid, tmp_path: Path, cluster: Any
) -> None:
    a = tiny_grid.scenario()
    b = tiny_grid.scenario({"name": "other", "simulation": {"seed": 8}}, filename="b.toml")
    out = tmp_path / "ens"
    [item] = ensemble.plan([a], out, members=3)
    ensemble._start_partial(item, resume=False)
    ensemble.run_member(item.job, 0)
    with pytest.raises(OutputError, match="scenario 'synthetic-tiny', not 'other'"):
        ensemble.plan([b], out, members=3, resume=True)
    with pytest.raises(OutputError, match="seed 7, not 9"):
        ensemble.plan([a], out, members=3, resume=True, seed=9)
    # A finished folder of another scenario is refused too, saying whose it is.
    done = tmp_path / "done"
    _run(a, done, cluster, members=2)
    with pytest.raises(OutputError, match="scenario 'synthetic-tiny', not 'other'"):
        ensemble.plan([b], done, members=2, resume=True)


def test_members_must_be_positive(tiny_grid: TinyGrid, tmp_path: Path) -> None:
    with pytest.raises(LandsimError, match="--members 0: an ensemble needs at least 1"):
        ensemble.plan([tiny_grid.scenario()], tmp_path / "o", members=0)
    bad = tiny_grid.scenario({"simulation": {"members": 0}}, filename="bad.toml")
    with pytest.raises(ScenarioError, match=r"simulation\.members"):
        load(bad)


def test_unreachable_scheduler_is_one_clear_error_not_a_hang(
    tiny_grid: TinyGrid, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(ClusterError, match=rf"tcp://127.0.0.1:{port}: no dask scheduler"):
        ensemble.run_batch(
            [tiny_grid.scenario()],
            tmp_path / "o",
            members=2,
            scheduler=f"tcp://127.0.0.1:{port}",
            connect_timeout=2,
        )
    assert time.perf_counter() - t0 < 30
    assert partial_dirs(tmp_path) == []


def test_a_killed_worker_changes_nothing(tiny_grid: TinyGrid, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    scenario = tiny_grid.scenario()
    members = 24
    ensemble.run_batch([scenario], tmp_path / "clean", members=members, workers=1)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as local,
        Client(local) as client,
    ):
        pids = list(client.run(os.getpid).values())
        out = tmp_path / "killed"
        work = ensemble.partial_dir(out)
        errors: list[BaseException] = []

        def target() -> None:
            try:
                ensemble.run_batch(
                    [scenario], out, members=members, scheduler=local.scheduler_address
                )
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        deadline = time.monotonic() + 60
        while not list(work.glob("members/member_*.nc")) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pids[0], signal.SIGKILL)  # mid-run: its tasks must run again elsewhere
        thread.join(120)
        assert not thread.is_alive()
        assert not errors, errors
    assert sha256_tree(out) == sha256_tree(tmp_path / "clean")


def test_batch_runs_single_and_ensemble_scenarios(
    tiny_grid: TinyGrid, tmp_path: Path, cluster: Any
) -> None:
    from landsim import api

    a = tiny_grid.scenario({"name": "plain"}, filename="a.toml")
    b = tiny_grid.scenario({"name": "many", "simulation": {"members": 3}}, filename="b.toml")
    results = _run([a, b], tmp_path / "batch", cluster, members=None)
    assert [r.summary["scenario"] for r in results] == ["plain", "many"]
    assert (tmp_path / "batch" / "plain" / "landuse_2030.tif").is_file()
    assert (tmp_path / "batch" / "many" / "probability_2030.tif").is_file()
    # The batch's single run is the run `landsim run a.toml` writes.
    api.run_scenario(a, tmp_path / "alone")
    for name in ("landuse_2030.tif", "indicators.csv", "summary.csv", "compliance.json"):
        assert (tmp_path / "batch" / "plain" / name).read_bytes() == (
            tmp_path / "alone" / name
        ).read_bytes()
    # landsim.nc (NetCDF-4/HDF5) holds the same maps; its bytes may differ: HDF5 leaves
    # uninitialised memory in metadata padding, which differs between processes.
    import xarray as xr

    with (
        xr.open_dataset(tmp_path / "batch" / "plain" / "landsim.nc", engine="h5netcdf") as a,
        xr.open_dataset(tmp_path / "alone" / "landsim.nc", engine="h5netcdf") as b,
    ):
        xr.testing.assert_identical(a.load(), b.load())


def test_batch_refuses_two_scenarios_of_one_name(tiny_grid: TinyGrid, tmp_path: Path) -> None:
    a = tiny_grid.scenario(filename="a.toml")
    b = tiny_grid.scenario(filename="b.toml")
    with pytest.raises(LandsimError, match="are both named 'synthetic-tiny'"):
        ensemble.plan([a, b], tmp_path / "o")


def test_bad_input_in_a_member_is_one_error_and_leaves_nothing(
    tiny_grid: TinyGrid, tmp_path: Path, cluster: Any
) -> None:
    # A demand larger than the open land: every member fails alike, in the workers.
    scenario = tiny_grid.scenario(growth=100_000)
    out = tmp_path / "ens"
    with pytest.raises(LandsimError, match="cells missing"):
        _run(scenario, out, cluster)
    assert not out.exists()
    assert partial_dirs(tmp_path) == []


def test_cli_ensemble_batch_and_dry_run(tiny_grid: TinyGrid, tmp_path: Path, runner: Any) -> None:
    import subprocess

    a = tiny_grid.scenario({"name": "规划"}, filename="a.toml")
    b = tiny_grid.scenario({"name": "natural"}, filename="b.toml")
    dry = invoke(runner, "run", a, b, "--members", "3", "-o", tmp_path / "runs", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "规划: 2020 → 2030, 3 members, seed 7" in dry.output
    assert "would run 10 tasks on a local dask cluster" in dry.output
    assert not (tmp_path / "runs").exists()

    done = subprocess.run(
        [landsim_exe(), "run", str(a), str(b), "--members", "3", "-o", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "scenario  规划 (2020 → 2030, seed 7, 3 members)" in done.stdout
    assert "Traceback" not in done.stderr
    for name in ("规划", "natural"):
        assert (tmp_path / "runs" / name / "probability_2030.tif").is_file()

    zero = invoke(runner, "run", a, "--members", "0", "-o", tmp_path / "zero")
    assert zero.exit_code != 0
    assert "error: --members 0: an ensemble needs at least 1 member" in zero.output
