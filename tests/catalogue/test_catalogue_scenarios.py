"""The catalogue of bad scenario files, each refused by every command that reads one.

Every case is a scenario file a user could write by mistake (a file cut short, a
Latin-1 file, a typo, years in the wrong order, a class that is not in the class table,
an ``extends`` loop, a raster that is not there, ...). It is given to each entry point
that reads a scenario:

- ``landsim run SCENARIO -o OUT``
- ``landsim validate SCENARIO``
- ``landsim check SCENARIO --point X Y``
- ``landsim calibrate SCENARIO --observed MAP -o OUT --trials 1 --seeds 1 --workers 1``
  (the tiny grid's own land-use map as the observed map: every refusal here happens
  before the observed map matters)
- ``landsim run SCENARIO --dry-run -o OUT``

and must be refused the same way (``_refusal.refuses``): one ``error:`` line naming what
is wrong, where (the file and the ``[key.path]``) and how to fix it; exit code 2 for a
scenario error (1 for an input file the scenario points at); no traceback; nothing
written; the inputs unchanged. Where an entry point does not refuse a case, the pair is
a strict xfail that says why (``Case.gaps``); none is left today.

The one positive case: a scenario in a folder named ``武汉情景`` with Chinese class
names, file names and scenario name runs, validates and answers ``check``.

``test_catalogue_size`` comes last and states how many refusals the module checked.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _landsim_kit import (
    CLASSES,
    CORE,
    DELETE,
    LAYER_FILES,
    TinyGrid,
    cell_centre,
    make_tiny_grid,
    to_toml,
)
from _refusal import COUNT, refuses

ENTRIES = ("run", "validate", "check", "calibrate", "dry-run")
LOADING = ENTRIES  # refused while the scenario file is read: every entry point
SITE = cell_centre(*CORE)  # the urban core of the tiny grid, inside the boundary

# --------------------------------------------------------------------------- the rasters


@pytest.fixture(scope="module")
def rasters(tmp_path_factory: pytest.TempPathFactory) -> TinyGrid:
    """The tiny synthetic rasters, written once: every case only reads them."""
    return make_tiny_grid(tmp_path_factory.mktemp("catalogue") / "rasters")


# --------------------------------------------------------------------------- builders
# A builder writes one bad scenario into ``folder`` (the rasters are elsewhere, named by
# absolute paths) and returns the file to give to landsim.


Build = Callable[[TinyGrid, Path], Path]


def _overrides(overrides: dict[str, Any]) -> Build:
    def build(tiny: TinyGrid, folder: Path) -> Path:
        return tiny.scenario(overrides, folder=folder)

    return build


def _valid_text(tiny: TinyGrid, folder: Path) -> str:
    return tiny.scenario(folder=folder).read_text(encoding="utf-8")


def _bytes(make: Callable[[str], bytes]) -> Build:
    """A file whose bytes are made from the text of a valid scenario."""

    def build(tiny: TinyGrid, folder: Path) -> Path:
        path = folder / "scenario.toml"
        data = make(_valid_text(tiny, folder))
        path.write_bytes(data)
        return path

    return build


def _cut_after(marker: str, extra: int) -> Callable[[str], bytes]:
    """The text cut ``extra`` characters after ``marker`` begins (a file cut short)."""

    def make(text: str) -> bytes:
        return text[: text.index(marker) + extra].encode("utf-8")

    return make


def _latin1(text: str) -> bytes:
    # The scenario's description written by an editor set to Latin-1 (ü is 0xfc).
    text = text.replace(
        'name = "synthetic-tiny"', 'name = "synthetic-tiny"\ndescription = "Zürich"'
    )
    return text.encode("latin-1")


def _garbage(_: str) -> bytes:
    return random.Random(20240601).randbytes(4096)


def _png(_: str) -> bytes:
    # An image saved under the scenario's name.
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def _population(rate: dict[int, float] | None = None, **population: float) -> dict[str, Any]:
    """Population-driven demand; ``y2030=1.1e6`` is the population of 2030."""
    return {
        "demand": {
            "method": "population",
            "unit": DELETE,
            "urban": DELETE,
            "population": {int(y[1:]): v for y, v in population.items()},
            "urbanization_rate": rate or {2020: 0.60, 2030: 0.65},
            "urban_land_per_capita_m2": 100.0,
        }
    }


def _classes(**changes: dict[str, Any]) -> dict[str, Any]:
    """The class table with some entries changed (by class name)."""
    return {"classes": [{**c, **changes.get(c["name"], {})} for c in CLASSES]}


def _extends_loop(tiny: TinyGrid, folder: Path) -> Path:
    base = tiny.scenario(folder=folder, filename="a.toml")
    text = base.read_text(encoding="utf-8")
    base.write_text('extends = "b.toml"\n' + text, encoding="utf-8")
    (folder / "b.toml").write_text('extends = "a.toml"\nname = "b"\n', encoding="utf-8")
    return base


def _extends_missing(tiny: TinyGrid, folder: Path) -> Path:
    path = folder / "variant.toml"
    path.write_text('extends = "wuhan-base.toml"\nname = "variant"\n', encoding="utf-8")
    return path


def _extends_bad_variant(tiny: TinyGrid, folder: Path) -> Path:
    """The error is in the variant's key: the line names the variant, not the base."""
    tiny.scenario(folder=folder, filename="base.toml")
    path = folder / "variant.toml"
    path.write_text(
        'extends = "base.toml"\nname = "variant"\n[simulation]\nend_year = 2015\n',
        encoding="utf-8",
    )
    return path


