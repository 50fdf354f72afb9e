"""The audit log's lines: request lines (held ones with `received`), controller lines, and removals
written after the line of the write that caused them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from recurringjob.devcluster.audit import AuditLog, controller_entry
from recurringjob.devcluster.gc import GarbageCollector
from recurringjob.devcluster.registry import Registry
from recurringjob.devcluster.request import RequestInfo
from recurringjob.devcluster.store import Store

CONFIGMAPS = ("", "configmaps")
KEYS = ["ts", "verb", "group", "version", "resource", "subresource", "namespace", "name", "code", "client"]


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def store_with(audit: AuditLog) -> Store:
    store = Store(Registry())
    store.listeners.append(audit.on_store_event)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    store.create(("", "namespaces"), namespace)
    return store


def configmap(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", **meta}}


def test_request_lines_and_the_received_time_of_held_requests(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    info = RequestInfo("create", "batch", "v1", "jobs", None, "default", None, "replica-1")
    audit.record(100.0, info, 201, {"metadata": {"name": "j", "labels": {"a": "b"}}})
    audit.record(105.0, info, 201, {"metadata": {"name": "k"}}, received=100.5)
    audit.close()
    plain, held = read(tmp_path / "audit.jsonl")
    assert list(plain) == [*KEYS, "labels", "annotations"]
    assert (plain["name"], plain["labels"], plain["annotations"]) == ("j", {"a": "b"}, {})
    assert (held["ts"], held["received"]) == (105.0, 100.5)


def test_controller_entries_have_the_request_keys_plus_event_and_uid() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "ns", "uid": "u1"}}
    entry = controller_entry("update", "batch", "jobs", job, "system:job-controller", "finished",
                             subresource="status", outcome="Complete")
    assert list(entry) == [*KEYS, "event", "uid", "outcome"]
    assert (entry["version"], entry["namespace"], entry["code"], entry["uid"]) == ("v1", "ns", 200, "u1")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "uid": "u2"}}
    cluster_scoped = controller_entry("delete", "", "namespaces", namespace, "system:storage", "removed")
    assert (cluster_scoped["group"], cluster_scoped["version"]) == ("", "v1")
    assert cluster_scoped["namespace"] is None


def test_a_removal_is_written_after_the_line_of_its_cause(tmp_path: Path) -> None:
    async def main() -> None:
        audit = AuditLog(tmp_path / "audit.jsonl")
        store = store_with(audit)
        store.create(CONFIGMAPS, configmap("plain"))
        store.create(CONFIGMAPS, configmap("held", finalizers=["example.com/lock"]))
        store.delete(CONFIGMAPS, "default", "plain")  # removed at once, before its request line
        info = RequestInfo("delete", "", "v1", "configmaps", None, "default", "plain", "replica-1")
        audit.record(1.0, info, 200)
        store.delete(CONFIGMAPS, "default", "held")  # only marked: nothing removed
        released = store.get(CONFIGMAPS, "default", "held")
        released["metadata"]["finalizers"] = []
        store.update(CONFIGMAPS, released)  # removed, and no request line follows in this step
        await asyncio.sleep(0)  # the loop step ends: the pending removal is written
        lines = read(tmp_path / "audit.jsonl")
        assert [(e["name"], e.get("event"), e["client"]) for e in lines] == [
            ("plain", None, "replica-1"), ("plain", "removed", "system:storage"),
            ("held", "removed", "system:storage")]
        assert all(e["verb"] == "delete" and e["code"] == 200 for e in lines)
        audit.close()
    asyncio.run(main())


def test_garbage_collector_deletes_are_lines_followed_by_their_removals(tmp_path: Path) -> None:
    async def main() -> None:
        audit = AuditLog(tmp_path / "audit.jsonl")
        store = store_with(audit)
        GarbageCollector(store, audit)
        owner = store.create(CONFIGMAPS, configmap("owner"))
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
        store.create(CONFIGMAPS, configmap("dependent", ownerReferences=[ref]))
        store.delete(CONFIGMAPS, "default", "owner")
        for _ in range(5):
            await asyncio.sleep(0)
        lines = [(e["name"], e["event"], e["client"], e.get("propagationPolicy"))
                 for e in read(tmp_path / "audit.jsonl")]
        assert lines == [("owner", "removed", "system:storage", None),
                         ("dependent", "deleted", "system:garbage-collector", "Background"),
                         ("dependent", "removed", "system:storage", None)]
        audit.close()
    asyncio.run(main())
