"""`landsim assess`: neutral baselines and the scoring of a simulated map.

The baselines are checked against their definitions (the observed quantity of every
transition, exactly; nearest cells on a map worked out by hand; seeded randomness),
and the command end to end on small synthetic GeoTIFFs, including every refusal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from landsim.baselines import nearest_allocation, random_allocation, transition_counts
from landsim.cli.assess_cmd import assess as assess_cmd

NODATA = 255
CROP, FOREST, WATER, URBAN = 1, 2, 3, 4
SHAPE = (30, 40)
CRS = "EPSG:32649"

# --------------------------------------------------------------------------- baselines


def _counts_by_hand(
    initial: np.ndarray, observed: np.ndarray, mask: np.ndarray | None
) -> dict[tuple[int, int], int]:
    """The transition matrix off its diagonal, cell by cell (the oracle)."""
    out: dict[tuple[int, int], int] = {}
    for idx in np.ndindex(initial.shape):
        a, b = int(initial[idx]), int(observed[idx])
        if NODATA in (a, b) or a == b or (mask is not None and not mask[idx]):
            continue
        out[(a, b)] = out.get((a, b), 0) + 1
    return out


_codes = st.sampled_from([0, 1, 2, 3, 7, NODATA])


@st.composite
def _maps(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    shape = draw(st.tuples(st.integers(1, 9), st.integers(1, 9)))
    initial = draw(arrays(np.uint8, shape, elements=_codes))
    observed = draw(arrays(np.uint8, shape, elements=_codes))
    mask = draw(st.none() | arrays(np.bool_, shape))
    return initial, observed, mask


@given(_maps(), st.integers(0, 2**32))
def test_baselines_keep_the_observed_transition_matrix(
    maps: tuple[np.ndarray, np.ndarray, np.ndarray | None], seed: int
) -> None:
    initial, observed, mask = maps
    expected = _counts_by_hand(initial, observed, mask)
    assert transition_counts(initial, observed, mask=mask) == expected
    scored = (initial != NODATA) & (observed != NODATA)
    if mask is not None:
        scored &= mask
    for baseline in (
        random_allocation(initial, observed, mask=mask, seed=seed),
        nearest_allocation(initial, observed, mask=mask),
    ):
        assert baseline.dtype == np.uint8 and baseline.shape == initial.shape
        # The same quantity of every change, on scored cells only.
        assert _counts_by_hand(initial, baseline, scored) == expected
        assert np.array_equal(baseline[~scored], initial[~scored])


def test_transitions_are_ordered_largest_first_then_by_codes() -> None:
    initial = np.array([[1, 1, 1, 2, 2, 2, 3]], dtype=np.uint8)
    observed = np.array([[4, 4, 3, 4, 4, 1, 1]], dtype=np.uint8)
    assert list(transition_counts(initial, observed).items()) == [
        ((1, 4), 2),
        ((2, 4), 2),
        ((1, 3), 1),
        ((2, 1), 1),
        ((3, 1), 1),
    ]


def test_nearest_takes_the_nearest_cells_ties_by_flat_index() -> None:
    crop, water, urban = 1, 3, 4
    initial = np.full((5, 5), crop, dtype=np.uint8)
    initial[0, 0] = urban
    initial[0, 2] = water
    observed = initial.copy()
    observed[4, 4] = observed[4, 3] = observed[3, 4] = urban  # 3 cells crop → urban, far away
    observed[4, 0] = water  # 1 cell crop → water
    got = nearest_allocation(initial, observed)
    expected = initial.copy()
    # crop → urban first (3 cells): (0,1) and (1,0) at distance 1, then (1,1) at √2.
    expected[0, 1] = expected[1, 0] = expected[1, 1] = urban
    # crop → water next: (0,1) is taken; (0,3) and (1,2) are both 1 from the water cell,
    # and (0,3) has the lower flat index (3 < 7).
    expected[0, 3] = water
    assert np.array_equal(got, expected)


def test_nearest_measures_distance_to_the_initial_map_and_skips_unscored_cells() -> None:
    initial = np.array([[4, 1, 1, 1, 1, 1]], dtype=np.uint8)
    observed = np.array([[4, 1, 1, 4, 4, 1]], dtype=np.uint8)
    mask = np.array([[True, False, True, True, True, True]])
    # (0,1) is nearest but not scored; the two next ones are (0,2) and (0,3). Cells
    # allocated earlier do not attract: distances are to the initial urban cell.
    got = nearest_allocation(initial, observed, mask=mask)
    assert got.tolist() == [[4, 1, 4, 4, 1, 1]]


def test_nearest_to_a_class_absent_at_the_start_takes_cells_in_flat_order() -> None:
    initial = np.array([[1, 1], [1, 1]], dtype=np.uint8)
    observed = np.array([[1, 1], [5, 1]], dtype=np.uint8)
    assert nearest_allocation(initial, observed).tolist() == [[5, 1], [1, 1]]


def _growth_maps() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    initial = rng.integers(1, 4, size=(60, 70), dtype=np.uint8)
    observed = initial.copy()
    changed = rng.random(initial.shape) < 0.2
    observed[changed] = 4
    return initial, observed


def test_random_is_reproducible_and_differs_by_seed() -> None:
    initial, observed = _growth_maps()
    a = random_allocation(initial, observed, seed=3)
    assert np.array_equal(a, random_allocation(initial, observed, seed=3))
    b = random_allocation(initial, observed, seed=4)
    assert not np.array_equal(a, b)
    assert transition_counts(initial, a) == transition_counts(initial, b)


# --------------------------------------------------------------------------- the command
#
# Three maps on one 30 m grid, worked out on paper:
# - initial: cropland, a forest block, a river column, a 6 × 6 urban block, a nodata corner;
# - observed: the block grew to 10 × 10 (64 cells) and a 3 × 3 village appeared far away
#   (73 cells became urban, all from cropland); 3 forest cells became cropland;
# - simulated: the block grew to 8 × 8 (28 cells, all hits) and 8 false alarms elsewhere.
# So the model's FoM of urban gains is B / (A + B + D) = 28 / (45 + 28 + 8). The nearest
# baseline takes the 64 cells within √8 of the block and 9 of the 24 at distance 3, so
# its FoM is 64 / (9 + 64 + 9).

BLOCK = (slice(12, 18), slice(20, 26))
GROWN = (slice(10, 20), slice(18, 28))
INNER = (slice(11, 19), slice(19, 27))
VILLAGE = (slice(25, 28), slice(2, 5))
FALSE_ALARMS = (slice(22, 24), slice(30, 34))

SCENARIO = """schema_version = 1
name = "{name}"

