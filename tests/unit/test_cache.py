"""The watch cache: a finished Job deleted before its finish was booked is not "missing"; Jobs are
owned by their controller reference; relists replace the view; RecurringJobs are dropped by uid."""

from __future__ import annotations

import copy
from typing import Any

from planner_helpers import make_rj, utc
from recurringjob.core.jobs import NAME_LABEL
from recurringjob.core.planner import plan
from recurringjob.runtime.cache import LAST_APPLIED, Cache

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


def owned(name: str, owner: str = "rj", owner_uid: str = "uid-1", rv: str = "5",
          **status: Any) -> dict[str, Any]:
    """A slim Job controlled by RecurringJob `owner` (incarnation `owner_uid`)."""
    ref = {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob", "name": owner, "uid": owner_uid,
           "controller": True}
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": rv,
                         "ownerReferences": [ref]},
            "status": dict(status)}


def test_jobs_are_owned_by_their_controller_reference_not_their_label() -> None:
    cache = Cache()
    job = owned("rj-1")
    job["metadata"]["labels"] = {NAME_LABEL: "someone-else"}
    cache.put_job(job)
    assert cache.jobs_of(("default", "rj")) == [job] and cache.jobs_of(("default", "someone-else")) == []
    not_ours = {**job, "metadata": {**job["metadata"], "ownerReferences": [
        {"apiVersion": "batch/v1", "kind": "CronJob", "name": "rj", "uid": "u", "controller": True}]}}
    assert cache.put_job(not_ours) == (job, False)
    assert list(cache.iter_jobs()) == []  # no longer ours: forgotten


def test_a_deletion_finds_the_job_by_name_even_with_its_owner_reference_gone() -> None:
    cache = Cache()
    cache.put_job(owned("rj-1"))
    deleted = owned("rj-1", rv="6")
    deleted["metadata"]["ownerReferences"] = []
    assert cache.drop_job(deleted) is not None
    assert cache.job_count() == 0


def test_jobs_of_a_previous_incarnation_are_not_handed_to_the_new_one() -> None:
    cache = Cache()
    cache.put_recurringjob(make_rj())  # uid-1
    cache.put_job(owned("rj-old", owner_uid="uid-0"))
    cache.put_job(owned("rj-new", owner_uid="uid-1"))
    assert [j["metadata"]["name"] for j in cache.jobs_of(("default", "rj"))] == ["rj-new"]


def test_a_stale_deletion_does_not_drop_a_recreated_recurringjob() -> None:
    cache = Cache()
    recreated = make_rj()
    recreated["metadata"]["uid"] = "uid-2"
    cache.put_recurringjob(recreated)
    assert not cache.drop_recurringjob(("default", "rj"), "uid-1")  # the old incarnation's DELETED / 404
    assert cache.recurringjob(("default", "rj")) == recreated
    assert cache.drop_recurringjob(("default", "rj"), "uid-2")
    assert cache.recurringjob(("default", "rj")) is None
    assert not cache.put_recurringjob(recreated)  # a late write response cannot resurrect it


def test_replace_jobs_reports_what_vanished_and_keeps_what_is_newer_than_the_list() -> None:
    cache = Cache()
    for name, rv in (("rj-1", "5"), ("rj-2", "5"), ("rj-3", "12"), ("rj-9", "5")):
        cache.put_job(owned(name, rv=rv))
    elsewhere = owned("elsewhere")
    elsewhere["metadata"]["namespace"] = "other"
    cache.put_job(elsewhere)
    stored, removed = cache.replace_jobs([owned("rj-1", rv="9", succeeded=1), owned("rj-4", rv="8")],
                                         in_scope=lambda ns: ns == "default", list_rv="10")
    assert sorted(j["metadata"]["name"] for j, _ in stored) == ["rj-1", "rj-4"]
    assert dict((j["metadata"]["name"], p is not None) for j, p in stored) == {"rj-1": True, "rj-4": False}
    assert sorted(j["metadata"]["name"] for j in removed) == ["rj-2", "rj-9"]
    # rj-3 was written after the list's snapshot (our own create): kept; "other" is out of scope
    assert sorted(j["metadata"]["name"] for j in cache.iter_jobs()) == ["elsewhere", "rj-1", "rj-3", "rj-4"]


def test_a_relist_keeps_a_finished_claimed_job_as_a_tombstone_until_booked() -> None:
    cache = Cache()
    rj = claimed_rj()
    cache.put_recurringjob(rj)
    job = launched_job(rj, "succeeded")
    cache.put_job(job)
    _, removed = cache.replace_jobs([], in_scope=lambda _: True, list_rv="100")
    assert removed == [job]
    decision = plan(rj, cache.jobs_of(("default", "rj")), utc(NOW))
    assert decision.recreate == () and decision.status is not None
    assert decision.status["lastSuccessfulTime"] == FINISHED
    _, removed = cache.replace_jobs([], in_scope=lambda _: True, list_rv="101")
    assert removed == [] and len(cache.jobs_of(("default", "rj"))) == 1  # still a tombstone


def test_recurringjobs_are_cached_without_managed_fields_or_last_applied_configuration() -> None:
    cache = Cache()
    rj = {"metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "3",
                       "annotations": {LAST_APPLIED: "{...}" * 100, "team": "data"},
                       "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
          "spec": {"schedule": "* * * * *"}, "status": {"active": []}}
    assert cache.put_recurringjob(rj)
    held = cache.recurringjob(("ns", "a"))
    assert held is not None
    assert held["metadata"] == {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "3",
                                "annotations": {"team": "data"}}
    assert held["spec"] == rj["spec"] and held["status"] == rj["status"]
    assert "managedFields" in rj["metadata"] and LAST_APPLIED in rj["metadata"]["annotations"]  # not mutated


def test_the_same_version_again_keeps_the_held_copy_and_a_new_one_shares_what_did_not_change() -> None:
    cache = Cache()
    rj = claimed_rj()
    assert cache.put_recurringjob(rj)
    held = cache.recurringjob(("default", "rj"))
    assert held == rj
    assert cache.put_recurringjob(copy.deepcopy(rj))  # the watch echo of our own write: same version
    assert cache.recurringjob(("default", "rj")) is held
    newer = copy.deepcopy(rj)
    newer["metadata"]["resourceVersion"] = "5"
    newer["status"]["lastScheduleTime"] = NOW
    assert cache.put_recurringjob(newer)
    stored = cache.recurringjob(("default", "rj"))
    assert stored == newer and stored["spec"] is held["spec"]
    edited = copy.deepcopy(rj)  # the same version number with other content (only a fake does that)
    edited["metadata"]["resourceVersion"] = "5"
    edited["spec"]["suspend"] = True
    assert cache.put_recurringjob(edited)
    assert cache.recurringjob(("default", "rj")) == edited
