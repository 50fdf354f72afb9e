"""The scheduler with sharded leadership: it plans only the RecurringJobs of shards it leads, starts and
stops per shard, and runs each reconcile as its shard (guarded writes and launch counts per shard)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from recurringjob.core.jobs import OCCURRENCE_LOCK_FINALIZER
from recurringjob.core.planner import Decision
from recurringjob.runtime.acting import acting_shard
from recurringjob.runtime.kube import job_path
from test_scheduler import make, rj, wait_decision


class TwoShards:
    """uid-a* in shard 0, every other uid in shard 1; `led` says which shards we lead."""

    def __init__(self, *led: int) -> None:
        self.led = set(led)

    def shard_of(self, uid: str) -> int:
        return 0 if uid.startswith("uid-a") else 1

    def leads(self, shard: int) -> bool:
        return shard in self.led


def test_only_the_led_shards_are_planned_each_as_its_own_shard() -> None:
    planned: list[tuple[str, int | None]] = []

    def plan(obj: Mapping[str, Any], jobs: Sequence[Any], now: datetime) -> Decision:
        planned.append((obj["metadata"]["name"], acting_shard.get()))
        return wait_decision()

    async def scenario() -> None:
        scheduler, cache, _, _ = make(plan=plan)
        shards = TwoShards(0)
        scheduler.sharding = shards
        for name in ("a1", "a2", "b1", "b2"):
            cache.put_recurringjob(rj(name))
        scheduler.start_shard(0)
        await asyncio.sleep(0.05)
        assert sorted(planned) == [("a1", 0), ("a2", 0)]
        scheduler.on_recurringjob_event(rj("b1", rv="2"))  # another replica's shard: not ours to plan
        await asyncio.sleep(0.05)
        assert sorted(planned) == [("a1", 0), ("a2", 0)]
        shards.led.add(1)
        scheduler.start_shard(1)
        await asyncio.sleep(0.05)
        assert sorted(planned)[2:] == [("b1", 1), ("b2", 1)]
        await scheduler.stop()

    asyncio.run(scenario())


def test_stopping_a_shard_drops_its_queue_and_the_last_one_stops_the_scheduler() -> None:
    async def scenario() -> None:
        scheduler, cache, _, _ = make(plan=lambda *_: wait_decision(requeue_after=3600))
        shards = TwoShards(0, 1)
        scheduler.sharding = shards
        for name in ("a1", "b1", "b2"):
            cache.put_recurringjob(rj(name))
        scheduler.start_shard(0)
        scheduler.start_shard(1)
        await asyncio.sleep(0.05)
        assert scheduler.queue_size() == 3  # each waits an hour for its next plan
        shards.led.discard(1)
        await scheduler.stop_shard(1)
        assert scheduler.queue_size() == 1 and scheduler.active
        shards.led.discard(0)
        await scheduler.stop_shard(0)
        assert not scheduler.active and scheduler.queue_size() == 0

    asyncio.run(scenario())


def orphan(name: str, owner_uid: str) -> dict[str, Any]:
    """A Job being deleted whose RecurringJob is gone, its occurrence lock long free to release."""
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": "1",
                         "creationTimestamp": "2020-01-01T00:00:00Z",
                         "deletionTimestamp": "2020-01-01T00:01:00Z",
                         "finalizers": [OCCURRENCE_LOCK_FINALIZER],
                         "ownerReferences": [{"apiVersion": "recurringjob.dev/v1alpha1",
                                              "kind": "RecurringJob", "name": "gone", "uid": owner_uid,
                                              "controller": True}]}}


def test_the_orphaned_lock_sweep_releases_only_jobs_of_led_shards() -> None:
    async def scenario(shards: TwoShards | None) -> set[str]:
        scheduler, cache, api, _ = make()
        scheduler.sharding = shards
        for name, uid in (("j-a", "uid-a-gone"), ("j-b", "uid-b-gone")):
            api.put_object(job_path("ns", name), orphan(name, uid))
            cache.put_job(orphan(name, uid))
        assert await scheduler.release_orphaned_locks() == (1 if shards else 2)
        return {path.rsplit("/", 1)[1] for method, path in api.writes("PATCH")}

    assert asyncio.run(scenario(None)) == {"j-a", "j-b"}  # unsharded: every orphan
    assert asyncio.run(scenario(TwoShards(1))) == {"j-b"}  # sharded: the led shard's orphans only
