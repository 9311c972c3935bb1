"""Versioned, idempotent schema migrations.

Each :class:`~warehouse.schema.Migration` is written once and never edited after it ships: a new need
is a new migration appended at the end. Applying is idempotent (``IF NOT EXISTS`` everywhere, the
applied versions recorded in ``schema_migrations``), so ``hcp init`` on a current warehouse does
nothing, and on an older one it brings the schema forward in place without touching the data.
"""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.client import Warehouse, WarehouseError
from warehouse.schema import (
    LC,
    TS,
    AddColumns,
    Column,
    CreateTable,
    Migration,
    Table,
    apply_operation,
    fold,
    operation_statements,
)

C = Column

# Columns every raw record table carries: where it came from and when it arrived.
_PROVENANCE = (
    C("extra", "String", "''", "unknown fields of the record, as JSON"),
    C("source", LC, "''", "file, stream or endpoint the record came from"),
    C("received_at", TS, "now64(3)", "when the engine stored the record"),
)
_REGION_SHARD = "cityHash64(substring(region_code, 1, 4))"  # by city: a city's data stays on one shard

MIGRATIONS: list[Migration] = [
    Migration(1, "raw records, catalogue and reference data", (
        CreateTable(Table(
            "schema_migrations",
            (C("version", "UInt32"), C("name", "String"), C("applied_at", TS, "now64(3)")),
            order_by="version", engine="MergeTree",
            comment="applied schema versions",
        )),
        CreateTable(Table(
            "regions",
            (
                C("region_code", "String", comment="12-digit administrative code"),
                C("region_name", "String"),
                C("parent_code", "String", "''"),
                C("level", "UInt8",
                  "multiIf(substring(region_code, 3) = '0000000000', 1, substring(region_code, 5) = '00000000', 2, "
                  "substring(region_code, 7) = '000000', 3, substring(region_code, 10) = '000', 4, 5)",
                  "1 province, 2 city, 3 county, 4 township, 5 village"),
                *_PROVENANCE,
            ),
            order_by="region_code", engine_args="received_at", comment="行政区划",
        )),
        CreateTable(Table(
            "departments",
            (C("dept_code", "String"), C("dept_name", "String"), C("region_code", "String"), *_PROVENANCE),
            order_by="dept_code", engine_args="received_at", comment="实施部门",
        )),
        CreateTable(Table(
            "items",
            (
                C("item_code", "String"),
                C("item_name", "String"),
                C("dept_code", LC),
                C("item_type", LC, comment="行政许可, 公共服务, …"),
                C("legal_limit_days", "UInt16", comment="法定办结时限 (working days; 0 = none)"),
                C("promised_limit_days", "UInt16", comment="承诺办结时限 (working days; 0 = immediate)"),
                C("online_depth", "UInt8", comment="网上办理深度 1-4"),
                C("max_trips", "UInt8", comment="declared maximum on-site trips"),
                C("valid_from", "Date"),
                *_PROVENANCE,
            ),
            order_by="(item_code, valid_from)", engine_args="received_at",
            comment="事项目录: a later valid_from supersedes; a resent version replaces the same version",
        )),
        CreateTable(Table(
            "calendar_overrides",
            (
                C("locality_code", "String", "''", "region code the override applies to ('' = everywhere)"),
                C("day", "Date"),
                C("is_working", "Bool"),
                C("note", "String", "''"),
                C("received_at", TS, "now64(3)"),
            ),
            order_by="(locality_code, day)", engine_args="received_at",
            comment="local closures or extra working days on top of the official calendar",
        )),
        CreateTable(Table(
            "case_events",
            (
                C("event_id", "String"),
                C("case_id", "String", comment="办件编号"),
                C("event_type", LC),
                C("event_time", TS),
                C("item_code", LC),
                C("dept_code", LC),
                C("region_code", LC),
                C("channel", LC, "''", "submission channel, on submitted"),
                C("onsite", "Bool", "false", "the applicant had to be present (a trip)"),
                C("result", LC, "''", "approved / denied, on completed"),
                C("staff_id", "String", "''"),
                C("applicant_type", LC, "''"),
                C("applicant_key", "String", "''", "keyed pseudonym of the applicant"),
                C("applicant_name_masked", "String", "''"),
                C("applicant_id_masked", "String", "''"),
                C("applicant_phone_masked", "String", "''"),
                C("item_known", "Bool", "true", "false when item_code was not in the catalogue at ingest"),
                *_PROVENANCE,
            ),
            order_by="(case_id, event_id)", partition_by="toYYYYMM(event_time)", shard_key=_REGION_SHARD,
            comment="办件生命周期事件; one row per event_id",
        )),
        CreateTable(Table(
            "ratings",
            (
                C("rating_id", "String"),
                C("case_id", "String", "''"),
                C("item_code", LC),
                C("dept_code", LC),
                C("region_code", LC),
                C("staff_id", "String", "''"),
                C("channel", LC),
                C("level", "UInt8", comment="5 非常满意 … 1 非常不满意"),
                C("stage", LC, "''"),
                C("tags", f"Array({LC})", "[]"),
                C("comment", "String", "''"),
                C("rated_at", TS),
                C("real_name", "Bool", "false"),
                C("default_rating", "Bool", "false"),
                C("rater_key", "String", "''", "keyed pseudonym of the rater"),
                C("rater_name_masked", "String", "''"),
                C("rater_id_masked", "String", "''"),
                C("rater_phone_masked", "String", "''"),
                C("item_known", "Bool", "true"),
                *_PROVENANCE,
            ),
            order_by="(region_code, dept_code, rating_id)", partition_by="toYYYYMM(rated_at)",
            shard_key=_REGION_SHARD, comment="评价; one row per rating_id",
        )),
        CreateTable(Table(
            "followups",
            (
                C("followup_id", "String"),
                C("rating_id", "String"),
                C("action", LC),
                C("action_time", TS),
                C("actor", "String"),
                C("reason_category", LC, "''"),
                C("note", "String", "''"),
                *_PROVENANCE,
            ),
            order_by="(rating_id, followup_id)", partition_by="toYYYYMM(action_time)",
            shard_key="cityHash64(rating_id)", comment="差评整改闭环 actions, append-only",
        )),
        CreateTable(Table(
            "quarantine",
            (
                C("quarantine_id", "UUID"),
                C("received_at", TS),
                C("source", "String"),
                C("position", "String", comment="line, row or batch index within the source"),
                C("kind", LC, comment="record kind, '' if unreadable"),
                C("record_id", "String", "''"),
                C("reason", LC, comment="machine-readable rule that failed"),
                C("detail", "String", "''", "human-readable explanation"),
                C("raw", "String", comment="the record exactly as received"),
                C("status", LC, "'open'", "open / replayed"),
                C("updated_at", TS, "now64(3)"),
            ),
            order_by="quarantine_id", partition_by="toYYYYMM(received_at)", engine_args="updated_at",
            shard_key="cityHash64(quarantine_id)", comment="records that broke an interchange rule",
        )),
    )),
    Migration(2, "ingest bookkeeping: idempotency ledger and stream checkpoints", (
        CreateTable(Table(
            "received_ids",
            (
                C("kind", LC),
                C("record_id", "String"),
                C("content_hash", "UInt64", comment="hash of the record's canonical content"),
                C("received_at", TS, "now64(3)"),
            ),
            order_by="(kind, record_id)", shard_key="cityHash64(record_id)",
            comment="every record id ever accepted, for idempotency and conflict detection",
        )),
        CreateTable(Table(
            "ingest_checkpoints",
            (
                C("stream", "String"),
                C("file_id", "String", "''", "device:inode of the followed file"),
                C("position", "UInt64", comment="byte offset committed"),
                C("updated_at", TS, "now64(3)"),
            ),
            order_by="stream", engine_args="updated_at",
            comment="offsets of followed streams, written only after their batch is stored",
        )),
        AddColumns("quarantine", (
            C("replayed_at", f"Nullable({TS})", comment="when a replay accepted the record"),
        ), after="status"),
    )),
]

