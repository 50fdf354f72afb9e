"""The exactly-once verdict, on synthetic audit lines: each kind of failure must be caught."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from recurringjob.evidence.final_status import last_successful_mismatches
from recurringjob.evidence.verdict import (
    Fault,
    JudgedRecurringJob,
    compute_verdict,
    parse_audit_lines,
    percentile,
)

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
EVERY_2S = JudgedRecurringJob("default", "tick", "*/2 * * * * *")
DAILY_BERLIN = JudgedRecurringJob("default", "daily", "30 9 * * *", "Europe/Berlin")


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def job_create(
    rj: str,
    scheduled: datetime | str | None,
    delay: float = 0.05,
    code: int = 201,
    client: str = "replica-1",
    namespace: str = "default",
    at: float | None = None,
) -> dict[str, Any]:
    annotations = {}
    if scheduled is not None:
        annotations["recurringjob.dev/scheduled-time"] = (
            scheduled if isinstance(scheduled, str) else rfc3339(scheduled)
        )
    ts = at if at is not None else (scheduled.timestamp() + delay if isinstance(scheduled, datetime) else 0.0)
    return {
        "ts": ts,
        "verb": "create",
        "group": "batch",
        "version": "v1",
        "resource": "jobs",
        "subresource": None,
        "namespace": namespace,
        "name": f"{rj}-{int(ts)}",
        "code": code,
        "client": client,
        "labels": {"recurringjob.dev/name": rj},
        "annotations": annotations,
    }


def lease_write(client: str, ts: float, code: int = 200) -> dict[str, Any]:
    return {
        "ts": ts,
        "verb": "update",
        "group": "coordination.k8s.io",
        "version": "v1",
        "resource": "leases",
        "subresource": None,
        "namespace": "default",
        "name": "recurringjob-operator",
        "code": code,
        "client": client,
    }


def every_occurrence(start: datetime, count: int, step: int = 2) -> list[datetime]:
    return [start + timedelta(seconds=step * i) for i in range(count)]


def judge(audit: list[dict[str, Any]], start: datetime, end: datetime, **kwargs: Any) -> Any:
    return compute_verdict(audit, [EVERY_2S], start.timestamp(), end.timestamp(), **kwargs)


def test_every_occurrence_launched_once_is_clean() -> None:
    audit = [job_create("tick", t) for t in every_occurrence(T0, 10)]
    verdict = judge(audit, T0, T0 + timedelta(seconds=18))
    assert verdict.clean, verdict.reasons
    assert (verdict.judged_occurrences, verdict.duplicates, verdict.missed, verdict.spurious) == (10, 0, 0, 0)
    assert verdict.lateness_seconds["p50"] == 0.05


def test_a_duplicate_is_caught_with_both_launches() -> None:
    times = every_occurrence(T0, 10)
    audit = [job_create("tick", t) for t in times]
    audit.append(job_create("tick", times[4], delay=0.3, client="replica-2"))
    verdict = judge(audit, T0, T0 + timedelta(seconds=18))
    assert not verdict.clean
    assert verdict.duplicates == 1 and verdict.missed == 0
    detail = verdict.duplicate_details[0]
    assert detail["scheduled_time"] == rfc3339(times[4])
    assert sorted(launch["client"] for launch in detail["launches"]) == ["replica-1", "replica-2"]


def test_a_miss_is_caught() -> None:
    times = every_occurrence(T0, 10)
    audit = [job_create("tick", t) for t in times if t != times[6]]
    verdict = judge(audit, T0, T0 + timedelta(seconds=18))
    assert not verdict.clean
    assert verdict.missed == 1 and verdict.duplicates == 0
    assert verdict.missed_details == [
        {"namespace": "default", "recurringjob": "tick", "scheduled_time": rfc3339(times[6])}
    ]


def test_a_failed_create_is_not_a_launch() -> None:
    times = every_occurrence(T0, 5)
    audit = [job_create("tick", t, code=500 if t == times[2] else 201) for t in times]
    verdict = judge(audit, T0, T0 + timedelta(seconds=8))
    assert verdict.missed == 1
    assert verdict.rejected_job_creates == {"500": 1}


def test_a_retry_rejected_with_already_exists_is_not_a_duplicate() -> None:
    times = every_occurrence(T0, 5)
    audit = [job_create("tick", t) for t in times]
    audit.append(job_create("tick", times[1], delay=1.0, code=409))
    verdict = judge(audit, T0, T0 + timedelta(seconds=8))
    assert verdict.clean, verdict.reasons


def test_spurious_times_are_caught() -> None:
    times = every_occurrence(T0, 5)
    audit = [job_create("tick", t) for t in times]
    audit.append(job_create("tick", T0 + timedelta(seconds=3)))  # odd second: not */2
    audit.append(job_create("tick", None, at=T0.timestamp() + 4))  # no scheduled time at all
    audit.append(job_create("tick", "yesterday-ish", at=T0.timestamp() + 4))
    audit.append(job_create("ghost", T0 + timedelta(seconds=2)))  # no such RecurringJob
    verdict = judge(audit, T0, T0 + timedelta(seconds=8))
    assert not verdict.clean
    assert verdict.spurious == 4 and verdict.missed == 0 and verdict.duplicates == 0
    assert {d["why"] for d in verdict.spurious_details} == {
        "not a time of the schedule",
        "missing or unparseable scheduled-time annotation",
        "unknown RecurringJob",
    }


def test_margins_exclude_misses_but_never_duplicates() -> None:
    times = every_occurrence(T0, 20)  # T0 .. T0+38s
    launched = times[3:17]  # nothing in the first 3 and last 3 occurrences
    audit = [job_create("tick", t) for t in launched]
    verdict = judge(audit, times[3], times[16])
    assert verdict.clean, verdict.reasons
    assert verdict.judged_occurrences == 14
    # The window bounds are inclusive: widening it by one occurrence at either end shows a miss.
    assert judge(audit, times[2], times[16]).missed == 1
    assert judge(audit, times[3], times[17]).missed == 1
    # A duplicate in the margin is still a duplicate.
    audit.append(job_create("tick", times[18]))
    audit.append(job_create("tick", times[18], client="replica-3"))
    assert judge(audit, times[3], times[16]).duplicates == 1


def test_time_zone_schedules_are_expanded_in_their_zone() -> None:
    # 09:30 in Berlin is 08:30 UTC in winter.
    start = datetime(2030, 1, 1, tzinfo=UTC)
    audit = [job_create("daily", start + timedelta(days=d, hours=8, minutes=30), delay=1.0) for d in range(3)]
    verdict = compute_verdict(
        audit, [DAILY_BERLIN], start.timestamp(), (start + timedelta(days=3)).timestamp()
    )
    assert verdict.clean, verdict.reasons
    assert verdict.judged_occurrences == 3
    utc_time = compute_verdict(
        [job_create("daily", start + timedelta(hours=9, minutes=30))],
        [DAILY_BERLIN],
        start.timestamp(),
        start.timestamp(),
    )
    assert utc_time.spurious == 1


def test_an_empty_window_is_never_clean() -> None:
    verdict = judge([], T0 + timedelta(seconds=1), T0 + timedelta(seconds=1.5))
    assert verdict.judged_occurrences == 0
    assert not verdict.clean


def test_lateness_percentiles_and_failover_figures() -> None:
    times = every_occurrence(T0, 100)
    audit: list[dict[str, Any]] = [lease_write("replica-1", T0.timestamp() - 5)]
    audit += [job_create("tick", t, delay=0.01 * (i + 1)) for i, t in enumerate(times)]
    kill_at = times[50].timestamp() - 0.5
    audit.append(lease_write("replica-1", kill_at - 1))
    audit.append(lease_write("replica-2", kill_at + 4.0))
    audit.append(lease_write("replica-2", kill_at + 5.0, code=409))
    audit.sort(key=lambda e: e["ts"])
    faults = [
        Fault("kill-leader", kill_at, None, "replica-1"),
        Fault("api-errors", kill_at + 10, kill_at + 15),
    ]
    verdict = judge(audit, T0, times[-1], faults=faults)
    assert verdict.clean
    assert verdict.lateness_seconds == {"p50": 0.5, "p99": 0.99, "max": 1.0}
    assert [c["leader"] for c in verdict.leader_changes] == ["replica-1", "replica-2"]
    assert verdict.failovers == [
        {
            "fault": "kill-leader",
            "at": kill_at,
            "target": "replica-1",
            "new_leader": "replica-2",
            "takeover_after_s": 4.0,
            "first_launch_after_s": 1.01,
        }
    ]
    assert [f["kind"] for f in verdict.faults] == ["kill-leader", "api-errors"]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.99) == 99.0


def test_audit_parsing_skips_a_torn_last_line() -> None:
    lines = [json.dumps(job_create("tick", T0)), "", '{"ts": 1.0, "verb": "cre']
    assert len(list(parse_audit_lines(lines))) == 1


def job_object(rj: str, completed: str | None, condition: str = "Complete") -> dict[str, Any]:
    status: dict[str, Any] = {}
    if completed:
        status = {"completionTime": completed, "conditions": [{"type": condition, "status": "True"}]}
    return {"metadata": {"namespace": "default", "labels": {"recurringjob.dev/name": rj}}, "status": status}


def rj_object(name: str, last_successful: str | None) -> dict[str, Any]:
    status = {"lastSuccessfulTime": last_successful} if last_successful else {}
    return {"metadata": {"namespace": "default", "name": name}, "status": status}


def test_final_status_check_catches_a_lost_update() -> None:
    jobs = [
        job_object("a", "2030-01-01T12:00:02Z"),
        job_object("a", "2030-01-01T12:00:04Z"),
        job_object("a", "2030-01-01T12:00:06Z", condition="Failed"),
        job_object("a", None),
        job_object("b", "2030-01-01T12:00:05Z"),
    ]
    good = [
        rj_object("a", "2030-01-01T12:00:04Z"),
        rj_object("b", "2030-01-01T12:00:05Z"),
        rj_object("c", None),
    ]
    assert last_successful_mismatches(good, jobs) == []
    stale = [rj_object("a", "2030-01-01T12:00:02Z"), rj_object("b", None)]
    assert [m["recurringjob"] for m in last_successful_mismatches(stale, jobs)] == ["a", "b"]
    verdict = judge(
        [job_create("tick", T0)], T0, T0, status_mismatches=last_successful_mismatches(stale, jobs)
    )
    assert not verdict.clean


def test_an_invalid_schedule_has_no_occurrences_and_its_launches_are_spurious() -> None:
    broken = JudgedRecurringJob("default", "broken", "61 * * * *")
    quiet = compute_verdict([], [EVERY_2S, broken], T0.timestamp(), T0.timestamp() + 2)
    assert quiet.judged_occurrences == 2 and quiet.missed == 2
    verdict = compute_verdict(
        [job_create("tick", T0), job_create("tick", T0 + timedelta(seconds=2)), job_create("broken", T0)],
        [EVERY_2S, broken],
        T0.timestamp(),
        T0.timestamp() + 2,
    )
    assert verdict.spurious == 1 and verdict.missed == 0
    assert verdict.spurious_details[0]["why"] == "the RecurringJob's schedule is invalid"


def test_after_an_api_server_restart_the_same_leader_may_carry_on() -> None:
    times = every_occurrence(T0, 10)
    restart_at = times[3].timestamp() + 0.5
    audit = [lease_write("replica-1", T0.timestamp() - 1)]
    audit += [job_create("tick", t) for t in times]
    audit.append(lease_write("replica-1", restart_at + 2.5))
    audit.sort(key=lambda e: e["ts"])
    verdict = judge(
        audit, T0, times[-1], faults=[Fault("devcluster-restart", restart_at, restart_at + 2, "devcluster")]
    )
    (failover,) = verdict.failovers
    assert failover["new_leader"] == "replica-1"
    assert failover["takeover_after_s"] == 2.5
    assert len(verdict.leader_changes) == 1


def test_final_status_check_finds_the_owner_of_a_job_whose_label_was_removed() -> None:
    stripped = job_object("a", "2030-01-01T12:00:06Z")
    stripped["metadata"]["labels"] = {}
    stripped["metadata"]["ownerReferences"] = [
        {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob", "name": "a", "controller": True}
    ]
    jobs = [job_object("a", "2030-01-01T12:00:04Z"), stripped]
    assert last_successful_mismatches([rj_object("a", "2030-01-01T12:00:06Z")], jobs) == []
    (stale,) = last_successful_mismatches([rj_object("a", "2030-01-01T12:00:04Z")], jobs)
    assert stale["newest_successful_completion"] == "2030-01-01T12:00:06Z"
    # Whose Jobs others deleted cannot be checked from the Jobs: left out when asked.
    unjudged = {("default", "a")}
    assert last_successful_mismatches([rj_object("a", "2030-01-01T12:00:04Z")], jobs, unjudged) == []
