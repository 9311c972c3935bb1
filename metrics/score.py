"""Composite score (综合得分), ranking within peer groups, and the bottom-two-months list (约谈).

The score of a unit is the sum of per-indicator contributions (``[scoring]`` in the configuration):

    contribution_i = 100 × w_i × a_i / Σ_{j with a value} w_j

where a_i is the attainment of indicator i against its target: min(value / target, 1) when higher is
better, min((1 − value) / (1 − target), 1) when lower is better. An indicator whose base is empty (null)
contributes nothing and its weight is shared among the others; a unit with no scored indicator at all
has no score and no rank. So every score is, exactly, the sum of its contributions.

Units are ranked by score within their peer group (1 = best; ties share the better rank). A unit is in
the **bottom two** when fewer than two units of its peer group scored strictly lower, in a peer group of
at least ``bottom_min_peers`` scored units; in the bottom two this month and last month, it is marked for
a talk (``bottom_two_consecutive``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class ScoringConfig:
    weights: dict[str, float]
    targets: dict[str, float]
    direction: dict[str, str]
    bottom_min_peers: int = 3

    @classmethod
    def from_config(cls, config: dict) -> "ScoringConfig":
        section = config.get("scoring", {})
        weights = {k: float(v) for k, v in section.get("weights", {}).items() if float(v) > 0}
        targets = {k: float(v) for k, v in section.get("targets", {}).items()}
        missing = sorted(set(weights) - set(targets))
        if missing:
            raise ValueError(f"[scoring.targets] has no target for {', '.join(missing)}")
        for key, target in targets.items():
            if not 0 < target <= 1:
                raise ValueError(f"[scoring.targets] {key} = {target}: a target must be in (0, 1]")
        return cls(weights, targets, dict(section.get("direction", {})), int(section.get("bottom_min_peers", 3)))


def contribution_column(key: str) -> str:
    return f"contrib_{key}"


def composite_scores(values: pl.DataFrame, config: ScoringConfig) -> pl.DataFrame:
    """Add ``contrib_<key>`` for each weighted indicator and ``composite_score`` (their sum)."""
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
    contributions = [
        pl.when((present_weight > 0) & pl.col(k).is_not_null())
        .then(100.0 * config.weights[k] * attainment[k] / present_weight)
        .alias(contribution_column(k))
        for k in config.weights
    ]
    scored = values.with_columns(contributions)
    return scored.with_columns(
        composite_score=pl.when(present_weight > 0).then(pl.sum_horizontal([contribution_column(k) for k in config.weights]))
    )


def rank_within_peers(scored: pl.DataFrame, peer_column: str = "peer_group") -> pl.DataFrame:
    """Add ``rank`` (1 = best, ties share), ``peers`` (scored units in the group) and ``bottom_two``."""
    has_score = pl.col("composite_score").is_not_null()
    ranked = scored.with_columns(
        peers=has_score.sum().over(peer_column).cast(pl.Int32),
        rank=pl.when(has_score).then(
            pl.col("composite_score").rank(method="min", descending=True).over(peer_column)
        ).cast(pl.Int32),
        _rank_max=pl.when(has_score).then(
            pl.col("composite_score").rank(method="max", descending=True).over(peer_column)
        ),
    )
    return ranked.with_columns(
        bottom_two=(has_score & ((pl.col("peers") - pl.col("_rank_max")) < 2)).fill_null(False),
    ).drop("_rank_max")


def mark_bottom_two(ranked: pl.DataFrame, previous: pl.DataFrame | None, min_peers: int) -> pl.DataFrame:
    """Apply the minimum peer-group size, and mark units in the bottom two this month and the last."""
    ranked = ranked.with_columns(bottom_two=pl.col("bottom_two") & (pl.col("peers") >= min_peers))
    if previous is None or previous.height == 0:
        return ranked.with_columns(bottom_two_consecutive=pl.lit(False))
    before = previous.select("group", _before=pl.col("bottom_two"))
    return ranked.join(before, on="group", how="left").with_columns(
        bottom_two_consecutive=pl.col("bottom_two") & pl.col("_before").fill_null(False)
    ).drop("_before")
