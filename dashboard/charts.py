"""Plotly figures of the dashboard, with Chinese text (Noto Sans CJK SC) and people's number formats.

Each function takes ready data (no queries) and the language, and returns a figure; pages pass them to
``st.plotly_chart(..., on_select="rerun")`` so a click on a bar or a point drills down. ``customdata``
carries the code of what was clicked.
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from dashboard import labels as L

#: One colour per indicator of the composite score (stable across charts), then the alert colours.
PALETTE = ["#1f6feb", "#2da44e", "#bf8700", "#8250df", "#0a7ea4", "#cf222e", "#e16f24", "#57606a", "#1b7c83",
           "#a475f9", "#d4a72c", "#6e7781"]
RED, YELLOW, GREEN, GREY = "#cf222e", "#d4a72c", "#2da44e", "#8c959f"
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


def trend(frame: pl.DataFrame, keys: list[str], lang: str, targets: dict[str, float]) -> go.Figure:
    """Monthly lines of some rate indicators (as %), with their targets dotted."""
    fig = go.Figure()
    for i, key in enumerate(keys):
        if key not in frame.columns:
            continue
        values = [None if v is None else v * 100 for v in frame[key].to_list()]
        fig.add_trace(go.Scatter(
            x=frame["period"].to_list(), y=values, mode="lines+markers", name=L.indicator(lang, key),
            line={"color": PALETTE[i % len(PALETTE)], "width": 2}, customdata=frame["period"].to_list(),
            hovertemplate="%{x}: %{y:.2f}%<extra>" + L.indicator(lang, key) + "</extra>",
        ))
        if key in targets:
            fig.add_hline(y=targets[key] * 100, line={"color": PALETTE[i % len(PALETTE)], "dash": "dot", "width": 1})
    fig.update_yaxes(ticksuffix="%", rangemode="tozero")
    fig.update_xaxes(type="category")
    return _layout(fig, height=320)


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
        y=labels, x=[s or 0 for s in scores], mode="text", text=[("—" if s is None else f"{s:.1f}") for s in scores],
        textposition="middle right", showlegend=False, customdata=codes, hoverinfo="skip",
    ))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(range=[0, 108], title=L.t(lang, "score"))
    fig.update_yaxes(tickfont={"size": 12})
    return _layout(fig, height=max(260, 34 * frame.height + 120))


def bars(frame: pl.DataFrame, value: str, lang: str, *, label_col: str = "name", code_col: str = "group_code",
         target: float | None = None, percent: bool = True, color: str = "#1f6feb", title: str | None = None) -> go.Figure:
    """One bar per unit of an indicator (click to drill); the target, if any, as a dashed line."""
    frame = frame.sort(value, descending=True, nulls_last=True)
    values = frame[value].to_list()
    shown = [None if v is None else (v * 100 if percent else v) for v in values]
    fig = go.Figure(go.Bar(
        x=[n or c for n, c in zip(frame[label_col].to_list(), frame[code_col].to_list())], y=shown,
        marker={"color": color}, customdata=frame[code_col].to_list(),
        text=[L.fmt_value(value, v) for v in values], textposition="outside",
        hovertemplate="%{x}: %{text}<extra></extra>",
    ))
    if target is not None:
        fig.add_hline(y=target * 100 if percent else target, line={"color": RED, "dash": "dash", "width": 1},
                      annotation_text=f"{L.t(lang, 'target')} {L.fmt_value(value, target)}",
                      annotation_position="top left")
    if percent:
        fig.update_yaxes(ticksuffix="%", range=[0, 112])
    fig.update_xaxes(type="category", tickangle=-20 if frame.height > 6 else 0)
    return _layout(fig, height=340, legend=False, title=title)


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
    for goal in sorted({targets[k] for k in keys if k in targets}):
        fig.add_hline(y=goal * 100, line={"color": RED, "dash": "dot", "width": 1.2},
                      annotation_text=f"{L.t(lang, 'target')} {L.fmt_value(keys[0], goal)}",
                      annotation_position="top left", annotation_font={"size": 11, "color": RED})
    fig.update_layout(barmode="group")
    fig.update_yaxes(ticksuffix="%", range=[0, 118])
    fig.update_xaxes(type="category")
    return _layout(fig, height=380)


def flag_counts(frame: pl.DataFrame, lang: str) -> go.Figure:
    """Red and yellow open cases per department (stacked; click to filter to that department)."""
    fig = go.Figure()
    for flag, colour in (("red", RED), ("yellow", YELLOW)):
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


def timeline(events: pl.DataFrame, stops: pl.DataFrame, deadline: dt.date | None, lang: str) -> go.Figure:
    """A case's life: one marker per event (a red diamond when the applicant had to come: a trip), clock
    stops shaded, and the deadline (end of its day) as a red line. Times are local wall-clock times."""
    events = events.with_columns(pl.col("event_time").dt.replace_time_zone(None))
    stops = stops.with_columns(pl.col("start").dt.replace_time_zone(None), pl.col("end").dt.replace_time_zone(None))
    order = [k for k in L.EVENT_TYPES_EN if k in set(events["event_type"].to_list())]
    y_labels = {k: L.event_type(lang, k) for k in order}
    fig = go.Figure()
    for row in stops.iter_rows(named=True):
        end = row["end"] or (events["event_time"].max())
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
    fig.update_yaxes(categoryorder="array", categoryarray=[y_labels[k] for k in reversed(order)], type="category")
    fig.update_xaxes(tickformat="%m-%d\n%H:%M")
    return _layout(fig, height=max(240, 44 * len(order) + 90), legend=False)
