"""The planner's issue-9 steps, mixed into `planner._Planner`: fire times (jitter), maxRuns, why
scheduled launches stop, the status views (nextScheduleTimes, recentRuns), starting buffered
occurrences, and launching trigger/backfill requests. Same purity rules as the planner."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from recurringjob.core import buffering
from recurringjob.core.decision import Decision
from recurringjob.core.history import next_schedule_times, record_run
from recurringjob.core.jitter import fire_time
from recurringjob.core.jobs import build_job, job_name
from recurringjob.core.occurrences import Occurrences
from recurringjob.core.planner_status import Bookkeeping, job_ref, parse_time
from recurringjob.core.requests import (
    RequestContext,
    RequestLaunch,
    backfill_covering,
    book_request_outcomes,
    pending_work,
    plan_requests,
)
from recurringjob.core.spec import Spec
from recurringjob.core.timeutil import format_rfc3339


def _fmt(t: datetime) -> str:
    return format_rfc3339(t)


def _counter(value: Any) -> int:
    """A status counter; anything unreadable restarts at 0 rather than stopping the planner."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class PlannerSteps:
    # set by _Planner.__init__ / decide()
    rj: Mapping[str, Any]
    name: str
    namespace: Any
    uid: str
    now: datetime
    now_s: datetime
    status: dict[str, Any]
    old_status: dict[str, Any]
    warnings: list[str]
    stream: Occurrences | None
    jitter: int
    triggers: dict[str, tuple[datetime, str]]

    # provided by _Planner
    def _decision(self, action: Literal["launch", "wait", "skip"], book: Bookkeeping | None,
                  cursor: datetime | None, requeue_after: float | None, reason: str, *,
                  scheduled: datetime | None = None, job_name_: str | None = None,
                  job: dict[str, Any] | None = None,
                  delete_active: tuple[str, ...] = (), kind: str = "schedule", request_id: str | None = None,
                  fire: datetime | None = None) -> Decision:
        raise NotImplementedError

    def _seconds_until(self, t: datetime) -> float:
        raise NotImplementedError

    def _count_missed(self, count: int) -> None:
        raise NotImplementedError


    def _fire(self, t: datetime) -> datetime:
        """When occurrence t launches: t plus its deterministic jitter (bounded by the next one)."""
        if not self.jitter or self.stream is None:
            return t
        return fire_time(self.uid, t, self.stream.next_after(t), self.jitter)

    def _limits(self, spec: Spec, stream: Occurrences, cursor: datetime | None) -> datetime | None:
        """maxRuns bookkeeping: a new maxRuns restarts status.remainingRuns; after an exhausted budget
        the cursor restarts at now, so raising maxRuns never fires a past occurrence."""
        if spec.max_runs is None:
            self.status.pop("remainingRuns", None)
            self.status.pop("observedMaxRuns", None)
            return cursor
        if self.status.get("observedMaxRuns") != spec.max_runs:
            exhausted = "observedMaxRuns" in self.status and _counter(self.status.get("remainingRuns")) == 0
            self.status["observedMaxRuns"] = spec.max_runs
            self.status["remainingRuns"] = spec.max_runs
            if exhausted and cursor is not None and cursor <= self.now_s:
                cursor = stream.next_after(self.now_s)
        return cursor

    def _stopped(self, spec: Spec, cursor: datetime | None) -> tuple[str, str] | None:
        """Why scheduled occurrences do not launch now (reason, message), or None."""
        if spec.suspend:
            return "Suspended", spec.suspend_reason or "spec.suspend is true"
        failure = self.status.get("suspendedOnFailure")
        if isinstance(failure, Mapping):
            job, failed_at = failure.get("jobName"), failure.get("failedAt")
            return "SuspendedOnFailure", (f"Job {job} failed at {failed_at}; "
                                          f"run 'kubectl recurringjob resume {self.name}' to continue")
        if spec.max_runs is not None and _counter(self.status.get("remainingRuns")) == 0:
            return "MaxRunsReached", (f"maxRuns ({spec.max_runs}) scheduled Jobs were launched; "
                                      "raise spec.maxRuns to continue")
        if cursor is None:
            end = f" after spec.endTime ({_fmt(spec.end_time)})" if spec.end_time else ""
            return "EndTimeReached", f"the schedule has no further occurrence{end}"
        return None

    def _set_cursor(self, stream: Occurrences, cursor: datetime | None, stopped: bool) -> None:
        if cursor is None:
            self.status.pop("nextScheduleTime", None)
        else:
            self.status["nextScheduleTime"] = _fmt(cursor)
        previous = self.status.get("nextScheduleTimes")
        self.status["nextScheduleTimes"] = [] if stopped else next_schedule_times(stream, cursor, previous)

    def _running(self, book: Bookkeeping) -> list[str]:
        return [ref["name"] for ref in book.active] + book.running_unlisted + book.stopping

    def _claim_scheduled(self, book: Bookkeeping, t: datetime) -> tuple[str, datetime]:
        """The status part of launching scheduled occurrence t: active, lastScheduleTime,
        remainingRuns, recentRuns. Returns its Job name and fire time."""
        name = job_name(self.name, t)
        if all(ref.get("name") != name for ref in book.active):
            book.active.append(job_ref(name, self.namespace))
        self.status["active"] = book.active
        previous = parse_time(self.status.get("lastScheduleTime"))
        self.status["lastScheduleTime"] = _fmt(max(filter(None, [previous, t])))
        if "remainingRuns" in self.status:
            self.status["remainingRuns"] = max(0, _counter(self.status.get("remainingRuns")) - 1)
        fire = self._fire(t)
        record_run(self.status, scheduled=t, fire=fire, job_name=name, kind="schedule", outcome="Running",
                   now=self.now)
        return name, fire

    def _buffered_step(self, spec: Spec, cursor: datetime, book: Bookkeeping) -> Decision | None:
        """Start the oldest buffered occurrence once nothing runs."""
        if self._running(book) or not buffering.buffered(self.status):
            return None
        t = buffering.take_oldest(self.status)
        assert t is not None
        name, fire = self._claim_scheduled(book, t)
        return self._decision("launch", book, cursor, 0.0, f"Launching the buffered occurrence at {_fmt(t)}.",
                              scheduled=t, job_name_=name, job=build_job(self.rj, t, fire_time=fire),
                              fire=fire)

    def _replace_running(self, book: Bookkeeping, running: list[str]) -> tuple[str, ...]:
        """Replace: the claim records what must be deleted, so a crash before the DELETE is
        completed by recovery instead of leaving two Jobs running side by side."""
        book.pending_deletions = sorted(set(book.pending_deletions) | set(running))
        self.status["pendingDeletions"] = book.pending_deletions
        # superseded claims whose Job was never created are given up, not recreated
        self._count_missed(len(book.recreate))
        book.recreate, book.recreate_names = [], []
        book.active = []
        return tuple(book.pending_deletions)

    def _requests_waiting(self, spec: Spec) -> bool:
        recorded = self.status.get("requests")
        entries = [e for e in recorded if isinstance(e, Mapping)] if isinstance(recorded, list) else []
        known = {e.get("id") for e in entries}
        ids = [t.id for t in spec.triggers] + [b.id for b in spec.backfills]
        new = any(request_id not in known for request_id in ids)
        return new or pending_work([dict(e) for e in entries])

    def _book_requests(self, spec: Spec, stream: Occurrences, cursor: datetime | None, book: Bookkeeping,
                       owned: Mapping[str, Mapping[str, Any]]) -> None:
        """The outcomes of running requests, booked in every plan (see book_request_outcomes)."""
        if not self.status.get("requests"):
            return
        ctx = RequestContext(self.rj, spec, stream, cursor, self.now_s, owned,
                             [ref["name"] for ref in book.active], self._running(book))
        book_request_outcomes(ctx, self.status)
        self.status["requests"] = ctx.requests

    def _requests(self, spec: Spec, stream: Occurrences, cursor: datetime | None, book: Bookkeeping,
                  owned: Mapping[str, Mapping[str, Any]]) -> Decision | None:
        if not spec.triggers and not spec.backfills and not self.status.get("requests"):
            return None
        ctx = RequestContext(self.rj, spec, stream, cursor, self.now_s, owned,
                             [ref["name"] for ref in book.active], self._running(book))
        launch = plan_requests(ctx, self.status)
        self.status["requests"] = ctx.requests
        self.warnings.extend(ctx.warnings)
        return self._request_launch(launch, book, cursor) if launch is not None else None

    def _request_launch(self, launch: RequestLaunch, book: Bookkeeping,
                        cursor: datetime | None) -> Decision:
        # what still runs and was not deleted with Foreground (a Foreground deletion under way
        # kills its pods already)
        replaceable = [ref["name"] for ref in book.active] + book.running_unlisted + book.running_deleted
        replace = launch.overlap_policy == "Replace" and bool(replaceable)
        delete_active = self._replace_running(book, replaceable) if replace else ()
        if all(ref.get("name") != launch.name for ref in book.active):
            book.active.append(job_ref(launch.name, self.namespace))
        self.status["active"] = book.active
        fire = launch.nominal if launch.kind == "trigger" else None  # a backfilled time is late by design
        record_run(self.status, scheduled=launch.nominal, fire=fire, job_name=launch.name, kind=launch.kind,
                   outcome="Running", now=self.now, request_id=launch.request_id)
        replaced = f" Replacing {', '.join(delete_active)}." if delete_active else ""
        what = ("run-now request" if launch.kind == "trigger"
                else f"backfill of {_fmt(launch.nominal)} for request")
        return self._decision("launch", book, cursor, 0.0,
                              f"Launching the {what} {launch.request_id}.{replaced}",
                              scheduled=launch.nominal, job_name_=launch.name, job=launch.job,
                              delete_active=delete_active, kind=launch.kind, request_id=launch.request_id,
                              fire=launch.nominal)

    def _record_unlaunched(self, t: datetime, outcome: str) -> None:
        record_run(self.status, scheduled=t, fire=None, job_name=None, kind="schedule", outcome=outcome,
                   now=self.now)

    def _requeue(self, cursor: datetime | None) -> float | None:
        return self._seconds_until(self._fire(cursor)) if cursor is not None else None

    def _requested(self, name: str, t: datetime) -> bool:
        """Whether a claimed Job is a trigger's or a backfill's (recovered whatever the deadline)."""
        return name in self.triggers or backfill_covering(self.old_status, t) is not None

    def _rebuild(self, t: datetime, name: str) -> dict[str, Any]:
        """The manifest of a claimed Job that was never created, as its claim built it."""
        if name in self.triggers:
            return build_job(self.rj, t, kind="trigger", request_id=self.triggers[name][1])
        backfill = backfill_covering(self.old_status, t)
        if backfill is not None:
            return build_job(self.rj, t, kind="backfill", request_id=backfill)
        return build_job(self.rj, t, fire_time=self._fire(t))
