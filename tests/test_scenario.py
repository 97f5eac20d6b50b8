"""Scenario files: loading, every kind of key error, ``extends``, bad TOML text.

Each error must be one ``ScenarioError`` whose message names the file and the key path
in brackets (``[simulation.end_year]``), and for a misspelt key, the close match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _landsim_kit import CLASSES, DELETE, URBAN, TinyGrid, invoke

from landsim.errors import LandsimError, ScenarioError
from landsim.scenario import load, loads
from landsim.scenario.schema import DEFAULT_RULES


def _error(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load(path)
    msg = str(info.value)
    assert "\n" not in msg, f"message is not one line: {msg!r}"
    return msg


def _population(**kw: Any) -> dict[str, Any]:
    demand: dict[str, Any] = {
        "method": "population",
        "unit": DELETE,
        "urban": DELETE,
        "population": {2020: 1.0e6, 2030: 1.1e6},
        "urbanization_rate": {2020: 0.60, 2030: 0.65},
        "urban_land_per_capita_m2": 100.0,
    }
    demand.update(kw)
    return {"demand": demand}


# --------------------------------------------------------------------------- valid


def test_valid_scenario_loads(tiny_grid: TinyGrid) -> None:
    path = tiny_grid.scenario()
    s = load(path)
    assert s.name == "synthetic-tiny"
    assert s.source == path.resolve()
    assert s.simulation.years == list(range(2020, 2031))
    assert s.simulation.map_years == [2025, 2030]
    assert s.simulation.seed == 7
    assert [c.code for c in s.classes] == [1, 2, 3, 4]
    assert s.urban_class.code == URBAN
    # Paths are resolved relative to the scenario file and made absolute.
    assert s.inputs.landuse == tiny_grid.paths["landuse"].resolve()
    assert s.inputs.driver_specs()["slope"].path == tiny_grid.paths["slope"].resolve()
    assert s.constraints["water"].path == tiny_grid.paths["water"].resolve()
    # The planning lines the scenario names get their default rules.
    for name, rule in DEFAULT_RULES.items():
        if name in s.constraints:
            assert s.constraints[name].rule == rule
    assert {"urban_development_boundary", "permanent_basic_farmland"} <= set(s.constraints)
    assert s.demand.urban == {2020: tiny_grid.urban_cells, 2030: tiny_grid.urban_cells + 60}


def test_scenario_loads_from_another_working_directory(
    tiny_grid: TinyGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative paths follow the scenario file, not the current directory."""
    path = tiny_grid.scenario()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rel = Path("..") / "inputs" / "scenario.toml"
    assert load(rel).inputs.landuse == tiny_grid.paths["landuse"].resolve()
    assert load(rel).source == path.resolve()


def test_loads_text_with_base_dir(tiny_grid: TinyGrid) -> None:
    text = tiny_grid.scenario().read_text(encoding="utf-8")
    s = loads(text, base_dir=tiny_grid.folder)
    assert s.inputs.landuse == tiny_grid.paths["landuse"].resolve()
    with pytest.raises(ScenarioError, match=r"\[simulation\.seed\]"):
        loads(text.replace("seed = 7", "seed = -7"), base_dir=tiny_grid.folder)


def test_user_named_constraint_with_a_rule_loads(tiny_grid: TinyGrid) -> None:
    s = load(
        tiny_grid.scenario(
            {"constraints": {"flood_zone": {"path": "water.tif", "rule": "factor", "factor": 0.5}}}
        )
    )
    assert s.constraints["flood_zone"].rule == "factor"
    assert s.constraints["flood_zone"].factor == 0.5


def test_population_demand_loads(tiny_grid: TinyGrid) -> None:
    s = load(tiny_grid.scenario(_population()))
    assert s.demand.method == "population"
    assert s.demand.urbanization_rate == {2020: 0.60, 2030: 0.65}


# --------------------------------------------------------------------------- unknown keys

