"""The yearly loop: neighbourhood → potential → allocation → record."""

from landsim.model.engine import (
    GrowthParameters,
    InsufficientCandidates,
    Period,
    SimulationResult,
    YearRecord,
    simulate,
)

__all__ = [
    "GrowthParameters",
    "InsufficientCandidates",
    "Period",
    "SimulationResult",
    "YearRecord",
    "simulate",
]
