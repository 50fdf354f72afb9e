"""The Job reflector against an in-memory API server: relist after 410, resume from bookmarks,
ownership by ownerReference, slim objects, backoff."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import orjson
import pytest
from recurringjob.runtime.cache import Cache
from recurringjob.runtime.jobwatch import JobSink, JobWatch, Reflector, namespace_scopes, slim_job
from recurringjob.runtime.kube import ApiError

NS = "team"
OWNER = (NS, "nightly")


def job(name: str, *, finished: bool = False, labelled: bool = True, owned: bool = True,
        namespace: str = NS) -> dict[str, Any]:
    """A Job as the API returns it (spec, managedFields, foreign labels and all)."""
    obj: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                     "creationTimestamp": "2030-01-01T00:00:00Z", "generation": 1,
                     "labels": {"app": "x", "controller-uid": f"uid-{name}"},
                     "annotations": {"recurringjob.dev/scheduled-time": "2030-01-01T00:00:00Z",
                                     "kubectl.kubernetes.io/last-applied-configuration": "{...}"},
                     "finalizers": ["recurringjob.dev/occurrence-lock"],
                     "managedFields": [{"manager": "recurringjob", "operation": "Update"}],
                     "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm",
                                          "uid": "u-cm"}]},
        "spec": {"backoffLimit": 6,
                 "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        "status": {"startTime": "2030-01-01T00:00:01Z", "active": 1, "ready": 1,
                   "uncountedTerminatedPods": {}},
    }
    if labelled:
        obj["metadata"]["labels"]["recurringjob.dev/name"] = OWNER[1]
    if owned:
        obj["metadata"]["ownerReferences"].append(
            {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob", "name": OWNER[1],
             "uid": "uid-rj", "controller": True, "blockOwnerDeletion": True})
    if finished:
        obj["status"] = {"startTime": "2030-01-01T00:00:01Z", "completionTime": "2030-01-01T00:00:31Z",
                         "succeeded": 1, "conditions": [
                             {"type": "SuccessCriteriaMet", "status": "True", "message": "m",
                              "lastTransitionTime": "2030-01-01T00:00:31Z", "lastProbeTime": "x"},
                             {"type": "Complete", "status": "True", "reason": "Done", "message": "long text",
                              "lastTransitionTime": "2030-01-01T00:00:31Z", "lastProbeTime": "x"}]}
    return obj


class FakeApiServer:
    """Jobs with integer resourceVersions, a compactable watch history, paginated LISTs, live watch
    streams that can be dropped, bookmarks, and an outage switch."""

    def __init__(self) -> None:
        self.rv = 1
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.history: list[tuple[int, str, dict[str, Any]]] = []
        self.compacted = 0  # a watch from a resourceVersion below this gets 410
        self.down = False
        self.lists: list[dict[str, str]] = []
        self.list_attempts = 0
        self.watches: list[dict[str, str]] = []
        self._streams: list[asyncio.Queue[bytes | None]] = []

    # what happens in the cluster
    def _commit(self, kind: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if kind == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.history.append((self.rv, kind, obj))
        for stream in self._streams:
            stream.put_nowait(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

    def apply(self, obj: dict[str, Any]) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        self._commit("MODIFIED" if key in self.objects else "ADDED", obj)

    def delete(self, namespace: str, name: str) -> None:
        self._commit("DELETED", self.objects[(namespace, name)])

    def compact(self) -> None:
        self.compacted = self.rv + 1

    def bookmark(self) -> None:
        self.rv += 1  # other resources changed meanwhile
        line = {"type": "BOOKMARK", "object": {"kind": "Job", "apiVersion": "batch/v1",
                                               "metadata": {"resourceVersion": str(self.rv)}}}
        for stream in self._streams:
            stream.put_nowait(json.dumps(line).encode() + b"\n")

    def drop_streams(self) -> None:
        for stream in self._streams:
            stream.put_nowait(None)

    # the KubeApi surface the reflector uses
    async def request(self, method: str, path: str, *, query: Mapping[str, str],
                      timeout: float = 0, **_: Any) -> Any:  # noqa: ASYNC109
        assert method == "GET" and "watch" not in query
        self.list_attempts += 1
        if self.down:
            raise ApiError(503, "ServiceUnavailable", "down")
        self.lists.append(dict(query))
        names = sorted(k for k in self.objects
                       if path.endswith("/batch/v1/jobs") or f"/namespaces/{k[0]}/" in path)
        start = int(query.get("continue") or 0)
        limit = int(query["limit"])
        page = names[start:start + limit]
        more = start + limit < len(names)
        return {"kind": "JobList", "apiVersion": "batch/v1",
                "metadata": {"resourceVersion": str(self.rv),
                             **({"continue": str(start + limit)} if more else {})},
                "items": [copy.deepcopy(self.objects[k]) for k in page]}

    async def stream_lines(self, path: str, *, query: Mapping[str, str], idle_timeout: float,
                           total_timeout: float) -> AsyncGenerator[bytes, None]:
        self.watches.append(dict(query))
        if self.down:
            raise ApiError(503, "ServiceUnavailable", "down")
        since = int(query["resourceVersion"])
        if since < self.compacted:
            status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
            yield json.dumps({"type": "ERROR", "object": status}).encode() + b"\n"
            return
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        for rv, kind, obj in self.history:
            if rv > since:
                queue.put_nowait(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
        self._streams.append(queue)
        try:
            while True:
                try:
                    line = await asyncio.wait_for(queue.get(), idle_timeout)
                except TimeoutError:
                    raise ApiError(0, "NetworkError", "idle") from None
                if line is None:
                    return
                yield line
        finally:
            self._streams.remove(queue)


class Recorder:
    """Stands in for the Scheduler: what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, bool, bool]] = []  # (name, finished?, had previous, deleted)

    def on_job_event(self, job: Mapping[str, Any], previous: Mapping[str, Any] | None, deleted: bool) -> None:
        finished = any(c.get("type") == "Complete" for c in (job.get("status") or {}).get("conditions") or ())
        self.events.append((job["metadata"]["name"], "finished" if finished else "running",
                            previous is not None, deleted))

    def deleted(self) -> list[str]:
        return [name for name, _, _, deleted in self.events if deleted]


