"""Named planning layers and zone rules → the cells that may become urban, per period.

Each layer keeps its own rule (the lines of 三区三线 are not merged by hand):

``no_change``
    cells inside never change class (ecological protection red line, water).
``no_construction``
    cells inside never become construction land (permanent basic farmland, the four
    urban control lines).
``construction_inside_only``
    new construction land only inside (urban development boundary); with
    ``spill_over`` the cells outside are a second choice, taken only when the demand
    does not fit inside, and reported.
``factor``
    potential multiplied by ``factor`` inside (a soft rule; 0 acts as a hard one).

A layer may have sub-zones (``zones``: raster values), and ``[[rules]]`` set per zone ×
class, per range of years, whether a class may become urban (``allow``) or how much its
potential is damped (``factor``). Where layers and rules disagree for a cell, the
precedence is, strongest first:

1. ``no_change`` and ``no_construction`` layers: absolute, nothing overrides them;
2. a rule with ``allow = false``;
3. a rule with ``allow = true``: lifts a boundary (``construction_inside_only``) for its
   cells;
4. ``construction_inside_only``: no growth outside (or second choice with spill-over);
5. soft factors (layer ``factor`` rules and rule ``factor``) multiply.

Rules change only at the years they name, so the simulated years split into periods
with one candidate mask and one factor map each. A layer with ``enforce = false`` is
read and reported but constrains nothing, and neither do the rules on its zones; a rule
with ``where = "*"`` holds on every cell (e.g. damp all forest in an ecology scenario).
Overlaps of enforced layers whose rules disagree (三线冲突) are counted and reported
with the rule that wins there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from landsim.errors import InputError
from landsim.io.raster import NODATA, Grid, isin_codes, read_aligned
from landsim.scenario.schema import EVERYWHERE, Scenario, TransitionRule

HARD_RULES = ("no_change", "no_construction")
THREE_LINES = ("urban_development_boundary", "permanent_basic_farmland", "ecological_red_line")
# Strongest first: where enforced layers overlap, the first rule in this order wins. A soft
# factor comes after the boundary (docs/scenario.md, precedence 4 > 5); a factor of 0 acts
# as a hard exclusion and ranks with no_construction (see _winner).
PRECEDENCE = ("no_change", "no_construction", "construction_inside_only", "factor")


@dataclass(frozen=True)
class Layer:
    name: str
    rule: str
    path: Path
    inside: np.ndarray  # bool, True inside the line
    factor: float | None = None
    enforced: bool = True  # False: reported in compliance only
    zones: dict[str, np.ndarray] = field(default_factory=dict)  # zone name -> bool mask
    spill_over: bool = False
    vector: dict[str, Any] | None = None  # rasterisation report of a vector layer

    @property
    def blocks_absolutely(self) -> bool:
        return self.rule in HARD_RULES or (self.rule == "factor" and self.factor == 0)


@dataclass(frozen=True)
class Period:
    """Years over which the same rules hold."""

    first_year: int
    last_year: int
    candidate: np.ndarray  # uint8: 1 where a cell may become urban (first choice)
    factor: np.ndarray | None  # float32 multiplier on suitability; None: all 1
    spill: np.ndarray | None  # uint8: cells only spill-over may take; None: no spill-over
    # Non-urban valid cells each layer (or the [[rules]] in force) forbids in this period,
    # and those that nothing else forbids: the infeasible-demand message of this period.
    taken_away: dict[str, int] = field(default_factory=dict)
    taken_away_only: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledConstraints:
    periods: list[Period]
    layers: dict[str, Layer]
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def taken_away(self) -> dict[str, int]:
        """Cells each layer (or [[rules]]) takes from growth in the first period."""
        return self.periods[0].taken_away

    @property
    def taken_away_only(self) -> dict[str, int]:
        return self.periods[0].taken_away_only

    @property
    def candidate(self) -> np.ndarray:
        """The first period's candidate mask."""
        return self.periods[0].candidate

    @property
    def factor(self) -> np.ndarray | None:
        return self.periods[0].factor