[simulation]
start_year = 2020
end_year = 2030

[[classes]]
code = 1
name = "耕地"
role = "cropland"

[[classes]]
code = 2
name = "forest"
role = "forest"

[[classes]]
code = 3
name = "river"
role = "water"

[[classes]]
code = 4
name = "built-up"
role = "urban"

[inputs]
landuse = "initial.tif"

[demand]
method = "targets"
unit = "cells"
urban = {{ 2020 = 36, 2030 = 100 }}
"""


def _initial() -> np.ndarray:
    lu = np.full(SHAPE, CROP, dtype=np.uint8)
    lu[:8, 28:] = FOREST
    lu[:, 12] = WATER
    lu[BLOCK] = URBAN
    lu[0, :3] = NODATA
    return lu


def _observed() -> np.ndarray:
    lu = _initial()
    lu[GROWN] = URBAN
    lu[VILLAGE] = URBAN
    lu[7, 28:31] = CROP
    return lu


def _simulated() -> np.ndarray:
    lu = _initial()
    lu[INNER] = URBAN
    lu[FALSE_ALARMS] = URBAN
    return lu


def _write(
    path: Path,
    data: np.ndarray,
    *,
    crs: str = CRS,
    origin: tuple[float, float] = (500_000.0, 3_400_000.0),
    tags: dict[str, str] | None = None,
) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": "uint8",
        "crs": crs,
        "transform": from_origin(origin[0], origin[1], 30.0, 30.0),
        "nodata": NODATA,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
        ds.update_tags(**(tags or {}))
    return path


@dataclass
class Inputs:
    folder: Path
    initial: Path
    observed: Path
    simulated: Path
    scenario: Path
    run: Path


def _write_run(folder: Path, scenario: str, maps: dict[int, np.ndarray]) -> Path:
    """A run folder as `landsim run` writes it (the parts assess reads)."""
    folder.mkdir(parents=True)
    for year, lu in maps.items():
        _write(folder / f"landuse_{year}.tif", lu, tags={"scenario": scenario, "year": str(year)})
    classes = [
        {"code": CROP, "name": "耕地", "role": "cropland"},
        {"code": FOREST, "name": "forest", "role": "forest"},
        {"code": WATER, "name": "river", "role": "water"},
        {"code": URBAN, "name": "built-up", "role": "urban"},
    ]
    prov = {"scenario": scenario, "kind": "single", "resolved_scenario": {"classes": classes}}
    (folder / "provenance.json").write_text(json.dumps(prov), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    folder = tmp_path_factory.mktemp("assess")
    scenario = folder / "scenario.toml"
    scenario.write_text(SCENARIO.format(name="synthetic"), encoding="utf-8")
    # The 2025 map is the start map: the latest year (2030) must be the one assessed.
    run = _write_run(folder / "run", "synthetic", {2025: _initial(), 2030: _simulated()})
    return Inputs(
        folder=folder,
        initial=_write(folder / "initial.tif", _initial()),
        observed=_write(folder / "observed.tif", _observed()),
        simulated=_write(
            folder / "simulated.tif", _simulated(), tags={"scenario": "synthetic", "year": "2030"}
        ),
        scenario=scenario,
        run=run,
    )


def _invoke(*args: Any) -> Any:
    return CliRunner().invoke(assess_cmd, [str(a) for a in args], catch_exceptions=True)


def test_cli_prints_the_table_and_writes_the_report(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "report.json"
    r = _invoke(
        "--initial", inputs.initial, "--observed", inputs.observed, "--run", inputs.run,
        "--scenario", inputs.scenario, "--seeds", 3, "-o", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    header = next(line for line in lines if "FoM (built-up)" in line)
    assert "producer's" in header and "user's" in header and "FoM (all classes)" in header
    model = next(line for line in lines if line.strip().startswith("model "))
    assert f"{28 / 81:.3f}" in model
    assert any(line.strip().startswith("nearest baseline") for line in lines)
    rnd = next(line for line in lines if "random baseline (3 seeds)" in line)
    assert "±" in rnd
    assert any("A 45 missed, B 28 hit, C 0 wrong class, D 8 false alarms" in x for x in lines)
    assert "does NOT beat the nearest baseline" in r.output

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["scenario"] == "synthetic" and report["year"] == 2030
    assert report["target"] == {"code": URBAN, "name": "built-up"}
    assert report["scored_cells"] == 30 * 40 - 3
    assert report["model"]["fom_target"]["fom"] == pytest.approx(28 / 81)
    nearest = report["baselines"]["nearest"]["fom_target"]
    assert (nearest["a"], nearest["b"], nearest["c"], nearest["d"]) == (9, 64, 0, 9)
    rnd_stats = report["baselines"]["random"]
    assert rnd_stats["seeds"] == [0, 1, 2] and len(rnd_stats["per_seed"]) == 3
    fom = rnd_stats["fom_target"]["fom"]
    assert fom["min"] <= fom["mean"] <= fom["max"] and fom["std"] >= 0
    # Every random draw has the observed quantity: A + B + C is the observed gain.
    for s in rnd_stats["per_seed"]:
        assert s["fom_target"]["a"] + s["fom_target"]["b"] == 73
    q = report["quantity"]
    assert q["observed"] == [
        {"from": CROP, "from_name": "耕地", "to": URBAN, "to_name": "built-up", "cells": 73},
        {"from": FOREST, "from_name": "forest", "to": CROP, "to_name": "耕地", "cells": 3},
    ]
    assert q["observed_changed_cells"] == 76 and q["simulated_changed_cells"] == 36
    assert report["inputs"]["simulated"]["path"] == str(inputs.run / "landuse_2030.tif")
    assert len(report["inputs"]["scenario"]["sha256"]) == 64


def test_cli_simulated_file_without_a_scenario(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    r = _invoke(
        "--initial", inputs.initial, "--observed", inputs.observed,
        "--simulated", inputs.simulated, "--target", URBAN, "--exclude", WATER, "-o", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "FoM (class 4)" in r.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["scored_cells"] == 30 * 40 - 3 - 30  # the river column is not scored
    assert report["excluded"] == [{"code": WATER, "name": "class 3"}]
    assert report["baselines"]["random"]["seeds"] == list(range(10))
    assert report["model"]["fom_target"]["fom"] == pytest.approx(28 / 81)


def test_exclude_by_role_and_random_reproducible(inputs: Inputs) -> None:
    from landsim.assess import assess

    kwargs: dict[str, Any] = {"scenario": inputs.scenario, "exclude": ["water"], "random_seeds": 2}
    a = assess(inputs.initial, inputs.observed, inputs.simulated, **kwargs)
    b = assess(inputs.initial, inputs.observed, inputs.simulated, **kwargs)
    assert a == b
    assert a["year"] == 2030  # from the map's GeoTIFF tag
    assert a["excluded"] == [{"code": WATER, "name": "river"}]
    seeds = a["baselines"]["random"]["per_seed"]
    assert seeds[0] != seeds[1]


def test_table_aligns_a_chinese_target_name(inputs: Inputs) -> None:
    from landsim.assess import _columns, assess, format_table

    # Cropland gained the 3 forest cells; the model simulated none of it.
    report = assess(
        inputs.initial, inputs.observed, inputs.simulated,
        scenario=inputs.scenario, target="耕地", random_seeds=2,
    )  # fmt: skip
    assert report["model"]["fom_target"]["a"] == 3 and report["model"]["fom_target"]["b"] == 0
    table = format_table(report)
    assert "FoM (耕地)" in table[0] and "random baseline (2 seeds)" in table[3]
    assert len({_columns(line) for line in table[:4]}) == 1


# --------------------------------------------------------------------------- refusals


def _refused(out: Path, *args: Any) -> str:
    """One `error:` line, a non-zero exit, no traceback, no report."""
    r = _invoke(*args, "-o", out)
    assert r.exit_code != 0, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    # A user error exits through sys.exit; anything else would be a bug with a traceback.
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    assert not out.exists()
    assert not list(out.parent.glob(".*.tmp"))
    return lines[0]


@pytest.mark.parametrize(
    ("which", "change", "expected"),
    [
        ("observed", {"origin": (500_030.0, 3_400_000.0)}, "transform differs"),
        ("simulated", {"crs": "EPSG:4326"}, "CRS EPSG:4326 differs"),
        ("simulated", {"shape": (30, 41)}, "30 rows × 41 columns"),
    ],
)
def test_refuses_maps_on_another_grid(
    inputs: Inputs, tmp_path: Path, which: str, change: dict[str, Any], expected: str
) -> None:
    data = _observed() if which == "observed" else _simulated()
    if "shape" in change:
        data = np.pad(data, ((0, 0), (0, 1)), constant_values=CROP)
    bad = _write(
        tmp_path / f"bad_{which}.tif",
        data,
        **{k: v for k, v in change.items() if k != "shape"},
    )
    paths = {"observed": inputs.observed, "simulated": inputs.simulated, which: bad}
    line = _refused(
        tmp_path / "report.json",
        "--initial", inputs.initial, "--observed", paths["observed"],
        "--simulated", paths["simulated"],
    )  # fmt: skip
    assert f"[{which}] {bad}" in line and expected in line


@pytest.mark.parametrize("with_scenario", [True, False])
def test_refuses_unknown_class_codes(inputs: Inputs, tmp_path: Path, with_scenario: bool) -> None:
    lu = _simulated()
    lu[5, 5:7] = 9
    bad = _write(tmp_path / "codes.tif", lu)
    extra = ["--scenario", inputs.scenario] if with_scenario else []
    line = _refused(
        tmp_path / "report.json",
        "--initial", inputs.initial, "--observed", inputs.observed, "--simulated", bad, *extra,
    )  # fmt: skip
    assert "[simulated]" in line and "class codes 9 (2 cells)" in line
    assert ("scenario.toml" in line) if with_scenario else ("initial map's classes" in line)


def test_refuses_a_period_without_growth_of_the_target(inputs: Inputs, tmp_path: Path) -> None:
    lu = _initial()
    lu[7, 28:31] = CROP  # change, but none to urban
    still = _write(tmp_path / "still.tif", lu)
    line = _refused(
        tmp_path / "report.json",
        "--initial", inputs.initial, "--observed", still, "--simulated", inputs.simulated,
        "--scenario", inputs.scenario,
    )  # fmt: skip
    assert "no cell became built-up between the initial and observed maps" in line
    assert "nothing to score" in line


def test_refuses_a_run_of_another_scenario(inputs: Inputs, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(SCENARIO.format(name="other-plan"), encoding="utf-8")
    line = _refused(
        tmp_path / "report.json",
        "--initial", inputs.initial, "--observed", inputs.observed, "--run", inputs.run,
        "--scenario", other,
    )  # fmt: skip
    assert "'synthetic'" in line and "'other-plan'" in line
    # A single map says the same through its GeoTIFF tag.
    line = _refused(
        tmp_path / "report.json",
        "--initial", inputs.initial, "--observed", inputs.observed,
        "--simulated", inputs.simulated, "--scenario", other,
    )  # fmt: skip
    assert "'synthetic'" in line and "'other-plan'" in line and "GeoTIFF tag" in line


def test_refuses_missing_inputs(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    missing = tmp_path / "nope.tif"
    common = ["--observed", inputs.observed, "--simulated", inputs.simulated]
    line = _refused(out, "--initial", missing, *common)
    assert "[initial] file not found" in line and "nope.tif" in line
    line = _refused(out, "--initial", inputs.initial, "--observed", missing, "--simulated", missing)
    assert "[observed] file not found" in line
    line = _refused(
        out, "--initial", inputs.initial, "--observed", inputs.observed, "--run", tmp_path / "x"
    )
    assert "run folder" in line and "not found" in line
    line = _refused(
        out, "--initial", inputs.initial, "--observed", inputs.observed, "--run", inputs.run,
        "--year", 2040,
    )  # fmt: skip
    assert "no map of 2040" in line and "2025, 2030" in line
    ensemble = tmp_path / "ensemble"
    ensemble.mkdir()
    (ensemble / "probability_2030.tif").write_bytes(b"")
    line = _refused(
        out, "--initial", inputs.initial, "--observed", inputs.observed, "--run", ensemble
    )
    assert "is an ensemble" in line
    line = _refused(out, "--initial", inputs.initial, "--observed", inputs.observed)
    assert "--simulated FILE or --run DIR" in line
    line = _refused(out, "--initial", inputs.initial, *common, "--scenario", tmp_path / "s.toml")
    assert "s.toml" in line


def test_refuses_a_target_it_cannot_name(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    common = ["--initial", inputs.initial, "--observed", inputs.observed]
    line = _refused(out, *common, "--simulated", inputs.simulated)
    assert "'urban' names a class, but there is no class table" in line
    line = _refused(out, *common, "--run", inputs.run, "--target", "villages")
    assert "'villages' is neither a class name nor a role" in line and "built-up" in line
