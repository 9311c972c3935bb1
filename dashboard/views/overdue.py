"""超期监督 / Overdue watch: open cases that are red (overdue) or yellow (due soon) as of an instant — the
engine's `hcp flags` restricted to the scope — and the overdue completed cases of the period. Click a row
to open the case; click a department's bar to narrow to it."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import charts, ui, urge_ui
from dashboard import labels as L
from hcp.periods import InstantError, parse_instant
from models.risk import watch_threshold
from models.store import current_version
from warehouse.client import SHANGHAI

c = ui.ctx()
ui.timed_page("overdue")
st.caption(ui.scope_caption())


text = ui.get("asof")
try:  # the CLI's parser: ISO 8601, inside the working-day calendar (a crafted ?asof=0001-01-01 is ignored)
    as_of = parse_instant(text) if text else ui.default_instant()
except InstantError:
    as_of = ui.default_instant()
as_of = as_of.astimezone(SHANGHAI).replace(second=0, microsecond=0)

left, right, _ = st.columns([1, 1, 3])
st.session_state["w_asof_day"] = as_of.date()
st.session_state["w_asof_time"] = as_of.time().replace(tzinfo=None)


def instant_changed() -> None:
    chosen = dt.datetime.combine(st.session_state["w_asof_day"], st.session_state["w_asof_time"])
    ui.set_loc(asof=chosen.strftime("%Y-%m-%dT%H:%M"))


left.date_input(f"{c.t('as_of')}", key="w_asof_day", on_change=instant_changed)
right.time_input(" ", key="w_asof_time", on_change=instant_changed, step=dt.timedelta(minutes=30))

flags = ui.q("open_flags", c.scope, c.filters, as_of, ui.warning_days())
# 可能超期: the overdue-risk model's third state (neither red nor yellow, risk ≥ [models.risk] watch_threshold).
threshold = watch_threshold()
watch = ui.q("likely_overdue", c.scope, c.filters, as_of, ui.warning_days(), threshold, current_version("risk"), c.lang)
likely = watch["cases"]
red = flags.filter(pl.col("flag") == "red").height
tiles = st.columns(4)
tiles[0].metric(f":red[{c.t('red')}]", f"{red:,}")
tiles[1].metric(f":orange[{c.t('yellow')}]", f"{flags.height - red:,}")
tiles[2].metric(f":violet[{c.t('likely')}]", f"{likely.height:,}" if watch["status"] == "ok" else "—")
overdue_total = ui.q("count_cases", c.scope, c.filters, overdue_only=True)
tiles[3].metric(c.t("overdue_completed_title"), f"{overdue_total:,}")

st.markdown(f"##### {c.t('open_flags_title')} · {c.t('as_of')} {as_of:%Y-%m-%d %H:%M}")
if flags.height == 0:
    st.success(c.t("none_flagged"))
else:
    dept_names, item_names, region_names = ui.names("dept"), ui.names("item"), ui.names("region")
    if not c.scope.dept_code:
        states = pl.concat([flags.select("dept_code", "flag"),
                            likely.select("dept_code", flag=pl.lit("likely")) if likely.height else flags.clear().select("dept_code", "flag")])
        counts = states.group_by("dept_code", "flag").len("n").with_columns(
            name=pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")))
        worst = counts.group_by("dept_code").agg(pl.col("n").sum()).sort("n", descending=True).head(20)["dept_code"]
        event = st.plotly_chart(charts.flag_counts(counts.filter(pl.col("dept_code").is_in(worst.implode())), c.lang),
                                on_select="rerun", selection_mode="points", key=f"flags_chart_{c.scope}_{as_of}",
                                config=charts.CONFIG)
        point = ui.select_point(event)
        if point and point.get("customdata"):
            ui.go("overdue", dept=point["customdata"] if isinstance(point["customdata"], str) else point["customdata"][0])
    # As hcp flags orders them: red first (most working days over first), then yellow (fewest left first);
    # days over and days left in two numeric columns (sortable; "—" where one does not apply); each row's
    # card cell in its colour. A long list shows its most urgent rows; the download has all.
    display = flags.select(
        "case_id",
        pl.col("flag").replace_strict({k: L.pair(c.lang, L.FLAGS, k) for k in L.FLAGS}),  # the row colour shows it
        pl.col("deadline").dt.strftime("%Y-%m-%d"),
        pl.when(pl.col("flag") == "red").then(pl.col("overdue_working_days")).alias("days_over"),
        pl.when(pl.col("flag") != "red").then(pl.col("working_days_left")).alias("days_left"),
        pl.col("case_id").replace_strict(urge_ui.open_counts(c), default=None, return_dtype=pl.UInt32).alias("urged"),
        pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")).alias("dept"),
        pl.col("item_code").replace_strict(item_names, default=pl.col("item_code")).alias("item"),
        pl.col("region_code").replace_strict(region_names, default=pl.col("region_code")).alias("region"),
        pl.col("accepted_at").dt.strftime("%Y-%m-%d %H:%M"),
    )
    st.caption(c.t("select_row_hint"))
    selected = ui.table(display, f"flags_table_{c.scope}_{as_of}_{c.filters}", {
        "case_id": c.t("case_id"), "flag": L.tr(c.lang, "红黄牌", "Card"), "deadline": c.t("deadline"),
        "days_over": st.column_config.NumberColumn(c.t("overdue_days"), format="%d"),
        "days_left": st.column_config.NumberColumn(c.t("days_left"), format="%d"), "dept": c.t("dept"),
        "urged": st.column_config.NumberColumn(L.tr(c.lang, "督办未回应", "Urges open"), format="%d"),
        "item": c.t("item"), "region": c.t("region"), "accepted_at": c.t("accepted_at"),
    }, height=min(420, 38 + 35 * display.height), states=flags["flag"], state_column="flag", export="flags",
        order=c.t("order_flags"))
    if selected is not None:
        ui.go("drill", case=display["case_id"][selected])

st.markdown(f"##### {c.t('likely_title')} · {c.t('as_of')} {as_of:%Y-%m-%d %H:%M}")
if watch["status"] != "ok":  # no model (yet), or one that cannot be used: one line, no error
    st.caption(L.tr(c.lang, f"不显示“可能超期”：{watch['message']}", f"'Likely to go overdue' is not shown: {watch['message']}"))
else:
    st.caption(L.tr(c.lang, f"尚未红黄牌、超期风险模型（v{watch['model_version']}）预测超期概率 ≥ {threshold:.0%} 的在办件。"
                            "风险分是提示关注的线索，不是处罚依据。",
                    f"Open cases neither red nor yellow that the overdue-risk model (v{watch['model_version']}) gives a "
                    f"probability of going overdue of {threshold:.0%} or more. A risk score is a prompt to look, never a sanction."))
    if likely.height == 0:
        st.success(c.t("none_likely"))
    else:
        dept_names, item_names, region_names = ui.names("dept"), ui.names("item"), ui.names("region")
        display = likely.select(
            "case_id",
            (pl.col("risk") * 100).round(0).alias("risk"),
            pl.col("working_days_left").alias("days_left"),
            pl.col("deadline").dt.strftime("%Y-%m-%d"),
            "factor_words",
            pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")).alias("dept"),
            pl.col("item_code").replace_strict(item_names, default=pl.col("item_code")).alias("item"),
            pl.col("region_code").replace_strict(region_names, default=pl.col("region_code")).alias("region"),
        )
        selected = ui.table(display, f"likely_table_{c.scope}_{as_of}_{c.filters}", {
            "case_id": c.t("case_id"), "risk": st.column_config.NumberColumn(c.t("risk"), format="%d%%"),
            "days_left": st.column_config.NumberColumn(c.t("days_left"), format="%d"), "deadline": c.t("deadline"),
            "factor_words": c.t("main_factors"), "dept": c.t("dept"), "item": c.t("item"), "region": c.t("region"),
        }, height=min(420, 38 + 35 * display.height), states=pl.Series(["likely"] * display.height),
            state_column="risk", export="likely-overdue", order=c.t("order_risk"))
        if selected is not None:
            ui.go("drill", case=display["case_id"][selected])

st.markdown(f"##### {c.t('overdue_completed_title')}{L.paren(c.lang, ui.period_label(c.filters.period))}")
# Every one of them (the tile's count): the table shows the most overdue, the download has them all.
done = ui.q("cases", c.scope, c.filters, overdue_only=True, limit=max(overdue_total, 1))
if done.height == 0:
    st.success(c.t("none_overdue"))
else:
    dept_names, item_names = ui.names("dept"), ui.names("item")
    display = done.select(
        "case_id",
        pl.col("overdue_days"),
        pl.col("deadline").dt.strftime("%Y-%m-%d"),
        pl.col("completed_at").dt.strftime("%Y-%m-%d %H:%M"),
        pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")).alias("dept"),
        pl.col("item_code").replace_strict(item_names, default=pl.col("item_code")).alias("item"),
        pl.col("net_working_days"),
    )
    selected = ui.table(display, f"overdue_done_{c.scope}_{c.filters}", {
        "case_id": c.t("case_id"), "overdue_days": st.column_config.NumberColumn(c.t("overdue_days"), format="%d"),
        "deadline": c.t("deadline"), "completed_at": c.t("completed_at"), "dept": c.t("dept"), "item": c.t("item"),
        "net_working_days": c.t("net_days"),
    }, height=min(420, 38 + 35 * display.height), export="overdue-completed", order=c.t("order_overdue_days"))
    if selected is not None:
        ui.go("drill", case=display["case_id"][selected])
