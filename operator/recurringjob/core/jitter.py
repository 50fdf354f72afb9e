"""Jitter: when an occurrence actually fires. Deterministic (every replica computes the same
from the RecurringJob's uid and the nominal time), at most `jitterSeconds`, and strictly before the
next occurrence, as Temporal bounds it, so fire times keep the occurrences' order."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from recurringjob.core.timeutil import to_epoch_seconds


def jitter_seconds(uid: str, nominal: datetime, next_nominal: datetime | None, max_seconds: int) -> int:
    """Whole seconds to delay occurrence `nominal`: in [0, bound], bound = min(max_seconds, seconds
    to `next_nominal` - 1)."""
    bound = max_seconds
    if next_nominal is not None:
        bound = min(bound, int((next_nominal - nominal).total_seconds()) - 1)
    if bound <= 0:
        return 0
    digest = hashlib.sha256(f"{uid}|{to_epoch_seconds(nominal)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (bound + 1)


def fire_time(uid: str, nominal: datetime, next_nominal: datetime | None, max_seconds: int) -> datetime:
    """The moment occurrence `nominal` is launched."""
    return nominal + timedelta(seconds=jitter_seconds(uid, nominal, next_nominal, max_seconds))
