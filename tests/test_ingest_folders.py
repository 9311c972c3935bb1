"""`hcp ingest DIR` (issue 11): a folder stands for its interchange files, reference data first, so the
demo's own output folder can be ingested as it is and its facts find their catalogue."""

from __future__ import annotations

import json

from ingest.paths import expand
from tests.conftest import run_hcp


def test_reference_data_first_and_the_given_order_kept_within_a_rank(tmp_path):
    for name in ("case_events-00002.jsonl", "case_events-00001.jsonl", "items.jsonl", "ratings-00001.csv",
                 "departments.jsonl", "regions.jsonl", "manifest.json", "notes.txt", ".hidden.jsonl"):
        (tmp_path / name).write_text("", encoding="utf-8")
    names = [p.rsplit("/", 1)[1] for p in expand([str(tmp_path)])]
    assert names == ["regions.jsonl", "departments.jsonl", "items.jsonl", "case_events-00001.jsonl",
                     "case_events-00002.jsonl", "ratings-00001.csv"]
    # explicit files are reordered the same way (stable): the shell's alphabetical * puts items after events
    given = [str(tmp_path / n) for n in ("case_events-00001.jsonl", "items.jsonl", "regions.jsonl")]
    assert [p.rsplit("/", 1)[1] for p in expand(given)] == ["regions.jsonl", "items.jsonl", "case_events-00001.jsonl"]
    assert expand(["-"]) == ["-"]


def test_hcp_ingest_reads_the_demo_folder_as_it_is(hcp_home):
    out = hcp_home / "demo" / "2025-10"
    run_hcp("demo", "generate", "--month", "2025-10", "--cases", "400", "--seed", "5", "--out", str(out), check=True)
    run_hcp("init", check=True)
    result = run_hcp("ingest", str(out), "--json", "--no-progress")
    assert result.returncode == 3, result.stderr  # the injected malformed records are quarantined
    summary = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")][-1]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    injected = manifest["injected"]
    # every record of every file is accounted for: the manifest's rows = received; the injected malformed
    # records quarantined, the injected re-sends duplicates
    assert summary["received"] == sum(f["rows"] for f in manifest["files"])
    assert summary["quarantined"] == injected["malformed"]["total"]
    assert summary["duplicates"] == sum(injected["duplicates"].values())
    # the catalogue was read before the facts: only the demo's deliberately unknown items are flagged
    assert summary["flagged_unknown_items"] == injected["unknown_item"]["case_events"] + injected["unknown_item"]["ratings"]
    empty = run_hcp("ingest", str(hcp_home / "keys"))
    assert empty.returncode == 1 and "没有交换文件" in empty.stderr
