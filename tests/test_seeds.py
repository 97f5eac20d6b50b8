"""The planning indicators of the seed documents, and the scenarios that use them.

``seeds/hengyang.toml`` and ``seeds/zhangjiajie.toml`` hold the figures the two planning
documents state, one table per indicator, each with the line of the copied document and
the exact text it is read from (see ``seeds/README.md``). These tests check that

- every quote is on its line and holds the number the indicator gives (万, 亿 and % read
  as ×10⁴, ×10⁸ and ÷100), and the unit words fit the unit;
- derived indicators (km² from mu or ha) equal their source × factor, rounded;
- the seeds still give the figures ``../shared/guides/planning.md`` lists;
- the Hengyang and Zhangjiajie scenarios state the plan's figures: population and
  urbanisation rate at 2020 and 2035, and the ``[plan]`` table's cropland retention and
  line areas. Scenarios are read as raw TOML merged along ``extends`` (``_merged_toml``),
  so the check does not depend on the scenario schema.
"""

from __future__ import annotations

import re
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SCENARIOS = ROOT / "scenarios"
SHARED_SEEDS = ROOT.parent / "shared" / "seeds"

SEED_FILES = ("hengyang", "zhangjiajie")
UNITS = {"persons", "fraction", "km2", "mu", "count", "ha", "yuan"}
# km² per unit of a derived indicator's source: 1 mu = 666.67 m² (10000/15 m² rounded to
# 0.01 m²), 1 ha = 0.01 km² exactly.
# Exact: 1 mu = 10000/15 m², 1 ha = 10000 m².
KM2_PER_UNIT = {"mu": Fraction(1, 1500), "ha": Fraction(1, 100)}
# Words the quote (for km², also the next line: the plan breaks "1809.56 / 平方千米") must
# hold for a figure in that unit.
UNIT_WORDS = {
    "km2": ("平方千米", "平方公里"),
    "mu": ("亩",),
    "ha": ("公顷",),
    "fraction": ("%", "％"),
    "yuan": ("元",),
}

AREA_TOLERANCE_KM2 = 0.01


# --------------------------------------------------------------------------- reading


def _read_seed(name: str) -> dict[str, Any]:
    with (SEEDS / f"{name}.toml").open("rb") as f:
        return tomllib.load(f)


def _indicators(name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in _read_seed(name).items() if isinstance(v, dict)}


def _document_lines(name: str) -> list[str]:
    # Lines as an editor numbers them: split on "\n" only (str.splitlines also breaks on
    # form feeds and Unicode separators).
    doc = SEEDS / _read_seed(name)["document"]
    return doc.read_text(encoding="utf-8").split("\n")


INDICATORS = {name: _indicators(name) for name in SEED_FILES}
QUOTED = [
    pytest.param(name, key, id=f"{name}:{key}")
    for name, table in INDICATORS.items()
    for key, ind in table.items()
    if "derived_from" not in ind
]
DERIVED = [
    pytest.param(name, key, id=f"{name}:{key}")
    for name, table in INDICATORS.items()
    for key, ind in table.items()
    if "derived_from" in ind
]

_NUMBER = re.compile(
    r"(?P<a>[0-9]+(?:\.[0-9]+)?)"
    r"(?:\s*[-–~]\s*(?P<b>[0-9]+(?:\.[0-9]+)?))?"
    r"\s*(?P<mult>[万亿])?"
    r"\s*(?P<pct>[%％])?"
)
_MULTIPLIER = {"万": Decimal(10_000), "亿": Decimal(100_000_000), None: Decimal(1)}


def quoted_numbers(quote: str) -> list[Decimal]:
    """The number (or the two ends of a range) in ``quote``, scaled by 万/亿 and %."""
    matches = list(_NUMBER.finditer(quote))
    assert len(matches) == 1, f"quote {quote!r} must hold one number or one range"
    m = matches[0]
    scale = _MULTIPLIER[m["mult"]] / (100 if m["pct"] else 1)
    return [Decimal(x) * scale for x in (m["a"], m["b"]) if x is not None]


def _decimal(value: Any) -> Decimal:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return Decimal(str(value))


# --------------------------------------------------------------------------- documents


