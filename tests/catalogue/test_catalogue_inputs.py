"""The catalogue of bad input FILES, each refused by every command that reads one.

A case is one defect of one kind of input file (a GeoTIFF cut in half, a GeoPackage
with no features, a run folder whose provenance.json is cut short, ...) given to one
entry point that reads that kind, and checked by ``_refusal.refuses``: exit code not 0
(1: every case here is an input error, 2 for a SLEUTH scenario file), one ``error:`` line
naming the file or key and how to fix it, no traceback, nothing written, the inputs
unchanged. The scenario file itself is always valid (bad TOML is the other catalogue).

Input kinds and the entry points that read them:

=========================  =========================================================
rasters of a scenario      ``landsim validate``, ``run -o OUT``, ``check --point``,
(land use, driver,         ``calibrate --observed MAP -o OUT`` (the refusal comes while
planning layer, districts) the scenario is prepared, before any trial); ``check`` does
                           not read drivers (it computes no suitability)
the observed map           ``landsim calibrate --observed`` (calibrate.py's own reader)
maps to assess             ``landsim assess --initial/--observed/--simulated``
vector layers (planning    ``validate``, ``run``, ``check --point``; the site of
layer, districts, a site)  ``check --polygon``
run folders                ``landsim compare``
SLEUTH scenario and GIFs   ``landsim import-sleuth`` (only what tests/test_sleuth_import.py
                           does not cover: it has the missing key, the colour palette and
                           a GIF cut after 40 bytes)
=========================  =========================================================

There is no CSV input to a scenario: ``[districts]`` takes a raster or a vector file
(names in the TOML), ``[demand]`` takes TOML tables. The only CSV landsim reads is a run
folder's ``indicators.csv`` (``compare``), catalogued with the run folders.

Known bugs outside ``landsim.io`` and ``landsim.constraints`` are cases marked
``xfail(strict=True)``, with the reason: they flip to a failure once fixed, so the mark
goes. Behaviour that is right but not a refusal (NaN and infinity in a driver, mixed
nodata conventions, repaired polygons, Chinese file names) is pinned down by the
positive tests. ``test_catalogue_size`` comes last and states the catalogue's size.
"""

from __future__ import annotations

import copy
import json
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _landsim_kit import (
    CELL,
    CORE,
    CROPLAND,
    CRS,
    FOREST,
    NODATA,
    ORIGIN,
    SHAPE,
    URBAN,
    TinyGrid,
    cell_centre,
    grid_transform,
    make_tiny_grid,
    write_raster,
)
from _refusal import COUNT, refuses

ROOT = Path(__file__).resolve().parents[2]
SLEUTH_DEMO = ROOT / "rasters" / "sleuth_demo200"
SITE = cell_centre(*CORE)
DISTRICT_NAMES = {"1": "东区", "2": "西区"}

# Refusals this module checked, by entry point and by input kind (test_catalogue_size).
_REFUSED: dict[str, dict[str, int]] = {"entry": {}, "kind": {}}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path: `check` reads runs/<name> of the working folder by default."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LANDSIM_MEMORY_BUDGET_GB", raising=False)


def _refused(kind: str, entry: str, args: list[Any], *needles: str, **kw: Any) -> str:
    before = COUNT["refusals"]
    line = refuses(args, *needles, **kw)
    assert COUNT["refusals"] == before + 1
    for group, name in (("entry", entry), ("kind", kind)):
        _REFUSED[group][name] = _REFUSED[group].get(name, 0) + 1
    return line


# --------------------------------------------------------------------------- the world
# A tiny region (tests/_landsim_kit.py) with a district raster, an observed and a
# simulated map of 2030 and a valid scenario over them, all in tmp/inputs.


def _grown(tiny: TinyGrid, radius: float) -> np.ndarray:
    """The land use with the cropland near the urban core (not on farmland) urban."""
    lu = tiny.landuse.copy()
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    near = np.hypot(yy - CORE[0], xx - CORE[1]) <= radius
    lu[near & (lu == CROPLAND) & (tiny.arrays["pbf"] == 0)] = URBAN
    return lu


def _district_codes(tiny: TinyGrid) -> np.ndarray:
    d = np.full(SHAPE, 1, dtype=np.uint8)
    d[:, SHAPE[1] // 2 :] = 2
    d[tiny.landuse == NODATA] = NODATA
    return d


@dataclass
class World:
    tmp: Path
    tiny: TinyGrid
    scenario: Path
    observed: Path
    simulated: Path
    districts: Path
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> Path:
        return self.tiny.folder

    def rewrite_scenario(self, overrides: dict[str, Any]) -> Path:
        self.overrides = {**self.overrides, **overrides}
        self.scenario = self.tiny.scenario(self.overrides)
        return self.scenario

    def args(self, entry: str) -> tuple[list[Any], list[Path]]:
        """The command line of an entry point, and the outputs it must not leave."""
        out = self.tmp / "out"
        if entry == "validate":
            return ["validate", self.scenario], []
        if entry == "run":
            return ["run", self.scenario, "-o", out], [out]
        if entry == "check":
            return ["check", self.scenario, "--point", *SITE], []
        if entry == "calibrate":
            return [
                "calibrate", self.scenario, "--observed", self.observed, "-o", out,
                "--trials", 1, "--seeds", 1, "--workers", 1, "--suitability", "scenario",
            ], [out]  # fmt: skip
        if entry == "assess":
            report = self.tmp / "report.json"
            return [
                "assess", "--initial", self.tiny.paths["landuse"], "--observed", self.observed,
                "--simulated", self.simulated, "--scenario", self.scenario, "--seeds", 1,
                "-o", report,
            ], [report]  # fmt: skip
        raise AssertionError(entry)


def _world(tmp: Path) -> World:
    tiny = make_tiny_grid(tmp / "inputs")
    districts = write_raster(tiny.folder / "districts.tif", _district_codes(tiny), nodata=NODATA)
    observed = write_raster(tiny.folder / "observed_2030.tif", _grown(tiny, 7.5), nodata=NODATA)
    simulated = _grown(tiny, 6.5)
    simulated[30, 40:44] = URBAN  # false alarms
    simulated = write_raster(tiny.folder / "simulated_2030.tif", simulated, nodata=NODATA)
    overrides = {"districts": {"path": districts.name, "names": DISTRICT_NAMES}}
    scenario = tiny.scenario(overrides)
    return World(tmp, tiny, scenario, observed, simulated, districts, overrides)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory.mktemp("template"))


