"""Writing outputs atomically: GeoTIFF maps, the NetCDF stack, CSV and JSON.

A run writes everything into a hidden staging folder beside the output folder and
moves the finished files into place only when all of them are complete, so an
interrupted run never leaves a half-written file. Into a new folder the results move by
one rename: all or nothing. Over earlier results (``--overwrite``) they move file by
file; a marker file (``REPLACING``) is in the folder while they do, so a run killed in
between leaves the marker beside files of both runs, and every command that reads a run
folder refuses it until a rerun replaces it.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from landsim.errors import OutputError
from landsim.io.raster import NODATA, Grid

# Present in an output folder while a run replaces earlier results file by file.
REPLACING = ".landsim-replacing"

# Files a run writes; an output folder holding any of them counts as holding results.
RESULT_PATTERNS = (
    REPLACING,
    "landuse_*.tif",
    "urban_year.tif",
    "landsim.nc",
    "summary.csv",
    "indicators.csv",
    "compliance.json",
    "provenance.json",
    # ensembles
    "probability_*.tif",
    "members.csv",
    "ensemble.json",
    "members",
)


def existing_results(out_dir: Path) -> list[str]:
    if not out_dir.is_dir():
        return []
    found: set[str] = set()
    for pattern in RESULT_PATTERNS:
        found.update(p.name for p in out_dir.glob(pattern))
    return sorted(found)


def check_output_dir(out_dir: Path, overwrite: bool, inputs: Iterable[Path] = ()) -> None:
    """Refuse an output folder that holds results, unless ``overwrite``.

    Even with ``overwrite``, a folder is refused when one of the run's ``inputs`` is a
    result file in it (a run chained on an earlier run's map): replacing the results
    would replace or delete the input.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output {out_dir} exists and is not a folder; choose another -o")
    # A file where a parent folder should be: said now, not after the whole simulation
    # when the staging folder cannot be made beside the output.
    for parent in out_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(
                    f"output {out_dir}: {parent} is a file, not a folder; choose another -o"
                )
            break
    found = existing_results(out_dir)
    if found and overwrite:
        here = out_dir.resolve()
        clash = sorted(
            p.name for p in inputs if Path(p).resolve().parent == here and p.name in found
        )
        if clash:
            raise OutputError(
                f"output folder {out_dir} holds this run's input {clash[0]}, which --overwrite "
                "would replace or delete; write to another folder with -o"
            )
    if found and not overwrite:
        shown = ", ".join(found[:3]) + (" …" if len(found) > 3 else "")
        raise OutputError(
            f"output folder {out_dir} already holds results ({shown}); "
            "pass --overwrite to replace them, or choose another folder with -o"
        )


def _disk_error(exc: OSError, where: Path) -> OutputError:
    if exc.errno == errno.ENOSPC:
        return OutputError(f"disk full while writing {where}; free space or choose another -o")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"cannot write {where}: permission denied; choose another -o")
    return OutputError(f"cannot write {where}: {exc.strerror or exc}")


