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
  unknown, or that carry no (parseable) scheduled time;
- `early`, `late beyond deadline`, `overlaps` (Forbid/Replace), `re-created after deletion`, and
  the misses a spec allows (Forbid skips, deadlines that passed inside fault windows): see
  `verdict_rules`. What is read from the audit lines: `verdict_audit`.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from recurringjob.core.cron import Schedule, ScheduleError
from recurringjob.core.jobs import NAME_LABEL, SCHEDULED_TIME_ANNOTATION
from recurringjob.evidence.verdict_audit import (
    Fault,
    JudgedRecurringJob,
    JudgedRequest,
    Launch,
    format_time,
    job_launches,
    job_lifetimes,
    leader_changes,
    lease_writes,
    outside_deletions,
    parse_audit_lines,
    parse_time,
)
from recurringjob.evidence.verdict_requests import judge_requests, split_trigger_launches
from recurringjob.evidence.verdict_rules import (
    Occurrence,
    dark_windows,
    early_launches,
    excused_misses,
    late_launches,
    launch_detail,
    occurrence_detail,
    overlapping_jobs,
    recreated_after_deletion,
)

# Re-exported: the harness, the demo and the bench import these from here.
__all__ = [
    "NAME_LABEL", "SCHEDULED_TIME_ANNOTATION", "Fault", "JudgedRecurringJob", "JudgedRequest", "Launch",
    "Verdict",
    "compute_verdict", "format_time", "is_schedule_time", "job_launches", "parse_audit_lines", "parse_time",
    "percentile", "schedule_times_between",
]  # fmt: skip