def _sleuth(tiny: TinyGrid, folder: Path) -> Path:
    """A valid SLEUTH-kind scenario (landsim run runs it; the others do not take it)."""
    from landsim.scenario import load_sleuth

    lu = tiny.paths["landuse"]
    path = folder / "democity.toml"
    path.write_text(
        to_toml(
            {
                "schema_version": 1,
                "name": "democity",
                "model": {"kind": "sleuth"},
                "simulation": {"mode": "test", "seed": 5, "members": 2},
                "inputs": {
                    "urban": {2000: str(lu), 2010: str(lu)},
                    "roads": {2000: str(tiny.paths["udb"])},
                    "excluded": str(tiny.paths["water"]),
                    "slope": str(tiny.paths["slope"]),
                },
                "coefficients": {
                    "diffusion": 50,
                    "breed": 50,
                    "spread": 50,
                    "slope_resistance": 30,
                    "road_gravity": 50,
                },
            }
        ),
        encoding="utf-8",
    )
    load_sleuth(path)  # the case is a good SLEUTH scenario, only given to the wrong command
    return path


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Case:
    build: Build
    needles: tuple[str, ...]  # what, where ([key.path]) and how to fix, each in the line
    file: str | None = "scenario.toml"  # the file the line names (None: named in needles)
    code: int = 2
    entries: tuple[str, ...] = LOADING
    # Entry points that do not refuse the case (yet): strict xfail, with the reason.
    gaps: tuple[tuple[str, str], ...] = ()


CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- the file itself
    "truncated-mid-table-header": Case(
        _bytes(_cut_after("[constraints.water]", 8)),
        ("not valid TOML", "end of document", "cut short"),
    ),
    "truncated-mid-value": Case(
        _bytes(_cut_after("urban = {", 14)), ("not valid TOML", "end of document", "cut short")
    ),
    "truncated-at-a-line-in-the-class-table": Case(
        # Cut at the end of a line: valid TOML that lost the urban class and every table
        # after it.
        _bytes(_cut_after('role = "forest"', 16)),
        ("[classes] exactly one class must have role 'urban' (found 0)", "(and 2 more problems)"),
    ),
    "latin-1-bytes": Case(
        _bytes(_latin1), ("not valid TOML", "not UTF-8", "0xfc", "line 3", "save it as UTF-8")
    ),
    "utf-16-text": Case(
        _bytes(lambda t: t.encode("utf-16")), ("not UTF-8", "line 1", "save it as UTF-8")
    ),
    "utf-16-without-bom": Case(
        _bytes(lambda t: t.encode("utf-16-le")),
        ("NUL bytes (line 1)", "UTF-16", "save it as UTF-8"),
    ),
    "gbk-chinese-text": Case(
        _bytes(lambda t: t.replace("synthetic-tiny", "武汉 2035").encode("gbk")),
        ("not UTF-8", "save it as UTF-8"),
    ),
    "binary-garbage": Case(_bytes(_garbage), ("not UTF-8", "save it as UTF-8")),
    "an-image-saved-as-toml": Case(_bytes(_png), ("not UTF-8", "0x89", "line 1")),
    "nul-bytes": Case(
        _bytes(lambda _: b"\x00" * 64), ("not valid TOML", "NUL bytes (line 1)", "save it as UTF-8")
    ),
    "empty-file": Case(
        _bytes(lambda _: b""), ("the scenario file is empty", "schema_version", "docs/scenario.md")
    ),
    "comments-only": Case(
        _bytes(lambda _: b"# scenario to be written\n\n"), ("the scenario file is empty",)
    ),
    "duplicate-key": Case(
        _bytes(lambda t: t.replace("name =", 'name = "again"\nname =').encode()),
        ("not valid TOML", "Cannot overwrite a value", "line 3"),
    ),
    "arrays-nested-too-deeply": Case(
        _bytes(lambda t: (t + "junk = " + "[" * 2000 + "]" * 2000 + "\n").encode()),
        ("not valid TOML", "nested too deeply"),
    ),
    "integer-of-5000-digits": Case(
        _bytes(lambda t: t.replace("seed = 7", "seed = " + "9" * 5000).encode()),
        ("not valid TOML", "thousands of digits"),
    ),
    # ---------------------------------------------------------------- keys and types
    "unknown-key-with-suggestion": Case(
        _overrides({"simulation": {"seed": DELETE, "sed": 7}}),
        ("[simulation.sed] unknown key", "did you mean 'seed'?", "allowed here:"),
    ),
    "unknown-top-level-key": Case(
        _overrides({"nmae": "x"}), ("[nmae] unknown key", "did you mean 'name'?")
    ),
    "missing-table": Case(_overrides({"demand": DELETE}), ("[demand] is required but missing",)),
    "schema-version-2": Case(
        _overrides({"schema_version": 2}), ("[schema_version] 2 is not allowed", "choose one of: 1")
    ),
    "string-for-int": Case(
        _overrides({"simulation": {"end_year": "2030"}}),
        ("[simulation.end_year]", "should be a valid integer", "'2030'"),
    ),
    "bool-for-seed": Case(
        _overrides({"simulation": {"seed": True}}),
        ("[simulation.seed]", "should be a valid integer", "True"),
    ),
    "float-for-int": Case(
        _overrides({"model": {"neighborhood_radius": 1.5}}),
        ("[model.neighborhood_radius]", "should be a valid integer"),
    ),
    "negative-seed": Case(
        _overrides({"simulation": {"seed": -1}}),
        ("[simulation.seed]", "greater than or equal to 0"),
    ),
    "zero-members": Case(
        _overrides({"simulation": {"members": 0}}),
        ("[simulation.members]", "greater than or equal to 1"),
    ),
    "nan-intercept": Case(
        _overrides({"suitability": {"intercept": float("nan")}}),
        ("[suitability.intercept]", "finite number"),
    ),
    "inf-coefficient": Case(
        _overrides({"suitability": {"coefficients": {"slope": float("-inf")}}}),
        ("[suitability.coefficients.slope]", "finite number"),
    ),
    "unknown-demand-method": Case(
        _overrides({"demand": {"method": "gdp"}}),
        ("[demand.method] 'gdp' is not allowed", "'targets'", "'population'"),
    ),
    "unknown-constraint-rule": Case(
        _overrides({"constraints": {"water": {"rule": "forbidden"}}}),
        ("[constraints.water.rule] 'forbidden' is not allowed", "no_construction"),
    ),
    "coefficient-for-unknown-driver": Case(
        _overrides({"suitability": {"coefficients": {"slope": DELETE, "slop": -0.1}}}),
        ("[suitability.coefficients]", "driver 'slop'", "drivers: slope"),
    ),
    "nul-character-in-a-path": Case(
        _overrides({"inputs": {"landuse": "land\x00use.tif"}}),
        ("[inputs.landuse]", "NUL character", "give a file path"),
    ),
    # ---------------------------------------------------------------- years
    "end-before-start": Case(
        _overrides({"simulation": {"end_year": 2015, "output_years": DELETE}}),
        ("[simulation]", "end_year (2015) must be after start_year (2020)"),
    ),
    "output-year-outside": Case(
        _overrides({"simulation": {"output_years": [2025, 2035]}}),
        ("[simulation]", "output year 2035 is outside start_year..end_year (2020..2030)"),
    ),
    "output-year-before-start": Case(
        _overrides({"simulation": {"output_years": [2019, 2030]}}),
        ("[simulation]", "output year 2019 is outside"),
    ),
    "output-years-not-increasing": Case(
        _overrides({"simulation": {"output_years": [2030, 2025]}}),
        ("[simulation]", "output_years must be increasing, without repeats"),
    ),
    "output-years-repeated": Case(
        _overrides({"simulation": {"output_years": [2025, 2025, 2030]}}),
        ("output_years must be increasing, without repeats",),
    ),
    "rule-year-outside-the-run": Case(
        _overrides(
            {"rules": [{"where": "urban_development_boundary", "allow": False, "to_year": 2040}]}
        ),
        ("[rules[0].to_year] 2040 is outside the simulated years 2020..2030",),
    ),
    # ---------------------------------------------------------------- demand
    "negative-population": Case(
        _overrides(_population(y2020=-1.0e6, y2030=1.1e6)),
        ("[demand.population.2020]", "greater than 0", "-1000000.0"),
    ),
    "absurd-population": Case(
        _overrides(_population(y2020=1.0e6, y2030=1.3e13)),
        ("[demand.population.2030]", "less than or equal to 10000000000", "13000000000000.0"),
    ),
    "infinite-population": Case(
        _overrides(_population(y2020=1.0e6, y2030=float("inf"))),
        ("[demand.population.2030]", "finite number"),
    ),
    "urbanization-rate-in-percent": Case(
        _overrides(_population({2020: 60.0, 2030: 65.0}, y2020=1.0e6, y2030=1.1e6)),
        ("[demand.urbanization_rate.2020]", "less than or equal to 1"),
    ),
    "population-at-one-year": Case(
        _overrides(_population(y2030=1.1e6)),
        ("[demand]", "'population' needs values at two or more years"),
    ),
    "infinite-target": Case(
        _overrides({"demand": {"urban": {2020: 33, 2030: float("inf")}}}),
        ("[demand.urban.2030]", "finite number"),
    ),
    # ---------------------------------------------------------------- the class table
    "rule-from-missing-class": Case(
        _overrides(
            {
                "rules": [
                    {"where": "urban_development_boundary", "from": ["orchard"], "allow": False}
                ]
            }
        ),
        ("[rules[0].from] 'orchard' is neither a class name nor a role", "classes: cropland"),
    ),
    "neighborhood-weight-for-missing-class": Case(
        _overrides({"model": {"neighborhood_weights": {"urban": 1.0, "orchard": 0.5}}}),
        ("[model.neighborhood_weights] names class 'orchard'", "classes: cropland"),
    ),
    "plan-limit-for-missing-class": Case(
        _overrides({"plan": {"class_area_limits_km2": {"orchard": {"max": 1.0}}}}),
        ("[plan.class_area_limits_km2] names class 'orchard'", "classes: cropland"),
    ),
    "plan-area-for-missing-layer": Case(
        _overrides({"plan": {"line_areas_km2": {"green_line": 1.0}}}),
        ("[plan.line_areas_km2] names 'green_line'", "layers: "),
    ),
    "duplicate-class-codes": Case(
        _overrides(_classes(forest={"code": 1})),
        ("[classes]", "class codes must be unique; repeated: [1]"),
    ),
    "duplicate-class-names": Case(
        _overrides(_classes(forest={"name": "cropland"})),
        ("[classes]", "class names must be unique; repeated: ['cropland']"),
    ),
    "two-urban-classes": Case(
        _overrides(_classes(forest={"role": "urban"})),
        ("[classes]", "exactly one class must have role 'urban' (found 2)"),
    ),
    "no-urban-class": Case(
        _overrides(_classes(urban={"role": "construction"})),
        ("[classes]", "exactly one class must have role 'urban' (found 0)"),
    ),
    "class-code-255": Case(
        _overrides(_classes(water={"code": 255})),
        ("[classes[2].code]", "less than or equal to 254"),
    ),
    "bad-colour-name": Case(
        _overrides(_classes(urban={"color": "red"})),
        ("[classes[3].color]", "color must be '#rrggbb', got 'red'"),
    ),
    "bad-colour-short": Case(
        _overrides(_classes(cropland={"color": "#f5e07"})),
        ("[classes[0].color]", "'#rrggbb'"),
    ),
    # ---------------------------------------------------------------- the name
    "name-with-slash": Case(
        _overrides({"name": "wuhan/2035"}),
        ("[name] name 'wuhan/2035' must be usable as a folder name", "no path separators"),
    ),
    "name-with-backslash": Case(
        _overrides({"name": "..\\runs"}), ("[name]", "must be usable as a folder name")
    ),
    "name-dot-dot": Case(_overrides({"name": ".."}), ("[name]", "not '.' or '..'")),
    "name-with-newline": Case(
        _overrides({"name": "wuhan\n2035"}), ("[name]", "'wuhan\\n2035'", "control characters")
    ),
    # ---------------------------------------------------------------- extends
    "extends-loop": Case(
        _extends_loop,
        ("[extends] loops back on itself", "a.toml -> b.toml -> a.toml", "break the loop"),
        file="b.toml",
    ),
    "extends-missing-base": Case(
        _extends_missing,
        ("[extends] file not found", "wuhan-base.toml", "paths are relative to variant.toml"),
        file="variant.toml",
    ),
    "extends-error-in-the-variant": Case(
        _extends_bad_variant,
        ("[simulation]", "end_year (2015) must be after start_year (2020)"),
        file="variant.toml",
    ),
    # ---------------------------------------------------------------- paths to inputs
    "missing-planning-raster": Case(
        _overrides({"constraints": {"permanent_basic_farmland": {"path": "pbf_2035.tif"}}}),
        ("[constraints.permanent_basic_farmland.path]", "file not found", "pbf_2035.tif"),
        file=None,
        code=1,
    ),
    "missing-landuse-raster": Case(
        _overrides({"inputs": {"landuse": "landuse_2020.tif"}}),
        ("[inputs.landuse]", "file not found", "landuse_2020.tif"),
        file=None,
        code=1,
    ),
    "landuse-path-is-a-folder": Case(
        _overrides({"inputs": {"landuse": "."}}),
        ("[inputs.landuse]", "is a directory", "give a raster file"),
        file=None,
        code=1,
    ),
    "planning-path-is-a-folder": Case(
        _overrides({"constraints": {"water": {"path": "."}}}),
        ("[constraints.water.path]", "is a directory", "give a raster file"),
        file=None,
        code=1,
    ),
    # ---------------------------------------------------------------- the other model
    "sleuth-kind-scenario": Case(
        _sleuth,
        ('SLEUTH-kind scenario ([model] kind = "sleuth")', "`landsim run` runs it"),
        file="democity.toml",
        entries=("validate", "check", "calibrate"),
    ),
}


