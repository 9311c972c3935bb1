"""Every word the dashboard shows, Chinese first with the English beside it.

Domain vocabulary comes from :mod:`hcp.domain` (the Chinese) with the English kept here, so a label read by
a supervisory office is the same word in the dashboard, the CLI and the bulletins. Numbers are formatted
for people by :func:`fmt_value` (percentages, thousands separators, ``—`` for an empty base).
"""

from __future__ import annotations

import polars as pl

from hcp import domain
from hcp.i18n import fmt_int, fmt_rate, tr
from metrics.indicators import INDICATORS

#: Font stack for charts: Noto Sans CJK SC (fonts-noto-cjk) renders the Chinese on Linux hosts.
FONT_FAMILY = "Noto Sans CJK SC, Noto Sans SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"

EVENT_TYPES_EN = {
    "submitted": "submitted", "supplement_requested": "supplement requested",
    "supplement_received": "supplement received", "accepted": "accepted", "rejected": "rejected",
    "suspended": "suspended", "resumed": "resumed", "completed": "completed", "delivered": "delivered",
    "withdrawn": "withdrawn",
}
CASE_CHANNELS_EN = {"online": "online", "mobile": "mobile", "hall": "service hall", "self_service": "self-service",
                    "mail": "mail", "agent": "agent"}
RATING_CHANNELS_EN = {"pc": "PC web", "mobile_app": "mobile app", "mini_program": "mini program", "sms": "SMS",
                      "hall_device": "hall device", "qr_code": "QR code", "hotline": "hotline",
                      "self_service": "self-service"}
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
FLAGS = {"red": ("红牌（超期）", "red (overdue)"), "yellow": ("黄牌（临期）", "yellow (due soon)")}
ROLES = {"province": ("省级管理办公室", "province office"), "region": ("市县管理办公室", "city/county office"),
         "dept": ("部门", "department")}
LEVELS = {"province": ("省", "province"), "city": ("市", "city"), "county": ("县（区）", "county")}

#: Indicators whose smaller value is better (delta arrows read the other way round).
LOWER_IS_BETTER = {"overdue_completed", "avg_net_working_days", "bad_count", "bad_rate"}

#: DOMAIN.md targets for the catalogue and convenience indicators (override in [dashboard.targets]);
#: [scoring.targets] of the configuration wins for the indicators it names.
DOMAIN_TARGETS = {
    "depth3plus_item_rate": 0.9,
    "immediate_item_rate": 0.3,
    "zero_trip_item_rate": 0.9,
    "zero_trip_rate": 0.9,
    "online_rate": 0.9,
}

#: Tile groups of the overview, in display order.
KPI_SECTIONS = (
    (("办件时效", "timeliness"), ("cases_completed", "on_time_rate", "overdue_completed", "avg_net_working_days",
                               "same_day_rate")),
    (("便民服务", "convenience"), ("zero_trip_rate", "max_one_trip_rate", "online_rate")),
    (("好差评", "ratings"), ("ratings", "good_rate", "bad_count", "bad_rate", "rating_coverage")),
    (("差评整改", "bad-rating follow-up"), ("bad_rectified_rate", "bad_rectified_on_time_rate", "revisit_rate")),
    (("事项目录", "item catalogue"), ("depth3plus_item_rate", "immediate_item_rate", "zero_trip_item_rate",
                                  "limit_compression")),
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
    "talk": ("连续两月排名末两位（约谈）", "bottom two two months running (talk)"),
    "bottom_two": ("本月末两位", "bottom two this month"),
    "talk_short": ("约谈", "talk"),
    "bottom_two_short": ("末位", "bottom two"),
    "met": ("达标", "met"),
    "missed": ("未达标", "not met"),
    "as_of": ("截至", "As of"),
    "red": ("红牌（超期）", "red (overdue)"),
    "yellow": ("黄牌（临期）", "yellow (due soon)"),
    "case": ("办件", "Case"),
    "case_id": ("办件编号", "Case number"),
    "deadline": ("办结期限", "Deadline"),
    "over_left": ("超期/剩余工作日", "Working days over / left"),
    "overdue_days": ("超期工作日", "Working days overdue"),
    "days_left": ("剩余工作日", "Working days left"),
    "overdue_completed_title": ("本期超期办结", "Overdue completed in the period"),
    "open_flags_title": ("在办红黄牌", "Open cases: red and yellow"),
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
    "limit_note": ("最多显示", "showing at most"),
    "unknown": ("未知", "unknown"),
}


def t(lang: str, key: str) -> str:
    """A UI phrase in the user's language."""
    zh, en = TEXT[key]
    return tr(lang, zh, en)


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
    kind = INDICATORS.get(key, ("",))[0]
    if kind in ("rate", "compression"):
        return fmt_rate(value)
    if kind == "mean":
        return f"{value:,.2f}"
    if key == "composite_score":
        return f"{value:.2f}"
    return fmt_int(int(value))


def yes_no(lang: str, value) -> str:
    if value is None:
        return "—"
    return t(lang, "yes") if value else t(lang, "no")
