"""Suitability: a float32 map in [0, 1] of how fit each cell is to become urban."""

from landsim.suitability.compute import compute_suitability

__all__ = ["compute_suitability"]
