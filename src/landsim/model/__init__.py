"""The yearly loop: neighbourhood → potential → allocation → record."""

from landsim.model.engine import GrowthParameters, SimulationResult, YearRecord, simulate

__all__ = ["GrowthParameters", "SimulationResult", "YearRecord", "simulate"]
