"""The verdict on run-now (trigger) and backfill requests, and on jittered launches: synthetic audit
lines, each failure caught and each legitimate launch left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from recurringjob.evidence.verdict import JudgedRecurringJob, JudgedRequest, compute_verdict
from test_chaos_verdict import job_create, rfc3339

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
EVERY_SECOND = JudgedRecurringJob("default", "tick", "* * * * * *", starting_deadline_seconds=5)


def annotated(entry: dict[str, Any], **annotations: str) -> dict[str, Any]:
    entry["annotations"] |= {f"recurringjob.dev/{key.replace('_', '-')}": value
                             for key, value in annotations.items()}
    return entry


def trigger_create(request_id: str, accepted: datetime, delay: float = 0.2, client: str = "replica-1",
                   rj: str = "tick") -> dict[str, Any]:
    entry = annotated(job_create(rj, accepted, delay=delay, client=client), trigger_kind="trigger",
                      trigger_id=request_id, fire_time=rfc3339(accepted))
    entry["name"] = f"{rj}-t-{request_id}"
    return entry


def backfill_create(t: datetime, at: float, request_id: str = "bf-1") -> dict[str, Any]:
    return annotated(job_create("tick", t, at=at), trigger_kind="backfill", trigger_id=request_id,
                     fire_time=rfc3339(t))


def schedule_launches(count: int) -> list[dict[str, Any]]:
    return [job_create("tick", T0 + timedelta(seconds=i)) for i in range(count)]


def judge(audit: list[dict[str, Any]], requests: list[JudgedRequest] | None = None, seconds: int = 9) -> Any:
    end = T0 + timedelta(seconds=seconds)
    return compute_verdict(audit, [EVERY_SECOND], T0.timestamp(), end.timestamp(), requests=requests)


def test_a_trigger_at_a_schedule_time_is_not_a_second_launch_of_that_occurrence() -> None:
    # accepted at T0+3, which is also an occurrence of '* * * * * *': both Jobs are legitimate
    audit = [*schedule_launches(10), trigger_create("rerun", T0 + timedelta(seconds=3))]
    verdict = judge(audit, [JudgedRequest("default", "tick", "trigger", "rerun")])
    assert verdict.clean, verdict.reasons
    assert verdict.requests_judged == {"triggers": 1, "backfills": 0, "backfill_occurrences": 0}


def test_a_trigger_id_launched_twice_is_a_duplicate() -> None:
    at = T0 + timedelta(seconds=3)
    audit = [*schedule_launches(10), trigger_create("rerun", at),
             trigger_create("rerun", at, delay=4.0, client="rogue-1")]
    verdict = judge(audit, [JudgedRequest("default", "tick", "trigger", "rerun")])
    assert not verdict.clean
    assert verdict.duplicates == 1
    duplicate = verdict.duplicate_details[0]
    assert duplicate["trigger_id"] == "rerun"
    assert {launch["client"] for launch in duplicate["launches"]} == {"replica-1", "rogue-1"}


def test_a_requested_trigger_that_never_launched_is_missed() -> None:
    verdict = judge(schedule_launches(10), [JudgedRequest("default", "tick", "trigger", "lost")])
    assert verdict.missed == 1
    assert verdict.missed_details[0]["trigger_id"] == "lost"


def test_a_trigger_nobody_requested_is_spurious_when_the_requests_are_known() -> None:
    audit = [*schedule_launches(10), trigger_create("ghost", T0 + timedelta(seconds=2))]
    assert judge(audit, []).spurious == 1
    assert judge(audit, []).spurious_details[0]["why"] == "no such trigger was requested"
    assert judge(audit, None).clean  # the demo: requests unknown, only once per id is judged


def test_a_trigger_recovered_past_the_deadline_is_not_late_but_one_before_its_acceptance_is_early() -> None:
    accepted = T0 + timedelta(seconds=2)
    late = judge([*schedule_launches(10), trigger_create("slow", accepted, delay=60.0)],
                 [JudgedRequest("default", "tick", "trigger", "slow")])
    assert late.clean, late.reasons
    early = judge([*schedule_launches(10), trigger_create("hasty", accepted, delay=-1.5)],
                  [JudgedRequest("default", "tick", "trigger", "hasty")])
    assert early.early == 1


def test_backfilled_times_before_the_window_are_judged_once_each_and_never_late() -> None:
    start, end = T0 - timedelta(seconds=60), T0 - timedelta(seconds=51)  # 10 times, a minute old
    request = JudgedRequest("default", "tick", "backfill", "bf-1", start, end)
    backfilled = [backfill_create(start + timedelta(seconds=i), at=T0.timestamp() + 1 + i / 10)
                  for i in range(10)]
    verdict = judge([*schedule_launches(10), *backfilled], [request])
    assert verdict.clean, verdict.reasons
    assert verdict.requests_judged["backfill_occurrences"] == 10
    assert verdict.late_beyond_deadline == 0

    missing_one = judge([*schedule_launches(10), *backfilled[:4], *backfilled[5:]], [request])
    assert missing_one.missed == 1
    assert missing_one.missed_details[0] == {"namespace": "default", "recurringjob": "tick",
                                             "scheduled_time": rfc3339(start + timedelta(seconds=4)),
                                             "backfill_id": "bf-1", "why": "backfilled time never launched"}

    twice = judge([*schedule_launches(10), *backfilled, backfill_create(start, at=T0.timestamp() + 5)],
                  [request])
    assert twice.duplicates == 1
    assert twice.duplicate_details[0]["scheduled_time"] == rfc3339(start)


def test_a_schedule_launch_past_its_deadline_is_still_late() -> None:
    audit = [*schedule_launches(10)]
    audit[4] = job_create("tick", T0 + timedelta(seconds=4), delay=7.0)
    assert judge(audit).late_beyond_deadline == 1


def test_a_jittered_launch_is_early_only_before_its_fire_time() -> None:
    t = T0 + timedelta(seconds=4)
    fire = rfc3339(t + timedelta(seconds=3))
    audit = [*schedule_launches(10)]
    audit[4] = annotated(job_create("tick", t, delay=3.2), fire_time=fire, trigger_kind="schedule")
    assert judge(audit).clean
    audit[4] = annotated(job_create("tick", t, delay=1.0), fire_time=fire, trigger_kind="schedule")
    verdict = judge(audit)
    assert verdict.early == 1
    assert verdict.early_details[0]["early_by_s"] == 2.0
