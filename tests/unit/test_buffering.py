"""core/buffering.py through plan(): BufferOne keeps at most one waiting occurrence, BufferAll up to
maxBuffered; a buffered occurrence starts as soon as nothing runs, under its nominal name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from planner_helpers import make_rj, step, utc
from test_requests import finish


def running(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["metadata"]["name"] for j in jobs if not j.get("status")]


def test_buffer_one_holds_one_and_skips_the_next() -> None:
    rj = make_rj("* * * * *", concurrencyPolicy="BufferOne", created="2024-01-01T00:00:00Z")
    jobs: list[dict[str, Any]] = []
    step(rj, jobs, "2024-01-01T00:01:00Z")
    buffered = step(rj, jobs, "2024-01-01T00:02:00Z")
    assert buffered.action == "wait" and buffered.scheduled_time == utc("2024-01-01T00:02:00Z")
    assert rj["status"]["bufferedOccurrences"] == ["2024-01-01T00:02:00Z"]
    skipped = step(rj, jobs, "2024-01-01T00:03:00Z")
    assert skipped.action == "skip" and "buffer is full" in skipped.reason
    assert rj["status"]["bufferedOccurrences"] == ["2024-01-01T00:02:00Z"]
    assert rj["status"]["skippedOccurrences"] == 1
    finish(jobs, "rj-1704067260", at="2024-01-01T00:03:30Z")
    started = step(rj, jobs, "2024-01-01T00:03:31Z")
    assert (started.action, started.job_name) == ("launch", "rj-1704067320")  # named after 00:02
    assert "bufferedOccurrences" not in rj["status"] and running(jobs) == ["rj-1704067320"]
    assert rj["status"]["recentRuns"][-1]["lagSeconds"] == 91.0


def test_buffer_all_keeps_up_to_max_buffered_in_order() -> None:
    rj = make_rj("* * * * *", concurrencyPolicy="BufferAll", maxBuffered=2, created="2024-01-01T00:00:00Z")
    jobs: list[dict[str, Any]] = []
    for minute in range(1, 5):
        step(rj, jobs, f"2024-01-01T00:0{minute}:00Z")
    assert rj["status"]["bufferedOccurrences"] == ["2024-01-01T00:02:00Z", "2024-01-01T00:03:00Z"]
    assert rj["status"]["skippedOccurrences"] == 1
    order = []
    for second in range(10, 14):
        for name in running(jobs):
            finish(jobs, name, at=f"2024-01-01T00:04:{second}Z")
        decision = step(rj, jobs, f"2024-01-01T00:04:{second}Z")
        order.append(decision.job_name)
    assert order[:2] == ["rj-1704067320", "rj-1704067380"] and order[2:] == [None, None]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 200), st.booleans()), min_size=1, max_size=40))
def test_buffer_one_never_holds_two_and_never_runs_two(events: list[tuple[int, bool]]) -> None:
    """Random plan times, Jobs finishing at random: never more than one buffered, never two
    running, no Job name twice, every due occurrence launched, buffered or skipped."""
    rj = make_rj("* * * * *", concurrencyPolicy="BufferOne", created="2024-01-01T00:00:00Z",
                 catchUp="All", maxCatchUp=1000)
    jobs: list[dict[str, Any]] = []
    launched: list[str] = []  # Jobs beyond the history limits are pruned from `jobs`
    now = utc("2024-01-01T00:00:30Z")
    for gap, finish_running in events:
        now += timedelta(seconds=gap)
        if finish_running:
            for name in running(jobs):
                finish(jobs, name, at=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for _ in range(5):  # re-plan at once while it asks to (catch-up, buffered starts)
            decision = step(rj, jobs, now)
            launched += [decision.job_name] if decision.job_name else []
            assert len(rj["status"].get("bufferedOccurrences", [])) <= 1
            assert len(running(jobs)) <= 1
            if decision.requeue_after != 0.0 and decision.action == "wait":
                break
    names = launched
    assert len(names) == len(set(names))
    status = rj["status"]
    decided = (utc(status["nextScheduleTime"]) - utc("2024-01-01T00:01:00Z")).total_seconds() // 60
    accounted = (len(names) + len(status.get("bufferedOccurrences", [])) + status.get("skippedOccurrences", 0)
                 + status.get("missedOccurrences", 0))
    assert accounted == decided
