"""The verdict's timing, concurrency and deletion judgements, on synthetic audit lines.

Table-driven: each case is an audit log and the counts the verdict must give for it. Every
judgement has a violating case (must be counted, verdict not clean) next to the legitimate case
closest to it (must not be counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from recurringjob.evidence.verdict import Fault, JudgedRecurringJob, compute_verdict

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
EVERY_2S = "*/2 * * * * *"


def at(seconds: float) -> float:
    return T0.timestamp() + seconds


def create(rj: str, occurrence: float, ts: float, client: str = "replica-1", code: int = 201,
           name: str | None = None) -> dict[str, Any]:
    """A Job create for the occurrence `occurrence` seconds after T0, seen at audit time `ts`."""
    scheduled = T0 + timedelta(seconds=occurrence)
    return {
        "ts": ts, "verb": "create", "group": "batch", "version": "v1", "resource": "jobs",
        "subresource": None, "namespace": "default",
        "name": name or f"{rj}-{int(scheduled.timestamp())}", "code": code, "client": client,
        "labels": {"recurringjob.dev/name": rj},
        "annotations": {"recurringjob.dev/scheduled-time": scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }  # fmt: skip


def job_name(rj: str, occurrence: float) -> str:
    return f"{rj}-{int(T0.timestamp() + occurrence)}"


def controller(event: str, rj: str, occurrence: float, ts: float) -> dict[str, Any]:
    """The dev cluster's own lines: a Job finished, was stopped, was removed from storage."""
    verb, client, subresource = {
        "finished": ("update", "system:job-controller", "status"),
        "stopped": ("update", "system:job-controller", None),
        "removed": ("delete", "system:storage", None),
        "ttl": ("delete", "system:ttl-after-finished-controller", None),
    }[event]
    line = {
        "ts": ts, "verb": verb, "group": "batch", "version": "v1", "resource": "jobs",
        "subresource": subresource, "namespace": "default", "name": job_name(rj, occurrence), "code": 200,
        "client": client, "event": "deleted" if event == "ttl" else event,
    }  # fmt: skip
    if event == "finished":
        line["outcome"] = "Complete"
    return line


def delete(rj: str, occurrence: float, ts: float, client: str, code: int = 200) -> dict[str, Any]:
    return {
        "ts": ts, "verb": "delete", "group": "batch", "version": "v1", "resource": "jobs",
        "subresource": None, "namespace": "default",
        "name": job_name(rj, occurrence), "code": code, "client": client,
    }  # fmt: skip


@dataclass
class Case:
    """`audit` judged for occurrences in [window[0], window[1]] seconds after T0."""

    audit: list[dict[str, Any]]
    expected: dict[str, int]
    policy: str = "Allow"
    deadline: int | None = None
    window: tuple[float, float] = (0.0, 0.0)
    faults: list[Fault] = field(default_factory=list)


def launched_every_2s(rj: str, count: int, delay: float = 0.05) -> list[dict[str, Any]]:
    return [create(rj, 2 * i, at(2 * i + delay)) for i in range(count)]


