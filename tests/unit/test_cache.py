"""The watch cache: a finished Job deleted before its finish was booked is not "missing"."""

from __future__ import annotations

import copy
from typing import Any

from planner_helpers import make_rj, utc
from recurringjob.core.jobs import NAME_LABEL
from recurringjob.core.planner import plan
from recurringjob.runtime.cache import Cache

T = "2024-01-01T10:00:00Z"
NOW = "2024-01-01T10:00:05Z"
FINISHED = "2024-01-01T10:00:03Z"


def claimed_rj() -> dict[str, Any]:
    """A RecurringJob whose first occurrence has been claimed and launched."""
    rj = make_rj("0 * * * *", created="2024-01-01T09:30:00Z")
    first = plan(rj, [], utc(T))
    assert first.action == "launch" and first.job is not None and first.status is not None
    rj["status"] = first.status
    rj["metadata"]["resourceVersion"] = "2"
    return rj


def launched_job(rj: dict[str, Any], state: str) -> dict[str, Any]:
    job = copy.deepcopy(plan(make_rj("0 * * * *", created="2024-01-01T09:30:00Z"), [], utc(T)).job)
    assert job is not None
    job["metadata"].update(uid="job-uid", resourceVersion="3")
    assert job["metadata"]["labels"][NAME_LABEL] == rj["metadata"]["name"]
    if state == "succeeded":
        job["status"] = {
            "completionTime": FINISHED,
            "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": FINISHED}],
        }
    return job


def test_a_finished_job_deleted_before_booking_is_booked_not_relaunched() -> None:
    cache = Cache()
    rj = claimed_rj()
    cache.put_recurringjob(rj)
    job = launched_job(rj, "succeeded")
    cache.put_job(job)
    cache.drop_job(job)  # e.g. ttlSecondsAfterFinished: 0 — deleted before the leader booked it
    key = ("default", "rj")

    decision = plan(rj, cache.jobs_of(key), utc(NOW))

    assert decision.recreate == ()
    assert decision.status is not None
    assert decision.status["active"] == []
    assert decision.status["lastSuccessfulTime"] == FINISHED
    assert decision.prune == ()  # already gone: nothing to delete

    # once the booking write is seen, the tombstone is dropped
    rj = {**rj, "status": decision.status, "metadata": {**rj["metadata"], "resourceVersion": "4"}}
    cache.put_recurringjob(rj)
    assert cache.jobs_of(key) == []


def test_a_job_never_seen_is_still_recovered() -> None:
    """The contrast: a claimed Job the cache never held is created again (crash between claim and create)."""
    cache = Cache()
    rj = claimed_rj()
    cache.put_recurringjob(rj)

    decision = plan(rj, cache.jobs_of(("default", "rj")), utc(NOW))

    assert [m["metadata"]["name"] for m in decision.recreate] == [rj["status"]["active"][0]["name"]]


def test_a_deleted_job_no_longer_claimed_leaves_no_tombstone() -> None:
    cache = Cache()
    rj = claimed_rj()
    rj["status"] = {**rj["status"], "active": []}
    cache.put_recurringjob(rj)
    job = launched_job(rj, "succeeded")
    cache.put_job(job)
    cache.drop_job(job)
    assert cache.jobs_of(("default", "rj")) == []
