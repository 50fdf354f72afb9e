"""CustomResourceDefinitions: validation, the status kube's controllers would set, and serving.

Creating a CRD registers its resource at once (the real server needs a moment; clients poll for
`Established`, which we set in the same write). Custom objects go through the version's
structural schema: prune unknown fields, apply defaults, validate (crdschema.py).
"""

from __future__ import annotations

from typing import Any

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.registry import ResourceType

Obj = dict[str, Any]
CRD_GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def validate_crd(crd: Obj) -> None:
    """422 Invalid with every cause apiextensions' validation would report (crdvalidation.py)."""
    from recurringjob.devcluster.crdschema import validate_crd as field_errors

    errors = field_errors(crd)
    if errors:
        raise apierrors.invalid(
            CRD_GROUP,
            "CustomResourceDefinition",
            crd["metadata"].get("name", ""),
            [{"reason": e.reason, "message": e.message, "field": e.field} for e in errors],
        )


def prepare_create(crd: Obj) -> None:
    validate_crd(crd)
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    spec["names"] = names
    for version in spec["versions"]:
        version.setdefault("served", True)
    spec.setdefault("conversion", {"strategy": "None"})
    meta = crd["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if CLEANUP_FINALIZER not in finalizers:
        finalizers.append(CLEANUP_FINALIZER)
    meta["finalizers"] = finalizers
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    crd["status"] = {
        "acceptedNames": names,
        "conditions": [
            _condition("NamesAccepted", "NoConflicts", "no conflicts found", meta["creationTimestamp"]),
            _condition(
                "Established",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                meta["creationTimestamp"],
            ),
        ],
        "storedVersions": [storage],
    }


def _condition(type_: str, reason: str, message: str, when: str) -> dict[str, str]:
    return {"type": type_, "status": "True", "reason": reason, "message": message, "lastTransitionTime": when}


def resource_type(crd: Obj) -> ResourceType:
    """The ResourceType served for an (already validated) CRD."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    served.sort(key=lambda v: not v.get("storage"))  # storage version first: what we store
    rt = ResourceType(
        group=spec["group"],
        versions=tuple(v["name"] for v in served),
        resource=names["plural"],
        kind=names["kind"],
        namespaced=spec["scope"] == "Namespaced",
        singular=names.get("singular") or names["kind"].lower(),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        has_generation=True,
        return_deleted_object=True,
        crd_name=crd["metadata"]["name"],
    )
    rt.has_status = any("status" in (v.get("subresources") or {}) for v in served)
    for version in served:
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
        rt.openapi[version["name"]] = schema
        rt.schemas[version["name"]] = _structural(schema)
        rt.printer_columns[version["name"]] = list(version.get("additionalPrinterColumns") or [])
    return rt


def _structural(schema: Obj | None) -> Any:
    if schema is None:
        return None
    from recurringjob.devcluster.crdschema import StructuralSchema

    return StructuralSchema(schema)


def _body(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}


def prepare_custom(rt: ResourceType, obj: Obj, old: Obj | None = None) -> None:
    """Prune, default and validate a custom object in place, against its apiVersion's schema."""
    version = str(obj.get("apiVersion", "")).rpartition("/")[2] or rt.versions[0]
    schema = rt.schemas.get(version)
    if schema is None:
        return
    body = schema.prune(obj)  # a fresh copy, so defaults may go in without another one
    schema.fill_defaults(body)
    errors = schema.validate(body, old)
    if errors:
        causes = [{"reason": e.reason, "message": e.message, "field": e.field} for e in errors]
        raise apierrors.invalid(rt.group, rt.kind, obj["metadata"].get("name", ""), causes)
    metadata = obj["metadata"]
    obj.clear()
    obj.update(body)
    obj["metadata"] = metadata  # keep our (server-managed) metadata dict, not the schema's copy


def unknown_fields(rt: ResourceType, obj: Obj) -> list[str]:
    """Paths (`.spec.foo`) the schema would prune: what fieldValidation=Strict/Warn reports."""
    version = str(obj.get("apiVersion", "")).rpartition("/")[2] or rt.versions[0]
    schema = rt.schemas.get(version)
    if schema is None:
        return []
    body = _body(obj)
    found: list[str] = []
    _diff(body, _body(schema.prune(body)), "", found)
    return found


def _diff(before: Any, after: Any, path: str, found: list[str]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in before.items():
            if key not in after:
                found.append(f"{path}.{key}")
            else:
                _diff(value, after[key], f"{path}.{key}", found)
    elif isinstance(before, list) and isinstance(after, list):
        for index, (b, a) in enumerate(zip(before, after, strict=False)):
            _diff(b, a, f"{path}[{index}]", found)


def serve(store: Any) -> None:
    """Keep the registry in step with the stored CRDs (at load and on every CRD write)."""
    from recurringjob.devcluster.store import Event

    rk = (CRD_GROUP, "customresourcedefinitions")
    for crd in store.select(rk):
        store.registry.add(resource_type(crd))

    def on_event(event: Event) -> None:
        if event.rk != rk:
            return
        spec = event.obj["spec"]
        if event.type == "DELETED":
            store.registry.remove((spec["group"], spec["names"]["plural"]))
        else:
            store.registry.add(resource_type(event.obj))

    store.listeners.append(on_event)
