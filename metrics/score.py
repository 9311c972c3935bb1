"""Composite score (综合得分), ranking within peer groups, and the bottom-two-months list (约谈).

The score of a unit is the sum of per-indicator contributions (``[scoring]`` in the configuration,
:class:`hcp.config.ScoringConfig`):

    contribution_i = 100 × w_i × a_i / Σ_{j with a value} w_j

where a_i is the attainment of indicator i against its target: min(value / target, 1) when higher is
better, min((1 − value) / (1 − target), 1) when lower is better. An indicator whose base is empty (null)
contributes nothing and its weight is shared among the others; a unit with no scored indicator at all
has no score and no rank. So every score is, exactly, the sum of its contributions.

**Who is ranked** (``[ranking]``, :class:`hcp.config.RankingConfig`). Each unit gets a ``rank_status``:

* ``no_data`` (无数据): no completed case and no counted rating in the period. No score, no rank, even if
  its catalogue has figures; a period with no data at all therefore has no score anywhere.
* ``small_sample`` (样本不足): some data, but fewer than ``min_cases`` completed cases and fewer than
  ``min_ratings`` counted ratings. It keeps its figures and its score (the sum of its parts, for
  reference) but is not ranked and carries no bottom-two mark.
* ``ranked``: everything else, ranked by score among the ranked units of its peer group (1 = best; ties
  share the better rank); ``peers`` is how many ranked units the group has.

The volume thresholds can be set per office: ``[ranking.locality."<region code>"]`` applies to every unit
whose own region lies in that subtree (the most specific prefix wins).

A ranked unit is in the **bottom two** when fewer than two ranked units of its peer group scored strictly
lower, only in a peer group of at least ``bottom_min_peers`` ranked units (in a smaller group the last
two places say little), and only when its score is at least ``bottom_margin_points`` below the median
score of its group's ranked units (the last of five departments scoring 91.41 where the median is 91.45
is not behind anyone; one at 89.38 is). In the bottom two this month and last month, it is marked for a
talk (``bottom_two_consecutive``).
"""

from __future__ import annotations

from functools import reduce
from operator import add

import polars as pl

from hcp.config import RankingConfig, ScoringConfig
from hcp.workdays import region_prefix

#: ``rank_status`` values.
RANKED, SMALL_SAMPLE, NO_DATA = "ranked", "small_sample", "no_data"


def threshold_expr(config: RankingConfig, key: str, region: str = "unit_region") -> pl.Expr:
    """The volume threshold ``key`` (``min_cases``/``min_ratings``) of each unit: its office's own (the most
    specific ``[ranking.locality]`` region prefix holding the unit's region), else the default."""
    expr = pl.lit(getattr(config, key), dtype=pl.Int64)
    for code, values in sorted(config.locality.items(), key=lambda kv: len(region_prefix(kv[0]))):
        if key in values:
            expr = pl.when(pl.col(region).str.starts_with(region_prefix(code))).then(
                pl.lit(values[key], dtype=pl.Int64)).otherwise(expr)
    return expr


def rank_status(values: pl.DataFrame, config: RankingConfig) -> pl.DataFrame:
    """Add ``rank_status`` (no_data / small_sample / ranked) from the unit's volume in the period.

    ``values`` has ``cases_completed``, ``ratings`` and ``unit_region`` (the region whose office's
    thresholds apply; "" for none).
    """
    cases, ratings = pl.col("cases_completed").fill_null(0), pl.col("ratings").fill_null(0)
    enough = (cases >= threshold_expr(config, "min_cases")) | (ratings >= threshold_expr(config, "min_ratings"))
    return values.with_columns(
        rank_status=pl.when((cases == 0) & (ratings == 0)).then(pl.lit(NO_DATA))
        .when(enough).then(pl.lit(RANKED)).otherwise(pl.lit(SMALL_SAMPLE))
    )


def contribution_column(key: str) -> str:
    return f"contrib_{key}"


