"""可能超期 / likely to go overdue — the overdue-risk model where it is used: the overdue watch's third state
beside red and yellow (data and page), the daily digest's list per department, and the model's honest
evaluation on the cases that are not yet yellow. A 12,000-case demo month (2026-03, seed 11) ingested,
computed and trained for real (embedded warehouse, real calendar); the page through Streamlit's AppTest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from hcp.config import Config
from metrics.jobs import MetricsSettings
from models import risk
from models import store as model_store
from tests.conftest import RISK_DEMO_MONTH, copy_of_home, run_hcp
from tests.dashboard_support import PASSWORD, home_env
from warehouse import open_warehouse
from warehouse.client import SHANGHAI
from hcp.scope import Scope

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
MONTH = RISK_DEMO_MONTH
T = dt.datetime(2026, 3, 18, 10, 5, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, risk_demo_base):
    """The demo month, its risk model trained (a copy of the session's
    :func:`tests.conftest.risk_demo_base`), and a province user for the dashboard."""
    from dashboard import auth, ui

    with copy_of_home(risk_demo_base[0], tmp_path_factory.mktemp("risk-watch") / "home") as path:
        home = path
        with home_env(home):
            auth.add_user(auth.User(username="province", role="province", name="山东省政务服务管理办公室",
                                    region="370000000000"), PASSWORD, replace=True)
            yield path
            ui.close_warehouse()


def scored_now(wh) -> pl.DataFrame:
    model, _ = model_store.load("risk", risk.FEATURE_VERSION)
    return risk.score(wh, T, model, warning_days=MetricsSettings.load().warning_days)


# The data ---------------------------------------------------------------------------------------------
def test_a_high_risk_case_not_yet_yellow_is_listed_and_a_card_never_twice(demo):
    from dashboard import data

    warning = MetricsSettings.load().warning_days
    with open_warehouse() as wh:
        scored = scored_now(wh)
        early = scored.filter((pl.col("basis") == "model") & pl.col("flag").is_null()).sort("risk", descending=True)
        # A bar that some not-yet-yellow cases clear — and some yellow cases too, so a list that took the
        # yellow ones in would show it.
        threshold = float(early["risk"][4])
        assert scored.filter((pl.col("flag") == "yellow") & (pl.col("risk") >= threshold)).height > 0
        watch = data.likely_overdue(wh, Scope(), data.Filters(MONTH), T, warning, threshold,
                                    model_store.current_version("risk"), "zh")
        flags = data.open_flags(wh, Scope(), data.Filters(MONTH), T, warning)
    assert watch["status"] == "ok"
    likely = watch["cases"]
    expected = early.filter(pl.col("risk") >= threshold)["case_id"].to_list()
    assert likely["case_id"].to_list() == expected and len(expected) >= 5  # riskiest first
    assert early["case_id"][0] in likely["case_id"].to_list()  # the riskiest not-yet-yellow case is flagged
    assert not set(likely["case_id"]) & set(flags["case_id"])  # a red or yellow case is never listed as likely
    assert likely["flag"].is_null().all() and (likely["basis"] == "model").all()
    # The factors in words: feature names, values with their units, and which way they push.
    words = likely["factor_words"][0]
    assert any(label in words for label, _ in risk.rf.FEATURES.values()) and ("↑推高" in words or "↓降低" in words)


def test_the_list_of_a_scope_is_the_province_list_narrowed(demo):
    from dashboard import data

    warning = MetricsSettings.load().warning_days
    version = model_store.current_version("risk")
    with open_warehouse() as wh:
        everything = data.likely_overdue(wh, Scope(), data.Filters(MONTH), T, warning, 0.05, version, "zh")["cases"]
        dept = everything["dept_code"].mode().sort()[0]
        own = data.likely_overdue(wh, Scope(role="dept", dept_code=dept), data.Filters(MONTH), T, warning, 0.05,
                                  version, "zh")["cases"]
        online = data.likely_overdue(wh, Scope(), data.Filters(MONTH, channel="online"), T, warning, 0.05,
                                     version, "en")["cases"]
        channels = wh.query_df("SELECT case_id, channel FROM case_facts FINAL WHERE case_id IN {ids:Array(String)}",
                               {"ids": everything["case_id"].to_list()})
    # A department sees its own cases with the same risks (its workload feature stays whole).
    assert own.height > 0 and own.drop("factor_words").equals(
        everything.filter(pl.col("dept_code") == dept).drop("factor_words"))
    want_online = set(channels.filter(pl.col("channel") == "online")["case_id"])
    assert want_online and set(online["case_id"]) == want_online
    assert "working days" in online["factor_words"][0] or "%" in online["factor_words"][0]


def test_without_a_model_the_watch_says_so(warehouse):
    from dashboard import data

    watch = data.likely_overdue(warehouse, Scope(), data.Filters(MONTH), T, 2, 0.3, None, "en")
    assert watch["status"] == "missing" and watch["cases"].is_empty()
    assert "hcp models train risk" in watch["message"] and "\n" not in watch["message"]


def test_the_threshold_is_a_setting():
    assert risk.watch_threshold() == 0.3  # hcp/defaults.toml [models.risk]
    assert risk.watch_threshold(Config.from_dict({"models": {"risk": {"watch_threshold": 0.6}}})) == 0.6
    from hcp.errors import HcpError

    for bad in (0, 1.5, "high", True):
        with pytest.raises(HcpError, match="watch_threshold"):
            risk.watch_threshold(Config.from_dict({"models": {"risk": {"watch_threshold": bad}}}))


def test_factor_words_read_as_words():
    factors = [{"feature": "working_days_left", "contribution": 1.2, "value": 3.0},
               {"feature": "dept_overdue_rate", "contribution": 0.4, "value": 0.125},
               {"feature": "clock_stopped", "contribution": -0.3, "value": 0.0}]
    assert risk.factor_words(factors, "zh") == "剩余工作日 3 ↑推高；部门历史超期率 12% ↑推高；正在停止计时（否） ↓降低"
    assert risk.factor_words(factors, "en") == ("working days left: 3 ↑ raises; department's overdue history 12% ↑ raises; "
                                                "clock stopped now (no) ↓ lowers")
    assert risk.factor_words([], "zh") == ""


def test_a_column_of_factor_lists_reads_as_each_list_worded_alone():
    """The watch words a whole column at once (each distinct factor once): the same words, row for row,
    including a factor repeated with the other sign, a case without factors and one with none at all."""
    one = {"feature": "working_days_left", "contribution": 1.2, "value": 3.0}
    share = {"feature": "dept_overdue_rate", "contribution": 0.4, "value": 0.125}
    lowering = {**one, "contribution": -0.2}
    thousands = {"feature": "dept_open_cases", "contribution": 0.9, "value": 7286.0}
    rows = [[one, share], [], [lowering, one], None, [thousands], [share, lowering, thousands]]
    column = pl.Series(rows, dtype=pl.List(pl.Struct({"feature": pl.String, "contribution": pl.Float64,
                                                      "value": pl.Float64})))
    for lang in ("zh", "en"):
        assert risk.factor_words_column(column, lang).to_list() == [risk.factor_words(r, lang) for r in rows]
    assert risk.factor_words_column(column, "zh")[4] == "部门在办件数 7,286 件 ↑推高"


def test_hcp_models_risk_counts_the_same_cases_as_the_watch(demo):
    with open_warehouse() as wh:
        expected = risk.likely_overdue(scored_now(wh), risk.watch_threshold()).height
    table = run_hcp("--lang", "en", "models", "risk", "--as-of", T.isoformat(), "--no-refresh", "--top", "3", check=True)
    assert f"; {expected:,} likely to go overdue (neither red nor yellow, risk ≥ 30%;" in table.stdout.splitlines()[0]


# The daily digest ----------------------------------------------------------------------------------------
def test_the_digest_lists_them_per_department_in_both_languages(demo):
    from reports.digest import LIKELY_PER_DEPARTMENT, digest_figures, digest_text

    with open_warehouse() as wh:
        expected = risk.likely_overdue(scored_now(wh), risk.watch_threshold())
        zh = digest_figures(wh, T, lang="zh", refresh=False)
        en = digest_figures(wh, T, lang="en", refresh=False)
    likely = zh["likely"]
    assert likely["available"] and likely["count"] == expected.height > 0
    per_dept = expected.group_by("dept_code").len()
    assert {d["dept_code"]: d["likely"] for d in likely["by_department"]} == dict(per_dept.iter_rows())
    counts = [d["likely"] for d in likely["by_department"]]
    assert counts == sorted(counts, reverse=True)
    flagged = set(f["case_id"] for f in zh["flags"])
    for d in likely["by_department"]:
        risks = [t["risk"] for t in d["top"]]
        assert len(d["top"]) == min(LIKELY_PER_DEPARTMENT, d["likely"]) and risks == sorted(risks, reverse=True)
        assert not {t["case_id"] for t in d["top"]} & flagged
    top = likely["by_department"][0]["top"][0]
    text_zh, text_en = digest_text(zh, None), digest_text(en, None)
    assert "可能超期" in text_zh and top["case_id"] in text_zh and "不是处罚依据" in text_zh
    assert "Likely to go overdue" in text_en and top["case_id"] in text_en and "never a sanction" in text_en
    assert f"{top['risk']:.0%}" in text_zh


def test_the_digest_without_a_model_says_why_and_still_goes_out(warehouse):
    from reports.digest import digest_figures, digest_text

    figures = digest_figures(warehouse, T, lang="en", refresh=False)
    assert figures["likely"]["available"] is False
    text = digest_text(figures, None)
    assert "Likely to go overdue" in text and "Not listed: no risk model yet" in text


# The evaluation on the cases not yet yellow ------------------------------------------------------------
def test_the_manifest_and_evaluate_judge_the_model_on_the_cases_not_yet_yellow(demo):
    result = run_hcp("models", "evaluate", "risk", "--format", "json", check=True)
    ev = json.loads(result.stdout)["risk"]
    sub = ev["not_yet_yellow"]
    assert sub["evaluated"] and 0 < sub["rows"] < ev["test"]["rows"]
    assert 0 < sub["positive_cases"] <= ev["test"]["positive_cases"] and sub["warning_days"] == 2
    for scorer in (sub["model"], *sub["baselines"].values()):
        assert {"roc_auc", "pr_auc", "brier", "calibration"} <= set(scorer)
        assert 0 <= scorer["brier"] <= 1 and 0 <= scorer["pr_auc"] <= 1
    assert set(sub["baselines"]) == set(risk.BASELINES) == set(sub["pr_auc_gain"])
    assert sub["beats_every_baseline_on_pr_auc"] == all(g["beats"] for g in sub["pr_auc_gain"].values())
    watch = sub["watch"]
    assert watch["threshold"] == 0.3 and 0 <= watch["recall"] <= 1 and watch["base_rate"] == pytest.approx(
        sub["positive_rows"] / sub["rows"], abs=1e-5)
    # The subset's observed share is the base rate the model's figures are judged against there.
    assert sub["model"]["observed"] == pytest.approx(watch["base_rate"], abs=1e-5)
    table = run_hcp("--lang", "en", "models", "evaluate", "risk", check=True).stdout
    assert "test rows not yet yellow" in table and "not yet yellow: PR-AUC vs share of the limit used" in table


# The page -----------------------------------------------------------------------------------------------
def page(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["username"] = "province"
    at.query_params.update({"period": MONTH, **params})
    at.run()
    at.switch_page("views/overdue.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_the_watch_shows_likely_overdue_beside_red_and_yellow(demo):
    from dashboard import data

    with open_warehouse() as wh:
        expected = data.likely_overdue(wh, Scope(), data.Filters(MONTH), T, 2, risk.watch_threshold(),
                                       model_store.current_version("risk"), "zh")["cases"]
    assert expected.height > 0
    at = page(asof="2026-03-18T10:05")
    tiles = {m.label: m.value for m in at.metric}
    assert tiles[":violet[可能超期]"] == f"{expected.height:,}"
    assert ":red[红牌（超期）]" in tiles and ":orange[黄牌（临期）]" in tiles
    tables = [f for f in at.dataframe if "factor_words" in f.value.columns]
    assert len(tables) == 1
    shown = tables[0].value
    assert shown["case_id"].tolist() == expected["case_id"].to_list()
    assert shown["risk"].tolist() == [round(r * 100) for r in expected["risk"].to_list()]
    assert shown["days_left"].tolist() == expected["working_days_left"].to_list()
    assert "#eee6fb" in tables[0].proto.arrow_data.styler.styles  # its own colour
    red_yellow = at.dataframe[0].value
    assert not set(red_yellow["case_id"]) & set(shown["case_id"])
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "可能超期" in [trace.get("name") for trace in chart["data"]]
    assert any("不是处罚依据" in c.value for c in at.caption)
    # A click opens the case.
    index = next(i for i, f in enumerate(at.dataframe) if "factor_words" in f.value.columns)
    at.session_state[at.dataframe[index].key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert at.query_params.get("case") == shown["case_id"][0]


def test_the_watch_in_english_and_without_a_model(demo):
    at = page(asof="2026-03-18T10:05", lang="en")
    assert ":violet[likely to go overdue]" in {m.label for m in at.metric}
    assert any("never a sanction" in c.value for c in at.caption)
    pointer = demo / "models" / "risk" / "current.json"
    moved = pointer.with_name("current.json.away")
    pointer.rename(moved)
    try:
        at = page(asof="2026-03-18T10:05")
        assert {m.label: m.value for m in at.metric}[":violet[可能超期]"] == "—"
        lines = [c.value for c in at.caption if "可能超期" in c.value]
        assert lines == ["不显示“可能超期”：尚无 risk 模型：请先运行 hcp models train risk"]
        assert not [f for f in at.dataframe if "factor_words" in f.value.columns]
    finally:
        moved.rename(pointer)
