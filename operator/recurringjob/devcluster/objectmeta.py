"""Object metadata only the server writes: uid, timestamps, generated names, generation.

The rules kube-apiserver's generic registry applies on create and update, kept apart from the
store's storage and compare-and-swap logic.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from recurringjob.devcluster.registry import ResourceType

Obj = dict[str, Any]

# Metadata only the server sets: a write can never change these.
SERVER_METADATA = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "namespace",
    "name",
)
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # kube's generateName alphabet (no vowels)


_last_stamp: tuple[int, str] = (-1, "")


def now_rfc3339() -> str:
    """Now, to the second (kube's metadata timestamps); formatted once per second, not per write."""
    global _last_stamp
    second = int(time.time())
    if _last_stamp[0] != second:
        _last_stamp = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _last_stamp[1]


MAX_GENERATED_PREFIX = 63 - 5  # kube truncates the prefix so that the name fits a label value


def generated_name(prefix: str) -> str:
    """`metadata.generateName` + 5 random characters, as kube's names.SimpleNameGenerator does."""
    return prefix[:MAX_GENERATED_PREFIX] + "".join(random.choices(NAME_CHARS, k=5))


def stamp_created(rt: ResourceType, obj: Obj) -> None:
    """What a create sets in place: a fresh uid and creationTimestamp, generation 1, no status."""
    meta = obj["metadata"]
    for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "managedFields"):
        meta.pop(field, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    if rt.has_generation:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    if rt.has_status:
        obj.pop("status", None)


def with_server_metadata(meta: Obj, current_meta: Obj) -> Obj:
    """An update's metadata (a new dict) with the server-owned fields taken from the stored object."""
    new_meta = dict(meta)
    for field in SERVER_METADATA:
        if field in current_meta:
            new_meta[field] = current_meta[field]
        else:
            new_meta.pop(field, None)
    new_meta.pop("managedFields", None)
    return new_meta


def spec_changed(old: Obj, new: Obj, has_status: bool) -> bool:
    """kube bumps generation on changes outside metadata (and outside status when it is a subresource)."""
    ignored = {"metadata", "status"} if has_status else {"metadata"}
    keys = (set(old) | set(new)) - ignored
    return any(old.get(k) != new.get(k) for k in keys)
