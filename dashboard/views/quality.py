"""数据质量 / Data quality: the inconsistent cases of the period (DOMAIN.md) for correction, per department.

An inconsistent case's own events contradict each other (completed or accepted before it was submitted,
completed before it was accepted): it cannot be timed, so it is left out of every case indicator
(``cases_completed`` too) and counted in ``inconsistent_cases``; here it is listed so that bad data neither
distorts a figure nor disappears. A case is listed for a period when its submission, acceptance or
completion falls in it (:func:`metrics.quality.inconsistent_cases`). Scoped like everything else: an office
sees its subtree, a department its own cases. Click a department to narrow to it, a case to open it."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, ui
from dashboard import labels as L
from metrics.quality import PROBLEMS, per_department

c = ui.ctx()


def department_moves() -> None:
    """Reference-data changes that move a department to another region (who, when, from what source)."""
    moves = ui.q("department_moves", c.scope)
    st.markdown(f"##### {c.t('dept_moves')}")
    if moves.height == 0:
        st.caption(c.t("no_dept_moves"))
        return
    names = ui.names("region")
    shown = moves.select(
        pl.col("changed_at").dt.strftime("%Y-%m-%d %H:%M"), "dept_code", "dept_name",
        pl.col("region_before").replace_strict(names, default=pl.col("region_before")),
        pl.col("region_after").replace_strict(names, default=pl.col("region_after")),
        "actor", "source")
    ui.table(shown, f"quality_moves_{c.scope}", {
        "changed_at": c.t("changed_at"), "dept_code": c.t("code"), "dept_name": c.t("dept"),
        "region_before": c.t("region_before"), "region_after": c.t("region_after"), "actor": c.t("changed_by"),
        "source": c.t("change_source")}, height=min(300, 38 + 35 * shown.height), export="department-moves")


def untimed() -> None:
    """Cases that cannot be timed: completed under an item the catalogue does not hold (no deadline)."""
    listed = ui.q("untimed_cases", c.scope, c.filters)
    st.markdown("##### " + L.tr(c.lang, f"无法计时的办件（{listed.height:,} 件）", f"Untimed cases ({listed.height:,})"))
    st.caption(L.tr(c.lang, "事项不在目录中，没有办理时限：计入办结量，不计入按时办结率（既非按时也非超期）；补录事项目录后即可计时。",
                    "Their item is not in the catalogue, so they have no deadline: counted as completed, left out of "
                    "the on-time rate (neither on time nor overdue); they are timed once the catalogue holds the item."))
    if listed.height == 0:
        return
    dept_names = ui.names("dept")
    shown = listed.select(
        "case_id", "item_code",
        pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")).alias("dept"),
        *[pl.col(k).dt.strftime("%Y-%m-%d %H:%M") for k in ("accepted_at", "completed_at")])
    selected = ui.table(shown, f"quality_untimed_{c.scope}_{c.filters}", {
        "case_id": c.t("case_id"), "item_code": c.t("item"), "dept": c.t("dept"),
        "accepted_at": c.t("accepted_at"), "completed_at": c.t("completed_at"),
    }, height=min(300, 38 + 35 * shown.height), export="quality-untimed")
    if selected is not None:
        ui.go("drill", case=shown["case_id"][selected])


ui.timed_page("quality")
st.caption(ui.scope_caption())
st.caption(c.t("quality_scope"))

cases = ui.q("inconsistent_cases", c.scope, c.filters)
counts = per_department(cases) if cases.height else pl.DataFrame(schema={"dept_code": pl.String, "cases": pl.UInt32})
tiles = st.columns(4)
tiles[0].metric(f":red[{L.indicator(c.lang, 'inconsistent_cases')}]" if cases.height else L.indicator(c.lang, "inconsistent_cases"),
                f"{cases.height:,}")
tiles[1].metric(c.t("depts_to_correct"), f"{counts.height:,}")
if cases.height == 0:
    st.success(c.t("no_inconsistent"))
    untimed()
    department_moves()
    st.stop()
st.info(c.t("quality_note"), icon=":material/fact_check:")

dept_names, item_names, region_names = ui.names("dept"), ui.names("item"), ui.names("region")
if not c.scope.dept_code:
    st.markdown(f"##### {c.t('by_dept')}")
    by_dept = counts.with_columns(name=pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")))
    if by_dept.height > 8:  # a chart of a few bars of one case each says nothing the table does not
        event = st.plotly_chart(
            charts.bars(by_dept.head(30), "cases", c.lang, code_col="dept_code", percent=False, color=charts.RED),
            on_select="rerun", selection_mode="points", key=f"quality_chart_{c.scope}_{c.filters}",
            config=charts.CONFIG)
        point = ui.select_point(event)
        if point and point.get("customdata"):
            ui.go("quality", dept=point["customdata"] if isinstance(point["customdata"], str) else point["customdata"][0])
    table = by_dept.select("dept_code", "name", "cases")
    selected = ui.table(table, f"quality_depts_{c.scope}_{c.filters}", {
        "dept_code": c.t("code"), "name": c.t("dept"),
        "cases": ui.count_column(L.indicator(c.lang, "inconsistent_cases")),
    }, height=min(360, 38 + 35 * table.height), export="quality-departments")
    if selected is not None:
        ui.go("quality", dept=table["dept_code"][selected])

st.markdown(f"##### {c.t('cases')}")
problem_words = {k: L.tr(c.lang, zh, en) for k, (zh, en) in PROBLEMS.items()}
display = cases.select(
    "case_id",
    pl.col("problem").replace_strict(problem_words, default=pl.col("problem")),
    pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")).alias("dept"),
    pl.col("item_code").replace_strict(item_names, default=pl.col("item_code")).alias("item"),
    pl.col("region_code").replace_strict(region_names, default=pl.col("region_code")).alias("region"),
    *[pl.col(k).dt.strftime("%Y-%m-%d %H:%M") for k in ("submitted_at", "accepted_at", "completed_at")],
)
st.caption(c.t("select_row_hint"))
selected = ui.table(display, f"quality_cases_{c.scope}_{c.filters}", {
    "case_id": c.t("case_id"), "problem": c.t("problem"), "dept": c.t("dept"), "item": c.t("item"),
    "region": c.t("region"), "submitted_at": c.t("submitted_at"), "accepted_at": c.t("accepted_at"),
    "completed_at": c.t("completed_at"),
}, height=min(460, 38 + 35 * display.height), export="quality-cases")
if selected is not None:
    ui.go("drill", case=display["case_id"][selected])

untimed()
department_moves()
