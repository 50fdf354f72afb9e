"""What the status shows about the past and the future: `recentRuns` (the last 10 launches and
skips, with their outcome and lag), `nextScheduleTimes` (the next 10 nominal times), and
`suspendedOnFailure` (the failed Job that stopped scheduled launches). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from recurringjob.core.occurrence_lock import is_deleting
from recurringjob.core.occurrences import Occurrences
from recurringjob.core.planner_status import job_finish_time, job_result
from recurringjob.core.spec import Spec, parse_time
from recurringjob.core.timeutil import format_rfc3339

RECENT_RUNS = 10
NEXT_TIMES = 10
_FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)
_OUTCOMES = {"succeeded": "Succeeded", "failed": "Failed"}


def next_schedule_times(stream: Occurrences, cursor: datetime | None, previous: Any) -> list[str]:
    """The next NEXT_TIMES nominal occurrences from the cursor; the previous list is reused while
    it still starts at the cursor (computing it costs NEXT_TIMES schedule walks)."""
    if cursor is None:
        return []
    first = format_rfc3339(cursor)
    kept: list[str] = []
    if isinstance(previous, list) and len(previous) == NEXT_TIMES and first in previous:
        kept = [str(t) for t in previous[previous.index(first):]]  # the cursor moved along the list
    if not kept:
        kept = [first]
    last = parse_time(kept[-1])
    if last is None:
        return [first] + [format_rfc3339(t) for t in stream.occurrences(cursor, _FAR_FUTURE, NEXT_TIMES - 1)]
    return kept + [format_rfc3339(t) for t in stream.occurrences(last, _FAR_FUTURE, NEXT_TIMES - len(kept))]


def record_run(status: dict[str, Any], *, scheduled: datetime, fire: datetime | None, job_name: str | None,
               kind: str, outcome: str, now: datetime, request_id: str | None = None) -> None:
    """Append one entry to status.recentRuns (newest last, at most RECENT_RUNS)."""
    entry: dict[str, Any] = {"scheduledTime": format_rfc3339(scheduled), "kind": kind, "outcome": outcome}
    if fire is not None:
        entry["fireTime"] = format_rfc3339(fire)
        entry["lagSeconds"] = round(max(0.0, (now - fire).total_seconds()), 3)
    if job_name is not None:
        entry["jobName"] = job_name
    if request_id is not None:
        entry["requestId"] = request_id
    runs = [dict(r) for r in status.get("recentRuns") or [] if isinstance(r, Mapping)]
    status["recentRuns"] = [*runs, entry][-RECENT_RUNS:]


def book_runs(status: dict[str, Any], owned: Mapping[str, Mapping[str, Any]], active: Sequence[str]) -> None:
    """Outcomes of recent runs still shown Running: their Job finished, was deleted, or was never
    created (claimed, then given up)."""
    runs = status.get("recentRuns")
    if not isinstance(runs, list):
        return
    updated = []
    for run in runs:
        run = dict(run) if isinstance(run, Mapping) else {}
        name = run.get("jobName")
        if run.get("outcome") == "Running" and isinstance(name, str):
            job = owned.get(name)
            result = job_result(job) if job is not None else None
            if result is not None:
                run["outcome"] = _OUTCOMES[result]
            elif job is not None and is_deleting(job):
                run["outcome"] = "Stopped"
            elif job is None and name not in active:
                run["outcome"] = "Missed"
        updated.append(run)
    status["recentRuns"] = updated


def failure_suspension(status: dict[str, Any], spec: Spec, old_status: Mapping[str, Any],
                       owned: Mapping[str, Mapping[str, Any]]) -> None:
    """suspendOnFailure: a Job booked failed since the last status write suspends scheduled
    launches until spec.acknowledgedFailure names it (`kubectl recurringjob resume`)."""
    if not spec.suspend_on_failure:
        status.pop("suspendedOnFailure", None)
        return
    booked_until = parse_time(old_status.get("lastFailedTime"))
    newest: tuple[datetime, str] | None = None
    for name, job in owned.items():
        finish = job_finish_time(job) if job_result(job) == "failed" else None
        if finish is not None and (booked_until is None or finish > booked_until):
            newest = max(newest, (finish, name)) if newest else (finish, name)
    if newest is not None:
        status["suspendedOnFailure"] = {"jobName": newest[1], "failedAt": format_rfc3339(newest[0])}
    current = status.get("suspendedOnFailure")
    if isinstance(current, Mapping) and spec.acknowledged_failure == current.get("jobName"):
        status.pop("suspendedOnFailure", None)
