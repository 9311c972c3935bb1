"""Plotly figures of the dashboard, with Chinese text (Noto Sans CJK SC) and people's number formats.

Each function takes ready data (no queries) and the language, and returns a figure; pages pass them to
``st.plotly_chart(..., on_select="rerun")`` so a click on a bar or a point drills down. ``customdata``
carries the code of what was clicked.
"""

from __future__ import annotations

import datetime as dt
import math

import plotly.graph_objects as go
import polars as pl

from dashboard import labels as L
from metrics.indicators import INDICATORS

#: One colour per indicator of the composite score (stable across charts), then the alert colours.
PALETTE = ["#1f6feb", "#2da44e", "#bf8700", "#8250df", "#0a7ea4", "#cf222e", "#e16f24", "#57606a", "#1b7c83",
           "#a475f9", "#d4a72c", "#6e7781"]
RED, YELLOW, GREEN, GREY = "#cf222e", "#d4a72c", "#2da44e", "#8c959f"
#: Likely to go overdue (可能超期): the overdue-risk model's third state beside the red and yellow cards.
VIOLET = "#8250df"
#: st.plotly_chart config: no Plotly logo, no mode bar (clicks drill down; zooming is not needed).
CONFIG = {"displaylogo": False, "displayModeBar": False}


def _layout(fig: go.Figure, *, height: int = 360, legend: bool = True, title: str | None = None) -> go.Figure:
    fig.update_layout(
        font={"family": L.FONT_FAMILY, "size": 13},
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 16, "b": 10},
        title={"text": title, "x": 0, "font": {"size": 15}} if title else None,
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "traceorder": "normal"},
        plot_bgcolor="white",
        hoverlabel={"font": {"family": L.FONT_FAMILY}},
        separators=".,",
    )
    fig.update_xaxes(gridcolor="#eaeef2", zerolinecolor="#d0d7de")
    fig.update_yaxes(gridcolor="#eaeef2", zerolinecolor="#d0d7de")
    return fig


