"""Every word the dashboard shows, Chinese first with the English beside it.

Domain vocabulary comes from :mod:`hcp.domain` (the Chinese) with the English kept here, so a label read by
a supervisory office is the same word in the dashboard, the CLI and the bulletins. Numbers are formatted
for people by :func:`fmt_value` (percentages, thousands separators, ``—`` for an empty base).
"""

from __future__ import annotations

import polars as pl

from hcp import domain, indicators
from hcp.i18n import fmt_int, fmt_rate, tr

#: Font stack for charts: Noto Sans CJK SC (fonts-noto-cjk) renders the Chinese on Linux hosts.
FONT_FAMILY = "Noto Sans CJK SC, Noto Sans SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"

EVENT_TYPES_EN = {
    "submitted": "submitted", "supplement_requested": "supplement requested",
    "supplement_received": "supplement received", "accepted": "accepted", "rejected": "rejected",
    "suspended": "suspended", "resumed": "resumed", "completed": "completed", "delivered": "delivered",
    "withdrawn": "withdrawn",
}
CASE_CHANNELS_EN, RATING_CHANNELS_EN = domain.CASE_CHANNELS_EN, domain.RATING_CHANNELS_EN
ACTIONS_EN = {"verified": "verified", "rectified": "rectified", "explained": "explained", "feedback": "feedback",
              "revisited": "revisited", "appealed": "appealed", "appeal_upheld": "appeal upheld",
              "appeal_rejected": "appeal rejected"}
REASONS_EN = {"efficiency": "efficiency", "attitude": "attitude", "materials": "materials", "trips": "trips",
              "system": "system", "policy": "policy", "other": "other"}
ITEM_TYPES_EN = {"行政许可": "administrative licence", "行政确认": "administrative confirmation",
                 "行政给付": "administrative payment", "行政裁决": "administrative ruling",
                 "其他行政权力": "other administrative power", "公共服务": "public service"}
STATES = {"submitted": ("已申报", "submitted"), "accepted": ("办理中", "in progress"),
          "completed": ("办结", "completed"), "rejected": ("不予受理", "rejected"), "withdrawn": ("撤回", "withdrawn")}
RESULTS = {"approved": ("准予", "approved"), "denied": ("不予", "denied"), "": ("—", "—")}
FLAGS = {"red": ("红牌（超期）", "red (overdue)"), "yellow": ("黄牌（临期）", "yellow (due soon)"),
         "likely": ("可能超期", "likely to go overdue")}
ROLES = {"province": ("省级管理办公室", "province office"), "region": ("市县管理办公室", "city/county office"),
         "dept": ("部门", "department")}
RANK_STATUS = domain.RANK_STATUS_LABELS
LEVELS = {"province": ("省", "province"), "city": ("市", "city"), "county": ("县（区）", "county")}

# Indicators as the overview reads them, from the registry (hcp.indicators, where each is declared once).
#: Indicators whose smaller value is better (delta arrows read the other way round).
LOWER_IS_BETTER = frozenset(indicators.keys_where(direction="lower"))
#: Indicators whose change is neither good nor bad (grey, whatever the change): volumes, the bad ratings whose
#: limit has passed (done or not: 逾期未整改 says what failed) and 整改中 (work still within its limit).
NEUTRAL = frozenset(indicators.keys_where(direction="neutral"))
#: Counts shown in red when not zero (逾期未整改: a failure to chase; 数据矛盾办件: data to correct).
ALERT_COUNTS = frozenset(indicators.keys_where(alert=True))

#: Tile groups of the overview, in display order: ((Chinese, English), keys) for each section with tiles.
KPI_SECTIONS = tuple(
    (label, keys) for section, label in indicators.SECTIONS.items()
    if (keys := indicators.keys_where(section=section, tile=True))
)

