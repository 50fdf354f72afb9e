"""The planner's bookkeeping: reading the spec, the state of owned Jobs, `status.active`,
completion times, history pruning and conditions. Pure functions, like the planner itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recurringjob.core.jobs import SCHEDULED_TIME_ANNOTATION, scheduled_time_from_name
from recurringjob.core.occurrence_lock import (
    DEFAULT_MAX_REQUEST_SECONDS,
    holds_lock,
    is_deleting,
    lock_free_at,
    pods_outlive_deletion,
)
from recurringjob.core.spec import (  # noqa: F401  (re-exported: the planner's spec reading lives in spec.py)
    CATCH_UP_POLICIES,
    CONCURRENCY_POLICIES,
    MAX_CATCH_UP_LIMIT,
    InvalidSpec,
    Spec,
    parse_time,
    read_spec,
)
from recurringjob.core.timeutil import format_rfc3339

REJECTED_REASON = "JobRejected"  # Ready=False: the API refused the Job built from this spec


# -- owned Jobs --------------------------------------------------------------------------------


def _condition_true(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    status = job.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    for condition in conditions if isinstance(conditions, list) else []:
        if not isinstance(condition, Mapping):
            continue
        if (condition.get("type"), condition.get("status")) == (kind, "True"):
            return condition
    return None


def job_result(job: Mapping[str, Any]) -> str | None:
    """'succeeded' / 'failed' once the Job has the Complete / Failed condition, else None."""
    if _condition_true(job, "Complete"):
        return "succeeded"
    if _condition_true(job, "Failed"):
        return "failed"
    return None


def job_finish_time(job: Mapping[str, Any]) -> datetime | None:
    result = job_result(job)
    condition = _condition_true(job, "Complete" if result == "succeeded" else "Failed")
    status = job.get("status") if isinstance(job.get("status"), Mapping) else {}
    assert isinstance(status, Mapping)
    candidates = [status.get("completionTime")] if result == "succeeded" else []
    candidates.append(condition.get("lastTransitionTime") if condition else None)
    for value in candidates:
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return None


def job_scheduled_time(rj_name: str, job: Mapping[str, Any]) -> datetime | None:
    """The occurrence a Job ran for: its annotation, its name, or at worst its creation time."""
    metadata = job.get("metadata") if isinstance(job.get("metadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), Mapping) else {}
    assert isinstance(annotations, Mapping)
    return (
        parse_time(annotations.get(SCHEDULED_TIME_ANNOTATION))
        or scheduled_time_from_name(rj_name, str(metadata.get("name", "")))
        or parse_time(metadata.get("creationTimestamp"))
    )


def owned_jobs(rj: Mapping[str, Any], jobs: Sequence[Any]) -> dict[str, Mapping[str, Any]]:
    """Jobs by name, leaving out anything malformed or controlled by another owner."""
    uid = (rj.get("metadata") or {}).get("uid")
    result: dict[str, Mapping[str, Any]] = {}
    for job in jobs:
        metadata = job.get("metadata") if isinstance(job, Mapping) else None
        if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
            continue
        owners = metadata.get("ownerReferences")
        controller = [o for o in owners or [] if isinstance(o, Mapping) and o.get("controller")]
        if uid and controller and controller[0].get("uid") not in (uid, None, ""):
            continue
        result[metadata["name"]] = job
    return result


def job_ref(name: str, namespace: str | None) -> dict[str, Any]:
    ref: dict[str, Any] = {"apiVersion": "batch/v1", "kind": "Job", "name": name}
    if namespace:
        ref["namespace"] = namespace
    return ref


@dataclass
class Bookkeeping:
    active: list[dict[str, Any]] = field(default_factory=list)  # claimed, not seen finished
    recreate: list[datetime] = field(default_factory=list)  # claimed occurrences whose Job is missing
    recreate_names: list[str] = field(default_factory=list)  # their Job names (same order)
    dropped: list[datetime] = field(default_factory=list)  # claimed, Job missing, past the deadline
    running_unlisted: list[str] = field(default_factory=list)  # running owned Jobs not in active
    stopping: list[str] = field(default_factory=list)  # unfinished owned Jobs being deleted (pods may run)
    # of those, the ones deleted without Foreground whose pods still run: Replace deletes them again
    running_deleted: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # left `active` because deleted before finishing
    last_successful: datetime | None = None
    last_failed: datetime | None = None
    prune: list[str] = field(default_factory=list)
    release: list[str] = field(default_factory=list)  # Jobs whose occurrence lock may be released now
    pending_deletions: list[str] = field(default_factory=list)  # Replace: still to be deleted
    revisit_at: datetime | None = None  # when a held lock or a deferred prune becomes due

    def revisit(self, t: datetime) -> None:
        self.revisit_at = t if self.revisit_at is None else min(self.revisit_at, t)


def bookkeep(
    rj: Mapping[str, Any],
    status: Mapping[str, Any],
    jobs: Sequence[Any],
    now: datetime,
    spec: Spec | None,
    max_request_seconds: float = DEFAULT_MAX_REQUEST_SECONDS,
    request_jobs: Mapping[str, datetime] | None = None,
    requested: Callable[[str, datetime], bool] | None = None,
) -> Bookkeeping:
    """Reconcile `status.active` with the owned Jobs, completion times, recovery and pruning.

    Every Job we create holds the occurrence-lock finalizer until it has left `active` (booked) and
    is older than `max_request_seconds`; so an `active` entry whose Job is absent was never created
    and is safely created again, while a Job deleted before it finished (TTL, by hand, garbage
    collection) is still there, marked deleting, and is booked as stopped instead of re-run.
    Without a valid spec (None) nothing is recreated, dropped or pruned: only finished Jobs leave
    `active` and the completion times advance. `request_jobs` maps the Job names of trigger
    requests (not derived from a time) to their nominal times, so they are recovered too;
    `requested(name, t)` tells the Jobs of trigger/backfill requests, recovered whatever
    startingDeadlineSeconds says (a backfilled time is old by design: the deadline is the schedule's).
    """
    rj_name = str((rj.get("metadata") or {}).get("name", ""))
    by_name = owned_jobs(rj, jobs)
    book = Bookkeeping(
        last_successful=parse_time(status.get("lastSuccessfulTime")),
        last_failed=parse_time(status.get("lastFailedTime")),
    )
    active = status.get("active")
    active_names = set()
    for ref in active if isinstance(active, list) else []:
        if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str):
            continue  # unreadable entry: drop it
        name = ref["name"]
        job = by_name.get(name)
        if job is not None:
            if job_result(job) is None and not is_deleting(job):
                book.active.append(dict(ref))
                active_names.add(name)
            elif job_result(job) is None:
                book.stopped.append(name)  # deleted before it finished: booked, never re-run
            continue
        occurrence = scheduled_time_from_name(rj_name, name) or (request_jobs or {}).get(name)
        if spec is None or occurrence is None:
            if spec is None:
                book.active.append(dict(ref))
                active_names.add(name)
            continue  # a name we did not make cannot be recreated: drop it
        deadline = spec.starting_deadline_seconds
        exempt = requested is not None and requested(name, occurrence)
        if deadline is None or exempt or (now - occurrence).total_seconds() <= deadline:
            book.recreate.append(occurrence)
            book.recreate_names.append(name)
            book.active.append(dict(ref))
            active_names.add(name)
        else:
            book.dropped.append(occurrence)

    finished: dict[str, list[tuple[datetime, str]]] = {"succeeded": [], "failed": []}
    deferred: dict[str, datetime] = {}  # finished Jobs whose lock is too young to prune them yet
    for name, job in by_name.items():
        result = job_result(job)
        metadata = job.get("metadata") or {}
        deleting = bool(metadata.get("deletionTimestamp"))
        if deleting and name not in active_names and holds_lock(job) and spec is not None:
            free_at = lock_free_at(job, max_request_seconds)
            if free_at is None or free_at <= now:
                book.release.append(name)
            else:
                book.revisit(free_at)
        if result is None:
            if name not in active_names:
                (book.stopping if deleting else book.running_unlisted).append(name)
                if pods_outlive_deletion(job):
                    book.running_deleted.append(name)
            continue
        finish = job_finish_time(job)
        if finish is not None and result == "succeeded":
            book.last_successful = max(filter(None, [book.last_successful, finish]))
        if finish is not None and result == "failed":
            book.last_failed = max(filter(None, [book.last_failed, finish]))
        if not deleting and name not in active_names:
            order = job_scheduled_time(rj_name, job) or finish or now
            finished[result].append((order, name))
            free_at = lock_free_at(job, max_request_seconds) if holds_lock(job) else None
            if free_at is not None and free_at > now:
                deferred[name] = free_at

    pending = status.get("pendingDeletions")
    for name in pending if isinstance(pending, list) else []:
        job = by_name.get(name) if isinstance(name, str) else None
        undone = job is not None and (not is_deleting(job) or pods_outlive_deletion(job))
        if undone and name not in active_names:
            book.pending_deletions.append(name)  # recorded by a Replace claim, not yet done

    if spec is not None:
        limits = {"succeeded": spec.successful_jobs_history_limit, "failed": spec.failed_jobs_history_limit}
        for result, entries in finished.items():
            entries.sort()
            excess = len(entries) - limits[result]
            for _, name in entries[: max(0, excess)]:
                if name in deferred:
                    book.revisit(deferred[name])  # pruning releases the lock: not before it is free
                else:
                    book.prune.append(name)
    return book


# -- conditions --------------------------------------------------------------------------------


def set_condition(
    conditions: list[dict[str, Any]],
    kind: str,
    value: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: Any,
) -> list[dict[str, Any]]:
    """A copy of `conditions` with condition `kind` set; lastTransitionTime moves only when the
    status flips, so an unchanged condition causes no status write."""
    text = "True" if value else "False"
    previous = next((c for c in conditions if c.get("type") == kind), None)
    updated: dict[str, Any] = {
        "type": kind,
        "status": text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": (
            previous["lastTransitionTime"]
            if previous and previous.get("status") == text and previous.get("lastTransitionTime")
            else format_rfc3339(now)
        ),
    }
    if isinstance(generation, int):
        updated["observedGeneration"] = generation
    return [c for c in conditions if c.get("type") != kind] + [updated] if previous is None else [
        updated if c.get("type") == kind else c for c in conditions
    ]


def book_rejection(status: Mapping[str, Any], job_name: str, message: str, now: datetime,
                   generation: Any) -> dict[str, Any]:
    """The status after the API rejected the create of `job_name`: no phantom `active` entry, the
    occurrence counted missed, and Ready=False/JobRejected carrying the API's message."""
    new = dict(status)
    active = status.get("active")
    kept = [ref for ref in active if not (isinstance(ref, Mapping) and ref.get("name") == job_name)] \
        if isinstance(active, list) else []
    new["active"] = kept
    runs = status.get("recentRuns")
    if isinstance(runs, list):  # its recent-run entry ends here, so the next plan has nothing to book
        def rejected(run: Any) -> bool:
            entry = (run.get("jobName"), run.get("outcome")) if isinstance(run, Mapping) else None
            return entry == (job_name, "Running")

        new["recentRuns"] = [dict(r, outcome="Rejected") if rejected(r) else r for r in runs]
    missed = status.get("missedOccurrences")
    new["missedOccurrences"] = (missed if isinstance(missed, int) and missed >= 0 else 0) + 1
    conditions = status.get("conditions")
    current = [dict(c) for c in conditions if isinstance(c, Mapping)] if isinstance(conditions, list) else []
    new["conditions"] = set_condition(
        current, "Ready", False, REJECTED_REASON,
        f"The API rejected Job {job_name}: {message}. Fix spec.jobTemplate; until then one attempt a minute.",
        now, generation)
    return new
