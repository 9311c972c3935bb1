"""``hcp models``: train, evaluate and use the models.

* ``hcp models train [KIND…]`` — train every kind of :data:`models.registry.KINDS`, or those named; too
  little data gives a clear message and no model (the previous one, if any, stays current).
* ``hcp models evaluate [KIND…] [--format json|table]`` — every figure of the last training, beside the
  baselines. JSON: an object keyed by kind, each the manifest's ``evaluation`` plus ``version``,
  ``trained_at``, ``data_watermark`` and the ``final`` training window.
* ``hcp models risk --as-of ISO-8601 [--format json|table]`` — the overdue risk of every open case. JSON
  (the contract): an array, riskiest first, of ``case_id``, ``risk`` (0–1), ``deadline`` (YYYY-MM-DD),
  ``working_days_left`` (negative once past the deadline), ``dept_code``, ``item_code``, ``region_code``,
  ``factors`` (list of {``feature``, ``contribution``, ``value``}: contributions to the log-odds), plus
  ``flag`` (red/yellow/null, as ``hcp flags``) and ``basis`` (``model``, or ``rule`` for a red case, whose
  risk is 1 and has no factors).
* ``hcp models anomalies --period YYYY-MM | --as-of ISO [--top K] [--by score|rules] [--format json|table]`` —
  the most unusual unit-days of rating behaviour (:mod:`models.anomaly`). JSON (the contract): an array,
  most unusual first, of ``unit_kind`` (staff/device/dept/rater), ``unit_id`` (masked: staff number
  in part, rater by pseudonym), ``day``, ``score`` (IsolationForest, 0–1), ``rule_score``, ``ratings``,
  ``dept_code``, ``rules`` (existing rules that fired) and ``evidence`` (list of {``feature``, ``z``,
  ``text``}).
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import click
import polars as pl

from hcp.domain import REASON_CATEGORIES
from hcp.errors import EXIT_FAILURE, UsageError
from hcp.i18n import tr
from hcp.options import format_option, instant_option, period_option
from hcp.periods import Period, now
from hcp.textable import display_width, render
from models.registry import KINDS

# The models, the warehouse and the metrics job are imported inside the commands, to keep `hcp --help` fast: it imports
# every command's module.


def _refresh(app) -> None:
    from metrics.jobs import MetricsJob

    MetricsJob(app.warehouse()).run()


def _kinds(app, names: tuple[str, ...]) -> list[str]:
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise UsageError(tr(app.lang, f"未知模型 {', '.join(unknown)}（可选：{', '.join(KINDS)}）",
                            f"unknown model {', '.join(unknown)} (one of: {', '.join(KINDS)})"))
    return list(names) or list(KINDS)


@click.group()
def models() -> None:
    """模型 / models: overdue risk (超期风险), rating anomalies (异常评价) — train, evaluate, score."""


@models.command("train")
@click.argument("names", nargs=-1, metavar="[KIND]...")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="随机种子 / random seed.")
@click.option("--no-refresh", is_flag=True, help="不先做增量计算 / skip the metrics refresh.")
@click.pass_obj
def train_command(app, names: tuple[str, ...], seed: int, no_refresh: bool) -> None:
    """训练模型 / train the models (all, or the kinds named)."""
    from models import lifecycle, registry, store

    kinds = _kinds(app, names)
    if not no_refresh:
        _refresh(app)
    wh = app.warehouse()
    failed = False
    for name in kinds:
        kind = registry.kind(name)
        label = tr(app.lang, *kind.label)
        progress = lambda message, label=label: click.echo(f"… {label}: {message}", err=True)  # noqa: E731
        [trained] = lifecycle.train(wh, [name], seed=seed, progress=progress, lang=app.lang)
        if trained.directory is None:
            click.secho(trained.message, fg="yellow", err=True)
            failed = True
            continue
        manifest = store.load_manifest(name, app.lang)
        click.echo(tr(app.lang, f"{label}模型 v{manifest['version']} 已保存：{trained.directory}（用时 {manifest.get('train_seconds', 0)} 秒）",
                      f"{label} model v{manifest['version']} saved: {trained.directory} ({manifest.get('train_seconds', 0)} s)"))
        for line in kind.evaluation_lines(manifest, app.lang):
            click.echo(line)
    if failed:
        sys.exit(EXIT_FAILURE)


@models.command("evaluate")
@click.argument("names", nargs=-1, metavar="[KIND]...")
@format_option("json", "table")
@click.pass_obj
def evaluate_command(app, names: tuple[str, ...], fmt: str) -> None:
    """模型评估 / every figure of the last training, beside the baselines."""
    from models import registry, store

    kinds = _kinds(app, names)
    manifests = {name: store.load_manifest(name, app.lang) for name in kinds if store.current_version(name) is not None}
    if not manifests:
        raise store.ModelMissing(tr(app.lang, "尚无已训练的模型：请先运行 hcp models train",
                                    "no trained model yet: run `hcp models train` first"))
    if fmt == "json":
        out = {name: {"version": m["version"], "trained_at": m["trained_at"], "data_watermark": m["data_watermark"],
                      **m["evaluation"], "final": m["final"], "libraries": m["libraries"]}
               for name, m in manifests.items()}
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for name, manifest in manifests.items():
        for line in registry.kind(name).evaluation_lines(manifest, app.lang):
            click.echo(line)


def _clip(text: str, width: int) -> str:

    if display_width(text) <= width:
        return text
    out = ""
    for ch in text:
        if display_width(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


@models.command("risk")
@instant_option()
@format_option("json", "table")
@click.option("--top", type=click.IntRange(min=1), default=30, show_default=True,
              help="表格显示前 N 件 / table: show the N riskiest (json lists every open case).")
@click.option("--no-refresh", is_flag=True, help="不先做增量计算 / skip the metrics refresh.")
@click.pass_obj
def risk_command(app, as_of: dt.datetime | None, fmt: str, top: int, no_refresh: bool) -> None:
    """超期风险 / the overdue risk of every open case as of an instant, with the factors behind it.

    \b
    风险分是提示关注的线索，不是处罚依据。
    A risk score is a prompt to look, never a sanction.
    """
    from metrics.jobs import MetricsSettings  # lazy: --help
    from models import risk, store  # lazy: --help
    from warehouse.queries.reference import group_names  # lazy: --help

    instant = as_of or now()
    model, manifest = store.load("risk", risk.FEATURE_VERSION, app.lang)
    if not no_refresh:
        _refresh(app)
    wh = app.warehouse()
    frame = risk.score(wh, instant, model, warning_days=MetricsSettings.load().warning_days)
    if fmt == "json":

        click.echo(frame.with_columns(deadline=pl.col("deadline").dt.strftime("%Y-%m-%d")).write_json())
        return
    from models.risk_features import FEATURES

    depts, items, regions = (group_names(wh, g) for g in ("dept", "item", "region:city"))
    flags = {"red": tr(app.lang, "红牌", "red"), "yellow": tr(app.lang, "黄牌", "yellow"), None: ""}
    scored = frame.filter(frame["basis"] == "model")
    threshold = risk.watch_threshold()
    high = risk.likely_overdue(frame, threshold).height
    click.echo(tr(app.lang,
                  f"截至 {instant:%Y-%m-%d %H:%M}：在办 {frame.height:,} 件，其中红牌 {frame.height - scored.height:,} 件；"
                  f"可能超期（未红黄牌、风险 ≥ {threshold:.0%}）{high:,} 件（模型 v{manifest['version']}）",
                  f"as of {instant:%Y-%m-%d %H:%M}: {frame.height:,} open cases, {frame.height - scored.height:,} red; "
                  f"{high:,} likely to go overdue (neither red nor yellow, risk ≥ {threshold:.0%}; model v{manifest['version']})"))
    click.echo(tr(app.lang, "风险分是提示关注的线索，不是处罚依据。", "A risk score is a prompt to look, never a sanction."))
    shown = scored.head(top)
    headers = [tr(app.lang, *p) for p in (("办件编号", "case"), ("风险", "risk"), ("期限", "deadline"),
                                           ("剩余", "left"), ("牌", "flag"), ("部门", "department"), ("事项", "item"),
                                           ("区划", "region"), ("主要因素", "main factors"))]

    def factor_text(factors: list[dict]) -> str:
        """The two strongest factors as 'feature = its value (its contribution to the log-odds)': a bare
        '剩余工作日+4.0' read as four days left where none were."""
        def one(f: dict) -> str:
            value = f.get("value")
            shown = "" if value is None else f"={value:.3g}" if isinstance(value, float) else f"={value}"
            return tr(app.lang, f"{FEATURES[f['feature']][0]}{shown}（{f['contribution']:+.1f}）",
                      f"{FEATURES[f['feature']][1]}{shown} ({f['contribution']:+.1f})")
        return tr(app.lang, "、", ", ").join(one(f) for f in factors[:2])

    rows = [[r["case_id"], f"{r['risk'] * 100:.0f}%", r["deadline"].isoformat(), str(r["working_days_left"]),
             flags[r["flag"]], _clip(f"{depts.get(r['dept_code'], '')} {r['dept_code']}", 24),
             _clip(items.get(r["item_code"], r["item_code"]), 14), _clip(regions.get(r["region_code"], r["region_code"]), 10),
             factor_text(r["factors"])] for r in shown.iter_rows(named=True)]
    click.echo(render(headers, rows, right_align=[False, True, False, True, False, False, False, False, False]))
    if scored.height > top:
        click.echo(tr(app.lang, f"…… 另有 {scored.height - top:,} 件（--top 调整，--format json 列出全部）",
                      f"… {scored.height - top:,} more (--top N; --format json lists every case)"))


@models.command("anomalies")
@period_option(help="月份 YYYY-MM 或日期区间 / month YYYY-MM or YYYY-MM-DD..YYYY-MM-DD.")
@instant_option(help="时点 / ISO 8601 instant: the 30 days up to it (default: now).")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True, help="前 K 个 / the K most unusual.")
@click.option("--by", type=click.Choice(["score", "rules"]), default="score", show_default=True,
              help="排序 / rank by the IsolationForest score or the robust rules' score.")
@format_option("json", "table")
@click.pass_obj
def anomalies_command(app, period: Period | None, as_of: dt.datetime | None, top: int, by: str, fmt: str) -> None:
    """异常评价 / the most unusual unit-days of rating behaviour, with the evidence.

    \b
    Units: staff (masked), hall device / channel, department, rater (pseudonym).
    异常是提示关注的线索，不是处罚依据。
    An anomaly is a prompt to look, never a sanction.
    """
    from models import anomaly, store

    if period and as_of:
        raise UsageError(tr(app.lang, "--period 与 --as-of 只能给一个", "give --period or --as-of, not both"))
    start, end = anomaly.window_for(period=period.label if period else None, as_of=None if period else (as_of or now()))
    model, manifest = store.load("anomaly", anomaly.FEATURE_VERSION, app.lang)
    frame = anomaly.score_window(app.warehouse(), model, start, end, app.lang, top=top, by=by)
    if fmt == "json":

        click.echo(frame.with_columns(day=pl.col("day").dt.strftime("%Y-%m-%d")).write_json())
        return

    window = f"{start:%Y-%m-%d} – {(end - dt.timedelta(seconds=1)):%Y-%m-%d}"
    if frame.is_empty():
        click.echo(tr(app.lang, f"{window}：没有评价数达 {anomaly.MIN_RATINGS} 条的单元日，无可评分对象",
                      f"{window}: no unit-day with {anomaly.MIN_RATINGS}+ ratings, nothing to score"))
        return
    click.echo(tr(app.lang, f"{window} 最异常的 {frame.height} 个单元日（模型 v{manifest['version']}，按{'孤立森林' if by == 'score' else '稳健规则'}排序）",
                  f"{window}: the {frame.height} most unusual unit-days (model v{manifest['version']}, by "
                  f"{'IsolationForest' if by == 'score' else 'robust rules'})"))
    click.echo(tr(app.lang, "异常是提示关注的线索，不是处罚依据。", "An anomaly is a prompt to look, never a sanction."))
    headers = [tr(app.lang, *p) for p in (("对象类型", "unit"), ("对象", "id"), ("日期", "day"), ("异常分", "score"),
                                           ("规则分", "rules"), ("评价数", "ratings"), ("证据", "evidence"))]
    rows = [[tr(app.lang, *anomaly.UNIT_KINDS[r["unit_kind"]]), _clip(r["unit_id"], 22), r["day"].isoformat(),
             f"{r['score']:.3f}", f"{r['rule_score']:.1f}", f"{r['ratings']:,}",
             tr(app.lang, "；", "; ").join(e["text"] for e in r["evidence"])] for r in frame.iter_rows(named=True)]
    click.echo(render(headers, rows, right_align=[False, False, False, True, True, True, False]))


@models.command("classify")
@click.argument("source", metavar="FILE|-")
@format_option("json", "table", default="json")
@click.pass_obj
def classify_command(app, source: str, fmt: str) -> None:
    """差评原因分类 / the likely cause of each bad-rating comment.

    \b
    输入 JSON Lines（文件或 - 表示标准输入），每行 {"id", "comment", "tags"（可选）}；
    json 输出数组 [{"id", "cause", "confidence"}]。无训练模型时使用内置种子集临时训练的模型。
    Input: JSON Lines (a file, or - for stdin), one {"id", "comment", optional "tags"} per line; json prints
    [{"id", "cause", "confidence"}]. With no trained model, a model fitted on the built-in seed set is used.
    预测原因是供核实参考的建议，不是处罚依据 / a predicted cause is a suggestion, never a sanction.
    """
    from models import cause

    if source == "-":
        lines = sys.stdin.buffer.read().splitlines()
    else:
        try:
            with open(source, "rb") as handle:
                lines = handle.read().splitlines()
        except OSError as exc:
            raise UsageError(tr(app.lang, f"无法读取 {source}：{exc.strerror}", f"cannot read {source}: {exc.strerror}")) from exc
    frame = cause.parse_lines(lines, app.lang)
    model, manifest = cause.load_or_seed(app.lang)
    if manifest is None:
        click.echo(tr(app.lang, "尚无已训练的差评原因模型：使用内置种子集临时训练的模型（hcp models train cause 训练并保存，可学习已核实原因）",
                      "no trained complaint-cause model yet: using a model fitted on the built-in seed set "
                      "(`hcp models train cause` trains one that also learns the verified causes)"), err=True)
    predicted = cause.predict(model, frame)
    if fmt == "json":
        click.echo(json.dumps([{"id": json.loads(r["id_json"]), "cause": r["cause"], "confidence": r["confidence"]}
                               for r in predicted.select("id_json", "cause", "confidence").iter_rows(named=True)],
                              ensure_ascii=False, indent=2))
        return

    headers = [tr(app.lang, *p) for p in (("编号", "id"), ("原因", "cause"), ("置信度", "confidence"), ("依据", "basis"),
                                           ("评价内容", "comment"))]
    basis = {"model": tr(app.lang, "模型", "model"), "rule": tr(app.lang, "规则（无有效内容）", "rule (says nothing)")}
    rows = [[_clip(r["id"], 16), tr(app.lang, REASON_CATEGORIES.get(r["cause"], r["cause"]), r["cause"]),
             f"{r['confidence'] * 100:.0f}%", basis[r["basis"]], _clip(r["comment"] or "—", 40)]
            for r in predicted.iter_rows(named=True)]
    click.echo(render(headers, rows, right_align=[False, False, True, False, False]))
    click.echo(tr(app.lang, "预测原因是供核实参考的建议，不是核实结论，不得作为处罚依据。",
                  "A predicted cause is a suggestion for the verifying department, never a verified cause nor grounds for a sanction."))
