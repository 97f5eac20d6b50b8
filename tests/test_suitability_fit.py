"""Per-class suitability fitted from observed change (suitability/fit.py) and the
derived drivers (suitability/derive.py): synthetic maps whose true model is known,
determinism, every refusal and warning, and the GeoTIFF + JSON round trip."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin
from scipy.stats import spearmanr

from landsim.errors import GridMismatchError, InputError, LandsimError, ScenarioError
from landsim.io.raster import Grid
from landsim.suitability.derive import (
    distance_to,
    distance_to_class,
    distance_to_features,
    slope_degrees,
)
from landsim.suitability.fit import (
    FittedSuitability,
    _draw_sample,
    contributions_rows,
    fit_suitability,
    read_fitted,
    sidecar_path,
    write_fitted,
)

KEY = "[suitability]"
SMALL = {"sample_size": 600, "trees": 5, "min_changed": 10}


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    assert isinstance(exc.value, LandsimError)
    return msg


def synthetic(shape: tuple[int, int] = (200, 200), seed: int = 42) -> dict[str, np.ndarray]:
    """Cells of class 1 become class 2 with p = logistic(2 - 8 A): low A draws change,
    B is noise. A few cells are class 3 throughout, and the corners are nodata."""
    rng = np.random.default_rng(seed)
    a = rng.random(shape).astype(np.float32)
    b = rng.random(shape).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-(2.0 - 8.0 * a.astype(np.float64))))
    before = np.ones(shape, dtype=np.uint8)
    after = np.where(rng.random(shape) < p, 2, 1).astype(np.uint8)
    before[:, :5] = after[:, :5] = 3
    before[:3, :3] = 255
    after[-3:, -3:] = 255
    return {"A": a, "B": b, "p": p, "before": before, "after": after}


@pytest.fixture(scope="module")
def syn() -> dict[str, np.ndarray]:
    return synthetic()


# ---------------------------------------------------------------- the fit finds the truth


@pytest.mark.parametrize("model", ["random_forest", "logistic"])
def test_fit_finds_the_true_driver(syn: dict[str, np.ndarray], model: str) -> None:
    f = fit_suitability(
        syn["before"],
        syn["after"],
        {"A": syn["A"], "B": syn["B"]},
        [2],
        ["urban"],
        model=model,
        sample_size=4000,
        trees=20,
    )
    shares = f.contributions["urban"]
    assert max(shares, key=shares.__getitem__) == "A"
    assert shares["A"] > 0.6
    assert sum(shares.values()) == pytest.approx(1.0)
    t = f.training["urban"]
    assert t["auc"] > 0.8
    assert t["status"] == "fitted"
    assert t["sampled_positive"] == 2000 and t["sampled_negative"] == 2000
    assert t["held_out_positive"] == 500 and t["held_out_negative"] == 500
    ok = (syn["before"] != 255) & (syn["after"] != 255)
    rho = spearmanr(f.suitability[0][ok], syn["p"][ok]).statistic
    assert rho > 0.7
    rows = contributions_rows(f)
    assert [r["driver"] for r in rows] == ["A", "B"] and [r["rank"] for r in rows] == [1, 2]
    if model == "logistic":
        coef = t["coefficients"]
        assert coef["A"] < 0  # low A draws change
        assert abs(coef["B"]) < abs(coef["A"]) / 5
        assert "coefficients" in f.to_json()["training"]["urban"]


def test_positives_negatives_and_ranges() -> None:
    """Cells already of the class in both maps take no part; the sample is half
    positive; suitability lies in [0, 1] and is 0 off the valid cells, also on cells
    already of the class (they are scored)."""
    d = synthetic((80, 80), seed=3)
    before, after = d["before"], d["after"]
    before[40:50, 40:50] = after[40:50, 40:50] = 2  # class 2 in both maps
    valid = np.ones(before.shape, dtype=bool)
    valid[70:, :] = False
    became = (before != 2) & (after == 2) & valid & (before != 255) & (after != 255)
    f = fit_suitability(
        before,
        after,
        {"A": d["A"], "B": d["B"]},
        [2, 3, 1],
        ["urban", "water", "crop"],
        valid=valid,
        on_too_few="constant",
        **SMALL,
    )
    t = f.training["urban"]
    assert t["changed_cells"] == int(became.sum())
    assert t["sampled_positive"] == 300 and t["sampled_negative"] == 300
    ok = valid & (before != 255) & (after != 255)
    s = f.suitability
    assert s.dtype == np.float32 and s.shape == (3, 80, 80)
    assert s.min() >= 0 and s.max() <= 1
    assert not s[:, ~ok].any()
    assert s[0][40:50, 40:50].max() > 0  # already urban, still scored
    # water and cropland never expand: constant, their share of the map after
    for k, name, code in ((1, "water", 3), (2, "crop", 1)):
        share = float((after[ok] == code).mean())
        assert np.all(s[k][ok] == np.float32(share))
        assert f.training[name]["status"] == "too_few_changed"
        assert f.contributions[name] == {}
    for shares in f.contributions.values():
        if shares:
            assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    assert {r["class"] for r in contributions_rows(f)} == {"urban"}


def test_determinism_and_seed(tmp_path: Path) -> None:
    d = synthetic((60, 60), seed=5)
    args = (d["before"], d["after"], {"A": d["A"], "B": d["B"]}, [2], ["urban"])
    f1 = fit_suitability(*args, **SMALL, seed=1)
    f2 = fit_suitability(*args, **SMALL, seed=1)
    # two threads over small chunks: the same bytes
    f3 = fit_suitability(*args, **SMALL, seed=1, n_jobs=2, chunk_rows=500)
    assert f1.suitability.tobytes() == f2.suitability.tobytes() == f3.suitability.tobytes()
    assert f1.to_json() == f2.to_json() == f3.to_json()
    grid = Grid("EPSG:32649", from_origin(500000, 3000000, 30, 30), (60, 60), Path("x.tif"))
    for sub, f in (("a", f1), ("b", f3)):
        (tmp_path / sub).mkdir()
        write_fitted(tmp_path / sub / "suit.tif", f, grid)
    for name in ("suit.tif", "suit.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    f4 = fit_suitability(*args, **SMALL, seed=2)
    assert f4.suitability.tobytes() != f1.suitability.tobytes()
    # the sample itself
    pos, neg = np.arange(0, 1000), np.arange(1000, 5000)

    def draw(seed: int) -> np.ndarray:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 2])))
        return np.concatenate(_draw_sample(pos, neg, 400, rng)[::2])

    assert np.array_equal(draw(1), draw(1))
    assert not np.array_equal(draw(1), draw(2))
    cells = draw(1)
    assert cells.size == 400 and np.unique(cells).size == 400  # without replacement


def test_sample_takes_all_positives_when_few() -> None:
    rng = np.random.Generator(np.random.PCG64(0))
    pos, neg = np.arange(10), np.arange(10, 1000)
    train, y_train, test, y_test = _draw_sample(pos, neg, 100, rng)
    assert y_train.sum() + y_test.sum() == 10 and (y_train == 0).sum() + (y_test == 0).sum() == 90
    assert set(train[y_train == 1]) | set(test[y_test == 1]) == set(range(10))
    assert y_test.sum() == 2 and (y_test == 0).sum() == 22  # 25 % of each side


# ---------------------------------------------------------------- refusals and warnings


def test_too_few_changed_refused_or_constant(caplog: pytest.LogCaptureFixture) -> None:
    d = synthetic((60, 60), seed=1)
    after = d["before"].copy()
    after[10, 10:22] = 2  # 12 cells become urban
    args = (d["before"], after, {"A": d["A"], "B": d["B"]}, [2], ["forest"])
    with pytest.raises(InputError) as exc:
        fit_suitability(*args, sample_size=100, min_changed=30)
    msg = one_line(exc)
    assert msg.startswith(KEY)
    assert "class forest: only 12 cells became forest" in msg and "min_changed is 30" in msg
    with caplog.at_level(logging.WARNING, logger="landsim"):
        f = fit_suitability(*args, sample_size=100, min_changed=30, on_too_few="constant")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "class forest" in warned[0] and "12 cells" in warned[0]
    assert f.training["forest"]["status"] == "too_few_changed"
    assert f.training["forest"]["changed_cells"] == 12
    ok = (d["before"] != 255) & (after != 255)
    assert np.all(f.suitability[0][ok] == np.float32((after[ok] == 2).mean()))


def test_too_few_refused_before_any_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The counts of every class are checked before the first model is fitted; a class
    that nothing is left to contrast with is refused too."""
    import landsim.suitability.fit as fit_mod

    def no_fit(*args: object, **kw: object) -> None:
        raise AssertionError("a model was fitted before the refusal")

    monkeypatch.setattr(fit_mod, "_fit_model", no_fit)
    d = synthetic((40, 40), seed=1)
    with pytest.raises(InputError) as exc:
        fit_suitability(
            d["before"], d["after"], {"A": d["A"]}, [2, 9], ["urban", "wetland"], **SMALL
        )
    assert "class wetland: only 0 cells became wetland" in one_line(exc)
    before = np.ones((10, 10), np.uint8)
    after = np.full((10, 10), 2, np.uint8)
    after[0, 0] = 1
    with pytest.raises(InputError) as exc:
        fit_suitability(before, after, {"A": d["A"][:10, :10]}, [2], ["urban"], **SMALL)
    assert "class urban: only 1 valid cells are not urban" in one_line(exc)


