"""The overdue-risk model (超期风险): point-in-time features worked out by hand, no leakage, agreement with
the case facts and flags as of an instant, determinism, the CLI contracts, too little data, calibration
on a demo month, and safe loading. Real embedded warehouse and real calendar; no mocks."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from warehouse.queries.events import load_events
from warehouse.queries.facts import load_case_facts
from warehouse.queries.reference import load_calendar, load_items
from metrics.facts import case_facts
from metrics.jobs import MetricsJob
from models import risk, risk_features as rf
from models import store as model_store
from tests.builders import at, event, events_frame, items_frame
from tests.conftest import RISK_DEMO_MONTH, copy_of_home, run_hcp
from warehouse import open_warehouse

DEMO_MONTH = RISK_DEMO_MONTH


# A small warehouse worked out by hand ----------------------------------------------------------------
# National Day 2026: Oct 1–7 off (Oct 1, 2, 5, 6, 7 are weekdays), Sat Oct 10 a working day.
def hand_events() -> list[dict]:
    return [
        # A: L = 5 accepted Tue 2026-09-29: counted days Sep 30, Oct 8, 9, 10 (Sat, working), 12 → D = Mon Oct 12.
        event("A", "submitted", "2026-09-29 09:00", item="I5", dept="D1", channel="online"),
        event("A", "accepted", "2026-09-29 09:30", item="I5", dept="D1"),
        # B: same, suspended Sep 30 and still suspended on Oct 9: (Sep 30, Oct 9] = Oct 8, 9 not counted → D = Oct 14.
        event("B", "submitted", "2026-09-29 09:00", item="I5", dept="D1"),
        event("B", "accepted", "2026-09-29 09:40", item="I5", dept="D1"),
        event("B", "suspended", "2026-09-30 10:00", item="I5", dept="D1"),
        # C: a case of the same department completed overdue before T (history), accepted Sep 21, L = 5.
        event("C", "submitted", "2026-09-21 09:00", item="I5", dept="D1"),
        event("C", "accepted", "2026-09-21 09:10", item="I5", dept="D1"),
        event("C", "completed", "2026-09-30 11:00", item="I5", dept="D1"),
        # E: on time, completed before T.
        event("E", "submitted", "2026-09-22 09:00", item="I5", dept="D1"),
        event("E", "accepted", "2026-09-22 09:10", item="I5", dept="D1"),
        event("E", "completed", "2026-09-24 16:00", item="I5", dept="D1"),
        # F: accepted Fri Sep 25, L = 5: Sep 28, 29, 30, Oct 8, 9 → D = Oct 9, due on the day of T.
        event("F", "submitted", "2026-09-25 09:00", item="I5", dept="D1"),
        event("F", "accepted", "2026-09-25 09:10", item="I5", dept="D1"),
    ]


def later_events() -> list[dict]:
    """Everything that happens after T = 2026-10-09 12:00, or arrives about the time after it."""
    return [
        event("A", "suspended", "2026-10-09 15:00", item="I5", dept="D1"),
        event("A", "resumed", "2026-10-13 10:00", item="I5", dept="D1"),
        event("A", "completed", "2026-10-15 10:00", item="I5", dept="D1"),
        event("B", "resumed", "2026-10-12 09:00", item="I5", dept="D1"),
        event("B", "supplement_requested", "2026-10-12 10:00", item="I5", dept="D1"),
        event("B", "withdrawn", "2026-10-13 10:00", item="I5", dept="D1"),
        # an overdue completion (it changes the department's history after T) and a new case
        event("F", "completed", "2026-10-20 09:00", item="I5", dept="D1"),
        event("G", "submitted", "2026-10-09 13:00", item="I5", dept="D1"),
        event("G", "accepted", "2026-10-09 13:10", item="I5", dept="D1"),
    ]


T = at("2026-10-09 12:00")


def features_now(wh) -> pl.DataFrame:
    MetricsJob(wh).run()
    return rf.snapshots(rf.load_inputs(wh, as_of=T), [T])


def test_features_at_an_instant_worked_by_hand(warehouse):
    warehouse.insert_df("items", items_frame({"I5": (5, 20, 4, 0, "D1", "2020-01-01")}))
    warehouse.insert_df("case_events", events_frame(hand_events()))
    rows = {r["case_id"]: r for r in features_now(warehouse).to_dicts()}
    assert set(rows) == {"A", "B", "F"}  # C and E ended before T
    a, b = rows["A"], rows["B"]
    assert a["deadline"] == dt.date(2026, 10, 12) and b["deadline"] == dt.date(2026, 10, 14)
    # Oct 9 → Oct 12: Sat Oct 10 (working) and Mon Oct 12 are left; for B the stop moved D two working days.
    assert a["days_left"] == 2 and a["share_used"] == pytest.approx(1 - 2 / 5)
    assert b["days_left"] == 4 and b["share_used"] == pytest.approx(1 - 4 / 5)
    assert (a["clock_stopped"], b["clock_stopped"]) == (0.0, 1.0)
    assert (a["suspensions"], b["suspensions"], b["stopped_days"]) == (0.0, 1.0, 2.0)
    assert a["channel_online"] == 1.0 and b["channel_hall"] == 1.0
    assert a["hours_since_acceptance"] == pytest.approx((T - at("2026-09-29 09:30")).total_seconds() / 3600)
    assert a["legal_limit_days"] == 20 and a["limit_days"] == 5
    assert a["holiday_days_ahead"] == 0  # National Day is behind on Oct 9
    # History before T: C (overdue: D = Sep 28, completed Sep 30) and E (on time); province share = 1/2;
    # shrunk: (1 + 20 × 0.5) / (2 + 20).
    assert a["dept_history_cases"] == 2 and a["dept_overdue_rate"] == pytest.approx(11 / 22)
    assert rows["F"]["deadline"] == dt.date(2026, 10, 9) and rows["F"]["days_left"] == 0 and not rows["F"]["red"]
    assert a["dept_open_cases"] == 3 and a["dept_red_cases"] == 0
    # Seen on Sep 30 instead, National Day lies ahead: Oct 1, 2, 5, 6, 7 are weekdays off.
    sep30 = at("2026-09-30 15:00")
    early = rf.snapshots(rf.load_inputs(warehouse, as_of=sep30), [sep30]).filter(pl.col("case_id") == "A").row(0, named=True)
    assert early["days_left"] == 4 and early["holiday_days_ahead"] == 5


def test_one_instants_history_from_counts_equals_the_history_from_the_cases():
    """Scoring reads the history of its instant as counts per department, item and outcome (a row standing for
    ``cases`` cases, dated by its latest completion): the same history, per department, item and overall, as
    one row per completed case. Completions on the window's first instant and after T do not count."""
    start = T - dt.timedelta(days=rf.HISTORY_DAYS)
    cases = pl.DataFrame({
        "dept_code": ["D1", "D1", "D1", "D1", "D1", "D2", "D2", "D2", "D1", "D2"],
        "item_code": ["I1", "I1", "I1", "I1", "I2", "I3", "I3", "I3", "I1", "I3"],
        "completed_at": [T - dt.timedelta(days=1), T - dt.timedelta(days=2), T - dt.timedelta(days=3),
                         T - dt.timedelta(days=30), T, T - dt.timedelta(hours=5), start + dt.timedelta(seconds=1),
                         T - dt.timedelta(days=60), start, T + dt.timedelta(minutes=1)],
        "on_time": [True, True, True, False, False, True, False, False, False, False],
    }, schema_overrides={"completed_at": pl.Datetime("ms", "Asia/Shanghai")})
    within = cases.filter((pl.col("completed_at") > start) & (pl.col("completed_at") <= T))
    counts = within.group_by("dept_code", "item_code", "on_time").agg(
        pl.col("completed_at").max(), cases=pl.len().cast(pl.Int64))
    for key in (None, "dept_code", "item_code"):
        rows = rf.rolling_history(cases, [T], key).sort(key or "k")
        assert rf.rolling_history(counts, [T], key).sort(key or "k").equals(rows), key
    overall = rf.rolling_history(counts, [T], None).row(0, named=True)
    assert counts["cases"].max() == 3  # D1's three cases of I1 on time: one row
    assert (overall["n"], overall["od"]) == (8.0, 4.0)  # the first instant of the window and after T left out


