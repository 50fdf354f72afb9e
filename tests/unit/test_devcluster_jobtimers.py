"""KeyedTimers (the per-Job timers of the dev cluster's Job simulator and TTL controller) and the
loop that drives them, JobTimerController."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from recurringjob.devcluster import jobtimers
from recurringjob.devcluster.jobtimers import JOBS, JobKey, JobTimerController, KeyedTimers, job_key
from recurringjob.devcluster.store import Obj, Store
from test_devcluster_jobsim import eventually, job, new_store  # a Store with a default namespace, a Job

A: JobKey = ("default", "a")
B: JobKey = ("default", "b")
C: JobKey = ("other", "a")  # same name, another namespace: another key

# ("set", key, uid, due) or ("cancel", key, uid or None)
Op = tuple[Any, ...]
# (now, what pop_due hands out by then, in order, as (key, uid))
Check = tuple[float, list[tuple[JobKey, str]]]

CASES: list[tuple[str, list[Op], list[Check]]] = [
    ("fires at its due time, not before",
     [("set", A, "u1", 5.0)],
     [(4.9, []), (5.0, [(A, "u1")]), (99.0, [])]),
    ("a re-set key moves sooner, and its old entry never fires",
     [("set", A, "u1", 5.0), ("set", A, "u1", 2.0)],
     [(1.0, []), (2.0, [(A, "u1")]), (99.0, [])]),
    ("a re-set key moves later",
     [("set", A, "u1", 2.0), ("set", A, "u1", 5.0)],
     [(3.0, []), (5.0, [(A, "u1")]), (99.0, [])]),
    ("a same-named successor replaces the timer",
     [("set", A, "u1", 1.0), ("set", A, "u2", 3.0)],
     [(99.0, [(A, "u2")])]),
    ("setting the same timer twice fires it once",
     [("set", A, "u1", 1.0), ("set", A, "u1", 1.0)],
     [(99.0, [(A, "u1")])]),
    ("a cancelled timer never fires",
     [("set", A, "u1", 1.0), ("cancel", A, None)],
     [(99.0, [])]),
    ("a cancel for another uid keeps the timer",
     [("set", A, "u1", 1.0), ("cancel", A, "u2")],
     [(99.0, [(A, "u1")])]),
    ("a cancel for its uid removes it",
     [("set", A, "u1", 1.0), ("cancel", A, "u1")],
     [(99.0, [])]),
    ("cancelled then set again fires once, at the new time",
     [("set", A, "u1", 1.0), ("cancel", A, None), ("set", A, "u1", 4.0)],
     [(3.0, []), (99.0, [(A, "u1")])]),
    ("due order, ties in the order they were set",
     [("set", B, "b", 3.0), ("set", C, "c", 1.0), ("set", A, "a", 1.0), ("set", ("x", "d"), "d", 2.0)],
     [(99.0, [(C, "c"), (A, "a"), (("x", "d"), "d"), (B, "b")])]),
    ("only what is due by now",
     [("set", A, "a", 1.0), ("set", B, "b", 2.0), ("set", C, "c", 3.0)],
     [(2.0, [(A, "a"), (B, "b")]), (3.0, [(C, "c")])]),
]


def apply(timers: KeyedTimers, ops: list[Op]) -> None:
    for op in ops:
        if op[0] == "set":
            timers.set(op[1], op[2], op[3])
        else:
            timers.cancel(op[1], op[2])


def all_due(timers: KeyedTimers, now: float) -> list[tuple[JobKey, str]]:
    fired = []
    while (due := timers.pop_due(now)) is not None:
        fired.append(due)
    return fired


@pytest.mark.parametrize(("ops", "checks"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_keyed_timers(ops: list[Op], checks: list[Check]) -> None:
    timers = KeyedTimers()
    apply(timers, ops)
    for now, expected in checks:
        assert all_due(timers, now) == expected, now
    assert len(timers) == 0 and timers.pop_due(float("inf")) is None


def test_len_contains_cancel_and_next_due() -> None:
    timers = KeyedTimers()
    assert timers.next_due() is None and len(timers) == 0
    timers.set(A, "u1", 7.0)
    timers.set(B, "u2", 3.0)
    assert len(timers) == 2 and A in timers and C not in timers
    assert timers.next_due() == 3.0
    assert timers.cancel(A, "other") is False and A in timers
    assert timers.cancel(A) is True and A not in timers and len(timers) == 1
    assert timers.cancel(A) is False
    assert timers.pop_due(3.0) == (B, "u2") and B not in timers


def test_the_heap_stays_bounded_when_timers_are_re_set_or_cancelled_again_and_again() -> None:
    # A stale entry otherwise stays in the heap until its own due time, which for a Job whose
    # timer keeps moving (or keeps being cancelled and set) before it comes due is never.
    timers = KeyedTimers()
    keys: list[JobKey] = [("ns", f"job-{index}") for index in range(20)]
    largest = 0
    for round_ in range(500):
        for key in keys:
            timers.set(key, "uid", 10_000.0 - round_)
            largest = max(largest, len(timers._heap))
        timers.cancel(keys[0])
        timers.set(keys[0], "uid", 20_000.0 + round_)
        largest = max(largest, len(timers._heap))
    assert largest <= 2 * len(keys) + jobtimers.HEAP_SLACK
    assert len(timers) == len(keys)
    fired = all_due(timers, 30_000.0)
    assert sorted(key for key, _ in fired) == sorted(keys) and fired[-1] == (keys[0], "uid")


def test_job_key_is_namespace_and_name() -> None:
    assert job_key({"metadata": {"namespace": "ns", "name": "j"}}) == ("ns", "j")
    assert job_key({"metadata": {"name": "cluster-wide"}}) == ("", "cluster-wide")


class Recorder(JobTimerController):
    """Arms a timer `delay` seconds after each Job event; records what fired. A Job named "boom"
    makes its event raise, as an odd Job might."""

    def __init__(self, store: Store, delay: float) -> None:
        super().__init__(store, task_name="test-timers", display_name="recorder",
                         logger=logging.getLogger(__name__))
        self.delay = delay
        self.fired: list[JobKey] = []

    def _now(self) -> float:
        return time.monotonic()

    def _on_event(self, type_: str, job: Obj) -> None:
        if job["metadata"]["name"] == "boom":
            raise RuntimeError("an odd Job")
        if type_ == "DELETED":
            self._timers.cancel(job_key(job))
        else:
            self._timers.set(job_key(job), job["metadata"]["uid"], self._now() + self.delay)

    def _fire(self, key: JobKey, uid: str, now: float) -> None:
        self.fired.append(key)


def test_the_controller_replays_stored_jobs_fires_due_timers_and_survives_a_failed_step(
        caplog: pytest.LogCaptureFixture) -> None:
    store = new_store()
    store.create(JOBS, job("stored"))

    async def main() -> None:
        recorder = Recorder(store, delay=0.1)
        await recorder.start()
        try:
            assert len(recorder._timers) == 1  # the stored Job came as an initial event
            store.create(JOBS, job("boom"))
            store.create(JOBS, job("later"))
            store.create(JOBS, job("gone"))
            store.delete(JOBS, "default", "gone")
            await eventually(lambda: len(recorder.fired) == 2)
            await asyncio.sleep(0.2)
            assert recorder.fired == [("default", "stored"), ("default", "later")]
        finally:
            await recorder.stop()
        assert recorder._task is None and recorder._subscription is None

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
    assert [r.getMessage() for r in caplog.records] == ["recorder step failed"]
