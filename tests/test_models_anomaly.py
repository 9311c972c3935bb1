"""The rating-anomaly detector (异常评价): unit-day features worked out by hand on a tiny warehouse,
determinism, the CLI contract, too little data, episodes injected independently of the demo generator
(other shapes and sizes) found in the top k, and the demo's own labelled episodes evaluated. Real
embedded warehouse (chDB); no mocks."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from models import anomaly
from warehouse.queries import ratings as rating_queries
from models import store as model_store
from tests.builders import TS, at, event, events_frame
from tests.conftest import home_with, run_hcp
from warehouse import open_warehouse

RATING_SCHEMA = {
    "rating_id": pl.String, "case_id": pl.String, "item_code": pl.String, "dept_code": pl.String,
    "region_code": pl.String, "staff_id": pl.String, "channel": pl.String, "level": pl.UInt8, "rated_at": TS,
    "real_name": pl.Boolean, "default_rating": pl.Boolean, "rater_key": pl.String, "extra": pl.String,
}


def rating(rid: str, when: dt.datetime | str, *, level=5, case="", dept="D1", staff="", channel="pc",
           device="", rater="", default=False) -> dict:
    return {"rating_id": rid, "case_id": case, "item_code": "ITEM5", "dept_code": dept, "region_code": "370202000000",
            "staff_id": staff, "channel": channel, "level": level, "rated_at": at(when) if isinstance(when, str) else when,
            "real_name": bool(rater), "default_rating": default, "rater_key": rater,
            "extra": json.dumps({"device_id": device}) if device else ""}


def ratings_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RATING_SCHEMA)


# A tiny warehouse worked out by hand ----------------------------------------------------------------
def hand_data() -> tuple[list[dict], list[dict]]:
    """Staff S1 on Mon 2026-10-12: six ratings on device DEV1 from 10:00:00, 15 s apart, of cases C1…C6
    completed 10, 20, …, 60 s before their rating; five are level 5, one level 4. S1 also has one rating on
    Oct 13 and one on Oct 14 (its own median per active day is 1). Rater RK1 rates four cases (C7–C10)
    on Oct 13 by app, one of them twice. A default rating on Oct 12 (not the rater's act) is left out."""
    ratings, events = [], []
    t0 = at("2026-10-12 10:00")
    for i in range(6):
        case = f"C{i + 1}"
        when = t0 + dt.timedelta(seconds=15 * i)
        events.append(event(case, "completed", (when - dt.timedelta(seconds=10 * (i + 1))).strftime("%Y-%m-%d %H:%M:%S")))
        ratings.append(rating(f"R{i + 1}", when, level=4 if i == 2 else 5, case=case, staff="S1",
                              channel="hall_device", device="DEV1"))
    ratings.append(rating("R7", "2026-10-13 15:00", staff="S1", channel="hall_device", device="DEV1"))
    ratings.append(rating("R8", "2026-10-14 15:00", staff="S1", channel="qr_code"))
    for j, case in enumerate(["C7", "C8", "C9", "C10", "C10"]):
        ratings.append(rating(f"R{9 + j}", at("2026-10-13 11:00") + dt.timedelta(minutes=7 * j), case=case,
                              rater="RK1", channel="mobile_app", dept="D2"))
    ratings.append(rating("R20", "2026-10-12 22:00", case="C1", channel="sms", default=True))
    return ratings, events


def load_hand(wh) -> None:
    ratings, events = hand_data()
    wh.insert_df("ratings", ratings_frame(ratings))
    wh.insert_df("case_events", events_frame(events))


def test_unit_day_features_worked_by_hand(warehouse):
    load_hand(warehouse)
    ratings = rating_queries.ratings_between(warehouse, at("2026-10-01 00:00"), at("2026-11-01 00:00"))
    assert "R20" not in ratings["rating_id"].to_list()  # the default rating is not the rater's act
    days = {(r["unit_kind"], r["unit_id"], r["day"].isoformat()): r for r in anomaly.unit_days(ratings).to_dicts()}
    staff = days[("staff", "S1", "2026-10-12")]
    assert staff["ratings"] == 6 and staff["peak_hour"] == 6
    assert staff["top_share"] == pytest.approx(5 / 6)
    assert staff["median_secs"] == pytest.approx(35.0)  # 10, 20, …, 60 s
    assert staff["fast_n"] == 6 and staff["fast_share"] == 1.0  # all within 60 s (60 counts)
    assert staff["gap_cv"] == pytest.approx(0.0) and staff["mean_gap"] == pytest.approx(15.0)
    assert staff["run_n"] == 6 and staff["run_seconds"] == pytest.approx(75.0)
    assert staff["device_share"] == 1.0
    assert staff["own_median"] == 1.0 and staff["spike"] == 6.0  # 6, 1, 1 ratings on its three days
    assert staff["max_per_rater"] == 0  # anonymous
    # the same six ratings as the device's and the department's unit-day
    assert days[("device", "DEV1", "2026-10-12")]["ratings"] == 6
    assert days[("dept", "D1", "2026-10-12")]["ratings"] == 6
    # the rater: five ratings of four distinct cases, 7 minutes apart
    rater = days[("rater", "RK1", "2026-10-13")]
    assert rater["ratings"] == 5 and rater["max_per_rater"] == 4 and rater["mean_gap"] == pytest.approx(420.0)
    assert rater["median_secs"] is None and rater["fast_share"] == 0.0  # its cases have no completion
    dept2 = days[("dept", "D2", "2026-10-13")]
    assert dept2["max_per_rater"] == 4 and dept2["device_share"] == 0.0
    # fewer than MIN_RATINGS: S1's other days are not scored
    assert ("staff", "S1", "2026-10-13") not in days
    # the evidence in words, with the unit's own figures
    frame = anomaly.prepare(ratings)
    row = frame.filter((pl.col("unit_kind") == "staff") & (pl.col("unit_id") == "S1")).to_dicts()[0]
    assert anomaly.evidence_sentence("gap_cv", row, "zh") == "6 条评价在 1 分钟内，平均间隔 15 秒"
    assert anomaly.evidence_sentence("fast_share", row, "en") == "6 rated within 60 s of completion, median 35 s"
    assert anomaly.evidence_sentence("spike", row, "zh") == "当日 6 条，是其日常中位数 1 条的 6.0 倍"
    assert row["rules"] == ["top_burst_staff"]  # five level-5 ratings within 10 minutes: the existing rule


def _window_rows(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """Ratings as :func:`warehouse.queries.ratings.ratings_between` returns them, from (id, staff, rater,
    time); every rating level 5, of its own case, with no completion."""
    frame = pl.DataFrame(
        [{"rating_id": rid, "case_id": f"C-{rid}", "dept_code": "D1", "region_code": "370202000000",
          "staff_id": staff, "device_id": "", "channel": "qr_code", "level": 5, "rated_at": at(when),
          "day": at(when).date(), "rater_key": rater, "rater_phone_masked": "", "completed_at": None}
         for rid, staff, rater, when in rows], schema=rating_queries.ANOMALY_RATINGS_SCHEMA)
    return frame.sort("rated_at", "rating_id")


def test_a_unit_days_longest_run_is_the_earliest_of_the_longest():
    """Runs are ratings less than RUN_GAP_SECONDS (120 s) apart. S1: a run of 3 over 60 s, then (5 minutes
    later) a run of 3 over 20 s: the earliest of the two longest. S2: a run of 2, then a longer run of 3."""
    rows = [("a1", "S1", "", "2026-10-12 10:00:00"), ("a2", "S1", "", "2026-10-12 10:00:30"),
            ("a3", "S1", "", "2026-10-12 10:01:00"), ("a4", "S1", "", "2026-10-12 10:06:00"),
            ("a5", "S1", "", "2026-10-12 10:06:10"), ("a6", "S1", "", "2026-10-12 10:06:20"),
            ("b1", "S2", "", "2026-10-12 09:00:00"), ("b2", "S2", "", "2026-10-12 09:01:00"),
            ("b3", "S2", "", "2026-10-12 09:10:00"), ("b4", "S2", "", "2026-10-12 09:10:05"),
            ("b5", "S2", "", "2026-10-12 09:10:07")]
    days = {r["unit_id"]: r for r in anomaly.unit_days(_window_rows(rows)).filter(
        pl.col("unit_kind") == "staff").to_dicts()}
    assert (days["S1"]["run_n"], days["S1"]["run_seconds"]) == (3, 60.0)
    assert (days["S2"]["run_n"], days["S2"]["run_seconds"]) == (3, 7.0)


def test_each_units_ratings_are_in_time_then_id_order():
    """Rows per unit come in (kind, unit, time, rating id) order — ratings at the same instant by id — for
    units whose ratings interleave in time: 3,000 ratings of 7 staff and 40 raters within ten minutes."""
    import random

    pick = random.Random(7)
    rows = [(f"r{pick.randrange(10**6):06d}-{i}", f"S{pick.randrange(7)}", f"K{pick.randrange(40)}" if i % 3 else "",
             f"2026-10-12 10:0{pick.randrange(10)}:{pick.randrange(60):02d}") for i in range(3000)]
    units = anomaly.unit_ratings(_window_rows(rows).sample(fraction=1.0, shuffle=True, seed=7))  # in any order
    expected = units.sort("unit_kind", "unit_id", "rated_at", "rating_id")
    assert units.height == 3000 * 3 + 2000  # staff, dept, rater (two in three), no device
    assert units.select("unit_kind", "unit_id", "rating_id").rows() == expected.select(
        "unit_kind", "unit_id", "rating_id").rows()


def test_robust_z_against_peers_is_one_sided_floored_and_shrunk():
    n = [4, 4, 5, 6, 40, 4, 40]
    days = pl.DataFrame({
        "unit_kind": ["dept"] * 7, "ratings": n, "peak_hour": [1] * 7, "top_n": n, "top_share": [1.0] * 7,
        "median_secs": [600.0, 900.0, None, 1200.0, 5.0, 700.0, 800.0],
        # 3 of 4 fast (row 5) against 30 of 40 (row 6): the same share, not the same evidence
        "fast_n": [0, 0, 0, 0, 0, 3, 30], "with_completion": n, "fast_share": [0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.75],
        "gap_cv": [1.0, 1.2, 0.8, 1.0, 0.05, 1.0, 1.0], "device_n": [0] * 7, "device_share": [0.0] * 7,
        "max_per_rater": [0] * 7, "spike": [1.0] * 7})
    z = anomaly.robust_z(days)
    # identical values: z = 0, not a division by a zero MAD
    assert z["z_top_share"].to_list() == [0.0] * 7 and z["z_device_share"].to_list() == [0.0] * 7
    # low is unusual for seconds and gap regularity: the 5-second, evenly spaced unit is the most unusual
    assert z["z_median_secs"].arg_max() == 4 and z["z_median_secs"][4] > 3
    assert z["z_gap_cv"].arg_max() == 4 and z["z_gap_cv"][4] > 3
    assert z["z_median_secs"][3] < 0  # slower than the peers: negative, never "unusual"
    # shrinkage: the same share on ten times the ratings is further from normal
    assert z["z_fast_share"][6] > z["z_fast_share"][5] > 0
    assert z["z_ratings"].arg_max() in (4, 6)
    # the floor: log1p 4 vs 5 ratings are close, the scale floored at 0.3
    assert abs(z["z_ratings"][0]) < 1.5


# Independent synthetic data (not the demo generator) --------------------------------------------------
def synthetic(seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame, list[dict]]:
    """Forty departments over 35 days of October–November 2026: each department 0–6 ratings a day, 92% level
    5, a third at the hall with 1 of 3 staff and a device, rated minutes to hours after completion, real-name
    raters rating one case. Injected, in other shapes and sizes than the demo's:

    * ``qr_press``: one officer's QR code rated 12 times, exactly every 45 s, no case;
    * ``two_dept_rater``: one rater rates 9 cases of two departments in an afternoon;
    * ``kiosk_fast``: on one day, a department's five ratings (an ordinary count) all given on the
      self-service kiosk 5–9 s after the case's completion — unusual in speed, not in volume;
    * ``mid_month_surge``: a department gets 25 ratings on a mid-month day (its usual is about 3)."""
    rng = np.random.default_rng(seed)
    ratings, events = [], []
    n = 0
    start = dt.date(2026, 10, 12)
    fast: list[str] = []
    for d in range(35):
        day = start + dt.timedelta(days=d)
        for dept in range(40):
            kiosk = (dept, day) == (20, dt.date(2026, 11, 3))
            for _ in range(5 if kiosk else int(rng.integers(0, 7))):
                n += 1
                case = f"K{n}"
                done = dt.datetime.combine(day, dt.time(9), tzinfo=at("2026-10-12").tzinfo) + dt.timedelta(
                    seconds=int(rng.integers(0, 8 * 3600)))
                events.append(event(case, "completed", done.strftime("%Y-%m-%d %H:%M:%S"), dept=f"G{dept:02d}"))
                hall = rng.random() < 0.35
                staff = f"G{dept:02d}S{int(rng.integers(1, 4))}" if hall else ""
                delay = int(rng.integers(60, 900)) if hall else int(np.exp(rng.uniform(np.log(600), np.log(40_000))))
                level = 5 if rng.random() < 0.92 else int(rng.integers(1, 5))
                real = (not hall) and rng.random() < 0.5
                if kiosk:
                    hall, staff, delay, level, real = False, "", 5 + len(fast), 5, False
                    fast.append(f"N{n}")
                channel = "self_service" if kiosk else "hall_device" if hall else "mobile_app"
                ratings.append(rating(f"N{n}", done + dt.timedelta(seconds=delay), level=level, case=case,
                                      dept=f"G{dept:02d}", staff=staff, channel=channel,
                                      device=f"{staff}-dev" if hall else "", rater=f"P{n}" if real else ""))
    episodes: list[dict] = []

    def episode(kind: str, rows: list[dict]) -> None:
        ratings.extend(rows)
        episodes.append({"episode": kind, "kind": kind, "rating_ids": [r["rating_id"] for r in rows]})

    t = at("2026-10-21 14:10")
    episode("qr_press", [rating(f"X1-{i}", t + dt.timedelta(seconds=45 * i), dept="G05", staff="G05S2",
                                channel="qr_code") for i in range(12)])
    t = at("2026-10-28 14:00")
    rows = []
    for i in range(9):
        case = f"X2-case{i}"
        dept = "G11" if i % 2 else "G12"
        events.append(event(case, "completed", "2026-10-27 10:00", dept=dept))
        rows.append(rating(f"X2-{i}", t + dt.timedelta(minutes=11 * i), case=case, dept=dept, rater="PX2",
                           channel="mini_program"))
    episode("two_dept_rater", rows)
    episodes.append({"episode": "kiosk_fast", "kind": "kiosk_fast", "rating_ids": fast})
    rows = []
    for i in range(25):
        case = f"X4-case{i}"
        events.append(event(case, "completed", "2026-11-09 09:00", dept="G30"))
        rows.append(rating(f"X4-{i}", at("2026-11-10 08:00") + dt.timedelta(minutes=int(rng.integers(0, 600))),
                           case=case, dept="G30", channel="sms"))
    episode("mid_month_surge", rows)
    return ratings_frame(ratings), events_frame(events), episodes


@pytest.fixture(scope="module")
def synthetic_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("anomaly-synthetic")
    ratings, events, episodes = synthetic()
    labels = home / "labels.json"
    labels.write_text(json.dumps({"episodes": episodes}), encoding="utf-8")

    def load(wh):
        wh.insert_df("ratings", ratings)
        wh.insert_df("case_events", events)

    with home_with(home, load):
        yield home, labels, episodes


def test_independent_episodes_are_found_in_the_top_k(synthetic_home):
    home, labels, episodes = synthetic_home
    with open_warehouse() as wh:
        result = anomaly.train(wh, seed=0, label_paths=[labels])
        frame = anomaly.prepare(rating_queries.ratings_between(wh, at("2026-10-01 00:00"), at("2026-12-01 00:00")))
    ev = result.manifest["evaluation"]
    assert ev["episodes"] == 4
    forest, rules, baseline = (ev["scorers"][k] for k in ("isolation_forest", "rules", "most_ratings"))
    # every independent episode is among the 20 most unusual unit-days, for both detectors
    assert forest["recall@20"] == 1.0 and rules["recall@20"] == 1.0
    assert forest["precision@10"] >= 0.6 and rules["precision@10"] >= 0.6
    # the volume baseline misses the episodes that are not about volume (seconds after completion)
    assert baseline["recall@10"] < forest["recall@10"]
    # the evidence names what made them unusual
    top = anomaly.anomalies(frame, result.estimator, "zh", top=20)
    qr = top.filter((pl.col("unit_kind") == "staff") & (pl.col("dept_code") == "G05"))
    assert qr["unit_id"][0] == "G****"  # a staff number is shown masked
    assert qr.height and any("平均间隔 45 秒" in e["text"] for e in qr["evidence"][0])
    kiosk = top.filter((pl.col("unit_kind") == "dept") & (pl.col("unit_id") == "G20"))
    assert kiosk.height and any("办结后 60 秒内" in e["text"] for e in kiosk["evidence"][0])
    rater = top.filter(pl.col("unit_kind") == "rater")
    assert rater.height and any("同一评价人评价了 9 件办件" in e["text"] for e in rater["evidence"][0])
    assert rater["unit_id"][0] == "PX2…"  # by its pseudonym's first characters


def test_training_and_scores_are_deterministic(synthetic_home):
    with open_warehouse() as wh:
        a = anomaly.train(wh, seed=5, label_paths=[])
        b = anomaly.train(wh, seed=5, label_paths=[])
        frame = anomaly.prepare(rating_queries.ratings_between(wh, at("2026-10-01 00:00"), at("2026-12-01 00:00")))
    assert np.array_equal(anomaly.forest_scores(a.estimator, frame), anomaly.forest_scores(b.estimator, frame))
    first = anomaly.anomalies(frame, a.estimator, "en", top=30)
    second = anomaly.anomalies(frame, b.estimator, "en", top=30)
    assert first.equals(second)
    assert a.manifest["evaluation"] == {"labels": None, "unit_days": frame.height}


def test_a_scope_taken_from_the_window_scores_is_the_scope_scored_alone(synthetic_home):
    """The dashboard scores a month's unit-days once and takes each scope from them: the same unit-days,
    scores, order and evidence as scoring the scope's unit-days alone (a unit-day's score is its own)."""
    with open_warehouse() as wh:
        model = anomaly.train(wh, seed=3, label_paths=[]).estimator
        start, end = at("2026-10-01 00:00"), at("2026-12-01 00:00")
        whole = anomaly.window_scores(wh, model, start, end)
        frame = anomaly.prepare(rating_queries.ratings_between(wh, start, end))
    depts = frame["dept_code"].unique().sort().to_list()
    assert whole.height == frame.height and len(depts) > 2
    worded = 0
    for dept in depts[:3]:
        alone = anomaly.anomalies(frame.filter(pl.col("dept_code") == dept), model, "zh", evidence_top=5)
        taken = anomaly.ranked(anomaly.in_scope(whole, dept_code=dept), "zh", evidence_top=5)
        assert alone.height > 0 and taken.equals(alone)
        told = taken["evidence"].list.len()
        assert (told.slice(5) == 0).all()  # evidence for the first five rows only
        worded += int(told.head(5).sum())
    assert worded > 0
    assert "rating_ids" not in whole.columns  # the window cached by the page keeps no list of ids
    region = frame["region_code"][0][:4]
    assert anomaly.ranked(anomaly.in_scope(whole, region_prefix=region), "en", by="rules").equals(
        anomaly.anomalies(frame.filter(pl.col("region_code").str.starts_with(region)), model, "en", by="rules"))


def test_the_model_is_loaded_once_per_file_and_checksum(synthetic_home):
    """``store.load`` reads the manifest and checks the file's checksum on every call, but loads a file
    once: the same object until the model is trained again, then the new one."""
    with open_warehouse() as wh:
        for seed in (1, 2):
            result = anomaly.train(wh, seed=seed, label_paths=[])
            model_store.save("anomaly", result.estimator, result.manifest)
            if seed == 1:
                first, manifest = model_store.load("anomaly", anomaly.FEATURE_VERSION, "en")
                again, _ = model_store.load("anomaly", anomaly.FEATURE_VERSION, "en")
                assert again is first
    retrained, newer = model_store.load("anomaly", anomaly.FEATURE_VERSION, "en")
    assert newer["version"] == manifest["version"] + 1 and retrained is not first
    assert retrained.random_state == 2 and first.random_state == 1


def test_cli_contract_json_and_table(synthetic_home):
    trained = run_hcp("models", "train", "anomaly", "--no-refresh", check=True)
    assert "异常评价" in trained.stdout
    out = run_hcp("models", "anomalies", "--period", "2026-10", "--top", "5", "--format", "json", check=True)
    rows = json.loads(out.stdout)
    assert len(rows) == 5
    for row in rows:
        assert set(row) >= {"unit_kind", "unit_id", "day", "score", "evidence"}
        assert row["unit_kind"] in anomaly.UNIT_KINDS and 0 < row["score"] < 1
        assert dt.date.fromisoformat(row["day"]).month == 10
        assert all(set(e) == {"feature", "z", "text"} for e in row["evidence"])
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert all(r["unit_id"] not in {"PX2"} for r in rows)  # a rater appears by pseudonym prefix only
    by_rules = json.loads(run_hcp("models", "anomalies", "--as-of", "2026-11-15T00:00", "--by", "rules",
                                  "--format", "json", check=True).stdout)
    assert [r["rule_score"] for r in by_rules] == sorted((r["rule_score"] for r in by_rules), reverse=True)
    assert all(dt.date(2026, 10, 16) <= dt.date.fromisoformat(r["day"]) <= dt.date(2026, 11, 14) for r in by_rules)
    table = run_hcp("--lang", "en", "models", "anomalies", "--period", "2026-10", "--top", "3", check=True)
    assert "never a sanction" in table.stdout and "evidence" in table.stdout
    both = run_hcp("models", "anomalies", "--period", "2026-10", "--as-of", "2026-11-01T00:00")
    assert both.returncode == 2 and "Traceback" not in both.stderr
    bad = run_hcp("models", "anomalies", "--period", "2026-13")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    empty = run_hcp("models", "anomalies", "--period", "2026-03", check=True)
    assert "没有评价数达" in empty.stdout
    evaluate = json.loads(run_hcp("models", "evaluate", "anomaly", "--format", "json", check=True).stdout)
    assert evaluate["anomaly"]["labels"] is None  # no demo labels in this home: no precision@k pretended


def test_too_little_data_gives_a_clear_message_and_no_model(warehouse, hcp_home):
    load_hand(warehouse)
    warehouse.close()
    missing = run_hcp("models", "anomalies", "--period", "2026-10")
    assert missing.returncode == 1 and "hcp models train anomaly" in missing.stderr and "Traceback" not in missing.stderr
    result = run_hcp("models", "train", "anomaly", "--no-refresh")
    assert result.returncode == 1 and "数据不足" in result.stderr and "Traceback" not in result.stderr
    assert model_store.current_version("anomaly") is None
    with open_warehouse() as wh, pytest.raises(model_store.TooLittleData, match="too little data"):
        anomaly.train(wh, lang="en")


def test_an_empty_warehouse_is_too_little_data(warehouse, hcp_home):
    with pytest.raises(model_store.TooLittleData, match="没有评价"):
        anomaly.train(warehouse)


# The demo's own labelled episodes -----------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    """A 20,000-case demo month (2026-03, seed 11) in $HCP_HOME/demo/2026-03 (with its labels), ingested and computed."""
    from hcp.demo.generator import DemoParams, generate
    from hcp.pii import ensure_key
    from ingest.loader import Loader
    from ingest.run import ingest_path
    from metrics.jobs import MetricsJob

    home = tmp_path_factory.mktemp("anomaly-demo")
    out = home / "demo" / "2026-03"

    def load(wh):
        ensure_key()
        manifest = generate(DemoParams(month="2026-03", out=out, cases=20_000, seed=11, malformed_share=0.0))
        loader = Loader(wh)
        for f in manifest["files"]:
            ingest_path(loader, str(out / f["name"]))
        MetricsJob(wh).run()  # the dashboard's period choice and names

    with home_with(home, load):
        yield home, out


def test_demo_labels_stay_out_of_the_warehouse_and_evaluate_shows_the_figures(demo_home):
    home, out = demo_home
    labels = json.loads((out / "labels" / "manipulation.json").read_text(encoding="utf-8"))
    assert {e["kind"] for e in labels["episodes"]} == {"device_press", "one_phone", "fast_five", "month_end"}
    assert (out / "labels").stat().st_mode & 0o777 == 0o700
    with open_warehouse() as wh:
        # the warehouse holds the injected ratings as ordinary ratings, never their labels
        assert wh.query_value("SELECT count() FROM ratings WHERE extra LIKE '%episode%' OR extra LIKE '%manipulat%'") == 0
        assert wh.query_value("SELECT countIf(JSONExtractString(extra, 'device_id') != '') FROM ratings") > 0
    run_hcp("models", "train", "anomaly", "--no-refresh", check=True)
    ev = json.loads(run_hcp("models", "evaluate", "anomaly", "--format", "json", check=True).stdout)["anomaly"]
    assert ev["labels"] == "demo" and ev["episodes"] == len(labels["episodes"])
    assert set(ev["scorers"]) == {"isolation_forest", "rules", "most_ratings"}
    forest = ev["scorers"]["isolation_forest"]
    assert forest["precision@10"] >= 0.7 and forest["recall@50"] >= 0.75
    table = run_hcp("--lang", "en", "models", "evaluate", "anomaly", check=True).stdout
    assert "IsolationForest" in table and "P@10" in table and "baseline" in table
    assert "a window pressing its device" in table and "{" not in table  # kinds in words, no raw dict


def test_dashboard_lists_the_top_anomalies_for_offices_not_departments(demo_home):
    from streamlit.testing.v1 import AppTest

    from dashboard import auth, ui
    from tests.test_dashboard_pages import APP

    home, _ = demo_home
    if model_store.current_version("anomaly") is None:
        run_hcp("models", "train", "anomaly", "--no-refresh", check=True)
    with open_warehouse() as wh:
        dept, region = wh.query_rows("SELECT dept_code, any(region_code) FROM ratings "
                                     "WHERE substring(region_code, 3, 2) != '00' GROUP BY dept_code "
                                     "ORDER BY count() DESC, dept_code LIMIT 1")[0]
        names = dict(wh.query_rows("SELECT dept_code, any(dept_name) FROM departments GROUP BY dept_code"))
        inside = {names.get(d, d) for d, r in wh.query_rows(
            "SELECT dept_code, any(region_code) FROM ratings GROUP BY dept_code") if r.startswith(region[:4])}
    auth.add_user(auth.User(username="office", role="province", name="省政务服务管理办公室", region="370000000000"),
                  "password-1", replace=True)
    auth.add_user(auth.User(username="dept", role="dept", name="部门", dept=dept), "password-1", replace=True)
    city = region[:4] + "00000000"
    auth.add_user(auth.User(username="city", role="region", name="市办", region=city), "password-1", replace=True)

    def page(user: str, **params) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=120)
        at.session_state["username"] = user
        at.query_params.update({"period": "2026-03", **params})
        at.run()
        at.switch_page("views/anomalies.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    try:
        office = page("office")
        assert office.dataframe, "the office sees the list"
        shown = office.dataframe[0].value
        assert len(shown) == 30 and list(shown["score"]) == sorted(shown["score"], reverse=True)
        evidence = "\n".join(shown["evidence"])
        assert "条评价在" in evidence and "同一评价人评价了" in evidence
        assert "不是处罚依据" in "\n".join(c.value for c in office.caption)
        english = page("office", lang="en")
        assert "ratings within" in "\n".join(english.dataframe[0].value["evidence"])
        assert "never a sanction" in "\n".join(c.value for c in english.caption)
        # a city office sees the unit-days of its subtree only
        city_page = page("city")
        if city_page.dataframe:
            depts = set(city_page.dataframe[0].value["dept"])
            assert depts <= inside
        department = page("dept")
        assert not department.dataframe and "仅供监督机构查看" in "\n".join(i.value for i in department.info)
        # Ratings arriving for the month are scored once the data version moves (the hour's arrivals):
        # here a new department's day of five ratings, one unit-day more.
        scored = {m.label: m.value for m in office.metric}["评分单元日"]
        ui.warehouse().insert_df("ratings", pl.DataFrame({  # the dashboard's own warehouse: it holds the directory
            "rating_id": [f"late-{i}" for i in range(5)], "case_id": [f"late-case-{i}" for i in range(5)],
            "item_code": ["LATE-ITEM"] * 5, "dept_code": ["LATE-DEPT"] * 5, "region_code": [region] * 5,
            "channel": ["pc"] * 5, "level": [5] * 5, "rated_at": [at(f"2026-03-20 10:0{i}") for i in range(5)],
        }, schema_overrides={"level": pl.UInt8, "rated_at": TS}))
        ui.refresh_version()
        ui._hourly_arrivals.clear()  # as at the next hour
        again = {m.label: m.value for m in page("office").metric}["评分单元日"]
        assert int(again.replace(",", "")) >= int(scored.replace(",", "")) + 1
    finally:
        ui.close_warehouse()
