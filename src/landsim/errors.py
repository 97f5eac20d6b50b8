"""The errors a user can cause.

Every error that bad input can provoke is a :class:`LandsimError`. Each subclass also
inherits the matching builtin (as rasterio does), so callers may catch either. The
message is one line that says what is wrong, where (file, key) and how to fix it; the
CLI prints it without a traceback. Anything that is not a ``LandsimError`` is a bug in
landsim and keeps its traceback.
"""

from __future__ import annotations


class LandsimError(Exception):
    """Root of every error a user can cause."""

    exit_code = 1


class ScenarioError(LandsimError, ValueError):
    """A scenario file is malformed: unknown key, wrong type, value out of range."""

    exit_code = 2


class InputError(LandsimError, OSError):
    """An input file is missing, unreadable or holds unusable values."""


class GridMismatchError(InputError):
    """A raster is not on the land-use grid (CRS, transform or shape differ)."""


class DemandError(LandsimError, ValueError):
    """Demand cannot be met: more cells are asked for than the constraints leave."""


class OutputError(LandsimError, OSError):
    """Outputs cannot be written: existing results without --overwrite, disk full."""


class ClusterError(LandsimError, ConnectionError):
    """The dask cluster cannot be reached, or its workers keep dying."""


class LandsimWarning(UserWarning):
    """Something the user should know about that does not stop the run."""
