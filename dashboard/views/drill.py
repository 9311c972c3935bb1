"""逐级钻取 / Drill-down: region → department → item → case. Click a bar or a row to go one level down;
the breadcrumb goes back up; the URL keeps the place (``?region=…&dept=…&item=…&case=…``).

A case shows its whole timeline (clock stops shaded, the deadline drawn, trips marked), its figures, its
ratings and their follow-ups. Anything outside the user's scope shows 无权查看 / not permitted."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import charts, ui, urge_ui
from dashboard import labels as L
from hcp.scope import NotPermitted
from warehouse.client import SHANGHAI

TABLE_KEYS = ("cases_completed", "on_time_rate", "overdue_completed", "avg_net_working_days", "same_day_rate",
              "online_rate", "zero_trip_rate", "good_rate", "bad_count", "composite_score")
RATE_KEYS = ("on_time_rate", "same_day_rate", "online_rate", "zero_trip_rate", "max_one_trip_rate", "good_rate",
             "bad_rate", "rating_coverage", "bad_rectified_rate", "revisit_rate")

c = ui.ctx()
ui.timed_page("drill")
st.caption(ui.filters_caption())
region_names = ui.names("region")
dept_names = ui.names("dept")
item_names = ui.names("item")


def breadcrumb(item: str | None, case: str | None) -> None:
    """Buttons from the user's top level down to where we are."""
    steps: list[tuple[str, dict]] = []
    if c.base.role != "dept":
        top = c.base.region_prefix
        steps.append((region_names.get(top.ljust(12, "0"), c.t("province_all")) if top else c.t("province_all"),
                      {"region": "", "dept": ""}))
        prefix = c.scope.region_prefix
        for width in (2, 4, 6, 9):
            if len(top) < width <= len(prefix):
                code = prefix[:width].ljust(12, "0")
                steps.append((region_names.get(code, code), {"region": code, "dept": ""}))
    if c.scope.dept_code:
        region = ui.get("region")
        steps.append((dept_names.get(c.scope.dept_code, c.scope.dept_code), {"region": region, "dept": c.scope.dept_code}))
    if case:
        # A case: the full path to it from its own facts — province → city → county → department → item.
        detail = ui.q("case_detail", c.base, case)
        if detail is not None:
            facts = detail["facts"]
            steps = steps[:1] if c.base.role != "dept" else []
            code = facts["region_code"] or ""
            if c.base.role != "dept":
                top = c.base.region_prefix
                for prev, width in ((0, 2), (2, 4), (4, 6), (6, 9)):
                    # each level below the user's own that the case's region is in (a province department's
                    # region has zeros past the province: no city, no county)
                    if len(top) < width and code[prev:width].strip("0"):
                        level = code[:width].ljust(12, "0")
                        steps.append((region_names.get(level, level), {"region": level, "dept": ""}))
            dept = facts["dept_code"]
            steps.append((dept_names.get(dept, dept), {"dept": dept}))
            item = facts["item_code"]
        if item:
            steps.append((item_names.get(item, item), {"item": item, "case": "", **({"dept": facts["dept_code"]} if detail is not None else {})}))
        steps.append((f"{c.t('case')} {case}", {}))
    elif item:
        steps.append((item_names.get(item, item), {"item": item, "case": ""}))
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        for i, (label, target) in enumerate(steps):
            if i == len(steps) - 1:
                st.markdown(f"**{label}**", width="content")
            else:
                if st.button(label, key=f"crumb_{i}", type="tertiary", width="content"):
                    ui.go("drill", **{"item": "", "case": "", **target})
                st.markdown("›", width="content")


def unit_table(frame: pl.DataFrame, key: str) -> str | None:
    """Units with their main indicators; returns the code of a clicked row."""
    shown = ui.percent(frame.select("group_code", "name", *[k for k in TABLE_KEYS if k in frame.columns]), RATE_KEYS)
    columns = {"group_code": c.t("code"), "name": c.t("name")}
    for k in TABLE_KEYS:
        if k in RATE_KEYS:
            columns[k] = ui.rate_column(L.indicator(c.lang, k))
        elif k in ("avg_net_working_days", "composite_score"):
            columns[k] = st.column_config.NumberColumn(L.indicator(c.lang, k), format="%.2f")
        else:
            columns[k] = ui.count_column(L.indicator(c.lang, k))
    selected = ui.table(shown, key, columns)
    return shown["group_code"][selected] if selected is not None else None