MISSPELT = [
    ({"simulation": {"end_yeer": 2030, "end_year": DELETE}}, "simulation.end_yeer", "end_year"),
    ({"simulaton": {"seed": 3}}, "simulaton", "simulation"),
    ({"model": {"neighbourhood_radius": 2}}, "model.neighbourhood_radius", "neighborhood_radius"),
    ({"model": {"random_factr": 0.3}}, "model.random_factr", "random_factor"),
    (
        {"constraints": {"water": {"pth": "water.tif", "path": DELETE}}},
        "constraints.water.pth",
        "path",
    ),
    ({"constraints": {"water": {"insde": [1]}}}, "constraints.water.insde", "inside"),
    ({"demand": {"unti": "cells", "unit": DELETE}}, "demand.unti", "unit"),
    ({"suitability": {"intercep": 1.0, "intercept": DELETE}}, "suitability.intercep", "intercept"),
    ({"inputs": {"landuze": "x.tif", "landuse": DELETE}}, "inputs.landuze", "landuse"),
    (
        {"classes": [{**CLASSES[0], "rol": "cropland", "role": DELETE}, *CLASSES[1:]]},
        "classes[0].rol",
        "role",
    ),
    ({"output": {"compres": "lzw"}}, "output.compres", "compress"),
]


@pytest.mark.parametrize(("overrides", "key", "suggestion"), MISSPELT, ids=[m[1] for m in MISSPELT])
def test_misspelt_key_names_path_and_suggests(
    tiny_grid: TinyGrid, overrides: dict[str, Any], key: str, suggestion: str
) -> None:
    path = tiny_grid.scenario(overrides)
    msg = _error(path)
    assert str(path) in msg
    assert f"[{key}]" in msg
    assert "unknown key" in msg
    assert f"did you mean '{suggestion}'" in msg


def test_unknown_key_without_close_match_lists_allowed_keys(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"model": {"zzz": 1}}))
    assert "[model.zzz] unknown key" in msg
    assert "did you mean" not in msg
    assert "neighborhood_radius" in msg  # the allowed keys are listed


def test_missing_required_key(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"simulation": {"start_year": DELETE}}))
    assert "[simulation.start_year]" in msg and "missing" in msg
    msg = _error(tiny_grid.scenario({"inputs": {"landuse": DELETE}}))
    assert "[inputs.landuse]" in msg and "missing" in msg


# --------------------------------------------------------------------------- types, ranges

WRONG_TYPES = [
    ({"simulation": {"seed": "abc"}}, "simulation.seed"),
    ({"simulation": {"end_year": 2030.5}}, "simulation.end_year"),
    ({"model": {"neighborhood_radius": "two"}}, "model.neighborhood_radius"),
    ({"model": {"random_factor": [1]}}, "model.random_factor"),
    ({"constraints": {"water": {"inside": "1"}}}, "constraints.water.inside"),
    ({"constraints": {"water": {"path": 5}}}, "constraints.water.path"),
    ({"classes": [{**CLASSES[0], "code": "cropland"}, *CLASSES[1:]]}, "classes[0].code"),
    ({"output": {"geotiff": "maybe"}}, "output.geotiff"),
    ({"simulation": 5}, "simulation"),
    ({"classes": "cropland"}, "classes"),
]


@pytest.mark.parametrize(("overrides", "key"), WRONG_TYPES, ids=[w[1] for w in WRONG_TYPES])
def test_wrong_type_names_key(tiny_grid: TinyGrid, overrides: dict[str, Any], key: str) -> None:
    path = tiny_grid.scenario(overrides)
    msg = _error(path)
    assert str(path) in msg
    assert f"[{key}]" in msg


OUT_OF_RANGE = [
    ({"simulation": {"seed": -1}}, "simulation.seed", "greater than or equal to 0"),
    ({"simulation": {"seed": 2**63}}, "simulation.seed", "less than or equal to"),
    (
        {"model": {"neighborhood_radius": 0}},
        "model.neighborhood_radius",
        ">= 1|greater than or equal to 1",
    ),
    (
        {"model": {"neighborhood_radius": 11}},
        "model.neighborhood_radius",
        "less than or equal to 10",
    ),
    ({"model": {"random_factor": -0.5}}, "model.random_factor", "greater than or equal to 0"),
    ({"model": {"neighborhood_floor": 2}}, "model.neighborhood_floor", "less than or equal to 1"),
    (
        _population(urbanization_rate={2020: 0.6, 2030: 1.5}),
        "demand.urbanization_rate.2030",
        "less than or equal to 1",
    ),
    (
        {"classes": [*CLASSES[:3], {**CLASSES[3], "code": 300}]},
        "classes[3].code",
        "less than or equal to 254",
    ),
    (
        {"classes": [*CLASSES[:3], {**CLASSES[3], "code": -1}]},
        "classes[3].code",
        "greater than or equal to 0",
    ),
    ({"classes": [*CLASSES[:3], {**CLASSES[3], "color": "red"}]}, "classes[3].color", "#rrggbb"),
    (
        {"demand": {"urban": {2020: -5, 2030: 10}}},
        "demand.urban.2020",
        "greater than or equal to 0",
    ),
    ({"simulation": {"start_year": 999}}, "simulation.start_year", "greater than or equal to 1000"),
    (
        {"constraints": {"flood": {"path": "water.tif", "rule": "factor", "factor": 1.5}}},
        "constraints.flood.factor",
        "less than or equal to 1",
    ),
    ({"demand": {"unit": "acres"}}, "demand.unit", "'km2', 'ha' or 'cells'"),
    ({"demand": {"method": "magic"}}, "demand.method", "targets"),
    ({"schema_version": 2}, "schema_version", "1"),
    ({"name": ""}, "name", "at least 1 character"),
]


