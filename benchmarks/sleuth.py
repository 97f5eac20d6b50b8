"""SLEUTH benchmark: ``python -m benchmarks.sleuth`` from the repository root.

Measures, on the SLEUTH demo data (rasters/sleuth_demo200), warm (numba compiled by a
first run), medians of ``--repeat`` runs:

1. test mode, coefficients 5/5/10/95/5, 1930 → 1990, 100 members (SLEUTH's C code:
   10.1 s on a 2-core machine of this kind, shared/guides/reference/sleuth.md);
2. the coarse calibration of ``scenario.demo200_coarse50``: 243 coefficient sets in
   {1, 50, 100}, 4 members each, 1930 → 1990, urban only (SLEUTH: 159 s);
3. cost against grid size: the test run (4 members) on the demo upsampled 1×, 4× and
   16× by nearest neighbour (200², 800², 3200²), per cell-year.

The timings are of ``landsim.sleuth.run`` functions (the kernel call plus reading the
layers once), not of the CLI. Writes a markdown table (``--out``) and JSON (``--json``).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "rasters" / "sleuth_demo200"
SLEUTH_TEST_100_S = 10.1
SLEUTH_COARSE50_S = 159.25


def _import(scenario: str, mode: str, folder: Path) -> Path:
    from landsim.sleuth.io import import_sleuth

    out = folder / f"{scenario}-{mode}"
    import_sleuth(DEMO / "scenarios" / scenario, out, mode=mode)
    return out / "scenario.toml"


def _median_time(fn: Any, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def _upsampled(layers: Any, factor: int) -> Any:
    from landsim.sleuth import run

    if factor == 1:
        return layers

    def up(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.repeat(np.repeat(a, factor, axis=0), factor, axis=1))

    return run.Layers(
        {y: up(a) for y, a in layers.urban.items()},
        {y: up(a) for y, a in layers.roads.items()},
        up(layers.excluded),
        up(layers.slope),
        layers.grid,
    )


def main() -> None:
    from landsim.scenario import load_sleuth
    from landsim.sleuth import run

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "SLEUTH.md")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "sleuth.json")
    a = ap.parse_args()
    res: dict[str, Any] = {
        "machine": {"cpu": platform.machine(), "cores": os.cpu_count()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        test = load_sleuth(_import("scenario.demo200_test", "test", folder))
        coarse = load_sleuth(_import("scenario.demo200_coarse50", "calibrate", folder))
        layers = run.read_layers(test)
        clayers = run.read_layers(coarse)
    coeff = run._coefficient_array(test.coefficients)
    run.simulate(test, layers, coeff, 2, 1, keep_finals=True)  # compile
    t, ts = _median_time(
        lambda: run.simulate(test, layers, coeff, 100, 1, keep_finals=True), a.repeat
    )
    res["test_100"] = {"seconds": t, "runs": ts, "sleuth_seconds": SLEUTH_TEST_100_S}
    t, ts = _median_time(lambda: run.calibrate(coarse, clayers, 4, 1), a.repeat)
    res["coarse50"] = {"seconds": t, "runs": ts, "sleuth_seconds": SLEUTH_COARSE50_S}
    scaling = []
    for factor in (1, 4, 16):
        big = _upsampled(layers, factor)
        run.simulate(test, big, coeff, 4, 1, keep_finals=False)
        t, ts = _median_time(
            lambda big=big: run.simulate(test, big, coeff, 4, 1, keep_finals=False),
            max(1, a.repeat if factor < 16 else 1),
        )
        cells = big.shape[0] * big.shape[1]
        scaling.append(
            {
                "grid": f"{big.shape[0]}²",
                "seconds": t,
                "ns_per_cell_year": 1e9 * t / (cells * 60 * 4),
            }
        )
    res["scaling"] = scaling
    a.json.write_text(json.dumps(res, indent=2) + "\n")
    t1, t2 = res["test_100"], res["coarse50"]
    lines = [
        "# SLEUTH benchmark (`python -m benchmarks.sleuth`)",
        "",
        f"Machine: {res['machine']['cpu']}, {res['machine']['cores']} cores; warm; median of "
        f"{a.repeat}. SLEUTH's figures: its C code on a 2-core machine of this kind "
        "(one core used), from shared/guides/reference/sleuth.md and the data's SOURCE.md.",
        "",
        "| run | landsim | SLEUTH | speed-up | target |",
        "|---|---|---|---|---|",
        f"| test, 100 members, 1930 → 1990 | {t1['seconds']:.2f} s | {SLEUTH_TEST_100_S} s | "
        f"{SLEUTH_TEST_100_S / t1['seconds']:.1f}× | ≤ 1 s |",
        f"| coarse calibration, 243 sets × 4 members | {t2['seconds']:.2f} s | "
        f"{SLEUTH_COARSE50_S} s | {SLEUTH_COARSE50_S / t2['seconds']:.1f}× | ≤ 16 s |",
        "",
        "| grid (test, 4 members, 60 years) | seconds | ns per cell-year |",
        "|---|---|---|",
        *(f"| {r['grid']} | {r['seconds']:.3f} | {r['ns_per_cell_year']:.2f} |" for r in scaling),
        "",
    ]
    a.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
