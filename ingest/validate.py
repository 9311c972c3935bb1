"""The interchange rules of INTERCHANGE.md as pure Polars expressions.

:func:`validate` takes the rows of one record kind (as read: text, or the types a Parquet file carries)
and returns the typed values of the rows that pass plus, for the others, the reason code of the first
rule they break and a human-readable detail that lists every broken rule. No I/O, no per-row Python.

Reason codes (documented in docs/ingest.md): ``not_json``, ``missing_field:kind``, ``unknown_kind``,
``missing_field:<field>``, ``wrong_type:<field>``, ``bad_time`` (``event_time``, ``rated_at``,
``action_time``: not ISO 8601, or an impossible offset), ``bad_date`` (``valid_from``), ``bad_region_code``, ``bad_parent_code``,
``bad_event_type``, ``bad_channel``, ``bad_result``, ``bad_applicant_type``, ``level_out_of_range``,
``bad_stage``, ``bad_action``, ``out_of_range:<field>`` (item numbers), ``promised_exceeds_legal``,
``too_long:<field>`` (a text over its limit in :mod:`ingest.limits`: ids, codes, names, texts, the
``applicant``/``rater`` sub-fields as ``too_long:applicant.name``, ``tags``),
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
from hcp.frames import ENGINE  # Polars' in-memory engine for the validation's plans
from hcp.settings import TIMEZONE
from ingest.fields import PII_OBJECTS
from ingest.limits import MAX_LENGTH, MAX_PERSON_LENGTH, MAX_TAG_LENGTH, MAX_TAGS

TS = pl.Datetime("ms", TIMEZONE)
_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")
_BOOLEAN_TEXT = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
#: the widest offset a real clock has (UTC+14:00, Line Islands; UTC-12:00 is the other end): beyond ±14:00 is
#: impossible (DOMAIN.md: such a time is bad input and is quarantined)
MAX_OFFSET_MINUTES = 14 * 60


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


#: Below this many rows a frame's empty text is made null with a when/then, above it with a replace: the
#: replace costs less per row but ~0.5 ms more per column and call (its look-up table is built each time),
#: which for the small batches of an HTTP push is most of the validation (measured with Polars 2.1: 20
#: columns of 1,600 rows 12 ms against 2.4 ms; equal at 80,000 rows; at 500,000 the replace 1.5x cheaper).
REPLACE_FROM_ROWS = 100_000


def _empty_as_null(text: pl.Expr, rows: int) -> pl.Expr:
    """Empty text is a missing value (null). ``rows``: the frame's height, which picks the cheaper of two
    equal expressions (:data:`REPLACE_FROM_ROWS`)."""
    if rows >= REPLACE_FROM_ROWS:
        return text.replace("", None)
    return pl.when(text.str.len_bytes() > 0).then(text)


class Reader:
    """Typed expressions over a frame's columns (absent columns read as null)."""

    def __init__(self, frame: pl.DataFrame):
        self.schema = frame.schema
        self.rows = frame.height

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
        return _empty_as_null(value, self.rows)

    def nested_where_text(self, name: str) -> pl.Expr:
        """True where text was expected but a list/object/number/boolean came (typed Parquet columns)."""
        dtype = self.dtype(name)
        if isinstance(dtype, (pl.List, pl.Struct, pl.Array)) or dtype.is_numeric() or dtype == pl.Boolean:
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
        # One hash look-up per row (was: two membership tests and a when/then chain).
        value = text.replace_strict(_BOOLEAN_TEXT, default=None, return_dtype=pl.Boolean)
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
        """(value in Asia/Shanghai, bad) of a *typed* column (Parquet timestamps and dates; absent is null).

        Text times are parsed by :meth:`Spec.time` (ISO 8601 with an offset, or local Shanghai time).
        """
        dtype = self.dtype(name)
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            value = (col.dt.convert_time_zone(TIMEZONE) if dtype.time_zone
                     else col.dt.replace_time_zone(TIMEZONE)).dt.cast_time_unit("ms")
            return value, pl.lit(False)
        if dtype == pl.Date:
            return col.cast(pl.Datetime("ms")).dt.replace_time_zone(TIMEZONE), pl.lit(False)
        if not self.has(name):
            return pl.lit(None, dtype=TS), pl.lit(False)
        raise TypeError(f"{name}: {dtype} is not a typed time; Spec.time parses text")

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
                    out[f] = _empty_as_null(v, self.rows)
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
            out[f] = _empty_as_null(v, self.rows)
        return out, text.is_not_null() & looks.not_()


