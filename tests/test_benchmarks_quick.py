"""``python -m benchmarks --quick`` runs every section end to end and writes its report
(a smoke test, about 20 s: it keeps the benchmark command from rotting; no timing is
checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_every_section(tmp_path: Path) -> None:
    out, js = tmp_path / "RESULTS.md", tmp_path / "results.json"
    cmd = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--json", str(js)]
    cmd += ["--cache", str(tmp_path / "cache")]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(js.read_text())
    for key in ("meta", "machine", "bandwidth", "check", "step", "threads", "scenario", "help"):
        assert key in res, key
    for key in ("hengyang", "ensemble", "sleuth"):
        assert "error" not in res[key], res[key]
    assert res["meta"]["quick"] and res["check"]["same_selection"]
    assert res["bandwidth"]["gb_per_s"] > 0
    step = res["step"]["256"]
    for impl in ("numba", "numba_three_kernels", "numpy"):
        assert step[impl]["step"]["median_s"] > 0
    assert 0 < res["hengyang"]["engine"]["median_s"] < res["hengyang"]["run_prepared_s"]
    # The generated region says what it is.
    assert list((tmp_path / "cache").glob("hengyang_synthetic_*/SYNTHETIC.md"))
    report = out.read_text()
    assert report == r.stdout
    for heading in ("## Check", "## CA step", "## numba threads", "## End to end"):
        assert heading in report
    assert "SLEUTH demo" in report and "--members 2" in report
    # Nothing was written into the repository's own results.
    assert not (tmp_path / "benchmarks").exists()
