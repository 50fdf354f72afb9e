"""The planner's side of "an occurrence, once created, is never created again" (issue 8).

Every Job carries the occurrence-lock finalizer, so a Job that was created stays visible (marked
deleting) until its outcome is booked and no create of its name can still be in flight. These
tables pin down what the planner does with Jobs in each of those states.
"""

from __future__ import annotations

from typing import Any

import pytest
from planner_helpers import make_job, make_rj, utc
from recurringjob.core.jobs import MAX_LABEL_VALUE_LENGTH, NAME_LABEL, OCCURRENCE_LOCK_FINALIZER, build_job
from recurringjob.core.planner import REJECTED_RETRY_SECONDS, plan
from recurringjob.core.planner_status import REJECTED_REASON, book_rejection

HOUR = 1704067200  # 2024-01-01T00:00:00Z
J1 = f"rj-{HOUR + 3600}"  # the occurrence at 01:00
J2 = f"rj-{HOUR + 7200}"  # the occurrence at 02:00


def status_at(cursor: str, **extra: Any) -> dict[str, Any]:
    return {"observedGeneration": 1, "scheduleFrom": "2024-01-01T00:00:00Z",
            "observedSchedule": "0 * * * *|", "nextScheduleTime": cursor, **extra}


def names(refs: list[dict[str, Any]]) -> list[str]:
    return [r["name"] for r in refs]


def test_every_job_is_created_with_the_occurrence_lock() -> None:
    job = build_job(make_rj(), utc("2024-01-01T01:00:00Z"))
    assert job["metadata"]["finalizers"] == [OCCURRENCE_LOCK_FINALIZER]


# (case, job state, now, expected: active after, recreated, released, stopped in reason)
DELETED_CASES = [
    # TTL 0 + restart: finished and deleted before its finish was booked -> booked, never re-run
    ("finished, deleted, lock old enough", dict(state="succeeded", finished="2024-01-01T01:00:30Z",
                                                deleting=True), "2024-01-01T01:30:00Z", [], 0, [J1], False),
    ("finished, deleted, lock too young", dict(state="succeeded", finished="2024-01-01T01:00:30Z",
                                               deleting=True), "2024-01-01T01:00:40Z", [], 0, [], False),
    # a running Job deleted by hand (or GC): booked as stopped, not re-created
    ("running, deleted by hand", dict(deleting=True), "2024-01-01T01:30:00Z", [], 0, [J1], True),
    # a claimed Job that does not exist was never created (the lock would keep it): recreate it
    ("claimed, never created", None, "2024-01-01T01:30:00Z", [J1], 1, [], False),
    # running, nothing happened: stays active, lock kept
    ("running", dict(), "2024-01-01T01:30:00Z", [J1], 0, [], False),
]


@pytest.mark.parametrize(("case", "job", "now", "active", "recreated", "released", "stopped"), DELETED_CASES,
                         ids=[c[0] for c in DELETED_CASES])
def test_claimed_jobs_in_every_state(case: str, job: dict[str, Any] | None, now: str,
                                     active: list[str], recreated: int, released: list[str],
                                     stopped: bool) -> None:
    rj = make_rj(status=status_at("2024-01-01T02:00:00Z", active=[{"name": J1}]),
                 startingDeadlineSeconds=7200)
    jobs = [make_job(J1, created="2024-01-01T01:00:00Z", locked=True, **job)] if job is not None else []
    decision = plan(rj, jobs, utc(now))
    status = decision.status if decision.status is not None else rj["status"]
    assert names(status.get("active", [])) == active
    assert len(decision.recreate) == recreated
    assert list(decision.release) == released
    assert ("booked as stopped" in decision.reason) == stopped
    assert decision.missed == 0  # an occurrence that ran (or runs) is never counted missed


def test_a_young_lock_brings_the_planner_back_when_it_may_be_released() -> None:
    rj = make_rj(status=status_at("2024-01-01T02:00:00Z", active=[{"name": J1}]))
    job = make_job(J1, "succeeded", "2024-01-01T01:00:05Z", deleting=True, created="2024-01-01T01:00:00Z",
                   locked=True)
    decision = plan(rj, [job], utc("2024-01-01T01:00:10Z"), max_request_seconds=80)
    assert decision.release == ()
    # creation + 80 s + 1 s (creationTimestamp is truncated to the second) = 01:01:21
    assert decision.requeue_after == pytest.approx(71.0)
    later = plan(rj, [job], utc("2024-01-01T01:01:21Z"), max_request_seconds=80)
    assert later.release == (J1,)


