"""The per-RecurringJob metric series, kept as plain values and exposed by one custom collector.

Why not prometheus_client's labelled Gauge/Counter children: each child is an object with its own
lock and value object, and every RecurringJob has 14 of them (8 gauges, 6 result counters) —
measured ~9 KB per RecurringJob, ~90 MB of an operator's heap at 10,000. Here a RecurringJob costs
one row of 7 gauge values and one of 6 counter values (~0.6 KB); the exposition (names, help texts,
labels, values, series present) is the one the labelled metrics produced.

Rows are written from the event loop and read by the scrape thread: structural changes (a row
added or dropped) and the scrape's snapshot hold `lock`; a value update is one list store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

Key = tuple[str, str]  # (namespace, name)

RJ_LABELS = ("namespace", "name")
INFO_LABELS = (*RJ_LABELS, "schedule", "time_zone", "concurrency_policy")
# (name, help) of the gauges, in the order of a gauge row
GAUGES = (
    ("recurringjob_next_schedule_timestamp_seconds", "Next occurrence not yet decided (the cursor)"),
    ("recurringjob_last_schedule_timestamp_seconds", "Newest occurrence launched"),
    ("recurringjob_last_successful_timestamp_seconds", "Completion time of the newest successful Job"),
    ("recurringjob_last_failed_timestamp_seconds", "Completion time of the newest failed Job"),
    ("recurringjob_active_jobs", "Jobs claimed and not yet seen finished"),
    ("recurringjob_suspended", "1 if spec.suspend"),
    ("recurringjob_ready", "1 if the Ready condition is True"),
)
NEXT_SCHEDULE, LAST_SCHEDULE, LAST_SUCCESSFUL, LAST_FAILED, ACTIVE, SUSPENDED, READY = range(len(GAUGES))
# (name without _total, help, results) of the counters; a counter row holds their results in this order
COUNTERS = (
    ("recurringjob_occurrences", "Occurrences decided, by result",
     ("launched", "skipped", "missed", "recovered")),
    ("recurringjob_jobs_finished", "Finished Jobs, counted when they leave status.active, by result",
     ("succeeded", "failed")),
)
_SLOTS = {(name, result): index for index, (name, result) in enumerate(
    (name, result) for name, _, results in COUNTERS for result in results)}
INFO = ("recurringjob_info", "RecurringJob spec facts (always 1)")


class PerRecurringJobSeries(Collector):
    """info, gauge and counter rows per RecurringJob key; None in a counter row: series not created."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._info: dict[Key, tuple[str, str, str]] = {}  # (schedule, time_zone, concurrency_policy)
        self._gauges: dict[Key, list[float]] = {}
        self._counters: dict[Key, list[float | None]] = {}

    # writes
    def set_info(self, key: Key, info: tuple[str, str, str]) -> bool:
        """Set the info series' labels; True if the RecurringJob had none yet (first sight)."""
        with self.lock:
            old = self._info.get(key)
            if old == info:
                return False
            if old is not None:
                del self._info[key]  # a replaced series goes last, as a removed and re-added child did
            self._info[key] = info
        return old is None

    def gauges(self, key: Key) -> list[float]:
        """The key's gauge row (created at 0 for every gauge): callers set values by index."""
        row = self._gauges.get(key)
        if row is None:
            row = [0.0] * len(GAUGES)
            with self.lock:
                row = self._gauges.setdefault(key, row)
        return row

    def touch(self, key: Key, counter: str, results: Sequence[str]) -> None:
        """Create these result series at 0 where they do not exist yet."""
        row = self._counter_row(key)
        for result in results:
            slot = _SLOTS[(counter, result)]
            if row[slot] is None:
                row[slot] = 0.0

    def inc(self, key: Key, counter: str, result: str, amount: float = 1.0) -> None:
        row = self._counter_row(key)
        slot = _SLOTS[(counter, result)]
        row[slot] = (row[slot] or 0.0) + amount

    def forget(self, key: Key) -> None:
        with self.lock:
            self._info.pop(key, None)
            self._gauges.pop(key, None)
            self._counters.pop(key, None)

    def _counter_row(self, key: Key) -> list[float | None]:
        row = self._counters.get(key)
        if row is None:
            fresh: list[float | None] = [None] * len(_SLOTS)
            with self.lock:
                row = self._counters.setdefault(key, fresh)
        return row

    # reads
    def value(self, key: Key, counter: str, result: str) -> float | None:
        row = self._counters.get(key)
        return row[_SLOTS[(counter, result)]] if row is not None else None

    def describe(self) -> Iterator[Metric]:
        """The family names, so the registry refuses a duplicate registration of any of them."""
        yield GaugeMetricFamily(*INFO, labels=INFO_LABELS)
        for name, documentation in GAUGES:
            yield GaugeMetricFamily(name, documentation, labels=RJ_LABELS)
        for name, documentation, _ in COUNTERS:
            yield CounterMetricFamily(name, documentation, labels=(*RJ_LABELS, "result"))

    def collect(self) -> Iterator[Metric]:
        with self.lock:  # a consistent snapshot; the rows are copied, not exposed half-written
            info = list(self._info.items())
            gauges = [(key, list(row)) for key, row in self._gauges.items()]
            counters = [(key, list(row)) for key, row in self._counters.items()]
        family = GaugeMetricFamily(*INFO, labels=INFO_LABELS)
        for key, labels in info:
            family.add_metric([*key, *labels], 1.0)
        yield family
        for index, (name, documentation) in enumerate(GAUGES):
            family = GaugeMetricFamily(name, documentation, labels=RJ_LABELS)
            for key, row in gauges:
                family.add_metric(list(key), row[index])
            yield family
        for name, documentation, results in COUNTERS:
            counter = CounterMetricFamily(name, documentation, labels=(*RJ_LABELS, "result"))
            for key, values in counters:
                for result in results:
                    value = values[_SLOTS[(name, result)]]
                    if value is not None:
                        counter.add_metric([*key, result], value)
            yield counter
