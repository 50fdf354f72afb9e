"""What the verdict reads: audit lines turned into launches, Lease writes, Job lifetimes, deletions.

Pure: no I/O, no clock. Every time here is an audit `ts`, the API server's clock. Lines of two
kinds are read: HTTP audit lines (ts verb group version resource subresource namespace name code
client, plus labels and annotations for creates) and the dev cluster's controller lines, which
add an `event` key:

    {"verb": "update", "subresource": "status", "client": "system:job-controller", "event": "finished", ...}
    {"verb": "update", "client": "system:job-controller", "event": "stopped", ...}
    {"verb": "delete", "client": "system:storage", "event": "removed", ...}
    {"verb": "delete", "client": "system:ttl-after-finished-controller", "event": "deleted", ...}
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recurringjob.core.jobs import (
    FIRE_TIME_ANNOTATION,
    NAME_LABEL,
    SCHEDULED_TIME_ANNOTATION,
    TRIGGER_ID_ANNOTATION,
    TRIGGER_KIND_ANNOTATION,
)

# Controller lines that end a Job's run: it finished, was stopped (deleted while running), or is gone.
JOB_END_EVENTS = frozenset({"finished", "stopped", "removed"})
DeletePredicate = Callable[[str, str | None, str], bool]  # (namespace, recurringjob label, client)


@dataclass(frozen=True)
class JudgedRecurringJob:
    """A RecurringJob under test: what the verdict needs of its spec."""

    namespace: str
    name: str
    schedule: str
    time_zone: str | None = None
    anchor: datetime | None = None  # only @every schedules need it: status.scheduleFrom
    concurrency_policy: str = "Allow"  # Forbid and Replace: no two unfinished Jobs at once
    starting_deadline_seconds: int | None = None  # set: no launch later than this after T


@dataclass(frozen=True)
class Fault:
    """A fault injected by the harness: what, when (unix seconds), to whom."""

    kind: str
    start: float
    end: float | None = None
    target: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Launch:
    """One successful Job create found in the audit log."""

    ts: float
    namespace: str
    recurringjob: str | None
    scheduled_time: datetime | None
    raw_scheduled_time: str | None
    client: str
    job_name: str | None
    fire_time: datetime | None = None  # nominal + jitter; None: no annotation (launch due at T)
    trigger_kind: str | None = None  # schedule | trigger | backfill; None: no annotation (schedule)
    trigger_id: str | None = None  # the trigger or backfill request that launched it

    @property
    def due(self) -> datetime | None:
        """When it was due to launch: its fire time (jitter) when it says, else its scheduled time."""
        return self.fire_time or self.scheduled_time


@dataclass(frozen=True)
class JudgedRequest:
    """A run-now or backfill request the harness made, which must launch its Job(s) exactly once.

    trigger: one Job with annotation `trigger-id` = `id`. backfill: every schedule time in
    [start, end] launched once (by the backfill, or earlier by the schedule)."""

    namespace: str
    name: str  # the RecurringJob
    kind: str  # trigger | backfill
    id: str
    start: datetime | None = None  # backfill only
    end: datetime | None = None


@dataclass(frozen=True)
class JobLife:
    """A Job from its successful create to the first line that ends its run (None: never seen)."""

    namespace: str
    name: str
    recurringjob: str | None
    start: float
    end: float | None
    ended_by: str | None  # "finished", "stopped", "removed" or "deleted by <client>"


@dataclass(frozen=True)
class Deletion:
    """A successful DELETE of a Job by someone other than the operator (a user, TTL, GC)."""

    ts: float
    namespace: str
    name: str
    client: str


def parse_audit_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """JSONL -> dicts; a torn last line (the server was killed mid-write) is skipped."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            yield entry


def parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_success(entry: Mapping[str, Any]) -> bool:
    code = entry.get("code")
    return isinstance(code, int) and 200 <= code < 300


def _happened(entry: Mapping[str, Any]) -> bool:
    """A 2xx request, or a controller line (`event`), which records what was done (code optional)."""
    return is_success(entry) or ("event" in entry and "code" not in entry)


def _is_job(entry: Mapping[str, Any]) -> bool:
    return entry.get("group") == "batch" and entry.get("resource") == "jobs"


def _is_job_create(entry: Mapping[str, Any]) -> bool:
    return entry.get("verb") == "create" and _is_job(entry) and not entry.get("subresource")


