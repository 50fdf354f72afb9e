"""`kubectl recurringjob describe NAME`: one page about a RecurringJob, like `temporal schedule describe`
— what it is set to do (spec summary), what it will do (the next 10 times the operator computed), what
it did (the 10 recent runs), and what waits (buffered occurrences, pending run-now/backfill requests).

Rendering is a pure function of the object and `now` (render_describe), so it is tested from fixtures.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from recurringjob.cli.plugin_format import human_duration, local_time, parse_time, table, with_fire_times
from recurringjob.cli.plugin_requests import BACKFILLS, FINAL_STATES, REQUESTS, TRIGGERS, RjApi

LABEL_WIDTH = 20
RESUME_HINTS = {"MaxRunsReached": "; raise spec.maxRuns to continue",
                "EndTimeReached": "; move spec.endTime to continue"}


def _field(label: str, value: str) -> str:
    return f"{label + ':':<{LABEL_WIDTH}}{value}"


def _indent(text: str, by: int = 2) -> list[str]:
    return [" " * by + line for line in text.splitlines()]


def _schedule_lines(spec: Mapping[str, Any]) -> list[str]:
    def one(item: Any) -> str:
        if isinstance(item, Mapping):
            return f"{item.get('schedule')} ({item.get('timeZone') or spec.get('timeZone') or 'UTC'})"
        return f"{item} ({spec.get('timeZone') or 'UTC'})"

    schedules = spec.get("schedules") or ([{"schedule": spec["schedule"]}] if spec.get("schedule") else [])
    first = one(schedules[0]) if schedules else "<none>"
    lines = [_field("Schedules" if len(schedules) > 1 else "Schedule", first)]
    lines += [" " * LABEL_WIDTH + one(s) for s in schedules[1:]]
    excluded = spec.get("excludeSchedules") or []
    if excluded:
        lines.append(_field("Excluding", one(excluded[0])))
        lines += [" " * LABEL_WIDTH + one(s) for s in excluded[1:]]
    return lines


def _policy_lines(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[str]:
    overlap = str(spec.get("concurrencyPolicy") or "Allow")
    if overlap == "BufferAll":
        overlap += f" (maxBuffered {spec.get('maxBuffered', 100)})"
    lines = [_field("Overlap", overlap)]
    catch_up = f"{spec.get('catchUp') or 'Latest'} (maxCatchUp {spec.get('maxCatchUp', 100)})"
    if spec.get("startingDeadlineSeconds") is not None:
        catch_up += f", startingDeadlineSeconds {spec['startingDeadlineSeconds']}"
    lines.append(_field("Catch-up", catch_up))
    start, end = spec.get("startTime"), spec.get("endTime")
    if start or end:
        lines.append(_field("Window", f"{start or 'any time'} .. {end or 'no end'}"))
    jitter = spec.get("jitterSeconds")
    if jitter:
        lines.append(_field("Jitter", f"up to {human_duration(float(jitter))}, never past the next one"))
    if spec.get("maxRuns") is not None:
        remaining = status.get("remainingRuns")
        lines.append(_field("Runs", f"maxRuns {spec['maxRuns']}, remaining "
                                    f"{remaining if remaining is not None else '<not counted yet>'}"))
    lines.append(_field("Suspended", _suspended(spec, status)))
    if spec.get("suspendOnFailure"):
        lines.append(_field("Suspend on failure", "yes (a failed Job suspends it until resumed)"))
    return lines


def _suspended(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    """Whether scheduled launches are stopped and why: the Suspended condition when the operator wrote
    one, else spec.suspend (and its note). Triggers and backfills run either way."""
    condition = next((c for c in status.get("conditions") or []
                      if isinstance(c, Mapping) and c.get("type") == "Suspended"), None)
    failed = status.get("suspendedOnFailure") or {}
    if condition is not None and condition.get("status") == "True":
        text = f"yes, {condition.get('reason')}"
        if condition.get("message"):
            text += f": {condition['message']}"
    elif spec.get("suspend"):
        text = "yes" + (f" ({spec['suspendReason']})" if spec.get("suspendReason") else "")
    elif failed.get("jobName") and spec.get("acknowledgedFailure") != failed.get("jobName"):
        text = "yes, SuspendedOnFailure"
    else:
        return "no"
    if failed.get("jobName") and spec.get("acknowledgedFailure") != failed.get("jobName"):
        text += f" (Job {failed['jobName']} failed at {failed.get('failedAt') or '?'})"
    reason = condition.get("reason") if condition is not None and condition.get("status") == "True" else None
    return text + RESUME_HINTS.get(str(reason), "; kubectl recurringjob resume continues")


def _times_section(title: str, pairs: Sequence[tuple[datetime, datetime]], now: datetime, empty: str
                   ) -> list[str]:
    """One time per line; with jitter a table: the nominal time (names the Job) and when it fires."""
    lines = [f"{title}:"]
    if not pairs:
        return [*lines, f"  {empty}"]
    if all(fire == nominal for nominal, fire in pairs):
        return [*lines, *(f"  {local_time(nominal, now)}" for nominal, _ in pairs)]
    rows = [[local_time(nominal, now), local_time(fire, now),
             human_duration((fire - nominal).total_seconds())] for nominal, fire in pairs]
    return [*lines, *_indent(table(["NOMINAL (LOCAL)", "FIRES (LOCAL)", "JITTER"], rows))]


def _times(values: Any) -> list[datetime]:
    return [t for t in (parse_time(v) for v in values or []) if t is not None]


def _recent_runs(runs: Sequence[Any], now: datetime) -> list[str]:
    """status.recentRuns is newest last (in the order the operator decided them: a backfilled run is
    recent though its nominal time is old); shown newest first."""
    lines = ["Recent runs (newest first):"]
    rows = []
    for run in reversed([r for r in runs if isinstance(r, Mapping)]):
        lag = run.get("lagSeconds")
        kind = str(run.get("kind") or "schedule") + (f" {run['requestId']}" if run.get("requestId") else "")
        rows.append([local_time(parse_time(run.get("scheduledTime")), now), str(run.get("jobName") or "-"),
                     kind, str(run.get("outcome") or "-"),
                     f"{lag:.1f}s" if isinstance(lag, (int, float)) else "-"])
    if not rows:
        return [*lines, "  none yet"]
    return [*lines, *_indent(table(["NOMINAL (LOCAL)", "JOB", "KIND", "OUTCOME", "LAG"], rows))]


def _requests(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[str]:
    """Requests not final yet: those in the spec the operator has not answered, and those in progress."""
    known = {str(e.get("id")): e for e in status.get(REQUESTS) or [] if isinstance(e, Mapping)}
    rows = []
    for field, kind in ((TRIGGERS, "trigger"), (BACKFILLS, "backfill")):
        for request in spec.get(field) or []:
            if not isinstance(request, Mapping):
                continue
            seen = known.get(str(request.get("id")), {})
            if seen.get("state") in FINAL_STATES:
                continue
            rows.append(_request_row(kind, request, seen))
    for request_id, seen in known.items():  # in progress but trimmed from the spec by another client
        if seen.get("state") not in FINAL_STATES and not any(r[0] == request_id for r in rows):
            rows.append(_request_row(str(seen.get("kind") or "?"), {"id": request_id}, seen))
    lines = ["Pending requests:"]
    if not rows:
        return [*lines, "  none"]
    return [*lines, *_indent(table(["ID", "KIND", "STATE", "PROGRESS", "DETAIL"], rows))]


def _request_row(kind: str, request: Mapping[str, Any], seen: Mapping[str, Any]) -> list[str]:
    total, launched = seen.get("total"), seen.get("launched")
    progress = f"{launched or 0}/{total}" if isinstance(total, int) else "-"
    detail = []
    if kind == "backfill" and request.get("from"):
        detail.append(f"{request.get('from')} .. {request.get('to')}")
    if request.get("overlapPolicy"):
        detail.append(f"overlap {request['overlapPolicy']}")
    if seen.get("jobName"):
        detail.append(f"job {seen['jobName']}")
    if seen.get("message"):
        detail.append(str(seen["message"]))
    return [str(request.get("id")), kind, str(seen.get("state") or "not seen yet"), progress,
            "; ".join(detail) or "-"]


def render_describe(rj: Mapping[str, Any], now: datetime) -> str:
    meta, spec, status = rj.get("metadata") or {}, rj.get("spec") or {}, rj.get("status") or {}
    lines = [_field("Name", str(meta.get("name"))),
             _field("Namespace", str(meta.get("namespace") or "default"))]
    lines += _schedule_lines(spec)
    lines += _policy_lines(spec, status)
    lines.append(_field("Active jobs", ", ".join(str(a.get("name")) for a in status.get("active") or []
                                                  if isinstance(a, Mapping)) or "none"))
    lines.append(_field("Last schedule", local_time(parse_time(status.get("lastScheduleTime")), now)))
    lines.append(_field("Counters", f"missed {status.get('missedOccurrences', 0)}, "
                                    f"skipped {status.get('skippedOccurrences', 0)}"))
    lines.append("Conditions:")
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    lines += [f"  {c.get('type')}={c.get('status')} {c.get('reason') or ''}"
              f"{': ' + str(c['message']) if c.get('message') else ''}".rstrip()
              for c in conditions] or ["  none"]
    no_next = "none: " + ("suspended" if spec.get("suspend") else "not computed yet, or none left")
    upcoming = with_fire_times(rj, _times(status.get("nextScheduleTimes")))
    lines += _times_section("Next times (local)", upcoming, now, no_next)
    lines += _recent_runs(status.get("recentRuns") or [], now)
    buffered = [(t, t) for t in _times(status.get("bufferedOccurrences"))]  # fire when the running Job ends
    lines += _times_section("Buffered occurrences", buffered, now, "none")
    lines += _requests(spec, status)
    return "\n".join(lines)


def cmd_describe(api: RjApi, args: argparse.Namespace, now: datetime) -> str:
    return render_describe(api.get_rj(args.name), now)


def render_why(rj: Mapping[str, Any], decision: Any, now: datetime) -> str:
    """`kubectl recurringjob why`: the planner's decision (core.planner.Decision) for the live object,
    with what stops or holds launches: suspension and its reason, maxRuns, buffered occurrences,
    requests in flight, conditions."""
    name = (rj.get("metadata") or {}).get("name")
    spec, status = rj.get("spec") or {}, rj.get("status") or {}
    lines = [f"{name}: {decision.reason}", f"  decision:       {decision.action}"]
    if decision.kind != "schedule":
        lines.append(f"  for request:    {decision.kind} {decision.request_id}")
    if decision.scheduled_time:
        lines.append(f"  occurrence:     {local_time(decision.scheduled_time, now)}")
    if decision.fire_time and decision.fire_time != decision.scheduled_time:
        lines.append(f"  fires at:       {local_time(decision.fire_time, now)} (jitter)")
    if decision.job_name:
        lines.append(f"  job:            {decision.job_name}")
    lines.append(f"  next schedule:  {local_time(decision.next_schedule_time, now)}")
    if decision.requeue_after is not None:
        lines.append(f"  re-plan in:     {human_duration(decision.requeue_after)}")
    if decision.missed:
        lines.append(f"  missed now:     {decision.missed}")
    if decision.delete_active:
        lines.append(f"  would delete:   {', '.join(decision.delete_active)} (concurrencyPolicy Replace)")
    if decision.warnings:
        lines.append(f"  warnings:       {', '.join(decision.warnings)}")
    suspended = _suspended(spec, status)
    if suspended != "no":
        lines.append(f"  scheduled runs: stopped ({suspended}); triggers and backfills still run")
    if spec.get("maxRuns") is not None:
        lines.append(f"  remaining runs: {status.get('remainingRuns', '?')} of maxRuns {spec['maxRuns']}")
    buffered = _times(status.get("bufferedOccurrences"))
    if buffered:
        lines.append(f"  buffered:       {len(buffered)}, oldest {local_time(buffered[0], now)} "
                     f"({spec.get('concurrencyPolicy')}: starts when the running Job ends)")
    for request in status.get(REQUESTS) or []:
        if isinstance(request, Mapping) and request.get("state") not in FINAL_STATES:
            progress = f" {_request_row('', {}, request)[3]}" if isinstance(request.get("total"), int) else ""
            message = f": {request['message']}" if request.get("message") else ""
            lines.append(f"  request:        {request.get('kind')} {request.get('id')} "
                         f"{request.get('state')}{progress}{message}")
    active = [str(a.get("name", "?")) for a in status.get("active") or [] if isinstance(a, Mapping)]
    lines.append(f"  active jobs:    {', '.join(active) if active else 'none'}")
    lines.append(f"  last schedule:  {local_time(parse_time(status.get('lastScheduleTime')), now)}")
    for cond in status.get("conditions") or []:
        lines.append(f"  condition:      {cond.get('type')}={cond.get('status')} {cond.get('reason') or ''}"
                     f"{': ' + cond['message'] if cond.get('message') else ''}".rstrip())
    lines.append(f"  counters:       missed {status.get('missedOccurrences', 0)}, "
                 f"skipped {status.get('skippedOccurrences', 0)}")
    return "\n".join(lines)
