"""One occurrence stream from a RecurringJob's schedules: several schedules merged (an instant two
of them produce is one occurrence), minus the instants `excludeSchedules` match, within
[startTime, endTime]. Same queries as `Schedule`, except that `next_after` returns None once the
stream has ended (endTime, or exclusions that leave nothing for a long time)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from recurringjob.core.cron import Schedule, ScheduleError, cached_schedule
from recurringjob.core.spec import Spec, parse_time, read_spec
from recurringjob.core.timeutil import to_epoch_seconds

_ONE_SECOND = timedelta(seconds=1)
# An exclusion may hide many occurrences in a row (a holiday of a per-second schedule): the walk
# gives up after this many excluded instants and treats the stream as ended for now.
MAX_EXCLUDED_STEPS = 100_000
_FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)


def _resolution(schedule: Schedule) -> int:
    """The width of one instant an exclude schedule matches: a 5-field cron matches whole minutes."""
    return 60 if schedule.cron is not None and not schedule.has_seconds else 1


def _matches(schedule: Schedule, t: datetime) -> bool:
    width = _resolution(schedule)
    floor = t - timedelta(seconds=to_epoch_seconds(t) % width)
    latest = schedule.latest_at_or_before(t)
    return latest is not None and latest >= floor


@dataclass(frozen=True)
class Occurrences:
    schedules: tuple[Schedule, ...]
    excludes: tuple[Schedule, ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    @property
    def simple(self) -> bool:
        """One schedule and no exclusions: every query is the schedule's own (clamped to the window)."""
        return len(self.schedules) == 1 and not self.excludes

    def with_anchor(self, anchor: datetime) -> Occurrences:
        return dataclasses.replace(self, schedules=tuple(s.with_anchor(anchor) for s in self.schedules))

    def excluded(self, t: datetime) -> bool:
        return any(_matches(e, t) for e in self.excludes)

    def _excluded_window(self, t: datetime) -> tuple[datetime, datetime] | None:
        """The first and last second of the exclusion window covering t (a 5-field exclude covers
        its whole minute, so the walks jump over it instead of stepping through a per-second
        schedule), or None when t is not excluded."""
        widths = [_resolution(e) for e in self.excludes if _matches(e, t)]
        if not widths:
            return None
        width = max(widths)
        first = t - timedelta(seconds=to_epoch_seconds(t) % width)
        return first, first + timedelta(seconds=width - 1)

    def _in_window(self, t: datetime) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t <= self.end)

    def next_after(self, t: datetime) -> datetime | None:
        """The first occurrence strictly after t, or None when there is none (stream ended)."""
        if self.start is not None and t < self.start:
            t = self.start - _ONE_SECOND
        for _ in range(MAX_EXCLUDED_STEPS):
            candidates = []
            for schedule in self.schedules:
                try:
                    candidates.append(schedule.next_after(t))
                except ScheduleError:
                    continue  # this one has no more occurrences
            if not candidates:
                return None
            found = min(candidates)
            if self.end is not None and found > self.end:
                return None
            window = self._excluded_window(found)
            if window is None:
                return found
            t = window[1]
        return None

    def latest_at_or_before(self, t: datetime, after: datetime | None = None) -> datetime | None:
        """The last occurrence <= t, or None if there is none in (after, t]."""
        if self.end is not None and t > self.end:
            t = self.end
        floor = after
        if self.start is not None:
            floor = max(floor, self.start - _ONE_SECOND) if floor is not None else self.start - _ONE_SECOND
        for _ in range(MAX_EXCLUDED_STEPS):
            found_each = (s.latest_at_or_before(t, floor) for s in self.schedules)
            candidates = [c for c in found_each if c is not None]
            if not candidates:
                return None
            found = max(candidates)
            window = self._excluded_window(found)
            if window is None:
                return found
            t = window[0] - _ONE_SECOND
        return None

    def occurrences(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """Occurrences in (after, until], oldest first, at most `limit` of them."""
        result: list[datetime] = []
        current = after
        while len(result) < limit:
            found = self.next_after(current)
            if found is None or found > until:
                break
            result.append(found)
            current = found
        return result

    def _clamp(self, after: datetime, until: datetime) -> tuple[datetime, datetime]:
        if self.start is not None:
            after = max(after, self.start - _ONE_SECOND)
        if self.end is not None:
            until = min(until, self.end)
        return after, until

    def count(self, after: datetime, until: datetime, cap: int) -> int:
        """How many occurrences lie in (after, until], counting at most to `cap`."""
        after, until = self._clamp(after, until)
        if until <= after:
            return 0
        if self.simple:
            return self.schedules[0].count(after, until, cap)
        return len(self.occurrences(after, until, cap))

    def nth_latest_at_or_before(self, t: datetime, n: int, after: datetime) -> datetime | None:
        """Walking back from t: the n-th latest occurrence > after, or the oldest one if fewer."""
        after, t = self._clamp(after, t)
        if t <= after:
            return None
        if self.simple:
            return self.schedules[0].nth_latest_at_or_before(t, n, after)
        found = None
        for _ in range(n):
            previous = self.latest_at_or_before(t, after)
            if previous is None:
                break
            found, t = previous, previous - _ONE_SECOND
        return found

    def shortest_interval(self, after: datetime, samples: int = 100) -> float | None:
        """The shortest gap in seconds between consecutive occurrences among the next `samples`
        after `after` (None with fewer than two): what jitterSeconds must stay below. Cached: the
        planner asks on every plan of a jittered RecurringJob, with the same cursor until it moves."""
        return _shortest_interval(self, after, samples)


@functools.lru_cache(maxsize=4096)
def _shortest_interval(stream: Occurrences, after: datetime, samples: int) -> float | None:
    times = stream.occurrences(after, _FAR_FUTURE, samples)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    return min(gaps) if gaps else None


def build_stream(
    schedules: list[tuple[str, str | None]],
    excludes: list[tuple[str, str | None]] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Occurrences:
    """Parse every schedule (raises ScheduleError naming the bad one)."""
    return Occurrences(
        schedules=tuple(cached_schedule(s, z) for s, z in schedules),
        excludes=tuple(cached_schedule(s, z) for s, z in excludes or []),
        start=start,
        end=end,
    )


def spec_stream(spec: Spec) -> Occurrences:
    """The occurrence stream a spec describes, unanchored (raises ScheduleError)."""
    return build_stream(list(spec.stream_schedules), list(spec.exclude_schedules), spec.start_time,
                        spec.end_time)


def occurrence_stream(rj: Mapping[str, Any]) -> Occurrences:
    """The RecurringJob's occurrence stream, anchored where the planner anchors it (`@every`
    counts from status.scheduleFrom, else the creation time). Raises InvalidSpec / ScheduleError."""
    stream = spec_stream(read_spec(rj))
    status = rj.get("status") if isinstance(rj.get("status"), Mapping) else {}
    metadata = rj.get("metadata") if isinstance(rj.get("metadata"), Mapping) else {}
    assert isinstance(status, Mapping) and isinstance(metadata, Mapping)
    anchor = parse_time(status.get("scheduleFrom")) or parse_time(metadata.get("creationTimestamp"))
    return stream.with_anchor(anchor) if anchor is not None else stream
