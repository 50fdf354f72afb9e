"""core/occurrences.py: several schedules merged into one stream (a coinciding instant is one
occurrence), exclusions at the exclude schedule's resolution, and the [startTime, endTime] window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from planner_helpers import make_rj, step, utc
from recurringjob.core.occurrences import Occurrences, build_stream, occurrence_stream
from recurringjob.core.planner import plan

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def test_coinciding_schedules_give_one_occurrence() -> None:
    stream = build_stream([("0 * * * *", None), ("0 */2 * * *", None), ("30 9 * * *", None)])
    times = stream.occurrences(T0 - timedelta(seconds=1), T0 + timedelta(hours=10), 100)
    expected = sorted({T0 + timedelta(hours=h) for h in range(11)} | {T0 + timedelta(hours=9, minutes=30)})
    assert times == expected


def test_schedules_in_different_zones_merge_by_instant() -> None:
    stream = build_stream([("0 9 * * *", "Europe/Berlin"), ("0 8 * * *", "UTC")])
    # 09:00 Berlin (CET, UTC+1) is 08:00 UTC: the same instant, one occurrence a day
    assert stream.occurrences(T0, T0 + 3 * DAY, 10) == [T0 + timedelta(hours=8) + d * DAY for d in range(3)]


def test_a_five_field_exclusion_covers_whole_minutes_and_days() -> None:
    # every 15 minutes, except on the 25th of December and except at minute 30
    stream = build_stream([("*/15 * * * *", None)], [("* * 25 12 *", None), ("30 * * * *", None)])
    christmas = datetime(2026, 12, 25, tzinfo=UTC)
    assert stream.next_after(christmas - timedelta(minutes=1)) == christmas + DAY
    boxing_day = christmas + DAY
    after = stream.occurrences(boxing_day - timedelta(seconds=1), boxing_day + timedelta(hours=1), 10)
    assert [t.minute for t in after] == [0, 15, 45, 0]
    assert stream.latest_at_or_before(christmas + timedelta(hours=12)) == christmas - timedelta(minutes=15)
    second = timedelta(seconds=1)
    assert stream.count(christmas - DAY - second, christmas + DAY - second, 1000) == 24 * 3  # 3 an hour


def test_a_six_field_exclusion_matches_its_second_only() -> None:
    stream = build_stream([("*/20 * * * * *", None)], [("40 * * * * *", None)])
    assert [t.second for t in stream.occurrences(T0 - timedelta(seconds=1), T0 + timedelta(seconds=59), 10)] \
        == [0, 20]


def test_window_edges_are_inclusive() -> None:
    start, end = T0 + timedelta(hours=2), T0 + timedelta(hours=5)
    stream = build_stream([("0 * * * *", None)], start=start, end=end)
    assert stream.next_after(T0) == start
    assert stream.next_after(start - timedelta(seconds=1)) == start
    assert stream.next_after(end - timedelta(seconds=1)) == end
    assert stream.next_after(end) is None
    assert stream.latest_at_or_before(T0 + DAY) == end
    assert stream.latest_at_or_before(start - timedelta(seconds=1)) is None
    assert stream.count(T0, T0 + DAY, 100) == 4
    assert stream.nth_latest_at_or_before(T0 + DAY, 10, T0) == start


def test_occurrence_stream_anchors_every_at_the_status_anchor() -> None:
    rj = make_rj("@every 90m", created="2024-01-01T00:00:00Z",
                 status={"scheduleFrom": "2024-01-01T00:30:00Z"})
    assert occurrence_stream(rj).next_after(utc("2024-01-01T00:30:00Z")) == utc("2024-01-01T02:00:00Z")


def test_the_planner_launches_a_coinciding_instant_once_and_skips_exclusions() -> None:
    rj = make_rj(created="2026-03-01T23:59:00Z",
                 schedules=[{"schedule": "0 0 * * *"}, {"schedule": "0 0 * * MON"}],
                 excludeSchedules=[{"schedule": "* * 3 3 *"}])
    del rj["spec"]["schedule"]
    decision = plan(rj, [], utc("2026-03-02T00:00:05Z"))
    assert decision.action == "launch" and decision.scheduled_time == utc("2026-03-02T00:00:00Z")
    assert decision.next_schedule_time == utc("2026-03-04T00:00:00Z")  # March 3rd excluded
    assert decision.status is not None
    assert decision.status["nextScheduleTimes"][:2] == ["2026-03-04T00:00:00Z", "2026-03-05T00:00:00Z"]


def _merged(hours: list[int], minutes: list[int]) -> Occurrences:
    return build_stream([(f"{m} {h} * * *", None) for h, m in zip(hours, minutes, strict=True)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 45])), min_size=1, max_size=5))
def test_merged_stream_is_the_sorted_union_without_repeats(entries: list[tuple[int, int]]) -> None:
    stream = _merged([h for h, _ in entries], [m for _, m in entries])
    times = stream.occurrences(T0 - timedelta(seconds=1), T0 + 2 * DAY - timedelta(seconds=1), 1000)
    expected = sorted({T0 + d * DAY + timedelta(hours=h, minutes=m) for d in range(2) for h, m in entries})
    assert times == expected
    assert stream.count(T0 - timedelta(seconds=1), T0 + 2 * DAY - timedelta(seconds=1), 1000) == len(expected)
    # walking backwards finds the same instants
    end, before = T0 + 2 * DAY - timedelta(seconds=1), T0 - timedelta(seconds=1)
    assert stream.latest_at_or_before(end) == expected[-1]
    assert stream.nth_latest_at_or_before(end, len(expected), before) == expected[0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sets(st.integers(0, 59), min_size=1, max_size=4), min_size=1, max_size=4))
def test_the_planner_launches_each_instant_of_merged_schedules_once(minute_sets: list[set[int]]) -> None:
    rj = make_rj(created="2024-01-01T00:00:00Z",
                 schedules=[{"schedule": f"{','.join(map(str, sorted(m)))} * * * *"} for m in minute_sets])
    del rj["spec"]["schedule"]
    jobs: list[dict] = []
    launched = []
    now = utc("2024-01-01T00:00:00Z")
    while now < utc("2024-01-01T02:00:00Z"):
        now += timedelta(seconds=30)
        decision = step(rj, jobs, now)
        launched += [decision.scheduled_time] if decision.job else []
    created = utc("2024-01-01T00:00:00Z")
    union = sorted({created + timedelta(hours=h, minutes=m)
                    for h in range(3) for ms in minute_sets for m in ms})
    assert launched == [t for t in union if created < t <= now]


def test_a_day_long_exclusion_of_a_per_second_schedule_is_jumped_both_ways() -> None:
    """Walked a minute at a time (1,440 steps), not a second at a time (86,400)."""
    stream = build_stream([("* * * * * *", None)], [("* * 25 12 *", None)])
    christmas = datetime(2026, 12, 25, tzinfo=UTC)
    assert stream.next_after(christmas - timedelta(seconds=1)) == christmas + DAY
    second = timedelta(seconds=1)
    assert stream.latest_at_or_before(christmas + DAY - second) == christmas - second
    assert stream.count(christmas - 2 * second, christmas + DAY, 10) == 2
