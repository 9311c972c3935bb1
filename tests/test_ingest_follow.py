"""`hcp ingest --follow`: a growing file, partial lines, rotation (live and while stopped), kill -9."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time

from tests.conftest import HCP, REPO, run_hcp
from tests.ingest_records import event


def _lines(start: int, count: int) -> str:
    return "".join(json.dumps(event(f"E{k}", event_type="accepted"), ensure_ascii=False) + "\n"
                   for k in range(start, start + count))


class Follower:
    """A real `hcp ingest --follow` process whose commit events are read as they come."""

    def __init__(self, path):
        self.proc = subprocess.Popen(
            [*HCP, "ingest", "--follow", str(path), "--json", "--batch-seconds", "0.2"], cwd=REPO,
            env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue = queue.Queue()
        self.accepted = 0
        self.quarantined = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)

    def wait_for(self, accepted: int, quarantined: int = 0, deadline: float = 90.0):
        """Consume commit events until the running totals reach the given counts."""
        end = time.monotonic() + deadline
        while (self.accepted, self.quarantined) != (accepted, quarantined):
            try:
                item = self.events.get(timeout=max(0.1, end - time.monotonic()))
            except queue.Empty:
                item = None
            if item is None:
                raise AssertionError(f"follower stopped or stalled at {(self.accepted, self.quarantined)}, "
                                     f"waiting for {(accepted, quarantined)}: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")
            if item.get("event") == "commit":
                self.accepted += item["accepted"]
                self.quarantined += item["quarantined"]
        assert (self.accepted, self.quarantined) == (accepted, quarantined)

    def stop(self, sig=signal.SIGTERM) -> dict | None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        summary = None
        while True:
            item = self.events.get(timeout=30)
            if item is None:
                break
            if item.get("event") == "summary":
                summary = item
        self.proc.stderr.close()
        return summary


def _append(path, text: str):
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()


def test_follow_a_growing_file_through_rotation_and_restarts(hcp_home, tmp_path):
    run_hcp("init", check=True)
    path = tmp_path / "events.jsonl"
    path.write_text(_lines(0, 10), encoding="utf-8")
    f = Follower(path)
    f.wait_for(10)
    # A growing file, with a bad line and a line still being written.
    _append(path, _lines(10, 5) + "not json\n" + _lines(15, 1)[:40])
    f.wait_for(15, 1)
    _append(path, _lines(15, 1)[40:])
    f.wait_for(16, 1)
    # Live rotation (rename + create): the old file is read to its end, then the new one from its start.
    os.rename(path, tmp_path / "events.jsonl.1")
    _append(tmp_path / "events.jsonl.1", _lines(16, 3))  # the writer had not yet switched
    path.write_text(_lines(19, 4), encoding="utf-8")
    f.wait_for(23, 1)
    summary = f.stop()
    assert summary is not None and summary["accepted"] == 23

    # Stopped: the file grows and is rotated again; the restart finishes the rotated file first.
    _append(path, _lines(23, 2))
    os.rename(path, tmp_path / "events.jsonl.2")
    path.write_text(_lines(25, 3) + _lines(0, 2), encoding="utf-8")  # E0, E1 again: duplicates
    f = Follower(path)
    f.wait_for(5)
    # kill -9 between commits, more lines, restart: nothing lost, nothing doubled.
    _append(path, _lines(28, 50))
    f.wait_for(55)
    f.stop(signal.SIGKILL)
    _append(path, _lines(78, 7) + "garbage again\n")
    f = Follower(path)
    f.wait_for(7, 1)
    f.stop()

    from warehouse import open_warehouse

    with open_warehouse() as wh:
        assert wh.query_value("SELECT count() FROM case_events FINAL") == 85
        assert wh.query_value("SELECT uniqExact(event_id) FROM case_events") == 85
        assert wh.query_value("SELECT count() FROM quarantine FINAL") == 2
        positions = wh.query_df("SELECT source, position, raw FROM quarantine FINAL ORDER BY raw")
        assert positions["raw"].to_list() == ["garbage again", "not json"]
        assert set(positions["source"]) == {str(path)}
        assert all("@" in p for p in positions["position"])  # <device:inode>@<byte offset>
        checkpoint = wh.query_rows("SELECT file_id, position FROM ingest_checkpoints FINAL")
        st = os.stat(path)
        assert checkpoint == [(f"{st.st_dev}:{st.st_ino}", st.st_size)]
