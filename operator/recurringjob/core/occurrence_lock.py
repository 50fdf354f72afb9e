"""The occurrence lock: the finalizer every Job we create holds, and when it may be released. Pure.

While a Job object exists its name is taken, so a repeated or late create of the same occurrence
gets AlreadyExists. The lock keeps the object until its outcome is booked in the RecurringJob's
status and no create of its name can still be in flight; so "claimed but missing" can only mean
"never created", which makes recovery safe. Kubernetes' Job controller keeps Pods with the
`batch.kubernetes.io/job-tracking` finalizer for the same reason.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from recurringjob.core.jobs import OCCURRENCE_LOCK_FINALIZER
from recurringjob.core.timeutil import parse_rfc3339

# How long a Job create may stay in flight: our client's timeout (20 s) plus kube-apiserver's
# default --request-timeout (60 s). A Job keeps its occurrence lock at least this long after its
# creation, so a create sent by a deposed leader lands on a taken name (AlreadyExists).
DEFAULT_MAX_REQUEST_SECONDS = 80.0
FOREGROUND_DELETION = "foregroundDeletion"  # the API server's finalizer of a Foreground deletion


def _created(job: Mapping[str, Any]) -> datetime | None:
    metadata = job.get("metadata")
    value = metadata.get("creationTimestamp") if isinstance(metadata, Mapping) else None
    try:
        return parse_rfc3339(value) if isinstance(value, str) else None
    except ValueError:
        return None


def is_deleting(job: Mapping[str, Any]) -> bool:
    metadata = job.get("metadata")
    return isinstance(metadata, Mapping) and bool(metadata.get("deletionTimestamp"))


def pods_outlive_deletion(job: Mapping[str, Any]) -> bool:
    """Deleted without Foreground propagation (kubectl's default is Background) while its pods
    still run: the lock keeps the object, and Background dependents go only once it is gone, so
    they run on. Replace must still delete it with Foreground, which kills the pods first."""
    metadata = job.get("metadata")
    status = job.get("status")
    if not isinstance(metadata, Mapping) or not metadata.get("deletionTimestamp"):
        return False
    finalizers = metadata.get("finalizers")
    if isinstance(finalizers, list) and FOREGROUND_DELETION in finalizers:
        return False
    pods = status.get("active") if isinstance(status, Mapping) else None
    return isinstance(pods, int) and pods > 0


def holds_lock(job: Mapping[str, Any]) -> bool:
    metadata = job.get("metadata")
    finalizers = metadata.get("finalizers") if isinstance(metadata, Mapping) else None
    return isinstance(finalizers, list) and OCCURRENCE_LOCK_FINALIZER in finalizers


def lock_free_at(job: Mapping[str, Any], max_request_seconds: float) -> datetime | None:
    """The earliest moment no create of this Job's name can still be in flight: its creation plus
    the in-flight bound, plus 1 s because creationTimestamp is truncated to the second."""
    created = _created(job)
    return created + timedelta(seconds=max_request_seconds + 1) if created is not None else None


def controller_uid(job: Mapping[str, Any]) -> str | None:
    """The uid in a Job's controller ownerReference, if it names a RecurringJob."""
    metadata = job.get("metadata")
    owners = metadata.get("ownerReferences") if isinstance(metadata, Mapping) else None
    for ref in owners if isinstance(owners, list) else []:
        if isinstance(ref, Mapping) and ref.get("controller") is True and ref.get("kind") == "RecurringJob":
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


def orphaned_locks(jobs: Iterable[Mapping[str, Any]], live_owner_uids: Container[str], now: datetime,
                   max_request_seconds: float = DEFAULT_MAX_REQUEST_SECONDS) -> list[tuple[str, str]]:
    """(namespace, name) of Jobs being deleted whose RecurringJob is gone and whose occurrence lock is
    free: nobody is left to book them, so the lock must not keep them (and their pods) forever.
    The in-flight bound still applies: while a deposed leader's create may land, the name stays taken."""
    found = []
    for job in jobs:
        if not (holds_lock(job) and is_deleting(job)):
            continue
        uid = controller_uid(job)
        if uid is None or uid in live_owner_uids:
            continue
        free_at = lock_free_at(job, max_request_seconds)
        if free_at is None or free_at <= now:
            metadata = job.get("metadata") or {}
            found.append((str(metadata.get("namespace") or ""), str(metadata.get("name") or "")))
    return found
