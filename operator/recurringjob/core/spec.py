"""Reading a RecurringJob's spec: CRD defaults applied, and anything the CRD would reject (or that
only makes sense across fields, like endTime before startTime) raised as InvalidSpec with a message
naming the field and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recurringjob.core.timeutil import format_rfc3339, parse_rfc3339

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace", "BufferOne", "BufferAll")
BUFFER_POLICIES = ("BufferOne", "BufferAll")
CATCH_UP_POLICIES = ("Latest", "All", "None")
MAX_CATCH_UP_LIMIT = 1000  # the CRD's maximum; bounds the backward walk of catchUp All
MAX_BUFFERED_LIMIT = 1000  # Temporal's buffer bound
MAX_SCHEDULES = 20
MAX_TRIGGERS = 20
MAX_BACKFILLS = 10
REQUEST_ID_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
REQUEST_ID_MAX_LENGTH = 40
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


class InvalidSpec(ValueError):
    """The spec cannot be acted on; the message names the field and what is allowed."""


@dataclass(frozen=True)
class TriggerRequest:
    id: str
    overlap_policy: str | None = None


@dataclass(frozen=True)
class BackfillRequest:
    id: str
    start: datetime
    end: datetime
    overlap_policy: str | None = None


@dataclass(frozen=True)
class Spec:
    schedule: str
    time_zone: str | None
    concurrency_policy: str = "Allow"
    starting_deadline_seconds: int | None = None
    suspend: bool = False
    successful_jobs_history_limit: int = 3
    failed_jobs_history_limit: int = 1
    catch_up: str = "Latest"
    max_catch_up: int = 100
    # issue 9: several schedules, exclusions, window, jitter, buffering, limits, requests
    schedules: tuple[tuple[str, str | None], ...] = ()  # (schedule, timeZone); () = just `schedule`
    exclude_schedules: tuple[tuple[str, str | None], ...] = ()
    start_time: datetime | None = None
    end_time: datetime | None = None
    jitter_seconds: int = 0
    max_buffered: int = 100
    max_runs: int | None = None
    suspend_reason: str | None = None
    suspend_on_failure: bool = False
    acknowledged_failure: str | None = None
    triggers: tuple[TriggerRequest, ...] = ()
    backfills: tuple[BackfillRequest, ...] = ()

    @property
    def stream_schedules(self) -> tuple[tuple[str, str | None], ...]:
        """Every (schedule, timeZone) the occurrence stream merges."""
        return self.schedules or ((self.schedule, self.time_zone),)

    @property
    def observed_schedule(self) -> str:
        """What `status.observedSchedule` records: editing a schedule, a zone or an exclusion
        re-anchors the stream. One schedule without exclusions keeps the `<schedule>|<zone>` form."""
        if not self.schedules and not self.exclude_schedules:
            return f"{self.schedule}|{self.time_zone or ''}"
        parts = [f"{s}|{z or ''}" for s, z in self.stream_schedules]
        parts += [f"!{s}|{z or ''}" for s, z in self.exclude_schedules]
        return "\n".join(parts)


def _int_field(spec: Mapping[str, Any], key: str, default: int | None, minimum: int) -> int | None:
    value = spec.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidSpec(f"spec.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _bool_field(spec: Mapping[str, Any], key: str) -> bool:
    value = spec.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidSpec(f"spec.{key} must be true or false, got {value!r}")
    return value


def _time_field(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise InvalidSpec(
            f"{where} must be an RFC 3339 time such as 2026-01-01T00:00:00Z, got {value!r}") from None


ScheduleEntries = tuple[tuple[str, str | None], ...]


def _schedule_entries(spec: Mapping[str, Any], key: str, default_zone: str | None) -> ScheduleEntries:
    value = spec.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_SCHEDULES:
        raise InvalidSpec(
            f"spec.{key} must be a list of at most {MAX_SCHEDULES} {{schedule, timeZone}} entries")
    entries = []
    for index, entry in enumerate(value):
        where = f"spec.{key}[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("schedule"), str):
            raise InvalidSpec(f"{where}.schedule is required and must be a string such as '0 9 * * *'")
        zone = entry.get("timeZone")
        if zone is not None and not isinstance(zone, str):
            raise InvalidSpec(f"{where}.timeZone must be a string such as 'Europe/Berlin'")
        entries.append((entry["schedule"], zone or default_zone))
    return tuple(entries)


def _overlap(entry: Mapping[str, Any], where: str) -> str | None:
    value = entry.get("overlapPolicy")
    if value is not None and value not in CONCURRENCY_POLICIES:
        allowed = ", ".join(CONCURRENCY_POLICIES)
        raise InvalidSpec(f"{where}.overlapPolicy must be one of {allowed}, got {value!r}")
    return value


def _request_id(entry: Any, where: str, seen: set[str]) -> str:
    if not isinstance(entry, Mapping):
        raise InvalidSpec(f"{where} must be an object with an id")
    value = entry.get("id")
    if not isinstance(value, str) or len(value) > REQUEST_ID_MAX_LENGTH or not _REQUEST_ID.match(value):
        raise InvalidSpec(f"{where}.id must be lowercase letters, digits and '-' (at most "
                          f"{REQUEST_ID_MAX_LENGTH} characters), got {value!r}")
    if value in seen:
        raise InvalidSpec(f"{where}.id {value!r} is used by another trigger or backfill: ids must be unique")
    seen.add(value)
    return value


def _requests(spec: Mapping[str, Any]) -> tuple[tuple[TriggerRequest, ...], tuple[BackfillRequest, ...]]:
    seen: set[str] = set()
    triggers, backfills = [], []
    raw_triggers = spec.get("triggers") or []
    if not isinstance(raw_triggers, list) or len(raw_triggers) > MAX_TRIGGERS:
        raise InvalidSpec(f"spec.triggers must be a list of at most {MAX_TRIGGERS} requests")
    for index, entry in enumerate(raw_triggers):
        where = f"spec.triggers[{index}]"
        triggers.append(TriggerRequest(_request_id(entry, where, seen), _overlap(entry, where)))
    raw_backfills = spec.get("backfills") or []
    if not isinstance(raw_backfills, list) or len(raw_backfills) > MAX_BACKFILLS:
        raise InvalidSpec(f"spec.backfills must be a list of at most {MAX_BACKFILLS} requests")
    for index, entry in enumerate(raw_backfills):
        where = f"spec.backfills[{index}]"
        request_id = _request_id(entry, where, seen)
        start = _time_field(entry.get("from"), f"{where}.from")
        end = _time_field(entry.get("to"), f"{where}.to")
        if start is None or end is None:
            raise InvalidSpec(f"{where} needs both from and to (RFC 3339 times)")
        # to < from is not a spec error: the request is refused in status.requests (see requests.py)
        backfills.append(BackfillRequest(request_id, start, end, _overlap(entry, where)))
    return tuple(triggers), tuple(backfills)


def read_spec(rj: Mapping[str, Any]) -> Spec:
    """The spec with CRD defaults applied; raises InvalidSpec for anything the CRD would reject."""
    if not isinstance(rj, Mapping):
        raise InvalidSpec("the RecurringJob is not an object")
    metadata = rj.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise InvalidSpec("metadata.name is missing")
    spec = rj.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidSpec("spec is missing")
    time_zone = spec.get("timeZone")
    if time_zone is not None and not isinstance(time_zone, str):
        raise InvalidSpec("spec.timeZone must be a string such as 'Europe/Berlin'")
    schedules = _schedule_entries(spec, "schedules", time_zone or None)
    schedule = spec.get("schedule")
    if schedules and schedule is not None:
        raise InvalidSpec("spec.schedule and spec.schedules are both set: use one of them")
    if spec.get("schedules") is not None and not schedules:
        raise InvalidSpec("spec.schedules is empty: give at least one {schedule, timeZone} entry")
    if not schedules and not isinstance(schedule, str):
        raise InvalidSpec("spec.schedule (or spec.schedules) is required; schedule must be a string such as "
                          "'0 * * * *'")
    enums = {"concurrencyPolicy": CONCURRENCY_POLICIES, "catchUp": CATCH_UP_POLICIES}
    chosen = {}
    for key, allowed in enums.items():
        chosen[key] = spec.get(key) or allowed[0]
        if chosen[key] not in allowed:
            raise InvalidSpec(f"spec.{key} must be one of {', '.join(allowed)}, got {chosen[key]!r}")
    template = spec.get("jobTemplate")
    if not isinstance(template, Mapping) or not isinstance(template.get("spec"), Mapping):
        raise InvalidSpec("spec.jobTemplate.spec is required (a batch/v1 JobSpec)")
    template_metadata = template.get("metadata") or {}
    if not isinstance(template_metadata, Mapping) or any(
        not isinstance(template_metadata.get(k) or {}, Mapping) for k in ("labels", "annotations")
    ):
        raise InvalidSpec("spec.jobTemplate.metadata labels and annotations must be maps")
    max_catch_up = _int_field(spec, "maxCatchUp", 100, 1)
    assert max_catch_up is not None
    if max_catch_up > MAX_CATCH_UP_LIMIT:
        raise InvalidSpec(f"spec.maxCatchUp must be at most {MAX_CATCH_UP_LIMIT}, got {max_catch_up}")
    max_buffered = _int_field(spec, "maxBuffered", 100, 1)
    assert max_buffered is not None
    if max_buffered > MAX_BUFFERED_LIMIT:
        raise InvalidSpec(f"spec.maxBuffered must be at most {MAX_BUFFERED_LIMIT}, got {max_buffered}")
    start_time = _time_field(spec.get("startTime"), "spec.startTime")
    end_time = _time_field(spec.get("endTime"), "spec.endTime")
    if start_time is not None and end_time is not None and end_time <= start_time:
        raise InvalidSpec(f"spec.endTime ({format_rfc3339(end_time)}) must be after spec.startTime "
                          f"({format_rfc3339(start_time)})")
    reason = spec.get("suspendReason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidSpec(f"spec.suspendReason must be a string, got {reason!r}")
    acknowledged = spec.get("acknowledgedFailure")
    if acknowledged is not None and not isinstance(acknowledged, str):
        raise InvalidSpec(f"spec.acknowledgedFailure must be a Job name, got {acknowledged!r}")
    triggers, backfills = _requests(spec)
    return Spec(
        schedule=schedule if isinstance(schedule, str) else schedules[0][0],
        time_zone=time_zone or None,
        concurrency_policy=chosen["concurrencyPolicy"],
        starting_deadline_seconds=_int_field(spec, "startingDeadlineSeconds", None, 0),
        suspend=_bool_field(spec, "suspend"),
        successful_jobs_history_limit=_int_field(spec, "successfulJobsHistoryLimit", 3, 0) or 0,
        failed_jobs_history_limit=_int_field(spec, "failedJobsHistoryLimit", 1, 0) or 0,
        catch_up=chosen["catchUp"],
        max_catch_up=max_catch_up,
        schedules=schedules,
        exclude_schedules=_schedule_entries(spec, "excludeSchedules", time_zone or None),
        start_time=start_time,
        end_time=end_time,
        jitter_seconds=_int_field(spec, "jitterSeconds", 0, 0) or 0,
        max_buffered=max_buffered,
        max_runs=_int_field(spec, "maxRuns", None, 1),
        suspend_reason=reason or None,
        suspend_on_failure=_bool_field(spec, "suspendOnFailure"),
        acknowledged_failure=acknowledged or None,
        triggers=triggers,
        backfills=backfills,
    )


def parse_time(value: Any) -> datetime | None:
    """A status/metadata timestamp, or None when absent or unreadable (never raises)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None
