"""`landsim compare`: runs side by side, against hand-worked expectations.

The run folders are written by hand (``_compare_kit.ThreeRuns``: three runs urban on
rectangles, so where they agree can be worked out on paper). One comparison is written
per module and each test reads a part of it; the bad inputs are refused before anything
is written.
"""

from __future__ import annotations

import html
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from _compare_kit import (
    CLASSES,
    CRS,
    NASTY_NAME,
    NODATA,
    RECT_1,
    RECT_2,
    RECT_3,
    URBAN,
    ThreeRuns,
    base_landuse,
    members_maps,
    probabilities_from,
    read_csv,
    transform,
    write_run,
)
from _landsim_kit import invoke, landsim_exe, partial_dirs, sha256_tree
from click.testing import CliRunner

from landsim.compare import agreement, compare_runs, difference, read_urban
from landsim.errors import GridMismatchError, InputError, LandsimError, OutputError


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> ThreeRuns:
    return ThreeRuns(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def compared(runs: ThreeRuns) -> Any:
    return compare_runs(runs.all, runs.root / "cmp")


def _expected_agreement() -> np.ndarray:
    count = np.zeros((40, 50), dtype=np.uint8)
    for rect in (RECT_1, RECT_2, RECT_3):
        count[rect] += 1
    count[0, :3] = 255
    return count


# --------------------------------------------------------------------------- the outputs


def test_outputs_listed_and_written(compared: Any, runs: ThreeRuns) -> None:
    out = runs.root / "cmp"
    assert compared.year == 2030  # the last year all three have maps for
    assert compared.files == sorted(p.name for p in out.iterdir())
    assert set(compared.files) == {
        "indicators.csv",
        "comparison.csv",
        "report.html",
        "urban_agreement_2030.tif",
        "urban_agreement_2030.png",
        "urban_difference_2_2030.png",
        "urban_difference_3_2030.png",
        "p_urban_difference_3_2030.png",  # run 3 is an ensemble; run 2 is not
        "chart_urban.png",
        "chart_cropland_lost.png",
        "chart_boundary_growth.png",
        "chart_line_encroachment.png",
    }
    assert partial_dirs(runs.root) == []
    assert [r.label for r in compared.runs] == ["base", NASTY_NAME, "ens"]


def test_agreement_map_by_hand(compared: Any, runs: ThreeRuns) -> None:
    with rasterio.open(runs.root / "cmp" / "urban_agreement_2030.tif") as ds:
        count = ds.read(1)
        assert ds.dtypes[0] == "uint8"
        assert ds.nodata == 255
        assert ds.crs == rasterio.crs.CRS.from_string(CRS)
        assert ds.transform == transform()
        assert json.loads(ds.tags()["runs"]) == ["base", NASTY_NAME, "ens"]
    np.testing.assert_array_equal(count, _expected_agreement())
    # A few cells worked out on paper.
    assert count[12, 12] == 3  # inside all three rectangles
    assert count[6, 6] == 2  # runs 1 and 3
    assert count[21, 18] == 2  # runs 2 and 3 (row 21: 2 of 4 members, P = 0.5)
    assert count[22, 18] == 1  # run 2 only (row 22: 1 of 4 members)
    assert count[30, 40] == 0
    assert count[0, 0] == 255


def test_agreement_and_difference_small() -> None:
    from landsim.compare import _UrbanMap

    def m(urban: list[list[int]], valid: list[list[int]]) -> _UrbanMap:
        u, v = np.array(urban, bool), np.array(valid, bool)
        return _UrbanMap(u, v, np.where(v, u, np.nan).astype(np.float32))

    first = m([[1, 1, 0, 0]], [[1, 1, 1, 0]])
    other = m([[1, 0, 1, 0]], [[1, 1, 1, 1]])
    assert agreement([first, other]).tolist() == [[2, 1, 1, 255]]
    assert difference(first, other).tolist() == [[1, 2, 3, 255]]


def test_ensemble_urban_is_probability_at_least_half(runs: ThreeRuns) -> None:
    from landsim.compare import read_run

    m = read_urban(read_run(runs.c), 2030)
    expected = np.zeros((40, 50), dtype=bool)
    expected[RECT_3] = True
    np.testing.assert_array_equal(m.urban, expected)
    assert m.p_urban[21, 10] == 0.5 and m.p_urban[22, 10] == 0.25
    assert np.isnan(m.p_urban[0, 0]) and not m.valid[0, 0]


def test_combined_indicators_by_hand(tmp_path: Path) -> None:
    a = write_run(
        tmp_path / "a",
        scenario="one",
        maps={2030: base_landuse()},
        indicators=[[2020, "urban", "km2", 1, 1.5, 0, 1.5, 1.5, 1.5, 1.5, 1.5]],
    )
    b = write_run(
        tmp_path / "b",
        scenario="耕地<2>",
        probabilities={2030: probabilities_from([base_landuse()] * 2)},
        members=2,
        indicators=[[2020, "urban", "km2", 2, 1.6, 0.1, 1.5, 1.505, 1.6, 1.695, 1.7]],
    )
    compare_runs([a, b], tmp_path / "out")
    text = (tmp_path / "out" / "indicators.csv").read_text(encoding="utf-8")
    assert text == (
        "run,year,indicator,unit,members,mean,std,min,p05,median,p95,max\n"
        "one,2020,urban,km2,1,1.5,0,1.5,1.5,1.5,1.5,1.5\n"
        "耕地<2>,2020,urban,km2,2,1.6,0.1,1.5,1.505,1.6,1.695,1.7\n"
    )


def test_combined_indicators_every_row(compared: Any, runs: ThreeRuns) -> None:
    rows = read_csv(runs.root / "cmp" / "indicators.csv")
    per_run = {
        label: read_csv(folder / "indicators.csv")
        for label, folder in zip(["base", NASTY_NAME, "ens"], runs.all, strict=True)
    }
    assert len(rows) == sum(len(v) for v in per_run.values())
    for label, own in per_run.items():
        mine = [{k: v for k, v in r.items() if k != "run"} for r in rows if r["run"] == label]
        assert mine == own
    assert {r["year"] for r in rows if r["run"] == "base"} == {"2020", "2025", "2030"}


def test_comparison_csv(compared: Any, runs: ThreeRuns) -> None:
    rows = read_csv(runs.root / "cmp" / "comparison.csv")
    assert [r["run"] for r in rows] == ["base", NASTY_NAME, "ens"]
    assert [r["kind"] for r in rows] == ["single", "single", "ensemble"]
    assert [r["members"] for r in rows] == ["1", "1", "4"]
    assert {r["year"] for r in rows} == {"2030"} and {r["unit"] for r in rows} == {"km2"}
    a, b, c = rows
    assert (a["urban_mean"], a["urban_p05"], a["urban_p95"]) == ("0.09", "0.09", "0.09")
    assert (b["urban_mean"], b["line_encroachment_mean"]) == ("0.2025", "0.02")
    assert (c["urban_mean"], c["urban_p05"], c["urban_p95"]) == ("0.2295", "0.2025", "0.2565")
    assert c["cropland_lost_p95"] == "0.18"
    # An indicator a run does not have is left empty, not zero.
    assert a["line_encroachment_mean"] == "" and b["growth_inside_boundary_mean"] == ""
    assert c["folder"] == str(runs.c)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        for key in ("src", "href"):
            if a.get(key):
                self.urls.append(a[key] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_is_self_contained_and_escaped(compared: Any, runs: ThreeRuns) -> None:
    raw = (runs.root / "cmp" / "report.html").read_text(encoding="utf-8")
    assert raw.startswith("<!DOCTYPE html>")
    # Browsers look for the charset in the first 1024 bytes only.
    assert 0 <= raw.encode("utf-8").find(b'<meta charset="utf-8">') < 1000
    page = _Page()
    page.feed(raw)
    # Every image is embedded, every image has alt text, nothing is fetched.
    pngs = [n for n in compared.files if n.endswith(".png")]
    assert len(page.imgs) == len(pngs)
    for img in page.imgs:
        assert (img["src"] or "").startswith("data:image/png;base64,")
        assert (img["alt"] or "").strip()
    assert all(u.startswith(("data:image/png;base64,", "#")) for u in page.urls), page.urls
    assert not {"script", "link", "iframe", "object"} & set(page.tags)
    assert "url(" not in raw and "@import" not in raw and "http" not in raw
    # The names are text, escaped once: no <规划> element, the name reads back intact.
    assert "<规划>" not in raw and html.escape(NASTY_NAME, quote=True) in raw
    assert "规划" not in page.tags
    text = "".join(page.text)
    assert NASTY_NAME in text and "area:耕地" in text
    # The headline table: the ensemble's mean with its p05–p95 range.
    assert "0.23 (0.20–0.26)" in text


def test_pngs_are_pngs_without_software_or_time(compared: Any, runs: ThreeRuns) -> None:
    for name in compared.files:
        if name.endswith(".png"):
            data = (runs.root / "cmp" / name).read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
            assert b"Software" not in data and b"tIME" not in data, name


def test_same_inputs_same_bytes_through_the_cli(compared: Any, runs: ThreeRuns) -> None:
    """The CLI, end to end, writes byte for byte what the API wrote (HTML included)."""
    out = runs.root / "cmp_cli"
    r = invoke(CliRunner(), "compare", *runs.all, "-o", out)
    assert r.exit_code == 0, r.output
    assert sha256_tree(out) == sha256_tree(runs.root / "cmp")
    lines = r.output.splitlines()
    assert lines[0] == "compared  3 runs in 2030 (km²)"
    assert "1: base" in r.output and f"2: {NASTY_NAME}" in r.output
    ens = next(line for line in lines if "3: ens" in line)
    # urban 0.2295 ± 0.0135 (std); cropland 0.15 ± 0.015; no encroachment
    assert "ensemble ×4" in ens and "0.23 ±0.01" in ens and ens.rstrip().endswith("–")
    assert "±: standard deviation" in r.output
    assert f"outputs   {out}" in r.output and "report.html" in r.output


# --------------------------------------------------------------------------- labels, years


def test_same_scenario_name_gets_folder_names(tmp_path: Path) -> None:
    a = write_run(tmp_path / "seed1", scenario="same", maps={2030: base_landuse()})
    b = write_run(tmp_path / "seed2", scenario="same", maps={2030: base_landuse()})
    res = compare_runs([a, b], tmp_path / "out")
    assert [r.label for r in res.runs] == ["seed1", "seed2"]
    rows = read_csv(tmp_path / "out" / "comparison.csv")
    assert [r["run"] for r in rows] == ["seed1", "seed2"]


def test_same_name_and_folder_name_get_paths(tmp_path: Path) -> None:
    a = write_run(tmp_path / "x" / "run", scenario="same", maps={2030: base_landuse()})
    b = write_run(tmp_path / "y" / "run", scenario="same", maps={2030: base_landuse()})
    res = compare_runs([a, b], tmp_path / "out")
    assert [r.label for r in res.runs] == [str(a), str(b)]


def test_year_option_and_overwrite_removes_the_old_comparison(
    runs: ThreeRuns, tmp_path: Path
) -> None:
    out = tmp_path / "cmp"
    res = compare_runs([runs.a, runs.b], out, year=2025)
    assert res.year == 2025 and "urban_agreement_2025.tif" in res.files
    with rasterio.open(out / "urban_agreement_2025.tif") as ds:
        expected = np.zeros((40, 50), dtype=np.uint8)
        expected[RECT_1] = 2
        expected[0, :3] = 255
        np.testing.assert_array_equal(ds.read(1), expected)
    with pytest.raises(OutputError, match=r"already holds a comparison.*--overwrite"):
        compare_runs([runs.a, runs.b], out)
    res = compare_runs([runs.a, runs.b], out, overwrite=True)
    assert res.year == 2030
    # The 2025 maps of the earlier comparison are gone: the folder holds one comparison.
    assert sorted(p.name for p in out.iterdir()) == res.files
    assert not list(out.glob("*2025*"))


# --------------------------------------------------------------------------- bad input


def _refused(tmp_path: Path, args: list[Any], code: int = 1) -> str:
    """Run `landsim compare ARGS -o tmp/out`: one error line, exit code, nothing written."""
    out = tmp_path / "out"
    r = invoke(CliRunner(), "compare", *args, "-o", out)
    assert r.exit_code == code, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert "Traceback" not in r.output
    assert not out.exists() and partial_dirs(tmp_path) == []
    return lines[0]


def test_fewer_than_two_runs(runs: ThreeRuns, tmp_path: Path) -> None:
    with pytest.raises(LandsimError, match="at least two run folders, got 1"):
        compare_runs([runs.a], tmp_path / "out")
    assert "at least two" in _refused(tmp_path, [runs.a])


def test_same_run_twice(runs: ThreeRuns, tmp_path: Path) -> None:
    line = _refused(tmp_path, [runs.a, runs.a / ".." / runs.a.name])
    assert "named twice" in line


def test_not_a_run_folder(runs: ThreeRuns, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _refused(tmp_path, [runs.a, empty])
    assert f"{empty} is not a landsim run folder (no provenance.json)" in line
    assert "landsim run" in line
    missing = tmp_path / "missing"
    assert f"run folder {missing} not found" in _refused(tmp_path, [runs.a, missing])
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    assert "is a file, not a run folder" in _refused(tmp_path, [runs.a, afile])


def test_run_without_indicators(runs: ThreeRuns, tmp_path: Path) -> None:
    old = write_run(tmp_path / "old", maps={2030: base_landuse()})
    (old / "indicators.csv").unlink()
    line = _refused(tmp_path, [runs.a, old])
    assert f"{old} has no indicators.csv" in line and "run its scenario again" in line


def test_old_provenance_without_grid(runs: ThreeRuns, tmp_path: Path) -> None:
    old = write_run(tmp_path / "old", maps={2030: base_landuse()})
    prov = json.loads((old / "provenance.json").read_text(encoding="utf-8"))
    del prov["grid"]
    (old / "provenance.json").write_text(json.dumps(prov), encoding="utf-8")
    line = _refused(tmp_path, [runs.a, old])
    assert "provenance.json: lacks key 'grid'" in line and "run the scenario again" in line


def test_bad_indicators_csv(runs: ThreeRuns, tmp_path: Path) -> None:
    bad = write_run(tmp_path / "bad", maps={2030: base_landuse()})
    (bad / "indicators.csv").write_text("year,indicator\n2030,urban\n", encoding="utf-8")
    assert "missing column(s) unit, members" in _refused(tmp_path, [runs.a, bad])
    row = [2030, "urban", "km2", 1, "x", 0, 1, 1, 1, 1, 1]
    write_run(bad, maps={2030: base_landuse()}, indicators=[row])
    assert "line 2: year, members and the statistics must be numbers" in _refused(
        tmp_path, [runs.a, bad]
    )


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"shape": (40, 60)}, "shape 40 × 50 vs 40 × 60 (rows × columns)"),
        ({"crs": "EPSG:32650"}, "CRS EPSG:32649 vs EPSG:32650"),
        (
            {"tr": transform((500_030.0, 3_400_000.0))},
            "origin (500000, 3400000), cell 30 × -30 vs origin (500030, 3400000)",
        ),
        ({"tr": transform(cell=60.0)}, "cell 30 × -30 vs"),
    ],
)
def test_different_grids(runs: ThreeRuns, tmp_path: Path, kwargs: dict, what: str) -> None:
    shape = kwargs.get("shape", (40, 50))
    other = write_run(tmp_path / "other", maps={2030: np.ones(shape, np.uint8)}, **kwargs)
    with pytest.raises(GridMismatchError) as exc:
        compare_runs([runs.a, other], tmp_path / "out")
    msg = str(exc.value)
    assert f"runs {runs.a} and {other} are on different grids" in msg
    assert what in msg and "same land-use grid" in msg
    assert what in _refused(tmp_path, [runs.a, other])


