"""numba kernels: plain arrays in, ``out`` arrays filled, nothing returned.

Nothing here imports xarray, rasterio, pydantic or landsim's upper layers, reads files,
logs or touches a global random state (``tests/test_layers.py`` checks it).
"""

from landsim.kernels.allocate import select_top
from landsim.kernels.ensemble import count_classes
from landsim.kernels.neighborhood import neighborhood_effect, row_sums, update_row_sums
from landsim.kernels.potential import urban_potential
from landsim.kernels.random import stream_key, substream
from landsim.kernels.step import select_urban
from landsim.kernels.suitability import add_driver_term, logistic

__all__ = [
    "add_driver_term",
    "count_classes",
    "logistic",
    "neighborhood_effect",
    "row_sums",
    "select_top",
    "select_urban",
    "stream_key",
    "substream",
    "update_row_sums",
    "urban_potential",
]
