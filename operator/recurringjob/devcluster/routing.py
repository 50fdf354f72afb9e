"""From a URL to what it names: a resource `Target` plus its `RequestInfo`, or a discovery document.

Paths follow kube-apiserver: /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]] and the same
under /apis/GROUP/VERSION; /api/v1/namespaces/NAME/status|finalize are namespace subresources.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.discovery import AGGREGATED_CONTENT_TYPE, Discovery
from recurringjob.devcluster.registry import Registry, ResourceType
from recurringjob.devcluster.request import RequestInfo

NAMESPACE_SUBRESOURCES = {"status", "finalize"}
NOT_FOUND_PAGE = "404 page not found\n"


def client_identity(request: web.Request) -> str:
    """The bearer token's text, else the User-Agent (audit `client`, fault partitions)."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer ") :].strip()
    return request.headers.get("User-Agent", "")


class Target:
    """A resolved resource URL."""

    __slots__ = ("group", "name", "namespace", "rt", "subresource", "version")

    def __init__(
        self, rt: ResourceType, version: str, namespace: str | None, name: str | None, subresource: str | None
    ) -> None:
        self.rt, self.version, self.namespace = rt, version, namespace
        self.name, self.subresource = name, subresource
        self.group = rt.group


def resolve(
    registry: Registry, method: str, query: Mapping[str, str], path: str, client: str
) -> tuple[Target, RequestInfo] | str:
    """A resource request, or the key of the discovery document the path names (see Discovery)."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[1:]
    else:
        group, rest = (parts[1] if len(parts) > 1 else ""), parts[2:]
    if not rest:
        if len(parts) == 1:
            return parts[0]
        return f"group:{group}"
    version, rest = rest[0], rest[1:]
    if not rest:
        return f"gv:{group}/{version}"
    namespace: str | None = None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES)
    ):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise apierrors.resource_not_found()
    resource, name = rest[0], (rest[1] if len(rest) > 1 else None)
    subresource = rest[2] if len(rest) > 2 else None
    rt = registry.lookup(group, version, resource)
    if rt is None or (subresource is not None and not (subresource == "status" and rt.has_status)):
        raise apierrors.resource_not_found()
    if not rt.namespaced and namespace is not None:
        raise apierrors.resource_not_found()
    if resource == "namespaces" and name is not None:
        namespace = None
    info = RequestInfo(
        verb_of(method, query, name), group, version, resource, subresource,
        namespace if rt.namespaced else None, name, client,
    )  # fmt: skip
    return Target(rt, version, namespace, name, subresource), info


def verb_of(method: str, query: Mapping[str, str], name: str | None) -> str:
    """The Kubernetes authorization verb of a request."""
    if method in ("GET", "HEAD"):
        if name is None:
            return "watch" if query.get("watch") in ("1", "true", "True") else "list"
        return "get"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method in verbs:
        return verbs[method]
    if method == "DELETE":
        return "delete" if name is not None else "deletecollection"
    raise apierrors.method_not_allowed(f"{method} is not supported")


def non_resource(discovery: Discovery, request: web.Request, path: str) -> web.Response:
    """/version, /openapi/v3[/...], /api, /apis, health checks; plain 404 for anything else."""
    if path in ("/healthz", "/readyz", "/livez"):
        return web.Response(text="ok")
    if path == "/version":
        return document(discovery, request, "version")
    if path == "/openapi/v3":
        return document(discovery, request, "openapi3")
    if path.startswith("/openapi/v3/"):
        return document(discovery, request, "openapi3:" + path[len("/openapi/v3/") :])
    if path in ("/api", "/apis"):
        return document(discovery, request, path[1:])
    return web.Response(status=404, text=NOT_FOUND_PAGE)


def document(discovery: Discovery, request: web.Request, key: str) -> web.Response:
    """A discovery document; /api and /apis in aggregated form when the client asks for it."""
    accept = request.headers.get("Accept", "").replace(" ", "")
    if key in ("api", "apis") and "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept + ";":
        body = discovery.document("agg:" + key)
        return web.Response(body=body, headers={"Content-Type": AGGREGATED_CONTENT_TYPE})
    body = discovery.document(key)
    if body is None:
        return web.Response(status=404, text=NOT_FOUND_PAGE)
    return web.Response(body=body, content_type="application/json")
