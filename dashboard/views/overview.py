"""总览 / Overview: the DOMAIN indicators of the scope as tiles (target, change against the previous
month) and their monthly trend. Click a month of the trend to look at it.

A change of zero is neutral (grey, no arrow); 逾期未整改 and 数据矛盾办件 are red when not zero; 整改中 is
neutral, with the working days left to the nearest and the farthest limit. A unit with no completed case
and no rating has no score and no rank: a note says so instead of a page of dashes."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import streamlit as st

from dashboard import charts, ui
from dashboard import labels as L
from hcp.periods import Period
from metrics.indicators import INDICATORS

c = ui.ctx()
ui.timed_page("overview")
st.caption(ui.scope_caption())
if not ui.period_notes():
    st.stop()

period = c.filters.parsed
trend = ui.q("unit_trend", c.scope, c.filters)
by_month = {r["period"]: r for r in trend.to_dicts()} if trend.height else {}
if c.filters.live and period.is_month:
    # Computed live: take this month and the previous one from the trend instead of computing them twice.
    row = by_month.get(period.label)
else:
    row = ui.q("unit_row", c.scope, c.filters)
if row is None and not ui.q("periods"):
    st.info(c.t("no_metrics"))
    st.stop()
if c.filters.live:
    st.caption(":material/info: " + c.t("live"))
no_data = row is None or row.get("rank_status") == "no_data"

previous = None
if period.is_month:
    previous = by_month.get(period.previous_month().label)
    if previous is None and not c.filters.live:
        previous = ui.q("unit_row", c.scope, replace(c.filters, period=period.previous_month().label))
    if previous is not None and previous.get("rank_status") == "no_data":
        previous = None  # a month without data is nothing to compare with
targets = ui.targets()


def delta(key: str) -> tuple[str | None, str, str]:
    """The change against the previous month as text, its colour and its arrow: a change of zero is
    neutral (grey, no arrow), as is every change of an indicator that is neither good nor bad."""
    if previous is None or row.get(key) is None or previous.get(key) is None:
        return None, "off", "off"
    change = row[key] - previous[key]
    kind = INDICATORS.get(key, ("",))[0]
    if kind in ("rate", "compression"):
        zero = round(change * 100, 2) == 0
        text = f"{0:.2f} {L.tr(c.lang, '个百分点', 'pp')}" if zero else f"{change * 100:+.2f} {L.tr(c.lang, '个百分点', 'pp')}"
    elif kind == "mean" or key == "composite_score":
        zero = round(change, 2) == 0
        text = f"{0:.2f}" if zero else f"{change:+,.2f}"
    else:
        zero = int(change) == 0
        text = "0" if zero else f"{int(change):+,}"
    if zero:
        return text, "off", "off"
    if key in L.NEUTRAL:
        return text, "off", "auto"
    return text, "inverse" if key in L.LOWER_IS_BETTER else "normal", "auto"


def target_text(key: str) -> str:
    if key not in targets or row.get(key) is None:
        return ""
    goal = targets[key]
    lower = key in L.LOWER_IS_BETTER
    met = row[key] <= goal if lower else row[key] >= goal
    sign = "≤" if lower else "≥"
    verdict = f":green[{c.t('met')}]" if met else f":red[{c.t('missed')}]"
    return f"{verdict} · {c.t('target')} {sign} {L.fmt_value(key, goal)}"


def in_progress_text() -> str:
    """整改中: how many working days are left to the nearest and the farthest rectification limit."""
    if not row.get("bad_in_progress"):
        return ""
    status = ui.q("bad_rectification", c.scope, c.filters)
    left = status.filter(pl.col("status") == "in_progress")["working_days_left"].drop_nulls()
    if left.len() == 0:
        return ""
    a, b = int(left.min()), int(left.max())
    return (c.t("days_left_one").format(a=a) if a == b else c.t("days_left_range").format(a=a, b=b))


def label_of(key: str) -> str:
    label = L.indicator(c.lang, key)
    return f":red[{label}]" if key in L.ALERT_COUNTS and row.get(key) else label


if no_data:
    st.info(c.t("unit_no_data"), icon=":material/block:")
else:
    score_cols = st.columns(4)
    status = row.get("rank_status")
    score_text, score_color, score_arrow = delta("composite_score")
    score_cols[0].metric(c.t("score"),
                         L.fmt_value("composite_score", row.get("composite_score")), delta=score_text,
                         delta_color=score_color, delta_arrow=score_arrow)
    alone = (c.scope.unit() or ("all",))[0] in ("all", "region:province")  # a province is ranked against no one
    if status == "small_sample" and not alone:
        score_cols[1].metric(c.t("rank"), L.pair(c.lang, L.RANK_STATUS, "small_sample"),
                             help=c.t("small_sample_rank"))
    elif row.get("rank") is not None and (row.get("peers") or 0) > 1:
        score_cols[1].metric(c.t("rank"), f"{row['rank']} / {row['peers']}")
    if row.get("bottom_two_consecutive"):
        score_cols[2].error(c.t("talk"), icon=":material/warning:")
    elif row.get("bottom_two"):
        score_cols[2].warning(c.t("bottom_two"), icon=":material/south:")

for (zh, en), keys in L.KPI_SECTIONS:
    if no_data and zh != "事项目录":
        continue  # nothing completed, nothing rated: no tiles of dashes
    st.markdown(f"##### {L.tr(c.lang, zh, en)}")
    columns = st.columns(6)
    for column, key in zip(columns, keys):
        with column:
            text, color, arrow = delta(key)
            st.metric(label_of(key), L.fmt_value(key, row.get(key) if row else None), delta=text,
                      delta_color=color, delta_arrow=arrow,
                      help=f"{c.t('vs_prev')} {period.previous_month().label}" if previous else None)
            note = target_text(key) if row else ""
            if key == "bad_in_progress":
                note = in_progress_text()
            if note:
                st.caption(note)

if row and row.get("inconsistent_cases"):
    st.warning(c.t("quality_overview").format(n=L.fmt_value("inconsistent_cases", row["inconsistent_cases"])),
               icon=":material/fact_check:")
    if st.button(c.t("to_quality"), key="to_quality"):
        ui.go("quality")

# The month's published bulletin (PDF and Excel), when the archive has one for this office.
if period.is_month:
    published = ui.bulletin(period.label, c.scope, c.lang)
    if published and {".pdf", ".xlsx"} & set(published[1]):
        version, files = published
        with st.container(horizontal=True, gap="small", vertical_alignment="center"):
            st.markdown(f"**{L.tr(c.lang, '本月通报', 'Monthly bulletin')}** {period.label} · {version}", width="content")
            for suffix, label, mime in ((".pdf", "PDF", "application/pdf"),
                                        (".xlsx", "Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")):
                if suffix in files:
                    path = files[suffix]
                    st.download_button(label, lambda path=path: path.read_bytes(), path.name, mime,
                                       key=f"bulletin{suffix}", icon=":material/description:", width="content",
                                       on_click="ignore")

st.markdown(f"##### {c.t('trend')}")
if trend.height:
    rate_keys = [k for k, (kind, _, _) in INDICATORS.items() if kind in ("rate", "compression")]
    # One widget per language: the browser keeps a multiselect's chips as the labels it was given, so a
    # widget carried over from Chinese showed 好评率 … after the switch to English. The choice is carried over.
    widget = f"trend_keys_{c.lang}"
    st.session_state.setdefault(widget, st.session_state.get("_trend_keys",
                                                             ["on_time_rate", "online_rate", "zero_trip_rate", "good_rate"]))
    chosen = st.multiselect(c.t("indicator"), rate_keys, key=widget, format_func=lambda k: L.indicator(c.lang, k))
    st.session_state["_trend_keys"] = chosen
    choice = c.choice
    current = choice.in_progress if choice else None
    event = st.plotly_chart(charts.trend(trend, chosen, c.lang, targets, current,
                                         ui.in_progress_words(c.lang, choice) if current else ""),
                            on_select="rerun", selection_mode="points", key=f"trend_{c.filters.period}",
                            config=charts.CONFIG)
    point = ui.select_point(event)
    month = point.get("customdata") or point.get("x") if point else None
    if isinstance(month, list):
        month = month[0]
    if month and month != c.filters.period:
        Period.parse(month)  # a month label
        ui.go("overview", period=month)
