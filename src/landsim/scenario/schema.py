"""The scenario schema: strict, frozen pydantic models.

Every table forbids unknown keys, so a typo is an error rather than a silently ignored
setting. Units are in the field names (``_m2``, ``_km2``) or stated in the description.
``docs/scenario.md`` documents every key; keep the two in step.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

ROLES = (
    "urban",
    "construction",
    "cropland",
    "forest",
    "grassland",
    "water",
    "wetland",
    "bare",
    "other",
)
Role = Literal[
    "urban", "construction", "cropland", "forest", "grassland", "water", "wetland", "bare", "other"
]
# Roles whose land counts as construction land (建设用地) for the farmland rule.
CONSTRUCTION_ROLES = frozenset({"urban", "construction"})

Rule = Literal["no_change", "no_construction", "construction_inside_only", "factor"]
# The planning lines every Chinese territorial plan draws, with the rule each implies.
DEFAULT_RULES: dict[str, Rule] = {
    "urban_development_boundary": "construction_inside_only",
    "permanent_basic_farmland": "no_construction",
    "ecological_red_line": "no_change",
    "water": "no_change",
    # The four urban control lines (城市四线) are no-go areas for new construction.
    "green_line": "no_construction",
    "blue_line": "no_construction",
    "purple_line": "no_construction",
    "yellow_line": "no_construction",
}

# A rule's `where` for every cell of the grid (a class-wide rule, e.g. damp all forest).
EVERYWHERE = "*"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

Year = Annotated[int, Field(ge=1000, le=3000)]
# TOML table keys are always strings, so a year used as a key ({ 2020 = 1.0 }) is parsed
# from its text; everywhere else types are strict ("2030" is not a year, true not a seed).
YearKey = Annotated[int, Field(ge=1000, le=3000, strict=False)]
# Paths arrive as TOML strings.
FilePath = Annotated[Path, Field(strict=False)]


def folder_name(v: str) -> str:
    """A scenario name, checked: it becomes a folder under runs/ and must not lead out."""
    bad = sorted({c for c in v if c in '/\\:*?"<>|' or ord(c) < 32})
    if bad or v.strip() in (".", "..") or v != v.strip():
        raise ValueError(
            f"name {v!r} must be usable as a folder name: no path separators, "
            'control characters or any of : * ? " < > |, no leading or trailing spaces, '
            "not '.' or '..' (Chinese and other letters are fine)"
        )
    return v


class _Strict(BaseModel):
    # allow_inf_nan=False: TOML writes `inf` and `nan` (and 1e400 reads as inf); no key of a
    # scenario means anything with them, and they passed the bounds (inf > 0): an infinite
    # population crashed demand with OverflowError, a NaN intercept left no cell open.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Simulation(_Strict):
    """Years and randomness of a run."""

    start_year: Year = Field(description="year of the initial land-use map")
    end_year: Year = Field(description="last simulated year")
    output_years: list[Year] | None = Field(
        default=None, description="years written as maps; default: the end year"
    )
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="random seed")
    members: int = Field(
        default=1,
        ge=1,
        le=100_000,
        description="ensemble members; each has its own random stream (seed, member)",
    )

    @model_validator(mode="after")
    def _years_in_order(self) -> Simulation:
        if self.end_year <= self.start_year:
            raise ValueError(
                f"end_year ({self.end_year}) must be after start_year ({self.start_year})"
            )
        for y in self.output_years or ():
            if not self.start_year <= y <= self.end_year:
                raise ValueError(
                    f"output year {y} is outside start_year..end_year "
                    f"({self.start_year}..{self.end_year})"
                )
        if self.output_years is not None and sorted(set(self.output_years)) != self.output_years:
            raise ValueError("output_years must be increasing, without repeats")
        return self

    @property
    def years(self) -> list[int]:
        return list(range(self.start_year, self.end_year + 1))

    @property
    def map_years(self) -> list[int]:
        return list(self.output_years) if self.output_years else [self.end_year]


class LandClass(_Strict):
    """One row of the class table."""

    code: int = Field(ge=0, le=254, description="value in the land-use raster")
    name: str = Field(min_length=1, description="name used in reports and keys")
    role: Role = Field(description="what the class is, for the model and the planning rules")
    color: str | None = Field(default=None, description="#rrggbb for maps")

    @field_validator("color")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is not None and not _COLOR.match(v):
            raise ValueError(f"color must be '#rrggbb', got {v!r}")
        return v


class DriverSpec(_Strict):
    """A driver raster with an optional transform applied when it is read."""

    path: FilePath
    transform: Literal["none", "log1p", "sqrt"] = "none"
    scale: float = Field(default=1.0, description="multiplier applied after the transform")


class DerivedDriver(_Strict):
    """A driver landsim computes: slope from a DEM driver, or a distance transform."""

    kind: Literal["slope", "distance_to_class", "distance_to_features"]
    source: str | None = Field(default=None, description="slope: the DEM driver's name")
    classes: list[str] | None = Field(
        default=None, description="distance_to_class: class names or roles to measure to"
    )
    path: FilePath | None = Field(
        default=None, description="distance_to_features: raster of the features (roads, centres)"
    )
    values: list[float] = Field(
        default_factory=lambda: [1.0],
        min_length=1,
        description="distance_to_features: raster values that are features",
    )
    scale: float = Field(
        default=0.001, description="multiplier on metres (default: kilometres); slope: 1"
    )

    @model_validator(mode="after")
    def _needs(self) -> DerivedDriver:
        needs = {"slope": "source", "distance_to_class": "classes", "distance_to_features": "path"}
        want = needs[self.kind]
        for key in ("source", "classes", "path"):
            given = getattr(self, key) is not None
            if key == want and not given:
                raise ValueError(f"kind {self.kind!r} needs '{key}'")
            if key != want and given:
                raise ValueError(f"'{key}' is not used with kind {self.kind!r}")
        return self


class Inputs(_Strict):
    landuse: FilePath = Field(description="land-use raster of start_year; defines the grid")
    drivers: dict[str, DriverSpec] = Field(
        default_factory=dict, description="name = path, or name = { path, transform, scale }"
    )

    @field_validator("drivers", mode="before")
    @classmethod
    def _path_shorthand(cls, v: Any) -> Any:
        # `slope = "slope.tif"` is short for `slope = { path = "slope.tif" }`; expanding it
        # here (not with a union type) keeps error key paths free of pydantic's union tags.
        if isinstance(v, dict):
            return {k: {"path": s} if isinstance(s, str | Path) else s for k, s in v.items()}
        return v

    @field_validator("drivers")
    @classmethod
    def _driver_names(cls, v: dict[str, DriverSpec]) -> dict[str, DriverSpec]:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"driver name {name!r} must be letters, digits, '_' or '-'")
        return v

    derived: dict[str, DerivedDriver] = Field(
        default_factory=dict,
        description="drivers computed at run time: slope of a DEM driver, distance to "
        "classes of the start map, distance to features of a raster",
    )

    @field_validator("derived")
    @classmethod
    def _derived_names(cls, v: dict[str, DerivedDriver]) -> dict[str, DerivedDriver]:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"driver name {name!r} must be letters, digits, '_' or '-'")
        return v

    @model_validator(mode="after")
    def _derived_sources(self) -> Inputs:
        for name, d in self.derived.items():
            if name in self.drivers:
                raise ValueError(
                    f"[inputs.derived.{name}] is also in [inputs.drivers]; give it once"
                )
            if d.kind == "slope" and d.source not in self.drivers:
                known = ", ".join(sorted(self.drivers)) or "none"
                raise ValueError(
                    f"[inputs.derived.{name}.source] must name a DEM in [inputs.drivers] "
                    f"(drivers: {known})"
                )
        return self

    def driver_specs(self) -> dict[str, DriverSpec]:
        return dict(self.drivers)


class Suitability(_Strict):
    """Suitability in [0, 1]: a logistic function of drivers, a raster, uniform, or (for
    the multi-class model) fitted per class on observed change."""

    method: Literal["logistic", "raster", "uniform", "fit"] = "uniform"
    intercept: float = 0.0
    coefficients: dict[str, float] = Field(default_factory=dict)
    path: FilePath | None = None
    # method = "fit" (docs/suitability.md)
    model: Literal["random_forest", "logistic"] = "logistic"
    before: FilePath | None = Field(
        default=None, description="fit: land-use map at the start of the observed change"
    )
    after: FilePath | None = Field(
        default=None, description="fit: map at its end; default [inputs].landuse"
    )
    drivers: list[str] | None = Field(
        default=None, description="fit: the drivers to use; default every driver"
    )
    sample_size: int = Field(default=20000, ge=20, le=10_000_000)
    trees: int = Field(default=50, ge=1, le=10_000)
    min_changed: int = Field(default=30, ge=2)
    too_few: Literal["raise", "constant"] = Field(
        default="raise",
        description="a class with fewer changed cells than min_changed: refuse, or give it "
        "a constant suitability (its share of the map)",
    )

    @model_validator(mode="after")
    def _fit_keys(self) -> Suitability:
        fit_keys = {"model", "before", "after", "drivers", "sample_size", "trees",
                    "min_changed", "too_few"}  # fmt: skip
        if self.method != "fit":
            # Keys that differ from their defaults (not model_fields_set: a scenario
            # dumped and validated again, as calibrate does, sets every key).
            fields = type(self).model_fields
            extra = sorted(k for k in fit_keys if getattr(self, k) != fields[k].default)
            if extra:
                raise ValueError(f"{', '.join(extra)} only used with method 'fit'")
        elif self.before is None:
            raise ValueError("method 'fit' needs 'before', the land-use map the change starts from")
        return self

    @model_validator(mode="after")
    def _method_needs(self) -> Suitability:
        if self.method == "logistic" and not self.coefficients:
            raise ValueError("method 'logistic' needs [suitability.coefficients] (driver = coef)")
        if self.method == "raster" and self.path is None:
            raise ValueError("method 'raster' needs 'path' to a suitability raster in [0, 1]")
        if self.method != "raster" and self.path is not None:
            raise ValueError(f"'path' is only used with method 'raster', not {self.method!r}")
        if self.method != "logistic" and self.coefficients:
            raise ValueError("'coefficients' are only used with method 'logistic'")
        return self


MAX_POPULATION = 1e10

YearSeries = dict[YearKey, Annotated[float, Field(ge=0)]]


class TargetsDemand(_Strict):
    """Urban area stated directly at two or more years, interpolated linearly between."""

    method: Literal["targets"]
    unit: Literal["km2", "ha", "cells"]
    urban: YearSeries = Field(description="urban area at given years, in `unit`")
    fixed: list[str] | None = Field(
        default=None,
        description="multi-class: classes (names or roles) whose area never changes; "
        "default the water classes; urban growth comes from the others in proportion "
        "to their area",
    )

    @field_validator("urban")
    @classmethod
    def _two_years(cls, v: dict[int, float]) -> dict[int, float]:
        if len(v) < 2:
            raise ValueError("give the urban area at two or more years")
        return v


class PopulationDemand(_Strict):
    """Urban land = population × urbanisation rate × per-capita urban land."""

    method: Literal["population"]
    # At most 1e10 persons (more than live on Earth): a bigger number is a unit or typing
    # slip (1.3e13 for 1.3e7), caught here with its key rather than as an infeasible
    # demand of trillions of cells, which `check` and `--dry-run` never see.
    population: dict[YearKey, Annotated[float, Field(gt=0, le=MAX_POPULATION)]] = Field(
        description="resident population (persons) at two or more years"
    )
    urbanization_rate: dict[YearKey, Annotated[float, Field(ge=0, le=1)]] = Field(
        description="urban share of the population, a fraction (0.735 for 73.5 %)"
    )
    urban_land_per_capita_m2: (
        Annotated[float, Field(gt=0, le=1000)]
        | dict[YearKey, Annotated[float, Field(gt=0, le=1000)]]
    ) = Field(description="urban construction land per urban resident, m²")
    fixed: list[str] | None = Field(
        default=None,
        description="multi-class: classes (names or roles) whose area never changes; "
        "default the water classes; urban growth comes from the others in proportion "
        "to their area",
    )
    anchor: Literal["observed", "absolute"] = Field(
        default="observed",
        description="'observed': the projected change is added to the urban area of the "
        "start map; 'absolute': the projected area is the target itself",
    )

    @model_validator(mode="after")
    def _two_years(self) -> PopulationDemand:
        for key in ("population", "urbanization_rate"):
            if len(getattr(self, key)) < 2:
                raise ValueError(f"'{key}' needs values at two or more years")
        return self


class MarkovDemand(_Strict):
    """Multi-class: continue the transitions between an earlier map and the start map."""

    method: Literal["markov"]
    maps: dict[YearKey, FilePath] = Field(
        description="{ <earlier year> = map }; the start map is [inputs].landuse"
    )
    fixed: list[str] | None = Field(
        default=None,
        description="classes (names or roles) held at their start area; what the chain "
        "gives them goes to the other classes in proportion to their area",
    )

    @field_validator("maps")
    @classmethod
    def _one(cls, v: dict[int, Path]) -> dict[int, Path]:
        if len(v) != 1:
            raise ValueError('give one earlier map: maps = { 2005 = "landuse_2005.tif" }')
        return v


class TrendDemand(_Strict):
    """Multi-class: a curve per class fitted to the class areas at several dates."""

    method: Literal["trend"]
    maps: dict[YearKey, FilePath] = Field(
        description="earlier maps by year; the start map is [inputs].landuse"
    )
    curve: Literal["linear", "log", "exp"] | dict[str, Literal["linear", "log", "exp"]] = Field(
        default="linear", description="one curve, or class name -> curve"
    )
    fixed: list[str] | None = Field(
        default=None,
        description="classes (names or roles) held at their start area; what the trend "
        "gives them goes to the other classes in proportion to their area",
    )

    @field_validator("maps")
    @classmethod
    def _some(cls, v: dict[int, Path]) -> dict[int, Path]:
        if not v:
            raise ValueError("give one or more earlier maps by year")
        return v


class TableDemand(_Strict):
    """Multi-class: cells (or km², ha) per year, class and optionally district, from CSV."""

    method: Literal["table"]
    path: FilePath
    unit: Literal["cells", "km2", "ha"] = "cells"


Demand = Annotated[
    TargetsDemand | PopulationDemand | MarkovDemand | TrendDemand | TableDemand,
    Field(discriminator="method"),
]
MULTICLASS_DEMAND = ("markov", "trend", "table")


class Constraint(_Strict):
    """A named planning layer and the rule it imposes on the cells inside it."""

    path: FilePath
    rule: Rule | None = Field(
        default=None, description="default by name for the planning lines; required otherwise"
    )
    inside: list[int] = Field(
        default_factory=lambda: [1], min_length=1, description="raster values meaning 'inside'"
    )
    factor: float | None = Field(default=None, ge=0, le=1)
    enforce: bool = Field(
        default=True,
        description="false: the layer is only reported (encroachment), it does not constrain",
    )
    zones: dict[str, Annotated[list[int], Field(min_length=1)]] = Field(
        default_factory=dict,
        description="sub-zones by raster value (e.g. concentrated_construction = [1]); "
        "[[rules]] name them as '<layer>.<zone>'",
    )
    spill_over: bool = Field(
        default=False,
        description="construction_inside_only: when the demand does not fit inside, the rest "
        "grows outside (reported) instead of being an error",
    )
    layer: str | None = Field(default=None, description="vector files: the layer to read")
    attribute: str | None = Field(
        default=None, description="vector files: integer field giving each polygon's value"
    )
    rasterize: Literal["centre", "all_touched"] = Field(
        default="centre",
        description="vector files: a cell is inside when its centre is, or when touched",
    )
    description: str = ""

    @model_validator(mode="after")
    def _factor_rule(self) -> Constraint:
        if self.rule == "factor" and self.factor is None:
            raise ValueError("rule 'factor' needs 'factor' in [0, 1]")
        if self.rule != "factor" and self.factor is not None:
            raise ValueError("'factor' is only used with rule = 'factor'")
        if self.spill_over and self.rule not in (None, "construction_inside_only"):
            raise ValueError("'spill_over' is only used with rule 'construction_inside_only'")
        for zone, values in self.zones.items():
            if not _NAME.match(zone):
                raise ValueError(f"zone name {zone!r} must be letters, digits, '_' or '-'")
            if min(values) < 0 or max(values) > 255:
                raise ValueError(f"zone {zone!r}: values must be 0..255")
        return self


class TransitionRule(_Strict):
    """Which classes may become urban in a planning zone, in which years (hard or soft)."""

    where: str = Field(description="a layer name, '<layer>.<zone>', or '*' for every cell")
    from_classes: list[str] | None = Field(
        default=None,
        alias="from",
        description="class names or roles the rule applies to; default every class",
    )
    to: str | None = Field(default=None, description="target class; the urban class")
    allow: bool | None = Field(default=None, description="hard rule: true allowed, false never")
    factor: float | None = Field(
        default=None, ge=0, le=1, description="soft rule: multiplies the potential"
    )
    from_year: Year | None = Field(default=None, description="first year the rule holds")
    to_year: Year | None = Field(default=None, description="last year the rule holds")
    description: str = ""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, populate_by_name=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _one_effect(self) -> TransitionRule:
        if (self.allow is None) == (self.factor is None):
            raise ValueError("a rule needs exactly one of 'allow' (true/false) or 'factor'")
        if self.from_year and self.to_year and self.to_year < self.from_year:
            raise ValueError(f"to_year ({self.to_year}) is before from_year ({self.from_year})")
        return self

    def holds_in(self, year: int) -> bool:
        return (self.from_year is None or year >= self.from_year) and (
            self.to_year is None or year <= self.to_year
        )


class Districts(_Strict):
    """Administrative units for per-district reports (区县)."""

    path: FilePath = Field(description="district raster (or vector file) on the grid")
    names: dict[str, str] = Field(
        default_factory=dict, description="raster value -> district name (e.g. 1 = '珠晖区')"
    )
    layer: str | None = None
    attribute: str | None = None

    @field_validator("names")
    @classmethod
    def _codes(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not k.isdigit() or not 1 <= int(k) <= 65535:
                raise ValueError(f"district code {k!r} must be a whole number 1..65535")
        return v


class ClassLimit(_Strict):
    min: Annotated[float, Field(ge=0)] | None = None
    max: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ClassLimit:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class Plan(_Strict):
    """The plan's own figures, reported against the simulated result (not enforced)."""

    source: str = Field(default="", description="where the figures come from (seeds/...)")
    cropland_retention_km2: float | None = Field(
        default=None, ge=0, description="farmland retention target 耕地保有量, km²"
    )
    line_areas_km2: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="planning layer -> area the plan states, km²"
    )
    class_area_limits_km2: dict[str, ClassLimit] = Field(
        default_factory=dict, description="class name -> control total { min, max } in km²"
    )


