"""Reading audit lines for the verdict: Job lifetimes and deletions by others."""

from __future__ import annotations

from typing import Any

from recurringjob.evidence.verdict_audit import job_lifetimes, outside_deletions


def line(ts: float, verb: str, name: str, client: str = "replica-1", code: int | None = 201,
         **extra: Any) -> dict[str, Any]:
    entry = {"ts": ts, "verb": verb, "group": "batch", "version": "v1", "resource": "jobs",
             "subresource": None, "namespace": "ns", "name": name, "client": client, **extra}
    if code is not None:
        entry["code"] = code
    if verb == "create":
        entry["labels"] = {"recurringjob.dev/name": "rj"}
    return entry


def test_a_name_created_again_after_its_removal_starts_a_new_life() -> None:
    audit = [
        line(1.0, "create", "job"),
        line(2.0, "update", "job", "system:job-controller", 200, subresource="status", event="finished"),
        line(3.0, "delete", "job", "system:storage", 200, event="removed"),
        line(4.0, "create", "job", "replica-2"),
        line(4.5, "create", "job", "replica-2", code=409),  # refused: no new life
    ]
    lives = job_lifetimes(audit)
    assert [(life.start, life.end, life.ended_by, life.recurringjob) for life in lives] == [
        (1.0, 2.0, "finished", "rj"),
        (4.0, None, None, "rj"),
    ]


def test_lines_are_taken_in_server_time_order() -> None:
    # Several audit files are merged one after another; their lines still interleave by `ts`.
    audit = [
        line(2.0, "update", "job", "system:job-controller", 200, event="stopped"),
        line(1.0, "create", "job"),
    ]
    (life,) = job_lifetimes(audit)
    assert (life.end, life.ended_by) == (2.0, "stopped")


def test_a_delete_ends_a_run_only_when_the_predicate_says_so() -> None:
    audit = [line(1.0, "create", "job"), line(2.0, "delete", "job", "replica-1", 200)]
    assert job_lifetimes(audit)[0].end is None
    ended = job_lifetimes(audit, lambda ns, rj, client: (ns, rj, client) == ("ns", "rj", "replica-1"))
    assert (ended[0].end, ended[0].ended_by) == (2.0, "deleted by replica-1")


def test_outside_deletions_leave_out_the_operator_failures_and_storage_removals() -> None:
    audit = [
        line(1.0, "delete", "a", "chaos-user", 200),
        line(2.0, "delete", "b", "replica-1", 200),  # the operator: pruning, Replace
        line(3.0, "delete", "c", "chaos-user", 404),  # nothing was deleted
        line(4.0, "delete", "d", "system:storage", 200, event="removed"),
        line(5.0, "delete", "e", "system:ttl-after-finished-controller", None, event="deleted"),
    ]
    deletions = outside_deletions(audit, {"replica-1"})
    assert [(d.name, d.client) for d in deletions] == [
        ("a", "chaos-user"),
        ("e", "system:ttl-after-finished-controller"),
    ]