def test_bad_drivers_dropped_or_refused(caplog: pytest.LogCaptureFixture) -> None:
    d = synthetic((60, 60), seed=2)
    flat = np.full((60, 60), 7.0, dtype=np.float32)
    flat[0, 0] = np.nan
    empty = np.full((60, 60), np.nan, dtype=np.float32)
    drivers = {"A": d["A"], "flat": flat, "empty": empty}
    args = (d["before"], d["after"], drivers, [2], ["urban"])
    with caplog.at_level(logging.WARNING, logger="landsim"):
        f = fit_suitability(*args, **SMALL)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("driver flat is constant (7)" in w for w in warned)
    assert any("driver empty has no value" in w for w in warned)
    assert all(w.startswith(KEY) for w in warned)
    assert f.drivers == ["A"] and set(f.dropped_drivers) == {"flat", "empty"}
    assert f.contributions["urban"] == {"A": 1.0}
    assert f.to_json()["dropped_drivers"] == f.dropped_drivers
    with pytest.raises(InputError) as exc:
        fit_suitability(*args, **SMALL, on_bad_driver="raise")
    msg = one_line(exc)
    # the first bad driver in order is named
    assert msg.startswith(KEY) and "driver flat is constant (7)" in msg
    for bad, why in (("flat", "is constant (7)"), ("empty", "has no value")):
        with pytest.raises(InputError) as exc:
            fit_suitability(
                d["before"],
                d["after"],
                {"A": d["A"], bad: drivers[bad]},
                [2],
                ["urban"],
                **SMALL,
                on_bad_driver="raise",
            )
        msg = one_line(exc)
        assert msg.startswith(KEY) and f"driver {bad} {why}" in msg


