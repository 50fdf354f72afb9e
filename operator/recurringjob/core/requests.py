"""Run-now (trigger) and backfill requests: recorded by clients in spec.triggers / spec.backfills,
decided by the planner in status.requests.

Exactly once: a request id is claimed by the resourceVersion-checked status write that first
records it in status.requests, and an id present there is never claimed again. A backfill walks
its own cursor (`next`) through its range; each launch moves it past the occurrence in the same
claim that puts the Job in status.active, exactly like the schedule's cursor. Job names: a
trigger's from its id (`trigger_job_name`), a backfilled occurrence's from its nominal time (the
scheduled occurrence's own name, so a time whose Job still exists is not run again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from recurringjob.core.jobs import build_job, job_name, trigger_job_name
from recurringjob.core.occurrence_lock import is_deleting
from recurringjob.core.occurrences import Occurrences, occurrence_stream
from recurringjob.core.planner_status import job_result
from recurringjob.core.spec import BUFFER_POLICIES, REQUEST_ID_PATTERN, Spec, parse_time
from recurringjob.core.timeutil import format_rfc3339

__all__ = [
    "BACKFILL_LIMIT",
    "REQUEST_ID_PATTERN",
    "RequestContext",
    "RequestLaunch",
    "backfill_limit_message",
    "book_request_outcomes",
    "count_backfill",
    "plan_requests",
    "trigger_job_name",
    "trigger_jobs",
]

BACKFILL_LIMIT = 1000  # occurrences per backfill request (Temporal caps backfillers, CronJob has none)
RETAINED_REQUESTS = 50  # decided requests kept in status.requests once their id has left spec
MAX_ALREADY_RAN_STEPS = 100  # occurrences a backfill may pass over (Job exists / Forbid) in one plan
_ONE_SECOND = timedelta(seconds=1)


def backfill_limit_message(request_id: str, start: datetime, end: datetime) -> str:
    return (f"backfill {request_id}: {format_rfc3339(start)}..{format_rfc3339(end)} holds more than "
            f"{BACKFILL_LIMIT} occurrences: split the range")


def count_backfill(rj: Mapping[str, Any], start: datetime, end: datetime,
                   cap: int = BACKFILL_LIMIT + 1) -> int:
    """How many occurrences of the RecurringJob's stream lie in [start, end], counting at most to
    `cap`. Raises InvalidSpec / ScheduleError for a spec the planner would reject."""
    return occurrence_stream(rj).count(start - _ONE_SECOND, end, cap)


@dataclass
class RequestLaunch:
    kind: str  # trigger | backfill
    request_id: str
    nominal: datetime
    name: str
    job: dict[str, Any]
    overlap_policy: str


@dataclass
class RequestContext:
    rj: Mapping[str, Any]
    spec: Spec
    stream: Occurrences
    cursor: datetime | None  # the schedule's cursor (None: the stream has ended)
    now: datetime  # whole seconds, server clock
    owned: Mapping[str, Mapping[str, Any]]  # owned Jobs by name
    active: list[str]  # status.active names after bookkeeping
    running: list[str]  # everything that counts as running for overlap policies
    requests: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def trigger_jobs(status: Mapping[str, Any]) -> dict[str, tuple[datetime, str]]:
    """Trigger Job name -> (nominal time, request id), for recovering a claimed trigger whose Job
    is missing."""
    result = {}
    for entry in _entries(status.get("requests")):
        when = parse_time(entry.get("scheduledTime"))
        if entry.get("kind") == "trigger" and isinstance(entry.get("jobName"), str) and when is not None:
            result[entry["jobName"]] = (when, entry["id"])
    return result


def backfill_covering(status: Mapping[str, Any], t: datetime) -> str | None:
    """The id of the backfill that has launched (passed) occurrence t, if any: a recovered Job of
    that time is rebuilt as the backfill's."""
    for entry in _entries(status.get("requests")):
        if entry.get("kind") != "backfill":
            continue
        start, until, following = (parse_time(entry.get(k)) for k in ("from", "until", "next"))
        if start is None or until is None or not start <= t <= until:
            continue
        if following is None or t < following:
            return str(entry.get("id"))
    return None


