"""督办 (urges) on the dashboard's pages: the open urges at the top of a department's queue, the urge form of
an office on a red/yellow case or an overdue loop step, and the urge history (who urged whom, when, and what
followed). The rules are :mod:`supervision.urges`; the reads and the write go through :mod:`dashboard.data`
(scoped in SQL). Pages call these functions with one line each."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import ui
from dashboard import labels as L
from supervision.loop import STEPS
from supervision.urges import CASE_ENDS, DEPT_ACTIONS, UrgeRefused, new_urge_id, open_by_target, response_label
from warehouse.client import SHANGHAI


def now() -> dt.datetime:
    """The instant urges are read at: now, rounded up to the next minute (includes what was just recorded)."""
    return (dt.datetime.now(SHANGHAI) + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)


def _what(c) -> pl.Expr:
    """办件 M / 评价 r8 · 核实: what an urge is about, in words."""
    steps = {k: L.tr(c.lang, *v) for k, v in STEPS.items()}
    step = pl.col("step").replace_strict(steps, default=pl.col("step"), return_dtype=pl.String)
    return (pl.when(pl.col("target") == "step")
            .then(pl.format(L.tr(c.lang, "评价 {} · {}", "rating {} · {}"), pl.col("rating_id"), step))
            .otherwise(pl.format(L.tr(c.lang, "办件 {}", "case {}"), pl.col("case_id"))))


def _times(c, column: str) -> pl.Expr:
    return (pl.when(pl.col(column) > 1)
            .then(pl.format(L.tr(c.lang, "再次督办（第 {} 次）", "urged again ({}×)"), pl.col(column)))
            .otherwise(pl.lit(L.tr(c.lang, "督办", "urged"))))


def open_panel(c, as_of: dt.datetime | None = None) -> int:
    """At the top of a queue: the scope's urges nobody has answered yet, one row per case or rating (longest
    waiting first), with who urged, when, the note and 再次督办; a click opens the case or the rating. Returns
    how many targets are listed (nothing is drawn when there is none)."""
    opened = open_by_target(ui.q("urges", c.scope, as_of or now()))
    if opened.height == 0:
        return 0
    dept_names = ui.names("dept")
    st.markdown("##### :red[:material/campaign:] " + L.tr(c.lang, f"督办事项（未回应 {opened.height:,} 件）",
                                                          f"Urged by the office ({opened.height:,} not answered)"))
    # What and the note first (a department reads what it is asked to do), then when, who, how often.
    display = opened.select(
        _what(c).alias("what"), pl.col("note"),
        pl.col("last_urged_at").dt.strftime("%Y-%m-%d %H:%M").alias("urged_at"),
        pl.col("urged_by_office").alias("office"), pl.col("urged_by").alias("by"), _times(c, "urges").alias("times"),
        *([] if c.scope.dept_code else
          [pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")).alias("dept")]),
    )
    st.caption(L.tr(c.lang, "督办在部门办理下一步（或办件办结）后视为已回应；点击一行办理",
                    "An urge is answered once the department acts (the next step, or the case completed); "
                    "click a row to act"))
    selected = ui.table(display, f"urges_open_{c.scope}", {
        "what": L.tr(c.lang, "督办对象", "Urged about"), "dept": c.t("dept"), "times": L.tr(c.lang, "次数", "Times"),
        "urged_at": L.tr(c.lang, "督办时间", "Urged at"), "office": L.tr(c.lang, "督办单位", "Office"),
        "by": L.tr(c.lang, "督办人", "Urged by"), "note": L.tr(c.lang, "督办事项", "Note"),
    }, height=min(300, 38 + 35 * display.height), states=pl.Series(["red"] * display.height))
    if selected is not None:
        row = opened.row(selected, named=True)
        if row["target"] == "case":
            ui.go("drill", case=row["case_id"])
        elif row["rating_id"] != ui.get("rating"):
            ui.go("ratings", rating=row["rating_id"])
    return opened.height


def history(c, *, case_id: str | None = None, rating_id: str | None = None) -> None:
    """督办记录: every urge of a case (and of its ratings' steps) or of a rating — who urged whom, when, the
    note, 再次督办, and what followed (the department's first action after it, in working days)."""
    frame = ui.q("urges", c.base, now(), case_id=case_id, rating_id=rating_id)
    if frame.height == 0:
        return
    dept_names = ui.names("dept")
    answers = {a: response_label(c.lang, a) for a in (*DEPT_ACTIONS, *CASE_ENDS)}
    st.markdown(f"##### {L.tr(c.lang, '督办记录', 'Urges')}")
    # Who urged whom about what, then what followed (visible without scrolling), then the details.
    ui.dataframe(frame.sort("urged_at", "urge_id", descending=True).select(
        pl.col("urged_at").dt.strftime("%Y-%m-%d %H:%M").alias(L.tr(c.lang, "督办时间", "Urged at")),
        pl.col("urged_by_office").alias(L.tr(c.lang, "督办单位", "Office")),
        _what(c).alias(L.tr(c.lang, "督办对象", "Urged about")),
        pl.when(pl.col("open")).then(pl.lit(L.tr(c.lang, "未回应", "not answered")))
        .otherwise(pl.col("response").replace_strict(answers, default=pl.col("response")))
        .alias(L.tr(c.lang, "回应", "What followed")),
        pl.col("response_at").dt.strftime("%Y-%m-%d %H:%M").alias(L.tr(c.lang, "回应时间", "Answered at")),
        pl.col("response_working_days").alias(L.tr(c.lang, "用时（工作日）", "Working days")),
        pl.col("note").alias(L.tr(c.lang, "督办事项", "Note")),
        _times(c, "times").alias(L.tr(c.lang, "次数", "Times")),
        pl.col("urged_by").alias(L.tr(c.lang, "督办人", "Urged by")),
        pl.col("dept_code").replace_strict(dept_names, default=pl.col("dept_code")).alias(L.tr(c.lang, "被督办部门", "Department")),
    ))


def form(c, *, case_id: str | None = None, rating_id: str | None = None) -> None:
    """An office's urge on this case or rating: a required note and 督办. Refusals (another office's case, not
    red/yellow or not overdue, an empty note) are shown in words and record nothing. The pending urge id lives
    in the session, so a double submit is one urge; after a success the form is empty again."""
    if c.base.role == "dept":
        return
    key = f"urge_{'case' if case_id else 'rating'}_{case_id or rating_id}"
    st.markdown(f"**{L.tr(c.lang, '督办', 'Urge the department')}**")
    # A new form (key) after each urge: the note field starts empty again.
    generation = st.session_state.setdefault(f"{key}_gen", 0)
    note = st.text_area(L.tr(c.lang, "督办事项（必填）", "What the department is asked to do (required)"),
                        key=f"{key}_note_{generation}", max_chars=2000, height=80).strip()
    pending = st.session_state.setdefault(f"{key}_id", new_urge_id())
    if st.button(L.tr(c.lang, "督办", "Urge"), key=f"{key}_submit_{generation}", type="primary", icon=":material/campaign:"):
        try:
            ui.call("record_urge", c.base, c.user.username, c.user.name or "", case_id=case_id, rating_id=rating_id,
                    note=note, urge_id=pending)
        except UrgeRefused as exc:
            st.error(exc.message(c.lang))
        else:
            ui.refresh_version()
            st.session_state.pop(f"{key}_note_{generation}", None)
            st.session_state.pop(f"{key}_id", None)
            st.session_state[f"{key}_gen"] = generation + 1
            st.session_state["_urge_recorded"] = L.tr(c.lang, "已督办，部门将在其待办队列顶部看到", "Urged: the department "
                                                      "sees it at the top of its queue")
            st.rerun()
    if st.session_state.get("_urge_recorded"):
        st.success(st.session_state.pop("_urge_recorded"))


def open_counts(c, as_of: dt.datetime | None = None) -> dict[str, int]:
    """Case id -> open urges on it (for a column of the overdue watch)."""
    opened = open_by_target(ui.q("urges", c.scope, as_of or now())).filter(pl.col("target") == "case")
    return dict(opened.select("case_id", "urges").iter_rows())


def open_on_ratings(c, as_of: dt.datetime | None = None) -> pl.DataFrame:
    """rating_id, urges: the open step urges of the scope (to put urged rows first in the loop queue)."""
    opened = open_by_target(ui.q("urges", c.scope, as_of or now())).filter(pl.col("target") == "step")
    return opened.select("rating_id", "urges")
