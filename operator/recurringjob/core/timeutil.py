"""Time helpers shared by the scheduling core: RFC3339 in UTC, whole epoch seconds, Go durations.

Kubernetes timestamps (metav1.Time) carry whole seconds, so every time the planner stores is
truncated to the second and formatted as `YYYY-MM-DDTHH:MM:SSZ`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC3339 timestamp ('2024-03-10T07:00:00Z', offsets and fractions allowed) to UTC.

    Raises ValueError with a message naming the expected format.
    """
    if not isinstance(text, str) or not _RFC3339.match(text.strip()):
        raise ValueError(f"{text!r} is not an RFC3339 time; expected e.g. 2024-03-10T07:00:00Z")
    value = text.strip().replace("z", "Z").replace("t", "T").replace(" ", "T")
    # fromisoformat accepts at most 6 fraction digits: cut nanoseconds, they never matter here
    match = re.search(r"\.(\d+)", value)
    if match and len(match.group(1)) > 6:
        value = value[: match.start(1) + 6] + value[match.end(1) :]
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid RFC3339 time: {exc}") from None
    return parsed.astimezone(UTC)


def format_rfc3339(t: datetime) -> str:
    """Format as RFC3339 UTC with whole seconds ('2024-03-10T07:00:00Z'); the fraction is dropped."""
    return to_utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_utc(t: datetime) -> datetime:
    """An aware UTC datetime; naive input is taken to be UTC already."""
    if t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


def to_epoch_seconds(t: datetime) -> int:
    """Whole seconds since the epoch, rounded down (exact: no float arithmetic)."""
    return (to_utc(t) - EPOCH) // _SECOND


def from_epoch_seconds(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def truncate_to_second(t: datetime) -> datetime:
    return from_epoch_seconds(to_epoch_seconds(t))


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """Parse a Go duration ('90s', '1h30m', '2m', '1.5h') into seconds.

    Raises ValueError naming the accepted units.
    """
    value = text.strip() if isinstance(text, str) else ""
    position, total = 0, 0.0
    while position < len(value):
        match = _DURATION_PART.match(value, position)
        if not match:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not value or position != len(value):
        raise ValueError(
            f"{text!r} is not a duration; use a number with a unit h, m or s, e.g. 90s, 1h30m, 2m"
        )
    return total
