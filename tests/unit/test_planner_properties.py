"""Property tests: one launch per occurrence, increasing fire times, a planner that never raises."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_helpers import make_job, make_rj
from recurringjob.core.cron import Schedule
from recurringjob.core.planner import plan
from recurringjob.core.planner_status import parse_time

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Apia"]
SCHEDULES = [
    "* * * * *",
    "*/7 * * * *",
    "0 * * * *",
    "30 1 * * *",
    "30 2 * * *",
    "0,30 2 * * *",
    "15 */2 * * *",
    "*/20 * * * * *",
    "0 9 * * MON-FRI",
    "@hourly",
    "@daily",
    "@every 45s",
    "@every 7m",
    "0 0 29 2 *",
    "*/15 2 * * *",
    "0 1-3 * * SUN",
    "30 0 1 * * *",
]
# Around the 2024 transitions of the zones above, plus an ordinary stretch
STARTS = [
    datetime(2024, 3, 9, 12, tzinfo=UTC),
    datetime(2024, 3, 30, 20, tzinfo=UTC),
    datetime(2024, 4, 6, 10, tzinfo=UTC),
    datetime(2024, 10, 26, 20, tzinfo=UTC),
    datetime(2024, 11, 2, 20, tzinfo=UTC),
    datetime(2024, 6, 1, tzinfo=UTC),
]

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    schedule=st.sampled_from(SCHEDULES),
    zone=st.sampled_from(ZONES),
    start=st.sampled_from(STARTS),
    offset=st.integers(0, 86400),
)
def test_next_times_strictly_increase_and_agree_with_the_backward_walk(
    schedule: str, zone: str, start: datetime, offset: int
) -> None:
    parsed = Schedule.parse(schedule, zone, anchor=start)
    t = start + timedelta(seconds=offset)
    previous = None
    for _ in range(25):
        following = parsed.next_after(t)
        assert following > t
        assert parsed.latest_at_or_before(following) == following
        if previous is not None:
            assert parsed.latest_at_or_before(following - timedelta(seconds=1)) == previous
        previous, t = following, following


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "schedule": draw(st.sampled_from(SCHEDULES)),
        "zone": draw(st.sampled_from(ZONES)),
        "start": draw(st.sampled_from(STARTS)),
        "spec": {
            "concurrencyPolicy": draw(st.sampled_from(["Allow", "Forbid", "Replace"])),
            "catchUp": draw(st.sampled_from(["Latest", "All", "None"])),
            "maxCatchUp": draw(st.integers(1, 5)),
            **({"startingDeadlineSeconds": draw(st.integers(0, 7200))} if draw(st.booleans()) else {}),
        },
        # each step: seconds to advance, whether the write is lost (a stale planner), whether to
        # finish the running Jobs, toggle suspend, or edit the schedule
        "steps": draw(
            st.lists(
                st.tuples(
                    st.one_of(st.sampled_from([1, 10, 59, 61, 900, 3600, 7200]), st.integers(0, 7200)),
                    st.integers(0, 4).map(lambda n: n == 0),  # a lost write one time in five
                    st.booleans(),
                    st.sampled_from(["suspend", "edit", *[""] * 10]),
                ),
                min_size=20,
                max_size=60,
            )
        ),
    }


@FAST
@given(scenario=scenarios())
def test_never_two_launches_of_one_occurrence(scenario: dict[str, Any]) -> None:
    """Replay plan() over time like the runtime does (apply status, create Jobs), with lost writes,
    suspensions, edits and completions: launched occurrences are unique and increasing, and each
    is a real occurrence after scheduleFrom."""
    start = scenario["start"]
    rj = make_rj(
        scenario["schedule"],
        created=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        timeZone=scenario["zone"],
        **scenario["spec"],
    )
    jobs: dict[str, dict[str, Any]] = {}
    launched: list[datetime] = []
    now = start
    for advance, lose_write, finish, event in scenario["steps"]:
        now += timedelta(seconds=advance)
        if finish:
            for name in list(jobs):
                jobs[name] = make_job(name, "succeeded", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if event == "suspend":
            rj["spec"]["suspend"] = not rj["spec"].get("suspend", False)
        elif event == "edit":
            rj["spec"]["schedule"] = SCHEDULES[(SCHEDULES.index(rj["spec"]["schedule"]) + 1) % len(SCHEDULES)]
        for _ in range(6):  # requeue-immediately loops (catchUp All) run a few times per step
            decision = plan(copy.deepcopy(rj), list(jobs.values()), now)
            assert "PlannerError" not in decision.warnings, decision.reason
            if lose_write:  # another replica won the CAS: this decision is discarded entirely
                break
            if decision.status is not None:
                rj["status"] = copy.deepcopy(decision.status)
            for name in decision.delete_active + decision.prune:
                jobs.pop(name, None)
            if decision.job is not None:
                assert decision.job_name not in jobs
                jobs[decision.job["metadata"]["name"]] = decision.job
                assert decision.scheduled_time is not None
                launched.append(decision.scheduled_time)
                schedule = Schedule.parse(
                    rj["spec"]["schedule"],
                    rj["spec"]["timeZone"],
                    anchor=parse_time(rj["status"]["scheduleFrom"]),
                )
                assert schedule.latest_at_or_before(decision.scheduled_time) == decision.scheduled_time
                assert decision.scheduled_time > parse_time(rj["status"]["scheduleFrom"])  # type: ignore[operator]
                assert decision.scheduled_time <= now
            for manifest in decision.recreate:
                jobs.setdefault(manifest["metadata"]["name"], manifest)
            if decision.requeue_after != 0:
                break
    assert launched == sorted(set(launched))


ANY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.text(max_size=12)
    | st.sampled_from(["0 * * * *", "@every 1s", "Forbid", "All", "Europe/Berlin", "2024-01-01T00:00:00Z"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
SPEC_KEYS = [
    "schedule",
    "timeZone",
    "concurrencyPolicy",
    "startingDeadlineSeconds",
    "suspend",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "catchUp",
    "maxCatchUp",
    "jobTemplate",
]
STATUS_KEYS = [
    "scheduleFrom",
    "observedSchedule",
    "nextScheduleTime",
    "lastScheduleTime",
    "active",
    "conditions",
    "missedOccurrences",
    "lastSuccessfulTime",
]


@settings(max_examples=150, deadline=None)
@given(
    spec=st.dictionaries(st.sampled_from(SPEC_KEYS), ANY),
    status=st.dictionaries(st.sampled_from(STATUS_KEYS), ANY),
    jobs=st.lists(ANY, max_size=3),
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_plan_never_raises_on_arbitrary_input(
    spec: dict[str, Any], status: dict[str, Any], jobs: list[Any], now: datetime
) -> None:
    rj = make_rj(status=status)
    rj["spec"] |= spec
    decision = plan(rj, jobs, now.replace(tzinfo=UTC))
    assert "PlannerError" not in decision.warnings, decision.reason
    decision.to_json()
