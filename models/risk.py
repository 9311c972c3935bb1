"""Model 1 — overdue risk (超期风险): for every open case at an instant T, the calibrated probability that
it goes overdue (ends after its deadline, or is still open past it), with the factors behind it.

**Model.** A logistic regression on standardised features (:func:`design`: the raw features of
:mod:`models.risk_features` with a few fixed transforms — log counts, the log-odds of the overdue
histories, hinges of the share used, indicators for 0/1/2 working days left). Its log-odds is a sum, so
each case's score splits exactly into per-feature **contributions**: coefficient × standardised value,
summed over the design columns of one raw feature. A contribution is measured from the average
training row (standardised value 0): "+0.8 from the share of the limit used" means this case's share
raises its log-odds by 0.8 over a case with the average share. ``factors`` are the few largest.

**Training** (:func:`train`). Snapshots of the open cases at one seeded instant per calendar day (thinned
evenly on a big warehouse, :data:`MAX_SNAPSHOT_ROWS`), labelled with what happened by the data watermark
W (the latest event). Red cases are not modelled: past their deadline they are overdue by rule (risk 1).

**Evaluation: a split by time.** The test month is the latest calendar month with at least
:data:`MIN_TEST_DAYS` days of snapshots after :data:`MIN_TRAIN_DAYS` days before it. The model is fitted
on the snapshots taken before the month of the cases accepted before it, and tested on the snapshots taken
in the month of the cases accepted in it (so no case is in both, and no feature of a training row was
computed after the month began). Two honest baselines are measured on the same test rows: the share of the
limit used, and the item's historical overdue rate (:mod:`models.evaluation`).

**The model in use** is then refitted the same way on every labelled snapshot; the manifest keeps the
time-split figures of the recipe and both windows.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import time

import numpy as np
import polars as pl

from hcp.config import Config, get_config
from hcp.i18n import tr
from hcp.textable import render
from metrics.jobs import MetricsSettings
from models import risk_features as rf
from models.evaluation import binary_report, pr_auc_gain, score_baseline
from models.registry import ModelKind, TrainResult
from models.store import TooLittleData
from warehouse.client import SHANGHAI
from warehouse.queries.events import latest_event_time

FEATURE_VERSION = 1
#: Days after the first acceptance before the first snapshot (so that histories are not empty).
WARMUP_DAYS = 7
MIN_TRAIN_DAYS = 14
MIN_TEST_DAYS = 10
#: Fewer distinct cases that went overdue than this in the training (test) rows: no model.
MIN_TRAIN_POSITIVE_CASES = 30
MIN_TEST_POSITIVE_CASES = 15
#: Snapshot instants are thinned evenly so that about this many (case, instant) rows are built.
MAX_SNAPSHOT_ROWS = 1_500_000
#: At most this many rows (a seeded uniform sample: calibration is kept) are used for a fit.
MAX_FIT_ROWS = 400_000
#: Inverse regularisation strength of the logistic regression.
C = 0.1
TOP_FACTORS = 3
BASELINES = {
    "share_used": ("时限已用比例", "share of the limit used"),
    "item_overdue_rate": ("事项历史超期率", "item's historical overdue rate"),
}


def watch_threshold(config: Config | None = None) -> float:
    """The risk from which an open case that is neither red nor yellow is listed as "likely to go overdue"
    (可能超期) on the overdue watch and in the daily digest: ``[models.risk] watch_threshold`` of the
    configuration (hcp/defaults.toml; :class:`hcp.config.RiskModelConfig` checks it is a probability)."""
    return (config or get_config()).models.risk.watch_threshold


def _logit(name: str) -> pl.Expr:
    p = pl.col(name).clip(1e-4, 1 - 1e-4)
    return (p / (1 - p)).log()


def _design_columns() -> list[tuple[str, str, pl.Expr]]:
    """(design column, raw feature it explains, expression)."""
    share, left, limit = pl.col("share_used"), pl.col("working_days_left"), pl.col("limit_days")
    immediate = (limit == 0).cast(pl.Float64)
    flag = lambda e: e.cast(pl.Float64)  # noqa: E731
    columns = [
        ("limit_log", "limit_days", limit.log1p()),
        ("immediate", "limit_days", immediate),
        ("legal_log", "legal_limit_days", pl.col("legal_limit_days").log1p()),
        ("share", "share_used", share),
        ("share_over_half", "share_used", (share - 0.5).clip(lower_bound=0)),
        ("share_over_0.8", "share_used", (share - 0.8).clip(lower_bound=0)),
        ("left_log", "working_days_left", left.clip(lower_bound=0).log1p()),
        ("left_0", "working_days_left", flag(left == 0)),
        ("left_1", "working_days_left", flag(left == 1)),
        ("left_2", "working_days_left", flag(left == 2)),
        ("hours_log", "hours_since_acceptance", pl.col("hours_since_acceptance").clip(lower_bound=0).log1p()),
        ("hours_log_immediate", "hours_since_acceptance",
         immediate * pl.col("hours_since_acceptance").clip(lower_bound=0).log1p()),
        ("stopped_log", "stopped_days", pl.col("stopped_days").log1p()),
        *[(name, name, pl.col(name)) for name in ("clock_stopped", "suspensions", "supplements", "supplement_before")],
        *[(name, name, pl.col(name)) for name in rf.FEATURES if name.startswith("channel_")],
        ("dept_rate_logit", "dept_overdue_rate", _logit("dept_overdue_rate")),
        ("dept_history_log", "dept_history_cases", pl.col("dept_history_cases").log1p()),
        ("item_rate_logit", "item_overdue_rate", _logit("item_overdue_rate")),
        ("item_history_log", "item_history_cases", pl.col("item_history_cases").log1p()),
        ("dept_open_log", "dept_open_cases", pl.col("dept_open_cases").log1p()),
        ("dept_red_log", "dept_red_cases", pl.col("dept_red_cases").log1p()),
        ("holidays", "holiday_days_ahead", pl.col("holiday_days_ahead")),
    ]
    return columns


DESIGN = _design_columns()
DESIGN_NAMES = [name for name, _, _ in DESIGN]
SOURCES = list(dict.fromkeys(source for _, source, _ in DESIGN))


def design(frame: pl.DataFrame) -> np.ndarray:
    """The model's input matrix (float64, columns :data:`DESIGN_NAMES`) from snapshot rows."""
    return frame.select([expr.alias(name) for name, _, expr in DESIGN]).to_numpy().astype(np.float64)