async def until(predicate: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.005)


def names(cache: Cache) -> list[str]:
    return sorted(j["metadata"]["name"] for j in cache.jobs_of(OWNER))


async def started(server: FakeApiServer, **options: Any
                  ) -> tuple[Reflector, Cache, Recorder, asyncio.Task[None]]:
    cache, recorder = Cache(), Recorder()
    options = {"backoff_base": 0.01, "backoff_max": 0.05, "healthy_seconds": 0.05, **options}
    reflector = Reflector(server, JobSink(cache, recorder), **options)  # type: ignore[arg-type]
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(reflector.synced.wait(), 5)
    return reflector, cache, recorder, task


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_relist_after_410_reports_the_job_deleted_while_the_watch_was_down() -> None:
    async def scenario() -> None:
        server = FakeApiServer()
        server.apply(job("nightly-1"))
        server.apply(job("nightly-2"))
        reflector, cache, recorder, task = await started(server)
        await until(lambda: len(server.watches) == 1)
        assert names(cache) == ["nightly-1", "nightly-2"]

        server.down = True
        server.drop_streams()
        server.apply(job("nightly-1", finished=True))  # finished and deleted, all unseen
        server.delete(NS, "nightly-1")
        server.apply(job("nightly-2", finished=True))
        server.compact()  # the resourceVersion the reflector holds has expired
        await until(lambda: len(server.watches) >= 3)  # it keeps trying, backing off
        server.down = False

        await until(lambda: "nightly-1" in recorder.deleted())
        assert names(cache) == ["nightly-2"]
        assert cache.jobs_of(OWNER)[0]["status"]["succeeded"] == 1
        assert ("nightly-2", "finished", True, False) in recorder.events
        assert reflector.lists == 2
        await until(lambda: server.watches[-1].get("resourceVersion") == str(server.rv))  # watching again
        await stopped(task)

    asyncio.run(scenario())


