"""``hcp compute``, ``hcp metrics`` and ``hcp flags``.

The JSON outputs are a contract other tools rely on:

* ``hcp metrics --format json``: an array of objects, each with ``group`` (the dept/item/region code, or
  ``all``), every indicator key of DOMAIN.md (rates as fractions 0–1, null where the base is empty),
  ``composite_score`` and ``rank``; plus ``name``, ``rank_status`` (``ranked``, ``small_sample`` 样本不足,
  ``no_data``: only ranked units have a rank; a unit with no data has no score), ``peer_group``, ``peers``
  (ranked units in the peer group), ``bottom_two``,
  ``bottom_two_consecutive``, ``contributions`` (points per indicator, summing to the score) and
  ``counts`` (the numerators and denominators behind every rate).
* ``hcp flags --format json``: an array of the open cases that are red or yellow as of the instant:
  ``case_id``, ``flag`` (red/yellow), ``deadline`` (YYYY-MM-DD), ``overdue_working_days`` (red; null for
  yellow), ``working_days_left`` (yellow; null for red), ``dept_code``, ``item_code``, ``region_code``.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import click
import polars as pl

from hcp.textable import render
from hcp.domain import INDICATOR_LABELS, RANK_STATUS_LABELS
from hcp.errors import UsageError
from hcp.i18n import fmt_int, fmt_rate, tr
from hcp.options import format_option, instant_option, no_refresh_option, period_option, refresh, scope_option
from hcp.periods import SHANGHAI, Period, now
from hcp.scope import Scope
from metrics.indicators import GROUPINGS, INDICATORS, INDICATOR_KEYS
from metrics.records import metrics_records

# The heavy modules (the warehouse, the metrics job, the quality lists, the table renderer) are imported
# inside the commands, to keep `hcp --help` fast: it imports every command's module.


def _partitioned(app, cities: str | None, shard: str | None, counts_out: str | None, merge: tuple[str, ...]) -> None:
    """A worker's partial run (``--cities`` or ``--shard``: its counts written to ``--counts-out``), or the
    merge of the workers' counts, scored once and stored (``--merge``). docs/cluster.md, section 3."""
    from metrics.jobs import MetricsJob, MetricsSettings  # lazy: the metrics job is heavy, --help imports this
    from metrics.merge import merge_into  # lazy: as above
    from warehouse.queries.shards import cities_of_shard  # lazy: as above

    if merge:
        if cities or shard or counts_out:
            raise UsageError(tr(app.lang, "--merge 不能与 --cities/--shard/--counts-out 同用",
                                "--merge takes no --cities, --shard or --counts-out"))
        done = merge_into(app.warehouse(), [pl.read_parquet(path) for path in merge], MetricsSettings.load())
        click.echo(tr(app.lang, f"已合并 {len(merge)} 个分片的计数：期间 {', '.join(done) or '—'}",
                      f"merged the counts of {len(merge)} shard(s): periods {', '.join(done) or '—'}"))
        return
    if not counts_out or bool(cities) == bool(shard):
        raise UsageError(tr(app.lang, "分片计算需要 --cities 或 --shard 之一，以及 --counts-out",
                            "a partial run needs one of --cities or --shard, and --counts-out"))
    if shard:
        parts = shard.split("/")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 1 <= int(parts[0]) <= int(parts[1]):
            raise UsageError(tr(app.lang, f"--shard {shard!r}：应为 i/n，如 2/3", f"--shard {shard!r}: use i/n, e.g. 2/3"))
        wh = app.warehouse()
        chosen = cities_of_shard(wh, int(parts[1]), int(parts[0]))
    else:
        chosen = [c.strip() for c in cities.split(",") if c.strip()]
        bad = [c for c in chosen if len(c) != 4 or not c.isdigit()]
        if bad or not chosen:
            raise UsageError(tr(app.lang, f"--cities：城市代码为4位数字（如 3701,3700）：{', '.join(bad)}",
                                f"--cities: city codes are 4 digits (e.g. 3701,3700): {', '.join(bad)}"))
        wh = app.warehouse()
    report = MetricsJob(wh, progress=lambda message: click.echo(f"… {message}", err=True), cities=chosen).run()
    report.counts.write_parquet(counts_out)
    click.echo(tr(app.lang,
                  f"分片计算完成（{', '.join(chosen) or '—'}）：{fmt_int(report.cases)} 件办件，计数写入 {counts_out}",
                  f"partial run done ({', '.join(chosen) or '—'}): {fmt_int(report.cases)} cases, counts in {counts_out}"))


