"""排名 / Ranking: departments, regions (at a chosen level, or governments' own level 本级) or items by
composite score, in three sections kept apart (DOMAIN.md, "Who is ranked"):

* **参与排名** — the ranked units of a peer group (departments of one government, regions of one level under
  one office, items of one department), each score broken into its contributions; 【约谈】 marks the units
  in the bottom two for two months running, 【末位】 the bottom two of the month;
* **样本不足** — units below the minimum volume, with their figures and a reference score, never ranked and
  never marked; the units with no data at all are counted (no score, no rank);
* **约谈名单** — the talk list.

Click a bar or a row to drill down into that unit."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, ui
from dashboard import labels as L

CHART_LIMIT = 30
RATES = ("on_time_rate", "online_rate", "good_rate")
ALL_PEERS = "*"

c = ui.ctx()
ui.timed_page("ranking")
st.caption(ui.scope_caption())
if not ui.period_notes():
    st.stop()

width = len(c.scope.region_prefix)
if c.scope.dept_code:
    levels = ["dept", "item"]
else:
    levels = ["dept", "region:city", "region:county", "region:own", "item"]
    if width >= 4:
        levels.remove("region:city")
    if width > 2:
        levels.remove("region:own")  # a city office's own level is one unit: ranked against the other cities'
    if width >= 6:
        levels.remove("region:county")
level_names = {"dept": c.t("departments"), "item": c.t("items"), "region:own": c.t("own_levels"),
               # a choice heads its line: "City" beside "Departments" (the vocabulary's word is lower-case)
               "region:city": L.pair(c.lang, L.LEVELS, "city").capitalize(),
               "region:county": L.pair(c.lang, L.LEVELS, "county").capitalize()}
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

region_names = ui.names("region")
if level == "region:own":
    frame = frame.with_columns(name=pl.concat_str([pl.col("name"), pl.lit(c.t("own_row").format(name=""))]))
peer_names = ui.names("dept") if level == "item" else region_names
frame = frame.with_columns(
    peer=pl.col("peer_group").replace_strict(peer_names, default=pl.col("peer_group"))
    .replace("", c.t("province_all") if level != "region:own" else "—"))
frame, keys = ui.with_contributions(frame.sort(["composite_score", "group_code"], descending=[True, False],
                                              nulls_last=True))
ranked = frame.filter(pl.col("rank_status") == "ranked")
# Not ranked, so not in score order (which would read as a ranking): by peer group, then code.
small = frame.filter(pl.col("rank_status") == "small_sample").sort("peer_group", "group_code")
nothing = frame.filter(pl.col("rank_status") == "no_data")
talk = ranked.filter(pl.col("bottom_two_consecutive"))
settings = ui.ranking_settings()


def drill(code: str) -> None:
    if level == "dept":
        ui.go("drill", dept=code)
    elif level == "item":
        ui.go("drill", item=code)
    else:
        ui.go("drill", region=code, dept="")


def mark() -> pl.Expr:
    return (pl.when(pl.col("bottom_two_consecutive")).then(pl.lit(c.t("talk_short")))
            .when(pl.col("bottom_two")).then(pl.lit(c.t("bottom_two_short"))).otherwise(pl.lit("")).alias("mark"))


COLUMNS = {
    "rank": st.column_config.NumberColumn(c.t("rank"), format="%d"),
    "rank_of": c.t("rank"),
    "name": c.t("name"), "group_code": c.t("code"), "peer": c.t("peer_group"),
    "composite_score": st.column_config.NumberColumn(c.t("score"), format="%.2f"),
    "mark": "",
    **{f"c_{k}": st.column_config.NumberColumn(L.indicator(c.lang, k) + L.paren(c.lang, c.t("points")), format="%.2f")
       for k in keys},
    **{k: ui.rate_column(L.indicator(c.lang, k)) for k in RATES},
    "cases_completed": ui.count_column(L.indicator(c.lang, "cases_completed")),
    "ratings": ui.count_column(L.indicator(c.lang, "ratings")),
}


def rate_columns() -> list[pl.Expr]:
    return [(pl.col(k) * 100).round(2) for k in RATES]


def ranked_section() -> None:
    if ranked.height == 0:
        st.info(c.t("no_ranked"))
        return
    groups = ranked["peer_group"].unique().sort().to_list()
    shown = ranked
    if len(groups) > 1:
        own = c.scope.region_prefix.ljust(12, "0") if c.scope.region_prefix else ""
        options = ([own] if own in groups else []) + [g for g in groups if g != own] + [ALL_PEERS]
        names = dict(zip(ranked["peer_group"].to_list(), ranked["peer"].to_list()))
        chosen = st.selectbox(c.t("peer_group"), options, key=f"rank_peers_{level}",
                              format_func=lambda g: c.t("all_peer_groups") if g == ALL_PEERS else names.get(g, g))
        if chosen != ALL_PEERS:
            shown = ranked.filter(pl.col("peer_group") == chosen)
    chart = shown.tail(CHART_LIMIT) if shown.height > CHART_LIMIT else shown
    if shown.height > CHART_LIMIT:
        st.caption(L.tr(c.lang, f"图中为得分最低的 {CHART_LIMIT} 个单位；表格列出全部 {shown.height:,} 个",
                        f"The chart shows the {CHART_LIMIT} lowest scores; the table lists all {shown.height:,}"))
    st.markdown(f"##### {c.t('contributions')}")
    event = st.plotly_chart(charts.contributions(chart, keys, c.lang), on_select="rerun", selection_mode="points",
                            key=f"rank_chart_{level}_{c.filters.period}_{c.scope}_{shown.height}", config=charts.CONFIG)
    point = ui.select_point(event)
    if point and point.get("customdata"):
        drill(point["customdata"] if isinstance(point["customdata"], str) else point["customdata"][0])
    display = shown.select(
        "rank", "name", "group_code", "peer", pl.col("composite_score").round(2), mark(),
        *[(pl.col(f"c_{k}")).round(2).alias(f"c_{k}") for k in keys],
        *rate_columns(), "cases_completed", "ratings",
    )
    st.caption(c.t("select_row_hint"))
    selected = ui.table(display, f"rank_table_{level}_{c.filters.period}_{c.scope}_{shown.height}", COLUMNS, export="ranking")
    if selected is not None:
        drill(display["group_code"][selected])


def small_section() -> None:
    st.caption(c.t("small_sample_note").format(cases=settings.min_cases, ratings=settings.min_ratings)
               + (L.tr(c.lang, "（部分地区另有设定）", " (some offices set their own)") if settings.locality else ""))
    if small.height == 0:
        st.success(c.t("no_small"))
    else:
        display = small.select(
            "name", "group_code", "peer", "cases_completed", "ratings",
            *rate_columns(),
        )
        selected = ui.table(display, f"rank_small_{level}_{c.filters.period}_{c.scope}", COLUMNS, export="ranking-small-sample")
        if selected is not None:
            drill(display["group_code"][selected])
    if nothing.height:
        with st.expander(c.t("no_data_units").format(n=f"{nothing.height:,}")):
            st.write("、".join(n or g for n, g in zip(nothing["name"], nothing["group_code"])))


def talk_section() -> None:
    st.caption(c.t("talk_note").format(n=settings.bottom_min_peers,
                                       m=f"{getattr(settings, 'bottom_margin_points', 0):g}"))
    if talk.height == 0:
        st.success(c.t("no_talk"))
        return
    display = talk.select(
        "name", "group_code", "peer",
        pl.format("{} / {}", pl.col("rank"), pl.col("peers")).alias("rank_of"),
        pl.col("composite_score").round(2), *rate_columns(), "cases_completed", "ratings",
    )
    selected = ui.table(display, f"rank_talk_{level}_{c.filters.period}_{c.scope}", COLUMNS, export="talk-list")
    if selected is not None:
        drill(display["group_code"][selected])


labels = [c.t("ranked_tab") + L.paren(c.lang, f"{ranked.height:,}"), c.t("small_tab") + L.paren(c.lang, f"{small.height:,}"),
          c.t("talk_tab") + L.paren(c.lang, f"{talk.height:,}")]
if talk.height:
    labels[2] = f":red[{labels[2]}]"
tabs = st.tabs(labels, default=labels[0] if ranked.height or not small.height else labels[1])
with tabs[0]:
    ranked_section()
with tabs[1]:
    small_section()
with tabs[2]:
    talk_section()
