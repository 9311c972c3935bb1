"""The interchange rules of INTERCHANGE.md as pure Polars expressions.

:func:`validate` takes the rows of one record kind (as read: text, or the types a Parquet file carries)
and returns the typed values of the rows that pass plus, for the others, the reason code of the first
rule they break and a human-readable detail that lists every broken rule. No I/O, no per-row Python.

Reason codes (documented in docs/ingest.md): ``not_json``, ``missing_field:kind``, ``unknown_kind``,
``missing_field:<field>``, ``wrong_type:<field>``, ``bad_time`` (``event_time``, ``rated_at``,
``action_time``), ``bad_date`` (``valid_from``), ``bad_region_code``, ``bad_parent_code``,
``bad_event_type``, ``bad_channel``, ``bad_result``, ``bad_applicant_type``, ``level_out_of_range``,
``bad_stage``, ``bad_action``, ``out_of_range:<field>`` (item numbers), ``promised_exceeds_legal``,
``unknown_item`` (only with ``--unknown-items quarantine``) and ``duplicate_id_conflict`` (the loader).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hcp.domain import (
    APPLICANT_TYPES,
    CASE_CHANNELS,
    COMPLETION_RESULTS,
    EVENT_TYPES,
    FOLLOWUP_ACTIONS,
    RATING_CHANNELS,
    RATING_STAGES,
)
from hcp.settings import TIMEZONE
from ingest.fields import PII_OBJECTS

TS = pl.Datetime("ms", TIMEZONE)
_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")
_OFFSET = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


@dataclass
class Rule:
    """One interchange rule: the reason code, when it is broken, and what to tell a person."""

    code: str
    broken: pl.Expr
    detail: pl.Expr | str


@dataclass
class Checked:
    typed: pl.DataFrame  # one row per input row, typed values
    reason: pl.Series  # first broken rule's code (null when the row passes)
    detail: pl.Series


# Typed readings of one column, whatever the source type -----------------------------------------


class Reader:
    """Typed expressions over a frame's columns (absent columns read as null)."""

    def __init__(self, frame: pl.DataFrame):
        self.schema = frame.schema

    def has(self, name: str) -> bool:
        return name in self.schema and self.schema[name] != pl.Null

    def dtype(self, name: str):
        return self.schema.get(name, pl.Null)

    def text(self, name: str) -> pl.Expr:
        """Text with surrounding blanks removed; empty text is null (a missing value)."""
        if not self.has(name):
            return pl.lit(None, dtype=pl.String)
        dtype = self.dtype(name)
        col = pl.col(name)
        if dtype == pl.String:
            value = col.str.strip_chars()
        elif dtype == pl.Boolean:
            value = pl.when(col).then(pl.lit("true")).when(col.not_()).then(pl.lit("false"))
        elif isinstance(dtype, pl.Datetime):
            value = col.dt.to_string("%Y-%m-%dT%H:%M:%S%.3f%:z" if dtype.time_zone else "%Y-%m-%dT%H:%M:%S%.3f")
        elif dtype == pl.Date:
            value = col.dt.to_string("%Y-%m-%d")
        elif dtype.is_numeric():
            value = col.cast(pl.String)
        else:
            value = pl.lit(None, dtype=pl.String)  # nested where text was expected: see nested_where_text
        return pl.when(value != "").then(value)

    def nested_where_text(self, name: str) -> pl.Expr:
        """True where a scalar was expected but a list/object came (Parquet only; JSON gives text)."""
        dtype = self.dtype(name)
        if isinstance(dtype, (pl.List, pl.Struct, pl.Array)):
            return pl.col(name).is_not_null()
        return pl.lit(False)

    def boolean(self, name: str) -> tuple[pl.Expr, pl.Expr]:
        """(value, wrong type): true/false, 1/0, yes/no; missing is null."""
        dtype = self.dtype(name)
        if not self.has(name):
            return pl.lit(None, dtype=pl.Boolean), pl.lit(False)
        if dtype == pl.Boolean:
            return pl.col(name), pl.lit(False)
        if dtype.is_integer():
            col = pl.col(name)
            value = pl.when(col == 1).then(True).when(col == 0).then(False)
            return value, col.is_not_null() & value.is_null()
        text = self.text(name).str.to_lowercase()
        value = pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False)
        return value, text.is_not_null() & value.is_null()

    def integer(self, name: str) -> tuple[pl.Expr, pl.Expr]:
        """(value, wrong type): an integral number (``5``, ``"5"``, ``5.0``); missing is null."""
        if not self.has(name):
            return pl.lit(None, dtype=pl.Int64), pl.lit(False)
        dtype = self.dtype(name)
        if dtype.is_integer():
            return pl.col(name).cast(pl.Int64), pl.lit(False)
        if dtype.is_float():
            as_float = pl.col(name)
        elif dtype == pl.String:
            as_float = self.text(name).cast(pl.Float64, strict=False)
        else:
            return pl.lit(None, dtype=pl.Int64), pl.col(name).is_not_null()
        ok = as_float.is_finite() & (as_float == as_float.floor()) & (as_float.abs() < 1e15)
        value = pl.when(ok).then(as_float.cast(pl.Int64, strict=False))
        present = self.text(name).is_not_null() if dtype == pl.String else pl.col(name).is_not_null()
        return value, present & value.is_null()

    def timestamp(self, name: str) -> tuple[pl.Expr, pl.Expr]:
        """(value in Asia/Shanghai, bad): ISO 8601 with offset, or local Shanghai time without one."""
        if not self.has(name):
            return pl.lit(None, dtype=TS), pl.lit(False)
        dtype = self.dtype(name)
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            value = (col.dt.convert_time_zone(TIMEZONE) if dtype.time_zone
                     else col.dt.replace_time_zone(TIMEZONE)).dt.cast_time_unit("ms")
            return value, pl.lit(False)
        if dtype == pl.Date:
            return col.cast(pl.Datetime("ms")).dt.replace_time_zone(TIMEZONE), pl.lit(False)
        text = self.text(name)
        # One parse: a time without offset is Shanghai local time, i.e. +08:00 (no DST since 1991).
        norm = text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        has_offset = norm.str.contains(_OFFSET)
        norm = pl.when(has_offset).then(norm.str.replace(r"[Zz]$", "+00:00")).otherwise(norm + pl.lit("+08:00"))
        value = (norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="ms")
                 .dt.convert_time_zone(TIMEZONE))
        return value, text.is_not_null() & value.is_null()

    def date(self, name: str) -> tuple[pl.Expr, pl.Expr]:
        if not self.has(name):
            return pl.lit(None, dtype=pl.Date), pl.lit(False)
        dtype = self.dtype(name)
        if dtype == pl.Date:
            return pl.col(name), pl.lit(False)
        if isinstance(dtype, pl.Datetime):
            ts, _ = self.timestamp(name)
            return ts.dt.date(), pl.lit(False)
        text = self.text(name)
        value = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        tail_ok = (text.str.len_chars() == 10) | text.str.slice(10, 1).is_in(["T", " "])
        value = pl.when(tail_ok).then(value)
        return value, text.is_not_null() & value.is_null()

    def string_list(self, name: str) -> tuple[pl.Expr, pl.Expr]:
        """(list of strings, wrong type): a list, or JSON text of one (CSV/Excel cells)."""
        if not self.has(name):
            return pl.lit([], dtype=pl.List(pl.String)), pl.lit(False)
        dtype = self.dtype(name)
        if isinstance(dtype, pl.List):
            inner = dtype.inner
            if inner == pl.String or inner.is_numeric() or inner == pl.Boolean:
                return pl.col(name).cast(pl.List(pl.String)).fill_null([]), pl.lit(False)
            return pl.lit([], dtype=pl.List(pl.String)), pl.col(name).is_not_null()
        if dtype != pl.String:
            return pl.lit([], dtype=pl.List(pl.String)), pl.col(name).is_not_null()
        text = self.text(name)
        # JSON text of a list of scalars. Validity is checked first so decoding never sees bad text.
        looks = text.str.contains(r'^\[\s*(?:(?:"(?:[^"\\]|\\.)*"|-?[\d.eE+-]+|true|false|null)\s*(?:,\s*(?:"(?:[^"\\]|\\.)*"|-?[\d.eE+-]+|true|false|null)\s*)*)?\]$')
        decoded = pl.when(looks).then(text).str.json_decode(pl.List(pl.String))
        return decoded.fill_null([]), text.is_not_null() & looks.not_()

    def person(self, name: str) -> tuple[dict[str, pl.Expr], pl.Expr]:
        """(sub-field text expressions, wrong type) of ``applicant``/``rater``: an object or its JSON text."""
        fields = PII_OBJECTS[name]
        if not self.has(name):
            return {f: pl.lit(None, dtype=pl.String) for f in fields}, pl.lit(False)
        dtype = self.dtype(name)
        if isinstance(dtype, pl.Struct):
            present = {f.name for f in dtype.fields}
            out = {}
            for f in fields:
                if f in present:
                    v = pl.col(name).struct.field(f).cast(pl.String).str.strip_chars()
                    out[f] = pl.when(v != "").then(v)
                else:
                    out[f] = pl.lit(None, dtype=pl.String)
            return out, pl.lit(False)
        if dtype != pl.String:
            return {f: pl.lit(None, dtype=pl.String) for f in fields}, pl.col(name).is_not_null()
        text = self.text(name)
        looks = text.str.starts_with("{") & text.str.json_path_match("$").is_not_null()
        out = {}
        for f in fields:
            v = pl.when(looks).then(text).str.json_path_match(f"$.{f}").str.strip_chars()
            out[f] = pl.when(v != "").then(v)
        return out, text.is_not_null() & looks.not_()


