"""Reproducible SYNTHETIC planning regions (Hengyang-like, Zhangjiajie-like).

No real land-use raster or planning-line file exists for these plans, so landsim draws
regions with their structure and their plans' areas; everything it writes is labelled
synthetic. See `landsim.synthetic.region` for how, and ``rasters/*_synthetic/SOURCE.md``
for the shipped files.
"""

from __future__ import annotations

from landsim.synthetic.region import (
    HENGYANG,
    SPECS,
    ZHANGJIAJIE,
    Region,
    RegionSpec,
    make_region,
    region_summary,
    write_region,
)

__all__ = [
    "HENGYANG",
    "SPECS",
    "ZHANGJIAJIE",
    "Region",
    "RegionSpec",
    "make_region",
    "region_summary",
    "write_region",
]
