"""``landsim import-sleuth``: SLEUTH scenario files and GIFs → a landsim SLEUTH scenario.

The demo data (``rasters/sleuth_demo200``, see its SOURCE.md) gives the expected cell
counts; bad inputs are built in ``tmp_path`` as small GIFs whose palette maps index i
to gray 255 - i, so every test also checks that values are gray levels, not indices.
"""

from __future__ import annotations

import hashlib
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _landsim_kit import invoke, landsim_exe, partial_dirs

from landsim.errors import (
    GridMismatchError,
    InputError,
    LandsimError,
    OutputError,
    ScenarioError,
)
from landsim.scenario import load_sleuth
from landsim.sleuth.io import import_sleuth, parse_scenario_file, read_gif_gray

DEMO = Path(__file__).resolve().parents[1] / "rasters" / "sleuth_demo200"
SCENARIOS = DEMO / "scenarios"
INPUT = DEMO / "input"


def _read(path: Path) -> Any:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def _values(path: Path) -> np.ndarray:
    with _read(path) as ds:
        return ds.read(1)


def _counts(a: np.ndarray) -> dict[int, int]:
    v, c = np.unique(a, return_counts=True)
    return dict(zip(v.tolist(), c.tolist(), strict=True))


# --------------------------------------------------------------------------- the demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo scenarios imported once: name -> (ImportResult, loaded scenario)."""
    root = tmp_path_factory.mktemp("demo")
    out: dict[str, Any] = {}
    for name, mode in (
        ("test", "test"),
        ("predict", "predict"),
        ("calibrate", "calibrate"),
        ("coarse50", "calibrate"),
        ("land_test", "test"),
    ):
        r = import_sleuth(SCENARIOS / f"scenario.demo200_{name}", root / name, mode=mode)
        out[name] = (r, load_sleuth(r.scenario))
    return out


def test_demo_test_scenario(demo: dict[str, Any]) -> None:
    r, s = demo["test"]
    assert s.name == "demo200_test" and s.model.kind == "sleuth"
    assert s.simulation.mode == "test"
    assert (s.first_year, s.last_year) == (1930, 1990)
    assert (s.simulation.seed, s.simulation.members) == (1, 4)
    assert s.coefficients is not None
    assert s.coefficients.as_tuple() == (5, 5, 10, 95, 5)
    assert sorted(s.inputs.urban) == [1930, 1950, 1970, 1990]
    assert sorted(s.inputs.roads) == [1930, 1950, 1970, 1990]
    assert s.inputs.landuse == {}  # commented out in the test scenario
    assert s.inputs.background is not None and s.inputs.background.name == "background.tif"
    sm = s.self_modification
    assert (sm.critical_slope, sm.bust, sm.boom) == (21.0, 0.9, 1.01)
    assert (sm.critical_low, sm.critical_high) == (0.97, 1.3)
    assert (sm.road_gravity_sensitivity, sm.slope_sensitivity) == (0.01, 0.1)
    # BUST 0.9 is no quirk; the excluded layer's 1-for-available is.
    assert not any("BUST" in q for q in r.quirks)
    assert any("excluded" in q and "rejects 2 %" in q for q in r.quirks)
    assert r.shape == (200, 200)


def test_demo_predict_scenario(demo: dict[str, Any]) -> None:
    r, s = demo["predict"]
    assert s.simulation.mode == "predict"
    assert (s.simulation.start_year, s.simulation.end_year) == (1990, 2010)
    assert (s.simulation.seed, s.simulation.members) == (1, 10)
    assert s.coefficients is not None
    assert s.coefficients.as_tuple() == (2, 5, 20, 51, 5)
    assert sorted(s.inputs.landuse) == [1930, 1990]
    assert s.self_modification.critical_slope == 15.0
    assert s.self_modification.bust == 0.09  # carried over as it is ...
    bust = [q for q in r.quirks if q.startswith("BUST")]  # ... and reported
    assert len(bust) == 1 and "0.9 was probably meant" in bust[0] and "91 %" in bust[0]
    assert s.imported["quirks"] == r.quirks


