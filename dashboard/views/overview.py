"""总览 / Overview: the DOMAIN indicators of the scope as tiles (target, change against the previous
month) and their monthly trend. Click a month of the trend to look at it."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from dashboard import charts, ui
from dashboard import labels as L
from metrics.indicators import INDICATORS, Period

c = ui.ctx()
ui.timed_page("overview")
st.caption(ui.scope_caption())

period = c.filters.parsed
trend = ui.q("unit_trend", c.scope, c.filters)
by_month = {r["period"]: r for r in trend.to_dicts()} if trend.height else {}
if c.filters.live and period.is_month:
    # Computed live: take this month and the previous one from the trend instead of computing them twice.
    row = by_month.get(period.label)
else:
    row = ui.q("unit_row", c.scope, c.filters)
if row is None:
    st.info(c.t("no_metrics") if not ui.q("periods") else c.t("no_data"))
    st.stop()
if c.filters.live:
    st.caption(":material/info: " + c.t("live"))

previous = None
if period.is_month:
    previous = by_month.get(period.previous_month().label)
    if previous is None and not c.filters.live:
        previous = ui.q("unit_row", c.scope, replace(c.filters, period=period.previous_month().label))
targets = ui.targets()


def delta(key: str) -> str | None:
    if previous is None or row.get(key) is None or previous.get(key) is None:
        return None
    change = row[key] - previous[key]
    kind = INDICATORS.get(key, ("",))[0]
    if kind in ("rate", "compression"):
        return f"{change * 100:+.2f} {L.tr(c.lang, '个百分点', 'pp')}"
    if kind == "mean":
        return f"{change:+,.2f}"
    return f"{int(change):+,}"


def target_text(key: str) -> str:
    if key not in targets or row.get(key) is None:
        return ""
    goal = targets[key]
    lower = key in L.LOWER_IS_BETTER
    met = row[key] <= goal if lower else row[key] >= goal
    sign = "≤" if lower else "≥"
    verdict = f":green[{c.t('met')}]" if met else f":red[{c.t('missed')}]"
    return f"{verdict} · {c.t('target')} {sign} {L.fmt_value(key, goal)}"


score_cols = st.columns(4)
score_cols[0].metric(c.t("score"), L.fmt_value("composite_score", row.get("composite_score")),
                     delta=(f"{row['composite_score'] - previous['composite_score']:+.2f}"
                            if previous and row.get("composite_score") is not None
                            and previous.get("composite_score") is not None else None))
if row.get("rank") is not None and (row.get("peers") or 0) > 1:
    score_cols[1].metric(c.t("rank"), f"{row['rank']} / {row['peers']}")
if row.get("bottom_two_consecutive"):
    score_cols[2].error(c.t("talk"), icon=":material/warning:")
elif row.get("bottom_two"):
    score_cols[2].warning(c.t("bottom_two"), icon=":material/south:")

for (zh, en), keys in L.KPI_SECTIONS:
    st.markdown(f"##### {L.tr(c.lang, zh, en)}")
    columns = st.columns(5)
    for column, key in zip(columns, keys):
        with column:
            st.metric(L.indicator(c.lang, key), L.fmt_value(key, row.get(key)), delta=delta(key),
                      delta_color="inverse" if key in L.LOWER_IS_BETTER else "normal",
                      help=f"{c.t('vs_prev')} {period.previous_month().label}" if previous else None)
            note = target_text(key)
            if note:
                st.caption(note)

st.markdown(f"##### {c.t('trend')}")
if trend.height:
    rate_keys = [k for k, (kind, _, _) in INDICATORS.items() if kind in ("rate", "compression")]
    st.session_state.setdefault("trend_keys", ["on_time_rate", "online_rate", "zero_trip_rate", "good_rate"])
    chosen = st.multiselect(c.t("indicator"), rate_keys, key="trend_keys", format_func=lambda k: L.indicator(c.lang, k))
    event = st.plotly_chart(charts.trend(trend, chosen, c.lang, targets), on_select="rerun",
                            selection_mode="points", key=f"trend_{c.filters.period}", config=charts.CONFIG)
    point = ui.select_point(event)
    if point and point.get("x") and point["x"] != c.filters.period:
        Period.parse(point["x"])  # a month label
        ui.go("overview", period=point["x"])