def test_every_driver_bad_or_none() -> None:
    d = synthetic((40, 40), seed=2)
    drivers = {"flat": np.zeros((40, 40), np.float32), "empty": np.full((40, 40), np.nan)}
    with pytest.raises(InputError) as exc:
        fit_suitability(d["before"], d["after"], drivers, [2], ["urban"], **SMALL)
    msg = one_line(exc)
    assert msg.startswith(KEY) and "no usable driver" in msg
    assert "flat is constant (0)" in msg and "empty has no value" in msg
    with pytest.raises(InputError) as exc:
        fit_suitability(d["before"], d["after"], {}, [2], ["urban"], **SMALL)
    assert "no drivers given" in one_line(exc)


def test_shape_mismatch_refused() -> None:
    d = synthetic((40, 40), seed=2)
    with pytest.raises(GridMismatchError) as exc:
        fit_suitability(d["before"], d["after"][:, :30], {"A": d["A"]}, [2], ["urban"], key="[x]")
    msg = one_line(exc)
    assert msg.startswith("[x]") and "40 × 40" in msg and "40 × 30" in msg
    with pytest.raises(GridMismatchError) as exc:
        fit_suitability(d["before"], d["after"], {"A": d["A"][:39]}, [2], ["urban"], key="[x]")
    msg = one_line(exc)
    assert msg.startswith("[x]") and "driver A: 39 × 40" in msg


def test_missing_driver_values_imputed(caplog: pytest.LogCaptureFixture) -> None:
    d = synthetic((60, 60), seed=4)
    a = d["A"].copy()
    a[20:30, 20:30] = np.nan  # 100 valid cells
    with caplog.at_level(logging.WARNING, logger="landsim"):
        f = fit_suitability(d["before"], d["after"], {"A": a, "B": d["B"]}, [2], ["urban"], **SMALL)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        len(warned) == 1 and "100 valid cells lack a value" in warned[0] and "A (100)" in warned[0]
    )
    assert f.imputed["A"]["cells"] == 100
    assert f.imputed["A"]["value"] == pytest.approx(
        float(np.nanmedian(a[d["before"] != 255])), abs=0.05
    )
    assert f.suitability[0][20:30, 20:30].min() > 0  # scored, not zeroed
    became = (d["before"] != 2) & (d["after"] == 2) & (d["before"] != 255) & (d["after"] != 255)
    assert f.training["urban"]["changed_cells_without_drivers"] == int(became[20:30, 20:30].sum())


