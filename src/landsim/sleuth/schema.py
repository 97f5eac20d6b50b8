"""The scenario schema of SLEUTH-kind scenarios (``[model] kind = "sleuth"``).

A SLEUTH scenario names the layers SLEUTH reads (urban years, road years, excluded,
slope, optionally land use and a background), the five growth coefficients, SLEUTH's
self-modification constants and, for calibration, the coefficient ranges. Keys follow
SLEUTH's scenario file (``landsim import-sleuth`` writes them from one); ``docs/sleuth.md``
maps each key to its SLEUTH name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from landsim.scenario.schema import FilePath, Year, YearKey, _Strict, folder_name

COEFFICIENTS = ("diffusion", "breed", "spread", "slope_resistance", "road_gravity")


class Coefficients(_Strict):
    """The five growth coefficients, 0–100 (SLEUTH runs 0 as 1)."""

    diffusion: float = Field(ge=0, le=100, description="spontaneous growth (DIFFUSION)")
    breed: float = Field(ge=0, le=100, description="new spreading centres (BREED)")
    spread: float = Field(ge=0, le=100, description="edge growth (SPREAD)")
    slope_resistance: float = Field(ge=0, le=100, description="resistance of slopes (SLOPE)")
    road_gravity: float = Field(ge=0, le=100, description="road-influenced growth (ROAD)")

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.diffusion, self.breed, self.spread, self.slope_resistance, self.road_gravity)


class Range(_Strict):
    """``start``, ``start + step``, … up to ``stop`` (SLEUTH's CALIBRATION_*_START/STEP/STOP)."""

    start: float = Field(ge=0, le=100)
    step: float = Field(gt=0, le=100)
    stop: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.stop < self.start:
            raise ValueError(
                f"stop ({self.stop:g}) is below start ({self.start:g}); the range is empty: "
                "give start <= stop"
            )
        return self

    def values(self) -> list[float]:
        n = int((self.stop - self.start) / self.step + 1e-9) + 1
        return [self.start + i * self.step for i in range(n)]


class Calibration(_Strict):
    """What calibration searches and how it ranks coefficient sets."""

    diffusion: Range
    breed: Range
    spread: Range
    slope_resistance: Range
    road_gravity: Range
    rank_by: Literal["product", "leesalee", "osm"] = Field(
        default="product", description="score that ranks coefficient sets"
    )
    search: Literal["brute_force", "optimizer"] = Field(
        default="brute_force",
        description="every combination of the ranges, or an optimiser within their bounds",
    )
    trials: int = Field(default=64, ge=1, le=100_000, description="optimizer: sets tried")
    top: int = Field(default=10, ge=1, le=10_000, description="sets listed in the report")


class SelfModification(_Strict):
    """SLEUTH's self-modification constants (scenario-file names in capitals)."""

    critical_low: float = Field(default=0.97, ge=0, description="CRITICAL_LOW")
    critical_high: float = Field(default=1.3, ge=0, description="CRITICAL_HIGH")
    critical_slope: float = Field(default=21.0, gt=0, le=255, description="CRITICAL_SLOPE")
    boom: float = Field(default=1.01, gt=0, description="BOOM (> 1)")
    bust: float = Field(default=0.9, gt=0, description="BUST (< 1)")
    road_gravity_sensitivity: float = Field(default=0.01, ge=0, description="ROAD_GRAV_SENSITIVITY")
    slope_sensitivity: float = Field(default=0.1, ge=0, description="SLOPE_SENSITIVITY")


class SleuthInputs(_Strict):
    """Rasters on one grid. Urban: nonzero = urban; roads: weight (any scale, rescaled
    to 0–100 by the largest value); excluded: 0 available … >= 100 never; slope: percent."""

    urban: dict[YearKey, FilePath] = Field(min_length=1, description="year -> urban raster")
    roads: dict[YearKey, FilePath] = Field(min_length=1, description="year -> road raster")
    excluded: FilePath
    slope: FilePath
    landuse: dict[YearKey, FilePath] = Field(
        default_factory=dict, description="year -> land use (carried, not simulated)"
    )
    background: FilePath | None = None


class SleuthSimulation(_Strict):
    mode: Literal["test", "calibrate", "predict"]
    start_year: Year | None = Field(
        default=None, description="predict: first year (the seed); default: first urban year"
    )
    end_year: Year | None = Field(
        default=None, description="predict: last year; default: last urban year"
    )
    seed: int = Field(default=1, ge=0, le=2**63 - 1)
    members: int = Field(
        default=1, ge=1, le=100_000, description="Monte Carlo members (MONTE_CARLO_ITERATIONS)"
    )
    output_years: list[Year] | None = None


class SleuthModel(_Strict):
    kind: Literal["sleuth"]


class SleuthScenario(_Strict):
    """A SLEUTH-kind scenario, as read from TOML."""

    schema_version: Literal[1]
    name: str = Field(min_length=1)
    description: str = ""
    model: SleuthModel
    simulation: SleuthSimulation
    inputs: SleuthInputs
    coefficients: Coefficients | None = None
    calibration: Calibration | None = None
    self_modification: SelfModification = Field(default_factory=SelfModification)
    imported: dict[str, Any] = Field(
        default_factory=dict, description="where an imported scenario came from, and its quirks"
    )

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        return self._source

    _name = field_validator("name")(classmethod(lambda cls, v: folder_name(v)))

    @model_validator(mode="after")
    def _mode_needs(self) -> SleuthScenario:
        mode = self.simulation.mode
        if mode in ("test", "predict") and self.coefficients is None:
            raise ValueError(f"mode {mode!r} needs [coefficients] (the five growth coefficients)")
        if mode == "calibrate" and self.calibration is None:
            raise ValueError("mode 'calibrate' needs [calibration] (a range per coefficient)")
        years = sorted(self.inputs.urban)
        if mode in ("test", "calibrate") and len(years) < 2:
            raise ValueError(
                f"mode {mode!r} needs at least 2 urban years (a seed and a control year); "
                f"[inputs.urban] has {len(years)}"
            )
        if mode == "calibrate" and len(years) < 3:
            raise ValueError(
                "calibration fits r² over the control years: it needs at least 3 urban years "
                f"(a seed and 2 control years; SLEUTH advises 4); [inputs.urban] has {len(years)}"
            )
        if mode == "predict" and (
            self.simulation.start_year is None or self.simulation.end_year is None
        ):
            raise ValueError("mode 'predict' needs [simulation] start_year and end_year")
        start, end = self.first_year, self.last_year
        if end <= start:
            raise ValueError(f"end_year ({end}) must be after start_year ({start})")
        return self

    @property
    def first_year(self) -> int:
        s = self.simulation
        return s.start_year if s.start_year is not None else min(self.inputs.urban)

    @property
    def last_year(self) -> int:
        s = self.simulation
        return s.end_year if s.end_year is not None else max(self.inputs.urban)