def test_same_crs_spelt_differently_is_the_same_grid(runs: ThreeRuns, tmp_path: Path) -> None:
    """A CRS written as another WKT dialect is still the same CRS."""
    other = write_run(tmp_path / "other", scenario="o", maps={2030: base_landuse()})
    prov = json.loads((other / "provenance.json").read_text(encoding="utf-8"))
    prov["grid"]["crs"] = rasterio.crs.CRS.from_string(CRS).to_wkt(version="WKT1_GDAL")
    (other / "provenance.json").write_text(json.dumps(prov), encoding="utf-8")
    assert compare_runs([runs.a, other], tmp_path / "out").year == 2030


def test_different_class_tables(runs: ThreeRuns, tmp_path: Path) -> None:
    classes = [dict(c) for c in CLASSES]
    classes[0]["name"] = "cropland"  # was 耕地
    classes.append({"code": 5, "name": "湿地", "role": "wetland", "color": "#00ffff"})
    other = write_run(tmp_path / "other", maps={2030: base_landuse()}, classes=classes)
    line = _refused(tmp_path, [runs.a, other])
    assert f"runs {runs.a} and {other} have different class tables" in line
    assert "code 1 is 耕地/cropland vs cropland/cropland" in line
    assert "code 5 (湿地) only in the second" in line