def _args(entry: str, scenario: Path, out: Path, tiny: TinyGrid) -> list[Any]:
    return {
        "run": ["run", scenario, "-o", out],
        "validate": ["validate", scenario],
        "check": ["check", scenario, "--point", *SITE],
        "calibrate": [
            "calibrate",
            scenario,
            "--observed",
            tiny.paths["landuse"],
            "-o",
            out,
            "--trials",
            1,
            "--seeds",
            1,
            "--workers",
            1,
        ],
        "dry-run": ["run", scenario, "--dry-run", "-o", out],
    }[entry]


def _params() -> list[Any]:
    out = []
    for name, case in CASES.items():
        gaps = dict(case.gaps)
        for entry in case.entries:
            marks = [pytest.mark.xfail(strict=True, reason=gaps[entry])] if entry in gaps else []
            out.append(pytest.param(name, entry, id=f"{name}-{entry}", marks=marks))
    return out


PARAMS = _params()
EXPECTED = sum(1 for p in PARAMS if not p.marks)
_REFUSED: dict[str, list[str]] = {e: [] for e in ENTRIES}


@pytest.mark.parametrize(("name", "entry"), PARAMS)
def test_bad_scenario_is_refused(name: str, entry: str, rasters: TinyGrid, tmp_path: Path) -> None:
    case = CASES[name]
    folder = tmp_path / "scenario"
    folder.mkdir()
    scenario = case.build(rasters, folder)
    out = tmp_path / "out"
    err = refuses(
        _args(entry, scenario, out, rasters),
        *case.needles,
        code=case.code,
        outputs=[out],
        inputs=[folder, rasters.folder],
    )
    if case.file is not None:
        assert case.file in err, f"the line does not name {case.file}: {err}"
    _REFUSED[entry].append(name)