def test_an_http_410_on_the_watch_relists_too() -> None:
    async def scenario() -> None:
        server = FakeApiServer()
        server.apply(job("nightly-1"))
        reflector, cache, recorder, task = await started(server)
        await until(lambda: len(server.watches) == 1)
        original = server.stream_lines

        def gone(*args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
            # while no stream is open: the Job goes, and the history with it
            server.delete(NS, "nightly-1")
            server.compact()
            server.stream_lines = original  # type: ignore[method-assign]
            raise ApiError(410, "Gone", "too old resource version")

        server.stream_lines = gone  # type: ignore[method-assign]
        server.drop_streams()
        await until(lambda: recorder.deleted() == ["nightly-1"])
        assert reflector.lists == 2 and names(cache) == []
        await stopped(task)

    asyncio.run(scenario())


def test_a_dropped_stream_resumes_from_the_bookmark_without_relisting() -> None:
    async def scenario() -> None:
        server = FakeApiServer()
        reflector, cache, recorder, task = await started(server)
        await until(lambda: len(server.watches) == 1)
        assert server.watches[0]["allowWatchBookmarks"] == "true" and server.watches[0]["timeoutSeconds"]
        server.apply(job("nightly-1"))
        await until(lambda: names(cache) == ["nightly-1"])
        server.bookmark()
        bookmark_rv = str(server.rv)
        await until(lambda: reflector.resource_version == bookmark_rv)

        server.drop_streams()
        await until(lambda: len(server.watches) == 2)
        assert server.watches[1]["resourceVersion"] == bookmark_rv
        server.apply(job("nightly-1", finished=True))
        await until(lambda: ("nightly-1", "finished", True, False) in recorder.events)
        assert reflector.lists == 1 and len(server.lists) == 1
        await stopped(task)

    asyncio.run(scenario())


def test_a_label_removed_from_a_running_job_keeps_it_and_its_finish_is_reported() -> None:
    async def scenario() -> None:
        server = FakeApiServer()
        server.apply(job("nightly-1"))
        _, cache, recorder, task = await started(server)
        server.apply(job("nightly-1", labelled=False))
        await until(lambda: cache.jobs_of(OWNER)[0]["metadata"]["resourceVersion"] == str(server.rv))
        assert names(cache) == ["nightly-1"] and not recorder.deleted()

        server.apply(job("nightly-1", labelled=False, finished=True))
        await until(lambda: ("nightly-1", "finished", True, False) in recorder.events)
        assert names(cache) == ["nightly-1"]
        await stopped(task)

    asyncio.run(scenario())


def test_jobs_without_our_controller_reference_are_not_kept_and_losing_it_is_a_deletion() -> None:
    async def scenario() -> None:
        server = FakeApiServer()
        server.apply(job("foreign", owned=False))  # labelled like ours, owned by nobody
        server.apply(job("nightly-1"))
        _, cache, recorder, task = await started(server)
        assert [j["metadata"]["name"] for j in cache.iter_jobs()] == ["nightly-1"]
        server.apply(job("nightly-1", owned=False))  # orphaned by hand
        await until(lambda: recorder.deleted() == ["nightly-1"])
        assert list(cache.iter_jobs()) == []
        await stopped(task)

    asyncio.run(scenario())


def test_the_list_is_paginated_and_glob_namespaces_are_filtered_client_side() -> None:
    async def scenario() -> None:
        server = FakeApiServer()
        for index in range(5):
            server.apply(job(f"nightly-{index}", namespace="team-a" if index % 2 else "other"))
        scopes, accepts = namespace_scopes(["team-*"])
        assert scopes == [""]
        _, cache, _, task = await started(server, accepts=accepts, page_size=2)
        assert [q.get("continue", "") for q in server.lists] == ["", "2", "4"]
        assert sorted(j["metadata"]["name"] for j in cache.iter_jobs()) == ["nightly-1", "nightly-3"]
        await stopped(task)

    asyncio.run(scenario())


def test_exact_namespaces_get_one_reflector_each() -> None:
    watch = JobWatch(FakeApiServer(), JobSink(Cache(), Recorder()), ["a", "b", "a"])  # type: ignore[arg-type]
    assert [r.path for r in watch.reflectors] == ["/apis/batch/v1/namespaces/a/jobs",
                                                  "/apis/batch/v1/namespaces/b/jobs"]
    assert [r.path for r in JobWatch(FakeApiServer(), JobSink(Cache(), Recorder()), []).reflectors] == [  # type: ignore[arg-type]
        "/apis/batch/v1/jobs"]


def test_a_failing_server_is_retried_with_growing_delays_not_in_a_hot_loop() -> None:
    async def scenario() -> None:
        server = FakeApiServer()
        server.down = True
        cache, recorder = Cache(), Recorder()
        reflector = Reflector(server, JobSink(cache, recorder), backoff_base=0.02, backoff_max=0.2)  # type: ignore[arg-type]
        task = asyncio.create_task(reflector.run())
        await asyncio.sleep(1.0)
        attempts = server.list_attempts
        assert not reflector.synced.is_set()
        # 0.02 doubling to 0.2 (jittered down to half): at most ~12 attempts in a second, not thousands
        assert 3 <= attempts <= 15, attempts
        server.down = False
        await asyncio.wait_for(reflector.synced.wait(), 2)
        await stopped(task)

    asyncio.run(scenario())


def test_a_silent_stream_ends_and_resumes_from_where_it_was() -> None:
    async def scenario() -> None:
        server = FakeApiServer()
        server.apply(job("nightly-1"))
        reflector, _, _, task = await started(server, idle_seconds=0.1)
        await until(lambda: len(server.watches) >= 3)
        assert {q["resourceVersion"] for q in server.watches} == {str(server.rv)}
        assert reflector.lists == 1
        await stopped(task)

    asyncio.run(scenario())


def test_slim_jobs_keep_what_planning_reads_and_nothing_else() -> None:
    full = job("nightly-1", finished=True)
    full["metadata"]["resourceVersion"] = "7"
    full["metadata"]["deletionTimestamp"] = "2030-01-01T00:01:00Z"
    slim = slim_job(full)
    assert "spec" not in slim
    meta = slim["metadata"]
    assert set(meta) == {"name", "namespace", "uid", "resourceVersion", "creationTimestamp",
                         "deletionTimestamp", "finalizers", "ownerReferences", "labels", "annotations"}
    assert meta["labels"] == {"recurringjob.dev/name": "nightly"}
    assert meta["annotations"] == {"recurringjob.dev/scheduled-time": "2030-01-01T00:00:00Z"}
    assert meta["ownerReferences"] == [full["metadata"]["ownerReferences"][1]]  # the controller only
    assert meta["finalizers"] == ["recurringjob.dev/occurrence-lock"]
    assert slim["status"] == {
        "startTime": "2030-01-01T00:00:01Z", "completionTime": "2030-01-01T00:00:31Z", "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": "2030-01-01T00:00:31Z"},
            {"type": "Complete", "status": "True", "reason": "Done",
             "lastTransitionTime": "2030-01-01T00:00:31Z"}]}
    assert slim_job(slim) == slim  # idempotent: our own writes may be slimmed twice