def _entries(value: Any) -> list[dict[str, Any]]:
    return [dict(e) for e in value if isinstance(e, Mapping) and isinstance(e.get("id"), str)] \
        if isinstance(value, list) else []


def book_request_outcomes(ctx: RequestContext, status: Mapping[str, Any]) -> None:
    """Book the outcomes of running requests from the Jobs seen; `ctx.requests` holds the new
    status.requests afterwards. Every plan does this, not only those with nothing else to do: a
    busy schedule always has an occurrence due, and history pruning may remove a request's finished
    Job before a quiet plan comes."""
    ctx.requests = _entries(status.get("requests"))
    for entry in ctx.requests:
        _book_outcome(ctx, entry)


def plan_requests(ctx: RequestContext, status: Mapping[str, Any]) -> RequestLaunch | None:
    """Book the outcomes of running requests, record new ones and choose at most one launch.
    `ctx.requests` holds the new status.requests afterwards."""
    book_request_outcomes(ctx, status)
    by_id = {entry["id"]: entry for entry in ctx.requests}
    launch: RequestLaunch | None = None
    for trigger in ctx.spec.triggers:
        if trigger.id not in by_id:
            by_id[trigger.id] = {"id": trigger.id, "kind": "trigger", "state": "Pending",
                                 "acceptedAt": format_rfc3339(ctx.now)}
            ctx.requests.append(by_id[trigger.id])
        if by_id[trigger.id].get("state") != "Pending" or launch is not None:
            continue
        launch = _trigger_step(ctx, by_id[trigger.id], trigger.overlap_policy or ctx.spec.concurrency_policy)
    for backfill in ctx.spec.backfills:
        if backfill.id not in by_id:
            by_id[backfill.id] = _accept_backfill(ctx, backfill.id, backfill.start, backfill.end)
            ctx.requests.append(by_id[backfill.id])
        if by_id[backfill.id].get("state") not in ("Pending", "Running") or launch is not None:
            continue
        policy = backfill.overlap_policy or ctx.spec.concurrency_policy
        launch = _backfill_step(ctx, by_id[backfill.id], policy)
    _retain(ctx)
    return launch


def _book_outcome(ctx: RequestContext, entry: dict[str, Any]) -> None:
    if entry.get("state") != "Running":
        return
    if entry.get("kind") == "trigger":
        name = entry.get("jobName")
        job = ctx.owned.get(name) if isinstance(name, str) else None
        result = job_result(job) if job is not None else None
        if result is not None:
            entry.update(state="Done", result=result)
        elif job is not None and is_deleting(job):
            entry.update(state="Done", result="stopped")
        elif job is None and name not in ctx.active:
            entry.update(state="Done", result="missed",
                         message="its Job was never created within startingDeadlineSeconds")
    elif entry.get("kind") == "backfill" and entry.get("next") is None:
        if not _backfill_active(ctx, entry):
            entry["state"] = "Done"


def _backfill_active(ctx: RequestContext, entry: Mapping[str, Any]) -> bool:
    """True while a Job this backfill launched has not finished."""
    request_id = entry.get("id")
    for name in ctx.active:
        job = ctx.owned.get(name)
        annotations = ((job or {}).get("metadata") or {}).get("annotations") or {}
        if job is None or annotations.get("recurringjob.dev/trigger-id") == request_id:
            return True  # a claimed Job not yet seen may be ours: wait for it
    return False


def _trigger_step(ctx: RequestContext, entry: dict[str, Any], policy: str) -> RequestLaunch | None:
    if ctx.running and policy == "Forbid":
        entry.update(state="Refused", result="skipped",
                     message=f"overlapPolicy Forbid and {', '.join(sorted(ctx.running))} is running")
        return None
    if ctx.running and policy in BUFFER_POLICIES:
        entry["message"] = f"waiting for {', '.join(sorted(ctx.running))} to finish ({policy})"
        return None
    nominal = parse_time(entry.get("acceptedAt")) or ctx.now
    name = trigger_job_name(str(ctx.rj["metadata"]["name"]), entry["id"])
    entry.update(state="Running", jobName=name, scheduledTime=format_rfc3339(nominal))
    entry.pop("message", None)
    job = build_job(ctx.rj, nominal, kind="trigger", request_id=entry["id"])
    return RequestLaunch("trigger", entry["id"], nominal, name, job, policy)