def test_no_leakage_features_at_t_are_unchanged_by_later_events(warehouse):
    warehouse.insert_df("items", items_frame({"I5": (5, 20, 4, 0, "D1", "2020-01-01")}))
    warehouse.insert_df("case_events", events_frame(hand_events()))
    before = features_now(warehouse)
    training_path = rf.snapshots(rf.load_inputs(warehouse), [T])  # every case loaded, as training does
    warehouse.insert_df("case_events", events_frame(later_events()))
    after = features_now(warehouse)
    assert after.equals(before)
    assert rf.snapshots(rf.load_inputs(warehouse), [T]).equals(training_path)
    assert training_path.equals(before)
    # … while the outcome, known later, did change: A ended after its (moved) deadline? D moved by the stop
    # (Oct 9, Oct 13]: Oct 10, 12, 13 → D = Oct 15; completed Oct 15: on time. B was withdrawn before D.
    labels = {r["case_id"]: r for r in rf.outcomes(rf.load_inputs(warehouse), at("2026-11-30 12:00")).to_dicts()}
    assert labels["A"] == {"case_id": "A", "decided": True, "overdue": False}
    assert labels["F"]["overdue"] and labels["C"]["overdue"] and not labels["E"]["overdue"]


# A demo province -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_home(tmp_path_factory, risk_demo_base):
    """A 12,000-case demo month (2026-03, seed 11) ingested and computed, and its risk model trained (a copy
    of the session's :func:`tests.conftest.risk_demo_base`)."""
    base, trained = risk_demo_base
    with copy_of_home(base, tmp_path_factory.mktemp("risk-demo") / "home") as home:
        yield home, trained


