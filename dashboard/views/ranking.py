"""排名 / Ranking: departments, regions (at a chosen level) or items by composite score, each score broken
into its contributions; the units in the bottom two for two months running are marked (约谈). Click a
bar or a row to drill down into that unit."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, ui
from dashboard import labels as L

CHART_LIMIT = 30

c = ui.ctx()
ui.timed_page("ranking")
st.caption(ui.scope_caption())

levels = ["dept", "item"] if c.scope.dept_code else ["dept", "region:city", "region:county", "item"]
if c.scope.region_prefix and len(c.scope.region_prefix) >= 6 and "region:city" in levels:
    levels.remove("region:city")
level_names = {"dept": c.t("departments"), "item": c.t("items"),
               "region:city": L.pair(c.lang, L.LEVELS, "city"), "region:county": L.pair(c.lang, L.LEVELS, "county")}
level = ui.get("level", levels[0])
if level not in levels:
    level = levels[0]
st.session_state["w_level"] = level
st.radio(c.t("level_select"), levels, key="w_level", horizontal=True, format_func=level_names.get,
         on_change=lambda: ui.set_loc(level=st.session_state["w_level"]))

frame = ui.q("groups", c.scope, c.filters, level)
if frame.height == 0:
    st.info(c.t("no_data"))
    st.stop()
if c.filters.live:
    st.caption(":material/info: " + c.t("live"))

frame, keys = ui.with_contributions(frame.filter(pl.col("composite_score").is_not_null()).sort(
    "composite_score", descending=True))
talk = frame.filter(pl.col("bottom_two_consecutive"))
if talk.height:
    st.error(c.t("talk") + "：" + "、".join(n or g for n, g in zip(talk["name"], talk["group_code"])), icon=":material/warning:")

shown = frame.tail(CHART_LIMIT) if frame.height > CHART_LIMIT else frame
if frame.height > CHART_LIMIT:
    st.caption(L.tr(c.lang, f"图中为得分最低的 {CHART_LIMIT} 个单位；表格列出全部 {frame.height:,} 个",
                    f"The chart shows the {CHART_LIMIT} lowest scores; the table lists all {frame.height:,}"))
st.markdown(f"##### {c.t('contributions')}")
event = st.plotly_chart(charts.contributions(shown, keys, c.lang), on_select="rerun", selection_mode="points",
                        key=f"rank_chart_{level}_{c.filters.period}_{c.scope}", config=charts.CONFIG)


def drill(code: str) -> None:
    if level == "dept":
        ui.go("drill", dept=code)
    elif level == "item":
        ui.go("drill", item=code)
    else:
        ui.go("drill", region=code, dept="")


point = ui.select_point(event)
if point and point.get("customdata"):
    drill(point["customdata"] if isinstance(point["customdata"], str) else point["customdata"][0])

if level == "dept":
    peer_names = ui.names("region")
elif level == "item":
    peer_names = ui.names("dept")
else:
    peer_names = {level: c.t("province_all")}
display = frame.select(
    pl.col("rank"),
    pl.col("name"),
    pl.col("group_code"),
    pl.col("peer_group").replace_strict(peer_names, default=pl.col("peer_group")).alias("peer"),
    pl.col("composite_score").round(2),
    pl.when(pl.col("bottom_two_consecutive")).then(pl.lit(c.t("talk_short")))
    .when(pl.col("bottom_two")).then(pl.lit(c.t("bottom_two_short"))).otherwise(pl.lit("")).alias("mark"),
    *[(pl.col(f"c_{k}")).round(2).alias(f"c_{k}") for k in keys],
    *[(pl.col(k) * 100).round(2) for k in ("on_time_rate", "online_rate", "good_rate")],
    pl.col("cases_completed"),
)
columns = {
    "rank": st.column_config.NumberColumn(c.t("rank"), format="%d"),
    "name": c.t("name"), "group_code": c.t("code"), "peer": c.t("peer_group"),
    "composite_score": st.column_config.NumberColumn(c.t("score"), format="%.2f"),
    "mark": "",
    **{f"c_{k}": st.column_config.NumberColumn(L.indicator(c.lang, k) + f"（{c.t('points')}）", format="%.2f")
       for k in keys},
    **{k: ui.rate_column(L.indicator(c.lang, k)) for k in ("on_time_rate", "online_rate", "good_rate")},
    "cases_completed": ui.count_column(L.indicator(c.lang, "cases_completed")),
}
st.caption(c.t("select_row_hint"))
selected = ui.table(display, f"rank_table_{level}_{c.filters.period}_{c.scope}", columns)
if selected is not None:
    drill(display["group_code"][selected])