# Rules per kind ----------------------------------------------------------------------------------
#
# Two phases: a check function declares the typed columns (and helper flags, named ``_…``) computed from
# the frame as read, in one pass; its rules are then evaluated over those columns, so the work of
# cleaning text or parsing a time is done once per field.


class Spec:
    """Typed columns and rules of one kind, built field by field."""

    def __init__(self, r: Reader):
        self.r = r
        self.cols: dict[str, pl.Expr] = {}
        self.rules: list[Rule] = []
        #: intermediate columns computed before ``cols``, stage by stage (each stage may use the previous)
        self.stages: list[dict[str, pl.Expr]] = [{}, {}, {}, {}]

    def text(self, name: str, *, required: bool = False) -> pl.Expr:
        self.cols[name] = self.r.text(name)
        dtype = self.r.dtype(name)
        # Typed input (Parquet): a list, struct, number or boolean where the interchange says string.
        nested = isinstance(dtype, (pl.List, pl.Struct, pl.Array)) or dtype.is_numeric() or dtype == pl.Boolean
        if nested:
            self.cols[f"_nested_{name}"] = self.r.nested_where_text(name)
        if required:
            broken = pl.col(name).is_null() & (pl.col(f"_nested_{name}").not_() if nested else pl.lit(True))
            self.rules.append(Rule(f"missing_field:{name}", broken, f"{name} is required"))
        if nested:
            self.rules.append(Rule(f"wrong_type:{name}", pl.col(f"_nested_{name}"), f"{name} must be text"))
        if name in MAX_LENGTH:
            self.rules.append(too_long(name, pl.col(name), MAX_LENGTH[name]))
        return pl.col(name)

    def enum(self, name: str, code: str, allowed, *, required: bool = False) -> pl.Expr:
        col = self.text(name, required=required)
        self.rules.append(Rule(code, col.is_not_null() & col.is_in(list(allowed)).not_(),
                               fmt(f"{name} '{{}}' is not one of {_one_of(allowed)}", col.str.slice(0, 40))))
        return col

    def region(self, name: str, code: str = "bad_region_code", *, required: bool = False) -> pl.Expr:
        col = self.text(name, required=required)
        self.rules.append(Rule(code, col.is_not_null() & col.str.contains(r"^\d{12}$").not_(),
                               fmt(f"{name} must be 12 digits, got '{{}}'", col.str.slice(0, 40))))
        return col

    def _flagged(self, name: str, value: pl.Expr, bad: pl.Expr) -> pl.Expr:
        self.cols[name] = value
        self.cols[f"_bad_{name}"] = bad
        self.cols[f"_txt_{name}"] = self.r.text(name).str.slice(0, 40)
        return pl.col(name)

    def _parsed_rules(self, name: str, code: str, complaint: str, required: bool) -> None:
        """Rules of a parsed field: required (no text at all) and ``code`` (text that does not parse)."""
        if required:
            self.rules.append(Rule(f"missing_field:{name}", pl.col(f"_txt_{name}").is_null(), f"{name} is required"))
        self.rules.append(Rule(code, pl.col(f"_bad_{name}"),
                               fmt(f"{name} '{{}}' {complaint}", pl.col(f"_txt_{name}"))))

    def time(self, name: str, *, required: bool = False) -> pl.Expr:
        dtype = self.r.dtype(name)
        if isinstance(dtype, pl.Datetime) or dtype == pl.Date or not self.r.has(name):
            col = self._flagged(name, *self.r.timestamp(name))
        else:
            self._staged_time(name)
            col = pl.col(name)
        self._parsed_rules(name, "bad_time", "is not an ISO 8601 time (e.g. 2025-10-09T09:30:00+08:00)", required)
        if f"_badoff_{name}" in self.cols:
            self.rules.append(Rule("bad_time", pl.col(f"_badoff_{name}"), fmt(
                f"{name} '{{}}' has an impossible offset (beyond ±14:00, or minutes over 59)", pl.col(f"_txt_{name}"))))
        return col

    def _staged_time(self, name: str) -> None:
        """A time given as text (or a number: read as its text), in stages so each intermediate is
        computed once.

        ``YYYY-MM-DD[T ]hh:mm:ss`` is parsed with one exact format (fast), then the optional fraction
        and offset (``Z``, ``±hh``, ``±hhmm``, ``±hh:mm``; none = +08:00, Shanghai has had no DST since
        1991) are applied as integers — no per-row format guessing. An offset beyond ±14:00 or with
        minutes ≥ 60 (``+25:00``, ``+08:60``) is impossible: the time is bad (flag ``_badoff_<name>``, its
        own detail) rather than shifted.
        """
        t, local, rest, parts = (f"_t_{name}", f"_tl_{name}", f"_tr_{name}", f"_tp_{name}")
        self.stages[0][t] = self.r.text(name)
        text = pl.col(t)
        self.stages[1][local] = (text.str.slice(0, 10) + pl.lit("T") + text.str.slice(11, 8)).str.strptime(
            pl.Datetime("ms"), "%Y-%m-%dT%H:%M:%S", strict=False, exact=True, cache=False)
        self.stages[1][rest] = text.str.slice(19)
        self.stages[1][f"_ts_{name}"] = text.str.slice(10, 1).is_in(["T", " "])
        self.stages[2][parts] = pl.col(rest).str.extract_groups(
            r"^(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2})?)?$")
        self.stages[2][f"_tk_{name}"] = pl.col(rest).str.contains(r"^(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$")
        p = pl.col(parts)
        fraction = p.struct.field("1")
        millis = pl.when(fraction.is_not_null()).then((fraction + pl.lit("00")).str.slice(0, 3).cast(pl.Int64)).otherwise(0)
        sign = pl.when(p.struct.field("3") == "-").then(-1).otherwise(1)
        off_minutes = p.struct.field("5").cast(pl.Int64).fill_null(0)
        magnitude = p.struct.field("4").cast(pl.Int64) * 60 + off_minutes
        offset = pl.when(p.struct.field("2").is_not_null()).then(0).otherwise((magnitude * sign).fill_null(480))
        impossible = (magnitude > MAX_OFFSET_MINUTES) | (off_minutes >= 60)
        readable = pl.col(f"_ts_{name}") & pl.col(local).is_not_null() & pl.col(f"_tk_{name}")
        self.stages[3][f"_to_{name}"] = readable & impossible.fill_null(False)
        ok = readable & impossible.fill_null(False).not_()
        utc = pl.col(local) + pl.duration(milliseconds=millis) - pl.duration(minutes=offset)
        self.stages[3][name] = pl.when(ok).then(utc).dt.replace_time_zone("UTC").dt.convert_time_zone(TIMEZONE)
        self.cols[name] = pl.col(name)
        self.cols[f"_badoff_{name}"] = pl.col(f"_to_{name}")
        self.cols[f"_bad_{name}"] = text.is_not_null() & pl.col(name).is_null() & pl.col(f"_to_{name}").not_()
        self.cols[f"_txt_{name}"] = text.str.slice(0, 40)

    def date(self, name: str, *, required: bool = False) -> pl.Expr:
        col = self._flagged(name, *self.r.date(name))
        self._parsed_rules(name, "bad_date", "is not a date (YYYY-MM-DD)", required)
        return col

    def boolean(self, name: str) -> pl.Expr:
        value, bad = self.r.boolean(name)
        self.cols[name] = value.fill_null(False)
        self.cols[f"_bad_{name}"] = bad
        self.rules.append(Rule(f"wrong_type:{name}", pl.col(f"_bad_{name}"), f"{name} must be true or false"))
        return pl.col(name)

    def integer(self, name: str, low: int, high: int, *, required: bool = False, range_code: str | None = None) -> pl.Expr:
        col = self._flagged(name, *self.r.integer(name))
        if required:
            self.rules.append(Rule(f"missing_field:{name}", pl.col(f"_txt_{name}").is_null() & pl.col(f"_bad_{name}").not_(),
                                   f"{name} is required"))
        self.rules.append(Rule(f"wrong_type:{name}", pl.col(f"_bad_{name}"), f"{name} must be an integer"))
        self.rules.append(Rule(range_code or f"out_of_range:{name}", col.is_not_null() & ((col < low) | (col > high)),
                               fmt(f"{name} must be {low}-{high}, got {{}}", col)))
        return col

    def person(self, name: str) -> None:
        sub, bad = self.r.person(name)
        for field, expr in sub.items():
            self.cols[f"{name}.{field}"] = expr
        self.cols[f"_bad_{name}"] = bad
        self.rules.append(Rule(f"wrong_type:{name}", pl.col(f"_bad_{name}"), f"{name} must be an object"))
        for field in sub:
            self.rules.append(too_long(f"{name}.{field}", pl.col(f"{name}.{field}"), MAX_PERSON_LENGTH[field]))
        if "type" in sub:
            t = pl.col(f"{name}.type")
            self.rules.append(Rule("bad_applicant_type", t.is_not_null() & t.is_in(list(APPLICANT_TYPES)).not_(),
                                   f"{name}.type must be one of {_one_of(APPLICANT_TYPES)}"))

    def string_list(self, name: str) -> None:
        value, bad = self.r.string_list(name)
        self.cols[name] = value
        self.cols[f"_bad_{name}"] = bad
        self.rules.append(Rule(f"wrong_type:{name}", pl.col(f"_bad_{name}"), f"{name} must be a list of strings"))
        tags = pl.col(name)
        self.rules.append(Rule(
            f"too_long:{name}",
            (tags.list.len() > MAX_TAGS) | tags.list.eval(pl.element().str.len_chars() > MAX_TAG_LENGTH).list.any(),
            f"{name}: at most {MAX_TAGS} tags of at most {MAX_TAG_LENGTH} characters each"))