def test_a_long_outage_does_not_count_an_occurrence_that_ran_as_missed() -> None:
    """TTL 0 + deadline + outage: the Job ran and was deleted while no operator watched."""
    rj = make_rj(status=status_at("2024-01-01T02:00:00Z", active=[{"name": J1}]), startingDeadlineSeconds=60)
    job = make_job(J1, "succeeded", "2024-01-01T01:00:30Z", deleting=True, created="2024-01-01T01:00:00Z",
                   locked=True)
    decision = plan(rj, [job], utc("2024-01-01T01:50:00Z"))
    assert decision.missed == 0 and decision.recreate == ()
    assert decision.status is not None and decision.status["lastSuccessfulTime"] == "2024-01-01T01:00:30Z"


def test_forbid_waits_while_a_deleted_job_still_exists() -> None:
    """A Job being deleted may still run (background deletion keeps pods until the object is gone)."""
    rj = make_rj(status=status_at("2024-01-01T02:00:00Z", active=[{"name": J1}]), concurrencyPolicy="Forbid")
    job = make_job(J1, deleting=True, created="2024-01-01T01:00:00Z", locked=True)
    decision = plan(rj, [job], utc("2024-01-01T02:00:01Z"))
    assert decision.action == "skip" and decision.job is None
    assert decision.release == (J1,)  # booked as stopped: the lock goes, then the Job goes
    gone = plan(make_rj(status=decision.status, concurrencyPolicy="Forbid"), [], utc("2024-01-01T03:00:01Z"))
    assert gone.action == "launch"


def test_pruning_waits_for_the_lock_to_be_free() -> None:
    rj = make_rj(status=status_at("2024-01-01T03:00:00Z"), successfulJobsHistoryLimit=0)
    old = make_job(J1, "succeeded", "2024-01-01T01:00:05Z", created="2024-01-01T01:00:00Z", locked=True)
    young = make_job(J2, "succeeded", "2024-01-01T02:00:05Z", created="2024-01-01T02:00:00Z", locked=True)
    decision = plan(rj, [old, young], utc("2024-01-01T02:00:30Z"))
    assert decision.prune == (J1,)
    assert decision.requeue_after is not None and decision.requeue_after <= 51.0


# -- Replace records its deletions -----------------------------------------------------------------


def test_replace_records_the_deletion_in_the_claim_and_recovery_completes_it() -> None:
    rj = make_rj(status=status_at("2024-01-01T02:00:00Z", active=[{"name": J1}]), concurrencyPolicy="Replace")
    running = make_job(J1, created="2024-01-01T01:00:00Z", locked=True)
    claim = plan(rj, [running], utc("2024-01-01T02:00:00Z"))
    assert claim.action == "launch" and claim.delete_active == (J1,)
    assert claim.status is not None
    assert claim.status["pendingDeletions"] == [J1] and names(claim.status["active"]) == [J2]
    # the leader died after the claim, before the DELETE: the next plan (any replica) deletes it
    after_crash = make_rj(status=claim.status, concurrencyPolicy="Replace")
    recovery = plan(after_crash, [running], utc("2024-01-01T02:00:05Z"))
    assert recovery.delete_active == (J1,)
    assert [m["metadata"]["name"] for m in recovery.recreate] == [J2]
    # once the deletion is seen, the record is dropped
    deleting = make_job(J1, deleting=True, created="2024-01-01T01:00:00Z", locked=True)
    done = plan(after_crash, [deleting, make_job(J2, created="2024-01-01T02:00:00Z", locked=True)],
                utc("2024-01-01T02:00:10Z"))
    assert done.delete_active == ()
    assert done.status is not None and not done.status.get("pendingDeletions")


def background_deleted(name: str, pods: int, foreground: bool = False) -> dict[str, Any]:
    """A running Job someone deleted (kubectl: Background propagation): our lock keeps the object,
    so its pods run on (status.active) until it is gone, unless a Foreground DELETE killed them."""
    job = make_job(name, deleting=True, created="2024-01-01T01:00:00Z", locked=True)
    job["status"] = {"active": pods} if pods else {}
    if foreground:
        job["metadata"]["finalizers"] = [OCCURRENCE_LOCK_FINALIZER, "foregroundDeletion"]
    return job


# (case, the Job someone else is deleting, whether Replace must still delete it in Foreground)
REPLACE_DELETING_CASES = [
    ("Background-deleted, pods still run", background_deleted(J1, pods=1), True),
    ("Foreground deletion under way", background_deleted(J1, pods=1, foreground=True), False),
    ("pods gone", background_deleted(J1, pods=0), False),
]


@pytest.mark.parametrize(("case", "job", "deleted"), REPLACE_DELETING_CASES,
                         ids=[c[0] for c in REPLACE_DELETING_CASES])
