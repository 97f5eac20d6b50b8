"""Injected faults, each a test: kills at any point, a killed ensemble resumed, a full disk,
and inputs that no entry point may modify.

What a killed run may leave (the contract these tests hold landsim to):

- ``OUT`` either does not exist or holds a complete result; no file anywhere under it is
  truncated (every GeoTIFF reads fully, every JSON parses, every CSV has its header and
  whole rows, ``landsim.nc`` opens with xarray).
- A run killed with SIGKILL while writing leaves its hidden staging folder beside ``OUT``,
  named ``.OUT.partial-<16 hex digits>``: nothing can remove it once the
  process is gone. It holds half-written files, is never read, never counts as results,
  and does not disturb the next run; delete it by hand. SIGTERM unwinds like Ctrl-C and
  leaves none.
- An ensemble keeps its finished members in ``.OUT.partial-ensemble/``; ``--resume`` runs
  only the missing ones and gives the bytes of an uninterrupted run.
- With ``--overwrite`` over earlier results, the finished
  files move in one rename each, so a kill between two renames leaves whole files of
  both runs side by side, with the ``.landsim-replacing`` marker: compare, assess and
  check refuse the folder, and rerunning with ``--overwrite`` repairs it.
- A full disk is one line, ``error: disk full while writing <file>; …``, exit 1, and
  nothing left: no output folder, no staging folder.

``landsim.nc`` (NetCDF-4/HDF5) written in another process may differ in HDF5's metadata
padding (docs/design.md), so it is compared by its decoded data; every other file by
sha256.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _landsim_kit import (
    CELL,
    LAYER_FILES,
    NODATA,
    ORIGIN,
    TinyGrid,
    invoke,
    landsim_exe,
    partial_dirs,
    sha256_tree,
    synthetic_arrays,
    write_raster,
)

REPO = Path(__file__).resolve().parents[2]
ERROR_LINE = re.compile(r"^error: ")

# --------------------------------------------------------------------------- helpers


def _big_grid(folder: Path, scale: int = 12, years: int = 10) -> Path:
    """The tiny region with every cell blown up ``scale`` × ``scale`` (480 × 600 cells),
    a map every year for ``years`` years: a single run takes about 3 s here, most of it
    imports, then ~1 s of writing (20 files)."""
    arrays = {
        k: np.kron(a, np.ones((scale, scale), dtype=a.dtype)) for k, a in synthetic_arrays().items()
    }
    folder.mkdir(parents=True, exist_ok=True)
    grid = TinyGrid(folder, arrays)
    for key, name in LAYER_FILES.items():
        nodata = -9999.0 if key == "slope" else NODATA
        grid.paths[key] = write_raster(folder / name, arrays[key], nodata=nodata)
    u0, end = grid.urban_cells, 2020 + years
    return grid.scenario(
        {
            "name": "faults-big",
            "simulation": {"end_year": end, "output_years": list(range(2021, end + 1))},
            "demand": {"urban": {2020: u0, end: u0 + 60 * scale * scale}},
        }
    )


def _env(tmp: Path) -> dict[str, str]:
    """The environment of a subprocess: dask's scratch folders inside the test's folder
    (a killed cluster cannot remove them)."""
    return {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(tmp / "dask-tmp")}


def _nc_digest(path: Path) -> str:
    """landsim.nc by its decoded content: maps, coordinates, attributes."""
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
        h = hashlib.sha256()
        for name in sorted(ds.variables):
            h.update(name.encode())
            h.update(np.ascontiguousarray(ds[name].values).tobytes())
            h.update(repr(sorted((k, str(v)) for k, v in ds[name].attrs.items())).encode())
        h.update(repr(sorted((k, str(v)) for k, v in ds.attrs.items())).encode())
        return h.hexdigest()


def _digest(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder``; landsim.nc by its decoded data."""
    out = sha256_tree(folder)
    for name in list(out):
        if Path(name).name == "landsim.nc":
            out[name] = "decoded:" + _nc_digest(folder / name)
    return out


CSV_HEADERS = {
    "summary.csv": "year,class_code,class_name,role,cells,km2,change_since_start_cells,"
    "converted_to_urban_cells",
    "indicators.csv": "year,indicator,unit,members,mean,std,min,p05,median,p95,max",
}


