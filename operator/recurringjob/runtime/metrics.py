"""Prometheus metrics: exactly the names in docs/design.md (the dashboard and alerts use only these).

Per-RecurringJob series carry only `namespace` and `name` (plus a small fixed `result` set), so the
cardinality is bounded by the number of RecurringJobs; `forget()` drops them on delete.
"""

from __future__ import annotations

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
from recurringjob.runtime.metrics_rj import (
    ACTIVE,
    COUNTERS,
    LAST_FAILED,
    LAST_SCHEDULE,
    LAST_SUCCESSFUL,
    NEXT_SCHEDULE,
    READY,
    SUSPENDED,
    PerRecurringJobSeries,
)

# `_created` samples would double the series count for no dashboard use
disable_created_metrics()

OCCURRENCES, JOBS_FINISHED = (name for name, _, _ in COUNTERS)
OCCURRENCE_RESULTS, FINISHED_RESULTS = (results for _, _, results in COUNTERS)
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
        # the per-RecurringJob series: plain values behind one collector (metrics_rj.py), registered
        # first so the exposition keeps its order (these families came first)
        self.per_rj = PerRecurringJobSeries()
        r.register(self.per_rj)
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

    def observe_recurringjob(self, rj: Mapping[str, Any]) -> None:
        """Refresh the per-RecurringJob gauges from the object as the API returned it."""
        meta = rj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        spec = rj.get("spec") or {}
        status = rj.get("status") or {}
        series = self.per_rj
        if series.set_info(key, (*schedule_labels(spec), str(spec.get("concurrencyPolicy") or "Allow"))):
            self._zero_counters(key)
        row = series.gauges(key)
        for index, field in ((NEXT_SCHEDULE, "nextScheduleTime"), (LAST_SCHEDULE, "lastScheduleTime"),
                             (LAST_SUCCESSFUL, "lastSuccessfulTime"), (LAST_FAILED, "lastFailedTime")):
            value = _ts(status.get(field))
            if value is not None:
                row[index] = value
        row[ACTIVE] = float(len(status.get("active") or ()))
        row[SUSPENDED] = 1.0 if spec.get("suspend") else 0.0
        conditions = status.get("conditions") or ()
        condition = next((c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Ready"), None)
        row[READY] = 1.0 if condition is None or condition.get("status") == "True" else 0.0

    def _zero_counters(self, key: tuple[str, str]) -> None:
        """Every result series exists at 0 from first sight: Prometheus' increase() needs a sample
        before the first increment, else the first miss is invisible and its alert never fires."""
        self.per_rj.touch(key, OCCURRENCES, OCCURRENCE_RESULTS)
        self.per_rj.touch(key, JOBS_FINISHED, FINISHED_RESULTS)

    def count_occurrences(self, namespace: str, name: str, result: str, amount: int = 1) -> None:
        if amount > 0:
            self.per_rj.inc((namespace, name), OCCURRENCES, result, amount)
            shard = acting_shard.get()
            if result == "launched" and shard is not None:
                self.shard_launches.labels(shard=str(shard)).inc(amount)

    def job_finished(self, namespace: str, name: str, succeeded: bool, duration: float | None) -> None:
        self.per_rj.inc((namespace, name), JOBS_FINISHED, "succeeded" if succeeded else "failed")
        if duration is not None and duration >= 0:
            self.job_duration.observe(duration)

    def forget(self, namespace: str, name: str) -> None:
        """Drop every per-RecurringJob series of a deleted RecurringJob."""
        self.per_rj.forget((namespace, name))

    def serve(self, port: int, host: str = "0.0.0.0") -> Any:
        """Serve /metrics from a daemon thread (prometheus-client's own server)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
