"""SLEUTH's own inputs: grayscale GIFs and ``KEY=value`` scenario files.

:func:`import_sleuth` turns a SLEUTH scenario file and the GIFs it names into a
landsim SLEUTH-kind scenario (``scenario.toml``) beside uint8 GeoTIFFs holding the
cell values exactly as SLEUTH reads them. SLEUTH GIFs carry no georeferencing, so
the GeoTIFFs have no CRS and 1-unit cells: row ``r``, column ``c`` is the square
``x in [c, c + 1], y in [nrows - r - 1, nrows - r]``.

Oddities of the source (a BUST of 0.09, an excluded layer that uses 1 for available
land, ...) are carried over as they are and reported, never fixed: an import must run
what SLEUTH would run. ``docs/sleuth.md`` maps every SLEUTH key to its landsim key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landsim.errors import GridMismatchError, InputError, OutputError, ScenarioError

MODES = ("test", "calibrate", "predict")

# Keys SLEUTH reads once per line into a growing list; every other key keeps one value.
LIST_KEYS = frozenset(
    {
        "URBAN_DATA",
        "ROAD_DATA",
        "LANDUSE_DATA",
        "LANDUSE_CLASS",
        "PROBABILITY_COLOR",
        "DELTATRON_COLOR",
    }
)

# landsim coefficient name -> the middle of SLEUTH's CALIBRATION_*/PREDICTION_* keys.
COEFFICIENT_KEYS = {
    "diffusion": "DIFFUSION",
    "breed": "BREED",
    "spread": "SPREAD",
    "slope_resistance": "SLOPE",
    "road_gravity": "ROAD",
}

# landsim [self_modification] key -> SLEUTH key.
SELF_MODIFICATION_KEYS = {
    "critical_low": "CRITICAL_LOW",
    "critical_high": "CRITICAL_HIGH",
    "critical_slope": "CRITICAL_SLOPE",
    "boom": "BOOM",
    "bust": "BUST",
    "road_gravity_sensitivity": "ROAD_GRAV_SENSITIVITY",
    "slope_sensitivity": "SLOPE_SENSITIVITY",
}

# Urban years each mode needs: a seed, plus control years to score (calibration fits
# r² over the control years, so it needs two of them).
MIN_URBAN_YEARS = {"test": 2, "calibrate": 3, "predict": 1}

# What an import writes; an output folder holding any of these holds an earlier import.
IMPORT_PATTERNS = (
    "scenario.toml",
    "urban_*.tif",
    "roads_*.tif",
    "landuse_*.tif",
    "excluded.tif",
    "slope.tif",
    "background.tif",
)

_YEAR = re.compile(r"^\d{4}$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# --------------------------------------------------------------------------- GIFs


def read_gif_gray(path: str | Path, *, key: str | None = None) -> np.ndarray:
    """The cell values SLEUTH sees in a GIF: each pixel's palette gray level (uint8).

    SLEUTH uses the red component of a pixel's palette entry, not the palette index,
    and refuses a pixel whose colour is not gray; so does this. ``key`` (the scenario
    key that names the file) only makes error messages point at the right line.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    path = Path(path)
    where = f"{key} file {path}" if key else str(path)
    if not path.exists():
        raise InputError(f"{where}: file not found; check the name and INPUT_DIR")
    if path.is_dir():
        raise InputError(f"{where} is a folder; name a GIF file")
    try:
        with warnings.catch_warnings():
            # GIFs never carry a geotransform; rasterio warns about that on every open.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                driver, count = ds.driver, ds.count
                if driver not in ("GIF", "BIGGIF"):
                    raise InputError(
                        f"{where}: not a GIF (GDAL reads it as {driver}); SLEUTH reads only "
                        "GIF: save it as an 8-bit grayscale GIF"
                    )
                index = ds.read(1)
                try:
                    colormap = ds.colormap(1)
                except ValueError:
                    colormap = {}
    except RasterioError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "not recognized as" in reason:
            reason = "GDAL does not recognise the format"
        else:
            # GDAL repeats the path, which the message already names.
            reason = " ".join(reason.replace(str(path), "the file").split())
        raise InputError(
            f"{where}: cannot be read as a GIF ({reason}); the file is corrupt or not a GIF: "
            "export it again as an 8-bit grayscale GIF"
        ) from None
    if count != 1:
        raise InputError(f"{where}: has {count} bands; SLEUTH reads one: save one image")
    lut = np.zeros((256, 3), dtype=np.int32)
    known = np.zeros(256, dtype=bool)
    for i, rgba in colormap.items():
        if 0 <= i < 256:
            lut[i] = rgba[:3]
            known[i] = True
    counts = np.bincount(index.ravel(), minlength=256)
    used = np.flatnonzero(counts)
    missing = used[~known[used]]
    if missing.size:
        raise InputError(
            f"{where}: {counts[missing[0]]:,} pixels use palette index {missing[0]}, which the "
            f"palette ({int(known.sum())} colours) lacks; the GIF is corrupt: export it again"
        )
    rgb = lut[used]
    colour = used[(rgb[:, 0] != rgb[:, 1]) | (rgb[:, 1] != rgb[:, 2])]
    if colour.size:
        i = int(colour[0])
        r, g, b = (int(v) for v in lut[i])
        raise InputError(
            f"{where}: not a grayscale GIF: palette index {i} is colour ({r}, {g}, {b}) "
            f"on {counts[i]:,} pixels; SLEUTH refuses these too; convert it to grayscale "
            "(R = G = B = the cell value)"
        )
    return lut[:, 0].astype(np.uint8)[index]