@pytest.mark.parametrize(
    ("name", "copy", "original"),
    [
        ("hengyang", "hengyang_plan_2021_2035.txt", "000_30a5c6e405d947fc.txt"),
        ("zhangjiajie", "zhangjiajie_plan_article.txt", "002_08315be7b713bb6a.txt"),
    ],
)
def test_seed_names_its_document(name: str, copy: str, original: str) -> None:
    seed = _read_seed(name)
    assert seed["document"] == copy
    assert seed["original"] == original
    assert (SEEDS / copy).is_file()
    # The copy equals the original where the shared folder is beside the project (CI).
    shared = SHARED_SEEDS / original
    assert not shared.is_file() or (SEEDS / copy).read_bytes() == shared.read_bytes(), (
        f"seeds/{copy} differs from ../shared/seeds/{original}"
    )


# --------------------------------------------------------------------------- indicators


@pytest.mark.parametrize("name", SEED_FILES)
def test_indicator_tables_are_well_formed(name: str) -> None:
    table = INDICATORS[name]
    assert table, f"seeds/{name}.toml has no indicators"
    for key, ind in table.items():
        assert ind.get("unit") in UNITS, f"{name}:{key}: unit {ind.get('unit')!r}"
        _decimal(ind.get("value"))
        assert isinstance(ind.get("note"), str) and ind["note"], f"{name}:{key}: no note"
        if "year" in ind:
            assert isinstance(ind["year"], int) and 2000 <= ind["year"] <= 2100, key
        assert ind.get("bound") in (None, "lower", "upper"), f"{name}:{key}: bound"
        if ind["unit"] == "fraction":
            assert 0 <= ind["value"] <= 1, f"{name}:{key}: a fraction, not a percentage"
        if "derived_from" in ind:
            assert "line" not in ind and "quote" not in ind, f"{name}:{key}: derived AND quoted"
            assert {"factor", "rounding"} <= ind.keys(), f"{name}:{key}: factor, rounding"
        else:
            assert isinstance(ind.get("line"), int), f"{name}:{key}: no line"
            assert isinstance(ind.get("quote"), str), f"{name}:{key}: no quote"


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        ("常住人口664.52万", ["6645200"]),
        ("地区生产总值3508.50亿元", ["350850000000"]),
        ("城镇化水平73.5%左右", ["0.735"]),
        ("耕地保有量525.81万亩", ["5258100"]),
        ("城镇人口：250-300万人", ["2500000", "3000000"]),
        ("划定为一級绿线，约15.73平方千米", ["15.73"]),
    ],
)
def test_quoted_numbers(quote: str, expected: list[str]) -> None:
    assert quoted_numbers(quote) == [Decimal(x) for x in expected]


def test_quoted_numbers_rejects_two_numbers() -> None:
    with pytest.raises(AssertionError, match="one number"):
        quoted_numbers("2035年全市常住人口680万人")


@pytest.mark.parametrize(("name", "key"), QUOTED)
def test_quote_is_on_its_line_and_gives_the_value(name: str, key: str) -> None:
    ind = INDICATORS[name][key]
    lines = _document_lines(name)
    line_no, quote = ind["line"], ind["quote"]
    assert 1 <= line_no <= len(lines), f"line {line_no} is not in the document"
    line = lines[line_no - 1]
    assert quote in line, f"line {line_no} does not hold {quote!r}: {line!r}"

    numbers = quoted_numbers(quote)
    if len(numbers) == 2:
        assert ind.get("bound") in ("lower", "upper"), f"{quote!r} is a range: say which end"
        stated = numbers[0] if ind["bound"] == "lower" else numbers[1]
    else:
        stated = numbers[0]
    assert _decimal(ind["value"]) == stated, f"{quote!r} states {stated}, value {ind['value']}"

    words = UNIT_WORDS.get(ind["unit"], ())
    if words:
        following = lines[line_no] if line_no < len(lines) else ""
        where = quote + (following if ind["unit"] == "km2" else "")
        assert any(w in where for w in words), f"{quote!r}: no {'/'.join(words)} for {ind['unit']}"


@pytest.mark.parametrize(("name", "key"), DERIVED)
def test_derived_indicator_is_source_times_factor(name: str, key: str) -> None:
    ind = INDICATORS[name][key]
    source = INDICATORS[name].get(ind["derived_from"])
    assert source is not None, f"{key}: derived_from {ind['derived_from']!r} is not in the seed"
    assert "derived_from" not in source, f"{key}: derive from a quoted indicator"
    assert ind["unit"] == "km2" and source["unit"] in KM2_PER_UNIT, (ind["unit"], source["unit"])
    assert Fraction(ind["factor"]) == KM2_PER_UNIT[source["unit"]], f"{key}: factor"
    assert ind.get("year") == source.get("year"), f"{key}: year differs from its source"
    product = Fraction(str(source["value"])) * KM2_PER_UNIT[source["unit"]]
    exact = Decimal(product.numerator) / Decimal(product.denominator)
    rounded = exact.quantize(Decimal(1).scaleb(-ind["rounding"]), rounding=ROUND_HALF_UP)
    assert _decimal(ind["value"]) == rounded, f"{key}: {source['value']} × factor = {exact}"