def read_layer_values(
    path: Path,
    grid: Grid,
    key: str,
    *,
    layer: str | None = None,
    attribute: str | None = None,
    all_touched: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any] | None]:
    """A planning layer's values on the grid, from a raster or a vector file.

    Returns (values, valid, vector report or None). Polygons become their attribute's
    value (1 without one) and 0 outside; a raster's nodata cells are not valid.
    """
    from landsim.io.vector import is_vector, rasterize_vector

    if is_vector(path):
        values, report = rasterize_vector(
            path, grid, key, layer=layer, attribute=attribute, all_touched=all_touched
        )
        return values, np.ones(values.shape, dtype=bool), _report_dict(report)
    if layer is not None or attribute is not None:
        raise InputError(
            f"[{key}] {path}: 'layer' and 'attribute' apply to vector files (.gpkg, .shp, "
            ".geojson, .fgb); remove them for a raster"
        )
    values, valid = read_aligned(path, grid, key)
    return values, valid, None


def _report_dict(report: Any) -> dict[str, Any]:
    from dataclasses import asdict

    out = asdict(report)
    out["path"] = str(out["path"])
    out["values"] = {str(k): int(v) for k, v in out.get("values", {}).items()}
    return out


def _check_raster_layer(data: np.ndarray, valid: np.ndarray, path: Path, key: str) -> None:
    """Refuse a raster layer that cannot mean what the scenario says.

    Both used to pass silently: an all-nodata layer constrained nothing (a red line that
    protects no cell), and fractional values (a layer resampled bilinearly, or a float
    map of factors) never equal the integer ``inside`` and ``zones`` values, so those
    cells were silently outside. The land-use and district readers refuse both too.
    """
    if not valid.any():
        raise InputError(
            f"[{key}] {path}: every cell is nodata, so the layer would mark no cell; check "
            "the raster's nodata value and that it is the right file"
        )
    if data.dtype.kind == "f":
        frac = valid & (data != np.round(data))
        if frac.any():
            shown = ", ".join(f"{v:g}" for v in np.unique(data[frac])[:5])
            raise InputError(
                f"[{key}] {path}: {int(frac.sum()):,} cells hold values that are not whole "
                f"numbers ({shown}); layer values are integer codes matched by 'inside' and "
                "'zones' (a layer's factor is its 'factor' key): resample with nearest "
                "neighbour, or round the raster"
            )


def read_layers(scenario: Scenario, grid: Grid) -> dict[str, Layer]:
    layers = {}
    # One raster often holds several layers (the four urban lines, water in the land-use
    # map): read and check it once. The arrays are only read below, never changed.
    rasters: dict[Path, tuple[np.ndarray, np.ndarray]] = {}
    # Each raster is dropped after the last layer that reads it: five 32 M-cell rasters
    # and their validity masks held at once were 640 MB of fresh memory.
    last_use = {spec.path: name for name, spec in scenario.constraints.items()}
    for name, spec in scenario.constraints.items():
        key = f"constraints.{name}.path"
        if spec.path in rasters and spec.layer is None and spec.attribute is None:
            data, valid = rasters[spec.path]
            vector = None
        else:
            data, valid, vector = read_layer_values(
                spec.path,
                grid,
                key,
                layer=spec.layer,
                attribute=spec.attribute,
                all_touched=spec.rasterize == "all_touched",
            )
            if vector is None:
                _check_raster_layer(data, valid, spec.path, key)
                rasters[spec.path] = (data, valid)
        inside = isin_codes(data, spec.inside)
        inside &= valid
        zones = {z: isin_codes(data, v) for z, v in spec.zones.items()}
        for mask in zones.values():
            mask &= valid
        for z, mask in zones.items():
            if not mask.any():
                raise InputError(
                    f"[constraints.{name}.zones.{z}] {spec.path}: no cell has the zone's values "
                    f"{spec.zones[z]}; check the values against the layer"
                )
        if last_use[spec.path] == name:
            rasters.pop(spec.path, None)
            del data, valid
        assert spec.rule is not None  # filled in by the schema
        layers[name] = Layer(
            name,
            spec.rule,
            spec.path,
            inside,
            spec.factor,
            spec.enforce,
            zones,
            spec.spill_over,
            vector,
        )
    return layers


