"""Which resources the dev cluster serves: the built-in kinds plus one entry per established CRD.

A `ResourceType` carries everything the store, the HTTP layer and discovery need to know about a
resource; the `Registry` indexes them by (group, resource) — the storage key `rk` — and by
(group, version, resource) as found in URLs. `generation` changes whenever the set changes, so
discovery documents can be cached and rebuilt only then.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

RK = tuple[str, str]  # (group, resource): where objects live, independent of the version asked for

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass
class ResourceType:
    group: str
    versions: tuple[str, ...]  # served versions; the first is the preferred/storage version
    resource: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False  # a /status subresource exists (status ignored by main-resource writes)
    has_generation: bool = True
    allow_create_on_update: bool = False  # PUT of a missing object creates it (leases, events)
    return_deleted_object: bool = False  # DELETE answers with the object instead of a Success Status
    default_propagation: str = "Background"
    schemas: dict[str, Any] = field(default_factory=dict)  # version -> StructuralSchema (CRDs)
    openapi: dict[str, Any] = field(default_factory=dict)  # version -> raw openAPIV3Schema (CRDs)
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    crd_name: str | None = None  # set for custom resources
    field_labels: tuple[str, ...] = ()  # fieldSelector labels beyond metadata.name/namespace

    @property
    def rk(self) -> RK:
        return (self.group, self.resource)

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def api_version(self, version: str | None = None) -> str:
        version = version or self.versions[0]
        return f"{self.group}/{version}" if self.group else version


def _builtin(
    group: str, version: str, resource: str, kind: str, namespaced: bool = True, **kw: Any
) -> ResourceType:
    singular = kw.pop("singular", kind.lower())
    return ResourceType(group, (version,), resource, kind, namespaced, singular=singular, **kw)


_INVOLVED = tuple(
    f"involvedObject.{f}"
    for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
)
_EVENT_FIELDS = (*_INVOLVED, "reason", "reportingComponent", "source", "type")
_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)

_RBAC = "rbac.authorization.k8s.io"

BUILTINS: tuple[ResourceType, ...] = (
    _builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        short_names=("ns",),
        has_status=True,
        has_generation=False,
        field_labels=("status.phase",),
    ),
    _builtin(
        "",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        has_generation=False,
        allow_create_on_update=True,
        field_labels=_EVENT_FIELDS,
    ),
    _builtin("", "v1", "configmaps", "ConfigMap", short_names=("cm",), has_generation=False),
    _builtin("", "v1", "secrets", "Secret", has_generation=False, field_labels=("type",)),
    _builtin(
        "",
        "v1",
        "pods",
        "Pod",
        short_names=("po",),
        categories=("all",),
        has_status=True,
        has_generation=False,
        field_labels=_POD_FIELDS,
    ),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",), has_generation=False),
    _builtin(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        has_generation=False,
        allow_create_on_update=True,
        field_labels=(
            *_EVENT_FIELDS,
            *(f.replace("involvedObject", "regarding") for f in _INVOLVED),
            "reportingController",
        ),
    ),
    _builtin(
        "coordination.k8s.io", "v1", "leases", "Lease", has_generation=False, allow_create_on_update=True
    ),
    # batch/v1 Jobs still default to orphaning their pods when the client names no policy.
    _builtin(
        "batch",
        "v1",
        "jobs",
        "Job",
        categories=("all",),
        has_status=True,
        default_propagation="Orphan",
        field_labels=("status.successful",),
    ),
    # Stored as sent, no controllers: what `helm template` of our chart renders must apply.
    _builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        categories=("all",),
        has_status=True,
    ),
    _builtin(
        "",
        "v1",
        "services",
        "Service",
        short_names=("svc",),
        categories=("all",),
        has_status=True,
        has_generation=False,
    ),
    _builtin(
        "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",), has_status=True
    ),
    *(
        _builtin(_RBAC, "v1", resource, kind, namespaced, has_generation=False)
        for resource, kind, namespaced in (
            ("roles", "Role", True),
            ("rolebindings", "RoleBinding", True),
            ("clusterroles", "ClusterRole", False),
            ("clusterrolebindings", "ClusterRoleBinding", False),
        )
    ),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        has_status=True,
    ),
)


class Registry:
    """The served resources. Mutated only by the CRD hooks (single event loop, no locking)."""

    def __init__(self) -> None:
        self._by_rk: dict[RK, ResourceType] = {}
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self.generation = 0
        for rt in BUILTINS:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self.remove(rt.rk)
        self._by_rk[rt.rk] = rt
        for version in rt.versions:
            self._by_gvr[(rt.group, version, rt.resource)] = rt
        self.generation += 1

    def remove(self, rk: RK) -> ResourceType | None:
        rt = self._by_rk.pop(rk, None)
        if rt is not None:
            for version in rt.versions:
                self._by_gvr.pop((rt.group, version, rt.resource), None)
            self.generation += 1
        return rt

    def get(self, rk: RK) -> ResourceType | None:
        return self._by_rk.get(rk)

    def lookup(self, group: str, version: str, resource: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, resource))

    def has_group_version(self, group: str, version: str) -> bool:
        return any(rt.group == group and version in rt.versions for rt in self._by_rk.values())

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_rk.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first; the core group "" first, then by name."""
        result: dict[str, list[str]] = {}
        for rt in sorted(self._by_rk.values(), key=lambda r: (r.group != "", r.group)):
            versions = result.setdefault(rt.group, [])
            for version in rt.versions:
                if version not in versions:
                    versions.append(version)
        for versions in result.values():
            versions.sort(key=_version_priority)
        return result

    def resources_in(self, group: str, version: str) -> list[ResourceType]:
        return sorted(
            (rt for rt in self._by_rk.values() if rt.group == group and version in rt.versions),
            key=lambda r: r.resource,
        )


def _version_priority(version: str) -> tuple[int, int, int]:
    """kube's version ordering: GA > beta > alpha, higher numbers first."""
    import re

    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    stability = {"": 0, "beta": 1, "alpha": 2}[match.group(2) or ""]
    return (stability, -int(match.group(1)), -int(match.group(3) or 0))
