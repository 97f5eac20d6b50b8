"""Scenario files: TOML → validated, frozen :class:`Scenario` objects."""

from landsim.scenario.load import load, loads
from landsim.scenario.schema import Scenario

__all__ = ["Scenario", "load", "loads"]
