"""`recurringjob next`: the upcoming occurrences of a RecurringJob (-f) or of schedules given as flags,
one per line.

Each line is the RFC3339 UTC time, then (for a zone other than UTC) the same instant in the zone of
the schedule it comes from. Several schedules merge into one stream (a time they share comes once),
exclusion schedules remove their times, and startTime/endTime bound the stream, as in the operator.

With jitter (spec.jitterSeconds or --jitter-seconds) each line also says when the occurrence fires:
`fires <time> (+N s)`, computed as the operator does from the RecurringJob's uid (metadata.uid or
--uid). Without a uid the times are nominal, and a note on stderr says so.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from datetime import datetime

from recurringjob.cli.plan import find_recurring_job, load_objects, parse_now
from recurringjob.core.cron import ScheduleError
from recurringjob.core.jitter import fire_time
from recurringjob.core.occurrences import Occurrences, build_stream, occurrence_stream
from recurringjob.core.spec import InvalidSpec, read_spec
from recurringjob.core.timeutil import format_rfc3339, parse_rfc3339
from recurringjob.errors import UserError

# these describe --schedule; with -f the file's spec says it
FLAG_ONLY = ("time_zone", "exclude", "start_time", "end_time", "jitter_seconds")


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
    parser.add_argument("--jitter-seconds", metavar="N", type=int,
                        help="with --schedule: each occurrence fires up to N s late (--uid says how late)")
    parser.add_argument("--uid", help="the RecurringJob's metadata.uid: jitter is derived from it "
                                      "(default with -f: the file's metadata.uid)")
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


def _stream_from_file(args: argparse.Namespace) -> tuple[Occurrences, int, str | None]:
    """The file's stream, jitterSeconds and uid."""
    given = [f"--{name.replace('_', '-')}" for name in FLAG_ONLY if getattr(args, name)]
    if given:
        raise UserError(f"{', '.join(given)} go(es) with --schedule; with -f the file's spec is used")
    rj = find_recurring_job(load_objects(args.filename), args.filename, args.name)
    try:
        stream = occurrence_stream(rj)
        jitter = read_spec(rj).jitter_seconds
    except InvalidSpec as exc:
        raise UserError(f"{args.filename}: {exc}") from None
    uid = (rj.get("metadata") or {}).get("uid")
    return stream, jitter, str(uid) if uid else None


def _check_jitter(stream: Occurrences, jitter: int, now: datetime) -> None:
    """The operator refuses jitter as long as the interval (Ready=False); so does this command."""
    if jitter < 0:
        raise UserError(f"--jitter-seconds must be >= 0, got {jitter}")
    shortest = stream.shortest_interval(now)
    if jitter and shortest is not None and jitter >= shortest:
        raise UserError(f"--jitter-seconds {jitter} must be smaller than the schedule's shortest interval "
                        f"({shortest:.0f} s)")


def main(args: argparse.Namespace) -> int:
    now = parse_now(args.now)
    try:
        if args.schedule:
            stream, jitter, uid = _stream_from_flags(args, now), args.jitter_seconds or 0, args.uid
            _check_jitter(stream, jitter, now)
        else:
            stream, jitter, file_uid = _stream_from_file(args)
            uid = args.uid or file_uid
        # one more than printed: the last one's jitter is bounded by the occurrence after it
        times = stream.occurrences(now, datetime.max.replace(tzinfo=now.tzinfo), args.count + 1)
    except ScheduleError as exc:
        raise UserError(f"{exc.reason}: {exc.message}") from None
    if jitter and not uid:
        print(f"note: nominal times; each fires up to {jitter} s later, by an amount derived from the "
              "RecurringJob's uid (give --uid, or a file with metadata.uid)", file=sys.stderr)
    elif jitter:
        print(f"note: with jitter up to {jitter} s for uid {uid}: nominal time, then when it fires",
              file=sys.stderr)
    for t, following in itertools.zip_longest(times[: args.count], times[1:]):
        line = format_rfc3339(t)
        source = next((s for s in stream.schedules if s.latest_at_or_before(t) == t), stream.schedules[0])
        if source.time_zone != "UTC":
            local = t.astimezone(source.zone)
            line += f"  {local.isoformat()} {local.tzname()}"
        if jitter and uid:
            fire = fire_time(uid, t, following, jitter)
            line += f"  fires {format_rfc3339(fire)} (+{int((fire - t).total_seconds())} s)"
        print(line)
    return 0