def indicator_choice() -> str:
    options = ["on_time_rate", "online_rate", "zero_trip_rate", "good_rate", "rating_coverage", "bad_rate",
               "composite_score", "cases_completed"]
    return st.selectbox(c.t("indicator"), options, key="drill_indicator", format_func=lambda k: L.indicator(c.lang, k))


def _point_code(event) -> str | None:
    """The code (``customdata``) of the clicked bar of a chart selection event, if any."""
    point = ui.select_point(event)
    if point and point.get("customdata"):
        value = point["customdata"]
        return value if isinstance(value, str) else value[0]
    return None


def chart(frame: pl.DataFrame, indicator: str, key: str, colors: dict[str, str] | None = None,
          on_pick=None) -> str | None:
    """A bar chart of the units; returns the code of a clicked bar. With ``on_pick``, a click calls it with
    the code before the rerun (a drill-down then draws the level below in that one run, instead of drawing
    this level again and then rerunning)."""
    rate = indicator in RATE_KEYS
    target = ui.targets().get(indicator)
    fig = charts.bars(frame, indicator, c.lang, target=target, percent=rate, marker_colors=colors)

    def picked() -> None:
        code = _point_code(st.session_state.get(key))
        if code:
            on_pick(code)

    event = st.plotly_chart(fig, on_select=picked if on_pick else "rerun", selection_mode="points", key=key,
                            config=charts.CONFIG)
    return _point_code(event)


def units(frame: pl.DataFrame, indicator: str, kind: str, where: str, place: str, own: str | None = None) -> None:
    """A level's units as a bar chart of the indicator and a table; a click on a bar or a row goes down into
    that unit (``place``: the location key it sets — region, dept or item). ``own``: the code of the 本级
    row among them (its departments are listed below: a click on it goes nowhere)."""
    colors = {own: charts.GREY} if own else None

    def down(code: str) -> None:
        if code != own:
            ui.set_loc(**{place: code}, **({"dept": ""} if place == "region" else {}))
            st.session_state["_nav"] = True

    code = chart(frame, indicator, f"drill_{kind}_{where}_{indicator}_{c.filters}", colors, on_pick=down) or \
        unit_table(frame, f"drill_{kind}_table_{where}_{c.filters}")
    if code and code != own:
        ui.go("drill", **{place: code}, **({"dept": ""} if place == "region" else {}))


def _is_province(code: pl.Expr) -> pl.Expr:
    return code.str.slice(2).str.strip_chars("0") == ""


def region_level() -> None:
    """A region's sub-regions (cities of a province, counties of a city) and its own level (本级: the work of
    its own government's departments, in no sub-region) side by side, so that they add up to the region; then
    the departments of that own level."""
    prefix = c.scope.region_prefix
    width = len(prefix)
    child = {0: "region:city", 2: "region:city", 4: "region:county"}.get(width)
    indicator = indicator_choice()
    here = prefix.ljust(12, "0") if prefix else ""
    own_code = None
    if child:
        rows = ui.q("groups", c.scope, c.filters, child)
        own = ui.q("groups", c.scope, c.filters, "region:own")
        if own.height:
            own = own.filter(pl.col("group_code") == here if prefix else _is_province(pl.col("group_code")))
        if own.height:
            own = own.with_columns(name=pl.concat_str([pl.col("name"), pl.lit(c.t("own_row").format(name=""))]))
            own_code = own["group_code"][0] if own.height == 1 else None
            rows = pl.concat([rows, own.select(rows.columns)], how="vertical_relaxed") if rows.height else own
        if rows.height:
            st.markdown(f"##### {c.t('children_regions')}" + (f" · {c.t('own_level')}" if own.height else ""))
            if own.height:
                st.caption(c.t("own_hint"))
            units(rows, indicator, "regions", prefix, "region", own_code)
    depts = ui.q("groups", c.scope, c.filters, "dept")
    if depts.height:
        own_depts = ui.q("departments_in_scope", c.scope)
        if child:  # above the counties: only the departments of this region's own government
            region = pl.col("region_code")
            own_depts = own_depts.filter(region == here if prefix else _is_province(region))
        depts = depts.filter(pl.col("group_code").is_in(own_depts["dept_code"].implode()))
    if depts.height:
        title = c.t("own_departments").format(name=region_names.get(here, c.t("province_all"))) if child \
            else c.t("departments")
        st.markdown(f"##### {title}")
        units(depts, indicator, "depts", prefix, "dept")
    elif not child:
        st.info(c.t("no_data"))


