"""The final-status checks of a chaos run: lost status updates leave a wrong lastSuccessfulTime, and
every request made must show its outcome in status.requests.

Pure, like `recurringjob.evidence.verdict`; the objects are read through the API at the very end, once
nothing runs any more (a lost update stays lost: nothing later would repair it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from recurringjob.evidence.verdict import NAME_LABEL, JudgedRequest, format_time, parse_time


def owner_name(job: Mapping[str, Any]) -> str | None:
    """The RecurringJob a Job belongs to: its controller ownerReference (labels can be edited away),
    else the `recurringjob.dev/name` label."""
    meta = job.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "RecurringJob" and isinstance(ref.get("name"), str):
            return str(ref["name"])
    label = (meta.get("labels") or {}).get(NAME_LABEL)
    return label if isinstance(label, str) else None


def last_successful_mismatches(
    recurringjobs: Iterable[Mapping[str, Any]],
    jobs: Iterable[Mapping[str, Any]],
    unjudged: Collection[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """RecurringJobs whose status.lastSuccessfulTime is not the newest successful completion.

    `recurringjobs` and `jobs` are objects as the API returns them, read once everything has
    finished (a lost status update stays lost: nothing later would repair it). `unjudged`:
    (namespace, name) of RecurringJobs whose Jobs others deleted (TTL, by hand), so that the
    newest completion can no longer be read from the Jobs.
    """
    newest: dict[tuple[str, str], datetime] = {}
    for job in jobs:
        meta = job.get("metadata") or {}
        owner = owner_name(job)
        status = job.get("status") or {}
        completed = parse_time(status.get("completionTime") or "")
        succeeded = any(
            c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        if owner is None or completed is None or not succeeded:
            continue
        key = (str(meta.get("namespace") or ""), owner)
        if key not in newest or completed > newest[key]:
            newest[key] = completed
    mismatches = []
    for rj in recurringjobs:
        meta = rj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name")))
        if key in unjudged:
            continue
        recorded_text = (rj.get("status") or {}).get("lastSuccessfulTime")
        recorded = parse_time(recorded_text) if isinstance(recorded_text, str) else None
        expected = newest.get(key)
        if _second(recorded) != _second(expected):
            mismatches.append(
                {
                    "namespace": key[0],
                    "recurringjob": key[1],
                    "lastSuccessfulTime": recorded_text,
                    "newest_successful_completion": format_time(expected) if expected else None,
                }
            )
    return mismatches


def _second(moment: datetime | None) -> datetime | None:
    # RFC3339 in Kubernetes status fields has second precision.
    return moment.replace(microsecond=0) if moment else None


def request_mismatches(
    recurringjobs: Iterable[Mapping[str, Any]], requests: Iterable[JudgedRequest]
) -> list[dict[str, Any]]:
    """Requests whose outcome in status.requests is not what they did: a trigger must end `Done`
    with result `succeeded` (the harness's Jobs succeed), a backfill `Done` with every time of its
    range launched or already run (none skipped: the harness asks with overlapPolicy Allow)."""
    statuses: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for rj in recurringjobs:
        meta = rj.get("metadata") or {}
        entries = (rj.get("status") or {}).get("requests") or []
        statuses[(str(meta.get("namespace") or ""), str(meta.get("name")))] = {
            str(e.get("id")): e for e in entries if isinstance(e, Mapping)
        }
    mismatches = []
    for request in requests:
        entry = statuses.get((request.namespace, request.name), {}).get(request.id)
        problem = None
        if entry is None:
            problem = "not in status.requests"
        elif entry.get("state") != "Done":
            problem = f"state {entry.get('state')!r}, not Done"
        elif request.kind == "trigger" and entry.get("result") != "succeeded":
            problem = f"result {entry.get('result')!r}, not succeeded"
        elif request.kind == "backfill" and (
            entry.get("skipped") or int(entry.get("launched") or 0) + int(entry.get("alreadyRan") or 0)
            != int(entry.get("total") or 0)
        ):
            problem = (f"launched {entry.get('launched')} + alreadyRan {entry.get('alreadyRan')} of total "
                       f"{entry.get('total')}, skipped {entry.get('skipped')}")
        if problem is not None:
            mismatches.append({"namespace": request.namespace, "recurringjob": request.name,
                               "request": request.id, "kind": request.kind, "problem": problem})
    return mismatches
