"""Counting cron occurrences a day at a time, so the planner's cost does not grow with the count.

The seconds, minutes and hours of a cron expression do not depend on the day, so the wall times
that match are (matching days) x T, T being the fixed set of matching times of day. A window is
counted by asking croniter for the next (or previous) match, which jumps straight to the next
matching day, and adding how many of T fall in that day's part of the window: one croniter call
per matching day in the window instead of one per occurrence (an every-second schedule: 1 instead
of 86400 a day). The caps on results become caps on work: at most `cap` calls, whatever the schedule.

Real instants are walked in constant-offset segments with the same Vixie rule as `Schedule._next`:
for fixed-time schedules, a spring-forward runs the skipped matches once at the transition instant,
and the repeated wall times of a fall-back run on the first pass only.
"""

from __future__ import annotations

import bisect
import functools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from croniter import croniter
from croniter.croniter import CroniterBadDateError

if TYPE_CHECKING:
    from recurringjob.core.cron import Schedule

_DAY = 86400
_NAIVE_EPOCH = datetime(1970, 1, 1)
# Offsets are probed a day at a time, so segments are looked at in chunks of this size: counting
# stops at the cap without probing the rest of a long window first.
_CHUNK_SECONDS = 366 * _DAY
_SEARCH_ERRORS = (CroniterBadDateError, OverflowError, ValueError)


@functools.lru_cache(maxsize=4096)
def times_of_day(has_seconds: bool, expanded: tuple[tuple[int | str, ...], ...]) -> tuple[int, ...]:
    """T: the matching seconds of the day, sorted (croniter keeps the seconds field last)."""
    minutes, hours = expanded[0], expanded[1]
    seconds = expanded[5] if has_seconds else (0,)

    def values(field: tuple[int | str, ...], high: int) -> list[int]:
        return list(range(high + 1)) if "*" in field else sorted({int(v) for v in field})

    return tuple(sorted(h * 3600 + m * 60 + s for h in values(hours, 23) for m in values(minutes, 59)
                        for s in values(seconds, 59)))


class WallCounter:
    """Matching wall times (naive epoch seconds) of one cron schedule; counts croniter calls."""

    def __init__(self, schedule: Schedule) -> None:
        self.engine: croniter = schedule._engine()
        expanded = tuple(tuple(field) for field in self.engine.expanded)
        self.times = times_of_day(schedule.has_seconds, expanded)
        self.calls = 0

    def _next_match(self, exclusive: int) -> int | None:
        self.calls += 1
        try:
            self.engine.set_current(_NAIVE_EPOCH + timedelta(seconds=exclusive), force=True)
            return (self.engine.get_next(datetime) - _NAIVE_EPOCH) // timedelta(seconds=1)
        except _SEARCH_ERRORS:
            return None

    def _prev_match(self, inclusive: int) -> int | None:
        self.calls += 1
        try:
            self.engine.set_current(_NAIVE_EPOCH + timedelta(seconds=inclusive + 1), force=True)
            return (self.engine.get_prev(datetime) - _NAIVE_EPOCH) // timedelta(seconds=1)
        except _SEARCH_ERRORS:
            return None

    def count(self, first: int, last: int, cap: int) -> int:
        """Matching walls in [first, last], counting stops once `cap` is reached."""
        found, position = 0, first
        while position <= last and found < cap:
            wall = self._next_match(position - 1)
            if wall is None or wall > last:
                break
            day = wall - wall % _DAY
            in_day = min(last, day + _DAY - 1) - day
            found += bisect.bisect_right(self.times, in_day) - bisect.bisect_left(self.times, wall - day)
            position = day + _DAY
        return found

    def nth_latest(self, last: int, first: int, n: int) -> tuple[int | None, int]:
        """Walking back from `last`: the n-th latest matching wall >= first, if there are n;
        else (the oldest one found or None, how many were found)."""
        found, position, oldest = 0, last, None
        while position >= first:
            wall = self._prev_match(position)
            if wall is None or wall < first:
                break
            day = wall - wall % _DAY
            low = bisect.bisect_left(self.times, max(first, day) - day)
            high = bisect.bisect_right(self.times, wall - day)
            if found + high - low >= n:
                return day + self.times[high - (n - found)], n
            found += high - low
            oldest = day + self.times[low]
            position = day - 1
        return oldest, found


def count_occurrences(schedule: Schedule, after: int, until: int, cap: int) -> tuple[int, int]:
    """(occurrences in (after, until] up to `cap`, croniter calls made) for a cron schedule."""
    walls = WallCounter(schedule)
    found, start = 0, after + 1
    while start <= until and found < cap:
        offset = schedule._offset(start)
        chunk_end = min(until, start + _CHUNK_SECONDS)
        change = schedule._first_change(start, chunk_end, offset)
        end = change - 1 if change is not None else chunk_end
        first_wall, extra = _segment_adjustments(schedule, walls, start, offset)
        found += extra + walls.count(first_wall, end + offset, cap - found - extra)
        start = end + 1
    return min(found, cap), walls.calls


def nth_latest_occurrence(
    schedule: Schedule, at_or_before: int, n: int, floor: int
) -> tuple[int | None, int]:
    """(the n-th latest occurrence <= at_or_before and > floor, or the oldest such if fewer than
    n, or None; croniter calls made) for a cron schedule."""
    walls = WallCounter(schedule)
    remaining, end, oldest = n, at_or_before, None
    while end > floor:
        offset = schedule._offset(end)
        chunk_start = max(floor + 1, end - _CHUNK_SECONDS)
        segment_start = schedule._segment_start(chunk_start, end, offset)
        start = segment_start if segment_start is not None else chunk_start
        first_wall, extra = _segment_adjustments(schedule, walls, start, offset)
        wall, found = walls.nth_latest(end + offset, first_wall, remaining)
        if found >= remaining:
            assert wall is not None
            return wall - offset, walls.calls
        remaining -= found
        if wall is not None:
            oldest = wall - offset
        if extra:  # the spring-forward run at `start` is the oldest of the segment
            oldest = start
            remaining -= 1
            if remaining == 0:
                return start, walls.calls
        end = start - 1
    return oldest, walls.calls


def _segment_adjustments(schedule: Schedule, walls: WallCounter, start: int, offset: int) -> tuple[int, int]:
    """For the constant-offset segment starting at instant `start`: its first countable wall
    (fixed-time: past a fall-back's second pass) and the extra run at `start` (fixed-time: the
    spring-forward transition, when skipped walls matched and the first real wall does not)."""
    first_wall = start + offset
    if not schedule.is_fixed_time:
        return first_wall, 0
    if schedule._is_second_pass(start, first_wall):
        last_repeat = first_wall + schedule._first_pass_offset(first_wall) - offset
        first_wall = _first_after_second_pass(schedule, first_wall, last_repeat, offset)
    previous = schedule._offset(start - 1)
    if previous < offset and walls.count(start + previous, start + offset - 1, 1):
        return first_wall, 0 if walls.count(start + offset, start + offset, 1) else 1
    return first_wall, 0


def _first_after_second_pass(schedule: Schedule, low: int, high: int, offset: int) -> int:
    """The first wall in (low, high] not on a second pass (given low is, and high is not)."""
    while high - low > 1:
        middle = (low + high) // 2
        if schedule._is_second_pass(middle - offset, middle):
            low = middle
        else:
            high = middle
    return high
