"""The plugin's formatting: durations, tables, local times, Job outcomes, next fire time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recurringjob.cli import plugin_format as plugin


def test_human_durations_and_tables() -> None:
    assert [plugin.human_duration(s) for s in (5, 65, 600, 3600, 3720, 90000, 86400)] == \
        ["5s", "1m5s", "10m", "1h", "1h2m", "1d1h", "1d"]
    out = plugin.table(["NAME", "X"], [["a", "1"], ["long-name", "22"]])
    assert out.splitlines() == ["NAME        X", "a           1", "long-name   22"]
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert plugin.local_time(now + timedelta(minutes=5), now).endswith("(in 5m)")
    assert plugin.local_time(now - timedelta(seconds=30), now).endswith("(30s ago)")


def test_job_outcomes() -> None:
    done = {"status": {"startTime": "2025-01-01T00:00:00Z", "completionTime": "2025-01-01T00:01:00Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}}
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True",
                                         "lastTransitionTime": "2025-01-01T00:02:00Z"}]}}
    assert plugin.job_outcome(done) == ("Succeeded", datetime(2025, 1, 1, 0, 1, tzinfo=UTC))
    assert plugin.job_outcome(failed)[0] == "Failed"
    assert plugin.job_outcome({"status": {"active": 1}})[0] == "Running"
    assert plugin.job_outcome({})[0] == "Pending"


def test_next_fire_uses_the_cursor_else_the_schedule() -> None:
    now = datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC)
    rj = {"metadata": {"name": "x", "creationTimestamp": "2024-12-31T00:00:00Z"},
          "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {}}}}
    assert plugin.next_fire(rj, now) == datetime(2025, 1, 1, 0, 5, tzinfo=UTC)
    rj["status"] = {"nextScheduleTime": "2025-01-01T00:00:00Z"}
    assert plugin.next_fire(rj, now) == datetime(2025, 1, 1, tzinfo=UTC)
    assert plugin.next_fire({"spec": {"schedule": "not cron"}}, now) is None
