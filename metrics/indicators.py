"""The indicators of DOMAIN.md, for a period and a grouping, from case facts, rating facts and the catalogue.

Each indicator is a ratio (or count, or mean) whose numerator and denominator are kept beside it, so any
figure can be explained down to the cases behind it. A rate over an empty base is null, never 0 or 1.

* Case indicators group the cases **completed in the period** (completion event inside it) by the case's
  own region, department or item. An **inconsistent** case (its own events contradict each other:
  completion or acceptance before submission, completion before acceptance) cannot be timed: it is left
  out of every case indicator, ``cases_completed`` included, and counted in ``inconsistent_cases``.
  ``rating_coverage`` counts a case as rated when it has a rating that is not a default rating, even one
  later excluded by an upheld appeal (the applicant did rate).
* Rating indicators group the ratings **given in the period** that count (not default, appeal not
  upheld) by the rating's own region, department or item. A bad rating is **due** once its rectification
  limit has passed at the moment the figures are computed (``bad_due``); due and still neither rectified
  nor explained, it is **overdue unrectified** (``bad_overdue_unrectified``, 逾期未整改); not yet due and
  not yet rectified, it is **in progress** (``bad_in_progress``, 整改中), never a failure. The ``…_due_rate``
  indicators are the rectification rates over the bad ratings that can already be judged (done, or due):
  they are what the composite score weighs, so a rating made on the 30th never counts against a
  department in a bulletin published on the 1st.
* **Grouping by level** (本级): a grouping at a level holds only regions of that level. A case or rating
  belongs to the city (county) whose prefix it shares only if its own region is at city (county) level or
  below; the work of a higher government (a province-level department, region ``370000000000``) is in no
  city or county group. ``region:own`` holds that work: one group per province- or city-level government,
  the cases and ratings whose region is exactly that government's (省本级, 市本级).
* Catalogue indicators group the items **in force at the end of the period** (latest version with
  ``valid_from`` on or before the period's last day) by the item's department, or the region of that
  department. ``limit_compression`` = 1 − Σ promised ÷ Σ legal over items that have a legal limit.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp import indicators as registry
from hcp.domain import REGION_PREFIX
from hcp.periods import Period

#: Grouping names accepted by ``--by``.
GROUPINGS = ("all", "region:province", "region:city", "region:county", "region:own", "dept", "item")
#: Region levels that have a government of their own above the county (本级 groups of ``region:own``).
OWN_LEVELS = ("province", "city")

#: key -> (kind, numerator column, denominator column), from the registry (:mod:`hcp.indicators`, where an
#: indicator is declared). kind: rate | count | mean | compression.
INDICATORS: dict[str, tuple[str, str | None, str | None]] = {
    key: (row.kind, row.numerator, row.denominator) for key, row in registry.INDICATORS.items()
}
INDICATOR_KEYS = registry.INDICATOR_KEYS
COUNT_COLUMNS = registry.COUNT_COLUMNS


def region_level_width(code: pl.Expr) -> pl.Expr:
    """The prefix width of a 12-digit region code's own level: 2 province, 4 city, 6 county, 9 township,
    12 village (the code's significant digits; ``370200000000`` is a city, width 4)."""
    return (
        pl.when(code.str.slice(2) == "0000000000").then(2)
        .when(code.str.slice(4) == "00000000").then(4)
        .when(code.str.slice(6) == "000000").then(6)
        .when(code.str.slice(9) == "000").then(9)
        .otherwise(12)
    )


def level_group_expr(level: str, region: pl.Expr) -> pl.Expr:
    """The region at ``level`` a row belongs to, or null when its own region is above that level (本级 of a
    higher government is in no group of a lower level)."""
    width = REGION_PREFIX[level]
    return pl.when(region_level_width(region) >= width).then(region.str.slice(0, width).str.pad_end(12, "0"))


def own_level_group_expr(region: pl.Expr) -> pl.Expr:
    """The government whose own work (本级) a row is: its region when that region is a province or a city."""
    widths = [REGION_PREFIX[level] for level in OWN_LEVELS]
    return pl.when(region_level_width(region).is_in(widths)).then(region)


def group_expr(by: str, region_col: str = "region_code", dept_col: str = "dept_code", item_col: str = "item_code") -> pl.Expr:
    """The group code of each row under grouping ``by``; region groups are full 12-digit codes, and null
    where the row is in no group of that grouping (a higher government's own work under a lower level)."""
    if by == "all":
        return pl.lit("all")
    if by == "dept":
        return pl.col(dept_col)
    if by == "item":
        return pl.col(item_col)
    if by == "region:own":
        return own_level_group_expr(pl.col(region_col))
    if by.startswith("region:") and by[7:] in REGION_PREFIX:
        return level_group_expr(by[7:], pl.col(region_col))
    raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(GROUPINGS)}")


