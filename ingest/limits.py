"""Size limits of interchange records: what is too long, too deep or too big to be a real record.

A record over a limit is quarantined with the reason ``too_long:<field>`` (or ``too_deep``); it never
reaches the raw tables, and the quarantine keeps at most :data:`MAX_RAW_CHARS` of its text. The limits are
far above anything a real platform sends (an event id is ~30 characters, a comment a few hundred), so
they only stop abuse and accidents: an 8 MB ``event_id``, a 30 MB comment, a line nested 1,500 deep.
docs/ingest.md lists them; nothing here does I/O.
"""

from __future__ import annotations

#: A JSON line (or one element of an HTTP JSON array) longer than this many bytes is quarantined as
#: ``too_long:line`` without being decoded; a reader keeps no more than this of a line in memory.
MAX_LINE_BYTES = 1 << 20

#: JSON nested deeper than this (objects and arrays; a record is 2 deep: the record, its ``applicant``)
#: is quarantined as ``too_deep`` before any parser sees it.
MAX_DEPTH = 16

#: The quarantine keeps at most this many characters of a record's raw text (then ``…[truncated]``).
MAX_RAW_CHARS = 64 << 10

#: Unknown fields of a record, as the JSON object kept in ``extra``, at most this many characters.
MAX_EXTRA_CHARS = 16 << 10

_ID, _CODE, _NAME, _TEXT = 128, 64, 256, 2000

#: Maximum length in characters of each text field (after surrounding blanks are removed).
MAX_LENGTH: dict[str, int] = {
    # ids
    "event_id": _ID, "case_id": _ID, "rating_id": _ID, "followup_id": _ID, "staff_id": _ID,
    # codes
    "item_code": _CODE, "dept_code": _CODE, "region_code": _CODE, "parent_code": _CODE,
    "item_type": _CODE, "reason_category": _CODE,
    # names and texts
    "item_name": 500, "dept_name": _NAME, "region_name": _NAME, "actor": _NAME,
    "comment": _TEXT, "note": _TEXT,
}

#: ``applicant``/``rater`` sub-fields (``too_long:applicant.name`` …).
MAX_PERSON_LENGTH: dict[str, int] = {"type": 16, "name": 100, "id_number": 32, "phone": 32}

#: ``tags``: at most this many tags, each at most this many characters (``too_long:tags``).
MAX_TAGS, MAX_TAG_LENGTH = 32, 64

TRUNCATED_MARK = "…[truncated]"