def _pipeline(seed: int):
    from sklearn.linear_model import LogisticRegression  # lazy: scikit-learn is heavy; loaded only to fit
    from sklearn.pipeline import Pipeline  # lazy: scikit-learn is heavy; loaded only to fit
    from sklearn.preprocessing import StandardScaler  # lazy: scikit-learn is heavy; loaded only to fit

    return Pipeline([("scale", StandardScaler()),
                     ("logit", LogisticRegression(C=C, max_iter=2000, random_state=seed))])


def _fit(rows: pl.DataFrame, seed: int):
    if rows.height > MAX_FIT_ROWS:
        keep = np.random.default_rng(np.random.SeedSequence([seed, 1])).random(rows.height) < MAX_FIT_ROWS / rows.height
        rows = rows.filter(pl.Series(keep))
    model = _pipeline(seed)
    model.fit(design(rows), rows["overdue"].to_numpy())
    return model, rows.height


def contributions(model, x: np.ndarray) -> np.ndarray:
    """Per row and raw feature (:data:`SOURCES`): its contribution to the log-odds, relative to the average
    training row. The row's log-odds is the intercept plus the row's sum."""
    scaler, logit = model.named_steps["scale"], model.named_steps["logit"]
    per_column = (x - scaler.mean_) / scaler.scale_ * logit.coef_[0]
    mapping = np.zeros((len(DESIGN), len(SOURCES)))
    for j, (_, source, _) in enumerate(DESIGN):
        mapping[j, SOURCES.index(source)] = 1.0
    return per_column @ mapping