@pytest.fixture
def world(template: World, tmp_path: Path) -> World:
    """A fresh copy of the template's files (cases change them), in tmp_path/inputs."""
    folder = tmp_path / "inputs"
    shutil.copytree(template.inputs, folder)
    t = template
    arrays = {k: v.copy() for k, v in t.tiny.arrays.items()}
    tiny = TinyGrid(folder, arrays, {k: folder / p.name for k, p in t.tiny.paths.items()})
    return World(
        tmp_path,
        tiny,
        folder / t.scenario.name,
        folder / t.observed.name,
        folder / t.simulated.name,
        folder / t.districts.name,
        copy.deepcopy(t.overrides),
    )


# --------------------------------------------------------------------------- rasters


@dataclass(frozen=True)
class RasterKind:
    """One kind of raster input: where it is, what it holds, how messages name it."""

    label: str  # the key or option the message names
    entries: tuple[str, ...]
    path: Callable[[World], Path]
    array: Callable[[World], np.ndarray]
    nodata: float
    defines_grid: bool = False  # the grid is this raster's: a mismatch shows on another


SCENARIO_ENTRIES = ("validate", "run", "check", "calibrate")
RASTERS: dict[str, RasterKind] = {
    "landuse": RasterKind(
        "[inputs.landuse]",
        SCENARIO_ENTRIES,
        lambda w: w.tiny.paths["landuse"],
        lambda w: w.tiny.landuse,
        NODATA,
        defines_grid=True,
    ),
    "driver": RasterKind(
        "[inputs.drivers.slope]",
        ("validate", "run", "calibrate"),
        lambda w: w.tiny.paths["slope"],
        lambda w: w.tiny.arrays["slope"],
        -9999.0,
    ),
    "layer": RasterKind(
        "[constraints.permanent_basic_farmland.path]",
        SCENARIO_ENTRIES,
        lambda w: w.tiny.paths["pbf"],
        lambda w: w.tiny.arrays["pbf"],
        NODATA,
    ),
    "districts": RasterKind(
        "[districts.path]",
        SCENARIO_ENTRIES,
        lambda w: w.districts,
        lambda w: _district_codes(w.tiny),
        NODATA,
    ),
    "observed": RasterKind(
        "--observed",
        ("calibrate",),
        lambda w: w.observed,
        lambda w: _grown(w.tiny, 7.5),
        NODATA,
    ),
    "assess-initial": RasterKind(
        "[initial]",
        ("assess",),
        lambda w: w.tiny.paths["landuse"],
        lambda w: w.tiny.landuse,
        NODATA,
        defines_grid=True,
    ),
    "assess-observed": RasterKind(
        "[observed]",
        ("assess",),
        lambda w: w.observed,
        lambda w: _grown(w.tiny, 7.5),
        NODATA,
    ),
    "assess-simulated": RasterKind(
        "[simulated]",
        ("assess",),
        lambda w: w.simulated,
        lambda w: _grown(w.tiny, 6.5),
        NODATA,
    ),
}
LANDUSE_LIKE = ("landuse", "observed", "assess-initial", "assess-observed", "assess-simulated")
ALL_RASTERS = tuple(RASTERS)

Make = Callable[[Path, np.ndarray, float], None]


def _cut_in_half(path: Path, data: np.ndarray, nodata: float) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _scrambled_tile(path: Path, data: np.ndarray, nodata: float) -> None:
    """A deflate-compressed, tiled GeoTIFF whose first tile's bytes are garbled (a bad
    copy): in an uncompressed file such bytes would only be other values."""
    import rasterio

    profile = {"compress": "deflate", "tiled": True, "blockxsize": 16, "blockysize": 16}
    profile |= {"driver": "GTiff", "count": 1, "dtype": data.dtype.name, "nodata": nodata}
    profile |= {"height": data.shape[0], "width": data.shape[1]}
    with rasterio.open(path, "w", crs=CRS, transform=grid_transform(), **profile) as ds:
        ds.write(data, 1)
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(ds.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    raw = bytearray(path.read_bytes())
    for i in range(offset, offset + size):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))


def _text(path: Path, data: np.ndarray, nodata: float) -> None:
    path.write_text("土地利用现状: see the plan, page 12\n", encoding="utf-8")


FRACTIONAL = (slice(12, 13), slice(40, 47))  # 7 valid cells of every map


def _fractions(path: Path, data: np.ndarray, nodata: float) -> None:
    """Float values with fractions on 7 cells (a map resampled bilinearly)."""
    f = data.astype(np.float32)
    f[FRACTIONAL] += 0.25
    write_raster(path, f, nodata=float(nodata))


def _complex(path: Path, data: np.ndarray, nodata: float) -> None:
    write_raster(path, data.astype(np.complex64), nodata=nodata)


def _all_nodata(path: Path, data: np.ndarray, nodata: float) -> None:
    write_raster(path, np.full_like(data, nodata), nodata=nodata)


def _nodata_undeclared(path: Path, data: np.ndarray, nodata: float) -> None:
    """The 6 nodata cells keep 255, but the file no longer says it is nodata."""
    write_raster(path, data, nodata=None)


def _unknown_codes(path: Path, data: np.ndarray, nodata: float) -> None:
    d = data.copy()
    d[12, 40:45] = 9
    d[13, 40] = 7
    write_raster(path, d, nodata=nodata)


def _other_crs(path: Path, data: np.ndarray, nodata: float) -> None:
    write_raster(path, data, nodata=nodata, crs="EPSG:32650")


def _no_crs(path: Path, data: np.ndarray, nodata: float) -> None:
    write_raster(path, data, nodata=nodata, crs=None)


