"""A thin JSON client over the `kubernetes.aio` ApiClient: one aiohttp session, plain dicts.

Why not the generated API classes: in `kubernetes` >= 36 they validate every body and response
through pydantic models, which costs far more CPU per call than the HTTP request itself and turns
CRD objects into untyped blobs anyway. We reuse the library for what it is good at (kubeconfig and
in-cluster loading, TLS, token refresh, the connection pool) and speak JSON dicts ourselves.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import os
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import aiohttp.helpers
import orjson
from kubernetes.aio.client.api_client import ApiClient
from kubernetes.aio.client.configuration import Configuration
from kubernetes.aio.config import incluster_config, kube_config
from kubernetes.aio.config.config_exception import ConfigException
from yarl import URL

from recurringjob import GROUP, PLURAL, VERSION, __version__
from recurringjob.errors import UserError

TRANSIENT_STATUSES = frozenset({0, 429, 500, 502, 503, 504})
DEFAULT_TIMEOUT = 20.0


class NotLeader(Exception):
    """Leadership cannot be proven right now: the write was not sent."""


# The guard of the request being sent by the current task (see KubeApi.request).
_write_guard: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "recurringjob_write_guard", default=None)


async def _check_guard(*_: Any) -> None:
    guard = _write_guard.get()
    if guard is not None and not guard():
        raise NotLeader()


def _guard_trace() -> aiohttp.TraceConfig:
    """Re-check the guard once a connection is in hand, i.e. right before the request is written.

    A task can wait a long time between its own check and the socket write (a busy connection
    pool, a busy loop, a SIGSTOP): checking here shrinks that window to a few microseconds.
    """
    trace = aiohttp.TraceConfig()
    trace.on_connection_reuseconn.append(_check_guard)
    trace.on_connection_create_start.append(_check_guard)
    return trace


class ApiError(Exception):
    """A failed API request. `status` 0 means no HTTP answer at all (connection error, timeout)."""

    def __init__(self, status: int, reason: str, message: str = "", retry_after: float | None = None):
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason  # the Status object's `reason` (AlreadyExists, Conflict, NotFound, ...)
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth retrying the same request: server overload, outage or a network failure."""
        return self.status in TRANSIENT_STATUSES