def _rule_mask(
    rule: TransitionRule, scenario: Scenario, layers: dict[str, Layer], landuse: np.ndarray
) -> np.ndarray:
    name, _, zone = rule.where.partition(".")
    mask = isin_codes(landuse, np.asarray(scenario.rule_classes(rule), dtype=landuse.dtype))
    if rule.where != EVERYWHERE:
        mask &= layers[name].zones[zone] if zone else layers[name].inside
    return mask


def _period_bounds(scenario: Scenario, rules: list[TransitionRule]) -> list[tuple[int, int]]:
    sim = scenario.simulation
    cuts = {sim.start_year + 1}
    for r in rules:
        if r.from_year is not None:
            cuts.add(r.from_year)
        if r.to_year is not None:
            cuts.add(r.to_year + 1)
    starts = sorted(c for c in cuts if sim.start_year < c <= sim.end_year)
    ends = [s - 1 for s in starts[1:]] + [sim.end_year]
    return list(zip(starts, ends, strict=True))


def compile_constraints(
    scenario: Scenario,
    landuse: np.ndarray,
    grid: Grid | None,
    layers: dict[str, Layer] | None = None,
) -> CompiledConstraints:
    """Read the planning layers and compile them, with the zone rules, for the model.

    ``grid`` may be None when ``layers`` are given (then areas are not reported in km²).
    """
    if layers is None:
        assert grid is not None
        layers = read_layers(scenario, grid)
    for name, layer in layers.items():
        if layer.enforced and layer.rule == "construction_inside_only" and not layer.inside.any():
            raise InputError(
                f"[constraints.{name}.path] {layer.path}: no cell is inside the layer "
                f"(inside = {scenario.constraints[name].inside}), so nothing could grow; "
                "check the layer's values and 'inside'"
            )
    urban = scenario.urban_class.code
    # Whole-grid masks are combined in place into few arrays: on a 32 M-cell grid each
    # fresh temporary cost more in page faults than its arithmetic (~1 s of the 1.4 s
    # this took with one new array per operation).
    base = isin_codes(landuse, [c for c in range(256) if c not in (NODATA, urban)])
    enforced = {k: v for k, v in layers.items() if v.enforced}
    # Per layer: True where the layer itself blocks growth (inside a hard line, outside
    # a boundary); bounds and spill-over boundaries differ only in what they block.
    hard = [k for k, v in enforced.items() if v.blocks_absolutely]
    bounds = [
        k for k, v in enforced.items() if v.rule == "construction_inside_only" and not v.spill_over
    ]
    spills = [
        k for k, v in enforced.items() if v.rule == "construction_inside_only" and v.spill_over
    ]
    outside = set(bounds) | set(spills)
    blockers = {k: (layers[k].inside, k in outside) for k in hard + bounds}
    packed = _Packed.of(enforced, base.shape) if len(enforced) < _MAX_PACKED else None
    rules = [
        r
        for r in scenario.rules
        if r.where == EVERYWHERE or layers[r.where.partition(".")[0]].enforced
    ]
    masks = [_rule_mask(r, scenario, layers, landuse) for r in rules]
    any_hard = _any((layers[k].inside for k in hard), base.shape)
    # Inside every boundary (bounds: all of them; spills: any is enough to need the
    # spill-over) - kept as "inside all", the complement of "outside any".
    in_bounds = _all((layers[k].inside for k in bounds), base.shape)
    out_spill = ~_all((layers[k].inside for k in spills), base.shape) if spills else None

    periods = []
    scratch = np.empty(base.shape, dtype=bool)
    for first, last in _period_bounds(scenario, rules):
        live = [(r, m) for r, m in zip(rules, masks, strict=True) if r.holds_in(first)]
        rule_no = _any((m for r, m in live if r.allow is False), base.shape)
        rule_yes = _any((m for r, m in live if r.allow is True), base.shape)
        # open = base & ~any_hard & ~rule_no & (rule_yes | ~any_bound)
        open_ = np.logical_or(rule_yes, in_bounds)
        open_ &= base
        np.logical_not(any_hard, out=scratch)
        open_ &= scratch
        np.logical_not(rule_no, out=scratch)
        open_ &= scratch
        second = None
        if out_spill is not None:
            # second = open & any_spill & ~rule_yes
            second = np.logical_and(open_, out_spill)
            np.logical_not(rule_yes, out=scratch)
            second &= scratch
        factor = _factor(enforced, live, base.shape)
        if factor is not None:
            # A cell whose potential is damped to 0 can never be chosen.
            np.greater(factor, 0, out=scratch)
            open_ &= scratch
            if second is not None:
                second &= scratch
        # Counted per period: a rule that closes land from a later year on takes it from
        # that period's growth only, and the message for that period must name it.
        rule_no &= base
        if packed is not None:
            taken, only = packed.taken_away(blockers, base, rule_no)
        else:
            taken, only = _taken_away(blockers, base, rule_no, scratch)
        if second is not None:
            np.logical_not(second, out=scratch)
            open_ &= scratch
        periods.append(
            Period(
                first,
                last,
                open_.view(np.uint8),
                factor,
                None if second is None else second.view(np.uint8),
                taken,
                only,
            )
        )

    return CompiledConstraints(periods, layers, conflicts(layers, grid, packed))


