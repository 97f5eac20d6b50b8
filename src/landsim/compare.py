"""``landsim compare``: several finished runs side by side.

Reads run folders written by ``landsim run`` (single runs and ensembles alike), checks
that they can be compared (same grid, same class table, a common map year) and writes
into one output folder: the runs' indicators combined, a one-row-per-run comparison at
one year, a GeoTIFF counting in how many runs each cell is urban, PNG maps of where
each run differs from the first, trajectory charts and one self-contained HTML report.

Everything a user can get wrong (a folder that is not a run, runs on different grids,
a year without maps, an output folder that already holds a report) is refused with one
line *before* anything is written; the outputs are written into a hidden staging folder
and moved into place at the end, so an interrupted comparison leaves nothing behind.
The contract is described in ``docs/compare.md``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from landsim import __version__
from landsim.errors import GridMismatchError, InputError, OutputError
from landsim.indicators import HEADER

# The columns of a run's indicators.csv (the run-folder contract).
INDICATOR_COLUMNS = tuple(HEADER)
# Indicators of comparison.csv, the CLI table and the report's headline table, in order.
HEADLINE = (
    "urban",
    "new_urban",
    "cropland_lost",
    "growth_inside_boundary",
    "growth_outside_boundary",
    "line_encroachment",
    "disallowed_growth",
)
HEADLINE_TITLES = {
    "urban": "urban",
    "new_urban": "new urban",
    "cropland_lost": "cropland lost",
    "growth_inside_boundary": "growth inside boundary",
    "growth_outside_boundary": "growth outside boundary",
    "line_encroachment": "line encroachment",
    "disallowed_growth": "disallowed growth",
}
# Files a comparison writes; an output folder holding any of them holds a comparison,
# and with --overwrite the ones this comparison does not write again are removed.
COMPARE_PATTERNS = (
    "report.html",
    "comparison.csv",
    "indicators.csv",
    "urban_agreement_*.tif",
    "urban_agreement_*.png",
    "urban_difference_*.png",
    "p_urban_difference_*.png",
    "chart_*.png",
)
# An ensemble cell counts as urban where at least this share of members made it urban.
URBAN_PROBABILITY = 0.5
AGREEMENT_NODATA = 255
_MAP_NAME = {
    "single": re.compile(r"^landuse_(\d{4})\.tif$"),
    "ensemble": re.compile(r"^probability_(\d{4})\.tif$"),
}
_MAP_FILE = {"single": "landuse_{year}.tif", "ensemble": "probability_{year}.tif"}


@dataclass(frozen=True)
class Stat:
    """One indicator of one run in one year: the ensemble statistics (all equal for a
    single run) and the text of mean, p05 and p95 as the run wrote them."""

    members: int
    mean: float
    std: float
    p05: float
    p95: float
    text: tuple[str, str, str]  # mean, p05, p95 verbatim, so CSV outputs copy, not reformat


@dataclass(frozen=True)
class ComparedRun:
    """A run in the comparison, with its headline indicators at the comparison year."""

    number: int  # 1-based position on the command line; run 1 is the reference
    label: str
    path: Path
    scenario: str
    kind: str  # "single" | "ensemble"
    members: int
    at_year: dict[str, Stat | None]


@dataclass(frozen=True)
class CompareResult:
    out_dir: Path
    year: int
    unit: str
    runs: list[ComparedRun]
    files: list[str]


# --------------------------------------------------------------------------- reading runs


@dataclass
class _Run:
    path: Path
    scenario: str
    kind: str
    members: int
    seed: Any
    version: str
    width: int
    height: int
    crs_wkt: str
    transform: tuple[float, ...]
    cell_area_km2: float | None
    classes: list[dict[str, Any]]
    map_years: list[int]
    rows: list[dict[str, str]]  # indicators.csv, verbatim
    stats: dict[tuple[str, int], Stat] = field(default_factory=dict)
    label: str = ""

    @property
    def urban_class(self) -> tuple[int, int]:
        """(band index in class-table order, code) of the urban class."""
        for i, c in enumerate(self.classes):
            if c["role"] == "urban":
                return i, int(c["code"])
        raise AssertionError("checked when the run was read")

    def map_path(self, year: int) -> Path:
        return self.path / _MAP_FILE[self.kind].format(year=year)

    def stat(self, indicator: str, year: int) -> Stat | None:
        return self.stats.get((indicator, year))

    def series(self, indicator: str) -> list[tuple[int, Stat]]:
        return sorted((y, s) for (name, y), s in self.stats.items() if name == indicator)


_RUN_HINT = "give folders written by `landsim run`"


def _read_provenance(path: Path) -> dict[str, Any]:
    prov = path / "provenance.json"
    if not path.exists():
        raise InputError(f"run folder {path} not found; {_RUN_HINT}")
    if not path.is_dir():
        raise InputError(f"{path} is a file, not a run folder; {_RUN_HINT}")
    if not prov.is_file():
        raise InputError(f"{path} is not a landsim run folder (no provenance.json); {_RUN_HINT}")
    try:
        data = json.loads(prov.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{prov}: unreadable ({exc}); run the scenario again to rewrite the folder"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{prov}: not a landsim provenance file; {_RUN_HINT}")
    return data


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    """``data[key]`` of the expected type, or one line saying the file predates compare."""
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):  # JSON true is no count
        version = data.get("landsim_version", "an unknown version")
        what = "lacks" if key not in data else "has an unusable"
        raise InputError(
            f"{where}: {what} key {key!r} (written by landsim {version}); run the scenario "
            f"again with landsim {__version__} to write what compare reads"
        )
    return value


def _read_indicators(
    path: Path, run_dir: Path
) -> tuple[list[dict[str, str]], dict[tuple[str, int], Stat]]:
    if not path.is_file():
        raise InputError(
            f"{run_dir} has no indicators.csv (it predates landsim compare); run its "
            f"scenario again with landsim {__version__}"
        )
    try:
        # utf-8-sig: a file re-saved by a spreadsheet gains a BOM; read it all the same.
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in INDICATOR_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    f"{path}: missing column(s) {', '.join(missing)}; it is not a landsim "
                    "indicators file; run the scenario again to rewrite it"
                )
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable ({exc}); run the scenario again") from None
    if not rows:
        raise InputError(
            f"{path}: holds a header but no indicator rows (cut short?); run the scenario "
            "again to rewrite it"
        )
    stats: dict[tuple[str, int], Stat] = {}
    for line, row in enumerate(rows, start=2):
        try:
            key = (row["indicator"], int(row["year"]))
            stats[key] = Stat(
                members=int(row["members"]),
                mean=float(row["mean"]),
                std=float(row["std"]),
                p05=float(row["p05"]),
                p95=float(row["p95"]),
                text=(row["mean"], row["p05"], row["p95"]),
            )
        except (TypeError, ValueError):
            raise InputError(
                f"{path}, line {line}: year, members and the statistics must be numbers; "
                "run the scenario again to rewrite the file"
            ) from None
    return rows, stats


def _map_years(run_dir: Path, kind: str) -> list[int]:
    pattern = _MAP_NAME[kind]
    years = sorted(int(m.group(1)) for p in run_dir.iterdir() if (m := pattern.match(p.name)))
    if not years:
        what = _MAP_FILE[kind].format(year="<year>")
        raise InputError(
            f"{run_dir} holds no {what} maps; run the scenario with [output] geotiff = true"
        )
    return years


def read_run(path: Path) -> _Run:
    """A run folder's provenance, indicators and map years; refuses what is not a run."""
    from landsim.io.write import refuse_interrupted

    refuse_interrupted(path)
    data = _read_provenance(path)
    prov = path / "provenance.json"
    kind = _need(data, "kind", str, prov)
    if kind not in _MAP_NAME:
        raise InputError(
            f"{prov}: kind {kind!r} is neither 'single' nor 'ensemble'; run the scenario again"
        )
    members = _need(data, "members", int, prov)
    grid = _need(data, "grid", dict, prov)
    try:
        width, height = int(grid["width"]), int(grid["height"])
        transform = tuple(float(v) for v in grid["transform"])
        crs_wkt = str(grid.get("crs") or "")
        if len(transform) != 6:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"{prov}: 'grid' needs width, height, crs and a 6-number transform; "
            "run the scenario again"
        ) from None
    resolved = _need(data, "resolved_scenario", dict, prov)
    classes = _need(resolved, "classes", list, prov)
    try:
        classes = [
            {**c, "code": int(c["code"]), "name": str(c["name"]), "role": str(c["role"])}
            for c in classes
        ]
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"{prov}: a class lacks code, name or role; run the scenario again"
        ) from None
    if sum(c["role"] == "urban" for c in classes) != 1:
        raise InputError(f"{prov}: the class table needs exactly one urban class")
    scenario = _need(data, "scenario", str, prov)
    area = data.get("cell_area_km2")
    rows, stats = _read_indicators(path / "indicators.csv", path)
    return _Run(
        path=path,
        scenario=scenario,
        kind=kind,
        members=members,
        seed=data.get("seed"),
        version=str(data.get("landsim_version", "")),
        width=width,
        height=height,
        crs_wkt=crs_wkt,
        transform=transform,
        cell_area_km2=float(area) if isinstance(area, int | float) else None,
        classes=classes,
        map_years=_map_years(path, kind),
        rows=rows,
        stats=stats,
    )


