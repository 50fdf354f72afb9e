"""The verdict's human-readable forms show the new counts and their evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from recurringjob.evidence.verdict import JudgedRecurringJob, compute_verdict
from recurringjob.evidence.verdict_report import plain, render, summary_rows
from rich.console import Console

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def create(ts: float, name: str, scheduled: str = "2030-01-01T12:00:00Z") -> dict[str, object]:
    return {"ts": ts, "verb": "create", "group": "batch", "version": "v1", "resource": "jobs",
            "subresource": None, "namespace": "ns", "name": name, "code": 201, "client": "replica-1",
            "labels": {"recurringjob.dev/name": "rj"},
            "annotations": {"recurringjob.dev/scheduled-time": scheduled}}


def test_every_new_judgement_has_a_row_and_evidence_lines() -> None:
    audit = [
        create(T0 - 2.0, "rj-a"),  # early
        {"ts": T0 + 1.0, "verb": "delete", "group": "batch", "version": "v1", "resource": "jobs",
         "subresource": None, "namespace": "ns", "name": "rj-a", "code": 200, "client": "chaos-user"},
        create(T0 + 20.0, "rj-b"),  # re-created after the deletion, late beyond 10 s, overlapping rj-a
    ]
    rj = JudgedRecurringJob("ns", "rj", "0 * * * * *", concurrency_policy="Forbid",
                            starting_deadline_seconds=10)
    verdict = compute_verdict(audit, [rj], T0, T0).to_json()
    rows = dict(summary_rows(verdict))
    assert rows["early (before T)"] == "1"
    assert rows["late beyond deadline"] == "1"
    assert rows["overlaps (Forbid/Replace)"] == "1"
    assert rows["re-created after deletion"] == "1"
    assert rows["Job deletions by others"] == "chaos-user: 1"
    text = plain(verdict)
    for evidence in ("early rj 2030-01-01T12:00:00Z by replica-1: 2.000s before T",
                     "late rj 2030-01-01T12:00:00Z by replica-1: 20.000s after T, deadline 10s",
                     "overlap (Forbid) ns/rj-b created 12:00:20.000 while rj-a ran",
                     "re-created ns/rj 2030-01-01T12:00:00Z after chaos-user deleted rj-a at 12:00:01.000"):
        assert evidence in text
    console = Console(width=110, record=True)
    console.print(render(verdict))
    assert "re-created after deletion" in console.export_text()


def test_a_clean_verdict_shows_zeros_and_no_evidence() -> None:
    verdict = compute_verdict([create(T0 + 0.1, "rj-a")], [JudgedRecurringJob("ns", "rj", "0 * * * * *")],
                              T0, T0).to_json()
    rows = dict(summary_rows(verdict))
    assert rows["verdict"] == "CLEAN"
    assert [rows[key] for key in ("early (before T)", "late beyond deadline", "overlaps (Forbid/Replace)",
                                  "re-created after deletion")] == ["0", "0", "0", "0"]
    assert rows["excused misses"] == "none"
    assert "early" not in plain(verdict).split("excused misses")[1]


def test_both_kinds_of_wrong_final_status_are_shown() -> None:
    mismatches = [
        {"namespace": "ns", "recurringjob": "a", "lastSuccessfulTime": None,
         "newest_successful_completion": "2030-01-01T12:00:05Z"},
        {"namespace": "ns", "recurringjob": "b", "request": "t-1", "kind": "trigger",
         "problem": "result 'missed', not succeeded"},
    ]
    verdict = compute_verdict([create(T0 + 0.1, "rj-a")], [JudgedRecurringJob("ns", "rj", "0 * * * * *")],
                              T0, T0, status_mismatches=mismatches).to_json()
    text = plain(verdict)
    assert "status ns/a: lastSuccessfulTime None != newest completion 2030-01-01T12:00:05Z" in text
    assert "status ns/b: trigger request t-1: result 'missed', not succeeded" in text
    Console(width=110, record=True).print(render(verdict))
