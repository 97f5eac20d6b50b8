"""PNG maps and charts of a comparison, drawn with matplotlib (Agg, no pyplot).

Figures are built as ``matplotlib.figure.Figure`` objects on an Agg canvas, so nothing
here touches pyplot's global state or the user's backend. PNGs are written without
matplotlib's "Software" text chunk, so the same inputs give the same bytes (with the
same matplotlib and fonts).

Text in the images comes from run labels, which may be Chinese or hold ``$`` (mathtext
in matplotlib). A label is drawn as ``"<n>: <label>"`` only where the available fonts
have every glyph; otherwise as ``"run <n>"`` (the HTML report, which has no such limit,
names every run in full). That also keeps matplotlib's "glyph missing" warnings away.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

_F = TypeVar("_F", bound=Callable[..., Any])

# Families tried after DejaVu Sans for Chinese labels, where installed.
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
DIFFERENCE_COLORS = {
    0: "#eeeeee",  # urban in neither
    1: "#7f7f7f",  # urban in both
    2: "#2c7bb6",  # only in the first run
    3: "#d7191c",  # only in the other run
}
RUN_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
# File name → title of each trajectory chart, in the report's order.
CHART_TITLES = {
    "chart_urban.png": "Urban area",
    "chart_cropland_lost.png": "Cropland lost",
    "chart_boundary_growth.png": "New urban inside and outside the development boundary",
    "chart_line_encroachment.png": "New urban inside protective lines",
}
_CHART_PANELS = {
    "chart_urban.png": (("urban", "urban area"),),
    "chart_cropland_lost.png": (("cropland_lost", "cropland lost since the start"),),
    "chart_boundary_growth.png": (
        ("growth_inside_boundary", "inside the boundary"),
        ("growth_outside_boundary", "outside the boundary"),
    ),
    "chart_line_encroachment.png": (("line_encroachment", "inside protective lines"),),
}


@functools.cache
def _families() -> tuple[str, ...]:
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ("DejaVu Sans", *(f for f in _CJK_FAMILIES if f in installed))


@functools.cache
def _glyphs() -> frozenset[int]:
    from matplotlib import font_manager, ft2font

    codes: set[int] = set()
    for family in _families():
        path = font_manager.findfont(font_manager.FontProperties(family=family))
        codes.update(ft2font.FT2Font(path).get_charmap())
    return frozenset(codes)


def plain_labels(labels: Sequence[str]) -> list[str]:
    """How each run is named inside images: ``"2: label"``, or ``"run 2"`` where the
    fonts lack a glyph of the label."""
    glyphs = _glyphs()
    out = []
    for n, label in enumerate(labels, start=1):
        text = " ".join(label.split())  # no newlines or tabs inside a legend
        if len(text) > 40:  # a long folder path would squeeze the map to a stamp
            text = text[:39] + "…"
        if text and all(ord(ch) in glyphs for ch in text):
            # "$" starts mathtext; a leading "_" would hide a legend entry (the "2: "
            # prefix already prevents that).
            out.append(f"{n}: " + text.replace("$", r"\$"))
        else:
            out.append(f"run {n}")
    return out


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _fonts(func: _F) -> _F:
    """Draw with DejaVu Sans and the CJK fonts found; text takes its font when created,
    so the whole drawing runs inside the setting, not just the saving."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from matplotlib import rc_context

        with rc_context({"font.family": list(_families())}):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _map_size(shape: tuple[int, int]) -> tuple[float, float]:
    """Figure inches for a map of ``shape`` with room for a legend on the right."""
    ny, nx = shape
    aspect = ny / max(nx, 1)
    width = 6.0
    return width + 2.4, float(np.clip(width * aspect, 2.5, 9.0)) + 0.6


def _hex_rgba(color: str) -> tuple[int, int, int, int]:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16), 255)


def agreement_colors(n: int) -> dict[int, tuple[int, int, int, int]]:
    """Colour of "urban in k of n runs" (k = 0..n): light grey to dark red."""
    light, dark = np.array([238, 238, 238]), np.array([165, 15, 21])
    mid = np.array([252, 146, 114])
    out: dict[int, tuple[int, int, int, int]] = {0: (238, 238, 238, 255)}
    for k in range(1, n + 1):
        t = k / n
        rgb = light + (mid - light) * (t * 2) if t <= 0.5 else mid + (dark - mid) * (t - 0.5) * 2
        out[k] = (*(round(float(v)) for v in rgb), 255)
    return out


