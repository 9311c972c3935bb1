"""事项目录 / Catalogue: per department, the items in force at the period's end by online-handling depth,
immediate items and zero-trip declarations, against the targets (depth ≥ 3 ≥ 90%, immediate ≥ 30%,
zero-trip ≥ 90%). Click a department to list its items."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, ui
from dashboard import labels as L

KEYS = ("depth3plus_item_rate", "immediate_item_rate", "zero_trip_item_rate")

c = ui.ctx()
ui.timed_page("catalogue")
st.caption(ui.scope_caption())
if not ui.period_notes():
    st.stop()
targets = ui.targets()

row = ui.q("unit_row", c.scope, c.filters)
if row is not None:
    tiles = st.columns(5)
    tiles[0].metric(L.tr(c.lang, "事项数", "items"), L.fmt_value("items", row.get("items")))
    for column, key in zip(tiles[1:], (*KEYS, "limit_compression")):
        column.metric(L.indicator(c.lang, key), L.fmt_value(key, row.get(key)))
        if key in targets and row.get(key) is not None:
            met = row[key] >= targets[key]
            verdict = f":green[{c.t('met')}]" if met else f":red[{c.t('missed')}]"
            column.caption(f"{verdict} · {c.t('target')} ≥ {L.fmt_value(key, targets[key])}")

depts = ui.q("groups", c.scope, c.filters, "dept")
if depts.height:
    depts = depts.filter(pl.col("items") > 0).sort("group_code")
if depts.height == 0:
    st.info(c.t("no_data"))
    st.stop()

if not c.scope.dept_code:
    st.markdown(f"##### {c.t('by_dept')}")
    event = st.plotly_chart(charts.grouped_rates(depts.head(40), list(KEYS), c.lang, targets), on_select="rerun",
                            selection_mode="points", key=f"catalogue_chart_{c.scope}_{c.filters}",
                            config=charts.CONFIG)
    point = ui.select_point(event)
    if point and point.get("customdata"):
        ui.go("catalogue", dept=point["customdata"] if isinstance(point["customdata"], str) else point["customdata"][0])
    display = ui.percent(depts.select("group_code", "name", "items", *KEYS, "limit_compression"),
                         [*KEYS, "limit_compression"])
    selected = ui.table(display, f"catalogue_table_{c.scope}_{c.filters}", {
        "group_code": c.t("code"), "name": c.t("name"), "items": ui.count_column(L.tr(c.lang, "事项数", "items")),
        **{k: ui.rate_column(L.indicator(c.lang, k)) for k in (*KEYS, "limit_compression")},
    })
    if selected is not None:
        ui.go("catalogue", dept=display["group_code"][selected])
else:
    dept = c.scope.dept_code
    st.markdown(f"##### {ui.names('dept').get(dept, dept)} · {c.t('items')}")
    items = ui.q("catalogue_items", c.scope, c.filters, dept)
    display = items.select(
        "item_code", "item_name",
        L.column("item_type", L.item_type, c.lang),
        "online_depth",
        pl.col("promised_limit_days"), pl.col("legal_limit_days"), pl.col("max_trips"),
        L.yes_no_column(pl.col("online_depth") >= 3, c.lang).alias("depth3"),
        L.yes_no_column(pl.col("promised_limit_days") == 0, c.lang).alias("immediate"),
        L.yes_no_column(pl.col("max_trips") == 0, c.lang).alias("zero_trip"),
    )
    ui.dataframe(display, column_config={
        "item_code": c.t("code"), "item_name": c.t("name"), "item_type": c.t("item_type"),
        "online_depth": c.t("depth"), "promised_limit_days": c.t("promised"), "legal_limit_days": c.t("legal"),
        "max_trips": c.t("max_trips"), "depth3": L.tr(c.lang, "深度≥3", "depth ≥ 3"),
        "immediate": c.t("immediate"), "zero_trip": c.t("zero_trip_item"),
    })
    if c.base.role != "dept" and st.button(c.t("up"), key="catalogue_up"):
        ui.go("catalogue", dept="")
