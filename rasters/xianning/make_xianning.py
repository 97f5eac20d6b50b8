"""Turn the Xianning MCCA mixed-cell data into landsim inputs (see SOURCE.md next to this).

Run from anywhere::

    python rasters/xianning/make_xianning.py [SOURCE_DIR] [--out DIR] [--quiet]

``SOURCE_DIR`` defaults to ``<repo root>/../shared/data/xianning_mcca_2000_2015``, found
from this file's own location (so the working directory does not matter); ``--out``
defaults to this file's folder. Every output is written on the grid (CRS and geotransform)
of ``Xianning_2000_landuse_1.tif``, as a tiled (256 x 256) DEFLATE GeoTIFF with no
timestamp, atomically (temporary file, then rename). The same source gives byte-identical
files on every run. The script also prints the facts quoted in SOURCE.md (unless
``--quiet``).

Outputs
-------
``landuse_{2000,2015}_dominant.tif``
    uint8 dominant class 1..7 (argmax over the 7 fractions, ties to the lowest class code),
    255 where the cell has no data (or its fractions sum to 0); GDAL colour table.
``fractions_{2000,2015}.tif``
    float32, 7 bands (band k = fraction of class k), NaN nodata, band descriptions = names.
``dem_m.tif``, ``slope_deg.tif``
    float32 copies of DEM.tif (int32, metres) and slope.tif (degrees), NaN nodata.
``dist_{town,highway,primaryroad,arterialroad,secondaryroad,tertiaryroad,hsr_station}_deg.tif``
    float32 copies of the source distances, kept in decimal degrees (see SOURCE.md, and
    ``distance_check`` for why they are not converted), NaN nodata.
``open_water_2015.tif``
    uint8, 1 where OpenWater.tif >= 0.5, 0 elsewhere on the data, 255 off the data.
``dist_urban_{2000,2015}_km.tif``
    float32 distance (km) to the nearest dominant-urban (code 5) cell of that year, from
    scipy.ndimage.distance_transform_edt with the cell's height and width in km at the
    grid's mean latitude; NaN off the data.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "xianning_mcca_2000_2015"

YEARS = (2000, 2015)
CLASSES = (
    # code, name, landsim role, colour
    (1, "cropland", "cropland", (245, 224, 122)),
    (2, "forest", "forest", (26, 150, 65)),
    (3, "grassland", "grassland", (166, 217, 106)),
    (4, "water", "water", (43, 131, 186)),
    (5, "urban", "urban", (215, 25, 28)),
    (6, "rural_residential", "construction", (240, 124, 74)),
    (7, "other", "bare", (200, 180, 155)),
)
CLASS_NAMES = tuple(c[1] for c in CLASSES)
URBAN = 5
NODATA_U8 = 255

# source distance file -> output name stem
DISTANCES = (
    ("dst_town.tif", "dist_town"),
    ("dst_highway.tif", "dist_highway"),
    ("dst_primaryroad.tif", "dist_primaryroad"),
    ("dst_arterialroad.tif", "dist_arterialroad"),
    ("dst_secondaryroad.tif", "dist_secondaryroad"),
    ("dst_tetriary.tif", "dist_tertiaryroad"),
    ("dst_highspeedrailwaystation.tif", "dist_hsr_station"),
)
OPEN_WATER_MIN = 0.5
FRACTION_EPS = 1e-9  # fractions are hundredths stored as float64 with ~1e-11 noise

UPSTREAM = "https://github.com/HPSCIL/mcMCCA @ 6c8a3c8625f3f41ef176a43cf7b7db9c1fccf139"
CITATION = "Liang et al. (2021) Landscape and Urban Planning 205:103960"


# ---------------------------------------------------------------- geometry helpers


def metres_per_degree(lat_deg: float) -> tuple[float, float]:
    """(north-south, east-west) metres per degree on the WGS 84 ellipsoid at ``lat_deg``.

    The usual series for the meridian and parallel arc lengths of one degree.
    """
    p = math.radians(lat_deg)
    ns = 111132.954 - 559.822 * math.cos(2 * p) + 1.175 * math.cos(4 * p)
    ew = 111412.84 * math.cos(p) - 93.5 * math.cos(3 * p) + 0.118 * math.cos(5 * p)
    return ns, ew


def cell_size_km(transform: rasterio.Affine, height: int) -> tuple[float, float, float]:
    """(mean latitude, cell height km, cell width km) of the grid at its mean latitude."""
    mean_lat = transform.f + transform.e * height / 2.0
    ns, ew = metres_per_degree(mean_lat)
    return mean_lat, abs(transform.e) * ns / 1000.0, abs(transform.a) * ew / 1000.0


def distance_km(feature: np.ndarray, sampling_km: tuple[float, float]) -> np.ndarray:
    """Euclidean distance (km) from every cell to the nearest ``feature`` cell."""
    if not feature.any():
        raise ValueError("no feature cells: the distance is undefined")
    return ndimage.distance_transform_edt(~feature, sampling=sampling_km)


def dominant_class(fractions: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """uint8 argmax over axis 0 plus 1 (ties to the lowest code); 255 where not valid.

    ``fractions`` may hold NaN where not ``valid``; a valid cell whose fractions sum to 0
    is also nodata.
    """
    filled = np.where(valid[None], fractions, -1.0)
    dom = (np.argmax(filled, axis=0) + 1).astype(np.uint8)
    keep = valid & (np.where(valid[None], fractions, 0.0).sum(axis=0) > 0)
    dom[~keep] = NODATA_U8
    return dom


# ---------------------------------------------------------------- reading and writing


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with rasterio.open(path) as ds:
        return ds.read(1), ds.read_masks(1) > 0


def _write(
    out: Path,
    name: str,
    data: np.ndarray,
    grid: dict,
    *,
    nodata: float,
    tags: dict[str, str],
    descriptions: tuple[str, ...] | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
) -> None:
    bands = data if data.ndim == 3 else data[None]
    profile = {
        "driver": "GTiff",
        "width": grid["width"],
        "height": grid["height"],
        "count": bands.shape[0],
        "crs": grid["crs"],
        "transform": grid["transform"],
        "dtype": bands.dtype.name,
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 2 if bands.dtype.kind in "ui" else 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "interleave": "band",
    }
    tmp = out / f".{name}.tmp"
    with rasterio.open(tmp, "w", **profile) as ds:
        ds.write(bands)
        ds.update_tags(**tags)
        if descriptions is not None:
            for i, desc in enumerate(descriptions, start=1):
                ds.set_band_description(i, desc)
        if colormap is not None:
            ds.write_colormap(1, colormap)
    os.replace(tmp, out / name)


def _float32(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, data, np.nan).astype(np.float32)


# ---------------------------------------------------------------- the steps


def load_fractions(src: Path, year: int, valid: np.ndarray) -> np.ndarray:
    """(7, rows, cols) float64 fractions of ``year``; checks every class shares ``valid``."""
    bands = []
    for k in range(1, 8):
        data, mask = _read(src / f"Xianning_{year}_landuse_{k}.tif")
        if not np.array_equal(mask, valid):
            raise ValueError(f"{year} class {k}: nodata mask differs from 2000 class 1")
        bands.append(np.where(valid, data, np.nan))
    return np.stack(bands)


def distance_check(
    deg: np.ndarray,
    valid: np.ndarray,
    cell_deg: float,
    sampling_km: tuple[float, float],
    km_per_deg: float,
) -> dict[str, float]:
    """How well a km distance recomputed on this grid matches the source ``deg`` distance.

    Two guesses at the feature cells: the cells where ``deg == 0`` ("zero") and the cells
    within half a cell of a feature, ``deg < cell_deg / 2`` ("half"). For each, the km
    distance from those cells (``distance_km``) is compared with ``deg * km_per_deg`` over
    the valid cells with ``deg > 0``: Pearson correlation ``r_*`` and median ratio
    recomputed / scaled ``ratio_*`` (NaN where there are no such cells).
    """
    res: dict[str, float] = {}
    sel = valid & (deg > 0)
    scaled = deg[sel].astype(np.float64) * km_per_deg
    for key, feature in (("zero", valid & (deg == 0)), ("half", valid & (deg < cell_deg / 2))):
        res[f"n_{key}"] = int(feature.sum())
        if not feature.any():
            res[f"r_{key}"] = res[f"ratio_{key}"] = math.nan
            continue
        rec = distance_km(feature, sampling_km)[sel]
        res[f"r_{key}"] = float(np.corrcoef(scaled, rec)[0, 1])
        res[f"ratio_{key}"] = float(np.median(rec / scaled))
    return res


def make(src: Path, out: Path, *, quiet: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)

    def say(*args: object) -> None:
        if not quiet:
            print(*args)

    ref = src / "Xianning_2000_landuse_1.tif"
    with rasterio.open(ref) as ds:
        grid = {
            "width": ds.width,
            "height": ds.height,
            "crs": ds.crs,
            "transform": ds.transform,
        }
        valid = ds.read_masks(1) > 0
    mean_lat, cell_h_km, cell_w_km = cell_size_km(grid["transform"], grid["height"])
    sampling = (cell_h_km, cell_w_km)
    km_per_deg_ns, km_per_deg_ew = (v / 1000.0 for v in metres_per_degree(mean_lat))
    say(f"grid {grid['width']} x {grid['height']}, valid cells {int(valid.sum())}")
    say(
        f"cell {grid['transform'].a!r} deg; at mean lat {mean_lat:.4f}: "
        f"{cell_h_km * 1000:.1f} m N-S x {cell_w_km * 1000:.1f} m E-W"
    )

    # --- fractions and dominant maps
    dominant = {}
    for year in YEARS:
        frac64 = load_fractions(src, year, valid)
        frac = frac64.astype(np.float32)
        dom = dominant_class(frac, valid)
        if not np.array_equal(dom, dominant_class(frac64, valid)):
            raise ValueError(f"{year}: argmax differs between float64 and float32 fractions")
        dominant[year] = dom
        files = ", ".join(f"Xianning_{year}_landuse_{k}.tif" for k in range(1, 8))
        _write(
            out,
            f"fractions_{year}.tif",
            frac,
            grid,
            nodata=math.nan,
            tags={
                "source": f"{UPSTREAM} Data/LULCs: {files}",
                "year": str(year),
                "values": "band k = fraction (0-1) of the cell in class k; NaN = no data",
                "classes": ", ".join(f"{c}={n}" for c, n, _, _ in CLASSES),
                "citation": CITATION,
            },
            descriptions=CLASS_NAMES,
        )
        _write(
            out,
            f"landuse_{year}_dominant.tif",
            dom,
            grid,
            nodata=NODATA_U8,
            tags={
                "source": f"{UPSTREAM} Data/LULCs: {files}",
                "year": str(year),
                "method": "argmax of class fractions",
                "ties": "lowest class code",
                "classes": ", ".join(f"{c}={n}" for c, n, _, _ in CLASSES),
                "citation": CITATION,
            },
            descriptions=(f"dominant land-use class {year}",),
            colormap={
                **{c: (*rgb, 255) for c, _, _, rgb in CLASSES},
                NODATA_U8: (0, 0, 0, 0),
            },
        )
        s = np.sort(frac64[:, valid], axis=0)
        partial = valid & (np.abs(np.nansum(frac64, axis=0) - 1.0) > 1e-6)
        say(
            f"{year}: dominant counts "
            + ", ".join(f"{k}:{int((dom == k).sum())}" for k in range(1, 8))
            + f"; tied maxima {int((s[-1] == s[-2]).sum())}; sum != 1: {int(partial.sum())}"
        )
    a, b = dominant[YEARS[0]], dominant[YEARS[1]]
    both = (a != NODATA_U8) & (b != NODATA_U8)
    trans = np.zeros((7, 7), dtype=np.int64)
    np.add.at(trans, (a[both].astype(int) - 1, b[both].astype(int) - 1), 1)
    say(f"transition {YEARS[0]} (rows) -> {YEARS[1]} (columns):")
    for i in range(7):
        say(f"  {i + 1}: " + " ".join(f"{v:7d}" for v in trans[i]))

    # --- terrain
    dem, dem_ok = _read(src / "DEM.tif")
    dem_ok &= valid
    _write(
        out,
        "dem_m.tif",
        _float32(dem.astype(np.float64), dem_ok),
        grid,
        nodata=math.nan,
        tags={"source": f"{UPSTREAM} Data/DrivingFactor/DEM.tif", "units": "m"},
    )
    slope, slope_ok = _read(src / "slope.tif")
    slope_ok &= valid
    _write(
        out,
        "slope_deg.tif",
        _float32(slope, slope_ok),
        grid,
        nodata=math.nan,
        tags={
            "source": f"{UPSTREAM} Data/DrivingFactor/slope.tif (copied)",
            "units": "degree (presumably; undocumented)",
        },
    )
    say(
        f"nodata inside the land-use data: DEM {int((valid & ~dem_ok).sum())}, "
        f"slope {int((valid & ~slope_ok).sum())}"
    )

    # --- source distances, kept in degrees
    for fname, stem in DISTANCES:
        deg, ok = _read(src / fname)
        ok &= valid
        _write(
            out,
            f"{stem}_deg.tif",
            _float32(deg, ok),
            grid,
            nodata=math.nan,
            tags={
                "source": f"{UPSTREAM} Data/DrivingFactor/{fname} (copied)",
                "units": "decimal degree (planar Euclidean distance in lon/lat)",
                "km_per_degree_north_south": f"{km_per_deg_ns:.3f}",
                "km_per_degree_east_west": f"{km_per_deg_ew:.3f}",
                "note": "direction unknown: km = deg x a factor between the two above",
            },
        )
        chk = distance_check(
            deg, ok, abs(grid["transform"].a), sampling, (km_per_deg_ns + km_per_deg_ew) / 2
        )
        say(
            f"{fname}: nodata {int((valid & ~ok).sum())}; recomputed km vs deg x mean km/deg: "
            + "; ".join(
                f"{key} cells {chk[f'n_{key}']} r={chk[f'r_{key}']:.3f} "
                f"median ratio {chk[f'ratio_{key}']:.3f}"
                for key in ("zero", "half")
            )
        )

    # --- open water
    ow, ow_ok = _read(src / "OpenWater.tif")
    if not np.array_equal(ow_ok, valid):
        raise ValueError("OpenWater.tif: nodata mask differs from the land-use data")
    water = np.where(ow >= OPEN_WATER_MIN - FRACTION_EPS, 1, 0).astype(np.uint8)
    water[~valid] = NODATA_U8
    _write(
        out,
        "open_water_2015.tif",
        water,
        grid,
        nodata=NODATA_U8,
        tags={
            "source": f"{UPSTREAM} Data/OpenWater.tif",
            "values": f"1 where the open-water fraction >= {OPEN_WATER_MIN}, 0 elsewhere, "
            "255 off the data",
            "use": "candidate water planning layer (rule no_change)",
        },
    )
    dom15 = dominant[2015]
    say(
        f"open water: {int((water == 1).sum())} cells; of these, dominant 2015 class 4: "
        f"{int(((water == 1) & (dom15 == 4)).sum())}; dominant water with open water < 0.5: "
        f"{int(((water == 0) & (dom15 == 4)).sum())}"
    )

    # --- distance to dominant urban
    for year in YEARS:
        dom = dominant[year]
        ok = dom != NODATA_U8
        dist = distance_km(dom == URBAN, sampling)
        _write(
            out,
            f"dist_urban_{year}_km.tif",
            _float32(dist, ok),
            grid,
            nodata=math.nan,
            tags={
                "source": f"landuse_{year}_dominant.tif (this folder), class 5 urban",
                "units": "km",
                "method": (
                    "scipy.ndimage.distance_transform_edt, sampling "
                    f"({cell_h_km:.6f} km N-S, {cell_w_km:.6f} km E-W) = cell size at "
                    f"the grid's mean latitude {mean_lat:.4f}"
                ),
            },
        )
        say(f"dist_urban_{year}_km: max {np.nanmax(np.where(ok, dist, np.nan)):.2f} km")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "source",
        nargs="?",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"folder with the Xianning source rasters (default {DEFAULT_SOURCE})",
    )
    parser.add_argument("--out", type=Path, default=HERE, help=f"output folder (default {HERE})")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    src = args.source.resolve()
    if not (src / "Xianning_2000_landuse_1.tif").is_file():
        parser.error(f"no Xianning source data in {src}")
    make(src, args.out.resolve(), quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
