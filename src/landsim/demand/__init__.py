"""Demand: how many urban cells the map must hold in each simulated year."""

from landsim.demand.project import urban_demand

__all__ = ["urban_demand"]
