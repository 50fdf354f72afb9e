"""cli/occurrences.py: several schedules merged, exclusions, the startTime/endTime window, the backfill
size check, and the plugin's `next` built on them."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_plugin_api import FakeRjApi
from recurringjob.cli import plugin
from recurringjob.cli.occurrences import BACKFILL_LIMIT, check_backfill_size, stream_of
from recurringjob.cli.plugin_client import PluginError

T0 = datetime(2026, 12, 21, 0, 0, tzinfo=UTC)  # a Monday
FAR = datetime(2100, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def rj(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "report", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"jobTemplate": {"spec": {}}, **spec}}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_several_schedules_merge_and_coinciding_times_come_once() -> None:
    stream = stream_of(rj(schedules=[{"schedule": "0 */6 * * *"}, {"schedule": "0 12 * * *"},
                                     {"schedule": "0 9 * * *", "timeZone": "Europe/Berlin"}]))
    assert stream.occurrences(T0, FAR, 6) == [utc("2026-12-21T06:00"), utc("2026-12-21T08:00"),
                                              utc("2026-12-21T12:00"), utc("2026-12-21T18:00"),
                                              utc("2026-12-22T00:00"), utc("2026-12-22T06:00")]


def test_exclusions_remove_their_times_only() -> None:
    # daily at 09:00 Berlin, not on 24-26 December (Berlin days)
    stream = stream_of(rj(schedules=[{"schedule": "0 9 * * *"}], timeZone="Europe/Berlin",
                          excludeSchedules=[{"schedule": "* * 24-26 12 *"}]))
    assert stream.occurrences(T0, FAR, 4) == [utc("2026-12-21T08:00"), utc("2026-12-22T08:00"),
                                              utc("2026-12-23T08:00"), utc("2026-12-27T08:00")]


def test_the_window_bounds_both_ends_inclusively() -> None:
    stream = stream_of(rj(schedule="0 * * * *", startTime="2026-12-21T03:00:00Z",
                          endTime="2026-12-21T05:00:00Z"))
    assert stream.occurrences(T0, FAR, 10) == [utc("2026-12-21T03:00"), utc("2026-12-21T04:00"),
                                               utc("2026-12-21T05:00")]
    assert stream.occurrences(utc("2026-12-21T05:00"), FAR, 10) == []


def test_backfill_size_is_inclusive_at_both_ends_and_capped() -> None:
    hourly = rj(schedule="0 * * * *")
    assert check_backfill_size(hourly, utc("2026-12-21T00:00"), utc("2026-12-21T02:00")) == 3
    last = T0 + (BACKFILL_LIMIT - 1) * HOUR
    assert check_backfill_size(hourly, T0, last) == BACKFILL_LIMIT
    with pytest.raises(PluginError, match="holds more than 1000 occurrences"):
        check_backfill_size(hourly, T0, last + HOUR)
    with pytest.raises(PluginError, match=r"^report: "):
        check_backfill_size(rj(schedule="61 * * * *"), T0, FAR)


def test_backfill_counts_the_merged_stream_not_each_schedule() -> None:
    # the same instants twice (Tokyo is whole hours off UTC): 1200 raw times, 600 distinct, within the limit
    twice = rj(schedules=[{"schedule": "0 * * * *"}, {"schedule": "0 * * * *", "timeZone": "Asia/Tokyo"}])
    assert check_backfill_size(twice, T0, T0 + 599 * HOUR) == 600


def test_plugin_next_lists_the_merged_stream_and_says_what_is_special() -> None:
    api = FakeRjApi()
    api.add(rj(schedules=[{"schedule": "0 6 * * *"}, {"schedule": "0 18 * * *"}],
               excludeSchedules=["* * 22 12 *"], startTime="2026-12-21T12:00:00Z", jitterSeconds=300))
    out = plugin.cmd_next(api, argparse.Namespace(name="report", count=3), T0).splitlines()
    assert out[0] == "report: schedules '0 6 * * *' in UTC, '0 18 * * *' in UTC"
    assert out[1] == "excluding: '* * 22 12 *' in UTC"
    assert out[2] == "window: 2026-12-21T12:00:00Z .. no end"
    assert out[3].startswith("nominal times: each fires up to 5m later (jitter")
    assert [line.split("[")[1] for line in out[4:]] == ["2026-12-21 18:00:00 UTC UTC]",
                                                        "2026-12-23 06:00:00 UTC UTC]",
                                                        "2026-12-23 18:00:00 UTC UTC]"]


def test_plugin_next_after_the_end_says_so() -> None:
    api = FakeRjApi()
    api.add(rj(schedule="0 * * * *", endTime="2026-12-20T00:00:00Z"))
    out = plugin.cmd_next(api, argparse.Namespace(name="report", count=3), T0).splitlines()
    assert out == ["report: schedule '0 * * * *' in UTC", "window: any time .. 2026-12-20T00:00:00Z",
                   "  none: past endTime"]


def test_plugin_list_shows_the_first_of_several_schedules() -> None:
    assert plugin.schedule_columns({"schedule": "0 * * * *"}) == ["0 * * * *", "UTC"]
    assert plugin.schedule_columns({"schedules": [{"schedule": "0 6 * * *", "timeZone": "Asia/Tokyo"},
                                                  {"schedule": "0 18 * * *"}]}) == \
        ["0 6 * * * (+1)", "Asia/Tokyo"]
