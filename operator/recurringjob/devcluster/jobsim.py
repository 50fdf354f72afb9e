"""A stand-in for the Job controller and the kubelet: Jobs start, run for a while, then finish.

A created Job gets `status.startTime` and `active: 1`; after its duration it ends `Complete`
(conditions SuccessCriteriaMet + Complete, `completionTime`, `succeeded`) or `Failed`
(FailureTarget + Failed, reason BackoffLimitExceeded, `failed`), the way batch/v1 reports it
since Kubernetes 1.31. `spec.activeDeadlineSeconds` ends it Failed/DeadlineExceeded,
`spec.suspend: true` keeps it from starting. Deletion, like kube: with the `foregroundDeletion`
finalizer (propagationPolicy Foreground) its pods die first, so it stops at once (status `active`
drops to 0, no Complete/Failed condition); with Background propagation its pods outlive the
request and run until the Job object is really gone, so a Job a finalizer holds keeps running (and
may still finish). Per-Job annotations override the defaults:

    devcluster.recurringjob.dev/duration: "3s"
    devcluster.recurringjob.dev/outcome: Failed

One task drives every Job: it consumes the store's Job events and keeps a heap of finish times on
the event loop's clock (jobtimers.py), so ten thousand running Jobs cost ten thousand heap entries,
not ten thousand tasks. Remaining time is derived from `status.startTime`, so Jobs restored from
--data-dir still finish (start() resumes them). Finishing and stopping are written to the audit
log as controller lines (audit.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.audit import JOB_CONTROLLER, AuditLog, controller_entry
from recurringjob.devcluster.durations import parse_duration
from recurringjob.devcluster.jobtimers import JOBS, JobKey, JobTimerController, job_key
from recurringjob.devcluster.objectmeta import now_rfc3339
from recurringjob.devcluster.store import Obj, Store
from recurringjob.errors import UserError

DURATION_ANNOTATION = "devcluster.recurringjob.dev/duration"
OUTCOME_ANNOTATION = "devcluster.recurringjob.dev/outcome"
OUTCOMES = ("Complete", "Failed")
FOREGROUND = "foregroundDeletion"
_EVENTS_PER_YIELD = 200  # a burst of thousands of creates must not starve the HTTP handlers

log = logging.getLogger(__name__)


class JobSimulator(JobTimerController):
    events_per_yield = _EVENTS_PER_YIELD  # a long burst must not starve the finish timers either

    def __init__(self, store: Store, default_duration: float, default_outcome: str,
                 audit: AuditLog | None = None) -> None:
        if default_outcome not in OUTCOMES:
            raise UserError(f"job outcome must be one of {', '.join(OUTCOMES)}, got {default_outcome!r}")
        super().__init__(store, task_name="devcluster-jobsim", display_name="job simulator", logger=log)
        self.default_duration = default_duration
        self.default_outcome = default_outcome
        self._stopped: set[str] = set()  # uids stopped by a Foreground deletion, until they are gone
        self.audit = audit  # controller lines: finished, stopped (audit.py)

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("Job simulator (per Job: annotations "
                                          f"{DURATION_ANNOTATION}, {OUTCOME_ANNOTATION})")
        group.add_argument("--job-duration", default="2s", metavar="DURATION",
                           help="how long a simulated Job runs, e.g. 500ms, 2s, 1m (default 2s)")
        group.add_argument("--job-outcome", default="Complete", metavar="|".join(OUTCOMES),
                           help="how a simulated Job ends (default Complete)")

    @classmethod
    def from_args(cls, store: Store, args: argparse.Namespace) -> JobSimulator:
        try:
            duration = parse_duration(args.job_duration)
        except ValueError as exc:
            raise UserError(f"--job-duration: {exc}") from None
        outcome = _outcome(args.job_outcome)
        if outcome is None:
            raise UserError(f"--job-outcome must be one of {', '.join(OUTCOMES)}, got {args.job_outcome!r}")
        return cls(store, duration, outcome)

    @property
    def running(self) -> int:
        return len(self._timers)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()  # durations are measured, not read from a wall clock

    # ---- Job lifecycle -------------------------------------------------------------------------

    def _on_event(self, type_: str, job: Obj) -> None:
        meta = job["metadata"]
        key = job_key(job)
        uid = meta.get("uid", "")
        status = job.get("status") or {}
        if type_ == "DELETED":
            running = self._timers.cancel(key, uid)
            if uid in self._stopped:
                self._stopped.discard(uid)
            elif running:  # Background deletion: its pods ran until the Job object was gone
                self._audit_stopped(job, None)
            return
        if uid in self._stopped or _finished(status):
            self._timers.cancel(key)  # finished Jobs need nothing more
            return
        if meta.get("deletionTimestamp"):
            if FOREGROUND in (meta.get("finalizers") or ()):
                self._stop_for_deletion(key, job)  # Foreground: the pods die before the Job
            elif key not in self._timers and status.get("active"):
                self._resume(key, job)  # Background: the pods run on until the Job object is gone
            return
        spec = job.get("spec") or {}
        if spec.get("suspend"):
            if key in self._timers or not _has_condition(status, "Suspended"):
                self._suspend(key, job)
            return
        if not status.get("startTime") or _has_condition(status, "Suspended"):
            self._start(key, job)
        elif key not in self._timers:
            self._resume(key, job)  # running before a restart: only the remaining time is left

    def _stop_for_deletion(self, key: JobKey, job: Obj) -> None:
        """A deletion with the foregroundDeletion finalizer: pods go first, so the Job stops now,
        without a Complete/Failed condition. Decided once per uid: the finalizer is soon gone
        (the garbage collector drops it), and the Job must not look like it runs again then."""
        uid = job["metadata"].get("uid", "")
        self._stopped.add(uid)
        self._timers.cancel(key, uid)
        current = self.store.peek(JOBS, key[0], key[1])  # the event may be stale: write on the latest
        if current is None or current["metadata"].get("uid") != uid:
            return
        status = current.get("status") or {}
        if not status.get("active"):
            return  # already stopped (e.g. before a restart), or never started
        stopped = {k: v for k, v in status.items() if k not in ("active", "ready")}
        stopped.update(terminating=0)
        if self._write_status(current, stopped):
            self._audit_stopped(current, "status")

    def _audit_stopped(self, job: Obj, subresource: str | None) -> None:
        if self.audit is not None:
            self.audit.record_entry(controller_entry("update", JOBS[0], JOBS[1], job, JOB_CONTROLLER,
                                                     "stopped", subresource=subresource))

    def _start(self, key: JobKey, job: Obj) -> None:
        status = dict(job.get("status") or {})
        status.update(startTime=now_rfc3339(), active=1, ready=1, terminating=0, uncountedTerminatedPods={})
        if _has_condition(status, "Suspended"):
            status["conditions"] = _set_condition(status, "Suspended", "False", "JobResumed", "Job resumed")
        if self._write_status(job, status):
            self._schedule(key, job, elapsed=0.0)

    def _resume(self, key: JobKey, job: Obj) -> None:
        started = _parse_time(job["status"]["startTime"])
        elapsed = max(0.0, time.time() - started.timestamp()) if started else 0.0
        self._schedule(key, job, elapsed)

    def _schedule(self, key: JobKey, job: Obj, elapsed: float) -> None:
        """Arm the finish timer: the Job's duration, or its activeDeadlineSeconds if sooner."""
        remaining = self._duration(job) - elapsed
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        if isinstance(deadline, int | float) and not isinstance(deadline, bool):
            remaining = min(remaining, deadline - elapsed)
        self._timers.set(key, job["metadata"].get("uid", ""), self._now() + max(0.0, remaining))

    def _suspend(self, key: JobKey, job: Obj) -> None:
        self._timers.cancel(key)
        status = {k: v for k, v in (job.get("status") or {}).items() if k not in ("active", "ready")}
        status["conditions"] = _set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended")
        self._write_status(job, status)

    def _fire(self, key: JobKey, uid: str, now: float) -> None:
        job = self.store.peek(JOBS, key[0], key[1])
        if job is not None and job["metadata"].get("uid", "") == uid:
            self._finish(job)

    def _finish(self, job: Obj) -> None:
        spec = job.get("spec") or {}
        status = {k: v for k, v in (job.get("status") or {}).items() if k not in ("active", "ready")}
        status.update(terminating=0, uncountedTerminatedPods={})
        deadline = spec.get("activeDeadlineSeconds")
        started = _parse_time(status.get("startTime", ""))
        over_deadline = (isinstance(deadline, int | float) and started is not None
                         and self._duration(job) > deadline)
        now = now_rfc3339()
        conditions = [c for c in status.get("conditions") or [] if c.get("type") == "Suspended"]
        if over_deadline or self._outcome(job) == "Failed":
            reason, message = (("DeadlineExceeded", "Job was active longer than specified deadline")
                               if over_deadline else
                               ("BackoffLimitExceeded", "Job has reached the specified backoff limit"))
            status["failed"] = status.get("failed", 0) + 1
            conditions += [_condition("FailureTarget", reason, message, now),
                           _condition("Failed", reason, message, now)]
        else:
            message = "Reached expected number of succeeded pods"
            status["succeeded"] = int(spec.get("completions") or 1)
            status["completionTime"] = now
            conditions += [_condition("SuccessCriteriaMet", "CompletionsReached", message, now),
                           _condition("Complete", "CompletionsReached", message, now)]
        status["conditions"] = conditions
        if self._write_status(job, status) and self.audit is not None:
            outcome = "Failed" if _has_condition(status, "Failed") else "Complete"
            self.audit.record_entry(controller_entry("update", JOBS[0], JOBS[1], job, JOB_CONTROLLER,
                                                     "finished", subresource="status", outcome=outcome))

    def _write_status(self, job: Obj, status: dict[str, Any]) -> bool:
        """Status subresource write against the version we decided from; False if it moved on."""
        meta = job["metadata"]
        patch = {"metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                              "uid": meta.get("uid"), "resourceVersion": meta["resourceVersion"]},
                 "status": status}
        try:
            self.store.update(JOBS, patch, subresource="status")
        except apierrors.ApiError as exc:
            # Conflict/NotFound: a newer event for this Job is queued and decides again.
            log.debug("job status write for %s skipped: %s", meta["name"], exc.message)
            return False
        return True

    def _duration(self, job: Obj) -> float:
        text = _annotation(job, DURATION_ANNOTATION)
        if text is not None:
            try:
                return parse_duration(text)
            except ValueError:
                log.warning("Job %s: bad %s %r, using the default", job["metadata"]["name"],
                            DURATION_ANNOTATION, text)
        return self.default_duration

    def _outcome(self, job: Obj) -> str:
        text = _annotation(job, OUTCOME_ANNOTATION)
        return (_outcome(text) if text is not None else None) or self.default_outcome


def _annotation(job: Obj, name: str) -> str | None:
    """The Job's own annotation, else its pod template's (where CronJob users often put them)."""
    for meta in (job.get("metadata"), ((job.get("spec") or {}).get("template") or {}).get("metadata")):
        value = ((meta or {}).get("annotations") or {}).get(name)
        if isinstance(value, str):
            return value
    return None


def _outcome(text: str) -> str | None:
    aliases = {"complete": "Complete", "succeeded": "Complete", "success": "Complete",
               "failed": "Failed", "fail": "Failed", "failure": "Failed"}
    return aliases.get(text.strip().lower())


def _finished(status: dict[str, Any]) -> bool:
    return _has_condition(status, "Complete") or _has_condition(status, "Failed")


def _has_condition(status: dict[str, Any], type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in status.get("conditions") or [])


def _condition(type_: str, reason: str, message: str, now: str, status: str = "True") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastProbeTime": now, "lastTransitionTime": now}


def _set_condition(status: dict[str, Any], type_: str, value: str, reason: str, message: str) -> list[Any]:
    others = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    return [*others, _condition(type_, reason, message, now_rfc3339(), value)]


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None
