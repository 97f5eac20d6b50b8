"""Bad inputs and output folders through `landsim validate` and `landsim run`.

After every failing command: the exit code is the error's (2 scenario, 1 otherwise), stderr
is one `error: ...` line naming the layer's key path, there is no traceback, no output
folder was created, no hidden `.partial-` staging folder is left, and no input changed.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _landsim_kit import (
    NODATA,
    ORIGIN,
    SHAPE,
    URBAN,
    TinyGrid,
    grid_transform,
    invoke,
    partial_dirs,
    sha256_tree,
    write_raster,
)

COMMANDS = ["validate", "run"]


def _fail(runner: Any, grid: TinyGrid, command: str, scenario: Path, exit_code: int = 1) -> str:
    """Run a command that must fail cleanly; return its one-line message."""
    before = sha256_tree(grid.folder)
    parent = grid.folder.parent
    out = parent / "out"
    args = [command, scenario] + (["-o", out] if command == "run" else [])
    r = invoke(runner, *args)
    assert r.exit_code == exit_code, (r.exit_code, r.output, r.exception)
    # A user error ends in sys.exit; anything else would be a bug with a traceback.
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    assert lines[-1].startswith("error: "), r.stderr
    assert len([ln for ln in lines if ln.startswith("error: ")]) == 1
    assert not out.exists(), "a failing run created its output folder"
    assert partial_dirs(parent) == []
    assert sha256_tree(grid.folder) == before, "a failing command changed an input file"
    return lines[-1][len("error: ") :]


# --------------------------------------------------------------------------- missing


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("layer", "key"),
    [
        ("landuse", "inputs.landuse"),
        ("slope", "inputs.drivers.slope"),
        ("pbf", "constraints.permanent_basic_farmland.path"),
        ("water", "constraints.water.path"),
    ],
)
def test_missing_raster(
    tiny_grid: TinyGrid, runner: Any, command: str, layer: str, key: str
) -> None:
    scenario = tiny_grid.scenario()
    missing = tiny_grid.paths[layer]
    missing.unlink()
    msg = _fail(runner, tiny_grid, command, scenario)
    assert f"[{key}]" in msg
    assert "not found" in msg
    assert str(missing) in msg


def test_missing_raster_in_a_typo_path(tiny_grid: TinyGrid, runner: Any) -> None:
    scenario = tiny_grid.scenario({"constraints": {"ecological_red_line": {"path": "erl.tiff"}}})
    msg = _fail(runner, tiny_grid, "run", scenario)
    assert "[constraints.ecological_red_line.path]" in msg and "erl.tiff" in msg


def test_raster_path_is_a_directory(tiny_grid: TinyGrid, runner: Any) -> None:
    (tiny_grid.folder / "layers").mkdir()
    scenario = tiny_grid.scenario({"constraints": {"water": {"path": "layers"}}})
    msg = _fail(runner, tiny_grid, "validate", scenario)
    assert "[constraints.water.path]" in msg and "directory" in msg


# --------------------------------------------------------------------------- grid mismatch


def _rewrite(grid: TinyGrid, layer: str, **kw: Any) -> Path:
    data = kw.pop("data", grid.arrays[layer])
    nodata = -9999.0 if layer == "slope" else NODATA
    return write_raster(grid.paths[layer], data, nodata=nodata, **kw)


@pytest.mark.parametrize("command", COMMANDS)
def test_raster_in_another_crs(tiny_grid: TinyGrid, runner: Any, command: str) -> None:
    _rewrite(tiny_grid, "erl", crs="EPSG:32650")
    msg = _fail(runner, tiny_grid, command, tiny_grid.scenario())
    assert "[constraints.ecological_red_line.path]" in msg
    assert "EPSG:32650" in msg and "EPSG:32649" in msg
    assert "rio warp erl.tif" in msg and "--like synthetic_landuse.tif" in msg


@pytest.mark.parametrize("command", COMMANDS)
def test_raster_of_another_shape(tiny_grid: TinyGrid, runner: Any, command: str) -> None:
    _rewrite(tiny_grid, "udb", data=tiny_grid.arrays["udb"][:-1, :])
    msg = _fail(runner, tiny_grid, command, tiny_grid.scenario())
    assert "[constraints.urban_development_boundary.path]" in msg
    assert f"{SHAPE[0] - 1} rows × {SHAPE[1]} columns" in msg
    assert f"{SHAPE[0]} × {SHAPE[1]}" in msg
    assert "rio warp" in msg


@pytest.mark.parametrize("command", COMMANDS)
def test_raster_with_shifted_transform(tiny_grid: TinyGrid, runner: Any, command: str) -> None:
    """Half a cell east: same CRS and shape, but not on the grid."""
    _rewrite(tiny_grid, "water", transform=grid_transform((ORIGIN[0] + 15.0, ORIGIN[1])))
    msg = _fail(runner, tiny_grid, command, tiny_grid.scenario())
    assert "[constraints.water.path]" in msg
    assert "transform differs" in msg
    assert f"{ORIGIN[0] + 15.0:.3f}" in msg and f"{ORIGIN[0]:.3f}" in msg
    assert "rio warp water.tif" in msg


@pytest.mark.parametrize("command", COMMANDS)
def test_driver_with_other_cell_size(tiny_grid: TinyGrid, runner: Any, command: str) -> None:
    _rewrite(tiny_grid, "slope", transform=grid_transform(ORIGIN, cell=31.0))
    msg = _fail(runner, tiny_grid, command, tiny_grid.scenario())
    assert "[inputs.drivers.slope]" in msg and "transform differs" in msg
    assert "cell (31, -31)" in msg and "cell (30, -30)" in msg


# --------------------------------------------------------------------------- unreadable


@pytest.mark.parametrize("command", COMMANDS)
def test_file_that_is_not_a_raster(tiny_grid: TinyGrid, runner: Any, command: str) -> None:
    tiny_grid.paths["erl"].write_text("ecological red line: see the plan, page 12\n")
    msg = _fail(runner, tiny_grid, command, tiny_grid.scenario())
    assert "[constraints.ecological_red_line.path]" in msg
    assert "not a raster" in msg and "GeoTIFF" in msg


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("layer", ["landuse", "slope", "pbf"])
def test_truncated_geotiff_header(
    tiny_grid: TinyGrid, runner: Any, command: str, layer: str
) -> None:
    """The first 200 bytes of a real GeoTIFF: the header is there, the rest is not."""
    path = tiny_grid.paths[layer]
    path.write_bytes(path.read_bytes()[:200])
    msg = _fail(runner, tiny_grid, command, tiny_grid.scenario())
    key = {
        "landuse": "inputs.landuse",
        "slope": "inputs.drivers.slope",
        "pbf": "constraints.permanent_basic_farmland.path",
    }[layer]
    assert f"[{key}]" in msg
    assert "not a raster" in msg or "damaged or truncated" in msg


def test_geotiff_truncated_in_its_pixels(tiny_grid: TinyGrid, runner: Any) -> None:
    """The header survives, the pixel data does not: reading fails with a clear error."""
    path = tiny_grid.paths["landuse"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    msg = _fail(runner, tiny_grid, "run", tiny_grid.scenario())
    assert "[inputs.landuse]" in msg and "damaged or truncated" in msg


def test_truncated_geotiff_message_has_the_cause(tiny_grid: TinyGrid, runner: Any) -> None:
    path = tiny_grid.paths["landuse"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    msg = _fail(runner, tiny_grid, "validate", tiny_grid.scenario())
    assert "See previous exception" not in msg


# --------------------------------------------------------------------------- land-use values


@pytest.mark.parametrize("command", COMMANDS)
def test_landuse_all_nodata(tiny_grid: TinyGrid, runner: Any, command: str) -> None:
    _rewrite(tiny_grid, "landuse", data=np.full(SHAPE, NODATA, dtype=np.uint8))
    msg = _fail(runner, tiny_grid, command, tiny_grid.scenario())
    assert "[inputs.landuse]" in msg and "every cell is nodata" in msg


@pytest.mark.parametrize("command", COMMANDS)
def test_landuse_codes_missing_from_class_table(
    tiny_grid: TinyGrid, runner: Any, command: str
) -> None:
    lu = tiny_grid.landuse.copy()
    lu[10, 10] = 9
    lu[11, 11:14] = 7
    _rewrite(tiny_grid, "landuse", data=lu)
    msg = _fail(runner, tiny_grid, command, tiny_grid.scenario())
    assert "[inputs.landuse]" in msg
    assert "7 (3 cells)" in msg and "9 (1 cell" in msg
    assert "codes: 1, 2, 3, 4" in msg
    assert "[[classes]]" in msg


def test_landuse_without_nodata_value_lists_255(tiny_grid: TinyGrid, runner: Any) -> None:
    """Nodata cells of a raster that does not declare nodata are unknown codes."""
    write_raster(tiny_grid.paths["landuse"], tiny_grid.landuse, nodata=None)
    msg = _fail(runner, tiny_grid, "validate", tiny_grid.scenario())
    n = int((tiny_grid.landuse == NODATA).sum())
    assert f"255 ({n} cells)" in msg and "nodata" in msg


def test_landuse_with_fractional_values(tiny_grid: TinyGrid, runner: Any) -> None:
    lu = tiny_grid.landuse.astype(np.float32)
    lu[5, 5] = 1.5
    write_raster(tiny_grid.paths["landuse"], lu, nodata=255.0)
    msg = _fail(runner, tiny_grid, "run", tiny_grid.scenario())
    assert "[inputs.landuse]" in msg and "fractional" in msg and "1 cells" in msg


def test_development_boundary_with_nothing_inside(tiny_grid: TinyGrid, runner: Any) -> None:
    _rewrite(tiny_grid, "udb", data=np.zeros(SHAPE, dtype=np.uint8))
    msg = _fail(runner, tiny_grid, "run", tiny_grid.scenario())
    assert "[constraints.urban_development_boundary.path]" in msg
    assert "no cell is inside" in msg


def test_driver_all_nodata(tiny_grid: TinyGrid, runner: Any) -> None:
    _rewrite(tiny_grid, "slope", data=np.full(SHAPE, -9999.0, dtype=np.float32))
    msg = _fail(runner, tiny_grid, "run", tiny_grid.scenario())
    assert "[inputs.drivers.slope]" in msg and "no valid value" in msg


# --------------------------------------------------------------------------- demand


def _candidates(grid: TinyGrid) -> int:
    a = grid.arrays
    lu = a["landuse"]
    ok = (lu != NODATA) & (lu != URBAN) & (a["udb"] == 1)
    ok &= (a["pbf"] != 1) & (a["erl"] != 1) & (a["water"] != 1)
    return int(ok.sum())


@pytest.mark.parametrize("command", COMMANDS)
def test_demand_larger_than_the_land_left(tiny_grid: TinyGrid, runner: Any, command: str) -> None:
    growth = 1000
    available = _candidates(tiny_grid)
    assert available < growth
    scenario = tiny_grid.scenario(growth=growth)
    msg = _fail(runner, tiny_grid, command, scenario)
    assert str(scenario) in msg and "[demand]" in msg
    assert f"needs {growth:,} new urban cells" in msg
    assert f"only {available:,} cells may become urban" in msg
    assert f"{growth - available:,} cells missing" in msg
    for layer in ("permanent_basic_farmland", "urban_development_boundary", "ecological_red_line"):
        assert layer in msg
    assert "lower the demand or relax a layer" in msg


def test_demand_exactly_the_land_left_runs(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    """The boundary case: every candidate cell is needed, and all become urban."""
    available = _candidates(tiny_grid)
    scenario = tiny_grid.scenario(growth=available)
    r = invoke(runner, "run", scenario, "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    summary = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert f"2030,4,urban,urban,{tiny_grid.urban_cells + available}," in "\n".join(summary)


def test_demand_that_decreases(tiny_grid: TinyGrid, runner: Any) -> None:
    u0 = tiny_grid.urban_cells
    scenario = tiny_grid.scenario({"demand": {"urban": {2020: u0, 2025: u0 + 20, 2030: u0 + 10}}})
    msg = _fail(runner, tiny_grid, "run", scenario)
    assert "[demand.urban]" in msg and "must not decrease" in msg


def test_demand_not_covering_the_run(tiny_grid: TinyGrid, runner: Any) -> None:
    u0 = tiny_grid.urban_cells
    scenario = tiny_grid.scenario({"demand": {"urban": {2020: u0, 2028: u0 + 10}}})
    msg = _fail(runner, tiny_grid, "validate", scenario, exit_code=2)
    assert "[demand.urban]" in msg and "2020..2028" in msg and "extrapolate" in msg


# --------------------------------------------------------------------------- outputs


def _run_ok(runner: Any, scenario: Path, out: Path, *extra: Any) -> None:
    r = invoke(runner, "run", scenario, "-o", out, *extra)
    assert r.exit_code == 0, r.output


def test_existing_results_without_overwrite(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    scenario = tiny_grid.scenario()
    out = tmp_path / "results"
    _run_ok(runner, scenario, out)
    before = sha256_tree(out)
    inputs = sha256_tree(tiny_grid.folder)
    r = invoke(runner, "run", scenario, "-o", out, "--seed", "123")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: ") and "Traceback" not in r.output
    assert "already holds results" in r.stderr and "--overwrite" in r.stderr
    assert str(out) in r.stderr
    assert sha256_tree(out) == before
    assert sha256_tree(tiny_grid.folder) == inputs
    assert partial_dirs(tmp_path) == []


def test_existing_results_with_overwrite(tiny_grid: TinyGrid, runner: Any, tmp_path: Path) -> None:
    scenario = tiny_grid.scenario()
    out = tmp_path / "results"
    _run_ok(runner, scenario, out)
    # A stale result of an earlier scenario, and a file of the user's own.
    write_raster(out / "landuse_2099.tif", tiny_grid.landuse, nodata=NODATA)
    (out / "notes.txt").write_text("my notes\n")
    before = sha256_tree(out)
    _run_ok(runner, scenario, out, "--seed", "123", "--overwrite")
    after = sha256_tree(out)
    assert json.loads((out / "provenance.json").read_text())["seed"] == 123
    assert after["landuse_2030.tif"] != before["landuse_2030.tif"]
    assert after["provenance.json"] != before["provenance.json"]
    assert "landuse_2099.tif" not in after, "a stale result of another run was kept"
    assert after["notes.txt"] == before["notes.txt"], "a file that is not a result was touched"
    assert partial_dirs(tmp_path) == []


def test_empty_existing_output_folder_is_fine(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "README.txt").write_text("outputs go here\n")
    _run_ok(runner, tiny_grid.scenario(), out)
    assert (out / "landuse_2030.tif").is_file() and (out / "README.txt").is_file()


def test_output_path_is_a_file(tiny_grid: TinyGrid, runner: Any, tmp_path: Path) -> None:
    target = tmp_path / "results"
    target.write_text("not a folder\n")
    r = invoke(runner, "run", tiny_grid.scenario(), "-o", target)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "not a folder" in r.stderr and str(target) in r.stderr
    assert target.read_text() == "not a folder\n"
    assert partial_dirs(tmp_path) == []


def test_output_under_a_file_is_refused_before_the_run(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-o afile/out``: refused up front (the simulation never starts), naming the file."""
    from landsim import api

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the simulation started")

    monkeypatch.setattr(api, "simulate_prepared", never)
    blocker = tmp_path / "afile"
    blocker.write_text("a file\n")
    r = invoke(runner, "run", tiny_grid.scenario(), "-o", blocker / "sub" / "out")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{blocker} is a file, not a folder" in r.stderr
    assert blocker.read_text() == "a file\n"
    assert partial_dirs(tmp_path) == []


