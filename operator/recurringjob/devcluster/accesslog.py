"""The JSONL access log (`--access-log`): one line per request, reads and watches included.

Unlike the audit log (mutations only, format fixed for the verdicts), this answers "which
requests does a client make?" — e.g. the exact RBAC set an operator needs. Same writer as
audit.py: one os.write on an O_APPEND descriptor per line, no buffering to lose at exit. Keys:
ts verb group version resource subresource namespace name code client path; `path` is set only for
non-resource requests (discovery, /openapi, /version), whose resource is null. A watch is logged
when its stream starts (code 200), or with the error it was refused with.
"""

from __future__ import annotations

import json
import os
from typing import Any

from recurringjob.devcluster.request import RequestInfo

_ENCODER = json.JSONEncoder(separators=(",", ":"))


class AccessLog:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(self, ts: float, info: RequestInfo, code: int, created_name: str | None = None) -> None:
        """A resource request; `created_name` names a create's object (the URL does not)."""
        entry: dict[str, Any] = {
            "ts": ts,
            "verb": info.verb,
            "group": info.group,
            "version": info.version,
            "resource": info.resource,
            "subresource": info.subresource,
            "namespace": info.namespace,
            "name": info.name or created_name,
            "code": code,
            "client": info.client,
            "path": None,
        }
        os.write(self._fd, _ENCODER.encode(entry).encode() + b"\n")

    def record_non_resource(self, ts: float, method: str, path: str, code: int, client: str) -> None:
        entry = {
            "ts": ts,
            "verb": method.lower(),
            "group": None,
            "version": None,
            "resource": None,
            "subresource": None,
            "namespace": None,
            "name": None,
            "code": code,
            "client": client,
            "path": path,
        }
        os.write(self._fd, _ENCODER.encode(entry).encode() + b"\n")

    def close(self) -> None:
        os.close(self._fd)