_NULLABLE_RATE = "Nullable(Float64)"

MIGRATIONS.append(Migration(3, "derived tables of the metrics engine: case facts, group metrics, runs", (
    CreateTable(Table(
        "case_facts",
        (
            C("case_id", "String"),
            C("item_code", LC), C("dept_code", LC), C("region_code", LC),
            C("channel", LC), C("online", "Bool"), C("trips", "UInt32"),
            C("state", LC, comment="submitted / accepted / completed / rejected / withdrawn"),
            C("submitted_at", f"Nullable({TS})"), C("accepted_at", f"Nullable({TS})"),
            C("terminal_at", f"Nullable({TS})"), C("completed_at", f"Nullable({TS})"),
            C("result", LC, "''"),
            C("item_known", "Bool"),
            C("promised_limit_days", "Nullable(Int32)"),
            C("acceptance_date", "Nullable(Date)"),
            C("deadline", "Nullable(Date)", comment="null while an open clock stop applies or the limit is unknown"),
            C("completion_date", "Nullable(Date)"),
            C("on_time", "Nullable(Bool)"), C("overdue_days", "Nullable(Int32)"),
            C("net_working_days", "Nullable(Int32)"), C("stopped_days", "Nullable(Int32)"),
            C("same_day", "Nullable(Bool)"), C("clock_stopped", "Bool"),
            C("rating_count", "UInt32", "0", "counted ratings of the case"),
            C("version", "UInt64", comment="run that computed this row"),
            C("computed_at", TS, "now64(3)"),
        ),
        order_by="case_id", engine_args="version", shard_key=_REGION_SHARD,
        comment="one row per case (latest version wins), derived from case_events by the DOMAIN rules",
    )),
    CreateTable(Table(
        "group_metrics",
        (
            C("period", "String"), C("grouping", LC), C("group_code", "String"), C("peer_group", "String", "''"),
            *[C(name, "Int64", "0") for name in (
                "cases_completed", "on_time_n", "overdue_completed", "net_days_sum", "net_days_n", "same_day_n",
                "zero_trip_n", "max_one_trip_n", "online_n", "rated_n", "ratings", "good_n", "bad_count",
                "bad_rectified_n", "bad_rectified_on_time_n", "real_name_bad_n", "real_name_bad_revisited_n",
                "items", "depth3plus_items", "immediate_items", "zero_trip_items", "promised_sum", "legal_sum")],
            *[C(name, _NULLABLE_RATE) for name in (
                "on_time_rate", "avg_net_working_days", "same_day_rate", "zero_trip_rate", "max_one_trip_rate",
                "online_rate", "good_rate", "bad_rate", "rating_coverage", "bad_rectified_rate",
                "bad_rectified_on_time_rate", "revisit_rate", "depth3plus_item_rate", "immediate_item_rate",
                "zero_trip_item_rate", "limit_compression")],
            C("composite_score", _NULLABLE_RATE),
            C("contributions", "String", "'{}'", "JSON object indicator -> points; they sum to the score"),
            C("rank", "Nullable(Int32)"), C("peers", "Int32", "0"),
            C("bottom_two", "Bool", "false"), C("bottom_two_consecutive", "Bool", "false"),
            C("run_id", "UInt64"),
            C("computed_at", TS, "now64(3)"),
        ),
        order_by="(period, grouping, group_code)", engine_args="run_id",
        comment="indicators, score and rank per period and group; read through metric_runs (current run)",
    )),
    CreateTable(Table(
        "metric_runs",
        (
            C("period", "String"), C("grouping", LC), C("run_id", "UInt64"),
            C("watermark", TS), C("computed_at", TS, "now64(3)"),
        ),
        order_by="(period, grouping)", engine_args="run_id",
        comment="the current run of each (period, grouping) in group_metrics",
    )),
    CreateTable(Table(
        "metrics_state",
        (C("key", "String"), C("value", "String"), C("updated_at", TS, "now64(3)")),
        order_by="key", engine_args="updated_at",
        comment="watermarks of the incremental metrics job",
    )),
)))

