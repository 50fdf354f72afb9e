"""`recurringjob next`: the upcoming fire times of a schedule, one per line.

Each line is the RFC3339 UTC time, then (for a zone other than UTC) the same instant in the zone.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from recurringjob.cli.plan import find_recurring_job, load_objects, parse_now
from recurringjob.core.cron import Schedule, ScheduleError
from recurringjob.core.planner_status import parse_time
from recurringjob.core.timeutil import format_rfc3339
from recurringjob.errors import UserError


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 1 <= count <= 10000:
        raise argparse.ArgumentTypeError("must be between 1 and 10000")
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--filename", metavar="FILE", help="a file with a RecurringJob; - reads stdin")
    source.add_argument("--schedule", metavar="S", help="a schedule, e.g. '0 2 * * *' or '@every 90s'")
    parser.add_argument("--time-zone", metavar="ZONE", help="IANA time zone for --schedule (default UTC)")
    parser.add_argument("--name", help="which RecurringJob, if FILE holds several")
    parser.add_argument("-n", "--count", type=_count, default=5, help="how many times to print (default 5)")
    parser.add_argument("--now", metavar="RFC3339", help="list times after this (default: now)")


def _schedule_from_args(args: argparse.Namespace, now: datetime) -> Schedule:
    """The schedule and its @every anchor: the RecurringJob's scheduleFrom, else creation, else now."""
    anchor: datetime | None = now
    if args.schedule is not None:
        schedule, zone = args.schedule, args.time_zone
    else:
        if args.time_zone is not None:
            raise UserError("--time-zone goes with --schedule; with -f the spec.timeZone of the file is used")
        rj = find_recurring_job(load_objects(args.filename), args.filename, args.name)
        spec = rj.get("spec") or {}
        schedule, zone = spec.get("schedule"), spec.get("timeZone")
        if not isinstance(schedule, str) or (zone is not None and not isinstance(zone, str)):
            raise UserError(f"{args.filename}: spec.schedule (and spec.timeZone) must be strings")
        status, metadata = rj.get("status") or {}, rj.get("metadata") or {}
        anchor = parse_time(status.get("scheduleFrom")) or parse_time(metadata.get("creationTimestamp"))
    try:
        return Schedule.parse(schedule, zone, anchor=anchor or now)
    except ScheduleError as exc:
        raise UserError(f"{exc.reason}: {exc.message}") from None


def main(args: argparse.Namespace) -> int:
    now = parse_now(args.now)
    schedule = _schedule_from_args(args, now)
    for t in schedule.occurrences(now, datetime.max.replace(tzinfo=now.tzinfo), args.count):
        line = format_rfc3339(t)
        if schedule.time_zone != "UTC":
            local = t.astimezone(schedule.zone)
            line += f"  {local.isoformat()} {local.tzname()}"
        print(line)
    return 0