# Data windows -----------------------------------------------------------------------------------
def data_watermark(wh) -> dt.datetime | None:
    """The latest event time in the warehouse (capped at now): labels are as known at this instant."""
    latest = latest_event_time(wh)
    if latest is None or latest.year < 2000:
        return None
    latest = latest.astimezone(SHANGHAI) if latest.tzinfo else latest.replace(tzinfo=SHANGHAI)
    return min(latest, dt.datetime.now(SHANGHAI))


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=_calendar.monthrange(day.year, day.month)[1]) + dt.timedelta(days=1))


def choose_test_month(first_day: dt.date, last_day: dt.date) -> dt.date | None:
    """The latest month with at least MIN_TEST_DAYS snapshot days in it and MIN_TRAIN_DAYS before it."""
    month = _month_start(last_day)
    while month > first_day:
        days_in = (min(_next_month(month) - dt.timedelta(days=1), last_day) - max(month, first_day)).days + 1
        days_before = (month - first_day).days
        if days_in >= MIN_TEST_DAYS and days_before >= MIN_TRAIN_DAYS:
            return month
        month = _month_start(month - dt.timedelta(days=1))
    return None


def _too_little(lang: str, zh: str, en: str) -> TooLittleData:
    return TooLittleData(tr(lang, f"数据不足，未训练超期风险模型：{zh}", f"too little data, no overdue-risk model trained: {en}"))


