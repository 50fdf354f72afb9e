"""KubeApi's aiohttp session: no per-request environment lookups unless a proxy applies."""

from __future__ import annotations

import pytest
from kubernetes.aio.client.configuration import Configuration
from recurringjob.runtime.kube import KubeApi

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