# --------------------------------------------------------------------------- checks


def _assign_labels(runs: list[_Run]) -> None:
    """Scenario names, unless two runs share one: then folder names (then paths)."""
    names = [r.scenario for r in runs]
    for r in runs:
        r.label = r.scenario if names.count(r.scenario) == 1 else r.path.name
    labels = [r.label for r in runs]
    for r in runs:
        if labels.count(r.label) > 1:
            r.label = str(r.path)


def _crs_text(wkt: str) -> str:
    if not wkt:
        return "no CRS"
    from rasterio.crs import CRS

    crs = CRS.from_wkt(wkt)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()[:60]


def _same_crs(a: str, b: str) -> bool:
    if not a or not b:
        return a == b
    from rasterio.crs import CRS

    # Compare CRS objects, not text: two GDAL versions may spell one CRS differently.
    return a == b or CRS.from_wkt(a) == CRS.from_wkt(b)


def _same_transform(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    cell = max(abs(a[0]), abs(a[4]), 1e-12)
    # Offsets and sizes equal to a millionth of a cell: float noise, not another grid.
    tol = cell * 1e-6
    return all(math.isclose(x, y, rel_tol=0, abs_tol=tol) for x, y in zip(a, b, strict=True))


def _transform_text(t: tuple[float, ...]) -> str:
    return f"origin ({t[2]:.12g}, {t[5]:.12g}), cell {t[0]:.12g} × {t[4]:.12g}"


def check_comparable(runs: list[_Run]) -> None:
    """Refuse runs on different grids or with different class tables, naming both."""
    ref = runs[0]
    for r in runs[1:]:
        pair = f"runs {ref.path} and {r.path}"
        fix = "compare runs of scenarios on the same land-use grid"
        if (ref.height, ref.width) != (r.height, r.width):
            raise GridMismatchError(
                f"{pair} are on different grids: shape {ref.height} × {ref.width} vs "
                f"{r.height} × {r.width} (rows × columns); {fix}"
            )
        if not _same_crs(ref.crs_wkt, r.crs_wkt):
            raise GridMismatchError(
                f"{pair} are on different grids: CRS {_crs_text(ref.crs_wkt)} vs "
                f"{_crs_text(r.crs_wkt)}; {fix}"
            )
        if not _same_transform(ref.transform, r.transform):
            raise GridMismatchError(
                f"{pair} are on different grids: transform {_transform_text(ref.transform)} "
                f"vs {_transform_text(r.transform)}; {fix}"
            )
        a = {c["code"]: (c["name"], c["role"]) for c in ref.classes}
        b = {c["code"]: (c["name"], c["role"]) for c in r.classes}
        if a != b:
            diffs = []
            for code in sorted(a.keys() | b.keys()):
                if code not in b:
                    diffs.append(f"code {code} ({a[code][0]}) only in the first")
                elif code not in a:
                    diffs.append(f"code {code} ({b[code][0]}) only in the second")
                elif a[code] != b[code]:
                    diffs.append(f"code {code} is {'/'.join(a[code])} vs {'/'.join(b[code])}")
            shown = "; ".join(diffs[:3]) + (f"; … {len(diffs) - 3} more" if len(diffs) > 3 else "")
            raise InputError(
                f"{pair} have different class tables ({shown}); compare runs whose "
                "[[classes]] agree (code, name and role)"
            )


def choose_year(runs: list[_Run], year: int | None) -> int:
    common = sorted(set.intersection(*(set(r.map_years) for r in runs)))
    listed = ", ".join(map(str, common))
    if year is not None:
        for r in runs:
            if year not in r.map_years:
                hint = (
                    f"choose --year among the years all runs have maps for: {listed}"
                    if common
                    else "the runs share no map year; run them with a common "
                    "[simulation] output_years"
                )
                raise InputError(
                    f"run {r.path} has no map for {year} "
                    f"(it has {', '.join(map(str, r.map_years))}); {hint}"
                )
        return year
    if not common:
        each = "; ".join(f"{r.path}: {', '.join(map(str, r.map_years))}" for r in runs)
        raise InputError(
            f"the runs share no map year ({each}); run them with a common [simulation] output_years"
        )
    return common[-1]


def _existing(out_dir: Path, patterns: tuple[str, ...]) -> list[str]:
    if not out_dir.is_dir():
        return []
    return sorted({p.name for pat in patterns for p in out_dir.glob(pat)})


def check_output(out_dir: Path, runs: list[_Run], overwrite: bool) -> None:
    """Refuse an output folder that is a run, or holds a comparison (unless overwrite)."""
    from landsim.io.write import existing_results

    here = out_dir.resolve()
    for r in runs:
        if r.path.resolve() == here:
            raise OutputError(
                f"output folder {out_dir} is the run folder {r.path} being compared; "
                "write the comparison to another folder with -o"
            )
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output {out_dir} exists and is not a folder; choose another -o")
    # Never write into a run's folder, not even with --overwrite: the comparison's
    # indicators.csv would replace the run's own. (indicators.csv itself is both a run's
    # and a comparison's file, so it says nothing about which the folder holds.)
    run_files = [f for f in existing_results(out_dir) if f not in COMPARE_PATTERNS]
    if run_files:
        raise OutputError(
            f"output folder {out_dir} holds a run's results ({', '.join(run_files[:3])}); "
            "write the comparison to another folder with -o"
        )
    found = _existing(out_dir, COMPARE_PATTERNS)
    if found and not overwrite:
        shown = ", ".join(found[:3]) + (" …" if len(found) > 3 else "")
        raise OutputError(
            f"output folder {out_dir} already holds a comparison ({shown}); pass --overwrite "
            "to replace it, or choose another folder with -o"
        )


# --------------------------------------------------------------------------- maps


@dataclass
class _UrbanMap:
    urban: np.ndarray  # bool
    valid: np.ndarray  # bool: the cell has data
    p_urban: np.ndarray  # float32, NaN where no data; 0/1 for a single run


def read_urban(run: _Run, year: int) -> _UrbanMap:
    """Where ``run`` is urban in ``year``: its map, or its ensemble's P(urban) ≥ 0.5."""
    import rasterio
    from rasterio.errors import RasterioIOError

    path = run.map_path(year)
    band, code = run.urban_class
    try:
        with rasterio.open(path) as ds:
            if ds.shape != (run.height, run.width):
                raise InputError(
                    f"{path}: {ds.height} × {ds.width} cells, but provenance.json says "
                    f"{run.height} × {run.width}; run the scenario again"
                )
            if run.kind == "single":
                lu = ds.read(1)
                nodata = 255 if ds.nodata is None else ds.nodata
                valid = lu != nodata
                urban = lu == code
                return _UrbanMap(urban, valid, np.where(valid, urban, np.nan).astype(np.float32))
            if ds.count != len(run.classes):
                raise InputError(
                    f"{path}: {ds.count} bands for {len(run.classes)} classes; "
                    "run the scenario again"
                )
            # Bands are in class-table order; the description names the class, so use
            # it when present, in case a tool reordered the bands.
            name = run.classes[band]["name"]
            if name in ds.descriptions:
                band = ds.descriptions.index(name)
            p = ds.read(band + 1).astype(np.float32)
    except RasterioIOError as exc:
        raise InputError(f"{path}: unreadable ({exc}); run the scenario again") from None
    valid = ~np.isnan(p)
    return _UrbanMap(np.where(valid, p, 0) >= URBAN_PROBABILITY, valid, p)


def agreement(maps: list[_UrbanMap]) -> np.ndarray:
    """uint8: in how many runs each cell is urban; 255 where any run has no data."""
    count = np.zeros(maps[0].urban.shape, dtype=np.uint8)
    valid = np.ones(maps[0].urban.shape, dtype=bool)
    for m in maps:
        count += m.urban
        valid &= m.valid
    count[~valid] = AGREEMENT_NODATA
    return count


def difference(first: _UrbanMap, other: _UrbanMap) -> np.ndarray:
    """uint8 categories: 0 urban in neither, 1 both, 2 only the first, 3 only the other,
    255 no data in either."""
    cat = np.zeros(first.urban.shape, dtype=np.uint8)
    cat[first.urban & other.urban] = 1
    cat[first.urban & ~other.urban] = 2
    cat[~first.urban & other.urban] = 3
    cat[~(first.valid & other.valid)] = AGREEMENT_NODATA
    return cat


def _write_agreement(path: Path, count: np.ndarray, ref: _Run, runs: list[_Run], year: int) -> None:
    import rasterio

    with rasterio.open(ref.map_path(year)) as src:
        crs, transform = src.crs, src.transform
    profile = {
        "driver": "GTiff",
        "height": count.shape[0],
        "width": count.shape[1],
        "count": 1,
        "dtype": "uint8",
        "crs": crs,
        "transform": transform,
        "nodata": AGREEMENT_NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 2,
    }
    from landsim.io.write import _gdal_atomic
    from landsim.report.figures import agreement_colors

    # In memory, then one plain write: GDAL does not report a full disk (io/write.py).
    with _gdal_atomic(path, profile) as ds:
        ds.write(count, 1)
        cmap = agreement_colors(len(runs))
        cmap[AGREEMENT_NODATA] = (0, 0, 0, 0)
        ds.write_colormap(1, cmap)
        ds.update_tags(
            landsim_version=__version__,
            year=str(year),
            meaning=f"number of runs in which the cell is urban (an ensemble: P(urban) >= "
            f"{URBAN_PROBABILITY}); {AGREEMENT_NODATA}: no data in some run",
            # ASCII JSON: GeoTIFF metadata is safest without raw non-ASCII bytes.
            runs=json.dumps([r.label for r in runs]),
            run_folders=json.dumps([str(r.path) for r in runs]),
        )


# --------------------------------------------------------------------------- the comparison


def _fmt(v: float, unit: str) -> str:
    return f"{v:,.0f}" if unit == "cells" else f"{v:,.2f}"


def format_stat(s: Stat | None, unit: str) -> str:
    """``mean`` for a single run, ``mean (p05–p95)`` for an ensemble, ``–`` if absent."""
    if s is None:
        return "–"
    if s.members <= 1:
        return _fmt(s.mean, unit)
    return f"{_fmt(s.mean, unit)} ({_fmt(s.p05, unit)}–{_fmt(s.p95, unit)})"


def _unit(runs: list[_Run]) -> str:
    units = sorted({row["unit"] for r in runs for row in r.rows})
    if len(units) > 1:
        raise InputError(
            f"the runs' indicators are in different units ({', '.join(units)}); compare runs "
            "on the same grid, written by the same landsim version"
        )
    return units[0] if units else "cells"


def compare_runs(
    run_dirs: list[Path],
    out_dir: Path,
    *,
    year: int | None = None,
    overwrite: bool = False,
) -> CompareResult:
    """Compare run folders and write the comparison into ``out_dir`` (atomically).

    Raises a :class:`~landsim.errors.LandsimError` (one line) for fewer than two runs, a
    folder that is not a run, runs on different grids or with different class tables, a
    ``year`` some run has no map for, and an output folder that is a run or already
    holds a comparison (without ``overwrite``). Nothing is written then.
    """
    from landsim.io import write
    from landsim.report import figures
    from landsim.report.html import render_report

    run_dirs = [Path(p) for p in run_dirs]
    if len(run_dirs) < 2:
        raise InputError(
            f"compare needs at least two run folders, got {len(run_dirs)}; "
            "name two or more folders written by `landsim run`"
        )
    if len(run_dirs) >= AGREEMENT_NODATA:
        raise InputError(
            f"compare takes at most {AGREEMENT_NODATA - 1} runs, got {len(run_dirs)}; "
            "compare fewer runs at a time"
        )
    seen: dict[Path, Path] = {}
    for p in run_dirs:
        key = p.resolve()
        if key in seen:
            raise InputError(
                f"run folder {p} is named twice (also as {seen[key]}); name each run once"
            )
        seen[key] = p
    runs = [read_run(p) for p in run_dirs]
    _assign_labels(runs)
    check_comparable(runs)
    year = choose_year(runs, year)
    unit = _unit(runs)
    out_dir = Path(out_dir)
    check_output(out_dir, runs, overwrite)

    maps = [read_urban(r, year) for r in runs]
    count = agreement(maps)
    ref = runs[0]
    cell_km2 = ref.cell_area_km2

    images: dict[str, bytes] = {}
    plain = figures.plain_labels([r.label for r in runs])
    images[f"urban_agreement_{year}.png"] = figures.agreement_png(count, len(runs), year)
    diffs = []
    for i, (r, m) in enumerate(zip(runs[1:], maps[1:], strict=True), start=2):
        cat = difference(maps[0], m)
        counts = {k: int(np.count_nonzero(cat == k)) for k in (1, 2, 3)}
        name = f"urban_difference_{i}_{year}.png"
        images[name] = figures.difference_png(cat, plain[0], plain[i - 1], year)
        p_name = None
        if r.kind == "ensemble" or ref.kind == "ensemble":
            p_name = f"p_urban_difference_{i}_{year}.png"
            images[p_name] = figures.p_difference_png(
                maps[0].p_urban, m.p_urban, plain[0], plain[i - 1], year
            )
        diffs.append((i, r, name, p_name, counts))
    charts = figures.trajectory_charts(
        [
            (plain[i], r.members, {ind: r.series(ind) for ind in HEADLINE})
            for i, r in enumerate(runs)
        ],
        unit,
    )
    images.update(charts)

    compared = [
        ComparedRun(
            number=i,
            label=r.label,
            path=r.path,
            scenario=r.scenario,
            kind=r.kind,
            members=r.members,
            at_year={ind: r.stat(ind, year) for ind in HEADLINE},
        )
        for i, r in enumerate(runs, start=1)
    ]
    tif = f"urban_agreement_{year}.tif"
    files = sorted(["indicators.csv", "comparison.csv", tif, *images, "report.html"])
    data = _report_data(runs, compared, year, unit, count, diffs, images, cell_km2)
    report = render_report(replace(data, files=[f for f in files if f != "report.html"]))

    written: list[str] = []
    with write.staged_output(out_dir, overwrite) as stage:
        try:
            write.write_csv(
                stage / "indicators.csv",
                ["run", *INDICATOR_COLUMNS],
                [[r.label, *(row[c] for c in INDICATOR_COLUMNS)] for r in runs for row in r.rows],
            )
            write.write_csv(stage / "comparison.csv", *_comparison_table(runs, year, unit))
            _write_agreement(stage / tif, count, ref, runs, year)
            for name, png in images.items():
                (stage / name).write_bytes(png)
            write.write_text(stage / "report.html", report)
        except OutputError:
            raise  # already one line naming the file
        except OSError as exc:
            raise OutputError(
                f"cannot write the comparison into {out_dir}: {exc.strerror or exc}; "
                "free space or choose another -o"
            ) from None
        written = sorted(p.name for p in stage.iterdir())
        assert written == files, (written, files)
    # staged_output replaced the files of the same names; remove the rest of an older
    # comparison (a run that is no longer compared, another year) so the folder never
    # mixes two comparisons.
    for name in _existing(out_dir, COMPARE_PATTERNS):
        if name not in written:
            (out_dir / name).unlink(missing_ok=True)
    return CompareResult(out_dir=out_dir, year=year, unit=unit, runs=compared, files=written)


def _comparison_table(runs: list[_Run], year: int, unit: str) -> tuple[list[str], list[list]]:
    header = ["run", "folder", "scenario", "kind", "members", "year", "unit"]
    for ind in HEADLINE:
        header += [f"{ind}_mean", f"{ind}_p05", f"{ind}_p95"]
    rows = []
    for r in runs:
        row: list[Any] = [r.label, str(r.path), r.scenario, r.kind, r.members, year, unit]
        for ind in HEADLINE:
            s = r.stat(ind, year)
            row += list(s.text) if s is not None else ["", "", ""]
        rows.append(row)
    return header, rows


def _report_data(
    runs: list[_Run],
    compared: list[ComparedRun],
    year: int,
    unit: str,
    count: np.ndarray,
    diffs: list[tuple[int, _Run, str, str | None, dict[int, int]]],
    images: dict[str, bytes],
    cell_km2: float | None,
) -> Any:
    from landsim.report.figures import CHART_TITLES
    from landsim.report.html import Image, ReportData

    unit_text = "km²" if unit == "km2" else "cells"

    def area(cells: int) -> str:
        if cell_km2 is None:
            return f"{cells:,} cells"
        return f"{cells:,} cells ({cells * cell_km2:,.2f} km²)"

    ref = runs[0]
    run_rows = [
        [
            str(c.number),
            c.label,
            c.scenario,
            c.kind if c.members <= 1 else f"ensemble of {c.members}",
            str(c.path),
            str(r.seed),
            ", ".join(map(str, r.map_years)),
            r.version,
        ]
        for c, r in zip(compared, runs, strict=True)
    ]
    headline = [ind for ind in HEADLINE if any(c.at_year[ind] is not None for c in compared)]
    headline_rows = [
        [str(c.number), c.label, *(format_stat(c.at_year[ind], unit) for ind in headline)]
        for c in compared
    ]
    # Every indicator any run has at the year, in the order the first run lists them.
    names: list[str] = []
    for r in runs:
        for row in r.rows:
            if row["indicator"] not in names:
                names.append(row["indicator"])
    all_rows = [
        [name, *(format_stat(r.stat(name, year), unit) for r in runs)]
        for name in names
        if any(r.stat(name, year) is not None for r in runs)
    ]
    n = len(runs)
    valid = count != AGREEMENT_NODATA
    agree_counts = [int(np.count_nonzero(valid & (count == k))) for k in range(n + 1)]
    agreement_img = Image(
        title=f"Urban agreement in {year}",
        alt=f"Map of the number of runs (0 to {n}) in which each cell is urban in {year}",
        png=images[f"urban_agreement_{year}.png"],
        caption="; ".join(
            f"urban in {k} of {n} runs: {area(c)}" for k, c in enumerate(agree_counts)
        ),
    )
    diff_imgs = []
    for i, r, name, p_name, counts in diffs:
        vs = f"run {i} ({r.label}) against run 1 ({ref.label})"
        diff_imgs.append(
            Image(
                title=f"Run {i} against run 1: urban land in {year}",
                alt=f"Map of urban land in {year}: in both runs, only in run 1 ({ref.label}), "
                f"only in run {i} ({r.label})",
                png=images[name],
                caption=f"{vs}: urban in both {area(counts[1])}; only in run 1 "
                f"{area(counts[2])}; only in run {i} {area(counts[3])}",
            )
        )
        if p_name is not None:
            diff_imgs.append(
                Image(
                    title=f"Run {i} against run 1: P(urban) in {year}",
                    alt=f"Map of the difference in the probability of urban land in {year}, "
                    f"run {i} ({r.label}) minus run 1 ({ref.label})",
                    png=images[p_name],
                    caption=f"{vs}: P(urban) of run {i} minus P(urban) of run 1 (a single "
                    "run counts as 0 or 1); red: more likely urban in run "
                    f"{i}, blue: more likely urban in run 1",
                )
            )
    legend = "; ".join(f"{c.number}: {c.label}" for c in compared)
    chart_imgs = [
        Image(
            title=f"{title} per year",
            alt=f"Chart of {title.lower()} ({unit_text}) per year, one line per run",
            png=images[name],
            caption=f"One line per run (an ensemble's mean; shaded: the p05–p95 range of its "
            f"members). Runs: {legend}",
        )
        for name, title in CHART_TITLES.items()
        if name in images
    ]
    title = "landsim comparison: " + " vs ".join(r.label for r in runs)
    return ReportData(
        title=title,
        year=year,
        unit=unit_text,
        runs_header=["#", "run", "scenario", "kind", "folder", "seed", "map years", "landsim"],
        runs=run_rows,
        headline_header=["#", "run", *(f"{HEADLINE_TITLES[i]} ({unit_text})" for i in headline)],
        headline=headline_rows,
        indicators_header=["indicator", *(f"{c.number}: {c.label}" for c in compared)],
        indicators=all_rows,
        agreement=agreement_img,
        differences=diff_imgs,
        charts=chart_imgs,
        version=__version__,
    )
