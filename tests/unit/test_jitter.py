"""core/jitter.py and the planner's use of it: deterministic, within jitterSeconds, before the next
occurrence; the planner waits for the fire time; names keep the nominal time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from planner_helpers import make_rj, step, utc
from recurringjob.core.jitter import fire_time, jitter_seconds
from recurringjob.core.planner import plan

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(uid=st.uuids().map(str), offset=st.integers(0, 10**9), gap=st.integers(1, 10**6),
       max_seconds=st.integers(0, 10**6))
def test_jitter_is_deterministic_bounded_and_before_the_next(uid: str, offset: int, gap: int,
                                                               max_seconds: int) -> None:
    nominal = T0 + timedelta(seconds=offset)
    following = nominal + timedelta(seconds=gap)
    delay = jitter_seconds(uid, nominal, following, max_seconds)
    assert delay == jitter_seconds(uid, nominal, following, max_seconds)  # every replica agrees
    assert 0 <= delay <= max_seconds
    assert fire_time(uid, nominal, following, max_seconds) < following
    assert fire_time(uid, nominal, following, max_seconds) == nominal + timedelta(seconds=delay)


def test_jitter_spreads_over_the_whole_range() -> None:
    delays = {jitter_seconds(f"uid-{i}", T0, None, 59) for i in range(2000)}
    assert delays == set(range(60))
    assert jitter_seconds("u", T0, None, 0) == 0


def test_the_planner_waits_for_the_fire_time_and_keeps_the_nominal_name() -> None:
    rj = make_rj("0 * * * *", created="2024-01-01T00:00:00Z", jitterSeconds=1800)
    nominal = utc("2024-01-01T01:00:00Z")
    fire = fire_time("uid-1", nominal, utc("2024-01-01T02:00:00Z"), 1800)
    assert fire > nominal  # this uid's delay is not 0, so the waits below mean something
    before = plan(rj, [], fire - timedelta(seconds=1))
    assert before.action == "wait" and before.requeue_after == 1.0
    assert "jitter" in before.reason
    jobs: list[dict] = []
    launched = step(rj, jobs, fire)
    assert launched.action == "launch" and launched.scheduled_time == nominal and launched.fire_time == fire
    annotations = jobs[0]["metadata"]["annotations"]
    assert jobs[0]["metadata"]["name"] == "rj-1704070800"
    assert annotations["recurringjob.dev/scheduled-time"] == "2024-01-01T01:00:00Z"
    assert annotations["recurringjob.dev/fire-time"] == fire.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rj["status"]["recentRuns"][-1]["fireTime"] == annotations["recurringjob.dev/fire-time"]


def test_a_deadline_counts_from_the_fire_time() -> None:
    rj = make_rj("0 * * * *", created="2024-01-01T00:00:00Z", jitterSeconds=1800, startingDeadlineSeconds=10)
    fire = fire_time("uid-1", utc("2024-01-01T01:00:00Z"), utc("2024-01-01T02:00:00Z"), 1800)
    assert plan(rj, [], fire + timedelta(seconds=10)).action == "launch"
    assert plan(rj, [], fire + timedelta(seconds=11)).action == "skip"


def test_jitter_not_smaller_than_the_interval_is_refused() -> None:
    decision = plan(make_rj("*/5 * * * *", jitterSeconds=300), [], utc("2024-01-01T00:00:00Z"))
    assert decision.action == "wait" and decision.status is not None
    ready = next(c for c in decision.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.jitterSeconds (300)" in ready["message"] and "300s" in ready["message"]
    accepted = plan(make_rj("*/5 * * * *", jitterSeconds=299), [], utc("2024-01-01T00:00:00Z")).status
    assert accepted is not None
    assert next(c for c in accepted["conditions"] if c["type"] == "Ready")["status"] == "True"
