"""Schedule edits (issue 8, item 10): a respelling changes nothing; a real edit counts the backlog it
abandons as missed instead of dropping it silently."""

from __future__ import annotations

from typing import Any

import pytest
from planner_helpers import make_rj, utc
from recurringjob.core.planner import plan


def status_at(cursor: str, schedule: str, zone: str = "", **extra: Any) -> dict[str, Any]:
    return {"observedGeneration": 1, "scheduleFrom": "2024-01-01T00:00:00Z",
            "observedSchedule": f"{schedule}|{zone}", "nextScheduleTime": cursor, **extra}


@pytest.mark.parametrize(("old", "old_zone", "new", "new_zone"), [
    ("*/10 * * * *", "", "0/10 * * * *", None),
    ("*/10 * * * *", "", "  */10   *  * * * ", None),
    ("0 * * * *", "UTC", "0 * * * *", "Etc/UTC"),
    ("0 * * * *", "", "@hourly", None),
    ("0 9 * * mon-fri", "Europe/Berlin", "0 9 * * MON-FRI", "Europe/Berlin"),
])
def test_a_respelled_schedule_keeps_its_anchor_and_its_backlog(old: str, old_zone: str, new: str,
                                                               new_zone: str | None) -> None:
    rj = make_rj(old, status=status_at("2024-01-01T05:00:00Z", old, old_zone), timeZone=old_zone or None)
    rj["spec"]["schedule"] = new
    rj["spec"]["timeZone"] = new_zone
    due = plan(rj, [], utc("2024-01-01T09:00:30Z") if "mon" in old.lower() else utc("2024-01-01T05:00:30Z"))
    assert due.status is not None
    assert due.status["scheduleFrom"] == "2024-01-01T00:00:00Z"  # not re-anchored
    assert due.status["observedSchedule"] == f"{new}|{new_zone or ''}"
    assert due.missed == 0


def test_a_respelling_with_an_occurrence_due_still_launches_it() -> None:
    rj = make_rj("*/10 * * * *", status=status_at("2024-01-01T05:10:00Z", "*/10 * * * *"))
    rj["spec"]["schedule"] = "0/10 * * * *"
    decision = plan(rj, [], utc("2024-01-01T05:10:02Z"))
    assert decision.action == "launch" and decision.scheduled_time == utc("2024-01-01T05:10:00Z")


def test_a_real_edit_counts_the_abandoned_backlog_as_missed() -> None:
    # operator down since 05:00; three hourly occurrences (05:00, 06:00, 07:00) due and undecided
    rj = make_rj("0 * * * *", status=status_at("2024-01-01T05:00:00Z", "0 * * * *", missedOccurrences=2))
    rj["spec"]["schedule"] = "30 * * * *"
    decision = plan(rj, [], utc("2024-01-01T07:10:00Z"))
    assert decision.action == "wait" and decision.missed == 3
    assert decision.status is not None
    assert decision.status["missedOccurrences"] == 5
    assert decision.status["scheduleFrom"] == "2024-01-01T07:10:00Z"
    assert decision.to_json()["nextScheduleTime"] == "2024-01-01T07:30:00Z"


def test_an_edit_with_nothing_due_counts_nothing() -> None:
    rj = make_rj("0 * * * *", status=status_at("2024-01-01T08:00:00Z", "0 * * * *"))
    rj["spec"]["schedule"] = "30 * * * *"
    assert plan(rj, [], utc("2024-01-01T07:10:00Z")).missed == 0
