"""`kubectl recurringjob describe`: the page rendered from status fixtures, section by section."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from recurringjob.cli.plugin_describe import render_describe, render_why
from recurringjob.cli.plugin_format import human_duration
from recurringjob.core.planner import Decision

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc_local_time() -> Iterator[None]:
    """local_time() prints the machine's zone: pin it so the expected lines are exact."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def rj(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "backup", "namespace": "ops"},
            "spec": {"jobTemplate": {"spec": {}}, **spec}, "status": status or {}}


def section(page: str, title: str) -> list[str]:
    """The lines of one titled section (title line included), up to the next unindented line."""
    lines = page.splitlines()
    start = lines.index(title)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return lines[start:end]


FULL_SPEC = {
    "schedules": [{"schedule": "0 2 * * *", "timeZone": "Europe/Berlin"}, {"schedule": "30 12 * * 1-5"}],
    "excludeSchedules": [{"schedule": "* * 25 12 *", "timeZone": "Europe/Berlin"}],
    "startTime": "2026-01-01T00:00:00Z", "endTime": "2027-01-01T00:00:00Z",
    "concurrencyPolicy": "BufferAll", "maxBuffered": 5, "catchUp": "All", "maxCatchUp": 10,
    "startingDeadlineSeconds": 300, "jitterSeconds": 600, "maxRuns": 30,
    "suspend": True, "suspendReason": "db migration", "suspendOnFailure": True,
}


@pytest.mark.parametrize(("spec", "status", "expected"), [
    ({"schedule": "*/5 * * * *"}, {}, [
        "Name:               backup",
        "Namespace:          ops",
        "Schedule:           */5 * * * * (UTC)",
        "Overlap:            Allow",
        "Catch-up:           Latest (maxCatchUp 100)",
        "Suspended:          no",
        "Active jobs:        none",
        "Last schedule:      <none>",
        "Counters:           missed 0, skipped 0",
    ]),
    (FULL_SPEC, {"remainingRuns": 7, "active": [{"name": "backup-1"}, {"name": "backup-2"}],
                 "missedOccurrences": 2, "skippedOccurrences": 1}, [
        "Name:               backup",
        "Namespace:          ops",
        "Schedules:          0 2 * * * (Europe/Berlin)",
        "                    30 12 * * 1-5 (UTC)",
        "Excluding:          * * 25 12 * (Europe/Berlin)",
        "Overlap:            BufferAll (maxBuffered 5)",
        "Catch-up:           All (maxCatchUp 10), startingDeadlineSeconds 300",
        "Window:             2026-01-01T00:00:00Z .. 2027-01-01T00:00:00Z",
        "Jitter:             up to 10m, never past the next one",
        "Runs:               maxRuns 30, remaining 7",
        "Suspended:          yes (db migration); kubectl recurringjob resume continues",
        "Suspend on failure: yes (a failed Job suspends it until resumed)",
        "Active jobs:        backup-1, backup-2",
        "Last schedule:      <none>",
        "Counters:           missed 2, skipped 1",
    ]),
    ({"schedule": "0 * * * *", "maxRuns": 3, "startTime": "2026-12-02T00:00:00Z"}, {}, [
        "Name:               backup",
        "Namespace:          ops",
        "Schedule:           0 * * * * (UTC)",
        "Overlap:            Allow",
        "Catch-up:           Latest (maxCatchUp 100)",
        "Window:             2026-12-02T00:00:00Z .. no end",
        "Runs:               maxRuns 3, remaining <not counted yet>",
        "Suspended:          no",
        "Active jobs:        none",
        "Last schedule:      <none>",
        "Counters:           missed 0, skipped 0",
    ]),
], ids=["minimal", "every-feature", "window-and-maxruns"])
def test_spec_summary(spec: dict[str, Any], status: dict[str, Any], expected: list[str]) -> None:
    page = render_describe(rj(spec, status), NOW)
    assert page.splitlines()[: page.splitlines().index("Conditions:")] == expected


def test_conditions_including_the_new_reasons() -> None:
    status = {"conditions": [
        {"type": "Ready", "status": "False", "reason": "MaxRunsReached", "message": "maxRuns 3 reached"},
        {"type": "Suspended", "status": "True", "reason": "SuspendedOnFailure", "message": "backup-1 failed"},
    ]}
    assert section(render_describe(rj({"schedule": "0 * * * *"}, status), NOW), "Conditions:") == [
        "Conditions:",
        "  Ready=False MaxRunsReached: maxRuns 3 reached",
        "  Suspended=True SuspendedOnFailure: backup-1 failed",
    ]


