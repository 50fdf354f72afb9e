"""Fault rules, seeded rates, partitions and the admin API of the dev cluster's fault injector."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from recurringjob.devcluster.durations import parse_duration
from recurringjob.devcluster.faults import FaultClient, FaultInjector
from recurringjob.devcluster.request import RequestInfo
from recurringjob.errors import UserError


def info(verb: str = "update", resource: str = "recurringjobs", client: str = "replica-1",
         subresource: str | None = None, name: str | None = "nightly") -> RequestInfo:
    group = "" if resource in ("configmaps", "pods") else "recurringjob.dev"
    return RequestInfo(verb, group, "v1alpha1", resource, subresource, "default", name, client)


def injector_from_flags(*argv: str) -> FaultInjector:
    parser = argparse.ArgumentParser()
    FaultInjector.add_arguments(parser)
    return FaultInjector.from_args(parser.parse_args(list(argv)))


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro
    return asyncio.run(main())


async def answer_codes(faults: FaultInjector, request: RequestInfo, n: int) -> list[int | None]:
    codes: list[int | None] = []
    for _ in range(n):
        response = await faults.intercept(request)
        codes.append(None if response is None else response.status)
    return codes


def test_durations() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1m30s") == 90
    assert parse_duration("0.2") == 0.2
    for bad in ("", "5x", "-1s", "1s2", "nan"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_flags_build_rules_and_bad_flags_are_user_errors() -> None:
    faults = injector_from_flags(
        "--fault-seed", "7", "--fault-latency", "20ms",
        "--fault-errors", "rate=0.5 codes=409,503 verbs=update,patch resources=recurringjobs/status",
        "--fault-watch-drop", "after=2s jitter=1s resources=jobs", "--fault-watch-expire", "0.3",
        "--fault-partition", "client=replica-2 mode=fail")
    config = faults.to_json()
    assert config["seed"] == 7
    assert config["latency"][0]["delay"] == 0.02
    assert config["errors"][0] == {"verbs": ["update", "patch"], "resources": ["recurringjobs/status"],
                                   "clients": [], "rate": 0.5, "codes": [409, 503], "retryAfter": 1}
    assert config["watchDrops"][0]["after"] == 2.0
    assert config["watchExpiry"][0]["rate"] == 0.3
    assert config["partitions"] == {"replica-2": "fail"}
    for argv, fragment in [
        (["--fault-errors", "rate=2"], "between 0 and 1"),
        (["--fault-errors", "codes=404"], "codes must be among"),
        (["--fault-errors", "verbs=explode"], "unknown verb"),
        (["--fault-latency", "delay=fast"], "not a duration"),
        (["--fault-latency", "colour=red"], "unknown field 'colour'"),
        (["--fault-partition", "client=x mode=sulk"], "partition mode"),
        (["--fault-seed", "abc"], "--fault-seed"),
    ]:
        with pytest.raises(UserError, match=fragment):
            injector_from_flags(*argv)


def test_error_rate_is_seeded_and_matches_verb_resource_and_client() -> None:
    def codes_for(seed: int) -> list[int | None]:
        faults = injector_from_flags("--fault-seed", str(seed), "--fault-errors",
                                     "rate=0.3 verbs=update resources=recurringjobs/status")
        return run(answer_codes(faults, info(subresource="status"), 400))

    first, again, other = codes_for(1), codes_for(1), codes_for(2)
    assert first == again  # reproducible
    assert first != other
    injected = [c for c in first if c is not None]
    assert 80 <= len(injected) <= 160  # ~30 % of 400
    assert set(injected) == {500, 503, 429}

    faults = injector_from_flags("--fault-errors", "rate=1 verbs=update resources=recurringjobs/status "
                                 "clients=replica-1")
    assert run(answer_codes(faults, info(subresource="status"), 1))[0] in (500, 503, 429)
    for unaffected in (info(verb="get", subresource="status"), info(subresource=None),
                       info(subresource="status", client="replica-2"), info(resource="jobs")):
        assert run(answer_codes(faults, unaffected, 20)) == [None] * 20, unaffected
    # a bare resource matches its subresources too
    faults = injector_from_flags("--fault-errors", "rate=1 codes=503 resources=recurringjobs")
    assert run(answer_codes(faults, info(subresource="status"), 3)) == [503] * 3


def test_status_bodies_look_like_kube_apiserver() -> None:
    async def body(code: int, request: RequestInfo) -> tuple[dict[str, Any], dict[str, str]]:
        faults = FaultInjector(seed=1)
        faults.load_json({"errors": [{"rate": 1, "codes": [code], "retryAfter": 3}]}, replace_all=False)
        response = await faults.intercept(request)
        assert isinstance(response, web.Response) and response.status == code and response.text
        return json.loads(response.text), dict(response.headers)

    conflict, _ = run(body(409, info(name="nightly")))
    assert conflict == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Conflict",
        "code": 409, "details": {"name": "nightly", "group": "recurringjob.dev", "kind": "recurringjobs"},
        "message": 'Operation cannot be fulfilled on recurringjobs.recurringjob.dev "nightly": the object '
                   "has been modified; please apply your changes to the latest version and try again"}
    throttled, headers = run(body(429, info()))
    assert (throttled["reason"], throttled["details"], headers["Retry-After"]) == (
        "TooManyRequests", {"retryAfterSeconds": 3}, "3")
    assert run(body(503, info()))[0]["reason"] == "ServiceUnavailable"
    assert run(body(500, info(resource="configmaps")))[0]["reason"] == "InternalError"


def test_latency_is_added_per_verb() -> None:
    async def timed(faults: FaultInjector, request: RequestInfo) -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await faults.intercept(request) is None
        return loop.time() - start

    faults = injector_from_flags("--fault-latency", "delay=150ms verbs=list")
    assert run(timed(faults, info(verb="list"))) >= 0.14
    assert run(timed(faults, info(verb="get"))) < 0.05


def test_partition_hang_until_healed_then_fail_and_fail_mode_is_immediate() -> None:
    async def scenario() -> None:
        faults = FaultInjector(seed=3)
        faults.partition("replica-1", "hang")
        hanging = asyncio.create_task(faults.intercept(info(client="replica-1")))
        assert await faults.intercept(info(client="replica-2")) is None  # others keep working
        await asyncio.sleep(0.1)
        assert not hanging.done()
        faults.heal("replica-1")
        response = await asyncio.wait_for(hanging, 1)
        assert response is not None and response.status == 503
        assert await faults.intercept(info(client="replica-1")) is None  # healed
        faults.partition("replica-1", "fail")
        response = await asyncio.wait_for(faults.intercept(info(client="replica-1")), 0.5)
        assert response is not None and response.status == 503
        assert faults.to_json()["stats"] == {"partition:fail": 1, "partition:hang": 1}

    run(scenario())


def test_wait_partitioned_wakes_watch_streams() -> None:
    async def scenario() -> None:
        faults = FaultInjector()
        waiter = asyncio.create_task(faults.wait_partitioned("replica-1"))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        faults.partition("replica-1")
        await asyncio.wait_for(waiter, 1)
        await asyncio.wait_for(faults.wait_partitioned("replica-1"), 1)  # already partitioned

    run(scenario())


def test_watch_drop_and_expiry_rules() -> None:
    faults = injector_from_flags("--fault-seed", "5",
                                 "--fault-watch-drop", "after=1s jitter=2s resources=jobs",
                                 "--fault-watch-expire", "rate=0.5 resources=leases")
    watch_jobs = info(verb="watch", resource="jobs", name=None)
    cuts = [faults.watch_cut_after(watch_jobs) for _ in range(50)]
    assert all(c is not None and 1.0 <= c <= 3.0 for c in cuts)
    assert len(set(cuts)) > 40  # jittered
    assert faults.watch_cut_after(info(verb="watch", resource="leases", name=None)) is None
    expired = [faults.expire_watch(info(verb="watch", resource="leases", name=None)) for _ in range(200)]
    assert 60 <= sum(expired) <= 140
    assert not any(faults.expire_watch(watch_jobs) for _ in range(20))


async def with_admin(test: Callable[[TestClient[Any, Any], FaultInjector], Awaitable[None]]) -> None:
    faults = FaultInjector(seed=11)
    app = web.Application()
    faults.add_routes(app)
    async with TestClient(TestServer(app)) as client:
        await test(client, faults)


def test_admin_api_replace_update_partition_heal_clear() -> None:
    async def test(client: TestClient[Any, Any], faults: FaultInjector) -> None:
        response = await client.put("/_devcluster/faults", json={
            "seed": 42, "errors": [{"rate": 0.1, "codes": [409], "verbs": ["update"]}],
            "latency": [{"delay": "5ms"}]})
        assert response.status == 200, await response.text()
        config = await response.json()
        assert config["seed"] == 42
        assert (config["errors"][0]["codes"], config["latency"][0]["delay"]) == ([409], 0.005)
        # POST replaces only the lists it names
        config = await (await client.post("/_devcluster/faults", json={"latency": []})).json()
        assert config["latency"] == [] and len(config["errors"]) == 1
        # PUT replaces everything
        config = await (await client.put("/_devcluster/faults", json={"watchExpiry": [{"rate": 1}]})).json()
        assert config["errors"] == [] and config["watchExpiry"][0]["rate"] == 1
        user_agent = "OpenAPI-Generator/37/python"  # identities may contain slashes
        config = await (await client.post("/_devcluster/faults/partition",
                                          json={"client": user_agent, "mode": "fail"})).json()
        assert config["partitions"] == {"OpenAPI-Generator/37/python": "fail"}
        assert faults.is_partitioned("OpenAPI-Generator/37/python")
        config = await (await client.post("/_devcluster/faults/heal", json={"client": "nobody"})).json()
        assert config["partitions"] != {}
        config = await (await client.post("/_devcluster/faults/heal")).json()
        assert config["partitions"] == {}
        config = await (await client.delete("/_devcluster/faults")).json()
        assert all(config[k] == [] for k in ("latency", "errors", "watchDrops", "watchExpiry"))
        for body, fragment in [({"errors": [{"rate": "lots"}]}, "rate"), ({"bogus": []}, "unknown key"),
                               ({"errors": {"rate": 1}}, "list"), ({"partitions": {"a": "nap"}}, "mode")]:
            response = await client.post("/_devcluster/faults", json=body)
            status = await response.json()
            assert response.status == 400 and status["reason"] == "BadRequest"
            assert fragment in status["message"]
        response = await client.post("/_devcluster/faults", data=b"{not json")
        assert response.status == 400
        assert (await client.get("/_devcluster/faults")).status == 200

    run(with_admin(test))


def test_fault_client_against_a_real_socket() -> None:
    faults = FaultInjector(seed=1)
    started = threading.Event()
    box: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            app = web.Application()
            faults.add_routes(app)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            box["port"] = runner.addresses[0][1]
            box["stop"] = stop = asyncio.Event()
            box["loop"] = asyncio.get_running_loop()
            started.set()
            await stop.wait()
            await runner.cleanup()
        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        client = FaultClient(f"http://127.0.0.1:{box['port']}")
        config = client.set_errors(0.5, codes=[503], verbs=["create"], resources=["jobs"])
        assert config["errors"][0]["rate"] == 0.5
        assert client.set_latency(0.01, jitter=0.02, verbs=["list"])["latency"][0]["jitter"] == 0.02
        assert client.drop_watches(5, jitter=1)["watchDrops"][0]["after"] == 5
        assert client.expire_watches(0.25, resources=["jobs"])["watchExpiry"][0]["resources"] == ["jobs"]
        assert client.partition("replica-1")["partitions"] == {"replica-1": "hang"}
        assert client.heal("replica-1")["partitions"] == {}
        assert client.set_errors(0)["errors"] == []
        assert client.clear()["latency"] == []
        assert client.get()["seed"] == 1
        assert client.log() == []
        with pytest.raises(RuntimeError, match="HTTP 400"):
            client.partition("replica-1", mode="sulk")
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)


def test_hold_rules_from_flags_json_and_the_client() -> None:
    faults = injector_from_flags("--fault-seed", "3",
                                 "--fault-hold", "seconds=30s verbs=create resources=jobs clients=replica-1")
    create_job = RequestInfo("create", "batch", "v1", "jobs", None, "default", None, "replica-1")
    assert faults.hold_for(create_job) == 30.0
    other_client = RequestInfo("create", "batch", "v1", "jobs", None, "default", None, "replica-2")
    other_verb = RequestInfo("patch", "batch", "v1", "jobs", None, "default", "j", "replica-1")
    assert faults.hold_for(other_client) is None and faults.hold_for(other_verb) is None
    assert faults.to_json()["holds"] == [{"verbs": ["create"], "resources": ["jobs"],
                                          "clients": ["replica-1"], "rate": 1.0, "seconds": 30.0}]
    assert faults.stats["hold"] == 1
    with pytest.raises(UserError, match="--fault-hold"):
        injector_from_flags("--fault-hold", "seconds=soon")
    half = FaultInjector(seed=9)
    half.load_json({"holds": [{"seconds": "2s", "rate": 0.5}]}, replace_all=False)
    held = [half.hold_for(create_job) for _ in range(200)]
    assert set(held) == {2.0, None} and 60 <= held.count(2.0) <= 140

    async def test(client: TestClient[Any, Any], faults: FaultInjector) -> None:
        def call() -> dict[str, Any]:
            return FaultClient(str(client.make_url(""))).hold(5, verbs=["create"], clients=["replica-1"])
        config = await asyncio.get_running_loop().run_in_executor(None, call)
        assert config["holds"][0]["seconds"] == 5 and faults.hold_for(create_job) == 5
        config = await (await client.delete("/_devcluster/faults")).json()
        assert config["holds"] == []

    run(with_admin(test))
