"""Scenario files: strict keys, key paths in errors, extends, path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from _synthetic import CLASSES, scenario_text

from landsim.errors import ScenarioError
from landsim.scenario import load

MINIMAL = (
    """schema_version = 1
name = "minimal"
[simulation]
start_year = 2020
end_year = 2030
"""
    + CLASSES
    + """
[inputs]
landuse = "lu.tif"
[demand]
method = "targets"
unit = "cells"
urban = { 2020 = 10, 2030 = 20 }
"""
)


def _write(folder: Path, text: str, name: str = "s.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


def _error(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load(path)
    msg = str(info.value)
    assert "\n" not in msg, "errors are one line"
    return msg


def test_minimal_scenario_loads_with_defaults(tmp_path: Path) -> None:
    """A minimal file loads; omitted tables take their documented defaults."""
    s = load(_write(tmp_path, MINIMAL))
    assert s.simulation.map_years == [2030]
    assert s.model.neighborhood_radius == 1
    assert s.suitability.method == "uniform"
    assert s.inputs.landuse == (tmp_path / "lu.tif").resolve()
    assert s.urban_class.name == "urban"


def test_full_synthetic_scenario_loads(tmp_path: Path) -> None:
    """The test scenario loads, and named planning layers get their default rules."""
    s = load(_write(tmp_path, scenario_text(observed_urban=10)))
    rules = {k: v.rule for k, v in s.constraints.items()}
    assert rules == {
        "urban_development_boundary": "construction_inside_only",
        "permanent_basic_farmland": "no_construction",
        "ecological_red_line": "no_change",
        "water": "no_change",
    }


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "end_year = 2030",
            "end_yeer = 2030",
            "[simulation.end_yeer] unknown key; did you mean 'end_year'?",
        ),
        ("[inputs]", "[inputs]\nlanduze = 'x.tif'", "did you mean 'landuse'?"),
        ("start_year = 2020", "start_year = 'soon'", "[simulation.start_year]"),
        ("end_year = 2030", "end_year = 2010", "must be after start_year"),
        ('unit = "cells"', 'unit = "acres"', "[demand.unit] 'acres' is not allowed"),
        ('method = "targets"', 'method = "magic"', "[demand.method] 'magic' is not allowed"),
        ("code = 1\n", "code = 300\n", "[classes[0].code]"),
        ('role = "water"', 'role = "urban"', "exactly one class must have role 'urban'"),
        ('name = "forest"', 'name = "cropland"', "class names must be unique"),
        ("schema_version = 1", "schema_version = 2", "[schema_version]"),
    ],
)
def test_key_errors_name_the_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    """Unknown keys, wrong types and values out of range name the key path."""
    assert old in MINIMAL
    msg = _error(_write(tmp_path, MINIMAL.replace(old, new, 1)))
    assert expected in msg
    assert str(tmp_path / "s.toml") in msg


def test_constraint_rule_errors(tmp_path: Path) -> None:
    """A user-named layer needs a rule; an unknown rule lists the allowed ones."""
    text = MINIMAL + '[constraints.my_zone]\npath = "z.tif"\n'
    assert "needs a 'rule'" in _error(_write(tmp_path, text))
    text = MINIMAL + '[constraints.my_zone]\npath = "z.tif"\nrule = "forbidden"\n'
    msg = _error(_write(tmp_path, text))
    assert "[constraints.my_zone.rule] 'forbidden' is not allowed" in msg
    assert "no_construction" in msg


def test_population_demand_checks(tmp_path: Path) -> None:
    """Urbanisation rates are fractions; a percentage is refused with the key."""
    text = MINIMAL.replace(
        'method = "targets"\nunit = "cells"\nurban = { 2020 = 10, 2030 = 20 }',
        'method = "population"\npopulation = { 2020 = 1e6, 2030 = 1.1e6 }\n'
        "urbanization_rate = { 2020 = 54.27, 2030 = 0.7 }\nurban_land_per_capita_m2 = 100",
    )
    assert "[demand.urbanization_rate.2020]" in _error(_write(tmp_path, text))


def test_invalid_toml_shows_the_line(tmp_path: Path) -> None:
    """A TOML syntax error says where."""
    msg = _error(_write(tmp_path, MINIMAL + "oops = = 3\n"))
    assert "not valid TOML" in msg and "line" in msg


def test_not_utf8(tmp_path: Path) -> None:
    """A file that is not UTF-8 text is refused, not a crash."""
    p = tmp_path / "s.toml"
    p.write_bytes(b"name = '\xff\xfe'\n")
    assert "not valid TOML" in _error(p)


def test_missing_scenario_file(tmp_path: Path) -> None:
    """A scenario path that does not exist is one line."""
    assert "scenario file not found" in _error(tmp_path / "nope.toml")


def test_extends_inherits_and_resolves_paths_against_the_base(tmp_path: Path) -> None:
    """A variant in another folder overrides a few keys; the base's paths stay the base's."""
    base = _write(tmp_path / "base", MINIMAL + '[constraints.water]\npath = "water.tif"\n')
    variant = _write(
        tmp_path / "variants",
        'extends = "../base/s.toml"\nname = "variant"\n[simulation]\nseed = 9\n'
        "[constraints.water]\nenforce = false\n"
        '[constraints.udb]\npath = "udb.tif"\nrule = "construction_inside_only"\n',
        "v.toml",
    )
    s = load(variant)
    assert s.name == "variant"
    assert s.simulation.seed == 9
    assert s.simulation.end_year == 2030
    assert s.inputs.landuse == (base.parent / "lu.tif").resolve()
    assert s.constraints["water"].path == (base.parent / "water.tif").resolve()
    assert s.constraints["water"].enforce is False
    assert s.constraints["udb"].path == (variant.parent / "udb.tif").resolve()


def test_extends_error_names_the_file_that_set_the_key(tmp_path: Path) -> None:
    """An error in a key set by the variant names the variant file."""
    _write(tmp_path, MINIMAL, "base.toml")
    v = _write(tmp_path, 'extends = "base.toml"\n[model]\nneighborhood_radius = 0\n', "v.toml")
    msg = _error(v)
    assert "[model.neighborhood_radius]" in msg
    assert msg.startswith(str(v))


@pytest.mark.parametrize("chain", [["a"], ["a", "b"], ["a", "b", "c"]])
def test_extends_loop_is_refused(tmp_path: Path, chain: list[str]) -> None:
    """a → a, a → b → a and longer loops are refused and shown."""
    for i, name in enumerate(chain):
        nxt = chain[(i + 1) % len(chain)]
        _write(tmp_path, f'extends = "{nxt}.toml"\n', f"{name}.toml")
    msg = _error(tmp_path / "a.toml")
    assert "loops back" in msg and "a.toml -> " in msg


def test_extends_missing_base(tmp_path: Path) -> None:
    """A base that does not exist is named."""
    msg = _error(_write(tmp_path, 'extends = "gone.toml"\n'))
    assert "[extends] file not found" in msg and "gone.toml" in msg