def _retry_after(value: str | None, date: str | None = None) -> float | None:
    """Seconds to wait: a number, or an HTTP date counted from the answer's own Date header (both
    the server's clock: this replica's wall clock may be minutes off), else from the local clock."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        until = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    try:
        now = email.utils.parsedate_to_datetime(date).timestamp() if date else time.time()
    except (TypeError, ValueError, IndexError):
        now = time.time()
    return max(0.0, until - now)


def _api_error(status: int, http_reason: str, data: bytes, retry_after: str | None,
               date: str | None = None) -> ApiError:
    """The ApiError of a non-2xx answer, with the reason and message of its Status body if any."""
    reason, message = http_reason, ""
    try:
        status_obj = json.loads(data)
        reason = status_obj.get("reason") or reason
        message = status_obj.get("message") or ""
    except (ValueError, AttributeError):
        message = data[:200].decode("utf-8", "replace")
    return ApiError(status, reason, message, retry_after=_retry_after(retry_after, date))


def _env_proxy_applies(host: str) -> bool:
    """True if HTTP(S)_PROXY / NO_PROXY route requests to `host` through a proxy (then aiohttp's
    per-request environment lookup stays on, so proxied setups behave as before)."""
    try:
        aiohttp.helpers.get_env_proxy_for_url(URL(host))
    except (LookupError, ValueError):
        return False
    return True


def rj_path(namespace: str, name: str = "", subresource: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(namespace)}/{PLURAL}"
    if name:
        path += f"/{quote(name)}"
    if subresource:
        path += f"/{subresource}"
    return path


def job_path(namespace: str, name: str = "") -> str:
    path = f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs"
    return f"{path}/{quote(name)}" if name else path


def lease_path(namespace: str, name: str = "") -> str:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{quote(namespace)}/leases"
    return f"{path}/{quote(name)}" if name else path


def events_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/events"


class KubeApi:
    """JSON requests through one shared `ApiClient` (one aiohttp session for the whole process)."""

    def __init__(self, configuration: Configuration, *, user_agent: str | None = None,
                 pool_size: int | None = None):
        if pool_size is not None:  # read once, when the ApiClient builds its connection pool
            configuration.connection_pool_maxsize = max(pool_size, configuration.connection_pool_maxsize)
        configuration.trace_configs = [*(configuration.trace_configs or []), _guard_trace()]
        if not _env_proxy_applies(configuration.host):
            # trust_env makes aiohttp look up proxies and ~/.netrc in a thread on *every* request
            # (measured: ~20% of the operator's CPU at 170 launches/s); decided once here instead
            configuration.client_session_kwargs = {**(configuration.client_session_kwargs or {}),
                                                   "trust_env": False}
        self.configuration = configuration
        self.api_client = ApiClient(configuration)
        self.api_client.user_agent = user_agent or f"recurringjob/{__version__}"
        # called with (sent, headers received: local monotonic seconds, the Date header) for every
        # HTTP answer, errors included: the server clock's samples (runtime/serverclock.py)
        self.on_response: Callable[[float, float, str | None], None] | None = None
        self._closed = False

    @classmethod
    async def from_environment(cls, *, kubeconfig: str | None = None, context: str | None = None,
                               user_agent: str | None = None, pool_size: int | None = None) -> KubeApi:
        """In-cluster service account if present, else KUBECONFIG / ~/.kube/config (like kubectl)."""
        configuration = Configuration()
        try:
            if kubeconfig or context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
                raise ConfigException("not in a cluster, or a kubeconfig was asked for")
            incluster_config.load_incluster_config(client_configuration=configuration)
        except ConfigException:
            path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
            try:
                await kube_config.load_kube_config(config_file=path, context=context,
                                                   client_configuration=configuration,
                                                   persist_config=False)
            except (ConfigException, OSError) as exc:
                where = path or "~/.kube/config"
                raise UserError(f"cannot load a Kubernetes config (in-cluster or {where}): {exc}") from exc
        return cls(configuration, user_agent=user_agent, pool_size=pool_size)

    async def bearer_token(self) -> str | None:
        """The current token (refreshed by the library's hook for in-cluster tokens), no scheme."""
        value = await self.configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        if not value:
            return None
        return value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value

    async def request(self, method: str, path: str, *, body: Any = None,
                      query: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
                      content_type: str = "application/json",
                      timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per-request budget
                      guard: Callable[[], bool] | None = None) -> Any:
        """Send one request; return the decoded JSON body, raise ApiError on anything but 2xx.

        `guard` (e.g. Leadership.is_leader) is checked now and again just before the request is
        written to a connection; if it fails, NotLeader is raised and nothing is sent.
        """
        if guard is not None and not guard():
            raise NotLeader()
        token = _write_guard.set(guard)
        try:
            return await self._request(method, path, body=body, query=query, content_type=content_type,
                                       timeout=timeout)
        finally:
            _write_guard.reset(token)

    async def _request(self, method: str, path: str, *, body: Any, query: Any, content_type: str,
                       timeout: float) -> Any:  # noqa: ASYNC109
        url = self._url(path, query)
        headers = await self._headers(content_type)
        try:
            async with asyncio.timeout(timeout):
                sent = time.monotonic()
                response = await self.api_client.rest_client.request(
                    method, url, headers=headers, body=body,
                    _request_timeout=aiohttp.ClientTimeout(total=timeout),
                )
                received = time.monotonic()
                data = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ApiError(0, "NetworkError", f"{type(exc).__name__}: {exc}") from exc
        if self.on_response is not None:
            self.on_response(sent, received, response.headers.get("Date"))
        if 200 <= response.status < 300:
            return orjson.loads(data) if data else None  # ~3x json.loads: every answer is decoded
        raise _api_error(response.status, response.reason or "", data, response.headers.get("Retry-After"),
                         response.headers.get("Date"))

    def _url(self, path: str, query: Mapping[str, str] | Sequence[tuple[str, str]] | None) -> str:
        return self.configuration.host + path + ("?" + urlencode(query) if query else "")

    async def _headers(self, content_type: str) -> dict[str, str]:
        headers = dict(self.api_client.default_headers)
        headers["Accept"] = "application/json"
        headers["Content-Type"] = content_type
        auth_settings: dict[str, Any] = dict(await self.configuration.auth_settings())
        for auth in auth_settings.values():
            headers[str(auth["key"])] = str(auth["value"])
        return headers

    async def stream_lines(self, path: str, *, query: Mapping[str, str], idle_timeout: float,
                           total_timeout: float) -> AsyncGenerator[bytes, None]:
        """GET a streaming answer (a watch) and yield it line by line.

        Raises ApiError for a non-2xx answer, and ApiError status 0 when the connection fails, no
        byte arrives for `idle_timeout` seconds, or the stream outlives `total_timeout` (a watch
        the server forgot, e.g. behind a partition, must end on our side too). Use it with
        `contextlib.aclosing` so a consumer that stops early releases the connection.
        """
        url = self._url(path, query)
        headers = await self._headers("application/json")
        timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=10.0, sock_read=idle_timeout)
        response = None
        try:
            response = (await self.api_client.rest_client.request(
                "GET", url, headers=headers, _request_timeout=timeout)).response
            if not 200 <= response.status < 300:
                data = await response.read()
                raise _api_error(response.status, response.reason or "", data,
                                 response.headers.get("Retry-After"))
            async for line in response.content:
                yield line
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:  # ValueError: line too long
            raise ApiError(0, "NetworkError", f"{type(exc).__name__}: {exc}") from exc
        finally:
            if response is not None:
                response.release()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.api_client.close()


async def list_objects(api: KubeApi, path: str, *, label_selector: str | None = None,
                       page_size: int = 500) -> AsyncIterator[dict[str, Any]]:
    """Every item of a (paginated) LIST, with apiVersion/kind filled in like a GET would."""
    token = ""
    while True:
        query = {"limit": str(page_size)}
        if label_selector:
            query["labelSelector"] = label_selector
        if token:
            query["continue"] = token
        page = await api.request("GET", path, query=query, timeout=60.0)
        api_version, kind = page.get("apiVersion"), str(page.get("kind") or "").removesuffix("List")
        for item in page.get("items") or ():
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
            yield item
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return


def default_identity() -> str:
    """hostname + pid: unique per process, readable in `kubectl get lease -o yaml`."""
    return f"{socket.gethostname()}-{os.getpid()}"