def _grouped(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """``frame`` with its ``group`` column, rows outside every group of the grouping dropped."""
    return frame.with_columns(group=group_expr(by)).filter(pl.col("group").is_not_null())


#: The finest grouping: every grouping's group is a function of a row's (region, department, item) codes,
#: so counts per cell (and month) roll up exactly to every grouping — one pass over the facts for all.
CELL_KEYS = ("region_code", "dept_code", "item_code")
CASE_COUNT_COLUMNS = ("cases_completed", "timed_n", "on_time_n", "overdue_completed", "net_days_sum", "net_days_n",
                      "same_day_n", "zero_trip_n", "max_one_trip_n", "online_n", "rated_n", "inconsistent_cases")
RATING_COUNT_COLUMNS = ("ratings", "good_n", "bad_count", "bad_rectified_n", "bad_rectified_on_time_n",
                        "real_name_bad_n", "real_name_bad_revisited_n", "bad_due", "bad_overdue_unrectified",
                        "bad_in_progress", "bad_assessed_n", "real_name_bad_assessed_n")


def _month_key(column: str) -> pl.Expr:
    return pl.col(column).dt.date().dt.truncate("1mo").alias("month")


def case_cells(facts: pl.DataFrame, period: Period | None = None) -> pl.DataFrame:
    """Counts behind the case indicators per month of completion and cell (region, department, item) of the
    completed cases (those completed in ``period`` if given). An inconsistent case counts only in
    ``inconsistent_cases``; every other count is over the consistent ones. A case with no deadline (its item
    is not in the catalogue: null ``on_time``) cannot be timed: it counts in ``cases_completed`` and every
    count but the timeliness ones, and ``timed_n`` (the base of ``on_time_rate``) leaves it out — it is
    neither on time nor overdue, so it neither lowers a department's on-time rate nor disappears
    (``cases_completed − timed_n``, listed by ``hcp quality``)."""
    completed = pl.col("state") == "completed"
    rows = facts.filter(completed & period.contains("completed_at") if period is not None else completed)
    ok = ~pl.col("inconsistent")
    return rows.group_by(_month_key("completed_at"), *CELL_KEYS).agg(
        cases_completed=ok.sum(),
        timed_n=(ok & pl.col("on_time").is_not_null()).sum(),
        on_time_n=(ok & (pl.col("on_time") == True)).sum(),  # noqa: E712
        overdue_completed=(ok & (pl.col("on_time") == False)).sum(),  # noqa: E712
        net_days_sum=pl.col("net_working_days").filter(ok).sum(),
        net_days_n=pl.col("net_working_days").filter(ok).count(),
        same_day_n=(ok & pl.col("same_day").fill_null(False)).sum(),
        zero_trip_n=(ok & (pl.col("trips") == 0)).sum(),
        max_one_trip_n=(ok & (pl.col("trips") <= 1)).sum(),
        online_n=(ok & pl.col("online")).sum(),
        rated_n=(ok & (pl.col("rating_count") > 0)).sum(),
        inconsistent_cases=pl.col("inconsistent").sum(),
    ).with_columns([pl.col(c).cast(pl.Int64) for c in CASE_COUNT_COLUMNS])


def rating_cells(rfacts: pl.DataFrame, period: Period | None = None) -> pl.DataFrame:
    """Counts behind the rating indicators per month and cell (the rating's own region, department, item) of
    the counted ratings (given in ``period`` if given). ``rfacts`` are :func:`metrics.ratings.rating_facts`
    (their ``due`` is as of the moment they were made)."""
    counted = pl.col("counted")
    given = rfacts.filter(counted & period.contains("rated_at") if period is not None else counted)
    bad = pl.col("bad")
    real_bad = bad & pl.col("real_name")
    overdue_unrectified = bad & pl.col("due") & ~pl.col("rectified")
    return given.group_by(_month_key("rated_at"), *CELL_KEYS).agg(
        ratings=pl.len(),
        good_n=pl.col("good").sum(),
        bad_count=bad.sum(),
        bad_rectified_n=(bad & pl.col("rectified")).sum(),
        bad_rectified_on_time_n=(bad & pl.col("rectified_on_time")).sum(),
        real_name_bad_n=real_bad.sum(),
        real_name_bad_revisited_n=(real_bad & pl.col("revisited")).sum(),
        bad_due=(bad & pl.col("due")).sum(),
        bad_overdue_unrectified=overdue_unrectified.sum(),
        bad_in_progress=(bad & ~pl.col("due") & ~pl.col("rectified")).sum(),
        bad_assessed_n=(bad & (pl.col("due") | pl.col("rectified"))).sum(),
        real_name_bad_assessed_n=(real_bad & (pl.col("due") | pl.col("revisited"))).sum(),
    ).with_columns([pl.col(c).cast(pl.Int64) for c in RATING_COUNT_COLUMNS])


def sum_cells(*parts: pl.DataFrame) -> pl.DataFrame:
    """Cells computed piecewise (a bucket of cases at a time) added up: counts are additive."""
    frames = [p for p in parts if p.height]
    if not frames:
        return parts[0].clear() if parts else pl.DataFrame()
    stacked = pl.concat(frames)
    counts = [c for c in stacked.columns if c not in ("month", *CELL_KEYS)]
    return stacked.group_by("month", *CELL_KEYS).agg([pl.col(c).sum() for c in counts])


def negated(cells: pl.DataFrame) -> pl.DataFrame:
    """Cells with every count negated: added to other cells, they take these rows' contribution away (an
    incremental run takes the old facts of the cases it recomputes away and adds their new facts)."""
    return cells.with_columns([-pl.col(c) for c in cells.columns if c not in ("month", *CELL_KEYS)])


def present_case_groups(counts: pl.DataFrame) -> pl.DataFrame:
    """The groups that have a completed case (consistent or not): those a case roll-up has a row for."""
    return counts.filter((pl.col("cases_completed") + pl.col("inconsistent_cases")) > 0)


def present_rating_groups(counts: pl.DataFrame) -> pl.DataFrame:
    """The groups that have a counted rating: those a rating roll-up has a row for."""
    return counts.filter(pl.col("ratings") > 0)


def roll_up(cells: pl.DataFrame, by: str) -> pl.DataFrame:
    """Counts per group of grouping ``by`` from counts per cell (cells outside every group dropped)."""
    counts = [c for c in cells.columns if c not in ("month", *CELL_KEYS)]
    return _grouped(cells, by).group_by("group").agg([pl.col(c).sum() for c in counts])


def case_counts(facts: pl.DataFrame, period: Period, by: str) -> pl.DataFrame:
    """Counts behind the case indicators, per group, for cases completed in the period."""
    return roll_up(case_cells(facts, period), by)


def rating_counts(rfacts: pl.DataFrame, period: Period, by: str) -> pl.DataFrame:
    """Counts behind the rating indicators, per group, for counted ratings given in the period.

    ``rfacts`` are :func:`metrics.ratings.rating_facts` (their ``due`` is as of the moment they were made).
    """
    return roll_up(rating_cells(rfacts, period), by)


def items_in_force(items: pl.DataFrame, on: dt.date) -> pl.DataFrame:
    """The catalogue as it stood on a day: for each item code, its latest version valid by then."""
    return (
        items.filter(pl.col("valid_from") <= on)
        .sort("item_code", "valid_from")
        .group_by("item_code", maintain_order=True)
        .last()
    )


def catalogue_counts(items: pl.DataFrame, departments: pl.DataFrame, period: Period, by: str) -> pl.DataFrame:
    """Counts behind the catalogue indicators, per group, for the items in force at the period's end."""
    catalogue = items_in_force(items, period.end - dt.timedelta(days=1)).join(
        departments.select("dept_code", "region_code"), on="dept_code", how="left"
    )
    if by.startswith("region:"):
        catalogue = catalogue.filter(pl.col("region_code").is_not_null())
    with_legal = pl.col("legal_limit_days") > 0
    return _grouped(catalogue, by).group_by("group").agg(
        items=pl.len(),
        depth3plus_items=(pl.col("online_depth") >= 3).sum(),
        immediate_items=(pl.col("promised_limit_days") == 0).sum(),
        zero_trip_items=(pl.col("max_trips") == 0).sum(),
        promised_sum=pl.col("promised_limit_days").filter(with_legal).sum(),
        legal_sum=pl.col("legal_limit_days").filter(with_legal).sum(),
    )


def indicator_values(counts: pl.DataFrame) -> pl.DataFrame:
    """Add every indicator (by its DOMAIN key) to a frame of counts; empty bases give null."""
    exprs = []
    for key, (kind, num, den) in INDICATORS.items():
        if kind == "count":
            exprs.append(pl.col(num).cast(pl.Int64).alias(key))
            continue
        base = pl.col(den).cast(pl.Float64)
        ratio = pl.col(num).cast(pl.Float64) / base
        value = (1 - ratio) if kind == "compression" else ratio
        exprs.append(pl.when(base > 0).then(value).otherwise(None).alias(key))
    return counts.with_columns(exprs)


def compute_indicators(
    facts: pl.DataFrame,
    rfacts: pl.DataFrame,
    items: pl.DataFrame,
    departments: pl.DataFrame,
    period: Period,
    by: str,
) -> pl.DataFrame:
    """One row per group: ``group``, every count behind the indicators, and every indicator key.

    ``facts`` are case facts with a ``rating_count`` column (counted ratings of the case).
    """
    return indicators_from_cells(case_cells(facts, period), rating_cells(rfacts, period), items, departments,
                                 period, by)


def indicators_from_cells(cases: pl.DataFrame, ratings: pl.DataFrame, items: pl.DataFrame,
                          departments: pl.DataFrame, period: Period, by: str) -> pl.DataFrame:
    """:func:`compute_indicators` from the period's case and rating cells (:func:`case_cells`,
    :func:`rating_cells`): the same rows, whichever way the cells were added up."""
    return indicators_from_counts(roll_up(cases, by), roll_up(ratings, by), items, departments, period, by)


def indicators_from_counts(cases: pl.DataFrame, ratings: pl.DataFrame, items: pl.DataFrame,
                           departments: pl.DataFrame, period: Period, by: str) -> pl.DataFrame:
    """:func:`compute_indicators` from the period's case and rating counts per group of ``by`` (a row per
    group that has a completed case, resp. a counted rating)."""
    parts = [cases, ratings, catalogue_counts(items, departments, period, by)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.join(part, on="group", how="full", coalesce=True)
    merged = merged.with_columns([pl.col(c).fill_null(0).cast(pl.Int64) for c in COUNT_COLUMNS if c in merged.columns])
    return indicator_values(merged).sort("group")