# Rules per kind ----------------------------------------------------------------------------------


def _one_of(values) -> str:
    return ", ".join(values)


def _required(r: Reader, names: list[str]) -> list[Rule]:
    rules = []
    for name in names:
        rules.append(Rule(f"missing_field:{name}", r.text(name).is_null() & r.nested_where_text(name).not_(),
                          f"{name} is required"))
    return rules


def _wrong_text(r: Reader, names: list[str]) -> list[Rule]:
    return [Rule(f"wrong_type:{n}", r.nested_where_text(n), f"{n} must be text") for n in names]


def _region(r: Reader, name: str, code: str = "bad_region_code") -> Rule:
    t = r.text(name)
    return Rule(code, t.is_not_null() & t.str.contains(r"^\d{12}$").not_(),
                pl.format(f"{name} must be 12 digits, got '{{}}'", t.str.slice(0, 40)))


def _enum(r: Reader, name: str, code: str, allowed) -> Rule:
    t = r.text(name)
    return Rule(code, t.is_not_null() & t.is_in(list(allowed)).not_(),
                pl.format(f"{name} '{{}}' is not one of {_one_of(allowed)}", t.str.slice(0, 40)))


def _time_rule(r: Reader, name: str) -> tuple[pl.Expr, Rule]:
    value, bad = r.timestamp(name)
    return value, Rule("bad_time", bad, pl.format(
        f"{name} '{{}}' is not an ISO 8601 time (e.g. 2025-10-09T09:30:00+08:00)", r.text(name).str.slice(0, 40)))


