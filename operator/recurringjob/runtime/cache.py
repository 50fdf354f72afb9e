"""In-memory caches fed by the watch streams (every replica keeps them warm for fast failover).

Objects are stored never mutated: RecurringJobs as the API returned them minus managedFields and
kubectl's last-applied annotation (slim_recurringjob), Jobs slimmed (jobwatch.slim_job). Our own
writes are fed in too (the response of a claim or a create), so the next plan sees them before the
watch event arrives; an older watch event arriving after that is ignored by comparing
resourceVersions.

A Job belongs to the RecurringJob named by its controller ownerReference (never by a label: a
label can be edited away), and is handed to the planner only while that owner's uid is the one
cached, so the Jobs of a deleted RecurringJob never leak into a re-created one of the same name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from recurringjob import GROUP, KIND
from recurringjob.runtime.sharing import reuse, share

Key = tuple[str, str]  # (namespace, name)
Obj = Mapping[str, Any]

OWNER_API_GROUP_PREFIX = f"{GROUP}/"


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def slim_recurringjob(rj: Obj) -> Obj:
    """The RecurringJob without what planning never reads: metadata.managedFields and kubectl's
    last-applied annotation (together often larger than the spec; kept per object, they were the
    cache's largest dead weight). The claim's status PUT may omit both: the API server keeps an
    object's managedFields when a write carries none, and a status write changes no metadata."""
    meta = rj.get("metadata")
    if not isinstance(meta, Mapping):
        return rj
    annotations = meta.get("annotations")
    has_last_applied = isinstance(annotations, Mapping) and LAST_APPLIED in annotations
    if "managedFields" not in meta and not has_last_applied:
        return rj
    slim = {key: value for key, value in meta.items() if key != "managedFields"}
    if has_last_applied:
        assert isinstance(annotations, Mapping)
        slim["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**rj, "metadata": slim}


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _rv(obj: Obj) -> int | None:
    try:
        return int(str((obj.get("metadata") or {}).get("resourceVersion")))
    except (TypeError, ValueError):
        return None


def _same_incarnation(old: Obj, new: Obj) -> bool:
    return (old.get("metadata") or {}).get("uid") == (new.get("metadata") or {}).get("uid")


def _same_content(held: Obj, new: Obj) -> bool:
    """The held (slim) copy equals `new` slimmed: checked in C (`==`) before it is trusted."""
    return held == slim_recurringjob(new)


def _is_newer(old: Obj | None, new: Obj) -> bool:
    """resourceVersions are opaque in general, but integers in etcd and in our dev cluster."""
    if old is None:
        return True
    if (old.get("metadata") or {}).get("uid") != (new.get("metadata") or {}).get("uid"):
        return True
    old_rv, new_rv = _rv(old), _rv(new)
    return old_rv is None or new_rv is None or new_rv >= old_rv


def controller_ref(job: Obj) -> Mapping[str, Any] | None:
    """The Job's controller ownerReference if it is a RecurringJob (any version of our group)."""
    for ref in (job.get("metadata") or {}).get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            is_ours = ref.get("kind") == KIND and str(ref.get("apiVersion") or "").startswith(
                OWNER_API_GROUP_PREFIX)
            return ref if is_ours and ref.get("name") else None
    return None


def owner_key(job: Obj) -> Key | None:
    """The RecurringJob a Job belongs to, from its controller ownerReference (None: not ours)."""
    ref = controller_ref(job)
    return (str((job.get("metadata") or {}).get("namespace") or ""), str(ref["name"])) if ref else None


def _owner_uid(job: Obj) -> str | None:
    ref = controller_ref(job)
    return str(ref.get("uid")) if ref and ref.get("uid") else None


def is_finished(job: Obj) -> bool:
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return True
    return False


def active_names(status: Mapping[str, Any]) -> set[str]:
    """Names of the Jobs in a status' `active` list (unreadable entries ignored)."""
    active = status.get("active")
    return {str(ref["name"]) for ref in active if isinstance(ref, Mapping) and ref.get("name")} \
        if isinstance(active, list) else set()


class Cache:
    """RecurringJobs by key, and their Jobs by owner key (plus where each Job name is filed)."""

    def __init__(self, tombstones: int = 10_000) -> None:
        self._rjs: dict[Key, Obj] = {}
        self._jobs: dict[Key, dict[str, Obj]] = {}
        self._job_owner: dict[Key, Key] = {}  # (namespace, Job name) -> owner key it is filed under
        # uids of deleted RecurringJobs: a late write response must not resurrect one
        self._deleted: dict[str, None] = {}
        self._tombstones = tombstones
        # names of finished Jobs deleted while their owner's status still lists them as active
        self._gone: dict[Key, set[str]] = {}

    # RecurringJobs
    def put_recurringjob(self, rj: Obj) -> bool:
        """Store rj unless we already hold a newer version; True if stored.

        Kept slim (slim_recurringjob) and shared (runtime/sharing.py): parts equal to the version
        held, and strings equal to other objects', are kept once. The same version arriving again
        (our write's answer, then its watch event) keeps the copy held."""
        key = key_of(rj)
        held = self._rjs.get(key)
        if (rj.get("metadata") or {}).get("uid") in self._deleted or not _is_newer(held, rj):
            return False
        if held is None or not _same_incarnation(held, rj):
            self._rjs[key] = share(slim_recurringjob(rj))
        elif _rv(held) is None or _rv(held) != _rv(rj) or not _same_content(held, rj):
            self._rjs[key] = reuse(slim_recurringjob(rj), held)
        if key in self._gone:
            self._forget_booked_tombstones(key, rj)
        return True

    def drop_recurringjob(self, key: Key, uid: str | None) -> bool:
        """Forget the RecurringJob `key` if the one held has this uid (True if it was dropped): a
        DELETED event or a 404 about an older incarnation must not drop one re-created since."""
        if uid:
            self._deleted[uid] = None
            if len(self._deleted) > self._tombstones:
                del self._deleted[next(iter(self._deleted))]
        held = self._rjs.get(key)
        if held is None or (held.get("metadata") or {}).get("uid") != uid:
            return False
        del self._rjs[key]
        self._gone.pop(key, None)
        return True

    def recurringjob(self, key: Key) -> Obj | None:
        return self._rjs.get(key)

    def recurringjob_keys(self) -> list[Key]:
        return list(self._rjs)

    def __len__(self) -> int:
        return len(self._rjs)

    # Jobs
    def put_job(self, job: Obj) -> tuple[Obj | None, bool]:
        """Store a Job unless a newer version is held; returns (previous version, stored).

        A Job without a RecurringJob controller reference is not ours: if we held it (its
        ownerReference was edited away), it is forgotten, and (previous, False) is returned.
        """
        at = key_of(job)
        filed = self._job_owner.get(at)
        previous = self._jobs[filed].get(at[1]) if filed is not None else None
        if previous is not None and not _is_newer(previous, job):
            return previous, False
        owner = owner_key(job)
        if filed is not None and filed != owner:
            self._remove(filed, at[1])
        if owner is None:
            return previous, False
        self._jobs.setdefault(owner, {})[at[1]] = job
        self._job_owner[at] = owner
        gone = self._gone.get(owner)
        if gone is not None:
            gone.discard(at[1])
        return previous, True

    def drop_job(self, job: Obj) -> Obj | None:
        """A Job was deleted; returns the version that was held (None: none was).

        Found by name, not by the deleted object's ownerReference, so a Job whose owner reference
        changed on its way out is still forgotten.
        """
        at = key_of(job)
        owner = self._job_owner.get(at)
        if owner is None:
            return None
        held = self._jobs[owner][at[1]]
        uid = (job.get("metadata") or {}).get("uid")
        if uid and (held.get("metadata") or {}).get("uid") not in (uid, None):
            return None  # a recreated Job of the same name: keep it
        final = job if is_finished(job) and owner_key(job) == owner else held
        if is_finished(final) and at[1] in self._claimed_names(owner):
            # Deleted before its finish was booked (ttlSecondsAfterFinished: 0, a quick kubectl
            # delete): without its final state plan() would take it for a claimed Job that was never
            # created and run the occurrence again. Keep it, marked as deleted, until booked.
            metadata = dict(final.get("metadata") or {})
            metadata.setdefault("deletionTimestamp", metadata.get("creationTimestamp") or "deleted")
            self._jobs[owner][at[1]] = {**final, "metadata": metadata}
            self._gone.setdefault(owner, set()).add(at[1])
            return held
        self._remove(owner, at[1])
        return held

    def replace_jobs(self, jobs: Iterable[Obj], *, in_scope: Callable[[str], bool],
                     list_rv: str | None = None) -> tuple[list[tuple[Obj, Obj | None]], list[Obj]]:
        """A relist: `jobs` are all our Jobs that exist in the namespaces `in_scope` accepts.

        Returns (stored: [(job, previous version)], removed: [last held version]). Held Jobs absent
        from the list were deleted while the watch was away (a watch resumed after 410 Gone never
        reports them); they go through drop_job, so a finished one still claimed stays a tombstone.
        Held Jobs newer than the list (our own create, answered after the list's snapshot) stay.
        """
        stored: list[tuple[Obj, Obj | None]] = []
        listed: set[Key] = set()
        for job in jobs:
            listed.add(key_of(job))
            previous, was_stored = self.put_job(job)
            if was_stored:
                stored.append((job, previous))
        try:
            snapshot = int(list_rv) if list_rv else None
        except ValueError:
            snapshot = None
        removed: list[Obj] = []
        for at, owner in list(self._job_owner.items()):
            if at in listed or not in_scope(at[0]) or at[1] in self._gone.get(owner, ()):
                continue
            held = self._jobs[owner][at[1]]
            held_rv = _rv(held)
            if snapshot is not None and held_rv is not None and held_rv > snapshot:
                continue
            if self.drop_job(held) is not None:
                removed.append(held)
        return stored, removed

    def _remove(self, owner: Key, name: str) -> None:
        jobs = self._jobs.get(owner)
        if jobs is not None and jobs.pop(name, None) is not None:
            self._job_owner.pop((owner[0], name), None)
            if not jobs:
                del self._jobs[owner]
        gone = self._gone.get(owner)
        if gone is not None:
            gone.discard(name)
            if not gone:
                del self._gone[owner]

    def _claimed_names(self, owner: Key) -> set[str]:
        """Names in the cached owner's status.active (claimed and not yet booked as finished)."""
        return active_names((self._rjs.get(owner) or {}).get("status") or {})

    def _forget_booked_tombstones(self, owner: Key, rj: Obj) -> None:
        """Deleted Jobs whose finish the owner's status has booked (left `active`) are gone for good."""
        claimed = self._claimed_names(owner)
        for name in [name for name in self._gone.get(owner, ()) if name not in claimed]:
            self._remove(owner, name)

    def drop_job_named(self, owner: Key, name: str) -> None:
        if self._job_owner.get((owner[0], name)) == owner:
            self._remove(owner, name)

    def job(self, namespace: str, name: str) -> Obj | None:
        owner = self._job_owner.get((namespace, name))
        return self._jobs[owner][name] if owner is not None else None

    def jobs_of(self, owner: Key) -> list[Obj]:
        """The Jobs controlled by the RecurringJob `owner` (by the uid cached for it, if any)."""
        jobs = self._jobs.get(owner)
        if not jobs:
            return []
        uid = ((self._rjs.get(owner) or {}).get("metadata") or {}).get("uid")
        if not uid:
            return list(jobs.values())
        return [job for job in jobs.values() if _owner_uid(job) in (uid, None)]

    def iter_jobs(self) -> Iterator[Obj]:
        for jobs in self._jobs.values():
            yield from jobs.values()

    def job_count(self) -> int:
        return len(self._job_owner)
