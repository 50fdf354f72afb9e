"""Prometheus metrics: exactly the names in docs/design.md (the dashboard and alerts use only these).

Per-RecurringJob series carry only `namespace` and `name` (plus a small fixed `result` set), so the
cardinality is bounded by the number of RecurringJobs; `forget()` drops them on delete.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from recurringjob import __version__
from recurringjob.runtime.acting import acting_shard

# `_created` samples would double the series count for no dashboard use
disable_created_metrics()

RJ_LABELS = ("namespace", "name")
OCCURRENCE_RESULTS = ("launched", "skipped", "missed", "recovered")
FINISHED_RESULTS = ("succeeded", "failed")
LAUNCH_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
JOB_DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 10800, 21600)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _ts(value: Any) -> float | None:
    """An RFC3339 status field as unix seconds (None if absent or unparsable)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def schedule_labels(spec: Mapping[str, Any]) -> tuple[str, str]:
    """(schedule, time_zone) label values: spec.schedule and spec.timeZone, or every entry of
    spec.schedules joined by " | " (an entry's zone defaults to spec.timeZone; positions match)."""
    several = spec.get("schedules")
    if isinstance(several, list) and several and not spec.get("schedule"):
        entries = [e for e in several if isinstance(e, Mapping)]
        return (" | ".join(str(e.get("schedule") or "") for e in entries),
                " | ".join(str(e.get("timeZone") or spec.get("timeZone") or "") for e in entries))
    return str(spec.get("schedule") or ""), str(spec.get("timeZone") or "")