def _assert_complete(out: Path) -> None:
    """Every file under ``out`` is whole: it opens and reads to its end."""
    import rasterio
    import xarray as xr

    from landsim import ensemble

    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert files, f"{out} exists but holds no file"
    for f in files:
        rel = f.relative_to(out)
        if str(rel) == ".landsim-replacing":
            continue  # the marker of a folder a killed run left half replaced
        assert not any(part.startswith(".") for part in rel.parts), f"hidden file {rel} in {out}"
        if f.suffix == ".tif":
            with rasterio.open(f) as ds:
                data = ds.read()  # every band, every block: a truncated file fails here
                assert data.shape == (ds.count, ds.height, ds.width)
        elif f.suffix == ".json":
            json.loads(f.read_text(encoding="utf-8"))
        elif f.suffix == ".csv":
            text = f.read_text(encoding="utf-8")
            assert text.endswith("\n"), f"{rel}: the last row is cut"
            rows = list(csv.reader(text.splitlines()))
            if f.name in CSV_HEADERS:
                assert ",".join(rows[0]) == CSV_HEADERS[f.name], f"{rel}: header {rows[0]}"
            assert len(rows) > 1, f"{rel}: a header and no rows"
            assert all(len(r) == len(rows[0]) for r in rows), f"{rel}: a short row"
        elif f.name == "landsim.nc":
            with xr.open_dataset(f, engine="h5netcdf") as ds:
                ds.load()
        elif f.parent.name == "members" and f.suffix == ".nc":
            for year in _member_years(f):
                ensemble.read_member_map(f, year)
        else:
            raise AssertionError(f"unexpected file {rel} in {out}")


def _member_years(path: Path) -> list[int]:
    from scipy.io import netcdf_file

    with netcdf_file(path, "r", mmap=False) as nc:
        return [int(y) for y in nc.variables["time"][:]]


def _stderr_lines(text: str) -> list[str]:
    """stderr without the progress lines (``INFO: year …``)."""
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("INFO: ")]


def _live_in_group(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that still run (zombies excluded)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                live.append(int(stat.parent.name))
    return live


def _wait_for(cond: Callable[[], bool], timeout: float, step: float = 0.001) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


# --------------------------------------------------------------------------- 1. kills


def _timeline(cmd: list[str], out: Path, cwd: Path) -> dict[str, float]:
    """Run ``cmd`` to the end and note when its staging folder and ``out`` appear."""
    parent = out.parent
    marks: dict[str, float] = {}
    with (cwd / "ref.stderr").open("w") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, env=_env(cwd))
        while p.poll() is None:
            now = time.monotonic() - t0
            if "stage" not in marks and any(
                n.startswith(f".{out.name}.partial-") for n in os.listdir(parent)
            ):
                marks["stage"] = now
            if "out" not in marks and out.exists():
                marks["out"] = now
            time.sleep(0.001)
        marks["end"] = time.monotonic() - t0
    assert p.returncode == 0, (cwd / "ref.stderr").read_text()
    assert {"stage", "out"} <= set(marks), marks
    return marks