MULTICLASS_ONLY = ("patch_seed_share", "expansion_rounds", "demand_tolerance")
URBAN_CA_ONLY = ("neighborhood_floor", "random_factor")


class Model(_Strict):
    """Parameters of the cellular automaton: urban growth alone, or every class."""

    kind: Literal["urban_ca", "multiclass"] = "urban_ca"
    neighborhood_radius: int = Field(default=1, ge=1, le=10, description="Moore radius, cells")
    neighborhood_weights: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="class name -> weight in the neighbourhood effect; default urban = 1",
    )
    neighborhood_floor: float = Field(
        default=0.01, ge=0, le=1, description="neighbourhood effect of a cell with none around"
    )
    random_factor: float = Field(
        default=1.0, ge=0, le=10, description="alpha of the stochastic term 1 + (-ln u)^alpha"
    )
    patch_seed_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="multiclass: mu of PLUS's patch seeds; where a class is absent from the "
        "neighbourhood, a draw r < suitability gives it the neighbourhood term r * mu",
    )
    expansion_rounds: int = Field(
        default=4,
        ge=1,
        le=50,
        description="multiclass: rounds per year; round r takes at most need / (rounds - r), "
        "so patches grow outward from the cells converted before",
    )
    demand_tolerance: float = Field(
        default=0.001,
        ge=0,
        le=0.5,
        description="multiclass: share of a class's demand it may miss (urban: none)",
    )

    @model_validator(mode="after")
    def _kind_keys(self) -> Model:
        other = URBAN_CA_ONLY if self.kind == "multiclass" else MULTICLASS_ONLY
        # Keys that differ from their defaults (a dumped and revalidated scenario sets all).
        fields = type(self).model_fields
        extra = [k for k in other if getattr(self, k) != fields[k].default]
        if extra:
            want = "urban_ca" if self.kind == "multiclass" else "multiclass"
            raise ValueError(
                f"{', '.join(extra)} only used with kind = '{want}', not '{self.kind}'"
            )
        return self


