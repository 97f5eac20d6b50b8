"""Shared test settings and fixtures.

Hypothesis runs derandomized under CI (CI=true), so a CI run is reproducible; locally
it explores new examples each run.

Fixtures for the scenario, I/O, CLI and golden tests (helpers in ``_landsim_kit.py``):

``tiny_grid``
    a folder of small *synthetic* rasters (a 40 × 50 land-use map ``synthetic_landuse.tif``,
    the planning layers ``udb.tif``, ``pbf.tif``, ``erl.tif``, ``water.tif`` and a
    ``slope.tif`` driver, all on one EPSG:32649 30 m grid) with a ``scenario(overrides)``
    method that writes a scenario TOML over them.
``runner``
    a :class:`click.testing.CliRunner`; ``invoke(runner, ...)`` calls the ``landsim`` group.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from _landsim_kit import TinyGrid, make_tiny_grid
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def tiny_grid(tmp_path: Path) -> TinyGrid:
    """The tiny synthetic rasters in ``tmp_path / "inputs"``."""
    return make_tiny_grid(tmp_path / "inputs")


@pytest.fixture
def runner() -> Any:
    from click.testing import CliRunner

    return CliRunner()
