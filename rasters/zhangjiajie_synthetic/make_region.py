"""Regenerate the SYNTHETIC zhangjiajie region shipped in this folder (see SOURCE.md).

``python rasters/zhangjiajie_synthetic/make_region.py [--resolution 100] [--seed 0] [-o DIR]``
is ``python -m landsim.synthetic zhangjiajie`` with this folder as the default output.
"""

import sys
from pathlib import Path

from landsim.synthetic.__main__ import main

if __name__ == "__main__":
    raise SystemExit(
        main(["zhangjiajie", *sys.argv[1:]], default_out=Path(__file__).resolve().parent)
    )
