"""Formatting shared by the `kubectl recurringjob` verbs: times, durations, tables, Job outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Row = Sequence[str]


def parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """kubectl-style: 45s, 5m10s, 3h20m, 2d4h."""
    s = int(abs(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60}s" if s % 60 and s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60}m" if (s % 3600) // 60 else f"{s // 3600}h"
    return f"{s // 86400}d{(s % 86400) // 3600}h" if (s % 86400) // 3600 else f"{s // 86400}d"


def age(t: datetime | None, now: datetime) -> str:
    return human_duration((now - t).total_seconds()) if t else "<none>"


def local_time(t: datetime | None, now: datetime) -> str:
    """Local wall time plus a relative hint: '2025-03-01 14:00:00 CET (in 5m)'."""
    if t is None:
        return "<none>"
    local = t.astimezone()
    delta = (t - now).total_seconds()
    rel = f"in {human_duration(delta)}" if delta >= 0 else f"{human_duration(delta)} ago"
    return f"{local:%Y-%m-%d %H:%M:%S %Z} ({rel})"


def table(header: Row, rows: Sequence[Row]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)


def next_fire(rj: Mapping[str, Any], now: datetime) -> datetime | None:
    """The cursor if the operator wrote one, else the stream's next occurrence after now."""
    cursor = parse_time((rj.get("status") or {}).get("nextScheduleTime"))
    if cursor is not None:
        return cursor
    from recurringjob.core.occurrences import occurrence_stream  # cron: imported only when needed

    try:
        upcoming = occurrence_stream(rj).occurrences(now, datetime.max.replace(tzinfo=UTC), 1)
    except ValueError:
        return None
    return upcoming[0] if upcoming else None


def job_outcome(job: Mapping[str, Any]) -> tuple[str, datetime | None]:
    """(Succeeded | Failed | Running | Pending, finish time) from a Job's status."""
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "Succeeded", parse_time(status.get("completionTime") or cond.get("lastTransitionTime"))
        if cond.get("type") in ("Failed", "FailureTarget"):
            return "Failed", parse_time(cond.get("lastTransitionTime"))
    if status.get("active") or status.get("startTime"):
        return "Running", None
    return "Pending", None


def scheduled_time_of(job: Mapping[str, Any], rj_name: str) -> datetime | None:
    from recurringjob.core.jobs import SCHEDULED_TIME_ANNOTATION, scheduled_time_from_name

    meta = job.get("metadata") or {}
    annotated = parse_time((meta.get("annotations") or {}).get(SCHEDULED_TIME_ANNOTATION))
    return annotated or scheduled_time_from_name(rj_name, str(meta.get("name", "")))


def with_fire_times(rj: Mapping[str, Any], nominals: Sequence[datetime]) -> list[tuple[datetime, datetime]]:
    """(nominal, fire time) for the RecurringJob's upcoming nominal times: with jitterSeconds the
    operator fires each at core.jitter.fire_time (uid and nominal time decide it, bounded by the next
    occurrence), so the client computes the same instants."""
    from recurringjob.core.jitter import fire_time
    from recurringjob.core.occurrences import occurrence_stream

    spec, uid = rj.get("spec") or {}, (rj.get("metadata") or {}).get("uid")
    jitter = spec.get("jitterSeconds")
    if not isinstance(jitter, int) or jitter <= 0 or not uid or not nominals:
        return [(t, t) for t in nominals]
    try:
        after_last = occurrence_stream(rj).occurrences(nominals[-1], datetime.max.replace(tzinfo=UTC), 1)
    except ValueError:
        after_last = []
    following: list[datetime | None] = [*nominals[1:], after_last[0] if after_last else None]
    return [(t, fire_time(str(uid), t, nxt, jitter)) for t, nxt in zip(nominals, following, strict=True)]
