"""The indicator registry: every indicator of DOMAIN.md declared once, with everything the rest of hcp says
about it.

An indicator is a ratio (or a count, a mean, a compression) of two counts kept beside it, so any figure can
be explained down to the cases behind it: ``rate`` = numerator ÷ denominator, ``mean`` = sum ÷ number,
``compression`` = 1 − numerator ÷ denominator, ``count`` = the numerator itself. A ratio over an empty base
is null, never 0 or 1. Each row also carries its Chinese and English label, the section it is shown in (the
overview's KPI tiles, the bulletin's groupings), its default target and which way is better.

Everything else derives from :data:`INDICATORS`: ``metrics.indicators.INDICATORS`` (the computation's table
and the key order of the ``hcp metrics`` JSON), the count columns and indicator columns of ``group_metrics``,
``hcp.domain.INDICATOR_LABELS``, the dashboard's KPI sections and targets, the bulletin's headline rows and
the default ``[scoring.targets]`` / ``[reports.targets]`` (a user's ``config.toml`` may override any of them).
Adding an indicator is one row here (and, when its counts are new, their computation in
``metrics/indicators.py``; a new value column of ``group_metrics`` is a migration).

>>> INDICATORS["on_time_rate"].denominator
'timed_n'
"""

from __future__ import annotations

from dataclasses import dataclass

#: How a value is formed from its counts (see the module docstring).
KINDS = ("rate", "count", "mean", "compression")
#: Which way is better: ``higher``, ``lower``, or ``neutral`` (a volume: a change is neither good nor bad).
DIRECTIONS = ("higher", "lower", "neutral")
#: Sections, in display order: key -> (Chinese, English). The overview's KPI tile groups and the report's
#: groupings.
SECTIONS = {
    "timeliness": ("办件时效", "Timeliness"),
    "convenience": ("便民服务", "Convenience"),
    "ratings": ("好差评", "Ratings"),
    "followup": ("差评整改", "Bad-rating follow-up"),
    "quality": ("数据质量", "Data quality"),
    "catalogue": ("事项目录", "Item catalogue"),
}


@dataclass(frozen=True)
class Indicator:
    """One indicator: its DOMAIN key, how it is formed, how people read it.

    ``tile``: shown as a KPI tile of the overview (in its section); ``headline``: a row of the bulletin's
    headline table; ``alert``: a count shown in red when it is not zero (a failure to chase, data to correct);
    ``target``: the default target (None: none); ``extra``: empty for an indicator of DOMAIN.md's indicator
    table (or its catalogue paragraph), else why the project has it beyond DOMAIN."""

    key: str
    kind: str
    numerator: str
    denominator: str | None
    zh: str
    en: str
    section: str
    target: float | None = None
    direction: str = "higher"
    tile: bool = True
    headline: bool = True
    alert: bool = False
    extra: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.direction not in DIRECTIONS or self.section not in SECTIONS:
            raise ValueError(f"indicator {self.key}: kind, direction or section unknown")
        if (self.kind == "count") != (self.denominator is None):
            raise ValueError(f"indicator {self.key}: a count has no denominator, every other kind has one")

    @property
    def is_rate(self) -> bool:
        """Written as a percentage (rates and compressions)."""
        return self.kind in ("rate", "compression")


