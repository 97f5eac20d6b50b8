"""Run folders written by hand, for the ``landsim compare`` tests.

A run folder is what ``landsim run`` writes (the contract in docs/compare.md):
``provenance.json``, ``indicators.csv`` and the maps (``landuse_<year>.tif`` for a
single run, ``probability_<year>.tif`` for an ensemble). Writing them here keeps the
compare tests fast and independent of the model: the expectations are worked out by
hand from the arrays and numbers below.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CRS = "EPSG:32649"
CELL = 30.0
ORIGIN = (500_000.0, 3_400_000.0)
SHAPE = (40, 50)  # rows, columns
CELL_KM2 = CELL * CELL / 1e6
NODATA = 255

# The class table; the Chinese cropland name proves Unicode goes through.
CROPLAND, FOREST, WATER, URBAN = 1, 2, 3, 4
CLASSES: list[dict[str, Any]] = [
    {"code": CROPLAND, "name": "耕地", "role": "cropland", "color": "#f5e07a"},
    {"code": FOREST, "name": "forest", "role": "forest", "color": "#1a9641"},
    {"code": WATER, "name": "water", "role": "water", "color": "#2b83ba"},
    {"code": URBAN, "name": "urban", "role": "urban", "color": "#d7191c"},
]
# A scenario name that is HTML markup if not escaped, and Chinese.
NASTY_NAME = '武汉<规划>&"test"'

INDICATOR_HEADER = [
    "year",
    "indicator",
    "unit",
    "members",
    "mean",
    "std",
    "min",
    "p05",
    "median",
    "p95",
    "max",
]


def transform(origin: tuple[float, float] = ORIGIN, cell: float = CELL) -> Any:
    from rasterio.transform import from_origin

    return from_origin(origin[0], origin[1], cell, cell)


def base_landuse(shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Cropland with a forest block, a river column and a nodata corner; no urban."""
    lu = np.full(shape, CROPLAND, dtype=np.uint8)
    lu[:10, 30:] = FOREST
    lu[:, 15] = WATER
    lu[0, :3] = NODATA
    return lu


def with_urban(rows: slice, cols: slice, base: np.ndarray | None = None) -> np.ndarray:
    lu = (base_landuse() if base is None else base).copy()
    lu[rows, cols] = URBAN
    return lu


def _grid_json(shape: tuple[int, int], crs: str, tr: Any) -> dict[str, Any]:
    from rasterio.crs import CRS as RioCRS

    return {
        "width": shape[1],
        "height": shape[0],
        "crs": RioCRS.from_user_input(crs).to_wkt() if crs else "",
        "transform": [tr.a, tr.b, tr.c, tr.d, tr.e, tr.f],
    }


def single_rows(values: Mapping[str, Mapping[int, float]], unit: str = "km2") -> list[list[Any]]:
    """indicators.csv rows of a single run: every statistic equals the value."""
    rows = []
    for year in sorted({y for v in values.values() for y in v}):
        for name, by_year in values.items():
            if year in by_year:
                v = by_year[year]
                rows.append([year, name, unit, 1, v, 0, v, v, v, v, v])
    return rows


def ensemble_rows(
    values: Mapping[str, Mapping[int, tuple[float, float, float]]],
    members: int,
    unit: str = "km2",
) -> list[list[Any]]:
    """indicators.csv rows of an ensemble from (mean, p05, p95); the rest derived."""
    rows = []
    for year in sorted({y for v in values.values() for y in v}):
        for name, by_year in values.items():
            if year in by_year:
                mean, p05, p95 = by_year[year]
                std = round((p95 - p05) / 4, 6)
                rows.append([year, name, unit, members, mean, std, p05, p05, mean, p95, p95])
    return rows


