"""Named planning layers → the per-cell mask of cells that may become urban.

Each layer keeps its own rule (the lines of 三区三线 are not merged by hand):

``no_change``
    cells inside never change class (ecological protection red line, water).
``no_construction``
    cells inside never become construction land (permanent basic farmland).
``construction_inside_only``
    new construction land only inside (urban development boundary).
``factor``
    potential multiplied by ``factor`` inside (a soft rule; 0 acts as a hard one).

A layer's nodata cells count as outside it. A layer with ``enforce = false`` is read and
reported (how much growth encroaches on it) but does not constrain growth. The compiled
result also says how many cells each layer takes away from growth, so an infeasible
demand can name the layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landsim.errors import InputError
from landsim.io.raster import NODATA, Grid, read_aligned
from landsim.scenario.schema import Scenario


@dataclass(frozen=True)
class Layer:
    name: str
    rule: str
    path: Path
    inside: np.ndarray  # bool, True inside the line
    factor: float | None = None
    enforced: bool = True  # False: reported in compliance only


@dataclass(frozen=True)
class CompiledConstraints:
    candidate: np.ndarray  # uint8: 1 where a cell may become urban now
    factor: np.ndarray | None  # float32 multiplier on suitability, None if no soft rule
    layers: dict[str, Layer]
    taken_away: dict[str, int]  # non-urban valid cells the layer forbids to urbanise
    taken_away_only: dict[str, int]  # ... that no other layer forbids


def _blocks_growth(layer: Layer) -> np.ndarray:
    if layer.rule in ("no_change", "no_construction"):
        return layer.inside
    if layer.rule == "construction_inside_only":
        return ~layer.inside
    assert layer.factor is not None
    return layer.inside if layer.factor == 0 else np.zeros_like(layer.inside)


def read_layers(scenario: Scenario, grid: Grid) -> dict[str, Layer]:
    layers = {}
    for name, spec in scenario.constraints.items():
        key = f"constraints.{name}.path"
        data, valid = read_aligned(spec.path, grid, key)
        inside = valid & np.isin(data, np.asarray(spec.inside))
        assert spec.rule is not None  # filled in by the schema
        layers[name] = Layer(name, spec.rule, spec.path, inside, spec.factor, spec.enforce)
    return layers


def compile_constraints(
    scenario: Scenario, landuse: np.ndarray, grid: Grid, layers: dict[str, Layer] | None = None
) -> CompiledConstraints:
    """Read the planning layers and compile them for the urban-growth model."""
    if layers is None:
        layers = read_layers(scenario, grid)
    urban = scenario.urban_class.code
    base = (landuse != NODATA) & (landuse != urban)
    blocked = {
        name: _blocks_growth(layer) & base for name, layer in layers.items() if layer.enforced
    }
    any_block = np.zeros(landuse.shape, dtype=np.uint8)
    for b in blocked.values():
        any_block += b  # count of layers forbidding each cell
    candidate = (base & (any_block == 0)).astype(np.uint8)
    taken = {name: int(b.sum()) for name, b in blocked.items()}
    only = {name: int((b & (any_block == 1)).sum()) for name, b in blocked.items()}

    factor = None
    for layer in layers.values():
        if layer.enforced and layer.rule == "factor" and layer.factor not in (0, 1):
            if factor is None:
                factor = np.ones(landuse.shape, dtype=np.float32)
            factor[layer.inside] *= np.float32(layer.factor)
    for name, layer in layers.items():
        if layer.enforced and layer.rule == "construction_inside_only" and not layer.inside.any():
            raise InputError(
                f"[constraints.{name}.path] {layer.path}: no cell is inside the layer "
                f"(inside = {scenario.constraints[name].inside}), so nothing could grow; "
                "check the layer's values and 'inside'"
            )
    return CompiledConstraints(candidate, factor, layers, taken, only)