def train(wh, *, seed: int = 0, progress=None, lang: str = "zh") -> TrainResult:
    """Train the overdue-risk model on the warehouse (its stored case facts must be current)."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    watermark = data_watermark(wh)
    if watermark is None:
        raise _too_little(lang, "仓库中没有办件", "the warehouse holds no case")
    say(tr(lang, "读取办件事实", "reading case facts"))
    inputs = rf.load_inputs(wh)
    if inputs.cases.is_empty():
        raise _too_little(lang, "仓库中没有已受理的办件", "the warehouse holds no accepted case")
    first_day = inputs.cases["accepted_at"].min().date() + dt.timedelta(days=WARMUP_DAYS)
    last_day = watermark.date() - dt.timedelta(days=1)
    test_month = choose_test_month(first_day, last_day)
    if test_month is None:
        raise _too_little(lang, f"需要至少 {WARMUP_DAYS + MIN_TRAIN_DAYS + MIN_TEST_DAYS} 天的办件历史"
                                f"（现有 {inputs.cases['accepted_at'].min().date()} 至 {watermark.date()}）",
                          f"needs at least {WARMUP_DAYS + MIN_TRAIN_DAYS + MIN_TEST_DAYS} days of case history "
                          f"(there is {inputs.cases['accepted_at'].min().date()} to {watermark.date()})")
    test_end = min(_next_month(test_month), last_day + dt.timedelta(days=1))
    instants = rf.snapshot_instants(first_day, last_day, seed, SHANGHAI)
    open_days = inputs.cases.select(
        ((pl.coalesce("terminal_at", pl.lit(watermark)) - pl.col("accepted_at")).dt.total_seconds() / 86400)
        .clip(lower_bound=0).sum()).item()
    step = max(1, int(np.ceil((open_days or 0) / MAX_SNAPSHOT_ROWS)))
    instants = instants[::step]
    say(tr(lang, f"构建 {len(instants)} 个时点的在办快照", f"building snapshots at {len(instants)} instants"))
    rows = rf.snapshots(inputs, instants)
    say(tr(lang, f"标注结果（截至 {watermark:%Y-%m-%d %H:%M}）", f"labelling outcomes as of {watermark:%Y-%m-%d %H:%M}"))
    labels = rf.outcomes(inputs, watermark)
    labelled = rows.filter(~pl.col("red")).join(labels, on="case_id")
    undecided = labelled.filter(~pl.col("decided")).height
    labelled = labelled.filter(pl.col("decided"))

    split = dt.datetime.combine(test_month, dt.time(), SHANGHAI)
    split_end = dt.datetime.combine(test_end, dt.time(), SHANGHAI)
    train_rows = labelled.filter((pl.col("as_of") < split) & (pl.col("accepted_at") < split))
    test_rows = labelled.filter((pl.col("as_of") >= split) & (pl.col("as_of") < split_end)
                                & (pl.col("accepted_at") >= split))

    def positives(frame: pl.DataFrame) -> int:
        return frame.filter(pl.col("overdue"))["case_id"].n_unique()

    if positives(train_rows) < MIN_TRAIN_POSITIVE_CASES or positives(test_rows) < MIN_TEST_POSITIVE_CASES:
        raise _too_little(
            lang,
            f"训练期超期办件 {positives(train_rows)} 件（至少 {MIN_TRAIN_POSITIVE_CASES}），"
            f"测试月超期办件 {positives(test_rows)} 件（至少 {MIN_TEST_POSITIVE_CASES}）",
            f"{positives(train_rows)} cases went overdue in the training window (at least {MIN_TRAIN_POSITIVE_CASES} "
            f"needed) and {positives(test_rows)} in the test month (at least {MIN_TEST_POSITIVE_CASES})")

    say(tr(lang, f"按时间切分训练与评估（测试月 {test_month:%Y-%m}）", f"time-split fit and test (test month {test_month:%Y-%m})"))
    split_model, split_fit_rows = _fit(train_rows, seed)
    y_test = test_rows["overdue"].to_numpy()
    y_train = train_rows["overdue"].to_numpy()
    model_report = binary_report(y_test, split_model.predict_proba(design(test_rows))[:, 1])
    baselines = {name: score_baseline(train_rows[name].to_numpy(), y_train, test_rows[name].to_numpy(), y_test)
                 for name in BASELINES}
    gains = {name: pr_auc_gain(model_report, report) for name, report in baselines.items()}
    settings = MetricsSettings.load()
    threshold = watch_threshold()
    not_yet_yellow = not_yet_yellow_evaluation(split_model, train_rows, test_rows, settings.warning_days, threshold)

    say(tr(lang, "用全部已标注快照训练在用模型", "fitting the model in use on every labelled snapshot"))
    final_model, final_fit_rows = _fit(labelled, seed)
    scaler, logit = final_model.named_steps["scale"], final_model.named_steps["logit"]
    seconds = time.perf_counter() - started

    def window(frame: pl.DataFrame) -> dict:
        return {"snapshots_from": frame["as_of"].min().isoformat(timespec="minutes") if frame.height else None,
                "snapshots_to": frame["as_of"].max().isoformat(timespec="minutes") if frame.height else None,
                "rows": frame.height, "cases": frame["case_id"].n_unique(),
                "positive_rows": int(frame["overdue"].sum()), "positive_cases": positives(frame)}

    manifest = {
        "feature_version": FEATURE_VERSION,
        "trained_at": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
        "seed": seed,
        "data_watermark": watermark.isoformat(timespec="seconds"),
        "data_window": {"first_acceptance": inputs.cases["accepted_at"].min().isoformat(timespec="seconds"),
                        "cases": inputs.cases.height},
        "snapshot_instants": len(instants),
        "snapshot_every_days": step,
        "undecided_rows_left_out": undecided,
        "evaluation": {
            "split": "time",
            "test_month": f"{test_month:%Y-%m}",
            "train": {**window(train_rows), "fit_rows": split_fit_rows},
            "test": window(test_rows),
            "model": model_report,
            "baselines": baselines,
            "pr_auc_gain": gains,
            "beats_every_baseline_on_pr_auc": all(g["beats"] for g in gains.values()),
            "not_yet_yellow": not_yet_yellow,
        },
        "final": {**window(labelled), "fit_rows": final_fit_rows},
        "design": DESIGN_NAMES,
        "sources": SOURCES,
        "coefficients": {name: round(float(c), 5) for name, c in zip(DESIGN_NAMES, logit.coef_[0])},
        "intercept": round(float(logit.intercept_[0]), 5),
        "scaler_mean": [float(v) for v in scaler.mean_],
        "train_seconds": round(seconds, 1),
    }
    return TrainResult(estimator=final_model, manifest=manifest)


def yellow_at_t(warning_days: int) -> pl.Expr:
    """A snapshot row (not red) that is yellow at its instant, as ``hcp flags`` judges it (DOMAIN rule 5):
    its clock runs and at most ``warning_days`` working days are left to its deadline."""
    return (pl.col("clock_stopped") == 0) & (pl.col("days_left") <= warning_days)


def not_yet_yellow_evaluation(model, train_rows: pl.DataFrame, test_rows: pl.DataFrame, warning_days: int,
                              threshold: float) -> dict:
    """The time-split figures on the test rows that are **not yet yellow** at their instant — the cases
    where a prediction tells an office something the red/yellow watch does not (a yellow case is already
    listed). The model is the one fitted on every training row, unchanged; each baseline keeps its raw
    score for the AUCs and is calibrated (isotonic) on the not-yet-yellow *training* rows, its best chance.
    ``watch`` is what the "likely to go overdue" list at ``threshold`` would have been on these rows: how
    many rows it flags, the share of them that went overdue (precision) and the share of the overdue rows
    it caught (recall), beside the base rate."""
    early = ~yellow_at_t(warning_days)
    train_early, test_early = train_rows.filter(early), test_rows.filter(early)
    y = test_early["overdue"].to_numpy()
    window = {"rows": test_early.height, "cases": test_early["case_id"].n_unique(), "positive_rows": int(y.sum()),
              "positive_cases": test_early.filter(pl.col("overdue"))["case_id"].n_unique(),
              "warning_days": warning_days}
    if test_early.is_empty() or y.all() or not y.any():
        return {**window, "evaluated": False}
    probability = model.predict_proba(design(test_early))[:, 1]
    report = binary_report(y, probability)
    baselines = {name: score_baseline(train_early[name].to_numpy(), train_early["overdue"].to_numpy(),
                                      test_early[name].to_numpy(), y) for name in BASELINES}
    gains = {name: pr_auc_gain(report, b) for name, b in baselines.items()}
    flagged = probability >= threshold
    watch = {"threshold": threshold, "rows_flagged": int(flagged.sum()),
             "share_flagged": round(float(flagged.mean()), 5),
             "precision": round(float(y[flagged].mean()), 4) if flagged.any() else None,
             "recall": round(float(flagged[y].mean()), 4), "base_rate": round(float(y.mean()), 5)}
    return {**window, "evaluated": True, "model": report, "baselines": baselines, "pr_auc_gain": gains,
            "beats_every_baseline_on_pr_auc": all(g["beats"] for g in gains.values()), "watch": watch}


# Scoring ------------------------------------------------------------------------------------------
RISK_COLUMNS = ("case_id", "risk", "deadline", "working_days_left", "dept_code", "item_code", "region_code",
                "flag", "basis", "factors")


def score(wh, as_of: dt.datetime, model, *, warning_days: int = 2, where: str = "",
          parameters: dict | None = None) -> pl.DataFrame:
    """Every open case at ``as_of`` with a deadline: its risk and factors, riskiest first.

    Red cases (past their deadline) have risk 1 by rule (``basis`` = ``rule``, no factors); the others are
    scored by the model (``basis`` = ``model``). ``flag`` is ``red``, ``yellow`` (DOMAIN rule 5) or null.
    ``where``/``parameters`` narrow the open cases to a department or a region subtree
    (:func:`models.risk_features.load_inputs`); the stored case facts must be current (run the metrics
    job first, as ``hcp flags`` does)."""
    inputs = rf.load_inputs(wh, as_of=as_of, where=where, parameters=parameters)
    rows = rf.snapshots(inputs, [as_of])
    return score_rows(rows, model, warning_days=warning_days)


def score_rows(rows: pl.DataFrame, model, *, warning_days: int = 2) -> pl.DataFrame:
    if rows.is_empty():
        return pl.DataFrame(schema={"case_id": pl.String, "risk": pl.Float64, "deadline": pl.Date,
                                    "working_days_left": pl.Int32, "dept_code": pl.String, "item_code": pl.String,
                                    "region_code": pl.String, "flag": pl.String, "basis": pl.String,
                                    "factors": pl.List(pl.Struct({"feature": pl.String, "contribution": pl.Float64,
                                                                  "value": pl.Float64}))})
    x = design(rows)
    probability = model.predict_proba(x)[:, 1]
    contrib = contributions(model, x)
    values = rows.select(SOURCES).to_numpy()
    top = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :TOP_FACTORS]
    names = np.array(SOURCES, dtype=object)
    # Top factors of every row as one list column: a (rows × k) block of structs reshaped (fast, no loop).
    flat = pl.DataFrame({
        "feature": pl.Series(names[top].reshape(-1), dtype=pl.String),
        "contribution": np.round(np.take_along_axis(contrib, top, 1), 4).reshape(-1),
        "value": np.round(np.take_along_axis(values, top, 1), 4).reshape(-1),
    }).to_struct("factor")
    block = flat.reshape((rows.height, TOP_FACTORS))
    factors = block.cast(pl.List(block.dtype.inner))
    stopped = pl.col("clock_stopped") > 0
    out = rows.with_columns(_p=pl.Series(np.round(probability, 4)), _factors=factors).with_columns(
        risk=pl.when(pl.col("red")).then(1.0).otherwise(pl.col("_p")),
        working_days_left=pl.col("days_left"),
        flag=pl.when(pl.col("red")).then(pl.lit("red"))
        .when(~stopped & (pl.col("days_left") <= warning_days)).then(pl.lit("yellow")),
        basis=pl.when(pl.col("red")).then(pl.lit("rule")).otherwise(pl.lit("model")),
        factors=pl.col("_factors").list.head(pl.when(pl.col("red")).then(0).otherwise(TOP_FACTORS)),
    )
    return out.select(RISK_COLUMNS).sort(["risk", "case_id"], descending=[True, False])


def likely_overdue(scored: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """"Likely to go overdue" (可能超期) for the overdue watch and the digest: cases the model scores at
    ``threshold`` (:func:`watch_threshold`) or more that are neither red nor yellow yet — so a case is never
    listed both as yellow (or red) and as likely; a prompt to look, never a sanction."""
    return scored.filter((pl.col("basis") == "model") & pl.col("flag").is_null() & (pl.col("risk") >= threshold))


#: How a factor's value reads: feature → (Chinese unit, English unit, kind). Kinds: ``days`` (working days),
#: ``share`` (a percentage), ``hours``, ``count``, ``times`` and ``flag`` (yes/no).
_FACTOR_UNITS: dict[str, tuple[str, str, str]] = {
    "limit_days": ("个工作日", "working days", "days"), "legal_limit_days": ("个工作日", "working days", "days"),
    "working_days_left": ("", "", "days"), "stopped_days": ("", "", "days"),  # the name says "working days"
    "holiday_days_ahead": ("天", "days", "days"), "share_used": ("", "", "share"),
    "dept_overdue_rate": ("", "", "share"), "item_overdue_rate": ("", "", "share"),
    "hours_since_acceptance": ("小时", "h", "hours"), "suspensions": ("次", "×", "times"),
    "supplements": ("次", "×", "times"), "dept_history_cases": ("件", "cases", "count"),
    "item_history_cases": ("件", "cases", "count"), "dept_open_cases": ("件", "cases", "count"),
    "dept_red_cases": ("件", "cases", "count"),
}


def factor_words(factors: list[dict], lang: str) -> str:
    """A case's strongest factors in words, strongest first: each feature's name, the case's value in its
    unit (working days, a percentage, hours, cases; yes/no for a state) and whether it raises (↑ 推高) or
    lowers (↓ 降低) the risk compared with the average case — e.g. "承诺时限 39 个工作日 ↑推高；
    剩余工作日 3 个工作日 ↑推高". Empty for a case without factors (a red case: risk 1 by rule)."""
    return tr(lang, "；", "; ").join(
        factor_phrase(f["feature"], f.get("value"), f["contribution"] > 0, lang) for f in factors or [])


