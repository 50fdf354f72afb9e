"""recurringjob_jobs_finished_total: each finished Job counted once, when a CAS write takes it out
of status.active, whether it was seen finishing or was already finished when first seen."""

from __future__ import annotations

import asyncio
from typing import Any

from fake_kube import FakeKube
from recurringjob.runtime.cache import Cache
from recurringjob.runtime.jobwatch import JobSink
from recurringjob.runtime.kube import ApiError, rj_path
from recurringjob.runtime.launch import EventRecorder, Launcher
from recurringjob.runtime.metrics import Metrics
from recurringjob.runtime.scheduler import Scheduler

NAME = "nightly"
JOB = f"{NAME}-1893456000"  # occurrence 2030-01-01T00:00:00Z


def make(api: FakeKube, cache: Cache, metrics: Metrics) -> Scheduler:
    launcher = Launcher(api, is_leader=lambda: True, cache=cache, events=EventRecorder(api, instance="t"),
                        metrics=metrics)
    return Scheduler(cache=cache, api=api, launcher=launcher, is_leader=lambda: True, metrics=metrics)


def recurringjob(api: FakeKube) -> dict[str, Any]:
    obj = {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
           "metadata": {"name": NAME, "namespace": "ns", "uid": "uid-rj", "generation": 1,
                        "creationTimestamp": "2029-12-31T00:00:00Z"},
           "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": {"spec": {
               "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}}}},
           "status": {"active": [{"apiVersion": "batch/v1", "kind": "Job", "name": JOB, "namespace": "ns"}],
                      "lastScheduleTime": "2030-01-01T00:00:00Z"}}
    return api.put_object(rj_path("ns", NAME), obj)


def job(outcome: str | None) -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": "2030-01-01T00:00:01Z"}
    if outcome:
        status |= {"completionTime": "2030-01-01T00:00:31Z",
                   "conditions": [{"type": outcome, "status": "True",
                                   "lastTransitionTime": "2030-01-01T00:00:31Z"}]}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": JOB, "namespace": "ns", "uid": "uid-job", "resourceVersion": "100",
                         "labels": {"recurringjob.dev/name": NAME},
                         "annotations": {"recurringjob.dev/scheduled-time": "2030-01-01T00:00:00Z"},
                         "ownerReferences": [{"apiVersion": "recurringjob.dev/v1alpha1",
                                              "kind": "RecurringJob", "uid": "uid-rj", "controller": True,
                                              "name": NAME}]},
            "status": status}


def finished(metrics: Metrics, result: str = "succeeded") -> float | None:
    return metrics.registry.get_sample_value("recurringjob_jobs_finished_total",
                                             {"namespace": "ns", "name": NAME, "result": result})


def test_a_job_already_finished_when_first_seen_is_counted_once() -> None:
    api, cache, metrics = FakeKube(), Cache(), Metrics()
    scheduler = make(api, cache, metrics)
    cache.put_recurringjob(recurringjob(api))
    cache.put_job(job("Complete"))  # never seen running: e.g. a 1 s Job, or the initial listing
    asyncio.run(scheduler.reconcile(("ns", NAME)))
    assert api.objects[rj_path("ns", NAME)]["status"].get("active", []) == []
    assert finished(metrics) == 1
    assert metrics.registry.get_sample_value("recurringjob_job_duration_seconds_sum") == 30
    asyncio.run(scheduler.reconcile(("ns", NAME)))  # planning again: nothing leaves active now
    assert finished(metrics) == 1


def test_a_failed_job_is_counted_as_failed() -> None:
    api, cache, metrics = FakeKube(), Cache(), Metrics()
    scheduler = make(api, cache, metrics)
    cache.put_recurringjob(recurringjob(api))
    cache.put_job(job("Failed"))
    asyncio.run(scheduler.reconcile(("ns", NAME)))
    assert finished(metrics, "failed") == 1 and not finished(metrics, "succeeded")


def test_the_watch_transition_itself_counts_nothing() -> None:
    """Counting in the watch handler as well would count the Job twice."""
    api, cache, metrics = FakeKube(), Cache(), Metrics()
    scheduler = make(api, cache, metrics)
    sink = JobSink(cache, scheduler)
    cache.put_recurringjob(recurringjob(api))
    sink.changed(job(None))
    done = job("Complete")
    done["metadata"]["resourceVersion"] = "101"
    sink.changed(done)
    assert not finished(metrics)
    asyncio.run(scheduler.reconcile(("ns", NAME)))
    assert finished(metrics) == 1


def test_after_a_failover_the_new_leader_does_not_count_it_again() -> None:
    api, metrics_old, metrics_new = FakeKube(), Metrics(), Metrics()
    cache_old, cache_new = Cache(), Cache()
    stored = recurringjob(api)
    for cache in (cache_old, cache_new):
        cache.put_recurringjob(stored)
        cache.put_job(job("Complete"))
    asyncio.run(make(api, cache_old, metrics_old).reconcile(("ns", NAME)))
    # the new leader's cache still holds the version with the Job in active: its claim gets 409,
    # it re-reads, and the fresh status no longer lists the Job
    asyncio.run(make(api, cache_new, metrics_new).reconcile(("ns", NAME)))
    assert finished(metrics_old) == 1
    assert not finished(metrics_new)


def test_a_lost_claim_counts_nothing() -> None:
    api, cache, metrics = FakeKube(), Cache(), Metrics()
    scheduler = make(api, cache, metrics)
    cache.put_recurringjob(recurringjob(api))
    cache.put_job(job("Complete"))
    for _ in range(4):  # every attempt conflicts: the Job never leaves active through us
        api.fail_next("PUT", NAME, ApiError(409, "Conflict", "modified"))
    asyncio.run(scheduler.reconcile(("ns", NAME)))
    assert not finished(metrics)
    assert api.objects[rj_path("ns", NAME)]["status"]["active"]
