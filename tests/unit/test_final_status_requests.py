"""The chaos run's final check of request outcomes (status.requests) against the requests made."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from recurringjob.evidence.final_status import request_mismatches
from recurringjob.evidence.verdict import JudgedRequest

T = datetime(2030, 1, 1, tzinfo=UTC)
TRIGGER = JudgedRequest("ns", "a", "trigger", "t-1")
BACKFILL = JudgedRequest("ns", "a", "backfill", "bf-1", T, T)


def rj(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "a"}, "status": {"requests": list(entries)}}


def test_requests_done_as_asked_are_no_mismatch() -> None:
    done = rj({"id": "t-1", "kind": "trigger", "state": "Done", "result": "succeeded"},
              {"id": "bf-1", "kind": "backfill", "state": "Done", "total": 20, "launched": 19,
               "alreadyRan": 1, "skipped": 0})
    assert request_mismatches([done], [TRIGGER, BACKFILL]) == []


@pytest.mark.parametrize(("entry", "problem"), [
    (None, "not in status.requests"),
    ({"id": "t-1", "state": "Running"}, "state 'Running', not Done"),
    ({"id": "t-1", "state": "Done", "result": "missed"}, "result 'missed', not succeeded"),
])  # fmt: skip
def test_a_trigger_without_its_success_recorded_is_a_mismatch(entry: dict[str, Any] | None,
                                                               problem: str) -> None:
    found = request_mismatches([rj(*([entry] if entry else []))], [TRIGGER])
    assert [m["problem"] for m in found] == [problem]
    assert found[0]["request"] == "t-1"


@pytest.mark.parametrize("counts", [
    {"total": 20, "launched": 18, "alreadyRan": 1, "skipped": 0},  # one time neither launched nor found
    {"total": 20, "launched": 19, "alreadyRan": 0, "skipped": 1},  # Allow never skips
])  # fmt: skip
def test_a_backfill_that_did_not_cover_its_range_is_a_mismatch(counts: dict[str, int]) -> None:
    entry = {"id": "bf-1", "kind": "backfill", "state": "Done"} | counts
    assert [m["request"] for m in request_mismatches([rj(entry)], [BACKFILL])] == ["bf-1"]
