"""A small Kubernetes RBAC evaluator for rendered manifests, judged against the dev cluster's access log.

Follows kube's RBAC authorizer (plugin/pkg/auth/authorizer/rbac) for what our chart can express:
a request is allowed when some rule, bound to the ServiceAccount, matches its apiGroup, resource
(`resource/subresource` for subresources), verb and — when the rule lists resourceNames — its name.
A ClusterRoleBinding grants everywhere (cluster-scoped requests included); a RoleBinding grants only
inside its own namespace, whether it references a Role or a ClusterRole. Requests that carry no name
to authorize (create, list, watch, deletecollection) never match a rule with resourceNames.
Non-resource requests (discovery, /version, /openapi) are granted to every authenticated user by
kube's default `system:discovery` / `system:public-info-viewer` ClusterRoles, not by the chart.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# kube's bootstrap policy: system:discovery + system:public-info-viewer, bound to system:authenticated
DEFAULT_NON_RESOURCE_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz",
                             "/version", "/version/", "/openapi", "/openapi/*")
UNNAMED_VERBS = {"create", "list", "watch", "deletecollection"}  # authorized without a resource name


@dataclass(frozen=True)
class Grant:
    """One rule as bound to the subject: `namespace` None = everywhere (ClusterRoleBinding)."""

    rule: Mapping[str, Any]
    namespace: str | None
    source: str  # e.g. "ClusterRole/rj-recurringjob-operator" or "Role team-a/rj-recurringjob-operator"


@dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str  # "recurringjobs/status" for a subresource
    namespace: str | None
    name: str | None

    @classmethod
    def from_access_entry(cls, entry: Mapping[str, Any]) -> Request:
        resource = entry["resource"] + (f"/{entry['subresource']}" if entry.get("subresource") else "")
        # a create's logged name is the created object's, not one the authorizer sees
        name = None if entry["verb"] in UNNAMED_VERBS else entry.get("name")
        return cls(entry["verb"], entry["group"] or "", resource, entry.get("namespace"), name)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name or ''}" if self.namespace else (self.name or "(cluster)")
        return f"{self.verb} {self.group or 'core'}/{self.resource} {where}"


def bound_grants(docs: Sequence[Mapping[str, Any]], account: str, account_namespace: str) -> list[Grant]:
    """Every rule the ServiceAccount gets from the rendered (Cluster)Roles and bindings."""
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
             for d in docs if d.get("kind") in ("Role", "ClusterRole")}
    grants: list[Grant] = []
    for binding in docs:
        if binding.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        subject = {"kind": "ServiceAccount", "name": account, "namespace": account_namespace}
        if not any({k: s.get(k) for k in subject} == subject for s in binding.get("subjects") or []):
            continue
        scope = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        ref = binding["roleRef"]
        role_namespace = scope if ref["kind"] == "Role" else None
        role = roles.get((ref["kind"], role_namespace, ref["name"]))
        assert role is not None, f"{binding['kind']} {binding['metadata']['name']} references missing {ref}"
        source = f"{ref['kind']} {role_namespace + '/' if role_namespace else ''}{ref['name']}"
        grants.extend(Grant(rule, scope, source) for rule in role.get("rules") or [])
    return grants


def _has(values: Iterable[str], wanted: str) -> bool:
    return any(v == wanted or v == "*" for v in values)


def rule_matches(grant: Grant, request: Request) -> bool:
    rule = grant.rule
    if grant.namespace is not None and request.namespace != grant.namespace:
        return False  # a RoleBinding grants inside its namespace only (never cluster-scoped requests)
    if not (_has(rule.get("apiGroups") or [], request.group) and _has(rule.get("verbs") or [], request.verb)
            and _has(rule.get("resources") or [], request.resource)):
        return False
    names = rule.get("resourceNames") or []
    return not names or (request.name is not None and request.name in names)


def allowed(grants: Sequence[Grant], request: Request) -> bool:
    return any(rule_matches(grant, request) for grant in grants)


def non_resource_allowed(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in DEFAULT_NON_RESOURCE_URLS)


def denied(grants: Sequence[Grant], entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every logged request the grants do not allow (one line each, deduplicated)."""
    out: dict[str, None] = {}
    for entry in entries:
        if entry["resource"] is None:
            if not non_resource_allowed(entry["path"]):
                out[f"{entry['verb']} {entry['path']} (non-resource)"] = None
            continue
        request = Request.from_access_entry(entry)
        if not allowed(grants, request):
            out[str(request)] = None
    return list(out)


def unused(grants: Sequence[Grant], entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each (grant, apiGroup, resource, verb) that no logged request needed."""
    requests = [Request.from_access_entry(e) for e in entries if e["resource"] is not None]
    out = []
    for grant in grants:
        rule = grant.rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    single = Grant({**rule, "apiGroups": [group], "resources": [resource], "verbs": [verb]},
                                   grant.namespace, grant.source)
                    if not any(rule_matches(single, r) for r in requests):
                        out.append(f"{grant.source}: {verb} {group or 'core'}/{resource}")
    return out
