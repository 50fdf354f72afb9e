"""`kubectl recurringjob trigger | backfill | resume`: record a request on the RecurringJob, then
(unless --no-wait) follow its outcome in status.

A request is an entry in the spec (`spec.triggers` / `spec.backfills`, see docs/design.md) written
with a resourceVersion-checked PUT: a 409 means the object changed since it was read (the operator's
status writes bump the resourceVersion too), so the command reads it again and retries. The id is
the idempotency key: the operator launches one Job per trigger id and each backfill occurrence once,
so sending an id again changes nothing and says so.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from recurringjob import GROUP
from recurringjob.cli.plugin_client import Conflict, PluginError
from recurringjob.cli.plugin_format import human_duration
from recurringjob.core.timeutil import format_rfc3339, parse_rfc3339

# The interface shared with the operator (docs/design.md, "Run now and backfill requests").
TRIGGERS = "triggers"  # spec.triggers: [{id, overlapPolicy?}]
BACKFILLS = "backfills"  # spec.backfills: [{id, from, to, overlapPolicy?}]
# status.requests: [{id, kind, state, jobName?, jobNames?, launched?, total?, message?}]
REQUESTS = "requests"
FINAL_STATES = ("Done", "Refused")
OVERLAP_POLICIES = ("Allow", "Forbid", "Replace", "BufferOne", "BufferAll")
CONFLICT_ATTEMPTS = 10
ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
MAX_ID_LENGTH = 63


class RjApi(Protocol):
    """What the request verbs need from the API (plugin_client.Client; a fake in the unit tests)."""

    namespace: str

    def get_rj(self, name: str) -> dict[str, Any]: ...

    def replace_rj(self, rj: Mapping[str, Any]) -> dict[str, Any]: ...

    def patch_rj(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Recorded:
    id: str
    already: bool  # the id was there before: nothing was written
    rj: dict[str, Any]


def new_request_id(kind: str) -> str:
    """Unique enough to never collide by chance (40 random bits), short enough to type again."""
    return f"{kind}-{secrets.token_hex(5)}"


def check_request_id(value: str) -> str:
    """argparse type for --id: lower-case letters, digits, '-' and '.', like a Kubernetes name."""
    if not value or len(value) > MAX_ID_LENGTH or not set(value) <= ID_CHARS \
            or not value[0].isalnum() or not value[-1].isalnum():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a valid request id: use 1-{MAX_ID_LENGTH} lower-case letters, digits, "
            "'-' or '.', starting and ending with a letter or digit")
    return value


def request_status(rj: Mapping[str, Any], request_id: str) -> dict[str, Any] | None:
    """The operator's record of a request (status.requests), or None while it has not seen it."""
    for entry in (rj.get("status") or {}).get(REQUESTS) or []:
        if isinstance(entry, Mapping) and entry.get("id") == request_id:
            return dict(entry)
    return None


def _final_ids(rj: Mapping[str, Any]) -> set[str]:
    return {str(e.get("id")) for e in (rj.get("status") or {}).get(REQUESTS) or []
            if isinstance(e, Mapping) and e.get("state") in FINAL_STATES}


