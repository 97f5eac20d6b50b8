"""Multi-class benchmark: ``python -m benchmarks.multiclass`` from the repository root.

Measures, in one process on the real Wuhan data:

1. the cost of a simulated year: the 7-class model (``scenarios/wuhan-2035-multiclass.toml``)
   against the urban-only model (``scenarios/wuhan-2035.toml``), the engine alone
   (inputs prepared once), median over repeated 22-year runs, with numba's threads at
   1 and at all cores; the 7-class year split by kernel;
2. per-class demand error of those runs (``demand_fit`` of every year);
3. patch statistics: the sizes of the patches of new land of each class, simulated
   against observed, for Wuhan 2010 → 2013 (``wuhan-2013-multiclass-validation``) and
   Xianning 2000 → 2015 (``xianning-2015-validation``), with the two-sample
   Kolmogorov–Smirnov distance between the size distributions.

Writes ``benchmarks/MULTICLASS.md`` and ``benchmarks/multiclass.json``; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCEN = REPO / "scenarios"


def _year_costs(path: Path, repeats: int, profile: bool = False) -> dict[str, Any]:
    from landsim import api
    from landsim.scenario import load

    p = api.prepare(load(path))
    api.simulate_prepared(p)  # warm: numba's cache loaded, first-touch of buffers
    times = []
    res = None
    for _ in range(repeats):
        t = time.perf_counter()
        res = api.simulate_prepared(p)
        times.append(time.perf_counter() - t)
    assert res is not None
    years = len(res.records)
    out: dict[str, Any] = {
        "scenario": path.name,
        "years": years,
        "cells": int(p.landuse.size),
        "runs_s": times,
        "year_ms_median": 1000 * statistics.median(times) / years,
        "year_ms_min": 1000 * min(times) / years,
    }
    if p.multi is not None:
        fit = [r for rec in res.records for r in rec.demand_fit or ()]
        names = {c.code: c.name for c in p.scenario.classes}
        out["demand"] = {
            names[code]: {
                "max_abs_error_cells": max(abs(r["error"]) for r in fit if r["class_code"] == code),
                "max_abs_error_pct": max(
                    (100 * abs(r["error"]) / r["demand"] if r["demand"] else 0.0)
                    for r in fit
                    if r["class_code"] == code
                ),
                "forced_cells": sum(r["forced"] for r in fit if r["class_code"] == code),
                "demand_change_cells": int(
                    p.multi.demand.cells[-1, :, list(names).index(code)].sum()
                    - p.multi.demand.cells[0, :, list(names).index(code)].sum()
                ),
            }
            for code in names
        }
        if profile:
            out["split_ms_per_year"] = _profile(p, years)
    return out


def _profile(p: Any, years: int) -> dict[str, float]:
    """The 7-class year by kernel: each kernel wrapped with a timer for one run."""
    import landsim.kernels.multiclass as mk
    import landsim.model.multiclass as mm
    from landsim import api

    spent: dict[str, float] = collections.defaultdict(float)
    saved = {}
    names = [
        "propose_all",
        "propose_cells",
        "forced_scores",
        "list_proposals",
        "requeue",
        "collect_queued",
        "collect_candidates",
        "retire",
        "clear_slots",
        "accept_candidates",
        "apply_conversions",
        "rule_class_counts",
    ]

    def wrap(mod: Any, name: str) -> None:
        f = getattr(mod, name)
        saved[(mod, name)] = f

        def timed(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            r = f(*a, **k)
            spent[name] += time.perf_counter() - t
            return r

        setattr(mod, name, timed)

    for n in names:
        wrap(mk, n)
    for n in ("plan_flows", "codes_map"):
        wrap(mm, n)
    try:
        t = time.perf_counter()
        api.simulate_prepared(p)
        total = time.perf_counter() - t
    finally:
        for (mod, name), f in saved.items():
            setattr(mod, name, f)
    out = {k: 1000 * v / years for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}
    out["other (numpy in the engine)"] = 1000 * total / years - sum(out.values())
    out["total"] = 1000 * total / years
    return out


def _patches(scenario: Path, before: Path, observed: Path) -> dict[str, Any]:
    import rasterio
    from scipy.stats import ks_2samp

    from landsim import api
    from landsim.metrics import new_patch_sizes, patch_size_summary
    from landsim.scenario import load

    s = load(scenario)
    p = api.prepare(s)
    res = api.simulate_prepared(p)
    sim = res.maps[s.simulation.end_year]
    with rasterio.open(before) as ds:
        a = ds.read(1)
    with rasterio.open(observed) as ds:
        o = ds.read(1)
    out = {}
    for c in s.classes:
        so = new_patch_sizes(a, o, c.code)
        sm = new_patch_sizes(a, sim, c.code)
        out[c.name] = {
            "observed": patch_size_summary(so),
            "simulated": patch_size_summary(sm),
            "ks": float(ks_2samp(so, sm).statistic) if so.size and sm.size else None,
        }
    return out


def _threads(n: int) -> None:
    import numba

    numba.set_num_threads(n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "MULTICLASS.md")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "multiclass.json")
    args = ap.parse_args(argv)

    import numba

    cores = numba.config.NUMBA_NUM_THREADS
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_start": os.getloadavg(),
        "threads": {},
    }
    for n in sorted({1, cores}):
        _threads(n)
        urban = _year_costs(SCEN / "wuhan-2035.toml", args.repeats)
        multi = _year_costs(SCEN / "wuhan-2035-multiclass.toml", args.repeats, profile=n == cores)
        result["threads"][n] = {
            "urban": urban,
            "multiclass": multi,
            "ratio": multi["year_ms_median"] / urban["year_ms_median"],
        }
    _threads(cores)
    result["patches"] = {
        "wuhan 2010-2013": _patches(
            SCEN / "wuhan-2013-multiclass-validation.toml",
            REPO / "rasters/wuhan/wh2010_refy.tif",
            REPO / "rasters/wuhan/wh2013_refy.tif",
        ),
        "xianning 2000-2015": _patches(
            SCEN / "xianning-2015-validation.toml",
            REPO / "rasters/xianning/landuse_2000_dominant.tif",
            REPO / "rasters/xianning/landuse_2015_dominant.tif",
        ),
    }
    result["load_average_end"] = os.getloadavg()
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    text = report(result)
    args.out.write_text(text)
    print(text)
    return 0


def report(r: dict[str, Any]) -> str:
    lines = [
        "# Multi-class benchmark",
        "",
        f"- date: {r['date']}; machine: {r['machine']}",
        f"- load average at start {r['load_average_start'][0]:.2f}, at end "
        f"{r['load_average_end'][0]:.2f}",
        "- command: `python -m benchmarks.multiclass` (engine only: inputs prepared once; "
        "median of the timed 22-year runs after a warm-up run)",
        "",
        "## A simulated year on Wuhan (2931 × 2931 cells, 2013 → 2035)",
        "",
        "| numba threads | urban-only ms/year | 7-class ms/year | ratio (target ≤ 3) |",
        "|---|---|---|---|",
    ]
    for n, t in r["threads"].items():
        lines.append(
            f"| {n} | {t['urban']['year_ms_median']:.1f} | {t['multiclass']['year_ms_median']:.1f}"
            f" | {t['ratio']:.2f}× |"
        )
    split = next(
        (t["multiclass"].get("split_ms_per_year") for t in r["threads"].values() if
         t["multiclass"].get("split_ms_per_year")),
        None,
    )  # fmt: skip
    if split:
        lines += ["", "The 7-class year by kernel (all threads, one run):", ""]
        lines += ["| part | ms/year |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in split.items()]
    demand = next(iter(r["threads"].values()))["multiclass"]["demand"]
    lines += [
        "",
        "## Demand met (Wuhan 2013 → 2035, every year)",
        "",
        "| class | demand change 2013→2035, cells | largest error, cells | largest error, % | "
        "cells forced (no roulette) |",
        "|---|---|---|---|---|",
    ]
    for name, d in demand.items():
        lines.append(
            f"| {name} | {d['demand_change_cells']:+,} | {d['max_abs_error_cells']:,} | "
            f"{d['max_abs_error_pct']:.4f} | {d['forced_cells']:,} |"
        )
    for region, classes in r["patches"].items():
        lines += [
            "",
            f"## Patches of new land, {region}: observed / simulated",
            "",
            "| class | patches | mean cells | median | p90 | largest | share in 1-cell patches "
            "| share in ≥100-cell patches | KS distance |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, v in classes.items():
            o, s = v["observed"], v["simulated"]
            if not o.get("patches") and not s.get("patches"):
                continue

            def pair(key: str, fmt: str, o: dict = o, s: dict = s) -> str:
                a = format(o[key], fmt) if key in o else "–"
                b = format(s[key], fmt) if key in s else "–"
                return f"{a} / {b}"

            ks = "–" if v["ks"] is None else f"{v['ks']:.3f}"
            lines.append(
                f"| {name} | {pair('patches', ',')} | {pair('mean', '.1f')} | "
                f"{pair('median', '.0f')} | {pair('p90', '.0f')} | {pair('largest', ',')} | "
                f"{pair('share_in_single_cells', '.1%')} | "
                f"{pair('share_in_patches_100_plus', '.1%')} | {ks} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