#: UI phrases: key -> (Chinese, English).
TEXT = {
    "app_title": ("政务服务“好差评”监督", "Government-service supervision"),
    "overview": ("总览", "Overview"),
    "ranking": ("排名", "Ranking"),
    "overdue": ("超期监督", "Overdue watch"),
    "ratings": ("差评整改", "Bad ratings"),
    "drill": ("逐级钻取", "Drill-down"),
    "catalogue": ("事项目录", "Catalogue"),
    "login": ("登录", "Log in"),
    "logout": ("退出登录", "Log out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Wrong user name or password"),
    "dept_moves": ("部门所属区划变更记录", "Departments moved to another region"),
    "no_dept_moves": ("没有部门所属区划的变更。", "No department has been moved to another region."),
    "changed_at": ("变更时间", "changed at"),
    "region_before": ("原区划", "region before"),
    "region_after": ("新区划", "region after"),
    "changed_by": ("变更人", "changed by"),
    "change_source": ("来源", "source"),
    "login_locked": ("登录失败次数过多，已临时锁定，请 {minutes} 分钟后再试（已记录）",
                     "Too many failed logins: locked for now, try again in {minutes} minutes (this is recorded)"),
    "no_users": ("尚未配置用户：请运行 `hcp users add`", "No users yet: run `hcp users add`"),
    "period": ("期间", "Period"),
    "custom_range": ("自定义日期范围", "Custom date range"),
    "region": ("行政区划", "Region"),
    "dept": ("部门", "Department"),
    "item": ("事项", "Item"),
    "item_type": ("事项类型", "Item type"),
    "channel": ("办理渠道", "Channel"),
    "all": ("全部", "All"),
    "filters": ("筛选", "Filters"),
    "english": ("English", "English"),
    "not_permitted": ("无权查看：该内容不在您的权限范围内（或不存在）",
                      "Not permitted: this is outside your scope (or does not exist)"),
    "no_data": ("所选范围与期间暂无数据", "No data for this scope and period"),
    "no_metrics": ("尚未计算指标：请先运行 `hcp compute`", "No metrics yet: run `hcp compute` first"),
    "live": ("按筛选条件即时计算（与 hcp metrics 同一算法）",
             "Computed on the fly for the filters (the same engine as hcp metrics)"),
    "target": ("目标", "target"),
    "vs_prev": ("较上月", "vs previous month"),
    "trend": ("月度趋势", "Monthly trend"),
    "score": ("综合得分", "Composite score"),
    "rank": ("排名", "Rank"),
    "talk": ("连续两月排名末两位（约谈）", "bottom two two months running (supervisory talk)"),
    "bottom_two": ("本月末两位", "bottom two this month"),
    "talk_short": ("约谈", "supervisory talk"),
    "bottom_two_short": ("末位", "bottom two"),
    "met": ("达标", "met"),
    "missed": ("未达标", "not met"),
    "as_of": ("截至", "As of"),
    "red": ("红牌（超期）", "red (overdue)"),
    "yellow": ("黄牌（临期）", "yellow (due soon)"),
    "case": ("办件", "Case"),
    "case_id": ("办件编号", "Case number"),
    "rating_id": ("评价编号", "Rating number"),
    "deadline": ("办结期限", "Deadline"),
    "over_left": ("超期/剩余工作日", "Working days over / left"),
    "overdue_days": ("超期工作日", "Working days overdue"),
    "days_left": ("剩余工作日", "Working days left"),
    "overdue_completed_title": ("本期超期办结", "Overdue completed in the period"),
    "open_flags_title": ("在办红黄牌", "Open cases: red and yellow"),
    "likely": ("可能超期", "likely to go overdue"),
    "likely_title": ("可能超期（模型预测）", "Likely to go overdue (model prediction)"),
    "none_likely": ("当前没有可能超期的办件", "No open case is likely to go overdue"),
    "risk": ("超期风险", "Overdue risk"),
    "main_factors": ("主要因素", "Main factors"),
    "by_dept": ("按部门", "By department"),
    "select_row_hint": ("点击表格行或图中条目可逐级查看", "Click a table row or a bar to drill down"),
    "timeline": ("办理过程", "Timeline"),
    "clock_stop": ("暂停计时", "clock stopped"),
    "trip": ("到现场", "on site"),
    "trips": ("跑动次数", "Trips"),
    "state": ("状态", "State"),
    "accepted_at": ("受理时间", "Accepted"),
    "completed_at": ("办结时间", "Completed"),
    "submitted_at": ("申报时间", "Submitted"),
    "promised": ("承诺时限（工作日）", "Promised limit (working days)"),
    "legal": ("法定时限（工作日）", "Legal limit (working days)"),
    "net_days": ("净用时（工作日）", "Net working days"),
    "on_time": ("按时", "On time"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "applicant": ("申请人（脱敏）", "Applicant (masked)"),
    "rating": ("评价", "Rating"),
    "level": ("评价等级", "Level"),
    "rated_at": ("评价时间", "Rated"),
    "real_name": ("实名", "Real name"),
    "comment": ("评价内容", "Comment"),
    "followups": ("整改记录", "Follow-ups"),
    "action": ("环节", "Action"),
    "action_time": ("时间", "Time"),
    "actor": ("经办人", "Actor"),
    "reason": ("核实原因", "Verified cause"),
    "note": ("说明", "Note"),
    "name": ("名称", "Name"),
    "code": ("编码", "Code"),
    "up": ("返回上级", "Up one level"),
    "province_all": ("全省", "Province"),
    "children_regions": ("下级区划", "Sub-regions"),
    "departments": ("部门", "Departments"),
    "items": ("事项", "Items"),
    "cases": ("办件", "Cases"),
    "indicator": ("指标", "Indicator"),
    "level_select": ("排名层级", "Ranking level"),
    "depth": ("网办深度", "Online depth"),
    "max_trips": ("到现场次数", "Max trips"),
    "immediate": ("即办件", "Immediate"),
    "zero_trip_item": ("零跑腿", "Zero-trip"),
    "event": ("事件", "Event"),
    "time": ("时间", "Time"),
    "onsite": ("到现场", "On site"),
    "staff": ("经办人", "Staff"),
    "bad_queue": ("差评处置队列", "Bad-rating queue"),
    "loop_state": ("处置状态", "Loop state"),
    "due": ("应完成日期", "Due"),
    "overdue_steps": ("超期环节", "Overdue steps"),
    "record_action": ("登记处置", "Record an action"),
    "submit": ("提交", "Submit"),
    "read_only_loop": ("差评整改闭环模块尚未就绪：本页只读", "The follow-up loop module is not available yet: read-only"),
    "user": ("当前用户", "User"),
    "scope": ("数据范围", "Scope"),
    "none_flagged": ("当前没有红黄牌办件", "No red or yellow open cases"),
    "none_overdue": ("本期没有超期办结的办件", "No overdue completed case in this period"),
    "peer_group": ("同级比较组", "Peer group"),
    "contributions": ("得分构成", "Score breakdown"),
    "points": ("分", "points"),
    "open_case": ("查看办件", "Open case"),
    "period_item_cases": ("本期办件", "Cases of the period"),
    "shown_of": ("{order}：显示前 {n} 条，共 {m} 条", "{order}: showing the first {n} of {m}"),
    "full_list_download": ("；完整清单请下载 CSV 或 Excel", "; the full list is in the CSV and Excel downloads"),
    "order_flags": ("红牌在前（超期最久的在前），其后黄牌（剩余工作日最少的在前）",
                    "Red first (longest overdue first), then yellow (fewest working days left first)"),
    "order_overdue_days": ("超期工作日最多的在前", "Most working days overdue first"),
    "order_risk": ("超期风险最高的在前", "Highest overdue risk first"),
    "order_queue": ("督办的在前，其余按下一步期限（已超期的在前）", "Urged first, then by the next step's due date (overdue first)"),
    "order_loops": ("未闭环的按下一步期限在前（已超期的在前），已闭环的在后",
                    "Open loops first by the next step's due date (overdue first), closed ones last"),
    "unknown": ("未知", "unknown"),
    "quality": ("数据质量", "Data quality"),
    "month_to_date": ("本月截至 {date}", "month to date, as of {date}"),
    "partial_month": ("截至 {date}", "as of {date}"),
    "partial_note": ("{period} 的数据截至 {date}，不满一月：各项指标与排名只反映已到达的数据",
                     "{period}: data end on {date}, less than a month: figures and ranks reflect only what arrived"),
    "in_progress_note": ("{period} 尚未结束：数据截至 {date}，各项指标与排名随数据到达而变化",
                         "{period} is not over: data as of {date}; figures and ranks change as data arrives"),
    "no_data_period": ("{period} 无数据", "{period}: no data"),
    "empty_period": ("{period} 没有办结的办件，也没有评价：无得分、不排名。请在左侧选择有数据的期间。",
                     "{period} has no completed case and no rating: no score, no rank. Pick a period with data "
                     "on the left."),
    "unit_no_data": ("本期没有办结的办件，也没有评价：无得分、不排名", "No completed case and no rating in this period: "
                     "no score, no rank"),
    "rank_status": ("排名状态", "Rank status"),
    "small_sample_rank": ("样本不足，不排名", "sample too small, not ranked"),
    "small_sample_note": ("办结量少于 {cases} 件且评价量少于 {ratings} 条：列出各项指标，不计分、不排名、不标末位",
                          "Fewer than {cases} completed cases and fewer than {ratings} ratings: their figures, no "
                          "score, no rank, no bottom-two mark"),
    "no_data_units": ("另有 {n} 个单位本期无办结、无评价（无数据，不计得分）", "{n} more units have no completed case and no "
                      "rating this period (no data, no score)"),
    "ranked_tab": ("参与排名", "Ranked"),
    "small_tab": ("样本不足", "Sample too small"),
    "talk_tab": ("约谈名单", "Supervisory talk list"),
    "talk_note": ("连续两个月排名同级末两位的单位（同级参与排名单位不少于 {n} 个、且得分低于同级中位数 {m} 分以上时才标末位）",
                  "Units in the bottom two of their peer group two months running (marked only in peer groups "
                  "of at least {n} ranked units, and only {m} points or more below the group's median)"),
    "no_talk": ("本期没有需约谈的单位", "No unit called to a supervisory talk this period"),
    "no_ranked": ("本期没有参与排名的单位（见“样本不足”）", "No unit is ranked this period (see “sample too small”)"),
    "no_small": ("本期没有样本不足的单位", "No unit with too small a sample this period"),
    "all_peer_groups": ("全部比较组", "All peer groups"),
    "own_level": ("本级", "own level"),
    "own_levels": ("本级政府", "Governments' own level"),
    "own_row": ("{name}本级", "{name} (own level)"),
    "own_hint": ("“本级”是本级政府部门自身的办件与评价，不属于任何下级区划；下级与本级相加即为上级合计",
                 "“Own level” is the work of this government's own departments, in no lower region; the "
                 "sub-regions and the own level add up to the total"),
    "own_departments": ("{name}本级部门", "Departments of {name} (own level)"),
    "bad_status": ("整改状态", "Rectification"),
    "rectify_due": ("整改期限", "Rectification due"),
    "in_progress_left": ("整改中（剩 {n} 个工作日）", "in progress ({n} working days left)"),
    "days_left_range": ("剩 {a}–{b} 个工作日", "{a}–{b} working days left"),
    "days_left_one": ("剩 {a} 个工作日", "{a} working days left"),
    # The base of the due rates (bad_assessed_n), as the bulletin states it: the due ones and those rectified
    # or explained while still within their limit.
    "due_rate_base": ("基数 {n} 件：到期 {due} 件 + 期限内已整改 {early} 件",
                      "base {n}: {due} due + {early} rectified within their limit"),
    "overdue_unrectified_status": ("逾期未整改", "overdue, not rectified"),
    "rectified_status": ("已整改", "rectified"),
    "rectified_late_status": ("已整改（逾期）", "rectified late"),
    "not_counted_status": ("申诉成立（不计）", "appeal upheld (not counted)"),
    "due_as_of": ("是否到期按指标计算日 {day} 判断（与上列数字一致）", "Due or not as of the day the figures were "
                  "computed, {day} (as the figures above)"),
    "period_bad_ratings": ("本期差评整改", "Bad ratings of the period: rectification"),
    "quality_note": ("以下办件的事件相互矛盾（如办结早于申报、办结早于受理），无法计时：不计入任何办件指标（含办结量），"
                     "请相关部门核实并更正源数据后重新报送。",
                     "The events of these cases contradict each other (e.g. completed before submitted or before "
                     "accepted), so they cannot be timed: they are left out of every case indicator (cases "
                     "completed too). The departments should check and correct the source data and send it again."),
    "quality_overview": ("本期有 {n} 件办结的办件事件相互矛盾、无法计时：已从各项办件指标（含办结量）中剔除，待相关部门核实更正",
                         "{n} cases completed in the period have contradictory events and cannot be timed: they are "
                         "left out of every case indicator (cases completed too) until their departments correct them"),
    "quality_scope": ("列出申报、受理或办结任一时间落在本期的办件", "Cases with a submission, acceptance or completion in the period"),
    "no_inconsistent": ("本期没有数据矛盾的办件", "No inconsistent case in this period"),
    "problem": ("问题", "Problem"),
    "depts_to_correct": ("待更正部门", "departments to correct"),
    "to_quality": ("查看数据质量", "Open data quality"),
    "axis_zoomed": ("纵轴放大显示差异（未从 0 开始）", "Axis zoomed to show the differences (does not start at 0)"),
}


def t(lang: str, key: str) -> str:
    """A UI phrase in the user's language."""
    zh, en = TEXT[key]
    return tr(lang, zh, en)


def paren(lang: str, text) -> str:
    """Text in brackets after a word: full-width （…） in Chinese, `` (…)`` in English."""
    return tr(lang, f"（{text}）", f" ({text})")


def indicator(lang: str, key: str) -> str:
    zh, en = domain.INDICATOR_LABELS[key]
    return tr(lang, zh, en)


def _word(lang: str, zh: dict, en: dict, key) -> str:
    """A code of a vocabulary in the user's language (the code itself when the vocabulary lacks it)."""
    return tr(lang, zh.get(key, key), en.get(key, key))


def event_type(lang: str, key: str) -> str:
    return _word(lang, domain.EVENT_TYPES, EVENT_TYPES_EN, key)


def case_channel(lang: str, key: str) -> str:
    return _word(lang, domain.CASE_CHANNELS, CASE_CHANNELS_EN, key) if key else "—"


def rating_channel(lang: str, key: str) -> str:
    return _word(lang, domain.RATING_CHANNELS, RATING_CHANNELS_EN, key)


def action(lang: str, key: str) -> str:
    return _word(lang, domain.FOLLOWUP_ACTIONS, ACTIONS_EN, key)


def reason(lang: str, key: str) -> str:
    return _word(lang, domain.REASON_CATEGORIES, REASONS_EN, key) if key else "—"


def item_type(lang: str, key: str) -> str:
    return tr(lang, key, ITEM_TYPES_EN.get(key, key))


def pair(lang: str, table: dict, key: str) -> str:
    zh, en = table.get(key, (key, key))
    return tr(lang, zh, en)


RATING_LEVELS_EN = {5: "very satisfied", 4: "satisfied", 3: "fair", 2: "dissatisfied", 1: "very dissatisfied"}


def rating_level(lang: str, level: int) -> str:
    level = int(level)
    return f"{level} {_word(lang, domain.RATING_LEVELS, RATING_LEVELS_EN, level)}"


#: The codes of each vocabulary a table column may hold (for :func:`column`).
_CODES = {
    event_type: tuple(domain.EVENT_TYPES), case_channel: ("", *domain.CASE_CHANNELS),
    rating_channel: tuple(domain.RATING_CHANNELS), action: tuple(domain.FOLLOWUP_ACTIONS),
    reason: ("", *domain.REASON_CATEGORIES), item_type: domain.ITEM_TYPES, rating_level: tuple(domain.RATING_LEVELS),
}


def column(name: str, label, lang: str) -> pl.Expr:
    """A table column of codes as people read them: ``label(lang, code)`` for each code of its vocabulary,
    looked up by Polars (``label`` runs once per code, not once per row). A code outside the vocabulary
    is shown as it is; a null stays null."""
    mapping = {code: label(lang, code) for code in _CODES[label]}
    return pl.col(name).replace_strict(mapping, default=pl.col(name).cast(pl.String), return_dtype=pl.String)


def yes_no_column(value: str | pl.Expr, lang: str, *, no: str | None = None, null: str | None = None) -> pl.Expr:
    """A boolean column (by name) or expression as 是 / 否 (``no`` instead of 否, e.g. blank); a null stays null
    unless ``null`` says what to show."""
    flag = pl.col(value) if isinstance(value, str) else value
    words = pl.when(flag).then(pl.lit(t(lang, "yes"))).otherwise(pl.lit(t(lang, "no") if no is None else no))
    shown = pl.when(flag.is_null()).then(pl.lit(null, dtype=pl.String)).otherwise(words)
    return shown.alias(value) if isinstance(value, str) else shown


def fmt_value(key: str, value) -> str:
    """An indicator value for people: rates as percentages, counts with thousands separators."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    row = indicators.INDICATORS.get(key)
    if row is not None and row.is_rate:
        return fmt_rate(value)
    if row is not None and row.kind == "mean":
        return f"{value:,.2f}"
    if key == "composite_score":
        return f"{value:.2f}"
    return fmt_int(int(value))


def yes_no(lang: str, value) -> str:
    if value is None:
        return "—"
    return t(lang, "yes") if value else t(lang, "no")
