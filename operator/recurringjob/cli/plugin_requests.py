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
import re
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
from recurringjob.core.spec import (
    MAX_BACKFILLS,
    MAX_TRIGGERS,
    REQUEST_ID_MAX_LENGTH,
    REQUEST_ID_PATTERN,
)
from recurringjob.core.timeutil import format_rfc3339, parse_rfc3339

# The interface shared with the operator: docs/design.md, "Beyond CronJob" (issue 9).
TRIGGERS = "triggers"  # spec.triggers: [{id, overlapPolicy?}]
BACKFILLS = "backfills"  # spec.backfills: [{id, from, to, overlapPolicy?}]
REQUESTS = "requests"  # status.requests: the operator's record of each request it decided
MAX_ITEMS = {TRIGGERS: MAX_TRIGGERS, BACKFILLS: MAX_BACKFILLS}  # the CRD's maxItems
KIND_OF = {TRIGGERS: "trigger", BACKFILLS: "backfill"}
FINAL_STATES = ("Done", "Refused")
CONFLICT_ATTEMPTS = 10
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


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


def new_request_id(now: float | None = None) -> str:
    """`<unix seconds>-<4 random hex>`: unique in practice, sortable, short enough to type again."""
    return f"{int(time.time() if now is None else now)}-{secrets.token_hex(2)}"


def check_request_id(value: str) -> str:
    """argparse type for --id: the CRD's pattern, checked before anything is sent."""
    if len(value) > REQUEST_ID_MAX_LENGTH or not REQUEST_ID.match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a valid request id: use 1-{REQUEST_ID_MAX_LENGTH} lower-case letters, digits "
            "and '-', starting and ending with a letter or digit")
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


def _spec_kind_of(spec: Mapping[str, Any], request_id: str) -> str | None:
    for field in (TRIGGERS, BACKFILLS):
        if any(isinstance(e, Mapping) and e.get("id") == request_id for e in spec.get(field) or []):
            return KIND_OF[field]
    return None