def test_year_without_map(runs: ThreeRuns, tmp_path: Path) -> None:
    line = _refused(tmp_path, [*runs.all, "--year", "2025"])
    assert f"run {runs.c} has no map for 2025 (it has 2030)" in line
    assert "choose --year among the years all runs have maps for: 2030" in line


def test_no_common_year(runs: ThreeRuns, tmp_path: Path) -> None:
    other = write_run(tmp_path / "other", maps={2035: base_landuse()}, end_year=2035)
    line = _refused(tmp_path, [runs.c, other])
    assert "the runs share no map year" in line and "output_years" in line


def test_output_folder_is_a_run_folder(runs: ThreeRuns, tmp_path: Path) -> None:
    before = sha256_tree(runs.b)
    r = invoke(CliRunner(), "compare", runs.a, runs.b, "-o", runs.b, "--overwrite")
    assert r.exit_code == 1, r.output
    assert r.output.strip() == (
        f"error: output folder {runs.b} is the run folder {runs.b} being compared; "
        "write the comparison to another folder with -o"
    )
    # Another run's folder is refused too, even with --overwrite.
    other = write_run(tmp_path / "other", maps={2030: base_landuse()})
    r = invoke(CliRunner(), "compare", runs.a, runs.b, "-o", other, "--overwrite")
    assert r.exit_code == 1 and "holds a run's results" in r.output, r.output
    assert sha256_tree(runs.b) == before
    assert partial_dirs(runs.root) == [] and partial_dirs(tmp_path) == []


