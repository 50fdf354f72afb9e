"""One object for equal JSON values across the cached objects (memory), cheaply.

Why: a decoded API object owns a private copy of every string in it, keys included (json.loads
shares keys only within one document; Kopf decodes every RecurringJob event with it). A cached
RecurringJob at steady state (10 recentRuns, 10 nextScheduleTimes, conditions, its jobTemplate) was
~19 KB, most of it strings that every other RecurringJob repeats: field names, outcomes, the
timestamps of the same second, the template's image. Shared, it is ~11 KB.

`share` interns every key and string value (sys.intern: an interned string still dies with its
last user). `reuse` does the same for a new version of an object already held, but first takes
over every part that equals the held version's (the jobTemplate, unchanged conditions, the runs
that only shifted by one), which makes the common update cost a few equality checks done in C
rather than a walk of the whole tree. Both return new containers and never modify their input, so
callers may hand in objects that others hold. "Equal" is equal as JSON text: Python's `==` alone
takes 1 for True and 1.0 for 1, so a part is taken over only if it also encodes to the same bytes.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

_intern = sys.intern


def same(new: Any, old: Any) -> bool:
    """Equal as JSON: `==` first (cheap, in C), then the encodings (True is not 1, nor 1.0 1)."""
    if new is old:
        return True
    kind = type(new)
    if kind is not type(old) or new != old:
        return False
    if kind is dict or kind is list:  # containers: `==` looked at their items with Python's rules
        try:
            return orjson.dumps(new) == orjson.dumps(old)
        except TypeError:  # not JSON (e.g. an integer beyond 64 bits): not taken over
            return False
    return True


def share(value: Any) -> Any:
    """A copy of the JSON value `value` whose keys and strings are interned."""
    kind = type(value)
    if kind is str:
        return _intern(value)
    if kind is dict:
        return {_intern(key) if type(key) is str else key: share(item) for key, item in value.items()}
    if kind is list:
        return [share(item) for item in value]
    return value


def reuse(new: Any, old: Any) -> Any:
    """`new`, shared, with every part equal to the same part of `old` being `old`'s. In a list the
    parts are runs of elements: at the same index, or one index earlier (a history whose oldest
    entry was dropped as a newer one was appended)."""
    if same(new, old):
        return old
    kind = type(new)
    if kind is dict and type(old) is dict:
        return {_intern(key) if type(key) is str else key:
                reuse(item, old[key]) if key in old else share(item) for key, item in new.items()}
    if kind is list and type(old) is list:
        return _reuse_list(new, old)
    return share(new)


def _reuse_list(new: list[Any], old: list[Any]) -> list[Any]:
    for shift in (1, 0):
        length = min(len(new), len(old) - shift)
        # the whole overlap, or all of it but its last element (the newest entry, just updated)
        for kept in (length, length - 1):
            if kept > 0 and same(new[:kept], old[shift:shift + kept]):
                rest = new[kept:]
                tail = [reuse(rest[0], old[shift + kept])] if rest and shift + kept < len(old) else []
                return [*old[shift:shift + kept], *tail, *(share(item) for item in rest[len(tail):])]
    return [reuse(item, old[index]) if index < len(old) else share(item) for index, item in enumerate(new)]