def dept_level() -> None:
    dept = c.scope.dept_code
    st.markdown(f"#### {dept_names.get(dept, dept)}")
    row = ui.q("unit_row", c.scope, c.filters)
    if row:
        columns = st.columns(6)
        for column, key in zip(columns, ("cases_completed", "on_time_rate", "online_rate", "zero_trip_rate",
                                         "good_rate", "composite_score")):
            column.metric(L.indicator(c.lang, key), L.fmt_value(key, row.get(key)))
    items = ui.q("groups", c.scope, c.filters, "item")
    if items.height == 0:
        st.info(c.t("no_data"))
        return
    st.markdown(f"##### {c.t('items')}")
    units(items, indicator_choice(), "items", dept, "item")


def item_level(item: str) -> None:
    try:
        ui.q("check_item", c.scope, item)
    except NotPermitted:
        ui.not_permitted()
    st.markdown(f"#### {item_names.get(item, item)}{L.paren(c.lang, item)}")
    frame = ui.q("cases", c.scope, c.filters, item=item, limit=2000)
    if frame.height == 0:
        st.info(c.t("no_data"))
        return
    st.markdown(f"##### {c.t('period_item_cases')}")
    case_table(frame, f"drill_cases_{item}_{c.filters}")


def case_table(frame: pl.DataFrame, key: str) -> None:
    display = frame.select(
        "case_id",
        pl.col("state").replace_strict({k: L.pair(c.lang, L.STATES, k) for k in L.STATES}, default=pl.col("state")),
        L.column("channel", L.case_channel, c.lang),
        pl.col("accepted_at").dt.strftime("%Y-%m-%d %H:%M"),
        pl.col("completed_at").dt.strftime("%Y-%m-%d %H:%M"),
        pl.col("deadline").dt.strftime("%Y-%m-%d"),
        L.yes_no_column("on_time", c.lang, null="—"),
        "overdue_days", "net_working_days", "trips",
    )
    columns = {"case_id": c.t("case_id"), "state": c.t("state"), "channel": c.t("channel"),
               "accepted_at": c.t("accepted_at"), "completed_at": c.t("completed_at"), "deadline": c.t("deadline"),
               "on_time": c.t("on_time"), "overdue_days": c.t("overdue_days"), "net_working_days": c.t("net_days"),
               "trips": c.t("trips")}
    st.caption(c.t("select_row_hint"))
    selected = ui.table(display, key, columns)
    if selected is not None:
        ui.go("drill", case=display["case_id"][selected])