@click.command()
@click.option("--full", is_flag=True, help="全量重算 / recompute everything instead of only what changed.")
@click.option("--profile", is_flag=True, help="打印各步骤用时 / print where the time went, step by step.")
@click.option("--cities", default=None,
              help="分片计算：只算这些城市的办件与评价 / a partial run over these cities only (3701,3700,…).")
@click.option("--shard", default=None, help="分片计算：集群第 i 个分片（共 n 个）的城市 / the cities of shard i/n.")
@click.option("--counts-out", type=click.Path(dir_okay=False), default=None,
              help="分片计数文件 (Parquet) / where a partial run writes its counts.")
@click.option("--merge", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="合并分片计数并统一评分 / merge the shards' counts files, score once, store (repeatable).")
@click.pass_obj
def compute(app, full: bool, profile: bool, cities: str | None, shard: str | None, counts_out: str | None,
            merge: tuple[str, ...]) -> None:
    """计算办件事实与指标 / compute case facts, indicators, scores and ranks (incremental by default)."""
    if cities or shard or counts_out or merge:
        _partitioned(app, cities, shard, counts_out, merge)
        return
    _, report = refresh(app, full=full, quiet=False)
    if profile:
        click.echo(tr(app.lang, "步骤 | 次数 | 秒", "step | calls | seconds"))
        for name, calls, seconds in report.profile.rows():
            click.echo(f"{name} | {calls} | {seconds:.2f}")
    mode = {"full": tr(app.lang, "全量", "full"), "incremental": tr(app.lang, "增量", "incremental"),
            "unchanged": tr(app.lang, "无新数据", "nothing new")}[report.mode]
    click.echo(tr(app.lang,
                  f"{mode}计算完成：{fmt_int(report.cases)} 件办件，期间 {', '.join(report.periods) or '—'}，用时 {report.seconds:.1f} 秒",
                  f"{mode} run done: {fmt_int(report.cases)} cases, periods {', '.join(report.periods) or '—'}, {report.seconds:.1f} s"))


def _format_value(key: str, value) -> str:
    kind = INDICATORS.get(key, ("",))[0]
    if value is None:
        return "—"
    if kind in ("rate", "compression"):
        return fmt_rate(value)
    if kind == "mean" or key == "composite_score":
        return f"{value:.2f}"
    return fmt_int(int(value))


#: The columns ``hcp metrics --format table`` shows unless ``--columns`` asks for others: what an office
#: reads first, so the table fits a terminal.
TABLE_COLUMNS = ("cases_completed", "on_time_rate", "online_rate", "zero_trip_rate", "good_rate", "bad_count",
                 "bad_overdue_unrectified", "inconsistent_cases", "composite_score", "rank")


def table_columns(spec: str | None) -> list[str]:
    """``--columns``: ``all``, or indicator keys separated by commas; none → :data:`TABLE_COLUMNS`."""
    known = [*INDICATOR_KEYS, "composite_score", "rank"]
    if not spec:
        return list(TABLE_COLUMNS)
    if spec.strip() == "all":
        return known
    wanted = [key.strip() for key in spec.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in known]
    if unknown or not wanted:
        raise click.BadParameter(f"unknown column(s) {', '.join(unknown) or '(none)'}; use 'all' or any of: "
                                 f"{', '.join(known)}", param_hint="--columns")
    return wanted


def _rank_text(record: dict) -> str:
    """``3/12`` (rank among the ranked peers), ``—`` when not ranked."""
    return f"{record['rank']}/{record['peers']}" if record["rank"] is not None else "—"


@click.command()
@period_option(required=True)
@click.option("--by", "grouping", type=click.Choice(GROUPINGS), default="all", show_default=True,
              help="分组 / grouping.")
@format_option("json", "csv", "table")
@click.option("--columns", default=None,
              help="表格列 / table columns: 'all' or indicator keys separated by commas (default: the key figures).")
