"""Replaying the quarantine: open quarantined records go through the loader again (e.g. after the catalogue
gained the item they named), and those that are now stored are marked ``replayed``.

It sits above both the loader (which writes quarantine rows) and the quarantine (which lists them), so
neither imports the other's caller.
"""

from __future__ import annotations

import polars as pl

from ingest.limits import TRUNCATED_MARK
from ingest.loader import Loader
from ingest.quarantine import QUARANTINE_COLUMNS, list_quarantine, mark_replayed
from ingest.readers import decode_jsonl


def replay(wh, *, reason: str | None = None, source: str | None = None, unknown_items: str = "flag") -> dict:
    """Re-ingest open quarantined records; mark those that are now stored (or already were) ``replayed``.

    Each record goes through the same rules as new input, at its original source and position; one
    that fails again keeps its quarantine id and arrival time and gets its current reason.
    """
    rows = list_quarantine(wh, status="open", reason=reason, source=source)
    # A record kept only in part (too long to keep whole) cannot pass again: it stays open as it is.
    rows = rows.filter((pl.col("raw").str.strip_chars() != "") & pl.col("raw").str.ends_with(TRUNCATED_MARK).not_())
    result = {"replayed_from": rows.height, "accepted": 0, "duplicates": 0, "marked_replayed": 0, "still_open": 0}
    if rows.height == 0:
        return result
    payload = ("\n".join(rows["raw"].to_list()) + "\n").encode()
    frame = decode_jsonl(payload, allow_pii_carrier=True)
    if frame.height != rows.height:  # pragma: no cover - raw texts never hold newlines
        raise RuntimeError("quarantined raw texts did not decode one record each")
    frame = frame.with_columns(
        rows["position"].alias("_pos"), rows["source"].alias("_source"),
        rows["quarantine_id"].alias("_qid"), rows["received_at"].alias("_qreceived"),
    )
    loader = Loader(wh, unknown_items=unknown_items, replay=True, keep_rejects=True)
    summary = loader.load(frame)
    failed = set(summary.rejected_ids)
    done = rows.filter(pl.col("quarantine_id").is_in(list(failed)).not_())
    mark_replayed(wh, done.select([c for c in QUARANTINE_COLUMNS if c in done.columns and c not in ("status", "updated_at")]))
    result.update(accepted=summary.accepted, duplicates=summary.duplicates, marked_replayed=done.height,
                  still_open=rows.height - done.height)
    return result