def _bool_rule(r: Reader, name: str) -> tuple[pl.Expr, Rule]:
    value, bad = r.boolean(name)
    return value.fill_null(False), Rule(f"wrong_type:{name}", bad, f"{name} must be true or false")


def _person_rules(r: Reader, name: str) -> tuple[dict[str, pl.Expr], list[Rule]]:
    sub, bad = r.person(name)
    rules = [Rule(f"wrong_type:{name}", bad, f"{name} must be an object")]
    if "type" in sub:
        rules.append(Rule("bad_applicant_type", sub["type"].is_not_null() & sub["type"].is_in(list(APPLICANT_TYPES)).not_(),
                          f"{name}.type must be one of {_one_of(APPLICANT_TYPES)}"))
    return sub, rules


def check_case_event(r: Reader) -> tuple[dict[str, pl.Expr], list[Rule]]:
    required = ["event_id", "case_id", "event_type", "event_time", "item_code", "dept_code", "region_code"]
    event_time, time_rule = _time_rule(r, "event_time")
    onsite, onsite_rule = _bool_rule(r, "onsite")
    person, person_rules = _person_rules(r, "applicant")
    event_type, channel, result = r.text("event_type"), r.text("channel"), r.text("result")
    rules = [
        *_required(r, required), *_wrong_text(r, required + ["channel", "result", "staff_id"]),
        _enum(r, "event_type", "bad_event_type", EVENT_TYPES), time_rule, _region(r, "region_code"),
        Rule("missing_field:channel", (event_type == "submitted") & channel.is_null(), "channel is required on submitted"),
        _enum(r, "channel", "bad_channel", CASE_CHANNELS),
        Rule("missing_field:result", (event_type == "completed") & result.is_null(), "result is required on completed"),
        _enum(r, "result", "bad_result", COMPLETION_RESULTS),
        onsite_rule, *person_rules,
    ]
    typed = {
        "event_id": r.text("event_id"), "case_id": r.text("case_id"), "event_type": event_type,
        "event_time": event_time, "item_code": r.text("item_code"), "dept_code": r.text("dept_code"),
        "region_code": r.text("region_code"), "channel": channel.fill_null(""), "onsite": onsite,
        "result": result.fill_null(""), "staff_id": r.text("staff_id").fill_null(""),
        **{f"applicant.{k}": v for k, v in person.items()},
    }
    return typed, rules


