"""Server-rendered SVG charts for the web pages: bar charts and a position-by-AF plot.

Hospital networks are closed, so no chart library is fetched: each function
returns one self-contained ``<svg>`` string. Colours are presentation
attributes (not ``style=``) so the pages' Content-Security-Policy can forbid
inline styles. Every chart carries a ``<title>``/``<desc>`` and the pages show
the same numbers in a table beside it, for screen readers and for copying.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["af_bar_chart", "af_plot", "bar_chart", "column_chart"]

# Colours with at least 4.5:1 contrast on white (WCAG AA for the text drawn in them).
_BAR = "#1f5f99"
_TEXT = "#1a1a1a"
_GRID = "#c8c8c8"
_ZERO = "#8a4b00"


def _svg_open(width: int, height: int, title: str, desc: str, ident: str) -> str:
    t, d = f"{ident}-title", f"{ident}-desc"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{t} {d}" id="{escape(ident)}">'
        f'<title id="{t}">{escape(title)}</title><desc id="{d}">{escape(desc)}</desc>'
    )


def bar_chart(items: Sequence[tuple[str, int]], title: str, ident: str, width: int = 560) -> str:
    """Return a horizontal bar chart with the label left of each bar and the number right of it.

    Parameters
    ----------
    items
        ``(label, value)`` pairs, drawn top to bottom in the given order.
    title
        Accessible title of the chart.
    ident
        The ``id`` of the ``<svg>`` element (unique within the page).
    width
        Width in px. Default 560.
    """
    # Labels are right-aligned against the bars; size their column to the longest (~7.2 px a character at 13 px).
    row, value_w = 24, 70
    label_w = min(300, 16 + round(7.2 * max((len(lab) for lab, _ in items), default=4)))
    height = max(1, len(items)) * row + 8
    top = max((v for _, v in items), default=0) or 1
    bar_w = width - label_w - value_w
    desc = "; ".join(f"{lab}: {v:,}" for lab, v in items) or "no data"
    out = [_svg_open(width, height, title, desc, ident)]
    for i, (label, value) in enumerate(items):
        y = 4 + i * row
        w = round(bar_w * value / top, 1)
        out.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" fill="{_TEXT}" font-size="13">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row - 8}" fill="{_BAR}"/>'
            f'<text x="{label_w + w + 6}" y="{y + 16}" fill="{_TEXT}" font-size="13">{value:,}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _af_text(af: float) -> str:
    if af == 0:
        return "0"
    return f"{af:.4f}" if af >= 0.001 else f"{af:.2e}"


def af_bar_chart(items: Sequence[tuple[str, float | None]], title: str, ident: str, width: int = 360) -> str:
    """Return a horizontal bar chart of allele frequencies (linear, from 0 to the largest shown).

    Parameters
    ----------
    items
        ``(label, af)`` pairs, top to bottom. ``af`` None (no called alleles in
        that stratum) is drawn as the words "no data", not as a bar of 0.
    title
        Accessible title of the chart.
    ident
        The ``id`` of the ``<svg>`` element (unique within the page).
    width
        Width in px. Default 360: it fits beside a table, and a 390 px phone screen
        (the pages scale a chart down to the screen, never scroll it sideways).

    Notes
    -----
    The AF is written right of each bar (4 decimals, or 3 significant digits in
    scientific notation below 0.001), so the chart reads without the table.
    """
    row, value_w = 22, 64
    label_w = min(170, 12 + round(6.8 * max((len(lab) for lab, _ in items), default=4)))
    height = max(1, len(items)) * row + 8
    top = max((af for _, af in items if af), default=0.0) or 1.0
    bar_w = max(20, width - label_w - value_w)
    desc = (
        "; ".join(f"{lab}: AF {'no data' if af is None else _af_text(af)}" for lab, af in items) or "no data"
    )
    out = [_svg_open(width, height, title, desc, ident)]
    for i, (label, af) in enumerate(items):
        y = 4 + i * row
        text_y = y + 15
        shown = escape(label if len(label) <= 24 else label[:23] + "\N{HORIZONTAL ELLIPSIS}")
        out.append(
            f'<text x="{label_w - 6}" y="{text_y}" text-anchor="end" fill="{_TEXT}" font-size="12">{shown}</text>'
        )
        if af is None:
            out.append(f'<text x="{label_w + 4}" y="{text_y}" fill="{_ZERO}" font-size="12">no data</text>')
            continue
        w = round(bar_w * af / top, 1)
        out.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row - 8}" fill="{_BAR}"/>'
            f'<text x="{label_w + w + 5}" y="{text_y}" fill="{_TEXT}" font-size="12">{_af_text(af)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def column_chart(items: Sequence[tuple[str, int]], title: str, ident: str, height: int = 220) -> str:
    """Return a vertical column chart over time (e.g. genomes per month), the number above each column.

    Parameters
    ----------
    items
        ``(label, value)`` pairs in time order (left to right).
    title
        Accessible title of the chart.
    ident
        The ``id`` of the ``<svg>`` element.
    height
        Height in px. Default 220.
    """
    # Wide enough for a YYYY-MM label under every column up to two years; beyond that, label some.
    col = 60 if len(items) <= 24 else max(12, 1400 // max(1, len(items)))
    left, bottom, top_pad = 8, 40, 22
    width = left * 2 + col * max(1, len(items))
    top = max((v for _, v in items), default=0) or 1
    plot_h = height - bottom - top_pad
    desc = "; ".join(f"{lab}: {v:,}" for lab, v in items) or "no data"
    out = [_svg_open(width, height, title, desc, ident)]
    base = height - bottom
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - left}" y2="{base}" stroke="{_GRID}"/>')
    every = max(1, math.ceil(len(items) * 60 / max(1, width)))
    for i, (label, value) in enumerate(items):
        x = left + i * col
        h = round(plot_h * value / top, 1)
        out.append(f'<rect x="{x + 4}" y="{base - h}" width="{col - 8}" height="{h}" fill="{_BAR}"/>')
        if col >= 40:  # narrower columns leave the numbers to the table beside the chart
            out.append(
                f'<text x="{x + col / 2}" y="{base - h - 5}" text-anchor="middle" fill="{_TEXT}" '
                f'font-size="12">{value:,}</text>'
            )
        if i % every == 0:
            out.append(
                f'<text x="{x + col / 2}" y="{base + 16}" text-anchor="middle" fill="{_TEXT}" '
                f'font-size="11">{escape(label)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def _nice_ticks(lo: int, hi: int, n: int = 5) -> list[int]:
    span = max(1, hi - lo)
    # Positions are whole bases: a tick step below 1 bp (regions under n bp) would be 0.
    step = max(1, 10 ** math.floor(math.log10(span / n)))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return list(range(int(first), hi + 1, int(step)))


def af_plot(
    points: Sequence[tuple[int, float | None, str]],
    start: int,
    end: int,
    title: str,
    ident: str = "af-plot",
    width: int = 860,
    height: int = 300,
) -> str:
    """Return a plot of position (x, linear) against allele frequency (y, log10 scale).

    Parameters
    ----------
    points
        ``(pos, af, variant_id)``; ``pos`` 1-based. ``af`` 0 cannot sit on a log
        axis, so such variants are drawn in a band below the axis labelled
        "AC 0"; ``af`` None (no called alleles) in a band labelled "no data".
    start, end
        The region shown, 1-based inclusive.
    title
        Accessible title.
    ident
        The ``id`` of the ``<svg>`` element. Default ``af-plot``.
    width, height
        Size in px. Defaults 860 x 300.

    Notes
    -----
    The y axis starts at the decade below the smallest positive AF (at least
    1e-6) and ends at 1. Each point has a ``<title>`` with its id and AF
    (shown as a tooltip); points are not links, so the plot adds no tab stops.
    """
    left, right, top, bottom = 64, 16, 12, 76
    pw, ph = width - left - right, height - top - bottom
    positive = [af for _, af, _ in points if af]
    lo_exp = min(-1, max(-6, math.floor(math.log10(min(positive))))) if positive else -4
    n_zero = sum(1 for _, af, _ in points if af == 0)
    n_none = sum(1 for _, af, _ in points if af is None)
    desc = (
        f"{len(points):,} variants between {start:,} and {end:,}: {len(positive):,} with AF above 0, "
        f"{n_zero:,} with AC 0 among called alleles, {n_none:,} with no called alleles"
    )
    out = [_svg_open(width, height, title, desc, ident)]
    span = max(1, end - start)

    def x_of(pos: int) -> float:
        return round(left + pw * (pos - start) / span, 1)

    def y_of(af: float) -> float:
        return round(top + ph * (0 - math.log10(af)) / (0 - lo_exp), 1)

    for e in range(lo_exp, 1):
        y = y_of(10.0**e)
        out.append(
            f'<line x1="{left}" y1="{y}" x2="{left + pw}" y2="{y}" stroke="{_GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" fill="{_TEXT}" font-size="11">'
            f"{'1' if e == 0 else f'1e{e}'}</text>"
        )
    zero_y, none_y = top + ph + 20, top + ph + 40
    out.append(
        f'<text x="{left - 6}" y="{zero_y + 4}" text-anchor="end" fill="{_ZERO}" font-size="11">AC 0</text>'
        f'<text x="{left - 6}" y="{none_y + 4}" text-anchor="end" fill="{_TEXT}" font-size="11">no data</text>'
    )
    for tick in _nice_ticks(start, end):
        x = x_of(tick)
        out.append(
            f'<line x1="{x}" y1="{top + ph}" x2="{x}" y2="{top + ph + 46}" stroke="{_GRID}"/>'
            f'<text x="{x}" y="{height - 12}" text-anchor="middle" fill="{_TEXT}" font-size="11">{tick:,}</text>'
        )
    out.append(
        f'<text x="{left - 50}" y="{top + ph / 2}" fill="{_TEXT}" font-size="12" '
        f'transform="rotate(-90 {left - 50} {top + ph / 2})" text-anchor="middle">AF (log)</text>'
    )
    for pos, af, vid in points:
        x = x_of(pos)
        if af:
            y, fill, shown = y_of(af), _BAR, f"{af:.3g}"
        elif af == 0:
            y, fill, shown = zero_y, _ZERO, "0"
        else:
            y, fill, shown = none_y, _TEXT, "no data"
        out.append(
            f'<circle cx="{x}" cy="{y}" r="3.5" fill="{fill}" fill-opacity="0.75">'
            f"<title>{escape(vid)}: AF {shown}</title></circle>"
        )
    out.append("</svg>")
    return "".join(out)
