"""A RecurringJob's occurrence stream as the command line needs it: `next` (plugin and `recurringjob
next`) and the backfill size check.

Several schedules merge into one stream (coinciding occurrences once), exclusion schedules remove the
occurrences they also have, and startTime/endTime bound it. The counting belongs to core/ (the planner
must count the same way, or the client would accept a backfill the operator refuses); this module turns
a spec, or command-line flags, into core's inputs and the results into command errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from recurringjob.cli.plugin_client import PluginError
from recurringjob.cli.plugin_format import parse_time
from recurringjob.core.cron import Schedule, ScheduleError
from recurringjob.core.timeutil import format_rfc3339

BACKFILL_LIMIT = 1000
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Stream:
    schedules: Sequence[Schedule]
    exclusions: Sequence[Schedule] = field(default_factory=tuple)
    start: datetime | None = None  # startTime: no occurrence before (inclusive bound)
    end: datetime | None = None  # endTime: none after (inclusive bound)

    def occurrences(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """Occurrences in (after, until], oldest first, at most `limit`."""
        if self.start is not None and after < self.start - _SECOND:
            after = self.start - _SECOND
        if self.end is not None and until > self.end:
            until = self.end
        found: list[datetime] = []
        cursor = after
        while len(found) < limit and cursor < until:
            # each schedule's first `limit` times hold the merged stream's first `limit`
            batch = sorted({t for s in self.schedules for t in s.occurrences(cursor, until, limit)})[:limit]
            if not batch:
                break
            found += [t for t in batch if not any(x.latest_at_or_before(t) == t for x in self.exclusions)]
            cursor = batch[-1]
        return found[:limit]


def _entries(spec: Mapping[str, Any], key: str) -> list[tuple[str, str | None]]:
    pairs = []
    for item in spec.get(key) or []:
        if isinstance(item, str):
            pairs.append((item, spec.get("timeZone") or None))
        elif isinstance(item, Mapping):
            zone = item.get("timeZone") or spec.get("timeZone") or None
            pairs.append((str(item.get("schedule") or ""), zone))
    return pairs


def stream_of(rj: Mapping[str, Any]) -> Stream:
    """The RecurringJob's stream; raises ScheduleError on a bad schedule."""
    spec = rj.get("spec") or {}
    created = (rj.get("metadata") or {}).get("creationTimestamp")
    anchor = parse_time((rj.get("status") or {}).get("scheduleFrom")) or parse_time(created)
    pairs = _entries(spec, "schedules") or [(str(spec.get("schedule") or ""), spec.get("timeZone") or None)]
    excluded = _entries(spec, "excludeSchedules")
    return Stream(schedules=[Schedule.parse(s, z, anchor=anchor) for s, z in pairs],
                  exclusions=[Schedule.parse(s, z, anchor=anchor) for s, z in excluded],
                  start=parse_time(spec.get("startTime")), end=parse_time(spec.get("endTime")))


def check_backfill_size(rj: Mapping[str, Any], start: datetime, end: datetime) -> int:
    """How many occurrences [start, end] holds; PluginError over the limit, for none, or a bad schedule."""
    name = (rj.get("metadata") or {}).get("name")
    try:
        count = len(stream_of(rj).occurrences(start - _SECOND, end, BACKFILL_LIMIT + 1))
    except ScheduleError as exc:
        raise PluginError(f"{name}: {exc.message}") from None
    span = f"{format_rfc3339(start)} .. {format_rfc3339(end)}"
    if count > BACKFILL_LIMIT:
        raise PluginError(f"backfill {span} of {name} holds more than {BACKFILL_LIMIT} occurrences "
                          "(the limit): split it into shorter ranges")
    if count == 0:
        raise PluginError(f"backfill {span} of {name} holds no occurrence of its schedule: nothing to run")
    return count
