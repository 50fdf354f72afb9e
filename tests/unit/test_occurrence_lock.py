"""When the occurrence lock of a Job may go: in-flight bound, and Jobs whose RecurringJob is gone."""

from __future__ import annotations

from typing import Any

import pytest
from planner_helpers import make_job, utc
from recurringjob.core.occurrence_lock import lock_free_at, orphaned_locks


def owned(job: dict[str, Any], uid: str) -> dict[str, Any]:
    job["metadata"]["ownerReferences"] = [{"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
                                           "name": "rj", "uid": uid, "controller": True}]
    return job


def test_the_lock_is_free_one_second_after_the_in_flight_bound() -> None:
    job = make_job("rj-1", created="2024-01-01T00:00:00Z", locked=True)
    assert lock_free_at(job, 80) == utc("2024-01-01T00:01:21Z")
    assert lock_free_at(make_job("rj-1"), 80) is None  # no creationTimestamp: never assumed free


@pytest.mark.parametrize(("case", "job", "live", "now", "released"), [
    ("owner gone, deleting, old", dict(deleting=True), set(), "2024-01-01T00:05:00Z", True),
    ("owner gone, deleting, young", dict(deleting=True), set(), "2024-01-01T00:00:30Z", False),
    ("owner alive: plan() books it", dict(deleting=True), {"uid-1"}, "2024-01-01T00:05:00Z", False),
    ("owner gone, not being deleted yet", dict(), set(), "2024-01-01T00:05:00Z", False),
    ("not our lock", dict(deleting=True, locked=False), set(), "2024-01-01T00:05:00Z", False),
])
def test_orphaned_locks(case: str, job: dict[str, Any], live: set[str], now: str, released: bool) -> None:
    spec = {"locked": True, **job}
    candidate = owned(make_job("rj-1", created="2024-01-01T00:00:00Z", **spec), "uid-1")
    found = orphaned_locks([candidate], live, utc(now), 80)
    assert found == ([("default", "rj-1")] if released else []), case
