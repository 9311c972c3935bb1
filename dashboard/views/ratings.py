"""差评整改 / Bad ratings: the queue of the bad-rating loop (state, due dates, overdue steps, channel,
verified cause, comment) from :mod:`supervision`, and the form to record the next step. A department records
verification, rectification, explanation, feedback, revisit and appeals on its own ratings; the supervisory
office decides appeals. Every action is checked by the loop's state machine before it is stored."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import ui, urge_ui
from dashboard import labels as L
from dashboard.data import actions_for
from hcp.scope import NotPermitted
from hcp.domain import REASON_CATEGORIES
from hcp.indicators import bad_done_within_limit
from models.store import current_version
from supervision.actions import ACTION_NEEDS
from supervision.loop import STATES, STEPS, ActionRefused
from supervision.queues import department_view, office_view
from warehouse.client import SHANGHAI

c = ui.ctx()
ui.timed_page("ratings")
st.caption(ui.scope_caption())
# The loop is worked now: actions are recorded at the present instant, so the page is read as of now (rounded up
# to the next minute: it includes what was just recorded).
now = dt.datetime.now(SHANGHAI)
as_of = (now + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
# The queue itself is read as of the end of today: its steps fall due by the day (supervision.loop.with_status
# judges them on the date), and whatever is recorded changes the data stamp its cache is keyed on. So it is read
# again when the data or the day changes, not each minute (the province's 71,523 bad ratings at 10 M cases:
# 3.2 s on every click after the minute turned).
queue_as_of = dt.datetime.combine(now.date(), dt.time(23, 59, 59, 999000), SHANGHAI)
is_dept = c.base.role == "dept"
# 督办 first: what an office urged and the department has not answered yet (supervision.urges).
if urge_ui.open_panel(c, as_of):
    st.divider()

# The period's bad ratings against their rectification limit: hcp metrics's figures (bad_due, 逾期未整改 in
# red, 整改中 neutral with the working days left), due-ness judged when they were computed.
PERIOD_KEYS = ("bad_count", "bad_due", "bad_overdue_unrectified", "bad_in_progress", "bad_rectified_due_rate",
               "bad_rectified_on_time_due_rate")
status = None
if ui.period_has_data():
    period_row = ui.q("unit_row", c.scope, c.filters)
    if period_row is not None and period_row.get("rank_status") != "no_data":
        st.markdown(f"##### {c.t('period_bad_ratings')} · {ui.period_label(c.filters.period)}")
        status = ui.q("bad_rectification", c.scope, c.filters)
        days_left = status.filter(pl.col("status") == "in_progress")["working_days_left"].drop_nulls()
        for column, key in zip(st.columns(len(PERIOD_KEYS)), PERIOD_KEYS):
            value = period_row.get(key)
            label = L.indicator(c.lang, key)
            column.metric(f":red[{label}]" if key == "bad_overdue_unrectified" and value else label,
                          L.fmt_value(key, value))
            if key == "bad_in_progress" and value and days_left.len():
                a, b = int(days_left.min()), int(days_left.max())
                column.caption(c.t("days_left_one").format(a=a) if a == b else c.t("days_left_range").format(a=a, b=b))
            if key == "bad_rectified_due_rate" and period_row.get("bad_assessed_n"):
                # The rate's base is more than the due tile when some were rectified early: say so, as the bulletin does.
                n, due = int(period_row["bad_assessed_n"]), int(period_row.get("bad_due") or 0)
                column.caption(c.t("due_rate_base").format(n=f"{n:,}", due=f"{due:,}",
                                                            early=f"{bad_done_within_limit(period_row):,}"))
        if status.height:
            st.caption(c.t("due_as_of").format(day=f"{status['as_of'][0]:%Y-%m-%d}"))
        st.divider()

views = ["queue", "period"]
view_names = {"queue": L.tr(c.lang, "待办队列（未闭环）" if is_dept else "督办队列（未闭环）", "Open loops (queue)"),
              "period": L.tr(c.lang, f"本期差评（{c.filters.period}）", f"Bad ratings of {c.filters.period}")}
left, right = st.columns([3, 2])
view = left.radio(c.t("bad_queue"), views, horizontal=True, format_func=view_names.get, key="ratings_view")
overdue_only = (not is_dept) and view == "queue" and right.toggle(L.tr(c.lang, "只看超期", "overdue only"),
                                                                   key="ratings_overdue_only")

loop = ui.q("loop_rows", c.scope, c.filters, queue_as_of, period_only=(view == "period"))
if loop.height == 0:
    st.info(c.t("no_data"))
    st.stop()

if view == "queue":
    rows = department_view(loop) if is_dept else office_view(loop, overdue_only=overdue_only)
    rows = rows.join(loop.select("rating_id", "reason_category", "comment"), on="rating_id", how="left")
    # Urged steps first (in the queue's order among themselves), then the rest as the queue sorts them.
    rows = (rows.join(urge_ui.open_on_ratings(c, as_of), on="rating_id", how="left")
            .with_row_index("_pos").sort(pl.col("urges").is_null(), "_pos").drop("_pos"))
else:
    # Most urgent first, as the queue: open loops by their next step's due date (overdue ones have the earliest),
    # closed ones last; then by rating time.
    rows = loop.sort("due_date", "rated_at", "rating_id", nulls_last=True)
    if status is not None and status.height:
        done_late = pl.col("rectified") & ~pl.col("rectified_on_time")
        words = status.select(
            "rating_id",
            rectify_status=pl.when(pl.col("status") == "not_counted").then(pl.lit(c.t("not_counted_status")))
            .when(done_late).then(pl.lit(c.t("rectified_late_status")))
            .when(pl.col("status") == "rectified").then(pl.lit(c.t("rectified_status")))
            .when(pl.col("status") == "overdue").then(pl.lit("🔴 " + c.t("overdue_unrectified_status")))
            .otherwise(pl.format(c.t("in_progress_left").replace("{n}", "{}"), pl.col("working_days_left"))),
            rectify_due=pl.col("due_date").dt.strftime("%Y-%m-%d"),
        )
        rows = rows.join(words, on="rating_id", how="left")

# The complaint-cause model's suggestion (models.cause; a trained model only) for every listed rating not yet
# verified: shown in the queue and pre-filled in the 核实 form, where the department confirms or corrects it.
cause_model = current_version("cause")
unverified = pl.col("reason_category").fill_null("") == ""
waiting = tuple(rows.filter(unverified)["rating_id"].to_list())  # a verified rating's cause is known
rows = rows.join(ui.q("cause_suggestions", c.scope, waiting, cause_model, c.lang), on="rating_id", how="left")
suggestion_text = (
    pl.when(unverified & (pl.col("predicted_basis") == "model"))
    .then(pl.format("{} {}%", L.column("predicted_cause", L.reason, c.lang),
                    (pl.col("predicted_confidence") * 100).round(0).cast(pl.Int64)))
    .when(unverified & (pl.col("predicted_basis") == "rule")).then(pl.lit(L.tr(c.lang, "（无有效内容）", "(says nothing)"))))

open_steps = loop.filter(pl.col("next_step").is_not_null())
tiles = st.columns(4)
tiles[0].metric(L.tr(c.lang, "未闭环", "open loops"), f"{open_steps.height:,}")
tiles[1].metric(L.tr(c.lang, "环节超期", "overdue steps"), f"{open_steps.filter(pl.col('overdue')).height:,}")
tiles[2].metric(L.tr(c.lang, "申诉待审核", "appeals pending"), f"{loop.filter(pl.col('state') == 'appealed').height:,}")
tiles[3].metric(L.tr(c.lang, "已闭环", "closed"), f"{loop.filter(pl.col('state') == 'closed').height:,}")
st.caption(f"{c.t('as_of')} {as_of:%Y-%m-%d %H:%M}")

if rows.height == 0:
    st.success(L.tr(c.lang, "队列为空", "The queue is empty"))
else:
    dept_names = ui.names("dept")
    state_label = {k: L.tr(c.lang, *v) for k, v in STATES.items()}
    step_label = {k: L.tr(c.lang, *v) for k, v in STEPS.items()}
    # Where each step stands first (days over / left as two sortable numbers, the state, the next step and its
    # due date, an open urge), then which rating it is; the descriptive columns only on request, so the
    # overdue column is never off-screen to the right.
    all_columns = st.toggle(L.tr(c.lang, "显示全部列", "All columns"), key="loop_all_columns")
    urged = "urges" in rows.columns
    key_columns = [
        pl.when(pl.col("overdue")).then(pl.col("overdue_working_days")).alias("days_over"),
        pl.when(~pl.col("overdue")).then(pl.col("working_days_left")).alias("days_left"),
        pl.col("state").replace_strict(state_label, default=pl.col("state")),
        pl.col("next_step").replace_strict(step_label, default=pl.lit("—")),
        pl.col("due_date").dt.strftime("%Y-%m-%d"),
        *([pl.when(pl.col("urges") > 1).then(pl.format(L.tr(c.lang, "再次督办（{}）", "urged again ({})"), pl.col("urges")))
           .when(pl.col("urges").is_not_null()).then(pl.lit(L.tr(c.lang, "督办", "urged"))).alias("urged")] if urged else []),
        # The period's view: where each rating stands against its rectification limit.
        *([pl.col("rectify_status"), pl.col("rectify_due")] if "rectify_status" in rows.columns else []),
        "rating_id", "case_id",
        pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")).alias("dept"),
        L.column("level", L.rating_level, c.lang),
        *([suggestion_text.alias("predicted")] if cause_model is not None else []),
    ]
    more_columns = [
        L.column("channel", L.rating_channel, c.lang),
        pl.col("rated_at").dt.strftime("%Y-%m-%d %H:%M"),
        L.column("reason_category", L.reason, c.lang).fill_null(L.reason(c.lang, "")),
        pl.col("comment"),
    ]
    display = rows.select(*key_columns, *(more_columns if all_columns else []))
    st.caption(L.tr(c.lang, "点击一行查看处置记录并登记下一步", "Click a row to see its history and record the next step"))
    selected = ui.table(display, f"loop_table_{view}_{overdue_only}_{all_columns}_{c.scope}_{c.filters}", {
        "rating_id": L.tr(c.lang, "评价编号", "Rating"), "case_id": c.t("case_id"), "dept": c.t("dept"),
        "level": c.t("level"), "channel": L.tr(c.lang, "评价渠道", "Rating channel"), "rated_at": c.t("rated_at"),
        "state": c.t("loop_state"), "next_step": L.tr(c.lang, "下一步", "Next step"), "due_date": c.t("due"),
        "days_over": st.column_config.NumberColumn(c.t("overdue_days"), format="%d"),
        "days_left": st.column_config.NumberColumn(c.t("days_left"), format="%d"),
        "urged": L.tr(c.lang, "督办", "Urged"), "reason_category": c.t("reason"),
        "rectify_status": c.t("bad_status"), "rectify_due": c.t("rectify_due"),
        "comment": c.t("comment"), "predicted": L.tr(c.lang, "模型建议原因", "Suggested cause"),
    }, height=min(460, 38 + 35 * display.height), export="bad-ratings",
        states=rows["overdue"].fill_null(False).replace_strict({True: "red"}, default="", return_dtype=pl.String),
        state_column="days_over", order=c.t("order_queue" if view == "queue" else "order_loops"))
    if selected is not None and display["rating_id"][selected] != ui.get("rating"):
        ui.set_loc(rating=display["rating_id"][selected])
        st.rerun()

rating_id = ui.get("rating")
if rating_id:
    st.divider()
    try:
        detail = ui.call("loop_detail", c.base, rating_id, as_of)
    except (NotPermitted, ActionRefused):  # another unit's rating, or one that does not exist
        ui.not_permitted()
    status = detail["status"]
    st.markdown(f"##### {L.tr(c.lang, '评价', 'Rating')} {rating_id} · {L.tr(c.lang, *STATES[status['state']])}")
    info = [
        f"{c.t('case_id')}: {status.get('case_id') or '—'}",
        f"{c.t('level')}: {L.rating_level(c.lang, status['level'])}",
        f"{c.t('rated_at')}: {ui.local_time(status.get('rated_at'))}",
    ]
    if status.get("next_step"):
        info.append(f"{L.tr(c.lang, '下一步', 'next step')}: {L.tr(c.lang, *STEPS[status['next_step']])}"
                    + L.paren(c.lang, f"{c.t('due')} {ui.local_day(status.get('due_date'))}"))
    st.caption(" · ".join(info))
    if status.get("case_id"):
        if st.button(c.t("open_case"), key="loop_open_case"):
            ui.go("drill", case=status["case_id"])
    history = detail["history"]
    if history.height:
        ui.dataframe(history.select(ui.followup_columns(c)))
    urge_ui.history(c, rating_id=rating_id)
    if status.get("overdue") and status.get("next_owner") == "dept":  # an overdue step the department owes
        urge_ui.form(c, rating_id=rating_id)
    allowed = [a for a in status.get("allowed_actions", []) if a in actions_for(c.base.role)]
    if allowed:
        # The form asks for exactly what the chosen action needs (supervision.actions.ACTION_NEEDS): the cause
        # only with 核实, a required note with 整改/解释说明/申诉, an optional one otherwise. No action is
        # pre-selected (after a step the selector is back on "请选择…"), and the line above 提交 says what
        # will be recorded. Plain widgets, not st.form: the fields follow the chosen action.
        st.markdown(f"**{c.t('record_action')}**")
        action = st.selectbox(c.t("action"), allowed, index=None, placeholder=L.tr(c.lang, "请选择…", "Choose…"),
                              format_func=lambda a: L.action(c.lang, a), key="loop_action")
        need = ACTION_NEEDS.get(action, (None,))[0] if action else None
        reason = None
        if action == "verified":
            # Pre-filled with the model's suggestion (not when the text says nothing): the department confirms or
            # corrects it, and what it records is the verified cause — training data for the next model.
            hint = ui.q("cause_suggestions", c.scope, (rating_id,), cause_model, c.lang)
            hint = hint.row(0, named=True) if hint.height else None
            prefill = hint is not None and hint["predicted_basis"] == "model"
            reason = st.selectbox(c.t("reason") + L.tr(c.lang, "（必填）", " (required)"), list(REASON_CATEGORIES),
                                  index=list(REASON_CATEGORIES).index(hint["predicted_cause"]) if prefill else None,
                                  placeholder=L.tr(c.lang, "请选择…", "Choose…"),
                                  format_func=lambda r: L.reason(c.lang, r), key="loop_reason")
            if prefill:
                st.caption(L.tr(c.lang, f"模型建议：{L.reason(c.lang, hint['predicted_cause'])}（置信度 {hint['predicted_confidence']:.0%}），"
                                        "请确认或改选；您选择的原因即为核实结论",
                                f"Suggested by the model: {L.reason(c.lang, hint['predicted_cause'])} (confidence "
                                f"{hint['predicted_confidence']:.0%}); confirm or correct it — what you choose is the verified cause"))
            elif hint is not None:
                st.caption(L.tr(c.lang, "评价内容无有效信息，模型不作建议，请按核实情况选择",
                                "The rating's text says nothing: no suggestion, choose what verification found"))
        note = ""
        if action:
            note_label = c.t("note") + (L.tr(c.lang, "（必填）", " (required)") if need == "note"
                                        else L.tr(c.lang, "（选填）", " (optional)"))
            note = st.text_area(note_label, key="loop_note", max_chars=2000).strip()
            summary = [L.action(c.lang, action)]
            if action == "verified":
                summary.append(f"{c.t('reason')}：{L.reason(c.lang, reason) if reason else '—'}")
            summary.append(f"{c.t('note')}：{note or '—'}")
            st.caption(L.tr(c.lang, "将记录：", "Will record: ") + " · ".join(summary))
        submitted = st.button(c.t("submit"), type="primary", key="loop_submit", disabled=not action)
        if submitted and action:
            actor = f"{c.user.username}" + (f"（{c.user.name}）" if c.user.name else "")
            try:
                ui.call("record_loop_action", c.base, c.base.role, rating_id, action, actor,
                        reason if action == "verified" else None, note or None)
            except ActionRefused as exc:
                st.error(exc.message(c.lang))
            else:
                ui.refresh_version()
                for key in ("loop_action", "loop_reason", "loop_note"):  # back to "请选择…", empty fields
                    st.session_state.pop(key, None)
                st.session_state["_loop_recorded"] = f"{L.action(c.lang, action)}：{L.tr(c.lang, '已登记', 'recorded')}"
                st.rerun()
    else:
        st.caption(L.tr(c.lang, "当前无可由您登记的环节", "Nothing for you to record on this rating now"))
    if st.session_state.get("_loop_recorded"):
        st.success(st.session_state.pop("_loop_recorded"))