@pytest.mark.parametrize(
    ("name", "members", "values"), [("calibrate", 2, [0, 100]), ("coarse50", 4, [0, 50, 100])]
)
def test_demo_calibrate_scenarios(
    demo: dict[str, Any], name: str, members: int, values: list[int]
) -> None:
    r, s = demo[name]
    assert s.simulation.mode == "calibrate"
    assert s.simulation.members == members
    assert (s.first_year, s.last_year) == (1930, 1990)
    assert s.calibration is not None
    for coeff in ("diffusion", "breed", "spread", "slope_resistance", "road_gravity"):
        assert getattr(s.calibration, coeff).values() == values
    assert s.coefficients is not None and s.coefficients.as_tuple() == (0, 0, 0, 0, 0)
    zero = [q for q in r.quirks if "coefficients of 0" in q]
    assert len(zero) == 1 and "CALIBRATION_SLOPE_START" in zero[0] and "as 1" in zero[0]
    assert any(q.startswith("BUST = 0.09") for q in r.quirks)
    assert bool(s.inputs.landuse) == (name == "calibrate")


def test_demo_land_test_has_land_use(demo: dict[str, Any]) -> None:
    _, s = demo["land_test"]
    assert sorted(s.inputs.landuse) == [1930, 1990]


def test_demo_rasters_hold_sleuth_values(demo: dict[str, Any]) -> None:
    """Cell counts from SOURCE.md: the gray levels SLEUTH reads, on a CRS-less 1-unit grid."""
    r, _ = demo["predict"]
    out = r.out_dir
    urban = {1930: 598, 1950: 861, 1970: 1821, 1990: 3881}
    for year, n in urban.items():
        assert _counts(_values(out / f"urban_{year}.tif")) == {0: 40000 - n, 255: n}
    roads = {1930: 375, 1950: 665, 1970: 945, 1990: 1104}
    for year, n in roads.items():
        assert _counts(_values(out / f"roads_{year}.tif")) == {0: 40000 - n, 255: n}
    assert _counts(_values(out / "excluded.tif")) == {1: 35775, 100: 4225}
    slope = _values(out / "slope.tif")
    assert (slope.min(), slope.max(), len(np.unique(slope))) == (0, 41, 38)
    assert round(float(slope.mean()), 2) == 4.21
    assert _counts(_values(out / "landuse_1930.tif")) == {
        1: 2109,
        2: 3866,
        3: 5897,
        4: 24886,
        5: 2581,
        6: 603,
        7: 58,
    }
    assert _counts(_values(out / "landuse_1990.tif"))[1] == 4503
    # The background is a palette GIF whose indices are not its gray levels.
    background = _values(out / "background.tif")
    assert (background == 0).sum() == 2581
    assert background[background > 0].min() == 115 and background.max() == 223
    with _read(INPUT / "demo200.hillshade.water.gif") as ds:
        assert not np.array_equal(ds.read(1), background)
    with _read(out / "urban_1990.tif") as ds:
        assert ds.crs is None and ds.dtypes == ("uint8",) and ds.nodata is None
        assert tuple(ds.transform)[:6] == (1.0, 0.0, 0.0, 0.0, -1.0, 200.0)
        assert ds.tags()["SLEUTH_FILE"] == "demo200.urban.1990.gif"


def test_demo_rasters_reproduce_base_statistics(demo: dict[str, Any]) -> None:
    """SLEUTH's own base statistics (pop, mean centre, mean slope) from the imported layers."""
    out = demo["test"][0].out_dir
    slope = _values(out / "slope.tif")
    lines = (DEMO / "reference-output" / "base_statistics.txt").read_text().splitlines()
    rows = [ln.replace("(", " ").replace(")", " ").replace(",", " ").split() for ln in lines[2:]]
    assert len(rows) == 4
    for row in rows:
        # year, area, edges, clusters, pop, xmean, ymean, radius, slope, cluster size
        year = int(row[0])
        pop, xmean, ymean, avg_slope = (float(row[i]) for i in (4, 5, 6, 8))
        urban = _values(out / f"urban_{year}.tif") > 0
        r, c = np.nonzero(urban)
        assert urban.sum() == pop
        assert (round(c.mean(), 2), round(r.mean(), 2)) == (xmean, ymean)
        assert round(float(slope[urban].mean()), 2) == avg_slope