# --------------------------------------------------------------------------- Unicode works


CHINESE = {"cropland": "耕地", "forest": "林地", "water": "水域", "urban": "城镇用地"}
CHINESE_FILES = {
    "landuse": "土地利用_2020.tif",
    "udb": "城镇开发边界.tif",
    "pbf": "永久基本农田.tif",
    "erl": "生态保护红线.tif",
    "water": "水域.tif",
    "slope": "坡度.tif",
}


def test_chinese_folder_file_and_class_names_run_end_to_end(
    rasters: TinyGrid, tmp_path: Path
) -> None:
    """A scenario in 武汉情景/ with Chinese file, class and scenario names works through
    run, validate, check and the dry run; the names reach the outputs intact."""
    from click.testing import CliRunner

    from landsim.cli.main import main

    folder = tmp_path / "武汉情景"
    folder.mkdir()
    for key, fname in CHINESE_FILES.items():
        shutil.copyfile(rasters.folder / LAYER_FILES[key], folder / fname)
    data = rasters.scenario_dict(
        {
            "name": "武汉-2035-规划情景",
            "description": "城镇开发边界内增长",
            "classes": _classes(**{k: {"name": v} for k, v in CHINESE.items()})["classes"],
            "inputs": {"landuse": CHINESE_FILES["landuse"], "drivers": {"slope": "坡度.tif"}},
            "constraints": {
                "urban_development_boundary": {"path": CHINESE_FILES["udb"]},
                "permanent_basic_farmland": {"path": CHINESE_FILES["pbf"]},
                "ecological_red_line": {"path": CHINESE_FILES["erl"]},
                "water": {"path": CHINESE_FILES["water"]},
            },
            "rules": [{"where": "urban_development_boundary", "from": ["林地"], "allow": False}],
            "model": {"neighborhood_weights": {"城镇用地": 1.0, "耕地": 0.1}},
            "plan": {"class_area_limits_km2": {"耕地": {"min": 0.1}}},
        }
    )
    scenario = folder / "武汉情景.toml"
    scenario.write_text(to_toml(data), encoding="utf-8")
    out = tmp_path / "输出" / "武汉"
    runner = CliRunner()

    def ok(*args: Any) -> Any:
        r = runner.invoke(main, [str(a) for a in args], catch_exceptions=True)
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        assert r.exit_code == 0, r.output
        assert "error:" not in r.stderr and "Traceback" not in r.output
        return r

    r = ok("validate", scenario)
    assert "valid" in r.stdout and "武汉-2035-规划情景" in r.stdout
    r = ok("run", scenario, "--dry-run", "-o", out)
    assert "武汉-2035-规划情景" in r.stdout and not out.exists()
    r = ok("run", scenario, "-o", out)
    assert "武汉-2035-规划情景" in r.stdout
    summary = (out / "summary.csv").read_text(encoding="utf-8")
    for name in CHINESE.values():
        assert name in summary
    provenance = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["scenario"] == "武汉-2035-规划情景"
    assert (out / "landuse_2030.tif").is_file() and (out / "urban_year.tif").is_file()
    r = ok("check", scenario, "--point", *SITE, "--run", out, "--json")
    answer = json.loads(r.stdout)
    assert answer["scenario"] == "武汉-2035-规划情景"
    assert answer["landuse_at_start"] == {"城镇用地": 1}
    assert answer["lines"]["urban_development_boundary"]["cells_inside"] == 1


