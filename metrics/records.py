"""The JSON records of ``hcp metrics`` (the contract other tools rely on; see :mod:`metrics.cli`).

One object per unit: ``group``, ``name``, every indicator key (rates as fractions, null over an empty
base), ``composite_score``, ``rank_status``, ``rank``, ``peer_group``, ``peers``, ``bottom_two``,
``bottom_two_consecutive``, ``contributions`` (points per indicator) and ``counts`` (every numerator and
denominator). A NaN or infinite figure is null: JSON has no such numbers.
"""

from __future__ import annotations

import json
import math

import polars as pl

from metrics.indicators import COUNT_COLUMNS, INDICATOR_KEYS


def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def metrics_records(frame: pl.DataFrame, names: dict[str, str]) -> list[dict]:
    """Rows of a group-metrics frame as the JSON contract's objects."""
    records = []
    group_col = "group_code" if "group_code" in frame.columns else "group"
    for row in frame.iter_rows(named=True):
        record = {"group": row[group_col], "name": names.get(row[group_col], "")}
        for key in INDICATOR_KEYS:
            record[key] = _clean(row[key])
        record["composite_score"] = _clean(row["composite_score"])
        record["rank_status"] = row.get("rank_status") or ("ranked" if row["rank"] is not None else "no_data")
        record["rank"] = row["rank"]
        record["peer_group"] = row["peer_group"]
        record["peers"] = row["peers"]
        record["bottom_two"] = bool(row["bottom_two"])
        record["bottom_two_consecutive"] = bool(row["bottom_two_consecutive"])
        if "contributions" in row and isinstance(row["contributions"], str):
            record["contributions"] = json.loads(row["contributions"])
        else:
            record["contributions"] = {k[len("contrib_"):]: _clean(v) for k, v in row.items() if k.startswith("contrib_")}
        record["counts"] = {c: row[c] for c in COUNT_COLUMNS}
        records.append(record)
    return records