# --------------------------------------------------------------------------- scenario files


def _read_scenario_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{path}: SLEUTH scenario file not found") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a folder, not a SLEUTH scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file: {exc.strerror}") from None
    if b"\0" in raw:
        raise ScenarioError(
            f"{path}: not a text file; give SLEUTH's scenario file (KEY=value lines)"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # SLEUTH files are ASCII; an odd byte in a comment must not stop an import.
        return raw.decode("latin-1")


def _parse(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The scenario file's values, and notes on lines SLEUTH would read differently."""
    values: dict[str, Any] = {}
    lines_of: dict[str, list[int]] = {}
    notes: list[str] = []
    ignored: list[int] = []
    for n, line in enumerate(_read_scenario_text(path).splitlines(), start=1):
        # SLEUTH drops everything from the first '#', then blank lines.
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if "=" not in text:
            ignored.append(n)
            continue
        raw_key, value = text.split("=", 1)
        key = raw_key.strip()
        if key != raw_key:
            notes.append(
                f"{path.name} line {n}: blank before '=' in {key!r}; SLEUTH compares keys "
                "exactly and would skip this line; imported as if it were not there"
            )
        value = value.strip()
        lines_of.setdefault(key, []).append(n)
        if key in LIST_KEYS:
            values.setdefault(key, []).append(value)
        else:
            values[key] = value
    for key, where in lines_of.items():
        if key not in LIST_KEYS and len(where) > 1:
            notes.append(
                f"{path.name}: {key} is given {len(where)} times (lines "
                f"{', '.join(map(str, where))}); SLEUTH uses the last, {values[key]!r}, and "
                "so does the import"
            )
    if ignored:
        shown = ", ".join(map(str, ignored[:5])) + (" …" if len(ignored) > 5 else "")
        notes.append(
            f"{path.name}: {len(ignored)} line(s) without '=' skipped (line {shown}), as "
            "SLEUTH skips them; start comments with #"
        )
    return values, notes


def parse_scenario_file(path: str | Path) -> dict[str, Any]:
    """SLEUTH's scenario file as ``{KEY: value}``.

    ``#`` starts a comment anywhere on a line; keys keep suffixes such as
    ``ECHO(YES/NO)``; values are the stripped text after the first ``=``. Keys SLEUTH
    reads into lists (URBAN_DATA, ROAD_DATA, LANDUSE_DATA, LANDUSE_CLASS,
    PROBABILITY_COLOR, DELTATRON_COLOR) map to lists in file order; for any other key
    given twice the last value wins, as in SLEUTH.
    """
    return _parse(Path(path))[0]


def file_year(name: str, key: str, source: Path) -> int:
    """The year in a SLEUTH layer name ``<location>.<layer>.<year>[.<info>].gif``."""
    parts = Path(name).name.split(".")
    for part in parts[1:-1]:
        if _YEAR.match(part):
            year = int(part)
            if not 1000 <= year <= 3000:
                break
            return year
    raise ScenarioError(
        f"{source}: {key} file {name!r} has no year in its name; SLEUTH names it "
        f"<location>.<layer>.<year>[.<info>].gif (a year 1000–3000): rename the file"
    )


# --------------------------------------------------------------------------- values


@dataclass
class _Keys:
    """The parsed scenario file with typed, checked accessors that name the key."""

    values: dict[str, Any]
    path: Path
    mode: str
    used: set[str] = field(default_factory=set)

    def has(self, key: str) -> bool:
        return key in self.values

    def raw(self, key: str) -> Any:
        if key not in self.values:
            hint = next((k for k in self.values if k.upper() == key.upper()), None)
            fix = (
                f"found {hint!r}: SLEUTH keys are upper case, write {key}"
                if hint
                else f"add a line {key}=..."
            )
            raise ScenarioError(
                f"{self.path}: required key {key} is missing (needed in {self.mode} mode); {fix}"
            )
        self.used.add(key)
        return self.values[key]

    def text(self, key: str) -> str:
        value = self.raw(key)
        # SLEUTH reads the first blank-separated word of a scalar value.
        words = str(value).split()
        if not words:
            raise ScenarioError(f"{self.path}: {key} is empty; give a value: {key}=...")
        return words[0]

    def number(self, key: str) -> float:
        text = self.text(key)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ScenarioError(f"{self.path}: {key} = {text!r} is not a number; give a number")
        return value

    def whole(self, key: str, lo: int, hi: int) -> int:
        text = self.text(key)
        try:
            value = int(text)
        except ValueError:
            raise ScenarioError(
                f"{self.path}: {key} = {text!r} is not a whole number; give one ({lo}–{hi})"
            ) from None
        if not lo <= value <= hi:
            raise ScenarioError(
                f"{self.path}: {key} = {value} is outside {lo}–{hi}; give a value in that range"
            )
        return value

    def coefficient(self, key: str, notes: list[str]) -> int:
        """A growth coefficient as SLEUTH reads it: a whole number (atoi), 0–100."""
        value = self.number(key)
        if not 0 <= value <= 100:
            raise ScenarioError(
                f"{self.path}: {key} = {value:g} is outside 0–100; SLEUTH coefficients run "
                "from 0 to 100: give a value in that range"
            )
        if value != int(value):
            notes.append(
                f"{key} = {value:g}: SLEUTH reads coefficients as whole numbers, so it runs "
                f"{int(value)}; imported as {int(value)}"
            )
        return int(value)


def _coefficients(keys: _Keys, pattern: str, notes: list[str]) -> dict[str, int]:
    return {
        name: keys.coefficient(pattern.format(sleuth), notes)
        for name, sleuth in COEFFICIENT_KEYS.items()
    }


def _ranges(keys: _Keys, notes: list[str]) -> dict[str, dict[str, int]]:
    """[calibration]: START/STEP/STOP per coefficient, checked as landsim's schema will."""
    out: dict[str, dict[str, int]] = {}
    for name, sleuth in COEFFICIENT_KEYS.items():
        k = f"CALIBRATION_{sleuth}_"
        start = keys.coefficient(k + "START", notes)
        stop = keys.coefficient(k + "STOP", notes)
        step = keys.coefficient(k + "STEP", notes)
        if step < 1:
            raise ScenarioError(
                f"{keys.path}: {k}STEP = {step} must be at least 1 (SLEUTH needs STEP > 0); "
                f"give STEP=1 if START equals STOP"
            )
        if stop < start:
            raise ScenarioError(
                f"{keys.path}: {k}STOP ({stop}) is below {k}START ({start}); the range is "
                "empty (the scenario file's own comment 'START >= STOP' is a typo): give "
                "START <= STOP"
            )
        out[name] = {"start": start, "step": step, "stop": stop}
    return out


def _zero_note(keys: list[str], mode: str) -> str:
    where = ", ".join(keys)
    extra = (
        " (so a calibration range from 0 runs 1, start + step, …)" if mode == "calibrate" else ""
    )
    return (
        f"coefficients of 0 ({where}): SLEUTH runs a coefficient of 0 as 1, its valid range "
        f"being 1–100{extra}; carried over as 0"
    )


def _self_modification(keys: _Keys, notes: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, sleuth in SELF_MODIFICATION_KEYS.items():
        value = keys.number(sleuth)
        # The bounds of landsim's [self_modification] table, said in SLEUTH's terms.
        positive = name in ("boom", "bust", "critical_slope")
        if value < 0 or (positive and value == 0):
            bound = "above 0" if positive else "0 or more"
            raise ScenarioError(f"{keys.path}: {sleuth} = {value:g} must be {bound}; fix it")
        if name == "critical_slope" and value > 255:
            raise ScenarioError(
                f"{keys.path}: CRITICAL_SLOPE = {value:g} is above 255, the largest slope a "
                "GIF can hold; give a percent slope up to 255"
            )
        out[name] = value
    bust, boom = out["bust"], out["boom"]
    if bust < 0.5:
        meant = f"; {bust * 10:g} was probably meant" if bust * 10 < 1 else ""
        notes.append(
            f"BUST = {bust:g}: one bust year multiplies diffusion, breed and spread by "
            f"{bust:g} (cuts them by {100 * (1 - bust):.0f} %){meant}; carried over as is "
            "(edit [self_modification] bust to change it)"
        )
    elif bust > 1:
        notes.append(f"BUST = {bust:g} is above 1: bust years make coefficients grow; carried over")
    if boom < 1:
        notes.append(
            f"BOOM = {boom:g} is below 1: boom years make coefficients shrink; carried over"
        )
    return out


# --------------------------------------------------------------------------- input folder


def _input_dir_candidates(input_dir: str, scenario_dir: Path) -> list[Path]:
    given = Path(input_dir).expanduser()
    if given.is_absolute():
        return [given]
    # SLEUTH resolves INPUT_DIR from the folder it runs in (usually bin/ beside
    # Scenarios/ and Input/); the scenario file's folder is the nearest stand-in. The
    # last two cover GIFs kept beside the scenario file and landsim's demo layout
    # (input/ beside scenarios/).
    found = [
        scenario_dir / given,
        scenario_dir.parent / given,
        scenario_dir,
        scenario_dir.parent / "input",
    ]
    unique: list[Path] = []
    for p in found:
        p = Path(p.resolve())
        if p not in unique:
            unique.append(p)
    return unique


def _resolve_input_dir(keys: _Keys, files: list[tuple[str, str]]) -> Path:
    """The first candidate folder that holds every named GIF; else a clear error."""
    input_dir = keys.text("INPUT_DIR")
    candidates = _input_dir_candidates(input_dir, keys.path.resolve().parent)
    for folder in candidates:
        if folder.is_dir() and all((folder / name).is_file() for _, name in files):
            return folder
    tried = ", ".join(str(p) for p in candidates)
    held = {p: sum((p / n).is_file() for _, n in files) for p in candidates if p.is_dir()}
    if not any(held.values()):
        raise InputError(
            f"{keys.path}: INPUT_DIR {input_dir!r} not found, or it holds none of the GIFs "
            f"(tried {tried}); fix INPUT_DIR (relative to the scenario file's folder or its "
            "parent) or move the GIFs"
        )
    # Name the first missing file in the folder that holds the most of them.
    best = max(held, key=lambda p: held[p])
    key, name = next((k, n) for k, n in files if not (best / n).is_file())
    raise InputError(
        f"{keys.path}: {key} file not found: {best / name} (INPUT_DIR {input_dir!r}; tried "
        f"{tried}); fix the file name or INPUT_DIR"
    )


# --------------------------------------------------------------------------- TOML


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        # JSON string escapes are all valid TOML basic-string escapes.
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        inner = ", ".join(f"{_toml_key(str(k))} = {_toml_value(x)}" for k, x in v.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def _toml_table(name: str, table: dict[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    for k, v in table.items():
        line = f"{_toml_key(str(k))} = {_toml_value(v)}"
        if isinstance(v, list) and len(line) > 100:
            lines += _toml_list(_toml_key(str(k)), v)
        else:
            lines.append(line)
    return [*lines, ""]


def _toml_list(name: str, items: list[str]) -> list[str]:
    # One entry per line: quirks are sentences, and a long inline array is unreadable.
    if not items:
        return [f"{name} = []"]
    return [f"{name} = [", *(f"    {_toml_value(s)}," for s in items), "]"]


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_sleuth` wrote and found."""

    scenario: Path
    out_dir: Path
    name: str
    mode: str
    shape: tuple[int, int]
    urban_years: list[int]
    road_years: list[int]
    landuse_years: list[int]
    start_year: int
    end_year: int
    seed: int
    members: int
    coefficients: dict[str, int] | None
    calibration: dict[str, dict[str, int]] | None
    self_modification: dict[str, float]
    files: list[str]
    quirks: list[str]
    unused_keys: list[str]
    input_dir: Path
    source_sha256: str


def _scenario_name(path: Path) -> str:
    name = path.name
    name = name[len("scenario.") :] if name.startswith("scenario.") else Path(name).stem
    # landsim scenario names become folder names; keep SLEUTH's usual characters only.
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("._") or "sleuth"
    return name


def _earlier_import(out_dir: Path) -> list[str]:
    if not out_dir.is_dir():
        return []
    found = {p.name for pattern in IMPORT_PATTERNS for p in out_dir.glob(pattern)}
    return sorted(found)


def _check_out_dir(out_dir: Path, overwrite: bool, inputs: list[Path]) -> list[str]:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output {out_dir} exists and is not a folder; choose another -o")
    earlier = _earlier_import(out_dir)
    if earlier and not overwrite:
        shown = ", ".join(earlier[:3]) + (" …" if len(earlier) > 3 else "")
        raise OutputError(
            f"output folder {out_dir} already holds an import ({shown}); pass --overwrite to "
            "replace it, or choose another folder with -o"
        )
    if earlier:
        here = out_dir.resolve()
        clash = sorted(p.name for p in inputs if p.resolve().parent == here and p.name in earlier)
        if clash:
            raise OutputError(
                f"output folder {out_dir} holds this import's input {clash[0]}, which "
                "--overwrite would replace; write to another folder with -o"
            )
    return earlier


def _excluded_notes(excluded: np.ndarray, name: str) -> list[str]:
    notes: list[str] = []
    over = excluded > 100
    if over.any():
        notes.append(
            f"{name}: {int(over.sum()):,} cells are above 100 (up to {int(excluded.max())}); "
            "SLEUTH reads them as 100 (never urbanised); carried over as is"
        )
    lowest = int(excluded.min())
    if 0 < lowest < 100:
        n = int((excluded == lowest).sum())
        # A 1 everywhere outside water is a common slip for 0; other values may be meant.
        meant = "; 0 was probably meant" if lowest == 1 else ""
        notes.append(
            f"{name}: no cell is 0 (available land); the lowest value, {lowest}, is on "
            f"{n:,} cells ({100 * n / excluded.size:.1f} %), where SLEUTH's test "
            f"'excluded < random integer 0..99' rejects {lowest + 1} % of urbanisation "
            f"attempts instead of the 1 % a 0 gets{meant}; carried over as is"
        )
    return notes


def _write_layer(path: Path, data: np.ndarray, tags: dict[str, str]) -> None:
    from affine import Affine

    rows, cols = data.shape
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": 1,
        "dtype": "uint8",
        "crs": None,
        # SLEUTH GIFs have no georeferencing: 1-unit cells, row 0 at the top (y = rows).
        "transform": Affine(1.0, 0.0, 0.0, 0.0, -1.0, float(rows)),
        "compress": "deflate",
        "predictor": 2,
    }
    try:
        from landsim.io.write import _gdal_atomic

        # In memory, then one plain write: GDAL does not report a full disk (io/write.py).
        with _gdal_atomic(path, profile) as ds:
            ds.write(data, 1)
            ds.update_tags(**tags)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from None


def import_sleuth(
    scenario_file: str | Path,
    out_dir: str | Path,
    *,
    mode: str = "test",
    overwrite: bool = False,
) -> ImportResult:
    """Import a SLEUTH scenario file and its GIFs into ``out_dir``.

    Writes ``scenario.toml`` (a SLEUTH-kind landsim scenario for ``mode``) and uint8
    GeoTIFFs of the gray levels SLEUTH reads: ``urban_<year>.tif``, ``roads_<year>.tif``,
    ``excluded.tif``, ``slope.tif`` and, where the file names them,
    ``landuse_<year>.tif`` and ``background.tif``. Everything is written into a staging
    folder and moved into place at the end, so an error leaves nothing behind.
    """
    from landsim.io.write import staged_output, write_text

    source = Path(scenario_file)
    out_dir = Path(out_dir)
    if mode not in MODES:
        raise ScenarioError(f"mode {mode!r} is not one of {', '.join(MODES)}; pick one of them")
    values, notes = _parse(source)
    keys = _Keys(values, source, mode)
    quirks: list[str] = list(notes)

    # --- keys: every check that needs no GIF comes first, so a typo fails fast
    seed = keys.whole("RANDOM_SEED", 0, 2**63 - 1)
    members = keys.whole("MONTE_CARLO_ITERATIONS", 1, 100_000)
    coeff_notes: list[str] = []
    if mode == "predict":
        coefficients = _coefficients(keys, "PREDICTION_{}_BEST_FIT", coeff_notes)
        zero = [
            f"PREDICTION_{COEFFICIENT_KEYS[k]}_BEST_FIT" for k, v in coefficients.items() if v == 0
        ]
    else:
        coefficients = _coefficients(keys, "CALIBRATION_{}_START", coeff_notes)
        zero = [
            f"CALIBRATION_{COEFFICIENT_KEYS[k]}_START" for k, v in coefficients.items() if v == 0
        ]
    calibration: dict[str, dict[str, int]] | None
    if mode == "calibrate":
        calibration = _ranges(keys, coeff_notes)
    else:
        # Ranges are optional outside calibration: carried when SLEUTH's file has valid
        # ones (so switching mode is a one-line edit), left out with a note otherwise.
        used_before = set(keys.used)
        try:
            calibration = _ranges(keys, [])
        except ScenarioError as exc:
            calibration = None
            keys.used = used_before
            reason = str(exc).split(": ", 1)[-1]
            quirks.append(f"[calibration] not imported: {reason}")
    quirks += coeff_notes
    if zero:
        quirks.append(_zero_note(zero, mode))
    self_mod = _self_modification(keys, quirks)

    layer_keys: list[tuple[str, str]] = []  # (SLEUTH key, file name) in reading order
    years: dict[str, dict[int, str]] = {}
    for key, required in (("URBAN_DATA", True), ("ROAD_DATA", True), ("LANDUSE_DATA", False)):
        if not required and not keys.has(key):
            years[key] = {}
            continue
        names = [str(v).split()[0] for v in keys.raw(key) if str(v).split()]
        if not names:
            raise ScenarioError(f"{source}: {key} names no file; give {key}=<file>.gif lines")
        by_year: dict[int, str] = {}
        for name in names:
            year = file_year(name, key, source)
            if year in by_year:
                raise ScenarioError(
                    f"{source}: {key} names two files for {year} ({by_year[year]}, {name}); "
                    "give one file per year"
                )
            by_year[year] = name
            layer_keys.append((key, name))
        years[key] = dict(sorted(by_year.items()))
    urban_years = list(years["URBAN_DATA"])
    need = MIN_URBAN_YEARS[mode]
    if len(urban_years) < need:
        why = {
            "test": "a seed year and at least one control year to score",
            "calibrate": "a seed year and 2 control years, as r² needs; SLEUTH advises 4 "
            "dates in all",
        }[mode]
        raise ScenarioError(
            f"{source}: {mode} mode needs at least {need} urban years ({why}); URBAN_DATA "
            f"has {len(urban_years)} ({', '.join(map(str, urban_years))}): add URBAN_DATA lines"
        )
    if mode == "predict":
        start_year = keys.whole("PREDICTION_START_DATE", 1000, 3000)
        end_year = keys.whole("PREDICTION_STOP_DATE", 1000, 3000)
        if end_year <= start_year:
            raise ScenarioError(
                f"{source}: PREDICTION_STOP_DATE ({end_year}) must be after "
                f"PREDICTION_START_DATE ({start_year}); fix the dates"
            )
    else:
        start_year, end_year = urban_years[0], urban_years[-1]
    single = {"EXCLUDED_DATA": keys.text("EXCLUDED_DATA"), "SLOPE_DATA": keys.text("SLOPE_DATA")}
    if keys.has("BACKGROUND_DATA"):
        single["BACKGROUND_DATA"] = keys.text("BACKGROUND_DATA")
    layer_keys += list(single.items())
    keys.used.add("INPUT_DIR")

    # --- GIFs
    input_dir = _resolve_input_dir(keys, layer_keys)
    out_names = {
        "URBAN_DATA": "urban_{}.tif",
        "ROAD_DATA": "roads_{}.tif",
        "LANDUSE_DATA": "landuse_{}.tif",
        "EXCLUDED_DATA": "excluded.tif",
        "SLOPE_DATA": "slope.tif",
        "BACKGROUND_DATA": "background.tif",
    }
    layers: list[tuple[str, str, str, np.ndarray]] = []  # (out name, key, gif name, values)
    shape: tuple[int, int] | None = None
    first = ""
    for key, name in layer_keys:
        data = read_gif_gray(input_dir / name, key=key)
        if shape is None:
            shape, first = data.shape, name
        elif data.shape != shape:
            raise GridMismatchError(
                f"{key} file {input_dir / name} is {data.shape[0]} × {data.shape[1]} cells "
                f"(rows × cols); expected {shape[0]} × {shape[1]} like {first}: SLEUTH needs "
                "every layer on one grid: resample or crop it"
            )
        year = file_year(name, key, source) if key in years else None
        layers.append((out_names[key].format(year), key, name, data))
    assert shape is not None
    excluded = next(d for _, k, _, d in layers if k == "EXCLUDED_DATA")
    quirks += _excluded_notes(excluded, single["EXCLUDED_DATA"])
    # A value read twice (a calibration START is also the coefficient) is noted once.
    quirks = list(dict.fromkeys(quirks))

    # --- scenario.toml
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    name = _scenario_name(source)
    unused = {k: v for k, v in values.items() if k not in keys.used}
    files = {out: gif for out, _, gif, _ in layers}

    def table(key: str) -> dict[str, str]:
        return {str(y): out_names[key].format(y) for y in years[key]}

    inputs: dict[str, Any] = {
        "excluded": "excluded.tif",
        "slope": "slope.tif",
    }
    if "BACKGROUND_DATA" in single:
        inputs["background"] = "background.tif"
    lines = [
        f"# Imported by `landsim import-sleuth` from the SLEUTH scenario file {source.name}",
        f"# (mode {mode}). The rasters hold the GIFs' gray levels exactly as SLEUTH reads them;",
        "# they have no CRS and 1-unit cells, as SLEUTH GIFs carry no georeferencing.",
        "schema_version = 1",
        f"name = {_toml_value(name)}",
        f"description = {_toml_value(f'SLEUTH scenario {source.name}, imported for {mode}')}",
        "",
        *_toml_table("model", {"kind": "sleuth"}),
        *_toml_table(
            "simulation",
            {
                "mode": mode,
                "start_year": start_year,
                "end_year": end_year,
                "seed": seed,
                "members": members,
            },
        ),
        *_toml_table("inputs", inputs),
        *_toml_table("inputs.urban", table("URBAN_DATA")),
        *_toml_table("inputs.roads", table("ROAD_DATA")),
    ]
    if years["LANDUSE_DATA"]:
        lines += _toml_table("inputs.landuse", table("LANDUSE_DATA"))
    lines += _toml_table("coefficients", dict(coefficients))
    if calibration is not None:
        lines += _toml_table("calibration", dict(calibration))
    lines += _toml_table("self_modification", dict(self_mod))
    lines += _toml_table(
        "imported",
        {
            "tool": "landsim import-sleuth",
            "source": source.name,
            "source_path": str(source.resolve()),
            "sha256": digest,
            "mode": mode,
            "input_dir": str(input_dir),
        },
    )[:-1]
    lines += _toml_list("quirks", quirks)
    lines += ["", *_toml_table("imported.files", files)]
    lines += _toml_table("imported.unused_sleuth_keys", unused)
    text = "\n".join(lines).rstrip("\n") + "\n"

    # --- write
    sources = [source, *(input_dir / gif for _, _, gif, _ in layers)]
    earlier = _check_out_dir(out_dir, overwrite, sources)
    written = [out for out, _, _, _ in layers] + ["scenario.toml"]
    with staged_output(out_dir, overwrite, sources) as staging:
        for out, key, gif, data in layers:
            _write_layer(
                staging / out,
                data,
                {"SLEUTH_KEY": key, "SLEUTH_FILE": gif, "SLEUTH_SCENARIO": source.name},
            )
        write_text(staging / "scenario.toml", text)
        _validate(staging / "scenario.toml", staging, out_dir, source)
    # staged_output replaces files of the same names; an earlier import's other layers
    # (a year no longer listed) must go too, or the folder would mix two imports.
    for stale in sorted(set(earlier) - set(written)):
        (out_dir / stale).unlink(missing_ok=True)

    return ImportResult(
        scenario=out_dir / "scenario.toml",
        out_dir=out_dir,
        name=name,
        mode=mode,
        shape=(int(shape[0]), int(shape[1])),
        urban_years=urban_years,
        road_years=list(years["ROAD_DATA"]),
        landuse_years=list(years["LANDUSE_DATA"]),
        start_year=start_year,
        end_year=end_year,
        seed=seed,
        members=members,
        coefficients=dict(coefficients),
        calibration=calibration,
        self_modification=self_mod,
        files=sorted(written),
        quirks=quirks,
        unused_keys=sorted(unused),
        input_dir=input_dir,
        source_sha256=digest,
    )


def _validate(path: Path, staging: Path, out_dir: Path, source: Path) -> None:
    """Load the written scenario as landsim will; a failure is a value the checks missed."""
    from landsim.scenario import load_sleuth

    try:
        load_sleuth(path)
    except ScenarioError as exc:
        msg = (
            str(exc)
            .replace(str(staging.resolve()), str(out_dir))
            .replace(str(staging), str(out_dir))
        )
        raise ScenarioError(
            f"{source}: imports to a scenario landsim refuses ({msg}); fix the SLEUTH file"
        ) from None
