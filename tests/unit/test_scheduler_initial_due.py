"""A new leader's first plan of each RecurringJob: at once if it may need attention, else at its cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from recurringjob.core.attention import initial_due
from recurringjob.core.planner import Decision
from test_scheduler import make

NOW = datetime(2024, 3, 10, 7, 0, 30, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)
EARLIER = NOW - timedelta(seconds=20)
CONTAINERS = [{"name": "c", "image": "busybox"}]
TEMPLATE = {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": CONTAINERS}}}}
IN_UTC = {"schedule": "0 * * * * *", "timeZone": "UTC"}
WITH_TRIGGER = {"schedule": "0 * * * * *", "triggers": [{"id": "t"}]}


def settled(name: str = "a", *, rv: str = "1", spec: Mapping[str, Any] | None = None,
            generation: int | None = 2, **status_changes: Any) -> dict[str, Any]:
    """A RecurringJob whose status plan() wrote for its current spec: nothing to do until LATER."""
    status: dict[str, Any] = {"observedGeneration": 2, "observedSchedule": "0 * * * * *|",
                              "scheduleFrom": "2024-03-10T06:00:00Z",
                              "nextScheduleTime": "2024-03-10T07:01:00Z", "active": []}
    for field, value in status_changes.items():
        if value is None:
            status.pop(field, None)
        else:
            status[field] = value
    metadata: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": rv}
    if generation is not None:
        metadata["generation"] = generation
    return {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob", "metadata": metadata,
            "spec": {"jobTemplate": TEMPLATE, **(spec or {"schedule": "0 * * * * *"})}, "status": status}


@pytest.mark.parametrize(("case", "rj", "expected"), [
    ("settled: waits for its cursor", settled(), LATER),
    ("settled, no generation in metadata", settled(generation=None), LATER),
    ("time zone part of observedSchedule matches", settled(spec=IN_UTC, observedSchedule="0 * * * * *|UTC"),
     LATER),
    ("overdue cursor: overdue since then", settled(nextScheduleTime="2024-03-10T07:00:10Z"), EARLIER),
    ("cursor exactly now", settled(nextScheduleTime="2024-03-10T07:00:30Z"), NOW),
    ("claimed Job to recover or book-keep", settled(active=[{"name": "a-1"}]), NOW),
    ("no status at all", {**settled(), "status": None}, NOW),
    ("empty status (never planned)", {**settled(), "status": {}}, NOW),
    ("no cursor", settled(nextScheduleTime=None), NOW),
    ("unreadable cursor", settled(nextScheduleTime="soon"), NOW),
    ("spec edited: generation not observed", settled(generation=3), NOW),
    ("schedule differs from the observed one", settled(observedSchedule="5 * * * * *|"), NOW),
    ("time zone differs from the observed one", settled(spec=IN_UTC), NOW),
    ("invalid spec (Ready=False)", settled(spec={"schedule": "0 * * * * *", "suspend": "yes"}), NOW),
    ("no spec", {**settled(), "spec": None}, NOW),
    ("a buffered occurrence waits to start", settled(bufferedOccurrences=["2024-03-10T07:00:00Z"]), NOW),
    ("a trigger in spec not yet recorded", settled(spec=WITH_TRIGGER), NOW),
    ("a recorded trigger is settled", settled(spec=WITH_TRIGGER, requests=[{"id": "t", "state": "Done"}]),
     LATER),
    ("a backfill with occurrences to go", settled(requests=[{"id": "b", "state": "Running",
                                                             "next": "2024-03-10T05:00:00Z"}]), NOW),
    ("a pending request", settled(requests=[{"id": "t", "state": "Pending"}]), NOW),
])
def test_initial_due(case: str, rj: Mapping[str, Any], expected: datetime) -> None:
    assert initial_due(rj, NOW) == expected, case


def test_start_plans_attention_first_most_overdue_first_and_the_rest_at_their_cursor() -> None:
    order: list[str] = []

    def plan(obj: Mapping[str, Any], jobs: Sequence[Any], now: datetime) -> Decision:
        order.append(obj["metadata"]["name"])
        return Decision(action="wait")

    async def scenario() -> int:
        scheduler, cache, _, _ = make(plan=plan, workers=1)
        wall = datetime.now(UTC)
        scheduler.now = lambda: wall
        at = {name: (wall + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
              for name, offset in (("hour", 3600), ("late", -30), ("later", -5))}
        never_planned = settled("fresh", generation=None, observedSchedule=None, nextScheduleTime=None)
        cache.put_recurringjob(never_planned)
        cache.put_recurringjob(settled("hour", nextScheduleTime=at["hour"]))
        cache.put_recurringjob(settled("later", nextScheduleTime=at["later"]))
        cache.put_recurringjob(settled("late", nextScheduleTime=at["late"]))
        scheduler.start()
        await asyncio.sleep(0.3)
        queued = scheduler.queue_size()
        await scheduler.stop()
        return queued

    queued = asyncio.run(scenario())
    assert order == ["late", "later", "fresh"]
    assert queued == 1  # "hour" waits for its cursor
