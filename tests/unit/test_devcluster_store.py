"""The dev cluster's store in-process: revisions, CAS, status subresource, watches, deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from recurringjob.devcluster.apierrors import ApiError
from recurringjob.devcluster.gc import GarbageCollector
from recurringjob.devcluster.registry import Registry
from recurringjob.devcluster.store import Store

CM = ("", "configmaps")
JOBS = ("batch", "jobs")
NS = ("", "namespaces")


def run(test: Callable[[Store], Coroutine[Any, Any, None]], history: int = 10_000,
        history_seconds: float = 75.0) -> None:
    async def main() -> None:
        store = Store(Registry(), history, history_seconds)
        GarbageCollector(store)
        store.create(NS, {"metadata": {"name": "default"}})
        await test(store)

    asyncio.run(main())


def cm(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": dict(data),
    }


def job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
            }
        },
    }


def test_create_sets_metadata_and_revisions_increase() -> None:
    async def body(store: Store) -> None:
        a = store.create(CM, cm("a"))
        b = store.create(CM, {"metadata": {"generateName": "b-", "namespace": "default"}})
        assert a["metadata"]["uid"] and a["metadata"]["creationTimestamp"].endswith("Z")
        assert int(b["metadata"]["resourceVersion"]) == int(a["metadata"]["resourceVersion"]) + 1
        assert b["metadata"]["name"].startswith("b-") and len(b["metadata"]["name"]) == 7
        with pytest.raises(ApiError) as exc:
            store.create(CM, cm("a"))
        assert (exc.value.code, exc.value.reason) == (409, "AlreadyExists")
        with pytest.raises(ApiError) as exc:
            store.create(CM, {"metadata": {"name": "x", "namespace": "nope"}})
        assert exc.value.code == 404 and exc.value.message == 'namespaces "nope" not found'

    run(body)


def test_stale_resource_version_conflicts_and_noop_keeps_revision() -> None:
    async def body(store: Store) -> None:
        first = store.create(CM, cm("a", k="1"))
        second = store.update(CM, dict(cm("a", k="2"), metadata=dict(first["metadata"])))
        assert second["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
        with pytest.raises(ApiError) as exc:
            store.update(CM, dict(cm("a", k="3"), metadata=dict(first["metadata"])))
        assert exc.value.code == 409 and exc.value.reason == "Conflict"
        assert "the object has been modified" in exc.value.message
        revision = store.revision
        same = store.update(CM, dict(cm("a", k="2"), metadata=dict(second["metadata"])))
        assert store.revision == revision and same["metadata"]["resourceVersion"] == str(revision)
        assert store.get(CM, "default", "a")["data"] == {"k": "2"}

    run(body)


def test_status_subresource_and_generation() -> None:
    async def body(store: Store) -> None:
        created = store.create(JOBS, job("j"))
        assert created["metadata"]["generation"] == 1 and created["status"] == {}
        status = store.update(JOBS, dict(store.get(JOBS, "default", "j"), status={"active": 1}), "status")
        assert status["status"] == {"active": 1} and status["metadata"]["generation"] == 1
        main = store.get(JOBS, "default", "j")
        main["status"] = {"active": 99}
        main["spec"]["parallelism"] = 2
        main["metadata"]["labels"] = {"x": "y"}
        updated = store.update(JOBS, main)
        assert updated["status"] == {"active": 1}  # main-resource writes leave status alone
        assert updated["metadata"]["generation"] == 2 and updated["metadata"]["labels"] == {"x": "y"}
        relabeled = store.get(JOBS, "default", "j")
        relabeled["metadata"]["labels"] = {"x": "z"}
        assert store.update(JOBS, relabeled)["metadata"]["generation"] == 2  # metadata: no bump

    run(body)


def test_watch_replays_after_revision_then_streams_and_expires() -> None:
    async def body(store: Store) -> None:
        start = store.revision
        for i in range(5):
            store.create(CM, cm(f"c{i}"))
        store.delete(CM, "default", "c0")
        seen: list[tuple[str, str]] = []

        async def consume() -> None:
            async for type_, obj in store.watch(CM, "default", since=start + 2):
                seen.append((type_, obj["metadata"]["name"]))
                if len(seen) == 5:
                    return

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.01)
        store.create(CM, cm("late"))
        await asyncio.wait_for(task, 2)
        assert seen == [
            ("ADDED", "c2"),
            ("ADDED", "c3"),
            ("ADDED", "c4"),
            ("DELETED", "c0"),
            ("ADDED", "late"),
        ]
        with pytest.raises(ApiError) as exc:
            store.subscribe(CM, since=1)
        assert (exc.value.code, exc.value.reason) == (410, "Expired")

    run(body, history=6, history_seconds=0)


def test_label_selector_transitions_in_watch() -> None:
    async def body(store: Store) -> None:
        sub, initial = store.subscribe(CM, label_selector="app=x")
        assert initial == []
        obj = store.create(CM, cm("a"))
        obj = store.update(CM, dict(obj, metadata=dict(obj["metadata"], labels={"app": "x"})))
        store.update(CM, dict(obj, metadata=dict(obj["metadata"], labels={"app": "y"})))
        events = [await sub.next(1), await sub.next(1)]
        assert [(e[0], e[1]["metadata"]["name"]) for e in events if e] == [("ADDED", "a"), ("DELETED", "a")]
        assert await sub.next(0.01) is None

    run(body)


def test_finalizers_and_background_garbage_collection() -> None:
    async def body(store: Store) -> None:
        owner = store.create(JOBS, job("owner"))
        ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "owner", "uid": owner["metadata"]["uid"]}
        store.create(
            CM, dict(cm("dep"), metadata={"name": "dep", "namespace": "default", "ownerReferences": [ref]})
        )
        kept = store.create(
            CM,
            dict(
                cm("held"),
                metadata={"name": "held", "namespace": "default", "finalizers": ["example.dev/hold"]},
            ),
        )
        deleted, marked = store.delete(CM, "default", "held")
        assert not deleted and marked["metadata"]["deletionTimestamp"]
        released = dict(marked, metadata=dict(marked["metadata"], finalizers=[]))
        store.update(CM, released)
        assert store.peek(CM, "default", "held") is None and kept
        store.delete(JOBS, "default", "owner", propagation="Background")
        assert store.peek(CM, "default", "dep") is not None  # collected after the request, like kube
        await asyncio.sleep(0.01)
        assert store.peek(CM, "default", "dep") is None

    run(body)


def test_orphan_and_foreground_propagation() -> None:
    async def body(store: Store) -> None:
        for policy in ("Orphan", "Foreground"):
            owner = store.create(JOBS, job(f"o-{policy.lower()}"))
            ref = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
            store.create(
                CM,
                {
                    "metadata": {
                        "name": f"d-{policy.lower()}",
                        "namespace": "default",
                        "ownerReferences": [ref],
                    }
                },
            )
            store.delete(JOBS, "default", owner["metadata"]["name"], propagation=policy)
            await asyncio.sleep(0.01)
            assert store.peek(JOBS, "default", owner["metadata"]["name"]) is None
        orphan = store.peek(CM, "default", "d-orphan")
        assert orphan is not None and "ownerReferences" not in orphan["metadata"]
        assert store.peek(CM, "default", "d-foreground") is None

    run(body)


def test_close_watches_ends_open_watches_and_subscriptions_promptly() -> None:
    async def body(store: Store) -> None:
        store.create(CM, cm("a"))
        seen: list[str] = []

        async def consume() -> None:
            async for _, obj in store.watch(CM, "default"):
                seen.append(obj["metadata"]["name"])

        watcher = asyncio.create_task(consume())
        sub, _ = store.subscribe(CM)
        waiting = asyncio.create_task(sub.next(30))
        await asyncio.sleep(0.01)
        store.close_watches()  # server shutdown
        await asyncio.wait_for(watcher, 1)  # the iteration ends instead of waiting forever
        assert await asyncio.wait_for(waiting, 1) is None and sub.closed
        assert seen == ["a"]

    run(body)


def test_a_waiting_subscription_is_cancelled_at_once() -> None:
    async def body(store: Store) -> None:
        sub, _ = store.subscribe(CM)
        waiting = asyncio.create_task(sub.next(30))
        await asyncio.sleep(0.01)
        store.create(CM, cm("b"))  # the wake and the cancellation land in the same loop turn
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, 1)

    run(body)
