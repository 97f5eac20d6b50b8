"""Scenario files: TOML → validated, frozen :class:`Scenario` objects."""

from landsim.scenario.load import load, load_sleuth, loads, scenario_kind
from landsim.scenario.schema import Scenario

__all__ = ["Scenario", "load", "load_sleuth", "loads", "scenario_kind"]
