"""When a new leader should first look at each RecurringJob. Pure: `now` is a parameter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recurringjob.core.planner_status import InvalidSpec, parse_time, read_spec


def initial_due(rj: Mapping[str, Any], now: datetime) -> datetime:
    """When a new leader should first plan `rj`: `now` (or earlier) if it may need attention, else
    at its `status.nextScheduleTime`.

    Only orders work: plan() decides everything, and any watch event enqueues its RecurringJob at
    once anyway. A time before `now` means overdue since then, so the most overdue run first.
    Attention = possibly something to recover or book-keep (`status.active` non-empty), or a
    status plan() has not written for this spec (none, no cursor, generation or schedule differing).
    """
    status = rj.get("status")
    if not isinstance(status, Mapping) or status.get("active") or status.get("bufferedOccurrences"):
        return now
    if _requests_waiting(rj, status):
        return now  # a trigger or backfill a deposed leader left half done: no event will wake it
    cursor = parse_time(status.get("nextScheduleTime"))
    if cursor is None:
        return now
    metadata = rj.get("metadata")
    generation = metadata.get("generation") if isinstance(metadata, Mapping) else None
    if generation is not None and status.get("observedGeneration") != generation:
        return now
    try:
        observed_schedule = read_spec(rj).observed_schedule
    except InvalidSpec:
        return now
    if status.get("observedSchedule") != observed_schedule:
        return now
    return cursor


def _requests_waiting(rj: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """A request in spec not yet in status.requests, or one still Pending / with occurrences to go."""
    recorded = status.get("requests")
    entries = [e for e in recorded if isinstance(e, Mapping)] if isinstance(recorded, list) else []
    if any(e.get("state") == "Pending" or (e.get("state") == "Running" and e.get("next")) for e in entries):
        return True
    spec = rj.get("spec")
    known = {e.get("id") for e in entries}
    for key in ("triggers", "backfills"):
        wanted = spec.get(key) if isinstance(spec, Mapping) else None
        if any(isinstance(e, Mapping) and e.get("id") not in known for e in wanted or []):
            return True
    return False
