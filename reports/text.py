"""Words and number formats shared by the workbook, the bulletin and the digest (Chinese first)."""

from __future__ import annotations

from hcp import indicators
from hcp.domain import INDICATOR_LABELS, RANK_STATUS_LABELS, RATING_CHANNELS, REASON_CATEGORIES
from hcp.i18n import fmt_int, fmt_rate, tr
from metrics.quality import PROBLEMS

#: Indicators of the headline table, in the order a bulletin reads them (the registry's headline rows, then the
#: composite score). The rectification figures are the due-ness ones (DOMAIN.md: a rating still within its limit
#: is 整改中, never a failure).
HEADLINE_KEYS = (*indicators.keys_where(headline=True), "composite_score")
#: The workbook's summary: the headline, then every other indicator (the rates over all bad ratings).
SUMMARY_KEYS = HEADLINE_KEYS[:-1] + tuple(k for k in indicators.INDICATOR_KEYS if k not in HEADLINE_KEYS) + ("composite_score",)
#: Rates drawn in the headline chart.
CHART_KEYS = ("on_time_rate", "online_rate", "zero_trip_rate", "max_one_trip_rate", "same_day_rate", "good_rate",
              "rating_coverage", "bad_rectified_due_rate", "revisit_due_rate", "depth3plus_item_rate",
              "immediate_item_rate", "zero_trip_item_rate")
#: Columns of the ranking tables in the PDF (the workbook has every indicator).
RANKING_KEYS = ("cases_completed", "on_time_rate", "online_rate", "good_rate", "bad_rectified_due_rate",
                "bad_overdue_unrectified")
CATALOGUE_KEYS = ("depth3plus_item_rate", "immediate_item_rate", "zero_trip_item_rate", "limit_compression")


def kind(key: str) -> str:
    """rate | count | mean | score — how a value is written."""
    if key == "composite_score":
        return "score"
    row = indicators.INDICATORS[key]
    return "rate" if row.is_rate else row.kind


def label(key: str, lang: str) -> str:
    return tr(lang, *INDICATOR_LABELS[key])


def fmt_value(key: str, value) -> str:
    """A value for people: rates as percentages with two decimals, counts with separators, means and
    scores with two decimals; an empty base is a dash."""
    if value is None:
        return "—"
    k = kind(key)
    if k == "rate":
        return fmt_rate(value)
    if k == "count":
        return fmt_int(int(value))
    return f"{value:.2f}"


def fmt_change(key: str, now, before, lang: str) -> str:
    """Month-on-month change: percentage points for rates, plain differences otherwise."""
    if now is None or before is None:
        return "—"
    diff = now - before
    k = kind(key)
    if k == "rate":
        points = diff * 100
        if abs(points) < 0.005:
            return tr(lang, "持平", "flat")
        return tr(lang, f"{points:+.2f} 个百分点", f"{points:+.2f} pts")
    if k == "count":
        return f"{int(diff):+,}" if diff else tr(lang, "持平", "flat")
    return f"{diff:+.2f}" if abs(diff) >= 0.005 else tr(lang, "持平", "flat")


def meets(key: str, value, targets: dict, direction: dict) -> bool | None:
    """Whether a value reaches its target (None without a value or a target)."""
    target = targets.get(key)
    if value is None or target is None:
        return None
    if direction.get(key) == "lower":
        return value <= target + 1e-12
    return value >= target - 1e-12


def met_label(flag: bool | None, lang: str) -> str:
    if flag is None:
        return "—"
    return tr(lang, "达标", "met") if flag else tr(lang, "未达标", "not met")


def title(figures: dict, lang: str) -> str:
    year, month = figures["month"].split("-")
    name = figures["scope"]["name"]
    return tr(lang, f"{name}政务服务“好差评”月度通报（{year}年{int(month)}月）",
              f"{name} government services “good/bad” ratings — monthly bulletin ({figures['month']})")


def period_text(figures: dict, lang: str) -> str:
    start, end = figures["period"]["start"], figures["period"]["end"]
    if lang == "en":
        return f"{start} to {end}"
    y1, m1, d1 = (int(x) for x in start.split("-"))
    y2, m2, d2 = (int(x) for x in end.split("-"))
    return f"{y1}年{m1}月{d1}日至{y2}年{m2}月{d2}日"


def rank_status_label(status: str, lang: str) -> str:
    return tr(lang, *RANK_STATUS_LABELS[status])


def rank_text(record: dict, lang: str) -> str:
    """``rank/peers`` for a ranked unit (as ``hcp metrics`` gives them), else its rank status."""
    if record.get("rank") is None:
        status = record.get("rank_status")
        return rank_status_label(status, lang) if status in ("small_sample", "no_data") else "—"
    return f"{record['rank']}/{record['peers']}"


def marks(record: dict, lang: str) -> str:
    if record.get("bottom_two_consecutive"):
        return tr(lang, "约谈", "talk")
    if record.get("bottom_two"):
        return tr(lang, "末两位", "bottom two")
    return ""


def own_name(name: str, lang: str) -> str:
    """A government's own level (本级): 山东省本级, 济南市本级."""
    return tr(lang, f"{name}本级", f"{name} (own level)")


def grouping_label(grouping: str, lang: str) -> str:
    return {
        "dept": tr(lang, "部门", "department"),
        "region:province": tr(lang, "省", "province"),
        "region:city": tr(lang, "市", "city"),
        "region:county": tr(lang, "县（市、区）", "county"),
        "region:own": tr(lang, "本级", "own level"),
    }.get(grouping, grouping)


def status_label(status: str, lang: str) -> str:
    return {
        "rectified": tr(lang, "已整改", "rectified"),
        "explained": tr(lang, "已解释说明", "explained"),
        "overdue": tr(lang, "逾期未整改", "overdue, not rectified"),
        "in_progress": tr(lang, "整改中", "in progress"),
    }[status]


def reason_label(reason: str, lang: str) -> str:
    if not reason:
        return ""
    return REASON_CATEGORIES.get(reason, reason) if lang != "en" else reason


def channel_label(channel: str, lang: str) -> str:
    return RATING_CHANNELS.get(channel, channel) if lang != "en" else channel


def yes_no(flag: bool, lang: str) -> str:
    return tr(lang, "是", "yes") if flag else tr(lang, "否", "no")


def problem_label(problem: str, lang: str) -> str:
    """Which contradiction an inconsistent case shows (:data:`metrics.quality.PROBLEMS`)."""
    return tr(lang, *PROBLEMS[problem]) if problem in PROBLEMS else problem


def workbook_name(figures: dict) -> str:
    """The file name of the bulletin's workbook (as :func:`reports.monthly.render_files` writes it)."""
    code = figures["scope"]["code"]
    return (f"workbook-{figures['month']}" + ("" if code == "all" else f"-{code}")
            + ("-en" if figures["lang"] == "en" else "") + ".xlsx")