def test_slim_jobs_share_repeated_strings_but_not_their_own_identity() -> None:
    # decoded separately, as two watch events are: equal values, distinct objects
    a, b = (slim_job(orjson.loads(orjson.dumps(job(name, finished=True))))
            for name in ("nightly-1", "nightly-2"))
    assert a["metadata"]["namespace"] is b["metadata"]["namespace"]
    assert a["metadata"]["ownerReferences"][0]["uid"] is b["metadata"]["ownerReferences"][0]["uid"]
    assert a["metadata"]["finalizers"][0] is b["metadata"]["finalizers"][0]
    assert a["status"]["conditions"][0]["type"] is b["status"]["conditions"][0]["type"]
    assert a["status"]["completionTime"] is b["status"]["completionTime"]
    assert a["metadata"]["annotations"]["recurringjob.dev/scheduled-time"] is \
        b["metadata"]["annotations"]["recurringjob.dev/scheduled-time"]
    assert a == {**b, "metadata": {**b["metadata"], "name": "nightly-1", "uid": a["metadata"]["uid"]}}
    assert list(a["metadata"])[:3] == ["name", "namespace", "uid"]  # the fields' order is kept


def test_retries_after_an_outage_stay_at_most_two_seconds_apart() -> None:
    reflector = Reflector(None, None)  # type: ignore[arg-type]
    delays = [reflector._backoff(failures) for failures in range(1, 40)]
    assert delays[0] <= 0.25  # the first retry is quick
    assert max(delays) <= 2.0  # a long outage still gets a fresh view within 2 s of its end
