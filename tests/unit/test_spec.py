"""core/spec.py: defaults of the issue-9 fields, and bad input refused with a message naming the
field (the planner turns it into Ready=False/InvalidSpec)."""

from __future__ import annotations

from typing import Any

import pytest
from planner_helpers import make_rj, utc
from recurringjob.core.planner import plan
from recurringjob.core.spec import InvalidSpec, read_spec


def test_defaults() -> None:
    spec = read_spec(make_rj())
    assert (spec.jitter_seconds, spec.max_buffered, spec.max_runs) == (0, 100, None)
    assert spec.suspend_on_failure is False
    assert spec.stream_schedules == (("0 * * * *", None),)
    assert spec.observed_schedule == "0 * * * *|"  # unchanged form: existing objects are not re-anchored
    assert spec.triggers == () and spec.backfills == ()


def test_schedules_replace_schedule_and_inherit_the_zone() -> None:
    rj = make_rj(timeZone="Europe/Berlin", schedules=[{"schedule": "0 9 * * *"},
                                                      {"schedule": "0 9 * * *", "timeZone": "UTC"}],
                 excludeSchedules=[{"schedule": "* * 25 12 *"}])
    del rj["spec"]["schedule"]
    spec = read_spec(rj)
    assert spec.stream_schedules == (("0 9 * * *", "Europe/Berlin"), ("0 9 * * *", "UTC"))
    assert spec.exclude_schedules == (("* * 25 12 *", "Europe/Berlin"),)
    assert spec.observed_schedule == "0 9 * * *|Europe/Berlin\n0 9 * * *|UTC\n!* * 25 12 *|Europe/Berlin"


@pytest.mark.parametrize(("fields", "message"), [
    ({"schedules": [{"schedule": "0 9 * * *"}]}, "spec.schedule and spec.schedules are both set"),
    ({"startTime": "2026-02-01T00:00:00Z", "endTime": "2026-01-01T00:00:00Z"},
     "spec.endTime (2026-01-01T00:00:00Z) must be after spec.startTime (2026-02-01T00:00:00Z)"),
    ({"startTime": "tomorrow"}, "spec.startTime must be an RFC 3339 time"),
    ({"concurrencyPolicy": "Queue"},
     "spec.concurrencyPolicy must be one of Allow, Forbid, Replace, BufferOne, BufferAll, got 'Queue'"),
    ({"triggers": [{"id": "a", "overlapPolicy": "Sometimes"}]},
     "spec.triggers[0].overlapPolicy must be one of"),
    ({"triggers": [{"id": "Bad_Id"}]}, "spec.triggers[0].id must be lowercase letters"),
    ({"triggers": [{"id": "x"}],
      "backfills": [{"id": "x", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}]},
     "spec.backfills[0].id 'x' is used"),
    ({"backfills": [{"id": "b", "from": "2026-01-01T00:00:00Z"}]},
     "spec.backfills[0] needs both from and to"),
    ({"jitterSeconds": -1}, "spec.jitterSeconds must be an integer >= 0"),
    ({"maxRuns": 0}, "spec.maxRuns must be an integer >= 1"),
    ({"maxBuffered": 1001}, "spec.maxBuffered must be at most 1000"),
    ({"suspendOnFailure": "yes"}, "spec.suspendOnFailure must be true or false"),
])
def test_bad_input_names_the_field(fields: dict[str, Any], message: str) -> None:
    rj = make_rj(**fields)
    with pytest.raises(InvalidSpec) as raised:
        read_spec(rj)
    assert message in str(raised.value)
    decision = plan(rj, [], utc("2024-01-01T00:30:00Z"))
    assert decision.action == "wait" and decision.job is None and decision.status is not None
    ready = next(c for c in decision.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec") and message in ready["message"]


def test_neither_schedule_nor_schedules() -> None:
    rj = make_rj()
    del rj["spec"]["schedule"]
    with pytest.raises(InvalidSpec, match=r"spec.schedule \(or spec.schedules\) is required"):
        read_spec(rj)
    rj["spec"]["schedules"] = []
    with pytest.raises(InvalidSpec, match=r"spec\.schedules is empty"):
        read_spec(rj)