def _accept_backfill(ctx: RequestContext, request_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": request_id, "kind": "backfill", "from": format_rfc3339(start),
                             "to": format_rfc3339(end), "acceptedAt": format_rfc3339(ctx.now)}
    if end < start:
        ctx.warnings.append("BackfillRefused")
        message = f"backfill {request_id}: to ({entry['to']}) is before from ({entry['from']})"
        return entry | {"state": "Refused", "message": message}
    if ctx.stream.count(start - _ONE_SECOND, end, BACKFILL_LIMIT + 1) > BACKFILL_LIMIT:
        ctx.warnings.append("BackfillRefused")
        return entry | {"state": "Refused", "message": backfill_limit_message(request_id, start, end)}
    # times at or after the schedule's cursor are the schedule's to run: a backfill never races it
    until = min(end, ctx.cursor - _ONE_SECOND) if ctx.cursor is not None else end
    total = ctx.stream.count(start - _ONE_SECOND, until, BACKFILL_LIMIT + 1) if until >= start else 0
    first = ctx.stream.next_after(start - _ONE_SECOND) if total else None
    entry.update(until=format_rfc3339(until), total=total, launched=0, skipped=0, alreadyRan=0)
    if not total or first is None:
        later = " (later times are left to the schedule)" if until < end else ""
        return entry | {"state": "Done", "message": f"no occurrence in the range{later}"}
    return entry | {"state": "Running", "next": format_rfc3339(first)}


def _backfill_step(ctx: RequestContext, entry: dict[str, Any], policy: str) -> RequestLaunch | None:
    until = parse_time(entry.get("until"))
    rj_name = str(ctx.rj["metadata"]["name"])
    for _ in range(MAX_ALREADY_RAN_STEPS):
        current = parse_time(entry.get("next"))
        if current is None or until is None or current > until:
            entry.pop("next", None)
            if not _backfill_active(ctx, entry):
                entry["state"] = "Done"
            return None
        following = ctx.stream.next_after(current)
        name = job_name(rj_name, current)
        if name in ctx.owned or name in ctx.active:
            entry["alreadyRan"] = int(entry.get("alreadyRan", 0)) + 1  # its Job still exists: not again
        elif ctx.running and policy == "Forbid":
            entry["skipped"] = int(entry.get("skipped", 0)) + 1
        elif ctx.running and policy in BUFFER_POLICIES:
            entry["state"] = "Running"
            entry["message"] = f"waiting for {', '.join(sorted(ctx.running))} to finish ({policy})"
            return None
        else:
            _advance(entry, following, until)
            entry["launched"] = int(entry.get("launched", 0)) + 1
            entry["state"] = "Running"
            entry.pop("message", None)
            job = build_job(ctx.rj, current, kind="backfill", request_id=entry["id"])
            return RequestLaunch("backfill", entry["id"], current, name, job, policy)
        _advance(entry, following, until)
    return None


def _advance(entry: dict[str, Any], following: datetime | None, until: datetime) -> None:
    if following is None or following > until:
        entry.pop("next", None)
    else:
        entry["next"] = format_rfc3339(following)


def _retain(ctx: RequestContext) -> None:
    """Keep every entry whose id is still in spec, and the newest RETAINED_REQUESTS others."""
    in_spec = {t.id for t in ctx.spec.triggers} | {b.id for b in ctx.spec.backfills}
    others = [e for e in ctx.requests if e["id"] not in in_spec]
    dropped = {id(e) for e in others[: max(0, len(others) - RETAINED_REQUESTS)]}
    ctx.requests = [e for e in ctx.requests if id(e) not in dropped]


def pending_work(requests: list[dict[str, Any]]) -> bool:
    """True while a request may launch without any other change (re-plan at once)."""
    return any(e.get("state") == "Pending" or (e.get("state") == "Running" and bool(e.get("next")))
               for e in requests)
