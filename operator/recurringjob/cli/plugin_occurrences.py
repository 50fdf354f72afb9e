"""A RecurringJob's occurrence stream as the CLI needs it: the backfill size check and upcoming times.

The counting itself belongs to core/ (the planner must count the same way, or the client would
accept a backfill the operator refuses); this module only turns the spec into core's inputs and the
results into command errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from recurringjob.cli.plugin_client import PluginError
from recurringjob.cli.plugin_format import parse_time
from recurringjob.core.cron import Schedule, ScheduleError
from recurringjob.core.timeutil import format_rfc3339

BACKFILL_LIMIT = 1000


def _entries(spec: Mapping[str, Any], key: str) -> list[tuple[str, str | None]]:
    pairs = []
    for item in spec.get(key) or []:
        if isinstance(item, str):
            pairs.append((item, spec.get("timeZone") or None))
        elif isinstance(item, Mapping):
            pairs.append((str(item.get("schedule") or ""), item.get("timeZone") or None))
    return pairs


def schedules_of(rj: Mapping[str, Any]) -> tuple[list[Schedule], list[Schedule]]:
    """(schedules, exclusions); raises ScheduleError on a bad one."""
    spec = rj.get("spec") or {}
    status = rj.get("status") or {}
    created = (rj.get("metadata") or {}).get("creationTimestamp")
    anchor = parse_time(status.get("scheduleFrom")) or parse_time(created)
    pairs = _entries(spec, "schedules") or [(str(spec.get("schedule") or ""), spec.get("timeZone") or None)]
    included = [Schedule.parse(s, z, anchor=anchor) for s, z in pairs]
    excluded = [Schedule.parse(s, z, anchor=anchor) for s, z in _entries(spec, "excludeSchedules")]
    return included, excluded


def occurrences(rj: Mapping[str, Any], after: datetime, until: datetime, limit: int) -> list[datetime]:
    """Occurrences in (after, until] of every schedule, coinciding ones once, none that an exclusion
    schedule also has, none outside [startTime, endTime]; oldest first, at most `limit`."""
    spec = rj.get("spec") or {}
    included, excluded = schedules_of(rj)
    window_start, window_end = parse_time(spec.get("startTime")), parse_time(spec.get("endTime"))
    if window_start is not None and after < window_start - timedelta(seconds=1):
        after = window_start - timedelta(seconds=1)
    if window_end is not None and until > window_end:
        until = window_end
    found: list[datetime] = []
    cursor = after
    while len(found) < limit and cursor < until:
        batch = sorted({t for s in included for t in s.occurrences(cursor, until, limit)})[:limit]
        if not batch:
            break
        for t in batch:
            if not any(x.latest_at_or_before(t) == t for x in excluded):
                found.append(t)
        cursor = batch[-1]
    return found[:limit]


def check_backfill_size(rj: Mapping[str, Any], start: datetime, end: datetime) -> int:
    """How many occurrences [start, end] holds; PluginError over the limit or on a bad schedule."""
    name = (rj.get("metadata") or {}).get("name")
    try:
        count = len(occurrences(rj, start - timedelta(seconds=1), end, BACKFILL_LIMIT + 1))
    except ScheduleError as exc:
        raise PluginError(f"{name}: {exc.message}") from None
    if count > BACKFILL_LIMIT:
        raise PluginError(
            f"backfill {format_rfc3339(start)} .. {format_rfc3339(end)} of {name} holds more than "
            f"{BACKFILL_LIMIT} occurrences (the limit): split it into shorter ranges")
    if count == 0:
        raise PluginError(f"backfill {format_rfc3339(start)} .. {format_rfc3339(end)} of {name} holds no "
                          "occurrence of its schedule: nothing to run")
    return count
