"""`recurringjob next`: the upcoming occurrences of a RecurringJob (-f) or of schedules given as flags,
one per line.

Each line is the RFC3339 UTC time, then (for a zone other than UTC) the same instant in the zone of
the schedule it comes from. Several schedules merge into one stream (a time they share comes once),
exclusion schedules remove their times, and startTime/endTime bound the stream, as in the operator.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from recurringjob.cli.plan import find_recurring_job, load_objects, parse_now
from recurringjob.core.cron import ScheduleError
from recurringjob.core.occurrences import Occurrences, build_stream, occurrence_stream
from recurringjob.core.spec import InvalidSpec
from recurringjob.core.timeutil import format_rfc3339, parse_rfc3339
from recurringjob.errors import UserError

FLAG_ONLY = ("time_zone", "exclude", "start_time", "end_time")  # they describe --schedule, not a file


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
    source.add_argument("--schedule", metavar="S", action="append",
                        help="a schedule, e.g. '0 2 * * *' or '@every 90s'; repeat for several")
    parser.add_argument("--time-zone", metavar="ZONE", help="IANA time zone for --schedule (default UTC)")
    parser.add_argument("--exclude", metavar="S", action="append",
                        help="with --schedule: no occurrence at a time this schedule also has; repeatable")
    parser.add_argument("--start-time", metavar="RFC3339", help="with --schedule: none before this")
    parser.add_argument("--end-time", metavar="RFC3339", help="with --schedule: none after this")
    parser.add_argument("--name", help="which RecurringJob, if FILE holds several")
    parser.add_argument("-n", "--count", type=_count, default=5, help="how many times to print (default 5)")
    parser.add_argument("--now", metavar="RFC3339", help="list times after this (default: now)")


def _time_flag(flag: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise UserError(f"{flag}: {exc}") from None


def _stream_from_flags(args: argparse.Namespace, now: datetime) -> Occurrences:
    """@every schedules count from now (a file's count from its scheduleFrom or creation)."""
    zone = args.time_zone
    stream = build_stream([(s, zone) for s in args.schedule], [(s, zone) for s in args.exclude or []],
                          start=_time_flag("--start-time", args.start_time),
                          end=_time_flag("--end-time", args.end_time))
    return stream.with_anchor(now)


def _stream_from_file(args: argparse.Namespace) -> Occurrences:
    given = [f"--{name.replace('_', '-')}" for name in FLAG_ONLY if getattr(args, name)]
    if given:
        raise UserError(f"{', '.join(given)} go(es) with --schedule; with -f the file's spec is used")
    rj = find_recurring_job(load_objects(args.filename), args.filename, args.name)
    try:
        return occurrence_stream(rj)
    except InvalidSpec as exc:
        raise UserError(f"{args.filename}: {exc}") from None


def main(args: argparse.Namespace) -> int:
    now = parse_now(args.now)
    try:
        stream = _stream_from_flags(args, now) if args.schedule else _stream_from_file(args)
        times = stream.occurrences(now, datetime.max.replace(tzinfo=now.tzinfo), args.count)
    except ScheduleError as exc:
        raise UserError(f"{exc.reason}: {exc.message}") from None
    for t in times:
        line = format_rfc3339(t)
        source = next((s for s in stream.schedules if s.latest_at_or_before(t) == t), stream.schedules[0])
        if source.time_zone != "UTC":
            local = t.astimezone(source.zone)
            line += f"  {local.isoformat()} {local.tzname()}"
        print(line)
    return 0
