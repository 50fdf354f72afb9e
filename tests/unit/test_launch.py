"""Launching a decision: create, AlreadyExists (own vs foreign), Replace deletes, prune, retries."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from fake_kube import FakeKube
from recurringjob.runtime.cache import Cache
from recurringjob.runtime.claim import NotLeader
from recurringjob.runtime.kube import ApiError, events_path, job_path, rj_path
from recurringjob.runtime.launch import EventRecorder, Launcher, job_finished_facts
from recurringjob.runtime.metrics import Metrics

T = datetime(2030, 1, 1, 0, 1, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Decision:
    action: str = "launch"
    scheduled_time: datetime | None = T
    job_name: str | None = "backup-1893456060"
    next_schedule_time: datetime | None = None
    requeue_after: float | None = 60.0
    delete_active: tuple[str, ...] = ()
    missed: int = 0
    warnings: tuple[str, ...] = ()
    reason: str = "scheduled"
    status: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    recreate: tuple[dict[str, Any], ...] = ()
    prune: tuple[str, ...] = ()
    release: tuple[str, ...] = ()


def job_manifest(name: str, owner_uid: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default",
                         "labels": {"recurringjob.dev/name": "backup"},
                         "annotations": {"recurringjob.dev/scheduled-time": "2030-01-01T00:01:00Z"},
                         "ownerReferences": [{"apiVersion": "recurringjob.dev/v1alpha1",
                                              "kind": "RecurringJob", "name": "backup", "uid": owner_uid,
                                              "controller": True}]},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def setup(leader: bool = True) -> tuple[FakeKube, dict[str, Any], Launcher, Metrics, Cache]:
    api = FakeKube()
    rj = api.put_object(rj_path("default", "backup"),
                        {"metadata": {"name": "backup", "namespace": "default"}})
    metrics, cache = Metrics(), Cache()
    launcher = Launcher(api, is_leader=lambda: leader, cache=cache,
                        events=EventRecorder(api, instance="test"), metrics=metrics)
    return api, rj, launcher, metrics, cache


def count(metrics: Metrics, result: str) -> float:
    value = metrics.registry.get_sample_value("recurringjob_occurrences_total",
                                              {"namespace": "default", "name": "backup", "result": result})
    return value or 0.0


def events(api: FakeKube) -> list[dict[str, Any]]:
    return [o for p, o in api.objects.items() if p.startswith(events_path("default"))]


def test_creates_the_job_and_caches_it() -> None:
    api, rj, launcher, metrics, cache = setup()
    job = job_manifest("backup-1893456060", rj["metadata"]["uid"])
    asyncio.run(launcher.execute(rj, Decision(job=job)))
    assert job_path("default", "backup-1893456060") in api.objects
    assert [j["metadata"]["name"] for j in cache.jobs_of(("default", "backup"))] == ["backup-1893456060"]
    assert count(metrics, "launched") == 1
    assert metrics.registry.get_sample_value("recurringjob_launch_lag_seconds_count") == 1


def test_already_exists_with_our_owner_uid_is_done() -> None:
    api, rj, launcher, metrics, _ = setup()
    job = job_manifest("backup-1893456060", rj["metadata"]["uid"])
    api.put_object(job_path("default", "backup-1893456060"), job)
    asyncio.run(launcher.execute(rj, Decision(job=job)))
    assert api.writes() == [("POST", job_path("default"))]  # one attempt, no event, no retry
    assert events(api) == []
    assert count(metrics, "launched") == 0 and count(metrics, "missed") == 0


def test_already_exists_with_a_foreign_owner_is_a_warning_and_a_miss() -> None:
    api, rj, launcher, metrics, _ = setup()
    api.put_object(job_path("default", "backup-1893456060"),
                   job_manifest("backup-1893456060", "someone-else"))
    asyncio.run(launcher.execute(rj, Decision(job=job_manifest("backup-1893456060", rj["metadata"]["uid"]))))
    [event] = events(api)
    assert event["reason"] == "JobNameTaken" and event["type"] == "Warning"
    assert event["involvedObject"]["uid"] == rj["metadata"]["uid"]
    assert count(metrics, "missed") == 1
    assert api.objects[job_path("default", "backup-1893456060")]["metadata"]["ownerReferences"][0]["uid"] \
        == "someone-else"


def test_replace_deletes_active_jobs_before_creating() -> None:
    api, rj, launcher, _, _ = setup()
    uid = rj["metadata"]["uid"]
    api.put_object(job_path("default", "backup-1"), job_manifest("backup-1", uid))
    decision = Decision(job=job_manifest("backup-1893456060", uid), delete_active=("backup-1", "backup-gone"),
                        prune=("backup-0",))
    asyncio.run(launcher.execute(rj, decision))
    assert api.writes() == [("DELETE", job_path("default", "backup-1")),
                            ("DELETE", job_path("default", "backup-gone")),  # 404 is fine
                            ("POST", job_path("default")),
                            ("DELETE", job_path("default", "backup-0")),
                            ("PATCH", job_path("default", "backup-0"))]  # its lock: 404 is fine


def test_recreate_counts_recovered_and_skip_and_missed_are_counted() -> None:
    api, rj, launcher, metrics, _ = setup()
    decision = Decision(action="skip", job=None, recreate=(job_manifest("backup-7", rj["metadata"]["uid"]),),
                        missed=3, warnings=("TooManyMissedTimes",), reason="too many missed")
    asyncio.run(launcher.execute(rj, decision))
    assert (count(metrics, "recovered"), count(metrics, "skipped"), count(metrics, "missed")) == (1, 1, 3)
    [event] = events(api)
    assert (event["reason"], event["message"]) == ("TooManyMissedTimes", "too many missed")
    again = Decision(job=None, warnings=("TooManyMissedTimes",), reason="too many missed")
    asyncio.run(launcher.execute(rj, again))
    assert len(events(api)) == 1  # the same warning again is muted


def test_transient_errors_are_retried_honouring_retry_after() -> None:
    api, rj, launcher, _, _ = setup()
    api.fail_next("POST", "/jobs", ApiError(429, "TooManyRequests", retry_after=0.01))
    api.fail_next("POST", "/jobs", ApiError(500, "InternalError"))
    asyncio.run(launcher.execute(rj, Decision(job=job_manifest("backup-1893456060", rj["metadata"]["uid"]))))
    assert job_path("default", "backup-1893456060") in api.objects
    assert len(api.writes("POST")) == 3


def test_no_write_without_leadership() -> None:
    api, rj, launcher, _, _ = setup(leader=False)
    with pytest.raises(NotLeader):
        asyncio.run(launcher.execute(rj, Decision(job=job_manifest("backup-1", rj["metadata"]["uid"]))))
    assert api.writes() == []


def test_job_finished_facts() -> None:
    running = {"status": {"startTime": "2030-01-01T00:00:00Z"}}
    done = {"status": {"startTime": "2030-01-01T00:00:00Z", "completionTime": "2030-01-01T00:00:30Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}}
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    assert job_finished_facts(running) is None
    assert job_finished_facts(done) == (True, 30.0)
    assert job_finished_facts(failed) == (False, None)


@pytest.mark.parametrize(("now", "kind", "created"), [
    (T.timestamp() + 10, "schedule", True),
    (T.timestamp() + 29.4, "schedule", True),
    (T.timestamp() + 29.6, "schedule", False),  # it would reach the server past T + 30 s
    (T.timestamp() + 90, "backfill", True),  # late by design
    (T.timestamp() + 90, "trigger", True),  # claimed: recovered whatever the deadline
])  # fmt: skip
def test_a_scheduled_job_is_not_created_past_its_starting_deadline(now: float, kind: str,
                                                                   created: bool) -> None:
    api, rj, _, metrics, cache = setup()
    rj["spec"] = {"startingDeadlineSeconds": 30}
    launcher = Launcher(api, is_leader=lambda: True, cache=cache, events=EventRecorder(api, instance="test"),
                        metrics=metrics, clock=lambda: now)
    job = job_manifest("backup-1893456060", rj["metadata"]["uid"])
    job["metadata"]["annotations"]["recurringjob.dev/trigger-kind"] = kind
    asyncio.run(launcher.execute(rj, Decision(job=job)))
    assert (job_path("default", "backup-1893456060") in api.objects) is created
    assert count(metrics, "launched") == (1 if created else 0)


def test_a_lock_released_on_a_job_already_gone_forgets_it() -> None:
    # after an API server restart the cache may hold Jobs that are gone: one 404 each, not one per plan
    api, rj, launcher, _, cache = setup()
    gone = job_manifest("backup-1893456060", rj["metadata"]["uid"])
    cache.put_job(gone)
    assert cache.job("default", "backup-1893456060") is not None
    asyncio.run(launcher.release_lock("default", "backup-1893456060"))
    assert cache.job("default", "backup-1893456060") is None
    assert api.writes("PATCH") == [("PATCH", job_path("default", "backup-1893456060"))]  # once, no retries