def test_bad_settings_refused() -> None:
    d = synthetic((30, 30), seed=2)
    args = (d["before"], d["after"], {"A": d["A"]}, [2], ["urban"])
    for kw, word in (
        ({"model": "svm"}, "model = 'svm'"),
        ({"sample_size": 5}, "sample_size = 5"),
        ({"min_changed": 1}, "min_changed = 1"),
        ({"trees": 0}, "trees = 0"),
    ):
        with pytest.raises(ScenarioError) as exc:
            fit_suitability(*args, **kw)
        msg = one_line(exc)
        assert msg.startswith(KEY) and word in msg


# ---------------------------------------------------------------- derived drivers


def test_slope_of_planes() -> None:
    ny, nx, dx, dy = 12, 15, 30.0, 20.0
    yy, xx = np.mgrid[:ny, :nx]
    z = 0.1 * xx * dx  # z = 0.1 x
    s = slope_degrees(z, dx, dy)
    assert s.dtype == np.float32
    np.testing.assert_allclose(s, np.degrees(np.arctan(0.1)), rtol=1e-6)  # edges included
    # a tilted plane on non-square cells against numpy.gradient (exact for a plane)
    z = 0.05 * xx * dx - 0.2 * yy * dy + 100.0
    gy, gx = np.gradient(z, dy, dx)
    want = np.degrees(np.arctan(np.hypot(gx, gy)))
    out = np.empty((ny, nx), np.float32)
    assert slope_degrees(z, dx, dy, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-6)
    # a hole: NaN there, neighbours keep the plane's slope (one-sided differences)
    z[5, 6] = np.nan
    s = slope_degrees(z, dx, dy)
    assert np.isnan(s[5, 6]) and np.isnan(s).sum() == 1
    np.testing.assert_allclose(s[~np.isnan(s)], want[~np.isnan(s)], rtol=1e-6)


def test_slope_by_hand() -> None:
    """Horn's formula on a 3 × 3 window, by hand; an isolated cell has no slope."""
    z = np.array([[1.0, 2.0, 4.0], [2.0, 3.0, 7.0], [5.0, 6.0, 9.0]])
    dx, dy = 10.0, 5.0
    gx = ((4 + 2 * 7 + 9) - (1 + 2 * 2 + 5)) / (8 * dx)
    gy = ((5 + 2 * 6 + 9) - (1 + 2 * 2 + 4)) / (8 * dy)
    s = slope_degrees(z, dx, dy)
    assert s[1, 1] == pytest.approx(np.degrees(np.arctan(np.hypot(gx, gy))), rel=1e-6)
    # corner (0, 0): one-sided along the edge row/column, central nowhere
    gx0 = (1 * (2 - 1) / dx + 2 * (3 - 2) / dx) / 3  # rows 0 and 1 (row -1 is outside)
    gy0 = (1 * (2 - 1) / dy + 2 * (3 - 2) / dy) / 3  # columns 0 and 1
    assert s[0, 0] == pytest.approx(np.degrees(np.arctan(np.hypot(gx0, gy0))), rel=1e-6)
    lone = np.full((3, 3), np.nan)
    lone[1, 1] = 5.0
    assert np.isnan(slope_degrees(lone, dx, dy)).all()
    big = np.arange(1200 * 3, dtype=np.float64).reshape(1200, 3)  # crosses row blocks
    np.testing.assert_allclose(
        slope_degrees(big, 1.0, 1.0), np.degrees(np.arctan(np.hypot(1.0, 3.0))), rtol=1e-6
    )