def with_request(rj: Mapping[str, Any], field: str, entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object with `entry` appended to spec.<field>, requests already final trimmed from both
    lists (status.requests keeps their ids, so the operator still refuses to repeat them) — or None
    when the id is already pending in the spec or known in status: then there is nothing to write."""
    request_id = entry["id"]
    spec = dict(rj.get("spec") or {})
    known = {str(e.get("id")) for f in (TRIGGERS, BACKFILLS) for e in spec.get(f) or []
             if isinstance(e, Mapping)}
    if request_id in known or request_status(rj, request_id) is not None:
        return None
    final = _final_ids(rj)
    for f in (TRIGGERS, BACKFILLS):
        if f in spec:
            spec[f] = [e for e in spec[f] or [] if not (isinstance(e, Mapping) and e.get("id") in final)]
    spec[field] = [*(spec.get(field) or []), dict(entry)]
    return {**rj, "spec": spec}


def record_request(api: RjApi, name: str, field: str, entry: Mapping[str, Any]) -> Recorded:
    """Append the request with a read-modify-write that the resourceVersion guards; retry on 409."""
    for _ in range(CONFLICT_ATTEMPTS):
        rj = api.get_rj(name)
        updated = with_request(rj, field, entry)
        if updated is None:
            return Recorded(entry["id"], already=True, rj=rj)
        try:
            return Recorded(entry["id"], already=False, rj=api.replace_rj(updated))
        except Conflict:
            continue  # changed since we read it: read again, the id check included
    raise PluginError(f"recurringjob {name!r} kept changing while recording the request "
                      f"({CONFLICT_ATTEMPTS} conflicts in a row): try again")


def wait_for_outcome(api: RjApi, name: str, request_id: str, timeout: float,
                     done: Callable[[dict[str, Any]], bool],
                     on_change: Callable[[dict[str, Any]], None] | None = None, poll: float = 1.0,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Poll status.requests until `done(entry)`; on_change sees every new version of the entry."""
    deadline = clock() + timeout
    last: dict[str, Any] | None = None
    while True:
        entry = request_status(api.get_rj(name), request_id)
        if entry is not None and entry != last:
            last = entry
            if on_change is not None:
                on_change(entry)
        if entry is not None and done(entry):
            return entry
        if clock() >= deadline:
            seen = f"its state is {last.get('state')}" if last else "the operator has not picked it up"
            raise PluginError(
                f"no outcome for request {request_id!r} on {name} after {human_duration(timeout)} ({seen}); "
                f"it stays recorded and runs when the operator gets to it: is the operator running? "
                f"(kubectl recurringjob describe {name})")
        sleep(min(poll, max(0.0, deadline - clock())))


# -- trigger ----------------------------------------------------------------------------------

def trigger_done(entry: Mapping[str, Any]) -> bool:
    return bool(entry.get("jobName")) or entry.get("state") in FINAL_STATES


def describe_trigger_outcome(name: str, entry: Mapping[str, Any]) -> tuple[bool, str]:
    """(launched?, one line) for a trigger's status entry."""
    request_id = entry.get("id")
    if entry.get("jobName"):
        return True, f"trigger {request_id} on {name}: launched Job {entry['jobName']}"
    why = entry.get("message") or entry.get("state") or "no reason given"
    return False, f"trigger {request_id} on {name} launched no Job: {why}"


def cmd_trigger(api: RjApi, args: argparse.Namespace, now: datetime) -> str:
    entry: dict[str, Any] = {"id": args.id or new_request_id("trigger")}
    if args.overlap:
        entry["overlapPolicy"] = args.overlap
    recorded = record_request(api, args.name, TRIGGERS, entry)
    head = (f"trigger {recorded.id} already recorded on {args.name} (no change)" if recorded.already
            else f"trigger {recorded.id} recorded on recurringjob.{GROUP}/{args.name}")
    if args.no_wait:
        return head
    print(head, flush=True)
    outcome = wait_for_outcome(api, args.name, recorded.id, args.timeout, trigger_done)
    launched, line = describe_trigger_outcome(args.name, outcome)
    if not launched:
        raise PluginError(line)
    return line


# -- backfill ---------------------------------------------------------------------------------

def parse_range(args: argparse.Namespace) -> tuple[datetime, datetime]:
    """--from/--to as UTC times; errors name the flag and the expected format."""
    times = []
    for flag, value in (("--from", args.start), ("--to", args.end)):
        try:
            times.append(parse_rfc3339(value))
        except ValueError as exc:
            raise PluginError(f"{flag}: {exc}") from None
    start, end = times
    if end < start:
        raise PluginError(f"--to {format_rfc3339(end)} is before --from {format_rfc3339(start)}: "
                          "a backfill range runs forward in time")
    return start, end


def backfill_done(entry: Mapping[str, Any]) -> bool:
    return entry.get("state") in FINAL_STATES


class BackfillProgress:
    """A rich progress bar on a terminal; one plain line per change otherwise (logs, pipes, tests)."""

    def __init__(self, request_id: str, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.request_id = request_id
        self.console = console or Console(file=sys.stdout)
        self.progress: Progress | None = None
        self.task: Any = None
        if self.console.is_terminal:
            self.progress = Progress(TextColumn("backfill {task.fields[rid]}"), BarColumn(),
                                     MofNCompleteColumn(), TextColumn("{task.fields[state]}"),
                                     TimeElapsedColumn(), console=self.console)

    def __enter__(self) -> BackfillProgress:
        if self.progress is not None:
            self.progress.start()
            self.task = self.progress.add_task("backfill", total=None, rid=self.request_id, state="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, entry: Mapping[str, Any]) -> None:
        launched, total, state = _count(entry.get("launched")), entry.get("total"), entry.get("state") or "?"
        if self.progress is not None:
            self.progress.update(self.task, completed=launched,
                                 total=total if isinstance(total, int) else None, state=state)
        else:
            of = f"/{total}" if isinstance(total, int) else ""
            self.console.print(f"backfill {self.request_id}: {launched}{of} launched ({state})",
                               highlight=False, soft_wrap=True)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def describe_backfill_outcome(name: str, entry: Mapping[str, Any]) -> tuple[bool, str]:
    request_id, state = entry.get("id"), entry.get("state")
    launched, total = _count(entry.get("launched")), entry.get("total")
    message = f": {entry['message']}" if entry.get("message") else ""
    if state == "Refused":
        return False, f"backfill {request_id} on {name} was refused{message}"
    of = f" of {total}" if isinstance(total, int) else ""
    return True, f"backfill {request_id} on {name}: {state}, {launched}{of} occurrence(s) launched{message}"


def cmd_backfill(api: RjApi, args: argparse.Namespace, now: datetime) -> str:
    from recurringjob.cli.occurrences import check_backfill_size

    start, end = parse_range(args)
    rj = api.get_rj(args.name)
    check_backfill_size(rj, start, end)
    entry: dict[str, Any] = {"id": args.id or new_request_id("backfill"),
                             "from": format_rfc3339(start), "to": format_rfc3339(end)}
    if args.overlap:
        entry["overlapPolicy"] = args.overlap
    recorded = record_request(api, args.name, BACKFILLS, entry)
    head = (f"backfill {recorded.id} already recorded on {args.name} (no change)" if recorded.already
            else f"backfill {recorded.id} recorded on recurringjob.{GROUP}/{args.name} "
                 f"({entry['from']} .. {entry['to']})")
    if args.no_wait:
        return head
    print(head, flush=True)
    with BackfillProgress(recorded.id) as progress:
        outcome = wait_for_outcome(api, args.name, recorded.id, args.timeout, backfill_done,
                                   on_change=progress.update)
    ok, line = describe_backfill_outcome(args.name, outcome)
    if not ok:
        raise PluginError(line)
    return line


# -- suspend / resume -------------------------------------------------------------------------

def cmd_suspend(api: RjApi, args: argparse.Namespace, now: datetime) -> str:
    spec = api.get_rj(args.name).get("spec") or {}
    reason = args.reason
    if spec.get("suspend") and (reason is None or reason == spec.get("suspendReason")):
        return f"recurringjob.{GROUP}/{args.name} already suspended (no change)"
    patch: dict[str, Any] = {"suspend": True}
    if reason is not None:
        patch["suspendReason"] = reason
    api.patch_rj(args.name, {"spec": patch})
    return f"recurringjob.{GROUP}/{args.name} suspended" + (f" ({reason})" if reason else "")


def cmd_resume(api: RjApi, args: argparse.Namespace, now: datetime) -> str:
    """Clears spec.suspend and the note that came with it (a manual suspend or suspendOnFailure)."""
    spec = api.get_rj(args.name).get("spec") or {}
    if not spec.get("suspend"):
        return f"recurringjob.{GROUP}/{args.name} already resumed (no change)"
    # merge patch: null deletes the field
    api.patch_rj(args.name, {"spec": {"suspend": False, "suspendReason": None}})
    note = f" (was: {spec['suspendReason']})" if spec.get("suspendReason") else ""
    return f"recurringjob.{GROUP}/{args.name} resumed{note}"
