"""Planning layers and their rules, compiled into what the kernels read."""

from landsim.constraints.compile import CompiledConstraints, Layer, compile_constraints
from landsim.constraints.districts import Districts, read_districts

__all__ = ["CompiledConstraints", "Districts", "Layer", "compile_constraints", "read_districts"]