def test_distance_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    ny, nx, dx, dy = 9, 13, 30.0, 20.0
    mask = rng.random((ny, nx)) < 0.08
    mask[0, 0] = True
    valid = np.ones((ny, nx), dtype=bool)
    valid[4, :] = False
    d = distance_to(mask, dx, dy, valid)
    fy, fx = np.nonzero(mask)
    want = np.empty((ny, nx))
    for r in range(ny):
        for c in range(nx):
            want[r, c] = np.sqrt(((fy - r) * dy) ** 2 + ((fx - c) * dx) ** 2).min()
    assert d.dtype == np.float32
    assert np.isnan(d[4]).all()
    np.testing.assert_allclose(d[valid], want[valid], rtol=1e-6)
    lu = np.where(mask, 4, 1).astype(np.uint8)
    np.testing.assert_allclose(distance_to_class(lu, [4, 9], dx, dy, valid), d, rtol=1e-6)
    lu[4, ~mask[4]] = 255  # by default, valid is the land (not 255)
    np.testing.assert_allclose(distance_to_class(lu, 4, dx, dy)[valid], d[valid], rtol=1e-6)
    assert np.isnan(distance_to_class(lu, 4, dx, dy)[4, ~mask[4]]).all()
    np.testing.assert_allclose(
        distance_to_features(np.where(mask, 1.0, 0.0), 1, dx, dy, valid), d, rtol=1e-6
    )


def test_distance_without_feature_refused() -> None:
    with pytest.raises(InputError) as exc:
        distance_to(np.zeros((5, 5), bool), 30, 30, key="[inputs.drivers.road]")
    msg = one_line(exc)
    assert msg.startswith("[inputs.drivers.road]") and "no cell holds the feature" in msg
    with pytest.raises(InputError) as exc:
        distance_to_class(np.ones((5, 5), np.uint8), [4], 30, 30, key="[x]")
    assert one_line(exc).startswith("[x]")


# ---------------------------------------------------------------- files


@pytest.fixture(scope="module")
def small_fit() -> FittedSuitability:
    d = synthetic((50, 40), seed=6)
    return fit_suitability(
        d["before"],
        d["after"],
        {"A": d["A"], "B": d["B"]},
        [2, 3],
        ["urban", "water"],
        model="logistic",
        on_too_few="constant",
        **SMALL,
    )


def test_write_read_round_trip(tmp_path: Path, small_fit: FittedSuitability) -> None:
    grid = Grid("EPSG:32649", from_origin(500000, 3000000, 30, 30), (50, 40), Path("lu.tif"))
    path = tmp_path / "suit.tif"
    write_fitted(path, small_fit, grid)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suit.json", "suit.tif"]
    data, names, meta = read_fitted(path, class_names=["urban", "water"], grid=grid)
    assert names == ["urban", "water"] and data.dtype == np.float32
    assert data.tobytes() == small_fit.suitability.tobytes()
    assert meta["class_codes"] == [2, 3]
    assert meta["tags"]["suitability_model"] == "logistic"
    assert json.loads(meta["tags"]["drivers"]) == ["A", "B"]
    side = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    assert side == meta["sidecar"] == json.loads(json.dumps(small_fit.to_json()))
    assert (
        side["class_codes"] == [2, 3] and side["training"]["water"]["status"] == "too_few_changed"
    )
    assert set(side["contributions"]["urban"]) == {"A", "B"}
    # the scenario's order, whatever the file's
    data2, names2, meta2 = read_fitted(path, class_names=["water", "urban"])
    assert names2 == ["water", "urban"] and meta2["class_codes"] == [3, 2]
    assert np.array_equal(data2[0], data[1])
    _, names3, _ = read_fitted(path)
    assert names3 == ["urban", "water"]


def test_read_refuses_other_classes_and_grids(tmp_path: Path, small_fit: FittedSuitability) -> None:
    grid = Grid("EPSG:32649", from_origin(500000, 3000000, 30, 30), (50, 40), Path("lu.tif"))
    path = tmp_path / "suit.tif"
    write_fitted(path, small_fit, grid)
    with pytest.raises(InputError) as exc:
        read_fitted(path, class_names=["urban", "forest"], key="[suitability.path]")
    msg = one_line(exc)
    assert msg.startswith("[suitability.path]")
    assert f"suitability raster {path} has bands [urban, water]" in msg
    assert "the scenario's classes are [urban, forest]" in msg
    other = Grid("EPSG:32649", from_origin(500000, 3000000, 30, 30), (50, 41), Path("lu.tif"))
    with pytest.raises(GridMismatchError) as exc:
        read_fitted(path, grid=other)
    one_line(exc)
    sidecar_path(path).write_text('{"class_names": ["a", "b"]}', encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_fitted(path)
    assert "different fits" in one_line(exc)
    with pytest.raises(InputError) as exc:
        read_fitted(tmp_path / "missing.tif")
    assert "file not found" in one_line(exc)
