"""The comparison report as a browser shows it: headless Chromium, offline.

A copy of ``report.html`` gets a test-only script right after its ``<meta charset>``
(the charset must stay in the first 1024 bytes) that records script errors, failed
loads, ``console.error`` and unhandled rejections, and on ``load`` writes what it saw
(images total and decoded, the text, the element names) into a ``<pre>``; Chromium
``--dump-dom`` prints the DOM with it. Chromium's own log of console messages is read
too. A screenshot checks the page draws something.

Without Chromium the test is skipped, unless ``LANDSIM_REQUIRE_BROWSER=1`` (CI), where
a missing browser is a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _compare_kit import NASTY_NAME, ThreeRuns

from landsim.compare import compare_runs

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 60
RESULT_ID = "landsim-test-result"

HOOK = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && t.tagName) {
      errors.push("failed to load <" + t.tagName.toLowerCase() + ">");
    } else {
      errors.push("script error: " + e.message);
    }
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    errors.push("unhandled rejection: " + String(e.reason));
  });
  var consoleError = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    var imgs = Array.prototype.slice.call(document.images);
    var tags = {};
    Array.prototype.forEach.call(document.querySelectorAll("*"), function (el) {
      tags[el.tagName.toLowerCase()] = true;
    });
    var result = {
      images: imgs.length,
      decoded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
      shown: imgs.filter(function (i) {
        var r = i.getBoundingClientRect();
        return r.width > 50 && r.height > 50;
      }).length,
      alts: imgs.filter(function (i) { return i.alt.trim().length > 0; }).length,
      charset: document.characterSet,
      title: document.title,
      text: document.body.innerText,
      tags: Object.keys(tags).sort(),
      errors: errors
    };
    var out = document.createElement("pre");
    out.id = "RESULT_ID";
    out.textContent = JSON.stringify(result);
    document.body.appendChild(out);
  });
})();
</script>""".replace("RESULT_ID", RESULT_ID)


def _chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    reason = (
        "no Chromium found (looked for " + ", ".join(BROWSERS) + "); install it "
        "(Debian: apt-get install chromium) to check the report in a browser"
    )
    if os.environ.get("LANDSIM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"LANDSIM_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _console_problems(stderr: str) -> list[str]:
    """Console messages Chromium logged for the page that look like errors."""
    return [
        line
        for line in stderr.splitlines()
        if ":CONSOLE" in line and re.search(r"error|uncaught|refused|not allowed|fail", line, re.I)
    ]


class Rendered:
    def __init__(self, report: Path, dom: str, result: dict[str, Any], console: list[str]):
        self.report, self.dom, self.result, self.console = report, dom, result, console


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    browser = _chromium()
    root = tmp_path_factory.mktemp("browser")
    runs = ThreeRuns(root)
    compare_runs(runs.all, root / "cmp")
    report = root / "cmp" / "report.html"
    raw = report.read_bytes()
    meta = b'<meta charset="utf-8">'
    # A browser looks for the charset in the first 1024 bytes only.
    assert 0 <= raw.find(meta) < 1024 - len(meta)
    page = root / "page" / "report.html"
    page.parent.mkdir()
    page.write_bytes(raw.replace(meta, meta + b"\n" + HOOK.encode("utf-8"), 1))
    proc = _run(browser, root / "profile", "--dump-dom", page.as_uri())
    match = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', proc.stdout, re.S)
    assert match, "the page never finished loading:\n" + proc.stdout[-2000:]
    result = json.loads(html.unescape(match.group(1)))
    return Rendered(report, proc.stdout, result, _console_problems(proc.stderr))


def test_every_image_decodes_and_shows(rendered: Rendered) -> None:
    r = rendered.result
    # The agreement map, two difference maps, one P(urban) map and four charts.
    assert r["images"] == 8
    assert r["decoded"] == r["images"], r
    assert r["shown"] == r["images"], r
    assert r["alts"] == r["images"]


def test_no_console_errors(rendered: Rendered) -> None:
    assert rendered.result["errors"] == []
    assert rendered.console == []


def test_names_are_text_not_markup(rendered: Rendered) -> None:
    r = rendered.result
    assert r["charset"] == "UTF-8"
    assert NASTY_NAME in r["title"]
    assert NASTY_NAME in r["text"] and "area:耕地" in r["text"]
    assert "规划" not in r["tags"]  # <规划> did not become an element
    assert not {"link", "iframe", "object", "embed"} & set(r["tags"])
    # Serialised back, the name is escaped text, never a tag.
    assert "&lt;规划&gt;" in rendered.dom and "<规划>" not in rendered.dom


def test_screenshot_draws_the_report(rendered: Rendered, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    _run(
        _chromium(),
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1400,3000",
        "--hide-scrollbars",
        rendered.report.as_uri(),
    )
    assert shot.is_file() and shot.stat().st_size > 20_000
    with Image.open(shot) as img:
        assert img.size == (1400, 3000)
        rgb = img.convert("RGB")
        colors = rgb.getcolors(maxcolors=1 << 20) or []
        white = sum(n for n, c in colors if c == (255, 255, 255))
    # Text, tables and coloured maps: many colours, and far from a blank page.
    assert len(colors) > 50
    assert white < 0.95 * 1400 * 3000
