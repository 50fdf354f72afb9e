"""concurrencyPolicy BufferOne / BufferAll: an occurrence that comes due while a Job runs waits in
status.bufferedOccurrences (nominal times, oldest first) instead of being skipped, and starts as
soon as nothing runs. BufferOne holds at most one (Temporal's rule: a further one is skipped),
BufferAll up to maxBuffered. Buffering is written in the claim that moves the cursor past the
occurrence; starting it is a claim that removes it from the buffer and adds its Job to active."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recurringjob.core.spec import Spec, parse_time
from recurringjob.core.timeutil import format_rfc3339


def buffered(status: dict[str, Any]) -> list[datetime]:
    value = status.get("bufferedOccurrences")
    times = [parse_time(v) for v in value] if isinstance(value, list) else []
    return sorted(t for t in times if t is not None)


def capacity(spec: Spec) -> int:
    return 1 if spec.concurrency_policy == "BufferOne" else spec.max_buffered


def add(status: dict[str, Any], spec: Spec, t: datetime) -> bool:
    """Buffer occurrence t; False when the buffer is full (the occurrence is skipped)."""
    times = buffered(status)
    if len(times) >= capacity(spec):
        return False
    status["bufferedOccurrences"] = [format_rfc3339(x) for x in sorted(set(times) | {t})]
    return True


def take_oldest(status: dict[str, Any]) -> datetime | None:
    """Remove and return the oldest buffered occurrence."""
    times = buffered(status)
    if not times:
        return None
    rest = times[1:]
    if rest:
        status["bufferedOccurrences"] = [format_rfc3339(x) for x in rest]
    else:
        status.pop("bufferedOccurrences", None)
    return times[0]
