"""Schedule parsing and occurrence arithmetic, including the Vixie DST rule."""

import dataclasses
import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recurringjob.core.cron import Schedule, ScheduleError, cached_schedule
from recurringjob.core.cron_key import canonical_schedule_key


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def upcoming(schedule: Schedule, start: str, n: int) -> list[str]:
    t, result = utc(start), []
    for _ in range(n):
        t = schedule.next_after(t)
        result.append(t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return result


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        ("0 * * * *", "2024-01-01T00:00:00Z", ["2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"]),
        ("@hourly", "2024-01-01T00:30:00Z", ["2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"]),
        ("0 9 * * MON-FRI", "2024-01-05T10:00:00Z", ["2024-01-08T09:00:00Z", "2024-01-09T09:00:00Z"]),
        ("0 9 ? * mon-fri", "2024-01-05T10:00:00Z", ["2024-01-08T09:00:00Z", "2024-01-09T09:00:00Z"]),
        ("@weekly", "2024-01-01T00:00:00Z", ["2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"]),
        ("@daily", "2024-01-01T00:00:00Z", ["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"]),
        ("@midnight", "2024-01-01T00:00:00Z", ["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"]),
        ("@monthly", "2024-01-15T00:00:00Z", ["2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"]),
        ("@yearly", "2024-01-15T00:00:00Z", ["2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"]),
        ("@annually", "2024-01-15T00:00:00Z", ["2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"]),
        ("0 0 1 JAN,jul *", "2024-01-15T00:00:00Z", ["2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"]),
        ("0 0 29 2 *", "2024-03-01T00:00:00Z", ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
        ("*/10 * * * * *", "2024-01-01T00:00:05Z", ["2024-01-01T00:00:10Z", "2024-01-01T00:00:20Z"]),
        ("30 0 12 * * *", "2024-01-01T00:00:00Z", ["2024-01-01T12:00:30Z", "2024-01-02T12:00:30Z"]),
        ("0 0 * * 7", "2024-01-01T00:00:00Z", ["2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"]),
    ],
)
def test_next_after(expression: str, start: str, expected: list[str]) -> None:
    assert upcoming(Schedule.parse(expression, None), start, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "zone", "reason", "fragment"),
    [
        ("", None, "InvalidSchedule", "empty"),
        ("   ", None, "InvalidSchedule", "empty"),
        ("* * * *", None, "InvalidSchedule", "4 fields"),
        ("* * * * * * *", None, "InvalidSchedule", "7 fields"),
        ("61 * * * *", None, "InvalidSchedule", "out of range"),
        ("0 24 * * *", None, "InvalidSchedule", "out of range"),
        ("0 0 0 * *", None, "InvalidSchedule", "out of range"),
        ("0 0 * 13 *", None, "InvalidSchedule", "out of range"),
        ("60 * * * * *", None, "InvalidSchedule", "out of range"),
        ("*/0 * * * *", None, "InvalidSchedule", "step"),
        ("0 0 31 2 *", None, "InvalidSchedule", "never fires"),
        ("0 0 30 2 *", None, "InvalidSchedule", "never fires"),
        ("0 0 31 4 *", None, "InvalidSchedule", "never fires"),
        ("0 0 31 2,4,6,9,11 *", None, "InvalidSchedule", "never fires"),
        ("TZ=Europe/Berlin 0 * * * *", None, "InvalidSchedule", "spec.timeZone"),
        ("CRON_TZ=UTC 0 * * * *", None, "InvalidSchedule", "spec.timeZone"),
        ("0 0 * * FRI-MON", None, "InvalidSchedule", "backwards"),
        ("5-1 * * * *", None, "InvalidSchedule", "backwards"),
        ("R * * * *", None, "InvalidSchedule", "random"),
        ("H * * * *", None, "InvalidSchedule", "hashed"),
        ("@reboot", None, "InvalidSchedule", "unknown macro"),
        ("@every", None, "InvalidSchedule", "duration"),
        ("@every 10", None, "InvalidSchedule", "duration"),
        ("@every 0s", None, "InvalidSchedule", "at least 1s"),
        ("@every 1500ms", None, "InvalidSchedule", "whole seconds"),
        ("@every 999999999h", None, "InvalidSchedule", "at most 8784h"),
        ("@every 8785h", None, "InvalidSchedule", "at most 8784h"),
        ("@every 527041m", None, "InvalidSchedule", "at most 8784h"),
        ("@every " + "9" * 400 + "h", None, "InvalidSchedule", "at most 8784h"),  # a float infinity
        ("banana", None, "InvalidSchedule", "1 fields"),
        ("0 * * * *", "Mars/Olympus", "UnknownTimeZone", "IANA"),
        ("0 * * * *", "Local", "UnknownTimeZone", "IANA"),
        ("0 * * * *", "../etc/passwd", "UnknownTimeZone", "IANA"),
        ("0 * * * *", " UTC", "UnknownTimeZone", "IANA"),
    ],
)
def test_parse_rejects(expression: str, zone: str | None, reason: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        Schedule.parse(expression, zone)
    assert caught.value.reason == reason
    assert fragment in caught.value.message


def test_the_longest_every_interval_is_366_days() -> None:
    assert Schedule.parse("@every 8784h", None).every_seconds == 366 * 86400


ZONES_FOR_EDGES = ["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/Los_Angeles"]
EDGE_SCHEDULES = ["* * * * * *", "0 0 29 2 *", "0 0 0 29 2 *", "59 59 23 31 12 *", "0 0 1 1 *", "0 0 13 * 5",
                  "@every 1s", "@every 8784h"]
EDGE_TIMES = [datetime(1, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, tzinfo=UTC),
              datetime(1970, 1, 1, tzinfo=UTC), datetime(9989, 12, 31, tzinfo=UTC),
              datetime(9990, 6, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]


@pytest.mark.parametrize("zone", ZONES_FOR_EDGES)
@pytest.mark.parametrize("expression", EDGE_SCHEDULES)
def test_queries_at_the_ends_of_time_answer_or_raise_schedule_error(expression: str, zone: str) -> None:
    # Kubernetes times reach 9999-12-31 and a status can be edited by hand: no query may overflow.
    schedule = Schedule.parse(expression, zone, anchor=datetime(2024, 1, 1, tzinfo=UTC))
    for t in EDGE_TIMES:
        earlier = t - timedelta(days=400) if t.year > 1 else t
        try:
            following = schedule.next_after(t)
        except ScheduleError as exc:
            assert exc.reason == "InvalidSchedule" and "no occurrence after" in exc.message
        else:
            assert following > t
        latest = schedule.latest_at_or_before(t)
        assert latest is None or latest <= t
        assert schedule.count(earlier, t, 1000) >= 0
        nth = schedule.nth_latest_at_or_before(t, 5, earlier)
        assert nth is None or earlier < nth <= t
        assert all(earlier < o <= t for o in schedule.occurrences(earlier, t, 3))


def test_default_zone_is_utc_and_empty_zone_means_utc() -> None:
    assert Schedule.parse("0 * * * *", None).time_zone == "UTC"
    assert Schedule.parse("0 * * * *", "").time_zone == "UTC"


@pytest.mark.parametrize(
    ("expression", "fixed"),
    [
        ("0 2 * * *", True),
        ("30 1,13 * * MON-FRI", True),
        ("0-30 2-3 * * *", True),
        ("@daily", True),
        ("@weekly", True),
        ("*/10 0 2 * * *", True),  # the seconds field does not matter
        ("*/15 * * * *", False),
        ("0 * * * *", False),
        ("@hourly", False),
        ("0 */2 * * *", False),
        ("*/5 2 * * *", False),
        ("0 0-23/2 * * *", False),
        ("@every 1h", False),
    ],
)
def test_is_fixed_time(expression: str, fixed: bool) -> None:
    assert Schedule.parse(expression, "Europe/Berlin").is_fixed_time is fixed


# -- DST: the Vixie cron rule ------------------------------------------------------------------
# New York: 2024-03-10 02:00 EST -> 03:00 EDT (07:00Z); 2024-11-03 02:00 EDT -> 01:00 EST (06:00Z).
# Berlin:   2024-03-31 02:00 CET -> 03:00 CEST (01:00Z); 2024-10-27 03:00 CEST -> 02:00 CET (01:00Z).

DST_CASES = [
    # fixed time inside the spring-forward gap: runs once, at the transition instant
    ("30 2 * * *", "America/New_York", "2024-03-09T12:00:00Z",
     ["2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"]),
    ("0,30 2 * * *", "America/New_York", "2024-03-09T12:00:00Z",
     ["2024-03-10T07:00:00Z", "2024-03-11T06:00:00Z", "2024-03-11T06:30:00Z"]),
    ("0 2,3 * * *", "America/New_York", "2024-03-09T12:00:00Z",  # 02:00 (gap) and 03:00 coincide: once
     ["2024-03-10T07:00:00Z", "2024-03-11T06:00:00Z", "2024-03-11T07:00:00Z"]),
    ("30 2 * * *", "Europe/Berlin", "2024-03-30T12:00:00Z",
     ["2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z"]),
    # fixed time in the repeated hour of fall-back: the first pass only
    ("30 1 * * *", "America/New_York", "2024-11-02T12:00:00Z",
     ["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"]),
    ("30 2 * * *", "Europe/Berlin", "2024-10-26T12:00:00Z",
     ["2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"]),
    # fixed times either side of the transitions keep their wall-clock time
    ("0 9 * * *", "America/New_York", "2024-03-09T12:00:00Z",
     ["2024-03-09T14:00:00Z", "2024-03-10T13:00:00Z"]),
    ("0 9 * * *", "Europe/Berlin", "2024-10-26T12:00:00Z",
     ["2024-10-27T08:00:00Z", "2024-10-28T08:00:00Z"]),
    # wildcard hour: by elapsed time, nothing extra in the gap, both passes of the repeated hour
    ("*/30 * * * *", "America/New_York", "2024-03-10T06:00:00Z",
     ["2024-03-10T06:30:00Z", "2024-03-10T07:00:00Z", "2024-03-10T07:30:00Z"]),
    ("*/30 * * * *", "America/New_York", "2024-11-03T04:50:00Z",
     ["2024-11-03T05:00:00Z", "2024-11-03T05:30:00Z", "2024-11-03T06:00:00Z", "2024-11-03T06:30:00Z",
      "2024-11-03T07:00:00Z"]),
    ("0 * * * *", "America/New_York", "2024-11-03T04:30:00Z",
     ["2024-11-03T05:00:00Z", "2024-11-03T06:00:00Z", "2024-11-03T07:00:00Z"]),
    ("0 * * * *", "Europe/Berlin", "2024-03-30T23:30:00Z",
     ["2024-03-31T00:00:00Z", "2024-03-31T01:00:00Z", "2024-03-31T02:00:00Z"]),
    ("*/15 * * * *", "Europe/Berlin", "2024-10-27T00:40:00Z",
     ["2024-10-27T00:45:00Z", "2024-10-27T01:00:00Z", "2024-10-27T01:15:00Z"]),
    # wildcard minute with a fixed hour also runs by elapsed time: both passes of 02:xx in Berlin
    ("*/30 2 * * *", "Europe/Berlin", "2024-10-26T12:00:00Z",
     ["2024-10-27T00:00:00Z", "2024-10-27T00:30:00Z", "2024-10-27T01:00:00Z", "2024-10-27T01:30:00Z",
      "2024-10-28T01:00:00Z"]),
    ("*/30 2 * * *", "Europe/Berlin", "2024-03-30T12:00:00Z",  # skipped entirely on the gap day
     ["2024-04-01T00:00:00Z", "2024-04-01T00:30:00Z"]),
    # six fields in the repeated hour
    ("0 30 1 * * *", "America/New_York", "2024-11-03T05:00:00Z",
     ["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"]),
]


@pytest.mark.parametrize(("expression", "zone", "start", "expected"), DST_CASES)
def test_dst_vixie_rule(expression: str, zone: str, start: str, expected: list[str]) -> None:
    schedule = Schedule.parse(expression, zone)
    assert upcoming(schedule, start, len(expected)) == expected


@pytest.mark.parametrize(("expression", "zone", "start", "expected"), DST_CASES)
def test_backward_walk_agrees_with_forward_walk(
    expression: str, zone: str, start: str, expected: list[str]
) -> None:
    schedule = Schedule.parse(expression, zone)
    forward = [utc(t) for t in expected]
    backward = [schedule.latest_at_or_before(t) for t in forward]
    assert backward == forward
    for earlier, later in itertools.pairwise(forward):
        assert schedule.latest_at_or_before(later - timedelta(seconds=1)) == earlier


def test_next_after_starting_inside_the_second_pass() -> None:
    fixed = Schedule.parse("30 1 * * *", "America/New_York")
    # 06:10Z is 01:10 EST, the second pass: 01:30 already ran at 05:30Z, next is tomorrow
    assert fixed.next_after(utc("2024-11-03T06:10:00Z")) == utc("2024-11-04T06:30:00Z")
    wildcard = Schedule.parse("30 * * * *", "America/New_York")
    assert wildcard.next_after(utc("2024-11-03T06:10:00Z")) == utc("2024-11-03T06:30:00Z")


# -- @every: anchored elapsed time -------------------------------------------------------------


def test_every_is_anchored() -> None:
    schedule = Schedule.parse("@every 90s", "Europe/Berlin", anchor=utc("2024-01-01T00:00:10Z"))
    assert upcoming(schedule, "2024-01-01T00:00:00Z", 3) == [
        "2024-01-01T00:01:40Z", "2024-01-01T00:03:10Z", "2024-01-01T00:04:40Z"]
    assert schedule.next_after(utc("2024-01-01T00:01:40Z")) == utc("2024-01-01T00:03:10Z")
    assert schedule.latest_at_or_before(utc("2024-01-01T00:01:39Z")) is None  # the anchor never runs
    assert schedule.latest_at_or_before(utc("2024-01-01T00:03:10Z")) == utc("2024-01-01T00:03:10Z")
    assert Schedule.parse("@every 1h30m", None).every_seconds == 5400


def test_every_ignores_dst() -> None:
    schedule = Schedule.parse("@every 1h", "America/New_York", anchor=utc("2024-11-03T04:00:00Z"))
    assert upcoming(schedule, "2024-11-03T04:00:00Z", 3) == [
        "2024-11-03T05:00:00Z", "2024-11-03T06:00:00Z", "2024-11-03T07:00:00Z"]


# -- windows and counting ----------------------------------------------------------------------


def test_occurrences_window_is_half_open() -> None:
    schedule = Schedule.parse("0 * * * *", None)
    found = schedule.occurrences(utc("2024-01-01T00:00:00Z"), utc("2024-01-01T03:00:00Z"), 10)
    assert found == [utc("2024-01-01T01:00:00Z"), utc("2024-01-01T02:00:00Z"), utc("2024-01-01T03:00:00Z")]
    assert len(schedule.occurrences(utc("2024-01-01T00:00:00Z"), utc("2024-01-02T00:00:00Z"), 5)) == 5


def test_counting_is_fast_and_capped() -> None:
    started = time.perf_counter()
    every = Schedule.parse("@every 1s", None, anchor=utc("2024-01-01T00:00:00Z"))
    assert every.count(utc("2024-01-01T00:00:00Z"), utc("2024-01-29T00:00:00Z"), 100) == 28 * 86400
    seconds = Schedule.parse("* * * * * *", "Europe/Berlin")
    assert seconds.count(utc("2024-01-01T00:00:00Z"), utc("2024-01-29T00:00:00Z"), 150) == 150
    assert seconds.latest_at_or_before(utc("2024-01-29T00:00:00.5Z")) == utc("2024-01-29T00:00:00Z")
    yearly = Schedule.parse("0 0 29 2 *", "Europe/Berlin")
    assert yearly.next_after(utc("2024-03-01T00:00:00Z")) == utc("2028-02-28T23:00:00Z")
    assert time.perf_counter() - started < 2


def test_nth_latest() -> None:
    schedule = Schedule.parse("0 * * * *", None)
    now, after = utc("2024-01-01T10:30:00Z"), utc("2024-01-01T00:00:00Z")
    assert schedule.nth_latest_at_or_before(now, 1, after) == utc("2024-01-01T10:00:00Z")
    assert schedule.nth_latest_at_or_before(now, 3, after) == utc("2024-01-01T08:00:00Z")
    assert schedule.nth_latest_at_or_before(now, 100, after) == utc("2024-01-01T01:00:00Z")
    every = Schedule.parse("@every 1h", None, anchor=after)
    assert every.nth_latest_at_or_before(now, 3, after) == utc("2024-01-01T08:00:00Z")
    assert every.nth_latest_at_or_before(now, 100, after) == utc("2024-01-01T01:00:00Z")
    assert every.nth_latest_at_or_before(now, 3, now) is None


def test_cached_schedule_parses_each_schedule_and_zone_once() -> None:
    first = cached_schedule("15 * * * * *", "Europe/Berlin")
    assert cached_schedule("15 * * * * *", "Europe/Berlin") is first
    other_zone = cached_schedule("15 * * * * *", "America/New_York")
    assert other_zone is not first and other_zone.time_zone == "America/New_York"
    assert cached_schedule("15 * * * * *", None) is not first
    assert cached_schedule("16 * * * * *", "Europe/Berlin") is not first
    assert first == Schedule.parse("15 * * * * *", "Europe/Berlin")


def test_a_shared_schedule_is_immutable_and_queries_do_not_move_it() -> None:
    shared = cached_schedule("*/10 * * * * *", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        shared.anchor = 5  # type: ignore[misc]
    start = datetime(2030, 1, 1, tzinfo=UTC)
    assert shared.next_after(start) == start + timedelta(seconds=10)
    assert shared.latest_at_or_before(start + timedelta(hours=5)) == start + timedelta(hours=5)
    # the croniter inside kept no position from the queries above
    assert shared.next_after(start) == start + timedelta(seconds=10)
    anchored = shared.with_anchor(start)
    assert anchored is not shared and shared.anchor == 0


def test_invalid_schedules_still_raise_through_the_cache() -> None:
    for _ in range(2):
        with pytest.raises(ScheduleError):
            cached_schedule("61 * * * *", None)


# -- canonical schedule key ----------------------------------------------------------------------

SAME_STREAM: list[list[tuple[str, str | None]]] = [
    [("*/10 * * * *", None), ("0/10 * * * *", "UTC"), ("0,10,20,30,40,50 * * * *", ""),
     ("0-59/10 * * * *", "Etc/UTC"), ("  */10  *\t* * * ", "Zulu"), ("0 */10 * * * *", "Universal"),
     ("*/10 * ? * ?", "Etc/UCT"), ("*/10 0-23 * 1-12 *", "GMT")],
    [("@daily", "Europe/Berlin"), ("@midnight", "Europe/Berlin"), ("0 0 * * *", "Europe/Berlin"),
     ("0 0 0 * * *", "Europe/Berlin"), ("0 0 ? * *", "Europe/Berlin")],
    [("@hourly", None), ("0 * * * *", None), ("0 0 * * * *", "UTC")],
    [("@weekly", "America/New_York"), ("0 0 * * 0", "America/New_York"), ("0 0 * * SUN", "America/New_York"),
     ("0 0 * * sun", "America/New_York"), ("0 0 * * 7", "America/New_York")],
    [("0 9 * JAN-MAR mon-fri", None), ("0 9 * 1-3 1-5", None),
     ("0 9 ? jan,feb,mar MON,TUE,WED,THU,FRI", None)],
    [("@every 90m", None), ("@every 1h30m", "Europe/Berlin"), ("@every 5400s", "UTC")],
    [("0 0 L * *", None), ("0  0 l * *", "UTC")],
]


@pytest.mark.parametrize("spellings", SAME_STREAM, ids=[group[0][0] for group in SAME_STREAM])
def test_spellings_of_one_stream_share_a_key(spellings: list[tuple[str, str | None]]) -> None:
    keys = {canonical_schedule_key(schedule, zone) for schedule, zone in spellings}
    assert len(keys) == 1, keys


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("*/10 2 * * *", "Europe/Berlin"), ("0,10,20,30,40,50 2 * * *", "Europe/Berlin")),  # DST class
        (("0 0 * * *", "UTC"), ("0 0 * * *", "Europe/London")),
        (("0 0 1 * *", None), ("0 0 1-31 * 1", None)),  # a restricted day of month ORs with the weekday
        (("0 0 1 * *", None), ("0 0 1 * 0-6", None)),
        (("@every 1h", None), ("0 * * * *", None)),
        (("61 * * * *", None), ("62 * * * *", None)),
        (("0 * * * *", "Mars/Olympus"), ("0 * * * *", "UTC")),
    ],
)
def test_different_streams_get_different_keys(
    first: tuple[str, str | None], second: tuple[str, str | None]
) -> None:
    assert canonical_schedule_key(*first) != canonical_schedule_key(*second)


