"""The fast paths of reading and compiling a scenario, against the plain ones.

``landsim run`` on large grids (the Hengyang 30 m benchmark) reads its drivers by blocks
of rows, counts layer overlaps from packed bits, masks byte maps through numba tables
and reports from the cells a run touched. Each is checked here against slow obvious
code or against the whole-grid path it replaced, on small grids where blocks, bits and
chunks are forced to be many.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from _landsim_kit import TinyGrid, write_raster
from hypothesis import example, given, settings
from hypothesis import strategies as st

from landsim.constraints import compile as compile_mod
from landsim.constraints.compile import Layer, _Packed, _taken_away, conflicts
from landsim.errors import InputError
from landsim.io import raster as raster_mod
from landsim.io.raster import NODATA, isin_codes, read_grid, value_counts
from landsim.kernels.lookup import count_patterns, count_values, lookup, set_bit
from landsim.model.engine import dense_districts
from landsim.scenario import load
from landsim.suitability import compute as compute_mod

# --------------------------------------------------------------------------- kernels


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 2**32 - 1))
def test_lookup_is_a_table_index(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, n).astype(np.uint8)
    table = rng.random(256) < 0.3
    out = np.empty(n, dtype=bool)
    lookup(data, table, out)
    np.testing.assert_array_equal(out, table[data])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2000), st.integers(0, 2**32 - 1), st.sampled_from(["u1", "u2", "i4"]))
def test_count_values_is_bincount(n: int, seed: int, dtype: str) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 40, n).astype(dtype)
    where = rng.random(n) < 0.5
    got = np.zeros(40, dtype=np.int64)
    count_values(data, where, got)
    np.testing.assert_array_equal(got, np.bincount(data[where].astype(np.int64), minlength=40))
    everywhere = np.zeros(40, dtype=np.int64)
    count_values(data, np.ones(1, dtype=bool), everywhere)  # one element: every cell
    np.testing.assert_array_equal(everywhere, np.bincount(data.astype(np.int64), minlength=40))


def test_value_counts_on_a_grid() -> None:
    grid = np.array([[0, 3, 3], [255, 3, 1]], dtype=np.uint8)
    assert value_counts(grid, 256)[[0, 1, 3, 255]].tolist() == [1, 1, 3, 1]
    where = grid != 255
    assert value_counts(grid, 256, where)[255] == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 500), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_packed_patterns_are_the_combinations_of_the_masks(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    masks = [rng.random(n) < 0.4 for _ in range(k)]
    extra = rng.random(n) < 0.3
    where = rng.random(n) < 0.7
    bits = np.zeros(n, dtype=np.uint16 if k > 8 else np.uint8)
    for b, m in enumerate(masks):
        set_bit(m, b, bits)
    counts = np.zeros(1 << (k + 1), dtype=np.int64)
    count_patterns(bits, extra, k, where, counts)
    # Slow reading: each cell's pattern, bit by bit.
    want = np.zeros_like(counts)
    for i in range(n):
        if where[i]:
            v = sum(int(m[i]) << b for b, m in enumerate(masks)) | (int(extra[i]) << k)
            want[v] += 1
    np.testing.assert_array_equal(counts, want)


# ----------------------------------------------------------------- packed counts


def _layers(rng: np.random.Generator, shape: tuple[int, int], n: int) -> dict[str, Layer]:
    rules = ["no_change", "no_construction", "construction_inside_only", "factor"]
    out = {}
    for i in range(n):
        rule = rules[i % len(rules)]
        out[f"l{i}"] = Layer(
            f"l{i}",
            rule,
            Path(f"l{i}.tif"),
            rng.random(shape) < 0.35,
            factor=0.0 if rule == "factor" and i % 8 == 3 else 0.5,
        )
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10), st.integers(0, 2**32 - 1), st.booleans())
@example(0, 1, True)  # no enforced layer, only rules: the packed table had no cells
def test_packed_taken_away_is_the_mask_by_mask_count(n: int, seed: int, rules: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = (9, 11)
    layers = _layers(rng, shape, n)  # none at all: the rules' cells are still counted
    base = rng.random(shape) < 0.8
    by_rules = (rng.random(shape) < 0.2) & base if rules else np.zeros(shape, dtype=bool)
    blockers = {
        k: (v.inside, v.rule == "construction_inside_only")
        for k, v in layers.items()
        if v.blocks_absolutely or v.rule == "construction_inside_only"
    }
    packed = _Packed.of(layers, shape)
    got = packed.taken_away(blockers, base, by_rules)
    want = _taken_away(blockers, base, by_rules, np.empty(shape, dtype=bool))
    assert got == want
    assert list(got[0]) == list(want[0])  # the same order: the message lists them so


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 10), st.integers(0, 2**32 - 1))
def test_packed_pairs_are_the_overlaps(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    layers = _layers(rng, (8, 13), n)
    pairs = _Packed.of(layers, (8, 13)).pair_cells()
    for a, b in combinations(layers, 2):
        assert pairs[(a, b)] == int(np.count_nonzero(layers[a].inside & layers[b].inside))
    assert conflicts(layers, None, _Packed.of(layers, (8, 13))) == conflicts(layers, None)


def test_compile_without_packing_gives_the_same_constraints(
    tiny_grid: TinyGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``_MAX_PACKED`` enforced layers the mask-by-mask counts run: same result."""
    from landsim.api import prepare

    scenario = load(tiny_grid.scenario())
    packed = prepare(scenario).constraints
    monkeypatch.setattr(compile_mod, "_MAX_PACKED", 0)
    plain = prepare(scenario).constraints
    assert packed.conflicts == plain.conflicts
    for a, b in zip(packed.periods, plain.periods, strict=True):
        assert a.taken_away == b.taken_away and a.taken_away_only == b.taken_away_only
        np.testing.assert_array_equal(a.candidate, b.candidate)