def case_level(case: str) -> None:
    detail = ui.q("case_detail", c.base, case)
    if detail is None:
        ui.not_permitted()
    facts = detail["facts"]
    st.markdown(f"#### {c.t('case')} {case} · {item_names.get(facts['item_code'], facts['item_code'])}")
    st.caption(" · ".join([dept_names.get(facts["dept_code"], facts["dept_code"]),
                           region_names.get(facts["region_code"], facts["region_code"]),
                           f"{c.t('channel')}: {L.case_channel(c.lang, facts['channel'])}"]))
    on_time = facts["on_time"]
    completed = facts["state"] == "completed"
    # Where the case stands now, in words: 已办结 / 超期 N 个工作日，未办结 / 剩余 N 个工作日 (working days on
    # the real calendar of its locality, as hcp flags counts them).
    text = ui.get("asof")
    try:
        now = dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI) if text else ui.default_instant()
    except ValueError:
        now = ui.default_instant()
    now = now.astimezone(SHANGHAI)
    over = left = None
    if completed:
        st.markdown(":green-badge[" + L.tr(c.lang, "已办结", "completed") + (
            f"（{L.tr(c.lang, '超期', 'overdue')} {facts['overdue_days']} {L.tr(c.lang, '个工作日', 'working days')}）"
            if facts["overdue_days"] else "") + "]")
    elif facts["state"] == "accepted" and facts["deadline"] is not None:
        calendar = ui.call("work_calendar")
        region = facts["region_code"] or ""
        today = now.date()
        if today > facts["deadline"]:
            over = calendar.working_days_between(facts["deadline"], today, region)
            st.markdown(":red-badge[:material/error: " + L.tr(c.lang, f"超期 {over} 个工作日，未办结",
                                                                 f"{over} working days overdue, not completed")
                        + f"] {c.t('as_of')} {now:%Y-%m-%d %H:%M}")
        else:
            left = calendar.working_days_between(today, facts["deadline"], region)
            st.markdown(":orange-badge[" + L.tr(c.lang, f"剩余 {left} 个工作日", f"{left} working days left")
                        + f"] {c.t('as_of')} {now:%Y-%m-%d %H:%M}")
    tiles = [
        (c.t("state"), L.pair(c.lang, L.STATES, facts["state"])),
        (c.t("deadline"), ui.local_day(facts["deadline"])),
        (c.t("on_time"), L.yes_no(c.lang, on_time) if completed else "—"),
        (c.t("overdue_days"), str(over) if over is not None else "—" if facts["overdue_days"] is None else str(facts["overdue_days"])),
        (c.t("net_days"), "—" if facts["net_working_days"] is None else str(facts["net_working_days"])),
        (c.t("trips"), str(facts["trips"])),
    ]
    if left is not None:
        tiles[2] = (c.t("days_left"), str(left))
    for column, (label, value) in zip(st.columns(len(tiles)), tiles):
        column.metric(label, value)
    urge_ui.history(c, case_id=case)  # 督办记录: who urged whom, when, and what followed
    if over is not None or (left is not None and left <= ui.warning_days()):  # a red or yellow case
        urge_ui.form(c, case_id=case)
    result = f" · {L.tr(c.lang, '办理结果', 'result')}: {L.pair(c.lang, L.RESULTS, facts['result'])}" if facts["result"] else ""
    st.caption(f"{c.t('accepted_at')}: {ui.local_time(facts['accepted_at'])} · {c.t('completed_at')}: "
               f"{ui.local_time(facts['completed_at'])} · {c.t('promised')}: {facts['promised_limit_days'] if facts['promised_limit_days'] is not None else '—'}"
               + (f" · {c.t('clock_stop')}: {facts['stopped_days']}" if facts["stopped_days"] else "") + result)
    events = detail["events"]
    st.markdown(f"##### {c.t('timeline')}")
    st.plotly_chart(charts.timeline(events, detail["stops"], facts["deadline"], c.lang, None if completed else now), key=f"timeline_{case}",
                    config=charts.CONFIG)
    ui.dataframe(events.select(
        L.column("event_type", L.event_type, c.lang).alias(c.t("event")),
        pl.col("event_time").dt.strftime("%Y-%m-%d %H:%M").alias(c.t("time")),
        L.yes_no_column("onsite", c.lang, no="").alias(c.t("onsite")),
        pl.when(pl.col("channel") == "").then(pl.lit("")).otherwise(L.column("channel", L.case_channel, c.lang))
        .alias(c.t("channel")),
        pl.col("staff_id").alias(c.t("staff")),
        pl.concat_str([pl.col("applicant_name_masked"), pl.col("applicant_phone_masked")], separator=" ")
        .str.strip_chars().alias(c.t("applicant")),
    ))
    ratings = detail["ratings"]
    if ratings.height:
        st.markdown(f"##### {c.t('rating')}")
        ui.dataframe(ratings.select(
            pl.col("rating_id").alias(c.t("rating_id")),
            L.column("level", L.rating_level, c.lang).alias(c.t("level")),
            L.column("channel", L.rating_channel, c.lang).alias(c.t("channel")),
            pl.col("rated_at").dt.strftime("%Y-%m-%d %H:%M").alias(c.t("rated_at")),
            L.yes_no_column("real_name", c.lang).alias(c.t("real_name")),
            pl.when(pl.col("default_rating")).then(pl.lit(L.tr(c.lang, "默认好评", "default"))).otherwise(pl.lit(""))
            .alias(L.tr(c.lang, "默认", "default")),
            pl.col("comment").alias(c.t("comment")),
        ))
        followups = detail["followups"]
        if followups.height:
            st.markdown(f"##### {c.t('followups')}")
            ui.dataframe(followups.select(pl.col("rating_id").alias(c.t("rating_id")), *ui.followup_columns(c)))


case = ui.get("case")
item = ui.get("item")
breadcrumb(item, case)
if case:
    case_level(case)  # a case is shown whatever the period
elif not ui.period_notes():
    pass
elif item:
    item_level(item)
elif c.scope.dept_code:
    dept_level()
else:
    region_level()
