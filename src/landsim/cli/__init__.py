"""The command line: thin click commands over :mod:`landsim.api`."""