def test_output_folder_holding_a_report(runs: ThreeRuns, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("old", encoding="utf-8")
    r = invoke(CliRunner(), "compare", runs.a, runs.b, "-o", out)
    assert r.exit_code == 1
    assert r.output.strip() == (
        f"error: output folder {out} already holds a comparison (report.html); pass "
        "--overwrite to replace it, or choose another folder with -o"
    )
    assert (out / "report.html").read_text(encoding="utf-8") == "old"


def test_output_is_a_file(runs: ThreeRuns, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("x")
    r = invoke(CliRunner(), "compare", runs.a, runs.b, "-o", out)
    assert r.exit_code == 1 and "exists and is not a folder" in r.output


def test_ensemble_with_wrong_band_count(runs: ThreeRuns, tmp_path: Path) -> None:
    p = probabilities_from(members_maps())[:3]  # a band short
    bad = write_run(
        tmp_path / "bad", scenario="bad", probabilities={2030: p}, members=4, classes=CLASSES
    )
    with pytest.raises(InputError, match=r"probability_2030.tif: 3 bands for 4 classes"):
        compare_runs([runs.a, bad], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_as_typed_no_traceback(runs: ThreeRuns, tmp_path: Path) -> None:
    proc = subprocess.run(
        [landsim_exe(), "compare", str(runs.a), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: compare needs at least two run folders")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_urban_code_from_class_table(tmp_path: Path) -> None:
    """Urban is the class whose role is urban, whatever its code."""
    classes = [dict(c) for c in CLASSES]
    classes[3]["code"] = 9
    lu = base_landuse()
    lu[2:4, 2:4] = 9
    lu[5:7, 5:7] = URBAN  # code 4 is no class here; not urban
    a = write_run(tmp_path / "a", scenario="a", maps={2030: lu}, classes=classes)
    b = write_run(tmp_path / "b", scenario="b", maps={2030: lu}, classes=classes)
    compare_runs([a, b], tmp_path / "out")
    with rasterio.open(tmp_path / "out" / "urban_agreement_2030.tif") as ds:
        count = ds.read(1)
    assert int((count == 2).sum()) == 4 and count[5, 5] == 0
    assert NODATA in count


# --------------------------------------------------------------------------- real runs


def test_runs_written_by_landsim_run(tmp_path: Path) -> None:
    """What `landsim run` writes is what compare reads: two variants of the tiny scenario."""
    from _landsim_kit import DELETE, make_tiny_grid
    from _landsim_kit import URBAN as TINY_URBAN

    tiny = make_tiny_grid(tmp_path / "inputs")
    plan = tiny.scenario()
    free = tiny.scenario(
        {"name": "no-boundary", "constraints": {"urban_development_boundary": DELETE}},
        filename="free.toml",
    )
    runner = CliRunner()
    for scenario, out in ((plan, "plan"), (free, "free")):
        r = invoke(runner, "run", scenario, "-o", tmp_path / out)
        assert r.exit_code == 0, r.output
    out = tmp_path / "cmp"
    r = invoke(runner, "compare", tmp_path / "plan", tmp_path / "free", "-o", out)
    assert r.exit_code == 0, r.output
    assert "1: synthetic-tiny" in r.output and "2: no-boundary" in r.output
    maps = []
    for name in ("plan", "free"):
        with rasterio.open(tmp_path / name / "landuse_2030.tif") as ds:
            maps.append(ds.read(1))
    with rasterio.open(out / "urban_agreement_2030.tif") as ds:
        count = ds.read(1)
    expected = sum((m == TINY_URBAN).astype(np.uint8) for m in maps)
    expected[(maps[0] == NODATA) | (maps[1] == NODATA)] = 255
    np.testing.assert_array_equal(count, expected)
    combined = read_csv(out / "indicators.csv")
    for label, name in (("synthetic-tiny", "plan"), ("no-boundary", "free")):
        own = read_csv(tmp_path / name / "indicators.csv")
        mine = [
            {k: v for k, v in row.items() if k != "run"} for row in combined if row["run"] == label
        ]
        assert mine == own
    rows = {r["run"]: r for r in read_csv(out / "comparison.csv")}
    # The boundary indicators exist only where the scenario has a boundary.
    assert rows["synthetic-tiny"]["growth_inside_boundary_mean"] != ""
    assert rows["no-boundary"]["growth_inside_boundary_mean"] == ""