@pytest.mark.parametrize(("spec", "status", "expected"), [
    ({"schedule": "0 * * * *"}, {}, ["Next times (local):", "  none: not computed yet, or none left"]),
    ({"schedule": "0 * * * *", "suspend": True}, {}, ["Next times (local):", "  none: suspended"]),
    ({"schedule": "0 * * * *"}, {"nextScheduleTimes": ["2026-12-01T13:00:00Z", "2026-12-01T14:00:00Z"]}, [
        "Next times (local):",
        "  2026-12-01 13:00:00 UTC (in 1h)",
        "  2026-12-01 14:00:00 UTC (in 2h)",
    ]),
], ids=["none-yet", "suspended", "plain"])
def test_next_times(spec: dict[str, Any], status: dict[str, Any], expected: list[str]) -> None:
    assert section(render_describe(rj(spec, status), NOW), "Next times (local):") == expected


def documented_jitter(uid: str, nominal: datetime, following: datetime, max_seconds: int) -> int:
    """docs/design.md "Jitter", written out independently of core/jitter.py."""
    bound = min(max_seconds, int((following - nominal).total_seconds()) - 1)
    digest = hashlib.sha256(f"{uid}|{int(nominal.timestamp())}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (bound + 1)


@pytest.mark.parametrize("jitter", [600, 3600])
def test_next_times_show_the_fire_time_jitter_gives_them(jitter: int) -> None:
    obj = rj({"schedule": "0 * * * *", "jitterSeconds": jitter},
             {"nextScheduleTimes": ["2026-12-01T13:00:00Z", "2026-12-01T14:00:00Z"]})
    obj["metadata"] |= {"uid": "6f1c2a9e-0b7d-4c1e-9a51-3d2f8e7c4b10",
                        "creationTimestamp": "2026-01-01T00:00:00Z"}
    lines = section(render_describe(obj, NOW), "Next times (local):")
    assert len(lines) == 4 and lines[1].split() == ["NOMINAL", "(LOCAL)", "FIRES", "(LOCAL)", "JITTER"]
    for line, hour in zip(lines[2:], (13, 14), strict=True):
        nominal = datetime(2026, 12, 1, hour, tzinfo=UTC)
        delay = documented_jitter(obj["metadata"]["uid"], nominal, nominal + timedelta(hours=1), jitter)
        assert 0 < delay < 3600  # never past the next occurrence, even with jitterSeconds 3600
        fire = nominal + timedelta(seconds=delay)
        assert line.startswith(f"  2026-12-01 {hour}:00:00 UTC")
        assert f"   {fire:%Y-%m-%d %H:%M:%S} UTC" in line and line.endswith(f"   {human_duration(delay)}")


def test_without_a_uid_next_times_stay_nominal() -> None:
    obj = rj({"schedule": "0 * * * *", "jitterSeconds": 600}, {"nextScheduleTimes": ["2026-12-01T13:00:00Z"]})
    assert section(render_describe(obj, NOW), "Next times (local):") == [
        "Next times (local):", "  2026-12-01 13:00:00 UTC (in 1h)"]


def test_recent_runs_newest_first_with_kind_outcome_and_lag() -> None:
    # newest last, in the order the operator decided them: the backfilled run is the newest
    status = {"recentRuns": [
        {"scheduledTime": "2026-12-01T10:00:00Z", "jobName": "backup-1764583200", "kind": "schedule",
         "outcome": "Succeeded", "lagSeconds": 0.42},
        {"scheduledTime": "2026-12-01T11:30:00Z", "jobName": "backup-t-5f2c", "kind": "trigger",
         "requestId": "5f2c", "outcome": "Running", "lagSeconds": 0.1},
        {"scheduledTime": "2026-11-30T10:00:00Z", "kind": "backfill", "requestId": "b1",
         "outcome": "Skipped"},
    ]}
    assert section(render_describe(rj({"schedule": "0 10 * * *"}, status), NOW),
                   "Recent runs (newest first):") == [
        "Recent runs (newest first):",
        "  NOMINAL (LOCAL)                      JOB                 KIND           OUTCOME     LAG",
        "  2026-11-30 10:00:00 UTC (1d2h ago)   -                   backfill b1    Skipped     -",
        "  2026-12-01 11:30:00 UTC (30m ago)    backup-t-5f2c       trigger 5f2c   Running     0.1s",
        "  2026-12-01 10:00:00 UTC (2h ago)     backup-1764583200   schedule       Succeeded   0.4s",
    ]
    assert section(render_describe(rj({"schedule": "0 10 * * *"}), NOW), "Recent runs (newest first):") == [
        "Recent runs (newest first):", "  none yet"]


def test_buffered_occurrences() -> None:
    status = {"bufferedOccurrences": ["2026-12-01T11:00:00Z"]}
    page = render_describe(rj({"schedule": "0 * * * *", "concurrencyPolicy": "BufferOne"}, status), NOW)
    assert section(page, "Buffered occurrences:") == ["Buffered occurrences:",
                                                      "  2026-12-01 11:00:00 UTC (1h ago)"]


def test_pending_requests_hide_final_ones_and_show_progress() -> None:
    spec = {"schedule": "0 * * * *",
            "triggers": [{"id": "t-done"}, {"id": "t-new", "overlapPolicy": "Allow"}],
            "backfills": [{"id": "b1", "from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}]}
    status = {"requests": [
        {"id": "t-done", "kind": "trigger", "state": "Done", "jobName": "backup-t-1"},
        {"id": "b1", "kind": "backfill", "state": "Running", "launched": 4, "total": 25},
        {"id": "b0", "kind": "backfill", "state": "Running", "launched": 1, "total": 2},  # trimmed from spec
    ]}
    assert section(render_describe(rj(spec, status), NOW), "Pending requests:") == [
        "Pending requests:",
        "  ID      KIND       STATE          PROGRESS   DETAIL",
        "  t-new   trigger    not seen yet   -          overlap Allow",
        "  b1      backfill   Running        4/25       2026-11-01T00:00:00Z .. 2026-11-02T00:00:00Z",
        "  b0      backfill   Running        1/2        -",
    ]
    assert section(render_describe(rj({"schedule": "0 * * * *"}), NOW), "Pending requests:") == [
        "Pending requests:", "  none"]


# -- why --------------------------------------------------------------------------------------

def test_why_explains_a_trigger_launch_with_jitterless_fire_time() -> None:
    decision = Decision(action="launch", scheduled_time=NOW, job_name="backup-t-t1", kind="trigger",
                        request_id="t1", fire_time=NOW, reason="Launching trigger t1.")
    lines = render_why(rj({"schedule": "0 * * * *"}), decision, NOW).splitlines()
    assert lines[:5] == ["backup: Launching trigger t1.", "  decision:       launch",
                         "  for request:    trigger t1", "  occurrence:     2026-12-01 12:00:00 UTC (in 0s)",
                         "  job:            backup-t-t1"]
    assert not any(line.startswith("  fires at:") for line in lines)


def test_why_shows_what_stops_or_holds_launches() -> None:
    spec = {"schedule": "0 * * * *", "concurrencyPolicy": "BufferOne", "maxRuns": 5, "suspend": True,
            "suspendReason": "db migration"}
    status = {"remainingRuns": 2, "bufferedOccurrences": ["2026-12-01T11:00:00Z"],
              "active": [{"name": "backup-1764583200"}],
              "requests": [{"id": "t9", "kind": "trigger", "state": "Pending",
                            "message": "waiting for backup-1764583200 to finish (BufferOne)"},
                           {"id": "b1", "kind": "backfill", "state": "Running", "total": 8, "launched": 3},
                           {"id": "old", "kind": "trigger", "state": "Done", "result": "succeeded"}],
              "conditions": [{"type": "Suspended", "status": "True", "reason": "Suspended",
                              "message": "db migration"}]}
    decision = Decision(action="wait", scheduled_time=NOW, fire_time=NOW + timedelta(seconds=95),
                        next_schedule_time=NOW + timedelta(hours=1), requeue_after=95.0,
                        reason="Suspended: db migration.")
    lines = render_why(rj(spec, status), decision, NOW).splitlines()
    assert "  fires at:       2026-12-01 12:01:35 UTC (in 1m35s) (jitter)" in lines
    assert ("  scheduled runs: stopped (yes, Suspended: db migration; kubectl recurringjob resume "
            "continues); triggers and backfills still run") in lines
    assert "  remaining runs: 2 of maxRuns 5" in lines
    assert ("  buffered:       1, oldest 2026-12-01 11:00:00 UTC (1h ago) (BufferOne: starts when the "
            "running Job ends)") in lines
    requests = [line for line in lines if line.startswith("  request:")]
    assert requests == [
        "  request:        trigger t9 Pending: waiting for backup-1764583200 to finish (BufferOne)",
        "  request:        backfill b1 Running 3/8"]
    assert "  condition:      Suspended=True Suspended: db migration" in lines
