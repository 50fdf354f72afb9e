"""The dev cluster's watch history: kept per resource, and never younger than kube's watch cache
keeps it (75 s), so a watch resumed after a slow LIST is not answered 410 because other kinds
were busy."""

from __future__ import annotations

import pytest
from recurringjob.devcluster.apierrors import ApiError
from recurringjob.devcluster.subscription import HISTORY_HARD_CAP_FACTOR, Event, WatchHub

JOBS = ("batch", "jobs")
RJS = ("recurringjob.dev", "recurringjobs")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def event(revision: int, rk: tuple[str, str]) -> Event:
    return Event(revision, rk, "MODIFIED", {"metadata": {"name": f"o{revision}", "namespace": "ns"}}, None)


def resumable(hub: WatchHub, rk: tuple[str, str], since: int) -> bool:
    try:
        hub.open(rk, None, since, None, None).close()
    except ApiError as exc:
        assert exc.code == 410
        return False
    return True


def test_a_busy_kind_does_not_push_another_kinds_history_out() -> None:
    clock = Clock()
    hub = WatchHub(history_limit=10, fresh_seconds=0.0, clock=clock)
    hub.publish(event(1, RJS))
    for revision in range(2, 200):  # Jobs churn
        clock.now += 1.0
        hub.publish(event(revision, JOBS))
    assert resumable(hub, RJS, 0)  # the RecurringJob history is intact
    assert not resumable(hub, JOBS, 100)  # the Jobs' own window is 10 events
    assert resumable(hub, JOBS, 189)


def test_fresh_events_are_kept_beyond_the_count_and_dropped_once_old() -> None:
    clock = Clock()
    hub = WatchHub(history_limit=10, fresh_seconds=75.0, clock=clock)
    for revision in range(1, 101):  # 100 events within 10 s
        clock.now += 0.1
        hub.publish(event(revision, JOBS))
    assert resumable(hub, JOBS, 0)
    clock.now += 80.0  # they age; the next publish compacts to the count
    hub.publish(event(101, JOBS))
    assert not resumable(hub, JOBS, 50)
    assert resumable(hub, JOBS, 91)


def test_fresh_history_is_still_capped() -> None:
    clock = Clock()
    hub = WatchHub(history_limit=5, fresh_seconds=75.0, clock=clock)
    cap = 5 * HISTORY_HARD_CAP_FACTOR
    for revision in range(1, cap + 11):
        hub.publish(event(revision, JOBS))
    assert not resumable(hub, JOBS, 5)
    assert resumable(hub, JOBS, 11)


def test_replayed_events_are_only_those_after_since() -> None:
    hub = WatchHub(history_limit=10)
    for revision in range(1, 6):
        hub.publish(event(revision, JOBS if revision % 2 else RJS))
    sub = hub.open(JOBS, None, 2, None, None)
    assert [revision for _, _, revision in sub.drain()] == [3, 5]
    with pytest.raises(ApiError):
        hub.reset(10)
        hub.open(JOBS, None, 5, None, None)