MIGRATIONS.append(Migration(4, "ranking eligibility, rectification due-ness, inconsistent cases", (
    AddColumns("case_facts", (
        C("inconsistent", "Bool", "false",
          "its events contradict each other (completion/acceptance before submission, completion before acceptance)"),
    ), after="clock_stopped"),
    AddColumns("group_metrics", (
        *[C(name, "Int64", "0") for name in (
            "inconsistent_cases", "bad_due", "bad_overdue_unrectified", "bad_in_progress", "bad_assessed_n",
            "real_name_bad_assessed_n")],
        *[C(name, _NULLABLE_RATE) for name in (
            "bad_rectified_due_rate", "bad_rectified_on_time_due_rate", "revisit_due_rate")],
        C("rank_status", LC, "''", "ranked / small_sample (样本不足) / no_data"),
    ), after="legal_sum"),
)))

MIGRATIONS.append(Migration(5, "authenticated ingest: push tokens, reference-data history", (
    CreateTable(Table(
        "ingest_tokens",
        (
            C("name", "String", comment="the platform's name for its token (hcp tokens issue NAME)"),
            C("token_hash", "String", comment="SHA-256 (hex) of the token; the token itself is never stored"),
            C("kinds", "Array(String)", comment="record kinds the token may write"),
            C("region_code", "String", "''", "root of the region subtree it may write ('' = every region)"),
            C("status", LC, "'active'", "active / revoked"),
            C("issued_at", TS),
            C("revoked_at", f"Nullable({TS})"),
            C("note", "String", "''"),
            C("updated_at", TS, "now64(3)"),
        ),
        order_by="name", engine_args="updated_at",
        comment="credentials of the HTTP push endpoint (ingest.tokens); the latest row of a name holds",
    )),
    CreateTable(Table(
        "reference_changes",
        (
            C("change_id", "String", comment="digest of the change and where it came from (a re-read counts once)"),
            C("kind", LC, comment="region / department / item"),
            C("record_id", "String", comment="region_code, dept_code or item_code@valid_from"),
            C("action", LC, comment="created / changed"),
            C("before", "String", "''", "the stored record before, as JSON ('' when created)"),
            C("after", "String", comment="the record after, as JSON"),
            C("before_source", "String", "''", "source of the version that was replaced"),
            C("actor", "String", comment="token:<name> for a push, operator:<user> for local ingest"),
            C("source", "String", comment="file, stream or endpoint of the new version"),
            C("position", "String", "''"),
            C("changed_at", TS, "now64(3)"),
        ),
        order_by="(kind, record_id, change_id)",
        comment="append-only history of reference data (ingest.history): who changed what, when, before and after",
    )),
)))