# Layers packed as bits of one integer per cell, for the counts of their overlaps: packed
# below this many layers (the table of the layers' and one rule's patterns has
# 2 ** (n + 1) entries); past it the mask-by-mask counts run.
_MAX_PACKED = 20


@dataclass
class _Packed:
    """The enforced layers' ``inside`` masks as bits of one array (bit k: layer k), so
    the cells that each combination of layers holds are counted in one pass, where a
    mask per layer and pair took a whole-grid pass each."""

    names: list[str]
    bits: np.ndarray  # uint8, uint16 or uint32, flat

    @classmethod
    def of(cls, layers: dict[str, Layer], shape: tuple[int, ...]) -> _Packed:
        """``layers``' masks on a grid of ``shape`` (no layer: every cell's bits are 0)."""
        from landsim.kernels.lookup import set_bit

        names = list(layers)
        # The narrowest type with a bit per layer: 1 byte per cell for up to 8 layers.
        dtype = np.uint8 if len(names) <= 8 else np.uint16 if len(names) <= 16 else np.uint32
        bits = np.zeros(int(np.prod(shape)), dtype=dtype)
        for k, name in enumerate(names):
            set_bit(layers[name].inside.reshape(-1), k, bits)
        return cls(names, bits)

    def patterns(self, extra: np.ndarray | None, where: np.ndarray | None) -> np.ndarray:
        """Cells per combination of the layers (bits 0..n-1) and ``extra`` (bit n),
        counted where ``where`` holds."""
        from landsim.kernels.lookup import count_patterns

        n = len(self.names)
        counts = np.zeros(1 << (n + 1), dtype=np.int64)
        # One-element arrays: no extra mask, every cell (a one-cell grid reads them as is).
        flat_extra = np.zeros(1, dtype=bool) if extra is None else extra.reshape(-1)
        flat_where = np.ones(1, dtype=bool) if where is None else where.reshape(-1)
        count_patterns(self.bits, flat_extra, n, flat_where, counts)
        return counts

    def taken_away(
        self,
        blockers: dict[str, tuple[np.ndarray, bool]],
        base: np.ndarray,
        by_rules: np.ndarray,
    ) -> tuple[dict[str, int], dict[str, int]]:
        """What :func:`_taken_away` counts, from one table of patterns within ``base``."""
        n = len(self.names)
        counts = self.patterns(by_rules, base)
        v = np.arange(counts.size, dtype=np.int64)
        blocked = np.zeros(counts.size, dtype=np.int64)
        keys: list[tuple[str, int]] = []
        for name, (_, outside) in blockers.items():
            k = self.names.index(name)
            bit = (v >> k) & 1
            blocked |= (bit ^ int(outside)) << k
            keys.append((name, k))
        if by_rules.any():
            blocked |= v & (1 << n)
            keys.append(("[[rules]]", n))
        how_many = sum(((blocked >> k) & 1) for k in range(n + 1))
        taken = {name: int(counts[(blocked >> k) & 1 == 1].sum()) for name, k in keys}
        only = {
            name: int(counts[(how_many == 1) & ((blocked >> k) & 1 == 1)].sum()) for name, k in keys
        }
        return taken, only

    def pair_cells(self) -> dict[tuple[str, str], int]:
        """Cells inside both layers of each pair, over the whole grid."""
        counts = self.patterns(None, None)
        v = np.arange(counts.size, dtype=np.int64)
        out = {}
        for a, b in combinations(range(len(self.names)), 2):
            both = ((v >> a) & 1 == 1) & ((v >> b) & 1 == 1)
            out[(self.names[a], self.names[b])] = int(counts[both].sum())
        return out