def composite_scores(values: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """Add ``contrib_<key>`` for each weighted indicator and ``composite_score`` (their sum).

    DOMAIN: "a unit is scored and ranked only when its figures mean something": a unit whose
    ``rank_status`` is not ``ranked`` (样本不足 or no data) gets neither (when the column is present) — its
    figures are shown, but a score on two cases would read like one that means something."""
    attainment = {}
    for key, target in config.targets.items():
        if key not in config.weights:
            continue
        value = pl.col(key).cast(pl.Float64)
        if config.direction.get(key) == "lower":
            # A "lower is better" target of 1 (100%) is met by any value.
            score = pl.lit(1.0) if target >= 1 else (1 - value) / (1 - target)
        else:
            score = value / target
        attainment[key] = score.clip(lower_bound=0.0, upper_bound=1.0)
    present_weight = pl.sum_horizontal(
        [pl.when(pl.col(k).is_not_null()).then(pl.lit(w)).otherwise(0.0) for k, w in config.weights.items()]
    )
    if "rank_status" in values.columns:
        present_weight = pl.when(pl.col("rank_status") == RANKED).then(present_weight).otherwise(0.0)
    # The weight present is a column of its own: repeated inside every contribution, it made the plan about
    # ten times larger (Polars' planning was most of the cost of scoring a month's small frames).
    weight = pl.col("_present_weight")
    contributions = [
        pl.when((weight > 0) & pl.col(k).is_not_null())
        .then(100.0 * config.weights[k] * attainment[k] / weight)
        .alias(contribution_column(k))
        for k in config.weights
    ]
    scored = values.with_columns(_present_weight=present_weight).with_columns(contributions)
    return scored.with_columns(
        composite_score=pl.when(weight > 0).then(ordered_sum([contribution_column(k) for k in config.weights]))
    ).drop("_present_weight")


def ordered_sum(columns: list[str]) -> pl.Expr:
    """The row-wise sum of ``columns`` (a missing value counts 0), added left to right in the order given.

    A float sum depends on its order in the last bit, and ``pl.sum_horizontal`` may add in any order: the
    same figures computed twice (or merged from shards) could differ by 1e-14 and, at a rounding edge, print
    differently. A fixed order makes the composite score the same every time."""
    return reduce(add, [pl.col(c).fill_null(0.0) for c in columns])


#: Scores are published with two decimals; units whose published scores are equal share a rank.
SCORE_DECIMALS = 2


def rank_within_peers(scored: pl.DataFrame, peer_column: str = "peer_group") -> pl.DataFrame:
    """Add ``rank`` (1 = best), ``peers`` (ranked units in the group) and ``bottom_two``.

    Units are ranked on their score as published (:data:`SCORE_DECIMALS`): two units shown with the same
    score share a rank (91.8033 and 91.7989 are both 91.80 in a bulletin, so both are 1st, the next 3rd) —
    a rank an office cannot explain from the published figures would not hold. Only units with a score and
    (when the column is present) ``rank_status`` ``ranked`` take part."""
    has_score = pl.col("composite_score").is_not_null()
    if "rank_status" in scored.columns:
        has_score = has_score & (pl.col("rank_status") == RANKED)
    # null ranks nothing and is not counted
    score = pl.when(has_score).then(pl.col("composite_score").round(SCORE_DECIMALS))
    ranked = scored.with_columns(
        peers=has_score.sum().over(peer_column).cast(pl.Int32),
        rank=pl.when(has_score).then(score.rank(method="min", descending=True).over(peer_column)).cast(pl.Int32),
        _rank_max=pl.when(has_score).then(score.rank(method="max", descending=True).over(peer_column)),
    )
    return ranked.with_columns(
        bottom_two=(has_score & ((pl.col("peers") - pl.col("_rank_max")) < 2)).fill_null(False),
    ).drop("_rank_max")


def mark_bottom_two(ranked: pl.DataFrame, previous: pl.DataFrame | None, min_peers: int,
                    margin: float = 0.0, peer_column: str = "peer_group") -> pl.DataFrame:
    """Apply the minimum peer-group size and the margin below the group's median score, and mark units in
    the bottom two this month and the last."""
    ranked_score = pl.when(pl.col("rank").is_not_null()).then(pl.col("composite_score"))
    behind = pl.col("composite_score") <= ranked_score.median().over(peer_column) - margin
    ranked = ranked.with_columns(bottom_two=pl.col("bottom_two") & (pl.col("peers") >= min_peers) & behind.fill_null(False))
    if previous is None or previous.height == 0:
        return ranked.with_columns(bottom_two_consecutive=pl.lit(False))
    before = previous.select("group", _before=pl.col("bottom_two"))
    return ranked.join(before, on="group", how="left").with_columns(
        bottom_two_consecutive=pl.col("bottom_two") & pl.col("_before").fill_null(False)
    ).drop("_before")
