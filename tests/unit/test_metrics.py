"""Metrics: the exact names of docs/design.md, per-RecurringJob series dropped on delete."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from prometheus_client import generate_latest
from recurringjob.runtime.metrics import Metrics

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"

RJ = {"metadata": {"namespace": "ns", "name": "backup"},
      "spec": {"schedule": "*/5 * * * *", "timeZone": "Europe/Berlin", "concurrencyPolicy": "Forbid",
               "suspend": True},
      "status": {"nextScheduleTime": "2030-01-01T00:05:00Z", "lastScheduleTime": "2030-01-01T00:00:00Z",
                 "lastSuccessfulTime": "2030-01-01T00:00:30Z", "active": [{"name": "backup-1"}],
                 "conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSchedule"}]}}


def exported_names(metrics: Metrics) -> set[str]:
    text = generate_latest(metrics.registry).decode()
    return {m.group(1) for m in re.finditer(r"^# TYPE (\S+) ", text, re.M)}


def design_names() -> set[str]:
    section = DESIGN.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(recurringjob_[a-z_]+)", section))


def test_every_metric_named_in_the_design_is_exported() -> None:
    metrics = Metrics()
    metrics.observe_recurringjob(RJ)
    names = exported_names(metrics)
    # counters are declared without the _total suffix in TYPE lines
    names |= {f"{n}_total" for n in names}
    missing = design_names() - names
    assert not missing, f"documented but not exported: {sorted(missing)}"


def test_per_recurringjob_gauges_follow_the_status() -> None:
    metrics = Metrics()
    metrics.observe_recurringjob(RJ)
    get = metrics.registry.get_sample_value
    labels = {"namespace": "ns", "name": "backup"}
    assert get("recurringjob_next_schedule_timestamp_seconds", labels) == 1893456300
    assert get("recurringjob_last_successful_timestamp_seconds", labels) == 1893456030
    assert get("recurringjob_active_jobs", labels) == 1
    assert get("recurringjob_suspended", labels) == 1
    assert get("recurringjob_ready", labels) == 0
    assert get("recurringjob_info", {**labels, "schedule": "*/5 * * * *", "time_zone": "Europe/Berlin",
                                     "concurrency_policy": "Forbid"}) == 1


def test_a_schedule_edit_replaces_the_info_series() -> None:
    metrics = Metrics()
    metrics.observe_recurringjob(RJ)
    metrics.observe_recurringjob({**RJ, "spec": {**RJ["spec"], "schedule": "@hourly"}})
    text = generate_latest(metrics.registry).decode()
    assert text.count("recurringjob_info{") == 1 and 'schedule="@hourly"' in text


def test_forget_drops_every_series_of_a_deleted_recurringjob() -> None:
    metrics = Metrics()
    metrics.observe_recurringjob(RJ)
    metrics.count_occurrences("ns", "backup", "launched")
    metrics.job_finished("ns", "backup", True, 12.0)
    metrics.forget("ns", "backup")
    text = generate_latest(metrics.registry).decode()
    assert 'name="backup"' not in text
    assert "recurringjob_job_duration_seconds_count 1.0" in text  # fleet histograms stay


def test_serves_metrics_over_http() -> None:
    metrics = Metrics()
    server = metrics.serve(0, host="127.0.0.1")
    try:
        port = server.server_address[1]
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert "recurringjob_build_info" in body
    finally:
        server.shutdown()


def test_every_result_counter_exists_at_zero_from_first_sight() -> None:
    """increase() needs a 0 sample before the first increment, or the first miss never alerts."""
    metrics = Metrics()
    get = metrics.registry.get_sample_value
    labels = {"namespace": "ns", "name": "backup"}
    assert get("recurringjob_occurrences_total", {**labels, "result": "missed"}) is None
    metrics.observe_recurringjob(RJ)
    for result in ("launched", "skipped", "missed", "recovered"):
        assert get("recurringjob_occurrences_total", {**labels, "result": result}) == 0
    for result in ("succeeded", "failed"):
        assert get("recurringjob_jobs_finished_total", {**labels, "result": result}) == 0
    metrics.count_occurrences("ns", "backup", "missed")
    metrics.observe_recurringjob(RJ)  # a later sighting must not reset what was counted
    assert get("recurringjob_occurrences_total", {**labels, "result": "missed"}) == 1


def test_a_recreated_recurringjob_starts_again_from_zero() -> None:
    metrics = Metrics()
    metrics.observe_recurringjob(RJ)
    metrics.count_occurrences("ns", "backup", "launched")
    metrics.forget("ns", "backup")
    metrics.observe_recurringjob(RJ)
    labels = {"namespace": "ns", "name": "backup", "result": "launched"}
    assert metrics.registry.get_sample_value("recurringjob_occurrences_total", labels) == 0


def test_several_schedules_show_in_the_info_series() -> None:
    metrics = Metrics()
    spec = {"schedules": [{"schedule": "0 9 * * 1-5", "timeZone": "Europe/Berlin"}, {"schedule": "@daily"}],
            "concurrencyPolicy": "Forbid"}
    metrics.observe_recurringjob({**RJ, "spec": spec})
    labels = {"namespace": "ns", "name": "backup", "schedule": "0 9 * * 1-5 | @daily",
              "time_zone": "Europe/Berlin | ", "concurrency_policy": "Forbid"}
    assert metrics.registry.get_sample_value("recurringjob_info", labels) == 1