@pytest.mark.parametrize(
    ("overrides", "key", "detail"),
    OUT_OF_RANGE,
    ids=[o[1] + "-" + str(i) for i, o in enumerate(OUT_OF_RANGE)],
)
def test_out_of_range_names_key(
    tiny_grid: TinyGrid, overrides: dict[str, Any], key: str, detail: str
) -> None:
    import re

    msg = _error(tiny_grid.scenario(overrides))
    assert f"[{key}]" in msg
    assert re.search(detail, msg), msg


def test_end_year_before_start_year(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"simulation": {"end_year": 2020, "output_years": DELETE}}))
    assert "[simulation]" in msg and "end_year (2020) must be after start_year (2020)" in msg


def test_output_year_outside_the_run(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"simulation": {"output_years": [2025, 2035]}}))
    assert "[simulation" in msg and "2035" in msg and "2020..2030" in msg


def test_output_years_not_increasing(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"simulation": {"output_years": [2030, 2025]}}))
    assert "output_years must be increasing" in msg


def test_targets_need_two_years(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"demand": {"urban": {2030: 100}}}))
    assert "[demand.urban]" in msg and "two or more years" in msg


# --------------------------------------------------------------------------- class table


def test_duplicate_class_codes(tiny_grid: TinyGrid) -> None:
    classes = [*CLASSES[:3], {**CLASSES[3], "code": 3}]
    msg = _error(tiny_grid.scenario({"classes": classes}))
    assert "[classes]" in msg and "codes must be unique" in msg and "[3]" in msg


def test_duplicate_class_names(tiny_grid: TinyGrid) -> None:
    classes = [*CLASSES[:3], {**CLASSES[3], "name": "water"}]
    msg = _error(tiny_grid.scenario({"classes": classes}))
    assert "[classes]" in msg and "names must be unique" in msg and "water" in msg


def test_no_urban_class(tiny_grid: TinyGrid) -> None:
    classes = [*CLASSES[:3], {**CLASSES[3], "role": "construction"}]
    msg = _error(tiny_grid.scenario({"classes": classes}))
    assert "[classes]" in msg and "role 'urban'" in msg and "found 0" in msg


def test_two_urban_classes(tiny_grid: TinyGrid) -> None:
    classes = [*CLASSES, {"code": 5, "name": "town", "role": "urban"}]
    msg = _error(tiny_grid.scenario({"classes": classes}))
    assert "role 'urban'" in msg and "found 2" in msg


def test_unknown_role(tiny_grid: TinyGrid) -> None:
    classes = [*CLASSES[:3], {**CLASSES[3], "role": "city"}]
    msg = _error(tiny_grid.scenario({"classes": classes}))
    assert "[classes[3].role]" in msg and "'city'" in msg and "'urban'" in msg


def test_neighborhood_weight_for_unknown_class(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"model": {"neighborhood_weights": {"town": 1.0}}}))
    assert "[model.neighborhood_weights]" in msg and "'town'" in msg and "urban" in msg


def test_coefficient_for_unknown_driver(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"suitability": {"coefficients": {"elevation": 1.0}}}))
    assert "[suitability.coefficients]" in msg and "'elevation'" in msg and "slope" in msg


# --------------------------------------------------------------------------- constraints