class Metrics:
    """All operator metrics in one registry (a fresh registry per instance keeps tests isolated)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.info = Gauge("recurringjob_info", "RecurringJob spec facts (always 1)",
                          [*RJ_LABELS, "schedule", "time_zone", "concurrency_policy"], registry=r)
        self.next_schedule = Gauge("recurringjob_next_schedule_timestamp_seconds",
                                   "Next occurrence not yet decided (the cursor)", RJ_LABELS, registry=r)
        self.last_schedule = Gauge("recurringjob_last_schedule_timestamp_seconds",
                                   "Newest occurrence launched", RJ_LABELS, registry=r)
        self.last_successful = Gauge("recurringjob_last_successful_timestamp_seconds",
                                     "Completion time of the newest successful Job", RJ_LABELS, registry=r)
        self.last_failed = Gauge("recurringjob_last_failed_timestamp_seconds",
                                 "Completion time of the newest failed Job", RJ_LABELS, registry=r)
        self.active_jobs = Gauge("recurringjob_active_jobs", "Jobs claimed and not yet seen finished",
                                 RJ_LABELS, registry=r)
        self.suspended = Gauge("recurringjob_suspended", "1 if spec.suspend", RJ_LABELS, registry=r)
        self.ready = Gauge("recurringjob_ready", "1 if the Ready condition is True", RJ_LABELS, registry=r)
        self.occurrences = Counter("recurringjob_occurrences", "Occurrences decided, by result",
                                   [*RJ_LABELS, "result"], registry=r)
        self.jobs_finished = Counter("recurringjob_jobs_finished",
                                     "Finished Jobs, counted when they leave status.active, by result",
                                     [*RJ_LABELS, "result"], registry=r)
        self.claim_conflicts = Counter("recurringjob_claim_conflicts",
                                       "Claims rejected with 409 Conflict (someone else wrote first)",
                                       registry=r)
        self.launch_lag = Histogram("recurringjob_launch_lag_seconds",
                                    "Job create time minus scheduled time", buckets=LAUNCH_LAG_BUCKETS,
                                    registry=r)
        self.job_duration = Histogram("recurringjob_job_duration_seconds",
                                      "Job completion time minus start time", buckets=JOB_DURATION_BUCKETS,
                                      registry=r)
        self.reconcile_duration = Histogram("recurringjob_reconcile_duration_seconds",
                                            "One reconcile: plan, claim, launch", buckets=LATENCY_BUCKETS,
                                            registry=r)
        self.claim_duration = Histogram("recurringjob_claim_duration_seconds",
                                        "The resourceVersion-checked status write", buckets=LATENCY_BUCKETS,
                                        registry=r)
        self.is_leader = Gauge("recurringjob_is_leader", "1 while this replica may act as leader",
                               ["identity"], registry=r)
        self.shard_leader = Gauge("recurringjob_shard_leader",
                                  "1 while this replica leads the shard (--shards > 1)",
                                  ["shard", "identity"], registry=r)
        self.shard_launches = Counter("recurringjob_shard_launches",
                                      "Jobs this replica launched, by shard", ["shard"], registry=r)
        self.shards_wanted = Gauge("recurringjob_shards_fair_share",
                                   "Shards this replica should lead (shards / live replicas)", registry=r)
        self.live_replicas = Gauge("recurringjob_live_replicas",
                                   "Replicas seen alive through their presence Leases", registry=r)
        self.lease_transitions = Counter("recurringjob_lease_transitions",
                                         "Times this replica acquired the Lease", registry=r)
        self.lease_last_renew = Gauge("recurringjob_lease_last_renew_timestamp_seconds",
                                      "Wall time of this replica's last successful Lease renewal", registry=r)
        self.build_info = Gauge("recurringjob_build_info", "Operator version (always 1)", ["version"],
                                registry=r)
        self.queue_size = Gauge("recurringjob_scheduler_queue_size",
                                "RecurringJobs waiting in the leader's time queue", registry=r)
        # NaN until the first answer with a Date header (runtime/serverclock.py sets functions on them)
        self.server_clock_offset = Gauge("recurringjob_server_clock_offset_seconds",
                                         "The API server's clock minus this replica's wall clock",
                                         registry=r)
        self.server_clock_uncertainty = Gauge("recurringjob_server_clock_uncertainty_seconds",
                                              "How far the server clock estimate may be off (half-width)",
                                              registry=r)
        self.server_clock_offset.set(float("nan"))
        self.server_clock_uncertainty.set(float("nan"))
        self.build_info.labels(version=__version__).set(1)
        self._info_labels: dict[tuple[str, str], tuple[str, ...]] = {}
        self._per_rj_gauges = (self.next_schedule, self.last_schedule, self.last_successful,
                               self.last_failed, self.active_jobs, self.suspended, self.ready)
        self._children: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._lock = threading.Lock()

    def observe_recurringjob(self, rj: Mapping[str, Any]) -> None:
        """Refresh the per-RecurringJob gauges from the object as the API returned it."""
        meta = rj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        spec = rj.get("spec") or {}
        status = rj.get("status") or {}
        info = (*key, *schedule_labels(spec), str(spec.get("concurrencyPolicy") or "Allow"))
        with self._lock:
            old_info = self._info_labels.get(key)
            if old_info != info:
                if old_info is not None:
                    self._remove(self.info, old_info)
                self.info.labels(*info).set(1)
                self._info_labels[key] = info
        if old_info is None:
            self._zero_counters(key)
        # the children of this RecurringJob's gauges, looked up once: labels() hashes, locks and
        # validates on every call, and this runs for every RecurringJob watch event
        children = self._children.get(key)
        if children is None:
            children = tuple(gauge.labels(*key) for gauge in self._per_rj_gauges)
            self._children[key] = children
        next_schedule, last_schedule, last_successful, last_failed, active, suspended, ready = children
        for child, field in ((next_schedule, "nextScheduleTime"), (last_schedule, "lastScheduleTime"),
                             (last_successful, "lastSuccessfulTime"), (last_failed, "lastFailedTime")):
            value = _ts(status.get(field))
            if value is not None:
                child.set(value)
        active.set(len(status.get("active") or ()))
        suspended.set(1 if spec.get("suspend") else 0)
        conditions = status.get("conditions") or ()
        condition = next((c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Ready"), None)
        ready.set(1 if condition is None or condition.get("status") == "True" else 0)

    def _zero_counters(self, key: tuple[str, str]) -> None:
        """Every result series exists at 0 from first sight: Prometheus' increase() needs a sample
        before the first increment, else the first miss is invisible and its alert never fires."""
        for result in OCCURRENCE_RESULTS:
            self.occurrences.labels(*key, result)
        for result in FINISHED_RESULTS:
            self.jobs_finished.labels(*key, result)

    def count_occurrences(self, namespace: str, name: str, result: str, amount: int = 1) -> None:
        if amount > 0:
            self.occurrences.labels(namespace, name, result).inc(amount)
            shard = acting_shard.get()
            if result == "launched" and shard is not None:
                self.shard_launches.labels(shard=str(shard)).inc(amount)

    def job_finished(self, namespace: str, name: str, succeeded: bool, duration: float | None) -> None:
        self.jobs_finished.labels(namespace, name, "succeeded" if succeeded else "failed").inc()
        if duration is not None and duration >= 0:
            self.job_duration.observe(duration)

    def forget(self, namespace: str, name: str) -> None:
        """Drop every per-RecurringJob series of a deleted RecurringJob."""
        key = (namespace, name)
        with self._lock:
            info = self._info_labels.pop(key, None)
        self._children.pop(key, None)
        if info is not None:
            self._remove(self.info, info)
        for gauge in self._per_rj_gauges:
            self._remove(gauge, key)
        for result in OCCURRENCE_RESULTS:
            self._remove(self.occurrences, (*key, result))
        for result in FINISHED_RESULTS:
            self._remove(self.jobs_finished, (*key, result))

    @staticmethod
    def _remove(metric: Gauge | Counter, labels: tuple[str, ...]) -> None:
        try:
            metric.remove(*labels)
        except KeyError:
            pass

    def serve(self, port: int, host: str = "0.0.0.0") -> Any:
        """Serve /metrics from a daemon thread (prometheus-client's own server)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
