"""How the project's Polars plans are run, stated once for every package.

:data:`ENGINE` — Polars' in-memory engine. The default (``auto``, streaming in Polars 2) costs more per call
and per plan for what these plans do (joins, sorts, per-case windows over a bucket held in memory, many small
validations of pushed batches):

* the metrics job's case facts over a bucket of the 1 M-case bench: 1.3–3× faster in memory;
* ingest validation: ``validate()`` of 200 case events 7.2 → 5.9 ms, of 1,600 9.5 → 8.1 ms, of 100,000
  89 → 78 ms.
"""

ENGINE = "in-memory"