def factor_phrase(name: str, value: float | None, raises: bool, lang: str) -> str:
    """One factor of :func:`factor_words`: "承诺时限 39 个工作日 ↑推高" (``raises``: its contribution is positive)."""
    label = tr(lang, *rf.FEATURES.get(name, (name, name)))
    zh_unit, en_unit, unit_kind = _FACTOR_UNITS.get(name, ("", "", "flag"))
    if value is None:
        shown = ""
    elif unit_kind == "share":
        shown = f" {value * 100:.0f}%"
    elif unit_kind == "flag":
        shown = "" if value >= 0.5 else tr(lang, "（否）", " (no)")
    else:
        number = f"{value:,.0f}" if unit_kind in ("days", "hours", "count", "times") else f"{value:.3g}"
        shown = tr(lang, f" {number} {zh_unit}".rstrip(), f" {number} {en_unit}".rstrip() if en_unit else f": {number}")
    direction = tr(lang, "↑推高", "↑ raises") if raises else tr(lang, "↓降低", "↓ lowers")
    return f"{label}{shown} {direction}"


def factor_words_column(factors: pl.Series, lang: str) -> pl.Series:
    """:func:`factor_words` of every row of a column of factor lists, each distinct factor worded once: the
    province's 100,924 cases likely to go overdue at 10 M cases have 302,772 factors, 500 of them distinct
    (worded row by row: 1.6 s)."""
    flat = (pl.DataFrame({"factors": factors}).with_row_index("_row").explode("factors", empty_as_null=True)
            .with_columns(pl.col("factors").struct.field("feature", "value"),
                          raises=pl.col("factors").struct.field("contribution") > 0))
    keys = ["feature", "value", "raises"]
    distinct = flat.select(keys).unique().drop_nulls("feature")
    phrases = distinct.with_columns(phrase=pl.Series(
        [factor_phrase(f, v, up, lang) for f, v, up in distinct.iter_rows()], dtype=pl.String))
    worded = flat.join(phrases, on=keys, how="left", nulls_equal=True, maintain_order="left")
    return (worded.group_by("_row", maintain_order=True)
            .agg(pl.col("phrase").drop_nulls().str.join(tr(lang, "；", "; ")))
            .get_column("phrase").alias("factor_words"))


