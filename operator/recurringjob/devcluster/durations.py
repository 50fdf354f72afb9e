"""Durations in dev cluster flags and annotations: "250ms", "2s", "1m30s", "1.5h" or plain seconds."""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")


def parse_duration(text: str | float | int) -> float:
    """Seconds (>= 0) from "250ms", "2s", "1m30s", "1.5h", "0.2" (bare number = seconds).

    Raises ValueError with the offending text; callers turn that into a UserError or a 400.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        raw = text.strip()
        try:
            seconds = float(raw)
        except ValueError:
            seconds = _parse_units(raw)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration (must be a finite number of seconds >= 0): {text!r}")
    return seconds


def _parse_units(raw: str) -> float:
    position, total = 0, 0.0
    for match in _PART.finditer(raw):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(raw) or not raw:
        raise ValueError(f"not a duration (examples: 250ms, 2s, 1m30s): {raw!r}")
    return total


def format_duration(seconds: float) -> str:
    """The short form used in GET /_devcluster/faults and messages: "250ms", "2s", "1.5s"."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
