"""The ratings each case has (``rating_count``, the numerator's cases of ``rating_coverage``) are counted in
two places, for speed: in Polars over the rating facts a full run has read (:func:`metrics.ratings.rated_cases`),
and in ClickHouse for the cases an incremental run touched (:func:`warehouse.queries.ratings.ratings_per_case`).
Both are checked here against counts worked out by hand, on the real embedded warehouse.

By hand (DOMAIN.md: coverage counts the cases the applicant rated; a default rating is not the applicant's
act; a rating is one rating whatever copies of it were stored):
- C1: R1 and R2 (R2 stored twice, the second copy re-sent under another region, which the table's key keeps
  apart), and the default rating R3 → 2;
- C2: R4 → 1;
- C3: only the default rating R5 → not rated;
- R6 names no case → counted for no case.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.workdays import WorkCalendar
from metrics.ratings import rated_cases, rating_facts
from tests.builders import followups_frame, rating, ratings_frame
from tests.conftest import home_with
from warehouse import open_warehouse
from warehouse.queries.ratings import load_followups, load_ratings, ratings_per_case
from warehouse.queries.sql import Where

EXPECTED = {"C1": 2, "C2": 1}


def rows() -> pl.DataFrame:
    return ratings_frame([
        rating("R1", "C1", 5, "2025-10-10 10:00"),
        rating("R2", "C1", 2, "2025-10-11 10:00"),
        rating("R2", "C1", 2, "2025-10-11 10:00", region="370203000000"),
        rating("R3", "C1", 5, "2025-10-12 10:00", default=True),
        rating("R4", "C2", 4, "2025-10-12 11:00"),
        rating("R5", "C3", 5, "2025-10-13 10:00", default=True),
        rating("R6", "", 1, "2025-10-13 11:00"),
    ])


def counts(frame: pl.DataFrame) -> dict[str, int]:
    return dict(frame.select("case_id", "rating_count").iter_rows())


def test_both_counts_of_ratings_per_case_agree_with_the_hand_count(tmp_path):
    with home_with(tmp_path, lambda wh: wh.insert_df("ratings", rows())):
        with open_warehouse() as wh:
            in_clickhouse = ratings_per_case(wh, Where())
            stored = load_ratings(wh)
            followups = load_followups(wh)
    assert stored.height == 7  # both copies of R2 are stored
    in_polars = rated_cases(rating_facts(stored, followups if followups.height else followups_frame([]), WorkCalendar(),
                                         rectify_days=15, as_of=dt.date(2025, 12, 1)))
    assert counts(in_clickhouse) == EXPECTED
    assert counts(in_polars) == EXPECTED