def check_rating(r: Reader) -> tuple[dict[str, pl.Expr], list[Rule]]:
    required = ["rating_id", "item_code", "dept_code", "region_code", "channel", "level", "rated_at"]
    rated_at, time_rule = _time_rule(r, "rated_at")
    level, level_bad = r.integer("level")
    tags, tags_bad = r.string_list("tags")
    real_name, real_rule = _bool_rule(r, "real_name")
    default_rating, default_rule = _bool_rule(r, "default_rating")
    person, person_rules = _person_rules(r, "rater")
    rules = [
        *_required(r, required),
        *_wrong_text(r, ["rating_id", "case_id", "item_code", "dept_code", "region_code", "staff_id", "channel",
                         "stage", "comment"]),
        _enum(r, "channel", "bad_channel", RATING_CHANNELS), _region(r, "region_code"),
        Rule("wrong_type:level", level_bad, "level must be an integer 1-5"),
        Rule("level_out_of_range", level.is_not_null() & ((level < 1) | (level > 5)),
             pl.format("level must be 1-5, got {}", level)),
        _enum(r, "stage", "bad_stage", RATING_STAGES),
        Rule("wrong_type:tags", tags_bad, "tags must be a list of strings"),
        time_rule, real_rule, default_rule, *person_rules,
    ]
    typed = {
        "rating_id": r.text("rating_id"), "case_id": r.text("case_id").fill_null(""),
        "item_code": r.text("item_code"), "dept_code": r.text("dept_code"), "region_code": r.text("region_code"),
        "staff_id": r.text("staff_id").fill_null(""), "channel": r.text("channel"), "level": level,
        "stage": r.text("stage").fill_null(""), "tags": tags, "comment": r.text("comment").fill_null(""),
        "rated_at": rated_at, "real_name": real_name, "default_rating": default_rating,
        **{f"rater.{k}": v for k, v in person.items()},
    }
    return typed, rules


def check_followup(r: Reader) -> tuple[dict[str, pl.Expr], list[Rule]]:
    required = ["followup_id", "rating_id", "action", "action_time", "actor"]
    action_time, time_rule = _time_rule(r, "action_time")
    rules = [
        *_required(r, required), *_wrong_text(r, required + ["reason_category", "note"]),
        _enum(r, "action", "bad_action", FOLLOWUP_ACTIONS), time_rule,
    ]
    typed = {
        "followup_id": r.text("followup_id"), "rating_id": r.text("rating_id"), "action": r.text("action"),
        "action_time": action_time, "actor": r.text("actor"),
        "reason_category": r.text("reason_category").fill_null(""), "note": r.text("note").fill_null(""),
    }
    return typed, rules


