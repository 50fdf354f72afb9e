"""A Job the API rejects: Ready=False/JobRejected, a Warning event, no phantom `active` entry, and
back-off instead of a write storm (issue 8, item 8). Judged from the objects the fake API holds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fake_kube import FakeKube
from recurringjob.runtime.cache import Cache
from recurringjob.runtime.kube import ApiError, events_path, job_path, rj_path
from recurringjob.runtime.launch import EventRecorder, Launcher
from recurringjob.runtime.metrics import Metrics
from recurringjob.runtime.scheduler import Scheduler

T0 = datetime(2030, 1, 1, 0, 1, 0, tzinfo=UTC)
KEY = ("ns", "bad")
REJECTION = ApiError(422, "Invalid", 'Job.batch "bad-1893456060" is invalid: '
                                     'spec.template.spec.restartPolicy: Required value: '
                                     'valid values: "OnFailure", "Never"')


def the_rj() -> dict[str, Any]:
    return {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
            "metadata": {"name": "bad", "namespace": "ns", "uid": "uid-bad", "generation": 1,
                         "creationTimestamp": "2030-01-01T00:00:00Z"},
            "spec": {"schedule": "* * * * *",
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c",
                                                                                    "image": "x"}]}}}}}}


def run(now: list[datetime], rounds: int) -> tuple[FakeKube, Metrics]:
    api, cache, metrics = FakeKube(), Cache(), Metrics()
    cache.put_recurringjob(api.put_object(rj_path("ns", "bad"), the_rj()))
    launcher = Launcher(api, is_leader=lambda: True, cache=cache, events=EventRecorder(api, instance="t"),
                        metrics=metrics)
    scheduler = Scheduler(cache=cache, api=api, launcher=launcher, is_leader=lambda: True, metrics=metrics,
                          now=lambda: now[0])

    async def scenario() -> None:
        for _ in range(rounds):
            api.fail_next("POST", "/jobs", REJECTION)
            await scheduler.reconcile(KEY)
            now[0] += timedelta(seconds=1)

    asyncio.run(scenario())
    return api, metrics


def test_a_rejected_create_leaves_no_phantom_and_says_why() -> None:
    api, metrics = run([T0], rounds=1)
    assert metrics.registry.get_sample_value(
        "recurringjob_occurrences_total", {"namespace": "ns", "name": "bad", "result": "missed"}) == 1
    stored = api.objects[rj_path("ns", "bad")]
    status = stored["status"]
    assert status.get("active") == []  # the claimed entry is gone: it was never created
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "JobRejected")
    assert "restartPolicy" in ready["message"]
    assert status["missedOccurrences"] == 1
    assert job_path("ns", "bad-1893456060") not in api.objects
    events = [obj for path, obj in api.objects.items() if path.startswith(events_path("ns"))]
    assert [e["reason"] for e in events] == ["JobRejected"]
    assert "restartPolicy" in events[0]["message"]


def test_a_rejected_template_costs_few_writes_not_a_storm() -> None:
    """An every-minute schedule for 3 minutes, planned every second: one attempt a minute."""
    api, _ = run([T0], rounds=180)
    attempts = [c for c in api.calls if c == ("POST", job_path("ns"))]
    status_writes = [c for c in api.calls if c[0] == "PUT" and c[1].endswith("/status")]
    assert 2 <= len(attempts) <= 4, attempts
    assert len(status_writes) <= 2 * len(attempts) + 1, status_writes