def write_run(
    folder: Path,
    *,
    scenario: str = "base",
    maps: Mapping[int, np.ndarray] | None = None,
    probabilities: Mapping[int, np.ndarray] | None = None,
    members: int = 1,
    indicators: Sequence[Sequence[Any]] = (),
    classes: list[dict[str, Any]] | None = None,
    shape: tuple[int, int] = SHAPE,
    crs: str = CRS,
    tr: Any = None,
    start_year: int = 2020,
    end_year: int = 2030,
    provenance_overrides: Mapping[str, Any] | None = None,
) -> Path:
    """A run folder: ``maps`` (year → uint8 land use) for a single run, or
    ``probabilities`` (year → float32 array (classes, rows, cols)) for an ensemble."""
    import rasterio

    folder.mkdir(parents=True, exist_ok=True)
    classes = CLASSES if classes is None else classes
    tr = transform() if tr is None else tr
    ensemble = probabilities is not None
    years = sorted((probabilities if ensemble else maps or {}).keys())
    prov: dict[str, Any] = {
        "landsim_version": "0.1.0",
        "seed": 7,
        "scenario": scenario,
        "kind": "ensemble" if ensemble else "single",
        "members": members if ensemble else 1,
        "grid": _grid_json(shape, crs, tr),
        "cell_area_km2": CELL_KM2 if crs else None,
        "resolved_scenario": {
            "name": scenario,
            "classes": classes,
            "simulation": {
                "start_year": start_year,
                "end_year": end_year,
                "output_years": years,
                "seed": 7,
            },
        },
    }
    prov.update(provenance_overrides or {})
    (folder / "provenance.json").write_text(
        json.dumps(prov, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    with (folder / "indicators.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(INDICATOR_HEADER)
        # A run always has rows (compare refuses a header-only file as cut short); a
        # fixture that does not care gets one.
        w.writerows(indicators or single_rows({"urban": {start_year: 0.0}}))
    base = {"driver": "GTiff", "crs": crs or None, "transform": tr}
    if not ensemble:
        for year, lu in (maps or {}).items():
            profile = {**base, "height": lu.shape[0], "width": lu.shape[1], "count": 1}
            profile.update(dtype="uint8", nodata=NODATA)
            with rasterio.open(folder / f"landuse_{year}.tif", "w", **profile) as ds:
                ds.write(lu, 1)
    else:
        for year, p in (probabilities or {}).items():
            profile = {**base, "height": p.shape[1], "width": p.shape[2], "count": p.shape[0]}
            profile.update(dtype="float32", nodata=float("nan"))
            with rasterio.open(folder / f"probability_{year}.tif", "w", **profile) as ds:
                ds.write(p.astype(np.float32))
                for i, c in enumerate(classes[: p.shape[0]], start=1):
                    ds.set_band_description(i, c["name"])
                ds.update_tags(members=str(members))
    return folder


def probabilities_from(maps: Sequence[np.ndarray], classes: list[dict[str, Any]] = CLASSES):
    """An ensemble's probability stack from its members' maps (NaN where no data)."""
    stack = np.stack(maps)
    p = np.stack([(stack == c["code"]).mean(axis=0) for c in classes]).astype(np.float32)
    p[:, (stack == NODATA).any(axis=0)] = np.nan
    return p


# --------------------------------------------------------------------------- three runs
# Three runs on the 40 × 50 grid, urban on rectangles, so where they agree can be worked
# out on paper:
#
# * run 1 ``base`` (single): urban on rows 5–14, columns 5–14; maps 2025 and 2030;
# * run 2 ``武汉<规划>&"test"`` (single): rows 10–24, columns 10–24; maps 2025 (run 1's
#   rectangle) and 2030;
# * run 3 ``ens`` (ensemble of 4): member k urban on rows 5–(19 + k), columns 5–19, so
#   P(urban) ≥ 0.5 (at least 2 of 4 members) on rows 5–21; map 2030 only.
#
# Cells (0, 0–2) have no data in every run.

RECT_1 = (slice(5, 15), slice(5, 15))
RECT_2 = (slice(10, 25), slice(10, 25))
RECT_3 = (slice(5, 22), slice(5, 20))  # the ensemble's P(urban) >= 0.5


def members_maps() -> list[np.ndarray]:
    return [with_urban(slice(5, 20 + k), slice(5, 20)) for k in range(4)]


IND_1 = {
    "urban": {2020: 0.05, 2025: 0.08, 2030: 0.09},
    "new_urban": {2020: 0.0, 2025: 0.03, 2030: 0.04},
    "cropland_lost": {2020: 0.0, 2025: 0.02, 2030: 0.03},
    "growth_inside_boundary": {2020: 0.0, 2025: 0.02, 2030: 0.03},
    "growth_outside_boundary": {2020: 0.0, 2025: 0.01, 2030: 0.01},
    "area:耕地": {2020: 1.5, 2025: 1.48, 2030: 1.47},
}
IND_2 = {
    "urban": {2020: 0.05, 2025: 0.15, 2030: 0.2025},
    "new_urban": {2020: 0.0, 2025: 0.1, 2030: 0.1525},
    "cropland_lost": {2020: 0.0, 2025: 0.09, 2030: 0.14},
    "line_encroachment": {2020: 0.0, 2025: 0.01, 2030: 0.02},
    "area:耕地": {2020: 1.5, 2025: 1.41, 2030: 1.36},
}
IND_3 = {
    "urban": {2020: (0.05, 0.05, 0.05), 2030: (0.2295, 0.2025, 0.2565)},
    "cropland_lost": {2020: (0.0, 0.0, 0.0), 2030: (0.15, 0.12, 0.18)},
    "growth_inside_boundary": {2020: (0.0, 0.0, 0.0), 2030: (0.1, 0.08, 0.12)},
    "growth_outside_boundary": {2020: (0.0, 0.0, 0.0), 2030: (0.05, 0.04, 0.06)},
}


class ThreeRuns:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.a = write_run(
            root / "run_a",
            scenario="base",
            maps={2025: with_urban(*RECT_1), 2030: with_urban(*RECT_1)},
            indicators=single_rows(IND_1),
        )
        self.b = write_run(
            root / "run_b",
            scenario=NASTY_NAME,
            maps={2025: with_urban(*RECT_1), 2030: with_urban(*RECT_2)},
            indicators=single_rows(IND_2),
        )
        self.c = write_run(
            root / "run_c",
            scenario="ens",
            probabilities={2030: probabilities_from(members_maps())},
            members=4,
            indicators=ensemble_rows(IND_3, members=4),
        )

    @property
    def all(self) -> list[Path]:
        return [self.a, self.b, self.c]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