DEFAULT_LEASE_NAME = "recurringjob-operator"
# Faults after which another replica has to take over (or the same one recover): failover gaps.
LEADER_FAULTS = frozenset({
    "kill-leader", "pause-leader", "partition-leader", "devcluster-restart", "job-ttl", "late-write",
    "replace-crash", "rollout", "trigger-failover", "backfill-failover",
})  # fmt: skip
DETAIL_LIMIT = 50  # keep verdict.json readable; the counts stay exact


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
    early: int = 0
    late_beyond_deadline: int = 0
    overlaps: int = 0
    recreated_after_deletion: int = 0
    excused_misses: dict[str, int] = field(default_factory=dict)  # why -> count (not failures)
    deletions_by_others: dict[str, int] = field(default_factory=dict)  # client -> Job DELETEs
    early_details: list[dict[str, Any]] = field(default_factory=list)
    late_details: list[dict[str, Any]] = field(default_factory=list)
    overlap_details: list[dict[str, Any]] = field(default_factory=list)
    recreated_details: list[dict[str, Any]] = field(default_factory=list)
    # run-now and backfill requests judged (verdict_requests): triggers, backfills, backfill_occurrences
    requests_judged: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
    dark_grace: float = 0.0,
    forbid_grace: float = 5.0,
    requests: Sequence[JudgedRequest] | None = None,
) -> Verdict:
    """Judge occurrences scheduled in [window_start, window_end] (unix seconds, inclusive).

    `dark_grace`: seconds after a fault's end during which no replica may yet act (takeover and
    catch-up), for misses of deadline RecurringJobs; `forbid_grace`: see `excused_misses`;
    `requests`: the trigger and backfill requests made (see `verdict_requests`; None: not known).
    """
    entries = list(audit)
    launches, rejected = job_launches(entries)
    known = {(rj.namespace, rj.name): rj for rj in recurringjobs}
    occurrence_launches, trigger_launches = split_trigger_launches(launches)
    by_occurrence, spurious_details = _occurrences(occurrence_launches, known)
    asked = judge_requests(trigger_launches, by_occurrence, known, requests, _times_of)
    spurious_details = asked.spurious + spurious_details

    start = datetime.fromtimestamp(window_start, UTC)
    end = datetime.fromtimestamp(window_end, UTC)
    judged: list[Occurrence] = []
    for rj in recurringjobs:
        # An invalid schedule (Ready=False) has no occurrences: nothing may run for it.
        judged.extend((rj.namespace, rj.name, t) for t in _times_of(rj, start, end))

    # Who launches is the operator (or whatever scheduler is judged): its deletes are its own business.
    operator_clients = {launch.client for launch in launches}
    lives = job_lifetimes(
        entries,
        # Replace: a Job's turn ends when the operator deletes it (its pods may take a while to go).
        lambda namespace, name, client: (
            client in operator_clients and _policy(known, namespace, name) == "Replace"
        ),
    )
    deletions = outside_deletions(entries, operator_clients)

    unlaunched = [key for key in judged if not by_occurrence.get(key)]
    excused = excused_misses(unlaunched, known, lives, dark_windows(faults, dark_grace), forbid_grace,
                             by_occurrence)
    missed_details = asked.missed + [occurrence_detail(key) for key in unlaunched if key not in excused]
    excused_counts: dict[str, int] = defaultdict(int)
    for why in excused.values():
        excused_counts[why] += 1
    duplicate_details = asked.duplicates + [
        occurrence_detail(key) | {"launches": [launch_detail(launch) for launch in found]}
        for key, found in sorted(by_occurrence.items(), key=lambda item: item[0][2])
        if len(found) > 1
    ]
    early_details = early_launches(launches)
    late_details = late_launches(launches, known)
    overlap_details = overlapping_jobs(lives, known)
    recreated_details = recreated_after_deletion(launches, deletions)
    lateness = [
        min(launch.ts for launch in by_occurrence[key]) - key[2].timestamp()
        for key in judged
        if by_occurrence.get(key)
    ]
    by_client: dict[str, int] = defaultdict(int)
    for launch in launches:
        by_client[launch.client] += 1
    deleted_by: dict[str, int] = defaultdict(int)
    for deletion in deletions:
        deleted_by[deletion.client] += 1

    writes = lease_writes(entries, lease_name)
    reasons = []
    if not judged:
        reasons.append("no occurrence in the judged window: nothing was proven")
    for details, what in (
        (duplicate_details, "occurrence(s) launched more than once"),
        (missed_details, "occurrence(s) never launched"),
        (spurious_details, "launch(es) for no occurrence of the schedule"),
        (early_details, "launch(es) before the scheduled time"),
        (late_details, "launch(es) later than startingDeadlineSeconds"),
        (overlap_details, "Job(s) created while another Job of a Forbid/Replace RecurringJob ran"),
        (recreated_details, "occurrence(s) launched again after their Job was deleted by someone else"),
        (status_mismatches, "RecurringJob(s) with a wrong final status"),
    ):
        if details:
            reasons.append(f"{len(details)} {what}")
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
        leader_changes=leader_changes(writes),
        failovers=_failovers(faults, writes, launches),
        faults=[asdict(f) for f in sorted(faults, key=lambda f: f.start)],
        status_mismatches=[dict(m) for m in status_mismatches],
        duplicate_details=duplicate_details[:DETAIL_LIMIT],
        missed_details=missed_details[:DETAIL_LIMIT],
        spurious_details=spurious_details[:DETAIL_LIMIT],
        early=len(early_details),
        late_beyond_deadline=len(late_details),
        overlaps=len(overlap_details),
        recreated_after_deletion=len(recreated_details),
        excused_misses=dict(sorted(excused_counts.items())),
        deletions_by_others=dict(sorted(deleted_by.items())),
        early_details=early_details[:DETAIL_LIMIT],
        late_details=late_details[:DETAIL_LIMIT],
        overlap_details=overlap_details[:DETAIL_LIMIT],
        recreated_details=recreated_details[:DETAIL_LIMIT],
        requests_judged=asked.judged,
        reasons=reasons,
    )


def _policy(
    known: Mapping[tuple[str, str], JudgedRecurringJob], namespace: str, name: str | None
) -> str | None:
    rj = known.get((namespace, name or ""))
    return rj.concurrency_policy if rj else None


def _occurrences(
    launches: Sequence[Launch], known: Mapping[tuple[str, str], JudgedRecurringJob]
) -> tuple[dict[Occurrence, list[Launch]], list[dict[str, Any]]]:
    """Launches grouped by the occurrence they launch, and the spurious ones (with why)."""
    by_occurrence: dict[Occurrence, list[Launch]] = defaultdict(list)
    spurious: list[dict[str, Any]] = []
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
            spurious.append(launch_detail(launch) | {"why": why})
            continue
        assert launch.scheduled_time is not None
        by_occurrence[(launch.namespace, launch.recurringjob or "", launch.scheduled_time)].append(launch)
    return by_occurrence, spurious


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


def _times_of(rj: JudgedRecurringJob, start: datetime, end: datetime) -> list[datetime]:
    if not _valid_schedule(rj):
        return []
    return schedule_times_between(rj.schedule, rj.time_zone, start, end, rj.anchor)


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