def _other_shape(path: Path, data: np.ndarray, nodata: float) -> None:
    write_raster(path, data[:-2, :], nodata=nodata)


def _shifted(path: Path, data: np.ndarray, nodata: float) -> None:
    """A third of a cell east: same CRS and shape, off the grid."""
    write_raster(path, data, nodata=nodata, transform=grid_transform((ORIGIN[0] + 10, ORIGIN[1])))


def _nan_no_growth(path: Path, data: np.ndarray, nodata: float) -> None:
    """``data`` (the start map) as float32 with NaN for nodata and no nodata value set:
    NaN counts as missing, so the map reads fine, but nothing grew."""
    write_raster(path, np.where(data == NODATA, np.nan, data).astype(np.float32), nodata=None)


GRID_DEFECTS = ("other-crs", "no-crs", "other-shape", "shifted-transform")


@dataclass(frozen=True)
class RasterDefect:
    make: Make
    kinds: tuple[str, ...]
    # Needles for every kind, then overrides per kind: the observed map of calibrate has
    # its own reader and words; a raster that defines the grid shows a mismatch on another.
    needles: tuple[str, ...]
    per_kind: dict[str, tuple[str, ...]] = field(default_factory=dict)
    xfail: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, entry) -> why
    # For calibrate's observed map: made from the start map (no growth), so a reader that
    # lets the defect through still stops (on "nothing grew") before starting a cluster;
    # a fixed reader names the defect first.
    from_start_map: bool = False


RASTER_DEFECTS: dict[str, RasterDefect] = {
    "cut-in-half": RasterDefect(
        _cut_in_half,
        ALL_RASTERS,
        ("damaged or truncated", "export it again"),
        {},
    ),
    "scrambled-tile": RasterDefect(
        _scrambled_tile,
        ALL_RASTERS,
        ("damaged or truncated", "ZIPDecode"),
        {},
    ),
    "text-named-tif": RasterDefect(
        _text,
        ALL_RASTERS,
        ("not a raster GDAL can read", "give a GeoTIFF"),
        {},
    ),
    "float-fractions": RasterDefect(
        _fractions,
        ("landuse", "layer", "districts", *LANDUSE_LIKE[1:]),
        ("7 cells have fractional values", "integer class codes"),
        {
            "layer": ("7 cells hold values that are not whole numbers (0.25)", "nearest"),
            "districts": ("7 cells hold codes that are not whole numbers (2.25)", "nearest"),
        },
        from_start_map=True,
    ),
    "complex": RasterDefect(
        _complex,
        ALL_RASTERS,
        ("complex numbers (complex64)", "gdal_translate -ot"),
        {},
        from_start_map=True,
    ),
    "all-nodata": RasterDefect(
        _all_nodata,
        ALL_RASTERS,
        ("every cell is nodata", "nodata value"),
        {
            "driver": ("no valid value on the land-use area",),
            "districts": ("no cell belongs to a district", "nodata value"),
        },
    ),
    "nodata-undeclared": RasterDefect(
        _nodata_undeclared,
        LANDUSE_LIKE,
        ("255 (6 cells)", "set the raster's nodata value"),
        {
            "assess-initial": ("255 (6 cells)", "codes: 0–254", "nodata value"),
        },
    ),
    "unknown-class-codes": RasterDefect(
        _unknown_codes,
        LANDUSE_LIKE,
        ("7 (1 cell", "9 (5 cells)", "class table"),
        {
            "landuse": ("7 (1 cell), 9 (5 cells)", "not class codes in [[classes]]"),
        },
    ),
    "other-crs": RasterDefect(
        _other_crs,
        ALL_RASTERS,
        ("EPSG:32650 differs from the land-use grid's EPSG:32649", "rio warp"),
        {
            "landuse": ("EPSG:32649 differs", "grid's EPSG:32650 (synthetic_landuse.tif)"),
            "assess-initial": ("EPSG:32649 differs", "grid's EPSG:32650 (synthetic_landuse.tif)"),
        },
    ),
    "no-crs": RasterDefect(
        _no_crs,
        ALL_RASTERS,
        ("has no CRS", "gdal_edit.py -a_srs EPSG:32649"),
        {
            "landuse": ("land-use grid's no CRS", "-a_srs EPSG:32649 synthetic_landuse.tif"),
            "assess-initial": ("grid's no CRS", "-a_srs EPSG:32649 synthetic_landuse.tif"),
        },
    ),
    "other-shape": RasterDefect(
        _other_shape,
        ALL_RASTERS,
        ("38 rows × 50 columns", "has 40 × 50", "rio warp"),
        {
            "landuse": ("40 rows × 50 columns", "(synthetic_landuse.tif) has 38 × 50"),
            "assess-initial": ("40 rows × 50 columns", "(synthetic_landuse.tif) has 38 × 50"),
        },
    ),
    "shifted-transform": RasterDefect(
        _shifted,
        ALL_RASTERS,
        ("transform differs", "origin (500010.000, 3400000.000)", "rio warp"),
        {
            "landuse": ("transform differs", "synthetic_landuse.tif"),
            "assess-initial": ("transform differs", "synthetic_landuse.tif"),
        },
    ),
    "nan-nodata-no-growth": RasterDefect(
        _nan_no_growth,
        ("observed",),
        ("no scored cell became urban",),
        from_start_map=True,
    ),
}


def _raster_params() -> list[Any]:
    params = []
    for name, defect in RASTER_DEFECTS.items():
        for kind in defect.kinds:
            for entry in RASTERS[kind].entries:
                marks = []
                why = defect.xfail.get((kind, entry))
                if why:
                    marks.append(pytest.mark.xfail(strict=True, reason=why))
                params.append(
                    pytest.param(name, kind, entry, marks=marks, id=f"{name}-{kind}-{entry}")
                )
    return params


RASTER_PARAMS = _raster_params()


