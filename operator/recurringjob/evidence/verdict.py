"""The exactly-once verdict, computed from the API server's audit log alone.

Pure: no I/O, no clock. The chaos harness (tests/chaos/run.py) and `recurringjob demo` feed it
the audit lines, the RecurringJobs under test and the window to judge; it answers with every
duplicate, miss and spurious launch it can prove, plus launch lateness and failover figures.

Why the audit log: it is written by the API server before it answers, so it records every Job
create that really happened, whoever did it, whatever the operator believes about itself.

Rules:
- an *occurrence* is (RecurringJob, scheduled time T) with T a time of the RecurringJob's schedule;
- a *launch* is a successful (2xx) `create` of a `batch` `jobs` object whose label
  `recurringjob.dev/name` names the RecurringJob and whose annotation
  `recurringjob.dev/scheduled-time` is T;
- `missed`: occurrences with T inside the judged window and no launch. Only the window is judged
  for misses, because occurrences near the start (before the operator runs) and near the end
  (cut off by the stop) legitimately have none;
- `duplicates`: occurrences with more than one launch, wherever T lies: a second launch is never
  legitimate, margins or not;
- `spurious`: launches whose T is not a time of that RecurringJob's schedule, whose RecurringJob is
  unknown, or that carry no (parseable) scheduled time.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from recurringjob.core.cron import Schedule, ScheduleError
from recurringjob.core.jobs import NAME_LABEL, SCHEDULED_TIME_ANNOTATION

DEFAULT_LEASE_NAME = "recurringjob-operator"
# Faults after which another replica has to take over (or the same one recover): failover gaps.
LEADER_FAULTS = frozenset({"kill-leader", "pause-leader", "partition-leader", "devcluster-restart"})
DETAIL_LIMIT = 50  # keep verdict.json readable; the counts stay exact


@dataclass(frozen=True)
class JudgedRecurringJob:
    """A RecurringJob under test: what the verdict needs of its spec."""

    namespace: str
    name: str
    schedule: str
    time_zone: str | None = None
    anchor: datetime | None = None  # only @every schedules need it: status.scheduleFrom


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


@dataclass
class Verdict:
    clean: bool
    window: dict[str, Any]
    recurringjobs: int
    judged_occurrences: int
    launches: int
    duplicates: int
    missed: int
    spurious: int
    lateness_seconds: dict[str, float | None]
    rejected_job_creates: dict[str, int]
    launches_by_client: dict[str, int]
    leader_changes: list[dict[str, Any]]
    failovers: list[dict[str, Any]]
    faults: list[dict[str, Any]]
    status_mismatches: list[dict[str, Any]] = field(default_factory=list)
    duplicate_details: list[dict[str, Any]] = field(default_factory=list)
    missed_details: list[dict[str, Any]] = field(default_factory=list)
    spurious_details: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_success(entry: Mapping[str, Any]) -> bool:
    code = entry.get("code")
    return isinstance(code, int) and 200 <= code < 300


def _is_job_create(entry: Mapping[str, Any]) -> bool:
    return (
        entry.get("verb") == "create"
        and entry.get("group") == "batch"
        and entry.get("resource") == "jobs"
        and not entry.get("subresource")
    )


def job_launches(audit: Iterable[Mapping[str, Any]]) -> tuple[list[Launch], dict[str, int]]:
    """Successful Job creates, in log order, and the count of rejected ones by HTTP code."""
    launches: list[Launch] = []
    rejected: dict[str, int] = defaultdict(int)
    for entry in audit:
        if not _is_job_create(entry):
            continue
        if not _is_success(entry):
            rejected[str(entry.get("code"))] += 1
            continue
        labels = entry.get("labels") or {}
        annotations = entry.get("annotations") or {}
        raw = annotations.get(SCHEDULED_TIME_ANNOTATION)
        launches.append(
            Launch(
                ts=float(entry["ts"]),
                namespace=str(entry.get("namespace") or ""),
                recurringjob=labels.get(NAME_LABEL),
                scheduled_time=parse_time(raw) if isinstance(raw, str) else None,
                raw_scheduled_time=raw if isinstance(raw, str) else None,
                client=str(entry.get("client")),
                job_name=entry.get("name"),
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
        and _is_success(entry)
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


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is a lateness that happened)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _failovers(
    faults: Sequence[Fault], writes: Sequence[tuple[float, str]], launches: Sequence[Launch]
) -> list[dict[str, Any]]:
    """Per leader fault: when leadership was exercised again, and when the next Job was created.

    A replica fault ends with a Lease write by another replica (the takeover); a restarted API
    server with the first Lease write it accepts, whoever makes it.
    """
    launch_times = sorted(launch.ts for launch in launches)
    result = []
    for fault in sorted(faults, key=lambda f: f.start):
        if fault.kind not in LEADER_FAULTS:
            continue
        takeover = next(
            ((ts, client) for ts, client in writes if ts >= fault.start and client != fault.target),
            None,
        )
        first_launch = next((ts for ts in launch_times if ts >= fault.start), None)
        result.append(
            {
                "fault": fault.kind,
                "at": fault.start,
                "target": fault.target,
                "new_leader": takeover[1] if takeover else None,
                "takeover_after_s": round(takeover[0] - fault.start, 3) if takeover else None,
                "first_launch_after_s": round(first_launch - fault.start, 3) if first_launch else None,
            }
        )
    return result


def compute_verdict(
    audit: Iterable[Mapping[str, Any]],
    recurringjobs: Sequence[JudgedRecurringJob],
    window_start: float,
    window_end: float,
    faults: Sequence[Fault] = (),
    lease_name: str = DEFAULT_LEASE_NAME,
    status_mismatches: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """Judge occurrences scheduled in [window_start, window_end] (unix seconds, inclusive)."""
    entries = list(audit)
    launches, rejected = job_launches(entries)
    known = {(rj.namespace, rj.name): rj for rj in recurringjobs}

    by_occurrence: dict[tuple[str, str, datetime], list[Launch]] = defaultdict(list)
    spurious_details: list[dict[str, Any]] = []
    for launch in launches:
        rj = known.get((launch.namespace, launch.recurringjob or ""))
        why = None
        if rj is None:
            why = "unknown RecurringJob"
        elif launch.scheduled_time is None:
            why = "missing or unparseable scheduled-time annotation"
        elif not _valid_schedule(rj):
            why = "the RecurringJob's schedule is invalid"
        elif not is_schedule_time(rj.schedule, rj.time_zone, launch.scheduled_time, rj.anchor):
            why = "not a time of the schedule"
        if why is not None:
            spurious_details.append(_launch_detail(launch) | {"why": why})
            continue
        assert launch.scheduled_time is not None
        by_occurrence[(launch.namespace, launch.recurringjob or "", launch.scheduled_time)].append(launch)

    start = datetime.fromtimestamp(window_start, UTC)
    end = datetime.fromtimestamp(window_end, UTC)
    judged: list[tuple[str, str, datetime]] = []
    for rj in recurringjobs:
        # An invalid schedule (Ready=False) has no occurrences: nothing may run for it.
        times = (
            schedule_times_between(rj.schedule, rj.time_zone, start, end, rj.anchor)
            if _valid_schedule(rj)
            else []
        )
        judged.extend((rj.namespace, rj.name, t) for t in times)

    missed_details = [
        {"namespace": ns, "recurringjob": name, "scheduled_time": format_time(t)}
        for ns, name, t in judged
        if not by_occurrence.get((ns, name, t))
    ]
    duplicate_details = [
        {
            "namespace": ns,
            "recurringjob": name,
            "scheduled_time": format_time(t),
            "launches": [_launch_detail(launch) for launch in found],
        }
        for (ns, name, t), found in sorted(by_occurrence.items(), key=lambda item: item[0][2])
        if len(found) > 1
    ]
    lateness = [
        min(launch.ts for launch in by_occurrence[key]) - key[2].timestamp()
        for key in judged
        if by_occurrence.get(key)
    ]
    by_client: dict[str, int] = defaultdict(int)
    for launch in launches:
        by_client[launch.client] += 1

    writes = lease_writes(entries, lease_name)
    changes = leader_changes(writes)
    reasons = []
    if not judged:
        reasons.append("no occurrence in the judged window: nothing was proven")
    if duplicate_details:
        reasons.append(f"{len(duplicate_details)} occurrence(s) launched more than once")
    if missed_details:
        reasons.append(f"{len(missed_details)} occurrence(s) never launched")
    if spurious_details:
        reasons.append(f"{len(spurious_details)} launch(es) for no occurrence of the schedule")
    if status_mismatches:
        reasons.append(f"{len(status_mismatches)} RecurringJob(s) with a wrong final status")
    return Verdict(
        clean=not reasons,
        window={
            "start": window_start,
            "end": window_end,
            "start_utc": format_time(start),
            "end_utc": format_time(end),
        },
        recurringjobs=len(recurringjobs),
        judged_occurrences=len(judged),
        launches=len(launches),
        duplicates=len(duplicate_details),
        missed=len(missed_details),
        spurious=len(spurious_details),
        lateness_seconds={
            "p50": _round(percentile(lateness, 0.50)),
            "p99": _round(percentile(lateness, 0.99)),
            "max": _round(max(lateness) if lateness else None),
        },
        rejected_job_creates=rejected,
        launches_by_client=dict(sorted(by_client.items())),
        leader_changes=changes,
        failovers=_failovers(faults, writes, launches),
        faults=[asdict(f) for f in sorted(faults, key=lambda f: f.start)],
        status_mismatches=[dict(m) for m in status_mismatches],
        duplicate_details=duplicate_details[:DETAIL_LIMIT],
        missed_details=missed_details[:DETAIL_LIMIT],
        spurious_details=spurious_details[:DETAIL_LIMIT],
        reasons=reasons,
    )


def _launch_detail(launch: Launch) -> dict[str, Any]:
    return {
        "ts": launch.ts,
        "client": launch.client,
        "job": launch.job_name,
        "recurringjob": launch.recurringjob,
        "scheduled_time": launch.raw_scheduled_time,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- schedule times: the one place that knows how a schedule expands ---------------------------


@functools.lru_cache(maxsize=4096)
def _schedule(schedule: str, time_zone: str | None, anchor: datetime | None) -> Schedule:
    return Schedule.parse(schedule, time_zone, anchor)


def schedule_times_between(
    schedule: str, time_zone: str | None, start: datetime, end: datetime, anchor: datetime | None = None
) -> list[datetime]:
    """Schedule times T with start <= T <= end, as aware UTC datetimes (`anchor`: for @every)."""
    # Schedule.occurrences is (after, until] on whole seconds; a microsecond back makes it [start, end].
    return _schedule(schedule, time_zone, anchor).occurrences(start - timedelta(microseconds=1), end, 10**8)


def _valid_schedule(rj: JudgedRecurringJob) -> bool:
    try:
        _schedule(rj.schedule, rj.time_zone, rj.anchor)
    except ScheduleError:
        return False
    return True


def is_schedule_time(
    schedule: str, time_zone: str | None, moment: datetime, anchor: datetime | None = None
) -> bool:
    return schedule_times_between(schedule, time_zone, moment, moment, anchor) == [moment.astimezone(UTC)]
