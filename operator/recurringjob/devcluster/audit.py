"""The JSONL audit log (`--audit-log`): one line per mutating request, written before the response.

Tests and benchmarks compute their verdicts from this file, so every line reaches the OS
(os.write on an O_APPEND descriptor) before the client can see the outcome. Keys, exactly:
ts verb group version resource subresource namespace name code client, plus labels and
annotations for creates.
"""

from __future__ import annotations

import json
import os
from typing import Any

from recurringjob.devcluster.request import RequestInfo

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


class AuditLog:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(self, ts: float, info: RequestInfo, code: int, created: dict[str, Any] | None = None) -> None:
        """One line; `created` is the object of a create (as stored, or as sent when it failed)."""
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
        os.write(self._fd, _ENCODER.encode(entry).encode() + b"\n")

    def close(self) -> None:
        os.close(self._fd)