def job_launches(audit: Iterable[Mapping[str, Any]]) -> tuple[list[Launch], dict[str, int]]:
    """Successful Job creates, in log order, and the count of rejected ones by HTTP code."""
    launches: list[Launch] = []
    rejected: dict[str, int] = defaultdict(int)
    for entry in audit:
        if not _is_job_create(entry):
            continue
        if not is_success(entry):
            rejected[str(entry.get("code"))] += 1
            continue
        labels = entry.get("labels") or {}
        annotations = entry.get("annotations") or {}
        raw = annotations.get(SCHEDULED_TIME_ANNOTATION)
        fire = annotations.get(FIRE_TIME_ANNOTATION)
        kind = annotations.get(TRIGGER_KIND_ANNOTATION)
        request_id = annotations.get(TRIGGER_ID_ANNOTATION)
        launches.append(
            Launch(
                ts=float(entry["ts"]),
                namespace=str(entry.get("namespace") or ""),
                recurringjob=labels.get(NAME_LABEL),
                scheduled_time=parse_time(raw) if isinstance(raw, str) else None,
                raw_scheduled_time=raw if isinstance(raw, str) else None,
                client=str(entry.get("client")),
                job_name=entry.get("name"),
                fire_time=parse_time(fire) if isinstance(fire, str) else None,
                trigger_kind=kind if isinstance(kind, str) else None,
                trigger_id=request_id if isinstance(request_id, str) else None,
            )
        )
    return launches, dict(rejected)


def lease_writes(audit: Iterable[Mapping[str, Any]], lease_name: str) -> list[tuple[float, str]]:
    """(ts, client) of each successful write of the Lease: the writer is the holder it wrote."""
    return [
        (float(entry["ts"]), str(entry.get("client")))
        for entry in audit
        if entry.get("resource") == "leases"
        and entry.get("name") == lease_name
        and entry.get("verb") in {"create", "update", "patch"}
        and is_success(entry)
    ]


def leader_changes(writes: Sequence[tuple[float, str]]) -> list[dict[str, Any]]:
    """Who held the Lease from when on."""
    changes: list[dict[str, Any]] = []
    holder: str | None = None
    for ts, client in writes:
        if client != holder:
            changes.append({"ts": ts, "leader": client, "previous": holder})
            holder = client
    return changes


def _job_delete_by(entry: Mapping[str, Any]) -> str | None:
    """The client of a successful DELETE request of a Job (not a controller's `removed` line)."""
    if entry.get("verb") != "delete" or not _is_job(entry) or entry.get("event") in JOB_END_EVENTS:
        return None
    if not _happened(entry) or not entry.get("name"):
        return None
    return str(entry.get("client"))


def _never(namespace: str, recurringjob: str | None, client: str) -> bool:
    return False


def job_lifetimes(
    audit: Iterable[Mapping[str, Any]], delete_ends_run: DeletePredicate = _never
) -> list[JobLife]:
    """Every successfully created Job with the moment its run ended, in order of creation.

    A run ends at the first `finished`, `stopped` or `removed` line of its name after the create,
    or at a successful DELETE of it for which `delete_ends_run(namespace, recurringjob, client)`
    holds (Replace: the operator's delete ends the old Job's turn). A name created again after its
    removal starts a new life.
    """
    ordered = sorted(
        (entry for entry in audit if _is_job(entry) and isinstance(entry.get("ts"), int | float)),
        key=lambda entry: float(entry["ts"]),
    )
    lives: list[JobLife] = []
    open_lives: dict[tuple[str, str], int] = {}  # (namespace, name) -> index into lives
    for entry in ordered:
        key = (str(entry.get("namespace") or ""), str(entry.get("name") or ""))
        ts = float(entry["ts"])
        if _is_job_create(entry):
            if is_success(entry):
                labels = entry.get("labels") or {}
                open_lives[key] = len(lives)
                lives.append(JobLife(key[0], key[1], labels.get(NAME_LABEL), ts, None, None))
            continue
        index = open_lives.get(key)
        if index is None:
            continue
        event = entry.get("event")
        deleter = _job_delete_by(entry)
        if event in JOB_END_EVENTS:
            ended_by = str(event)
        elif deleter is not None and delete_ends_run(key[0], lives[index].recurringjob, deleter):
            ended_by = f"deleted by {deleter}"
        else:
            continue
        life = lives[index]
        lives[index] = JobLife(life.namespace, life.name, life.recurringjob, life.start, ts, ended_by)
        del open_lives[key]
    return lives


def outside_deletions(
    audit: Iterable[Mapping[str, Any]], operator_clients: Collection[str]
) -> list[Deletion]:
    """Successful Job DELETEs by anyone but the operator: users, the TTL controller, the GC."""
    deletions = []
    for entry in audit:
        client = _job_delete_by(entry)
        if client is None or client in operator_clients or not isinstance(entry.get("ts"), int | float):
            continue
        deletions.append(
            Deletion(float(entry["ts"]), str(entry.get("namespace") or ""), str(entry["name"]), client)
        )
    return sorted(deletions, key=lambda deletion: deletion.ts)