# The figures ../shared/guides/planning.md lists, as (value, tolerance): its km² from mu
# are rounded to 0.1 km². Every one must be in the seeds.
PLANNING_GUIDE = {
    "hengyang": {
        "total_area_km2": (15299.18, 0),
        "population_2020": (6_645_200, 0),
        "urbanization_rate_2020": (0.5427, 0),
        "central_city_population_2020": (1_290_700, 0),
        "central_city_urban_population_2020": (1_185_200, 0),
        "gdp_2020": (350_850_000_000, 0),
        "population_2035": (6_800_000, 0),
        "urbanization_rate_2035": (0.735, 0),
        "farmland_retention_mu": (5_258_100, 0),
        "farmland_retention_km2": (3505.4, 0.05),
        "permanent_basic_farmland_mu": (4_760_600, 0),
        "permanent_basic_farmland_km2": (3173.7, 0.05),
        "ecological_red_line_km2": (1809.56, 0),
        "urban_development_boundary_km2": (607.04, 0),
        "natural_and_public_welfare_forest_km2": (5006, 0),
        "metropolitan_area_km2": (2200, 0),
        "metropolitan_urban_population_min": (2_500_000, 0),
        "metropolitan_urban_population_max": (3_000_000, 0),
        "districts_farmland_retention_mu": (102_500, 0),
        "districts_farmland_retention_km2": (68.3, 0.05),
        "districts_permanent_basic_farmland_mu": (78_300, 0),
        "districts_permanent_basic_farmland_km2": (52.2, 0.05),
        "districts_ecological_red_line_km2": (4.59, 0),
        "districts_urban_development_boundary_km2": (244.32, 0),
        "central_city_blue_line_level1_km2": (19.42, 0),
        "central_city_blue_line_level2_km2": (0.71, 0),
        "central_city_green_line_level1_km2": (15.73, 0),
        "central_city_green_line_level2_km2": (2.52, 0),
        "central_city_purple_line_km2": (0.52, 0),
        "central_city_yellow_line_level1_km2": (2.81, 0),
        "central_city_yellow_line_level2_km2": (0.45, 0),
        "town_system_regional_centre_cities": (1, 0),
        "town_system_county_centre_cities": (8, 0),
        "town_system_key_towns": (34, 0),
        "town_system_general_towns": (74, 0),
    },
    "zhangjiajie": {
        "ecological_red_line_km2": (2964.15, 0),
        "ecological_red_line_share": (0.3109, 0),
        "plan_outputs_main_plan": (1, 0),
        "plan_outputs_information_platforms": (1, 0),
        "plan_outputs_topic_studies": (16, 0),
        "plan_outputs_special_plans": (34, 0),
        "village_plans_2021": (226, 0),
        "village_plans_2023": (866, 0),
        "land_use_plan_adjustment_city_ha": (194, 0),
        "land_use_plan_adjustment_townships_ha": (11, 0),
    },
}


@pytest.mark.parametrize("name", SEED_FILES)
def test_seeds_give_the_planning_guide_figures(name: str) -> None:
    table = INDICATORS[name]
    missing = sorted(PLANNING_GUIDE[name].keys() - table.keys())
    assert not missing, f"seeds/{name}.toml lacks {missing}"
    wrong = {
        key: (table[key]["value"], expected)
        for key, (expected, tol) in PLANNING_GUIDE[name].items()
        if abs(table[key]["value"] - expected) > tol + 1e-9
    }
    assert not wrong, f"seeds/{name}.toml differs from planning.md (seed, guide): {wrong}"


# --------------------------------------------------------------------------- scenarios