_ROWS = (
    # 办件时效: cases completed in the period (inconsistent ones left out).
    Indicator("cases_completed", "count", "cases_completed", None, "办结量", "cases completed", "timeliness",
              direction="neutral"),
    Indicator("on_time_rate", "rate", "on_time_n", "timed_n", "按时办结率", "on-time rate", "timeliness", target=1.0),
    Indicator("overdue_completed", "count", "overdue_completed", None, "超期办结量", "overdue completed", "timeliness",
              direction="lower"),
    Indicator("overdue_rate", "rate", "overdue_completed", "timed_n", "超期办结率", "overdue rate", "timeliness",
              direction="lower", tile=False, headline=False,
              extra="overdue completed ÷ the completed cases that can be timed: 1 − on_time_rate on the same base"),
    Indicator("avg_net_working_days", "mean", "net_days_sum", "net_days_n", "平均净用时（工作日）",
              "avg net working days", "timeliness", direction="lower"),
    Indicator("same_day_rate", "rate", "same_day_n", "cases_completed", "当日办结率", "same-day rate", "timeliness",
              target=0.3),
    # 便民服务
    Indicator("zero_trip_rate", "rate", "zero_trip_n", "cases_completed", "零跑腿率", "zero-trip rate", "convenience",
              target=0.9),
    Indicator("max_one_trip_rate", "rate", "max_one_trip_n", "cases_completed", "最多跑一次率", "max-one-trip rate",
              "convenience"),
    Indicator("online_rate", "rate", "online_n", "cases_completed", "网办率", "online rate", "convenience", target=0.9),
    # 好差评: ratings given in the period that count.
    Indicator("ratings", "count", "ratings", None, "评价量", "ratings", "ratings", direction="neutral"),
    Indicator("good_rate", "rate", "good_n", "ratings", "好评率", "good rate", "ratings", target=0.99),
    Indicator("bad_count", "count", "bad_count", None, "差评量", "bad ratings", "ratings", direction="lower"),
    Indicator("bad_rate", "rate", "bad_count", "ratings", "差评率", "bad rate", "ratings", direction="lower"),
    Indicator("rating_coverage", "rate", "rated_n", "cases_completed", "主动评价率", "rating coverage", "ratings",
              target=0.8),
    # 差评整改: over every bad rating of the period (the workbook), then the due-ness figures (DOMAIN: a rating
    # still within its limit is 整改中, never a failure) that the overview, the bulletin and the score use.
    Indicator("bad_rectified_rate", "rate", "bad_rectified_n", "bad_count", "差评整改率", "bad rectified rate",
              "followup", tile=False, headline=False),
    Indicator("bad_rectified_on_time_rate", "rate", "bad_rectified_on_time_n", "bad_count", "差评按期整改率",
              "bad rectified on time", "followup", tile=False, headline=False),
    Indicator("revisit_rate", "rate", "real_name_bad_revisited_n", "real_name_bad_n", "回访率", "revisit rate",
              "followup", tile=False, headline=False),
    Indicator("bad_due", "count", "bad_due", None, "到期差评", "bad ratings due", "followup", direction="neutral"),
    Indicator("bad_overdue_unrectified", "count", "bad_overdue_unrectified", None, "逾期未整改", "overdue unrectified",
              "followup", direction="lower", alert=True),
    Indicator("bad_in_progress", "count", "bad_in_progress", None, "整改中", "rectification in progress", "followup",
              direction="neutral",
              extra="整改中: bad ratings not yet due and not rectified (DOMAIN's prose under the table)"),
    Indicator("bad_rectified_due_rate", "rate", "bad_rectified_n", "bad_assessed_n", "到期差评整改率",
              "bad rectified (due)", "followup", target=1.0,
              extra="bad_rectified_rate over the bad ratings done or due: what the score weighs"),
    Indicator("bad_rectified_on_time_due_rate", "rate", "bad_rectified_on_time_n", "bad_assessed_n",
              "到期差评按期整改率", "bad rectified on time (due)", "followup", target=1.0,
              extra="bad_rectified_on_time_rate over the bad ratings done or due: what the score weighs"),
    Indicator("revisit_due_rate", "rate", "real_name_bad_revisited_n", "real_name_bad_assessed_n", "到期回访率",
              "revisit rate (due)", "followup", target=1.0,
              extra="revisit_rate over the real-name bad ratings revisited or due: what the score weighs"),
    # 数据质量
    Indicator("inconsistent_cases", "count", "inconsistent_cases", None, "数据矛盾办件", "inconsistent cases",
              "quality", direction="lower", tile=False, alert=True),
    # 事项目录: the items in force at the period's end.
    Indicator("depth3plus_item_rate", "rate", "depth3plus_items", "items", "三级及以上网办深度事项占比",
              "depth ≥ 3 items", "catalogue", target=0.9),
    Indicator("immediate_item_rate", "rate", "immediate_items", "items", "即办件占比", "immediate items", "catalogue",
              target=0.3),
    Indicator("zero_trip_item_rate", "rate", "zero_trip_items", "items", "零跑腿事项占比", "zero-trip items",
              "catalogue", target=0.9),
    Indicator("limit_compression", "compression", "promised_sum", "legal_sum", "承诺时限压缩率",
              "time-limit compression", "catalogue"),
)

#: key -> :class:`Indicator`, in the order of the ``hcp metrics`` JSON and of every table.
INDICATORS: dict[str, Indicator] = {row.key: row for row in _ROWS}
INDICATOR_KEYS = tuple(INDICATORS)
#: Every count behind the indicators (numerators and denominators), sorted: the counts of ``hcp metrics``.
COUNT_COLUMNS = tuple(sorted({c for i in _ROWS for c in (i.numerator, i.denominator) if c}))
#: Default targets (DOMAIN.md's where it states one); ``[scoring.targets]`` and ``[reports.targets]`` override.
DEFAULT_TARGETS = {i.key: i.target for i in _ROWS if i.target is not None}


def bad_done_within_limit(counts) -> int:
    """Bad ratings rectified or explained while still within their limit: with the due ones (``bad_due``) they
    make up the base of the due rates (``bad_assessed_n``), so the base is stated as due + done within the
    limit (the bulletin's text, the dashboard's caption under the due rate)."""
    return int(counts.get("bad_assessed_n") or 0) - int(counts.get("bad_due") or 0)


def keys_where(**fields) -> tuple[str, ...]:
    """The keys of the indicators whose fields have the given values, in registry order.

    >>> keys_where(section="convenience")
    ('zero_trip_rate', 'max_one_trip_rate', 'online_rate')
    """
    return tuple(i.key for i in _ROWS if all(getattr(i, name) == value for name, value in fields.items()))


def config_defaults(weights: dict) -> dict:
    """The indicator sections of the packaged configuration, laid under ``hcp/defaults.toml``'s own:
    ``[scoring.targets]`` (and ``[scoring.direction]`` where lower is better) for the indicators the default
    ``weights`` weigh, and ``[reports.targets]`` — targets printed in the bulletin — for the others that
    have a target. A user's ``config.toml`` overrides any of them key by key.

    >>> config_defaults({"good_rate": 15, "bad_rate": 0})["scoring"]
    {'targets': {'good_rate': 0.99}, 'direction': {}}
    """
    scored = {key for key, weight in weights.items() if float(weight) > 0}
    return {
        "scoring": {
            "targets": {k: t for k, t in DEFAULT_TARGETS.items() if k in scored},
            "direction": {i.key: "lower" for i in _ROWS if i.direction == "lower" and i.key in scored},
        },
        "reports": {"targets": {k: t for k, t in DEFAULT_TARGETS.items() if k not in scored}},
    }
