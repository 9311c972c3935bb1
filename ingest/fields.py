"""The interchange record kinds and their fields, as INTERCHANGE.md declares them.

Readers use :data:`READ_SCHEMA` to decode JSON Lines with one typed pass (scalars as text, ``tags`` as a
list, ``applicant``/``rater`` as objects); validation and conversion use the per-kind field lists.
Nothing here does I/O.
"""

from __future__ import annotations

import polars as pl

from hcp.domain import RECORD_ID_FIELD

#: Sub-fields of the personal-data objects. Anything else inside them is dropped (never stored).
APPLICANT_FIELDS = ("type", "name", "id_number", "phone")
RATER_FIELDS = ("id_number", "phone", "name")
PII_OBJECTS = {"applicant": APPLICANT_FIELDS, "rater": RATER_FIELDS}

#: Every known top-level field, in a stable order, per kind.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "case_event": ("event_id", "case_id", "event_type", "event_time", "item_code", "dept_code", "region_code",
                   "channel", "onsite", "result", "staff_id", "applicant"),
    "rating": ("rating_id", "case_id", "item_code", "dept_code", "region_code", "staff_id", "channel", "level",
               "stage", "tags", "comment", "rated_at", "real_name", "default_rating", "rater"),
    "followup": ("followup_id", "rating_id", "action", "action_time", "actor", "reason_category", "note"),
    "item": ("item_code", "item_name", "dept_code", "item_type", "legal_limit_days", "promised_limit_days",
             "online_depth", "max_trips", "valid_from"),
    "department": ("dept_code", "dept_name", "region_code"),
    "region": ("region_code", "region_name", "parent_code"),
}

#: The warehouse table each kind goes to.
KIND_TABLE = {
    "case_event": "case_events", "rating": "ratings", "followup": "followups",
    "item": "items", "department": "departments", "region": "regions",
}

#: Reference data: a resend with changed content replaces (latest wins); order of loading within a batch.
REFERENCE_KINDS = ("region", "department", "item")
#: Facts: an id is accepted once; a resend with other content is a conflict.
FACT_KINDS = ("case_event", "rating", "followup")
LOAD_ORDER = REFERENCE_KINDS + FACT_KINDS

#: Replay only: pseudonyms carried by a quarantined record whose clear personal data was removed.
PII_CARRIER = "_pii"

KNOWN_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(
    ["kind"] + [f for fields in KIND_FIELDS.values() for f in fields]
))

LIST_FIELDS = ("tags",)

#: Top-level fields INTERCHANGE types as strings: a JSON number, boolean, list or object there is a
#: wrong type (CSV and Excel carry text anyway).
TEXT_FIELDS = ("kind", "event_id", "case_id", "event_type", "event_time", "item_code", "dept_code", "region_code",
               "channel", "result", "staff_id", "rating_id", "stage", "comment", "rated_at", "followup_id",
               "action", "action_time", "actor", "reason_category", "note", "item_name", "item_type", "valid_from",
               "dept_name", "region_name", "parent_code")


def _struct(fields: tuple[str, ...]) -> pl.Struct:
    return pl.Struct({f: pl.String for f in fields})


#: The typed schema used to decode JSON Lines in one pass.
READ_SCHEMA: dict[str, pl.DataType] = {}
for _name in KNOWN_FIELDS:
    if _name in PII_OBJECTS:
        READ_SCHEMA[_name] = _struct(PII_OBJECTS[_name])
    elif _name in LIST_FIELDS:
        READ_SCHEMA[_name] = pl.List(pl.String)
    else:
        READ_SCHEMA[_name] = pl.String
READ_SCHEMA_WITH_PII_CARRIER = {**READ_SCHEMA, PII_CARRIER: pl.Struct({"applicant_key": pl.String, "rater_key": pl.String})}


#: Reader bookkeeping columns (never record fields).
RAW, ERR, ERR_DETAIL, EXTRA = "_raw", "_err", "_err_detail", "_extra"
#: The request a row came from, in a batch that groups several HTTP requests into one commit
#: (:class:`ingest.http.IngestWriter`); the loader then counts everything per request too.
GROUP = "_req"


#: The id field of each kind (an item's id also takes its ``valid_from``: see :func:`record_id_expr`).


def record_id_expr(kind: str) -> pl.Expr:
    """The idempotency key of each kind, as text, from the *converted* warehouse columns."""
    if kind == "item":
        return pl.col("item_code") + pl.lit("@") + pl.col("valid_from").dt.to_string("%Y-%m-%d")
    return pl.col(RECORD_ID_FIELD[kind])
