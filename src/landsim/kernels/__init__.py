"""numba kernels: plain arrays in, ``out`` arrays filled, nothing returned.

Nothing here imports xarray, rasterio, pydantic or landsim's upper layers, reads files,
logs or touches a global random state (``tests/test_layers.py`` checks it).
"""

from landsim.kernels.allocate import select_top
from landsim.kernels.ensemble import count_classes
from landsim.kernels.neighborhood import neighborhood_effect
from landsim.kernels.potential import urban_potential
from landsim.kernels.random import stream_key, substream
from landsim.kernels.suitability import add_driver_term, logistic

__all__ = [
    "add_driver_term",
    "count_classes",
    "logistic",
    "neighborhood_effect",
    "select_top",
    "stream_key",
    "substream",
    "urban_potential",
]
