"""KubeApi's aiohttp session (no per-request environment lookups unless a proxy applies) and its
streaming reads (watch lines, refused watches, silent streams)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from aiohttp import web
from kubernetes.aio.client.configuration import Configuration
from recurringjob.runtime.kube import ApiError, KubeApi

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
                   "ALL_PROXY", "all_proxy")


def configuration() -> Configuration:
    config = Configuration()
    config.host = "https://10.0.0.1:6443"
    return config


def test_without_a_proxy_the_session_does_not_read_the_environment_per_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    api = KubeApi(configuration())
    assert api.configuration.client_session_kwargs == {"trust_env": False}


def test_a_proxy_from_the_environment_is_still_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    api = KubeApi(configuration())
    assert (api.configuration.client_session_kwargs or {}).get("trust_env") is not False


def test_every_answer_reports_its_timing_and_date_header() -> None:
    """The server clock's hook: (sent, received, Date) for successes and API errors alike."""
    import asyncio
    import time

    from aiohttp import web
    from recurringjob.runtime.kube import ApiError

    async def scenario() -> list[tuple[float, float, str | None]]:
        async def ok(request: web.Request) -> web.Response:
            return web.json_response({"kind": "Status"})

        async def missing(request: web.Request) -> web.Response:
            return web.json_response({"kind": "Status", "reason": "NotFound"}, status=404,
                                     headers={"Date": "Tue, 01 Dec 2026 00:00:07 GMT"})

        app = web.Application()
        app.router.add_get("/ok", ok)
        app.router.add_get("/missing", missing)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        config = Configuration()
        config.host = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        api = KubeApi(config)
        seen: list[tuple[float, float, str | None]] = []
        api.on_response = lambda sent, received, date: seen.append((sent, received, date))
        try:
            before = time.monotonic()
            await api.request("GET", "/ok")
            with pytest.raises(ApiError):
                await api.request("GET", "/missing")
            assert all(before <= sent <= received <= time.monotonic() for sent, received, _ in seen)
        finally:
            await api.close()
            await runner.cleanup()
        return seen

    seen = asyncio.run(scenario())
    assert len(seen) == 2
    assert seen[0][2] and seen[0][2].endswith(" GMT")  # aiohttp's own Date header
    assert seen[1][2] == "Tue, 01 Dec 2026 00:00:07 GMT"


async def _serve(handler: Any) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/watch", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def _lines(handler: Any, **timeouts: float) -> tuple[list[bytes], ApiError | None, float]:
    """The lines streamed by `handler`, the ApiError that ended the stream (None: it ended), and
    how long the stream lasted (seconds)."""
    runner, url = await _serve(handler)
    config = Configuration()
    config.host = url
    api = KubeApi(config)
    got: list[bytes] = []
    started = time.monotonic()
    try:
        async with contextlib.aclosing(api.stream_lines("/watch", query={"watch": "1"}, **timeouts)) as lines:
            async for line in lines:
                got.append(line)
    except ApiError as exc:
        return got, exc, time.monotonic() - started
    finally:
        await api.close()
        await runner.cleanup()
    return got, None, time.monotonic() - started


def test_stream_lines_yields_each_line_as_it_arrives_and_ends_with_the_stream() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for index in range(3):
            await response.write(b'{"n": %d}\n' % index)
            await asyncio.sleep(0.01)
        return response

    lines, error, _ = asyncio.run(_lines(handler, idle_timeout=5, total_timeout=10))
    assert error is None and lines == [b'{"n": 0}\n', b'{"n": 1}\n', b'{"n": 2}\n']


def test_stream_lines_raises_the_status_of_a_refused_watch() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
                                 status=410)

    lines, error, _ = asyncio.run(_lines(handler, idle_timeout=5, total_timeout=10))
    assert lines == [] and error is not None
    assert (error.status, error.reason, error.message) == (410, "Expired", "too old")


def test_a_silent_stream_ends_after_the_idle_timeout() -> None:
    """A watch the server forgot (a partition) must not hang the watcher forever."""
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"n": 0}\n')
        await asyncio.sleep(5)
        return response

    lines, error, lasted = asyncio.run(_lines(handler, idle_timeout=0.3, total_timeout=20))
    assert lines == [b'{"n": 0}\n']
    assert error is not None and error.status == 0
    assert lasted < 4  # the server would have kept it open for 5 s


def test_a_stream_ends_at_the_total_timeout_even_while_bytes_keep_coming() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(50):
            await response.write(b"\n")
            await asyncio.sleep(0.1)
        return response

    _, error, lasted = asyncio.run(_lines(handler, idle_timeout=1, total_timeout=0.5))
    assert error is not None and error.status == 0
    assert lasted < 4  # the server would have kept it open for 5 s


@pytest.mark.parametrize(("value", "date", "expected"), [
    ("7", None, 7.0),
    ("-3", None, 0.0),
    # an HTTP date counts from the answer's Date header, not from this replica's (maybe skewed) clock
    ("Tue, 01 Dec 2026 00:00:37 GMT", "Tue, 01 Dec 2026 00:00:07 GMT", 30.0),
    ("Tue, 01 Dec 2026 00:00:07 GMT", "Tue, 01 Dec 2026 00:00:37 GMT", 0.0),
    ("soon", "Tue, 01 Dec 2026 00:00:07 GMT", None),
    (None, None, None),
])
def test_retry_after(value: str | None, date: str | None, expected: float | None) -> None:
    from recurringjob.runtime.kube import _retry_after
    assert _retry_after(value, date) == expected