def values_of(frame: pl.DataFrame, expr: pl.Expr) -> pl.Series:
    """``expr`` over ``frame``, one value per row — also when ``expr`` is a literal (an absent column
    reads as null), which ``frame.select`` would give as a single row."""
    return frame.lazy().with_columns(expr.alias("__value")).select("__value").collect(engine=ENGINE).to_series()


def _broadcast_select(lazy: pl.LazyFrame, exprs: dict[str, pl.Expr]) -> pl.DataFrame:
    """``select(**exprs)`` with literals broadcast to the frame's height (every row gets a value)."""
    return lazy.with_columns(**exprs).select(list(exprs)).collect(engine=ENGINE)


def fmt(template: str, *values: pl.Expr) -> pl.Expr:
    """``template`` with each ``{}`` replaced by the next value (null if a value is null), like ``pl.format``.

    Built on ``pl.concat_str`` because ``pl.format`` panics in Polars 2.1 ("assertion failed: i <
    self.len()") on string columns of a filtered frame that came out of a lazy query — exactly the rows
    of a batch that fail a rule — which would stop the whole batch instead of quarantining its bad records.
    """
    pieces = template.split("{}")
    if len(pieces) != len(values) + 1:
        raise ValueError(f"{template!r} needs {len(pieces) - 1} values, got {len(values)}")
    parts: list[pl.Expr] = []
    for piece, value in zip(pieces, [*values, None]):
        if piece:
            parts.append(pl.lit(piece))
        if value is not None:
            parts.append(value.cast(pl.String))
    return pl.concat_str(parts)


