"""The report scheduler with a hand-moved clock (no sleeping on the wall clock): catch-up after downtime,
exactly once across restarts, new versions only for new data, failing runs retried then reported, and
the hosted service of `hcp serve`. Real embedded warehouse, real archive on disk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging

import polars as pl
import pytest

from hcp.config import Config
from reports.archive import Archive
from reports.monthly import publish_monthly
from reports.scheduler import ReportScheduler, fire_times
from tests import scenario_oct2025 as scenario
from tests.builders import followup, followups_frame, lifecycle, events_frame
from tests.conftest import run_hcp
from warehouse.client import SHANGHAI


class Clock:
    """The scheduler's notion of now, moved by the test."""

    def __init__(self, text: str):
        self.now = self.parse(text)

    @staticmethod
    def parse(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)

    def set(self, text: str) -> None:
        self.now = self.parse(text)

    def __call__(self) -> dt.datetime:
        return self.now


def settings(**reports) -> Config:
    return Config.from_dict({"reports": reports})


@pytest.fixture
def loaded(warehouse):
    scenario.load(warehouse)
    return warehouse


def scheduler(wh, archive, clock, config, sleeps=None):
    return ReportScheduler(wh, archive=archive, config=config, clock=clock,
                           sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def versions(archive, month="2025-10", scope="all"):
    return [m["version"] for m in archive.versions("monthly", month, scope)]


def _taken(root) -> bool:
    """Whether someone holds the archive lock at ``root`` (tried on a descriptor of our own, without waiting)."""
    import fcntl

    with open(root / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def test_the_archive_lock_is_held_per_archive_and_re_entrant(tmp_path):
    first, second = Archive(tmp_path / "a"), Archive(tmp_path / "b")
    with first.lock():
        assert _taken(first.root)
        with first.lock():  # re-entrant in the same thread
            assert _taken(first.root)
        assert _taken(first.root)
        with second.lock():  # another archive is locked too, not taken as a re-entry
            assert _taken(second.root)
        assert not _taken(second.root)
    assert not _taken(first.root)


def test_fire_times_follow_the_cron_in_shanghai_time():
    now = Clock.parse("2025-12-02 09:00")
    assert fire_times("0 8 1 * *", Clock.parse("2025-10-15 00:00"), now) == [
        Clock.parse("2025-11-01 08:00"), Clock.parse("2025-12-01 08:00")]
    assert fire_times("0 8 1 * *", None, now) == [Clock.parse("2025-12-01 08:00")]  # never run: the latest only
    assert fire_times("0 8 1 * *", Clock.parse("2025-12-01 08:00"), now) == []


def test_downtime_over_a_month_boundary_is_caught_up_once(loaded, hcp_home):
    clock = Clock("2025-10-20 10:00")
    archive = Archive(hcp_home / "reports", clock=clock)
    config = settings(digest_catch_up=2)
    first = scheduler(loaded, archive, clock, config).run_due()
    # First start: each job's latest fire time, oldest first — September's bulletin (fired Oct 1), the
    # nightly metrics, today's digest.
    assert [(o.job, o.key, o.status) for o in first] == [
        ("monthly", "2025-09", "ok"), ("metrics", "2025-10-20T02:00+08:00", "ok"), ("digest", "2025-10-20", "ok")]
    assert versions(archive, "2025-09") == [1]

    # Down from Oct 20 to Nov 3: the bulletin due on Nov 1 is produced on restart, once.
    clock.set("2025-11-03 09:00")
    restarted = scheduler(loaded, archive, clock, config)
    due = [(d.job, d.key) for d in restarted.due()]
    assert ("monthly", "2025-10") in due and [j for j, _ in due].count("monthly") == 1
    assert [k for j, k in due if j == "digest"] == ["2025-11-02", "2025-11-03"]  # at most digest_catch_up
    assert [j for j, _ in due].count("metrics") == 1  # an incremental run covers all it missed
    outcomes = restarted.run_due()
    assert all(o.status == "ok" for o in outcomes)
    assert versions(archive) == [1]
    manifest = archive.latest("monthly", "2025-10", "all")
    assert manifest["trigger"] == "schedule 2025-11-01T08:00+08:00"
    assert manifest["generated_at"] == "2025-11-03T09:00:00+08:00"  # the injected clock, not the wall clock
    assert restarted.run_due() == []  # nothing more is due

    # Another restart the same day: nothing is due, nothing is written.
    clock.set("2025-11-03 18:00")
    assert scheduler(loaded, archive, clock, config).run_due() == []
    assert versions(archive) == [1] and versions(archive, "2025-09") == [1]
    digest = json.loads((archive.root / "digest/2025-11-03/all/v1/digest-2025-11-03.json").read_text())
    assert digest["as_of"] == "2025-11-03T07:30:00+08:00"
    assert digest["red"] == 2 and {f["case_id"] for f in digest["flags"]} >= {"M", "X"}


def test_a_restart_never_makes_a_second_bulletin_for_the_same_data(loaded, hcp_home):
    clock = Clock("2025-11-01 08:00")
    archive = Archive(hcp_home / "reports", clock=clock)
    config = settings(metrics_cron="", digest_cron="")
    scheduler(loaded, archive, clock, config).run_due()
    first = archive.latest("monthly", "2025-10", "all")

    # A crash after publishing but before the state was saved: the restart runs the job again…
    (archive.root / "scheduler.json").unlink()
    clock.set("2025-11-01 09:00")
    again = scheduler(loaded, archive, clock, config).run_due()
    assert [(o.job, o.key, o.detail[0]["status"]) for o in again] == [("monthly", "2025-10", "same-data")]
    assert versions(archive) == [1]  # …and the archive answers "same data": no second bulletin

    # Late data for October moves the watermark and the figures: a new version, superseding the first.
    loaded.insert_df("followups", followups_frame([followup("r8", "rectified", "2025-11-03 10:00")]))
    clock.set("2025-11-03 12:00")
    second = publish_monthly(loaded, archive, "2025-10", config=config)
    assert second.status == "new" and second.manifest["version"] == 2 and second.manifest["supersedes"] == 1
    assert second.manifest["data_watermark"] > first["data_watermark"]
    assert second.manifest["checksum"] != first["checksum"]
    figures = json.loads((second.directory / "figures.json").read_text())
    assert figures["headline"]["bad_rectified_rate"] == 1.0  # r8 now rectified: 3 of 3

    # New data that does not touch October moves the watermark but not the figures: no new version.
    loaded.insert_df("case_events", events_frame(lifecycle("N1", "2025-11-04", completed="2025-11-05 10:00")))
    unchanged = publish_monthly(loaded, archive, "2025-10", config=config)
    assert unchanged.status == "unchanged" and versions(archive) == [1, 2]
    assert publish_monthly(loaded, archive, "2025-10", config=config).status == "same-data"  # not even recomputed


def test_a_failing_run_is_retried_with_backoff_then_reported_and_not_lost(loaded, hcp_home, caplog):
    clock = Clock("2025-11-01 08:00")
    archive = Archive(hcp_home / "reports", clock=clock)
    # Zibo's office wants its bulletin, but Zibo is not in the regions table yet: every attempt fails.
    config = settings(metrics_cron="", digest_cron="", monthly_regions=["370300000000"], retry_attempts=3,
                      retry_backoff_seconds=60)
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING, logger="hcp.reports.scheduler"):
        [outcome] = scheduler(loaded, archive, clock, config, sleeps).run_due()
    assert outcome.status == "failed" and outcome.attempts == 3
    assert sleeps == [60, 120]  # exponential backoff between the attempts, none after the last
    assert "未知区划" in outcome.detail[-1]["error"]
    statuses = [r["status"] for r in archive.runs() if r.get("job") == "monthly"]
    assert statuses == ["retry", "retry", "failed"]
    [failure] = archive.failures()
    assert failure["job"] == "monthly" and failure["key"] == "2025-10" and len(failure["attempts"]) == 3
    assert any(r.levelname == "ERROR" and "failed after 3 attempts" in r.getMessage() for r in caplog.records)
    assert archive.read_state()["jobs"]["monthly"]["failed"] == ["2025-11-01T08:00:00+08:00"]
    assert versions(archive) == [1]  # the province bulletin was published once, whatever the retries

    # Fixed the next day: the failed run is still due and now succeeds; nothing is published twice.
    loaded.insert_df("regions", pl.DataFrame({"region_code": ["370300000000"], "region_name": ["淄博市"],
                                              "parent_code": ["370000000000"]}))
    clock.set("2025-11-02 09:00")
    [retried] = scheduler(loaded, archive, clock, config, sleeps).run_due()
    assert retried.status == "ok" and retried.key == "2025-10"
    # The province's bulletin lists every city of the province: Zibo now among those without data, a
    # change of its figures, so a second version; Zibo's own bulletin is published once.
    assert [r["status"] for r in retried.detail if "scope" in r] == ["new", "new"]
    # then the models learn from the closed month: this tiny warehouse is too little for the risk model and
    # the anomaly detector; the cause classifier learns from its seed set, which needs no data of ours
    assert [(r["model"], r["status"]) for r in retried.detail if "model" in r] == [
        ("risk", "too_little_data"), ("cause", "trained"), ("anomaly", "too_little_data")]
    assert versions(archive) == [1, 2] and versions(archive, scope="370300000000") == [1]
    again = scheduler(loaded, archive, clock, config, sleeps).run_due()
    assert again == [] and versions(archive) == [1, 2]
    assert archive.read_state()["jobs"]["monthly"]["failed"] == []


def test_a_transient_failure_succeeds_on_retry(loaded, hcp_home):
    clock = Clock("2025-11-01 08:00")
    archive = Archive(hcp_home / "reports", clock=clock)
    config = settings(metrics_cron="", digest_cron="", monthly_regions=["370300000000"])
    slept = []

    def backoff(seconds):  # while the scheduler waits, the missing reference data arrives
        slept.append(seconds)
        loaded.insert_df("regions", pl.DataFrame({"region_code": ["370300000000"], "region_name": ["淄博市"],
                                                  "parent_code": ["370000000000"]}))

    runner = ReportScheduler(loaded, archive=archive, config=config, clock=clock, sleep=backoff)
    [outcome] = runner.run_due()
    assert outcome.status == "ok" and outcome.attempts == 2 and slept == [60]
    assert [r["status"] for r in archive.runs() if r.get("job") == "monthly"] == ["retry", "ok"]
    assert archive.failures() == []


def test_scheduler_once_from_the_command_line(hcp_home):
    from warehouse import open_warehouse
    from warehouse.migrations import ensure_schema

    wh = open_warehouse()
    ensure_schema(wh)
    scenario.load(wh)
    wh.close()
    (hcp_home / "config.toml").write_text('[reports]\ndigest_cron = ""\n', encoding="utf-8")
    first = run_hcp("scheduler", "--once", "--now", "2025-11-01T08:05", check=True)
    assert "monthly 2025-10: 完成" in first.stdout and "'status': 'new'" in first.stdout
    second = run_hcp("scheduler", "--once", "--now", "2025-11-01T09:00", check=True)
    assert "没有到期任务" in second.stdout
    assert (hcp_home / "reports/monthly/2025-10/all/v1/bulletin-2025-10.pdf").exists()
    assert not (hcp_home / "reports/monthly/2025-10/all/v2").exists()


def test_hcp_serve_hosts_the_scheduler_and_it_can_be_turned_off(warehouse, hcp_home):
    from hcp.serve import SERVICES, ServeContext
    from reports.scheduler import service

    assert "reports.scheduler:service" in SERVICES
    (hcp_home / "config.toml").write_text("[reports]\nserve_catch_up_delay_seconds = 3600\n", encoding="utf-8")
    ctx = ServeContext(warehouse=warehouse, dsn=None, host="127.0.0.1", port=0)
    routes = service(ctx)
    assert [r.path for r in routes] == ["/reports/scheduler"] and len(ctx.cleanups) == 1
    response = asyncio.run(routes[0].endpoint(None))
    status = json.loads(response.body)
    assert status["jobs"]["monthly"]["cron"] == "0 8 1 * *" and status["jobs"]["monthly"]["next_run"]
    assert status["archive"] == str(hcp_home / "reports")
    for cleanup in ctx.cleanups:
        cleanup()  # shuts the background scheduler down

    (hcp_home / "config.toml").write_text("[reports]\nscheduler_in_serve = false\n", encoding="utf-8")
    off = ServeContext(warehouse=warehouse, dsn=None, host="127.0.0.1", port=0)
    assert service(off) == [] and off.cleanups == []
