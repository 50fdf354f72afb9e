"""core/history.py and the limits through plan(): recentRuns, nextScheduleTimes, maxRuns reached
exactly, suspendOnFailure and its resume, the startTime/endTime window edges."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from planner_helpers import make_rj, step, utc
from recurringjob.core.planner import plan
from test_requests import finish


def suspended(rj: dict[str, Any]) -> tuple[str, str, str]:
    condition = next(c for c in rj["status"]["conditions"] if c["type"] == "Suspended")
    return condition["status"], condition["reason"], condition["message"]


def test_next_schedule_times_are_the_next_ten_from_the_cursor() -> None:
    rj = make_rj("0 9 * * MON-FRI", created="2026-03-06T10:00:00Z")  # a Friday
    decision = plan(rj, [], utc("2026-03-06T10:00:01Z"))
    assert decision.status is not None
    assert decision.status["nextScheduleTimes"] == [
        "2026-03-09T09:00:00Z", "2026-03-10T09:00:00Z", "2026-03-11T09:00:00Z", "2026-03-12T09:00:00Z",
        "2026-03-13T09:00:00Z", "2026-03-16T09:00:00Z", "2026-03-17T09:00:00Z", "2026-03-18T09:00:00Z",
        "2026-03-19T09:00:00Z", "2026-03-20T09:00:00Z"]
    rj["status"] = decision.status
    assert plan(rj, [], utc("2026-03-06T11:00:00Z")).status is None  # unchanged: no write


def test_recent_runs_keep_the_last_ten_with_outcomes() -> None:
    rj = make_rj("* * * * *", created="2024-01-01T00:00:00Z", concurrencyPolicy="Forbid")
    jobs: list[dict[str, Any]] = []
    for minute in range(1, 13):
        step(rj, jobs, f"2024-01-01T00:{minute:02}:02Z")
        if minute % 2 == 0:
            for job in [j for j in jobs if not j.get("status")]:
                finish(jobs, job["metadata"]["name"], "failed" if minute == 12 else "succeeded",
                       f"2024-01-01T00:{minute:02}:30Z")
    step(rj, jobs, "2024-01-01T00:12:40Z")
    runs = rj["status"]["recentRuns"]
    assert len(runs) == 10 and runs[0]["scheduledTime"] == "2024-01-01T00:03:00Z"
    assert [r["outcome"] for r in runs] == ["Succeeded", "Skipped"] * 4 + ["Failed", "Skipped"]
    assert runs[-2] == {"scheduledTime": "2024-01-01T00:11:00Z", "fireTime": "2024-01-01T00:11:00Z",
                        "lagSeconds": 2.0, "jobName": "rj-1704067860", "kind": "schedule",
                        "outcome": "Failed"}
    assert runs[-1] == {"scheduledTime": "2024-01-01T00:12:00Z", "kind": "schedule", "outcome": "Skipped"}


@settings(max_examples=40, deadline=None)
@given(max_runs=st.integers(1, 8), gaps=st.lists(st.integers(1, 400), min_size=1, max_size=30))
def test_max_runs_is_reached_exactly(max_runs: int, gaps: list[int]) -> None:
    rj = make_rj("* * * * *", created="2024-01-01T00:00:00Z", maxRuns=max_runs, catchUp="All")
    jobs: list[dict[str, Any]] = []
    launched = []
    now = utc("2024-01-01T00:00:30Z")
    for gap in gaps + [3600] * 10:
        now += timedelta(seconds=gap)
        for _ in range(10):
            decision = step(rj, jobs, now)
            launched += [decision.job_name] if decision.job_name else []
            if decision.action == "wait":
                break
    assert len(launched) == len(set(launched))
    assert len(launched) == max_runs  # the hours at the end leave room for every run
    assert rj["status"]["remainingRuns"] == 0
    assert suspended(rj)[:2] == ("True", "MaxRunsReached")
    assert rj["status"]["nextScheduleTimes"] == []


def test_raising_max_runs_continues_from_now_without_past_occurrences() -> None:
    rj = make_rj("* * * * *", created="2024-01-01T00:00:00Z", maxRuns=1)
    jobs: list[dict[str, Any]] = []
    step(rj, jobs, "2024-01-01T00:01:00Z")
    assert step(rj, jobs, "2024-01-01T00:02:00Z").job is None
    assert step(rj, jobs, "2024-01-01T00:30:00Z").job is None  # exhausted: nothing, nothing missed
    rj["spec"]["maxRuns"] = 3
    decision = step(rj, jobs, "2024-01-01T00:30:10Z")
    assert decision.job is None and decision.next_schedule_time == utc("2024-01-01T00:31:00Z")
    assert rj["status"]["remainingRuns"] == 3 and rj["status"].get("missedOccurrences", 0) == 0
    assert step(rj, jobs, "2024-01-01T00:31:00Z").job_name == "rj-1704069060"


def test_suspend_on_failure_stops_scheduled_launches_until_resumed() -> None:
    rj = make_rj("* * * * *", created="2024-01-01T00:00:00Z", suspendOnFailure=True)
    jobs: list[dict[str, Any]] = []
    step(rj, jobs, "2024-01-01T00:01:00Z")
    finish(jobs, "rj-1704067260", "failed", "2024-01-01T00:01:30Z")
    step(rj, jobs, "2024-01-01T00:01:31Z")
    assert rj["status"]["suspendedOnFailure"] == {"jobName": "rj-1704067260",
                                                  "failedAt": "2024-01-01T00:01:30Z"}
    status, reason, message = suspended(rj)
    assert (status, reason) == ("True", "SuspendedOnFailure")
    assert "kubectl recurringjob resume rj" in message
    assert step(rj, jobs, "2024-01-01T00:05:00Z").job is None
    rj["spec"]["triggers"] = [{"id": "still-works"}]
    assert step(rj, jobs, "2024-01-01T00:05:01Z").job_name == "rj-t-still-works"
    rj["spec"]["acknowledgedFailure"] = "rj-1704067260"  # what `kubectl recurringjob resume` writes
    resumed = step(rj, jobs, "2024-01-01T00:05:02Z")
    assert "suspendedOnFailure" not in rj["status"] and suspended(rj)[0] == "False"
    assert resumed.job_name == "rj-1704067500"  # catchUp Latest: the newest due occurrence (00:05)


def test_window_edges() -> None:
    rj = make_rj("0 * * * *", created="2024-01-01T00:00:00Z", startTime="2024-01-01T02:00:00Z",
                 endTime="2024-01-01T04:00:00Z")
    jobs: list[dict[str, Any]] = []
    first = step(rj, jobs, "2024-01-01T00:30:00Z")
    assert first.next_schedule_time == utc("2024-01-01T02:00:00Z")
    assert rj["status"]["nextScheduleTimes"] == ["2024-01-01T02:00:00Z", "2024-01-01T03:00:00Z",
                                                 "2024-01-01T04:00:00Z"]
    for hour in (1, 2, 3, 4, 5):
        step(rj, jobs, f"2024-01-01T0{hour}:00:00Z")
    assert sorted(j["metadata"]["name"] for j in jobs) == ["rj-1704074400", "rj-1704078000", "rj-1704081600"]
    assert "nextScheduleTime" not in rj["status"] and suspended(rj)[:2] == ("True", "EndTimeReached")
    assert "spec.endTime (2024-01-01T04:00:00Z)" in suspended(rj)[2]


def test_a_schedule_that_runs_out_is_invalid_not_a_planner_error() -> None:
    rj = make_rj("0 0 1 1 *", created="9998-06-01T00:00:00Z")
    decision = plan(rj, [], utc("9999-06-01T00:00:00Z"))
    assert decision.status is not None and "PlannerError" not in decision.warnings
    ready = next(c for c in decision.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSchedule")
    assert "no further occurrence" in ready["message"]
