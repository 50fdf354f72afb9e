"""Where a RecurringJob's occurrence stream starts counting (`status.scheduleFrom`) and the cursor
after a schedule edit; mixed into `planner._Planner`. An edit re-anchors at the moment it is observed,
so it never fires a past occurrence; a respelling of the same stream changes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from recurringjob.core.cron import ScheduleError
from recurringjob.core.cron_key import canonical_schedule_key
from recurringjob.core.occurrences import Occurrences, build_stream
from recurringjob.core.planner_status import parse_time
from recurringjob.core.spec import Spec
from recurringjob.core.timeutil import format_rfc3339

MISSED_COUNT_CAP = 1000  # cron occurrences are counted by iteration, at most this many per decision
_ONE_SECOND = timedelta(seconds=1)


def _fmt(t: datetime) -> str:
    return format_rfc3339(t)


def _observed_entries(observed: str) -> tuple[list[tuple[str, str | None]], list[tuple[str, str | None]]]:
    """The schedules and exclusions a `status.observedSchedule` string records (Spec.observed_schedule)."""
    schedules: list[tuple[str, str | None]] = []
    excludes: list[tuple[str, str | None]] = []
    for line in observed.split("\n"):
        target = excludes if line.startswith("!") else schedules
        schedule, _, zone = line.removeprefix("!").rpartition("|")
        target.append((schedule, zone or None))
    return schedules, excludes


def _same_stream(observed: Any, spec: Spec) -> bool:
    """True when the recorded schedules and the spec's are spellings of one occurrence stream
    (whitespace, `*/10` vs `0/10`, `UTC` vs `Etc/UTC`, ...): such an edit must change nothing."""
    if not isinstance(observed, str) or not observed:
        return False
    old_schedules, old_excludes = _observed_entries(observed)

    def keys(entries: Sequence[tuple[str, str | None]]) -> list[str]:
        return sorted(canonical_schedule_key(s, z) for s, z in entries)

    old = (keys(old_schedules), keys(old_excludes))
    return old == (keys(spec.stream_schedules), keys(spec.exclude_schedules))


class AnchorSteps:
    # set by _Planner.__init__
    metadata: Mapping[str, Any]
    now_s: datetime
    status: dict[str, Any]

    def _count_missed(self, count: int) -> None:  # provided by _Planner
        raise NotImplementedError


    def _anchor(self, spec: Spec, schedule: Occurrences) -> tuple[Occurrences, datetime | None, bool]:
        """The schedule anchored at status.scheduleFrom and the cursor. First sight anchors at
        creation; a schedule/timeZone edit anchors at now, so an edit never fires a past time."""
        created = parse_time(self.metadata.get("creationTimestamp")) or self.now_s
        last_scheduled = parse_time(self.status.get("lastScheduleTime"))
        observed = self.status.get("observedSchedule")
        if observed != spec.observed_schedule and _same_stream(observed, spec):
            self.status["observedSchedule"] = spec.observed_schedule  # a respelling changes nothing
        elif observed != spec.observed_schedule:
            edited = observed is not None
            if edited:
                self._count_abandoned(observed)
            anchor = self.now_s if edited else created
            self.status["scheduleFrom"] = _fmt(anchor)
            self.status["observedSchedule"] = spec.observed_schedule
            schedule = schedule.with_anchor(anchor)
            start = max(anchor, last_scheduled) if last_scheduled and not edited else anchor
            return schedule, schedule.next_after(start), edited
        anchor = parse_time(self.status.get("scheduleFrom")) or created
        schedule = schedule.with_anchor(anchor)
        cursor = parse_time(self.status.get("nextScheduleTime"))
        if cursor is None or cursor <= anchor:
            start = max(anchor, last_scheduled) if last_scheduled else anchor
            cursor = schedule.next_after(start)
        return schedule, cursor, False

    def _count_abandoned(self, observed: Any) -> None:
        """An edit re-anchors at now: occurrences of the old schedule that were due and not yet
        decided are given up — counted as missed, not silently dropped."""
        cursor = parse_time(self.status.get("nextScheduleTime"))
        anchor = parse_time(self.status.get("scheduleFrom"))
        if cursor is None or cursor > self.now_s or not isinstance(observed, str) or not observed:
            return
        try:
            old = build_stream(*_observed_entries(observed))
        except ScheduleError:
            return
        old = old.with_anchor(anchor) if anchor is not None else old
        self._count_missed(old.count(cursor - _ONE_SECOND, self.now_s, MISSED_COUNT_CAP))
