"""The JSONL audit log (`--audit-log`): one line per mutating request, plus controller actions.

Tests and benchmarks compute their verdicts from this file, so every line reaches the OS
(os.write on an O_APPEND descriptor) before the client can see the outcome. Keys, exactly:
ts verb group version resource subresource namespace name code client, plus labels and
annotations for creates, plus `received` for a request the hold fault kept (then `ts` is the
commit time and `received` the arrival time).

Controller lines (what no HTTP request shows) have the same keys plus `event` and `uid`:

    event      verb    client                                  extra
    finished   update  system:job-controller                   outcome: Complete | Failed (subresource status)
    stopped    update  system:job-controller                   the Job stopped running because of its deletion
    deleted    delete  system:ttl-after-finished-controller    the TTL controller deleted a finished Job
    deleted    delete  system:garbage-collector                the garbage collector deleted a dependent
    removed    delete  system:storage                          the object left storage (code 200)

A `removed` line comes after the line of the write that caused it (the client's DELETE, the PATCH
releasing the last finalizer, a controller's delete), never before.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from recurringjob.devcluster.request import RequestInfo

if TYPE_CHECKING:
    from recurringjob.devcluster.subscription import Event

JOB_CONTROLLER = "system:job-controller"
TTL_CONTROLLER = "system:ttl-after-finished-controller"
GARBAGE_COLLECTOR = "system:garbage-collector"
STORAGE = "system:storage"

AUDITED_VERBS = {
    "create": "create",
    "update": "update",
    "patch": "patch",
    "delete": "delete",
    "deletecollection": "delete",
}


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps with options builds one per call


def created_name(created: dict[str, Any] | None) -> str | None:
    meta = created.get("metadata") if isinstance(created, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) and name else None


def controller_entry(
    verb: str,
    group: str,
    resource: str,
    obj: Mapping[str, Any],
    client: str,
    event: str,
    code: int = 200,
    subresource: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The line of a controller's action on `obj` (see the module docstring)."""
    meta = obj.get("metadata") or {}
    api_version = str(obj.get("apiVersion") or "")
    return {
        "ts": time.time(),
        "verb": verb,
        "group": group,
        "version": api_version.rpartition("/")[2],
        "resource": resource,
        "subresource": subresource,
        "namespace": meta.get("namespace") or None,
        "name": meta.get("name"),
        "code": code,
        "client": client,
        "event": event,
        "uid": meta.get("uid"),
        **extra,
    }


class AuditLog:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._deferred: list[bytes] = []  # `removed` lines waiting for the line of their cause

    def record_entry(self, entry: Mapping[str, Any]) -> None:
        """A controller line (controller_entry), written at once, then any removals it caused."""
        self._write(_ENCODER.encode(entry).encode() + b"\n")

    def on_store_event(self, event: Event) -> None:
        """Store listener: an object left storage. Its line waits for the line of the write that
        removed it (written in the same loop step), so the file reads cause before effect."""
        if event.type != "DELETED":
            return
        entry = controller_entry("delete", event.rk[0], event.rk[1], event.obj, STORAGE, "removed")
        self._deferred.append(_ENCODER.encode(entry).encode() + b"\n")
        if len(self._deferred) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)  # no line of a cause follows
            except RuntimeError:  # no loop (store used synchronously): nothing will follow
                self.flush()

    def flush(self) -> None:
        if self._deferred:
            lines, self._deferred = b"".join(self._deferred), []
            os.write(self._fd, lines)

    def _write(self, line: bytes) -> None:
        if self._deferred:
            line += b"".join(self._deferred)
            self._deferred = []
        os.write(self._fd, line)

    def record(
        self,
        ts: float,
        info: RequestInfo,
        code: int,
        created: dict[str, Any] | None = None,
        received: float | None = None,
    ) -> None:
        """One line; `created` is the object of a create (as stored, or as sent when it failed);
        `received` is set for a request the hold fault kept (then `ts` is its commit time)."""
        verb = AUDITED_VERBS.get(info.verb)
        if verb is None:
            return
        entry: dict[str, Any] = {
            "ts": ts,
            "verb": verb,
            "group": info.group,
            "version": info.version,
            "resource": info.resource,
            "subresource": info.subresource,
            "namespace": info.namespace,
            # a create names its object in the body (or generateName does), not in the URL
            "name": info.name or created_name(created),
            "code": code,
            "client": info.client,
        }
        if verb == "create":
            meta = (created or {}).get("metadata") if isinstance(created, dict) else None
            meta = meta if isinstance(meta, dict) else {}
            entry["labels"] = meta.get("labels") or {}
            entry["annotations"] = meta.get("annotations") or {}
        if received is not None:
            entry["received"] = received
        self._write(_ENCODER.encode(entry).encode() + b"\n")

    def close(self) -> None:
        self.flush()
        os.close(self._fd)
