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
