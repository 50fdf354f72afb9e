"""The TTL-after-finished controller: deletes a finished Job `spec.ttlSecondsAfterFinished` later.

Like kube-controller-manager's ttlafterfinished controller: the finish time is the
`lastTransitionTime` of the Job's Complete or Failed condition (status True); a Job already being
deleted, or without the field, is left alone; when the time comes the Job is read again (its TTL
may have changed, it may be a same-named successor) and deleted with propagationPolicy Foreground
and a uid precondition. Finalizers are honoured by the deletion itself: a Job a finalizer holds
only gets its deletionTimestamp.

One task serves every Job: it consumes the store's Job events and keeps a heap of due times
(jobtimers.py; wall clock: the condition times are wall clock), so it needs no state of its own
and picks every finished Job up again after a restart with --data-dir (start() replays them). Each
delete is an audit line (client system:ttl-after-finished-controller, event "deleted").
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.audit import TTL_CONTROLLER, AuditLog, controller_entry
from recurringjob.devcluster.jobtimers import JOBS, JobKey, JobTimerController, job_key
from recurringjob.devcluster.store import Obj, Store

_FINISHED = ("Complete", "Failed")

log = logging.getLogger(__name__)


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


class TtlAfterFinishedController(JobTimerController):
    def __init__(self, store: Store, audit: AuditLog | None = None) -> None:
        super().__init__(store, task_name="devcluster-ttl", display_name="ttl-after-finished", logger=log)
        self.audit = audit

    @property
    def pending(self) -> int:
        """Finished Jobs waiting for their TTL."""
        return len(self._timers)

    def _now(self) -> float:
        return time.time()  # due times come from lastTransitionTime, a wall-clock time

    def _on_event(self, type_: str, job: Obj) -> None:
        key = job_key(job)
        due = None if type_ == "DELETED" else expiry(job)
        if due is None:
            self._timers.cancel(key)
        else:
            self._timers.set(key, job["metadata"].get("uid", ""), due)

    def _fire(self, key: JobKey, uid: str, now: float) -> None:
        """The TTL ran out: delete the Job."""
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
