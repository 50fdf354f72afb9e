"""`kubectl recurringjob ...`: look into RecurringJobs, and run them now or backfill them.

The executable `kubectl-recurringjob`; what an operator of the operator needs:

  list                 RecurringJobs, like `kubectl get rj`, plus the next fire time in local time
  describe NAME        spec summary, next 10 times, 10 recent runs, buffered occurrences, pending requests
  next NAME            upcoming fire times of its schedule(s)
  why NAME             the planner's decision for the live object: "why didn't it run?"
  history NAME         its Jobs: scheduled time, outcome, launch lag, duration
  trigger NAME         run now: one Job per request id, whatever the schedule (also while suspended)
  backfill NAME        run every occurrence in [--from, --to] once, with a progress bar
  suspend / resume     set spec.suspend (merge patch); resume also ends a suspendOnFailure stop
  owner NAME           which operator replica leads it (its shard, the shard Lease's holder)

Uses the current kubeconfig context and namespace like kubectl (`--kubeconfig`, `--context`,
`-n/--namespace`, KUBECONFIG). Errors are one line on stderr, exit code 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from recurringjob.cli.plugin_client import Client, PluginError
from recurringjob.cli.plugin_describe import cmd_describe, render_why
from recurringjob.cli.plugin_format import (
    age,
    human_duration,
    job_outcome,
    local_time,
    next_fire,
    parse_time,
    scheduled_time_of,
    table,
    with_fire_times,
)
from recurringjob.cli.plugin_owner import add_owner_arguments, cmd_owner
from recurringjob.cli.plugin_requests import (
    check_request_id,
    cmd_backfill,
    cmd_trigger,
)
from recurringjob.cli.plugin_suspend import cmd_resume, cmd_suspend
from recurringjob.core.spec import CONCURRENCY_POLICIES as OVERLAP_POLICIES
from recurringjob.core.timeutil import parse_duration
from recurringjob.errors import UserError

PROG = "kubectl recurringjob"


# -- commands ---------------------------------------------------------------------------------

def schedule_columns(spec: Mapping[str, Any]) -> list[str]:
    """SCHEDULE and TIMEZONE: the first of several schedules, with how many more."""
    schedules = [s for s in spec.get("schedules") or [] if isinstance(s, Mapping)]
    if not schedules:
        return [str(spec.get("schedule", "")), str(spec.get("timeZone") or "UTC")]
    more = f" (+{len(schedules) - 1})" if len(schedules) > 1 else ""
    zone = schedules[0].get("timeZone") or spec.get("timeZone") or "UTC"
    return [f"{schedules[0].get('schedule')}{more}", str(zone)]


def cmd_list(client: Client, args: argparse.Namespace, now: datetime) -> str:
    rows = []
    for rj in sorted(client.list_rjs(args.all_namespaces),
                     key=lambda r: (r["metadata"].get("namespace", ""), r["metadata"]["name"])):
        meta, spec, status = rj["metadata"], rj.get("spec") or {}, rj.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
        if spec.get("suspend"):
            nxt = "<suspended>"
        elif ready is not None and ready.get("status") == "False":
            nxt = f"<{ready.get('reason') or 'not ready'}>"
        else:
            nxt = local_time(next_fire(rj, now), now)
        row = [meta["name"], *schedule_columns(spec),
               str(bool(spec.get("suspend"))), str(len(status.get("active") or [])),
               age(parse_time(status.get("lastScheduleTime")), now), nxt,
               str(ready.get("status")) if ready else "<none>",
               age(parse_time(meta.get("creationTimestamp")), now)]
        rows.append([meta.get("namespace", ""), *row] if args.all_namespaces else row)
    if not rows:
        where = "any namespace" if args.all_namespaces else f"{client.namespace} namespace"
        return f"No resources found in {where}."
    header = ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "NEXT (LOCAL)", "READY",
              "AGE"]
    return table(["NAMESPACE", *header] if args.all_namespaces else header, rows)


def cmd_next(client: Client, args: argparse.Namespace, now: datetime) -> str:
    from recurringjob.core.occurrences import occurrence_stream

    rj = client.get_rj(args.name)
    spec, status = rj.get("spec") or {}, rj.get("status") or {}
    try:
        stream = occurrence_stream(rj)
        times = stream.occurrences(now, datetime.max.replace(tzinfo=UTC), args.count)
    except ValueError as exc:  # InvalidSpec, ScheduleError: what the operator reports as Ready=False
        raise PluginError(f"{args.name}: {exc}") from None
    def described(schedules: Sequence[Any]) -> str:
        return ", ".join(f"{s.expression!r} in {s.time_zone}" for s in schedules)

    lines = [f"{args.name}: schedule{'s' if len(stream.schedules) > 1 else ''} {described(stream.schedules)}"
             + (" (suspended: nothing will run until resumed)" if spec.get("suspend") else "")]
    if stream.excludes:
        lines.append(f"excluding: {described(stream.excludes)}")
    if stream.start or stream.end:
        lines.append(f"window: {spec.get('startTime') or 'any time'} .. {spec.get('endTime') or 'no end'}")
    upcoming = with_fire_times(rj, times)
    if any(fire != nominal for nominal, fire in upcoming):
        lines.append(f"with jitter (up to {human_duration(float(spec['jitterSeconds']))}, fixed by the uid): "
                     "nominal time, then when it fires")
    cursor = parse_time(status.get("nextScheduleTime"))
    if cursor is not None and cursor <= now:
        lines.append(f"pending: {local_time(cursor, now)} is due and not decided yet")
    first = stream.schedules[0]  # its zone is the second column
    for t, fire in upcoming:
        there = t.astimezone(first.zone)
        line = f"  {local_time(t, now)}   [{there:%Y-%m-%d %H:%M:%S %Z} {first.time_zone}]"
        lines.append(line + (f"   fires {local_time(fire, now)}" if fire != t else ""))
    if not times:
        ended = stream.end is not None and stream.end <= now
        lines.append("  none: " + ("past endTime" if ended else "no occurrence left"))
    return "\n".join(lines)


def cmd_why(client: Client, args: argparse.Namespace, now: datetime) -> str:
    from recurringjob.core.planner import plan

    rj = client.get_rj(args.name)
    decision = plan(rj, client.owned_jobs(rj), now)
    if args.output == "json":
        return json.dumps(decision.to_json(), indent=2)
    return render_why(rj, decision, now)


def cmd_history(client: Client, args: argparse.Namespace, now: datetime) -> str:
    rj = client.get_rj(args.name)
    entries = []
    for job in client.owned_jobs(rj):
        meta, status = job.get("metadata") or {}, job.get("status") or {}
        scheduled = scheduled_time_of(job, args.name)
        created = parse_time(meta.get("creationTimestamp"))
        started = parse_time(status.get("startTime"))
        outcome, finished = job_outcome(job)
        lag = f"{(created - scheduled).total_seconds():.1f}s" if created and scheduled else "?"
        duration = human_duration((finished - started).total_seconds()) if finished and started else (
            f"{human_duration((now - started).total_seconds())} so far" if started else "-")
        row = [meta.get("name", ""), local_time(scheduled, now), outcome, lag, duration]
        entries.append((scheduled or created or now, row))
    entries.sort(key=lambda e: e[0], reverse=True)
    status = rj.get("status") or {}
    footer = (f"{len(entries)} job(s) kept (history limits: successful "
              f"{(rj.get('spec') or {}).get('successfulJobsHistoryLimit', 3)}, failed "
              f"{(rj.get('spec') or {}).get('failedJobsHistoryLimit', 1)}); missed occurrences: "
              f"{status.get('missedOccurrences', 0)}, skipped: {status.get('skippedOccurrences', 0)}")
    if not entries:
        return f"No Jobs of {args.name} in {client.namespace}.\n{footer}"
    rows = [row for _, row in entries[: args.limit]]
    return table(["JOB", "SCHEDULED (LOCAL)", "OUTCOME", "LAUNCH LAG", "DURATION"], rows) + "\n" + footer


COMMANDS: dict[str, tuple[Callable[[Any, argparse.Namespace, datetime], str], str]] = {
    "list": (cmd_list, "list RecurringJobs with their next fire time (local time)"),
    "describe": (cmd_describe, "a RecurringJob's settings, next 10 times, recent runs, pending requests"),
    "next": (cmd_next, "upcoming fire times of a RecurringJob"),
    "why": (cmd_why, "the planner's decision for a RecurringJob now: why did it (not) run?"),
    "history": (cmd_history, "recent Jobs of a RecurringJob: scheduled time, outcome, lag, duration"),
    "trigger": (cmd_trigger, "run a RecurringJob now: one Job per request id (works while suspended)"),
    "backfill": (cmd_backfill, "run every occurrence in [--from, --to] once, showing progress"),
    "suspend": (cmd_suspend, "suspend a RecurringJob (spec.suspend: true, optional --reason)"),
    "resume": (cmd_resume, "resume a suspended RecurringJob (also after suspendOnFailure)"),
    "owner": (cmd_owner, "which operator replica leads a RecurringJob (its shard and the shard's Lease)"),
}


def _duration(value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be longer than 0s")
    return seconds


def _request_arguments(p: argparse.ArgumentParser, command: str) -> None:
    if command == "backfill":
        p.add_argument("--from", dest="start", required=True, metavar="T1",
                       help="first nominal time (RFC 3339, e.g. 2026-11-01T00:00:00Z), inclusive")
        p.add_argument("--to", dest="end", required=True, metavar="T2", help="last nominal time, inclusive")
    p.add_argument("--id", type=check_request_id,
                   help="request id (default: generated); sending an id again changes nothing")
    p.add_argument("--overlap", choices=OVERLAP_POLICIES, metavar="POLICY",
                   help=f"overlap policy for this request: {', '.join(OVERLAP_POLICIES)} "
                        "(default: the RecurringJob's concurrencyPolicy)")
    p.add_argument("--no-wait", action="store_true", help="record the request and return at once")
    default = "1m" if command == "trigger" else "1h"
    p.add_argument("--timeout", type=_duration, default=_duration(default), metavar="DURATION",
                   help=f"how long to wait for the outcome (default {default})")


def build_parser() -> argparse.ArgumentParser:
    def connection_flags(default: Any) -> argparse.ArgumentParser:
        flags = argparse.ArgumentParser(add_help=False)
        flags.add_argument("-n", "--namespace", default=default,
                           help="namespace (default: the kubeconfig context's)")
        flags.add_argument("--kubeconfig", default=default,
                           help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
        flags.add_argument("--context", default=default, help="kubeconfig context (default: the current one)")
        return flags

    # The flags work before and after the command; SUPPRESS keeps a sub-command from resetting them.
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                     parents=[connection_flags(None)])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           parents=[connection_flags(argparse.SUPPRESS)])
        if name == "list":
            p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
        else:
            p.add_argument("name", metavar="NAME")
        if name == "next":
            p.add_argument("-c", "--count", type=int, default=5, help="how many (default: %(default)s)")
        if name == "why":
            p.add_argument("-o", "--output", choices=["text", "json"], default="text")
        if name == "history":
            p.add_argument("--limit", type=int, default=20, help="newest N Jobs (default: %(default)s)")
        if name in ("trigger", "backfill"):
            _request_arguments(p, name)
        if name == "owner":
            add_owner_arguments(p)
        if name == "suspend":
            p.add_argument("--reason", help="a note shown by kubectl get and describe (spec.suspendReason)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func = COMMANDS[args.command][0]
    try:
        client = Client(args.kubeconfig, args.context, args.namespace)
        print(func(client, args, datetime.now(UTC)))
    except (PluginError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