def check_item(r: Reader) -> tuple[dict[str, pl.Expr], list[Rule]]:
    required = ["item_code", "item_name", "dept_code", "legal_limit_days", "promised_limit_days",
                "online_depth", "max_trips", "valid_from"]
    rules = [*_required(r, required), *_wrong_text(r, ["item_code", "item_name", "dept_code", "item_type"])]
    typed: dict[str, pl.Expr] = {
        "item_code": r.text("item_code"), "item_name": r.text("item_name"), "dept_code": r.text("dept_code"),
        "item_type": r.text("item_type").fill_null(""),
    }
    bounds = {"legal_limit_days": (0, 65535), "promised_limit_days": (0, 65535), "online_depth": (1, 4),
              "max_trips": (0, 255)}
    for name, (low, high) in bounds.items():
        value, bad = r.integer(name)
        typed[name] = value
        rules.append(Rule(f"wrong_type:{name}", bad, f"{name} must be an integer"))
        rules.append(Rule(f"out_of_range:{name}", value.is_not_null() & ((value < low) | (value > high)),
                          pl.format(f"{name} must be {low}-{high}, got {{}}", value)))
    legal, promised = typed["legal_limit_days"], typed["promised_limit_days"]
    rules.append(Rule("promised_exceeds_legal", (legal > 0) & (promised > legal),
                      pl.format("promised_limit_days {} exceeds legal_limit_days {}", promised, legal)))
    valid_from, bad = r.date("valid_from")
    typed["valid_from"] = valid_from
    rules.append(Rule("bad_date", bad, pl.format("valid_from '{}' is not a date (YYYY-MM-DD)",
                                                 r.text("valid_from").str.slice(0, 40))))
    return typed, rules


def check_department(r: Reader) -> tuple[dict[str, pl.Expr], list[Rule]]:
    required = ["dept_code", "dept_name", "region_code"]
    rules = [*_required(r, required), *_wrong_text(r, required), _region(r, "region_code")]
    return {n: r.text(n) for n in required}, rules


def check_region(r: Reader) -> tuple[dict[str, pl.Expr], list[Rule]]:
    required = ["region_code", "region_name"]
    rules = [*_required(r, required), *_wrong_text(r, required + ["parent_code"]), _region(r, "region_code"),
             _region(r, "parent_code", "bad_parent_code")]
    return {"region_code": r.text("region_code"), "region_name": r.text("region_name"),
            "parent_code": r.text("parent_code").fill_null("")}, rules


CHECKS = {
    "case_event": check_case_event, "rating": check_rating, "followup": check_followup,
    "item": check_item, "department": check_department, "region": check_region,
}


def validate(kind: str, frame: pl.DataFrame, extra_rules: list[Rule] | None = None) -> Checked:
    """Apply ``kind``'s rules to ``frame`` (all rows of that kind).

    One lazy pass computes the typed values and every rule's flag (common sub-expressions, e.g. the
    cleaned text of a field, are evaluated once); details are formatted only for the rows that fail.
    """
    r = Reader(frame)
    typed_exprs, rules = CHECKS[kind](r)
    rules = rules + list(extra_rules or [])
    flags = {f"_r{i}": rule.broken.fill_null(False) for i, rule in enumerate(rules)}
    both = frame.lazy().select(**typed_exprs, **flags).collect()
    typed = both.select(list(typed_exprs))
    flag_frame = both.select(list(flags))
    any_bad = flag_frame.select(pl.any_horizontal(pl.all())).to_series()
    reason = pl.Series("reason", [None] * frame.height, dtype=pl.String)
    detail = pl.Series("detail", [None] * frame.height, dtype=pl.String)
    if any_bad.any():
        idx = any_bad.arg_true()
        bad = frame.with_columns(flag_frame).filter(any_bad)
        out = bad.lazy().select(
            pl.coalesce([pl.when(pl.col(f"_r{i}")).then(pl.lit(rule.code)) for i, rule in enumerate(rules)])
            .alias("reason"),
            pl.concat_str([pl.when(pl.col(f"_r{i}")).then(
                (pl.lit(rule.detail) if isinstance(rule.detail, str) else rule.detail).fill_null(rule.code))
                for i, rule in enumerate(rules)], separator="; ", ignore_nulls=True).alias("detail"),
        ).collect()
        reason = reason.scatter(idx, out["reason"])
        detail = detail.scatter(idx, out["detail"])
    return Checked(typed=typed, reason=reason, detail=detail)