def test_unknown_constraint_rule(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"constraints": {"water": {"rule": "no_swimming"}}}))
    assert "[constraints.water.rule]" in msg
    assert "'no_swimming'" in msg
    for rule in ("no_change", "no_construction", "construction_inside_only", "factor"):
        assert rule in msg


def test_user_named_constraint_without_rule(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario({"constraints": {"flood_zone": {"path": "water.tif"}}}))
    assert "[constraints]" in msg
    assert "'flood_zone' needs a 'rule'" in msg
    assert "no_construction" in msg  # the rules to choose from


def test_factor_rule_needs_factor(tiny_grid: TinyGrid) -> None:
    msg = _error(
        tiny_grid.scenario({"constraints": {"flood": {"path": "water.tif", "rule": "factor"}}})
    )
    assert "[constraints.flood]" in msg and "'factor'" in msg


def test_bad_constraint_name(tiny_grid: TinyGrid) -> None:
    msg = _error(
        tiny_grid.scenario(
            {"constraints": {"flood zone": {"path": "water.tif", "rule": "no_change"}}}
        )
    )
    assert "'flood zone'" in msg and "letters, digits" in msg


# --------------------------------------------------------------------------- extends


def _base_and_variants(tiny_grid: TinyGrid, tmp_path: Path) -> tuple[Path, Path]:
    base = tiny_grid.scenario(filename="base.toml")
    variants = tmp_path / "variants" / "deeper"
    variants.mkdir(parents=True)
    return base, variants


def test_extends_variant_in_another_folder(tiny_grid: TinyGrid, tmp_path: Path) -> None:
    base_path, variants = _base_and_variants(tiny_grid, tmp_path)
    (variants / "layers").mkdir()
    other_water = variants / "layers" / "water2.tif"
    other_water.write_bytes(tiny_grid.paths["water"].read_bytes())
    u0 = tiny_grid.urban_cells
    variant = variants / "seed99.toml"
    variant.write_text(
        f"""extends = "../../inputs/base.toml"
name = "synthetic-variant"

[simulation]
seed = 99

[demand]
urban = {{ 2020 = {u0}, 2030 = {u0 + 20} }}

[constraints.water]
path = "layers/water2.tif"

[constraints.ecological_red_line]
enforce = false
""",
        encoding="utf-8",
    )
    base, s = load(base_path), load(variant)
    # Overridden keys
    assert s.name == "synthetic-variant"
    assert s.simulation.seed == 99
    assert s.demand.urban == {2020: u0, 2030: u0 + 20}
    # The variant's own path resolves relative to the variant file ...
    assert s.constraints["water"].path == other_water.resolve()
    # ... a key merged into an inherited table keeps the base's other keys ...
    assert s.constraints["water"].inside == [1]
    assert s.constraints["ecological_red_line"].enforce is False
    assert s.constraints["ecological_red_line"].path == tiny_grid.paths["erl"].resolve()
    # ... and everything else is inherited, with base paths relative to the BASE file.
    assert s.inputs.landuse == tiny_grid.paths["landuse"].resolve()
    assert s.inputs.driver_specs()["slope"].path == tiny_grid.paths["slope"].resolve()
    assert (
        s.constraints["urban_development_boundary"]
        == base.constraints["urban_development_boundary"]
    )
    assert s.classes == base.classes
    assert s.suitability == base.suitability
    assert s.model == base.model
    assert s.simulation.start_year == 2020 and s.simulation.output_years == [2025, 2030]
    assert s.source == variant.resolve()


def test_extends_variant_runs_end_to_end(tiny_grid: TinyGrid, tmp_path: Path, runner: Any) -> None:
    """`landsim validate` on a variant in another folder finds the base's rasters."""
    _, variants = _base_and_variants(tiny_grid, tmp_path)
    variant = variants / "v.toml"
    variant.write_text('extends = "../../inputs/base.toml"\n[simulation]\nseed = 3\n', "utf-8")
    r = invoke(runner, "validate", variant)
    assert r.exit_code == 0, r.output
    assert "valid" in r.stdout


