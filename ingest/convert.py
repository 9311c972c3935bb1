"""Typed records → warehouse rows: personal data replaced by pseudonyms and masks, content fingerprints.

* ``applicant``/``rater`` never leave this module in clear. ``<p>_key`` is the keyed pseudonym of the
  person's ID number (or, without one, of ``TEL:`` + phone; '' when neither is given), and
  ``<p>_name_masked``/``<p>_id_masked``/``<p>_phone_masked`` are the display forms (``张*``,
  ``3702**********1234``, ``138****5678``) — see :mod:`hcp.pii`.
* Free text (``comment``, ``note``, unknown fields) has ID-number- and phone-like digit runs masked too.
* :func:`content_expr` is the canonical content of a record: what "the same record" means when an id
  comes back. It covers every stored field except bookkeeping (source, arrival time, ``extra``,
  ``item_known``) and the pseudonym, which changes when the key is rotated; masks stand in for it.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from hcp.pii import PiiKey, mask_id_expr, mask_name_expr, mask_phone_expr
from ingest import jsonsafe
from ingest.fields import PII_CARRIER, PII_OBJECTS

# Raw-text protection (quarantine raw, free text) -----------------------------------------------

_NB = r"(^|[^0-9A-Za-z])"
_NE = r"($|[^0-9A-Za-z])"
_VAL = r'(?:\\u[0-9a-fA-F]{4}|[^"\\])'


def mask_digits_expr(text: pl.Expr) -> pl.Expr:
    """Mask ID-number-like (18/15 digits) and mobile-phone-like (11 digits, optional +86) runs."""
    text = text.str.replace_all(_NB + r"(\d{4})\d{10}([\dXx]{4})" + _NE, "${1}${2}**********${3}${4}")
    text = text.str.replace_all(_NB + r"(\d{4})\d{7}(\d{4})" + _NE, "${1}${2}*******${3}${4}")
    text = text.str.replace_all(r"(^|[^0-9A-Za-z+])((?:\+?86)?1[3-9]\d)\d{4}(\d{4})" + _NE, "${1}${2}****${3}${4}")
    return text


def protect_raw_expr(raw: pl.Expr) -> pl.Expr:
    """Raw record text with personal data masked, whatever shape the text is in.

    Values under ``id_number``/``phone``/``name`` keys (also inside JSON held as text) are masked
    by key; then any ID-number- or phone-like digit run anywhere is masked. Applied to everything the
    quarantine stores, including lines that are not even JSON.
    """
    def prefix(key: str) -> str:  # the key, the colon and the value's opening quote, as group 1
        return r'(\\?"' + key + r'\\?"\s*:\s*\\?")'

    end = r'(\\?")'
    raw = raw.str.replace_all(prefix("id_number") + rf"({_VAL}{{4}}){_VAL}+({_VAL}{{4}})" + end, "${1}${2}**********${3}${4}")
    raw = raw.str.replace_all(prefix("phone") + rf"({_VAL}{{3}}){_VAL}+({_VAL}{{4}})" + end, "${1}${2}****${3}${4}")
    raw = raw.str.replace_all(prefix("(?:id_number|phone)") + rf"{_VAL}{{1,7}}" + end, "${1}***${2}")
    raw = raw.str.replace_all(prefix("name") + rf"({_VAL}){_VAL}+" + end, "${1}${2}*${3}")
    return mask_digits_expr(raw)


_PERSON_KEY = r'\\?"(?:applicant|rater)\\?"\s*:'
_PERSON_STRING = r'(\\?"(?:applicant|rater)\\?"\s*:\s*\\?")(' + _VAL + r')' + _VAL + r'*(\\?")'


def protect_people(raw: pl.Series) -> pl.Series:
    """Raw texts with the ``applicant``/``rater`` values masked *whatever their shape*.

    :func:`protect_raw_expr` masks the fields of a well-formed person object; a person sent as a plain
    string (``"applicant": "张三 …"``), a list, a number or an object with other keys would keep the
    name in clear. So a text whose person value is not such an object is parsed (depth-limited,
    :func:`ingest.jsonsafe.loads`) and every value under the person is masked by what it is
    (``name`` → ``张*``, ``id_number``/``phone`` → kept ends, anything else → its first character);
    a text that is not JSON has a string person value masked in place. Per-row Python, but only for
    quarantined rows that mention a person at all.
    """
    hits = raw.str.contains(_PERSON_KEY).fill_null(False)
    if not hits.any():
        return raw
    idx = np.flatnonzero(hits.to_numpy())
    texts = [_protect_person_text(t) for t in raw.gather(idx).to_list()]
    return raw.scatter(idx, texts)


def _protect_person_text(text: str) -> str:
    try:
        obj = jsonsafe.loads(text)
    except jsonsafe.BadJson:
        obj = None
    if not isinstance(obj, dict):
        return pl.select(pl.lit(text).str.replace_all(_PERSON_STRING, "${1}${2}*${3}")).item()
    changed = False
    for key, fields in PII_OBJECTS.items():
        if key in obj and not _regular_person(obj[key], fields):
            obj[key] = _mask_any(obj[key])
            changed = True
    return json.dumps(obj, ensure_ascii=False) if changed else text


def _regular_person(value, fields) -> bool:
    """An object (or the JSON text of one) of the known sub-fields with text values: masked by key."""
    if isinstance(value, str):
        if not value.strip():
            return True
        try:
            value = jsonsafe.loads(value)
        except jsonsafe.BadJson:
            return False
    if value is None:
        return True
    return isinstance(value, dict) and all(k in fields and (v is None or isinstance(v, str)) for k, v in value.items())


def _mask_text(value: str, field: str) -> str:
    expr = {"name": mask_name_expr, "id_number": mask_id_expr, "phone": mask_phone_expr}.get(field, mask_name_expr)
    return pl.select(expr(pl.lit(value, dtype=pl.String))).item()


def _mask_any(value, field: str = ""):
    if isinstance(value, dict):
        return {k: (v if k == "type" and v in ("person", "org") else _mask_any(v, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_any(v, field) for v in value]
    if value is None:
        return None
    return _mask_text(str(value), field)


# Personal data ------------------------------------------------------------------------------------


def person_key_expr(prefix: str, key: PiiKey, *, carried: pl.Expr | None = None) -> pl.Expr:
    """``<prefix>_key``: the pseudonym of the person whose typed sub-fields are ``<prefix>.<field>``."""
    id_number = pl.col(f"{prefix}.id_number").fill_null("")
    phone = pl.col(f"{prefix}.phone").fill_null("")
    basis = pl.when(id_number != "").then(id_number).when(phone != "").then(pl.lit("TEL:") + phone).otherwise(pl.lit(""))
    pseudonym = key.pseudonym_expr(basis)  # the keyed hash once per distinct value
    if carried is not None:  # replay: the pseudonym was computed before the clear value was dropped
        pseudonym = pl.when(carried.fill_null("") != "").then(carried).otherwise(pseudonym)
    return pseudonym.fill_null("").alias(f"{prefix}_key")


def person_columns(prefix: str, key: PiiKey, *, carried: pl.Expr | None = None) -> list[pl.Expr]:
    """Pseudonym and masks for the person whose typed sub-fields are the ``<prefix>.<field>`` columns."""
    return [
        person_key_expr(prefix, key, carried=carried),
        mask_name_expr(pl.col(f"{prefix}.name").fill_null("")).alias(f"{prefix}_name_masked"),
        mask_id_expr(pl.col(f"{prefix}.id_number").fill_null("")).alias(f"{prefix}_id_masked"),
        mask_phone_expr(pl.col(f"{prefix}.phone").fill_null("")).alias(f"{prefix}_phone_masked"),
    ]


# Warehouse rows -----------------------------------------------------------------------------------

#: Columns written per kind (the rest take their warehouse defaults).
WAREHOUSE_COLUMNS = {
    "case_event": ["event_id", "case_id", "event_type", "event_time", "item_code", "dept_code", "region_code",
                   "channel", "onsite", "result", "staff_id", "applicant_type", "applicant_key",
                   "applicant_name_masked", "applicant_id_masked", "applicant_phone_masked", "item_known",
                   "extra", "source"],
    "rating": ["rating_id", "case_id", "item_code", "dept_code", "region_code", "staff_id", "channel", "level",
               "stage", "tags", "comment", "rated_at", "real_name", "default_rating", "rater_key",
               "rater_name_masked", "rater_id_masked", "rater_phone_masked", "item_known", "extra", "source"],
    "followup": ["followup_id", "rating_id", "action", "action_time", "actor", "reason_category", "note",
                 "extra", "source"],
    "item": ["item_code", "item_name", "dept_code", "item_type", "legal_limit_days", "promised_limit_days",
             "online_depth", "max_trips", "valid_from", "extra", "source"],
    "department": ["dept_code", "dept_name", "region_code", "extra", "source"],
    "region": ["region_code", "region_name", "parent_code", "extra", "source"],
}

_NOT_CONTENT = {"extra", "source", "item_known", "applicant_key", "rater_key"}
_CASTS = {"level": pl.UInt8, "legal_limit_days": pl.UInt16, "promised_limit_days": pl.UInt16,
          "online_depth": pl.UInt8, "max_trips": pl.UInt8}


def to_warehouse(kind: str, typed: pl.DataFrame, *, key: PiiKey, extra: pl.Series, source: pl.Series | str,
                 item_known: pl.Series | None = None, carried: pl.DataFrame | None = None) -> pl.DataFrame:
    """The warehouse rows of ``kind`` from :func:`ingest.validate.validate`'s typed values."""
    frame = typed.with_columns(_masked_if_any(extra.alias("extra")))
    frame = frame.with_columns(source.alias("source") if isinstance(source, pl.Series) else pl.lit(source).alias("source"))
    if item_known is not None:
        frame = frame.with_columns(item_known.alias("item_known"))
    if kind == "case_event":
        frame = _with_person(frame, "applicant", key, carried)
        frame = frame.with_columns(pl.col("applicant.type").fill_null("").alias("applicant_type"))
    elif kind == "rating":
        frame = _with_person(frame, "rater", key, carried)
        frame = frame.with_columns(_masked_if_any(frame["comment"].fill_null("")))
    elif kind == "followup":
        frame = frame.with_columns(_masked_if_any(frame["note"].fill_null("")))
    frame = frame.with_columns([pl.col(c).cast(t) for c, t in _CASTS.items() if c in frame.columns])
    return frame.select(WAREHOUSE_COLUMNS[kind]).with_columns(pl.col(pl.String).fill_null(""))


