"""The scenario schema: strict, frozen pydantic models.

Every table forbids unknown keys, so a typo is an error rather than a silently ignored
setting. Units are in the field names (``_m2``, ``_km2``) or stated in the description.
``docs/scenario.md`` documents every key; keep the two in step.
"""

from __future__ import annotations

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
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

Year = Annotated[int, Field(ge=1000, le=3000)]
# TOML table keys are always strings, so a year used as a key ({ 2020 = 1.0 }) is parsed
# from its text; everywhere else types are strict ("2030" is not a year, true not a seed).
YearKey = Annotated[int, Field(ge=1000, le=3000, strict=False)]
# Paths arrive as TOML strings.
FilePath = Annotated[Path, Field(strict=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Simulation(_Strict):
    """Years and randomness of a run."""

    start_year: Year = Field(description="year of the initial land-use map")
    end_year: Year = Field(description="last simulated year")
    output_years: list[Year] | None = Field(
        default=None, description="years written as maps; default: the end year"
    )
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="random seed")

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

    def driver_specs(self) -> dict[str, DriverSpec]:
        return dict(self.drivers)


class Suitability(_Strict):
    """Urban suitability in [0, 1]: a logistic function of drivers, a raster, or uniform."""

    method: Literal["logistic", "raster", "uniform"] = "uniform"
    intercept: float = 0.0
    coefficients: dict[str, float] = Field(default_factory=dict)
    path: FilePath | None = None

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


YearSeries = dict[YearKey, Annotated[float, Field(ge=0)]]


class TargetsDemand(_Strict):
    """Urban area stated directly at two or more years, interpolated linearly between."""

    method: Literal["targets"]
    unit: Literal["km2", "ha", "cells"]
    urban: YearSeries = Field(description="urban area at given years, in `unit`")

    @field_validator("urban")
    @classmethod
    def _two_years(cls, v: dict[int, float]) -> dict[int, float]:
        if len(v) < 2:
            raise ValueError("give the urban area at two or more years")
        return v


class PopulationDemand(_Strict):
    """Urban land = population × urbanisation rate × per-capita urban land."""

    method: Literal["population"]
    population: dict[YearKey, Annotated[float, Field(gt=0)]] = Field(
        description="resident population (persons) at two or more years"
    )
    urbanization_rate: dict[YearKey, Annotated[float, Field(ge=0, le=1)]] = Field(
        description="urban share of the population, a fraction (0.735 for 73.5 %)"
    )
    urban_land_per_capita_m2: (
        Annotated[float, Field(gt=0, le=1000)]
        | dict[YearKey, Annotated[float, Field(gt=0, le=1000)]]
    ) = Field(description="urban construction land per urban resident, m²")
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


Demand = Annotated[TargetsDemand | PopulationDemand, Field(discriminator="method")]


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
    description: str = ""

    @model_validator(mode="after")
    def _factor_rule(self) -> Constraint:
        if self.rule == "factor" and self.factor is None:
            raise ValueError("rule 'factor' needs 'factor' in [0, 1]")
        if self.rule != "factor" and self.factor is not None:
            raise ValueError("'factor' is only used with rule = 'factor'")
        return self


class Model(_Strict):
    """Parameters of the urban-growth cellular automaton."""

    kind: Literal["urban_ca"] = "urban_ca"
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
    model: Model = Field(default_factory=Model)
    output: Output = Field(default_factory=Output)

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The scenario file this was read from (None when built in code)."""
        return self._source

    @field_validator("name")
    @classmethod
    def _folder_name(cls, v: str) -> str:
        # The name becomes a folder under runs/: it must not lead out of it.
        bad = sorted({c for c in v if c in '/\\:*?"<>|' or ord(c) < 32})
        if bad or v.strip() in (".", "..") or v != v.strip():
            raise ValueError(
                f"name {v!r} must be usable as a folder name: no path separators, "
                'control characters or any of : * ? " < > |, no leading or trailing spaces, '
                "not '.' or '..' (Chinese and other letters are fine)"
            )
        return v

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
        if self.suitability.method == "logistic":
            for d in self.suitability.coefficients:
                if d not in self.inputs.drivers:
                    known = ", ".join(sorted(self.inputs.drivers)) or "none"
                    raise ValueError(
                        f"[suitability.coefficients] names driver {d!r}, which is not in "
                        f"[inputs.drivers] (drivers: {known})"
                    )
        return self

    # Convenience views used by the model and reports.
    @property
    def urban_class(self) -> LandClass:
        return next(c for c in self.classes if c.role == "urban")

    def class_by_name(self, name: str) -> LandClass:
        return next(c for c in self.classes if c.name == name)
