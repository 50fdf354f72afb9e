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
    if not isinstance(status, Mapping) or status.get("active"):
        return now
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
