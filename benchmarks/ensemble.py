"""Ensemble benchmark: ``python -m benchmarks.ensemble`` from the repository root.

Measures, through the ``landsim`` command as a user types it:

1. parallel efficiency: the same ensemble with 1 and with 2 local workers;
2. a large ensemble of the default scenario (100 members), wall time and per-member cost;
3. the batch of the four Wuhan scenarios with 20 members each, in one command;

each with the peak memory of the whole process tree (client, scheduler, workers),
sampled every 0.1 s (the sum of their resident sets). Timings include starting the local
cluster. Writes a markdown table (``--out``) and the raw numbers (``--json``); nothing is
asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WUHAN = REPO / "scenarios" / "wuhan-2035.toml"
WUHAN_ALL = [
    WUHAN,
    *(REPO / "scenarios" / f"wuhan-2035-{v}.toml" for v in ("natural", "farmland", "ecological")),
]


def _landsim() -> str:
    exe = Path(sys.executable).parent / "landsim"
    return str(exe) if exe.is_file() else "landsim"


def timed(args: list[str]) -> dict[str, float]:
    """Run a command; its wall time and the peak summed RSS of its process tree."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    with contextlib.suppress(psutil.Error):  # a process that just ended
                        total += p.memory_info().rss
                peak = max(peak, total)
            except psutil.Error:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{err[-2000:]}")
    return {"wall_s": wall, "peak_gb": peak / 1e9}


def run_ensemble(scenarios: list[Path], members: int, workers: int | None, tmp: Path) -> Any:
    out = tmp / f"out-{members}-{workers}-{len(scenarios)}-{time.monotonic_ns()}"
    args = [_landsim(), "run", *map(str, scenarios), "--members", str(members), "-o", str(out)]
    if workers is not None:
        args += ["--workers", str(workers)]
    return timed(args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--batch-members", type=int, default=20)
    ap.add_argument("--efficiency-members", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1, help="repeats of each figure (median)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "ENSEMBLE.md")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "ensemble.json")
    a = ap.parse_args()
    res: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        }
    }
    with tempfile.TemporaryDirectory(prefix="landsim-bench-", dir=REPO) as tmp_name:
        tmp = Path(tmp_name)
        # Warm numba's cache and the file cache first: later figures are warm runs.
        run_ensemble([WUHAN], 2, 2, tmp)

        def median_of(fn: Any) -> dict[str, Any]:
            runs = [fn() for _ in range(a.repeat)]
            return {
                "wall_s": statistics.median(r["wall_s"] for r in runs),
                "peak_gb": max(r["peak_gb"] for r in runs),
                "runs": runs,
            }

        n = a.efficiency_members
        one = median_of(lambda: run_ensemble([WUHAN], n, 1, tmp))
        two = median_of(lambda: run_ensemble([WUHAN], n, 2, tmp))
        res["efficiency"] = {
            "members": n,
            "workers_1": one,
            "workers_2": two,
            "speedup": one["wall_s"] / two["wall_s"],
            "parallel_efficiency": one["wall_s"] / (2 * two["wall_s"]),
        }
        big = median_of(lambda: run_ensemble([WUHAN], a.members, None, tmp))
        res["ensemble"] = {**big, "members": a.members, "per_member_s": big["wall_s"] / a.members}
        batch = median_of(lambda: run_ensemble(WUHAN_ALL, a.batch_members, None, tmp))
        res["batch"] = {**batch, "scenarios": len(WUHAN_ALL), "members": a.batch_members}
    a.json.write_text(json.dumps(res, indent=2) + "\n")
    e, b, f = res["ensemble"], res["batch"], res["efficiency"]
    lines = [
        "# Ensemble benchmark (`python -m benchmarks.ensemble`)",
        "",
        f"Machine: {res['machine']['cpu']}, {res['machine']['cores']} cores, Python "
        f"{res['machine']['python']}. Wall times through the `landsim` command, cluster "
        "start included; peak memory is the sum of the resident sets of the whole process "
        f"tree, sampled every 0.1 s. Median of {a.repeat}.",
        "",
        "| figure | value | target (not asserted) |",
        "|---|---|---|",
        f"| Wuhan 2013 → 2035, {e['members']} members, local cluster, wall | "
        f"{e['wall_s']:.1f} s | < 180 s |",
        f"| same, per member | {e['per_member_s']:.2f} s | — |",
        f"| same, peak memory | {e['peak_gb']:.2f} GB | < 2 GB |",
        f"| {f['members']} members, 1 worker | {f['workers_1']['wall_s']:.1f} s | — |",
        f"| {f['members']} members, 2 workers | {f['workers_2']['wall_s']:.1f} s | — |",
        f"| speed-up 1 → 2 workers | {f['speedup']:.2f}× | — |",
        f"| parallel efficiency (speed-up / 2) | {100 * f['parallel_efficiency']:.0f} % | — |",
        f"| 4 Wuhan scenarios × {b['members']} members, one command, wall | "
        f"{b['wall_s']:.1f} s | — |",
        f"| same, peak memory | {b['peak_gb']:.2f} GB | — |",
        "",
    ]
    a.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