def with_request(rj: Mapping[str, Any], field: str, entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object with `entry` appended to spec.<field> and requests already final trimmed from both
    lists (status.requests keeps their ids, so the operator still never repeats them) — or None when
    the id is already known, in the spec or in status: then there is nothing to write.
    PluginError when the id belongs to a request of the other kind, or the list is full."""
    request_id, kind = entry["id"], KIND_OF[field]
    spec = dict(rj.get("spec") or {})
    known_kind = _spec_kind_of(spec, request_id) or (request_status(rj, request_id) or {}).get("kind")
    if known_kind is not None and known_kind != kind:
        raise PluginError(f"request id {request_id!r} is already a {known_kind} request on "
                          f"{(rj.get('metadata') or {}).get('name')}: choose another --id")
    if known_kind is not None:
        return None
    final = _final_ids(rj)
    for f in (TRIGGERS, BACKFILLS):
        if f in spec:
            spec[f] = [e for e in spec[f] or [] if not (isinstance(e, Mapping) and e.get("id") in final)]
    if len(spec.get(field) or []) >= MAX_ITEMS[field]:
        name = (rj.get("metadata") or {}).get("name")
        raise PluginError(f"{name} has {MAX_ITEMS[field]} {kind} requests in flight (spec.{field} holds at "
                          f"most {MAX_ITEMS[field]}): wait for some to finish (kubectl recurringjob describe "
                          f"{name}) and try again")
    spec[field] = [*(spec.get(field) or []), dict(entry)]
    return {**rj, "spec": spec}


def update_rj(api: RjApi, name: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
              ) -> tuple[dict[str, Any], bool]:
    """Read, change, PUT with the resourceVersion read (409 when anything wrote meanwhile, the
    operator's status writes included: then read again and re-apply). `change` returns None for
    "nothing to write". Returns (the object, whether it was written)."""
    for _ in range(CONFLICT_ATTEMPTS):
        rj = api.get_rj(name)
        updated = change(rj)
        if updated is None:
            return rj, False
        try:
            return api.replace_rj(updated), True
        except Conflict:
            continue
    raise PluginError(f"recurringjob {name!r} kept changing while writing to it "
                      f"({CONFLICT_ATTEMPTS} conflicts in a row): try again")


def record_request(api: RjApi, name: str, field: str, entry: Mapping[str, Any]) -> Recorded:
    """Append the request unless its id is known (re-sending an id is a no-op)."""
    rj, written = update_rj(api, name, lambda current: with_request(current, field, entry))
    return Recorded(entry["id"], already=not written, rj=rj)


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
    """Launched (a Job name), or final: Pending (buffered behind a running Job) waits on."""
    return bool(entry.get("jobName")) or entry.get("state") in FINAL_STATES


def describe_trigger_outcome(name: str, entry: Mapping[str, Any]) -> tuple[bool, str]:
    """(launched?, one line) for a trigger's status entry."""
    request_id = entry.get("id")
    if entry.get("jobName"):
        result = f" ({entry['result']})" if entry.get("state") == "Done" and entry.get("result") else ""
        return True, f"trigger {request_id} on {name}: launched Job {entry['jobName']}{result}"
    why = entry.get("message") or entry.get("state") or "no reason given"
    return False, f"trigger {request_id} on {name} launched no Job: {why}"


def _print_pending(kind: str) -> Callable[[dict[str, Any]], None]:
    def on_change(entry: dict[str, Any]) -> None:
        if entry.get("state") == "Pending":
            why = f": {entry['message']}" if entry.get("message") else ""
            print(f"{kind} {entry.get('id')} is pending{why}", flush=True)
    return on_change


def cmd_trigger(api: RjApi, args: argparse.Namespace, now: datetime) -> str:
    entry: dict[str, Any] = {"id": args.id or new_request_id()}
    if args.overlap:
        entry["overlapPolicy"] = args.overlap
    recorded = record_request(api, args.name, TRIGGERS, entry)
    head = (f"trigger {recorded.id} already recorded on {args.name} (no change)" if recorded.already
            else f"trigger {recorded.id} recorded on recurringjob.{GROUP}/{args.name}")
    if args.no_wait:
        return head
    print(head, flush=True)
    outcome = wait_for_outcome(api, args.name, recorded.id, args.timeout, trigger_done,
                               on_change=_print_pending("trigger"))
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
    """Done: every occurrence decided and its Jobs finished; or Refused."""
    return entry.get("state") in FINAL_STATES


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def backfill_counts(entry: Mapping[str, Any]) -> tuple[int, int | None, str]:
    """(occurrences decided, total or None, "launched L, skipped S, already ran A")."""
    launched, skipped, already = (_count(entry.get(k)) for k in ("launched", "skipped", "alreadyRan"))
    total = entry.get("total")
    detail = f"launched {launched}, skipped {skipped}, already ran {already}"
    return launched + skipped + already, _count(total) if total is not None else None, detail


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
        decided, total, detail = backfill_counts(entry)
        state = str(entry.get("state") or "?")
        if self.progress is not None:
            self.progress.update(self.task, completed=decided, total=total, state=f"{state}: {detail}")
        else:
            of = f"/{total}" if total is not None else ""
            self.console.print(f"backfill {self.request_id}: {decided}{of} decided ({detail}) {state}",
                               highlight=False, soft_wrap=True)


def describe_backfill_outcome(name: str, entry: Mapping[str, Any]) -> tuple[bool, str]:
    request_id, state = entry.get("id"), entry.get("state")
    message = f": {entry['message']}" if entry.get("message") else ""
    if state == "Refused":
        return False, f"backfill {request_id} on {name} was refused{message}"
    _, total, detail = backfill_counts(entry)
    of = f"{total} occurrence(s): " if total is not None else ""
    return True, f"backfill {request_id} on {name}: {state}, {of}{detail}{message}"


def check_backfill_size(rj: Mapping[str, Any], request_id: str, start: datetime, end: datetime) -> int:
    """How many occurrences [start, end] holds, counted by the planner's own function (so the client
    refuses exactly what the operator would); PluginError over the limit, for none, or a bad spec."""
    from recurringjob.core.requests import BACKFILL_LIMIT, backfill_limit_message, count_backfill

    name = (rj.get("metadata") or {}).get("name")
    try:
        count = count_backfill(rj, start, end)
    except ValueError as exc:  # InvalidSpec, ScheduleError
        raise PluginError(f"{name}: {exc}") from None
    if count > BACKFILL_LIMIT:
        raise PluginError(backfill_limit_message(request_id, start, end))
    if count == 0:
        raise PluginError(f"backfill {request_id}: {format_rfc3339(start)}..{format_rfc3339(end)} holds no "
                          f"occurrence of {name}'s schedule: nothing to run")
    return count


def cmd_backfill(api: RjApi, args: argparse.Namespace, now: datetime) -> str:
    start, end = parse_range(args)
    request_id = args.id or new_request_id()
    check_backfill_size(api.get_rj(args.name), request_id, start, end)
    entry: dict[str, Any] = {"id": request_id, "from": format_rfc3339(start), "to": format_rfc3339(end)}
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
