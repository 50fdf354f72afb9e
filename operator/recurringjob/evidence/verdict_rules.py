"""The verdict's judgements beyond once-per-occurrence: timing, concurrency, deletions, excused misses.

Pure: no I/O, no clock; every time is an audit `ts` (the API server's clock). Each function takes
what `verdict_audit` read and answers with the details it can prove (dicts, for verdict.json).

- `early`: a launch before it was due: its fire time (T + jitter) when it has one, else T. The API
  server's clock is the only clock that counts: a replica whose clock runs ahead must not launch early.
- `late beyond deadline`: a launch more than `startingDeadlineSeconds` after T (RecurringJobs that
  set a deadline): such an occurrence must be missed, not run late.
- `overlaps`: for Forbid and Replace, a Job created while another Job of the same RecurringJob is
  unfinished. A Job runs from its create to the first of: its `finished` or `stopped` controller
  line, its `removed` line, or (Replace only) the operator's DELETE of it.
- `re-created after deletion`: an occurrence launched again after one of its Jobs was deleted by
  someone other than the operator (by hand, TTL-after-finished, garbage collection).

Misses the schedule allows (see `excused_misses`): a Forbid occurrence while a Job of the same
RecurringJob ran; an occurrence of a deadline RecurringJob whose whole starting window (T + 1 s ..
T + deadline) lay in fault windows during which no replica could act.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from recurringjob.evidence.verdict_audit import (
    Deletion,
    Fault,
    JobLife,
    JudgedRecurringJob,
    Launch,
    format_time,
)

Occurrence = tuple[str, str, datetime]  # (namespace, RecurringJob, scheduled time)
# Faults during which no replica may be able to act: the leader is gone, frozen, cut off or being
# restarted (a rollout), or the API server is down or refusing writes. Not clock-skew itself: a
# replica with a wrong clock can act, and must act on time.
DARK_FAULTS = frozenset({
    "kill-leader", "pause-leader", "partition-leader", "devcluster-restart", "api-errors", "late-write",
    "job-ttl", "replace-crash", "rollout", "trigger-failover", "backfill-failover", "replica-exited",
})  # fmt: skip
REQUEST_KINDS = frozenset({"trigger", "backfill"})  # Jobs launched by a request, not the schedule
# The first second of an occurrence's starting window is not counted as a chance to act: a fault
# that strikes just after T leaves the operator no time to launch.
ACT_ALLOWANCE_SECONDS = 1.0


def launch_detail(launch: Launch) -> dict[str, object]:
    return {
        "ts": launch.ts,
        "client": launch.client,
        "job": launch.job_name,
        "recurringjob": launch.recurringjob,
        "scheduled_time": launch.raw_scheduled_time,
    } | ({"trigger_kind": launch.trigger_kind, "trigger_id": launch.trigger_id} if launch.trigger_id else {})


def early_launches(launches: Iterable[Launch]) -> list[dict[str, object]]:
    """Launches whose audit ts is before they were due: the fire time (nominal + jitter) when the
    Job carries one, else the scheduled time (a trigger's: when the request was accepted)."""
    found = []
    for launch in launches:
        due = launch.due
        early_by = due.timestamp() - launch.ts if due is not None else 0.0
        if early_by > 0:
            found.append(launch_detail(launch) | {"early_by_s": round(early_by, 3)})
    return sorted(found, key=lambda detail: float(str(detail["ts"])))


def late_launches(
    launches: Iterable[Launch], known: Mapping[tuple[str, str], JudgedRecurringJob]
) -> list[dict[str, object]]:
    """Launches more than the RecurringJob's startingDeadlineSeconds after they were due.

    Only the schedule's own launches: a backfilled occurrence is late on purpose (that is what a
    backfill is), and a claimed trigger is recovered whatever the deadline (it was asked for)."""
    found = []
    for launch in launches:
        rj = known.get((launch.namespace, launch.recurringjob or ""))
        due = launch.due
        if launch.trigger_kind in REQUEST_KINDS or rj is None or due is None:
            continue
        if rj.starting_deadline_seconds is None:
            continue
        deadline = rj.starting_deadline_seconds
        late_by = launch.ts - due.timestamp()
        if late_by > deadline:
            found.append(launch_detail(launch) | {"late_by_s": round(late_by, 3), "deadline_s": deadline})
    return sorted(found, key=lambda detail: float(str(detail["ts"])))


def overlapping_jobs(
    lives: Sequence[JobLife], known: Mapping[tuple[str, str], JudgedRecurringJob]
) -> list[dict[str, object]]:
    """Forbid/Replace: each Job created while an earlier Job of the same RecurringJob was unfinished."""
    by_rj: dict[tuple[str, str], list[JobLife]] = defaultdict(list)
    for life in lives:
        rj = known.get((life.namespace, life.recurringjob or ""))
        if rj is not None and rj.concurrency_policy in {"Forbid", "Replace"}:
            by_rj[(rj.namespace, rj.name)].append(life)
    found = []
    for (namespace, name), jobs in by_rj.items():
        jobs.sort(key=lambda life: life.start)
        unfinished: list[JobLife] = []  # earlier Jobs not seen ending yet: small, pruned as we go
        for job in jobs:
            unfinished = [other for other in unfinished if other.end is None or other.end > job.start]
            if unfinished:
                found.append({
                    "namespace": namespace,
                    "recurringjob": name,
                    "policy": known[(namespace, name)].concurrency_policy,
                    "job": job.name,
                    "created": job.start,
                    "while_running": [_life_detail(other) for other in unfinished],
                })  # fmt: skip
            unfinished.append(job)
    return sorted(found, key=lambda detail: float(str(detail["created"])))


def _life_detail(life: JobLife) -> dict[str, object]:
    return {"job": life.name, "created": life.start, "ended": life.end, "ended_by": life.ended_by}


def recreated_after_deletion(
    launches: Sequence[Launch], deletions: Sequence[Deletion]
) -> list[dict[str, object]]:
    """Occurrences launched again after one of their Jobs was deleted by someone else than the operator.

    The deleted Job's occurrence is that of the last launch of its name before the deletion; any
    later launch of the same occurrence (whatever its Job name) is a re-creation.
    """
    by_name: dict[tuple[str, str], list[Launch]] = defaultdict(list)
    by_occurrence: dict[Occurrence, list[Launch]] = defaultdict(list)
    for launch in launches:
        by_name[(launch.namespace, launch.job_name or "")].append(launch)
        if launch.recurringjob is not None and launch.scheduled_time is not None:
            by_occurrence[(launch.namespace, launch.recurringjob, launch.scheduled_time)].append(launch)
    found: dict[Occurrence, dict[str, object]] = {}
    for deletion in deletions:
        before = [
            launch
            for launch in by_name.get((deletion.namespace, deletion.name), [])
            if launch.ts < deletion.ts
        ]
        if not before:
            continue
        deleted = max(before, key=lambda launch: launch.ts)
        if deleted.recurringjob is None or deleted.scheduled_time is None:
            continue
        key = (deleted.namespace, deleted.recurringjob, deleted.scheduled_time)
        again = [launch for launch in by_occurrence[key] if launch.ts > deletion.ts]
        if again and key not in found:
            found[key] = {
                "namespace": key[0],
                "recurringjob": key[1],
                "scheduled_time": format_time(key[2]),
                "deleted": {"job": deletion.name, "ts": deletion.ts, "client": deletion.client},
                "launched_again": [launch_detail(launch) for launch in again],
            }
    return sorted(found.values(), key=lambda detail: str(detail["scheduled_time"]))


def dark_windows(faults: Sequence[Fault], grace: float) -> list[tuple[float, float]]:
    """Merged [start, end + grace] intervals of the faults during which no replica may act."""
    spans = sorted(
        (fault.start, (fault.end if fault.end is not None else fault.start) + grace)
        for fault in faults
        if fault.kind in DARK_FAULTS and not fault.detail.startswith("not injected")
    )
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _covered(start: float, end: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(window_start <= start and end <= window_end for window_start, window_end in windows)


def excused_misses(
    unlaunched: Sequence[Occurrence],
    known: Mapping[tuple[str, str], JudgedRecurringJob],
    lives: Sequence[JobLife],
    windows: Sequence[tuple[float, float]],
    forbid_grace: float,
    launched: Mapping[Occurrence, Sequence[Launch]] | None = None,
) -> dict[Occurrence, str]:
    """The unlaunched occurrences the RecurringJob's spec allows to be missed, with why.

    Forbid: a Job of the same RecurringJob was unfinished at some moment from `forbid_grace`
    seconds before T until the occurrence was decided (the operator decides on what it has seen; a
    finish reaches it a little later). The decision is not in the audit log, but it came before the
    first launch of a later occurrence (occurrences are decided oldest first): catching up after
    an outage, an occurrence decided while an older one's Job ran is skipped, as Forbid says, even
    though nothing ran at T itself. Deadline: the whole of [T + 1 s, T + startingDeadlineSeconds]
    lay in one fault window (`dark_windows`).
    """
    lives_by_rj: dict[tuple[str, str], list[JobLife]] = defaultdict(list)
    for life in lives:
        lives_by_rj[(life.namespace, life.recurringjob or "")].append(life)
    decided_by = _decided_by(launched or {})
    excused: dict[Occurrence, str] = {}
    for occurrence in unlaunched:
        namespace, name, scheduled = occurrence
        rj = known[(namespace, name)]
        t = scheduled.timestamp()
        decided = max(t + forbid_grace, decided_by(namespace, name, t))
        if rj.concurrency_policy == "Forbid" and any(
            life.start < decided and (life.end is None or life.end > t - forbid_grace)
            for life in lives_by_rj[(namespace, name)]
        ):
            excused[occurrence] = "Forbid: a Job of it was running"
        elif rj.starting_deadline_seconds is not None:
            deadline = float(rj.starting_deadline_seconds)
            if _covered(t + min(ACT_ALLOWANCE_SECONDS, deadline), t + deadline, windows):
                excused[occurrence] = "deadline passed inside a fault window"
    return excused


def _decided_by(launched: Mapping[Occurrence, Sequence[Launch]]) -> Callable[[str, str, float], float]:
    """(namespace, RecurringJob, T) -> the first launch time of an occurrence later than T (0.0 if
    none): the latest moment occurrence T can have been decided."""
    by_rj: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for (namespace, name, scheduled), found in launched.items():
        if found:
            by_rj[(namespace, name)].append((scheduled.timestamp(), min(launch.ts for launch in found)))
    # suffix minima: the earliest launch among all occurrences from index i on
    tables: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for key, pairs in by_rj.items():
        pairs.sort()
        earliest = [0.0] * len(pairs)
        running = math.inf
        for i in range(len(pairs) - 1, -1, -1):
            running = min(running, pairs[i][1])
            earliest[i] = running
        tables[key] = ([t for t, _ in pairs], earliest)

    def decided_by(namespace: str, name: str, t: float) -> float:
        times, earliest = tables.get((namespace, name), ([], []))
        index = bisect.bisect_right(times, t)
        return earliest[index] if index < len(times) else 0.0

    return decided_by


def occurrence_detail(occurrence: Occurrence) -> dict[str, str]:
    namespace, name, scheduled = occurrence
    return {"namespace": namespace, "recurringjob": name, "scheduled_time": format_time(scheduled)}
