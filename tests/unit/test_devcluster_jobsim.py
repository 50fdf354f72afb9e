"""The Job simulator against the real dev cluster Store: start, finish, overrides, deadline, deletion."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from recurringjob.devcluster.audit import AuditLog
from recurringjob.devcluster.gc import GarbageCollector
from recurringjob.devcluster.jobsim import JOBS, JobSimulator
from recurringjob.devcluster.registry import Registry
from recurringjob.devcluster.store import Store
from recurringjob.errors import UserError

Obj = dict[str, Any]


def new_store() -> Store:
    store = Store(Registry())
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    store.create(("", "namespaces"), namespace)
    return store


def job(name: str, annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "main", "image": "busybox"}]}}, **spec}}


def status(store: Store, name: str) -> Obj:
    obj = store.peek(JOBS, "default", name)
    assert obj is not None, name
    return dict(obj.get("status") or {})


def conditions(store: Store, name: str) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status(store, name).get("conditions") or []}


async def eventually(check: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def run_with_sim(test: Callable[[Store, JobSimulator], Awaitable[None]], duration: float = 0.2,
                 outcome: str = "Complete", store: Store | None = None) -> None:
    async def main() -> None:
        sim = JobSimulator(store or new_store(), duration, outcome)
        await sim.start()
        try:
            await test(sim.store, sim)
        finally:
            await sim.stop()
    asyncio.run(main())


def test_job_starts_then_completes_after_its_duration() -> None:
    async def test(store: Store, sim: JobSimulator) -> None:
        store.create(JOBS, job("ok"))
        await eventually(lambda: status(store, "ok").get("active") == 1)
        started = time.monotonic()
        assert status(store, "ok")["startTime"].endswith("Z")
        assert "conditions" not in status(store, "ok")
        await eventually(lambda: "Complete" in conditions(store, "ok"))
        assert time.monotonic() - started >= 0.1
        final = status(store, "ok")
        assert conditions(store, "ok") == {"SuccessCriteriaMet": ("True", "CompletionsReached"),
                                           "Complete": ("True", "CompletionsReached")}
        assert final["succeeded"] == 1 and "active" not in final and final["completionTime"]
        assert "failed" not in final and sim.running == 0

    run_with_sim(test)


def test_annotations_override_duration_and_outcome() -> None:
    async def test(store: Store, sim: JobSimulator) -> None:
        store.create(JOBS, job("quick-fail", {"devcluster.recurringjob.dev/duration": "150ms",
                                              "devcluster.recurringjob.dev/outcome": "Failed"}))
        store.create(JOBS, job("default-length"))
        await eventually(lambda: "Failed" in conditions(store, "quick-fail"))
        assert conditions(store, "quick-fail") == {"FailureTarget": ("True", "BackoffLimitExceeded"),
                                                   "Failed": ("True", "BackoffLimitExceeded")}
        final = status(store, "quick-fail")
        assert final["failed"] == 1 and "completionTime" not in final and "active" not in final
        assert status(store, "default-length")["active"] == 1  # 30 s default: still running
        assert sim.running == 1

    run_with_sim(test, duration=30)


def test_active_deadline_seconds_fails_the_job() -> None:
    async def test(store: Store, sim: JobSimulator) -> None:
        store.create(JOBS, job("slow", activeDeadlineSeconds=1))
        await eventually(lambda: status(store, "slow").get("active") == 1)
        await asyncio.sleep(0.7)
        assert "Failed" not in conditions(store, "slow")
        await eventually(lambda: "Failed" in conditions(store, "slow"), within=2)
        assert conditions(store, "slow")["Failed"] == ("True", "DeadlineExceeded")
        assert "succeeded" not in status(store, "slow")

    run_with_sim(test, duration=30)


def test_deletion_stops_the_job_and_a_new_job_of_that_name_runs_afresh() -> None:
    async def test(store: Store, sim: JobSimulator) -> None:
        store.create(JOBS, job("doomed", {"devcluster.recurringjob.dev/duration": "300ms"}))
        await eventually(lambda: sim.running == 1)
        store.delete(JOBS, "default", "doomed", propagation="Background")
        await eventually(lambda: sim.running == 0)
        store.create(JOBS, job("doomed", {"devcluster.recurringjob.dev/duration": "1s"}))
        await asyncio.sleep(0.5)  # past the deleted Job's finish time: the new one must not finish
        assert status(store, "doomed").get("active") == 1 and not conditions(store, "doomed")
        await eventually(lambda: "Complete" in conditions(store, "doomed"))

    run_with_sim(test)


def test_suspended_job_never_starts_until_resumed() -> None:
    async def test(store: Store, sim: JobSimulator) -> None:
        created = store.create(JOBS, job("paused", suspend=True))
        await asyncio.sleep(0.4)
        assert "startTime" not in status(store, "paused") and sim.running == 0
        assert conditions(store, "paused") == {"Suspended": ("True", "JobSuspended")}
        resumed = store.get(JOBS, "default", "paused")
        resumed["spec"]["suspend"] = False
        store.update(JOBS, resumed)
        await eventually(lambda: "Complete" in conditions(store, "paused"))
        assert conditions(store, "paused")["Suspended"] == ("False", "JobResumed")
        assert created["metadata"]["uid"] == store.get(JOBS, "default", "paused")["metadata"]["uid"]

    run_with_sim(test)


def test_running_jobs_finish_after_a_restart_from_their_start_time() -> None:
    store = new_store()

    def started_ago(name: str, seconds: float) -> None:
        created = store.create(JOBS, job(name))
        start = (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        store.update(JOBS, {"metadata": created["metadata"], "status": {"startTime": start, "active": 1}},
                     subresource="status")

    started_ago("nearly-done", 29.5)  # of 30 s: due within the second
    started_ago("just-started", 1)

    async def test(store: Store, sim: JobSimulator) -> None:
        assert sim.running == 2
        await eventually(lambda: "Complete" in conditions(store, "nearly-done"), within=2)
        assert status(store, "just-started").get("active") == 1 and sim.running == 1

    run_with_sim(test, duration=30, store=store)


def test_thousands_of_jobs_share_one_task() -> None:
    async def test(store: Store, sim: JobSimulator) -> None:
        tasks_before = len(asyncio.all_tasks())
        for i in range(3000):
            store.create(JOBS, job(f"bulk-{i}"))
        await eventually(lambda: sim.running == 3000)
        assert len(asyncio.all_tasks()) == tasks_before
        await eventually(lambda: sim.running == 0, within=10)
        assert all("Complete" in conditions(store, f"bulk-{i}") for i in range(3000))

    run_with_sim(test, duration=0.3)


def test_flags() -> None:
    parser = argparse.ArgumentParser()
    JobSimulator.add_arguments(parser)
    store = new_store()
    argv = ["--job-duration", "1m30s", "--job-outcome", "failed"]
    sim = JobSimulator.from_args(store, parser.parse_args(argv))
    assert (sim.default_duration, sim.default_outcome) == (90, "Failed")
    defaults = JobSimulator.from_args(store, parser.parse_args([]))
    assert (defaults.default_duration, defaults.default_outcome) == (2, "Complete")
    for bad, fragment in ((["--job-duration", "soon"], "--job-duration"),
                          (["--job-outcome", "Meh"], "Complete")):
        with pytest.raises(UserError, match=fragment):
            JobSimulator.from_args(store, parser.parse_args(bad))


def test_stop_is_prompt_when_the_server_closes_watches_first() -> None:
    async def main() -> None:
        store = new_store()
        sim = JobSimulator(store, 30, "Complete")
        await sim.start()
        store.create(JOBS, job("long"))
        await eventually(lambda: sim.running == 1)
        store.close_watches()  # what Server.stop() does before stopping the simulator
        started = time.monotonic()
        await asyncio.wait_for(sim.stop(), 5)
        assert time.monotonic() - started < 1

    asyncio.run(main())


LOCK = "recurringjob.dev/occurrence-lock"


def audited_sim(tmp_path: Path) -> tuple[AuditLog, Callable[[], list[Obj]]]:
    audit = AuditLog(tmp_path / "audit.jsonl")

    def lines() -> list[Obj]:
        audit.flush()
        return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    return audit, lines


def test_finishing_writes_a_job_controller_line(tmp_path: Path) -> None:
    audit, lines = audited_sim(tmp_path)

    async def test(store: Store, sim: JobSimulator) -> None:
        sim.audit = audit
        store.create(JOBS, job("ok"))
        store.create(JOBS, job("bad", {"devcluster.recurringjob.dev/outcome": "Failed"}))
        await eventually(lambda: len(lines()) == 2)
        by_name = {e["name"]: e for e in lines()}
        assert {n: e["outcome"] for n, e in by_name.items()} == {"ok": "Complete", "bad": "Failed"}
        line = by_name["ok"]
        assert (line["verb"], line["group"], line["version"], line["resource"], line["subresource"],
                line["namespace"], line["code"], line["client"], line["event"]) == (
            "update", "batch", "v1", "jobs", "status", "default", 200, "system:job-controller", "finished")
        assert line["uid"] == store.peek(JOBS, "default", "ok")["metadata"]["uid"]  # type: ignore[index]

    run_with_sim(test)


def test_foreground_deletion_stops_the_job_at_once_even_when_a_finalizer_holds_it(tmp_path: Path) -> None:
    audit, lines = audited_sim(tmp_path)

    async def test(store: Store, sim: JobSimulator) -> None:
        sim.audit = audit
        held = job("held", {"devcluster.recurringjob.dev/duration": "400ms"})
        held["metadata"]["finalizers"] = [LOCK]
        store.create(JOBS, held)
        await eventually(lambda: sim.running == 1)
        store.delete(JOBS, "default", "held", propagation="Foreground")
        # the garbage collector would drop foregroundDeletion now: the Job must not run again then
        current = store.get(JOBS, "default", "held")
        current["metadata"]["finalizers"] = [LOCK]
        store.update(JOBS, current)
        await eventually(lambda: sim.running == 0)
        await asyncio.sleep(0.6)  # past its finish time
        final = status(store, "held")
        assert not final.get("active") and not conditions(store, "held")
        assert [e["event"] for e in lines()] == ["stopped"]
        assert lines()[0]["subresource"] == "status"

    run_with_sim(test, store=with_gc(new_store()))


def test_background_deletion_keeps_a_held_job_running_until_it_is_gone(tmp_path: Path) -> None:
    audit, lines = audited_sim(tmp_path)

    async def test(store: Store, sim: JobSimulator) -> None:
        sim.audit = audit
        for name in ("runs-on", "finishes-held"):
            body = job(name, {"devcluster.recurringjob.dev/duration": "5s" if name == "runs-on" else "300ms"})
            body["metadata"]["finalizers"] = [LOCK]
            store.create(JOBS, body)
        await eventually(lambda: sim.running == 2)
        for name in ("runs-on", "finishes-held"):
            store.delete(JOBS, "default", name, propagation="Background")
        await asyncio.sleep(0.1)
        assert sim.running == 2 and status(store, "runs-on")["active"] == 1
        # a held Job's pods go on and may finish
        await eventually(lambda: "Complete" in conditions(store, "finishes-held"))
        current = store.get(JOBS, "default", "runs-on")
        current["metadata"]["finalizers"] = []
        store.update(JOBS, current)  # last finalizer released: the object is gone
        await eventually(lambda: sim.running == 0)
        events = [(e["name"], e["event"], e["subresource"]) for e in lines()]
        assert events == [("finishes-held", "finished", "status"), ("runs-on", "stopped", None)]

    run_with_sim(test, store=with_gc(new_store()))


def test_a_background_deleted_job_resumes_after_a_restart_but_a_stopped_one_does_not() -> None:
    async def main() -> None:
        store = new_store()
        first = JobSimulator(store, 5.0, "Complete")
        await first.start()
        for name in ("background", "foreground"):
            body = job(name)
            body["metadata"]["finalizers"] = [LOCK]
            store.create(JOBS, body)
        await eventually(lambda: first.running == 2)
        store.delete(JOBS, "default", "background", propagation="Background")
        store.delete(JOBS, "default", "foreground", propagation="Foreground")
        await eventually(lambda: first.running == 1)
        await first.stop()
        second = JobSimulator(store, 5.0, "Complete")  # same state, fresh simulator: a restart
        await second.start()
        try:
            assert second.running == 1 and status(store, "background")["active"] == 1
            assert not status(store, "foreground").get("active")
        finally:
            await second.stop()
    asyncio.run(main())


def with_gc(store: Store) -> Store:
    GarbageCollector(store)
    return store
