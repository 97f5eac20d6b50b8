"""The shipped plan scenarios: Hengyang (four variants), Zhangjiajie and Wuhan variants.

Each validates; each synthetic scenario runs end to end here (100 m grids, seconds), and
under hard rules its compliance report shows no farmland or red-line conversion and no
construction the rules do not allow. The Wuhan variants (8.6 M cells) are validated; the
default one runs in full in test_wuhan_real.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from landsim.cli.main import main
from landsim.scenario import load

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SYNTHETIC = sorted(SCENARIOS.glob("hengyang-2035-*.toml")) + sorted(
    SCENARIOS.glob("zhangjiajie-2035-*.toml")
)
WUHAN = sorted(SCENARIOS.glob("wuhan-2035*.toml"))
HARD = ("permanent_basic_farmland", "ecological_red_line", "water")


def test_the_four_variants_exist() -> None:
    names = {p.stem for p in SYNTHETIC}
    for variant in ("planning", "natural", "farmland", "ecological"):
        assert f"hengyang-2035-{variant}" in names
    assert "zhangjiajie-2035-ecological" in names
    assert {p.stem for p in WUHAN} >= {
        "wuhan-2035",
        "wuhan-2035-natural",
        "wuhan-2035-farmland",
        "wuhan-2035-ecological",
    }


@pytest.mark.parametrize("path", SYNTHETIC + WUHAN, ids=lambda p: p.stem)
def test_scenario_validates(path: Path) -> None:
    r = CliRunner().invoke(main, ["validate", str(path)])
    assert r.exit_code == 0, r.output


@pytest.fixture(scope="module", params=SYNTHETIC, ids=lambda p: p.stem)
def synthetic_run(request: Any, tmp_path_factory: Any) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp(request.param.stem)
    r = CliRunner().invoke(main, ["run", str(request.param), "-o", str(out), "--overwrite"])
    assert r.exit_code == 0, r.output
    comp = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    return request.param, comp, r.stdout


def test_synthetic_scenarios_keep_their_rules(synthetic_run: Any) -> None:
    path, comp, stdout = synthetic_run
    scenario = load(path)
    check = comp["final_check_from_maps"]
    assert check["growth_not_allowed_by_rules"] == 0
    assert check["reverted_urban_cells"] == 0
    for name, line in check["lines"].items():
        if line["enforced"] and line["violations"] is not None:
            assert line["violations"] == 0, name
    enforced = {k for k, v in scenario.constraints.items() if v.enforce}
    for name in HARD:
        if name in enforced:
            assert check["lines"][name]["breaks_line"] == 0, name
    # Demand met exactly.
    demand = scenario.simulation
    assert comp["years"][-1]["year"] == demand.end_year
    # Districts add up, and names are the plan's.
    districts = comp["districts"]
    total = comp["years"][-1]["new_urban_cells_cumulative"]
    assert sum(d["urban_end_cells"] - d["urban_start_cells"] for d in districts) == total
    assert all(d["growth_not_allowed_by_rules"] == 0 for d in districts)
    assert "SYNTHETIC" in scenario.description
    assert "compliance (new urban cells" in stdout

    if path.stem.endswith("natural"):
        # The lines are only reported here: growth breaks what the plan would keep.
        udb = check["lines"]["urban_development_boundary"]
        assert udb["new_construction_outside"] > 0
        assert udb["violations"] == udb["new_construction_outside"]
