"""The DST rule over every tzdata transition from 1970 to 2037 in every zone that still has DST
rules in 2026 (kubernetes#121594): a fixed-time wall-clock occurrence inside a repeated hour
(fall back) fires exactly once, and one inside a skipped hour (spring forward) fires exactly once,
at the jump. Checked on the occurrence stream the planner uses, forwards and backwards, and on
plan() itself for a sample. The default test covers every zone and transition with one wall time
per transition; the `slow` one every whole minute of each repeated or skipped interval."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from planner_helpers import make_rj, step
from recurringjob.core.occurrences import build_stream

START, END = datetime(1970, 1, 1, tzinfo=UTC), datetime(2038, 1, 1, tzinfo=UTC)
DAY = 86400


@dataclass(frozen=True)
class Transition:
    zone: str
    at: int  # unix seconds of the change
    before: int  # utc offset (seconds) before it
    after: int  # and after it


def _offset(zone: zoneinfo.ZoneInfo, t: int) -> int:
    value = datetime.fromtimestamp(t, zone).utcoffset()
    assert value is not None
    return int(value.total_seconds())


@functools.cache
def zones_with_dst_in_2026() -> tuple[str, ...]:
    found = []
    for name in sorted(zoneinfo.available_timezones()):
        zone = zoneinfo.ZoneInfo(name)
        start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
        if any(datetime.fromtimestamp(start + week * 7 * DAY, zone).dst() for week in range(53)):
            found.append(name)
    return tuple(found)


@functools.cache
def transitions(name: str) -> tuple[Transition, ...]:
    """Every utc-offset change in [1970, 2038): a daily scan, then bisection to the second."""
    zone = zoneinfo.ZoneInfo(name)
    found = []
    t, end = int(START.timestamp()), int(END.timestamp())
    offset = _offset(zone, t)
    while t < end:
        following = _offset(zone, t + DAY)
        if following != offset:
            low, high = t, t + DAY  # offset(low) == offset, offset(high) differs
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if _offset(zone, middle) == offset else (low, middle)
            found.append(Transition(name, high, offset, _offset(zone, high)))
            offset = _offset(zone, high)
        t += DAY
    return tuple(found)


def all_transitions() -> Iterator[Transition]:
    for name in zones_with_dst_in_2026():
        yield from transitions(name)


def _wall_times(transition: Transition, every_minute: bool) -> list[int]:
    """Wall-clock times (seconds since the epoch, read as naive local) inside the repeated or
    skipped interval, whole minutes: its middle, or every whole minute of it."""
    low = transition.at + min(transition.before, transition.after)
    high = transition.at + max(transition.before, transition.after)
    first = -(-low // 60) * 60
    minutes = list(range(first, high, 60))
    return minutes if every_minute else minutes[len(minutes) // 2: len(minutes) // 2 + 1]


def check(transition: Transition, every_minute: bool = False) -> None:
    for wall in _wall_times(transition, every_minute):
        local = datetime.fromtimestamp(wall, UTC)
        stream = build_stream([(f"{local.minute} {local.hour} * * *", transition.zone)])
        window_start = datetime.fromtimestamp(transition.at - 2 * DAY // 3, UTC)
        window_end = datetime.fromtimestamp(transition.at + 2 * DAY // 3, UTC)
        fired = stream.occurrences(window_start, window_end, 10)
        where = f"{transition.zone} {datetime.fromtimestamp(transition.at, UTC)} wall {local:%H:%M}: {fired}"
        assert len(fired) == 1, where
        if transition.after > transition.before:  # spring forward: at the jump
            assert fired[0] == datetime.fromtimestamp(transition.at, UTC), where
        else:  # fall back: the first pass, before the clock is set back
            assert fired[0] == datetime.fromtimestamp(wall - transition.before, UTC), where
        assert stream.latest_at_or_before(window_end) == fired[0], where  # the backward walk agrees


def test_the_scan_finds_known_transitions() -> None:
    """Guards the scan: a scan that found nothing would make the next test vacuous."""
    assert {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"} <= set(
        zones_with_dst_in_2026())
    berlin = {t.at for t in transitions("Europe/Berlin")}
    assert int(datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp()) in berlin
    assert int(datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp()) in berlin
    lord_howe = transitions("Australia/Lord_Howe")[-1]
    assert abs(lord_howe.after - lord_howe.before) == 1800  # half-hour DST


def test_every_transition_in_every_zone_with_dst_fires_once() -> None:
    count = 0
    for transition in all_transitions():
        check(transition)
        count += 1
    assert count > 10_000


def test_the_planner_launches_a_repeated_and_a_skipped_wall_time_once() -> None:
    for transition in [t for t in transitions("America/New_York") if t.at > 1.6e9][:4]:
        wall = _wall_times(transition, False)[0]
        local = datetime.fromtimestamp(wall, UTC)
        start = datetime.fromtimestamp(transition.at - 2 * DAY, UTC)
        rj = make_rj(f"{local.minute} {local.hour} * * *", timeZone="America/New_York",
                     created=start.strftime("%Y-%m-%dT%H:%M:%SZ"))
        jobs: list[dict] = []
        now = start
        while now < start + timedelta(days=3):
            now += timedelta(minutes=5)
            step(rj, jobs, now)
        times = sorted(j["metadata"]["annotations"]["recurringjob.dev/scheduled-time"] for j in jobs)
        around = [t for t in times if abs(datetime.fromisoformat(t).timestamp() - transition.at) < DAY / 2]
        assert len(around) == 1, (transition, times)  # the transition's wall time ran once
        expected = build_stream([(f"{local.minute} {local.hour} * * *", "America/New_York")]).occurrences(
            start, now, 10)
        assert times == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in expected]  # each day once, none missed
        assert rj["status"].get("missedOccurrences", 0) == 0


@pytest.mark.slow
@pytest.mark.timeout(3600)  # ~60 wall times per transition: about an hour of one core
def test_every_minute_of_every_repeated_or_skipped_interval() -> None:
    for transition in all_transitions():
        check(transition, every_minute=True)
