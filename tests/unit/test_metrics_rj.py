"""The per-RecurringJob series collector: what it exposes, what it costs, and its scrape snapshot."""

from __future__ import annotations

import gc
import threading
import tracemalloc

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from recurringjob.runtime.metrics_rj import ACTIVE, NEXT_SCHEDULE, PerRecurringJobSeries

KEY = ("ns", "backup")


def registry_with(series: PerRecurringJobSeries) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(series)
    return registry


def test_a_counter_series_exists_only_once_created() -> None:
    series = PerRecurringJobSeries()
    registry = registry_with(series)
    series.inc(KEY, "recurringjob_occurrences", "missed", 2)
    labels = {"namespace": "ns", "name": "backup"}
    get = registry.get_sample_value
    assert get("recurringjob_occurrences_total", {**labels, "result": "missed"}) == 2
    assert get("recurringjob_occurrences_total", {**labels, "result": "launched"}) is None
    series.touch(KEY, "recurringjob_occurrences", ("launched", "missed"))
    assert get("recurringjob_occurrences_total", {**labels, "result": "launched"}) == 0
    assert get("recurringjob_occurrences_total", {**labels, "result": "missed"}) == 2  # touch keeps counts


def test_gauges_start_at_zero_and_keep_what_was_set() -> None:
    series = PerRecurringJobSeries()
    registry = registry_with(series)
    row = series.gauges(KEY)
    row[NEXT_SCHEDULE] = 1893456300.0
    assert series.gauges(KEY) is row
    labels = {"namespace": "ns", "name": "backup"}
    assert registry.get_sample_value("recurringjob_next_schedule_timestamp_seconds", labels) == 1893456300
    assert registry.get_sample_value("recurringjob_active_jobs", labels) == 0
    row[ACTIVE] = 3.0
    assert registry.get_sample_value("recurringjob_active_jobs", labels) == 3


def test_set_info_reports_first_sight_and_replaces_the_series() -> None:
    series = PerRecurringJobSeries()
    registry = registry_with(series)
    assert series.set_info(KEY, ("@daily", "", "Allow")) is True
    assert series.set_info(KEY, ("@daily", "", "Allow")) is False
    assert series.set_info(KEY, ("@hourly", "", "Allow")) is False
    text = generate_latest(registry).decode()
    assert text.count("recurringjob_info{") == 1 and 'schedule="@hourly"' in text
    series.forget(KEY)
    assert "backup" not in generate_latest(registry).decode()
    assert series.set_info(KEY, ("@hourly", "", "Allow")) is True  # re-created: first sight again


def test_the_family_names_cannot_be_registered_twice() -> None:
    registry = registry_with(PerRecurringJobSeries())
    with pytest.raises(ValueError, match="Duplicated"):
        Gauge("recurringjob_active_jobs", "again", ["namespace", "name"], registry=registry)


def test_a_recurringjob_costs_well_under_a_kilobyte() -> None:
    """The labelled children it replaces cost ~9 KB per RecurringJob (14 children with locks)."""
    names = [("ns", f"rj-{i:05d}") for i in range(2000)]
    series = PerRecurringJobSeries()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for key in names:
            series.set_info(key, ("* * * * *", "", "Allow"))
            row = series.gauges(key)
            for index in range(len(row)):
                row[index] = 1893456300.0 + index
            series.touch(key, "recurringjob_occurrences", ("launched", "skipped", "missed", "recovered"))
            series.touch(key, "recurringjob_jobs_finished", ("succeeded", "failed"))
            series.inc(key, "recurringjob_occurrences", "launched")
        per_rj = (tracemalloc.get_traced_memory()[0] - before) / len(names)
    finally:
        tracemalloc.stop()
    assert per_rj < 1024


def test_a_scrape_during_row_additions_and_removals_does_not_fail() -> None:
    series = PerRecurringJobSeries()
    registry = registry_with(series)
    stop = threading.Event()
    failures: list[BaseException] = []

    def scrape() -> None:
        try:
            while not stop.is_set():
                generate_latest(registry)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    thread = threading.Thread(target=scrape)
    thread.start()
    try:
        for i in range(20_000):
            key = ("ns", f"rj-{i % 500}")
            series.set_info(key, (str(i), "", "Allow"))
            series.gauges(key)
            series.inc(key, "recurringjob_occurrences", "launched")
            if i % 7 == 0:
                series.forget(key)
    finally:
        stop.set()
        thread.join()
    assert not failures
