"""Builders for planner tests: RecurringJobs, Jobs in any state, and a tiny simulator."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from recurringjob.core.planner import Decision, plan


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def make_rj(
    schedule: str = "0 * * * *",
    *,
    created: str = "2024-01-01T00:00:00Z",
    status: dict[str, Any] | None = None,
    name: str = "rj",
    **spec: Any,
) -> dict[str, Any]:
    rj: dict[str, Any] = {
        "apiVersion": "recurringjob.dev/v1alpha1",
        "kind": "RecurringJob",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": "uid-1",
            "generation": 1,
            "creationTimestamp": created,
        },
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": "busybox:1.36"}],
                        }
                    }
                }
            },
            **spec,
        },
    }
    if status is not None:
        rj["status"] = status
    return rj


def make_job(
    name: str,
    state: str = "running",
    finished: str | None = None,
    deleting: bool = False,
    scheduled: str | None = None,
    created: str | None = None,
    locked: bool = False,
) -> dict[str, Any]:
    """A Job in any state; `locked`: with our occurrence-lock finalizer; `created`: creationTimestamp."""
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "status": {},
    }
    if created:
        job["metadata"]["creationTimestamp"] = created
    if locked:
        job["metadata"]["finalizers"] = ["recurringjob.dev/occurrence-lock"]
    if scheduled:
        job["metadata"]["annotations"] = {"recurringjob.dev/scheduled-time": scheduled}
    if deleting:
        job["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    if state == "succeeded":
        job["status"] = {
            "completionTime": finished,
            "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": finished}],
        }
    elif state == "failed":
        job["status"] = {"conditions": [{"type": "Failed", "status": "True", "lastTransitionTime": finished}]}
    return job


def step(rj: dict[str, Any], jobs: list[dict[str, Any]], now: str | datetime) -> Decision:
    """Plan once and apply the decision the way the runtime would (status write, Job create)."""
    decision = plan(rj, jobs, utc(now) if isinstance(now, str) else now)
    if decision.status is not None:
        rj["status"] = copy.deepcopy(decision.status)
    names = {j["metadata"]["name"] for j in jobs}
    for manifest in ([decision.job] if decision.job else []) + list(decision.recreate):
        if manifest["metadata"]["name"] not in names:
            jobs.append(copy.deepcopy(manifest))
            names.add(manifest["metadata"]["name"])
    jobs[:] = [
        j for j in jobs if j["metadata"]["name"] not in set(decision.delete_active) | set(decision.prune)
    ]
    return decision
