"""The TTL-after-finished controller: deletes a finished Job `spec.ttlSecondsAfterFinished` later.

Like kube-controller-manager's ttlafterfinished controller: the finish time is the
`lastTransitionTime` of the Job's Complete or Failed condition (status True); a Job already being
deleted, or without the field, is left alone; when the time comes the Job is read again (its TTL
may have changed, it may be a same-named successor) and deleted with propagationPolicy Foreground
and a uid precondition. Finalizers are honoured by the deletion itself: a Job a finalizer holds
only gets its deletionTimestamp.

One task serves every Job: it consumes the store's Job events and keeps a heap of due times (wall
clock: the condition times are wall clock), so it needs no state of its own and picks every
finished Job up again after a restart with --data-dir. Each delete is an audit line (client
system:ttl-after-finished-controller, event "deleted").
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from datetime import UTC, datetime
from typing import Any

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.audit import TTL_CONTROLLER, AuditLog, controller_entry
from recurringjob.devcluster.store import Obj, Store, Subscription

JOBS = ("batch", "jobs")
_FINISHED = ("Complete", "Failed")

log = logging.getLogger(__name__)

JobKey = tuple[str, str]  # (namespace, name)


def expiry(job: Obj) -> float | None:
    """When the Job's TTL runs out (unix seconds), or None if it is not one to clean up."""
    meta = job.get("metadata") or {}
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if meta.get("deletionTimestamp") or isinstance(ttl, bool) or not isinstance(ttl, int):
        return None
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") in _FINISHED and condition.get("status") == "True":
            finished = _parse_time(condition.get("lastTransitionTime"))
            return None if finished is None else finished + ttl
    return None


class TtlAfterFinishedController:
    def __init__(self, store: Store, audit: AuditLog | None = None) -> None:
        self.store = store
        self.audit = audit
        # key -> (uid, due); heap entries not matching it are stale and skipped.
        self._due: dict[JobKey, tuple[str, float]] = {}
        self._timers: list[tuple[float, int, JobKey, str]] = []
        self._sequence = itertools.count()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Finished Jobs waiting for their TTL."""
        return len(self._due)

    async def start(self) -> None:
        """Call after the store's state is loaded: finished Jobs already there are picked up."""
        self._subscription, initial = self.store.subscribe(JOBS)
        for type_, job, _ in initial:
            self._on_event(type_, job)
        self._task = asyncio.create_task(self._run(self._subscription), name="devcluster-ttl")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        if task is not None and not task.cancelled():
            with contextlib.suppress(Exception):
                task.result()
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def _run(self, subscription: Subscription) -> None:
        while not subscription.closed:
            try:
                self._fire_due(time.time())
                timeout = max(0.0, self._timers[0][0] - time.time()) if self._timers else None
                event = await subscription.next(timeout)
                while event is not None:
                    self._on_event(event[0], event[1])
                    event = await subscription.next(0) if subscription.pending() else None
            except asyncio.CancelledError:
                raise
            except Exception:  # one odd Job must not stop the others from being cleaned up
                log.exception("ttl-after-finished step failed")
                await asyncio.sleep(0.1)

    def _on_event(self, type_: str, job: Obj) -> None:
        meta = job["metadata"]
        key: JobKey = (meta.get("namespace", ""), meta["name"])
        due = None if type_ == "DELETED" else expiry(job)
        if due is None:
            self._due.pop(key, None)
            return
        entry = (meta.get("uid", ""), due)
        if self._due.get(key) != entry:
            self._due[key] = entry
            heapq.heappush(self._timers, (due, next(self._sequence), key, entry[0]))

    def _fire_due(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            due, _, key, uid = heapq.heappop(self._timers)
            if self._due.get(key) != (uid, due):
                continue  # deleted, changed or re-armed since
            del self._due[key]
            self._delete(key, uid, now)

    def _delete(self, key: JobKey, uid: str, now: float) -> None:
        fresh = self.store.peek(JOBS, key[0], key[1])  # like kube: decide again on the latest Job
        if fresh is None or fresh["metadata"].get("uid") != uid:
            return
        due = expiry(fresh)
        if due is None or due > now:
            if due is not None:
                self._on_event("MODIFIED", fresh)
            return
        code = 200
        try:
            self.store.delete(JOBS, key[0], key[1], "Foreground", {"uid": uid})
        except apierrors.ApiError as exc:
            code = exc.code
            log.debug("ttl delete of Job %s/%s: %s", key[0], key[1], exc.message)
        if self.audit is not None:
            self.audit.record_entry(controller_entry("delete", JOBS[0], JOBS[1], fresh, TTL_CONTROLLER,
                                                     "deleted", code=code, propagationPolicy="Foreground"))


def _parse_time(text: Any) -> float | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
