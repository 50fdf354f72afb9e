"""Discovery and OpenAPI documents, built from the registry and cached until it changes.

kubectl 1.32 asks for aggregated discovery (`apidiscovery.k8s.io/v2` APIGroupDiscoveryList at
/api and /apis) and falls back to the plain per-group-version documents; the official Python
client and Kopf read the plain ones. `kubectl apply` (default --validate=strict) looks in
/openapi/v3 for a PATCH operation carrying a `fieldValidation` parameter to decide that the
server validates; `kubectl explain` reads the component schemas tagged with
`x-kubernetes-group-version-kind`. Patch operations of built-in kinds do not advertise strategic
merge patch, so kubectl computes it from its compiled-in types (we have no full built-in schemas).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from recurringjob.devcluster.registry import Registry, ResourceType

KUBE_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-devcluster",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}
AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
SUBRESOURCE_VERBS = ["get", "patch", "update"]
OBJECT_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _gv(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


class Discovery:
    """Serialized documents (bytes), rebuilt when `registry.generation` moves."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._generation = -1
        self._docs: dict[str, bytes] = {}

    def document(self, key: str) -> bytes | None:
        """key: 'version', 'api', 'apis', 'agg:api', 'agg:apis', 'gv:<group>/<version>', 'group:<g>',
        'openapi3', 'openapi3:<path>'; None when there is no such document."""
        if self._generation != self.registry.generation:
            self._docs = {}
            self._generation = self.registry.generation
        if key not in self._docs:
            doc = self._build(key)
            if doc is None:
                return None
            self._docs[key] = _dumps(doc)
        return self._docs[key]

    def _build(self, key: str) -> Any:
        kind, _, arg = key.partition(":")
        gvs = self.registry.group_versions()
        if key == "version":
            return KUBE_VERSION
        if key == "api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
            }
        if key == "apis":
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [self._group(g, vs) for g, vs in gvs.items() if g],
            }
        if kind == "group":
            return self._group(arg, gvs[arg]) if arg in gvs and arg else None
        if kind == "agg":
            groups = [g for g in gvs if (g == "") == (arg == "api")]
            return {
                "kind": "APIGroupDiscoveryList",
                "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {},
                "items": [self._aggregated_group(g, gvs[g]) for g in groups],
            }
        if kind == "gv":
            group, _, version = arg.rpartition("/")
            if not self.registry.has_group_version(group, version):
                return None
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": _gv(group, version),
                "resources": [
                    r for rt in self.registry.resources_in(group, version) for r in _plain_resources(rt)
                ],
            }
        if key == "openapi3":
            return {
                "paths": {
                    self._openapi_path(g, v): {"serverRelativeURL": self._openapi_url(g, v)}
                    for g, vs in gvs.items()
                    for v in vs
                }
            }
        if kind == "openapi3":
            return self._openapi_gv(arg)
        return None

    @staticmethod
    def _group(group: str, versions: list[str]) -> dict[str, Any]:
        entries = [{"groupVersion": _gv(group, v), "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def _aggregated_group(self, group: str, versions: list[str]) -> dict[str, Any]:
        return {
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [
                {
                    "version": v,
                    "freshness": "Current",
                    "resources": [_aggregated_resource(rt, v) for rt in self.registry.resources_in(group, v)],
                }
                for v in versions
            ],
        }

    # ---- OpenAPI v3 ------------------------------------------------------------------------------
    @staticmethod
    def _openapi_path(group: str, version: str) -> str:
        return f"apis/{group}/{version}" if group else f"api/{version}"

    def _openapi_url(self, group: str, version: str) -> str:
        body = self.document("openapi3:" + self._openapi_path(group, version)) or b""
        digest = hashlib.sha512(body).hexdigest().upper()
        return f"/openapi/v3/{self._openapi_path(group, version)}?hash={digest}"

    def _openapi_gv(self, path: str) -> dict[str, Any] | None:
        parts = path.split("/")
        if parts[0] == "api" and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[0] == "apis" and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            return None
        if not self.registry.has_group_version(group, version):
            return None
        paths: dict[str, Any] = {}
        schemas: dict[str, Any] = {OBJECT_META_REF: _OBJECT_META}
        for rt in self.registry.resources_in(group, version):
            name = schema_name(rt, version)
            schemas[name] = _kind_schema(rt, version)
            paths[_item_path(rt, version)] = _item_operations(rt, version, name)
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
            "paths": paths,
            "components": {"schemas": schemas},
        }


def schema_name(rt: ResourceType, version: str) -> str:
    if rt.crd_name is not None:
        return ".".join(reversed(rt.group.split("."))) + f".{version}.{rt.kind}"
    short_group = rt.group.split(".")[0] if rt.group else "core"
    return f"io.k8s.api.{short_group}.{version}.{rt.kind}"


def _gvk(rt: ResourceType, version: str) -> dict[str, str]:
    return {"group": rt.group, "version": version, "kind": rt.kind}


def _plain_resources(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.resource,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(_verbs(rt)),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    result = [main]
    if rt.has_status:
        result.append(
            {
                "name": rt.resource + "/status",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": SUBRESOURCE_VERBS,
            }
        )
    return result


def _verbs(rt: ResourceType) -> tuple[str, ...]:
    if rt.rk == ("", "namespaces"):  # kube serves no deletecollection for namespaces
        return ("create", "delete", "get", "list", "patch", "update", "watch")
    return ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def _aggregated_resource(rt: ResourceType, version: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.resource,
        "responseKind": _gvk(rt, version),
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(_verbs(rt)),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.has_status:
        entry["subresources"] = [
            {"subresource": "status", "responseKind": _gvk(rt, version), "verbs": SUBRESOURCE_VERBS}
        ]
    return entry


def _item_path(rt: ResourceType, version: str) -> str:
    prefix = f"/apis/{rt.group}/{version}" if rt.group else f"/api/{version}"
    scope = "/namespaces/{namespace}" if rt.namespaced else ""
    return f"{prefix}{scope}/{rt.resource}/{{name}}"


def _item_operations(rt: ResourceType, version: str, name: str) -> dict[str, Any]:
    ref = {"schema": {"$ref": f"#/components/schemas/{name}"}}
    params = [
        {"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for p in ("dryRun", "fieldManager", "fieldValidation", "force")
    ]
    patch_types = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ]
    ext = {"x-kubernetes-group-version-kind": _gvk(rt, version)}
    ok = {"200": {"description": "OK", "content": {"application/json": ref}}}
    return {
        "get": {"operationId": f"read{rt.kind}", "responses": ok, **ext, "x-kubernetes-action": "get"},
        "put": {
            "operationId": f"replace{rt.kind}",
            "parameters": params,
            "requestBody": {"content": {"application/json": ref}},
            "responses": ok,
            **ext,
            "x-kubernetes-action": "put",
        },
        "patch": {
            "operationId": f"patch{rt.kind}",
            "parameters": params,
            "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in patch_types}},
            "responses": ok,
            **ext,
            "x-kubernetes-action": "patch",
        },
        "delete": {
            "operationId": f"delete{rt.kind}",
            "responses": ok,
            **ext,
            "x-kubernetes-action": "delete",
        },
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
        + (
            [{"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}]
            if rt.namespaced
            else []
        ),
    }


def _kind_schema(rt: ResourceType, version: str) -> dict[str, Any]:
    body = rt.openapi.get(version) if rt.crd_name is not None else None
    schema: dict[str, Any] = (
        json.loads(json.dumps(body))
        if body
        else {
            "type": "object",
            "description": f"{rt.kind} (served by the RecurringJob dev cluster).",
            "properties": {
                "spec": {"type": "object", "description": f"Specification of the {rt.kind}."},
                "status": {"type": "object", "description": "Most recently observed status."},
            }
            if rt.has_status
            else {},
        }
    )
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object.",
    }
    props["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents.",
    }
    props["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{OBJECT_META_REF}"}],
        "description": "Standard object's metadata.",
    }
    schema["x-kubernetes-group-version-kind"] = [_gvk(rt, version)]
    return schema


_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "description": "ObjectMeta is metadata that all persisted resources must have.",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "generateName": {"type": "string", "description": "Optional prefix for a server-generated name."},
        "namespace": {
            "type": "string",
            "description": "Namespace defines the space within which each name must be unique.",
        },
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Map of string keys and values for organizing and selecting objects.",
        },
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Unstructured key value map stored with a resource.",
        },
        "uid": {
            "type": "string",
            "description": "UID is the unique in time and space value for this object.",
        },
        "resourceVersion": {
            "type": "string",
            "description": "An opaque value that represents the internal version of this object.",
        },
        "generation": {
            "type": "integer",
            "format": "int64",
            "description": "A sequence number representing a specific generation of the desired state.",
        },
        "creationTimestamp": {"type": "string", "format": "date-time"},
        "deletionTimestamp": {"type": "string", "format": "date-time"},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
}