class Conversion(_Strict):
    """Multi-class: which class may become which (rows: from, columns: to, in [[classes]]
    order), and what it costs."""

    allowed: list[list[Annotated[int, Field(ge=0, le=1)]]] = Field(
        description="1: the row's class may become the column's; 0: never"
    )
    cost: list[list[Annotated[float, Field(ge=0, le=1)]]] | None = Field(
        default=None,
        description="conversion cost in [0, 1] (OP × (1 − cost)); default 0",
    )


class Output(_Strict):
    geotiff: bool = True
    netcdf: bool = True
    compress: Literal["deflate", "lzw", "none"] = "deflate"


class Scenario(_Strict):
    """A whole scenario, as read from TOML (after ``extends`` and path resolution)."""

    schema_version: Literal[1]
    name: str = Field(min_length=1, description="names the default output folder runs/<name>")
    description: str = ""
    simulation: Simulation
    classes: list[LandClass] = Field(min_length=2)
    inputs: Inputs
    suitability: Suitability = Field(default_factory=Suitability)
    demand: Demand
    constraints: dict[str, Constraint] = Field(default_factory=dict)
    rules: list[TransitionRule] = Field(default_factory=list)
    districts: Districts | None = None
    plan: Plan = Field(default_factory=Plan)
    model: Model = Field(default_factory=Model)
    conversion: Conversion | None = None
    output: Output = Field(default_factory=Output)

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The scenario file this was read from (None when built in code)."""
        return self._source

    @field_validator("name")
    @classmethod
    def _folder_name(cls, v: str) -> str:
        return folder_name(v)

    @field_validator("classes")
    @classmethod
    def _class_table(cls, v: list[LandClass]) -> list[LandClass]:
        codes = [c.code for c in v]
        names = [c.name for c in v]
        for what, seq in (("code", codes), ("name", names)):
            dup = sorted({x for x in seq if seq.count(x) > 1}, key=str)
            if dup:
                raise ValueError(f"class {what}s must be unique; repeated: {dup}")
        urban = [c.name for c in v if c.role == "urban"]
        if len(urban) != 1:
            raise ValueError(f"exactly one class must have role 'urban' (found {len(urban)})")
        return v

    @field_validator("constraints")
    @classmethod
    def _constraint_rules(cls, v: dict[str, Constraint]) -> dict[str, Constraint]:
        out = {}
        for name, c in v.items():
            if not _NAME.match(name):
                raise ValueError(f"constraint name {name!r} must be letters, digits, '_' or '-'")
            if c.rule is None:
                if name not in DEFAULT_RULES:
                    raise ValueError(
                        f"constraint {name!r} needs a 'rule' (one of no_change, "
                        "no_construction, construction_inside_only, factor); only "
                        f"{', '.join(DEFAULT_RULES)} have a default rule"
                    )
                c = c.model_copy(update={"rule": DEFAULT_RULES[name]})
            out[name] = c
        return out

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        names = {c.name for c in self.classes}
        for cname in self.model.neighborhood_weights:
            if cname not in names:
                raise ValueError(
                    f"[model.neighborhood_weights] names class {cname!r}, which is not in "
                    f"[[classes]] (classes: {', '.join(sorted(names))})"
                )
        self._check_rules(names)
        self._check_multiclass(names)
        for line in self.plan.line_areas_km2:
            if line not in self.constraints:
                raise ValueError(
                    f"[plan.line_areas_km2] names {line!r}, which is not in [constraints] "
                    f"(layers: {', '.join(sorted(self.constraints)) or 'none'})"
                )
        for cname in self.plan.class_area_limits_km2:
            if cname not in names:
                raise ValueError(
                    f"[plan.class_area_limits_km2] names class {cname!r}, which is not in "
                    f"[[classes]] (classes: {', '.join(sorted(names))})"
                )
        if self.suitability.method == "logistic":
            for d in self.suitability.coefficients:
                if d not in self.inputs.drivers:
                    known = ", ".join(sorted(self.inputs.drivers)) or "none"
                    raise ValueError(
                        f"[suitability.coefficients] names driver {d!r}, which is not in "
                        f"[inputs.drivers] (drivers: {known})"
                    )
        return self

    def _check_multiclass(self, names: set[str]) -> None:
        multi = self.model.kind == "multiclass"
        method = self.demand.method
        if not multi:
            if method in MULTICLASS_DEMAND:
                raise ValueError(
                    f"[demand.method] '{method}' projects every class; it needs "
                    "[model] kind = 'multiclass'"
                )
            if self.conversion is not None:
                raise ValueError("[conversion] is only used with [model] kind = 'multiclass'")
            if self.suitability.method == "fit":
                raise ValueError(
                    "[suitability.method] 'fit' fits every class; it needs [model] kind = "
                    "'multiclass' (the urban model takes 'logistic' coefficients)"
                )
            if getattr(self.demand, "fixed", None) is not None:
                raise ValueError("[demand.fixed] is only used with [model] kind = 'multiclass'")
            return
        if self.suitability.method == "logistic":
            raise ValueError(
                "[suitability.method] 'logistic' gives urban suitability only; a multi-class "
                "model needs 'fit', 'raster' (one band per class) or 'uniform'"
            )
        roles = {c.role for c in self.classes}
        for c in getattr(self.demand, "fixed", None) or ():
            if c not in names and c not in roles:
                raise ValueError(
                    f"[demand.fixed] {c!r} is neither a class name nor a role of [[classes]]"
                )
        for d in self.suitability.drivers or ():
            if d not in self.inputs.drivers and d not in self.inputs.derived:
                known = ", ".join(sorted([*self.inputs.drivers, *self.inputs.derived])) or "none"
                raise ValueError(
                    f"[suitability.drivers] names {d!r}, which is neither in [inputs.drivers] "
                    f"nor in [inputs.derived] (drivers: {known})"
                )
        for name, d in self.inputs.derived.items():
            for c in d.classes or ():
                if c not in names and c not in roles:
                    raise ValueError(
                        f"[inputs.derived.{name}.classes] {c!r} is neither a class name nor a "
                        "role of [[classes]]"
                    )
        order = [c.name for c in self.classes]
        n = len(order)
        conv = self.conversion
        if conv is None:
            return
        for key in ("allowed", "cost"):
            m = getattr(conv, key)
            if m is None:
                continue
            if len(m) != n or any(len(row) != n for row in m):
                shape = f"{len(m)} rows of {sorted({len(r) for r in m})} columns"
                raise ValueError(
                    f"[conversion.{key}] must be {n} × {n} (rows from, columns to, in "
                    f"[[classes]] order: {', '.join(order)}); got {shape}"
                )
        u = self.urban_index
        back = [order[k] for k in range(n) if k != u and conv.allowed[u][k]]
        if back:
            raise ValueError(
                f"[conversion.allowed] row {order[u]} allows urban to become {', '.join(back)}; "
                "urban land never reverts in landsim: set that row to 0"
            )

    def _check_rules(self, names: set[str]) -> None:
        roles = {c.role for c in self.classes}
        urban = self.urban_class.name
        for i, rule in enumerate(self.rules):
            at = f"[rules[{i}]"
            layer, _, zone = rule.where.partition(".")
            if rule.where == EVERYWHERE:
                pass
            elif layer not in self.constraints:
                raise ValueError(
                    f"{at}.where] names layer {layer!r}, which is not in [constraints] "
                    f"(layers: {', '.join(sorted(self.constraints)) or 'none'})"
                )
            zones = self.constraints[layer].zones if layer in self.constraints else {}
            if zone and zone not in zones:
                known = ", ".join(sorted(zones)) or f"none; add [constraints.{layer}.zones]"
                hint = difflib.get_close_matches(zone, list(zones), n=1)
                raise ValueError(
                    f"{at}.where] layer {layer!r} has no zone {zone!r}"
                    + (f"; did you mean '{layer}.{hint[0]}'?" if hint else "")
                    + f" (zones: {known})"
                )
            for c in rule.from_classes or ():
                if c not in names and c not in roles:
                    raise ValueError(
                        f"{at}.from] {c!r} is neither a class name nor a role of [[classes]] "
                        f"(classes: {', '.join(sorted(names))})"
                    )
                if c == urban or c == "urban":
                    raise ValueError(f"{at}.from] {c!r} is already urban; urban never reverts")
            if rule.to is not None and rule.to != urban:
                raise ValueError(
                    f"{at}.to] the urban-growth model turns land into {urban!r} only; "
                    f"got {rule.to!r}"
                )
        start, end = self.simulation.start_year, self.simulation.end_year
        for i, rule in enumerate(self.rules):
            for key in ("from_year", "to_year"):
                y = getattr(rule, key)
                if y is not None and not start <= y <= end:
                    raise ValueError(
                        f"[rules[{i}].{key}] {y} is outside the simulated years {start}..{end}"
                    )

    def rule_classes(self, rule: TransitionRule) -> list[int]:
        """Class codes a rule applies to (names and roles resolved; urban excluded)."""
        want = set(rule.from_classes) if rule.from_classes is not None else None
        return [
            c.code
            for c in self.classes
            if c.role != "urban" and (want is None or c.name in want or c.role in want)
        ]

    # Convenience views used by the model and reports.
    @property
    def urban_class(self) -> LandClass:
        return next(c for c in self.classes if c.role == "urban")

    @property
    def urban_index(self) -> int:
        """Position of the urban class in the class table."""
        return next(i for i, c in enumerate(self.classes) if c.role == "urban")

    def class_by_name(self, name: str) -> LandClass:
        return next(c for c in self.classes if c.name == name)