def test_batched_snapshots_agree_with_case_facts_and_flags_as_of(demo_home):
    from metrics.flags import flags_as_of

    with open_warehouse() as wh:
        events, items, calendar = load_events(wh), load_items(wh), load_calendar(wh)
        facts_now = load_case_facts(wh)
        instants = [at("2026-02-27 16:30"), at("2026-03-18 10:05")]
        rows = rf.snapshots(rf.load_inputs(wh), instants)
        for k, instant in enumerate(instants):
            open_ids = rf.open_pairs(facts_now.filter(pl.col("accepted_at").is_not_null()), [instant])["case_id"]
            reference = case_facts(events.filter(pl.col("case_id").is_in(open_ids.implode())), items, calendar,
                                   as_of=instant).filter((pl.col("state") == "accepted") & pl.col("deadline").is_not_null()
                                                         & ~pl.col("inconsistent"))
            mine = rows.filter(pl.col("k") == k)
            joined = reference.select("case_id", "deadline", "clock_stopped").join(
                mine.select("case_id", deadline_m="deadline", stopped_m="clock_stopped"), on="case_id", how="full")
            assert joined.height == reference.height == mine.height > 500
            assert joined.filter(pl.col("deadline") != pl.col("deadline_m")).is_empty()
            assert (joined["clock_stopped"].cast(pl.Float64) == joined["stopped_m"]).all()
            assert reference["clock_stopped"].any()  # stopped cases are among them
            flagged = flags_as_of(wh, instant, 2)
            scored = risk.score_rows(mine, _identity_model(mine), warning_days=2)
            ours = scored.filter(pl.col("flag").is_not_null()).select("case_id", "flag").sort("case_id")
            assert ours.equals(flagged.select("case_id", "flag").sort("case_id"))


def _identity_model(rows):
    """A fitted pipeline of the model's kind, for scoring mechanics only (its risks are not looked at)."""
    model = risk._pipeline(0)
    x = risk.design(rows)
    model.fit(x, (rows["share_used"] > 0.5).to_numpy())
    return model