@contextmanager
def staged_output(out_dir: Path, overwrite: bool, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield a staging folder; on success move its files into ``out_dir``.

    Old result files that the new run does not write are removed too (with
    ``overwrite``), so a folder never mixes two runs.
    """
    check_output_dir(out_dir, overwrite, inputs)
    parent = out_dir.parent
    staging: Path | None = None
    try:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            # The name is bound before the folder exists, so the finally below knows it
            # whenever an interrupt lands. With tempfile.mkdtemp, a SIGTERM between the
            # folder's creation and the return of its name (microseconds, which a test
            # that stops a run the moment the folder appears did hit) left it behind.
            while True:
                staging = parent / f".{out_dir.name}.partial-{secrets.token_hex(8)}"
                try:
                    staging.mkdir(mode=0o777)  # the umask applies, as to any mkdir
                    break
                except FileExistsError:
                    staging = None  # someone else's: never remove it
        except OSError as exc:
            raise _disk_error(exc, parent) from None
        try:
            yield staging
        except OutputError as exc:
            # Name the folder the user asked for, not the hidden staging one.
            raise OutputError(str(exc).replace(str(staging), str(out_dir))) from None
        publish(staging, out_dir)
    finally:
        # Inside the same try as the folder's creation: an interrupt (SIGTERM unwinds as
        # KeyboardInterrupt) that lands while it is being set up removes it too.
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, out_dir: Path) -> None:
    """Move a finished staging folder's files into ``out_dir``, replacing old results.

    Into a new folder: one rename. Over earlier results: each file moves by one rename,
    result files of an earlier run that the new one does not have are removed, and the
    ``REPLACING`` marker stands in the folder meanwhile (see the module docstring).
    """
    try:
        if not out_dir.exists():
            os.replace(staging, out_dir)
            return
        marker = out_dir / REPLACING
        # Written in place, not renamed: its content does not matter, only that it is
        # there before the first result moves.
        marker.write_text(
            "a run was replacing the results in this folder; if this file remains, it was "
            "interrupted and the folder mixes two runs: run it again with --overwrite\n",
            encoding="utf-8",
        )
        stale = set(existing_results(out_dir)) - {REPLACING}
        for f in sorted(staging.iterdir()):
            target = out_dir / f.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)  # os.replace cannot put a folder over a folder
            os.replace(f, target)
            stale.discard(f.name)
        for name in stale:
            old = out_dir / name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)  # an earlier ensemble's members/
            else:
                old.unlink(missing_ok=True)
        marker.unlink()
    except OSError as exc:
        raise _disk_error(exc, out_dir) from None


def refuse_interrupted(run_dir: Path, what: str = "run folder") -> None:
    """Refuse a folder whose results a killed run left half replaced."""
    if (Path(run_dir) / REPLACING).exists():
        raise OutputError(
            f"{run_dir}: this {what} mixes two runs' files (a run replacing its results "
            "was interrupted); run the scenario again with --overwrite"
        )


def write_probability(
    path: Path,
    counts: np.ndarray,
    members: int,
    valid: np.ndarray,
    grid: Grid,
    band_names: Sequence[str],
    compress: str,
    tags: dict[str, str],
) -> None:
    """Per-class probability maps: band k is ``counts[k] / members``, NaN off the land.

    float32 division is correctly rounded, so a cell every member agrees on is exactly
    1 and no value leaves [0, 1].
    """
    profile = _tiff_profile(grid, "float32", 0, compress)
    profile.update(count=len(band_names), nodata=float("nan"))
    if compress != "none":
        profile["predictor"] = 3  # the floating-point predictor
    n = np.float32(members)
    with _gdal_atomic(path, profile) as ds:
        for k, name in enumerate(band_names):
            band = np.divide(counts[k], n, dtype=np.float32)
            band[~valid] = np.nan
            ds.write(band, k + 1)
            ds.set_band_description(k + 1, name)
        ds.update_tags(**tags)


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temporary name beside ``path``; rename it onto ``path`` when done.

    A failure removes the temporary file, and an OS error (a full disk, a read-only
    folder) becomes an OutputError that says so.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OutputError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _disk_error(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _gdal_atomic(path: Path, profile: dict[str, Any]) -> Iterator[Any]:
    """A rasterio dataset written to memory, then to ``path`` by one plain (atomic) write.

    GDAL does not report a GeoTIFF write that fails: on a full disk libtiff prints
    "_tiffSeekProc: No space left on device" on stderr, rasterio closes the dataset
    without an error, and the truncated (even empty) file was renamed into place
    (measured with rasterio 1.4.4 / GDAL 3.10 on a full tmpfs; the run failed only
    because a later file hit the full disk too). Written by Python, a full disk raises
    OSError(ENOSPC), which ``_atomic`` turns into the "disk full" error and no file. The
    buffer holds the encoded file: at most the uncompressed map.
    """
    from rasterio.io import MemoryFile

    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            yield ds
        write_bytes(path, mem.getbuffer())


def _encode_gdal(profile: dict[str, Any], fill: Callable[[Any], None]) -> bytes:
    """The bytes of a GeoTIFF made in memory and filled by ``fill``: what
    :func:`_gdal_atomic` writes, for a caller that writes it later (:func:`write_bytes`)."""
    from rasterio.io import MemoryFile

    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            fill(ds)
        return bytes(mem.getbuffer())


def write_bytes(path: Path, data: bytes | memoryview) -> None:
    """An encoded file (``encode_*``) written to ``path`` atomically."""
    with _atomic(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    with _atomic(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with _atomic(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _hex_to_rgb(color: str) -> tuple[int, int, int, int]:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16), 255)


def _tiff_profile(grid: Grid, dtype: str, nodata: int, compress: str) -> dict[str, Any]:
    """A one-band tiled GeoTIFF on the grid; integer maps compress best with predictor 2."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": grid.shape[0],
        "width": grid.shape[1],
        "count": 1,
        "dtype": dtype,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    if compress != "none":
        profile["compress"] = compress
        profile["predictor"] = 2
    return profile


def write_geotiff(
    path: Path,
    landuse: np.ndarray,
    grid: Grid,
    colors: dict[int, str],
    compress: str,
    tags: dict[str, str],
) -> None:
    """A land-use map as a tiled uint8 GeoTIFF with nodata and a colour table."""
    write_bytes(path, encode_geotiff(landuse, grid, colors, compress, tags))


def encode_geotiff(
    landuse: np.ndarray, grid: Grid, colors: dict[int, str], compress: str, tags: dict[str, str]
) -> bytes:
    """The bytes of :func:`write_geotiff`'s file (encoded in memory, written by none)."""
    cmap = {code: _hex_to_rgb(c) for code, c in colors.items()}
    cmap[NODATA] = (0, 0, 0, 0)

    def fill(ds: Any) -> None:
        ds.write(landuse, 1)
        ds.write_colormap(1, cmap)
        ds.update_tags(**tags)

    return _encode_gdal(_tiff_profile(grid, "uint8", NODATA, compress), fill)


def write_year_map(
    path: Path, years: np.ndarray, grid: Grid, compress: str, tags: dict[str, str]
) -> None:
    """A uint16 map of years (0: none) on the grid, as a tiled GeoTIFF."""
    write_bytes(path, encode_year_map(years, grid, compress, tags))


def encode_year_map(years: np.ndarray, grid: Grid, compress: str, tags: dict[str, str]) -> bytes:
    """The bytes of :func:`write_year_map`'s file."""

    def fill(ds: Any) -> None:
        ds.write(years, 1)
        ds.update_tags(**tags)

    return _encode_gdal(_tiff_profile(grid, "uint16", 0, compress), fill)


def _landuse_dataset(
    maps: dict[int, np.ndarray],
    grid: Grid,
    class_codes: list[int],
    class_names: list[str],
    attrs: dict[str, str],
    by_year: bool = False,
) -> Any:
    """The maps as an xarray Dataset ``landuse(time, y, x)`` with a CF grid mapping;
    ``by_year``: backed by dask, one block per year."""
    import xarray as xr

    ny, nx = grid.shape
    t = grid.transform
    x = t.c + t.a * (np.arange(nx) + 0.5)
    y = t.f + t.e * (np.arange(ny) + 0.5)
    years = sorted(maps)
    if by_year:
        import dask.array as da

        # One dask block per year: the NetCDF writer encodes and writes a year at a
        # time, where a stacked copy of every map and its encoded copies took ~250 MB.
        # Named, so dask does not hash every map to name its block (0.05 s).
        stack = da.stack(
            [da.from_array(maps[yr], chunks=maps[yr].shape, name=f"landuse-{yr}") for yr in years]
        )
    else:
        stack = np.stack([maps[yr] for yr in years])
    spatial_ref = xr.DataArray(
        np.int32(0),
        attrs={
            "crs_wkt": grid.crs.to_wkt() if grid.crs else "",
            "spatial_ref": grid.crs.to_wkt() if grid.crs else "",
            "GeoTransform": " ".join(str(v) for v in (t.c, t.a, t.b, t.f, t.d, t.e)),
        },
    )
    landuse = xr.DataArray(
        stack,
        dims=("time", "y", "x"),
        attrs={
            "long_name": "simulated land use",
            "grid_mapping": "spatial_ref",
            "flag_values": np.array(class_codes, dtype=np.uint8),
            "flag_meanings": " ".join(n.replace(" ", "_") for n in class_names),
        },
    )
    return xr.Dataset(
        {"landuse": landuse, "spatial_ref": spatial_ref},
        coords={
            "time": ("time", np.array(years, dtype=np.int32), {"long_name": "year"}),
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m"}),
        },
        attrs={"Conventions": "CF-1.8", **attrs},
    )


def write_netcdf(
    path: Path,
    maps: dict[int, np.ndarray],
    grid: Grid,
    class_codes: list[int],
    class_names: list[str],
    attrs: dict[str, str],
    compress: bool,
) -> None:
    """The output maps as ``landuse(time, y, x)`` with a CF grid mapping (NetCDF-4)."""
    write_bytes(path, encode_netcdf(maps, grid, class_codes, class_names, attrs, compress))


def encode_netcdf(
    maps: dict[int, np.ndarray],
    grid: Grid,
    class_codes: list[int],
    class_names: list[str],
    attrs: dict[str, str],
    compress: bool,
) -> memoryview:
    """The bytes of :func:`write_netcdf`'s file."""
    ds = _landuse_dataset(maps, grid, class_codes, class_names, attrs, by_year=True)
    ny, nx = grid.shape
    enc: dict[str, Any] = {"_FillValue": np.uint8(NODATA), "dtype": "uint8"}
    if compress:
        enc.update(zlib=True, complevel=4, chunksizes=(1, min(512, ny), min(512, nx)))
    # HDF5 is written to memory and the bytes to disk: an HDF5 file that hits a full
    # disk is left in a state that crashes the interpreter at exit (seen with h5py
    # 3.16), while a plain write fails cleanly. The buffer holds the compressed file.
    return _encode_dataset(ds, engine="h5netcdf", encoding={"landuse": enc})


def _write_dataset(path: Path, ds: Any, **to_netcdf: Any) -> None:
    """``ds.to_netcdf`` into memory, then the bytes to ``path`` atomically."""
    write_bytes(path, _encode_dataset(ds, **to_netcdf))


def _encode_dataset(ds: Any, **to_netcdf: Any) -> memoryview:
    """``ds.to_netcdf`` into memory: the file's bytes."""
    import dask

    buffer = io.BytesIO()
    # Inside a dask.distributed worker xarray would take a cluster-wide lock named by
    # the target, which a memory buffer cannot name; the data are numpy, so no dask
    # scheduler is involved anyway.
    with dask.config.set(scheduler="synchronous"):
        ds.to_netcdf(buffer, **to_netcdf)
    return buffer.getbuffer()


def write_member_netcdf(
    path: Path,
    maps: dict[int, np.ndarray],
    grid: Grid,
    class_codes: list[int],
    class_names: list[str],
    attrs: dict[str, str],
) -> None:
    """One ensemble member's maps, as classic NetCDF (``landuse`` stored as bytes).

    Not NetCDF-4: HDF5 leaves bytes of uninitialised memory in its metadata padding, so
    the same maps written by two worker processes differed in 512 bytes (measured), and
    an ensemble must be the same bytes whatever worker ran a member. The classic format
    is written by scipy, byte for byte reproducible, and read back without decoding.
    """
    ds = _landuse_dataset(maps, grid, class_codes, class_names, attrs)
    del ds["landuse"].attrs["flag_values"]  # uint8 attributes do not exist in NetCDF-3
    ds["landuse"].attrs["flag_values_uint8"] = " ".join(str(c) for c in class_codes)
    _write_dataset(
        path,
        ds,
        engine="scipy",
        format="NETCDF3_64BIT",
        # NetCDF-3 has no unsigned byte: signed bytes flagged _Unsigned (the NUG's
        # convention), so 255 (nodata) is stored as -1.
        encoding={"landuse": {"dtype": "i1", "_Unsigned": "true", "_FillValue": np.int8(-1)}},
    )
