"""Counting a matching day at a time: the same answers as walking occurrence by occurrence, at a
cost bounded by the cap (croniter calls counted, not wall time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recurringjob.core.cron import Schedule, ScheduleError
from recurringjob.core.cron_count import count_occurrences, nth_latest_occurrence
from recurringjob.core.timeutil import to_epoch_seconds


def count_by_walking(schedule: Schedule, after: datetime, until: datetime, cap: int) -> int:
    """The simple reference: one occurrence after another."""
    return len(schedule.occurrences(after, until, cap))


def nth_by_walking(schedule: Schedule, t: datetime, n: int, after: datetime) -> datetime | None:
    found, current = None, t
    for _ in range(n):
        candidate = schedule.latest_at_or_before(current, after)
        if candidate is None:
            break
        found, current = candidate, candidate - timedelta(seconds=1)
    return found


FIELD_CHOICES = [
    ["0", "*", "*/15", "0-59", "5,35", "10-12", "*/1"],  # seconds
    ["0", "*", "*/20", "30", "0,30", "0-5", "59"],  # minute
    ["*", "2", "1-3", "*/6", "0,12", "3", "23", "1", "1,2", "0-5"],  # hour (1-3: the transitions' hours)
    ["*", "*", "?", "1", "29", "1-7", "*/10", "31", "L"],  # day of month
    ["*", "*", "2", "3,10", "JAN-MAR", "11"],  # month
    ["*", "?", "MON", "1-5", "0", "SAT,SUN", "5#2"],  # day of week
]
# A few hours before transitions (2024 unless noted), where the Vixie rule applies, and ordinary times
ZONE_STARTS = [
    ("America/New_York", datetime(2024, 3, 10, 4, tzinfo=UTC)),
    ("America/New_York", datetime(2024, 11, 3, 3, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2024, 3, 30, 22, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2024, 10, 26, 22, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2024, 4, 6, 12, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2024, 10, 5, 12, tzinfo=UTC)),
    ("Pacific/Apia", datetime(2011, 12, 29, 6, tzinfo=UTC)),  # the skipped day
    ("Asia/Kolkata", datetime(2024, 6, 1, tzinfo=UTC)), ("UTC", datetime(2024, 2, 28, tzinfo=UTC)),
]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.tuples(*(st.sampled_from(choices) for choices in FIELD_CHOICES)),
    five_fields=st.booleans(),
    zone_start=st.sampled_from(ZONE_STARTS),
    offset=st.integers(-3 * 3600, 6 * 3600),
    length=st.sampled_from([1, 59, 3600, 3 * 3600, 86400, 3 * 86400, 40 * 86400, 400 * 86400]),
    cap=st.sampled_from([1, 2, 7, 101, 1000]),
)
def test_the_day_at_a_time_answers_equal_the_walk(
    fields: tuple[str, ...], five_fields: bool, zone_start: tuple[str, datetime], offset: int, length: int,
    cap: int,
) -> None:
    text = " ".join(fields[1:] if five_fields else fields)
    zone, start = zone_start
    try:
        schedule = Schedule.parse(text, zone)
    except ScheduleError:
        return
    after = start + timedelta(seconds=offset)
    until = after + timedelta(seconds=length)
    assert schedule.count(after, until, cap) == count_by_walking(schedule, after, until, cap), text
    expected = nth_by_walking(schedule, until, cap, after)
    assert schedule.nth_latest_at_or_before(until, cap, after) == expected, text


def calls_to_count(expression: str, zone: str, days: int, cap: int) -> int:
    schedule = Schedule.parse(expression, zone)
    until = datetime(2026, 3, 15, 12, tzinfo=UTC)
    after = until - timedelta(days=days)
    return count_occurrences(schedule, to_epoch_seconds(after), to_epoch_seconds(until), cap)[1]


def calls_to_nth(expression: str, zone: str, days: int, n: int) -> int:
    schedule = Schedule.parse(expression, zone)
    until = datetime(2026, 3, 15, 12, tzinfo=UTC)
    after = until - timedelta(days=days)
    return nth_latest_occurrence(schedule, to_epoch_seconds(until), n, to_epoch_seconds(after))[1]


# Walking cost one croniter call per occurrence, up to the cap (1000 for missed counts and
# maxCatchUp): every-second schedules after a gap cost 1000 calls (~0.2 s with a complex expression).
WORST_CASES = [
    ("* * * * * *", "Europe/Berlin", 30, 3),
    ("* * 3 * * *", "Europe/Berlin", 30, 3),
    ("*/1 * 3 * * *", "UTC", 400, 3),
    ("0-59 0 0 1 1 *", "America/New_York", 3650, 45),  # ~1 per matching day + ~3 per DST segment
    ("*/2 27,48,52 11,13 5-10 */2 */1", "America/New_York", 3650, 8),
    ("* 17-57 5-22 30 * 0", "Europe/Berlin", 3650, 3),
]


@pytest.mark.parametrize(("expression", "zone", "days", "most"), WORST_CASES)
def test_dense_schedules_cost_a_few_calls_not_one_per_occurrence(
    expression: str, zone: str, days: int, most: int
) -> None:
    assert calls_to_count(expression, zone, days, 1000) <= most
    assert calls_to_nth(expression, zone, days, 1000) <= most


SPARSE = ["0 0 * * *", "38 32 */10 11-27 1,11 */2", "0 0 29 2 *", "0 9 * * MON"]


@pytest.mark.parametrize("expression", SPARSE)
@pytest.mark.parametrize("cap", [1, 101, 1000])
def test_the_cap_bounds_the_calls_whatever_the_schedule(expression: str, cap: int) -> None:
    # one call per matching day up to the cap, plus at most 3 per constant-offset segment met on the
    # way (the spring-forward check, the segment's empty tail; 2 DST segments and 1 chunk a year)
    years = 40
    assert calls_to_count(expression, "Europe/Berlin", years * 365, cap) <= cap + 3 * (years + 1)
    assert calls_to_nth(expression, "Europe/Berlin", years * 365, cap) <= cap + 3 * (years + 1)