# Evaluation as text -------------------------------------------------------------------------------
def evaluation_lines(manifest: dict, lang: str) -> list[str]:
    ev = manifest["evaluation"]
    lines = [tr(lang,
                f"超期风险模型 v{manifest['version']}（{manifest['trained_at']} 训练，数据截至 {manifest['data_watermark']}）",
                f"overdue-risk model v{manifest['version']} (trained {manifest['trained_at']}, data to {manifest['data_watermark']})"),
             tr(lang,
                f"按时间切分：训练 {ev['train']['snapshots_from']} 至 {ev['train']['snapshots_to']} 的快照 "
                f"{ev['train']['rows']:,} 行（超期 {ev['train']['positive_cases']:,} 件）；测试月 {ev['test_month']} "
                f"{ev['test']['rows']:,} 行（超期 {ev['test']['positive_cases']:,} 件）",
                f"time split: trained on {ev['train']['rows']:,} snapshot rows from {ev['train']['snapshots_from']} to "
                f"{ev['train']['snapshots_to']} ({ev['train']['positive_cases']:,} cases went overdue); tested on "
                f"{ev['test']['rows']:,} rows of {ev['test_month']} ({ev['test']['positive_cases']:,} went overdue)"),
             ""]
    scorers = [(tr(lang, "模型", "model"), ev["model"])] + [
        (tr(lang, *BASELINES[name]), report) for name, report in ev["baselines"].items()]
    headers = [tr(lang, "评分", "scorer"), "ROC-AUC", "PR-AUC", "Brier", "ECE", tr(lang, "平均预测", "mean pred."),
               tr(lang, "实际", "observed")]
    rows = [[name, f"{r['roc_auc']:.4f}", f"{r['pr_auc']:.4f}", f"{r['brier']:.5f}", f"{r['ece']:.4f}",
             f"{r['mean_predicted']:.4f}", f"{r['observed']:.4f}"] for name, r in scorers]
    lines.append(render(headers, rows, right_align=[False] + [True] * 6))
    lines.append("")
    for name, gain in ev["pr_auc_gain"].items():
        verdict = tr(lang, "胜出", "beats it") if gain["beats"] else tr(lang, "未胜出", "does NOT beat it")
        lines.append(tr(lang, f"PR-AUC 对比“{BASELINES[name][0]}”：{gain['difference']:+.4f}（{gain['ratio']} 倍），{verdict}",
                        f"PR-AUC vs {BASELINES[name][1]}: {gain['difference']:+.4f} ({gain['ratio']}×), {verdict}"))
    lines += not_yet_yellow_lines(ev.get("not_yet_yellow"), lang, headers)
    lines.append("")
    lines.append(tr(lang, "模型校准表（测试月）", "model calibration (test month)"))
    lines.append(render([tr(lang, "预测区间", "predicted"), tr(lang, "行数", "rows"), tr(lang, "超期", "overdue"),
                         tr(lang, "平均预测", "mean pred."), tr(lang, "实际", "observed")],
                        [[f"{r['lo']:.2f}–{r['hi']:.2f}", f"{r['rows']:,}", f"{r['positives']:,}",
                          f"{r['mean_predicted']:.4f}", f"{r['observed']:.4f}"] for r in ev["model"]["calibration"]],
                        right_align=[False, True, True, True, True]))
    return lines