def test_extends_chain_of_three(tiny_grid: TinyGrid, tmp_path: Path) -> None:
    _, variants = _base_and_variants(tiny_grid, tmp_path)
    mid = variants / "mid.toml"
    mid.write_text('extends = "../../inputs/base.toml"\n[model]\nrandom_factor = 0.1\n', "utf-8")
    top = tmp_path / "top.toml"
    top.write_text('extends = "variants/deeper/mid.toml"\n[simulation]\nseed = 5\n', "utf-8")
    s = load(top)
    assert s.simulation.seed == 5
    assert s.model.random_factor == 0.1
    assert s.model.neighborhood_radius == 1
    assert s.inputs.landuse == tiny_grid.paths["landuse"].resolve()


def test_extends_error_names_the_file_that_states_the_key(
    tiny_grid: TinyGrid, tmp_path: Path
) -> None:
    """An error in the variant names the variant; one inherited from the base, the base."""
    _, variants = _base_and_variants(tiny_grid, tmp_path)
    variant = variants / "bad.toml"
    variant.write_text(
        'extends = "../../inputs/base.toml"\n[model]\nneighborhood_radius = 0\n', "utf-8"
    )
    msg = _error(variant)
    assert msg.startswith(str(variant.resolve())) and "[model.neighborhood_radius]" in msg

    bad_base = tiny_grid.scenario({"simulation": {"seed": -3}}, filename="bad_base.toml")
    variant2 = variants / "ok.toml"
    variant2.write_text('extends = "../../inputs/bad_base.toml"\nname = "v"\n', "utf-8")
    msg = _error(variant2)
    assert msg.startswith(str(bad_base.resolve())) and "[simulation.seed]" in msg


def test_extends_loop(tmp_path: Path) -> None:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('extends = "b.toml"\nname = "a"\n', "utf-8")
    b.write_text('extends = "a.toml"\nname = "b"\n', "utf-8")
    msg = _error(a)
    assert "[extends]" in msg and "loop" in msg
    assert "a.toml -> b.toml -> a.toml" in msg


def test_extends_self_loop(tmp_path: Path) -> None:
    a = tmp_path / "self.toml"
    a.write_text('extends = "self.toml"\nname = "a"\n', "utf-8")
    msg = _error(a)
    assert str(a) in msg and "[extends]" in msg and "loop" in msg
    assert "self.toml -> self.toml" in msg


def test_extends_self_loop_through_another_spelling(tmp_path: Path) -> None:
    """`./x.toml` and `../dir/x.toml` are the same file: still a loop, not a stack overflow."""
    d = tmp_path / "dir"
    d.mkdir()
    a = d / "x.toml"
    a.write_text('extends = "../dir/./x.toml"\n', "utf-8")
    msg = _error(a)
    assert "loop" in msg


def test_extends_missing_file(tmp_path: Path) -> None:
    a = tmp_path / "variant.toml"
    a.write_text('extends = "no_such_base.toml"\nname = "v"\n', "utf-8")
    msg = _error(a)
    assert str(a) in msg and "[extends]" in msg and "not found" in msg
    assert str(tmp_path / "no_such_base.toml") in msg


def test_extends_not_a_string(tmp_path: Path) -> None:
    a = tmp_path / "variant.toml"
    a.write_text("extends = 3\n", "utf-8")
    msg = _error(a)
    assert "[extends]" in msg and "string" in msg


def test_extends_in_text_is_refused() -> None:
    with pytest.raises(ScenarioError, match="'extends' needs a scenario file"):
        loads('extends = "base.toml"\n')


# --------------------------------------------------------------------------- the file itself


def test_invalid_toml_shows_the_line(tiny_grid: TinyGrid) -> None:
    path = tiny_grid.scenario()
    lines = path.read_text(encoding="utf-8").splitlines()
    n = lines.index("seed = 7")
    lines[n] = "seed = = 7"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    msg = _error(path)
    assert str(path) in msg and "not valid TOML" in msg
    assert f"line {n + 1}" in msg


def test_duplicate_key_in_toml_shows_the_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.toml"
    path.write_text('schema_version = 1\nname = "x"\nname = "y"\n', "utf-8")
    msg = _error(path)
    assert "not valid TOML" in msg and "line 3" in msg


def test_non_utf8_file(tmp_path: Path) -> None:
    """A file saved as GBK (common for Chinese text editors) says it is not UTF-8."""
    path = tmp_path / "gbk.toml"
    path.write_bytes('schema_version = 1\nname = "武汉 2035"\n'.encode("gbk"))
    msg = _error(path)
    assert str(path) in msg and "UTF-8" in msg


