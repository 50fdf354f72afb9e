"""In-memory caches fed by the watch streams (every replica keeps them warm for fast failover).

Objects are stored as the API returned them and never mutated. Our own writes are fed in too (the
response of a claim or a create), so the next plan sees them before the watch event arrives; an
older watch event arriving after that is ignored by comparing resourceVersions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from recurringjob.core.jobs import NAME_LABEL

Key = tuple[str, str]  # (namespace, name)
Obj = Mapping[str, Any]


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _is_newer(old: Obj | None, new: Obj) -> bool:
    """resourceVersions are opaque in general, but integers in etcd and in our dev cluster."""
    if old is None:
        return True
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    if old_meta.get("uid") != new_meta.get("uid"):
        return True
    try:
        return int(str(new_meta.get("resourceVersion"))) >= int(str(old_meta.get("resourceVersion")))
    except (TypeError, ValueError):
        return True


def owner_key(job: Obj) -> Key | None:
    """The RecurringJob a Job belongs to, from its label (ownerReference uid is checked by plan())."""
    meta = job.get("metadata") or {}
    owner = (meta.get("labels") or {}).get(NAME_LABEL)
    return (str(meta.get("namespace") or ""), str(owner)) if owner else None


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
    """RecurringJobs by key and their Jobs by owner key."""

    def __init__(self, tombstones: int = 10_000) -> None:
        self._rjs: dict[Key, Obj] = {}
        self._jobs: dict[Key, dict[str, Obj]] = {}
        # uids of deleted RecurringJobs: a late write response must not resurrect one
        self._deleted: dict[str, None] = {}
        self._tombstones = tombstones
        # names of finished Jobs deleted while their owner's status still lists them as active
        self._gone: dict[Key, set[str]] = {}

    # RecurringJobs
    def put_recurringjob(self, rj: Obj) -> bool:
        """Store rj unless we already hold a newer version; True if stored."""
        key = key_of(rj)
        if (rj.get("metadata") or {}).get("uid") in self._deleted or not _is_newer(self._rjs.get(key), rj):
            return False
        self._rjs[key] = rj
        if key in self._gone:
            self._forget_booked_tombstones(key, rj)
        return True

    def drop_recurringjob(self, key: Key, uid: str | None = None) -> None:
        held = self._rjs.get(key)
        if uid is not None:
            self._deleted[uid] = None
            if len(self._deleted) > self._tombstones:
                del self._deleted[next(iter(self._deleted))]
            if held is not None and (held.get("metadata") or {}).get("uid") != uid:
                return  # the deletion is of an older incarnation
        self._rjs.pop(key, None)
        self._gone.pop(key, None)

    def recurringjob(self, key: Key) -> Obj | None:
        return self._rjs.get(key)

    def recurringjob_keys(self) -> list[Key]:
        return list(self._rjs)

    def __len__(self) -> int:
        return len(self._rjs)

    # Jobs
    def put_job(self, job: Obj) -> tuple[Obj | None, bool]:
        """Store a Job unless a newer version is held; returns (previous version, stored)."""
        owner = owner_key(job)
        if owner is None:
            return None, False
        name = key_of(job)[1]
        jobs = self._jobs.setdefault(owner, {})
        previous = jobs.get(name)
        if not _is_newer(previous, job):
            return previous, False
        jobs[name] = job
        self._gone.get(owner, set()).discard(name)
        return previous, True

    def drop_job(self, job: Obj) -> None:
        owner = owner_key(job)
        if owner is None:
            return
        jobs = self._jobs.get(owner)
        name = key_of(job)[1]
        if jobs is None or name not in jobs:
            return
        uid = (job.get("metadata") or {}).get("uid")
        held = jobs[name]
        if uid and (held.get("metadata") or {}).get("uid") not in (uid, None):
            return  # a recreated Job of the same name: keep it
        final = job if is_finished(job) else held
        if is_finished(final) and name in self._claimed_names(owner):
            # Deleted before its finish was booked (ttlSecondsAfterFinished: 0, a quick kubectl
            # delete): without its final state plan() would take it for a claimed Job that was never
            # created and run the occurrence again. Keep it, marked as deleted, until booked.
            metadata = dict(final.get("metadata") or {})
            metadata.setdefault("deletionTimestamp", metadata.get("creationTimestamp") or "deleted")
            jobs[name] = {**final, "metadata": metadata}
            self._gone.setdefault(owner, set()).add(name)
            return
        del jobs[name]
        if not jobs:
            del self._jobs[owner]

    def _claimed_names(self, owner: Key) -> set[str]:
        """Names in the cached owner's status.active (claimed and not yet booked as finished)."""
        return active_names((self._rjs.get(owner) or {}).get("status") or {})

    def _forget_booked_tombstones(self, owner: Key, rj: Obj) -> None:
        """Deleted Jobs whose finish the owner's status has booked (left `active`) are gone for good."""
        claimed = self._claimed_names(owner)
        gone = self._gone[owner]
        jobs = self._jobs.get(owner) or {}
        for name in [name for name in gone if name not in claimed]:
            gone.discard(name)
            jobs.pop(name, None)
        if not gone:
            del self._gone[owner]
        if owner in self._jobs and not jobs:
            del self._jobs[owner]

    def drop_job_named(self, owner: Key, name: str) -> None:
        jobs = self._jobs.get(owner)
        if jobs is not None:
            jobs.pop(name, None)

    def jobs_of(self, owner: Key) -> list[Obj]:
        return list((self._jobs.get(owner) or {}).values())

    def iter_jobs(self) -> Iterator[Obj]:
        for jobs in self._jobs.values():
            yield from jobs.values()
