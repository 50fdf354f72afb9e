"""The controllers kube runs for deletion: garbage collector, namespace and CRD cleanup.

Like the real ones they act *after* the request that triggered them, asynchronously: the owner's
DELETE returns first, then dependents disappear (Background), or the owner waits behind its
`foregroundDeletion` finalizer until they are gone (Foreground), or dependents lose their
ownerReference behind the owner's `orphan` finalizer (Orphan). A dependent is collected only when
none of its owners exists any more (ownerReference uid checked, so a same-named successor is not
an owner). Every delete they make is an audit line (client system:garbage-collector, or the
namespace / CRD cleanup's own identity, event "deleted").
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from recurringjob.devcluster import crds
from recurringjob.devcluster.apierrors import ApiError
from recurringjob.devcluster.audit import GARBAGE_COLLECTOR, AuditLog, controller_entry
from recurringjob.devcluster.registry import RK
from recurringjob.devcluster.store import Event, Store

log = logging.getLogger(__name__)
Obj = dict[str, Any]
NAMESPACES: RK = ("", "namespaces")
CRDS: RK = (crds.CRD_GROUP, "customresourcedefinitions")
NAMESPACE_CONTROLLER = "system:namespace-controller"  # audit client of the namespace's content deletes
CRD_CLEANUP = "system:apiextensions-controller"  # ... and of a deleted CRD's custom resources


class GarbageCollector:
    def __init__(self, store: Store, audit: AuditLog | None = None) -> None:
        self.store = store
        self.audit = audit  # each delete is a controller line (audit.py)
        self._pending: set[tuple[str, RK, str, str]] = set()  # (task, rk, namespace, name)
        self._scheduled = False
        store.listeners.append(self._on_event)

    def _on_event(self, event: Event) -> None:
        meta = event.obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        if event.type == "DELETED":
            if self.store.has_dependents(meta["uid"]):
                self._schedule("collect", event.rk, ns, meta["uid"])
            for ref in meta.get("ownerReferences") or ():  # an owner may be waiting for this one
                self._schedule("owner-check", event.rk, ns, ref.get("uid", ""))
            if ns:
                self._schedule("namespace", NAMESPACES, "", ns)
            return
        if not meta.get("deletionTimestamp"):
            return
        finalizers = meta.get("finalizers") or ()
        if "foregroundDeletion" in finalizers:
            self._schedule("foreground", event.rk, ns, name)
        if "orphan" in finalizers:
            self._schedule("orphan", event.rk, ns, name)
        if event.rk == NAMESPACES:
            self._schedule("namespace", NAMESPACES, "", name)
        if event.rk == CRDS and crds.CLEANUP_FINALIZER in finalizers:
            self._schedule("crd", CRDS, "", name)

    def _schedule(self, task: str, rk: RK, ns: str, name: str) -> None:
        self._pending.add((task, rk, ns, name))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        while self._pending:
            task, rk, ns, name = self._pending.pop()
            try:
                getattr(self, "_" + task.replace("-", "_"))(rk, ns, name)
            except ApiError as exc:  # raced with a client: the next event brings us back
                log.debug("gc %s %s/%s: %s", task, ns, name, exc.message)

    # ---- tasks (synchronous: each runs between two requests) ------------------------------------
    def _collect(self, _rk: RK, _ns: str, owner_uid: str) -> None:
        """Background collection of the dependents of a deleted owner."""
        for rk, obj in self.store.dependents(owner_uid):
            refs = obj["metadata"].get("ownerReferences") or []
            alive = [r for r in refs if r.get("uid") != owner_uid and self._owner_exists(obj, r)]
            if alive:
                self._set_owner_refs(rk, obj, [r for r in refs if r.get("uid") != owner_uid])
            elif not obj["metadata"].get("deletionTimestamp"):
                self._delete(rk, obj, "Background", GARBAGE_COLLECTOR)

    def _foreground(self, rk: RK, ns: str, name: str) -> None:
        owner = self.store.peek(rk, ns, name)
        if owner is None:
            return
        dependents = self.store.dependents(owner["metadata"]["uid"])
        for dep_rk, dep in dependents:
            if not dep["metadata"].get("deletionTimestamp"):
                self._delete(dep_rk, dep, "Foreground", GARBAGE_COLLECTOR)
        if not self.store.dependents(owner["metadata"]["uid"]):
            self._drop_finalizer(rk, owner, "foregroundDeletion")

    def _owner_check(self, _rk: RK, _ns: str, owner_uid: str) -> None:
        """A dependent went away: its owner may be a foreground deletion waiting for it."""
        found = self.store.by_uid(owner_uid)  # an index lookup: this runs on every deletion
        if found is None:
            return
        rk, owner = found
        if "foregroundDeletion" in (owner["metadata"].get("finalizers") or ()):
            self._foreground(rk, owner["metadata"].get("namespace", ""), owner["metadata"]["name"])

    def _orphan(self, rk: RK, ns: str, name: str) -> None:
        owner = self.store.peek(rk, ns, name)
        if owner is None:
            return
        uid = owner["metadata"]["uid"]
        for dep_rk, dep in self.store.dependents(uid):
            refs = dep["metadata"].get("ownerReferences") or []
            self._set_owner_refs(dep_rk, dep, [r for r in refs if r.get("uid") != uid])
        self._drop_finalizer(rk, owner, "orphan")

    def _namespace(self, rk: RK, _ns: str, name: str) -> None:
        namespace = self.store.peek(NAMESPACES, None, name)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        namespaced = [rt.rk for rt in self.store.registry if rt.namespaced]
        for content_rk in namespaced:
            for obj in self.store.select(content_rk, name):
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(content_rk, obj, "Background", NAMESPACE_CONTROLLER)
        empty = not any(self.store.select(content_rk, name) for content_rk in namespaced)
        if empty and not namespace["metadata"].get("finalizers"):
            self.store._remove(NAMESPACES, namespace)

    def _crd(self, rk: RK, _ns: str, name: str) -> None:
        crd = self.store.peek(CRDS, None, name)
        if crd is None:
            return
        cr_rk = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
        for obj in self.store.select(cr_rk):
            if not obj["metadata"].get("deletionTimestamp"):
                self._delete(cr_rk, obj, "Background", CRD_CLEANUP)
        if not self.store.select(cr_rk):
            self._drop_finalizer(CRDS, crd, crds.CLEANUP_FINALIZER)

    # ---- helpers -------------------------------------------------------------------------------
    def _owner_exists(self, dependent: Obj, ref: dict[str, Any]) -> bool:
        api_version = str(ref.get("apiVersion", ""))
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        for rt in self.store.registry:
            if rt.group == group and rt.kind == ref.get("kind"):
                ns = dependent["metadata"].get("namespace") if rt.namespaced else None
                owner = self.store.peek(rt.rk, ns, ref.get("name", ""))
                return owner is not None and owner["metadata"]["uid"] == ref.get("uid")
        return False

    def _delete(self, rk: RK, obj: Obj, policy: str, client: str) -> None:
        meta = obj["metadata"]
        code = 200
        try:
            self.store.delete(rk, meta.get("namespace"), meta["name"], policy, {"uid": meta["uid"]})
        except ApiError as exc:
            code = exc.code
            raise
        finally:
            if self.audit is not None:
                self.audit.record_entry(controller_entry("delete", rk[0], rk[1], obj, client, "deleted",
                                                         code=code, propagationPolicy=policy))

    def _set_owner_refs(self, rk: RK, obj: Obj, refs: list[dict[str, Any]]) -> None:
        meta = dict(obj["metadata"])
        if refs:
            meta["ownerReferences"] = refs
        else:
            meta.pop("ownerReferences", None)
        self.store.update(rk, dict(obj, metadata=meta))

    def _drop_finalizer(self, rk: RK, obj: Obj, finalizer: str) -> None:
        meta = dict(obj["metadata"])
        meta["finalizers"] = [f for f in meta.get("finalizers") or () if f != finalizer]
        if not meta["finalizers"]:
            del meta["finalizers"]
        self.store.update(rk, dict(obj, metadata=meta))
