"""Interchange records for the ingest tests: valid ones, and writers for every input format."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import polars as pl

ID_NUMBER = "370202199001011234"
PHONE = "13812345678"
RATER_ID = "37020219850505432X"
RATER_PHONE = "13998765432"


def item(code="370200-XK-0001", **kw):
    return {"kind": "item", "item_code": code, "item_name": "食品经营许可", "dept_code": "D370200001",
            "item_type": "行政许可", "legal_limit_days": 20, "promised_limit_days": 5, "online_depth": 4,
            "max_trips": 0, "valid_from": "2025-01-01", **kw}


def department(code="D370200001", **kw):
    return {"kind": "department", "dept_code": code, "dept_name": "市场监督管理局", "region_code": "370200000000", **kw}


def region(code="370202000000", **kw):
    return {"kind": "region", "region_code": code, "region_name": "市南区", "parent_code": "370200000000", **kw}


def event(event_id="E1", event_type="submitted", **kw):
    record = {"kind": "case_event", "event_id": event_id, "case_id": "C1", "event_type": event_type,
              "event_time": "2025-10-09T09:30:00+08:00", "item_code": "370200-XK-0001",
              "dept_code": "D370200001", "region_code": "370202000000", "onsite": False,
              "applicant": {"type": "person", "name": "张三", "id_number": ID_NUMBER, "phone": PHONE}}
    if event_type == "submitted":
        record["channel"] = "online"
    if event_type == "completed":
        record["result"] = "approved"
    record.update(kw)
    return record


def rating(rating_id="R1", **kw):
    return {"kind": "rating", "rating_id": rating_id, "case_id": "C1", "item_code": "370200-XK-0001",
            "dept_code": "D370200001", "region_code": "370202000000", "channel": "pc", "level": 5,
            "tags": ["办事快"], "comment": "很好", "rated_at": "2025-10-10T08:00:00+08:00", "real_name": True,
            "rater": {"name": "李四", "id_number": RATER_ID, "phone": RATER_PHONE}, **kw}


def followup(followup_id="F1", **kw):
    return {"kind": "followup", "followup_id": followup_id, "rating_id": "R1", "action": "verified",
            "action_time": "2025-10-11T09:00:00+08:00", "actor": "王科长", "reason_category": "efficiency", **kw}


def without(record: dict, field: str) -> dict:
    out = copy.deepcopy(record)
    out.pop(field)
    return out


def write_jsonl(path: Path, records: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cells(records: list[dict]) -> pl.DataFrame:
    """Records as a table of text cells (lists and objects as JSON text), as CSV/Excel carry them."""
    columns: list[str] = []
    for r in records:
        columns += [k for k in r if k not in columns]
    rows = []
    for r in records:
        row = {}
        for c in columns:
            v = r.get(c)
            if isinstance(v, (dict, list)):
                v = json.dumps(v, ensure_ascii=False)
            elif isinstance(v, bool):
                v = "true" if v else "false"
            elif v is not None:
                v = str(v)
            row[c] = v
        rows.append(row)
    return pl.DataFrame(rows, schema={c: pl.String for c in columns})


def write_csv(path: Path, records: list[dict]) -> Path:
    _cells(records).write_csv(path)
    return path


def write_xlsx(path: Path, records: list[dict]) -> Path:
    from openpyxl import Workbook

    frame = _cells(records)
    book = Workbook()
    sheet = book.active
    sheet.title = "records"
    sheet.append(frame.columns)
    for row in frame.iter_rows():
        # Numbers as numbers, the way a person's spreadsheet holds them.
        sheet.append([int(v) if isinstance(v, str) and v.isdigit() and len(v) < 15 else v for v in row])
    book.save(path)
    return path


def write_parquet(path: Path, records: list[dict]) -> Path:
    """Typed Parquet: numbers, booleans, lists and structs as themselves."""
    pl.DataFrame(records, infer_schema_length=None).write_parquet(path)
    return path