# --------------------------------------------------------------------------- the count


def test_catalogue_size(request: pytest.FixtureRequest) -> None:
    """Every refusal of this module ran and passed: the catalogue's size, per entry point.

    Runs last (file order). When only part of the module was selected (``-k``), there is
    nothing to count.
    """
    here = request.node.module.__name__
    selected = [
        i
        for i in request.session.items
        if i.module.__name__ == here and i.originalname == "test_bad_scenario_is_refused"
    ]
    if len(selected) != len(PARAMS):
        pytest.skip("only part of the catalogue was selected")
    per_entry = {e: len(names) for e, names in _REFUSED.items()}
    line = ", ".join(f"{e} {n}" for e, n in per_entry.items())
    print(f"catalogue: {len(CASES)} bad scenario files, {EXPECTED} refusals ({line})")
    request.node.user_properties.append(("refusals", per_entry))
    assert sum(per_entry.values()) >= EXPECTED
    # The figures this catalogue was written with; adding a case only raises them.
    assert len(CASES) >= CATALOGUE_CASES
    assert COUNT["refusals"] >= CATALOGUE_REFUSALS
    for entry, n in CATALOGUE_PER_ENTRY.items():
        assert per_entry[entry] >= n, entry


CATALOGUE_CASES = 65
CATALOGUE_REFUSALS = 319
CATALOGUE_PER_ENTRY = {"run": 64, "validate": 65, "check": 65, "calibrate": 65, "dry-run": 64}