CASES: dict[str, Case] = {
    # --- early: the audit ts (server clock) before the scheduled time -----------------------------
    "launch-before-its-time-is-early": Case([create("a", 0, at(-0.2))], {"early": 1}),
    "launch-exactly-at-its-time-is-not-early": Case([create("a", 0, at(0.0))], {"early": 0}),
    "launch-a-minute-early-from-a-clock-ahead": Case(
        [create("a", 0, at(0.01)), create("a", 180, at(0.02))], {"early": 1}, window=(0, 0)
    ),
    # --- late beyond startingDeadlineSeconds ------------------------------------------------------
    "launch-past-the-deadline-is-late": Case([create("a", 0, at(10.5))], {"late_beyond_deadline": 1},
                                             deadline=10),
    "launch-within-the-deadline-is-fine": Case([create("a", 0, at(9.9))], {"late_beyond_deadline": 0},
                                               deadline=10),
    "no-deadline-no-lateness-limit": Case([create("a", 0, at(500.0))], {"late_beyond_deadline": 0}),
    # --- Forbid: no two unfinished Jobs at once ---------------------------------------------------
    "forbid-create-while-the-previous-runs-overlaps": Case(
        [create("a", 0, at(0.05)), create("a", 2, at(2.05)), controller("finished", "a", 0, at(3.05))],
        {"overlaps": 1}, policy="Forbid", window=(0, 2),
    ),
    "forbid-create-after-the-previous-finished": Case(
        [create("a", 0, at(0.05)), controller("finished", "a", 0, at(1.05)), create("a", 2, at(2.05))],
        {"overlaps": 0}, policy="Forbid", window=(0, 2),
    ),
    "forbid-create-after-the-previous-was-stopped": Case(
        [create("a", 0, at(0.05)), controller("stopped", "a", 0, at(1.5)), create("a", 2, at(2.05))],
        {"overlaps": 0}, policy="Forbid", window=(0, 2),
    ),
    "forbid-create-after-the-previous-was-removed": Case(
        [create("a", 0, at(0.05)), controller("removed", "a", 0, at(1.5)), create("a", 2, at(2.05))],
        {"overlaps": 0}, policy="Forbid", window=(0, 2),
    ),
    "forbid-a-job-never-seen-ending-blocks-every-later-one": Case(
        launched_every_2s("a", 3), {"overlaps": 2}, policy="Forbid", window=(0, 4),
    ),
    "forbid-an-operator-delete-does-not-end-a-run": Case(
        [create("a", 0, at(0.05)), delete("a", 0, at(1.9), "replica-1"), create("a", 2, at(2.05))],
        {"overlaps": 1}, policy="Forbid", window=(0, 2),
    ),
    "allow-may-overlap": Case(launched_every_2s("a", 3), {"overlaps": 0}, window=(0, 4)),
    # --- Replace: the operator's DELETE ends the old Job's turn -----------------------------------
    "replace-deletes-then-creates": Case(
        [create("a", 0, at(0.05)), delete("a", 0, at(2.02), "replica-1"), create("a", 2, at(2.05))],
        {"overlaps": 0}, policy="Replace", window=(0, 2),
    ),
    "replace-creates-without-deleting-overlaps": Case(
        [create("a", 0, at(0.05)), create("a", 2, at(2.05)), delete("a", 0, at(2.1), "replica-1")],
        {"overlaps": 1}, policy="Replace", window=(0, 2),
    ),
    "replace-a-failed-delete-does-not-end-the-run": Case(
        [create("a", 0, at(0.05)), delete("a", 0, at(2.02), "replica-1", code=500), create("a", 2, at(2.05))],
        {"overlaps": 1}, policy="Replace", window=(0, 2),
    ),
    "replace-a-users-delete-is-not-the-operators": Case(
        [create("a", 0, at(0.05)), delete("a", 0, at(2.02), "chaos-user"), create("a", 2, at(2.05))],
        {"overlaps": 1}, policy="Replace", window=(0, 2),
    ),
    # --- an occurrence whose Job someone else deleted is not launched again -----------------------
    "deleted-by-hand-and-created-again": Case(
        [create("a", 0, at(0.05)), delete("a", 0, at(0.5), "chaos-user"), create("a", 0, at(0.7))],
        {"recreated_after_deletion": 1, "duplicates": 1},
    ),
    "deleted-by-ttl-and-created-again-under-another-name": Case(
        [create("a", 0, at(0.05)), controller("finished", "a", 0, at(1.05)),
         controller("ttl", "a", 0, at(1.06)), create("a", 0, at(3.0), client="replica-2", name="a-other")],
        {"recreated_after_deletion": 1, "duplicates": 1},
    ),
    "deleted-by-hand-and-left-alone": Case(
        [create("a", 0, at(0.05)), delete("a", 0, at(0.5), "chaos-user"), create("a", 2, at(2.05))],
        {"recreated_after_deletion": 0, "duplicates": 0}, window=(0, 2),
    ),
    "a-failed-delete-deletes-nothing": Case(
        [create("a", 0, at(0.05)), delete("a", 0, at(0.5), "chaos-user", code=403),
         create("a", 0, at(0.7), code=409)],
        {"recreated_after_deletion": 0, "duplicates": 0},
    ),
    "the-operators-own-delete-is-not-an-outside-deletion": Case(
        [create("a", 0, at(0.05)), delete("a", 0, at(0.5), "replica-1"), create("a", 0, at(0.7))],
        {"recreated_after_deletion": 0, "duplicates": 1},
    ),
    # --- misses: Forbid skips are allowed while a Job of it runs, not once it is stuck ------------
    "forbid-skips-while-a-job-runs": Case(
        [create("a", 0, at(0.05)), controller("finished", "a", 0, at(3.0)), create("a", 4, at(4.05)),
         controller("finished", "a", 4, at(7.0))],
        {"missed": 0, "overlaps": 0}, policy="Forbid", window=(0, 6),
    ),
    "forbid-stuck-long-after-the-last-job-finished": Case(
        [create("a", 0, at(0.05)), controller("finished", "a", 0, at(1.0))],
        {"missed": 8}, policy="Forbid", window=(0, 20),  # 6 .. 20: more than 5 s after the finish
    ),
    # catching up after an outage: occurrence 0 runs late (10-13 s); 2..12 came due meanwhile and
    # were decided while it ran (before 14 was launched): Forbid skips them, though nothing ran at T
    "forbid-catching-up-skips-what-came-due-while-an-older-job-ran": Case(
        [create("a", 0, at(10.05)), controller("finished", "a", 0, at(13.0)), create("a", 14, at(14.05)),
         controller("finished", "a", 14, at(17.0))],
        {"missed": 0, "overlaps": 0}, policy="Forbid", window=(0, 14),
    ),
    "forbid-catching-up-then-stuck-is-still-missed": Case(
        [create("a", 0, at(10.05)), controller("finished", "a", 0, at(13.0)), create("a", 40, at(40.05)),
         controller("finished", "a", 40, at(43.0))],
        # 18 .. 34: decided long after 0 finished (36, 38: 40's Job starts within 5 s of them)
        {"missed": 9}, policy="Forbid", window=(0, 40),
    ),
    "allow-never-skips": Case(
        [create("a", 0, at(0.05)), controller("finished", "a", 0, at(3.0))], {"missed": 1}, window=(0, 2),
    ),
    # --- misses of deadline RecurringJobs: excused only if the deadline passed in the dark --------
    "deadline-passed-while-no-replica-could-act": Case(
        [], {"missed": 0}, deadline=10, window=(2, 2), faults=[Fault("kill-leader", at(2.5), at(6.0))],
    ),
    "deadline-window-starts-before-the-fault": Case(
        [], {"missed": 1}, deadline=10, window=(0, 0), faults=[Fault("kill-leader", at(2.5), at(6.0))],
    ),
    "deadline-outlasts-the-fault": Case(
        [], {"missed": 1}, deadline=30, window=(2, 2), faults=[Fault("kill-leader", at(2.5), at(6.0))],
    ),
    "a-fault-that-lets-replicas-act-excuses-nothing": Case(
        [], {"missed": 1}, deadline=10, window=(2, 2), faults=[Fault("watch-drops", at(2.5), at(6.0))],
    ),
    "a-fault-not-injected-excuses-nothing": Case(
        [], {"missed": 1}, deadline=10, window=(2, 2),
        faults=[Fault("kill-leader", at(2.5), None, None, "not injected: no live leader")],
    ),
    "without-a-deadline-every-miss-counts": Case(
        [], {"missed": 1}, window=(2, 2), faults=[Fault("kill-leader", at(2.5), at(6.0))],
    ),
}  # fmt: skip