@pytest.mark.parametrize(("defect", "kind", "entry"), RASTER_PARAMS)
def test_bad_raster(world: World, defect: str, kind: str, entry: str) -> None:
    spec, bad = RASTERS[kind], RASTER_DEFECTS[defect]
    path = spec.path(world)
    start_map = bad.from_start_map and kind == "observed"
    data = world.tiny.landuse if start_map else spec.array(world)
    bad.make(path, data, spec.nodata)
    args, outputs = world.args(entry)
    needles = bad.per_kind.get(kind, bad.needles)
    # The message names the file and its key; a grid-defining raster off the others' grid
    # shows as a mismatch of the first other raster read, naming the grid's file (needles).
    named = () if spec.defines_grid and defect in GRID_DEFECTS else (spec.label, path.name)
    _refused(
        f"raster:{kind}",
        entry,
        args,
        *named,
        *needles,
        code=1,
        outputs=outputs,
        inputs=[world.inputs],
    )


MEMORY_ENTRIES = (*SCENARIO_ENTRIES, "assess")
BAD_BUDGETS = ("inf", "-3", "lots", "0")


@pytest.mark.parametrize("entry", MEMORY_ENTRIES)
def test_landuse_larger_than_the_memory_budget(
    world: World, entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grid whose run would not fit is refused before it is read, with both sizes."""
    monkeypatch.setenv("LANDSIM_MEMORY_BUDGET_GB", "0.000001")
    args, outputs = world.args(entry)
    label = "[initial]" if entry == "assess" else "[inputs.landuse]"
    _refused(
        "raster:landuse",
        entry,
        args,
        label,
        "synthetic_landuse.tif",
        "40 × 50 cells need about 160.0 kB in memory, more than the 1.0 kB available",
        "LANDSIM_MEMORY_BUDGET_GB",
        "tiled path",
        code=1,
        outputs=outputs,
        inputs=[world.inputs],
    )


@pytest.mark.parametrize("budget", BAD_BUDGETS)
def test_memory_budget_that_is_not_a_budget(
    world: World, budget: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``inf`` raised OverflowError (a traceback) and ``-3`` gave a negative budget."""
    monkeypatch.setenv("LANDSIM_MEMORY_BUDGET_GB", budget)
    args, outputs = world.args("run")
    _refused(
        "environment",
        "run",
        args,
        f"LANDSIM_MEMORY_BUDGET_GB={budget!r} is not a positive number of gigabytes",
        "unset it",
        code=1,
        outputs=outputs,
        inputs=[world.inputs],
    )


# --------------------------------------------------------------------------- rasters: not refusals


def _stderr_lines(result: Any, prefix: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(prefix)]


def _ok(*args: Any) -> Any:
    from click.testing import CliRunner

    from landsim.cli.main import main

    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output and "error:" not in r.stderr
    return r


def test_nan_and_infinity_in_a_driver_give_suitability_0_with_one_warning(world: World) -> None:
    """What the code does: the cells count as missing, get suitability 0 (never grow),
    and one WARNING line gives their number; NaN on a nodata land cell is not counted."""
    import rasterio

    slope = world.tiny.arrays["slope"].copy()
    prime = [(20, 24), (20, 25), (20, 26), (20, 27), (25, 32), (26, 32), (15, 32)]
    for (r, c), v in zip(prime, [np.nan] * 4 + [np.inf, np.inf, -np.inf], strict=True):
        assert world.tiny.landuse[r, c] == CROPLAND
        slope[r, c] = v
    slope[0, 0] = np.nan  # a nodata cell of the land use: not a land cell
    write_raster(world.tiny.paths["slope"], slope, nodata=-9999.0)
    out = world.tmp / "out"
    r = _ok("run", world.scenario, "-o", out)
    assert _stderr_lines(r, "WARNING") == [
        "WARNING: [inputs.drivers.slope] 7 land cells are nodata in this driver and get "
        "suitability 0"
    ]
    with rasterio.open(out / "urban_year.tif") as ds:
        years = ds.read(1)
    assert [int(years[rc]) for rc in prime] == [0] * len(prime)  # never urban
    # validate reads the drivers' pixels too, and says the same once.
    assert len(_stderr_lines(_ok("validate", world.scenario), "WARNING")) == 1


def test_nodata_conventions_that_differ_between_layers(world: World) -> None:
    """Each raster's own nodata counts: land use int16 with -9999 (ArcGIS), a driver with
    -9999 and NaN, a layer with no nodata set, a float layer with NaN, districts uint16
    with 65535. The run works; only the driver's missing land cells are warned about."""
    tiny = world.tiny
    lu = tiny.landuse.astype(np.int16)
    lu[tiny.landuse == NODATA] = -9999
    write_raster(tiny.paths["landuse"], lu, nodata=-9999)
    slope = tiny.arrays["slope"].copy()
    slope[35, 20:25] = -9999.0  # 5 land cells
    slope[36, 20:23] = np.nan  # 3 more: NaN counts as missing whatever the nodata value
    write_raster(tiny.paths["slope"], slope, nodata=-9999.0)
    write_raster(tiny.paths["pbf"], tiny.arrays["pbf"], nodata=None)
    erl = np.where(tiny.landuse == NODATA, np.nan, tiny.arrays["erl"]).astype(np.float32)
    write_raster(tiny.paths["erl"], erl, nodata=float("nan"))
    districts = _district_codes(tiny).astype(np.uint16)
    districts[tiny.landuse == NODATA] = 65535
    write_raster(world.districts, districts, nodata=65535)

    r = _ok("validate", world.scenario)
    assert f"valid cells: {tiny.valid_cells:,}" in r.stdout
    r = _ok("run", world.scenario, "-o", world.tmp / "out")
    assert _stderr_lines(r, "WARNING") == [
        "WARNING: [inputs.drivers.slope] 8 land cells are nodata in this driver and get "
        "suitability 0"
    ]
    summary = (world.tmp / "out" / "summary.csv").read_text(encoding="utf-8")
    assert f"2020,{FOREST},forest,forest,{int((tiny.landuse == FOREST).sum())}," in summary
    farmland = cell_centre(30, 5)
    answer = json.loads(_ok("check", world.scenario, "--point", *farmland, "--json").stdout)
    assert answer["lines"]["permanent_basic_farmland"]["cells_inside"] == 1
    assert answer["districts"] == {"东区": 1}


# --------------------------------------------------------------------------- vectors


def _box(row0: int, col0: int, row1: int, col1: int) -> Any:
    """The polygon along the cell edges of rows row0..row1-1, columns col0..col1-1."""
    import shapely

    x0, y0 = ORIGIN
    return shapely.box(x0 + col0 * CELL, y0 - row1 * CELL, x0 + col1 * CELL, y0 - row0 * CELL)


def _write_layer(
    path: Path,
    geoms: list[Any],
    *,
    fields: dict[str, np.ndarray] | None = None,
    crs: str | None = CRS,
    geometry_type: str = "Polygon",
) -> Path:
    import pyogrio.raw
    import shapely

    fields = fields or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyogrio: "'crs' was not provided"
        pyogrio.raw.write(
            path,
            geometry=np.array([shapely.to_wkb(g) for g in geoms], dtype=object),
            field_data=list(fields.values()),
            fields=list(fields),
            layer=path.stem,
            driver={".gpkg": "GPKG", ".geojson": "GeoJSON"}[path.suffix],
            crs=crs,
            geometry_type=geometry_type,
            promote_to_multi=False,
        )
    return path


@dataclass(frozen=True)
class VectorKind:
    label: str
    entries: tuple[str, ...]
    stem: str
    geoms: Callable[[], list[Any]]
    attribute: str | None  # the field holding the value, named in the scenario

    def fields(self, n: int, name: str | None = None) -> dict[str, np.ndarray]:
        if self.attribute is None and name is None:
            return {}
        return {name or str(self.attribute): np.arange(1, n + 1, dtype=np.int32)}

    def write(self, path: Path, geoms: list[Any] | None = None, **kw: Any) -> Path:
        geoms = self.geoms() if geoms is None else geoms
        return _write_layer(path, geoms, fields=self.fields(len(geoms)), **kw)

    def point_at(self, world: World, path: Path, spec: dict[str, Any]) -> list[Any]:
        """Point the scenario (or the command line) at ``path``; the command's args."""
        if self.stem == "site":
            return ["check", world.scenario, "--polygon", path]
        base: dict[str, Any] = {"path": path.name}
        if self.stem == "districts":
            base |= {"attribute": self.attribute, "names": DISTRICT_NAMES}
            world.rewrite_scenario({"districts": {**base, **spec}})
        else:
            world.rewrite_scenario({"constraints": {"permanent_basic_farmland": {**base, **spec}}})
        return []


VECTORS: dict[str, VectorKind] = {
    "layer": VectorKind(
        "[constraints.permanent_basic_farmland.path]",
        ("validate", "run", "check"),
        "pbf",
        lambda: [_box(25, 0, 40, 13), _box(26, 22, 32, 28)],
        None,
    ),
    "districts": VectorKind(
        "[districts.path]",
        ("validate", "run", "check"),
        "districts",
        lambda: [_box(0, 0, 40, 25), _box(0, 25, 40, 50)],
        "code",
    ),
    "site": VectorKind(
        "[--polygon]", ("check --polygon",), "site", lambda: [_box(30, 2, 37, 9)], None
    ),
}

VMake = Callable[[VectorKind, Path], tuple[Path, dict[str, Any]]]


def _v_no_features(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    return kind.write(folder / f"{kind.stem}.gpkg", []), {}


def _v_empty_geojson(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    path = folder / f"{kind.stem}.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    return path, {}


def _v_empty_polygons(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    import shapely

    return kind.write(folder / f"{kind.stem}.gpkg", [shapely.Polygon()] * 2), {}


def _v_degenerate(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    """A polygon whose vertices lie on one line: invalid, and no area once repaired."""
    import shapely

    x, y = cell_centre(20, 20)
    flat = shapely.Polygon([(x, y), (x + 90, y), (x + 180, y)])
    return kind.write(folder / f"{kind.stem}.gpkg", [flat]), {}


def _v_points(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    import shapely

    points = [shapely.Point(*cell_centre(20, 20)), shapely.Point(*cell_centre(30, 5))]
    path = folder / f"{kind.stem}.gpkg"
    _write_layer(path, points, fields=kind.fields(2), geometry_type="Point")
    return path, {}


def _v_no_crs(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    return kind.write(folder / f"{kind.stem}.gpkg", crs=None), {}


def _v_scrambled(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    path = kind.write(folder / f"{kind.stem}.gpkg")
    raw = bytearray(path.read_bytes())
    for i in range(100, len(raw)):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    return path, {}


def _v_geojson_cut(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    path = kind.write(folder / f"{kind.stem}.geojson")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path, {}


def _v_attribute_missing(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    """The field is 'Zone' (or 'Code'), the scenario says 'zone' (or 'code')."""
    geoms = kind.geoms()
    name = (kind.attribute or "zone").capitalize()
    path = _write_layer(folder / f"{kind.stem}.gpkg", geoms, fields=kind.fields(len(geoms), name))
    return path, {"attribute": kind.attribute or "zone"}


def _v_layer_missing(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    return kind.write(folder / f"{kind.stem}.gpkg"), {"layer": f"{kind.stem}_2024"}


def _v_outside(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    """The polygons 100 km east of the grid (a wrong false easting)."""
    from shapely import affinity

    moved = [affinity.translate(g, 100_000, 0) for g in kind.geoms()]
    return kind.write(folder / f"{kind.stem}.gpkg", moved), {}


def _v_too_small(kind: VectorKind, folder: Path) -> tuple[Path, dict[str, Any]]:
    """5 m squares inside cells, off their centres: no cell centre is covered."""
    import shapely

    x0, y0 = ORIGIN
    small = [
        shapely.box(x0 + 1, y0 - 6, x0 + 6, y0 - 1),
        shapely.box(x0 + 601, y0 - 6, x0 + 606, y0 - 1),
    ]
    return kind.write(folder / f"{kind.stem}.gpkg", small), {}


@dataclass(frozen=True)
class VectorDefect:
    make: VMake
    needles: tuple[str, ...]
    kinds: tuple[str, ...] = ("layer", "districts", "site")


VECTOR_DEFECTS: dict[str, VectorDefect] = {
    "no-features": VectorDefect(_v_no_features, ("has no features", "export the polygons again")),
    "empty-geojson": VectorDefect(_v_empty_geojson, ("has no features",)),
    "empty-polygons": VectorDefect(_v_empty_polygons, ("every geometry of layer", "is empty")),
    "degenerate-polygon": VectorDefect(_v_degenerate, ("has an area once repaired", "degenerate")),
    "points-only": VectorDefect(_v_points, ("holds no polygons, only 2 points", "buffer")),
    "no-crs": VectorDefect(_v_no_crs, ("no coordinate reference system", "ogr2ogr -a_srs")),
    "scrambled-geopackage": VectorDefect(
        _v_scrambled, ("not a vector file GDAL can read (SQLite: ", "exporting it again")
    ),
    "geojson-cut-in-half": VectorDefect(
        _v_geojson_cut, ("not a vector file GDAL can read", "exporting it again")
    ),
    "attribute-missing": VectorDefect(
        _v_attribute_missing, ("has no field", "did you mean"), ("layer", "districts")
    ),
    "layer-missing": VectorDefect(
        _v_layer_missing, ("_2024' (layers: ", "set layer to one of them"), ("layer", "districts")
    ),
    "outside-the-grid": VectorDefect(
        _v_outside, ("do not overlap the land-use grid", "check the layer and its CRS")
    ),
    "too-small-for-a-cell": VectorDefect(
        _v_too_small, ("cover no cell centre", "all_touched"), ("layer", "districts")
    ),
}

VECTOR_PARAMS = [
    pytest.param(name, kind, entry, id=f"{name}-{kind}-{entry.replace(' --', '-')}")
    for name, defect in VECTOR_DEFECTS.items()
    for kind in defect.kinds
    for entry in VECTORS[kind].entries
]


@pytest.mark.parametrize(("defect", "kind", "entry"), VECTOR_PARAMS)
def test_bad_vector_layer(world: World, defect: str, kind: str, entry: str) -> None:
    spec, bad = VECTORS[kind], VECTOR_DEFECTS[defect]
    path, extra = bad.make(spec, world.inputs)
    args = spec.point_at(world, path, extra)
    outputs: list[Path] = []
    if not args:
        args, outputs = world.args(entry)
    _refused(
        f"vector:{kind}",
        entry,
        args,
        spec.label,
        path.name,
        *bad.needles,
        code=1,
        outputs=outputs,
        inputs=[world.inputs],
    )


def test_self_intersecting_polygons_are_repaired_with_one_warning(world: World) -> None:
    """A bowtie is invalid but has an area: repaired (make_valid), said once, used; as a
    planning layer and as the site of `check --polygon`."""
    import shapely

    x, y = ORIGIN[0] + 2 * CELL, ORIGIN[1] - 26 * CELL
    bowtie = shapely.Polygon([(x, y), (x + 300, y - 300), (x + 300, y), (x, y - 300)])
    kind = VECTORS["layer"]
    site = VECTORS["site"].write(world.tmp / "site.gpkg", [bowtie])
    warned = [_stderr_lines(_ok("check", world.scenario, "--polygon", site), "WARNING")]
    layer = kind.write(world.inputs / "pbf.gpkg", [bowtie])
    kind.point_at(world, layer, {})
    warned.append(_stderr_lines(_ok("validate", world.scenario), "WARNING"))
    keys = ["[--polygon]", "[constraints.permanent_basic_farmland.path]"]
    for lines, key in zip(warned, keys, strict=True):
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"WARNING: {key}"), lines
        assert "repaired 1 invalid polygons" in lines[0]


# --------------------------------------------------------------------------- Chinese names


def test_chinese_file_names_work(tmp_path: Path) -> None:
    """Every input under a Chinese name, in a Chinese folder: validate, run, check (point
    and polygon), assess."""
    tiny = make_tiny_grid(tmp_path / "输入数据")
    names = {
        "landuse": "土地利用_2020.tif",
        "slope": "坡度.tif",
        "udb": "城镇开发边界.tif",
        "erl": "生态保护红线.tif",
        "water": "水域.tif",
    }
    for key, name in names.items():
        tiny.paths[key] = tiny.paths[key].rename(tiny.folder / name)
    pbf = VECTORS["layer"].write(tiny.folder / "永久基本农田.gpkg")
    districts = write_raster(tiny.folder / "行政区.tif", _district_codes(tiny), nodata=NODATA)
    observed = write_raster(tiny.folder / "观测_2030.tif", _grown(tiny, 7.5), nodata=NODATA)
    site = _write_layer(tmp_path / "地块.geojson", [_box(30, 2, 37, 9)])
    scenario = tiny.scenario(
        {
            "inputs": {"landuse": names["landuse"], "drivers": {"slope": names["slope"]}},
            "constraints": {
                "urban_development_boundary": {"path": names["udb"]},
                "permanent_basic_farmland": {"path": pbf.name},
                "ecological_red_line": {"path": names["erl"]},
                "water": {"path": names["water"]},
            },
            "districts": {"path": districts.name, "names": DISTRICT_NAMES},
        },
        filename="情景.toml",
    )
    out = tmp_path / "输出结果"
    assert "valid" in _ok("validate", scenario).stdout
    _ok("run", scenario, "-o", out)
    assert (out / "landuse_2030.tif").is_file()
    point = json.loads(_ok("check", scenario, "--point", *SITE, "--run", out, "--json").stdout)
    assert point["districts"] == {"西区": 1}
    polygon = json.loads(_ok("check", scenario, "--polygon", site, "--json").stdout)
    assert polygon["lines"]["permanent_basic_farmland"]["cells_inside"] == polygon["cells"] > 0
    report = tmp_path / "评估" / "报告.json"
    _ok(
        "assess", "--initial", tiny.folder / names["landuse"], "--observed", observed,
        "--run", out, "--scenario", scenario, "--seeds", 1, "-o", report,
    )  # fmt: skip
    assert json.loads(report.read_text(encoding="utf-8"))["inputs"]["observed"]["path"] == str(
        observed
    )


# --------------------------------------------------------------------------- compare


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two single runs and an ensemble, written by hand (tests/_compare_kit.py)."""
    from _compare_kit import (
        IND_1,
        IND_2,
        IND_3,
        RECT_1,
        RECT_2,
        ensemble_rows,
        members_maps,
        probabilities_from,
        single_rows,
        with_urban,
        write_run,
    )

    root = tmp_path / "runs"
    a = write_run(
        root / "a", scenario="a", maps={2030: with_urban(*RECT_1)}, indicators=single_rows(IND_1)
    )
    b = write_run(
        root / "b", scenario="b", maps={2030: with_urban(*RECT_2)}, indicators=single_rows(IND_2)
    )
    c = write_run(
        root / "c",
        scenario="c",
        probabilities={2030: probabilities_from(members_maps())},
        members=4,
        indicators=ensemble_rows(IND_3, members=4),
    )
    return a, b, c


def _rewrite_run(run: Path, **kw: Any) -> None:
    from _compare_kit import IND_2, RECT_2, single_rows, with_urban, write_run

    shutil.rmtree(run)
    write_run(
        run,
        scenario=run.name,
        maps={2030: with_urban(*RECT_2)},
        indicators=single_rows(IND_2),
        **kw,
    )


def _c_no_crs(runs: tuple[Path, ...]) -> Path:
    _rewrite_run(runs[1], crs="")
    return runs[1]


def _c_roles(runs: tuple[Path, ...]) -> Path:
    from _compare_kit import CLASSES

    classes = [dict(c) for c in CLASSES]
    classes[2]["role"] = "wetland"
    _rewrite_run(runs[1], classes=classes)
    return runs[1]


def _c_maps_only(runs: tuple[Path, ...]) -> Path:
    folder = runs[1].parent / "maps-only"
    folder.mkdir()
    shutil.copy(runs[1] / "landuse_2030.tif", folder)
    return folder


def _c_scenario_folder(runs: tuple[Path, ...]) -> Path:
    """The folder of a scenario's inputs given instead of its run."""
    return make_tiny_grid(runs[1].parent / "scenario-inputs").folder


def _cut(name: str, keep: float = 0.5) -> Callable[[tuple[Path, ...]], Path]:
    def make(runs: tuple[Path, ...]) -> Path:
        run = runs[2] if name.startswith("probability") else runs[1]
        path = run / name
        raw = path.read_bytes()
        path.write_bytes(raw[: int(len(raw) * keep)])
        return run

    return make


def _c_indicators_empty(runs: tuple[Path, ...]) -> Path:
    (runs[1] / "indicators.csv").write_bytes(b"")
    return runs[1]


def _c_indicators_header_only(runs: tuple[Path, ...]) -> Path:
    """The file cut right after its header: every row lost."""
    path = runs[1] / "indicators.csv"
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    return runs[1]


def _c_provenance_gbk(runs: tuple[Path, ...]) -> Path:
    """provenance.json re-saved by an editor in GBK (the Windows code page in China)."""
    path = runs[1] / "provenance.json"
    text = path.read_text(encoding="utf-8").replace('"scenario": "b"', '"scenario": "武汉"')
    path.write_bytes(text.encode("gbk"))
    return runs[1]


@dataclass(frozen=True)
class RunDefect:
    make: Callable[[tuple[Path, ...]], Path]
    needles: tuple[str, ...]
    xfail: str | None = None


RUN_DEFECTS: dict[str, RunDefect] = {
    "grid-without-crs": RunDefect(
        _c_no_crs, ("are on different grids: CRS EPSG:32649 vs no CRS", "same land-use grid")
    ),
    "class-roles-differ": RunDefect(
        _c_roles, ("different class tables (code 3 is water/water vs water/wetland)",)
    ),
    "maps-without-provenance": RunDefect(
        _c_maps_only, ("is not a landsim run folder (no provenance.json)", "landsim run")
    ),
    "scenario-inputs-folder": RunDefect(
        _c_scenario_folder, ("is not a landsim run folder", "landsim run")
    ),
    "indicators-cut-in-half": RunDefect(
        _cut("indicators.csv"), ("indicators.csv, line", "must be numbers", "run the scenario")
    ),
    "indicators-empty": RunDefect(
        _c_indicators_empty, ("indicators.csv", "missing column(s) year", "run the scenario")
    ),
    "indicators-header-only": RunDefect(
        _c_indicators_header_only, ("indicators.csv", "no indicator rows", "cut short?")
    ),
    "provenance-cut-in-half": RunDefect(
        _cut("provenance.json"), ("provenance.json: unreadable", "run the scenario again")
    ),
    "provenance-in-gbk": RunDefect(
        _c_provenance_gbk, ("provenance.json: unreadable ('utf-8' codec", "run the scenario")
    ),
    "map-cut-in-half": RunDefect(
        _cut("landuse_2030.tif"), ("landuse_2030.tif: unreadable", "run the scenario again")
    ),
    "probability-map-cut-in-half": RunDefect(
        _cut("probability_2030.tif"),
        ("probability_2030.tif: unreadable", "run the scenario again"),
    ),
}


@pytest.mark.parametrize(
    "defect",
    [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=d.xfail)] if d.xfail else [],
        )
        for name, d in RUN_DEFECTS.items()
    ],
)
def test_bad_run_folder(runs: tuple[Path, Path, Path], tmp_path: Path, defect: str) -> None:
    bad = RUN_DEFECTS[defect].make(runs)
    out = tmp_path / "comparison"
    _refused(
        "run folder",
        "compare",
        ["compare", runs[0], bad, "-o", out],
        str(bad),
        *RUN_DEFECTS[defect].needles,
        code=1,
        outputs=[out],
        inputs=[tmp_path / "runs"],
    )


# --------------------------------------------------------------------------- SLEUTH


@pytest.fixture
def sleuth(tmp_path: Path) -> Path:
    """SLEUTH's demo data in SLEUTH's own layout: Scenarios/ beside Input/demo200/."""
    root = tmp_path / "SLEUTH"
    (root / "Scenarios").mkdir(parents=True)
    shutil.copytree(SLEUTH_DEMO / "input", root / "Input" / "demo200")
    shutil.copy(SLEUTH_DEMO / "scenarios" / "scenario.demo200_test", root / "Scenarios")
    return root


def _gif(name: str) -> Callable[[Path], Path]:
    return lambda root: root / "Input" / "demo200" / name


def _s_cut(target: Callable[[Path], Path], keep: float) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = target(root)
        raw = path.read_bytes()
        path.write_bytes(raw[: int(len(raw) * keep)])

    return make


def _s_png(root: Path) -> None:
    """The excluded layer saved as PNG under its .gif name."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    path = _gif("demo200.excluded.gif")(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            data = ds.read(1)
        png = path.with_suffix(".png")
        profile = {"driver": "PNG", "width": data.shape[1], "height": data.shape[0]}
        with rasterio.open(png, "w", count=1, dtype="uint8", **profile) as ds:
            ds.write(data, 1)
    png.replace(path)


def _s_empty(root: Path) -> None:
    _gif("demo200.slope.gif")(root).write_bytes(b"")


def _scenario_file(root: Path) -> Path:
    return root / "Scenarios" / "scenario.demo200_test"


def _s_binary(root: Path) -> None:
    _scenario_file(root).write_bytes(b"GIF89a\x00\x01\x02 scenario saved over by an image")


def _s_utf16(root: Path) -> None:
    path = _scenario_file(root)
    path.write_bytes(path.read_text(encoding="latin-1").encode("utf-16"))


SLEUTH_DEFECTS: dict[str, tuple[Callable[[Path], None], int, tuple[str, ...]]] = {
    "urban-gif-cut-in-half": (
        _s_cut(_gif("demo200.urban.1970.gif"), 0.5),
        1,
        ("URBAN_DATA file", "demo200.urban.1970.gif", "cannot be read as a GIF", "export it"),
    ),
    "background-gif-loses-its-end": (
        _s_cut(_gif("demo200.hillshade.water.gif"), 0.95),
        1,
        ("BACKGROUND_DATA file", "demo200.hillshade.water.gif", "cannot be read as a GIF"),
    ),
    "png-named-gif": (
        _s_png,
        1,
        ("EXCLUDED_DATA file", "not a GIF (GDAL reads it as PNG)", "8-bit grayscale GIF"),
    ),
    "empty-gif": (
        _s_empty,
        1,
        ("SLOPE_DATA file", "demo200.slope.gif", "cannot be read as a GIF"),
    ),
    "scenario-file-cut-in-half": (
        _s_cut(_scenario_file, 0.5),
        2,
        ("scenario.demo200_test", "is missing", "add a line"),
    ),
    "scenario-file-binary": (
        _s_binary,
        2,
        ("scenario.demo200_test", "not a text file", "KEY=value lines"),
    ),
    "scenario-file-utf16": (
        _s_utf16,
        2,
        ("scenario.demo200_test", "not a text file"),
    ),
}


@pytest.mark.parametrize("defect", list(SLEUTH_DEFECTS))
def test_bad_sleuth_input(sleuth: Path, tmp_path: Path, defect: str) -> None:
    make, code, needles = SLEUTH_DEFECTS[defect]
    make(sleuth)
    out = tmp_path / "imported"
    args = ["import-sleuth", _scenario_file(sleuth), "-o", out]
    _refused("sleuth", "import-sleuth", args, *needles, code=code, outputs=[out], inputs=[sleuth])


# --------------------------------------------------------------------------- the count

# Per refusal test: (cases, of which known bugs marked xfail).
REFUSAL_TESTS: dict[str, tuple[int, int]] = {
    "test_bad_raster": (len(RASTER_PARAMS), sum(1 for p in RASTER_PARAMS if p.marks)),
    "test_landuse_larger_than_the_memory_budget": (len(MEMORY_ENTRIES), 0),
    "test_memory_budget_that_is_not_a_budget": (len(BAD_BUDGETS), 0),
    "test_bad_vector_layer": (len(VECTOR_PARAMS), 0),
    "test_bad_run_folder": (len(RUN_DEFECTS), sum(1 for d in RUN_DEFECTS.values() if d.xfail)),
    "test_bad_sleuth_input": (len(SLEUTH_DEFECTS), 0),
}


def test_catalogue_size(request: pytest.FixtureRequest) -> None:
    """Every refusal of this module ran and passed: the catalogue's size.

    Runs last (file order). When only part of the module was selected (``-k``), there is
    nothing to count.
    """
    here = request.node.module.__name__
    selected = sum(
        1
        for i in request.session.items
        if i.module.__name__ == here and getattr(i, "originalname", "") in REFUSAL_TESTS
    )
    if selected != sum(n for n, _ in REFUSAL_TESTS.values()):
        pytest.skip("only part of the catalogue was selected")
    mine = sum(_REFUSED["entry"].values())
    by_entry = ", ".join(f"{k} {v}" for k, v in sorted(_REFUSED["entry"].items()))
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(_REFUSED["kind"].items()))
    print(
        f"\ncatalogue of input files: {mine} refusals\n  by entry: {by_entry}\n  by kind: {by_kind}"
    )
    request.node.user_properties.append(("refusals", dict(_REFUSED)))
    assert mine == sum(n - bugs for n, bugs in REFUSAL_TESTS.values())
    assert COUNT["refusals"] >= mine  # COUNT is the session's: other catalogues add to it
    # The figures this catalogue was written with; adding a case only raises them.
    assert mine >= CATALOGUE_REFUSALS
    for entry, n in CATALOGUE_PER_ENTRY.items():
        assert _REFUSED["entry"].get(entry, 0) >= n, entry


CATALOGUE_REFUSALS = 305
CATALOGUE_PER_ENTRY = {
    "validate": 63,
    "run": 70,
    "check": 57,
    "check --polygon": 9,
    "calibrate": 52,
    "assess": 37,
    "compare": 10,
    "import-sleuth": 7,
}
