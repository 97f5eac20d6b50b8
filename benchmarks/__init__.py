"""landsim benchmarks: ``python -m benchmarks.run`` (see README.md here)."""