def test_evaluate_json_has_every_figure_beside_the_baselines(demo_home):
    home, trained = demo_home
    assert "PR-AUC" in trained.stdout and "时限已用比例" in trained.stdout
    report = json.loads(run_hcp("models", "evaluate", "--format", "json", check=True).stdout)["risk"]
    assert report["split"] == "time" and report["test_month"] == DEMO_MONTH
    for scorer in [report["model"], *report["baselines"].values()]:
        assert set(scorer) >= {"roc_auc", "pr_auc", "brier", "calibration", "ece", "mean_predicted", "observed"}
        assert 0 <= scorer["brier"] <= 1 and 0.5 <= scorer["roc_auc"] <= 1
        assert sum(row["rows"] for row in scorer["calibration"]) == report["test"]["rows"]
    assert set(report["baselines"]) == {"share_used", "item_overdue_rate"}
    # The model beats both baselines on PR-AUC on this demo month (it is re-measured, never assumed).
    assert all(gain["beats"] for gain in report["pr_auc_gain"].values())
    assert report["model"]["pr_auc"] > 1.2 * report["baselines"]["share_used"]["pr_auc"]
    # Training windows: the test month's cases were never trained on.
    assert report["train"]["snapshots_to"] < f"{DEMO_MONTH}-01" <= report["test"]["snapshots_from"]
    manifest = json.loads((home / "models" / "risk" / "v1" / "manifest.json").read_text())
    assert set(manifest["libraries"]) >= {"sklearn", "numpy", "scipy", "skops"} and len(manifest["sha256"]) == 64


def test_calibration_on_the_demo_month_within_tolerance(demo_home):
    """Stated tolerance (docs/models.md): on the test month the expected calibration error is at most 0.03
    and the mean predicted risk is within a factor 1.5 of the observed share."""
    report = json.loads(run_hcp("models", "evaluate", "--format", "json", check=True).stdout)["risk"]["model"]
    assert report["ece"] <= 0.03
    assert report["observed"] / 1.5 <= report["mean_predicted"] <= report["observed"] * 1.5
    # High predicted risk means high observed risk: the top bins' observed shares are far above the base rate.
    top = [row for row in report["calibration"] if row["lo"] >= 0.2 and row["rows"] >= 30]
    assert top and all(row["observed"] > 2 * report["observed"] for row in top)


AS_OF = "2026-03-18T10:05:00+08:00"


def test_risk_json_contract_and_table(demo_home):
    records = json.loads(run_hcp("models", "risk", "--as-of", AS_OF, "--format", "json", check=True).stdout)
    assert len(records) > 500
    for r in records:
        assert set(r) >= {"case_id", "risk", "deadline", "working_days_left", "dept_code", "item_code", "region_code",
                          "factors"}
        assert isinstance(r["case_id"], str) and isinstance(r["risk"], float) and 0 <= r["risk"] <= 1
        assert dt.date.fromisoformat(r["deadline"]) and isinstance(r["working_days_left"], int)
        assert all(isinstance(r[k], str) and r[k] for k in ("dept_code", "item_code", "region_code"))
        assert isinstance(r["factors"], list)
        for f in r["factors"]:
            assert isinstance(f["feature"], str) and f["feature"] in rf.FEATURES and isinstance(f["contribution"], float)
        if r["flag"] == "red":
            assert r["risk"] == 1.0 and r["basis"] == "rule" and r["working_days_left"] < 0
        else:
            assert r["basis"] == "model" and len(r["factors"]) == risk.TOP_FACTORS
    risks = [r["risk"] for r in records]
    assert risks == sorted(risks, reverse=True)
    from hcp.textable import display_width

    table = run_hcp("models", "risk", "--as-of", AS_OF, "--top", "5", "--no-refresh", check=True).stdout
    assert "办件编号" in table and "主要因素" in table and "不是处罚依据" in table
    assert max(display_width(line) for line in table.splitlines()) <= 160
    english = run_hcp("--lang", "en", "models", "risk", "--as-of", AS_OF, "--top", "5", "--no-refresh",
                      check=True).stdout
    assert "main factors" in english and "never a sanction" in english


def test_training_is_deterministic(demo_home):
    """Same data and seed → the same model and the same scores."""
    instant = dt.datetime.fromisoformat(AS_OF)
    with open_warehouse() as wh:
        first, second = (risk.train(wh, seed=0) for _ in range(2))
        for key in ("coefficients", "intercept", "scaler_mean", "evaluation", "final"):
            assert first.manifest[key] == second.manifest[key]
        stored, _ = model_store.load("risk", risk.FEATURE_VERSION)
        assert first.manifest["coefficients"] == json.loads(
            (demo_home[0] / "models" / "risk" / "v1" / "manifest.json").read_text())["coefficients"]
        scores = [risk.score(wh, instant, model) for model in (first.estimator, second.estimator, stored)]
    assert scores[0].equals(scores[1]) and scores[0].equals(scores[2])