COUNTS = ("early", "late_beyond_deadline", "overlaps", "recreated_after_deletion", "duplicates", "missed")


@pytest.mark.parametrize("name", list(CASES))
def test_judgement(name: str) -> None:
    case = CASES[name]
    rj = JudgedRecurringJob("default", "a", EVERY_2S, concurrency_policy=case.policy,
                            starting_deadline_seconds=case.deadline)
    verdict = compute_verdict(case.audit, [rj], at(case.window[0]), at(case.window[1]), case.faults,
                              dark_grace=7.0)
    counts = {key: getattr(verdict, key) for key in case.expected}
    assert counts == case.expected, verdict.reasons
    violations = {key: getattr(verdict, key) for key in COUNTS}
    assert verdict.clean == (not any(violations.values()) and verdict.spurious == 0), verdict.reasons


def test_each_new_judgement_has_its_reason_and_details() -> None:
    audit = [
        create("a", 0, at(-1.0)),  # early
        create("a", 2, at(14.0)),  # late beyond a 10 s deadline, and overlapping the first (Forbid)
        delete("a", 2, at(15.0), "chaos-user"),
        create("a", 2, at(15.5), name="a-again"),  # re-created after a deletion by hand
    ]
    rj = JudgedRecurringJob("default", "a", EVERY_2S, concurrency_policy="Forbid",
                            starting_deadline_seconds=10)
    verdict = compute_verdict(audit, [rj], at(0), at(2))
    assert not verdict.clean
    assert (verdict.early, verdict.late_beyond_deadline, verdict.recreated_after_deletion) == (1, 2, 1)
    assert verdict.overlaps == 2
    assert verdict.early_details[0]["early_by_s"] == 1.0
    assert verdict.late_details[0]["deadline_s"] == 10
    assert verdict.overlap_details[0]["while_running"][0]["job"] == job_name("a", 0)
    assert verdict.recreated_details[0]["deleted"]["client"] == "chaos-user"
    assert verdict.deletions_by_others == {"chaos-user": 1}
    joined = "; ".join(verdict.reasons)
    for words in ("before the scheduled time", "startingDeadlineSeconds", "Forbid/Replace",
                  "deleted by someone"):
        assert words in joined


def test_excused_misses_are_counted_apart() -> None:
    rj = JudgedRecurringJob("default", "a", EVERY_2S, concurrency_policy="Forbid")
    audit = [create("a", 0, at(0.05)), controller("finished", "a", 0, at(3.0))]
    verdict = compute_verdict(audit, [rj], at(0), at(2))
    assert verdict.clean and verdict.missed == 0
    assert verdict.excused_misses == {"Forbid: a Job of it was running": 1}