def _rgba_image(cat: np.ndarray, colors: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """Categories → an RGBA image; codes without a colour are transparent (no data)."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for code, rgba in colors.items():
        lut[code] = rgba
    return lut[cat]


def _legend(fig: Any, entries: list[tuple[str, tuple[int, int, int, int] | str]]) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(
            facecolor=c if isinstance(c, str) else tuple(v / 255 for v in c),
            edgecolor="#555555",
            label=text,
        )
        for text, c in entries
    ]
    # "outside": constrained layout makes room for it, so long labels are not clipped.
    fig.legend(handles=handles, loc="outside right upper", frameon=False)


@_fonts
def agreement_png(count: np.ndarray, n: int, year: int) -> bytes:
    """The agreement map: in how many of the ``n`` runs each cell is urban."""
    colors = agreement_colors(n)
    fig = _figure(*_map_size(count.shape))
    ax = fig.add_subplot()
    ax.imshow(_rgba_image(count, colors), interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"Urban in how many of {n} runs, {year}")
    _legend(fig, [(f"urban in {k} of {n}", colors[k]) for k in range(n + 1)])
    return _png(fig)


@_fonts
def difference_png(cat: np.ndarray, first: str, other: str, year: int) -> bytes:
    """Urban in both runs, only in the first, only in the other (see compare.difference)."""
    colors = {k: _hex_rgba(c) for k, c in DIFFERENCE_COLORS.items()}
    fig = _figure(*_map_size(cat.shape))
    ax = fig.add_subplot()
    ax.imshow(_rgba_image(cat, colors), interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"Urban land in {year}")
    _legend(
        fig,
        [
            ("urban in both", colors[1]),
            (f"only in {first}", colors[2]),
            (f"only in {other}", colors[3]),
            ("urban in neither", colors[0]),
        ],
    )
    return _png(fig)


@_fonts
def p_difference_png(
    p_first: np.ndarray, p_other: np.ndarray, first: str, other: str, year: int
) -> bytes:
    """P(urban) of the other run minus that of the first, from -1 (blue) to +1 (red)."""
    import matplotlib as mpl

    diff = p_other.astype(np.float32) - p_first.astype(np.float32)  # NaN where either is
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad=(1.0, 1.0, 1.0, 0.0))
    fig = _figure(*_map_size(diff.shape))
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(diff), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"P(urban), {year}: {other} minus {first}")
    fig.colorbar(im, ax=ax, shrink=0.8, label="difference in P(urban)")
    return _png(fig)


Series = list[tuple[int, Any]]  # (year, compare.Stat) in year order


@_fonts
def trajectory_charts(
    runs: Sequence[tuple[str, int, dict[str, Series]]], unit: str
) -> dict[str, bytes]:
    """Charts of the headline indicators per year: one line per run (the mean) with the
    ensemble's p05–p95 band shaded. ``runs``: (label, members, indicator → series).
    A chart no run has data for is left out."""
    from matplotlib.ticker import MaxNLocator

    unit_text = "km²" if unit == "km2" else "cells"
    out: dict[str, bytes] = {}
    for name, panels in _CHART_PANELS.items():
        if not any(series.get(ind) for _, _, series in runs for ind, _ in panels):
            continue
        fig = _figure(6.0 * len(panels) + 1.0, 4.2)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (ind, what) in zip(axes, panels, strict=True):
            for i, (label, members, series) in enumerate(runs):
                pts = series.get(ind) or []
                if not pts:
                    continue
                color = RUN_COLORS[i % len(RUN_COLORS)]
                years = [y for y, _ in pts]
                ax.plot(years, [s.mean for _, s in pts], color=color, label=label, lw=1.8)
                if members > 1:
                    ax.fill_between(
                        years,
                        [s.p05 for _, s in pts],
                        [s.p95 for _, s in pts],
                        color=color,
                        alpha=0.2,
                        lw=0,
                    )
            ax.set_title(what)
            ax.set_xlabel("year")
            ax.set_ylabel(unit_text)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, color="#dddddd", lw=0.6)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(frameon=False, fontsize="small")
        out[name] = _png(fig)
    return out