def test_replace_deletes_in_foreground_a_job_whose_pods_outlive_someone_elses_delete(
        case: str, job: dict[str, Any], deleted: bool) -> None:
    # found in the long chaos run: a user's Background delete left J1's pods running, the claim of
    # J2 did not delete it (it was "already deleting"), and the two ran side by side
    rj = make_rj(status=status_at("2024-01-01T02:00:00Z"), concurrencyPolicy="Replace")
    claim = plan(rj, [job], utc("2024-01-01T02:00:00Z"))
    assert claim.action == "launch"
    assert claim.delete_active == ((J1,) if deleted else ())
    assert claim.status is not None
    assert claim.status.get("pendingDeletions", []) == ([J1] if deleted else [])
    if deleted:  # recorded, so a crash before the DELETE is completed by recovery, then dropped
        after_crash = make_rj(status=claim.status, concurrencyPolicy="Replace")
        assert plan(after_crash, [job], utc("2024-01-01T02:00:05Z")).delete_active == (J1,)
        stopped = background_deleted(J1, pods=1, foreground=True)
        done = plan(after_crash, [stopped], utc("2024-01-01T02:00:06Z"))
        assert done.delete_active == ()
        assert done.status is not None and not done.status.get("pendingDeletions")


# -- a Job the API rejects ---------------------------------------------------------------------------


def test_a_rejected_job_leaves_no_phantom_and_is_retried_after_a_minute() -> None:
    every_minute = {"observedSchedule": "* * * * *|"}
    rj = make_rj("* * * * *", status=status_at("2024-01-01T01:00:00Z", **every_minute))
    claim = plan(rj, [], utc("2024-01-01T01:00:00Z"))
    assert claim.action == "launch" and claim.status is not None
    first = f"rj-{HOUR + 3600}"
    booked = book_rejection(claim.status, first, "spec.template.spec.restartPolicy: Required value",
                            utc("2024-01-01T01:00:01Z"), 1)
    assert booked["active"] == [] and booked["missedOccurrences"] == 1
    ready = next(c for c in booked["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", REJECTED_REASON)
    assert "restartPolicy" in ready["message"]
    rejected = make_rj("* * * * *", status=booked)
    # an occurrence due inside the back-off waits: no claim, no write
    waiting = plan(rejected, [], utc("2024-01-01T01:01:00Z"))
    assert waiting.action == "wait" and waiting.status is None and waiting.job is None
    assert waiting.requeue_after == pytest.approx(REJECTED_RETRY_SECONDS + 1 - 60)
    retry = plan(rejected, [], utc("2024-01-01T01:01:01Z"))
    assert retry.action == "launch" and retry.scheduled_time == utc("2024-01-01T01:01:00Z")
    # the condition stays until a Job is accepted, so a template that stays bad does not flap
    assert retry.status is not None
    assert next(c for c in retry.status["conditions"] if c["type"] == "Ready")["reason"] == REJECTED_REASON


def test_a_spec_edit_retries_a_rejected_job_at_once() -> None:
    booked = book_rejection(status_at("2024-01-01T02:00:00Z"), J1, "bad", utc("2024-01-01T01:00:01Z"), 1)
    rj = make_rj(status=booked)
    rj["metadata"]["generation"] = 2
    assert plan(rj, [], utc("2024-01-01T02:00:00Z")).action == "launch"


def test_an_accepted_job_clears_the_rejection() -> None:
    booked = book_rejection(status_at("2024-01-01T02:00:00Z", active=[{"name": J2}]), J1, "quota",
                            utc("2024-01-01T01:00:01Z"), 1)
    accepted = make_job(J2, created="2024-01-01T02:00:00Z", locked=True)
    decision = plan(make_rj(status=booked), [accepted], utc("2024-01-01T02:00:02Z"))
    assert decision.status is not None
    assert next(c for c in decision.status["conditions"] if c["type"] == "Ready")["status"] == "True"


# -- names -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a" * 73, "x" * 253, "team.backup.nightly", "a" * 63, "b" * 64])
def test_job_labels_are_valid_for_any_valid_recurringjob_name(name: str) -> None:
    import re

    job = build_job(make_rj(name=name), utc("2024-01-01T01:00:00Z"))
    value = job["metadata"]["labels"][NAME_LABEL]
    assert len(value) <= MAX_LABEL_VALUE_LENGTH
    assert re.fullmatch(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", value)
    assert len(job["metadata"]["name"]) <= 63
    if len(name) <= 63:
        assert value == name  # readable when it fits
    other = build_job(make_rj(name=name + "z" if len(name) < 253 else name[:-1]), utc("2024-01-01T01:00:00Z"))
    assert other["metadata"]["labels"][NAME_LABEL] != value