# -------------------------------------------------------------- suitability blocks


def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 3 rows: the tiny rasters are one strip of 40, which would be one block."""
    monkeypatch.setattr(compute_mod, "_BLOCK_CELLS", 1)
    monkeypatch.setattr(raster_mod.AlignedRaster, "block_rows", property(lambda self: 3))


def test_logistic_by_blocks_is_the_whole_grid_bit_for_bit(
    tiny_grid: TinyGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = tiny_grid.folder / "dist.tif"
    rng = np.random.default_rng(3)
    dist = (rng.random(tiny_grid.landuse.shape) * 5).astype(np.float32)
    dist[4, 7] = -9999.0  # a nodata cell in one block
    write_raster(extra, dist, nodata=-9999.0)
    path = tiny_grid.scenario(
        {
            "inputs": {"drivers": {"dist": {"path": "dist.tif", "transform": "log1p"}}},
            "suitability": {"coefficients": {"slope": -0.1, "dist": 0.7}},
        }
    )
    scenario = load(path)
    grid = read_grid(scenario.inputs.landuse)
    valid = tiny_grid.landuse != NODATA
    whole = compute_mod.compute_suitability(scenario, grid, valid)
    _small_blocks(monkeypatch)
    blocks = compute_mod.compute_suitability(scenario, grid, valid)
    np.testing.assert_array_equal(blocks.view(np.uint32), whole.view(np.uint32))
    # And the plain float64 formula (the oracle of the kernels).
    slope = tiny_grid.arrays["slope"].astype(np.float64)
    z = 1.0 + -0.1 * slope + 0.7 * np.log1p(np.maximum(dist, 0).astype(np.float64))
    want = np.where(valid & (dist != -9999.0), 1.0 / (1.0 + np.exp(-z)), 0.0)
    np.testing.assert_allclose(blocks, want.astype(np.float32), rtol=1e-6, atol=1e-7)


def test_a_driver_out_of_its_domain_counts_every_block(
    tiny_grid: TinyGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tiny_grid.arrays["slope"].copy()
    bad[2, 20] = bad[30, 40] = bad[35, 1] = -3.0  # three cells, in different blocks
    write_raster(tiny_grid.folder / "bad.tif", bad, nodata=-9999.0)
    path = tiny_grid.scenario(
        {"inputs": {"drivers": {"slope": {"path": "bad.tif", "transform": "sqrt"}}}}
    )
    scenario = load(path)
    _small_blocks(monkeypatch)
    grid = read_grid(scenario.inputs.landuse)
    valid = tiny_grid.landuse != NODATA
    with pytest.raises(InputError, match=r"inputs\.drivers\.slope.*3 cells are negative"):
        compute_mod.compute_suitability(scenario, grid, valid)


# --------------------------------------------------------------------- districts


@pytest.mark.parametrize("dtype", ["uint8", "int32"])
def test_district_codes_stay_narrow(tiny_grid: TinyGrid, dtype: str) -> None:
    from landsim.constraints import read_districts

    codes = np.zeros(tiny_grid.landuse.shape, dtype=dtype)
    codes[:, :25] = 3
    codes[:, 25:] = 7
    write_raster(tiny_grid.folder / "d.tif", codes, nodata=0)
    scenario = load(tiny_grid.scenario({"districts": {"path": "d.tif"}}))
    got = read_districts(scenario, read_grid(scenario.inputs.landuse))
    assert got is not None and got.codes.dtype == (np.uint8 if dtype == "uint8" else np.uint16)
    np.testing.assert_array_equal(got.codes, codes)
    assert sorted(got.names) == [3, 7]


def test_dense_districts_looked_up_by_cell() -> None:
    codes = np.array([[0, 5, 5], [9, 0, 9]], dtype=np.uint16)
    present, dense = dense_districts(codes)
    assert present.tolist() == [0, 5, 9]
    cells = np.array([5, 1, 3, 0])
    assert dense[cells].tolist() == [2, 1, 2, 0]


def test_isin_codes_on_bytes_and_others() -> None:
    grid = np.array([[1, 2, 255], [7, 2, 0]], dtype=np.uint8)
    assert isin_codes(grid, [2, 7]).tolist() == [[False, True, False], [True, True, False]]
    assert isin_codes(grid.astype(np.int16), [2, 7]).tolist() == isin_codes(grid, [2, 7]).tolist()
