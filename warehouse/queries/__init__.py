"""The query layer: every read and write of a warehouse table, one module per table family.

Pages, reports, jobs and models call the named functions here; no SQL is written anywhere else (held by
``tests/test_floorplan.py``). The conventions are applied once, in :mod:`warehouse.queries.sql`:

* every read of a raw (``ReplacingMergeTree``) table uses ``FINAL``, so a crash window never double-counts;
* the reader's :class:`hcp.scope.Scope` becomes a SQL condition (:func:`~warehouse.queries.sql.scope_condition`);
* instants are bound with the one timestamp type (:data:`~warehouse.queries.sql.TS`).

Families: :mod:`.reference` (regions, departments, items, calendar), :mod:`.events` (case lifecycle events),
:mod:`.ratings` (ratings and follow-ups), :mod:`.facts` (case facts and rating facts), :mod:`.group_metrics`
(the computed indicators), :mod:`.loop` (the bad-rating loop and urges), :mod:`.state` (job state, ingest
bookkeeping, quarantine, tokens, reference history).
"""
