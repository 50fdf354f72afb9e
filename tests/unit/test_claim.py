"""The claim: a resourceVersion-checked status write; 409 never turns into a launch."""

from __future__ import annotations

import asyncio

import pytest
from fake_kube import FakeKube
from recurringjob.runtime.claim import ClaimConflict, NotLeader, RecurringJobGone, claim, read_recurringjob
from recurringjob.runtime.kube import ApiError, rj_path
from recurringjob.runtime.metrics import Metrics

PATH = rj_path("default", "backup")


def seeded() -> tuple[FakeKube, dict]:
    api = FakeKube()
    rj = api.put_object(PATH, {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob",
                               "metadata": {"name": "backup", "namespace": "default"},
                               "spec": {"schedule": "* * * * *"}, "status": {}})
    return api, rj


def test_claim_writes_status_with_the_planned_resource_version() -> None:
    api, rj = seeded()
    written = asyncio.run(claim(api, rj, {"nextScheduleTime": "2030-01-01T00:01:00Z"},
                                is_leader=lambda: True))
    assert written["status"] == {"nextScheduleTime": "2030-01-01T00:01:00Z"}
    assert written["metadata"]["resourceVersion"] != rj["metadata"]["resourceVersion"]
    assert api.writes() == [("PUT", PATH + "/status")]


def test_a_stale_claim_gets_conflict_and_is_counted() -> None:
    api, rj = seeded()
    metrics = Metrics()
    asyncio.run(claim(api, rj, {"a": 1}, is_leader=lambda: True))
    with pytest.raises(ClaimConflict):  # planned from the old version: someone else won
        asyncio.run(claim(api, rj, {"a": 2}, is_leader=lambda: True, metrics=metrics))
    assert api.objects[PATH]["status"] == {"a": 1}
    assert metrics.registry.get_sample_value("recurringjob_claim_conflicts_total") == 1


def test_of_two_claims_from_one_version_exactly_one_wins() -> None:
    api, rj = seeded()

    async def both() -> list[object]:
        return await asyncio.gather(claim(api, rj, {"w": 1}, is_leader=lambda: True),
                                    claim(api, rj, {"w": 2}, is_leader=lambda: True),
                                    return_exceptions=True)

    results = asyncio.run(both())
    assert sum(isinstance(r, ClaimConflict) for r in results) == 1
    assert sum(isinstance(r, dict) for r in results) == 1


def test_no_write_without_leadership() -> None:
    api, rj = seeded()
    with pytest.raises(NotLeader):
        asyncio.run(claim(api, rj, {"a": 1}, is_leader=lambda: False))
    assert api.writes() == []


def test_transient_errors_are_retried_with_the_same_resource_version() -> None:
    api, rj = seeded()
    api.fail_next("PUT", "/status", ApiError(503, "ServiceUnavailable", retry_after=0.01))
    written = asyncio.run(claim(api, rj, {"a": 1}, is_leader=lambda: True))
    assert written["status"] == {"a": 1}
    assert len(api.writes("PUT")) == 2


def test_a_retry_after_a_lost_response_conflicts_instead_of_claiming_twice() -> None:
    """The first PUT landed but its answer was lost: the retry carries the old version -> 409."""
    api, rj = seeded()
    real = api.request
    state = {"dropped": False}

    async def lose_first_response(method: str, path: str, **kwargs: object) -> object:
        result = await real(method, path, **kwargs)
        if method == "PUT" and not state["dropped"]:
            state["dropped"] = True
            raise ApiError(0, "NetworkError", "connection reset")
        return result

    api.request = lose_first_response
    with pytest.raises(ClaimConflict):
        asyncio.run(claim(api, rj, {"a": 1}, is_leader=lambda: True))


def test_deleted_recurringjob() -> None:
    api, rj = seeded()
    del api.objects[PATH]
    with pytest.raises(RecurringJobGone):
        asyncio.run(claim(api, rj, {"a": 1}, is_leader=lambda: True))
    with pytest.raises(RecurringJobGone):
        asyncio.run(read_recurringjob(api, "default", "backup"))


def test_the_guard_is_checked_again_right_before_the_request_is_written() -> None:
    """A leader that lost its proof while waiting (busy pool, busy loop, SIGSTOP) sends nothing."""
    from aiohttp import web
    from kubernetes.aio.client.configuration import Configuration
    from recurringjob.runtime.kube import KubeApi, NotLeader

    received: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(request.method)
        return web.json_response({"ok": True})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        api = KubeApi(Configuration(host=f"http://127.0.0.1:{port}"))
        try:
            assert await api.request("PUT", "/x", body={}, guard=lambda: True) == {"ok": True}
            answers = iter([True, False])  # valid at the caller's check, gone at the socket
            with pytest.raises(NotLeader):
                await api.request("PUT", "/x", body={}, guard=lambda: next(answers))
            assert await api.request("GET", "/x") == {"ok": True}  # unguarded reads still work
        finally:
            await api.close()
            await runner.cleanup()

    asyncio.run(scenario())
    assert received == ["PUT", "GET"]
