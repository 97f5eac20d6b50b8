"""Regenerate a SYNTHETIC region: ``python -m landsim.synthetic NAME [-o DIR] [--resolution M]``.

Writes the GeoTIFFs, ``districts.csv``, ``region.json`` and the boundary GeoJSON with
:func:`landsim.synthetic.make_region`. The same name, resolution and seed give
byte-identical files. ``rasters/<name>_synthetic/make_region.py`` calls this with its
own folder as the default output.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from landsim.synthetic.region import SPECS, make_region, region_summary, write_region


def main(argv: list[str] | None = None, default_out: Path | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(SPECS), help="which region")
    parser.add_argument("--resolution", type=float, default=100.0, help="cell size, m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=default_out,
        required=default_out is None,
        help="output folder",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    region = make_region(SPECS[args.name], resolution_m=args.resolution, seed=args.seed)
    paths = write_region(region, args.out)
    summary = region_summary(region)
    lines = summary["lines"]
    print(f"{len(paths)} files in {args.out} ({time.perf_counter() - start:.1f} s)")
    print(f"region {summary['region_km2']:,.2f} km², grid {summary['width']} x {summary['height']}")
    for c in summary["classes"]:
        print(f"  {c['code']} {c['name']:<17} {c['km2']:>10,.2f} km²  {100 * c['share']:5.2f} %")
    for key in ("urban_development_boundary", "permanent_basic_farmland", "ecological_red_line"):
        print(f"  {key:<27} {lines[key]['km2']:>10,.2f} km²  (target {lines[key]['target_km2']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