KEY_FIELDS = [
    ["0", "30", "*/30", "0,30", "0-59/30", "*", "0-59", "0-30"],  # seconds
    ["0", "*/30", "0,30", "0-59/30", "*", "0-59", "15"],  # minute
    ["*", "0-23", "2", "*/12", "0,12", "2-3", "1"],  # hour
    ["*", "?", "1", "1-31", "*/15", "1,16,31", "29"],  # day of month
    ["*", "1-12", "JAN", "1", "jan-dec", "2,3"],  # month
    ["*", "?", "0-6", "MON", "1", "7", "0", "SUN", "1-5", "mon-fri"],  # day of week
]
KEY_ZONE_PAIRS = [(None, "Etc/UTC"), ("", "Zulu"), ("UTC", None), ("Europe/Berlin", "Europe/Berlin"),
                  ("America/New_York", "America/New_York"), ("Europe/Berlin", "America/New_York"),
                  ("Europe/Berlin", "UTC")]


# Transitions in Berlin and New York (2024), where the fixed-time / wildcard distinction shows
KEY_STARTS = [datetime(2024, m, d, tzinfo=UTC) for m, d in ((3, 9), (3, 30), (10, 26), (11, 2), (6, 1))]


@settings(max_examples=400, deadline=None)
@given(
    first=st.tuples(*(st.sampled_from(choices) for choices in KEY_FIELDS)),
    changed=st.sampled_from([1, 1, 1, 0, 2, 3, 4, 5]),  # the minute most: its spelling sets the DST class
    replacement=st.integers(0, 100),
    zones=st.sampled_from(KEY_ZONE_PAIRS),
    five_fields=st.booleans(),
    start=st.sampled_from(KEY_STARTS),
    offset=st.integers(0, 2 * 86400),
)
def test_equal_keys_mean_equal_occurrences(
    first: tuple[str, ...], changed: int, replacement: int, zones: tuple[str | None, str | None],
    five_fields: bool, start: datetime, offset: int,
) -> None:
    # the second schedule differs from the first in one field: equal keys from different texts are common
    second = list(first)
    second[changed] = KEY_FIELDS[changed][replacement % len(KEY_FIELDS[changed])]
    texts = [" ".join(fields[1:] if five_fields else fields) for fields in (first, second)]
    schedules: list[Schedule] = []
    for text, zone in zip(texts, zones, strict=True):
        try:
            schedules.append(Schedule.parse(text, zone))
        except ScheduleError:
            return
    if canonical_schedule_key(texts[0], zones[0]) != canonical_schedule_key(texts[1], zones[1]):
        return
    after = start + timedelta(seconds=offset)
    until = after + timedelta(days=400)
    assert schedules[0].occurrences(after, until, 120) == schedules[1].occurrences(after, until, 120), texts
    assert schedules[0].latest_at_or_before(until) == schedules[1].latest_at_or_before(until), texts
