"""The pure planner: `plan(rj, jobs, now) -> Decision`. No I/O, no clock, never raises.

The cursor model: `status.nextScheduleTime` is the earliest occurrence not yet decided. A
decision (launch, skip, miss) moves it forward, and writing the new status with the
resourceVersion it was planned from is the claim: two planners can never both advance the
same cursor, so one occurrence is launched at most once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from recurringjob.core import buffering
from recurringjob.core.cron import INVALID_SCHEDULE, ScheduleError
from recurringjob.core.decision import Decision
from recurringjob.core.history import book_runs, failure_suspension
from recurringjob.core.jobs import build_job
from recurringjob.core.occurrence_lock import DEFAULT_MAX_REQUEST_SECONDS
from recurringjob.core.occurrences import Occurrences, spec_stream
from recurringjob.core.planner_anchor import MISSED_COUNT_CAP, AnchorSteps
from recurringjob.core.planner_status import (
    REJECTED_REASON,
    Bookkeeping,
    InvalidSpec,
    Spec,
    bookkeep,
    owned_jobs,
    parse_time,
    read_spec,
    set_condition,
)
from recurringjob.core.planner_steps import PlannerSteps
from recurringjob.core.requests import trigger_jobs
from recurringjob.core.spec import BUFFER_POLICIES
from recurringjob.core.timeutil import format_rfc3339, to_utc, truncate_to_second

TOO_MANY_MISSED = 100  # CronJob's threshold for the TooManyMissedTimes warning
REJECTED_RETRY_SECONDS = 60  # after the API rejected a Job: one attempt a minute, not a write storm
ON_TIME_TOLERANCE_SECONDS = 60  # catchUp None: how late an occurrence may be noticed and still run
_ONE_SECOND = timedelta(seconds=1)
_TOLERANCE = ON_TIME_TOLERANCE_SECONDS

__all__ = ["Decision", "plan"]  # Decision lives in decision.py; callers keep importing it from here


def plan(rj: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]], now: datetime, *,
         max_request_seconds: float = DEFAULT_MAX_REQUEST_SECONDS) -> Decision:
    """Decide what to do for RecurringJob `rj` at `now` (the API server's clock), given the Jobs it
    owns. `max_request_seconds` bounds how long a Job create can stay in flight."""
    try:
        return _Planner(rj, jobs, now, max_request_seconds).decide()
    except Exception as exc:  # the contract: never raise; a bug must not stop other RecurringJobs
        return Decision(
            action="wait",
            requeue_after=60.0,
            warnings=("PlannerError",),
            reason=f"The planner failed on this object ({type(exc).__name__}: {exc}); nothing was done.",
        )


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): several times faster than
    copy.deepcopy, which matters with recentRuns and nextScheduleTimes in every status."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def _fmt(t: datetime) -> str:
    return format_rfc3339(t)


def _counter(value: Any) -> int:
    """A status counter; anything unreadable restarts at 0 rather than stopping the planner."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class _Planner(AnchorSteps, PlannerSteps):
    def __init__(self, rj: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]], now: datetime,
                 max_request_seconds: float = DEFAULT_MAX_REQUEST_SECONDS) -> None:
        self.rj = rj
        self.jobs = jobs
        self.max_request_seconds = max_request_seconds
        self.now = to_utc(now)
        self.now_s = truncate_to_second(self.now)  # occurrences and deadlines are whole seconds
        metadata = rj.get("metadata") if isinstance(rj, Mapping) else None
        self.metadata: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else {}
        self.name = str(self.metadata.get("name", ""))
        self.namespace = self.metadata.get("namespace")
        self.generation = self.metadata.get("generation")
        raw_status = rj.get("status") if isinstance(rj, Mapping) else None
        self.old_status: dict[str, Any] = dict(raw_status) if isinstance(raw_status, Mapping) else {}
        self.status = _json_copy(self.old_status)
        if isinstance(self.generation, int):
            self.status["observedGeneration"] = self.generation
        self.warnings: list[str] = []
        self.missed = 0
        self.uid = str(self.metadata.get("uid", ""))
        self.stream: Occurrences | None = None
        self.jitter = 0
        self.triggers = trigger_jobs(self.old_status)  # Job name -> (nominal time, request id)

    # -- entry -----------------------------------------------------------------------------------

    def decide(self) -> Decision:
        try:
            spec = read_spec(self.rj)
        except InvalidSpec as exc:
            self._apply_bookkeeping(bookkeep(self.rj, self.old_status, self.jobs, self.now, None,
                                             self.max_request_seconds))
            return self._not_ready("InvalidSpec", str(exc))
        book = bookkeep(self.rj, self.old_status, self.jobs, self.now, spec, self.max_request_seconds,
                        request_jobs={name: t for name, (t, _) in self.triggers.items()},
                        requested=self._requested)
        self._apply_bookkeeping(book)
        try:
            stream = spec_stream(spec)
        except ScheduleError as exc:
            return self._not_ready(exc.reason, exc.message, book)
        stream, cursor, edited = self._anchor(spec, stream)
        if cursor is None and (spec.end_time is None or self.now_s < spec.end_time):
            # not the end of a window: the schedule runs out (near year 9999) or exclusions hide
            # every occurrence for longer than the walk looks ahead
            message = (f"the schedule has no further occurrence (after {self.status.get('scheduleFrom')}; "
                       "check excludeSchedules and the dates)")
            return self._not_ready(INVALID_SCHEDULE, message, book)
        self.stream, self.jitter = stream, spec.jitter_seconds
        if spec.jitter_seconds:
            interval = stream.shortest_interval(cursor - _ONE_SECOND if cursor else self.now_s)
            if interval is not None and spec.jitter_seconds >= interval:
                return self._not_ready("InvalidSpec", f"spec.jitterSeconds ({spec.jitter_seconds}) must be "
                                       f"smaller than the schedule's shortest interval ({interval:g}s)", book)
        owned = owned_jobs(self.rj, self.jobs)
        book_runs(self.status, owned, [ref["name"] for ref in book.active])
        self._book_requests(spec, stream, cursor, book, owned)
        failure_suspension(self.status, spec, self.old_status, owned)
        cursor = self._limits(spec, stream, cursor)
        rejected = self._rejection()
        stopped = self._stopped(spec, cursor)
        self._set_conditions(spec, stopped, keep_ready=rejected is not None)
        self._set_cursor(stream, cursor, stopped is not None)
        if rejected is not None and not spec.suspend and self.now < rejected:
            return self._decision("wait", book, cursor, self._seconds_until(rejected),
                                  "The API rejected this RecurringJob's Job; trying again at "
                                  f"{_fmt(rejected)} (or at once when the spec changes).")
        if stopped is None and cursor is not None:
            decision = self._buffered_step(spec, cursor, book)
            if decision is None and self._fire(cursor) <= self.now:
                decision = self._due(spec, stream, cursor, book)
            if decision is not None:
                if self._requests_waiting(spec):
                    decision = dataclasses.replace(decision, requeue_after=0.0)
                return decision
        launch = self._requests(spec, stream, cursor, book, owned)
        if launch is not None:
            return launch
        return self._wait(spec, stream, cursor, stopped, edited, book)

    def _wait(self, spec: Spec, stream: Occurrences, cursor: datetime | None, stopped: tuple[str, str] | None,
              edited: bool, book: Bookkeeping) -> Decision:
        if spec.suspend and cursor is not None:
            due = stream.count(cursor - _ONE_SECOND, self.now, MISSED_COUNT_CAP)
            pending = (f" {due} occurrence(s) came due since; catchUp {spec.catch_up} applies on resume."
                       if due else "")
            note = f" Reason: {spec.suspend_reason}." if spec.suspend_reason else ""
            return self._decision("wait", book, cursor, None,
                                  f"Suspended (spec.suspend is true).{note}{pending}")
        if stopped is not None or cursor is None:
            reason, message = stopped or ("EndTimeReached", "no further occurrence")
            return self._decision("wait", book, cursor, None,
                                  f"Not launching scheduled occurrences ({reason}): {message.rstrip('.')}.")
        fire = self._fire(cursor)
        why = "The schedule was edited; it takes effect from now. " if edited else ""
        jittered = f" (fires at {_fmt(fire)}: jitter)" if fire != cursor else ""
        return self._decision("wait", book, cursor, self._seconds_until(fire),
                              f"{why}Nothing is due; the next occurrence is {_fmt(cursor)}{jittered}.")

    # -- the due path: catch-up policy, deadline, concurrency ----------------------------------

    def _due(self, spec: Spec, schedule: Occurrences, cursor: datetime, book: Bookkeeping) -> Decision | None:
        """Called when the cursor's fire time has come. Deadlines and catchUp None's tolerance
        count from fire times (nominal + jitter)."""
        before_cursor = cursor - _ONE_SECOND  # occurrences in [cursor, now] = (cursor - 1s, now]
        latest = schedule.latest_at_or_before(self.now_s, before_cursor)
        if latest is not None and self._fire(latest) > self.now:
            # jittered and not yet fired: the one before it is the latest due (fire times increase)
            latest = schedule.latest_at_or_before(latest - _ONE_SECOND, before_cursor)
        if latest is None:  # the stored cursor was not an occurrence: nothing is really due
            following = schedule.next_after(self.now_s)
            if following is None:
                return None
            self.status["nextScheduleTime"] = _fmt(following)
            return self._decision("wait", book, following, self._seconds_until(self._fire(following)),
                                  f"Nothing is due; the next occurrence is {_fmt(following)}.")
        due_until = latest
        deadline = spec.starting_deadline_seconds
        earliest_allowed = self.now_s - timedelta(seconds=deadline) if deadline is not None else None
        target: datetime | None
        if spec.catch_up == "All":
            # the oldest of the newest maxCatchUp due occurrences; older ones are missed
            target = schedule.nth_latest_at_or_before(due_until, spec.max_catch_up, before_cursor)
            if target is not None and earliest_allowed is not None and self._fire(target) < earliest_allowed:
                jitter = timedelta(seconds=self.jitter)
                first_allowed = schedule.next_after(earliest_allowed - _ONE_SECOND - jitter)
                while first_allowed is not None and self._fire(first_allowed) < earliest_allowed:
                    first_allowed = schedule.next_after(first_allowed)
                target = first_allowed if first_allowed is not None and first_allowed <= due_until else None
        elif spec.catch_up == "None":
            tolerance = min(_TOLERANCE, deadline if deadline is not None else _TOLERANCE)
            target = latest if (self.now_s - self._fire(latest)).total_seconds() <= tolerance else None
        else:
            late = earliest_allowed is not None and self._fire(latest) < earliest_allowed
            target = None if late else latest
        given_up_until = target if target is not None else latest + _ONE_SECOND
        older = schedule.count(before_cursor, given_up_until - _ONE_SECOND, MISSED_COUNT_CAP)
        self.missed += older
        if target is None:
            self.warnings.append("MissSchedule")
        # CronJob's rule: more than 100 start times due in (cursor or now - deadline, now], the
        # one it starts included
        window_start = before_cursor if earliest_allowed is None else max(before_cursor,
                                                                          earliest_allowed - _ONE_SECOND)
        if schedule.count(window_start, self.now_s, TOO_MANY_MISSED + 1) > TOO_MANY_MISSED:
            self.warnings.append("TooManyMissedTimes")
        missed_note = self._missed_note(older if target is not None else older - 1)
        if target is None:
            next_cursor = schedule.next_after(latest)
            self._set_cursor(schedule, next_cursor, False)
            self._record_unlaunched(latest, "Missed")
            why = (f"catchUp None runs an occurrence only within {ON_TIME_TOLERANCE_SECONDS}s (or "
                   "startingDeadlineSeconds, if smaller) of its time" if spec.catch_up == "None"
                   else f"it is more than startingDeadlineSeconds ({deadline}s) late")
            return self._decision("skip", book, next_cursor, self._requeue(next_cursor),
                                  f"Missed the occurrence at {_fmt(latest)}: {why}.{missed_note}",
                                  scheduled=latest)
        return self._run(spec, schedule, target, book, missed_note)

    def _run(
        self, spec: Spec, schedule: Occurrences, target: datetime, book: Bookkeeping, missed_note: str
    ) -> Decision:
        if spec.concurrency_policy == "Replace" and book.recreate:
            # A claimed occurrence whose Job was never created (its leader died) runs first; the next
            # plan replaces it. Superseding it unlaunched would lose an occurrence that was claimed.
            return self._decision("wait", book, parse_time(self.status.get("nextScheduleTime")), 0.0,
                                  f"Recovering claimed occurrence(s) before launching the one at "
                                  f"{_fmt(target)}.")
        next_cursor = schedule.next_after(target)
        self._set_cursor(schedule, next_cursor, False)
        requeue = self._requeue(next_cursor)
        running = [ref["name"] for ref in book.active] + book.running_unlisted
        # a Job being deleted keeps running until it is gone (its pods may outlive the request)
        busy = sorted(running + book.stopping)
        if spec.concurrency_policy in BUFFER_POLICIES and busy:
            if buffering.add(self.status, spec, target):
                return self._decision(
                    "wait", book, next_cursor, requeue,
                    f"Buffered the occurrence at {_fmt(target)}: {', '.join(busy)} is still running "
                    f"(concurrencyPolicy {spec.concurrency_policy}).{missed_note}", scheduled=target)
            self.status["skippedOccurrences"] = _counter(self.status.get("skippedOccurrences")) + 1
            self._record_unlaunched(target, "Skipped")
            return self._decision(
                "skip", book, next_cursor, requeue,
                f"Skipped the occurrence at {_fmt(target)}: the buffer is full (concurrencyPolicy "
                f"{spec.concurrency_policy}, {buffering.capacity(spec)} waiting).{missed_note}",
                scheduled=target)
        if spec.concurrency_policy == "Forbid" and busy:
            self.status["skippedOccurrences"] = _counter(self.status.get("skippedOccurrences")) + 1
            self._record_unlaunched(target, "Skipped")
            return self._decision(
                "skip", book, next_cursor, requeue,
                f"Skipped the occurrence at {_fmt(target)}: concurrencyPolicy is Forbid and "
                f"{', '.join(busy)} is still running.{missed_note}", scheduled=target)
        delete_active: tuple[str, ...] = ()
        if spec.concurrency_policy == "Replace" and (running or book.running_deleted):
            delete_active = self._replace_running(book, running + book.running_deleted)
        name, fire = self._claim_scheduled(book, target)
        replaced = f" Replacing {', '.join(delete_active)}." if delete_active else ""
        return self._decision(
            "launch", book, next_cursor, requeue,
            f"Launching the occurrence at {_fmt(target)}.{replaced}{missed_note}",
            scheduled=target, job_name_=name, job=build_job(self.rj, target, fire_time=fire),
            delete_active=delete_active, fire=fire)

    # -- helpers ---------------------------------------------------------------------------------

    def _missed_note(self, older: int) -> str:
        if older <= 0:
            return ""
        more = "+" if older >= MISSED_COUNT_CAP else ""
        return f" {older}{more} older occurrence(s) were missed."

    def _count_missed(self, count: int) -> None:
        self.missed += count

    def _apply_bookkeeping(self, book: Bookkeeping) -> None:
        self.status["active"] = book.active
        if not book.active and "active" not in self.old_status:
            del self.status["active"]
        self.status["pendingDeletions"] = book.pending_deletions
        if not book.pending_deletions and "pendingDeletions" not in self.old_status:
            del self.status["pendingDeletions"]
        completions = (("lastSuccessfulTime", book.last_successful), ("lastFailedTime", book.last_failed))
        for key, value in completions:
            if value is not None:
                self.status[key] = _fmt(value)
        self.missed += len(book.dropped)
        if book.dropped:
            self.warnings.append("MissSchedule")

    def _rejection(self) -> datetime | None:
        """When to try again after the API rejected a Job of this spec (Ready=False/JobRejected for
        the current generation, and no Job created since): None if not rejected."""
        ready = next((c for c in self._conditions() if c.get("type") == "Ready"), None)
        if not ready or (ready.get("status"), ready.get("reason")) != ("False", REJECTED_REASON):
            return None
        if ready.get("observedGeneration") != self.generation:
            return None  # the spec changed since: try it at once
        since = parse_time(ready.get("lastTransitionTime"))
        if since is None:
            return None
        for job in owned_jobs(self.rj, self.jobs).values():
            created = parse_time((job.get("metadata") or {}).get("creationTimestamp"))
            if created is not None and created >= since:
                return None  # a Job was accepted since: the rejection is over
        return since + timedelta(seconds=REJECTED_RETRY_SECONDS)

    def _set_conditions(self, spec: Spec, stopped: tuple[str, str] | None, keep_ready: bool = False) -> None:
        """Suspended=True whenever scheduled occurrences do not launch (spec.suspend, a failure,
        maxRuns, endTime); its reason says which. Requests run either way."""
        conditions = self._conditions()
        if not keep_ready:
            conditions = set_condition(conditions, "Ready", True, "Scheduled",
                                       "The schedule and spec are valid.", self.now_s, self.generation)
        reason, message = stopped or ("Active", "not suspended")
        self.status["conditions"] = set_condition(conditions, "Suspended", stopped is not None, reason,
                                                  message, self.now_s, self.generation)

    def _conditions(self) -> list[dict[str, Any]]:
        conditions = self.status.get("conditions")
        return [dict(c) for c in conditions if isinstance(c, Mapping)] if isinstance(conditions, list) else []

    def _not_ready(self, reason: str, message: str, book: Bookkeeping | None = None) -> Decision:
        conditions = self._conditions()
        previous = next((c for c in conditions if c.get("type") == "Ready"), {})
        previous_state = (previous.get("status"), previous.get("reason"), previous.get("message"))
        if previous_state != ("False", reason, message):
            self.warnings.append(reason)  # one event per change, not one per reconcile
        self.status["conditions"] = set_condition(conditions, "Ready", False, reason, message, self.now_s,
                                                  self.generation)
        # Nothing is scheduled while invalid; the fix re-anchors at the moment it is observed
        # (observedSchedule "" never equals a spec), so it does not replay the invalid period.
        self.status["observedSchedule"] = ""
        self.status.pop("nextScheduleTime", None)
        self.status["nextScheduleTimes"] = []
        return self._decision("wait", book, None, None, f"Not scheduling: {message.rstrip('.')}.")

    def _seconds_until(self, t: datetime) -> float:
        return max(0.0, (t - self.now).total_seconds())

    def _decision(
        self,
        action: Literal["launch", "wait", "skip"],
        book: Bookkeeping | None,
        cursor: datetime | None,
        requeue_after: float | None,
        reason: str,
        *,
        scheduled: datetime | None = None,
        job_name_: str | None = None,
        job: dict[str, Any] | None = None,
        delete_active: tuple[str, ...] = (),
        kind: str = "schedule",
        request_id: str | None = None,
        fire: datetime | None = None,
    ) -> Decision:
        if self.missed:
            self.status["missedOccurrences"] = _counter(self.status.get("missedOccurrences")) + self.missed
        recreate = tuple(self._rebuild(t, name) for t, name in zip(book.recreate, book.recreate_names,
                                                                     strict=True)) if book else ()
        if recreate:
            reason += f" Recreating {len(recreate)} claimed Job(s) that were never created."
        if book and book.pending_deletions:
            delete_active = tuple(sorted(set(delete_active) | set(book.pending_deletions)))
        if book and book.stopped:
            reason += f" {', '.join(book.stopped)} deleted before finishing: booked as stopped, not re-run."
        if book and book.revisit_at is not None:
            revisit = self._seconds_until(book.revisit_at)
            requeue_after = revisit if requeue_after is None else min(requeue_after, revisit)
        decision = Decision(
            action=action,
            scheduled_time=scheduled,
            job_name=job_name_,
            next_schedule_time=cursor,
            requeue_after=requeue_after,
            delete_active=delete_active,
            missed=self.missed,
            warnings=tuple(dict.fromkeys(self.warnings)),
            reason=reason,
            status=self.status if self.status != self.old_status else None,
            job=job,
            recreate=recreate,
            prune=tuple(book.prune) if book else (),
            release=tuple(book.release) if book else (),
            kind=kind,
            request_id=request_id,
            fire_time=fire,
        )
        # self.status is this planner's own deep copy (made in __init__), so it is handed out as is
        return decision

