"""The leader's scheduler: time order, one reconcile per key at once, coalescing, bounded pool, CAS."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fake_kube import FakeKube
from recurringjob.core.planner import Decision
from recurringjob.runtime.cache import Cache
from recurringjob.runtime.kube import job_path, rj_path
from recurringjob.runtime.launch import EventRecorder, Launcher
from recurringjob.runtime.metrics import Metrics
from recurringjob.runtime.scheduler import Scheduler


def wait_decision(**kwargs: Any) -> Decision:
    return Decision(action="wait", **kwargs)


def make(api: FakeKube | None = None, *, plan: Any = None, workers: int = 4,
         leader: bool = True) -> tuple[Scheduler, Cache, FakeKube, Metrics]:
    api = api or FakeKube()
    cache, metrics = Cache(), Metrics()
    launcher = Launcher(api, is_leader=lambda: leader, cache=cache, events=EventRecorder(api, instance="t"),
                        metrics=metrics)
    chosen = None if plan == "real" else plan or (lambda *_: wait_decision())  # None: the real planner
    scheduler = Scheduler(cache=cache, api=api, launcher=launcher, is_leader=lambda: leader,
                          metrics=metrics, plan=chosen, workers=workers)
    return scheduler, cache, api, metrics


def owned_by(name: str) -> list[dict[str, Any]]:
    """The controller ownerReference that makes a Job belong to RecurringJob `name` (see rj())."""
    return [{"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob", "name": name,
             "uid": f"uid-{name}", "controller": True}]


def rj(name: str, rv: str = "1", **status: Any) -> dict[str, Any]:
    return {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": rv},
            "spec": {"schedule": "* * * * *"}, "status": dict(status)}


def test_due_keys_run_in_time_order() -> None:
    order: list[str] = []

    def plan(obj: Mapping[str, Any], jobs: Sequence[Any], now: datetime) -> Decision:
        order.append(obj["metadata"]["name"])
        return wait_decision()

    async def scenario() -> None:
        scheduler, cache, _, _ = make(plan=plan, workers=1)
        scheduler.start()
        for name, delay in (("a", 0.15), ("b", 0.05), ("c", 0.10)):
            cache.put_recurringjob(rj(name))
            scheduler.enqueue(("ns", name), delay)
        await asyncio.sleep(0.3)
        await scheduler.stop()

    asyncio.run(scenario())
    assert order == ["b", "c", "a"]


def test_an_earlier_enqueue_wins_and_a_later_one_is_ignored() -> None:
    order: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()

        def plan(obj: Mapping[str, Any], jobs: Sequence[Any], now: datetime) -> Decision:
            order.append(loop.time() - start)
            return wait_decision()

        scheduler, cache, _, _ = make(plan=plan)
        scheduler.start()
        cache.put_recurringjob(rj("a"))
        scheduler.enqueue(("ns", "a"), 0.5)
        scheduler.enqueue(("ns", "a"), 0.05)  # sooner: replaces
        scheduler.enqueue(("ns", "a"), 0.3)   # later than pending: ignored
        assert scheduler.queue_size() == 1
        await asyncio.sleep(0.7)
        await scheduler.stop()

    asyncio.run(scenario())
    assert len(order) == 1 and order[0] < 0.25


def test_one_reconcile_per_key_at_a_time_and_wakeups_coalesce() -> None:
    running: collections.Counter[tuple[str, str]] = collections.Counter()
    peak: collections.Counter[tuple[str, str]] = collections.Counter()
    runs: collections.Counter[tuple[str, str]] = collections.Counter()

    async def scenario() -> None:
        scheduler, cache, _, _ = make(workers=8)

        async def slow_reconcile(key: tuple[str, str]) -> float | None:
            running[key] += 1
            peak[key] = max(peak[key], running[key])
            runs[key] += 1
            await asyncio.sleep(0.1)
            running[key] -= 1
            return None

        scheduler.reconcile = slow_reconcile  # type: ignore[method-assign]
        scheduler.start()
        cache.put_recurringjob(rj("a"))
        for _ in range(5):
            scheduler.enqueue(("ns", "a"))
            await asyncio.sleep(0.02)  # wakeups keep arriving while the first reconcile runs
        await asyncio.sleep(0.4)
        await scheduler.stop()

    asyncio.run(scenario())
    assert peak[("ns", "a")] == 1
    assert runs[("ns", "a")] == 2  # the running one, plus one replay for all wakeups meanwhile


def test_the_worker_pool_bounds_concurrency() -> None:
    state = {"now": 0, "peak": 0, "done": 0}

    async def scenario() -> None:
        scheduler, cache, _, _ = make(workers=5)

        async def reconcile(key: tuple[str, str]) -> float | None:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(0.02)
            state["now"] -= 1
            state["done"] += 1
            return None

        scheduler.reconcile = reconcile  # type: ignore[method-assign]
        for index in range(50):
            cache.put_recurringjob(rj(f"rj{index}"))
        scheduler.start()  # becoming leader queues every known RecurringJob
        await asyncio.sleep(0.5)
        await scheduler.stop()

    asyncio.run(scenario())
    assert state["done"] == 50 and state["peak"] == 5


def test_claim_conflict_rereads_replans_and_launches_once() -> None:
    api = FakeKube()
    fresh = api.put_object(rj_path("ns", "a"), rj("a"))
    stale = {**fresh, "metadata": {**fresh["metadata"], "resourceVersion": "0"}}
    seen_versions: list[str] = []

    def plan(obj: Mapping[str, Any], jobs: Sequence[Any], now: datetime) -> Decision:
        seen_versions.append(obj["metadata"]["resourceVersion"])
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "a-1", "namespace": "ns", "labels": {"recurringjob.dev/name": "a"},
                            "ownerReferences": owned_by("a")}}
        if obj["status"].get("claimed"):
            return wait_decision(requeue_after=60.0)
        return Decision(action="launch", status={"claimed": True}, job=job, requeue_after=60.0)

    async def scenario() -> float | None:
        scheduler, cache, _, metrics = make(api, plan=plan)
        scheduler.clock = lambda: 100.0  # frozen: the requeue is exactly what plan() said
        cache.put_recurringjob(stale)
        delay = await scheduler.reconcile(("ns", "a"))
        assert metrics.registry.get_sample_value("recurringjob_claim_conflicts_total") == 1
        return delay

    assert asyncio.run(scenario()) == 60.0
    assert seen_versions == ["0", fresh["metadata"]["resourceVersion"]]
    assert api.writes() == [("PUT", rj_path("ns", "a") + "/status"), ("PUT", rj_path("ns", "a") + "/status"),
                            ("POST", job_path("ns"))]


def test_a_follower_plans_nothing_and_writes_nothing() -> None:
    calls: list[str] = []

    async def scenario() -> None:
        scheduler, cache, api, _ = make(plan=lambda *a: calls.append("plan"), leader=False)
        cache.put_recurringjob(rj("a"))
        assert await scheduler.reconcile(("ns", "a")) is None
        assert api.writes() == []

    asyncio.run(scenario())
    assert calls == []


def test_own_write_echo_is_not_replanned_but_foreign_changes_and_finished_jobs_are() -> None:
    async def scenario() -> None:
        scheduler, _, _, _ = make()
        scheduler.start()
        scheduler._written_rv[("ns", "a")] = "5"
        scheduler.on_recurringjob_event(rj("a", rv="5"))
        assert scheduler.queue_size() == 0
        scheduler.on_recurringjob_event(rj("a", rv="6"))
        assert scheduler.queue_size() == 1
        job = {"metadata": {"name": "b-1", "namespace": "ns", "ownerReferences": owned_by("b")},
               "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
        running = {**job, "status": {}}
        scheduler.on_job_event(running, None, deleted=False)
        assert scheduler.queue_size() == 1  # a running Job changes nothing
        scheduler.on_job_event(job, running, deleted=False)
        assert scheduler.queue_size() == 2  # finished: its owner does the bookkeeping now
        await scheduler.stop()

    asyncio.run(scenario())


def test_with_the_real_planner_each_occurrence_costs_one_claim_and_one_create() -> None:
    """An every-second schedule for ~3 s: distinct Jobs, one claim + one create per occurrence."""
    api = FakeKube()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj = {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
           "metadata": {"name": "tick", "namespace": "ns", "creationTimestamp": created, "generation": 1},
           "spec": {"schedule": "* * * * * *", "jobTemplate": {"spec": {"template": {"spec": {
               "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}}}}}

    async def scenario() -> Cache:
        scheduler, cache, _, _ = make(api, plan="real")
        cache.put_recurringjob(api.put_object(rj_path("ns", "tick"), obj))
        scheduler.start()
        await asyncio.sleep(3.2)
        await scheduler.stop()
        return cache

    cache = asyncio.run(scenario())
    posts = [p for m, p in api.writes() if m == "POST"]
    jobs = [p for p in api.objects if p.startswith(job_path("ns") + "/")]
    assert 2 <= len(jobs) <= 4 and len(posts) == len(jobs)
    claims = [p for m, p in api.writes() if m == "PUT"]
    # the first write only records observedGeneration/scheduleFrom/conditions; then one claim per Job
    assert len(claims) <= len(jobs) + 1
    assert len(cache.jobs_of(("ns", "tick"))) == len(jobs)


def test_claimed_jobs_missing_from_the_cache_are_read_before_planning() -> None:
    """A lagging Job watch must not make plan() believe a running Job is gone."""
    api = FakeKube()
    api.put_object(job_path("ns", "a-1"), {"metadata": {"name": "a-1", "namespace": "ns",
                                                        "ownerReferences": owned_by("a")}})
    seen: list[list[str]] = []

    def plan(obj: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]], now: datetime) -> Decision:
        seen.append(sorted(j["metadata"]["name"] for j in jobs))
        return wait_decision()

    async def scenario() -> None:
        scheduler, cache, _, _ = make(api, plan=plan)
        cache.put_recurringjob(rj("a", active=[{"name": "a-1"}, {"name": "a-gone"}]))
        await scheduler.reconcile(("ns", "a"))

    asyncio.run(scenario())
    assert seen == [["a-1"]]
    assert api.writes() == []


def test_the_requeue_counts_from_the_moment_of_planning_not_from_the_end_of_the_launch() -> None:
    """Time spent claiming and creating must not push the next occurrence that much later."""
    api = FakeKube()
    stored = api.put_object(rj_path("ns", "a"), rj("a"))
    fake_time = [1000.0]

    def plan(obj: Mapping[str, Any], jobs: Sequence[Any], now: datetime) -> Decision:
        fake_time[0] += 2.5  # the claim below and the rest of the reconcile "take" 2.5 s
        return Decision(action="wait", status={"observed": True}, requeue_after=60.0)

    async def scenario() -> float | None:
        scheduler, cache, _, _ = make(api, plan=plan)
        scheduler.clock = lambda: fake_time[0]
        cache.put_recurringjob(stored)
        return await scheduler.reconcile(("ns", "a"))

    assert asyncio.run(scenario()) == 57.5
    assert api.writes() == [("PUT", rj_path("ns", "a") + "/status")]


def test_the_heap_stays_bounded_when_the_same_keys_are_enqueued_again_and_again() -> None:
    # Each earlier enqueue supersedes the key's entry; a superseded entry used to stay in the heap
    # until its own (far-future) time, so a quiet RecurringJob with busy watch events grew it forever.
    keys = [("ns", f"rj-{index}") for index in range(50)]
    sizes: list[int] = []

    async def scenario() -> None:
        scheduler, _, _, _ = make(plan=lambda *_: wait_decision(requeue_after=None))
        scheduler.start()
        for round_ in range(400):
            for key in keys:
                scheduler.enqueue(key, 10_000.0 - round_)  # each one sooner than the last: supersedes
            sizes.append(len(scheduler._heap))
        scheduler.forget(keys[0])
        for _ in range(400):
            scheduler.forget(keys[1])
            scheduler.enqueue(keys[1], 5_000.0)
        sizes.append(len(scheduler._heap))
        assert scheduler.queue_size() == len(keys) - 1
        await scheduler.stop()

    asyncio.run(scenario())
    assert max(sizes) <= 2 * len(keys) + 16, max(sizes)


def test_after_compaction_every_live_key_still_runs_once_at_its_time() -> None:
    ran: list[str] = []

    def plan(obj: Mapping[str, Any], jobs: Sequence[Any], now: datetime) -> Decision:
        ran.append(obj["metadata"]["name"])
        return wait_decision()

    async def scenario() -> None:
        scheduler, cache, _, _ = make(plan=plan, workers=1)
        scheduler.start()
        names = [f"rj-{index}" for index in range(20)]
        for name in names:
            cache.put_recurringjob(rj(name))
        for round_ in range(100):  # many superseded entries: forces compactions
            for name in names:
                scheduler.enqueue(("ns", name), 1_000.0 - round_)
        for index, name in enumerate(names):
            scheduler.enqueue(("ns", name), 0.01 * (len(names) - index))  # reverse order, all soon
        await asyncio.sleep(0.6)
        await scheduler.stop()

    asyncio.run(scenario())
    assert ran == [f"rj-{index}" for index in reversed(range(20))]
