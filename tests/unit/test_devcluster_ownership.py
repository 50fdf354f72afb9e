"""The store's ownership indexes (uid -> object, owner uid -> dependents): kept right across
create/update/delete and a --data-dir restore, and used by deletion instead of scanning every
stored object (the operator benchmark's history pruning deletes a Job per launch among ~50,000)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from recurringjob.devcluster.gc import GarbageCollector
from recurringjob.devcluster.journal import Journal
from recurringjob.devcluster.registry import Registry
from recurringjob.devcluster.store import Store

CM = ("", "configmaps")
JOBS = ("batch", "jobs")
NS = ("", "namespaces")


def run(test: Callable[[Store], Coroutine[Any, Any, None]], data_dir: Path | None = None) -> None:
    async def main() -> None:
        store = Store(Registry())
        journal = Journal(data_dir) if data_dir is not None else None
        if journal is not None:
            journal.restore(store)
        GarbageCollector(store)
        if store.peek(NS, None, "default") is None:
            store.create(NS, {"metadata": {"name": "default"}})
        try:
            await test(store)
        finally:
            if journal is not None:
                journal.close()

    asyncio.run(main())


def job(name: str) -> dict[str, Any]:
    spec = {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


def owned_cm(name: str, *owners: dict[str, Any]) -> dict[str, Any]:
    refs = [{"apiVersion": "batch/v1", "kind": "Job", "name": owner["metadata"]["name"],
             "uid": owner["metadata"]["uid"]} for owner in owners]
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if refs:
        meta["ownerReferences"] = refs
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def names(pairs: list[tuple[tuple[str, str], dict[str, Any]]]) -> set[str]:
    return {obj["metadata"]["name"] for _, obj in pairs}


def test_uid_and_dependents_indexes_follow_create_update_delete() -> None:
    async def body(store: Store) -> None:
        baseline = store.index_sizes()
        owner = store.create(JOBS, job("owner"))
        uid = owner["metadata"]["uid"]
        store.create(CM, owned_cm("a", owner))
        store.create(CM, owned_cm("b", owner))
        found = store.by_uid(uid)
        assert found is not None and found[0] == JOBS and found[1]["metadata"]["name"] == "owner"
        assert names(store.dependents(uid)) == {"a", "b"}
        # an update keeps the uid entry and drops b's ownerReference from the dependents index
        b = store.get(CM, "default", "b")  # a copy: stored objects are shared, never edited
        b["metadata"].pop("ownerReferences")
        store.update(CM, b)
        assert names(store.dependents(uid)) == {"a"}
        assert store.by_uid(b["metadata"]["uid"]) is not None
        store.delete(JOBS, "default", "owner", propagation="Background")
        assert store.by_uid(uid) is None
        await asyncio.sleep(0.01)  # the garbage collector collects "a"
        assert store.peek(CM, "default", "a") is None and store.dependents(uid) == []
        # a same-named successor has a new uid; the old one stays unknown
        successor = store.create(JOBS, job("owner"))
        assert store.by_uid(uid) is None
        assert store.by_uid(successor["metadata"]["uid"]) is not None
        store.delete(JOBS, "default", "owner")
        store.delete(CM, "default", "b")
        await asyncio.sleep(0.01)
        assert store.index_sizes() == baseline  # nothing left behind by owners that came and went

    run(body)


def test_indexes_are_rebuilt_on_restore_from_data_dir(tmp_path: Path) -> None:
    written: dict[str, Any] = {}

    async def write(store: Store) -> None:
        owner = store.create(JOBS, job("owner"))
        gone = store.create(JOBS, job("gone"))
        store.create(CM, owned_cm("dep", owner, gone))
        store.delete(JOBS, "default", "gone")
        await asyncio.sleep(0.01)  # the GC drops the ownerReference to "gone" (owner still exists)
        written.update(owner=owner["metadata"]["uid"], gone=gone["metadata"]["uid"],
                       sizes=store.index_sizes(),
                       uids={obj["metadata"]["uid"]: (rk, obj["metadata"]["name"])
                             for rk, obj in store.all_objects()})

    async def check(store: Store) -> None:
        assert store.index_sizes() == written["sizes"]
        for uid, (rk, name) in written["uids"].items():
            found = store.by_uid(uid)
            assert found is not None and (found[0], found[1]["metadata"]["name"]) == (rk, name)
        assert store.by_uid(written["gone"]) is None
        assert names(store.dependents(written["owner"])) == {"dep"}
        assert store.dependents(written["gone"]) == []
        # the restored index drives deletion as before
        store.delete(JOBS, "default", "owner", propagation="Foreground")
        await asyncio.sleep(0.01)
        assert store.peek(CM, "default", "dep") is None and store.peek(JOBS, "default", "owner") is None

    run(write, tmp_path)
    run(check, tmp_path)


class CountingBucket(dict[Any, Any]):
    """A store bucket that counts every walk over its objects (a scan), not lookups by key."""

    scans = 0

    def __iter__(self) -> Iterator[Any]:
        CountingBucket.scans += 1
        return super().__iter__()

    def keys(self) -> Any:
        CountingBucket.scans += 1
        return super().keys()

    def values(self) -> Any:
        CountingBucket.scans += 1
        return super().values()

    def items(self) -> Any:
        CountingBucket.scans += 1
        return super().items()


def test_deletions_and_collection_never_scan_the_stored_objects() -> None:
    async def body(store: Store) -> None:
        for i in range(2000):  # unrelated objects the deletions must not touch
            store.create(CM, owned_cm(f"unrelated-{i}"))
        pruned_owner = store.create(JOBS, job("rj-like-owner"))
        store.create(CM, owned_cm("pruned", pruned_owner))
        waiting_owner = store.create(JOBS, job("foreground-owner"))
        store.create(CM, owned_cm("held", waiting_owner))
        # White box: wrap the store's buckets so that any walk over them is counted.
        store._objects = {rk: CountingBucket(bucket) for rk, bucket in store._objects.items()}
        CountingBucket.scans = 0
        # history pruning: a dependent deleted while its owner lives (owner-check by uid)
        store.delete(CM, "default", "pruned")
        # Foreground: the owner waits for its dependent, the dependent's deletion releases it
        store.delete(JOBS, "default", "foreground-owner", propagation="Foreground")
        await asyncio.sleep(0.01)
        assert store.peek(CM, "default", "held") is None
        assert store.peek(JOBS, "default", "foreground-owner") is None
        assert store.peek(JOBS, "default", "rj-like-owner") is not None
        assert CountingBucket.scans == 0

    run(body)
