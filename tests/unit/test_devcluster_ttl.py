"""The TTL-after-finished controller against the real dev cluster Store."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recurringjob.devcluster.audit import AuditLog
from recurringjob.devcluster.gc import GarbageCollector
from recurringjob.devcluster.registry import Registry
from recurringjob.devcluster.store import Store
from recurringjob.devcluster.ttl import JOBS, TtlAfterFinishedController, expiry

Obj = dict[str, Any]
LOCK = "recurringjob.dev/occurrence-lock"


def stamp(at: float) -> str:
    return datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_store() -> Store:
    store = Store(Registry())
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    store.create(("", "namespaces"), namespace)
    return store


def job(name: str, ttl: int | None, finalizers: list[str] | None = None) -> Obj:
    spec: Obj = {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "main", "image": "busybox"}]}}}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    meta: Obj = {"name": name, "namespace": "default"}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


def finish(store: Store, name: str, at: float, condition: str = "Complete") -> None:
    current = store.get(JOBS, "default", name)
    condition_ = {"type": condition, "status": "True", "lastTransitionTime": stamp(at)}
    current["status"] = {"conditions": [condition_]}
    store.update(JOBS, current, subresource="status")


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def run(test: Callable[[Store, TtlAfterFinishedController], Awaitable[None]], store: Store | None = None,
        audit: AuditLog | None = None) -> None:
    async def main() -> None:
        the_store = store or new_store()
        GarbageCollector(the_store)
        controller = TtlAfterFinishedController(the_store, audit)
        await controller.start()
        try:
            await test(the_store, controller)
        finally:
            await controller.stop()
    asyncio.run(main())


def test_expiry_is_the_finished_condition_time_plus_the_ttl() -> None:
    now = time.time()
    finished = job("a", 30)
    finished["status"] = {"conditions": [
        {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": stamp(now - 99)},
        {"type": "Failed", "status": "True", "lastTransitionTime": stamp(now)}]}
    assert expiry(finished) == int(now) + 30
    assert expiry(dict(finished, spec={"ttlSecondsAfterFinished": None})) is None
    running = job("b", 30)
    running["status"] = {"conditions": [{"type": "Complete", "status": "False",
                                         "lastTransitionTime": stamp(now)}]}
    assert expiry(running) is None
    deleting = dict(finished, metadata={"name": "a", "deletionTimestamp": stamp(now)})
    assert expiry(deleting) is None


def test_finished_jobs_are_deleted_after_their_ttl_and_others_are_left(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")

    async def test(store: Store, controller: TtlAfterFinishedController) -> None:
        for name, ttl in (("soon", 0), ("later", 3), ("never", None), ("running", 0)):
            store.create(JOBS, job(name, ttl))
        now = time.time()
        for name in ("soon", "later", "never"):
            finish(store, name, now, "Failed" if name == "later" else "Complete")
        await eventually(lambda: store.peek(JOBS, "default", "soon") is None)
        assert store.peek(JOBS, "default", "later") is not None  # due 2..3 s after it finished
        await eventually(lambda: store.peek(JOBS, "default", "later") is None, within=10)
        await asyncio.sleep(0.2)
        assert store.peek(JOBS, "default", "never") is not None
        assert store.peek(JOBS, "default", "running") is not None
        assert controller.pending == 0
        audit.flush()
        lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        deleted = [(e["name"], e["event"], e["client"], e["propagationPolicy"], e["code"])
                   for e in lines if e["event"] == "deleted"]
        assert sorted(deleted) == [(n, "deleted", "system:ttl-after-finished-controller", "Foreground", 200)
                                   for n in ("later", "soon")]

    run(test, audit=audit)


def test_a_finalizer_keeps_the_job_and_it_is_deleted_only_once() -> None:
    async def test(store: Store, controller: TtlAfterFinishedController) -> None:
        store.create(JOBS, job("held", 0, [LOCK]))
        finish(store, "held", time.time())
        await eventually(lambda: bool(store.peek(JOBS, "default", "held")["metadata"].get(  # type: ignore[index]
            "deletionTimestamp")))
        held = store.get(JOBS, "default", "held")
        assert held["metadata"]["finalizers"] == [LOCK]
        first_version = held["metadata"]["resourceVersion"]
        await asyncio.sleep(0.3)
        assert store.get(JOBS, "default", "held")["metadata"]["resourceVersion"] == first_version
        assert controller.pending == 0

    run(test)


def test_a_changed_ttl_or_a_same_named_successor_is_decided_again() -> None:
    async def test(store: Store, controller: TtlAfterFinishedController) -> None:
        store.create(JOBS, job("moved", 1))
        finish(store, "moved", time.time())
        current = store.get(JOBS, "default", "moved")
        current["spec"]["ttlSecondsAfterFinished"] = 3600
        store.update(JOBS, current)
        await asyncio.sleep(1.5)
        assert store.peek(JOBS, "default", "moved") is not None and controller.pending == 1
        store.create(JOBS, job("successor", 1))
        finish(store, "successor", time.time())
        store.delete(JOBS, "default", "successor")
        store.create(JOBS, job("successor", None))  # same name, no TTL: must survive
        await asyncio.sleep(1.5)
        assert store.peek(JOBS, "default", "successor") is not None

    run(test)


def test_finished_jobs_already_stored_are_picked_up_at_start() -> None:
    store = new_store()
    store.create(JOBS, job("old", 5))
    finish(store, "old", time.time() - 60)  # expired while the server was down

    async def test(store: Store, controller: TtlAfterFinishedController) -> None:
        await eventually(lambda: store.peek(JOBS, "default", "old") is None)

    run(test, store=store)