def not_yet_yellow_lines(sub: dict | None, lang: str, headers: list[str]) -> list[str]:
    """The not-yet-yellow figures of :func:`not_yet_yellow_evaluation` as text (nothing for a model trained
    before they were measured)."""
    if not sub:
        return []
    lines = ["", tr(lang, f"测试月中尚未黄牌的快照（剩余超过 {sub['warning_days']} 个工作日或正在停止计时）："
                          f"{sub['rows']:,} 行（超期 {sub['positive_cases']:,} 件）——预测在此才提供红黄牌之外的信息",
                    f"test rows not yet yellow (more than {sub['warning_days']} working days left, or clock stopped): "
                    f"{sub['rows']:,} ({sub['positive_cases']:,} went overdue) — where a prediction adds to the "
                    f"red/yellow watch")]
    if not sub.get("evaluated"):
        return lines + [tr(lang, "无法评估（没有或全部为超期）", "not evaluated (no overdue row, or only overdue rows)")]
    scorers = [(tr(lang, "模型", "model"), sub["model"])] + [
        (tr(lang, *BASELINES[name]), report) for name, report in sub["baselines"].items()]
    rows = [[name, f"{r['roc_auc']:.4f}", f"{r['pr_auc']:.4f}", f"{r['brier']:.5f}", f"{r['ece']:.4f}",
             f"{r['mean_predicted']:.4f}", f"{r['observed']:.4f}"] for name, r in scorers]
    lines.append(render(headers, rows, right_align=[False] + [True] * 6))
    for name, gain in sub["pr_auc_gain"].items():
        verdict = tr(lang, "胜出", "beats it") if gain["beats"] else tr(lang, "未胜出", "does NOT beat it")
        lines.append(tr(lang, f"尚未黄牌：PR-AUC 对比“{BASELINES[name][0]}”：{gain['difference']:+.4f}（{gain['ratio']} 倍），{verdict}",
                        f"not yet yellow: PR-AUC vs {BASELINES[name][1]}: {gain['difference']:+.4f} ({gain['ratio']}×), {verdict}"))
    w = sub["watch"]
    precision = "—" if w["precision"] is None else f"{w['precision'] * 100:.0f}%"
    lines.append(tr(lang, f"“可能超期”（风险 ≥ {w['threshold'] * 100:.0f}%）在这些行中标出 {w['rows_flagged']:,} 行"
                          f"（{w['share_flagged'] * 100:.1f}%），其中 {precision} 实际超期（基准 {w['base_rate'] * 100:.1f}%），"
                          f"覆盖超期行的 {w['recall'] * 100:.0f}%",
                    f"'likely to go overdue' (risk ≥ {w['threshold'] * 100:.0f}%) flags {w['rows_flagged']:,} of these rows "
                    f"({w['share_flagged'] * 100:.1f}%); {precision} of them went overdue (base rate "
                    f"{w['base_rate'] * 100:.1f}%); it catches {w['recall'] * 100:.0f}% of the overdue rows"))
    return lines


KIND = ModelKind(name="risk", label=("超期风险", "overdue risk"), feature_version=FEATURE_VERSION, train=train,
                 evaluation_lines=evaluation_lines)
