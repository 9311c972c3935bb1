"""Streaming ingest of interchange records (INTERCHANGE.md) into the warehouse.

readers (formats → frames) → validate (rules, reason codes) → convert (warehouse columns, personal
data) → loader (dedupe, ledger, inserts, quarantine). ``follow`` tails a growing file, ``http`` is the
push endpoint, ``quarantine`` lists and replays rejected records, ``cli`` holds the commands.
See docs/ingest.md.
"""
