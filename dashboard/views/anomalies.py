"""异常评价 / Rating anomalies: the unit-days (window officer, hall device or channel, department, rater
pseudonym) whose rating behaviour in the period is most unlike their peers', with the evidence that made
them unusual (:mod:`models.anomaly`: IsolationForest and robust rules side by side).

For supervisory offices only: a department user sees a note, not the list (the leads are about its own
windows and raters; the office decides what to look at). Scoped like every page: an office sees the
unit-days of its subtree (a unit's score is the same in every scope: its peers are the whole province).
An anomaly is a prompt to look, never a sanction."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import ui
from dashboard import labels as L
from models import anomaly
from models import store as model_store

#: Unit-days listed (with their evidence).
SHOWN = 30

c = ui.ctx()
st.subheader(L.tr(c.lang, "异常评价", "Rating anomalies"))
st.caption(ui.scope_caption())
if c.base.role == "dept":
    st.info(L.tr(c.lang, "异常评价线索仅供监督机构查看。", "Rating-anomaly leads are for supervisory offices only."),
            icon=":material/policy:")
    st.stop()
try:
    model, manifest = model_store.load("anomaly", anomaly.FEATURE_VERSION, c.lang)
except (model_store.ModelMissing, model_store.ModelIncompatible) as exc:
    st.info(str(exc), icon=":material/policy:")
    st.stop()


# The cache keys: every argument is hashed (Streamlit leaves out the parameters named with a leading
# underscore, which once kept the window of a month until the server restarted, whatever arrived).
@st.cache_data(show_spinner=False, max_entries=4)
def _window(dsn: str, version: tuple, period: str, model_version: int) -> pl.DataFrame:
    """Every unit-day of the period, scored: the same for every scope (its peers are the whole province), so
    computed once per period and data version (:func:`dashboard.ui.version` by the hour: reading a month's
    ratings takes ~40 s at 10 M cases) and shared by every user and scope; each other scope then costs its
    ranking alone."""
    start, end = anomaly.window_for(period=period)
    return anomaly.window_scores(ui.warehouse(), model, start, end)


@st.cache_data(show_spinner=False, max_entries=16)
def _anomalies(dsn: str, version: tuple, period: str, model_version: int, lang: str, region_prefix: str,
               dept_code: str | None, by: str) -> pl.DataFrame:
    scored = anomaly.in_scope(_window(dsn, version, period, model_version), region_prefix, dept_code)
    return anomaly.ranked(scored, lang, by=by, evidence_top=SHOWN)


st.caption(L.tr(c.lang, "异常是提示关注的线索，不是处罚依据：繁忙的大厅、截止日前的集中办理同样“异常”。",
                "An anomaly is a prompt to look, never a sanction: a busy hall or a deadline day is unusual too."))
by = st.radio(L.tr(c.lang, "排序", "Rank by"), ["score", "rules"], horizontal=True, key="anomaly_by",
              format_func=lambda k: L.tr(c.lang, "孤立森林异常分", "IsolationForest score") if k == "score"
              else L.tr(c.lang, "稳健规则分", "robust-rule score"))
try:
    stamp = ui.version(every="hour")
    frame = _anomalies(ui._warehouse_key(), tuple(stamp), c.filters.period, manifest["version"], c.lang,
                       c.scope.region_prefix, c.scope.dept_code, by)
except ValueError as exc:  # a period the scoring window cannot take (e.g. outside the calendar)
    st.info(str(exc))
    st.stop()
tiles = st.columns(3)
tiles[0].metric(L.tr(c.lang, "评分单元日", "unit-days scored"), f"{frame.height:,}")
tiles[1].metric(L.tr(c.lang, "异常分 ≥ 0.6", "score ≥ 0.6"), f"{frame.filter(pl.col('score') >= 0.6).height:,}")
tiles[2].metric(L.tr(c.lang, "既有规则命中", "existing rules fired"),
                f"{frame.filter(pl.col('rules').list.len() > 0).height:,}")
if stamp.watermark:  # what the scores read: the arrivals as of the hour's first look
    st.caption(L.tr(c.lang, f"数据截至 {stamp.watermark[:16]}（每小时更新）",
                    f"Data as of {stamp.watermark[:16]} (updated hourly)"))
if frame.height == 0:
    st.success(L.tr(c.lang, f"本期没有评价数达 {anomaly.MIN_RATINGS} 条的单元日。",
                    f"No unit-day with {anomaly.MIN_RATINGS}+ ratings in this period."))
    st.stop()
top = frame.head(SHOWN)
kinds = {k: L.tr(c.lang, *v) for k, v in anomaly.UNIT_KINDS.items()}
dept_names = ui.names("dept")
display = top.select(
    pl.col("unit_kind").replace_strict(kinds, default=pl.col("unit_kind")),
    "unit_id",
    pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")).alias("dept"),
    pl.col("day").dt.strftime("%Y-%m-%d"),
    "score", "rule_score", "ratings",
    pl.col("evidence").list.eval(pl.element().struct.field("text")).list.join(L.tr(c.lang, "；", "; ")).alias("evidence"),
)
st.caption(L.tr(c.lang, f"最异常的 {top.height} 个单元日（模型 v{manifest['version']}，{manifest['trained_at'][:10]} 训练）；点击一行进入该部门",
                f"The {top.height} most unusual unit-days (model v{manifest['version']}, trained {manifest['trained_at'][:10]}); "
                "click a row to open its department"))
selected = ui.table(display, f"anomalies_{by}_{c.scope}_{c.filters}", {
    "unit_kind": L.tr(c.lang, "对象类型", "Unit"), "unit_id": L.tr(c.lang, "对象", "Id"), "dept": c.t("dept"),
    "day": L.tr(c.lang, "日期", "Day"),
    "score": st.column_config.NumberColumn(L.tr(c.lang, "异常分", "Score"), format="%.3f"),
    "rule_score": st.column_config.NumberColumn(L.tr(c.lang, "规则分", "Rule score"), format="%.1f"),
    "ratings": st.column_config.NumberColumn(L.tr(c.lang, "评价数", "Ratings"), format="%d"),
    "evidence": L.tr(c.lang, "证据", "Evidence"),
}, height=min(560, 38 + 35 * display.height), export="rating-anomalies")
if selected is not None:
    ui.go("drill", dept=top["dept_code"][selected])