@no_refresh_option()
@click.pass_obj
def metrics(app, period: Period, grouping: str, fmt: str, columns: str | None, no_refresh: bool) -> None:
    """指标 / every DOMAIN indicator, composite score and rank for a period and grouping."""
    from metrics.jobs import MetricsJob  # lazy: --help
    from warehouse.queries.group_metrics import read_group_metrics  # lazy: --help
    from warehouse.queries.reference import group_names  # lazy: --help

    parsed = period
    keys = table_columns(columns)
    wh = app.warehouse()
    job = refresh(app)[0] if not no_refresh else MetricsJob(wh)
    frame = read_group_metrics(wh, parsed.label, grouping) if parsed.is_month else pl.DataFrame()
    if frame.height == 0:
        frame = job.compute_range(parsed, grouping)
    records = metrics_records(frame, group_names(wh, grouping))
    if all(r["rank_status"] == "no_data" for r in records):
        click.echo(tr(app.lang, f"期间 {parsed.label} 没有数据（无办结办件、无计入评价）：不计分，不排名。",
                      f"Period {parsed.label} has no data (no completed case, no counted rating): "
                      "no score, no rank."), err=fmt != "table")
    if fmt == "json":
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        flat = [{k: v for k, v in r.items() if k not in ("contributions", "counts")} for r in records]
        buffer = io.StringIO()
        pl.DataFrame(flat, infer_schema_length=None).write_csv(buffer) if flat else buffer.write("group\n")
        click.echo(buffer.getvalue(), nl=False)
    else:

        headers = [tr(app.lang, "单位", "group"), tr(app.lang, "名称", "name"), tr(app.lang, "排名状态", "status")] + [
            tr(app.lang, *INDICATOR_LABELS[k]) for k in keys]
        rows = [[r["group"], r["name"], tr(app.lang, *RANK_STATUS_LABELS[r["rank_status"]])]
                + [_rank_text(r) if k == "rank" else _format_value(k, r[k]) for k in keys] for r in records]
        click.echo(tr(app.lang, f"期间 {parsed.label} · 分组 {grouping} · {len(records)} 个单位",
                      f"period {parsed.label} · by {grouping} · {len(records)} units"))
        click.echo(render(headers, rows, right_align=[False, False, False] + [True] * len(keys)))


@click.command()
@instant_option()
@format_option("json", "table")
@no_refresh_option()
@click.pass_obj
def flags(app, as_of: dt.datetime | None, fmt: str, no_refresh: bool) -> None:
    """红黄牌 / open cases that are red (overdue) or yellow (due soon) as of an instant."""
    from metrics.flags import flags_as_of  # lazy: --help
    from metrics.jobs import MetricsSettings  # lazy: --help
    from warehouse.queries.reference import group_names  # lazy: --help

    instant = as_of or now()
    if not no_refresh:
        refresh(app)
    frame = flags_as_of(app.warehouse(), instant, MetricsSettings.load().warning_days)
    if fmt == "json":
        records = [
            {"case_id": r["case_id"], "flag": r["flag"], "deadline": r["deadline"].isoformat(),
             "overdue_working_days": r["overdue_working_days"], "working_days_left": r["working_days_left"],
             "dept_code": r["dept_code"], "item_code": r["item_code"], "region_code": r["region_code"]}
            for r in frame.iter_rows(named=True)
        ]
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return

    wh = app.warehouse()
    red = frame.filter(pl.col("flag") == "red").height
    click.echo(tr(app.lang, f"截至 {instant:%Y-%m-%d %H:%M}：红牌 {red:,} 件，黄牌 {frame.height - red:,} 件",
                  f"as of {instant:%Y-%m-%d %H:%M}: {red:,} red, {frame.height - red:,} yellow"))
    depts, items, regions = group_names(wh, "dept"), group_names(wh, "item"), group_names(wh, "region:city")
    headers = [tr(app.lang, *p) for p in (("办件编号", "case"), ("牌", "flag"), ("期限", "deadline"),
                                           ("超期工作日", "working days over"), ("剩余工作日", "working days left"),
                                           ("部门", "department"), ("事项", "item"), ("区划", "region"))]
    ordered = frame.sort(["flag", "overdue_working_days", "working_days_left", "case_id"],
                         descending=[False, True, False, False], nulls_last=True)
    dash = lambda v: "—" if v is None else f"{v:,}"  # noqa: E731
    rows = [[r["case_id"], tr(app.lang, "红牌", "red") if r["flag"] == "red" else tr(app.lang, "黄牌", "yellow"),
             r["deadline"].isoformat(), dash(r["overdue_working_days"]), dash(r["working_days_left"]),
             depts.get(r["dept_code"]) or r["dept_code"], items.get(r["item_code"]) or r["item_code"],
             regions.get(r["region_code"]) or r["region_code"]] for r in ordered.iter_rows(named=True)]
    click.echo(render(headers, rows, right_align=[False, False, False, True, True, False, False, False]))