def too_long(name: str, value: pl.Expr, limit: int) -> Rule:
    """``too_long:<name>``: the text has more than ``limit`` characters (:mod:`ingest.limits`)."""
    length = value.str.len_chars()
    return Rule(f"too_long:{name}", length > limit,
                fmt(f"{name} has {{}} characters; at most {limit} are accepted", length))


def _one_of(values) -> str:
    return ", ".join(values)


def check_case_event(s: Spec) -> None:
    for name in ("event_id", "case_id"):
        s.text(name, required=True)
    event_type = s.enum("event_type", "bad_event_type", EVENT_TYPES, required=True)
    s.time("event_time", required=True)
    s.text("item_code", required=True)
    s.text("dept_code", required=True)
    s.region("region_code", required=True)
    channel = s.enum("channel", "bad_channel", CASE_CHANNELS)
    s.rules.append(Rule("missing_field:channel", (event_type == "submitted") & channel.is_null(),
                        "channel is required on submitted"))
    result = s.enum("result", "bad_result", COMPLETION_RESULTS)
    s.rules.append(Rule("missing_field:result", (event_type == "completed") & result.is_null(),
                        "result is required on completed"))
    s.boolean("onsite")
    s.text("staff_id")
    s.person("applicant")


def check_rating(s: Spec) -> None:
    s.text("rating_id", required=True)
    s.text("case_id")
    s.text("item_code", required=True)
    s.text("dept_code", required=True)
    s.region("region_code", required=True)
    s.text("staff_id")
    s.enum("channel", "bad_channel", RATING_CHANNELS, required=True)
    s.integer("level", 1, 5, required=True, range_code="level_out_of_range")
    s.enum("stage", "bad_stage", RATING_STAGES)
    s.string_list("tags")
    s.text("comment")
    s.time("rated_at", required=True)
    s.boolean("real_name")
    s.boolean("default_rating")
    s.person("rater")


