"""The verdict's judgement of run-now (trigger) and backfill requests.

Pure: no I/O, no clock. A trigger's Job is not an occurrence of the schedule: its scheduled time is
when the request was accepted, which for a schedule like `* * * * * *` is also a schedule time, so
trigger launches are told apart by their `trigger-kind` annotation and judged per request id:

- once per id: a second launch carrying the same `trigger-id` is a duplicate;
- `missed`: a trigger the harness requested that never launched;
- `spurious`: a trigger launch without an id or for an unknown RecurringJob, and, when the
  requests made are known, one whose id nobody requested.

A backfilled occurrence keeps its nominal time, so it *is* an occurrence: once per (RecurringJob,
time) holds for it as for any other, wherever the time lies. Each requested backfill adds the
schedule times of its range to what must have launched (by the backfill, or earlier by the
schedule itself).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recurringjob.evidence.verdict_audit import JudgedRecurringJob, JudgedRequest, Launch
from recurringjob.evidence.verdict_rules import Occurrence, launch_detail, occurrence_detail

TRIGGER = "trigger"
BACKFILL = "backfill"
TimesBetween = Callable[[JudgedRecurringJob, datetime, datetime], list[datetime]]


@dataclass
class RequestJudgement:
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)
    spurious: list[dict[str, Any]] = field(default_factory=list)
    judged: dict[str, int] = field(default_factory=dict)  # triggers, backfills, backfill_occurrences


def split_trigger_launches(launches: Sequence[Launch]) -> tuple[list[Launch], list[Launch]]:
    """(launches of schedule times: the schedule's and backfills', launches of trigger requests)."""
    occurrences = [launch for launch in launches if launch.trigger_kind != TRIGGER]
    triggers = [launch for launch in launches if launch.trigger_kind == TRIGGER]
    return occurrences, triggers


def judge_requests(
    trigger_launches: Sequence[Launch],
    by_occurrence: Mapping[Occurrence, Sequence[Launch]],
    known: Mapping[tuple[str, str], JudgedRecurringJob],
    requests: Sequence[JudgedRequest] | None,
    times_between: TimesBetween,
) -> RequestJudgement:
    """`requests`: what the harness asked for; None when nobody told (then only once per id)."""
    result = RequestJudgement()
    requested = {(r.namespace, r.name, r.id) for r in requests or () if r.kind == TRIGGER}
    by_id: dict[tuple[str, str, str], list[Launch]] = defaultdict(list)
    for launch in trigger_launches:
        key = (launch.namespace, launch.recurringjob or "", launch.trigger_id or "")
        why = None
        if (launch.namespace, launch.recurringjob or "") not in known:
            why = "unknown RecurringJob"
        elif not launch.trigger_id:
            why = "trigger Job without a trigger-id annotation"
        elif requests is not None and key not in requested:
            why = "no such trigger was requested"
        if why is not None:
            result.spurious.append(launch_detail(launch) | {"why": why})
            continue
        by_id[key].append(launch)
    for (namespace, name, request_id), found in sorted(by_id.items()):
        if len(found) > 1:
            result.duplicates.append({"namespace": namespace, "recurringjob": name, "trigger_id": request_id,
                                      "launches": [launch_detail(launch) for launch in found]})
    for namespace, name, request_id in sorted(requested - set(by_id)):
        result.missed.append({"namespace": namespace, "recurringjob": name, "trigger_id": request_id,
                              "why": "requested trigger never launched"})
    backfill_occurrences = 0
    backfills = [r for r in requests or () if r.kind == BACKFILL]
    for request in backfills:
        rj = known.get((request.namespace, request.name))
        if rj is None or request.start is None or request.end is None:
            continue
        for t in times_between(rj, request.start, request.end):
            backfill_occurrences += 1
            if not by_occurrence.get((request.namespace, request.name, t)):
                result.missed.append(occurrence_detail((request.namespace, request.name, t))
                                     | {"backfill_id": request.id, "why": "backfilled time never launched"})
    result.judged = {"triggers": len(requested), "backfills": len(backfills),
                     "backfill_occurrences": backfill_occurrences}
    return result
