"""Planning layers and their rules, compiled into what the kernels read."""

from landsim.constraints.compile import CompiledConstraints, Layer, compile_constraints

__all__ = ["CompiledConstraints", "Layer", "compile_constraints"]