def check_followup(s: Spec) -> None:
    s.text("followup_id", required=True)
    s.text("rating_id", required=True)
    s.enum("action", "bad_action", FOLLOWUP_ACTIONS, required=True)
    s.time("action_time", required=True)
    s.text("actor", required=True)
    s.text("reason_category")
    s.text("note")


def check_item(s: Spec) -> None:
    s.text("item_code", required=True)
    s.text("item_name", required=True)
    s.text("dept_code", required=True)
    s.text("item_type")
    legal = s.integer("legal_limit_days", 0, 65535, required=True)
    promised = s.integer("promised_limit_days", 0, 65535, required=True)
    s.integer("online_depth", 1, 4, required=True)
    s.integer("max_trips", 0, 255, required=True)
    s.rules.append(Rule("promised_exceeds_legal", (legal > 0) & (promised > legal),
                        fmt("promised_limit_days {} exceeds legal_limit_days {}", promised, legal)))
    s.date("valid_from", required=True)


def check_department(s: Spec) -> None:
    s.text("dept_code", required=True)
    s.text("dept_name", required=True)
    s.region("region_code", required=True)


def check_region(s: Spec) -> None:
    s.region("region_code", required=True)
    s.text("region_name", required=True)
    s.region("parent_code", "bad_parent_code")


CHECKS = {
    "case_event": check_case_event, "rating": check_rating, "followup": check_followup,
    "item": check_item, "department": check_department, "region": check_region,
}


def validate(kind: str, frame: pl.DataFrame, extra_rules: list[Rule] | None = None) -> Checked:
    """Apply ``kind``'s rules to ``frame`` (all rows of that kind).

    Phase 1 computes the typed values (one pass over the input); phase 2 evaluates every rule over
    them; details are formatted only for the rows that fail. ``extra_rules`` are evaluated over the
    input frame (the loader's catalogue rule). Returned ``typed`` holds the record's fields (optional
    text fields null when absent) and the ``applicant.*``/``rater.*`` sub-fields.
    """
    spec = Spec(Reader(frame))
    CHECKS[kind](spec)
    lazy = frame.lazy()
    for stage in spec.stages:
        if stage:
            lazy = lazy.with_columns(**stage)
    phase1 = _broadcast_select(lazy, spec.cols)
    rules = list(spec.rules)
    flags = _broadcast_select(phase1.lazy(), {f"_r{i}": rule.broken.fill_null(False) for i, rule in enumerate(rules)})
    if extra_rules:
        extra = _broadcast_select(frame.lazy(), {f"_x{i}": rule.broken.fill_null(False) for i, rule in enumerate(extra_rules)})
        flags = pl.concat([flags, extra.rename({f"_x{i}": f"_r{len(rules) + i}" for i in range(len(extra_rules))})],
                          how="horizontal")
        rules += list(extra_rules)
    typed = phase1.select([c for c in phase1.columns if not c.startswith("_")])
    any_bad = flags.select(pl.any_horizontal(pl.all())).to_series() if rules else pl.Series([False] * frame.height)
    reason = pl.Series("reason", [None] * frame.height, dtype=pl.String)
    detail = pl.Series("detail", [None] * frame.height, dtype=pl.String)
    if any_bad.any():
        idx = any_bad.arg_true()
        bad = pl.concat([phase1, frame.select(pl.exclude(phase1.columns)), flags], how="horizontal").filter(any_bad)
        out = bad.lazy().select(
            pl.coalesce([pl.when(pl.col(f"_r{i}")).then(pl.lit(rule.code)) for i, rule in enumerate(rules)])
            .alias("reason"),
            pl.concat_str([pl.when(pl.col(f"_r{i}")).then(
                (pl.lit(rule.detail) if isinstance(rule.detail, str) else rule.detail).fill_null(rule.code))
                for i, rule in enumerate(rules)], separator="; ", ignore_nulls=True).alias("detail"),
        ).collect(engine=ENGINE)
        reason = reason.scatter(idx, out["reason"])
        detail = detail.scatter(idx, out["detail"])
    return Checked(typed=typed, reason=reason, detail=detail)
