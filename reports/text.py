"""Words and number formats shared by the workbook, the bulletin and the digest (Chinese first)."""

from __future__ import annotations

from hcp.domain import INDICATOR_LABELS, RATING_CHANNELS, REASON_CATEGORIES
from hcp.i18n import fmt_int, fmt_rate, tr
from metrics.indicators import INDICATORS

#: Indicators of the headline table, in the order a bulletin reads them.
HEADLINE_KEYS = (
    "cases_completed", "on_time_rate", "overdue_completed", "avg_net_working_days", "same_day_rate",
    "zero_trip_rate", "max_one_trip_rate", "online_rate", "ratings", "good_rate", "bad_count", "bad_rate",
    "rating_coverage", "bad_rectified_rate", "bad_rectified_on_time_rate", "revisit_rate",
    "depth3plus_item_rate", "immediate_item_rate", "zero_trip_item_rate", "limit_compression", "composite_score",
)
#: Rates drawn in the headline chart.
CHART_KEYS = ("on_time_rate", "online_rate", "zero_trip_rate", "max_one_trip_rate", "same_day_rate", "good_rate",
              "rating_coverage", "bad_rectified_rate", "revisit_rate", "depth3plus_item_rate",
              "immediate_item_rate", "zero_trip_item_rate")
#: Columns of the ranking tables.
RANKING_KEYS = ("cases_completed", "on_time_rate", "online_rate", "zero_trip_rate", "good_rate", "bad_count",
                "bad_rectified_rate")
CATALOGUE_KEYS = ("depth3plus_item_rate", "immediate_item_rate", "zero_trip_item_rate", "limit_compression")


def kind(key: str) -> str:
    """rate | count | mean | score — how a value is written."""
    if key == "composite_score":
        return "score"
    k = INDICATORS[key][0]
    return "rate" if k in ("rate", "compression") else k


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


def rank_text(record: dict, lang: str) -> str:
    if record.get("rank") is None:
        return "—"
    return f"{record['rank']}/{record['peers']}"


def marks(record: dict, lang: str) -> str:
    if record.get("bottom_two_consecutive"):
        return tr(lang, "连续两月末两位（约谈）", "bottom two, 2 months (talk)")
    if record.get("bottom_two"):
        return tr(lang, "末两位", "bottom two")
    return ""


def grouping_label(grouping: str, lang: str) -> str:
    return {
        "dept": tr(lang, "部门", "department"),
        "region:province": tr(lang, "省", "province"),
        "region:city": tr(lang, "市", "city"),
        "region:county": tr(lang, "县（市、区）", "county"),
    }.get(grouping, grouping)


def status_label(status: str, lang: str) -> str:
    return {
        "rectified": tr(lang, "已整改", "rectified"),
        "explained": tr(lang, "已解释说明", "explained"),
        "open": tr(lang, "未整改", "not rectified"),
    }[status]


def reason_label(reason: str, lang: str) -> str:
    if not reason:
        return ""
    return REASON_CATEGORIES.get(reason, reason) if lang != "en" else reason


def channel_label(channel: str, lang: str) -> str:
    return RATING_CHANNELS.get(channel, channel) if lang != "en" else channel


def yes_no(flag: bool, lang: str) -> str:
    return tr(lang, "是", "yes") if flag else tr(lang, "否", "no")
