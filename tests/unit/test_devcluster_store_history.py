"""Stored versions are immutable: a later write never rewrites what history and watchers hold."""

from __future__ import annotations

import asyncio

from recurringjob.devcluster.registry import Registry
from recurringjob.devcluster.store import Store

JOBS = ("batch", "jobs")
NS = ("", "namespaces")


def test_status_write_leaves_the_previous_version_untouched() -> None:
    async def main() -> None:
        store = Store(Registry())
        store.create(NS, {"metadata": {"name": "default"}})
        first = store.create(
            JOBS,
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "j", "namespace": "default"},
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
                    }
                },
            },
        )
        first_rv = first["metadata"]["resourceVersion"]
        second = store.update(JOBS, dict(first, status={"active": 1}), subresource="status")
        assert second["metadata"]["resourceVersion"] != first_rv
        # The version returned by the create (and replayed to a watcher that is behind) still
        # pairs the old status with the old resourceVersion: a CAS built from it must fail.
        assert first["metadata"]["resourceVersion"] == first_rv
        assert "status" not in first or first["status"] != {"active": 1}
        events = []
        async for event_type, obj in store.watch(JOBS, "default", since=int(first_rv) - 1):
            events.append((event_type, obj["metadata"]["resourceVersion"], obj.get("status")))
            if len(events) == 2:
                break
        assert events[0][1] == first_rv and events[0][2] != {"active": 1}
        assert events[1][1] == second["metadata"]["resourceVersion"] and events[1][2] == {"active": 1}

    asyncio.run(asyncio.wait_for(main(), 5))
