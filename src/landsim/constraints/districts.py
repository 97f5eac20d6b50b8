"""Districts (区县): administrative units that reports break growth down by."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landsim.constraints.compile import read_layer_values
from landsim.errors import InputError
from landsim.io.raster import Grid, value_counts
from landsim.scenario.schema import Scenario


@dataclass(frozen=True)
class Districts:
    """District codes on the grid (0: none) and their names."""

    codes: np.ndarray  # uint8 or uint16, 0: no district
    names: dict[int, str]

    def name(self, code: int) -> str:
        return self.names.get(code, f"district {code}")


def read_districts(scenario: Scenario, grid: Grid) -> Districts | None:
    spec = scenario.districts
    if spec is None:
        return None
    values, valid, _ = read_layer_values(
        spec.path, grid, "districts.path", layer=spec.layer, attribute=spec.attribute
    )
    if np.issubdtype(values.dtype, np.floating):
        values = np.where(valid & np.isfinite(values), values, 0)
        # Truncating 1.5 to 1 would put cells in a district silently (a raster resampled
        # bilinearly mixes codes along borders); the land-use reader refuses such values too.
        frac = values != np.round(values)
        if frac.any():
            shown = ", ".join(f"{v:g}" for v in np.unique(values[frac])[:5])
            raise InputError(
                f"[districts.path] {spec.path}: {int(frac.sum()):,} cells hold codes that are "
                f"not whole numbers ({shown}); district codes are integers: resample the "
                "raster with nearest neighbour, or round it"
            )
    # In the layer's own dtype until the range is checked: a pass to int64 and np.unique
    # over the grid cost ~1 s at 32 M cells; a count per code is one cheap pass.
    codes = np.where(valid, values, values.dtype.type(0))
    lo, hi = codes.min(), codes.max()
    if lo < 0 or hi > 65535:
        raise InputError(
            f"[districts.path] {spec.path}: district codes must be 0..65535 (0: none); "
            f"found {int(lo)}..{int(hi)}: recode the districts"
        )
    # The narrowest unsigned type that holds the codes (uint8 or uint16, as the layer):
    # an int32 copy took 128 MB at 32 M cells, fresh memory that is slow to map.
    if codes.dtype not in (np.uint8, np.uint16):
        codes = codes.astype(np.uint16)
    present = [int(c) for c in np.flatnonzero(value_counts(codes, int(hi) + 1)) if c]
    if not present:
        # Said how to fix (the message stopped at what): usually the wrong file, or a
        # nodata value that swallows every code.
        raise InputError(
            f"[districts.path] {spec.path}: no cell belongs to a district (every cell is 0 "
            "or nodata); give the district layer with codes 1..65535, or fix its nodata value"
        )
    names = {int(k): v for k, v in spec.names.items()}
    missing = [c for c in names if c not in present]
    if missing:
        raise InputError(
            f"[districts.names] codes {missing} have no cell in {spec.path} "
            f"(codes present: {present[:20]}); fix the names table or the layer"
        )
    return Districts(codes, {c: names.get(c, f"district {c}") for c in present})