def test_a_model_from_other_versions_or_a_tampered_file_is_refused(demo_home):
    import skops.io
    from sklearn.tree import DecisionTreeClassifier

    home, _ = demo_home
    directory = home / "models" / "risk" / f"v{model_store.current_version('risk')}"
    manifest_path, model_path = directory / "manifest.json", directory / "model.skops"
    original, saved = manifest_path.read_text(), model_path.read_bytes()
    try:
        manifest = json.loads(original)
        manifest["libraries"]["sklearn"] = "0.0.1"
        manifest_path.write_text(json.dumps(manifest))
        refused = run_hcp("models", "risk", "--as-of", AS_OF, "--no-refresh")
        assert refused.returncode == 1 and "hcp models train risk" in refused.stderr and "Traceback" not in refused.stderr
        with pytest.raises(model_store.ModelIncompatible, match="0.0.1"):
            model_store.load("risk", risk.FEATURE_VERSION, "en")
        manifest_path.write_text(original)
        with pytest.raises(model_store.ModelIncompatible, match="features v1"):
            model_store.load("risk", risk.FEATURE_VERSION + 1, "en")
        # Another object in the file (a tree, not the trusted pipeline), with a matching checksum: refused.
        skops.io.dump(DecisionTreeClassifier().fit([[0], [1]], [0, 1]), model_path)
        manifest = json.loads(original)
        manifest["sha256"] = model_store._sha256(model_path)
        manifest_path.write_text(json.dumps(manifest))
        with pytest.raises(model_store.ModelIncompatible, match="untrusted"):
            model_store.load("risk", risk.FEATURE_VERSION, "en")
        manifest_path.write_text(original)
        model_path.write_bytes(saved + b"x")
        with pytest.raises(model_store.ModelIncompatible, match="checksum"):
            model_store.load("risk", risk.FEATURE_VERSION, "en")
    finally:
        manifest_path.write_text(original)
        model_path.write_bytes(saved)
    model_store.load("risk", risk.FEATURE_VERSION)  # intact again


def test_too_little_data_gives_a_clear_message_and_no_model(warehouse, hcp_home):
    warehouse.insert_df("items", items_frame({"I5": (5, 20, 4, 0, "D1", "2020-01-01")}))
    warehouse.insert_df("case_events", events_frame(hand_events()))
    warehouse.close()
    missing = run_hcp("models", "risk", "--as-of", "2026-10-09T12:00")
    assert missing.returncode == 1 and "hcp models train" in missing.stderr and "Traceback" not in missing.stderr
    result = run_hcp("models", "train")
    assert result.returncode == 1 and "数据不足" in result.stderr and "Traceback" not in result.stderr
    assert model_store.current_version("risk") is None
    with open_warehouse() as wh, pytest.raises(model_store.TooLittleData, match="too little data"):
        risk.train(wh, lang="en")
    evaluate = run_hcp("models", "evaluate", "risk")
    assert evaluate.returncode == 1 and "hcp models train" in evaluate.stderr


def test_an_empty_warehouse_is_too_little_data(warehouse, hcp_home):
    warehouse.close()
    result = run_hcp("models", "train", "risk")
    assert result.returncode == 1 and "数据不足" in result.stderr and not (hcp_home / "models" / "risk" / "current.json").exists()


def test_unknown_kind_is_a_usage_error(hcp_home):
    result = run_hcp("models", "train", "nonsense")
    assert result.returncode == 2 and "risk" in result.stderr


def test_scoring_narrowed_to_a_department_scores_its_cases_as_the_whole_province_does(demo_home):
    instant = dt.datetime.fromisoformat(AS_OF)
    with open_warehouse() as wh:
        model, _ = model_store.load("risk", risk.FEATURE_VERSION)
        everything = risk.score(wh, instant, model)
        dept = everything.filter(pl.col("basis") == "model")["dept_code"].mode().sort()[0]
        narrowed = risk.score(wh, instant, model, where="dept_code = {d:String}", parameters={"d": dept})
    assert narrowed.height > 0 and narrowed.equals(everything.filter(pl.col("dept_code") == dept))
    likely = risk.likely_overdue(everything, risk.watch_threshold())
    assert likely.filter(pl.col("flag").is_not_null() | (pl.col("risk") < risk.watch_threshold())).is_empty()
