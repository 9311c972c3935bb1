"""Charts for the bulletin as plain SVG text: deterministic, dependency-free, and rendered with the same
embedded CJK font as the rest of the PDF (WeasyPrint draws inline SVG itself).

Two kinds: horizontal bars of composite scores (ranking), and headline rates this month against last
month and the target. The charts only *draw* figures gathered elsewhere; they compute nothing.
"""

from __future__ import annotations

import unicodedata
from html import escape

FONT = "'Noto Sans CJK SC', 'Noto Sans CJK', 'Source Han Sans SC', sans-serif"
BLUE, LIGHT, RED, GREEN, GREY, INK = "#2f5597", "#b4c7e7", "#c0392b", "#2e7d32", "#bfbfbf", "#262626"


def text_width(text: str, size: float) -> float:
    """Approximate rendered width: CJK glyphs are one em, Latin digits and letters about 0.56 em."""
    return sum(size if unicodedata.east_asian_width(ch) in ("W", "F") else size * 0.56 for ch in text)


def clip(text: str, size: float, width: float) -> str:
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _svg(width: float, height: float, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" role="img">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def score_bars(rows: list[tuple[str, float | None, bool]], *, title: str, width: float = 640,
               max_value: float = 100.0, fmt=lambda v: f"{v:.2f}", empty: str = "—") -> str:
    """Horizontal bars, one per unit: (label, value or None, highlighted). Highlighted bars are red
    (units in the bottom two); a unit without a value gets no bar and a dash."""
    size, bar, gap, top = 11.0, 14.0, 6.0, 22.0
    label_w = min(max([text_width(r[0], size) for r in rows] + [40.0]) + 8, 210.0)
    value_w = 46.0
    plot_w = width - label_w - value_w - 8
    height = top + len(rows) * (bar + gap) + 20
    body = [f'<text x="0" y="13" font-size="12" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    for tick in (0, 25, 50, 75, 100):
        x = label_w + plot_w * tick / 100
        body.append(f'<line x1="{x:.1f}" y1="{top - 4:.1f}" x2="{x:.1f}" y2="{height - 16:.1f}" stroke="#e6e6e6" '
                    f'stroke-width="0.8"/>')
        body.append(f'<text x="{x:.1f}" y="{height - 4:.1f}" font-size="9" fill="#7f7f7f" text-anchor="middle">'
                    f"{max_value * tick / 100:g}</text>")
    for i, (label, value, highlight) in enumerate(rows):
        y = top + i * (bar + gap)
        body.append(f'<text x="{label_w - 6:.1f}" y="{y + bar - 3:.1f}" font-size="{size:g}" fill="{INK}" '
                    f'text-anchor="end">{escape(clip(label, size, label_w - 8))}</text>')
        if value is None:
            body.append(f'<text x="{label_w + 4:.1f}" y="{y + bar - 3:.1f}" font-size="{size:g}" fill="#7f7f7f">'
                        f"{escape(empty)}</text>")
            continue
        w = max(plot_w * min(max(value / max_value, 0.0), 1.0), 0.5)
        body.append(f'<rect x="{label_w:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar:g}" rx="1.5" '
                    f'fill="{RED if highlight else BLUE}"/>')
        body.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 3:.1f}" font-size="{size - 1:g}" fill="{INK}">'
                    f"{escape(fmt(value))}</text>")
    return _svg(width, height, body, title)


def rate_bars(rows: list[tuple[str, float | None, float | None, float | None]], *, title: str,
              legend: tuple[str, str, str, str, str], width: float = 640, fmt=lambda v: f"{v * 100:.2f}%") -> str:
    """Rates as bars from 0 to 100%: (label, this month, last month, target). This month's bar is green
    when it meets the target, red when it does not (blue without a target); last month is a thin light bar
    under it; the target is a dark tick. ``legend``: met, not met, no target, last month, target."""
    size, bar, thin, gap, top = 10.5, 10.0, 3.0, 6.0, 36.0
    label_w = min(max([text_width(r[0], size) for r in rows] + [40.0]) + 8, 190.0)
    value_w = 52.0
    plot_w = width - label_w - value_w - 8
    height = top + len(rows) * (bar + thin + gap) + 18
    body = [f'<text x="0" y="13" font-size="12" font-weight="bold" fill="{INK}">{escape(title)}</text>']
    lx = label_w
    entries = ((GREEN, legend[0], "bar"), (RED, legend[1], "bar"), (BLUE, legend[2], "bar"), (LIGHT, legend[3], "bar"),
               (INK, legend[4], "tick"))
    for colour, text, kind in entries:
        if kind == "bar":
            body.append(f'<rect x="{lx:.1f}" y="21" width="14" height="8" fill="{colour}"/>')
        else:
            body.append(f'<rect x="{lx + 6:.1f}" y="18" width="2" height="14" fill="{colour}"/>')
        body.append(f'<text x="{lx + 18:.1f}" y="29" font-size="10" fill="{INK}">{escape(text)}</text>')
        lx += 18 + text_width(text, 10) + 16
    for tick in (0, 25, 50, 75, 100):
        x = label_w + plot_w * tick / 100
        body.append(f'<line x1="{x:.1f}" y1="{top - 4:.1f}" x2="{x:.1f}" y2="{height - 14:.1f}" stroke="#e6e6e6" '
                    f'stroke-width="0.8"/>')
        body.append(f'<text x="{x:.1f}" y="{height - 3:.1f}" font-size="9" fill="#7f7f7f" text-anchor="middle">'
                    f"{tick}%</text>")
    for i, (label, now, before, target) in enumerate(rows):
        y = top + i * (bar + thin + gap)
        body.append(f'<text x="{label_w - 6:.1f}" y="{y + bar - 2:.1f}" font-size="{size:g}" fill="{INK}" '
                    f'text-anchor="end">{escape(clip(label, size, label_w - 8))}</text>')
        if now is not None:
            colour = BLUE if target is None else (GREEN if now >= target - 1e-12 else RED)
            w = max(plot_w * min(max(now, 0.0), 1.0), 0.5)
            body.append(f'<rect x="{label_w:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar:g}" rx="1.5" fill="{colour}"/>')
            text_x = label_w + w + 4
            if target is not None:  # keep the value clear of the target tick
                tick = label_w + plot_w * min(max(target, 0.0), 1.0)
                if text_x - 3 <= tick <= text_x + text_width(fmt(now), size - 1) + 2:
                    text_x = tick + 4
            body.append(f'<text x="{text_x:.1f}" y="{y + bar - 2:.1f}" font-size="{size - 1:g}" fill="{INK}">'
                        f"{escape(fmt(now))}</text>")
        else:
            body.append(f'<text x="{label_w + 4:.1f}" y="{y + bar - 2:.1f}" font-size="{size:g}" fill="#7f7f7f">—</text>')
        if before is not None:
            w = max(plot_w * min(max(before, 0.0), 1.0), 0.5)
            body.append(f'<rect x="{label_w:.1f}" y="{y + bar + 1:.1f}" width="{w:.1f}" height="{thin:g}" fill="{LIGHT}"/>')
        if target is not None:
            x = label_w + plot_w * min(max(target, 0.0), 1.0)
            body.append(f'<rect x="{x - 1:.1f}" y="{y - 2:.1f}" width="2" height="{bar + thin + 4:g}" fill="{INK}"/>')
    return _svg(width, height, body, title)
