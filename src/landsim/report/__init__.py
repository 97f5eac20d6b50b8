"""Reports of a run: compliance with the plan's lines, per year and district."""

from landsim.report.compliance import compliance

__all__ = ["compliance"]
