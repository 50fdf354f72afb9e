"""The dev cluster's etcd: objects, one global revision, compare-and-swap, history, watch fan-out.

Store API (Python, used by the HTTP layer, the garbage collector and the Job simulator)
--------------------------------------------------------------------------------------
`rk` is a resource key `(group, resource)`, e.g. `("batch", "jobs")` or `("", "configmaps")`.
All methods run on the server's event loop; none of them awaits between reading and writing an
object, so every write is atomic with respect to every other write. Failures raise
`apierrors.ApiError` (404 NotFound, 409 AlreadyExists/Conflict, 422 Invalid, 410 Expired...).

- `get(rk, namespace, name) -> dict` a copy of the object (404 if missing).
- `list(rk, namespace=None, label_selector=None, field_selector=None) -> (items, revision)` copies
  of the matching objects and the revision (int) they are consistent with. Selectors are kube's
  text syntax ("app=x,tier!=db", "metadata.name=foo").
- `create(rk, obj, dry_run=False) -> dict` sets uid, creationTimestamp, resourceVersion,
  generation, name from generateName; drops `status` for kinds with a status subresource (like
  kube). `dry_run`: every check and default, nothing committed (for `?dryRun=All`).
- `update(rk, obj, subresource=None, dry_run=False) -> dict` replaces the object named by
  obj.metadata. If obj.metadata.resourceVersion is set and not current: 409 Conflict.
  `subresource="status"` changes only `.status`; a main-resource write keeps the stored `.status`
  when the kind has a status subresource. A no-op write returns the current object without a new
  revision (like kube). `dry_run`: as for create.
  Removing the last finalizer of an object being deleted deletes it.
- `delete(rk, namespace, name, propagation=None, preconditions=None) -> (deleted: bool, obj)`
  deletes now, or sets deletionTimestamp when finalizers remain (deleted=False). `propagation` is
  Background | Foreground | Orphan (None = the kind's default); dependents are handled by gc.py.
- `watch(rk, namespace=None, since=None, label_selector=None, field_selector=None)` async iterator
  of `(type, obj)` with type ADDED | MODIFIED | DELETED. `since=None`: ADDED for every current
  object, then changes; `since=N`: every change after revision N, then changes (410 Expired if
  N is older than the retained history). Objects yielded are copies.
- `revision` the current revision; `subscribe(...)` the lower-level watch used by the HTTP layer.

Stored objects are never mutated in place (every write stores a new dict), so internal readers
may share them; the public methods above return copies so callers may edit what they get.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

from recurringjob.devcluster import apierrors, managedfields, metavalidation
from recurringjob.devcluster.defaults import prepare_create, prepare_update
from recurringjob.devcluster.managedfields import FieldWrite
from recurringjob.devcluster.objectmeta import (
    generated_name,
    now_rfc3339,
    spec_changed,
    stamp_created,
    with_server_metadata,
)
from recurringjob.devcluster.ownership import OwnerIndex
from recurringjob.devcluster.registry import RK, Registry, ResourceType
from recurringjob.devcluster.subscription import (
    HISTORY_FRESH_SECONDS,
    Event,
    Subscription,
    WatchEvent,
    WatchHub,
    parse_selectors,
)

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)

class Store:
    def __init__(self, registry: Registry, history_limit: int = 10_000,
                 history_seconds: float = HISTORY_FRESH_SECONDS) -> None:
        self.registry = registry
        self.revision = 0
        self._objects: dict[RK, dict[Key, Obj]] = {}
        self._watches = WatchHub(history_limit, history_seconds)
        self._index = OwnerIndex()  # owner uid -> dependents, uid -> key
        # Called synchronously after each commit (CRD serving, persistence, garbage collection).
        self.listeners: builtins.list[Callable[[Event], None]] = []

    # ---- reading -------------------------------------------------------------------------------
    def type_of(self, rk: RK) -> ResourceType:
        rt = self.registry.get(rk)
        if rt is None:
            raise apierrors.resource_not_found()
        return rt

    def peek(self, rk: RK, namespace: str | None, name: str) -> Obj | None:
        """The stored object itself (shared: never mutate it), or None."""
        return self._objects.get(rk, {}).get((namespace or "", name))

    def get(self, rk: RK, namespace: str | None, name: str) -> Obj:
        obj = self.peek(rk, namespace, name)
        if obj is None:
            raise apierrors.not_found(rk[0], rk[1], name)
        return copy.deepcopy(obj)

    def select(
        self,
        rk: RK,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> builtins.list[Obj]:
        """Matching stored objects (shared), sorted by namespace/name like kube's lists."""
        labels, fields = parse_selectors(self.registry.get(rk), label_selector, field_selector)
        bucket = self._objects.get(rk, {})
        keys = sorted(k for k in bucket if not namespace or k[0] == namespace)
        result = []
        for key in keys:
            obj = bucket[key]
            if labels is not None and not labels.matches(obj["metadata"].get("labels") or {}):
                continue
            if fields is not None and not fields.matches(obj):
                continue
            result.append(obj)
        return result

    def list(
        self,
        rk: RK,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[builtins.list[Obj], int]:
        items = self.select(rk, namespace, label_selector, field_selector)
        return copy.deepcopy(items), self.revision

    def all_objects(self) -> builtins.list[tuple[RK, Obj]]:
        return [(rk, obj) for rk, bucket in self._objects.items() for obj in bucket.values()]

    # ---- writing -------------------------------------------------------------------------------
    def _commit(self, rk: RK, type_: str, obj: Obj, old: Obj | None) -> None:
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        bucket = self._objects.setdefault(rk, {})
        if type_ == "DELETED":
            bucket.pop(key, None)
        else:
            bucket[key] = obj
        self._index.update((rk, key), old, None if type_ == "DELETED" else obj)
        event = Event(self.revision, rk, type_, obj, old)
        self._watches.publish(event)
        for listener in self.listeners:
            listener(event)

    def _next_revision(self) -> str:
        self.revision += 1
        return str(self.revision)

    def create(self, rk: RK, obj: Obj, dry_run: bool = False, write: FieldWrite | None = None) -> Obj:
        rt = self.type_of(rk)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise apierrors.bad_request("metadata must be an object")
        requested_fields = managedfields.requested_of(meta)
        namespace = meta.get("namespace") or "" if rt.namespaced else ""
        if rt.namespaced and not namespace:
            namespace = meta["namespace"] = "default"
        if not rt.namespaced:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise apierrors.invalid(
                    rt.group,
                    rt.kind,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "field": "metadata.name",
                            "message": "Required value: name or generateName is required",
                        }
                    ],
                )
            meta["name"] = generated_name(meta["generateName"])
        name = meta["name"]
        if rt.namespaced:
            ns = self.peek(("", "namespaces"), None, namespace)
            if ns is None:
                raise apierrors.not_found("", "namespaces", namespace)
            if ns["metadata"].get("deletionTimestamp"):
                raise apierrors.ApiError(
                    403,
                    "Forbidden",
                    f'{apierrors.qualified(rt.group, rt.resource)} "{name}" is forbidden: '
                    f"unable to create new content in namespace {namespace} because it is being terminated",
                    {"name": name, "kind": rt.resource, "group": rt.group},
                )
        stamp_created(rt, obj)
        prepare_create(rt, obj)
        metavalidation.validate_create(rt, obj)  # like kube: an invalid object is 422 before 409
        if self.peek(rk, namespace, name) is not None:
            raise apierrors.already_exists(rt.group, rt.resource, name)
        if write is not None:
            self._set_managed_fields(rt, None, obj, requested_fields, None, write)
        if dry_run:  # every check ran; like kube, the would-be object has no resourceVersion
            return obj
        meta["resourceVersion"] = self._next_revision()
        self._commit(rk, "ADDED", obj, None)
        return obj

    def update(
        self,
        rk: RK,
        obj: Obj,
        subresource: str | None = None,
        dry_run: bool = False,
        write: FieldWrite | None = None,
    ) -> Obj:
        """CAS-checked replace; see the module docstring. Takes ownership of `obj`."""
        rt = self.type_of(rk)
        meta = obj.get("metadata") or {}
        requested_fields = managedfields.requested_of(meta)
        name = meta.get("name", "")
        namespace = (meta.get("namespace") or "default") if rt.namespaced else ""
        current = self.peek(rk, namespace, name)
        if current is None:
            raise apierrors.not_found(rt.group, rt.resource, name)
        cur_meta = current["metadata"]
        if meta.get("uid") and meta["uid"] != cur_meta["uid"]:
            raise apierrors.conflict(
                rt.group,
                rt.resource,
                name,
                "Precondition failed: UID in precondition: "
                f"{meta['uid']}, UID in object meta: {cur_meta['uid']}",
            )
        if meta.get("resourceVersion") and meta["resourceVersion"] != cur_meta["resourceVersion"]:
            raise apierrors.conflict(rt.group, rt.resource, name)
        if subresource == "status":
            # Own copy of metadata: the stored version (history, watch queues) must never change.
            new = dict(current)
            new["metadata"] = dict(cur_meta)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = obj
            new["metadata"] = with_server_metadata(meta, cur_meta)
            if rt.has_status:
                if "status" in current:
                    new["status"] = current["status"]
                else:
                    new.pop("status", None)
        new["metadata"]["resourceVersion"] = cur_meta["resourceVersion"]
        new.setdefault("apiVersion", current.get("apiVersion"))
        new.setdefault("kind", current.get("kind"))
        prepare_update(rt, new, current)
        if subresource is None:
            metavalidation.validate_update(rt, new, current)
        self._set_managed_fields(rt, current, new, requested_fields, subresource, write)
        if new == current:
            return current  # kube: a no-op write neither bumps the revision nor notifies watchers
        if rt.has_generation and spec_changed(current, new, rt.has_status):
            new["metadata"]["generation"] = cur_meta.get("generation", 0) + 1
        if dry_run:  # every check ran; the would-be object keeps the current resourceVersion
            return new
        new["metadata"]["resourceVersion"] = self._next_revision()
        self._commit(rk, "MODIFIED", new, current)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(rk, new)
        return new

    def _set_managed_fields(
        self,
        rt: ResourceType,
        current: Obj | None,
        new: Obj,
        requested: Any,
        subresource: str | None,
        write: FieldWrite | None,
    ) -> None:
        """new.metadata.managedFields after this write (managedfields.py); controllers' writes keep them."""
        live = (current or {}).get("metadata", {}).get("managedFields") or []
        if write is None:
            entries = live
        elif write.applied is not None:
            entries = write.applied
        else:
            name = new["metadata"].get("name", "")
            try:
                base = live if subresource else managedfields.base_entries(requested, live)
            except managedfields.InvalidManagedFields as exc:
                raise apierrors.invalid(rt.group, rt.kind, name, exc.causes) from None
            if base:  # as stored, so unchanged metadata compares equal in one step
                new["metadata"]["managedFields"] = base
            entries = managedfields.record_update(
                rt, current, new, base, write.manager, subresource, now_rfc3339()
            )
        if entries:
            new["metadata"]["managedFields"] = entries
        else:
            new["metadata"].pop("managedFields", None)

    def delete(
        self,
        rk: RK,
        namespace: str | None,
        name: str,
        propagation: str | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> tuple[bool, Obj]:
        rt = self.type_of(rk)
        current = self.peek(rk, namespace if rt.namespaced else None, name)
        if current is None:
            raise apierrors.not_found(rt.group, rt.resource, name)
        cur_meta = current["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != cur_meta["uid"]:
            raise apierrors.conflict(
                rt.group,
                rt.resource,
                name,
                "Precondition failed: UID in precondition: "
                f"{pre['uid']}, UID in object meta: {cur_meta['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != cur_meta["resourceVersion"]:
            raise apierrors.conflict(
                rt.group,
                rt.resource,
                name,
                "Precondition failed: ResourceVersion in "
                f"precondition: {pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{cur_meta['resourceVersion']}",
            )
        policy = propagation or rt.default_propagation
        finalizers = list(cur_meta.get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in finalizers and self.has_dependents(cur_meta["uid"]):
            finalizers.append("orphan")
        if rk == ("", "namespaces"):  # the namespace controller (gc.py) empties it, then removes it
            if cur_meta.get("deletionTimestamp"):
                return False, current
            return False, self._mark_deleting(rk, current, finalizers)
        if finalizers:
            if cur_meta.get("deletionTimestamp") and finalizers == cur_meta.get("finalizers"):
                return False, current
            return False, self._mark_deleting(rk, current, finalizers)
        return True, self._remove(rk, current)

    def _mark_deleting(self, rk: RK, current: Obj, finalizers: builtins.list[str]) -> Obj:
        new = dict(current)
        meta = new["metadata"] = dict(current["metadata"])
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = now_rfc3339()
            meta["deletionGracePeriodSeconds"] = 0
            if "generation" in meta:
                meta["generation"] += 1
        if finalizers:
            meta["finalizers"] = finalizers
        if rk == ("", "namespaces"):
            new["status"] = dict(new.get("status") or {}, phase="Terminating")
        meta["resourceVersion"] = self._next_revision()
        self._commit(rk, "MODIFIED", new, current)
        return new

    def _remove(self, rk: RK, current: Obj) -> Obj:
        gone = dict(current)
        gone["metadata"] = dict(current["metadata"], resourceVersion=self._next_revision())
        self._commit(rk, "DELETED", gone, current)
        return gone

    def dependents(self, owner_uid: str) -> builtins.list[tuple[RK, Obj]]:
        """Stored objects (shared) with an ownerReference to `owner_uid`."""
        found = []
        for rk, (namespace, name) in self._index.dependents(owner_uid):
            obj = self.peek(rk, namespace, name)
            if obj is not None:
                found.append((rk, obj))
        return found

    def has_dependents(self, owner_uid: str) -> bool:
        return bool(self.dependents(owner_uid))

    def by_uid(self, uid: str) -> tuple[RK, Obj] | None:
        """The stored object (shared) whose metadata.uid is `uid`, found by index, or None."""
        key = self._index.key_of(uid)
        if key is None:
            return None
        rk, (namespace, name) = key
        obj = self.peek(rk, namespace, name)
        return (rk, obj) if obj is not None and obj["metadata"].get("uid") == uid else None

    def index_sizes(self) -> tuple[int, int]:
        """(owner uids with dependents, objects indexed by uid); see ownership.OwnerIndex."""
        return self._index.size()

    # ---- watching ------------------------------------------------------------------------------
    def subscribe(
        self,
        rk: RK,
        namespace: str | None = None,
        since: int | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[Subscription, builtins.list[WatchEvent]]:
        """A live subscription plus the initial events (replay after `since`, or synthetic ADDED)."""
        labels, fields = parse_selectors(self.registry.get(rk), label_selector, field_selector)
        sub = self._watches.open(rk, namespace, since, labels, fields)
        if since is not None:
            return sub, sub.drain()
        initial = [
            ("ADDED", obj, int(obj["metadata"]["resourceVersion"]))
            for obj in self.select(rk, namespace, label_selector, field_selector)
        ]
        return sub, initial

    async def watch(
        self,
        rk: RK,
        namespace: str | None = None,
        since: int | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[tuple[str, Obj]]:
        sub, initial = self.subscribe(rk, namespace, since, label_selector, field_selector)
        try:
            for type_, obj, _ in initial:
                yield type_, copy.deepcopy(obj)
            while not sub.closed:  # closed: server shutdown (close_watches) ends the iteration
                item = await sub.next()
                if item is not None:
                    yield item[0], copy.deepcopy(item[1])
        finally:
            sub.close()

    def close_watches(self) -> None:
        self._watches.close_all()

    # ---- persistence support -------------------------------------------------------------------
    def load(self, revision: int, objects: builtins.list[tuple[RK, Obj]]) -> None:
        """Restore state (journal.py); history starts empty, so older watches get 410."""
        self._objects = {}
        self._index.clear()
        for rk, obj in objects:
            meta = obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            self._objects.setdefault(rk, {})[key] = obj
            self._index.update((rk, key), None, obj)
        self.revision = revision
        self._watches.reset(revision)
