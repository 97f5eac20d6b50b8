"""A golden output: the tiny synthetic scenario's final map and summary, exactly.

The expected files are in tests/data/golden/. A change that alters them on purpose
(a new kernel, a different random stream) regenerates them with
`LANDSIM_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_tiny.py` and says why in
the commit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from _synthetic import make_scenario
from click.testing import CliRunner

from landsim.cli.main import main

GOLDEN = Path(__file__).parent / "data" / "golden"


def _as_text(m: np.ndarray) -> str:
    return "\n".join("".join("." if v == 255 else str(v) for v in row) for row in m) + "\n"


def test_tiny_scenario_golden(tmp_path: Path) -> None:
    """The tiny scenario (seed 42) reproduces the stored 2030 map and summary.csv."""
    scenario = make_scenario(tmp_path / "in", growth=120)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(scenario), "-o", str(out)])
    assert r.exit_code == 0, r.output
    with rasterio.open(out / "landuse_2030.tif") as ds:
        got_map = _as_text(ds.read(1))
    got_summary = (out / "summary.csv").read_text()
    if os.environ.get("LANDSIM_UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        (GOLDEN / "tiny_landuse_2030.txt").write_text(got_map)
        (GOLDEN / "tiny_summary.csv").write_text(got_summary)
    assert got_map == (GOLDEN / "tiny_landuse_2030.txt").read_text()
    assert got_summary == (GOLDEN / "tiny_summary.csv").read_text()
