"""Schedules: parsing and occurrence arithmetic, with the Vixie cron rule for DST.

croniter is the cron engine, used only on the *naive local wall clock* (pure calendar
arithmetic, no time zones). This module maps wall-clock matches to real instants itself, because
that mapping is where the DST rule lives:

* A schedule is **fixed-time** when its minute and hour fields contain only numbers, names,
  ranges and lists: no `*`, `?` or `/` step (the seconds field, if any, does not matter).
  `0 2 * * *`, `30 1,13 * * MON-FRI` and `@daily` are fixed-time; `*/15 * * * *`, `0 * * * *`,
  `@hourly`, `0 */2 * * *` and every `@every` schedule are not ("wildcard" schedules).
* Wildcard schedules run by elapsed time: an instant is an occurrence iff its local wall time,
  at the offset in force at that instant, matches. Nothing runs for wall times skipped by a
  spring-forward; wall times repeated by a fall-back run on both passes.
* Fixed-time schedules: a wall time skipped by a spring-forward runs once, at the transition
  instant (several skipped matches collapse into that one run); a repeated wall time runs only
  on its first pass.

All public times are aware datetimes; results are UTC. Occurrences are whole seconds, so every
computation here is on integer epoch seconds.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterError

from recurringjob.core.cron_count import count_occurrences, nth_latest_occurrence
from recurringjob.core.timeutil import from_epoch_seconds, parse_duration, to_epoch_seconds

INVALID_SCHEDULE = "InvalidSchedule"
UNKNOWN_TIME_ZONE = "UnknownTimeZone"

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_NAMES = {
    name: number
    for number, name in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                   "NOV", "DEC"], start=1)
} | {name: number for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_RANGE = re.compile(r"^([0-9A-Za-z]+)-([0-9A-Za-z]+)(?:/\d+)?$")
_NAIVE_EPOCH = datetime(1970, 1, 1)
_DAY = 86400
# A schedule that cannot fire within this many years never fires (Feb 29 needs 4, 8 to spare).
_NEVER_FIRES_YEARS = 9
# Occurrences exist only in (1970, this instant): far enough from datetime's year-1 and year-9999
# limits that walks and zone offsets cannot overflow. Query times outside are clamped to the span,
# so a hand-edited status near 9999-12-31 (or 0001) gets an answer, not an OverflowError.
_MAX_SECONDS = to_epoch_seconds(datetime(9990, 1, 1, tzinfo=UTC))
# The longest '@every' interval. Longer is a yearly-or-rarer schedule, which cron says better (and
# exactly, by the calendar); an unbounded one overflowed datetime arithmetic in the planner.
MAX_EVERY_SECONDS = 366 * _DAY


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be used. `reason` is InvalidSchedule or UnknownTimeZone."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def load_zone(time_zone: str | None) -> ZoneInfo:
    """IANA zone by name; None or "" means UTC."""
    name = time_zone or "UTC"
    try:
        if name != name.strip() or name.lower() in ("local", "localtime"):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            UNKNOWN_TIME_ZONE,
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin, America/New_York or UTC",
        ) from None


def _naive(seconds: int) -> datetime:
    return _NAIVE_EPOCH + timedelta(seconds=seconds)


def _naive_seconds(t: datetime) -> int:
    return (t - _NAIVE_EPOCH) // timedelta(seconds=1)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule in a time zone. Build with `Schedule.parse`.

    `anchor` only matters for `@every`: its occurrences are anchor + k*interval, k >= 1.
    """

    expression: str
    time_zone: str
    zone: ZoneInfo = field(repr=False)
    cron: str | None  # croniter expression (macros expanded), None for @every
    has_seconds: bool
    every_seconds: int | None
    is_fixed_time: bool
    anchor: int = 0  # epoch seconds
    # parsed once; each query works on a shallow copy (croniter keeps its position in the object)
    prototype: croniter | None = field(default=None, repr=False, compare=False)

    # -- parsing -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, schedule: str, time_zone: str | None = None, anchor: datetime | None = None) -> Schedule:
        zone = load_zone(time_zone)
        anchor_seconds = to_epoch_seconds(anchor) if anchor is not None else 0
        text = schedule.strip() if isinstance(schedule, str) else ""
        if not text:
            raise ScheduleError(INVALID_SCHEDULE, "schedule is empty: use a cron expression, e.g. 0 * * * *")
        if text.upper().startswith(("TZ=", "CRON_TZ=")):
            raise ScheduleError(
                INVALID_SCHEDULE,
                f"schedule {schedule!r} contains a time zone: TZ= and CRON_TZ= are not supported in "
                "schedule, put the zone in spec.timeZone instead",
            )
        lowered = text.lower()
        if lowered.startswith("@every"):
            return cls(schedule, time_zone or "UTC", zone, cron=None, has_seconds=False,
                       every_seconds=_parse_every(schedule, text), is_fixed_time=False, anchor=anchor_seconds)
        if lowered.startswith("@"):
            if lowered not in MACROS:
                raise ScheduleError(
                    INVALID_SCHEDULE,
                    f"unknown macro {text!r}: use one of {', '.join(MACROS)} or '@every <duration>'",
                )
            text = MACROS[lowered]
        fields = text.split()
        if len(fields) not in (5, 6):
            raise ScheduleError(
                INVALID_SCHEDULE,
                f"schedule {schedule!r} has {len(fields)} fields: use 5 (minute hour day-of-month month "
                "day-of-week) or 6 (a leading seconds field)",
            )
        _check_fields(schedule, fields)
        has_seconds = len(fields) == 6
        minute, hour = fields[1:3] if has_seconds else fields[0:2]
        fixed = not any(c in minute + hour for c in "*?/")
        cron = " ".join(fields)
        try:
            engine = croniter(cron, _NAIVE_EPOCH, second_at_beginning=has_seconds)
        except CroniterError as exc:
            raise ScheduleError(INVALID_SCHEDULE, f"invalid schedule {schedule!r}: {exc}") from None
        _check_fires(schedule, engine)
        return cls(schedule, time_zone or "UTC", zone, cron=cron, has_seconds=has_seconds, every_seconds=None,
                   is_fixed_time=fixed, anchor=anchor_seconds, prototype=engine)

    def with_anchor(self, anchor: datetime) -> Schedule:
        return dataclasses.replace(self, anchor=to_epoch_seconds(anchor))

    # -- public queries (aware datetimes in, UTC out) -----------------------------------------

    def next_after(self, t: datetime) -> datetime:
        """The first occurrence strictly after t."""
        after = to_epoch_seconds(t)
        found = self._next(_clamp(after)) if after < _MAX_SECONDS - 1 else None
        if found is None or found >= _MAX_SECONDS:
            raise ScheduleError(INVALID_SCHEDULE, f"schedule {self.expression!r} has no occurrence after {t}")
        return from_epoch_seconds(found)

    def latest_at_or_before(self, t: datetime, after: datetime | None = None) -> datetime | None:
        """The last occurrence <= t, or None if there is none in (after, t]."""
        at_or_before = to_epoch_seconds(t)
        found = self._prev(_clamp(at_or_before)) if at_or_before >= 0 else None
        if found is None or (after is not None and found <= _clamp(to_epoch_seconds(after))):
            return None
        return from_epoch_seconds(found)

    def occurrences(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """Occurrences in (after, until], oldest first, at most `limit` of them."""
        result: list[datetime] = []
        current, end = _clamp(to_epoch_seconds(after)), _clamp(to_epoch_seconds(until))
        while len(result) < limit and current < end:
            found = self._next(current)
            if found is None or found > end:
                break
            result.append(from_epoch_seconds(found))
            current = found
        return result

    def count(self, after: datetime, until: datetime, cap: int) -> int:
        """How many occurrences lie in (after, until]; cron schedules stop counting at `cap`
        (counted a matching day at a time, see cron_count), `@every` exactly by arithmetic."""
        start, end = _clamp(to_epoch_seconds(after)), _clamp(to_epoch_seconds(until))
        if end <= start:
            return 0
        if self.every_seconds is not None:
            return max(0, self._every_index(end) - max(0, self._every_index(start)))
        return count_occurrences(self, start, end, cap)[0]

    def nth_latest_at_or_before(self, t: datetime, n: int, after: datetime) -> datetime | None:
        """Walking back from t: the n-th latest occurrence (n=1 is the latest) that is > after,
        or the oldest one > after if there are fewer than n."""
        floor = _clamp(to_epoch_seconds(after))
        current = _clamp(to_epoch_seconds(t))
        if current < floor:
            return None
        if self.every_seconds is not None:
            latest = self._every_index(current)
            oldest = max(1, self._every_index(floor) + 1, latest - n + 1)
            return from_epoch_seconds(self.anchor + oldest * self.every_seconds) if oldest <= latest else None
        found = nth_latest_occurrence(self, current, n, floor)[0]
        return from_epoch_seconds(found) if found is not None else None

    # -- @every: arithmetic ---------------------------------------------------------------------

    def _every_index(self, t: int) -> int:
        """k of the latest anchor + k*interval <= t (may be <= 0: not an occurrence)."""
        assert self.every_seconds is not None
        return (t - self.anchor) // self.every_seconds

    # -- cron: the forward and backward walks over constant-offset segments -------------------

    def _next(self, after: int) -> int | None:
        if self.every_seconds is not None:
            return self.anchor + max(1, self._every_index(after) + 1) * self.every_seconds
        assert self.cron is not None
        engine = self._engine()

        def next_wall(exclusive: int) -> int:
            engine.set_current(_naive(exclusive), force=True)
            return _naive_seconds(engine.get_next(datetime))

        segment_start, offset = after, self._offset(after)
        wall_exclusive = after + offset
        while wall_exclusive < _MAX_SECONDS:
            try:
                wall = next_wall(wall_exclusive)
            except (CroniterBadDateError, OverflowError, ValueError):
                return None
            candidate = wall - offset
            change = self._first_change(segment_start, candidate, offset)
            if change is None:
                if self.is_fixed_time and self._is_second_pass(candidate, wall):
                    wall_exclusive = wall  # the first pass already ran this wall time
                    continue
                return candidate
            new_offset = self._offset(change)
            if new_offset > offset and self.is_fixed_time:
                # spring forward: walls [change+offset, change+new_offset) do not exist
                if next_wall(change + offset - 1) < change + new_offset:
                    return change
            if new_offset < offset and self.is_fixed_time:
                # fall back: walls [change+new_offset, change+offset) repeat; skip the second pass
                wall_exclusive = change + offset - 1
            else:
                wall_exclusive = change + new_offset - 1
            segment_start, offset = change, new_offset
        return None

    def _prev(self, at_or_before: int) -> int | None:
        if self.every_seconds is not None:
            index = self._every_index(at_or_before)
            return self.anchor + index * self.every_seconds if index >= 1 else None
        assert self.cron is not None
        engine = self._engine()

        def prev_wall(inclusive: int) -> int:
            engine.set_current(_naive(inclusive + 1), force=True)
            return _naive_seconds(engine.get_prev(datetime))

        segment_end, offset = at_or_before, self._offset(at_or_before)
        wall_inclusive = at_or_before + offset
        while wall_inclusive > 0:
            try:
                wall = prev_wall(wall_inclusive)
            except (CroniterBadDateError, OverflowError, ValueError):
                return None
            candidate = wall - offset
            start = self._segment_start(candidate, segment_end, offset)
            if start is None:
                if self.is_fixed_time and self._is_second_pass(candidate, wall):
                    wall_inclusive = wall - 1
                    continue
                return candidate
            previous_offset = self._offset(start - 1)
            if offset > previous_offset and self.is_fixed_time:
                # spring forward at `start`: a skipped fixed wall time runs at the transition
                if prev_wall(start + offset - 1) >= start + previous_offset:
                    return start
            segment_end, offset = start - 1, previous_offset
            wall_inclusive = segment_end + offset
        return None

    def _engine(self) -> croniter:
        if self.prototype is None:
            assert self.cron is not None
            return croniter(self.cron, _NAIVE_EPOCH, second_at_beginning=self.has_seconds)
        return copy.copy(self.prototype)

    # -- zone helpers ---------------------------------------------------------------------------

    def _offset(self, t: int) -> int:
        utcoffset = datetime.fromtimestamp(t, self.zone).utcoffset()
        return int(utcoffset.total_seconds()) if utcoffset is not None else 0

    def _first_pass_offset(self, wall: int) -> int:
        """The offset of the first instant showing this wall time."""
        return wall - to_epoch_seconds(_naive(wall).replace(tzinfo=self.zone, fold=0))

    def _is_second_pass(self, instant: int, wall: int) -> bool:
        """True if an earlier instant shows the same wall time (fall-back repeat, second pass)."""
        first = _naive(wall).replace(tzinfo=self.zone, fold=0)
        return to_epoch_seconds(first) < instant

    def _first_change(self, start: int, end: int, offset: int) -> int | None:
        """The first instant in (start, end] whose offset differs from `offset`, or None.

        Probes once a day then bisects: assumes no zone changes offset twice within a day.
        """
        if self.time_zone == "UTC":
            return None
        low = start
        while low < end:
            high = min(low + _DAY, end)
            if self._offset(high) != offset:
                return _bisect(low, high, lambda t: self._offset(t) != offset)
            low = high
        return None

    def _segment_start(self, start: int, end: int, offset: int) -> int | None:
        """The first instant of the constant-`offset` run that ends at `end`, if it begins after
        `start`; None if the offset is `offset` on all of [start, end]."""
        if self.time_zone == "UTC":
            return None
        high = end
        while high > start:
            low = max(high - _DAY, start)
            if self._offset(low) != offset:
                return _bisect(low, high, lambda t: self._offset(t) == offset)
            high = low
        return None


PARSED_SCHEDULES_CACHED = 4096  # distinct (schedule, timeZone) pairs; a fleet shares few of them


@functools.lru_cache(maxsize=PARSED_SCHEDULES_CACHED)
def cached_schedule(schedule: str, time_zone: str | None) -> Schedule:
    """`Schedule.parse(schedule, time_zone)`, parsed once per pair: parsing (croniter, the 9-year
    never-fires check) was a third of the planner's time per launch. Sharing is safe because a
    Schedule is frozen and every query works on a copy of its croniter prototype. Invalid
    schedules raise each time (exceptions are not cached; they are rare and re-planned only on
    change)."""
    return Schedule.parse(schedule, time_zone)


def _clamp(t: int) -> int:
    """A query time within the span occurrences live in, (0, _MAX_SECONDS); a window's end
    before 1970 clamps to -1, i.e. to an empty window."""
    return min(max(t, -1), _MAX_SECONDS - 1)


def _bisect(low: int, high: int, is_after: Callable[[int], bool]) -> int:
    """Smallest t in (low, high] with is_after(t), given not is_after(low) and is_after(high)."""
    while high - low > 1:
        middle = (low + high) // 2
        if is_after(middle):
            high = middle
        else:
            low = middle
    return high


def _parse_every(schedule: str, text: str) -> int:
    duration_text = text[len("@every"):].strip()
    try:
        seconds = parse_duration(duration_text)
    except ValueError:
        raise ScheduleError(
            INVALID_SCHEDULE,
            f"invalid schedule {schedule!r}: '@every' needs a duration such as 90s, 1h30m or 2m",
        ) from None
    if seconds > MAX_EVERY_SECONDS:
        raise ScheduleError(
            INVALID_SCHEDULE,
            f"invalid schedule {schedule!r}: the '@every' interval must be at most 8784h (366 days); "
            "for rarer runs use a cron expression such as @yearly or '0 0 1 1 *'",
        )
    if seconds < 1 or seconds != int(seconds):
        raise ScheduleError(
            INVALID_SCHEDULE,
            f"invalid schedule {schedule!r}: the '@every' interval must be whole seconds, at least 1s",
        )
    return int(seconds)


def _check_fields(schedule: str, fields: list[str]) -> None:
    """Rejections croniter does not make: reversed ranges (croniter wraps them) and the
    non-deterministic R / hashed H forms."""
    for text in fields:
        for part in text.split(","):
            if part.upper() in ("R", "H") or part.upper().startswith(("H(", "H/")):
                raise ScheduleError(
                    INVALID_SCHEDULE,
                    f"invalid schedule {schedule!r}: random (R) and hashed (H) fields are not supported",
                )
            match = _RANGE.match(part)
            if match:
                first, last = (_field_number(v) for v in match.groups())
                if first is not None and last is not None and first > last:
                    raise ScheduleError(
                        INVALID_SCHEDULE,
                        f"invalid schedule {schedule!r}: range {part!r} runs backwards; write it as "
                        "two ranges or a list",
                    )


def _field_number(value: str) -> int | None:
    if value.isdigit():
        return int(value)
    return _NAMES.get(value.upper())


def _check_fires(schedule: str, engine: croniter) -> None:
    """Reject expressions that never match (Feb 31, Apr 31) by searching 9 years."""
    start = datetime(2001, 1, 1)
    try:
        engine.set_current(start, force=True)
        first = engine.get_next(datetime)
    except (CroniterBadDateError, OverflowError):
        first = None
    if first is None or first > start.replace(year=start.year + _NEVER_FIRES_YEARS):
        raise ScheduleError(
            INVALID_SCHEDULE,
            f"schedule {schedule!r} never fires (no such date, e.g. Feb 31 or Apr 31): fix the day or month",
        )