def _taken_away(
    blockers: dict[str, tuple[np.ndarray, bool]],
    base: np.ndarray,
    by_rules: np.ndarray,
    scratch: np.ndarray,
) -> tuple[dict[str, int], dict[str, int]]:
    """Cells each layer (and the rules) take from growth, and those taken by it alone.

    ``blockers``: layer -> (inside mask, True where the layer blocks the outside);
    ``by_rules`` is already within ``base``; ``scratch`` a bool array to write into."""
    count = np.zeros(base.shape, dtype=np.uint8)
    taken: dict[str, int] = {}

    def blocked(inside: np.ndarray, outside: bool) -> np.ndarray:
        if outside:
            np.logical_not(inside, out=scratch)
            np.logical_and(scratch, base, out=scratch)
        else:
            np.logical_and(inside, base, out=scratch)
        return scratch

    for k, (inside, outside) in blockers.items():
        b = blocked(inside, outside)
        count += b
        taken[k] = int(np.count_nonzero(b))
    with_rules = bool(by_rules.any())
    if with_rules:
        count += by_rules
        taken["[[rules]]"] = int(np.count_nonzero(by_rules))
    once = count == 1
    only: dict[str, int] = {}
    for k, (inside, outside) in blockers.items():
        b = blocked(inside, outside)
        b &= once
        only[k] = int(np.count_nonzero(b))
    if with_rules:
        np.logical_and(by_rules, once, out=scratch)
        only["[[rules]]"] = int(np.count_nonzero(scratch))
    return taken, only


def _any(masks: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    for m in masks:
        out |= m
    return out


def _all(masks: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.ones(shape, dtype=bool)
    for m in masks:
        out &= m
    return out


def _factor(
    enforced: dict[str, Layer],
    live: list[tuple[TransitionRule, np.ndarray]],
    shape: tuple[int, ...],
) -> np.ndarray | None:
    factor = None
    soft = [(v.inside, v.factor) for v in enforced.values() if v.rule == "factor"]
    soft += [(m, r.factor) for r, m in live if r.factor is not None]
    for mask, f in soft:
        if f is None or f == 1:
            continue
        if factor is None:
            factor = np.ones(shape, dtype=np.float32)
        factor[mask] *= np.float32(f)
    return factor


def _winner(a: Layer, b: Layer) -> Layer:
    def rank(layer: Layer) -> int:
        if layer.rule == "factor" and layer.blocks_absolutely:
            return PRECEDENCE.index("no_construction")
        return PRECEDENCE.index(layer.rule)

    return min((a, b), key=rank)


def conflicts(
    layers: dict[str, Layer], grid: Grid | None, packed: _Packed | None = None
) -> list[dict[str, Any]]:
    """Overlaps of enforced layers with different rules, and who wins there.

    An overlap of two of the three control lines (三线: boundary, farmland, red line),
    which a plan must not draw, is a conflict (三线冲突, ``"three_lines": true``); other
    overlaps (the four urban lines inside the boundary, water) are planned and only
    listed.
    """
    out = []
    enforced = [v for v in layers.values() if v.enforced]
    pairs = None if packed is None else packed.pair_cells()
    both = None
    for a, b in combinations(enforced, 2):
        if a.rule == b.rule:
            continue
        if pairs is not None:
            cells = pairs[(a.name, b.name)]
        else:
            both = np.logical_and(a.inside, b.inside, out=both)  # one buffer for every pair
            cells = int(np.count_nonzero(both))
        if not cells:
            continue
        win = _winner(a, b)
        out.append(
            {
                "layers": [a.name, b.name],
                "rules": [a.rule, b.rule],
                "cells": cells,
                "km2": None if grid is None else grid.km2(cells),
                "three_lines": a.name in THREE_LINES and b.name in THREE_LINES,
                "prevails": win.name,
                "resolution": f"{win.rule} of {win.name} applies in the overlap",
            }
        )
    return out
