"""``python -m benchmarks``: the whole benchmark suite (``benchmarks/run.py``,
``benchmarks/README.md``)."""

import sys

from benchmarks.run import main

sys.exit(main())
