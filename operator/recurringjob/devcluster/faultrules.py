"""Fault rules of the dev cluster: what to inject, on which requests, how often.

One rule syntax for flags and the admin API. A flag value is space-separated `key=value` fields
(lists comma-separated), plus at most one bare value for the rule's main field:

    --fault-latency '20ms'                                    every request waits 20 ms
    --fault-latency 'delay=10ms jitter=90ms verbs=list,watch' list/watch wait 10..100 ms
    --fault-errors 'rate=0.2 codes=409,503 verbs=update,patch resources=recurringjobs/status'
    --fault-hold 'seconds=30s verbs=create resources=jobs clients=replica-1'

The JSON form (GET/PUT /_devcluster/faults) has the same keys with JSON lists and numbers.
Every rule may narrow itself with `verbs`, `resources` and `clients` (empty = all). A resource
`jobs` matches its subresources too; `jobs/status` matches only the status subresource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from recurringjob.devcluster.durations import parse_duration
from recurringjob.devcluster.request import RequestInfo

VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"})
ERROR_CODES = (409, 429, 500, 503)
DEFAULT_ERROR_CODES = (500, 503, 429)
PARTITION_MODES = ("hang", "fail")

# JSON key -> dataclass field, for the keys whose spelling differs.
_JSON_TO_FIELD = {"retryAfter": "retry_after", "retry-after": "retry_after", "retry_after": "retry_after"}
_FIELD_TO_JSON = {"retry_after": "retryAfter"}


class RuleError(ValueError):
    """A rule that cannot be used; the message names the field and the accepted values."""


@dataclass(frozen=True)
class Rule:
    """Match part shared by every rule kind: empty tuples mean "any"."""

    PRIMARY: ClassVar[str] = ""  # the field a bare flag value sets
    verbs: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    rate: float = 1.0

    def matches(self, info: RequestInfo) -> bool:
        if self.verbs and info.verb not in self.verbs:
            return False
        if self.clients and info.client not in self.clients:
            return False
        if not self.resources:
            return True
        full = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        return info.resource in self.resources or full in self.resources

    def to_json(self) -> dict[str, Any]:
        return {_FIELD_TO_JSON.get(f.name, f.name): _jsonable(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class LatencyRule(Rule):
    """Sleep delay + uniform(0, jitter) seconds before handling the request."""

    PRIMARY: ClassVar[str] = "delay"
    delay: float = 0.0
    jitter: float = 0.0


@dataclass(frozen=True)
class ErrorRule(Rule):
    """Answer with one of `codes` (picked at random) instead of handling the request."""

    PRIMARY: ClassVar[str] = "rate"
    codes: tuple[int, ...] = DEFAULT_ERROR_CODES
    retry_after: int = 1  # the Retry-After header of 429 answers, seconds


@dataclass(frozen=True)
class WatchDropRule(Rule):
    """Cut a matching watch stream after `after` + uniform(0, jitter) seconds."""

    PRIMARY: ClassVar[str] = "after"
    after: float = 0.0
    jitter: float = 0.0


@dataclass(frozen=True)
class HoldRule(Rule):
    """Keep a matching request on the server `seconds` before handling it, then commit it even if
    its client has given up meanwhile: a write "still on the wire" after the client's timeout."""

    PRIMARY: ClassVar[str] = "seconds"
    seconds: float = 0.0


@dataclass(frozen=True)
class WatchExpireRule(Rule):
    """Answer a matching watch that resumes from a resourceVersion with 410 Expired."""

    PRIMARY: ClassVar[str] = "rate"


RuleT = TypeVar("RuleT", bound=Rule)


def parse_flag(kind: type[RuleT], text: str) -> RuleT:
    """A rule from a flag value: `key=value key=value`, lists comma-separated, one bare value."""
    raw: dict[str, Any] = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if not sep:
            key, value = kind.PRIMARY, token
        if key in raw:
            raise RuleError(f"{key!r} given twice in {text!r}")
        raw[key] = value
    if not raw:
        raise RuleError("empty rule")
    return parse_json(kind, raw)


def parse_json(kind: type[RuleT], raw: Any) -> RuleT:
    """A rule from its JSON object (strings are accepted where flags would give them)."""
    if not isinstance(raw, Mapping):
        raise RuleError(f"a rule must be an object, got {raw!r}")
    known = {f.name for f in fields(kind)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = _JSON_TO_FIELD.get(key, key)
        if name not in known:
            accepted = ", ".join(sorted(_FIELD_TO_JSON.get(n, n) for n in known))
            raise RuleError(f"unknown field {key!r} (accepted: {accepted})")
        values[name] = _convert(name, value)
    return kind(**values)


def parse_partition(text: str) -> tuple[str, str]:
    """`CLIENT` or `client=CLIENT mode=hang|fail` (flag form) -> (client, mode)."""
    raw: dict[str, str] = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        raw[key if sep else "client"] = value if sep else token
    unknown = set(raw) - {"client", "mode"}
    if unknown or not raw.get("client"):
        raise RuleError(f"expected 'CLIENT' or 'client=CLIENT mode=hang|fail', got {text!r}")
    return raw["client"], check_mode(raw.get("mode", "hang"))


def check_mode(mode: Any) -> str:
    if mode not in PARTITION_MODES:
        raise RuleError(f"partition mode must be one of {', '.join(PARTITION_MODES)}, got {mode!r}")
    return str(mode)


def _convert(name: str, value: Any) -> Any:
    if name in ("verbs", "resources", "clients"):
        items = _as_list(name, value)
        if name == "verbs" and (bad := [v for v in items if v not in VERBS]):
            raise RuleError(f"unknown verb(s) {bad} (accepted: {', '.join(sorted(VERBS))})")
        return tuple(items)
    if name == "codes":
        try:
            codes = tuple(int(c) for c in _as_list(name, value))
        except ValueError as exc:
            raise RuleError(f"codes must be HTTP status numbers, got {value!r}") from exc
        if not codes or any(c not in ERROR_CODES for c in codes):
            raise RuleError(f"codes must be among {', '.join(map(str, ERROR_CODES))}, got {value!r}")
        return codes
    if name == "rate":
        try:
            rate = float(value)
        except (TypeError, ValueError) as exc:
            raise RuleError(f"rate must be a number between 0 and 1, got {value!r}") from exc
        if not 0.0 <= rate <= 1.0:
            raise RuleError(f"rate must be between 0 and 1, got {value!r}")
        return rate
    if name == "retry_after":
        try:
            seconds = int(parse_duration(value))
        except ValueError as exc:
            raise RuleError(f"retryAfter must be whole seconds, got {value!r}") from exc
        return seconds
    try:  # delay, jitter, after, seconds
        return parse_duration(value)
    except ValueError as exc:
        raise RuleError(f"{name}: {exc}") from exc


def _as_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        raise RuleError(f"{name} must be a list or a comma-separated string, got {value!r}")
    return [] if items == ["*"] else items


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