def test_utf16_file(tmp_path: Path) -> None:
    path = tmp_path / "utf16.toml"
    path.write_bytes('schema_version = 1\nname = "x"\n'.encode("utf-16"))
    msg = _error(path)
    assert "UTF-8" in msg


def test_utf8_bom_file_is_accepted_or_explained(tiny_grid: TinyGrid) -> None:
    path = tiny_grid.scenario()
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    try:
        load(path)
    except ScenarioError as exc:
        assert "BOM" in str(exc) or "byte-order mark" in str(exc), str(exc)


def test_missing_scenario_file(tmp_path: Path) -> None:
    msg = _error(tmp_path / "nope.toml")
    assert "nope.toml" in msg and "not found" in msg


def test_scenario_path_is_a_directory(tmp_path: Path) -> None:
    msg = _error(tmp_path)
    assert "directory" in msg


def test_errors_are_landsim_and_value_errors(tiny_grid: TinyGrid) -> None:
    """Callers may catch either the landsim root or the matching builtin."""
    path = tiny_grid.scenario({"simulation": {"seed": -1}})
    with pytest.raises(LandsimError):
        load(path)
    with pytest.raises(ValueError):
        load(path)
    assert ScenarioError.exit_code == 2


def test_cli_validate_scenario_error_exit_code(tiny_grid: TinyGrid, runner: Any) -> None:
    path = tiny_grid.scenario({"simulation": {"end_yeer": 2030, "end_year": DELETE}})
    r = invoke(runner, "validate", path)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ")
    assert len(r.stderr.strip().splitlines()) == 1
    assert "did you mean 'end_year'" in r.stderr
    assert "Traceback" not in r.output
    assert r.stdout == ""


# --------------------------------------------------------------------------- known gaps


@pytest.mark.parametrize(
    "overrides",
    [
        {"simulation": {"end_year": "2030"}},
        {"simulation": {"seed": True}},
        {"classes": [{**CLASSES[0], "code": "1"}, *CLASSES[1:]]},
    ],
    ids=["str-year", "bool-seed", "str-code"],
)
def test_wrong_scalar_type_is_not_coerced(tiny_grid: TinyGrid, overrides: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError):
        load(tiny_grid.scenario(overrides))


def test_misspelt_driver_spec_key(tiny_grid: TinyGrid) -> None:
    overrides = {"inputs": {"drivers": {"slope": {"path": "slope.tif", "scael": 2.0}}}}
    msg = _error(tiny_grid.scenario(overrides))
    assert "[inputs.drivers.slope.scael]" in msg and "did you mean 'scale'" in msg


def test_bad_driver_transform_names_the_key(tiny_grid: TinyGrid) -> None:
    overrides = {"inputs": {"drivers": {"slope": {"path": "slope.tif", "transform": "log"}}}}
    msg = _error(tiny_grid.scenario(overrides))
    assert "lax-or-strict" not in msg
    assert "[inputs.drivers.slope.transform]" in msg and "'log'" in msg


def test_per_capita_land_out_of_range_names_the_key(tiny_grid: TinyGrid) -> None:
    msg = _error(tiny_grid.scenario(_population(urban_land_per_capita_m2=0)))
    assert "[demand.urban_land_per_capita_m2]" in msg
    assert "greater than 0" in msg


def test_variant_can_switch_suitability_method(tiny_grid: TinyGrid, tmp_path: Path) -> None:
    tiny_grid.scenario(filename="base.toml")
    variant = tmp_path / "uniform.toml"
    variant.write_text('extends = "inputs/base.toml"\n[suitability]\nmethod = "uniform"\n', "utf-8")
    assert load(variant).suitability.method == "uniform"


def test_variant_can_switch_demand_method(tiny_grid: TinyGrid, tmp_path: Path) -> None:
    tiny_grid.scenario(filename="base.toml")
    variant = tmp_path / "pop.toml"
    variant.write_text(
        'extends = "inputs/base.toml"\n[demand]\nmethod = "population"\n'
        "population = { 2020 = 1e6, 2030 = 1.1e6 }\n"
        "urbanization_rate = { 2020 = 0.6, 2030 = 0.65 }\n"
        "urban_land_per_capita_m2 = 100.0\n",
        "utf-8",
    )
    assert load(variant).demand.method == "population"
