"""Table-driven tests of the pure planner: CronJob defaults, policies, DST, edits, recovery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from planner_helpers import make_job, make_rj, step, utc
from recurringjob.core.planner import plan


def status_at(cursor: str, schedule: str = "0 * * * *", zone: str = "", **extra: Any) -> dict[str, Any]:
    """A status as the planner leaves it after first sight at creation (2024-01-01T00:00Z)."""
    return {
        "observedGeneration": 1,
        "scheduleFrom": "2024-01-01T00:00:00Z",
        "observedSchedule": f"{schedule}|{zone}",
        "nextScheduleTime": cursor,
        **extra,
    }


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


# -- CronJob-default cases: (name, rj, jobs, now, expected to_json subset) ---------------------

CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], str, dict[str, Any]]] = [
    (
        "first sight, nothing due",
        make_rj("0 * * * *"),
        [],
        "2024-01-01T00:30:00Z",
        {"action": "wait", "nextScheduleTime": "2024-01-01T01:00:00Z", "requeueAfterSeconds": 1800.0},
    ),
    (
        "hourly, due",
        make_rj(status=status_at("2024-01-01T01:00:00Z")),
        [],
        "2024-01-01T01:00:00.2Z",
        {
            "action": "launch",
            "scheduledTime": "2024-01-01T01:00:00Z",
            "jobName": "rj-1704070800",
            "nextScheduleTime": "2024-01-01T02:00:00Z",
            "missed": 0,
            "warnings": [],
        },
    ),
    (
        "first sight with a due occurrence runs it",
        make_rj("0 * * * *"),
        [],
        "2024-01-01T01:00:05Z",
        {"action": "launch", "scheduledTime": "2024-01-01T01:00:00Z", "missed": 0},
    ),
    (
        "weekdays skip the weekend",
        make_rj("0 9 * * MON-FRI", created="2024-01-05T10:00:00Z"),
        [],
        "2024-01-08T09:00:30Z",
        {"action": "launch", "scheduledTime": "2024-01-08T09:00:00Z", "missed": 0},
    ),
    (
        "weekly",
        make_rj("@weekly"),
        [],
        "2024-01-07T00:00:01Z",
        {
            "action": "launch",
            "scheduledTime": "2024-01-07T00:00:00Z",
            "nextScheduleTime": "2024-01-14T00:00:00Z",
        },
    ),
    (
        "@every is anchored at creation",
        make_rj("@every 90s", created="2024-01-01T00:00:10Z"),
        [],
        "2024-01-01T00:01:41Z",
        {
            "action": "launch",
            "scheduledTime": "2024-01-01T00:01:40Z",
            "nextScheduleTime": "2024-01-01T00:03:10Z",
        },
    ),
    (
        "missed runs: only the latest runs",
        make_rj(status=status_at("2024-01-01T01:00:00Z")),
        [],
        "2024-01-01T05:30:00Z",
        {
            "action": "launch",
            "scheduledTime": "2024-01-01T05:00:00Z",
            "missed": 4,
            "warnings": [],
            "nextScheduleTime": "2024-01-01T06:00:00Z",
            "requeueAfterSeconds": 1800.0,
        },
    ),
    (
        "more than 100 missed: warn, still run the latest",
        make_rj("* * * * *", status=status_at("2024-01-01T00:01:00Z", "* * * * *")),
        [],
        "2024-01-01T03:00:10Z",
        {
            "action": "launch",
            "scheduledTime": "2024-01-01T03:00:00Z",
            "missed": 179,
            "warnings": ["TooManyMissedTimes"],
        },
    ),
    (
        "exactly 100 due (99 missed): no warning, as CronJob",
        make_rj("* * * * *", status=status_at("2024-01-01T00:01:00Z", "* * * * *")),
        [],
        "2024-01-01T01:40:00Z",
        {"action": "launch", "missed": 99, "warnings": []},
    ),
    (
        "101 due (100 missed): TooManyMissedTimes",
        make_rj("* * * * *", status=status_at("2024-01-01T00:01:00Z", "* * * * *")),
        [],
        "2024-01-01T01:41:00Z",
        {"action": "launch", "missed": 100, "warnings": ["TooManyMissedTimes"]},
    ),
    (
        "the deadline bounds the TooManyMissedTimes count, as CronJob",
        make_rj(
            "* * * * *", status=status_at("2024-01-01T00:01:00Z", "* * * * *"), startingDeadlineSeconds=600
        ),
        [],
        "2024-01-01T03:00:10Z",
        {"action": "launch", "missed": 179, "warnings": []},
    ),
    (
        "deadline passed: missed, never launched",
        make_rj(status=status_at("2024-01-01T01:00:00Z"), startingDeadlineSeconds=60),
        [],
        "2024-01-01T05:02:00Z",
        {
            "action": "skip",
            "scheduledTime": "2024-01-01T05:00:00Z",
            "jobName": None,
            "missed": 5,
            "warnings": ["MissSchedule"],
            "nextScheduleTime": "2024-01-01T06:00:00Z",
        },
    ),
    (
        "deadline met exactly: launched",
        make_rj(status=status_at("2024-01-01T05:00:00Z"), startingDeadlineSeconds=60),
        [],
        "2024-01-01T05:01:00.9Z",
        {"action": "launch", "scheduledTime": "2024-01-01T05:00:00Z"},
    ),
    (
        "deadline counts from the latest occurrence",
        make_rj(status=status_at("2024-01-01T01:00:00Z"), startingDeadlineSeconds=600),
        [],
        "2024-01-01T05:05:00Z",
        {"action": "launch", "scheduledTime": "2024-01-01T05:00:00Z", "missed": 4},
    ),
    (
        "Allow runs beside an active Job",
        make_rj(status=status_at("2024-01-01T02:00:00Z", active=[{"name": "rj-1704070800"}])),
        [make_job("rj-1704070800")],
        "2024-01-01T02:00:00Z",
        {"action": "launch", "deleteActive": []},
    ),
    (
        "Forbid skips while a Job is active",
        make_rj(
            status=status_at("2024-01-01T02:00:00Z", active=[{"name": "rj-1704070800"}]),
            concurrencyPolicy="Forbid",
        ),
        [make_job("rj-1704070800")],
        "2024-01-01T02:00:00Z",
        {
            "action": "skip",
            "scheduledTime": "2024-01-01T02:00:00Z",
            "nextScheduleTime": "2024-01-01T03:00:00Z",
            "missed": 0,
        },
    ),
    (
        "Forbid counts running Jobs missing from active",
        make_rj(status=status_at("2024-01-01T02:00:00Z"), concurrencyPolicy="Forbid"),
        [make_job("rj-1704070800")],
        "2024-01-01T02:00:00Z",
        {"action": "skip"},
    ),
    (
        "Forbid runs once the active Job finished",
        make_rj(
            status=status_at("2024-01-01T02:00:00Z", active=[{"name": "rj-1704070800"}]),
            concurrencyPolicy="Forbid",
        ),
        [make_job("rj-1704070800", "succeeded", "2024-01-01T01:10:00Z")],
        "2024-01-01T02:00:00Z",
        {"action": "launch"},
    ),
    (
        "Replace deletes the active Job and launches",
        make_rj(
            status=status_at("2024-01-01T02:00:00Z", active=[{"name": "rj-1704070800"}]),
            concurrencyPolicy="Replace",
        ),
        [make_job("rj-1704070800")],
        "2024-01-01T02:00:00Z",
        {"action": "launch", "deleteActive": ["rj-1704070800"], "jobName": "rj-1704074400"},
    ),
    (
        "suspended: nothing runs, the cursor stays",
        make_rj(status=status_at("2024-01-01T01:00:00Z"), suspend=True),
        [],
        "2024-01-01T05:30:00Z",
        {"action": "wait", "nextScheduleTime": "2024-01-01T01:00:00Z", "requeueAfterSeconds": None},
    ),
    (
        "invalid schedule",
        make_rj("0 0 31 2 *"),
        [],
        "2024-01-01T05:30:00Z",
        {
            "action": "wait",
            "warnings": ["InvalidSchedule"],
            "requeueAfterSeconds": None,
            "nextScheduleTime": None,
        },
    ),
    (
        "TZ= inside the schedule",
        make_rj("TZ=UTC 0 * * * *"),
        [],
        "2024-01-01T05:30:00Z",
        {"action": "wait", "warnings": ["InvalidSchedule"]},
    ),
    (
        "unknown time zone",
        make_rj(timeZone="Europe/Atlantis"),
        [],
        "2024-01-01T05:30:00Z",
        {"action": "wait", "warnings": ["UnknownTimeZone"], "requeueAfterSeconds": None},
    ),
    (
        "invalid spec",
        make_rj(concurrencyPolicy="Sometimes"),
        [],
        "2024-01-01T05:30:00Z",
        {"action": "wait", "warnings": ["InvalidSpec"], "requeueAfterSeconds": None},
    ),
    (
        "clock behind creation: wait",
        make_rj(created="2024-01-01T05:00:00Z"),
        [],
        "2024-01-01T04:00:00Z",
        {"action": "wait", "nextScheduleTime": "2024-01-01T06:00:00Z"},
    ),
]


@pytest.mark.parametrize(("rj", "jobs", "now", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_table(
    rj: dict[str, Any], jobs: list[dict[str, Any]], now: str, expected: dict[str, Any]
) -> None:
    result = plan(rj, jobs, utc(now)).to_json()
    assert {k: result[k] for k in expected} == expected, result["reason"]
    assert result["reason"].endswith(".")


def test_launch_status_and_job() -> None:
    rj = make_rj(status=status_at("2024-01-01T01:00:00Z"))
    decision = plan(rj, [], utc("2024-01-01T01:00:01Z"))
    assert decision.status is not None and decision.job is not None
    assert decision.status["nextScheduleTime"] == "2024-01-01T02:00:00Z"
    assert decision.status["lastScheduleTime"] == "2024-01-01T01:00:00Z"
    assert decision.status["active"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "rj-1704070800", "namespace": "default"}
    ]
    assert condition(decision.status, "Ready")["status"] == "True"
    assert condition(decision.status, "Suspended")["status"] == "False"
    assert decision.job["metadata"]["name"] == "rj-1704070800"
    assert (
        decision.job["metadata"]["annotations"]["recurringjob.dev/scheduled-time"] == "2024-01-01T01:00:00Z"
    )


def test_missed_and_skipped_counters_accumulate() -> None:
    rj = make_rj(status=status_at("2024-01-01T01:00:00Z", missedOccurrences=2), startingDeadlineSeconds=10)
    assert step(rj, [], "2024-01-01T03:00:30Z").action == "skip"
    assert rj["status"]["missedOccurrences"] == 5
    rj = make_rj(
        status=status_at("2024-01-01T02:00:00Z", active=[{"name": "rj-1704070800"}]),
        concurrencyPolicy="Forbid",
    )
    jobs = [make_job("rj-1704070800")]
    step(rj, jobs, "2024-01-01T02:00:00Z")
    step(rj, jobs, "2024-01-01T03:00:00Z")
    assert rj["status"]["skippedOccurrences"] == 2
    assert "missedOccurrences" not in rj["status"]


def test_no_status_write_when_nothing_changed() -> None:
    rj = make_rj()
    first = step(rj, [], "2024-01-01T00:10:00Z")
    assert first.status is not None  # first sight records the anchor and the cursor
    again = plan(rj, [], utc("2024-01-01T00:20:00Z"))
    assert again.status is None and again.action == "wait" and again.requeue_after == 2400.0


def test_replace_recovers_an_unlaunched_claim_before_replacing_it() -> None:
    """Every claimed occurrence runs: the never-created Job is created first, then replaced."""
    rj = make_rj(
        status=status_at("2024-01-01T02:00:00Z", active=[{"name": "rj-1704070800"}]),
        concurrencyPolicy="Replace",
    )
    jobs: list[dict[str, Any]] = []
    recovery = step(rj, jobs, "2024-01-01T02:00:00Z")  # the claimed Job was never created
    assert recovery.action == "wait" and recovery.missed == 0
    assert [m["metadata"]["name"] for m in recovery.recreate] == ["rj-1704070800"]
    replace = step(rj, jobs, "2024-01-01T02:00:01Z")
    assert replace.action == "launch" and replace.delete_active == ("rj-1704070800",)
    assert [ref["name"] for ref in rj["status"]["active"]] == ["rj-1704074400"]


# -- suspend and resume: catchUp applies to what was missed meanwhile --------------------------


@pytest.mark.parametrize(
    ("catch_up", "now", "expected"),
    [
        (
            "Latest",
            "2024-01-01T05:30:00Z",
            {"action": "launch", "scheduledTime": "2024-01-01T05:00:00Z", "missed": 4},
        ),
        (
            "All",
            "2024-01-01T05:30:00Z",
            {
                "action": "launch",
                "scheduledTime": "2024-01-01T01:00:00Z",
                "missed": 0,
                "requeueAfterSeconds": 0.0,
            },
        ),
        ("None", "2024-01-01T05:30:00Z", {"action": "skip", "missed": 5, "warnings": ["MissSchedule"]}),
        (
            "None",
            "2024-01-01T05:00:40Z",
            {"action": "launch", "scheduledTime": "2024-01-01T05:00:00Z", "missed": 4},
        ),
    ],
)
def test_resume_applies_catch_up(catch_up: str, now: str, expected: dict[str, Any]) -> None:
    rj = make_rj(status=status_at("2024-01-01T01:00:00Z"), suspend=True, catchUp=catch_up)
    suspended = step(rj, [], "2024-01-01T04:00:00Z")
    assert suspended.action == "wait" and suspended.job is None
    assert condition(rj["status"], "Suspended")["status"] == "True"
    assert "4 occurrence(s) came due" in suspended.reason
    rj["spec"]["suspend"] = False
    result = step(rj, [], now).to_json()
    assert {k: result[k] for k in expected} == expected, result["reason"]
    assert condition(rj["status"], "Suspended")["status"] == "False"


# -- catchUp policies ---------------------------------------------------------------------------


def test_catch_up_all_launches_each_occurrence_oldest_first() -> None:
    rj = make_rj(status=status_at("2024-01-01T01:00:00Z"), catchUp="All")
    jobs: list[dict[str, Any]] = []
    launched = []
    for _ in range(10):
        decision = step(rj, jobs, "2024-01-01T05:30:00Z")
        if decision.action != "launch":
            break
        launched.append(decision.to_json()["scheduledTime"][11:16])
    assert launched == ["01:00", "02:00", "03:00", "04:00", "05:00"]
    assert decision.action == "wait" and decision.requeue_after == 1800.0


def test_catch_up_all_is_bounded_by_max_catch_up_and_deadline() -> None:
    rj = make_rj(status=status_at("2024-01-01T01:00:00Z"), catchUp="All", maxCatchUp=2)
    first = step(rj, [], "2024-01-01T05:30:00Z")
    assert (first.to_json()["scheduledTime"], first.missed) == ("2024-01-01T04:00:00Z", 3)
    rj = make_rj(status=status_at("2024-01-01T01:00:00Z"), catchUp="All", startingDeadlineSeconds=7200)
    first = step(rj, [], "2024-01-01T05:30:00Z")
    assert (first.to_json()["scheduledTime"], first.missed) == ("2024-01-01T04:00:00Z", 3)
    rj = make_rj(status=status_at("2024-01-01T01:00:00Z"), catchUp="All", startingDeadlineSeconds=60)
    first = step(rj, [], "2024-01-01T05:30:00Z")
    assert (first.action, first.missed, first.warnings) == ("skip", 5, ("MissSchedule",))


def test_catch_up_none_tolerance_is_bounded_by_the_deadline() -> None:
    rj = make_rj(status=status_at("2024-01-01T05:00:00Z"), catchUp="None", startingDeadlineSeconds=10)
    assert plan(rj, [], utc("2024-01-01T05:00:10Z")).action == "launch"
    assert plan(rj, [], utc("2024-01-01T05:00:11Z")).action == "skip"
    rj = make_rj(status=status_at("2024-01-01T05:00:00Z"), catchUp="None")
    assert plan(rj, [], utc("2024-01-01T05:01:00Z")).action == "launch"
    assert plan(rj, [], utc("2024-01-01T05:01:01Z")).action == "skip"


# -- edits never fire a past occurrence ---------------------------------------------------------


def test_schedule_edit_reanchors_at_now() -> None:
    # the old cursor (01:00) is due, but the edit makes the new schedule count from now; the old
    # schedule's undecided occurrences (01:00 .. 05:00) are given up and counted, not dropped
    rj = make_rj("30 * * * *", status=status_at("2024-01-01T01:00:00Z"))
    decision = step(rj, [], "2024-01-01T05:45:00Z")
    assert decision.action == "wait" and decision.missed == 5
    assert rj["status"]["scheduleFrom"] == "2024-01-01T05:45:00Z"
    assert rj["status"]["observedSchedule"] == "30 * * * *|"
    assert rj["status"]["nextScheduleTime"] == "2024-01-01T06:30:00Z"
    assert "edited" in decision.reason


def test_time_zone_edit_reanchors_and_noop_edit_does_not() -> None:
    rj = make_rj(status=status_at("2024-01-01T05:00:00Z"))
    rj["metadata"]["generation"] = 7  # e.g. a label or image change: same schedule
    assert plan(rj, [], utc("2024-01-01T05:00:30Z")).action == "launch"
    rj["spec"]["timeZone"] = "Asia/Kolkata"  # +05:30: 05:30Z is 11:00 local
    decision = plan(rj, [], utc("2024-01-01T05:30:00Z"))
    assert decision.action == "wait" and decision.to_json()["nextScheduleTime"] == "2024-01-01T06:30:00Z"


def test_fixing_an_invalid_schedule_starts_from_the_fix() -> None:
    rj = make_rj("0 0 31 2 *")
    first = step(rj, [], "2024-01-01T00:10:00Z")
    assert first.warnings == ("InvalidSchedule",)
    assert condition(rj["status"], "Ready") | {"lastTransitionTime": "-"} == {
        "type": "Ready",
        "status": "False",
        "reason": "InvalidSchedule",
        "message": first.status and condition(first.status, "Ready")["message"],
        "lastTransitionTime": "-",
        "observedGeneration": 1,
    }
    again = step(rj, [], "2024-01-01T00:20:00Z")
    assert again.warnings == () and again.status is None  # one event per change, no write
    rj["spec"]["schedule"] = "0 * * * *"
    fixed = step(rj, [], "2024-01-01T05:10:00Z")
    assert fixed.action == "wait" and rj["status"]["nextScheduleTime"] == "2024-01-01T06:00:00Z"
    assert condition(rj["status"], "Ready")["status"] == "True"


# -- recovery, bookkeeping, pruning -------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "now", "recreated", "missed"),
    [
        (None, "2024-01-02T00:00:00Z", 1, 0),
        (300, "2024-01-01T01:05:00Z", 1, 0),
        (300, "2024-01-01T01:05:01Z", 0, 1),
    ],
)
def test_recovery_of_claimed_jobs(deadline: int | None, now: str, recreated: int, missed: int) -> None:
    spec = {"startingDeadlineSeconds": deadline} if deadline is not None else {}
    status = status_at("2099-01-01T00:00:00Z", active=[{"name": "rj-1704070800"}, {"name": "foreign"}])
    rj = make_rj(status=status, **spec)
    decision = plan(rj, [], utc(now))
    assert len(decision.recreate) == recreated and decision.missed == missed
    assert decision.status is not None
    assert [r["name"] for r in decision.status["active"]] == ["rj-1704070800"] * recreated
    if recreated:
        assert decision.recreate[0]["metadata"]["name"] == "rj-1704070800"
    else:
        assert decision.warnings == ("MissSchedule",)


def test_finished_jobs_leave_active_and_completion_times_never_move_back() -> None:
    status = status_at(
        "2024-01-01T05:00:00Z",
        lastSuccessfulTime="2024-01-01T04:30:00Z",
        active=[{"name": "rj-1704081600"}, {"name": "rj-1704085200"}],
    )
    rj = make_rj(status=status)
    jobs = [
        make_job("rj-1704070800", "succeeded", "2024-01-01T01:05:00Z"),  # older than recorded
        make_job("rj-1704081600", "failed", "2024-01-01T04:10:00Z"),
        make_job("rj-1704085200"),
    ]
    decision = plan(rj, jobs, utc("2024-01-01T04:40:00Z"))
    assert decision.status is not None
    assert [r["name"] for r in decision.status["active"]] == ["rj-1704085200"]
    assert decision.status["lastSuccessfulTime"] == "2024-01-01T04:30:00Z"
    assert decision.status["lastFailedTime"] == "2024-01-01T04:10:00Z"


def test_pruning_keeps_the_newest_and_never_active_or_deleting_jobs() -> None:
    hour = 1704067200
    succeeded = [
        make_job(f"rj-{hour + 3600 * i}", "succeeded", f"2024-01-01T0{i}:05:00Z") for i in range(1, 6)
    ]
    failed = [make_job(f"rj-{hour + 3600 * i}", "failed", f"2024-01-01T0{i}:05:00Z") for i in (6, 7)]
    deleting = make_job("rj-1704067200", "succeeded", "2024-01-01T00:05:00Z", deleting=True)
    rj = make_rj(
        status=status_at("2024-01-01T09:00:00Z", active=[{"name": f"rj-{hour + 3600}"}]),
        failedJobsHistoryLimit=1,
    )
    decision = plan(rj, [*succeeded, *failed, deleting], utc("2024-01-01T08:30:00Z"))
    # rj-…+3600 finished and leaves active in this very decision, so it is history now too
    assert decision.prune == (f"rj-{hour + 3600}", f"rj-{hour + 7200}", f"rj-{hour + 6 * 3600}")
    rj["spec"]["successfulJobsHistoryLimit"] = 0
    assert len(plan(rj, [*succeeded], utc("2024-01-01T08:30:00Z")).prune) == 5


def test_jobs_of_other_owners_are_ignored() -> None:
    foreign = make_job("rj-1704070800")
    foreign["metadata"]["ownerReferences"] = [{"controller": True, "uid": "someone-else"}]
    rj = make_rj(status=status_at("2024-01-01T02:00:00Z"), concurrencyPolicy="Forbid")
    assert plan(rj, [foreign], utc("2024-01-01T02:00:00Z")).action == "launch"


# -- DST through the planner --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "zone", "start", "end", "expected"),
    [
        (
            "30 2 * * *",
            "America/New_York",
            "2024-03-09T12:00:00Z",
            "2024-03-11T12:00:00Z",
            ["2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"],
        ),
        (
            "30 1 * * *",
            "America/New_York",
            "2024-11-02T12:00:00Z",
            "2024-11-04T12:00:00Z",
            ["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"],
        ),
        (
            "30 * * * *",
            "America/New_York",
            "2024-11-03T04:00:00Z",
            "2024-11-03T08:00:00Z",
            ["2024-11-03T04:30:00Z", "2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z", "2024-11-03T07:30:00Z"],
        ),
        (
            "30 * * * *",
            "America/New_York",
            "2024-03-10T05:00:00Z",
            "2024-03-10T08:00:00Z",
            ["2024-03-10T05:30:00Z", "2024-03-10T06:30:00Z", "2024-03-10T07:30:00Z"],
        ),
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2024-03-30T12:00:00Z",
            "2024-04-01T12:00:00Z",
            ["2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z"],
        ),
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2024-10-26T12:00:00Z",
            "2024-10-28T12:00:00Z",
            ["2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"],
        ),
        (
            "*/30 * * * *",
            "Europe/Berlin",
            "2024-10-26T23:50:00Z",
            "2024-10-27T02:00:00Z",
            [
                "2024-10-27T00:00:00Z",
                "2024-10-27T00:30:00Z",
                "2024-10-27T01:00:00Z",
                "2024-10-27T01:30:00Z",
                "2024-10-27T02:00:00Z",
            ],
        ),
        (
            "*/30 * * * *",
            "Europe/Berlin",
            "2024-03-30T23:50:00Z",
            "2024-03-31T01:40:00Z",
            ["2024-03-31T00:00:00Z", "2024-03-31T00:30:00Z", "2024-03-31T01:00:00Z", "2024-03-31T01:30:00Z"],
        ),
    ],
)
def test_dst_launches_through_the_planner(
    schedule: str, zone: str, start: str, end: str, expected: list[str]
) -> None:
    """Plan every 10 minutes across a transition: exactly the expected launches, each once."""
    rj = make_rj(schedule, created=start, timeZone=zone)
    jobs: list[dict[str, Any]] = []
    launched, now = [], utc(start)
    while now <= utc(end):
        decision = step(rj, jobs, now)
        if decision.action == "launch":
            launched.append(decision.to_json()["scheduledTime"])
        now += timedelta(minutes=10)
    assert launched == expected


# -- never raises --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rj",
    [
        {},
        {"metadata": None},
        {"metadata": {"name": "x"}, "spec": []},
        make_rj(status={"active": "nope", "nextScheduleTime": 5, "conditions": "bad", "scheduleFrom": "x"}),
        make_rj(status={"active": [None, {"name": 3}], "observedSchedule": 1}),
        make_rj(maxCatchUp=0),
        make_rj(startingDeadlineSeconds=-1),
        make_rj(suspend="yes"),
        make_rj(successfulJobsHistoryLimit=True),
        make_rj(schedule=None),
    ],
)
def test_plan_never_raises(rj: dict[str, Any]) -> None:
    decision = plan(
        rj,
        [None, {"metadata": "x"}, {"metadata": {"name": "rj-1"}, "status": []}],  # type: ignore[list-item]
        utc("2024-01-01T05:00:00Z"),
    )
    assert decision.reason and "PlannerError" not in decision.warnings


@pytest.mark.parametrize("schedule", ["@every 999999999h", "@every 8785h", "@every " + "9" * 400 + "h"])
def test_an_absurd_every_interval_is_reported_as_an_invalid_schedule(schedule: str) -> None:
    decision = plan(make_rj(schedule), [], utc("2024-01-01T05:30:00Z"))
    assert decision.warnings == ("InvalidSchedule",), decision.reason
    ready = next(c for c in decision.status["conditions"] if c["type"] == "Ready")  # type: ignore[index]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSchedule")
    assert "8784h" in ready["message"]