@click.command()
@period_option(help="期间 / YYYY-MM or YYYY-MM-DD..YYYY-MM-DD (default: every period).")
@scope_option(region=None, dept_help="部门编码 / only this department.")
@format_option("json", "csv", "table")
@no_refresh_option()
@click.pass_obj
def quality(app, period: Period | None, scope: Scope, fmt: str, no_refresh: bool) -> None:
    """数据质量 / inconsistent cases (events that contradict each other), per department, for correction,
    and the cases that cannot be timed (their item is not in the catalogue).

    An inconsistent case is left out of every case indicator and counted in ``inconsistent_cases``; it is
    listed for a period when its submission, acceptance or completion falls in it. An untimed case counts
    as completed but not in the base of the on-time rate (table form: listed after the inconsistent ones).
    """
    from metrics.quality import PROBLEMS, inconsistent_cases, per_department, untimed_cases  # lazy: --help
    from warehouse.queries.reference import group_names, require_department  # lazy: --help

    parsed, dept = period, scope.dept_code
    wh = app.warehouse()
    if dept is not None:
        require_department(wh, dept)
    if not no_refresh:
        refresh(app)
    cases = inconsistent_cases(wh, parsed, where="dept_code = {dept:String}" if dept else "",
                               parameters={"dept": dept} if dept else None)
    records = [{**r, **{k: (v.astimezone(SHANGHAI).isoformat(timespec="seconds") if isinstance(v, dt.datetime) else v)
                        for k, v in r.items() if k.endswith("_at")}} for r in cases.to_dicts()]
    if fmt == "json":
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        buffer = io.StringIO()
        pl.DataFrame(records, schema=list(cases.columns)).write_csv(buffer) if records else buffer.write(",".join(cases.columns) + "\n")
        click.echo(buffer.getvalue(), nl=False)
        return

    names = group_names(wh, "dept")
    scope = parsed.label if parsed else tr(app.lang, "全部期间", "all periods")
    click.echo(tr(app.lang, f"{scope}：数据矛盾办件 {len(records):,} 件（不计入办件指标，请部门更正）",
                  f"{scope}: {len(records):,} inconsistent cases (left out of the case indicators; to be corrected)"))
    stamp = lambda v: v.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if v else "—"  # noqa: E731
    untimed = untimed_cases(wh, parsed, where="dept_code = {dept:String}" if dept else "",
                            parameters={"dept": dept} if dept else None)
    if not records:
        _print_untimed(app, untimed, names, stamp)
        return
    summary = per_department(cases)
    click.echo(render([tr(app.lang, "部门", "department"), tr(app.lang, "件数", "cases")],
                      [[f"{names.get(r['dept_code'], '')} {r['dept_code']}", f"{r['cases']:,}"] for r in summary.to_dicts()],
                      right_align=[False, True]))
    click.echo("")
    headers = [tr(app.lang, *p) for p in (("办件编号", "case"), ("问题", "problem"), ("部门", "department"),
                                           ("申报", "submitted"), ("受理", "accepted"), ("办结", "completed"))]
    rows = [[r["case_id"], tr(app.lang, *PROBLEMS[r["problem"]]), names.get(r["dept_code"], r["dept_code"]),
             stamp(r["submitted_at"]), stamp(r["accepted_at"]), stamp(r["completed_at"])] for r in cases.to_dicts()]
    click.echo(render(headers, rows))
    _print_untimed(app, untimed, names, stamp)


def _print_untimed(app, untimed: pl.DataFrame, names: dict, stamp) -> None:
    """The table form's second part: completed cases whose item is not in the catalogue (no deadline)."""

    click.echo("")
    click.echo(tr(app.lang, f"无法计时办件 {untimed.height:,} 件（事项不在目录中：计入办结量，不计入按时办结率；请补录事项目录）",
                  f"{untimed.height:,} untimed cases (item not in the catalogue: counted as completed, not in the "
                  "on-time rate's base; add the item to the catalogue)"))
    if untimed.height == 0:
        return
    headers = [tr(app.lang, *p) for p in (("办件编号", "case"), ("事项编码", "item"), ("部门", "department"),
                                           ("受理", "accepted"), ("办结", "completed"))]
    click.echo(render(headers, [[r["case_id"], r["item_code"], names.get(r["dept_code"], r["dept_code"]),
                                 stamp(r["accepted_at"]), stamp(r["completed_at"])] for r in untimed.to_dicts()]))