def _nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10^k) giving about ``ticks`` ticks over ``span``."""
    raw = max(span, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def rate_axis(values: list, extra: list = (), *, headroom: float = 0.14) -> dict:
    """The y-axis of a rate chart, in percent: from 0 when the values spread widely; zoomed in when they all
    sit high (e.g. 97–100%: a 0–100% axis would draw every bar at the top and hide the differences), with
    ``headroom`` above the highest value for the bar labels. Ticks never go above 100%.

    Returns ``layout.yaxis`` settings (``range``, ``tickvals``, ``ticktext``) and ``zoomed``."""
    shown = [v for v in values if v is not None]
    points = shown + [v for v in extra if v is not None and (not shown or v >= min(shown) - 10)]
    if not points:
        return {"range": [0, 105], "zoomed": False}
    lo, hi = min(points), max(points)
    span = hi - lo
    zoomed = lo >= 50 and span < 40
    if zoomed:
        pad = max(span, 0.5)
        step = _nice_step(span + pad)
        bottom = max(0.0, (lo - pad * 0.8) // step * step)
    else:
        bottom = 0.0
        step = _nice_step(max(hi, 1.0))
    top = hi + (hi - bottom) * headroom if hi > bottom else bottom + 1
    ticks, value = [], bottom
    while value <= min(top, 100.0) + 1e-9:
        ticks.append(round(value, 6))
        value += step
    text = [f"{t:.{max(0, min(2, _decimals(step)))}f}%" for t in ticks]
    return {"range": [bottom, top], "tickvals": ticks, "ticktext": text, "zoomed": zoomed}


def _decimals(step: float) -> int:
    for digits in range(0, 4):
        if abs(round(step, digits) - step) < 1e-9:
            return digits
    return 3


def _apply_rate_axis(fig: go.Figure, axis: dict) -> None:
    fig.update_yaxes(range=axis["range"], tickvals=axis.get("tickvals"), ticktext=axis.get("ticktext"),
                     autorange=False)


def _target_label(fig: go.Figure, y: float, text: str, color: str = RED, *, row: int = 0) -> None:
    """A target's label in the right margin, level with its line: never on top of the bars' own labels."""
    fig.add_annotation(x=1.0, xref="paper", xanchor="left", xshift=6, y=y, yref="y", yshift=-10 * row,
                       text=text, showarrow=False, font={"size": 11, "color": color}, align="left")


def trend(frame: pl.DataFrame, keys: list[str], lang: str, targets: dict[str, float],
          in_progress: str | None = None, in_progress_text: str = "") -> go.Figure:
    """Monthly lines of some rate indicators (as %), one small panel each (two across) with its own axis —
    zoomed in when its values sit near 100% (:func:`rate_axis`), so that 97.9% → 97.1% shows as the drop it
    is even beside a 58% indicator — and its target dotted. The month in progress, if shown, is marked."""
    keys = [k for k in keys if k in frame.columns]
    months = frame["period"].to_list()
    if not keys:
        return _layout(go.Figure(), height=120)
    cols = 1 if len(keys) == 1 else 2
    rows = (len(keys) + cols - 1) // cols
    # Built as plain dicts and not validated: Plotly's subplot helpers and validation took half a second.
    gap_x, gap_y = 0.08, (0.16 if rows > 1 else 0.0)
    width, height = (1 - gap_x * (cols - 1)) / cols, (1 - gap_y * (rows - 1)) / rows
    data, layout, shapes, notes = [], {}, [], []
    for i, key in enumerate(keys):
        n = "" if i == 0 else str(i + 1)
        row, col = divmod(i, cols)
        x0, y1 = col * (width + gap_x), 1 - row * (height + gap_y)
        values = [None if v is None else v * 100 for v in frame[key].to_list()]
        data.append({
            "type": "scatter", "x": months, "y": values, "xaxis": f"x{n}", "yaxis": f"y{n}",
            "mode": "lines+markers+text", "name": L.indicator(lang, key), "showlegend": False,
            "line": {"color": PALETTE[i % len(PALETTE)], "width": 2}, "customdata": months,
            "text": [L.fmt_value(key, v) for v in frame[key].to_list()], "textposition": "top center",
            "textfont": {"size": 10, "color": "#57606a"},
            "hovertemplate": "%{x}: %{y:.2f}%<extra>" + L.indicator(lang, key) + "</extra>",
        })
        goal = targets[key] * 100 if key in targets else None
        axis = rate_axis(values, [goal] if goal is not None else [], headroom=0.25)
        layout[f"xaxis{n}"] = {"domain": [x0, x0 + width], "anchor": f"y{n}", "type": "category",
                               "categoryorder": "array", "categoryarray": months, "gridcolor": "#eaeef2"}
        layout[f"yaxis{n}"] = {"domain": [y1 - height, y1], "anchor": f"x{n}", "range": axis["range"],
                               "tickvals": axis.get("tickvals"), "ticktext": axis.get("ticktext"),
                               "autorange": False, "gridcolor": "#eaeef2", "zerolinecolor": "#d0d7de"}
        notes.append({"text": L.indicator(lang, key), "x": x0 + width / 2, "y": y1, "xref": "paper", "yref": "paper",
                      "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                      "font": {"size": 13, "family": L.FONT_FAMILY, "color": "#57606a"}})
        if goal is not None and axis["range"][0] <= goal <= axis["range"][1]:
            shapes.append({"type": "line", "xref": f"x{n} domain", "x0": 0, "x1": 1, "yref": f"y{n}", "y0": goal,
                           "y1": goal, "line": {"color": RED, "dash": "dot", "width": 1}})
        if in_progress in months:
            at = months.index(in_progress)
            shapes.append({"type": "line", "xref": f"x{n}", "x0": at, "x1": at, "yref": f"y{n} domain", "y0": 0,
                           "y1": 1, "line": {"color": GREY, "dash": "dot", "width": 1}})
    if in_progress in months:
        notes.append({"text": f"{in_progress}{L.tr(lang, '：', ': ')}{in_progress_text}", "x": 1.0, "xref": "paper", "xanchor": "right",
                      "y": 1.0, "yref": "paper", "yanchor": "bottom", "yshift": 22, "showarrow": False,
                      "font": {"size": 11, "color": "#57606a", "family": L.FONT_FAMILY}})
    layout.update(
        shapes=shapes, annotations=notes, height=70 + 230 * rows, showlegend=False, plot_bgcolor="white",
        font={"family": L.FONT_FAMILY, "size": 13}, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        hoverlabel={"font": {"family": L.FONT_FAMILY}}, separators=".,",
    )
    return go.Figure(data=data, layout=layout, _validate=False)


def contributions(frame: pl.DataFrame, keys: list[str], lang: str, *, code_col: str = "group_code") -> go.Figure:
    """Horizontal stacked bars: each unit's composite score broken into its indicator contributions.

    Units marked for a talk (bottom two two months running) get a red 【约谈】 before their name, the bottom two of the month 【末位】."""
    frame = frame.sort("composite_score", descending=False, nulls_last=False)
    labels = []
    for row in frame.iter_rows(named=True):
        mark = (f"<span style='color:{RED}'>【{L.t(lang, 'talk_short')}】</span>" if row.get("bottom_two_consecutive")
                else (f"<span style='color:{YELLOW}'>【{L.t(lang, 'bottom_two_short')}】</span>" if row.get("bottom_two") else ""))
        rank = f"#{row['rank']} " if row.get("rank") is not None else ""
        labels.append(f"{mark}{rank}{row.get('name') or row[code_col]}")
    codes = frame[code_col].to_list()
    fig = go.Figure()
    for i, key in enumerate(keys):
        column = f"c_{key}"
        if column not in frame.columns:
            continue
        fig.add_trace(go.Bar(
            y=labels, x=frame[column].fill_null(0).to_list(), orientation="h", name=L.indicator(lang, key),
            marker={"color": PALETTE[i % len(PALETTE)]}, customdata=codes,
            hovertemplate="%{y}<br>" + L.indicator(lang, key) + ": %{x:.2f}<extra></extra>",
        ))
    scores = frame["composite_score"].to_list()
    fig.add_trace(go.Scatter(
        y=labels, x=[s or 0 for s in scores], mode="text", text=[("—" if s is None else f"{s:.2f}") for s in scores],
        textposition="middle right", showlegend=False, customdata=codes, hoverinfo="skip",
    ))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(range=[0, 108], title=L.t(lang, "score"))
    fig.update_yaxes(tickfont={"size": 12})
    return _layout(fig, height=max(260, 34 * frame.height + 120))


def bars(frame: pl.DataFrame, value: str, lang: str, *, label_col: str = "name", code_col: str = "group_code",
         target: float | None = None, percent: bool = True, color: str = "#1f6feb", title: str | None = None,
         marker_colors: dict[str, str] | None = None) -> go.Figure:
    """One bar per unit of an indicator (click to drill); the target, if any, as a dashed line labelled in
    the right margin (never over a bar's own label); a rate axis zoomed in when every bar is near 100%
    (:func:`rate_axis`, said above the chart). ``marker_colors``: a colour for some codes (e.g. 本级)."""
    frame = frame.sort(value, descending=True, nulls_last=True)
    values = frame[value].to_list()
    shown = [None if v is None else (v * 100 if percent else v) for v in values]
    colors = [marker_colors.get(c, color) for c in frame[code_col].to_list()] if marker_colors else color
    fig = go.Figure(go.Bar(
        x=[n or c for n, c in zip(frame[label_col].to_list(), frame[code_col].to_list())], y=shown,
        marker={"color": colors}, customdata=frame[code_col].to_list(),
        # Labels inside the top of the bar when they fit (so a target line just above never strikes them
        # through), above it otherwise.
        text=[L.fmt_value(value, v) for v in values], textposition="auto", insidetextanchor="end",
        cliponaxis=False, insidetextfont={"size": 11, "color": "white"}, outsidetextfont={"size": 11, "color": "#57606a"},
        textangle=0, hovertemplate="%{x}: %{text}<extra></extra>",
    ))
    goal = None if target is None else (target * 100 if percent else target)
    if percent:
        axis = rate_axis(shown, [goal] if goal is not None else [])
        _apply_rate_axis(fig, axis)
        if goal is not None and not axis["range"][0] <= goal <= axis["range"][1]:
            goal = None  # far below every bar: no line across the middle of nothing
        if axis["zoomed"]:
            fig.add_annotation(x=0, xref="paper", xanchor="left", y=1.0, yref="paper", yanchor="bottom",
                               text=L.t(lang, "axis_zoomed"), showarrow=False, font={"size": 11, "color": "#57606a"})
    if goal is not None:
        fig.add_hline(y=goal, line={"color": RED, "dash": "dash", "width": 1})
        _target_label(fig, goal, f"{L.t(lang, 'target')}<br>{L.fmt_value(value, target)}")
    else:
        fig.update_yaxes(rangemode="tozero")
        if value != "composite_score" and INDICATORS.get(value, ("count",))[0] == "count":  # whole-number ticks
            top = max([v for v in shown if v is not None] or [0])
            fig.update_yaxes(tickformat=",d", dtick=1 if top <= 10 else None)
    fig.update_xaxes(type="category", tickangle=-20 if frame.height > 6 else 0)
    fig = _layout(fig, height=340, legend=False, title=title)
    fig.update_layout(margin={"r": 80 if goal is not None else 10, "t": 46 if percent else 16})
    return fig


def grouped_rates(frame: pl.DataFrame, keys: list[str], lang: str, targets: dict[str, float], *,
                  label_col: str = "name", code_col: str = "group_code") -> go.Figure:
    """Grouped bars: several rates per unit against their targets (catalogue page)."""
    fig = go.Figure()
    names = [n or c for n, c in zip(frame[label_col].to_list(), frame[code_col].to_list())]
    for i, key in enumerate(keys):
        values = frame[key].to_list()
        fig.add_trace(go.Bar(
            x=names, y=[None if v is None else v * 100 for v in values], name=L.indicator(lang, key),
            marker={"color": PALETTE[i % len(PALETTE)]}, customdata=frame[code_col].to_list(),
            hovertemplate="%{x}<br>" + L.indicator(lang, key) + ": %{y:.2f}%<extra></extra>",
        ))
    goals = sorted({targets[k] for k in keys if k in targets})
    values = [None if v is None else v * 100 for k in keys for v in frame[k].to_list()]
    axis = rate_axis(values, [g * 100 for g in goals], headroom=0.08)
    _apply_rate_axis(fig, axis)
    goals = [g for g in goals if axis["range"][0] <= g * 100 <= axis["range"][1]]
    for row, goal in enumerate(goals):
        fig.add_hline(y=goal * 100, line={"color": RED, "dash": "dot", "width": 1.2})
        _target_label(fig, goal * 100, f"{L.t(lang, 'target')} {L.fmt_value(keys[0], goal)}")
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    fig = _layout(fig, height=380)
    fig.update_layout(margin={"r": 90 if goals else 10})
    return fig


def flag_counts(frame: pl.DataFrame, lang: str) -> go.Figure:
    """Red, yellow and likely-to-go-overdue open cases per department (stacked; click to filter to that
    department)."""
    fig = go.Figure()
    for flag, colour in (("red", RED), ("yellow", YELLOW), ("likely", VIOLET)):
        part = frame.filter(pl.col("flag") == flag)
        fig.add_trace(go.Bar(
            x=part["name"].to_list(), y=part["n"].to_list(), name=L.pair(lang, L.FLAGS, flag),
            marker={"color": colour}, customdata=part["dept_code"].to_list(),
            hovertemplate="%{x}: %{y:,}<extra></extra>",
        ))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="category")
    fig.update_yaxes(tickformat=",d", rangemode="tozero")
    if frame.height and frame.group_by("dept_code").agg(pl.col("n").sum())["n"].max() <= 10:
        fig.update_yaxes(dtick=1)
    return _layout(fig, height=300)


def timeline(events: pl.DataFrame, stops: pl.DataFrame, deadline: dt.date | None, lang: str,
             now: dt.datetime | None = None) -> go.Figure:
    """A case's life: one marker per event (a red diamond when the applicant had to come: a trip), clock
    stops shaded, the deadline (end of its day) as a red line and, with ``now``, the present instant as a
    dark vertical line (an open case's timeline runs up to it). Times are local wall-clock times."""
    events = events.with_columns(pl.col("event_time").dt.replace_time_zone(None))
    stops = stops.with_columns(pl.col("start").dt.replace_time_zone(None), pl.col("end").dt.replace_time_zone(None))
    if now is not None:
        now = now.replace(tzinfo=None)
    order = [k for k in L.EVENT_TYPES_EN if k in set(events["event_type"].to_list())]
    y_labels = {k: L.event_type(lang, k) for k in order}
    fig = go.Figure()
    for row in stops.iter_rows(named=True):
        end = row["end"] or now or events["event_time"].max()  # a stop still running lasts until now
        fig.add_vrect(x0=row["start"], x1=end, fillcolor=GREY, opacity=0.18, line_width=0,
                      annotation_text=L.t(lang, "clock_stop"), annotation_position="top left",
                      annotation_font={"size": 11, "color": "#57606a"})
    onsite = events["onsite"].to_list()
    fig.add_trace(go.Scatter(
        x=events["event_time"].to_list(), y=[y_labels[k] for k in events["event_type"].to_list()],
        mode="markers+lines", line={"color": "#afb8c1", "width": 1},
        marker={"size": 13, "color": [RED if o else "#1f6feb" for o in onsite],
                "symbol": ["diamond" if o else "circle" for o in onsite]},
        text=[L.t(lang, "trip") if o else "" for o in onsite],
        hovertemplate="%{y}<br>%{x|%Y-%m-%d %H:%M}<br>%{text}<extra></extra>", showlegend=False,
    ))
    if deadline is not None:
        end_of_day = dt.datetime.combine(deadline, dt.time(23, 59))
        fig.add_shape(type="line", x0=end_of_day, x1=end_of_day, y0=0, y1=1, yref="paper",
                      line={"color": RED, "dash": "dash", "width": 2})
        fig.add_annotation(x=end_of_day, y=1.0, yref="paper", text=f"{L.t(lang, 'deadline')} {deadline.isoformat()}",
                           showarrow=False, font={"color": RED, "size": 12}, xanchor="right", yanchor="bottom")
    if now is not None:
        fig.add_shape(type="line", x0=now, x1=now, y0=0, y1=1, yref="paper", line={"color": "#24292f", "width": 2})
        fig.add_annotation(x=now, y=0.0, yref="paper", text=f"{L.tr(lang, '现在', 'now')} {now:%m-%d %H:%M}",
                           showarrow=False, font={"color": "#24292f", "size": 12}, xanchor="left", yanchor="bottom")
    fig.update_yaxes(categoryorder="array", categoryarray=[y_labels[k] for k in reversed(order)], type="category")
    fig.update_xaxes(tickformat="%m-%d\n%H:%M")
    return _layout(fig, height=max(240, 44 * len(order) + 90), legend=False)
