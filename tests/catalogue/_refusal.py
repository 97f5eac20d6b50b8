"""The one check every entry of the bad-input catalogue makes.

``refuses(["run", scenario, "-o", out], "needle", outputs=[out], inputs=[folder])`` runs
``landsim ARGS`` as a user types it (through click's runner, in-process) and asserts:

- the exit code is not 0 (and equals ``code`` when given);
- stderr holds exactly one line starting with ``error: ``, and it is the last line
  (progress lines may come before it); no ``Traceback`` anywhere;
- every needle is in that line (what, where, how to fix);
- nothing of ``outputs`` exists afterwards (if it did not exist before) or it is
  unchanged (if it did), and no hidden staging folder (``.*partial*``) is left beside it;
- every file under ``inputs`` has the same bytes as before (hashes compared).

It returns the error line. ``COUNT`` counts the refusals checked in a session, so the
catalogue can report how many bad inputs it covers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

COUNT = {"refusals": 0}


def tree_hashes(paths: Iterable[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def refuses(
    args: Sequence[Any],
    *needles: str,
    code: int | None = None,
    outputs: Sequence[Path] = (),
    inputs: Sequence[Path] = (),
) -> str:
    from click.testing import CliRunner

    from landsim.cli.main import main

    before_in = tree_hashes(inputs)
    before_out = {Path(o): tree_hashes([o]) if Path(o).exists() else None for o in outputs}
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code != 0, f"exit 0 for a bad input: {args}\n{r.output}"
    if code is not None:
        assert r.exit_code == code, (r.exit_code, r.output)
    assert "Traceback" not in r.output, r.output
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], r.stderr
    err = errors[0]
    for n in needles:
        assert n in err, f"{n!r} not in {err!r}"
    for o, before in before_out.items():
        if before is None:
            assert not o.exists(), f"{o} left behind"
        else:
            assert tree_hashes([o]) == before, f"{o} changed by a refused command"
        parent = o.parent
        if parent.is_dir():
            leftovers = [p.name for p in parent.iterdir() if ".partial" in p.name]
            assert not leftovers, leftovers
    assert tree_hashes(inputs) == before_in, "a refused command modified its inputs"
    COUNT["refusals"] += 1
    return err