def _merged_toml(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A scenario file as raw TOML, merged along ``extends`` (base first, then the file).

    Tables merge key by key, anything else replaces; as in ``landsim.scenario.load``, a
    table that states another ``method``/``kind`` than the one it overrides replaces it.
    """
    path = path.resolve()
    assert path not in _chain, f"{path.name}: extends loops back on itself"
    data = tomllib.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    base_ref = data.pop("extends", None)
    if base_ref is None:
        return data
    assert isinstance(base_ref, str), f"{path.name}: extends must be a file name"
    base = _merged_toml(path.parent / base_ref, (*_chain, path))
    _deep_merge(base, data)
    return base


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    for k, v in over.items():
        old = base.get(k)
        switches = (
            isinstance(old, dict)
            and isinstance(v, dict)
            and any(kk in v and kk in old and v[kk] != old[kk] for kk in ("method", "kind"))
        )
        if isinstance(old, dict) and isinstance(v, dict) and not switches:
            _deep_merge(old, v)
        else:
            base[k] = v


_MISSING = object()


def _lookup(data: dict[str, Any], dotted: str, year: int | None) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    if year is not None:
        if not isinstance(node, dict):
            return _MISSING
        node = node.get(str(year), node.get(year, _MISSING))  # TOML keys are strings
    return node


# (scenario key, year or None, seed indicator, tolerance: 0 = exact)
HENGYANG_CHECKS = [
    ("demand.population", 2020, "population_2020", 0),
    ("demand.population", 2035, "population_2035", 0),
    ("demand.urbanization_rate", 2020, "urbanization_rate_2020", 0),
    ("demand.urbanization_rate", 2035, "urbanization_rate_2035", 0),
    ("plan.cropland_retention_km2", None, "farmland_retention_km2", AREA_TOLERANCE_KM2),
    (
        "plan.line_areas_km2.urban_development_boundary",
        None,
        "urban_development_boundary_km2",
        AREA_TOLERANCE_KM2,
    ),
    (
        "plan.line_areas_km2.permanent_basic_farmland",
        None,
        "permanent_basic_farmland_km2",
        AREA_TOLERANCE_KM2,
    ),
    (
        "plan.line_areas_km2.ecological_red_line",
        None,
        "ecological_red_line_km2",
        AREA_TOLERANCE_KM2,
    ),
]
ZHANGJIAJIE_CHECKS = [
    (
        "plan.line_areas_km2.ecological_red_line",
        None,
        "ecological_red_line_km2",
        AREA_TOLERANCE_KM2,
    ),
]


def _scenario_disagreements(
    files: list[Path], seed: str, checks: list[tuple[str, int | None, str, float]]
) -> list[str]:
    """What the scenario files state against the seed, and what none of them states.

    A scenario need not state every figure (a trend-demand variant states no population),
    but what it states must agree, and each figure must be stated by one scenario at least.
    """
    problems: list[str] = []
    stated = {(key, year): 0 for key, year, _, _ in checks}
    for path in files:
        data = _merged_toml(path)
        for key, year, indicator, tol in checks:
            got = _lookup(data, key, year)
            if got is _MISSING:
                continue
            stated[(key, year)] += 1
            want = INDICATORS[seed][indicator]["value"]
            where = f"{path.name}: {key}" + (f"[{year}]" if year is not None else "")
            if not isinstance(got, int | float) or isinstance(got, bool):
                problems.append(f"{where} = {got!r} is not a number")
            elif (got != want) if tol == 0 else abs(got - want) > tol + 1e-9:
                problems.append(
                    f"{where} = {got}, seeds/{seed}.toml [{indicator}] = {want}"
                    + (f" (tolerance {tol})" if tol else " (must be equal)")
                )
    for (key, year), count in stated.items():
        if not count:
            at = f" at {year}" if year is not None else ""
            problems.append(f"no scenario states {key}{at}")
    return problems


def _scenario_files(prefix: str) -> list[Path]:
    return sorted(SCENARIOS.glob(f"{prefix}-2035*.toml"))


def test_hengyang_scenarios_agree_with_the_plan() -> None:
    files = _scenario_files("hengyang")
    # No skip: the Hengyang scenarios are part of the project, so their absence fails.
    assert files, f"no scenarios/hengyang-2035*.toml in {SCENARIOS}"
    problems = _scenario_disagreements(files, "hengyang", HENGYANG_CHECKS)
    assert not problems, "\n".join(problems)


def test_zhangjiajie_scenarios_agree_with_the_plan() -> None:
    files = _scenario_files("zhangjiajie")
    assert files, f"no scenarios/zhangjiajie-2035*.toml in {SCENARIOS}"
    problems = _scenario_disagreements(files, "zhangjiajie", ZHANGJIAJIE_CHECKS)
    assert not problems, "\n".join(problems)