def _with_person(frame: pl.DataFrame, prefix: str, key: PiiKey, carried: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``<prefix>_key`` and the masks, computed once per distinct person and joined back.

    A person appears in many records (every event of a case), so the keyed hash and the masks run on
    the distinct (ID number, phone, name) triples only; the join uses an in-memory 64-bit row hash
    (never stored), checked for collisions.
    """
    subfields = [f"{prefix}.{f}" for f in ("id_number", "phone", "name")]
    if carried is not None and f"{prefix}_key" in carried.columns:  # replay: small, row by row
        carry = carried.get_column(f"{prefix}_key")
        return frame.with_columns(*person_columns(prefix, key, carried=pl.lit(carry)))
    frame = frame.with_columns(pl.struct(subfields).hash(seed=7).alias("_person"))
    people = frame.select("_person", *subfields).unique("_person", keep="first")
    if people.select(subfields).n_unique() != people.height:  # a hash collision: join on the values
        people = frame.select(subfields).unique()
        out = frame.join(people.with_columns(*person_columns(prefix, key)), on=subfields, how="left",
                         nulls_equal=True, maintain_order="left")
        return out.drop("_person")
    people = people.with_columns(*person_columns(prefix, key)).drop(subfields)
    return frame.join(people, on="_person", how="left", maintain_order="left").drop("_person")


def _masked_if_any(text: pl.Series) -> pl.Series:
    """:func:`mask_digits_expr` over free text, skipped when no value has a run of 11+ digits."""
    if text.str.contains(r"\d{11}").any():
        return pl.select(mask_digits_expr(pl.lit(text))).to_series().alias(text.name)
    return text


def content_expr(kind: str) -> pl.Expr:
    """Canonical content text of a warehouse row (hashed by the warehouse into the ledger)."""
    parts = []
    for name in WAREHOUSE_COLUMNS[kind]:
        if name in _NOT_CONTENT:
            continue
        col = pl.col(name)
        if name in ("event_time", "rated_at", "action_time"):
            parts.append(col.dt.epoch("ms").cast(pl.String))
        elif name == "valid_from":
            parts.append(col.dt.to_string("%Y-%m-%d"))
        elif name == "tags":
            parts.append(col.list.join("\x1e"))
        else:
            parts.append(col.cast(pl.String))
    return pl.concat_str([p.fill_null("") for p in parts], separator="\x1f")


def carried_pseudonyms(frame: pl.DataFrame) -> pl.DataFrame | None:
    """Pseudonyms carried by replayed records (``_pii``), if any."""
    if PII_CARRIER not in frame.columns or frame.get_column(PII_CARRIER).null_count() == frame.height:
        return None
    return frame.select(
        pl.col(PII_CARRIER).struct.field("applicant_key").alias("applicant_key"),
        pl.col(PII_CARRIER).struct.field("rater_key").alias("rater_key"),
    )
