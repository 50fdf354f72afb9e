"""One key per occurrence stream, so that an edit that only respells a schedule changes nothing.

Pure. `canonical_schedule_key(schedule, timeZone)`: equal keys imply equal occurrences.
"""

from __future__ import annotations

import re

from recurringjob.core.cron import _NAMES, Schedule, ScheduleError

# Names of the zone with offset 0 forever (tzdata links and equivalents): one occurrence stream.
_UTC_ALIASES = frozenset({
    "UTC", "Etc/UTC", "UCT", "Etc/UCT", "Zulu", "Etc/Zulu", "Universal", "Etc/Universal", "GMT", "Etc/GMT",
    "GMT0", "Etc/GMT0", "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich",
})
_FIELD_BOUNDS = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "month": (1, 12)}
_PLAIN_FIELD = re.compile(r"^[0-9*?/,-]*$")


def canonical_schedule_key(schedule: str, time_zone: str | None) -> str:
    """A key naming the occurrence stream of (schedule, timeZone): equal keys, equal occurrences.

    Spellings of the same stream share a key: whitespace, name case, names vs numbers, `*/10` vs
    `0/10` vs a list, `?` vs `*`, macros vs their expansion, 5 fields vs a leading `0` seconds
    field, and the zero-offset zone's aliases (None and "" mean UTC, as in `Schedule.parse`). The
    Vixie DST class (fixed-time or wildcard) is part of the key outside zero-offset zones, since
    it changes the stream there. Never raises: a schedule that does not parse keys by its
    whitespace-normalised text, so editing it still changes the key.
    """
    zone_name = time_zone or "UTC"
    zone_key = "UTC" if zone_name in _UTC_ALIASES else zone_name
    try:
        parsed = Schedule.parse(schedule, time_zone)
    except ScheduleError:
        text = " ".join(schedule.split()) if isinstance(schedule, str) else repr(schedule)
        return f"invalid:{text}|{zone_key}"
    if parsed.every_seconds is not None:
        return f"every:{parsed.every_seconds}s"  # elapsed time: the zone plays no part
    assert parsed.cron is not None and parsed.prototype is not None
    fields = parsed.cron.split()
    dst_class = "" if zone_key == "UTC" else ("|fixed" if parsed.is_fixed_time else "|wildcard")
    if not all(_PLAIN_FIELD.match(_numbered(text)) for text in fields):
        # L, W, # and friends: no arithmetic here, the normalised text is the key
        return f"cron-text:{' '.join(_numbered(text) for text in fields)}{dst_class}|{zone_key}"
    expanded = list(parsed.prototype.expanded)
    if parsed.has_seconds:
        expanded = expanded[-1:] + expanded[:-1]  # croniter keeps the seconds field last
    else:
        expanded = [[0], *expanded]
    second, minute, hour, day, month, weekday = expanded
    parts = [_field_key(second, "second"), _field_key(minute, "minute"), _field_key(hour, "hour"),
             _field_key(day, None), _field_key(month, "month"), _field_key(weekday, None)]
    return f"cron:{' '.join(parts)}{dst_class}|{zone_key}"


def _numbered(text: str) -> str:
    """A field with month and weekday names replaced by their numbers, upper-cased."""
    def number(match: re.Match[str]) -> str:
        name = match.group(0).upper()
        return str(_NAMES.get(name, name))

    return re.sub(r"[A-Za-z]{3}", number, text).upper()


def _field_key(values: list[int | str], bounds_of: str | None) -> str:
    """Sorted values as runs (`0-5,10`); `*` for a full range. Day of month and weekday keep
    croniter's `*` vs full-list distinction: it decides whether the two fields are OR-ed."""
    if values == ["*"]:
        return "*"
    numbers = sorted({int(v) for v in values})
    if bounds_of is not None:
        low, high = _FIELD_BOUNDS[bounds_of]
        if numbers == list(range(low, high + 1)):
            return "*"
    runs: list[str] = []
    for number in numbers:
        if runs and runs[-1].split("-")[-1] == str(number - 1):
            runs[-1] = f"{runs[-1].split('-')[0]}-{number}"
        else:
            runs.append(str(number))
    return ",".join(runs)
