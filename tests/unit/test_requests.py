"""core/requests.py through plan(): run-now triggers and backfills launch each request / occurrence
exactly once — re-sent, re-planned, or recovered after a leader died between claim and create."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from planner_helpers import make_rj, step, utc
from recurringjob.core.occurrences import occurrence_stream
from recurringjob.core.planner import plan
from recurringjob.core.requests import (
    BACKFILL_LIMIT,
    backfill_limit_message,
    count_backfill,
    trigger_job_name,
)


def finish(jobs: list[dict[str, Any]], name: str, state: str = "succeeded",
           at: str = "2024-01-01T00:00:00Z") -> None:
    job = next(j for j in jobs if j["metadata"]["name"] == name)
    kind = "Complete" if state == "succeeded" else "Failed"
    condition = {"type": kind, "status": "True", "lastTransitionTime": at}
    job["status"] = {"completionTime": at, "conditions": [condition]}


def request(rj: dict[str, Any], request_id: str) -> dict[str, Any]:
    return next(r for r in rj["status"]["requests"] if r["id"] == request_id)


def names(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["metadata"]["name"] for j in jobs]


def test_a_trigger_launches_once_also_while_suspended() -> None:
    rj = make_rj(suspend=True, triggers=[{"id": "now-1"}])
    jobs: list[dict[str, Any]] = []
    first = step(rj, jobs, "2024-01-01T00:30:00Z")
    assert (first.action, first.kind, first.request_id) == ("launch", "trigger", "now-1")
    assert first.job_name == "rj-t-now-1"
    annotations = jobs[0]["metadata"]["annotations"]
    assert annotations["recurringjob.dev/trigger-id"] == "now-1"
    assert annotations["recurringjob.dev/trigger-kind"] == "trigger"
    assert annotations["recurringjob.dev/scheduled-time"] == "2024-01-01T00:30:00Z"
    for second in range(1, 5):  # the id stays in spec: re-planning launches nothing more
        assert step(rj, jobs, f"2024-01-01T00:30:0{second}Z").job is None
    assert names(jobs) == ["rj-t-now-1"]
    assert request(rj, "now-1")["state"] == "Running"
    finish(jobs, "rj-t-now-1", "failed", "2024-01-01T00:31:00Z")
    step(rj, jobs, "2024-01-01T00:31:01Z")
    assert (request(rj, "now-1")["state"], request(rj, "now-1")["result"]) == ("Done", "failed")
    assert rj["status"]["recentRuns"][-1] | {"lagSeconds": 0} == {
        "scheduledTime": "2024-01-01T00:30:00Z", "fireTime": "2024-01-01T00:30:00Z", "lagSeconds": 0,
        "jobName": "rj-t-now-1", "kind": "trigger", "requestId": "now-1", "outcome": "Failed"}


def test_a_trigger_whose_create_was_lost_is_recreated_under_the_same_name() -> None:
    rj = make_rj(triggers=[{"id": "r"}])
    claim = plan(rj, [], utc("2024-01-01T00:30:00Z"))
    assert claim.job is not None and claim.status is not None
    rj["status"] = claim.status  # the claim landed; the leader died before the create
    recovery = plan(rj, [], utc("2024-01-01T00:30:05Z"))
    assert recovery.job is None
    assert [m["metadata"]["name"] for m in recovery.recreate] == ["rj-t-r"]
    assert recovery.recreate[0]["metadata"]["annotations"] == claim.job["metadata"]["annotations"]


def test_two_planners_from_one_version_name_the_same_job() -> None:
    """The claim's resourceVersion check lets only one write land; even if both created, the
    deterministic name makes the second create an AlreadyExists."""
    rj = make_rj(triggers=[{"id": "r"}], backfills=[{"id": "b", "from": "2023-12-31T22:00:00Z",
                                                      "to": "2023-12-31T23:00:00Z"}])
    one = plan(copy.deepcopy(rj), [], utc("2024-01-01T00:30:00Z"))
    other = plan(rj, [], utc("2024-01-01T00:30:09Z"))
    assert one.job_name == other.job_name == trigger_job_name("rj", "r")


def test_trigger_overlap_policies() -> None:
    running = make_rj(triggers=[{"id": "f", "overlapPolicy": "Forbid"}], concurrencyPolicy="BufferOne")
    jobs: list[dict[str, Any]] = []
    step(running, jobs, "2024-01-01T01:00:01Z")  # the scheduled occurrence is running
    assert names(jobs) == ["rj-1704070800"]
    assert step(running, jobs, "2024-01-01T01:00:02Z").job is None
    assert request(running, "f")["state"] == "Refused" and request(running, "f")["result"] == "skipped"
    assert "rj-1704070800 is running" in request(running, "f")["message"]
    # BufferOne (the spec's policy) waits Pending, then starts once nothing runs
    running["spec"]["triggers"].append({"id": "w"})
    assert step(running, jobs, "2024-01-01T01:00:03Z").job is None
    assert request(running, "w")["state"] == "Pending"
    finish(jobs, "rj-1704070800", at="2024-01-01T01:05:00Z")
    launched = step(running, jobs, "2024-01-01T01:05:01Z")
    assert launched.job_name == "rj-t-w" and request(running, "w")["state"] == "Running"


def test_trigger_replace_deletes_the_running_job_first() -> None:
    rj = make_rj(triggers=[], concurrencyPolicy="Replace")
    jobs: list[dict[str, Any]] = []
    step(rj, jobs, "2024-01-01T01:00:01Z")
    rj["spec"]["triggers"] = [{"id": "x"}]
    decision = step(rj, jobs, "2024-01-01T01:00:05Z")
    assert decision.delete_active == ("rj-1704070800",) and decision.job_name == "rj-t-x"
    assert rj["status"]["pendingDeletions"] == ["rj-1704070800"]


def test_a_backfill_launches_each_missed_occurrence_once_even_when_re_sent() -> None:
    # created at midnight, the operator was down until 06:00: catchUp Latest ran only 06:00
    rj = make_rj(created="2024-01-01T00:00:00Z")
    jobs: list[dict[str, Any]] = []
    step(rj, jobs, "2024-01-01T06:00:01Z")
    rj["spec"]["backfills"] = [{"id": "b", "from": "2024-01-01T00:00:00Z", "to": "2024-01-01T08:00:00Z"}]
    for second in range(2, 12):
        step(rj, jobs, f"2024-01-01T06:00:{second:02}Z")
    entry = request(rj, "b")
    # 00:00..05:00 launched (00:00 was before the schedule's anchor: it never ran); 06:00's Job
    # exists (it ran by schedule); 07:00 and 08:00 are the schedule's to run
    assert entry | {"acceptedAt": "-"} == {
        "id": "b", "kind": "backfill", "state": "Running", "from": "2024-01-01T00:00:00Z",
        "to": "2024-01-01T08:00:00Z", "until": "2024-01-01T06:59:59Z", "acceptedAt": "-",
        "total": 7, "launched": 6, "skipped": 0, "alreadyRan": 1}
    assert sorted(names(jobs)) == [f"rj-{1704067200 + h * 3600}" for h in range(7)]
    assert all(j["metadata"]["annotations"]["recurringjob.dev/trigger-kind"] == "backfill"
               for j in jobs if j["metadata"]["name"] != "rj-1704088800")
    # a second command with the same id (or plain re-planning) launches nothing new
    for second in range(12, 20):
        assert step(rj, jobs, f"2024-01-01T06:00:{second:02}Z").job is None
    for name in names(jobs):
        finish(jobs, name, at="2024-01-01T06:30:00Z")
    step(rj, jobs, "2024-01-01T06:30:01Z")
    assert request(rj, "b")["state"] == "Done"


def test_a_backfill_survives_a_leader_change_midway() -> None:
    rj = make_rj(created="2024-01-01T00:00:00Z",
                 backfills=[{"id": "b", "from": "2024-01-01T01:00:00Z", "to": "2024-01-01T04:00:00Z"}])
    jobs: list[dict[str, Any]] = []
    step(rj, jobs, "2024-01-01T05:00:01Z")  # the schedule's own 05:00 first
    step(rj, jobs, "2024-01-01T05:00:02Z")  # backfill 01:00
    claim = plan(rj, jobs, utc("2024-01-01T05:00:03Z"))  # backfill 02:00 claimed ...
    assert claim.job_name == "rj-1704074400" and claim.status is not None
    rj["status"] = claim.status  # ... and the leader dies before creating it
    recovery = step(rj, jobs, "2024-01-01T05:00:30Z")
    assert [m["metadata"]["name"] for m in recovery.recreate] == ["rj-1704074400"]
    assert recovery.recreate[0]["metadata"]["annotations"]["recurringjob.dev/trigger-id"] == "b"
    for second in range(31, 40):
        step(rj, jobs, f"2024-01-01T05:00:{second}Z")
    launched = sorted(names(jobs))
    assert launched == sorted(set(launched)) == [f"rj-{1704067200 + h * 3600}" for h in range(1, 6)]
    assert request(rj, "b")["launched"] == 4


def test_backfill_forbid_skips_and_buffer_waits() -> None:
    window = {"id": "b", "from": "2024-01-01T01:00:00Z", "to": "2024-01-01T03:00:00Z"}
    forbid = make_rj(created="2024-01-01T00:00:00Z", backfills=[window | {"overlapPolicy": "Forbid"}])
    jobs: list[dict[str, Any]] = []
    for second in range(1, 6):
        step(forbid, jobs, f"2024-01-01T05:00:0{second}Z")
    assert (request(forbid, "b")["launched"], request(forbid, "b")["skipped"]) == (0, 3)
    buffered = make_rj(created="2024-01-01T00:00:00Z", backfills=[window | {"overlapPolicy": "BufferAll"}])
    jobs = []
    step(buffered, jobs, "2024-01-01T05:00:01Z")
    step(buffered, jobs, "2024-01-01T05:00:02Z")
    assert request(buffered, "b")["launched"] == 0
    assert "waiting for rj-1704085200" in request(buffered, "b")["message"]
    for minute, name in enumerate(["rj-1704085200", "rj-1704070800", "rj-1704074400"], start=1):
        finish(jobs, name, at=f"2024-01-01T05:0{minute}:00Z")
        step(buffered, jobs, f"2024-01-01T05:0{minute}:01Z")
        assert len([j for j in jobs if not j.get("status")]) == 1  # one at a time
    assert request(buffered, "b")["launched"] == 3


def test_backfill_refusals() -> None:
    over = make_rj("* * * * *", backfills=[{"id": "big", "from": "2023-12-01T00:00:00Z",
                                             "to": "2023-12-01T16:40:00Z"}])
    decision = step(over, [], "2024-01-01T00:00:30Z")
    assert decision.job is None or decision.kind == "schedule"
    step(over, [], "2024-01-01T00:00:31Z")
    message = backfill_limit_message("big", utc("2023-12-01T00:00:00Z"), utc("2023-12-01T16:40:00Z"))
    assert message == ("backfill big: 2023-12-01T00:00:00Z..2023-12-01T16:40:00Z holds more than 1000 "
                       "occurrences: split the range")
    assert (request(over, "big")["state"], request(over, "big")["message"]) == ("Refused", message)
    assert count_backfill(over, utc("2023-12-01T00:00:00Z"), utc("2023-12-01T16:39:00Z")) == BACKFILL_LIMIT
    backwards = make_rj(backfills=[{"id": "rev", "from": "2023-12-02T00:00:00Z",
                                    "to": "2023-12-01T00:00:00Z"}])
    refused = step(backwards, [], "2024-01-01T00:30:00Z")
    assert "BackfillRefused" in refused.warnings
    assert request(backwards, "rev")["message"] == \
        "backfill rev: to (2023-12-01T00:00:00Z) is before from (2023-12-02T00:00:00Z)"


def test_a_backfill_across_dst_runs_each_wall_clock_time_once() -> None:
    # America/New_York: fall back 2023-11-05 02:00 EDT -> 01:00 EST; spring forward 2024-03-10 02:00 -> 03:00
    fall = make_rj("30 1 * * *", timeZone="America/New_York", created="2023-11-01T00:00:00Z",
                   backfills=[{"id": "f", "from": "2023-11-04T00:00:00Z", "to": "2023-11-06T23:00:00Z"}])
    jobs: list[dict[str, Any]] = []
    for second in range(10):
        step(fall, jobs, f"2023-11-08T12:00:0{second}Z")
    backfilled = sorted(j["metadata"]["annotations"]["recurringjob.dev/scheduled-time"] for j in jobs
                        if j["metadata"]["annotations"]["recurringjob.dev/trigger-kind"] == "backfill")
    assert backfilled == ["2023-11-04T05:30:00Z", "2023-11-05T05:30:00Z", "2023-11-06T06:30:00Z"]
    spring = make_rj("30 2 * * *", timeZone="America/New_York", created="2024-03-01T00:00:00Z",
                     backfills=[{"id": "s", "from": "2024-03-09T00:00:00Z", "to": "2024-03-11T23:00:00Z"}])
    jobs = []
    for second in range(10):
        step(spring, jobs, f"2024-03-13T12:00:0{second}Z")
    backfilled = sorted(j["metadata"]["annotations"]["recurringjob.dev/scheduled-time"] for j in jobs
                        if j["metadata"]["annotations"]["recurringjob.dev/trigger-kind"] == "backfill")
    # 02:30 does not exist on March 10th: it runs at the jump (03:00 EDT = 07:00Z), once
    assert backfilled == ["2024-03-09T07:30:00Z", "2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"]


def test_decided_requests_are_retained_while_in_spec_and_50_others() -> None:
    rj = make_rj(suspend=True, triggers=[{"id": f"t{i}"} for i in range(20)])
    jobs: list[dict[str, Any]] = []
    start = utc("2024-01-01T00:30:00Z")
    for i in range(25):
        step(rj, jobs, start + timedelta(seconds=i))
    assert len(rj["status"]["requests"]) == 20 and len(jobs) == 20
    rj["spec"]["triggers"] = []  # the plugin trimmed them: their outcome stays visible
    step(rj, jobs, start + timedelta(seconds=30))
    assert len(rj["status"]["requests"]) == 20


def test_lost_creates_of_requests_are_recovered_whatever_the_deadline() -> None:
    """startingDeadlineSeconds is the schedule's: a backfilled time is hours old by design, and a
    run-now request has no deadline; a claimed Job of either that was never created is created."""
    rj = make_rj(created="2024-01-01T00:00:00Z", startingDeadlineSeconds=60, triggers=[{"id": "now"}],
                 backfills=[{"id": "b", "from": "2024-01-01T01:00:00Z", "to": "2024-01-01T01:00:00Z"}])
    jobs: list[dict[str, Any]] = []
    step(rj, jobs, "2024-01-01T05:00:01Z")  # the schedule's 05:00
    for second in (2, 3):
        claim = plan(rj, jobs, utc(f"2024-01-01T05:00:0{second}Z"))
        assert claim.kind in ("trigger", "backfill") and claim.status is not None
        rj["status"] = claim.status  # claimed, never created
    recovery = plan(rj, jobs, utc("2024-01-01T05:10:00Z"))
    assert sorted(m["metadata"]["name"] for m in recovery.recreate) == ["rj-1704070800", "rj-t-now"]
    assert recovery.missed == 0


@settings(max_examples=30, deadline=None)
@given(zone=st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago",
                             "Asia/Tehran", "Pacific/Chatham"]),
       hour=st.integers(0, 23), minute=st.sampled_from([0, 15, 30, 45]),
       start_day=st.integers(0, 300), days=st.integers(1, 60))
def test_a_backfill_across_dst_launches_each_local_day_once(zone: str, hour: int, minute: int, start_day: int,
                                                            days: int) -> None:
    start = utc("2023-01-01T00:00:00Z") + timedelta(days=start_day)
    end = start + timedelta(days=days)
    rj = make_rj(f"{minute} {hour} * * *", timeZone=zone, created="2022-12-01T00:00:00Z",
                 backfills=[{"id": "b", "from": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "to": end.strftime("%Y-%m-%dT%H:%M:%SZ")}], successfulJobsHistoryLimit=100)
    jobs: list[dict[str, Any]] = []
    now = utc("2024-06-01T00:00:00Z")
    for second in range(days + 5):
        step(rj, jobs, now + timedelta(seconds=second))
    kind = "recurringjob.dev/trigger-kind"
    backfilled = [j for j in jobs if j["metadata"]["annotations"][kind] == "backfill"]
    times = [utc(j["metadata"]["annotations"]["recurringjob.dev/scheduled-time"]) for j in backfilled]
    expected = occurrence_stream(rj).occurrences(start - timedelta(seconds=1), end, 1000)
    assert sorted(times) == expected and len(set(times)) == len(times)
    local_days = [t.astimezone(ZoneInfo(zone)).date() for t in times]
    assert len(set(local_days)) == len(local_days)  # never twice on a day (fall back)
    assert request(rj, "b")["launched"] == len(expected) == request(rj, "b")["total"]


def test_a_trigger_outcome_is_booked_while_the_schedule_keeps_the_planner_busy() -> None:
    # found in the long chaos run: every plan of an every-second schedule had an occurrence due,
    # the outcome was only booked when nothing was, and history pruning removed the finished Job
    # first: a trigger that succeeded was reported "missed"
    rj = make_rj("* * * * * *", triggers=[{"id": "now-1"}])
    jobs: list[dict[str, Any]] = []
    for _ in range(5):  # the first plans observe the schedule, then launch the trigger
        step(rj, jobs, "2024-01-01T00:30:00Z")
    assert request(rj, "now-1")["state"] == "Running"
    finish(jobs, "rj-t-now-1", "succeeded", "2024-01-01T00:30:01Z")
    busy = step(rj, jobs, "2024-01-01T00:30:05Z")  # occurrences are due: the schedule launches
    assert busy.action == "launch" and busy.kind == "schedule"
    assert (request(rj, "now-1")["state"], request(rj, "now-1").get("result")) == ("Done", "succeeded")