def test_demo_imported_provenance(demo: dict[str, Any]) -> None:
    r, s = demo["test"]
    src = SCENARIOS / "scenario.demo200_test"
    imp = s.imported
    assert imp["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest() == r.source_sha256
    assert imp["source"] == "scenario.demo200_test" and imp["mode"] == "test"
    assert imp["files"]["urban_1930.tif"] == "demo200.urban.1930.gif"
    assert imp["files"]["background.tif"] == "demo200.hillshade.water.gif"
    unused = imp["unused_sleuth_keys"]
    assert unused["OUTPUT_DIR"] == "../Output/demo200_test/"
    assert unused["ECHO(YES/NO)"] == "yes"
    assert len(unused["PROBABILITY_COLOR"]) == 7
    # In test mode the prediction keys are not used; the calibration ranges are.
    assert "PREDICTION_BREED_BEST_FIT" in unused and "CALIBRATION_BREED_START" not in unused
    assert "URBAN_DATA" not in unused and "BUST" not in unused
    assert r.files == sorted(p.name for p in r.out_dir.iterdir())


def test_parse_scenario_file() -> None:
    v = parse_scenario_file(SCENARIOS / "scenario.demo200_test")
    assert v["ECHO(YES/NO)"] == "yes"
    assert v["URBAN_DATA"] == [f"demo200.urban.{y}.gif" for y in (1930, 1950, 1970, 1990)]
    assert "LANDUSE_DATA" not in v  # commented out
    assert v["DATE_COLOR"] == "0XFFFFFF"  # the trailing comment is gone
    assert v["CALIBRATION_SPREAD_START"] == "10"
    assert len(v["LANDUSE_CLASS"]) == 8 and len(v["DELTATRON_COLOR"]) == 6


def test_read_gif_gray_refuses_colour_gifs() -> None:
    with pytest.raises(InputError) as e:
        read_gif_gray(INPUT / "demo200.actlanduse1930.gif")
    msg = str(e.value)
    assert "demo200.actlanduse1930.gif" in msg and "SLEUTH refuses these too" in msg
    assert "convert it to grayscale" in msg and "\n" not in msg


# --------------------------------------------------------------------------- small sets


def write_gif(
    path: Path, gray: np.ndarray, palette: dict[int, tuple[int, ...]] | None = None
) -> None:
    """A GIF (GDAL writes GIF only by copying) whose index i is gray 255 - i by default."""
    import rasterio
    import rasterio.shutil
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    gray = np.asarray(gray, dtype=np.uint8)
    if palette is None:
        palette = {i: (255 - i, 255 - i, 255 - i, 255) for i in range(256)}
        index = (255 - gray).astype(np.uint8)
    else:
        index = gray
    h, w = gray.shape
    with warnings.catch_warnings(), MemoryFile() as mem:
        # The GIF, like SLEUTH's, has no georeferencing; rasterio warns about that.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(driver="GTiff", width=w, height=h, count=1, dtype="uint8") as ds:
            ds.write(index, 1)
            ds.write_colormap(1, palette)
        with mem.open() as src:
            rasterio.shutil.copy(src, path, driver="GIF")


SHAPE = (6, 8)
URBAN_YEARS = (2000, 2005, 2010, 2015)


class SleuthSet:
    """A tiny SLEUTH data set: scenarios/scenario.demo_x and input/*.gif."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.input = root / "input"
        self.input.mkdir(parents=True)
        (root / "scenarios").mkdir()
        rows, cols = SHAPE
        for k, year in enumerate(URBAN_YEARS):
            urban = np.zeros(SHAPE, np.uint8)
            urban[2:4, 2 : 3 + k] = 255
            write_gif(self.input / f"demo.urban.{year}.gif", urban)
        for year in (2000, 2010):
            roads = np.zeros(SHAPE, np.uint8)
            roads[:, 5] = 255 if year == 2000 else 128
            write_gif(self.input / f"demo.roads.{year}.gif", roads)
        excluded = np.zeros(SHAPE, np.uint8)
        excluded[0, :] = 100
        write_gif(self.input / "demo.excluded.gif", excluded)
        write_gif(self.input / "demo.slope.gif", np.arange(rows * cols).reshape(SHAPE) % 30)
        self.keys: dict[str, Any] = {
            "INPUT_DIR": "../input/",
            "OUTPUT_DIR": "../Output/demo/",
            "ECHO(YES/NO)": "yes",
            "RANDOM_SEED": "7",
            "MONTE_CARLO_ITERATIONS": "3",
            "PREDICTION_START_DATE": "2015",
            "PREDICTION_STOP_DATE": "2030",
            "URBAN_DATA": [f"demo.urban.{y}.gif" for y in URBAN_YEARS],
            "ROAD_DATA": ["demo.roads.2000.gif", "demo.roads.2010.gif"],
            "EXCLUDED_DATA": "demo.excluded.gif",
            "SLOPE_DATA": "demo.slope.gif",
            "ROAD_GRAV_SENSITIVITY": "0.01",
            "SLOPE_SENSITIVITY": "0.1",
            "CRITICAL_LOW": "0.97",
            "CRITICAL_HIGH": "1.3",
            "CRITICAL_SLOPE": "21.0",
            "BOOM": "1.01",
            "BUST": "0.9",
        }
        for c, (start, fit) in {
            "DIFFUSION": (10, 2),
            "BREED": (20, 5),
            "SPREAD": (30, 20),
            "SLOPE": (40, 51),
            "ROAD": (50, 5),
        }.items():
            self.keys[f"CALIBRATION_{c}_START"] = str(start)
            self.keys[f"CALIBRATION_{c}_STEP"] = "25"
            self.keys[f"CALIBRATION_{c}_STOP"] = "100"
            self.keys[f"PREDICTION_{c}_BEST_FIT"] = str(fit)

    @property
    def scenario(self) -> Path:
        return self.root / "scenarios" / "scenario.demo_x"

    def write(self) -> Path:
        lines = ["# a small SLEUTH scenario", ""]
        for k, v in self.keys.items():
            for item in v if isinstance(v, list) else [v]:
                lines.append(f"{k}= {item}  # comment")
        self.scenario.write_text("\n".join(lines) + "\n", encoding="ascii")
        return self.scenario


@pytest.fixture
def small(tmp_path: Path) -> SleuthSet:
    return SleuthSet(tmp_path / "sleuth")


def test_small_set_imports(small: SleuthSet, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = import_sleuth(small.write(), out, mode="calibrate")
    s = load_sleuth(r.scenario)
    assert s.name == "demo_x" and r.shape == SHAPE
    assert (s.simulation.seed, s.simulation.members) == (7, 3)
    assert s.calibration is not None and s.calibration.spread.values() == [30, 55, 80]
    assert s.coefficients is not None and s.coefficients.as_tuple() == (10, 20, 30, 40, 50)
    # Gray levels, not palette indices (the palette maps index i to 255 - i).
    assert _counts(_values(out / "urban_2000.tif")) == {0: 46, 255: 2}
    assert _counts(_values(out / "roads_2010.tif")) == {0: 42, 128: 6}
    assert _counts(_values(out / "excluded.tif")) == {0: 40, 100: 8}
    assert r.quirks == []  # a clean set has nothing to report
    assert partial_dirs(tmp_path) == []


def test_predict_needs_one_urban_year(small: SleuthSet, tmp_path: Path) -> None:
    small.keys["URBAN_DATA"] = ["demo.urban.2015.gif"]
    r = import_sleuth(small.write(), tmp_path / "out", mode="predict")
    s = load_sleuth(r.scenario)
    assert (s.simulation.start_year, s.simulation.end_year) == (2015, 2030)
    assert s.coefficients is not None and s.coefficients.as_tuple() == (2, 5, 20, 51, 5)


def test_quirks_are_carried_over_and_reported(small: SleuthSet, tmp_path: Path) -> None:
    excluded = np.full(SHAPE, 1, np.uint8)
    excluded[0, :3] = 150
    write_gif(small.input / "demo.excluded.gif", excluded)
    small.keys["BUST"] = "0.05"
    small.keys["CALIBRATION_BREED_START"] = "0"
    small.keys["CALIBRATION_ROAD_STOP"] = "20"  # below START: no [calibration] in test mode
    small.keys["CALIBRATION_SPREAD_START"] = "12.7"
    small.write()
    with small.scenario.open("a") as f:
        f.write("RANDOM_SEED=9\nthis line has no equals sign\n")
    r = import_sleuth(small.scenario, tmp_path / "out", mode="test")
    s = load_sleuth(r.scenario)
    text = "\n".join(r.quirks)
    assert "3 cells are above 100 (up to 150)" in text and "reads them as 100" in text
    assert "rejects 2 %" in text  # the lowest value is 1, not 0
    assert "BUST = 0.05" in text and "0.5 was probably meant" in text
    assert "CALIBRATION_BREED_START" in text and "as 1" in text
    assert "[calibration] not imported" in text and "CALIBRATION_ROAD_STOP" in text
    assert "12.7" in text and "runs 12" in text
    assert "RANDOM_SEED is given 2 times" in text and "without '='" in text
    assert _counts(_values(r.out_dir / "excluded.tif")) == {1: 45, 150: 3}
    assert s.self_modification.bust == 0.05
    assert s.simulation.seed == 9 and s.calibration is None
    assert s.coefficients is not None and s.coefficients.as_tuple() == (10, 0, 12, 40, 50)


def test_sleuth_folder_layouts(small: SleuthSet, tmp_path: Path) -> None:
    """SLEUTH's own layout (Scenarios/, Input/<name>/, run from bin/), and GIFs beside it."""
    sleuth = tmp_path / "SLEUTH"
    (sleuth / "Input").mkdir(parents=True)
    small.input.rename(sleuth / "Input" / "demo")
    (sleuth / "Scenarios").mkdir()
    small.keys["INPUT_DIR"] = "../Input/demo/"
    small.write().rename(sleuth / "Scenarios" / "scenario.demo_x")
    r = import_sleuth(sleuth / "Scenarios" / "scenario.demo_x", tmp_path / "a")
    assert r.input_dir == (sleuth / "Input" / "demo").resolve()
    # Everything in one folder, INPUT_DIR pointing nowhere useful: the own folder is tried.
    flat = tmp_path / "flat"
    (sleuth / "Input" / "demo").rename(flat)
    (sleuth / "Scenarios" / "scenario.demo_x").rename(flat / "scenario.demo_x")
    r = import_sleuth(flat / "scenario.demo_x", tmp_path / "b")
    assert r.input_dir == flat.resolve()


def test_earlier_import_needs_overwrite(small: SleuthSet, tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_sleuth(small.write(), out)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(OutputError, match=r"already holds an import.*--overwrite"):
        import_sleuth(small.scenario, out)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # With --overwrite a year no longer listed goes too: the folder never mixes imports.
    small.keys["URBAN_DATA"] = small.keys["URBAN_DATA"][:3]
    r = import_sleuth(small.write(), out, overwrite=True)
    assert not (out / "urban_2015.tif").exists() and (out / "urban_2010.tif").exists()
    assert sorted(load_sleuth(r.scenario).inputs.urban) == [2000, 2005, 2010]
    assert partial_dirs(tmp_path) == []


# --------------------------------------------------------------------------- bad input


def _drop(key: str) -> Callable[[SleuthSet], None]:
    return lambda s: s.keys.pop(key)


def _set(key: str, value: Any) -> Callable[[SleuthSet], None]:
    return lambda s: s.keys.__setitem__(key, value)


def _colour_slope(s: SleuthSet) -> None:
    palette = {i: (i, i, i, 255) for i in range(256)}
    palette[3] = (200, 30, 30, 255)
    write_gif(s.input / "demo.slope.gif", np.full(SHAPE, 3, np.uint8), palette)


def _small_roads(s: SleuthSet) -> None:
    write_gif(s.input / "demo.roads.2010.gif", np.zeros((5, 8), np.uint8))


def _truncate(s: SleuthSet) -> None:
    p = s.input / "demo.urban.2010.gif"
    p.write_bytes(p.read_bytes()[:40])


def _text_as_gif(s: SleuthSet) -> None:
    (s.input / "demo.excluded.gif").write_text("not an image\n")


def _move_inputs(s: SleuthSet) -> None:
    s.input.rename(s.root / "elsewhere")
    s.keys["INPUT_DIR"] = "../nowhere/"


BAD: list[tuple[str, Callable[[SleuthSet], None], str, type[LandsimError], list[str]]] = [
    ("missing key", _drop("EXCLUDED_DATA"), "test", ScenarioError, ["EXCLUDED_DATA", "missing"]),
    (
        "lower-case key",
        lambda s: s.keys.__setitem__("slope_data", s.keys.pop("SLOPE_DATA")),
        "test",
        ScenarioError,
        ["SLOPE_DATA", "upper case"],
    ),
    (
        "missing self-modification key",
        _drop("CRITICAL_SLOPE"),
        "predict",
        ScenarioError,
        ["CRITICAL_SLOPE", "missing"],
    ),
    (
        "missing GIF",
        _set("URBAN_DATA", ["demo.urban.2000.gif", "demo.urban.2005.typo.gif"]),
        "test",
        InputError,
        ["URBAN_DATA", "demo.urban.2005.typo.gif", "not found"],
    ),
    ("no input folder", _move_inputs, "test", InputError, ["INPUT_DIR", "nowhere", "tried"]),
    (
        "colour palette",
        _colour_slope,
        "test",
        InputError,
        ["SLOPE_DATA", "demo.slope.gif", "(200, 30, 30)", "convert it to grayscale"],
    ),
    (
        "layer size",
        _small_roads,
        "test",
        GridMismatchError,
        ["ROAD_DATA", "demo.roads.2010.gif", "5 × 8", "expected 6 × 8"],
    ),
    (
        "2 urban years to calibrate",
        _set("URBAN_DATA", ["demo.urban.2000.gif", "demo.urban.2010.gif"]),
        "calibrate",
        ScenarioError,
        ["calibrate mode needs at least 3 urban years", "URBAN_DATA has 2"],
    ),
    (
        "1 urban year to test",
        _set("URBAN_DATA", ["demo.urban.2000.gif"]),
        "test",
        ScenarioError,
        ["test mode needs at least 2 urban years"],
    ),
    (
        "coefficient above 100",
        _set("CALIBRATION_SPREAD_START", "120"),
        "test",
        ScenarioError,
        ["CALIBRATION_SPREAD_START = 120", "0–100"],
    ),
    (
        "negative best fit",
        _set("PREDICTION_BREED_BEST_FIT", "-5"),
        "predict",
        ScenarioError,
        ["PREDICTION_BREED_BEST_FIT = -5", "0–100"],
    ),
    (
        "reversed range",
        _set("CALIBRATION_ROAD_STOP", "20"),
        "calibrate",
        ScenarioError,
        ["CALIBRATION_ROAD_STOP (20)", "START <= STOP"],
    ),
    (
        "not a number",
        _set("MONTE_CARLO_ITERATIONS", "many"),
        "test",
        ScenarioError,
        ["MONTE_CARLO_ITERATIONS", "'many'"],
    ),
    (
        "stop before start",
        _set("PREDICTION_STOP_DATE", "2010"),
        "predict",
        ScenarioError,
        ["PREDICTION_STOP_DATE (2010)", "PREDICTION_START_DATE (2015)"],
    ),
    (
        "no year in a name",
        _set("URBAN_DATA", ["demo.urban.2000.gif", "demo.urban.gif"]),
        "test",
        ScenarioError,
        ["URBAN_DATA", "'demo.urban.gif'", "no year"],
    ),
    (
        "two files for a year",
        _set("ROAD_DATA", ["demo.roads.2000.gif", "demo.roads.2000.gif"]),
        "test",
        ScenarioError,
        ["ROAD_DATA", "two files for 2000"],
    ),
    (
        "corrupt GIF",
        _truncate,
        "test",
        InputError,
        ["URBAN_DATA", "demo.urban.2010.gif", "corrupt"],
    ),
    ("not a GIF", _text_as_gif, "test", InputError, ["EXCLUDED_DATA", "demo.excluded.gif"]),
]


@pytest.mark.parametrize(
    ("change", "mode", "error", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD],
)
def test_bad_input_is_one_clear_line(
    small: SleuthSet,
    tmp_path: Path,
    change: Callable[[SleuthSet], None],
    mode: str,
    error: type[LandsimError],
    words: list[str],
) -> None:
    change(small)
    out = tmp_path / "out"
    with pytest.raises(error) as e:
        import_sleuth(small.write(), out, mode=mode)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    if isinstance(e.value, ScenarioError) and "scenario.demo_x" not in msg:
        pytest.fail(f"the message does not name the scenario file: {msg}")
    assert not out.exists() and partial_dirs(tmp_path) == []


def test_missing_scenario_file_and_bad_mode(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="SLEUTH scenario file not found"):
        import_sleuth(tmp_path / "scenario.nope", tmp_path / "out")
    with pytest.raises(ScenarioError, match="'simulate' is not one of"):
        import_sleuth(SCENARIOS / "scenario.demo200_test", tmp_path / "out", mode="simulate")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- CLI


def test_cli_imports_and_reports(runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "imported"
    r = invoke(
        runner,
        "import-sleuth",
        SCENARIOS / "scenario.demo200_predict",
        "-o",
        out,
        "--mode",
        "predict",
    )
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "grid         200 × 200 cells (rows × cols), no CRS, 1-unit cells" in lines
    assert "years        1990 → 2010, 10 members, seed 1" in lines
    assert "coefficients diffusion 2, breed 5, spread 20, slope_resistance 51, road_gravity 5" in (
        lines
    )
    assert "             landuse_1990.tif" in lines
    notes = [ln for ln in lines if ln.startswith("note: ")]
    assert len(notes) == 2 and notes[0].startswith("note: BUST = 0.09")
    assert load_sleuth(out / "scenario.toml").simulation.mode == "predict"
    # Again without --overwrite: refused, exit 1, one line, the import untouched.
    again = invoke(runner, "import-sleuth", SCENARIOS / "scenario.demo200_predict", "-o", out)
    assert again.exit_code == 1
    assert again.stderr.startswith("error: output folder") and again.stderr.count("\n") == 1
    assert "Traceback" not in again.output
    assert load_sleuth(out / "scenario.toml").simulation.mode == "predict"
    ok = invoke(
        runner, "import-sleuth", SCENARIOS / "scenario.demo200_test", "-o", out, "--overwrite"
    )
    assert ok.exit_code == 0, ok.output
    assert load_sleuth(out / "scenario.toml").simulation.mode == "test"
    assert not (out / "landuse_1990.tif").exists()


def test_cli_errors_exit_codes(runner: Any, small: SleuthSet, tmp_path: Path) -> None:
    small.keys["CALIBRATION_SPREAD_START"] = "120"
    out = tmp_path / "out"
    r = invoke(runner, "import-sleuth", small.write(), "-o", out)
    assert r.exit_code == 2  # a scenario error
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert "CALIBRATION_SPREAD_START = 120" in r.stderr
    small.keys["CALIBRATION_SPREAD_START"] = "30"
    _colour_slope(small)
    r = invoke(runner, "import-sleuth", small.write(), "-o", out)
    assert r.exit_code == 1  # an input error
    assert "demo.slope.gif" in r.stderr and r.stderr.count("\n") == 1
    r = invoke(runner, "import-sleuth", small.scenario, "-o", out, "--mode", "forecast")
    assert r.exit_code == 2 and "forecast" in r.stderr  # click's own usage error
    assert not out.exists() and partial_dirs(tmp_path) == []


def test_console_script_end_to_end(small: SleuthSet, tmp_path: Path) -> None:
    """`landsim import-sleuth` as a user types it: an import, then a mistake."""
    exe = landsim_exe()
    out = tmp_path / "from-shell"
    run = [exe, "import-sleuth", str(small.write()), "-o", str(out), "--mode", "calibrate"]
    proc = subprocess.run(run, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "calibration  diffusion 10–100 step 25" in proc.stdout
    assert (out / "scenario.toml").is_file()
    _truncate(small)
    bad = tmp_path / "bad-out"
    run = [exe, "import-sleuth", str(small.scenario), "-o", str(bad)]
    proc = subprocess.run(run, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "demo.urban.2010.gif" in proc.stderr
    assert not bad.exists() and partial_dirs(tmp_path) == []
