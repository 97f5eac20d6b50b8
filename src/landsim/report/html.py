"""The comparison report: one self-contained HTML file.

The file must open offline, from an e-mail attachment or a USB stick, years later: the
images are embedded as ``data:`` URIs (base64 PNG), the style sheet is inline, and
there is no script, web font or link to anything outside the file. Every piece of text
(scenario and class names may be Chinese or hold ``<``, ``&``, ``"``) goes through
:func:`html.escape`; nothing the caller passes is inserted as markup.

The output depends only on :class:`ReportData` (no time stamps), so the same inputs give
the same bytes.
"""

from __future__ import annotations

import base64
import html
import struct
from collections.abc import Sequence
from dataclasses import dataclass

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", "PingFang SC",
  "Microsoft YaHei", sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem;
  color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
p.sub { color: #555; margin-top: 0; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9rem; margin-top: 0.3rem; }
.note { color: #555; font-size: 0.9rem; }
footer { margin-top: 3rem; color: #777; font-size: 0.85rem; }
""".strip()


@dataclass(frozen=True)
class Image:
    """A PNG figure with its heading, alt text and caption (all plain text)."""

    title: str
    alt: str
    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class ReportData:
    """What the report shows; every string is plain text (escaped when written)."""

    title: str
    year: int
    unit: str
    runs_header: list[str]
    runs: list[list[str]]
    headline_header: list[str]
    headline: list[list[str]]
    indicators_header: list[str]
    indicators: list[list[str]]
    agreement: Image
    differences: list[Image]
    charts: list[Image]
    version: str
    files: Sequence[str] = ()


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG header, so the page reserves the image's room."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int) -> str:
    """A table; the first ``text_columns`` columns are text, the rest numbers."""
    out = ["<table>", "<thead><tr>"]
    out += [f'<th scope="col">{_e(h)}</th>' for h in header]
    out.append("</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        cells = [
            f"<td>{_e(c)}</td>" if i < text_columns else f'<td class="num">{_e(c)}</td>'
            for i, c in enumerate(row)
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _figure(img: Image, level: str = "h3") -> str:
    width, height = _png_size(img.png)
    data = base64.b64encode(img.png).decode("ascii")
    parts = [
        f"<{level}>{_e(img.title)}</{level}>",
        "<figure>",
        f'<img src="data:image/png;base64,{data}" alt="{_e(img.alt)}" '
        f'width="{width}" height="{height}">',
    ]
    if img.caption:
        parts.append(f"<figcaption>{_e(img.caption)}</figcaption>")
    parts.append("</figure>")
    return "\n".join(parts)


def render_report(data: ReportData) -> str:
    """The report as one HTML document (a string; write it as UTF-8)."""
    n = len(data.runs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="landsim {_e(data.version)}">',
        f"<title>{_e(data.title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>Comparison of {n} runs in {data.year}</h1>",
        f'<p class="sub">{_e(data.title)}</p>',
        '<nav><a href="#runs">Runs</a><a href="#headline">Indicators</a>'
        '<a href="#maps">Maps</a><a href="#charts">Trajectories</a>'
        '<a href="#all-indicators">All indicators</a></nav>',
        "</header>",
        '<section id="runs">',
        "<h2>Runs</h2>",
        '<p class="note">Run 1 is the reference the maps compare the others with.</p>',
        _table(data.runs_header, data.runs, text_columns=len(data.runs_header)),
        "</section>",
        '<section id="headline">',
        f"<h2>Indicators in {data.year}</h2>",
        _table(data.headline_header, data.headline, text_columns=2),
        f'<p class="note">Areas in {_e(data.unit)}; growth and losses are cumulative since '
        "each run's start year. For an ensemble: the mean over its members, with the "
        "p05–p95 range of the members in brackets. –: the run has no such indicator "
        "(no development boundary or protective line in its scenario).</p>",
        "</section>",
        '<section id="maps">',
        f"<h2>Where the runs differ in {data.year}</h2>",
        '<p class="note">An ensemble counts a cell as urban where at least half of its '
        "members made it urban.</p>",
        _figure(data.agreement),
        *(_figure(img) for img in data.differences),
        "</section>",
        '<section id="charts">',
        "<h2>Trajectories</h2>",
        *(_figure(img) for img in data.charts),
        "</section>",
        '<section id="all-indicators">',
        f"<h2>All indicators in {data.year}</h2>",
        _table(data.indicators_header, data.indicators, text_columns=1),
        "</section>",
        "<footer>",
        f"Written by landsim {_e(data.version)}."
        + (
            " Beside this file: " + ", ".join(_e(f) for f in data.files) + "." if data.files else ""
        ),
        "</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
