"""landsim: land-use scenario simulation under territorial spatial planning lines.

The package is layered (see ``docs/design.md``): ``kernels`` (numba only) below
``model``, ``demand``, ``constraints`` and ``suitability``, below ``io`` and ``api``,
with a thin ``cli`` on top. Importing ``landsim`` is cheap; numba, rasterio and xarray
load only when a tool that needs them runs.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
