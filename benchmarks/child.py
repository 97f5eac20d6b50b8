"""Run one command; print its wall time, peak memory and exit code as JSON.

``python -m benchmarks.child LOG CMD...``: the command's stdout and stderr go to the
file LOG. ``benchmarks.run`` times the CLI through this small process rather than
spawning the command itself, because on Linux a child's ``ru_maxrss`` starts at its
parent's resident size at fork (the copied address space counts until ``exec``
replaces it): spawned straight from the benchmark, which holds gigabytes of test
grids, ``landsim`` would report the benchmark's memory instead of its own. This
process is a few tens of MB, less than any ``landsim run``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> None:
    log, *cmd = sys.argv[1:]
    with open(log, "wb") as out:  # a file, not a pipe: nothing can block
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        # wait4 gives the rusage of this one child; getrusage(RUSAGE_CHILDREN) would
        # give the maximum over all children.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped above, not by Popen
    json.dump(
        {
            "wall_s": wall,
            "peak_rss_bytes": usage.ru_maxrss * 1024,  # ru_maxrss is in KiB on Linux
            "returncode": proc.returncode,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
