"""Shared numba settings for every kernel.

``cache=True`` pays the compile once per machine (the first run of a fresh install
compiles for a few seconds; later runs load from ``__pycache__``). ``nogil`` lets the
ensemble runner call kernels from threads. Only kernels that use ``prange`` are
``parallel``: a parallel kernel without one only costs compile time.
"""

from __future__ import annotations

import numba

jit = numba.njit(cache=True, nogil=True)
jit_parallel = numba.njit(cache=True, nogil=True, parallel=True)
jit_inline = numba.njit(cache=True, nogil=True, inline="always")
