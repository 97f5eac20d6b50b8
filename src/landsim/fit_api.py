"""``landsim fit-suitability``: fit a multi-class scenario's suitability once, to a file.

A scenario with ``[model] kind = "multiclass"`` and ``[suitability] method = "fit"``
fits one model per class every time it runs. :func:`fit_suitability_file` does that
fit alone, exactly as a run does (``landsim.multiclass.fit``: the same maps, derived
drivers, sample and seed), and writes

- ``OUT.tif``: the per-class suitability, one float32 band per class named after it
  (``suitability.fit.write_fitted``);
- ``OUT.json``: its sidecar, what the fit found (the run's ``suitability_fit.json``);
- ``OUT_contributions.csv``: class, driver, contribution, rank (the run's
  ``suitability_contributions.csv``).

A scenario then reuses the maps with ``[suitability] method = "raster"`` and
``path = "OUT.tif"``, and runs to the same result as with ``method = "fit"`` (for the
same seed) without fitting again.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from landsim.errors import OutputError, ScenarioError

log = logging.getLogger(__name__)

TOP_DRIVERS = 3
CONTRIBUTIONS_HEADER = ["class", "driver", "contribution", "rank"]


def contributions_path(out_tif: str | Path) -> Path:
    """``OUT_contributions.csv`` beside ``OUT.tif``."""
    out = Path(out_tif)
    return out.with_name(f"{out.stem}_contributions.csv")


def output_files(out_tif: str | Path) -> list[Path]:
    """The three files a fit writes: the raster, its JSON sidecar, the contributions."""
    from landsim.suitability.fit import sidecar_path

    out = Path(out_tif)
    return [out, sidecar_path(out), contributions_path(out)]


def _check_scenario(s: Any, where: str) -> None:
    if s.model.kind != "multiclass":
        raise ScenarioError(
            f"{where}: [model] kind is {s.model.kind!r}; fit-suitability fits the per-class "
            'suitability of a multi-class scenario: set [model] kind = "multiclass" and '
            '[suitability] method = "fit"'
        )
    if s.suitability.method != "fit":
        raise ScenarioError(
            f"{where}: [suitability] method is {s.suitability.method!r}; fit-suitability needs "
            'method = "fit" with before = <the land-use map the observed change starts '
            "from> (the scenario that reuses the fitted raster keeps method = "
            f'"{s.suitability.method}")'
        )


def _check_outputs(files: list[Path], overwrite: bool, inputs: list[Path]) -> None:
    out = files[0]
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise OutputError(
            f"output {out}: give a GeoTIFF file name ending in .tif (e.g. -o suitability.tif)"
        )
    taken = {Path(p).resolve() for p in inputs}
    for f in files:
        if f.exists() and not f.is_file():
            raise OutputError(f"output {f} exists and is not a file; choose another -o")
        if f.resolve() in taken:
            raise OutputError(
                f"output {f} is an input of the scenario, which writing the fit would "
                "replace; choose another -o"
            )
    found = [f for f in files if f.exists()]
    if found and not overwrite:
        shown = ", ".join(str(f) for f in found)
        verb, it = ("exists", "it") if len(found) == 1 else ("exist", "them")
        raise OutputError(
            f"output {shown} already {verb}; pass --overwrite to replace {it}, or choose another -o"
        )


def _with_settings(s: Any, model: str | None, trees: int | None) -> Any:
    """The scenario with ``[suitability] model`` and ``trees`` replaced where given."""
    spec = s.suitability
    update: dict[str, Any] = {}
    if model is not None:
        update["model"] = model
    if trees is not None:
        if (model or spec.model) != "random_forest":
            raise ScenarioError(
                f"--trees {trees}: trees are used by the random forest only, and the model is "
                f"{model or spec.model!r}; add --model random_forest or leave --trees out"
            )
        update["trees"] = trees
    if not update:
        return s
    from landsim.scenario.schema import Suitability

    # Validated again, so an override is checked like the key in the file.
    checked = Suitability.model_validate({**spec.model_dump(exclude_unset=True), **update})
    return s.model_copy(update={"suitability": checked})


def fit_suitability_file(
    scenario_path: str | Path,
    out_path: str | Path,
    *,
    model: str | None = None,
    trees: int | None = None,
    n_jobs: int = 1,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fit the suitability of a multi-class scenario and write it to ``out_path``.

    ``model`` and ``trees`` override ``[suitability] model`` and ``trees``. Refuses (a
    :class:`~landsim.errors.LandsimError`, nothing written) a scenario that is not
    ``kind = "multiclass"`` with ``method = "fit"``, an output that exists without
    ``overwrite``, and an output that is one of the scenario's inputs. Returns what the
    fit found: per class its status, changed cells, held-out AUC and top drivers.
    """
    from landsim import api, multiclass
    from landsim.io import write
    from landsim.io.raster import read_landuse
    from landsim.scenario import load
    from landsim.suitability.fit import contributions_rows, write_fitted

    t0 = time.perf_counter()
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be at least 1, got {n_jobs}")
    s = load(scenario_path)
    where = str(s.source or scenario_path)
    _check_scenario(s, where)
    s = _with_settings(s, model, trees)
    files = output_files(out_path)
    inputs = [*api._input_files(s).values(), *([s.source] if s.source else [])]
    _check_outputs(files, overwrite, inputs)
    landuse, grid = read_landuse(s.inputs.landuse, [c.code for c in s.classes])
    # The result is the same for any n_jobs (tests/catalogue/test_catalogue_multiclass.py).
    fitted = multiclass.fit(s, grid, landuse, n_jobs=n_jobs)
    fit_seconds = time.perf_counter() - t0

    out = files[0]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder of {out}: {exc.strerror or exc}") from None
    write_fitted(out, fitted, grid, compress=s.output.compress)
    rows = contributions_rows(fitted)
    write.write_csv(
        files[2],
        CONTRIBUTIONS_HEADER,
        [[r["class"], r["driver"], f"{r['contribution']:.6f}", r["rank"]] for r in rows],
    )

    classes = []
    for code, cname in zip(fitted.class_codes, fitted.class_names, strict=True):
        info = fitted.training.get(cname, {})
        shares = sorted(fitted.contributions.get(cname, {}).items(), key=lambda kv: -kv[1])
        classes.append(
            {
                "class": cname,
                "code": int(code),
                "status": info.get("status"),
                "changed_cells": info.get("changed_cells"),
                "auc": info.get("auc"),
                "constant_suitability": info.get("constant_suitability"),
                "top_drivers": [(d, float(v)) for d, v in shares[:TOP_DRIVERS]],
            }
        )
    spec = s.suitability
    return {
        "scenario": s.name,
        "scenario_file": where,
        "model": fitted.model,
        "trees": spec.trees if fitted.model == "random_forest" else None,
        "seed": s.simulation.seed,
        "sample_size": spec.sample_size,
        "before": str(spec.before),
        "after": str(spec.after or s.inputs.landuse),
        "grid": f"{grid.shape[0]} × {grid.shape[1]} cells, {grid.crs_label}",
        "drivers": list(fitted.drivers),
        "dropped_drivers": dict(fitted.dropped_drivers),
        "imputed": dict(fitted.imputed),
        "classes": classes,
        "n_jobs": n_jobs,
        "fit_seconds": fit_seconds,
        "seconds": time.perf_counter() - t0,
        "out": str(out),
        "files": [str(f) for f in files],
    }