def test_sigkill_at_any_point_leaves_no_torn_file_and_a_rerun_gives_the_same_bytes(
    tmp_path: Path, runner: Any
) -> None:
    scenario = _big_grid(tmp_path / "inputs")
    inputs = sha256_tree(tmp_path / "inputs")
    runs = tmp_path / "runs"
    runs.mkdir()
    exe = landsim_exe()
    ref = runs / "ref"
    t = _timeline([exe, "run", str(scenario), "-o", str(ref)], ref, tmp_path)
    _assert_complete(ref)
    expected = _digest(ref)
    assert len(expected) == 16  # 10 maps, urban_year, landsim.nc, 2 CSV, 2 JSON
    shutil.rmtree(ref)
    assert partial_dirs(runs) == [], "an uninterrupted run left its staging folder"

    # 8 delays over the measured run: 2 while it imports and simulates, 5 while it writes
    # its staging folder, 1 after the results moved into place.
    stage, done, end = t["stage"], t["out"], t["end"]
    delays = [0.4 * stage, 0.9 * stage]
    delays += [stage + f * (done - stage) for f in (0.02, 0.2, 0.45, 0.7, 0.95)]
    delays += [done + 0.5 * (end - done)]

    landed = []
    for i, delay in enumerate(delays):
        out = runs / f"k{i}"
        p = subprocess.Popen(
            [exe, "run", str(scenario), "-o", str(out)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(tmp_path),
        )
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(30)
        staging = [n for n in partial_dirs(runs) if n.startswith(f".k{i}.")]
        # OUT does not exist, or it holds the complete result.
        if out.exists():
            _assert_complete(out)
            assert _digest(out) == expected, f"kill {i} after {delay:.2f} s: another result"
        # A staging folder may be left, only as .OUT.partial-*, and never visible.
        assert all(re.fullmatch(rf"\.k{i}\.partial-\w+", n) for n in staging), staging
        landed.append(
            f"{delay:.2f} s: "
            + ("published" if out.exists() else "staging left" if staging else "nothing")
            + (f" (exit {p.returncode})" if p.returncode != -signal.SIGKILL else "")
        )
        # The rerun succeeds beside whatever the kill left, with the same bytes.
        r = invoke(runner, "run", scenario, "-o", out, "--overwrite")
        assert r.exit_code == 0, r.output
        assert _digest(out) == expected, f"rerun after kill {i} differs"
        assert [n for n in partial_dirs(runs) if n.startswith(f".k{i}.")] == staging
    names = {n for n in os.listdir(runs) if not n.startswith(".")}
    assert names == {f"k{i}" for i in range(len(delays))}
    assert sha256_tree(tmp_path / "inputs") == inputs
    print(f"\nrun timeline (s): {t}\nkills: " + "; ".join(landed))


@pytest.mark.parametrize("when", ["writing maps", "writing landsim.nc"])
def test_sigterm_unwinds_like_ctrl_c_and_leaves_no_staging_folder(
    tmp_path: Path, when: str
) -> None:
    scenario = _big_grid(tmp_path / "inputs")
    runs = tmp_path / "runs"
    runs.mkdir()
    out = runs / "out"

    def staging() -> list[Path]:
        return list(runs.glob(".out.partial-*"))

    def ready() -> bool:
        if when == "writing maps":
            return bool(staging())
        # the last map is in: the run is importing xarray or writing the NetCDF file
        return any((s / "landuse_2030.tif").exists() for s in staging())

    with (tmp_path / "stderr").open("w") as err:
        p = subprocess.Popen(
            [landsim_exe(), "run", str(scenario), "-o", str(out)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=_env(tmp_path),
        )
        assert _wait_for(ready, 60), "the run never reached the point to stop it"
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    stderr = (tmp_path / "stderr").read_text()
    assert p.returncode == 130, stderr
    assert _stderr_lines(stderr) == ["interrupted; no output was left half-written"], stderr
    assert not out.exists()
    assert partial_dirs(runs) == []


# --------------------------------------------------------------------------- crash in publish


class _Killed(BaseException):
    """The process died here: no handler catches it (a BaseException, not an Exception)."""


class _OsDyingAtRename:
    """``os`` for landsim.io.write, dying before its ``k``-th ``os.replace``."""

    def __init__(self, k: int) -> None:
        self.k, self.n = k, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def replace(self, src: Any, dst: Any) -> None:
        if self.n == self.k:
            raise _Killed
        self.n += 1
        os.replace(src, dst)


def test_a_crash_between_the_renames_of_publish_leaves_only_whole_files(
    tiny_grid: TinyGrid, tmp_path: Path, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic kill points where a timed kill rarely lands: before each rename that
    moves a finished file into an output folder that holds an earlier run."""
    from landsim.io import write

    scenario = tiny_grid.scenario()
    for name, seed in (("old", 8), ("new", 7)):
        r = invoke(runner, "run", scenario, "-o", tmp_path / name, "--seed", seed)
        assert r.exit_code == 0, r.output
    old, new = _digest(tmp_path / "old"), _digest(tmp_path / "new")
    assert set(old) == set(new)
    assert sum(old[k] != new[k] for k in old) >= 4  # seeds 7 and 8: other maps
    real_publish = write.publish
    mixed = []
    for k in range(len(new) + 1):  # k = len(new): no crash

        def dying_publish(staging: Path, out: Path, k: int = k) -> None:
            monkeypatch.setattr(write, "os", _OsDyingAtRename(k))
            try:
                real_publish(staging, out)
            finally:
                monkeypatch.setattr(write, "os", os)

        monkeypatch.setattr(write, "publish", dying_publish)
        # A fresh folder: one rename of the whole staging folder, before or after.
        fresh = tmp_path / f"fresh{k}"
        # An occupied one: the previous results, replaced file by file.
        out = tmp_path / f"over{k}"
        shutil.copytree(tmp_path / "old", out)
        cases = [(out, ("--overwrite",))] + ([(fresh, ())] if k < 2 else [])
        for target, extra in cases:
            try:
                r = invoke(runner, "run", scenario, "-o", target, "--seed", 7, *extra)
                assert r.exit_code == 0, r.output
            except _Killed:
                pass
        if fresh.exists():
            assert _digest(fresh) == new
        _assert_complete(out)
        now = _digest(out)
        marked = now.pop(write.REPLACING, None) is not None
        assert all(now[f] in (old[f], new[f]) for f in now) and set(now) == set(new)
        if now not in (old, new):
            mixed.append(k)
            # A mixed folder carries the marker, and every reader refuses it.
            assert marked
            for args in (
                ["compare", out, tmp_path / "new", "-o", tmp_path / f"cmp{k}"],
                ["check", scenario, "--point", *_site(tiny_grid), "--run", out],
            ):
                r = invoke(runner, *args)
                assert r.exit_code != 0 and "mixes two runs' files" in r.output, r.output
        elif k == len(new):  # no crash: the marker is gone
            assert not marked
    assert mixed, "no kill point fell between two renames"
    assert partial_dirs(tmp_path) == []
    monkeypatch.setattr(write, "publish", real_publish)
    for k in mixed:  # a plain rerun repairs a mixed folder, marker included
        r = invoke(runner, "run", scenario, "-o", tmp_path / f"over{k}", "--overwrite")
        assert r.exit_code == 0, r.output
        assert _digest(tmp_path / f"over{k}") == new
        assert not (tmp_path / f"over{k}" / write.REPLACING).exists()


def _site(tiny_grid: TinyGrid) -> tuple[float, float]:
    from _landsim_kit import cell_centre

    return cell_centre(20, 32)


# --------------------------------------------------------------------------- 2. ensemble


def _tasks_lines(stderr: str) -> list[tuple[int, int]]:
    return [
        (int(m[1]), int(m[2]))
        for m in re.finditer(r"^INFO: [^:]+: (\d+) of (\d+) tasks done$", stderr, re.M)
    ]


def _straight_through(scenario: Path, out: Path, members: int) -> None:
    """The uninterrupted ensemble: its tasks one after the other in this process, without
    a cluster (saves a cluster start; test_ensemble.py shows the bytes do not depend on
    the cluster or the number of workers)."""
    import numba

    from landsim import ensemble

    [item] = ensemble.plan([scenario], out, members=members)
    ensemble._start_partial(item, resume=False)
    threads = numba.get_num_threads()
    try:
        for m in range(members):
            item.done[m] = ensemble.run_member(item.job, m, threads)["indicators"]
        for year in item.scenario.simulation.map_years:
            ensemble.aggregate_year(item.job, year, threads)
        ensemble._finish(item)
    finally:
        ensemble._PREPARED.clear()


def test_a_killed_ensemble_resumes_to_the_bytes_of_an_uninterrupted_run(tmp_path: Path) -> None:
    from landsim import ensemble

    scenario = _big_grid(tmp_path / "inputs")
    inputs = sha256_tree(tmp_path / "inputs")
    members, years = 6, 10
    runs = tmp_path / "runs"
    _straight_through(scenario, runs / "whole", members)

    out = runs / "ens"
    partial = ensemble.partial_dir(out)
    cmd = [landsim_exe(), "run", str(scenario), "--members", str(members), "-o", str(out)]
    cmd += ["--workers", "2"]
    with (tmp_path / "killed.stderr").open("w") as err:
        p = subprocess.Popen(
            cmd,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=_env(tmp_path),
            start_new_session=True,  # client, scheduler and workers: one process group
        )

        def two_members() -> bool:
            return len(list(partial.glob("members/member_*.nc"))) >= 2

        # Generous: on a loaded 2-core machine the cluster start and the first members
        # took over two minutes once.
        reached = _wait_for(two_members, 300)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(30)
    assert reached, (tmp_path / "killed.stderr").read_text()
    assert _wait_for(lambda: not _live_in_group(p.pid), 10, 0.05), _live_in_group(p.pid)

    # What the kill left: no output folder; whole member files (and maybe torn temps).
    assert not out.exists()
    kept = sorted(partial.glob("members/member_*.nc"))
    torn = sorted(partial.glob("members/.*.tmp"))
    assert 2 <= len(kept) < members, [f.name for f in kept]
    whole = sha256_tree(runs / "whole")
    for f in kept:
        assert hashlib.sha256(f.read_bytes()).hexdigest() == whole[f"members/{f.name}"]
    stamps = {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in kept}

    # Resumed on one worker: fewer processes to start; members do not depend on where
    # they run.
    r = subprocess.run(
        [*cmd[:-2], "--workers", "1", "--resume"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    # Only the missing members ran (then one probability map per output year).
    tasks = _tasks_lines(r.stderr)
    total = members - len(kept) + years
    assert tasks == [(n, total) for n in range(1, total + 1)], r.stderr
    assert sha256_tree(out) == whole
    for name, stamp in stamps.items():
        f = out / "members" / name
        assert (f.stat().st_ino, f.stat().st_mtime_ns) == stamp, f"{name} was written again"
    assert partial_dirs(runs) == []
    assert sha256_tree(tmp_path / "inputs") == inputs
    print(f"\nkilled with {len(kept)} of {members} members done, {len(torn)} torn temp files")


# --------------------------------------------------------------------------- 3. full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs at ``tmp_path / "disk"``, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the full-disk path is covered below")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); covered below")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _fill(disk: Path, free: int) -> None:
    """Leave ``free`` bytes free on ``disk``."""
    st = os.statvfs(disk)
    with (disk / "filler").open("wb") as f:
        f.write(b"\0" * (st.f_bavail * st.f_frsize - free))


@pytest.mark.parametrize(
    ("free_kib", "first_failure"),
    [(0, "landuse_2025.tif"), (20, "landsim.nc")],
    ids=["at-the-first-geotiff", "at-the-netcdf"],
)
def test_a_full_disk_is_one_error_line_and_leaves_nothing(
    tiny_grid: TinyGrid, small_disk: Path, free_kib: int, first_failure: str
) -> None:
    """The tiny run's files in the order written, with what they take on tmpfs: 2 maps
    (4 KiB each), landsim.nc (16 KiB), summary.csv (4 KiB), urban_year.tif, …; the
    monkeypatched test below reaches every other kind of file.

    Before the fix in io.write._gdal_atomic, a GeoTIFF that hit the full disk was left
    truncated or empty without an error, and libtiff printed lines on stderr."""
    scenario = tiny_grid.scenario()
    _fill(small_disk, free_kib * 1024)
    out = small_disk / "out"
    r = subprocess.run(
        [landsim_exe(), "run", str(scenario), "-o", str(out)],
        cwd=small_disk.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(small_disk.parent),
    )
    assert r.returncode == 1, r.stderr
    assert _stderr_lines(r.stderr) == [
        f"error: disk full while writing {out / first_failure}; free space or choose another -o"
    ], r.stderr
    assert sorted(os.listdir(small_disk)) == ["filler"]


def test_a_geotiff_on_a_full_disk_raises_and_leaves_no_file(
    tiny_grid: TinyGrid, small_disk: Path
) -> None:
    from landsim.errors import OutputError
    from landsim.io import write
    from landsim.io.raster import read_landuse

    landuse, grid = read_landuse(tiny_grid.paths["landuse"], [1, 2, 3, 4])
    _fill(small_disk, 0)
    target = small_disk / "map.tif"
    with pytest.raises(OutputError, match=rf"disk full while writing {re.escape(str(target))};"):
        write.write_geotiff(target, landuse, grid, {1: "#ffffff"}, "deflate", {})
    with pytest.raises(OutputError, match="disk full"):
        write.write_year_map(target, landuse.astype(np.uint16), grid, "none", {})
    counts = np.stack([landuse == c for c in (1, 2, 3, 4)]).astype(np.uint16)
    with pytest.raises(OutputError, match="disk full"):
        write.write_probability(
            target, counts, 1, landuse != NODATA, grid, ["a", "b", "c", "d"], "deflate", {}
        )
    assert sorted(os.listdir(small_disk)) == ["filler"]


def _enospc(what: str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), what)


class _OsFull:
    """``os`` for landsim.io.write whose ``replace`` finds the disk full."""

    def __init__(self, src_name: str) -> None:
        self.src_name = src_name

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def replace(self, src: Any, dst: Any) -> None:
        if Path(src).name.startswith(self.src_name):
            raise _enospc(str(dst))
        os.replace(src, dst)


def _full_on_rename_of(name: str) -> Callable[[pytest.MonkeyPatch], None]:
    def patch(mp: pytest.MonkeyPatch) -> None:
        from landsim.io import write

        mp.setattr(write, "os", _OsFull(name))

    return patch


def _full_on_bytes_of(name: str) -> Callable[[pytest.MonkeyPatch], None]:
    """Half the bytes of the temporary file land, then the disk is full."""

    def patch(mp: pytest.MonkeyPatch) -> None:
        real = Path.write_bytes

        def write_bytes(self: Path, data: Any) -> int:
            if self.name == f".{name}.tmp":
                real(self, bytes(memoryview(data))[: len(memoryview(data)) // 2])
                raise _enospc(str(self))
            return real(self, data)

        mp.setattr(Path, "write_bytes", write_bytes)

    return patch


def _full_on_text_of(name: str) -> Callable[[pytest.MonkeyPatch], None]:
    """A CSV or JSON temp file whose writes find the disk full after 100 bytes."""

    def patch(mp: pytest.MonkeyPatch) -> None:
        real_open = Path.open

        class Full:
            def __init__(self, f: Any) -> None:
                self.f, self.n = f, 0

            def write(self, s: str) -> int:
                self.n += len(s)
                if self.n > 100:
                    raise _enospc(self.f.name)
                return self.f.write(s)

            def __enter__(self) -> Full:
                return self

            def __exit__(self, *exc: object) -> None:
                self.f.close()

        def open_(self: Path, mode: str = "r", *args: Any, **kw: Any) -> Any:
            f = real_open(self, mode, *args, **kw)
            return Full(f) if self.name == f".{name}.tmp" and "w" in mode else f

        mp.setattr(Path, "open", open_)

    return patch


def _full_on_staging(mp: pytest.MonkeyPatch) -> None:
    make_dir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kw: Any) -> None:
        if ".partial-" in self.name:
            raise _enospc(str(self.parent))
        make_dir(self, *args, **kw)

    mp.setattr(Path, "mkdir", mkdir)


@pytest.mark.parametrize(
    ("breakage", "where"),
    [
        (_full_on_staging, ""),  # the staging folder: the error names OUT's parent
        (_full_on_rename_of(".landuse_2025.tif.tmp"), "landuse_2025.tif"),
        (_full_on_bytes_of("landuse_2030.tif"), "landuse_2030.tif"),
        (_full_on_bytes_of("landsim.nc"), "landsim.nc"),
        (_full_on_text_of("summary.csv"), "summary.csv"),
        (_full_on_bytes_of("urban_year.tif"), "urban_year.tif"),
        (_full_on_text_of("provenance.json"), "provenance.json"),
        (_full_on_rename_of(".out.partial-"), "."),  # publish: the staging folder → OUT
    ],
    ids=[
        "staging-folder",
        "rename-of-a-map",
        "bytes-of-a-map",
        "bytes-of-landsim.nc",
        "summary.csv",
        "urban_year.tif",
        "provenance.json",
        "publish",
    ],
)
def test_disk_full_without_root_through_the_cli(
    tiny_grid: TinyGrid,
    runner: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    breakage: Callable[[pytest.MonkeyPatch], None],
    where: str,
) -> None:
    """ENOSPC injected in-process at each kind of write; no root needed."""
    scenario = tiny_grid.scenario()
    inputs = sha256_tree(tiny_grid.folder)
    runs = tmp_path / "runs"
    out = runs / "out"
    breakage(monkeypatch)
    r = invoke(runner, "run", scenario, "-o", out)
    monkeypatch.undo()
    assert r.exit_code == 1, (r.output, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    named = runs if where == "" else out if where == "." else out / where
    assert _stderr_lines(r.stderr) == [
        f"error: disk full while writing {named}; free space or choose another -o"
    ], r.stderr
    assert not out.exists()
    assert partial_dirs(runs) == []
    assert sha256_tree(tiny_grid.folder) == inputs


# --------------------------------------------------------------------------- 4. inputs


def _sleuth_copy(folder: Path) -> Path:
    src = REPO / "rasters" / "sleuth_demo200"
    for sub in ("scenarios", "input"):
        shutil.copytree(src / sub, folder / sub)
    return folder / "scenarios" / "scenario.demo200_test"


def _api_run(scenario: Path, out: Path, seed: int) -> Path:
    from landsim import api

    api.run_scenario(scenario, out, seed=seed)
    return out


ENTRY_POINTS = [
    "run",
    "run-default-folder",
    "run-into-inputs-when-asked",
    "validate",
    "check",
    "calibrate",
    "assess",
    "compare",
    "import-sleuth",
    "run-members-3",
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_no_entry_point_modifies_its_inputs(
    tiny_grid: TinyGrid, tmp_path: Path, runner: Any, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    """Every input file (scenario TOML, rasters, run folders read, SLEUTH files) has the
    same sha256 afterwards, no file appears among the inputs, and outputs land where
    asked: ``-o``, or ``runs/<name>`` under the working folder, never beside the scenario."""
    scenario = tiny_grid.scenario()
    inputs = [tiny_grid.folder]
    work = tmp_path / "work"  # outputs the command is asked for
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = work / "out"
    expect_in_cwd: set[str] = set()
    if entry in ("check", "assess", "compare"):
        inputs.append(_api_run(scenario, tmp_path / "runs" / "a", 7))
    if entry in ("calibrate", "assess"):
        observed = tiny_grid.folder / "observed_2030.tif"
        shutil.copy(_api_run(scenario, tmp_path / "obs", 8) / "landuse_2030.tif", observed)
        shutil.rmtree(tmp_path / "obs")
    if entry == "compare":
        inputs.append(_api_run(scenario, tmp_path / "runs" / "b", 8))
    if entry == "run":
        args = ["run", scenario, "-o", out]
    elif entry == "run-default-folder":
        args = ["run", scenario]
        expect_in_cwd = {"runs"}
        out = cwd / "runs" / "synthetic-tiny"
    elif entry == "run-into-inputs-when-asked":
        out = tiny_grid.folder / "results"
        args = ["run", scenario, "-o", out]
    elif entry == "validate":
        args, out = ["validate", scenario], None
    elif entry == "check":
        x, y = ORIGIN[0] + 32.5 * CELL, ORIGIN[1] - 20.5 * CELL  # the urban core
        args, out = ["check", scenario, "--point", x, y, "--run", inputs[1], "--json"], None
    elif entry == "calibrate":
        args = ["calibrate", scenario, "--observed", observed, "-o", out]
        args += ["--trials", "2", "--seeds", "1", "--workers", "1"]
    elif entry == "assess":
        args = ["assess", "--initial", tiny_grid.paths["landuse"], "--observed", observed]
        args += ["--run", inputs[1], "--scenario", scenario, "-o", work / "assess.json"]
        out = work / "assess.json"
    elif entry == "compare":
        args = ["compare", inputs[1], inputs[2], "-o", out]
    elif entry == "import-sleuth":
        sleuth = _sleuth_copy(tmp_path / "sleuth")
        inputs.append(tmp_path / "sleuth")
        args = ["import-sleuth", sleuth, "-o", out]
    else:
        assert entry == "run-members-3"
        args = ["run", scenario, "--members", "3", "--workers", "1", "-o", out]

    def snapshot() -> dict[str, dict[str, str]]:
        return {str(folder): sha256_tree(folder) for folder in inputs}

    before = snapshot()
    top = sorted(os.listdir(tmp_path))
    monkeypatch.chdir(cwd)
    r = invoke(runner, *args)
    assert r.exit_code == 0, r.output
    after = snapshot()
    if entry == "run-into-inputs-when-asked":
        made = {
            k: sorted(set(after[k]) - set(before[k]))
            for k in after
            if set(after[k]) != set(before[k])
        }
        assert list(made) == [str(tiny_grid.folder)]
        assert all(n.startswith("results/") for n in made[str(tiny_grid.folder)])
        after = {
            k: {n: h for n, h in v.items() if not n.startswith("results/")}
            for k, v in after.items()
        }
    assert after == before, f"{entry} changed or added files among its inputs"
    if out is not None:
        assert out.exists(), f"{entry} wrote nothing to {out}"
    assert set(os.listdir(cwd)) == expect_in_cwd
    new_top = set(os.listdir(tmp_path)) - set(top)
    assert new_top <= {"work"}, f"{entry} wrote {new_top} beside the inputs"
    assert partial_dirs(tmp_path) == [] and partial_dirs(work) == []
