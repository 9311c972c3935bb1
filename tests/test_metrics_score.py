"""Composite score, ranking within peers and the bottom-two-months-running mark, on hand-worked values."""

from __future__ import annotations

import polars as pl
import pytest

from hcp.config import ScoringConfig
from metrics.score import composite_scores, mark_bottom_two, rank_within_peers

CONFIG = ScoringConfig(
    weights={"on_time_rate": 60, "good_rate": 40},
    targets={"on_time_rate": 1.0, "good_rate": 0.8},
    direction={},
)


def month(values: dict[str, tuple], peer: str = "p") -> pl.DataFrame:
    frame = pl.DataFrame(
        {"group": list(values), "on_time_rate": [v[0] for v in values.values()],
         "good_rate": [v[1] for v in values.values()], "peer_group": [peer] * len(values)},
        schema={"group": pl.String, "on_time_rate": pl.Float64, "good_rate": pl.Float64, "peer_group": pl.String},
    )
    return rank_within_peers(composite_scores(frame, CONFIG))


def by_group(frame: pl.DataFrame) -> dict[str, dict]:
    return {r["group"]: r for r in frame.to_dicts()}


def test_scores_are_sums_of_contributions_and_missing_indicators_rescale():
    rows = by_group(month({"A": (1.0, 0.9), "B": (0.5, 0.4), "C": (None, 0.4), "D": (None, None)}))
    # A: 60·1 + 40·min(0.9/0.8, 1) = 100.  B: 60·0.5 + 40·(0.4/0.8) = 50.
    assert rows["A"]["composite_score"] == pytest.approx(100)
    assert rows["B"]["composite_score"] == pytest.approx(50)
    # C has only good_rate: its 40 points are rescaled to 100 → 100·(0.5) = 50; contribution recorded.
    assert rows["C"]["composite_score"] == pytest.approx(50) and rows["C"]["contrib_on_time_rate"] is None
    assert rows["C"]["contrib_good_rate"] == pytest.approx(50)
    # D has nothing to score: no score, no rank.
    assert rows["D"]["composite_score"] is None and rows["D"]["rank"] is None


def test_ties_share_the_better_rank_and_bottom_two_counts_strictly_lower_peers():
    rows = by_group(month({"A": (1.0, 0.8), "B": (0.8, 0.8), "C": (0.7, 0.8), "D": (0.7, 0.8), "E": (0.2, 0.8)}))
    assert [rows[g]["rank"] for g in "ABCDE"] == [1, 2, 3, 3, 5]
    assert all(rows[g]["peers"] == 5 for g in "ABCDE")
    # C and D each have one peer strictly below (E): both are in the bottom two, as is E.
    assert [rows[g]["bottom_two"] for g in "ABCDE"] == [False, False, True, True, True]


def test_scores_equal_as_published_share_a_rank():
    """60·on_time + 40·min(good/0.8, 1): A 60·0.91803 + 40 = 95.0818 and B 60·0.91799 + 40 = 95.0794 are both
    published as 95.08, so they share 1st (an office could not tell them apart); C 94.00 is 3rd."""
    rows = by_group(month({"A": (0.91803, 0.8), "B": (0.91799, 0.8), "C": (0.9, 0.8)}))
    assert rows["A"]["composite_score"] == pytest.approx(95.0818) and rows["B"]["composite_score"] == pytest.approx(95.0794)
    assert [rows[g]["rank"] for g in "ABC"] == [1, 1, 3]


def test_bottom_two_in_two_consecutive_months_is_marked_for_a_talk():
    september = mark_bottom_two(month({"A": (1.0, 0.8), "B": (0.9, 0.8), "C": (0.5, 0.8), "D": (0.4, 0.8)}), None, 3)
    october = month({"A": (1.0, 0.8), "B": (0.3, 0.8), "C": (0.6, 0.8), "D": (0.9, 0.8)})
    marked = by_group(mark_bottom_two(october, september.select("group", "bottom_two"), 3))
    # September bottom two: C, D. October bottom two: B, C. Both months: C only.
    assert [marked[g]["bottom_two"] for g in "ABCD"] == [False, True, True, False]
    assert [marked[g]["bottom_two_consecutive"] for g in "ABCD"] == [False, False, True, False]
    assert not any(r["bottom_two_consecutive"] for r in september.to_dicts())  # no month before


def test_small_peer_groups_mark_nobody_and_peer_groups_rank_separately():
    small = by_group(mark_bottom_two(month({"A": (1.0, 0.8), "B": (0.1, 0.8)}), None, 3))
    assert not small["B"]["bottom_two"] and small["B"]["rank"] == 2
    two_groups = pl.concat([month({"A": (1.0, 0.8), "B": (0.5, 0.8)}, "x"), month({"C": (0.1, 0.8)}, "y")])
    ranked = by_group(rank_within_peers(two_groups.drop("rank", "peers", "bottom_two")))
    assert (ranked["C"]["rank"], ranked["C"]["peers"], ranked["B"]["rank"]) == (1, 1, 2)


def test_lower_is_better_indicators_and_invalid_targets():
    config = ScoringConfig(weights={"bad_rate": 1}, targets={"bad_rate": 0.02}, direction={"bad_rate": "lower"})
    frame = pl.DataFrame({"group": ["A", "B"], "bad_rate": [0.01, 0.51], "peer_group": ["p", "p"]})
    scores = composite_scores(frame, config)["composite_score"].to_list()
    # attainment = min((1 − value) / (1 − target), 1): A → 1, B → 0.49 / 0.98 = 0.5.
    assert scores == pytest.approx([100, 50])
    with pytest.raises(ValueError, match="no target"):
        ScoringConfig(weights={"good_rate": 1}, targets={}, direction={})
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        ScoringConfig(weights={"good_rate": 1}, targets={"good_rate": 1.5}, direction={})