def test_output_in_new_nested_folders(tiny_grid: TinyGrid, runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "c"
    _run_ok(runner, tiny_grid.scenario(), out)
    assert (out / "summary.csv").is_file()
    assert partial_dirs(out.parent) == []


def _interrupt_netcdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the NetCDF file is encoded (the GeoTIFFs are, beside it, on a thread)."""
    from landsim.io import write

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(write, "encode_netcdf", interrupted)


def _interrupt_geotiff_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C met by the thread that encodes the GeoTIFFs: the run stops all the same."""
    from landsim.io import write

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(write, "encode_year_map", interrupted)


def _interrupt_just_after_the_staging_folder_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or SIGTERM) landing the moment the staging folder exists, before the code
    that made it has returned: the race a SIGTERM test once hit."""
    make_dir = Path.mkdir

    def mkdir_then_interrupted(self: Path, *args: Any, **kwargs: Any) -> None:
        make_dir(self, *args, **kwargs)
        if ".partial-" in self.name:
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "mkdir", mkdir_then_interrupted)


def _disk_full_on_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError(ENOSPC) inside the atomic write of a JSON file, as a full disk raises."""
    from landsim.io import write

    def full_disk(path: Path, text: str) -> None:
        with write._atomic(path) as tmp:
            tmp.write_text(text[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(write, "write_text", full_disk)


@pytest.mark.parametrize(
    ("breakage", "code", "text"),
    [
        (_interrupt_netcdf, 130, "interrupted"),
        (_interrupt_geotiff_encoder, 130, "interrupted"),
        (_interrupt_just_after_the_staging_folder_is_made, 130, "interrupted"),
        (_disk_full_on_json, 1, "disk full"),
    ],
    ids=["ctrl-c", "ctrl-c-in-the-encoder-thread", "ctrl-c-as-staging-begins", "disk-full"],
)
def test_failure_while_writing_leaves_nothing(
    tiny_grid: TinyGrid,
    runner: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    breakage: Callable[[pytest.MonkeyPatch], None],
    code: int,
    text: str,
) -> None:
    """A run stopped while writing leaves no output folder and no staging folder."""
    breakage(monkeypatch)
    out = tmp_path / "results"
    r = invoke(runner, "run", tiny_grid.scenario(), "-o", out)
    assert r.exit_code == code, r.output
    assert text in r.stderr and "Traceback" not in r.output
    assert ".partial-" not in r.stderr, "the message names the hidden staging folder"
    if code == 1:
        assert str(out / "compliance.json") in r.stderr
    assert not out.exists()
    assert partial_dirs(tmp_path) == []


def test_failed_overwrite_keeps_previous_results(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = tiny_grid.scenario()
    out = tmp_path / "results"
    _run_ok(runner, scenario, out)
    before = sha256_tree(out)
    _interrupt_netcdf(monkeypatch)
    r = invoke(runner, "run", scenario, "-o", out, "--seed", "9", "--overwrite")
    assert r.exit_code == 130
    assert sha256_tree(out) == before
    assert partial_dirs(tmp_path) == []


def test_overwrite_never_deletes_an_input(tiny_grid: TinyGrid, runner: Any, tmp_path: Path) -> None:
    """Chaining: run 2 starts from run 1's 2030 map and writes into the same folder."""
    out = tmp_path / "results"
    _run_ok(runner, tiny_grid.scenario(), out)
    chained_input = out / "landuse_2030.tif"
    before = chained_input.read_bytes()
    u1 = tiny_grid.urban_cells + 60
    chained = tiny_grid.scenario(
        {
            "name": "chained",
            "simulation": {"start_year": 2030, "end_year": 2035, "output_years": [2035]},
            "inputs": {"landuse": "../results/landuse_2030.tif"},
            "demand": {"urban": {2030: u1, 2035: u1 + 10}},
        },
        filename="chained.toml",
    )
    r = invoke(runner, "run", chained, "-o", out, "--overwrite")
    assert chained_input.is_file(), f"--overwrite deleted the run's input (exit {r.exit_code})"
    assert chained_input.read_bytes() == before


# --------------------------------------------------------------------------- inputs untouched


def test_successful_run_does_not_modify_inputs(
    tiny_grid: TinyGrid, runner: Any, tmp_path: Path
) -> None:
    scenario = tiny_grid.scenario()
    before = sha256_tree(tiny_grid.folder)
    _run_ok(runner, scenario, tmp_path / "out")
    r = invoke(runner, "validate", scenario)
    assert r.exit_code == 0
    assert sha256_tree(tiny_grid.folder) == before
    # No sidecar files (.aux.xml, .ovr) appear beside the inputs either.
    assert sorted(p.name for p in tiny_grid.folder.iterdir()) == sorted(before)