MIGRATIONS.append(Migration(6, "supervision urges (督办): an office urges a department, append-only", (
    CreateTable(Table(
        "urges",
        (
            C("urge_id", "String", comment="ug- + a UUID, or the id a re-send repeats (stored once)"),
            C("target", LC, comment="case (a red or yellow case) / step (an overdue step of a bad rating's loop)"),
            C("case_id", "String", "''"),
            C("rating_id", "String", "''", "the bad rating, for a step urge ('' for a case urge)"),
            C("step", LC, "''", "the overdue loop step urged (verify, rectify, feedback, revisit); '' for a case"),
            C("flag", LC, "''", "red / yellow: the case's card when urged; '' for a step"),
            C("dept_code", LC, comment="the department urged (the case's or the rating's)"),
            C("region_code", LC, comment="the case's or the rating's region (scopes the urge like the target)"),
            C("urged_by", "String", comment="the user name of who urged"),
            C("urged_by_office", "String", "''", "the urging office's name"),
            C("office_code", "String", "''", "the urging office's region code ('' = the whole province)"),
            C("note", "String", comment="what the office asks (required; ID- and phone-like digits masked)"),
            C("urged_at", TS),
            C("source", LC, "''", "dashboard / cli"),
            C("received_at", TS, "now64(3)"),
        ),
        order_by="urge_id", shard_key=_REGION_SHARD,
        comment="督办: who urged which department about what, when; append-only (never updated), one row per urge_id",
    )),
)))

MIGRATIONS.append(Migration(7, "the base of the on-time rate: completed cases that can be timed", (
    AddColumns("group_metrics", (
        C("timed_n", "Int64", "0",
          "completed cases with a deadline (their item in the catalogue): the base of on_time_rate"),
    ), after="cases_completed"),
)))

MIGRATIONS.append(Migration(8, "the overdue rate (超期办结率) of each group", (
    AddColumns("group_metrics", (
        # A row stored before this migration reads its rate from its own counts.
        C("overdue_rate", _NULLABLE_RATE, "if(timed_n > 0, overdue_completed / timed_n, NULL)",
          "overdue_completed ÷ timed_n (1 − on_time_rate)"),
    ), after="on_time_rate"),
)))

LATEST_VERSION = max(m.version for m in MIGRATIONS)


def current_tables():
    """The schema as it stands at the latest version."""
    return fold(MIGRATIONS)


@dataclass
class MigrationReport:
    before: int
    after: int
    applied: list[int]


def schema_version(wh: Warehouse) -> int:
    """The warehouse's schema version (0 if it was never initialised)."""
    if not wh.table_exists("schema_migrations"):
        return 0
    return int(wh.query_value("SELECT max(version) FROM schema_migrations") or 0)


def migrate(wh: Warehouse, *, target: int | None = None, cluster: str | None = None) -> MigrationReport:
    """Apply every migration above the warehouse's version, up to ``target`` (default: latest)."""
    target = LATEST_VERSION if target is None else target
    before = schema_version(wh)
    if before > LATEST_VERSION:
        raise WarehouseError(
            f"the warehouse schema is version {before}, newer than this hcp ({LATEST_VERSION}); upgrade hcp"
        )
    applied = []
    for migration in sorted(MIGRATIONS, key=lambda m: m.version):
        if migration.version <= before or migration.version > target:
            continue
        tables = fold(MIGRATIONS, up_to=migration.version - 1)
        for op in migration.operations:
            for statement in operation_statements(op, tables, cluster):
                wh.command(statement)
            tables = apply_operation(tables, op)
        wh.command(
            "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
            {"v": migration.version, "n": migration.name},
        )
        applied.append(migration.version)
    return MigrationReport(before=before, after=schema_version(wh) if applied else before, applied=applied)


def ensure_schema(wh: Warehouse) -> MigrationReport:
    """Bring the warehouse to the latest schema (a no-op when it is current)."""
    return migrate(wh)
